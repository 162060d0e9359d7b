"""Command line of the diffusion models: ``scratchgen train ddpm`` and ``scratchgen sample``.

    scratchgen train ddpm --data ring8 --steps 20000 --seed 0 --out runs/ddpm-ring
    scratchgen train ddpm --data digits --out runs/ddpm-digits
    scratchgen sample --checkpoint runs/ddpm-ring/checkpoint.npz --sampler ddim --steps 50 --out runs/ddim50

``scratchgen.cli.build_parser`` calls :func:`add_train_parser` and :func:`add_sample_parser`.
"""
from __future__ import annotations

import argparse
import json
import os
import time

__all__ = ["add_train_parser", "add_sample_parser"]


def add_train_parser(models_subparsers):
    """Add ``ddpm`` to the subcommands of ``scratchgen train``."""
    from ..cli import add_backend_argument
    from .train import DATASETS, DDPMConfig, presets

    d = DDPMConfig()
    p = models_subparsers.add_parser(
        "ddpm", help="train a denoising diffusion model (DDPM) on a toy 2-D set or the 8x8 digits",
        description="Train a DDPM (Ho et al. 2020) by L_simple with Adam and an EMA of the weights. The run "
                    "directory gets samples.npy (n_eval samples from the EMA weights, in data units), "
                    "metrics.json, checkpoint.npz and figures (samples.png, trajectory.gif: the reverse "
                    "process as an animation, loss.png). Options left out take the data set's preset "
                    f"(2-D: the defaults shown; digits: {presets('digits')}).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--data", default=d.data, choices=list(DATASETS),
                   help="training data (ring8: radius 1, std 0.01; grid25: {-4..4}^2, std 0.05; "
                        "digits: the 1,797 8x8 UCI digits, 300 held out)")
    p.add_argument("--steps", type=int, default=None, help=f"Adam updates (2-D preset {d.steps})")
    p.add_argument("--batch", type=int, default=None, help=f"examples per minibatch (2-D preset {d.batch})")
    p.add_argument("--lr", type=float, default=None, help=f"peak learning rate, cosine decay to 0 (2-D preset {d.lr})")
    p.add_argument("--warmup", type=int, default=None, help=f"linear warm-up steps (preset {d.warmup})")
    p.add_argument("--grad-clip", type=float, default=None,
                   help=f"clip the global gradient norm; 0 turns it off (preset {d.grad_clip})")
    p.add_argument("--ema", type=float, default=None, help=f"EMA decay of the weights, 0 = off (preset {d.ema})")
    p.add_argument("--T", type=int, default=None, help=f"diffusion steps (preset {d.T})")
    p.add_argument("--schedule", default=None, choices=["linear", "cosine"], help=f"noise schedule (preset {d.schedule})")
    p.add_argument("--sigma2", default=None, choices=["beta", "beta_tilde"],
                   help=f"reverse-process variance used by the evaluation sampler (preset {d.sigma2})")
    p.add_argument("--hidden", type=int, default=None,
                   help=f"MLP width (2-D, preset {d.hidden}) or channels of the CNN at 8x8 (digits)")
    p.add_argument("--n-hidden", type=int, default=None, help=f"hidden layers of the MLP (preset {d.n_hidden})")
    p.add_argument("--time-dim", type=int, default=None, help=f"size of the sinusoidal time embedding (preset {d.time_dim})")
    p.add_argument("--eval-every", type=int, default=None, help="steps between evaluations/checkpoints")
    p.add_argument("--n-eval", type=int, default=None, help=f"samples drawn for the metrics (preset {d.n_eval})")
    p.add_argument("--seed", type=int, default=d.seed, help="seed of the one generator behind data, noise and weights")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--resume", default=None, help="checkpoint.npz to continue from; give the options it was trained with (only --steps and how the run reports may change)")
    add_backend_argument(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-figures", action="store_true", help="write the numbers and the checkpoint only (no PNG/GIF)")
    p.set_defaults(func=_run_train)
    return p


_FLAGS = ("steps", "batch", "lr", "warmup", "grad_clip", "ema", "T", "schedule", "sigma2", "hidden", "n_hidden",
          "time_dim", "eval_every", "n_eval")


def _run_train(args):
    from .train import DDPMConfig, train_ddpm

    given = {k: getattr(args, k) for k in _FLAGS if getattr(args, k) is not None}
    if given.get("grad_clip") == 0:
        given["grad_clip"] = None
    cfg = DDPMConfig.for_data(args.data, seed=args.seed, progress=not args.no_progress, **given)
    run = train_ddpm(cfg, out_dir=args.out, resume=args.resume, figures=not args.no_figures)
    from ..cli import metrics_line

    print(f"{args.out}: {metrics_line(run.final)}")
    return run


def add_sample_parser(top_subparsers):
    """Add ``scratchgen sample``: draw samples from a trained DDPM checkpoint."""
    from ..cli import add_backend_argument

    p = top_subparsers.add_parser(
        "sample", help="draw samples from a trained DDPM checkpoint",
        description="Draw samples from the EMA weights of a checkpoint written by `scratchgen train ddpm`. "
                    "--sampler ddpm is Ho's ancestral sampler (Algorithm 2) on all T steps, or on a respaced "
                    "schedule of --steps steps (Nichol & Dhariwal 2021); --sampler ddim is Song et al.'s DDIM "
                    "(deterministic with --eta 0). Writes samples.npy, metrics.json (the metrics against the "
                    "held-out data and the sampling time), samples.png and trajectory.gif to --out.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--checkpoint", required=True, help="checkpoint.npz of a DDPM run")
    p.add_argument("--sampler", default="ddpm", choices=["ddpm", "ddim"], help="ancestral (DDPM) or DDIM")
    p.add_argument("--steps", type=int, default=None, help="sampling steps (default: all T of the model)")
    p.add_argument("--eta", type=float, default=0.0, help="DDIM's eta: 0 deterministic, 1 DDPM-like")
    p.add_argument("--sigma2", default=None, choices=["beta", "beta_tilde"],
                   help="variance of the ancestral sampler (default: the run's)")
    p.add_argument("--n", type=int, default=2500, help="number of samples")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampler's noise")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--no-figures", action="store_true", help="write the numbers only (no PNG/GIF)")
    add_backend_argument(p)
    p.set_defaults(func=_run_sample)
    return p


def _run_sample(args):
    import numpy  # file output only

    from .. import backend as _backend
    from ..viz import samples_figure, trajectory_gif
    from .samplers import generate
    from .train import evaluate_samples, load_run

    if not os.path.exists(args.checkpoint):
        raise ValueError(f"--checkpoint: no such file {args.checkpoint!r}")
    if args.n < 2:
        raise ValueError(f"--n must be at least 2, got {args.n}")
    cfg, model, schedule, data = load_run(args.checkpoint)
    sigma2 = args.sigma2 or cfg.sigma2
    figures = not args.no_figures
    t0, c0 = time.perf_counter(), time.process_time()
    out = generate(model, schedule, args.n, data.shape, args.sampler, steps=args.steps, eta=args.eta,
                   sigma2=sigma2, seed=args.seed, return_trajectory=figures)
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
    z = out[0] if figures else out
    x = _backend.to_numpy(data.from_model(z))
    metrics = evaluate_samples(data.from_model(z), data)
    steps = schedule.T if args.steps is None else args.steps
    result = {"checkpoint": args.checkpoint, "data": cfg.data, "sampler": args.sampler, "steps": steps,
              "eta": args.eta if args.sampler == "ddim" else None, "sigma2": sigma2 if args.sampler == "ddpm" else None,
              "n": args.n, "seed": args.seed, "sample_seconds": seconds, "sample_cpu_seconds": cpu_seconds,
              **metrics}
    os.makedirs(args.out, exist_ok=True)
    numpy.save(os.path.join(args.out, "samples.npy"), x)
    with open(os.path.join(args.out, "metrics.json"), "w") as f:
        json.dump(result, f, indent=2)
    if figures:
        _, traj, ts = out
        xp = _backend.get_xp(traj)
        keep = sorted(set(int(v) for v in xp.linspace(0, traj.shape[0] - 1, min(31, traj.shape[0])).round().astype(int)))
        title = f"{args.sampler}, {steps} steps, on {cfg.data}"
        if "modes_captured" in metrics:
            title += (f"\nmodes {metrics['modes_captured']}/{metrics['n_modes']}, "
                      f"high-quality {100 * metrics['high_quality_fraction']:.1f}%")
        samples_figure(x, data, os.path.join(args.out, "samples.png"), title)
        trajectory_gif(_backend.to_numpy(data.from_model(traj[keep])), _backend.to_numpy(ts[keep]), data,
                       os.path.join(args.out, "trajectory.gif"))
    shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in result.items()
                      if k in ("modes_captured", "high_quality_fraction", "mmd2", "sample_seconds"))
    print(f"{args.out}: {args.sampler} {steps} steps, n={args.n}: {shown}")
    return result
