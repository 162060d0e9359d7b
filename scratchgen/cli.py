"""The ``scratchgen`` command line.

    scratchgen train gan --data ring8 --loss nonsaturating --steps 5000 --seed 0 --out runs/x
    scratchgen train gan --data grid25 --loss wgan --penalty gp --d-steps 5 --out runs/gp
    scratchgen train --help
    scratchgen reject runs/x        # rejection sampling with a learnt density ratio
"""
from __future__ import annotations

import argparse
import contextlib
import sys

__all__ = ["main", "build_parser", "metrics_line"]


def _add_gan_parser(sub):
    from .gan.train import DATASETS, LOSSES, GANConfig

    d = GANConfig()
    p = sub.add_parser(
        "gan", help="train a GAN on a toy 2-D distribution",
        description="Train a GAN on a toy 2-D distribution. The run directory gets samples.npy "
                    "(N×2 generated samples), metrics.json, checkpoint.npz and figures "
                    "(samples.png with the critic's contours, losses.png, modes.png).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--data", default=d.data, choices=sorted(DATASETS),
                   help="training distribution (ring8: radius 1, std 0.01; grid25: {-4..4}^2, std 0.05; "
                        "mixture1d: 1-D, means ±2, std 0.5, also reports W1)")
    p.add_argument("--loss", default=d.loss, choices=sorted(LOSSES), help="GAN loss")
    p.add_argument("--penalty", default=None, choices=["gp", "r1"],
                   help="critic penalty: WGAN-GP gradient penalty or R1")
    p.add_argument("--penalty-weight", type=float, default=d.penalty_weight, help="lambda (gp) or gamma (r1)")
    p.add_argument("--clip", type=float, default=None, help="WGAN weight clipping c (e.g. 0.01)")
    p.add_argument("--spectral-norm", action="store_true", help="spectral norm on every critic layer")
    p.add_argument("--label-smoothing", type=float, default=None,
                   help="one-sided label smoothing: real target alpha (e.g. 0.9)")
    p.add_argument("--minibatch-disc", action="store_true", help="minibatch discrimination in the critic")
    p.add_argument("--unrolled", type=int, default=0, metavar="K",
                   help="unrolled GAN: the generator sees K differentiable critic updates")
    p.add_argument("--unroll-lr", type=float, default=d.unroll_lr, help="step size of the unrolled updates")
    p.add_argument("--pack", type=int, default=d.pack, metavar="M",
                   help="PacGAN packing: the critic sees M samples concatenated (must divide --batch)")
    p.add_argument("--lr-schedule", default=None, choices=["cosine"],
                   help="learning-rate schedule of both players: cosine decay to 0 over --steps (None: constant)")
    p.add_argument("--instance-noise", type=float, default=d.instance_noise, metavar="S0",
                   help="instance noise (Sønderby et al. 2017): the critic sees x + sigma_t eps, real and generated, "
                        "sigma_t decaying linearly from S0 to 0 at half of --steps; 0 = off")
    p.add_argument("--mmd-weight", type=float, default=d.mmd_weight, metavar="LAMBDA",
                   help="add LAMBDA * MMD^2(G(z), data) to G's loss (RBF kernels, --mmd-sigmas); 0 = off")
    p.add_argument("--mmd-sigmas", type=float, nargs="+", default=list(d.mmd_sigmas),
                   help="bandwidths of the RBF kernels of the MMD^2 term")
    p.add_argument("--mmd-samples", type=int, default=d.mmd_samples,
                   help="generated and data points in the MMD^2 term's estimate (cost grows as the square)")
    p.add_argument("--mmd-schedule", default=None, choices=["cosine"],
                   help="schedule of LAMBDA: cosine decay to 0 over --steps (None: constant)")
    p.add_argument("--top-k", type=float, default=None, metavar="NU",
                   help="top-k generator updates (Sinha et al. 2020): G's loss uses only the samples D scores "
                        "highest, a fraction decaying linearly from 1 to NU over the first half of --steps")
    p.add_argument("--ema", type=float, default=d.ema, metavar="MU",
                   help="evaluate a moving average of G's weights with decay MU (Yazıcı et al. 2019); 0 = off")
    p.add_argument("--steps", type=int, default=d.steps, help="generator updates")
    p.add_argument("--d-steps", type=int, default=d.d_steps, help="critic updates per generator update")
    p.add_argument("--batch", type=int, default=d.batch, help="samples per minibatch (data and noise)")
    p.add_argument("--z-dim", type=int, default=d.z_dim, help="dimension of the noise z ~ N(0, I)")
    p.add_argument("--hidden", type=int, default=d.hidden, help="units in each of the 2 hidden layers")
    p.add_argument("--lr-g", type=float, default=d.lr_g, help="Adam learning rate of the generator")
    p.add_argument("--lr-d", type=float, default=d.lr_d, help="Adam learning rate of the critic")
    p.add_argument("--beta1", type=float, default=d.betas[0], help="Adam beta1")
    p.add_argument("--beta2", type=float, default=d.betas[1], help="Adam beta2")
    p.add_argument("--eval-every", type=int, default=d.eval_every, help="steps between evaluations/checkpoints")
    p.add_argument("--n-eval", type=int, default=d.n_eval, help="generated samples evaluated")
    p.add_argument("--seed", type=int, default=d.seed, help="seed of the one generator behind data, noise and weights")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--resume", default=None, help="checkpoint.npz to continue from; give the options it was trained with (only --steps and how the run reports may change)")
    add_backend_argument(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_run_gan)


def gan_config_from_args(args):
    """The :class:`~scratchgen.gan.train.GANConfig` that parsed ``scratchgen train gan`` arguments ask for."""
    from .gan.train import GANConfig

    return GANConfig(
        data=args.data, loss=args.loss, penalty=args.penalty, penalty_weight=args.penalty_weight,
        clip=args.clip, spectral_norm=args.spectral_norm, label_smoothing=args.label_smoothing,
        minibatch_disc=args.minibatch_disc, unrolled=args.unrolled, unroll_lr=args.unroll_lr,
        pack=args.pack, lr_schedule=args.lr_schedule, top_k=args.top_k, ema=args.ema,
        instance_noise=args.instance_noise, mmd_weight=args.mmd_weight, mmd_sigmas=tuple(args.mmd_sigmas),
        mmd_samples=args.mmd_samples, mmd_schedule=args.mmd_schedule,
        steps=args.steps, d_steps=args.d_steps, batch=args.batch, z_dim=args.z_dim, hidden=args.hidden,
        lr_g=args.lr_g, lr_d=args.lr_d, betas=(args.beta1, args.beta2), eval_every=args.eval_every,
        n_eval=args.n_eval, seed=args.seed, progress=not args.no_progress,
    )


def _run_gan(args):
    from .gan.train import train_gan

    run = train_gan(gan_config_from_args(args), out_dir=args.out, resume=args.resume)
    print(f"{args.out}: {metrics_line(run.final)}")
    return run


def metrics_line(metrics):
    """``k=v, ...`` with floats to 4 significant digits: the one-line summary a command prints."""
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items())


def _add_reject_parser(top):
    from .gan.rejection import rejection_sample_run

    p = top.add_parser(
        "reject", help="rejection-sample a trained toy GAN with a learnt density ratio",
        description="Correct a finished `scratchgen train gan` run by rejection sampling: train a classifier "
                    "whose logit estimates log p(x)/q(x) (data against the frozen generator), then accept each "
                    "generated x with probability min(1, exp(logit(x) - log M)), log M fixed from a burn-in. Writes samples_rejection.npy, "
                    "rejection.json, rejection_classifier.npz and samples_rejection.png into RUN_DIR.",
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

    def run(args):
        report = rejection_sample_run(args.run_dir, steps=args.steps, batch=args.batch, hidden=args.hidden,
                                      lr=args.lr, n=args.n, seed=args.seed, reuse_classifier=args.reuse_classifier,
                                      progress=not args.no_progress)
        print(f"{args.run_dir}: rejection sampling (acceptance {report['acceptance_rate']:.3f}, "
              f"JSD(p, q) >= {report['jsd_lower_bound']:.4f}): {metrics_line(report['rejection'])}")
        if report["acceptance_rate"] > 0.9:
            print(f"scratchgen reject: warning: {100 * report['acceptance_rate']:.0f}% of proposals accepted: the "
                  "classifier found almost no difference between data and generator. Try another --seed or a smaller --lr.")
        return report

    p.set_defaults(func=run)


def build_parser():
    parser = argparse.ArgumentParser(prog="scratchgen", description="scratchgen: generative models from scratch")
    top = parser.add_subparsers(dest="command", required=True)
    train = top.add_parser("train", help="train a model", description="Train a model; see each model's --help.")
    models = train.add_subparsers(dest="model", required=True)
    _add_gan_parser(models)
    from .diffusion.cli import add_sample_parser, add_train_parser
    add_train_parser(models)  # scratchgen train ddpm
    add_sample_parser(top)  # scratchgen sample
    from .gan.images_cli import add_eval_parser, add_train_parsers
    add_train_parsers(models)  # scratchgen train dcgan|cgan|ssgan
    add_eval_parser(top)  # scratchgen eval --samples ...
    _add_reject_parser(top)  # scratchgen reject RUN_DIR
    return parser


def add_backend_argument(p):
    """``--backend numpy|cupy``; without it a command runs on the active backend (``SCRATCHGEN_BACKEND``, else NumPy)."""
    p.add_argument("--backend", default=argparse.SUPPRESS, choices=["numpy", "cupy"],
                   help="array backend (default: the active one: $SCRATCHGEN_BACKEND if set, else numpy)")


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    from . import backend

    name = getattr(args, "backend", None) or backend.get_backend()  # the flag, else the active backend
    with contextlib.ExitStack() as stack:  # the backend for this command only (main() may run in-process)
        try:
            stack.enter_context(backend.use_backend(name))
        except backend.BackendError as e:
            parser.exit(2, f"scratchgen: error: {e}\n")
        try:
            args.func(args)
        except Exception as e:  # training errors: one clear line, not a traceback
            from .gan.train import TrainingDiverged

            if isinstance(e, (TrainingDiverged, ValueError)):
                parser.exit(1, f"scratchgen: error: {e}\n")
            raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
