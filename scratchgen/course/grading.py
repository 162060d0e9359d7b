"""Grading a workspace: each exercise's property tests run against the student's functions, in this process,
with a time limit per exercise; the result is a table (exercise, tests passed, points) and, for each failed
test, the message in the student's terms and the minimal counterexample hypothesis found.

    scratchgen course grade HW                 # the table and the failures
    scratchgen course grade HW --json          # for a course system
"""
from __future__ import annotations

import contextlib
import functools
import json
import signal
import threading
import time
from dataclasses import asdict, dataclass, field

from ..testing import property_settings
from .exercises import exercise
from .workspace import load_student, read_manifest

__all__ = ["TestResult", "ExerciseResult", "GradeReport", "ExerciseTimeout", "grade", "grade_exercise"]


class ExerciseTimeout(BaseException):
    """The exercise ran past its time limit (a BaseException, so that hypothesis does not shrink it)."""


class _NotImplemented(BaseException):
    """A stub was called: the test fails at once (no search for a smaller input)."""


@dataclass
class TestResult:
    label: str
    passed: bool
    message: str = ""
    counterexample: str = ""
    seconds: float = 0.0


@dataclass
class ExerciseResult:
    name: str
    title: str
    passed: int
    total: int
    points: float
    max_points: int
    tests: list = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class GradeReport:
    exercises: list

    @property
    def points(self):
        return round(sum(e.points for e in self.exercises), 1)

    @property
    def max_points(self):
        return sum(e.max_points for e in self.exercises)

    def to_json(self):
        return json.dumps({"points": self.points, "max_points": self.max_points,
                           "exercises": [asdict(e) for e in self.exercises]}, indent=1)

    def table(self, failures=True):
        """The grade table, then (with ``failures``) each failed test's message and counterexample."""
        w = max([len("exercise")] + [len(e.name) for e in self.exercises])
        rows = [f"{'exercise':<{w}}  tests  points", f"{'-' * w}  -----  ------"]
        for e in self.exercises:
            rows.append(f"{e.name:<{w}}  {e.passed:>2}/{e.total:<2}  {e.points:>4.1f}/{e.max_points}")
        rows.append(f"{'total':<{w}}  {sum(e.passed for e in self.exercises):>2}/{sum(e.total for e in self.exercises):<2}"
                    f"  {self.points:.1f}/{self.max_points}")
        if failures:
            for e in self.exercises:
                for t in e.tests:
                    if not t.passed:
                        rows += ["", f"{e.name}: {t.label}", f"  {t.message}"]
                        rows += [f"  {line}" for line in t.counterexample.splitlines()]
        return "\n".join(rows)


def _guard(fn):
    @functools.wraps(fn)
    def guarded(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except NotImplementedError as e:
            raise _NotImplemented(str(e) or f"{fn.__name__}: not implemented yet") from None
    return guarded


@contextlib.contextmanager
def _deadline(seconds):
    """Raise :class:`ExerciseTimeout` after ``seconds`` (a SIGALRM timer; only in the main thread of a Unix process,
    elsewhere no limit)."""
    usable = seconds and hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def _raise(signum, frame):
        raise ExerciseTimeout(f"ran past its time limit of {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, _raise)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _explain(e):
    """(message, counterexample) of a failed test."""
    notes = [n for n in getattr(e, "__notes__", []) if n.strip()]
    example = "\n".join(n for n in notes if not n.startswith("You can add @seed"))
    if isinstance(e, AssertionError):
        msg = str(e) or "an assertion failed"
    elif isinstance(e, _NotImplemented):
        msg = f"not implemented yet ({e})"
    elif isinstance(e, ExerciseTimeout):
        msg = f"stopped: {e}"
    else:
        msg = f"your code raised {type(e).__name__}: {e}"
    return " ".join(msg.split()), example


def grade_exercise(directory, name, timeout=60.0, max_examples=20, shrink=True):
    """Grade one exercise of the workspace in ``directory``: an :class:`ExerciseResult`."""
    ex = exercise(name)
    start, results = time.perf_counter(), []
    try:
        functions = {k: _guard(f) for k, f in load_student(directory, name).items()}
    except Exception as e:  # a syntax error, a missing function: every test fails with the reason
        msg = f"{name}.py could not be loaded: {type(e).__name__}: {e}"
        results = [TestResult(label, False, " ".join(msg.split())) for label in ex.test_labels]
        functions = None
    if functions is not None:
        with property_settings(max_examples=max_examples, shrink=shrink):
            for label, check in ex.tests:
                t0 = time.perf_counter()
                left = None if not timeout else timeout - (t0 - start)
                try:
                    if left is not None and left <= 0:
                        raise ExerciseTimeout(f"no time left of the exercise's {timeout:g} s")
                    with _deadline(left):
                        check(functions)
                    results.append(TestResult(label, True, seconds=time.perf_counter() - t0))
                except (Exception, _NotImplemented, ExerciseTimeout) as e:
                    msg, example = _explain(e)
                    results.append(TestResult(label, False, msg, example, time.perf_counter() - t0))
    passed = sum(r.passed for r in results)
    points = round(ex.points * passed / len(results), 1)
    return ExerciseResult(ex.name, ex.title, passed, len(results), points, ex.points, results,
                          time.perf_counter() - start)


def grade(directory, exercises=None, timeout=60.0, max_examples=20, shrink=True):
    """Grade the workspace in ``directory`` (every exercise of its ``course.json``, or ``exercises``): a
    :class:`GradeReport`."""
    names = read_manifest(directory)
    if exercises:
        from .exercises import resolve

        wanted = resolve(exercises)
        absent = [n for n in wanted if n not in names]
        if absent:
            raise ValueError(f"course grade: the workspace has no exercise {', '.join(absent)}; it has {', '.join(names)}")
        names = wanted
    return GradeReport([grade_exercise(directory, n, timeout, max_examples, shrink) for n in names])
