r"""MNIST from the standard IDX files (gzip) at a path the user gives, with checksum verification.

scratchgen never downloads anything: fetch the four files yourself (LeCun, Cortes & Burges,
*The MNIST database of handwritten digits*) into one folder and pass that folder.

File format (the IDX format, described on the MNIST page)
---------------------------------------------------------
All integers are big-endian. A file starts with a 4-byte *magic number* ``0x00 0x00 T n``:
two zero bytes, a type code ``T`` (``0x08`` = unsigned byte, the only type MNIST uses) and the
number of dimensions ``n``; then ``n`` sizes as 4-byte integers; then the data in C order.

* images: magic ``0x00000803`` (ubyte, 3 dims), sizes ``(N, 28, 28)``, pixels 0..255;
* labels: magic ``0x00000801`` (ubyte, 1 dim), size ``(N,)``, labels 0..9.

Checksums
---------
Each ``.gz`` file's MD5 is compared with ``MNIST_MD5`` (the values torchvision uses for the
original files) before it is parsed; a mismatch raises :class:`ChecksumError` naming the file
and both hashes. Pass ``checksums={filename: hexdigest}`` for other copies (the hash type is
read from the digest's length: 32 hex digits MD5, 64 SHA-256), or ``checksums=None`` to skip.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import struct
from typing import NamedTuple

import numpy  # file I/O only

from ..backend import asarray, default_dtype
from ..checkpoint import atomic_write

__all__ = ["MNIST_FILES", "MNIST_MD5", "ChecksumError", "IDXFormatError", "Mnist", "load_mnist",
           "read_idx", "write_idx", "file_hash"]

MNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
_UBYTE = 0x08


class ChecksumError(ValueError):
    """A data file's hash differs from the expected one: ``path``, ``algorithm``, ``expected`` and
    ``got`` say which file and which hashes, ``advice`` what to do about it."""

    def __init__(self, path, algorithm, expected, got, advice):
        super().__init__(f"checksum mismatch for {path}: expected {algorithm} {expected}, got {got} ({advice})")
        self.path, self.algorithm, self.expected, self.got = path, algorithm, expected, got


class IDXFormatError(ValueError):
    """A file is not a well-formed IDX file of the expected kind."""


class Mnist(NamedTuple):
    images: object  # (N, 1, 28, 28) float
    labels: object  # (N,) int64, 0..9


def file_hash(path, algorithm="md5", chunk=1 << 20) -> str:
    """Hex digest of the file at ``path`` (``"md5"`` or ``"sha256"``), read in chunks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def _digest_kind(expected):
    """``"md5"`` or ``"sha256"`` for a hex digest of 32 or 64 digits, else None."""
    e = expected.strip().lower()
    if all(c in "0123456789abcdef" for c in e):
        return {32: "md5", 64: "sha256"}.get(len(e))
    return None


def _verify(path, expected):
    expected = expected.strip().lower()
    algorithm = _digest_kind(expected)
    if algorithm is None:
        raise ValueError(f"load_mnist: expected checksum for {path} must be 32 (MD5) or 64 (SHA-256) hex digits, "
                         f"got {expected!r}")
    got = file_hash(path, algorithm)
    if got != expected:
        raise ChecksumError(path, algorithm, expected, got, "a corrupt or different file; pass checksums=None to skip the check")


def read_idx(path):
    """Parse an IDX file (gzip-compressed if its name ends in ``.gz``) into a ``uint8`` NumPy array.

    Raises :class:`IDXFormatError` naming the file if the magic number, the type code or the
    length of the data disagrees with the header.
    """
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4:
        raise IDXFormatError(f"{path}: too short for an IDX header ({len(raw)} bytes)")
    zero0, zero1, dtype_code, ndim = raw[0], raw[1], raw[2], raw[3]
    if zero0 != 0 or zero1 != 0:
        raise IDXFormatError(f"{path}: not an IDX file: magic number {raw[:4].hex()} should start with 0000")
    if dtype_code != _UBYTE:
        raise IDXFormatError(f"{path}: IDX type code 0x{dtype_code:02x}; only unsigned bytes (0x08) are supported")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise IDXFormatError(f"{path}: header announces {ndim} dimensions but the file has {len(raw)} bytes")
    shape = struct.unpack(f">{ndim}I", raw[4:header])  # big-endian uint32 sizes
    n = int(numpy.prod(shape, dtype=numpy.int64))
    if len(raw) - header != n:
        raise IDXFormatError(f"{path}: header shape {shape} needs {n} data bytes, the file has {len(raw) - header}")
    return numpy.frombuffer(raw, dtype=numpy.uint8, offset=header).reshape(shape)


def write_idx(path, array):
    """Write a ``uint8`` array as an IDX file (gzip if ``path`` ends in ``.gz``).

    The file is written with :func:`scratchgen.checkpoint.atomic_write`, so ``path`` is never left
    half-written; the gzip header carries no time stamp, so the same array gives the same bytes
    (and the same checksum) wherever zlib compresses alike. The tests and ``demos/mnist_subset.py`` use it."""
    a = numpy.ascontiguousarray(array)
    if a.dtype != numpy.uint8:
        raise ValueError(f"write_idx: array must be uint8, got {a.dtype}")
    head = bytes([0, 0, _UBYTE, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape)
    path = os.fspath(path)
    with atomic_write(path) as raw:
        if path.endswith(".gz"):
            with gzip.GzipFile(filename=os.path.basename(path), mode="wb", fileobj=raw, mtime=0) as f:
                f.write(head + a.tobytes())
        else:
            raw.write(head + a.tobytes())
    return path


def load_mnist(path, split="train", scale="unit", checksums="standard", dtype=None) -> Mnist:
    r"""MNIST images (N, 1, 28, 28) and labels (N,) from the IDX ``.gz`` files in folder ``path``.

    Parameters
    ----------
    path : folder holding ``train-images-idx3-ubyte.gz`` etc. (see ``MNIST_FILES``)
    split : "train" (60,000) or "test" (10,000)
    scale : "unit" (:math:`x/127.5 - 1 \in [-1, 1]`, for tanh generators) or "raw" (0..255)
    checksums : "standard" (``MNIST_MD5``), a dict ``{filename: hexdigest}``, or None (no check)
    dtype : float dtype, default the library default (float32)
    """
    if split not in MNIST_FILES:
        raise ValueError(f"load_mnist: split must be one of {sorted(MNIST_FILES)}, got {split!r}")
    if scale not in ("unit", "raw"):
        raise ValueError(f"load_mnist: scale must be 'unit' or 'raw', got {scale!r}")
    if checksums == "standard":
        checksums = MNIST_MD5
    if checksums is not None and not isinstance(checksums, dict):
        raise TypeError(f"load_mnist: checksums must be 'standard', a dict or None, got {type(checksums).__name__}")
    files = [os.path.join(path, name) for name in MNIST_FILES[split]]
    for f, name in zip(files, MNIST_FILES[split]):
        if not os.path.exists(f):
            raise FileNotFoundError(f"load_mnist: {f} not found; download the MNIST IDX files into {path} "
                                    "(scratchgen does not download)")
        if checksums is not None:
            if name not in checksums:
                raise ValueError(f"load_mnist: no checksum given for {name}; add it to checksums or pass checksums=None")
            _verify(f, checksums[name])
    images, labels = read_idx(files[0]), read_idx(files[1])
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise IDXFormatError(f"load_mnist: expected images (N, H, W) and labels (N,), got {images.shape} from "
                             f"{files[0]} and {labels.shape} from {files[1]}")
    if labels.size and int(labels.max()) > 9:
        raise IDXFormatError(f"load_mnist: labels must be in 0..9, {files[1]} has {int(labels.max())}")
    x = images.astype(dtype or default_dtype())[:, None]  # (N, 1, H, W)
    if scale == "unit":
        x = x / x.dtype.type(127.5) - x.dtype.type(1)
    return Mnist(asarray(x), asarray(labels.astype(numpy.int64)))
