"""Why the DDPM put the grid's samples between the modes, and what fixed it (issue 26).

    python demos/ddpm_grid_ablations.py exact --out runs/ddpm_grid             # the exact-eps* sampler (minutes)
    python demos/ddpm_grid_ablations.py train --rows base fourier --seeds 3 --out runs/ddpm_grid
    python demos/ddpm_grid_ablations.py resample --rows base --seeds 3 --out runs/ddpm_grid   # sampler ablations
    python demos/ddpm_grid_ablations.py eps-error --rows base fourier --seeds 3 --out runs/ddpm_grid
    python demos/ddpm_grid_ablations.py table --out runs/ddpm_grid
    python demos/ddpm_grid_ablations.py --quick                                # seconds: the CI version

* ``exact``: samples with the mixture's exact ε* (:func:`scratchgen.diffusion.mixture.exact_eps_model`)
  through each sampler, on ring8 and grid25 in the trainer's scaled units, against the data's own numbers:
  the sampler's error alone, with no network.
* ``train``: one training run per (row, seed) of :data:`ROWS` (each row a full set of
  :class:`~scratchgen.diffusion.train.DDPMConfig` fields, so that a row means the same thing after the
  defaults change); a finished run is read back, not retrained.
* ``resample``: the ablations that need no training (reverse variance β vs β̃, x₀-clipping, the raw
  weights instead of the EMA, respaced and DDIM sampling) on a trained row's checkpoint.
* ``eps-error``: the per-t MSE of trained denoisers against the floor of the exact ε*
  (:func:`scratchgen.diffusion.mixture.eps_error_per_t`), drawn into ``eps_error.png``.
* ``table``: every finished run as one Markdown table, ``table.md``.

Every row reports the modes, the high-quality fraction (HQ, within 3σ), KL(modes ‖ uniform), the width of
the modes (RMS distance to the nearest centre per axis, in σ; the data: 1), and MMD² with one RBF kernel at
σ, at 3σ and at the median distance (:func:`scratchgen.mmd.mmd2_per_bandwidth`).
"""
import argparse
import json
import os
import time

import numpy as np

#: The defaults before issue 26 (2-D), written out so that "base" keeps its meaning.
OLD = dict(steps=20000, batch=512, lr=1e-3, warmup=200, ema=0.999, T=1000, schedule="linear", sigma2="beta_tilde",
           hidden=256, n_hidden=3, time_dim=64, x_freqs=0, x_omega_max=64.0, data_std=1.0)
#: name -> (data, fields). "base" is the old default; each other row changes what its name says.
ROWS = {
    "base": ("grid25", OLD),
    "base_10k": ("grid25", dict(OLD, steps=10000)),
    "fourier16_10k": ("grid25", dict(OLD, steps=10000, x_freqs=16)),
    "wide512_10k": ("grid25", dict(OLD, steps=10000, hidden=512)),
    "deep5_10k": ("grid25", dict(OLD, steps=10000, n_hidden=5)),
    "cosine_10k": ("grid25", dict(OLD, steps=10000, schedule="cosine")),
    "std3_10k": ("grid25", dict(OLD, steps=10000, data_std=3.0)),
    "fourier16_5k": ("grid25", dict(OLD, steps=5000, x_freqs=16)),
    # short runs at one budget (4,000 steps, 500 samples scored): which change removes the small-t error?
    **{f"short_{name}": ("grid25", dict(OLD, steps=4000, n_eval=500, **change)) for name, change in {
        "plain": {}, "wide512": dict(hidden=512), "deep5": dict(n_hidden=5), "time128": dict(time_dim=128),
        "cosine": dict(schedule="cosine"), "T250": dict(T=250), "std3": dict(data_std=3.0), "lr3e-3": dict(lr=3e-3),
        "fourier16": dict(x_freqs=16)}.items()},
    # today's defaults (DDPMConfig()), as `scratchgen train ddpm --data grid25|ring8 --seed S` trains them
    "default_grid25": ("grid25", {}),
    "default_ring8": ("ring8", {}),
    "ring_base": ("ring8", OLD),
    "ring_fourier16_10k": ("ring8", dict(OLD, steps=10000, x_freqs=16)),
}
QUICK = dict(steps=40, T=50, hidden=16, time_dim=8, n_eval=200, batch=64)


def run_dir(out, row, seed):
    return os.path.join(out, f"{row}_s{seed}")


def mode_width(x, centres, std):
    """RMS distance to the nearest centre per axis, in units of the data's sigma (the data: 1)."""
    x, c = np.asarray(x, dtype=np.float64), np.asarray(centres, dtype=np.float64)
    d2 = ((x[:, None, :] - c[None]) ** 2).sum(-1)
    k = d2.argmin(1)
    return float(np.sqrt(((x - c[k]) ** 2).mean()) / std)


def score(x, data, n_mmd=2500):
    """HQ, KL, modes, width and MMD² at sigma, 3 sigma and the median of samples ``x`` (data units)."""
    from scratchgen.autodiff import tensor
    from scratchgen.autodiff.tensor import no_grad
    from scratchgen.metrics import mode_coverage
    from scratchgen.mmd import median_heuristic, mmd2_per_bandwidth

    cov = mode_coverage(x, data.centres, data.std)
    m = min(n_mmd, x.shape[0], data.eval_x.shape[0])
    xs, ys = tensor(np.asarray(x[:m], dtype=np.float64)), tensor(np.asarray(data.eval_x[:m], dtype=np.float64))
    with no_grad():
        bws = [data.std, 3 * data.std, median_heuristic(xs, ys)]
        mm = [float(v.item()) for v in mmd2_per_bandwidth(xs, ys, bws)]
    return dict(cov.as_dict(), width=mode_width(x, data.centres, data.std), mmd2_sigma=mm[0], mmd2_3sigma=mm[1],
                mmd2=mm[2])


class _Held:
    """Held-out draws of a toy set with its centres and sigma (the fields ``score`` reads)."""

    def __init__(self, name, n, seed):
        from scratchgen.data import load_toy

        d = load_toy(name, n, seed=seed)
        self.eval_x, self.centres, self.std = np.asarray(d.x), np.asarray(d.centres), float(d.std)


def exact(args):
    """The exact-eps* sampler on ring8 and grid25 against the data: one row per sampler."""
    from scratchgen.diffusion.mixture import exact_eps_model, toy_mixture
    from scratchgen.diffusion.samplers import ancestral_sample, ddim_sample, respace
    from scratchgen.diffusion.schedules import make_schedule
    from scratchgen.diffusion.train import data_scaling

    n, T = (100, 100) if args.quick else (args.n, 1000)
    rows = []
    for name in ("ring8", "grid25"):
        m, s = data_scaling(name)
        held = _Held(name, n, seed=5)
        ref = _Held(name, n, seed=6)  # the data scored as samples: the numbers a perfect model gets
        rows.append(dict(data=name, sampler="the data itself (fresh draws)", **score(ref.eval_x, held)))
        sched = make_schedule("linear", T)
        eps = exact_eps_model(sched, toy_mixture(name, m, s))
        sched100, taus = respace(sched, min(100, T))
        samplers = {
            "ancestral, sigma2 = beta_tilde, 1000 steps": lambda: ancestral_sample(sched, eps, (n, 2), seed=1,
                                                                                 sigma2="beta_tilde"),
            "ancestral, sigma2 = beta, 1000 steps": lambda: ancestral_sample(sched, eps, (n, 2), seed=1, sigma2="beta"),
            "ancestral, respaced to 100 steps, beta_tilde": lambda: ancestral_sample(
                sched100, lambda x, i: eps(x, taus[i]), (n, 2), seed=1, sigma2="beta_tilde"),
            "DDIM eta = 0, 1000 steps": lambda: ddim_sample(sched, eps, (n, 2), seed=1),
            "DDIM eta = 0, 100 steps": lambda: ddim_sample(sched, eps, (n, 2), seed=1, steps=100),
        }
        for label, draw in samplers.items():
            t0 = time.perf_counter()
            z = draw()
            rows.append(dict(data=name, sampler=label, seconds=time.perf_counter() - t0,
                             **score(np.asarray(z) * s + np.asarray(m), held)))
            print(_line(rows[-1]), flush=True)
    _write(args.out, "exact.json", rows)
    return rows


def _line(r):
    return (f"{r['data']:7s} {r['sampler']:45s} modes {r['modes_captured']}/{r['n_modes']} HQ "
            f"{100 * r['high_quality_fraction']:.2f}% KL {r['kl_from_uniform']:.4f} width {r['width']:.3f} "
            f"MMD2 sigma {r['mmd2_sigma']:.2e} 3sigma {r['mmd2_3sigma']:.2e} median {r['mmd2']:.2e}")


def _write(out, name, obj):
    from scratchgen.training import write_json

    os.makedirs(out, exist_ok=True)
    write_json(os.path.join(out, name), obj)


def train(args):
    """Train every (row, seed) not yet finished; returns {run dir: final metrics}."""
    from scratchgen.diffusion.train import DDPMConfig, train_ddpm

    done = {}
    for row in args.rows:
        data, fields = ROWS[row]
        for seed in args.seeds:
            d = run_dir(args.out, row, seed)
            if os.path.exists(os.path.join(d, "metrics.json")):
                with open(os.path.join(d, "metrics.json")) as f:
                    done[d] = json.load(f)["final"]
                continue
            cfg = DDPMConfig(data=data, seed=seed, progress=False, **dict(fields, **(QUICK if args.quick else {})))
            cfg.eval_every = cfg.steps  # one evaluation, at the end
            done[d] = train_ddpm(cfg, out_dir=d, figures=not args.quick).final
            print(d, {k: v for k, v in done[d].items() if isinstance(v, (int, float))}, flush=True)
    return done


def resample(args):
    """Sampler ablations on trained checkpoints: beta vs beta_tilde, x0 clipping, raw weights, respacing, DDIM."""
    from scratchgen.checkpoint import load
    from scratchgen.diffusion.samplers import ancestral_sample, generate
    from scratchgen.diffusion.train import build_model, load_run

    rows = []
    for row in args.rows:
        for seed in args.seeds:
            d = run_dir(args.out, row, seed)
            cfg, model, sched, data = load_run(os.path.join(d, "checkpoint.npz"))
            raw = build_model(cfg, data.shape, 0)
            raw.load_state_dict(load(os.path.join(d, "checkpoint.npz"))["model"])
            raw.eval()
            n = 200 if args.quick else cfg.n_eval
            lo = float(((np.asarray(data.centres) - np.asarray(data.shift)) / data.scale).min()) - 3 * data.std / data.scale
            variants = {
                "EMA weights, beta_tilde (the run's own sampler)": lambda: generate(model, sched, n, data.shape, seed=7),
                "EMA weights, sigma2 = beta": lambda: generate(model, sched, n, data.shape, sigma2="beta", seed=7),
                "raw weights (no EMA), beta_tilde": lambda: generate(raw, sched, n, data.shape, seed=7),
                "x0 clipped to the data's box +- 3 sigma": lambda: ancestral_sample(
                    sched, model, (n,) + data.shape, seed=7, sigma2="beta_tilde", clip_x0=(lo, -lo)),
                "ancestral respaced to 250 steps": lambda: generate(model, sched, n, data.shape, steps=min(250, cfg.T),
                                                                    seed=7),
                "DDIM eta = 0, 100 steps": lambda: generate(model, sched, n, data.shape, "ddim", steps=min(100, cfg.T),
                                                            seed=7),
            }
            for label, draw in variants.items():
                t0 = time.perf_counter()
                x = np.asarray(data.from_model(draw()))
                rows.append(dict(data=cfg.data, run=os.path.basename(d), sampler=label,
                                 seconds=time.perf_counter() - t0, **score(x, data)))
                print(_line(dict(rows[-1], sampler=rows[-1]["run"] + ": " + label)), flush=True)
    _write(args.out, "resample.json", rows)
    return rows


#: legend names of the rows in the figures
LABELS = {"base": "old default: plain MLP, 20k steps", "fourier16_10k": "Fourier features (16), 10k steps",
          "default_grid25": "new default"}
TS = (1, 2, 3, 5, 8, 12, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750, 1000)


def eps_error(args):
    """Per-t MSE of each row's trained denoiser against the exact floor; eps_error.json and eps_error.png."""
    from scratchgen.diffusion.mixture import eps_error_per_t, toy_mixture
    from scratchgen.diffusion.train import load_run

    curves = {}
    for row in args.rows:
        for seed in args.seeds:
            d = run_dir(args.out, row, seed)
            cfg, model, sched, data = load_run(os.path.join(d, "checkpoint.npz"))
            mix = toy_mixture(cfg.data, data.shift, data.scale)
            ts = [t for t in TS if t <= cfg.T]
            r = eps_error_per_t(model, sched, mix, ts, n=300 if args.quick else args.n_eps, seed=0)
            curves[os.path.basename(d)] = {k: [float(v) for v in r[k]] for k in r}
            # the noise in x_0's units, sqrt((1 - ab)/ab), below half the spacing of the modes: eps* a saw-tooth
            c = np.asarray(mix.means)
            half = 0.5 * np.sqrt(min(((c[i] - c[j]) ** 2).sum() for i in range(len(c)) for j in range(i)))
            ab = np.asarray([float(sched.alpha_bar[t]) for t in ts])
            fine = np.sqrt((1 - ab) / ab) < half
            curves[os.path.basename(d)]["t_half_spacing"] = int(next(t for t in range(1, cfg.T + 1)
                                                                     if float(sched.alpha_bar[t]) < 1 / (1 + half**2)))
            curves[os.path.basename(d)]["excess_fine"] = float(np.mean(r["excess"][fine]))
            curves[os.path.basename(d)]["excess_coarse"] = float(np.mean(r["excess"][~fine]))
            print(f"{os.path.basename(d)}: mean excess where the noise is below half the spacing (t <= {ts[fine.sum() - 1]}): "
                  f"{np.mean(r['excess'][fine]):.4f}; above: {np.mean(r['excess'][~fine]):.5f}", flush=True)
    _write(args.out, "eps_error.json", curves)
    eps_error_figure(curves, os.path.join(args.out, "eps_error.png"))
    return curves


def eps_error_figure(curves, path):
    """Left: per-t MSE of each model and the floor MSE*(t). Right: the excess E||eps_theta - eps*||^2 / D."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4.4), layout="constrained")
    first = next(iter(curves.values()))
    a.plot(first["t"], first["floor"], "k-", lw=2.5, label=r"floor MSE$^*(t)$, exact $\varepsilon^*$")
    for name, c in curves.items():
        label = LABELS.get(name.rsplit("_s", 1)[0], name)
        a.plot(c["t"], c["mse"], "o-", ms=3, label=label)
        b.errorbar(c["t"], c["excess"], yerr=2 * np.asarray(c["excess_se"]), fmt="o-", ms=3, capsize=2, label=label)
    for ax in (a, b):
        ax.set_xscale("log")
        ax.set_xlabel("timestep t (linear schedule, T = 1000)")
        ax.grid(alpha=0.3, which="both")
        if "t_half_spacing" in first:
            ax.axvline(first["t_half_spacing"], color="0.4", ls=":", lw=1)
    b.text(first.get("t_half_spacing", 100) * 1.1, 3e-2, "noise = half the\nspacing of the modes", ha="left",
           fontsize=8, color="0.3")
    a.set_ylabel("MSE per dimension")
    a.set_title(r"$\mathbb{E}\,\Vert\varepsilon - \varepsilon_\theta(x_t, t)\Vert^2 / D$ against the floor",
                fontsize=10)
    b.set_yscale("log")
    b.set_ylabel("excess per dimension")
    b.set_title(r"excess over the floor: $\mathbb{E}\,\Vert\varepsilon_\theta - \varepsilon^*\Vert^2 / D$ (± 2 SE)",
                fontsize=10)
    fig.legend(*a.get_legend_handles_labels(), loc="outside lower center", ncol=3, fontsize=9, frameon=False)
    fig.savefig(path, dpi=150)
    plt.close(fig)


def samples_figure(args):
    """The first two --rows' samples (seed args.seeds[0]) over the held-out data: the whole set, and a zoom on
    the central mode at +-12 sigma where the width of the modes shows; samples.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from scratchgen.diffusion.train import DDPMConfig, _Data
    from scratchgen.viz import samples_over_data

    names = args.rows[:2]
    fig, axes = plt.subplots(2, len(names), figsize=(4.6 * len(names), 9.4), constrained_layout=True, squeeze=False)
    for j, row in enumerate(names):
        d = run_dir(args.out, row, args.seeds[0])
        with open(os.path.join(d, "metrics.json")) as fh:
            m = json.load(fh)
        data = _Data(DDPMConfig.from_saved(m["config"]))
        x, f = np.load(os.path.join(d, "samples.npy")), m["final"]
        title = (f"{LABELS.get(row, row)}, seed {args.seeds[0]}:\n{f['modes_captured']}/{f['n_modes']} modes, HQ "
                 f"{100 * f['high_quality_fraction']:.1f} %, KL {f['kl_from_uniform']:.3f}")
        lim = 1.25 * float(np.abs(np.asarray(data.eval_x)).max()) + 0.1
        samples_over_data(axes[0, j], data.eval_x, x, title=title, lim=lim, legend=True, sample_label="samples (DDPM)")
        c = np.asarray(data.centres)[np.argmin((np.asarray(data.centres) ** 2).sum(1))]  # the mode nearest 0
        z = 12 * data.std
        ax = axes[1, j]
        samples_over_data(ax, data.eval_x, x, title=f"zoom: the mode at ({c[0]:.0f}, {c[1]:.0f}), ±12σ",
                          sample_label="samples (DDPM)")
        ax.add_patch(plt.Circle(tuple(c), 3 * data.std, fill=False, color="crimson", lw=1, label="3σ: high-quality"))
        ax.set_xlim(c[0] - z, c[0] + z)
        ax.set_ylim(c[1] - z, c[1] + z)
        ax.legend(loc="upper right", fontsize=8)
    fig.savefig(os.path.join(args.out, "samples.png"), dpi=150)
    plt.close(fig)


def table(args):
    """Every finished training run under --out as a Markdown table (table.md)."""
    lines = ["| run | data | steps | modes | HQ | KL | MMD² σ | MMD² 3σ | MMD² median | train CPU s | wall s |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name in sorted(os.listdir(args.out)):
        f = os.path.join(args.out, name, "metrics.json")
        if not os.path.exists(f):
            continue
        with open(f) as fh:
            r = json.load(fh)["final"]
        if "modes_captured" not in r:
            continue
        g = lambda k, fmt: format(r[k], fmt) if k in r else "–"  # noqa: E731
        lines.append(f"| {name} | {r['data']} | {r['steps']} | {r['modes_captured']}/{r['n_modes']} | "
                     f"{100 * r['high_quality_fraction']:.1f} % | {r['kl_from_uniform']:.4f} | {g('mmd2_sigma', '.2e')} | "
                     f"{g('mmd2_3sigma', '.2e')} | {g('mmd2', '.1e')} | {g('train_cpu_seconds', '.0f')} | "
                     f"{g('train_seconds', '.0f')} |")
    with open(os.path.join(args.out, "table.md"), "w") as fh:
        fh.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return lines


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("job", nargs="?", default="all",
                    choices=("exact", "train", "resample", "eps-error", "samples", "table", "all"))
    ap.add_argument("--rows", nargs="+", default=["base", "fourier16_10k"], choices=sorted(ROWS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[3])
    ap.add_argument("--n", type=int, default=10_000, help="samples per exact-sampler row")
    ap.add_argument("--n-eps", type=int, default=5000, help="draws per t for the per-t MSE")
    ap.add_argument("--out", default="runs/ddpm_grid")
    ap.add_argument("--quick", action="store_true", help="tiny settings for CI (seconds)")
    args = ap.parse_args(argv)
    if args.quick and args.out == "runs/ddpm_grid":
        args.out = "runs/ddpm_grid_quick"
    jobs = {"exact": exact, "train": train, "resample": resample, "eps-error": eps_error, "samples": samples_figure,
            "table": table}
    if args.job != "all":
        return jobs[args.job](args)
    return {name: jobs[name](args) for name in ("exact", "train", "resample", "eps-error", "samples", "table")}


if __name__ == "__main__":
    main()
