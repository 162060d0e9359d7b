r"""Toy distributions for mode-collapse experiments, seeded and with known modes.

Protocol of the Unrolled-GAN and GDPP code (also VEEGAN's 2-D experiments):

* ``ring``: ``modes`` Gaussians of standard deviation ``std`` whose centres lie
  on a circle of radius ``radius`` at angles :math:`2\pi k/\text{modes}`,
  k = 0..modes-1 (default 8 modes, radius 1, std 0.01);
* ``grid``: a k×k grid of Gaussians with centres in
  :math:`\{-(k-1)/2, \dots, (k-1)/2\}\cdot\text{spacing}` on each axis
  (default k = 5, spacing 2, std 0.05: centres {−4, −2, 0, 2, 4}²).

Each mixture picks its component uniformly at random per sample. Samples are
float32 arrays on the active backend; every function takes a seed or a
generator (``scratchgen.rng``).

Two sets for density models come with their exact log-density, so that a model's held-out
negative log-likelihood can be compared with the data's entropy:

* ``gauss8``: 8 equal-weight Gaussians of standard deviation 0.2 centred on the circle of
  radius 2 at angles :math:`2\pi k/8` (:func:`gauss8`, :func:`gauss8_log_density`);
* ``checkerboard``: uniform on the 8 cells (i + j even) of the 4×4 board of unit squares
  covering :math:`[-2, 2]^2`; its density is 1/8 on them, so its entropy is exactly
  :math:`\log 8` (:func:`checkerboard`, :func:`checkerboard_log_density`).

``TOY_LOG_DENSITIES`` holds the log-density of every set that has one in closed form, and
:func:`monte_carlo_entropy` estimates :math:`H(p) = -\mathbb E_p \log p(x)` from it.

**Data from a file.** :func:`load_toy` also takes the path of a ``.npy`` file holding an (N, D)
float array (``--data PATH.npy`` of every toy trainer). The rows are split once, the same way for
every run: a permutation with the fixed seed ``SPLIT_SEED`` puts
:math:`\max(1, \mathrm{round}(N/5))` rows (``HELD_OUT_FRACTION`` = 20 %) in the held-out part and
the rest in the training part. ``split="train"`` draws n rows *with replacement* from the training
part (a minibatch, seeded like every other draw); ``split="test"`` returns the first
:math:`\min(n, N_\text{held out})` rows of the held-out part (fewer than n when the file is
small; the seed is not used). :func:`toy_file_rows` reads and checks the file.
"""
from __future__ import annotations

import functools
import math
import os
from typing import NamedTuple

from ..backend import default_dtype, get_xp, rng, to_numpy

__all__ = [
    "ToyData", "ring_centres", "grid_centres", "ring", "grid", "swiss_roll", "two_moons",
    "mixture_1d", "mixture_1d_pdf", "gauss8", "checkerboard", "mixture_log_density", "gauss8_log_density",
    "checkerboard_log_density", "monte_carlo_entropy", "is_toy_file", "toy_file_rows", "check_toy_data", "load_toy",
    "TOY_DATASETS", "TOY_LOG_DENSITIES", "HELD_OUT_FRACTION", "SPLIT_SEED",
]


class ToyData(NamedTuple):
    """Samples and, for mixtures, the component centres and their standard deviation."""

    x: object  # (n, d) samples
    centres: object = None  # (modes, d) or None
    std: float | None = None


def _check_n(n):
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")


def ring_centres(modes=8, radius=1.0, dtype=None):
    r"""Centres :math:`r(\cos 2\pi k/m, \sin 2\pi k/m)`, k = 0..m-1, shape (modes, 2), in ``dtype`` (default:
    the default float dtype)."""
    if modes < 1 or radius <= 0:
        raise ValueError(f"ring needs modes >= 1 and radius > 0, got modes={modes}, radius={radius}")
    xp = get_xp()
    angle = 2 * math.pi * xp.arange(modes) / modes
    return xp.stack([radius * xp.cos(angle), radius * xp.sin(angle)], axis=1).astype(dtype or default_dtype())


def grid_centres(k=5, spacing=2.0, dtype=None):
    r"""Centres of a k×k grid, :math:`(i - (k-1)/2)\,\text{spacing}` per axis, shape (k², 2), in ``dtype``
    (default: the default float dtype)."""
    if k < 1 or spacing <= 0:
        raise ValueError(f"grid needs k >= 1 and spacing > 0, got k={k}, spacing={spacing}")
    xp = get_xp()
    axis = (xp.arange(k) - (k - 1) / 2) * spacing
    gx, gy = xp.meshgrid(axis, axis, indexing="ij")
    return xp.stack([gx.ravel(), gy.ravel()], axis=1).astype(dtype or default_dtype())


def _mixture(n, centres, std, seed):
    """n samples: a uniformly chosen centre plus N(0, std² I) noise."""
    _check_n(n)
    if std < 0:
        raise ValueError(f"std must be >= 0, got {std}")
    g = rng(seed)
    k = g.integers(0, centres.shape[0], size=n)
    noise = g.standard_normal((n, centres.shape[1])).astype(centres.dtype)
    return centres[k] + std * noise


def ring(n, modes=8, radius=1.0, std=0.01, seed=None) -> ToyData:
    """Mixture of ``modes`` Gaussians on a circle (the "ring8" data set by default)."""
    c = ring_centres(modes, radius)
    return ToyData(_mixture(n, c, std, seed), c, std)


def grid(n, k=5, spacing=2.0, std=0.05, seed=None) -> ToyData:
    """Mixture of k×k Gaussians on a square grid (the "grid25" data set by default)."""
    c = grid_centres(k, spacing)
    return ToyData(_mixture(n, c, std, seed), c, std)


def swiss_roll(n, noise=0.05, seed=None) -> ToyData:
    r"""2-D Swiss roll: :math:`\theta \sim U(1.5\pi, 4.5\pi)`, :math:`x = \theta(\cos\theta, \sin\theta)/(4.5\pi)\cdot 2`
    plus N(0, noise²) per axis (scaled to about [-2, 2])."""
    _check_n(n)
    g = rng(seed)
    xp = get_xp()
    theta = 1.5 * math.pi * (1 + 2 * g.random(n))
    x = xp.stack([theta * xp.cos(theta), theta * xp.sin(theta)], axis=1) * (2 / (4.5 * math.pi))
    x = x + noise * g.standard_normal((n, 2))
    return ToyData(x.astype(default_dtype()))


def two_moons(n, noise=0.05, seed=None) -> ToyData:
    r"""Two interleaved half circles (upper: centre (0, 0); lower: centre (1, 0.5)), plus N(0, noise²)."""
    _check_n(n)
    g = rng(seed)
    xp = get_xp()
    upper = g.random(n) < 0.5
    s = math.pi * g.random(n)
    x_up = xp.stack([xp.cos(s), xp.sin(s)], axis=1)
    x_low = xp.stack([1 - xp.cos(s), 0.5 - xp.sin(s)], axis=1)
    x = xp.where(upper[:, None], x_up, x_low) + noise * g.standard_normal((n, 2))
    return ToyData(x.astype(default_dtype()))


def _mixture_params(means, stds, weights, xp=None):
    xp = get_xp() if xp is None else xp
    means = xp.asarray(means, dtype="float64").reshape(-1)
    stds = xp.asarray(stds, dtype="float64").reshape(-1) * xp.ones_like(means)
    w = xp.ones_like(means) / means.size if weights is None else xp.asarray(weights, dtype="float64").reshape(-1)
    if w.shape != means.shape or bool(xp.any(w < 0)) or abs(float(w.sum()) - 1) > 1e-8:
        raise ValueError(f"weights must be {means.size} non-negative numbers summing to 1, got {weights!r}")
    if bool(xp.any(stds <= 0)):
        raise ValueError(f"stds must be positive, got {stds!r}")
    return means, stds, w


def mixture_1d(n, means=(-2.0, 2.0), stds=0.5, weights=None, seed=None) -> ToyData:
    """n samples (n, 1) from a 1-D Gaussian mixture; ``centres`` are the means."""
    _check_n(n)
    means, stds, w = _mixture_params(means, stds, weights)
    g = rng(seed)
    k = g.choice(means.size, size=n, p=w)
    x = means[k] + stds[k] * g.standard_normal(n)
    return ToyData(x.reshape(n, 1).astype(default_dtype()), means.reshape(-1, 1))


def mixture_1d_pdf(x, means=(-2.0, 2.0), stds=0.5, weights=None):
    r"""Density :math:`p(x) = \sum_k w_k\,\mathcal N(x; \mu_k, s_k^2)` at points ``x`` (any shape), on the
    backend of ``x`` (the active one for a list or a number)."""
    xp = get_xp(x)
    means, stds, w = _mixture_params(means, stds, weights, xp)
    x = xp.asarray(x, dtype="float64")[..., None]
    z = (x - means) / stds
    return (w * xp.exp(-0.5 * z * z) / (stds * math.sqrt(2 * math.pi))).sum(axis=-1)


# ---------------------------------------------------------------------------
# Sets for density models, with their exact log-densities
# ---------------------------------------------------------------------------
def gauss8(n, seed=None) -> ToyData:
    r"""8 equal-weight Gaussians, :math:`\mathcal N(2(\cos 2\pi k/8, \sin 2\pi k/8), 0.2^2 I)`, k = 0..7."""
    return ring(n, modes=8, radius=2.0, std=0.2, seed=seed)


def checkerboard_corners():
    """Lower-left corners (i - 2, j - 2) of the 8 cells with i + j even, i, j = 0..3, shape (8, 2) float64."""
    xp = get_xp()
    return xp.asarray([[i - 2.0, j - 2.0] for i in range(4) for j in range(4) if (i + j) % 2 == 0])


def checkerboard(n, seed=None) -> ToyData:
    r"""Uniform on the 8 cells :math:`[i-2, i-1) 	imes [j-2, j-1)` with i + j even, i, j = 0..3.

    A cell is picked uniformly, then a point uniformly inside it (in float64). A point is rounded
    to the default dtype inside its cell: a float32 draw within rounding of the cell's far edge
    is moved to the largest float32 below that edge, so every sample has density 1/8.
    """
    _check_n(n)
    g = rng(seed)
    xp = get_xp()
    corner = checkerboard_corners()[g.integers(0, 8, size=n)]  # (n, 2)
    x = (corner + g.random((n, 2))).astype(default_dtype())
    edge = (corner + 1).astype(x.dtype)
    return ToyData(xp.minimum(x, xp.nextafter(edge, edge - 1)))


def mixture_log_density(x, centres, std):
    r""":math:`\log p(x) = \log rac1K \sum_k \mathcal N(x; c_k, \sigma^2 I)` of an equal-weight isotropic mixture.

    .. math:: \log p(x) = \operatorname{logsumexp}_k\Big(-rac{\lVert x - c_k
Vert^2}{2\sigma^2}\Big)
              - \log K - rac D2 \log(2\pi\sigma^2)

    Parameters
    ----------
    x : array, shape (..., D)
    centres : array, shape (K, D)
    std : float, > 0

    Returns
    -------
    float64 array, shape (...), on the backend of ``x``
    """
    if not std > 0:
        raise ValueError(f"mixture_log_density: std must be > 0, got {std!r}")
    xp = get_xp(x)
    x = xp.asarray(x, dtype=xp.float64)
    c = xp.asarray(centres, dtype=xp.float64)
    if x.shape[-1:] != c.shape[-1:] or c.ndim != 2:
        raise ValueError(f"mixture_log_density: x (..., D) and centres (K, D) must share D; got {x.shape} and {c.shape}")
    K, D = c.shape
    a = -((x[..., None, :] - c) ** 2).sum(axis=-1) / (2 * std**2)  # (..., K)
    m = a.max(axis=-1, keepdims=True)
    lse = (m + xp.log(xp.exp(a - m).sum(axis=-1, keepdims=True)))[..., 0]  # logsumexp over k, stably
    return lse - math.log(K) - 0.5 * D * math.log(2 * math.pi * std**2)


def gauss8_log_density(x):
    """The exact log-density of ``gauss8`` at ``x`` (..., 2): :func:`mixture_log_density` of its centres
    (computed in float64 from their formula), std 0.2."""
    return mixture_log_density(x, get_xp(x).asarray(ring_centres(8, 2.0, "float64")), 0.2)


def checkerboard_log_density(x):
    r"""The exact log-density of ``checkerboard`` at ``x`` (..., 2): :math:`-\log 8` on the cells
    :math:`\lfloor x_0 + 2
floor + \lfloor x_1 + 2
floor` even inside :math:`[-2, 2)^2`, :math:`-\infty`
    elsewhere (float64, on the backend of ``x``)."""
    xp = get_xp(x)
    x = xp.asarray(x, dtype=xp.float64)
    if x.shape[-1:] != (2,):
        raise ValueError(f"checkerboard_log_density: x must have shape (..., 2), got {x.shape}")
    i, j = xp.floor(x[..., 0] + 2), xp.floor(x[..., 1] + 2)  # the cell's column and row, 0..3 inside
    inside = (i >= 0) & (i <= 3) & (j >= 0) & (j <= 3) & ((i + j) % 2 == 0)
    return xp.where(inside, -math.log(8), -math.inf)


def monte_carlo_entropy(name, n=1_000_000, seed=0, chunk=1_000_000):
    r"""The entropy :math:`H(p) = -\mathbb E_{x\sim p} \log p(x)` of a toy set with an exact log-density,
    estimated by :math:`\hat H = -rac1n \sum_i \log p(x_i)` on ``n`` draws.

    Returns
    -------
    (H, se) : floats
        The estimate and its standard error :math:`\mathrm{sd}(\log p(x_i))/\sqrt n` (0 when
        :math:`\log p` is constant on the support, as for the checkerboard).
    """
    if name not in TOY_LOG_DENSITIES:
        raise ValueError(f"monte_carlo_entropy: name must be one of {sorted(TOY_LOG_DENSITIES)}, got {name!r}")
    _check_n(n)
    g = rng(seed)
    shift, total, total_sq, done = None, 0.0, 0.0, 0
    while done < n:  # in chunks: the sums of log p - shift and of its square (shift: the first chunk's mean)
        k = min(chunk, n - done)
        lp = TOY_LOG_DENSITIES[name](TOY_DATASETS[name](k, seed=g).x)
        shift = float(lp.mean()) if shift is None else shift
        d = lp - shift
        total, total_sq, done = total + float(d.sum()), total_sq + float((d * d).sum()), done + k
    mean = total / n
    var = max(total_sq / n - mean * mean, 0.0) * n / max(n - 1, 1)
    return -(shift + mean), math.sqrt(var / n)


TOY_DATASETS = {
    "ring8": lambda n, seed=None: ring(n, seed=seed),
    "grid25": lambda n, seed=None: grid(n, seed=seed),
    "swissroll": lambda n, seed=None: swiss_roll(n, seed=seed),
    "moons": lambda n, seed=None: two_moons(n, seed=seed),
    # 1-D: the mixture of mixture_1d's defaults (means ±2, std 0.5), for W1 and the 1-D pictures
    "mixture1d": lambda n, seed=None: ToyData(*mixture_1d(n, seed=seed)[:2], 0.5),
    # for density models: exact log-densities in TOY_LOG_DENSITIES
    "gauss8": lambda n, seed=None: gauss8(n, seed=seed),
    "checkerboard": lambda n, seed=None: checkerboard(n, seed=seed),
}

#: name -> log p(x) (float64, shape x.shape[:-1]) for the sets whose density is known in closed form
TOY_LOG_DENSITIES = {
    "gauss8": gauss8_log_density,
    "checkerboard": checkerboard_log_density,
    "ring8": lambda x: mixture_log_density(x, get_xp(x).asarray(ring_centres(dtype="float64")), 0.01),
    "grid25": lambda x: mixture_log_density(x, get_xp(x).asarray(grid_centres(dtype="float64")), 0.05),
}


# ---------------------------------------------------------------------------
# Data from a .npy file
# ---------------------------------------------------------------------------
#: the share of a file's rows held out, and the seed of the one permutation that splits them
HELD_OUT_FRACTION = 0.2
SPLIT_SEED = 0


def is_toy_file(name):
    """Whether ``name`` names a data file (a path ending in ``.npy``) rather than a set of ``TOY_DATASETS``."""
    return isinstance(name, (str, os.PathLike)) and os.fspath(name).endswith(".npy")


def toy_file_rows(path):
    """The (training rows, held-out rows) of the ``.npy`` file at ``path``, NumPy arrays of its dtype.

    The file must hold an (N, D) float array with N >= 2, D >= 1 and finite values, readable by
    ``numpy.load`` without pickle. The split is described in the module docstring. The result is
    cached while the file's modification time and size stay the same.

    Raises
    ------
    ValueError
        Naming the file, what was expected and what it holds.
    """
    p = os.fspath(path)
    if not os.path.isfile(p):
        raise ValueError(f"data: no such file {p!r} (expected a .npy file holding an (N, D) float array, "
                         f"or one of {sorted(TOY_DATASETS)})")
    st = os.stat(p)
    return _file_rows(os.path.realpath(p), st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=4)
def _file_rows(path, mtime_ns, size):
    import numpy  # file input: .npy is NumPy's format

    try:
        a = numpy.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise ValueError(f"data: {path!r} is not a .npy file that numpy.load reads without pickle ({e})") from None
    if not isinstance(a, numpy.ndarray) or a.ndim != 2 or a.shape[1] < 1:
        raise ValueError(f"data: {path!r} must hold an (N, D) array, got "
                         f"{'shape ' + str(a.shape) if isinstance(a, numpy.ndarray) else type(a).__name__}")
    if a.dtype.kind != "f":
        raise ValueError(f"data: {path!r} must hold a float array, got dtype {a.dtype}; "
                         f"save x.astype('float32') instead")
    if a.shape[0] < 2:
        raise ValueError(f"data: {path!r} must hold at least 2 rows (one to train on, one held out), got {a.shape[0]}")
    bad = numpy.flatnonzero(~numpy.isfinite(a).all(axis=1))
    if bad.size:
        raise ValueError(f"data: {path!r} must hold finite values, got {bad.size} rows with NaN or inf "
                         f"(the first is row {bad[0]}: {a[bad[0]].tolist()})")
    perm = numpy.random.default_rng(SPLIT_SEED).permutation(a.shape[0])
    n_held = max(1, round(HELD_OUT_FRACTION * a.shape[0]))
    return a[perm[n_held:]], a[perm[:n_held]]


def check_toy_data(name):
    """Raise ``ValueError`` unless ``name`` is a name of ``TOY_DATASETS`` or a readable ``.npy`` file of an
    (N, D) float array (:func:`toy_file_rows` names what is wrong with it). Returns ``name``."""
    if is_toy_file(name):
        toy_file_rows(name)
    elif name not in TOY_DATASETS:
        raise ValueError(f"data must be one of {sorted(TOY_DATASETS)} or the path of a .npy file holding an "
                         f"(N, D) float array, got {name!r}")
    return name


def load_toy(name, n, seed=None, split="train") -> ToyData:
    """n points of a toy set: a name of ``TOY_DATASETS`` (ring8, grid25, swissroll, moons, gauss8,
    checkerboard: 2-D; mixture1d: 1-D) or the path of a ``.npy`` file of an (N, D) float array.

    For a name, every call draws fresh points from the distribution, so ``split`` changes nothing (a
    held-out set is a draw with its own seed). For a file, ``split="train"`` draws n training rows
    with replacement and ``split="test"`` returns the first min(n, held-out rows) held-out rows
    (see the module docstring); the rows are cast to the default dtype.
    """
    if split not in ("train", "test"):
        raise ValueError(f"load_toy: split must be 'train' or 'test', got {split!r}")
    if is_toy_file(name):
        _check_n(n)
        train, held = toy_file_rows(name)
        if split == "test":
            rows = held[:n]
        else:
            rows = train[to_numpy(rng(seed).integers(0, train.shape[0], size=n))]
        return ToyData(get_xp().asarray(rows.astype(default_dtype())))
    if name not in TOY_DATASETS:
        raise ValueError(f"unknown toy data set {name!r}; choose one of {sorted(TOY_DATASETS)} or give the path "
                         f"of a .npy file")
    return TOY_DATASETS[name](n, seed=seed)
