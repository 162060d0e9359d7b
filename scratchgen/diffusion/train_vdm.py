r"""Train a continuous-time VDM on the 8×8 digits: the bound in bits per dimension, with a fixed or a learned SNR(t).

References
----------
* Kingma, Salimans, Poole & Ho (2021), *Variational Diffusion Models*: the bound (Sec. 3.5) as the
  training loss, the continuous-time diffusion loss (Sec. 5), low-discrepancy times (Appendix), the
  endpoints of the schedule trained on the bound and its shape on the variance of the diffusion loss
  (Sec. 5.3); their code conditions the denoiser on :math:`\gamma_t` mapped to [0, 1], embedded by the
  sinusoidal embedding of 1000 times it.

One training step:

.. code-block:: text

    x ~ the 1,258 training digits (17 levels, x/8 - 1 in [-1, 1])
    t ~ U(0, 1] low-discrepancy, eps, eps_0 ~ N(0, I)
    L_i = [ KL(q(z_1|x) || N(0, I)) - log p(x | z_0) + 1/2 gamma'(t) ||eps - eps_hat(z_t; gamma_t)||^2 ] / (D ln 2)
    Adam on the denoiser theta and the endpoints gamma_0, gamma_1:   grad of mean_i L_i
    Adam on the shape eta of a learned schedule:                     grad of mean_i L_diff,i^2
    theta_ema <- mu theta_ema + (1 - mu) theta

The denoiser is the library's :class:`~scratchgen.diffusion.models.ConvDenoiser` (same blocks, same
size), fed :math:`\gamma_t` instead of an integer step (:class:`GammaConvDenoiser`). Evaluation: the
bound on the 539 held-out digits, ``eval_draws`` draws of (t, eps, eps_0) per image, in bits per
dimension with its standard error over the images; the three terms apart; the spread of the one-draw
diffusion loss (what the learned shape lowers); the endpoints; and samples at the last step.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from .. import autodiff as ad
from .. import backend as _backend
from .. import nn, optim
from ..autodiff import Tensor
from ..autodiff.tensor import no_grad
from ..checkpoint import load
from ..config import Config, option
from ..training import TrainingLoop, WeightAverage, check_descent, write_outputs
from ..validate import bad, check_bool, check_choice, check_int, check_number, check_pair
from .models import ConvDenoiser, check_time_dim
from .vdm import (
    GAMMA_KINDS,
    GAMMA_MAX,
    GAMMA_MIN,
    bits_per_dim,
    make_gamma,
    sample,
    variance_gradient,
    vlb_terms,
)

__all__ = ["VDMConfig", "VDMRun", "GammaConvDenoiser", "gamma_embedding", "train_vdm", "evaluate_bound", "load_run",
           "LEVELS", "FOURIER"]

#: the digits' pixel values 0..16
LEVELS = 17
#: the Fourier features' exponents n for 17 levels: periods 2^-n of 2 levels and of 1 (spacing 2/16 = 2^-3)
FOURIER = (2, 3)


def gamma_embedding(gamma_t, dim, gamma_min=GAMMA_MIN, gamma_max=GAMMA_MAX, max_period=10000.0):
    r"""The sinusoidal embedding of :math:`c = 1000\,(\gamma_t - \gamma_\min)/(\gamma_\max - \gamma_\min)`
    (Kingma et al.'s code), differentiable in :math:`\gamma_t` (the learned schedule's gradient flows through it):

    .. math:: e = \big[\sin(c\,\omega_0), \dots, \sin(c\,\omega_{h-1}), \cos(c\,\omega_0), \dots, \cos(c\,\omega_{h-1})\big],
              \qquad \omega_i = P^{-i/(h-1)},\ h = \mathrm{dim}/2

    gamma_t : Tensor or array (B,). Returns a Tensor (B, dim).
    """
    if dim < 4 or dim % 2:
        raise bad("gamma_embedding", "dim", "be even and >= 4", dim, "sines and cosines come in pairs")
    if not isinstance(gamma_t, Tensor):
        gamma_t = Tensor(gamma_t)
    xp = _xp_of(gamma_t)
    half = dim // 2
    omega = xp.exp(-math.log(max_period) / (half - 1) * xp.arange(half, dtype=xp.float64)).astype(gamma_t.dtype)
    c = 1000.0 * (gamma_t - gamma_min) / (gamma_max - gamma_min)  # (B,)
    arg = ad.reshape(c, (c.shape[0], 1)) * Tensor(omega)  # (B, h)
    return ad.concatenate([ad.sin(arg), ad.cos(arg)], axis=1)  # (B, dim)


def _xp_of(t):
    """The array module of a Tensor or an array."""
    return _backend.get_xp(t.data if isinstance(t, Tensor) else t)


class GammaConvDenoiser(ConvDenoiser):
    r""":math:`\hat\varepsilon_\theta(z_t; \gamma_t)`: :class:`ConvDenoiser` with the embedding of
    :math:`\gamma_t` (:func:`gamma_embedding`) in place of the integer step's, and optionally Fourier
    features of its input (Kingma Sec. 3.4): :math:`z` and :math:`\sin(2^n 2\pi z), \cos(2^n 2\pi z)` for
    each n of ``fourier``, channels side by side, so the first convolution sees the position of z
    between two levels of the data. For the 17 levels (spacing :math:`2^{-3}`) n = 2, 3: periods of two
    levels and of one, as Kingma's code (n = 6, 7 for 256 levels). Same layers and size otherwise.
    Called as ``model(z_t, gamma_t)``, gamma_t a Tensor or array (B,).
    """

    def __init__(self, in_channels=1, channels=32, time_dim=32, fourier=(), dtype=None, generator=None):
        from ..backend import rng

        g = rng(generator)
        super().__init__(in_channels, channels, time_dim, dtype=dtype, generator=g)
        self.fourier = tuple(int(n) for n in fourier)
        if self.fourier:  # the first convolution takes z and its 2 len(fourier) features per channel
            self.conv_in = nn.Conv2d(in_channels * (1 + 2 * len(self.fourier)), int(channels), 3, padding=1,
                                     dtype=dtype, generator=g)

    def forward(self, z, gamma_t):
        if not self.fourier:
            return super().forward(z, gamma_t)
        if z.ndim != 4 or z.shape[1] != self.in_channels or z.shape[2] % 2 or z.shape[3] % 2:
            raise bad("GammaConvDenoiser", "z_t", f"have shape (B, {self.in_channels}, H, W) with even H, W", z,
                      shown=f"shape {tuple(z.shape)}")
        z = z if isinstance(z, Tensor) else Tensor(z)
        features = [z]
        for n in self.fourier:  # $\sin(2^n 2\pi z)$, $\cos(2^n 2\pi z)$
            features += [ad.sin(z * (2.0 ** n * 2 * math.pi)), ad.cos(z * (2.0 ** n * 2 * math.pi))]
        return self.unet(ad.concatenate(features, axis=1), self.embed(gamma_t, z.shape[0]))

    def embed(self, gamma_t, batch):
        r"""The conditioning :math:`e = \mathrm{SiLU}(W_e\,\mathrm{emb}(\gamma_t) + b_e)`: (B, E)."""
        gamma_t = gamma_t if isinstance(gamma_t, Tensor) else Tensor(gamma_t)
        if gamma_t.shape != (batch,):
            raise bad("GammaConvDenoiser", "gamma_t", f"have shape ({batch},), one value per row of z_t", gamma_t,
                      shown=f"shape {tuple(gamma_t.shape)}")
        emb = gamma_embedding(ad.astype(gamma_t, self.time_proj.weight.dtype), self.time_dim)  # (B, time_dim)
        return nn.functional.silu(self.time_proj(emb), inplace=True)  # (B, E)


@dataclass
class VDMConfig(Config):
    """Settings of one run; each field an :func:`~scratchgen.config.option` (``scratchgen train vdm --help``).
    The defaults are those of the runs in docs/results.md ("VDM")."""

    data: str = option("digits", "training data: the 1,797 8x8 UCI digits (17 levels), 539 held out",
                       choices=("digits",))
    schedule: str = option("learned", "gamma(t) = -log SNR(t): fixed (linear, fixed endpoints), linear (learned "
                                      "endpoints), learned (learned endpoints and monotone shape)", choices=GAMMA_KINDS)
    gamma_0: float = option(GAMMA_MIN, "gamma(0) = -log SNR_max the schedule starts from (fixed: keeps)")
    gamma_1: float = option(GAMMA_MAX, "gamma(1) = -log SNR_min the schedule starts from (fixed: keeps)")
    n_features: int = option(64, "hidden width K of the learned schedule's monotone network")
    T: int = option(0, "0: the continuous-time diffusion loss L_inf; else the T-step loss L_T")
    derivative: str = option("explicit", "gamma'(t) by the schedule's explicit derivative or by autodiff",
                             choices=("explicit", "autodiff"))
    low_discrepancy: bool = option(True, "spread a minibatch's times evenly over (0, 1] from one uniform draw")
    steps: int = option(4000, "Adam updates")
    batch: int = option(64, "images per minibatch")
    lr: float = option(1e-3, "peak learning rate of the denoiser, cosine decay to 0")
    gamma_lr: float = option(1e-2, "peak learning rate of the schedule (endpoints and shape), cosine decay to 0")
    warmup: int = option(200, "linear warm-up steps")
    betas: tuple[float, float] = option((0.9, 0.999), "Adam's beta1 and beta2", metavar=("BETA1", "BETA2"))
    grad_clip: float | None = option(1.0, "clip the gradient norm, of the denoiser and of the schedule apart (none: off)")
    ema: float = option(0.995, "EMA decay mu of the denoiser's weights, which are evaluated; 0 = off")
    hidden: int = option(16, "channels of the CNN at 8x8")
    fourier: bool = option(True, "feed the CNN sin/cos(2^n 2 pi z_t), n = 2, 3, beside z_t (Kingma Sec. 3.4): the "
                                 "position of z_t between two of the 17 levels")
    time_dim: int = option(32, "size of the sinusoidal embedding of gamma_t")
    eval_every: int = option(2000, "steps between evaluations/checkpoints")
    eval_draws: int = option(16, "draws of (t, eps, eps_0) per held-out image for the bound")
    n_samples: int = option(64, "samples drawn at the last evaluation (0: none)")
    sample_steps: int = option(200, "ancestral steps of those samples")
    seed: int = option(0, "seed of the one generator behind data, noise and weights")
    progress: bool = option(True, "show a progress bar")

    def validate(self):
        """Check every field before any work; raises ``ValueError``/``TypeError`` naming the field."""
        who = "VDMConfig"
        check_choice(self.data, "data", who, ("digits",))
        check_choice(self.schedule, "schedule", who, GAMMA_KINDS)
        check_choice(self.derivative, "derivative", who, ("explicit", "autodiff"))
        check_number(self.gamma_0, "gamma_0", who)
        check_number(self.gamma_1, "gamma_1", who, min=self.gamma_0, min_open=True,
                     fix="gamma rises from gamma_0 (data end) to gamma_1 (noise end)")
        for name in ("n_features", "steps", "batch", "hidden", "time_dim", "eval_every", "eval_draws", "sample_steps"):
            check_int(getattr(self, name), name, who, min=1)
        for name in ("T", "warmup", "n_samples", "seed"):
            check_int(getattr(self, name), name, who, min=0)
        check_time_dim(self.time_dim, who)
        if self.derivative == "autodiff" and self.T:
            raise bad(who, "derivative", "be 'explicit' when T > 0", self.derivative, "the T-step loss uses no gamma'")
        check_descent(self, who)
        check_number(self.gamma_lr, "gamma_lr", who, min=0, min_open=True)
        check_pair(self.betas, "betas", who, min=0, max=1, max_open=True, fix="two numbers: Adam's beta1 and beta2")
        for name in ("low_discrepancy", "fourier", "progress"):
            check_bool(getattr(self, name), name, who)


class _Digits:
    """The digits split, as 17-level values x/8 - 1 in [-1, 1]."""

    def __init__(self):
        from ..data.digits import digits_split

        split = digits_split()
        self.train_x, self.eval_x = split.x_train, split.x_test  # (1258, 1, 8, 8), (539, 1, 8, 8)
        self.shape = tuple(self.train_x.shape[1:])

    def batch(self, n, gen):
        return self.train_x[gen.integers(0, self.train_x.shape[0], size=n)]


def evaluate_bound(model, gamma, x, draws=16, seed=0, T=0, batch=512):
    r"""The bound on ``x`` with ``draws`` draws of (t, eps, eps_0) per image, without gradients.

    Returns a dict: ``bpd`` (the mean over images of each image's mean bound, bits per dimension),
    ``bpd_se`` (its standard error over the images), ``diffusion_bpd``, ``prior_bpd``,
    ``reconstruction_bpd`` (the terms' means), ``diffusion_bpd_sd`` (the standard deviation of the
    one-draw diffusion loss around each image's mean, averaged over images: the estimator's noise),
    ``nats`` (the bound in nats per image), and ``gamma_0``, ``gamma_1``.
    """
    g = _backend.rng(seed)
    xp = _backend.get_xp(x)
    n, D = x.shape[0], int(x[0].size)
    parts = {"diffusion": [], "prior": [], "reconstruction": []}
    with no_grad():
        for _ in range(draws):
            row = {k: [] for k in parts}
            for i in range(0, n, batch):
                terms = vlb_terms(model, gamma, x[i:i + batch], g, T=T, levels=LEVELS, low_discrepancy=True)
                for k in parts:
                    row[k].append(getattr(terms, k).data)
            for k in parts:
                parts[k].append(xp.concatenate(row[k]))
    per = {k: bits_per_dim(xp.stack(v).astype(xp.float64), D) for k, v in parts.items()}  # (draws, n) each
    total = (per["diffusion"] + per["prior"] + per["reconstruction"]).mean(axis=0)  # (n,)
    g0, g1 = gamma.endpoints()
    return {"bpd": float(total.mean()), "bpd_se": float(total.std(ddof=1) / math.sqrt(n)),
            "diffusion_bpd": float(per["diffusion"].mean()), "prior_bpd": float(per["prior"].mean()),
            "reconstruction_bpd": float(per["reconstruction"].mean()),
            "diffusion_bpd_sd": float(per["diffusion"].std(axis=0, ddof=1).mean()) if draws > 1 else float("nan"),
            "nats": float(total.mean() * D * math.log(2)),
            "gamma_0": float(g0.item()), "gamma_1": float(g1.item())}


@dataclass
class VDMRun:
    """What a run leaves behind (also written to its directory)."""

    config: VDMConfig
    model: object
    ema_model: object
    gamma: object
    history: dict = field(default_factory=dict)
    final: dict = field(default_factory=dict)
    samples: object = None  # (n_samples, 1, 8, 8) on the level grid, or None


def _build(cfg, gen):
    data = _Digits()
    model = GammaConvDenoiser(data.shape[0], cfg.hidden, cfg.time_dim, FOURIER if cfg.fourier else (), generator=gen)
    gamma = make_gamma(cfg.schedule, cfg.gamma_0, cfg.gamma_1, cfg.n_features, generator=gen)
    return data, model, gamma


def _adam(cfg, params, lr):
    opt = optim.Adam(params, lr=lr, betas=cfg.betas)
    total = max(cfg.steps, cfg.warmup + 1)
    sched = optim.LinearWarmup(opt, cfg.warmup, total) if cfg.warmup else optim.CosineAnnealingLR(opt, cfg.steps)
    return opt, sched


def train_vdm(cfg: VDMConfig, out_dir=None, resume=None, callback=None) -> VDMRun:
    """Train by the bound as ``cfg`` says; evaluate, checkpoint, write ``metrics.json`` and ``samples.npy``.

    ``resume``: a ``checkpoint.npz`` of a run with the same config. ``callback(step, model, gamma)``
    after every update.
    """
    cfg.validate()
    gen = _backend.rng(cfg.seed)  # weights, data, t, eps, eps_0
    data, model, gamma = _build(cfg, gen)
    model_avg = WeightAverage(model, cfg.ema) if cfg.ema > 0 else None
    model_params = model.parameters()
    opt, lr_sched = _adam(cfg, model_params, cfg.lr)
    optimizers, schedulers = {"opt": opt}, {"lr_sched": lr_sched}
    gamma_params = gamma.parameters()
    if gamma_params:  # the fixed schedule has none
        optimizers["opt_gamma"], schedulers["gamma_sched"] = opt_gamma, gamma_sched = _adam(cfg, gamma_params,
                                                                                           cfg.gamma_lr)
    D = int(math.prod(data.shape))
    clip_groups = [model_params] + ([gamma.endpoint_parameters(), gamma.shape_parameters()] if gamma_params else [])
    clip_groups = [group for group in clip_groups if group]

    def step(t):
        x = data.batch(cfg.batch, gen)  # (B, 1, 8, 8) on the 17 levels
        terms = vlb_terms(model, gamma, x, gen, T=cfg.T, levels=LEVELS, low_discrepancy=cfg.low_discrepancy,
                          derivative=cfg.derivative, cut_shape=True)
        bpd = terms.bits_per_dim()  # (B,): prior + reconstruction + diffusion, / (D ln 2)
        loss = ad.mean(bpd)
        opt.zero_grad()
        if gamma_params:
            opt_gamma.zero_grad()
        loss.backward()  # theta and the endpoints; a learned shape's eta gets nothing here
        diffusion_bpd = bits_per_dim(terms.diffusion, D)
        variance_gradient(terms, diffusion_bpd)  # eta: grad of mean L_diff^2 (Kingma Sec. 5.3)
        if cfg.grad_clip is not None:  # each group apart: the shape's variance gradient must not shrink the others
            for group in clip_groups:
                optim.clip_grad_norm_(group, cfg.grad_clip)
        for o, s in ((opt, lr_sched),) + (((opt_gamma, gamma_sched),) if gamma_params else ()):
            o.step()
            s.step()
        if model_avg is not None:
            model_avg.update(t)
        g0, g1 = gamma.endpoints()
        return {"bpd": loss, "diffusion_bpd": ad.mean(diffusion_bpd), "gamma_0": g0.item(), "gamma_1": g1.item()}

    def evaluate(t, gen_eval, final):
        net = model_avg.module() if model_avg else model
        metrics = evaluate_bound(net, gamma, data.eval_x, cfg.eval_draws, gen_eval, cfg.T)
        x = None
        if final and cfg.n_samples:
            x = sample(net, gamma, cfg.n_samples, data.shape, cfg.sample_steps, gen_eval, LEVELS)
        return metrics, x

    loop = TrainingLoop("vdm", cfg, gen, step=step, evaluate=evaluate, modules={"model": model, "gamma": gamma},
                        optimizers=optimizers, schedulers=schedulers, averages={"ema": model_avg},
                        eval_seed=cfg.seed + 30_000, hint="Try a smaller learning rate (--lr, --gamma-lr).",
                        desc=f"vdm {cfg.schedule}", postfix=("bpd", "gamma_0", "gamma_1"))
    metrics, x = loop.run(out_dir, resume, callback)
    final = {"steps": cfg.steps, "schedule": cfg.schedule, **metrics, "train_seconds": loop.seconds["train"],
             "train_cpu_seconds": loop.seconds["train_cpu"], "eval_seconds": loop.seconds["last_eval"]}
    run = VDMRun(cfg, model, model_avg.module() if model_avg else model, gamma, loop.history, final,
                 None if x is None else _backend.to_numpy(x))
    if out_dir:
        write_outputs(out_dir, final, cfg, loop.history, {"samples": run.samples})
    return run


def load_run(checkpoint):
    """(config, denoiser, gamma) from a ``checkpoint.npz`` of :func:`train_vdm`; the denoiser holds the moving
    average of the weights when the run kept one."""
    state = load(checkpoint)
    if state.get("kind") != "vdm":
        raise bad("load_run", "checkpoint", "be a VDM checkpoint (scratchgen train vdm)", str(checkpoint),
                  shown=f"kind {state.get('kind')!r}")
    cfg = VDMConfig.from_saved(state["config"])
    data, model, gamma = _build(cfg, 0)
    model.load_state_dict(state["ema"] if "ema" in state else state["model"])
    gamma.load_state_dict(state["gamma"])
    model.eval()
    return cfg, model, gamma, data
