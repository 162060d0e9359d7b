"""demos/mode_collapse.py, the main job: its outputs, resuming without retraining, refusing a run directory
of other settings, results that do not depend on the BLAS thread count, and the overview figure.

The demo is a script, not a package module: it is loaded from ``demos/`` by path, and its ``main`` runs in
this process (``--jobs 1``: no worker processes) unless a test says otherwise. Every sweep here is tiny
(a few generator steps).
"""
import importlib.util
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO = os.path.join(ROOT, "demos", "mode_collapse.py")
TINY = ["--quick", "--steps", "4", "--data", "ring8", "--configs", "nonsaturating", "pacgan", "--jobs", "1"]  # 2 runs of 4 steps


def _load():
    spec = importlib.util.spec_from_file_location("demo_mode_collapse", DEMO)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _numbers(path):
    """results.json without the wall times (they differ run to run)."""
    record = json.loads(path.read_text())
    for r in record["runs"]:
        del r["wall_s"]
    if record["optimal_discriminator"]:
        del record["optimal_discriminator"]["wall_s"]
    return record


def _files(out):
    """Every file under ``out`` (but the overview figure, which is drawn again): its bytes."""
    return {os.path.relpath(os.path.join(d, f), out): open(os.path.join(d, f), "rb").read()
            for d, _, files in os.walk(out) for f in files}


def test_quick_sweep_writes_table_results_figures_and_the_optimal_discriminator(tmp_path, capsys):
    _load().main(["--quick", "--out", str(tmp_path), "--jobs", "1"])
    results = json.loads((tmp_path / "results.json").read_text())
    runs = results["runs"]
    assert results["profile"] == "quick"
    assert [(r["name"], r["data"]) for r in runs] == [
        (n, d) for n in ("nonsaturating", "pacgan") for d in ("ring8", "grid25")]
    for r in runs:
        assert r["steps"] == 20 and r["n_modes"] == {"ring8": 8, "grid25": 25}[r["data"]]
        assert 0 <= r["modes_captured"] <= r["n_modes"]
        assert 0 <= r["high_quality_fraction"] <= 1
        # MMD² to held-out data: an untrained generator (samples near the origin) is far from both mixtures
        assert 0.1 < r["mmd2"] < 4
        assert r["wall_s"] > 0
        run_dir = tmp_path / r["name"] / r["data"] / "seed0"
        assert np.load(run_dir / "samples.npy").shape == (500, 2)
        assert json.loads((run_dir / "metrics.json").read_text())["wall_s"] == r["wall_s"]
    table = (tmp_path / "table.md").read_text()
    assert table.count("\n") == 2 + 4 and "| PacGAN4, 2 critic steps, lr_G 2e-3" in table
    assert (tmp_path / "mode_collapse.png").stat().st_size > 10_000
    od = results["optimal_discriminator"]
    assert od["steps"] == 200 and 0 < od["mean_abs_error"] <= od["max_abs_error"] < 0.6
    assert (tmp_path / "optimal_discriminator" / "optimal_discriminator.png").stat().st_size > 10_000
    err = capsys.readouterr().err  # the progress bar over the whole job (tqdm writes to stderr)
    assert "runs 0/5 done, 5 left" in err and "runs 5/5 done, 0 left" in err


def test_a_rerun_reads_finished_runs_back_and_trains_nothing(tmp_path, monkeypatch, capsys):
    demo = _load()
    demo.main(TINY + ["--out", str(tmp_path)])
    before = _files(tmp_path)

    def no_training(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    import scratchgen.gan.train
    monkeypatch.setattr(scratchgen.gan.train, "train_gan", no_training)
    capsys.readouterr()
    demo.main(TINY + ["--out", str(tmp_path)])
    after = _files(tmp_path)
    assert "nothing to train: 2 finished runs in" in capsys.readouterr().out
    png = "mode_collapse.png"
    assert {k: v for k, v in after.items() if k != png} == {k: v for k, v in before.items() if k != png}


@pytest.mark.parametrize("second, steps", [(["--quick", "--data", "ring8"], 20),
                                           (["--quick", "--steps", "5", "--data", "ring8"], 5),
                                           (["--data", "ring8", "--configs", "nonsaturating"], 1000)])
def test_a_run_directory_with_other_settings_is_refused_and_nothing_is_written(tmp_path, second, steps):
    """The issue's case: --quick (or another --steps, or the tour) into a directory of finished runs of other
    settings. It stops before training or writing anything, naming the directory and the difference."""
    demo = _load()
    demo.main(["--quick", "--steps", "4", "--data", "ring8", "--configs", "nonsaturating", "--jobs", "1",
               "--out", str(tmp_path)])
    before = _files(tmp_path)
    with pytest.raises(demo.SweepError) as e:
        demo.main(second + ["--jobs", "1", "--out", str(tmp_path)])
    message = str(e.value)
    assert os.path.join(str(tmp_path), "nonsaturating", "ring8", "seed0") in message
    assert f"steps: 4 there, {steps} asked" in message and "another --out" in message
    assert _files(tmp_path) == before  # the figure too: nothing written


def test_an_interrupted_sweep_keeps_what_finished_and_resumes_bit_for_bit(tmp_path, monkeypatch):
    demo = _load()
    argv = ["--quick", "--steps", "4", "--configs", "nonsaturating", "--jobs", "1"]
    demo.main(argv + ["--out", str(tmp_path / "whole")])

    import scratchgen.gan.train
    train_gan = scratchgen.gan.train.train_gan

    def stop_grid_at_step_3(cfg, out_dir=None, resume=None, callback=None):  # the grid's run dies after step 3
        def die(step, *modules):
            if cfg.data == "grid25" and step == 3:
                raise RuntimeError("killed")
        return train_gan(cfg, out_dir=out_dir, resume=resume, callback=die)

    monkeypatch.setattr(scratchgen.gan.train, "train_gan", stop_grid_at_step_3)
    cut = tmp_path / "cut"
    with pytest.raises(SystemExit, match="1 runs failed"):
        demo.main(argv + ["--out", str(cut)])
    # what finished is in the table and results.json already; the grid's run left its checkpoint of step 2
    partial = json.loads((cut / "results.json").read_text())
    assert [(r["name"], r["data"]) for r in partial["runs"]] == [("nonsaturating", "ring8")]
    assert "| GAN, non-saturating | ring8 |" in (cut / "table.md").read_text()
    assert (cut / "mode_collapse.png").exists()
    grid = cut / "nonsaturating" / "grid25" / "seed0"
    assert (grid / "checkpoint.npz").exists() and not (grid / "metrics.json").exists()

    monkeypatch.setattr(scratchgen.gan.train, "train_gan", train_gan)
    demo.main(argv + ["--out", str(cut)])  # resumes the grid's run from step 2
    assert _numbers(cut / "results.json") == _numbers(tmp_path / "whole" / "results.json")
    for data in ("ring8", "grid25"):
        a, b = (np.load(d / "nonsaturating" / data / "seed0" / "samples.npy") for d in (cut, tmp_path / "whole"))
        np.testing.assert_array_equal(a, b)


def test_rows_an_earlier_sweep_recorded_stay_in_the_table_and_no_train_trains_nothing(tmp_path, capsys):
    demo = _load()
    demo.main(TINY + ["--configs", "nonsaturating", "--out", str(tmp_path)])  # the last --configs counts
    demo.main(TINY + ["--configs", "pacgan", "--out", str(tmp_path)])
    runs = json.loads((tmp_path / "results.json").read_text())["runs"]
    assert [r["name"] for r in runs] == ["nonsaturating", "pacgan"]
    assert (tmp_path / "table.md").read_text().count("\n") == 2 + 2
    capsys.readouterr()
    demo.main(TINY + ["--seeds", "0", "1", "--no-train", "--out", str(tmp_path)])  # seed 1 of both: not trained
    assert "2 runs are not finished" in capsys.readouterr().out
    assert not (tmp_path / "pacgan" / "ring8" / "seed1").exists()
    assert len(json.loads((tmp_path / "results.json").read_text())["runs"]) == 2


def test_workers_pin_blas_to_one_thread():
    from threadpoolctl import threadpool_limits

    demo = _load()
    with threadpool_limits(limits=2):
        before = demo.blas_threads()
        assert demo.pinned(demo.blas_threads) == 1
        assert demo.blas_threads() == before  # restored after the run
    assert demo.default_jobs() == len(os.sched_getaffinity(0))


def test_results_do_not_depend_on_the_blas_threads_in_the_environment_nor_on_the_workers(tmp_path):
    """The quick sweep (4 steps, the ring) in two fresh interpreters: 1 BLAS/OpenMP thread and one process,
    against 2 threads and two joblib (loky) workers. The numbers of results.json are identical."""
    procs = []
    for threads, jobs in ((1, 1), (2, 2)):
        env = {**os.environ, "OPENBLAS_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads),
               "MKL_NUM_THREADS": str(threads)}
        out = tmp_path / f"threads{threads}"
        procs.append((out, subprocess.Popen([sys.executable, DEMO, "--quick", "--steps", "4", "--data", "ring8",
                                             "--configs", "nonsaturating", "pacgan", "--jobs", str(jobs),
                                             "--out", str(out)], env=env, cwd=ROOT,
                                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)))
    for _, p in procs:
        log = p.communicate(timeout=600)[0]
        assert p.returncode == 0, log
    (a, _), (b, _) = procs
    assert _numbers(a / "results.json") == _numbers(b / "results.json")
    assert len(_numbers(a / "results.json")["runs"]) == 2


def test_rejection_row_corrects_its_base_run_and_a_rerun_trains_neither(tmp_path, monkeypatch):
    demo = _load()
    tiny = dict(steps=4, eval_every=4, n_eval=100, hidden=16, mmd_samples=32, batch=64)
    base = next(r for r in demo.TOUR if r.name == "pacgan-mmd")
    reject = next(r for r in demo.TOUR if r.name == "pacgan-mmd-reject")
    rows = [demo.dataclasses.replace(r, options={**demo.COMMON, **r.options, **tiny},
                                     reject=r.reject and {**r.reject, "steps": 20, "batch": 64}) for r in (base, reject)]
    jobs = demo.make_jobs(rows, str(tmp_path))
    assert len(jobs) == 1 and [n for n, _ in jobs[0]["rows"]] == ["pacgan-mmd", "pacgan-mmd-reject"]  # one directory
    first = demo.run_job(jobs[0])
    run_dir = tmp_path / "pacgan-mmd" / "grid25" / "seed0"
    report = json.loads((run_dir / "rejection.json").read_text())
    assert [r["name"] for r in first] == ["pacgan-mmd", "pacgan-mmd-reject"]
    plain, rejected = first
    assert rejected["steps"] == 4 and rejected["wall_s"] == plain["wall_s"] + report["wall_s"]
    assert rejected["high_quality_fraction"] == report["rejection"]["high_quality_fraction"]  # the accepted samples
    assert rejected["acceptance_rate"] == report["acceptance_rate"] and 0 < rejected["acceptance_rate"] <= 1
    assert np.load(run_dir / "samples_rejection.npy").shape == (100, 2)
    assert demo.run_state(jobs[0]) == ("done", None)
    import scratchgen.gan.rejection
    monkeypatch.setattr(scratchgen.gan.rejection, "rejection_sample_run", lambda *a, **k: pytest.fail("retrained"))
    assert demo.run_job(jobs[0]) == first  # neither the GAN nor the classifier is trained again
    other = demo.make_jobs([rows[0], demo.dataclasses.replace(rows[1], reject={**rows[1].reject, "steps": 21})],
                           str(tmp_path))[0]
    state, reasons = demo.run_state(other)
    assert state == "conflict" and reasons == ["rejection steps: 20 there, 21 asked"]


def test_table_is_mean_and_std_over_seeds():
    demo = _load()
    runs = [dict(name="nonsaturating", data="ring8", seed=s, modes_captured=m, n_modes=8, high_quality_fraction=h,
                 kl_from_uniform=k, mmd2=0.1, wall_s=10.0, steps=3000)
            for s, (m, h, k) in enumerate([(1, 0.5, 2.0), (3, 0.7, 1.0), (2, 0.9, math.inf)])]
    table = demo.summarise(runs, ["nonsaturating"], ["ring8"])
    stats = table["nonsaturating", "ring8"]
    # mean and population std written out: modes (1, 3, 2) -> 2, sqrt(2/3); HQ (.5, .7, .9) -> .7, sqrt(.08/3)
    assert abs(stats["modes_captured"][0] - 2.0) < 1e-12 and abs(stats["modes_captured"][1] - math.sqrt(2 / 3)) < 1e-12
    assert abs(stats["high_quality_fraction"][0] - 0.7) < 1e-12
    assert abs(stats["high_quality_fraction"][1] - math.sqrt(0.08 / 3)) < 1e-12
    assert stats["kl_from_uniform"][0] == math.inf  # one seed without high-quality samples
    text = demo.markdown_table(table, ["nonsaturating"], ["ring8"], {"nonsaturating": "NS"})
    assert "| NS | ring8 | 2.0 ± 0.8 / 8 | 70.0 ± 16.3 | ∞" in text


def test_the_tour_runs_every_loss_on_both_data_sets_and_the_cures():
    demo = _load()
    from scratchgen.gan.train import LOSSES

    losses = {r.options["loss"] for r in demo.TOUR if set(r.data) == {"ring8", "grid25"}}
    assert losses == set(LOSSES)  # minimax, non-saturating, LSGAN, WGAN, hinge
    names = {r.name for r in demo.TOUR}
    assert {"pacgan", "pacgan-mmd", "pacgan-mmd-reject"} <= names
    ns = next(r for r in demo.TOUR if r.name == "nonsaturating")
    assert ns.seeds_for("ring8") == (0, 1, 2)  # collapse depends on the seed: the table shows how often


def test_overview_figure_has_one_panel_per_finished_row_and_data_with_tricks_and_coverage(tmp_path, monkeypatch):
    demo = _load()
    demo.main(TINY + ["--out", str(tmp_path), "--data", "ring8", "grid25"])
    from scratchgen import viz

    figures = []
    monkeypatch.setattr(viz, "save_figure", lambda fig, path, **kw: figures.append((fig, kw)))
    record = json.loads((tmp_path / "results.json").read_text())
    rows = [demo._row_from_record(n, r) for n, r in record["rows"].items()]
    results = {(r["name"], r["data"], r["seed"]): r for r in record["runs"] if r["data"] == "ring8" or r["name"] == "pacgan"}
    demo.write_outputs(str(tmp_path), "quick", rows, results, None, {})
    (fig, kw), = figures
    assert kw["dpi"] == 150
    panels = [ax for ax in fig.axes if ax.get_title(loc="left")]
    titles = [ax.get_title(loc="left").strip() for ax in panels]
    assert len(panels) == 3  # nonsaturating on the ring, pacgan on both; no panel for the grid run left out
    assert titles[0].startswith("nonsaturating · ring8") and "4 steps" in titles[0]
    assert "PacGAN (m = 4)" in titles[1] and "2 critic steps" in titles[1] and "lr_G 0.002, lr_D 0.02" in titles[1]
    texts = [[t.get_text() for t in ax.texts] for ax in panels]
    for (name, data), t in zip([("nonsaturating", "ring8"), ("pacgan", "ring8"), ("pacgan", "grid25")], texts):
        r = results[name, data, 0]
        assert t == [f"{r['modes_captured']}/{r['n_modes']} modes\n{100 * r['high_quality_fraction']:.1f}% HQ"]
    assert any("rescaled in each panel" in ax.get_xlabel() for ax in fig.axes)  # the colour bar says what it shows
