"""The DDPM demos and the command line, in their CI versions (--quick: seconds), plus the issue's
targets on the ring and the grid as slow tests (minutes: ``pytest -m slow``)."""
import json
import math
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest

from scratchgen.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[2]


def _demo(name):
    return runpy.run_path(str(ROOT / "demos" / name))["main"]


def test_ddpm_2d_demo_quick_writes_its_outputs(tmp_path, capsys):
    results = _demo("ddpm_2d.py")(["--quick", "--data", "ring8", "--out", str(tmp_path)])
    assert "ring8: modes" in capsys.readouterr().out
    f = results["ring8"]
    assert 0 <= f["modes_captured"] <= 8 and math.isfinite(f["mmd2"]) and f["timing_seconds"] > 0
    assert json.loads((tmp_path / "results.json").read_text())["ring8"]["n_modes"] == 8
    for name in ("samples.npy", "metrics.json", "checkpoint.npz", "samples.png", "trajectory.gif", "loss.png"):
        assert (tmp_path / "ring8" / name).stat().st_size > 0
    assert np.load(tmp_path / "ring8" / "samples.npy").shape == (300, 2)


def test_ddpm_digits_demo_quick_writes_its_outputs(tmp_path, capsys):
    results = _demo("ddpm_digits.py")(["--quick", "--out", str(tmp_path)])
    assert "| real training digits (40) |" in capsys.readouterr().out
    assert np.load(tmp_path / "digits" / "samples.npy").shape == (40, 1, 8, 8)
    # the floor (training images vs held-out) is near 0; 20 training steps are far from it
    real, ddpm = results["real training digits (40)"], results["DDPM, ancestral, 50 steps"]
    assert abs(real["mmd2"]) < 0.05 < ddpm["mmd2"] and real["fid"] < ddpm["fid"]
    for name in ("samples.png", "trajectory.gif", "checkpoint.npz"):
        assert (tmp_path / "digits" / name).stat().st_size > 0


def test_cli_train_ddpm_then_sample_with_ddpm_and_ddim(tmp_path, capsys):
    out = tmp_path / "run"
    main(["train", "ddpm", "--data", "grid25", "--steps", "10", "--eval-every", "5", "--batch", "32",
          "--hidden", "16", "--time-dim", "8", "--T", "30", "--n-eval", "100", "--seed", "0",
          "--out", str(out), "--no-progress", "--no-figures"])
    assert "modes_captured=" in capsys.readouterr().out
    assert not (out / "samples.png").exists()
    assert np.load(out / "samples.npy").shape == (100, 2)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["T"] == 30 and metrics["final"]["n_modes"] == 25
    ckpt = str(out / "checkpoint.npz")
    main(["sample", "--checkpoint", ckpt, "--sampler", "ddim", "--steps", "10", "--n", "50", "--seed", "1",
          "--out", str(tmp_path / "ddim"), "--no-figures"])
    m = json.loads((tmp_path / "ddim" / "metrics.json").read_text())
    assert m["sampler"] == "ddim" and m["steps"] == 10 and m["n"] == 50 and m["sample_seconds"] > 0
    # DDIM with eta = 0 is deterministic given x_T: the same seed gives the same samples
    main(["sample", "--checkpoint", ckpt, "--sampler", "ddim", "--steps", "10", "--n", "50", "--seed", "1",
          "--out", str(tmp_path / "ddim2"), "--no-figures"])
    np.testing.assert_array_equal(np.load(tmp_path / "ddim" / "samples.npy"), np.load(tmp_path / "ddim2" / "samples.npy"))
    main(["sample", "--checkpoint", ckpt, "--sampler", "ddpm", "--n", "40", "--out", str(tmp_path / "ddpm")])
    assert np.load(tmp_path / "ddpm" / "samples.npy").shape == (40, 2)
    assert (tmp_path / "ddpm" / "trajectory.gif").stat().st_size > 0
    assert json.loads((tmp_path / "ddpm" / "metrics.json").read_text())["steps"] == 30


def test_cli_errors_are_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["sample", "--checkpoint", str(tmp_path / "none.npz"), "--out", str(tmp_path)])
    assert e.value.code == 1 and "--checkpoint: no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["train", "ddpm", "--data", "ring8", "--time-dim", "7", "--out", str(tmp_path / "x"), "--no-progress"])
    assert e.value.code == 1 and "time_dim must be even" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["train", "ddpm"], ["sample"]])
def test_help_documents_every_option(command, capsys):
    with pytest.raises(SystemExit):
        main(command + ["--help"])
    text = capsys.readouterr().out
    sub = build_parser()._subparsers._group_actions[0].choices[command[0]]
    if len(command) == 2:
        sub = sub._subparsers._group_actions[0].choices[command[1]]
    for action in sub._actions:
        for flag in action.option_strings:
            assert flag in text
        if action.option_strings and action.dest != "help":
            assert action.help, f"{action.option_strings} has no help text"


# ---------------------------------------------------------------------------
# The targets (minutes on 2 cores; numbers in docs/results.md)
# ---------------------------------------------------------------------------
@pytest.mark.slow
def test_ring_target_all_8_modes_and_90_percent_high_quality(tmp_path):
    f = _demo("ddpm_2d.py")(["--data", "ring8", "--timing-n", "100", "--out", str(tmp_path)])["ring8"]
    assert f["modes_captured"] == 8 and f["high_quality_fraction"] >= 0.90, f


@pytest.mark.slow
def test_grid_target_at_least_24_of_25_modes(tmp_path):
    f = _demo("ddpm_2d.py")(["--data", "grid25", "--timing-n", "100", "--out", str(tmp_path)])["grid25"]
    assert f["modes_captured"] >= 24, f


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
