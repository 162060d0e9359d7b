r"""The image-to-image models on the digits, side by side: pix2pix (fill, denoise), CycleGAN, the context encoder.

Trains each model with its preset (``I2IConfig.preset(model)``, what ``scratchgen train pix2pix|cyclegan|inpaint``
runs) into ``--out/<model>[_<task>]_s<seed>``, or reads a finished run found there, and draws one figure of
held-out digits through the four models, each panel titled with the shipped classifier's accuracy on the
input, on the output and on the clean digits.

    OPENBLAS_NUM_THREADS=1 python demos/image_to_image.py --out runs/i2i --seed 1 --figure docs/img/image_to_image.png
    python demos/image_to_image.py --out /tmp/i2i --quick          # seconds (CI)
"""
import argparse
import json
import os

import numpy as np

from scratchgen.gan.train_i2i import I2IConfig, train_i2i

MODELS = [("pix2pix", "fill"), ("pix2pix", "denoise"), ("cyclegan", "outline"), ("inpaint", None)]
#: options beyond the preset, as measured in docs/results.md (denoise: `--lr 1e-3 --steps 3000`)
TRAINING = {("pix2pix", "denoise"): dict(lr=1e-3, steps=3000)}
ROWS = {"pix2pix": ["input", "output", "target"], "cyclegan": ["x", "G(x)", "true y", "F(y)"],
        "inpaint": ["with hole", "inpainted", "original"]}


def run_dir(out, model, task, seed):
    return os.path.join(out, f"{model}_{task}_s{seed}" if task else f"{model}_s{seed}")


def load_or_train(out, model, task, seed, quick):
    d = run_dir(out, model, task, seed)
    if os.path.exists(os.path.join(d, "metrics.json")) and os.path.exists(os.path.join(d, "panels.npy")):
        with open(os.path.join(d, "metrics.json")) as f:
            return json.load(f)["final"], np.load(os.path.join(d, "panels.npy"))
    extra = dict(steps=2, batch=4, width=2, d_width=2, eval_every=2, n_eval=20) if quick else TRAINING.get((model, task), {})
    cfg = I2IConfig.preset(model, seed=seed, progress=False, **(dict(task=task) if task else {}), **extra)
    run = train_i2i(cfg, out_dir=d, figures=False)
    return run.final, run.panels


def panel_grid(panels, model):
    """Rows of 10 digits (input / output / truth, ...) tiled with a one-pixel gap: an (rows·9 - 1, 89) image."""
    k = len(ROWS[model])
    per = panels.shape[0] // k
    rows = [panels[j * per:j * per + 10, 0] for j in range(k)]  # the first 10 of each part
    grid = np.full((k * 9 - 1, 10 * 9 - 1), np.nan)
    for r, row in enumerate(rows):
        for c, img in enumerate(row):
            grid[r * 9:r * 9 + 8, c * 9:c * 9 + 8] = np.clip(img, -1, 1)
    return grid


def figure(path, results):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from scratchgen.viz import save_figure

    fig, axes = plt.subplots(2, 2, figsize=(9, 4.8), constrained_layout=True)
    for ax, ((model, task), (final, panels)) in zip(axes.ravel(), results):
        ax.imshow(panel_grid(panels, model), cmap="gray_r", vmin=-1, vmax=1, interpolation="nearest")
        ax.set_yticks([9 * j + 3.5 for j in range(len(ROWS[model]))])
        ax.set_yticklabels(ROWS[model], fontsize=8)
        ax.set_xticks([])
        inp = final.get("input_accuracy")
        acc = (f"class accuracy {100 * final['class_accuracy']:.1f}%"
               + (f" (input {100 * inp:.1f}%)" if inp is not None else "")
               + f"\nclean digits {100 * final['clean_accuracy']:.1f}%")
        what = {"cyclegan": "of F(y)", "inpaint": "inpainted", "pix2pix": "of outputs"}[model]
        ax.set_title(f"{model}{' ' + task if task else ''}, step {final['step']}\n{acc.replace('class accuracy', 'accuracy ' + what)}",
                     fontsize=9)
    save_figure(fig, path, dpi=150)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="2 steps of tiny networks (CI)")
    ap.add_argument("--figure", default=None, help="also write the figure here")
    args = ap.parse_args()
    results = [((m, t), load_or_train(args.out, m, t, args.seed, args.quick)) for m, t in MODELS]
    for path in [os.path.join(args.out, "image_to_image.png")] + ([args.figure] if args.figure else []):
        figure(path, results)
    summary = {f"{m}{'_' + t if t else ''}": {k: v for k, v in final.items() if k in (
        "class_accuracy", "input_accuracy", "clean_accuracy", "fid", "precision", "recall", "l1", "l1_G", "l1_F",
        "mse_hole")} for (m, t), (final, _) in results}
    print(json.dumps(summary, indent=1))
    return summary


if __name__ == "__main__":
    main()
