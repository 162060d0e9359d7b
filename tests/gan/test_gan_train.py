"""The GAN training loop, on tiny runs (seconds); its command line: tests/cli/test_cli_gan.py."""
import json
import math

import numpy as np
import pytest

import scratchgen as sg
from scratchgen.data.toy import load_toy
from scratchgen.gan.train import GANConfig, TrainingDiverged, build_models, sample_distances, train_gan
from scratchgen.gan.tricks import (
    instance_noise_std,
    mmd_weight_at,
    pack,
    top_k_count,
    top_k_scores,
    unrolled_g_loss,
)

TINY = dict(steps=12, eval_every=6, batch=64, hidden=16, z_dim=8, n_eval=200, progress=False)


@pytest.mark.parametrize("options", [
    dict(loss="minimax"), dict(loss="lsgan"), dict(loss="wgan", clip=0.01, d_steps=2),
    dict(loss="wgan", penalty="gp"), dict(loss="hinge", spectral_norm=True),
    dict(loss="nonsaturating", penalty="r1"), dict(loss="nonsaturating", label_smoothing=0.9),
    dict(loss="nonsaturating", minibatch_disc=True), dict(loss="nonsaturating", unrolled=2),
    dict(loss="nonsaturating", data="grid25"), dict(loss="nonsaturating", pack=4),
    dict(loss="wgan", penalty="gp", pack=2), dict(loss="nonsaturating", pack=2, unrolled=1),
    dict(loss="hinge", spectral_norm=True, lr_schedule="cosine"),
    dict(loss="nonsaturating", top_k=0.5, ema=0.9), dict(loss="nonsaturating", instance_noise=0.5, pack=2),
    dict(loss="wgan", penalty="gp", instance_noise=0.3), dict(loss="nonsaturating", pack=2, mmd_weight=5.0), dict(loss="wgan", penalty="gp", pack=2, top_k=0.25),
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
    unrolled = unrolled_g_loss(G, D, z, x, d_fn, g_fn, K=3, eta=0.0)
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
    unrolled_g_loss(G, D, z, x, d_fn, g_fn, K=2, eta=0.5).backward()
    assert np.max(np.abs(G.parameters()[-1].grad.numpy() - g_plain)) > 1e-4


def test_bad_config_is_a_clear_error():
    with pytest.raises(ValueError, match="loss must be one of"):
        train_gan(GANConfig(**{**TINY, "loss": "wasserstein"}))
    with pytest.raises(ValueError, match="label_smoothing applies to the minimax / nonsaturating"):
        train_gan(GANConfig(**{**TINY, "loss": "wgan", "label_smoothing": 0.9}))
    with pytest.raises(ValueError, match="data must be one of .*got 'ring9'"):
        train_gan(GANConfig(**{**TINY, "data": "ring9"}))


def test_pack_concatenates_consecutive_samples():
    x = sg.tensor(np.arange(24, dtype=np.float32).reshape(12, 2))
    packed = pack(x, 4)
    assert packed.shape == (3, 8)
    np.testing.assert_array_equal(packed.numpy()[1], np.arange(8, 16))  # samples 4..7, each (x, y)
    assert pack(x, 1) is x
    with pytest.raises(ValueError, match="not a multiple of the pack size m=5"):
        pack(x, 5)
    with pytest.raises(ValueError, match="pack must be a positive int dividing batch=64, got 3"):
        train_gan(GANConfig(**{**TINY, "pack": 3}))


def test_packed_critic_sees_m_samples_and_gradients_reach_every_one():
    cfg = GANConfig(**{**TINY, "pack": 4})
    gen = sg.rng(0)
    G, D = build_models(cfg, 2, gen)
    assert D.parameters()[0].shape[-1] * D.parameters()[0].shape[0] == 4 * 2 * 16  # first layer: 8 -> 16
    x = sg.tensor(sg.data.ring(16, seed=1).x)
    x.requires_grad = True
    D(pack(x, 4)).sum().backward()
    assert np.all(np.abs(x.grad.numpy()).sum(axis=1) > 0)  # every sample of every pack gets a gradient


def test_cosine_schedule_decays_both_learning_rates_to_zero():
    cfg = GANConfig(**{**TINY, "steps": 10, "eval_every": 10, "lr_schedule": "cosine", "lr_g": 2e-3})
    run = train_gan(cfg)
    # eta_t = eta_0 (1 + cos(pi t / T)) / 2 for the update t = 0..T-1
    expected = [2e-3 * 0.5 * (1 + math.cos(math.pi * t / 10)) for t in range(10)]
    np.testing.assert_allclose(run.history["lr_g"], expected, rtol=1e-12, atol=0)
    assert train_gan(GANConfig(**{**TINY, "steps": 3, "eval_every": 3})).history["lr_g"] == [1e-4] * 3
    with pytest.raises(ValueError, match="lr_schedule must be None or 'cosine', got 'linear'"):
        train_gan(GANConfig(**{**TINY, "lr_schedule": "linear"}))


def test_resume_with_another_config_is_refused(tmp_path):
    train_gan(GANConfig(**{**TINY, "steps": 6}), out_dir=str(tmp_path))
    ck = str(tmp_path / "checkpoint.npz")
    with pytest.raises(ValueError, match=r"ema: checkpoint 0\.0, this run 0\.9.*Only steps, eval_every, n_eval, progress may change"):
        train_gan(GANConfig(**{**TINY, "ema": 0.9}), out_dir=str(tmp_path), resume=ck)


def _straight_and_resumed(opts, tmp_path):
    """The same 12-step run twice: straight through, and killed after its step-6 checkpoint, then resumed."""
    straight = train_gan(GANConfig(**opts), out_dir=str(tmp_path / "a"))

    class Interrupted(Exception):
        pass

    def interrupt(step, G, D):
        if step == 8:
            raise Interrupted

    with pytest.raises(Interrupted):
        train_gan(GANConfig(**opts), out_dir=str(tmp_path / "b"), callback=interrupt)
    resumed = train_gan(GANConfig(**opts), out_dir=str(tmp_path / "b"), resume=str(tmp_path / "b" / "checkpoint.npz"))
    return straight, resumed


def test_resume_with_packing_and_cosine_schedule_is_bit_identical(tmp_path):
    straight, resumed = _straight_and_resumed({**TINY, "pack": 2, "lr_schedule": "cosine"}, tmp_path)
    np.testing.assert_array_equal(resumed.samples, straight.samples)
    assert resumed.history["lr_g"] == straight.history["lr_g"]


@pytest.mark.parametrize("name", ["ring8", "grid25", "mixture1d"])
def test_mmd2_to_held_out_data_is_near_zero_for_data_and_large_for_a_collapsed_generator(name):
    a, b = load_toy(name, 2500, seed=1).x, load_toy(name, 2500, seed=2).x
    same = sample_distances(a, b)["mmd2"]
    assert -5e-3 < same < 5e-3  # unbiased: centred on 0 for P = Q
    collapsed = sample_distances(np.repeat(a[:1], 2500, axis=0), b)["mmd2"]
    assert collapsed > 1.0


def test_metrics_json_has_mmd2_and_in_1d_the_w1_distance(tmp_path):
    run = train_gan(GANConfig(**{**TINY, "data": "mixture1d"}), out_dir=str(tmp_path))
    metrics = json.loads((tmp_path / "metrics.json").read_text())["final"]
    held_out = load_toy("mixture1d", TINY["n_eval"], seed=10_000).x
    w1 = float(sg.divergences.w1_1d(run.samples[:, 0], held_out[:, 0]))
    assert metrics["w1"] == pytest.approx(w1, rel=1e-6) and w1 > 0
    assert math.isfinite(metrics["mmd2"]) and metrics["n_modes"] == 2
    assert np.load(tmp_path / "samples.npy").shape == (TINY["n_eval"], 1)
    assert (tmp_path / "samples.png").stat().st_size > 0
    ring = train_gan(GANConfig(**{**TINY, "steps": 2, "eval_every": 2}))
    assert "mmd2" in ring.final and "w1" not in ring.final


def test_top_k_count_decays_linearly_to_its_floor_at_half_of_training():
    # 32 packs per batch (64 samples, packs of 2), T = 100; k_t = ceil(32 max(0.25, 1 - 0.75 t / 50)), by hand
    assert [top_k_count(t, 32, 0.25, 100) for t in (0, 10, 25, 49, 50, 99)] == [32, 28, 20, 9, 8, 8]
    assert top_k_count(70, 64, None, 100) == 64  # no top_k: the whole batch
    with pytest.raises(ValueError, match=r"top_k must be None or a fraction in \(0, 1\], got 1.5"):
        train_gan(GANConfig(**{**TINY, "top_k": 1.5}))
    with pytest.raises(ValueError, match=r"ema must lie in \[0, 1\), got 1.0"):
        train_gan(GANConfig(**{**TINY, "ema": 1.0}))


def test_top_k_generator_gradient_reaches_only_the_samples_the_critic_scores_highest():
    cfg = GANConfig(**{**TINY, "pack": 2})
    G, D = build_models(cfg, 2, sg.rng(0))
    x = sg.tensor(sg.data.grid(32, seed=3).x)
    x.requires_grad = True
    scores = D(pack(x, 2))  # (16, 1)
    best = np.argsort(-scores.numpy()[:, 0])[:5]  # the oracle: a full sort
    sg.gan.losses.g_loss_nonsaturating(top_k_scores(scores, 5)).backward()
    reached = np.abs(x.grad.numpy()).sum(axis=1).reshape(16, 2).sum(axis=1) > 0  # per pack
    assert set(np.nonzero(reached)[0]) == set(best)
    assert top_k_scores(scores, 16) is scores


def test_ema_generator_is_the_moving_average_of_the_trained_weights():
    seen = []  # G's weights after every update: the oracle recomputes the average from them
    train = train_gan(GANConfig(**{**TINY, "ema": 0.9}), callback=lambda step, G, D: seen.append(
        [p.data.copy() for p in G.parameters()]))
    G0, _ = build_models(GANConfig(**TINY), 2, sg.rng(0))  # the run's seed is 0: the same initial weights
    avg = [p.data.astype(np.float64) for p in G0.parameters()]  # the average starts at G's initial weights
    for t, weights in enumerate(seen):
        mu = min(0.9, (1 + t) / (10 + t))
        avg = [mu * a + (1 - mu) * w for a, w in zip(avg, weights)]
    for a, p in zip(avg, train.G_ema.parameters()):
        np.testing.assert_allclose(p.data, a, rtol=1e-5, atol=1e-6)
    assert max(np.max(np.abs(p.data - q.data)) for p, q in zip(train.G_ema.parameters(), train.G.parameters())) > 1e-4
    # the average is a different generator from the last iterate
    final = GANConfig(**TINY)
    with sg.no_grad():
        z = sg.tensor(sg.rng(5).standard_normal((5, final.z_dim)).astype(np.float32))
        assert not np.allclose(train.G_ema(z).numpy(), train.G(z).numpy())


def test_resume_with_top_k_ema_instance_noise_and_mmd_is_bit_identical(tmp_path):
    opts = {**TINY, "top_k": 0.5, "ema": 0.8, "instance_noise": 0.3, "mmd_weight": 2.0, "lr_schedule": "cosine"}
    straight, resumed = _straight_and_resumed(opts, tmp_path)
    np.testing.assert_array_equal(resumed.samples, straight.samples)
    assert resumed.history["loss_g"] == straight.history["loss_g"]
    for p, q in zip(resumed.G_ema.parameters(), straight.G_ema.parameters()):
        np.testing.assert_array_equal(p.data, q.data)


def test_instance_noise_decays_linearly_to_zero_at_half_of_training_and_reaches_the_critic():
    # sigma_t = 0.5 max(0, 1 - 2t/100), by hand
    np.testing.assert_allclose([instance_noise_std(t, 0.5, 100) for t in (0, 25, 40, 50, 99)],
                               [0.5, 0.25, 0.1, 0.0, 0.0], rtol=1e-12, atol=0)

    class Stop(Exception):
        pass

    seen = []  # std of the critic's inputs: about 0.7 for ring8 itself, about 10 with sigma ~ 10

    def watch(step, G, D):
        if step == 1:
            D.register_forward_pre_hook(lambda module, inputs: seen.append(float(inputs[0].numpy().std())))
        if step == 3:
            raise Stop

    with pytest.raises(Stop):  # 1000 steps, so sigma_t stays within 1% of s0 = 10 over the 3 watched steps
        train_gan(GANConfig(**{**TINY, "steps": 1000, "eval_every": 1000, "instance_noise": 10.0}), callback=watch)
    assert len(seen) == 6 and all(abs(s - 10.0) < 1.0 for s in seen)  # steps 2, 3: real, fake, generator pass
    with pytest.raises(ValueError, match="instance_noise must be a finite number >= 0, got -1"):
        train_gan(GANConfig(**{**TINY, "instance_noise": -1}))
    with pytest.raises(ValueError, match="instance_noise and unrolled cannot be combined"):
        train_gan(GANConfig(**{**TINY, "instance_noise": 0.1, "unrolled": 1}))


@pytest.mark.parametrize("seed", [0, 1])
def test_mmd_term_pulls_the_generator_toward_the_data(seed):
    # the critic frozen (lr 1e-12): what moves G toward the data is the lambda MMD^2 term alone
    opts = {**TINY, "steps": 150, "eval_every": 150, "lr_d": 1e-12, "lr_g": 3e-3, "seed": seed}
    plain = train_gan(GANConfig(**opts)).final["mmd2"]
    pulled = train_gan(GANConfig(**{**opts, "mmd_weight": 50.0})).final["mmd2"]
    assert pulled < 0.5 * plain  # measured: 0.19-0.20 against 0.76-0.82
    with pytest.raises(ValueError, match="mmd_weight must be a finite number >= 0, got -1"):
        train_gan(GANConfig(**{**TINY, "mmd_weight": -1}))
    with pytest.raises(ValueError, match="mmd_sigmas must be a non-empty tuple of finite bandwidths > 0"):
        train_gan(GANConfig(**{**TINY, "mmd_weight": 1.0, "mmd_sigmas": (0.0,)}))


@pytest.mark.parametrize("options, message", [
    (dict(instance_noise=float("inf")), "instance_noise must be a finite number >= 0, got inf"),
    (dict(mmd_weight=float("nan")), "mmd_weight must be a finite number >= 0, got nan"),
    (dict(mmd_sigmas=(float("nan"),)), r"mmd_sigmas must be a non-empty tuple of finite bandwidths > 0, got \(nan,\)"),
    (dict(mmd_sigmas=()), r"mmd_sigmas must be a non-empty tuple .*got \(\)"),
    (dict(mmd_weight=1.0, unrolled=1), "mmd_weight and unrolled cannot be combined"),
    (dict(top_k=0.5, unrolled=1), "top_k and unrolled cannot be combined"),
])
def test_bad_new_options_are_clear_errors(options, message):
    with pytest.raises(ValueError, match=message):
        train_gan(GANConfig(**{**TINY, **options}))
    with pytest.raises(TypeError, match="top_k must be None or a fraction in \\(0, 1\\], got True"):
        train_gan(GANConfig(**{**TINY, "top_k": True}))  # a bool is not a fraction


def test_mmd_weight_schedule_is_constant_or_a_cosine_decay_to_zero():
    assert [mmd_weight_at(t, 50.0, 100) for t in (0, 50, 99)] == [50.0, 50.0, 50.0]
    # 50 (1 + cos(pi t / 100)) / 2, by hand: 50 at t = 0, 25 at t = 50, 50 (1 + cos(0.99 pi)) / 2 at t = 99
    np.testing.assert_allclose([mmd_weight_at(t, 50.0, 100, "cosine") for t in (0, 50, 99)],
                               [50.0, 25.0, 25.0 * (1 + math.cos(0.99 * math.pi))], rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="mmd_schedule must be None or 'cosine', got 'linear'"):
        train_gan(GANConfig(**{**TINY, "mmd_schedule": "linear"}))


def test_critic_map_scores_in_chunks_so_minibatch_discrimination_fits_in_memory():
    from scratchgen import nn
    from scratchgen.viz import critic_scores

    D = nn.Sequential(nn.Linear(2, 8, generator=0), nn.LeakyReLU(0.2), nn.Linear(8, 1, generator=0))
    rows = []

    class Spy(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            rows.append(x.shape[0])
            return self.inner(x)

    pts = np.random.default_rng(0).uniform(-2, 2, (1300, 2))
    chunked = critic_scores(Spy(D), pts, chunk=512)
    assert rows == [512, 512, 276]  # the 150 x 150 contour grid at once: 151 GiB with minibatch discrimination
    one_by_one = np.array([sg.to_numpy(D(sg.tensor(p[None].astype(np.float32))).data).item() for p in pts[:20]])
    assert np.abs(chunked[:20] - one_by_one).max() < 1e-6  # a row-wise critic: the chunks change nothing
    assert critic_scores(D, np.zeros((0, 2))).shape == (0,)
    with pytest.raises(ValueError, match="chunk must be a positive int, got 0"):
        critic_scores(D, pts, chunk=0)
