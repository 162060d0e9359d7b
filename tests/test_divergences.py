"""Divergences, the optimal discriminator, the GAN value, W1 and W2: each checked against an identity
or a hand-written oracle (the oracles below never call scratchgen.divergences)."""
import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import scratchgen as sg
from scratchgen import divergences as dv

LOG2 = math.log(2.0)


# ---------------------------------------------------------------------------
# strategies and oracles
# ---------------------------------------------------------------------------
@st.composite
def dist_pair(draw, n_min=2, n_max=7, low=0.0, zeros=False):
    """Two float64 probability vectors of the same length; entries >= low before normalising."""
    n = draw(st.integers(n_min, n_max))
    # entries are exact zeros or >= 1e-3: a weight of 1e-300 would make D* round to exactly 1
    el = st.floats(max(low, 1e-3), 1.0)
    if zeros:
        el = st.one_of(st.just(0.0), el)
    a = np.array(draw(st.lists(el, min_size=n, max_size=n)))
    b = np.array(draw(st.lists(el, min_size=n, max_size=n)))
    assume(a.sum() > 0.05 and b.sum() > 0.05)
    return a / a.sum(), b / b.sum()


def kl_oracle(p, q):
    out = 0.0
    for pi, qi in zip(p, q):
        if pi > 0:
            out += math.inf if qi == 0 else pi * math.log(pi / qi)
    return out


def jsd_oracle(p, q):
    # 1/2 sum p log(2p/(p+q)) + 1/2 sum q log(2q/(p+q))
    out = 0.0
    for pi, qi in zip(p, q):
        if pi > 0:
            out += 0.5 * pi * math.log(2 * pi / (pi + qi))
        if qi > 0:
            out += 0.5 * qi * math.log(2 * qi / (pi + qi))
    return out


def close(a, b, tol):
    a, b = float(a), float(b)
    return abs(a - b) < tol


def sigmoid_np(l):
    return 1.0 / (1.0 + np.exp(-l))


# ---------------------------------------------------------------------------
# Property 1: gradient ascent on V over free logits finds p/(p+q), and V(D*, G) = 2 JSD - log 4
# ---------------------------------------------------------------------------
def _ascend(p, q, steps, lr, precondition):
    """Maximise V(D, G) of Goodfellow Eq. 1 over free logits with scratchgen's own gradient."""
    l = np.zeros_like(p)
    V = lambda lt: dv.gan_value(p, q, logits=lt)
    dV = sg.grad(V)
    step = lr / (p + q) if precondition else lr
    for _ in range(steps):
        l = l + step * dV(sg.tensor(l)).numpy()
    return l


def test_gradient_ascent_plain_converges_to_optimal_discriminator():
    # plain gradient ascent, one fixed step size
    p = np.array([0.1, 0.4, 0.3, 0.2])
    q = np.array([0.25, 0.05, 0.3, 0.4])
    l = _ascend(p, q, steps=3000, lr=3.0, precondition=False)
    d = sigmoid_np(l)
    np.testing.assert_allclose(d, p / (p + q), rtol=0, atol=1e-7)
    v = float(dv.gan_value(p, q, logits=l))
    assert abs(v - (2 * jsd_oracle(p, q) - math.log(4))) < 1e-10


@given(dist_pair(low=0.2, n_max=6))
def test_gradient_ascent_finds_p_over_p_plus_q_and_value_is_2jsd_minus_log4(pq):
    p, q = pq
    # gradient ascent with one step size per outcome, lr / (p(x) + q(x)) (V is a sum over x)
    l = _ascend(p, q, steps=150, lr=4.0, precondition=True)
    d = sigmoid_np(l)
    np.testing.assert_allclose(d, p / (p + q), rtol=0, atol=1e-8)
    v = float(dv.gan_value(p, q, logits=l))
    assert close(v, 2 * jsd_oracle(p, q) - math.log(4), 1e-12)
    # the closed-form maximiser gives the same value, for both weightings
    d_star = dv.optimal_discriminator(p, q)
    assert close(dv.gan_value(p, q, d_star), 2 * jsd_oracle(p, q) - math.log(4), 1e-12)
    assert close(dv.gan_value(p, q, d_star, weights="half"), jsd_oracle(p, q) - LOG2, 1e-12)
    # and a density ratio read off the learned logits is p/q (property 2)
    np.testing.assert_allclose(dv.density_ratio(logits=l), p / q, rtol=1e-6)


@given(dist_pair(zeros=True), st.lists(st.floats(0.001, 0.999), min_size=7, max_size=7))
def test_no_discriminator_beats_the_optimal_one(pq, ds):
    p, q = pq
    d = np.array(ds[: len(p)])
    for w in ("goodfellow", "half"):
        assert float(dv.gan_value(p, q, d, weights=w)) <= float(
            dv.gan_value(p, q, dv.optimal_discriminator(p, q), weights=w)) + 1e-12


def test_gan_value_matches_hand_computation_and_weights():
    p = np.array([0.5, 0.5, 0.0])
    q = np.array([0.0, 0.5, 0.5])
    d = np.array([0.9, 0.5, 0.2])
    by_hand = 0.5 * math.log(0.9) + 0.5 * math.log(0.5) + 0.5 * math.log(0.5) + 0.5 * math.log(0.8)
    assert close(dv.gan_value(p, q, d), by_hand, 1e-14)
    assert close(dv.gan_value(p, q, d, weights="half"), by_hand / 2, 1e-14)
    assert close(dv.gan_value(p, q, d, weights=(2.0, 0.0)), 2 * (0.5 * math.log(0.9) + 0.5 * math.log(0.5)), 1e-14)
    # at the optimum with partly disjoint supports: D* = 1, 1/2, 0 and no -inf from 0 log 0
    v = dv.gan_value(p, q, dv.optimal_discriminator(p, q))
    assert close(v, 2 * jsd_oracle(p, q) - math.log(4), 1e-14)


def test_gan_value_is_differentiable_in_d_and_logits():
    p = np.array([0.2, 0.8])
    q = np.array([0.6, 0.4])
    # dV/dd = p/d - q/(1-d)
    d = np.array([0.3, 0.7])
    g = sg.grad(lambda t: dv.gan_value(p, q, t))(sg.tensor(d)).numpy()
    np.testing.assert_allclose(g, p / d - q / (1 - d), rtol=1e-12)
    sg.check_grads(lambda t: dv.gan_value(p, q, logits=t), np.array([0.3, -1.2]), order=2)


# ---------------------------------------------------------------------------
# Property 2: the density ratio
# ---------------------------------------------------------------------------
@given(dist_pair(low=0.01))
def test_density_ratio_at_optimal_discriminator_is_p_over_q(pq):
    p, q = pq
    d = dv.optimal_discriminator(p, q)
    np.testing.assert_allclose(dv.density_ratio(d), p / q, rtol=1e-12)
    logit = np.log(p) - np.log(q)  # logit of p/(p+q)
    np.testing.assert_allclose(dv.density_ratio(logits=logit), p / q, rtol=1e-12)
    t = sg.tensor(logit, requires_grad=True)
    np.testing.assert_allclose(dv.density_ratio(logits=t).numpy(), p / q, rtol=1e-12)


def test_density_ratio_from_logits_is_finite_where_d_rounds_to_one():
    l = np.array([40.0, 0.0, -40.0])
    assert np.all(np.isfinite(dv.density_ratio(logits=l)))
    np.testing.assert_allclose(dv.density_ratio(logits=l), np.exp(l), rtol=1e-15)
    with pytest.raises(ValueError, match="exactly one"):
        dv.density_ratio()
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        dv.density_ratio(np.array([0.5, 1.5]))


# ---------------------------------------------------------------------------
# Property 9: KL, JSD, chi^2, TV agree with f_divergence; 0 <= JSD <= log 2
# ---------------------------------------------------------------------------
@given(dist_pair(zeros=True))
def test_named_divergences_agree_with_f_divergence_and_oracles(pq):
    p, q = pq
    k = float(dv.kl(p, q))
    assert (math.isinf(k) and math.isinf(kl_oracle(p, q))) or close(k, kl_oracle(p, q), 1e-12)
    kf = float(dv.f_divergence(p, q, "kl"))
    assert (math.isinf(k) and math.isinf(kf)) or close(k, kf, 1e-12)
    assert close(dv.jsd(p, q), jsd_oracle(p, q), 1e-12)
    assert close(dv.f_divergence(p, q, "jensen_shannon"), jsd_oracle(p, q), 1e-12)
    tv = 0.5 * np.abs(p - q).sum()
    assert close(dv.total_variation(p, q), tv, 1e-14)
    assert close(dv.f_divergence(p, q, "total_variation"), tv, 1e-14)
    # chi^2 with q in the denominator
    if np.all(q[p > 0] > 0):
        m = q > 0
        chi = float(np.sum((p[m] - q[m]) ** 2 / q[m]))
        assert close(dv.pearson_chi2(p, q), chi, 1e-12 * max(1, chi))
        assert close(dv.f_divergence(p, q, "pearson_chi2"), chi, 1e-12 * max(1, chi))
    else:
        assert math.isinf(float(dv.pearson_chi2(p, q)))
        assert math.isinf(float(dv.f_divergence(p, q, "pearson_chi2")))
    # the GAN generator of f-GAN Table 1: 2 JSD - log 4
    assert close(dv.f_divergence(p, q, "gan"), 2 * jsd_oracle(p, q) - math.log(4), 1e-12)
    h = float(np.sum((np.sqrt(p) - np.sqrt(q)) ** 2))
    assert close(dv.f_divergence(p, q, "squared_hellinger"), h, 1e-12)
    # reverse KL and Neyman chi^2 swap the arguments
    rk = float(dv.f_divergence(p, q, "reverse_kl"))
    assert (math.isinf(rk) and math.isinf(kl_oracle(q, p))) or close(rk, kl_oracle(q, p), 1e-12)
    # 0 <= JSD <= log 2
    j = float(dv.jsd(p, q))
    assert -1e-15 <= j <= LOG2 + 1e-15


@given(dist_pair(zeros=True))
def test_f_divergence_with_a_plain_callable(pq):
    p, q = pq
    f = lambda t: (t - 1) ** 2 * 0.5 + t * 0  # half Pearson
    if np.all(q[p > 0] > 0):
        m = q > 0
        assert close(dv.f_divergence(p, q, f), 0.5 * np.sum((p[m] - q[m]) ** 2 / q[m]), 1e-10)
    else:
        with pytest.raises(ValueError, match="f_inf"):
            dv.f_divergence(p, q, f)
        assert math.isinf(float(dv.f_divergence(p, q, f, f_inf=math.inf)))


@given(st.integers(1, 4), st.integers(1, 4), st.integers(0, 10_000))
def test_jsd_is_log2_on_disjoint_supports(n1, n2, seed):
    r = np.random.default_rng(seed)
    a, b = r.random(n1) + 0.01, r.random(n2) + 0.01
    p = np.concatenate([a / a.sum(), np.zeros(n2)])
    q = np.concatenate([np.zeros(n1), b / b.sum()])
    assert close(dv.jsd(p, q), LOG2, 1e-14)
    assert close(dv.f_divergence(p, q, "jensen_shannon"), LOG2, 1e-14)
    assert close(dv.total_variation(p, q), 1.0, 1e-14)
    assert math.isinf(float(dv.kl(p, q)))
    # and it is 0 on identical distributions
    assert abs(float(dv.jsd(p, p))) < 1e-15


def test_batched_axis_and_float32_kept():
    r = np.random.default_rng(0)
    p = r.random((3, 5)).astype(np.float32)
    q = r.random((3, 5)).astype(np.float32)
    p /= p.sum(1, keepdims=True)
    q /= q.sum(1, keepdims=True)
    for fn in (dv.kl, dv.jsd, dv.pearson_chi2, dv.total_variation):
        out = fn(p, q)
        assert out.shape == (3,) and out.dtype == np.float32
        for i in range(3):
            assert close(out[i], fn(p[i].astype(np.float64), q[i].astype(np.float64)), 1e-5)
    # zeros in q where p has mass: inf, still float32
    z = np.array([0.5, 0.5], dtype=np.float32), np.array([1.0, 0.0], dtype=np.float32)
    for name in ("kl", "pearson_chi2", "jensen_shannon"):
        assert dv.f_divergence(*z, name).dtype == np.float32
    assert dv.pearson_chi2(*z).dtype == np.float32 and np.isinf(dv.pearson_chi2(*z))
    # axis=0: distributions in columns
    out = dv.jsd(p.T, q.T, axis=0)
    np.testing.assert_allclose(out, dv.jsd(p, q), rtol=1e-6)


def test_bad_inputs_raise_value_error_naming_the_problem():
    p = np.array([0.5, 0.5])
    with pytest.raises(ValueError, match="negative"):
        dv.kl(np.array([1.2, -0.2]), p)
    with pytest.raises(ValueError, match="sum to 1"):
        dv.jsd(np.array([0.5, 0.6]), p)
    with pytest.raises(ValueError, match="same shape"):
        dv.total_variation(np.array([0.2, 0.3, 0.5]), p)
    with pytest.raises(ValueError, match="same shape"):
        dv.kl(np.ones((2, 1)) * 0.5, p)  # would broadcast to (2, 2)
    with pytest.raises(ValueError, match="non-finite"):
        dv.kl(np.array([np.nan, 1.0]), p)
    with pytest.raises(ValueError, match="unknown"):
        dv.f_divergence(p, p, "no_such_divergence")
    with pytest.raises(ValueError, match="shape"):
        dv.gan_value(p, p, np.array([0.5, 0.5, 0.5]))
    with pytest.raises(ValueError, match="negative"):
        dv.optimal_discriminator(np.array([-1.0]), np.array([1.0]))


def test_optimal_discriminator_values():
    p = np.array([0.0, 0.3, 0.7, 0.0])
    q = np.array([0.5, 0.3, 0.2, 0.0])
    np.testing.assert_allclose(dv.optimal_discriminator(p, q), [0.0, 0.5, 0.7 / 0.9, 0.5], rtol=1e-15)
    # density values at points (not normalised) are allowed
    assert close(dv.optimal_discriminator(np.float64(2.0), np.float64(6.0)), 0.25, 1e-15)


# ---------------------------------------------------------------------------
# Property 5: W1 on the line equals the integral of |F^-1 - G^-1|
# ---------------------------------------------------------------------------
def quantile_w1(x, wx, y, wy):
    """Integral over u in (0, 1) of |F^-1(u) - G^-1(u)|, both quantile functions piecewise constant."""
    ix, iy = np.argsort(x), np.argsort(y)
    xs, ws = x[ix], wx[ix]
    ys, vs = y[iy], wy[iy]
    cx, cy = np.cumsum(ws), np.cumsum(vs)
    cx[-1] = cy[-1] = 1.0
    u = np.unique(np.concatenate([[0.0], cx, cy]))
    total = 0.0
    for a, b in zip(u[:-1], u[1:]):
        mid = 0.5 * (a + b)
        fx = xs[min(np.searchsorted(cx, mid), len(xs) - 1)]
        fy = ys[min(np.searchsorted(cy, mid), len(ys) - 1)]
        total += (b - a) * abs(fx - fy)
    return total


@given(st.integers(1, 12), st.integers(1, 12), st.integers(0, 10_000), st.booleans())
def test_w1_matches_quantile_integral(n, m, seed, weighted):
    r = np.random.default_rng(seed)
    x, y = r.normal(size=n) * 2, r.normal(size=m) + 1
    if weighted:
        wx, wy = r.random(n) + 0.01, r.random(m) + 0.01
        wx, wy = wx / wx.sum(), wy / wy.sum()
        got = dv.w1_1d(x, y, wx, wy)
    else:
        wx, wy = np.full(n, 1 / n), np.full(m, 1 / m)
        got = dv.w1_1d(x, y)
    assert close(got, quantile_w1(x, wx, y, wy), 1e-12)
    if n == m and not weighted:
        # equal sizes: the mean distance between sorted samples
        assert close(got, np.mean(np.abs(np.sort(x) - np.sort(y))), 1e-12)


@given(st.floats(-3, 3), st.floats(-3, 3))
def test_w1_of_two_unit_gaussians_approaches_mean_gap(a, b):
    r = np.random.default_rng(1)
    n = 20_000
    x, y = r.normal(a, 1, n), r.normal(b, 1, n)
    # the sampling error of each empirical W1 is O(n^-1/2) ~ 0.01
    assert close(dv.w1_1d(x, y), abs(a - b), 0.05)
    # translation by c moves W1 by exactly |c|
    assert close(dv.w1_1d(x, x + (b - a)), abs(a - b), 1e-9)


def test_w1_discrete_exact_and_errors():
    # P = 1/2 d_0 + 1/2 d_1, Q = d_{1/2}: W1 = 1/2
    assert close(dv.w1_1d(np.array([0.0, 1.0]), np.array([0.5])), 0.5, 1e-15)
    # moving mass 0.3 from 0 to 2: W1 = 0.6
    got = dv.w1_1d(np.array([0.0, 2.0]), np.array([0.0, 2.0]), np.array([0.5, 0.5]), np.array([0.2, 0.8]))
    assert close(got, 0.6, 1e-15)
    with pytest.raises(ValueError, match="1-D"):
        dv.w1_1d(np.zeros((3, 2)), np.zeros(3))
    with pytest.raises(ValueError, match="x_weights"):
        dv.w1_1d(np.zeros(3), np.zeros(3), x_weights=np.array([0.5, 0.5]))
    with pytest.raises(ValueError, match="sum to 1"):
        dv.w1_1d(np.zeros(2), np.zeros(2), x_weights=np.array([0.5, 0.6]))


# ---------------------------------------------------------------------------
# W2 between Gaussians
# ---------------------------------------------------------------------------
@given(st.floats(-3, 3), st.floats(0.1, 4), st.floats(-3, 3), st.floats(0.1, 4))
def test_w2_gaussian_1d(m1, s1, m2, s2):
    # variances in, standard deviations in the formula
    ref2 = (m1 - m2) ** 2 + (s1 - s2) ** 2
    assert close(dv.w2_gaussian(m1, s1**2, m2, s2**2, squared=True), ref2, 1e-12 * max(1.0, ref2))
    # W2 = sqrt(W2^2): round-off of ~1e-16 in W2^2 becomes ~1e-8 in W2 near 0
    assert close(dv.w2_gaussian(m1, s1**2, m2, s2**2), math.sqrt(ref2), 1e-7)


@given(st.integers(1, 4), st.integers(0, 10_000))
def test_w2_gaussian_matches_scipy_sqrtm_formula(d, seed):
    linalg = pytest.importorskip("scipy.linalg")
    r = np.random.default_rng(seed)
    A, B = r.normal(size=(d, d)), r.normal(size=(d, d))
    S1, S2 = A @ A.T + 0.1 * np.eye(d), B @ B.T + 0.1 * np.eye(d)
    m1, m2 = r.normal(size=d), r.normal(size=d)
    # ||m1 - m2||^2 + tr(S1 + S2 - 2 (S1 S2)^{1/2})
    ref = np.sum((m1 - m2) ** 2) + np.trace(S1 + S2 - 2 * np.real(linalg.sqrtm(S1 @ S2)))
    assert close(dv.w2_gaussian(m1, S1, m2, S2, squared=True), ref, 1e-8 * max(1, abs(ref)))
    # a metric: zero on identical Gaussians, symmetric
    assert abs(float(dv.w2_gaussian(m1, S1, m1, S1))) < 1e-6
    assert close(dv.w2_gaussian(m1, S1, m2, S2), dv.w2_gaussian(m2, S2, m1, S1), 1e-8)


def test_w2_gaussian_bad_covariance():
    with pytest.raises(ValueError, match="symmetric"):
        dv.w2_gaussian(np.zeros(2), np.array([[1.0, 0.5], [0.0, 1.0]]), np.zeros(2), np.eye(2))
    with pytest.raises(ValueError, match="semi-definite"):
        dv.w2_gaussian(np.zeros(2), np.array([[1.0, 0.0], [0.0, -1.0]]), np.zeros(2), np.eye(2))
    with pytest.raises(ValueError, match=r"\(2, 2\)"):
        dv.w2_gaussian(np.zeros(2), np.eye(3), np.zeros(2), np.eye(2))


# ---------------------------------------------------------------------------
# Documented contracts, one by one
# ---------------------------------------------------------------------------
@given(dist_pair(zeros=True))
def test_neyman_chi2_has_p_in_the_denominator(pq):
    # Neyman: sum (P - Q)^2 / P, +inf where P = 0 < Q (the generator (1 - t)^2 / t at t = 0)
    p, q = pq
    got = float(dv.f_divergence(p, q, "neyman_chi2"))
    if np.any((p == 0) & (q > 0)):
        assert math.isinf(got)
    else:
        m = p > 0
        ref = float(np.sum((p[m] - q[m]) ** 2 / p[m]))
        assert close(got, ref, 1e-12 * max(1, ref))
        # the argument-swapped Pearson
        assert close(got, dv.pearson_chi2(q, p), 1e-12 * max(1, ref))


@given(dist_pair(zeros=True, n_max=7))
def test_total_variation_is_the_largest_difference_of_event_probabilities(pq):
    # TV(P, Q) = sup_A |P(A) - Q(A)|, over all 2^n events A
    p, q = pq
    n = len(p)
    best = max(abs(sum(p[i] - q[i] for i in range(n) if mask >> i & 1)) for mask in range(2**n))
    assert close(dv.total_variation(p, q), best, 1e-14)


@given(dist_pair(zeros=True))
def test_jsd_is_symmetric_and_kl_is_zero_only_on_equal_distributions(pq):
    p, q = pq
    assert close(dv.jsd(p, q), dv.jsd(q, p), 1e-15)
    assert abs(float(dv.kl(p, p))) < 1e-15
    if np.max(np.abs(p - q)) > 1e-3 and np.all(q[p > 0] > 0):
        assert float(dv.kl(p, q)) > 0


def test_every_named_generator_keeps_float32():
    p = np.array([0.5, 0.5, 0.0], dtype=np.float32)
    q = np.array([0.0, 0.5, 0.5], dtype=np.float32)
    for name in dv.GENERATORS:
        assert dv.f_divergence(p, q, name).dtype == np.float32, name
    assert dv.optimal_discriminator(p, q).dtype == np.float32
    assert dv.gan_value(p, q, np.full(3, 0.5, dtype=np.float32)).dtype == np.float32
    assert dv.gan_value(p, q, logits=np.zeros(3, dtype=np.float32)).dtype == np.float32
    assert dv.density_ratio(np.full(2, 0.25, dtype=np.float32)).dtype == np.float32
    assert dv.w1_1d(p, q).dtype == np.float32


def test_f_divergence_refuses_what_is_not_a_generator():
    p = np.array([0.5, 0.5])
    with pytest.raises(ValueError, match="f must be a generator name, an FGenerator or a callable, got int"):
        dv.f_divergence(p, p, 3)
    with pytest.raises(ValueError, match=r"axis=2 is out of range for arrays of shape \(2,\)"):
        dv.f_divergence(p, p, "kl", axis=2)
    with pytest.raises(ValueError, match="at least one axis"):
        dv.kl(np.float64(1.0), np.float64(1.0))
    # a generator given as an FGenerator, with an explicit f_inf overriding its own
    g = dv.GENERATORS["total_variation"]
    assert close(dv.f_divergence(np.array([1.0, 0.0]), np.array([0.0, 1.0]), g, f_inf=2.0), 2.0 + 0.5, 1e-15)


def test_density_ratio_of_tensor_probabilities_is_differentiable_and_arrays_give_inf_at_1():
    # r = d / (1 - d), dr/dd = 1 / (1 - d)^2
    d = sg.tensor(np.array([0.2, 0.5, 0.9]), requires_grad=True)
    r = dv.density_ratio(d)
    assert isinstance(r, sg.Tensor)
    np.testing.assert_allclose(r.numpy(), [0.25, 1.0, 9.0], rtol=1e-14)
    r.sum().backward()
    np.testing.assert_allclose(d.grad.numpy(), 1 / (1 - np.array([0.2, 0.5, 0.9])) ** 2, rtol=1e-13)
    assert dv.density_ratio(np.array([1.0]))[0] == np.inf
    with pytest.raises(ValueError, match=r"d must lie in \[0, 1\]"):
        dv.density_ratio(sg.tensor(np.array([0.5, -0.1])))
    with pytest.raises(ValueError, match="exactly one"):
        dv.density_ratio(np.array([0.5]), logits=np.array([0.0]))


def test_gan_value_with_d_rounded_to_1_where_q_has_mass_is_minus_inf_but_logits_stay_finite():
    p, q = np.array([0.5, 0.5]), np.array([0.5, 0.5])
    assert float(dv.gan_value(p, q, np.array([1.0, 0.5]))) == -np.inf
    # the same D as a logit of 800: log sigma(-800) = -800, finite
    v = float(dv.gan_value(p, q, logits=np.array([800.0, 0.0])))
    expected = 0.5 * (-np.log1p(np.exp(-800.0))) + 0.5 * (-800.0) + 0.5 * np.log(0.5) + 0.5 * np.log(0.5)
    assert close(v, expected, 1e-12)
    with pytest.raises(ValueError, match=r"weights must be one of \['goodfellow', 'half'\] or a pair of floats, got 'third'"):
        dv.gan_value(p, q, np.array([0.5, 0.5]), weights="third")
    with pytest.raises(ValueError, match="gan_value: pass exactly one of d= .* and logits="):
        dv.gan_value(p, q)
    with pytest.raises(ValueError, match=r"d must lie in \[0, 1\]"):
        dv.gan_value(p, q, np.array([0.5, 1.5]))
    # Tensor logits give a Tensor
    assert isinstance(dv.gan_value(p, q, logits=sg.tensor(np.zeros(2))), sg.Tensor)


@given(st.integers(1, 8), st.integers(1, 8), st.integers(0, 10_000), st.floats(-5, 5))
def test_w1_is_symmetric_translation_equivariant_and_a_0d_array(n, m, seed, c):
    r = np.random.default_rng(seed)
    x, y = r.normal(size=n), r.normal(size=m) * 2
    w = dv.w1_1d(x, y)
    assert w.shape == ()
    assert close(w, dv.w1_1d(y, x), 1e-12)
    assert close(dv.w1_1d(x + c, y + c), w, 1e-9)


def test_w2_gaussian_means_must_match():
    with pytest.raises(ValueError, match=r"mu1 and mu2 must be vectors of the same length, got shapes \(2,\) and \(3,\)"):
        dv.w2_gaussian(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))
    assert dv.w2_gaussian(0.0, 1.0, 3.0, 4.0).shape == ()  # 0-d: (0 - 3)^2 + (1 - 2)^2 = 10
    assert close(dv.w2_gaussian(0.0, 1.0, 3.0, 4.0), math.sqrt(10), 1e-12)


def test_the_course_kits_checks_pass_on_the_library():
    # the reusable checks of scratchgen.testing (what a course grades students with) on our own functions:
    # D* = p/(p+q) (and that it maximises p log D + q log(1-D)), V(G, D*) = 2 JSD - log 4
    from scratchgen.testing import gan as checks

    checks.check_optimal_discriminator(dv.optimal_discriminator)
    checks.check_optimal_discriminator_maximises(dv.optimal_discriminator)
    checks.check_jsd(dv.jsd)
    checks.check_gan_value_at_optimum(dv.jsd)
