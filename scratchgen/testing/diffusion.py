r"""Reusable checks of the DDPM exercises (Ho, Jain & Abbeel 2020): q(x_t|x_0), the posterior
q(x_{t-1}|x_t, x_0), one ancestral step, the cosine schedule. The coefficients are recomputed here from the
schedule's :math:`\beta_t` alone (:math:`\bar\alpha_t = \prod_{s\le t}(1-\beta_s)`), never read from the code
under test.
"""
from __future__ import annotations

import math

import numpy as np  # test helpers build NumPy inputs; they are not math code
from hypothesis import strategies as st

from .properties import assert_close, expect, for_all, values
from .strategies import noise_schedules

__all__ = ["check_q_sample", "check_q_sample_types", "check_q_posterior", "check_q_posterior_at_t1",
           "check_ancestral_step", "check_ancestral_step_last", "check_ancestral_mean_is_posterior_mean",
           "check_cosine_schedule", "check_cosine_schedule_clip", "check_score_from_eps",
           "check_score_eps_identity"]


def _alphas(schedule):
    """(beta, alpha, alpha_bar) as float64 arrays indexed by t = 0..T (entry 0: beta 0, alpha_bar 1)."""
    beta = np.concatenate([[0.0], np.asarray(schedule.beta[1:], dtype=np.float64)])
    alpha = 1.0 - beta
    return beta, alpha, np.cumprod(alpha)


@st.composite
def _case(draw, min_t=1):
    schedule = draw(noise_schedules(min_T=max(2, min_t)))
    B = draw(st.integers(1, 4))
    t = np.array(draw(st.lists(st.integers(min_t, schedule.T), min_size=B, max_size=B)))
    seed = draw(st.integers(0, 2 ** 16))
    g = np.random.default_rng(seed)
    return schedule, t, g.standard_normal((B, 2)), g.standard_normal((B, 2))


def _where(schedule, t):
    """Where entry i of a (B, 2) batch sits: its row's t."""
    return lambda i: f"at t = {int(t[i // 2])} (row {i // 2}; T = {schedule.T}, {schedule.name} schedule)"


def check_q_sample(q_sample):
    r"""Ho Eq. 4: :math:`x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon`, t per row."""
    @for_all(_case())
    def q_sample_at(case):
        schedule, t, x0, eps = case
        _, _, ab = _alphas(schedule)
        a = ab[t][:, None]
        assert_close(q_sample(schedule, x0, t, eps), np.sqrt(a) * x0 + np.sqrt(1 - a) * eps, what="x_t",
                     where=_where(schedule, t), identity="sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps", atol=1e-10)
    q_sample_at()


def check_q_sample_types(q_sample):
    """One int t for the whole batch works like an array of it, and float32 data stays float32."""
    from ..diffusion.schedules import linear_schedule

    s = linear_schedule(10, beta_T=0.2)
    x0, eps = np.ones((3, 2), np.float32), np.full((3, 2), 0.5, np.float32)
    out = q_sample(s, x0, 4, eps)
    expect(getattr(out, "dtype", None) == np.float32, f"your x_t of float32 data is {getattr(out, 'dtype', None)}")
    assert_close(out, values(q_sample(s, x0, np.array([4, 4, 4]), eps)), what="x_t with t = 4 (an int)",
                 identity="x_t with t = [4, 4, 4] (an array)", atol=1e-6)


def check_q_posterior(q_posterior):
    r"""Ho Eqs. 6-7 from Bayes' rule: :math:`q(x_{t-1}|x_t,x_0) \propto q(x_t|x_{t-1})\,q(x_{t-1}|x_0)`, a product of
    Gaussians with precision :math:`\alpha_t/\beta_t + 1/(1-\bar\alpha_{t-1})` (t >= 2)."""
    @for_all(_case(min_t=2))
    def posterior_at(case):
        schedule, t, x0, xt = case
        beta, alpha, ab = _alphas(schedule)
        b, a, ab_prev = beta[t][:, None], alpha[t][:, None], ab[t - 1][:, None]
        var = 1.0 / (a / b + 1.0 / (1.0 - ab_prev))
        mean = var * (np.sqrt(a) * xt / b + np.sqrt(ab_prev) * x0 / (1.0 - ab_prev))
        got = q_posterior(schedule, x0, xt, t)
        expect(isinstance(got, tuple) and len(got) == 2, "your q_posterior must return (mean, variance)")
        assert_close(got[0], mean, what="posterior mean", where=_where(schedule, t),
                     identity="Bayes' rule (precision-weighted x_t and x0)", atol=1e-9, rtol=1e-7)
        assert_close(np.broadcast_to(values(got[1]), var.shape), var, what="posterior variance",
                     where=lambda i: f"at t = {int(t[i])} (T = {schedule.T})",
                     identity="beta_tilde = (1 - alpha_bar_{t-1})/(1 - alpha_bar_t) beta_t", atol=1e-12, rtol=1e-7)
    posterior_at()


def check_q_posterior_at_t1(q_posterior):
    """At t = 1, alpha_bar_0 = 1: the posterior is the point x0 (mean x0, variance 0)."""
    from ..diffusion.schedules import linear_schedule

    s = linear_schedule(5, beta_T=0.1)
    x0, xt = np.array([[0.3, -1.0]]), np.array([[2.0, 0.5]])
    mean, var = q_posterior(s, x0, xt, np.array([1]))
    assert_close(mean, x0, what="posterior mean at t = 1", identity="x0", atol=1e-12)
    assert_close(np.ravel(values(var)), [0.0], what="posterior variance at t = 1", identity="0", atol=1e-15)


def _step_case():
    return st.tuples(noise_schedules(min_T=2), st.integers(0, 2 ** 16), st.sampled_from(["beta", "beta_tilde"]))


def check_ancestral_step(p_sample_step):
    r"""Ho Algorithm 2, line 4 for t >= 2: :math:`x_{t-1} = \frac{1}{\sqrt{\alpha_t}}\big(x_t -
    \frac{\beta_t}{\sqrt{1-\bar\alpha_t}}\varepsilon_\theta\big) + \sigma_t z`, :math:`\sigma_t^2 = \beta_t` or
    :math:`\tilde\beta_t`."""
    @for_all(_step_case(), st.data())
    def step_at(case, data):
        schedule, seed, sigma2 = case
        t = data.draw(st.integers(2, schedule.T), label="t")
        g = np.random.default_rng(seed)
        xt, eps, z = (g.standard_normal((3, 2)) for _ in range(3))
        beta, alpha, ab = _alphas(schedule)
        var = beta[t] if sigma2 == "beta" else (1 - ab[t - 1]) / (1 - ab[t]) * beta[t]
        want = (xt - beta[t] / math.sqrt(1 - ab[t]) * eps) / math.sqrt(alpha[t]) + math.sqrt(var) * z
        assert_close(p_sample_step(schedule, xt, t, eps, z, sigma2=sigma2), want, what="x_{t-1}",
                     where=lambda i: f"at t = {t} (T = {schedule.T}, sigma_t^2 = {sigma2})",
                     identity="mu_theta(x_t, t) + sigma_t z", atol=1e-9)
    step_at()


def check_ancestral_step_last(p_sample_step):
    """At t = 1 Algorithm 2 adds no noise (z = 0): the step returns the mean, whatever z is given."""
    from ..diffusion.schedules import linear_schedule

    s = linear_schedule(4, beta_T=0.1)
    beta, alpha, ab = _alphas(s)
    xt, eps, z = np.array([[1.0, -0.5]]), np.array([[0.2, 0.1]]), np.array([[3.0, -3.0]])
    want = (xt - beta[1] / math.sqrt(1 - ab[1]) * eps) / math.sqrt(alpha[1])
    assert_close(p_sample_step(s, xt, 1, eps, z), want, what="x_0 (the last step, t = 1)",
                 identity="the mean, no noise (z = 0 at t = 1, Algorithm 2)", atol=1e-12)


def check_ancestral_mean_is_posterior_mean(p_sample_step):
    r"""With the true noise (:math:`x_t` made from :math:`x_0` and :math:`\varepsilon`, and
    :math:`\varepsilon_\theta = \varepsilon`), the step's mean is the posterior mean :math:`\tilde\mu_t(x_t, x_0)`
    of Eq. 7 (the library's ``q_posterior``)."""
    from ..diffusion.ddpm import q_posterior
    from ..diffusion.schedules import cosine_schedule

    s = cosine_schedule(20)
    _, _, ab = _alphas(s)
    g = np.random.default_rng(3)
    x0, eps = g.standard_normal((4, 2)), g.standard_normal((4, 2))
    for t in (2, 10, 20):
        xt = math.sqrt(ab[t]) * x0 + math.sqrt(1 - ab[t]) * eps
        mean, _ = q_posterior(s, x0, xt, t)
        assert_close(p_sample_step(s, xt, t, eps, np.zeros_like(xt)), values(mean), what=f"x_(t-1) with z = 0 at t = {t}",
                     identity="the posterior mean mu_tilde_t(x_t, x0) at the true x0", atol=1e-9)


def _cosine_alpha_bar(T, s):
    f = lambda t: np.cos((t / T + s) / (1 + s) * np.pi / 2) ** 2
    return f(np.arange(T + 1.0)) / f(0.0)


def check_cosine_schedule(cosine_schedule):
    r"""Nichol & Dhariwal Eq. 17: :math:`\bar\alpha_t = f(t)/f(0)`, :math:`f(t) = \cos^2\big(\frac{t/T+s}{1+s}\frac\pi2\big)`,
    at every t before the first clipped :math:`\beta_t`."""
    @for_all(st.integers(2, 60), st.sampled_from([0.008, 0.0, 0.05]))
    def cosine_at(T, s):
        sched = cosine_schedule(T, s=s)
        expect(getattr(sched, "T", None) == T, f"your schedule has T = {getattr(sched, 'T', None)}; asked for T = {T}")
        want = _cosine_alpha_bar(T, s)
        beta = 1 - want[1:] / want[:-1]
        ok = np.concatenate([[True], np.cumprod(beta < 0.999).astype(bool)])  # t before the first clip
        got = values(sched.alpha_bar)
        assert_close(got[ok], want[ok], what="alpha_bar_t", where=lambda i: f"at t = {i} (T = {T}, s = {s})",
                     identity="f(t)/f(0) with f(t) = cos^2((t/T + s)/(1 + s) pi/2)", atol=1e-10, rtol=1e-8)
    cosine_at()


def check_cosine_schedule_clip(cosine_schedule):
    r""":math:`\beta_t = \min(1 - \bar\alpha_t/\bar\alpha_{t-1}, \beta_{max})`: at T = 1000 the last step is clipped to
    0.999 (unclipped it would be 1 and :math:`\bar\alpha_T = 0`)."""
    sched = cosine_schedule(1000)
    beta = values(sched.beta)
    assert_close(beta[-1], 0.999, what="beta_T at T = 1000", identity="min(1 - alpha_bar_T/alpha_bar_{T-1}, 0.999)",
                 atol=1e-12)
    sched = cosine_schedule(100, max_beta=0.5)
    expect(values(sched.beta)[1:].max() <= 0.5 + 1e-12, "with max_beta = 0.5 your schedule has a beta_t above 0.5")


def check_score_from_eps(score_from_eps):
    r""":math:`s = -\varepsilon/\sqrt{1-\bar\alpha_t}`, t per row: the score of :math:`q(x_t|x_0)` is
    :math:`-(x_t - \sqrt{\bar\alpha_t}x_0)/(1-\bar\alpha_t) = -\varepsilon/\sqrt{1-\bar\alpha_t}`."""
    @for_all(_case())
    def score_at(case):
        schedule, t, _, eps = case
        _, _, ab = _alphas(schedule)
        assert_close(score_from_eps(schedule, eps, t), -eps / np.sqrt(1 - ab[t])[:, None], what="score",
                     where=_where(schedule, t), identity="-eps / sqrt(1 - alpha_bar_t)", atol=1e-10)
    score_at()


def _mixture_score(weights, means, variances, x):
    r""":math:`\nabla\log\sum_k w_k\mathcal N(x; m_k, v_k I) = \sum_k r_k(x)\,(m_k - x)/v_k`, r the responsibilities."""
    d = x.shape[1]
    log_k = (np.log(weights) - 0.5 * d * np.log(2 * np.pi * variances)
             - 0.5 * ((x[:, None, :] - means[None]) ** 2).sum(2) / variances)  # (N, K)
    r = np.exp(log_k - log_k.max(axis=1, keepdims=True))
    r /= r.sum(axis=1, keepdims=True)
    return (r[:, :, None] * (means[None] - x[:, None, :]) / variances[None, :, None]).sum(axis=1)


def check_score_eps_identity(score_from_eps):
    r"""With the exact denoiser of a Gaussian mixture (the library's ``exact_eps_model``), the score from
    :math:`\varepsilon^*` is the noised mixture's score :math:`\nabla\log p_t`, written out here."""
    from ..diffusion.mixture import GaussianMixture, exact_eps_model
    from ..diffusion.schedules import cosine_schedule

    s = cosine_schedule(50)
    mix = GaussianMixture(np.array([0.3, 0.7]), np.array([[1.0, 0.0], [-1.0, 0.5]]), np.array([0.2, 0.4]))
    x = np.random.default_rng(0).standard_normal((5, 2))
    for t in (1, 10, 40):
        a = float(s.alpha_bar[t])
        want = _mixture_score(mix.weights, math.sqrt(a) * mix.means, a * mix.stds ** 2 + 1 - a, x)
        assert_close(score_from_eps(s, exact_eps_model(s, mix)(x, t), t), want, what=f"score at t = {t}",
                     identity="grad log p_t of the noised mixture", atol=1e-9, rtol=1e-7)
