"""``scratchgen train progan|stylegan``: Karras et al.'s generators on the 8×8 digits (or MNIST padded to 32×32).

    scratchgen train progan --steps 3000 --out runs/progan            # 4x4 -> 8x8 with fade-in, WGAN-GP
    scratchgen train stylegan --steps 3000 --out runs/stylegan        # mapping network, AdaIN, noise, mixing
    scratchgen train progan --data mnist --mnist-path ~/data/mnist --channels 64 64 32 16 --out runs/progan-mnist
                                                          # 4 -> 8 -> 16 -> 32: one channel count per stage

The options are the fields of :class:`~scratchgen.gan.train_karras.KarrasConfig`; ``progan`` does not offer
StyleGAN's own (w_dim, mapping_layers, mixing), ``stylegan`` not the growing schedule (fade, first_stage).
"""
from __future__ import annotations

from .common import add_train_command, metrics_line

__all__ = ["add_karras_commands"]

_HELP = {
    "progan": ("train a progressive GAN (4x4 -> 8x8 with fade-in)",
               "Train a progressive GAN (Karras et al. 2018): stages 4x4, 8x8 (MNIST: to 32x32), each new block "
               "faded in with alpha 0 -> 1; equalised learning rate, pixel norm, minibatch std, WGAN-GP."),
    "stylegan": ("train a small style-based generator (StyleGAN)",
                 "Train a small StyleGAN (Karras et al. 2019): mapping network z -> w, AdaIN at each layer, "
                 "per-pixel noise, style-mixing regularisation; the ProGAN critic, WGAN-GP."),
}
_OUTPUTS = (" The run directory gets samples.png, samples.npy, metrics.json (digits: FID/KID/IS/precision/recall "
            "against the held-out digits by scratchgen's digits classifier, recognisable, classes_covered) and "
            "checkpoint.npz. Settings: scratchgen.gan.train_karras.KarrasConfig.")
_ONLY = {"progan": ("w_dim", "mapping_layers", "mixing"), "stylegan": ("fade", "first_stage")}


def add_karras_commands(models):
    """Add ``progan`` and ``stylegan`` under ``scratchgen train``."""
    from ..gan.train_karras import MODELS, KarrasConfig, resumable

    for model in MODELS:
        short, long = _HELP[model]
        add_train_command(models, model, KarrasConfig, run=_run, help=short, description=long + _OUTPUTS,
                          fixed={"model": model}, exclude=_ONLY[model], kind=model, may_differ=resumable)


def _run(args, cfg):
    from ..gan.train_karras import train_karras

    run = train_karras(cfg, out_dir=args.out, resume=args.resume)
    print(f"{args.out}: {metrics_line(run.final, skip=('n_samples', 'n_reference', 'step'))}")
    return run
