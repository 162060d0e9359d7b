r"""The activation and softmax family, each finite for float32 inputs of magnitude 1e4.

``log_sigmoid``, ``logsumexp``, ``log_softmax`` and ``softmax`` are composites of
primitives: they need no VJP rule of their own. Four are primitives with
hand-written rules, each with the reason beside it: ``sigmoid`` and ``softplus``
(smooth to any order, where their composite forms had wrong second derivatives
at 0) and ``relu``/``leaky_relu`` (speed: one node instead of two). Every rule
is written in Tensor operations, so everything here is differentiable to any
order. The naive form of each function, and how it fails, is in its docstring.
"""
from __future__ import annotations

from ..backend import get_xp
from .primitives import _axes, exp, log, reshape, subtract, sum
from .tape import Node, as_array, primitive

__all__ = [
    "sigmoid", "log_sigmoid", "softplus", "relu", "leaky_relu",
    "logsumexp", "log_softmax", "softmax",
]


# sigmoid and softplus are primitives with hand-written rules, the two exceptions in this file.
# Written as composites of max/abs/exp/log1p they are stable, but their pieces have kinks at 0
# that cancel only to first order: the second derivative at exactly x = 0 came out 0 instead
# of 1/4 (zero-initialised logits sit exactly there). As primitives they are smooth to any order.
@primitive
def sigmoid(xp, x):
    r"""Logistic function :math:`\sigma(x) = 1/(1+e^{-x})`.

    Naive ``1/(1+exp(-x))`` overflows ``exp`` for x = -1e4. With :math:`e = e^{-|x|} \le 1`:
    :math:`\sigma(x) = 1/(1+e)` for x >= 0 and :math:`e/(1+e)` for x < 0, accurate relative
    to the value everywhere (the form ½(1 + tanh(x/2)) would round sigmoid(-20) to 0 in float32).
    Rule: :math:`\sigma' = \sigma(1-\sigma)`, written with the output Tensor, so differentiable again.
    """
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


sigmoid.defvjp(lambda g, ans, x: g * (ans * (1 - ans)))


@primitive
def softplus(xp, x):
    r"""Softplus :math:`\log(1+e^{x}) = \max(x, 0) + \log(1 + e^{-|x|})`.

    Naive ``log(1+exp(x))`` overflows to inf for x = 1e4; in the stable form the
    exponent is never positive. Rule: :math:`\operatorname{softplus}' = \sigma`.
    """
    return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))


softplus.defvjp(lambda g, ans, x: g * sigmoid(x))


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
    return xp.maximum(x, x * negative_slope)


_leaky_relu.defvjp(lambda g, ans, x, negative_slope: g * _leaky_slope(x.data, negative_slope))


def relu(x):
    r""":math:`\max(x, 0)`; relu'(0) = 1/2 (the tie rule of ``maximum``)."""
    return _leaky_relu(x, 0.0)


def leaky_relu(x, negative_slope=0.01):
    r""":math:`\max(x, a x)` for a slope :math:`0 \le a \le 1`.

    At x = 0 the derivative is :math:`(1 + a)/2`, the tie rule of ``maximum``.
    """
    if not 0 <= negative_slope <= 1:
        raise ValueError(f"leaky_relu: negative_slope must be in [0, 1], got {negative_slope}")
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
