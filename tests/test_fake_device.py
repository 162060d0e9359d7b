"""The library's CuPy code path on a CPU: every trainer, sampler and metric run with the stand-in
``cupy`` of :mod:`fakecupy` as the backend, against the same calls on NumPy.

The stand-in keeps CuPy's rules that NumPy-minded code breaks (no implicit conversion to NumPy, no
host arrays as operands, no device values as indices or slice bounds, ``.data`` is a pointer), and
computes with NumPy underneath. So on it every result must equal NumPy's bit for bit: the draws are
the same (``scratchgen.backend.rng`` draws on the host) and so is the arithmetic. A ``TypeError``
here, or a different number, is a bug on a real GPU too.
"""
import contextlib
import dataclasses
import functools
import io
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
    from scratchgen.metrics import features

    fakecupy.install(monkeypatch)
    monkeypatch.setattr(features, "_CACHE", {})  # no classifier loaded on another (real) CuPy
    saved = backend._state.name, backend._state.xp

    def run(f, *args, **kwargs):
        try:
            backend.set_backend("cupy")
            return f(*args, **kwargs)
        finally:
            backend._state.name, backend._state.xp = saved

    return run


TIMES = {"wall_s", "train_seconds", "train_cpu_seconds", "sample_seconds", "sample_cpu_seconds", "timing_seconds",
         "eval_seconds"}  # differ run to run


def _host(tree):
    """Every array in a nested result as NumPy, so the two backends' results compare."""
    if isinstance(tree, dict) and "__dict__" in tree:  # a dict in a checkpoint's index: [[key, value], ...]
        return {"__dict__": [_host(kv) for kv in tree["__dict__"] if kv[0] not in TIMES]}
    if isinstance(tree, dict):
        return {k: _host(v) for k, v in tree.items() if k not in TIMES}
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
        assert isinstance(b, np.ndarray), where
        np.testing.assert_array_equal(a, b, err_msg=where, strict=True)  # shape and dtype too
    else:
        assert type(a) is type(b), (where, type(a), type(b))
        assert a == b or (isinstance(a, float) and np.isnan(a) and np.isnan(b)), where


def _run_dirs(tmp):
    """Every JSON, .npy and checkpoint (.npz and the classifier's extension-less file) under ``tmp``: the
    JSON with ``tmp`` replaced (paths differ), the arrays of each checkpoint by name."""
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
            elif f.endswith(".npz") or "." not in f:
                with np.load(path) as z:  # the index: structure, scalars, generator states, config (paths replaced)
                    out[key] = {name: z[name] for name in z.files if name != "__scratchgen__"}
                    out[key]["__scratchgen__"] = json.loads(bytes(z["__scratchgen__"]).decode().replace(tmp, "<run>"))
    assert out, f"no run files under {tmp}"
    return out


def test_the_stand_in_keeps_cupys_rules(on_device):
    def rules():
        xp = sg.get_xp()
        a = sg.tensor([1.0, 2.0]).data
        assert backend.backend_of(a) == "cupy" and type(a).__name__ == "ndarray"
        with pytest.raises(TypeError, match="Implicit conversion"):
            np.asarray(a)
        with pytest.raises(TypeError, match="host numpy.ndarray"):
            a + np.ones(2)
        with pytest.raises(TypeError, match="Unsupported type"):
            xp.concatenate([a, np.ones(2)])

        with pytest.raises(TypeError):
            list(range(10))[a[0]:]  # no __index__: a device value is no slice bound
        assert backend.backend_of(a.sum()) == "cupy" and float(a.sum()) == 3.0  # a 0-d device array
        assert not hasattr(xp, "random")
        with pytest.raises(ValueError, match="cannot be used for fill"):
            a[...] = np.ones(2)
        b = a.copy()
        b[xp.arange(2)] = np.ones(2)  # under an advanced index a host array is copied in
        assert backend.backend_of(xp.count_nonzero(b)) == "cupy"
        return sg.to_numpy(a * 2)

    np.testing.assert_array_equal(on_device(rules), [2.0, 4.0])


def _toy_and_metrics():
    from scratchgen import mmd
    from scratchgen.data import toy
    from scratchgen.data.digits import digits_split
    from scratchgen.metrics import mode_coverage
    from scratchgen.metrics.features import image_metrics

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


def _pieces():
    """What the trainers do not reach: divergences, the DDPM VLB, initialisers, layers, primitives, optimisers."""
    from scratchgen import divergences as dv
    from scratchgen import nn, optim
    from scratchgen.diffusion import ddpm, schedules
    from scratchgen.gan import losses, penalties

    F = nn.functional
    xp = sg.get_xp()
    r = sg.rng(0)
    p, q, d = r.dirichlet(np.ones(5), size=3), r.dirichlet(np.ones(5), size=3), r.uniform(0.1, 0.9, (3, 5))
    out = {"kl": dv.kl(p, q), "jsd": dv.jsd(p, q), "chi2": dv.pearson_chi2(p, q), "tv": dv.total_variation(p, q),
           "d_star": dv.optimal_discriminator(p, q), "ratio": dv.density_ratio(d), "ratio_logits": dv.density_ratio(logits=d),
           "value": dv.gan_value(p, q, d), "value_logits": dv.gan_value(p, q, logits=d)}
    for name in ("kl", "reverse_kl", "pearson_chi2", "neyman_chi2", "total_variation", "jensen_shannon", "gan",
                 "squared_hellinger"):
        out[f"f_{name}"] = dv.f_divergence(p, q, name)
    x1, y1, wx, wy = r.standard_normal(20), r.standard_normal(30), r.uniform(size=20), r.uniform(size=30)
    out["w1"], out["w1_weighted"] = dv.w1_1d(x1, y1), dv.w1_1d(x1, y1, wx / wx.sum(), wy / wy.sum())
    A, B = r.standard_normal((3, 3)), r.standard_normal((3, 3))
    out["w2"] = dv.w2_gaussian(r.standard_normal(3), A @ A.T, r.standard_normal(3), B @ B.T)

    lin, out["cosine_beta"] = schedules.linear_schedule(20), schedules.cosine_schedule(20).beta
    x0, xt, t = r.standard_normal((4, 2)), r.standard_normal((4, 2)), xp.asarray([1, 5, 10, 20])
    out.update(q_step=ddpm.q_step(lin, x0, t), q_marginal=ddpm.q_marginal(lin, x0, t), prior_kl=ddpm.prior_kl(lin, x0),
               q_posterior=ddpm.q_posterior(lin, x0, xt, t), eps=ddpm.predict_eps_from_x0(lin, xt, t, x0),
               vlb_weight=ddpm.vlb_weight(lin, t + 1 - (t == 20)))  # t in 2..T
    # float64 data: the model in float64 too (layers refuse mixed dtypes; the same arithmetic as
    # NumPy's promotion of the float32 weights, which these numbers were computed with before)
    model = nn.Sequential(nn.Linear(2, 8, generator=0), nn.Tanh(), nn.Linear(8, 2, generator=0)).double()
    eps_model = lambda x, tt: model(x)  # noqa: E731
    pixels = xp.asarray(np.array([0, 37, 73, 110, 146, 183, 219, 255]).reshape(4, 2) / 127.5 - 1)  # 8-bit values
    out["vlb"] = ddpm.vlb(lin, eps_model, x0, seed=0)
    out["vlb_discretized"] = ddpm.vlb(lin, eps_model, pixels, seed=0, decoder="discretized")

    W, g = nn.Linear(3, 4, generator=1), sg.rng(3)
    for name in ("xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_"):
        getattr(nn.init, name)(W.weight, generator=g)
        out[name] = W.weight.data.copy()
    wn = nn.weight_norm(nn.Linear(3, 4, generator=2))
    out["weight_norm"] = wn(sg.tensor(r.standard_normal((2, 3)).astype("float32")))
    nn.remove_weight_norm(wn)
    out["weight_norm_removed"] = wn.weight
    out["minibatch_std"] = nn.MinibatchStdDev(group_size=2)(sg.tensor(r.standard_normal((4, 3, 5, 5)).astype("float32")))

    x = sg.tensor(r.standard_normal((4, 6)).astype("float32"))
    ones = xp.ones((4, 6), dtype="float32")
    ops = {"layer_norm": lambda a: F.layer_norm(a, (6,)), "gelu": F.gelu, "sigmoid": F.sigmoid,
           "bce": lambda a: F.binary_cross_entropy_with_logits(a, ones), "mse": lambda a: F.mse_loss(a, a * 0.5),
           "clip": lambda a: sg.clip(a, -0.5, 0.5), "where": lambda a: sg.where(a.data > 0, a, a * 2),
           "max": lambda a: sg.max(a, axis=1), "min": sg.min, "stack": lambda a: sg.stack([a, a], axis=1),
           "pad": lambda a: sg.pad(a, ((1, 1), (2, 0))), "permute": lambda a: sg.permute(a, (1, 0)), "sign": sg.sign,
           "minimum": lambda a: sg.minimum(a, 0.1), "astype": lambda a: sg.astype(a, "float64")}
    for name, f in ops.items():
        out[name], out[f"{name}_grad"] = f(x), sg.grad(lambda a, f=f: f(a).sum())(x)
    out["hvp"] = sg.hvp(lambda a: (sg.tanh(a) ** 3).sum(), sg.tensor(r.standard_normal(4)), r.standard_normal(4))

    for name, make, sched in (("sgd", lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
                               lambda o: optim.CosineAnnealingLR(o, 5)),
                              ("rmsprop", lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.5, centered=True,
                                                                   weight_decay=0.1), lambda o: optim.StepLR(o, 2)),
                              ("adamw", lambda ps: optim.AdamW(ps, lr=0.01), lambda o: optim.LinearWarmup(o, 2, 5))):
        m = nn.Linear(3, 2, generator=4)
        o = make(m.parameters())
        s_ = sched(o)
        for _ in range(3):
            o.zero_grad()
            (m(sg.tensor(r.standard_normal((5, 3)).astype("float32"))) ** 2).mean().backward()
            optim.clip_grad_value_(m.parameters(), 0.1)
            o.step()
            s_.step()
        penalties.clip_weights(m.parameters(), 0.3)
        out[name] = [m.weight, m.bias]
    D = nn.Sequential(nn.Linear(2, 8, generator=5), nn.Tanh(), nn.Linear(8, 1, generator=5))
    out["r1"] = penalties.r1_penalty(D, sg.tensor(r.standard_normal((6, 2)).astype("float32")))
    penalties.clip_weights(D.parameters(), 0.05)
    logits = sg.tensor(r.standard_normal((6, 1)).astype("float32"))
    out.update(clipped=D[0].weight, minimax=losses.g_loss_minimax(logits),
               smoothed=losses.d_loss_label_smoothing(logits, logits * 0.5, 0.9))
    return out


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
                      "eval": run.history["eval"]}  # modes and high-quality share at each evaluation
    half = os.path.join(tmp, "gan_resume")
    train_gan(GANConfig(**{**common, "steps": 2}), out_dir=half)
    resumed = train_gan(GANConfig(**common), out_dir=half, resume=os.path.join(half, "checkpoint.npz"))
    runs["resumed"] = resumed.history["loss_d"]
    runs["files"] = _run_dirs(tmp)
    return runs


def _images(tmp):
    from scratchgen.gan.train_images import ImageGANConfig, train_image_gan, train_labelled_only

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
    half = os.path.join(tmp, "resume")
    cfg = ImageGANConfig(**{**common, "steps": 1, "eval_every": 1}, model="ssgan", ss_hidden=(16,), labels_per_class=2)
    train_image_gan(cfg, out_dir=half)
    resumed = train_image_gan(dataclasses.replace(cfg, steps=2), out_dir=half,
                              resume=os.path.join(half, "checkpoint.npz"))
    runs["resumed"] = resumed.history["loss_d"]
    runs["files"] = _run_dirs(tmp)
    return runs


def _diffusion(tmp):
    from scratchgen.diffusion.samplers import generate
    from scratchgen.diffusion.train import DDPMConfig, train_ddpm

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
    cfg = DDPMConfig(data="ring8", steps=2, warmup=1, T=10, eval_every=1, n_eval=8, hidden=8, batch=16, progress=False)
    train_ddpm(cfg, out_dir=os.path.join(tmp, "resume"), figures=False)
    resumed = train_ddpm(dataclasses.replace(cfg, steps=3), out_dir=os.path.join(tmp, "resume"), figures=False,
                         resume=os.path.join(tmp, "resume", "checkpoint.npz"))
    runs["resumed"] = resumed.history["loss"]
    runs["files"] = _run_dirs(tmp)
    return runs


def _flows(tmp):
    """The flow's trainer on gauss8, the checkerboard and a .npy file; its samples; the toy log-densities."""
    from scratchgen.data import TOY_LOG_DENSITIES, load_toy
    from scratchgen.flows.train import FlowConfig, train_flow

    path = os.path.join(tmp, "points.npy")
    os.makedirs(tmp, exist_ok=True)
    np.save(path, np.random.default_rng(0).standard_normal((50, 3)).astype(np.float32))
    runs = {}
    for data in ("gauss8", "checkerboard", path):
        cfg = FlowConfig(data=data, steps=3, eval_every=3, batch=32, couplings=2, hidden=8, n_eval=40, warmup=1,
                         progress=False)
        run = train_flow(cfg, out_dir=os.path.join(tmp, f"flow_{len(runs)}"), figures=False)
        final = {k: v for k, v in run.final.items() if not k.endswith("_seconds") and k != "data"}
        runs[len(runs)] = {"nll": run.history["nll"], "final": final, "samples": run.samples,
                           "inverse": run.model.inverse(run.samples).numpy()}
    for name, log_p in TOY_LOG_DENSITIES.items():
        runs[name] = log_p(load_toy(name, 50, seed=0).x)
    return runs


def _vae(tmp):
    """The VAE trainer (digits with each decoder, PPCA data), the autoencoders, IWAE, the collapse diagnostics
    and the closed forms of probabilistic PCA."""
    from scratchgen import vae
    from scratchgen.vae.data import VAEData, ppca_truth
    from scratchgen.vae.train import AEConfig, VAEConfig, train_autoencoder, train_vae

    tiny = dict(steps=3, eval_every=3, batch=8, hidden=(8,), z_dim=2, iwae_k=4, n_eval=20, elbo_samples=2, progress=False)
    runs = {}
    for name, extra in (("gaussian", {}), ("bernoulli", dict(decoder="bernoulli")),
                        ("autoregressive", dict(decoder="autoregressive")), ("ppca", dict(data="ppca", hidden=(0,)))):
        run = train_vae(VAEConfig(**{**tiny, **extra}), out_dir=os.path.join(tmp, f"vae_{name}"), figures=False)
        final = {k: v for k, v in run.final.items() if not k.endswith("_seconds")}
        runs[name] = {"history": run.history, "final": final, "samples": run.samples, "mu": run.test_mu}
    for objective in vae.OBJECTIVES:
        run = train_autoencoder(AEConfig(objective=objective, data="ppca", hidden=(0,), code_dim=2, steps=3,
                                         eval_every=3, batch=8, progress=False), out_dir=os.path.join(tmp, f"ae_{objective}"))
        runs[objective] = {"final": {k: v for k, v in run.final.items() if not k.endswith("_seconds")},
                           "codes": run.test_codes}
    model = train_vae(VAEConfig(**tiny), figures=False).model
    x = sg.tensor(VAEData("digits").test_x[:5])
    g = sg.rng(3)
    mu, log_var = model.encoder(x)
    W, b, s2 = ppca_truth()
    xp = vae.sample_ppca(6, W, b, s2, sg.rng(4))
    runs["pieces"] = {"iwae": vae.iwae_bound(model, x, 7, g, max_rows=10), "mi": vae.mutual_information(mu, log_var, g),
                      "au": vae.active_units(mu), "kl": vae.kl_per_dim(mu, log_var),
                      "angles": vae.principal_angles(W, W[:, ::-1]), "log_px": vae.ppca_log_marginal(xp, W, b, s2),
                      "posterior": vae.ppca_posterior(xp, W, b, s2), "max_ll": vae.ppca_max_log_likelihood(xp, 2),
                      "mask": vae.random_mask((3, 8), 0.5, g)}
    runs["files"] = _run_dirs(tmp)
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
    main(["eval", "--samples", os.path.join(d("ssgan"), "samples.npy"), "--backend", "numpy", "--out", d("eval_np.json")])
    assert sg.get_backend() == started_on  # no command switched the backend, not even an explicit --backend
    out = {}
    for name in ("gan", "ddpm", "ddpm_sample", "ssgan"):
        with open(os.path.join(d(name), "metrics.json")) as f:
            out[name] = json.load(f)
    for name in ("eval.json", "eval_np.json", os.path.join("gan", "rejection.json")):
        with open(d(name)) as f:
            out[name] = json.load(f)
    out["accepted"] = np.load(os.path.join(d("gan"), "samples_rejection.npy"))
    accepted = out.pop("accepted")
    out = json.loads(json.dumps(out).replace(tmp, "<run directory>"))  # the paths differ, not the numbers
    return {**out, "accepted": accepted, "files": _run_dirs(tmp)}


# every demo's --quick run on the stand-in; the default run keeps the cheap ones, the rest are slow (their
# NumPy runs are in tests/demos/ all the same)
DEMOS = (("quickstart", [], False), ("optimal_discriminator", ["--quick"], False),
         ("mode_collapse", ["--quick", "--jobs", "1"], True), ("digits_dcgan", ["--quick"], True),
         ("digits_cgan", ["--quick", "--draw", "4", "2"], True), ("digits_ssgan", ["--quick"], True),
         ("ddpm_2d", ["--quick", "--data", "ring8"], True), ("ddpm_digits", ["--quick"], True),
         ("train_feature_classifier", ["--quick"], True))


def _demos(tmp, only=None):
    """Each demo's --quick run (in this process, so on the active backend); their JSON and .npy outputs."""
    import runpy
    import sys

    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "demos")
    saved_argv, saved_path, saved_modules = sys.argv, list(sys.path), set(sys.modules)
    sys.path.insert(0, root)  # the cGAN demo imports the DCGAN one
    try:
        for name, argv, _ in DEMOS:
            if only is not None and name != only:
                continue
            main = runpy.run_path(os.path.join(root, f"{name}.py"))["main"]
            sys.argv = [f"{name}.py", *argv] + ([] if name == "quickstart" else ["--out", os.path.join(tmp, name)])
            if name == "quickstart":  # it writes no files: what it prints is its result
                with contextlib.redirect_stdout(io.StringIO()) as printed:
                    main()
                return {"printed": printed.getvalue().replace(", backend=cupy", "")}  # the numbers, not the repr's tag
            main()
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path
        demos = {f[:-3] for f in os.listdir(root) if f.endswith(".py")}
        for name in (set(sys.modules) - saved_modules) & demos:  # a demo imported by another (digits_dcgan)
            del sys.modules[name]
    return _run_dirs(tmp)


@pytest.mark.parametrize("workload", ["toy_and_metrics", "gradients", "pieces", "gan_2d", "images", "diffusion",
                                      "flows", "vae", "command_line"]
                         + [pytest.param(f"demo:{name}", marks=[pytest.mark.slow] if slow else [])
                            for name, _, slow in DEMOS])
def test_the_same_numbers_on_the_stand_in_as_on_numpy(workload, on_device, tmp_path):
    fn = {"toy_and_metrics": _toy_and_metrics, "gradients": _gradients, "pieces": _pieces, "gan_2d": _gan_2d,
          "images": _images, "diffusion": _diffusion, "flows": _flows, "vae": _vae, "command_line": _command_line,
          **{f"demo:{name}": functools.partial(_demos, only=name) for name, _, _ in DEMOS}}[workload]
    args = () if workload in ("toy_and_metrics", "gradients", "pieces") else None
    with backend.use_backend("numpy"):  # the reference, also when the suite runs with SCRATCHGEN_BACKEND=cupy
        on_numpy = _host(fn(*(args if args is not None else (str(tmp_path / "numpy"),))))
    made = fakecupy.ndarray.created
    on_stand_in = _host(on_device(fn, *(args if args is not None else (str(tmp_path / "device"),))))
    assert fakecupy.ndarray.created - made > 100, "the stand-in half made (almost) no device arrays"
    _assert_same(on_numpy, on_stand_in, workload)


def test_loading_state_puts_it_on_the_parameters_backend(on_device):
    """A model and an Adam built on the device, then loaded from states made on NumPy (a checkpoint is
    read back as NumPy): weights and optimiser buffers land on the device, and training goes on."""
    from scratchgen import nn, optim

    with backend.use_backend("numpy"):
        m0 = nn.Linear(3, 2, generator=0)
        o0 = optim.Adam(m0.parameters(), lr=0.1)
        m0(sg.tensor(np.ones((4, 3), np.float32))).sum().backward()
        o0.step()
        model_state, opt_state = m0.state_dict(), o0.state_dict()
        host_generator = sg.rng(2)  # made while NumPy is active: it draws NumPy arrays

    def on_stand_in():
        m = nn.Linear(3, 2, generator=1)
        o = optim.Adam(m.parameters(), lr=0.1)
        with backend.use_backend("numpy"):  # loaded while NumPy is active: still onto the device parameters
            m.load_state_dict(model_state)
            o.load_state_dict(opt_state)
        nn.init.normal_(m.bias, generator=host_generator)  # NumPy draws into a device parameter
        m(sg.tensor(np.ones((4, 3), np.float32))).sum().backward()
        o.step()
        return backend.backend_of(m.weight.data), sg.to_numpy(m.weight.data)

    where, w = on_device(on_stand_in)
    assert where == "cupy" and w.shape == (2, 3)
