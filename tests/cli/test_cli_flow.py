"""`scratchgen train flow` (scratchgen/cli/flow.py), and `--data PATH.npy` for every toy trainer, on tiny
runs (seconds)."""
import json

import numpy as np
import pytest

from scratchgen.cli import main

TINY = ["--steps", "20", "--eval-every", "10", "--batch", "32", "--n-eval", "60", "--seed", "0", "--no-progress"]


def test_cli_train_flow_writes_the_held_out_nll_and_the_figures(tmp_path, capsys):
    out = tmp_path / "run"
    main(["train", "flow", "--data", "checkerboard", "--couplings", "2", "--hidden", "8", *TINY, "--out", str(out)])
    line = capsys.readouterr().out
    assert line.startswith(f"{out}: test_nll=") and "entropy=2.079" in line  # log 8
    final = json.loads((out / "metrics.json").read_text())["final"]
    assert final["n_test"] == 60 and final["data"] == "checkerboard"
    assert {"density.png", "layers.png", "nll.png", "checkpoint.npz", "samples.npy"} <= {p.name for p in out.iterdir()}


@pytest.mark.parametrize("command, options", [
    ("flow", ["--couplings", "2", "--hidden", "8", "--no-figures"]),
    ("gan", ["--hidden", "16", "--z-dim", "4"]),
    ("ddpm", ["--hidden", "16", "--time-dim", "8", "--T", "20", "--warmup", "1", "--no-figures"]),
])
def test_every_toy_trainer_takes_its_data_from_a_npy_file(tmp_path, command, options):
    # 300 rows of a 2-D Gaussian: 60 held out (a fifth), 240 to train on
    a = (np.random.default_rng(0).standard_normal((300, 2)) * [1.0, 0.3]).astype(np.float32)
    path = str(tmp_path / "points.npy")
    np.save(path, a)
    out = tmp_path / command
    main(["train", command, "--data", path, *options, *TINY, "--n-eval", "100", "--out", str(out)])
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["data"] == path and np.load(out / "samples.npy").shape == (100, 2)
    if command == "flow":
        assert metrics["final"]["n_test"] == 60  # every held-out row, fewer than --n-eval


@pytest.mark.parametrize("command", ["flow", "gan", "ddpm"])
def test_a_bad_data_file_is_one_line_naming_the_file(tmp_path, capsys, command):
    path = str(tmp_path / "labels.npy")
    np.save(path, np.arange(10).reshape(5, 2))
    with pytest.raises(SystemExit) as e:
        main(["train", command, "--data", path, "--out", str(tmp_path / "x"), "--no-progress"])
    err = capsys.readouterr().err
    assert e.value.code != 0 and f"'{path}' must hold a float array, got dtype int64" in err
    assert len(err.strip().splitlines()) == 1


def test_flow_refuses_one_dimensional_data(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "flow", "--data", "mixture1d", "--out", str(tmp_path / "x"), "--no-progress"])
    assert e.value.code != 0 and "data must have D >= 2 columns" in capsys.readouterr().err
