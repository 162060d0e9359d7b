"""Every primitive and composite: values and gradients against HIPS autograd, and
order-2 gradient checks against central differences, on hypothesis-chosen shapes
(broadcasting and size-1 dimensions included) and values."""
import autograd
import autograd.numpy as anp
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import scratchgen as sg
from scratchgen.nn import functional as F
from scratchgen.testing import away_from, broadcastable_pair, float_arrays, shapes


def autograd_vjp(f_anp, args, u):
    """Gradients of <f(args), u> with respect to every argument, by HIPS autograd."""
    return [autograd.grad(lambda *a: anp.sum(f_anp(*a) * u), argnum=i)(*args) for i in range(len(args))]


def scratchgen_vjp(f_sg, args, u):
    ts = [sg.tensor(a, requires_grad=True) for a in args]
    out = f_sg(*ts)
    out.backward(u)
    return out.numpy(), [t.grad.numpy() for t in ts]


def compare_with_autograd(f_sg, f_anp, *args, seed=0):
    """Value and VJP of f_sg equal those of f_anp (an independent implementation)."""
    args = [np.asarray(a, dtype=np.float64) for a in args]
    expected = np.asarray(f_anp(*args))
    u = np.random.default_rng(seed).standard_normal(expected.shape)
    value, grads = scratchgen_vjp(f_sg, args, u)
    np.testing.assert_allclose(value, expected, rtol=1e-10, atol=1e-12)
    for g, e in zip(grads, autograd_vjp(f_anp, args, u)):
        np.testing.assert_allclose(g, np.broadcast_to(e, g.shape), rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------------------
# Elementwise unary primitives and composites:
# (name, scratchgen function, autograd function, input range, kinks to avoid)
# ---------------------------------------------------------------------------
UNARY = [
    ("negative", lambda x: -x, lambda x: -x, (-3, 3), ()),
    ("exp", sg.exp, anp.exp, (-3, 3), ()),
    ("expm1", sg.expm1, anp.expm1, (-3, 3), ()),
    ("log", sg.log, anp.log, (0.1, 5), ()),
    ("log1p", sg.log1p, anp.log1p, (-0.9, 5), ()),
    ("sqrt", sg.sqrt, anp.sqrt, (0.1, 5), ()),
    ("tanh", sg.tanh, anp.tanh, (-3, 3), ()),
    ("sin", sg.sin, anp.sin, (-4, 4), ()),
    ("cos", sg.cos, anp.cos, (-4, 4), ()),
    ("abs", sg.abs, anp.abs, (-3, 3), (0.0,)),
    ("sign", lambda x: sg.sign(x) * x, lambda x: anp.sign(x) * x, (-3, 3), (0.0,)),
    ("clip", lambda x: sg.clip(x, -1.0, 0.5), lambda x: anp.clip(x, -1.0, 0.5), (-3, 3), (-1.0, 0.5)),
    ("pow_scalar_2", lambda x: x**2, lambda x: x**2, (-3, 3), ()),
    ("pow_scalar_3", lambda x: x**3, lambda x: x**3, (-3, 3), ()),
    ("pow_scalar_half", lambda x: x**0.5, lambda x: x**0.5, (0.1, 4), ()),
    ("pow_scalar_neg", lambda x: x**-1.5, lambda x: x**-1.5, (0.2, 4), ()),
    ("rpow", lambda x: 2.0**x, lambda x: 2.0**x, (-3, 3), ()),
    ("rdiv", lambda x: 1.5 / x, lambda x: 1.5 / x, (0.2, 4), ()),
    ("sigmoid", sg.sigmoid, lambda x: 1 / (1 + anp.exp(-x)), (-6, 6), ()),
    ("softplus", sg.softplus, lambda x: anp.log1p(anp.exp(x)), (-6, 6), ()),
    ("log_sigmoid", sg.log_sigmoid, lambda x: -anp.log1p(anp.exp(-x)), (-6, 6), ()),
    ("silu", F.silu, lambda x: x / (1 + anp.exp(-x)), (-6, 6), ()),
    ("gelu", F.gelu, lambda x: 0.5 * x * (1 + anp.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3))), (-4, 4), ()),
    ("relu", sg.relu, lambda x: anp.maximum(x, 0.0), (-3, 3), (0.0,)),
    ("leaky_relu", lambda x: sg.leaky_relu(x, 0.2), lambda x: anp.where(x > 0, x, 0.2 * x), (-3, 3), (0.0,)),
]


@pytest.mark.parametrize("name,f,f_anp,bounds,kinks", UNARY, ids=[c[0] for c in UNARY])
@given(data=st.data())
def test_unary_gradients(name, f, f_anp, bounds, kinks, data):
    x = data.draw(float_arrays(shapes(max_dims=3), *bounds))
    x = away_from(x, kinks, margin=0.02) if kinks else x
    assume(np.all((x >= bounds[0]) & (x <= bounds[1] + 0.1)))
    sg.check_grads(f, x, order=2)
    if f_anp is not None:
        compare_with_autograd(f, f_anp, x)


def test_astype_casts_the_gradient_back():
    x = sg.tensor(np.array([1.5, -2.0]), requires_grad=True)  # float64
    y = sg.astype(x, "float32")
    assert y.dtype == np.float32
    (y * y).sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, -4.0])


# ---------------------------------------------------------------------------
# Broadcasting binary primitives
# ---------------------------------------------------------------------------
BINARY = [
    ("add", lambda x, y: x + y, lambda x, y: x + y, (-3, 3), (-3, 3)),
    ("subtract", lambda x, y: x - y, lambda x, y: x - y, (-3, 3), (-3, 3)),
    ("multiply", lambda x, y: x * y, lambda x, y: x * y, (-3, 3), (-3, 3)),
    ("divide", lambda x, y: x / y, lambda x, y: x / y, (-3, 3), (0.3, 3)),
    ("power", lambda x, y: x**y, lambda x, y: x**y, (0.2, 3), (-2, 2)),
    ("maximum", sg.maximum, anp.maximum, (-3, 3), (-3, 3)),
    ("minimum", sg.minimum, anp.minimum, (-3, 3), (-3, 3)),
]


@pytest.mark.parametrize("name,f,f_anp,bx,by", BINARY, ids=[c[0] for c in BINARY])
@given(data=st.data())
def test_binary_gradients_with_broadcasting(name, f, f_anp, bx, by, data):
    bs = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3))
    x = data.draw(float_arrays(bs.input_shapes[0], *bx))
    y = data.draw(float_arrays(bs.input_shapes[1], *by))
    if name in ("maximum", "minimum"):  # keep away from ties, where max is not differentiable
        assume(np.all(np.abs(np.subtract(x, y)) > 0.05))
    sg.check_grads(f, x, y, order=2)
    compare_with_autograd(f, f_anp, x, y)


@given(pair=broadcastable_pair())
def test_where_routes_gradient_by_condition(pair):
    x, y = pair
    cond = np.broadcast_to(x, np.broadcast_shapes(x.shape, y.shape)) > 0
    f = lambda a, b: sg.where(cond, a * a, b * 3.0)
    sg.check_grads(f, x, y, order=2)
    compare_with_autograd(f, lambda a, b: anp.where(cond, a * a, b * 3.0), x, y)


# ---------------------------------------------------------------------------
# matmul: 1-D, 2-D, batched with broadcast batch axes
# ---------------------------------------------------------------------------
MATMUL_SHAPES = [
    ((3,), (3,)),
    ((3,), (3, 2)),
    ((2, 3), (3,)),
    ((2, 3), (3, 4)),
    ((5, 2, 3), (3, 4)),
    ((2, 3), (5, 3, 4)),
    ((5, 1, 2, 3), (4, 3, 2)),
    ((3,), (4, 3, 2)),
    ((4, 2, 3), (3,)),
]


@pytest.mark.parametrize("sx,sy", MATMUL_SHAPES)
@given(data=st.data())
def test_matmul_gradients(sx, sy, data):
    x = data.draw(float_arrays(sx))
    y = data.draw(float_arrays(sy))
    sg.check_grads(sg.matmul, x, y, order=2)
    compare_with_autograd(lambda a, b: a @ b, anp.matmul, x, y)


# ---------------------------------------------------------------------------
# Reductions
# ---------------------------------------------------------------------------
@st.composite
def array_and_axis(draw, distinct=False):
    shape = draw(shapes(min_dims=1, max_dims=3))
    x = draw(float_arrays(shape, -3, 3))
    if distinct:  # no ties: max/min are differentiable there
        x = x + np.arange(x.size).reshape(shape) * 0.11
    axis = draw(st.none() | st.integers(-len(shape), len(shape) - 1)
                | st.lists(st.integers(0, len(shape) - 1), min_size=1, max_size=len(shape), unique=True).map(tuple))
    keepdims = draw(st.booleans())
    return x, axis, keepdims


@pytest.mark.parametrize("name", ["sum", "mean", "max", "min"])
@given(data=st.data())
def test_reductions(name, data):
    x, axis, keepdims = data.draw(array_and_axis(distinct=name in ("max", "min")))
    f = lambda a: getattr(sg, name)(a, axis=axis, keepdims=keepdims)
    ref = {"sum": anp.sum, "mean": anp.mean, "max": anp.max, "min": anp.min}[name]
    sg.check_grads(f, x, order=2)
    compare_with_autograd(f, lambda a: ref(a, axis=axis, keepdims=keepdims), x)


def test_max_gradient_is_shared_evenly_among_ties():
    x = sg.tensor(np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]]), requires_grad=True)
    sg.max(x, axis=1).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]])
    y = sg.tensor(np.array([4.0, 1.0, 4.0]), requires_grad=True)
    sg.min(-y).backward()
    np.testing.assert_array_equal(y.grad.numpy(), [-0.5, 0.0, -0.5])
    z = sg.tensor(np.array([2.0, 2.0, 1.0], dtype=np.float32), requires_grad=True)
    sg.max(z).backward()  # the tie shares stay in float32
    assert z.grad.dtype == np.float32
    np.testing.assert_array_equal(z.grad.numpy(), [0.5, 0.5, 0.0])


def test_smooth_composites_have_exact_second_derivatives_at_zero():
    # zero-initialised logits sit at exactly 0: sigma''(0) = 0, softplus''(0) = sigma'(0) = 1/4
    x = np.zeros(1)
    d2 = lambda f: sg.grad(lambda t: sg.grad(lambda u: f(u).sum())(t).sum())(x).item()
    assert d2(sg.softplus) == 0.25
    assert d2(sg.sigmoid) == 0.0
    assert d2(sg.log_sigmoid) == -0.25
    assert abs(sg.sigmoid(sg.tensor([-20.0])).item() - 2.0611536e-09) < 1e-15  # relative accuracy kept


def test_documented_gradients_at_kinks():
    # relu'(0) = 1/2 (maximum splits ties), abs'(0) = 0, clip passes at its bounds, softplus'(0) = sigmoid(0)
    x = sg.tensor(np.zeros(1), requires_grad=True)
    assert sg.grad(lambda t: sg.relu(t).sum())(x).item() == 0.5
    assert sg.grad(lambda t: sg.abs(t).sum())(x).item() == 0.0
    assert sg.grad(lambda t: sg.softplus(t).sum())(x).item() == 0.5
    b = sg.tensor(np.array([-1.0, 1.0, 2.0]), requires_grad=True)
    np.testing.assert_array_equal(sg.grad(lambda t: sg.clip(t, -1.0, 1.0).sum())(b).numpy(), [1, 1, 0])


# ---------------------------------------------------------------------------
# Shape ops and indexing
# ---------------------------------------------------------------------------
@given(x=float_arrays(shapes(min_dims=1, max_dims=4)), data=st.data())
def test_reshape_transpose_broadcast(x, data):
    perm = tuple(data.draw(st.permutations(range(x.ndim))))
    sg.check_grads(lambda a: sg.transpose(a, perm) * 1.5, x, order=2)
    compare_with_autograd(lambda a: sg.transpose(a, perm), lambda a: anp.transpose(a, perm), x)
    compare_with_autograd(lambda a: a.permute(*perm), lambda a: anp.transpose(a, perm), x)
    compare_with_autograd(lambda a: a.reshape(-1), lambda a: anp.reshape(a, -1), x)
    target = (2,) + tuple(x.shape)
    compare_with_autograd(lambda a: sg.broadcast_to(a, target) ** 2, lambda a: (anp.ones(target) * a) ** 2, x)  # autograd's broadcast_to can't add axes
    sg.check_grads(lambda a: sg.broadcast_to(a, target) ** 2, x, order=2)


@given(x=float_arrays(shapes(min_dims=2, max_dims=3, min_side=2)), data=st.data())
def test_getitem_slices_integer_arrays_and_masks(x, data):
    # basic slice
    sg.check_grads(lambda a: a[1:, ::-1] ** 2, x, order=2)
    compare_with_autograd(lambda a: a[1:, ::-1] ** 2, lambda a: a[1:, ::-1] ** 2, x)
    # integer array with repeats: scatter-add must add the repeated gradients
    idx = np.array(data.draw(st.lists(st.integers(0, x.shape[0] - 1), min_size=1, max_size=5)))
    sg.check_grads(lambda a: a[idx] ** 2, x, order=2)
    compare_with_autograd(lambda a: a[idx] ** 2, lambda a: a[idx] ** 2, x)
    # boolean mask
    mask = x > 0
    sg.check_grads(lambda a: a[mask] ** 3, x, order=2)
    compare_with_autograd(lambda a: a[mask] ** 3, lambda a: a[mask] ** 3, x)


def test_getitem_repeated_index_adds_gradients():
    x = sg.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    x[np.array([0, 0, 2, 0])].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 0.0, 1.0])


@given(data=st.data())
def test_concatenate_stack_pad(data):
    shape = data.draw(shapes(min_dims=1, max_dims=3))
    axis = data.draw(st.integers(0, len(shape) - 1))
    a = data.draw(float_arrays(shape))
    b_shape = tuple(n + 1 if i == axis else n for i, n in enumerate(shape))
    b = data.draw(float_arrays(b_shape))
    c = data.draw(float_arrays(shape))
    sg.check_grads(lambda u, v: sg.concatenate([u, v * v], axis=axis), a, b, order=2)
    compare_with_autograd(lambda u, v: sg.concatenate([u, v], axis=axis),
                          lambda u, v: anp.concatenate([u, v], axis=axis), a, b)
    sg.check_grads(lambda u, v: sg.stack([u, v * u], axis=axis), a, c, order=2)
    compare_with_autograd(lambda u, v: sg.stack([u, v], axis=axis), lambda u, v: anp.stack([u, v], axis=axis), a, c)
    widths = tuple((i % 2, (i + 1) % 3) for i in range(len(shape)))
    sg.check_grads(lambda u: sg.pad(u, widths) ** 2, a, order=2)
    compare_with_autograd(lambda u: sg.pad(u, widths), lambda u: anp.pad(u, widths, mode="constant"), a)


# ---------------------------------------------------------------------------
# Softmax family, along a chosen axis
# ---------------------------------------------------------------------------
def _anp_logsumexp(x, axis, keepdims=False):
    m = anp.max(x, axis=axis, keepdims=True)
    out = anp.log(anp.sum(anp.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else anp.squeeze(out, axis=axis)


@given(x=float_arrays(shapes(min_dims=1, max_dims=3), -5, 5), data=st.data())
def test_softmax_family(x, data):
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    sg.check_grads(lambda a: sg.logsumexp(a, axis=axis), x, order=2)
    compare_with_autograd(lambda a: sg.logsumexp(a, axis=axis), lambda a: _anp_logsumexp(a, axis), x)
    sg.check_grads(lambda a: sg.log_softmax(a, axis=axis), x, order=2)
    compare_with_autograd(lambda a: sg.log_softmax(a, axis=axis),
                          lambda a: a - _anp_logsumexp(a, axis, keepdims=True), x)
    sg.check_grads(lambda a: sg.softmax(a, axis=axis), x, order=2)
    compare_with_autograd(lambda a: sg.softmax(a, axis=axis),
                          lambda a: anp.exp(a - _anp_logsumexp(a, axis, keepdims=True)), x)


# ---------------------------------------------------------------------------
# Stability: float32 inputs of magnitude 1e4
# ---------------------------------------------------------------------------
EXTREME = np.array([-1e4, -100.0, -1.0, 0.0, 1.0, 100.0, 1e4], dtype=np.float32)


@pytest.mark.parametrize("name", ["sigmoid", "log_sigmoid", "softplus", "relu", "leaky_relu",
                                  "softmax", "log_softmax", "logsumexp"])
def test_composites_finite_with_finite_gradients_at_1e4(name):
    f = getattr(sg, name)
    x = sg.tensor(EXTREME, requires_grad=True)
    y = f(x)
    assert y.dtype == np.float32
    assert np.all(np.isfinite(y.numpy()))
    y.sum().backward()
    assert x.grad.dtype == np.float32
    assert np.all(np.isfinite(x.grad.numpy()))


def test_extreme_values_are_right_not_just_finite():
    x = sg.tensor(EXTREME)
    # softplus(-100) = 3.7e-44 is a float32 subnormal, spaced 1.4e-45 apart: atol allows a few of those steps
    tiny = 1e-44
    np.testing.assert_allclose(sg.softplus(x).numpy(), np.logaddexp(0, EXTREME.astype(np.float64)),
                               rtol=1e-6, atol=tiny)
    np.testing.assert_allclose(sg.log_sigmoid(x).numpy(), -np.logaddexp(0, -EXTREME.astype(np.float64)),
                               rtol=1e-6, atol=tiny)
    np.testing.assert_allclose(sg.sigmoid(x).numpy(), [0, 0, 0.26894142, 0.5, 0.73105858, 1, 1], atol=1e-7)
    two = sg.tensor(np.array([1e4, 1e4], dtype=np.float32))
    assert abs(sg.logsumexp(two).item() - (1e4 + np.log(2))) < 1e-3
    np.testing.assert_allclose(sg.softmax(two).numpy(), [0.5, 0.5])
    g = sg.grad(lambda t: sg.log_sigmoid(t).sum())(x).numpy()  # d/dx log sigma(x) = 1 - sigma(x)
    with np.errstate(over="ignore"):  # the oracle: exp(1e4) = inf in float64, and 1 / (1 + inf) = 0 is right
        expected = 1 - 1 / (1 + np.exp(-EXTREME.astype(np.float64)))
    np.testing.assert_allclose(g, expected, atol=1e-7)
