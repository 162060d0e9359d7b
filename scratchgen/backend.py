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
* ``rng(seed)`` returns a seeded generator whose draws are arrays of the
  active backend. It draws on the host with NumPy's generator
  (:class:`HostGenerator`), so the same seed gives the same numbers on NumPy
  and CuPy, and its state can be checkpointed on either.
"""
from __future__ import annotations

import contextlib
import copy
import importlib
import numbers
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
    "unwrap",
    "asarray",
    "default_dtype",
    "set_default_dtype",
    "rng",
    "HostGenerator",
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
            f"({e}). Install it with: pip install -e '.[gpu]' in the repository "
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
        a = unwrap(a)
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


def unwrap(x):
    """The array inside a Tensor; anything else (an array, a list, a scalar) unchanged.

    Not ``getattr(x, "data", x)``: NumPy and CuPy arrays have a ``.data`` too (a buffer, a device
    pointer)."""
    return getattr(x, "_data_for_backend", x)


def to_numpy(x):
    """A NumPy copy (or view) of ``x``: a Tensor, a CuPy or NumPy array, or a scalar."""
    x = unwrap(x)
    if backend_of(x) == "cupy":
        return x.get()
    return numpy.asarray(x)


def asarray(x, dtype=None, xp=None):
    """``x`` as an array of the active backend, or of the array module ``xp`` (copied across devices if needed)."""
    xp = _state.xp if xp is None else xp
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


class HostGenerator:
    """NumPy's random generator, run on the host, whose draws are arrays of one backend.

    ``rng(seed)`` returns one on either backend. Every method of ``numpy.random.Generator``
    (``standard_normal``, ``integers``, ``choice``, ``permutation``, ...) works as in NumPy, with
    its array arguments moved to the host first and its array result moved to the backend with
    ``xp.asarray``; a scalar result stays a scalar. On NumPy both moves are no-ops, so the draws
    are NumPy's, bit for bit.

    Why the host and not ``cupy.random.default_rng``: the same seed then gives the same numbers on
    NumPy and CuPy; CuPy's ``Generator`` has no ``choice``, ``permutation`` or ``shuffle``; and its
    state (cuRAND states in GPU memory) cannot be written to a checkpoint, while NumPy's
    ``bit_generator.state`` can. The price on a GPU is a host-to-device copy per draw.

    The backend is the one active when the generator was made. Writing in place would fill a host
    copy and leave a GPU array unchanged, so ``shuffle`` and the ``out=`` argument raise on either
    backend: use ``x[g.permutation(len(x))]`` and assign the result.
    """

    __slots__ = ("generator", "xp")

    def __init__(self, generator, xp=None):
        if not isinstance(generator, numpy.random.Generator):
            raise TypeError(f"HostGenerator: generator must be a numpy.random.Generator, got {type(generator).__name__}")
        self.generator = generator
        self.xp = _state.xp if xp is None else xp

    @property
    def bit_generator(self):  # what a checkpoint stores (scratchgen.checkpoint)
        return self.generator.bit_generator

    def __deepcopy__(self, memo):  # an independent copy of the state; the backend module is shared
        return HostGenerator(copy.deepcopy(self.generator, memo), self.xp)

    def shuffle(self, x, axis=0):
        raise NotImplementedError("HostGenerator.shuffle: in place on a backend array is not supported; "
                                  "use x[g.permutation(len(x))]")

    def __getattr__(self, name):
        if name.startswith("_"):  # copy/pickle protocol lookups: not a draw
            raise AttributeError(name)
        method = getattr(self.generator, name)
        if not callable(method):
            return method

        def draw(*args, **kwargs):
            if "out" in kwargs:
                raise TypeError(f"HostGenerator.{name}: out= is not supported (on a GPU it would fill a host "
                                "copy); assign the result instead")
            args = [to_numpy(a) if backend_of(a) == "cupy" else a for a in args]
            kwargs = {k: to_numpy(v) if backend_of(v) == "cupy" else v for k, v in kwargs.items()}
            out = method(*args, **kwargs)
            return self.xp.asarray(out) if isinstance(out, numpy.ndarray) else out

        draw.__name__ = name
        return draw

    def __repr__(self):
        return f"HostGenerator({self.generator!r} -> {self.xp.__name__})"


def rng(seed=None, xp=None):
    """A seeded :class:`HostGenerator`: NumPy's ``default_rng(seed)``, drawing arrays of the active
    backend (or of ``xp``, an array module, when given).

    The same seed gives the same numbers on NumPy and on CuPy. Passing a ``HostGenerator`` (or
    another object with a ``standard_normal`` method, such as a test's stand-in) returns it
    unchanged, ``xp`` then unused, so functions can take either a seed or a generator. A
    ``numpy.random.Generator`` (what a checkpoint gives back) is wrapped, and its state is shared,
    not copied. CuPy's generators and NumPy's legacy ``RandomState`` are refused: they lack
    methods the library calls, or a state a checkpoint can store.
    """
    if isinstance(seed, numpy.random.Generator):
        return HostGenerator(seed, xp)
    if isinstance(seed, numpy.random.RandomState) or type(seed).__module__.partition(".")[0] == "cupy":
        raise TypeError(f"rng: seed must be an int, None, a numpy.random.Generator or a HostGenerator, got "
                        f"{type(seed).__module__}.{type(seed).__name__} (use numpy.random.default_rng(...))")
    if seed is not None and hasattr(seed, "standard_normal"):
        return seed
    if isinstance(seed, bool) or (isinstance(seed, numbers.Integral) and seed < 0):
        raise ValueError(f"rng: seed must be an int >= 0, None or a generator, got {seed!r}")
    return HostGenerator(numpy.random.default_rng(seed), xp)


_env = os.environ.get("SCRATCHGEN_BACKEND")
if _env:
    set_backend(_env.strip().lower())
