"""CycleGAN: the cycle loss is zero for an exact inverse pair, the identity loss for identities; values written out."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scratchgen.autodiff.tensor import tensor
from scratchgen.data.pairs import invert
from scratchgen.gan.cyclegan import ResnetGenerator, cycle_consistency_loss, cyclegan_g_loss, identity_loss

images = st.integers(0, 2**32 - 1).map(lambda s: np.random.default_rng(s).uniform(-1, 1, (3, 1, 8, 8)))


@settings(max_examples=10, derandomize=True)
@given(images, images, st.floats(0.5, 2.0))
def test_the_cycle_loss_is_zero_for_an_exact_inverse_pair(x, y, a):
    for G, F in [(invert, invert),  # X -> Y -> X: -(-x) = x
                 (lambda t: t[..., ::-1], lambda t: t[..., ::-1]),  # a mirror, its own inverse (on arrays)
                 (lambda t: a * t + 0.25, lambda t: (t - 0.25) / a)]:  # an affine map and its inverse
        loss, G_x, F_y = cycle_consistency_loss(G, F, x, y)
        assert abs(float(loss.item()) - 0.0) < 1e-12
    # a pair that is not inverse: G = shift by 0.1, F = identity: |x + 0.1 - x| + |y + 0.1 - y| = 0.2
    loss, _, _ = cycle_consistency_loss(lambda t: t + 0.1, lambda t: t, x, y)
    assert abs(float(loss.item()) - 0.2) < 1e-12


@settings(max_examples=10, derandomize=True)
@given(images, images)
def test_identity_loss(x, y):
    ident = lambda t: t  # noqa: E731
    assert abs(float(identity_loss(ident, ident, x, y).item())) < 1e-15
    half = lambda t: 0.5 * t  # noqa: E731
    expected = np.abs(0.5 * y - y).mean() + np.abs(0.5 * x - x).mean()
    assert abs(float(identity_loss(half, ident, x, y).item()) - np.abs(0.5 * y - y).mean()
               - np.abs(x - x).mean()) < 1e-12
    assert abs(float(identity_loss(half, half, x, y).item()) - expected) < 1e-12


def test_generator_loss_written_out():
    g = np.random.default_rng(0)
    dy, dx = g.standard_normal((4, 1, 2, 2)), g.standard_normal((4, 1, 2, 2))
    got = float(cyclegan_g_loss(tensor(dy), tensor(dx), 0.3, 0.1, lam=10, lam_identity=5).item())
    expected = 0.5 * ((dy - 1) ** 2).mean() + 0.5 * ((dx - 1) ** 2).mean() + 10 * 0.3 + 5 * 0.1
    assert abs(got - expected) < 1e-12


def test_resnet_generator_shapes():
    G = ResnetGenerator(1, width=4, n_blocks=2, generator=0)
    y = G(tensor(np.zeros((2, 1, 8, 8), np.float32)))
    assert y.shape == (2, 1, 8, 8)
    with pytest.raises(ValueError, match="divisible by 2"):
        G(tensor(np.zeros((2, 1, 7, 7), np.float32)))


def _influence(G, side, c):
    """Which input pixels move output pixel (c, c) of G: the support of d G(x)[.., c, c] / dx over 4 random x."""
    x = tensor(np.random.default_rng(1).uniform(-1, 1, (4, 1, side, side)).astype(np.float32), requires_grad=True)
    G(x)[:, 0, c, c].sum().backward()
    rows, cols = np.nonzero(np.abs(getattr(x.grad, "data", x.grad)).sum(axis=(0, 1)) > 0)
    return rows.min(), rows.max(), cols.min(), cols.max()


@pytest.mark.parametrize("n_blocks", [0, 1, 2])
def test_receptive_field_at_full_resolution(n_blocks):
    """n_down 0, no norm: Conv3 (3) + n_blocks x two Conv3 (+4 each) + Conv3 (+2) = 5 + 4 n_blocks pixels, a square
    centred on the output pixel (so 9 with the preset's one block, 5 with none); with instance norm each channel is
    shifted and scaled by its mean and variance over the whole image, so every input pixel counts."""
    side, c = 20, 10
    G = ResnetGenerator(1, width=4, n_blocks=n_blocks, norm="none", n_down=0, generator=0)
    r = (5 + 4 * n_blocks) // 2  # 2, 4, 6
    assert _influence(G, side, c) == (c - r, c + r, c - r, c + r)
    G = ResnetGenerator(1, width=4, n_blocks=n_blocks, norm="instance", n_down=0, generator=0)
    assert _influence(G, side, c) == (0, side - 1, 0, side - 1)
