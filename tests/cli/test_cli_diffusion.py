"""`scratchgen train ddpm` and `scratchgen sample` (scratchgen/cli/diffusion.py), on tiny runs (seconds)."""
import json

import numpy as np
import pytest

from scratchgen.cli import build_parser, main


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
    assert e.value.code == 2 and "--checkpoint: no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["train", "ddpm", "--data", "ring8", "--time-dim", "7", "--out", str(tmp_path / "x"), "--no-progress"])
    assert e.value.code == 2 and "--time-dim must be even" in capsys.readouterr().err


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
