"""``scratchgen train gan`` (a GAN on a toy 2-D distribution) and ``scratchgen reject`` (rejection
sampling of a finished run with a learnt density ratio).

    scratchgen train gan --data ring8 --loss nonsaturating --steps 5000 --seed 0 --out runs/x
    scratchgen train gan --data grid25 --loss wgan --penalty gp --d-steps 5 --out runs/gp
    scratchgen reject runs/x
"""
from __future__ import annotations

import argparse
import os

from .common import (
    UsageError,
    add_backend_argument,
    add_train_command,
    check_option,
    metrics_line,
    read_checkpoint,
)

__all__ = ["add_gan_command", "add_reject_command"]


def add_gan_command(models):
    """Add ``gan`` under ``scratchgen train``; its options are the fields of :class:`~scratchgen.gan.train.GANConfig`."""
    from ..gan.train import GANConfig

    return add_train_command(
        models, "gan", GANConfig, run=_run_gan, kind="gan", help="train a GAN on a toy 2-D distribution",
        description="Train a GAN on a toy 2-D distribution (the settings of scratchgen.gan.train.GANConfig). The run "
                    "directory gets samples.npy (N×2 generated samples), metrics.json, checkpoint.npz and figures "
                    "(samples.png with the critic's contours, losses.png, modes.png).")


def _run_gan(args, cfg):
    from ..gan.train import train_gan

    run = train_gan(cfg, out_dir=args.out, resume=args.resume)
    print(f"{args.out}: {metrics_line(run.final)}")
    return run


def add_reject_command(top):
    """Add ``scratchgen reject RUN_DIR``: rejection-sample a finished ``scratchgen train gan`` run."""
    p = top.add_parser(
        "reject", help="rejection-sample a trained toy GAN with a learnt density ratio",
        description="Correct a finished `scratchgen train gan` run by rejection sampling: train a classifier "
                    "whose logit estimates log p(x)/q(x) (data against the frozen generator), then accept each "
                    "generated x with probability min(1, exp(logit(x) - log M)), log M fixed from a burn-in. Writes "
                    "samples_rejection.npy, rejection.json, rejection_classifier.npz and samples_rejection.png "
                    "into RUN_DIR.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="directory of a finished run (with checkpoint.npz)")
    p.add_argument("--steps", type=int, default=40000, help="Adam steps of the classifier (cosine decay to 0)")
    p.add_argument("--batch", type=int, default=512, help="data and generated samples per classifier step")
    p.add_argument("--hidden", type=int, default=None, help="units per hidden layer (None: the run's --hidden)")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate of the classifier")
    p.add_argument("--n", type=int, default=None, help="accepted samples to draw (None: the run's --n-eval)")
    p.add_argument("--seed", type=int, default=0, help="seed of the classifier, its samples and the sampler")
    p.add_argument("--reuse-classifier", action="store_true",
                   help="load RUN_DIR/rejection_classifier.npz (trained on this run with the same settings) "
                        "instead of training it again; the samples are the same as with a fresh fit")
    add_backend_argument(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_run_reject)
    return p


def _check_reject(args):
    """Every check of ``scratchgen reject`` before any work: the options' values, then RUN_DIR (a directory
    holding the checkpoint of a ``scratchgen train gan`` run)."""
    from ..validate import check_int, check_number

    check_option(check_int, args.steps, "--steps", min=1)
    check_option(check_int, args.batch, "--batch", min=1)
    if args.hidden is not None:
        check_option(check_int, args.hidden, "--hidden", min=1)
    if args.n is not None:
        check_option(check_int, args.n, "--n", min=1)
    check_option(check_number, args.lr, "--lr", min=0, min_open=True)
    check_option(check_int, args.seed, "--seed", min=0)
    if not os.path.isdir(args.run_dir):
        raise UsageError(f"RUN_DIR: {args.run_dir!r} is not a directory; give the --out of a scratchgen train gan run")
    ckpt = os.path.join(args.run_dir, "checkpoint.npz")
    if not os.path.exists(ckpt):
        raise UsageError(f"RUN_DIR: no checkpoint.npz in run_dir={args.run_dir!r}; give the --out of a finished "
                         "scratchgen train gan run")
    read_checkpoint(ckpt, "RUN_DIR", kind="gan")


def _run_reject(args):
    from ..gan.rejection import rejection_sample_run

    _check_reject(args)

    report = rejection_sample_run(args.run_dir, steps=args.steps, batch=args.batch, hidden=args.hidden,
                                  lr=args.lr, n=args.n, seed=args.seed, reuse_classifier=args.reuse_classifier,
                                  progress=not args.no_progress)
    print(f"{args.run_dir}: rejection sampling (acceptance {report['acceptance_rate']:.3f}, "
          f"JSD(p, q) >= {report['jsd_lower_bound']:.4f}): {metrics_line(report['rejection'])}")
    if report["acceptance_rate"] > 0.9:
        print(f"scratchgen reject: warning: {100 * report['acceptance_rate']:.0f}% of proposals accepted: the "
              "classifier found almost no difference between data and generator. Try another --seed or a smaller --lr.")
    return report
