"""The machinery of the reusable checks: hypothesis settings chosen by the caller (a grader, a test run), and
assertions that explain a failure in the student's terms.

A check is a function ``check_xxx(fn)`` that calls ``fn`` (the function under test) on inputs it draws with
hypothesis, compares against a closed form written out in the check, and raises ``AssertionError`` with a
message such as ``your D*(x) at p = 0.3, q = 0.7 is 0.5; the optimum is p/(p+q) = 0.3``. Hypothesis shrinks a
failing input to a minimal one before the error reaches the caller, and attaches the input as a note
(``Falsifying example: ...``) to the exception.
"""
from __future__ import annotations

import contextlib
import contextvars

import numpy as np  # test helpers compare NumPy values; they are not math code
from hypothesis import HealthCheck, Phase, given, settings

__all__ = ["property_settings", "for_all", "values", "assert_close", "expect"]

_ACTIVE = contextvars.ContextVar("scratchgen_property_settings", default=None)


@contextlib.contextmanager
def property_settings(max_examples=20, shrink=True, derandomize=True):
    """Run the checks inside with these hypothesis settings (a grader's: few examples, reproducible draws,
    no example database written into the student's folder).

    ``shrink=False`` skips the search for a minimal counterexample (faster; the first failing input is shown).
    """
    phases = [Phase.explicit, Phase.generate] + ([Phase.shrink] if shrink else [])
    s = settings(max_examples=max_examples, derandomize=derandomize, database=None, deadline=None, phases=phases,
                 suppress_health_check=list(HealthCheck), print_blob=False, report_multiple_bugs=False)
    token = _ACTIVE.set(s)
    try:
        yield s
    finally:
        _ACTIVE.reset(token)


def for_all(*strategies, **kw_strategies):
    """``hypothesis.given`` with the settings of the enclosing :func:`property_settings` (else the active
    hypothesis profile, without a deadline)."""
    def decorate(f):
        s = _ACTIVE.get()
        test = given(*strategies, **kw_strategies)(f)
        return s(test) if s is not None else settings(deadline=None, report_multiple_bugs=False)(test)
    return decorate


def values(x):
    """The numbers of ``x`` (a Tensor, a NumPy or CuPy array, a number) as a float64 NumPy array."""
    from ..backend import to_numpy

    data = getattr(x, "data", x) if type(x).__name__ == "Tensor" else x
    if data is None:
        raise AssertionError("your function returned None; did it forget a `return`?")
    return np.asarray(to_numpy(data), dtype=np.float64)


def expect(condition, message):
    """``assert condition, message`` that survives ``python -O``."""
    if not condition:
        raise AssertionError(message)


def _fmt(v):
    return f"{v:.6g}" if np.isfinite(v) else str(v)


def assert_close(got, want, *, what, identity, where=None, atol=1e-8, rtol=1e-6):
    """Compare ``got`` (the function's output) with ``want`` (the closed form) elementwise, two-sided:
    ``|got - want| <= atol + rtol |want|``.

    On failure, the message names the first wrong entry in the student's terms:
    ``your {what} {where(i)} is {got}; {identity} = {want}``. ``where`` maps a flat index to a description of
    the input there ("at p = 0.3, q = 0.7"); ``identity`` states what it should be ("the optimum is p/(p+q)").
    """
    g, w = values(got), np.asarray(want, dtype=np.float64)
    if g.shape != w.shape:
        raise AssertionError(f"your {what} has shape {g.shape}; {identity} has shape {w.shape}")
    ok = np.abs(g - w) <= atol + rtol * np.abs(w)
    ok |= (g == w)  # equal infinities
    if not bool(ok.all()):
        i = int(np.flatnonzero(~ok.ravel())[0])
        at = f" {where(i)}" if where is not None else (f" at index {tuple(int(k) for k in np.unravel_index(i, g.shape))}" if g.ndim else "")
        raise AssertionError(f"your {what}{at} is {_fmt(g.ravel()[i])}; {identity} = {_fmt(w.ravel()[i])}")
