"""Command line of the image GANs and of the image metrics.

    scratchgen train dcgan --data digits --steps 3000 --out runs/dcgan
    scratchgen train cgan  --data digits --steps 3000 --out runs/cgan
    scratchgen train ssgan --data digits --labels-per-class 10 --baseline --out runs/ssgan
    scratchgen train dcgan --data mnist --mnist-path ~/data/mnist --out runs/mnist
    scratchgen train ssgan --data mnist --mnist-path data/mnist5k --mnist-checksums data/mnist5k/checksums.json ...
    scratchgen eval --samples runs/dcgan/samples.npy [--reference digits-test] [--labels labels.npy]

``scratchgen.cli.build_parser`` calls :func:`add_train_parsers` and :func:`add_eval_parser`.
"""
from __future__ import annotations

import argparse
import json

__all__ = ["add_train_parsers", "add_eval_parser", "add_data_arguments", "data_options", "add_ssgan_arguments",
           "ssgan_options", "config_from_args"]

_HELP = {
    "dcgan": ("train a DCGAN on 8×8 digits (or 28×28 MNIST)",
              "Train a DCGAN (strided convolutions, batch norm, ReLU/LeakyReLU, tanh output)."),
    "cgan": ("train a conditional DCGAN (labels into G and D)",
             "Train a conditional DCGAN: the digit label enters both the generator and the discriminator. "
             "samples.png shows digit k in row k; metrics.json adds class_accuracy."),
    "ssgan": ("train a semi-supervised GAN (K+1 critic, feature matching)",
              "Train a semi-supervised GAN (8×8 digits or 28×28 MNIST) with a few labels per class; metrics.json "
              "gets the critic's accuracy on the held-out split (and, with --baseline, that of the same "
              "critic trained on the labelled images only)."),
}


def add_data_arguments(p):
    """Add ``--data``, ``--mnist-path`` and ``--mnist-checksums`` (the data fields of
    :class:`~scratchgen.gan.images.ImageGANConfig`) to the parser ``p``."""
    p.add_argument("--data", default="digits", choices=["digits", "mnist"],
                   help="digits: the shipped 8×8 UCI digits (70/30 split); mnist: 28×28 IDX files at --mnist-path")
    p.add_argument("--mnist-path", default=None, help="folder with the four MNIST IDX .gz files")
    p.add_argument("--mnist-checksums", default="standard", metavar="standard|none|FILE",
                   help="how the MNIST files are checked: the original files' MD5 (standard), not at all (none), "
                        "or the digests in a JSON file {filename: hexdigest} (demos/mnist_subset.py writes one)")


def data_options(args):
    """The data fields of :class:`~scratchgen.gan.images.ImageGANConfig` that :func:`add_data_arguments` set."""
    return dict(data=args.data, mnist_path=args.mnist_path, mnist_checksums=args.mnist_checksums)


def add_ssgan_arguments(p):
    """Add the SS-GAN's own options (critic, noise, regularisers, labels) to the parser ``p``, with
    the defaults of :class:`~scratchgen.gan.images.ImageGANConfig`; :func:`ssgan_options` reads them
    back. ``scratchgen train ssgan`` and ``demos/digits_ssgan.py`` both use it."""
    from .train_images import ImageGANConfig as d

    p.add_argument("--critic", default=d.critic, choices=["mlp", "conv"], help="the K+1 critic's architecture")
    p.add_argument("--hidden", type=int, nargs="+", default=list(d.ss_hidden),
                   help="hidden units of the MLP critic, one number per layer")
    p.add_argument("--noise", type=float, nargs=2, default=list(d.ss_noise), metavar=("SIGMA_IN", "SIGMA_H"),
                   help="std of the critic's Gaussian noise on its input and after each hidden layer")
    p.add_argument("--weight-norm", action="store_true", help="weight normalisation in every critic layer")
    p.add_argument("--augment", action="store_true", help="random one-pixel shifts of the critic's real images")
    p.add_argument("--entropy", type=float, default=d.ss_entropy,
                   help="weight of the class entropy of unlabelled images in the critic's loss (0 = off)")
    p.add_argument("--unsup-weight", type=float, default=d.ss_unsup_weight, metavar="W",
                   help="critic loss L_sup + W L_unsup (the paper's text: 1; its code: 0.5)")
    p.add_argument("--consistency", type=float, default=d.ss_consistency, metavar="LAMBDA",
                   help="weight of the Pi-model term: two noisy critic passes over unlabelled images agree (0 = off)")
    p.add_argument("--manifold", type=float, default=d.ss_manifold, metavar="LAMBDA",
                   help="weight of the manifold regulariser ||l(G(z)) - l(G(z + eps d))||^2 (0 = off)")
    p.add_argument("--manifold-eps", type=float, default=d.ss_manifold_eps, metavar="EPS",
                   help="step along a random unit direction d of z in that regulariser")
    p.add_argument("--vat", type=float, default=d.ss_vat, metavar="ALPHA",
                   help="weight of the virtual adversarial term on unlabelled images (0 = off)")
    p.add_argument("--vat-eps", type=float, default=d.ss_vat_eps, metavar="EPS",
                   help="L2 radius of its adversarial perturbation of an image (pixels in [-1, 1]; "
                        "the input noise sigma_in = 0.3 has length about 2.4)")
    p.add_argument("--labels-per-class", type=int, default=d.labels_per_class,
                   help="labelled training images per digit (chosen by the run's seed)")
    p.add_argument("--unlabelled-fraction", type=float, default=d.unlabelled_fraction, metavar="F",
                   help="share of the other training images used as unlabelled data (1 = all)")


def ssgan_options(args):
    """The :class:`~scratchgen.gan.images.ImageGANConfig` fields that :func:`add_ssgan_arguments` set, as keywords."""
    return dict(critic=args.critic, ss_hidden=tuple(args.hidden), ss_noise=tuple(args.noise),
                weight_norm=args.weight_norm, augment=args.augment, ss_entropy=args.entropy,
                ss_unsup_weight=args.unsup_weight, ss_consistency=args.consistency, ss_manifold=args.manifold,
                ss_manifold_eps=args.manifold_eps, ss_vat=args.vat, ss_vat_eps=args.vat_eps,
                labels_per_class=args.labels_per_class, unlabelled_fraction=args.unlabelled_fraction)


def add_train_parsers(models_subparsers):
    """Add ``dcgan``, ``cgan`` and ``ssgan`` under ``scratchgen train``."""
    from ..cli import add_backend_argument
    from .train_images import ImageGANConfig

    d = ImageGANConfig()
    for model in ("dcgan", "cgan", "ssgan"):
        short, long = _HELP[model]
        p = models_subparsers.add_parser(
            model, help=short, formatter_class=argparse.ArgumentDefaultsHelpFormatter,
            description=long + " The run directory gets samples.png (an image grid), samples.npy, "
                               "metrics.json (with --data digits: FID/KID/IS/precision/recall against the "
                               "held-out digits, from scratchgen's digits classifier: not comparable to "
                               "Inception-based numbers) and checkpoint.npz.",
        )
        add_data_arguments(p)
        p.add_argument("--steps", type=int, default=6000 if model == "ssgan" else d.steps, help="generator updates")
        p.add_argument("--batch", type=int, default=d.batch, help="images per minibatch")
        p.add_argument("--z-dim", type=int, default=d.z_dim, help="dimension of z ~ N(0, I)")
        p.add_argument("--width", type=int, default=d.width,
                       help="channels of the first D / last G layer (ssgan: G's hidden units / 4)")
        p.add_argument("--lr-g", type=float, default=1e-3 if model == "ssgan" else d.lr_g, help="Adam lr of G")
        p.add_argument("--lr-d", type=float, default=1e-3 if model == "ssgan" else d.lr_d, help="Adam lr of D")
        p.add_argument("--beta1", type=float, default=d.betas[0], help="Adam beta1")
        p.add_argument("--beta2", type=float, default=d.betas[1], help="Adam beta2")
        p.add_argument("--lr-schedule", default="cosine" if model == "ssgan" else "none", choices=["cosine", "none"],
                       help="cosine: both learning rates decay to 0 over --steps; none: constant")
        p.add_argument("--ema", type=float, default=d.ema, metavar="MU",
                       help="evaluate moving averages of G's and D's weights with decay MU (0 = off)")
        if model == "ssgan":
            add_ssgan_arguments(p)
            p.add_argument("--baseline", action="store_true",
                           help="also train the critic on the labelled images only and report its accuracy")
        p.add_argument("--eval-every", type=int, default=d.eval_every, help="steps between evaluations/checkpoints")
        p.add_argument("--n-eval", type=int, default=d.n_eval, help="generated images scored")
        p.add_argument("--seed", type=int, default=d.seed, help="seed of the one generator behind weights, data and noise")
        p.add_argument("--out", required=True, help="run directory")
        p.add_argument("--resume", default=None, help="checkpoint.npz to continue from; give the options it was trained with (only --steps and how the run reports may change)")
        add_backend_argument(p)
        p.add_argument("--no-progress", action="store_true", help="no progress bar")
        p.set_defaults(func=_run_train, model=model)


def config_from_args(args):
    """The :class:`~scratchgen.gan.images.ImageGANConfig` that parsed ``scratchgen train dcgan|cgan|ssgan`` arguments ask for."""
    from .train_images import ImageGANConfig

    return ImageGANConfig(
        model=args.model, **data_options(args), steps=args.steps,
        batch=args.batch, z_dim=args.z_dim, width=args.width, lr_g=args.lr_g, lr_d=args.lr_d,
        betas=(args.beta1, args.beta2), lr_schedule=None if args.lr_schedule == "none" else args.lr_schedule,
        ema=args.ema, eval_every=args.eval_every, n_eval=args.n_eval, seed=args.seed, progress=not args.no_progress,
        **(ssgan_options(args) if args.model == "ssgan" else {}),
    )


def _run_train(args):
    import os

    from .train_images import train_image_gan, train_labelled_only

    cfg = config_from_args(args)
    run = train_image_gan(cfg, out_dir=args.out, resume=args.resume)
    if getattr(args, "baseline", False):
        run.final["labelled_only_test_accuracy"] = train_labelled_only(cfg)
        path = os.path.join(args.out, "metrics.json")
        with open(path) as f:
            m = json.load(f)
        m["final"] = run.final
        with open(path, "w") as f:
            json.dump(m, f, indent=2)
    shown = {k: v for k, v in run.final.items() if k not in ("n_samples", "n_reference", "step")}
    print(f"{args.out}: " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in shown.items()))
    return run


def add_eval_parser(top_subparsers):
    """Add ``scratchgen eval --samples ...``: score a saved set of 8×8 digit images."""
    p = top_subparsers.add_parser(
        "eval", help="score saved 8×8 digit images (FID, KID, IS, precision/recall)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Score a saved set of 8×8 images (a .npy of shape (N, 1, 8, 8), (N, 8, 8) or (N, 64), "
                    "values in [-1, 1]) against a reference set, with the features and class posterior of "
                    "scratchgen's shipped digits classifier. Not comparable to Inception-based FID/KID/IS.",
    )
    p.add_argument("--samples", required=True, help=".npy file of generated images")
    p.add_argument("--reference", default="digits-test",
                   help="digits-test (the 539 held-out digits), digits-train, or a .npy file of images")
    p.add_argument("--labels", default=None,
                   help=".npy of the labels a conditional generator was asked for (adds class_accuracy)")
    p.add_argument("--k", type=int, default=3, help="k of the k-NN manifolds of precision/recall")
    p.add_argument("--seed", type=int, default=0, help="seed of KID's random subsets")
    p.add_argument("--out", default=None, help="write the metrics to this JSON file")
    from ..cli import add_backend_argument

    add_backend_argument(p)
    p.set_defaults(func=_run_eval)


def _read_images(path, who):
    import numpy  # file I/O

    from ..backend import asarray, default_dtype

    try:
        x = numpy.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise ValueError(f"{who}: cannot read {path} as a .npy array: {e}") from e
    if x.ndim == 2 and x.shape[1] == 64:
        x = x.reshape(-1, 1, 8, 8)
    elif x.ndim == 3 and x.shape[1:] == (8, 8):
        x = x[:, None]
    if x.ndim != 4 or x.shape[1:] != (1, 8, 8):
        raise ValueError(f"{who}: {path} must hold 8×8 images of shape (N, 1, 8, 8), (N, 8, 8) or (N, 64), "
                         f"received {x.shape}")
    if x.min() < -1.0001 or x.max() > 1.0001:
        raise ValueError(f"{who}: {path} must hold values in [-1, 1] (load_digits(scale='unit')), "
                         f"received range [{x.min():.3g}, {x.max():.3g}]")
    return asarray(x.astype(default_dtype()))


def _run_eval(args):
    import numpy  # file I/O

    from ..backend import asarray
    from ..metrics.features import digits_split, image_metrics

    x = _read_images(args.samples, "--samples")
    if args.reference in ("digits-test", "digits-train"):
        s = digits_split()
        ref = s.x_test if args.reference == "digits-test" else s.x_train
    else:
        ref = _read_images(args.reference, "--reference")
    labels = None
    if args.labels:
        labels = asarray(numpy.load(args.labels, allow_pickle=False).astype("int64"))
    m = image_metrics(x, ref, labels=labels, k=args.k, seed=args.seed)
    text = json.dumps(m, indent=2)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    print(text)
    return m
