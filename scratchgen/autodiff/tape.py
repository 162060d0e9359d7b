r"""The tape: what a recorded value holds, primitives with VJP rules, and the backward pass.

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
3. **Backward.** :func:`backprop` sorts the tape topologically (iteratively, so a
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

Where the pieces live (imports point one way: ``tape`` <- ``primitives`` <- ``functional`` <- ``tensor``)
-----------------------------------------------------------------------------------------------------
This module knows a value on the tape only as a :class:`Node` (an array and its
links). ``Tensor`` (``tensor.py``) is the subclass the user holds: it adds the
array attributes and the Python operators (``a + b`` calls the primitive ``add``),
so it sits *above* the primitives. Primitives return Tensors all the same:
``tensor.py`` hands its class to :func:`use_tensor_class` right after defining it.
"""
from __future__ import annotations

import contextlib

from .. import backend as _backend

__all__ = [
    "Node",
    "Primitive",
    "primitive",
    "no_grad",
    "enable_grad",
    "is_grad_enabled",
    "backprop",
    "unbroadcast",
    "as_array",
    "use_tensor_class",
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


def as_array(data, dtype=None):
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


class Node:
    """A value on the tape: its array, whether gradients flow to it, and its links.

    Attributes
    ----------
    data : ndarray (NumPy or CuPy)
        The values.
    requires_grad : bool
        Whether gradients flow to this value.
    grad : Tensor or None
        Gradient accumulated by ``backward`` (leaves only).
    _op, _args, _params
        The primitive that made it, its inputs and its keyword parameters (None, (), None for a leaf).

    ``Tensor`` (``tensor.py``) is the subclass with the array attributes and operators.
    """

    __slots__ = ("data", "requires_grad", "grad", "_op", "_args", "_params", "__weakref__")

    def __init__(self, data, requires_grad: bool = False):
        if not hasattr(data, "dtype"):
            data = as_array(data, None)
        if requires_grad and data.dtype.kind != "f":  # a leaf the user asks gradients of: real floats only
            raise TypeError(f"Tensor: requires_grad=True needs a real float dtype, got {data.dtype}"
                            + ("; take .real or abs() first (the engine differentiates real numbers only)"
                               if data.dtype.kind == "c" else ""))
        self.data = data
        self.requires_grad = bool(requires_grad)
        self.grad = None
        self._op = None
        self._args = ()
        self._params = None

    @property
    def is_leaf(self) -> bool:
        """True for tensors made by the user rather than by a primitive."""
        return self._op is None


# The class of the values primitives return: Tensor, once tensor.py has called use_tensor_class.
_Tensor = Node


def use_tensor_class(cls) -> None:
    """Make primitives return instances of ``cls``, a subclass of :class:`Node` (``Tensor``).

    Called once, by ``tensor.py``, after its class statement: the class with the
    operators is defined above the primitives it calls, so it cannot be imported here.
    """
    global _Tensor
    if not (isinstance(cls, type) and issubclass(cls, Node)):
        raise TypeError(f"use_tensor_class: expected a subclass of Node, received {cls!r}")
    _Tensor = cls


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
            if isinstance(a, Node):
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
        out = _Tensor.__new__(_Tensor)
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
            if isinstance(a, Node) and a.requires_grad and id(a) not in seen:
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
            if id(node) not in needed and any(isinstance(a, Node) and id(a) in needed for a in node._args):
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
                if not (isinstance(a, Node) and a.requires_grad):
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


def unbroadcast(g, shape: tuple):
    """Sum the Tensor ``g`` down to ``shape``: the adjoint of NumPy broadcasting.

    Broadcasting copies an input along the leading axes it lacks and along
    its size-1 axes, so the gradient sums over exactly those axes. This is
    the one place in scratchgen where that happens. (``g.sum`` and
    ``g.reshape`` are the Tensor methods, so the sum is recorded too.)
    """
    shape = tuple(shape)
    ### BEGIN SOLUTION
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
    ### END SOLUTION
