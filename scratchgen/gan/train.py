r"""Train a GAN on a toy 2-D (or 1-D) distribution: a readable step, every loss of ``losses.py``.

One iteration (Goodfellow et al. 2014, Algorithm 1; Arjovsky et al. 2017, Algorithm 1), the
``step`` function of :func:`train_gan`:

1. ``d_steps`` times: draw a data batch x and noise z; update D (the critic) on
   ``loss.d(D(x), D(G(z)))`` (+ a penalty: the WGAN-GP gradient penalty or R1);
   for WGAN, clip D's weights to [−c, c].
2. Draw z; update G on ``loss.g(D(G(z)))``.

The options against mode collapse and for sample precision are functions of plain numbers in
:mod:`scratchgen.gan.tricks`, each with its equation and paper: PacGAN packing (``pack``), the
unrolled critic (``unrolled``, ``unroll_lr``), instance noise (``instance_noise``), an MMD term in
the generator's loss (``mmd_weight``, ``mmd_sigmas``, ``mmd_samples``, ``mmd_schedule``) and top-k
generator updates (``top_k``). ``lr_schedule="cosine"``: both learning rates follow
:math:`\eta_t = \tfrac12\eta_0(1 + \cos(\pi t/T))` over the T generator steps (Loshchilov & Hutter
2017, Eq. 5, no restarts). ``ema=mu``: evaluate (and save samples from) an exponential moving
average of G's weights (Yazıcı et al. 2019; :class:`scratchgen.training.WeightAverage`).

Everything else (progress, evaluation on its own random stream, the non-finite stop, atomic
checkpoints, exact resume, history, ``metrics.json``) is the scaffold's,
:class:`scratchgen.training.TrainingLoop`. Evaluation: mode coverage of ``n_eval`` samples every
``eval_every`` steps; at the end also MMD² to held-out data and, for 1-D data, W1.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from .. import backend as _backend
from .. import nn, optim
from ..autodiff.tensor import no_grad, tensor
from ..config import Config, option
from ..data.toy import TOY_DATASETS, check_toy_data, is_toy_file, load_toy
from ..divergences import w1_1d
from ..metrics import mode_coverage
from ..mmd import mmd2
from ..training import TrainingDiverged, TrainingLoop, WeightAverage, write_outputs
from ..validate import bad, check_bool, check_choice, check_int, check_number, check_pair, is_int, is_real
from . import losses as L
from .diagnostics import check_remedies, flipped_label_d_loss, gan_scores, with_dropout
from .latent import PRIORS, sample_latent
from .penalties import clip_weights, gradient_penalty, r1_penalty
from .tricks import instance_noise_std, mmd_weight_at, pack, top_k_count, top_k_scores, unrolled_g_loss

__all__ = ["GANConfig", "LOSSES", "DATASETS", "TrainingDiverged", "build_models", "mlp_critic", "train_gan",
           "GANRun", "sample_distances", "MMD_SIGMAS"]


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

DATASETS = tuple(TOY_DATASETS)  # ring8, grid25, swissroll, moons (2-D), mixture1d (1-D)


@dataclass
class GANConfig(Config):
    """Settings of one run; the defaults follow the Unrolled-GAN / GDPP 2-D protocol.

    Each field is an :func:`~scratchgen.config.option`: its default, and the help text that
    ``scratchgen train gan --help`` shows (the command line is generated from these fields).
    """

    data: str = option("ring8", "training distribution (ring8: radius 1, std 0.01; grid25: {-4..4}^2, std 0.05; "
                       "mixture1d: 1-D, means ±2, std 0.5, also reports W1; also gauss8, checkerboard, swissroll, "
                       "moons), or PATH.npy: an (N, D) float array, a fifth of its rows held out", metavar="DATA")
    loss: str = option("nonsaturating", "GAN loss", choices=tuple(sorted(LOSSES)))
    penalty: str | None = option(None, "critic penalty: WGAN-GP gradient penalty or R1", choices=(None, "gp", "r1"))
    penalty_weight: float = option(10.0, "lambda (gp) or gamma (r1)")
    clip: float | None = option(None, "WGAN weight clipping c (0.01 in Arjovsky et al.)", metavar="C")
    spectral_norm: bool = option(False, "spectral norm on every critic layer (Miyato et al. 2018)")
    label_smoothing: float | None = option(None, "one-sided label smoothing: real target alpha (e.g. 0.9; "
                                           "minimax and nonsaturating only)", metavar="ALPHA")
    minibatch_disc: bool = option(False, "minibatch discrimination before the critic's last layer")
    unrolled: int = option(0, "unrolled GAN (Metz et al. 2017): the generator sees K differentiable critic updates",
                           metavar="K")
    unroll_lr: float = option(1e-2, "step size of the unrolled updates")
    pack: int = option(1, "PacGAN packing (Lin et al. 2018): the critic sees M samples concatenated "
                          "(must divide --batch)", metavar="M")
    lr_schedule: str | None = option(None, "learning-rate schedule of both players: cosine decay to 0 over --steps "
                                           "(none: constant)", choices=(None, "cosine"))
    instance_noise: float = option(0.0, "instance noise (Sønderby et al. 2017): the critic sees x + sigma_t eps, real "
                                        "and generated, sigma_t decaying linearly from S0 to 0 at half of --steps; "
                                        "0 = off", metavar="S0")
    mmd_weight: float = option(0.0, "add LAMBDA * MMD^2(G(z), data) to G's loss (RBF kernels, --mmd-sigmas); 0 = off",
                               metavar="LAMBDA")
    mmd_sigmas: tuple[float, ...] = option((0.5, 1.0, 2.0), "bandwidths of the RBF kernels of the MMD^2 term")
    mmd_samples: int = option(256, "generated and data points in the MMD^2 term's estimate (cost grows as the square)")
    mmd_schedule: str | None = option(None, "schedule of LAMBDA: cosine decay to 0 over --steps (none: constant)",
                                      choices=(None, "cosine"))
    top_k: float | None = option(None, "top-k generator updates (Sinha et al. 2020): G's loss uses only the samples D "
                                       "scores highest, a fraction decaying linearly from 1 to NU over the first half "
                                       "of --steps", metavar="NU")
    ema: float = option(0.0, "evaluate a moving average of G's weights with decay MU (Yazıcı et al. 2019); 0 = off",
                        metavar="MU")
    latent: str = option("gaussian", "the prior of z: N(0, I) or U(-1, 1)^d (the notes' uniform)", choices=PRIORS)
    d_dropout: float = option(0.0, "dropout after each hidden layer of the critic, a remedy for a dominating "
                                   "discriminator; 0 = off", metavar="P")
    label_flip: float = option(0.0, "noisy labels: each of the critic's targets flipped with probability P "
                                    "(minimax / nonsaturating only); 0 = off", metavar="P")
    d_hidden: int | None = option(None, "units in the critic's hidden layers (none: --hidden); fewer is a remedy for "
                                        "a dominating discriminator")
    steps: int = option(5000, "generator updates")
    d_steps: int = option(1, "critic updates per generator update")
    batch: int = option(512, "samples per minibatch (data and noise)")
    z_dim: int = option(64, "dimension of the noise z ~ N(0, I)")
    hidden: int = option(128, "units in each of the 2 hidden layers")
    lr_g: float = option(1e-4, "Adam learning rate of the generator")
    lr_d: float = option(1e-4, "Adam learning rate of the critic")
    betas: tuple[float, float] = option((0.5, 0.999), "Adam's beta1 and beta2", metavar=("BETA1", "BETA2"))
    eval_every: int = option(500, "steps between evaluations/checkpoints")
    n_eval: int = option(2500, "generated samples evaluated")
    seed: int = option(0, "seed of the one generator behind data, noise and weights")
    progress: bool = option(True, "show a progress bar")

    def validate(self):
        """Check every field (types, ranges, finiteness, combinations) before any work: a bad setting is
        named here, never found after training. Raises :class:`~scratchgen.validate.BadValue` or
        :class:`~scratchgen.validate.BadType` (a ``ValueError`` / ``TypeError``)."""
        who = "GANConfig"
        if is_toy_file(self.data):
            check_toy_data(self.data)  # names what is wrong with the file
        else:
            check_choice(self.data, "data", who, DATASETS, fix="or give the path of a .npy file of an (N, D) float array")
        check_choice(self.loss, "loss", who, tuple(sorted(LOSSES)))
        check_choice(self.penalty, "penalty", who, (None, "gp", "r1"))
        check_choice(self.lr_schedule, "lr_schedule", who, (None, "cosine"))
        check_choice(self.mmd_schedule, "mmd_schedule", who, (None, "cosine"))
        for name in ("spectral_norm", "minibatch_disc", "progress"):
            check_bool(getattr(self, name), name, who)
        for name in ("steps", "d_steps", "batch", "z_dim", "hidden", "eval_every", "mmd_samples"):
            check_int(getattr(self, name), name, who, min=1)
        check_int(self.n_eval, "n_eval", who, min=2, fix="the evaluation's MMD^2 needs two samples")
        check_int(self.unrolled, "unrolled", who, min=0)
        check_int(self.seed, "seed", who, min=0)
        if not is_int(self.pack) or self.pack < 1 or self.batch % self.pack:
            raise bad(who, "pack", f"be a positive int dividing {{batch}}={self.batch}", self.pack,
                      type_error=not is_int(self.pack))
        for name in ("lr_g", "lr_d", "unroll_lr"):
            check_number(getattr(self, name), name, who, min=0, min_open=True)
        check_pair(self.betas, "betas", who, min=0, max=1, max_open=True, fix="two numbers: Adam's beta1 and beta2")
        check_number(self.penalty_weight, "penalty_weight", who, min=0,
                     fix="a negative weight would reward the steep critic the penalty is there to prevent")
        for name in ("instance_noise", "mmd_weight"):
            check_number(getattr(self, name), name, who, min=0)
        check_number(self.ema, "ema", who, min=0, max=1, max_open=True)
        self._check_remedies()
        if self.clip is not None:
            check_number(self.clip, "clip", who, min=0, min_open=True)
        if self.label_smoothing is not None:
            check_number(self.label_smoothing, "label_smoothing", who, min=0, max=1, min_open=True)
            if self.loss not in ("minimax", "nonsaturating"):
                raise bad(who, "label_smoothing", f"be None with {{loss}} {self.loss!r} ({{label_smoothing}} applies "
                          "to the minimax / nonsaturating losses only)", self.label_smoothing)
        if self.top_k is not None and (not is_real(self.top_k) or not 0 < self.top_k <= 1):
            raise bad(who, "top_k", "be None or a fraction in (0, 1]", self.top_k, type_error=not is_real(self.top_k))
        sig = self.mmd_sigmas
        if (not isinstance(sig, (tuple, list)) or not sig
                or not all(is_real(x) and math.isfinite(x) and x > 0 for x in sig)):
            raise bad(who, "mmd_sigmas", "be a non-empty tuple of finite bandwidths > 0", sig)
        if self.mmd_weight and min(self.mmd_samples, self.batch) < 2:
            raise bad(who, "mmd_samples", "be >= 2 with {batch} >= 2 when {mmd_weight} > 0 (MMD^2_u needs two "
                      "samples)", self.mmd_samples)
        for name, value in (("instance_noise", self.instance_noise), ("mmd_weight", self.mmd_weight),
                            ("top_k", self.top_k), ("spectral_norm", self.spectral_norm)):
            if self.unrolled and value not in (0, None, False):
                raise bad(who, name, f"be off with {{unrolled}} > 0 ({name} and unrolled cannot be combined here)",
                          value)


    def _check_remedies(self):
        """The latent prior and the remedies for a dominating discriminator (dropout, flipped labels, width)."""
        who = "GANConfig"
        check_remedies(self, who, "d_hidden")
        if self.label_flip and (self.loss not in ("minimax", "nonsaturating") or self.label_smoothing is not None):
            raise bad(who, "label_flip", f"be 0 with {{loss}} {self.loss!r} or label smoothing (flipped labels are "
                      "targets of the cross-entropy of the minimax / nonsaturating losses)", self.label_flip)


def build_models(cfg: GANConfig, dim: int, generator):
    """G: z -> 2 hidden ReLU layers -> R^dim; D: R^(pack·dim) -> 2 hidden LeakyReLU(0.2) layers -> 1 score."""
    h = cfg.hidden
    G = nn.Sequential(
        nn.Linear(cfg.z_dim, h, generator=generator), nn.ReLU(),
        nn.Linear(h, h, generator=generator), nn.ReLU(),
        nn.Linear(h, dim, generator=generator),
    )
    D = mlp_critic(cfg.pack * dim, cfg.d_hidden or h, generator, minibatch_disc=cfg.minibatch_disc,
                   spectral_norm=cfg.spectral_norm)
    return G, with_dropout(D, cfg.d_dropout, generator)


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


def losses_of(cfg: GANConfig):
    """(critic loss, generator loss) of ``cfg.loss``, the critic's with one-sided label smoothing when asked."""
    d_loss_fn, g_loss_fn = LOSSES[cfg.loss]
    if cfg.label_smoothing is not None:
        alpha = cfg.label_smoothing
        d_loss_fn = lambda r, f: L.d_loss_label_smoothing(r, f, alpha=alpha)  # noqa: E731
    return d_loss_fn, g_loss_fn


def critic_loss(cfg: GANConfig, D, x_real, x_fake, d_loss_fn, gen):
    """The critic's loss on a real and a generated batch (with flipped labels, the gradient penalty or R1 as
    ``cfg`` says), and the lecture's scores s_G, s_D of those batches (minimax / nonsaturating; else ``{}``)."""
    l_real, l_fake = D(x_real), D(x_fake)
    loss_d = flipped_label_d_loss(l_real, l_fake, cfg.label_flip, gen) if cfg.label_flip else d_loss_fn(l_real, l_fake)
    if cfg.penalty == "gp":
        loss_d = loss_d + gradient_penalty(D, x_real, x_fake, lam=cfg.penalty_weight, rng=gen)
    elif cfg.penalty == "r1":
        loss_d = loss_d + r1_penalty(D, x_real, gamma=cfg.penalty_weight)
    return loss_d, (gan_scores(l_real, l_fake) if cfg.loss in ("minimax", "nonsaturating") else {})


class _Draws:
    """The training stream's draws of a run: data batches, noise z, instance noise."""

    def __init__(self, cfg, gen):
        self.cfg, self.gen = cfg, gen

    def data(self, n):
        return tensor(load_toy(self.cfg.data, n, seed=self.gen).x)

    def z(self, n, g=None):  # z ~ p(z) (N(0, I) or U(-1, 1)^d), from the training stream unless g is given
        g = self.gen if g is None else g
        return tensor(sample_latent(g, n, self.cfg.z_dim, self.cfg.latent))

    def noisy(self, x, sigma):  # instance noise: x + sigma eps, eps ~ N(0, I), before packing
        if sigma == 0:
            return x
        return x + tensor((sigma * self.gen.standard_normal(x.shape)).astype(_backend.default_dtype()))


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
    gen = _backend.rng(cfg.seed)  # the training stream: weights, data, noise
    data_eval = load_toy(cfg.data, cfg.n_eval, seed=cfg.seed + 10_000, split="test")  # held out, for metrics
    G, D = build_models(cfg, data_eval.x.shape[1], gen)
    G_avg = WeightAverage(G, cfg.ema) if cfg.ema > 0 else None  # starts at G's initial weights
    opt_G = optim.Adam(G.parameters(), lr=cfg.lr_g, betas=cfg.betas)
    opt_D = optim.Adam(D.parameters(), lr=cfg.lr_d, betas=cfg.betas)
    # eta_t = eta_0 (1 + cos(pi t / T)) / 2, one step per generator update (critic steps share it)
    scheds = ({"sched_G": optim.CosineAnnealingLR(opt_G, T_max=cfg.steps),
               "sched_D": optim.CosineAnnealingLR(opt_D, T_max=cfg.steps)} if cfg.lr_schedule else {})
    d_loss_fn, g_loss_fn = losses_of(cfg)
    m, B, draw = cfg.pack, cfg.batch, _Draws(cfg, gen)

    def step(t):
        sigma = instance_noise_std(t, cfg.instance_noise, cfg.steps)
        # 1. critic updates: descend L_D on a data batch and a generated batch
        for _ in range(cfg.d_steps):
            x_real = pack(draw.noisy(draw.data(B), sigma), m)  # (B/m, m d)
            with no_grad():
                x_fake = pack(draw.noisy(G(draw.z(B)), sigma), m)
            loss_d, scores = critic_loss(cfg, D, x_real, x_fake, d_loss_fn, gen)
            opt_D.zero_grad()
            loss_d.backward()
            opt_D.step()
            if cfg.clip is not None:
                clip_weights(D.parameters(), cfg.clip)
        # 2. generator update: descend L_G on fresh noise
        z = draw.z(B)
        if cfg.unrolled:
            loss_g = unrolled_g_loss(G, D, z, draw.data(B), d_loss_fn, g_loss_fn, cfg.unrolled, cfg.unroll_lr, m)
        else:  # top-k: only the k packs D scores highest carry G's gradient (all of them without top_k)
            x_gen = G(z)
            k = top_k_count(t, B // m, cfg.top_k, cfg.steps)
            loss_g = g_loss_fn(top_k_scores(D(pack(draw.noisy(x_gen, sigma), m)), k))
            if cfg.mmd_weight:  # + lambda MMD^2_u(G(z), x) on n of the samples: a pull toward every mode
                n = min(cfg.mmd_samples, B)
                loss_g = loss_g + mmd_weight_at(t, cfg.mmd_weight, cfg.steps, cfg.mmd_schedule) * mmd2(
                    x_gen[:n], draw.data(n), kernel="rbf", sigma=tuple(cfg.mmd_sigmas))
        opt_G.zero_grad()
        loss_g.backward()
        lr_used = opt_G.param_groups[0]["lr"]
        opt_G.step()
        if G_avg is not None:
            G_avg.update(t)
        for s in scheds.values():
            s.step()
        return {"loss_d": loss_d, "loss_g": loss_g, "lr_g": lr_used, **scores}

    def evaluate(t, gen_eval, final):  # mode coverage of samples from the average (or G), on their own noise
        G_eval = G_avg.module() if G_avg is not None else G
        G_eval.eval()
        with no_grad():
            x = G_eval(draw.z(cfg.n_eval, gen_eval)).data
        G_eval.train()
        cov = mode_coverage(x, data_eval.centres, data_eval.std) if data_eval.centres is not None else None
        return {"modes": cov.modes_captured if cov else None,
                "high_quality": cov.high_quality_fraction if cov else None,
                "kl_from_uniform": cov.kl_from_uniform if cov else None}, (x, cov)  # HQ and KL together

    loop = TrainingLoop("gan", cfg, gen, step=step, evaluate=evaluate, modules={"G": G, "D": D},
                        optimizers={"opt_G": opt_G, "opt_D": opt_D}, schedulers=scheds, averages={"G_ema": G_avg},
                        eval_seed=cfg.seed + 20_000, hint="Try a smaller learning rate, a penalty or spectral norm.",
                        desc=f"{cfg.loss} {cfg.data}", postfix=("modes", "high_quality", "kl_from_uniform"))
    _, (x, cov) = loop.run(out_dir, resume, callback)
    final = {"steps": cfg.steps, "data": cfg.data, "loss": cfg.loss}
    if cov is not None:
        final.update(cov.as_dict())
    final.update(sample_distances(x, data_eval.x))
    run = GANRun(cfg, G, D, G_avg.module() if G_avg is not None else None, loop.history, final, _backend.to_numpy(x))
    if out_dir:
        _write_run(run, data_eval, out_dir)
    return run


def _write_run(run: GANRun, data_eval, out_dir):
    """metrics.json, samples.npy and the figures of :func:`scratchgen.viz.gan_figures` (with matplotlib)."""
    write_outputs(out_dir, run.final, run.config, run.history, {"samples": run.samples})
    try:
        from .. import viz
    except ImportError:  # matplotlib missing: the numbers are written, the figures are not
        return
    viz.gan_figures(run, data_eval, out_dir)
    if "s_G" in run.history:  # the lecture's scores (minimax / nonsaturating losses)
        from .diagnostics import scores_figure

        scores_figure(run.history, f"{out_dir}/scores.png", viz.run_title(run.config, width=70))


MMD_SIGMAS = (0.05, 0.2, 1.0)  # bandwidths of the evaluation kernel: fine (about σ of grid25), mid, global


def sample_distances(samples, held_out):
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
