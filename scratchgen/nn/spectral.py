r"""Spectral normalisation by power iteration (Miyato et al. 2018, "Spectral
Normalization for Generative Adversarial Networks", Algorithm 1).

The weight used in the forward pass is :math:`\bar W_{SN} = W / \sigma(W)`,
where :math:`\sigma(W)` is the largest singular value of :math:`W` reshaped to
a matrix ``(out, in * k_h * k_w)``. It is estimated with one (or a few) steps
of power iteration per training step, from a persistent vector :math:`u`:

.. math::
   v \leftarrow \frac{W^\top u}{\|W^\top u\|_2}, \qquad
   u \leftarrow \frac{W v}{\|W v\|_2}, \qquad
   \sigma(W) \approx u^\top W v .

:math:`u` and :math:`v` are constants for the gradient (as in the paper and
PyTorch): :math:`\partial\sigma/\partial W = u v^\top`. In evaluation mode
they are not updated, so evaluation is deterministic. Since
:math:`\|\bar W_{SN}\|_2 \le 1` for each layer and ReLU / leaky ReLU are
1-Lipschitz, a spectrally normalised MLP is (up to the power iteration's
estimate) 1-Lipschitz.
"""
from __future__ import annotations

from ..autodiff.primitives import matmul
from ..backend import get_xp
from ..backend import rng as _rng
from .layers import ConvTranspose2d
from .module import Parameter

__all__ = ["spectral_norm", "remove_spectral_norm", "power_iteration"]


def _l2_normalize(a, eps):
    xp = get_xp(a)
    return a / max(float(xp.linalg.norm(a)), eps)


def power_iteration(W_mat, u, n_iterations=1, eps=1e-12):
    r"""Run power iteration on the matrix ``W_mat`` ``(m, n)`` from ``u`` ``(m,)``.

    Returns
    -------
    u, v, sigma : arrays (m,), (n,) and a float
        :math:`\sigma = u^\top W v`, which increases to the largest singular value.
    """
    xp = get_xp(W_mat)
    v = None
    for _ in range(max(1, n_iterations)):
        v = _l2_normalize(W_mat.T @ u, eps)  # v = W^T u / ||W^T u||
        u = _l2_normalize(W_mat @ v, eps)  # u = W v / ||W v||
    sigma = float(xp.dot(u, W_mat @ v))
    return u, v, sigma


class _SpectralNorm:
    """The forward pre-hook: recompute ``module.<name>`` as ``<name>_orig / sigma``."""

    def __init__(self, name, n_power_iterations, eps, dim):
        self.name, self.n, self.eps, self.dim = name, n_power_iterations, eps, dim

    def _matrix(self, W):
        # W -> (rows, cols) with the normalised dimension first
        if self.dim != 0:
            perm = (self.dim,) + tuple(d for d in range(W.ndim) if d != self.dim)
            W = W.transpose(perm)
        return W.reshape(W.shape[0], -1)

    def compute_weight(self, module):
        W = getattr(module, self.name + "_orig")  # Parameter
        u = getattr(module, self.name + "_u")
        v = getattr(module, self.name + "_v")
        if module.training:
            # power iteration on plain arrays: u and v get no gradient
            u_new, v_new, _ = power_iteration(self._matrix(W.data), u, self.n, self.eps)
            u[...] = u_new
            v[...] = v_new
        # sigma = u^T W v, differentiable in W
        sigma = matmul(matmul(u, self._matrix(W)), v)  # the same reshape works on Tensors
        return W / sigma

    def __call__(self, module, inputs):
        object.__setattr__(module, self.name, self.compute_weight(module))


def spectral_norm(module, name="weight", n_power_iterations=1, eps=1e-12, dim=None, generator=None):
    r"""Make ``module.<name>`` spectrally normalised: :math:`W_{SN} = W/\sigma(W)` on every call.

    The trained parameter becomes ``<name>_orig``; the buffers ``<name>_u`` and
    ``<name>_v`` hold the power-iteration vectors (saved with the state dict).

    Parameters
    ----------
    module : Module
        Any module with a weight parameter (Linear, Conv2d, ConvTranspose2d, ...).
    n_power_iterations : int
        Power-iteration steps per training forward pass (1 in the paper).
    dim : int, optional
        The output dimension of the weight: 0, or 1 for ``ConvTranspose2d`` (default chosen so).
    generator : seed or Generator
        For the random initial :math:`u`.

    Returns
    -------
    The same module.
    """
    W = getattr(module, name, None)
    if not isinstance(W, Parameter):
        raise TypeError(
            f"spectral_norm: {type(module).__name__} has no parameter {name!r} (received {type(W).__name__})"
        )
    if W.ndim < 2:
        raise ValueError(f"spectral_norm: {type(module).__name__}.{name} must have >= 2 dimensions, received {W.shape}")
    if int(n_power_iterations) < 1:
        raise ValueError(f"spectral_norm: n_power_iterations must be >= 1, received {n_power_iterations}")
    if dim is None:
        dim = 1 if isinstance(module, ConvTranspose2d) else 0
    hook = _SpectralNorm(name, int(n_power_iterations), float(eps), dim)
    W_mat = hook._matrix(W.data)
    gen = _rng(generator)
    u0 = gen.standard_normal(W_mat.shape[0], dtype=W.dtype)
    del module.__dict__[name]
    setattr(module, name + "_orig", W)
    u, v, _ = power_iteration(W_mat, _l2_normalize(u0, eps), 1, eps)
    module.register_buffer(name + "_u", u.astype(W.dtype))
    module.register_buffer(name + "_v", v.astype(W.dtype))
    module.register_forward_pre_hook(hook)
    # a usable weight before the first call (without a power-iteration update)
    training = module.training
    object.__setattr__(module, "training", False)
    hook(module, ())
    object.__setattr__(module, "training", training)
    return module


def remove_spectral_norm(module, name="weight"):
    """Undo :func:`spectral_norm`: the normalised weight becomes a plain parameter again."""
    hook = module.find_forward_pre_hook(_SpectralNorm, name)
    if hook is None:
        raise ValueError(f"remove_spectral_norm: {type(module).__name__} has no spectral norm on {name!r}")
    was = module.training
    object.__setattr__(module, "training", False)
    W = hook.compute_weight(module)
    object.__setattr__(module, "training", was)
    module._forward_pre_hooks.remove(hook)
    for suffix in ("_orig", "_u", "_v"):
        delattr(module, name + suffix)
    module._buffers[:] = [b for b in module._buffers if b not in (name + "_u", name + "_v")]
    setattr(module, name, Parameter(W.data.copy()))
    return module

