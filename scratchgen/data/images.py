"""The image data of the image GANs: the 8×8 digits (shipped) or 28×28 MNIST files, in one shape.

:func:`load_image_data` returns the training and held-out images and labels as
(N, 1, s, s) arrays in [-1, 1], whichever the source:

* ``data="digits"``: the stratified 70/30 split of :func:`scratchgen.data.digits.digits_split`
  (the metrics classifier never saw the 30 %), s = 8;
* ``data="mnist"``: the train and test IDX files at ``mnist_path``
  (:func:`scratchgen.data.mnist.load_mnist`), checked as ``mnist_checksums`` says
  (``"standard"``: the original files' MD5; ``"none"``; or a JSON file {filename: hexdigest}), s = 28.
"""
from __future__ import annotations

import json
from typing import NamedTuple

from .mnist import MNIST_FILES, ChecksumError, _digest_kind, load_mnist

__all__ = ["ImageData", "load_image_data", "check_image_data", "pad_images", "N_CLASSES", "DATASETS"]

N_CLASSES = 10  # the digits 0-9, in the 8×8 set and in MNIST
DATASETS = ("digits", "mnist")


class ImageData(NamedTuple):
    """Training and held-out images of one data set, on the active backend."""

    x_train: object  # (N, 1, s, s) in [-1, 1]
    y_train: object  # (N,) int
    x_test: object  # held out: the reference set of the metrics, the test set of the SS-GAN
    y_test: object
    size: int  # s


def load_image_data(cfg) -> ImageData:
    """The images a run trains and is scored on.

    Digits: the 70/30 split of :func:`scratchgen.data.digits.digits_split` (the metrics
    classifier never saw the 30 %). MNIST: the train and test files at ``cfg.mnist_path``, checked
    as ``cfg.mnist_checksums`` says.

    Parameters
    ----------
    cfg : ImageGANConfig
        Its ``data`` ("digits" | "mnist"), ``mnist_path`` and ``mnist_checksums`` (any object with
        these three attributes will do).

    Returns
    -------
    ImageData
        ``x_train`` (N, 1, s, s) in [-1, 1], ``y_train`` (N,), ``x_test``, ``y_test``, ``size`` s (8 or 28).
    """
    if cfg.data == "digits":
        from ..data.digits import digits_split

        s = digits_split()
        return ImageData(s.x_train, s.y_train, s.x_test, s.y_test, 8)
    sums = _mnist_checksums(cfg.mnist_checksums)
    if isinstance(sums, dict):
        missing = [n for part in ("train", "test") for n in MNIST_FILES[part] if n not in sums]
        if missing:
            raise ValueError(f"mnist_checksums: {cfg.mnist_checksums!r} lists no digest for {', '.join(missing)}; "
                             "add them, or skip the check with mnist_checksums='none' (--mnist-checksums none)")
    try:
        tr, te = load_mnist(cfg.mnist_path, "train", checksums=sums), load_mnist(cfg.mnist_path, "test", checksums=sums)
    except ChecksumError as e:
        if sums == "standard":
            why = ("not the original MNIST files, or damaged ones. For another copy, give its digests in a JSON file "
                   "{filename: hexdigest} with mnist_checksums=FILE (--mnist-checksums FILE; demos/mnist_subset.py "
                   "writes checksums.json)")
        else:
            why = f"a damaged file, or not the one whose digest {cfg.mnist_checksums!r} lists"
        raise ChecksumError(e.path, e.algorithm, e.expected, e.got,
                            f"{why}; mnist_checksums='none' (--mnist-checksums none) skips the check") from e
    if tr.images.shape[2:] != (28, 28) or te.images.shape[2:] != (28, 28):
        raise ValueError(f"data='mnist' needs 28×28 images, received {tuple(tr.images.shape[2:])} (train) and "
                         f"{tuple(te.images.shape[2:])} (test) from {cfg.mnist_path}")
    return ImageData(tr.images, tr.labels, te.images, te.labels, 28)


def check_image_data(cfg, who):
    """Check a config's ``data``, ``mnist_path`` and ``mnist_checksums`` together, before any file is read:
    ``mnist_path`` is needed with ``data="mnist"`` and refused with the digits, and so is a non-default
    ``mnist_checksums``. Raises :class:`~scratchgen.validate.BadValue` naming the field."""
    from ..validate import bad, check_choice

    check_choice(cfg.data, "data", who, DATASETS)
    if cfg.data == "mnist" and not cfg.mnist_path:
        raise bad(who, "mnist_path", "name the folder with the four MNIST IDX .gz files when {data} is 'mnist'",
                  cfg.mnist_path)
    if not isinstance(cfg.mnist_checksums, str) or not cfg.mnist_checksums:
        raise bad(who, "mnist_checksums", "be 'standard', 'none' or the path of a JSON file "
                  "{{filename: hexdigest}}", cfg.mnist_checksums)
    if cfg.data != "mnist" and cfg.mnist_path:
        raise bad(who, "mnist_path", f"be None with {{data}} {cfg.data!r} (it is read with {{data}} 'mnist' only)",
                  cfg.mnist_path)
    if cfg.data != "mnist" and cfg.mnist_checksums != "standard":
        raise bad(who, "mnist_checksums", f"be 'standard' with {{data}} {cfg.data!r} (it is read with {{data}} "
                  "'mnist' only)", cfg.mnist_checksums)


def pad_images(data: ImageData, size: int) -> ImageData:
    """``data`` with every image padded evenly with the background value -1 to ``size``×``size`` (MNIST's
    28×28 to 32×32, so that networks which halve the side several times divide it evenly)."""
    from ..backend import get_xp

    p = size - data.size
    if p < 0 or p % 2:
        raise ValueError(f"pad_images: size must be >= {data.size} and differ from it by an even number, got {size}")
    if p == 0:
        return data
    xp = get_xp(data.x_train)
    w = ((0, 0), (0, 0), (p // 2, p // 2), (p // 2, p // 2))
    pad = lambda a: xp.pad(a, w, constant_values=-1.0)  # noqa: E731
    return data._replace(x_train=pad(data.x_train), x_test=pad(data.x_test), size=size)


def _mnist_checksums(spec):
    """``ImageGANConfig.mnist_checksums`` as :func:`~scratchgen.data.mnist.load_mnist` takes it."""
    if spec in ("standard", "none"):
        return None if spec == "none" else "standard"
    try:
        with open(spec) as f:
            sums = json.load(f)
    except (OSError, ValueError) as e:
        raise ValueError(f"mnist_checksums: expected 'standard', 'none' or a JSON file {{filename: hexdigest}}; "
                         f"cannot read {spec!r} as such a file: {e}") from e
    if not (isinstance(sums, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in sums.items())):
        raise ValueError(f"mnist_checksums: {spec!r} must hold a JSON object {{filename: hexdigest}}, received "
                         f"{type(sums).__name__}")
    bad = {k: v for k, v in sums.items() if _digest_kind(v) is None}
    if bad:
        raise ValueError(f"mnist_checksums: {spec!r}: each digest must be 32 (MD5) or 64 (SHA-256) hex digits, "
                         f"received {bad}")
    return sums
