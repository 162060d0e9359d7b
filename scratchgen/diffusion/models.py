r"""Denoisers :math:`\varepsilon_\theta(x_t, t)`: an MLP for 2-D toy data, a small CNN for 8×8 images.

References
----------
* Ho, Jain & Abbeel (2020), DDPM: the network predicts the noise, Eq. 11; the timestep enters
  through the Transformer sinusoidal position embedding (their Appendix B; the code's
  ``get_timestep_embedding``).
* Vaswani et al. (2017), *Attention Is All You Need*, Sec. 3.5: the sinusoidal embedding.
* Ho et al.'s U-Net (their Appendix B; Ronneberger et al. 2015; the residual blocks of
  Zagoruyko & Komodakis 2016), of which :class:`ConvDenoiser` is a two-resolution miniature.

Conventions
-----------
t runs 1..T as in Ho (see :mod:`scratchgen.diffusion.schedules`) and is embedded as given.
A model is called as ``model(x_t, t)`` with ``x_t`` of shape (B, D) (MLP) or (B, C, H, W)
(CNN), an array or a Tensor, and ``t`` an int array of shape (B,); it returns a Tensor of
x_t's shape.
"""
from __future__ import annotations

import math

from .. import autodiff as ad
from .. import nn
from ..autodiff import Tensor
from ..backend import get_xp, to_numpy

__all__ = ["timestep_embedding", "check_time_dim", "MLPDenoiser", "ConvDenoiser"]


def check_time_dim(time_dim, who):
    """A config's ``time_dim`` as :func:`timestep_embedding` needs it: even and >= 4 (sines and cosines in
    pairs, at least two frequencies). Raises :class:`~scratchgen.validate.BadValue`."""
    from ..validate import bad, check_int

    check_int(time_dim, "time_dim", who, min=1)
    if time_dim % 2 or time_dim < 4:
        raise bad(who, "time_dim", "be even and >= 4", time_dim, "the embedding holds sines and cosines in pairs")


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
    # sin and cos (in float64) once per distinct t, then one row per sample: a sampler's batch
    # shares one t, so this is one row of work instead of B
    t_u, row = xp.unique(xp.asarray(t_np), return_inverse=True)  # (U,), (B,): t = t_u[row]
    arg = t_u.astype(xp.float64)[:, None] * omega[None, :]  # (U, h)
    e_u = xp.concatenate([xp.sin(arg), xp.cos(arg)], axis=1).astype(dtype)  # (U, dim)
    return e_u[row.reshape(-1)]  # (B, dim)


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
        # SiLU in place: under no_grad (sampling) it overwrites the fresh output of the Linear before it
        layers = [nn.Linear(data_dim + time_dim, hidden, dtype=dtype, generator=g), nn.SiLU(inplace=True)]
        for _ in range(n_hidden - 1):
            layers += [nn.Linear(hidden, hidden, dtype=dtype, generator=g), nn.SiLU(inplace=True)]
        layers.append(nn.Linear(hidden, data_dim, dtype=dtype, generator=g))
        self.net = nn.Sequential(*layers)
        # the layers after the first, as one Sequential for the sampling path; not registered (the
        # same layer objects as self.net's, whose names the checkpoints keep)
        object.__setattr__(self, "_tail", nn.Sequential(*layers[1:]))

    def forward(self, xt, t):
        if xt.ndim != 2 or xt.shape[1] != self.data_dim:
            raise ValueError(f"MLPDenoiser: x_t must have shape (B, {self.data_dim}), got {tuple(xt.shape)}")
        if not isinstance(xt, Tensor):
            xt = ad.tensor(xt)
        w = self.time_proj.weight
        if not ad.is_grad_enabled() and to_numpy(t).shape == (xt.shape[0],):  # sampling: the time
            return self._forward_shared_t(xt, t)  # branch once per distinct t
        emb = timestep_embedding(t, self.time_dim, like=w.data)  # (B, time_dim)
        if emb.shape[0] != xt.shape[0]:
            raise ValueError(f"MLPDenoiser: t has {emb.shape[0]} rows but x_t has {xt.shape[0]}")
        h_t = nn.functional.silu(self.time_proj(emb), inplace=True)  # (B, time_dim)
        return self.net(ad.concatenate([xt, h_t], axis=1))  # (B, D)

    def _forward_shared_t(self, xt, t):
        r"""The same function, with the work that depends on t alone done once per distinct t.

        Split the first layer's weight by its inputs, :math:`W_0 = [W_x\ W_h]`: then
        :math:`W_0 [x_t, h(t)] + b_0 = W_x x_t + (W_h h(t) + b_0)`, and the bracket (with the time
        branch :math:`h(t) = \mathrm{SiLU}(W_e e(t) + b_e)` inside it) is a function of t only. A
        sampler's batch shares one t, so the bracket is one row of work instead of B: the
        (B, time_dim) embedding, its layer and the time_dim columns of the first layer drop out of
        the hot loop. The result equals :meth:`forward`'s up to the order of a float sum
        (``tests/diffusion/test_models.py::test_mlp_shared_t_path_matches_the_recorded_path``).
        """
        xp = get_xp(xt.data)
        t_u, row = xp.unique(xp.asarray(to_numpy(t)), return_inverse=True)  # t = t_u[row]
        first = self.net[0]
        W_x, W_h = first.weight[:, :self.data_dim], first.weight[:, self.data_dim:]  # (H, D), (H, time_dim)
        e_u = timestep_embedding(t_u, self.time_dim, like=first.weight.data)  # (U, time_dim)
        h_u = nn.functional.silu(self.time_proj(e_u), inplace=True)  # (U, time_dim)
        c_u = nn.functional.linear(h_u, W_h, first.bias)  # (U, H): W_h h(t) + b_0
        a = nn.functional.linear(xt, W_x)  # (B, H): W_x x_t
        a.data += c_u.data if c_u.shape[0] == 1 else c_u.data[row.reshape(-1)]  # fresh array: add in place
        return self._tail(a)  # SiLU, the hidden layers, the output layer (in blocks of rows)


class _ResBlock(nn.Module):
    r"""A residual block with the time embedding added in the middle (Ho's U-Net block, no norm).

    .. math:: h = W_1 * \mathrm{SiLU}(x) + (W_e\,\mathrm{SiLU}(e_t))[:, :, \mathrm{None}, \mathrm{None}],
              \qquad y = x + W_2 * \mathrm{SiLU}(h)

    (``*`` a 3×3 convolution with padding 1, so the spatial size is kept). Ho et al. use
    GroupNorm before each SiLU; at 8×8 with a few channels the block trains without it.
    """

    def __init__(self, channels, emb_dim, dtype=None, generator=None):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, dtype=dtype, generator=generator)
        self.emb = nn.Linear(emb_dim, channels, dtype=dtype, generator=generator)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, dtype=dtype, generator=generator)

    def forward(self, x, emb):
        silu = nn.functional.silu
        h = self.conv1(silu(x))  # (B, C, H, W); x is kept for the skip
        e = self.emb(emb)  # (B, C)
        h = h + ad.reshape(e, (e.shape[0], e.shape[1], 1, 1))
        return x + self.conv2(silu(h, inplace=True))  # h: nothing else needs it


class ConvDenoiser(nn.Module):
    r"""A small convolutional :math:`\varepsilon_\theta(x_t, t)` for 8×8 images: a two-level U-Net.

    .. code-block:: text

        e  = SiLU(W_e e(t) + b_e)                               time embedding, (B, E)
        h0 = conv3x3(x_t)                                       (B, C, 8, 8)
        h1 = ResBlock(h0, e)                                    (B, C, 8, 8)   skip
        d  = conv3x3, stride 2 (h1); ResBlock; ResBlock         (B, 2C, 4, 4)
        u  = convT 4x4, stride 2 (d)                            (B, C, 8, 8)
        h  = conv1x1([u, h1]); ResBlock                         (B, C, 8, 8)
        eps_theta = conv3x3(SiLU(h))                            (B, in, 8, 8), zero-initialised

    The last convolution starts at zero, so training begins from
    :math:`\varepsilon_\theta = 0` (the prediction of the prior mean), as in Ho's code
    (``zero_module``). Any H, W divisible by 2 work; the shipped digits are 8×8.

    Parameters
    ----------
    in_channels : int
        Image channels (1 for the digits).
    channels : int
        C, the width at full resolution.
    time_dim : int
        Size of the sinusoidal embedding (even); the embedding MLP has width 2·time_dim.
    generator : seed or Generator, optional
    """

    def __init__(self, in_channels: int = 1, channels: int = 32, time_dim: int = 32, dtype=None, generator=None):
        super().__init__()
        from ..backend import rng

        g = rng(generator)
        C, E = int(channels), 2 * int(time_dim)
        self.in_channels, self.time_dim = int(in_channels), int(time_dim)
        self.time_proj = nn.Linear(time_dim, E, dtype=dtype, generator=g)
        self.conv_in = nn.Conv2d(in_channels, C, 3, padding=1, dtype=dtype, generator=g)
        self.block_hi = _ResBlock(C, E, dtype, g)
        self.down = nn.Conv2d(C, 2 * C, 3, stride=2, padding=1, dtype=dtype, generator=g)
        self.block_lo1 = _ResBlock(2 * C, E, dtype, g)
        self.block_lo2 = _ResBlock(2 * C, E, dtype, g)
        self.up = nn.ConvTranspose2d(2 * C, C, 4, stride=2, padding=1, dtype=dtype, generator=g)
        self.merge = nn.Conv2d(2 * C, C, 1, dtype=dtype, generator=g)
        self.block_out = _ResBlock(C, E, dtype, g)
        self.conv_out = nn.Conv2d(C, in_channels, 3, padding=1, dtype=dtype, generator=g)
        self.conv_out.weight.data[...] = 0
        self.conv_out.bias.data[...] = 0

    def forward(self, xt, t):
        if xt.ndim != 4 or xt.shape[1] != self.in_channels or xt.shape[2] % 2 or xt.shape[3] % 2:
            raise ValueError(f"ConvDenoiser: x_t must have shape (B, {self.in_channels}, H, W) with even H, W, "
                             f"got {tuple(xt.shape)}")
        if not isinstance(xt, Tensor):
            xt = ad.tensor(xt)
        return self.unet(xt, self.embed(t, xt.shape[0]))

    def embed(self, t, batch):
        r"""The time embedding :math:`e = \mathrm{SiLU}(W_e\,e(t) + b_e)`: (B, E)."""
        emb = timestep_embedding(t, self.time_dim, like=self.time_proj.weight.data)  # (B, time_dim)
        if emb.shape[0] != batch:
            raise ValueError(f"ConvDenoiser: t has {emb.shape[0]} rows but x_t has {batch}")
        return nn.functional.silu(self.time_proj(emb), inplace=True)  # (B, E)

    def unet(self, xt, e, h_edit=None):
        r"""The network below the embedding: x_t (B, in, H, W) and e (B, E) to :math:`\varepsilon_\theta`.

        ``h_edit``, optional: a function of the bottleneck d (B, 2C, H/2, W/2), the h-space of Kwon et
        al. (2023), whose result replaces d (to read it or to shift it; see ``diffusion.hspace``).
        """
        silu = nn.functional.silu
        h1 = self.block_hi(self.conv_in(xt), e)  # (B, C, H, W)
        d = self.block_lo2(self.block_lo1(self.down(h1), e), e)  # (B, 2C, H/2, W/2)
        if h_edit is not None:
            d = h_edit(d)
        h = self.merge(ad.concatenate([self.up(d), h1], axis=1))  # (B, C, H, W)
        h = self.block_out(h, e)
        return self.conv_out(silu(h, inplace=True))  # (B, in, H, W)
