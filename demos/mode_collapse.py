r"""Mode collapse on 2-D mixtures: every GAN loss on the ring and the grid, collapse and its cures.

Protocol (Metz et al. 2017, Unrolled GAN code; Elfeki et al. 2019, GDPP; VEEGAN's metrics):

* data: ``ring8`` (8 Gaussians, radius 1, σ = 0.01, centres at angles 2πk/8) and ``grid25``
  (25 Gaussians at {−4, −2, 0, 2, 4}², σ = 0.05);
* G and D: MLPs with two hidden layers of 128 units (G: ReLU, D: LeakyReLU 0.2), z ~ N(0, I_64);
  Adam, batch 512;
* evaluation: 2500 generated samples; each goes to its nearest centre and is *high-quality*
  if within 3σ of it; *modes captured* = centres with at least one high-quality sample
  (:func:`scratchgen.metrics.mode_coverage`); also KL of the mode histogram from uniform and
  MMD² to 2500 held-out data points;
* the table reports mean ± std over seeds (population std, ``numpy.std``).

Three sweeps, one per ``--out`` directory:

* the **tour** (the default, about 5 minutes on 2 idle cores): each GAN loss (minimax,
  non-saturating, LSGAN, WGAN-GP, hinge + spectral norm) for 1000 steps on the ring and the grid, one
  seed; the non-saturating GAN and its cure PacGAN on the ring with three seeds (collapse depends on
  the seed); PacGAN + an MMD² term on the grid and the same run after rejection sampling; and the
  optimal discriminator in 1-D (``demos/optimal_discriminator.py``). ``TOUR`` lists it.
* ``--full``: the reproduction of ``docs/results.md`` (``CONFIGS`` and ``REJECT``: three seeds, 2000
  to 60000 steps; hours, see the README).
* ``--quick``: seconds (CI): the non-saturating GAN and PacGAN for 20 steps, seed 0.

The configurations of ``--full`` (``CONFIGS``): the minimax and non-saturating GAN (Goodfellow et al. 2014),
LSGAN (Mao et al. 2017), WGAN with weight clipping (Arjovsky et al. 2017), WGAN-GP (Gulrajani
et al. 2017), hinge loss with spectral norm (Miyato et al. 2018), the unrolled GAN
(Metz et al. 2017), PacGAN packing (Lin et al. 2018), and, on the grid only, PacGAN with an MMD²
term in the generator's loss and 3 critic steps (``pacgan-mmd``, 60000 steps: the runs that keep
all 25 modes), and ``pacgan-mmd-reject``: the same runs after rejection sampling with a learnt density
ratio (``REJECT``; :mod:`scratchgen.gan.rejection`). All share one optimiser setting (``COMMON``: Adam, lr 1e-3,
cosine decay to 0), except the two ``-1e-4`` rows, which use the constant Adam 1e-4 of Metz et al.'s code
(where the papers report the plain GAN's collapse), and the PacGAN rows.

Outputs in ``--out``, rewritten (atomically) after every finished run, so that an interrupted sweep
leaves a useful partial result: ``results.json`` (every run's numbers and each row's settings),
``table.md`` (the Markdown table), ``mode_collapse.png`` (one panel per row and data set: the first
seed's samples over the data on the critic's contours, modes and high-quality share in the panel, the
row's loss and tricks in its title); one run directory per (row, data, seed), ``ROW/DATA/seedS``,
with the files of ``scratchgen train gan``; ``optimal_discriminator/`` (tour and quick).

Rerunning resumes: a finished run whose settings match is read back, never trained again or
overwritten; an interrupted one continues from its last checkpoint (bit for bit as if it had not
stopped). A run directory that holds a run with *other* settings (another sweep, another ``--steps``)
is refused before anything is trained or written, with the differences named: each ``--out`` holds
one sweep (``--quick`` or ``--full`` after the tour needs its own ``--out``).

Runs go through joblib (loky processes on one machine); each worker pins its BLAS to one thread
(threadpoolctl), so the numbers do not depend on the machine's thread count or on ``--jobs``, whose
default is the cores this process may use. On a Dask cluster (the run directories on a file system the
workers share, scratchgen installed on them)::

    import joblib, runpy
    from dask.distributed import Client
    client = Client("tcp://scheduler:8786")
    main = runpy.run_path("demos/mode_collapse.py")["main"]
    with joblib.parallel_config(backend="dask"):
        main(["--out", "/shared/runs/mode_collapse_full", "--full", "--jobs", "-1"])

(Ray: ``from ray.util.joblib import register_ray; register_ray()`` and ``backend="ray"``.)

    python demos/mode_collapse.py --out runs/mode_collapse              # the tour, minutes
    python demos/mode_collapse.py --out runs/mode_collapse_full --full  # docs/results.md, hours
    python demos/mode_collapse.py --out runs/mc_quick --quick           # seconds (CI)
"""
import argparse
import dataclasses
import importlib.util
import json
import math
import os
import time

import numpy as np

# Every configuration trains with the same optimiser: Adam(lr 1e-3 for both players, betas (0.5, 0.999))
# with a cosine decay of both learning rates to 0 over the run; the other settings are GANConfig's
# defaults: two hidden layers of 128 units, z in R^64, batch 512, 2500 evaluated samples.
COMMON = dict(lr_g=1e-3, lr_d=1e-3, lr_schedule="cosine")
DATASETS = ("ring8", "grid25")
SEEDS = (0, 1, 2)


@dataclasses.dataclass(frozen=True)
class Row:
    """One row of the table: GANConfig ``options`` (over ``COMMON``) on ``data``, with ``seeds``.

    ``seeds`` is a tuple, or a dict data -> tuple where the data sets get different seeds. A row with
    ``reject`` (the settings of :func:`~scratchgen.gan.rejection.rejection_sample_run`) reports the runs
    of the row ``base`` after rejection sampling: it works in the base row's run directories.
    """

    name: str
    label: str
    options: dict = dataclasses.field(default_factory=dict)
    data: tuple = DATASETS
    seeds: object = SEEDS
    base: str = None
    reject: dict = None

    def seeds_for(self, data):
        return tuple(self.seeds[data]) if isinstance(self.seeds, dict) else tuple(self.seeds)


# name -> (options, label in the table[, the data sets it runs on]): the rows of docs/results.md (--full).
# Every baseline row gets 2000 generator steps; a step with 5 critic updates (WGAN, WGAN-GP) or a 5-step
# unrolled critic costs several plain steps, so those runs take about 1-3 minutes of one core, the plain ones
# under a minute.
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

FULL = [Row(name, c[1], c[0], c[2] if len(c) > 2 else DATASETS) for name, c in CONFIGS.items()] + [
    Row(name, LABELS_REJECT[name], CONFIGS[base][0], CONFIGS[base][2], base=base, reject=settings)
    for name, (base, settings) in REJECT.items()]

# The tour (the default): every loss for 1000 steps, one seed; the non-saturating GAN's collapse and PacGAN's
# cure on the ring with three seeds; the grid's cure (PacGAN + MMD² term) shortened to 5000 steps, then
# rejection-sampled with a classifier of 10000 steps. About 13 core-minutes in all (the README gives the time).
_PAC = dict(loss="nonsaturating", pack=4, d_steps=2, lr_g=2e-3, lr_d=2e-2)
TOUR = [
    Row("minimax", "GAN, minimax", dict(loss="minimax", steps=1000), seeds=(0,)),
    Row("nonsaturating", "GAN, non-saturating", dict(loss="nonsaturating", steps=1000),
        seeds={"ring8": SEEDS, "grid25": (0,)}),
    Row("lsgan", "LSGAN", dict(loss="lsgan", steps=1000), seeds=(0,)),
    Row("wgan-gp", "WGAN-GP, λ = 10, 5 critic steps", dict(loss="wgan", penalty="gp", d_steps=5, steps=1000),
        seeds=(0,)),
    Row("hinge-sn", "hinge + spectral norm", dict(loss="hinge", spectral_norm=True, steps=1000), seeds=(0,)),
    Row("pacgan", "PacGAN4, 2 critic steps, lr_G 2e-3, lr_D 2e-2", dict(_PAC, steps=2000),
        seeds={"ring8": SEEDS, "grid25": (0,)}),
    Row("pacgan-mmd", "PacGAN4, 3 critic steps, + 50·MMD² in G's loss",
        dict(_PAC, d_steps=3, mmd_weight=50.0, mmd_samples=256, steps=5000), data=("grid25",), seeds=(0,)),
    Row("pacgan-mmd-reject", "the same run + rejection sampling with a learnt log p/q (10000 classifier steps)",
        dict(_PAC, d_steps=3, mmd_weight=50.0, mmd_samples=256, steps=5000), data=("grid25",), seeds=(0,),
        base="pacgan-mmd", reject=dict(steps=10000, batch=512, lr=1e-3, seed=0)),
]
QUICK = dict(steps=20, n_eval=500)  # CI: the protocol's networks, 20 steps (an evaluation every 2)
QUICK_ROWS = ("nonsaturating", "pacgan")
OPTIMAL_D_STEPS = {"tour": 3000, "quick": 200}  # the 1-D optimal-discriminator picture (not in --full)


class SweepError(SystemExit):
    """The sweep refuses to start (a run directory with other settings); the message says why and what to do."""


# ---------------------------------------------------------------------------
# Jobs: one per run directory; a job returns the results of the rows it serves
# ---------------------------------------------------------------------------
def cost(options, reject=None):
    """A rough cost of a run, in plain generator steps of one core (for the order of the jobs and the ETA).

    One plain step (a critic and a generator update) counts 2: a critic update 1 (x2 with the gradient
    penalty, x4.5 with spectral norm, x0.5 on packs of 4), a generator update 1 (+2.5 per unrolled step, +1
    for the MMD term); plus 500 for the evaluation and figures, and 0.75 per classifier step of rejection.
    """
    o = {"d_steps": 1, "penalty": None, "spectral_norm": False, "pack": 1, "unrolled": 0, "mmd_weight": 0.0,
         **options}
    critic = (2.0 if o["penalty"] == "gp" else 1.0) * (4.5 if o["spectral_norm"] else 1.0) * (0.5 if o["pack"] > 1 else 1)
    gen = 1.0 + 2.5 * o["unrolled"] + (1.0 if o["mmd_weight"] else 0.0)
    return o["steps"] * (o["d_steps"] * critic + gen) + 500 + (0.75 * reject["steps"] if reject else 0)


def _config_dict(cfg):
    """A GANConfig (or a saved config dict) as plain JSON, without the progress flag (no setting of the run)."""
    d = dataclasses.asdict(cfg) if dataclasses.is_dataclass(cfg) else dict(cfg)
    d.pop("progress", None)
    return json.loads(json.dumps(d))


def _differences(saved, wanted):
    keys = sorted(set(saved) | set(wanted))
    return [f"{k}: {saved.get(k)!r} there, {wanted.get(k)!r} asked" for k in keys if saved.get(k) != wanted.get(k)]


def _read_json(path):
    with open(path) as f:
        return json.load(f)


def run_state(job):
    """What ``job``'s run directory holds: ``("done" | "resume" | "new", None)`` or ``("conflict", reasons)``.

    done: ``metrics.json`` of a finished run of these settings (timed by this demo, ``wall_s``) and, for a
    rejection row, ``rejection.json`` of these settings; resume: a checkpoint of these settings but no
    finished run (or no rejection yet); conflict: a run or a rejection with other settings.
    """
    from scratchgen import checkpoint
    from scratchgen.gan.train import GANConfig

    out_dir, wanted = job["dir"], _config_dict(GANConfig(**job["config"]))
    metrics_path, ckpt_path = os.path.join(out_dir, "metrics.json"), os.path.join(out_dir, "checkpoint.npz")
    if os.path.exists(metrics_path):
        saved = _config_dict(_read_json(metrics_path)["config"])
    elif os.path.exists(ckpt_path):
        saved = _config_dict(GANConfig.from_saved(checkpoint.load(ckpt_path)["config"]))
    else:
        return "new", None
    diffs = _differences(saved, wanted)
    if diffs:
        return "conflict", diffs
    finished = os.path.exists(metrics_path) and "wall_s" in _read_json(metrics_path)
    for settings in job["reject"]:
        path = os.path.join(out_dir, "rejection.json")
        if not os.path.exists(path):
            finished = False
            continue
        report = _read_json(path)
        diffs = [f"rejection {k}: {report['settings'].get(k)!r} there, {v!r} asked" for k, v in settings.items()
                 if report["settings"].get(k) != v]
        if diffs:
            return "conflict", diffs
        finished = finished and "wall_s" in report
    return ("done" if finished else "resume"), None


def run_job(job, train=True):
    """Train (or resume, or read back) one run directory; rejection-sample it for each rejection row.

    ``job``: {"dir", "config" (GANConfig fields), "rows": [(row name, rejection settings or None), ...],
    "reject": [the rows' rejection settings]}. Returns one result per row (the run's final metrics, or the
    accepted samples' for a rejection row, with ``name``, ``data``, ``seed`` and ``wall_s``); with
    ``train=False`` only finished work is read back (a row not finished gives no result).
    """
    from scratchgen import checkpoint
    from scratchgen.gan.train import GANConfig, train_gan
    from scratchgen.training import write_json

    cfg = GANConfig(**{**job["config"], "progress": False})
    out_dir = job["dir"]
    metrics_path, ckpt_path = os.path.join(out_dir, "metrics.json"), os.path.join(out_dir, "checkpoint.npz")
    metrics = _read_json(metrics_path) if os.path.exists(metrics_path) else None
    if metrics is None or "wall_s" not in metrics:
        if not train:
            return []
        resume, before = None, 0.0
        if os.path.exists(ckpt_path):  # an interrupted run of these settings (run_state checked them)
            resume = ckpt_path
            timing = checkpoint.load(ckpt_path).get("timing_seconds", {})
            before = float(timing.get("train", 0.0)) + float(timing.get("eval", 0.0))
        t0 = time.perf_counter()
        train_gan(cfg, out_dir=out_dir, resume=resume)
        metrics = _read_json(metrics_path)
        metrics["wall_s"] = before + time.perf_counter() - t0
        write_json(metrics_path, metrics)
    base = {**metrics["final"], "data": cfg.data, "seed": cfg.seed, "wall_s": metrics["wall_s"]}
    results = []
    for name, settings in job["rows"]:
        if settings is None:
            results.append({**base, "name": name})
            continue
        report = reject_run(out_dir, settings, train)
        if report is not None:
            results.append({**base, **report["rejection"], "name": name, "wall_s": base["wall_s"] + report["wall_s"],
                            "acceptance_rate": report["acceptance_rate"]})
    return results


def reject_run(out_dir, settings, train=True):
    """Rejection-sample the finished run in ``out_dir`` with ``settings``, or read back the report made with them."""
    from scratchgen.gan.rejection import rejection_sample_run
    from scratchgen.training import write_json

    path = os.path.join(out_dir, "rejection.json")
    if os.path.exists(path):
        report = _read_json(path)
        if "wall_s" in report:
            return report
    if not train:
        return None
    t0 = time.perf_counter()
    report = rejection_sample_run(out_dir, **settings, progress=False)
    report["wall_s"] = time.perf_counter() - t0
    write_json(path, report)
    return report


def optimal_d_job(out_dir, steps, seed=0, train=True):
    """The 1-D optimal-discriminator picture (``demos/optimal_discriminator.py``), or its finished metrics."""
    path = os.path.join(out_dir, "metrics.json")
    if os.path.exists(path):
        old = _read_json(path)
        if old.get("steps") == steps and old.get("seed") == seed:
            return old
    if not train:
        return None
    t0 = time.perf_counter()
    metrics = _demo("optimal_discriminator").run(out_dir, steps, seed=seed)
    metrics["wall_s"] = time.perf_counter() - t0
    from scratchgen.training import write_json

    write_json(path, metrics)
    return metrics


def _demo(name):
    """Another demo of this folder, loaded by path (demos/ is no package)."""
    spec = importlib.util.spec_from_file_location(f"demo_{name}", os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                                              f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def blas_threads():
    """The most threads any BLAS/OpenMP pool of this process would use now (threadpoolctl)."""
    from threadpoolctl import threadpool_info

    return max((p["num_threads"] for p in threadpool_info()), default=1)


def pinned(fn, *args):
    """``fn(*args)`` with every BLAS and OpenMP pool of the process limited to one thread (threadpoolctl).

    A sum split over threads adds in another order, and a GAN's training is chaotic enough that such
    last-bit differences grow into other results; one thread per worker makes them the same everywhere.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return fn(*args)


def _work(i, task):
    """What a worker runs: task ``i``, a (kind, arguments) pair, with BLAS pinned to one thread. Returns
    ``(i, result, None)``, or ``(i, None, the error)`` when it fails (the other runs go on)."""
    import traceback

    kind, args = task
    try:
        return i, pinned(run_job if kind == "gan" else optimal_d_job, *args), None
    except Exception as e:  # noqa: BLE001  (reported with the task at the end; the sweep goes on)
        return i, None, f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=3)}"


# ---------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------
# The overview figure: one panel per (row, data) that the sweep runs
# ---------------------------------------------------------------------------
def panel(out, row, data, seed, result, n=80):
    """What the figure draws for ``row`` on ``data``: the run's config, the samples (the accepted ones for a
    rejection row), held-out data, and the critic's scores on an n x n grid (none for a rejection row)."""
    from scratchgen import backend, checkpoint, viz
    from scratchgen.data.toy import load_toy
    from scratchgen.gan.train import GANConfig, build_models

    run_dir = os.path.join(out, row.base or row.name, data, f"seed{seed}")
    state = checkpoint.load(os.path.join(run_dir, "checkpoint.npz"))
    cfg = GANConfig.from_saved(state["config"])
    held_out = load_toy(data, cfg.n_eval, seed=cfg.seed + 10_000)
    lim = 1.5 if data == "ring8" else 5.2
    p = {"cfg": cfg, "lim": lim, "data": backend.to_numpy(held_out.x), "result": result, "scores": None,
         "samples": np.load(os.path.join(run_dir, "samples_rejection.npy" if row.reject else "samples.npy"))}
    if not row.reject:
        _, D = build_models(cfg, 2, 0)
        D.load_state_dict(state["D"])
        g = np.linspace(-lim, lim, n)
        xx, yy = np.meshgrid(g, g)
        s = viz.critic_scores(D, np.stack([xx.ravel(), yy.ravel()], 1), cfg.pack).reshape(n, n).astype(float)
        span = s.max() - s.min()
        p["scores"] = (xx, yy, (s - s.min()) / span if span > 0 else np.full_like(s, 0.5))  # 0 lowest .. 1 highest
    return p


def panel_title(row, cfg, width=40):
    """The row's name and data, then its loss and every trick (:func:`scratchgen.viz.run_title`), its learning
    rates where they are not Adam 1e-3 with cosine decay, and its steps; lines of about ``width`` characters,
    broken between tricks only."""
    from scratchgen import viz

    if row.reject:
        return (f"{row.name} · {cfg.data}\nthe {row.base} run, {cfg.steps} steps, then rejection\n"
                f"sampling (log p/q classifier, {row.reject['steps']} steps)")
    parts = viz.run_title(cfg, width=10_000).split(" on ")[0].replace(" + cosine lr", "").split(" + ")
    parts = [parts[0]] + [f"+ {p}" for p in parts[1:]]
    if (cfg.lr_g, cfg.lr_d) != (1e-3, 1e-3):
        parts.append(f"lr_G {cfg.lr_g:g}, lr_D {cfg.lr_d:g}" if cfg.lr_g != cfg.lr_d else f"lr {cfg.lr_g:g}")
    if cfg.lr_schedule is None:
        parts[-1] += " constant"
    parts.append(f"{cfg.steps} steps")
    lines = [parts[0]]
    for p in parts[1:]:
        sep = " " if p.startswith("+") else ", "
        if len(lines[-1]) + len(sep) + len(p) <= width:
            lines[-1] += sep + p
        else:
            lines[-1] += "" if p.startswith("+") else ","
            lines.append(p)
    return f"{row.name} · {cfg.data}\n" + "\n".join(lines)


def figure_grid(panels, path, ncols=4):
    """One panel per (row, data) in ``panels`` (a list of (row, panel) pairs): samples over held-out data on
    the critic's output rescaled within the panel; modes captured and high-quality share written inside."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.lines import Line2D

    from scratchgen import viz

    ncols = max(1, min(ncols, len(panels)))
    nrows = max(1, math.ceil(len(panels) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.4 * ncols, 4.0 * nrows + 1.2), squeeze=False,
                             layout="constrained")
    fig.get_layout_engine().set(wspace=0.06)
    for ax in axes.flat[len(panels):]:
        ax.set_axis_off()
    titles = [panel_title(row, p["cfg"]) for row, p in panels]
    lines = [max(t.count("\n") for t in titles[i - i % ncols:i - i % ncols + ncols]) for i in range(len(titles))]
    for ax, (row, p), title, n_lines in zip(axes.flat, panels, titles, lines):
        if p["scores"] is not None:
            ax.contourf(*p["scores"], levels=np.linspace(0, 1, 11), cmap="coolwarm", alpha=0.6)
        ax.scatter(p["data"][:, 0], p["data"][:, 1], s=2, c="0.5", linewidths=0)
        ax.scatter(p["samples"][:, 0], p["samples"][:, 1], s=2, c="navy", alpha=0.5, linewidths=0)
        ax.set_xlim(-p["lim"], p["lim"])
        ax.set_ylim(-p["lim"], p["lim"])
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(" \n" * (n_lines - title.count("\n")) + title, fontsize=9, loc="left")  # as tall as its row's
        r = p["result"]
        text = f"{r['modes_captured']}/{r['n_modes']} modes\n{100 * r['high_quality_fraction']:.1f}% HQ"
        if row.reject:
            text += f"\n{100 * r['acceptance_rate']:.0f}% accepted"
        ax.text(0.03, 0.97, text, transform=ax.transAxes, ha="left", va="top", fontsize=9, fontweight="bold",
                bbox=dict(boxstyle="round,pad=0.25", fc="white", ec="0.6", alpha=0.85))
    fig.suptitle("Samples G(z) of each row's first seed over held-out data, on the critic's output.  HQ: share of "
                 "samples within 3σ of a centre;\na mode is captured by one HQ sample.  Adam with both learning "
                 "rates 1e-3 and cosine decay unless the title says otherwise.", fontsize=10)
    handles = [Line2D([], [], ls="", marker="o", ms=5, c="0.5", label="data (held out)"),
               Line2D([], [], ls="", marker="o", ms=5, c="navy", label="samples G(z) (after rejection: the accepted ones)")]
    fig.legend(handles=handles, loc="outside lower left", ncol=2, fontsize=9, frameon=False)
    cbar = fig.colorbar(ScalarMappable(Normalize(0, 1), "coolwarm"), ax=axes, location="bottom", shrink=0.45,
                        aspect=40, pad=0.01, alpha=0.6)
    cbar.set_label("critic output, rescaled in each panel: 0 = its lowest (judged fake), 1 = its highest (judged real)",
                   fontsize=9)
    cbar.ax.tick_params(labelsize=8)
    viz.save_figure(fig, path, dpi=150)


# ---------------------------------------------------------------------------
# The sweep
# ---------------------------------------------------------------------------
def default_jobs():
    """The cores this process may run on (``os.sched_getaffinity`` where the platform has it)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def profile_rows(args):
    """The profile's rows, with the command line's overrides applied; and the profile's name."""
    profile = "full" if args.full else "quick" if args.quick else "tour"
    rows = FULL if args.full else TOUR
    if args.quick:
        rows = [dataclasses.replace(r, options={**r.options, **QUICK}, seeds=(0,)) for r in TOUR if r.name in QUICK_ROWS]
    if args.configs:
        known = {r.name for r in rows}
        unknown = [c for c in args.configs if c not in known]
        if unknown:
            raise SweepError(f"--configs: {', '.join(unknown)} not among the {profile} sweep's rows "
                             f"({', '.join(r.name for r in rows)})")
        rows = [r for r in rows if r.name in args.configs]
    out = []
    for r in rows:
        options = dict(r.options)
        if args.steps is not None:
            options["steps"] = args.steps
        reject = r.reject and {**r.reject, **({"steps": args.reject_steps} if args.reject_steps else {})}
        options.setdefault("eval_every", max(1, options["steps"] // 10))
        out.append(dataclasses.replace(r, options={**COMMON, **options}, data=tuple(d for d in r.data if d in args.data),
                                       seeds=tuple(args.seeds) if args.seeds else r.seeds, reject=reject))
    return profile, [r for r in out if r.data]


def make_jobs(rows, out):
    """One job per run directory; a rejection row joins the job of its base run's directory."""
    jobs = {}
    for r in rows:
        for data in r.data:
            for seed in r.seeds_for(data):
                run_dir = os.path.join(out, r.base or r.name, data, f"seed{seed}")
                job = jobs.setdefault(run_dir, {"dir": run_dir, "config": {**r.options, "data": data, "seed": seed},
                                                "rows": [], "reject": []})
                job["rows"].append((r.name, r.reject))
                if r.reject:
                    job["reject"].append(r.reject)
    return list(jobs.values())


def _row_record(r):
    return {"label": r.label, "options": r.options, "data": list(r.data), "base": r.base, "reject": r.reject,
            "seeds": {d: list(r.seeds_for(d)) for d in r.data}}


def _row_from_record(name, rec):
    return Row(name, rec["label"], rec["options"], tuple(rec["data"]), {d: tuple(s) for d, s in rec["seeds"].items()},
               rec["base"], rec["reject"])


def check_sweep(out, profile, rows, jobs, od_steps):
    """Refuse (``SweepError``) before anything is written if ``out`` holds work with other settings: a run
    directory of another config or rejection, a row of the same name with other options, or another
    optimal-discriminator run. Return the rows already recorded in ``out/results.json`` (kept in the table)."""
    problems, earlier = [], {}
    path = os.path.join(out, "results.json")
    if os.path.exists(path):
        record = _read_json(path)
        earlier = {n: _row_from_record(n, rec) for n, rec in record.get("rows", {}).items()}
        for r in rows:
            old = earlier.get(r.name)
            if old is not None and (old.options != json.loads(json.dumps(r.options)) or old.reject != r.reject):
                diffs = _differences(old.options, json.loads(json.dumps(r.options)))
                diffs += [] if old.reject == r.reject else [f"rejection: {old.reject} there, {r.reject} asked"]
                problems.append(f"row {r.name} of the '{record.get('profile')}' sweep in {out}: {'; '.join(diffs)}")
    for job in jobs:
        state, diffs = run_state(job)
        if state == "conflict":
            problems.append(f"{job['dir']}: {'; '.join(diffs)}")
    od_path = os.path.join(out, "optimal_discriminator", "metrics.json")
    if od_steps and os.path.exists(od_path) and _read_json(od_path).get("steps") != od_steps:
        problems.append(f"{od_path}: steps {_read_json(od_path).get('steps')} there, {od_steps} asked")
    if problems:
        shown = problems[:8] + ([f"... and {len(problems) - 8} more"] if len(problems) > 8 else [])
        raise SweepError(
            f"mode_collapse: {out} holds runs with other settings than this {profile} sweep asks for; nothing was "
            "trained or written:\n  " + "\n  ".join(shown) + "\nEach --out holds one sweep: give this one another "
            f"--out (e.g. {out.rstrip(os.sep)}-{profile}), or delete those directories to train them again.")
    return {n: r for n, r in earlier.items() if n not in {r.name for r in rows}}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="runs/mode_collapse", help="output directory (one sweep per directory)")
    which = ap.add_mutually_exclusive_group()
    which.add_argument("--full", action="store_true",
                       help="the full reproduction of docs/results.md (CONFIGS and REJECT, 3 seeds; hours)")
    which.add_argument("--quick", action="store_true",
                       help="CI: 20 steps, 500 evaluated samples, seed 0, the non-saturating and PacGAN rows")
    ap.add_argument("--configs", nargs="+", default=None, metavar="ROW",
                    help=f"only these rows (tour: {' '.join(r.name for r in TOUR)}; --full: "
                         f"{' '.join(r.name for r in FULL)})")
    ap.add_argument("--data", nargs="+", default=list(DATASETS), choices=list(DATASETS), help="data sets")
    ap.add_argument("--seeds", nargs="+", type=int, default=None, help="seeds of every row (default: each row's own)")
    ap.add_argument("--steps", type=int, default=None, help="override every row's generator steps")
    ap.add_argument("--reject-steps", type=int, default=None, help="override the classifier steps of the rejection rows")
    ap.add_argument("--jobs", type=int, default=None,
                    help="runs in parallel (joblib workers; default: the cores available, here "
                         f"{default_jobs()}; -1 on a cluster: all its workers)")
    ap.add_argument("--no-train", action="store_true",
                    help="train nothing: build the table and figure from the finished runs in --out")
    args = ap.parse_args(argv)

    profile, rows = profile_rows(args)
    out = args.out
    jobs = make_jobs(rows, out)
    od_steps = OPTIMAL_D_STEPS.get(profile) if not args.configs else None
    earlier = check_sweep(out, profile, rows, jobs, od_steps)
    all_rows = list(earlier.values()) + rows  # rows an earlier sweep into --out recorded stay in the table
    report_jobs = make_jobs(list(earlier.values()), out)
    os.makedirs(out, exist_ok=True)

    results, od = {}, None  # (name, data, seed) -> result

    def add(res):
        for r in res:
            results[r["name"], r["data"], r["seed"]] = r

    for job in report_jobs:
        add(run_job(job, train=False))
    todo = []
    for job in jobs:
        if run_state(job)[0] == "done":
            add(run_job(job, train=False))
        elif not args.no_train:
            todo.append(("gan", (job,)))
    od_dir = os.path.join(out, "optimal_discriminator")
    if od_steps:
        od = optimal_d_job(od_dir, od_steps, train=False)
        if od is None and not args.no_train:
            todo.append(("optimal_d", (od_dir, od_steps)))
    elif os.path.exists(os.path.join(od_dir, "metrics.json")):  # an earlier sweep's picture stays in results.json
        od = _read_json(os.path.join(od_dir, "metrics.json"))

    def task_cost(task):
        kind, a = task
        if kind == "optimal_d":
            return 0.3 * a[1]
        reject = a[0]["reject"][0] if a[0]["reject"] else None
        return cost(a[0]["config"], reject)

    todo.sort(key=task_cost, reverse=True)  # longest first: the shortest total time on a few workers
    cache = {}  # the figure's panels, drawn once per run
    text = write_outputs(out, profile, all_rows, results, od, cache)  # the finished runs, before any training
    n_jobs = args.jobs if args.jobs is not None else default_jobs()
    t0, failed = time.perf_counter(), []
    if not todo:
        print(f"mode_collapse: nothing to train: {len(jobs) + bool(od_steps)} finished runs in {out}", flush=True)
    else:
        import joblib
        from tqdm.auto import tqdm

        total, done = sum(task_cost(t) for t in todo), 0
        reused = len(jobs) + bool(od_steps) - len(todo)
        print(f"mode_collapse: {len(todo)} runs to train in {out} ({reused} finished ones reused), {n_jobs} workers",
              flush=True)
        bar = tqdm(total=total, unit="", bar_format="{desc} {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}]",
                   desc=f"runs 0/{len(todo)} done, {len(todo)} left", dynamic_ncols=True)
        tasks = joblib.Parallel(n_jobs=n_jobs, return_as="generator_unordered", batch_size=1, pre_dispatch="n_jobs")(
            joblib.delayed(_work)(i, t) for i, t in enumerate(todo))
        with bar:
            for i, res, error in tasks:
                done += 1
                kind, a = todo[i]
                where = a[0] if kind == "optimal_d" else a[0]["dir"]
                if error is not None:
                    failed.append(f"{where}: {error}")
                    bar.write(f"FAILED {where}: {error.splitlines()[0]}")
                elif kind == "optimal_d":
                    od = res
                    bar.write(f"optimal discriminator: max |D - D*| = {res['max_abs_error']:.3f} ({res['wall_s']:.0f} s)")
                else:
                    add(res)
                    for r in res:
                        bar.write(f"{r['name']:>18} {r['data']:>6} seed {r['seed']}: {r['modes_captured']:>2}/{r['n_modes']} "
                                  f"modes, {100 * r['high_quality_fraction']:5.1f}% HQ ({r['wall_s']:.0f} s)")
                bar.update(task_cost(todo[i]))
                bar.set_description_str(f"runs {done}/{len(todo)} done, {len(todo) - done} left")
                text = write_outputs(out, profile, all_rows, results, od, cache)
    print(text)
    missing = sum(len(r.seeds_for(d)) for r in all_rows for d in r.data) - len(results)
    if missing:
        print(f"{missing} runs are not finished (--no-train, or they failed); rerun to train them")
    print(f"wrote {out}/table.md, results.json, mode_collapse.png in {time.perf_counter() - t0:.0f} s")
    if failed:
        raise SystemExit(f"mode_collapse: {len(failed)} runs failed:\n" + "\n".join(failed))


def write_outputs(out, profile, rows, results, od, cache):
    """results.json, table.md and mode_collapse.png of every finished run so far (each written atomically);
    returns the table's text. ``cache`` keeps the figure's panels between calls."""
    from scratchgen.checkpoint import atomic_write
    from scratchgen.training import write_json

    order = {r.name: i for i, r in enumerate(rows)}
    runs = sorted(results.values(), key=lambda r: (order.get(r["name"], len(order)), DATASETS.index(r["data"]), r["seed"]))
    names = [r.name for r in rows]
    text = markdown_table(summarise(runs, names, DATASETS), names, DATASETS, {r.name: r.label for r in rows})
    write_json(os.path.join(out, "results.json"),
               {"profile": profile, "runs": runs, "optimal_discriminator": od,
                "rows": {r.name: _row_record(r) for r in rows}, "common": COMMON})
    with atomic_write(os.path.join(out, "table.md"), "w") as f:
        f.write(text)
    panels = []
    for r in rows:
        for data in r.data:
            seed = r.seeds_for(data)[0]
            result = results.get((r.name, data, seed))
            if result is None:
                continue
            key = (r.name, data, seed)
            if key not in cache:
                cache[key] = panel(out, r, data, seed, result)
            panels.append((r, cache[key]))
    if panels:
        figure_grid(panels, os.path.join(out, "mode_collapse.png"))
    return text


if __name__ == "__main__":
    main()
