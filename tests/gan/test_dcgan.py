"""Image GAN models: DCGAN rules, shapes, conditioning, clear errors; the digits split and labelled sets."""
import numpy as np
import pytest

from scratchgen import nn
from scratchgen.autodiff.tensor import no_grad, tensor
from scratchgen.data.digits import digits_split
from scratchgen.gan.dcgan import DCGANDiscriminator, DCGANGenerator, dcgan_init_
from scratchgen.gan.ssgan import GaussianNoise, SSCritic, labelled_indices, unlabelled_indices
from scratchgen.gan.train_images import ImageGANConfig


def _z(B, d=16, seed=0):
    return tensor(np.random.default_rng(seed).standard_normal((B, d)).astype(np.float32))


@pytest.mark.parametrize("size", [8, 28])
def test_dcgan_shapes_range_and_rules(size):
    G = DCGANGenerator(z_dim=16, size=size, width=8, generator=0)
    D = DCGANDiscriminator(size=size, width=8, generator=0)
    x = G(_z(4))
    assert x.shape == (4, 1, size, size) and x.dtype == np.float32
    assert float(np.abs(x.data).max()) <= 1.0  # tanh output
    assert D(x).shape == (4, 1)
    # DCGAN rules: stride-2 (transposed) convolutions, no pooling; tanh last; no BN on G's output or D's input
    g_layers, d_layers = list(G.net), list(D.features)
    assert all(m.stride == (2, 2) for m in g_layers if isinstance(m, nn.ConvTranspose2d))
    assert all(m.stride == (2, 2) for m in d_layers if isinstance(m, nn.Conv2d))
    assert isinstance(g_layers[-1], nn.Tanh) and isinstance(g_layers[-2], nn.ConvTranspose2d)
    assert isinstance(d_layers[0], nn.Conv2d) and isinstance(d_layers[1], nn.LeakyReLU)
    assert d_layers[1].negative_slope == 0.2
    assert any(isinstance(m, nn.BatchNorm2d) for m in g_layers) and any(isinstance(m, nn.BatchNorm2d) for m in d_layers)
    assert not any(isinstance(m, nn.LeakyReLU) for m in g_layers)


def test_conditional_models_use_the_label():
    G = DCGANGenerator(z_dim=16, size=8, width=8, n_classes=10, generator=0)
    D = DCGANDiscriminator(size=8, width=8, n_classes=10, generator=0)
    G.eval()
    D.eval()
    z = _z(3)
    with no_grad():
        x0 = G(z, np.array([0, 0, 0])).data
        x7 = G(z, np.array([7, 7, 7])).data
        d0 = D(tensor(x0), np.array([0, 0, 0])).data
        d7 = D(tensor(x0), np.array([7, 7, 7])).data
    assert np.abs(x0 - x7).max() > 1e-3  # same z, another digit: another image
    assert np.abs(d0 - d7).max() > 1e-4
    with pytest.raises(ValueError, match=r"labels must be in \[0, 10\), received range \[0, 10\]"):
        G(z, np.array([0, 3, 10]))
    with pytest.raises(ValueError, match="needs labels"):
        D(tensor(x0))
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        G(z, np.array([[0], [1], [2]]))


def test_wrong_shapes_are_named():
    D = DCGANDiscriminator(size=8, width=8, generator=0)
    with pytest.raises(ValueError, match=r"expected images of shape \(B, 1, 8, 8\), received \(2, 1, 28, 28\)"):
        D(tensor(np.zeros((2, 1, 28, 28), np.float32)))
    G = DCGANGenerator(z_dim=16, size=8, width=8, generator=0)
    with pytest.raises(ValueError, match=r"expected z of shape \(B, 16\), received \(2, 8\)"):
        G(_z(2, 8))
    with pytest.raises(ValueError, match="size must be 8 or 28"):
        DCGANGenerator(size=16)
    with pytest.raises(ValueError, match="mnist_path"):
        ImageGANConfig(data="mnist").validate()
    with pytest.raises(ValueError, match="model must be one of"):
        ImageGANConfig(model="vae").validate()


def test_gaussian_noise_and_critic_modes():
    n = GaussianNoise(0.5, generator=0)
    x = tensor(np.zeros((2000, 8), np.float32))
    y = n(x).data
    assert y.dtype == np.float32 and 0.47 < y.std() < 0.53 and abs(y.mean()) < 0.03
    n.eval()
    assert np.array_equal(n(x).data, x.data)
    C = SSCritic(64, hidden=(32, 16), generator=0)
    logits, f = C(tensor(np.zeros((5, 1, 8, 8), np.float32)))
    assert logits.shape == (5, 10) and f.shape == (5, 16)


def test_digits_split_and_labelled_indices():
    s = digits_split()
    assert s.x_train.shape == (1258, 1, 8, 8) and s.x_test.shape == (539, 1, 8, 8)
    assert float(s.x_train.min()) == -1.0 and float(s.x_train.max()) == 1.0
    # stratified: each class has ~30 % of its images in the test set
    for k in range(10):
        frac = (s.y_test == k).sum() / ((s.y_test == k).sum() + (s.y_train == k).sum())
        assert abs(frac - 0.3) < 0.01
    # disjoint: no test image equals a training image at the same position (the raw set has duplicates, so compare counts)
    assert s.x_train.shape[0] + s.x_test.shape[0] == 1797
    lab = labelled_indices(s.y_train, 10, seed=3)
    assert lab.shape == (100,) and len(set(lab.tolist())) == 100
    assert np.array_equal(np.bincount(s.y_train[lab], minlength=10), np.full(10, 10))
    assert np.array_equal(lab, labelled_indices(s.y_train, 10, seed=3))
    assert not np.array_equal(lab, labelled_indices(s.y_train, 10, seed=4))
    with pytest.raises(ValueError, match="fewer than per_class"):
        labelled_indices(s.y_train, 1000, seed=0)


def test_unlabelled_indices_keep_the_labelled_images_and_a_share_of_the_others():
    lab = labelled_indices(digits_split().y_train, 10, seed=3)
    for fraction, size in ((0.0, 100), (0.25, 100 + 290), (0.5, 100 + 579), (1.0, 1258)):  # 1,158 others
        u = unlabelled_indices(1258, lab, fraction, seed=7)
        assert u.shape == (size,) and np.array_equal(u, np.unique(u)), fraction  # sorted, no repeats
        assert np.isin(lab, u).all(), fraction
        assert np.array_equal(u, unlabelled_indices(1258, lab, fraction, seed=7))
    assert np.array_equal(unlabelled_indices(1258, lab, 1.0, seed=7), np.arange(1258))
    assert not np.array_equal(unlabelled_indices(1258, lab, 0.5, seed=7), unlabelled_indices(1258, lab, 0.5, seed=8))
    with pytest.raises(ValueError, match=r"fraction must be a number in \[0, 1\], got 1.5"):
        unlabelled_indices(1258, lab, 1.5, seed=0)


def test_generator_projects_z_to_a_2w_by_s4_map_and_the_conditional_critic_reads_two_channels():
    for size in (8, 28):
        G = DCGANGenerator(z_dim=16, size=size, width=8, generator=0)
        lin, unflat = G.net[0], G.net[1]
        assert isinstance(lin, nn.Linear) and lin.weight.shape == (2 * 8 * (size // 4) ** 2, 16)
        h = unflat(lin(_z(2)))
        assert h.shape == (2, 16, size // 4, size // 4)  # (2w, s/4, s/4): "project and reshape"
    Dc = DCGANDiscriminator(size=8, width=8, n_classes=10, generator=0)
    assert Dc.features[0].weight.shape[1] == 2  # the image and the label's map
    Gc = DCGANGenerator(z_dim=16, size=8, width=8, n_classes=10, embed_dim=5, generator=0)
    assert Gc.net[0].weight.shape[1] == 16 + 5  # z ⊕ e(y)


def test_same_generator_seed_same_weights_and_discriminator_errors_are_named():
    a, b = DCGANGenerator(z_dim=16, size=8, width=8, generator=4), DCGANGenerator(z_dim=16, size=8, width=8, generator=4)
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(p.data, q.data)
    with pytest.raises(ValueError, match="DCGANDiscriminator: size must be 8 or 28, received 16"):
        DCGANDiscriminator(size=16)
    D = DCGANDiscriminator(size=8, width=8, n_classes=10, generator=0)
    x = tensor(np.zeros((3, 1, 8, 8), np.float32))
    with pytest.raises(ValueError, match=r"DCGANDiscriminator: labels must be ints of shape \(3,\), received dtype float64"):
        D(x, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match=r"DCGANDiscriminator: labels must be in \[0, 10\), received range \[-1, 2\]"):
        D(x, np.array([-1, 0, 2]))
    with pytest.raises(ValueError, match="DCGANGenerator: a conditional generator needs labels y"):
        DCGANGenerator(z_dim=16, size=8, width=8, n_classes=10, generator=0)(_z(3))


def test_dcgan_init():
    G = nn.Sequential(nn.ConvTranspose2d(4, 3, 4), nn.BatchNorm2d(3), nn.Linear(3, 5))
    dcgan_init_(G, generator=0)
    assert abs(float(G[0].weight.data.std()) - 0.02) < 0.005
    assert float(np.abs(G[0].bias.data).max()) == 0
    assert abs(float(G[1].weight.data.mean()) - 1) < 0.05


def test_dcgan_init_leaves_other_modules_alone():
    net = nn.Sequential(nn.Linear(3, 4, generator=0), nn.LayerNorm(4), nn.Embedding(5, 4, generator=1),
                        nn.BatchNorm1d(4, affine=False), nn.MinibatchDiscrimination(4, 2, generator=2))
    before = {name: p.data.copy() for name, p in net.named_parameters()}
    dcgan_init_(net, generator=0)
    after = dict(net.named_parameters())
    assert not np.array_equal(after["0.weight"].data, before["0.weight"])
    np.testing.assert_array_equal(after["0.bias"].data, np.zeros(4, dtype=np.float32))
    for name in ("1.weight", "1.bias", "2.weight", "4.T"):  # LayerNorm, Embedding, minibatch discrimination
        np.testing.assert_array_equal(after[name].data, before[name])
