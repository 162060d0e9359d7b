"""The notebooks (issue 25): kept as jupytext percent-format sources (notebooks/*.py), generated to .ipynb. The
default run checks that each .ipynb holds the cells of its source and executes every source at small size in
this process (SCRATCHGEN_NOTEBOOK_SIZE=small; each notebook asserts its own identities); the slow run executes
the .ipynb files themselves in Jupyter kernels (nbclient)."""
import os
import pathlib
import runpy

import pytest

from scratchgen import backend

ROOT = pathlib.Path(__file__).resolve().parents[2] / "notebooks"
SOURCES = sorted(ROOT.glob("*.py"))
TOPICS = {"autodiff_from_scratch", "optimal_discriminator_jsd", "mode_collapse", "wgan_gp", "semi_supervised_gan",
          "ddpm_step_by_step"}


def test_one_notebook_per_topic_each_with_its_generated_ipynb():
    assert {p.stem for p in SOURCES} == TOPICS
    assert {p.stem for p in ROOT.glob("*.ipynb")} == TOPICS


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_the_ipynb_holds_the_cells_of_its_source(source):
    jupytext = pytest.importorskip("jupytext")
    text = jupytext.read(source)
    nb = jupytext.read(source.with_suffix(".ipynb"))
    assert [(c.cell_type, c.source) for c in nb.cells] == [(c.cell_type, c.source) for c in text.cells], (
        f"{source.name} and its .ipynb differ: regenerate with `jupytext --update --to ipynb notebooks/{source.name}`")
    first_code = next(c for c in nb.cells if c.cell_type == "code").source
    assert 'backend.set_backend("cupy")' in first_code and "SCRATCHGEN_NOTEBOOK_SIZE" in first_code


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_each_notebook_runs_at_small_size(source, monkeypatch, tmp_path):
    plt = pytest.importorskip("matplotlib.pyplot")
    monkeypatch.setenv("SCRATCHGEN_NOTEBOOK_SIZE", "small")
    monkeypatch.chdir(tmp_path)
    with backend.use_backend(backend.get_backend()):  # the notebook's choice of backend ends with it
        try:
            runpy.run_path(str(source), run_name="__notebook__")
        finally:
            plt.close("all")


@pytest.mark.slow
@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_each_ipynb_executes_in_a_kernel(source):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(source.with_suffix(".ipynb"), as_version=4)
    env = dict(os.environ, SCRATCHGEN_NOTEBOOK_SIZE="small", MPLBACKEND="Agg")
    old = dict(os.environ)
    os.environ.update(env)
    try:
        nbclient.NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(old)
    assert all(o.get("output_type") != "error" for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
