"""benchmarks/denoise_ceiling.py: the likelihood of the denoise corruption, p(x~ | x), against scipy's normal
distribution written out, against the empirical frequencies of data.pairs.corrupt, and the Bayes posterior on a
two-image prior."""
import importlib.util
import os

import numpy as np
import pytest

from scratchgen.data.pairs import corrupt

stats = pytest.importorskip("scipy.stats")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def ceiling():
    spec = importlib.util.spec_from_file_location("denoise_ceiling", os.path.join(ROOT, "benchmarks", "denoise_ceiling.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("sigma,rho", [(0.3, 0.1), (0.5, 0.2), (0.7, 0.0)])
def test_the_likelihood_written_out_with_scipy(ceiling, sigma, rho):
    """Inside (-1, 1): (1 - rho) N(x~; x, sigma^2); at -1: rho/2 + (1 - rho) P(x + sigma eps <= -1); at +1:
    rho/2 + (1 - rho) P(x + sigma eps >= 1)."""
    X = np.array([[-1.0, -0.25, 0.5, 1.0]])  # one clean image of 4 pixels
    xt = np.array([[-1.0, 0.1, 1.0, -0.6]])
    x, t = X[0], xt[0]
    expected = (np.log(rho / 2 + (1 - rho) * stats.norm.cdf(-1, loc=x[0], scale=sigma))
                + np.log((1 - rho) * stats.norm.pdf(t[1], loc=x[1], scale=sigma))
                + np.log(rho / 2 + (1 - rho) * stats.norm.sf(1, loc=x[2], scale=sigma))
                + np.log((1 - rho) * stats.norm.pdf(t[3], loc=x[3], scale=sigma)))
    assert abs(ceiling.log_likelihood(xt, X, sigma, rho)[0, 0] - expected) < 1e-9


def test_the_point_masses_are_the_frequencies_of_corrupt(ceiling):
    """The share of pixels that corrupt() sets to exactly -1 and +1 matches the likelihood's point masses (n = 200,000
    draws per clean value: a binomial standard error under 0.0012)."""
    sigma, rho, n = 0.4, 0.15, 200_000
    for x in (-1.0, 0.0, 0.75):
        draws = corrupt(np.full((n, 1, 1, 1), x, dtype=np.float32), 7, sigma, rho).ravel()
        lo = np.exp(ceiling.log_likelihood(np.array([[-1.0]]), np.array([[x]]), sigma, rho)[0, 0])
        hi = np.exp(ceiling.log_likelihood(np.array([[1.0]]), np.array([[x]]), sigma, rho)[0, 0])
        assert abs((draws == -1).mean() - lo) < 0.005 and abs((draws == 1).mean() - hi) < 0.005, x


def test_bayes_on_a_two_image_prior(ceiling):
    """Prior: two training images of classes 3 and 8; the posterior weight of each is its likelihood normalised,
    written out, and the posterior mean is the weighted image."""
    X = np.array([[-1.0, 1.0, 0.0], [1.0, -1.0, 0.2]])
    xt = np.array([[0.3, 0.9, -1.0]])
    sigma, rho = 0.5, 0.2

    def lik(x):
        return ((1 - rho) * stats.norm.pdf(0.3, x[0], sigma) * (1 - rho) * stats.norm.pdf(0.9, x[1], sigma)
                * (rho / 2 + (1 - rho) * stats.norm.cdf(-1, x[2], sigma)))

    w = np.array([lik(X[0]), lik(X[1])])
    w /= w.sum()
    post, mean = ceiling.bayes(xt, X, np.array([3, 8]), sigma, rho)
    assert abs(post[0, 3] - w[0]) < 1e-9 and abs(post[0, 8] - w[1]) < 1e-9 and abs(post[0].sum() - 1) < 1e-12
    assert np.abs(mean[0] - (w[0] * X[0] + w[1] * X[1])).max() < 1e-9


def test_confidence_on_a_hand_made_verdict(ceiling):
    """Four outputs: two read right with top probabilities 0.9 and 0.7, two read 9 instead of 3 (0.6 and 0.8)."""
    p = np.full((4, 10), 0.0)
    for i, (c, q) in enumerate([(1, 0.9), (2, 0.7), (9, 0.6), (9, 0.8)]):
        p[i] = (1 - q) / 9
        p[i, c] = q
    r = ceiling.confidence(np.log(p), np.array([1, 2, 3, 3]))
    assert r["accuracy"] == 0.5 and abs(r["confidence_right"] - 0.8) < 1e-12 and abs(r["confidence_wrong"] - 0.7) < 1e-12
    assert r["confusions"] == ["3->9 x2"]
