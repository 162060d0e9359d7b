"""The library's CuPy code path on a CPU: every trainer, sampler and metric run with the stand-in
``cupy`` of :mod:`fakecupy` as the backend, against the same calls on NumPy.

The stand-in keeps CuPy's rules that NumPy-minded code breaks (no implicit conversion to NumPy, no
host arrays as operands, no device values as indices or slice bounds, ``.data`` is a pointer), and
computes with NumPy underneath. So on it every result must equal NumPy's bit for bit: the draws are
the same (``scratchgen.backend.rng`` draws on the host) and so is the arithmetic. A ``TypeError``
here, or a different number, is a bug on a real GPU too.
"""
import json
import os

import fakecupy
import numpy as np
import pytest

import scratchgen as sg
from scratchgen import backend


@pytest.fixture
def on_device(monkeypatch):
    """Run a function with the stand-in CuPy as the active backend; results come back as NumPy."""
    fakecupy.install(monkeypatch)
    saved = backend._state.name, backend._state.xp

    def run(f, *args, **kwargs):
        try:
            backend.set_backend("cupy")
            return f(*args, **kwargs)
        finally:
            backend._state.name, backend._state.xp = saved

    return run


def _host(tree):
    """Every array in a nested result as NumPy, so the two backends' results compare."""
    if isinstance(tree, dict):  # wall times differ from run to run
        return {k: _host(v) for k, v in tree.items() if "seconds" not in k and not k.endswith("_s")}
    if isinstance(tree, (list, tuple)):
        return [_host(v) for v in tree]
    if backend.backend_of(backend.unwrap(tree)) is not None:
        return sg.to_numpy(tree)
    return tree


def _assert_same(a, b, where="result"):
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _assert_same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for i, (u, v) in enumerate(zip(a, b)):
            _assert_same(u, v, f"{where}[{i}]")
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype, where
        np.testing.assert_array_equal(a, b, err_msg=where)
    elif isinstance(a, float) and np.isnan(a):
        assert isinstance(b, float) and np.isnan(b), where
    else:
        assert a == b, where


def test_the_stand_in_keeps_cupys_rules(on_device):
    def rules():
        xp = sg.get_xp()
        a = sg.tensor([1.0, 2.0]).data
        assert backend.backend_of(a) == "cupy" and type(a).__name__ == "ndarray"
        with pytest.raises(TypeError, match="Implicit conversion"):
            np.asarray(a)
        with pytest.raises(TypeError, match="host numpy.ndarray"):
            a + np.ones(2)
        with pytest.raises(TypeError, match="host numpy.ndarray"):
            xp.concatenate([a, np.ones(2)])
        with pytest.raises(TypeError):
            list(range(10))[a[0]:]  # no __index__: a device value is no slice bound
        assert backend.backend_of(a.sum()) == "cupy" and float(a.sum()) == 3.0  # a 0-d device array
        assert not hasattr(xp, "random")
        return sg.to_numpy(a * 2)

    np.testing.assert_array_equal(on_device(rules), [2.0, 4.0])


def _toy_and_metrics():
    from scratchgen import mmd
    from scratchgen.data import toy
    from scratchgen.metrics import mode_coverage
    from scratchgen.metrics.features import digits_split, image_metrics

    x = toy.ring(200, seed=1).x
    out = {"ring": x, "grid": toy.grid(50, seed=2).x, "roll": toy.swiss_roll(50, seed=3).x,
           "moons": toy.two_moons(50, seed=4).x, "mix": toy.mixture_1d(50, weights=(0.3, 0.7), seed=5).x}
    cov = mode_coverage(x, toy.ring_centres(), std=0.01)
    out["coverage"] = [cov.modes_captured, cov.high_quality_fraction]
    out["mmd"] = [float(mmd.mmd2(x[:100], x[100:])), float(mmd.mmd2(x[:100], x[100:], kernel="imq"))]
    split = digits_split()
    out["images"] = image_metrics(split.x_train[:120], split.x_test[:100], labels=split.y_train[:120], kid_subsets=5)
    return out


def _gradients():
    def f(a, b):
        return (sg.tanh(a @ b) * sg.softplus(a).sum()).sum()

    r = sg.rng(0)
    a, b = r.standard_normal((3, 4)), r.standard_normal((4, 2))
    sg.check_grads(f, a, b, order=2)
    return sg.grad(f, argnums=(0, 1))(a, b)


def _gan_2d(tmp):
    from scratchgen.gan.train import GANConfig, train_gan

    common = dict(steps=4, eval_every=2, n_eval=64, batch=32, hidden=16, progress=False)
    runs = {}
    for name, extra in (("nonsaturating", {}), ("wgan_gp", dict(loss="wgan", penalty="gp", d_steps=2)),
                        ("hinge_sn_mmd", dict(loss="hinge", spectral_norm=True, mmd_weight=1.0, mmd_samples=32)),
                        ("unrolled_pack_ema", dict(unrolled=2, pack=2, ema=0.9)),
                        ("minibatch", dict(minibatch_disc=True)),  # no figures: its critic map takes seconds
                        ("mixture1d", dict(data="mixture1d", loss="lsgan", top_k=0.5, instance_noise=0.1))):
        out = None if name == "minibatch" else os.path.join(tmp, f"gan_{name}")
        run = train_gan(GANConfig(**common, **extra), out_dir=out)
        runs[name] = {"loss_d": run.history["loss_d"], "loss_g": run.history["loss_g"],
                      "modes": run.history["modes"], "hq": run.history["high_quality"]}
    half = os.path.join(tmp, "gan_resume")
    train_gan(GANConfig(**{**common, "steps": 2}), out_dir=half)
    resumed = train_gan(GANConfig(**common), out_dir=half, resume=os.path.join(half, "checkpoint.npz"))
    runs["resumed"] = resumed.history["loss_d"]
    return runs


def _images(tmp):
    from scratchgen.gan.images import ImageGANConfig, train_image_gan, train_labelled_only

    common = dict(steps=2, eval_every=2, n_eval=20, kid_subsets=2, batch=8, progress=False)
    runs = {}
    for name, extra in (("dcgan", dict(model="dcgan", width=8)), ("cgan", dict(model="cgan", width=8, ema=0.9)),
                        ("ssgan", dict(model="ssgan", ss_hidden=(32, 16), augment=True, ss_entropy=0.5,
                                       ss_consistency=1.0, ss_manifold=0.1, ss_vat=1.0, unlabelled_fraction=0.5,
                                       ema=0.9, labels_per_class=2)),
                        ("ssgan_conv", dict(model="ssgan", critic="conv", width=8, labels_per_class=2))):
        cfg = ImageGANConfig(**common, **extra)
        run = train_image_gan(cfg, out_dir=os.path.join(tmp, name))
        runs[name] = {"loss_d": run.history["loss_d"], "loss_g": run.history["loss_g"], "final": run.final,
                      "samples": run.samples}
        if cfg.model == "ssgan":
            runs[name]["labelled_only"] = train_labelled_only(cfg)
        with open(os.path.join(tmp, name, "metrics.json")) as f:
            runs[name]["metrics.json"] = json.load(f)["final"]
    return runs


def _diffusion(tmp):
    from scratchgen.diffusion.train import DDPMConfig, generate, train_ddpm

    runs = {}
    for data, extra in (("ring8", {}), ("digits", dict(hidden=8, batch=8))):
        cfg = DDPMConfig(data=data, steps=3, warmup=1, T=20, eval_every=3, n_eval=16, progress=False,
                         **{"hidden": 16, "batch": 32, **extra})
        run = train_ddpm(cfg, out_dir=os.path.join(tmp, f"ddpm_{data}"), figures=False)
        shape = tuple(run.samples.shape[1:])
        runs[data] = {"loss": run.history["loss"], "final": run.final, "samples": run.samples,
                      "ddpm": generate(run.ema_model, run.schedule, 8, shape, seed=1),
                      "respaced": generate(run.ema_model, run.schedule, 8, shape, steps=5, seed=1),
                      "ddim": generate(run.ema_model, run.schedule, 8, shape, sampler="ddim", steps=5, eta=0.5, seed=1)}
    return runs


def _command_line(tmp):
    """``scratchgen train``/``sample``/``eval``/``reject`` without ``--backend``: on the active backend."""
    from scratchgen.cli import main

    started_on = sg.get_backend()
    d = lambda name: os.path.join(tmp, name)  # noqa: E731
    quick = ["--eval-every", "2", "--no-progress"]
    main(["train", "gan", "--steps", "2", "--batch", "32", "--hidden", "16", "--n-eval", "64", "--out", d("gan")] + quick)
    main(["reject", d("gan"), "--steps", "3", "--batch", "32", "--n", "20", "--no-progress"])
    main(["train", "ddpm", "--data", "ring8", "--steps", "2", "--T", "10", "--hidden", "16", "--batch", "32",
          "--warmup", "1", "--n-eval", "16", "--no-figures", "--out", d("ddpm")] + quick)
    main(["sample", "--checkpoint", os.path.join(d("ddpm"), "checkpoint.npz"), "--sampler", "ddim", "--steps", "4",
          "--n", "16", "--no-figures", "--out", d("ddpm_sample")])
    main(["train", "ssgan", "--steps", "2", "--batch", "8", "--hidden", "16", "--labels-per-class", "2", "--n-eval", "20",
          "--baseline", "--out", d("ssgan")] + quick)
    main(["eval", "--samples", os.path.join(d("ssgan"), "samples.npy"), "--out", d("eval.json")])
    assert sg.get_backend() == started_on  # no command switched the backend
    out = {}
    for name in ("gan", "ddpm", "ddpm_sample", "ssgan"):
        with open(os.path.join(d(name), "metrics.json")) as f:
            out[name] = json.load(f)
    for name in ("eval.json", os.path.join("gan", "rejection.json")):
        with open(d(name)) as f:
            out[name] = json.load(f)
    out["accepted"] = np.load(os.path.join(d("gan"), "samples_rejection.npy"))
    accepted = out.pop("accepted")
    out = json.loads(json.dumps(out).replace(tmp, "<run directory>"))  # the paths differ, not the numbers
    return {**out, "accepted": accepted}


def _demos(tmp):
    """Every demo's --quick run (in this process, so on the active backend); their JSON and .npy outputs."""
    import importlib.util
    import sys

    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "demos")
    saved_argv, saved_path = sys.argv, list(sys.path)
    sys.path.insert(0, root)  # the cGAN demo imports the DCGAN one
    try:
        for name, argv in (("quickstart", []), ("optimal_discriminator", ["--quick"]),
                           ("mode_collapse", ["--quick", "--jobs", "1"]), ("digits_dcgan", ["--quick"]),
                           ("digits_cgan", ["--quick", "--draw", "4", "2"]), ("digits_ssgan", ["--quick"]),
                           ("ddpm_2d", ["--quick", "--data", "ring8"]), ("ddpm_digits", ["--quick"]),
                           ("train_feature_classifier", ["--quick"])):
            spec = importlib.util.spec_from_file_location(f"demo_{name}", os.path.join(root, f"{name}.py"))
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            sys.argv = [f"{name}.py", *argv] + ([] if name == "quickstart" else ["--out", os.path.join(tmp, name)])
            module.main()
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path
    out = {}
    for folder, _, files in sorted(os.walk(tmp)):
        for f in sorted(files):
            path = os.path.join(folder, f)
            key = os.path.relpath(path, tmp)
            if f.endswith(".json"):
                with open(path) as fh:
                    out[key] = json.loads(fh.read().replace(tmp, "<run directory>"))
            elif f.endswith(".npy"):
                out[key] = np.load(path)
    return out


@pytest.mark.parametrize("workload", ["toy_and_metrics", "gradients", "gan_2d", "images", "diffusion", "command_line",
                                      "demos"])
def test_the_same_numbers_on_the_stand_in_as_on_numpy(workload, on_device, tmp_path):
    fn = {"toy_and_metrics": _toy_and_metrics, "gradients": _gradients, "gan_2d": _gan_2d, "images": _images,
          "diffusion": _diffusion, "command_line": _command_line, "demos": _demos}[workload]
    args = () if workload in ("toy_and_metrics", "gradients") else None
    on_numpy = _host(fn(*(args if args is not None else (str(tmp_path / "numpy"),))))
    on_stand_in = _host(on_device(fn, *(args if args is not None else (str(tmp_path / "device"),))))
    _assert_same(on_numpy, on_stand_in, workload)
