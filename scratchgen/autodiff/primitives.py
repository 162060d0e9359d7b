r"""Primitives, each followed by its vector-Jacobian product (VJP) rule.

A rule ``lambda g, ans, x, y: ...`` receives the incoming gradient ``g``
(:math:`\bar y = \partial L/\partial y`) and the output ``ans`` (:math:`y`) as
Tensors, and the inputs as they were passed (Tensors, or constants: Python
numbers, arrays, index tuples), and returns :math:`\bar x = \bar y\,\partial y/\partial x`
for one input. Rules use Tensor operations only, so that a gradient can be
differentiated again (``create_graph=True``). Constants that are locally flat
(masks from comparisons, tie weights) enter the rules as plain arrays: their
derivative is zero where the function is differentiable.

Broadcasting: rules return gradients of the *output's* shape where an input
was broadcast; the engine sums them back with ``unbroadcast`` (one place).

Ties: ``maximum``/``minimum`` split the gradient evenly between equal
arguments (so relu'(0) = 1/2, as HIPS autograd does), and ``max``/``min``
reductions share it evenly among all tied maxima; ``abs'(0) = 0``;
``clip`` passes the gradient where ``a_min <= x <= a_max`` (bounds included).
"""
from __future__ import annotations

import math
import numbers

from ..backend import get_xp
from .tape import Node, primitive, unbroadcast

__all__ = [
    "add", "subtract", "multiply", "divide", "negative", "power", "matmul",
    "exp", "expm1", "log", "log1p", "sqrt", "tanh", "sin", "cos", "abs", "sign",
    "maximum", "minimum", "where", "clip",
    "sum", "mean", "max", "min",
    "reshape", "transpose", "permute", "swapaxes", "broadcast_to",
    "getitem", "concatenate", "stack", "pad", "astype",
]


def _data(x):
    return x.data if isinstance(x, Node) else x


# ---------------------------------------------------------------------------
# Arithmetic
# ---------------------------------------------------------------------------
@primitive
def add(xp, x, y):
    """x + y (broadcasting)."""
    return x + y


add.defvjp(
    lambda g, ans, x, y: g,
    lambda g, ans, x, y: g,
)


@primitive
def subtract(xp, x, y):
    """x - y (broadcasting)."""
    return x - y


subtract.defvjp(
    lambda g, ans, x, y: g,
    lambda g, ans, x, y: -g,
)


@primitive
def multiply(xp, x, y):
    """x * y (broadcasting)."""
    return x * y


multiply.defvjp(
    lambda g, ans, x, y: g * y,
    lambda g, ans, x, y: g * x,
)


@primitive
def divide(xp, x, y):
    """x / y (broadcasting)."""
    return x / y


divide.defvjp(
    lambda g, ans, x, y: g / y,
    # d(x/y)/dy = -x/y^2 = -ans/y
    lambda g, ans, x, y: -g * ans / y,
)


@primitive
def negative(xp, x):
    """-x."""
    return -x


negative.defvjp(lambda g, ans, x: -g)


@primitive
def power(xp, x, y):
    """x ** y, with y a Python number or a Tensor (broadcasting)."""
    return x**y


def _power_vjp_x(g, ans, x, y):
    ### BEGIN SOLUTION
    # d(x^y)/dx = y x^(y-1)
    if isinstance(y, numbers.Number):
        if y == 0:
            return g * 0
        if y == 1:
            return g
        if y == 2:
            return g * (2 * x)
    return g * y * x ** (y - 1)
    ### END SOLUTION


def _power_vjp_y(g, ans, x, y):
    # d(x^y)/dy = x^y log x, taken as 0 where x <= 0 (where x^y is real only for integer y)
    if isinstance(x, numbers.Number):
        return g * ans * (math.log(x) if x > 0 else 0.0)
    xd = _data(x)
    positive = xd > 0
    safe_x = where(positive, x, 1)  # log(1) = 0 where x <= 0
    return g * ans * log(safe_x)


power.defvjp(_power_vjp_x, _power_vjp_y)


@primitive
def matmul(xp, x, y):
    """x @ y: 1-D (dot), 2-D and batched (leading axes broadcast), as ``xp.matmul``."""
    return xp.matmul(x, y)


def _mT(a):
    """Swap the last two axes."""
    return swapaxes(a, -1, -2)


def _matmul_vjp_x(g, ans, x, y):
    ### BEGIN SOLUTION
    # y = x @ w  =>  x_bar = y_bar @ w^T ; 1-D operands are promoted to matrices and back.
    if x.ndim == 1 and y.ndim == 1:  # dot product: ans is a scalar
        return g * y
    if y.ndim == 1:  # (..., n, k) @ (k,) -> (..., n)
        return reshape(g, g.shape + (1,)) * y  # outer product y_bar y^T
    if x.ndim == 1:  # (k,) @ (..., k, m) -> (..., m)
        g2 = reshape(g, g.shape[:-1] + (1, g.shape[-1]))  # (..., 1, m)
        gx = matmul(g2, _mT(y))  # (..., 1, k)
        return reshape(gx, gx.shape[:-2] + (gx.shape[-1],))  # (..., k), summed to (k,) by the engine
    return matmul(g, _mT(y))
    ### END SOLUTION


def _matmul_vjp_y(g, ans, x, y):
    ### BEGIN SOLUTION
    # y = x @ w  =>  w_bar = x^T @ y_bar
    if x.ndim == 1 and y.ndim == 1:
        return g * x
    if x.ndim == 1:  # (k,) @ (..., k, m): w_bar = x y_bar^T, an outer product per batch
        return reshape(x, (-1, 1)) * reshape(g, g.shape[:-1] + (1, g.shape[-1]))
    if y.ndim == 1:  # (..., n, k) @ (k,): w_bar = x^T y_bar
        gy = matmul(_mT(x), reshape(g, g.shape + (1,)))  # (..., k, 1)
        return reshape(gy, gy.shape[:-1])
    return matmul(_mT(x), g)
    ### END SOLUTION


matmul.defvjp(_matmul_vjp_x, _matmul_vjp_y)


# ---------------------------------------------------------------------------
# Elementwise functions
# ---------------------------------------------------------------------------
@primitive
def exp(xp, x):
    """exp(x)."""
    return xp.exp(x)


exp.defvjp(lambda g, ans, x: g * ans)  # d e^x = e^x


@primitive
def log(xp, x):
    """Natural logarithm."""
    return xp.log(x)


log.defvjp(lambda g, ans, x: g / x)


@primitive
def log1p(xp, x):
    """log(1 + x), accurate for small x."""
    return xp.log1p(x)


log1p.defvjp(lambda g, ans, x: g / (1 + x))


@primitive
def expm1(xp, x):
    """exp(x) - 1, accurate for small x."""
    return xp.expm1(x)


expm1.defvjp(lambda g, ans, x: g * (ans + 1))  # d(e^x - 1) = e^x


@primitive
def sqrt(xp, x):
    """Square root."""
    return xp.sqrt(x)


sqrt.defvjp(lambda g, ans, x: g * 0.5 / ans)  # d sqrt(x) = 1 / (2 sqrt(x))


@primitive
def tanh(xp, x):
    """Hyperbolic tangent."""
    return xp.tanh(x)


tanh.defvjp(lambda g, ans, x: g * (1 - ans * ans))  # d tanh = 1 - tanh^2


@primitive
def sin(xp, x):
    """Sine."""
    return xp.sin(x)


sin.defvjp(lambda g, ans, x: g * cos(x))


@primitive
def cos(xp, x):
    """Cosine."""
    return xp.cos(x)


cos.defvjp(lambda g, ans, x: -g * sin(x))


@primitive
def sign(xp, x):
    """Sign of x (-1, 0, +1); its gradient is zero."""
    return xp.sign(x)


sign.defvjp(lambda g, ans, x: g * 0)


@primitive
def abs(xp, x):  # noqa: A001 - mirrors numpy.abs
    """|x|; the gradient at 0 is taken as 0."""
    return xp.abs(x)


abs.defvjp(lambda g, ans, x: g * _sign_array(x))


def _sign_array(x):
    xd = _data(x)
    return get_xp(xd).sign(xd)


def _weight_of_first(x, y):
    r"""d max(x, y)/dx: 1 where x > y, 1/2 at ties, 0 where x < y (a constant array).

    One ``heaviside`` pass: :math:`H(x - y)` with :math:`H(0) = 1/2`.
    """
    xd, yd = _data(x), _data(y)
    diff = xd if (isinstance(yd, numbers.Number) and yd == 0) else xd - yd
    return get_xp(diff).heaviside(diff, 0.5)


@primitive
def maximum(xp, x, y):
    """Elementwise max(x, y); at ties the gradient is split evenly."""
    return xp.maximum(x, y)


maximum.defvjp(
    lambda g, ans, x, y: g * _weight_of_first(x, y),
    lambda g, ans, x, y: g * _weight_of_first(y, x),
)


@primitive
def minimum(xp, x, y):
    """Elementwise min(x, y); at ties the gradient is split evenly."""
    return xp.minimum(x, y)


minimum.defvjp(
    lambda g, ans, x, y: g * _weight_of_first(y, x),  # x is the min where y >= x
    lambda g, ans, x, y: g * _weight_of_first(x, y),
)


@primitive
def where(xp, condition, x, y):
    """``x`` where ``condition`` is true, else ``y``. ``condition`` is a boolean array."""
    return xp.where(condition, x, y)


where.defvjp(
    None,  # the condition is not differentiable
    lambda g, ans, c, x, y: g * _data(c),
    lambda g, ans, c, x, y: g * get_xp(_data(c)).logical_not(_data(c)),
)


@primitive
def clip(xp, x, a_min=None, a_max=None):
    """Clamp x to [a_min, a_max]; the gradient passes where a_min <= x <= a_max."""
    return xp.clip(x, a_min, a_max)


def _clip_vjp(g, ans, x, a_min=None, a_max=None):
    # 1 where a_min <= x <= a_max (bounds included), 0 where clipped
    xd = x.data
    lo = True if a_min is None else xd >= a_min
    hi = True if a_max is None else xd <= a_max
    return g * (lo & hi)


clip.defvjp(_clip_vjp)


@primitive
def astype(xp, x, dtype):
    """Cast to ``dtype``; the gradient is cast back."""
    return x.astype(dtype)


astype.defvjp(lambda g, ans, x, dtype: astype(g, x.dtype))


# ---------------------------------------------------------------------------
# Reductions
# ---------------------------------------------------------------------------
def _axes(axis, ndim):
    """``axis`` as a sorted tuple of non-negative ints (None: all axes)."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, numbers.Integral):
        axis = (axis,)
    out = []
    for a in axis:
        if not -ndim <= a < ndim:
            raise ValueError(f"axis {a} is out of range for an array of {ndim} dimensions")
        out.append(a % ndim)
    return tuple(sorted(out))


def _keepdims_shape(shape, axis):
    """``shape`` with the reduced axes kept as size 1."""
    axes = _axes(axis, len(shape))
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _expand(g, x_shape, axis, keepdims):
    """Broadcast a reduction's gradient back over the reduced axes."""
    if not keepdims:
        g = reshape(g, _keepdims_shape(x_shape, axis))
    return broadcast_to(g, x_shape)


@primitive
def sum(xp, x, axis=None, keepdims=False):  # noqa: A001
    """Sum over ``axis`` (all axes by default)."""
    return xp.sum(x, axis=axis, keepdims=keepdims)


sum.defvjp(lambda g, ans, x, axis=None, keepdims=False: _expand(g, x.shape, axis, keepdims))


@primitive
def mean(xp, x, axis=None, keepdims=False):
    """Mean over ``axis`` (all axes by default)."""
    return xp.mean(x, axis=axis, keepdims=keepdims)


def _mean_vjp(g, ans, x, axis=None, keepdims=False):
    ### BEGIN SOLUTION
    n = 1
    for a in _axes(axis, x.ndim):
        n *= x.shape[a]
    return _expand(g, x.shape, axis, keepdims) * (1.0 / n)
    ### END SOLUTION


mean.defvjp(_mean_vjp)


def _extremum_vjp(g, ans, x, axis=None, keepdims=False):
    # The gradient goes to the arguments that attain the extremum, shared evenly among ties.
    xd = x.data
    at = (xd == ans.data.reshape(_keepdims_shape(x.shape, axis))).astype(xd.dtype)  # 1 where attained
    share = at / at.sum(axis=axis, keepdims=True)  # in x's dtype: no float64 detour
    return _expand(g, x.shape, axis, keepdims) * share


@primitive
def max(xp, x, axis=None, keepdims=False):  # noqa: A001
    """Maximum over ``axis``; tied maxima share the gradient evenly."""
    return xp.max(x, axis=axis, keepdims=keepdims)


max.defvjp(_extremum_vjp)


@primitive
def min(xp, x, axis=None, keepdims=False):  # noqa: A001
    """Minimum over ``axis``; tied minima share the gradient evenly."""
    return xp.min(x, axis=axis, keepdims=keepdims)


min.defvjp(_extremum_vjp)


# ---------------------------------------------------------------------------
# Shape and indexing
# ---------------------------------------------------------------------------
@primitive
def reshape(xp, x, shape):
    """The same values in a new shape (``-1`` allowed once)."""
    return xp.reshape(x, shape)


reshape.defvjp(lambda g, ans, x, shape: reshape(g, x.shape))


@primitive
def transpose(xp, x, axes=None):
    """Permute axes (reverse them when ``axes`` is None)."""
    return xp.transpose(x, axes)


def _transpose_vjp(g, ans, x, axes=None):
    if axes is None:
        return transpose(g)
    inverse = [0] * len(axes)
    for i, a in enumerate(axes):
        inverse[a % len(axes)] = i
    return transpose(g, tuple(inverse))


transpose.defvjp(_transpose_vjp)


def permute(x, *axes):
    """``transpose`` with the new order given as arguments, as in PyTorch."""
    if len(axes) == 1 and not isinstance(axes[0], numbers.Integral):
        axes = tuple(axes[0])
    return transpose(x, tuple(axes))


def swapaxes(x, axis1, axis2):
    """Exchange two axes."""
    ndim = x.ndim if hasattr(x, "ndim") else 0
    axes = list(range(ndim))
    axes[axis1], axes[axis2] = axes[axis2], axes[axis1]
    return transpose(x, tuple(axes))


@primitive
def broadcast_to(xp, x, shape):
    """Repeat x along new leading axes and its size-1 axes to ``shape``."""
    return xp.broadcast_to(x, shape)


broadcast_to.defvjp(lambda g, ans, x, shape: unbroadcast(g, x.shape))


def _index_data(idx):
    """Indices may hold Tensors (integer or boolean): use their arrays."""
    if isinstance(idx, tuple):
        return tuple(_data(i) for i in idx)
    return _data(idx)


def _has_integer_array(idx):
    items = idx if isinstance(idx, tuple) else (idx,)
    for i in items:
        if isinstance(i, list) or (hasattr(i, "dtype") and i.dtype.kind in "iu" and getattr(i, "ndim", 0) > 0):
            return True
    return False


@primitive
def getitem(xp, x, idx):
    """``x[idx]`` for basic slices, integer arrays and boolean masks."""
    return x[idx]


getitem.defvjp(lambda g, ans, x, idx: scatter_add(g, idx, x.shape))


@primitive
def scatter_add(xp, g, idx, shape):
    """Zeros of ``shape`` with ``g`` added at ``idx`` (repeated indices add up).

    The adjoint of ``getitem``: ``x[idx]`` reads, ``scatter_add`` writes back.
    """
    out = xp.zeros(shape, dtype=g.dtype)
    if _has_integer_array(idx):
        if hasattr(xp, "add") and hasattr(xp.add, "at"):
            xp.add.at(out, idx, g)
        else:  # older CuPy
            import cupyx

            cupyx.scatter_add(out, idx, g)
    else:  # slices and masks never repeat an element
        out[idx] = g
    return out


scatter_add.defvjp(lambda g, ans, gin, idx, shape: getitem(g, idx))


def _concatenate_vjp(i, g, ans, *xs, axis=0):
    start = 0
    for x in xs[:i]:
        start += x.shape[axis]
    sl = [slice(None)] * g.ndim
    sl[axis] = slice(start, start + xs[i].shape[axis])
    return getitem(g, tuple(sl))


@primitive
def _concatenate(xp, *xs, axis=0):
    return xp.concatenate(xs, axis=axis)


_concatenate.defvjp_any(_concatenate_vjp)


def concatenate(tensors, axis=0):
    """Join tensors along an existing axis."""
    return _concatenate(*tensors, axis=axis)


def _stack_vjp(i, g, ans, *xs, axis=0):
    sl = [slice(None)] * g.ndim
    sl[axis] = i
    return getitem(g, tuple(sl))


@primitive
def _stack(xp, *xs, axis=0):
    return xp.stack(xs, axis=axis)


_stack.defvjp_any(_stack_vjp)


def stack(tensors, axis=0):
    """Join tensors along a new axis."""
    return _stack(*tensors, axis=axis)


def _pad_width(pad_width, ndim):
    """Normalise to one (before, after) pair per axis."""
    if isinstance(pad_width, numbers.Integral):
        return ((int(pad_width), int(pad_width)),) * ndim
    pw = tuple(pad_width)
    if len(pw) == 2 and all(isinstance(p, numbers.Integral) for p in pw):
        return ((int(pw[0]), int(pw[1])),) * ndim
    if len(pw) != ndim:
        raise ValueError(f"pad_width needs one (before, after) pair per axis ({ndim}), got {pad_width!r}")
    return tuple((int(a), int(b)) for a, b in pw)


@primitive
def _pad(xp, x, pad_width, value=0):
    return xp.pad(x, pad_width, mode="constant", constant_values=value)


def _pad_vjp(g, ans, x, pad_width, value=0):
    sl = tuple(slice(before, before + n) for (before, _), n in zip(pad_width, x.shape))
    return getitem(g, sl)


_pad.defvjp(_pad_vjp)


def pad(x, pad_width, value=0):
    """Pad with a constant (zeros by default): ``pad_width`` as in ``numpy.pad``."""
    ndim = x.ndim if hasattr(x, "ndim") else 0
    return _pad(x, _pad_width(pad_width, ndim), value=value)
