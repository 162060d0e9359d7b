"""DDPM on the 8×8 handwritten digits (1,797 UCI images shipped with scratchgen, 300 held out).

    python demos/ddpm_digits.py            # the preset: a small U-Net-like CNN, 4000 steps (minutes)
    python demos/ddpm_digits.py --quick    # seconds: the CI version

Trains ``ConvDenoiser`` by L_simple with the pixels scaled to [−1, 1], samples with Ho's
ancestral sampler (1000 steps) and with DDIM (50 steps, η = 0), and reports MMD² (RBF kernel,
median bandwidth, on the 64 pixel values) to the 300 held-out images. For scale it also
reports the MMD² of 300 *training* images to the held-out ones (what a perfect model would
score) and of Gaussian noise with the data's pixel means and variances (a model that learned
only the first two moments per pixel). Writes the run directory (samples.png: 64 samples;
trajectory.gif: 16 images through the reverse process) and ``results.json``.
"""
import argparse
import json
import os
import time

import numpy as np

from scratchgen.diffusion.train import DDPMConfig, evaluate_samples, generate, train_ddpm

QUICK = dict(steps=20, T=50, hidden=8, time_dim=8, n_eval=40, eval_every=10, batch=16)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=None, help="training steps (default: the digits preset)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the run")
    ap.add_argument("--ddim-steps", type=int, default=50, help="steps of the DDIM comparison")
    ap.add_argument("--out", default="runs/ddpm_digits", help="output directory")
    ap.add_argument("--quick", action="store_true", help="tiny settings for CI (seconds)")
    args = ap.parse_args(argv)

    overrides = dict(QUICK) if args.quick else {}
    if args.steps is not None:
        overrides["steps"] = args.steps
    cfg = DDPMConfig.for_data("digits", seed=args.seed, progress=not args.quick, **overrides)
    run = train_ddpm(cfg, out_dir=os.path.join(args.out, "digits"))
    data, n = run.data, cfg.n_eval
    ddim_steps = min(args.ddim_steps, cfg.T)
    t0 = time.perf_counter()
    z = generate(run.ema_model, run.schedule, n, data.shape, "ddim", steps=ddim_steps, seed=1)
    ddim_seconds = time.perf_counter() - t0
    ddim = evaluate_samples(data.from_model(z), data)
    # references: held-out vs training images (the floor), and per-pixel Gaussian noise (moments only)
    g = np.random.default_rng(args.seed)
    train = data.train_x[g.choice(data.train_x.shape[0], n, replace=False)]
    gauss = (data.train_x.mean(0) + data.train_x.std(0) * g.standard_normal((n,) + data.shape)).astype(np.float32)
    results = {
        "ddpm": {"steps": cfg.T, "mmd2": run.final["mmd2"], "sample_seconds": run.final["sample_seconds"]},
        "ddim": {"steps": ddim_steps, "mmd2": ddim["mmd2"], "sample_seconds": ddim_seconds},
        "train_images": {"mmd2": evaluate_samples(train, data)["mmd2"]},
        "pixel_gaussian": {"mmd2": evaluate_samples(gauss, data)["mmd2"]},
        "train_seconds": run.final["train_seconds"], "n": n, "config": {k: v for k, v in vars(cfg).items()},
    }
    for k in ("ddpm", "ddim", "train_images", "pixel_gaussian"):
        extra = f" ({results[k]['steps']} steps, {results[k]['sample_seconds']:.1f} s)" if "steps" in results[k] else ""
        print(f"{k:>15}: MMD² {results[k]['mmd2']:.4f}{extra}", flush=True)
    print(f"training: {results['train_seconds']:.0f} s for {cfg.steps} steps")
    with open(os.path.join(args.out, "results.json"), "w") as fh:
        json.dump(results, fh, indent=2, default=str)
    return results


if __name__ == "__main__":
    main()
