r"""``Module`` and ``Parameter``: the containers that hold a model's weights.

Conventions (as in PyTorch's ``torch.nn``, so that knowledge transfers):

* A :class:`Parameter` is a leaf :class:`~scratchgen.Tensor` with
  ``requires_grad=True``; assigning one to a module attribute registers it.
* Sub-modules assigned as attributes (or held by :class:`Sequential` /
  :class:`ModuleList`) are found automatically, in assignment order.
* Buffers (``register_buffer``) are arrays that belong to the state but get no
  gradient: batch-norm running statistics, the power-iteration vector ``u``.
* ``state_dict()`` maps dotted names (``"0.weight"``, ``"net.bn.running_mean"``)
  to arrays; ``load_state_dict`` checks every key and shape before writing
  anything, and names the module, the key, the expected and the received.
* Dtypes: ``to(dtype)``, ``double()`` and ``float()`` cast the float parameters and
  buffers in place (the same ``Parameter`` objects, new arrays) and return the module.
  ``load_state_dict`` casts a saved array into the parameter's dtype, as PyTorch
  does (float64 weights loaded into a float32 module are rounded to float32); with
  ``keep_dtype=True`` the parameter takes the saved array's dtype instead.
"""
from __future__ import annotations

from collections import OrderedDict

from ..autodiff.primitives import concatenate
from ..autodiff.tensor import Tensor, is_grad_enabled
from ..backend import asarray, get_xp

__all__ = ["Parameter", "Module", "Sequential", "ModuleList", "StateDictError"]


class StateDictError(KeyError, ValueError):
    """A state dict does not match the module: missing, unexpected or misshapen keys."""

    def __str__(self):  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class Parameter(Tensor):
    """A trainable leaf tensor (``requires_grad=True``) that modules register."""

    __slots__ = ()

    def __init__(self, data, requires_grad: bool = True):
        if isinstance(data, Tensor):
            data = data.data
        if not hasattr(data, "dtype"):
            data = asarray(data)
        if data.dtype.kind != "f":
            raise TypeError(f"Parameter: needs a float array, got dtype {data.dtype}")
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter(" + super().__repr__() + ")"


class Module:
    """Base class of layers and models.

    Subclasses set their parameters and sub-modules as attributes in
    ``__init__`` and define ``forward``; calling the module calls ``forward``
    after any forward pre-hooks (used by :func:`~scratchgen.nn.spectral_norm`).
    """

    #: True in a layer class whose output for sample i (row i of the first axis) depends only on
    #: input sample i and the parameters, and whose call changes no state: a :class:`Sequential`
    #: of such layers may run a large batch in blocks of rows under ``no_grad``. Read from the
    #: class itself, so a subclass that changes ``forward`` does not inherit it.
    _per_sample = False

    def __init__(self):
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_buffers", [])
        object.__setattr__(self, "_forward_pre_hooks", [])

    # --- construction ----------------------------------------------------------
    def _check_init(self):
        if "_buffers" not in self.__dict__:
            raise RuntimeError(
                f"{type(self).__name__}: call super().__init__() at the start of __init__"
            )

    def register_buffer(self, name: str, value) -> None:
        """Register an array that is state (saved, loaded) but not trained."""
        self._check_init()
        if value is not None and not hasattr(value, "dtype"):
            value = asarray(value)
        setattr(self, name, value)
        if name not in self._buffers:
            self._buffers.append(name)

    def register_forward_pre_hook(self, hook) -> None:
        """``hook(module, inputs)`` runs before every ``forward``."""
        self._check_init()
        self._forward_pre_hooks.append(hook)

    def find_forward_pre_hook(self, kind, name):
        """The pre-hook of class ``kind`` on the parameter ``name`` (spectral or weight norm), or None."""
        return next((h for h in self._forward_pre_hooks if isinstance(h, kind) and h.name == name), None)

    # --- discovery -------------------------------------------------------------
    def _children_items(self):
        for name, value in self.__dict__.items():
            if isinstance(value, Module):
                yield name, value

    def named_children(self):
        """Direct sub-modules as ``(name, module)`` pairs."""
        return list(self._children_items())

    def children(self):
        return [m for _, m in self._children_items()]

    def named_modules(self, prefix: str = ""):
        """This module and every sub-module, depth first, with dotted names."""
        out = [(prefix, self)]
        for name, child in self._children_items():
            out.extend(child.named_modules(prefix + name if not prefix else f"{prefix}.{name}"))
        return out

    def modules(self):
        return [m for _, m in self.named_modules()]

    def named_parameters(self, prefix: str = ""):
        """``(dotted_name, Parameter)`` pairs, each parameter once, in assignment order."""
        seen, out = set(), []
        for mod_name, mod in self.named_modules(prefix):
            for name, value in mod.__dict__.items():
                if isinstance(value, Parameter) and id(value) not in seen:
                    seen.add(id(value))
                    out.append((f"{mod_name}.{name}" if mod_name else name, value))
        return out

    def parameters(self):
        """The trainable parameters (a list; pass it to an optimiser)."""
        return [p for _, p in self.named_parameters()]

    def named_buffers(self, prefix: str = ""):
        out = []
        for mod_name, mod in self.named_modules(prefix):
            for name in mod._buffers:
                out.append((f"{mod_name}.{name}" if mod_name else name, getattr(mod, name)))
        return out

    def buffers(self):
        return [b for _, b in self.named_buffers()]

    # --- training state ---------------------------------------------------------
    def train(self, mode: bool = True) -> "Module":
        """Training mode (batch statistics, dropout, power-iteration updates) for every sub-module."""
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self) -> "Module":
        """Evaluation mode: running statistics, no dropout, frozen spectral-norm vectors."""
        return self.train(False)

    def zero_grad(self) -> None:
        """Forget accumulated gradients (``p.grad = None`` for every parameter)."""
        for p in self.parameters():
            p.grad = None

    def requires_grad_(self, flag: bool = True) -> "Module":
        for p in self.parameters():
            p.requires_grad = flag
        return self

    # --- dtype -------------------------------------------------------------------
    def to(self, dtype) -> "Module":
        """Cast every float parameter and buffer to the float ``dtype``, in place; returns ``self``.

        The parameters stay the same objects (a hook or an optimiser holding them sees the new
        arrays), their gradients are cast too; integer buffers (``num_batches_tracked``) are kept.
        A weight that a forward pre-hook computes (spectral or weight norm) is recomputed from the
        cast parameters at the next call. Create optimisers after the cast: their state takes the
        parameters' dtype when first used.

        Parameters
        ----------
        dtype : dtype or str
            A float dtype: ``"float32"``, ``"float64"``, ``numpy.float64``, ...

        Raises
        ------
        TypeError
            ``dtype`` is not a float dtype.
        """
        xp = get_xp()
        try:
            dt = xp.dtype(dtype)
        except TypeError as e:
            raise TypeError(f"{type(self).__name__}.to: dtype must be a float dtype, received {dtype!r}") from e
        if dt.kind != "f":
            raise TypeError(f"{type(self).__name__}.to: dtype must be a float dtype (float32, float64), received {dt}")
        for p in self.parameters():
            if p.data.dtype != dt:
                p.data = p.data.astype(dt)
            if p.grad is not None and p.grad.dtype != dt:
                p.grad = Tensor(p.grad.data.astype(dt))
        for mod in self.modules():
            for name in mod._buffers:
                buf = getattr(mod, name)
                if buf is not None and buf.dtype.kind == "f" and buf.dtype != dt:
                    setattr(mod, name, buf.astype(dt))
        return self

    def double(self) -> "Module":
        """``to("float64")``: every float parameter and buffer in double precision; returns ``self``."""
        return self.to("float64")

    def float(self) -> "Module":
        """``to("float32")``: every float parameter and buffer in single precision; returns ``self``."""
        return self.to("float32")

    # --- state -----------------------------------------------------------------
    def state_dict(self) -> "OrderedDict[str, object]":
        """Parameters and buffers by dotted name, as copies (NumPy or CuPy arrays)."""
        sd = OrderedDict()
        for name, p in self.named_parameters():
            sd[name] = p.data.copy()
        for name, b in self.named_buffers():
            if b is not None:
                sd[name] = b.copy()
        return sd

    def load_state_dict(self, state_dict, strict: bool = True, keep_dtype: bool = False) -> None:
        """Copy arrays from ``state_dict`` into the parameters and buffers.

        Every key and shape is checked before anything is written, so a bad
        state dict leaves the module unchanged.

        Parameters
        ----------
        state_dict : mapping of str to array
        strict : bool
            Every key of the module must be present, and no other.
        keep_dtype : bool
            False (default, as PyTorch): each array is cast into the existing parameter's or
            buffer's dtype, so float64 weights loaded into a float32 module are rounded to
            float32 (round to nearest), and a module cast with ``.double()`` keeps them exactly.
            True: each parameter and buffer takes the saved array's dtype (a copy of it).

        Raises
        ------
        StateDictError
            Missing or unexpected keys (``strict``), a shape that differs, or (``keep_dtype``)
            a non-float array for a parameter: the message names the module, the key, the
            expected and the received.
        """
        own = OrderedDict(self.named_parameters())
        owners = {}
        for mod_name, mod in self.named_modules():
            for name in mod._buffers:
                key = f"{mod_name}.{name}" if mod_name else name
                owners[key] = (mod, name)
        who = type(self).__name__
        missing = [k for k in list(own) + list(owners) if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own and k not in owners]
        if strict and (missing or unexpected):
            raise StateDictError(
                f"{who}.load_state_dict: keys do not match; missing {missing}, unexpected {unexpected} "
                f"(expected keys: {list(own) + list(owners)})"
            )
        for key, value in state_dict.items():
            if key in own:
                expected = own[key].shape
            elif key in owners:
                buf = getattr(*owners[key])
                expected = None if buf is None else buf.shape
            else:
                continue
            received = tuple(getattr(value, "shape", ()))
            if expected is not None and tuple(expected) != received:
                raise StateDictError(
                    f"{who}.load_state_dict: key {key!r} has the wrong shape: expected {tuple(expected)}, "
                    f"received {received}"
                )
            kind = getattr(getattr(value, "dtype", None), "kind", None)
            if keep_dtype and key in own and kind != "f":
                raise StateDictError(
                    f"{who}.load_state_dict: key {key!r} is a parameter and needs a float array with "
                    f"keep_dtype=True, received dtype {getattr(value, 'dtype', type(value).__name__)}"
                )
        for key, value in state_dict.items():
            if key in own:
                p = own[key]
                if keep_dtype:
                    p.data = asarray(value, xp=get_xp(p.data)).copy()
                else:
                    p.data[...] = asarray(value, xp=get_xp(p.data))  # onto the parameter's backend
            elif key in owners:
                mod, name = owners[key]
                buf = getattr(mod, name)
                if buf is None:
                    setattr(mod, name, asarray(value).copy())
                elif keep_dtype:
                    setattr(mod, name, asarray(value, xp=get_xp(buf)).copy())
                else:
                    buf[...] = asarray(value, xp=get_xp(buf))

    # --- calling -----------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} defines no forward()")

    def __call__(self, *args, **kwargs):
        for hook in self._forward_pre_hooks:
            hook(self, args)
        return self.forward(*args, **kwargs)

    def extra_repr(self) -> str:
        return ""

    def __repr__(self):
        children = self.named_children()
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not children:
            return head + ")"
        lines = [head]
        for name, child in children:
            body = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {body}")
        return "\n".join(lines) + "\n)"


class Sequential(Module):
    """Modules applied in order: ``Sequential(a, b, c)(x) == c(b(a(x)))``.

    Sub-modules are named ``"0"``, ``"1"``, ... as in PyTorch (so state-dict
    keys read ``"0.weight"``).

    Inference in blocks of rows: under ``no_grad``, a large batch ``(B, F)`` through layers
    that each treat samples independently (``Linear`` and the activations, without hooks)
    runs in blocks of rows, each block through every layer, so that a block's activations
    (about 1 MiB) stay in the cache between one layer and the next instead of making a trip
    through memory per layer and per pass. The numbers are the same as in one piece (the
    tests check it bit for bit); only the order of the work changes. While the tape records,
    the batch always runs whole.
    """

    _BLOCK_BYTES = 1 << 20  # the widest activation of a block of rows

    def __init__(self, *modules):
        super().__init__()
        for i, m in enumerate(modules):
            if not isinstance(m, Module):
                raise TypeError(f"Sequential: argument {i} must be a Module, received {type(m).__name__}")
            setattr(self, str(i), m)
        self._layers = tuple(modules)

    def forward(self, x):
        rows = self._block_rows(x)
        if rows:
            return concatenate([self._run(x[i:i + rows]) for i in range(0, x.shape[0], rows)], axis=0)
        return self._run(x)

    def _run(self, x):
        for m in self._layers:
            x = m(x)
        return x

    def _block_rows(self, x) -> int:
        """Rows per block when ``x`` (B, F) can run in blocks (see the class docstring), else 0."""
        if is_grad_enabled() or getattr(x, "ndim", 0) != 2:
            return 0
        widest = x.shape[1]
        for m in self._layers:
            if not type(m).__dict__.get("_per_sample", False) or m._forward_pre_hooks:
                return 0
            widest = max(widest, getattr(m, "out_features", 0))
        rows = max(1, self._BLOCK_BYTES // (widest * x.dtype.itemsize))
        return rows if x.shape[0] >= 2 * rows else 0

    def __getitem__(self, i):
        return self._layers[i]

    def __len__(self):
        return len(self._layers)

    def __iter__(self):
        return iter(self._layers)


class ModuleList(Module):
    """A list of modules whose parameters are registered (named ``"0"``, ``"1"``, ...)."""

    def __init__(self, modules=()):
        super().__init__()
        self._items = []
        for m in modules:
            self.append(m)

    def append(self, m):
        if not isinstance(m, Module):
            raise TypeError(f"ModuleList: items must be Modules, received {type(m).__name__}")
        setattr(self, str(len(self._items)), m)
        self._items.append(m)
        return self

    def __getitem__(self, i):
        return self._items[i]

    def __len__(self):
        return len(self._items)

    def __iter__(self):
        return iter(self._items)
