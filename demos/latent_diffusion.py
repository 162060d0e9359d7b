"""Latent diffusion against pixel-space diffusion on the 8×8 digits: sampling time, FID, precision/recall.

    python demos/latent_diffusion.py               # seed 0: trains what it does not find (minutes)
    python demos/latent_diffusion.py --quick       # seconds: the CI version

For each seed:

* **latent DDPM** (``train_ldm(LDMConfig(seed=s))``, ``scratchgen train ldm``): the digits VAE (8-d latent,
  10,000 steps), then a DDPM with the MLP denoiser on its scaled latents z ~ q(z|x); samples are
  decoded by the VAE's decoder mean;
* **pixel DDPM** (``DDPMConfig.preset("digits")``, ``scratchgen train ddpm --data digits``): the
  ConvDenoiser on the 64 pixels;
* for scale, the **VAE alone** (decoder mean at z ~ N(0, I)) and the VAE's **reconstructions** of the
  held-out digits (the best the latent model can do through this decoder).

Both DDPMs sample with Ho's ancestral sampler on all T = 1000 steps, σ² = β̃, from the EMA weights; the
metrics are those of each run's final evaluation (1,000 samples against the 539 held-out digits on the
shipped classifier's features). Sampling time: one step of each model on a batch of ``--n-time``
(default 1,000) timed over ``--time-steps`` steps (median of the steps) and multiplied by T, wall and
CPU, in one process one after the other. Writes ``OUT/results.json`` and ``OUT/samples.png``.
``--vae`` and ``--pixel-run`` reuse a VAE checkpoint and a pixel-space run trained before (the
measurement of docs/results.md reuses the digits VAE of "VAE" and the DDPM of the likelihood comparison,
both seed 0 with the library defaults).
"""
import argparse
import json
import os
import time

import numpy as np

from scratchgen.autodiff.tensor import no_grad
from scratchgen.backend import to_numpy
from scratchgen.data.digits import digits_split
from scratchgen.diffusion.latent import LDMConfig, decode_latents, image_scores, load_ldm, train_ldm
from scratchgen.diffusion.train import DDPMConfig, load_run, train_ddpm

QUICK_LDM = dict(vae_steps=50, steps=30, T=50, hidden=32, time_dim=8, n_eval=20, eval_every=30, batch=16)
QUICK_PIX = dict(steps=10, T=50, hidden=8, time_dim=8, n_eval=20, eval_every=10, batch=16)


def _final(run_dir):
    with open(os.path.join(run_dir, "metrics.json")) as fh:
        return json.load(fh)["final"]


def latent_run(seed, out, quick, vae="train", steps=None):
    d = os.path.join(out, f"ldm_seed{seed}")
    if not os.path.exists(os.path.join(d, "metrics.json")):
        more = dict(QUICK_LDM) if quick else ({"steps": steps, "eval_every": steps} if steps else {})
        train_ldm(LDMConfig(seed=seed, vae=vae, progress=False, **more), out_dir=d)
    _, vae, model, schedule, codes = load_ldm(os.path.join(d, "checkpoint.npz"))
    return d, vae, model, schedule, codes


def pixel_run(seed, out, quick, given=None):
    d = given or os.path.join(out, f"pixel_seed{seed}")
    if not os.path.exists(os.path.join(d, "metrics.json")):
        cfg = DDPMConfig.for_data("digits", seed=seed, progress=not quick, **(QUICK_PIX if quick else {}))
        train_ddpm(cfg, out_dir=d, figures=False)
    _, model, schedule, data = load_run(os.path.join(d, "checkpoint.npz"))
    return d, model, schedule


def time_per_step(model, shape, n, steps, T, seed=0):
    """Median wall and CPU seconds of one denoiser call on n inputs at t = T, T-1, ..."""
    g = np.random.default_rng(seed)
    x = g.standard_normal((n,) + shape).astype(np.float32)
    wall, cpu = [], []
    with no_grad():
        for i in range(steps):
            t = np.full(n, T - i, dtype=np.int64)
            w0, c0 = time.perf_counter(), time.process_time()
            model(x, t)
            wall.append(time.perf_counter() - w0)
            cpu.append(time.process_time() - c0)
    return float(np.median(wall)), float(np.median(cpu))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0], help="training seeds")
    ap.add_argument("--n-time", type=int, default=1000, help="batch of the timing")
    ap.add_argument("--time-steps", type=int, default=20, help="steps timed (median)")
    ap.add_argument("--ldm-steps", type=int, default=None, help="training steps of the latent DDPM (default: LDMConfig's)")
    ap.add_argument("--vae", default="train", help="a VAE checkpoint.npz to reuse (seed 0 only), else trained here")
    ap.add_argument("--pixel-run", default=None,
                    help="a finished `scratchgen train ddpm --data digits` run directory to reuse (seed 0 only)")
    ap.add_argument("--out", default="runs/latent_diffusion", help="output directory")
    ap.add_argument("--quick", action="store_true", help="tiny settings for CI (seconds)")
    args = ap.parse_args(argv)
    if args.quick:
        args.seeds, args.n_time, args.time_steps = args.seeds[:1], 20, 3
    os.makedirs(args.out, exist_ok=True)
    split = digits_split()
    results, shown = {}, {}
    for seed in args.seeds:
        reuse = seed == args.seeds[0]
        ldm_dir, vae, ldm, sched_l, codes = latent_run(seed, args.out, args.quick, args.vae if reuse else "train",
                                                       args.ldm_steps)
        pix_dir, pix, sched_p = pixel_run(seed, args.out, args.quick, args.pixel_run if reuse else None)
        fl, fp = _final(ldm_dir), _final(pix_dir)
        wl, cl = time_per_step(ldm, (vae.z_dim,), args.n_time, args.time_steps, sched_l.T)
        wp, cp = time_per_step(pix, (1, 8, 8), args.n_time, args.time_steps, sched_p.T)
        g = np.random.default_rng(seed)
        n = fl["n_samples"]
        vae_x = decode_latents(vae, g.standard_normal((n, vae.z_dim)).astype(np.float32))
        with no_grad():
            recon = decode_latents(vae, vae.encoder(split.x_test.reshape(-1, 64))[0].data)
        keys = ("fid", "kid", "precision", "recall", "is")
        rows = {
            "latent DDPM": {**{k: fl[k] for k in keys}, "sample_wall_s": wl * sched_l.T, "sample_cpu_s": cl * sched_l.T,
                            "train_cpu_s": fl["train_cpu_seconds"] + fl.get("vae_train_cpu_seconds", 0.0)},
            "pixel DDPM": {**{k: fp[k] for k in keys}, "sample_wall_s": wp * sched_p.T, "sample_cpu_s": cp * sched_p.T,
                           "train_cpu_s": fp["train_cpu_seconds"], "sample_wall_s_measured_in_run": fp["sample_seconds"]},
            "VAE alone (z ~ N(0, I))": {k: v for k, v in image_scores(vae_x, split.x_test).items() if k in keys},
            "VAE reconstructions of the held-out digits": {k: v for k, v in image_scores(recon, split.x_test).items()
                                                            if k in keys},
        }
        results[seed] = rows
        shown[seed] = {"latent DDPM": np.load(os.path.join(ldm_dir, "samples.npy")),
                       "pixel DDPM": np.load(os.path.join(pix_dir, "samples.npy")), "VAE alone": to_numpy(vae_x)}
        print(f"seed {seed} (timing: batch {args.n_time}, median of {args.time_steps} steps, x T)")
        print("| model | FID | precision | recall | sampling wall / CPU (s) |")
        for name, r in rows.items():
            t = f"{r['sample_wall_s']:.3g} / {r['sample_cpu_s']:.3g}" if "sample_wall_s" in r else "–"
            print(f"| {name} | {r['fid']:.3g} | {r['precision']:.3g} | {r['recall']:.3g} | {t} |", flush=True)
        print(f"sampling speed-up of the latent model: {rows['pixel DDPM']['sample_cpu_s'] / rows['latent DDPM']['sample_cpu_s']:.1f}x (CPU)")
    with open(os.path.join(args.out, "results.json"), "w") as fh:
        json.dump({str(k): v for k, v in results.items()}, fh, indent=2)
    figure(shown[args.seeds[0]], os.path.join(args.out, "samples.png"))
    return results


def figure(shown, path):
    try:
        from scratchgen.viz import image_grid, save_figure
    except ImportError:
        return
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(shown), figsize=(3.2 * len(shown), 3.5))
    for ax, (name, x) in zip(np.atleast_1d(axes), shown.items()):
        ax.imshow(image_grid(np.asarray(x)[:64].reshape(-1, 1, 8, 8), 8), cmap="gray_r", vmin=-1, vmax=1,
                  interpolation="nearest")
        ax.set_title(name, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    save_figure(fig, path, dpi=150)


if __name__ == "__main__":
    main()
