"""The DDPM training loop, its sampling helpers, the convolutional denoiser and the digits data.

Each test is a few seconds at most; the runs that reach the issue's targets are in
tests/demos/test_ddpm_demos.py (marked slow) and docs/results.md.
"""
import json
import math

import numpy as np
import pytest

import scratchgen as sg
from scratchgen import optim
from scratchgen.data.digits import load_digits
from scratchgen.diffusion import ancestral_sample, linear_schedule, loss_simple
from scratchgen.diffusion.models import ConvDenoiser
from scratchgen.diffusion.samplers import generate, respace
from scratchgen.diffusion.train import DDPMConfig, TrainingDiverged, data_scaling, load_run, train_ddpm
from scratchgen.training import ema_update

TINY = dict(data="ring8", steps=12, eval_every=6, batch=64, hidden=16, n_hidden=2, time_dim=8, T=20,
            n_eval=100, warmup=2, progress=False)


# ---------------------------------------------------------------------------
# The digits
# ---------------------------------------------------------------------------
def test_digits_are_the_uci_images_with_their_labels():
    d = load_digits()
    assert d.images.shape == (1797, 1, 8, 8) and d.images.dtype == np.float32
    assert d.labels.shape == (1797,) and d.labels.dtype == np.int64
    # the counts per class and pixel sums of scikit-learn's copy (load_digits there)
    assert np.bincount(d.labels).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    assert float(d.images.sum()) == 561718.0 and float(d.images[0].sum()) == 294.0
    assert d.images[0, 0, 1].tolist() == [0, 0, 13, 15, 10, 15, 5, 0]
    assert np.array_equal(d.images, np.round(d.images)) and d.images.min() == 0 and d.images.max() == 16
    u = load_digits("unit").images
    np.testing.assert_array_equal(u, d.images / 8 - 1)
    assert u.min() == -1 and u.max() == 1
    with pytest.raises(ValueError, match="scale must be 'raw' or 'unit', got 'pm1'"):
        load_digits("pm1")


# ---------------------------------------------------------------------------
# The convolutional denoiser
# ---------------------------------------------------------------------------
def test_conv_denoiser_starts_at_zero_and_every_parameter_gets_a_gradient():
    m = ConvDenoiser(1, 8, 8, generator=0)
    x = np.random.default_rng(0).standard_normal((3, 1, 8, 8)).astype(np.float32)
    t = np.array([1, 50, 1000])
    out = m(x, t)
    assert out.shape == (3, 1, 8, 8) and out.dtype == np.float32
    np.testing.assert_array_equal(out.numpy(), 0)  # zero-initialised last convolution
    loss = loss_simple(linear_schedule(), m, x, seed=0)
    loss.backward()
    # at the zero start only the last layer sees a gradient; after one step every layer does
    opt = optim.Adam(m.parameters(), lr=1e-2)
    opt.step()
    opt.zero_grad()
    loss_simple(linear_schedule(), m, x, seed=1).backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and float(np.abs(p.grad.numpy()).max()) > 0, name


def test_conv_denoiser_depends_on_t_and_rejects_wrong_shapes():
    m = ConvDenoiser(1, 8, 8, generator=0)
    m.conv_out.weight.data[...] = 0.1  # leave the zero start
    x = np.ones((2, 1, 8, 8), np.float32)
    a, b = m(x, np.array([1, 1])).numpy(), m(x, np.array([1, 900])).numpy()
    # equal inputs, equal outputs, up to float32 rounding (BLAS may round two rows of one GEMM differently)
    np.testing.assert_allclose(a[0], a[1], rtol=0, atol=1e-6)
    assert np.abs(b[0] - b[1]).max() > 1e-4
    with pytest.raises(ValueError, match=r"x_t must have shape \(B, 1, H, W\) with even H, W, got \(2, 1, 7, 7\)"):
        m(np.ones((2, 1, 7, 7), np.float32), np.array([1, 2]))
    with pytest.raises(ValueError, match="t has 3 rows but x_t has 2"):
        m(x, np.array([1, 2, 3]))


def test_conv_denoiser_learns_to_denoise_digits():
    """A few Adam steps on the digits lower L_simple well below its value at the start (1, eps_theta = 0)."""
    g = sg.rng(0)
    x0 = load_digits("unit").images[:256]
    sched = linear_schedule()
    m = ConvDenoiser(1, 8, 16, generator=0)
    opt = optim.Adam(m.parameters(), lr=3e-3)
    t_eval = np.repeat([100, 300, 600], 64)

    def eval_loss():
        with sg.no_grad():
            return float(loss_simple(sched, m, x0[:192], seed=123, t=t_eval).item())

    before = eval_loss()
    for _ in range(40):
        loss = loss_simple(sched, m, x0[g.integers(0, 256, 64)], seed=g)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = eval_loss()
    assert 0.9 < before < 1.1  # eps_theta = 0: the MSE is E eps^2 = 1
    assert after < 0.6 * before, (before, after)


# ---------------------------------------------------------------------------
# Scaling, EMA, respacing, sampling
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_data_scaling_standardises_with_one_scale(name):
    m, s = data_scaling(name)
    x = sg.data.load_toy(name, 50_000, seed=1).x.astype(np.float64)
    z = (x - m) / s
    np.testing.assert_allclose(z.mean(0), 0, atol=0.02)
    assert abs((z**2).mean() - 1) < 0.02
    # one scale for both axes: the ring's radius 1 becomes 1/s, with s^2 = 1/2 (mean of cos^2 and sin^2)
    if name == "ring8":
        assert abs(s - math.sqrt(0.5 + 0.01**2)) < 3e-3


def test_ema_update_is_the_moving_average():
    a = [sg.nn.Parameter(np.array([1.0, 2.0]))]
    b = [sg.nn.Parameter(np.array([3.0, -2.0]))]
    ema_update(a, b, 0.9)
    np.testing.assert_allclose(a[0].data, [0.9 * 1 + 0.1 * 3, 0.9 * 2 - 0.1 * 2])
    with pytest.raises(ValueError, match="2 averaged parameters for 1"):
        ema_update(a + a, b, 0.9)


def test_respaced_schedule_keeps_the_marginals():
    sched = linear_schedule()
    sub, taus = respace(sched, 50)
    assert sub.T == 50 and taus[0] == 0 and taus[1] == 1 and taus[-1] == 1000
    np.testing.assert_allclose(sub.alpha_bar[1:], sched.alpha_bar[taus[1:]], rtol=1e-12)
    full, taus_full = respace(sched, 1000)
    np.testing.assert_allclose(full.beta[1:], sched.beta[1:], rtol=1e-9)
    np.testing.assert_array_equal(taus_full, np.arange(1001))


def _optimal_eps(sched, mu, s):
    """eps*(x_t, t) for data N(mu, s^2): the regression of eps on x_t (tests/diffusion/test_samplers.py)."""
    def eps(xt, t):
        ab = sched.alpha_bar[t][:, None]
        return (np.sqrt(1 - ab) / (ab * s**2 + 1 - ab) * (xt - np.sqrt(ab) * mu)).astype(xt.dtype)
    return eps


class _Wrapped:
    def __init__(self, f):
        self.f, self.training = f, False

    def eval(self):
        pass

    def __call__(self, xt, t):
        return self.f(xt, t)


def _output_law(sched, taus, mu, s, kind):
    """Mean and variance of the sampler's output when eps = eps* (every step is affine: x' = A x + B + sigma z).

    Written from the equations, independently of the library: the respaced ancestral step uses
    beta'_i = 1 - ab_i / ab_{i-1} and sigma^2 = beta-tilde'_i (0 at the last step); the DDIM (eta = 0)
    step is x' = sqrt(ab') x0_hat + sqrt(1 - ab') eps.
    """
    ab_all = np.cumprod(1 - sched.beta[1:])
    ab = np.concatenate([[1.0], ab_all[np.asarray(taus[1:]) - 1]])  # ab at tau_0 = 0, tau_1, ..., tau_S
    m, v = np.zeros_like(mu), np.ones_like(s)
    for i in range(len(taus) - 1, 0, -1):
        a, a_prev = ab[i], ab[i - 1]
        c = np.sqrt(1 - a) / (a * s**2 + 1 - a)  # eps* = c (x - sqrt(a) mu)
        if kind == "ddpm":
            beta = 1 - a / a_prev
            A = (1 - beta * c / np.sqrt(1 - a)) / np.sqrt(1 - beta)
            B = beta * c * np.sqrt(a) * mu / np.sqrt(1 - a) / np.sqrt(1 - beta)
            var = (1 - a_prev) / (1 - a) * beta if i > 1 else 0.0
        else:
            # x0_hat = (x - sqrt(1-a) eps*) / sqrt(a);  x' = sqrt(a_prev) x0_hat + sqrt(1 - a_prev) eps*
            A = np.sqrt(a_prev) * (1 - np.sqrt(1 - a) * c) / np.sqrt(a) + np.sqrt(1 - a_prev) * c
            B = (np.sqrt(a_prev) * np.sqrt(1 - a) - np.sqrt(1 - a_prev) * np.sqrt(a)) * c * mu
            var = 0.0
        m, v = A * m + B, A**2 * v + var
    return m, v


def test_generate_respaced_ddpm_and_ddim_follow_their_output_law_with_the_optimal_predictor():
    """With eps* of Gaussian data, every step is affine: the output law is computed by a recursion."""
    sched = linear_schedule()
    mu, s = np.array([2.0, -1.0]), np.array([0.5, 2.0])
    model = _Wrapped(_optimal_eps(sched, mu, s))
    n = 20000
    for sampler, steps in (("ddpm", 100), ("ddim", 50)):
        _, taus = respace(sched, steps)
        m_law, v_law = _output_law(sched, taus, mu, s, sampler)
        # the laws themselves are near the data's (discretisation error of a few %)
        assert np.all(np.abs(m_law - mu) < 0.02 * s) and np.all(np.abs(v_law / s**2 - 1) < 0.15), (m_law, v_law)
        x = generate(model, sched, n, (2,), sampler, steps=steps, seed=0).astype(np.float64)
        assert np.all(np.abs(x.mean(0) - m_law) < 5 * np.sqrt(v_law / n)), (sampler, x.mean(0), m_law)
        assert np.all(np.abs(x.var(0) - v_law) < 5 * v_law * math.sqrt(2 / n)), (sampler, x.var(0), v_law)
    # all T steps: exactly Algorithm 2
    a = generate(model, sched, 5, (2,), "ddpm", seed=3, sigma2="beta")
    b = ancestral_sample(sched, model, (5, 2), seed=3, sigma2="beta")
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="steps must be an int in 1..T = 1..1000, got 0"):
        generate(model, sched, 5, (2,), "ddpm", steps=0)
    with pytest.raises(ValueError, match=r"sampler must be one of \('ddpm', 'ddim'\), got 'euler'"):
        generate(model, sched, 5, (2,), "euler")


# ---------------------------------------------------------------------------
# The loop: outputs, resume, NaN stop, config errors
# ---------------------------------------------------------------------------
def test_train_writes_samples_metrics_checkpoint_and_figures(tmp_path):
    run = train_ddpm(DDPMConfig(**TINY), out_dir=str(tmp_path))
    samples = np.load(tmp_path / "samples.npy")
    assert samples.shape == (100, 2) and samples.dtype == np.float32 and np.all(np.isfinite(samples))
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["final"]["n_modes"] == 8 and math.isfinite(metrics["final"]["mmd2"])
    assert metrics["history"]["eval_step"] == [6, 12]
    for name in ("checkpoint.npz", "samples.png", "trajectory.gif", "loss.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert (tmp_path / "trajectory.gif").read_bytes()[:6] == b"GIF89a"
    # the trajectory runs from x_T (t = T) down to the samples (t = 0)
    assert run.trajectory_steps[0] == 0 and run.trajectory_steps[-1] == 20
    np.testing.assert_array_equal(run.trajectory[0], run.samples)
    cfg, model, sched, data = load_run(str(tmp_path / "checkpoint.npz"))
    assert cfg == DDPMConfig(**TINY) and sched.T == 20
    for (k, p), (_, q) in zip(model.named_parameters(), run.ema_model.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data, err_msg=k)


def test_the_sampling_of_each_evaluation_shows_a_bar_after_the_training_bar_only_with_progress(capsys):
    train_ddpm(DDPMConfig(**TINY))
    assert capsys.readouterr().err == ""
    train_ddpm(DDPMConfig(**{**TINY, "progress": True}))
    err = capsys.readouterr().err.replace("\r", "\n")
    assert "ddpm ring8" in err and "12/12" in err  # the training bar
    # a bar over the T = 20 sampling steps opens at each of the 2 evaluations (and is cleared when done:
    # it sits below the training bar)
    opened = [s for s in err.split("\n") if s.startswith("sampling (ancestral):   0%") and "0/20" in s]
    assert len(opened) == 2


def test_resume_with_another_config_is_refused(tmp_path):
    train_ddpm(DDPMConfig(**{**TINY, "steps": 6}), out_dir=str(tmp_path), figures=False)
    with pytest.raises(ValueError, match=r"lr: checkpoint .*, this run 0\.5"):
        train_ddpm(DDPMConfig(**{**TINY, "lr": 0.5}), out_dir=str(tmp_path), resume=str(tmp_path / "checkpoint.npz"),
                   figures=False)


def test_resume_continues_bit_identically(tmp_path):
    straight = train_ddpm(DDPMConfig(**TINY), out_dir=str(tmp_path / "a"), figures=False)
    # interrupt a run of the same config after step 7 (its checkpoint is from step 6), then resume it
    half = tmp_path / "half"
    with pytest.raises(_Stop):
        train_ddpm(DDPMConfig(**TINY), out_dir=str(half), callback=_stop_at(7), figures=False)
    resumed = train_ddpm(DDPMConfig(**TINY), out_dir=str(half), resume=str(half / "checkpoint.npz"), figures=False)
    np.testing.assert_array_equal(resumed.samples, straight.samples)
    assert resumed.history["loss"] == straight.history["loss"]


class _Stop(Exception):
    pass


def _stop_at(step):
    def cb(s, model):
        if s == step:
            raise _Stop

    return cb


def test_nan_stops_with_a_message_and_keeps_the_last_good_checkpoint(tmp_path):
    def poison(step, model):
        if step == 8:
            model.parameters()[0].data[0, 0] = np.nan

    with pytest.raises(TrainingDiverged, match=r"step 9: non-finite .*last good checkpoint \(step 6\)"):
        train_ddpm(DDPMConfig(**TINY), out_dir=str(tmp_path), callback=poison)
    state = sg.load(str(tmp_path / "checkpoint.npz"))
    assert state["step"] == 6
    assert all(np.all(np.isfinite(v)) for v in state["model"].values())


@pytest.mark.parametrize("bad, message", [
    (dict(data="mnist"), "data must be one of"),
    (dict(sigma2="large"), "sigma2 must be 'beta' or 'beta_tilde', got 'large'"),
    (dict(ema=1.0), r"ema must lie in \[0, 1\), got 1.0"),
    (dict(steps=0), "steps must be a positive int, got 0"),
    (dict(time_dim=7), "time_dim must be even and >= 4, got 7"),
])
def test_config_errors_name_the_setting(bad, message):
    with pytest.raises(ValueError, match=message):
        train_ddpm(DDPMConfig(**{**TINY, **bad}))


def test_digits_run_trains_the_cnn_and_writes_image_figures(tmp_path):
    cfg = DDPMConfig.for_data("digits", steps=4, eval_every=4, batch=8, hidden=4, time_dim=8, T=10, n_eval=20,
                              progress=False)
    run = train_ddpm(cfg, out_dir=str(tmp_path))
    assert isinstance(run.model, ConvDenoiser)
    assert run.samples.shape == (20, 1, 8, 8) and np.all(np.isfinite(run.samples))
    assert math.isfinite(run.final["mmd2"]) and "modes_captured" not in run.final
    for name in ("samples.png", "trajectory.gif"):
        assert (tmp_path / name).stat().st_size > 0
