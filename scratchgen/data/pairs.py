r"""Image-to-image tasks on the 8×8 digits that need no download: paired, unpaired, and masked.

Every transform takes images x of shape (N, 1, H, W) with values in [-1, 1] (background -1,
ink +1, as :func:`scratchgen.data.digits.load_digits` with ``scale="unit"``) and returns images
of the same shape and range.

Paired tasks (pix2pix, Isola et al. 2017): the input is a function of the target.

* ``"denoise"``: corrupted → clean. The corruption :func:`corrupt` adds Gaussian noise of std
  σ and sets a fraction ρ of the pixels to ±1 at random ("salt and pepper"); σ = 0.3, ρ = 0.1 by default
  (the Bayes accuracy of the corrupted digits is 93.5–95.5 %, against 86–87 % at σ = 0.5, ρ = 0.2:
  ``benchmarks/denoise_ceiling.py`` and docs/results.md).
* ``"outline"``: digit → its outline, the external morphological gradient :func:`outline`,
  :math:`\delta x - x` with the dilation δ over the pixel and its 4 neighbours, rescaled to [-1, 1]
  (a one-pixel halo around the strokes).
* ``"fill"``: outline → digit (the direction of pix2pix's edges → photo).

Unpaired tasks (CycleGAN, Zhu et al. 2017): domain X is one half of the training digits,
domain Y the *other* half after a transform (so no image of Y is the transform of an image of
X): ``"outline"``, ``"thicken"`` (the grey dilation :func:`dilate`) or
``"invert"`` (:math:`-x`, its own inverse). Since the transform is known, a held-out digit's
true partner in Y is known too, and a trained generator can be scored against it.

Masked task (context encoders, Pathak et al. 2016): :func:`square_mask` hides a square of side
m at a random place in each image; :func:`apply_mask` fills it with 0 (mid-grey).
"""
from __future__ import annotations

from typing import NamedTuple

from ..backend import get_xp, rng

__all__ = ["CROSS", "PAIRED_TASKS", "UNPAIRED_TASKS", "TRANSFORMS", "corrupt", "outline", "dilate", "erode", "invert",
           "square_mask", "apply_mask", "PairedData", "paired_data", "UnpairedData", "unpaired_data"]


#: the structuring element of the dilation and erosion: the pixel and its 4 neighbours (a plus sign)
CROSS = ((0, 0), (-1, 0), (1, 0), (0, -1), (0, 1))


def _neighbourhood(x, reduce):
    """``reduce`` (max or min) over each pixel's :data:`CROSS` neighbourhood, (N, C, H, W); outside the image
    never wins (it counts as -1 for a maximum and +1 for a minimum)."""
    xp = get_xp(x)
    H, W = x.shape[2:]
    fill = -1.0 if reduce == "max" else 1.0
    p = xp.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=fill)  # (N, C, H + 2, W + 2)
    shifted = xp.stack([p[:, :, 1 + a:1 + a + H, 1 + b:1 + b + W] for a, b in CROSS])  # (5, N, C, H, W)
    return shifted.max(axis=0) if reduce == "max" else shifted.min(axis=0)


def dilate(x):
    r"""Grey dilation: :math:`(\delta x)_{ij} = \max_{(a, b) \in \mathrm{CROSS}} x_{i+a, j+b}` (strokes thicken)."""
    return _neighbourhood(x, "max")


def erode(x):
    r"""Grey erosion: :math:`(\varepsilon x)_{ij} = \min_{(a, b) \in \mathrm{CROSS}} x_{i+a, j+b}` (strokes thin)."""
    return _neighbourhood(x, "min")


def outline(x):
    r"""The external morphological gradient :math:`\delta x - x \in [0, 2]`, shifted to :math:`[-1, 1]`:
    bright on the background pixels next to ink (a halo one pixel wide around the digit)."""
    return dilate(x) - x - 1.0


def invert(x):
    """:math:`-x`: ink and background swap; its own inverse, so a CycleGAN with G = F = invert has zero cycle loss."""
    return -x


TRANSFORMS = {"outline": outline, "thicken": dilate, "invert": invert}
PAIRED_TASKS = ("denoise", "outline", "fill")
UNPAIRED_TASKS = tuple(TRANSFORMS)


def corrupt(x, gen, sigma=0.3, rho=0.1):
    r"""The corruption of the ``"denoise"`` task: :math:`\tilde x = \mathrm{clip}(x + \sigma\varepsilon, -1, 1)`,
    :math:`\varepsilon \sim \mathcal N(0, I)`, then a fraction ρ of the pixels (each independently) set to
    -1 or +1 with equal odds. ``gen`` is a seed or a generator (:func:`scratchgen.backend.rng`)."""
    g = rng(gen)
    xp = get_xp(x)
    noisy = xp.clip(x + sigma * g.standard_normal(x.shape).astype(x.dtype), -1, 1)
    hit = g.random(x.shape) < rho  # which pixels are overwritten
    salt = xp.where(g.random(x.shape) < 0.5, 1.0, -1.0).astype(x.dtype)
    return xp.where(hit, salt, noisy)


def square_mask(n, size, side, gen):
    r""":math:`\hat M` of Pathak et al. 2016, Eq. 1: (n, 1, size, size) float, 1 on a ``side``×``side`` square
    at a uniformly random place in each image (fully inside it), 0 elsewhere."""
    g = rng(gen)
    xp = g.xp
    top = g.integers(0, size - side + 1, n)  # (n,)
    left = g.integers(0, size - side + 1, n)
    r = xp.arange(size)
    rows = (r[None, :] >= top[:, None]) & (r[None, :] < top[:, None] + side)  # (n, size)
    cols = (r[None, :] >= left[:, None]) & (r[None, :] < left[:, None] + side)
    return (rows[:, :, None] & cols[:, None, :])[:, None].astype("float32")  # (n, 1, size, size)


def apply_mask(x, M):
    r"""The context the encoder sees: :math:`(1 - \hat M) \odot x` (the hole at 0, mid-grey in [-1, 1]),
    with :math:`\hat M` as a second channel so that the network knows where the hole is: (N, 2, H, W)."""
    xp = get_xp(x)
    M = M.astype(x.dtype)
    return xp.concatenate([(1 - M) * x, M], axis=1)


class PairedData(NamedTuple):
    """A paired task: inputs ``a`` and targets ``b`` (N, 1, 8, 8), with the digit labels, train and held out."""

    a_train: object
    b_train: object
    y_train: object
    a_test: object
    b_test: object
    y_test: object


def paired_data(task, seed=0, sigma=0.3, rho=0.1, split=None) -> PairedData:
    """The pairs of ``task`` (one of :data:`PAIRED_TASKS`) on ``split`` (anything with ``x_train``, ``y_train``,
    ``x_test``, ``y_test``; default :func:`scratchgen.data.digits.digits_split`, or e.g. MNIST from
    :func:`scratchgen.data.images.load_image_data`); the corruption of ``"denoise"`` is drawn once, from
    ``seed`` (train) and ``seed + 1`` (held out)."""
    from .digits import digits_split

    if task not in PAIRED_TASKS:
        raise ValueError(f"paired_data: task must be one of {PAIRED_TASKS}, got {task!r}")
    s = split if split is not None else digits_split()
    if task == "denoise":
        a_tr, a_te, b_tr, b_te = corrupt(s.x_train, seed, sigma, rho), corrupt(s.x_test, seed + 1, sigma, rho), \
            s.x_train, s.x_test
    elif task == "outline":
        a_tr, a_te, b_tr, b_te = s.x_train, s.x_test, outline(s.x_train), outline(s.x_test)
    else:  # fill: outline -> digit
        a_tr, a_te, b_tr, b_te = outline(s.x_train), outline(s.x_test), s.x_train, s.x_test
    return PairedData(a_tr, b_tr, s.y_train, a_te, b_te, s.y_test)


class UnpairedData(NamedTuple):
    """An unpaired task: domain X (digits) and domain Y (other digits, transformed), with held-out pairs."""

    x_train: object  # (N_x, 1, 8, 8): half of the training digits
    y_train: object  # (N_y, 1, 8, 8): the transform of the other half
    x_test: object  # held-out digits
    y_test: object  # their transforms (the true partners, for scoring only)
    labels_test: object  # the held-out digits' classes


def unpaired_data(transform, seed=0, split=None) -> UnpairedData:
    """Domain X: a random half of the training digits; domain Y: ``TRANSFORMS[transform]`` of the other half
    (disjoint images, chosen by ``seed``); the held-out digits and their true transforms for scoring.
    ``split``: as in :func:`paired_data` (default the 8×8 digits)."""
    from .digits import digits_split

    if transform not in TRANSFORMS:
        raise ValueError(f"unpaired_data: transform must be one of {UNPAIRED_TASKS}, got {transform!r}")
    T = TRANSFORMS[transform]
    s = split if split is not None else digits_split()
    perm = rng(seed).permutation(s.x_train.shape[0])
    half = perm.shape[0] // 2
    return UnpairedData(s.x_train[perm[:half]], T(s.x_train[perm[half:]]), s.x_test, T(s.x_test), s.y_test)
