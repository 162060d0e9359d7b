"""The densities, the Gaussian KL three ways, the reparameterisation and the two gradient estimators.

Closed forms are written out here, or computed by scipy; the library's functions are what is checked."""
import math

import numpy as np
import pytest
import scipy.integrate
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

import scratchgen as sg
from scratchgen.vae.distributions import (
    kl_standard_normal,
    kl_standard_normal_mc,
    log_bernoulli,
    log_normal,
    log_standard_normal,
    reparameterize,
    score_function_surrogate,
)

finite = dict(allow_nan=False, allow_infinity=False)


def _t(a, requires_grad=False):
    return sg.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


@given(st.floats(-3, 3, **finite), st.floats(0.1, 3, **finite))
@settings(max_examples=20, deadline=None)
def test_analytic_kl_equals_numerical_integration_and_its_closed_form(mu, sigma):
    kl = kl_standard_normal(_t([mu]), _t([math.log(sigma ** 2)])).numpy()[0]
    # KL(q || p) = integral of q log(q / p), q = N(mu, sigma^2), p = N(0, 1), by adaptive quadrature
    q, p = scipy.stats.norm(mu, sigma), scipy.stats.norm(0, 1)
    integral, err = scipy.integrate.quad(lambda z: q.pdf(z) * (q.logpdf(z) - p.logpdf(z)), mu - 12 * sigma, mu + 12 * sigma,
                                         epsabs=1e-12, epsrel=1e-12, limit=200)
    closed = 0.5 * (mu ** 2 + sigma ** 2 - 1 - math.log(sigma ** 2))
    assert abs(kl - closed) < 1e-12
    assert abs(kl - integral) < 1e-8 + 10 * err


@pytest.mark.parametrize("mu, sigma", [(0.0, 1.0), (1.5, 0.3), (-2.0, 2.5), (0.4, 0.05)])
def test_monte_carlo_kl_is_unbiased_for_the_analytic_kl(mu, sigma):
    g = np.random.default_rng(0)
    n = 400_000
    z = mu + sigma * g.standard_normal(n)
    est = kl_standard_normal_mc(_t(z), _t(mu), _t(math.log(sigma ** 2))).numpy()  # log q(z) - log p(z), (n,)
    analytic = kl_standard_normal(_t(mu), _t(math.log(sigma ** 2))).item()
    if mu == 0.0 and sigma == 1.0:  # q = p: every draw gives 0, up to rounding
        assert analytic == 0.0 and np.abs(est).max() < 1e-12
    else:
        assert abs(est.mean() - analytic) < 5 * est.std() / math.sqrt(n)


def test_log_densities_against_scipy_and_finite_at_extreme_logits():
    g = np.random.default_rng(1)
    x, mu, lv = g.standard_normal((3, 50))
    np.testing.assert_allclose(log_normal(_t(x), _t(mu), _t(lv)).numpy(),
                               scipy.stats.norm.logpdf(x, mu, np.exp(0.5 * lv)), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(log_standard_normal(_t(x)).numpy(), scipy.stats.norm.logpdf(x), rtol=1e-13)
    b = (g.random(50) < 0.5).astype(np.float64)
    logits = 3 * g.standard_normal(50)
    np.testing.assert_allclose(log_bernoulli(_t(b), _t(logits)).numpy(),
                               scipy.stats.bernoulli.logpmf(b, 1 / (1 + np.exp(-logits))), rtol=1e-10, atol=1e-12)
    # at logits of magnitude 1e4 the probability rounds to 0 or 1: x l - softplus(l) stays exact
    big = log_bernoulli(_t([1.0, 0.0, 1.0, 0.0]), _t([1e4, -1e4, -1e4, 1e4])).numpy()
    np.testing.assert_array_equal(big, [0.0, 0.0, -1e4, -1e4])
    big32 = log_bernoulli(sg.tensor(np.array([1.0, 0.0], np.float32)), sg.tensor(np.array([-1e4, 1e4], np.float32)))
    assert big32.dtype == np.float32 and np.all(np.isfinite(big32.numpy()))


def test_reparameterize_is_mu_plus_sigma_eps_with_its_pathwise_derivatives():
    g = np.random.default_rng(2)
    mu, lv = _t(g.standard_normal(4), True), _t(g.standard_normal(4), True)
    eps = g.standard_normal((3, 4))
    z = reparameterize(mu, lv, eps)
    sigma = np.exp(0.5 * lv.numpy())
    np.testing.assert_allclose(z.numpy(), mu.numpy() + sigma * eps, rtol=1e-14)
    z.sum().backward()  # dz/dmu = 1, dz/dlog_var = sigma eps / 2, summed over the 3 draws
    np.testing.assert_allclose(mu.grad.numpy(), np.full(4, 3.0))
    np.testing.assert_allclose(lv.grad.numpy(), (0.5 * sigma * eps).sum(axis=0), rtol=1e-13)
    with pytest.raises(ValueError, match=r"reparameterize: eps must have shape"):
        reparameterize(mu, lv, np.zeros((3, 5)))


def test_score_function_surrogate_has_the_reinforce_gradient_and_checks_shapes():
    g = np.random.default_rng(3)
    mu, lv = _t(0.3, True), _t(-0.2, True)
    z = mu.numpy() + np.exp(0.5 * lv.numpy()) * g.standard_normal(7)  # drawn off the tape
    f = z ** 2
    score_function_surrogate(f, log_normal(_t(z), mu, lv)).backward()
    s2 = np.exp(lv.numpy())
    # d log q / d mu = (z - mu) / s2;  d log q / d log s2 = ((z - mu)^2 / s2 - 1) / 2
    assert abs(mu.grad.item() - np.mean(f * (z - mu.numpy()) / s2)) < 1e-12
    assert abs(lv.grad.item() - np.mean(f * 0.5 * ((z - mu.numpy()) ** 2 / s2 - 1))) < 1e-12
    with pytest.raises(ValueError, match=r"one value per draw"):
        score_function_surrogate(np.zeros(3), _t(np.zeros(4)))


# ---------------------------------------------------------------------------
# Reparameterised vs score-function gradient of E_q[f(z)], f(z) = -||x - W z||^2 / 2
# ---------------------------------------------------------------------------
W = np.array([[1.0, -0.5], [0.3, 2.0], [-1.2, 0.4]])  # (D=3, L=2)
X = np.array([0.5, -1.0, 2.0])
MU, LOG_VAR = np.array([0.2, -0.4]), np.array([-0.5, 0.3])


def _f(z):
    """f(z) = -||x - W z||^2 / 2 per row of z (n, L): a Tensor (n,)."""
    r = _t(X) - z @ _t(W).T
    return -0.5 * (r * r).sum(axis=1)


def gradient_draws(estimator, n, seed=4):
    """n one-sample estimates (n, 2L) of the gradient of E_q[f] with respect to (mu, log sigma^2).

    Each draw gets its own copy of the parameters (rows of (n, L) leaves), so one backward pass
    gives every draw's gradient separately."""
    eps = np.random.default_rng(seed).standard_normal((n, 2))
    mu, lv = _t(np.tile(MU, (n, 1)), True), _t(np.tile(LOG_VAR, (n, 1)), True)
    if estimator == "reparameterised":  # grad of f(mu + sigma eps): the path through z
        _f(reparameterize(mu, lv, eps)).sum().backward()
    else:  # f(z) grad log q(z), z drawn without a path to the parameters
        z = MU + np.exp(0.5 * LOG_VAR) * eps
        (n * score_function_surrogate(_f(_t(z)), log_normal(_t(z), mu, lv).sum(axis=1))).backward()
    return np.concatenate([mu.grad.numpy(), lv.grad.numpy()], axis=1)


def test_reparameterised_and_score_function_gradients_agree_in_expectation_and_reparam_has_lower_variance():
    s2 = np.exp(LOG_VAR)
    # E_q f = -(||x - W mu||^2 + sum_j s2_j ||W_j||^2) / 2, differentiated by hand
    true = np.concatenate([W.T @ (X - W @ MU), -0.5 * s2 * (W ** 2).sum(axis=0)])
    n = 20_000
    rep, sf = gradient_draws("reparameterised", n), gradient_draws("score", n)
    for est in (rep, sf):
        se = est.std(axis=0) / math.sqrt(n)
        assert np.all(np.abs(est.mean(axis=0) - true) < 5 * se), (est.mean(axis=0), true, se)
    # measured (docs/autoencoders-vae.md): the score-function estimator's variance is 6-39 times larger here
    ratio = sf.var(axis=0) / rep.var(axis=0)
    assert np.all(ratio > 3), ratio
