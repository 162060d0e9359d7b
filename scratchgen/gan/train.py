r"""Train a GAN on a toy 2-D (or 1-D) distribution: a readable loop, every loss of ``losses.py``.

One iteration (Goodfellow et al. 2014, Algorithm 1; Arjovsky et al. 2017, Algorithm 1):

1. ``d_steps`` times: draw a data batch x and noise z; update D (the critic) on
   ``loss.d(D(x), D(G(z)))`` (+ a penalty: the WGAN-GP gradient penalty or R1);
   for WGAN, clip D's weights to [−c, c].
2. Draw z; update G on ``loss.g(D(G(z)))``. With ``unrolled=K`` (Metz et al. 2017,
   Eq. 8–10) the generator sees the critic after K more *differentiable* updates,
   :math:`\theta_D^{k+1} = \theta_D^k - \eta\,\nabla_{\theta_D} L_D(\theta_D^k, G)`,
   and its gradient flows through them (``create_graph=True``). We unroll with plain
   gradient steps of size ``unroll_lr``; Metz et al. unroll the optimiser they train
   with (Adam), which needs Adam's state on the tape too.

Two options aimed at mode collapse and sample precision:

* ``pack=m`` (PacGAN, Lin et al. 2018, Section 3): the critic sees *packs* of m samples
  concatenated, :math:`D(x_1 \oplus \dots \oplus x_m)`, all real or all generated. A batch of
  B samples becomes B/m packs of dimension m·d. A pack drawn from a collapsed generator is m
  near-copies, which the critic tells from m independent data points easily: PacGAN shows
  that packing turns the total-variation distance between P and Q into that between
  :math:`P^m` and :math:`Q^m`, which grows with m for mode-dropping Q.
* ``lr_schedule="cosine"``: both learning rates follow
  :math:`\eta_t = \tfrac12\eta_0(1 + \cos(\pi t/T))` over the T generator steps
  (Loshchilov & Hutter 2017, Eq. 5, no restarts), decaying to 0 at the end, so the last
  generator updates are small and the samples settle near the modes instead of jittering
  around them with Adam's step size.

``instance_noise=s0`` (Sønderby et al. 2017, Section 4; Arjovsky & Bottou 2017, Section 3): the
critic sees real and generated samples alike with Gaussian noise added, :math:`\tilde x = x + \sigma_t\epsilon`,
in its own updates and in the generator's. The noise convolves both distributions with
:math:`\mathcal N(0, \sigma_t^2 I)`, so their supports overlap and the critic cannot be sharp: its
gradient reaches generated mass that lies far from any data mode, which a sharp critic leaves
with a flat (zero) gradient. :math:`\sigma_t = s_0\max(0, 1 - 2t/T)` decays linearly to 0 at half of
the T steps, so the second half trains on the data itself, for precision.

``mmd_weight=lam`` adds a kernel two-sample term to the generator's loss,
:math:`L_G + \lambda\,\widehat{\mathrm{MMD}}^2_u(G(z), x)` with a sum of RBF kernels of bandwidths
``mmd_sigmas``, estimated on ``mmd_samples`` of the batch's generated points and as many fresh
data points, with λ constant or (``mmd_schedule="cosine"``) decaying to 0 like the learning
rates, so that the last updates are the adversarial term's alone (the GMMN loss of Li et al. 2015 and Dziugaite et al. 2015; Gretton et al. 2012,
Eq. 3). The adversarial term is mode-seeking: a precise critic is flat far from the data, so
generated mass that has left a mode feels no pull back to it. A gradient step on the MMD term
moves each sample y up the *witness function* :math:`f(y) = \mathbb E_x k(y,x) - \mathbb E_z k(y, G(z))`
(the gradient of the estimate with respect to one of m samples is :math:`-\tfrac2m\nabla f(y)`).
At a broad bandwidth f is positive wherever the data has more mass than the samples, and its
slope is felt far away: the term moves mass toward modes the generator has dropped.

Two options aimed at sample precision (the share of samples near a mode):

* ``top_k=nu`` (Sinha et al. 2020, "Top-k training of GANs"): the generator's loss is averaged
  over the k samples (packs) of the batch that the critic scores as most realistic, the others
  get no gradient. The worst samples are those the critic has already placed off the data; their
  gradient pulls G's whole map around, while the best ones only need small corrections. k starts
  at all B/m packs of the batch and decays linearly to ``nu`` · B/m at half of training
  (:func:`top_k_count`; Sinha et al. decay k geometrically, by γ = 0.99 per epoch, down to the
  same floor ν).
* ``ema=mu``: evaluate (and save samples from) an exponential moving average of G's weights,
  :math:`\bar\theta_G \leftarrow \mu_t\bar\theta_G + (1-\mu_t)\theta_G`, with the warm-up
  :math:`\mu_t = \min(\mu, (1+t)/(10+t))` (:class:`scratchgen.training.WeightAverage`), after every generator
  update (Yazıcı et al. 2019): the average cancels the last iterate's oscillation around the
  equilibrium. The trained G itself is unchanged.

Around it: a progress bar (tqdm), evaluation every ``eval_every`` steps (mode
coverage on ``n_eval`` samples; at the end also MMD² to held-out data and, for
1-D data, W1), a check that stops with a clear message at the
first non-finite loss or parameter, leaving the last good checkpoint on disk, and
resume from a checkpoint.

Everything random comes from one seeded generator, saved in the checkpoint, so a
run resumed from a checkpoint continues exactly as the uninterrupted run would.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
from dataclasses import dataclass, field

from .. import backend as _backend
from .. import nn, optim
from ..autodiff.tensor import Tensor, backprop, no_grad, tensor
from ..checkpoint import save
from ..data import load_toy, mixture_1d
from ..data.toy import ToyData
from ..divergences import w1_1d
from ..metrics import mode_coverage
from ..mmd import mmd2
from ..training import TrainingDiverged, WeightAverage, check_finite, restore
from . import losses as L
from .penalties import gradient_penalty, r1_penalty

__all__ = ["GANConfig", "LOSSES", "TrainingDiverged", "build_models", "mlp_critic", "train_gan", "GANRun"]


# ---------------------------------------------------------------------------
# The losses by name: (discriminator loss, generator loss), on D's outputs
# ---------------------------------------------------------------------------
def _lsgan_d(r, f):
    return L.lsgan_d_loss(r, f, a=0.0, b=1.0)


def _lsgan_g(f):
    return L.lsgan_g_loss(f, c=1.0)


LOSSES = {
    "minimax": (L.d_loss, L.g_loss_minimax),
    "nonsaturating": (L.d_loss, L.g_loss_nonsaturating),
    "lsgan": (_lsgan_d, _lsgan_g),
    "wgan": (L.wgan_critic_loss, L.wgan_g_loss),
    "hinge": (L.hinge_d_loss, L.hinge_g_loss),
}


# 1-D: a two-component Gaussian mixture (means ±2, std 0.5), for W1 and the 1-D pictures
_MIX1D = dict(means=(-2.0, 2.0), stds=0.5)


def _mixture1d(n, seed=None):
    d = mixture_1d(n, **_MIX1D, seed=seed)
    return ToyData(d.x, d.centres, _MIX1D["stds"])


DATASETS = {"ring8", "grid25", "swissroll", "moons", "mixture1d"}


def load_data(name, n, seed=None) -> ToyData:
    """``scratchgen.data.load_toy`` plus ``"mixture1d"`` (1-D, means ±2, std 0.5)."""
    if name == "mixture1d":
        return _mixture1d(n, seed=seed)
    return load_toy(name, n, seed=seed)


@dataclass
class GANConfig:
    """Settings of one run; the defaults follow the Unrolled-GAN / GDPP 2-D protocol."""

    data: str = "ring8"  # ring8 | grid25 | swissroll | moons | mixture1d
    loss: str = "nonsaturating"  # minimax | nonsaturating | lsgan | wgan | hinge
    penalty: str | None = None  # None | "gp" (WGAN-GP) | "r1"
    penalty_weight: float = 10.0  # lambda of WGAN-GP, gamma of R1
    clip: float | None = None  # WGAN weight clipping c (0.01 in Arjovsky et al.)
    spectral_norm: bool = False  # on every layer of D (Miyato et al. 2018)
    label_smoothing: float | None = None  # one-sided: real target alpha (0.9), minimax/nonsaturating only
    minibatch_disc: bool = False  # minibatch discrimination before D's last layer
    unrolled: int = 0  # K differentiable critic steps seen by G (Metz et al. 2017)
    unroll_lr: float = 1e-2
    pack: int = 1  # PacGAN: the critic sees packs of `pack` samples (Lin et al. 2018)
    lr_schedule: str | None = None  # None (constant) | "cosine" (decay to 0 over `steps`)
    instance_noise: float = 0.0  # s0: std of the noise added to D's inputs, decaying to 0 at half of `steps`
    mmd_weight: float = 0.0  # lambda of the MMD^2 term in G's loss (0: off)
    mmd_sigmas: tuple = (0.5, 1.0, 2.0)  # RBF bandwidths of that term
    mmd_samples: int = 256  # generated and data points in that term's estimate (its cost grows as the square)
    mmd_schedule: str | None = None  # None (constant lambda) | "cosine" (lambda decays to 0 over `steps`)
    top_k: float | None = None  # top-k generator updates: floor nu of the kept fraction (Sinha et al. 2020)
    ema: float = 0.0  # decay mu of the moving average of G's weights used for evaluation (0: off)
    steps: int = 5000  # generator updates
    d_steps: int = 1  # critic updates per generator update
    batch: int = 512
    z_dim: int = 64
    hidden: int = 128
    lr_g: float = 1e-4
    lr_d: float = 1e-4
    betas: tuple = (0.5, 0.999)
    eval_every: int = 500
    n_eval: int = 2500
    seed: int = 0
    progress: bool = True

    @classmethod
    def from_saved(cls, saved):
        """The config a checkpoint's ``"config"`` entry describes (lists back to tuples; fields this
        version no longer has are dropped)."""
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in saved.items()
                      if k in cls.__dataclass_fields__})

    def validate(self):
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {self.loss!r}")
        if self.penalty not in (None, "gp", "r1"):
            raise ValueError(f"penalty must be None, 'gp' or 'r1', got {self.penalty!r}")
        if self.label_smoothing is not None:
            if self.loss not in ("minimax", "nonsaturating"):
                raise ValueError("label_smoothing applies to the minimax / nonsaturating losses only, "
                                 f"got loss={self.loss!r}")
            if not 0 < self.label_smoothing <= 1:
                raise ValueError(f"label_smoothing must be in (0, 1], got {self.label_smoothing}")
        if self.data not in DATASETS:
            raise ValueError(f"data must be one of {sorted(DATASETS)}, got {self.data!r}")
        if self.lr_schedule not in (None, "cosine"):
            raise ValueError(f"lr_schedule must be None or 'cosine', got {self.lr_schedule!r}")
        if not isinstance(self.pack, int) or self.pack < 1 or self.batch % self.pack:
            raise ValueError(f"pack must be a positive int dividing batch={self.batch}, got {self.pack!r}")
        for name in ("instance_noise", "mmd_weight"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
        if self.instance_noise and self.unrolled:
            raise ValueError("instance_noise and unrolled cannot be combined here")
        sig = tuple(self.mmd_sigmas) if isinstance(self.mmd_sigmas, (tuple, list)) else ()
        if not sig or not all(isinstance(x, (int, float)) and math.isfinite(x) and x > 0 for x in sig):
            raise ValueError(f"mmd_sigmas must be a non-empty tuple of finite bandwidths > 0, got {self.mmd_sigmas!r}")
        if self.mmd_schedule not in (None, "cosine"):
            raise ValueError(f"mmd_schedule must be None or 'cosine', got {self.mmd_schedule!r}")
        if self.mmd_weight and self.unrolled:
            raise ValueError("mmd_weight and unrolled cannot be combined here")
        if self.top_k is not None and (isinstance(self.top_k, bool) or not isinstance(self.top_k, (int, float))
                                       or not 0 < self.top_k <= 1):
            raise ValueError(f"top_k must be None or a fraction in (0, 1], got {self.top_k!r}")
        if self.top_k is not None and self.unrolled:
            raise ValueError("top_k and unrolled cannot be combined here")
        if not 0 <= self.ema < 1:
            raise ValueError(f"ema must lie in [0, 1), got {self.ema!r}")
        if self.unrolled and self.spectral_norm:
            raise ValueError("unrolled and spectral_norm cannot be combined here (the unrolled "
                             "critic is evaluated with explicit weights)")
        for name in ("steps", "d_steps", "batch", "z_dim", "hidden", "eval_every", "n_eval", "pack", "mmd_samples"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if self.unrolled < 0:
            raise ValueError(f"unrolled must be >= 0, got {self.unrolled}")


def build_models(cfg: GANConfig, dim: int, generator):
    """G: z -> 2 hidden ReLU layers -> R^dim; D: R^(pack·dim) -> 2 hidden LeakyReLU(0.2) layers -> 1 score."""
    h = cfg.hidden
    G = nn.Sequential(
        nn.Linear(cfg.z_dim, h, generator=generator), nn.ReLU(),
        nn.Linear(h, h, generator=generator), nn.ReLU(),
        nn.Linear(h, dim, generator=generator),
    )
    D = mlp_critic(cfg.pack * dim, h, generator, minibatch_disc=cfg.minibatch_disc, spectral_norm=cfg.spectral_norm)
    return G, D


def mlp_critic(in_dim, hidden, generator, minibatch_disc=False, spectral_norm=False):
    """in_dim -> hidden -> hidden -> 1 score, LeakyReLU(0.2): the toy critic (also the log-ratio classifier
    of :mod:`scratchgen.gan.rejection`), optionally with minibatch discrimination and spectral norm."""
    h = hidden
    layers = [nn.Linear(in_dim, h, generator=generator), nn.LeakyReLU(0.2),
              nn.Linear(h, h, generator=generator), nn.LeakyReLU(0.2)]
    if minibatch_disc:
        layers += [nn.MinibatchDiscrimination(h, 16, 5, generator=generator), nn.Linear(h + 16, 1, generator=generator)]
    else:
        layers += [nn.Linear(h, 1, generator=generator)]
    if spectral_norm:
        layers = [nn.spectral_norm(m, generator=generator) if isinstance(m, nn.Linear) else m for m in layers]
    return nn.Sequential(*layers)


@contextlib.contextmanager
def _parameters_replaced(module, values):
    """Evaluate ``module`` with its parameters replaced by the Tensors ``values`` (same order)."""
    slots = []
    for mod in module.modules():
        for name, v in list(mod.__dict__.items()):
            if isinstance(v, nn.Parameter):
                slots.append((mod, name, v))
    if len(slots) != len(values):
        raise ValueError(f"expected {len(slots)} parameter values, got {len(values)}")
    try:
        for (mod, name, _), v in zip(slots, values):
            mod.__dict__[name] = v
        yield module
    finally:
        for mod, name, v in slots:
            mod.__dict__[name] = v


@dataclass
class GANRun:
    """What a run leaves behind (also written to its directory)."""

    config: GANConfig
    G: object
    D: object  # the critic (its contours are drawn)
    G_ema: object = None  # the moving average of G's weights, when cfg.ema > 0 (samples come from it)
    history: dict = field(default_factory=dict)
    final: dict = field(default_factory=dict)
    samples: object = None


def pack(x, m):
    r"""PacGAN packing (Lin et al. 2018): rows (B, d) -> (B/m, m·d), row i = :math:`x_{im} \oplus \dots \oplus x_{im+m-1}`.

    Consecutive rows are independent draws, so each pack is m independent samples.
    ``m = 1`` returns ``x`` itself.
    """
    if m == 1:
        return x
    B, d = x.shape
    if B % m:
        raise ValueError(f"pack: the batch {B} is not a multiple of the pack size m={m}")
    return x.reshape(B // m, m * d)  # (B/m, m d)


def instance_noise_std(step, cfg: GANConfig):
    r""":math:`\sigma_t = s_0\max(0, 1 - 2t/T)`: the instance noise at the generator update ``step`` (0-based)."""
    return cfg.instance_noise * max(0.0, 1.0 - 2.0 * step / cfg.steps)


def mmd_weight_at(step, cfg: GANConfig):
    r""":math:`\lambda_t`: ``cfg.mmd_weight``, or with ``mmd_schedule="cosine"`` :math:`\tfrac12\lambda(1 + \cos(\pi t/T))`."""
    if cfg.mmd_schedule == "cosine":
        return 0.5 * cfg.mmd_weight * (1.0 + math.cos(math.pi * step / cfg.steps))
    return cfg.mmd_weight


def top_k_count(step, cfg: GANConfig):
    r"""How many of the batch's B/m critic scores the generator update at ``step`` (0-based) keeps.

    :math:`k_t = \lceil (B/m)\,\max(\nu,\; 1 - (1-\nu)\,t/(T/2)) \rceil`: all of them at the start,
    decaying linearly to the floor :math:`\nu B/m` at half of the T steps (``cfg.top_k`` = ν).
    """
    n = cfg.batch // cfg.pack
    if cfg.top_k is None:
        return n
    frac = max(cfg.top_k, 1.0 - (1.0 - cfg.top_k) * step / (cfg.steps / 2))
    return max(1, min(n, math.ceil(n * frac - 1e-9)))


def top_k_scores(scores, k):
    """The k largest critic scores (the samples D finds most realistic), on the tape; ``scores`` is (n, 1)."""
    n = scores.shape[0]
    if k >= n:
        return scores
    xp = _backend.get_xp(scores.data)
    idx = xp.argpartition(-scores.data[:, 0], k - 1)[:k]  # indices of the k best, in any order
    return scores[idx]


def train_gan(cfg: GANConfig, out_dir=None, resume=None, callback=None) -> GANRun:
    """Train G and D as ``cfg`` says; write samples, metrics, checkpoint and figures to ``out_dir``.

    Parameters
    ----------
    cfg : GANConfig
    out_dir : path, optional
        Run directory: ``samples.npy`` (n_eval × d), ``metrics.json``, ``checkpoint.npz``,
        and the figures of :func:`scratchgen.viz.gan_figures` (if matplotlib is installed).
    resume : path, optional
        A ``checkpoint.npz`` to continue from. Its config must match ``cfg`` except in
        ``steps``, ``eval_every``, ``n_eval`` and ``progress`` (else ``ValueError``).
    callback : callable, optional
        ``callback(step, G, D)`` after every generator update (tests use it to inject faults).
    """
    cfg.validate()
    gen = _backend.rng(cfg.seed)
    data_eval = load_data(cfg.data, cfg.n_eval, seed=cfg.seed + 10_000)  # held out, for metrics
    dim = data_eval.x.shape[1]
    G, D = build_models(cfg, dim, gen)
    G_avg = WeightAverage(G, cfg.ema) if cfg.ema > 0 else None  # starts at G's initial weights
    opt_G = optim.Adam(G.parameters(), lr=cfg.lr_g, betas=cfg.betas)
    opt_D = optim.Adam(D.parameters(), lr=cfg.lr_d, betas=cfg.betas)
    # eta_t = eta_0 (1 + cos(pi t / T)) / 2, one step per generator update (critic steps share it)
    scheds = [optim.CosineAnnealingLR(o, T_max=cfg.steps) for o in (opt_G, opt_D)] if cfg.lr_schedule else []
    d_loss_fn, g_loss_fn = LOSSES[cfg.loss]
    if cfg.label_smoothing is not None:
        alpha = cfg.label_smoothing
        d_loss_fn = lambda r, f: L.d_loss_label_smoothing(r, f, alpha=alpha)  # noqa: E731

    history = {"step": [], "loss_d": [], "loss_g": [], "lr_g": [], "eval_step": [], "modes": [], "high_quality": []}
    start, last_good = 0, None
    ckpt_path = os.path.join(out_dir, "checkpoint.npz") if out_dir else None
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
    if resume is not None:
        state = restore(resume, config=cfg, G=G, D=D, opt_G=opt_G, opt_D=opt_D,
                        **({"G_ema": G_avg.avg} if G_avg is not None else {}))
        gen = _backend.rng(state["rng"])  # NumPy's generator, drawing on the active backend
        start = last_good = int(state["step"])
        for s in scheds:  # a closed form of the step count: resuming is exact
            s.last_epoch = start
            s._apply()
        history = {k: list(v) for k, v in state["history"].items()}

    def sample_data(n):
        return tensor(load_data(cfg.data, n, seed=gen).x)

    def sample_z(n):
        return tensor(gen.standard_normal((n, cfg.z_dim)).astype(_backend.default_dtype()))

    def noisy(x, sigma):  # instance noise: x + sigma eps, eps ~ N(0, I), before packing
        if sigma == 0:
            return x
        return x + tensor((sigma * gen.standard_normal(x.shape)).astype(_backend.default_dtype()))

    def write_checkpoint(step):
        if ckpt_path:
            state = {"G": G.state_dict(), "D": D.state_dict(), "opt_G": opt_G.state_dict(),
                     "opt_D": opt_D.state_dict(), "rng": gen, "step": step, "history": history,
                     "config": dataclasses.asdict(cfg)}
            if G_avg is not None:
                state["G_ema"] = G_avg.avg.state_dict()
            save(state, ckpt_path)

    def evaluate(step):
        G_eval = G_avg.module() if G_avg is not None else G
        G_eval.eval()
        with no_grad():
            x = G_eval(sample_z(cfg.n_eval)).data
        G_eval.train()
        cov = mode_coverage(x, data_eval.centres, data_eval.std) if data_eval.centres is not None else None
        history["eval_step"].append(step)
        history["modes"].append(cov.modes_captured if cov else None)
        history["high_quality"].append(cov.high_quality_fraction if cov else None)
        return x, cov

    try:
        from tqdm.auto import tqdm
        bar = tqdm(range(start, cfg.steps), disable=not cfg.progress, desc=f"{cfg.loss} {cfg.data}")
    except ImportError:  # tqdm is a dependency, but keep the loop usable without it
        bar = range(start, cfg.steps)

    params = G.named_parameters("G") + D.named_parameters("D")
    last = None  # (samples, coverage) of the latest evaluation
    for step in bar:
        sigma = instance_noise_std(step, cfg)
        # 1. critic updates
        for _ in range(cfg.d_steps):
            x_real = pack(noisy(sample_data(cfg.batch), sigma), cfg.pack)  # (B/m, m d)
            with no_grad():
                x_fake = pack(noisy(G(sample_z(cfg.batch)), sigma), cfg.pack)
            loss_d = d_loss_fn(D(x_real), D(x_fake))
            if cfg.penalty == "gp":
                loss_d = loss_d + gradient_penalty(D, x_real, x_fake, lam=cfg.penalty_weight, rng=gen)
            elif cfg.penalty == "r1":
                loss_d = loss_d + r1_penalty(D, x_real, gamma=cfg.penalty_weight)
            opt_D.zero_grad()
            loss_d.backward()
            opt_D.step()
            if cfg.clip is not None:
                optim.clip_weights_(D.parameters(), cfg.clip)
        # 2. generator update
        z = sample_z(cfg.batch)
        if cfg.unrolled:
            loss_g = _unrolled_g_loss(cfg, G, D, z, sample_data(cfg.batch), d_loss_fn, g_loss_fn)
        else:  # top-k: only the k packs D scores highest carry G's gradient (all of them without top_k)
            x_gen = G(z)
            loss_g = g_loss_fn(top_k_scores(D(pack(noisy(x_gen, sigma), cfg.pack)), top_k_count(step, cfg)))
            if cfg.mmd_weight:  # + lambda MMD^2_u(G(z), x) on n of the samples: a pull toward every mode
                n = min(cfg.mmd_samples, cfg.batch)
                loss_g = loss_g + mmd_weight_at(step, cfg) * mmd2(x_gen[:n], sample_data(n), kernel="rbf",
                                                                  sigma=tuple(cfg.mmd_sigmas))
        opt_G.zero_grad()
        loss_g.backward()
        lr_used = opt_G.param_groups[0]["lr"]
        opt_G.step()
        if G_avg is not None:
            G_avg.update(step)
        for s in scheds:
            s.step()

        ld, lg = float(loss_d.item()), float(loss_g.item())
        check_finite(step + 1, {"loss_D": ld, "loss_G": lg}, params, ckpt_path, last_good,
                     hint="Try a smaller learning rate, a penalty or spectral norm.")
        history["step"].append(step + 1)
        history["loss_d"].append(ld)
        history["loss_g"].append(lg)
        history["lr_g"].append(lr_used)
        if callback is not None:
            callback(step + 1, G, D)
        if (step + 1) % cfg.eval_every == 0 or step + 1 == cfg.steps:
            last = evaluate(step + 1)
            cov = last[1]
            write_checkpoint(step + 1)
            last_good = step + 1
            if cov is not None and hasattr(bar, "set_postfix"):
                bar.set_postfix(modes=cov.modes_captured, hq=f"{cov.high_quality_fraction:.2f}")

    if last is None:  # resumed from a finished run: evaluate once more
        last = evaluate(cfg.steps)
    x, cov = last
    final = {"steps": cfg.steps, "data": cfg.data, "loss": cfg.loss}
    if cov is not None:
        final.update(cov.as_dict())
    final.update(_distances(x, data_eval.x))
    run = GANRun(cfg, G, D, G_avg.module() if G_avg is not None else None, history, final, _backend.to_numpy(x))
    if out_dir:
        _write_outputs(run, out_dir, data_eval)
    return run


def _unrolled_g_loss(cfg, G, D, z, x_real, d_loss_fn, g_loss_fn):
    """Generator loss against the critic after ``cfg.unrolled`` differentiable gradient steps."""
    theta = D.parameters()
    x_real = pack(x_real, cfg.pack)
    x_fake = pack(G(z), cfg.pack)  # on the tape: G's gradient flows through the unrolled critic updates too
    for _ in range(cfg.unrolled):
        with _parameters_replaced(D, theta):
            loss_d = d_loss_fn(D(x_real), D(x_fake))
        seed = Tensor(_backend.get_xp(loss_d.data).ones_like(loss_d.data))
        grads = backprop([loss_d], [seed], inputs=theta, create_graph=True)
        theta = [t - cfg.unroll_lr * g if g is not None else t for t, g in zip(theta, grads)]
    with _parameters_replaced(D, theta):
        return g_loss_fn(D(x_fake))


MMD_SIGMAS = (0.05, 0.2, 1.0)  # bandwidths of the evaluation kernel: fine (about σ of grid25), mid, global


def _distances(samples, held_out):
    r"""Sample-based distances of the generated samples to held-out data (no gradient).

    * ``mmd2``: unbiased :math:`\mathrm{MMD}^2_u` (Gretton et al. 2012, Eq. 3) with the sum of RBF
      kernels of bandwidths ``MMD_SIGMAS``, fixed so that numbers compare across runs
      (a median-heuristic bandwidth would change with the samples);
    * ``w1`` (1-D data only): the exact :math:`W_1` between the two empirical distributions,
      :math:`\int |F(t) - G(t)|\,dt` (:func:`scratchgen.divergences.w1_1d`).
    """
    with no_grad():
        out = {"mmd2": float(mmd2(samples, held_out, kernel="rbf", sigma=MMD_SIGMAS).item())}
    if samples.shape[1] == 1:
        out["w1"] = float(w1_1d(samples[:, 0], held_out[:, 0]))
    return out


def _write_outputs(run: GANRun, out_dir, data_eval):
    import numpy  # file output only

    numpy.save(os.path.join(out_dir, "samples.npy"), run.samples)
    with open(os.path.join(out_dir, "metrics.json"), "w") as f:
        json.dump({"final": run.final, "config": dataclasses.asdict(run.config),
                   "history": {"eval_step": run.history["eval_step"], "modes": run.history["modes"],
                               "high_quality": run.history["high_quality"]}}, f, indent=2)
    try:
        from .. import viz
    except ImportError:  # matplotlib missing: the numbers are written, the figures are not
        return
    viz.gan_figures(run, data_eval, out_dir)
