"""demos/score_langevin.py in its CI version (--quick: seconds), and the trainer behind it
(scratchgen.diffusion.score_train): outputs, exact resume, bad settings named."""
import json
import math
import runpy
from pathlib import Path

import numpy as np
import pytest

from scratchgen.diffusion.score_train import ScoreConfig, load_score_run, train_score

ROOT = Path(__file__).resolve().parents[2]


def test_score_langevin_demo_quick_writes_its_numbers_and_figure(tmp_path, capsys):
    results = runpy.run_path(str(ROOT / "demos" / "score_langevin.py"))["main"](
        ["--quick", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "exact score, annealed Langevin: modes 8/8" in out and "DSM network, DDPM ancestral" in out
    exact = results["exact_langevin"]
    # 500 chains, 10 levels of 20 steps with the exact score: every mode, weights within 6 points of 1/8
    assert exact["modes_captured"] == 8 and exact["weight_error_max"] < 0.06, exact
    assert all(abs(v - 1) < 0.15 for v in exact["variance_ratio"]), exact
    assert math.isfinite(results["dsm_langevin"]["esm"]) and results["dsm_langevin"]["esm"] > 0
    assert json.loads((tmp_path / "results.json").read_text())["config"]["steps"] == 150
    for name in ("score_langevin.png", "dsm/metrics.json", "dsm/samples.npy", "dsm/checkpoint.npz"):
        assert (tmp_path / name).stat().st_size > 0


TINY = dict(steps=40, batch=64, hidden=16, n_hidden=2, time_dim=8, T=50, levels=5, langevin_steps=5, n_eval=50,
            eval_every=20, progress=False)


def test_train_score_resumes_bit_for_bit(tmp_path):
    whole = train_score(ScoreConfig(**TINY), out_dir=str(tmp_path / "a"))
    train_score(ScoreConfig(**{**TINY, "steps": 20}), out_dir=str(tmp_path / "b"))
    resumed = train_score(ScoreConfig(**TINY), out_dir=str(tmp_path / "b"), resume=str(tmp_path / "b" / "checkpoint.npz"))
    assert whole.history["loss"] == resumed.history["loss"] and np.array_equal(whole.samples, resumed.samples)
    assert whole.samples.shape == (50, 2) and np.isfinite(whole.samples).all()
    back = load_score_run(str(tmp_path / "a"))  # the EMA weights, the config and the samples, read back
    x = whole.data.eval_x[:5]
    assert np.array_equal(back.score(x, 7), whole.score(x, 7)) and np.array_equal(back.samples, whole.samples)
    assert back.final["steps"] == 40 and back.config == whole.config


@pytest.mark.parametrize("field, value, message", [
    ("data", "digits", "data must be one of"),
    ("weighting", "snr", "weighting must be .sigma2. or .none., got .snr."),
    ("levels", 60, "levels must be"),
    ("langevin_eps", 0.0, "langevin_eps must be"),
    ("time_dim", 7, "time_dim must be even"),
])
def test_score_config_refuses_bad_settings_by_name(field, value, message):
    with pytest.raises((ValueError, TypeError), match=message):
        ScoreConfig(**{**TINY, field: value}).validate()
