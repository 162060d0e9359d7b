"""The notes' comparison table, measured: GAN vs VAE vs normalizing flow vs DDPM on the same data.

    python demos/likelihood_models.py --out runs/likelihood_models     # both data sets (about an hour on 2 cores)
    python demos/likelihood_models.py --quick                          # seconds: the CI version

Each model trains with its library defaults (the commands ``scratchgen train gan|vae|flow|ddpm`` run the
same settings; on the digits: ``dcgan``, ``vae``, ``ddpm --data digits``), seed 0, and is scored by this
script, the same way for every model:

* **2-D** (``gauss8`` when the library has it, else ``ring8``): 2,500 samples; modes captured and the
  high-quality share (within 3 sigma of a centre); the held-out negative log-likelihood in nats per point
  on the same 1,000 held-out points: the VAE's IWAE bound (k = 5,000) and ELBO, the flow's exact value,
  the DDPM's variational bound (Ho et al. Eq. 5, all 1,000 steps, in data units: the DDPM's standardised
  coordinates z = (x - m)/s add D log s), next to the data's own entropy (its true density is a mixture
  of Gaussians).
* **Digits** (the 1,258 / 539 split): 1,000 samples scored against the 539 held-out images with the
  shipped classifier's features (FID, precision, recall); the negative log-likelihood of the 17-level
  images in nats per image: the VAE's bounds on the dequantized images plus 64 log(1/8)
  (docs/autoencoders-vae.md), and the DDPM's bound with its decoder L_0 discretised to the 17 levels
  (Ho et al. Eq. 13 with bins of width 1/8, edges to infinity; the normal CDF by the library's tanh
  approximation). Both bound -log P of the discrete image. The VAE's samples are its decoder's means
  (what VAE papers show) and, separately, draws x ~ p(x|z).
* **Training time**: wall and CPU seconds of the training call (evaluations during training included).

The flow row is filled when ``scratchgen.flows`` exists (its trainer is 2-D only: no digits row).
Writes ``results.json`` and ``table.md``.
"""
import argparse
import json
import math
import os
import time

MODELS = ("gan", "vae", "flow", "ddpm")
QUICK = {"gan": dict(steps=20, n_eval=200), "vae": dict(steps=20, iwae_k=10, n_iwae=50, n_eval=200, hidden=(16,)),
         "flow": dict(steps=20, couplings=2, hidden=8, n_eval=200, warmup=2),
         "ddpm": dict(steps=20, T=20, hidden=16, n_hidden=1, time_dim=8, warmup=2, n_eval=200),
         "dcgan": dict(steps=4, n_eval=40, kid_subsets=5, width=8, z_dim=8, eval_every=4),
         "ddpm_digits": dict(steps=4, T=20, hidden=4, time_dim=8, n_eval=40, eval_every=4, warmup=2)}


def _timed(fn, *args, **kw):
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args, **kw)
    return out, {"train_wall_s": time.perf_counter() - t0, "train_cpu_s": time.process_time() - c0}


def mixture_nll(x, centres, std):
    """-log p(x) per point under the equal-weight mixture of N(c_k, std^2 I): the data's own density."""
    import numpy as np
    from scipy.special import logsumexp

    x, c = np.asarray(x, np.float64), np.asarray(centres, np.float64)
    d2 = ((x[:, None, :] - c[None]) ** 2).sum(-1)  # (n, K)
    D = x.shape[1]
    log_p = logsumexp(-0.5 * d2 / std ** 2, axis=1) - math.log(c.shape[0]) - 0.5 * D * math.log(2 * math.pi * std ** 2)
    return -log_p


def two_d(name, quick, out, models=MODELS):
    """The 2-D rows on ``name``: the data's own (entropy, modes) and those of ``models``; {row: metrics}."""
    import numpy as np

    from scratchgen.data.toy import load_toy
    from scratchgen.diffusion.ddpm import vlb
    from scratchgen.diffusion.train import DDPMConfig, train_ddpm
    from scratchgen.gan.train import GANConfig, train_gan
    from scratchgen.metrics import mode_coverage

    q = QUICK if quick else {}
    held = load_toy(name, 1000, seed=123_456)  # the held-out points every likelihood is measured on
    x64 = np.asarray(held.x, np.float64)
    cover = lambda s: mode_coverage(np.asarray(s)[:2500], held.centres, held.std).as_dict()  # noqa: E731
    rows = {"data": {"nll": float(mixture_nll(x64, held.centres, held.std).mean()),
                     **cover(load_toy(name, 2500, seed=7).x)}}
    if "gan" in models:
        gan, t = _timed(train_gan, GANConfig(data=name, progress=False, **q.get("gan", {})), out_dir=f"{out}/gan")
        rows["GAN"] = {**cover(gan.samples), **t}
    if "vae" in models:
        rows["VAE"] = _vae_2d(name, q, out, held, cover)
    if "flow" in models:
        try:
            from scratchgen.flows.train import FlowConfig, held_out_nll, train_flow
        except ImportError:
            rows["flow"] = None  # not in this version of the library
        else:
            flow, t = _timed(train_flow, FlowConfig(data=name, progress=False, **q.get("flow", {})),
                             out_dir=f"{out}/flow", figures=not q)  # --quick: no per-run figures (seconds)
            rows["flow"] = {**cover(flow.samples), **t, "nll": held_out_nll(flow.model, held.x)["test_nll"]}
    if "ddpm" in models:
        ddpm, t = _timed(train_ddpm, DDPMConfig(data=name, progress=False, **q.get("ddpm", {})),
                         out_dir=f"{out}/ddpm", figures=False)
        z = ddpm.data.to_model(held.x)  # z = (x - m)/s: -log p(x) = -log p(z) + D log s
        bound = vlb(ddpm.schedule, ddpm.ema_model, z, seed=4, sigma2=ddpm.config.sigma2)["total"]
        rows["DDPM"] = {**cover(ddpm.samples), **t,
                        "nll": float(bound.mean()) + x64.shape[1] * math.log(ddpm.data.scale)}
    return rows


def _vae_2d(name, q, out, held, cover):
    """The 2-D VAE (z_dim 2): samples x ~ p(x|z), the IWAE bound and the ELBO on the held-out points."""
    import scratchgen as sg
    from scratchgen.vae import elbo_estimate, iwae_bound
    from scratchgen.vae.train import VAEConfig, train_vae

    vae, t = _timed(train_vae, VAEConfig(**{"data": name, "z_dim": 2, "n_iwae": 1000, "progress": False,
                                            **q.get("vae", {})}), out_dir=f"{out}/vae", figures=not q)
    xs, k = sg.tensor(held.x), vae.config.iwae_k
    return {**cover(vae.model.sample(2500, sg.rng(1), mean=False)), **t, "iwae_k": k,
            "nll": -float(iwae_bound(vae.model, xs, k, sg.rng(2)).mean()),
            "nll_elbo": -float(elbo_estimate(vae.model, xs, 100, sg.rng(3)).mean())}


def ddpm_discrete_nll(run, v, levels=17, seed=5):
    r"""The DDPM's bound on -log P(v) of 17-level images ``v`` (N, 1, 8, 8) in [-1, 1]: L_T + sum_{t>=2} L_{t-1} from
    ``vlb``, and L_0 = -log P(v | x_1) with each pixel's Gaussian N(mu_theta(x_1, 1), sigma_1^2) integrated over
    its bin [v - 1/16, v + 1/16] (the outermost bins to -inf / +inf). Nats per image."""
    import numpy as np

    from scratchgen import rng, tensor
    from scratchgen.diffusion.ddpm import (
        approx_standard_normal_cdf,
        p_mean_from_eps,
        p_variance,
        q_sample,
        vlb,
    )

    out = vlb(run.schedule, run.ema_model, v, seed=seed, sigma2=run.config.sigma2)
    g = rng(seed + 1)
    t = np.ones(v.shape[0], dtype=np.int64)
    x1 = q_sample(run.schedule, v, t, g.standard_normal(v.shape).astype(v.dtype))
    mu = np.asarray(p_mean_from_eps(run.schedule, x1, t, run.ema_model(tensor(x1), t).data))
    _, log_var = p_variance(run.schedule, t, x1, run.config.sigma2)
    sd = np.exp(0.5 * np.asarray(log_var))
    half = 1.0 / (levels - 1)  # half a bin: the levels are 2/(levels - 1) apart in [-1, 1]
    cdf = lambda a: np.asarray(approx_standard_normal_cdf(tensor(a)).data)  # noqa: E731
    upper = np.where(v > 1 - 1e-6, 1.0, cdf((v + half - mu) / sd))
    lower = np.where(v < -1 + 1e-6, 0.0, cdf((v - half - mu) / sd))
    l0 = -np.log(np.maximum(upper - lower, 1e-12)).reshape(v.shape[0], -1).sum(axis=1)
    return float((out["total"] - out["terms"][:, 0] + l0).mean())


def digits(quick, out, models=MODELS):
    """The digits rows: the real training digits' scores and those of ``models`` (DCGAN, VAE, DDPM); {row: metrics}."""
    import numpy as np

    import scratchgen as sg
    from scratchgen.data.digits import digits_split
    from scratchgen.diffusion.train import DDPMConfig, train_ddpm
    from scratchgen.gan.train_images import ImageGANConfig, train_image_gan
    from scratchgen.metrics.features import image_metrics
    from scratchgen.vae.train import VAEConfig, train_vae

    q = QUICK if quick else {}
    held = digits_split().x_test  # (539, 1, 8, 8)
    score = lambda s: {k: image_metrics(np.asarray(s), held, kid_subset=min(500, len(s)), kid_subsets=10)[k]  # noqa: E731
                       for k in ("fid", "precision", "recall")}
    rows = {"real training digits": score(digits_split().x_train[:1000])}
    if "gan" in models:
        gan, t = _timed(train_image_gan, ImageGANConfig(model="dcgan", progress=False, **q.get("dcgan", {})),
                        out_dir=f"{out}/dcgan")
        rows["GAN (DCGAN)"] = {**score(gan.samples), **t}
    if "vae" in models:
        vq = {k: v for k, v in q.get("vae", {}).items() if k != "n_iwae"}
        vae, t = _timed(train_vae, VAEConfig(progress=False, **vq), out_dir=f"{out}/vae", figures=not q)
        n = 40 if quick else 1000
        means = vae.data.as_images(vae.model.sample(n, sg.rng(1)))
        draws = vae.data.as_images(vae.model.sample(n, sg.rng(1), mean=False))
        f = vae.final
        rows["VAE (decoder means)"] = {**score(means), **t, "nll": -f["test_iwae"], "nll_elbo": -f["test_elbo"],
                                       "iwae_k": f["iwae_k"], "active_units": f["active_units"]}
        rows["VAE (draws x ~ p(x|z))"] = score(draws)
    if "flow" in models:
        rows["flow"] = None  # the flow trainer is 2-D only
    if "ddpm" in models:
        ddpm, t = _timed(train_ddpm, DDPMConfig.preset("digits", progress=False, **q.get("ddpm_digits", {})),
                         out_dir=f"{out}/ddpm", figures=False)
        rows["DDPM"] = {**score(ddpm.samples), **t, "nll": ddpm_discrete_nll(ddpm, held)}
    return rows


def table(rows, kind):
    if kind == "2d":
        head = "| model | modes | high-quality | NLL (nats/point) | training wall / CPU (s) |\n|---|---|---|---|---|"
        cells = lambda r: (f"{r['modes_captured']}/{r['n_modes']} | {100 * r['high_quality_fraction']:.1f} % | "  # noqa: E731
                           f"{_nll(r)} | {_time(r)}")
    else:
        head = "| model | FID | precision | recall | NLL (nats/image) | training wall / CPU (s) |\n|---|---|---|---|---|---|"
        cells = lambda r: f"{r['fid']:.1f} | {r['precision']:.2f} | {r['recall']:.2f} | {_nll(r)} | {_time(r)}"  # noqa: E731
    lines = [head]
    for name, r in rows.items():
        lines.append(f"| {name} | " + ("not run (see the docstring)" if r is None else cells(r)) + " |")
    return "\n".join(lines)


def _nll(r):
    if "nll" not in r:
        return "none"
    extra = f" (IWAE-{r['iwae_k']}; ELBO {r['nll_elbo']:.2f})" if "nll_elbo" in r else ""
    return f"{r['nll']:.2f}{extra}"


def _time(r):
    return f"{r['train_wall_s']:.0f} / {r['train_cpu_s']:.0f}" if "train_wall_s" in r else "-"


def _merge(old, new):
    """``new`` rows over ``old`` ones, in the tables' order (data first, then GAN, VAE, flow, DDPM)."""
    rows = {**old, **new}
    rank = lambda name: next((i for i, m in enumerate(("data", "real", "GAN", "VAE", "flow", "DDPM"))  # noqa: E731
                              if name.startswith(m)), 9)
    return dict(sorted(rows.items(), key=lambda kv: rank(kv[0])))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="runs/likelihood_models", help="output directory")
    ap.add_argument("--only", choices=["2d", "digits"], default=None, help="one of the two tables")
    ap.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS),
                    help="the models to train; the rows of the others are kept from the results.json in --out")
    ap.add_argument("--quick", action="store_true", help="tiny settings for CI (seconds)")
    args = ap.parse_args(argv)
    from scratchgen.data.toy import TOY_DATASETS

    name = "gauss8" if "gauss8" in TOY_DATASETS else "ring8"
    path = os.path.join(args.out, "results.json")
    results = json.load(open(path)) if os.path.exists(path) and set(args.models) != set(MODELS) else {}
    if args.only in (None, "2d"):
        results[name] = _merge(results.get(name, {}), two_d(name, args.quick, os.path.join(args.out, name), args.models))
    if args.only in (None, "digits"):
        results["digits"] = _merge(results.get("digits", {}),
                                   digits(args.quick, os.path.join(args.out, "digits"), args.models))
    os.makedirs(args.out, exist_ok=True)
    with open(path, "w") as fh:
        json.dump(results, fh, indent=1)
    text = "\n\n".join(f"{key}:\n\n" + table(rows, "digits" if key == "digits" else "2d") for key, rows in results.items())
    with open(os.path.join(args.out, "table.md"), "w") as fh:
        fh.write(text + "\n")
    print(text)
    return results


if __name__ == "__main__":
    main()
