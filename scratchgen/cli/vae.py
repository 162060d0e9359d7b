"""``scratchgen train vae`` (a variational autoencoder) and ``scratchgen train ae`` (an autoencoder).

    scratchgen train vae --data digits --out runs/vae-digits
    scratchgen train vae --data digits --beta 8 --free-bits 0.5 --out runs/vae-free-bits
    scratchgen train vae --data ppca --out runs/vae-ppca          # the preset "ppca": the linear VAE
    scratchgen train ae --objective denoising --out runs/dae-digits

The options of ``train vae`` are the fields of :class:`~scratchgen.vae.train.VAEConfig` (with ``--data
ppca`` the options left out take ``VAEConfig.PRESETS["ppca"]``), those of ``train ae`` the fields of
:class:`~scratchgen.vae.train.AEConfig`.
"""
from __future__ import annotations

from .common import add_train_command, metrics_line

__all__ = ["add_vae_commands"]

_SHOWN = ("test_elbo", "test_iwae", "iwae_k", "active_units", "kl", "mutual_info", "fid", "precision", "recall",
          "modes_captured", "high_quality_fraction", "train_seconds")


def add_vae_commands(models):
    """Add ``vae`` and ``ae`` to the subcommands of ``scratchgen train``."""
    from ..vae.train import AEConfig, VAEConfig

    vae = add_train_command(
        models, "vae", VAEConfig, run=_run_vae, preset_by="data",
        help="train a variational autoencoder (VAE) on the 8x8 digits, PPCA data or a toy 2-D set",
        description="Train a VAE (Kingma & Welling 2014) by the ELBO with Adam, optionally with beta, KL warm-up "
                    "or free bits (the settings of scratchgen.vae.train.VAEConfig). The run directory gets "
                    "metrics.json (test_elbo, test_iwae with its k, active_units, kl_per_dim, ...), samples.npy, "
                    "checkpoint.npz and figures (reconstructions.png, samples.png, traversals.png, latent.png, "
                    "collapse.png).")
    ae = add_train_command(
        models, "ae", AEConfig, run=_run_ae,
        help="train an autoencoder: plain, denoising or masked (--objective)",
        description="Train a deterministic autoencoder by squared error (the settings of "
                    "scratchgen.vae.train.AEConfig): --objective plain reconstructs x, denoising reconstructs x "
                    "from a noisy copy, masked reconstructs hidden entries from the visible ones; --hidden 0 gives "
                    "the linear autoencoder (PCA). The run directory gets metrics.json, checkpoint.npz "
                    "and figures (reconstructions.png, latent.png).")
    for p in (vae, ae):
        p.add_argument("--no-figures", action="store_true", help="write the numbers and the checkpoint only (no PNG)")
    return vae, ae


def _run_vae(args, cfg):
    from ..vae.train import train_vae

    run = train_vae(cfg, out_dir=args.out, resume=args.resume, figures=not args.no_figures)
    print(f"{args.out}: {metrics_line(run.final, keys=_SHOWN)} ({run.final['units']})")
    return run


def _run_ae(args, cfg):
    from ..vae.train import train_autoencoder

    run = train_autoencoder(cfg, out_dir=args.out, resume=args.resume, figures=not args.no_figures)
    print(f"{args.out}: {metrics_line(run.final, keys=('test_mse', 'test_loss', 'principal_angles_deg'))}")
    return run
