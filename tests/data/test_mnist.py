"""MNIST IDX loader: parsing against hand-written bytes, checksums, and clear errors, on small files written here."""
import gzip
import hashlib
import struct

import numpy as np
import pytest

from scratchgen.data.mnist import (
    MNIST_FILES,
    ChecksumError,
    IDXFormatError,
    load_mnist,
    read_idx,
    write_idx,
)


def _md5(path):
    return hashlib.md5(open(path, "rb").read()).hexdigest()


@pytest.fixture
def mnist_dir(tmp_path):
    """A 'train' split of 5 random 28×28 images and labels, written as IDX .gz; returns (dir, images, labels, md5s)."""
    g = np.random.default_rng(0)
    images = g.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    labels = np.array([0, 9, 3, 3, 7], dtype=np.uint8)
    fi, fl = MNIST_FILES["train"]
    write_idx(tmp_path / fi, images)
    write_idx(tmp_path / fl, labels)
    sums = {fi: _md5(tmp_path / fi), fl: _md5(tmp_path / fl)}
    return tmp_path, images, labels, sums


def test_read_idx_parses_hand_written_big_endian_header(tmp_path):
    # magic 0x00000803 (ubyte, 3 dims), sizes 2, 3, 4 as big-endian uint32, then 24 bytes
    data = bytes(range(24))
    raw = b"\x00\x00\x08\x03" + struct.pack(">III", 2, 3, 4) + data
    p = tmp_path / "x-idx3-ubyte.gz"
    with gzip.open(p, "wb") as f:
        f.write(raw)
    a = read_idx(p)
    assert a.shape == (2, 3, 4) and a.dtype == np.uint8
    assert a[1, 2, 3] == 23 and a[0, 1, 0] == 4
    # uncompressed too; and a size above 255 checks all four header bytes are read
    q = tmp_path / "y-idx1-ubyte"
    q.write_bytes(b"\x00\x00\x08\x01" + struct.pack(">I", 300) + bytes(300))
    assert read_idx(q).shape == (300,)


def test_write_read_round_trip(tmp_path):
    a = np.random.default_rng(1).integers(0, 256, (3, 7, 5), dtype=np.uint8)
    assert np.array_equal(read_idx(write_idx(tmp_path / "a.gz", a)), a)


def test_load_mnist_with_checksums(mnist_dir):
    d, images, labels, sums = mnist_dir
    raw = load_mnist(d, "train", scale="raw", checksums=sums)
    assert raw.images.shape == (5, 1, 28, 28) and raw.images.dtype == np.float32
    assert np.array_equal(raw.images[:, 0], images.astype(np.float32))
    assert np.array_equal(raw.labels, labels) and raw.labels.dtype == np.int64
    unit = load_mnist(d, "train", checksums=sums)
    assert unit.images.dtype == np.float32
    np.testing.assert_allclose(unit.images[:, 0], images / 127.5 - 1, rtol=0, atol=1e-6)
    assert float(unit.images.min()) >= -1 and float(unit.images.max()) <= 1
    # SHA-256 digests are accepted as well
    sha = {k: hashlib.sha256(open(d / k, "rb").read()).hexdigest() for k in sums}
    assert np.array_equal(load_mnist(d, "train", checksums=sha).labels, labels)


def test_checksum_mismatch_names_file_and_both_hashes(mnist_dir):
    d, _, _, sums = mnist_dir
    fi = MNIST_FILES["train"][0]
    bad = dict(sums, **{fi: "0" * 32})
    with pytest.raises(ChecksumError) as e:
        load_mnist(d, "train", checksums=bad)
    msg = str(e.value)
    assert fi in msg and "0" * 32 in msg and sums[fi] in msg
    # the standard checksums reject files that are not the original MNIST files
    with pytest.raises(ChecksumError, match="f68b3c2dcbeaaa9fbdd348bbdeb94873"):
        load_mnist(d, "train")
    # skipping the check loads them
    assert load_mnist(d, "train", checksums=None).images.shape == (5, 1, 28, 28)


def test_malformed_files_raise_clear_errors(tmp_path, mnist_dir):
    p = tmp_path / "bad.gz"
    with gzip.open(p, "wb") as f:
        f.write(b"\x01\x00\x08\x01" + struct.pack(">I", 2) + b"\x00\x01")
    with pytest.raises(IDXFormatError, match="magic"):
        read_idx(p)
    with gzip.open(p, "wb") as f:  # header says 10 bytes, the file has 3
        f.write(b"\x00\x00\x08\x01" + struct.pack(">I", 10) + b"\x00\x01\x02")
    with pytest.raises(IDXFormatError, match="needs 10 data bytes"):
        read_idx(p)
    with gzip.open(p, "wb") as f:  # type 0x0D (float): not MNIST
        f.write(b"\x00\x00\x0d\x01" + struct.pack(">I", 1) + b"\x00\x00\x00\x00")
    with pytest.raises(IDXFormatError, match="type code"):
        read_idx(p)
    d, _, _, _ = mnist_dir
    with pytest.raises(FileNotFoundError, match="t10k-images"):
        load_mnist(d, "test", checksums=None)
    with pytest.raises(ValueError, match="split"):
        load_mnist(d, "validation")


def test_labels_out_of_range_rejected(tmp_path):
    fi, fl = MNIST_FILES["test"]
    write_idx(tmp_path / fi, np.zeros((2, 28, 28), np.uint8))
    write_idx(tmp_path / fl, np.array([1, 12], np.uint8))
    with pytest.raises(IDXFormatError, match="0..9"):
        load_mnist(tmp_path, "test", checksums=None)


def test_write_idx_never_leaves_a_half_written_file(tmp_path, monkeypatch):
    path = tmp_path / "x-idx1-ubyte.gz"
    write_idx(path, np.arange(5, dtype=np.uint8))
    old = path.read_bytes()

    def crash(self, data):
        raise KeyboardInterrupt("simulated crash while writing")

    monkeypatch.setattr(gzip.GzipFile, "write", crash)
    with pytest.raises(KeyboardInterrupt):
        write_idx(path, np.zeros(1000, dtype=np.uint8))
    monkeypatch.undo()
    assert path.read_bytes() == old and [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file
    assert np.array_equal(read_idx(path), np.arange(5))
