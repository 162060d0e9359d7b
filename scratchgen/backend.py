"""Which array module the math runs on: NumPy on the CPU, CuPy on a GPU.

Math code never writes ``import numpy as np``. It asks for the module that
owns its arrays (``xp = get_xp(x)``), or for the active backend
(``xp = get_xp()``), and calls ``xp.exp``, ``xp.matmul``, ... on it. The
same source then runs on both backends, as in CuPy's ``get_array_module``.

Choosing the backend::

    scratchgen.set_backend("cupy")          # for the rest of the program
    with scratchgen.use_backend("cupy"):    # for one block
        ...
    SCRATCHGEN_BACKEND=cupy python demo.py  # from the environment

Conventions
-----------
* The default float dtype is float32 (``default_dtype()``); tests of
  identities and gradient checks use float64 explicitly.
* ``rng(seed)`` returns a seeded generator on the active backend: the same
  seed gives the same numbers on the same backend (NumPy and CuPy use
  different bit generators, so not across backends).
"""
from __future__ import annotations

import contextlib
import importlib
import os

import numpy

__all__ = [
    "BackendError",
    "set_backend",
    "get_backend",
    "use_backend",
    "get_xp",
    "backend_of",
    "module_named",
    "to_numpy",
    "asarray",
    "default_dtype",
    "set_default_dtype",
    "rng",
    "host_permutations",
]

_BACKENDS = ("numpy", "cupy")


class BackendError(RuntimeError):
    """The requested array backend cannot be used on this machine."""


class _State:
    name = "numpy"
    xp = numpy
    dtype = numpy.dtype(numpy.float32)


_state = _State()


def _load_cupy():
    """Import CuPy and check that a GPU is visible; say which of the two failed."""
    try:
        cupy = importlib.import_module("cupy")
    except ImportError as e:
        raise BackendError(
            "backend 'cupy' requested but CuPy is not installed "
            f"({e}). Install it with: pip install 'scratchgen[gpu]' "
            "(the cupy-cuda12x wheel), or use set_backend('numpy')."
        ) from None
    try:
        n_gpus = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # CUDA driver missing, no device, ...
        raise BackendError(
            "backend 'cupy' requested: CuPy is installed but no CUDA GPU is usable "
            f"({type(e).__name__}: {e}). Run on a machine with an NVIDIA GPU and driver, "
            "or use set_backend('numpy')."
        ) from None
    if n_gpus < 1:
        raise BackendError(
            "backend 'cupy' requested: CuPy is installed but no CUDA GPU is present "
            "(getDeviceCount() == 0). Run on a machine with an NVIDIA GPU, "
            "or use set_backend('numpy')."
        )
    return cupy


def _module_for(name: str):
    if name not in _BACKENDS:
        raise ValueError(f"backend must be one of {_BACKENDS}, got {name!r}")
    return numpy if name == "numpy" else _load_cupy()


def set_backend(name: str) -> None:
    """Make ``name`` ("numpy" or "cupy") the active backend for new tensors.

    Raises
    ------
    BackendError
        CuPy is not installed, or it is installed but no GPU is usable.
    ValueError
        ``name`` is not a known backend.
    """
    xp = _module_for(name)
    _state.name, _state.xp = name, xp


def get_backend() -> str:
    """Name of the active backend: "numpy" or "cupy"."""
    return _state.name


@contextlib.contextmanager
def use_backend(name: str):
    """Context manager: run a block on backend ``name``, then restore the old one."""
    old = _state.name, _state.xp
    set_backend(name)
    try:
        yield _state.xp
    finally:
        _state.name, _state.xp = old


_TYPE_BACKEND: dict = {}  # type -> "numpy" | "cupy" | None, filled on first sight


def backend_of(a) -> str | None:
    """Name of the array module that owns ``a`` ("numpy", "cupy"), or None for
    Python scalars and other non-arrays."""
    t = type(a)
    try:
        return _TYPE_BACKEND[t]
    except KeyError:
        pass
    if issubclass(t, (numpy.ndarray, numpy.generic)):
        name = "numpy"
    elif t.__module__.partition(".")[0] in ("cupy", "cupyx"):
        name = "cupy"
    else:
        name = None
    _TYPE_BACKEND[t] = name
    return name


def module_named(name: str):
    """The array module of backend ``name`` (already imported if in use)."""
    return numpy if name == "numpy" else importlib.import_module("cupy")


def get_xp(*arrays):
    """The array module of ``arrays`` (NumPy or CuPy); the active backend if
    none of them is an array. Arrays of two backends raise ``TypeError``.

    Tensors may be passed too: their ``.data`` is inspected.
    """
    found = None
    for a in arrays:
        a = getattr(a, "_data_for_backend", a)
        name = backend_of(a)
        if name is None or name == found:
            continue
        if found is not None:
            raise TypeError(
                f"arrays from two backends mixed: {found} and {name}; move them to one "
                "backend first (scratchgen.to_numpy, or scratchgen.tensor(...) on the active backend)"
            )
        found = name
    if found is None:
        return _state.xp
    return numpy if found == "numpy" else module_named(found)


def to_numpy(x):
    """A NumPy copy (or view) of ``x``: a Tensor, a CuPy or NumPy array, or a scalar."""
    x = getattr(x, "_data_for_backend", x)
    if backend_of(x) == "cupy":
        return x.get()
    return numpy.asarray(x)


def asarray(x, dtype=None):
    """``x`` as an array of the active backend (copied across devices if needed)."""
    xp = _state.xp
    if xp is numpy and backend_of(x) == "cupy":
        x = x.get()
    return xp.asarray(x, dtype=dtype)


def default_dtype():
    """The float dtype of new tensors made from Python floats (float32 unless changed)."""
    return _state.dtype


def set_default_dtype(dtype) -> None:
    """Set the float dtype of new tensors: float32 (default) or float64."""
    dt = numpy.dtype(dtype)
    if dt.kind != "f":
        raise ValueError(f"default dtype must be a float dtype, got {dt}")
    _state.dtype = dt


def host_permutations(seed):
    """Draws of permutations, ``draw(n)`` → a permutation of range(n) as an array of the active
    backend, all from one ``numpy.random.default_rng(seed)`` on the host.

    For index draws (which images are held out, which are labelled): they are the same on NumPy and
    CuPy, and they need only NumPy's ``Generator.permutation``.
    """
    g = numpy.random.default_rng(seed)
    return lambda n: _state.xp.asarray(g.permutation(n))


def rng(seed=None):
    """A seeded random generator on the active backend (``xp.random.default_rng``).

    Passing a generator returns it unchanged, so functions can take either.
    """
    if seed is not None and hasattr(seed, "standard_normal"):
        return seed
    return _state.xp.random.default_rng(seed)


_env = os.environ.get("SCRATCHGEN_BACKEND")
if _env:
    set_backend(_env.strip().lower())
