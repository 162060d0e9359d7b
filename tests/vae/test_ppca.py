"""Probabilistic PCA, where log p(x) and p(z|x) are Gaussian in closed form: the ELBO and IWAE identities.

The marginal comes from scipy's multivariate normal, the posterior from conditioning the joint Gaussian
of (z, x), the KL between Gaussians from its formula, all written here; the library's VAE code and its
PPCA closed forms are what is checked."""
import math

import numpy as np
import pytest
import scipy.special
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

import scratchgen as sg
from scratchgen.vae import (
    VAE,
    GaussianDecoder,
    GaussianEncoder,
    iwae_bound,
    kl_standard_normal,
    reparameterize,
)
from scratchgen.vae.ppca import (
    linear_gaussian_elbo,
    ppca_log_marginal,
    ppca_max_log_likelihood,
    ppca_mle,
    ppca_posterior,
    sample_ppca,
)

D, K, SIGMA2 = 5, 2, 0.3


def _orthogonal_W(seed=0, scales=(2.0, 0.8)):
    """W (D, K) with orthogonal columns of norms ``scales``: its exact posterior has a diagonal covariance."""
    Q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((D, K)))
    return Q * np.asarray(scales)


def _general_W(seed=1):
    return np.random.default_rng(seed).standard_normal((D, K))


B = np.array([0.5, -1.0, 0.0, 2.0, 0.3])


def _log_px(x, W, b, s2):  # scipy, on C = W W^T + s2 I
    return scipy.stats.multivariate_normal(b, W @ W.T + s2 * np.eye(W.shape[0])).logpdf(x)


def _posterior(x, W, b, s2):
    """Condition the joint Gaussian of (z, x): cov(z, x) = W^T, cov(x) = C; mean (N, K) and covariance (K, K)."""
    C = W @ W.T + s2 * np.eye(W.shape[0])
    gain = W.T @ np.linalg.inv(C)  # (K, D)
    return (x - b) @ gain.T, np.eye(W.shape[1]) - gain @ W


def _kl_gauss(m0, S0, m1, S1):
    """KL(N(m0, S0) || N(m1, S1)), row by row of m0, m1 (N, K)."""
    k = S0.shape[0]
    S1inv = np.linalg.inv(S1)
    d = m1 - m0
    return 0.5 * (np.trace(S1inv @ S0) + np.einsum("ni,ij,nj->n", d, S1inv, d) - k
                  + np.linalg.slogdet(S1)[1] - np.linalg.slogdet(S0)[1])


def _data(W, n=7, seed=3):
    return sample_ppca(n, W, B, SIGMA2, sg.rng(seed))


def test_marginal_and_posterior_are_the_gaussian_closed_forms():
    W = _general_W()
    x = _data(W)
    np.testing.assert_allclose(ppca_log_marginal(x, W, B, SIGMA2), _log_px(x, W, B, SIGMA2), rtol=1e-12)
    m, S = ppca_posterior(x, W, B, SIGMA2)
    m_ref, S_ref = _posterior(x, W, B, SIGMA2)
    np.testing.assert_allclose(m, m_ref, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(S, S_ref, rtol=1e-11, atol=1e-13)
    with pytest.raises(ValueError, match=r"sigma2 must be > 0"):
        ppca_posterior(x, W, B, 0.0)


def test_maximum_likelihood_is_the_eigenvalue_formula_and_is_a_maximum():
    x = _data(_general_W(), n=400, seed=5)
    lam = np.linalg.eigvalsh(np.cov(x.T, bias=True))[::-1]
    s2 = lam[K:].mean()
    best = -0.5 * (D * math.log(2 * math.pi) + np.log(lam[:K]).sum() + (D - K) * math.log(s2) + D)
    assert abs(ppca_max_log_likelihood(x, K) - best) < 1e-12
    W_ml, b_ml, s2_ml = ppca_mle(x, K)
    assert abs(_log_px(x, W_ml, b_ml, s2_ml).mean() - best) < 1e-10  # the MLE attains it
    g = np.random.default_rng(6)
    for _ in range(20):  # and any other parameters do worse
        dW, db, ds = 0.05 * g.standard_normal(W_ml.shape), 0.05 * g.standard_normal(D), 0.02 * g.standard_normal()
        assert _log_px(x, W_ml + dW, b_ml + db, s2_ml + ds).mean() < best
    with pytest.raises(ValueError, match=r"k must satisfy 0 < k < d = 5, received 5"):
        ppca_mle(x, 5)


# ---------------------------------------------------------------------------
# The VAE code on the linear-Gaussian model
# ---------------------------------------------------------------------------
def linear_vae(W, b, s2, enc_weight, enc_bias, log_var):
    """A VAE with a linear encoder (mu = A x + a, log sigma^2 constant) and the PPCA decoder, in float64."""
    enc = GaussianEncoder(D, K, hidden=()).double()
    dec = GaussianDecoder(K, D, hidden=(), var="shared").double()
    enc.net[0].weight.data[...] = np.concatenate([enc_weight, np.zeros((K, D))])
    enc.net[0].bias.data[...] = np.concatenate([enc_bias, log_var])
    dec.net[0].weight.data[...] = W
    dec.net[0].bias.data[...] = b
    dec.log_var.data[...] = math.log(s2)
    return VAE(enc, dec)


def exact_posterior_vae(W):
    """The encoder set to the exact posterior: mu = M^-1 W^T (x - b), log sigma^2 = log diag(s2 M^-1)."""
    M = W.T @ W + SIGMA2 * np.eye(K)
    A = np.linalg.solve(M, W.T)
    S = SIGMA2 * np.linalg.inv(M)
    assert np.abs(S - np.diag(np.diag(S))).max() < 1e-12  # orthogonal columns: the posterior is diagonal
    return linear_vae(W, B, SIGMA2, A, -A @ B, np.log(np.diag(S)))


def test_elbo_with_the_exact_posterior_is_log_px_to_rounding_for_every_draw():
    W = _orthogonal_W()
    x = _data(W)
    log_px = _log_px(x, W, B, SIGMA2)
    vae = exact_posterior_vae(W)
    eps = vae.noise(5, x.shape[0], sg.rng(0), np.float64)
    # log w = log p(x, z) - log q(z|x) = log p(x) for every z when q is the posterior: each draw is exact
    lw = vae.log_weights(sg.tensor(x), eps).numpy()  # (5, N)
    assert np.abs(lw - log_px).max() < 1e-10
    assert np.abs(vae.elbo(sg.tensor(x), eps, kl="mc").numpy() - log_px).max() < 1e-10
    assert np.abs(vae.iwae(sg.tensor(x), eps).numpy() - log_px).max() < 1e-10
    # the closed form of the ELBO (expectation over z exact) agrees
    m, S = _posterior(x, W, B, SIGMA2)
    assert np.abs(linear_gaussian_elbo(x, m, np.diag(S), W, B, SIGMA2) - log_px).max() < 1e-10
    # the analytic-KL estimator (K&W Eq. 7) is unbiased for it, though not exact draw by draw
    eps = vae.noise(20000, x.shape[0], sg.rng(1), np.float64)
    mu, lv = vae.encoder(sg.tensor(x))
    per_draw = (vae.decoder.log_prob(sg.tensor(x), reparameterize(mu, lv, eps))
                - kl_standard_normal(mu, lv).sum(axis=-1)).numpy()  # (20000, N)
    assert per_draw.std(axis=0).min() > 0.1
    np.testing.assert_allclose(vae.elbo(sg.tensor(x), eps).numpy(), per_draw.mean(axis=0), rtol=1e-12)
    assert np.all(np.abs(per_draw.mean(axis=0) - log_px) < 5 * per_draw.std(axis=0) / math.sqrt(20000))


@given(st.lists(st.floats(-2, 2, allow_nan=False), min_size=K, max_size=K),
       st.lists(st.floats(-3, 1, allow_nan=False), min_size=K, max_size=K), st.integers(0, 2 ** 16))
@settings(max_examples=40, deadline=None)
def test_elbo_is_below_log_px_by_exactly_the_kl_from_the_posterior(shift, log_s, seed):
    """ELBO(q) = log p(x) - KL(q(z|x) || p(z|x)) for any Gaussian q (K&W Eq. 2), to rounding."""
    W = _general_W()
    x = _data(W, n=4, seed=seed)
    m_post, S_post = _posterior(x, W, B, SIGMA2)
    m = m_post + np.asarray(shift)  # another q: shifted mean, any diagonal covariance
    s = np.exp(np.asarray(log_s))
    elbo = linear_gaussian_elbo(x, m, s, W, B, SIGMA2)
    gap = _kl_gauss(m, np.diag(s), m_post, S_post)
    np.testing.assert_allclose(elbo, _log_px(x, W, B, SIGMA2) - gap, rtol=1e-12, atol=1e-10)
    assert np.all(gap >= 0)


def test_the_vae_monte_carlo_elbo_estimates_the_closed_form_elbo_of_any_q():
    W = _general_W()
    x = _data(W, n=3)
    A = np.random.default_rng(7).standard_normal((K, D)) * 0.3  # some linear encoder, not the posterior
    vae = linear_vae(W, B, SIGMA2, A, np.array([0.1, -0.2]), np.array([-1.0, 0.5]))
    m = x @ A.T + np.array([0.1, -0.2])
    closed = linear_gaussian_elbo(x, m, np.exp([-1.0, 0.5]), W, B, SIGMA2)
    n = 200_000
    for kl in ("analytic", "mc"):
        lw = vae.log_weights(sg.tensor(x), vae.noise(n, 3, sg.rng(2), np.float64)).numpy()  # (n, 3)
        est = vae.elbo(sg.tensor(x), vae.noise(n, 3, sg.rng(2), np.float64), kl=kl).numpy()
        se = lw.std(axis=0) / math.sqrt(n)  # the larger of the two estimators' errors (the MC one)
        assert np.all(np.abs(est - closed) < 5 * se), (kl, est, closed, se)
    assert np.all(closed < _log_px(x, W, B, SIGMA2))


def test_iwae_is_at_least_the_elbo_grows_with_k_and_reaches_log_px():
    """Burda et al. (2016), Theorem 1: log p(x) >= L_{k+1} >= L_k, and L_k -> log p(x)."""
    W = _general_W()
    x = _data(W, n=2)
    m, S = _posterior(x, W, B, SIGMA2)
    s = 4 * np.diag(S)  # q: the posterior mean, a diagonal covariance 4 times too wide (w has a finite variance)
    A = np.linalg.solve(W.T @ W + SIGMA2 * np.eye(K), W.T)
    vae = linear_vae(W, B, SIGMA2, A, -A @ B, np.log(s))
    log_px = _log_px(x, W, B, SIGMA2)
    elbo = linear_gaussian_elbo(x, m, s, W, B, SIGMA2)
    g = sg.rng(3)
    xs = sg.tensor(x)
    means, ses = [], []
    ks = (1, 4, 16, 64, 256, 1024)
    for k in ks:
        reps = 2 ** 17 // k  # replicates of the k-sample bound, from 2^17 log weights
        lw = vae.log_weights(xs, vae.noise(reps * k, 2, g, np.float64)).numpy().reshape(reps, k, 2)
        est = scipy.special.logsumexp(lw, axis=1) - math.log(k)  # (reps, 2): L_k, one estimate per replicate
        means.append(est.mean(axis=0))
        ses.append(est.std(axis=0) / math.sqrt(reps))
    means, ses = np.array(means), np.array(ses)
    assert np.all(np.abs(means[0] - elbo) < 5 * ses[0])  # L_1 is the ELBO
    for i in range(len(ks) - 1):  # non-decreasing in k, beyond the noise
        assert np.all(means[i + 1] - means[i] > -5 * np.hypot(ses[i], ses[i + 1])), (ks[i], means[i], means[i + 1])
    assert np.all(means[-1] <= log_px + 5 * ses[-1])
    gap_elbo, gap_last = log_px - elbo, log_px - means[-1]
    assert np.all(gap_elbo > 1.5)  # the ELBO of this q is 1.6 nats below log p(x)
    assert np.all(np.abs(gap_last) < 5 * ses[-1]) and np.all(ses[-1] < 0.005), (gap_last, ses[-1])  # L_1024 = log p(x)


def test_iwae_bound_in_chunks_is_the_one_pass_bound_and_jensen_holds_draw_by_draw():
    W = _general_W()
    x = sg.tensor(_data(W, n=3))
    A = np.random.default_rng(8).standard_normal((K, D)) * 0.3
    vae = linear_vae(W, B, SIGMA2, A, np.zeros(K), np.zeros(K))
    eps = vae.noise(100, 3, sg.rng(4), np.float64)  # the draws iwae_bound will make, in the same order
    one_pass = vae.iwae(x, eps).numpy()
    chunked = iwae_bound(vae, x, 100, sg.rng(4), max_rows=3 * 7)  # 15 chunks of 7 draws (the last of 2)
    np.testing.assert_allclose(chunked, one_pass, rtol=1e-13)
    assert np.all(one_pass >= vae.elbo(x, eps, kl="mc").numpy())
    with pytest.raises(ValueError, match=r"k must be a positive int, received 0"):
        iwae_bound(vae, x, 0, sg.rng(0))
