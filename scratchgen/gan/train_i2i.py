r"""Train the image-to-image GANs on the 8×8 digits (or MNIST files): pix2pix, CycleGAN and the context encoder.

One config (:class:`I2IConfig`) with one preset per model (``I2IConfig.preset("cyclegan")`` is what
``scratchgen train cyclegan`` runs), the models of a run (:func:`build_i2i_models`), and one trainer
(:func:`train_i2i`) whose ``step`` is the paper's:

* pix2pix ([pix2pix] Eq. 4): D descends :func:`~scratchgen.gan.pix2pix.pix2pix_d_loss` on the real pair
  (a, b) and the generated pair (a, G(a)); G descends :func:`~scratchgen.gan.pix2pix.pix2pix_g_loss`.
* CycleGAN ([CycleGAN] Eq. 3): G and F descend :func:`~scratchgen.gan.cyclegan.cyclegan_g_loss` (the two
  least-squares adversarial terms + λ L_cyc + λ_id L_identity), then D_Y and D_X descend the LSGAN loss.
* Context encoder ([CE] Eq. 3): a random square :math:`\hat M` per image; D descends the GAN loss on x and
  on the composite :math:`\hat x`; the encoder descends λ_rec L_rec + λ_adv L_adv.

The data (:mod:`scratchgen.data.pairs`) need no download. Evaluation (on the scaffold,
:class:`~scratchgen.training.TrainingLoop`) translates the 539 held-out digits and scores what comes
out with the shipped digits classifier: ``class_accuracy`` (the output is read as the input's digit),
the input's own accuracy as the baseline (``input_accuracy``), L1 or squared error to the truth, and
FID/precision/recall of the outputs against the held-out digits where the outputs are digits.

On MNIST files (``data="mnist"``, :func:`~scratchgen.data.images.load_image_data`) the images are padded
to 32×32 (:func:`~scratchgen.data.images.pad_images`, so that the U-Net's five halvings, down to 1×1, divide evenly) and
the same tasks are built from them; the classifier knows only 8×8 digits, so an MNIST run reports the
L1 / squared errors and the figure, not ``class_accuracy`` or FID.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from .. import backend as _backend
from .. import optim
from ..autodiff.tensor import no_grad, tensor
from ..config import Config, option
from ..data.images import check_image_data, load_image_data, pad_images
from ..data.pairs import (
    PAIRED_TASKS,
    UNPAIRED_TASKS,
    apply_mask,
    corrupt,
    paired_data,
    square_mask,
    unpaired_data,
)
from ..training import RESUMABLE_CHANGES, TrainingLoop, same_setting, write_outputs
from ..validate import bad, check_bool, check_choice, check_int, check_number, check_pair
from . import losses as L
from .cyclegan import (
    ResnetGenerator,
    cycle_consistency_loss,
    cyclegan_g_loss,
    distance_loss,
    distance_stats,
    identity_loss,
)
from .inpaint import composite, context_encoder_g_loss, reconstruction_loss
from .pix2pix import NORMS, PatchGANDiscriminator, UNetGenerator, pix2pix_d_loss, pix2pix_g_loss

__all__ = ["I2IConfig", "I2IRun", "I2I_MODELS", "ONLY", "build_i2i_models", "train_i2i"]

I2I_MODELS = ("pix2pix", "cyclegan", "inpaint")

_TASKS = (None,) + PAIRED_TASKS + tuple(t for t in UNPAIRED_TASKS if t not in PAIRED_TASKS)

#: the fields each model alone reads (its command alone offers them)
ONLY = {"pix2pix": ("lam_l1", "lam_gan", "dropout", "noise", "salt", "redraw"), "cyclegan": ("lam_cyc", "lam_id", "lam_dist", "n_blocks", "n_down"),
        "inpaint": ("hole", "lam_rec", "lam_adv")}


@dataclass
class I2IConfig(Config):
    """Settings of one image-to-image run (8×8 digits). Each field is an :func:`~scratchgen.config.option`;
    the command line ``scratchgen train pix2pix|cyclegan|inpaint`` is generated from them."""

    model: str = option("pix2pix", "which model: pix2pix | cyclegan | inpaint (the subcommand)", choices=I2I_MODELS,
                        cli=False)
    task: str | None = option("denoise", "pix2pix: denoise (corrupted -> clean), outline (digit -> outline), fill (outline "
                                  "-> digit); cyclegan: the transform of domain Y: outline, thicken, invert; "
                                  "inpaint: none", choices=_TASKS)
    data: str = option("digits", "digits: the shipped 8×8 digits; mnist: 28×28 IDX files at --mnist-path, padded to "
                                 "32×32", choices=("digits", "mnist"))
    mnist_path: str | None = option(None, "folder with the four MNIST IDX .gz files")
    mnist_checksums: str = option("standard", "how the MNIST files are checked: standard | none | FILE",
                                  metavar="standard|none|FILE")
    hole: int = option(4, "side of the random square hidden in each digit")
    lam_l1: float = option(100.0, "lambda of the L1 term (pix2pix Eq. 4)")
    lam_gan: float = option(1.0, "weight of pix2pix's adversarial term; 0 = L1 alone (no discriminator is trained)")
    dropout: float = option(0.0, "dropout in the U-Net's inner decoder levels (pix2pix's noise z); 0 = off")
    # sigma 0.3, rho 0.1: the Bayes classifier under the training digits' prior reads 94-96% of the corrupted held-out
    # digits (benchmarks/denoise_ceiling.py); at the former 0.5, 0.2 it reads 86-87%, below the target of 90%
    noise: float = option(0.3, "--task denoise: std sigma of the Gaussian noise added to the digits", metavar="SIGMA")
    salt: float = option(0.1, "--task denoise: share rho of the pixels then set to -1 or +1 at random", metavar="RHO")
    redraw: bool = option(True, "--task denoise: corrupt each minibatch afresh (the corruption is known) instead of "
                                "one fixed corrupted copy of each training digit (--no-redraw: that copy, which G overfits)")
    lam_cyc: float = option(10.0, "lambda of the cycle-consistency loss (CycleGAN Eq. 3)")
    lam_id: float = option(5.0, "weight of the identity loss (CycleGAN Sec. 5.2: 0.5 lambda); 0 = off")
    lam_dist: float = option(0.0, "weight of the distance loss (DistanceGAN, Benaim & Wolf 2017, Eq. 5) on G and F; 0 = off")
    n_blocks: int = option(1, "residual blocks of the CycleGAN generators")
    n_down: int = option(1, "stride-2 levels of the CycleGAN generators (0: full resolution, a more local map)")
    lam_rec: float = option(0.999, "lambda_rec of the context encoder (Pathak et al. Eq. 3)")
    lam_adv: float = option(0.001, "lambda_adv of the context encoder (Pathak et al. Eq. 3)")
    width: int = option(32, "channels of the generators' first layer")
    d_width: int = option(32, "channels of the PatchGAN's first layer")
    n_layers: int = option(1, "stride-2 convolutions of the PatchGAN (3 with --kernel 4: the 70x70 of pix2pix)")
    kernel: int = option(3, "kernel side of the PatchGAN's convolutions")
    norm: str = option("batch", "normalisation in G and D", choices=NORMS)
    steps: int = option(1000, "generator updates")
    batch: int = option(64, "images per minibatch")
    lr: float = option(2e-4, "Adam learning rate of every network")
    betas: tuple[float, float] = option((0.5, 0.999), "Adam's beta1 and beta2", metavar=("BETA1", "BETA2"))
    eval_every: int = option(500, "steps between evaluations/checkpoints")
    n_eval: int = option(539, "held-out images translated at each evaluation (at most the held-out count: 539 digits)")
    seed: int = option(0, "seed of the one generator behind weights, data and noise")
    progress: bool = option(True, "show a progress bar")

    # pix2pix: Adam 1e-3 for 3000 steps (denoise seeds 0-2: 92.0, 92.6, 92.8% of outputs read right, against 87.8% of
    # seed 0 at 2e-4 for 1000 steps; fill seeds 0-1: 97.2, 97.6%, against 96.3-96.7% at 2e-4 for 1000 steps)
    PRESETS = {"pix2pix": dict(model="pix2pix", task="denoise", lr=1e-3, steps=3000),
               # the digits' transforms are local and not the identity on Y: a full-resolution generator (n_down 0)
               # and no identity loss (at step 500 of seed 0: class accuracy of F(y) 36.6% against 9.6% with n_down 1);
               # lambda_cyc 1, not the paper's 10: at 10 the cycle fixes a pair of maps before the discriminators have
               # shaped them (seed 1: 7.2% at step 1500, the cycle holding 96.9%); at 1, 94.4% at step 1000 of seed 1.
               # Width 32: at 16, seeds 2 and 4 learnt a permutation of the classes (2.0%, 3.2%); at 32 seed 2 reads
               # 95.0% at step 500, seed 4 still 5.0% (every seed: docs/results.md, "Image-to-image translation ...")
               "cyclegan": dict(model="cyclegan", task="outline", norm="instance", width=32, n_down=0, lam_id=0.0,
                                lam_cyc=1.0, steps=1500),
               "inpaint": dict(model="inpaint", task=None)}

    #: a pix2pix checkpoint from before ``redraw`` existed trained on one fixed corrupted copy of each digit
    LEGACY = {"redraw": False}

    def validate(self):
        """Check every field before any work; raises :class:`~scratchgen.validate.BadValue` / ``BadType``."""
        who = "I2IConfig"
        check_choice(self.model, "model", who, I2I_MODELS)
        tasks = {"pix2pix": PAIRED_TASKS, "cyclegan": UNPAIRED_TASKS, "inpaint": (None,)}[self.model]
        check_choice(self.task, "task", who, tasks, fix=f"the tasks of {self.model}")
        changed = [f"{n}={getattr(self, n)!r}" for m, names in ONLY.items() if m != self.model for n in names
                   if not same_setting(getattr(self, n), self.__dataclass_fields__[n].default)]
        if changed:
            raise ValueError(f"{', '.join(changed)}: not an option of model={self.model!r} (its own: "
                             f"{', '.join(ONLY[self.model])})")
        for name in ("width", "d_width", "kernel", "steps", "batch", "eval_every"):
            check_int(getattr(self, name), name, who, min=1)
        check_int(self.n_layers, "n_layers", who, min=0, max=3)
        check_int(self.n_blocks, "n_blocks", who, min=0)
        check_int(self.n_down, "n_down", who, min=0, max=3)
        check_image_data(self, who)
        side = 8 if self.data == "digits" else 32
        check_int(self.hole, "hole", who, min=1, max=side - 1, fix=f"the hole must leave some context in a {side}x{side} image")
        digits = self.data == "digits"
        check_int(self.n_eval, "n_eval", who, min=4, max=539 if digits else None,
                  fix="the held-out split has 539 digits" if digits else "the image metrics need at least 4")
        check_int(self.seed, "seed", who, min=0)
        check_choice(self.norm, "norm", who, NORMS)
        for name in ("lam_l1", "lam_gan", "lam_cyc", "lam_id", "lam_dist", "lam_rec", "lam_adv"):
            check_number(getattr(self, name), name, who, min=0)
        check_number(self.dropout, "dropout", who, min=0, max=1, max_open=True)
        check_number(self.noise, "noise", who, min=0)
        check_number(self.salt, "salt", who, min=0, max=1)
        check_number(self.lr, "lr", who, min=0, min_open=True)
        check_pair(self.betas, "betas", who, min=0, max=1, max_open=True, fix="two numbers: Adam's beta1 and beta2")
        check_bool(self.progress, "progress", who)
        check_bool(self.redraw, "redraw", who)
        if self.norm == "batch" and self.batch < 2:
            raise bad(who, "batch", "be >= 2 with {norm} 'batch'", self.batch)


def build_i2i_models(cfg: I2IConfig, generator):
    """The networks of ``cfg.model`` by name: pix2pix {G, D}; cyclegan {G, F, D_X, D_Y}; inpaint {G, D}.
    The U-Nets halve the side down to 1×1, as the paper's: depth 3 on the 8×8 digits, 5 on MNIST padded to 32×32."""
    g = _backend.rng(generator)
    size, depth = (8, 3) if cfg.data == "digits" else (32, 5)

    def patch(c_in):
        return PatchGANDiscriminator(c_in, cfg.d_width, cfg.n_layers, cfg.kernel, cfg.norm, generator=g)

    if cfg.model == "pix2pix":
        return {"G": UNetGenerator(1, 1, cfg.width, depth, cfg.norm, cfg.dropout, size, generator=g), "D": patch(2)}
    if cfg.model == "cyclegan":
        return {"G": ResnetGenerator(1, cfg.width, cfg.n_blocks, cfg.norm, cfg.n_down, generator=g),
                "F": ResnetGenerator(1, cfg.width, cfg.n_blocks, cfg.norm, cfg.n_down, generator=g), "D_X": patch(1),
                "D_Y": patch(1)}
    return {"G": UNetGenerator(2, 1, cfg.width, depth, cfg.norm, size=size, generator=g), "D": patch(1)}


@dataclass
class I2IRun:
    config: I2IConfig
    models: dict
    history: dict = field(default_factory=dict)
    final: dict = field(default_factory=dict)
    panels: object = None  # (rows, 1, s, s): input / output / truth of held-out digits, for the figure


def _update(opt, loss):
    opt.zero_grad()
    loss.backward()
    opt.step()


def _pix2pix(cfg, m, opts, data, draw):
    G, D = m["G"], m["D"]

    def step(t):
        idx = draw.integers(0, data.a_train.shape[0], cfg.batch)
        b = data.b_train[idx]
        fresh = cfg.redraw and cfg.task == "denoise"  # the other tasks' inputs are fixed functions of b
        a = tensor(corrupt(b, draw, cfg.noise, cfg.salt) if fresh else data.a_train[idx])  # x: a fresh draw
        b = tensor(b)
        fake = G(a)  # G(x), on the tape for G's update
        if not cfg.lam_gan:  # L1 alone: no discriminator
            loss_g = pix2pix_g_loss(None, fake, b, cfg.lam_l1, 0.0)
            _update(opts["opt_G"], loss_g)
            return {"loss_g": loss_g}
        loss_d = pix2pix_d_loss(D(b, a), D(tensor(fake.data), a))  # D sees the pairs (x, y) and (x, G(x))
        _update(opts["opt_D"], loss_d)
        loss_g = pix2pix_g_loss(D(fake, a), fake, b, cfg.lam_l1, cfg.lam_gan)
        _update(opts["opt_G"], loss_g)
        return {"loss_d": loss_d, "loss_g": loss_g}

    return step


def _cyclegan(cfg, m, opts, data, draw):
    G, F, D_X, D_Y = m["G"], m["F"], m["D_X"], m["D_Y"]
    if cfg.lam_dist:  # mu and sigma of the pair distances in each domain (DistanceGAN Eq. 5), once
        s_X, s_Y = distance_stats(data.x_train), distance_stats(data.y_train)

    def step(t):
        x = tensor(data.x_train[draw.integers(0, data.x_train.shape[0], cfg.batch)])
        y = tensor(data.y_train[draw.integers(0, data.y_train.shape[0], cfg.batch)])
        for D in (D_X, D_Y):  # 1. the generators: D's weights are constants here
            D.requires_grad_(False)
        loss_cyc, G_x, F_y = cycle_consistency_loss(G, F, x, y)
        loss_id = identity_loss(G, F, x, y) if cfg.lam_id else None
        loss_g = cyclegan_g_loss(D_Y(G_x), D_X(F_y), loss_cyc, loss_id, cfg.lam_cyc, cfg.lam_id)
        if cfg.lam_dist:  # G and F keep the standardised distances between the images of a minibatch
            loss_g = loss_g + cfg.lam_dist * (distance_loss(x, G_x, s_X, s_Y) + distance_loss(y, F_y, s_Y, s_X))
        _update(opts["opt_G"], loss_g)
        for D in (D_X, D_Y):
            D.requires_grad_(True)
        # 2. the discriminators, least squares: D_Y tells y from G(x), D_X tells x from F(y)
        loss_d = L.lsgan_d_loss(D_Y(y), D_Y(tensor(G_x.data))) + L.lsgan_d_loss(D_X(x), D_X(tensor(F_y.data)))
        _update(opts["opt_D"], loss_d)
        return {"loss_d": loss_d, "loss_g": loss_g, "loss_cyc": loss_cyc}

    return step


def _inpaint(cfg, m, opts, data, draw):
    G, D = m["G"], m["D"]

    def step(t):
        x = data.x_train[draw.integers(0, data.x_train.shape[0], cfg.batch)]
        M = square_mask(cfg.batch, x.shape[-1], cfg.hole, draw).astype(x.dtype)  # \hat M: 1 on the hole
        x_pred = G(tensor(apply_mask(x, M)))  # F((1 - M) x), with M as a second channel
        x_hat = composite(x, x_pred, M)
        loss_d = L.d_loss(D(tensor(x)), D(tensor(x_hat.data)))
        _update(opts["opt_D"], loss_d)
        loss_g = context_encoder_g_loss(D(x_hat), x, x_pred, M, cfg.lam_rec, cfg.lam_adv)
        _update(opts["opt_G"], loss_g)
        return {"loss_d": loss_d, "loss_g": loss_g}

    return step


def _translate(module, x):
    """``module(x)`` in eval mode, without a tape, as an array."""
    module.eval()
    with no_grad():
        out = module(tensor(x)).data
    module.train()
    return out


def _scores(out, labels, reference, key="class_accuracy"):
    """The shipped classifier's verdict on outputs that should be digits: accuracy against ``labels``, and the
    FID / precision / recall of the outputs against ``reference``. None of them for images that are not 8×8
    (MNIST): the classifier knows only the 8×8 digits."""
    from ..metrics.features import digit_log_probs, image_metrics

    if out.shape[-1] != 8:
        return {}
    xp = _backend.get_xp(out)
    res = {key: float((xp.argmax(digit_log_probs(xp.clip(out, -1, 1)), axis=1) == labels).mean())}
    if reference is not None:
        m = image_metrics(xp.clip(out, -1, 1), reference, kid_subsets=5)
        res.update({k: m[k] for k in ("fid", "precision", "recall")})
    return res


def _accuracy(x, labels):
    return _scores(x, labels, None).get("class_accuracy")  # None off the 8×8 digits


def _showcase(labels, k):
    """The indices of ``k`` held-out images for the figure, taking the classes in turn (the first of each digit,
    then the second, ...), so that a file sorted by digit (the 5k MNIST subset) does not show only zeros."""
    y = _backend.to_numpy(labels).tolist()
    seen, rank = {}, []  # rank[i]: how many earlier images have y[i]'s label
    for c in y:
        rank.append(seen.get(c, 0))
        seen[c] = rank[-1] + 1
    return _backend.get_xp(labels).asarray(sorted(range(len(y)), key=lambda i: (rank[i], y[i]))[:k])


def _evaluator(cfg, m, data):
    """``evaluate(t, gen_eval, final)`` of the model: held-out digits in, scores and the figure's panels out."""
    n = cfg.n_eval
    xp = _backend.get_xp(data[0])

    def evaluate(t, gen_eval, final):
        if cfg.model == "pix2pix":
            a, b, y = data.a_test[:n], data.b_test[:n], data.y_test[:n]
            out = _translate(m["G"], a)
            res = {"l1": float(xp.abs(out - b).mean())}
            if cfg.task != "outline":  # the targets are digits: the classifier can judge the outputs
                res.update(_scores(out, y, b))
                res["input_accuracy"] = _accuracy(a, y) if cfg.task == "denoise" else None
            show = _showcase(y, 20)
            panels = (a[show], out[show], b[show])
        elif cfg.model == "cyclegan":
            x, y_true, y = data.x_test[:n], data.y_test[:n], data.labels_test[:n]
            G_x, F_y = _translate(m["G"], x), _translate(m["F"], y_true)
            res = {"l1_G": float(xp.abs(G_x - y_true).mean()), "l1_F": float(xp.abs(F_y - x).mean()),
                   "l1_identity_baseline": float(xp.abs(x - y_true).mean())}
            res.update(_scores(F_y, y, x))  # F(y) should be the digit whose transform y is
            res["cycle_accuracy"] = _accuracy(_translate(m["F"], G_x), y)
            show = _showcase(y, 10)
            panels = (x[show], G_x[show], y_true[show], F_y[show])
        else:
            x, y = data.x_test[:n], data.y_test[:n]
            M = square_mask(n, x.shape[-1], cfg.hole, gen_eval).astype(x.dtype)  # the same holes at every evaluation
            ctx = apply_mask(x, M)
            x_hat = composite(x, _translate(m["G"], ctx), M)
            res = {"mse_hole": float(reconstruction_loss(x, x_hat, M).item()),
                   "mse_hole_mean_fill": float(reconstruction_loss(x, ctx[:, :1] * 0 + x.mean(), M).item())}
            res.update(_scores(x_hat, y, x))
            res["input_accuracy"] = _accuracy(ctx[:, :1], y)  # the digit with the hole at 0
            show = _showcase(y, 20)
            panels = (ctx[show, :1], x_hat[show], x[show])
        if cfg.model != "pix2pix" or cfg.task != "outline":  # the classifier on the clean held-out digits: the ceiling
            res["clean_accuracy"] = _accuracy(data.b_test[:n] if cfg.model == "pix2pix" else data.x_test[:n], y)
        return {"step": t, **res}, xp.concatenate(panels)

    return evaluate


def resumable(model):
    """The fields a resume of a ``model`` run may change: how long and how it reports, where the MNIST files are,
    and the fields only the other models read (``ONLY``), whose defaults may have moved since the checkpoint."""
    return RESUMABLE_CHANGES + ("mnist_path", "mnist_checksums") + tuple(
        n for m, names in ONLY.items() if m != model for n in names)


def train_i2i(cfg: I2IConfig, out_dir=None, resume=None, callback=None, figures=True) -> I2IRun:
    """Train ``cfg.model`` on its digits task; write ``metrics.json``, ``outputs.png`` (unless ``figures`` is
    False) and checkpoints to ``out_dir``.

    ``resume`` continues a checkpoint exactly (the scaffold's); a non-finite loss stops the run with the last
    good checkpoint kept. Returns an :class:`I2IRun`.
    """
    cfg.validate()
    gen = _backend.rng(cfg.seed)  # the training stream: weights, minibatches, masks
    images = load_image_data(cfg)  # (N, 1, s, s) in [-1, 1]: the digits, or MNIST padded to 32x32
    images = pad_images(images, 32) if images.size == 28 else images
    if cfg.data != "digits":  # MNIST files may be sorted by digit: hold out the images in turns of the classes,
        order = _showcase(images.y_test, images.y_test.shape[0])  # so that the first n_eval cover every digit
        images = images._replace(x_test=images.x_test[order], y_test=images.y_test[order])
    if cfg.n_eval > images.x_test.shape[0]:
        raise bad("I2IConfig", "n_eval", f"be at most the {images.x_test.shape[0]} held-out images", cfg.n_eval)
    if cfg.model == "pix2pix":
        data = paired_data(cfg.task, seed=cfg.seed + 30_000, sigma=cfg.noise, rho=cfg.salt, split=images)
    elif cfg.model == "cyclegan":
        data = unpaired_data(cfg.task, seed=cfg.seed + 30_000, split=images)
    else:
        data = images
    m = build_i2i_models(cfg, gen)
    gens = [p for k, mod in m.items() if not k.startswith("D") for p in mod.parameters()]
    discs = [p for k, mod in m.items() if k.startswith("D") for p in mod.parameters()]
    opts = {"opt_G": optim.Adam(gens, lr=cfg.lr, betas=cfg.betas), "opt_D": optim.Adam(discs, lr=cfg.lr, betas=cfg.betas)}
    step = {"pix2pix": _pix2pix, "cyclegan": _cyclegan, "inpaint": _inpaint}[cfg.model](cfg, m, opts, data, gen)
    loop = TrainingLoop("i2i", cfg, gen, step=step, evaluate=_evaluator(cfg, m, data), modules=m, optimizers=opts,
                        eval_seed=cfg.seed + 20_000, may_differ=resumable(cfg.model), desc=f"{cfg.model} {cfg.task or ''}".strip(),
                        postfix=("class_accuracy", "l1", "l1_G"))
    metrics, panels = loop.run(out_dir, resume, callback)
    final = {"model": cfg.model, "task": cfg.task, **metrics, "train_seconds": round(loop.seconds["train"], 1)}
    run = I2IRun(cfg, m, loop.history, final, _backend.to_numpy(panels))
    if out_dir:
        write_outputs(out_dir, final, cfg, loop.history, {"panels": run.panels})
        if figures:
            _figure(run, out_dir)
    return run


_ROWS = {"pix2pix": "rows: input, output, target (x2)", "cyclegan": "rows: x, G(x), true y, F(y)",
         "inpaint": "rows: with the hole, inpainted, original (x2)"}


def _figure(run: I2IRun, out_dir):
    """outputs.png: held-out digits through the trained model; none without matplotlib."""
    try:
        from ..viz import save_image_grid
    except ImportError:  # matplotlib missing: the numbers are written, the figure is not
        return
    xp = _backend.get_xp(run.panels)
    p = xp.clip(run.panels, -1, 1)
    if run.config.model != "cyclegan":  # (input, output, target) of 20 digits: two bands of 10
        k = p.shape[0] // 3
        p = xp.concatenate([p[j * k + i * 10:j * k + i * 10 + 10] for i in range(2) for j in range(3)])
    cfg = run.config
    save_image_grid(p, os.path.join(out_dir, "outputs.png"),
                    title=f"{cfg.model}{' ' + cfg.task if cfg.task else ''}, step {cfg.steps}; {_ROWS[cfg.model]}")
