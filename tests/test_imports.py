"""The import graph of scratchgen: no circle (imports inside functions count too), and no library
module imports the command line (scratchgen.cli sits on top of everything)."""
import ast
import pathlib

import scratchgen

ROOT = pathlib.Path(scratchgen.__file__).parent


def _modules():
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = ("scratchgen",) + path.relative_to(ROOT).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _import_graph():
    """module -> the scratchgen modules it imports anywhere in its file (``from a import b``: a.b if
    that is a module, else a)."""
    mods = _modules()

    def known(name):
        while name not in mods and "." in name:
            name = name.rsplit(".", 1)[0]
        return name

    graph = {}
    for mod, path in mods.items():
        package = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
        edges = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                edges |= {known(a.name) for a in node.names if a.name.startswith("scratchgen")}
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[:len(package.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                if target.startswith("scratchgen"):
                    edges |= {f"{target}.{a.name}" if f"{target}.{a.name}" in mods else known(target)
                              for a in node.names}
        graph[mod] = edges - {mod}
    return graph


def _cycles(graph):
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_the_checker_finds_a_circle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_circle_in_scratchgen():
    graph = _import_graph()
    assert {"scratchgen.cli.main", "scratchgen.gan.train", "scratchgen.nn.layers"} <= set(graph)  # the walk sees the tree
    assert "scratchgen.gan.train" in graph["scratchgen.cli.gan"]  # function-level imports count
    assert _cycles(graph) == []


def test_no_library_module_imports_the_command_line():
    graph = _import_graph()
    offenders = sorted((m, t) for m, ts in graph.items() for t in ts
                       if t.startswith("scratchgen.cli") and not m.startswith("scratchgen.cli"))
    assert offenders == []
