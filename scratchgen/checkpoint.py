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

__all__ = ["save", "load", "atomic_write", "atomic_path", "remove_partial_files", "CheckpointError", "BIT_GENERATORS"]

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
        if type(bg).__name__ not in BIT_GENERATORS or type(bg) is not BIT_GENERATORS[type(bg).__name__]:
            raise TypeError(f"save: key {key!r} holds a generator on {type(bg).__name__}; the bit generators a "
                            f"checkpoint holds are {sorted(BIT_GENERATORS)}")
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
    if not os.path.isdir(directory):  # else mkstemp names its own temporary file, not the folder that is missing
        raise FileNotFoundError(f"cannot write {path!r}: its folder {directory!r} does not exist (create it first)")
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


#: the bit generators a checkpoint may hold, by the name ``save`` writes: a fixed list, so that no name
#: read from a file is ever looked up (a file naming "seed" would otherwise reseed NumPy's global state)
BIT_GENERATORS = {name: getattr(numpy.random, name) for name in ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")}

#: the keys of each kind of node in the index, exactly as ``save`` writes them
_NODE_KEYS = {"__array__": {"__array__", "shape", "dtype", "crc32"}, "__dict__": {"__dict__"},
              "__list__": {"__list__"}, "__tuple__": {"__tuple__"}, "__rng__": {"__rng__", "state"}}


def _bad(path, entry, what):
    return CheckpointError(f"checkpoint {path!r}: entry {entry or '/'!r} {what}; the file was not written by "
                           "scratchgen.save, or was edited or damaged")


def _decode(node, z, path, entry=""):
    """The value of one node of the index, checked against the layout :func:`_encode` writes."""
    if node is None or isinstance(node, (bool, str, int, float)):
        return node
    if not isinstance(node, dict):
        raise _bad(path, entry, f"holds a bare JSON {type(node).__name__}")
    kinds = [k for k in _NODE_KEYS if k in node]
    if len(kinds) != 1 or set(node) != _NODE_KEYS[kinds[0]]:
        raise _bad(path, entry, f"has the unrecognised keys {sorted(node)}")
    kind = kinds[0]
    if kind == "__array__":
        return _decode_array(node, z, path, entry)
    if kind == "__rng__":
        return _decode_rng(node, path, entry)
    items = node[kind]
    if not isinstance(items, list):
        raise _bad(path, entry, f"holds {type(items).__name__} where {kind} lists its items")
    if kind == "__dict__":
        out = {}
        for item in items:
            if (not isinstance(item, list) or len(item) != 2 or isinstance(item[0], bool)
                    or not isinstance(item[0], (str, int)) or item[0] in out):
                raise _bad(path, entry, f"holds the dict item {str(item)[:80]}, not a [key, value] pair with a "
                                        "new str or int key")
            out[item[0]] = _decode(item[1], z, path, f"{entry}/{item[0]}" if entry else str(item[0]))
        return out
    values = [_decode(v, z, path, f"{entry}/{i}" if entry else str(i)) for i, v in enumerate(items)]
    return values if kind == "__list__" else tuple(values)


def _decode_array(node, z, path, entry):
    key, shape, dtype, crc = node["__array__"], node["shape"], node["dtype"], node["crc32"]
    if not (isinstance(key, str) and key != _META and isinstance(shape, list)
            and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)
            and isinstance(dtype, str) and isinstance(crc, int) and not isinstance(crc, bool)):
        raise _bad(path, entry, f"describes an array with a malformed index entry {str(node)[:120]}")
    try:
        a = z[key]
    except KeyError:
        raise CheckpointError(f"checkpoint {path!r}: array {key!r} is listed but missing from the file") from None
    except Exception as e:  # zlib, zipfile, ValueError from a damaged member
        raise CheckpointError(
            f"checkpoint {path!r}: array {key!r} cannot be read (corrupt or truncated file): {e}"
        ) from e
    if a.dtype.kind not in "biufc" or tuple(a.shape) != tuple(shape) or a.dtype.str != dtype:
        try:
            recorded = numpy.dtype(dtype)
        except TypeError:
            recorded = dtype
        raise CheckpointError(
            f"checkpoint {path!r}: array {key!r} has shape {tuple(a.shape)} and dtype {a.dtype}, "
            f"but the file's index records shape {tuple(shape)} and dtype {recorded}"
        )
    if _crc(a) != crc:
        raise CheckpointError(f"checkpoint {path!r}: array {key!r} (shape {tuple(shape)}) fails its CRC-32 check (corrupt)")
    return a


def _decode_rng(node, path, entry):
    name, state = node["__rng__"], node["state"]
    if name not in BIT_GENERATORS:
        raise _bad(path, entry, f"names the bit generator {str(name)[:40]!r}, not one of {sorted(BIT_GENERATORS)}")
    bg = BIT_GENERATORS[name]()
    try:
        if not isinstance(state, dict) or state.get("bit_generator") != name:
            raise ValueError(f"the state is not a {name} state")
        bg.state = state
    except (TypeError, ValueError, KeyError, OverflowError) as e:
        raise _bad(path, entry, f"holds a {name} generator whose state cannot be restored ({e})") from None
    return numpy.random.Generator(bg)


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
        if not isinstance(meta, dict) or set(meta) != {"version", "tree"}:
            raise CheckpointError(f"checkpoint {path!r}: the index {_META!r} must hold 'version' and 'tree' only, "
                                  f"got {sorted(meta) if isinstance(meta, dict) else type(meta).__name__}")
        if meta.get("version") != _VERSION:
            raise CheckpointError(f"checkpoint {path!r}: format version {meta.get('version')}, expected {_VERSION}")
        state = _decode(meta["tree"], z, path)
    if like is not None:
        _compare(state, like, path)
    return state
