r"""Diffusion as score matching: the score–ε identity, denoising score matching, Tweedie, Langevin.

References
----------
* Vincent (2011), *A Connection Between Score Matching and Denoising Autoencoders*, Neural
  Computation 23(7): explicit score matching (ESM) with a Parzen/noised density and denoising score
  matching (DSM) differ by a constant independent of the model (his Sec. 4 and the proof in his
  appendix).
* Hyvärinen (2005), *Estimation of Non-Normalized Statistical Models by Score Matching*: the
  explicit objective :math:`\tfrac12\mathbb E\lVert s_\theta(x) - \nabla\log p(x)\rVert^2`.
* Song & Ermon (2019), *Generative Modeling by Estimating Gradients of the Data Distribution*
  (NCSN): Langevin dynamics (their Eq. 4), the noise-conditional DSM objective with the weight
  :math:`\lambda(\sigma) = \sigma^2` (Eqs. 5-6), annealed Langevin dynamics (their Algorithm 1,
  step size :math:`\alpha_i = \epsilon\,\sigma_i^2/\sigma_L^2`).
* Efron (2011), *Tweedie's Formula and Selection Bias* (after Robbins 1956): the posterior mean of a
  Gaussian-noised observation from the score of its marginal.
* Ho, Jain & Abbeel (2020), DDPM: the forward marginal (Eq. 4) and the ε-parameterisation (Eq. 11),
  whose loss (Eq. 14) is DSM with :math:`\lambda_t = 1-\bar\alpha_t` (as Song et al. 2021, *Score-Based
  Generative Modeling through SDEs*, point out).

Conventions
-----------
* The noise levels are those of a DDPM :class:`~scratchgen.diffusion.Schedule` (variance
  preserving): :math:`x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon`, t in 1..T
  (Ho et al.'s convention); :math:`p_t` is the marginal of :math:`x_t`.
* A *score model* is any callable ``score_model(x_t, t)`` returning an array or Tensor of x_t's shape
  (:math:`s_\theta(x_t, t) \approx \nabla_{x}\log p_t(x_t)`); an *eps model* is the DDPM denoiser
  ``eps_model(x_t, t)``. :func:`score_model_from_eps` and :func:`eps_model_from_score` turn one into
  the other.
* The Langevin samplers take a score *function* of the state alone (``score(x)``) or of the state
  and the noise level's index (``score(x, i)``, i = 0..L-1 from the noisiest level down) and return
  arrays; they never record a tape.
* Losses follow :func:`~scratchgen.diffusion.loss_simple`: the squared norm averaged over the data
  axes (divided by D), then over the batch; without the factor 1/2 of Vincent and Song & Ermon.
"""
from __future__ import annotations

import math

from .. import autodiff as ad
from ..autodiff import no_grad
from ..backend import get_xp, rng, unwrap
from ..validate import bad, check_int, check_number
from .ddpm import (
    _call_model,
    _check_data,
    _check_same_shape,
    _check_schedule,
    _mean_data_axes,
    _noise_like,
    q_sample,
    sample_timesteps,
)

__all__ = ["score_from_eps", "eps_from_score", "score_model_from_eps", "eps_model_from_score", "dsm_target",
           "dsm_loss", "esm_loss", "WEIGHTINGS", "tweedie_x0", "langevin", "annealed_langevin",
           "geometric_sigmas", "vp_levels"]

#: the weights :math:`\lambda_t` of the score-matching losses
WEIGHTINGS = ("sigma2", "none")


# ---------------------------------------------------------------------------
# The score–ε identity
# ---------------------------------------------------------------------------
def score_from_eps(schedule, eps, t):
    r"""The score of :math:`p_t` from a noise prediction: :math:`s = -\varepsilon/\sqrt{1-\bar\alpha_t}`.

    Why: :math:`\nabla_{x_t}\log q(x_t\mid x_0) = -(x_t - \sqrt{\bar\alpha_t}x_0)/(1-\bar\alpha_t)
    = -\varepsilon/\sqrt{1-\bar\alpha_t}`, and averaging over :math:`x_0 \mid x_t` gives
    :math:`\nabla\log p_t(x_t) = -\mathbb E[\varepsilon\mid x_t]/\sqrt{1-\bar\alpha_t}`; the optimal
    denoiser predicts exactly :math:`\mathbb E[\varepsilon\mid x_t]`.

    Parameters
    ----------
    schedule : Schedule
    eps : array or Tensor, shape (B, ...)
    t : int or int array (B,), in 1..T

    Returns
    -------
    shape (B, ...), an array or a Tensor like ``eps`` (on the tape if ``eps`` is)
    """
    _check_schedule(schedule)
    _check_data(eps, "eps")
    ### BEGIN SOLUTION
    sqrt_one_minus_alpha_bar = schedule.gather("sqrt_one_minus_alpha_bar", t, eps)  # (B, 1, ...)
    # $s = -\varepsilon / \sqrt{1 - \bar\alpha_t}$
    return eps * (-1.0 / sqrt_one_minus_alpha_bar)
    ### END SOLUTION


def eps_from_score(schedule, score, t):
    r"""The noise prediction from a score: :math:`\varepsilon = -\sqrt{1-\bar\alpha_t}\;s`, the inverse
    of :func:`score_from_eps` (the same shapes and types)."""
    _check_schedule(schedule)
    _check_data(score, "score")
    sqrt_one_minus_alpha_bar = schedule.gather("sqrt_one_minus_alpha_bar", t, score)  # (B, 1, ...)
    # $\varepsilon = -\sqrt{1 - \bar\alpha_t}\, s$
    return score * (-sqrt_one_minus_alpha_bar)


def score_model_from_eps(eps_model, schedule):
    r"""A score model :math:`s_\theta(x_t, t) = -\varepsilon_\theta(x_t, t)/\sqrt{1-\bar\alpha_t}` from a
    denoiser (Tensors in, Tensors out: training through it differentiates the denoiser)."""
    _check_schedule(schedule)

    def score_model(x_t, t):
        return score_from_eps(schedule, _call_model(eps_model, x_t, t), t)

    return score_model


def eps_model_from_score(score_model, schedule):
    r"""A denoiser :math:`\varepsilon(x_t, t) = -\sqrt{1-\bar\alpha_t}\,s(x_t, t)` from a score model, so
    every DDPM sampler runs with a score (e.g. the closed-form one of a mixture)."""
    _check_schedule(schedule)

    def eps_model(x_t, t):
        return eps_from_score(schedule, _call_model(score_model, x_t, t), t)

    return eps_model


# ---------------------------------------------------------------------------
# Score matching objectives
# ---------------------------------------------------------------------------
def dsm_target(schedule, x0, t, eps):
    r"""A noised point and the score of the noising kernel there (Vincent 2011, DSM's regression target).

    .. math:: x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon,\qquad
              \nabla_{x_t}\log q(x_t\mid x_0) = -\frac{x_t - \sqrt{\bar\alpha_t}\,x_0}{1-\bar\alpha_t}
              = -\frac{\varepsilon}{\sqrt{1-\bar\alpha_t}}

    Returns ``(x_t, target)``, both of x0's shape (B, ...).
    """
    xt = q_sample(schedule, x0, t, eps)  # (B, ...)
    return xt, score_from_eps(schedule, eps, t)


def _weights(schedule, t, weighting, like, who):
    """λ_t per example, shape (B,), in like's dtype: 1 - ᾱ_t ("sigma2") or 1 ("none")."""
    if weighting not in WEIGHTINGS:
        raise bad(who, "weighting", f"be one of {WEIGHTINGS}", weighting)
    lam = schedule.gather("one_minus_alpha_bar", t, like)  # (B, 1, ...) or (1, ..., 1)
    xp = get_xp(lam)
    lam = xp.broadcast_to(lam.reshape(lam.shape[0]), (like.shape[0],))  # (B,)
    return lam if weighting == "sigma2" else xp.ones_like(lam)


def _reduce(per_example, reduction, who):
    if reduction not in ("mean", "none"):
        raise bad(who, "reduction", "be 'mean' or 'none'", reduction)
    return per_example if reduction == "none" else ad.mean(per_example)


def dsm_loss(schedule, score_model, x0, seed=None, t=None, eps=None, weighting="sigma2", low_discrepancy=False,
             reduction="mean"):
    r"""Denoising score matching (Vincent 2011) over the DDPM noise levels, a differentiable Tensor.

    .. math:: L_\mathrm{DSM}(\theta) = \mathbb E_{t, x_0, \varepsilon}\Big[\lambda_t\,
              \big\lVert s_\theta(x_t, t) - \nabla_{x_t}\log q(x_t\mid x_0)\big\rVert^2\Big] / D
              = \mathbb E\Big[\lambda_t\,\Big\lVert s_\theta(x_t, t) + \frac{\varepsilon}{\sqrt{1-\bar\alpha_t}}
              \Big\rVert^2\Big] / D

    (Song & Ermon 2019, Eqs. 5-6, with the DDPM's levels). With :math:`\lambda_t = 1-\bar\alpha_t`
    (``weighting="sigma2"``, their :math:`\lambda(\sigma) = \sigma^2`) and
    :math:`s_\theta = -\varepsilon_\theta/\sqrt{1-\bar\alpha_t}` it *is* Ho's
    :math:`L_\mathrm{simple}`: :math:`(1-\bar\alpha_t)\lVert -\varepsilon_\theta/\sqrt{1-\bar\alpha_t}
    + \varepsilon/\sqrt{1-\bar\alpha_t}\rVert^2 = \lVert\varepsilon - \varepsilon_\theta\rVert^2`.
    It equals :func:`esm_loss` (the regression on the true score of :math:`p_t`) plus a constant
    that does not depend on :math:`\theta` (docs/score-matching.md).

    Parameters
    ----------
    schedule : Schedule
    score_model : callable ``(x_t, t) -> s`` of x_t's shape
    x0 : array or Tensor, shape (B, ...)
    seed : int, generator or None
        Draws t and eps where they are not given.
    t : int or int array (B,), optional
    eps : array, shape (B, ...), optional
    weighting : "sigma2" or "none"
        :math:`\lambda_t = 1-\bar\alpha_t` or 1.
    low_discrepancy : bool
        Draw t by :func:`~scratchgen.diffusion.sample_timesteps`'s low-discrepancy scheme.
    reduction : "mean" or "none"
        "none": the per-example values (B,).
    """
    who = "dsm_loss"
    _check_schedule(schedule)
    _check_data(x0, "x0")
    g = rng(seed)
    B = x0.shape[0]
    t = sample_timesteps(schedule.T, B, g, low_discrepancy) if t is None else schedule.check_t(t, batch=B)
    eps = _noise_like(g, x0) if eps is None else eps
    _check_same_shape(x0, "x0", eps, "eps")
    lam = _weights(schedule, t, weighting, x0, who)  # (B,)
    xt, target = dsm_target(schedule, x0, t, eps)  # (B, ...) twice: x_t and grad log q(x_t | x_0)
    s = _call_model(score_model, xt, t)  # (B, ...)
    # $\lambda_t \lVert s_\theta(x_t, t) - \nabla\log q(x_t|x_0)\rVert^2 / D$, per example
    per_example = ad.multiply(_mean_data_axes(ad.power(ad.subtract(s, target), 2)), lam)  # (B,)
    return _reduce(per_example, reduction, who)


def esm_loss(schedule, score_model, xt, t, score_true, weighting="sigma2", reduction="mean"):
    r"""Explicit score matching (Hyvärinen 2005) at given points of :math:`p_t`, a differentiable Tensor.

    .. math:: L_\mathrm{ESM}(\theta) = \mathbb E_{t,\,x_t\sim p_t}\Big[\lambda_t\,
              \big\lVert s_\theta(x_t, t) - \nabla_{x}\log p_t(x_t)\big\rVert^2\Big] / D

    Needs the true score (``score_true``, x_t's shape), which only toy densities have in closed form
    (:func:`~scratchgen.diffusion.mixture.mixture_score`). :func:`dsm_loss` has the same minimiser
    without it.

    Parameters
    ----------
    schedule : Schedule
    score_model : callable ``(x_t, t) -> s``
    xt : array or Tensor, shape (B, ...), draws of :math:`p_t`
    t : int or int array (B,)
    score_true : array, shape (B, ...)
    weighting, reduction : as in :func:`dsm_loss`
    """
    who = "esm_loss"
    _check_schedule(schedule)
    _check_data(xt, "xt")
    _check_same_shape(xt, "xt", score_true, "score_true")
    t = schedule.check_t(t, batch=xt.shape[0])
    lam = _weights(schedule, t, weighting, xt, who)  # (B,)
    s = _call_model(score_model, xt, t)  # (B, ...)
    per_example = ad.multiply(_mean_data_axes(ad.power(ad.subtract(s, score_true), 2)), lam)  # (B,)
    return _reduce(per_example, reduction, who)


# ---------------------------------------------------------------------------
# Tweedie's formula
# ---------------------------------------------------------------------------
def tweedie_x0(schedule, xt, t, score):
    r"""The posterior mean of the clean data from the score of the noised marginal (Tweedie's formula).

    .. math:: \mathbb E[x_0\mid x_t] = \frac{x_t + (1-\bar\alpha_t)\,\nabla_{x}\log p_t(x_t)}{\sqrt{\bar\alpha_t}}

    (Efron 2011, Sec. 2, for :math:`y = \mu + \sigma z`, applied to :math:`y = x_t`,
    :math:`\mu = \sqrt{\bar\alpha_t}x_0`, :math:`\sigma^2 = 1-\bar\alpha_t`.) With
    :func:`eps_from_score` it is Ho's :math:`\hat x_0 = (x_t - \sqrt{1-\bar\alpha_t}\,\varepsilon)/\sqrt{\bar\alpha_t}`.

    Parameters
    ----------
    schedule : Schedule
    xt : array or Tensor, shape (B, ...)
    t : int or int array (B,)
    score : array or Tensor, shape (B, ...), :math:`\nabla\log p_t(x_t)` (exact or a model's)

    Returns
    -------
    shape (B, ...)
    """
    _check_schedule(schedule)
    _check_data(xt, "xt")
    _check_same_shape(xt, "xt", score, "score")
    one_minus_alpha_bar = schedule.gather("one_minus_alpha_bar", t, xt)  # (B, 1, ...)
    sqrt_alpha_bar = schedule.gather("sqrt_alpha_bar", t, xt)  # (B, 1, ...)
    # $\mathbb E[x_0|x_t] = (x_t + (1-\bar\alpha_t)\nabla\log p_t(x_t)) / \sqrt{\bar\alpha_t}$
    return (xt + score * one_minus_alpha_bar) * (1.0 / sqrt_alpha_bar)


# ---------------------------------------------------------------------------
# Langevin dynamics
# ---------------------------------------------------------------------------
def _score_array(score, x, *args):
    """``score(x, *args)`` as an array of x's shape and dtype, checked."""
    s = unwrap(score(x, *args))
    if not hasattr(s, "shape") or tuple(s.shape) != tuple(x.shape):
        got = f"shape {tuple(s.shape)}" if hasattr(s, "shape") else type(s).__name__
        raise ValueError(f"score(x{', i' if args else ''}) must return an array of x's shape {tuple(x.shape)}, got {got}")
    return s.astype(x.dtype, copy=False)


def _check_start(x, who):
    x = unwrap(x)
    _check_data(x, "x")
    xp = get_xp(x)
    if not bool(xp.all(xp.isfinite(x))):
        raise bad(who, "x", "be finite", "an array with NaN or inf", shown="non-finite values")
    return x


def langevin(score, x, step_size, n_steps, seed=None, keep=0):
    r"""Unadjusted Langevin dynamics at one noise level (Song & Ermon 2019, Eq. 4; Roberts & Tweedie 1996).

    .. math:: x_{k+1} = x_k + \frac{\alpha}{2}\,\nabla_x\log p(x_k) + \sqrt{\alpha}\;z_k,\qquad z_k\sim\mathcal N(0, I)

    As :math:`\alpha\to 0` and :math:`k\alpha\to\infty` the law of :math:`x_k` tends to p; at a finite
    step it is biased (for :math:`p = \mathcal N(m, v)` the chain's stationary variance is
    :math:`v/(1-\alpha/4v)`, tested).

    Parameters
    ----------
    score : callable ``score(x) -> array`` of x's shape, :math:`\nabla\log p`
    x : array, shape (N, ...), the starting points (not modified)
    step_size : float > 0, :math:`\alpha`
    n_steps : int >= 0
    seed : int, generator or None
    keep : int
        Also return the path of the first ``keep`` chains: shape (n_steps + 1, keep, ...).

    Returns
    -------
    x : array (N, ...), or ``(x, path)`` when ``keep`` > 0
    """
    who = "langevin"
    x = _check_start(x, who).copy()
    check_number(step_size, "step_size", who, min=0, min_open=True)
    check_int(n_steps, "n_steps", who, min=0)
    check_int(keep, "keep", who, min=0, max=x.shape[0])
    g = rng(seed)
    xp = get_xp(x)
    alpha = float(step_size)
    path = [x[:keep].copy()] if keep else None
    with no_grad():
        for _ in range(n_steps):
            z = g.standard_normal(x.shape, dtype=x.dtype)  # (N, ...)
            # $x \leftarrow x + \frac\alpha2 \nabla\log p(x) + \sqrt\alpha\, z$
            x = x + (alpha / 2) * _score_array(score, x) + math.sqrt(alpha) * z
            if keep:
                path.append(x[:keep].copy())
    return (x, xp.stack(path)) if keep else x


def annealed_langevin(score, sigmas, x, n_steps=100, eps=2e-5, seed=None, keep=0):
    r"""Annealed Langevin dynamics (Song & Ermon 2019, Algorithm 1) with any score function.

    .. code-block:: text

        for i = 1..L:                                   sigma_1 > sigma_2 > ... > sigma_L
            alpha_i = eps * sigma_i^2 / sigma_L^2       the step size
            for k = 1..n_steps:
                x <- x + alpha_i / 2 * s(x, sigma_i) + sqrt(alpha_i) z,   z ~ N(0, I)

    The step shrinks with the noise so that the "signal-to-noise ratio" of an update,
    :math:`\alpha_i s / (2\sqrt{\alpha_i} z)`, stays the same at every level
    (:math:`\lVert s\rVert \propto 1/\sigma_i`). Early, wide levels move mass between the modes
    (what Langevin on the clean density cannot do); the last ones sharpen each mode.

    Parameters
    ----------
    score : callable ``score(x, i) -> array`` of x's shape
        The score at level index i = 0..L-1 (``sigmas[i]``). With a DDPM-style model use
        :func:`vp_levels` for the timestep and sigma of each level.
    sigmas : sequence of L floats > 0, decreasing
        The noise level of each score (only their ratios to :math:`\sigma_L` enter the steps).
    x : array (N, ...), the start (e.g. uniform noise, Song & Ermon; or N(0, I))
    n_steps : int >= 1, steps per level (their T)
    eps : float > 0, the step size at the last level (their :math:`\epsilon`)
    seed : int, generator or None
    keep : int
        Also return the path of the first ``keep`` chains: shape (L * n_steps + 1, keep, ...).

    Returns
    -------
    x : array (N, ...), or ``(x, path)`` when ``keep`` > 0
    """
    who = "annealed_langevin"
    sigmas = _check_sigmas(sigmas, who)
    check_int(n_steps, "n_steps", who, min=1)
    check_number(eps, "eps", who, min=0, min_open=True)
    x = _check_start(x, who)
    g = rng(seed)
    paths = []
    for i, sigma_i in enumerate(sigmas):
        # $\alpha_i = \epsilon\, \sigma_i^2 / \sigma_L^2$
        alpha_i = eps * sigma_i**2 / sigmas[-1] ** 2
        out = langevin(lambda v, i=i: score(v, i), x, alpha_i, n_steps, g, keep)
        x, path = out if keep else (out, None)
        if keep:
            paths.append(path if i == 0 else path[1:])  # each level starts where the last one ended
    return (x, get_xp(x).concatenate(paths)) if keep else x


def _check_sigmas(sigmas, who):
    vals = [float(s) for s in unwrap(sigmas)] if hasattr(sigmas, "__len__") else None
    if not vals or any(not (math.isfinite(s) and s > 0) for s in vals):
        raise bad(who, "sigmas", "be a non-empty sequence of finite numbers > 0", sigmas)
    if any(b >= a for a, b in zip(vals, vals[1:])):
        raise bad(who, "sigmas", "decrease strictly (sigma_1 > ... > sigma_L: from noisy to clean)", sigmas)
    return vals


def geometric_sigmas(sigma_max, sigma_min, L):
    r"""Song & Ermon's noise levels, a geometric sequence from :math:`\sigma_1` down to :math:`\sigma_L`:
    :math:`\sigma_i = \sigma_1\,(\sigma_L/\sigma_1)^{(i-1)/(L-1)}`, i = 1..L. A list of L floats."""
    who = "geometric_sigmas"
    check_number(sigma_min, "sigma_min", who, min=0, min_open=True)
    check_number(sigma_max, "sigma_max", who, min=sigma_min, min_open=True, fix="sigma_max > sigma_min")
    check_int(L, "L", who, min=2)
    return [sigma_max * (sigma_min / sigma_max) ** (i / (L - 1)) for i in range(L)]


def vp_levels(schedule, L):
    r"""L timesteps of a DDPM schedule for annealed Langevin with a score model, and their noise levels.

    A variance-preserving :math:`x_t = \sqrt{\bar\alpha_t}(x_0 + \tilde\sigma_t\varepsilon)` is the
    variance-exploding :math:`x_0 + \tilde\sigma_t\varepsilon` of Song & Ermon, scaled, with
    :math:`\tilde\sigma_t = \sqrt{(1-\bar\alpha_t)/\bar\alpha_t}`; so the levels are spaced
    geometrically in :math:`\tilde\sigma` (their :func:`geometric_sigmas`) from t = T to t = 1, each
    rounded to the nearest timestep (in log scale). Geometric in the VP std
    :math:`\sqrt{1-\bar\alpha_t}` instead would crowd the levels near t = 1, since that std
    saturates at 1 while :math:`\tilde\sigma_t` keeps growing.

    Returns ``(t, sigma)``: the timesteps (a list of L ints, strictly decreasing from T to 1) and
    their VP noise stds :math:`\sigma_i = \sqrt{1-\bar\alpha_{t_i}}`, the scale of
    :math:`p_{t_i}`'s modes, which :func:`annealed_langevin` sizes its steps by. Raises if two
    levels fall on one timestep (L too large for T).
    """
    who = "vp_levels"
    _check_schedule(schedule)
    check_int(L, "L", who, min=2)
    import numpy  # a table lookup on the host: T numbers

    from ..backend import to_numpy

    ab = to_numpy(schedule.alpha_bar)[1:].astype(numpy.float64)  # (T,), t = 1..T
    log_ve = 0.5 * (numpy.log1p(-ab) - numpy.log(ab))  # $\log\tilde\sigma_t$, increasing in t
    targets = numpy.linspace(log_ve[-1], log_ve[0], L)  # geometric from sigma~_T down to sigma~_1
    ts = [int(numpy.argmin(numpy.abs(log_ve - v))) + 1 for v in targets]
    if any(b >= a for a, b in zip(ts, ts[1:])):
        raise bad(who, "L", f"leave the levels on distinct timesteps of the schedule (T = {schedule.T})", L,
                  fix="use fewer levels", shown=f"{L} (timesteps {ts})")
    return ts, [math.sqrt(1.0 - float(ab[t - 1])) for t in ts]
