"""``scratchgen train dcgan|cgan|ssgan`` (GANs on 8×8 digits or 28×28 MNIST) and ``scratchgen eval``
(the image metrics of saved samples).

    scratchgen train dcgan --data digits --steps 3000 --out runs/dcgan
    scratchgen train cgan  --data digits --steps 3000 --out runs/cgan
    scratchgen train ssgan --data digits --labels-per-class 10 --baseline --out runs/ssgan
    scratchgen train dcgan --data mnist --mnist-path ~/data/mnist --out runs/mnist
    scratchgen train ssgan --data mnist --mnist-path data/mnist5k --mnist-checksums data/mnist5k/checksums.json ...
    scratchgen eval --samples runs/dcgan/samples.npy [--reference digits-test] [--labels labels.npy]

The options of the three trainers are the fields of :class:`~scratchgen.gan.train_images.ImageGANConfig`;
``ssgan`` alone offers the SS-GAN's own (``SSGAN_ONLY``) and runs the preset ``"ssgan"``.
"""
from __future__ import annotations

import argparse
import json
import os

from .common import (
    UsageError,
    add_backend_argument,
    add_train_command,
    check_option,
    check_out_file,
    metrics_line,
)

__all__ = ["add_image_commands", "add_eval_command", "DATA_OPTIONS"]

#: the fields of ImageGANConfig that choose the data (shared with demos/label_spreading_grid.py)
DATA_OPTIONS = ("data", "mnist_path", "mnist_checksums")

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
_OUTPUTS = (" The run directory gets samples.png (an image grid), samples.npy, metrics.json (with --data digits: "
            "FID/KID/IS/precision/recall against the held-out digits, from scratchgen's digits classifier: not "
            "comparable to Inception-based numbers) and checkpoint.npz. Settings: "
            "scratchgen.gan.train_images.ImageGANConfig.")


def add_image_commands(models):
    """Add ``dcgan``, ``cgan`` and ``ssgan`` under ``scratchgen train``."""
    from ..gan.train_images import MODELS, RESUMABLE, SSGAN_ONLY, ImageGANConfig

    for model in MODELS:
        short, long = _HELP[model]
        ssgan = model == "ssgan"
        p = add_train_command(models, model, ImageGANConfig, run=_run_train, help=short, description=long + _OUTPUTS,
                              fixed={"model": model}, preset=model if model in ImageGANConfig.PRESETS else None,
                              exclude=() if ssgan else SSGAN_ONLY, kind="image_gan", may_differ=RESUMABLE)
        if ssgan:
            p.add_argument("--baseline", action="store_true",
                           help="also train the critic on the labelled images only and report its accuracy")


def _run_train(args, cfg):
    from ..gan.train_images import train_image_gan, train_labelled_only
    from ..training import write_json

    run = train_image_gan(cfg, out_dir=args.out, resume=args.resume)
    if getattr(args, "baseline", False):
        run.final["labelled_only_test_accuracy"] = train_labelled_only(cfg)
        path = os.path.join(args.out, "metrics.json")
        with open(path) as f:
            m = json.load(f)
        m["final"] = run.final
        write_json(path, m)
    print(f"{args.out}: {metrics_line(run.final, skip=('n_samples', 'n_reference', 'step'))}")
    return run


def add_eval_command(top):
    """Add ``scratchgen eval --samples ...``: score a saved set of 8×8 digit images."""
    p = top.add_parser(
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
    add_backend_argument(p)
    p.set_defaults(func=_run_eval)
    return p


def _read_array(path, who):
    """The array of the ``.npy`` file ``path`` that option ``who`` names; a :class:`UsageError` otherwise."""
    import numpy  # file I/O

    if not os.path.isfile(path):
        raise UsageError(f"{who}: no such file {path!r}")
    try:
        x = numpy.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise UsageError(f"{who}: cannot read {path!r} as a .npy array: {e}") from None
    if not isinstance(x, numpy.ndarray):  # an .npz archive
        x.close()
        raise UsageError(f"{who}: {path!r} is an .npz archive of several arrays; give one .npy array (a run's "
                         "samples.npy, or numpy.save of the images)")
    return x


def _read_images(path, who):
    import numpy  # file I/O

    from ..backend import asarray, default_dtype

    x = _read_array(path, who)
    if x.dtype.kind not in "fiu":
        raise UsageError(f"{who}: {path!r} must hold real numbers (float images in [-1, 1]), got dtype {x.dtype}")
    if x.ndim == 2 and x.shape[1] == 64:
        x = x.reshape(-1, 1, 8, 8)
    elif x.ndim == 3 and x.shape[1:] == (8, 8):
        x = x[:, None]
    if x.ndim != 4 or x.shape[1:] != (1, 8, 8) or x.shape[0] < 2:
        raise UsageError(f"{who}: {path!r} must hold at least two 8×8 images of shape (N, 1, 8, 8), (N, 8, 8) or "
                         f"(N, 64), got shape {x.shape}")
    if not numpy.isfinite(x).all() or x.min() < -1.0001 or x.max() > 1.0001:
        raise UsageError(f"{who}: {path!r} must hold finite values in [-1, 1] (load_digits(scale='unit')), "
                         f"got range [{x.min():.3g}, {x.max():.3g}]")
    return asarray(x.astype(default_dtype()))


def _check_eval(args):
    """Every check of ``scratchgen eval`` before any work; returns (samples, reference, labels)."""
    from ..backend import asarray
    from ..validate import BadArgument, check_int, check_labels

    check_option(check_int, args.k, "--k", min=1)
    check_option(check_int, args.seed, "--seed", min=0)
    if args.out is not None:
        check_out_file(args.out, "--out")
    x = _read_images(args.samples, "--samples")
    if args.reference in ("digits-test", "digits-train"):
        from ..data.digits import digits_split

        s = digits_split()
        ref = s.x_test if args.reference == "digits-test" else s.x_train
    else:
        ref = _read_images(args.reference, "--reference")
    n = min(x.shape[0], ref.shape[0])
    if args.k >= n:
        raise UsageError(f"--k must be smaller than the number of images in each set ({n}), got {args.k}; the k-th "
                         "nearest neighbour of a point is another point of its set")
    labels = None
    if args.labels:
        try:
            labels = check_labels(_read_array(args.labels, "--labels"), "--labels", "", 10, n=x.shape[0])
        except BadArgument as e:
            raise UsageError(e.render(who=False) + f" ({args.labels!r})") from None
        labels = asarray(labels)
    return x, ref, labels


def _run_eval(args):
    from ..metrics.features import image_metrics

    x, ref, labels = _check_eval(args)
    m = image_metrics(x, ref, labels=labels, k=args.k, seed=args.seed)
    text = json.dumps(m, indent=2)
    if args.out:
        from ..checkpoint import atomic_write

        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with atomic_write(args.out, "w") as f:
            f.write(text + "\n")
    print(text)
    return m
