r"""Mode collapse on 2-D mixtures: every GAN loss on the ring and the grid, several seeds.

Protocol (Metz et al. 2017, Unrolled GAN code; Elfeki et al. 2019, GDPP; VEEGAN's metrics):

* data: ``ring8`` (8 Gaussians, radius 1, σ = 0.01, centres at angles 2πk/8) and ``grid25``
  (25 Gaussians at {−4, −2, 0, 2, 4}², σ = 0.05);
* G and D: MLPs with two hidden layers of 128 units (G: ReLU, D: LeakyReLU 0.2), z ~ N(0, I_64);
  Adam, batch 512;
* evaluation: 2500 generated samples; each goes to its nearest centre and is *high-quality*
  if within 3σ of it; *modes captured* = centres with at least one high-quality sample
  (:func:`scratchgen.metrics.mode_coverage`); also KL of the mode histogram from uniform and
  MMD² to 2500 held-out data points;
* every configuration on both data sets with several seeds; the table reports mean ± std
  over seeds (population std, ``numpy.std``).

The configurations (``CONFIGS``): the minimax and non-saturating GAN (Goodfellow et al. 2014),
LSGAN (Mao et al. 2017), WGAN with weight clipping (Arjovsky et al. 2017), WGAN-GP (Gulrajani
et al. 2017), hinge loss with spectral norm (Miyato et al. 2018), the unrolled GAN
(Metz et al. 2017), PacGAN packing (Lin et al. 2018), and, on the grid only, PacGAN with an MMD²
term in the generator's loss and 3 critic steps (``pacgan-mmd``, 60000 steps: the runs that keep
all 25 modes), and ``pacgan-mmd-reject``: the same runs after rejection sampling with a learnt density
ratio (``REJECT``; :mod:`scratchgen.gan.rejection`). All share one optimiser setting (``COMMON``: Adam, lr 1e-3, cosine decay to 0),
except the two ``-1e-4`` rows, which use the constant Adam 1e-4 of Metz et al.'s code (where the
papers report the plain GAN's collapse), and the PacGAN rows.

Outputs in ``--out``: ``results.json`` (every run), ``table.md`` (the Markdown table),
``mode_collapse.png`` (columns: configurations, rows: data sets; the first seed's samples over
the data with the critic's contours), and one run directory per (configuration, data, seed)
with the files of ``scratchgen train gan``. Runs whose ``metrics.json`` already holds the same
configuration are reused, so an interrupted sweep continues where it stopped.

    python demos/mode_collapse.py --out runs/mode_collapse --jobs 2      # the full table
    python demos/mode_collapse.py --out runs/mc_quick --quick            # seconds (CI)
"""
import argparse
import dataclasses
import json
import math
import os
import time

import numpy as np

# Every configuration trains with the same optimiser: Adam(lr 1e-3 for both players, betas (0.5, 0.999))
# with a cosine decay of both learning rates to 0 over the run; the other settings are GANConfig's
# defaults: two hidden layers of 128 units, z in R^64, batch 512, 2500 evaluated samples.
COMMON = dict(lr_g=1e-3, lr_d=1e-3, lr_schedule="cosine")
# name -> (options, label in the table[, the data sets it runs on]). Every baseline row gets 2000 generator
# steps; a step with 5 critic updates (WGAN, WGAN-GP) or a 5-step unrolled critic costs several plain steps,
# so those runs take about 1-3 minutes of one core, the plain ones under a minute.
CONFIGS = {
    "minimax": (dict(loss="minimax", steps=2000), "GAN, minimax (Goodfellow et al. 2014)"),
    "nonsaturating": (dict(loss="nonsaturating", steps=2000), "GAN, non-saturating"),
    # the optimiser of Metz et al.'s Unrolled-GAN code (Adam 1e-4 for both players, constant): the
    # setting in which the papers report the plain GAN's collapse
    "minimax-1e-4": (dict(loss="minimax", lr_g=1e-4, lr_d=1e-4, lr_schedule=None, steps=10000),
                     "GAN, minimax, Adam 1e-4 constant (Unrolled-GAN code)"),
    "nonsaturating-1e-4": (dict(loss="nonsaturating", lr_g=1e-4, lr_d=1e-4, lr_schedule=None, steps=10000),
                           "GAN, non-saturating, Adam 1e-4 constant (Unrolled-GAN code)"),
    "lsgan": (dict(loss="lsgan", steps=2000), "LSGAN (Mao et al. 2017)"),
    "wgan-clip": (dict(loss="wgan", clip=0.01, d_steps=5, steps=2000), "WGAN, clipping c = 0.01, 5 critic steps"),
    "wgan-gp": (dict(loss="wgan", penalty="gp", d_steps=5, steps=2000), "WGAN-GP, λ = 10, 5 critic steps"),
    "hinge-sn": (dict(loss="hinge", spectral_norm=True, steps=2000), "hinge + spectral norm"),
    "unrolled": (dict(loss="nonsaturating", unrolled=5, unroll_lr=1e-2, steps=2000),
                 "unrolled GAN, K = 5 (Metz et al. 2017)"),
    # the best we measured: packing against collapse, a fast critic (lr 2e-2) for precision
    "pacgan": (dict(loss="nonsaturating", pack=4, d_steps=2, lr_g=2e-3, lr_d=2e-2, steps=5000),
               "PacGAN4, 2 critic steps, lr_G 2e-3, lr_D 2e-2 (Lin et al. 2018)"),
    "pacgan-8k": (dict(loss="nonsaturating", pack=4, d_steps=2, lr_g=2e-3, lr_d=2e-2, steps=8000),
                  "PacGAN4 as above, 8000 steps"),
    "pacgan-12k": (dict(loss="nonsaturating", pack=4, d_steps=2, lr_g=2e-3, lr_d=2e-2, steps=12000),
                   "PacGAN4 as above, 12000 steps"),
    # the grid's best: PacGAN4 keeps precision, a lambda MMD^2 term in G's loss keeps every mode, a third
    # critic step per generator step sharpens the critic (about 20 minutes per run on one idle core, so
    # the grid only). eval_every is fixed because each evaluation draws its noise from the training
    # generator: 5000 is what the runs of docs/results.md used.
    "pacgan-mmd": (dict(loss="nonsaturating", pack=4, d_steps=3, lr_g=2e-3, lr_d=2e-2, mmd_weight=50.0,
                        mmd_samples=256, steps=60000, eval_every=5000),
                   "PacGAN4, 3 critic steps, + 50·MMD² in G's loss, 60000 steps", ("grid25",)),
}
# Rows that rejection-sample another row's finished runs (scratchgen.gan.rejection): row -> (the row whose
# runs it corrects, the settings of rejection_sample_run). The runs are trained first if missing; the
# classifier of log p/q takes about 3 minutes of a core for 40000 steps.
REJECT = {
    "pacgan-mmd-reject": ("pacgan-mmd", dict(steps=40000, batch=512, lr=1e-3, seed=0)),
}
LABELS_REJECT = {"pacgan-mmd-reject": "the same runs + rejection sampling with a learnt log p/q (40000 classifier steps, lr 1e-3)"}
DATASETS = ("ring8", "grid25")
QUICK = dict(steps=20, eval_every=10, n_eval=500)  # CI: the protocol's networks, 20 steps


def run_one(job, train=True):
    """Train one (configuration, data, seed); reuse a finished run with the same configuration.

    With ``train=False`` only a finished run is read back; a missing one gives None. A row of ``REJECT``
    then rejection-samples the run (reusing a ``rejection.json`` with the same settings) and reports
    the accepted samples' metrics, with the classifier's time added to the run's.
    """
    name, data, seed, options, out_dir = job[:5]
    if name in REJECT:  # job[5]: the settings of rejection_sample_run
        base = run_one((REJECT[name][0], data, seed, options, out_dir), train)
        return None if base is None else reject_one(name, base, out_dir, job[5], train)
    from scratchgen.gan.train import GANConfig, train_gan

    cfg = GANConfig(**{**options, "data": data, "seed": seed, "progress": False})
    metrics_path = os.path.join(out_dir, "metrics.json")
    if os.path.exists(metrics_path):
        with open(metrics_path) as f:
            old = json.load(f)
        if old.get("config") == json.loads(json.dumps(dataclasses.asdict(cfg))) and "wall_s" in old:
            return {**old["final"], "name": name, "data": data, "seed": seed, "wall_s": old["wall_s"]}
    if not train:
        return None
    t0 = time.perf_counter()
    run = train_gan(cfg, out_dir=out_dir)
    wall = time.perf_counter() - t0
    with open(metrics_path) as f:
        metrics = json.load(f)
    metrics["wall_s"] = wall
    with open(metrics_path, "w") as f:
        json.dump(metrics, f, indent=2)
    return {**run.final, "name": name, "data": data, "seed": seed, "wall_s": wall}


def reject_one(name, base, out_dir, settings, train=True):
    """Rejection-sample the finished run in ``out_dir`` with ``settings`` (or reuse a report made with them)."""
    from scratchgen.gan.rejection import rejection_sample_run

    path = os.path.join(out_dir, "rejection.json")
    report = None
    if os.path.exists(path):
        with open(path) as f:
            report = json.load(f)
        with open(os.path.join(out_dir, "metrics.json")) as f:
            run_config = json.load(f)["config"]
        same_run = json.dumps(report.get("run_config"), sort_keys=True) == json.dumps(run_config, sort_keys=True)
        if not same_run or any(report["settings"].get(k) != v for k, v in settings.items()) or "wall_s" not in report:
            report = None  # another generator (the base run was trained again) or other settings
    if report is None:
        if not train:
            return None
        t0 = time.perf_counter()
        report = rejection_sample_run(out_dir, **settings, progress=False)
        report["wall_s"] = time.perf_counter() - t0
        with open(path, "w") as f:
            json.dump(report, f, indent=2)
    return {**base, **report["rejection"], "name": name, "wall_s": base["wall_s"] + report["wall_s"],
            "acceptance_rate": report["acceptance_rate"]}


def summarise(results, names, datasets):
    """{(name, data): {statistic: (mean, std)}} over seeds."""
    table = {}
    for name in names:
        for data in datasets:
            rows = [r for r in results if r["name"] == name and r["data"] == data]
            if not rows:
                continue
            stats = {}
            for key in ("modes_captured", "high_quality_fraction", "kl_from_uniform", "mmd2", "wall_s"):
                v = np.array([r[key] for r in rows], dtype=float)
                # KL is infinite for a run without a high-quality sample: the mean is then infinite too
                stats[key] = (float(v.mean()), float(v.std())) if np.all(np.isfinite(v)) else (math.inf, math.nan)
            stats["n_modes"] = rows[0]["n_modes"]
            stats["steps"] = rows[0]["steps"]
            stats["seeds"] = len(rows)
            table[name, data] = stats
    return table


def _pm(mean, std, fmt):
    return f"{mean:{fmt}} ± {std:{fmt}}" if math.isfinite(mean) else "∞ (a seed without high-quality samples)"


def markdown_table(table, names, datasets, labels):
    """One row per configuration and data set: modes, % high-quality, KL, MMD², steps, wall time."""
    lines = ["| configuration | data | modes captured | high-quality % | KL(modes ‖ uniform) | MMD² "
             "| steps | seeds | s / run |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name in names:
        for data in datasets:
            s = table.get((name, data))
            if s is None:
                continue
            m, hq, kl, mmd, wall = (s[k] for k in ("modes_captured", "high_quality_fraction",
                                                  "kl_from_uniform", "mmd2", "wall_s"))
            lines.append(
                f"| {labels[name]} | {data} | {_pm(*m, '.1f')} / {s['n_modes']} "
                f"| {_pm(100 * hq[0], 100 * hq[1], '.1f')} | {_pm(*kl, '.2f')} | {_pm(*mmd, '.4f')} "
                f"| {s['steps']} | {s['seeds']} | {wall[0]:.0f} |")
    return "\n".join(lines) + "\n"


def figure_grid(out, names, datasets, seed, path):
    """Columns: configurations; rows: data sets. Seed ``seed``'s samples over the data, critic contours."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from scratchgen import backend, checkpoint, viz
    from scratchgen.data.toy import load_toy
    from scratchgen.gan.train import GANConfig, build_models
    from scratchgen.metrics import mode_coverage

    fig, axes = plt.subplots(len(datasets), len(names), figsize=(2.2 * len(names), 2.35 * len(datasets)),
                             squeeze=False)
    for j, name in enumerate(names):
        for i, data in enumerate(datasets):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(name, fontsize=9, fontweight="bold")
            if j == 0:
                ax.set_ylabel(data, fontsize=9)
            rejected = name in REJECT  # its base row's run, the accepted samples, no critic contours
            run_dir = os.path.join(out, REJECT[name][0] if rejected else name, data, f"seed{seed}")
            done = "rejection.json" if rejected else "metrics.json"  # written last: the run finished
            if not os.path.exists(os.path.join(run_dir, done)):
                ax.text(0.5, 0.5, "not run", ha="center", va="center", transform=ax.transAxes, fontsize=8)
                continue
            state = checkpoint.load(os.path.join(run_dir, "checkpoint.npz"))
            cfg = GANConfig.from_saved(state["config"])
            _, D = build_models(cfg, 2, 0)
            D.load_state_dict(state["D"])
            held_out = load_toy(data, cfg.n_eval, seed=cfg.seed + 10_000)
            samples = backend.asarray(np.load(os.path.join(run_dir, "samples_rejection.npy" if rejected else "samples.npy")))
            cov = mode_coverage(samples, held_out.centres, held_out.std)
            lim = 1.5 if data == "ring8" else 5.2
            if not rejected:
                viz.critic_contours(ax, D, lim, n=60, pack=cfg.pack)
            viz.samples_over_data(ax, held_out.x, samples, lim=lim)
            ax.set_xlabel(f"{cov.modes_captured}/{cov.n_modes} modes, {100 * cov.high_quality_fraction:.0f}% HQ",
                          fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=72)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="runs/mode_collapse", help="output directory")
    ap.add_argument("--configs", nargs="+", default=[*CONFIGS, *REJECT], choices=[*CONFIGS, *REJECT],
                    help="configurations to run")
    ap.add_argument("--data", nargs="+", default=list(DATASETS), choices=list(DATASETS), help="data sets")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="seeds (the table needs >= 3)")
    ap.add_argument("--steps", type=int, default=None, help="override every configuration's generator steps")
    ap.add_argument("--reject-steps", type=int, default=None,
                    help="override the classifier steps of the rejection rows (REJECT)")
    ap.add_argument("--jobs", type=int, default=1, help="runs in parallel (processes)")
    ap.add_argument("--no-train", action="store_true",
                    help="train nothing: build the table and figure from the finished runs in --out")
    ap.add_argument("--quick", action="store_true",
                    help="CI: 20 steps, 500 evaluated samples, seed 0, the non-saturating and PacGAN configurations")
    args = ap.parse_args(argv)

    names, seeds = args.configs, args.seeds
    overrides = {}
    if args.quick:
        names = [n for n in names if n in ("nonsaturating", "pacgan")] or names[:1]
        seeds, overrides = [0], dict(QUICK)
    if args.steps is not None:
        overrides["steps"] = args.steps
    os.makedirs(args.out, exist_ok=True)
    jobs = []
    for name in names:
        base = REJECT[name][0] if name in REJECT else name  # a rejection row works in its base row's runs
        options = {**COMMON, **CONFIGS[base][0], **overrides}
        options.setdefault("eval_every", max(1, options["steps"] // 10))
        only = CONFIGS[base][2] if len(CONFIGS[base]) > 2 else DATASETS  # some rows run on one data set
        for data in (d for d in args.data if d in only):
            for seed in seeds:
                job = (name, data, seed, options, os.path.join(args.out, base, data, f"seed{seed}"))
                if name in REJECT:
                    settings = {**REJECT[name][1], **({"steps": args.reject_steps} if args.reject_steps else {})}
                    job += (settings,)
                jobs.append(job)

    def report(r):
        print(f"{r['name']:>17} {r['data']:>6} seed {r['seed']}: {r['modes_captured']}/{r['n_modes']} "
              f"modes, {100 * r['high_quality_fraction']:.1f}% HQ, {r['wall_s']:.0f} s", flush=True)

    t0 = time.perf_counter()
    results = []
    # two phases, so that a rejection row never works in a run directory that another process is training
    for phase in ([j for j in jobs if j[0] not in REJECT], [j for j in jobs if j[0] in REJECT]):
        if args.no_train:
            results += [r for r in (run_one(job, train=False) for job in phase) if r is not None]
        elif args.jobs > 1 and len(phase) > 1:
            import multiprocessing as mp

            with mp.get_context("spawn").Pool(args.jobs) as pool:
                for r in pool.imap_unordered(run_one, phase):
                    results.append(r)
                    report(r)
        else:
            for job in phase:
                results.append(run_one(job))
                report(results[-1])
    results.sort(key=lambda r: (names.index(r["name"]), args.data.index(r["data"]), r["seed"]))

    table = summarise(results, names, args.data)
    labels = {n: LABELS_REJECT[n] if n in REJECT else CONFIGS[n][1] for n in names}
    text = markdown_table(table, names, args.data, labels)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump({"runs": results, "common": COMMON, "configs": {n: CONFIGS[n][0] for n in names if n in CONFIGS},
                   "reject": {j[0]: (REJECT[j[0]][0], j[5]) for j in jobs if j[0] in REJECT}, "overrides": overrides,
                   "seeds": seeds}, f, indent=2)
    with open(os.path.join(args.out, "table.md"), "w") as f:
        f.write(text)
    figure_grid(args.out, names, args.data, seeds[0], os.path.join(args.out, "mode_collapse.png"))
    print(text)
    print(f"wrote {args.out}/table.md, results.json, mode_collapse.png in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
