"""The docs run: every Python snippet of README.md and docs/*.md is executed, and every library name they
mention exists.

Conventions (for whoever writes the docs)
-----------------------------------------
1. **Snippets run.** Every fenced ```python block of a page runs, in the order of the page; the blocks of
   one page share one namespace, like the cells of a notebook (a later block may use an earlier one's
   names). A block runs in a fresh temporary directory, so files it writes vanish afterwards. When a
   ```python block that runs is followed directly (as the next fenced block) by a ```text block, it must
   print exactly that text (as the README's "prints" examples do).
2. **Excerpts are marked.** A block that quotes code from the library (indented, cut with ``...``, not
   meant to run on its own) has the HTML comment ``<!-- excerpt -->`` alone on the line before its opening
   fence. The comment is invisible on GitHub. An excerpt is not run; every one of its lines other than
   ``...`` must be a line of a file under ``scratchgen/`` (leading and trailing spaces ignored), so a quote
   cannot drift from the code it quotes.
3. **Names exist.** In the prose (outside fenced blocks), an inline code span that is a dotted name,
   optionally called (``a.b.c`` or ``a.b.c(...)``), is resolved by import when it starts with
   ``scratchgen``, ``sg`` (the README's alias of scratchgen) or the name of a module or package directly
   under ``scratchgen/`` (``gan.dcgan.dcgan_init_``, ``nn.init.normal_``, ``training.WeightAverage``): the
   module is imported and the rest looked up by ``getattr``. A span ``Class.attribute``, where a module of
   scratchgen defines a class of that name, must name an attribute (or dataclass field) of one such class.
   A span that is a bare call ``name(...)`` must name a Python builtin or something a scratchgen module
   defines (a module-level name, or a method or attribute of one of its classes); the callables that the
   caller writes and the library only calls (``step(t)``, ``evaluate(...)``, ``callback``, ...) are listed
   in ``CALLER_SUPPLIED``. Spans ending in a file extension (``train.py``, ``metrics.json``) are file
   names, and other spans (``x.grad``, ``np.where(...)``, shell commands) are not checked.
"""
import builtins
import contextlib
import importlib
import inspect
import io
import pathlib
import pkgutil
import re
import runpy
import sys
import textwrap

import pytest

import scratchgen

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGES = ["README.md"] + sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))
EXCERPT = "<!-- excerpt -->"

#: Callables the caller supplies and the library calls, named in the docs by their call signature
CALLER_SUPPLIED = {"step", "evaluate", "callback", "eps_model", "fwd", "rule", "propose", "log_ratio",
                   "sample_p", "sample_q"}

#: A span ending so is a file name, not a Python name
FILE_EXTENSIONS = {"py", "pyx", "md", "txt", "json", "npz", "npy", "png", "gif", "csv", "gz", "toml", "sh",
                   "cfg", "ini", "yml", "yaml"}


# ---------------------------------------------------------------------------
# Reading a page: fenced blocks and the prose between them
# ---------------------------------------------------------------------------
FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w+-]*)[ \t]*$")


def fenced_blocks(text):
    """``(lang, code, line, excerpt)`` for each fenced block of a page, in order; ``line`` is the 1-based
    line of the opening fence, ``code`` is dedented, ``excerpt`` whether ``<!-- excerpt -->`` is the line
    before the fence."""
    lines, blocks, i = text.split("\n"), [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        start, indent = i, m["indent"]
        i += 1
        while i < len(lines) and lines[i].strip() != "```":
            i += 1
        body = [ln[len(indent):] if ln.startswith(indent) else ln.lstrip() for ln in lines[start + 1:i]]
        excerpt = start > 0 and lines[start - 1].strip() == EXCERPT
        blocks.append((m["lang"], textwrap.dedent("\n".join(body)) + "\n", start + 1, excerpt))
        i += 1
    return blocks


def prose(text):
    """The page without its fenced blocks (blank lines in their place, so line numbers stay)."""
    out, inside = [], False
    for ln in text.split("\n"):
        fence = FENCE.match(ln) or (inside and ln.strip() == "```")
        out.append("" if inside or fence else ln)
        if fence:
            inside = not inside
    return "\n".join(out)


def read(page):
    return (ROOT / page).read_text(encoding="utf-8")


# ---------------------------------------------------------------------------
# 1. Snippets run (and print what the page says they print)
# ---------------------------------------------------------------------------
def runnable(page):
    """``(code, line, expected output or None)`` for the blocks of ``page`` that run."""
    blocks = fenced_blocks(read(page))
    out = []
    for k, (lang, code, line, excerpt) in enumerate(blocks):
        if lang == "python" and not excerpt:
            nxt = blocks[k + 1] if k + 1 < len(blocks) else None
            out.append((code, line, nxt[1] if nxt and nxt[0] == "text" else None))
    return out


PAGES_WITH_CODE = [p for p in PAGES if runnable(p)]


@pytest.mark.parametrize("page", PAGES_WITH_CODE)
def test_every_python_block_of_the_page_runs_in_order(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__docs__"}
    for code, line, expected in runnable(page):
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            try:
                exec(compile(code, f"{page}, block at line {line}", "exec"), namespace)
            except Exception as e:
                raise AssertionError(f"{page}: the python block at line {line} fails: {type(e).__name__}: {e}. "
                                     f"Fix it, or mark a quote of the code with {EXCERPT} on the line before "
                                     "its fence") from e
        if expected is not None:
            assert buf.getvalue().strip() == expected.strip(), f"{page}, block at line {line}"


def test_the_pages_have_runnable_code_and_the_readme_prints_what_it_shows():
    assert {"README.md", "docs/architecture.md", "docs/diffusion.md"} <= set(PAGES_WITH_CODE)
    assert sum(expected is not None for *_, expected in runnable("README.md")) >= 2


# ---------------------------------------------------------------------------
# 2. Excerpts quote the code as it is
# ---------------------------------------------------------------------------
def _source_lines():
    lines = set()
    for path in (ROOT / "scratchgen").rglob("*.py"):
        lines.update(ln.strip() for ln in path.read_text(encoding="utf-8").split("\n"))
    return lines


def test_every_excerpt_quotes_lines_of_the_library_and_every_marker_marks_a_block():
    source = _source_lines()
    stale, stray = [], []
    for page in PAGES:
        text = read(page)
        blocks = fenced_blocks(text)
        marked = {line - 1 for *_, line, excerpt in blocks if excerpt}
        stray += [f"{page}:{i + 1}" for i, ln in enumerate(text.split("\n"))
                  if ln.strip() == EXCERPT and i + 1 not in marked]
        for _, code, line, excerpt in blocks:
            if excerpt:
                stale += [f"{page}:{line}: {ln.strip()!r}" for ln in code.split("\n")
                          if ln.strip() not in ("", "...") and ln.strip() not in source]
    assert not stray, f"{EXCERPT} not directly above a fenced block: {stray}"
    assert not stale, "excerpt lines found in no file of scratchgen/:\n" + "\n".join(stale)


# ---------------------------------------------------------------------------
# 3. The names the prose mentions exist
# ---------------------------------------------------------------------------
SPAN = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
NAME = re.compile(r"(?P<dotted>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)(?P<call>\(.*\))?")
TOP_MODULES = {m.name for m in pkgutil.iter_modules(scratchgen.__path__)}


def _library_modules():
    mods = []
    for info in pkgutil.walk_packages(scratchgen.__path__, "scratchgen."):
        if info.name.endswith(".__main__"):  # runs the command line when imported
            continue
        try:
            mods.append(importlib.import_module(info.name))
        except ImportError:  # an optional dependency (CuPy) missing
            continue
    return mods


def _library_names():
    """(module-level names of every scratchgen module, classes by name, their attribute names)."""
    names, classes, members = set(), {}, set()
    for mod in _library_modules():
        for name, obj in vars(mod).items():
            names.add(name)
            if inspect.isclass(obj) and obj.__module__.startswith("scratchgen"):
                classes.setdefault(name, []).append(obj)
                for klass in obj.__mro__:
                    if klass.__module__.startswith("scratchgen"):
                        members.update(vars(klass))
                        members.update(getattr(klass, "__dataclass_fields__", {}))
    return names, classes, members


def resolve(path):
    """The object at the dotted ``path``: the longest importable module prefix, then ``getattr``."""
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for p in parts[i:]:
            obj = getattr(obj, p)
        return obj
    raise ImportError(path)


def _has(klass, attr):
    return hasattr(klass, attr) or attr in getattr(klass, "__dataclass_fields__", {})


def missing_names(text, names, classes, members):
    """The spans of ``text``'s prose that break convention 3, with their line numbers."""
    bad = []
    for lineno, line in enumerate(prose(text).split("\n"), 1):
        for span in SPAN.findall(line):
            m = NAME.fullmatch(span.strip())
            if not m:
                continue
            parts = m["dotted"].split(".")
            if parts[-1] in FILE_EXTENSIONS and len(parts) > 1:
                continue
            if parts[0] in ("scratchgen", "sg") or (parts[0] in TOP_MODULES and len(parts) > 1):
                path = ".".join(["scratchgen"] + parts[1:] if parts[0] in ("scratchgen", "sg") else
                                ["scratchgen"] + parts)
                try:
                    resolve(path)
                except (ImportError, AttributeError):
                    bad.append(f"{lineno}: `{span}` ({path} does not resolve)")
            elif parts[0] in classes and len(parts) == 2:
                if not any(_has(k, parts[1]) for k in classes[parts[0]]):
                    bad.append(f"{lineno}: `{span}` (no class {parts[0]} of scratchgen has {parts[1]!r})")
            elif m["call"] is not None and len(parts) == 1:
                name = parts[0]
                if not (hasattr(builtins, name) or name in names or name in members or name in CALLER_SUPPLIED):
                    bad.append(f"{lineno}: `{span}` (no scratchgen module defines {name!r})")
    return bad


@pytest.fixture(scope="module")
def library_names():
    return _library_names()


@pytest.mark.parametrize("page", PAGES)
def test_every_library_name_in_the_prose_exists(page, library_names):
    bad = missing_names(read(page), *library_names)
    assert not bad, f"{page}: names that do not exist:\n" + "\n".join(bad)


def test_the_name_check_catches_what_it_should(library_names):
    text = ("`scratchgen.training.WeightAverage`, `gan.dcgan.dcgan_init_(model)`, `nn.init.normal_`, "
            "`sg.grad`, `TrainingLoop.run`, `loss_simple(schedule, model, x0)`, `len(x)`, `step(t)`, "
            "`train.py`, `x.grad`, `np.where(m, a, b)`, `pip install -e .`\n"
            "```python\n`_not_checked_in_code()`\n```\n"
            "`scratchgen.training._ema_update`, `gan.dcgan.no_such_init_`, `TrainingLoop.no_such_method`, "
            "`_ema_update(avg, model)`, `nn.nope.x`\n")
    bad = missing_names(text, *library_names)
    assert [b.split("`")[1] for b in bad] == ["scratchgen.training._ema_update", "gan.dcgan.no_such_init_",
                                              "TrainingLoop.no_such_method", "_ema_update(avg, model)",
                                              "nn.nope.x"]
    assert all(b.startswith("5: ") for b in bad)  # line numbers count the fenced lines


def test_fenced_blocks_reads_indented_fences_and_the_excerpt_marker():
    text = "a\n<!-- excerpt -->\n```python\n    x = 1\n```\n* item\n\n  ```python\n  y = 2\n  ```\n```text\n2\n```\n"
    assert fenced_blocks(text) == [("python", "x = 1\n", 3, True), ("python", "y = 2\n", 8, False),
                                   ("text", "2\n", 11, False)]


# ---------------------------------------------------------------------------
# The README and its quick-start demo
# ---------------------------------------------------------------------------
def test_readme_commands_are_the_ci_commands():
    text = read("README.md")
    ci = (ROOT / ".ci" / "run").read_text()
    test_cmd = 'pip install -e ".[test]" && pytest'
    assert test_cmd in text and test_cmd in ci


def _run_quickstart(monkeypatch, *args):
    """Run demos/quickstart.py as ``python demos/quickstart.py ARGS``: (its stdout, its exit code or None)."""
    monkeypatch.setattr(sys, "argv", ["quickstart.py", *args])
    buf, code = io.StringIO(), None
    with contextlib.redirect_stdout(buf):
        try:
            runpy.run_path(str(ROOT / "demos" / "quickstart.py"), run_name="__main__")
        except SystemExit as e:
            code = e.code
    return buf.getvalue(), code


def test_quickstart_demo_prints_the_readme_output(monkeypatch):
    printed, code = _run_quickstart(monkeypatch)
    expected = [e for *_, e in runnable("README.md") if e is not None]
    assert code is None and len(expected) >= 2
    for e in expected:
        assert e.strip() in printed


def test_quickstart_help_prints_usage_and_runs_nothing(monkeypatch, capsys):
    out, code = _run_quickstart(monkeypatch, "--help")
    assert code == 0 and out.startswith("usage: quickstart.py") and "gradient" in out
    assert "tensor(36.)" not in out  # the examples did not run
    _, code = _run_quickstart(monkeypatch, "--no-such-option")
    assert code == 2 and "unrecognized arguments: --no-such-option" in capsys.readouterr().err


def test_docstring_examples_run_as_written():
    import doctest

    import scratchgen.autodiff.api as api

    result = doctest.testmod(api)
    assert result.attempted >= 1 and result.failed == 0

