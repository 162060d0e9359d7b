"""The guidance, latent-diffusion, noise-spectrum and h-space demos in their CI versions (--quick: seconds), and the
command lines `scratchgen train ddpm --conditional`, `scratchgen sample --class --guidance`, `scratchgen train ldm`."""
import json
import math
import runpy
from pathlib import Path

import numpy as np
import pytest

from scratchgen.cli.main import main as cli

ROOT = Path(__file__).resolve().parents[2]


def _demo(name):
    return runpy.run_path(str(ROOT / "demos" / name))["main"]


def test_guidance_demo_quick(tmp_path, capsys):
    res = _demo("guidance.py")(["--quick", "--runs", str(tmp_path / "runs"), "--out", str(tmp_path)])
    ws = sorted({r["w"] for r in res["rows"]})
    assert ws == [-1.0, 0.0, 2.0]
    for r in res["rows"]:
        assert (r["class_accuracy"] is None) == (r["w"] == -1) and math.isfinite(r["fid"]) and 0 <= r["recall"] <= 1
    assert "| uncond. |" in capsys.readouterr().out
    for name in ("tradeoff.png", "grids.png", "results.json", "sweep_seed0_w2_n20_s10_clip.npz"):
        assert (tmp_path / name).stat().st_size > 0
    again = _demo("guidance.py")(["--quick", "--runs", str(tmp_path / "runs"), "--out", str(tmp_path)])
    assert again["rows"] == res["rows"]  # read back from the cache, not resampled


@pytest.mark.slow  # ~1.5 s of CPU, mostly the figure; the spectrum itself is tested in tests/diffusion/test_spectrum.py
def test_noise_spectrum_demo_quick(tmp_path):
    res = _demo("noise_spectrum.py")(["--quick", "--out", str(tmp_path)])
    assert res["destruction_step"] == sorted(res["destruction_step"], reverse=True)
    assert res["max_relative_error_vs_closed_form"] < 0.1  # one draw per digit: a few % per bin
    assert (tmp_path / "noise_spectrum.png").stat().st_size > 0


@pytest.mark.slow  # ~1.5 s of CPU (two trainings, the figure); train_ldm is in the default run by test_ldm_cli
def test_latent_diffusion_demo_quick(tmp_path):
    res = _demo("latent_diffusion.py")(["--quick", "--out", str(tmp_path)])[0]
    assert res["latent DDPM"]["sample_cpu_s"] < res["pixel DDPM"]["sample_cpu_s"]  # 8 numbers through an MLP
    assert set(res) == {"latent DDPM", "pixel DDPM", "VAE alone (z ~ N(0, I))",
                        "VAE reconstructions of the held-out digits"}
    assert (tmp_path / "samples.png").stat().st_size > 0


def test_h_space_demo_quick(tmp_path):
    res = _demo("h_space.py")(["--quick", "--out", str(tmp_path)])
    assert sum(res["counts"]) == 40 and set(res["summary"]) >= {"asymmetric, gamma 1", "random direction, gamma 1"}
    assert all(0 <= r["conversion"] <= 1 for r in res["edits"])
    assert (tmp_path / "h_space.png").stat().st_size > 0


def test_conditional_cli_train_and_guided_sample(tmp_path, capsys):
    run = tmp_path / "c"
    cli(["train", "ddpm", "--data", "digits", "--conditional", "--steps", "4", "--T", "20", "--hidden", "8",
         "--time-dim", "8", "--n-eval", "20", "--eval-every", "4", "--batch", "8", "--no-progress", "--no-figures",
         "--out", str(run)])
    cli(["sample", "--checkpoint", str(run / "checkpoint.npz"), "--class", "7", "--guidance", "2", "--n", "12",
         "--steps", "5", "--out", str(tmp_path / "s"), "--no-figures"])
    m = json.loads((tmp_path / "s" / "metrics.json").read_text())
    assert m["class"] == 7 and m["guidance"] == 2.0 and 0 <= m["class_accuracy"] <= 1
    assert "class_accuracy" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:  # a class outside 0..9, refused before any work
        cli(["sample", "--checkpoint", str(run / "checkpoint.npz"), "--class", "12", "--out", str(tmp_path / "t")])
    assert e.value.code == 2 and "--class" in capsys.readouterr().err


def test_guidance_options_need_a_conditional_checkpoint(tmp_path, capsys):
    run = tmp_path / "u"
    cli(["train", "ddpm", "--data", "digits", "--steps", "2", "--T", "10", "--hidden", "8", "--time-dim", "8",
         "--n-eval", "10", "--eval-every", "2", "--batch", "4", "--no-progress", "--no-figures", "--out", str(run)])
    with pytest.raises(SystemExit) as e:
        cli(["sample", "--checkpoint", str(run / "checkpoint.npz"), "--guidance", "1", "--out", str(tmp_path / "s")])
    assert e.value.code == 2 and "conditional" in capsys.readouterr().err


def test_ldm_cli(tmp_path, capsys):
    cli(["train", "ldm", "--vae-steps", "20", "--steps", "10", "--T", "20", "--hidden", "16", "--time-dim", "8",
         "--n-eval", "10", "--eval-every", "10", "--batch", "8", "--no-progress", "--out", str(tmp_path / "l")])
    assert "fid=" in capsys.readouterr().out
    final = json.loads((tmp_path / "l" / "metrics.json").read_text())["final"]
    assert final["n_samples"] == 10 and (tmp_path / "l" / "vae" / "checkpoint.npz").exists()
    assert np.load(tmp_path / "l" / "samples.npy").shape == (10, 1, 8, 8)
    with pytest.raises(SystemExit) as e:
        cli(["train", "ldm", "--vae", str(tmp_path / "missing.npz"), "--out", str(tmp_path / "m")])
    assert e.value.code in (1, 2) and "vae" in capsys.readouterr().err
