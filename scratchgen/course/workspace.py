"""A student workspace: one module per exercise (signatures and docstrings, the solution regions replaced by
``raise NotImplementedError``), its tests, a README, and ``course.json``, which lists the exercises.

    scratchgen course new HW --exercises optimal_discriminator,q_posterior
    scratchgen course new KEY --exercises all --solutions      # the instructor's key: the reference bodies
"""
from __future__ import annotations

import importlib.util
import itertools
import json
import pathlib

from .exercises import exercise, resolve
from .regions import free_imports, function_source

__all__ = ["MANIFEST", "new_workspace", "exercise_module_source", "read_manifest", "load_student"]

MANIFEST = "course.json"

_TEST_TEMPLATE = '''"""The property tests of the exercise {name!r}: run ``pytest`` here, or ``scratchgen course grade .``."""
import pathlib

import pytest

from scratchgen.course import exercise, load_student

EXERCISE = exercise({name!r})


@pytest.mark.parametrize("label", EXERCISE.test_labels)
def test_{name}(label):
    functions = load_student(pathlib.Path(__file__).parent, EXERCISE.name)
    dict(EXERCISE.tests)[label](functions)
'''


def exercise_module_source(name, solutions=False, mutate=None):
    """The text of the student's module of exercise ``name``: a header, the imports the functions need from the
    library, and each function (stubbed, or with the reference region when ``solutions``; ``mutate`` maps
    ``(function name, region text) -> region text``)."""
    ex = exercise(name)
    own = {r.name for r in ex.refs}
    head = [f'"""Exercise {name}: {ex.title}.', "",
            "Implement the body of each function below where it says YOUR CODE HERE. The rest of scratchgen is the",
            "reference: the names your functions need are imported from it. Check your work with",
            f"``scratchgen course grade . --exercises {name}`` (or ``pytest test_{name}.py``).", ""]
    for r in ex.refs:
        head.append(f"* ``{r.name}``: from ``{r.module}``" + (f" (a method of ``{r.owner}``: ``self`` is the object)"
                                                                if r.owner else ""))
    head.append('"""')
    parts = ["\n".join(head), "\n".join(free_imports(ex.refs, defined=own))]
    for r in ex.refs:
        m = None if mutate is None else (lambda text, _n=r.name: mutate(_n, text))
        parts.append(function_source(r, stub=not solutions and mutate is None, mutate=m))
    return "\n\n\n".join(p.rstrip("\n") for p in parts if p) + "\n"


def _readme(names, solutions):
    lines = ["# scratchgen exercises", "",
             "Each exercise is a Python file with the signature and docstring (the equation, the paper, the shapes)",
             "of the functions to write. Replace each `raise NotImplementedError` with your code, then grade it:", "",
             "    scratchgen course grade .            # a table: exercise, tests passed, points",
             f"    scratchgen course grade . --exercises {names[0]}",
             "    pytest                                # the same property tests, one by one", "",
             "A failed test shows the smallest input hypothesis found on which your code is wrong, and the identity",
             "it should satisfy there.", "", "| exercise | what to implement | difficulty |", "| --- | --- | --- |"]
    for n in names:
        ex = exercise(n)
        lines.append(f"| `{n}.py` | {ex.title} | {'*' * ex.difficulty} |")
    if solutions:
        lines += ["", "This is the instructor's key: the files hold the reference bodies."]
    return "\n".join(lines) + "\n"


def new_workspace(directory, exercises="all", solutions=False, force=False):
    """Write a workspace for ``exercises`` (``"all"``, names or a comma-separated string) into ``directory``.

    Refuses a directory that holds files unless ``force`` (then only the workspace's own files are rewritten).
    Returns the list of exercise names.
    """
    names = resolve(exercises)
    if not names:
        raise ValueError("course new: no exercise named; use --exercises all or a list (scratchgen course list)")
    d = pathlib.Path(directory)
    if d.exists() and any(d.iterdir()) and not force:
        raise FileExistsError(f"course new: {d} is not empty; choose a new directory (or --force to overwrite "
                              "the workspace's files)")
    d.mkdir(parents=True, exist_ok=True)
    for n in names:
        (d / f"{n}.py").write_text(exercise_module_source(n, solutions=solutions))
        (d / f"test_{n}.py").write_text(_TEST_TEMPLATE.format(name=n))
    (d / "README.md").write_text(_readme(names, solutions))
    (d / MANIFEST).write_text(json.dumps({"exercises": names, "solutions": bool(solutions)}, indent=1) + "\n")
    return names


def read_manifest(directory):
    """The exercise names of the workspace in ``directory`` (from its ``course.json``)."""
    path = pathlib.Path(directory) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"course grade: {directory} has no {MANIFEST}; make a workspace with "
                                "`scratchgen course new DIR --exercises ...`")
    return resolve(json.loads(path.read_text())["exercises"])


_COUNTER = itertools.count()


def load_student(directory, name):
    """Import the student's module of exercise ``name`` from ``directory`` (a fresh module each time) and return
    its functions by name (``{"optimal_discriminator": <function>}``)."""
    ex = exercise(name)
    path = pathlib.Path(directory) / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_scratchgen_student_{name}_{next(_COUNTER)}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    missing = [r.name for r in ex.refs if not callable(getattr(module, r.name, None))]
    if missing:
        raise AttributeError(f"{path.name} defines no function {', '.join(missing)}")
    return {r.name: getattr(module, r.name) for r in ex.refs}
