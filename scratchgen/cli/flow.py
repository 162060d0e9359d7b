"""``scratchgen train flow``: a normalizing flow (affine couplings, RealNVP/Glow) fitted by maximum likelihood.

    scratchgen train flow --data gauss8 --seed 0 --out runs/flow-gauss8
    scratchgen train flow --data checkerboard --out runs/flow-checkerboard
    scratchgen train flow --data points.npy --out runs/flow-file      # any (N, D) float array, D >= 2

The options are the fields of :class:`~scratchgen.flows.train.FlowConfig`.
"""
from __future__ import annotations

from .common import add_train_command, metrics_line

__all__ = ["add_flow_command"]


def add_flow_command(models):
    """Add ``flow`` to the subcommands of ``scratchgen train``."""
    from ..flows.train import FlowConfig

    p = add_train_command(
        models, "flow", FlowConfig, run=_run_flow,
        help="train a normalizing flow (affine couplings) by maximum likelihood on a toy set or a .npy file",
        description="Fit a normalizing flow, K steps of (LU-parameterised invertible linear map, RealNVP affine "
                    "coupling) on a standard normal base, by maximising the exact log-likelihood with Adam (the "
                    "settings of scratchgen.flows.train.FlowConfig). The run directory gets metrics.json (test_nll: "
                    "the held-out negative log-likelihood in nats per point, with its standard error; the data's "
                    "entropy and the paired KL(p||q) where its density is known), samples.npy, checkpoint.npz and, "
                    "for 2-D data, figures (density.png: the density as a heat map with samples over the data; "
                    "layers.png: what each layer does; nll.png).")
    p.add_argument("--no-figures", action="store_true", help="write the numbers and the checkpoint only (no PNG)")
    return p


def _run_flow(args, cfg):
    from ..flows.train import train_flow

    run = train_flow(cfg, out_dir=args.out, resume=args.resume, figures=not args.no_figures)
    print(f"{args.out}: {metrics_line(run.final, keys=('test_nll', 'test_nll_se', 'entropy', 'kl', 'kl_se', 'modes_captured', 'high_quality_fraction', 'train_seconds'))}")
    return run
