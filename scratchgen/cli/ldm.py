"""``scratchgen train ldm``: latent diffusion on the digits (a DDPM in the latent space of the digits VAE).

    scratchgen train ldm --out runs/ldm                                  # trains the VAE first, into runs/ldm/vae
    scratchgen train ldm --vae runs/vae-digits/checkpoint.npz --out runs/ldm   # a VAE trained before

The options are the fields of :class:`~scratchgen.diffusion.latent.LDMConfig`.
"""
from __future__ import annotations

from .common import add_train_command, metrics_line

__all__ = ["add_ldm_command"]

_SHOWN = ("fid", "precision", "recall", "sample_seconds", "vae_fid", "train_seconds")


def add_ldm_command(models):
    """Add ``ldm`` to the subcommands of ``scratchgen train``."""
    from ..diffusion.latent import LDMConfig

    return add_train_command(
        models, "ldm", LDMConfig, run=_run_ldm, kind="ldm",
        help="train a latent diffusion model: a DDPM on the latents of the digits VAE",
        description="Latent diffusion (Rombach et al. 2022) on the 8x8 digits: train (or load, --vae PATH) the "
                    "digits VAE, encode the training images, train a DDPM with the MLP denoiser on the scaled "
                    "8-d latents, sample latents and decode them (scratchgen.diffusion.latent). The run directory "
                    "gets vae/ (when trained here), checkpoint.npz (the DDPM and the VAE), metrics.json (FID, "
                    "precision/recall of the decoded samples against the held-out digits, sampling time) and "
                    "samples.npy.")


def _run_ldm(args, cfg):
    from ..diffusion.latent import train_ldm

    run = train_ldm(cfg, out_dir=args.out, resume=args.resume)
    print(f"{args.out}: {metrics_line(run.final, keys=_SHOWN)}")
    return run
