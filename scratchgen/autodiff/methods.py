"""Python operators and methods on ``Tensor``, each a call of a primitive or composite.

Comparisons (``<``, ``==``, ...) return plain boolean arrays: they have no
gradient and are used as masks.
"""
from __future__ import annotations

from . import functional as F
from . import primitives as P
from .tensor import Tensor


def _data(x):
    return x.data if isinstance(x, Tensor) else x


def _shape_args(shape):
    return tuple(shape[0]) if len(shape) == 1 and not isinstance(shape[0], int) else tuple(shape)


def _bind():
    T = Tensor
    T.__add__ = lambda a, b: P.add(a, b)
    T.__radd__ = lambda a, b: P.add(b, a)
    T.__sub__ = lambda a, b: P.subtract(a, b)
    T.__rsub__ = lambda a, b: P.subtract(b, a)
    T.__mul__ = lambda a, b: P.multiply(a, b)
    T.__rmul__ = lambda a, b: P.multiply(b, a)
    T.__truediv__ = lambda a, b: P.divide(a, b)
    T.__rtruediv__ = lambda a, b: P.divide(b, a)
    T.__pow__ = lambda a, b: P.power(a, b)
    T.__rpow__ = lambda a, b: P.power(b, a)
    T.__matmul__ = lambda a, b: P.matmul(a, b)
    T.__rmatmul__ = lambda a, b: P.matmul(b, a)
    T.__neg__ = lambda a: P.negative(a)
    T.__pos__ = lambda a: a
    T.__abs__ = lambda a: P.abs(a)
    T.__getitem__ = lambda a, idx: P.getitem(a, P._index_data(idx))

    T.__lt__ = lambda a, b: a.data < _data(b)
    T.__le__ = lambda a, b: a.data <= _data(b)
    T.__gt__ = lambda a, b: a.data > _data(b)
    T.__ge__ = lambda a, b: a.data >= _data(b)
    T.__eq__ = lambda a, b: a.data == _data(b)
    T.__ne__ = lambda a, b: a.data != _data(b)

    T.sum = lambda a, axis=None, keepdims=False: P.sum(a, axis=axis, keepdims=keepdims)
    T.mean = lambda a, axis=None, keepdims=False: P.mean(a, axis=axis, keepdims=keepdims)
    T.max = lambda a, axis=None, keepdims=False: P.max(a, axis=axis, keepdims=keepdims)
    T.min = lambda a, axis=None, keepdims=False: P.min(a, axis=axis, keepdims=keepdims)
    T.reshape = lambda a, *shape: P.reshape(a, _shape_args(shape))
    T.transpose = lambda a, *axes: P.transpose(a, _shape_args(axes) if axes else None)
    T.permute = lambda a, *axes: P.permute(a, *axes)
    T.swapaxes = lambda a, i, j: P.swapaxes(a, i, j)
    T.T = property(lambda a: P.transpose(a))
    T.broadcast_to = lambda a, shape: P.broadcast_to(a, tuple(shape))
    T.flatten = lambda a: P.reshape(a, (-1,))
    T.astype = lambda a, dtype: P.astype(a, dtype)
    T.clip = lambda a, a_min=None, a_max=None: P.clip(a, a_min=a_min, a_max=a_max)
    T.exp = lambda a: P.exp(a)
    T.log = lambda a: P.log(a)
    T.sqrt = lambda a: P.sqrt(a)
    T.tanh = lambda a: P.tanh(a)
    T.sin = lambda a: P.sin(a)
    T.cos = lambda a: P.cos(a)
    T.abs = lambda a: P.abs(a)
    T.sigmoid = lambda a: F.sigmoid(a)
    T.relu = lambda a: F.relu(a)
    T.softplus = lambda a: F.softplus(a)


_bind()
