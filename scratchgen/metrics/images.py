r"""Sample-quality metrics on features: Fréchet distance, KID, Inception-style score, precision/recall.

These are the formulas of FID (Heusel et al. 2017), KID (Bińkowski et al. 2018),
the Inception Score (Salimans et al. 2016) and improved precision and recall
(Kynkäänniemi et al. 2019), applied to whatever feature extractor and classifier
the caller provides. scratchgen cannot download Inception weights, so its image
demos use a small digits classifier instead: **the numbers are not comparable to
published Inception-based FID/KID/IS values**, only to each other.

Conventions: ``features`` are arrays (N, d); ``probs``/``log_probs`` (N, K) are class
posteriors p(y|x). Everything is computed in float64.
"""
from __future__ import annotations

import math

from ..backend import get_xp, rng, unwrap
from ..divergences import w2_gaussian
from ..mmd import mmd2
from ..validate import check_int, check_real_array

__all__ = ["gaussian_stats", "frechet_distance", "kid", "inception_score", "precision_recall"]


def _features(x, name, who, min_n=2):
    x = unwrap(x)
    check_real_array(x, name, who, kinds="fiu")  # complex features would lose their imaginary part
    xp = get_xp(x)
    x = xp.asarray(x, dtype="float64")
    if x.ndim != 2 or x.shape[0] < min_n:
        raise ValueError(f"{who}: {name} must be features of shape (N, d) with N >= {min_n}, got {x.shape}")
    return x


def gaussian_stats(features):
    r"""Mean :math:`\mu` and unbiased covariance :math:`\Sigma = \frac{1}{N-1}\sum_i (f_i-\mu)(f_i-\mu)^\top`."""
    f = _features(features, "features", "gaussian_stats")
    mu = f.mean(axis=0)
    c = f - mu
    return mu, (c.T @ c) / (f.shape[0] - 1)


def frechet_distance(features_a, features_b):
    r"""Fréchet distance between Gaussians fitted to two feature sets (the formula of FID):

    .. math::  d^2 = \|\mu_a-\mu_b\|^2 + \operatorname{tr}\big(\Sigma_a + \Sigma_b - 2(\Sigma_b^{1/2}\Sigma_a\Sigma_b^{1/2})^{1/2}\big),

    i.e. :math:`W_2^2` between :math:`\mathcal N(\mu_a,\Sigma_a)` and :math:`\mathcal N(\mu_b,\Sigma_b)`
    (:func:`scratchgen.divergences.w2_gaussian`). The matrix square roots are taken by
    symmetric eigendecompositions, with round-off negatives clipped to 0: stable where
    ``scipy.linalg.sqrtm`` of the non-symmetric product :math:`\Sigma_a\Sigma_b` can return
    complex parts.
    """
    fa = _features(features_a, "features_a", "frechet_distance")
    fb = _features(features_b, "features_b", "frechet_distance")
    if fa.shape[1] != fb.shape[1]:
        raise ValueError(f"frechet_distance: feature dimensions differ: {fa.shape[1]} and {fb.shape[1]}")
    mu_a, s_a = gaussian_stats(fa)
    mu_b, s_b = gaussian_stats(fb)
    return float(w2_gaussian(mu_a, s_a, mu_b, s_b, squared=True))


def kid(features_a, features_b, subset_size=1000, n_subsets=100, seed=0):
    r"""Kernel Inception Distance: the unbiased MMD² with the cubic polynomial kernel
    :math:`k(x,y) = (x^\top y/d + 1)^3`, averaged over random subsets ([KID] Section 5).

    Returns ``(mean, std)`` over the subsets. Unlike FID it is unbiased: on two sets drawn
    from one distribution it averages 0 (single subsets can be negative).
    """
    check_int(subset_size, "subset_size", "kid", min=2)
    check_int(n_subsets, "n_subsets", "kid", min=1)
    check_int(seed, "seed", "kid", min=0)
    fa = _features(features_a, "features_a", "kid")
    fb = _features(features_b, "features_b", "kid")
    if fa.shape[1] != fb.shape[1]:
        raise ValueError(f"kid: feature dimensions differ: {fa.shape[1]} and {fb.shape[1]}")
    m = min(subset_size, fa.shape[0], fb.shape[0])
    g = rng(seed)
    xp = get_xp(fa)
    vals = []
    for _ in range(n_subsets):
        ia = g.choice(fa.shape[0], m, replace=False)
        ib = g.choice(fb.shape[0], m, replace=False)
        vals.append(float(mmd2(fa[ia], fb[ib], kernel="polynomial", unbiased=True).item()))
    v = xp.asarray(vals)
    return float(v.mean()), float(v.std())


def inception_score(probs=None, log_probs=None):
    r"""Inception-style score :math:`\exp\big(\mathbb E_x \mathrm{KL}(p(y|x)\,\|\,p(y))\big)`, in log space
    ([IS] Salimans et al. 2016, Section 4), with :math:`p(y) = \frac1N\sum_x p(y|x)`.

    :math:`\log p(y) = \operatorname{logsumexp}_x \log p(y|x) - \log N`, and the KL uses
    :math:`p\log p` terms that vanish where :math:`p(y|x) = 0`. It ranges from 1 (every sample
    has the same class posterior) to K (confident and class-balanced).

    Pass ``probs`` (N, K) or ``log_probs`` (N, K).
    """
    if (probs is None) == (log_probs is None):
        raise ValueError("inception_score: pass exactly one of probs and log_probs")
    src = probs if log_probs is None else log_probs
    a = _features(src, "probs" if log_probs is None else "log_probs", "inception_score", min_n=1)
    xp = get_xp(a)
    if log_probs is None:
        if bool(xp.any(a < 0)) or float(xp.max(xp.abs(a.sum(axis=1) - 1))) > 1e-6:
            raise ValueError("inception_score: each row of probs must be non-negative and sum to 1")
        a = xp.log(xp.maximum(a, 1e-300))
    # log 0 = -inf is held at log(1e-300): its p is 0 in double precision, so its terms vanish
    logp = xp.maximum(a, math.log(1e-300))  # (N, K)
    n = logp.shape[0]
    m = logp.max(axis=0)
    log_py = xp.log(xp.exp(logp - m).sum(axis=0)) + m - math.log(n)  # (K,) log of the mean posterior
    p = xp.exp(logp)
    kl = (p * (logp - log_py)).sum(axis=1)  # (N,) KL(p(y|x) || p(y))
    return float(xp.exp(kl.mean()))


def _knn_radii(f, k):
    """Distance from each row of ``f`` to its k-th nearest other row."""
    d = _pairwise(f, f)
    d.sort(axis=1)  # column 0 is the point itself (distance 0)
    return d[:, k]


def _pairwise(a, b):
    xp = get_xp(a, b)
    d2 = (a * a).sum(1)[:, None] - 2 * a @ b.T + (b * b).sum(1)[None, :]
    return xp.sqrt(xp.maximum(d2, 0))


def precision_recall(real_features, fake_features, k=3):
    r"""Improved precision and recall (Kynkäänniemi et al. 2019, Eqs. 1–3).

    Each set's manifold is the union of balls around its points with radius the distance
    to the k-th nearest neighbour in the same set. Precision: the fraction of fake points
    inside the real manifold (are the samples realistic?); recall: the fraction of real
    points inside the fake manifold (is the data covered?).

    Returns ``(precision, recall)``.
    """
    check_int(k, "k", "precision_recall", min=1)
    fr = _features(real_features, "real_features", "precision_recall", min_n=k + 1)
    ff = _features(fake_features, "fake_features", "precision_recall", min_n=k + 1)
    if fr.shape[1] != ff.shape[1]:
        raise ValueError(f"precision_recall: feature dimensions differ: {fr.shape[1]} and {ff.shape[1]}")
    r_real, r_fake = _knn_radii(fr, k), _knn_radii(ff, k)
    d = _pairwise(ff, fr)  # (N_fake, N_real)
    precision = float((d <= r_real[None, :]).any(axis=1).mean())
    recall = float((d.T <= r_fake[None, :]).any(axis=1).mean())
    return precision, recall
