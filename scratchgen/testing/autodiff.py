r"""Reusable checks of the autodiff exercises: VJP rules, the unbroadcast, the stable softplus and BCE.

A VJP rule :math:`\bar x = \bar y\,\partial y/\partial x` is checked through its defining identity,
:math:`\langle \bar x(\bar y), v\rangle = \frac{d}{dh}\langle \bar y, f(x + h v)\rangle\big|_{h=0}`, with the
right-hand side by central differences in float64, for a random cotangent :math:`\bar y` and direction v.
"""
from __future__ import annotations

import numpy as np  # test helpers build NumPy inputs; they are not math code
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from .properties import assert_close, expect, for_all, values
from .strategies import float_arrays

__all__ = ["check_vjp", "check_vjp_second_order", "check_matmul_vjp", "check_matmul_vjp_vectors",
           "check_power_vjp", "check_mean_vjp", "check_unbroadcast", "check_unbroadcast_records",
           "check_softplus", "check_softplus_extremes", "check_bce_with_logits", "check_bce_extremes"]


def _shape_text(args):
    return ", ".join(f"{n}.shape={getattr(a, 'shape', ())}" for n, a in zip("xyzw", args))


def check_vjp(primitive, rule, argnum, args, params=None, seed=0, h=1e-6):
    r"""One point: the rule's :math:`\langle\bar x, v\rangle` against central differences of :math:`\langle\bar y, f\rangle`.

    ``primitive`` is a scratchgen primitive (its ``fwd(xp, *arrays, **params)`` is the reference forward
    pass), ``rule(g, ans, *args, **params)`` the rule under test for input ``argnum``; ``args`` are float64
    arrays (or numbers, passed as they are).
    """
    from ..autodiff import Tensor
    from ..autodiff.tape import unbroadcast

    params = params or {}
    g = np.random.default_rng(seed)
    f = lambda *a: np.asarray(primitive.fwd(np, *a, **params), dtype=np.float64)
    ans = f(*args)
    y_bar = g.standard_normal(ans.shape)
    x = np.asarray(args[argnum], dtype=np.float64)
    v = g.standard_normal(x.shape)
    shifted = lambda s: [np.asarray(a, dtype=np.float64) + s * v if i == argnum else a for i, a in enumerate(args)]
    numeric = (np.sum(y_bar * f(*shifted(h))) - np.sum(y_bar * f(*shifted(-h)))) / (2 * h)
    tensors = [Tensor(a) if isinstance(a, np.ndarray) else a for a in args]
    x_bar = rule(Tensor(y_bar), Tensor(ans), *tensors, **params)
    expect(isinstance(x_bar, Tensor), f"your VJP rule of {primitive.name} for input {argnum} returned "
           f"{type(x_bar).__name__}; a rule returns a Tensor (Tensor operations only, so it can be differentiated again)")
    if tuple(x_bar.shape) != x.shape:
        try:
            x_bar = unbroadcast(x_bar, x.shape)  # what the engine does with a broadcast input
        except ValueError:
            raise AssertionError(f"your VJP rule of {primitive.name} for input {argnum} at {_shape_text(args)} "
                                 f"returned shape {tuple(x_bar.shape)}; the input has shape {x.shape}") from None
    got = float(np.sum(values(x_bar) * v))
    assert_close(got, numeric, what=f"<x_bar, v> for input {argnum} of {primitive.name}",
                 where=lambda i: f"at {_shape_text(args)}",
                 identity="central differences of <y_bar, f(x + h v)>", atol=1e-5, rtol=1e-5)


def check_vjp_second_order(primitive, rules, args, params=None):
    """The primitive with these ``rules`` (one per input) passes scratchgen's gradient check to order 2: the
    rules are written in Tensor operations that the engine can differentiate again."""
    from ..autodiff import Primitive, check_grads
    from ..autodiff.gradcheck import GradientCheckError

    p = Primitive(primitive.fwd, name=primitive.name).defvjp(*rules)
    try:
        check_grads(lambda *a: p(*a, **(params or {})), *args, order=2)
    except GradientCheckError as e:
        raise AssertionError(f"the gradient of your rule (second order, {_shape_text(args)}) is wrong: {e}") from None


_MATMUL_SHAPES = st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(0, 2))


def check_matmul_vjp(rule_x, rule_y):
    r"""The rules of ``x @ y`` for matrices and batches of matrices: :math:`\bar x = \bar y\,y^\top`,
    :math:`\bar y = x^\top \bar y`."""
    from ..autodiff.primitives import matmul

    @for_all(_MATMUL_SHAPES, st.integers(0, 2 ** 16))
    def matmul_rules_at(nkm_b, seed):
        n, k, m, b = nkm_b
        g = np.random.default_rng(seed)
        lead = (b,) if b else ()
        x, y = g.standard_normal(lead + (n, k)), g.standard_normal((k, m))
        check_vjp(matmul, rule_x, 0, (x, y), seed=seed)
        check_vjp(matmul, rule_y, 1, (x, y), seed=seed)
    matmul_rules_at()


def check_matmul_vjp_vectors(rule_x, rule_y):
    """The 1-D cases of ``x @ y`` (a dot product, matrix @ vector, vector @ matrix) and the second order."""
    from ..autodiff.primitives import matmul

    g = np.random.default_rng(1)
    cases = [(g.standard_normal(3), g.standard_normal(3)), (g.standard_normal((2, 3)), g.standard_normal(3)),
             (g.standard_normal(3), g.standard_normal((3, 2)))]
    for x, y in cases:
        check_vjp(matmul, rule_x, 0, (x, y))
        check_vjp(matmul, rule_y, 1, (x, y))
    check_vjp_second_order(matmul, (rule_x, rule_y), (g.standard_normal((2, 3)), g.standard_normal((3, 2))))


def check_power_vjp(rule_x):
    r"""The rule of :math:`x^y` with respect to x, :math:`\bar x = \bar y\,y\,x^{y-1}`, for exponents
    0, 1, 2, integers, fractions (on x > 0) and a Tensor exponent."""
    from ..autodiff.primitives import _power_vjp_y, power

    @for_all(float_arrays(st.integers(1, 4), 0.3, 2.0),
             st.sampled_from([0, 1, 2, 3, -1, 0.5, 2.5, -1.5]), st.booleans())
    def power_rule_at(x, y, tensor_exponent):
        exponent = np.full_like(x, float(y)) if tensor_exponent else y
        check_vjp(power, rule_x, 0, (x, exponent))
    power_rule_at()
    check_vjp_second_order(power, (rule_x, _power_vjp_y), (np.array([0.7, 1.3]), 3))


_AXES = st.sampled_from([None, 0, -1, (0, 1), (0, 2)])


def check_mean_vjp(rule):
    r"""The rule of the mean over ``axis``: :math:`\bar x = \bar y / n` spread over the reduced axes, n their size."""
    from ..autodiff.primitives import mean

    @for_all(hnp.array_shapes(min_dims=3, max_dims=3, max_side=4), _AXES, st.booleans())
    def mean_rule_at(shape, axis, keepdims):
        x = np.random.default_rng(0).standard_normal(shape)
        check_vjp(mean, rule, 0, (x,), params=dict(axis=axis, keepdims=keepdims))
    mean_rule_at()
    check_vjp_second_order(mean, (rule,), (np.arange(6.0).reshape(2, 3),), params=dict(axis=1))


def check_unbroadcast(fn):
    r"""The adjoint identity of broadcasting: :math:`\langle \mathrm{unbroadcast}(g, s), v\rangle =
    \langle g, \mathrm{broadcast\_to}(v, g.\mathrm{shape})\rangle` for every v of shape s, and the shape is s."""
    from ..autodiff import Tensor

    @for_all(hnp.mutually_broadcastable_shapes(num_shapes=1, min_dims=0, max_dims=4, max_side=3),
             st.integers(0, 2 ** 16))
    def unbroadcast_at(bs, seed):
        s, big = bs.input_shapes[0], bs.result_shape
        g = np.random.default_rng(seed)
        G, v = g.standard_normal(big), g.standard_normal(s)
        out = fn(Tensor(G), s)
        expect(tuple(getattr(out, "shape", ())) == tuple(s),
               f"your unbroadcast of a gradient of shape {big} to shape {s} has shape {tuple(getattr(out, 'shape', ()))}")
        assert_close(float(np.sum(values(out) * v)), float(np.sum(G * np.broadcast_to(v, big))),
                     what=f"<unbroadcast(g, {s}), v>", where=lambda i: f"for g.shape = {big}",
                     identity="<g, broadcast_to(v, g.shape)>", atol=1e-9)
    unbroadcast_at()


def check_unbroadcast_records(fn):
    """The sum is recorded on the tape (Tensor operations), so a broadcast op stays twice differentiable:
    the gradient of <unbroadcast(g, s), w> with respect to g is broadcast_to(w, g.shape)."""
    from ..autodiff import Tensor, grad

    G, w = np.random.default_rng(2).standard_normal((2, 3, 4)), np.arange(4.0).reshape(1, 4)
    dG = grad(lambda t: (fn(t, (1, 4)) * Tensor(w)).sum())(Tensor(G))
    assert_close(values(dG), np.broadcast_to(w, G.shape), what="d<unbroadcast(g, (1, 4)), w>/dg",
                 identity="broadcast_to(w, g.shape)")


def _softplus_reference(x):
    return np.logaddexp(0.0, x)  # log(e^0 + e^x), NumPy's own stable form


def check_softplus(fn):
    r"""softplus(x) = log(1 + e^x) for moderate x, in float64, and float32 stays float32."""
    @for_all(float_arrays(st.integers(1, 6), -30.0, 30.0))
    def softplus_at(x):
        assert_close(fn(np, x), _softplus_reference(x), what="softplus(x)", where=lambda i: f"at x = {x[i]:.6g}",
                     identity="log(1 + e^x)", atol=1e-12, rtol=1e-12)
    softplus_at()
    out = fn(np, np.array([0.5, -2.0], dtype=np.float32))
    expect(getattr(out, "dtype", None) == np.float32, f"your softplus turns float32 into {getattr(out, 'dtype', None)}")


def check_softplus_extremes(fn):
    r"""Finite and exact in the tails: softplus(1e4) = 1e4, softplus(-1e4) = 0 (+ e^{-1e4}), softplus(-40) = e^{-40}."""
    x = np.array([1e4, 800.0, 40.0, -40.0, -800.0, -1e4])
    with np.errstate(all="ignore"):
        got = fn(np, x)
    assert_close(got, _softplus_reference(x), what="softplus(x)", where=lambda i: f"at x = {x[i]:g}",
                 identity="log(1 + e^x)", atol=1e-300, rtol=1e-12)


def check_bce_with_logits(fn):
    r"""BCE(z, t) = -t log sigma(z) - (1 - t) log(1 - sigma(z)), averaged; its gradient (sigma(z) - t)/n."""
    from ..autodiff import Tensor, grad

    @for_all(float_arrays(st.integers(1, 6), -20.0, 20.0), st.integers(0, 2 ** 16))
    def bce_at(z, seed):
        t = np.random.default_rng(seed).random(z.shape)
        want = t * np.logaddexp(0, -z) + (1 - t) * np.logaddexp(0, z)
        assert_close(fn(Tensor(z), t, reduction="none"), want, what="BCE(z, t)",
                     where=lambda i: f"at z = {z[i]:.6g}, t = {t[i]:.6g}",
                     identity="-t log sigma(z) - (1 - t) log(1 - sigma(z))", atol=1e-10)
        assert_close(fn(Tensor(z), t), want.mean(), what="mean BCE", identity="the mean of the terms", atol=1e-10)
        dz = grad(lambda l: fn(l, t))(Tensor(z))
        assert_close(dz, (1 / (1 + np.exp(-z)) - t) / z.size, what="d BCE/dz",
                     where=lambda i: f"at z = {z[i]:.6g}, t = {t[i]:.6g}", identity="(sigma(z) - t)/n", atol=1e-10)
    bce_at()


def check_bce_extremes(fn):
    """Finite and accurate where sigma(z) rounds to 0 or 1: z = +-1e4, and z = 40 with t = 1 (loss e^-40)."""
    from ..autodiff import Tensor

    z = np.array([1e4, -1e4, 1e4, -1e4, 40.0, -40.0])
    t = np.array([1.0, 0.0, 0.0, 1.0, 1.0, 0.0])
    want = t * np.logaddexp(0, -z) + (1 - t) * np.logaddexp(0, z)
    with np.errstate(all="ignore"):
        got = fn(Tensor(z), t, reduction="none")
    assert_close(got, want, what="BCE(z, t)", where=lambda i: f"at z = {z[i]:g}, t = {t[i]:g}",
                 identity="t softplus(-z) + (1 - t) softplus(z)", atol=1e-300, rtol=1e-9)
