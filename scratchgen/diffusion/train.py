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

import dataclasses
import json
import os
import time
from dataclasses import dataclass, field

from .. import backend as _backend
from .. import optim
from ..autodiff.tensor import no_grad
from ..checkpoint import load, save
from ..training import (  # shared by every trainer
    TrainingDiverged,
    check_finite,
    ema_decay,
    ema_update,
    restore,
)
from .ddpm import loss_simple
from .models import ConvDenoiser, MLPDenoiser
from .samplers import ancestral_sample, ddim_sample
from .schedules import Schedule, make_schedule

__all__ = ["DDPMConfig", "DDPMRun", "TrainingDiverged", "DATASETS", "SAMPLERS", "build_model", "data_scaling",
           "respace", "generate", "train_ddpm", "load_run", "evaluate_samples"]

DATASETS = ("ring8", "grid25", "swissroll", "moons", "digits")
SAMPLERS = ("ddpm", "ddim")


@dataclass
class DDPMConfig:
    """Settings of one run. The defaults are those measured in docs/results.md for the 2-D sets."""

    data: str = "ring8"  # ring8 | grid25 | swissroll | moons | digits
    steps: int = 20000  # Adam updates
    batch: int = 512
    lr: float = 1e-3  # peak Adam learning rate; cosine decay to 0
    warmup: int = 200  # linear warm-up steps
    betas: tuple = (0.9, 0.999)
    grad_clip: float | None = 1.0  # clip the global gradient norm (None: off)
    ema: float = 0.999  # decay mu of the weights' moving average (0: no EMA)
    T: int = 1000
    schedule: str = "linear"  # linear | cosine
    sigma2: str = "beta_tilde"  # reverse-process variance: beta | beta_tilde
    low_discrepancy: bool = True  # VDM timestep strata (lower-variance loss)
    hidden: int = 256  # MLP width (2-D) / channels at 8x8 (digits: set e.g. 32)
    n_hidden: int = 3  # MLP hidden layers
    time_dim: int = 64  # sinusoidal embedding size
    eval_every: int = 5000
    n_eval: int = 2500  # samples drawn for the metrics
    seed: int = 0
    progress: bool = True

    def validate(self):
        if self.data not in DATASETS:
            raise ValueError(f"data must be one of {DATASETS}, got {self.data!r}")
        if self.sigma2 not in ("beta", "beta_tilde"):
            raise ValueError(f"sigma2 must be 'beta' or 'beta_tilde', got {self.sigma2!r}")
        if self.schedule not in ("linear", "cosine"):
            raise ValueError(f"schedule must be 'linear' or 'cosine', got {self.schedule!r}")
        for name in ("steps", "batch", "T", "hidden", "n_hidden", "time_dim", "eval_every", "n_eval"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if self.time_dim % 2 or self.time_dim < 4:
            raise ValueError(f"time_dim must be even and >= 4, got {self.time_dim}")
        if not 0 <= self.ema < 1:
            raise ValueError(f"ema must lie in [0, 1), got {self.ema!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        if isinstance(self.warmup, bool) or not isinstance(self.warmup, int) or self.warmup < 0:
            raise ValueError(f"warmup must be an int >= 0, got {self.warmup!r}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"grad_clip must be > 0 or None, got {self.grad_clip!r}")

    @classmethod
    def for_data(cls, data: str, **overrides) -> "DDPMConfig":
        """The config with the preset of ``data`` (:func:`presets`), then ``overrides``, applied."""
        if data not in DATASETS:
            raise ValueError(f"data must be one of {DATASETS}, got {data!r}")
        return cls(data=data, **{**presets(data), **overrides})


# The 8x8 digits train a CNN: fewer, costlier steps (see docs/results.md for the measured run).
_DIGITS_PRESET = dict(steps=4000, batch=64, lr=1e-3, hidden=16, time_dim=32, ema=0.995, eval_every=4000, n_eval=1000)


def presets(data: str) -> dict:
    """Settings that differ from :class:`DDPMConfig`'s defaults for a data set (none for the 2-D sets)."""
    return dict(_DIGITS_PRESET) if data == "digits" else {}


# ---------------------------------------------------------------------------
# Data, scaling, model
# ---------------------------------------------------------------------------
class _Data:
    """Training draws, held-out evaluation data and the scaling of one data set."""

    def __init__(self, cfg: DDPMConfig):
        self.name = cfg.data
        if cfg.data == "digits":
            from ..metrics.features import digits_split

            split = digits_split()  # the library's stratified split, images in [-1, 1] (x/8 - 1)
            self.train_x = split.x_train  # (1258, 1, 8, 8)
            self.eval_x = split.x_test  # (539, 1, 8, 8), held out
            self.centres, self.std = None, None
            self.shift, self.scale = 0.0, 1.0  # already in [-1, 1], Ho's image range
            self.shape = (1, 8, 8)
        else:
            from ..data import load_toy

            held = load_toy(cfg.data, cfg.n_eval, seed=cfg.seed + 10_000)  # held out, for metrics
            self.train_x = None  # fresh draws every step
            self.eval_x, self.centres, self.std = held.x, held.centres, held.std
            self.shift, self.scale = data_scaling(cfg.data)
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
    if len(data_shape) == 1:
        return MLPDenoiser(data_shape[0], cfg.hidden, cfg.n_hidden, cfg.time_dim, generator=generator)
    return ConvDenoiser(data_shape[0], cfg.hidden, cfg.time_dim, generator=generator)


# ---------------------------------------------------------------------------
# Sampling: ancestral (all T steps or a respaced subsequence) and DDIM
# ---------------------------------------------------------------------------
def respace(schedule: Schedule, steps: int):
    r"""A schedule on S of the T timesteps, and the map from its steps to the original ones.

    Nichol & Dhariwal (2021), Sec. 4: for the subsequence :math:`\tau_1 < \dots < \tau_S`
    (``ddim_timesteps``, :math:`\tau_S = T`), keep :math:`\bar\alpha_{\tau_i}` and set

    .. math:: \beta'_i = 1 - \frac{\bar\alpha_{\tau_i}}{\bar\alpha_{\tau_{i-1}}},\qquad \bar\alpha_{\tau_0} = 1,

    so that the S-step process has the same marginals :math:`q(x_{\tau_i} \mid x_0)`. A model
    trained on the T-step process is called at :math:`\tau_i` when the S-step sampler is at i.

    Returns
    -------
    (Schedule with T' = S, int array taus (S + 1,) with taus[0] = 0)
    """
    from .samplers import ddim_timesteps

    xp = _backend.get_xp(schedule.alpha_bar)
    taus = ddim_timesteps(schedule.T, steps)  # (S,)
    ab = schedule.alpha_bar[taus]  # (S,)
    ab_prev = xp.concatenate([xp.ones(1, dtype=ab.dtype), ab[:-1]])
    beta = 1 - ab / ab_prev  # $\beta'_i = 1 - \bar\alpha_{\tau_i}/\bar\alpha_{\tau_{i-1}}$
    return Schedule(beta, name=f"{schedule.name}-respaced{steps}"), xp.concatenate([xp.zeros(1, dtype=taus.dtype), taus])


def generate(model, schedule: Schedule, n: int, data_shape, sampler="ddpm", steps=None, eta=0.0,
             sigma2="beta_tilde", seed=None, return_trajectory=False):
    """Draw ``n`` samples (in the model's scaled space) with the ancestral sampler or DDIM.

    ``sampler="ddpm"``: Ho's Algorithm 2 with all T steps, or, with ``steps`` = S < T, on the
    respaced schedule of :func:`respace`. ``sampler="ddim"``: Song et al. with S steps and ``eta``.
    Returns what the sampler returns (``x0`` or ``(x0, trajectory, timesteps)``; the timesteps
    are those of the original T-step process).
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
    S = schedule.T if steps is None else steps
    if isinstance(S, bool) or not isinstance(S, int) or not 1 <= S <= schedule.T:
        raise ValueError(f"steps must be an int in 1..T = 1..{schedule.T}, got {steps!r}")
    was_training = getattr(model, "training", False)
    model.eval()
    shape = (int(n),) + tuple(data_shape)
    try:
        if sampler == "ddim":
            return ddim_sample(schedule, model, shape, seed=seed, steps=S, eta=eta,
                               return_trajectory=return_trajectory)
        if S == schedule.T:
            return ancestral_sample(schedule, model, shape, seed=seed, sigma2=sigma2,
                                    return_trajectory=return_trajectory)
        sched_s, taus = respace(schedule, S)

        def model_s(xt, i):  # the S-step sampler is at i; the model was trained at tau_i
            return model(xt, taus[i])

        out = ancestral_sample(sched_s, model_s, shape, seed=seed, sigma2=sigma2, return_trajectory=return_trajectory)
        if return_trajectory:
            return out[0], out[1], taus
        return out
    finally:
        if was_training:
            model.train()


def evaluate_samples(x, data: _Data):
    r"""Metrics of samples ``x`` (data units): mode coverage for the mixtures, MMD² to held-out data,
    and for the digits the image metrics of :func:`scratchgen.metrics.features.image_metrics`.

    MMD² is the unbiased estimate (Gretton et al. 2012, Eq. 3) on the first
    :math:`m = \min(n, n_\text{held out})` of each. 2-D data: one RBF kernel with the
    median-heuristic bandwidth :math:`\sigma_\text{med}`. Images (flattened to 64 pixel values):
    the sum of RBF kernels with :math:`\sigma_\text{med}\cdot\{1/4, 1/2, 1\}`; the median alone
    hardly tells digits from per-pixel Gaussian noise with the same moments (docs/results.md).
    """
    import functools

    from ..autodiff.tensor import tensor
    from ..metrics import mode_coverage
    from ..mmd import median_heuristic, mmd2, rbf_kernel

    out = {}
    if data.centres is not None:
        out.update(mode_coverage(x, data.centres, data.std).as_dict())
    m = min(x.shape[0], data.eval_x.shape[0])
    flat = lambda a: tensor(a.reshape(a.shape[0], -1).astype(_backend.get_xp(a).float64))  # noqa: E731
    xs, ys = flat(x[:m]), flat(data.eval_x[:m])
    with no_grad():
        if x.ndim == 2:
            out["mmd2"] = float(mmd2(xs, ys).item())  # RBF, median bandwidth
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
    gen = _backend.rng(cfg.seed)
    data = _Data(cfg)
    schedule = make_schedule(cfg.schedule, cfg.T)
    model = build_model(cfg, data.shape, gen)
    ema_model = build_model(cfg, data.shape, 0) if cfg.ema > 0 else model
    if ema_model is not model:
        ema_model.load_state_dict(model.state_dict())
    opt = optim.Adam(model.parameters(), lr=cfg.lr, betas=cfg.betas)
    if cfg.warmup:
        lr_sched = optim.LinearWarmup(opt, cfg.warmup, max(cfg.steps, cfg.warmup + 1))
    else:
        lr_sched = optim.CosineAnnealingLR(opt, cfg.steps)

    history = {"step": [], "loss": [], "eval_step": [], "metrics": []}
    start, last_good = 0, None
    ckpt_path = os.path.join(out_dir, "checkpoint.npz") if out_dir else None
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
    if resume is not None:
        state = restore(resume, config=cfg, model=model, ema=ema_model, opt=opt, lr_sched=lr_sched)
        gen = _backend.rng(state["rng"])  # NumPy's generator, drawing on the active backend
        start = last_good = int(state["step"])
        history = {k: list(v) for k, v in state["history"].items()}

    def write_checkpoint(step):
        if ckpt_path:
            save({"model": model.state_dict(), "ema": ema_model.state_dict(), "opt": opt.state_dict(),
                  "lr_sched": lr_sched.state_dict(), "rng": gen, "step": step, "history": history,
                  "config": dataclasses.asdict(cfg)}, ckpt_path)

    def evaluate(step, trajectory=False):
        out = generate(ema_model, schedule, cfg.n_eval, data.shape, "ddpm", sigma2=cfg.sigma2,
                       seed=cfg.seed + 30_000, return_trajectory=trajectory)
        z = out[0] if trajectory else out
        x = data.from_model(z)
        metrics = evaluate_samples(x, data)
        history["eval_step"].append(step)
        history["metrics"].append(metrics)
        return x, metrics, out

    try:
        from tqdm.auto import tqdm
        bar = tqdm(range(start, cfg.steps), disable=not cfg.progress, desc=f"ddpm {cfg.data}")
    except ImportError:  # tqdm is a dependency, but keep the loop usable without it
        bar = range(start, cfg.steps)

    params = model.named_parameters("model")
    plist = model.parameters()
    ema_plist = ema_model.parameters()
    t_start, cpu_start = time.perf_counter(), time.process_time()
    for step in bar:
        z0 = data.batch(cfg.batch, gen)  # (B, ...) scaled data
        loss = loss_simple(schedule, model, z0, seed=gen, low_discrepancy=cfg.low_discrepancy)  # Eq. 14
        opt.zero_grad()
        loss.backward()
        if cfg.grad_clip is not None:
            optim.clip_grad_norm_(plist, cfg.grad_clip)
        opt.step()
        lr_sched.step()
        if ema_model is not model:
            # warm-up of the decay (as TensorFlow's ExponentialMovingAverage): early weights are forgotten fast
            ema_update(ema_plist, plist, ema_decay(cfg.ema, step))

        value = float(loss.item())
        check_finite(step + 1, {"loss": value}, params, ckpt_path, last_good,
                     hint="Try a smaller learning rate or gradient clipping.")
        history["step"].append(step + 1)
        history["loss"].append(value)
        if callback is not None:
            callback(step + 1, model)
        if (step + 1) % cfg.eval_every == 0 and step + 1 < cfg.steps:
            _, m, _ = evaluate(step + 1)
            write_checkpoint(step + 1)
            last_good = step + 1
            if hasattr(bar, "set_postfix"):
                bar.set_postfix({k: (f"{v:.3g}" if isinstance(v, float) else v) for k, v in m.items()
                                 if k in ("modes_captured", "high_quality_fraction", "mmd2")})
    train_seconds = time.perf_counter() - t_start
    train_cpu_seconds = time.process_time() - cpu_start  # CPU time of this process (the machine may be shared)

    # the final evaluation, with the reverse trajectory for the figures
    t0 = time.perf_counter()
    x, metrics, out = evaluate(cfg.steps, trajectory=True)
    sample_seconds = time.perf_counter() - t0
    write_checkpoint(cfg.steps)
    _, traj, steps_t = out
    final = {"steps": cfg.steps, "data": cfg.data, **metrics,
             "train_seconds": train_seconds, "train_cpu_seconds": train_cpu_seconds, "sample_seconds": sample_seconds,
             "final_loss": float(sum(history["loss"][-100:]) / max(1, len(history["loss"][-100:])))}
    # keep ~30 frames of the trajectory, in data units
    xp = _backend.get_xp(traj)
    keep = sorted(set(int(v) for v in xp.linspace(0, traj.shape[0] - 1, 31).round().astype(int)))
    traj_x = data.from_model(traj[keep])
    run = DDPMRun(cfg, model, ema_model, schedule, data, history, final, _backend.to_numpy(x),
                  _backend.to_numpy(traj_x), _backend.to_numpy(steps_t[keep]))
    if out_dir:
        write_outputs(run, out_dir, figures)
    return run


def load_run(checkpoint):
    """(config, EMA model, schedule, data) from a ``checkpoint.npz`` written by :func:`train_ddpm`."""
    state = load(checkpoint)
    if "config" not in state or "ema" not in state:
        raise ValueError(f"{checkpoint} is not a DDPM checkpoint (expected keys 'config' and 'ema', "
                         f"got {sorted(state)})")
    c = dict(state["config"])
    c["betas"] = tuple(c["betas"])
    cfg = DDPMConfig(**c)
    data = _Data(cfg)
    model = build_model(cfg, data.shape, 0)
    model.load_state_dict(state["ema"])
    model.eval()
    return cfg, model, make_schedule(cfg.schedule, cfg.T), data


# ---------------------------------------------------------------------------
# Output files
# ---------------------------------------------------------------------------
def write_outputs(run: DDPMRun, out_dir, figures=True):
    """samples.npy, metrics.json and the figures (samples.png, trajectory.gif, loss.png)."""
    import numpy  # file output only

    numpy.save(os.path.join(out_dir, "samples.npy"), run.samples)
    with open(os.path.join(out_dir, "metrics.json"), "w") as f:
        json.dump({"final": run.final, "config": dataclasses.asdict(run.config),
                   "history": {"eval_step": run.history["eval_step"], "metrics": run.history["metrics"]}},
                  f, indent=2)
    if not figures:
        return
    try:
        import matplotlib  # noqa: F401
    except ImportError:  # matplotlib missing: the numbers are written, the figures are not
        return
    samples_figure(run.samples, run.data, os.path.join(out_dir, "samples.png"), _title(run))
    trajectory_gif(run.trajectory, run.trajectory_steps, run.data, os.path.join(out_dir, "trajectory.gif"))
    loss_figure(run.history, os.path.join(out_dir, "loss.png"))


def _title(run):
    f = run.final
    t = f"DDPM on {run.config.data}, {run.config.steps} steps"
    if "modes_captured" in f:
        t += f"\nmodes {f['modes_captured']}/{f['n_modes']}, high-quality {100 * f['high_quality_fraction']:.1f}%"
    if "fid" in f:
        t += f"\nFID {f['fid']:.1f} (digit classifier features)"
    if "mmd2" in f:
        t += f", MMD² {f['mmd2']:.2g}"
    return t


def _image_grid(images, cols):
    """(n, 1, H, W) -> one (rows·(H+1), cols·(W+1)) mosaic with 1-pixel gaps."""
    import numpy

    n, _, H, W = images.shape
    rows = -(-n // cols)
    out = numpy.full((rows * (H + 1) - 1, cols * (W + 1) - 1), numpy.nan, dtype=numpy.float64)
    for k in range(n):
        r, c = divmod(k, cols)
        out[r * (H + 1): r * (H + 1) + H, c * (W + 1): c * (W + 1) + W] = images[k, 0]
    return out


def samples_figure(samples, data, path, title=None):
    """2-D: samples over held-out data; images: an 8×8 mosaic of the first 64 samples (range [-1, 1])."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy

    samples = numpy.asarray(samples)
    ref = _backend.to_numpy(data.eval_x)
    if samples.ndim == 2:
        fig, ax = plt.subplots(figsize=(5, 5))
        lim = 1.25 * float(numpy.abs(ref).max()) + 0.1
        ax.scatter(ref[:, 0], ref[:, 1], s=2, c="0.6", label="data")
        ax.scatter(samples[:, 0], samples[:, 1], s=2, c="navy", alpha=0.5, label="DDPM")
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.legend(loc="upper right", fontsize=8, markerscale=4)
    else:
        fig, ax = plt.subplots(figsize=(5, 5.3))
        ax.imshow(_image_grid(samples[:64], 8), cmap="gray_r", vmin=-1, vmax=1, interpolation="nearest")
        ax.axis("off")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def trajectory_gif(trajectory, steps, data, path, fps=8, max_points=1000):
    """The reverse process x_T -> x_0 as an animated GIF (matplotlib.animation, PillowWriter).

    At most ``max_points`` trajectories (2-D) are drawn, to keep the file small.

    ``trajectory[i]`` is the state at timestep ``steps[i]`` (increasing), as the samplers return it;
    the animation plays it backwards in t, holding the last frame.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy
    from matplotlib.animation import FuncAnimation, PillowWriter

    traj, steps = numpy.asarray(trajectory)[:, :max_points], numpy.asarray(steps)
    order = list(range(traj.shape[0] - 1, -1, -1)) + [0] * 4  # t = T .. 0, then hold x_0
    ref = _backend.to_numpy(data.eval_x)[:500]
    if traj.ndim == 3:  # (k, n, 2)
        fig, ax = plt.subplots(figsize=(4, 4))
        lim = 1.25 * float(numpy.abs(ref).max()) + 0.1
        ax.scatter(ref[:, 0], ref[:, 1], s=1, c="0.75")
        pts = ax.scatter(traj[-1, :, 0], traj[-1, :, 1], s=1, c="navy", alpha=0.5)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")

        def draw(i):
            pts.set_offsets(traj[i])
            ax.set_title(f"reverse process, t = {int(steps[i])}", fontsize=9)
            return (pts,)
    else:  # (k, n, 1, H, W)
        fig, ax = plt.subplots(figsize=(3.2, 3.4))
        im = ax.imshow(_image_grid(traj[-1, :16], 4), cmap="gray_r", vmin=-1, vmax=1, interpolation="nearest")
        ax.axis("off")

        def draw(i):
            im.set_data(_image_grid(traj[i, :16], 4))
            ax.set_title(f"reverse process, t = {int(steps[i])}", fontsize=9)
            return (im,)

    anim = FuncAnimation(fig, draw, frames=order, blit=False)
    anim.save(path, writer=PillowWriter(fps=fps), dpi=64)
    plt.close(fig)


def loss_figure(history, path):
    """L_simple per step and its running mean over 200 steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy

    loss = numpy.asarray(history["loss"], dtype=numpy.float64)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    if loss.size:
        ax.plot(history["step"], loss, lw=0.4, c="0.7", label="minibatch")
        k = min(200, loss.size)
        run_mean = numpy.convolve(loss, numpy.ones(k) / k, mode="valid")
        ax.plot(history["step"][k - 1:], run_mean, lw=1.2, c="navy", label=f"mean of {k}")
        ax.set_yscale("log")
        ax.legend()
    ax.set_xlabel("step")
    ax.set_ylabel("L_simple")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
