"""``scratchgen train vdm``: a continuous-time Variational Diffusion Model on the 8x8 digits, fixed or learned SNR(t).

    scratchgen train vdm --schedule learned --seed 0 --out runs/vdm-learned
    scratchgen train vdm --schedule fixed --out runs/vdm-fixed      # linear gamma, fixed endpoints
    scratchgen train vdm --T 100 --out runs/vdm-T100                 # the 100-step loss instead of L_inf

The options are the fields of :class:`~scratchgen.diffusion.train_vdm.VDMConfig`.
"""
from __future__ import annotations

from .common import add_train_command, metrics_line

__all__ = ["add_vdm_command"]

_SHOWN = ("bpd", "bpd_se", "diffusion_bpd", "prior_bpd", "reconstruction_bpd", "diffusion_bpd_sd", "gamma_0",
          "gamma_1", "train_seconds")


def add_vdm_command(models):
    """Add ``vdm`` to the subcommands of ``scratchgen train``."""
    from ..diffusion.train_vdm import VDMConfig

    return add_train_command(
        models, "vdm", VDMConfig, run=_run_vdm, kind="vdm",
        help="train a continuous-time VDM (learned SNR) on the 8x8 digits, scored in bits per dimension",
        description="Train a Variational Diffusion Model (Kingma et al. 2021) on the 17-level 8x8 digits by its "
                    "variational bound in bits per dimension: the continuous-time diffusion loss (or T steps), the "
                    "prior and the reconstruction terms; the schedule gamma(t) = -log SNR(t) fixed, linear with "
                    "learned endpoints, or learned (endpoints on the bound, a monotone shape on the loss's "
                    "variance); the settings of scratchgen.diffusion.train_vdm.VDMConfig. The run directory gets "
                    "metrics.json (bpd: the bound on the 539 held-out digits with its standard error, its three "
                    "terms, the learned endpoints), samples.npy and checkpoint.npz.")


def _run_vdm(args, cfg):
    from ..diffusion.train_vdm import train_vdm

    run = train_vdm(cfg, out_dir=args.out, resume=args.resume)
    print(f"{args.out}: {metrics_line(run.final, keys=_SHOWN)}")
    return run
