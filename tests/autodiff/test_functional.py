"""The activations of scratchgen.autodiff.functional at extreme inputs, in float32 and float64, against
closed forms evaluated in 50-digit decimal arithmetic (never by the code under test); their array
kernels in blocks against one piece; and in-place calls (overwrite under no_grad only)."""
import math
from decimal import Decimal, localcontext

import numpy as np
import pytest

import scratchgen as sg
import scratchgen.autodiff.functional as AF
from scratchgen.nn import functional as F

# ---------------------------------------------------------------------------
# Closed forms in decimal arithmetic: exp is Decimal.exp, so nothing rounds at float precision
# ---------------------------------------------------------------------------


def _dec(fn, x):
    """fn evaluated at the exact binary value of x with 50 significant digits, as a float64."""
    with localcontext() as ctx:
        ctx.prec = 50
        return float(fn(Decimal(float(x))))


# Each form is written with e = e^{-|x|} <= 1, so that no sum rounds a small term away at 50 digits.
def _e(x):
    return (-abs(x)).exp()


def sigma(x):  # 1 / (1 + e^{-x}): 1/(1 + e) for x >= 0, e/(1 + e) for x < 0
    e = _e(x)
    return 1 / (1 + e) if x >= 0 else e / (1 + e)


def sigma_prime(x):  # sigma(x) sigma(-x) = e / (1 + e)^2
    e = _e(x)
    return e / (1 + e) ** 2


def sigma_second(x):  # sigma'(x) (1 - 2 sigma(x)) = -sign(x) e (1 - e) / (1 + e)^3
    e = _e(x)
    return (-1 if x > 0 else 1) * e * (1 - e) / (1 + e) ** 3


def softplus(x):  # log(1 + e^x) = max(x, 0) + log(1 + e); log(1 + e) = e - e^2/2 + e^3/3 - ... for tiny e
    e = _e(x)
    log1p = e - e**2 / 2 + e**3 / 3 if e < Decimal("1e-12") else (1 + e).ln()
    return max(x, Decimal(0)) + log1p


def silu(x):  # x sigma(x)
    return x * sigma(x)


def silu_prime(x):  # d/dx x sigma(x) = sigma(x) + x sigma(x) sigma(-x)
    return sigma(x) * (1 + x * sigma(-x))


def _pi():
    return Decimal("3.14159265358979323846264338327950288419716939937510")


def gelu(x):
    # 1/2 x (1 + tanh u), u = sqrt(2/pi) (x + 0.044715 x^3), with 1 + tanh u = 2 e^{2u} / (1 + e^{2u})
    # (= 2 / (1 + e^{-2u})), the exponent taken <= 0
    u = (2 / _pi()).sqrt() * (x + Decimal("0.044715") * x**3)
    E = (-2 * abs(u)).exp()
    one_plus_tanh = 2 * E / (1 + E) if u < 0 else 2 / (1 + E)
    return x * one_plus_tanh / 2


# Points from -1e4 to 1e4, including where sigma rounds to 1 in float32 (x > 16.6) and where e^{-x}
# overflows (x < -88.7 in float32, x < -709.8 in float64).
POINTS = {
    np.float32: [-1e4, -100.0, -88.0, -50.0, -20.0, -5.0, -1.0, 0.0, 1.0, 5.0, 17.0, 20.0, 30.0, 50.0, 87.0, 100.0, 1e4],
    np.float64: [-1e4, -745.0, -700.0, -100.0, -40.0, -20.0, -1.0, 0.0, 1.0, 20.0, 37.0, 40.0, 100.0, 700.0, 1e4],
}
# The smallest normal number: below it a result may be flushed to 0 (or be a subnormal).
TINY = {np.float32: float(np.finfo(np.float32).tiny), np.float64: float(np.finfo(np.float64).tiny)}
ULP = {np.float32: float(np.finfo(np.float32).eps), np.float64: float(np.finfo(np.float64).eps)}


@pytest.fixture(params=[False, True], ids=["exp", "expm1"])
def exp_form(request, monkeypatch):
    """Both forms of 1 + e^t in the kernels: exp then add 1, and (float32, where NumPy vectorises it)
    expm1 then add 2; every machine runs both here, whichever it would choose."""
    monkeypatch.setattr(AF, "_FAST_EXPM1_F32", request.param)
    return request.param


def assert_close(got, exact, dtype, ulps):
    """|got - exact| < ulps eps |exact| where exact is a normal number; below that, |got - exact| < tiny."""
    for g, e in zip(np.asarray(got, dtype=np.float64).ravel(), exact):
        tol = ulps * ULP[dtype] * abs(e) if abs(e) >= TINY[dtype] else TINY[dtype]
        assert abs(g - e) < tol or g == e, (g, e)


def _values_and_derivatives(f, x, dtype):
    """f(x), f'(x), f''(x) at each point, by scratchgen in ``dtype``."""
    t = sg.tensor(np.asarray(x, dtype=dtype))
    y = f(t).numpy()
    d1 = sg.grad(lambda u: f(u).sum())(t).numpy()
    d2 = sg.grad(lambda u: sg.grad(lambda v: f(v).sum())(u).sum())(t).numpy()
    return y, d1, d2


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_and_its_derivatives_at_extreme_inputs(dtype, exp_form):
    x = POINTS[dtype]
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # no warning escapes (the overflow of e^{-x} is expected and silenced)
        y, d1, d2 = _values_and_derivatives(sg.sigmoid, x, dtype)
    assert y.dtype == d1.dtype == d2.dtype == dtype
    assert_close(y, [_dec(sigma, v) for v in x], dtype, 4)
    assert_close(d1, [_dec(sigma_prime, v) for v in x], dtype, 8)
    assert_close(d2, [_dec(sigma_second, v) for v in x], dtype, 16)


def test_sigmoid_gradient_is_not_zero_where_sigma_rounds_to_one(exp_form):
    # issue 20: sigma(20) rounds to 1 in float32, so sigma (1 - sigma) gave exactly 0
    x = sg.tensor(np.array([20.0, 30.0, 50.0], dtype=np.float32))
    g = sg.grad(lambda u: sg.sigmoid(u).sum())(x).numpy()
    assert np.all(g > 0)
    assert abs(g[0] - 2.0611536e-09) < 1e-15  # e^{-20} / (1 + e^{-20})^2


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softplus_and_log_sigmoid_at_extreme_inputs(dtype, exp_form):
    x = POINTS[dtype]
    y, d1, d2 = _values_and_derivatives(sg.softplus, x, dtype)
    assert_close(y, [_dec(softplus, v) for v in x], dtype, 4)
    assert_close(d1, [_dec(sigma, v) for v in x], dtype, 4)  # softplus' = sigma
    assert_close(d2, [_dec(sigma_prime, v) for v in x], dtype, 8)
    y, d1, d2 = _values_and_derivatives(sg.log_sigmoid, x, dtype)
    assert_close(y, [-_dec(softplus, -v) for v in x], dtype, 4)  # log sigma(x) = -softplus(-x)
    assert_close(d1, [_dec(sigma, -v) for v in x], dtype, 4)  # (log sigma)' = sigma(-x)
    assert_close(d2, [-_dec(sigma_prime, v) for v in x], dtype, 8)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_silu_and_its_gradient_at_extreme_inputs(dtype, exp_form):
    x = POINTS[dtype]
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y, d1, _ = _values_and_derivatives(F.silu, x, dtype)
    exact = [_dec(silu, v) for v in x]
    if dtype is np.float32:  # x/(1 + e^{-x}) with e^{-x} = inf below -88.7: -0 where |silu| < 2e-37
        exact = [e if v > -88.8 else 0.0 for e, v in zip(exact, x)]
        assert all(abs(_dec(silu, v)) < 2e-37 for v in x if v <= -88.8)
    assert_close(y, exact, dtype, 4)
    assert_close(d1, [_dec(silu_prime, v) for v in x], dtype, 8)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gelu_at_extreme_inputs(dtype, exp_form):
    # x sigma(v) with v = 2 sqrt(2/pi) (x + 0.044715 x^3): v is rounded in dtype, so the relative error
    # of e^{-v} is about |v| ulps (the condition number of exp); 1/2 x (1 + tanh) would cancel for x < -3
    x = [v for v in POINTS[dtype] if abs(v) <= 20]
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y, d1, _ = _values_and_derivatives(F.gelu, x, dtype)
    for g, v in zip(y, x):
        e = _dec(gelu, v)
        cond = 1 + abs(float(2 * math.sqrt(2 / math.pi) * (v + 0.044715 * v**3)))
        tol = 8 * cond * ULP[dtype] * abs(e) if abs(e) >= TINY[dtype] else TINY[dtype]
        assert abs(float(g) - e) < tol or float(g) == e, (v, g, e)
    assert np.all(np.isfinite(d1))


# ---------------------------------------------------------------------------
# Blocked kernels: the same numbers as in one piece, any memory layout
# ---------------------------------------------------------------------------
KERNELS = {
    "sigmoid": (AF._sigmoid_kernel, ()),
    "silu": (AF._silu_kernel, ()),
    "gelu": (AF._gelu_kernel, ()),
    "leaky_relu": (AF._leaky_relu_kernel, (0.2,)),
}


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_blocked_kernels_equal_one_piece(name, monkeypatch, exp_form):
    kernel, params = KERNELS[name]
    r = np.random.default_rng(0)
    x = (8 * r.standard_normal((3001, 50))).astype(np.float32)  # 600 KB: three blocks of 256 KiB, the last short
    nhwc = (4 * r.standard_normal((70, 9, 9, 16))).astype(np.float32).transpose(0, 3, 1, 2)  # channels-last view
    blocked = [AF._blockwise(np, kernel, a, *params) for a in (x, nhwc)]
    inplace = [a.copy() for a in (x, nhwc)]
    for a in inplace:
        AF._blockwise(np, kernel, a, *params, out=a)
    monkeypatch.setattr(AF, "_BLOCK_BYTES", 1 << 40)  # one block
    whole = [AF._blockwise(np, kernel, a, *params) for a in (x, nhwc)]
    for b, i, w in zip(blocked, inplace, whole):
        np.testing.assert_array_equal(b, w)
        np.testing.assert_array_equal(i, w)
    assert blocked[1].strides == nhwc.strides  # the output keeps the channels-last layout


def test_kernels_keep_float32_and_cast_integers_as_numpy_does():
    assert sg.sigmoid(sg.tensor(np.array([1.0, -2.0], dtype=np.float32))).dtype == np.float32
    y = sg.sigmoid(sg.tensor(np.array([0, 1])))  # int64 -> float64, as np.exp would
    assert y.dtype == np.float64 and abs(y.numpy()[0] - 0.5) < 1e-16


# ---------------------------------------------------------------------------
# In place: overwrite only when nothing is recorded
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("f,reference", [
    (lambda x, inplace: F.silu(x, inplace=inplace), lambda a: a / (1 + np.exp(-a))),
    (lambda x, inplace: F.leaky_relu(x, 0.2, inplace=inplace), lambda a: np.where(a > 0, a, 0.2 * a)),
    (lambda x, inplace: F.relu(x, inplace=inplace), lambda a: np.maximum(a, 0)),
])
def test_inplace_overwrites_the_input_under_no_grad_only(f, reference):
    a = np.linspace(-3, 3, 13)
    x = sg.tensor(a.copy())
    with sg.no_grad():
        y = f(x, True)
    assert y is x
    np.testing.assert_allclose(x.numpy(), reference(a), rtol=1e-15, atol=0)
    # recording: the tape needs the input, so the call is out of place and the gradient is right
    x = sg.tensor(a.copy(), requires_grad=True)
    y = f(x, True)
    assert y is not x
    np.testing.assert_array_equal(x.numpy(), a)
    ref = sg.tensor(a.copy(), requires_grad=True)
    f(ref, False).sum().backward()
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), ref.grad.numpy())
    # recording with an input that needs no gradient: another op on the tape may still read it
    c = sg.tensor(a.copy())
    f(c, True)
    np.testing.assert_array_equal(c.numpy(), a)


def test_inplace_modules_show_it_and_compute_the_same():
    assert repr(sg.nn.SiLU(inplace=True)) == "SiLU(inplace=True)"
    assert repr(sg.nn.LeakyReLU(0.2, inplace=True)) == "LeakyReLU(negative_slope=0.2, inplace=True)"
    a = np.random.default_rng(1).standard_normal((5, 4)).astype(np.float32)
    for m, m_ip in ((sg.nn.SiLU(), sg.nn.SiLU(inplace=True)), (sg.nn.ReLU(), sg.nn.ReLU(inplace=True)),
                    (sg.nn.LeakyReLU(0.1), sg.nn.LeakyReLU(0.1, inplace=True))):
        expected = m(sg.tensor(a)).numpy()
        with sg.no_grad():
            got = m_ip(sg.tensor(a.copy())).numpy()
        np.testing.assert_array_equal(got, expected)
