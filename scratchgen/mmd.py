r"""Maximum mean discrepancy: kernels and the (un)biased estimates of MMD^2.

References
----------
* [Gretton] Gretton, Borgwardt, Rasch, Schoelkopf, Smola, "A Kernel Two-Sample Test", JMLR 2012:
  Lemma 6 (MMD^2 in terms of kernel expectations), Eq. (3) the unbiased estimate
  :math:`\mathrm{MMD}^2_u`, Eq. (5) the biased (V-statistic) estimate :math:`\mathrm{MMD}^2_b`;
  Section 8 the median heuristic for the RBF bandwidth.
* [GMMN]    Li, Swersky, Zemel, "Generative Moment Matching Networks", ICML 2015: training a
  generator on MMD^2 with a sum of Gaussian kernels of several bandwidths.
* [KID]     Binkowski, Sutherland, Arbel, Gretton, "Demystifying MMD GANs", ICLR 2018: the
  polynomial kernel :math:`k(x,y) = (x^\top y/d + 1)^3` of the Kernel Inception Distance.
* [IMQ]     Gorham & Mackey, "Measuring Sample Quality with Kernels", ICML 2017 (the inverse
  multiquadric kernel); Tolstikhin et al., "Wasserstein Auto-Encoders", ICLR 2018 use
  :math:`C/(C + \|x-y\|^2)`, which is ``c**2 * imq_kernel(x, y, c, beta=-1)``.

Conventions
-----------
* Samples are rows: x of shape (m, d), y of shape (n, d). A kernel maps them to the Gram
  matrix :math:`K_{ij} = k(x_i, y_j)` of shape (m, n).
* :math:`\mathrm{MMD}^2(P,Q) = \mathbb{E}\,k(x,x') - 2\,\mathbb{E}\,k(x,y) + \mathbb{E}\,k(y,y')`
  ([Gretton] Lemma 6), x, x' ~ P and y, y' ~ Q independent.
* Everything is written in Tensor operations, so MMD^2 is differentiable with respect to
  the samples (a GMMN generator trains on it). Bandwidths from the median heuristic are
  computed from the values and held constant (no gradient flows through them).
* Squared distances use :math:`\|x\|^2 + \|y\|^2 - 2x^\top y` (one matmul), clipped at 0
  against round-off.
"""
from __future__ import annotations

import numbers

from .autodiff.primitives import maximum
from .autodiff.tensor import as_float_tensor
from .backend import get_xp

__all__ = [
    "sq_distances",
    "median_heuristic",
    "rbf_kernel",
    "imq_kernel",
    "polynomial_kernel",
    "mmd2",
]


def _samples(x, name, who):
    x = as_float_tensor(x, name, who)
    if x.ndim != 2:
        raise ValueError(f"{who}: {name} must be a 2-D array of samples (n, d), got shape {x.shape}")
    return x


def _pair(x, y, who):
    x, y = _samples(x, "x", who), _samples(y, "y", who)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"{who}: x and y must have the same dimension d, got x.shape={x.shape}, y.shape={y.shape}")
    return x, y


def sq_distances(x, y):
    r"""Squared Euclidean distances :math:`D_{ij} = \|x_i - y_j\|^2 = \|x_i\|^2 + \|y_j\|^2 - 2x_i^\top y_j`.

    Parameters
    ----------
    x : Tensor (m, d)
    y : Tensor (n, d)

    Returns
    -------
    Tensor (m, n), >= 0
    """
    x, y = _pair(x, y, "sq_distances")
    xx = (x * x).sum(axis=1, keepdims=True)  # (m, 1)
    yy = (y * y).sum(axis=1, keepdims=True).T  # (1, n)
    d2 = xx + yy - (x @ y.T) * 2  # (m, n)
    return maximum(d2, 0)


def median_heuristic(x, y=None):
    r"""RBF bandwidth by the median heuristic ([Gretton] Section 8): the median distance
    :math:`\sigma = \operatorname{median}_{i<j}\|z_i - z_j\|` between distinct points of the pooled
    sample z = [x; y].

    Parameters
    ----------
    x : array or Tensor (m, d)
    y : array or Tensor (n, d), optional

    Returns
    -------
    float (a constant: no gradient)
    """
    x = _samples(x, "x", "median_heuristic")
    z = x.data
    if y is not None:
        y = _samples(y, "y", "median_heuristic")
        xp = get_xp(z, y.data)
        z = xp.concatenate([z, y.data], axis=0)
    xp = get_xp(z)
    N = z.shape[0]
    if N < 2:
        raise ValueError(f"median_heuristic: needs at least 2 points, got {N}")
    sq = (z * z).sum(axis=1)
    d2 = xp.maximum(sq[:, None] + sq[None, :] - 2 * (z @ z.T), 0)
    iu = xp.triu_indices(N, k=1)
    sigma = float(xp.median(xp.sqrt(d2[iu])))
    if not sigma > 0:
        raise ValueError("median_heuristic: the median pairwise distance is 0 (more than half the pairs coincide)")
    return sigma


def rbf_kernel(x, y, sigma=1.0):
    r"""Gaussian RBF kernel :math:`k(x,y) = \exp\!\big(-\|x-y\|^2 / (2\sigma^2)\big)`, or a sum of them
    :math:`\sum_s \exp(-\|x-y\|^2/(2\sigma_s^2))` when ``sigma`` is a sequence ([GMMN] Section 3).

    Parameters
    ----------
    x : Tensor (m, d)
    y : Tensor (n, d)
    sigma : float or sequence of float
        Bandwidth(s) > 0.

    Returns
    -------
    Tensor (m, n)
    """
    sigmas = [sigma] if isinstance(sigma, numbers.Real) else list(sigma)
    if not sigmas or any(not (isinstance(s, numbers.Real) and s > 0) for s in sigmas):
        raise ValueError(f"rbf_kernel: sigma must be a positive number or a non-empty sequence of them, got {sigma!r}")
    d2 = sq_distances(x, y)
    k = None
    for s in sigmas:
        ks = (d2 * (-0.5 / (float(s) ** 2))).exp()
        k = ks if k is None else k + ks
    return k


def imq_kernel(x, y, c=1.0, beta=-0.5):
    r"""Inverse multiquadric kernel :math:`k(x,y) = (c^2 + \|x-y\|^2)^{\beta}` ([IMQ]), c > 0, beta < 0.

    Heavier tails than the RBF: its gradient does not vanish for far-apart points.

    Parameters
    ----------
    x : Tensor (m, d)
    y : Tensor (n, d)
    c : float > 0
    beta : float < 0 (-1/2 in [IMQ])

    Returns
    -------
    Tensor (m, n)
    """
    if not c > 0 or not beta < 0:
        raise ValueError(f"imq_kernel: needs c > 0 and beta < 0, got c={c}, beta={beta}")
    d2 = sq_distances(x, y)
    return (d2 + float(c) ** 2) ** float(beta)


def polynomial_kernel(x, y, degree=3, gamma=None, coef0=1.0):
    r"""Polynomial kernel :math:`k(x,y) = (\gamma\,x^\top y + c_0)^{p}`; the defaults
    (:math:`\gamma = 1/d`, :math:`c_0 = 1`, p = 3) are the kernel of KID ([KID] Section 5).

    Parameters
    ----------
    x : Tensor (m, d)
    y : Tensor (n, d)
    degree : int >= 1
    gamma : float, optional (default 1/d)
    coef0 : float

    Returns
    -------
    Tensor (m, n)
    """
    x, y = _pair(x, y, "polynomial_kernel")
    if not (isinstance(degree, numbers.Integral) and degree >= 1):
        raise ValueError(f"polynomial_kernel: degree must be an integer >= 1, got {degree!r}")
    g = 1.0 / x.shape[1] if gamma is None else float(gamma)
    return ((x @ y.T) * g + float(coef0)) ** int(degree)


_KERNELS = {"rbf": rbf_kernel, "imq": imq_kernel, "polynomial": polynomial_kernel}


def _off_diagonal_sum(K):
    r""":math:`\sum_{i\ne j} K_{ij} = \sum_{ij} K_{ij} - \operatorname{tr} K` (differentiable)."""
    xp = get_xp(K.data)
    eye = xp.eye(K.shape[0], dtype=K.dtype)
    return K.sum() - (K * eye).sum()


def mmd2(x, y, kernel="rbf", unbiased=True, **kernel_params):
    r"""Squared maximum mean discrepancy between samples x ~ P and y ~ Q ([Gretton] Lemma 6).

    Unbiased ([Gretton] Eq. 3), averaging over distinct pairs only:

    .. math::  \mathrm{MMD}^2_u = \frac{1}{m(m-1)}\sum_{i\ne j} k(x_i,x_j)
               + \frac{1}{n(n-1)}\sum_{i\ne j} k(y_i,y_j) - \frac{2}{mn}\sum_{i,j} k(x_i,y_j).

    Its expectation is the population MMD^2, so for P = Q it averages to 0 and single
    estimates can be negative. Biased ([Gretton] Eq. 5, ``unbiased=False``): the diagonals
    are kept and the first two sums are divided by :math:`m^2`, :math:`n^2`; it is the squared
    RKHS norm of the difference of empirical mean embeddings, hence :math:`\ge 0`.

    Parameters
    ----------
    x : Tensor (m, d)
        Samples of P (m >= 2 for the unbiased estimate).
    y : Tensor (n, d)
        Samples of Q.
    kernel : "rbf", "imq", "polynomial" or callable
        A name, or a function ``k(x, y) -> Tensor (m, n)``, e.g.
        ``functools.partial(rbf_kernel, sigma=[0.5, 1, 2])``.
    unbiased : bool
    **kernel_params
        Passed to the named kernel. For ``"rbf"``, ``sigma="median"`` (the default when
        ``sigma`` is not given) uses :func:`median_heuristic` on the pooled sample.

    Returns
    -------
    Tensor, shape (), differentiable with respect to x and y.
    """
    x, y = _pair(x, y, "mmd2")
    m, n = x.shape[0], y.shape[0]
    if unbiased and (m < 2 or n < 2):
        raise ValueError(f"mmd2: the unbiased estimate needs at least 2 samples each, got m={m}, n={n}")
    if m < 1 or n < 1:
        raise ValueError(f"mmd2: needs samples, got m={m}, n={n}")
    if isinstance(kernel, str):
        if kernel not in _KERNELS:
            raise ValueError(f"mmd2: unknown kernel {kernel!r}; known: {sorted(_KERNELS)} or a callable")
        if kernel == "rbf" and kernel_params.get("sigma", "median") == "median":
            kernel_params["sigma"] = median_heuristic(x, y)
        kfn, params = _KERNELS[kernel], kernel_params
    elif callable(kernel):
        if kernel_params:
            raise ValueError("mmd2: keyword parameters go with a kernel name; bind them into a callable kernel")
        kfn, params = kernel, {}
    else:
        raise ValueError(f"mmd2: kernel must be a name or a callable, got {type(kernel).__name__}")
    Kxx, Kyy, Kxy = kfn(x, x, **params), kfn(y, y, **params), kfn(x, y, **params)
    for K, shape, name in ((Kxx, (m, m), "k(x, x)"), (Kyy, (n, n), "k(y, y)"), (Kxy, (m, n), "k(x, y)")):
        if tuple(K.shape) != shape:
            raise ValueError(f"mmd2: the kernel must return a Gram matrix; {name} has shape {K.shape}, expected {shape}")
    if unbiased:
        # sums over i != j only: the U-statistic
        t_xx = _off_diagonal_sum(Kxx) * (1.0 / (m * (m - 1)))
        t_yy = _off_diagonal_sum(Kyy) * (1.0 / (n * (n - 1)))
    else:
        t_xx = Kxx.sum() * (1.0 / (m * m))
        t_yy = Kyy.sum() * (1.0 / (n * n))
    t_xy = Kxy.sum() * (2.0 / (m * n))
    return t_xx + t_yy - t_xy
