r"""Train the progressive GAN and the small style-based generator on the digits (or padded MNIST).

One trainer for both of Karras et al.'s generators, on the scaffold (:class:`~scratchgen.training.TrainingLoop`):

* ``model="progan"`` ([ProGAN], :mod:`scratchgen.gan.progan`): a share ``first_stage`` of the ``steps`` at
  4×4, the rest split evenly over the later stages (8×8, ...); in each phase after the first, the first
  ``fade`` of it ramps :math:`\alpha` linearly 0 → 1 (:func:`schedule`), and the real images are blended the
  same way between the two resolutions ([ProGAN] Appendix A.1), :func:`real_at`.
* ``model="stylegan"`` ([StyleGAN], :mod:`scratchgen.gan.stylegan`): the synthesis network trains at the
  data's resolution from the start (no growing in this small version), with style-mixing
  regularisation ([StyleGAN] sec. 3.1: a share ``mixing`` of the batches use two latents and a random
  crossover) and :math:`\bar w` tracked for the truncation trick.

Two losses (:func:`critic_loss`, :func:`generator_loss`). ``loss="ns-r1"`` (the default) is [StyleGAN]'s
FFHQ loss: critic :math:`\mathbb E[\operatorname{softplus}(-D(x))] + \mathbb E[\operatorname{softplus}(D(G(z)))]
+ \tfrac{\gamma}{2}\,\mathbb E\lVert\nabla_x D(x)\rVert^2` (R1 on the reals, [R1] Eq. 9), generator
:math:`\mathbb E[\operatorname{softplus}(-D(G(z)))]`; ``loss="wgan-gp"`` is [ProGAN]'s (App. A.1): critic
:math:`\mathbb E[D(G(z))] - \mathbb E[D(x)] + \lambda\,\mathbb E[(\lVert\nabla D(\hat x)\rVert - 1)^2]
+ \epsilon_{drift}\,\mathbb E[D(x)^2]`, :math:`\lambda = 10`, :math:`\epsilon_{drift} = 10^{-3}`, generator
:math:`-\mathbb E[D(G(z))]`. Either penalty is applied lazily ([StyleGAN2] sec. 4): on every
``reg_every``-th critic step only, weighted ``reg_every`` times. Adam with :math:`\beta = (0, 0.99)` and lr
3e-3 for both players ([ProGAN] App. A.1: 1e-3; with wgan-gp use ``lr_d=1e-3, lr_g=3e-4``: at 1e-3 that
generator outran its critic in these small runs and the samples collapsed); the generator is evaluated from an exponential
moving average of its weights (decay 0.99: the paper's 0.999 averages over more steps than a stage has).

Departures from the papers, chosen by single-seed measurements on the 8×8 digits at about two minutes of
CPU per run (docs/results.md, "ProGAN and StyleGAN"): a tanh output (the papers' is linear; the digits' background
is exactly -1, which a linear output only approaches, leaving a grey haze), 20 % of the steps at 4×4
instead of half, narrow networks (channels (32, 16)), R1 with :math:`\gamma = 0.1` every 8 steps, and learning
rates 3e-3 instead of 1e-3.

References: [ProGAN] Karras et al., ICLR 2018; [StyleGAN] Karras et al., CVPR 2019; [StyleGAN2] Karras et al.,
"Analyzing and Improving the Image Quality of StyleGAN", CVPR 2020; [R1] Mescheder, Geiger & Nowozin,
"Which Training Methods for GANs do actually Converge?", ICML 2018.

Metrics (8×8 digits): :func:`scratchgen.metrics.features.image_metrics` of ``n_eval`` samples against the
held-out digits, and, for these unconditional models, ``recognisable`` (the share of samples the
classifier assigns to one digit with probability ≥ 0.9) and ``classes_covered`` (digits with at
least 2 % of the samples). A sample drawn before the last stage is upsampled to 8×8 for scoring.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from .. import backend as _backend
from .. import optim
from ..autodiff.tensor import no_grad, tensor
from ..config import Config, option
from ..data.images import check_image_data, load_image_data, pad_images
from ..nn.norms import downsample2x, upsample2x
from ..training import RESUMABLE_CHANGES, TrainingLoop, WeightAverage, same_setting, write_outputs
from ..validate import bad, check_bool, check_choice, check_int, check_number, check_pair
from . import losses as L
from .penalties import gradient_penalty, r1_penalty
from .progan import ProDiscriminator, ProGenerator, fade
from .stylegan import StyleGenerator

__all__ = ["KarrasConfig", "KarrasRun", "schedule", "real_at", "critic_loss", "generator_loss", "train_karras",
           "MODELS", "LOSSES"]

MODELS = ("progan", "stylegan")
LOSSES = ("wgan-gp", "ns-r1")
RESUMABLE = RESUMABLE_CHANGES + ("kid_subsets", "mnist_path", "mnist_checksums")
#: the fields a run does not read: StyleGAN has no growing; each loss reads its own penalty's weights
UNREAD = {"stylegan": ("first_stage", "fade"), "wgan-gp": ("gamma",), "ns-r1": ("gp", "drift")}


def resumable(cfg):
    """The fields a resume of ``cfg``'s run may change: :data:`RESUMABLE` and the fields the run does not read."""
    return RESUMABLE + UNREAD.get(cfg.model, ()) + UNREAD[cfg.loss]


@dataclass
class KarrasConfig(Config):
    """Settings of one ProGAN / StyleGAN run (``scratchgen train progan|stylegan``)."""

    model: str = option("progan", "which generator: progan | stylegan (the subcommand)", choices=MODELS, cli=False)
    data: str = option("digits", "digits: the shipped 8×8 digits (stages 4, 8); mnist: 28×28 IDX files at "
                                 "--mnist-path, padded to 32×32 (stages 4, 8, 16, 32)", choices=("digits", "mnist"))
    mnist_path: str | None = option(None, "folder with the four MNIST IDX .gz files")
    mnist_checksums: str = option("standard", "how the MNIST files are checked: standard | none | FILE",
                                  metavar="standard|none|FILE")
    steps: int = option(3000, "updates of G (one critic update each); ProGAN: a share --first-stage at 4x4, the rest split evenly over "
                               "the later stages")
    fade: float = option(0.5, "ProGAN: the share of each later stage's steps over which alpha goes 0 -> 1")
    first_stage: float | None = option(0.2, "ProGAN: the share of the steps spent at 4x4 (the later stages share "
                                            "the rest evenly); none: every stage the same share",
                                       metavar="SHARE")
    batch: int = option(64, "images per minibatch")
    z_dim: int = option(32, "dimension of z ~ N(0, I)")
    channels: tuple[int, ...] = option((32, 16), "channels per stage, 4x4 first (one number per stage; (64, 32) "
                                                 "gave worse samples at the same CPU time on the digits)")
    w_dim: int = option(32, "StyleGAN: dimension of w")
    mapping_layers: int = option(4, "StyleGAN: dense layers of the mapping network")
    mixing: float = option(0.9, "StyleGAN: share of batches trained with style mixing (two latents)")
    output: str = option("tanh", "the generator's output: tanh as the DCGAN's (the digits' background is exactly -1), "
                                 "or linear as in the papers",
                         choices=("linear", "tanh"))
    lr_d: float = option(3e-3, "Adam learning rate of the critic ([ProGAN] App. A.1: 1e-3; 3e-3 trained faster on "
                               "the digits, see docs/results.md)")
    lr_g: float = option(3e-3, "Adam learning rate of G ([ProGAN] App. A.1: 1e-3; with --loss wgan-gp use 3e-4: "
                               "at 1e-3 that generator outran its critic and collapsed, see docs/results.md)")
    betas: tuple[float, float] = option((0.0, 0.99), "Adam's beta1 and beta2", metavar=("BETA1", "BETA2"))
    loss: str = option("ns-r1", "wgan-gp: [ProGAN]'s WGAN-GP + drift; ns-r1: [StyleGAN]'s non-saturating "
                                  "logistic loss with the R1 penalty on the reals", choices=LOSSES)
    gp: float = option(10.0, "wgan-gp: weight lambda of the WGAN-GP gradient penalty")
    drift: float = option(1e-3, "wgan-gp: weight of the drift term E[D(x)^2]")
    gamma: float = option(0.1, "ns-r1: weight gamma of the R1 penalty gamma/2 E||grad D(x)||^2")
    reg_every: int = option(8, "lazy regularisation: the penalty every K critic steps, weighted K times "
                               "([StyleGAN2] sec. 4); 1 = every step", metavar="K")
    ema: float = option(0.99, "evaluate a moving average of G's weights with decay MU (0 = the live G; [ProGAN]'s "
                              "0.999 averages over more steps than a stage of these short runs has)",
                        metavar="MU")
    eval_every: int = option(1000, "steps between evaluations/checkpoints")
    n_eval: int = option(1000, "generated images scored at each evaluation")
    kid_subsets: int = option(100, "random subsets KID averages over")
    seed: int = option(0, "seed of the one generator behind weights, data and noise")
    progress: bool = option(True, "show a progress bar")

    #: MNIST in Python (``KarrasConfig.preset("mnist")``): four stages, 4x4 to 32x32; on the command line
    #: ``--data mnist --channels 64 64 32 16``
    PRESETS = {"mnist": dict(data="mnist", channels=(64, 64, 32, 16))}
    #: a checkpoint from before these fields existed (2026-12-06) trained with WGAN-GP every step, even stages
    LEGACY = {"loss": "wgan-gp", "first_stage": None, "reg_every": 1}

    def validate(self):
        who = "KarrasConfig"
        check_choice(self.model, "model", who, MODELS)
        check_image_data(self, who)
        for name in ("steps", "batch", "z_dim", "w_dim", "mapping_layers", "eval_every", "kid_subsets", "reg_every"):
            check_int(getattr(self, name), name, who, min=1)
        check_int(self.n_eval, "n_eval", who, min=4, fix="the image metrics need at least 4 samples")
        check_int(self.seed, "seed", who, min=0)
        check_number(self.fade, "fade", who, min=0, max=1)
        check_number(self.mixing, "mixing", who, min=0, max=1)
        check_choice(self.output, "output", who, ("linear", "tanh"))
        check_number(self.lr_d, "lr_d", who, min=0, min_open=True)
        check_number(self.lr_g, "lr_g", who, min=0, min_open=True)
        check_choice(self.loss, "loss", who, LOSSES)
        check_number(self.gp, "gp", who, min=0)
        check_number(self.gamma, "gamma", who, min=0)
        if self.first_stage is not None:
            check_number(self.first_stage, "first_stage", who, min=0, max=1, min_open=True, max_open=True)
        check_number(self.drift, "drift", who, min=0)
        for name in UNREAD[self.loss]:  # a weight of the other loss, set: it would be ignored without a word
            default = self.__dataclass_fields__[name].default
            if self.loss in LOSSES and not same_setting(getattr(self, name), default):
                raise bad(who, name, f"keep its default {default} with {{loss}} {self.loss!r}, which does not read it",
                          getattr(self, name))
        check_number(self.ema, "ema", who, min=0, max=1, max_open=True)
        check_pair(self.betas, "betas", who, min=0, max=1, max_open=True)
        check_bool(self.progress, "progress", who)
        n = 2 if self.data == "digits" else 4
        ch = self.stage_channels()
        if not (isinstance(ch, (tuple, list)) and len(ch) == n and all(isinstance(c, int) and c >= 1 for c in ch)):
            raise bad(who, "channels", f"be {n} positive ints for {{data}} {self.data!r} (one per stage, 4x4 first"
                      + ("; e.g. --channels 64 64 32 16, KarrasConfig.preset('mnist'))" if n == 4 else ")"), ch)
        if self.batch % min(4, self.batch):
            raise bad(who, "batch", "be a multiple of 4 (the minibatch-std groups)", self.batch)

    def stage_channels(self):
        return tuple(self.channels)


def schedule(t, steps, n_stages, fade_share, first_share=None):
    r"""``(stage, alpha)`` at step t (0-based) of ``steps``: phase 0 covers :math:`[0, t_1)` with
    :math:`t_1 = s\,T` (``first_share`` s; none: :math:`s = 1/n`), the later phases split
    :math:`[t_1, T)` evenly, :math:`t_k = t_1 + (k-1)\,(T - t_1)/(n-1)`; in phases k ≥ 1,
    :math:`\alpha = \min(1, (t - t_k + 1)/(f\,P))` (P the phase's length) rises linearly over the first
    share f of the phase, then stays 1. Stage 0 has :math:`\alpha = 1`."""
    if first_share is None or n_stages == 1:
        per = steps / n_stages
        k = min(int(t // per), n_stages - 1)
        t_k = k * per
    else:
        t_1 = first_share * steps
        per = (steps - t_1) / (n_stages - 1)
        k = 0 if t < t_1 else min(1 + int((t - t_1) // per), n_stages - 1)
        t_k = t_1 + (k - 1) * per
    if k == 0 or fade_share == 0:
        return k, 1.0
    return k, min(1.0, (t - t_k + 1) / (fade_share * per))


def real_at(x, stage, alpha, n_stages):
    r"""The real images as the critic sees them at ``(stage, alpha)``: average-pooled to
    :math:`4\cdot 2^k`, and during a fade-in blended
    :math:`(1-\alpha)\,\operatorname{up}(\operatorname{down}(x_k)) + \alpha\,x_k` ([ProGAN] App. A.1)."""
    for _ in range(n_stages - 1 - stage):
        x = downsample2x(x)
    if stage == 0 or alpha >= 1.0:
        return x
    return fade(upsample2x(downsample2x(x)), x, alpha)


def critic_loss(cfg, critic, xr, xf, t, rng=None):
    r"""The critic's loss at step t (0-based) on reals ``xr`` and fakes ``xf`` (B, 1, s, s).

    ``cfg.loss == "wgan-gp"`` ([ProGAN] App. A.1):
    :math:`\mathbb E[D(\tilde x)] - \mathbb E[D(x)] + \epsilon_{drift}\,\mathbb E[D(x)^2]
    + k\lambda\,\mathbb E[(\lVert\nabla D(\hat x)\rVert - 1)^2]`;
    ``"ns-r1"`` ([StyleGAN] sec. 4 on FFHQ; [R1] Eq. 9): :math:`\mathbb E[\operatorname{softplus}(-D(x))]
    + \mathbb E[\operatorname{softplus}(D(\tilde x))] + k\,\tfrac{\gamma}{2}\,\mathbb E\lVert\nabla_x D(x)\rVert^2`.
    Lazy regularisation ([StyleGAN2] sec. 4): the penalty term only when :math:`t \bmod k = 0`,
    :math:`k` = ``cfg.reg_every``, weighted k times so that its average weight is unchanged."""
    dr, df = critic(xr), critic(xf)  # (B, 1) scores
    k = cfg.reg_every
    due = t % k == 0
    if cfg.loss == "ns-r1":  # softplus(-D(x)) + softplus(D(G(z)))
        loss = L.d_loss(dr, df)
        return loss + r1_penalty(critic, xr, gamma=cfg.gamma * k) if cfg.gamma and due else loss
    loss = L.wgan_critic_loss(dr, df) + (dr * dr).mean() * cfg.drift
    return loss + gradient_penalty(critic, xr, xf, lam=cfg.gp * k, rng=rng) if cfg.gp and due else loss


def generator_loss(cfg, df):
    r"""G's loss on the critic's scores of its samples: :math:`-\mathbb E[D(G(z))]` (wgan-gp) or the
    non-saturating :math:`\mathbb E[\operatorname{softplus}(-D(G(z)))]` (ns-r1)."""
    return L.g_loss_nonsaturating(df) if cfg.loss == "ns-r1" else L.wgan_g_loss(df)


def _load(cfg):
    """Training and held-out images; MNIST padded with the background value -1 to 32×32."""
    data = load_image_data(cfg)
    return pad_images(data, 32) if data.size == 28 else data


def build_models(cfg, gen):
    """(G, D): a :class:`ProGenerator` or :class:`StyleGenerator`, and a :class:`ProDiscriminator`."""
    ch = cfg.stage_channels()
    if cfg.model == "progan":
        G = ProGenerator(cfg.z_dim, ch, tanh=cfg.output == "tanh", generator=gen)
    else:
        G = StyleGenerator(cfg.z_dim, cfg.w_dim, ch, cfg.mapping_layers, tanh=cfg.output == "tanh", generator=gen)
    return G, ProDiscriminator(ch, generator=gen)


@dataclass
class KarrasRun:
    config: KarrasConfig
    G: object
    D: object
    G_eval: object = None  # the averaged G (cfg.ema > 0) or G
    history: dict = field(default_factory=dict)
    final: dict = field(default_factory=dict)
    samples: object = None  # (n_eval, 1, s, s) NumPy


def _digit_scores(x):
    """``recognisable`` and ``classes_covered`` of 8×8 samples by the shipped classifier."""
    from ..metrics.features import digit_log_probs

    xp = _backend.get_xp(x)
    p = xp.exp(digit_log_probs(x))  # (N, 10)
    top = xp.argmax(p, axis=1)
    share = xp.bincount(top, minlength=10) / x.shape[0]
    return {"recognisable": float((p.max(axis=1) >= 0.9).mean()), "classes_covered": int((share >= 0.02).sum())}


def train_karras(cfg: KarrasConfig, out_dir=None, resume=None, callback=None) -> KarrasRun:
    """Train ``cfg.model`` on ``cfg.data``; write samples.png, samples.npy, ``metrics.json`` and checkpoints."""
    cfg.validate()
    gen = _backend.rng(cfg.seed)  # the training stream: weights, minibatches, noise, penalty weights
    data = _load(cfg)
    n_stages = len(cfg.stage_channels())
    G, D = build_models(cfg, gen)
    opt_G = optim.Adam(G.parameters(), lr=cfg.lr_g, betas=cfg.betas)
    opt_D = optim.Adam(D.parameters(), lr=cfg.lr_d, betas=cfg.betas)
    G_avg = WeightAverage(G, cfg.ema) if cfg.ema > 0 else None
    dt = _backend.default_dtype()
    draw_z = lambda n: tensor(gen.standard_normal((n, cfg.z_dim)).astype(dt))  # noqa: E731
    progan = cfg.model == "progan"
    where = lambda t: (schedule(t, cfg.steps, n_stages, cfg.fade, cfg.first_stage)  # noqa: E731
                       if progan else (n_stages - 1, 1.0))

    def generate(stage, alpha, B):
        if progan:
            return G(draw_z(B), stage, alpha)
        if gen.random() < cfg.mixing:  # style mixing regularisation: a random crossover layer
            return G(draw_z(B), z2=draw_z(B), crossover=int(gen.integers(1, G.n_ws)))
        return G(draw_z(B))

    def step(t):
        stage, alpha = where(t)
        critic = lambda x: D(x, stage, alpha)  # noqa: E731
        idx = gen.integers(0, data.x_train.shape[0], cfg.batch)
        xr = real_at(tensor(data.x_train[idx]), stage, alpha, n_stages)
        with no_grad():
            xf = generate(stage, alpha, cfg.batch)
        loss_d = critic_loss(cfg, critic, xr, xf, t, gen)
        opt_D.zero_grad()
        loss_d.backward()
        opt_D.step()
        loss_g = generator_loss(cfg, critic(generate(stage, alpha, cfg.batch)))
        opt_G.zero_grad()
        loss_g.backward()
        opt_G.step()
        if G_avg is not None:
            G_avg.update(t)
        return {"loss_d": loss_d, "loss_g": loss_g, "stage": stage, "alpha": alpha}

    def evaluate(t, gen_eval, final):
        stage, alpha = where(t - 1)
        G_eval = G_avg.module() if G_avg is not None else G
        z = tensor(gen_eval.standard_normal((cfg.n_eval, cfg.z_dim)).astype(dt))
        G_eval.eval()
        with no_grad():
            x = G_eval(z, stage, alpha) if progan else G_eval(z, noise_gen=gen_eval)
        G_eval.train()
        x = x.data
        while x.shape[-1] < data.size:  # an earlier stage: scored upsampled
            x = upsample2x(tensor(x)).data
        out = {"step": t, "stage": stage, "alpha": alpha}
        if data.size == 8:
            from ..metrics.features import image_metrics

            out.update(image_metrics(x, data.x_test, kid_subsets=cfg.kid_subsets, seed=cfg.seed))
            out.update(_digit_scores(x))
        return out, x

    loop = TrainingLoop(cfg.model, cfg, gen, step=step, evaluate=evaluate, modules={"G": G, "D": D},
                        optimizers={"opt_G": opt_G, "opt_D": opt_D}, averages={"G_ema": G_avg},
                        eval_seed=cfg.seed + 20_000, may_differ=resumable(cfg),
                        hint="Try a smaller learning rate or a larger gradient penalty.",
                        desc=f"{cfg.model} {cfg.data}", postfix=("fid", "recognisable"))
    metrics, x = loop.run(out_dir, resume, callback)
    final = {"model": cfg.model, "data": cfg.data, "n_train": int(data.x_train.shape[0])}
    final.update(metrics)
    final.update(train_seconds=loop.seconds["train"], train_cpu_seconds=loop.seconds["train_cpu"])
    run = KarrasRun(cfg, G, D, G_avg.module() if G_avg else G, loop.history, final, _backend.to_numpy(x))
    if out_dir:
        write_outputs(out_dir, final, cfg, loop.history, {"samples": run.samples})
        _figures(run, out_dir)
    return run


def _figures(run, out_dir):
    try:
        from ..viz import save_image_grid
    except ImportError:  # matplotlib missing: the numbers are written, the figures are not
        return
    save_image_grid(run.samples[:100], os.path.join(out_dir, "samples.png"),
                    title=f"{run.config.model}, step {run.config.steps}")
