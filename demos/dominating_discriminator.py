r"""A discriminator that dominates, seen in the lecture's scores s_D and s_G, and three cures.

The lecture's diagnostics (:func:`scratchgen.gan.diagnostics.gan_scores`, logged at every critic step by
``train_gan``): :math:`s_G = \mathbb E[D(G(z))]` and :math:`s_D = \tfrac12\mathbb E[D(x)] + \tfrac12\mathbb E[1 - D(G(z))]`,
both ½ at the game's equilibrium. The run "dominating" makes D win: the *minimax* (saturating) loss, D's
learning rate ten times G's and five critic steps per generator step. Then s_D climbs towards 1, s_G falls
towards 0, and G's gradient :math:`\nabla\log(1 - D(G(z)))` vanishes with it. The three cures are the
lecture's, each an option of :class:`scratchgen.gan.train.GANConfig`, added to the same setting one at a time:
dropout in D (``d_dropout``), noisy labels (``label_flip``: each target flipped with probability p), a
narrower D (``d_hidden``).

    OPENBLAS_NUM_THREADS=1 python demos/dominating_discriminator.py --out runs/dominating --figure docs/img/dominating_discriminator.png
    python demos/dominating_discriminator.py --out /tmp/dominating --quick      # seconds (CI)
"""
import argparse
import os
import time

import numpy as np

from scratchgen.gan.train import GANConfig, train_gan

DOMINATING = dict(loss="minimax", lr_g=1e-4, lr_d=1e-3, d_steps=5)
RUNS = [("dominating D (minimax, lr_D = 10 lr_G, 5 D steps)", {}),
        ("+ dropout 0.5 in D", dict(d_dropout=0.5)),
        ("+ flipped labels, p = 0.3", dict(label_flip=0.3)),
        ("+ narrower D (8 units, not 128)", dict(d_hidden=8))]


def smooth(v, k):
    v = np.asarray(v, float)
    k = max(1, min(k, len(v)))
    return np.convolve(v, np.ones(k) / k, mode="valid")


def figure(path, results, data_name):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from scratchgen.data.toy import load_toy
    from scratchgen.viz import save_figure

    n = len(results)
    fig = plt.figure(figsize=(3.2 * n, 6.4), constrained_layout=True)
    gs = fig.add_gridspec(2, n)
    for k, key in enumerate(("s_D", "s_G")):
        ax = fig.add_subplot(gs[0, 2 * k:2 * k + 2] if n >= 4 else gs[0, k])
        for r in results:
            y = smooth(r["history"][key], max(1, len(r["history"][key]) // 50))
            ax.plot(np.arange(len(y)) + (len(r["history"][key]) - len(y)), y, label=r["name"])
        ax.axhline(0.5, color="k", ls=":", lw=1, label="equilibrium, 1/2")
        ax.set_ylim(0, 1)
        ax.set_xlabel("generator step")
        ax.set_title({"s_D": r"$s_D = \frac{1}{2}E[D(x)] + \frac{1}{2}E[1 - D(G(z))]$",
                      "s_G": r"$s_G = E[D(G(z))]$"}[key])
        ax.grid(alpha=0.3)
        if k == 0:
            ax.legend(fontsize=7, loc="lower right")
    centres = load_toy(data_name, 10, seed=0).centres
    for j, r in enumerate(results):
        ax = fig.add_subplot(gs[1, j])
        s = r["samples"]
        ax.scatter(s[:, 0], s[:, 1], s=2, alpha=0.4)
        if centres is not None:
            ax.scatter(centres[:, 0], centres[:, 1], marker="x", c="r", s=30)
        ax.set_xlim(-1.6, 1.6)
        ax.set_ylim(-1.6, 1.6)
        ax.set_aspect("equal")
        ax.set_title(f"{r['name']}\nmodes {r['modes']}/8, high quality {r['high_quality']:.2f}", fontsize=8)
    save_figure(fig, path, dpi=150)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="5 steps of each run on batches of 64 (CI)")
    ap.add_argument("--figure", default=None, help="also write the figure here")
    args = ap.parse_args()
    from scratchgen.training import write_json

    os.makedirs(args.out, exist_ok=True)
    steps, batch = (5, 64) if args.quick else (args.steps, args.batch)
    results, summary = [], []
    for name, extra in RUNS:
        cfg = GANConfig(data="ring8", steps=steps, batch=batch, seed=args.seed, eval_every=steps,
                        n_eval=200 if args.quick else 2500, progress=False, **DOMINATING, **extra)
        t0 = time.perf_counter()
        run = train_gan(cfg)
        tail = max(1, steps // 10)  # the scores over the last tenth of the run
        r = {"name": name, "options": extra, "s_D_end": float(np.mean(run.history["s_D"][-tail:])),
             "s_G_end": float(np.mean(run.history["s_G"][-tail:])), "modes": run.final["modes_captured"],
             "high_quality": run.final["high_quality_fraction"], "mmd2": run.final["mmd2"],
             "seconds": round(time.perf_counter() - t0, 1)}
        summary.append(r)
        results.append({**r, "history": run.history, "samples": run.samples})
        print({k: v for k, v in r.items()}, flush=True)
    write_json(os.path.join(args.out, "metrics.json"), {"steps": steps, "batch": batch, "seed": args.seed,
                                                        "setting": DOMINATING, "runs": summary})
    for path in [os.path.join(args.out, "dominating_discriminator.png")] + ([args.figure] if args.figure else []):
        figure(path, results, "ring8")
    return summary


if __name__ == "__main__":
    main()
