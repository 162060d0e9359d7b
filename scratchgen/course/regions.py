"""Solution regions in the library's own source, and the student's version of a function.

The body of an exercisable function (or the part of it that is the exercise) sits between two comment lines,
nbgrader's convention::

    def optimal_discriminator(p, q):
        r'''... the equation, the paper, the shapes ...'''
        p, q = _check_pair(p, q, -1, None, normalised=False)
        ### BEGIN SOLUTION
        xp = get_xp(p, q)
        ...
        ### END SOLUTION

so the reference code stays the code that runs and is tested. :func:`function_source` cuts the function out
of its module; ``stub=True`` replaces the region by ``raise NotImplementedError``; ``mutate`` rewrites the
region (the catalogue of plausible mistakes). :func:`free_imports` writes the imports that make the cut-out
function run in a file of its own, against the rest of the library.
"""
from __future__ import annotations

import ast
import builtins
import functools
import importlib
import inspect
import os
import textwrap
import types
from dataclasses import dataclass

__all__ = ["BEGIN", "END", "FunctionRef", "function_source", "solution_region", "free_imports"]

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"


@dataclass(frozen=True)
class FunctionRef:
    """``"scratchgen.divergences:optimal_discriminator"`` or ``"scratchgen.vae.vae:VAE.log_weights"`` (a method,
    written in the workspace as a function of ``self``)."""

    module: str
    qualname: str

    @classmethod
    def parse(cls, text):
        module, _, qualname = text.partition(":")
        if not module or not qualname:
            raise ValueError(f"a function reference is 'package.module:name' or 'package.module:Class.name', got {text!r}")
        return cls(module, qualname)

    @property
    def name(self):
        """The name the student implements (a method's own name)."""
        return self.qualname.rpartition(".")[2]

    @property
    def owner(self):
        """The class of a method, or None."""
        return self.qualname.rpartition(".")[0] or None

    def __str__(self):
        return f"{self.module}:{self.qualname}"


@functools.lru_cache(maxsize=64)
def _parsed(module_name, mtime):
    """The source lines and the syntax tree of a module (cached while its file is unchanged)."""
    source = inspect.getsource(importlib.import_module(module_name))
    return source.splitlines(), ast.parse(source)


def _node(ref):
    module = importlib.import_module(ref.module)
    lines, tree = _parsed(ref.module, os.path.getmtime(module.__file__))
    body = tree.body
    for part in ref.qualname.split("."):
        found = [n for n in body if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name == part]
        if not found:
            raise LookupError(f"{ref}: no {part!r} in {ref.module}")
        node, body = found[0], found[0].body
    return module, lines, node


def solution_region(ref):
    """``(lines, begin, end)``: the function's lines from ``def`` to its end (dedented to column 0, decorators left
    out) and the indices of its BEGIN and END marker lines."""
    _, lines, node = _node(ref)
    end = node.end_lineno  # the last statement; the END marker is a comment after it
    while end < len(lines) and lines[end].strip().startswith("#") and \
            len(lines[end]) - len(lines[end].lstrip()) > node.col_offset:
        end += 1
    own = textwrap.dedent("\n".join(lines[node.lineno - 1:end])).splitlines()
    begins = [i for i, ln in enumerate(own) if ln.strip() == BEGIN]
    ends = [i for i, ln in enumerate(own) if ln.strip() == END]
    if len(begins) != 1 or len(ends) != 1 or begins[0] > ends[0]:
        raise LookupError(f"{ref}: expected one '{BEGIN}' ... '{END}' region in its body, found "
                          f"{len(begins)} and {len(ends)}")
    return own, begins[0], ends[0]


def function_source(ref, stub=False, mutate=None):
    """The source of the function as the student's file holds it.

    ``stub``: the region becomes ``raise NotImplementedError``; otherwise the reference region is kept (markers
    included). ``mutate(region_text) -> text`` rewrites the region (the mutation catalogue).
    """
    own, b, e = solution_region(ref)
    pad = own[b][: len(own[b]) - len(own[b].lstrip())]
    if stub:
        middle = [f"{pad}# YOUR CODE HERE: the docstring has the equation",
                  f"{pad}raise NotImplementedError(\"{ref.name}: not implemented yet\")"]
    else:
        region = "\n".join(own[b + 1:e])
        if mutate is not None:
            region = mutate(region)
        middle = [own[b]] + region.split("\n") + [own[e]]
    return "\n".join(own[:b] + middle + own[e + 1:]) + "\n"


def _free_names(tree):
    """Names read in ``tree`` that are neither its parameters nor assigned in it nor builtins."""
    loaded, bound = set(), set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Name):
            (loaded if isinstance(n.ctx, ast.Load) else bound).add(n.id)
        elif isinstance(n, ast.arg):
            bound.add(n.arg)
        elif isinstance(n, (ast.FunctionDef, ast.ClassDef)):
            bound.add(n.name)
    return sorted(loaded - bound - set(dir(builtins)))


def free_imports(refs, defined=()):
    """The import lines that give the functions ``refs`` every module-level name they read, from where each
    name is defined (``from scratchgen.autodiff.tape import unbroadcast``; ``import math``); names in ``defined``
    (the workspace's own functions) are left to the workspace."""
    lines = set()
    for ref in refs:
        module = importlib.import_module(ref.module)
        own, _, _ = solution_region(ref)
        for name in _free_names(ast.parse("\n".join(own))):
            if name in defined or name not in vars(module):
                continue
            value = vars(module)[name]
            if isinstance(value, types.ModuleType):
                base, _, leaf = value.__name__.rpartition(".")
                lines.add(f"import {value.__name__}" if value.__name__ == name
                          else f"from {base} import {leaf} as {name}" if leaf != name else f"from {base} import {name}")
                continue
            origin = getattr(value, "__module__", None)
            if (isinstance(origin, str) and origin.startswith("scratchgen")
                    and getattr(importlib.import_module(origin), name, None) is value):
                lines.add(f"from {origin} import {name}")
            else:
                lines.add(f"from {ref.module} import {name}")
    return sorted(lines, key=lambda s: (not s.startswith("import "), s))
