"""Convolution and transposed convolution against direct-loop definitions written here,
gradient checks of first and second order, and PyTorch (optional)."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import scratchgen as sg
from scratchgen import nn
from scratchgen.autodiff import conv
from scratchgen.autodiff.conv import conv2d, conv2d_weight, conv_transpose2d


def naive_conv2d(x, w, s, p, d):
    """y[b,o,i,j] = sum_{c,u,v} w[o,c,u,v] x_pad[b,c,i s + u d, j s + v d], by loops."""
    B, C, H, W = x.shape
    O, _, kh, kw = w.shape
    xpad = np.zeros((B, C, H + 2 * p, W + 2 * p))
    xpad[:, :, p:p + H, p:p + W] = x
    Ho = (H + 2 * p - d * (kh - 1) - 1) // s + 1
    Wo = (W + 2 * p - d * (kw - 1) - 1) // s + 1
    y = np.zeros((B, O, Ho, Wo))
    for b in range(B):
        for o in range(O):
            for i in range(Ho):
                for j in range(Wo):
                    acc = 0.0
                    for c in range(C):
                        for u in range(kh):
                            for v in range(kw):
                                acc += w[o, c, u, v] * xpad[b, c, i * s + u * d, j * s + v * d]
                    y[b, o, i, j] = acc
    return y


def naive_conv_transpose2d(x, w, s, p, op, d):
    """Scatter form: y[b, c, i s - p + u d, j s - p + v d] += x[b,o,i,j] w[o,c,u,v]."""
    B, O, H, W = x.shape
    _, C, kh, kw = w.shape
    Ho = (H - 1) * s - 2 * p + d * (kh - 1) + op + 1
    Wo = (W - 1) * s - 2 * p + d * (kw - 1) + op + 1
    y = np.zeros((B, C, Ho, Wo))
    for b in range(B):
        for o in range(O):
            for i in range(H):
                for j in range(W):
                    for c in range(C):
                        for u in range(kh):
                            for v in range(kw):
                                r, q = i * s - p + u * d, j * s - p + v * d
                                if 0 <= r < Ho and 0 <= q < Wo:
                                    y[b, c, r, q] += x[b, o, i, j] * w[o, c, u, v]
    return y


@st.composite
def conv_case(draw):
    k = draw(st.integers(1, 3))
    s = draw(st.integers(1, 3))
    d = draw(st.integers(1, 2))
    p = draw(st.integers(0, 2))
    extent = d * (k - 1) + 1
    H = draw(st.integers(max(1, extent - 2 * p), 7))
    W = draw(st.integers(max(1, extent - 2 * p), 7))
    B, C, O = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**16))
    return B, C, O, H, W, k, s, p, d, seed


@given(conv_case())
def test_conv2d_equals_direct_loops(case):
    B, C, O, H, W, k, s, p, d, seed = case
    r = np.random.default_rng(seed)
    x, w = r.standard_normal((B, C, H, W)), r.standard_normal((O, C, k, k))
    y = conv2d(sg.tensor(x), sg.tensor(w), s, p, d).data
    np.testing.assert_allclose(y, naive_conv2d(x, w, s, p, d), rtol=1e-12, atol=1e-12)


@given(conv_case(), st.integers(0, 2))
def test_conv_transpose2d_equals_direct_loops(case, op):
    B, C, O, H, W, k, s, p, d, seed = case
    op = min(op, s - 1)
    r = np.random.default_rng(seed)
    x, w = r.standard_normal((B, O, H, W)), r.standard_normal((O, C, k, k))
    Ho = (H - 1) * s - 2 * p + d * (k - 1) + op + 1
    Wo = (W - 1) * s - 2 * p + d * (k - 1) + op + 1
    if min(Ho, Wo) < 1:
        with pytest.raises(ValueError, match="conv_transpose2d"):
            conv_transpose2d(sg.tensor(x), sg.tensor(w), s, p, op, d)
        return
    y = conv_transpose2d(sg.tensor(x), sg.tensor(w), s, p, op, d).data
    np.testing.assert_allclose(y, naive_conv_transpose2d(x, w, s, p, op, d), rtol=1e-12, atol=1e-12)


@given(conv_case())
def test_conv_transpose_is_the_adjoint_of_conv(case):
    # <conv(x, w), y> = <x, conv_transpose(y, w)> with output_padding chosen to recover x's size
    B, C, O, H, W, k, s, p, d, seed = case
    r = np.random.default_rng(seed)
    x, w = r.standard_normal((B, C, H, W)), r.standard_normal((O, C, k, k))
    y = conv2d(sg.tensor(x), sg.tensor(w), s, p, d)
    u = r.standard_normal(y.shape)
    opad = tuple(n - ((m - 1) * s - 2 * p + d * (k - 1) + 1) for n, m in zip((H, W), y.shape[2:]))
    xt = conv_transpose2d(sg.tensor(u), sg.tensor(w), s, p, opad, d).data
    assert xt.shape == x.shape
    np.testing.assert_allclose(np.sum(y.data * u), np.sum(x * xt), rtol=1e-10, atol=1e-10)


def _layouts(a, which):
    """The same values as ``a`` (B, C, H, W) in another memory layout: NCHW, channels-last, or a
    strided slice of a bigger array (what the conv primitives receive from each other and from
    elementwise ops)."""
    if which == "nchw":
        return np.ascontiguousarray(a)
    if which == "nhwc":
        return np.ascontiguousarray(a.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    big = np.zeros(a.shape[:3] + (2 * a.shape[3],))
    big[..., ::2] = a
    return big[..., ::2]


@given(conv_case(), st.sampled_from(["nchw", "nhwc", "sliced"]), st.sampled_from(["nchw", "nhwc", "sliced"]))
def test_conv_results_do_not_depend_on_memory_layout(case, x_layout, w_layout):
    # the primitives return channels-last views; any strides must give the loop definitions' values
    B, C, O, H, W, k, s, p, d, seed = case
    r = np.random.default_rng(seed)
    x, w = r.standard_normal((B, C, H, W)), r.standard_normal((O, C, k, k))
    xs, ws = sg.tensor(_layouts(x, x_layout)), sg.tensor(_layouts(w, w_layout))
    y = conv2d(xs, ws, s, p, d).data
    np.testing.assert_allclose(y, naive_conv2d(x, w, s, p, d), rtol=1e-12, atol=1e-12)
    g = r.standard_normal(y.shape)
    gs = sg.tensor(_layouts(g, x_layout))
    opad = tuple(n - ((m - 1) * s - 2 * p + d * (k - 1) + 1) for n, m in zip((H, W), y.shape[2:]))
    xt = conv_transpose2d(gs, ws, s, p, opad, d).data
    np.testing.assert_allclose(np.sum(g * y), np.sum(x * xt), rtol=1e-10, atol=1e-10)  # the adjoint
    w_bar = conv2d_weight(xs, gs, k, s, p, d).data
    assert w_bar.shape == w.shape and w_bar.flags.c_contiguous
    # w_bar = d<g, conv(x, w)>/dw, and conv is linear in w: <w_bar, w> = <g, conv(x, w)>
    np.testing.assert_allclose(np.sum(w_bar * w), np.sum(g * y), rtol=1e-10, atol=1e-10)


def test_im2col_and_col2im_are_adjoint():
    from scratchgen.autodiff.conv import col2im, im2col

    r = np.random.default_rng(5)
    B, C, H, W, kh, kw, s, p, d = 2, 3, 7, 6, 3, 2, (2, 1), (1, 2), (2, 1)
    Ho, Wo = (H + 2 * p[0] - d[0] * (kh - 1) - 1) // s[0] + 1, (W + 2 * p[1] - d[1] * (kw - 1) - 1) // s[1] + 1
    x = r.standard_normal((B, C, H, W))
    cols = im2col(np, x, kh, kw, s, p, d, (Ho, Wo))
    assert cols.shape == (B * Ho * Wo, kh * kw * C)
    c = r.standard_normal(cols.shape)
    back = col2im(np, c, x.shape, kh, kw, s, p, d, (Ho, Wo))
    assert back.shape == x.shape
    np.testing.assert_allclose(np.sum(cols * c), np.sum(x * back), rtol=1e-12)


@pytest.mark.parametrize("s,p,d,k", [(1, 0, 1, 3), (2, 1, 1, 4), (2, 1, 2, 3), (3, 2, 1, 2)])
def test_conv2d_gradients_first_and_second_order(s, p, d, k):
    r = np.random.default_rng(k + 10 * s)
    x, w = r.standard_normal((2, 2, 6, 5)), r.standard_normal((3, 2, k, k))
    # tanh makes the second derivative non-trivial (conv itself is bilinear)
    sg.check_grads(lambda x, w: sg.tanh(conv2d(x, w, s, p, d)), x, w, order=2)


@pytest.mark.parametrize("s,p,op,d,k", [(1, 0, 0, 1, 3), (2, 1, 1, 1, 4), (2, 1, 0, 2, 3), (3, 0, 2, 1, 2)])
def test_conv_transpose2d_gradients_first_and_second_order(s, p, op, d, k):
    r = np.random.default_rng(k + 10 * s)
    x, w = r.standard_normal((2, 3, 4, 3)), r.standard_normal((3, 2, k, k))
    sg.check_grads(lambda x, w: sg.tanh(conv_transpose2d(x, w, s, p, op, d)), x, w, order=2)


def test_conv2d_weight_gradients():
    r = np.random.default_rng(3)
    x, g = r.standard_normal((2, 2, 6, 6)), r.standard_normal((2, 3, 4, 4))
    f = lambda x, g: sg.tanh(conv2d_weight(x, g, 2, stride=2, padding=1))  # noqa: E731
    sg.check_grads(f, x, g, order=2)


def test_third_order_through_conv():
    # gradient penalty of a gradient penalty: third derivatives exist and are exact
    r = np.random.default_rng(4)
    x, w = r.standard_normal((1, 1, 5, 5)), r.standard_normal((2, 1, 3, 3))
    sg.check_grads(lambda x, w: sg.tanh(conv2d(x, w, 2, 1)), x, w, order=3, n_directions=1)


def test_conv_float32_stays_float32():
    x = sg.tensor(np.ones((2, 3, 8, 8), dtype=np.float32), requires_grad=True)
    w = sg.tensor(np.ones((4, 3, 3, 3), dtype=np.float32), requires_grad=True)
    y = conv2d(x, w, 2, 1)
    y.sum().backward()
    assert y.dtype == np.float32 and x.grad.dtype == np.float32 and w.grad.dtype == np.float32
    z = conv_transpose2d(y, sg.tensor(np.ones((4, 3, 4, 4), dtype=np.float32)), 2, 1)
    assert z.dtype == np.float32


def test_conv_layers_match_torch():
    torch = pytest.importorskip("torch")
    r = np.random.default_rng(0)
    x = r.standard_normal((3, 4, 9, 8))
    conv = nn.Conv2d(4, 5, 3, stride=2, padding=1, dilation=2, dtype="float64", generator=0)
    tc = torch.nn.Conv2d(4, 5, 3, stride=2, padding=1, dilation=2).double()
    with torch.no_grad():
        tc.weight.copy_(torch.from_numpy(conv.weight.data))
        tc.bias.copy_(torch.from_numpy(conv.bias.data))
    xt = torch.tensor(x, requires_grad=True)
    yt = tc(xt)
    xs = sg.tensor(x, requires_grad=True)
    y = conv(xs)
    np.testing.assert_allclose(y.data, yt.detach().numpy(), rtol=1e-10, atol=1e-10)
    u = r.standard_normal(y.shape)
    (y * sg.tensor(u)).sum().backward()
    yt.backward(torch.from_numpy(u))
    np.testing.assert_allclose(xs.grad.data, xt.grad.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(conv.weight.grad.data, tc.weight.grad.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(conv.bias.grad.data, tc.bias.grad.numpy(), rtol=1e-10, atol=1e-10)

    convT = nn.ConvTranspose2d(5, 2, 4, stride=2, padding=1, output_padding=1, dtype="float64", generator=1)
    tT = torch.nn.ConvTranspose2d(5, 2, 4, stride=2, padding=1, output_padding=1).double()
    with torch.no_grad():
        tT.weight.copy_(torch.from_numpy(convT.weight.data))
        tT.bias.copy_(torch.from_numpy(convT.bias.data))
    z = convT(y)
    zt = tT(yt)
    np.testing.assert_allclose(z.data, zt.detach().numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(
    "make,x_shape,match",
    [
        (lambda: nn.Conv2d(3, 4, 3), (2, 3, 8), r"Conv2d\(3, 4.*expected input of shape \(B, 3, H, W\), received \(2, 3, 8\)"),
        (lambda: nn.Conv2d(3, 4, 3), (2, 5, 8, 8), r"Conv2d\(3, 4.*expected 3 input channels, received 5"),
        (lambda: nn.ConvTranspose2d(3, 4, 3), (2, 2, 8, 8), r"ConvTranspose2d\(3, 4.*expected 3 input channels, received 2"),
        (lambda: nn.Conv2d(1, 1, 5), (1, 1, 3, 3), r"smaller than the dilated kernel 5"),
    ],
)
def test_conv_bad_input_names_layer_expected_and_received(make, x_shape, match):
    layer = make()
    with pytest.raises(ValueError, match=match):
        layer(sg.tensor(np.zeros(x_shape, dtype=np.float32)))


@pytest.mark.parametrize("kwargs,match", [
    (dict(stride=1.5), r"Conv2d: stride must be an int >= 1 or a pair of them, received 1.5"),
    (dict(stride=0), r"Conv2d: stride must be an int >= 1.*received 0"),
    (dict(padding=-1), r"Conv2d: padding must be an int >= 0.*received -1"),
    (dict(dilation=(1, 2, 3)), r"Conv2d: dilation .*received \(1, 2, 3\)"),
])
def test_conv_bad_hyperparameters(kwargs, match):
    with pytest.raises(TypeError, match=match):
        nn.Conv2d(1, 1, 3, **kwargs)


def test_conv_transpose_output_padding_must_be_below_stride():
    with pytest.raises(ValueError, match=r"output_padding must be smaller than stride \(2, 2\), received \(2, 2\)"):
        nn.ConvTranspose2d(1, 1, 3, stride=2, output_padding=2)


def test_conv2d_on_many_images_in_blocks_gives_the_numbers_of_one_piece(monkeypatch):
    # 300 images of 8x8 with 16 channels, 3x3: X_col is 300 * 64 * 144 floats (11 MB), built in blocks of 1 MiB
    # under no_grad
    r = np.random.default_rng(0)
    x = sg.tensor(r.standard_normal((300, 16, 8, 8)).astype(np.float32))
    w = sg.tensor(r.standard_normal((8, 16, 3, 3)).astype(np.float32))
    per_image = 8 * 8 * 9 * 16 * 4
    assert conv._COLS_BLOCK_BYTES // per_image < 300  # several blocks, the last one short
    with sg.no_grad():  # inference: in blocks
        blocked = conv2d(x, w, padding=1).numpy()
        monkeypatch.setattr(conv, "_COLS_BLOCK_BYTES", 1 << 40)
        whole = conv2d(x, w, padding=1).numpy()
    np.testing.assert_array_equal(blocked, whole)
    ref = naive_conv2d(x.numpy()[:2].astype(np.float64), w.numpy().astype(np.float64), 1, 1, 1)
    assert np.max(np.abs(blocked[:2] - ref)) < 1e-4
