"""Feature-based image metrics: FID formula, KID, Inception-style score, precision/recall."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from scratchgen.metrics import frechet_distance, gaussian_stats, inception_score, kid, precision_recall


def gaussian_set(rng, n, mean, cov):
    return rng.multivariate_normal(mean, cov, size=n)


@given(seed=st.integers(0, 2**32 - 1))
def test_fid_of_a_set_with_itself_is_zero_and_fid_is_symmetric(seed):
    rng = np.random.default_rng(seed)
    # a well-conditioned covariance (singular values of the mixing matrix in [0.5, 2]): the rounding
    # error of tr((S^1/2 S S^1/2)^1/2) grows like eps ||S||^2 / lambda_min(S), i.e. with S's condition
    # number, and a random Gaussian mixing matrix is sometimes nearly singular
    q, _ = np.linalg.qr(rng.standard_normal((5, 5)))
    a = rng.standard_normal((200, 5)) @ (q * rng.uniform(0.5, 2.0, 5))
    b = rng.standard_normal((150, 5)) + 0.3
    assert abs(frechet_distance(a, a)) < 1e-9
    assert abs(frechet_distance(a, b) - frechet_distance(b, a)) < 1e-9 * max(1.0, frechet_distance(a, b))


@given(seed=st.integers(0, 2**32 - 1))
def test_fid_equals_the_closed_form_for_diagonal_gaussians(seed):
    # for commuting (diagonal) covariances tr(S_a + S_b - 2 (S_a S_b)^{1/2}) = sum (sqrt a_i - sqrt b_i)^2
    rng = np.random.default_rng(seed)
    mu_a, mu_b = rng.standard_normal(3), rng.standard_normal(3)
    va, vb = rng.uniform(0.2, 3, 3), rng.uniform(0.2, 3, 3)
    # sets whose sample mean and covariance are exactly the targets: whiten a sample, then scale
    def exact(mu, var, n=50):
        z = rng.standard_normal((n, 3))
        z -= z.mean(0)
        L = np.linalg.cholesky(np.cov(z, rowvar=False))
        z = z @ np.linalg.inv(L).T
        return mu + z * np.sqrt(var)

    a, b = exact(mu_a, va), exact(mu_b, vb)
    expected = np.sum((mu_a - mu_b) ** 2) + np.sum((np.sqrt(va) - np.sqrt(vb)) ** 2)
    assert abs(frechet_distance(a, b) - expected) < 1e-9 * max(1, expected)
    mu, cov = gaussian_stats(a)
    np.testing.assert_allclose(cov, np.diag(va), atol=1e-10)


def test_kid_is_unbiased_on_identical_distributions_and_positive_between_different():
    rng = np.random.default_rng(0)
    vals = [kid(rng.standard_normal((300, 4)), rng.standard_normal((300, 4)), subset_size=100, n_subsets=20,
                seed=s)[0] for s in range(10)]
    mean, se = np.mean(vals), np.std(vals) / math.sqrt(len(vals))
    assert abs(mean) < 4 * se + 1e-4  # averages 0 within Monte-Carlo error
    assert min(vals) < 0 < max(vals)  # estimates scatter on both sides of 0 (seeded, deterministic)
    far = kid(rng.standard_normal((300, 4)), rng.standard_normal((300, 4)) + 1.0, subset_size=100, n_subsets=20)[0]
    assert far > 10 * max(abs(v) for v in vals)


def test_inception_score_range_and_log_space():
    K = 10
    confident_balanced = np.eye(K)[np.arange(200) % K]
    assert abs(inception_score(confident_balanced) - K) < 1e-9
    all_same = np.tile(np.full(K, 1 / K), (50, 1))
    assert abs(inception_score(all_same) - 1) < 1e-12
    one_class = np.eye(K)[np.zeros(50, dtype=int)]
    assert abs(inception_score(one_class) - 1) < 1e-12
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((40, K)) * 3
    logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    p = np.exp(logp)
    py = p.mean(0)
    by_hand = math.exp(np.mean(np.sum(p * (np.log(p) - np.log(py)), axis=1)))
    assert abs(inception_score(p) - by_hand) < 1e-10
    assert abs(inception_score(log_probs=logp) - by_hand) < 1e-10
    with pytest.raises(ValueError, match="sum to 1"):
        inception_score(np.full((3, 2), 0.7))


def test_precision_recall_detects_missing_modes_and_bad_samples():
    rng = np.random.default_rng(0)
    real = np.concatenate([rng.standard_normal((300, 2)) * 0.1 + c for c in ([0, 0], [5, 0])])
    half = rng.standard_normal((300, 2)) * 0.1  # one mode only: realistic samples, half the data missed
    p, r = precision_recall(real, half)
    assert p > 0.95 and abs(r - 0.5) < 0.05
    junk = rng.standard_normal((300, 2)) * 0.1 + [2.5, 3]  # between modes: not realistic
    p2, _ = precision_recall(real, junk)
    assert p2 < 0.05
    p3, r3 = precision_recall(real, real.copy())
    assert p3 == 1.0 and r3 == 1.0
    with pytest.raises(ValueError, match="feature dimensions differ"):
        precision_recall(real, np.zeros((10, 3)))


# ---------------------------------------------------------------------------
# Documented contracts, one by one
# ---------------------------------------------------------------------------
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 30), d=st.integers(1, 4))
def test_gaussian_stats_are_the_mean_and_the_unbiased_covariance(seed, n, d):
    f = np.random.default_rng(seed).standard_normal((n, d))
    mu, cov = gaussian_stats(f)
    np.testing.assert_allclose(mu, f.mean(axis=0), rtol=1e-13, atol=1e-14)
    ref = sum(np.outer(r - f.mean(0), r - f.mean(0)) for r in f) / (n - 1)
    np.testing.assert_allclose(cov, ref, rtol=1e-12, atol=1e-13)


@given(seed=st.integers(0, 2**32 - 1))
def test_fid_is_w2_squared_by_scipy_sqrtm(seed):
    # d^2 = ||mu_a - mu_b||^2 + tr(S_a + S_b - 2 (S_a S_b)^{1/2}), with the (non-symmetric) product's root by scipy
    linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((60, 3)) @ rng.uniform(0.5, 2, (3, 3))
    b = rng.standard_normal((40, 3)) * rng.uniform(0.5, 2, 3) + rng.standard_normal(3)
    sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    ref = np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(sa + sb - 2 * np.real(linalg.sqrtm(sa @ sb)))
    assert abs(frechet_distance(a, b) - ref) < 1e-8 * max(1.0, ref)


def _mmd2_cubic(x, y):
    """Unbiased MMD^2 with k(u, v) = (u.v / d + 1)^3, by double loops."""
    d = x.shape[1]
    k = lambda u, v: (u @ v / d + 1) ** 3
    m, n = len(x), len(y)
    sxx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    syy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    sxy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return sxx + syy - 2 * sxy


def test_kid_of_one_subset_holding_every_feature_is_the_unbiased_cubic_mmd2():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((12, 3)), rng.standard_normal((12, 3)) + 0.5
    # subset_size above N: each subset is all 12 rows (in another order, which MMD^2 ignores)
    mean, std = kid(a, b, subset_size=1000, n_subsets=3, seed=1)
    assert abs(mean - _mmd2_cubic(a, b)) < 1e-12 and std < 1e-12
    # a smaller subset: mean and std over the subsets, reproducible with the seed
    m1, s1 = kid(a, b, subset_size=5, n_subsets=20, seed=7)
    assert (m1, s1) == kid(a, b, subset_size=5, n_subsets=20, seed=7)
    assert s1 > 0
    with pytest.raises(ValueError, match="kid: feature dimensions differ: 3 and 2"):
        kid(a, b[:, :2])


@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 20), K=st.integers(2, 6))
def test_inception_score_lies_between_1_and_K(seed, n, K):
    logits = np.random.default_rng(seed).standard_normal((n, K)) * 4
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    s = inception_score(p)
    assert 1 - 1e-9 <= s <= K + 1e-9


def test_inception_score_takes_exactly_one_input_and_zero_probabilities_in_log_space():
    with pytest.raises(ValueError, match="pass exactly one of probs and log_probs"):
        inception_score()
    with pytest.raises(ValueError, match="pass exactly one of probs and log_probs"):
        inception_score(np.eye(2), np.log(np.eye(2) + 1e-3))
    # log p(y|x) = -inf where p = 0: its terms vanish, as with probs
    logp = np.array([[0.0, -np.inf], [-np.inf, 0.0]])
    assert abs(inception_score(log_probs=logp) - 2.0) < 1e-12


def _pr_oracle(real, fake, k):
    """Kynkaanniemi et al. Eqs. 1-3 by loops: radius = distance to the k-th nearest other point of the same set."""
    def radii(f):
        return [sorted(np.linalg.norm(f[i] - f[j]) for j in range(len(f)) if j != i)[k - 1] for i in range(len(f))]

    rr, rf = radii(real), radii(fake)
    prec = np.mean([any(np.linalg.norm(y - real[j]) <= rr[j] for j in range(len(real))) for y in fake])
    rec = np.mean([any(np.linalg.norm(x - fake[j]) <= rf[j] for j in range(len(fake))) for x in real])
    return prec, rec


@given(seed=st.integers(0, 2**32 - 1), k=st.integers(1, 3))
def test_precision_recall_against_knn_balls_by_loops(seed, k):
    rng = np.random.default_rng(seed)
    real, fake = rng.standard_normal((9, 2)), rng.standard_normal((7, 2)) * 1.5 + 0.5
    p, r = precision_recall(real, fake, k=k)
    pe, re = _pr_oracle(real, fake, k)
    assert abs(p - pe) < 1e-12 and abs(r - re) < 1e-12


def test_precision_recall_needs_k_plus_1_points():
    with pytest.raises(ValueError, match=r"precision_recall: fake_features must be features of shape \(N, d\) with N >= 4"):
        precision_recall(np.zeros((10, 2)), np.zeros((3, 2)), k=3)
    with pytest.raises(ValueError, match=r"frechet_distance: features_a must be features of shape \(N, d\) with N >= 2"):
        frechet_distance(np.zeros((1, 2)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="frechet_distance: feature dimensions differ: 2 and 3"):
        frechet_distance(np.zeros((4, 2)), np.zeros((3, 3)))
