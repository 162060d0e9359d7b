"""Train the digits classifier behind scratchgen's image metrics and write it as package data.

    OPENBLAS_NUM_THREADS=1 python demos/train_feature_classifier.py            # writes scratchgen/metrics/digits_classifier.npz
    python demos/train_feature_classifier.py --quick --out /tmp/clf.npz        # CI: 2 epochs

The classifier trains on the 70 % train split of the 8×8 digits (``digits_split``) and its
accuracy is measured on the 30 % held-out split, which it never sees. Same seed, same backend:
the same weights.
"""
import argparse
import os
import time

import scratchgen as sg
from scratchgen.metrics.features import CLASSIFIER_PATH, train_feature_classifier


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=80)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=CLASSIFIER_PATH)
    p.add_argument("--quick", action="store_true", help="2 epochs (a smoke test)")
    args = p.parse_args(argv)
    epochs = 2 if args.quick else args.epochs
    t0 = time.time()
    model, acc = train_feature_classifier(epochs=epochs, seed=args.seed, progress=True)
    meta = {"test_accuracy": acc, "epochs": epochs, "seed": args.seed, "split": "digits_split(0.3, seed=0)"}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)  # --out runs/x/clf.npz: make runs/x
    sg.save({"model": model.state_dict(), "meta": meta}, args.out)
    print(f"held-out accuracy {acc:.4f} after {epochs} epochs ({time.time() - t0:.0f} s); wrote {args.out}")
    return acc


if __name__ == "__main__":
    main()
