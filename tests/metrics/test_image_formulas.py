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
