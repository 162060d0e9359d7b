r"""Noise schedules of the DDPM forward process: every per-step coefficient, precomputed once.

References
----------
* Ho, Jain & Abbeel (2020), *Denoising Diffusion Probabilistic Models* (DDPM):
  the linear schedule (Sec. 4), Eqs. 2, 4, 6-7 for the quantities stored here.
* Nichol & Dhariwal (2021), *Improved Denoising Diffusion Probabilistic Models*:
  the cosine schedule, their Eq. 17, with :math:`\beta_t` clipped at 0.999.
* Kingma, Salimans, Poole & Ho (2021), *Variational Diffusion Models* (VDM):
  the signal-to-noise ratio :math:`\mathrm{SNR}(t) = \bar\alpha_t / (1 - \bar\alpha_t)`.

Conventions (kept in every module of ``scratchgen.diffusion``)
-------------------------------------------------------------
* **t runs 1..T, as in Ho et al.** Every array of a :class:`Schedule` has
  length T + 1 and is indexed by t itself, so ``schedule.alpha_bar[t]`` *is*
  :math:`\bar\alpha_t`. Entry 0 describes :math:`x_0` (no noise yet):
  :math:`\beta_0 = 0`, :math:`\alpha_0 = \bar\alpha_0 = 1`, :math:`\mathrm{SNR}(0) = \infty`,
  and :math:`\tilde\beta_0` is undefined (stored as NaN). Functions that take a
  timestep reject t outside 1..T.
* Coefficients are computed in float64, on the array backend that was active
  when the schedule was made. Functions that apply them to data cast them to
  the data's dtype first (:meth:`Schedule.gather`), so float32 data stays float32.
"""
from __future__ import annotations

import math
import numbers

from ..backend import get_xp, to_numpy

__all__ = ["Schedule", "linear_schedule", "cosine_schedule", "make_schedule"]


class Schedule:
    r"""The variances :math:`\beta_1..\beta_T` of the forward process and everything derived from them.

    Parameters
    ----------
    betas : array_like, shape (T,)
        :math:`\beta_t` for t = 1..T, each strictly inside (0, 1).

    Attributes (all float64, shape (T + 1,), indexed by t; see the module header for entry 0)
    ----------
    T : int
        Number of diffusion steps.
    beta : :math:`\beta_t`.
    alpha : :math:`\alpha_t = 1 - \beta_t`.
    alpha_bar : :math:`\bar\alpha_t = \prod_{s=1}^t \alpha_s`.
    one_minus_alpha_bar : :math:`1 - \bar\alpha_t`, computed with ``expm1`` (accurate at small t).
    sqrt_alpha_bar : :math:`\sqrt{\bar\alpha_t}` (the signal scale of Eq. 4).
    sqrt_one_minus_alpha_bar : :math:`\sqrt{1 - \bar\alpha_t}` (the noise scale of Eq. 4).
    beta_tilde : :math:`\tilde\beta_t = \frac{1 - \bar\alpha_{t-1}}{1 - \bar\alpha_t}\beta_t` (Eq. 7).
    log_beta_tilde_clipped : :math:`\log\tilde\beta_t`, with t = 1 (where :math:`\tilde\beta_1 = 0`)
        given :math:`\log\tilde\beta_2`, as in Ho et al.'s reference code
        (``posterior_log_variance_clipped``).
    posterior_coef_x0 : :math:`\frac{\sqrt{\bar\alpha_{t-1}}\,\beta_t}{1 - \bar\alpha_t}` (Eq. 7).
    posterior_coef_xt : :math:`\frac{\sqrt{\alpha_t}\,(1 - \bar\alpha_{t-1})}{1 - \bar\alpha_t}` (Eq. 7).
    snr : :math:`\mathrm{SNR}(t) = \bar\alpha_t / (1 - \bar\alpha_t)` (VDM).

    Raises
    ------
    ValueError
        ``betas`` is not 1-D, is empty, or has a value outside the open interval (0, 1)
        (the message names the first offending index and value).
    """

    def __init__(self, betas, name: str = "custom"):
        xp = get_xp(betas)
        try:
            b = xp.asarray(betas, dtype=xp.float64)
        except (TypeError, ValueError) as e:
            raise ValueError(f"Schedule: betas must be a 1-D array of floats, got {type(betas).__name__} ({e})") from None
        if b.ndim != 1:
            raise ValueError(f"Schedule: betas must be 1-D with shape (T,), got shape {tuple(b.shape)}")
        if b.shape[0] < 1:
            raise ValueError("Schedule: betas must hold at least one value (T >= 1), got shape (0,)")
        bad = ~((b > 0) & (b < 1))  # also catches NaN
        if bool(bad.any()):
            i = int(to_numpy(xp.argmax(bad)))
            raise ValueError(
                f"Schedule: every beta_t must lie in the open interval (0, 1); "
                f"beta_{i + 1} (index {i}) = {float(b[i])!r}"
            )
        self.name = name
        self.T = int(b.shape[0])
        one = xp.ones(1, dtype=xp.float64)
        zero = xp.zeros(1, dtype=xp.float64)

        # beta_0 = 0 so that index t reads as beta_t.                      # (T+1,)
        self.beta = xp.concatenate([zero, b])
        # $\alpha_t = 1 - \beta_t$
        self.alpha = 1.0 - self.beta
        # $\bar\alpha_t = \prod_{s=1}^t \alpha_s$, with $\bar\alpha_0 = 1$ (empty product), as
        # $\exp\sum_s \log(1-\beta_s)$ so that $1 - \bar\alpha_t = -\mathrm{expm1}(\cdot)$ keeps its digits
        # at small t (naive 1 - cumprod loses ~4 of them at t = 1, where 1 - alpha_bar_1 = 1e-4).
        log_alpha_bar = xp.cumsum(xp.log1p(-self.beta))
        self.alpha_bar = xp.exp(log_alpha_bar)
        self.one_minus_alpha_bar = -xp.expm1(log_alpha_bar)
        self.sqrt_alpha_bar = xp.sqrt(self.alpha_bar)
        self.sqrt_one_minus_alpha_bar = xp.sqrt(self.one_minus_alpha_bar)
        # $\bar\alpha_{t-1}$ and $1 - \bar\alpha_{t-1}$ for t = 1..T (entry 0 unused)
        alpha_bar_prev = xp.concatenate([one, self.alpha_bar[:-1]])
        one_minus_alpha_bar_prev = xp.concatenate([zero, self.one_minus_alpha_bar[:-1]])
        with _ignore_divide(xp):
            # $\tilde\beta_t = \frac{1-\bar\alpha_{t-1}}{1-\bar\alpha_t}\beta_t$  (Ho et al. Eq. 7); 0/0 at t = 0
            self.beta_tilde = one_minus_alpha_bar_prev / self.one_minus_alpha_bar * self.beta
            # Eq. 7's mean coefficients: $\tilde\mu_t = c_0 x_0 + c_t x_t$
            self.posterior_coef_x0 = xp.sqrt(alpha_bar_prev) * self.beta / self.one_minus_alpha_bar
            self.posterior_coef_xt = xp.sqrt(self.alpha) * one_minus_alpha_bar_prev / self.one_minus_alpha_bar
            # $\mathrm{SNR}(t) = \bar\alpha_t / (1 - \bar\alpha_t)$; +inf at t = 0
            self.snr = self.alpha_bar / self.one_minus_alpha_bar
        self.beta_tilde[0] = xp.nan
        self.posterior_coef_x0[0] = xp.nan
        self.posterior_coef_xt[0] = xp.nan
        # $\tilde\beta_1 = 0$: its log is -inf. Ho et al.'s code replaces log beta_tilde_1 by
        # log beta_tilde_2 ("clipped"); with T = 1 there is no beta_tilde_2 and we use log beta_1.
        log_bt = xp.log(xp.where(self.beta_tilde > 0, self.beta_tilde, 1.0))
        log_bt[0] = xp.nan
        log_bt[1] = log_bt[2] if self.T >= 2 else math.log(float(b[0]))
        self.log_beta_tilde_clipped = log_bt
        self.log_beta = xp.concatenate([xp.full(1, xp.nan), xp.log(b)])

    # ------------------------------------------------------------------
    def __repr__(self) -> str:
        return f"Schedule({self.name}, T={self.T}, alpha_bar_T={float(self.alpha_bar[-1]):.3e})"

    def __len__(self) -> int:
        return self.T

    def check_t(self, t, batch: int | None = None, who: str = "t"):
        """Validate timesteps ``t`` (int or integer array of shape (B,)) against 1..T.

        Returns ``t`` as an integer array of shape (B,) on the schedule's backend
        (a Python int is repeated ``batch`` times).
        """
        xp = get_xp(self.beta)
        if isinstance(t, bool):
            raise ValueError(f"{who} must be an integer timestep in 1..{self.T}, got a bool")
        if isinstance(t, numbers.Integral):
            t = int(t)
            if not 1 <= t <= self.T:
                raise ValueError(f"{who} must lie in 1..T = 1..{self.T} (t counts from 1 as in Ho et al.), got {t}")
            n = 1 if batch is None else batch
            return xp.full((n,), t, dtype=xp.int64)
        t_np = to_numpy(t)
        if t_np.dtype.kind not in "iu":
            raise ValueError(f"{who} must be an integer array, got dtype {t_np.dtype}")
        if t_np.ndim != 1:
            raise ValueError(f"{who} must have shape (B,), got shape {t_np.shape}")
        if batch is not None and t_np.shape[0] != batch:
            raise ValueError(f"{who} has shape {t_np.shape} but the batch has {batch} rows; expected ({batch},)")
        if t_np.size and (t_np.min() < 1 or t_np.max() > self.T):
            raise ValueError(
                f"{who} must lie in 1..T = 1..{self.T} (t counts from 1 as in Ho et al.), "
                f"got values in [{int(t_np.min())}, {int(t_np.max())}]"
            )
        return xp.asarray(t_np, dtype=xp.int64)

    def gather(self, name: str, t, like):
        r"""``self.<name>[t]`` cast to ``like``'s dtype and backend, shaped to broadcast over a batch.

        Parameters
        ----------
        name : str
            An attribute such as ``"alpha_bar"``.
        t : int or int array, shape (B,)
            Timesteps in 1..T.
        like : array or Tensor, shape (B, ...)
            The data the coefficient multiplies.

        Returns
        -------
        array, shape (B, 1, ..., 1), or (1, ..., 1) when ``t`` is one int
            One coefficient per row (or one for all rows), with ``like.ndim`` axes, in
            ``like``'s float dtype (float32 data is never promoted to float64).
        """
        ndim = like.ndim
        if ndim < 1:
            raise ValueError(f"data must have a batch axis, shape (B, ...), got shape {tuple(like.shape)}")
        # one int t for the whole batch (the samplers): a single coefficient, shape (1, ..., 1)
        tt = self.check_t(t, batch=1 if isinstance(t, numbers.Integral) else like.shape[0])
        coef = getattr(self, name)[tt]  # (B,) or (1,)
        xp = get_xp(like)
        if get_xp(coef) is not xp:  # schedule made on another backend: move the (B,) coefficients
            coef = xp.asarray(to_numpy(coef))
        dtype = like.dtype if like.dtype.kind == "f" else coef.dtype
        coef = coef.astype(dtype, copy=False)
        return coef.reshape((coef.shape[0],) + (1,) * (ndim - 1))


class _ignore_divide:
    """``errstate(divide, invalid)`` on NumPy; nothing on backends without it."""

    def __init__(self, xp):
        self._cm = xp.errstate(divide="ignore", invalid="ignore") if hasattr(xp, "errstate") else None

    def __enter__(self):
        if self._cm is not None:
            self._cm.__enter__()

    def __exit__(self, *exc):
        if self._cm is not None:
            return self._cm.__exit__(*exc)
        return False


def linear_schedule(T: int = 1000, beta_1: float = 1e-4, beta_T: float = 0.02) -> Schedule:
    r"""Ho et al.'s schedule: :math:`\beta_t` linear from :math:`\beta_1 = 10^{-4}` to :math:`\beta_T = 0.02`, T = 1000.

    :math:`\beta_t = \beta_1 + \frac{t-1}{T-1}(\beta_T - \beta_1)` (Ho et al. Sec. 4).
    With the defaults :math:`\bar\alpha_T \approx 4.04\times10^{-5}`.

    Parameters
    ----------
    T : int
        Number of steps (>= 1; with T = 1 the single step uses ``beta_1``).
    beta_1, beta_T : float
        First and last variance, in (0, 1).
    """
    T = _check_T(T)
    xp = get_xp()
    if T == 1:
        return Schedule(xp.asarray([beta_1], dtype=xp.float64), name="linear")
    return Schedule(xp.linspace(beta_1, beta_T, T, dtype=xp.float64), name="linear")


def cosine_schedule(T: int = 1000, s: float = 0.008, max_beta: float = 0.999) -> Schedule:
    r"""Nichol & Dhariwal's cosine schedule (their Eq. 17).

    .. math::
        \bar\alpha_t = \frac{f(t)}{f(0)},\quad f(t) = \cos^2\!\Big(\frac{t/T + s}{1 + s}\cdot\frac{\pi}{2}\Big),
        \qquad \beta_t = \min\Big(1 - \frac{\bar\alpha_t}{\bar\alpha_{t-1}},\ 0.999\Big).

    The small offset ``s`` keeps :math:`\beta_t` from being too small near t = 0; the clip
    keeps :math:`\beta_T` below 1 (unclipped, :math:`\bar\alpha_T = 0` and :math:`\beta_T = 1`).
    :math:`\bar\alpha_t` is then recomputed from the clipped :math:`\beta_t` (as in their code),
    which gives :math:`\bar\alpha_T \approx 2.43\times10^{-9}` with the defaults.
    """
    T = _check_T(T)
    if not 0 < max_beta < 1:
        raise ValueError(f"cosine_schedule: max_beta must lie in (0, 1), got {max_beta!r}")
    if not s >= 0:
        raise ValueError(f"cosine_schedule: s must be >= 0, got {s!r}")
    ### BEGIN SOLUTION
    xp = get_xp()
    t = xp.arange(T + 1, dtype=xp.float64)  # (T+1,) for t = 0..T
    # $f(t) = \cos^2(\frac{t/T + s}{1+s}\frac{\pi}{2})$
    f = xp.cos((t / T + s) / (1 + s) * (math.pi / 2)) ** 2
    alpha_bar = f / f[0]
    # $\beta_t = 1 - \bar\alpha_t / \bar\alpha_{t-1}$, clipped
    beta = xp.minimum(1.0 - alpha_bar[1:] / alpha_bar[:-1], max_beta)
    return Schedule(beta, name="cosine")
    ### END SOLUTION


def make_schedule(kind="linear", T: int = 1000, **kwargs) -> Schedule:
    """A schedule by name ("linear", "cosine"), or from a user-given array of betas.

    ``make_schedule(betas_array)`` is ``Schedule(betas_array)``.
    """
    if isinstance(kind, Schedule):
        return kind
    if isinstance(kind, str):
        if kind == "linear":
            return linear_schedule(T, **kwargs)
        if kind == "cosine":
            return cosine_schedule(T, **kwargs)
        raise ValueError(f"make_schedule: kind must be 'linear', 'cosine' or an array of betas, got {kind!r}")
    return Schedule(kind)


def _check_T(T):
    if isinstance(T, bool) or not isinstance(T, int) or T < 1:
        raise ValueError(f"T must be a positive integer number of steps, got {T!r}")
    return T
