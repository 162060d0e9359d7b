"""Score matching on 2-D data: the score field as arrows over the data, with annealed Langevin chains.

    python demos/score_langevin.py                                  # gauss8: train (minutes), figure, numbers
    python demos/score_langevin.py --figure docs/img/score_langevin.png
    python demos/score_langevin.py --redraw                         # the figure again from the finished run
    python demos/score_langevin.py --quick                          # seconds: the CI version

1. **The exact score.** The data (``gauss8``: 8 Gaussians of std 0.2 on a circle of radius 2) is a
   Gaussian mixture, so every noised density p_t is one too and its score is known in closed form
   (``scratchgen.diffusion.mixture``). Annealed Langevin (Song & Ermon 2019, Algorithm 1) with that score
   over ``vp_levels`` of the DDPM schedule, from N(0, I): mode weights (nearest centre) and the variance
   against the mixture's.
2. **A learned score.** The DDPM's MLP trained by denoising score matching (``train_score``: DSM with
   lambda_t = 1 - alpha_bar_t, which is L_simple), sampled by the same annealed Langevin and, since
   s_theta = -eps_theta / sqrt(1 - alpha_bar_t) is also a denoiser, by the DDPM's ancestral sampler:
   modes, high-quality fraction and MMD^2 of each; the explicit score-matching error of the network.
3. **The figure**: arrows of (1 - alpha_bar_t) s(x, t), the step of Tweedie's formula (each arrow ends at
   sqrt(alpha_bar_t) E[x_0 | x_t = x]), at two noise levels, for the exact and the learned score, with a
   few Langevin chains; and the learned samples over the data.

Writes ``results.json`` and ``score_langevin.png`` into --out (and the figure to --figure if given), and
the training run into ``--out/dsm`` (``metrics.json``, ``samples.npy``, ``checkpoint.npz``).
"""
import argparse
import json
import os
import time

import numpy as np

from scratchgen.diffusion.mixture import mixture_score, noised_mixture, toy_mixture
from scratchgen.diffusion.samplers import generate
from scratchgen.diffusion.score import annealed_langevin, vp_levels
from scratchgen.diffusion.score_train import ScoreConfig, langevin_sample, load_score_run, train_score
from scratchgen.diffusion.train import evaluate_samples

ARROW = 0.3  # arrows are drawn at this fraction of the Tweedie step (1 - ab_t) s
QUICK = dict(steps=150, batch=128, hidden=32, time_dim=16, T=100, levels=10, langevin_steps=20, n_eval=300,
             eval_every=150)


def exact_langevin(mix, schedule, n, levels, n_steps, eps, seed, keep=0):
    """Annealed Langevin with the exact score of the noised mixture ``mix`` (model units) at each level."""
    ts, sigmas = vp_levels(schedule, levels)
    noised = [noised_mixture(mix, float(schedule.alpha_bar[t])) for t in ts]
    x = np.random.default_rng(seed).standard_normal((n, mix.means.shape[1]))
    return annealed_langevin(lambda v, i: mixture_score(noised[i], v), sigmas, x, n_steps=n_steps, eps=eps,
                             seed=seed + 1, keep=keep)


def weights_and_variance(x, mix):
    """Nearest-centre weights and the per-axis variance of x against the mixture's (written out)."""
    k = ((x[:, None, :] - mix.means[None]) ** 2).sum(axis=-1).argmin(axis=1)
    w = np.bincount(k, minlength=len(mix.weights)) / len(k)
    mean = (mix.weights[:, None] * mix.means).sum(axis=0)
    var = (mix.weights[:, None] * (mix.stds[:, None] ** 2 + mix.means**2)).sum(axis=0) - mean**2
    return {"weight_error_max": float(np.abs(w - mix.weights).max()),
            "variance_ratio": [float(v) for v in x.var(axis=0) / var]}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="gauss8", choices=["gauss8", "ring8", "grid25"], help="a closed-form mixture")
    ap.add_argument("--steps", type=int, default=None, help="DSM training steps (default: ScoreConfig's)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--chains", type=int, default=10_000, help="chains of the exact-score Langevin check")
    ap.add_argument("--out", default="runs/score_langevin", help="output directory")
    ap.add_argument("--figure", default=None, help="also write the figure here (docs/img/score_langevin.png)")
    ap.add_argument("--quick", action="store_true", help="tiny settings for CI (seconds)")
    ap.add_argument("--redraw", action="store_true", help="redraw the figure of the finished run in --out "
                                                          "(its checkpoint and results.json), training nothing")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    over = dict(QUICK) if args.quick else {}
    if args.steps is not None:
        over["steps"] = args.steps
    cfg = ScoreConfig(data=args.data, seed=args.seed, progress=not args.quick, **over)
    paths = [os.path.join(args.out, "score_langevin.png")] + ([args.figure] if args.figure else [])
    if args.redraw:
        run = load_score_run(os.path.join(args.out, "dsm"))
        with open(os.path.join(args.out, "results.json")) as fh:
            results = json.load(fh)
        figure(run, toy_mixture(run.config.data, run.data.shift, run.data.scale), results, paths, args.seed)
        return results
    chains = min(args.chains, 500) if args.quick else args.chains

    # 2. the learned score (its run also gives the scaling and the schedule)
    run = train_score(cfg, out_dir=os.path.join(args.out, "dsm"))
    mix = toy_mixture(args.data, run.data.shift, run.data.scale)  # the data's mixture in model units
    results = {"config": cfg.to_dict(), "dsm_langevin": run.final}
    t0 = time.perf_counter()
    z = generate(run.ema_model, run.schedule, cfg.n_eval, (2,), "ddpm", seed=args.seed + 1)
    results["dsm_ancestral"] = dict(evaluate_samples(run.data.from_model(z), run.data),
                                    sample_seconds=time.perf_counter() - t0)

    # 1. the exact score
    t0 = time.perf_counter()
    x = exact_langevin(mix, run.schedule, chains, cfg.levels, cfg.langevin_steps, cfg.langevin_eps, args.seed)
    results["exact_langevin"] = dict(weights_and_variance(x, mix), chains=chains, **evaluate_samples(
        run.data.from_model(x[: cfg.n_eval].astype(np.float32)), run.data), seconds=time.perf_counter() - t0)

    for name, r in (("exact score, annealed Langevin", results["exact_langevin"]),
                    ("DSM network, annealed Langevin", results["dsm_langevin"]),
                    ("DSM network, DDPM ancestral", results["dsm_ancestral"])):
        extra = (f", weights within {100 * r['weight_error_max']:.2f} points, variance ratio "
                 f"{'/'.join(f'{v:.3f}' for v in r['variance_ratio'])}" if "weight_error_max" in r else "")
        print(f"{name}: modes {r['modes_captured']}/{r['n_modes']}, high-quality "
              f"{100 * r['high_quality_fraction']:.1f}%, MMD² {r['mmd2']:.2e}{extra}", flush=True)
    print(f"DSM network: explicit score-matching error {run.final['esm']:.4f}, final DSM loss "
          f"{run.final['final_loss']:.4f}, training {run.final['train_seconds']:.0f} s", flush=True)
    with open(os.path.join(args.out, "results.json"), "w") as fh:
        json.dump(results, fh, indent=2)
    figure(run, mix, results, paths, args.seed, dpi=72 if args.quick else 150)
    return results


def _field(ax, run, mix, t, learned, lim):
    """Arrows of (1 - ab_t) s(x, t) on a grid (data units), over the held-out data."""
    g = np.linspace(-lim, lim, 15)
    X, Y = np.meshgrid(g, g)
    pts = np.stack([X.ravel(), Y.ravel()], axis=1).astype(np.float32)  # (289, 2) data units
    ab = float(run.schedule.alpha_bar[t])
    if learned:
        s = run.score(pts, t)  # model units
    else:
        s = mixture_score(noised_mixture(mix, ab), run.data.to_model(pts).astype(np.float64))
    step = (1 - ab) * np.asarray(s) * run.data.scale  # a displacement in model units, mapped to data units
    step = ARROW * step  # drawn at a fraction of its length, so that neighbours do not overlap
    ax.scatter(*run.data.eval_x[:1000].T, s=2, c="0.75", lw=0)
    ax.quiver(X, Y, step[:, 0].reshape(X.shape), step[:, 1].reshape(X.shape), angles="xy", scale_units="xy",
              scale=1, width=0.004, color="C0")


def _chains(ax, run, paths, n_steps, first_level):
    """Langevin chains (model units -> data units) from the start of level ``first_level`` to the end,
    every tenth step: a dot where they are drawn from, a cross where they end."""
    for j in range(paths.shape[1]):
        p = run.data.from_model(paths[first_level * n_steps :: max(1, n_steps // 10), j].astype(np.float32))
        ax.plot(p[:, 0], p[:, 1], lw=0.5, color=f"C{1 + j % 8}", alpha=0.8)
        ax.plot(*p[0], "o", ms=3, color=f"C{1 + j % 8}")
        ax.plot(*p[-1], "x", ms=6, mew=1.5, color="k")


def figure(run, mix, results, paths, seed, dpi=150):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from scratchgen.viz import save_figure

    cfg = run.config
    ts, _ = vp_levels(run.schedule, cfg.levels)
    ab = np.array([float(run.schedule.alpha_bar[t]) for t in ts])
    ve = np.sqrt((1 - ab) / ab)  # the levels' noise relative to the data's scale (1 in model units)
    t_hi, t_lo = (ts[int(np.argmin(np.abs(np.log(ve / v))))] for v in (0.5, 0.1))  # a wide level and a sharp one
    lim = float(np.abs(run.data.eval_x).max()) * 1.25
    _, exact_paths = exact_langevin(mix, run.schedule, 6, cfg.levels, cfg.langevin_steps, cfg.langevin_eps, seed,
                                    keep=6)
    _, learned_paths = langevin_sample(run.ema_model, run.schedule, 6, cfg.levels, cfg.langevin_steps,
                                       cfg.langevin_eps, seed, keep=6)
    fig, axes = plt.subplots(2, 3, figsize=(13, 8.8), layout="constrained")
    for row, learned in enumerate((False, True)):
        who = "learned $s_\\theta$ (DSM)" if learned else "exact $\\nabla\\log p_t$"
        for col, t in enumerate((t_hi, t_lo)):
            ax = axes[row, col]
            _field(ax, run, mix, t, learned, lim)
            ax.set_title(f"{who}, t = {t} ($\\sqrt{{1-\\bar\\alpha_t}}$ = "
                         f"{float(run.schedule.sqrt_one_minus_alpha_bar[t]):.2f})", fontsize=10)
        _chains(axes[row, 1], run, learned_paths if learned else exact_paths, cfg.langevin_steps, ts.index(t_hi))
    r = results["exact_langevin"]
    axes[0, 2].scatter(*run.data.eval_x[:1000].T, s=2, c="0.6", lw=0, label="held-out data")
    ax = axes[0, 2]
    x = run.data.from_model(exact_langevin(mix, run.schedule, 1000, cfg.levels, cfg.langevin_steps,
                                           cfg.langevin_eps, seed + 7).astype(np.float32))
    ax.scatter(*x.T, s=3, c="C3", lw=0, label="annealed Langevin, exact score")
    ax.set_title(f"exact score: weights within {100 * r['weight_error_max']:.1f} points of 1/8\n"
                 f"variance ratio {'/'.join(f'{v:.3f}' for v in r['variance_ratio'])} ({r['chains']} chains)",
                 fontsize=10)
    ax = axes[1, 2]
    f = results["dsm_langevin"]
    ax.scatter(*run.data.eval_x[:1000].T, s=2, c="0.6", lw=0, label="held-out data")
    ax.scatter(*run.samples[:1000].T, s=3, c="C2", lw=0, label="annealed Langevin, learned score")
    ax.set_title(f"learned score: modes {f['modes_captured']}/{f['n_modes']}, high-quality "
                 f"{100 * f['high_quality_fraction']:.1f}%\nMMD² {f['mmd2']:.1e}, ESM error {f['esm']:.3f}",
                 fontsize=10)
    for ax in axes.ravel():
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.tick_params(labelsize=8)
    for ax in axes[:, 2]:
        ax.legend(loc="upper right", fontsize=8, markerscale=3, framealpha=0.9)
    fig.suptitle(f"Score matching on {cfg.data}. Arrows: {ARROW:g} × (1-ᾱ_t) s(x, t), which points from x to "
                 f"√ᾱ_t E[x₀|x_t = x] (Tweedie).\nMiddle: annealed Langevin chains ({cfg.levels} levels × "
                 f"{cfg.langevin_steps} steps from N(0, I)), drawn every 10th step from the level of the left panel "
                 f"(dot) to the end (×)", fontsize=11)
    for p in paths[:-1]:
        fig.savefig(p, dpi=dpi)
    save_figure(fig, paths[-1], dpi=dpi)  # atomically, then closed


if __name__ == "__main__":
    main()
