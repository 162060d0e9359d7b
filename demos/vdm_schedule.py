"""A VDM's learned noise schedule against the fixed one, on the 8x8 digits (Kingma et al. 2021).

    python demos/vdm_schedule.py --out runs/vdm                 # 3 seeds x (fixed, learned), 4,000 steps each
    python demos/vdm_schedule.py --out runs/vdm --schedules fixed linear learned
    python demos/vdm_schedule.py --quick                        # seconds: the CI version

Each run is ``scratchgen train vdm --schedule S --seed K --out OUT/S-sK`` (the defaults of
``VDMConfig``): a run directory that already holds a finished run is read back, not retrained, so the
command line and this script share their runs. Reported per run: the bound on the 539 held-out digits
in bits per dimension (16 draws of (t, eps, eps_0) per image, standard error over the images), its
three terms, the learned endpoints, and the spread of the one-draw diffusion loss (the estimator's noise,
which the learned shape is trained to lower); per schedule the mean and standard deviation over seeds.

Writes ``results.json``, ``table.md`` and ``vdm_schedule.png``: gamma(t) = -log SNR(t) of every run
(left), its slope gamma'(t), the weight of the continuous-time loss (middle), and samples of the first
learned run (right).
"""
import argparse
import json
import math
import os

QUICK = dict(steps=8, batch=4, hidden=2, time_dim=4, n_features=4, warmup=2, eval_every=8, eval_draws=2,
             n_samples=16, sample_steps=4)


def run_one(schedule, seed, out, quick):
    """Train ``schedule`` with ``seed`` into ``out/<schedule>-s<seed>`` (or read a finished run back);
    returns (final metrics, gamma module, samples or None)."""
    import numpy as np

    from scratchgen.diffusion.train_vdm import VDMConfig, load_run, train_vdm

    d = os.path.join(out, f"{schedule}-s{seed}")
    if os.path.exists(os.path.join(d, "metrics.json")):
        final = json.load(open(os.path.join(d, "metrics.json")))["final"]
        _, _, gamma, _ = load_run(os.path.join(d, "checkpoint.npz"))
        path = os.path.join(d, "samples.npy")
        return final, gamma, np.load(path) if os.path.exists(path) else None
    cfg = VDMConfig(schedule=schedule, seed=seed, progress=not quick, **(QUICK if quick else {}))
    run = train_vdm(cfg, out_dir=d)
    return run.final, run.gamma, run.samples


def table(results):
    """Markdown: one row per run, then mean +- sd over seeds per schedule."""
    rows = ["| schedule | seed | bpd (± SE) | diffusion | prior | reconstruction | sd of one draw's diffusion loss "
            "| gamma_0 | gamma_1 | train wall (s) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name, f in results.items():
        schedule, seed = name.rsplit("-s", 1)
        rows.append(f"| {schedule} | {seed} | {f['bpd']:.4f} ± {f['bpd_se']:.4f} | {f['diffusion_bpd']:.4f} | "
                    f"{f['prior_bpd']:.2g} | {f['reconstruction_bpd']:.4f} | {f['diffusion_bpd_sd']:.3f} | "
                    f"{f['gamma_0']:.2f} | {f['gamma_1']:.2f} | {f['train_seconds']:.0f} |")
    rows += ["", "| schedule | runs | bpd, mean ± sd over seeds |", "|---|---|---|"]
    for schedule in dict.fromkeys(n.rsplit("-s", 1)[0] for n in results):
        v = [f["bpd"] for n, f in results.items() if n.rsplit("-s", 1)[0] == schedule]
        m = sum(v) / len(v)
        sd = math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else float("nan")
        rows.append(f"| {schedule} | {len(v)} | {m:.4f} ± {sd:.4f} |")
    return "\n".join(rows) + "\n"


def figure(gammas, samples, path):
    """gamma(t) and gamma'(t) of every run, and a grid of samples."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from scratchgen.backend import to_numpy

    t = np.linspace(0, 1, 201)
    fig, axes = plt.subplots(1, 3, figsize=(13, 4), constrained_layout=True)
    colours = {"fixed": "tab:gray", "linear": "tab:blue", "learned": "tab:red"}
    shown = set()
    for name, gamma in gammas.items():
        schedule = name.rsplit("-s", 1)[0]
        label = None if schedule in shown else schedule
        shown.add(schedule)
        g, dg = to_numpy(gamma(t).data), to_numpy(gamma.derivative(t).data)
        axes[0].plot(t, g, color=colours.get(schedule), label=label, lw=1.5)
        axes[1].plot(t, dg, color=colours.get(schedule), label=label, lw=1.5)
    axes[0].set(xlabel="t", ylabel=r"$\gamma(t) = -\log\,\mathrm{SNR}(t)$", title="noise schedule, one line per seed")
    axes[1].set(xlabel="t", ylabel=r"$\gamma'(t)$", title=r"slope: the weight of $\|\varepsilon-\hat\varepsilon\|^2$ in $L_\infty$")
    for ax in axes[:2]:
        ax.legend(loc="upper left")
        ax.grid(alpha=0.3)
    ax = axes[2]
    if samples is not None:
        n = int(math.isqrt(samples.shape[0]))
        grid = np.full((9 * n + 1, 9 * n + 1), 0.0)  # one-pixel grey lines between the 8x8 images
        for i in range(n * n):
            r, c = divmod(i, n)
            grid[1 + 9 * r:9 + 9 * r, 1 + 9 * c:9 + 9 * c] = samples[i, 0]
        ax.imshow(grid, cmap="gray_r", vmin=-1, vmax=1)
        ax.set_title(f"{n * n} samples of {next(k for k in gammas if k.startswith('learned'))} (ancestral)")
    ax.axis("off")
    fig.savefig(path, dpi=150)
    plt.close(fig)


def discrete_bounds(args, seed):
    """The bound of each schedule's run ``seed`` with T steps (``args.discrete``) and in continuous time, on the
    held-out digits, each from the evaluation seed 123."""
    from scratchgen.diffusion.train_vdm import evaluate_bound, load_run

    out = {}
    for schedule in args.schedules:
        cfg, model, gamma, data = load_run(os.path.join(args.out, f"{schedule}-s{seed}", "checkpoint.npz"))
        out[f"{schedule}-s{seed}"] = {f"T={T}" if T else "T=inf": evaluate_bound(model, gamma, data.eval_x,
                                                                                 cfg.eval_draws, 123, T)
                                      for T in list(args.discrete) + [0]}
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default="runs/vdm", help="folder of the runs and the outputs")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--schedules", nargs="+", default=["fixed", "learned"], choices=["fixed", "linear", "learned"])
    p.add_argument("--discrete", type=int, nargs="*", default=[],
                   help="also score the first run of each schedule by the T-step bound for each T given (e.g. 10 100 1000)")
    p.add_argument("--quick", action="store_true", help="tiny runs, one seed: seconds")
    args = p.parse_args(argv)
    seeds = args.seeds[:1] if args.quick else args.seeds
    os.makedirs(args.out, exist_ok=True)
    results, gammas, samples = {}, {}, None
    for schedule in args.schedules:
        for seed in seeds:
            name = f"{schedule}-s{seed}"
            results[name], gammas[name], s = run_one(schedule, seed, args.out, args.quick)
            if schedule == "learned" and samples is None:
                samples = s
            print(f"{name}: bpd {results[name]['bpd']:.4f} ± {results[name]['bpd_se']:.4f}", flush=True)
    from scratchgen.training import write_json

    write_json(os.path.join(args.out, "results.json"), results)
    md = table(results)
    with open(os.path.join(args.out, "table.md"), "w") as f:
        f.write(md)
    print(md)
    if args.discrete:
        discrete = discrete_bounds(args, seeds[0])
        write_json(os.path.join(args.out, "discrete.json"), discrete)
        for name, row in discrete.items():
            print(name, ", ".join(f"{k}: {v['bpd']:.4f} ± {v['bpd_se']:.4f}" for k, v in row.items()))
    if "learned" not in args.schedules:
        samples = None
    figure(gammas, samples, os.path.join(args.out, "vdm_schedule.png"))
    return results


if __name__ == "__main__":
    main()
