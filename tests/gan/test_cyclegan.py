"""CycleGAN: the cycle loss is zero for an exact inverse pair, the identity loss for identities; values written out."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scratchgen.autodiff.tensor import tensor
from scratchgen.data.pairs import invert
from scratchgen.gan.cyclegan import (
    ResnetGenerator,
    cycle_consistency_loss,
    cyclegan_g_loss,
    distance_loss,
    distance_stats,
    identity_loss,
    pair_distances,
)

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


def test_distance_loss_written_out():
    """Three images, pairs (0, 1), (0, 2), (1, 2): L1 distances, standardised, and the mean absolute gap by hand."""
    g = np.random.default_rng(3)
    a, b = g.uniform(-1, 1, (3, 1, 2, 2)), g.uniform(-1, 1, (3, 1, 2, 2))
    d_a = [np.abs(a[0] - a[1]).mean(), np.abs(a[0] - a[2]).mean(), np.abs(a[1] - a[2]).mean()]
    d_b = [np.abs(b[0] - b[1]).mean(), np.abs(b[0] - b[2]).mean(), np.abs(b[1] - b[2]).mean()]
    assert np.abs(pair_distances(a) - d_a).max() < 1e-12
    assert abs(distance_stats(a)[0] - np.mean(d_a)) < 1e-12 and abs(distance_stats(a)[1] - np.std(d_a)) < 1e-12
    s_a, s_b = (0.5, 0.2), (0.7, 0.4)
    expected = np.mean([abs((da - 0.5) / 0.2 - (db - 0.7) / 0.4) for da, db in zip(d_a, d_b)])
    assert abs(float(distance_loss(a, tensor(b), s_a, s_b).item()) - expected) < 1e-12
    with pytest.raises(ValueError, match="stats_b"):
        distance_loss(a, tensor(b), s_a, (0.7, 0.0))
    with pytest.raises(ValueError, match="batch size >= 2"):
        distance_loss(a[:1], tensor(b[:1]), s_a, s_b)


@settings(max_examples=10, derandomize=True)
@given(images, st.floats(0.2, 3.0), st.floats(-1, 1))
def test_distance_loss_is_zero_for_a_map_that_scales_all_distances(x, c, shift):
    """G(x) = c x + shift scales every L1 distance by c, and so their mean and std over the domain G(X):
    the standardised distances agree and the loss is 0; a permutation of the batch's images is not (generically)."""
    G_x = c * x + shift
    assert abs(float(distance_loss(x, tensor(G_x), distance_stats(x), distance_stats(G_x)).item())) < 1e-9
    swapped = G_x[[1, 0, 2]]  # images 0 and 1 swapped: distances (0, 2) and (1, 2) trade places
    assert float(distance_loss(x, tensor(swapped), distance_stats(x), distance_stats(G_x)).item()) > 1e-3


def test_the_trainer_adds_lam_dist_times_the_distance_loss():
    """Step 1 sees the same weights and minibatch whatever lam_dist is: loss_g(lam) - loss_g(0) = lam * L_dist,
    so it is positive and doubles with lam; a negative weight is named."""
    from scratchgen.gan.train_i2i import I2IConfig, train_i2i

    tiny = dict(steps=1, batch=4, width=2, d_width=2, eval_every=1, n_eval=8, progress=False)
    loss = {lam: train_i2i(I2IConfig.preset("cyclegan", lam_dist=lam, **tiny), figures=False).history["loss_g"][0]
            for lam in (0.0, 2.0, 4.0)}
    assert loss[2.0] - loss[0.0] > 1e-4
    assert abs((loss[4.0] - loss[0.0]) - 2 * (loss[2.0] - loss[0.0])) < 1e-4 * abs(loss[2.0] - loss[0.0]) + 1e-6
    with pytest.raises(ValueError, match="lam_dist"):
        I2IConfig.preset("cyclegan", lam_dist=-1.0).validate()
    with pytest.raises(ValueError, match="lam_dist=1.0: not an option of model='pix2pix'"):
        I2IConfig.preset("pix2pix", lam_dist=1.0).validate()


def test_the_outline_map_keeps_distances_and_a_class_permutation_does_not():
    """Why the distance loss was tried: on 300 training digits, G = the true outline has L_dist 0.33; G = the outline
    of a digit of class c + k (mod 10), for each shift k, about 1 (0.95-1.01), as far off as unrelated images."""
    from scratchgen.data.digits import digits_split
    from scratchgen.data.pairs import outline

    s = digits_split()
    x, c = s.x_train[:300], s.y_train[:300]
    s_X, s_Y = distance_stats(s.x_train), distance_stats(outline(s.x_train))
    y = outline(x)
    assert 0.2 < float(distance_loss(x, tensor(y), s_X, s_Y).item()) < 0.4
    for k in range(1, 10):
        partner = np.empty(len(c), int)  # each digit of class j -> a digit of class j + k
        for j in range(10):
            src, dst = np.nonzero(c == j)[0], np.nonzero(c == (j + k) % 10)[0]
            partner[src] = dst[np.arange(len(src)) % len(dst)]
        assert float(distance_loss(x, tensor(y[partner]), s_X, s_Y).item()) > 0.9


def test_distance_stats_all_pairs_or_a_sample_of_them():
    """Every pair when there are at most max_pairs (the mean and std written out over i < j); above that, a
    seeded sample whose statistics are within sampling error of the exact ones, in bounded memory."""
    x = np.random.default_rng(0).uniform(-1, 1, (40, 1, 4, 4))
    d = [np.abs(x[i] - x[j]).mean() for i in range(40) for j in range(i + 1, 40)]  # 780 pairs
    mu, sd = distance_stats(x, chunk=7)  # 780 <= max_pairs: exact, whatever the chunk
    assert abs(mu - np.mean(d)) < 1e-12 and abs(sd - np.std(d)) < 1e-12
    mu_s, sd_s = distance_stats(x, max_pairs=500, seed=1)  # sampled (with replacement) from the 780
    assert abs(mu_s - np.mean(d)) < 4 * np.std(d) / np.sqrt(500)  # four standard errors
    assert distance_stats(x, max_pairs=500, seed=1) == (mu_s, sd_s)  # the seed fixes the sample
    big = np.random.default_rng(1).uniform(-1, 1, (1750, 1, 32, 32)).astype(np.float32)  # an MNIST domain
    mu_b, _ = distance_stats(big, max_pairs=20_000)  # 1.5 million pairs: sampled, chunk by chunk
    assert abs(mu_b - 2 / 3) < 0.01  # E|u - v| for u, v ~ U(-1, 1) is 2/3
    with pytest.raises(ValueError, match=r"distance_stats: expected at least 2 images, received 1"):
        distance_stats(x[:1])
