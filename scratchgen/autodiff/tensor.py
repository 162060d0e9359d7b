r"""``Tensor``: an array of the active backend that records the operations made with it.

Every Python operator and method of the class is written out below, each a call of
one primitive (``primitives.py``: the forward and its VJP rule side by side) or of a
composite (``functional.py``): ``a + b`` is ``add(a, b)``, ``a @ b`` is
``matmul(a, b)``, ``a[i]`` is ``getitem(a, i)``, ``a.sum()`` is ``sum(a)``.
Comparisons (``<``, ``==``, ...) return plain boolean arrays: they have no
gradient and are used as masks.

The tape itself (what a recorded value holds, ``Primitive``, ``backprop``,
``no_grad``) is in ``tape.py``; this module re-exports it. Imports point one way,
``tape`` <- ``primitives`` <- ``functional`` <- ``tensor``: ``Tensor`` subclasses
``tape.Node`` and hands itself to the tape (``use_tensor_class``) so that primitives
return Tensors.
"""
from __future__ import annotations

from .. import backend as _backend
from . import functional as F
from . import primitives as P
from .tape import (
    Node,
    Primitive,
    as_array,
    backprop,
    enable_grad,
    is_grad_enabled,
    no_grad,
    primitive,
    unbroadcast,
    use_tensor_class,
)

__all__ = [
    "Tensor",
    "tensor",
    "Primitive",
    "primitive",
    "no_grad",
    "enable_grad",
    "is_grad_enabled",
    "backprop",
    "unbroadcast",
    "as_float_tensor",
]


def _data(x):
    """The array of a Tensor; anything else as it is."""
    return x.data if isinstance(x, Node) else x


def _shape_args(shape):
    """``reshape(2, 3)`` and ``reshape((2, 3))`` alike: the shape as a tuple."""
    return tuple(shape[0]) if len(shape) == 1 and not isinstance(shape[0], int) else tuple(shape)


class Tensor(Node):
    """An array of the active backend, plus what reverse mode needs.

    Attributes
    ----------
    data : ndarray (NumPy or CuPy)
        The values.
    requires_grad : bool
        Whether gradients flow to this tensor.
    grad : Tensor or None
        Gradient accumulated by :meth:`backward` (leaves only).
    """

    __slots__ = ()
    # Let `ndarray * Tensor` call Tensor.__rmul__ instead of NumPy's own loop.
    __array_ufunc__ = None

    # --- array-like attributes -------------------------------------------
    @property
    def _data_for_backend(self):
        return self.data

    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def size(self) -> int:
        return self.data.size

    def __len__(self) -> int:
        return len(self.data)

    def numpy(self):
        """The values as a NumPy array (copied from the GPU under CuPy)."""
        return _backend.to_numpy(self.data)

    def item(self):
        """The single value as a Python number."""
        return self.data.item()

    def tolist(self):
        return self.numpy().tolist()

    def detach(self) -> "Tensor":
        """The same values, cut from the tape (shares memory)."""
        return Tensor(self.data)

    def requires_grad_(self, flag: bool = True) -> "Tensor":
        self.requires_grad = flag
        return self

    def zero_grad(self) -> None:
        self.grad = None

    __hash__ = object.__hash__  # comparisons return arrays, so keep identity hashing

    def __bool__(self):
        return bool(self.data)

    def __float__(self):
        return float(self.data)

    def __repr__(self) -> str:
        xp_np = _backend.to_numpy(self.data)
        import numpy  # display only

        body = numpy.array2string(xp_np, separator=", ", prefix="tensor(")
        extra = ""
        if self.data.dtype != _backend.default_dtype():
            extra += f", dtype={self.data.dtype}"
        if _backend.backend_of(self.data) == "cupy":
            extra += ", backend=cupy"
        if self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    # --- arithmetic: one primitive each (``b`` may be a Tensor, an array or a Python number) ---
    def __add__(self, b):
        return P.add(self, b)

    def __radd__(self, b):
        return P.add(b, self)

    def __sub__(self, b):
        return P.subtract(self, b)

    def __rsub__(self, b):
        return P.subtract(b, self)

    def __mul__(self, b):
        return P.multiply(self, b)

    def __rmul__(self, b):
        return P.multiply(b, self)

    def __truediv__(self, b):
        return P.divide(self, b)

    def __rtruediv__(self, b):
        return P.divide(b, self)

    def __pow__(self, b):
        return P.power(self, b)

    def __rpow__(self, b):
        return P.power(b, self)

    def __matmul__(self, b):
        return P.matmul(self, b)

    def __rmatmul__(self, b):
        return P.matmul(b, self)

    def __neg__(self):
        return P.negative(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return P.abs(self)

    def __getitem__(self, idx):
        return P.getitem(self, P._index_data(idx))

    # --- comparisons: boolean arrays, off the tape ---------------------------
    def __lt__(self, b):
        return self.data < _data(b)

    def __le__(self, b):
        return self.data <= _data(b)

    def __gt__(self, b):
        return self.data > _data(b)

    def __ge__(self, b):
        return self.data >= _data(b)

    def __eq__(self, b):
        return self.data == _data(b)

    def __ne__(self, b):
        return self.data != _data(b)

    # --- reductions ---------------------------------------------------------------
    def sum(self, axis=None, keepdims=False):
        return P.sum(self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims=False):
        return P.mean(self, axis=axis, keepdims=keepdims)

    def max(self, axis=None, keepdims=False):
        return P.max(self, axis=axis, keepdims=keepdims)

    def min(self, axis=None, keepdims=False):
        return P.min(self, axis=axis, keepdims=keepdims)

    # --- shape ------------------------------------------------------------------------
    def reshape(self, *shape):
        """``t.reshape(2, 3)`` or ``t.reshape((2, 3))``."""
        return P.reshape(self, _shape_args(shape))

    def transpose(self, *axes):
        """Reverse the axes, or permute them: ``t.transpose(1, 0, 2)``."""
        return P.transpose(self, _shape_args(axes) if axes else None)

    def permute(self, *axes):
        return P.permute(self, *axes)

    def swapaxes(self, i, j):
        return P.swapaxes(self, i, j)

    @property
    def T(self):
        return P.transpose(self)

    def broadcast_to(self, shape):
        return P.broadcast_to(self, tuple(shape))

    def flatten(self):
        return P.reshape(self, (-1,))

    def astype(self, dtype):
        return P.astype(self, dtype)

    # --- elementwise functions -------------------------------------------------------
    def clip(self, a_min=None, a_max=None):
        return P.clip(self, a_min=a_min, a_max=a_max)

    def exp(self):
        return P.exp(self)

    def log(self):
        return P.log(self)

    def sqrt(self):
        return P.sqrt(self)

    def tanh(self):
        return P.tanh(self)

    def sin(self):
        return P.sin(self)

    def cos(self):
        return P.cos(self)

    def abs(self):
        return P.abs(self)

    def sigmoid(self):
        return F.sigmoid(self)

    def relu(self):
        return F.relu(self)

    def softplus(self):
        return F.softplus(self)

    # --- reverse mode ---------------------------------------------------------
    def backward(self, grad=None, create_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf on the tape.

        Parameters
        ----------
        grad : array or Tensor, optional
            The gradient with respect to ``self`` (the cotangent). Required
            unless ``self`` holds a single value, where it defaults to 1.
        create_graph : bool
            Record the backward pass, so that the gradients in ``.grad`` can be
            differentiated again.
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward(): this tensor does not require grad (no input had requires_grad=True, "
                "or it was computed under no_grad())"
            )
        if grad is None:
            if self.size != 1:
                raise RuntimeError(
                    f"backward(): grad can be omitted only for a single-value output, got shape {self.shape}; "
                    "pass grad= of the same shape, or reduce with .sum() first"
                )
            xp = _backend.get_xp(self.data)
            grad = Tensor(xp.ones_like(self.data))
        else:
            grad = _as_tensor_like(grad, self)
        backprop([self], [grad], inputs=None, create_graph=create_graph)


use_tensor_class(Tensor)  # primitives return Tensors


def tensor(data, requires_grad: bool = False, dtype=None) -> Tensor:
    """Make a Tensor on the active backend.

    Parameters
    ----------
    data : array_like or Tensor
        Python numbers and lists of floats become float32 (the default float
        dtype); NumPy/CuPy arrays keep their dtype and move to the active backend.
    requires_grad : bool
        Make it a leaf that receives gradients.
    dtype : dtype, optional
        Cast to this dtype.
    """
    if isinstance(data, Node):
        data = data.data
    arr = as_array(data, dtype)
    if arr.dtype.kind not in "biuf":  # complex, object, strings: the engine differentiates real numbers only
        raise TypeError(f"tensor(): data must have a real dtype (bool, int or float), got {arr.dtype}"
                        + ("; take .real or abs() first" if arr.dtype.kind == "c" else ""))
    if requires_grad and arr.dtype.kind != "f":
        raise TypeError(f"tensor(): requires_grad=True needs a float dtype, got {arr.dtype}")
    return Tensor(arr, requires_grad=requires_grad)


def as_float_tensor(x, name: str, who: str) -> Tensor:
    """``x`` as a float Tensor for function ``who``: arrays become constants (no gradient).

    Errors name the function and the argument: a non-array, or a non-float dtype.
    """
    if not isinstance(x, Tensor):
        if not hasattr(x, "dtype"):
            raise ValueError(f"{who}: {name} must be a Tensor or an array, got {type(x).__name__}")
        x = tensor(x)
    if x.dtype.kind != "f":
        raise ValueError(f"{who}: {name} must have a float dtype, got {x.dtype}")
    return x


def _as_tensor_like(g, ref: Tensor) -> Tensor:
    """A cotangent for ``ref``: a Tensor of ``ref``'s shape."""
    if not isinstance(g, Tensor):
        g = Tensor(_backend.asarray(g, dtype=ref.dtype))
    if g.shape != ref.shape:
        raise ValueError(f"grad has shape {g.shape} but the output has shape {ref.shape}")
    return g
