r"""Check reverse-mode gradients against central differences, to any order.

For a function :math:`f` with arguments :math:`x_1,\dots,x_n`, a random
cotangent :math:`u` (output-shaped) and a random direction :math:`v`
(shaped like :math:`x_i`), the VJP must satisfy

.. math::  \langle \bar x_i(u), v \rangle \;=\;
           \Big\langle u,\ \frac{f(x_i + \epsilon v) - f(x_i - \epsilon v)}{2\epsilon} \Big\rangle
           + O(\epsilon^2).

Order 2 applies the same check to the function
:math:`x \mapsto \bar x_i(u) = \nabla_{x_i}\langle f(x), u\rangle`, computed with
``create_graph=True``: the derivative of the gradient is a Hessian-vector
product, checked against central differences of the gradient. Order k
recurses k-1 times. Everything runs in float64.
"""
from __future__ import annotations

from .. import backend as _backend
from .tensor import Tensor, backprop, tensor

__all__ = ["check_grads", "GradientCheckError"]


class GradientCheckError(AssertionError):
    """A VJP disagrees with central differences."""


def _as_float64(a):
    """The point as an array: floats (and Python numbers) in float64, straight from the input
    (never through float32); integer and boolean arrays, such as indices and masks, unchanged."""
    if isinstance(a, Tensor):
        a = a.data
    if isinstance(a, (int, float)) and not isinstance(a, bool):
        return _backend.asarray(float(a), dtype="float64")
    arr = _backend.asarray(a)
    return arr.astype("float64") if arr.dtype.kind in "fc" else arr


def _vdot(xp, a, b):
    return float(xp.sum(a * b))


def check_grads(f, *args, order=2, eps=1e-6, rtol=1e-5, atol=1e-6, n_directions=2, seed=0, argnums=None):
    r"""Check ``f``'s gradients with respect to ``args`` up to ``order``.

    Parameters
    ----------
    f : callable
        Takes Tensors, returns a Tensor (any shape).
    *args : arrays, numbers or Tensors
        The point; converted to float64. Integer and boolean arrays are passed
        through undifferentiated.
    order : int
        1 checks VJPs; 2 also Hessian-vector products; k recurses.
    eps, rtol, atol : float
        Step of the central difference and the tolerance
        ``|analytic - numeric| <= atol + rtol * |numeric|``.
    n_directions : int
        Random (u, v) pairs tried per argument.
    argnums : tuple of int, optional
        Arguments to check (default: every float argument).

    Raises
    ------
    GradientCheckError
        Naming the order, the argument, and the max absolute and relative errors.
    """
    xs = [_as_float64(a) for a in args]
    if argnums is None:
        argnums = tuple(i for i, a in enumerate(xs) if a.dtype.kind == "f")
    _check(f, xs, order, 1, eps, rtol, atol, n_directions, seed, tuple(argnums), getattr(f, "__name__", "f"))


def _check(f, xs, order, level, eps, rtol, atol, n_directions, seed, argnums, label):
    xp = _backend.get_xp(*xs)
    rng = _backend.rng(seed + 7919 * level, xp=xp)  # draws on the arrays' backend

    def call(values):
        out = f(*[Tensor(v) if i in argnums else v for i, v in enumerate(values)])
        if not isinstance(out, Tensor):
            raise TypeError(f"check_grads: {label} must return a Tensor, got {type(out).__name__}")
        return out

    y = call(xs).data
    for i in argnums:
        worst_abs = worst_rel = 0.0
        for _ in range(n_directions):
            u = rng.standard_normal(y.shape)
            v = rng.standard_normal(xs[i].shape)
            # analytic: <x_bar(u), v>
            ts = [tensor(x, requires_grad=(j in argnums)) if j in argnums else x for j, x in enumerate(xs)]
            out = f(*ts)
            if out.requires_grad:
                (g,) = backprop([out], [Tensor(u)], inputs=[ts[i]])
            else:
                g = None
            analytic = 0.0 if g is None else _vdot(xp, g.data, v)
            # numeric: <u, (f(x + eps v) - f(x - eps v)) / (2 eps)>
            plus = list(xs)
            plus[i] = xs[i] + eps * v
            minus = list(xs)
            minus[i] = xs[i] - eps * v
            numeric = _vdot(xp, u, (call(plus).data - call(minus).data) / (2 * eps))
            err = abs(analytic - numeric)
            rel = err / max(abs(analytic), abs(numeric), 1e-300) if err > 0 else 0.0
            worst_abs, worst_rel = max(worst_abs, err), max(worst_rel, rel)
            if err > atol + rtol * abs(numeric):
                raise GradientCheckError(
                    f"check_grads: order-{level} gradient of {label} with respect to argument {i} is wrong: "
                    f"max abs error {worst_abs:.3g}, max rel error {worst_rel:.3g} "
                    f"(failing direction: analytic {analytic:.10g} vs numeric {numeric:.10g}; "
                    f"tolerance atol={atol}, rtol={rtol})"
                )
        if level < order:
            _check(_gradient_function(f, i, rng.standard_normal(y.shape), xp), xs, order, level + 1,
                   eps, rtol, atol, n_directions, seed, argnums, f"d/dx{i} <{label}, u>")


def _gradient_function(f, i, u, xp):
    """The function x -> grad_{x_i} <f(x), u>, differentiable again (create_graph=True).

    Inputs that already require grad (the checker's leaves) are used as they
    are, so the result stays on their tape; plain inputs become fresh leaves.
    """

    def grad_f(*targs):
        ts = [t if (isinstance(t, Tensor) and t.requires_grad) else
              (tensor(t.data, requires_grad=True) if isinstance(t, Tensor) else t) for t in targs]
        out = f(*ts)
        g = None
        if out.requires_grad:
            (g,) = backprop([out], [Tensor(u)], inputs=[ts[i]], create_graph=True)
        return g if g is not None else Tensor(xp.zeros_like(ts[i].data))

    grad_f.__name__ = f"grad_{i}({getattr(f, '__name__', 'f')})"
    return grad_f
