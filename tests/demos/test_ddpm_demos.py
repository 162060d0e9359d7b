"""The DDPM demos and the command line, in their CI versions (--quick: seconds), plus the issue's
targets on the ring and the grid as slow tests (minutes: ``pytest -m slow``)."""
import json
import math
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest

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
