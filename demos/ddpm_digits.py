"""DDPM on the 8×8 handwritten digits (the 1,797 UCI images shipped with scratchgen).

    python demos/ddpm_digits.py            # the preset: a small U-Net-like CNN, 4000 steps (minutes)
    python demos/ddpm_digits.py --quick    # seconds: the CI version

Protocol of the image GANs (docs/results.md, "Digits"): images in [−1, 1], trained on the 1,258
images of ``digits_split()``, scored on 1,000 samples against the 539 held-out ones with the
shipped digit classifier's features (FID, KID, IS-style score, precision/recall), plus MMD²
(sum of RBF kernels on the 64 pixels). Samples come from the EMA weights by Ho's ancestral
sampler (all 1000 steps) and by DDIM (50 steps, η = 0). For scale, the same metrics for 1,000
real *training* images (the floor). Writes the run directory (samples.png: 64 samples;
trajectory.gif: 16 images through the reverse process) and ``results.json``.
"""
import argparse
import json
import os
import time

from scratchgen.diffusion.samplers import generate
from scratchgen.diffusion.train import DDPMConfig, evaluate_samples, train_ddpm

QUICK = dict(steps=20, T=50, hidden=8, time_dim=8, n_eval=40, eval_every=10, batch=16)
SHOWN = ("fid", "kid", "is", "precision", "recall", "mmd2")


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
    pick = run.data.train_x[:n]  # the floor: real training images against the held-out ones
    results = {
        f"DDPM, ancestral, {cfg.T} steps": dict(evaluate_samples(run.samples, data), sample_seconds=run.final["sample_seconds"]),
        f"DDPM, DDIM, {ddim_steps} steps": dict(evaluate_samples(data.from_model(z), data), sample_seconds=ddim_seconds),
        f"real training digits ({pick.shape[0]})": evaluate_samples(pick, data),
    }
    results["train_seconds"], results["train_cpu_seconds"] = run.final["train_seconds"], run.final["train_cpu_seconds"]
    print("| samples | " + " | ".join(SHOWN) + " | sampling time |")
    for name, r in results.items():
        if isinstance(r, dict):
            t = f"{r['sample_seconds']:.0f} s" if "sample_seconds" in r else "–"
            print(f"| {name} | " + " | ".join(f"{r[k]:.4g}" for k in SHOWN if k in r) + f" | {t} |", flush=True)
    print(f"training: {results['train_seconds']:.0f} s wall, {results['train_cpu_seconds']:.0f} s CPU "
          f"for {cfg.steps} steps")
    with open(os.path.join(args.out, "results.json"), "w") as fh:
        json.dump(results, fh, indent=2)
    return results


if __name__ == "__main__":
    main()
