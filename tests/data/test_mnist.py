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
    file_hash,
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


# ---------------------------------------------------------------------------
# Documented contracts, one by one
# ---------------------------------------------------------------------------
def test_write_idx_gives_the_same_bytes_for_the_same_array_and_refuses_non_bytes(tmp_path):
    a = np.arange(60, dtype=np.uint8).reshape(3, 4, 5)
    p, q = tmp_path / "a-idx3-ubyte.gz", tmp_path / "b-idx3-ubyte.gz"
    write_idx(p, a)
    write_idx(q, a)
    raw = p.read_bytes()
    assert raw[4:8] == b"\x00\x00\x00\x00"  # the gzip header's time stamp (MTIME) is 0
    assert raw[:3] == b"\x1f\x8b\x08"  # a gzip file, since the name ends in .gz
    # the same array gives the same bytes: only the name stored in the header differs
    assert gzip.decompress(raw) == gzip.decompress(q.read_bytes())
    assert raw.replace(b"a-idx3", b"b-idx3") == q.read_bytes()
    u = write_idx(tmp_path / "c-idx3-ubyte", a)  # no .gz: the raw IDX bytes
    assert open(u, "rb").read() == b"\x00\x00\x08\x03" + struct.pack(">III", 3, 4, 5) + a.tobytes()
    with pytest.raises(ValueError, match="write_idx: array must be uint8, got int64"):
        write_idx(tmp_path / "d", np.zeros(3, dtype=np.int64))


def test_file_hash_is_hashlib_read_in_chunks(tmp_path):
    p = tmp_path / "f.bin"
    p.write_bytes(bytes(range(256)) * 10)
    assert file_hash(p) == hashlib.md5(p.read_bytes()).hexdigest()
    assert file_hash(p, "sha256", chunk=7) == hashlib.sha256(p.read_bytes()).hexdigest()


def test_checksum_error_carries_the_file_and_both_hashes(mnist_dir):
    d, _, _, sums = mnist_dir
    fl = MNIST_FILES["train"][1]
    with pytest.raises(ChecksumError) as e:
        load_mnist(d, "train", checksums=dict(sums, **{fl: "a" * 64}))
    err = e.value
    assert err.path.endswith(fl) and err.algorithm == "sha256" and err.expected == "a" * 64
    assert err.got == hashlib.sha256(open(d / fl, "rb").read()).hexdigest()


def test_load_mnist_names_bad_options_and_keeps_the_dtype(mnist_dir):
    d, images, _, sums = mnist_dir
    with pytest.raises(ValueError, match="load_mnist: scale must be 'unit' or 'raw', got 'pm1'"):
        load_mnist(d, "train", scale="pm1", checksums=sums)
    with pytest.raises(TypeError, match="load_mnist: checksums must be 'standard', a dict or None, got list"):
        load_mnist(d, "train", checksums=[])
    fi = MNIST_FILES["train"][0]
    with pytest.raises(ValueError, match=f"load_mnist: no checksum given for {fi}"):
        load_mnist(d, "train", checksums={MNIST_FILES["train"][1]: sums[MNIST_FILES["train"][1]]})
    with pytest.raises(ValueError, match=r"must be 32 \(MD5\) or 64 \(SHA-256\) hex digits, got 'xyz'"):
        load_mnist(d, "train", checksums=dict(sums, **{fi: "xyz"}))
    x = load_mnist(d, "train", scale="raw", checksums=sums, dtype=np.float64).images
    assert x.dtype == np.float64 and np.array_equal(x[:, 0], images.astype(np.float64))


def test_images_and_labels_must_agree_and_headers_must_be_complete(tmp_path):
    fi, fl = MNIST_FILES["test"]
    write_idx(tmp_path / fi, np.zeros((3, 28, 28), np.uint8))
    write_idx(tmp_path / fl, np.zeros(2, np.uint8))
    with pytest.raises(IDXFormatError, match=r"expected images \(N, H, W\) and labels \(N,\), got \(3, 28, 28\)"):
        load_mnist(tmp_path, "test", checksums=None)
    p = tmp_path / "short"
    p.write_bytes(b"\x00\x00")
    with pytest.raises(IDXFormatError, match="too short for an IDX header"):
        read_idx(p)
    p.write_bytes(b"\x00\x00\x08\x03" + struct.pack(">I", 2))  # 3 sizes announced, 1 present
    with pytest.raises(IDXFormatError, match="header announces 3 dimensions but the file has 8 bytes"):
        read_idx(p)
