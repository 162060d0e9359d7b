"""The pieces every training loop shares: the non-finite stop, restore and the resume-config check."""
import os
from dataclasses import dataclass

import numpy as np
import pytest

import scratchgen as sg
from scratchgen.checkpoint import CheckpointError
from scratchgen.training import TrainingDiverged, check_finite, check_resume_config, restore, same_setting


def test_check_finite_names_the_step_the_value_and_the_checkpoint():
    p = sg.nn.Linear(2, 2)
    check_finite(3, {"loss": 1.0}, p.named_parameters(), "ck.npz", 2)  # all finite: no error
    with pytest.raises(TrainingDiverged, match=r"step 4: non-finite loss=nan; the last good checkpoint \(step 2\) is kept at ck.npz"):
        check_finite(4, {"loss": float("nan")}, p.named_parameters(), "ck.npz", 2)
    p.weight.data[0, 0] = np.inf
    with pytest.raises(TrainingDiverged, match=r"non-finite parameter weight; no checkpoint had been written yet"):
        check_finite(5, {"loss": 0.5}, p.named_parameters(), None, None)


def test_restore_puts_states_back_and_names_a_missing_entry(tmp_path):
    a, b = sg.nn.Linear(3, 2), sg.nn.Linear(3, 2)
    path = str(tmp_path / "c.npz")
    sg.save({"model": a.state_dict(), "step": 7}, path)
    state = restore(path, model=b)
    assert state["step"] == 7
    np.testing.assert_array_equal(b.weight.numpy(), a.weight.numpy())
    with pytest.raises(CheckpointError, match=r"c.npz has no entry 'opt'"):
        restore(path, model=b, opt=sg.optim.Adam(b.parameters()))
    with pytest.raises(CheckpointError, match=r"c.npz: entry 'model' does not fit this run's Linear"):
        restore(path, model=sg.nn.Linear(4, 2))  # another shape: named, not a bare KeyError/ValueError


@dataclass
class _Cfg:
    loss: str = "nonsaturating"
    lr: float = 1e-3
    sigmas: tuple = (0.5, 1.0)
    steps: int = 100
    progress: bool = True


def test_same_setting_treats_lists_tuples_and_arrays_alike():
    assert same_setting([1, 2], (1, 2)) and same_setting(np.array([1, 2]), (1, 2)) and same_setting([[1], (2,)], ((1,), [2]))
    assert not same_setting([1, 2], (1, 3)) and not same_setting((1, 2), (1, 2, 3)) and same_setting("a", "a")


def test_check_resume_config_names_each_changed_field_and_both_values():
    saved = {"loss": "nonsaturating", "lr": 1e-3, "sigmas": [0.5, 1.0], "steps": 100, "progress": True}
    check_resume_config(saved, _Cfg())  # the same run (a list saved for a tuple compares equal): no error
    check_resume_config(saved, _Cfg(steps=500, progress=False))  # a longer run, reported differently: allowed
    with pytest.raises(ValueError, match=r"c\.npz was trained with another config \(loss: checkpoint "
                                         r"'nonsaturating', this run 'hinge'; lr: checkpoint 0\.001, this run 0\.01\)"):
        check_resume_config(saved, _Cfg(loss="hinge", lr=1e-2), path="c.npz")
    with pytest.raises(ValueError, match=r"sigmas: checkpoint \[0\.5, 1\.0\], this run \(0\.5, 2\.0\)"):
        check_resume_config(saved, _Cfg(sigmas=(0.5, 2.0)))
    with pytest.raises(ValueError, match=r"steps: checkpoint 100, this run 7"):
        check_resume_config(saved, _Cfg(steps=7), may_differ=("progress",))


def test_check_resume_config_compares_a_field_the_checkpoint_predates_with_its_default():
    old = {"loss": "nonsaturating", "lr": 1e-3, "steps": 100, "progress": True}  # written before `sigmas` existed
    check_resume_config(old, _Cfg())
    with pytest.raises(ValueError, match=r"sigmas: checkpoint \(0\.5, 1\.0\), this run \(2\.0,\)"):
        check_resume_config(old, _Cfg(sigmas=(2.0,)))


def test_restore_with_a_config_checks_it_before_loading(tmp_path):
    a, b = sg.nn.Linear(3, 2), sg.nn.Linear(3, 2)
    path = str(tmp_path / "c.npz")
    sg.save({"model": a.state_dict(), "config": {"loss": "hinge", "lr": 1e-3, "sigmas": (0.5, 1.0),
                                                  "steps": 100, "progress": True}}, path)
    before = b.weight.numpy().copy()
    with pytest.raises(ValueError, match=r"loss: checkpoint 'hinge', this run 'nonsaturating'"):
        restore(path, config=_Cfg(), model=b)
    np.testing.assert_array_equal(b.weight.numpy(), before)  # nothing was loaded
    restore(path, config=_Cfg(loss="hinge"), model=b)
    np.testing.assert_array_equal(b.weight.numpy(), a.weight.numpy())
    sg.save({"model": a.state_dict()}, path)
    with pytest.raises(CheckpointError, match=r"has no entry 'config'"):
        restore(path, config=_Cfg(), model=b)


# ---------------------------------------------------------------------------
# The scaffold's guarantees, on every trainer (issue 19, item 2)
# ---------------------------------------------------------------------------
def _trainers():
    from scratchgen.diffusion.train import DDPMConfig, train_ddpm
    from scratchgen.gan.train import GANConfig, train_gan

    gan = dict(steps=12, eval_every=4, batch=64, hidden=16, z_dim=8, n_eval=100, progress=False)
    ddpm = dict(data="ring8", steps=12, eval_every=4, batch=64, hidden=16, n_hidden=2, time_dim=8, T=20,
                n_eval=100, warmup=2, progress=False)
    out = {
        "gan": (lambda **kw: GANConfig(**{**gan, **kw}), train_gan, lambda run: [run.G, run.D]),
        "gan-ema-cosine": (lambda **kw: GANConfig(**{**gan, "ema": 0.9, "lr_schedule": "cosine", **kw}), train_gan,
                           lambda run: [run.G, run.D, run.G_ema]),
        "ddpm": (lambda **kw: DDPMConfig(**{**ddpm, **kw}), lambda cfg, **kw: train_ddpm(cfg, figures=False, **kw),
                 lambda run: [run.model, run.ema_model]),
    }
    try:
        from scratchgen.gan.train_images import ImageGANConfig, train_image_gan
    except ImportError:  # before the image trainer moved
        from scratchgen.gan.images import ImageGANConfig, train_image_gan
    img = dict(steps=6, eval_every=2, batch=16, z_dim=8, width=8, n_eval=40, kid_subsets=5, progress=False)
    out["ssgan"] = (lambda **kw: ImageGANConfig(**{**img, "model": "ssgan", "ss_hidden": (32, 16), "ema": 0.9, **kw}),
                    train_image_gan, lambda run: [run.G, run.D, run.G_ema, run.D_ema])
    out["cgan"] = (lambda **kw: ImageGANConfig(**{**img, "model": "cgan", **kw}), train_image_gan,
                   lambda run: [run.G, run.D])
    from scratchgen.vae.train import VAEConfig, train_vae

    vae = dict(steps=12, eval_every=4, batch=16, hidden=(8,), z_dim=2, iwae_k=5, n_eval=40, elbo_samples=2,
               progress=False)
    out["vae"] = (lambda **kw: VAEConfig(**{**vae, **kw}), lambda cfg, **kw: train_vae(cfg, figures=False, **kw),
                  lambda run: [run.model])
    from scratchgen.flows.train import FlowConfig, train_flow

    flow = dict(steps=12, eval_every=4, batch=64, couplings=2, hidden=8, n_eval=100, warmup=2, progress=False)
    out["flow"] = (lambda **kw: FlowConfig(**{**flow, **kw}), lambda cfg, **kw: train_flow(cfg, figures=False, **kw),
                   lambda run: [run.model])
    return out


def _weights(modules):
    return [np.asarray(a) for m in modules for a in m.state_dict().values()]


class _Killed(Exception):
    pass


def _kill_at(step):
    def callback(t, *modules):
        if t == step:
            raise _Killed
    return callback


@pytest.mark.parametrize("name", ["gan", "gan-ema-cosine", "ddpm", "ssgan", "cgan", "vae", "flow"])
def test_resume_from_any_checkpoint_with_other_evaluation_settings_ends_bit_identical(name, tmp_path):
    make, train, modules_of = _trainers()[name]
    cfg = make()
    straight = train(cfg)
    ckpt = tmp_path / "checkpoint.npz"
    # evaluate at other steps and on other sample counts, and kill after the first checkpoint
    other = dict(eval_every=cfg.eval_every // 2 + 1, n_eval=cfg.n_eval // 2)
    with pytest.raises(_Killed):
        train(make(**other), out_dir=str(tmp_path), callback=_kill_at(other["eval_every"] + 1))
    assert sg.load(str(ckpt))["step"] == other["eval_every"]
    resumed = train(make(), resume=str(ckpt))
    for a, b in zip(_weights(modules_of(straight)), _weights(modules_of(resumed))):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(straight.samples, resumed.samples)
    assert straight.history["step"] == resumed.history["step"]


@pytest.mark.parametrize("name", ["gan", "ddpm", "ssgan", "vae", "flow"])
def test_a_run_killed_before_its_outputs_regenerates_them_identically_without_duplicate_history(name, tmp_path):
    make, train, _ = _trainers()[name]
    cfg = make()
    train(cfg, out_dir=str(tmp_path))
    first = {p: (tmp_path / p).read_bytes() for p in ("samples.npy", "metrics.json")}
    for p in first:  # killed after the last checkpoint, before the outputs: they are missing
        (tmp_path / p).unlink()
    (tmp_path / ".metrics.json.k1ll3d.tmp").write_text("{half")  # and a save was killed mid-write
    again = train(cfg, out_dir=str(tmp_path), resume=str(tmp_path / "checkpoint.npz"))
    assert (tmp_path / "samples.npy").read_bytes() == first["samples.npy"]
    import json

    def untimed(text):  # wall-clock times (train_seconds, ...) are the only numbers that may differ
        m = json.loads(text)
        m["final"] = {k: v for k, v in m["final"].items() if not k.endswith("_seconds")}
        return m

    assert untimed((tmp_path / "metrics.json").read_text()) == untimed(first["metrics.json"])
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]
    n_evals = len(range(cfg.eval_every, cfg.steps + 1, cfg.eval_every)) + (cfg.steps % cfg.eval_every != 0)
    assert again.history["eval_step"] == sorted(set(list(range(cfg.eval_every, cfg.steps + 1, cfg.eval_every))
                                                    + [cfg.steps]))
    assert len(again.history["eval"]) == n_evals and len(again.history["step"]) == cfg.steps


def test_a_checkpoint_of_another_kind_is_refused_by_name(tmp_path):
    make_g, train_g, _ = _trainers()["gan"]
    make_d, train_d, _ = _trainers()["ddpm"]
    train_d(make_d(steps=4, eval_every=4), out_dir=str(tmp_path))
    with pytest.raises(ValueError, match="is a ddpm checkpoint, not a gan one"):
        train_g(make_g(), resume=str(tmp_path / "checkpoint.npz"))


def test_evaluation_draws_nothing_from_the_training_stream():
    make, train, modules_of = _trainers()["gan"]
    a = train(make(eval_every=12, n_eval=100))
    b = train(make(eval_every=1, n_eval=300))  # twelve evaluations on three times the samples
    for x, y in zip(_weights(modules_of(a)), _weights(modules_of(b))):
        np.testing.assert_array_equal(x, y)


def test_descend_is_zero_grad_backward_clip_step_schedule_average_in_that_order():
    from scratchgen.training import WeightAverage, descend

    layer = sg.nn.Linear(3, 1, bias=False, generator=0)
    w0 = layer.weight.numpy().copy()
    x = np.ones((2, 3), np.float32)
    layer.weight.grad = np.full((1, 3), 100.0, np.float32)  # stale: must be zeroed first
    opt = sg.optim.SGD(layer.parameters(), lr=0.5)
    sched = sg.optim.StepLR(opt, step_size=1, gamma=0.1)
    avg = WeightAverage(layer, 0.9)
    loss = (layer(sg.tensor(x)) ** 2).sum()
    g = 2 * 2 * (w0 @ x[0]) * x[0]  # d/dw sum_b (w . x_b)^2 with both rows equal: 4 (w . x) x
    descend(loss, opt, layer.parameters(), grad_clip=1.0, scheduler=sched, average=avg, t=0)
    g_clipped = g * min(1.0, 1.0 / np.linalg.norm(g))  # ||g||_2 clipped to 1
    assert np.abs(layer.weight.numpy()[0] - (w0[0] - 0.5 * g_clipped)).max() < 1e-6
    assert abs(opt.param_groups[0]["lr"] - 0.05) < 1e-12  # the schedule stepped once
    mu = min(0.9, 1 / 10)  # ema_decay(0.9, 0) = min(mu, (1 + t)/(10 + t))
    expected_avg = mu * w0[0] + (1 - mu) * layer.weight.numpy()[0]
    assert np.abs(avg.module().weight.numpy()[0] - expected_avg).max() < 1e-6


def test_check_descent_and_check_time_dim_name_the_field():
    """The shared checks of the diffusion configs (DDPM, latent, score, VDM): one message for each field."""
    from types import SimpleNamespace

    import pytest

    from scratchgen.diffusion.models import check_time_dim
    from scratchgen.training import check_descent
    from scratchgen.validate import BadArgument

    ok = dict(lr=1e-3, ema=0.0, grad_clip=None)
    check_descent(SimpleNamespace(**ok), "C")
    for field, value, msg in (("lr", 0.0, r"C: lr must be .*> 0.*got 0\.0"), ("ema", 1.0, r"C: ema must .*1.*got 1\.0"),
                              ("grad_clip", -1.0, r"C: grad_clip must .*> 0.*got -1\.0.*none switches clipping off")):
        with pytest.raises(BadArgument, match=msg):
            check_descent(SimpleNamespace(**{**ok, field: value}), "C")
    check_time_dim(4, "C")
    for value in (3, 2, 6.0):
        with pytest.raises(BadArgument, match=r"C: time_dim must be"):
            check_time_dim(value, "C")
