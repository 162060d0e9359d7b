r"""Checkpoints: models, optimisers and RNG state in one ``.npz``, written atomically.

``save(state, path)`` takes a nested structure of dicts, lists and tuples
whose leaves are arrays (NumPy or CuPy), Tensors, Python numbers, strings,
None, or random generators (``sg.rng(seed)``, a ``numpy.random.Generator``), e.g.::

    sg.save({"G": G.state_dict(), "opt_G": opt_G.state_dict(),
             "rng": gen, "step": 1000}, "run/ckpt.npz")
    state = sg.load("run/ckpt.npz")
    G.load_state_dict(state["G"]); gen = sg.rng(state["rng"])

File format: a standard ``.npz`` (zip of ``.npy`` files, readable with
``numpy.load``). Each array is stored under its path in the structure
(``"G/0.weight"``); one extra entry, ``__scratchgen__``, holds the structure as
JSON with, for each array, its shape, dtype and CRC-32, so that a corrupt,
truncated or edited file is detected and the error names the file, the key
and the shapes.

Atomic write (:func:`atomic_write`, which other writers of the library use too):
the file is written to a temporary file in the same directory, flushed and
``os.fsync``-ed, then moved over ``path`` with ``os.replace`` (atomic on POSIX and
Windows), so a crash leaves either the old file or the new one, never half of one.

Loading returns NumPy arrays (``Module.load_state_dict`` moves them to the
active backend). Generators come back as ``numpy.random.Generator`` objects in
the saved state; ``sg.rng(...)`` makes them draw on the active backend again, so
``save``, ``load`` and continue gives the same random stream on either backend.
"""
from __future__ import annotations

import contextlib
import json
import numbers
import os
import tempfile
import zipfile
import zlib

import numpy  # file I/O only: .npz is NumPy's format

from .autodiff.tensor import Tensor
from .backend import backend_of, to_numpy

__all__ = ["save", "load", "atomic_write", "atomic_path", "remove_partial_files", "CheckpointError"]

_META = "__scratchgen__"
_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint file is corrupt, truncated, or does not match what was expected."""


def _crc(a) -> int:
    return zlib.crc32(numpy.ascontiguousarray(a).view(numpy.uint8).reshape(-1).data) & 0xFFFFFFFF


def _encode(obj, key, arrays):
    """JSON-able description of ``obj``; arrays go to ``arrays[key]``."""
    if isinstance(obj, Tensor):
        obj = obj.data
    if hasattr(obj, "bit_generator"):  # numpy.random.Generator, or the HostGenerator around one
        if type(obj).__module__.partition(".")[0] == "cupy":
            raise TypeError(f"save: cannot store a CuPy generator under key {key!r} (its state lives on the "
                            "GPU); draw with scratchgen.backend.rng(seed), whose state can be stored")
        bg = obj.bit_generator
        return {"__rng__": type(bg).__name__, "state": bg.state}
    if backend_of(obj) is not None:  # an array or NumPy scalar
        a = to_numpy(obj)
        if a.dtype.kind not in "biufc":
            raise TypeError(f"save: key {key!r} holds an array of dtype {a.dtype}; only numeric arrays are saved")
        name = key or "_root"
        if name in arrays or name == _META:
            raise ValueError(f"save: two arrays would be stored under the key {name!r}")
        arrays[name] = a
        return {"__array__": name, "shape": list(a.shape), "dtype": a.dtype.str, "crc32": _crc(a)}
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, numbers.Integral):
        return int(obj)
    if isinstance(obj, numbers.Real):
        return float(obj)
    if isinstance(obj, dict):
        items = []
        for k, v in obj.items():
            if not isinstance(k, (str, numbers.Integral)) or isinstance(k, bool):
                raise TypeError(f"save: dict keys must be str or int, received {k!r} under {key!r}")
            k = k if isinstance(k, str) else int(k)
            items.append([k, _encode(v, f"{key}/{k}" if key else str(k), arrays)])
        return {"__dict__": items}
    if isinstance(obj, (list, tuple)):
        enc = [_encode(v, f"{key}/{i}" if key else str(i), arrays) for i, v in enumerate(obj)]
        return {"__tuple__": enc} if isinstance(obj, tuple) else {"__list__": enc}
    raise TypeError(f"save: cannot store {type(obj).__name__} under key {key!r}")


def save(state, path) -> None:
    """Write ``state`` to ``path`` (an ``.npz``) atomically (:func:`atomic_write`).

    Parameters
    ----------
    state : nested dict / list / tuple
        Leaves: arrays, Tensors, numbers, strings, None, ``numpy.random.Generator`` or
        :class:`~scratchgen.backend.HostGenerator`.
    path : str or os.PathLike
    """
    arrays = {}
    meta = {"version": _VERSION, "tree": _encode(state, "", arrays)}
    arrays[_META] = numpy.frombuffer(json.dumps(meta).encode("utf-8"), dtype=numpy.uint8)
    with atomic_write(path) as f:
        numpy.savez(f, **arrays)


@contextlib.contextmanager
def atomic_path(path):
    """``with atomic_path(path) as tmp: writer.save(tmp)`` writes ``path`` so that it is never left half-written,
    for writers that take a file name (matplotlib's animation writers; :func:`atomic_write` for file objects).

    ``tmp`` is a new file in the same folder, ``.NAME.XXXXXXXX.tmp.EXT`` (ending like ``path``, so a writer
    picks the same format). When the block ends without an error, the file gets the permissions that
    ``open`` would give it (0666 less the umask) and is moved over ``path`` with ``os.replace`` (atomic on
    POSIX and Windows), and the folder is fsync-ed where the platform allows. When the block raises, the
    temporary file is deleted and ``path`` keeps its old content.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp" + os.path.splitext(path)[1],
                               dir=directory)
    os.close(fd)
    try:
        yield tmp
        umask = os.umask(0)  # mkstemp makes the file 0600; give it the mode open() would (0666 & ~umask)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # make the rename itself durable (POSIX); not possible on every platform
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    """``with atomic_write(path) as f: ...`` writes ``path`` so that it is never left half-written.

    ``f`` is a temporary file in the same folder (opened with ``mode``, ``"wb"`` or ``"w"``); when the block
    ends without an error it is flushed and ``os.fsync``-ed, then moved over ``path`` as
    :func:`atomic_path` says; when the block raises, it is deleted and ``path`` keeps its old content.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_write: mode must be 'wb' or 'w', got {mode!r}")
    with atomic_path(path) as tmp:
        with open(tmp, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())


def remove_partial_files(directory):
    """Delete the temporary files that :func:`atomic_write` or :func:`atomic_path` left in ``directory``
    when their process was killed mid-write (``.NAME.XXXXXXXX.tmp``, or ``.tmp.EXT`` after it); return
    their names. Nothing else is touched."""
    removed = []
    for name in os.listdir(directory):
        full = os.path.join(directory, name)
        stem, ext = os.path.splitext(name)
        if name.startswith(".") and (ext == ".tmp" or stem.endswith(".tmp")) and os.path.isfile(full):
            os.unlink(full)
            removed.append(name)
    return removed


def _decode(node, z, path):
    if isinstance(node, dict):
        if "__array__" in node:
            key = node["__array__"]
            try:
                a = z[key]
            except KeyError:
                raise CheckpointError(f"checkpoint {path!r}: array {key!r} is listed but missing from the file") from None
            except Exception as e:  # zlib, zipfile, ValueError from a damaged member
                raise CheckpointError(
                    f"checkpoint {path!r}: array {key!r} cannot be read (corrupt or truncated file): {e}"
                ) from e
            shape = tuple(node["shape"])
            if tuple(a.shape) != shape or a.dtype.str != node["dtype"]:
                raise CheckpointError(
                    f"checkpoint {path!r}: array {key!r} has shape {tuple(a.shape)} and dtype {a.dtype}, "
                    f"but the file's index records shape {shape} and dtype {numpy.dtype(node['dtype'])}"
                )
            if _crc(a) != node["crc32"]:
                raise CheckpointError(f"checkpoint {path!r}: array {key!r} (shape {shape}) fails its CRC-32 check (corrupt)")
            return a
        if "__dict__" in node:
            return {k: _decode(v, z, path) for k, v in node["__dict__"]}
        if "__list__" in node:
            return [_decode(v, z, path) for v in node["__list__"]]
        if "__tuple__" in node:
            return tuple(_decode(v, z, path) for v in node["__tuple__"])
        if "__rng__" in node:
            bg_cls = getattr(numpy.random, node["__rng__"], None)
            if bg_cls is None:
                raise CheckpointError(f"checkpoint {path!r}: unknown bit generator {node['__rng__']!r}")
            bg = bg_cls()
            bg.state = node["state"]
            return numpy.random.Generator(bg)
        raise CheckpointError(f"checkpoint {path!r}: unrecognised entry in the index: {sorted(node)}")
    return node


def _compare(loaded, like, path, key=""):
    """Check that ``loaded`` has the keys and array shapes of the template ``like``."""
    if isinstance(like, Tensor):
        like = like.data
    if backend_of(like) is not None:
        got = getattr(loaded, "shape", None)
        if got is None or tuple(got) != tuple(like.shape):
            raise CheckpointError(
                f"checkpoint {path!r}: key {key!r} has shape {got}, expected {tuple(like.shape)}"
            )
        return
    if isinstance(like, dict):
        if not isinstance(loaded, dict):
            raise CheckpointError(f"checkpoint {path!r}: key {key!r} holds {type(loaded).__name__}, expected a dict")
        missing = [k for k in like if k not in loaded]
        if missing:  # keys the template lacks are allowed: it may describe part of the file
            raise CheckpointError(
                f"checkpoint {path!r}: under key {key or '/'!r} missing {missing} (the file has {list(loaded)})"
            )
        for k in like:
            _compare(loaded[k], like[k], path, f"{key}/{k}" if key else str(k))
    elif isinstance(like, (list, tuple)):
        if not isinstance(loaded, (list, tuple)) or len(loaded) != len(like):
            raise CheckpointError(
                f"checkpoint {path!r}: key {key!r} holds {len(loaded) if hasattr(loaded, '__len__') else loaded!r} "
                f"items, expected {len(like)}"
            )
        for i, (a, b) in enumerate(zip(loaded, like)):
            _compare(a, b, path, f"{key}/{i}" if key else str(i))


def load(path, like=None):
    """Read a checkpoint written by :func:`save`.

    Parameters
    ----------
    path : str or os.PathLike
    like : nested structure, optional
        A template (for example ``{"G": G.state_dict(), ...}``): every key of
        the template must be in the file, with the same array shapes (the file
        may hold more).

    Raises
    ------
    CheckpointError
        The file is truncated, corrupt, not a scratchgen checkpoint, or does
        not match ``like``; the message names the file, the key and the shapes.
    FileNotFoundError
        No file at ``path``.
    """
    path = os.fspath(path)
    try:
        z = numpy.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise CheckpointError(f"checkpoint {path!r} cannot be opened (truncated or not an .npz): {e}") from e
    if not isinstance(z, numpy.lib.npyio.NpzFile):
        raise CheckpointError(f"checkpoint {path!r} is a single .npy array, not a scratchgen checkpoint")
    with z:
        if _META not in z.files:
            raise CheckpointError(f"checkpoint {path!r} has no {_META!r} index: not written by scratchgen.save")
        try:
            meta = json.loads(bytes(z[_META]).decode("utf-8"))
        except Exception as e:
            raise CheckpointError(f"checkpoint {path!r}: the index {_META!r} is corrupt: {e}") from e
        if meta.get("version") != _VERSION:
            raise CheckpointError(f"checkpoint {path!r}: format version {meta.get('version')}, expected {_VERSION}")
        state = _decode(meta["tree"], z, path)
    if like is not None:
        _compare(state, like, path)
    return state
