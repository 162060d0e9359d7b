r"""Weight normalisation (Salimans & Kingma 2016, "Weight Normalization: A Simple
Reparameterization to Accelerate Training of Deep Neural Networks", Eq. 2).

Each output unit's weight vector is written as a direction times a length,

.. math::
   \mathbf w = \frac{g}{\lVert \mathbf v\rVert}\,\mathbf v ,

with the scalar :math:`g` and the vector :math:`\mathbf v` trained in its place, so that
:math:`\lVert\mathbf w\rVert = g` whatever :math:`\mathbf v` is. The gradients (their Eq. 3),

.. math::
   \nabla_g L = \frac{\nabla_{\mathbf w} L \cdot \mathbf v}{\lVert\mathbf v\rVert}, \qquad
   \nabla_{\mathbf v} L = \frac{g}{\lVert\mathbf v\rVert}\,M_{\mathbf w}\nabla_{\mathbf w} L,
   \quad M_{\mathbf w} = I - \frac{\mathbf w\mathbf w^\top}{\lVert\mathbf w\rVert^2},

follow from the autodiff of the line above: nothing here is hand-differentiated. The
gradient with respect to :math:`\mathbf v` is orthogonal to :math:`\mathbf v` (the projection
:math:`M_{\mathbf w}`), and scaled by :math:`g/\lVert\mathbf v\rVert`. Salimans et al. (2016,
"Improved Techniques for Training GANs") use it in every layer of the semi-supervised critic.

"Per output unit" means: the norm is taken over every axis of the weight except ``dim``
(0 for ``Linear`` and ``Conv2d``, whose weight is ``(out, ...)``; 1 for ``ConvTranspose2d``).
At the start :math:`g = \lVert\mathbf w_0\rVert` and :math:`\mathbf v = \mathbf w_0`, so the
layer computes exactly what it computed before.
"""
from __future__ import annotations

from .layers import ConvTranspose2d
from .module import Parameter

__all__ = ["weight_norm", "remove_weight_norm"]


def _norm_axes(ndim, dim):
    return tuple(a for a in range(ndim) if a != dim)


class _WeightNorm:
    """The forward pre-hook: recompute ``module.<name>`` as ``g · v / ||v||`` (on the tape)."""

    def __init__(self, name, dim):
        self.name, self.dim = name, dim

    def compute_weight(self, module):
        g = getattr(module, self.name + "_g")  # (1, .., out, .., 1): broadcasts against v
        v = getattr(module, self.name + "_v")
        norm = ((v * v).sum(axis=_norm_axes(v.ndim, self.dim), keepdims=True)) ** 0.5
        return v * (g / norm)

    def __call__(self, module, inputs):
        object.__setattr__(module, self.name, self.compute_weight(module))


def weight_norm(module, name="weight", dim=None):
    r"""Reparameterise ``module.<name>`` as :math:`\mathbf w = g\,\mathbf v/\lVert\mathbf v\rVert` per output unit.

    The trained parameters become ``<name>_g`` (the lengths, shaped to broadcast: ``(out, 1)``
    for ``Linear``) and ``<name>_v`` (the directions, the weight's shape).

    Parameters
    ----------
    module : Module
        Any module with a weight parameter (Linear, Conv2d, ConvTranspose2d, ...).
    dim : int, optional
        The output axis of the weight, kept out of the norm: 0, or 1 for ``ConvTranspose2d``.

    Returns
    -------
    The same module.
    """
    if module.find_forward_pre_hook(_WeightNorm, name) is not None:
        raise ValueError(f"weight_norm: {type(module).__name__}.{name} is already weight-normalised")
    W = getattr(module, name, None)
    if not isinstance(W, Parameter):
        raise TypeError(f"weight_norm: {type(module).__name__} has no parameter {name!r} (received {type(W).__name__})")
    if W.ndim < 2:
        raise ValueError(f"weight_norm: {type(module).__name__}.{name} must have >= 2 dimensions, received {W.shape}")
    if dim is None:
        dim = 1 if isinstance(module, ConvTranspose2d) else 0
    if not 0 <= dim < W.ndim:
        raise ValueError(f"weight_norm: dim must be in [0, {W.ndim}), received {dim}")
    w = W.data
    g0 = ((w * w).sum(axis=_norm_axes(w.ndim, dim), keepdims=True)) ** 0.5  # ||w_0|| per output unit
    if not bool((g0 > 0).all()):  # v / ||v|| has no direction for a zero row
        n_zero = int((g0 == 0).sum())
        raise ValueError(f"weight_norm: {type(module).__name__}.{name} has {n_zero} output unit(s) with an all-zero "
                         "weight vector; initialise the weights before normalising them")
    del module.__dict__[name]
    setattr(module, name + "_g", Parameter(g0.astype(w.dtype)))
    setattr(module, name + "_v", Parameter(w.copy()))
    hook = _WeightNorm(name, dim)
    module.register_forward_pre_hook(hook)
    hook(module, ())  # a usable weight before the first call
    return module


def remove_weight_norm(module, name="weight"):
    """Undo :func:`weight_norm`: the weight :math:`g\\,v/\\lVert v\\rVert` becomes a plain parameter again."""
    hook = module.find_forward_pre_hook(_WeightNorm, name)
    if hook is None:
        raise ValueError(f"remove_weight_norm: {type(module).__name__} has no weight norm on {name!r}")
    W = hook.compute_weight(module)
    module._forward_pre_hooks.remove(hook)
    delattr(module, name + "_g")
    delattr(module, name + "_v")
    setattr(module, name, Parameter(W.data.copy()))
    return module
