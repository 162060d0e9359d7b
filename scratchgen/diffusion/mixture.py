r"""Gaussian mixtures under the forward process, in closed form: density, score and the exact ε*.

For data :math:`x_0 \sim p = \sum_k w_k\,\mathcal N(\mu_k, \sigma_k^2 I)` (isotropic components), the
marginal of the forward process :math:`x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon`
(Ho et al. 2020, Eq. 4) is again a mixture with the same weights, because an affine map of a Gaussian
plus independent Gaussian noise is Gaussian:

.. math::
    p_t(x) = \sum_k w_k\,\mathcal N\big(x;\ \sqrt{\bar\alpha_t}\,\mu_k,\ s_{k,t}^2 I\big),
    \qquad s_{k,t}^2 = \bar\alpha_t \sigma_k^2 + 1 - \bar\alpha_t .

Its score is the responsibility-weighted pull towards each scaled centre,

.. math::
    \nabla_x \log p_t(x) = \sum_k r_k(x)\,\frac{\sqrt{\bar\alpha_t}\,\mu_k - x}{s_{k,t}^2},
    \qquad r_k(x) = \frac{w_k\,\mathcal N(x; \sqrt{\bar\alpha_t}\mu_k, s_{k,t}^2 I)}{p_t(x)},

and the minimiser of the DDPM loss :math:`\mathbb E\,\lVert\varepsilon - \varepsilon_\theta(x_t, t)\rVert^2`
over all functions is the conditional mean :math:`\mathbb E[\varepsilon \mid x_t]`, which by Tweedie's
formula is

.. math:: \varepsilon^*(x_t, t) = -\sqrt{1-\bar\alpha_t}\;\nabla_x \log p_t(x_t).

:func:`exact_eps_model` wraps it as a denoiser with the signature of the trained ones, so every sampler
of :mod:`scratchgen.diffusion.samplers` runs with it: what remains of a sample's error is the
sampler's (the discretisation in t), not the network's. :func:`toy_mixture` gives the mixture of each
toy data set with a closed form (``ring8``, ``grid25``, ``gauss8``), in data units or after the
trainer's affine scaling :math:`z = (x - m)/s` (a mixture again: means :math:`(\mu_k - m)/s`,
standard deviations :math:`\sigma_k/s`).

Everything is computed in float64 on the backend of the input and returned in the input's dtype.
"""
from __future__ import annotations

import math
from typing import NamedTuple

from ..backend import get_xp, to_numpy, unwrap
from ..validate import check_real_array

__all__ = ["GaussianMixture", "noised_mixture", "mixture_log_prob", "mixture_score", "exact_eps_model",
           "toy_mixture", "mixture_sample", "eps_error_per_t"]


class GaussianMixture(NamedTuple):
    r"""Weights :math:`w` (K,), means :math:`\mu` (K, D) and standard deviations :math:`\sigma` (K,)
    of an isotropic Gaussian mixture (float64 arrays)."""

    weights: object  # (K,), sums to 1
    means: object  # (K, D)
    stds: object  # (K,)

    @classmethod
    def equal(cls, means, std):
        """K equal-weight components with one standard deviation ``std`` (> 0)."""
        xp = get_xp(means)
        means = xp.asarray(means, dtype=xp.float64)
        if means.ndim != 2:
            raise ValueError(f"GaussianMixture.equal: means must have shape (K, D), got {means.shape}")
        if not std > 0:
            raise ValueError(f"GaussianMixture.equal: std must be > 0, got {std!r}")
        K = means.shape[0]
        return cls(xp.full(K, 1.0 / K), means, xp.full(K, float(std)))

    def affine(self, shift, scale):
        r"""The mixture of :math:`z = (x - m)/s`: means :math:`(\mu_k - m)/s`, stds :math:`\sigma_k/s`."""
        xp = get_xp(self.means)
        shift = xp.asarray(shift, dtype=xp.float64)
        return GaussianMixture(self.weights, (self.means - shift) / scale, self.stds / scale)


def noised_mixture(mix: GaussianMixture, alpha_bar: float) -> GaussianMixture:
    r""":math:`p_t`: means :math:`\sqrt{\bar\alpha}\mu_k`, variances :math:`\bar\alpha\sigma_k^2 + 1 - \bar\alpha`."""
    if not 0 < alpha_bar <= 1:
        raise ValueError(f"noised_mixture: alpha_bar must be in (0, 1], got {alpha_bar!r}")
    a = float(alpha_bar)
    xp = get_xp(mix.means)
    return GaussianMixture(mix.weights, math.sqrt(a) * mix.means, xp.sqrt(a * mix.stds**2 + (1 - a)))


def _log_components(mix, x):
    r""":math:`\log w_k + \log\mathcal N(x; \mu_k, \sigma_k^2 I)` for every row of x (N, D): (N, K)."""
    xp = get_xp(x)
    D = x.shape[-1]
    d2 = ((x[:, None, :] - mix.means[None]) ** 2).sum(axis=-1)  # (N, K) squared distances
    var = mix.stds**2  # (K,)
    return xp.log(mix.weights) - d2 / (2 * var) - 0.5 * D * xp.log(2 * math.pi * var)


def _rows(x, mix, who):
    check_real_array(x, "x", who, kinds="fiu")
    xp = get_xp(x)
    x64 = xp.asarray(x, dtype=xp.float64)
    if x64.ndim != 2 or x64.shape[1] != mix.means.shape[1]:
        raise ValueError(f"{who}: x must have shape (N, {mix.means.shape[1]}) like the mixture's means, "
                         f"got {x64.shape}")
    return x64


def mixture_log_prob(mix: GaussianMixture, x):
    r""":math:`\log p(x) = \operatorname{logsumexp}_k[\log w_k + \log\mathcal N(x; \mu_k, \sigma_k^2 I)]`,
    x (N, D) → (N,) float64."""
    xp = get_xp(x)
    a = _log_components(mix, _rows(x, mix, "mixture_log_prob"))  # (N, K)
    m = a.max(axis=1, keepdims=True)
    return (m + xp.log(xp.exp(a - m).sum(axis=1, keepdims=True)))[:, 0]


def mixture_score(mix: GaussianMixture, x):
    r""":math:`\nabla_x \log p(x) = \sum_k r_k(x)(\mu_k - x)/\sigma_k^2`, x (N, D) → (N, D) in x's dtype."""
    xp = get_xp(x)
    x64 = _rows(x, mix, "mixture_score")
    a = _log_components(mix, x64)  # (N, K)
    r = xp.exp(a - a.max(axis=1, keepdims=True))
    r /= r.sum(axis=1, keepdims=True)  # responsibilities r_k(x), (N, K)
    pull = (mix.means[None] - x64[:, None, :]) / (mix.stds**2)[None, :, None]  # (N, K, D)
    score = (r[:, :, None] * pull).sum(axis=1)  # (N, D)
    return score.astype(x.dtype) if xp.asarray(x).dtype.kind == "f" else score


def exact_eps_model(schedule, mix: GaussianMixture):
    r"""The optimal denoiser :math:`\varepsilon^*(x_t, t) = -\sqrt{1-\bar\alpha_t}\,\nabla\log p_t(x_t)` of
    data distributed as ``mix`` under ``schedule``, as a callable ``eps(x_t, t)`` (t an int or an int
    array (N,) in 1..T, as every sampler passes it). Returns an array of x_t's shape and dtype."""
    xp = get_xp(mix.means)

    def eps(x_t, t):
        x_t = unwrap(x_t)  # a Tensor's array (an ndarray's own .data is a memoryview: not getattr)
        ts = xp.asarray(t).reshape(-1)
        out = xp.empty(x_t.shape, dtype=x_t.dtype)
        for tv in [int(v) for v in xp.unique(ts)]:  # one noised mixture per distinct t
            rows = slice(None) if ts.size == 1 else (ts == tv)
            a = float(schedule.alpha_bar[tv])
            out[rows] = -math.sqrt(1 - a) * mixture_score(noised_mixture(mix, a), x_t[rows])
        return out

    return eps


def toy_mixture(name: str, shift=None, scale=None) -> GaussianMixture:
    r"""The mixture of toy set ``name`` (``ring8``, ``grid25`` or ``gauss8``), in data units, or of its
    scaled version :math:`z = (x - m)/s` when ``shift`` m and ``scale`` s are given (the DDPM trainer's
    :func:`scratchgen.diffusion.train.data_scaling`)."""
    from ..data.toy import grid_centres, ring_centres

    table = {"ring8": (lambda: ring_centres(8, 1.0, "float64"), 0.01),
             "grid25": (lambda: grid_centres(5, 2.0, "float64"), 0.05),
             "gauss8": (lambda: ring_centres(8, 2.0, "float64"), 0.2)}
    if name not in table:
        raise ValueError(f"toy_mixture: name must be one of {sorted(table)}, got {name!r}")
    centres, std = table[name]
    mix = GaussianMixture.equal(centres(), std)
    if (shift is None) != (scale is None):
        raise ValueError("toy_mixture: give both shift and scale, or neither")
    return mix if shift is None else mix.affine(shift, scale)


def mixture_sample(mix: GaussianMixture, n: int, seed=None, dtype="float64"):
    r"""n draws :math:`x = \mu_k + \sigma_k\,z`, :math:`k \sim w`, :math:`z \sim \mathcal N(0, I)`: (n, D) in ``dtype``."""
    from ..backend import rng
    from ..validate import check_int

    check_int(n, "n", "mixture_sample", min=1)
    g = rng(seed)
    xp = get_xp(mix.means)
    K, D = mix.means.shape
    k = xp.asarray(g.choice(K, size=n, p=to_numpy(mix.weights)))  # (n,) components
    z = xp.asarray(g.standard_normal((n, D)))  # (n, D)
    return (mix.means[k] + mix.stds[k][:, None] * z).astype(dtype)


def eps_error_per_t(eps_model, schedule, mix: GaussianMixture, ts, n: int = 10_000, seed=0):
    r"""The ε-prediction error of ``eps_model`` at each t in ``ts``, against the exact :math:`\varepsilon^*`.

    For each t, n fresh :math:`x_0 \sim` ``mix``, :math:`\varepsilon \sim \mathcal N(0, I)` and
    :math:`x_t = \sqrt{\bar\alpha_t}x_0 + \sqrt{1-\bar\alpha_t}\varepsilon` (Ho Eq. 4; the same draws for
    the model and for :math:`\varepsilon^*`), per dimension:

    .. math::
        \mathrm{MSE}(t) = \tfrac1D\mathbb E\lVert\varepsilon - \varepsilon_\theta\rVert^2,\quad
        \mathrm{MSE}^*(t) = \tfrac1D\mathbb E\lVert\varepsilon - \varepsilon^*\rVert^2,\quad
        \mathrm{excess}(t) = \tfrac1D\mathbb E\lVert\varepsilon_\theta - \varepsilon^*\rVert^2 .

    :math:`\varepsilon^* = \mathbb E[\varepsilon \mid x_t]`, so the cross term vanishes and
    :math:`\mathrm{MSE} = \mathrm{MSE}^* + \mathrm{excess}`: the floor no network can go below, plus
    what the network adds (measured directly, with far less noise than the difference).

    Parameters
    ----------
    eps_model : callable ``(x_t, t) -> eps`` (an array or a Tensor), as the samplers call it
    schedule : Schedule
    mix : GaussianMixture, in the model's (scaled) units
    ts : sequence of int in 1..T
    n : int, draws per t
    seed : int or generator

    Returns
    -------
    dict of float64 arrays (len(ts),): ``t``, ``mse``, ``floor``, ``excess`` and their standard
    errors ``mse_se``, ``floor_se``, ``excess_se`` (of the mean over the n draws).
    """
    from ..autodiff.tensor import no_grad
    from ..backend import default_dtype, rng

    g = rng(seed)
    xp = get_xp(mix.means)
    exact = exact_eps_model(schedule, mix)
    D = mix.means.shape[1]
    rows = {k: [] for k in ("t", "mse", "floor", "excess", "mse_se", "floor_se", "excess_se")}
    for t in ts:
        t = int(t)
        if not 1 <= t <= schedule.T:
            raise ValueError(f"eps_error_per_t: every t must be in 1..T = 1..{schedule.T}, got {t}")
        a = float(schedule.alpha_bar[t])
        x0 = mixture_sample(mix, n, g)  # (n, D)
        eps = xp.asarray(g.standard_normal((n, D)))  # (n, D)
        xt = (math.sqrt(a) * x0 + math.sqrt(1 - a) * eps).astype(default_dtype())  # $x_t$, Ho Eq. 4
        t_arr = xp.full((n,), t, dtype=xp.int64)
        with no_grad():
            e_theta = xp.asarray(unwrap(eps_model(xt, t_arr)), dtype=xp.float64)  # (n, D)
        e_star = xp.asarray(exact(xt.astype("float64"), t_arr), dtype=xp.float64)  # (n, D)
        rows["t"].append(t)
        for name, err in (("mse", eps - e_theta), ("floor", eps - e_star), ("excess", e_theta - e_star)):
            per = (err**2).mean(axis=1)  # (n,) per-example squared error per dimension
            rows[name].append(float(per.mean()))
            rows[name + "_se"].append(float(per.std() / math.sqrt(n)))
    return {k: xp.asarray(v, dtype=xp.float64) for k, v in rows.items()}
