r"""Denoisers :math:`\varepsilon_\theta(x_t, t)` for 2-D toy data.

References
----------
* Ho, Jain & Abbeel (2020), DDPM: the network predicts the noise, Eq. 11; the timestep enters
  through the Transformer sinusoidal position embedding (their Appendix B; the code's
  ``get_timestep_embedding``).
* Vaswani et al. (2017), *Attention Is All You Need*, Sec. 3.5: the sinusoidal embedding.

Conventions
-----------
t runs 1..T as in Ho (see :mod:`scratchgen.diffusion.schedules`) and is embedded as given.
A model is called as ``model(x_t, t)`` with ``x_t`` of shape (B, D) (array or Tensor) and
``t`` an int array of shape (B,), and returns a Tensor of shape (B, D).
"""
from __future__ import annotations

import math

from .. import autodiff as ad
from .. import nn
from ..autodiff import Tensor
from ..backend import get_xp, to_numpy

__all__ = ["timestep_embedding", "MLPDenoiser"]


def timestep_embedding(t, dim: int, like=None, max_period: float = 10000.0):
    r"""Sinusoidal embedding of integer timesteps (Vaswani et al. Sec. 3.5; Ho's code).

    .. math:: e(t) = \big[\sin(t\,\omega_0), \dots, \sin(t\,\omega_{h-1}),\ \cos(t\,\omega_0), \dots,
              \cos(t\,\omega_{h-1})\big],\qquad \omega_i = P^{-i/(h-1)},\ h = \mathrm{dim}/2,\ P = 10^4

    Frequencies run geometrically from 1 to :math:`1/P`, so nearby t differ in the fast
    components and distant t in the slow ones.

    Parameters
    ----------
    t : int array, shape (B,)
    dim : int, even, >= 4
    like : array or Tensor, optional
        The result takes its dtype and backend (default float32 on the active backend).

    Returns
    -------
    array, shape (B, dim)
    """
    if dim < 4 or dim % 2:
        raise ValueError(f"timestep_embedding: dim must be even and >= 4, got {dim}")
    xp = get_xp(like) if like is not None else get_xp()
    dtype = like.dtype if like is not None else xp.float32
    t_np = to_numpy(t)
    if t_np.ndim != 1 or t_np.dtype.kind not in "iu":
        raise ValueError(f"timestep_embedding: t must be an int array of shape (B,), got shape {t_np.shape}, dtype {t_np.dtype}")
    half = dim // 2
    # $\omega_i = P^{-i/(h-1)}$
    omega = xp.exp(-math.log(max_period) / (half - 1) * xp.arange(half, dtype=xp.float64))  # (h,)
    arg = xp.asarray(t_np, dtype=xp.float64)[:, None] * omega[None, :]  # (B, h)
    return xp.concatenate([xp.sin(arg), xp.cos(arg)], axis=1).astype(dtype)  # (B, dim)


class MLPDenoiser(nn.Module):
    r"""An MLP :math:`\varepsilon_\theta(x_t, t)` for low-dimensional data.

    .. math:: h_0 = [x_t,\ \mathrm{SiLU}(W_e\,e(t) + b_e)],\quad h_{k+1} = \mathrm{SiLU}(W_k h_k + b_k),
              \quad \varepsilon_\theta = W_\mathrm{out} h_L + b_\mathrm{out}

    with :math:`e(t)` from :func:`timestep_embedding`.

    Parameters
    ----------
    data_dim : int
        D, the data dimension (2 for the toy sets).
    hidden : int
        Width of the hidden layers.
    n_hidden : int
        Number of hidden layers L (>= 1).
    time_dim : int
        Size of the sinusoidal embedding (even).
    generator : seed or Generator, optional
        For the initialisation.
    """

    def __init__(self, data_dim: int = 2, hidden: int = 128, n_hidden: int = 3, time_dim: int = 32,
                 dtype=None, generator=None):
        super().__init__()
        if n_hidden < 1:
            raise ValueError(f"MLPDenoiser: n_hidden must be >= 1, got {n_hidden}")
        from ..backend import rng

        g = rng(generator)
        self.data_dim, self.time_dim = int(data_dim), int(time_dim)
        self.time_proj = nn.Linear(time_dim, time_dim, dtype=dtype, generator=g)
        layers = [nn.Linear(data_dim + time_dim, hidden, dtype=dtype, generator=g), nn.SiLU()]
        for _ in range(n_hidden - 1):
            layers += [nn.Linear(hidden, hidden, dtype=dtype, generator=g), nn.SiLU()]
        layers.append(nn.Linear(hidden, data_dim, dtype=dtype, generator=g))
        self.net = nn.Sequential(*layers)

    def forward(self, xt, t):
        if xt.ndim != 2 or xt.shape[1] != self.data_dim:
            raise ValueError(f"MLPDenoiser: x_t must have shape (B, {self.data_dim}), got {tuple(xt.shape)}")
        if not isinstance(xt, Tensor):
            xt = ad.tensor(xt)
        w = self.time_proj.weight
        emb = timestep_embedding(t, self.time_dim, like=w.data)  # (B, time_dim)
        if emb.shape[0] != xt.shape[0]:
            raise ValueError(f"MLPDenoiser: t has {emb.shape[0]} rows but x_t has {xt.shape[0]}")
        h_t = nn.functional.silu(self.time_proj(emb))  # (B, time_dim)
        return self.net(ad.concatenate([xt, h_t], axis=1))  # (B, D)
