"""Classifier-free guidance on the 8×8 digits: digit grids for several w, and the trade-off curve over w.

    python demos/guidance.py                 # 3 seeds: trains the conditional DDPMs it does not find (minutes each)
    python demos/guidance.py --quick         # seconds: the CI version

For each seed, a class-conditional DDPM (``DDPMConfig.preset("digits")`` with ``conditional=True``:
label dropout p_uncond = 0.1, Ho & Salimans 2022 Algorithm 1; ``--train-steps`` Adam steps, 8,000 by
default, twice the unconditional preset) is trained into ``RUNS/seed{s}``, or
read back from its ``checkpoint.npz`` when there. Then for each guidance weight w, 10 × ``--n-per-class``
images (classes 0..9 in turn) are drawn by the ancestral sampler on a respaced schedule of ``--steps``
steps (σ² = β̃; the prediction of x_0 clipped to the data range [−1, 1] at each step, as Ho et al.'s
image sampler does, unless ``--no-clip``) with :math:`\\tilde\\varepsilon = (1+w)\\varepsilon(x, c) - w\\varepsilon(x)`; w = −1 is the
unconditional model (the label dropped). Scored against the 539 held-out digits with the shipped
digits classifier (``scratchgen.metrics.features``):

* ``class_accuracy``: the fraction the classifier assigns to the class asked for;
* ``fid``, ``precision``, ``recall`` on its features (recall: the share of held-out digits within the
  samples' k-NN manifold, Kynkäänniemi et al. 2019, the diversity the issue asks about);
* ``class_spread``: the within-class spread of the samples' features, the root mean squared distance to
  the class centroid, relative to the same for the held-out digits of that class (1 = as diverse as the
  data), averaged over the 10 classes.

Writes ``OUT/results.json``, ``OUT/tradeoff.png`` (accuracy, FID, recall and spread against w, one
line per seed) and ``OUT/grids.png`` (seed 0: one panel per w, a row per class).
"""
import argparse
import json
import os
import time

import numpy as np

from scratchgen.backend import to_numpy
from scratchgen.data.digits import digits_split
from scratchgen.diffusion.guidance import Guided, class_accuracy, cycle_labels
from scratchgen.diffusion.samplers import ancestral_sample, respace
from scratchgen.diffusion.train import DDPMConfig, load_run, train_ddpm
from scratchgen.metrics.features import digit_features, image_metrics

QUICK = dict(steps=20, T=50, hidden=8, time_dim=8, n_eval=20, eval_every=20, batch=16)
WS = (-1.0, 0.0, 1.0, 2.0, 4.0, 6.0)


def class_spread(images, labels, reference, ref_labels):
    """Mean over classes of rms distance to the class centroid of the samples' features / the same for the data."""
    f, fr = to_numpy(digit_features(images)), to_numpy(digit_features(reference))
    ratios = []
    for c in range(10):
        a, b = f[labels == c], fr[ref_labels == c]
        if a.shape[0] < 2:
            continue
        spread = lambda z: float(np.sqrt(((z - z.mean(axis=0)) ** 2).sum(axis=1).mean()))  # noqa: E731
        ratios.append(spread(a) / spread(b))
    return float(np.mean(ratios))


def get_model(seed, runs, quick, steps=None):
    path = os.path.join(runs, f"seed{seed}", "checkpoint.npz")
    if not os.path.exists(path):
        more = dict(QUICK) if quick else dict(n_eval=200, eval_every=steps or 4000)
        if steps and not quick:
            more["steps"] = steps
        cfg = DDPMConfig.for_data("digits", conditional=True, seed=seed, progress=not quick, **more)
        train_ddpm(cfg, out_dir=os.path.dirname(path), figures=False)
    cfg, model, schedule, data = load_run(path)
    meta = json.load(open(os.path.join(runs, f"seed{seed}", "metrics.json")))
    return cfg, model, schedule, data, meta


def sweep(seed, args, split):
    cfg, model, schedule, data, meta = get_model(seed, args.runs, args.quick, args.train_steps)
    n = 10 * args.n_per_class
    labels = to_numpy(cycle_labels(n))
    steps = min(args.steps, cfg.T)
    rows, grids = [], {}
    for w in args.ws:
        clip = "_clip" if args.clip else ""
        cache = os.path.join(args.out, f"sweep_seed{seed}_w{w:g}_n{n}_s{steps}{clip}.npz")  # finished points: read back
        if os.path.exists(cache):
            z = np.load(cache)
            row, grids[w] = json.loads(str(z["row"])), z["x"]
            rows.append(row)
            continue
        eps_model = Guided(model, None if w == -1 else labels, max(w, 0.0))
        t0 = time.perf_counter()
        sched_s, taus = respace(schedule, steps)  # Nichol & Dhariwal's respacing, as generate() does
        x = data.from_model(ancestral_sample(sched_s, lambda xt, i: eps_model(xt, taus[i]), (n,) + tuple(data.shape),
                                             seed=1000 + seed, sigma2="beta_tilde",
                                             clip_x0=(-1.0, 1.0) if args.clip else None))
        seconds = time.perf_counter() - t0
        m = image_metrics(x, split.x_test, kid_subset=min(500, n), kid_subsets=100 if n >= 100 else 10)
        acc = class_accuracy(x, labels) if w != -1 else None  # the unconditional model was asked for no class
        row = dict(seed=seed, w=w, class_accuracy=acc, fid=m["fid"], precision=m["precision"], recall=m["recall"],
                   class_spread=class_spread(to_numpy(x), labels, to_numpy(split.x_test), to_numpy(split.y_test))
                   if w != -1 else None, sample_seconds=seconds, n=n, steps=steps)
        rows.append(row)
        grids[w] = to_numpy(x)
        np.savez(cache, row=json.dumps(row), x=grids[w])
        shown = ", ".join(f"{k} {v:.3g}" for k, v in row.items() if isinstance(v, float) and k != "w")
        print(f"seed {seed}, w = {w:g}: {shown}", flush=True)
    train = {k: meta["final"].get(k) for k in ("train_seconds", "train_cpu_seconds")} if "final" in meta else {}
    return rows, grids, train


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds")
    ap.add_argument("--ws", type=float, nargs="+", default=list(WS), help="guidance weights (-1: unconditional)")
    ap.add_argument("--n-per-class", type=int, default=50, help="samples per class and w")
    ap.add_argument("--steps", type=int, default=100, help="steps of the respaced ancestral sampler")
    ap.add_argument("--runs", default="runs/guidance", help="where the conditional DDPMs are (or are trained)")
    ap.add_argument("--train-steps", type=int, default=8000, help="training steps of the models trained here")
    ap.add_argument("--no-clip", dest="clip", action="store_false",
                    help="do not clip the sampler's x0 prediction to [-1, 1] (Ho's image sampler clips it)")
    ap.add_argument("--out", default="runs/guidance", help="output directory")
    ap.add_argument("--quick", action="store_true", help="tiny settings for CI (seconds)")
    args = ap.parse_args(argv)
    if args.quick:
        args.seeds, args.n_per_class, args.steps = args.seeds[:1], 2, 10
        args.ws = [w for w in args.ws if w in (-1.0, 0.0, 2.0)]
    os.makedirs(args.out, exist_ok=True)
    split = digits_split()
    rows, grids, train = [], None, {}
    for seed in args.seeds:
        r, g, tr = sweep(seed, args, split)
        rows += r
        train[seed] = tr
        grids = grids or g
    results = {"rows": rows, "train": train, "ws": args.ws, "n_per_class": args.n_per_class, "steps": args.steps}
    with open(os.path.join(args.out, "results.json"), "w") as fh:
        json.dump(results, fh, indent=2)
    summary(rows, args.ws)
    figures(rows, grids, args)
    return results


def summary(rows, ws):
    """The table of docs/results.md: mean (min–max) over seeds for each w."""
    keys = ("class_accuracy", "fid", "precision", "recall", "class_spread", "sample_seconds")
    print("| w | " + " | ".join(keys) + " |")
    for w in ws:
        cells = []
        for k in keys:
            v = [r[k] for r in rows if r["w"] == w and r[k] is not None]
            cells.append(f"{np.mean(v):.3g} ({min(v):.3g}–{max(v):.3g})" if v else "–")
        print(f"| {'uncond.' if w == -1 else f'{w:g}'} | " + " | ".join(cells) + " |")


def figures(rows, grids, args):
    try:
        from scratchgen.viz import image_grid, save_figure
    except ImportError:
        return
    import matplotlib.pyplot as plt

    ws = [w for w in args.ws if w != -1]
    fig, axes = plt.subplots(1, 5, figsize=(17, 3.4))
    get = lambda seed, k: [next(r[k] for r in rows if r["seed"] == seed and r["w"] == w) for w in ws]  # noqa: E731
    for seed in args.seeds:  # 1-4: accuracy, FID, recall, spread against w; 5: the trade-off, recall against accuracy
        for ax, k in zip(axes, ("class_accuracy", "fid", "recall", "class_spread")):
            ax.plot(ws, get(seed, k), "o-", ms=3, label=f"seed {seed}")
        acc, rec = get(seed, "class_accuracy"), get(seed, "recall")
        axes[4].plot(acc, rec, "o-", ms=3)
        if seed == args.seeds[0]:
            for a, v, w in zip(acc, rec, ws):
                axes[4].annotate(f"w={w:g}", (a, v), fontsize=7, xytext=(-28, 2), textcoords="offset points")
    axes[0].axhline(0.99, color="r", ls=":", lw=1, label="target 99 %")
    for ax, k in ((axes[1], "fid"), (axes[2], "recall"), (axes[4], "recall")):
        unc = [r[k] for r in rows if r["w"] == -1]
        if unc:
            ax.axhline(np.mean(unc), color="gray", ls="--", lw=1, label="unconditional (w = -1)")
    axes[3].axhline(1.0, color="gray", ls="--", lw=1, label="as diverse as the data")
    labels = (("guidance weight w", "class accuracy"), ("guidance weight w", "FID (classifier features), lower is better"),
              ("guidance weight w", "recall (diversity)"), ("guidance weight w", "within-class spread / data's"),
              ("class accuracy", "the trade-off: recall against accuracy"))
    for ax, (xl, yl) in zip(axes, labels):
        ax.set_xlabel(xl)
        ax.set_title(yl, fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    for ax in axes[1:]:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.suptitle(f"Classifier-free guidance on the digits: {10 * args.n_per_class} samples per point, "
                 f"{args.steps}-step respaced ancestral sampler" + (", x0 clipped to [-1, 1]" if args.clip else ", no clipping"),
                 fontsize=10)
    fig.tight_layout()
    save_figure(fig, os.path.join(args.out, "tradeoff.png"), dpi=150)

    shown = list(grids)
    fig, axes = plt.subplots(1, len(shown), figsize=(2.1 * len(shown), 3.0))
    axes = np.atleast_1d(axes)
    per = min(6, args.n_per_class)
    for ax, w in zip(axes, shown):
        x = grids[w]
        idx = [c + 10 * j for c in range(10) for j in range(per)]  # row c: the first `per` samples of class c
        ax.imshow(image_grid(x[idx], per), cmap="gray_r", vmin=-1, vmax=1, interpolation="nearest")
        ax.set_title("unconditional" if w == -1 else f"w = {w:g}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0].set_ylabel("class 0 (top) … 9 (bottom)", fontsize=8)
    fig.tight_layout()
    save_figure(fig, os.path.join(args.out, "grids.png"), dpi=150)


if __name__ == "__main__":
    main()
