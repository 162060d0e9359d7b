"""DCGAN on the 8×8 handwritten digits: an image grid and FID/KID/IS/precision/recall against held-out digits.

    OPENBLAS_NUM_THREADS=1 python demos/digits_dcgan.py --out runs/digits_dcgan
    python demos/digits_dcgan.py --quick --out /tmp/dcgan          # CI: a few steps

Same as ``scratchgen train dcgan --data digits``, plus the reference row "real train vs
held-out": the metrics of 1,258 real training digits, the best a generator can hope for.
The metrics use scratchgen's digits classifier, not Inception: they are not comparable to
published FID/KID/IS values.
"""
import argparse
import json
import os

from scratchgen.data.digits import digits_split
from scratchgen.gan.train_images import ImageGANConfig, train_image_gan
from scratchgen.metrics.features import image_metrics


def main(argv=None, model="dcgan"):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=f"runs/digits_{model}")
    p.add_argument("--quick", action="store_true", help="20 steps (a smoke test)")
    args = p.parse_args(argv)
    steps = 20 if args.quick else args.steps
    cfg = ImageGANConfig(model=model, steps=steps, width=args.width, seed=args.seed,
                         eval_every=steps if args.quick else max(steps // 4, 1), n_eval=100 if args.quick else 1000,
                         kid_subsets=10 if args.quick else 100)
    run = train_image_gan(cfg, out_dir=args.out)
    s = digits_split()
    ref = image_metrics(s.x_train, s.x_test, labels=s.y_train, kid_subsets=cfg.kid_subsets, seed=args.seed)
    with open(os.path.join(args.out, "reference_metrics.json"), "w") as f:
        json.dump({"real_train_vs_heldout": ref}, f, indent=2)
    keys = ["fid", "kid", "is", "precision", "recall"] + (["class_accuracy"] if model == "cgan" else [])
    print(f"{'':24s}" + "".join(f"{k:>15s}" for k in keys))
    print(f"{model + ' samples':24s}" + "".join(f"{run.final[k]:15.4g}" for k in keys))
    print(f"{'real train digits':24s}" + "".join(f"{ref[k]:15.4g}" for k in keys))
    print(f"wrote {args.out}/samples.png, metrics.json, checkpoint.npz")
    return run, ref


if __name__ == "__main__":
    main()
