"""CI runs (``--quick``) of the image demos: each writes its outputs, and the numbers are in range."""
import json
import runpy
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _demo(name):
    return runpy.run_path(str(ROOT / "demos" / name))["main"]


def test_dcgan_and_cgan_demos_quick(tmp_path, capsys):
    run, ref = _demo("digits_dcgan.py")(["--quick", "--out", str(tmp_path / "d")])
    for f in ("samples.png", "metrics.json", "checkpoint.npz", "reference_metrics.json"):
        assert (tmp_path / "d" / f).stat().st_size > 0
    assert 8.5 < ref["is"] <= 10 and ref["fid"] < run.final["fid"]
    x = _demo("digits_cgan.py")(["--quick", "--out", str(tmp_path / "c"), "--draw", "4", "2"])
    assert x.shape == (20, 1, 8, 8) and (tmp_path / "c" / "draw_42.png").exists()
    assert "class_accuracy" in json.load(open(tmp_path / "c" / "metrics.json"))["final"]
    # drawing from the saved checkpoint gives the same images as the trained generator
    y = _demo("digits_cgan.py")(["--checkpoint", str(tmp_path / "c" / "checkpoint.npz"), "--draw", "4", "2",
                                 "--out", str(tmp_path / "c2")])
    assert np.array_equal(x, y)


def test_ssgan_demo_quick(tmp_path):
    summary = _demo("digits_ssgan.py")(["--quick", "--out", str(tmp_path)])
    r = json.load(open(tmp_path / "results.json"))
    assert (tmp_path / "samples_seed0.png").exists() and r["per_seed"][0]["seed"] == 0
    for key in ("ssgan", "labelled_only"):
        assert 0.0 <= summary[key]["mean"] <= 1.0


def test_feature_classifier_script_quick(tmp_path):
    from scratchgen.checkpoint import load

    acc = _demo("train_feature_classifier.py")(["--quick", "--out", str(tmp_path / "c.npz")])
    state = load(tmp_path / "c.npz")
    assert state["meta"]["test_accuracy"] == acc and 0.1 < acc <= 1.0
