"""``scratchgen train ddpm`` (a denoising diffusion model) and ``scratchgen sample`` (samples from its checkpoint).

    scratchgen train ddpm --data ring8 --steps 20000 --seed 0 --out runs/ddpm-ring
    scratchgen train ddpm --data digits --out runs/ddpm-digits          # the preset "digits"
    scratchgen sample --checkpoint runs/ddpm-ring/checkpoint.npz --sampler ddim --steps 50 --out runs/ddim50

The options of ``train ddpm`` are the fields of :class:`~scratchgen.diffusion.train.DDPMConfig`; with
``--data digits`` the options left out take ``DDPMConfig.PRESETS["digits"]``.
"""
from __future__ import annotations

import argparse
import os
import time

from .common import (
    UsageError,
    add_backend_argument,
    add_train_command,
    check_option,
    check_out_dir,
    metrics_line,
    read_checkpoint,
)

__all__ = ["add_ddpm_command", "add_sample_command"]


def add_ddpm_command(models):
    """Add ``ddpm`` to the subcommands of ``scratchgen train``."""
    from ..diffusion.train import DDPMConfig

    p = add_train_command(
        models, "ddpm", DDPMConfig, run=_run_train, preset_by="data", kind="ddpm",
        help="train a denoising diffusion model (DDPM) on a toy 2-D set or the 8x8 digits",
        description="Train a DDPM (Ho et al. 2020) by L_simple with Adam and an EMA of the weights (the settings of "
                    "scratchgen.diffusion.train.DDPMConfig). The run directory gets samples.npy (n_eval samples "
                    "from the EMA weights, in data units), metrics.json, checkpoint.npz and figures (samples.png, "
                    "trajectory.gif: the reverse process as an animation, loss.png).")
    p.add_argument("--no-figures", action="store_true", help="write the numbers and the checkpoint only (no PNG/GIF)")
    return p


def _run_train(args, cfg):
    from ..diffusion.train import train_ddpm

    run = train_ddpm(cfg, out_dir=args.out, resume=args.resume, figures=not args.no_figures)
    print(f"{args.out}: {metrics_line(run.final)}")
    return run


def add_sample_command(top):
    """Add ``scratchgen sample``: draw samples from a trained DDPM checkpoint."""
    p = top.add_parser(
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
    p.add_argument("--class", dest="cls", type=int, default=None, metavar="C",
                   help="conditional checkpoints (train ddpm --conditional): the digit to draw (default: 0..9 in turn)")
    p.add_argument("--guidance", type=float, default=None, metavar="W",
                   help="conditional checkpoints: classifier-free guidance weight w, eps = (1+w) eps(x,c) - w eps(x) "
                        "(default: the run's --guidance)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampler's noise")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--no-figures", action="store_true", help="write the numbers only (no PNG/GIF)")
    add_backend_argument(p)
    p.set_defaults(func=_run_sample)
    return p


def _check_sample(args):
    """Every check of ``scratchgen sample`` before any work: the options, the checkpoint (a DDPM's), --out."""
    from ..validate import check_int, check_number

    check_option(check_int, args.n, "--n", min=2, fix="the metrics compare at least two samples")
    check_option(check_int, args.seed, "--seed", min=0)
    check_option(check_number, args.eta, "--eta", min=0, max=1)
    check_out_dir(args.out, "--out")
    state = read_checkpoint(args.checkpoint, "--checkpoint", kind="ddpm")
    T = state["config"].get("T")
    if args.steps is not None:
        check_option(check_int, args.steps, "--steps", min=1, max=T if isinstance(T, int) else None,
                     fix=f"the model was trained with T = {T} diffusion steps")
    conditional = state["config"].get("conditional", False)
    if not conditional and (args.cls is not None or args.guidance is not None):
        raise UsageError("--class and --guidance need a conditional checkpoint (scratchgen train ddpm --conditional), "
                         f"got {args.checkpoint}, an unconditional one")
    if args.cls is not None:
        check_option(check_int, args.cls, "--class", min=0, max=9)
    if args.guidance is not None:
        check_option(check_number, args.guidance, "--guidance")
    if args.sampler == "ddpm" and args.eta != 0.0:
        raise UsageError(f"--eta is DDIM's (--sampler ddim), got --eta {args.eta} with --sampler ddpm")


def _run_sample(args):
    from .. import backend as _backend
    from ..diffusion.samplers import generate
    from ..diffusion.train import evaluate_samples, load_run
    from ..training import write_json, write_npy

    _check_sample(args)
    cfg, model, schedule, data = load_run(args.checkpoint)
    sigma2 = args.sigma2 or cfg.sigma2
    figures = not args.no_figures
    labels = None
    if cfg.conditional:  # classifier-free guidance (Ho & Salimans 2022)
        from ..diffusion.guidance import Guided, cycle_labels

        labels = cycle_labels(args.n) if args.cls is None else _backend.get_xp().full(args.n, args.cls)
        model = Guided(model, labels, cfg.guidance if args.guidance is None else args.guidance)
    t0, c0 = time.perf_counter(), time.process_time()
    out = generate(model, schedule, args.n, data.shape, args.sampler, steps=args.steps, eta=args.eta,
                   sigma2=sigma2, seed=args.seed, return_trajectory=figures, progress=True)
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
    z = out[0] if figures else out
    x = _backend.to_numpy(data.from_model(z))
    metrics = evaluate_samples(data.from_model(z), data)
    if labels is not None:
        from ..diffusion.guidance import class_accuracy

        metrics.update({"class": args.cls, "guidance": model.w, "class_accuracy": class_accuracy(x, labels)})
    steps = schedule.T if args.steps is None else args.steps
    result = {"checkpoint": args.checkpoint, "data": cfg.data, "sampler": args.sampler, "steps": steps,
              "eta": args.eta if args.sampler == "ddim" else None, "sigma2": sigma2 if args.sampler == "ddpm" else None,
              "n": args.n, "seed": args.seed, "sample_seconds": seconds, "sample_cpu_seconds": cpu_seconds,
              **metrics}
    os.makedirs(args.out, exist_ok=True)
    write_npy(os.path.join(args.out, "samples.npy"), x)
    write_json(os.path.join(args.out, "metrics.json"), result)
    if figures:
        from ..viz import coverage_title, samples_figure, trajectory_gif

        _, traj, ts = out
        xp = _backend.get_xp(traj)
        keep = sorted(set(int(v) for v in xp.linspace(0, traj.shape[0] - 1, min(31, traj.shape[0])).round().astype(int)))
        title = coverage_title(f"{args.sampler}, {steps} steps, on {cfg.data}", metrics)
        samples_figure(x, data, os.path.join(args.out, "samples.png"), title)
        trajectory_gif(_backend.to_numpy(data.from_model(traj[keep])), _backend.to_numpy(ts[keep]), data,
                       os.path.join(args.out, "trajectory.gif"))
    shown = metrics_line(result, keys=("modes_captured", "high_quality_fraction", "mmd2", "fid", "recall",
                                       "class_accuracy", "sample_seconds"))
    print(f"{args.out}: {args.sampler} {steps} steps, n={args.n}: {shown}")
    return result
