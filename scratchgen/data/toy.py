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
"""
from __future__ import annotations

import math
from typing import NamedTuple

from ..backend import default_dtype, get_xp, rng

__all__ = [
    "ToyData", "ring_centres", "grid_centres", "ring", "grid", "swiss_roll", "two_moons",
    "mixture_1d", "mixture_1d_pdf", "load_toy", "TOY_DATASETS",
]


class ToyData(NamedTuple):
    """Samples and, for mixtures, the component centres and their standard deviation."""

    x: object  # (n, d) samples
    centres: object = None  # (modes, d) or None
    std: float | None = None


def _check_n(n):
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")


def ring_centres(modes=8, radius=1.0):
    r"""Centres :math:`r(\cos 2\pi k/m, \sin 2\pi k/m)`, k = 0..m-1, shape (modes, 2)."""
    if modes < 1 or radius <= 0:
        raise ValueError(f"ring needs modes >= 1 and radius > 0, got modes={modes}, radius={radius}")
    xp = get_xp()
    angle = 2 * math.pi * xp.arange(modes) / modes
    return xp.stack([radius * xp.cos(angle), radius * xp.sin(angle)], axis=1).astype(default_dtype())


def grid_centres(k=5, spacing=2.0):
    r"""Centres of a k×k grid, :math:`(i - (k-1)/2)\,\text{spacing}` per axis, shape (k², 2)."""
    if k < 1 or spacing <= 0:
        raise ValueError(f"grid needs k >= 1 and spacing > 0, got k={k}, spacing={spacing}")
    xp = get_xp()
    axis = (xp.arange(k) - (k - 1) / 2) * spacing
    gx, gy = xp.meshgrid(axis, axis, indexing="ij")
    return xp.stack([gx.ravel(), gy.ravel()], axis=1).astype(default_dtype())


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


TOY_DATASETS = {
    "ring8": lambda n, seed=None: ring(n, seed=seed),
    "grid25": lambda n, seed=None: grid(n, seed=seed),
    "swissroll": lambda n, seed=None: swiss_roll(n, seed=seed),
    "moons": lambda n, seed=None: two_moons(n, seed=seed),
    # 1-D: the mixture of mixture_1d's defaults (means ±2, std 0.5), for W1 and the 1-D pictures
    "mixture1d": lambda n, seed=None: ToyData(*mixture_1d(n, seed=seed)[:2], 0.5),
}


def load_toy(name, n, seed=None) -> ToyData:
    """One of ``TOY_DATASETS`` by name: ring8, grid25, swissroll, moons (2-D), mixture1d (1-D)."""
    if name not in TOY_DATASETS:
        raise ValueError(f"unknown toy data set {name!r}; choose one of {sorted(TOY_DATASETS)}")
    return TOY_DATASETS[name](n, seed=seed)
