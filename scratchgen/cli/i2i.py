"""``scratchgen train pix2pix|cyclegan|inpaint``: the image-to-image GANs on the 8×8 digits (or MNIST files).

    scratchgen train pix2pix --task denoise --out runs/pix2pix      # corrupted -> clean digit
    scratchgen train pix2pix --task fill --out runs/fill            # outline -> digit
    scratchgen train cyclegan --task outline --out runs/cyclegan    # digits <-> outlines of other digits
    scratchgen train inpaint --hole 4 --out runs/inpaint            # a context encoder
    scratchgen train pix2pix --task fill --data mnist --mnist-path data/mnist5k --out runs/fill-mnist  # 28x28 -> 32x32

The options are the fields of :class:`~scratchgen.gan.train_i2i.I2IConfig`; each command runs its preset
(``I2IConfig.preset("cyclegan")``) and offers its own fields (``ONLY``) besides the shared ones.
"""
from __future__ import annotations

from .common import add_train_command, metrics_line

__all__ = ["add_i2i_commands"]

_HELP = {
    "pix2pix": ("train pix2pix (U-Net + PatchGAN, L1 + adversarial) on a paired digits task",
                "Train pix2pix (Isola et al. 2017) on a paired task built from the digits: --task denoise (corrupted "
                "-> clean), outline (digit -> its outline) or fill (outline -> digit)."),
    "cyclegan": ("train CycleGAN (two generators, cycle + identity losses) on unpaired digits",
                 "Train CycleGAN (Zhu et al. 2017) between half of the training digits and the other half transformed "
                 "(--task outline, thicken or invert): no image is paired with its transform."),
    "inpaint": ("train a context encoder that fills a hidden square of a digit",
                "Train a context encoder (Pathak et al. 2016): a random --hole x --hole square of each digit is hidden, "
                "the U-Net fills it, trained on L_rec on the hole + L_adv."),
}
_OUTPUTS = (" The run directory gets outputs.png (held-out digits through the model), panels.npy, metrics.json "
            "(class_accuracy of the outputs by scratchgen's digits classifier, the input's and the clean digits' "
            "accuracy, L1 or squared error to the truth, FID/precision/recall) and checkpoint.npz. Settings: "
            "scratchgen.gan.train_i2i.I2IConfig.")
_SKIP = ("model", "step", "train_seconds")


def add_i2i_commands(models):
    """Add ``pix2pix``, ``cyclegan`` and ``inpaint`` under ``scratchgen train``."""
    from ..gan.train_i2i import I2I_MODELS, ONLY, I2IConfig, resumable

    for model in I2I_MODELS:
        short, long = _HELP[model]
        others = tuple(n for m, names in ONLY.items() if m != model for n in names)
        exclude = others + (("task",) if model == "inpaint" else ())
        add_train_command(models, model, I2IConfig, run=_run, help=short, description=long + _OUTPUTS,
                          fixed={"model": model}, preset=model, exclude=exclude, kind="i2i",
                          may_differ=lambda cfg: resumable(cfg.model))


def _run(args, cfg):
    from ..gan.train_i2i import train_i2i

    run = train_i2i(cfg, out_dir=args.out, resume=args.resume)
    print(f"{args.out}: {metrics_line(run.final, skip=_SKIP)}")
    return run
