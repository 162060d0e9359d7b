r"""Layer functions: the math behind the modules, as Tensor functions.

Most are composites of autodiff primitives. Six are primitives of their own,
for speed, each with a VJP rule written in Tensor operations so that it can be
differentiated again (WGAN-GP's gradient penalty differentiates a gradient):

* ``linear``: :math:`y = x W^\top + b` in one node instead of three.
* ``leaky_relu`` / ``relu`` (defined in :mod:`scratchgen.autodiff.functional`,
  re-exported here): the derivative is the constant array
  :math:`\tfrac{1+a}{2} + \tfrac{1-a}{2}\operatorname{sign}(x)`.
* ``silu`` and ``gelu`` (also in :mod:`scratchgen.autodiff.functional`): one node and
  four or seven array passes in place (inference is mostly such elementwise work).
* ``normalize``: batch norm and layer norm share one primitive whose backward
  is the closed form of Ioffe & Szegedy (2015) with the saved
  :math:`\hat x` and :math:`1/\sigma` (the JAX ``custom_vjp`` idea). When the
  backward is itself recorded (``create_graph=True``) the rule recomputes
  :math:`\hat x` from :math:`x` with Tensor operations, so second derivatives
  are exact.

References: Ioffe & Szegedy (2015) batch normalisation; Ba et al. (2016)
layer normalisation; Hendrycks & Gimpel (2016) GELU; Elfwing et al. (2018) SiLU.
"""
from __future__ import annotations

from ..autodiff import functional as _AF
from ..autodiff.conv import conv2d, conv_transpose2d  # noqa: F401  (re-exported)
from ..autodiff.functional import leaky_relu, relu  # noqa: F401  (re-exported)
from ..autodiff.primitives import matmul, mean, reshape, sum, tanh, transpose
from ..autodiff.tensor import Tensor, is_grad_enabled, primitive, tensor, unbroadcast
from ..backend import get_xp
from ..backend import rng as _rng
from ..validate import bad, check_choice, check_real_array, check_same_shape

__all__ = [
    "linear", "relu", "leaky_relu", "tanh", "sigmoid", "gelu", "silu",
    "normalize", "batch_norm", "layer_norm", "dropout",
    "conv2d", "conv_transpose2d",
    "binary_cross_entropy_with_logits", "mse_loss",
]


# ---------------------------------------------------------------------------
# Linear
# ---------------------------------------------------------------------------
@primitive
def _linear(xp, x, W, b):
    y = xp.matmul(x, W.T)  # (..., out): x W^T
    if b is not None:
        y += b
    return y


def _linear_vjp_x(g, ans, x, W, b):
    return matmul(g, W)  # x_bar = y_bar W


def _linear_vjp_W(g, ans, x, W, b):
    # W_bar = y_bar^T x, summed over every leading (batch) axis
    g2 = g if g.ndim == 2 else reshape(g, (-1, g.shape[-1]))
    x2 = x if x.ndim == 2 else reshape(x, (-1, x.shape[-1]))
    return matmul(transpose(g2), x2)


def _linear_vjp_b(g, ans, x, W, b):
    return sum(g, axis=tuple(range(g.ndim - 1))) if g.ndim > 1 else g


_linear.defvjp(_linear_vjp_x, _linear_vjp_W, _linear_vjp_b)


def linear(x, W, b=None):
    r"""Affine map :math:`y = x W^\top + b` (PyTorch's weight layout ``(out, in)``).

    Parameters
    ----------
    x : Tensor (..., in)
    W : Tensor (out, in)
    b : Tensor (out,), optional
    """
    return _linear(x, W, b)


# ---------------------------------------------------------------------------
# Activations
# ---------------------------------------------------------------------------
def sigmoid(x):
    r""":math:`\sigma(x) = 1/(1+e^{-x})`, overflow-free (see ``scratchgen.sigmoid``)."""
    return _AF.sigmoid(x)


def gelu(x, approximate="tanh"):
    r"""GELU :math:`x\,\Phi(x)` in the tanh form of Hendrycks & Gimpel (2016), eq. (2):

    .. math:: \operatorname{GELU}(x) \approx \tfrac12 x\Big(1 + \tanh\big(\sqrt{2/\pi}\,(x + 0.044715\,x^3)\big)\Big)
              = x\,\sigma\big(2\sqrt{2/\pi}\,(x + 0.044715\,x^3)\big)

    The exact form needs erf, which NumPy lacks; ``approximate="tanh"`` is
    PyTorch's ``GELU(approximate="tanh")`` (max deviation from the erf form ~3e-4).
    One primitive (:func:`scratchgen.autodiff.functional.gelu`), computed in the
    sigmoid form, which does not cancel for negative x.
    """
    if approximate != "tanh":
        raise ValueError(f"gelu: only approximate='tanh' is implemented (NumPy has no erf), received {approximate!r}")
    return _AF.gelu(x)


def silu(x, inplace=False):
    r"""SiLU / swish :math:`x\,\sigma(x) = x/(1+e^{-x})` (Elfwing et al. 2018): one primitive
    (:func:`scratchgen.autodiff.functional.silu`), four array passes. ``inplace=True``: under
    ``no_grad``, the result overwrites ``x`` (for a layer's fresh output, which nothing else needs)."""
    return _AF.silu(x, inplace)


# ---------------------------------------------------------------------------
# Normalisation: one primitive for batch norm and layer norm
# ---------------------------------------------------------------------------
def _count(shape, axes):
    n = 1
    for a in axes:
        n *= shape[a]
    return n


@primitive
def _normalize(xp, x, gamma, beta, axes, eps, saved):
    mu = xp.mean(x, axis=axes, keepdims=True)  # \mu
    xc = x - mu
    var = xp.mean(xc * xc, axis=axes, keepdims=True)  # \sigma^2 (biased)
    inv_std = 1.0 / xp.sqrt(var + eps)  # 1 / sqrt(sigma^2 + eps)
    xc *= inv_std  # \hat x, in place
    saved["x_hat"], saved["inv_std"], saved["mu"], saved["var"] = xc, inv_std, mu, var
    y = xc if gamma is None else xc * gamma
    if beta is not None:
        y = y + beta
    return y


def _x_hat_and_inv_std(x, axes, eps, saved):
    """Saved arrays when the backward is not recorded; Tensor ops of ``x`` when it is."""
    if not is_grad_enabled():
        return Tensor(saved["x_hat"]), Tensor(saved["inv_std"])
    mu = mean(x, axis=axes, keepdims=True)
    xc = x - mu
    inv_std = (mean(xc * xc, axis=axes, keepdims=True) + eps) ** -0.5
    return xc * inv_std, inv_std


def _normalize_vjp_x(g, ans, x, gamma, beta, axes, eps, saved):
    r""":math:`\bar x = \frac{1}{\sigma}\big(\bar{\hat x} - \operatorname{mean}(\bar{\hat x})
    - \hat x \operatorname{mean}(\bar{\hat x}\,\hat x)\big)` with :math:`\bar{\hat x} = \gamma\,\bar y`."""
    x_hat, inv_std = _x_hat_and_inv_std(x, axes, eps, saved)
    g_hat = g if gamma is None else g * gamma
    return inv_std * (g_hat - mean(g_hat, axis=axes, keepdims=True)
                      - x_hat * mean(g_hat * x_hat, axis=axes, keepdims=True))


def _reduce_to(t, shape):
    """Sum a full-size gradient over the axes where ``shape`` broadcasts."""
    return unbroadcast(t, tuple(shape))


_normalize.defvjp(
    _normalize_vjp_x,
    # gamma_bar = sum over the batch axes of y_bar * x_hat
    lambda g, ans, x, gamma, beta, axes, eps, saved:
        _reduce_to(g * _x_hat_and_inv_std(x, axes, eps, saved)[0], gamma.shape),
    lambda g, ans, x, gamma, beta, axes, eps, saved: _reduce_to(g, beta.shape),  # beta_bar = sum y_bar
)


def normalize(x, gamma, beta, axes, eps=1e-5, saved=None):
    r""":math:`y = \gamma\,\frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}} + \beta`, with :math:`\mu, \sigma^2`
    the mean and biased variance over ``axes``.

    Parameters
    ----------
    x : Tensor
    gamma, beta : Tensor or None
        Broadcastable to ``x`` (e.g. ``(1, C, 1, 1)`` for batch norm).
    axes : tuple of int
        Axes to normalise over (non-negative).
    saved : dict, optional
        Receives the arrays ``mu`` and ``var`` (for running statistics), ``x_hat`` and ``inv_std``.
    """
    if saved is None:
        saved = {}
    return _normalize(x, gamma, beta, tuple(axes), float(eps), saved)


def batch_norm(x, running_mean, running_var, gamma=None, beta=None, training=True, momentum=0.1,
               eps=1e-5):
    r"""Batch normalisation (Ioffe & Szegedy 2015, Algorithm 1) over every axis but the channel axis 1.

    In training, normalises with the batch's statistics and updates the
    running ones in place: :math:`r \leftarrow (1-m)\,r + m\,s` with the
    *unbiased* batch variance, as PyTorch does. In evaluation, uses
    :math:`\hat x = (x - r_\mu)/\sqrt{r_{\sigma^2} + \epsilon}`.

    Parameters
    ----------
    x : Tensor (B, C) or (B, C, L) or (B, C, H, W)
    running_mean, running_var : array (C,) or None
    gamma, beta : Tensor (C,) or None
    """
    C = x.shape[1]
    bshape = (1, C) + (1,) * (x.ndim - 2)  # broadcast shape of per-channel values
    g = None if gamma is None else reshape(gamma, bshape)
    b = None if beta is None else reshape(beta, bshape)
    axes = (0,) + tuple(range(2, x.ndim))
    if training:
        n = _count(x.shape, axes)
        if n < 2:
            raise ValueError(f"batch_norm: training needs more than one value per channel, received input {x.shape}")
        saved = {}
        y = normalize(x, g, b, axes, eps, saved)
        if running_mean is not None:
            dt = running_mean.dtype
            mu, var = saved["mu"].reshape(C), saved["var"].reshape(C)
            running_mean *= 1.0 - momentum
            running_mean += (momentum * mu).astype(dt, copy=False)
            running_var *= 1.0 - momentum
            running_var += (momentum * n / (n - 1) * var).astype(dt, copy=False)  # unbiased
        return y
    if running_mean is None:
        return normalize(x, g, b, axes, eps)
    xp = get_xp(running_mean)
    inv_std = (1.0 / xp.sqrt(running_var + eps)).reshape(bshape)
    shift = (-running_mean.reshape(bshape)) * inv_std
    y = x * inv_std.astype(x.dtype, copy=False) + shift.astype(x.dtype, copy=False)
    if g is not None:
        y = y * g
    if b is not None:
        y = y + b
    return y


def layer_norm(x, normalized_shape, gamma=None, beta=None, eps=1e-5):
    r"""Layer normalisation (Ba et al. 2016): normalise over the last ``len(normalized_shape)`` axes,
    then scale by :math:`\gamma` and shift by :math:`\beta` (both of ``normalized_shape``)."""
    k = len(normalized_shape)
    axes = tuple(range(x.ndim - k, x.ndim))
    return normalize(x, gamma, beta, axes, eps)


# ---------------------------------------------------------------------------
# Dropout and losses
# ---------------------------------------------------------------------------
def dropout(x, p=0.5, training=True, generator=None):
    r"""Inverted dropout: :math:`y = x \odot m / (1-p)`, :math:`m_i \sim \text{Bernoulli}(1-p)`.
    The identity in evaluation or when ``p = 0``."""
    if not 0 <= p < 1:
        raise ValueError(f"dropout: p must be in [0, 1), received {p}")
    if not training or p == 0:
        return x
    gen = _rng(generator)
    keep = gen.random(x.shape, dtype=x.dtype) >= p
    mask = keep.astype(x.dtype)
    mask *= 1.0 / (1.0 - p)
    return x * mask


def binary_cross_entropy_with_logits(logits, target, reduction="mean"):
    r"""Binary cross-entropy on logits :math:`z` with targets :math:`t \in [0, 1]`:

    .. math::  \ell = -t\log\sigma(z) - (1-t)\log(1-\sigma(z))
                    = t\operatorname{softplus}(-z) + (1-t)\operatorname{softplus}(z)

    (stable: ``softplus`` never exponentiates a positive number). The shorter form
    :math:`\operatorname{softplus}(z) - t z` cancels: at :math:`z = 20, t = 1` it is
    :math:`20 + 2\cdot10^{-9} - 20 = 0` in float32, where the loss is :math:`2.06\cdot10^{-9}`.

    ``target`` must have the shape of ``logits`` (nothing is broadcast) and values in [0, 1]; an
    array of ints, bools or floats is cast to the logits' dtype.
    """
    who = "binary_cross_entropy_with_logits"
    z, t = _loss_pair(logits, "logits", target, "target", who)
    check_choice(reduction, "reduction", who, ("mean", "sum", "none"))
    xp = get_xp(t.data)
    if t.size and not bool(xp.all((t.data >= 0) & (t.data <= 1))):
        raise bad(who, "target", "hold values in [0, 1] (probabilities of the label 1)", target,
                  shown=f"values in [{float(xp.min(t.data))}, {float(xp.max(t.data))}]")
    ### BEGIN SOLUTION
    # -t log sigma(z) - (1 - t) log(1 - sigma(z)) = t softplus(-z) + (1 - t) softplus(z)
    return _reduce(_AF.softplus(-z) * t + _AF.softplus(z) * (1 - t), reduction, who)
    ### END SOLUTION


def mse_loss(x, target, reduction="mean"):
    r"""Mean squared error :math:`\frac1n\sum_i (x_i - t_i)^2`; ``target`` must have the shape of ``x``
    (nothing is broadcast: a (8, 1) against an (8,) would average an (8, 8) table)."""
    x, t = _loss_pair(x, "x", target, "target", "mse_loss")
    check_choice(reduction, "reduction", "mse_loss", ("mean", "sum", "none"))
    d = x - t
    return _reduce(d * d, reduction, "mse_loss")


def _loss_pair(x, x_name, target, t_name, who):
    """``x`` as a float Tensor and ``target`` as a Tensor of its dtype (arrays of real numbers are cast),
    both of one shape."""
    if not isinstance(x, Tensor):
        check_real_array(x, x_name, who)
        x = tensor(x)
    check_real_array(x, x_name, who)
    if not isinstance(target, Tensor):
        if hasattr(target, "dtype"):
            check_real_array(target, t_name, who, kinds="biuf")
        target = tensor(target, dtype=x.dtype)
    check_real_array(target, t_name, who)
    check_same_shape(x, x_name, target, t_name, who)
    return x, target


def _reduce(loss, reduction, who):
    """Per-element losses reduced as PyTorch's ``reduction=`` says: "mean", "sum" or "none"."""
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{who}: reduction must be 'mean', 'sum' or 'none', received {reduction!r}")
