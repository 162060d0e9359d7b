"""Forward process and posterior: properties 1 and 2 of the DDPM issue, in float64.

Oracles are written out here from the Gaussian algebra (products of one-step kernels,
Bayes' rule as a product of two Gaussian densities in x_{t-1}), never taken from the
code under test.
"""
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import scratchgen as sg
from scratchgen.diffusion import (
    Schedule,
    cosine_schedule,
    linear_schedule,
    p_mean_from_eps,
    p_variance,
    predict_eps_from_x0,
    predict_x0_from_eps,
    q_marginal,
    q_posterior,
    q_sample,
    q_step,
    q_step_sample,
)

SCHEDULES = {"linear": linear_schedule(), "cosine": cosine_schedule()}
schedule_names = st.sampled_from(sorted(SCHEDULES))
small_betas = st.lists(st.floats(1e-4, 0.5), min_size=2, max_size=40)
values = st.floats(-5, 5)


def batch(n_rows, n_cols=3):
    return hnp.arrays(np.float64, (n_rows, n_cols), elements=values)


# ---------------------------------------------------------------------------
# Property 1: composing t one-step kernels gives q(x_t | x_0)
# ---------------------------------------------------------------------------
@given(small_betas, st.data())
def test_composed_kernels_equal_closed_form_by_product_formula(betas, data):
    s = Schedule(np.array(betas))
    t = data.draw(st.integers(1, s.T))
    x0 = data.draw(batch(2))
    # Compose q(x_k | x_{k-1}) = N(sqrt(1-b_k) x_{k-1}, b_k): the mean scales by sqrt(1 - b_k)
    # and the variance maps v -> (1 - b_k) v + b_k, starting from (x0, 0).
    scale, var = 1.0, 0.0
    for k in range(1, t + 1):
        mean_k, var_k = q_step(s, np.ones((1, 1)), k)  # one step applied to x = 1
        scale *= float(mean_k[0, 0])
        var = float(mean_k[0, 0]) ** 2 * var + float(var_k[0, 0])
    mean, variance = q_marginal(s, x0, t)
    # closed form, written here: sqrt(prod(1 - b)), 1 - prod(1 - b)
    prod = float(np.prod(1 - np.array(betas[:t])))
    np.testing.assert_allclose(mean, np.sqrt(prod) * x0, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(variance, np.full((1, 1), 1 - prod), rtol=1e-12, atol=1e-14)  # one t: one coefficient
    np.testing.assert_allclose(mean, scale * x0, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(variance, np.full((1, 1), var), rtol=1e-11, atol=1e-14)


def test_composed_kernels_equal_closed_form_by_simulation():
    # Run the one-step kernel 300 times on n points started at x0, compare the sample mean and
    # variance at t = 50, 300 with Eq. 4. Tolerances: 5 standard errors, SE(mean) = sqrt(v/n),
    # SE(var) = v sqrt(2/(n-1)) for Gaussian samples.
    s, n = linear_schedule(), 20000
    g = sg.rng(3)
    x0_values = np.array([1.5, -2.0])
    x = np.tile(x0_values, (n, 1))  # (n, 2)
    for t in range(1, 301):
        x = q_step_sample(s, x, t, g.standard_normal(x.shape))
        if t in (50, 300):
            mean, var = q_marginal(s, x0_values[None, :], t)
            v = float(var[0, 0])
            assert np.all(np.abs(x.mean(axis=0) - mean[0]) < 5 * np.sqrt(v / n))
            assert np.all(np.abs(x.var(axis=0, ddof=1) - v) < 5 * v * np.sqrt(2 / (n - 1)))


@given(schedule_names, st.data())
def test_q_sample_is_eq4(name, data):
    s = SCHEDULES[name]
    t = data.draw(hnp.arrays(np.int64, (3,), elements=st.integers(1, 1000)))
    x0, eps = data.draw(batch(3)), data.draw(batch(3))
    ab = np.array([np.prod(1 - s.beta[1 : k + 1]) for k in t])[:, None]
    np.testing.assert_allclose(q_sample(s, x0, t, eps), np.sqrt(ab) * x0 + np.sqrt(1 - ab) * eps, rtol=1e-9, atol=1e-12)
    # predict_x0_from_eps inverts Eq. 4; predict_eps_from_x0 inverts it the other way
    xt = q_sample(s, x0, t, eps)
    ok = ab[:, 0] > 1e-6  # at alpha_bar_t ~ 0, x0 is not recoverable in floating point
    np.testing.assert_allclose(predict_x0_from_eps(s, xt, t, eps)[ok], x0[ok], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(predict_eps_from_x0(s, xt, t, x0), eps, rtol=1e-8, atol=1e-8)


# ---------------------------------------------------------------------------
# Property 2: the posterior is Bayes' rule; Eq. 11 equals Eq. 7
# ---------------------------------------------------------------------------
@given(st.one_of(schedule_names.map(SCHEDULES.get), small_betas.map(lambda b: Schedule(np.array(b)))), st.data())
def test_posterior_is_bayes_rule(s, data):
    t = data.draw(st.integers(2, s.T))
    x0, xt = data.draw(batch(2)), data.draw(batch(2))
    b, ab = float(s.beta[t]), float(np.prod(1 - s.beta[1 : t + 1]))
    ab_prev = ab / (1 - b)
    # q(x_{t-1} | x_t, x_0) ∝ q(x_t | x_{t-1}) q(x_{t-1} | x_0), a product of Gaussians in y = x_{t-1}:
    #   N(x_t; sqrt(1-b) y, b)  ->  precision (1-b)/b, "natural mean" sqrt(1-b) x_t / b
    #   N(y; sqrt(ab_prev) x0, 1 - ab_prev)  ->  precision 1/(1-ab_prev), natural mean sqrt(ab_prev) x0/(1-ab_prev)
    precision = (1 - b) / b + 1 / (1 - ab_prev)
    mean = (np.sqrt(1 - b) * xt / b + np.sqrt(ab_prev) * x0 / (1 - ab_prev)) / precision
    mu_tilde, beta_tilde = q_posterior(s, x0, xt, t)
    np.testing.assert_allclose(beta_tilde, np.full((1, 1), 1 / precision), rtol=1e-9, atol=0)
    np.testing.assert_allclose(mu_tilde, mean, rtol=1e-9, atol=1e-9)


def test_posterior_is_bayes_rule_by_joint_gaussian_conditioning():
    # A second oracle: the joint of (x_{t-1}, x_t) given x0 is Gaussian; condition on x_t.
    s = cosine_schedule(T=50)
    x0 = np.array([[0.7]])
    for t in range(2, 51):
        ab_prev, a = float(s.alpha_bar[t - 1]), 1 - float(s.beta[t])
        var_prev = 1 - ab_prev
        cov = np.sqrt(a) * var_prev  # Cov(x_{t-1}, x_t | x0)
        var_t = a * var_prev + (1 - a)
        xt = np.array([[-0.3]])
        mean = np.sqrt(ab_prev) * x0 + cov / var_t * (xt - np.sqrt(a * ab_prev) * x0)
        mu_tilde, beta_tilde = q_posterior(s, x0, xt, t)
        assert abs(float(mu_tilde[0, 0]) - float(mean[0, 0])) < 1e-12
        assert abs(float(beta_tilde[0, 0]) - (var_prev - cov**2 / var_t)) < 1e-12


def test_posterior_at_t1_is_a_point_mass_at_x0():
    s = linear_schedule()
    x0, xt = np.array([[0.25, -1.0]]), np.array([[3.0, 2.0]])
    mu, var = q_posterior(s, x0, xt, 1)
    np.testing.assert_allclose(mu, x0, rtol=0, atol=1e-15)
    assert var[0, 0] == 0.0


@given(schedule_names, st.data())
def test_eps_mean_eq11_equals_posterior_mean_eq7(name, data):
    s = SCHEDULES[name]
    t = data.draw(hnp.arrays(np.int64, (4,), elements=st.integers(1, 1000)))
    x0, eps = data.draw(batch(4)), data.draw(batch(4))
    xt = q_sample(s, x0, t, eps)
    mu_tilde, _ = q_posterior(s, x0, xt, t)
    mu_eps = p_mean_from_eps(s, xt, t, eps)
    scale = 1 + np.abs(xt) / np.sqrt(s.alpha_bar[t])[:, None]  # rounding grows with 1/sqrt(alpha_bar)
    assert np.all(np.abs(mu_eps - mu_tilde) < 1e-10 * scale)


def test_forward_functions_work_on_tensors_and_record_the_tape():
    s = linear_schedule()
    x0 = sg.tensor(np.array([[1.0, 2.0]]), requires_grad=True)
    eps = np.array([[0.5, -0.5]])
    xt = q_sample(s, x0, 10, eps)
    xt.sum().backward()
    np.testing.assert_allclose(x0.grad.numpy(), np.full((1, 2), np.sqrt(np.prod(1 - s.beta[1:11]))), rtol=1e-12)


# ---------------------------------------------------------------------------
# Documented contracts of each forward-process function, one by one
# ---------------------------------------------------------------------------
@given(small_betas, st.data())
def test_q_step_is_eq2_with_one_variance_per_row(betas, data):
    s = Schedule(np.array(betas))
    t = data.draw(hnp.arrays(np.int64, (3,), elements=st.integers(1, s.T)))
    x_prev, eps = data.draw(batch(3)), data.draw(batch(3))
    b = np.array([betas[k - 1] for k in t])[:, None]  # (3, 1)
    mean, var = q_step(s, x_prev, t)
    assert var.shape == (3, 1)
    np.testing.assert_allclose(mean, np.sqrt(1 - b) * x_prev, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(var, b, rtol=1e-15, atol=0)
    # the reparameterised sample: x_t = sqrt(alpha_t) x_{t-1} + sqrt(beta_t) eps, deterministic given eps
    np.testing.assert_allclose(q_step_sample(s, x_prev, t, eps), np.sqrt(1 - b) * x_prev + np.sqrt(b) * eps,
                               rtol=1e-13, atol=1e-14)


def test_marginal_variance_has_one_entry_per_row_broadcasting_over_data_axes():
    s = Schedule(np.array([0.1, 0.2, 0.3]))
    x0 = np.ones((2, 3, 4))
    mean, var = q_marginal(s, x0, np.array([1, 3]))
    assert mean.shape == (2, 3, 4) and var.shape == (2, 1, 1)
    np.testing.assert_allclose(var[:, 0, 0], [0.1, 1 - 0.9 * 0.8 * 0.7], rtol=1e-14)
    _, var_p = q_posterior(s, x0, x0, np.array([1, 2]))
    assert var_p.shape == (2, 1, 1) and var_p[0, 0, 0] == 0.0  # beta_tilde_1 = 0 exactly, row by row


@given(small_betas, st.data())
def test_p_mean_from_eps_is_eq11_written_out(betas, data):
    s = Schedule(np.array(betas))
    t = data.draw(hnp.arrays(np.int64, (3,), elements=st.integers(1, s.T)))
    xt, eps = data.draw(batch(3)), data.draw(batch(3))
    b = np.array([betas[k - 1] for k in t])[:, None]
    ab = np.array([np.prod(1 - np.array(betas[:k])) for k in t])[:, None]
    expected = (xt - b / np.sqrt(1 - ab) * eps) / np.sqrt(1 - b)
    np.testing.assert_allclose(p_mean_from_eps(s, xt, t, eps), expected, rtol=1e-10, atol=1e-10)


def test_predict_x0_keeps_its_digits_at_small_t():
    # x0_hat at x_t = 0, eps = 1 is -sqrt((1 - ab_t) / ab_t). Exact oracle: rational alpha_bar of the
    # float betas, square root in 40-digit decimals. The form sqrt(1/ab - 1) of Ho's code loses ~4 digits
    # at t = 1 (1/ab - 1 cancels), about 1e-12 relative; the documented form must stay near 1e-16.
    from decimal import Decimal, getcontext

    getcontext().prec = 40
    s = linear_schedule()
    alpha_bar = Fraction(1)
    for t in range(1, 6):
        alpha_bar *= 1 - Fraction(float(s.beta[t]))
        r = (1 - alpha_bar) / alpha_bar
        exact = -(Decimal(r.numerator) / Decimal(r.denominator)).sqrt()
        got = predict_x0_from_eps(s, np.zeros((1, 1)), t, np.ones((1, 1)))[0, 0]
        assert abs(Decimal(float(got)) - exact) < Decimal("1e-14") * abs(exact), t


def test_p_variance_is_beta_or_beta_tilde_clipped_at_t1_and_its_exp():
    s = Schedule(np.array([0.1, 0.2, 0.3]))
    like = np.zeros((4, 2), dtype=np.float64)
    t = np.array([1, 2, 3, 1])
    betas = np.array([0.1, 0.2, 0.3])

    def bt(k):  # beta_tilde_k = (1 - ab_{k-1}) / (1 - ab_k) beta_k, Eq. 7
        return (1 - np.prod(1 - betas[: k - 1])) / (1 - np.prod(1 - betas[:k])) * betas[k - 1]

    var, log_var = p_variance(s, t, like, "beta")
    assert var.shape == (4, 1) and log_var.shape == (4, 1)
    np.testing.assert_allclose(var[:, 0], [0.1, 0.2, 0.3, 0.1], rtol=1e-14)
    np.testing.assert_allclose(var, np.exp(log_var), rtol=1e-15)
    var, log_var = p_variance(s, t, like, "beta_tilde")
    # t = 1: log beta_tilde_2 (Ho's clipped log-variance), not log 0
    np.testing.assert_allclose(var[:, 0], [bt(2), bt(2), bt(3), bt(2)], rtol=1e-13)
    np.testing.assert_allclose(var, np.exp(log_var), rtol=1e-15)
    var32, _ = p_variance(s, 2, np.zeros((3, 2), dtype=np.float32), "beta")
    assert var32.dtype == np.float32 and var32.shape == (1, 1)
    with pytest.raises(ValueError, match=r"sigma2 must be one of \('beta', 'beta_tilde'\), got 'large'"):
        p_variance(s, 2, like, "large")


def test_forward_functions_return_arrays_for_arrays_and_tensors_for_tensors():
    s = linear_schedule(T=10)
    x = np.array([[1.0, -2.0], [0.5, 0.0]])
    t = np.array([3, 7])
    calls = {
        "q_step": lambda a: q_step(s, a, t)[0],
        "q_step_sample": lambda a: q_step_sample(s, a, t, x),
        "q_marginal": lambda a: q_marginal(s, a, t)[0],
        "q_sample": lambda a: q_sample(s, a, t, x),
        "q_posterior": lambda a: q_posterior(s, a, x, t)[0],
        "predict_x0_from_eps": lambda a: predict_x0_from_eps(s, a, t, x),
        "predict_eps_from_x0": lambda a: predict_eps_from_x0(s, a, t, x),
        "p_mean_from_eps": lambda a: p_mean_from_eps(s, a, t, x),
    }
    for name, f in calls.items():
        out = f(x)
        assert isinstance(out, np.ndarray), name
        tx = sg.tensor(x, requires_grad=True)
        out_t = f(tx)
        assert isinstance(out_t, sg.Tensor), name
        np.testing.assert_allclose(out_t.numpy(), out, rtol=1e-15, atol=0, err_msg=name)
        out_t.sum().backward()  # on the tape
        assert tx.grad is not None, name


def test_q_sample_with_tensor_noise_is_a_tensor_differentiable_in_the_noise():
    s = linear_schedule()
    eps = sg.tensor(np.array([[0.5, -0.5]]), requires_grad=True)
    xt = q_sample(s, np.array([[1.0, 2.0]]), 10, eps)
    assert isinstance(xt, sg.Tensor)
    xt.sum().backward()
    expected = np.sqrt(1 - np.prod(1 - s.beta[1:11]))  # d x_t / d eps = sqrt(1 - alpha_bar_t)
    assert np.all(np.abs(eps.grad.numpy() - expected) < 1e-14)


def test_bad_schedule_and_non_float_data_are_named():
    x = np.zeros((2, 2))
    with pytest.raises(ValueError, match="schedule must be a scratchgen.diffusion.Schedule .*got ndarray"):
        q_sample(np.array([0.1, 0.2]), x, 1, x)
    with pytest.raises(ValueError, match="x0 must be a float array, got dtype int64"):
        q_marginal(linear_schedule(), np.zeros((2, 2), dtype=np.int64), 1)
    with pytest.raises(ValueError, match=r"xt must have a batch axis, shape \(B, \.\.\.\), got shape \(\)"):
        predict_eps_from_x0(linear_schedule(), np.float64(1.0), 1, np.float64(1.0))
    with pytest.raises(ValueError, match=r"xt must have the shape of x0, \(2, 2\); got \(2, 1\)"):
        q_posterior(linear_schedule(), x, np.zeros((2, 1)), 1)


def test_the_course_kits_diffusion_checks_pass_on_the_library():
    # scratchgen.testing's checks (Bayes' rule for q(x_{t-1} | x_t, x_0), Eq. 4, Algorithm 2's step, the
    # cosine schedule) on the library's functions
    from scratchgen.diffusion import cosine_schedule, p_sample_step, q_posterior, q_sample
    from scratchgen.testing import diffusion as checks

    checks.check_q_posterior(q_posterior)
    checks.check_q_posterior_at_t1(q_posterior)
    checks.check_q_sample(q_sample)
    checks.check_ancestral_step(p_sample_step)
    checks.check_cosine_schedule(cosine_schedule)
