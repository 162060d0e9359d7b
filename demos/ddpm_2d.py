"""DDPM on the toy 2-D mixtures: the ring of 8 Gaussians and the 5×5 grid (the 2-D GAN protocol).

    python demos/ddpm_2d.py                      # ring8 and grid25, 10k steps each, the defaults (minutes)
    python demos/ddpm_2d.py --data swissroll --steps 5000
    python demos/ddpm_2d.py --quick              # seconds: the CI version

For each data set: train an MLP denoiser by L_simple (``scratchgen.diffusion.train``), draw 2,500
samples from the EMA weights with Ho's ancestral sampler (1000 steps, z = 0 at the last step),
and report the mode coverage (nearest centre; high-quality within 3σ), MMD² to 2,500 held-out
points, the training time, and the time to sample 10,000 points through all 1000 steps. Each
run directory gets samples.npy, metrics.json, checkpoint.npz, samples.png, trajectory.gif and
loss.png; ``results.json`` in --out collects the numbers.
"""
import argparse
import json
import os
import time

from scratchgen.diffusion.samplers import generate
from scratchgen.diffusion.train import DDPMConfig, train_ddpm

QUICK = dict(steps=150, T=100, hidden=32, time_dim=16, n_eval=300, eval_every=75, batch=128)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", nargs="+", default=["ring8", "grid25"],
                    choices=["ring8", "grid25", "swissroll", "moons"], help="data sets to train on")
    ap.add_argument("--steps", type=int, default=None, help="training steps (default: DDPMConfig.steps, 10000)")
    ap.add_argument("--seed", type=int, default=0, help="seed of each run")
    ap.add_argument("--timing-n", type=int, default=10_000, help="points sampled through all T steps for the timing")
    ap.add_argument("--out", default="runs/ddpm_2d", help="output directory")
    ap.add_argument("--quick", action="store_true", help="tiny settings for CI (seconds)")
    args = ap.parse_args(argv)

    overrides = dict(QUICK) if args.quick else {}
    if args.steps is not None:
        overrides["steps"] = args.steps
    timing_n = min(args.timing_n, 500) if args.quick else args.timing_n
    os.makedirs(args.out, exist_ok=True)
    results = {}
    for name in args.data:
        cfg = DDPMConfig.for_data(name, seed=args.seed, progress=not args.quick, **overrides)
        run = train_ddpm(cfg, out_dir=os.path.join(args.out, name))
        t0 = time.perf_counter()
        generate(run.ema_model, run.schedule, timing_n, run.data.shape, "ddpm", sigma2=cfg.sigma2, seed=1)
        f = dict(run.final, timing_n=timing_n, timing_T=cfg.T, timing_seconds=time.perf_counter() - t0)
        results[name] = f
        line = f"{name}: MMD² {f['mmd2']:.2e}, training {f['train_seconds']:.0f} s"
        if "modes_captured" in f:
            line = (f"{name}: modes {f['modes_captured']}/{f['n_modes']}, high-quality "
                    f"{100 * f['high_quality_fraction']:.1f}%, " + line.split(": ", 1)[1])
        print(line + f", {timing_n} points through {cfg.T} steps in {f['timing_seconds']:.1f} s", flush=True)
    with open(os.path.join(args.out, "results.json"), "w") as fh:
        json.dump(results, fh, indent=2)
    return results


if __name__ == "__main__":
    main()
