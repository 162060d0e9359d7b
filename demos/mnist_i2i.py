r"""The image-to-image models on MNIST files: pix2pix (fill, denoise), CycleGAN and the context encoder.

The digits' tasks (docs/gan-architectures.md, sections 5-8) built from 28×28 MNIST images padded to 32×32
(``--data mnist`` of ``scratchgen train pix2pix|cyclegan|inpaint``). The shipped classifier knows only the
8×8 digits, so this script trains its own judge on the MNIST training files: a softmax-MLP
:math:`p(y \mid x) = \operatorname{softmax}(W_2\,\operatorname{ReLU}(W_1 x + b_1) + b_2)` on the 1,024
pixels (scratchgen's ``nn``/``optim``, cross-entropy, Adam), and reports how often it reads each model's
output as the right digit, next to its accuracy on the inputs and on the clean test digits (the ceiling).

    pip install -e ".[mnist-subset]" && python demos/mnist_subset.py --out data/mnist5k
    OPENBLAS_NUM_THREADS=1 python demos/mnist_i2i.py --mnist-path data/mnist5k \
        --mnist-checksums data/mnist5k/checksums.json --out runs/mnist_i2i --figure docs/img/mnist_i2i.png

Each run is trained with its command's preset and ``--steps`` (default 500), or read back from
``--out/<model>[_<task>]_s<seed>/`` when a finished run is there. CycleGAN uses ``--n-down 1`` here: at
full resolution its step on 32×32 images costs about 1.5 s of CPU.
"""
import argparse
import json
import os

import numpy as np

from scratchgen import nn, optim
from scratchgen.autodiff import functional as AF
from scratchgen.autodiff.tensor import no_grad, tensor
from scratchgen.backend import rng
from scratchgen.checkpoint import load
from scratchgen.data.images import load_image_data, pad_images
from scratchgen.data.pairs import apply_mask, square_mask
from scratchgen.gan.inpaint import composite
from scratchgen.gan.train_i2i import I2IConfig, build_i2i_models, train_i2i
from scratchgen.training import restore

#: the settings of the runs in docs/results.md (2026-12-06, 22:00-22:50), before the pix2pix and CycleGAN
#: presets moved: ``--former-presets`` trains with these on top of today's presets
FORMER = {"pix2pix": dict(lr=2e-4), "cyclegan": dict(width=16, lam_cyc=10.0)}
RUNS = [("pix2pix", "fill", {}), ("pix2pix", "denoise", {}), ("cyclegan", "outline", {"n_down": 1}),
        ("inpaint", None, {"hole": 12})]


def train_judge(x, y, epochs=15, hidden=256, seed=0):
    """The softmax-MLP judge on the flattened training images; returns ``predict(images) -> labels``."""
    g = rng(seed)
    net = nn.Sequential(nn.Flatten(), nn.Linear(x[0].size, hidden, generator=g), nn.ReLU(),
                        nn.Linear(hidden, 10, generator=g))
    opt = optim.Adam(net.parameters(), lr=1e-3)
    for _ in range(epochs):
        perm = g.permutation(x.shape[0])
        for i in range(0, x.shape[0], 64):
            idx = perm[i:i + 64]
            loss = -AF.log_softmax(net(tensor(x[idx])), axis=1)[np.arange(idx.size), y[idx]].mean()
            opt.zero_grad()
            loss.backward()
            opt.step()

    def predict(images, proba=False):
        with no_grad():
            logits = net(tensor(np.clip(images, -1, 1).astype(np.float32))).data
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        return p / p.sum(axis=1, keepdims=True) if proba else np.argmax(logits, axis=1)

    return predict


def outputs(model, cfg, m, data, seed):
    """(input, output, truth) of every held-out image through the trained model, as NumPy arrays."""
    for mod in m.values():
        mod.eval()
    with no_grad():
        if model == "pix2pix":
            return data["a"], m["G"](tensor(data["a"])).data, data["b"]
        if model == "cyclegan":  # F(y): the digit recovered from the outline of a held-out digit
            return data["b"], m["F"](tensor(data["b"])).data, data["x"]
        M = square_mask(data["x"].shape[0], 32, cfg.hole, seed + 20_000).astype(np.float32)
        ctx = apply_mask(data["x"], M)
        return ctx[:, :1], composite(data["x"], m["G"](tensor(ctx)), M).data, data["x"]


def load_or_train(args, model, task, extra):
    d = os.path.join(args.out, f"{model}_{task}_s{args.seed}" if task else f"{model}_s{args.seed}")
    quick = dict(batch=4, width=2, d_width=2, n_eval=10) if args.quick else {}
    cfg = I2IConfig.preset(model, data="mnist", mnist_path=args.mnist_path, mnist_checksums=args.mnist_checksums,
                           steps=args.steps, eval_every=args.steps, seed=args.seed, progress=False,
                           **(dict(task=task) if task else {}), **extra, **quick,
                           **(FORMER.get(model, {}) if args.former_presets else {}))
    ckpt = os.path.join(d, "checkpoint.npz")
    if os.path.exists(os.path.join(d, "metrics.json")):  # a finished run (a checkpoint alone may be mid-run)
        cfg = I2IConfig.from_saved(load(ckpt)["config"])  # the run's own settings (defaults may have moved)
        m = build_i2i_models(cfg, rng(cfg.seed))
        restore(ckpt, **m)
        with open(os.path.join(d, "metrics.json")) as f:
            return cfg, m, json.load(f)["final"].get("train_seconds")
    run = train_i2i(cfg, out_dir=d, figures=False)
    return cfg, run.models, run.final["train_seconds"]


def held_out(task, cfg, images):
    """The held-out inputs and truths of ``task``, built as train_i2i builds them (same seeds)."""
    from scratchgen.data.pairs import paired_data, unpaired_data

    if cfg.model == "pix2pix":
        p = paired_data(task, seed=cfg.seed + 30_000, sigma=cfg.noise, rho=cfg.salt, split=images)
        return {"a": p.a_test, "b": p.b_test}
    if cfg.model == "cyclegan":
        u = unpaired_data(task, seed=cfg.seed + 30_000, split=images)
        return {"x": u.x_test, "b": u.y_test}
    return {"x": images.x_test}


def figure(path, rows):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from scratchgen.viz import save_figure

    fig, axes = plt.subplots(2, 2, figsize=(10, 3.6), constrained_layout=True)
    for ax, r in zip(axes.ravel(), rows):
        grid = np.full((3 * 33 - 1, 10 * 33 - 1), np.nan)
        for j, part in enumerate(r["panels"]):
            for c in range(part.shape[0]):
                grid[j * 33:j * 33 + 32, c * 33:c * 33 + 32] = np.clip(part[c, 0], -1, 1)
        ax.imshow(grid, cmap="gray_r", vmin=-1, vmax=1, interpolation="nearest")
        ax.set_yticks([33 * j + 16 for j in range(3)])
        ax.set_yticklabels(r["labels"], fontsize=8)
        ax.set_xticks([])
        ax.set_title(f"{r['name']}, step {r['steps']}: judge reads {100 * r['class_accuracy']:.1f}% right\n"
                     f"(inputs {100 * r['input_accuracy']:.1f}%, clean test digits {100 * r['clean_accuracy']:.1f}%)",
                     fontsize=9)
    save_figure(fig, path, dpi=150)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mnist-path", required=True)
    ap.add_argument("--mnist-checksums", default="standard")
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--figure", default=None, help="also write the figure here")
    ap.add_argument("--quick", action="store_true", help="tiny networks (CI; use with --steps 2)")
    ap.add_argument("--former-presets", action="store_true",
                    help="train with the settings of the measured runs in docs/results.md (pix2pix lr 2e-4; CycleGAN "
                         "width 16, lambda_cyc 10), not today's presets")
    ap.add_argument("--samples", nargs="*", default=[], metavar="NPY",
                    help="also judge unconditional samples (e.g. a ProGAN run's samples.npy, (N, 1, 32, 32)): the share "
                         "read as one digit with p >= 0.9 ('recognisable') and the digits present")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    images = pad_images(load_image_data(argparse.Namespace(data="mnist", mnist_path=args.mnist_path,
                                                           mnist_checksums=args.mnist_checksums)), 32)
    x_tr, y_tr = np.asarray(images.x_train, np.float32), np.asarray(images.y_train)
    y_te = np.asarray(images.y_test)
    judge = train_judge(x_tr, y_tr, epochs=2 if args.quick else 15, seed=args.seed)
    clean = float((judge(np.asarray(images.x_test)) == y_te).mean())
    rows, summary = [], {"judge_clean_accuracy": clean,
                         "judge_clean_recognisable": float((judge(np.asarray(images.x_test), proba=True).max(1) >= 0.9).mean())}
    for path in args.samples:  # unconditional samples: no label to compare with, so "recognisable" as for the digits
        p = judge(np.load(path), proba=True)
        summary[path] = {"recognisable": float((p.max(1) >= 0.9).mean()),
                         "classes_covered": int((np.bincount(p.argmax(1), minlength=10) >= 0.02 * len(p)).sum())}
    for model, task, extra in RUNS:
        cfg, m, seconds = load_or_train(args, model, task, extra)
        inp, out, truth = outputs(model, cfg, m, held_out(task, cfg, images), args.seed)
        name = f"{model}{' ' + task if task else ''}"
        res = {"class_accuracy": float((judge(out) == y_te).mean()), "input_accuracy": float((judge(inp) == y_te).mean()),
               "clean_accuracy": clean, "l1": float(np.abs(out - truth).mean()), "train_seconds": seconds}
        summary[name] = res
        labels = {"pix2pix": ["input", "output", "target"], "cyclegan": ["y (outline)", "F(y)", "x"],
                  "inpaint": ["with hole", "inpainted", "original"]}[model]
        show = [int(np.flatnonzero(y_te == d)[0]) for d in range(10) if (y_te == d).any()][:10]  # one per digit
        rows.append({"name": name, "steps": cfg.steps, "labels": labels,
                     "panels": (inp[show], out[show], truth[show]), **res})
    for path in [os.path.join(args.out, "mnist_i2i.png")] + ([args.figure] if args.figure else []):
        figure(path, rows)
    print(json.dumps(summary, indent=1))
    return summary


if __name__ == "__main__":
    main()
