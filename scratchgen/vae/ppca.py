r"""Probabilistic PCA: the linear-Gaussian latent variable model, where everything a VAE estimates is in closed form.

The model (Tipping & Bishop 1999, Sec. 2; their latent :math:`x` and data :math:`t` are our
:math:`z` and :math:`x`):

.. math:: z \sim \mathcal N(0, I_k), \qquad x = W z + b + \epsilon, \quad \epsilon \sim \mathcal N(0, \sigma^2 I_d),

with :math:`W` (d, k). It is a VAE with a linear Gaussian decoder whose marginal and posterior
are Gaussian:

* :math:`p(x) = \mathcal N(x;\ b, C)`, :math:`C = WW^\top + \sigma^2 I` (:func:`ppca_log_marginal`);
* :math:`p(z|x) = \mathcal N\big(z;\ M^{-1}W^\top(x - b),\ \sigma^2 M^{-1}\big)`, :math:`M = W^\top W + \sigma^2 I`
  (:func:`ppca_posterior`; Tipping & Bishop, Sec. 3.2);
* the maximum of the average log-likelihood over :math:`(W, b, \sigma^2)` given data with sample
  covariance eigenvalues :math:`\lambda_1 \ge \dots \ge \lambda_d`: :math:`b = \bar x`,
  :math:`\sigma^2_\mathrm{ML} = \frac1{d-k}\sum_{j>k}\lambda_j`, :math:`W_\mathrm{ML} = U_k(\Lambda_k - \sigma^2 I)^{1/2}`
  (Sec. 3.2), and at the maximum
  :math:`\frac1N\sum_n \log p(x_n) = -\frac12\big(d\log 2\pi + \sum_{j\le k}\log\lambda_j + (d-k)\log\sigma^2_\mathrm{ML} + d\big)`
  (:func:`ppca_max_log_likelihood`);
* the ELBO of any diagonal Gaussian :math:`q(z|x) = \mathcal N(m, \operatorname{diag} s)` in closed form
  (:func:`linear_gaussian_elbo`), which equals :math:`\log p(x) - \mathrm{KL}(q \Vert p(z|x))`.

The tests of docs/autoencoders-vae.md check the VAE code against these. Arrays in, arrays out
(no gradient); use float64.
"""
from __future__ import annotations

import math

from ..backend import get_xp

__all__ = ["ppca_covariance", "ppca_log_marginal", "ppca_posterior", "ppca_mle", "ppca_max_log_likelihood",
           "linear_gaussian_elbo", "sample_ppca"]

_LOG_2PI = math.log(2 * math.pi)


def _check(W, sigma2, who):
    if W.ndim != 2:
        raise ValueError(f"{who}: W must have shape (d, k), received {tuple(W.shape)}")
    if not float(sigma2) > 0:
        raise ValueError(f"{who}: sigma2 must be > 0, received {sigma2!r}")


def ppca_covariance(W, sigma2):
    r""":math:`C = WW^\top + \sigma^2 I_d`, the covariance of :math:`p(x)`: (d, d)."""
    _check(W, sigma2, "ppca_covariance")
    xp = get_xp(W)
    return W @ W.T + sigma2 * xp.eye(W.shape[0], dtype=W.dtype)


def ppca_log_marginal(x, W, b, sigma2):
    r""":math:`\log p(x) = \log \mathcal N(x;\ b, C) = -\frac12\big(d\log 2\pi + \log|C| + (x-b)^\top C^{-1}(x-b)\big)`, per row: (N,).

    By the Cholesky factor :math:`C = LL^\top`: :math:`\log|C| = 2\sum_i \log L_{ii}` and the quadratic
    form is :math:`\lVert L^{-1}(x-b)\rVert^2`.
    """
    _check(W, sigma2, "ppca_log_marginal")
    xp = get_xp(x)
    L = xp.linalg.cholesky(ppca_covariance(W, sigma2))
    r = xp.linalg.solve(L, (x - b).T)  # L^{-1} (x - b): (d, N)
    d = W.shape[0]
    return -0.5 * (d * _LOG_2PI + 2 * xp.log(xp.diagonal(L)).sum() + (r * r).sum(axis=0))


def ppca_posterior(x, W, b, sigma2):
    r"""The exact posterior :math:`p(z|x) = \mathcal N(m(x), S)`: returns ``m`` (N, k) and ``S`` (k, k).

    :math:`m(x) = M^{-1}W^\top(x - b)`, :math:`S = \sigma^2 M^{-1}`, :math:`M = W^\top W + \sigma^2 I_k`. From
    Bayes' rule: :math:`\log p(z|x) = \log p(x|z) + \log p(z) + \text{const}` is quadratic in z with
    precision :math:`W^\top W/\sigma^2 + I = M/\sigma^2` and linear term :math:`W^\top(x - b)/\sigma^2`.
    The covariance does not depend on x.
    """
    _check(W, sigma2, "ppca_posterior")
    xp = get_xp(x)
    M = W.T @ W + sigma2 * xp.eye(W.shape[1], dtype=W.dtype)
    m = xp.linalg.solve(M, W.T @ (x - b).T).T  # (N, k)
    return m, sigma2 * xp.linalg.inv(M)


def ppca_mle(x, k):
    r"""The maximum-likelihood :math:`(W, b, \sigma^2)` of PPCA with k latent dimensions (Tipping & Bishop, Sec. 3.2).

    :math:`b = \bar x`; with the eigen-decomposition of the sample covariance
    :math:`S = \frac1N\sum_n (x_n - \bar x)(x_n - \bar x)^\top = U\Lambda U^\top` (eigenvalues decreasing),
    :math:`\sigma^2 = \frac1{d-k}\sum_{j>k}\lambda_j` and :math:`W = U_k(\Lambda_k - \sigma^2 I)^{1/2}` (up to a
    rotation :math:`R` on the right, which changes nothing). Needs :math:`k < d`.
    """
    xp = get_xp(x)
    N, d = x.shape
    if not 0 < k < d:
        raise ValueError(f"ppca_mle: k must satisfy 0 < k < d = {d}, received {k!r}")
    b = x.mean(axis=0)
    lam, U = xp.linalg.eigh((x - b).T @ (x - b) / N)  # increasing
    lam, U = lam[::-1], U[:, ::-1]
    sigma2 = lam[k:].mean()
    return U[:, :k] * xp.sqrt(xp.maximum(lam[:k] - sigma2, 0)), b, sigma2


def ppca_max_log_likelihood(x, k):
    r"""The largest average log-likelihood :math:`\max_{W,b,\sigma^2} \frac1N\sum_n \log p(x_n)` of PPCA with k latent dimensions, in nats per point.

    At the maximum :math:`C^{-1}S` has trace d, so the average
    :math:`-\frac12\big(d\log 2\pi + \log|C| + \operatorname{tr}(C^{-1}S)\big)` becomes
    :math:`-\frac12\big(d\log 2\pi + \sum_{j \le k}\log\lambda_j + (d-k)\log\sigma^2_\mathrm{ML} + d\big)`,
    a function of the sample covariance's eigenvalues alone.
    """
    xp = get_xp(x)
    N, d = x.shape
    if not 0 < k < d:
        raise ValueError(f"ppca_max_log_likelihood: k must satisfy 0 < k < d = {d}, received {k!r}")
    c = x - x.mean(axis=0)
    lam = xp.linalg.eigvalsh(c.T @ c / N)[::-1]
    sigma2 = lam[k:].mean()
    return float(-0.5 * (d * _LOG_2PI + xp.log(lam[:k]).sum() + (d - k) * math.log(float(sigma2)) + d))


def linear_gaussian_elbo(x, m, s, W, b, sigma2):
    r"""The ELBO :math:`\mathbb E_q[\log p(x|z)] - \mathrm{KL}(q\Vert p(z))` of :math:`q(z|x) = \mathcal N(m, \operatorname{diag} s)`
    under the PPCA model, in closed form, per row: (N,).

    With :math:`p(x|z) = \mathcal N(Wz + b, \sigma^2 I)`,
    :math:`\mathbb E_q\lVert x - Wz - b\rVert^2 = \lVert x - Wm - b\rVert^2 + \sum_j s_j \lVert W_{:,j}\rVert^2`, so

    .. math:: \mathcal L = -\frac d2 \log(2\pi\sigma^2) - \frac{\lVert x - Wm - b\rVert^2 + \sum_j s_j\lVert W_{:,j}\rVert^2}{2\sigma^2}
              - \frac12\sum_j\big(m_j^2 + s_j - 1 - \log s_j\big).

    ``m`` (N, k) the means, ``s`` (N, k) or (k,) the variances.
    """
    _check(W, sigma2, "linear_gaussian_elbo")
    xp = get_xp(x)
    d = W.shape[0]
    r = x - m @ W.T - b  # (N, d)
    col2 = (W * W).sum(axis=0)  # ||W_{:, j}||^2: (k,)
    expected_sq = (r * r).sum(axis=1) + (s * col2).sum(axis=-1)
    recon = -0.5 * d * math.log(2 * math.pi * float(sigma2)) - expected_sq / (2 * sigma2)
    kl = 0.5 * (m * m + s - 1 - xp.log(s)).sum(axis=-1)
    return recon - kl


def sample_ppca(n, W, b, sigma2, generator):
    r""":math:`x = Wz + b + \sigma\epsilon` for n draws of :math:`z, \epsilon`: (n, d), in ``W``'s dtype."""
    _check(W, sigma2, "sample_ppca")
    d, k = W.shape
    z = generator.standard_normal((n, k)).astype(W.dtype)
    e = generator.standard_normal((n, d)).astype(W.dtype)
    return z @ W.T + b + math.sqrt(float(sigma2)) * e
