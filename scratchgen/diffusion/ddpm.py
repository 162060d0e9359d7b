r"""DDPM from its equations: the forward process, the posterior, the ε-parameterisation, the losses.

References
----------
* Ho, Jain & Abbeel (2020), *Denoising Diffusion Probabilistic Models* ("Ho"):
  Eq. 2 (one forward step), Eq. 3 and 5 (the variational bound and its terms),
  Eq. 4 (the closed-form marginal), Eqs. 6-7 (the forward-process posterior),
  Eq. 8 (the KL as a weighted squared error), Eq. 11 (the ε-parameterised mean),
  Eq. 12 (the bound in ε), Eq. 13 (the discretised decoder), Eq. 14 (L_simple).
  Their reference code (``diffusion_utils_2.py``) for the clipped log-variance at t = 1
  and for the tanh approximation of the normal CDF.
* Kingma, Salimans, Poole & Ho (2021), *Variational Diffusion Models*: low-discrepancy
  timestep sampling, :math:`u_i = \operatorname{mod}(u_0 + i/k, 1)`.

Conventions
-----------
* t runs 1..T as in Ho; ``schedule.alpha_bar[t]`` is :math:`\bar\alpha_t` (see
  :mod:`scratchgen.diffusion.schedules`). A timestep argument is an int (the same t for
  every row) or an integer array of shape (B,); values outside 1..T raise ``ValueError``.
* Data has shape (B, ...): a batch axis first, any data axes after it. Coefficients are
  gathered per row and cast to the data's dtype, so float32 data stays float32.
* A model is any callable ``eps_model(x_t, t) -> eps_hat`` (Tensor or array of x_t's shape),
  with t the int array of shape (B,) in 1..T.
* Functions of the forward process (``q_*``, ``predict_x0_from_eps``, ``p_mean_from_eps``) are
  plain arithmetic: given arrays they return arrays, given Tensors they return Tensors on the
  tape. Losses always return Tensors, differentiable through scratchgen's autodiff.
* Log-likelihoods and KLs are in nats, summed over the data axes (one value per example),
  unless ``bits_per_dim=True``.
* :math:`\sigma_t^2` of the reverse process: ``"beta"`` (:math:`\sigma_t^2 = \beta_t`) or
  ``"beta_tilde"`` (:math:`\sigma_t^2 = \tilde\beta_t`). Ho (Sec. 3.2) reports the two give
  similar samples; :math:`\beta_t` is optimal for :math:`x_0 \sim \mathcal N(0, I)` and
  :math:`\tilde\beta_t` for :math:`x_0` fixed to one point (the upper and lower bounds on the
  reverse-process entropy).
"""
from __future__ import annotations

import math

from .. import autodiff as ad
from ..autodiff import Tensor
from ..backend import get_xp, to_numpy
from ..backend import rng as _rng
from .schedules import Schedule

__all__ = [
    "q_marginal", "q_sample", "q_step", "q_step_sample", "q_posterior",
    "predict_x0_from_eps", "predict_eps_from_x0", "p_mean_from_eps", "p_variance",
    "vlb_weight", "normal_kl", "gaussian_log_likelihood", "approx_standard_normal_cdf",
    "discretized_gaussian_log_likelihood", "sample_timesteps", "loss_simple",
    "prior_kl", "vlb_term", "vlb", "SIGMA2_CHOICES",
]

SIGMA2_CHOICES = ("beta", "beta_tilde")


# ---------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------
def _check_schedule(schedule):
    if not isinstance(schedule, Schedule):
        raise ValueError(
            f"schedule must be a scratchgen.diffusion.Schedule (e.g. linear_schedule()), got {type(schedule).__name__}"
        )


def _check_data(x, name):
    if not hasattr(x, "shape") or not hasattr(x, "dtype"):
        raise ValueError(f"{name} must be an array or Tensor of shape (B, ...), got {type(x).__name__}")
    if x.ndim < 1:
        raise ValueError(f"{name} must have a batch axis, shape (B, ...), got shape {tuple(x.shape)}")
    if x.dtype.kind != "f":
        raise ValueError(f"{name} must be a float array, got dtype {x.dtype}")


def _check_same_shape(a, a_name, b, b_name):
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(
            f"{b_name} must have the shape of {a_name}, {tuple(a.shape)}; got {tuple(b.shape)} "
            "(no broadcasting here: a mismatch is a bug)"
        )


def _check_sigma2(sigma2):
    if sigma2 not in SIGMA2_CHOICES:
        raise ValueError(f"sigma2 must be one of {SIGMA2_CHOICES}, got {sigma2!r}")


def _sum_data_axes(v):
    """Sum a Tensor over every axis but the first: (B, ...) -> (B,)."""
    return ad.sum(v, axis=tuple(range(1, v.ndim))) if v.ndim > 1 else v


def _mean_data_axes(v):
    return ad.mean(v, axis=tuple(range(1, v.ndim))) if v.ndim > 1 else v


def _call_model(eps_model, xt, t):
    """``eps_model(xt, t)``, checked to have ``xt``'s shape."""
    eps_theta = eps_model(xt, t)
    if not hasattr(eps_theta, "shape"):
        raise ValueError(f"eps_model must return an array or Tensor, got {type(eps_theta).__name__}")
    _check_same_shape(xt, "x_t", eps_theta, "eps_model(x_t, t)")
    return eps_theta


# ---------------------------------------------------------------------------
# The forward process
# ---------------------------------------------------------------------------
def q_step(schedule, x_prev, t):
    r"""Mean and variance of one forward step, :math:`q(x_t \mid x_{t-1})` (Ho Eq. 2).

    .. math:: q(x_t \mid x_{t-1}) = \mathcal N\big(x_t;\ \sqrt{1-\beta_t}\,x_{t-1},\ \beta_t I\big)

    Parameters
    ----------
    schedule : Schedule
    x_prev : array or Tensor, shape (B, ...)
        :math:`x_{t-1}`.
    t : int or int array, shape (B,)
        Timesteps in 1..T.

    Returns
    -------
    mean : shape (B, ...)
    variance : array, shape (B, 1, ..., 1)
        :math:`\beta_t`, broadcastable against the data.
    """
    _check_schedule(schedule)
    _check_data(x_prev, "x_prev")
    sqrt_alpha = schedule.gather("alpha", t, x_prev) ** 0.5  # (B, 1, ...)
    beta = schedule.gather("beta", t, x_prev)  # (B, 1, ...)
    return sqrt_alpha * x_prev, beta


def q_step_sample(schedule, x_prev, t, eps):
    r"""One forward step by reparameterisation: :math:`x_t = \sqrt{\alpha_t}\,x_{t-1} + \sqrt{\beta_t}\,\varepsilon` (Ho Eq. 2).

    ``eps`` (shape of ``x_prev``) is the standard normal noise; the function is deterministic given it.
    """
    mean, beta = q_step(schedule, x_prev, t)
    _check_same_shape(x_prev, "x_prev", eps, "eps")
    return mean + beta**0.5 * eps


def q_marginal(schedule, x0, t):
    r"""Mean and variance of the closed-form marginal :math:`q(x_t \mid x_0)` (Ho Eq. 4).

    .. math:: q(x_t \mid x_0) = \mathcal N\big(x_t;\ \sqrt{\bar\alpha_t}\,x_0,\ (1-\bar\alpha_t) I\big)

    Returns
    -------
    mean : shape (B, ...)
    variance : array, shape (B, 1, ..., 1)
    """
    _check_schedule(schedule)
    _check_data(x0, "x0")
    sqrt_alpha_bar = schedule.gather("sqrt_alpha_bar", t, x0)  # (B, 1, ...)
    one_minus_alpha_bar = schedule.gather("one_minus_alpha_bar", t, x0)
    return sqrt_alpha_bar * x0, one_minus_alpha_bar


def q_sample(schedule, x0, t, eps):
    r"""Sample :math:`x_t \sim q(x_t \mid x_0)` by reparameterisation (Ho Eq. 4 and Sec. 3.2).

    .. math:: x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon,
              \qquad \varepsilon \sim \mathcal N(0, I)

    Parameters
    ----------
    schedule : Schedule
    x0 : array or Tensor, shape (B, ...)
    t : int or int array, shape (B,)
        Timesteps in 1..T.
    eps : array or Tensor, shape (B, ...)
        The noise :math:`\varepsilon`; same shape as ``x0``.

    Returns
    -------
    xt : shape (B, ...), the type of ``x0`` and ``eps`` (a Tensor if either is one)
    """
    _check_schedule(schedule)
    _check_data(x0, "x0")
    _check_same_shape(x0, "x0", eps, "eps")
    ### BEGIN SOLUTION
    sqrt_alpha_bar = schedule.gather("sqrt_alpha_bar", t, x0)  # (B, 1, ...)
    sqrt_one_minus_alpha_bar = schedule.gather("sqrt_one_minus_alpha_bar", t, x0)  # (B, 1, ...)
    # $x_t = \sqrt{\bar\alpha_t} x_0 + \sqrt{1-\bar\alpha_t}\varepsilon$
    return sqrt_alpha_bar * x0 + sqrt_one_minus_alpha_bar * eps
    ### END SOLUTION


def q_posterior(schedule, x0, xt, t):
    r"""The forward-process posterior :math:`q(x_{t-1} \mid x_t, x_0)` (Ho Eqs. 6-7).

    .. math::
        q(x_{t-1} \mid x_t, x_0) = \mathcal N\big(x_{t-1};\ \tilde\mu_t(x_t, x_0),\ \tilde\beta_t I\big),\\
        \tilde\mu_t = \frac{\sqrt{\bar\alpha_{t-1}}\,\beta_t}{1-\bar\alpha_t}\,x_0
                    + \frac{\sqrt{\alpha_t}\,(1-\bar\alpha_{t-1})}{1-\bar\alpha_t}\,x_t,
        \qquad \tilde\beta_t = \frac{1-\bar\alpha_{t-1}}{1-\bar\alpha_t}\,\beta_t .

    At t = 1, :math:`\bar\alpha_0 = 1`, so :math:`\tilde\mu_1 = x_0` and :math:`\tilde\beta_1 = 0`.

    Returns
    -------
    mean : shape (B, ...)
        :math:`\tilde\mu_t`.
    variance : array, shape (B, 1, ..., 1)
        :math:`\tilde\beta_t` (exactly 0 at t = 1; see ``schedule.log_beta_tilde_clipped`` for
        the log-variance that Ho's code uses there).
    """
    _check_schedule(schedule)
    _check_data(x0, "x0")
    _check_same_shape(x0, "x0", xt, "xt")
    ### BEGIN SOLUTION
    coef_x0 = schedule.gather("posterior_coef_x0", t, x0)  # (B, 1, ...)
    coef_xt = schedule.gather("posterior_coef_xt", t, x0)  # (B, 1, ...)
    beta_tilde = schedule.gather("beta_tilde", t, x0)  # (B, 1, ...)
    # $\tilde\mu_t = \frac{\sqrt{\bar\alpha_{t-1}}\beta_t}{1-\bar\alpha_t} x_0 + \frac{\sqrt{\alpha_t}(1-\bar\alpha_{t-1})}{1-\bar\alpha_t} x_t$
    return coef_x0 * x0 + coef_xt * xt, beta_tilde
    ### END SOLUTION


def predict_x0_from_eps(schedule, xt, t, eps):
    r"""Eq. 4 solved for :math:`x_0`: :math:`\hat x_0 = \frac{1}{\sqrt{\bar\alpha_t}}\big(x_t - \sqrt{1-\bar\alpha_t}\,\varepsilon\big)`.

    Written as :math:`\sqrt{1/\bar\alpha_t}\,x_t - \sqrt{(1-\bar\alpha_t)/\bar\alpha_t}\,\varepsilon`
    (Ho's code writes the second factor as ``sqrt(1/alpha_bar - 1)``, which loses digits at small t).
    """
    _check_schedule(schedule)
    _check_data(xt, "xt")
    _check_same_shape(xt, "xt", eps, "eps")
    alpha_bar = schedule.gather("alpha_bar", t, xt)  # (B, 1, ...)
    one_minus_alpha_bar = schedule.gather("one_minus_alpha_bar", t, xt)
    return (1 / alpha_bar) ** 0.5 * xt - (one_minus_alpha_bar / alpha_bar) ** 0.5 * eps


def predict_eps_from_x0(schedule, xt, t, x0):
    r"""Eq. 4 solved for :math:`\varepsilon`: :math:`\varepsilon = (x_t - \sqrt{\bar\alpha_t}\,x_0)/\sqrt{1-\bar\alpha_t}`."""
    _check_schedule(schedule)
    _check_data(xt, "xt")
    _check_same_shape(xt, "xt", x0, "x0")
    sqrt_alpha_bar = schedule.gather("sqrt_alpha_bar", t, xt)
    sqrt_one_minus_alpha_bar = schedule.gather("sqrt_one_minus_alpha_bar", t, xt)
    return (xt - sqrt_alpha_bar * x0) / sqrt_one_minus_alpha_bar


def p_mean_from_eps(schedule, xt, t, eps_theta):
    r"""The ε-parameterised reverse mean (Ho Eq. 11).

    .. math:: \mu_\theta(x_t, t) = \frac{1}{\sqrt{\alpha_t}}\Big(x_t - \frac{\beta_t}{\sqrt{1-\bar\alpha_t}}\,
              \varepsilon_\theta(x_t, t)\Big)

    It is :math:`\tilde\mu_t(x_t, \hat x_0)` with :math:`\hat x_0` from :func:`predict_x0_from_eps`
    (substitute Eq. 4 into Eq. 7); the tests check the two agree.
    """
    _check_schedule(schedule)
    _check_data(xt, "xt")
    _check_same_shape(xt, "xt", eps_theta, "eps_theta")
    alpha = schedule.gather("alpha", t, xt)  # (B, 1, ...)
    beta = schedule.gather("beta", t, xt)
    sqrt_one_minus_alpha_bar = schedule.gather("sqrt_one_minus_alpha_bar", t, xt)
    return (1 / alpha) ** 0.5 * (xt - beta / sqrt_one_minus_alpha_bar * eps_theta)


def p_variance(schedule, t, like, sigma2="beta"):
    r"""The fixed reverse-process variance :math:`\sigma_t^2` and its log, per row.

    ``sigma2="beta"``: :math:`\sigma_t^2 = \beta_t`. ``sigma2="beta_tilde"``:
    :math:`\sigma_t^2 = \tilde\beta_t`, except at t = 1 where :math:`\tilde\beta_1 = 0`
    would make the decoder :math:`p_\theta(x_0 \mid x_1)` a point mass; there, as in Ho's
    reference code, the log-variance is "clipped" to :math:`\log\tilde\beta_2`. (Ho's
    sampler uses z = 0 at t = 1, so the clip only changes the decoder term L_0.)

    Returns
    -------
    variance, log_variance : arrays, shape (B, 1, ..., 1), in ``like``'s dtype
        ``variance == exp(log_variance)``.
    """
    _check_schedule(schedule)
    _check_sigma2(sigma2)
    name = "log_beta" if sigma2 == "beta" else "log_beta_tilde_clipped"
    log_var = schedule.gather(name, t, like)
    xp = get_xp(log_var)
    return xp.exp(log_var), log_var


def vlb_weight(schedule, t, sigma2="beta_tilde"):
    r"""The weight :math:`\lambda_t` that turns the KL term into a squared error in ε (Ho Eqs. 8, 12).

    .. math:: \lambda_t = \frac{\beta_t^2}{2\sigma_t^2\,\alpha_t\,(1-\bar\alpha_t)}

    so that, for t >= 2, :math:`L_{t-1} = \lambda_t\,\lVert\varepsilon - \varepsilon_\theta\rVert^2 + C_t`
    with :math:`C_t = 0` when :math:`\sigma_t^2 = \tilde\beta_t`. L_simple (Eq. 14) sets
    :math:`\lambda_t = 1`. Returns float64, shape (B,), for t in 2..T (at t = 1 the term is the
    decoder, not a KL, and no such weight exists).
    """
    _check_schedule(schedule)
    _check_sigma2(sigma2)
    tt = schedule.check_t(t)
    if bool((tt < 2).any()):
        raise ValueError("vlb_weight: t must lie in 2..T (at t = 1 the bound's term is the decoder L_0), got t = 1")
    s = schedule
    sigma2_t = s.beta[tt] if sigma2 == "beta" else s.beta_tilde[tt]
    # $\lambda_t = \beta_t^2 / (2\sigma_t^2\alpha_t(1-\bar\alpha_t))$
    return s.beta[tt] ** 2 / (2 * sigma2_t * s.alpha[tt] * s.one_minus_alpha_bar[tt])


# ---------------------------------------------------------------------------
# Densities and divergences (elementwise, Tensors out)
# ---------------------------------------------------------------------------
def normal_kl(mean1, logvar1, mean2, logvar2):
    r"""Elementwise :math:`\mathrm{KL}\big(\mathcal N(\mu_1, e^{v_1})\,\|\,\mathcal N(\mu_2, e^{v_2})\big)` in nats.

    .. math:: \mathrm{KL} = \tfrac12\Big(-1 + v_2 - v_1 + e^{v_1 - v_2} + (\mu_1 - \mu_2)^2 e^{-v_2}\Big)
              = \tfrac12\Big(\big(e^{d} - 1 - d\big) + (\mu_1 - \mu_2)^2 e^{-v_2}\Big),\quad d = v_1 - v_2

    The second form is the one computed: ``expm1(d) - d`` is accurate for nearly equal
    variances and never negative, where ``-1 + v2 - v1 + exp(v1 - v2)`` can round to -1e-16.
    Arguments broadcast against each other (variances are usually (B, 1, ...)); the result
    is a Tensor, differentiable in every argument.
    """
    d = logvar1 - logvar2
    return 0.5 * ((ad.expm1(d) - d) + (mean1 - mean2) ** 2 * ad.exp(-logvar2))


def gaussian_log_likelihood(x, mean, log_var):
    r"""Elementwise :math:`\log\mathcal N(x;\ \mu, e^{v}) = -\tfrac12\big(\log 2\pi + v + (x-\mu)^2 e^{-v}\big)` (a Tensor)."""
    return -0.5 * (math.log(2 * math.pi) + log_var + (x - mean) ** 2 * ad.exp(-log_var))


def approx_standard_normal_cdf(x):
    r"""The standard normal CDF by the tanh approximation of Ho's reference code.

    .. math:: \Phi(x) \approx \tfrac12\Big(1 + \tanh\big(\sqrt{2/\pi}\,(x + 0.044715\,x^3)\big)\Big)

    NumPy has no ``erf``; this form needs only ``tanh`` and is differentiable with
    scratchgen's primitives. Its largest absolute error is about :math:`1.8\times10^{-4}`
    (at :math:`|x| \approx 2.59`), measured on a grid of :math:`[-10, 10]`
    against ``scipy.special.ndtr`` (the tests re-check it).
    """
    return 0.5 * (1 + ad.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


def discretized_gaussian_log_likelihood(x, mean, log_var):
    r"""Elementwise log-probability of 8-bit data under the discretised decoder (Ho Eq. 13).

    Data :math:`x \in \{-1, -1 + \tfrac{2}{255}, \dots, 1\}` (the 256 pixel values scaled to
    [-1, 1]); each value owns the bin :math:`[x - \tfrac1{255}, x + \tfrac1{255}]` of a Gaussian
    :math:`\mathcal N(\mu, e^{v})`, and the outermost bins extend to :math:`\mp\infty`:

    .. math:: p(x) = \Phi\Big(\frac{\delta_+(x) - \mu}{\sigma}\Big) - \Phi\Big(\frac{\delta_-(x) - \mu}{\sigma}\Big),
              \quad \delta_\pm(x) = \begin{cases} \pm\infty & x = \pm 1 \\ x \pm \tfrac1{255} & \text{otherwise}\end{cases}

    :math:`\Phi` is :func:`approx_standard_normal_cdf`, and probabilities are floored at
    :math:`10^{-12}` before the log, as in Ho's code. The 256 probabilities of one pixel
    telescope to exactly 1 up to rounding and that floor.

    Parameters
    ----------
    x : array or Tensor, shape (B, ...)
        8-bit data scaled to [-1, 1] (``k / 127.5 - 1``); anything off that grid raises ValueError.
    mean : array or Tensor, broadcastable to x
    log_var : array or Tensor, broadcastable to x
        :math:`\log\sigma^2` of the decoder.

    Returns
    -------
    Tensor, shape of ``x``: log-probabilities in nats.
    """
    xd = x.data if isinstance(x, Tensor) else x
    xp = get_xp(xd)
    k = (xd + 1) * 127.5  # the pixel value 0..255
    off = xp.abs(k - xp.round(k))
    if bool((k < -1e-3).any()) or bool((k > 255 + 1e-3).any()) or bool((off > 1e-3).any()):
        lo, hi = float(to_numpy(xd.min())), float(to_numpy(xd.max()))
        raise ValueError(
            "discretized_gaussian_log_likelihood: x must be 8-bit data scaled to [-1, 1] "
            f"(k/127.5 - 1 for k in 0..255); got values in [{lo:.6g}, {hi:.6g}], "
            f"largest distance to the grid {float(to_numpy(off.max())) / 127.5:.3g}"
        )
    centred = x - mean
    inv_std = ad.exp(-0.5 * log_var)
    cdf_plus = approx_standard_normal_cdf(inv_std * (centred + 1 / 255))  # Phi((x + 1/255 - mu)/sigma)
    cdf_min = approx_standard_normal_cdf(inv_std * (centred - 1 / 255))  # Phi((x - 1/255 - mu)/sigma)
    log_cdf_plus = ad.log(ad.maximum(cdf_plus, 1e-12))  # bin (-inf, x + 1/255] for x = -1
    log_one_minus_cdf_min = ad.log(ad.maximum(1 - cdf_min, 1e-12))  # bin [x - 1/255, inf) for x = 1
    log_cdf_delta = ad.log(ad.maximum(cdf_plus - cdf_min, 1e-12))
    return ad.where(xd < -0.999, log_cdf_plus, ad.where(xd > 0.999, log_one_minus_cdf_min, log_cdf_delta))


# ---------------------------------------------------------------------------
# Timesteps and the losses
# ---------------------------------------------------------------------------
def sample_timesteps(T, batch, seed=None, low_discrepancy=False):
    r"""Timesteps for a minibatch, uniform on 1..T.

    ``low_discrepancy=False``: independent :math:`t_i = 1 + \lfloor u_i T\rfloor`,
    :math:`u_i \sim U[0, 1)`.
    ``low_discrepancy=True`` (VDM, Kingma et al. 2021, Appendix on the variance of the
    estimator): one :math:`u_0 \sim U[0,1)` and :math:`u_i = \operatorname{mod}(u_0 + i/k, 1)`
    for i = 0..k-1, so the batch covers [0, 1) evenly; each :math:`t_i` is still marginally
    uniform on 1..T, so the loss estimate stays unbiased while its variance drops.

    Parameters
    ----------
    T : int or Schedule
    batch : int
        k, the minibatch size.
    seed : int, generator or None

    Returns
    -------
    int64 array, shape (batch,), values in 1..T.
    """
    if isinstance(T, Schedule):
        T = T.T
    if isinstance(T, bool) or not isinstance(T, int) or T < 1:
        raise ValueError(f"sample_timesteps: T must be a positive int, got {T!r}")
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"sample_timesteps: batch must be a positive int, got {batch!r}")
    g = _rng(seed)
    xp = get_xp()
    if low_discrepancy:
        u0 = g.random()
        # $u_i = \mathrm{mod}(u_0 + i/k, 1)$
        u = xp.mod(u0 + xp.arange(batch, dtype=xp.float64) / batch, 1.0)
    else:
        u = g.random(batch)
    # floor(u T) can round up to T when u is within 1 ulp of 1: keep it in 0..T-1.
    return xp.minimum(xp.floor(u * T).astype(xp.int64), T - 1) + 1


def _noise_like(g, x):
    xd = x.data if isinstance(x, Tensor) else x
    return g.standard_normal(xd.shape, dtype=xd.dtype)


def loss_simple(schedule, eps_model, x0, seed=None, t=None, eps=None, low_discrepancy=False, reduction="mean"):
    r"""The simplified objective :math:`L_\mathrm{simple}` (Ho Eq. 14), a differentiable Tensor.

    .. math:: L_\mathrm{simple}(\theta) = \mathbb E_{t, x_0, \varepsilon}\Big[\big\lVert \varepsilon -
              \varepsilon_\theta\big(\sqrt{\bar\alpha_t}x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon,\ t\big)\big\rVert^2\Big],
              \quad t \sim U\{1..T\}

    The squared norm is averaged over the data axes (as Ho's code does with ``mean_flat``),
    i.e. Eq. 14 divided by the data dimension D; then averaged over the batch. It is the
    bound's :math:`\sum_t L_{t-1}` with the weights :math:`\lambda_t` of :func:`vlb_weight` set to 1.

    Parameters
    ----------
    schedule : Schedule
    eps_model : callable ``(x_t, t) -> eps_theta``
    x0 : array or Tensor, shape (B, ...)
    seed : int, generator or None
        Draws t (if not given) and eps (if not given).
    t : int or int array (B,), optional
    eps : array, shape (B, ...), optional
    low_discrepancy : bool
        Draw t with :func:`sample_timesteps`'s low-discrepancy scheme.
    reduction : "mean" or "none"
        "none" returns the per-example mean squared error, shape (B,).

    Returns
    -------
    Tensor, shape () (or (B,) with reduction="none").
    """
    _check_schedule(schedule)
    _check_data(x0, "x0")
    if reduction not in ("mean", "none"):
        raise ValueError(f"loss_simple: reduction must be 'mean' or 'none', got {reduction!r}")
    g = _rng(seed)
    B = x0.shape[0]
    t = sample_timesteps(schedule.T, B, g, low_discrepancy) if t is None else schedule.check_t(t, batch=B)
    eps = _noise_like(g, x0) if eps is None else eps
    xt = q_sample(schedule, x0, t, eps)  # (B, ...)
    eps_theta = _call_model(eps_model, xt, t)  # (B, ...)
    # $\lVert\varepsilon - \varepsilon_\theta\rVert^2 / D$, per example
    per_example = _mean_data_axes(ad.power(ad.subtract(eps, eps_theta), 2))  # (B,)
    return per_example if reduction == "none" else ad.mean(per_example)


def prior_kl(schedule, x0):
    r"""The prior term :math:`L_T = \mathrm{KL}\big(q(x_T \mid x_0)\,\|\,\mathcal N(0, I)\big)` (Ho Eq. 5), per example.

    It has no parameters: with :math:`\bar\alpha_T \approx 0` it is nearly 0.

    Returns
    -------
    Tensor, shape (B,), nats.
    """
    _check_schedule(schedule)
    _check_data(x0, "x0")
    mean, var = q_marginal(schedule, x0, schedule.T)  # (B, ...), (B, 1, ...)
    xp = get_xp(var)
    zero = xp.zeros_like(var)  # N(0, I): mean 0, log-variance 0 (arrays, so no float64 scalar promotes float32)
    return _sum_data_axes(normal_kl(mean, xp.log(var), zero, zero))


def vlb_term(schedule, eps_model, x0, t, eps, sigma2="beta_tilde", decoder="gaussian", eps_theta=None):
    r"""One term of the variational bound per example (Ho Eq. 5), at :math:`x_t = q\_sample(x_0, t, \varepsilon)`.

    .. math::
        L_{t-1} &= \mathrm{KL}\big(q(x_{t-1} \mid x_t, x_0)\,\|\,p_\theta(x_{t-1} \mid x_t)\big), \quad t \ge 2,\\
        L_0 &= -\log p_\theta(x_0 \mid x_1), \quad t = 1,

    with :math:`p_\theta(x_{t-1} \mid x_t) = \mathcal N(\mu_\theta(x_t, t), \sigma_t^2 I)`,
    :math:`\mu_\theta` from Eq. 11. Differentiable in the model's output (Ho's code trains on
    this term at sampled t for its "KL" loss).

    Parameters
    ----------
    schedule, eps_model : as in :func:`loss_simple`
    x0 : array or Tensor, shape (B, ...)
    t : int or int array (B,), in 1..T
    eps : array, shape (B, ...)
        The noise that makes :math:`x_t`; the term's expectation over it is the bound's.
    sigma2 : "beta" or "beta_tilde"
    decoder : "gaussian" or "discretized"
        L_0 as a Gaussian density (continuous data) or the discretised decoder of Eq. 13
        (8-bit data scaled to [-1, 1]).
    eps_theta : array or Tensor, optional
        The model's output at (x_t, t), if already computed (then ``eps_model`` is not called).

    Returns
    -------
    Tensor, shape (B,), nats.
    """
    _check_schedule(schedule)
    _check_data(x0, "x0")
    _check_sigma2(sigma2)
    if decoder not in ("gaussian", "discretized"):
        raise ValueError(f"vlb_term: decoder must be 'gaussian' or 'discretized', got {decoder!r}")
    B = x0.shape[0]
    t = schedule.check_t(t, batch=B)
    xt = q_sample(schedule, x0, t, eps)  # (B, ...)
    if eps_theta is None:
        eps_theta = _call_model(eps_model, xt, t)
    _check_same_shape(xt, "x_t", eps_theta, "eps_theta")
    mu_theta = p_mean_from_eps(schedule, xt, t, eps_theta)  # (B, ...) Eq. 11
    _, log_sigma2 = p_variance(schedule, t, xt, sigma2)  # (B, 1, ...)
    is_decoder = t == 1  # (B,)
    out = None
    if not bool(is_decoder.all()):
        mu_tilde, _ = q_posterior(schedule, x0, xt, t)
        # $\tilde\beta_t$ as a log; at rows with t = 1 the clipped value keeps it finite (those rows are discarded)
        log_beta_tilde = schedule.gather("log_beta_tilde_clipped", t, xt)
        out = _sum_data_axes(normal_kl(mu_tilde, log_beta_tilde, mu_theta, log_sigma2))  # (B,)
    if bool(is_decoder.any()):
        if decoder == "gaussian":
            ll = gaussian_log_likelihood(x0, mu_theta, log_sigma2)
        else:
            ll = discretized_gaussian_log_likelihood(x0, mu_theta, log_sigma2)
        nll = -_sum_data_axes(ll)  # (B,)
        out = nll if out is None else ad.where(is_decoder, nll, out)
    return out


def vlb(schedule, eps_model, x0, seed=None, sigma2="beta_tilde", decoder="gaussian", bits_per_dim=False):
    r"""The full variational bound on :math:`-\log p_\theta(x_0)` (Ho Eq. 5), per example.

    .. math:: L = \underbrace{\mathrm{KL}(q(x_T|x_0)\,\|\,p(x_T))}_{L_T}
              + \sum_{t=2}^T \underbrace{\mathbb E_q\,\mathrm{KL}(q(x_{t-1}|x_t,x_0)\,\|\,p_\theta(x_{t-1}|x_t))}_{L_{t-1}}
              \underbrace{- \mathbb E_q \log p_\theta(x_0|x_1)}_{L_0}

    Each expectation is estimated with one draw of :math:`x_t \sim q(x_t \mid x_0)` per t (fresh
    noise per t), as in Ho's ``calc_bpd_loop``: T model calls per batch. An evaluation tool, run
    under ``no_grad``; to train on the bound use :func:`vlb_term` at sampled t.

    Returns
    -------
    dict of arrays
        ``"total"`` (B,), ``"prior"`` (B,) = L_T, ``"terms"`` (B, T) with column t-1 holding
        :math:`L_{t-1}` (column 0 is the decoder L_0). Nats per example, or bits per dimension
        (divided by D log 2) with ``bits_per_dim=True``.
    """
    _check_schedule(schedule)
    _check_data(x0, "x0")
    g = _rng(seed)
    B = x0.shape[0]
    x0d = x0.data if isinstance(x0, Tensor) else x0
    xp = get_xp(x0d)
    D = 1
    for n in x0d.shape[1:]:
        D *= n
    scale = 1.0 / (D * math.log(2)) if bits_per_dim else 1.0
    terms = xp.zeros((B, schedule.T), dtype=x0d.dtype)  # (B, T)
    with ad.no_grad():
        for t in range(1, schedule.T + 1):
            eps = _noise_like(g, x0d)
            terms[:, t - 1] = vlb_term(schedule, eps_model, x0d, t, eps, sigma2, decoder).data * scale
        prior = prior_kl(schedule, x0d).data * scale
    return {"total": prior + terms.sum(axis=1), "prior": prior, "terms": terms}
