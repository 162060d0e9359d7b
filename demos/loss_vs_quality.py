r"""Do the GAN losses track sample quality? The DCGAN on the digits, losses against FID and coverage.

The study guide's lesson: a GAN's losses are the values of a two-player game, not a measure of how good the
samples are, so a falling generator loss need not mean better samples. This demo trains the DCGAN of
``scratchgen train dcgan`` (:mod:`scratchgen.gan.train_images`) and, every ``--every`` steps (100), scores the
samples of the generator as it stands (1,000 images from fixed noise) with the shipped digits classifier:
the feature-based distance (FID), precision and recall against the 539 held-out digits, and mode coverage
(how many of the 10 digits the samples contain, and :math:`\mathrm{KL}(h\,\Vert\,U)` of their class histogram h
against the uniform one). Beside them: the losses :math:`L_D`, :math:`L_G` and the lecture's scores
:math:`s_D`, :math:`s_G` averaged over the steps since the last evaluation. The numbers that answer the question
are the rank correlations (Spearman) of each loss with FID across the evaluations, over the whole run and over
its second half (after the start-up transient), written to ``metrics.json``.

    OPENBLAS_NUM_THREADS=1 python demos/loss_vs_quality.py --out runs/loss_vs_quality --figure docs/img/loss_vs_quality.png
    python demos/loss_vs_quality.py --out /tmp/lvq --quick          # seconds (CI)
"""
import argparse
import os
import time

import numpy as np

from scratchgen.autodiff.tensor import no_grad, tensor
from scratchgen.backend import rng
from scratchgen.data.digits import digits_split
from scratchgen.gan.latent import sample_latent
from scratchgen.gan.train_images import ImageGANConfig, train_image_gan
from scratchgen.metrics.features import digit_log_probs, image_metrics


def spearman(a, b):
    """Spearman's rank correlation (Pearson's of the ranks; no ties expected among real-valued scores)."""
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def coverage(x):
    """(digits present, KL(h || U)) of the classifier's verdicts on images x."""
    h = np.bincount(np.argmax(digit_log_probs(x), axis=1), minlength=10) / x.shape[0]
    nz = h > 0
    return int(nz.sum()), float((h[nz] * np.log(h[nz] * 10)).sum())


def _f(v):
    return "n/a" if v is None else f"{v:+.2f}"


def figure(path, rows, corr, late):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from scratchgen.viz import save_figure

    t = [r["step"] for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), constrained_layout=True)
    ax = axes[0]
    ax.plot(t, [r["loss_g"] for r in rows], "o-", label="$L_G$ (non-saturating)")
    ax.plot(t, [r["loss_d"] for r in rows], "s-", label="$L_D$")
    ax.set_title(f"losses (mean since the last point); Spearman with FID:\nwhole run $L_G$ {corr['loss_g']:+.2f}, "
                 f"$L_D$ {corr['loss_d']:+.2f}; second half $L_G$ {_f(late['loss_g'])}, $L_D$ {_f(late['loss_d'])}",
                 fontsize=9)
    ax.set_xlabel("generator step")
    ax.legend()
    ax = axes[1]
    ax.plot(t, [r["fid"] for r in rows], "o-", c="C3", label="FID (classifier features)")
    ax.set_yscale("log")
    ax.set_xlabel("generator step")
    ax.set_ylabel("FID, log scale")
    ax2 = ax.twinx()
    ax2.plot(t, [r["precision"] for r in rows], "^--", c="C4", label="precision")
    ax2.plot(t, [r["recall"] for r in rows], "v--", c="C5", label="recall")
    ax2.set_ylim(0, 1)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, loc="upper center", fontsize=8, ncol=3)
    ax2.set_ylim(0, 1.25)
    ax2.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
    ax.set_title("sample quality against the 539 held-out digits", fontsize=10)
    ax = axes[2]
    ax.plot(t, [r["s_D"] for r in rows], "o-", label="$s_D$")
    ax.plot(t, [r["s_G"] for r in rows], "s-", label="$s_G$")
    ax.plot(t, [r["kl_uniform"] for r in rows], "d:", c="k", label="KL(class histogram || uniform)")
    ax.axhline(0.5, color="gray", lw=0.8, ls=":")
    ax.set_xlabel("generator step")
    ax.set_title(f"the lecture's scores and mode coverage\n(digits present: {rows[0]['digits_present']} at the first "
                 f"point, {rows[-1]['digits_present']} at the last)", fontsize=9)
    ax.legend(fontsize=8)
    save_figure(fig, path, dpi=150)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--every", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="12 steps, scored every 4 (CI)")
    ap.add_argument("--figure", default=None, help="also write the figure here")
    args = ap.parse_args()
    from scratchgen.training import write_json

    os.makedirs(args.out, exist_ok=True)
    steps, every, n = (12, 4, 100) if args.quick else (args.steps, args.every, 1000)
    cfg = ImageGANConfig(model="dcgan", steps=steps, width=32, seed=args.seed, eval_every=steps, n_eval=n,
                         kid_subsets=5, progress=False)
    x_test = digits_split().x_test
    z = tensor(sample_latent(rng(12345), n, cfg.z_dim))  # the same noise at every evaluation
    rows, t0 = [], time.perf_counter()

    def score(step, G, D):  # the trainer's callback after every step: score the generator as it stands
        if step % every:
            return
        G.eval()
        with no_grad():
            x = G(z).data
        G.train()
        m = image_metrics(x, x_test, kid_subsets=5, seed=args.seed)
        present, kl = coverage(x)
        rows.append({"step": step, "fid": m["fid"], "precision": m["precision"], "recall": m["recall"],
                     "digits_present": present, "kl_uniform": kl})

    run = train_image_gan(cfg, callback=score)
    h = run.history
    for r in rows:  # the losses and scores averaged over the steps since the previous evaluation
        window = slice(r["step"] - every, r["step"])
        r.update({k: float(np.mean(h[k][window])) for k in ("loss_g", "loss_d", "s_G", "s_D")})
    corr = {k: spearman([r[k] for r in rows], [r["fid"] for r in rows]) for k in ("loss_g", "loss_d", "s_G", "s_D")}
    half = [r for r in rows if r["step"] > steps // 2]  # after the start-up transient
    late = {k: spearman([r[k] for r in half], [r["fid"] for r in half]) if len(half) > 2 else None
            for k in ("loss_g", "loss_d", "s_G", "s_D")}
    corr_rows = {"fid_vs_" + k: v for k, v in corr.items()}
    corr_rows.update({"second_half_fid_vs_" + k: v for k, v in late.items()})
    out = {"steps": steps, "every": every, "seed": args.seed, "n_samples": n, "rows": rows, "spearman": corr_rows,
           "final": {k: run.final[k] for k in ("fid", "precision", "recall")},
           "seconds": round(time.perf_counter() - t0, 1)}
    write_json(os.path.join(args.out, "metrics.json"), out)
    for path in [os.path.join(args.out, "loss_vs_quality.png")] + ([args.figure] if args.figure else []):
        figure(path, rows, corr, late)
    print(corr_rows, out["final"], out["seconds"])
    return out


if __name__ == "__main__":
    main()
