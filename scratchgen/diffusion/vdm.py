r"""Variational Diffusion Models in continuous time: a learned SNR(t) and the bound in bits per dimension.

References
----------
* Kingma, Salimans, Poole & Ho (2021), *Variational Diffusion Models* ("Kingma"):
  Sec. 3.1-3.2, the forward process :math:`q(z_t \mid x) = \mathcal N(\alpha_t x, \sigma_t^2 I)`,
  variance preserving, :math:`\alpha_t^2 = \mathrm{sigmoid}(-\gamma(t))`,
  :math:`\sigma_t^2 = \mathrm{sigmoid}(\gamma(t))`, so :math:`\mathrm{SNR}(t) = \alpha_t^2/\sigma_t^2 =
  e^{-\gamma(t)}`, with :math:`\gamma_\eta` a monotone network (positive weights) whose endpoints
  :math:`\gamma_0, \gamma_1` are learned apart from its shape;
  Sec. 3.5, the variational bound :math:`-\log p(x) \le \mathrm{KL}(q(z_1|x)\,\|\,p(z_1))
  + \mathbb E_{q(z_0|x)}[-\log p(x|z_0)] + \mathcal L_T(x)` (prior, reconstruction, diffusion loss);
  Sec. 4, the discrete-time diffusion loss :math:`\mathcal L_T`; Sec. 5, its limit
  :math:`\mathcal L_\infty` (Sec. 5.1: invariant to the schedule between its endpoints; Sec. 5.3:
  the schedule's shape trained to minimise the estimator's variance); Appendix (low-discrepancy
  times). Equation numbers are not quoted: we could not check them against the paper offline.
* Their code (github.com/google-research/vdm, ``model_vdm.py``): the decoder :math:`p(x|z_0)` with the
  rescaled :math:`z_0/\alpha_0`, the NNet schedule ``2 (sigmoid(u) - 1/2)`` non-linearity, and the
  denoiser conditioned on :math:`\gamma_t` mapped to [0, 1].

Conventions
-----------
* Continuous time t in [0, 1]: t = 0 is the data end (:math:`\gamma_0`, high SNR), t = 1 the noise
  end (:math:`\gamma_1`, low SNR); :math:`\gamma` increases with t.
* :math:`\gamma(t) = \gamma_0 + (\gamma_1 - \gamma_0)\,s(t)`: every schedule here is its two endpoints
  and a *shape* s, increasing from s(0) = 0 to s(1) = 1. ``shape(t)`` returns :math:`(s(t), s'(t))`.
* A denoiser is ``eps_model(z_t, gamma_t) -> eps_hat``: it sees :math:`\gamma_t` (shape (B,)), not t,
  so as a function of the SNR it does not depend on the schedule (what the invariance is about).
* Data x has shape (B, ...) and lies on a grid of ``levels`` values evenly spaced in [-1, 1]
  (the digits: 17 levels, :math:`x = k/8 - 1`). Losses are per example, in nats summed over the data
  axes; :func:`bits_per_dim` divides by :math:`D \ln 2`.
* The text writes :math:`\mathcal L_\infty = -\tfrac12\,\mathbb E\,\mathrm{SNR}'(t)\lVert x -
  \hat x\rVert^2`; in :math:`\varepsilon` that is :math:`+\tfrac12\,\mathbb E\,\gamma'(t)\lVert\varepsilon
  - \hat\varepsilon\rVert^2` (:math:`\mathrm{SNR}' = -\gamma' \mathrm{SNR}` and
  :math:`\lVert\varepsilon - \hat\varepsilon\rVert^2 = \mathrm{SNR}\lVert x - \hat x\rVert^2`): positive.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from .. import autodiff as ad
from .. import nn
from ..autodiff import Tensor
from ..autodiff.tensor import no_grad
from ..backend import default_dtype, get_xp
from ..backend import rng as _rng
from ..validate import bad, check_choice, check_int, check_number
from .ddpm import sample_timesteps

__all__ = ["GAMMA_MIN", "GAMMA_MAX", "TIME_RESOLUTION", "alpha_sigma", "snr", "FixedLinearGamma", "LinearGamma",
           "MonotoneGamma", "make_gamma", "GAMMA_KINDS", "gamma_prime_autodiff", "sample_times", "q_sample",
           "continuous_loss", "discrete_loss", "prior_loss", "reconstruction_loss", "level_values", "level_index",
           "bits_per_dim", "VLBTerms", "vlb_terms", "variance_gradient", "sample"]

#: the endpoints the schedules start from (Kingma's defaults): SNR from e^{13.3} down to e^{-5}
GAMMA_MIN, GAMMA_MAX = -13.3, 5.0
#: continuous t is drawn on a grid of 2^20 cells (:func:`sample_timesteps`) plus a uniform offset in the cell
TIME_RESOLUTION = 2 ** 20
GAMMA_KINDS = ("fixed", "linear", "learned")


def _tensor(x):
    """x as a Tensor: a float array keeps its dtype, a Python number takes the default float dtype."""
    if isinstance(x, Tensor):
        return x
    xp = get_xp()
    is_float_array = hasattr(x, "dtype") and x.dtype.kind == "f"
    return Tensor(xp.asarray(x, dtype=x.dtype if is_float_array else default_dtype()))


def _per_row(v, x):
    """(B,) -> (B, 1, ..., 1), to broadcast over the data axes of x."""
    return ad.reshape(v, (v.shape[0],) + (1,) * (x.ndim - 1))


def _sum_data_axes(v):
    return ad.sum(v, axis=tuple(range(1, v.ndim))) if v.ndim > 1 else v


# ---------------------------------------------------------------------------
# The forward process in gamma
# ---------------------------------------------------------------------------
def alpha_sigma(gamma):
    r""":math:`(\alpha, \sigma) = \big(\sqrt{\mathrm{sigmoid}(-\gamma)},\ \sqrt{\mathrm{sigmoid}(\gamma)}\big)`
    (Kingma Sec. 3.2): variance preserving, :math:`\alpha^2 + \sigma^2 = 1`, :math:`\alpha^2/\sigma^2 = e^{-\gamma}`."""
    gamma = _tensor(gamma)
    return ad.sqrt(ad.sigmoid(-gamma)), ad.sqrt(ad.sigmoid(gamma))


def snr(gamma):
    r""":math:`\mathrm{SNR} = e^{-\gamma}`."""
    return ad.exp(-_tensor(gamma))


def q_sample(x, gamma_t, eps):
    r""":math:`z_t = \alpha_t x + \sigma_t \varepsilon` (Kingma Sec. 3.1), per row; x, eps (B, ...), gamma_t (B,)."""
    alpha, sigma = alpha_sigma(gamma_t)
    return _per_row(alpha, x) * x + _per_row(sigma, x) * eps


# ---------------------------------------------------------------------------
# Schedules: gamma(t) = gamma_0 + (gamma_1 - gamma_0) s(t)
# ---------------------------------------------------------------------------
class _Gamma(nn.Module):
    """A schedule: its endpoints (``endpoints()``) and its shape (``shape(t)``); ``self(t)`` is gamma(t)."""

    #: whether the shape has parameters (trained to minimise the loss's variance, :func:`variance_gradient`)
    learns_shape = False

    def endpoints(self):
        """(gamma_0, gamma_1), Tensors of shape () (fixed) or (1,) (learned)."""
        raise NotImplementedError

    def dtype(self):
        arrays = [p.data for p in self.parameters()] + self.buffers()
        return arrays[0].dtype

    def times(self, t):
        """t as a Tensor (B,) in the schedule's dtype; a Tensor is kept (the autodiff derivative traces it)."""
        if isinstance(t, Tensor):
            return t
        xp = get_xp()
        t = xp.asarray(t, dtype=self.dtype())
        t = t.reshape(1) if t.ndim == 0 else t
        if t.ndim != 1 or t.size == 0 or not bool(xp.all((t >= 0) & (t <= 1))):
            raise bad(type(self).__name__, "t", "be a non-empty 1-D array of times in [0, 1]",
                      t, shown=f"shape {tuple(t.shape)}, range [{float(t.min()):.3g}, {float(t.max()):.3g}]")
        return Tensor(t)

    def shape(self, t):
        r""":math:`(s(t), s'(t))`, Tensors (B,)."""
        raise NotImplementedError

    def from_shape(self, s, ds):
        r""":math:`\gamma = \gamma_0 + (\gamma_1 - \gamma_0)\,s`, :math:`\gamma' = (\gamma_1 - \gamma_0)\,s'`."""
        g0, g1 = self.endpoints()
        return g0 + (g1 - g0) * s, (g1 - g0) * ds

    def forward(self, t):
        return self.from_shape(*self.shape(self.times(t)))[0]

    def derivative(self, t):
        r""":math:`\gamma'(t)` from the explicit derivative of the shape."""
        return self.from_shape(*self.shape(self.times(t)))[1]


class FixedLinearGamma(_Gamma):
    r""":math:`\gamma(t) = \gamma_0 + (\gamma_1 - \gamma_0)\,t` with fixed endpoints: nothing to learn."""

    def __init__(self, gamma_0=GAMMA_MIN, gamma_1=GAMMA_MAX, dtype=None):
        super().__init__()
        check_number(gamma_1, "gamma_1", type(self).__name__, min=gamma_0, min_open=True,
                     fix="gamma rises from gamma_0 (data) to gamma_1 (noise)")
        xp = get_xp()
        self.register_buffer("gamma_0", xp.asarray(gamma_0, dtype=dtype or default_dtype()))
        self.register_buffer("gamma_1", xp.asarray(gamma_1, dtype=dtype or default_dtype()))

    def endpoints(self):
        return Tensor(self.gamma_0), Tensor(self.gamma_1)

    def shape(self, t):
        return t, Tensor(get_xp(t.data).ones_like(t.data))  # s = t, s' = 1


class LinearGamma(FixedLinearGamma):
    r""":math:`\gamma(t) = \gamma_0 + (\gamma_1 - \gamma_0)\,t` with learned endpoints, :math:`\gamma_1 = \gamma_0 +
    \mathrm{softplus}(\rho)` so that it rises for any parameters (Kingma's ``NoiseSchedule_Scalar``)."""

    def __init__(self, gamma_0=GAMMA_MIN, gamma_1=GAMMA_MAX, dtype=None):
        nn.Module.__init__(self)
        check_number(gamma_1, "gamma_1", type(self).__name__, min=gamma_0, min_open=True,
                     fix="gamma rises from gamma_0 (data) to gamma_1 (noise)")
        xp, dt = get_xp(), dtype or default_dtype()
        gap = gamma_1 - gamma_0
        # shape (1,), not 0-d: Optimizer.load_state_dict turns the Adam moments of a 0-d parameter into Python floats
        self.g0 = nn.Parameter(xp.full((1,), gamma_0, dtype=dt))
        # softplus^{-1}(gap) = gap + log(1 - e^{-gap})
        self.rho = nn.Parameter(xp.full((1,), gap + math.log(-math.expm1(-gap)), dtype=dt))

    def endpoints(self):
        return self.g0, self.g0 + ad.softplus(self.rho)

    def endpoint_parameters(self):
        """The parameters of the endpoints: gamma_0 and rho."""
        return [self.g0, self.rho]

    def shape_parameters(self):
        """eta, the parameters of the shape: none for a linear schedule."""
        return []


class MonotoneGamma(LinearGamma):
    r"""A learned monotone schedule: learned endpoints and a learned shape (Kingma Sec. 3.2 and 5.3).

    .. math:: \tilde\gamma(t) = w_1 t + \tfrac1K\, w_3^\top \phi\big(w_2 (2t - 1) + b_2\big),\qquad
              \phi(u) = 2\,\mathrm{sigmoid}(u) - 1,\qquad
              s(t) = \frac{\tilde\gamma(t) - \tilde\gamma(0)}{\tilde\gamma(1) - \tilde\gamma(0)}

    with every weight positive, :math:`w = \mathrm{softplus}(\rho)`, so :math:`\tilde\gamma` is
    strictly increasing and s rises from 0 to 1 for any parameters (Kingma's ``DenseMonotone`` takes
    :math:`|w|` instead, which is not smooth at 0). The explicit derivative, used in the loss:

    .. math:: \tilde\gamma'(t) = w_1 + \tfrac2K \sum_k w_{3k}\, w_{2k}\, \phi'(u_k),\quad
              \phi'(u) = 2\,\mathrm{sigmoid}(u)\,\mathrm{sigmoid}(-u),\qquad
              s'(t) = \frac{\tilde\gamma'(t)}{\tilde\gamma(1) - \tilde\gamma(0)}

    Parameters
    ----------
    gamma_0, gamma_1 : float
        The endpoints it starts from.
    n_features : int
        K, the hidden width (Kingma: 1024).
    """

    learns_shape = True

    def __init__(self, gamma_0=GAMMA_MIN, gamma_1=GAMMA_MAX, n_features=64, dtype=None, generator=None):
        super().__init__(gamma_0, gamma_1, dtype)
        check_int(n_features, "n_features", "MonotoneGamma", min=1)
        g, xp, dt = _rng(generator), get_xp(), dtype or default_dtype()
        K = self.K = int(n_features)
        self.rho_1 = nn.Parameter(xp.full((1,), math.log(math.e - 1), dtype=dt))  # w_1 = 1
        self.rho_2 = nn.Parameter(g.standard_normal(K).astype(dt))  # (K,)
        self.b_2 = nn.Parameter(g.standard_normal(K).astype(dt))  # (K,)
        self.rho_3 = nn.Parameter(g.standard_normal(K).astype(dt))  # (K,)

    def shape_parameters(self):
        """eta: the parameters of the shape (not the endpoints)."""
        return [self.rho_1, self.rho_2, self.b_2, self.rho_3]

    def tilde(self, t):
        r""":math:`(\tilde\gamma(t), \tilde\gamma'(t))`, Tensors (B,)."""
        w1, w2, w3 = ad.softplus(self.rho_1), ad.softplus(self.rho_2), ad.softplus(self.rho_3)
        t2 = ad.reshape(t, (t.shape[0], 1))  # (B, 1)
        u = (2 * t2 - 1) * w2 + self.b_2  # (B, K)
        sig = ad.sigmoid(u)
        phi = 2 * sig - 1  # $\phi(u) = 2\,\mathrm{sigmoid}(u) - 1$
        dphi = 2 * sig * ad.sigmoid(-u)  # $\phi'(u)$
        g = w1 * t + ad.sum(phi * w3, axis=1) / self.K  # (B,)
        dg = w1 + ad.sum(dphi * (2 * w2) * w3, axis=1) / self.K  # (B,)
        return g, dg

    def shape(self, t):
        ends, _ = self.tilde(Tensor(get_xp().asarray([0.0, 1.0], dtype=self.dtype())))  # (2,)
        g_0, g_1 = ends[0], ends[1]
        g, dg = self.tilde(t)
        return (g - g_0) / (g_1 - g_0), dg / (g_1 - g_0)


def make_gamma(kind, gamma_0=GAMMA_MIN, gamma_1=GAMMA_MAX, n_features=64, dtype=None, generator=None):
    """The schedule ``kind``: "fixed" (linear, fixed endpoints), "linear" (learned endpoints) or "learned"
    (learned endpoints and shape)."""
    check_choice(kind, "kind", "make_gamma", GAMMA_KINDS)
    if kind == "fixed":
        return FixedLinearGamma(gamma_0, gamma_1, dtype)
    if kind == "linear":
        return LinearGamma(gamma_0, gamma_1, dtype)
    return MonotoneGamma(gamma_0, gamma_1, n_features, dtype, generator)


def gamma_prime_autodiff(fn, t):
    r""":math:`\frac{d}{dt} f(t)` elementwise by reverse mode, recorded on the tape (so it can be
    differentiated again with respect to the parameters of ``fn``).

    ``fn`` maps times (B,) to values (B,), each value depending on its own time only, so one
    vector-Jacobian product with :math:`u = \mathbf 1` gives every :math:`f'(t_i)`.
    """
    t = t.detach() if isinstance(t, Tensor) else _tensor(t)
    out, pullback = ad.vjp(fn, t, create_graph=True)
    return pullback(Tensor(get_xp(out.data).ones_like(out.data)))[0]


def sample_times(batch, seed=None, low_discrepancy=False, T=0):
    r"""Times for a minibatch: continuous :math:`t \in (0, 1]` (T = 0), or :math:`t = i/T`, i in 1..T.

    Both come from :func:`~scratchgen.diffusion.ddpm.sample_timesteps` (its low-discrepancy scheme,
    :math:`u_i = \mathrm{mod}(u_0 + i/k, 1)`): T > 0 uses its i directly; T = 0 draws i on
    :data:`TIME_RESOLUTION` cells and a uniform offset :math:`w \in [0, 1)` inside the cell,
    :math:`t = (i - w)/M`, so t is exactly uniform on (0, 1] and the batch still covers it evenly.

    Returns a float64 array (B,).
    """
    check_int(T, "T", "sample_times", min=0, fix="0 for continuous time")
    g = _rng(seed)
    if T:
        return sample_timesteps(T, batch, g, low_discrepancy) / T
    i = sample_timesteps(TIME_RESOLUTION, batch, g, low_discrepancy)
    return (i - g.random(batch)) / TIME_RESOLUTION


# ---------------------------------------------------------------------------
# The terms of the bound, per example, in nats
# ---------------------------------------------------------------------------
def continuous_loss(eps_model, x, gamma_t, dgamma_t, eps):
    r"""The diffusion loss in continuous time, one draw of (t, eps) per example (Kingma Sec. 5):

    .. math:: \mathcal L_\infty(x) = \tfrac12\,\mathbb E_{t \sim U(0,1),\,\varepsilon}\big[\gamma'(t)\,
              \lVert \varepsilon - \hat\varepsilon_\theta(z_t; \gamma_t)\rVert^2\big],\qquad
              z_t = \alpha_t x + \sigma_t \varepsilon

    Parameters: x, eps (B, ...); gamma_t, dgamma_t (B,) Tensors. Returns a Tensor (B,).
    """
    x, eps = _tensor(x), _tensor(eps)
    z_t = q_sample(x, gamma_t, eps)
    eps_hat = eps_model(z_t, gamma_t)
    return 0.5 * dgamma_t * _sum_data_axes((eps - eps_hat) ** 2)


def discrete_loss(eps_model, x, gamma_t, gamma_s, eps, T):
    r"""The diffusion loss with T steps, s = t - 1/T (Kingma Sec. 4):

    .. math:: \mathcal L_T(x) = \tfrac T2\,\mathbb E_{i \sim U\{1..T\},\,\varepsilon}\big[\big(e^{\gamma(t) -
              \gamma(s)} - 1\big)\lVert\varepsilon - \hat\varepsilon_\theta(z_t; \gamma_t)\rVert^2\big]

    (:math:`\tfrac T2 (\mathrm{SNR}(s) - \mathrm{SNR}(t))\lVert x - \hat x\rVert^2` in x). Returns a Tensor (B,).
    """
    x, eps = _tensor(x), _tensor(eps)
    z_t = q_sample(x, gamma_t, eps)
    eps_hat = eps_model(z_t, gamma_t)
    return 0.5 * T * ad.expm1(gamma_t - gamma_s) * _sum_data_axes((eps - eps_hat) ** 2)


def prior_loss(gamma_1, x):
    r""":math:`\mathrm{KL}\big(q(z_1|x)\,\|\,\mathcal N(0, I)\big) = \tfrac12\sum_j\big(\alpha_1^2 x_j^2 + \sigma_1^2
    - 1 - \log\sigma_1^2\big)` per example, :math:`\log\sigma_1^2 = \log\mathrm{sigmoid}(\gamma_1)`."""
    gamma_1 = _tensor(gamma_1)
    x = _tensor(x)
    alpha2, sigma2 = ad.sigmoid(-gamma_1), ad.sigmoid(gamma_1)
    return 0.5 * _sum_data_axes(alpha2 * x ** 2 + sigma2 - 1 - ad.log_sigmoid(gamma_1))


def level_values(levels, dtype=None):
    r"""The grid the data lie on: :math:`v_k = -1 + 2k/(K-1)`, k = 0..K-1 (17 levels: :math:`k/8 - 1`)."""
    check_int(levels, "levels", "level_values", min=2)
    xp = get_xp()
    return (-1 + 2 * xp.arange(levels, dtype=xp.float64) / (levels - 1)).astype(dtype or default_dtype())


def level_index(x, levels):
    """k with :math:`x = v_k` (an int array of x's shape); raises ``ValueError`` if x is off the grid."""
    xd = x.data if isinstance(x, Tensor) else x
    xp = get_xp(xd)
    k = xp.rint((xd.astype(xp.float64) + 1) * (levels - 1) / 2)
    off = float(xp.max(xp.abs(-1 + 2 * k / (levels - 1) - xd))) if xd.size else 0.0
    if off > 1e-4 or float(k.min()) < 0 or float(k.max()) > levels - 1:
        raise bad("level_index", "x", f"lie on the {levels} levels -1 + 2k/{levels - 1} in [-1, 1]", x,
                  shown=f"values up to {off:.3g} off the grid, range [{float(xd.min()):.3g}, {float(xd.max()):.3g}]")
    return k.astype(xp.int64)


def reconstruction_loss(gamma_0, x, eps_0, levels):
    r""":math:`-\log p(x \mid z_0)`, :math:`z_0 = \alpha_0 x + \sigma_0\varepsilon_0`, per example, for data on
    ``levels`` values (Kingma Sec. 3.3; their code's ``EncDec``):

    .. math:: p(x_j = v_k \mid z_0) = \frac{q(z_{0,j} \mid v_k)}{\sum_l q(z_{0,j} \mid v_l)}
              = \mathrm{softmax}_k\Big(-\tfrac12\,e^{-\gamma_0}\big(z_{0,j}/\alpha_0 - v_k\big)^2\Big)

    with :math:`z_0/\alpha_0 = x + e^{\gamma_0/2}\varepsilon_0` (:math:`\sigma_0/\alpha_0 = e^{\gamma_0/2}`).
    x, eps_0 (B, ...); returns a Tensor (B,).
    """
    k = level_index(x, levels)  # (B, ...)
    xp = get_xp(k)
    gamma_0 = _tensor(gamma_0)
    x, eps_0 = _tensor(x), _tensor(eps_0)
    v = Tensor(level_values(levels, x.dtype))  # (K,)
    z0_rescaled = x + ad.exp(0.5 * gamma_0) * eps_0  # (B, ...)
    d = ad.reshape(z0_rescaled, z0_rescaled.shape + (1,)) - v  # (B, ..., K)
    log_p = ad.log_softmax(-0.5 * ad.exp(-gamma_0) * d ** 2, axis=-1)  # (B, ..., K)
    onehot = (k[..., None] == xp.arange(levels)).astype(x.dtype)  # (B, ..., K)
    return -_sum_data_axes(ad.sum(log_p * Tensor(onehot), axis=-1))


def bits_per_dim(nats, D):
    r""":math:`\mathrm{nats}/(D \ln 2)`."""
    return nats / (D * math.log(2))


# ---------------------------------------------------------------------------
# The whole bound, and the variance gradient of the shape
# ---------------------------------------------------------------------------
@dataclass
class VLBTerms:
    """The three terms of the bound per example (Tensors (B,), nats), the times drawn, the data dimension D,
    and for a learned shape the pairs (s on the shape's tape, its cut copy) that :func:`variance_gradient` needs."""

    diffusion: Tensor
    prior: Tensor
    reconstruction: Tensor
    t: object
    D: int
    shape_pairs: list = field(default_factory=list)

    def total(self):
        """The bound, nats per example (B,)."""
        return self.diffusion + self.prior + self.reconstruction

    def bits_per_dim(self):
        """The bound in bits per dimension, per example (B,)."""
        return bits_per_dim(self.total(), self.D)


def _cut(v):
    """A leaf with v's values: a backward pass stops here and leaves the gradient in its ``.grad``."""
    return Tensor(v.data, requires_grad=True)


def vlb_terms(eps_model, gamma, x, seed=None, *, T=0, levels=17, low_discrepancy=True, derivative="explicit",
              cut_shape=False, t=None, eps=None, eps_0=None):
    r"""One draw of the bound :math:`-\log p(x) \le \mathcal L_\mathrm{prior} + \mathcal L_\mathrm{recon} +
    \mathcal L_T` per example (Kingma Sec. 3.5), continuous time when T = 0.

    Parameters
    ----------
    eps_model : callable ``(z_t, gamma_t) -> eps_hat``
    gamma : a schedule (:func:`make_gamma`)
    x : array (B, ...) on the ``levels`` grid
    seed : int or generator
        Draws t (unless given), eps and eps_0 (unless given), in that order.
    T : int
        0 for :math:`\mathcal L_\infty`, else the number of steps of :math:`\mathcal L_T`.
    derivative : "explicit" or "autodiff"
        How :math:`\gamma'(t)` is computed (continuous time): the schedule's formula, or
        :func:`gamma_prime_autodiff`.
    cut_shape : bool
        Feed the diffusion loss the shape s(t) (and s'(t)) through cut leaves, so that a backward
        pass of the bound gives no gradient to the shape's parameters eta; :func:`variance_gradient`
        then gives them the gradient of the squared loss. For a schedule without a shape, no effect.

    Returns
    -------
    VLBTerms
    """
    check_choice(derivative, "derivative", "vlb_terms", ("explicit", "autodiff"))
    g = _rng(seed)
    xd = x.data if isinstance(x, Tensor) else x
    B, D = xd.shape[0], int(xd[0].size)
    t = sample_times(B, g, low_discrepancy, T) if t is None else t
    eps = g.standard_normal(xd.shape, dtype=xd.dtype) if eps is None else eps
    eps_0 = g.standard_normal(xd.shape, dtype=xd.dtype) if eps_0 is None else eps_0
    tt = gamma.times(t)
    cut = cut_shape and gamma.learns_shape
    pairs = []

    def shaped(time, with_slope):  # (gamma, gamma') at the times, the shape cut from its tape if asked
        s, ds = gamma.shape(time)
        if with_slope and derivative == "autodiff":
            ds = gamma_prime_autodiff(lambda u: gamma.shape(u)[0], time)
        if cut:
            pairs.append((s, _cut(s)))
            s = pairs[-1][1]
            if with_slope:
                pairs.append((ds, _cut(ds)))
                ds = pairs[-1][1]
        return gamma.from_shape(s, ds)

    if T == 0:
        gamma_t, dgamma_t = shaped(tt, True)
        diffusion = continuous_loss(eps_model, Tensor(xd), gamma_t, dgamma_t, eps)
    else:
        gamma_t, _ = shaped(tt, False)
        gamma_s, _ = shaped(gamma.times(get_xp().maximum(t - 1.0 / T, 0.0)), False)  # s = (i - 1)/T
        diffusion = discrete_loss(eps_model, Tensor(xd), gamma_t, gamma_s, eps, T)
    g0, g1 = gamma.endpoints()
    return VLBTerms(diffusion, prior_loss(g1, xd), reconstruction_loss(g0, xd, eps_0, levels), t, D, pairs)


def variance_gradient(terms, loss):
    r"""Add :math:`\nabla_\eta \tfrac1B\sum_i L_i^2` to the ``.grad`` of the shape's parameters eta (Kingma Sec. 5.3).

    :math:`\mathbb E[L]` does not depend on the shape between fixed endpoints (Sec. 5.1), so
    :math:`\nabla_\eta \mathbb E[L^2] = \nabla_\eta \mathrm{Var}[L]`: descending it lowers the variance of
    the estimator that trains everything else. Call it after ``mean(loss).backward()`` of a bound drawn
    with ``vlb_terms(..., cut_shape=True)``: there each cut leaf :math:`\hat s_i` holds
    :math:`\partial J/\partial \hat s_i = \tfrac1B \partial L_i/\partial s_i`, and

    .. math:: \nabla_\eta \tfrac1B\sum_i L_i^2 = \sum_i 2 L_i\,\frac{\partial J}{\partial \hat s_i}\,
              \frac{\partial s_i}{\partial \eta}

    is one backward pass of :math:`\sum_i s_i \cdot \mathrm{stop}(2 L_i\,\partial J/\partial\hat s_i)` through the
    small shape network only (not the denoiser again).

    Parameters
    ----------
    terms : VLBTerms
    loss : Tensor (B,)
        The per-example loss :math:`L_i` whose mean J was backpropagated, in the same units.
    """
    if not terms.shape_pairs:
        return
    two_l = 2 * loss.data  # (B,)
    surrogate = None
    for s, leaf in terms.shape_pairs:
        if leaf.grad is None:
            continue
        part = ad.sum(s * Tensor(two_l * leaf.grad.data))
        surrogate = part if surrogate is None else surrogate + part
    if surrogate is not None and surrogate.requires_grad:
        surrogate.backward()


# ---------------------------------------------------------------------------
# Sampling
# ---------------------------------------------------------------------------
def sample(eps_model, gamma, n, shape, T=200, seed=None, levels=17):
    r"""Ancestral sampling with T steps, :math:`z_1 \sim \mathcal N(0, I)` to x (Kingma Sec. 3.3):

    .. math:: z_s = \frac{\alpha_s}{\alpha_t}\big(z_t - \sigma_t c\,\hat\varepsilon\big) + \sqrt{\sigma_s^2 c}\;\varepsilon,
              \qquad c = 1 - e^{\gamma(s) - \gamma(t)}

    then x = the most probable level of :math:`p(x \mid z_0)`. Returns an array (n, \*shape) of level values.
    """
    check_int(T, "T", "sample", min=1)
    g = _rng(seed)
    xp = get_xp()
    dt = gamma.dtype()
    with no_grad():
        z = g.standard_normal((n,) + tuple(shape)).astype(dt)
        times = xp.arange(T + 1, dtype=xp.float64) / T
        gammas = gamma(times).data  # (T+1,)
        for i in range(T, 0, -1):
            g_t, g_s = gammas[i], gammas[i - 1]
            eps_hat = eps_model(Tensor(z), Tensor(xp.full((n,), g_t, dtype=dt)))
            eps_hat = eps_hat.data if isinstance(eps_hat, Tensor) else eps_hat
            c = -xp.expm1(g_s - g_t)
            a_s, a_t = xp.sqrt(1 / (1 + xp.exp(g_s))), xp.sqrt(1 / (1 + xp.exp(g_t)))
            s_t, s_s2 = xp.sqrt(1 / (1 + xp.exp(-g_t))), 1 / (1 + xp.exp(-g_s))
            z = (a_s / a_t) * (z - s_t * c * eps_hat) + xp.sqrt(s_s2 * c) * g.standard_normal(z.shape).astype(dt)
        g0 = gammas[0]
        v = level_values(levels, dt)
        z0r = z * xp.sqrt(1 + xp.exp(g0))  # z_0 / alpha_0
        k = xp.argmin(xp.abs(z0r[..., None] - v), axis=-1)  # argmax of the decoder's logits
    return v[k]
