"""`scratchgen train dcgan|cgan|ssgan` and `scratchgen eval` (scratchgen/cli/images.py), on tiny runs."""
import json

import numpy as np
import pytest

from scratchgen.cli import build_parser, config_from_args, main


def test_cli_train_and_eval(tmp_path, capsys):
    out = tmp_path / "run"
    main(["train", "dcgan", "--steps", "3", "--batch", "8", "--width", "4", "--z-dim", "8", "--eval-every", "3",
          "--n-eval", "50", "--seed", "1", "--out", str(out), "--no-progress"])
    assert (out / "samples.png").exists() and (out / "checkpoint.npz").exists()
    m_train = json.load(open(out / "metrics.json"))["final"]
    capsys.readouterr()
    main(["eval", "--samples", str(out / "samples.npy"), "--seed", "1", "--out", str(tmp_path / "m.json")])
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.load(open(tmp_path / "m.json"))
    # the same samples, reference and seed: the numbers of the training run
    for k in ("fid", "kid", "is", "precision", "recall"):
        assert printed[k] == pytest.approx(m_train[k], rel=1e-9, abs=1e-12)
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((5, 3, 8, 8), np.float32))
    with pytest.raises(SystemExit):
        main(["eval", "--samples", str(bad)])
    assert "(N, 1, 8, 8)" in capsys.readouterr().err


def test_ssgan_flags_reach_the_config():
    args = build_parser().parse_args(["train", "ssgan", "--out", "x", "--hidden", "64", "32", "--noise", "0.6", "0.2",
                                      "--entropy", "0.5", "--weight-norm", "--ema", "0.99", "--unsup-weight", "0.5",
                                      "--consistency", "2", "--manifold", "0.1", "--manifold-eps", "4",
                                      "--vat", "0.5", "--vat-eps", "1.5", "--unlabelled-fraction", "0.3", "--augment"])
    cfg = config_from_args(args)
    assert cfg.augment and cfg.critic == "mlp"
    assert config_from_args(build_parser().parse_args(["train", "ssgan", "--out", "x", "--critic", "conv"])).critic == "conv"
    assert (cfg.ss_hidden, cfg.ss_noise, cfg.ss_entropy, cfg.weight_norm, cfg.ema, cfg.steps, cfg.ss_unsup_weight) == (
        (64, 32), (0.6, 0.2), 0.5, True, 0.99, 6000, 0.5)
    assert (cfg.ss_consistency, cfg.ss_manifold, cfg.ss_manifold_eps, cfg.ss_vat, cfg.ss_vat_eps) == (2.0, 0.1, 4.0, 0.5, 1.5)
    assert cfg.unlabelled_fraction == 0.3
