r"""Posterior collapse: how to see it (KL per dimension, active units, mutual information) and three remedies.

Posterior collapse is :math:`q_\phi(z|x) \approx p(z)` for every x: the KL term of the ELBO is
near 0, the code carries no information about x, and the decoder models the data on its own.
A decoder strong enough to do that (an autoregressive one), or a KL term weighted up
(:math:`\beta > 1`), makes it the optimum of the objective.

References
----------
* Burda, Grosse & Salakhutdinov (2016), *Importance Weighted Autoencoders*, Sec. 5.2: unit
  :math:`u` is *active* when :math:`A_u = \mathrm{Cov}_x\big(\mathbb E_{u \sim q(u|x)}[u]\big) > 10^{-2}`.
* Hoffman & Johnson (2016), *ELBO surgery*: the average KL term splits as
  :math:`\mathbb E_{p_d(x)}\mathrm{KL}(q(z|x)\Vert p(z)) = I_q(x; z) + \mathrm{KL}(q(z)\Vert p(z))`, with
  :math:`q(z) = \mathbb E_{p_d(x)} q(z|x)` the aggregate posterior; the mutual information
  :math:`I_q(x; z)` is the part that encodes x. Estimated as He et al. (2019), *Lagging inference
  networks*, do (their ``calc_mi``).
* Bowman et al. (2016), *Generating sentences from a continuous space*, Sec. 3.1: KL annealing
  (warm-up) from weight 0 to 1 (also Sønderby et al. 2016).
* Kingma et al. (2016), *Improved variational inference with inverse autoregressive flow*,
  Appendix C.8: free bits, :math:`\sum_j \max\big(\lambda, \mathbb E_x \mathrm{KL}(q(z_j|x)\Vert p(z_j))\big)`.
* Higgins et al. (2017), :math:`\beta`-VAE, Eq. 4: the KL term weighted by :math:`\beta`.
"""
from __future__ import annotations

import math

from ..autodiff.functional import logsumexp
from ..autodiff.primitives import maximum
from ..autodiff.tensor import Tensor, as_float_tensor, no_grad, tensor
from ..backend import get_xp
from .distributions import LOG_2PI, kl_standard_normal

__all__ = ["kl_per_dim", "active_units", "unit_activity", "mutual_information", "kl_weight", "free_bits_kl",
           "ACTIVE_THRESHOLD"]

#: Burda et al.'s threshold on :math:`\mathrm{Cov}_x(\mathbb E_q[z_u])`
ACTIVE_THRESHOLD = 1e-2


def _array(a):
    return a.data if isinstance(a, Tensor) else a


def kl_per_dim(mu, log_var):
    r""":math:`\mathbb E_{x}\,\mathrm{KL}\big(q(z_j|x)\,\Vert\,\mathcal N(0, 1)\big)` for each latent dimension j: an array (L,).

    ``mu``, ``log_var`` (N, L): the encoder's outputs on N data points; the mean is over them.
    Their sum is the KL term of the ELBO; a dimension whose KL is near 0 is unused.
    """
    with no_grad():
        return _array(kl_standard_normal(mu, log_var)).mean(axis=0)


def unit_activity(mu):
    r""":math:`A_j = \mathrm{Cov}_x\big(\mathbb E_{q(z|x)}[z_j]\big)`, the variance over the data of the posterior mean of
    each latent dimension (Burda et al. 2016, Sec. 5.2): an array (L,). ``mu`` (N, L). The variance
    is that of the N points (divided by N)."""
    m = _array(mu)
    if m.ndim != 2:
        raise ValueError(f"unit_activity: mu must have shape (N, L), received {tuple(m.shape)}")
    return m.var(axis=0)


def active_units(mu, threshold=ACTIVE_THRESHOLD):
    r"""The number of latent dimensions with :math:`A_j > 0.01` (:func:`unit_activity`; Burda et al. 2016).

    A collapsed dimension has :math:`q(z_j|x) \approx p(z_j)` for every x, so its posterior mean
    is about the same for every x and :math:`A_j \approx 0`.
    """
    return int((unit_activity(mu) > threshold).sum())


def mutual_information(mu, log_var, generator):
    r"""An estimate of :math:`I_q(x; z)` under :math:`q(x, z) = p_d(x)\,q(z|x)`, in nats.

    .. math:: I_q(x; z) = \mathbb E_{p_d(x)}\,\mathbb E_{q(z|x)}\big[\log q(z|x) - \log q(z)\big],
              \qquad q(z) = \frac1N \sum_{m=1}^N q(z|x_m),

    with one draw :math:`z_n \sim q(z|x_n)` per data point and
    :math:`\log q(z_n) = \operatorname{logsumexp}_m \log q(z_n|x_m) - \log N` (the aggregate
    posterior of the N points, as He et al. 2019 estimate it). It lies in :math:`[0, \log N]` up to
    sampling noise, and is 0 when :math:`q(z|x)` does not depend on x. ``mu``, ``log_var`` (N, L);
    cost :math:`O(N^2 L)`, in blocks of 1024 points; no gradient.
    """
    mu = as_float_tensor(mu, "mu", "mutual_information").data  # (N, L)
    log_var = as_float_tensor(log_var, "log_var", "mutual_information").data
    N, L = mu.shape
    xp = get_xp(mu)
    z = mu + xp.exp(0.5 * log_var) * generator.standard_normal(mu.shape).astype(mu.dtype)  # z_n ~ q(z|x_n)
    P = xp.exp(-log_var)  # precisions 1/sigma^2: (N, L)
    # log q(z_n | x_m) = -1/2 sum_j [log 2 pi + log sigma_mj^2 + (z_nj - mu_mj)^2 / sigma_mj^2], with the square
    # expanded, z^2 P - 2 z (mu P) + mu^2 P, so that every pair (n, m) takes two matrix products
    const_m = (L * LOG_2PI + log_var.sum(axis=1) + (mu * mu * P).sum(axis=1))  # (N,) over m
    log_q_own = -0.5 * (L * LOG_2PI + log_var.sum(axis=1) + ((z - mu) ** 2 * P).sum(axis=1))  # log q(z_n | x_n)
    log_q_agg = []
    for a in range(0, N, 1024):  # log q(z_n) = logsumexp_m log q(z_n | x_m) - log N, 1024 rows n at a time
        zb = z[a: a + 1024]  # (b, L)
        pair = -0.5 * ((zb * zb) @ P.T - 2 * zb @ (mu * P).T + const_m[None, :])  # (b, N)
        log_q_agg.append(logsumexp(pair, axis=1).data - math.log(N))
    return float((log_q_own - xp.concatenate(log_q_agg)).mean())


# ---------------------------------------------------------------------------
# Remedies
# ---------------------------------------------------------------------------
def kl_weight(step, warmup):
    r"""The KL warm-up weight :math:`\min(1, t/T_w)` at step ``t`` (0-based), 1 when ``warmup`` :math:`T_w` is 0.

    Training starts as a plain autoencoder (weight 0), so the encoder learns to use :math:`z`
    before the KL term can push :math:`q(z|x)` to the prior (Bowman et al. 2016).
    """
    if warmup < 0:
        raise ValueError(f"kl_weight: warmup must be >= 0, received {warmup!r}")
    return 1.0 if warmup == 0 else min(1.0, step / warmup)


def free_bits_kl(kl_dims, lam):
    r"""The free-bits KL term :math:`\sum_j \max(\lambda, \overline{\mathrm{KL}}_j)` (Kingma et al. 2016, Appendix C.8).

    ``kl_dims`` (L,) is :math:`\overline{\mathrm{KL}}_j`, the KL of latent dimension j averaged over
    the minibatch, a Tensor. Below :math:`\lambda` nats a dimension's KL costs a constant, so its
    gradient is 0: each dimension may carry :math:`\lambda` nats of information for free, and the
    objective no longer pays to switch it off. ``lam`` = 0 gives the plain sum.
    """
    if not lam >= 0:
        raise ValueError(f"free_bits_kl: lam must be >= 0, received {lam!r}")
    kl_dims = as_float_tensor(kl_dims, "kl_dims", "free_bits_kl")
    if lam == 0:
        return kl_dims.sum()
    return maximum(kl_dims, tensor(lam, dtype=kl_dims.dtype)).sum()
