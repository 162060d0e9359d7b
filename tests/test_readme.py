"""The README's examples print what the README says they print."""
import contextlib
import io
import pathlib
import re
import runpy

ROOT = pathlib.Path(__file__).resolve().parents[1]


def readme_examples():
    """Pairs (python code, expected output) of consecutive ```python / ```text blocks."""
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```(\w+)\n(.*?)```", text, flags=re.S)
    return [(code, out) for (lang, code), (lang2, out) in zip(blocks, blocks[1:])
            if lang == "python" and lang2 == "text"]


def test_readme_examples_print_what_the_readme_shows():
    pairs = readme_examples()
    assert len(pairs) >= 2
    namespace = {}
    for code, expected in pairs:  # blocks share one namespace, as in a session
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            exec(compile(code, "README.md", "exec"), namespace)
        assert buf.getvalue().strip() == expected.strip()


def test_readme_commands_are_the_ci_commands():
    text = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    test_cmd = 'pip install -e ".[test]" && pytest'
    assert test_cmd in text and test_cmd in ci


def test_quickstart_demo_prints_the_readme_output():
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        runpy.run_path(str(ROOT / "demos" / "quickstart.py"), run_name="__main__")
    printed = buf.getvalue()
    for _, expected in readme_examples():
        assert expected.strip() in printed


def test_docstring_examples_run_as_written():
    import doctest

    import scratchgen.autodiff.api as api

    result = doctest.testmod(api)
    assert result.attempted >= 1 and result.failed == 0
