r"""Functional interface to reverse mode: ``grad``, ``value_and_grad``, ``vjp``, ``hvp``.

``grad(f)`` returns a function that computes :math:`\nabla f`. It can be
nested: ``grad(lambda x: grad(f)(x).sum())`` differentiates the gradient,
because an inner ``grad`` called on an input that is itself being traced
records its backward pass (``create_graph=True``).
"""
from __future__ import annotations

import numbers

from .. import backend as _backend
from .tensor import Tensor, backprop, is_grad_enabled, tensor

__all__ = ["grad", "value_and_grad", "vjp", "hvp"]


def _argnums_tuple(argnums):
    return (argnums,) if isinstance(argnums, numbers.Integral) else tuple(argnums)


def _traced_args(args, argnums):
    """Replace the arguments at ``argnums`` by Tensors that require grad.

    An argument that already requires grad (an outer ``grad`` is tracing it)
    is used as it is, so the outer trace sees through the inner gradient.
    """
    args = list(args)
    nested = False
    for i in argnums:
        if i >= len(args):
            raise ValueError(f"argnums contains {i} but the function got {len(args)} arguments")
        a = args[i]
        if isinstance(a, Tensor) and a.requires_grad and is_grad_enabled():
            nested = True
            continue
        args[i] = tensor(a.data if isinstance(a, Tensor) else a, requires_grad=True)
    return args, nested


def _check_scalar(out, who):
    if not isinstance(out, Tensor):
        raise TypeError(f"{who}: the function must return a Tensor, got {type(out).__name__}")
    if out.size != 1:
        raise ValueError(
            f"{who}: the function must return a single value (shape () or (1,)), got shape {out.shape}; "
            "reduce it (e.g. .sum()) or use vjp()"
        )


def _zeros_for_missing(gs, inputs):
    xp = _backend.get_xp()
    return [
        g if g is not None else Tensor(xp.zeros_like(t.data)) for g, t in zip(gs, inputs)
    ]


def value_and_grad(f, argnums=0):
    """``f``'s value and its gradient with respect to the arguments ``argnums``.

    Returns a function ``(*args) -> (value, gradient)``; the gradient is a
    Tensor, or a tuple of Tensors when ``argnums`` is a tuple.

    An argument that already requires grad (a parameter, or an input an outer
    ``grad`` is tracing) is differentiated in place and the backward pass is
    recorded, so the returned gradient is on the tape and can be differentiated
    again. Pass ``x.detach()`` (or an array) when only the values are wanted.
    """
    single = isinstance(argnums, numbers.Integral)
    nums = _argnums_tuple(argnums)

    def wrapped(*args, **kwargs):
        targs, nested = _traced_args(args, nums)
        out = f(*targs, **kwargs)
        _check_scalar(out, "grad")
        inputs = [targs[i] for i in nums]
        if not out.requires_grad:  # f does not depend on its inputs
            gs = [None] * len(inputs)
        else:
            seed = Tensor(_backend.get_xp(out.data).ones_like(out.data))
            gs = backprop([out], [seed], inputs=inputs, create_graph=nested)
        gs = _zeros_for_missing(gs, inputs)
        return out, (gs[0] if single else tuple(gs))

    wrapped.__name__ = f"value_and_grad({getattr(f, '__name__', 'f')})"
    return wrapped


def grad(f, argnums=0):
    """The gradient of a scalar function: ``grad(f)(*args)`` is :math:`\\nabla f(args)`.

    Examples
    --------
    >>> import scratchgen as sg
    >>> f = lambda x: (x ** 3).sum()
    >>> sg.grad(f)(sg.tensor([1.0, 2.0]))           # 3 x^2
    tensor([ 3., 12.])
    """
    vg = value_and_grad(f, argnums)

    def wrapped(*args, **kwargs):
        return vg(*args, **kwargs)[1]

    wrapped.__name__ = f"grad({getattr(f, '__name__', 'f')})"
    return wrapped


def vjp(f, *args, create_graph=None):
    """``(out, pullback)``: ``pullback(u)`` is :math:`u^\\top \\partial f/\\partial x`
    for every argument ``x`` (a tuple of Tensors)."""
    targs, nested = _traced_args(args, range(len(args)))
    out = f(*targs)
    cg = nested if create_graph is None else create_graph

    def pullback(u):
        u = u if isinstance(u, Tensor) else tensor(u, dtype=out.dtype)
        if u.shape != out.shape:
            raise ValueError(f"vjp: cotangent has shape {u.shape}, the output has shape {out.shape}")
        if not out.requires_grad:
            gs = [None] * len(targs)
        else:
            gs = backprop([out], [u], inputs=targs, create_graph=cg)
        return tuple(_zeros_for_missing(gs, targs))

    return out, pullback


def hvp(f, x, v):
    r"""Hessian-vector product :math:`H(x)\,v = \nabla_x \langle \nabla f(x), v\rangle` of a scalar f.

    Costs two backward passes, never forms H.
    """
    v = v if isinstance(v, Tensor) else tensor(v)
    return grad(lambda x_: (grad(f)(x_) * v).sum())(x)
