r"""The tape: ``Tensor``, primitives with VJP rules, and the backward pass.

Reverse mode in three pieces
----------------------------
1. **Recording.** A primitive (``exp``, ``matmul``, ...) computes its result on
   plain arrays. If any input requires a gradient, the result is a ``Tensor``
   that remembers the primitive (``_op``), its inputs (``_args``) and its
   keyword parameters (``_params``). Those links are the tape: a DAG from the
   output back to the leaves.
2. **VJP rules.** Each primitive carries, for each input, a rule
   ``vjp(g, ans, *args, **params)`` that maps the gradient ``g`` of the
   final scalar with respect to the output ``ans`` to the gradient with
   respect to that input: :math:`\bar x = \bar y\,\partial y/\partial x`.
   Rules are written with Tensor operations, never with raw arrays.
3. **Backward.** ``backward`` sorts the tape topologically (iteratively, so a
   chain of 100,000 ops needs no recursion), walks it from the output to the
   leaves, calls each rule, sums gradients that reach a node by several paths,
   and sums broadcast gradients back to each input's shape in one helper,
   :func:`unbroadcast`.

Gradients of gradients
----------------------
Because rules are Tensor operations, running them with recording switched on
(``create_graph=True``) writes the backward pass onto the tape as ordinary
operations, and the gradient can be differentiated again (WGAN-GP needs this).
With ``create_graph=False`` the same rules run under :func:`no_grad` and cost
only the array calls.
"""
from __future__ import annotations

import contextlib

from .. import backend as _backend

__all__ = [
    "Tensor",
    "tensor",
    "Primitive",
    "primitive",
    "no_grad",
    "enable_grad",
    "is_grad_enabled",
    "backprop",
    "as_float_tensor",
]

# Recording switch, read on every primitive call (a module global is the fastest lookup).
_grad_enabled = True


def is_grad_enabled() -> bool:
    """True when primitives record the tape."""
    return _grad_enabled


@contextlib.contextmanager
def _set_grad_enabled(mode: bool):
    global _grad_enabled
    old, _grad_enabled = _grad_enabled, mode
    try:
        yield
    finally:
        _grad_enabled = old


def no_grad():
    """Context manager: record nothing (inference, optimiser updates, plain backward)."""
    return _set_grad_enabled(False)


def enable_grad():
    """Context manager: record the tape even inside ``no_grad``."""
    return _set_grad_enabled(True)


class Tensor:
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

    __slots__ = ("data", "requires_grad", "grad", "_op", "_args", "_params", "__weakref__")
    # Let `ndarray * Tensor` call Tensor.__rmul__ instead of NumPy's own loop.
    __array_ufunc__ = None

    def __init__(self, data, requires_grad: bool = False):
        if not hasattr(data, "dtype"):
            data = _as_backend_array(data, None)
        self.data = data
        self.requires_grad = bool(requires_grad)
        self.grad = None
        self._op = None
        self._args = ()
        self._params = None

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

    @property
    def is_leaf(self) -> bool:
        """True for tensors made by the user rather than by a primitive."""
        return self._op is None

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


def _as_backend_array(data, dtype):
    """Convert Python data to an array of the active backend.

    Python floats become the default float dtype (float32), ints int64 and
    bools bool, unless ``dtype`` says otherwise; arrays keep their dtype.
    """
    if dtype is not None:
        return _backend.asarray(data, dtype=dtype)
    if _backend.backend_of(data) is not None:  # an array or NumPy scalar: keep its dtype
        return _backend.asarray(data)
    arr = _backend.asarray(data)
    if arr.dtype.kind == "f":
        arr = arr.astype(_backend.default_dtype(), copy=False)
    if arr.dtype.kind not in "fcbiu":
        raise TypeError(f"tensor(): cannot make a numeric array from {type(data).__name__} (dtype {arr.dtype})")
    return arr


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
    if isinstance(data, Tensor):
        data = data.data
    arr = _as_backend_array(data, dtype)
    if requires_grad and arr.dtype.kind not in "fc":
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


class Primitive:
    """An array function plus one VJP rule per differentiable input.

    ``fwd(xp, *arrays, **params)`` computes on plain arrays; ``xp`` is the array
    module of the inputs. Calling the primitive on Tensors unwraps them, runs
    ``fwd``, and records a node on the tape when an input requires a gradient.
    """


    def __init__(self, fwd, name=None):
        self.fwd = fwd
        self.name = name or fwd.__name__.lstrip("_")
        self.vjps = ()
        self.vjp_any = None  # for ops with any number of inputs: rule(i, g, ans, *args, **params)
        self.__doc__ = fwd.__doc__
        self.__name__ = self.name

    def defvjp(self, *rules) -> "Primitive":
        """Attach rules ``rule_i(g, ans, *args, **params) -> gradient wrt args[i]``."""
        self.vjps = rules
        return self

    def defvjp_any(self, rule) -> "Primitive":
        self.vjp_any = rule
        return self

    def rule(self, i):
        if self.vjp_any is not None:
            return lambda g, ans, *a, **p: self.vjp_any(i, g, ans, *a, **p)
        if i < len(self.vjps) and self.vjps[i] is not None:
            return self.vjps[i]
        raise NotImplementedError(f"{self.name}: no gradient with respect to argument {i}")

    def __call__(self, *args, **params):
        record = False
        found = None  # backend name of the array inputs
        datas = []
        for a in args:
            if isinstance(a, Tensor):
                if a.requires_grad:
                    record = True
                a = a.data
            datas.append(a)
            name = _backend.backend_of(a)
            if name is not None and name != found:
                if found is not None:
                    raise TypeError(
                        f"{self.name}: arrays from two backends mixed: {found} and {name}; "
                        "move them to one backend first"
                    )
                found = name
        xp = _backend.get_xp() if found is None else _backend.module_named(found)
        try:
            ans = self.fwd(xp, *datas, **params)
        except (ValueError, TypeError, IndexError) as e:
            shapes = ", ".join(str(getattr(d, "shape", type(d).__name__)) for d in datas)
            raise type(e)(f"{self.name}: {e} (input shapes: {shapes})") from e
        out = Tensor.__new__(Tensor)
        out.data = ans
        out.grad = None
        if record and _grad_enabled:
            out.requires_grad = True
            out._op = self
            out._args = args
            out._params = params
        else:
            out.requires_grad = False
            out._op = None
            out._args = ()
            out._params = None
        return out

    def __repr__(self):
        return f"<primitive {self.name}>"


def primitive(fwd) -> Primitive:
    """Decorator: make ``fwd(xp, *arrays, **params)`` a recorded Tensor op."""
    return Primitive(fwd)


# ----------------------------------------------------------------------------
# The backward pass
# ----------------------------------------------------------------------------
def _toposort(roots):
    """Nodes reachable from ``roots`` that require grad, parents before children.

    Depth-first search with an explicit stack: each node is pushed once to be
    expanded and once more, below its parents, to be emitted after them.
    """
    order, seen = [], set()
    stack = [(r, False) for r in roots]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        for a in node._args:
            if isinstance(a, Tensor) and a.requires_grad and id(a) not in seen:
                stack.append((a, False))
    return order


def backprop(outputs, cotangents, inputs=None, create_graph=False):
    """Propagate ``cotangents`` from ``outputs`` back through the tape.

    With ``inputs=None``, gradients accumulate into ``.grad`` of every leaf
    (``Tensor.backward``). With ``inputs`` given, nothing is written to
    ``.grad``; the gradients with respect to ``inputs`` are returned (None for
    an input the outputs do not depend on), and only the part of the tape
    between the inputs and the outputs is visited.
    """
    order = _toposort(outputs)
    needed = None
    if inputs is not None:
        wanted = {id(t) for t in inputs}
        needed = set(wanted)
        for node in order:  # parents come first, so one pass marks every path
            if id(node) not in needed and any(isinstance(a, Tensor) and id(a) in needed for a in node._args):
                needed.add(id(node))
        found = {}

    grads = {}
    for out, g in zip(outputs, cotangents):
        grads[id(out)] = g if id(out) not in grads else grads[id(out)] + g

    with _set_grad_enabled(create_graph):
        for node in reversed(order):
            g = grads.pop(id(node), None)
            if g is None:
                continue
            if needed is not None and id(node) in wanted:
                found[id(node)] = g
            if node._op is None:
                if needed is None:
                    node.grad = g if node.grad is None else node.grad + g
                continue
            op, args, params = node._op, node._args, node._params
            for i, a in enumerate(args):
                if not (isinstance(a, Tensor) and a.requires_grad):
                    continue
                if needed is not None and id(a) not in needed:
                    continue
                gi = op.rule(i)(g, node, *args, **params)
                if gi.shape != a.shape:
                    gi = unbroadcast(gi, a.shape)
                prev = grads.get(id(a))
                grads[id(a)] = gi if prev is None else prev + gi
    if inputs is None:
        return None
    return [found.get(id(t)) for t in inputs]


def unbroadcast(g: Tensor, shape: tuple) -> Tensor:
    """Sum ``g`` down to ``shape``: the adjoint of NumPy broadcasting.

    Broadcasting copies an input along the leading axes it lacks and along
    its size-1 axes, so the gradient sums over exactly those axes. This is
    the one place in scratchgen where that happens.
    """
    shape = tuple(shape)
    lead = g.ndim - len(shape)
    if lead < 0:
        raise ValueError(f"unbroadcast: gradient of shape {g.shape} cannot reduce to shape {shape}")
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and g.shape[lead + i] != 1
    )
    if axes:
        g = g.sum(axis=axes)
    if g.shape != shape:
        g = g.reshape(shape)
    return g
