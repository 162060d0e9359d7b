"""Samplers: property 4 of the DDPM issue with the exact optimal ε-predictor for Gaussian
data, Algorithm 2's z = 0 at the last step, DDIM's determinism and its η = 1 limit.

For data x0 ~ N(mu, s^2) (per dimension), x_t = sqrt(ab) x0 + sqrt(1-ab) eps is Gaussian and
the minimum-MSE predictor of eps is the regression of eps on x_t:

    eps*(x_t, t) = Cov(eps, x_t) / Var(x_t) (x_t - E x_t) = sqrt(1-ab) / (ab s^2 + 1 - ab) (x_t - sqrt(ab) mu).

With it every sampler step is affine in x_t, so the law of the sampler's output is Gaussian
with a mean and variance that the tests compute by a scalar recursion (their own oracle).
"""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import scratchgen as sg
from scratchgen.diffusion import (
    ancestral_sample,
    cosine_schedule,
    ddim_sample,
    ddim_sigma,
    ddim_step,
    ddim_timesteps,
    linear_schedule,
    p_sample_step,
)
from scratchgen.diffusion.samplers import generate, respace

LINEAR = linear_schedule()
MU = np.array([2.0, -1.0])
S = np.array([0.5, 2.0])


def alpha_bar_of(s):
    """alpha_bar_0..T by a plain product (the test's own)."""
    return np.concatenate([[1.0], np.cumprod(1 - s.beta[1:])])


def optimal_eps(s, mu=MU, sd=S):
    ab_all = alpha_bar_of(s)

    def eps_model(xt, t):
        ab = ab_all[t][:, None]  # (B, 1)
        return np.sqrt(1 - ab) / (ab * sd**2 + 1 - ab) * (xt - np.sqrt(ab) * mu)

    return eps_model


def ancestral_law(s, sigma2, mu=MU, sd=S):
    """Mean and variance of Algorithm 2's output under eps*, by the affine recursion
    x_{t-1} = A_t x_t + c_t + sigma_t z, z = 0 at t = 1, from x_T ~ N(0, 1)."""
    T = s.T
    betas = np.asarray(s.beta[1:])
    ab = alpha_bar_of(s)
    m, v = np.zeros_like(mu), np.ones_like(mu)
    for t in range(T, 0, -1):
        b, a = betas[t - 1], 1 - betas[t - 1]
        k = np.sqrt(1 - ab[t]) / (ab[t] * sd**2 + 1 - ab[t])
        A = (1 - b / np.sqrt(1 - ab[t]) * k) / np.sqrt(a)
        c = b / np.sqrt(1 - ab[t]) * k * np.sqrt(ab[t]) * mu / np.sqrt(a)
        var_t = b if sigma2 == "beta" else (1 - ab[t - 1]) / (1 - ab[t]) * b
        m, v = A * m + c, A * A * v + (var_t if t > 1 else 0.0)
    return m, v


@pytest.mark.parametrize("sigma2", ["beta", "beta_tilde"])
def test_ancestral_sampler_recovers_gaussian_data_moments(sigma2):
    # Property 4. Measured (T = 1000, linear): the exact law of the output has mean
    # (2.0000, -0.9998) and variance (0.2508, 3.9906) with sigma^2 = beta, (0.2461, 3.9748)
    # with beta_tilde, against the data's (2, -1) and (0.25, 4): the discretisation error of
    # 1000 steps is below 2% of s^2 (and z = 0 at t = 1 removes exactly beta_1 = 1e-4).
    n = 10000
    x0 = ancestral_sample(LINEAR, optimal_eps(LINEAR), (n, 2), seed=11, sigma2=sigma2, dtype=np.float64)
    m_law, v_law = ancestral_law(LINEAR, sigma2)
    mean, var = x0.mean(axis=0), x0.var(axis=0, ddof=1)
    se_mean, se_var = np.sqrt(v_law / n), v_law * np.sqrt(2 / (n - 1))  # Gaussian output
    # the sampler's samples follow the law computed by the recursion: 5 standard errors
    assert np.all(np.abs(mean - m_law) < 5 * se_mean)
    assert np.all(np.abs(var - v_law) < 5 * se_var)
    # and that law is the data's, up to the stated discretisation error
    assert np.all(np.abs(m_law - MU) < 1e-3)
    assert np.all(np.abs(v_law - S**2) < 0.02 * S**2)
    # so the samples have the data's moments: 5 SE plus the discretisation error
    assert np.all(np.abs(mean - MU) < 5 * se_mean + 1e-3)
    assert np.all(np.abs(var - S**2) < 5 * se_var + 0.02 * S**2)


def test_ancestral_sampler_is_exact_for_standard_normal_data_with_beta():
    # Ho Sec. 3.2: sigma^2 = beta_t is optimal for x0 ~ N(0, I). Then each reverse step is the
    # exact reverse kernel, and the output variance is 1 - beta_1 (z = 0 at t = 1 drops beta_1).
    mu, sd = np.zeros(2), np.ones(2)
    m, v = ancestral_law(LINEAR, "beta", mu, sd)
    assert np.all(np.abs(v - (1 - 1e-4)) < 1e-9) and np.all(m == 0)
    n = 10000
    x0 = ancestral_sample(LINEAR, optimal_eps(LINEAR, mu, sd), (n, 2), seed=2, dtype=np.float64)
    assert np.all(np.abs(x0.var(axis=0, ddof=1) - v) < 5 * v * math.sqrt(2 / (n - 1)))


def test_last_step_adds_no_noise_and_trajectory_is_indexed_by_t():
    s = cosine_schedule(T=30)
    eps_model = optimal_eps(s)
    x_T = np.random.default_rng(0).standard_normal((5, 2))
    x0, traj, steps = ancestral_sample(s, eps_model, seed=3, x_T=x_T, return_trajectory=True)
    assert traj.shape == (31, 5, 2) and steps.tolist() == list(range(31))
    np.testing.assert_array_equal(traj[30], x_T)
    np.testing.assert_array_equal(traj[0], x0)
    # Algorithm 2 at t = 1: x_0 = 1/sqrt(alpha_1) (x_1 - beta_1 / sqrt(1 - alpha_bar_1) eps), no z.
    b1 = float(s.beta[1])
    x1 = traj[1]
    expected = (x1 - b1 / math.sqrt(b1) * eps_model(x1, np.ones(5, dtype=np.int64))) / math.sqrt(1 - b1)
    np.testing.assert_allclose(x0, expected, rtol=1e-12, atol=1e-12)
    # ... and at t > 1 the noise is there: x_{t-1} differs from the mean by sigma_t z
    t = 10
    ab = alpha_bar_of(s)
    bt = float(s.beta[t])
    mean = (traj[t] - bt / math.sqrt(1 - ab[t]) * eps_model(traj[t], np.full(5, t))) / math.sqrt(1 - bt)
    assert np.abs(traj[t - 1] - mean).max() > 1e-3 * math.sqrt(bt)


def test_ancestral_step_with_clipped_x0_uses_the_posterior_of_the_clipped_x0():
    s = linear_schedule(T=100)
    xt = np.array([[3.0, -0.2]])
    eps = np.array([[-2.0, 0.1]])
    t = 40
    ab = alpha_bar_of(s)
    b = float(s.beta[t])
    x0_hat = np.clip((xt - math.sqrt(1 - ab[t]) * eps) / math.sqrt(ab[t]), -1, 1)
    mean = (math.sqrt(ab[t - 1]) * b * x0_hat + math.sqrt(1 - b) * (1 - ab[t - 1]) * xt) / (1 - ab[t])
    z = np.array([[0.5, -0.5]])
    got = p_sample_step(s, xt, t, eps, z, sigma2="beta", clip_x0=(-1, 1))
    np.testing.assert_allclose(got, mean + math.sqrt(b) * z, rtol=1e-12)


# ---------------------------------------------------------------------------
# DDIM
# ---------------------------------------------------------------------------
def test_ddim_timesteps():
    taus = ddim_timesteps(1000, 50)
    assert taus[0] == 1 and taus[-1] == 1000 and len(taus) == 50
    assert np.all(np.diff(taus) > 0)
    assert ddim_timesteps(10, 10).tolist() == list(range(1, 11))
    assert ddim_timesteps(10, 1).tolist() == [10]
    with pytest.raises(ValueError, match="steps"):
        ddim_timesteps(10, 11)


def test_ddim_eta0_is_deterministic_and_is_the_affine_map():
    # Property 4 (DDIM): with eta = 0 the output is a function of x_T alone. Under eps*,
    # each step is affine; the test composes the affine maps itself (Song et al. Eq. 12).
    s, steps = LINEAR, 50
    eps_model = optimal_eps(s)
    x_T = np.random.default_rng(4).standard_normal((200, 2))
    a = ddim_sample(s, eps_model, seed=1, x_T=x_T, steps=steps, eta=0.0)
    b = ddim_sample(s, eps_model, seed=999, x_T=x_T, steps=steps, eta=0.0)
    np.testing.assert_array_equal(a, b)
    ab = alpha_bar_of(s)
    taus = [0] + [int(1 + round(i * 999 / (steps - 1))) for i in range(steps)]
    x = x_T.copy()
    for i in range(steps, 0, -1):
        t, tp = taus[i], taus[i - 1]
        eps = np.sqrt(1 - ab[t]) / (ab[t] * S**2 + 1 - ab[t]) * (x - np.sqrt(ab[t]) * MU)
        x0_hat = (x - np.sqrt(1 - ab[t]) * eps) / np.sqrt(ab[t])
        x = np.sqrt(ab[tp]) * x0_hat + np.sqrt(1 - ab[tp]) * eps
    np.testing.assert_allclose(a, x, rtol=1e-9, atol=1e-9)
    # with eta > 0 the seed matters
    c = ddim_sample(s, eps_model, seed=1, x_T=x_T, steps=steps, eta=0.5)
    d = ddim_sample(s, eps_model, seed=2, x_T=x_T, steps=steps, eta=0.5)
    assert np.abs(c - d).max() > 1e-3


@given(st.integers(2, 1000), st.data())
def test_ddim_eta1_consecutive_step_is_the_ddpm_step_with_beta_tilde(t, data):
    # Song et al.: eta = 1 on consecutive steps gives sigma^2 = beta_tilde_t and the mean
    # sqrt(ab_{t-1}) x0_hat + sqrt(1 - ab_{t-1} - beta_tilde_t) eps = mu_tilde (Eq. 7).
    arr = hnp.arrays(np.float64, (3, 2), elements=st.floats(-3, 3))
    xt, eps, z = data.draw(arr), data.draw(arr), data.draw(arr)
    got = ddim_step(LINEAR, xt, t, t - 1, eps, eta=1.0, z=z)
    want = p_sample_step(LINEAR, xt, t, eps, z, sigma2="beta_tilde")
    np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-7 * (1 + np.abs(xt).max()) / math.sqrt(LINEAR.alpha_bar[t]))


def test_ddim_trajectory_and_bad_arguments():
    s = cosine_schedule(T=40)
    eps_model = optimal_eps(s)
    x0, traj, steps = ddim_sample(s, eps_model, (3, 2), seed=0, steps=5, return_trajectory=True)
    assert steps.tolist() == [0, 1, 11, 21, 30, 40]  # 1 + round(i * 39 / 4), half to even
    assert traj.shape == (6, 3, 2)
    np.testing.assert_array_equal(traj[0], x0)
    assert x0.dtype == np.float32  # default dtype kept through the sampler
    with pytest.raises(ValueError, match="eta"):
        ddim_sample(s, eps_model, (3, 2), seed=0, eta=1.5)
    with pytest.raises(ValueError, match="end at T"):
        ddim_sample(s, eps_model, (3, 2), seed=0, timesteps=np.array([1, 5, 20]))
    with pytest.raises(ValueError, match="shape"):
        ancestral_sample(s, lambda xt, t: xt[:, :1], (3, 2), seed=0)
    with pytest.raises(ValueError, match="sigma2"):
        ancestral_sample(s, eps_model, (3, 2), seed=0, sigma2="large")


def test_samplers_accept_tensor_models_and_run_without_a_tape():
    s = linear_schedule(T=20)
    w = sg.tensor(np.array(0.1), requires_grad=True)
    seen = []

    def model(xt, t):
        out = w * xt
        seen.append(out.requires_grad)
        return out

    x = ancestral_sample(s, model, (4, 2), seed=0)
    assert x.shape == (4, 2) and not any(seen)


# ---------------------------------------------------------------------------
# Documented contracts, one by one
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("sigma2", ["beta", "beta_tilde"])
def test_p_sample_step_at_t1_adds_no_noise_even_when_given_z(sigma2):
    # Algorithm 2, line 3: z = 0 at t = 1, whatever noise the caller passes (or None)
    s = linear_schedule(T=10)
    xt = np.array([[0.4, -1.3], [2.0, 0.1]])
    eps = np.array([[0.3, 0.2], [-0.5, 1.0]])
    b1 = float(s.beta[1])
    mean = (xt - b1 / math.sqrt(b1) * eps) / math.sqrt(1 - b1)  # Eq. 11 at t = 1 (1 - alpha_bar_1 = beta_1)
    for z in (np.full((2, 2), 5.0), None, np.zeros((7,))):
        np.testing.assert_allclose(p_sample_step(s, xt, 1, eps, z, sigma2=sigma2), mean, rtol=1e-13, atol=1e-13)


@given(st.integers(2, 1000), st.sampled_from(["beta", "beta_tilde"]), st.data())
def test_p_sample_step_for_t_above_1_is_eq11_plus_sigma_z(t, sigma2, data):
    arr = hnp.arrays(np.float64, (3, 2), elements=st.floats(-3, 3))
    xt, eps, z = data.draw(arr), data.draw(arr), data.draw(arr)
    ab = alpha_bar_of(LINEAR)
    b = float(LINEAR.beta[t])
    var = b if sigma2 == "beta" else (1 - ab[t - 1]) / (1 - ab[t]) * b
    expected = (xt - b / math.sqrt(1 - ab[t]) * eps) / math.sqrt(1 - b) + math.sqrt(var) * z
    got = p_sample_step(LINEAR, xt, t, eps, z, sigma2=sigma2)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9 * (1 + np.abs(xt).max()) / math.sqrt(ab[t]))


def test_p_sample_step_needs_z_above_t1_and_a_proper_clip():
    s = linear_schedule(T=10)
    x = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"z must be noise of x_t's shape \(2, 3\) for t > 1, got None"):
        p_sample_step(s, x, 2, x, None)
    with pytest.raises(ValueError, match=r"z must be noise of x_t's shape \(2, 3\) for t > 1, got \(2, 1\)"):
        p_sample_step(s, x, 2, x, np.zeros((2, 1)))
    with pytest.raises(ValueError, match=r"clip_x0 must be a \(low, high\) pair with low < high, got \(1, -1\)"):
        p_sample_step(s, x, 2, x, x, clip_x0=(1, -1))
    # a clip that does not act gives Eq. 11's mean (Eq. 7 at x0_hat equals it)
    g = np.random.default_rng(0)
    xt, eps, z = g.standard_normal((3, 2, 3))
    np.testing.assert_allclose(p_sample_step(s, xt, 6, eps, z, clip_x0=(-1e6, 1e6)), p_sample_step(s, xt, 6, eps, z),
                               rtol=1e-12, atol=1e-12)


def test_ancestral_sample_is_seeded_and_checks_its_start():
    s = linear_schedule(T=15)
    eps_model = optimal_eps(s)
    a = ancestral_sample(s, eps_model, (4, 2), seed=5, dtype=np.float64)
    b = ancestral_sample(s, eps_model, (4, 2), seed=5, dtype=np.float64)
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float64
    assert np.abs(a - ancestral_sample(s, eps_model, (4, 2), seed=6, dtype=np.float64)).max() > 1e-3
    # x_T given: the sampler starts there and does not modify the caller's array
    x_T = np.ones((4, 2))
    ancestral_sample(s, eps_model, seed=0, x_T=x_T)
    np.testing.assert_array_equal(x_T, np.ones((4, 2)))
    with pytest.raises(ValueError, match="give the sample shape"):
        ancestral_sample(s, eps_model, seed=0)
    with pytest.raises(ValueError, match=r"x_T has shape \(4, 2\) but shape=\(3, 2\) was asked for"):
        ancestral_sample(s, eps_model, (3, 2), seed=0, x_T=x_T)
    with pytest.raises(ValueError, match="shape must be"):
        ancestral_sample(s, eps_model, (0, 2), seed=0)


def test_a_model_answering_in_float64_does_not_switch_a_float32_chain():
    s = linear_schedule(T=5)
    seen = []

    def model(xt, t):
        seen.append(xt.dtype)
        return xt.astype(np.float64) * 0.1

    x0, traj, _ = ancestral_sample(s, model, (3, 2), seed=0, return_trajectory=True)
    assert x0.dtype == np.float32 and traj.dtype == np.float32 and set(seen) == {np.dtype(np.float32)}
    assert ddim_sample(s, model, (3, 2), seed=0, steps=3).dtype == np.float32


@given(st.integers(1, 2000), st.data())
def test_ddim_timesteps_follow_their_formula(T, data):
    S = data.draw(st.integers(1, T))
    taus = ddim_timesteps(T, S)
    assert taus.dtype == np.int64 and taus.shape == (S,)
    if S == 1:
        assert taus.tolist() == [T]
    else:
        # tau_i = 1 + round((i - 1)(T - 1)/(S - 1)), i = 1..S, rounding half to even as Python's round
        assert taus.tolist() == [1 + round(i * (T - 1) / (S - 1)) for i in range(S)]
        assert taus[0] == 1 and taus[-1] == T and np.all(np.diff(taus) > 0)


def test_ddim_timesteps_name_bad_arguments():
    for bad in (0, 2.0, True):
        with pytest.raises(ValueError, match=f"ddim_timesteps: T must be a positive int, got {bad!r}"):
            ddim_timesteps(bad, 1)
    with pytest.raises(ValueError, match=r"ddim_timesteps: steps must be an int in 1..T = 1..10, got 0"):
        ddim_timesteps(10, 0)


@given(st.integers(1, 1000), st.data(), st.floats(0, 1))
def test_ddim_sigma_is_eq16(t, data, eta):
    t_prev = data.draw(st.integers(0, t - 1))
    ab = alpha_bar_of(LINEAR)
    expected = eta * math.sqrt((1 - ab[t_prev]) / (1 - ab[t])) * math.sqrt(1 - ab[t] / ab[t_prev])
    assert abs(ddim_sigma(LINEAR, t, t_prev, eta) - expected) <= 1e-9 * expected + 1e-15
    assert ddim_sigma(LINEAR, t, t_prev, 0.0) == 0.0  # eta = 0: deterministic DDIM
    assert ddim_sigma(LINEAR, t, 0, eta) == 0.0  # alpha_bar_0 = 1: no noise on the last step
    if t_prev == t - 1 and t >= 2:  # eta = 1, consecutive steps: sigma^2 = beta_tilde_t
        bt = (1 - ab[t - 1]) / (1 - ab[t]) * float(LINEAR.beta[t])
        assert abs(ddim_sigma(LINEAR, t, t - 1, 1.0) ** 2 - bt) < 1e-9 * bt


@given(st.integers(2, 1000), st.data(), st.floats(0, 1))
def test_ddim_step_is_eq12_written_out(t, data, eta):
    t_prev = data.draw(st.integers(1, t - 1))
    arr = hnp.arrays(np.float64, (3, 2), elements=st.floats(-3, 3))
    xt, eps, z = data.draw(arr), data.draw(arr), data.draw(arr)
    ab = alpha_bar_of(LINEAR)
    sigma = eta * math.sqrt((1 - ab[t_prev]) / (1 - ab[t])) * math.sqrt(1 - ab[t] / ab[t_prev])
    x0_hat = (xt - math.sqrt(1 - ab[t]) * eps) / math.sqrt(ab[t])
    expected = math.sqrt(ab[t_prev]) * x0_hat + math.sqrt(max(1 - ab[t_prev] - sigma**2, 0)) * eps + sigma * z
    got = ddim_step(LINEAR, xt, t, t_prev, eps, eta=eta, z=z)
    np.testing.assert_allclose(got, expected, rtol=1e-8, atol=1e-8 * (1 + np.abs(xt).max()) / math.sqrt(ab[t]))


def test_ddim_step_to_t0_returns_x0_hat_and_checks_its_arguments():
    s = linear_schedule(T=50)
    ab = alpha_bar_of(s)
    xt, eps = np.array([[0.5, -2.0]]), np.array([[1.0, 0.3]])
    x0_hat = (xt - math.sqrt(1 - ab[20]) * eps) / math.sqrt(ab[20])
    for eta in (0.0, 1.0):  # sigma = 0 at t_prev = 0, so no z is needed
        np.testing.assert_allclose(ddim_step(s, xt, 20, 0, eps, eta=eta), x0_hat, rtol=1e-12, atol=1e-12)
    # clip_x0: x0_hat clipped, eps recomputed from it (Eq. 4 solved for eps), then Eq. 12
    clipped = np.clip(x0_hat, -1, 1)
    eps_c = (xt - math.sqrt(ab[20]) * clipped) / math.sqrt(1 - ab[20])
    expected = math.sqrt(ab[10]) * clipped + math.sqrt(1 - ab[10]) * eps_c
    np.testing.assert_allclose(ddim_step(s, xt, 20, 10, eps, clip_x0=(-1, 1)), expected, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match=r"eta must lie in \[0, 1\] \(0: DDIM, 1: DDPM-like\), got -0.1"):
        ddim_step(s, xt, 20, 10, eps, eta=-0.1)
    with pytest.raises(ValueError, match=r"ddim_step needs 1 <= t <= T = 50 and 0 <= t_prev < t, got t=20, t_prev=20"):
        ddim_step(s, xt, 20, 20, eps)
    with pytest.raises(ValueError, match=r"ddim_step needs 1 <= t <= T = 50 .*got t=51"):
        ddim_step(s, xt, 51, 10, eps)
    with pytest.raises(ValueError, match=r"z must be noise of x_t's shape \(1, 2\) when sigma > 0, got None"):
        ddim_step(s, xt, 20, 10, eps, eta=0.5)


def test_ddim_sample_with_explicit_timesteps_equals_steps_and_refuses_both():
    s = cosine_schedule(T=40)
    eps_model = optimal_eps(s)
    x_T = np.random.default_rng(1).standard_normal((3, 2))
    a = ddim_sample(s, eps_model, seed=0, x_T=x_T, steps=5, eta=0.3)
    b = ddim_sample(s, eps_model, seed=0, x_T=x_T, timesteps=np.array([1, 11, 21, 30, 40]), eta=0.3)
    np.testing.assert_array_equal(a, b)
    # all T steps by default
    _, _, steps = ddim_sample(s, eps_model, seed=0, x_T=x_T, return_trajectory=True)
    assert steps.tolist() == list(range(41))
    with pytest.raises(ValueError, match="give steps or timesteps, not both"):
        ddim_sample(s, eps_model, seed=0, x_T=x_T, steps=5, timesteps=np.array([1, 40]))
    with pytest.raises(ValueError, match="timesteps must be a 1-D integer array"):
        ddim_sample(s, eps_model, seed=0, x_T=x_T, timesteps=np.array([1.0, 40.0]))
    with pytest.raises(ValueError, match="timesteps must increase strictly"):
        ddim_sample(s, eps_model, seed=0, x_T=x_T, timesteps=np.array([1, 20, 20, 40]))


@given(st.integers(1, 60))
def test_respace_keeps_alpha_bar_at_the_kept_steps(S):
    # Nichol & Dhariwal Sec. 4: beta'_i = 1 - ab_{tau_i} / ab_{tau_{i-1}}, ab_{tau_0} = 1
    s = cosine_schedule(T=60)
    sub, taus = respace(s, S)
    ab = alpha_bar_of(s)
    assert sub.T == S and taus.shape == (S + 1,) and taus[0] == 0 and taus[-1] == 60
    assert taus[1:].tolist() == ddim_timesteps(60, S).tolist()
    for i in range(1, S + 1):
        assert abs(sub.beta[i] - (1 - ab[taus[i]] / ab[taus[i - 1]])) < 1e-12
        assert abs(sub.alpha_bar[i] - ab[taus[i]]) < 1e-12 * max(ab[taus[i]], 1e-300) + 1e-15


def test_generate_restores_training_mode_and_returns_the_original_timesteps():
    s = linear_schedule(T=30)
    eps = optimal_eps(s)

    class Model:
        def __init__(self):
            self.training, self.modes = True, []

        def eval(self):
            self.training = False

        def train(self):
            self.training = True

        def __call__(self, xt, t):
            self.modes.append(self.training)
            return eps(xt, t)

    m = Model()
    x0, traj, taus = generate(m, s, 4, (2,), "ddpm", steps=6, seed=0, return_trajectory=True)
    assert m.training and not any(m.modes)  # eval while sampling, training again after
    assert taus.tolist() == [0] + ddim_timesteps(30, 6).tolist() and traj.shape == (7, 4, 2)
    np.testing.assert_array_equal(traj[0], x0)
    _, _, steps = generate(m, s, 4, (2,), "ddim", steps=6, seed=0, return_trajectory=True)
    assert steps.tolist() == taus.tolist()
    with pytest.raises(ValueError, match="steps must be an int in 1..T = 1..30, got 31"):
        generate(m, s, 4, (2,), "ddpm", steps=31)
    assert m.training


# ---------------------------------------------------------------------------
# Progress bars: on stderr when asked for, with the step count and an ETA; nothing otherwise
# ---------------------------------------------------------------------------
def _bar_lines(err):
    """tqdm redraws its bar in place with carriage returns: the drawn states."""
    return [s for s in err.replace("\r", "\n").split("\n") if s.strip()]


@pytest.mark.parametrize("sampler", ["ddpm", "ddim"])
def test_samplers_show_a_progress_bar_only_when_asked_and_sample_the_same(sampler, capsys):
    s = linear_schedule(T=30)
    eps = optimal_eps(s)
    sample = ancestral_sample if sampler == "ddpm" else ddim_sample
    label = "sampling (ancestral)" if sampler == "ddpm" else "sampling (DDIM)"
    quiet = sample(s, eps, (4, 2), seed=0)
    out = capsys.readouterr()
    assert out.err == "" and out.out == ""
    shown = sample(s, eps, (4, 2), seed=0, progress=True)
    out = capsys.readouterr()
    np.testing.assert_array_equal(shown, quiet)  # the bar changes no draw
    last = _bar_lines(out.err)[-1]
    assert out.out == "" and label in last and "30/30" in last and "<" in last  # elapsed<remaining: the ETA
    # generate passes it on, on the respaced schedule too (6 steps)
    model = sg.nn.Module()  # eval() and train() for generate; the optimal eps as its forward
    model.forward = eps
    generate(model, s, 4, (2,), sampler, steps=6, seed=0)
    assert capsys.readouterr().err == ""
    generate(model, s, 4, (2,), sampler, steps=6, seed=0, progress=True)
    assert "6/6" in _bar_lines(capsys.readouterr().err)[-1]


def test_float32_sampling_accepts_the_longest_linear_schedule_it_can_represent_and_stays_finite():
    # alpha_bar_T of the linear schedule is exp(sum log(1 - beta_t)); float32's smallest normal number
    # is 2**-126 = 1.18e-38: at T = 8000 alpha_bar_T ~ 1e-35 passes and sampling stays finite in
    # float32; at T = 9000 it is refused (below), and in float64 the same schedule samples finitely
    from scratchgen.diffusion import ddim_sample, make_schedule

    zero_eps = lambda x, t: x * 0  # noqa: E731
    ok = make_schedule("linear", 8000)
    assert 2.0 ** -126 < float(ok.alpha_bar[-1])
    x = ddim_sample(ok, zero_eps, shape=(4, 2), steps=50, dtype="float32", seed=0)
    assert x.dtype == np.float32 and np.isfinite(x).all()
    long = make_schedule("linear", 9000)
    assert float(long.alpha_bar[-1]) < 2.0 ** -126
    with pytest.raises(ValueError, match="below float32's smallest normal number"):
        ddim_sample(long, zero_eps, shape=(4, 2), steps=50, dtype="float32", seed=0)
    x64 = ddim_sample(long, zero_eps, shape=(4, 2), steps=50, dtype="float64", seed=0)
    assert np.isfinite(x64).all()
