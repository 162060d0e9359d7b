r"""The activation and softmax family, each finite for float32 inputs of magnitude 1e4.

``log_sigmoid``, ``logsumexp``, ``log_softmax`` and ``softmax`` are composites of
primitives: they need no VJP rule of their own. Six are primitives with
hand-written rules, each with the reason beside it: ``sigmoid`` and ``softplus``
(smooth to any order, where their composite forms had wrong second derivatives
at 0), ``silu`` and ``gelu`` (speed: one node and a few array passes instead of
four to ten Tensor operations) and ``relu``/``leaky_relu`` (speed: one node
instead of two). Every rule is written in Tensor operations, so everything here
is differentiable to any order. The naive form of each function, and how it
fails, is in its docstring.

The forward passes (inference under ``no_grad`` runs nothing else)
-------------------------------------------------------------------
The array code of ``sigmoid``, ``silu``, ``gelu`` and ``leaky_relu`` is written for
speed, since elementwise work dominates inference (DDPM sampling): in the input's
dtype (a Python constant never promotes float32), without ``where`` (a branch per
element) and without temporaries beyond the one output array, which each step
overwrites in place (``out=``). On NumPy the passes run over blocks of about 256 KiB
(:func:`_blockwise`), so that the four passes of ``silu`` read from a core's cache
rather than from memory. ``silu``, ``relu`` and ``leaky_relu`` take ``inplace=True``
(as in PyTorch): under ``no_grad`` the result then overwrites the input, for an input
nothing else needs, such as a layer's fresh output; while the tape records, the call
is out of place, since the tape keeps the input for the gradient.
"""
from __future__ import annotations

import math

from ..backend import get_xp
from .primitives import _axes, exp, log, negative, reshape, subtract, sum
from .tape import Node, as_array, is_grad_enabled, primitive

__all__ = [
    "sigmoid", "log_sigmoid", "softplus", "silu", "gelu", "relu", "leaky_relu",
    "logsumexp", "log_softmax", "softmax",
]


# ---------------------------------------------------------------------------
# Blocked elementwise kernels
# ---------------------------------------------------------------------------
_BLOCK_BYTES = 1 << 18  # 256 KiB per block: a block and its scratch stay in a core's L2 cache


def _blockwise(xp, kernel, x, *params, out=None):
    """``kernel(xp, x_b, out_b, tmp_b, *params)`` over blocks ``_b`` of ``x``'s first axis; returns ``out``.

    ``kernel`` computes elementwise: it may use ``tmp_b`` as scratch and must write
    ``out_b`` last (so that ``out`` may be ``x`` itself, for an in-place op). Without
    ``out`` a new ``empty_like(x)`` receives the result and is also the scratch. On
    NumPy a multi-pass kernel reads each block from the cache instead of streaming
    the whole array from memory once per pass; on other backends (CuPy) it runs once
    on the whole array. ``empty_like`` keeps ``x``'s memory layout (channels-last views
    too), so a block of rows is one contiguous run of memory in both. Integers and
    bools are computed in float64, as NumPy's ufuncs would.
    """
    if not hasattr(x, "dtype"):  # a Python number: the default float dtype, as tensor() makes it
        x = as_array(x)
    if x.dtype.kind not in "fc":
        x = x.astype(xp.float64)
    rows = x.shape[0] if x.ndim else 1
    step = max(1, _BLOCK_BYTES * rows // x.nbytes) if x.nbytes else rows
    blocked = xp.__name__ == "numpy" and step < rows
    if out is None:
        out = tmp = xp.empty_like(x)
    else:  # in place: scratch for one block (or the whole array when not blocked)
        tmp = xp.empty_like(x[:step] if blocked else x)
    if xp.__name__ != "numpy":
        kernel(xp, x, out, tmp, *params)
        return out
    # exp(-x) = inf for x < -88.7 in float32 is expected (see sigmoid): silence the warning
    with xp.errstate(over="ignore"):
        if not blocked:
            kernel(xp, x, out, tmp, *params)
            return out
        for i in range(0, rows, step):
            o = out[i:i + step]
            kernel(xp, x[i:i + step], o, o if tmp is out else tmp[:o.shape[0]], *params)
    return out


def _can_overwrite(x) -> bool:
    """An in-place activation may overwrite ``x`` only when nothing is recorded (``no_grad``):
    a tape would need the input for the gradient."""
    return (not is_grad_enabled() and isinstance(x, Node) and x.data.dtype.kind == "f"
            and getattr(x.data.flags, "writeable", True))


def _float32_expm1_is_vectorised() -> bool:
    """Whether this NumPy build runs float32 ``expm1`` with SIMD code on this CPU (a property of the
    build and the machine, read once: on AVX-512 NumPy dispatches it to SVML, and it measured 1.6x
    faster than NumPy's own float32 ``exp``; elsewhere it is scalar code)."""
    try:
        from numpy.lib.introspect import opt_func_info  # NumPy >= 2.0

        targets = opt_func_info(func_name="^expm1$", signature="float32").get("expm1", {})
        return bool(targets) and all(not t["current"].startswith("baseline") for t in targets.values())
    except Exception:  # another array library, or an older NumPy: the plain exp
        return False


_FAST_EXPM1_F32 = _float32_expm1_is_vectorised()


def _one_plus_exp_(xp, t):
    r"""``t`` :math:`\leftarrow 1 + e^{t}` in place, in two passes: ``exp`` then add 1, or, for float32
    where NumPy vectorises ``expm1``, the same number as :math:`2 + (e^{t} - 1)` (``expm1`` then add 2;
    the rounding differs in the last bit, the value is accurate to an ulp either way). The choice is
    the machine's, not the backend's, so that CuPy computes the same numbers as NumPy."""
    if _FAST_EXPM1_F32 and t.dtype == xp.float32:
        xp.expm1(t, out=t)
        t += 2
    else:
        xp.exp(t, out=t)
        t += 1


def _sigmoid_kernel(xp, x, out, tmp):
    # 1 / (1 + e^{-x}), four passes: negate, exp, add 1, reciprocal. Always with exp, so that its
    # float32 values are the same on every machine (the README prints some); silu and gelu, the
    # activations of the samplers' hot loop, take the faster expm1 form where there is one.
    xp.negative(x, out=tmp)
    xp.exp(tmp, out=tmp)
    tmp += 1
    xp.reciprocal(tmp, out=out)


def _silu_kernel(xp, x, out, tmp):
    # x / (1 + e^{-x}), four passes: negate, exp, add 1, divide
    xp.negative(x, out=tmp)
    _one_plus_exp_(xp, tmp)
    xp.divide(x, tmp, out=out)


_GELU_C = 2.0 * math.sqrt(2.0 / math.pi)  # v = 2 sqrt(2/pi) (x + 0.044715 x^3)
_GELU_A = 0.044715


def _gelu_kernel(xp, x, out, tmp):
    # x / (1 + e^{-v}) with -v = x (-c - c a x^2): seven passes
    xp.multiply(x, x, out=tmp)
    tmp *= -_GELU_C * _GELU_A
    tmp -= _GELU_C
    tmp *= x
    _one_plus_exp_(xp, tmp)
    xp.divide(x, tmp, out=out)


def _leaky_relu_kernel(xp, x, out, tmp, a):
    # max(x, a x), two passes
    xp.multiply(x, a, out=tmp)
    xp.maximum(x, tmp, out=out)


# sigmoid and softplus are primitives with hand-written rules.
# Written as composites of max/abs/exp/log1p they are stable, but their pieces have kinks at 0
# that cancel only to first order: the second derivative at exactly x = 0 came out 0 instead
# of 1/4 (zero-initialised logits sit exactly there). As primitives they are smooth to any order.
@primitive
def sigmoid(xp, x):
    r"""Logistic function :math:`\sigma(x) = 1/(1+e^{-x})`.

    Computed as written, in four passes in x's dtype. For x < -88.7 (float32; -709.8 in
    float64) :math:`e^{-x}` overflows to inf and the result is :math:`1/\infty = 0`: there
    :math:`\sigma(x) < 3\cdot10^{-39}`, below the smallest normal float32 (1.2e-38), so
    the value is accurate to a few ulp wherever it is a normal number and only subnormals
    are flushed to 0; the overflow warning is silenced. (The form
    ½(1 + tanh(x/2)) would round sigmoid(-20) to 0 in float32; a ``where`` over
    :math:`e^{-|x|}` for the two signs, the earlier form, costs a branch per element.)

    Rule: :math:`\sigma'(x) = \sigma(x)\,\sigma(-x)`, with both factors computed directly.
    The textbook :math:`\sigma(1-\sigma)` cancels: in float32 :math:`\sigma(x)` rounds to 1 for
    x > 16.6, so it gave exactly 0 where :math:`\sigma'(20) = 2.06\cdot10^{-9}`. Written with
    Tensors (``ans`` and ``sigmoid(-x)``), so differentiable again:
    :math:`\sigma'' = \sigma(x)\sigma(-x)\,(\sigma(-x) - \sigma(x))`.
    """
    return _blockwise(xp, _sigmoid_kernel, x)


sigmoid.defvjp(lambda g, ans, x: g * (ans * sigmoid(negative(x))))


@primitive
def softplus(xp, x):
    r"""Softplus :math:`\log(1+e^{x}) = \max(x, 0) + \log(1 + e^{-|x|})`.

    Naive ``log(1+exp(x))`` overflows to inf for x = 1e4; in the stable form the
    exponent is never positive, and at x = -1e4 the sum is 0 + log1p(0) = 0 (exact:
    :math:`e^{-10^4}` underflows). Rule: :math:`\operatorname{softplus}' = \sigma`.
    """
    ### BEGIN SOLUTION
    return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))
    ### END SOLUTION


softplus.defvjp(lambda g, ans, x: g * sigmoid(x))


@primitive
def _silu(xp, x):
    return _blockwise(xp, _silu_kernel, x)


# silu'(x) = sigma(x) + x sigma(x) sigma(-x) = sigma(x) + silu(x) sigma(-x)
_silu.defvjp(lambda g, ans, x: g * (sigmoid(x) + ans * sigmoid(negative(x))))


def silu(x, inplace=False):
    r"""SiLU / swish :math:`x\,\sigma(x) = x/(1+e^{-x})` (Elfwing et al. 2018), one node.

    Four passes in x's dtype. For x < -88.7 (float32) :math:`e^{-x} = \infty` and the
    result is :math:`x/\infty = -0`, where the exact value has magnitude below
    :math:`2\cdot10^{-37}` (:math:`|x|e^{x}` at x = -88.7); elsewhere it is exact to a few ulp.

    Rule: :math:`\operatorname{silu}'(x) = \sigma(x) + x\sigma(x)\,\sigma(-x)
    = \sigma(x) + \operatorname{silu}(x)\,\sigma(-x)` (the product rule, with
    :math:`\sigma' = \sigma(x)\sigma(-x)`), written with ``ans`` and two sigmoids: no cancellation.

    ``inplace=True`` (as in PyTorch): under ``no_grad`` the result overwrites ``x``'s array and
    ``x`` is returned, for inputs nothing else needs (a layer's fresh output); while the tape
    records, the input is kept for the gradient and the call is out of place.
    """
    if inplace and _can_overwrite(x):
        _blockwise(get_xp(x.data), _silu_kernel, x.data, out=x.data)
        return x
    return _silu(x)


@primitive
def _gelu(xp, x):
    return _blockwise(xp, _gelu_kernel, x)


def _gelu_v(x):
    r""":math:`v = 2\sqrt{2/\pi}\,(x + 0.044715\,x^3)` as Tensor operations."""
    return _GELU_C * (x + _GELU_A * (x * x * x))


def _gelu_vjp(g, ans, x):
    # d/dx [x sigma(v)] = sigma(v) + x sigma(v) sigma(-v) v' = sigma(v) + ans sigma(-v) v'
    v = _gelu_v(x)
    dv = _GELU_C * (1 + (3 * _GELU_A) * (x * x))  # v'(x)
    return g * (sigmoid(v) + ans * sigmoid(negative(v)) * dv)


_gelu.defvjp(_gelu_vjp)


def gelu(x):
    r"""GELU in the tanh form of Hendrycks & Gimpel (2016), eq. (2), one node:

    .. math:: \tfrac12 x\Big(1 + \tanh\big(\sqrt{2/\pi}\,(x + 0.044715\,x^3)\big)\Big)
              = x\,\sigma(v), \qquad v = 2\sqrt{2/\pi}\,(x + 0.044715\,x^3)

    (:math:`\tfrac12(1 + \tanh u) = \sigma(2u)`). Computed as :math:`x/(1+e^{-v})` in seven
    passes; the tanh form cancels in :math:`1 + \tanh u` for x < -3. Rule:
    :math:`\sigma(v) + x\sigma(v)\sigma(-v)\,v'` with :math:`v' = 2\sqrt{2/\pi}(1 + 0.134145\,x^2)`.
    """
    return _gelu(x)


def log_sigmoid(x):
    r""":math:`\log \sigma(x) = -\operatorname{softplus}(-x)`; finite where log(sigmoid(x)) gives -inf."""
    return -softplus(-x)


# relu and leaky_relu are primitives too, for speed: written as maximum(x, a x) they cost
# two nodes and a tie-aware rule; here one node and a derivative array in three passes.
# The tie rule is kept: slope (1 + a)/2 at x = 0, so relu'(0) = 1/2 as for maximum.
def _leaky_slope(xd, a):
    r"""The derivative of :math:`\max(x, a x)` as an array: 1 for x > 0, a for x < 0,
    (1 + a)/2 at x = 0: :math:`a + (1-a)\,\tfrac{1 + \operatorname{sign} x}{2}`.
    Locally constant in x, so it enters the rule as a plain array."""
    s = get_xp(xd).sign(xd)
    s += 1.0
    s *= 0.5 * (1.0 - a)
    s += a
    return s


@primitive
def _leaky_relu(xp, x, negative_slope):
    if negative_slope == 0:
        return xp.maximum(x, 0)  # a Python 0 keeps x's dtype
    return _blockwise(xp, _leaky_relu_kernel, x, negative_slope)  # x a, then the max, in place


_leaky_relu.defvjp(lambda g, ans, x, negative_slope: g * _leaky_slope(x.data, negative_slope))


def relu(x, inplace=False):
    r""":math:`\max(x, 0)`; relu'(0) = 1/2 (the tie rule of ``maximum``).

    ``inplace=True``: under ``no_grad``, overwrite ``x`` and return it (see :func:`silu`).
    """
    return leaky_relu(x, 0.0, inplace)


def leaky_relu(x, negative_slope=0.01, inplace=False):
    r""":math:`\max(x, a x)` for a slope :math:`0 \le a \le 1`.

    At x = 0 the derivative is :math:`(1 + a)/2`, the tie rule of ``maximum``.
    ``inplace=True``: under ``no_grad``, overwrite ``x`` and return it (see :func:`silu`).
    """
    if not 0 <= negative_slope <= 1:
        raise ValueError(f"leaky_relu: negative_slope must be in [0, 1], got {negative_slope}")
    if inplace and _can_overwrite(x):
        xd = x.data
        if negative_slope == 0:
            get_xp(xd).maximum(xd, 0, out=xd)
        else:
            _blockwise(get_xp(xd), _leaky_relu_kernel, xd, float(negative_slope), out=xd)
        return x
    return _leaky_relu(x, float(negative_slope))


def _shift_by_max(x, axis):
    """``(x - m, m)`` with ``m = max(x, axis, keepdims=True)`` held constant (off the tape).

    Any constant shift leaves logsumexp's value and gradient unchanged, so ``m``
    need not be differentiated (no tie rule of ``max`` is involved). An
    infinite max is replaced by 0, since inf - inf would give nan.
    """
    if not isinstance(x, Node):  # an array or Python numbers: a constant (floats become float32)
        x = Node(as_array(x))
    xp = get_xp(x.data)
    m = xp.max(x.data, axis=axis, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0).astype(x.data.dtype)
    return subtract(x, m), m


def logsumexp(x, axis=None, keepdims=False):
    r""":math:`\log \sum_i e^{x_i} = m + \log \sum_i e^{x_i - m}` with :math:`m = \max_i x_i`.

    Naive ``log(sum(exp(x)))`` overflows for x = 1e4. Shifting by the maximum
    keeps every exponent <= 0. Its gradient is softmax(x).
    """
    z, m = _shift_by_max(x, axis)
    out = log(sum(exp(z), axis=axis, keepdims=True)) + m
    if not keepdims:
        axes = _axes(axis, z.ndim)
        out = reshape(out, tuple(n for i, n in enumerate(z.shape) if i not in axes))
    return out


def log_softmax(x, axis=-1):
    r""":math:`\log \operatorname{softmax}(x)_i = x_i - \log\sum_j e^{x_j} = z_i - \log\sum_j e^{z_j}`,
    :math:`z = x - \max_j x_j`.

    Computed from the shifted ``z``: writing it as ``x - logsumexp(x)`` would
    round ``m + log(...)`` at the scale of ``m`` (float32 spacing ~1e-3 at 1e4)
    and lose three digits.
    """
    z, _ = _shift_by_max(x, axis)
    return z - log(sum(exp(z), axis=axis, keepdims=True))


def softmax(x, axis=-1):
    r""":math:`\operatorname{softmax}(x)_i = e^{x_i} / \sum_j e^{x_j}`, as exp(log_softmax)."""
    return exp(log_softmax(x, axis=axis))
