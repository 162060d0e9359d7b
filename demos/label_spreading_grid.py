"""Baseline (b) tuned on the held-out images: LabelSpreading over a grid of settings, per seed.

    python demos/label_spreading_grid.py --seeds 0 1 2 3 4 --out runs/ls_grid_digits.json
    python demos/label_spreading_grid.py --data mnist --mnist-path data/mnist5k \\
        --mnist-checksums data/mnist5k/checksums.json --out runs/ls_grid_mnist5k.json

The semi-supervised comparison of ``demos/digits_ssgan.py`` uses one fixed setting of (b),
``LABEL_SPREADING`` (kNN graph, k = 7, α = 0.2), on every data set. This script asks how much a
tuned (b) could gain. It fits every setting of a grid with the labelled images of the SS-GAN's
seeds (the same 10 a digit) and scores each setting on the held-out images themselves. That
favours (b): a real tuning would need labelled validation images, which a setting with 10 labels
a digit does not have. The grid:

* kNN graphs: k ∈ {5, 7, 10, 15, 20} × α ∈ {0.2, 0.5, 0.8, 0.95, 0.99};
* RBF kernels exp(−γ‖x − x′‖²), with γ = c / m, where m is the median squared distance between
  two training images (the median heuristic, so that one grid fits 64 and 784 pixels alike):
  c ∈ {4, 8, 16, 24, 32, 48, 64, 96} × the same α.

Prints one line per setting (the mean and each seed), then the best kNN and the best RBF setting,
and writes every row to ``--out`` as JSON. LabelSpreading runs up to ``--max-iter`` 1,000
iterations here (the demo's (b): 100), so that settings with α near 1 converge; for the fixed
setting both give the same accuracies on the digits and on the 5,000 MNIST images. Needs
scikit-learn (``pip install -e ".[compare]"``).
"""
import argparse
import itertools
import json
import os
import sys
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from digits_ssgan import LABEL_SPREADING, label_spreading_accuracy  # noqa: E402

from scratchgen.backend import to_numpy  # noqa: E402
from scratchgen.checkpoint import atomic_write  # noqa: E402
from scratchgen.cli.common import add_config_arguments, cli_fields, config_kwargs  # noqa: E402
from scratchgen.cli.images import DATA_OPTIONS  # noqa: E402
from scratchgen.data.images import load_image_data  # noqa: E402
from scratchgen.gan.ssgan import labelled_indices  # noqa: E402
from scratchgen.gan.train_images import ImageGANConfig  # noqa: E402

KNN_K = (5, 7, 10, 15, 20)
RBF_C = (4, 8, 16, 24, 32, 48, 64, 96)
ALPHA = (0.2, 0.5, 0.8, 0.95, 0.99)


def median_sq_distance(x, n_pairs=20_000, seed=0):
    """Median of ‖x_i − x_j‖² over random pairs i ≠ j of the rows of x (N, d)."""
    g = np.random.default_rng(seed)
    i, j = g.integers(0, len(x), n_pairs), g.integers(0, len(x), n_pairs)
    keep = i != j
    return float(np.median(((x[i[keep]] - x[j[keep]]) ** 2).sum(axis=1)))


def grid(m, knn_k=KNN_K, rbf_c=RBF_C, alpha=ALPHA):
    """The settings, as LabelSpreading keywords with a label: kNN first, then RBF with γ = c / m."""
    for k, a in itertools.product(knn_k, alpha):
        yield f"knn k={k} alpha={a}", dict(kernel="knn", n_neighbors=k, alpha=a)
    for c, a in itertools.product(rbf_c, alpha):
        yield f"rbf gamma={c}/m={c / m:.4g} alpha={a}", dict(kernel="rbf", gamma=c / m, alpha=a)


def main(argv=None, knn_k=KNN_K, rbf_c=RBF_C, alpha=ALPHA):
    """Run the grid (``knn_k``, ``rbf_c``, ``alpha``: its axes) with the command-line options ``argv``."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    fields = cli_fields(ImageGANConfig, DATA_OPTIONS + ("labels_per_class",))  # as `scratchgen train ssgan` has them
    add_config_arguments(p, ImageGANConfig, fields, title="data and labels (those of `scratchgen train ssgan`)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--max-iter", type=int, default=1000, help="LabelSpreading's iterations at most")
    p.add_argument("--out", default=None, help="write every row to this JSON file")
    args = p.parse_args(argv)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    cfg = ImageGANConfig(model="ssgan", **config_kwargs(args, fields))
    cfg.validate()
    from scratchgen.gan.train_images import (  # the SS-GAN's own stream: the same labelled images
        _labelled_seed,
    )

    data = load_image_data(cfg)
    labelled = [labelled_indices(data.y_train, cfg.labels_per_class, _labelled_seed(s)) for s in args.seeds]
    m = median_sq_distance(to_numpy(data.x_train).reshape(len(data.x_train), -1))
    rows = []
    for name, params in grid(m, knn_k, rbf_c, alpha):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning, 0/0 in unreached parts of the graph
            accs = [label_spreading_accuracy(data, lab, max_iter=args.max_iter, **params) for lab in labelled]
        if accs[0][0] is None:
            raise SystemExit("label_spreading_grid: scikit-learn is not installed (pip install -e '.[compare]')")
        acc = [a for a, _ in accs]
        rows.append({"setting": name, "params": params, "mean": float(np.mean(acc)), "per_seed": acc,
                     "unreached": [u for _, u in accs], "default": params == LABEL_SPREADING})  # demo's (b)
        print(f"{name:34s} {100 * np.mean(acc):5.1f} %  " + " ".join(f"{100 * a:5.1f}" for a in acc), flush=True)
    best = {kind: max((r for r in rows if r["params"]["kernel"] == kind), key=lambda r: r["mean"]) for kind in ("knn", "rbf")}
    for kind, r in best.items():
        print(f"best {kind}: {r['setting']}, {100 * r['mean']:.1f} % (seeds {args.seeds})")
    if args.out:
        with atomic_write(args.out, "w") as f:
            json.dump({**{k: getattr(cfg, k) for k in DATA_OPTIONS}, "seeds": args.seeds, "max_iter": args.max_iter, "median_sq_distance": m,
                       "rows": rows, "best": best}, f, indent=2)
    return rows, best


if __name__ == "__main__":
    main()
