r"""Samplers for a trained ε-predictor: ancestral sampling (DDPM) and DDIM.

References
----------
* Ho, Jain & Abbeel (2020), DDPM: Algorithm 2 (ancestral sampling), Eq. 11 (the mean).
* Song, Meng & Ermon (2021), *Denoising Diffusion Implicit Models* (DDIM): Eq. 12 (the
  update), Eq. 16 (:math:`\sigma_t(\eta)`), Sec. 4.2 (sampling on a subsequence
  :math:`\tau` of 1..T).

Conventions
-----------
* t runs 1..T as in Ho (see :mod:`scratchgen.diffusion.schedules`); :math:`\bar\alpha_0 = 1`.
* Samplers run under ``no_grad`` and return arrays of the active backend. The model is
  called as ``eps_model(x_t, t)`` with ``x_t`` an array (B, ...) and ``t`` an int64 array (B,).
* ``progress=True`` shows a tqdm bar over the sampling steps, with an ETA (on stderr; it is left on
  screen unless another bar, such as a trainer's, is open).
* ``return_trajectory=True`` returns ``(x0, trajectory, steps)``: ``trajectory[i]`` is the
  state at timestep ``steps[i]``, in increasing order, so ``steps[0] = 0`` and
  ``trajectory[0]`` is the sample. For the ancestral sampler ``steps = 0..T`` and
  ``trajectory[t]`` is :math:`x_t`.
"""
from __future__ import annotations

import math

from .. import autodiff as ad
from ..autodiff import Tensor
from ..backend import default_dtype, get_xp, to_numpy
from ..backend import rng as _rng
from .ddpm import (
    _check_schedule,
    _check_sigma2,
    p_mean_from_eps,
    p_variance,
    predict_eps_from_x0,
    predict_x0_from_eps,
    q_posterior,
)
from .schedules import Schedule


def _steps_bar(steps, total, desc, progress):
    """``steps``, wrapped in a tqdm bar (steps done, rate and ETA) when ``progress`` is true."""
    from tqdm.auto import tqdm

    return tqdm(steps, total=total, desc=desc, unit="step", disable=not progress, leave=None)

__all__ = ["p_sample_step", "ancestral_sample", "ddim_timesteps", "ddim_sigma", "ddim_step", "ddim_sample",
           "respace", "generate", "SAMPLERS"]

SAMPLERS = ("ddpm", "ddim")


def _as_array(v):
    return v.data if isinstance(v, Tensor) else v


def _eps(eps_model, xt, t: int):
    """The model's ε at (x_t, t) as an array, checked for shape."""
    xp = get_xp(xt)
    t_arr = xp.full((xt.shape[0],), t, dtype=xp.int64)  # (B,)
    out = _as_array(eps_model(xt, t_arr))
    if not hasattr(out, "shape") or tuple(out.shape) != tuple(xt.shape):
        raise ValueError(
            f"eps_model(x_t, t) must return an array of x_t's shape {tuple(xt.shape)}, "
            f"got {getattr(out, 'shape', type(out).__name__)}"
        )
    # keep the sampling dtype: a model that answers float32 input in float64 must not
    # switch the chain to float64 half-way (the trajectory buffer has x_T's dtype)
    return out.astype(xt.dtype, copy=False)


def _check_clip(clip_x0):
    if clip_x0 is None:
        return None
    lo, hi = clip_x0
    if not lo < hi:
        raise ValueError(f"clip_x0 must be a (low, high) pair with low < high, got {clip_x0!r}")
    return float(lo), float(hi)


def _initial_noise(g, shape, x_T, dtype):
    """x_T: the given one (checked), or a draw from the prior N(0, I)."""
    if x_T is not None:
        x_T = _as_array(x_T)
        if x_T.ndim < 1 or x_T.dtype.kind != "f":
            raise ValueError(f"x_T must be a float array of shape (B, ...), got shape {x_T.shape}, dtype {x_T.dtype}")
        if shape is not None and tuple(shape) != tuple(x_T.shape):
            raise ValueError(f"x_T has shape {tuple(x_T.shape)} but shape={tuple(shape)} was asked for")
        return x_T.copy()
    if shape is None:
        raise ValueError("give the sample shape (B, ...) or x_T")
    shape = tuple(int(n) for n in shape)
    if len(shape) < 1 or any(n < 1 for n in shape):
        raise ValueError(f"shape must be (B, ...) with positive sizes, got {shape}")
    return g.standard_normal(shape, dtype=dtype or default_dtype())


def _check_schedule_fits(schedule, dtype, who):
    r"""Refuse a schedule whose :math:`\bar\alpha_T` is below the smallest normal number of the samples'
    dtype: cast to that dtype it becomes 0 (or loses its digits), :math:`1/\sqrt{\bar\alpha_T}` is inf and
    every sample NaN (the linear schedule reaches it in float32 at T of about 8,700)."""
    import numpy  # the limit is a property of the dtype, read on the host

    info = numpy.finfo(numpy.dtype(str(dtype)))
    alpha_bar_T = float(schedule.alpha_bar[schedule.T])
    if alpha_bar_T < float(info.tiny):
        raise ValueError(f"{who}: the schedule (T = {schedule.T}) has alpha_bar_T = {alpha_bar_T:.2g}, below "
                         f"{info.dtype}'s smallest normal number {float(info.tiny):.2g}, so 1/alpha_bar_T overflows "
                         f"and every sample would be NaN; sample in float64 (dtype='float64') or use a shorter "
                         f"or the cosine schedule")


def p_sample_step(schedule, xt, t: int, eps_theta, z, sigma2="beta", clip_x0=None):
    r"""One step of Algorithm 2 (Ho): :math:`x_{t-1} = \mu_\theta(x_t, t) + \sigma_t z`, with z = 0 at t = 1.

    .. math:: x_{t-1} = \frac{1}{\sqrt{\alpha_t}}\Big(x_t - \frac{\beta_t}{\sqrt{1-\bar\alpha_t}}\,
              \varepsilon_\theta(x_t, t)\Big) + \sigma_t z

    Parameters
    ----------
    schedule : Schedule
    xt : array, shape (B, ...)
    t : int in 1..T
    eps_theta : array, shape (B, ...)
    z : array, shape (B, ...), or None
        Standard normal noise; ignored (taken as 0) at t = 1, as Algorithm 2 says.
    sigma2 : "beta" or "beta_tilde"
    clip_x0 : (low, high) or None
        If given, :math:`\hat x_0` (:func:`predict_x0_from_eps`) is clipped to the data range and the
        mean is the posterior mean :math:`\tilde\mu_t(x_t, \hat x_0)` of Eq. 7 (what Ho's code does for
        images). Without clipping that mean equals Eq. 11.
    """
    _check_schedule(schedule)
    _check_sigma2(sigma2)
    clip_x0 = _check_clip(clip_x0)
    ### BEGIN SOLUTION
    if clip_x0 is None:
        mean = p_mean_from_eps(schedule, xt, t, eps_theta)  # Eq. 11
    else:
        x0_hat = get_xp(xt).clip(predict_x0_from_eps(schedule, xt, t, eps_theta), *clip_x0)
        mean, _ = q_posterior(schedule, x0_hat, xt, t)  # Eq. 7 at the clipped x0
    if int(t) == 1:
        return mean  # Algorithm 2, line 3: z = 0 at t = 1
    if z is None or tuple(z.shape) != tuple(xt.shape):
        raise ValueError(f"z must be noise of x_t's shape {tuple(xt.shape)} for t > 1, got {getattr(z, 'shape', z)}")
    variance, _ = p_variance(schedule, t, xt, sigma2)  # (B, 1, ...)
    return mean + variance**0.5 * z
    ### END SOLUTION


def ancestral_sample(schedule, eps_model, shape=None, seed=None, sigma2="beta", x_T=None, dtype=None,
                     clip_x0=None, return_trajectory=False, progress=False):
    r"""Ancestral sampling, Algorithm 2 of Ho et al.

    .. code-block:: text

        x_T ~ N(0, I)
        for t = T, ..., 1:
            z ~ N(0, I) if t > 1, else z = 0
            x_{t-1} = 1/sqrt(alpha_t) (x_t - beta_t / sqrt(1 - alpha_bar_t) eps_theta(x_t, t)) + sigma_t z
        return x_0

    Parameters
    ----------
    schedule : Schedule
    eps_model : callable ``(x_t, t) -> eps_theta``
    shape : tuple (B, ...), optional if ``x_T`` is given
    seed : int, generator or None
    sigma2 : "beta" (Ho's default for sampling) or "beta_tilde"
    x_T : array, optional
        Start here instead of drawing from the prior.
    dtype : float dtype of the drawn x_T (default: the library default, float32)
    clip_x0 : (low, high) or None
        See :func:`p_sample_step`.
    return_trajectory : bool
        Also return every :math:`x_t`: ``(x0, trajectory (T+1, B, ...), steps = 0..T)``.
    progress : bool
        Show a progress bar over the T steps, with an ETA.

    Returns
    -------
    x0 : array, shape (B, ...)
    """
    _check_schedule(schedule)
    _check_sigma2(sigma2)
    g = _rng(seed)
    xt = _initial_noise(g, shape, x_T, dtype)  # (B, ...)
    _check_schedule_fits(schedule, xt.dtype, "ancestral_sample")
    xp = get_xp(xt)
    T = schedule.T
    traj = None
    if return_trajectory:
        traj = xp.empty((T + 1,) + tuple(xt.shape), dtype=xt.dtype)  # (T+1, B, ...)
        traj[T] = xt
    with ad.no_grad():
        for t in _steps_bar(range(T, 0, -1), T, "sampling (ancestral)", progress):
            eps_theta = _eps(eps_model, xt, t)
            z = g.standard_normal(xt.shape, dtype=xt.dtype) if t > 1 else None
            xt = p_sample_step(schedule, xt, t, eps_theta, z, sigma2, clip_x0)  # x_{t-1}
            if traj is not None:
                traj[t - 1] = xt
    if return_trajectory:
        return xt, traj, xp.arange(T + 1)
    return xt


def ddim_timesteps(T: int, steps: int):
    r"""An increasing subsequence :math:`\tau_1 < \dots < \tau_S` of 1..T, evenly strided, with
    :math:`\tau_1 = 1` and :math:`\tau_S = T`.

    :math:`\tau_i = 1 + \operatorname{round}\big((i-1)(T-1)/(S-1)\big)`; ``steps = T`` gives 1..T.
    (Song et al.'s code uses ``range(0, T, T // S)`` in 0-based steps, which ends short of T; we
    end at T so that :math:`x_{\tau_S}` is drawn from the prior at the step where
    :math:`\bar\alpha_T \approx 0`.)
    """
    if isinstance(T, bool) or not isinstance(T, int) or T < 1:
        raise ValueError(f"ddim_timesteps: T must be a positive int, got {T!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= T:
        raise ValueError(f"ddim_timesteps: steps must be an int in 1..T = 1..{T}, got {steps!r}")
    xp = get_xp()
    if steps == 1:
        return xp.asarray([T], dtype=xp.int64)
    i = xp.arange(steps, dtype=xp.float64)
    return (1 + xp.round(i * (T - 1) / (steps - 1))).astype(xp.int64)


def ddim_sigma(schedule, t: int, t_prev: int, eta: float) -> float:
    r""":math:`\sigma_{\tau_i}(\eta) = \eta\sqrt{\frac{1-\bar\alpha_{\tau_{i-1}}}{1-\bar\alpha_{\tau_i}}}
    \sqrt{1-\frac{\bar\alpha_{\tau_i}}{\bar\alpha_{\tau_{i-1}}}}` (Song et al. Eq. 16).

    η = 1 with consecutive steps gives :math:`\sigma_t^2 = \tilde\beta_t` (the DDPM posterior
    variance); η = 0 gives the deterministic DDIM.
    """
    a_t, a_prev = float(schedule.alpha_bar[t]), float(schedule.alpha_bar[t_prev])
    one_minus_a_t, one_minus_a_prev = float(schedule.one_minus_alpha_bar[t]), float(schedule.one_minus_alpha_bar[t_prev])
    return eta * math.sqrt(one_minus_a_prev / one_minus_a_t) * math.sqrt(1 - a_t / a_prev)


def ddim_step(schedule, xt, t: int, t_prev: int, eps_theta, eta: float = 0.0, z=None, clip_x0=None):
    r"""One DDIM update from :math:`x_t` to :math:`x_{t'}`, :math:`t' < t` (Song et al. Eq. 12).

    .. math:: x_{t'} = \sqrt{\bar\alpha_{t'}}\,\hat x_0
              + \sqrt{1 - \bar\alpha_{t'} - \sigma^2}\;\varepsilon_\theta(x_t, t) + \sigma z,
              \qquad \hat x_0 = \frac{x_t - \sqrt{1-\bar\alpha_t}\,\varepsilon_\theta}{\sqrt{\bar\alpha_t}}

    with :math:`\sigma` from :func:`ddim_sigma`. ``t_prev = 0`` (:math:`\bar\alpha_0 = 1`) gives
    :math:`\sigma = 0` and returns :math:`\hat x_0`.

    Parameters
    ----------
    xt : array, shape (B, ...)
    t : int in 1..T;  t_prev : int in 0..t-1
    eps_theta : array, shape (B, ...)
    eta : float in [0, 1]
    z : array, shape (B, ...); needed only when sigma > 0
    clip_x0 : (low, high) or None
        Clip :math:`\hat x_0` and recompute :math:`\varepsilon` from it (as improved-diffusion's DDIM does).
    """
    _check_schedule(schedule)
    if not 0 <= eta <= 1:
        raise ValueError(f"eta must lie in [0, 1] (0: DDIM, 1: DDPM-like), got {eta!r}")
    t, t_prev = int(t), int(t_prev)
    if not 1 <= t <= schedule.T or not 0 <= t_prev < t:
        raise ValueError(f"ddim_step needs 1 <= t <= T = {schedule.T} and 0 <= t_prev < t, got t={t}, t_prev={t_prev}")
    clip_x0 = _check_clip(clip_x0)
    x0_hat = predict_x0_from_eps(schedule, xt, t, eps_theta)  # (B, ...)
    if clip_x0 is not None:
        x0_hat = get_xp(xt).clip(x0_hat, *clip_x0)
        eps_theta = predict_eps_from_x0(schedule, xt, t, x0_hat)
    sigma = ddim_sigma(schedule, t, t_prev, eta)
    a_prev = float(schedule.alpha_bar[t_prev])
    # the "direction pointing to x_t"; max(., 0) guards rounding when the radicand is ~0
    dir_coef = math.sqrt(max(float(schedule.one_minus_alpha_bar[t_prev]) - sigma**2, 0.0))
    x_prev = math.sqrt(a_prev) * x0_hat + dir_coef * eps_theta
    if sigma > 0:
        if z is None or tuple(z.shape) != tuple(xt.shape):
            raise ValueError(f"z must be noise of x_t's shape {tuple(xt.shape)} when sigma > 0, got {getattr(z, 'shape', z)}")
        x_prev = x_prev + sigma * z
    return x_prev


def ddim_sample(schedule, eps_model, shape=None, seed=None, steps=None, timesteps=None, eta=0.0, x_T=None,
                dtype=None, clip_x0=None, return_trajectory=False, progress=False):
    r"""DDIM sampling on a subsequence :math:`\tau` of 1..T (Song et al. Eq. 12, Sec. 4.2).

    Starts from :math:`x_{\tau_S} = x_T \sim \mathcal N(0, I)` and applies :func:`ddim_step`
    from :math:`\tau_i` to :math:`\tau_{i-1}` for i = S..1, with :math:`\tau_0 = 0`.
    With η = 0 the map from :math:`x_T` to :math:`x_0` is deterministic.

    Parameters
    ----------
    schedule, eps_model, shape, seed, x_T, dtype, clip_x0 : as in :func:`ancestral_sample`
    steps : int, optional
        S; the timesteps are :func:`ddim_timesteps` (T, S). Default: all T.
    timesteps : int array, optional
        An explicit strictly increasing sequence in 1..T ending at T (instead of ``steps``).
    eta : float in [0, 1]
    return_trajectory : bool
        Also return ``(trajectory (S+1, B, ...), steps [0, tau_1, ..., tau_S])``.
    progress : bool
        Show a progress bar over the S steps, with an ETA.
    """
    _check_schedule(schedule)
    if not 0 <= eta <= 1:
        raise ValueError(f"eta must lie in [0, 1], got {eta!r}")
    if steps is not None and timesteps is not None:
        raise ValueError("give steps or timesteps, not both")
    if timesteps is None:
        taus = ddim_timesteps(schedule.T, schedule.T if steps is None else steps)
    else:
        taus_np = to_numpy(timesteps)
        if taus_np.ndim != 1 or taus_np.size < 1 or taus_np.dtype.kind not in "iu":
            raise ValueError(f"timesteps must be a 1-D integer array, got shape {taus_np.shape}, dtype {taus_np.dtype}")
        if (taus_np[1:] <= taus_np[:-1]).any() or taus_np[0] < 1 or taus_np[-1] != schedule.T:
            raise ValueError(
                f"timesteps must increase strictly within 1..T and end at T = {schedule.T}; "
                f"got {taus_np.tolist() if taus_np.size <= 12 else taus_np}"
            )
        taus = get_xp().asarray(taus_np, dtype=get_xp().int64)
    taus = [int(v) for v in to_numpy(taus)]
    g = _rng(seed)
    xt = _initial_noise(g, shape, x_T, dtype)
    _check_schedule_fits(schedule, xt.dtype, "ddim_sample")
    xp = get_xp(xt)
    S = len(taus)
    traj = None
    if return_trajectory:
        traj = xp.empty((S + 1,) + tuple(xt.shape), dtype=xt.dtype)
        traj[S] = xt
    prevs = [0] + taus[:-1]
    with ad.no_grad():
        for i in _steps_bar(range(S - 1, -1, -1), S, "sampling (DDIM)", progress):
            t, t_prev = taus[i], prevs[i]
            eps_theta = _eps(eps_model, xt, t)
            needs_z = ddim_sigma(schedule, t, t_prev, eta) > 0
            z = g.standard_normal(xt.shape, dtype=xt.dtype) if needs_z else None
            xt = ddim_step(schedule, xt, t, t_prev, eps_theta, eta, z, clip_x0)
            if traj is not None:
                traj[i] = xt
    if return_trajectory:
        return xt, traj, xp.asarray([0] + taus, dtype=xp.int64)
    return xt


# ---------------------------------------------------------------------------
# Respacing (Nichol & Dhariwal 2021, Sec. 4), and one entry point for every sampler
# ---------------------------------------------------------------------------
def respace(schedule: Schedule, steps: int):
    r"""A schedule on S of the T timesteps, and the map from its steps to the original ones.

    Nichol & Dhariwal (2021), Sec. 4: for the subsequence :math:`\tau_1 < \dots < \tau_S`
    (``ddim_timesteps``, :math:`\tau_S = T`), keep :math:`\bar\alpha_{\tau_i}` and set

    .. math:: \beta'_i = 1 - \frac{\bar\alpha_{\tau_i}}{\bar\alpha_{\tau_{i-1}}},\qquad \bar\alpha_{\tau_0} = 1,

    so that the S-step process has the same marginals :math:`q(x_{\tau_i} \mid x_0)`. A model
    trained on the T-step process is called at :math:`\tau_i` when the S-step sampler is at i.

    Returns
    -------
    (Schedule with T' = S, int array taus (S + 1,) with taus[0] = 0)
    """
    xp = get_xp(schedule.alpha_bar)
    taus = ddim_timesteps(schedule.T, steps)  # (S,)
    ab = schedule.alpha_bar[taus]  # (S,)
    ab_prev = xp.concatenate([xp.ones(1, dtype=ab.dtype), ab[:-1]])
    beta = 1 - ab / ab_prev  # $\beta'_i = 1 - \bar\alpha_{\tau_i}/\bar\alpha_{\tau_{i-1}}$
    return Schedule(beta, name=f"{schedule.name}-respaced{steps}"), xp.concatenate([xp.zeros(1, dtype=taus.dtype), taus])


def generate(model, schedule: Schedule, n: int, data_shape, sampler="ddpm", steps=None, eta=0.0,
             sigma2="beta_tilde", seed=None, return_trajectory=False, progress=False):
    """Draw ``n`` samples (in the model's scaled space) with the ancestral sampler or DDIM.

    ``sampler="ddpm"``: Ho's Algorithm 2 with all T steps, or, with ``steps`` = S < T, on the
    respaced schedule of :func:`respace`. ``sampler="ddim"``: Song et al. with S steps and ``eta``.
    Returns what the sampler returns (``x0`` or ``(x0, trajectory, timesteps)``; the timesteps
    are those of the original T-step process). ``progress=True`` shows a bar over the S steps.
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
    S = schedule.T if steps is None else steps
    if isinstance(S, bool) or not isinstance(S, int) or not 1 <= S <= schedule.T:
        raise ValueError(f"steps must be an int in 1..T = 1..{schedule.T}, got {steps!r}")
    was_training = getattr(model, "training", False)
    model.eval()
    shape = (int(n),) + tuple(data_shape)
    try:
        if sampler == "ddim":
            return ddim_sample(schedule, model, shape, seed=seed, steps=S, eta=eta,
                               return_trajectory=return_trajectory, progress=progress)
        if S == schedule.T:
            return ancestral_sample(schedule, model, shape, seed=seed, sigma2=sigma2,
                                    return_trajectory=return_trajectory, progress=progress)
        sched_s, taus = respace(schedule, S)

        def model_s(xt, i):  # the S-step sampler is at i; the model was trained at tau_i
            return model(xt, taus[i])

        out = ancestral_sample(sched_s, model_s, shape, seed=seed, sigma2=sigma2, return_trajectory=return_trajectory,
                               progress=progress)
        if return_trajectory:
            return out[0], out[1], taus
        return out
    finally:
        if was_training:
            model.train()
