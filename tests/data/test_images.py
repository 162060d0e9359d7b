"""scratchgen.data.images.load_image_data on its own: the digits split or 28×28 MNIST files, in one shape,
from any object with data, mnist_path and mnist_checksums. (The trainers' use of it, and the messages of
bad checksum files, are in tests/gan/test_image_mnist.py.)"""
import json
from types import SimpleNamespace

import numpy as np
import pytest

from scratchgen.data.digits import digits_split
from scratchgen.data.images import N_CLASSES, ImageData, load_image_data
from scratchgen.data.mnist import MNIST_FILES, ChecksumError, file_hash, write_idx


def _files(d, side=28, n=(4, 3)):
    g = np.random.default_rng(0)
    for part, count in zip(("train", "test"), n):
        fi, fl = MNIST_FILES[part]
        write_idx(d / fi, g.integers(0, 256, (count, side, side), dtype=np.uint8))
        write_idx(d / fl, g.integers(0, 10, count, dtype=np.uint8))
    sums = {name: file_hash(d / name, "sha256") for part in ("train", "test") for name in MNIST_FILES[part]}
    (d / "sums.json").write_text(json.dumps(sums))
    return str(d / "sums.json")


def test_digits_are_the_metrics_split_at_side_8():
    data = load_image_data(SimpleNamespace(data="digits", mnist_path=None, mnist_checksums="standard"))
    s = digits_split()
    assert isinstance(data, ImageData) and data.size == 8 and N_CLASSES == 10
    for got, want in zip(data[:4], s):
        np.testing.assert_array_equal(got, want)


def test_mnist_files_come_back_in_minus_1_1_at_side_28(tmp_path):
    sums = _files(tmp_path)
    data = load_image_data(SimpleNamespace(data="mnist", mnist_path=str(tmp_path), mnist_checksums=sums))
    assert data.size == 28 and data.x_train.shape == (4, 1, 28, 28) and data.x_test.shape == (3, 1, 28, 28)
    assert data.y_train.shape == (4,) and data.y_test.shape == (3,)
    assert float(data.x_train.min()) >= -1 and float(data.x_train.max()) <= 1
    same = load_image_data(SimpleNamespace(data="mnist", mnist_path=str(tmp_path), mnist_checksums="none"))
    np.testing.assert_array_equal(same.x_train, data.x_train)
    # the standard digests are the original files': these are not, and the error says how to go on
    with pytest.raises(ChecksumError, match="mnist_checksums='none' \\(--mnist-checksums none\\) skips the check"):
        load_image_data(SimpleNamespace(data="mnist", mnist_path=str(tmp_path), mnist_checksums="standard"))


def test_mnist_files_of_another_side_are_refused(tmp_path):
    _files(tmp_path, side=8)
    with pytest.raises(ValueError, match=r"data='mnist' needs 28×28 images, received \(8, 8\) \(train\)"):
        load_image_data(SimpleNamespace(data="mnist", mnist_path=str(tmp_path), mnist_checksums="none"))
