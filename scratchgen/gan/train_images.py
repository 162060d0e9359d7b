r"""Train the image GANs (8×8 digits, 28×28 MNIST): DCGAN, the conditional GAN, the semi-supervised GAN.

References
----------
* [DCGAN]  Radford, Metz & Chintala, ICLR 2016, Section 4: Adam with lr 2e-4 and β₁ = 0.5, batch 64
  (the defaults of :class:`ImageGANConfig`); the models are in :mod:`scratchgen.gan.dcgan`.
* [cGAN]   Mirza & Osindero, "Conditional Generative Adversarial Nets", 2014, Eq. 2: the label
  enters both players; generated images are asked for uniform random labels.
* [Improved] Salimans et al., "Improved Techniques for Training GANs", NeurIPS 2016: Section 3.1
  (feature matching, the SS-GAN's generator loss), Section 5 (semi-supervised learning with a K+1
  critic); the losses, models and regularisers are in :mod:`scratchgen.gan.ssgan`.

What is here: the settings (:class:`ImageGANConfig`, with the ``"ssgan"`` preset that
``scratchgen train ssgan`` runs), the models of a run (:func:`build_image_models`), the trainer
(:func:`train_image_gan`) and the labelled-only baseline of the SS-GAN (:func:`train_labelled_only`).
The data come from :func:`scratchgen.data.images.load_image_data`, the image grid from
:func:`scratchgen.viz.save_image_grid`.
"""
from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field

from .. import backend as _backend
from .. import optim
from ..autodiff import functional as AF
from ..autodiff.tensor import no_grad, tensor
from ..config import Config, option
from ..data.digits import random_shift
from ..data.images import DATASETS, N_CLASSES, check_image_data, load_image_data
from ..training import (
    RESUMABLE_CHANGES,
    TrainingDiverged,
    TrainingLoop,
    WeightAverage,
    same_setting,
    write_outputs,
)
from ..validate import bad, check_bool, check_choice, check_int, check_number, check_pair, is_int, is_real
from . import losses as L
from . import ssgan
from .dcgan import DCGANDiscriminator, DCGANGenerator, dcgan_init_
from .diagnostics import check_remedies, flipped_label_d_loss, gan_scores, with_dropout
from .latent import PRIORS, sample_latent
from .ssgan import (
    SSConvCritic,
    SSCritic,
    SSGenerator,
    consistency_penalty,
    labelled_indices,
    manifold_penalty,
    unlabelled_indices,
    vat_penalty,
)

__all__ = [
    "ImageGANConfig", "ImageRun", "MODELS", "DATASETS", "SSGAN_ONLY", "build_image_models", "train_image_gan",
    "train_labelled_only", "TrainingDiverged", "RESUMABLE",
]

MODELS = ("dcgan", "cgan", "ssgan")


#: the fields a resumed run may change: how long it runs, how it reports, where the MNIST files are
RESUMABLE = RESUMABLE_CHANGES + ("kid_subsets", "mnist_path", "mnist_checksums")

#: the fields that only the SS-GAN reads (``scratchgen train ssgan`` alone offers them)
SSGAN_ONLY = ("labels_per_class", "unlabelled_fraction", "critic", "ss_hidden", "weight_norm", "ss_noise", "ss_entropy",
              "ss_unsup_weight", "ss_consistency", "ss_manifold", "ss_manifold_eps", "ss_vat", "ss_vat_eps", "augment")


@dataclass
class ImageGANConfig(Config):
    """Settings of one image-GAN run; defaults follow [DCGAN] Section 4 (Adam 2e-4, β₁ = 0.5, batch 64).

    ``ImageGANConfig.preset("ssgan")`` (``PRESETS["ssgan"]``) is what ``scratchgen train ssgan``
    runs: 6000 steps at lr 1e-3 with a cosine decay, the settings of the measured SS-GAN results
    (docs/results.md). Each field is an :func:`~scratchgen.config.option`: its default, and the help
    text that ``scratchgen train dcgan|cgan|ssgan --help`` shows (the command line is generated from
    these fields; the SS-GAN's own options keep their short flags, ``--vat`` for ``ss_vat``).
    """

    model: str = option("dcgan", "which GAN: dcgan | cgan | ssgan (the subcommand)", choices=MODELS, cli=False)
    data: str = option("digits", "digits: the shipped 8×8 UCI digits (70/30 split); mnist: 28×28 IDX files at "
                                 "--mnist-path", choices=DATASETS)
    mnist_path: str | None = option(None, "folder with the four MNIST IDX .gz files")
    # mnist: how the IDX files are checked: "standard" (the original files' MD5, ``MNIST_MD5``), "none",
    # or the path of a JSON file {filename: MD5 or SHA-256 hex digest} (e.g. the one demos/mnist_subset.py writes)
    mnist_checksums: str = option("standard", "how the MNIST files are checked: the original files' MD5 (standard), "
                                              "not at all (none), or the digests in a JSON file {filename: hexdigest} "
                                              "(demos/mnist_subset.py writes one)", metavar="standard|none|FILE")
    steps: int = option(3000, "generator updates")
    batch: int = option(64, "images per minibatch (labelled, unlabelled and generated alike)")
    z_dim: int = option(64, "dimension of z ~ N(0, I)")
    width: int = option(64, "channels w of the first D / last G layer, the others have 2w (ssgan: G's hidden "
                            "units / 4, the conv critic's channels × 2)")
    lr_g: float = option(2e-4, "Adam learning rate of G")
    lr_d: float = option(2e-4, "Adam learning rate of D (the critic)")
    betas: tuple[float, float] = option((0.5, 0.999), "Adam's beta1 and beta2", metavar=("BETA1", "BETA2"))
    labels_per_class: int = option(10, "labelled training images per digit (chosen by the run's seed)")
    unlabelled_fraction: float = option(1.0, "share of the other training images used as unlabelled data (1 = all)",
                                        metavar="F")
    lr_schedule: str | None = option(None, "cosine: both learning rates decay to 0 over --steps; none: constant",
                                     choices=(None, "cosine"))
    critic: str = option("mlp", "the K+1 critic's architecture (mlp: as [Improved] on MNIST)", choices=("mlp", "conv"))
    ss_hidden: tuple[int, ...] = option((512, 256, 256, 128), "hidden units of the MLP critic, one number per layer",
                                        flag="--hidden")
    weight_norm: bool = option(False, "weight normalisation in every layer of the MLP critic")
    ss_noise: tuple[float, float] = option((0.3, 0.5), "std of the critic's Gaussian noise on its input and after each "
                                                       "hidden layer", flag="--noise", metavar=("SIGMA_IN", "SIGMA_H"))
    ss_entropy: float = option(0.0, "weight of the class entropy of unlabelled images in the critic's loss (0 = off)",
                               flag="--entropy")
    ss_unsup_weight: float = option(1.0, "critic loss L_sup + W L_unsup (the paper's text: 1; its code: 0.5)",
                                    flag="--unsup-weight", metavar="W")
    ss_consistency: float = option(0.0, "weight of the Pi-model term: two noisy critic passes over unlabelled images "
                                        "agree (0 = off)", flag="--consistency", metavar="LAMBDA")
    ss_manifold: float = option(0.0, "weight of the manifold regulariser ||l(G(z)) - l(G(z + eps d))||^2 on generated "
                                     "images ([ManifoldReg]; 0 = off)", flag="--manifold", metavar="LAMBDA")
    ss_manifold_eps: float = option(1.0, "step along a random unit direction d of z in that regulariser",
                                    flag="--manifold-eps", metavar="EPS")
    ss_vat: float = option(0.0, "weight of the virtual adversarial term on unlabelled images ([VAT]; 0 = off)",
                           flag="--vat", metavar="ALPHA")
    ss_vat_eps: float = option(2.0, "L2 radius of its adversarial perturbation of an image (pixels in [-1, 1]; the "
                                    "input noise sigma_in = 0.3 has length about 2.4)", flag="--vat-eps", metavar="EPS")
    augment: bool = option(False, "random one-pixel shifts of the real images the critic sees")
    latent: str = option("gaussian", "the prior of z: N(0, I) or U(-1, 1)^d (the notes' uniform)", choices=PRIORS)
    d_dropout: float = option(0.0, "dcgan/cgan: dropout after each LeakyReLU of D (a remedy for a dominating "
                                   "discriminator); 0 = off", metavar="P")
    label_flip: float = option(0.0, "dcgan/cgan: each of D's targets flipped with probability P (noisy labels); "
                                    "0 = off", metavar="P")
    d_width: int | None = option(None, "dcgan/cgan: channels w of D (none: --width); narrower is a remedy for a "
                                       "dominating discriminator")
    ema: float = option(0.0, "evaluate moving averages of G's and D's weights with decay MU (0 = off)", metavar="MU")
    eval_every: int = option(1000, "steps between evaluations/checkpoints")
    n_eval: int = option(1000, "generated images scored at each evaluation")
    kid_subsets: int = option(100, "random subsets KID averages over")
    seed: int = option(0, "seed of the one generator behind weights, data and noise")
    progress: bool = option(True, "show a progress bar")

    #: the settings of the measured SS-GAN runs (docs/results.md), which ``scratchgen train ssgan`` runs
    PRESETS = {"ssgan": dict(model="ssgan", steps=6000, lr_g=1e-3, lr_d=1e-3, lr_schedule="cosine")}

    def validate(self):
        """Check every field before any work (types, ranges, combinations). Raises ``ValueError`` (most as
        :class:`~scratchgen.validate.BadValue`) or :class:`~scratchgen.validate.BadType`."""
        who = "ImageGANConfig"
        check_choice(self.model, "model", who, MODELS)
        check_image_data(self, who)
        for name in ("steps", "batch", "z_dim", "width", "eval_every", "n_eval", "labels_per_class", "kid_subsets"):
            check_int(getattr(self, name), name, who, min=1)
        check_choice(self.lr_schedule, "lr_schedule", who, (None, "cosine"))
        if not (isinstance(self.ss_noise, (tuple, list)) and len(self.ss_noise) == 2
                and all(is_real(v) and math.isfinite(v) and v >= 0 for v in self.ss_noise)):
            raise bad(who, "ss_noise", "be two finite stds >= 0 (input, hidden)", self.ss_noise)
        for name in ("ss_unsup_weight", "ss_manifold_eps", "ss_vat_eps"):
            check_number(getattr(self, name), name, who, min=0, min_open=True)
        for name in ("ss_entropy", "ss_consistency", "ss_manifold", "ss_vat"):
            check_number(getattr(self, name), name, who, min=0)
        if not (is_real(self.unlabelled_fraction) and 0 <= self.unlabelled_fraction <= 1):
            raise bad(who, "unlabelled_fraction", "be a number in [0, 1]", self.unlabelled_fraction)
        ss_only = SSGAN_ONLY
        if self.model != "ssgan":  # a list or an array given for a tuple default is the same setting
            changed = [f"{n}={getattr(self, n)!r}" for n in ss_only
                       if not same_setting(getattr(self, n), self.__dataclass_fields__[n].default)]
            if changed:
                raise ValueError(f"{', '.join(changed)}: only for model='ssgan', got model={self.model!r} "
                                 f"(the ssgan-only options: {', '.join(ss_only)})")
        check_choice(self.critic, "critic", who, ("mlp", "conv"))
        if self.critic == "conv" and self.weight_norm:
            raise bad(who, "weight_norm", "be False with {critic} 'conv' (weight_norm applies to the MLP critic only)",
                      self.weight_norm)
        check_number(self.ema, "ema", who, min=0, max=1, max_open=True)
        if self.batch < 2:
            raise bad(who, "batch", "be >= 2 (batch norm)", self.batch)
        self._check_numbers()
        self._check_remedies()

    def _check_remedies(self):
        """The latent prior and the remedies for a dominating discriminator (DCGAN / cGAN only)."""
        who = "ImageGANConfig"
        check_remedies(self, who, "d_width")
        for name in ("d_dropout", "label_flip", "d_width"):
            if self.model == "ssgan" and getattr(self, name) not in (0, 0.0, None):
                raise bad(who, name, "be off with {model} 'ssgan' (a remedy of the dcgan / cgan discriminator)",
                          getattr(self, name))

    def _check_numbers(self):
        """The learning rates, Adam's betas, the seed, the switches and the evaluation's sizes."""
        who = "ImageGANConfig"
        for name in ("lr_g", "lr_d"):
            check_number(getattr(self, name), name, who, min=0, min_open=True)
        check_pair(self.betas, "betas", who, min=0, max=1, max_open=True, fix="two numbers: Adam's beta1 and beta2")
        check_int(self.seed, "seed", who, min=0)
        for name in ("weight_norm", "augment", "progress"):
            check_bool(getattr(self, name), name, who)
        hidden = self.ss_hidden
        if (not isinstance(hidden, (tuple, list)) and not hasattr(hidden, "tolist")) or not len(hidden) \
                or not all(is_int(h) and h >= 1 for h in list(hidden)):
            raise bad(who, "ss_hidden", "be a non-empty tuple of positive ints (units per hidden layer)", hidden)
        if self.model == "ssgan" and self.critic == "conv" and self.width < 2:
            raise bad(who, "width", "be >= 2 with {critic} 'conv' (its channels are width // 2)", self.width)
        if self.data == "digits":  # the image metrics' k-NN precision/recall (k = 3) and KID need 4 samples
            check_int(self.n_eval, "n_eval", who, min=4, fix="the image metrics need at least 4 samples")


def build_image_models(cfg: ImageGANConfig, size, generator):
    """(G, D) for ``cfg.model``; DCGAN-family weights get :func:`~scratchgen.gan.dcgan.dcgan_init_`."""
    g = _backend.rng(generator)
    if cfg.model == "ssgan":
        G = SSGenerator(cfg.z_dim, 4 * cfg.width, size, generator=g)
        sigma_in, sigma_h = cfg.ss_noise
        if cfg.critic == "conv":
            C = SSConvCritic(cfg.width // 2, sigma_in=sigma_in, sigma_h=sigma_h, size=size, generator=g)
        else:
            C = SSCritic(size * size, tuple(cfg.ss_hidden), sigma_in=sigma_in, sigma_h=sigma_h,
                         weight_norm=cfg.weight_norm, generator=g)
        return G, C
    k = N_CLASSES if cfg.model == "cgan" else 0
    G = DCGANGenerator(cfg.z_dim, size, cfg.width, n_classes=k, generator=g)
    D = DCGANDiscriminator(size, cfg.d_width or cfg.width, n_classes=k, generator=g)
    dcgan_init_(G, g)
    dcgan_init_(D, g)
    D.features = with_dropout(D.features, cfg.d_dropout, g)
    return G, D


def _labelled_seed(seed):
    return 1_000_003 + seed  # its own stream: the SS-GAN and the labelled-only baseline share the labels


def _unlabelled_seed(seed):
    return 2_000_003 + seed  # its own stream: choosing the unlabelled images changes no training draw


# ---------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------
@dataclass
class ImageRun:
    config: ImageGANConfig
    G: object
    D: object
    history: dict = field(default_factory=dict)
    final: dict = field(default_factory=dict)
    samples: object = None  # (n_eval, 1, s, s) NumPy
    sample_labels: object = None  # cgan: the labels asked for
    labelled: object = None  # ssgan: indices of the labelled training images
    G_ema: object = None  # the moving averages of the weights (cfg.ema > 0): samples and accuracy come from them
    D_ema: object = None
    unlabelled: object = None  # ssgan: indices of the training images used as unlabelled data


def _classify(C, x, batch=512):
    """Critic predictions :func:`ssgan.predict` on images x, in eval mode (no noise)."""
    xp = _backend.get_xp(x)
    C.eval()
    with no_grad():
        pred = xp.concatenate([ssgan.predict(C(tensor(x[i:i + batch]))[0], form="K")
                               for i in range(0, x.shape[0], batch)])
    C.train()
    return pred


def _cross_entropy(logits, y):
    r""":math:`-\frac1B\sum_b \log\operatorname{softmax}(l_b)_{y_b}`."""
    xp = _backend.get_xp(y)
    return -AF.log_softmax(logits, axis=1)[xp.arange(y.shape[0]), y].mean()


class _Draws:
    """The training stream's draws of one run: minibatches of images (and labels), and noise z."""

    def __init__(self, cfg, gen):
        self.cfg, self.gen = cfg, gen

    def batch(self, x, y=None, augment=False):
        idx = self.gen.integers(0, x.shape[0], self.cfg.batch)
        xb = random_shift(x[idx], self.gen) if augment else x[idx]
        return tensor(xb), (None if y is None else y[idx])

    def z(self, n=None):
        n = self.cfg.batch if n is None else n
        return tensor(sample_latent(self.gen, n, self.cfg.z_dim, self.cfg.latent))

    def labels(self):
        return self.gen.integers(0, N_CLASSES, self.cfg.batch)


def _adam_step(opt, loss):
    opt.zero_grad()
    loss.backward()
    opt.step()


def dcgan_updates(cfg, G, D, opt_D, draw, data, scores=None):
    """The two halves of a DCGAN / cGAN step (Goodfellow et al. 2014, Algorithm 1 with k = 1; Mirza &
    Osindero's Eq. 2 when ``cfg.model == "cgan"``): ``critic()`` updates D and returns its loss,
    ``generator_loss()`` returns the non-saturating loss of a fresh batch, on the tape. ``scores`` (a dict), when
    given, receives the lecture's :func:`~scratchgen.gan.diagnostics.gan_scores` of each critic batch."""
    conditional = cfg.model == "cgan"

    def critic():  # ascend log D(x|y) + log(1 - D(G(z|y')|y'))
        xr, yr = draw.batch(data.x_train, data.y_train if conditional else None)
        yf = draw.labels() if conditional else None
        with no_grad():
            xf = G(draw.z(), yf)
        l_real, l_fake = D(xr, yr), D(xf, yf)
        loss_d = (flipped_label_d_loss(l_real, l_fake, cfg.label_flip, draw.gen) if cfg.label_flip
                  else L.d_loss(l_real, l_fake))
        if scores is not None:
            scores.update(gan_scores(l_real, l_fake))  # s_G, s_D
        _adam_step(opt_D, loss_d)
        return loss_d

    def generator_loss():  # descend -log D(G(z|y)|y)
        yg = draw.labels() if conditional else None
        return L.g_loss_nonsaturating(D(G(draw.z(), yg), yg))

    return critic, generator_loss


def ssgan_updates(cfg, G, D, opt_D, draw, gen, x_lab, y_lab, x_unl):
    r"""The two halves of an SS-GAN step ([Improved] Section 5): ``critic()`` updates the K+1 critic on
    :math:`L_{supervised} + w L_{unsupervised}` (+ the optional entropy, Π-model, manifold and VAT
    terms) and returns its loss; ``generator_loss()`` is feature matching ([Improved] Section 3.1),
    :math:`\lVert \mathbb E f(x) - \mathbb E f(G(z)) \rVert^2` on the critic's last hidden layer."""

    def critic():
        xl, yl = draw.batch(x_lab, y_lab, augment=cfg.augment)
        xu, _ = draw.batch(x_unl, augment=cfg.augment)
        with no_grad():
            xf = G(draw.z())
        logits_u = D(xu)[0]
        loss_d = ssgan.critic_loss(D(xl)[0], yl, logits_u, D(xf)[0], form="K", supervised="conditional",
                                   unsup_weight=cfg.ss_unsup_weight)
        if cfg.ss_entropy:
            loss_d = loss_d + cfg.ss_entropy * ssgan.class_entropy(logits_u, form="K").mean()
        if cfg.ss_consistency:
            loss_d = loss_d + cfg.ss_consistency * consistency_penalty(logits_u, D(xu)[0])
        if cfg.ss_manifold:
            loss_d = loss_d + cfg.ss_manifold * manifold_penalty(D, G, draw.z(), cfg.ss_manifold_eps, gen)
        if cfg.ss_vat:
            loss_d = loss_d + cfg.ss_vat * vat_penalty(D, xu, cfg.ss_vat_eps, gen)
        _adam_step(opt_D, loss_d)
        return loss_d

    def generator_loss():
        xu2, _ = draw.batch(x_unl)
        with no_grad():
            f_real = D(xu2)[1]
        return L.feature_matching_loss(f_real, D(G(draw.z()))[1])

    return critic, generator_loss


def train_image_gan(cfg: ImageGANConfig, out_dir=None, resume=None, callback=None) -> ImageRun:
    """Train ``cfg.model`` on ``cfg.data``; write grids, samples, ``metrics.json`` and checkpoints to ``out_dir``.

    One step: a critic update on a real and a generated batch, then a generator update
    (:func:`dcgan_updates` for dcgan and cgan; :func:`ssgan_updates` for ssgan, whose unlabelled batch
    comes from all training images, or with ``unlabelled_fraction`` < 1 from the labelled ones and
    that share of the others, :func:`~scratchgen.gan.ssgan.unlabelled_indices`).

    Every ``eval_every`` steps (on the scaffold, :class:`~scratchgen.training.TrainingLoop`): metrics
    (digits: :func:`scratchgen.metrics.features.image_metrics` of ``n_eval`` samples against the
    held-out split; ssgan: also the test accuracy of the critic), then an atomic checkpoint. A
    non-finite loss or parameter raises ``TrainingDiverged`` and leaves the last good checkpoint.
    ``resume`` continues a checkpoint exactly.
    """
    cfg.validate()
    gen = _backend.rng(cfg.seed)  # the training stream: weights, minibatches, noise
    data = load_image_data(cfg)
    xp = _backend.get_xp(data.x_train)
    G, D = build_image_models(cfg, data.size, gen)
    opt_G = optim.Adam(G.parameters(), lr=cfg.lr_g, betas=cfg.betas)
    opt_D = optim.Adam(D.parameters(), lr=cfg.lr_d, betas=cfg.betas)
    # eta_t = eta_0 (1 + cos(pi t / T)) / 2 (Loshchilov & Hutter 2017, no restarts)
    scheds = ({"sched_G": optim.CosineAnnealingLR(opt_G, T_max=cfg.steps),
               "sched_D": optim.CosineAnnealingLR(opt_D, T_max=cfg.steps)} if cfg.lr_schedule else {})
    G_avg, D_avg = (WeightAverage(G, cfg.ema), WeightAverage(D, cfg.ema)) if cfg.ema > 0 else (None, None)
    draw = _Draws(cfg, gen)
    scores = {}  # the dcgan / cgan critic's s_G and s_D of the latest step
    labelled = unlabelled = None
    if cfg.model == "ssgan":
        labelled = labelled_indices(data.y_train, cfg.labels_per_class, _labelled_seed(cfg.seed))
        unlabelled = unlabelled_indices(data.x_train.shape[0], labelled, cfg.unlabelled_fraction,
                                        _unlabelled_seed(cfg.seed))
        x_unl = data.x_train if cfg.unlabelled_fraction == 1 else data.x_train[unlabelled]
        critic, generator_loss = ssgan_updates(cfg, G, D, opt_D, draw, gen, data.x_train[labelled],
                                               data.y_train[labelled], x_unl)
    else:
        critic, generator_loss = dcgan_updates(cfg, G, D, opt_D, draw, data, scores)

    def step(t):
        loss_d = critic()  # 1. the critic's update
        loss_g = generator_loss()  # 2. the generator's update
        _adam_step(opt_G, loss_g)
        for sc in scheds.values():
            sc.step()
        if G_avg is not None:
            G_avg.update(t)
            D_avg.update(t)
        return {"loss_d": loss_d, "loss_g": loss_g, **scores}

    def evaluate(t, gen_eval, final):
        n = cfg.n_eval
        z = tensor(sample_latent(gen_eval, n, cfg.z_dim, cfg.latent))
        y = xp.arange(n) % N_CLASSES if cfg.model == "cgan" else None  # digit k at the rows k, k + 10, ...
        G_eval = G_avg.module() if G_avg is not None else G
        G_eval.eval()
        with no_grad():
            x = G_eval(z, y).data
        G_eval.train()
        out = {"step": t}
        if data.size == 8:
            from ..metrics.features import image_metrics

            out.update(image_metrics(x, data.x_test, labels=y, kid_subsets=cfg.kid_subsets, seed=cfg.seed))
        if cfg.model == "ssgan":
            D_eval = D_avg.module() if D_avg is not None else D
            out["test_accuracy"] = float((_classify(D_eval, data.x_test) == data.y_test).mean())
        return out, (x, y)

    loop = TrainingLoop("image_gan", cfg, gen, step=step, evaluate=evaluate, modules={"G": G, "D": D},
                        optimizers={"opt_G": opt_G, "opt_D": opt_D}, schedulers=scheds,
                        averages={"G_ema": G_avg, "D_ema": D_avg}, eval_seed=cfg.seed + 20_000,
                        may_differ=RESUMABLE,
                        hint="Try a smaller learning rate, a penalty or spectral norm.",
                        desc=f"{cfg.model} {cfg.data}", postfix=("fid", "test_accuracy"))
    metrics, (x, y) = loop.run(out_dir, resume, callback)
    final = {"model": cfg.model, "data": cfg.data, "n_train": int(data.x_train.shape[0]),
             "n_test": int(data.x_test.shape[0])}
    if unlabelled is not None:
        final["n_unlabelled"] = int(unlabelled.shape[0])  # the training images the SS-GAN used, labelled ones included
    final.update(metrics)
    to_np = lambda a: None if a is None else _backend.to_numpy(a)  # noqa: E731
    run = ImageRun(cfg, G, D, loop.history, final, to_np(x), to_np(y), to_np(labelled),
                   G_avg.module() if G_avg else None, D_avg.module() if D_avg else None, to_np(unlabelled))
    if out_dir:
        write_outputs(out_dir, final, cfg, loop.history, {"samples": run.samples, "sample_labels": run.sample_labels})
        _figures(run, out_dir)
    return run


def train_labelled_only(cfg: ImageGANConfig) -> float:
    r"""Baseline (a) of the semi-supervised comparison: the SS-GAN's critic, same labelled images
    (same seed), same optimiser, number of steps and weight averaging (``cfg.ema``), trained on the
    cross-entropy of the labelled images only (no unlabelled data, no generator). Returns the test
    accuracy on the held-out split."""
    cfg.validate()
    gen = _backend.rng(cfg.seed)
    data = load_image_data(cfg)
    _, C = build_image_models(dataclasses.replace(cfg, model="ssgan"), data.size, gen)
    opt = optim.Adam(C.parameters(), lr=cfg.lr_d, betas=cfg.betas)
    sched = {"sched": optim.CosineAnnealingLR(opt, T_max=cfg.steps)} if cfg.lr_schedule else {}
    C_avg = WeightAverage(C, cfg.ema) if cfg.ema > 0 else None
    lab = labelled_indices(data.y_train, cfg.labels_per_class, _labelled_seed(cfg.seed))
    x_lab, y_lab = data.x_train[lab], data.y_train[lab]

    def step(t):  # descend the cross-entropy of a labelled batch
        idx = gen.integers(0, x_lab.shape[0], cfg.batch)
        xb = random_shift(x_lab[idx], gen) if cfg.augment else x_lab[idx]
        loss = _cross_entropy(C(tensor(xb))[0], y_lab[idx])
        _adam_step(opt, loss)
        for sc in sched.values():
            sc.step()
        if C_avg is not None:
            C_avg.update(t)
        return {"loss": loss}

    def evaluate(t, gen_eval, final):
        C_eval = C_avg.module() if C_avg is not None else C
        accuracy = float((_classify(C_eval, data.x_test) == data.y_test).mean())
        return {"test_accuracy": accuracy}, accuracy

    loop = TrainingLoop("labelled_only", dataclasses.replace(cfg, eval_every=cfg.steps), gen, step=step,
                        evaluate=evaluate, modules={"C": C}, optimizers={"opt": opt}, schedulers=sched,
                        averages={"C_ema": C_avg}, eval_seed=cfg.seed + 20_000, desc="labelled only")
    return loop.run()[1]


# ---------------------------------------------------------------------------
# Outputs
# ---------------------------------------------------------------------------
def _figures(run: ImageRun, out_dir):
    """samples.png: 100 samples (cgan: row k asked to be digit k), scores.png (s_D, s_G; dcgan / cgan); none
    without matplotlib."""
    try:
        from ..viz import grid_order, save_image_grid
    except ImportError:  # matplotlib missing: the numbers are written, the figures are not
        return
    title = f"{run.config.model}, step {run.config.steps}" + (", row k: digit k" if run.sample_labels is not None else "")
    save_image_grid(grid_order(run.samples, run.sample_labels), os.path.join(out_dir, "samples.png"), title=title)
    if "s_G" in run.history:  # dcgan / cgan: the lecture's scores over training
        from .diagnostics import scores_figure

        scores_figure(run.history, os.path.join(out_dir, "scores.png"), f"{run.config.model}, s_D and s_G")
