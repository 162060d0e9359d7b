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

Around it: a progress bar (tqdm), evaluation every ``eval_every`` steps (mode
coverage on ``n_eval`` samples), a check that stops with a clear message at the
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
from ..checkpoint import load, save
from ..data import load_toy
from ..metrics import mode_coverage
from . import losses as L
from .penalties import gradient_penalty, r1_penalty

__all__ = ["GANConfig", "LOSSES", "TrainingDiverged", "build_models", "train_gan", "GANRun"]


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


class TrainingDiverged(RuntimeError):
    """A loss or a parameter became NaN or infinite."""


@dataclass
class GANConfig:
    """Settings of one run; the defaults follow the Unrolled-GAN / GDPP 2-D protocol."""

    data: str = "ring8"  # ring8 | grid25 | swissroll | moons
    loss: str = "nonsaturating"  # minimax | nonsaturating | lsgan | wgan | hinge
    penalty: str | None = None  # None | "gp" (WGAN-GP) | "r1"
    penalty_weight: float = 10.0  # lambda of WGAN-GP, gamma of R1
    clip: float | None = None  # WGAN weight clipping c (0.01 in Arjovsky et al.)
    spectral_norm: bool = False  # on every layer of D (Miyato et al. 2018)
    label_smoothing: float | None = None  # one-sided: real target alpha (0.9), minimax/nonsaturating only
    minibatch_disc: bool = False  # minibatch discrimination before D's last layer
    unrolled: int = 0  # K differentiable critic steps seen by G (Metz et al. 2017)
    unroll_lr: float = 1e-2
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
        if self.unrolled and self.spectral_norm:
            raise ValueError("unrolled and spectral_norm cannot be combined here (the unrolled "
                             "critic is evaluated with explicit weights)")
        for name in ("steps", "d_steps", "batch", "z_dim", "hidden", "eval_every", "n_eval"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if self.unrolled < 0:
            raise ValueError(f"unrolled must be >= 0, got {self.unrolled}")


def build_models(cfg: GANConfig, dim: int, generator):
    """G: z -> 2 hidden ReLU layers -> R^dim; D: R^dim -> 2 hidden LeakyReLU(0.2) layers -> 1 score."""
    h = cfg.hidden
    G = nn.Sequential(
        nn.Linear(cfg.z_dim, h, generator=generator), nn.ReLU(),
        nn.Linear(h, h, generator=generator), nn.ReLU(),
        nn.Linear(h, dim, generator=generator),
    )
    d_layers = [nn.Linear(dim, h, generator=generator), nn.LeakyReLU(0.2),
                nn.Linear(h, h, generator=generator), nn.LeakyReLU(0.2)]
    if cfg.minibatch_disc:
        d_layers += [nn.MinibatchDiscrimination(h, 16, 5, generator=generator), nn.Linear(h + 16, 1, generator=generator)]
    else:
        d_layers += [nn.Linear(h, 1, generator=generator)]
    if cfg.spectral_norm:
        d_layers = [nn.spectral_norm(m, generator=generator) if isinstance(m, nn.Linear) else m for m in d_layers]
    D = nn.Sequential(*d_layers)
    return G, D


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
    D: object
    history: dict = field(default_factory=dict)
    final: dict = field(default_factory=dict)
    samples: object = None


def _finite(x) -> bool:
    return math.isfinite(float(x))


def _check_finite(step, values, params, ckpt_path, last_good):
    bad = [k for k, v in values.items() if not _finite(v)]
    if not bad:
        for name, p in params:
            xp = _backend.get_xp(p.data)
            if not bool(xp.all(xp.isfinite(p.data))):
                bad.append(f"parameter {name}")
                break
    if bad:
        where = (f"the last good checkpoint (step {last_good}) is kept at {ckpt_path}"
                 if last_good is not None else "no checkpoint had been written yet")
        shown = ", ".join(f"{k}={values[k]}" if k in values else k for k in bad)
        raise TrainingDiverged(f"training stopped at step {step}: non-finite {shown}; {where}. "
                               "Try a smaller learning rate, a penalty or spectral norm.")


def train_gan(cfg: GANConfig, out_dir=None, resume=None, callback=None) -> GANRun:
    """Train G and D as ``cfg`` says; write samples, metrics, checkpoint and figures to ``out_dir``.

    Parameters
    ----------
    cfg : GANConfig
    out_dir : path, optional
        Run directory: ``samples.npy`` (n_eval × d), ``metrics.json``, ``checkpoint.npz``,
        and the figures of :func:`scratchgen.viz.gan_figures` (if matplotlib is installed).
    resume : path, optional
        A ``checkpoint.npz`` to continue from (same config).
    callback : callable, optional
        ``callback(step, G, D)`` after every generator update (tests use it to inject faults).
    """
    cfg.validate()
    gen = _backend.rng(cfg.seed)
    data_eval = load_toy(cfg.data, cfg.n_eval, seed=cfg.seed + 10_000)  # held out, for metrics
    dim = data_eval.x.shape[1]
    G, D = build_models(cfg, dim, gen)
    opt_G = optim.Adam(G.parameters(), lr=cfg.lr_g, betas=cfg.betas)
    opt_D = optim.Adam(D.parameters(), lr=cfg.lr_d, betas=cfg.betas)
    d_loss_fn, g_loss_fn = LOSSES[cfg.loss]
    if cfg.label_smoothing is not None:
        alpha = cfg.label_smoothing
        d_loss_fn = lambda r, f: L.d_loss_label_smoothing(r, f, alpha=alpha)  # noqa: E731

    history = {"step": [], "loss_d": [], "loss_g": [], "eval_step": [], "modes": [], "high_quality": []}
    start, last_good = 0, None
    ckpt_path = os.path.join(out_dir, "checkpoint.npz") if out_dir else None
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
    if resume is not None:
        state = load(resume)
        G.load_state_dict(state["G"])
        D.load_state_dict(state["D"])
        opt_G.load_state_dict(state["opt_G"])
        opt_D.load_state_dict(state["opt_D"])
        gen = state["rng"]
        start = last_good = int(state["step"])
        history = {k: list(v) for k, v in state["history"].items()}

    def sample_data(n):
        return tensor(load_toy(cfg.data, n, seed=gen).x)

    def sample_z(n):
        return tensor(gen.standard_normal((n, cfg.z_dim)).astype(_backend.default_dtype()))

    def write_checkpoint(step):
        if ckpt_path:
            save({"G": G.state_dict(), "D": D.state_dict(), "opt_G": opt_G.state_dict(),
                  "opt_D": opt_D.state_dict(), "rng": gen, "step": step, "history": history,
                  "config": dataclasses.asdict(cfg)}, ckpt_path)

    def evaluate(step):
        G.eval()
        with no_grad():
            x = G(sample_z(cfg.n_eval)).data
        G.train()
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
        # 1. critic updates
        for _ in range(cfg.d_steps):
            x_real = sample_data(cfg.batch)
            with no_grad():
                x_fake = G(sample_z(cfg.batch))
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
        else:
            loss_g = g_loss_fn(D(G(z)))
        opt_G.zero_grad()
        loss_g.backward()
        opt_G.step()

        ld, lg = float(loss_d.item()), float(loss_g.item())
        _check_finite(step + 1, {"loss_D": ld, "loss_G": lg}, params, ckpt_path, last_good)
        history["step"].append(step + 1)
        history["loss_d"].append(ld)
        history["loss_g"].append(lg)
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
    run = GANRun(cfg, G, D, history, final, _backend.to_numpy(x))
    if out_dir:
        _write_outputs(run, out_dir, data_eval)
    return run


def _unrolled_g_loss(cfg, G, D, z, x_real, d_loss_fn, g_loss_fn):
    """Generator loss against the critic after ``cfg.unrolled`` differentiable gradient steps."""
    theta = D.parameters()
    x_fake = G(z)  # on the tape: G's gradient flows through the unrolled critic updates too
    for _ in range(cfg.unrolled):
        with _parameters_replaced(D, theta):
            loss_d = d_loss_fn(D(x_real), D(x_fake))
        seed = Tensor(_backend.get_xp(loss_d.data).ones_like(loss_d.data))
        grads = backprop([loss_d], [seed], inputs=theta, create_graph=True)
        theta = [t - cfg.unroll_lr * g if g is not None else t for t, g in zip(theta, grads)]
    with _parameters_replaced(D, theta):
        return g_loss_fn(D(x_fake))


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
