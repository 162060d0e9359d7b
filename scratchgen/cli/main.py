"""The ``scratchgen`` command line: ``train MODEL``, ``sample``, ``eval``, ``reject``.

    scratchgen train --help                 # the models
    scratchgen train gan --help             # one model's options, with the defaults that run
    scratchgen train gan --data ring8 --loss nonsaturating --steps 5000 --seed 0 --out runs/x
    scratchgen reject runs/x                # rejection sampling with a learnt density ratio

Each family's commands live in their own module (:mod:`.gan`, :mod:`.images`, :mod:`.diffusion`);
the options of every ``train`` command are generated from its config (:mod:`.common`).
"""
from __future__ import annotations

import argparse
import contextlib

from .common import OneLineParser, UsageError
from .course import add_course_command
from .diffusion import add_ddpm_command, add_sample_command
from .flow import add_flow_command
from .gan import add_gan_command, add_reject_command
from .i2i import add_i2i_commands
from .images import add_eval_command, add_image_commands
from .karras import add_karras_commands
from .ldm import add_ldm_command
from .vae import add_vae_commands
from .vdm import add_vdm_command

__all__ = ["main", "build_parser"]

_TRAIN_EPILOG = """\
The settings of each model are the fields of its config, in Python:
  gan            scratchgen.gan.train.GANConfig()
  ddpm           scratchgen.diffusion.train.DDPMConfig() (--data digits: DDPMConfig.preset("digits"))
  dcgan, cgan    scratchgen.gan.train_images.ImageGANConfig(model="dcgan" | "cgan")
  ssgan          scratchgen.gan.train_images.ImageGANConfig.preset("ssgan")
  vae, ae        scratchgen.vae.train.VAEConfig() (--data ppca: VAEConfig.preset("ppca")), AEConfig()
  flow           scratchgen.flows.train.FlowConfig()
  pix2pix, cyclegan, inpaint  scratchgen.gan.train_i2i.I2IConfig.preset(MODEL)
  progan, stylegan  scratchgen.gan.train_karras.KarrasConfig(model="progan" | "stylegan")
  ldm            scratchgen.diffusion.latent.LDMConfig()
  vdm            scratchgen.diffusion.train_vdm.VDMConfig()
See each model's options, with the values that run, with: scratchgen train MODEL --help
"""


def build_parser():
    """The parser of ``scratchgen``: each command's ``func(args)`` runs it."""
    parser = OneLineParser(prog="scratchgen", description="scratchgen: generative models from scratch")
    top = parser.add_subparsers(dest="command", required=True)
    train = top.add_parser("train", help="train a model (scratchgen train MODEL --help: its options)",
                           description="Train a model. MODEL is one of the commands below;\n"
                                       "`scratchgen train MODEL --help` lists its options and the defaults that run.",
                           epilog=_TRAIN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    models = train.add_subparsers(dest="model", required=True, metavar="MODEL")
    add_gan_command(models)  # scratchgen train gan
    add_ddpm_command(models)  # scratchgen train ddpm
    add_image_commands(models)  # scratchgen train dcgan|cgan|ssgan
    add_vae_commands(models)  # scratchgen train vae|ae
    add_flow_command(models)  # scratchgen train flow
    add_i2i_commands(models)  # scratchgen train pix2pix|cyclegan|inpaint
    add_karras_commands(models)  # scratchgen train progan|stylegan
    add_ldm_command(models)  # scratchgen train ldm
    add_vdm_command(models)  # scratchgen train vdm
    add_sample_command(top)  # scratchgen sample --checkpoint ...
    add_eval_command(top)  # scratchgen eval --samples ...
    add_reject_command(top)  # scratchgen reject RUN_DIR
    add_course_command(top)  # scratchgen course list|new|grade
    return parser


def main(argv=None):
    """Run ``scratchgen`` with ``argv`` (default: ``sys.argv[1:]``).

    Every error is one line on stderr, ``scratchgen: error: ...``: exit code 2 for a mistake in the
    command (argparse's own, and each command's checks, :class:`~scratchgen.cli.common.UsageError`, made
    before anything is written), 1 for a failure of the run (a non-finite loss, a damaged file found
    mid-run, a full disk). Anything else is a bug and keeps its traceback.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    from .. import backend
    from ..training import TrainingDiverged

    name = getattr(args, "backend", None) or backend.get_backend()  # the flag, else the active backend
    with contextlib.ExitStack() as stack:  # the backend for this command only (main() may run in-process)
        try:
            stack.enter_context(backend.use_backend(name))
        except backend.BackendError as e:
            parser.exit(2, f"scratchgen: error: {e}\n")
        try:
            args.func(args)
        except UsageError as e:  # a mistake in the command, found before any work
            parser.exit(2, f"scratchgen: error: {_one_line(e)}\n")
        except (TrainingDiverged, RuntimeError, ValueError, OSError) as e:  # the run failed: one clear line
            parser.exit(1, f"scratchgen: error: {_one_line(e)}\n")
    return 0


def _one_line(e):
    return " ".join(str(e).split()) or type(e).__name__
