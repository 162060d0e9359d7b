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
import json
import math
import os
from dataclasses import dataclass, field

from .. import backend as _backend
from .. import nn, optim
from ..autodiff import functional as AF
from ..autodiff.tensor import no_grad, tensor
from ..checkpoint import save
from ..data.images import N_CLASSES, load_image_data
from ..training import RESUMABLE_CHANGES, TrainingDiverged, WeightAverage, check_finite, restore, same_setting
from . import losses as L
from . import ssgan
from .dcgan import DCGANDiscriminator, DCGANGenerator
from .ssgan import (
    GaussianNoise,
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
    "ImageGANConfig", "ImageRun", "MODELS", "DATASETS", "build_image_models", "train_image_gan",
    "train_labelled_only", "TrainingDiverged",
]

MODELS = ("dcgan", "cgan", "ssgan")
DATASETS = ("digits", "mnist")


@dataclass
class ImageGANConfig:
    """Settings of one image-GAN run; defaults follow [DCGAN] Section 4 (Adam 2e-4, β₁ = 0.5, batch 64)."""

    model: str = "dcgan"  # dcgan | cgan | ssgan
    data: str = "digits"  # digits (8×8, shipped) | mnist (28×28, needs mnist_path)
    mnist_path: str | None = None
    # mnist: how the IDX files are checked: "standard" (the original files' MD5, ``MNIST_MD5``), "none",
    # or the path of a JSON file {filename: MD5 or SHA-256 hex digest} (e.g. the one demos/mnist_subset.py writes)
    mnist_checksums: str = "standard"
    steps: int = 3000  # generator updates
    batch: int = 64
    z_dim: int = 64
    width: int = 64  # channels w of the first D layer / last G layer; the others have 2w (ssgan: hidden units)
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple = (0.5, 0.999)
    labels_per_class: int = 10  # ssgan: labelled training images per class
    unlabelled_fraction: float = 1.0  # ssgan: share of the other training images that serve as unlabelled data
    lr_schedule: str | None = None  # None (constant) | "cosine": both rates decay to 0 over `steps`
    critic: str = "mlp"  # ssgan: "mlp" (as [Improved] on MNIST) or "conv"
    ss_hidden: tuple = (512, 256, 256, 128)  # ssgan: hidden units of the MLP critic
    weight_norm: bool = False  # ssgan: weight normalisation in every layer of the MLP critic
    ss_noise: tuple = (0.3, 0.5)  # ssgan: std of the Gaussian noise on the critic's input and hidden layers
    ss_entropy: float = 0.0  # ssgan: weight of the class entropy of unlabelled images in the critic's loss
    ss_unsup_weight: float = 1.0  # ssgan: w in L_sup + w L_unsup (the paper's text: 1; its code: 0.5)
    ss_consistency: float = 0.0  # ssgan: weight of the two-noise-draw consistency term on unlabelled images (0: off)
    ss_manifold: float = 0.0  # ssgan: weight λ of the manifold regulariser on generated images ([ManifoldReg]; 0: off)
    ss_manifold_eps: float = 1.0  # ssgan: step ε along a random unit direction of z in that regulariser
    ss_vat: float = 0.0  # ssgan: weight α of the virtual adversarial term on unlabelled images ([VAT]; 0: off)
    ss_vat_eps: float = 2.0  # ssgan: radius ε of the virtual adversarial perturbation (L2 over the image's pixels)
    augment: bool = False  # ssgan: random one-pixel shifts of the real images the critic sees
    ema: float = 0.0  # decay of the moving average of G's and D's weights that evaluation uses (0: off)
    eval_every: int = 1000
    n_eval: int = 1000  # generated images scored at each evaluation
    kid_subsets: int = 100  # random subsets KID averages over
    seed: int = 0
    progress: bool = True

    def validate(self):
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {MODELS}, got {self.model!r}")
        if self.data not in DATASETS:
            raise ValueError(f"data must be one of {DATASETS}, got {self.data!r}")
        if self.data == "mnist" and not self.mnist_path:
            raise ValueError("data='mnist' needs mnist_path, the folder with the four IDX .gz files")
        if not isinstance(self.mnist_checksums, str) or not self.mnist_checksums:
            raise ValueError("mnist_checksums must be 'standard', 'none' or the path of a JSON file "
                             f"{{filename: hexdigest}}, got {self.mnist_checksums!r}")
        if self.data != "mnist" and (self.mnist_path or self.mnist_checksums != "standard"):
            raise ValueError(f"mnist_path={self.mnist_path!r}, mnist_checksums={self.mnist_checksums!r}: "
                             f"only for data='mnist', got data={self.data!r}")
        for name in ("steps", "batch", "z_dim", "width", "eval_every", "n_eval", "labels_per_class", "kid_subsets"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if self.lr_schedule not in (None, "cosine"):
            raise ValueError(f"lr_schedule must be None or 'cosine', got {self.lr_schedule!r}")
        if not (isinstance(self.ss_noise, (tuple, list)) and len(self.ss_noise) == 2
                and all(isinstance(v, (int, float)) and math.isfinite(v) and v >= 0 for v in self.ss_noise)):
            raise ValueError(f"ss_noise must be two finite stds >= 0 (input, hidden), got {self.ss_noise!r}")
        for names, positive in ((("ss_unsup_weight", "ss_manifold_eps", "ss_vat_eps"), True),
                                (("ss_entropy", "ss_consistency", "ss_manifold", "ss_vat"), False)):
            for name in names:
                v = getattr(self, name)
                if not (isinstance(v, (int, float)) and math.isfinite(v) and (v > 0 if positive else v >= 0)):
                    raise ValueError(f"{name} must be a finite number {'>' if positive else '>='} 0, got {v!r}")
        if not (isinstance(self.unlabelled_fraction, (int, float)) and 0 <= self.unlabelled_fraction <= 1):
            raise ValueError(f"unlabelled_fraction must be a number in [0, 1], got {self.unlabelled_fraction!r}")
        ss_only = ("labels_per_class", "unlabelled_fraction", "critic", "ss_hidden", "weight_norm", "ss_noise", "ss_entropy", "ss_unsup_weight",
                   "ss_consistency", "ss_manifold", "ss_manifold_eps", "ss_vat", "ss_vat_eps", "augment")
        if self.model != "ssgan":  # a list or an array given for a tuple default is the same setting
            changed = [f"{n}={getattr(self, n)!r}" for n in ss_only
                       if not same_setting(getattr(self, n), self.__dataclass_fields__[n].default)]
            if changed:
                raise ValueError(f"{', '.join(changed)}: only for model='ssgan', got model={self.model!r} "
                                 f"(the ssgan-only options: {', '.join(ss_only)})")
        if self.critic == "conv" and self.weight_norm:
            raise ValueError("weight_norm applies to the MLP critic only (critic='mlp'), got critic='conv'")
        if not 0 <= self.ema < 1:
            raise ValueError(f"ema must lie in [0, 1), got {self.ema!r}")
        if self.critic not in ("mlp", "conv"):
            raise ValueError(f"critic must be 'mlp' or 'conv', got {self.critic!r}")
        if self.batch < 2:
            raise ValueError(f"batch must be >= 2 (batch norm), got {self.batch}")


def build_image_models(cfg: ImageGANConfig, size, generator):
    """(G, D) for ``cfg.model``; DCGAN-family weights get :func:`~scratchgen.nn.init.dcgan_init_`."""
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
    D = DCGANDiscriminator(size, cfg.width, n_classes=k, generator=g)
    nn.init.dcgan_init_(G, g)
    nn.init.dcgan_init_(D, g)
    return G, D


def _labelled_seed(seed):
    return 1_000_003 + seed  # its own stream: the SS-GAN and the labelled-only baseline share the labels


def _unlabelled_seed(seed):
    return 2_000_003 + seed  # its own stream: choosing the unlabelled images changes no training draw


def _rebind_generators(module, gen):
    """Point every noise/dropout layer at ``gen`` (after a resume replaced the run's generator)."""
    for m in module.modules():
        if isinstance(m, (GaussianNoise, nn.Dropout)):
            m.generator = gen


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


def train_image_gan(cfg: ImageGANConfig, out_dir=None, resume=None, callback=None) -> ImageRun:
    """Train ``cfg.model`` on ``cfg.data``; write grids, samples, ``metrics.json`` and checkpoints to ``out_dir``.

    One step: a critic update on a real and a generated batch, then a generator update.

    * dcgan: :func:`~scratchgen.gan.losses.d_loss` and the non-saturating
      :func:`~scratchgen.gan.losses.g_loss_nonsaturating` on D's logits;
    * cgan: the same on :math:`D(x|y)`; generated images are asked for uniform random labels;
    * ssgan: :func:`~scratchgen.gan.ssgan.critic_loss` (``form="K"``, ``supervised="conditional"``)
      on a labelled batch (drawn from the ``labels_per_class·10`` labelled images), an unlabelled
      batch (all training images, labels unused; with ``unlabelled_fraction`` < 1 the labelled ones
      and that share of the others, :func:`unlabelled_indices`) and a generated batch; G minimises
      :func:`~scratchgen.gan.losses.feature_matching_loss` on the critic's last hidden layer.

    Every ``eval_every`` steps: metrics (digits: :func:`scratchgen.metrics.features.image_metrics`
    of ``n_eval`` samples against the held-out split; ssgan: also the test accuracy of the critic),
    then an atomic checkpoint. A non-finite loss or parameter raises ``TrainingDiverged`` and
    leaves the last good checkpoint. ``resume`` continues a checkpoint exactly.
    """
    cfg.validate()
    gen = _backend.rng(cfg.seed)
    data = load_image_data(cfg)
    xp = _backend.get_xp(data.x_train)
    G, D = build_image_models(cfg, data.size, gen)
    opt_G = optim.Adam(G.parameters(), lr=cfg.lr_g, betas=cfg.betas)
    opt_D = optim.Adam(D.parameters(), lr=cfg.lr_d, betas=cfg.betas)
    # eta_t = eta_0 (1 + cos(pi t / T)) / 2 (Loshchilov & Hutter 2017, no restarts)
    scheds = [optim.CosineAnnealingLR(o, T_max=cfg.steps) for o in (opt_G, opt_D)] if cfg.lr_schedule else []
    G_avg, D_avg = (WeightAverage(G, cfg.ema), WeightAverage(D, cfg.ema)) if cfg.ema > 0 else (None, None)
    conditional = cfg.model == "cgan"
    labelled = unlabelled = None
    if cfg.model == "ssgan":
        labelled = labelled_indices(data.y_train, cfg.labels_per_class, _labelled_seed(cfg.seed))
        x_lab, y_lab = data.x_train[labelled], data.y_train[labelled]
        unlabelled = unlabelled_indices(data.x_train.shape[0], labelled, cfg.unlabelled_fraction,
                                        _unlabelled_seed(cfg.seed))
        x_unl = data.x_train if cfg.unlabelled_fraction == 1 else data.x_train[unlabelled]

    history = {"step": [], "loss_d": [], "loss_g": [], "eval_step": [], "eval": []}
    start, last_good = 0, None
    ckpt_path = os.path.join(out_dir, "checkpoint.npz") if out_dir else None
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
    if resume is not None:
        averages = {"G_ema": G_avg.avg, "D_ema": D_avg.avg} if G_avg else {}
        state = restore(resume, config=cfg, may_differ=RESUMABLE_CHANGES + ("kid_subsets", "mnist_path", "mnist_checksums"),
                        G=G, D=D, opt_G=opt_G, opt_D=opt_D, **averages)
        gen = _backend.rng(state["rng"])  # NumPy's generator, drawing on the active backend
        start = last_good = int(state["step"])
        for sc in scheds:  # a closed form of the step count: resuming is exact
            sc.last_epoch = start
            sc._apply()
        history = {k: list(v) for k, v in state["history"].items()}
        history["eval"] = [json.loads(e) for e in history["eval"]]
    _rebind_generators(D, gen)

    n_train = data.x_train.shape[0]

    def batch_of(x, y=None, n=cfg.batch, augment=False):
        idx = gen.integers(0, x.shape[0], n)
        xb = _random_shift(x[idx], gen) if augment else x[idx]
        return tensor(xb), (None if y is None else y[idx])

    def sample_z(n):
        return tensor(gen.standard_normal((n, cfg.z_dim)).astype(_backend.default_dtype()))

    def write_checkpoint(step):
        if ckpt_path:
            h = dict(history, eval=[json.dumps(e) for e in history["eval"]])
            state = {"G": G.state_dict(), "D": D.state_dict(), "opt_G": opt_G.state_dict(),
                     "opt_D": opt_D.state_dict(), "rng": gen, "step": step, "history": h,
                     "config": dataclasses.asdict(cfg)}
            if G_avg is not None:
                state.update(G_ema=G_avg.avg.state_dict(), D_ema=D_avg.avg.state_dict())
            save(state, ckpt_path)

    eval_gen_seed = cfg.seed + 20_000  # evaluation noise: its own stream, so evaluating changes no training draw

    def generate(n):
        g_eval = _backend.rng(eval_gen_seed)
        z = tensor(g_eval.standard_normal((n, cfg.z_dim)).astype(_backend.default_dtype()))
        y = xp.arange(n) % N_CLASSES if conditional else None
        G_eval = G_avg.module() if G_avg is not None else G
        G_eval.eval()
        with no_grad():
            x = G_eval(z, y).data
        G_eval.train()
        return x, y

    def evaluate(step):
        x, y = generate(cfg.n_eval)
        out = {"step": step}
        if data.size == 8:
            from ..metrics.features import image_metrics

            out.update(image_metrics(x, data.x_test, labels=y, kid_subsets=cfg.kid_subsets, seed=cfg.seed))
        if cfg.model == "ssgan":
            D_eval = D_avg.module() if D_avg is not None else D
            out["test_accuracy"] = float((_classify(D_eval, data.x_test) == data.y_test).mean())
        history["eval_step"].append(step)
        history["eval"].append(out)
        return x, y, out

    try:
        from tqdm.auto import tqdm
        bar = tqdm(range(start, cfg.steps), disable=not cfg.progress, desc=f"{cfg.model} {cfg.data}")
    except ImportError:
        bar = range(start, cfg.steps)

    params = G.named_parameters("G") + D.named_parameters("D")
    last = None
    for step in bar:
        if cfg.model == "ssgan":
            # critic: L_supervised + L_unsupervised ([Improved] Section 5)
            xl, yl = batch_of(x_lab, y_lab, augment=cfg.augment)
            xu, _ = batch_of(x_unl, augment=cfg.augment)
            with no_grad():
                xf = G(sample_z(cfg.batch))
            logits_u = D(xu)[0]
            loss_d = ssgan.critic_loss(D(xl)[0], yl, logits_u, D(xf)[0], form="K", supervised="conditional",
                                       unsup_weight=cfg.ss_unsup_weight)
            if cfg.ss_entropy:
                loss_d = loss_d + cfg.ss_entropy * ssgan.class_entropy(logits_u, form="K").mean()
            if cfg.ss_consistency:
                loss_d = loss_d + cfg.ss_consistency * consistency_penalty(logits_u, D(xu)[0])
            if cfg.ss_manifold:
                loss_d = loss_d + cfg.ss_manifold * manifold_penalty(D, G, sample_z(cfg.batch), cfg.ss_manifold_eps, gen)
            if cfg.ss_vat:
                loss_d = loss_d + cfg.ss_vat * vat_penalty(D, xu, cfg.ss_vat_eps, gen)
            opt_D.zero_grad()
            loss_d.backward()
            opt_D.step()
            # generator: feature matching ||E f(x) - E f(G(z))||^2 ([Improved] Section 3.1)
            xu2, _ = batch_of(x_unl)
            with no_grad():
                f_real = D(xu2)[1]
            loss_g = L.feature_matching_loss(f_real, D(G(sample_z(cfg.batch)))[1])
        else:
            xr, yr = batch_of(data.x_train, data.y_train if conditional else None)
            yf = gen.integers(0, N_CLASSES, cfg.batch) if conditional else None
            with no_grad():
                xf = G(sample_z(cfg.batch), yf)
            loss_d = L.d_loss(D(xr, yr), D(xf, yf))
            opt_D.zero_grad()
            loss_d.backward()
            opt_D.step()
            yg = gen.integers(0, N_CLASSES, cfg.batch) if conditional else None
            loss_g = L.g_loss_nonsaturating(D(G(sample_z(cfg.batch), yg), yg))
        opt_G.zero_grad()
        loss_g.backward()
        opt_G.step()
        for sc in scheds:
            sc.step()
        if G_avg is not None:
            G_avg.update(step)
            D_avg.update(step)

        ld, lg = float(loss_d.item()), float(loss_g.item())
        check_finite(step + 1, {"loss_D": ld, "loss_G": lg}, params, ckpt_path, last_good,
                     hint="Try a smaller learning rate, a penalty or spectral norm.")
        history["step"].append(step + 1)
        history["loss_d"].append(ld)
        history["loss_g"].append(lg)
        if callback is not None:
            callback(step + 1, G, D)
        if (step + 1) % cfg.eval_every == 0 or step + 1 == cfg.steps:
            last = evaluate(step + 1)
            write_checkpoint(step + 1)
            last_good = step + 1
            if hasattr(bar, "set_postfix"):
                bar.set_postfix({k: f"{v:.3g}" for k, v in last[2].items() if k in ("fid", "test_accuracy")})

    if last is None:  # resumed from a finished run
        last = evaluate(cfg.steps)
    x, y, metrics = last
    final = {"model": cfg.model, "data": cfg.data, "n_train": int(n_train), "n_test": int(data.x_test.shape[0])}
    if unlabelled is not None:
        final["n_unlabelled"] = int(unlabelled.shape[0])  # the training images the SS-GAN used, labelled ones included
    final.update(metrics)
    run = ImageRun(cfg, G, D, history, final, _backend.to_numpy(x),
                   None if y is None else _backend.to_numpy(y),
                   None if labelled is None else _backend.to_numpy(labelled),
                   G_avg.module() if G_avg else None, D_avg.module() if D_avg else None,
                   None if unlabelled is None else _backend.to_numpy(unlabelled))
    if out_dir:
        _write_outputs(run, out_dir)
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
    sched = optim.CosineAnnealingLR(opt, T_max=cfg.steps) if cfg.lr_schedule else None
    C_avg = WeightAverage(C, cfg.ema) if cfg.ema > 0 else None
    lab = labelled_indices(data.y_train, cfg.labels_per_class, _labelled_seed(cfg.seed))
    x_lab, y_lab = data.x_train[lab], data.y_train[lab]
    for step in range(cfg.steps):
        idx = gen.integers(0, x_lab.shape[0], cfg.batch)
        xb = _random_shift(x_lab[idx], gen) if cfg.augment else x_lab[idx]
        loss = _cross_entropy(C(tensor(xb))[0], y_lab[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        if C_avg is not None:
            C_avg.update(step)
        if not _finite(loss):
            raise TrainingDiverged(f"train_labelled_only: non-finite loss at step {step + 1}")
    C_eval = C_avg.module() if C_avg is not None else C
    return float((_classify(C_eval, data.x_test) == data.y_test).mean())


def _random_shift(x, g):
    """Each image (B, 1, s, s) moved by (dy, dx) in {-1, 0, 1}², background (-1) shifted in."""
    from ..metrics.features import _random_shift as shift

    return shift(x, g)


def _finite(t):
    import math

    return math.isfinite(float(t.item()))


# ---------------------------------------------------------------------------
# Outputs
# ---------------------------------------------------------------------------


def _write_outputs(run: ImageRun, out_dir):
    import numpy  # file output only

    numpy.save(os.path.join(out_dir, "samples.npy"), run.samples)
    if run.sample_labels is not None:
        numpy.save(os.path.join(out_dir, "sample_labels.npy"), run.sample_labels)
    with open(os.path.join(out_dir, "metrics.json"), "w") as f:
        json.dump({"final": run.final, "config": dataclasses.asdict(run.config),
                   "history": {"eval": run.history["eval"]}}, f, indent=2)
    title = f"{run.config.model}, step {run.config.steps}" + (", row k: digit k" if run.sample_labels is not None else "")
    from ..viz import grid_order, save_image_grid

    save_image_grid(grid_order(run.samples, run.sample_labels), os.path.join(out_dir, "samples.png"), title=title)
