r"""Train a DDPM on a toy 2-D distribution or on the 8×8 digits: a readable loop around ``loss_simple``.

References
----------
* Ho, Jain & Abbeel (2020), DDPM: Algorithm 1 (training), Algorithm 2 (sampling), Eq. 14
  (:math:`L_\mathrm{simple}`); their training code keeps an exponential moving average of
  the weights (decay 0.9999) and samples with it.
* Nichol & Dhariwal (2021), *Improved DDPM*, Sec. 4: sampling on a subsequence of the
  timesteps by *respacing* the schedule (:func:`respace`).
* Song, Meng & Ermon (2021), DDIM: the deterministic sampler of ``samplers.ddim_sample``.

One training step (Ho Algorithm 1):

.. code-block:: text

    x_0 ~ q(x_0)  (scaled: z_0 = (x_0 - shift) / scale)
    t ~ Uniform{1..T},  eps ~ N(0, I)
    take an Adam step on  || eps - eps_theta(sqrt(alpha_bar_t) z_0 + sqrt(1 - alpha_bar_t) eps, t) ||^2
    theta_ema <- mu theta_ema + (1 - mu) theta

Around it: the learning rate decays by a cosine to 0 (after a short linear warm-up), a
progress bar (tqdm), evaluation every ``eval_every`` steps (samples from the EMA weights by
the ancestral sampler; mode coverage for the mixtures, MMD² to held-out data), a check that
stops with a clear message at the first non-finite loss or parameter, leaving the last good
checkpoint on disk, and bit-identical resume from a checkpoint (one seeded generator, saved
with the weights).

**Data scaling.** The forward process ends at :math:`\mathcal N(0, I)`, so the data should
have about unit scale (Ho scale images to [−1, 1]). The 2-D sets are standardised with one
shift per axis and *one* scale for all axes (so circles stay circles):
:math:`z = (x - m)/s`, :math:`s^2` the mean per-axis variance, estimated once from
100,000 draws; samples are mapped back by :math:`x = m + s z` before they are evaluated or
written. The digits are used as the library's image metrics use them: pixel values 0..16 as
:math:`x/8 - 1 \in [-1, 1]`, the stratified split of ``digits_split`` (1,258 to train on,
539 held out).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

from .. import backend as _backend
from .. import optim
from ..autodiff.tensor import no_grad
from ..checkpoint import load
from ..config import Config, option
from ..data.toy import TOY_DATASETS, check_toy_data, is_toy_file
from ..training import (  # the scaffold of every trainer
    TrainingDiverged,
    TrainingLoop,
    WeightAverage,
    check_descent,
    descend,
    write_outputs,
)
from ..validate import bad, check_bool, check_choice, check_int, check_number, check_pair
from .ddpm import loss_simple
from .fourier import FourierMLPDenoiser
from .models import ConvDenoiser, MLPDenoiser, check_time_dim
from .samplers import SAMPLERS, generate
from .schedules import Schedule, make_schedule

__all__ = ["DDPMConfig", "DDPMRun", "TrainingDiverged", "DATASETS", "SAMPLERS", "build_model", "data_scaling",
           "train_ddpm", "load_run", "evaluate_samples"]

# the 2-D toy sets (one registry: scratchgen.data.toy.TOY_DATASETS) and the 8×8 digits
DATASETS = tuple(name for name in TOY_DATASETS if name != "mixture1d") + ("digits",)


def check_schedule_dtype(kind, T, dtype, who="DDPMConfig"):
    r"""Refuse a schedule whose :math:`\bar\alpha_T` is below the smallest normal number of ``dtype``.

    The samplers divide by :math:`\bar\alpha_t` in the data's dtype (:math:`\hat x_0 =
    (x_t - \sqrt{1-\bar\alpha_t}\,\varepsilon)/\sqrt{\bar\alpha_t}`); below ``finfo(dtype).tiny``
    :math:`1/\bar\alpha_T` overflows and every sample becomes NaN. The linear schedule reaches
    that in float32 at T of about 8,700 (:math:`\log\bar\alpha_T \approx -T(\beta_1+\beta_T)/2`).
    """
    import numpy  # the limit is a property of the dtype, computed on the host

    info = numpy.finfo(dtype)
    log_tiny = math.log(float(info.tiny))
    if kind == "linear" and -T * (1e-4 + 0.02) / 2 < log_tiny - 1:  # log(1 - b) <= -b: surely below, no need to build it
        log_ab = -T * (1e-4 + 0.02) / 2
    else:
        log_ab = math.log(max(float(make_schedule(kind, T).alpha_bar[-1]), 1e-323))
    if log_ab < log_tiny:
        def fits(n):
            return float(make_schedule(kind, n).alpha_bar[-1]) >= info.tiny

        lo, hi = 1, T  # the largest T that fits, by bisection (alpha_bar_T falls as T grows)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if fits(mid) else (lo, mid)
        name = numpy.dtype(dtype).name
        raise bad(who, "T", f"be at most {lo} for the {kind} schedule in {name} (alpha_bar_T = "
                  f"{math.exp(max(log_ab, -745)):.2g} is below {name}'s smallest normal number, {float(info.tiny):.2g}, "
                  "so the samplers' 1/alpha_bar_T overflows to inf)", T,
                  fix="train in float64 (scratchgen.backend.set_default_dtype('float64')), or use the cosine schedule")


@dataclass
class DDPMConfig(Config):
    """Settings of one run. The defaults are those measured in docs/results.md for the 2-D sets;
    ``DDPMConfig.preset("digits")`` (``PRESETS["digits"]``) those of the 8×8 digits, which
    ``scratchgen train ddpm --data digits`` applies.

    Each field is an :func:`~scratchgen.config.option`: its default, and the help text that
    ``scratchgen train ddpm --help`` shows (the command line is generated from these fields).
    """

    data: str = option("ring8", "training data (ring8: radius 1, std 0.01; grid25: {-4..4}^2, std 0.05; "
                                "digits: the 1,797 8x8 UCI digits, 539 held out; also gauss8, checkerboard, "
                                "swissroll, moons), or PATH.npy: an (N, D) float array, a fifth of its rows held out",
                       metavar="DATA")
    steps: int = option(10000, "Adam updates")
    batch: int = option(512, "examples per minibatch")
    lr: float = option(1e-3, "peak learning rate, cosine decay to 0")
    warmup: int = option(200, "linear warm-up steps")
    betas: tuple[float, float] = option((0.9, 0.999), "Adam's beta1 and beta2", metavar=("BETA1", "BETA2"))
    grad_clip: float | None = option(1.0, "clip the global gradient norm (none: off)")
    ema: float = option(0.999, "EMA decay mu of the weights, which sample and are evaluated; 0 = off")
    T: int = option(1000, "diffusion steps")
    schedule: str = option("linear", "noise schedule", choices=("linear", "cosine"))
    sigma2: str = option("beta_tilde", "reverse-process variance used by the evaluation sampler",
                         choices=("beta", "beta_tilde"))
    low_discrepancy: bool = option(True, "spread a minibatch's timesteps evenly over 1..T from one uniform draw "
                                         "(Kingma et al. 2021, VDM): the same loss, lower variance")
    conditional: bool = option(False, "class-conditional denoiser trained with label dropout, for classifier-free "
                                      "guidance (Ho & Salimans 2022; digits only)")
    p_uncond: float = option(0.1, "conditional runs: probability of dropping a label to the null label in training")
    guidance: float = option(0.0, "conditional runs: guidance weight w of the evaluation samples (0 = conditional)")
    hidden: int = option(256, "MLP width (2-D) or channels of the CNN at 8x8 (digits)")
    n_hidden: int = option(3, "hidden layers of the MLP")
    time_dim: int = option(64, "size of the sinusoidal time embedding")
    x_freqs: int = option(16, "2-D: Fourier features of x_t, frequencies per coordinate (Tancik et al. 2020; "
                              "scratchgen.diffusion.fourier); 0 = the plain MLP on x_t")
    x_omega_max: float = option(64.0, "highest angular frequency of the Fourier features, in scaled units")
    data_std: float = option(1.0, "2-D: standard deviation of the data after scaling, z = data_std (x - m) / s")
    eval_every: int = option(5000, "steps between evaluations/checkpoints")
    n_eval: int = option(2500, "samples drawn for the metrics")
    seed: int = option(0, "seed of the one generator behind data, noise and weights")
    progress: bool = option(True, "show a progress bar")

    #: The 8x8 digits train a CNN: fewer, costlier steps (see docs/results.md for the measured run).
    PRESETS = {"digits": dict(data="digits", steps=4000, batch=64, lr=1e-3, hidden=16, time_dim=32, ema=0.995,
                              eval_every=4000, n_eval=1000)}

    def validate(self):
        """Check every field before any work (types, ranges, finiteness), and that the schedule's
        coefficients are representable in the default float dtype. Raises ``ValueError`` /
        ``TypeError`` (:class:`~scratchgen.validate.BadValue` / :class:`~scratchgen.validate.BadType`)."""
        who = "DDPMConfig"
        if is_toy_file(self.data):
            check_toy_data(self.data)  # names what is wrong with the file
        else:
            check_choice(self.data, "data", who, DATASETS, fix="or give the path of a .npy file of an (N, D) float array")
        check_choice(self.sigma2, "sigma2", who, ("beta", "beta_tilde"))
        check_choice(self.schedule, "schedule", who, ("linear", "cosine"))
        for name in ("steps", "batch", "T", "hidden", "n_hidden", "time_dim", "eval_every"):
            check_int(getattr(self, name), name, who, min=1)
        check_int(self.x_freqs, "x_freqs", who, min=0)
        check_number(self.x_omega_max, "x_omega_max", who, min=1)
        check_number(self.data_std, "data_std", who, min=0, min_open=True)
        check_int(self.n_eval, "n_eval", who, min=2, fix="the evaluation's MMD^2 needs two samples")
        check_int(self.warmup, "warmup", who, min=0)
        check_int(self.seed, "seed", who, min=0)
        check_time_dim(self.time_dim, who)
        check_descent(self, who)
        check_pair(self.betas, "betas", who, min=0, max=1, max_open=True, fix="two numbers: Adam's beta1 and beta2")
        for name in ("low_discrepancy", "progress", "conditional"):
            check_bool(getattr(self, name), name, who)
        check_number(self.p_uncond, "p_uncond", who, min=0, max=1, max_open=True)
        check_number(self.guidance, "guidance", who)
        if self.conditional and self.data != "digits":
            raise bad(who, "data", "be 'digits' for a conditional run (the labelled data set)", self.data)
        check_schedule_dtype(self.schedule, self.T, _backend.default_dtype(), who)

    #: What a checkpoint written before a field existed trained with (the field's default has changed since:
    #: issue 26 made the Fourier features the 2-D default).
    LEGACY = {"x_freqs": 0, "x_omega_max": 64.0, "data_std": 1.0}

    @classmethod
    def for_data(cls, data: str, **overrides) -> "DDPMConfig":
        """The config for ``data``: its preset in ``PRESETS`` if it has one (the digits), then ``overrides``."""
        if data not in DATASETS and not is_toy_file(data):
            raise ValueError(f"data must be one of {DATASETS} or the path of a .npy file, got {data!r}")
        return cls.preset(data, **overrides) if data in cls.PRESETS else cls(data=data, **overrides)


# ---------------------------------------------------------------------------
# Data, scaling, model
# ---------------------------------------------------------------------------
class _Data:
    """Training draws, held-out evaluation data and the scaling of one data set."""

    def __init__(self, cfg: DDPMConfig):
        self.name = cfg.data
        if cfg.data == "digits":
            from ..data.digits import digits_split

            split = digits_split()  # the library's stratified split, images in [-1, 1] (x/8 - 1)
            self.train_x = split.x_train  # (1258, 1, 8, 8)
            self.eval_x = split.x_test  # (539, 1, 8, 8), held out
            self.centres, self.std = None, None
            self.shift, self.scale = 0.0, 1.0  # already in [-1, 1], Ho's image range
            self.shape = (1, 8, 8)
        else:
            from ..data import load_toy

            held = load_toy(cfg.data, cfg.n_eval, seed=cfg.seed + 10_000, split="test")  # held out, for metrics
            self.train_x = None  # fresh draws every step
            self.eval_x, self.centres, self.std = held.x, held.centres, held.std
            self.shift, s = data_scaling(cfg.data)
            self.scale = s / cfg.data_std  # z = data_std (x - m) / s
            self.shape = (held.x.shape[1],)

    def batch(self, n, gen):
        """A minibatch of scaled training data z_0 (n, ...)."""
        if self.train_x is None:
            from ..data import load_toy

            x = load_toy(self.name, n, seed=gen).x
        else:
            idx = gen.integers(0, self.train_x.shape[0], size=n)
            x = self.train_x[idx]
        return self.to_model(x)

    def to_model(self, x):
        xp = _backend.get_xp(x)
        shift, scale = xp.asarray(self.shift, dtype=x.dtype), xp.asarray(self.scale, dtype=x.dtype)
        return (x - shift) / scale  # z = (x - m) / s

    def from_model(self, z):
        xp = _backend.get_xp(z)
        shift, scale = xp.asarray(self.shift, dtype=z.dtype), xp.asarray(self.scale, dtype=z.dtype)
        return z * scale + shift  # x = m + s z


def data_scaling(name: str, n: int = 100_000, seed: int = 20_000):
    r"""Shift m (per axis) and one scale s for a 2-D set: :math:`s^2 = \frac1d\sum_i \mathrm{Var}(x_i)`.

    Estimated from ``n`` draws with a fixed seed, so every run of a data set uses the same
    numbers. Returns ``(m, s)``: an array (d,) and a float.
    """
    from ..data import load_toy

    x = load_toy(name, n, seed=seed).x
    xp = _backend.get_xp(x)
    x64 = x.astype(xp.float64)
    m = x64.mean(axis=0)  # (d,)
    s = float(xp.sqrt(((x64 - m) ** 2).mean()))  # one scale for all axes
    return m.astype(x.dtype), s


def build_model(cfg: DDPMConfig, data_shape, generator):
    """The MLP denoiser for vectors (d,), the convolutional one for images (C, H, W)."""
    if cfg.conditional:  # Ho & Salimans 2022: the label added to the time embedding
        from .guidance import ConditionalConvDenoiser

        return ConditionalConvDenoiser(data_shape[0], cfg.hidden, cfg.time_dim, generator=generator)
    if len(data_shape) == 1 and cfg.x_freqs > 0:
        return FourierMLPDenoiser(data_shape[0], cfg.hidden, cfg.n_hidden, cfg.time_dim, cfg.x_freqs, cfg.x_omega_max,
                                  generator=generator)
    if len(data_shape) == 1:
        return MLPDenoiser(data_shape[0], cfg.hidden, cfg.n_hidden, cfg.time_dim, generator=generator)
    return ConvDenoiser(data_shape[0], cfg.hidden, cfg.time_dim, generator=generator)


def evaluate_samples(x, data: _Data):
    r"""Metrics of samples ``x`` (data units): mode coverage for the mixtures, MMD² to held-out data,
    and for the digits the image metrics of :func:`scratchgen.metrics.features.image_metrics`.

    Mixtures (ring8, grid25, gauss8): modes captured, the high-quality fraction (within 3σ) and
    :math:`\mathrm{KL}(h\,\Vert\,U)` of the mode histogram, always together
    (:func:`scratchgen.metrics.mode_coverage`).

    MMD² is the unbiased estimate (Gretton et al. 2012, Eq. 3) on the first
    :math:`m = \min(n, n_\text{held out})` of each. 2-D data: ``mmd2`` with one RBF kernel at the
    median-heuristic bandwidth :math:`\sigma_\text{med}` (about 4 on the grid: it compares the modes'
    weights and is blind at the scale of the modes), and for the mixtures also one kernel at the
    data's σ and one at 3σ, ``mmd2_sigma`` and ``mmd2_3sigma`` (:func:`scratchgen.mmd.mmd2_per_bandwidth`),
    which see samples between the modes. Images (flattened to 64 pixel values): the sum of RBF kernels
    with :math:`\sigma_\text{med}\cdot\{1/4, 1/2, 1\}`; the median alone hardly tells digits from
    per-pixel Gaussian noise with the same moments (docs/results.md).
    """
    import functools

    from ..autodiff.tensor import tensor
    from ..metrics import mode_coverage
    from ..mmd import median_heuristic, mmd2, mmd2_per_bandwidth, rbf_kernel

    out = {}
    if data.centres is not None:
        out.update(mode_coverage(x, data.centres, data.std).as_dict())
    m = min(x.shape[0], data.eval_x.shape[0])
    flat = lambda a: tensor(a.reshape(a.shape[0], -1).astype(_backend.get_xp(a).float64))  # noqa: E731
    xs, ys = flat(x[:m]), flat(data.eval_x[:m])
    with no_grad():
        if x.ndim == 2:
            out["mmd2"] = float(mmd2(xs, ys).item())  # RBF, median bandwidth
            if data.std is not None:  # one kernel at the modes' scale, one at 3 sigma
                at_s, at_3s = mmd2_per_bandwidth(xs, ys, [data.std, 3 * data.std])
                out["mmd2_sigma"], out["mmd2_3sigma"] = float(at_s.item()), float(at_3s.item())
        else:
            s = median_heuristic(xs, ys)
            kernel = functools.partial(rbf_kernel, sigma=[s / 4, s / 2, s])
            out["mmd2"] = float(mmd2(xs, ys, kernel=kernel).item())
    if data.name == "digits" and x.shape[0] >= 10:
        # FID, KID, IS-style score, precision/recall on the shipped digit classifier's features
        from ..metrics.features import image_metrics

        k = min(500, x.shape[0], data.eval_x.shape[0])
        out.update(image_metrics(x, data.eval_x, kid_subset=k, kid_subsets=100 if k >= 100 else 10))
    return out


# ---------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------
@dataclass
class DDPMRun:
    """What a run leaves behind (also written to its directory)."""

    config: DDPMConfig
    model: object  # the trained weights
    ema_model: object  # the moving average (the same object as ``model`` when ema = 0)
    schedule: Schedule
    data: object
    history: dict = field(default_factory=dict)
    final: dict = field(default_factory=dict)
    samples: object = None  # (n_eval, ...) in data units
    trajectory: object = None  # (k, n_eval, ...) states at ``trajectory_steps``, data units
    trajectory_steps: object = None


def train_ddpm(cfg: DDPMConfig, out_dir=None, resume=None, callback=None, figures=True) -> DDPMRun:
    """Train a denoiser by :math:`L_\\mathrm{simple}` as ``cfg`` says; evaluate, checkpoint, write outputs.

    Parameters
    ----------
    cfg : DDPMConfig
    out_dir : path, optional
        Run directory: ``samples.npy`` (n_eval × ...), ``metrics.json``, ``checkpoint.npz`` and
        figures (``samples.png``, ``trajectory.gif``, ``loss.png``).
    resume : path, optional
        A ``checkpoint.npz`` of a run with the same config to continue from (``steps`` may be larger).
    callback : callable, optional
        ``callback(step, model)`` after every update (tests use it to inject faults).
    figures : bool
        Also draw the figures into ``out_dir`` (the numbers and the checkpoint are always written).
    """
    cfg.validate()
    gen = _backend.rng(cfg.seed)  # the training stream: weights, data, t and eps
    data = _Data(cfg)
    schedule = make_schedule(cfg.schedule, cfg.T)
    model = build_model(cfg, data.shape, gen)
    model_avg = WeightAverage(model, cfg.ema) if cfg.ema > 0 else None  # Ho et al. sample from the average
    opt = optim.Adam(model.parameters(), lr=cfg.lr, betas=cfg.betas)
    if cfg.warmup:
        lr_sched = optim.LinearWarmup(opt, cfg.warmup, max(cfg.steps, cfg.warmup + 1))
    else:
        lr_sched = optim.CosineAnnealingLR(opt, cfg.steps)
    params = model.parameters()

    def step(t):  # Ho et al. 2020, Algorithm 1
        if cfg.conditional:  # (x_0, c) ~ q; c -> null w.p. p_uncond (Ho & Salimans 2022, Algorithm 1)
            loss = _conditional_step_loss(cfg, schedule, model, data, gen)
        else:
            z0 = data.batch(cfg.batch, gen)  # x_0 ~ q(x_0), scaled: (B, ...)
            # t ~ U{1..T}, eps ~ N(0, I); descend || eps - eps_theta(sqrt(ab_t) x_0 + sqrt(1 - ab_t) eps, t) ||^2
            loss = loss_simple(schedule, model, z0, seed=gen, low_discrepancy=cfg.low_discrepancy)  # Eq. 14
        descend(loss, opt, params, cfg.grad_clip, lr_sched, model_avg, t)
        return {"loss": loss}

    def evaluate(t, gen_eval, final):  # samples from the average by Algorithm 2; the reverse trajectory at the end
        eps_model = model_avg.module() if model_avg else model
        if cfg.conditional:  # classes 0..9 in turn, guided with w = cfg.guidance
            from .guidance import Guided, cycle_labels

            eps_model = Guided(eps_model, cycle_labels(cfg.n_eval), cfg.guidance)
        out = generate(eps_model, schedule, cfg.n_eval, data.shape, "ddpm",
                       sigma2=cfg.sigma2, seed=gen_eval, return_trajectory=final, progress=cfg.progress)
        x = data.from_model(out[0] if final else out)
        metrics = evaluate_samples(x, data)
        if cfg.conditional:
            from .guidance import class_accuracy

            metrics["class_accuracy"] = class_accuracy(x, eps_model.y)
        return metrics, (x, out)

    loop = TrainingLoop("ddpm", cfg, gen, step=step, evaluate=evaluate, modules={"model": model},
                        optimizers={"opt": opt}, schedulers={"lr_sched": lr_sched}, averages={"ema": model_avg},
                        eval_seed=cfg.seed + 30_000, hint="Try a smaller learning rate or gradient clipping.",
                        desc=f"ddpm {cfg.data}",
                        postfix=("modes_captured", "high_quality_fraction", "kl_from_uniform", "mmd2_sigma"))
    metrics, (x, (_, traj, steps_t)) = loop.run(out_dir, resume, callback)
    last_losses = loop.history["loss"][-100:]
    final = {"steps": cfg.steps, "data": cfg.data, **metrics,
             "train_seconds": loop.seconds["train"], "train_cpu_seconds": loop.seconds["train_cpu"],
             "sample_seconds": loop.seconds["last_eval"],
             "final_loss": float(sum(last_losses) / max(1, len(last_losses)))}
    # keep ~30 frames of the trajectory, in data units
    xp = _backend.get_xp(traj)
    keep = sorted(set(int(v) for v in xp.linspace(0, traj.shape[0] - 1, 31).round().astype(int)))
    traj_x = data.from_model(traj[keep])
    run = DDPMRun(cfg, model, model_avg.module() if model_avg else model, schedule, data, loop.history, final,
                  _backend.to_numpy(x), _backend.to_numpy(traj_x), _backend.to_numpy(steps_t[keep]))
    if out_dir:
        write_outputs(out_dir, final, cfg, loop.history, {"samples": run.samples})
        if figures:
            _figures(run, out_dir)
    return run


def _conditional_step_loss(cfg, schedule, model, data, gen):
    """The loss of one conditional step: labelled minibatch, label dropout, L_simple (``diffusion.guidance``)."""
    from ..data.digits import digits_split
    from .guidance import conditional_loss, labelled_batch

    if not hasattr(data, "train_y"):
        data.train_y = digits_split().y_train  # the labels of data.train_x, row for row
    z0, y = labelled_batch(data, cfg.batch, gen, data.train_y)  # (B, 1, 8, 8), (B,)
    return conditional_loss(schedule, model, z0, y, cfg.p_uncond, gen, cfg.low_discrepancy)


def load_run(checkpoint):
    """(config, model, schedule, data) from a ``checkpoint.npz`` written by :func:`train_ddpm`; the model
    holds the moving average of the weights when the run kept one (``ema`` > 0), else the weights."""
    state = load(checkpoint)
    if "config" not in state or "model" not in state:
        raise ValueError(f"{checkpoint} is not a DDPM checkpoint (expected keys 'config' and 'model', "
                         f"got {sorted(state)})")
    cfg = DDPMConfig.from_saved(state["config"])
    data = _Data(cfg)
    model = build_model(cfg, data.shape, 0)
    model.load_state_dict(state["ema"] if "ema" in state else state["model"])
    model.eval()
    return cfg, model, make_schedule(cfg.schedule, cfg.T), data


# ---------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------
def _figures(run: DDPMRun, out_dir):
    """samples.png, trajectory.gif and loss.png (none without matplotlib)."""
    try:
        from ..viz import loss_figure, samples_figure, trajectory_gif
    except ImportError:  # matplotlib missing: the numbers are written, the figures are not
        return
    samples_figure(run.samples, run.data, os.path.join(out_dir, "samples.png"), _title(run))
    trajectory_gif(run.trajectory, run.trajectory_steps, run.data, os.path.join(out_dir, "trajectory.gif"))
    loss_figure(run.history, os.path.join(out_dir, "loss.png"))


def _title(run):
    f = run.final
    t = f"DDPM on {run.config.data}, {run.config.steps} steps"
    if "modes_captured" in f:
        t += (f"\nmodes {f['modes_captured']}/{f['n_modes']}, high-quality {100 * f['high_quality_fraction']:.1f}%, "
              f"KL {f['kl_from_uniform']:.3f}")
    if "fid" in f:
        t += f"\nFID {f['fid']:.1f} (digit classifier features)"
    if "mmd2_sigma" in f:  # one kernel at the modes' sigma and one at the median distance
        t += f"\nMMD² at σ {f['mmd2_sigma']:.2g}, at the median {f['mmd2']:.2g}"
    elif "mmd2" in f:
        t += f", MMD² {f['mmd2']:.2g}"
    return t
