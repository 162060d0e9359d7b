r"""Lipschitz and smoothness constraints on the critic: WGAN-GP, R1, weight clipping.

References
----------
* [WGAN]    Arjovsky, Chintala, Bottou, "Wasserstein GAN", ICML 2017, Algorithm 1 (line 7:
            clip the weights to [-c, c]).
* [WGAN-GP] Gulrajani et al., "Improved Training of Wasserstein GANs", NeurIPS 2017, Eq. (3)
            and Algorithm 1 (lines 4-7: random interpolates, per-sample gradient norm).
* [R1]      Mescheder, Geiger, Nowozin, "Which Training Methods for GANs do actually
            Converge?", ICML 2018, Eq. (9).

Conventions
-----------
* ``critic`` is a callable from a batch x of shape (B, ...) to scores of shape (B,) or (B, 1),
  one score per sample, each depending on its own sample only (no batch normalisation in
  the critic: [WGAN-GP] Section 4 replaces it by layer normalisation for this reason).
* **The gradient norm is taken per sample, over all non-batch dimensions**:
  :math:`\|\nabla_{\hat x} D(\hat x_b)\|_2 = \big(\sum_{c,h,w} (\partial D/\partial \hat x_{b,c,h,w})^2\big)^{1/2}`.
  Two shipped bugs are excluded by the tests: the norm over the channel axis only (one norm
  per pixel) and the norm over the whole batch (one norm for all samples).
* The penalties are differentiable with respect to the critic's parameters: the input
  gradient is computed with ``create_graph=True``, so the backward pass of the critic loss
  differentiates through it (a gradient of a gradient).
* The interpolates are built from the *values* of ``real`` and ``fake`` (cut from the tape):
  the penalty constrains the critic; it is not a loss for the generator.
"""
from __future__ import annotations

from ..autodiff.api import vjp
from ..autodiff.tensor import Tensor, no_grad, tensor
from ..backend import get_xp
from ..backend import rng as _rng
from ..validate import check_number

__all__ = ["critic_grad_norms", "gradient_penalty", "r1_penalty", "clip_weights"]

_TINY = 1e-30  # inside the square root: keeps d||g||/dg finite at g = 0, far below round-off elsewhere


def _data(x, name, who):
    if isinstance(x, Tensor):
        x = x.data
    if not hasattr(x, "dtype") or x.dtype.kind != "f":
        raise ValueError(f"{who}: {name} must be a float array or Tensor, got {getattr(x, 'dtype', type(x).__name__)}")
    if x.ndim < 1 or x.shape[0] == 0:
        raise ValueError(f"{who}: {name} must have a non-empty batch axis first, got shape {x.shape}")
    return x


def _input_gradient(critic, x, who):
    r""":math:`\nabla_x \sum_b D(x_b)`, of shape (B, ...), recorded on the tape (create_graph=True).

    Because each score depends on its own sample only, row b of the result is
    :math:`\nabla_{x_b} D(x_b)`.
    """
    B = x.shape[0]
    out, pullback = vjp(critic, x, create_graph=True)
    if not isinstance(out, Tensor):
        raise ValueError(f"{who}: critic must return a Tensor, got {type(out).__name__}")
    if out.shape not in ((B,), (B, 1)):
        raise ValueError(
            f"{who}: critic must return one score per sample, shape ({B},) or ({B}, 1); got {out.shape}"
        )
    xp = get_xp(out.data)
    (g,) = pullback(Tensor(xp.ones_like(out.data)))
    return g


def critic_grad_norms(critic, x):
    r"""Per-sample input-gradient norms :math:`\|\nabla_x D(x_b)\|_2`, over all non-batch axes.

    Parameters
    ----------
    critic : callable, Tensor (B, ...) -> Tensor (B,) or (B, 1)
    x : array or Tensor (B, ...)
        Points at which to take the gradient (values only).

    Returns
    -------
    Tensor (B,), differentiable with respect to the critic's parameters.
    """
    xd = _data(x, "x", "critic_grad_norms")
    g = _input_gradient(critic, tensor(xd), "critic_grad_norms")  # (B, ...)
    B = xd.shape[0]
    ### BEGIN SOLUTION
    # sum of squares over every axis but the batch axis: (B, C, H, W) -> (B,)
    sq = (g * g).reshape(B, -1).sum(axis=1)
    return (sq + _TINY).sqrt()
    ### END SOLUTION


def gradient_penalty(critic, real, fake, lam=10.0, eps=None, rng=None):
    r"""The WGAN-GP gradient penalty ([WGAN-GP] Eq. 3):

    .. math::  \lambda\,\mathbb{E}_{\hat x}\big[(\|\nabla_{\hat x} D(\hat x)\|_2 - 1)^2\big],\qquad
               \hat x = \epsilon\,x + (1-\epsilon)\,\tilde x,\quad \epsilon \sim U[0, 1],

    one :math:`\epsilon` per sample ([WGAN-GP] Algorithm 1, lines 4-6), x real and
    :math:`\tilde x = G(z)` generated. The critic loss of WGAN-GP is
    ``wgan_critic_loss(real_scores, fake_scores) + gradient_penalty(critic, real, fake)``.

    The norm is per sample over all non-batch dimensions (see the module notes). A linear
    critic :math:`D(x) = \langle w, x\rangle` with :math:`\|w\|_2 = 1` (Frobenius norm over all
    non-batch axes) has penalty 0.

    Parameters
    ----------
    critic : callable, Tensor (B, ...) -> Tensor (B,) or (B, 1)
    real, fake : array or Tensor (B, ...)
        Same shape; only their values are used.
    lam : float
        :math:`\lambda` (10 in [WGAN-GP]).
    eps : array (B,), optional
        The interpolation weights; drawn from U[0, 1] with ``rng`` if not given.
    rng : int or generator, optional
        Seed or generator for ``eps``.

    Returns
    -------
    Tensor, shape (), differentiable with respect to the critic's parameters (to any order).
    """
    who = "gradient_penalty"
    check_number(lam, "lam", who, min=0, fix="a negative weight would reward steep critics")
    xr, xf = _data(real, "real", who), _data(fake, "fake", who)
    if xr.shape != xf.shape:
        raise ValueError(f"{who}: real and fake must have the same shape, got {xr.shape} and {xf.shape}")
    xp = get_xp(xr, xf)
    B = xr.shape[0]
    if eps is None:
        eps = _rng(rng).random(B).astype(xr.dtype)
    else:
        eps = eps.data if isinstance(eps, Tensor) else xp.asarray(eps)
        if eps.shape != (B,):
            raise ValueError(f"{who}: eps must have shape ({B},), one weight per sample; got {eps.shape}")
        if bool(xp.any((eps < 0) | (eps > 1))):
            raise ValueError(f"{who}: eps must lie in [0, 1]")
        eps = eps.astype(xr.dtype)
    ### BEGIN SOLUTION
    # epsilon as (B, 1, 1, ...) so each sample gets its own weight
    e = eps.reshape((B,) + (1,) * (xr.ndim - 1))
    # x_hat = eps x + (1 - eps) x_tilde
    x_hat = e * xr + (1 - e) * xf
    norms = critic_grad_norms(critic, x_hat)  # (B,)
    return ((norms - 1) ** 2).mean() * lam
    ### END SOLUTION


def r1_penalty(critic, real, gamma=10.0):
    r"""The R1 penalty ([R1] Eq. 9): the squared input-gradient norm on real data,

    .. math::  R_1 = \frac{\gamma}{2}\,\mathbb{E}_{x\sim p_{data}}\big[\|\nabla_x D(x)\|_2^2\big],

    with the norm per sample over all non-batch dimensions. No square root, so no kink at 0.
    D here is the critic's output before any sigmoid (its logit).

    Parameters
    ----------
    critic : callable, Tensor (B, ...) -> Tensor (B,) or (B, 1)
    real : array or Tensor (B, ...)
    gamma : float

    Returns
    -------
    Tensor, shape (), differentiable with respect to the critic's parameters.
    """
    check_number(gamma, "gamma", "r1_penalty", min=0, fix="a negative weight would reward steep critics")
    xd = _data(real, "real", "r1_penalty")
    g = _input_gradient(critic, tensor(xd), "r1_penalty")
    B = xd.shape[0]
    sq = (g * g).reshape(B, -1).sum(axis=1)  # (B,)
    return sq.mean() * (0.5 * gamma)


def clip_weights(params, c=0.01):
    r"""Weight clipping of [WGAN] Algorithm 1, line 7: :math:`w \leftarrow \operatorname{clip}(w, -c, c)`, in place.

    A crude way to keep the critic K-Lipschitz for some K (the one [WGAN-GP] replaces).

    Parameters
    ----------
    params : iterable of Tensor
        The critic's parameters; their ``data`` is clipped in place (no tape is recorded).
    c : float > 0

    Returns
    -------
    list of Tensor, the same parameters.
    """
    check_number(c, "c", "clip_weights", min=0, min_open=True)
    params = list(params)
    with no_grad():
        for i, w in enumerate(params):
            if not isinstance(w, Tensor):
                raise ValueError(f"clip_weights: params[{i}] must be a Tensor, got {type(w).__name__}")
            xp = get_xp(w.data)
            xp.clip(w.data, -c, c, out=w.data)
    return params
