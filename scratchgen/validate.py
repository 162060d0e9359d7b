"""Checks of what a user hands the library, with one message style for every argument and option.

Every check here raises with a message of one shape::

    <who>: <name> must <requirement>, got <received>[; <how to fix it>]

``who`` is the function, class or config that was called (``"Adam"``, ``"GANConfig"``), ``name``
the argument or field, ``requirement`` what it must be (``"be a finite number > 0"``, ``"lie in
[0, 1)"``), ``received`` the value (``repr``) or, for arrays, its shape or dtype. The exceptions are
:class:`BadValue` (a ``ValueError``: out of range, not finite, wrong shape) and :class:`BadType` (a
``TypeError``: wrong type or dtype; ``True`` is not an int here, ``3.0`` is not an int either).
Both keep the pieces of their message, so the command line re-renders them with its option names
(``--penalty-weight must be a finite number >= 0, got -10.0``): names of other settings inside a
requirement or a fix are written ``{field}`` and filled in by :meth:`BadArgument.render`.

The checks return the value they accept unchanged (a number keeps its type), so checking a valid
run changes none of its numbers. This module imports nothing from the package: every layer may use
it (see docs/reliability.md for what is checked where, and what is not).
"""
from __future__ import annotations

import math
import numbers
import string

__all__ = ["BadArgument", "BadValue", "BadType", "bad", "is_int", "is_real", "check_int", "check_number", "check_pair", "check_numbers",
           "check_choice", "check_bool", "check_same_shape", "check_real_array", "check_labels", "check_seed"]


class _Names(dict):
    """A format mapping that renders any ``{field}`` with ``name_of(field)``."""

    def __init__(self, name_of):
        super().__init__()
        self.name_of = name_of

    def __missing__(self, key):
        return self.name_of(key)


class BadArgument(Exception):
    """An argument the caller gave is unusable. Holds the pieces of the message (see the module docstring).

    Attributes
    ----------
    who, name : str
        The function (or config) and the argument (or field).
    requirement : str
        What the argument must satisfy, after "must" (``"be a positive int"``).
    got : object
        The value received (shown with ``repr``, or as ``shown`` when given).
    fix : str or None
        How to fix it.
    """

    def __init__(self, who, name, requirement, got, fix=None, shown=None):
        self.who, self.name, self.requirement, self.got, self.fix = who, name, requirement, got, fix
        self.shown = shown
        super().__init__(self.render())

    def __reduce__(self):  # picklable, so an error raised in a worker process (joblib) reaches the parent intact
        return type(self), (self.who, self.name, self.requirement, self.got, self.fix, self.shown)

    def render(self, name_of=None, show=repr, who=True):
        """The message, with every setting's name given by ``name_of(field)`` (default: the field itself)
        and the value by ``show`` (default ``repr``); without the ``who:`` prefix when ``who`` is False."""
        fill = _Names(name_of or (lambda field: field))
        text = f"{fill[self.name]} must {string.Formatter().vformat(self.requirement, (), fill)}, got "
        text += self.shown if self.shown is not None else show(self.got)
        if self.fix:
            text += "; " + string.Formatter().vformat(self.fix, (), fill)
        return f"{self.who}: {text}" if who and self.who else text


class BadValue(BadArgument, ValueError):
    """The argument has a usable type but a value out of range, not finite, or of the wrong shape."""


class BadType(BadArgument, TypeError):
    """The argument has the wrong type or dtype."""


def bad(who, name, requirement, got, fix=None, *, type_error=False, shown=None):
    """The exception for ``name`` of ``who`` (raise it): :class:`BadType` when ``type_error``, else :class:`BadValue`."""
    return (BadType if type_error else BadValue)(who, name, requirement, got, fix, shown=shown)


# ---------------------------------------------------------------------------
# Numbers
# ---------------------------------------------------------------------------
def is_int(v):
    """An int (Python or NumPy), not a bool."""
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def is_real(v):
    """A real number (int or float, Python or NumPy), not a bool."""
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def check_int(value, name, who, *, min=None, max=None, fix=None):
    """``value`` if it is an int (Python or NumPy; not a bool, not a float) in ``[min, max]``; else raise.

    The requirement reads "be a positive int" (min=1), "be an int >= 0" (min=0) or "be an int in [a, b]".
    """
    if min == 1 and max is None:
        requirement = "be a positive int"
    elif max is None:
        requirement = "be an int" + (f" >= {min}" if min is not None else "")
    elif min is None:
        requirement = f"be an int <= {max}"
    else:
        requirement = f"be an int in [{min}, {max}]"
    if not is_int(value):
        raise bad(who, name, requirement, value, fix, type_error=True)
    if (min is not None and value < min) or (max is not None and value > max):
        raise bad(who, name, requirement, value, fix)
    return value


def _interval(min, max, min_open, max_open):
    return f"{'(' if min_open else '['}{min}, {max}{')' if max_open else ']'}"


def check_number(value, name, who, *, min=None, max=None, min_open=False, max_open=False, finite=True, fix=None):
    """``value`` if it is a real number (int or float, not a bool) within the bounds; else raise.

    ``min``/``max`` are inclusive unless ``min_open``/``max_open``; NaN is always refused, infinities
    unless ``finite=False``. The requirement reads "be a finite number > 0" or "lie in [0, 1)".
    """
    if min is not None and max is not None:
        requirement = f"lie in {_interval(min, max, min_open, max_open)}"
    else:
        requirement = "be a finite number" if finite else "be a number"
        if min is not None:
            requirement += f" {'>' if min_open else '>='} {min}"
        if max is not None:
            requirement += f" {'<' if max_open else '<='} {max}"
    if not is_real(value):
        raise bad(who, name, requirement, value, fix, type_error=True)
    v = float(value)
    if math.isnan(v) or (finite and math.isinf(v)):
        raise bad(who, name, requirement, value, fix)
    if min is not None and (v < min or (min_open and v == min)):
        raise bad(who, name, requirement, value, fix)
    if max is not None and (v > max or (max_open and v == max)):
        raise bad(who, name, requirement, value, fix)
    return value


def check_numbers(value, name, who, *, length=None, nonempty=True, **bounds):
    """``tuple(value)`` if ``value`` is a tuple or list of numbers, each passing :func:`check_number` with
    ``bounds`` (and exactly ``length`` of them when given); else raise naming ``name``."""
    what = f"be {length} numbers" if length is not None else "be a non-empty tuple of numbers"
    if "min" in bounds or "max" in bounds:
        lo, hi = bounds.get("min"), bounds.get("max")
        if lo is not None and hi is not None:
            what += f" in {_interval(lo, hi, bounds.get('min_open', False), bounds.get('max_open', False))}"
        elif lo is not None:
            what += f" {'>' if bounds.get('min_open') else '>='} {lo}"
        else:
            what += f" {'<' if bounds.get('max_open') else '<='} {hi}"
    if not isinstance(value, (tuple, list)):
        raise bad(who, name, what, value, fix=bounds.get("fix"), type_error=True)
    if (length is not None and len(value) != length) or (nonempty and not value):
        raise bad(who, name, what, value, fix=bounds.get("fix"))
    for v in value:
        try:
            check_number(v, name, who, **bounds)
        except BadArgument as e:
            raise type(e)(who, name, what, value, bounds.get("fix")) from None
    return tuple(value)


def check_pair(value, name, who, **bounds):
    """Exactly two numbers (Adam's ``betas``): :func:`check_numbers` with ``length=2``."""
    return check_numbers(value, name, who, length=2, **bounds)


def check_seed(value, name="seed", who=""):
    """A seed: an int >= 0 (NumPy's generators refuse negative seeds)."""
    return check_int(value, name, who, min=0)


def check_choice(value, name, who, choices, fix=None):
    """``value`` if it is one of ``choices`` (compared with ``==``, type included for bools); else raise."""
    if not any(value == c and type(value) is type(c) or (value is c) for c in choices):
        shown = [repr(c).replace("{", "{{").replace("}", "}}") for c in choices]
        requirement = f"be {shown[0]} or {shown[1]}" if len(shown) == 2 else f"be one of {', '.join(shown)}"
        raise bad(who, name, requirement, value, fix)
    return value


def check_bool(value, name, who):
    """``value`` if it is a bool (Python or NumPy); else raise (``1`` is not a bool here)."""
    if not isinstance(value, bool) and type(value).__name__ not in ("bool", "bool_"):  # NumPy 2 and 1
        raise bad(who, name, "be True or False", value, type_error=True)
    return value


# ---------------------------------------------------------------------------
# Arrays
# ---------------------------------------------------------------------------
def _shape(x):
    return tuple(x.shape)


def check_same_shape(a, a_name, b, b_name, who, fix="nothing is broadcast: reshape one to the other's shape"):
    """Raise unless ``a`` and ``b`` have one shape: no silent broadcasting in a loss or a metric.

    The message names both arguments and both shapes:
    ``mse_loss: target must have the shape of x, (8, 1), got shape (8,); ...``.
    """
    sa, sb = _shape(a), _shape(b)
    if sa != sb:
        raise bad(who, b_name, f"have the shape of {a_name}, {sa}", b, fix, shown=f"shape {sb}")


def check_real_array(x, name, who, *, kinds="f", fix=None):
    """Raise unless ``x`` (array or Tensor) has a real dtype of one of ``kinds`` ("f": floating; "fiu":
    any real number). Complex, object, string and bool arrays are refused by name."""
    dtype = getattr(x, "dtype", None)
    if dtype is None:
        raise bad(who, name, "be an array or a Tensor", x, fix, type_error=True, shown=type(x).__name__)
    if dtype.kind not in kinds:
        what = {"f": "a real floating dtype (float32 or float64)", "fiu": "a real number dtype (int or float)",
                "biuf": "a real dtype (bool, int or float)"}
        raise bad(who, name, f"have {what.get(kinds, 'a dtype of kind ' + repr(kinds))}", x,
                  fix or ("take .real or abs() first" if dtype.kind == "c" else None), type_error=True,
                  shown=f"dtype {dtype}")
    return x


def check_labels(y, name, who, n_classes, n=None):
    """Raise unless ``y`` holds class labels: shape ``(n,)``, an integer dtype (or floats that are whole
    numbers, cast exactly), every value in ``0..n_classes-1``. Returns ``y`` as an int64 array."""
    dtype = getattr(y, "dtype", None)
    if dtype is None:
        raise bad(who, name, "be an array of class labels", y, type_error=True, shown=type(y).__name__)
    if n is not None and _shape(y) != (n,):
        raise bad(who, name, f"have shape ({n},), one label per sample", y, shown=f"shape {_shape(y)}")
    if len(_shape(y)) != 1:
        raise bad(who, name, "be a 1-D array of labels", y, shown=f"shape {_shape(y)}")
    if dtype.kind == "f":
        if bool(((y % 1) != 0).any()) or not bool((abs(y) < 2**53).all()):
            raise bad(who, name, "hold whole-number class labels (an int dtype)", y,
                      "labels are never rounded or truncated", type_error=True, shown="non-integer values")
    elif dtype.kind not in "iu":
        raise bad(who, name, "have an integer dtype (class labels)", y, type_error=True, shown=f"dtype {dtype}")
    if y.size and (int(y.min()) < 0 or int(y.max()) >= n_classes):
        raise bad(who, name, f"hold labels in 0..{n_classes - 1}", y,
                  shown=f"values in [{int(y.min())}, {int(y.max())}]")
    return y.astype("int64")
