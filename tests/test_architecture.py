"""The shape of the house (issue 19): no import cycle, no file or function too long to read, the
layers' imports point downward. Read from the source with ``ast``, imports inside functions included."""
import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1] / "scratchgen"
MAX_FILE_LINES = 660  # "about 650": the longest module is divergences.py (f-divergences, D*, W1, W2)
MAX_FUNCTION_LINES = 90


def _module_name(path):
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def imports_of(name):
    """The scratchgen modules that module ``name`` imports anywhere in its source (module level or inside
    a function): ``from . import x`` names the submodule x, ``from .m import f`` the module m."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                if f"{target}.{alias.name}" in MODULES:
                    out.add(f"{target}.{alias.name}")
                elif target in MODULES:
                    out.add(target)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name in MODULES)
    return out


def cycles(graph):
    """The strongly connected components with more than one module (or a module importing itself): Tarjan."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph[v]:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle_and_nothing_else():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"a"}, "b": set()}) == [["a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_import_reader_sees_imports_inside_functions():
    assert "scratchgen.checkpoint" in imports_of("scratchgen.training")
    inner = {n for n in MODULES if any(isinstance(node, ast.ImportFrom) and node.col_offset > 0
                                       for node in ast.walk(ast.parse(MODULES[n].read_text())))}
    assert inner, "no module imports inside a function: the reader's test proves nothing"


def test_no_import_cycle_in_the_package():
    graph = {name: imports_of(name) for name in MODULES}
    assert cycles(graph) == []


def test_the_library_never_imports_the_command_line():
    for name in MODULES:
        if not name.startswith("scratchgen.cli"):
            assert not {m for m in imports_of(name) if m.startswith("scratchgen.cli")}, name


@pytest.mark.parametrize("name", sorted(MODULES))
def test_files_and_functions_are_short_enough_to_read(name):
    source = MODULES[name].read_text()
    assert len(source.splitlines()) <= MAX_FILE_LINES
    long = [(node.name, node.end_lineno - node.lineno + 1) for node in ast.walk(ast.parse(source))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]
    assert long == []
