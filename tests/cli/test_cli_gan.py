"""`scratchgen train gan` and `scratchgen reject` (scratchgen/cli/gan.py), on tiny runs (seconds)."""
import json
import math
import os

import numpy as np
import pytest

from scratchgen.cli import build_parser, config_from_args, main
from scratchgen.gan.train import GANConfig


def test_cli_run_writes_samples_metrics_checkpoint_and_figures(tmp_path, capsys):
    out = tmp_path / "run"
    main(["train", "gan", "--data", "ring8", "--loss", "nonsaturating", "--steps", "12", "--eval-every", "6",
          "--batch", "64", "--hidden", "16", "--z-dim", "8", "--n-eval", "200", "--seed", "0",
          "--out", str(out), "--no-progress"])
    assert "modes_captured=" in capsys.readouterr().out
    samples = np.load(out / "samples.npy")
    assert samples.shape == (200, 2) and np.all(np.isfinite(samples))
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["final"]["n_modes"] == 8 and 0 <= metrics["final"]["modes_captured"] <= 8
    assert metrics["history"]["eval_step"] == [6, 12]
    for name in ("checkpoint.npz", "samples.png", "losses.png", "modes.png"):
        assert (out / name).stat().st_size > 0


def test_help_documents_every_option(capsys):
    with pytest.raises(SystemExit):
        main(["train", "gan", "--help"])
    text = capsys.readouterr().out
    parser = build_parser()
    gan = parser._subparsers._group_actions[0].choices["train"]._subparsers._group_actions[0].choices["gan"]
    for action in gan._actions:
        for flag in action.option_strings:
            assert flag in text
        if action.option_strings and action.dest != "help":
            assert action.help, f"{action.option_strings} has no help text"


def test_every_new_flag_reaches_the_config():
    args = build_parser().parse_args([
        "train", "gan", "--out", "x", "--top-k", "0.5", "--ema", "0.99", "--instance-noise", "0.7",
        "--mmd-weight", "10", "--mmd-sigmas", "0.25", "4", "--mmd-samples", "128", "--mmd-schedule", "cosine", "--pack", "4", "--lr-schedule", "cosine"])
    cfg = config_from_args(args)
    assert (cfg.top_k, cfg.ema, cfg.instance_noise, cfg.mmd_weight, cfg.mmd_sigmas, cfg.mmd_samples, cfg.pack,
            cfg.lr_schedule) == (
        0.5, 0.99, 0.7, 10.0, (0.25, 4.0), 128, 4, "cosine")
    assert cfg.mmd_schedule == "cosine"
    defaults = config_from_args(build_parser().parse_args(["train", "gan", "--out", "x"]))
    assert defaults == GANConfig(progress=True)


def test_cli_rejection_samples_a_finished_run(tmp_path, capsys):
    out = tmp_path / "run"
    main(["train", "gan", "--data", "grid25", "--steps", "10", "--eval-every", "10", "--batch", "64",
          "--hidden", "16", "--z-dim", "8", "--n-eval", "200", "--out", str(out), "--no-progress"])
    main(["reject", str(out), "--steps", "30", "--batch", "64", "--no-progress"])
    assert "rejection sampling (acceptance" in capsys.readouterr().out
    samples = np.load(out / "samples_rejection.npy")
    assert samples.shape == (200, 2) and np.all(np.isfinite(samples))
    report = json.loads((out / "rejection.json").read_text())
    assert 0 < report["acceptance_rate"] <= 1
    assert abs(report["jsd_lower_bound"] - (math.log(4) - report["classifier_loss"]) / 2) < 1e-12
    # a lower bound of JSD, which lies in [0, log 2]; after 30 steps the classifier has learnt little, so near 0
    assert -0.05 < report["jsd_lower_bound"] < math.log(2), report["jsd_lower_bound"]
    assert report["rejection"]["n_modes"] == 25 and report["generator"]["n_modes"] == 25
    assert report["settings"]["hidden"] == 16  # the run's width
    for name in ("samples_rejection.png", "rejection_classifier.npz"):
        assert (out / name).stat().st_size > 0


def test_cli_reject_without_a_run_says_so(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["reject", str(tmp_path), "--no-progress"])
    assert e.value.code == 2  # a usage error: RUN_DIR names no run
    assert "no checkpoint.npz in run_dir=" in capsys.readouterr().err


def test_an_unknown_loss_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "gan", "--loss", "wasserstein", "--out", os.devnull])
    assert e.value.code == 2 and "argument --loss: expected one of" in capsys.readouterr().err
