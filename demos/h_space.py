"""h-space on the 8×8 digits (Kwon et al. 2023): the conv denoiser's bottleneck as a semantic latent.

    python demos/h_space.py                         # uses runs/guidance/seed0 (demos/guidance.py trains it)
    python demos/h_space.py --checkpoint PATH.npz   # any digits DDPM checkpoint (conditional or not)
    python demos/h_space.py --quick                 # seconds: trains a tiny model (CI)

A demo, measured. With a conditional checkpoint the *unconditional* branch (null label) is used, so
no class information enters except through h. Steps:

1. ``--n`` starting noises x_T, deterministic DDIM (η = 0, ``--steps`` steps), recording the bottleneck
   h_t (B, 32, 4, 4 for the 16-channel model) at every step; the shipped classifier labels the results.
2. **Edit.** For each digit c, :math:`\\Delta h_t^{(c)}` = mean of h_t over the samples labelled c minus the
   mean over all (one direction per step, shared by every sample). Added with weight γ at the steps with
   t ≥ ``--t-edit`` to the samples *not* labelled c, by Kwon et al.'s asymmetric step, from the same x_T.
   Measured: the fraction then classified as c ("conversion"), and the mean absolute pixel change.
   Controls: the symmetric step (both DDIM terms shifted) and a random direction with the same norm
   at every step (``random_direction_like``).
3. **Interpolation** between two samples a, b of different classes: the x_T slerp (the usual latent
   interpolation of DDIM) against a shift of h by :math:`\\lambda (h^b_t - h^a_t)` on the run from x_T^a.

Writes ``OUT/results.json`` and ``OUT/h_space.png``.
"""
import argparse
import json
import os

import numpy as np

from scratchgen.backend import to_numpy
from scratchgen.diffusion.guidance import class_accuracy
from scratchgen.diffusion.hspace import ddim_h_space, random_direction_like
from scratchgen.diffusion.train import DDPMConfig, load_run, train_ddpm
from scratchgen.metrics.features import digit_log_probs

QUICK = dict(steps=20, T=50, hidden=8, time_dim=8, n_eval=20, eval_every=20, batch=16)


def _labels(x):
    return np.argmax(to_numpy(digit_log_probs(x)), axis=1)


def slerp(a, b, lam):
    """Spherical interpolation of two noises (Shoemake 1985; what DDIM papers use for x_T)."""
    cos = float((a * b).sum() / np.linalg.norm(a) / np.linalg.norm(b))
    th = np.arccos(np.clip(cos, -1, 1))
    return ((np.sin((1 - lam) * th) * a + np.sin(lam * th) * b) / np.sin(th)).astype(a.dtype)


def edit_study(model, sched, xT, hs, labels, args):
    """Conversion rates for each target class, three variants and the gammas."""
    mean_all = hs.mean(axis=1)  # (S, 2C, 4, 4)
    out, examples = [], {}
    for c in range(10):
        if (labels == c).sum() < 3:
            continue
        delta = hs[:, labels == c].mean(axis=1) - mean_all  # (S, 2C, 4, 4): one direction per step
        src = np.nonzero(labels != c)[0][: args.per_class]
        base = ddim_h_space(model, sched, xT[src], args.steps)
        variants = [("asymmetric", g, delta, True) for g in args.gammas] + [
            ("symmetric", 1.0, delta, False), ("random direction", 1.0, random_direction_like(delta, c), True)]
        for name, gamma, d, asym in variants:
            x = ddim_h_space(model, sched, xT[src], args.steps, delta_h=lambda i, t, d=d: gamma * d[i][None],
                             t_edit=args.t_edit, asymmetric=asym)
            conv = class_accuracy(x, np.full(len(src), c))
            change = float(np.abs(to_numpy(x) - to_numpy(base)).mean())
            out.append(dict(target=c, variant=name, gamma=gamma, conversion=conv, mean_abs_pixel_change=change,
                            n=int(len(src)), already_c_before=float((_labels(base) == c).mean())))
        ex = np.arange(3)  # the same three samples edited towards every class, for the figure
        examples[c] = to_numpy(ddim_h_space(model, sched, xT[ex], args.steps, delta_h=lambda i, t: delta[i][None],
                                            t_edit=args.t_edit))
    examples["orig"] = to_numpy(ddim_h_space(model, sched, xT[:3], args.steps))
    return out, examples


def interpolation(model, sched, xT, hs, labels, args):
    a = 0
    b = int(np.nonzero(labels != labels[a])[0][0])
    lams = np.linspace(0, 1, 7)
    rows_slerp = [ddim_h_space(model, sched, slerp(xT[a], xT[b], lam)[None], args.steps) for lam in lams]
    dh = hs[:, b] - hs[:, a]  # (S, 2C, 4, 4)
    rows_h = [ddim_h_space(model, sched, xT[a:a + 1], args.steps, delta_h=lambda i, t, lam=lam: lam * dh[i][None],
                           t_edit=args.t_edit) for lam in lams]
    cat = lambda r: np.concatenate([to_numpy(v) for v in r])  # noqa: E731
    return lams, cat(rows_slerp), cat(rows_h), (int(labels[a]), int(labels[b]))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default="runs/guidance/seed0/checkpoint.npz", help="a digits DDPM checkpoint")
    ap.add_argument("--n", type=int, default=500, help="starting noises")
    ap.add_argument("--steps", type=int, default=50, help="DDIM steps")
    ap.add_argument("--t-edit", type=int, default=0, help="edit at the steps with t >= this")
    ap.add_argument("--gammas", type=float, nargs="+", default=[1.0, 2.0], help="edit weights")
    ap.add_argument("--per-class", type=int, default=60, help="samples edited towards each class")
    ap.add_argument("--seed", type=int, default=0, help="seed of x_T")
    ap.add_argument("--out", default="runs/h_space", help="output directory")
    ap.add_argument("--quick", action="store_true", help="tiny settings for CI (seconds)")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    if args.quick:
        args.n, args.steps, args.per_class, args.gammas = 40, 5, 3, [1.0]
        cfg = DDPMConfig.for_data("digits", conditional=True, progress=False, **QUICK)
        train_ddpm(cfg, out_dir=os.path.join(args.out, "model"), figures=False)
        args.checkpoint = os.path.join(args.out, "model", "checkpoint.npz")
    _, model, sched, _ = load_run(args.checkpoint)
    xT = np.random.default_rng(args.seed).standard_normal((args.n, 1, 8, 8)).astype(np.float32)
    x0, hs, taus = ddim_h_space(model, sched, xT, args.steps, record=True)
    hs = to_numpy(hs)
    labels = _labels(x0)
    counts = np.bincount(labels, minlength=10)
    print(f"{args.n} DDIM samples, classified: {counts.tolist()}; h has {int(np.prod(hs.shape[2:]))} numbers")
    rows, examples = edit_study(model, sched, xT, hs, labels, args)
    summary = {}
    for name in sorted({(r["variant"], r["gamma"]) for r in rows}):
        sel = [r for r in rows if (r["variant"], r["gamma"]) == name]
        summary[f"{name[0]}, gamma {name[1]:g}"] = {
            "mean_conversion": float(np.mean([r["conversion"] for r in sel])),
            "mean_abs_pixel_change": float(np.mean([r["mean_abs_pixel_change"] for r in sel])),
            "targets": len(sel)}
        print(f"{name[0]}, gamma {name[1]:g}: conversion {summary[f'{name[0]}, gamma {name[1]:g}']['mean_conversion']:.3f} "
              f"(mean over {len(sel)} target classes), mean |pixel change| "
              f"{summary[f'{name[0]}, gamma {name[1]:g}']['mean_abs_pixel_change']:.3f}", flush=True)
    lams, row_slerp, row_h, pair = interpolation(model, sched, xT, hs, labels, args)
    res = {"counts": counts.tolist(), "edits": rows, "summary": summary, "interpolation_classes": pair,
           "interpolation_labels_slerp": _labels(row_slerp).tolist(), "interpolation_labels_h": _labels(row_h).tolist(),
           "settings": {k: v for k, v in vars(args).items()}}
    with open(os.path.join(args.out, "results.json"), "w") as fh:
        json.dump(res, fh, indent=2)
    figure(examples, lams, row_slerp, row_h, res, os.path.join(args.out, "h_space.png"))
    return res


def figure(examples, lams, row_slerp, row_h, res, path):
    try:
        from scratchgen.viz import image_grid, save_figure
    except ImportError:
        return
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(12, 3.6))
    gs = fig.add_gridspec(2, 2, width_ratios=[1.25, 1], hspace=0.4, wspace=0.15)
    ax = fig.add_subplot(gs[:, 0])
    cls = sorted(c for c in examples if c != "orig")
    if cls:  # rows: 3 source samples; columns: unedited, then edited towards each class
        tiles = [examples["orig"]] + [examples[c] for c in cls]  # each (3, 1, 8, 8)
        grid = np.stack(tiles, axis=1).reshape(-1, 1, 8, 8)  # row-major: sample, then column
        ax.imshow(image_grid(grid, len(tiles)), cmap="gray_r", vmin=-1, vmax=1, interpolation="nearest")
        ax.set_xticks([4.5 + 9 * i for i in range(len(tiles))])
        ax.set_xticklabels(["orig."] + [f"→{c}" for c in cls], fontsize=8)
        ax.set_yticks([])
        s = res["summary"].get("asymmetric, gamma 1", {})
        r = res["summary"].get("random direction, gamma 1", {})
        ax.set_title(f"h + Δh_c at t ≥ {res['settings']['t_edit']} (asymmetric, γ = 1): classified as c in {100 * s.get('mean_conversion', 0):.0f} % "
                     f"(random direction: {100 * r.get('mean_conversion', 0):.0f} %)", fontsize=9)
    for k, (row, name) in enumerate(((row_slerp, "x_T slerp"), (row_h, "h-space shift λ(h_b − h_a)"))):
        ax = fig.add_subplot(gs[k, 1])
        ax.imshow(image_grid(row, len(lams)), cmap="gray_r", vmin=-1, vmax=1, interpolation="nearest")
        ax.set_xticks([4.5 + 9 * i for i in range(len(lams))])
        ax.set_xticklabels([f"{v:.2f}" for v in lams], fontsize=8)
        ax.set_yticks([])
        ax.set_title(f"{name}, λ from 0 to 1" + (f" (t ≥ {res['settings']['t_edit']})" if k else ""), fontsize=9)
    save_figure(fig, path, dpi=150, bbox_inches="tight")


if __name__ == "__main__":
    main()
