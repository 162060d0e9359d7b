r"""An MLP denoiser that sees its input through Fourier features, for narrow low-dimensional mixtures.

References
----------
* Tancik et al. (2020), *Fourier Features Let Networks Learn High Frequency Functions in Low
  Dimensional Domains*, Eq. 5 and Sec. 4: an MLP on raw coordinates learns the low frequencies of a
  function first and the high ones very slowly (the "spectral bias"); mapping the input to
  :math:`\gamma(v) = [\cos 2\pi Bv, \sin 2\pi Bv]` first lets it fit sharp functions.
* Ho, Jain & Abbeel (2020), Eq. 11: the network predicts the noise; the time embedding is that of
  :func:`scratchgen.diffusion.models.timestep_embedding`.

Why here: on the 5×5 grid (σ = 0.05 at spacing 2; 0.018 and 0.71 after the trainer's scaling) the
optimal :math:`\varepsilon^*(x_t, t)` at small t is a saw-tooth in :math:`x_t` with 5 teeth per axis,
jumps of size spacing/noise between the modes (:mod:`scratchgen.diffusion.mixture`). A SiLU MLP on
:math:`(x_t, e(t))` smooths the jumps, and samples stay on the lines between modes
(docs/diffusion.md, section 8).

Conventions as in :mod:`scratchgen.diffusion.models`: ``model(x_t, t)``, x_t (B, D) array or Tensor,
t an int array (B,); returns a Tensor (B, D).
"""
from __future__ import annotations

from .. import autodiff as ad
from .. import nn
from ..autodiff import Tensor
from ..backend import get_xp
from ..validate import check_int, check_number
from .models import timestep_embedding

__all__ = ["fourier_frequencies", "fourier_features", "FourierMLPDenoiser"]


def fourier_frequencies(n_freqs: int, omega_max: float, xp, dtype):
    r"""Angular frequencies :math:`\omega_i = \omega_\max^{\,i/(n-1)}`, i = 0..n-1: geometric from 1 to
    :math:`\omega_\max` (one frequency, 1, when n = 1). Returns an array (n,)."""
    check_int(n_freqs, "n_freqs", "fourier_frequencies", min=1)
    check_number(omega_max, "omega_max", "fourier_frequencies", min=1)
    if n_freqs == 1:
        return xp.ones(1, dtype=dtype)
    i = xp.arange(n_freqs, dtype=xp.float64)
    return (float(omega_max) ** (i / (n_freqs - 1))).astype(dtype)


def fourier_features(x, omega):
    r""":math:`\gamma(x) = [x,\ \sin(x_d\,\omega_i),\ \cos(x_d\,\omega_i)]_{d, i}` (Tancik et al. Eq. 5 with an
    axis-aligned B, the raw x kept), x a Tensor (B, D), omega (n,) → Tensor (B, D + 2Dn).

    The sines and cosines are Tensor operations, so gradients with respect to x flow through them."""
    B, D = x.shape
    n = omega.shape[0]
    arg = ad.reshape(x, (B, D, 1)) * omega  # (B, D, n): x_d omega_i
    return ad.concatenate([x, ad.reshape(arg.sin(), (B, D * n)), ad.reshape(arg.cos(), (B, D * n))], axis=1)


class FourierMLPDenoiser(nn.Module):
    r"""The MLP of :class:`~scratchgen.diffusion.models.MLPDenoiser` on :math:`[\gamma(x_t),\ \mathrm{SiLU}(W_e e(t) + b_e)]`.

    .. math:: h_0 = [\gamma(x_t),\ \mathrm{SiLU}(W_e\,e(t) + b_e)],\quad h_{k+1} = \mathrm{SiLU}(W_k h_k + b_k),
              \quad \varepsilon_\theta = W_\mathrm{out} h_L + b_\mathrm{out}

    with :math:`\gamma` from :func:`fourier_features` at ``n_freqs`` frequencies from 1 to ``omega_max``
    (in the model's scaled units: a frequency ω resolves details of size about 1/ω). The only change
    from the plain MLP is the width of the first layer: D(1 + 2n) + time_dim inputs.
    """

    def __init__(self, data_dim: int = 2, hidden: int = 256, n_hidden: int = 3, time_dim: int = 64,
                 n_freqs: int = 16, omega_max: float = 64.0, dtype=None, generator=None):
        super().__init__()
        who = "FourierMLPDenoiser"
        check_int(n_hidden, "n_hidden", who, min=1)
        check_int(n_freqs, "n_freqs", who, min=1)
        check_number(omega_max, "omega_max", who, min=1)
        from ..backend import rng

        g = rng(generator)
        self.data_dim, self.time_dim = int(data_dim), int(time_dim)
        self.n_freqs, self.omega_max = int(n_freqs), float(omega_max)
        n_in = self.data_dim * (1 + 2 * self.n_freqs) + self.time_dim  # [gamma(x), e]
        self.time_proj = nn.Linear(time_dim, time_dim, dtype=dtype, generator=g)
        layers = [nn.Linear(n_in, hidden, dtype=dtype, generator=g), nn.SiLU(inplace=True)]
        for _ in range(n_hidden - 1):
            layers += [nn.Linear(hidden, hidden, dtype=dtype, generator=g), nn.SiLU(inplace=True)]
        layers.append(nn.Linear(hidden, data_dim, dtype=dtype, generator=g))
        self.net = nn.Sequential(*layers)

    def forward(self, xt, t):
        if xt.ndim != 2 or xt.shape[1] != self.data_dim:
            raise ValueError(f"FourierMLPDenoiser: x_t must have shape (B, {self.data_dim}), got {tuple(xt.shape)}")
        if not isinstance(xt, Tensor):
            xt = ad.tensor(xt)
        w = self.time_proj.weight.data
        omega = fourier_frequencies(self.n_freqs, self.omega_max, get_xp(w), w.dtype)  # (n,)
        emb = timestep_embedding(t, self.time_dim, like=w)  # (B, time_dim)
        if emb.shape[0] != xt.shape[0]:
            raise ValueError(f"FourierMLPDenoiser: t has {emb.shape[0]} rows but x_t has {xt.shape[0]}")
        h_t = nn.functional.silu(self.time_proj(emb), inplace=True)  # (B, time_dim)
        return self.net(ad.concatenate([fourier_features(xt, omega), h_t], axis=1))  # (B, D)
