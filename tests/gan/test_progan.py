"""Progressive growing (scratchgen/gan/progan.py, train_karras.py): the fade-in identities at alpha = 0 and 1,
the equalised-LR scale of every layer, the stage schedule, the real images' blend, second-order gradients
of the critic, a short run on the scaffold, bad input."""
import math

import numpy as np
import pytest

import scratchgen as sg
from scratchgen import nn
from scratchgen.gan import train_karras as TK
from scratchgen.gan.progan import ProDiscriminator, ProGenerator, fade
from scratchgen.gan.train_karras import KarrasConfig, real_at, schedule, train_karras
from scratchgen.validate import BadArgument


def _z(n=6, d=8, seed=0):
    return sg.tensor(np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32))


@pytest.fixture(scope="module")
def nets():
    return ProGenerator(8, (8, 6, 4), generator=0), ProDiscriminator((8, 6, 4), generator=1)


def _up(a):  # nearest 2x upsampling written out: each pixel becomes a 2x2 block
    return np.repeat(np.repeat(a, 2, axis=2), 2, axis=3)


def _down(a):  # 2x2 average pooling written out
    return (a[:, :, 0::2, 0::2] + a[:, :, 1::2, 0::2] + a[:, :, 0::2, 1::2] + a[:, :, 1::2, 1::2]) / 4


def test_at_alpha_0_the_grown_generator_is_the_smaller_one_upsampled(nets):
    G, _ = nets
    z = _z()
    for k in (1, 2):
        grown = G(z, stage=k, alpha=0.0).data
        smaller = G(z, stage=k - 1, alpha=1.0).data
        assert grown.shape[-1] == 2 * smaller.shape[-1]
        assert np.abs(grown - _up(smaller)).max() == 0.0


def test_at_alpha_1_the_generator_is_the_new_block_alone(nets):
    G, _ = nets
    z = _z()
    for k in (1, 2):
        h = G.features(z, k)[-1]
        assert np.abs(G(z, stage=k, alpha=1.0).data - G.to_rgb[k](h).data).max() == 0.0


def test_in_between_the_generator_is_the_linear_blend(nets):
    G, _ = nets
    z, a = _z(), 0.3
    old, new = _up(G(z, 1, 1.0).data), G(z, 2, 1.0).data
    assert np.abs(G(z, 2, a).data - ((1 - a) * old + a * new)).max() < 1e-6


def test_at_alpha_0_the_grown_critic_is_the_smaller_one_on_the_downsampled_image(nets):
    _, D = nets
    x = np.random.default_rng(1).uniform(-1, 1, (4, 1, 16, 16)).astype(np.float32)
    assert np.abs(D(sg.tensor(x), 2, 0.0).data - D(sg.tensor(_down(x)), 1, 1.0).data).max() < 1e-6
    x8 = _down(x)
    assert np.abs(D(sg.tensor(x8), 1, 0.0).data - D(sg.tensor(_down(x8)), 0, 1.0).data).max() < 1e-6


def test_the_equalised_lr_scale_is_he_constant_for_each_layer(nets):
    G, D = nets
    layers = [m for net in (G, D) for m in net.modules() if isinstance(m, (nn.EqualizedLinear, nn.EqualizedConv2d))]
    assert len(layers) == 1 + 2 * 3 + 3 + 3 + 2 * 2 + 3  # G: dense, 2 convs a block, to_rgb; D: from_rgb, blocks, head
    for m in layers:
        if isinstance(m, nn.EqualizedLinear):
            fan_in = m.in_features
        else:
            fan_in = m.in_channels * m.kernel_size ** 2
        he = math.sqrt(2.0 / fan_in)
        # gain sqrt(2) everywhere but the linear outputs (to_rgb, the score: gain 1) and G's first dense layer
        # (gain sqrt(2)/4, [ProGAN]'s code), as the module docstring says
        expected = {math.sqrt(2): he, 1.0: he / math.sqrt(2), math.sqrt(2) / 4: he / 4}[m.gain]
        assert abs(m.scale - expected) < 1e-15
    n_he = sum(abs(m.gain - math.sqrt(2)) < 1e-15 for m in layers)
    assert n_he == len(layers) - 1 - 3 - 1  # all but G.dense, the three to_rgb and D.out


def test_schedule_stages_and_alpha_ramp():
    T, n, f = 300, 3, 0.5  # phases of 100 steps; fade over the first 50 of phases 1 and 2
    assert schedule(0, T, n, f) == (0, 1.0) and schedule(99, T, n, f) == (0, 1.0)
    assert schedule(100, T, n, f) == (1, 1 / 50)
    assert schedule(124, T, n, f) == (1, 25 / 50)
    assert schedule(149, T, n, f) == (1, 1.0) and schedule(199, T, n, f) == (1, 1.0)
    assert schedule(200, T, n, f) == (2, 1 / 50) and schedule(299, T, n, f) == (2, 1.0)
    alphas = [schedule(t, T, n, f)[1] for t in range(100, 150)]
    assert all(b > a for a, b in zip(alphas, alphas[1:]))  # strictly rising 0 -> 1


def test_schedule_with_a_share_of_the_steps_at_4x4():
    T, f = 100, 0.5  # 20 steps at 4x4, then 80 at 8x8 faded in over their first 40
    assert schedule(0, T, 2, f, 0.2) == (0, 1.0) and schedule(19, T, 2, f, 0.2) == (0, 1.0)
    assert schedule(20, T, 2, f, 0.2) == (1, 1 / 40) and schedule(39, T, 2, f, 0.2) == (1, 20 / 40)
    assert schedule(59, T, 2, f, 0.2) == (1, 1.0) and schedule(99, T, 2, f, 0.2) == (1, 1.0)
    # three stages, 40 % at 4x4: the other 60 steps split 30 / 30, each faded over its first 15
    assert [schedule(t, T, 3, f, 0.4)[0] for t in (39, 40, 69, 70, 99)] == [0, 1, 1, 2, 2]
    assert schedule(40, T, 3, f, 0.4) == (1, 1 / 15) and schedule(84, T, 3, f, 0.4) == (2, 1.0)
    # none: the even split of test_schedule_stages_and_alpha_ramp, and a share of 1/n gives the same stages
    assert all(schedule(t, 300, 3, f, 1 / 3)[0] == schedule(t, 300, 3, f)[0] for t in range(300))


def _linear_critic(w, b):  # D(x) = <w, x> + b per sample: grad_x D = w everywhere
    return lambda x: x.reshape(x.shape[0], -1) @ sg.tensor(w.reshape(-1, 1)) + b  # (B, 1)


def _softplus(a):
    return np.logaddexp(0, a)


@pytest.mark.parametrize("k", [1, 4])
def test_ns_r1_critic_loss_of_a_linear_critic_and_its_lazy_weight(k):
    r = np.random.default_rng(5)
    w, b = r.standard_normal(16), 0.3
    xr, xf = r.uniform(-1, 1, (6, 1, 4, 4)), r.uniform(-1, 1, (6, 1, 4, 4))
    cfg = KarrasConfig(loss="ns-r1", gamma=2.5, reg_every=k)
    dr, df = xr.reshape(6, -1) @ w + b, xf.reshape(6, -1) @ w + b
    logistic = _softplus(-dr).mean() + _softplus(df).mean()
    r1 = 2.5 / 2 * np.sum(w ** 2)  # gamma/2 ||w||^2 for every real sample
    D = _linear_critic(w, b)
    for t in range(2 * k):
        got = float(TK.critic_loss(cfg, D, sg.tensor(xr), sg.tensor(xf), t).data)
        want = logistic + (k * r1 if t % k == 0 else 0.0)  # lazy: every k-th step, k times the weight
        assert abs(got - want) < 1e-10
    assert abs(float(TK.generator_loss(cfg, sg.tensor(df)).data) - _softplus(-df).mean()) < 1e-12


@pytest.mark.parametrize("k", [1, 3])
def test_wgan_gp_critic_loss_of_a_linear_critic_and_its_lazy_weight(k):
    r = np.random.default_rng(6)
    w, b = r.standard_normal(16), -0.2
    xr, xf = r.uniform(-1, 1, (4, 1, 4, 4)), r.uniform(-1, 1, (4, 1, 4, 4))
    cfg = KarrasConfig(loss="wgan-gp", gp=10.0, drift=1e-3, reg_every=k)
    dr, df = xr.reshape(4, -1) @ w + b, xf.reshape(4, -1) @ w + b
    wgan = df.mean() - dr.mean() + 1e-3 * np.mean(dr ** 2)
    gp = 10.0 * (np.sqrt(np.sum(w ** 2)) - 1) ** 2  # ||grad D|| = ||w|| at every interpolate
    D = _linear_critic(w, b)
    for t in range(2 * k):
        got = float(TK.critic_loss(cfg, D, sg.tensor(xr), sg.tensor(xf), t, rng=0).data)
        assert abs(got - (wgan + (k * gp if t % k == 0 else 0.0))) < 1e-9
    assert abs(float(TK.generator_loss(cfg, sg.tensor(df)).data) + df.mean()) < 1e-12


def test_real_images_at_a_stage_are_pooled_and_blended():
    x = np.random.default_rng(2).uniform(-1, 1, (3, 1, 16, 16))
    assert np.abs(real_at(sg.tensor(x), 0, 1.0, 3).data - _down(_down(x))).max() < 1e-14
    a = 0.25
    x8 = _down(x)
    want = (1 - a) * _up(_down(x8)) + a * x8
    assert np.abs(real_at(sg.tensor(x), 1, a, 3).data - want).max() < 1e-14
    assert np.abs(fade(sg.tensor(x), sg.tensor(2 * x), 0.5).data - 1.5 * x).max() < 1e-14


def test_critic_second_order_gradients_for_the_gradient_penalty():
    D = ProDiscriminator((3, 2), group_size=2, generator=0).double()
    x = np.random.default_rng(3).uniform(-1, 1, (2, 1, 8, 8))
    sg.check_grads(lambda a: D(a, 1, 0.5).sum(), x, order=2)


def test_a_short_run_trains_and_evaluates_on_the_scaffold(tmp_path):
    cfg = KarrasConfig(steps=4, batch=8, channels=(4, 4), eval_every=4, n_eval=20, kid_subsets=2, progress=False)
    run = train_karras(cfg, out_dir=str(tmp_path))
    assert run.final["stage"] == 1 and run.final["alpha"] == 1.0
    assert run.samples.shape == (20, 1, 8, 8)
    assert {"fid", "precision", "recall", "recognisable", "classes_covered"} <= set(run.final)
    assert (tmp_path / "metrics.json").exists() and (tmp_path / "checkpoint.npz").exists()
    assert run.history["step"] and np.isfinite(run.history["loss_d"]).all()


def test_bad_input_names_the_argument():
    G = ProGenerator(4, (4, 4), generator=0)
    with pytest.raises(BadArgument, match=r"stage.*\[0, 1\].*2"):
        G(_z(2, 4), stage=2)
    with pytest.raises(BadArgument, match=r"alpha"):
        G(_z(2, 4), stage=1, alpha=1.5)
    with pytest.raises(BadArgument, match=r"x.*\(B, 1, 8, 8\).*\(2, 1, 4, 4\)"):
        ProDiscriminator((4, 4), generator=0)(sg.tensor(np.zeros((2, 1, 4, 4), np.float32)), 1)
    with pytest.raises(BadArgument, match=r"channels.*2 positive ints"):
        KarrasConfig(channels=(8, 8, 8)).validate()
    with pytest.raises(BadArgument, match=r"loss.*wgan-gp.*ns-r1.*'r1'"):
        KarrasConfig(loss="r1").validate()
    with pytest.raises(BadArgument, match=r"first_stage.*\(0, 1\).*1"):
        KarrasConfig(first_stage=1.0).validate()
    with pytest.raises(BadArgument, match=r"reg_every.*positive int.*0"):
        KarrasConfig(reg_every=0).validate()


def test_on_mnist_files_it_grows_4_to_32_on_padded_images(tmp_path):
    from scratchgen.data.mnist import MNIST_FILES, write_idx

    g = np.random.default_rng(0)
    for part, n in (("train", 2), ("test", 1)):
        labels = np.repeat(np.arange(10, dtype=np.uint8), n)
        for name, a in zip(MNIST_FILES[part], (g.integers(0, 256, (labels.size, 28, 28), dtype=np.uint8), labels)):
            write_idx(tmp_path / name, a)
    cfg = KarrasConfig(data="mnist", mnist_path=str(tmp_path), mnist_checksums="none", steps=4, batch=4,
                       channels=(4, 4, 2, 2), eval_every=4, n_eval=4, progress=False)
    run = train_karras(cfg)
    assert run.final["stage"] == 3 and run.samples.shape == (4, 1, 32, 32)  # 4 stages: 4, 8, 16, 32
    assert [schedule(t, 4, 4, 0.5)[0] for t in range(4)] == [0, 1, 2, 3]


@pytest.mark.parametrize("model", ["progan", "stylegan"])
def test_the_same_numbers_on_the_stand_in_cupy(model, monkeypatch):
    import fakecupy

    from scratchgen import backend
    from scratchgen.metrics import features

    fakecupy.install(monkeypatch)  # CuPy's rules (no implicit host conversion), NumPy underneath
    monkeypatch.setattr(features, "_CACHE", {})
    cfg = KarrasConfig(model=model, steps=3, batch=8, channels=(4, 4), eval_every=3, n_eval=20, kid_subsets=2,
                       progress=False)
    on_numpy = train_karras(cfg)
    saved = backend._state.name, backend._state.xp
    try:
        backend.set_backend("cupy")
        on_device = train_karras(cfg)
    finally:
        backend._state.name, backend._state.xp = saved
    assert np.array_equal(on_numpy.samples, on_device.samples)
    assert on_numpy.final["fid"] == on_device.final["fid"]


def test_with_a_tanh_output_the_fade_in_identity_still_holds():
    G = ProGenerator(8, (8, 6), tanh=True, generator=0)
    z = _z()
    small = G(z, stage=0).data
    assert np.abs(small).max() < 1  # squashed
    assert np.abs(G(z, stage=1, alpha=0.0).data - _up(small)).max() == 0.0  # tanh commutes with nearest upsampling


def test_the_data_fields_are_checked_together():
    """The same check as the other image trainers (data.images.check_image_data): MNIST settings with the
    digits are refused, not ignored."""
    with pytest.raises(BadArgument, match=r"KarrasConfig: mnist_path must be None with data 'digits'"):
        KarrasConfig(mnist_path="data/mnist5k").validate()
    with pytest.raises(BadArgument, match=r"KarrasConfig: mnist_checksums must be 'standard' with data 'digits'"):
        KarrasConfig(mnist_checksums="none").validate()
    with pytest.raises(BadArgument, match=r"KarrasConfig: mnist_path.*name the folder"):
        KarrasConfig(data="mnist").validate()


def test_a_weight_of_the_other_loss_is_refused_not_ignored():
    with pytest.raises(BadArgument, match=r"gamma must keep its default 0\.1 with loss 'wgan-gp'.*got 5"):
        KarrasConfig(loss="wgan-gp", gamma=5).validate()
    with pytest.raises(BadArgument, match=r"gp must keep its default 10\.0 with loss 'ns-r1'.*got 3"):
        KarrasConfig(gp=3).validate()
    with pytest.raises(BadArgument, match=r"drift must keep its default 0\.001 with loss 'ns-r1'.*got 0\.1"):
        KarrasConfig(drift=0.1).validate()
    KarrasConfig(loss="wgan-gp", gp=5, drift=0.01).validate()  # each loss's own weights are free
    KarrasConfig(gamma=1.0).validate()


def test_a_resume_may_differ_in_what_the_run_does_not_read():
    from scratchgen.gan.train_karras import resumable

    assert {"first_stage", "fade", "gp", "drift"} <= set(resumable(KarrasConfig(model="stylegan")))
    assert "gamma" in resumable(KarrasConfig(loss="wgan-gp")) and "gamma" not in resumable(KarrasConfig())
    assert "first_stage" not in resumable(KarrasConfig(model="progan"))
