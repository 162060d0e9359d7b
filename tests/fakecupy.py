"""A stand-in for CuPy that runs on NumPy: the library's "GPU" code path, checked on a CPU.

``install(monkeypatch)`` puts a module named ``cupy`` in ``sys.modules`` whose arrays
(:class:`ndarray`) wrap NumPy arrays and keep the rules of ``cupy.ndarray`` that code written for
NumPy tends to break:

* no implicit conversion to NumPy: ``numpy.asarray(a)`` raises ``TypeError``; ``a.get()`` copies
  to the host (``scratchgen.to_numpy`` uses it);
* a host ``numpy.ndarray`` cannot be an operand of a device operation (``a + host``,
  ``cupy.concatenate([a, host])`` raise ``TypeError``), though Python and NumPy scalars can; host
  arrays are copied in by ``cupy.asarray``, or by assignment under an advanced index
  (``a[idx_array] = host``), but ``a[...] = host`` and ``a[1:3] = host`` raise ``ValueError``;
* a function's first argument must be an array, not a list or a Python scalar (``cupy.sum([1, 2])``
  raises; only ``concatenate``, ``stack`` and the like take a list, of device arrays), ufuncs take
  no lists, and functions give 0-d device arrays where NumPy gives Python numbers
  (``count_nonzero``); later arguments are not checked;
  ``numpy.add.at(a, ...)`` on a device array raises (CuPy's ``__array_ufunc__`` serves calls only);
* reductions and single-element indexing return 0-d device arrays, not scalars; ``float(a)``,
  ``int(a)`` and ``bool(a)`` work, but there is no ``__index__``, so a device value cannot be a
  slice bound or a ``range`` argument;
* ``a.data`` is a device pointer, not an array;
* ``cupy.random`` and ``cupy.errstate`` are not provided (the library draws on the host, with
  ``scratchgen.backend.rng``), and, as on a GPU, floating-point errors raise no warnings.

Everything else is NumPy's, so a run on this stand-in computes the same numbers as on NumPy, bit for
bit; where it does not, or where it raises, the code would misbehave on a real GPU too. It does not
model CuPy's missing functions, kernels, streams or float differences: the tests marked ``gpu``
cover those on a machine with a GPU.
"""
from __future__ import annotations

import operator
import sys
import types

import numpy

_IMPLICIT = ("Implicit conversion to a NumPy array is not allowed. Please use `.get()` to construct a NumPy "
             "array explicitly.")


class MemoryPointer:
    """What ``cupy.ndarray.data`` is: a pointer to device memory, not an array."""

    __module__ = "cupy.cuda.memory"


def _host_array_error(x):
    return TypeError(f"Unsupported type {type(x)} (a host numpy.ndarray as an operand of a device operation)")


def _unwrap(x, strict=True):
    """Device arrays to their NumPy arrays, inside lists, tuples and dicts; a host ndarray raises if strict."""
    if isinstance(x, ndarray):
        return x._a
    if isinstance(x, numpy.ndarray):
        if strict:
            raise _host_array_error(x)
        return x
    if isinstance(x, (list, tuple)):
        items = [_unwrap(v, strict) for v in x]
        return type(x)(*items) if hasattr(x, "_fields") else type(x)(items)
    if isinstance(x, dict):
        return {k: _unwrap(v, strict) for k, v in x.items()}
    return x


def _wrap(r):
    if isinstance(r, numpy.ndarray):
        return ndarray(r)
    if isinstance(r, numpy.generic) and not isinstance(r, (numpy.str_, numpy.bytes_)):
        return ndarray(numpy.asarray(r))  # CuPy's reductions and element reads give 0-d arrays
    if isinstance(r, tuple):
        items = [_wrap(v) for v in r]
        return type(r)(*items) if hasattr(r, "_fields") else tuple(items)
    if isinstance(r, list):
        return [_wrap(v) for v in r]
    return r


def _index(idx):
    """An index for the wrapped array: device arrays unwrapped; host integer arrays allowed (CuPy
    moves them); slice bounds left alone, so that a device value there fails as in CuPy."""
    if isinstance(idx, tuple):
        return tuple(_index(i) for i in idx)
    if isinstance(idx, ndarray):
        return idx._a
    return idx


def _advanced(idx):
    """Whether an index is advanced (an array, a mask or a list among its items), not basic."""
    return any(isinstance(i, (ndarray, numpy.ndarray, list, bool, numpy.bool_))
               for i in (idx if isinstance(idx, tuple) else (idx,)))


def _operand(x):
    if isinstance(x, ndarray):
        return x._a
    if isinstance(x, numpy.ndarray):
        raise _host_array_error(x)
    if isinstance(x, (int, float, complex, bool, numpy.generic)):
        return x
    return NotImplemented


class ndarray:  # noqa: N801 (CuPy's name)
    __slots__ = ("_a",)
    __array_priority__ = 100
    created = 0  # how many device arrays were made: a run that never made one did not run here

    def __init__(self, a):
        self._a = a
        ndarray.created += 1

    # --- conversions -------------------------------------------------------
    def __array__(self, *args, **kwargs):
        raise TypeError(_IMPLICIT)

    def get(self):
        return self._a.copy()

    def item(self):
        return self._a.item()

    def tolist(self):
        return self._a.tolist()

    def __float__(self):
        return float(self._a)

    def __int__(self):
        return int(self._a)

    def __bool__(self):
        return bool(self._a)

    def __complex__(self):
        return complex(self._a)

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        return (_wrap(v) for v in self._a)

    def __repr__(self):
        return f"fakecupy.ndarray({self._a!r})"

    # --- attributes -----------------------------------------------------------
    @property
    def data(self):
        return MemoryPointer()

    @property
    def T(self):  # noqa: N802
        return ndarray(self._a.T)

    def __getattr__(self, name):  # methods: reshape, astype, sum, transpose, ...
        if name.startswith("__"):
            raise AttributeError(name)
        attr = getattr(self._a, name)
        if not callable(attr):
            return _wrap(attr)

        def method(*args, **kwargs):
            with _quiet():
                return _wrap(attr(*_unwrap(args), **_unwrap(kwargs)))

        return method

    # --- indexing -------------------------------------------------------------
    def __getitem__(self, idx):
        return _wrap(self._a[_index(idx)])

    def __setitem__(self, idx, value):
        # CuPy copies a host array in only under an advanced index (arrays, masks, lists); under a basic
        # one (ints, slices, ...) it fills with the value, which must then be a scalar or a device array
        if isinstance(value, (numpy.ndarray, list, tuple)) and numpy.ndim(value) > 0 and not _advanced(idx):
            raise ValueError("non-scalar numpy.ndarray cannot be used for fill")
        self._a[_index(idx)] = _unwrap(value, strict=False)

    # --- NumPy protocols (CuPy implements both) ----------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method != "__call__":  # CuPy's __array_ufunc__ serves calls only: numpy.add.at(a, ...) raises
            return NotImplemented
        out = kwargs.get("out")
        with _quiet():
            r = getattr(ufunc, method)(*_unwrap(inputs), **_unwrap(kwargs))
        return out[0] if out is not None else _wrap(r)

    def __array_function__(self, func, types_, args, kwargs):
        with _quiet():
            return _wrap(func(*_unwrap(args), **_unwrap(kwargs)))


def _quiet():  # CuPy's kernels raise no floating-point warnings
    return numpy.errstate(all="ignore")


def _binary(op, reflected=False, inplace=False):
    def f(self, other):
        o = _operand(other)
        if o is NotImplemented:
            return NotImplemented
        with _quiet():
            if inplace:
                op(self._a, o)
                return self
            return _wrap(op(o, self._a) if reflected else op(self._a, o))

    return f


for _name, _op, _iop in (("add", operator.add, operator.iadd), ("sub", operator.sub, operator.isub),
                         ("mul", operator.mul, operator.imul), ("truediv", operator.truediv, operator.itruediv),
                         ("floordiv", operator.floordiv, operator.ifloordiv), ("mod", operator.mod, operator.imod),
                         ("pow", operator.pow, operator.ipow), ("matmul", operator.matmul, operator.imatmul),
                         ("and", operator.and_, operator.iand), ("or", operator.or_, operator.ior),
                         ("xor", operator.xor, operator.ixor)):
    setattr(ndarray, f"__{_name}__", _binary(_op))
    setattr(ndarray, f"__r{_name}__", _binary(_op, reflected=True))
    setattr(ndarray, f"__i{_name}__", _binary(_iop, inplace=True))
for _name, _op in (("eq", operator.eq), ("ne", operator.ne), ("lt", operator.lt), ("le", operator.le),
                   ("gt", operator.gt), ("ge", operator.ge)):
    setattr(ndarray, f"__{_name}__", _binary(_op))
for _name, _op in (("neg", operator.neg), ("pos", operator.pos), ("abs", operator.abs), ("invert", operator.invert)):
    setattr(ndarray, f"__{_name}__", (lambda op: lambda self: _wrap(op(self._a)))(_op))  # 0-d stays an array
for _name in ("shape", "dtype", "ndim", "size", "flags", "strides", "itemsize", "nbytes"):  # read through
    setattr(ndarray, _name, property((lambda n: lambda self: getattr(self._a, n))(_name)))
ndarray.__hash__ = None
ndarray.__module__ = "cupy._core.core"


class _Ufunc:
    """A NumPy ufunc on device arrays, with its methods (``add.at``, ``maximum.reduce``, ...)."""

    def __init__(self, uf):
        self._uf = uf

    def __call__(self, *args, **kwargs):
        if any(isinstance(a, (list, tuple)) for a in args):
            raise TypeError(f"cupy.{self._uf.__name__}: a list or tuple is not an array (Unsupported type)")
        out = kwargs.get("out")
        with _quiet():
            r = self._uf(*_unwrap(args), **_unwrap(kwargs))
        return out if out is not None else _wrap(r)

    def __getattr__(self, name):
        attr = getattr(self._uf, name)
        if not callable(attr):
            return attr
        def method(*a, **k):
            with _quiet():
                return _wrap(attr(*_unwrap(a), **_unwrap(k)))

        return method


# functions whose first argument is a shape, a number or a dtype, not an array
_CREATION = {"zeros", "ones", "empty", "full", "arange", "linspace", "logspace", "geomspace", "eye", "identity",
             "tri", "indices", "meshgrid", "result_type", "promote_types", "can_cast", "dtype", "finfo", "iinfo",
             "broadcast_shapes", "einsum", "isscalar", "issubdtype", "ndim", "triu_indices", "tril_indices",
             "diag_indices"}
_HOST_RESULT = {"ndim", "isscalar", "issubdtype", "can_cast", "result_type", "promote_types", "shape", "size",
                "iscomplexobj", "isrealobj", "may_share_memory", "shares_memory", "broadcast_shapes"}


_SEQUENCE = {"concatenate", "stack", "hstack", "vstack", "dstack", "column_stack", "block", "select"}  # take lists


def _device_sequence(x):
    """A list or tuple whose leaves are all device arrays (what cupy.concatenate and cupy.stack take)."""
    return len(x) > 0 and all(isinstance(v, ndarray) or (isinstance(v, (list, tuple)) and _device_sequence(v))
                              for v in x)


def _function(f, host_ok=False):
    name = getattr(f, "__name__", "function")

    def g(*args, **kwargs):
        if name not in _CREATION and args:
            a0 = args[0]
            if isinstance(a0, (list, tuple)) and not (name in _SEQUENCE and _device_sequence(a0)):
                raise TypeError(f"cupy.{name}: a list or tuple is not an array here (Unsupported type)")
            if isinstance(a0, (bool, int, float, complex)) and not isinstance(a0, numpy.generic) and name != "where":
                raise TypeError(f"cupy.{name}: a Python scalar is not an array (Unsupported type)")
        with _quiet():
            r = f(*_unwrap(args, strict=not host_ok), **_unwrap(kwargs, strict=not host_ok))
        if name not in _HOST_RESULT and isinstance(r, (bool, int, float)):
            return ndarray(numpy.asarray(r))  # cupy.count_nonzero, allclose, ...: 0-d device arrays
        return _wrap(r)

    g.__name__ = name
    return g


class _Namespace(types.ModuleType):
    """numpy, numpy.linalg, numpy.lib.stride_tricks, ... as device functions."""

    def __init__(self, name, source):
        super().__init__(name)
        self._source = source

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        obj = getattr(self._source, name)
        if isinstance(obj, types.ModuleType):
            return _Namespace(f"{self.__name__}.{name}", obj)
        if isinstance(obj, numpy.ufunc):
            return _Ufunc(obj)
        if isinstance(obj, type) or not callable(obj):
            return obj  # dtypes (cupy.float32 is numpy.float32), constants
        return _function(obj)


class FakeCupy(_Namespace):
    __version__ = "fake (NumPy underneath)"
    ndarray = ndarray

    def __init__(self):
        super().__init__("cupy", numpy)
        self.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=lambda: 1))

    def asarray(self, a, dtype=None):
        """Host data copied to the device (the one place a host array may go in)."""
        if isinstance(a, ndarray):
            return a if dtype is None else a.astype(dtype, copy=False)
        if isinstance(a, (list, tuple)):
            leaves = []
            stack = [a]
            while stack:
                v = stack.pop()
                if isinstance(v, (list, tuple)):
                    stack.extend(v)
                else:
                    leaves.append(v)
            on_device = [isinstance(v, ndarray) for v in leaves]
            if any(on_device) and not (all(on_device) and len({v.shape for v in leaves}) == 1):
                raise TypeError("cupy.asarray: a list mixing device arrays with other values (or shapes)")
        return ndarray(numpy.array(_unwrap(a, strict=False), dtype=dtype))

    array = asarray

    def asnumpy(self, a):
        return a.get() if isinstance(a, ndarray) else numpy.asarray(a)

    _absent = {"random": "cupy.random is not emulated; draw with scratchgen.backend.rng",
               "errstate": "CuPy has no errstate"}

    def __getattr__(self, name):
        if name in self._absent:
            raise AttributeError(f"fakecupy: {self._absent[name]}")
        return super().__getattr__(name)


def install(monkeypatch):
    """Make ``import cupy`` give the stand-in for the rest of a test; returns it."""
    fake = FakeCupy()
    monkeypatch.setitem(sys.modules, "cupy", fake)
    return fake
