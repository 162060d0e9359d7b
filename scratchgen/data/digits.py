r"""The 8×8 handwritten digits: 1,797 grey images, pixel values 0..16, labels 0..9.

Source and licence
------------------
E. Alpaydin and C. Kaynak (1998), *Optical Recognition of Handwritten Digits* [data set],
UCI Machine Learning Repository, https://doi.org/10.24432/C50P49, licensed under
Creative Commons Attribution 4.0 International (CC BY 4.0,
https://creativecommons.org/licenses/by/4.0/).

The 1,797 images are the UCI set's test part (13 writers), the copy that scikit-learn ships
as ``sklearn.datasets.load_digits``. Each image counts the "on" pixels of a 32×32 NIST
bitmap in non-overlapping 4×4 blocks, hence the values 0..16. We store them unchanged
(``uint8``) in ``digits.npz`` next to this module (package data; see ``DIGITS_LICENSE.txt``)
so that loading needs no network and no scikit-learn. The file was written once by
:func:`build_digits_file` (``python -m scratchgen.data.digits --build``, which needs the
``data-build`` extra).
"""
from __future__ import annotations

import os
from typing import NamedTuple

import numpy  # file I/O only

from ..backend import asarray, default_dtype, get_xp, rng

__all__ = ["Digits", "load_digits", "DIGITS_PATH", "build_digits_file", "DigitsSplit", "digits_split",
           "random_shift", "SPLIT_SEED", "TEST_FRACTION"]

DIGITS_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "digits.npz")
N_DIGITS = 1797
SPLIT_SEED = 0  # the held-out split of the library's metrics (digits_split)
TEST_FRACTION = 0.3


class Digits(NamedTuple):
    """Images and labels of the 8×8 digits."""

    images: object  # (N, 1, 8, 8) float, values 0..16 (or scaled, see load_digits)
    labels: object  # (N,) int64, 0..9


def load_digits(scale: str = "raw", dtype=None) -> Digits:
    r"""The 1,797 images as an array (N, 1, 8, 8) on the active backend, and their labels (N,).

    Parameters
    ----------
    scale : "raw" or "unit"
        "raw": pixel values 0..16 as floats. "unit": :math:`x/8 - 1 \in [-1, 1]`, the range
        Ho et al. use for images.
    dtype : float dtype, default the library default (float32)
    """
    if scale not in ("raw", "unit"):
        raise ValueError(f"load_digits: scale must be 'raw' or 'unit', got {scale!r}")
    if not os.path.exists(DIGITS_PATH):
        raise FileNotFoundError(f"load_digits: the shipped data file {DIGITS_PATH} is missing; reinstall scratchgen "
                                "or rebuild it with `python -m scratchgen.data.digits --build`")
    with numpy.load(DIGITS_PATH) as z:
        images, labels = z["images"], z["labels"]
    if images.shape != (N_DIGITS, 8, 8) or labels.shape != (N_DIGITS,):
        raise ValueError(f"load_digits: {DIGITS_PATH} holds images {images.shape} and labels {labels.shape}, "
                         f"expected ({N_DIGITS}, 8, 8) and ({N_DIGITS},)")
    x = images.astype(dtype or default_dtype())[:, None]  # (N, 1, 8, 8)
    if scale == "unit":
        x = x / x.dtype.type(8) - x.dtype.type(1)
    return Digits(asarray(x), asarray(labels.astype(numpy.int64)))


class DigitsSplit(NamedTuple):
    x_train: object  # (N_train, 1, 8, 8) in [-1, 1]
    y_train: object  # (N_train,)
    x_test: object  # (N_test, 1, 8, 8)
    y_test: object  # (N_test,)


def digits_split(test_fraction=TEST_FRACTION, seed=SPLIT_SEED) -> DigitsSplit:
    """The 8×8 digits split into train and held-out test sets, stratified by class.

    From each class, ``round(test_fraction · n_k)`` images, chosen with ``scratchgen.backend.rng(seed).permutation``, go to the test
    set. With the defaults: 1,258 train and 539 test images.
    """
    x, y = load_digits(scale="unit")
    xp = get_xp(x)
    g = rng(seed)
    test = []
    for k in range(10):
        idx = xp.nonzero(y == k)[0]
        idx = idx[g.permutation(idx.shape[0])]
        test.append(idx[: int(round(test_fraction * idx.shape[0]))])
    test = xp.sort(xp.concatenate(test))
    mask = xp.ones(y.shape[0], dtype=bool)
    mask[test] = False
    return DigitsSplit(x[mask], y[mask], x[test], y[test])


def random_shift(x, g):
    """Each image (B, C, H, W) moved by (dy, dx) in {-1, 0, 1}², zeros (value -1, the background) shifted in."""
    xp = get_xp(x)
    B, _, H, W = x.shape
    pad = xp.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=-1)  # (B, C, H + 2, W + 2)
    dy, dx = g.integers(0, 3, B), g.integers(0, 3, B)  # the window of image b starts at (dy_b, dx_b)
    rows = (dy[:, None] + xp.arange(H))[:, :, None]  # (B, H, 1)
    cols = (dx[:, None] + xp.arange(W))[:, None, :]  # (B, 1, W)
    out = pad.transpose(0, 2, 3, 1)[xp.arange(B)[:, None, None], rows, cols]  # one gather: (B, H, W, C)
    return xp.ascontiguousarray(out.transpose(0, 3, 1, 2))


def build_digits_file(path: str = DIGITS_PATH) -> str:
    """Write ``digits.npz`` (uint8 images (1797, 8, 8), labels (1797,)) from scikit-learn's copy. Run once."""
    try:
        from sklearn.datasets import load_digits as sk_load_digits
    except ImportError as e:  # pragma: no cover - a maintainer's step
        raise ImportError("building digits.npz needs scikit-learn: pip install -e '.[data-build]' in the repository") from e
    d = sk_load_digits()
    images = d.images.astype(numpy.uint8)
    if not numpy.array_equal(images, d.images):
        raise ValueError("sklearn's digits are not integers in 0..16")
    numpy.savez_compressed(path, images=images, labels=d.target.astype(numpy.uint8))
    return path


if __name__ == "__main__":  # pragma: no cover
    import sys

    if sys.argv[1:] == ["--build"]:
        print("wrote", build_digits_file())
    else:
        print("usage: python -m scratchgen.data.digits --build")
