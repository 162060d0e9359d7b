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
  against round-off, after both samples are moved by one common centre (distances do not change,
  but the cancellation does: for points near 1e4 in float32 the uncentred form is off by tens).
  Between a sample and itself the norms are read off the Gram matrix's diagonal, so the diagonal
  :math:`G_{ii} + G_{ii} - 2G_{ii}` is exactly 0.
"""
from __future__ import annotations

import numbers

from .autodiff.primitives import maximum
from .autodiff.tensor import as_float_tensor
from .backend import get_xp
from .validate import check_bool, check_number

__all__ = [
    "sq_distances",
    "median_heuristic",
    "rbf_kernel",
    "imq_kernel",
    "polynomial_kernel",
    "mmd2",
    "mmd2_per_bandwidth",
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


def _centred(x, y):
    """``x - c`` and ``y - c`` for c the mean of the pooled sample, a constant (distances are translation
    invariant, so no gradient is lost: the paths through c cancel)."""
    n = x.shape[0] + y.shape[0]
    if n == 0:
        return x, y
    c = (x.data.sum(axis=0, keepdims=True) + y.data.sum(axis=0, keepdims=True)) / n  # (1, d), the data's dtype
    return x - c.astype(x.dtype, copy=False), y - c.astype(y.dtype, copy=False)


def sq_distances(x, y):
    r"""Squared Euclidean distances :math:`D_{ij} = \|x_i - y_j\|^2 = \|x_i\|^2 + \|y_j\|^2 - 2x_i^\top y_j`.

    Computed on centred points (:math:`x_i - c`, :math:`y_j - c`, c the pooled mean), so that
    the cancellation of the three terms is that of the spread, not of the offset. When ``y`` is
    ``x`` (the same object), the Gram form :math:`D_{ij} = G_{ii} + G_{jj} - 2G_{ij}` with
    :math:`G = XX^\top` keeps the diagonal exactly 0.

    Parameters
    ----------
    x : Tensor (m, d)
    y : Tensor (n, d)

    Returns
    -------
    Tensor (m, n), >= 0
    """
    same = y is x
    x, y = _pair(x, y, "sq_distances")
    if same:  # the Gram form: G_ii + G_jj - 2 G_ij, exactly 0 where i = j
        xc, _ = _centred(x, x)
        G = xc @ xc.T  # (m, m)
        i = get_xp(G.data).arange(G.shape[0])
        g = G[i, i]  # (m,) the squared norms, as the matmul rounded them
        d2 = g.reshape((-1, 1)) + g.reshape((1, -1)) - G * 2
        return maximum(d2, 0)
    xc, yc = _centred(x, y)
    xx = (xc * xc).sum(axis=1, keepdims=True)  # (m, 1)
    yy = (yc * yc).sum(axis=1, keepdims=True).T  # (1, n)
    d2 = xx + yy - (xc @ yc.T) * 2  # (m, n)
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
    z = z - z.mean(axis=0, keepdims=True)  # centred: the distances, without the offset's cancellation
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
    if not sigmas or any(not (isinstance(s, numbers.Real) and not isinstance(s, bool) and 0 < s < float("inf"))
                         for s in sigmas):
        raise ValueError(f"rbf_kernel: sigma must be a finite number > 0 or a non-empty sequence of them, "
                         f"got {sigma!r}")
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
    check_number(c, "c", "imq_kernel", min=0, min_open=True)
    check_number(beta, "beta", "imq_kernel", max=0, max_open=True)
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
    if gamma is not None:
        check_number(gamma, "gamma", "polynomial_kernel")
    check_number(coef0, "coef0", "polynomial_kernel")
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
    check_bool(unbiased, "unbiased", "mmd2")
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
    ### BEGIN SOLUTION
    if unbiased:
        # sums over i != j only: the U-statistic
        t_xx = _off_diagonal_sum(Kxx) * (1.0 / (m * (m - 1)))
        t_yy = _off_diagonal_sum(Kyy) * (1.0 / (n * (n - 1)))
    else:
        t_xx = Kxx.sum() * (1.0 / (m * m))
        t_yy = Kyy.sum() * (1.0 / (n * n))
    t_xy = Kxy.sum() * (2.0 / (m * n))
    return t_xx + t_yy - t_xy
    ### END SOLUTION


def mmd2_per_bandwidth(x, y, sigmas, unbiased=True):
    r""":math:`\mathrm{MMD}^2` with one RBF kernel per bandwidth :math:`\sigma_s` (not their sum): a list of
    :func:`mmd2` values (Tensors of shape ()), one per entry of ``sigmas``.

    One kernel sees differences at about its own scale: at the median distance of a mixture of narrow
    modes it compares the modes' weights and is blind to their width; at the modes' standard deviation
    it sees samples that lie between the modes (docs/results.md, DDPM). A sum of kernels
    (:func:`rbf_kernel` with a sequence) is dominated by the widest one, so report them one by one.
    """
    x, y = _pair(x, y, "mmd2_per_bandwidth")
    sigmas = list(sigmas) if not isinstance(sigmas, numbers.Real) else [sigmas]
    if not sigmas:
        raise ValueError("mmd2_per_bandwidth: sigmas must hold at least one bandwidth, got an empty sequence")
    return [mmd2(x, y, kernel="rbf", unbiased=unbiased, sigma=float(s)) for s in sigmas]  # sigma = 0 or inf refused by rbf_kernel
