"""MMD^2: estimators against brute-force double loops, unbiasedness (property 7) against the closed
form for two Gaussians with an RBF kernel, the median heuristic, gradients, and a tiny GMMN."""
import functools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import scratchgen as sg
from scratchgen import mmd


def k_rbf(a, b, sigma):
    return math.exp(-np.sum((a - b) ** 2) / (2 * sigma**2))


def k_imq(a, b, c=1.0, beta=-0.5):
    return (c**2 + np.sum((a - b) ** 2)) ** beta


def k_poly(a, b):
    return (np.dot(a, b) / len(a) + 1.0) ** 3


def mmd2_loops(x, y, k, unbiased):
    m, n = len(x), len(y)
    sxx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if not (unbiased and i == j))
    syy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if not (unbiased and i == j))
    sxy = sum(k(x[i], y[j]) for i in range(m) for j in range(n))
    if unbiased:
        return sxx / (m * (m - 1)) + syy / (n * (n - 1)) - 2 * sxy / (m * n)
    return sxx / m**2 + syy / n**2 - 2 * sxy / (m * n)


@given(st.integers(2, 6), st.integers(2, 6), st.integers(1, 3), st.integers(0, 10_000), st.booleans())
def test_estimators_match_double_loops(m, n, d, seed, unbiased):
    r = np.random.default_rng(seed)
    x, y = r.normal(size=(m, d)), r.normal(size=(n, d)) + 0.5
    got = float(mmd.mmd2(x, y, kernel="rbf", sigma=1.3, unbiased=unbiased))
    assert abs(got - mmd2_loops(x, y, functools.partial(k_rbf, sigma=1.3), unbiased)) < 1e-12
    got = float(mmd.mmd2(x, y, kernel="imq", unbiased=unbiased))
    assert abs(got - mmd2_loops(x, y, k_imq, unbiased)) < 1e-12
    got = float(mmd.mmd2(x, y, kernel="polynomial", unbiased=unbiased))
    assert abs(got - mmd2_loops(x, y, k_poly, unbiased)) < 1e-10
    # a sum of bandwidths is the sum of the kernels
    multi = mmd.mmd2(x, y, kernel="rbf", sigma=[0.5, 2.0], unbiased=unbiased)
    single = mmd.mmd2(x, y, kernel="rbf", sigma=0.5, unbiased=unbiased) + mmd.mmd2(
        x, y, kernel="rbf", sigma=2.0, unbiased=unbiased)
    assert abs(float(multi) - float(single)) < 1e-12
    # a callable kernel
    kfn = functools.partial(mmd.rbf_kernel, sigma=1.3)
    assert abs(float(mmd.mmd2(x, y, kernel=kfn, unbiased=unbiased))
               - mmd2_loops(x, y, functools.partial(k_rbf, sigma=1.3), unbiased)) < 1e-12
    # the biased estimate is a squared RKHS norm: >= 0
    if not unbiased:
        assert got > -1e-12


def rbf_mmd2_gaussians(mu1, s1, mu2, s2, sigma, d):
    """Population MMD^2 between N(mu1, s1^2 I) and N(mu2, s2^2 I) in d dimensions, RBF bandwidth sigma.

    For u ~ N(m, v I): E exp(-||u||^2 / (2 sigma^2)) = (1 + v/sigma^2)^(-d/2) exp(-||m||^2 / (2 (sigma^2 + v))).
    """
    def e(m2, v):
        return (1 + v / sigma**2) ** (-d / 2) * math.exp(-m2 / (2 * (sigma**2 + v)))

    gap2 = float(np.sum((np.asarray(mu1) - np.asarray(mu2)) ** 2))
    return e(0.0, 2 * s1**2) + e(0.0, 2 * s2**2) - 2 * e(gap2, s1**2 + s2**2)


@pytest.mark.parametrize("mu2,s2", [(0.0, 1.0), (0.5, 1.0), (1.0, 1.5), (0.0, 0.6)])
def test_unbiased_estimate_averages_to_the_closed_form(mu2, s2):
    d, m, n, R, sigma = 2, 30, 40, 300, 1.0
    r = np.random.default_rng(11)
    est = np.array([
        float(mmd.mmd2(r.normal(0.0, 1.0, (m, d)), r.normal(mu2, s2, (n, d)), kernel="rbf", sigma=sigma))
        for _ in range(R)
    ])
    truth = rbf_mmd2_gaussians(np.zeros(d), 1.0, np.full(d, mu2), s2, sigma, d)
    se = est.std(ddof=1) / math.sqrt(R)
    assert abs(est.mean() - truth) < 4 * se
    if mu2 == 0.0 and s2 == 1.0:
        # identical distributions: truth is 0, and single estimates can be negative
        assert truth == 0.0
        assert (est < 0).sum() > R // 10
    else:
        assert truth > 4 * se  # the test can tell these apart from 0


def test_biased_estimate_is_biased_upwards_on_identical_distributions():
    r = np.random.default_rng(12)
    est = np.array([float(mmd.mmd2(r.normal(size=(20, 2)), r.normal(size=(20, 2)), sigma=1.0, unbiased=False))
                    for _ in range(50)])
    assert (est >= 0).all() and est.mean() > 0.01


def test_median_heuristic_against_pairwise_distances():
    r = np.random.default_rng(13)
    x, y = r.normal(size=(7, 3)), r.normal(size=(6, 3)) * 2
    z = np.concatenate([x, y])
    dists = [np.linalg.norm(z[i] - z[j]) for i in range(len(z)) for j in range(i + 1, len(z))]
    assert abs(mmd.median_heuristic(x, y) - np.median(dists)) < 1e-12
    # the default bandwidth of mmd2 with the rbf kernel is the median heuristic
    med = np.median(dists)
    assert abs(float(mmd.mmd2(x, y)) - mmd2_loops(x, y, functools.partial(k_rbf, sigma=med), True)) < 1e-12
    with pytest.raises(ValueError, match="median"):
        mmd.median_heuristic(np.zeros((4, 2)))


def test_gradients_order_2():
    r = np.random.default_rng(14)
    x, y = r.normal(size=(4, 2)), r.normal(size=(3, 2)) + 1
    sg.check_grads(lambda a, b: mmd.mmd2(a, b, kernel="rbf", sigma=[0.7, 1.5]), x, y, order=2)
    sg.check_grads(lambda a, b: mmd.mmd2(a, b, kernel="imq", unbiased=False), x, y, order=2)
    sg.check_grads(lambda a, b: mmd.mmd2(a, b, kernel="polynomial"), x, y, order=2)


def test_gmmn_generator_trains_on_mmd():
    # a linear generator G(z) = z A + b fitted to data N(mu, diag(s^2)) by gradient descent on MMD^2
    r = np.random.default_rng(15)
    mu, s = np.array([2.0, -1.0]), np.array([0.5, 1.5])
    A = sg.tensor(np.eye(2) * 0.3, requires_grad=True)
    b = sg.tensor(np.zeros(2), requires_grad=True)
    kern = functools.partial(mmd.rbf_kernel, sigma=[0.5, 1.0, 2.0, 4.0])
    data_eval = r.normal(size=(400, 2)) * s + mu

    def gen(n):
        return sg.tensor(r.normal(size=(n, 2))) @ A + b

    with sg.no_grad():
        start = float(mmd.mmd2(data_eval, gen(400), kernel=kern))
    for _ in range(300):
        x = r.normal(size=(64, 2)) * s + mu
        loss, (gA, gb) = sg.value_and_grad(lambda A_, b_: mmd.mmd2(
            x, sg.tensor(r.normal(size=(64, 2))) @ A_ + b_, kernel=kern), argnums=(0, 1))(A, b)
        A.data -= 1.0 * gA.data
        b.data -= 1.0 * gb.data
    with sg.no_grad():
        end = float(mmd.mmd2(data_eval, gen(400), kernel=kern))
    assert end < 0.1 * start
    np.testing.assert_allclose(b.numpy(), mu, atol=0.3)


def test_float32_kept_and_errors():
    r = np.random.default_rng(16)
    x = r.normal(size=(5, 2)).astype(np.float32)
    y = r.normal(size=(6, 2)).astype(np.float32)
    for kernel in ("rbf", "imq", "polynomial"):
        assert mmd.mmd2(x, y, kernel=kernel).dtype == np.float32
    with pytest.raises(ValueError, match="same dimension"):
        mmd.mmd2(x, r.normal(size=(6, 3)))
    with pytest.raises(ValueError, match="2-D"):
        mmd.mmd2(x[:, 0], y[:, 0])
    with pytest.raises(ValueError, match="at least 2"):
        mmd.mmd2(x[:1], y)
    with pytest.raises(ValueError, match="unknown kernel"):
        mmd.mmd2(x, y, kernel="laplace")
    with pytest.raises(ValueError, match="sigma"):
        mmd.rbf_kernel(x, y, sigma=-1.0)
    with pytest.raises(ValueError, match="Gram"):
        mmd.mmd2(x, y, kernel=lambda a, b: (a * 0).sum())


# ---------------------------------------------------------------------------
# Documented contracts, one by one
# ---------------------------------------------------------------------------
@given(st.integers(1, 6), st.integers(1, 6), st.integers(1, 4), st.integers(0, 10_000))
def test_sq_distances_are_the_pairwise_squared_norms_and_never_negative(m, n, d, seed):
    r = np.random.default_rng(seed)
    x, y = r.normal(size=(m, d)) * 100, r.normal(size=(n, d)) * 100
    D = mmd.sq_distances(x, y).numpy()
    assert D.shape == (m, n)
    ref = np.array([[np.sum((x[i] - y[j]) ** 2) for j in range(n)] for i in range(m)])
    assert np.all(np.abs(D - ref) <= 1e-12 * (np.sum(x**2, 1)[:, None] + np.sum(y**2, 1)[None, :]))
    # on a point and itself the expansion ||x||^2 + ||x||^2 - 2 x.x may round below 0: clipped to >= 0
    assert np.all(mmd.sq_distances(x, x).numpy() >= 0)


def test_median_heuristic_of_one_sample_and_its_point_count_check():
    x = np.array([[0.0], [1.0], [3.0], [7.0]])  # pairwise distances 1, 3, 7, 2, 6, 4: median 3.5
    assert mmd.median_heuristic(x) == 3.5
    assert isinstance(mmd.median_heuristic(sg.tensor(x, requires_grad=True)), float)
    with pytest.raises(ValueError, match="median_heuristic: needs at least 2 points, got 1"):
        mmd.median_heuristic(x[:1])


def test_the_median_bandwidth_is_held_constant_in_the_gradient():
    # grad of mmd2 with sigma="median" equals the grad with sigma fixed at the median's value
    r = np.random.default_rng(17)
    x, y = r.normal(size=(5, 2)), r.normal(size=(4, 2)) + 1
    sigma = mmd.median_heuristic(x, y)
    g_med = sg.grad(lambda a: mmd.mmd2(a, y))(sg.tensor(x)).numpy()
    g_fix = sg.grad(lambda a: mmd.mmd2(a, y, sigma=sigma))(sg.tensor(x)).numpy()
    np.testing.assert_array_equal(g_med, g_fix)


@given(st.floats(0.1, 3), st.floats(-2, -0.1), st.integers(0, 10_000))
def test_imq_kernel_formula_and_the_wae_form(c, beta, seed):
    r = np.random.default_rng(seed)
    x, y = r.normal(size=(3, 2)), r.normal(size=(4, 2))
    d2 = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    np.testing.assert_allclose(mmd.imq_kernel(x, y, c=c, beta=beta).numpy(), (c**2 + d2) ** beta, rtol=1e-12)
    # Tolstikhin et al.: C / (C + ||x - y||^2) = c^2 imq(x, y, c, beta=-1) with C = c^2
    np.testing.assert_allclose(c**2 * mmd.imq_kernel(x, y, c=c, beta=-1.0).numpy(), c**2 / (c**2 + d2), rtol=1e-12)


def test_imq_and_polynomial_kernels_name_bad_parameters():
    x = np.zeros((2, 3))
    with pytest.raises(ValueError, match="imq_kernel: c must be a finite number > 0, got 0"):
        mmd.imq_kernel(x, x, c=0)
    with pytest.raises(ValueError, match="imq_kernel: beta must be a finite number < 0, got 0.5"):
        mmd.imq_kernel(x, x, beta=0.5)
    with pytest.raises(ValueError, match="polynomial_kernel: degree must be an integer >= 1, got 2.5"):
        mmd.polynomial_kernel(x, x, degree=2.5)


def test_polynomial_kernel_formula_with_its_defaults_and_given_parameters():
    r = np.random.default_rng(18)
    x, y = r.normal(size=(3, 4)), r.normal(size=(2, 4))
    np.testing.assert_allclose(mmd.polynomial_kernel(x, y).numpy(), (x @ y.T / 4 + 1) ** 3, rtol=1e-13)
    np.testing.assert_allclose(mmd.polynomial_kernel(x, y, degree=2, gamma=0.5, coef0=-1.0).numpy(),
                               (0.5 * x @ y.T - 1) ** 2, rtol=1e-13)


def test_mmd2_refuses_kernel_parameters_with_a_callable_and_non_kernels():
    x, y = np.zeros((3, 2)), np.ones((3, 2))
    with pytest.raises(ValueError, match="keyword parameters go with a kernel name"):
        mmd.mmd2(x, y, kernel=mmd.rbf_kernel, sigma=1.0)
    with pytest.raises(ValueError, match="mmd2: kernel must be a name or a callable, got int"):
        mmd.mmd2(x, y, kernel=3)
    # the biased estimate needs one sample each, not two
    assert abs(float(mmd.mmd2(x[:1], y[:1], unbiased=False, sigma=1.0)) - 2 * (1 - math.exp(-1.0))) < 1e-14


def test_sq_distances_of_float32_points_far_from_the_origin_keep_a_zero_diagonal_and_their_digits():
    # points near 1e4 in float32: the uncentred form ||x||^2 + ||y||^2 - 2 x.y left 128 on the diagonal
    x = (np.float32(1e4) + np.random.default_rng(0).standard_normal((64, 8))).astype(np.float32)
    X = sg.tensor(x)
    D = mmd.sq_distances(X, X).numpy()
    assert D.dtype == np.float32
    assert np.all(np.diag(D) == 0)
    x64 = x.astype(np.float64)
    ref = np.array([[sum((a - b) ** 2 for a, b in zip(xi, xj)) for xj in x64] for xi in x64])  # by loops
    assert abs(D - ref).max() < 1e-4 * ref.max(), abs(D - ref).max()
    D_xy = mmd.sq_distances(X, sg.tensor(x[:5].copy())).numpy()  # another object: the centred norms form
    assert abs(D_xy - ref[:, :5]).max() < 1e-4 * ref.max()


def test_the_course_kits_mmd_checks_pass_on_the_library():
    # scratchgen.testing's checks of the unbiased and biased MMD^2 (the U- and V-statistics written out in
    # NumPy there) and of unbiasedness, on the library's mmd2
    from scratchgen.testing import gan as checks

    checks.check_unbiased_mmd(mmd.mmd2)
    checks.check_biased_mmd(mmd.mmd2)
    checks.check_mmd_unbiasedness(mmd.mmd2)
