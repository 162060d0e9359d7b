"""The GAN training loop and its command line, on tiny runs (seconds)."""
import json
import math
import os

import numpy as np
import pytest

import scratchgen as sg
from scratchgen.cli import build_parser, main
from scratchgen.gan.train import GANConfig, TrainingDiverged, _unrolled_g_loss, build_models, train_gan

TINY = dict(steps=12, eval_every=6, batch=64, hidden=16, z_dim=8, n_eval=200, progress=False)


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


@pytest.mark.parametrize("options", [
    dict(loss="minimax"), dict(loss="lsgan"), dict(loss="wgan", clip=0.01, d_steps=2),
    dict(loss="wgan", penalty="gp"), dict(loss="hinge", spectral_norm=True),
    dict(loss="nonsaturating", penalty="r1"), dict(loss="nonsaturating", label_smoothing=0.9),
    dict(loss="nonsaturating", minibatch_disc=True), dict(loss="nonsaturating", unrolled=2),
    dict(loss="nonsaturating", data="grid25"),
])
def test_every_option_trains_finitely(options):
    cfg = GANConfig(**{**TINY, "steps": 4, "eval_every": 4, **options})
    run = train_gan(cfg)
    assert all(math.isfinite(v) for v in run.history["loss_d"] + run.history["loss_g"])
    assert run.samples.shape == (200, 2)


def test_resume_continues_bit_identically(tmp_path):
    straight = train_gan(GANConfig(**TINY), out_dir=str(tmp_path / "a"))
    first = GANConfig(**{**TINY, "steps": 6})
    train_gan(first, out_dir=str(tmp_path / "b"))
    resumed = train_gan(GANConfig(**TINY), out_dir=str(tmp_path / "b"), resume=str(tmp_path / "b" / "checkpoint.npz"))
    np.testing.assert_array_equal(resumed.samples, straight.samples)
    assert resumed.history["loss_g"] == straight.history["loss_g"]


def test_nan_stops_with_a_message_and_keeps_the_last_good_checkpoint(tmp_path):
    def poison(step, G, D):
        if step == 9:
            G.parameters()[0].data[0, 0] = np.nan

    with pytest.raises(TrainingDiverged, match=r"step 10: non-finite .*last good checkpoint \(step 6\)"):
        train_gan(GANConfig(**TINY), out_dir=str(tmp_path), callback=poison)
    state = sg.load(str(tmp_path / "checkpoint.npz"))
    assert state["step"] == 6
    assert all(np.all(np.isfinite(v)) for v in state["G"].values())


def test_unrolled_with_zero_step_is_the_plain_generator_loss():
    cfg = GANConfig(**{**TINY, "unrolled": 3, "unroll_lr": 0.0})
    gen = sg.rng(0)
    G, D = build_models(cfg, 2, gen)
    z = sg.tensor(gen.standard_normal((32, cfg.z_dim)).astype(np.float32))
    x = sg.tensor(sg.data.ring(32, seed=1).x)
    from scratchgen.gan.train import LOSSES

    d_fn, g_fn = LOSSES["nonsaturating"]
    plain = g_fn(D(G(z)))
    plain.backward()
    g_plain = [p.grad.numpy().copy() for p in G.parameters()]
    G.zero_grad()
    unrolled = _unrolled_g_loss(cfg, G, D, z, x, d_fn, g_fn)
    unrolled.backward()
    assert abs(unrolled.item() - plain.item()) < 1e-6
    for a, p in zip(g_plain, G.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), a, rtol=1e-5, atol=1e-7)


def test_unrolled_steps_change_the_generator_gradient():
    cfg = GANConfig(**{**TINY, "unrolled": 2, "unroll_lr": 0.5})
    gen = sg.rng(0)
    G, D = build_models(cfg, 2, gen)
    z = sg.tensor(gen.standard_normal((32, cfg.z_dim)).astype(np.float32))
    x = sg.tensor(sg.data.ring(32, seed=1).x)
    from scratchgen.gan.train import LOSSES

    d_fn, g_fn = LOSSES["nonsaturating"]
    g_fn(D(G(z))).backward()
    g_plain = G.parameters()[-1].grad.numpy().copy()
    G.zero_grad()
    _unrolled_g_loss(cfg, G, D, z, x, d_fn, g_fn).backward()
    assert np.max(np.abs(G.parameters()[-1].grad.numpy() - g_plain)) > 1e-4


def test_bad_config_is_a_clear_error():
    with pytest.raises(ValueError, match="loss must be one of"):
        train_gan(GANConfig(**{**TINY, "loss": "wasserstein"}))
    with pytest.raises(ValueError, match="label_smoothing applies to the minimax / nonsaturating"):
        train_gan(GANConfig(**{**TINY, "loss": "wgan", "label_smoothing": 0.9}))
    with pytest.raises(SystemExit):
        main(["train", "gan", "--loss", "wasserstein", "--out", os.devnull])
