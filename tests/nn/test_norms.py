"""The GAN-architecture layers (scratchgen/nn/norms.py): each against its definition written out here with
NumPy, against PyTorch where it has the layer, second-order gradients, bad input."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import scratchgen as sg
from scratchgen import nn
from scratchgen.nn import norms
from scratchgen.validate import BadArgument


def _x(seed, shape):
    r = np.random.default_rng(seed)
    return r.standard_normal(shape) * r.uniform(0.5, 3) + r.uniform(-2, 2)


# ---------------------------------------------------------------------------
# Definitions written out
# ---------------------------------------------------------------------------
@given(st.integers(0, 2**16), st.sampled_from([(2, 3, 4, 5), (1, 2, 3, 3), (3, 1, 2, 6)]))
def test_instance_norm_equals_its_definition(seed, shape):
    x = _x(seed, shape)
    N, C, H, W = shape
    r = np.random.default_rng(seed + 1)
    gamma, beta = r.standard_normal(C), r.standard_normal(C)
    y = norms.instance_norm(sg.tensor(x), sg.tensor(gamma), sg.tensor(beta), eps=1e-5).data
    want = np.empty_like(x)
    for n in range(N):
        for c in range(C):
            v = x[n, c]
            mu = v.sum() / (H * W)
            var = ((v - mu) ** 2).sum() / (H * W)
            want[n, c] = gamma[c] * (v - mu) / math.sqrt(var + 1e-5) + beta[c]
    assert np.abs(y - want).max() < 1e-10


@given(st.integers(0, 2**16), st.sampled_from([(1, 6), (2, 6), (3, 6), (6, 6), (2, 4)]))
def test_group_norm_equals_its_definition(seed, groups):
    G, C = groups
    x = _x(seed, (2, C, 3, 2))
    gn = nn.GroupNorm(G, C, dtype="float64")
    r = np.random.default_rng(seed + 2)
    gn.weight.data[...] = r.standard_normal(C)
    gn.bias.data[...] = r.standard_normal(C)
    y = gn(sg.tensor(x)).data
    want = np.empty_like(x)
    per = C // G
    for n in range(2):
        for g in range(G):
            block = x[n, g * per:(g + 1) * per]  # the set S_ng: the group's channels, every position
            mu, var = block.mean(), block.var()
            for c in range(g * per, (g + 1) * per):
                want[n, c] = gn.weight.data[c] * (x[n, c] - mu) / math.sqrt(var + 1e-5) + gn.bias.data[c]
    assert np.abs(y - want).max() < 1e-10


def test_group_norm_with_one_group_per_channel_is_instance_norm():
    x = _x(3, (2, 4, 3, 3))
    a = nn.GroupNorm(4, 4, affine=False, dtype="float64")(sg.tensor(x)).data
    b = nn.InstanceNorm2d(4)(sg.tensor(x)).data
    assert np.abs(a - b).max() < 1e-12


@given(st.integers(0, 2**16))
def test_after_adain_each_channel_has_the_styles_mean_and_std(seed):
    x = _x(seed, (3, 4, 5, 5))
    r = np.random.default_rng(seed + 3)
    y_s, y_b = r.uniform(0.2, 3, (3, 4)), r.standard_normal((3, 4))
    eps = 1e-5
    y = norms.adain(sg.tensor(x), sg.tensor(y_s), sg.tensor(y_b), eps).data
    var_x = x.var(axis=(2, 3))  # the input's per-channel variance
    # the channel's standard deviation is y_s sqrt(var / (var + eps)) (-> y_s as eps -> 0), its mean y_b
    assert np.abs(y.mean(axis=(2, 3)) - y_b).max() < 1e-10
    assert np.abs(y.std(axis=(2, 3)) - y_s * np.sqrt(var_x / (var_x + eps))).max() < 1e-10
    assert np.abs(y.std(axis=(2, 3)) - y_s).max() < 1e-4 * y_s.max()


def test_adain_module_starts_as_plain_instance_norm_and_maps_w_through_A():
    x = _x(0, (2, 3, 4, 4))
    layer = nn.AdaIN(3, 5, dtype="float64", generator=0)
    layer.A.weight.data[...] = 0.0  # the style is then A's bias: y_s = 1, y_b = 0
    w = sg.tensor(np.random.default_rng(1).standard_normal((2, 5)))
    y = layer(sg.tensor(x), w).data
    want = (x - x.mean(axis=(2, 3), keepdims=True)) / np.sqrt(x.var(axis=(2, 3), keepdims=True) + 1e-5)
    assert np.abs(y - want).max() < 1e-12


@given(st.integers(0, 2**16))
def test_pixel_norm_gives_unit_rms_feature_vectors(seed):
    x = _x(seed, (2, 5, 3, 4))
    y = nn.PixelNorm(eps=0.0)(sg.tensor(x)).data
    rms = np.sqrt((x ** 2).sum(axis=1, keepdims=True) / 5)  # sqrt(1/C sum_j (a^j)^2)
    assert np.abs(y - x / rms).max() < 1e-12
    assert np.abs(np.sqrt((y ** 2).mean(axis=1)) - 1).max() < 1e-12


def test_upsample_and_downsample_equal_their_definitions():
    x = _x(4, (2, 3, 3, 4))
    up = nn.Upsample2x()(sg.tensor(x)).data
    for i in range(2):
        for j in range(2):
            assert np.array_equal(up[:, :, i::2, j::2], x)  # y[2h+i, 2w+j] = x[h, w]
    down = nn.Downsample2x()(sg.tensor(up)).data
    assert np.abs(down - x).max() < 1e-15  # averaging four copies gives the value back
    z = _x(5, (1, 2, 4, 6))
    d = norms.downsample2x(sg.tensor(z)).data
    want = (z[:, :, 0::2, 0::2] + z[:, :, 1::2, 0::2] + z[:, :, 0::2, 1::2] + z[:, :, 1::2, 1::2]) / 4
    assert np.abs(d - want).max() < 1e-14


def test_equalized_scale_is_he_constant_per_layer():
    for fan_in, layer in [(7, nn.EqualizedLinear(7, 3)), (3 * 9, nn.EqualizedConv2d(3, 5, 3, padding=1)),
                          (16, nn.EqualizedConv2d(16, 2, 1)), (64 * 16, nn.EqualizedConv2d(64, 1, 4))]:
        assert abs(layer.scale - math.sqrt(2.0 / fan_in)) < 1e-15


def test_equalized_weights_are_standard_normal_and_effective_weights_he_scaled():
    layer = nn.EqualizedLinear(400, 300, dtype="float64", generator=0)
    w = layer.weight.data
    assert abs(w.mean()) < 0.01 and abs(w.std() - 1) < 0.01  # N(0, 1) stored; 120,000 draws
    x = _x(1, (3, 400))
    y = layer(sg.tensor(x)).data
    assert np.abs(y - x @ (w * math.sqrt(2 / 400)).T).max() < 1e-12  # the scale is applied at run time
    slow = nn.EqualizedLinear(4, 2, lr_mul=0.01, bias_init=1.0, dtype="float64", generator=0)
    assert abs(slow.scale - 0.01 * math.sqrt(2 / 4)) < 1e-15  # c = eta sqrt(2 / fan_in), W ~ N(0, 1/eta^2)
    assert np.abs(slow(sg.tensor(np.zeros((1, 4)))).data - 1.0).max() < 1e-12  # effective bias = bias_init


def test_equalized_conv_equals_conv_with_scaled_weights():
    layer = nn.EqualizedConv2d(2, 3, 3, padding=1, dtype="float64", generator=1)
    layer.bias.data[...] = [0.1, -0.2, 0.3]
    x = _x(2, (2, 2, 5, 5))
    y = layer(sg.tensor(x)).data
    w = layer.weight.data * math.sqrt(2 / 18)
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    want = np.zeros((2, 3, 5, 5))
    for o in range(3):
        for h in range(5):
            for v in range(5):
                want[:, o, h, v] = (xp[:, :, h:h + 3, v:v + 3] * w[o]).sum(axis=(1, 2, 3)) + layer.bias.data[o]
    assert np.abs(y - want).max() < 1e-12


# ---------------------------------------------------------------------------
# Against PyTorch
# ---------------------------------------------------------------------------
def test_instance_and_group_norm_and_resampling_match_torch_including_backward():
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    r = np.random.default_rng(5)
    x = r.standard_normal((2, 6, 4, 4)) * 2 + 1
    gamma, beta = r.standard_normal(6), r.standard_normal(6)
    cases = [
        (lambda t: norms.instance_norm(t, sg.tensor(gamma), sg.tensor(beta)),
         lambda t: tf.instance_norm(t, weight=torch.tensor(gamma), bias=torch.tensor(beta))),
        (lambda t: norms.group_norm(t, 3, sg.tensor(gamma), sg.tensor(beta)),
         lambda t: tf.group_norm(t, 3, torch.tensor(gamma), torch.tensor(beta))),
        (norms.downsample2x, lambda t: tf.avg_pool2d(t, 2)),
        (norms.upsample2x, lambda t: tf.interpolate(t, scale_factor=2, mode="nearest")),
    ]
    for ours, theirs in cases:
        xs, xt = sg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        ys, yt = ours(xs), theirs(xt)
        us = r.standard_normal(tuple(ys.shape))
        (ys * sg.tensor(us)).sum().backward()
        yt.backward(torch.from_numpy(us))
        assert np.abs(ys.data - yt.detach().numpy()).max() < 1e-12
        assert np.abs(xs.grad.data - xt.grad.numpy()).max() < 1e-11


def test_instance_norm_module_matches_torch_module():
    torch = pytest.importorskip("torch")
    x = _x(6, (3, 4, 5, 5))
    ours = nn.InstanceNorm2d(4, affine=True, dtype="float64")
    theirs = torch.nn.InstanceNorm2d(4, affine=True).double()
    assert np.abs(ours(sg.tensor(x)).data - theirs(torch.tensor(x)).detach().numpy()).max() < 1e-12


# ---------------------------------------------------------------------------
# Second-order gradients (the layers sit inside WGAN-GP critics)
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("which", ["instance", "group", "adain", "pixel", "up", "down", "eqlin", "eqconv"])
def test_second_order_gradients(which):
    r = np.random.default_rng(7)
    x = r.standard_normal((2, 4, 2, 2))
    eqlin = nn.EqualizedLinear(16, 3, dtype="float64", generator=0)
    eqconv = nn.EqualizedConv2d(4, 2, 3, padding=1, dtype="float64", generator=0)
    f = {
        "instance": lambda a, s: sg.tanh(norms.instance_norm(a, s, None)),
        "group": lambda a, s: sg.tanh(norms.group_norm(a, 2, s, None)),
        "adain": lambda a, s: sg.tanh(norms.adain(a, sg.reshape(s, (1, 4)) * sg.tensor(np.ones((2, 4))),
                                                  sg.tensor(np.ones((2, 4))))),
        "pixel": lambda a, s: sg.tanh(norms.pixel_norm(a * sg.reshape(s, (1, 4, 1, 1)))),
        "up": lambda a, s: sg.tanh(norms.upsample2x(a * sg.reshape(s, (1, 4, 1, 1)))),
        "down": lambda a, s: sg.tanh(norms.downsample2x(a * sg.reshape(s, (1, 4, 1, 1)))),
        "eqlin": lambda a, s: sg.tanh(eqlin(sg.reshape(a * sg.reshape(s, (1, 4, 1, 1)), (2, 16)))),
        "eqconv": lambda a, s: sg.tanh(eqconv(a * sg.reshape(s, (1, 4, 1, 1)))),
    }[which]
    sg.check_grads(f, x, r.uniform(0.5, 1.5, 4), order=2)


# ---------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------
def test_bad_input_names_the_argument_and_the_values():
    with pytest.raises(BadArgument, match=r"num_channels.*divisible by num_groups=4.*6"):
        nn.GroupNorm(4, 6)
    with pytest.raises(BadArgument, match=r"input.*\(N, 3, H, W\).*\(2, 4, 5, 5\)"):
        nn.InstanceNorm2d(3)(sg.tensor(np.zeros((2, 4, 5, 5))))
    with pytest.raises(BadArgument, match=r"even height and width.*\(1, 1, 3, 4\)"):
        norms.downsample2x(sg.tensor(np.zeros((1, 1, 3, 4))))
    with pytest.raises(BadArgument, match=r"y_s.*\(2, 3\).*\(2, 4\)"):
        norms.adain(sg.tensor(np.zeros((2, 3, 2, 2))), sg.tensor(np.ones((2, 4))), sg.tensor(np.ones((2, 3))))
    with pytest.raises(BadArgument, match=r"lr_mul"):
        nn.EqualizedLinear(3, 2, lr_mul=0)
    with pytest.raises(BadArgument, match=r"input.*\(\.\.\., 3\).*\(2, 4\)"):
        nn.EqualizedLinear(3, 2)(sg.tensor(np.zeros((2, 4), dtype="float32")))
