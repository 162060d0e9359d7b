"""CI runs of the GAN demos (``--quick``): they write their outputs and the numbers are sane.

The demos are scripts, not package modules; they are loaded from ``demos/`` by path and their
``main`` is run in this process with a patched ``sys.argv`` (no interpreter start-up per demo).
"""
import importlib.util
import json
import math
import os
import sys

import numpy as np
import pytest

DEMOS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "demos")


def _load(name):
    spec = importlib.util.spec_from_file_location(f"demo_{name}", os.path.join(DEMOS, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(name, monkeypatch, *argv):
    module = _load(name)
    monkeypatch.setattr(sys, "argv", [f"{name}.py", *argv])
    module.main()
    return module


def test_optimal_discriminator_quick_is_close_to_p_over_p_plus_q(tmp_path, monkeypatch):
    _run("optimal_discriminator", monkeypatch, "--quick", "--out", str(tmp_path))
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["steps"] == 200
    # an untrained D (sigmoid(D) ~ 1/2) is ~0.3 from D* on average; 200 steps bring it within 0.12
    assert 0 < metrics["mean_abs_error"] < 0.12
    assert metrics["mean_abs_error"] <= metrics["max_abs_error"] < 0.6
    assert (tmp_path / "optimal_discriminator.png").stat().st_size > 10_000


def test_mode_collapse_quick_writes_table_results_and_figures(tmp_path, monkeypatch, capsys):
    _run("mode_collapse", monkeypatch, "--quick", "--out", str(tmp_path))
    results = json.loads((tmp_path / "results.json").read_text())
    runs = results["runs"]
    assert {(r["name"], r["data"]) for r in runs} == {
        (n, d) for n in ("nonsaturating", "pacgan") for d in ("ring8", "grid25")}
    for r in runs:
        assert r["steps"] == 20 and r["n_modes"] == {"ring8": 8, "grid25": 25}[r["data"]]
        assert 0 <= r["modes_captured"] <= r["n_modes"]
        assert 0 <= r["high_quality_fraction"] <= 1
        # MMD² to held-out data: the unbiased estimate may dip just below 0, never far; an
        # untrained generator (samples near the origin) is far from both mixtures
        assert 0.1 < r["mmd2"] < 4
        run_dir = tmp_path / r["name"] / r["data"] / "seed0"
        assert np.load(run_dir / "samples.npy").shape == (500, 2)
        assert (run_dir / "checkpoint.npz").stat().st_size > 0
    table = (tmp_path / "table.md").read_text()
    assert table.count("\n") == 2 + 4 and "| PacGAN4, 2 critic steps, lr_G 2e-3" in table
    assert (tmp_path / "mode_collapse.png").stat().st_size > 10_000
    assert "wrote" in capsys.readouterr().out


def test_mode_collapse_reuses_a_finished_run(tmp_path, monkeypatch):
    demo = _load("mode_collapse")
    options = {**demo.CONFIGS["nonsaturating"][0], **demo.QUICK, "steps": 4, "eval_every": 4, "n_eval": 100}
    job = ("nonsaturating", "ring8", 0, options, str(tmp_path / "run"))
    first = demo.run_one(job)
    second = demo.run_one(job)  # read back from metrics.json, not trained again
    assert second == first
    third = demo.run_one(("nonsaturating", "ring8", 0, {**options, "steps": 5}, str(tmp_path / "run")))
    assert third["steps"] == 5  # a different configuration is trained again
    assert demo.run_one(("nonsaturating", "ring8", 0, {**options, "steps": 6}, str(tmp_path / "run")),
                        train=False) is None  # --no-train: a run that is not on disk is left out


def test_mode_collapse_rejection_row_corrects_its_base_run_and_reuses_both(tmp_path):
    demo = _load("mode_collapse")
    base, settings = demo.REJECT["pacgan-mmd-reject"]
    options = {**demo.CONFIGS[base][0], **demo.QUICK, "steps": 4, "eval_every": 4, "n_eval": 100, "hidden": 16,
               "mmd_samples": 32, "batch": 64}
    tiny = {**settings, "steps": 20, "batch": 64}
    job = ("pacgan-mmd-reject", "grid25", 0, options, str(tmp_path / "run"), tiny)
    first = demo.run_one(job)
    report = json.loads((tmp_path / "run" / "rejection.json").read_text())
    assert first["name"] == "pacgan-mmd-reject" and first["steps"] == 4  # the base run's GAN steps
    assert first["high_quality_fraction"] == report["rejection"]["high_quality_fraction"]  # the accepted samples
    assert first["acceptance_rate"] == report["acceptance_rate"] and 0 < first["acceptance_rate"] <= 1
    assert np.load(tmp_path / "run" / "samples_rejection.npy").shape == (100, 2)
    assert demo.run_one(job) == first  # neither the GAN nor the classifier is trained again
    assert demo.run_one(job[:5] + ({**tiny, "steps": 21},), train=False) is None  # other classifier settings
    # the base run trained again (another GAN config): its old rejection.json is not reused
    retrained = demo.run_one(job[:3] + ({**options, "steps": 5},) + job[4:])
    assert retrained["steps"] == 5
    assert json.loads((tmp_path / "run" / "rejection.json").read_text())["run_config"]["steps"] == 5


def test_mode_collapse_table_is_mean_and_std_over_seeds():
    demo = _load("mode_collapse")
    runs = [dict(name="nonsaturating", data="ring8", seed=s, modes_captured=m, n_modes=8, high_quality_fraction=h,
                 kl_from_uniform=k, mmd2=0.1, wall_s=10.0, steps=3000)
            for s, (m, h, k) in enumerate([(1, 0.5, 2.0), (3, 0.7, 1.0), (2, 0.9, math.inf)])]
    table = demo.summarise(runs, ["nonsaturating"], ["ring8"])
    stats = table["nonsaturating", "ring8"]
    assert stats["modes_captured"] == pytest.approx((2.0, math.sqrt(2 / 3)))
    assert stats["high_quality_fraction"] == pytest.approx((0.7, math.sqrt(0.08 / 3)))
    assert stats["kl_from_uniform"][0] == math.inf  # one seed without high-quality samples
    text = demo.markdown_table(table, ["nonsaturating"], ["ring8"], {"nonsaturating": "NS"})
    assert "| NS | ring8 | 2.0 ± 0.8 / 8 | 70.0 ± 16.3 | ∞" in text
