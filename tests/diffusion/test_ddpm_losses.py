"""Losses: L_simple, the KL terms as weighted squared errors (property 6), normal_kl,
the decoders, timestep sampling, and the bound of Eq. 5 against Eq. 3 by simulation.

Float64 throughout; oracles are written out here (or come from scipy), never from the
code under test.
"""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import stats
from scipy.special import ndtr

import scratchgen as sg
from scratchgen.diffusion import (
    Schedule,
    approx_standard_normal_cdf,
    cosine_schedule,
    discretized_gaussian_log_likelihood,
    gaussian_log_likelihood,
    linear_schedule,
    loss_simple,
    normal_kl,
    prior_kl,
    sample_timesteps,
    vlb,
    vlb_term,
    vlb_weight,
)

SCHEDULES = {"linear": linear_schedule(), "cosine": cosine_schedule()}
values = st.floats(-3, 3)


def arrays(shape):
    return hnp.arrays(np.float64, shape, elements=values)


# ---------------------------------------------------------------------------
# Property 6: L_{t-1} = lambda_t ||eps - eps_theta||^2 (+ a constant if sigma^2 = beta)
# ---------------------------------------------------------------------------
@given(st.sampled_from(sorted(SCHEDULES)), st.integers(2, 1000), st.data())
def test_kl_term_is_weighted_eps_error(name, t, data):
    s = SCHEDULES[name]
    x0, eps, eps_theta = (data.draw(arrays((2, 3))) for _ in range(3))
    b = float(s.beta[t])
    ab = float(np.prod(1 - s.beta[1 : t + 1]))
    ab_prev = ab / (1 - b)
    beta_tilde = (1 - ab_prev) / (1 - ab) * b
    sq = ((eps - eps_theta) ** 2).sum(axis=1)  # ||eps - eps_theta||^2, per example
    for sigma2, var in (("beta_tilde", beta_tilde), ("beta", b)):
        lam = b**2 / (2 * var * (1 - b) * (1 - ab))  # Ho Eq. 12 weight
        # KL(N(m1, v1) || N(m2, v2)) per dimension = 0.5 (log(v2/v1) + v1/v2 - 1) + (m1-m2)^2/(2 v2):
        # the variance part is a constant C_t, zero when v2 = v1 = beta_tilde.
        C = 3 * 0.5 * (math.log(var / beta_tilde) + beta_tilde / var - 1)
        kl = vlb_term(s, None, x0, t, eps, sigma2=sigma2, eps_theta=eps_theta).numpy()
        np.testing.assert_allclose(kl, lam * sq + C, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(vlb_weight(s, np.array([t]), sigma2), [lam], rtol=1e-9)


def test_loss_simple_is_the_bound_with_weights_dropped():
    # Sum_t L_{t-1}(t >= 2) with sigma^2 = beta_tilde, divided by lambda_t, and averaged over t
    # equals L_simple at the same (t, eps) times D (loss_simple averages over the D data axes).
    s = linear_schedule(T=50)
    g = np.random.default_rng(0)
    x0 = g.standard_normal((50, 4))
    eps = g.standard_normal((50, 4))
    t = np.arange(1, 51)

    def model(xt, tt):
        return 0.3 * xt + 0.01 * tt[:, None]

    ls = loss_simple(s, model, x0, t=t, eps=eps, reduction="none").numpy()
    kl = vlb_term(s, model, x0, t, eps).numpy()
    lam = np.array([vlb_weight(s, np.array([k]))[0] if k >= 2 else np.nan for k in t])
    np.testing.assert_allclose(kl[1:] / lam[1:], 4 * ls[1:], rtol=1e-8)


def test_loss_simple_value_and_gradient():
    # eps_theta = a x_t + c with scalar Tensors a, c. L = mean (eps - a x_t - c)^2;
    # dL/da = -2 mean((eps - eps_theta) x_t), dL/dc = -2 mean(eps - eps_theta).
    s = cosine_schedule(T=100)
    g = np.random.default_rng(1)
    x0, eps = g.standard_normal((64, 2)), g.standard_normal((64, 2))
    t = g.integers(1, 101, size=64)
    a = sg.tensor(np.array(0.4), requires_grad=True)
    c = sg.tensor(np.array(-0.1), requires_grad=True)
    loss = loss_simple(s, lambda xt, tt: a * xt + c, x0, t=t, eps=eps)
    loss.backward()
    ab = np.array([np.prod(1 - s.beta[1 : k + 1]) for k in t])[:, None]
    xt = np.sqrt(ab) * x0 + np.sqrt(1 - ab) * eps
    r = eps - (0.4 * xt - 0.1)
    assert abs(loss.item() - (r**2).mean()) < 1e-12
    assert abs(a.grad.item() - (-2 * (r * xt).mean())) < 1e-12
    assert abs(c.grad.item() - (-2 * r.mean())) < 1e-12


def test_loss_simple_keeps_float32_and_draws_reproducibly():
    s = linear_schedule()
    x0 = np.random.default_rng(2).standard_normal((16, 2)).astype(np.float32)
    seen = {}

    def model(xt, t):
        seen["dtype"] = xt.dtype
        return xt * np.float32(0.5)

    l1, l2 = loss_simple(s, model, x0, seed=7), loss_simple(s, model, x0, seed=7)
    assert seen["dtype"] == np.float32 and l1.dtype == np.float32
    assert l1.item() == l2.item()
    assert l1.item() != loss_simple(s, model, x0, seed=8).item()
    with pytest.raises(ValueError, match=r"eps_model\(x_t, t\) must have the shape"):
        loss_simple(s, lambda xt, t: xt[:, :1], x0, seed=0)


# ---------------------------------------------------------------------------
# normal_kl and the prior term
# ---------------------------------------------------------------------------
@given(st.floats(-2, 2), st.floats(-1.5, 1.5), st.floats(-2, 2), st.floats(-1.5, 1.5))
def test_normal_kl_by_numerical_integration(m1, v1, m2, v2):
    s1 = math.exp(0.5 * v1)
    y = np.linspace(m1 - 12 * s1, m1 + 12 * s1, 200001)
    lp = stats.norm.logpdf(y, m1, s1)
    lq = stats.norm.logpdf(y, m2, math.exp(0.5 * v2))
    integral = np.trapezoid(np.exp(lp) * (lp - lq), y)
    kl = normal_kl(np.array(m1), np.array(v1), np.array(m2), np.array(v2)).item()
    assert abs(kl - integral) < 1e-7 * (1 + integral)
    assert kl >= 0


def test_prior_kl_closed_form():
    for s in SCHEDULES.values():
        x0 = np.array([[0.0, 1.0, -3.0]])
        ab = float(np.prod(1 - s.beta[1:]))
        # KL(N(sqrt(ab) x, 1-ab) || N(0, 1)) = 0.5 (ab x^2 + (1 - ab) - 1 - log(1 - ab)), summed
        expected = (0.5 * (ab * x0**2 - ab - np.log1p(-ab))).sum()
        assert abs(prior_kl(s, x0).item() - expected) < 1e-12 + 1e-9 * expected
        assert prior_kl(s, x0).item() < 1e-3  # L_T is negligible: alpha_bar_T ~ 0


# ---------------------------------------------------------------------------
# Decoders
# ---------------------------------------------------------------------------
def test_tanh_cdf_accuracy_is_as_documented():
    x = np.linspace(-10, 10, 400001)
    err = np.abs(approx_standard_normal_cdf(x).numpy() - ndtr(x))
    # documented: max |error| about 1.8e-4, near |x| = 2.59
    assert 1.7e-4 < err.max() < 1.85e-4
    assert abs(abs(x[err.argmax()]) - 2.59) < 0.02


@given(st.floats(-1.2, 1.2), st.floats(-9, 0))
def test_discretized_decoder_is_a_distribution_over_256_values(mean, log_var):
    x = (np.arange(256) / 127.5 - 1)[:, None]  # every 8-bit value, scaled to [-1, 1]
    logp = discretized_gaussian_log_likelihood(x, np.array(mean), np.array(log_var)).numpy()[:, 0]
    p = np.exp(logp)
    # bins telescope: probabilities sum to 1 (up to the 1e-12 floor on each of 256 bins)
    assert abs(p.sum() - 1) < 256 * 1e-12 + 1e-9
    # each bin against the exact normal CDF: error at most twice the tanh approximation's 1.8e-4
    sd = math.exp(0.5 * log_var)
    edges = np.concatenate([[-np.inf], (np.arange(255) + 0.5) / 127.5 - 1, [np.inf]])
    exact = ndtr((edges[1:] - mean) / sd) - ndtr((edges[:-1] - mean) / sd)
    assert np.all(np.abs(p - exact) < 3.6e-4 + 1e-12)


def test_discretized_decoder_rejects_continuous_data():
    with pytest.raises(ValueError, match="8-bit"):
        discretized_gaussian_log_likelihood(np.array([[0.123]]), np.zeros(1), np.zeros(1))
    with pytest.raises(ValueError, match="8-bit"):
        discretized_gaussian_log_likelihood(np.array([[1.5]]), np.zeros(1), np.zeros(1))


@given(arrays((3,)), arrays((3,)), st.floats(-4, 2))
def test_gaussian_log_likelihood_matches_scipy(x, mean, log_var):
    got = gaussian_log_likelihood(x, mean, np.array(log_var)).numpy()
    np.testing.assert_allclose(got, stats.norm.logpdf(x, mean, math.exp(0.5 * log_var)), rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------
# Timestep sampling
# ---------------------------------------------------------------------------
@given(st.integers(0, 2**31), st.sampled_from([1, 2, 4, 5, 8, 10, 50]))
def test_low_discrepancy_timesteps_cover_the_strata(seed, k):
    T = 1000  # divisible by every k above: stratum j holds t in (j T/k, (j+1) T/k]
    t = sample_timesteps(T, k, seed, low_discrepancy=True)
    assert t.dtype == np.int64 and t.shape == (k,)
    assert np.all((1 <= t) & (t <= T))
    assert sorted(((t - 1) // (T // k)).tolist()) == list(range(k))


@pytest.mark.parametrize("low_discrepancy", [False, True])
def test_timesteps_are_marginally_uniform(low_discrepancy):
    # first element of many batches: mean (T+1)/2, variance (T^2-1)/12; 5-SE tolerance.
    T, n = 10, 20000
    g = sg.rng(0)
    t0 = np.array([sample_timesteps(T, 3, g, low_discrepancy)[0] for _ in range(n)])
    assert abs(t0.mean() - (T + 1) / 2) < 5 * math.sqrt((T * T - 1) / 12 / n)
    counts = np.bincount(t0, minlength=T + 1)[1:]
    # each count is Binomial(n, 1/T): 5 SE
    assert np.all(np.abs(counts - n / T) < 5 * math.sqrt(n * (1 / T) * (1 - 1 / T)))


# ---------------------------------------------------------------------------
# The bound: Eq. 5 (KL terms, computed by vlb) against Eq. 3 (log-density ratios on simulated
# forward trajectories, written out here with scipy). Both are unbiased estimates of
# E_q[-log p(x_{0:T}) + log q(x_{1:T}|x_0)]; they must agree within 5 combined standard errors.
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("sigma2", ["beta", "beta_tilde"])
def test_vlb_eq5_equals_eq3_by_simulation(sigma2):
    betas = np.array([0.05, 0.2, 0.4, 0.6])
    s = Schedule(betas)
    T, n = 4, 100000
    coef = {1: (0.2, 0.1), 2: (0.5, -0.2), 3: (0.6, 0.0), 4: (0.8, 0.3)}  # an arbitrary eps model

    def model(xt, t):
        a = np.array([coef[int(k)][0] for k in t])[:, None]
        c = np.array([coef[int(k)][1] for k in t])[:, None]
        return a * xt + c

    x0 = np.full((n, 1), 0.7)
    res = vlb(s, model, x0, seed=1, sigma2=sigma2)
    eq5 = res["total"]

    # Eq. 3 by simulation, in the test's own notation
    g = np.random.default_rng(2)
    alpha = 1 - betas
    alpha_bar = np.cumprod(alpha)
    ab_prev = np.concatenate([[1.0], alpha_bar[:-1]])
    beta_tilde = (1 - ab_prev) / (1 - alpha_bar) * betas
    if sigma2 == "beta":
        var = betas.copy()
    else:
        var = beta_tilde.copy()
        var[0] = beta_tilde[1]  # Ho's clipped log-variance at t = 1
    xs = [x0[:, 0]]
    for k in range(T):
        xs.append(np.sqrt(alpha[k]) * xs[-1] + np.sqrt(betas[k]) * g.standard_normal(n))
    total = -stats.norm.logpdf(xs[T])  # -log p(x_T)
    for t in range(1, T + 1):
        xt, xprev = xs[t], xs[t - 1]
        a, c = coef[t]
        eps_theta = a * xt + c
        mu = (xt - betas[t - 1] / np.sqrt(1 - alpha_bar[t - 1]) * eps_theta) / np.sqrt(alpha[t - 1])
        total -= stats.norm.logpdf(xprev, mu, np.sqrt(var[t - 1]))  # -log p_theta(x_{t-1} | x_t)
        total += stats.norm.logpdf(xt, np.sqrt(alpha[t - 1]) * xprev, np.sqrt(betas[t - 1]))  # log q(x_t | x_{t-1})
    se = math.sqrt(eq5.var() / n + total.var() / n)
    assert abs(eq5.mean() - total.mean()) < 5 * se
    assert res["terms"].shape == (n, T) and res["prior"].shape == (n,)
    np.testing.assert_allclose(eq5, res["prior"] + res["terms"].sum(axis=1), rtol=1e-12)


def test_vlb_with_discretized_decoder_and_bits_per_dim():
    s = linear_schedule(T=20)
    g = np.random.default_rng(3)
    x0 = g.integers(0, 256, size=(4, 1, 3, 3)) / 127.5 - 1  # 8-bit "images"

    def model(xt, t):
        return 0.9 * xt

    nats = vlb(s, model, x0, seed=5, decoder="discretized")
    bpd = vlb(s, model, x0, seed=5, decoder="discretized", bits_per_dim=True)
    assert np.all(np.isfinite(nats["total"]))
    np.testing.assert_allclose(bpd["total"], nats["total"] / (9 * math.log(2)), rtol=1e-12)
    # the decoder term of an 8-bit pixel is -log of a probability: >= 0 and the bits can't exceed
    # -log2(1e-12) = 39.9 per dimension (the floor)
    assert np.all(nats["terms"][:, 0] >= 0) and np.all(bpd["terms"][:, 0] <= 39.9 + 1e-9)


# ---------------------------------------------------------------------------
# Documented contracts, one by one: normal_kl's stable form, sample_timesteps' formula and checks,
# loss_simple's reduction, vlb_term's decoder and its arguments, vlb's T model calls
# ---------------------------------------------------------------------------
@given(st.floats(-1e-6, 1e-6), st.floats(-3, 3))
def test_normal_kl_is_accurate_and_non_negative_for_nearly_equal_variances(d, v2):
    # equal means: KL = (e^d - 1 - d) / 2 = d^2/4 + d^3/12 + O(d^4); the naive -1 + v2 - v1 + e^(v1 - v2)
    # loses every digit here (and can round below 0)
    # (expm1(d) - d carries the rounding of expm1(d), half an ulp of d: the second term of the tolerance;
    # the naive form is off by ~1e-16 absolute, far above it)
    kl = normal_kl(np.array(0.3), np.array(v2 + d), np.array(0.3), np.array(v2)).item()
    d_exact = (v2 + d) - v2  # the difference the function sees after rounding v1 = v2 + d
    expected = d_exact**2 / 4 + d_exact**3 / 12 + d_exact**4 / 48
    assert kl >= 0
    assert abs(kl - expected) <= 1e-9 * expected + 2**-53 * abs(d_exact)


def test_normal_kl_broadcasts_and_is_differentiable_in_every_argument():
    # dKL/dm1 = (m1 - m2) e^-v2, dKL/dv1 = (e^(v1 - v2) - 1) / 2,
    # dKL/dm2 = -(m1 - m2) e^-v2, dKL/dv2 = (1 - e^(v1 - v2) - (m1 - m2)^2 e^-v2) / 2
    m1, v1 = np.array([[0.5, -1.0], [2.0, 0.0]]), np.array([[0.2], [-0.4]])  # (2, 2) and (2, 1)
    m2, v2 = np.array([0.1, 0.3]), np.array([[0.7], [0.1]])
    kl = normal_kl(m1, v1, m2, v2)
    assert kl.shape == (2, 2)
    expected = 0.5 * (-1 + v2 - v1 + np.exp(v1 - v2) + (m1 - m2) ** 2 * np.exp(-v2))
    np.testing.assert_allclose(kl.numpy(), expected, rtol=1e-13)
    gm1, gv1, gm2, gv2 = sg.grad(lambda a, b, c, e: normal_kl(a, b, c, e).sum(), argnums=(0, 1, 2, 3))(
        sg.tensor(m1), sg.tensor(v1), sg.tensor(m2), sg.tensor(v2))
    dm = (m1 - m2) * np.exp(-v2)
    np.testing.assert_allclose(gm1.numpy(), dm, rtol=1e-13)
    np.testing.assert_allclose(gm2.numpy(), -dm.sum(axis=0), rtol=1e-13)
    np.testing.assert_allclose(gv1.numpy(), (0.5 * (np.exp(v1 - v2) - 1) * np.ones((2, 2))).sum(axis=1, keepdims=True),
                               rtol=1e-13)
    np.testing.assert_allclose(gv2.numpy(), (0.5 * (1 - np.exp(v1 - v2) - (m1 - m2) ** 2 * np.exp(-v2))).sum(
        axis=1, keepdims=True), rtol=1e-13)


@given(st.integers(0, 2**31), st.integers(1, 50), st.integers(1, 20))
def test_sample_timesteps_is_one_plus_floor_u_T_with_the_seeded_uniforms(seed, T, k):
    # the documented formulas, on the uniforms that numpy.random.default_rng(seed) draws
    u = np.random.default_rng(seed).random(k)
    np.testing.assert_array_equal(sample_timesteps(T, k, seed), 1 + np.floor(u * T))
    u0 = np.random.default_rng(seed).random()
    np.testing.assert_array_equal(sample_timesteps(T, k, seed, low_discrepancy=True),
                                  1 + np.floor(np.mod(u0 + np.arange(k) / k, 1.0) * T))
    # same seed, same timesteps; a Schedule stands for its T
    np.testing.assert_array_equal(sample_timesteps(Schedule(np.full(T, 0.1)), k, seed), sample_timesteps(T, k, seed))


def test_sample_timesteps_maps_0_to_1_and_u_below_1_to_T_and_checks_its_arguments():
    class Edges:  # a stand-in generator: the largest and the smallest uniforms of [0, 1)
        def standard_normal(self, *a, **k):
            raise AssertionError("not used")

        def random(self, n=None):
            return np.array([np.nextafter(1.0, 0.0), 0.0, 0.5])[:n]

    assert sample_timesteps(1000, 3, Edges()).tolist() == [1000, 1, 501]  # the ends of 1..T
    t = sample_timesteps(5, 4, seed=0)
    assert t.dtype == np.int64 and t.shape == (4,)
    for bad_T in (0, 2.0, True):
        with pytest.raises(ValueError, match=f"sample_timesteps: T must be a positive int, got {bad_T!r}"):
            sample_timesteps(bad_T, 3)
    for bad_b in (0, 3.0, False):
        with pytest.raises(ValueError, match=f"sample_timesteps: batch must be a positive int, got {bad_b!r}"):
            sample_timesteps(10, bad_b)


def test_loss_simple_per_example_error_averages_over_the_data_axes():
    # reduction="none": ||eps - eps_theta||^2 / D per example, for image-shaped data (D = 1*2*3)
    s = linear_schedule(T=20)
    g = np.random.default_rng(7)
    x0, eps = g.standard_normal((3, 1, 2, 3)), g.standard_normal((3, 1, 2, 3))
    t = np.array([1, 10, 20])
    model = lambda xt, tt: 0.5 * xt  # noqa: E731
    per = loss_simple(s, model, x0, t=t, eps=eps, reduction="none")
    assert per.shape == (3,)
    ab = np.array([np.prod(1 - s.beta[1 : k + 1]) for k in t])[:, None, None, None]
    xt = np.sqrt(ab) * x0 + np.sqrt(1 - ab) * eps
    expected = ((eps - 0.5 * xt) ** 2).reshape(3, -1).mean(axis=1)
    np.testing.assert_allclose(per.numpy(), expected, rtol=1e-13)
    assert abs(loss_simple(s, model, x0, t=t, eps=eps).item() - expected.mean()) < 1e-13
    with pytest.raises(ValueError, match="loss_simple: reduction must be 'mean' or 'none', got 'sum'"):
        loss_simple(s, model, x0, t=t, eps=eps, reduction="sum")


def test_loss_simple_low_discrepancy_draws_one_timestep_per_stratum():
    s = linear_schedule(T=100)
    seen = []

    def model(xt, t):
        seen.append(np.array(t))
        return xt * 0

    for seed in range(5):
        loss_simple(s, model, np.zeros((10, 2)), seed=seed, low_discrepancy=True)
        assert sorted(((seen[-1] - 1) // 10).tolist()) == list(range(10))  # stratum j: t in (10 j, 10 (j + 1)]


def test_prior_kl_keeps_float32():
    x0 = np.array([[0.5, -1.0]], dtype=np.float32)
    kl = prior_kl(linear_schedule(), x0)
    assert kl.shape == (1,) and kl.dtype == np.float32


@pytest.mark.parametrize("sigma2", ["beta", "beta_tilde"])
def test_vlb_term_at_t1_is_the_gaussian_decoder_and_rows_mix_terms(sigma2):
    # L_0 = -sum_d log N(x0; mu_theta(x_1, 1), sigma_1^2), with sigma_1^2 = beta_1 or the clipped beta_tilde_2;
    # rows with t >= 2 hold the KL of Eq. 5 (its closed form: 1/2 [log(v2/v1) + v1/v2 - 1 + (m1 - m2)^2 / v2])
    s = Schedule(np.array([0.05, 0.2, 0.4]))
    betas, ab = np.array([0.05, 0.2, 0.4]), np.cumprod([0.95, 0.8, 0.6])
    x0 = np.array([[0.3, -0.7], [1.2, 0.4], [-0.5, 0.9]])
    eps = np.array([[0.1, 0.2], [-1.0, 0.5], [0.3, -0.3]])
    eps_theta = np.array([[0.4, -0.1], [0.2, 0.0], [-0.6, 0.8]])
    t = np.array([1, 3, 1])
    got = vlb_term(s, None, x0, t, eps, sigma2=sigma2, eps_theta=eps_theta).numpy()
    beta_tilde = lambda k: (1 - (ab[k - 2] if k > 1 else 1.0)) / (1 - ab[k - 1]) * betas[k - 1]  # noqa: E731
    for row, k in enumerate(t):
        xt = np.sqrt(ab[k - 1]) * x0[row] + np.sqrt(1 - ab[k - 1]) * eps[row]
        mu = (xt - betas[k - 1] / np.sqrt(1 - ab[k - 1]) * eps_theta[row]) / np.sqrt(1 - betas[k - 1])
        var = betas[k - 1] if sigma2 == "beta" else beta_tilde(max(k, 2))
        if k == 1:
            expected = -stats.norm.logpdf(x0[row], mu, math.sqrt(var)).sum()
        else:
            ab_prev = ab[k - 2]
            mu_tilde = (np.sqrt(ab_prev) * betas[k - 1] * x0[row] + np.sqrt(1 - betas[k - 1]) * (1 - ab_prev) * xt) / (1 - ab[k - 1])
            v1 = beta_tilde(k)
            expected = (0.5 * (math.log(var / v1) + v1 / var - 1 + (mu_tilde - mu) ** 2 / var)).sum()
        assert abs(got[row] - expected) < 1e-12 * max(1, abs(expected)), (row, got[row], expected)


def test_vlb_term_uses_the_given_eps_theta_and_checks_its_arguments():
    s = linear_schedule(T=10)
    x0, eps = np.zeros((2, 2)), np.ones((2, 2))

    def never(xt, t):
        raise AssertionError("eps_model must not be called when eps_theta is given")

    vlb_term(s, never, x0, 5, eps, eps_theta=np.zeros((2, 2)))
    with pytest.raises(ValueError, match="vlb_term: decoder must be 'gaussian' or 'discretized', got 'laplace'"):
        vlb_term(s, never, x0, 5, eps, decoder="laplace", eps_theta=np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"eps_theta must have the shape of x_t, \(2, 2\); got \(2, 1\)"):
        vlb_term(s, never, x0, 5, eps, eps_theta=np.zeros((2, 1)))


def test_vlb_calls_the_model_once_per_timestep_without_a_tape_and_is_seeded():
    s = linear_schedule(T=6)
    w = sg.tensor(np.array(0.2), requires_grad=True)
    calls = []

    def model(xt, t):
        out = w * xt
        calls.append((np.array(t).tolist(), out.requires_grad))
        return out

    x0 = np.array([[0.5, -0.5], [1.0, 0.0]])
    a = vlb(s, model, x0, seed=4)
    assert [c[0] for c in calls] == [[k, k] for k in range(1, 7)]  # T calls, every row at the same t
    assert not any(c[1] for c in calls)  # under no_grad
    b = vlb(s, model, x0, seed=4)
    for key in ("total", "prior", "terms"):
        np.testing.assert_array_equal(a[key], b[key])
    assert a["terms"].shape == (2, 6)
    ab = float(np.prod(1 - s.beta[1:]))
    expected_prior = (0.5 * (ab * x0**2 - ab - np.log1p(-ab))).sum(axis=1)  # KL(N(sqrt(ab) x, 1 - ab) || N(0, 1))
    np.testing.assert_allclose(a["prior"], expected_prior, rtol=1e-10)


def test_discretized_decoder_floors_each_probability_at_1e_minus_12():
    # a decoder centred far from the data: every bin's probability underflows, and its log is log(1e-12)
    x = np.array([[-1.0, 127 / 127.5 - 1, 1.0]])  # the bottom bin, a middle one, the top one
    logp = discretized_gaussian_log_likelihood(x, np.array(50.0), np.array(-10.0)).numpy()
    np.testing.assert_array_equal(logp[0, :2], np.log(1e-12))
    assert logp[0, 2] == 0.0  # the top bin [1 - 1/255, inf) holds all the mass of N(50, e^-10)
