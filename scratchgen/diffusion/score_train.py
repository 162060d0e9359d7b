r"""Train a score network by denoising score matching on a 2-D set, and sample it by annealed Langevin.

References
----------
* Vincent (2011): denoising score matching; Song & Ermon (2019), NCSN: the noise-conditional
  objective with :math:`\lambda(\sigma) = \sigma^2` (their Eqs. 5-6) and annealed Langevin dynamics
  (their Algorithm 1). See :mod:`scratchgen.diffusion.score` and docs/score-matching.md.

One training step:

.. code-block:: text

    x_0 ~ q(x_0)  (scaled: z_0 = (x_0 - shift) / scale, as the DDPM trainer does)
    t ~ Uniform{1..T},  eps ~ N(0, I),  x_t = sqrt(alpha_bar_t) z_0 + sqrt(1 - alpha_bar_t) eps
    take an Adam step on  lambda_t || s_theta(x_t, t) + eps / sqrt(1 - alpha_bar_t) ||^2
    theta_ema <- mu theta_ema + (1 - mu) theta

The network is the DDPM's :class:`~scratchgen.diffusion.MLPDenoiser`, read as a score through the
identity :math:`s_\theta = -\varepsilon_\theta/\sqrt{1-\bar\alpha_t}` (the "divide by σ" output of
Song & Ermon 2020, technique 3): so with the default :math:`\lambda_t = 1-\bar\alpha_t` the loss is
Ho's :math:`L_\mathrm{simple}` term by term, and with ``weighting="none"`` it is the unweighted DSM.
Sampling is annealed Langevin over :func:`~scratchgen.diffusion.score.vp_levels` of the schedule
from :math:`\mathcal N(0, I)`, not the DDPM's ancestral sampler.

The evaluation, every ``eval_every`` steps, reports mode coverage and MMD² of the Langevin samples
(:func:`~scratchgen.diffusion.train.evaluate_samples`) and, for the sets with a closed-form mixture
(``ring8``, ``grid25``, ``gauss8``), the explicit score-matching error of the EMA network on held-out
data, :math:`\mathbb E_t(1-\bar\alpha_t)\lVert s_\theta - \nabla\log p_t\rVert^2/D`
(``esm``: the excess of the DSM loss over its minimum).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .. import backend as _backend
from .. import optim
from ..autodiff.tensor import no_grad
from ..checkpoint import load
from ..config import Config, option
from ..data.toy import TOY_DATASETS
from ..training import TrainingLoop, WeightAverage, check_descent, descend, write_outputs
from ..validate import check_bool, check_choice, check_int, check_number
from .ddpm import q_sample, sample_timesteps
from .mixture import mixture_score, noised_mixture, toy_mixture
from .models import MLPDenoiser, check_time_dim
from .schedules import Schedule, make_schedule
from .score import WEIGHTINGS, annealed_langevin, dsm_loss, esm_loss, score_model_from_eps, vp_levels
from .train import data_scaling, evaluate_samples  # the DDPM trainer's scaling and metrics, shared

__all__ = ["ScoreConfig", "ScoreRun", "ToyData", "train_score", "load_score_run", "langevin_sample", "SCORE_DATASETS"]

#: the 2-D toy sets (the network is the MLP)
SCORE_DATASETS = tuple(name for name in TOY_DATASETS if name != "mixture1d")
#: the sets whose density is a Gaussian mixture in closed form (scratchgen.diffusion.mixture.toy_mixture)
_MIXTURES = ("ring8", "grid25", "gauss8")


@dataclass
class ScoreConfig(Config):
    """Settings of one DSM run (2-D data). The defaults are those of the run in docs/results.md."""

    data: str = option("gauss8", "2-D training data (gauss8: 8 Gaussians of std 0.2 on a circle of radius 2; "
                                 "also ring8, grid25, checkerboard, swissroll, moons)", choices=SCORE_DATASETS)
    steps: int = option(6000, "Adam updates")
    batch: int = option(512, "examples per minibatch")
    lr: float = option(2e-3, "peak learning rate, cosine decay to 0")
    warmup: int = option(200, "linear warm-up steps")
    grad_clip: float | None = option(1.0, "clip the global gradient norm (none: off)")
    ema: float = option(0.995, "EMA decay of the weights that are sampled and evaluated; 0 = off")
    T: int = option(1000, "noise levels of the schedule (t = 1..T)")
    schedule: str = option("linear", "noise schedule", choices=("linear", "cosine"))
    weighting: str = option("sigma2", "lambda_t of the DSM loss: 1 - alpha_bar_t (sigma2, = L_simple) or 1 (none)",
                            choices=WEIGHTINGS)
    low_discrepancy: bool = option(True, "spread a minibatch's timesteps evenly over 1..T (VDM)")
    hidden: int = option(128, "MLP width")
    n_hidden: int = option(3, "hidden layers of the MLP")
    time_dim: int = option(32, "size of the sinusoidal time embedding")
    levels: int = option(20, "noise levels L of annealed Langevin (vp_levels)")
    langevin_steps: int = option(100, "Langevin steps per level")
    langevin_eps: float = option(2e-5, "step size at the last level (alpha_i = eps sigma_i^2 / sigma_L^2)")
    eval_every: int = option(2000, "steps between evaluations/checkpoints")
    n_eval: int = option(2000, "Langevin chains drawn for the metrics")
    seed: int = option(0, "seed of the one generator behind data, noise and weights")
    progress: bool = option(True, "show a progress bar")

    def validate(self):
        """Check every field before any work; raises ``ValueError``/``TypeError`` naming the field."""
        who = "ScoreConfig"
        check_choice(self.data, "data", who, SCORE_DATASETS)
        check_choice(self.schedule, "schedule", who, ("linear", "cosine"))
        check_choice(self.weighting, "weighting", who, WEIGHTINGS)
        for name in ("steps", "batch", "T", "hidden", "n_hidden", "time_dim", "langevin_steps", "eval_every"):
            check_int(getattr(self, name), name, who, min=1)
        check_int(self.levels, "levels", who, min=2, max=self.T, fix="at most T levels, each its own timestep")
        check_int(self.n_eval, "n_eval", who, min=2, fix="the evaluation's MMD^2 needs two samples")
        check_int(self.warmup, "warmup", who, min=0)
        check_int(self.seed, "seed", who, min=0)
        check_time_dim(self.time_dim, who)
        check_descent(self, who)
        check_number(self.langevin_eps, "langevin_eps", who, min=0, min_open=True)
        for name in ("low_discrepancy", "progress"):
            check_bool(getattr(self, name), name, who)
        # the Langevin levels must fall on distinct timesteps of the schedule
        vp_levels(make_schedule(self.schedule, self.T), self.levels)


class ToyData:
    """Fresh training draws, held-out points and the DDPM trainer's scaling z = (x - m)/s of a 2-D set
    (the attributes :func:`~scratchgen.diffusion.train.evaluate_samples` reads)."""

    def __init__(self, name, n_eval, seed):
        from ..data import load_toy

        held = load_toy(name, n_eval, seed=seed + 10_000, split="test")  # held out, for the metrics
        self.name, self.eval_x, self.centres, self.std = name, held.x, held.centres, held.std
        self.shift, self.scale = data_scaling(name)  # m (2,), one scale s for both axes
        self.shape = (held.x.shape[1],)

    def batch(self, n, gen):
        """A minibatch of scaled training data z_0 (n, 2)."""
        from ..data import load_toy

        return self.to_model(load_toy(self.name, n, seed=gen).x)

    def to_model(self, x):
        xp = _backend.get_xp(x)
        return (x - xp.asarray(self.shift, dtype=x.dtype)) / xp.asarray(self.scale, dtype=x.dtype)  # z = (x - m)/s

    def from_model(self, z):
        xp = _backend.get_xp(z)
        return z * xp.asarray(self.scale, dtype=z.dtype) + xp.asarray(self.shift, dtype=z.dtype)  # x = m + s z


@dataclass
class ScoreRun:
    """What a run leaves behind (also written to its directory)."""

    config: ScoreConfig
    model: object  # the denoiser eps_theta with the trained weights
    ema_model: object  # its moving average (the same object when ema = 0)
    schedule: Schedule
    data: object  # shift/scale, held-out data, the mixture's centres
    history: dict = field(default_factory=dict)
    final: dict = field(default_factory=dict)
    samples: object = None  # (n_eval, 2) annealed Langevin samples of the EMA score, data units

    def score(self, x, t):
        r""":math:`s_\theta(x, t)` of the EMA network at data-unit points x (N, 2), in the trainer's
        scaled units :math:`z = (x - m)/s` (the score in data units is this divided by s)."""
        with no_grad():
            xp = _backend.get_xp(x)
            z = self.data.to_model(x)
            ts = xp.full((x.shape[0],), int(t), dtype=xp.int64)
            return _backend.unwrap(score_model_from_eps(self.ema_model, self.schedule)(z, ts))


def langevin_sample(model, schedule, n, levels, n_steps, eps, seed, keep=0, dim=2):
    r"""Annealed Langevin samples (model units) of the score :math:`-\varepsilon_\theta/\sqrt{1-\bar\alpha_t}`
    over ``levels`` :func:`vp_levels`, from :math:`x \sim \mathcal N(0, I)` (the law of :math:`x_T`).
    Returns what :func:`~scratchgen.diffusion.score.annealed_langevin` returns."""
    ts, sigmas = vp_levels(schedule, levels)
    score = score_model_from_eps(model, schedule)
    g = _backend.rng(seed)
    x = g.standard_normal((n, dim), dtype=_backend.default_dtype())
    xp = _backend.get_xp(x)
    t_rows = [xp.full((n,), t, dtype=xp.int64) for t in ts]

    def score_at(v, i):  # s_theta(x, t_i), every row at level i
        return score(v, t_rows[i])

    with no_grad():
        return annealed_langevin(score_at, sigmas, x, n_steps=n_steps, eps=eps, seed=g, keep=keep)


def _esm_metric(model, schedule, data, mix, gen):
    """E_t (1 - ab_t) |s_theta - grad log p_t|^2 / D on the held-out points, t drawn evenly over 1..T."""
    z0 = data.to_model(data.eval_x)  # (n, 2)
    n = z0.shape[0]
    t = sample_timesteps(schedule.T, n, gen, low_discrepancy=True)  # (n,)
    xt = q_sample(schedule, z0, t, gen.standard_normal(z0.shape, dtype=z0.dtype))
    xp = _backend.get_xp(xt)
    true = xp.empty_like(xt)
    for tv in [int(v) for v in xp.unique(t)]:
        rows = t == tv
        true[rows] = mixture_score(noised_mixture(mix, float(schedule.alpha_bar[tv])), xt[rows])
    with no_grad():
        return float(esm_loss(schedule, score_model_from_eps(model, schedule), xt, t, true).item())


def train_score(cfg: ScoreConfig, out_dir=None, resume=None, callback=None) -> ScoreRun:
    """Train :math:`s_\\theta` by DSM as ``cfg`` says; evaluate by annealed Langevin; checkpoint; write
    ``metrics.json``, ``samples.npy`` and ``checkpoint.npz`` into ``out_dir`` (the scaffold's files)."""
    cfg.validate()
    gen = _backend.rng(cfg.seed)  # the training stream: weights, data, t and eps
    data = ToyData(cfg.data, cfg.n_eval, cfg.seed)  # fresh draws each step; z = (x - m) / s
    schedule = make_schedule(cfg.schedule, cfg.T)
    model = MLPDenoiser(2, cfg.hidden, cfg.n_hidden, cfg.time_dim, generator=gen)
    score_model = score_model_from_eps(model, schedule)  # s_theta = -eps_theta / sqrt(1 - ab_t)
    model_avg = WeightAverage(model, cfg.ema) if cfg.ema > 0 else None
    opt = optim.Adam(model.parameters(), lr=cfg.lr)
    lr_sched = (optim.LinearWarmup(opt, cfg.warmup, max(cfg.steps, cfg.warmup + 1)) if cfg.warmup
                else optim.CosineAnnealingLR(opt, cfg.steps))
    params = model.parameters()
    mix = toy_mixture(cfg.data, data.shift, data.scale) if cfg.data in _MIXTURES else None

    def step(t):
        z0 = data.batch(cfg.batch, gen)  # x_0 ~ q(x_0), scaled: (B, 2)
        # lambda_t || s_theta(x_t, t) - grad log q(x_t | x_0) ||^2 / D, t ~ U{1..T}, eps ~ N(0, I)
        loss = dsm_loss(schedule, score_model, z0, seed=gen, weighting=cfg.weighting,
                        low_discrepancy=cfg.low_discrepancy)
        descend(loss, opt, params, cfg.grad_clip, lr_sched, model_avg, t)
        return {"loss": loss}

    def evaluate(t, gen_eval, final):
        net = model_avg.module() if model_avg else model
        z = langevin_sample(net, schedule, cfg.n_eval, cfg.levels, cfg.langevin_steps, cfg.langevin_eps, gen_eval)
        x = data.from_model(z)
        metrics = evaluate_samples(x, data)
        if mix is not None:
            metrics["esm"] = _esm_metric(net, schedule, data, mix, gen_eval)
        return metrics, x

    loop = TrainingLoop("score", cfg, gen, step=step, evaluate=evaluate, modules={"model": model},
                        optimizers={"opt": opt}, schedulers={"lr_sched": lr_sched}, averages={"ema": model_avg},
                        eval_seed=cfg.seed + 30_000, hint="Try a smaller learning rate or gradient clipping.",
                        desc=f"dsm {cfg.data}", postfix=("modes_captured", "high_quality_fraction", "esm"))
    metrics, x = loop.run(out_dir, resume, callback)
    last = loop.history["loss"][-100:]
    final = {"steps": cfg.steps, "data": cfg.data, **metrics, "train_seconds": loop.seconds["train"],
             "train_cpu_seconds": loop.seconds["train_cpu"], "sample_seconds": loop.seconds["last_eval"],
             "final_loss": float(sum(last) / max(1, len(last)))}
    run = ScoreRun(cfg, model, model_avg.module() if model_avg else model, schedule, data, loop.history, final,
                   _backend.to_numpy(x))
    if out_dir:
        write_outputs(out_dir, final, cfg, loop.history, {"samples": run.samples})
    return run


def load_score_run(out_dir) -> ScoreRun:
    """The :class:`ScoreRun` of a finished :func:`train_score` run directory: the config and the weights
    (the moving average as ``ema_model`` when the run kept one) from ``checkpoint.npz``, the final
    numbers from ``metrics.json`` and the samples from ``samples.npy``. Nothing is retrained."""
    import json
    import os

    import numpy

    state = load(os.path.join(out_dir, "checkpoint.npz"))
    if state.get("kind") != "score":
        raise ValueError(f"load_score_run: {out_dir}/checkpoint.npz is not a score-matching checkpoint "
                         f"(kind {state.get('kind')!r})")
    cfg = ScoreConfig.from_saved(state["config"])
    model = MLPDenoiser(2, cfg.hidden, cfg.n_hidden, cfg.time_dim, generator=0)
    model.load_state_dict(state["model"])
    ema = model
    if "ema" in state:
        ema = MLPDenoiser(2, cfg.hidden, cfg.n_hidden, cfg.time_dim, generator=0)
        ema.load_state_dict(state["ema"])
    with open(os.path.join(out_dir, "metrics.json")) as fh:
        final = json.load(fh)["final"]
    samples = numpy.load(os.path.join(out_dir, "samples.npy"))
    return ScoreRun(cfg, model, ema, make_schedule(cfg.schedule, cfg.T), ToyData(cfg.data, cfg.n_eval, cfg.seed),
                    {}, final, samples)
