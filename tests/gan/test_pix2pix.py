"""pix2pix: the PatchGAN's receptive field (formula, hand count, measured by gradients), the U-Net, the losses."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from scratchgen.autodiff.tensor import tensor
from scratchgen.gan.pix2pix import (
    PatchGANDiscriminator,
    UNetGenerator,
    l1_loss,
    pix2pix_d_loss,
    pix2pix_g_loss,
    receptive_field,
)


def test_the_70x70_patchgan_by_hand():
    # pix2pix's default D: 4x4 kernels, strides 2, 2, 2, 1, 1. Counting down from one output pixel:
    # one output pixel; each layer widens the window by (k - 1) = 3 of its input positions, which lie
    # 8, 8, 4, 2, 1 input pixels apart for the layers from the top (the strides below each layer multiplied):
    # 1 + 3*8 + 3*8 + 3*4 + 3*2 + 3*1 = 70
    assert 1 + 3 * 8 + 3 * 8 + 3 * 4 + 3 * 2 + 3 * 1 == 70
    assert receptive_field([(4, 2), (4, 2), (4, 2), (4, 1), (4, 1)]) == 70
    assert PatchGANDiscriminator(2, 2, n_layers=3, kernel=4, generator=0).receptive_field() == 70
    # the digits' default: 3x3 kernels, strides 2, 1, 1: 1 + 2*1 + 2*2 + 2*2 = 11
    assert PatchGANDiscriminator(2, 2, n_layers=1, kernel=3, generator=0).receptive_field() == 11
    assert receptive_field([(3, 1)]) == 3 and receptive_field([]) == 1


def _measured_field(D, side):
    """The extent along the width of the input pixels on which one central output logit depends: the support of
    its gradient (float64, eval mode so that batch norm is a fixed affine map)."""
    D.double().eval()
    x = tensor(np.random.default_rng(1).standard_normal((1, D.in_channels, side, side)), requires_grad=True)
    out = D(x)
    i, j = out.shape[2] // 2, out.shape[3] // 2
    out[0, 0, i, j].backward()
    cols = np.nonzero(np.abs(x.grad.data).sum(axis=(0, 1, 2)) > 0)[0]
    rows = np.nonzero(np.abs(x.grad.data).sum(axis=(0, 1, 3)) > 0)[0]
    return cols.max() - cols.min() + 1, rows.max() - rows.min() + 1


@pytest.mark.parametrize("n_layers, kernel, side", [(1, 3, 32), (0, 3, 24), (2, 4, 48), (3, 4, 150)])
def test_the_receptive_field_is_the_support_of_an_outputs_gradient(n_layers, kernel, side):
    D = PatchGANDiscriminator(1, 2, n_layers=n_layers, kernel=kernel, generator=0)
    r = D.receptive_field()
    assert _measured_field(D, side) == (r, r)


@given(st.lists(st.tuples(st.integers(1, 5), st.integers(1, 3)), max_size=5))
def test_receptive_field_recurrence(layers):
    # r = 1 + sum_l (k_l - 1) prod_{i<l} s_i, written out
    expected = 1 + sum((k - 1) * int(np.prod([s for _, s in layers[:l]])) for l, (k, _) in enumerate(layers))
    assert receptive_field(layers) == expected


def test_unet_shapes_range_and_skips():
    G = UNetGenerator(2, 1, width=4, depth=3, dropout=0.5, generator=0)
    x = tensor(np.random.default_rng(0).uniform(-1, 1, (5, 2, 8, 8)).astype(np.float32))
    y = G(x)
    assert y.shape == (5, 1, 8, 8) and float(np.abs(y.data).max()) <= 1.0
    # each decoder level after the innermost reads 2x channels: the skip connection is concatenated
    assert [dec[0].in_channels for dec in G.up] == [16, 16, 8]
    with pytest.raises(ValueError, match="size must be divisible by 2\\*\\*depth"):
        UNetGenerator(1, 1, width=4, depth=4, size=8)
    with pytest.raises(ValueError, match=r"expected x of shape \(B, 2, 8, 8\)"):
        G(tensor(np.zeros((1, 1, 8, 8), np.float32)))


def test_the_losses_written_out():
    g = np.random.default_rng(0)
    r, f = g.standard_normal((3, 1, 4, 4)), g.standard_normal((3, 1, 4, 4))
    fake, target = g.uniform(-1, 1, (3, 1, 8, 8)), g.uniform(-1, 1, (3, 1, 8, 8))
    softplus = lambda t: np.log1p(np.exp(t))  # noqa: E731
    # float64 arrays stay float64
    assert abs(float(l1_loss(tensor(fake), tensor(target)).item()) - np.abs(fake - target).mean()) < 1e-12
    d = 0.5 * (softplus(-r).mean() + softplus(f).mean())
    assert abs(float(pix2pix_d_loss(tensor(r), tensor(f)).item()) - d) < 1e-12
    gl = softplus(-f).mean() + 100 * np.abs(fake - target).mean()
    assert abs(float(pix2pix_g_loss(tensor(f), tensor(fake), tensor(target)).item()) - gl) < 1e-10
    with pytest.raises(ValueError, match="one shape"):
        l1_loss(tensor(fake), tensor(target[:2]))



def test_the_adversarial_weight_written_out():
    r""":math:`\lambda_{GAN}\,\mathbb E[\operatorname{softplus}(-l)] + \lambda\,\mathbb E|y - G(x)|`; 0 is L1 alone."""
    g = np.random.default_rng(1)
    f = g.standard_normal((2, 1, 4, 4))
    fake, target = g.uniform(-1, 1, (2, 1, 8, 8)), g.uniform(-1, 1, (2, 1, 8, 8))
    l1 = np.abs(fake - target).mean()
    gl = 0.3 * np.log1p(np.exp(-f)).mean() + 7 * l1
    assert abs(float(pix2pix_g_loss(tensor(f), tensor(fake), tensor(target), 7.0, 0.3).item()) - gl) < 1e-10
    assert abs(float(pix2pix_g_loss(None, tensor(fake), tensor(target), 7.0, 0.0).item()) - 7 * l1) < 1e-10
    with pytest.raises(ValueError, match="fake_logits is needed when lam_gan > 0"):
        pix2pix_g_loss(None, tensor(fake), tensor(target), 7.0, 0.5)
    with pytest.raises(ValueError, match="lam_gan"):
        pix2pix_g_loss(tensor(f), tensor(fake), tensor(target), 7.0, -1.0)
