"""The catalogue of bad inputs (issue 20): every case raises a clear error before any work.

Each case gives something a careful user might hand the library or the command line by mistake,
the exception it must raise (a command line case: its exit code, 2 for a usage mistake), and the
strings its message must hold: the argument or option it names (and, where the issue asks, what to
do). A command line case also asserts that the error is one line, ``scratchgen: error: ...``, and
that nothing was created under ``--out``. The command line runs in-process with tiny settings
(``scratchgen.cli.main``), so a check that were missing would train for a second, not for minutes;
two cases run the installed command in a subprocess. docs/reliability.md lists what is checked.

Categories (the table of docs/reliability.md counts them): shapes, dtypes, optimisers, parameters
(of losses, penalties, kernels and metrics), configs, checkpoints, cli.
"""
import dataclasses
import json
import math
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scratchgen as sg
import scratchgen.diffusion.ddpm  # noqa: F401  (loaded on first import: reached below as sg.diffusion.ddpm)
import scratchgen.diffusion.samplers  # noqa: F401
import scratchgen.gan.ssgan  # noqa: F401
import scratchgen.metrics.features  # noqa: F401
import scratchgen.metrics.images  # noqa: F401
from scratchgen import nn, optim
from scratchgen.checkpoint import CheckpointError
from scratchgen.diffusion.train import DDPMConfig, train_ddpm
from scratchgen.gan.train import GANConfig, train_gan
from scratchgen.gan.train_images import ImageGANConfig, train_image_gan
from scratchgen.nn import functional as NF


@dataclasses.dataclass
class Case:
    id: str
    category: str
    call: object  # call(tmp) -> raises; or, for the command line, argv(tmp) -> list of str
    exc: object  # the exception type; or, for the command line, the exit code
    names: tuple  # what the message must contain
    gap: str = None  # a case of the issue not fixed here: why (the test is a strict xfail until it is)


CASES = []


def case(category, id, exc, names, call, gap=None):
    CASES.append(Case(id, category, call, exc, (names,) if isinstance(names, str) else tuple(names), gap))


def cli(id, argv, names, code=2):
    CASES.append(Case(id, "cli", argv, code, (names,) if isinstance(names, str) else tuple(names)))


def f32(*shape, value=0.0):
    return np.full(shape, value, np.float32)


def T32(*shape, value=0.0):
    return sg.tensor(f32(*shape, value=value))


def params():
    return nn.Linear(2, 2, generator=0).parameters()


# ---------------------------------------------------------------------------
# Shapes: nothing is broadcast silently in a loss or a metric; both shapes named
# ---------------------------------------------------------------------------
S = "shapes"
case(S, "bce (8,1) vs (8,)", ValueError, ("target", "logits", "(8, 1)", "(8,)"),
     lambda t: NF.binary_cross_entropy_with_logits(T32(8, 1), f32(8)))
case(S, "bce (8,) vs (8,1) tensors", ValueError, ("target", "(8, 1)"),
     lambda t: NF.binary_cross_entropy_with_logits(T32(8), T32(8, 1)))
case(S, "mse (8,1) vs (8,)", ValueError, ("target", "x", "(8, 1)", "(8,)"), lambda t: NF.mse_loss(T32(8, 1), T32(8)))
case(S, "mse (3,2) vs (2,)", ValueError, ("target", "(3, 2)"), lambda t: NF.mse_loss(T32(3, 2), f32(2)))
case(S, "mse scalar target", ValueError, ("target", "()"), lambda t: NF.mse_loss(T32(4), np.float32(1.0)))
case(S, "gradient_penalty real vs fake", ValueError, ("real", "fake"),
     lambda t: sg.gan.penalties.gradient_penalty(nn.Linear(2, 1, generator=0), T32(4, 2), T32(3, 2)))
case(S, "feature_matching (4,3) vs (4,5)", ValueError, ("real_features", "fake_features"),
     lambda t: sg.gan.losses.feature_matching_loss(T32(4, 3), T32(4, 5)))
case(S, "mmd2 d differs", ValueError, ("x", "y", "dimension"), lambda t: sg.mmd.mmd2(T32(5, 2), T32(5, 3)))
case(S, "mmd2 1-D samples", ValueError, ("x", "(n, d)"), lambda t: sg.mmd.mmd2(T32(5), T32(5, 1)))
case(S, "sq_distances 3-D", ValueError, ("y", "(n, d)"), lambda t: sg.mmd.sq_distances(T32(4, 2), T32(2, 2, 2)))
case(S, "kl p vs q", ValueError, ("p", "q", "shape"), lambda t: sg.divergences.kl(np.full(3, 1 / 3), np.full(4, 0.25)))
case(S, "jsd (2,3) vs (3,)", ValueError, ("p", "q", "shape"),
     lambda t: sg.divergences.jsd(np.full((2, 3), 1 / 3), np.full(3, 1 / 3)))
case(S, "w1_1d weights", ValueError, ("x_weights",),
     lambda t: sg.divergences.w1_1d(np.zeros(3), np.zeros(2), x_weights=np.ones(2)))
case(S, "gan_value d shape", ValueError, ("d", "shape"),
     lambda t: sg.divergences.gan_value(np.full(2, 0.5), np.full(2, 0.5), d=np.full(3, 0.5)))
case(S, "frechet dims", ValueError, ("frechet_distance", "dimensions"),
     lambda t: sg.metrics.images.frechet_distance(np.zeros((4, 3)), np.zeros((4, 2))))
case(S, "kid dims", ValueError, ("kid", "dimensions"), lambda t: sg.metrics.images.kid(np.zeros((4, 3)), np.zeros((4, 2))))
case(S, "precision_recall dims", ValueError, ("precision_recall", "dimensions"),
     lambda t: sg.metrics.images.precision_recall(np.zeros((5, 3)), np.zeros((5, 2))))
case(S, "mode_coverage d differs", ValueError, ("samples", "centres"),
     lambda t: sg.metrics.mode_coverage(np.zeros((4, 2)), np.zeros((3, 3)), 0.1))
case(S, "consistency_penalty shapes", ValueError, ("logits_1", "logits_2"),
     lambda t: sg.gan.ssgan.consistency_penalty(T32(4, 10), T32(3, 10)))
case(S, "ssgan labels length", ValueError, ("labels",),
     lambda t: sg.gan.ssgan.critic_loss(T32(4, 11), np.zeros(3, np.int64), T32(4, 11), T32(4, 11)))
case(S, "predict_x0 xt vs eps", ValueError, ("xt", "eps"),
     lambda t: sg.diffusion.ddpm.predict_x0_from_eps(sg.diffusion.make_schedule("linear", 10), f32(4, 2), 3, f32(4, 3)))
case(S, "load_state_dict shape", ValueError, ("weight", "(2, 2)"),
     lambda t: nn.Linear(2, 2).load_state_dict({"weight": np.zeros((3, 2), np.float32), "bias": np.zeros(2, np.float32)}))

# ---------------------------------------------------------------------------
# dtypes: real floating input only, or the documented cast rule
# ---------------------------------------------------------------------------
D = "dtypes"
case(D, "tensor complex", TypeError, ("tensor()", "complex128", ".real"), lambda t: sg.tensor(np.ones(3, complex)))
case(D, "tensor object", TypeError, ("tensor()", "object"), lambda t: sg.tensor(np.array([1.0, None], dtype=object)))
case(D, "tensor strings", TypeError, ("tensor()", "<U"), lambda t: sg.tensor(np.array(["a", "b"])))
case(D, "tensor complex requires_grad", TypeError, ("tensor()", "complex"),
     lambda t: sg.tensor(np.ones(3, complex), requires_grad=True))
case(D, "tensor int requires_grad", TypeError, ("requires_grad", "int64"),
     lambda t: sg.tensor(np.ones(3, np.int64), requires_grad=True))
case(D, "Linear complex input", TypeError, ("Linear", "complex128"),
     lambda t: nn.Linear(3, 2, generator=0)(np.ones((2, 3), complex)))
case(D, "Linear float64 into float32", TypeError, ("Linear", "float64", "float32"),
     lambda t: nn.Linear(3, 2, generator=0)(sg.tensor(np.ones((2, 3)))))
case(D, "bce int logits", TypeError, ("logits", "int64"),
     lambda t: NF.binary_cross_entropy_with_logits(np.zeros(3, np.int64), f32(3)))
case(D, "bce complex target", TypeError, ("target", "complex"),
     lambda t: NF.binary_cross_entropy_with_logits(T32(3), np.zeros(3, complex)))
case(D, "mse complex x", TypeError, ("x", "complex"), lambda t: NF.mse_loss(np.zeros(3, complex), f32(3)))
case(D, "mmd2 int samples", ValueError, ("x", "float dtype"),
     lambda t: sg.mmd.mmd2(np.zeros((4, 2), np.int64), f32(4, 2)))
case(D, "d_loss int logits", ValueError, ("real_logits", "float dtype"),
     lambda t: sg.gan.losses.d_loss(np.zeros(4, np.int64), f32(4)))
case(D, "frechet complex features", TypeError, ("features_a", "complex"),
     lambda t: sg.metrics.images.frechet_distance(np.zeros((4, 2), complex), np.zeros((4, 2))))
case(D, "mode_coverage complex", TypeError, ("samples", "complex"),
     lambda t: sg.metrics.mode_coverage(np.zeros((4, 2), complex), np.zeros((3, 2)), 0.1))
case(D, "image metrics int images", ValueError, ("digit_features", "dtype int64"),
     lambda t: sg.metrics.features.digit_features(np.zeros((2, 1, 8, 8), np.int64)))
case(D, "kl complex", ValueError, ("p", "real float"),
     lambda t: sg.divergences.kl(np.full(2, 0.5 + 0j), np.full(2, 0.5)))
case(D, "image_metrics labels 1.5", TypeError, ("labels", "whole-number"),
     lambda t: sg.metrics.features.image_metrics(np.zeros((4, 1, 8, 8), np.float32), np.zeros((4, 1, 8, 8), np.float32),
                                                 labels=np.array([0, 1, 1.5, 2])))
case(D, "image_metrics labels strings", TypeError, ("labels", "integer dtype"),
     lambda t: sg.metrics.features.image_metrics(np.zeros((4, 1, 8, 8), np.float32), np.zeros((4, 1, 8, 8), np.float32),
                                                 labels=np.array(["0", "1", "2", "3"])))
case(D, "ssgan float labels", ValueError, ("labels", "dtype"),
     lambda t: sg.gan.ssgan.critic_loss(T32(4, 11), np.zeros(4), T32(4, 11), T32(4, 11)))

# ---------------------------------------------------------------------------
# Optimisers: every hyper-parameter finite and in its range, of the right type
# ---------------------------------------------------------------------------
O = "optimisers"
for kw, exc in [(dict(lr=math.nan), ValueError), (dict(lr=math.inf), ValueError), (dict(lr=-1.0), ValueError),
                (dict(lr=True), TypeError), (dict(lr="0.1"), TypeError), (dict(eps=math.nan), ValueError),
                (dict(eps=-1e-8), ValueError), (dict(betas=(0.5,)), ValueError), (dict(betas=(0.9, 1.0)), ValueError),
                (dict(betas=(0.9, math.nan)), ValueError), (dict(betas=0.9), TypeError),
                (dict(betas=(0.5, 0.9, 0.99)), ValueError), (dict(weight_decay=-1), ValueError),
                (dict(weight_decay=math.nan), ValueError)]:
    case(O, f"Adam {kw}", exc, ("Adam", *kw), lambda t, kw=kw: optim.Adam(params(), **kw))
case(O, "AdamW weight_decay nan", ValueError, ("AdamW", "weight_decay"), lambda t: optim.AdamW(params(), weight_decay=math.nan))
for kw, name in [(dict(momentum=-0.5), "momentum"), (dict(momentum=1.5), "momentum"), (dict(dampening=2.0), "dampening"),
                 (dict(weight_decay=-1), "weight_decay"), (dict(lr=math.inf), "lr")]:
    case(O, f"SGD {kw}", ValueError, ("SGD", name), lambda t, kw=kw: optim.SGD(params(), **kw))
case(O, "SGD nesterov without momentum", ValueError, ("SGD", "Nesterov", "momentum"),
     lambda t: optim.SGD(params(), nesterov=True))
case(O, "SGD nesterov 'yes'", TypeError, ("SGD", "nesterov"), lambda t: optim.SGD(params(), momentum=0.9, nesterov="yes"))
case(O, "RMSprop alpha 1", ValueError, ("RMSprop", "alpha"), lambda t: optim.RMSprop(params(), alpha=1.0))
case(O, "RMSprop centered 1", TypeError, ("RMSprop", "centered"), lambda t: optim.RMSprop(params(), centered=1))
case(O, "param group lr -1", ValueError, ("Adam", "lr", "-1"),
     lambda t: optim.Adam([{"params": nn.Linear(2, 2).parameters(), "lr": -1}]))
case(O, "empty params", ValueError, ("Adam", "empty parameter list"), lambda t: optim.Adam([]))
case(O, "clip_grad_norm_ 0", ValueError, ("clip_grad_norm_", "max_norm"), lambda t: optim.clip_grad_norm_(params(), 0))
case(O, "clip_grad_norm_ nan", ValueError, ("clip_grad_norm_", "max_norm"), lambda t: optim.clip_grad_norm_(params(), math.nan))
case(O, "clip_grad_value_ -1", ValueError, ("clip_grad_value_", "clip_value"), lambda t: optim.clip_grad_value_(params(), -1))
case(O, "StepLR step_size 0", ValueError, ("StepLR", "step_size"),
     lambda t: optim.StepLR(optim.SGD(params()), step_size=0))
case(O, "StepLR step_size True", TypeError, ("StepLR", "step_size"),
     lambda t: optim.StepLR(optim.SGD(params()), step_size=True))
case(O, "StepLR gamma 0", ValueError, ("StepLR", "gamma"), lambda t: optim.StepLR(optim.SGD(params()), 10, gamma=0))
case(O, "Cosine T_max 2.5", TypeError, ("CosineAnnealingLR", "T_max"),
     lambda t: optim.CosineAnnealingLR(optim.SGD(params()), T_max=2.5))
case(O, "Cosine eta_min nan", ValueError, ("CosineAnnealingLR", "eta_min"),
     lambda t: optim.CosineAnnealingLR(optim.SGD(params()), 10, eta_min=math.nan))
case(O, "Warmup 0", ValueError, ("LinearWarmup", "warmup_steps"), lambda t: optim.LinearWarmup(optim.SGD(params()), 0))
case(O, "Warmup total <= warmup", ValueError, ("LinearWarmup", "total_steps"),
     lambda t: optim.LinearWarmup(optim.SGD(params()), 10, total_steps=10))

# ---------------------------------------------------------------------------
# Parameters of losses, penalties, kernels and metrics
# ---------------------------------------------------------------------------
P = "parameters"
_D1 = nn.Linear(2, 1, generator=0)
case(P, "gradient_penalty lam -10", ValueError, ("gradient_penalty", "lam"),
     lambda t: sg.gan.penalties.gradient_penalty(_D1, T32(4, 2), T32(4, 2), lam=-10))
case(P, "gradient_penalty lam nan", ValueError, ("gradient_penalty", "lam"),
     lambda t: sg.gan.penalties.gradient_penalty(_D1, T32(4, 2), T32(4, 2), lam=math.nan))
case(P, "gradient_penalty eps > 1", ValueError, ("gradient_penalty", "eps"),
     lambda t: sg.gan.penalties.gradient_penalty(_D1, T32(4, 2), T32(4, 2), eps=np.full(4, 2.0)))
case(P, "r1 gamma -1", ValueError, ("r1_penalty", "gamma"), lambda t: sg.gan.penalties.r1_penalty(_D1, T32(4, 2), gamma=-1))
case(P, "clip_weights 0", ValueError, ("clip_weights", "c"), lambda t: sg.gan.penalties.clip_weights(params(), 0.0))
case(P, "clip_weights nan", ValueError, ("clip_weights", "c"), lambda t: sg.gan.penalties.clip_weights(params(), math.nan))
case(P, "lsgan b nan", ValueError, ("lsgan_d_loss", "b"), lambda t: sg.gan.losses.lsgan_d_loss(T32(4), T32(4), b=math.nan))
case(P, "lsgan a inf", ValueError, ("lsgan_d_loss", "a"), lambda t: sg.gan.losses.lsgan_d_loss(T32(4), T32(4), a=math.inf))
case(P, "lsgan c nan", ValueError, ("lsgan_g_loss", "c"), lambda t: sg.gan.losses.lsgan_g_loss(T32(4), c=math.nan))
case(P, "label smoothing alpha 0", ValueError, ("d_loss_label_smoothing", "alpha"),
     lambda t: sg.gan.losses.d_loss_label_smoothing(T32(4), T32(4), alpha=0.0))
case(P, "label smoothing alpha 1.5", ValueError, ("alpha",),
     lambda t: sg.gan.losses.d_loss_label_smoothing(T32(4), T32(4), alpha=1.5))
case(P, "empty logits", ValueError, ("d_loss", "real_logits", "empty"), lambda t: sg.gan.losses.d_loss(T32(0), T32(4)))
case(P, "bce target 2", ValueError, ("target", "[0, 1]"), lambda t: NF.binary_cross_entropy_with_logits(T32(8), f32(8, value=2.0)))
case(P, "bce target -0.5", ValueError, ("target", "[0, 1]"),
     lambda t: NF.binary_cross_entropy_with_logits(T32(8), f32(8, value=-0.5)))
case(P, "bce target nan", ValueError, ("target", "[0, 1]"),
     lambda t: NF.binary_cross_entropy_with_logits(T32(8), f32(8, value=math.nan)))
case(P, "bce reduction", ValueError, ("reduction", "'avg'"),
     lambda t: NF.binary_cross_entropy_with_logits(T32(8), f32(8), reduction="avg"))
case(P, "mse reduction", ValueError, ("reduction",), lambda t: NF.mse_loss(T32(8), f32(8), reduction=None))
case(P, "ssgan label 10 is fake", ValueError, ("labels", "[0, 10)"),
     lambda t: sg.gan.ssgan.critic_loss(T32(4, 11), np.array([0, 1, 2, 10]), T32(4, 11), T32(4, 11)))
case(P, "ssgan unsup_weight -1", ValueError, ("unsup_weight",),
     lambda t: sg.gan.ssgan.critic_loss(T32(4, 11), np.zeros(4, np.int64), T32(4, 11), T32(4, 11), unsup_weight=-1))
case(P, "ssgan generator kind", ValueError, ("kind",), lambda t: sg.gan.ssgan.generator_loss(T32(4, 11), kind="wasserstein"))
case(P, "kid n_subsets 0", ValueError, ("kid", "n_subsets"),
     lambda t: sg.metrics.images.kid(np.zeros((5, 2)), np.zeros((5, 2)), n_subsets=0))
case(P, "kid n_subsets True", TypeError, ("kid", "n_subsets"),
     lambda t: sg.metrics.images.kid(np.zeros((5, 2)), np.zeros((5, 2)), n_subsets=True))
case(P, "kid subset_size 1", ValueError, ("kid", "subset_size"),
     lambda t: sg.metrics.images.kid(np.zeros((5, 2)), np.zeros((5, 2)), subset_size=1))
case(P, "kid seed -1", ValueError, ("kid", "seed"), lambda t: sg.metrics.images.kid(np.zeros((5, 2)), np.zeros((5, 2)), seed=-1))
case(P, "precision_recall k 0", ValueError, ("precision_recall", "k"),
     lambda t: sg.metrics.images.precision_recall(np.zeros((5, 2)), np.zeros((5, 2)), k=0))
case(P, "image_metrics k 0", ValueError, ("image_metrics", "k"),
     lambda t: sg.metrics.features.image_metrics(np.zeros((4, 1, 8, 8), np.float32), np.zeros((4, 1, 8, 8), np.float32), k=0))
case(P, "image_metrics labels 10", ValueError, ("labels", "0..9"),
     lambda t: sg.metrics.features.image_metrics(np.zeros((4, 1, 8, 8), np.float32), np.zeros((4, 1, 8, 8), np.float32),
                                                 labels=np.array([0, 1, 2, 10])))
case(P, "image_metrics labels -1", ValueError, ("labels", "0..9"),
     lambda t: sg.metrics.features.image_metrics(np.zeros((4, 1, 8, 8), np.float32), np.zeros((4, 1, 8, 8), np.float32),
                                                 labels=np.array([0, -1, 2, 3])))
case(P, "inception_score neither", ValueError, ("probs", "log_probs"), lambda t: sg.metrics.images.inception_score())
case(P, "mmd2 unbiased 'yes'", TypeError, ("mmd2", "unbiased"), lambda t: sg.mmd.mmd2(T32(4, 2), T32(4, 2), unbiased="yes"))
case(P, "mmd2 unbiased n=1", ValueError, ("mmd2", "at least 2"), lambda t: sg.mmd.mmd2(T32(1, 2), T32(4, 2)))
case(P, "rbf sigma 0", ValueError, ("rbf_kernel", "sigma"), lambda t: sg.mmd.rbf_kernel(T32(3, 2), T32(3, 2), sigma=0.0))
case(P, "rbf sigma inf", ValueError, ("rbf_kernel", "sigma"), lambda t: sg.mmd.rbf_kernel(T32(3, 2), T32(3, 2), sigma=math.inf))
case(P, "rbf sigma nan list", ValueError, ("rbf_kernel", "sigma"),
     lambda t: sg.mmd.rbf_kernel(T32(3, 2), T32(3, 2), sigma=[1.0, math.nan]))
case(P, "imq c 0", ValueError, ("imq_kernel", "c"), lambda t: sg.mmd.imq_kernel(T32(3, 2), T32(3, 2), c=0))
case(P, "imq beta 0.5", ValueError, ("imq_kernel", "beta"), lambda t: sg.mmd.imq_kernel(T32(3, 2), T32(3, 2), beta=0.5))
case(P, "polynomial gamma nan", ValueError, ("polynomial_kernel", "gamma"),
     lambda t: sg.mmd.polynomial_kernel(T32(3, 2), T32(3, 2), gamma=math.nan))
case(P, "polynomial degree 0", ValueError, ("polynomial_kernel", "degree"),
     lambda t: sg.mmd.polynomial_kernel(T32(3, 2), T32(3, 2), degree=0))
case(P, "median one point", ValueError, ("median_heuristic", "2 points"), lambda t: sg.mmd.median_heuristic(T32(1, 2)))
case(P, "mode_coverage std 0", ValueError, ("mode_coverage", "std"),
     lambda t: sg.metrics.mode_coverage(np.zeros((4, 2)), np.zeros((3, 2)), 0.0))
case(P, "mode_coverage std nan", ValueError, ("mode_coverage", "std"),
     lambda t: sg.metrics.mode_coverage(np.zeros((4, 2)), np.zeros((3, 2)), math.nan))
case(P, "kl negative p", ValueError, ("p", "negative"), lambda t: sg.divergences.kl(np.array([1.5, -0.5]), np.full(2, 0.5)))
case(P, "kl p sums to 2", ValueError, ("p", "sum to 1"), lambda t: sg.divergences.kl(np.ones(2), np.full(2, 0.5)))
case(P, "density_ratio d 1.5", ValueError, ("d", "[0, 1]"), lambda t: sg.divergences.density_ratio(np.array([1.5])))
case(P, "dropout p 1", ValueError, ("dropout", "p"), lambda t: NF.dropout(T32(4), p=1.0))
case(P, "ddim eta 2", ValueError, ("eta",),
     lambda t: sg.diffusion.samplers.ddim_step(sg.diffusion.make_schedule("linear", 10), f32(2, 2), 5, 4, f32(2, 2), eta=2.0))
case(P, "timestep 0", ValueError, ("t", "1..T"),
     lambda t: sg.diffusion.ddpm.q_sample(sg.diffusion.make_schedule("linear", 10), f32(2, 2), 0, f32(2, 2)))
case(P, "schedule T True", ValueError, ("T",), lambda t: sg.diffusion.make_schedule("linear", True))
case(P, "float32 ancestral_sample, linear T 9000", ValueError, ("ancestral_sample", "alpha_bar_T", "float64"),
     lambda t: sg.diffusion.ancestral_sample(sg.diffusion.make_schedule("linear", 9000), lambda x, s: x * 0,
                                             shape=(2, 2), dtype="float32"))
case(P, "float32 ddim_sample, linear T 9000", ValueError, ("ddim_sample", "alpha_bar_T", "float64"),
     lambda t: sg.diffusion.ddim_sample(sg.diffusion.make_schedule("linear", 9000), lambda x, s: x * 0,
                                        shape=(2, 2), steps=3, dtype="float32"))
case(P, "rng seed -1", ValueError, ("rng", "seed", "-1"), lambda t: sg.rng(-1))
case(P, "rng seed True", ValueError, ("rng", "seed"), lambda t: sg.rng(True))
case(P, "Linear(-1, 4)", ValueError, ("Linear", "in_features"), lambda t: nn.Linear(-1, 4))
case(P, "Linear(0, 4)", ValueError, ("Linear", "in_features"), lambda t: nn.Linear(0, 4))
case(D, "Tensor(complex) backward", TypeError, ("complex",),
     lambda t: (lambda x: (x * x).sum().backward())(sg.autodiff.Tensor(np.ones(3, complex), requires_grad=True)))
case(P, "Linear(2.0, 4)", TypeError, ("Linear", "in_features", "2.0"), lambda t: nn.Linear(2.0, 4))
case(P, "Embedding(0, 3)", ValueError, ("Embedding", "num_embeddings"), lambda t: nn.Embedding(0, 3))
case(P, "LayerNorm(-2)", ValueError, ("LayerNorm", "normalized_shape"), lambda t: nn.LayerNorm(-2))
case(P, "BatchNorm1d momentum 2", ValueError, ("BatchNorm1d", "momentum"), lambda t: nn.BatchNorm1d(4, momentum=2.0))
case(P, "BatchNorm2d eps 0", ValueError, ("BatchNorm2d", "eps"), lambda t: nn.BatchNorm2d(4, eps=0.0))

# ---------------------------------------------------------------------------
# Configs: every field checked before any work (never after training)
# ---------------------------------------------------------------------------
C = "configs"
TINY_GAN = dict(steps=2, eval_every=2, batch=8, hidden=8, z_dim=4, n_eval=20, progress=False)
for kw, exc, name in [
        (dict(penalty="gp", penalty_weight=-10.0), ValueError, "penalty_weight"),
        (dict(penalty_weight=math.nan), ValueError, "penalty_weight"),
        (dict(unrolled=2, unroll_lr=-1.0), ValueError, "unroll_lr"), (dict(steps=True), TypeError, "steps"),
        (dict(steps=0), ValueError, "steps"), (dict(steps=2.5), TypeError, "steps"), (dict(n_eval=1), ValueError, "n_eval"),
        (dict(seed=-1), ValueError, "seed"), (dict(seed=1.0), TypeError, "seed"), (dict(betas=(0.5,)), ValueError, "betas"),
        (dict(betas=(0.5, 1.0)), ValueError, "betas"), (dict(lr_g=math.nan), ValueError, "lr_g"),
        (dict(lr_d=0.0), ValueError, "lr_d"), (dict(lr_d=math.inf), ValueError, "lr_d"), (dict(clip=0.0), ValueError, "clip"),
        (dict(clip=math.nan), ValueError, "clip"), (dict(ema=1.0), ValueError, "ema"), (dict(ema=math.nan), ValueError, "ema"),
        (dict(top_k=0.0), ValueError, "top_k"), (dict(top_k=1.5), ValueError, "top_k"),
        (dict(label_smoothing=0.0), ValueError, "label_smoothing"),
        (dict(loss="wgan", label_smoothing=0.9), ValueError, "label_smoothing"),
        (dict(data="ring9"), ValueError, "data"), (dict(loss="wasserstein"), ValueError, "loss"),
        (dict(pack=3), ValueError, "pack"), (dict(batch=0), ValueError, "batch"), (dict(progress="yes"), TypeError, "progress"),
        (dict(spectral_norm=1), TypeError, "spectral_norm"), (dict(mmd_sigmas=()), ValueError, "mmd_sigmas"),
        (dict(instance_noise=math.inf), ValueError, "instance_noise"), (dict(unrolled=-1), ValueError, "unrolled"),
        (dict(d_steps=0), ValueError, "d_steps"), (dict(hidden=True), TypeError, "hidden"),
        (dict(unrolled=1, spectral_norm=True), ValueError, "spectral_norm"),
        (dict(mmd_weight=1.0, mmd_samples=1), ValueError, "mmd_samples"), (dict(penalty="wgan-gp"), ValueError, "penalty")]:
    case(C, f"GANConfig {kw}", exc, ("GANConfig", name), lambda t, kw=kw: GANConfig(**{**TINY_GAN, **kw}).validate())


def _no_step(*args):
    raise AssertionError("a training step ran before the config was checked")


case(C, "train_gan n_eval=1 fails up front", ValueError, ("n_eval",),
     lambda t: train_gan(GANConfig(**{**TINY_GAN, "steps": 10**6, "n_eval": 1}), callback=_no_step))
case(C, "train_gan penalty -10 up front", ValueError, ("penalty_weight",),
     lambda t: train_gan(GANConfig(**{**TINY_GAN, "penalty": "r1", "penalty_weight": -10.0}), callback=_no_step))
TINY_IMG = dict(steps=2, eval_every=2, batch=8, width=4, z_dim=4, n_eval=20, kid_subsets=2, progress=False)
for kw, exc, name in [
        (dict(lr_g=-1.0), ValueError, "lr_g"), (dict(betas=(0.5, 1.0)), ValueError, "betas"), (dict(seed=-1), ValueError, "seed"),
        (dict(steps=True), TypeError, "steps"), (dict(n_eval=3), ValueError, "n_eval"),
        (dict(kid_subsets=0), ValueError, "kid_subsets"), (dict(ema=math.nan), ValueError, "ema"),
        (dict(width=0), ValueError, "width"), (dict(model="ssgan", ss_hidden=()), ValueError, "ss_hidden"),
        (dict(model="ssgan", ss_hidden=(64, 0)), ValueError, "ss_hidden"), (dict(model="ssgan", augment="no"), TypeError, "augment"),
        (dict(batch=1), ValueError, "batch"), (dict(model="vae"), ValueError, "model"),
        (dict(model="ssgan", unlabelled_fraction=2.0), ValueError, "unlabelled_fraction"),
        (dict(data="mnist"), ValueError, "mnist_path"), (dict(model="ssgan", ss_vat=-1.0), ValueError, "ss_vat"),
        (dict(model="ssgan", ss_noise=(0.3,)), ValueError, "ss_noise"), (dict(lr_schedule="linear"), ValueError, "lr_schedule")]:
    case(C, f"ImageGANConfig {kw}", exc, ("ImageGANConfig", name),
         lambda t, kw=kw: train_image_gan(ImageGANConfig(**{**TINY_IMG, **kw}), callback=_no_step))
TINY_DDPM = dict(steps=2, eval_every=2, batch=8, hidden=8, T=10, n_eval=20, progress=False)
for kw, exc, name in [
        (dict(T=8800), ValueError, "float64"), (dict(T=20000), ValueError, "T"), (dict(T=0), ValueError, "T"),
        (dict(lr=0.0), ValueError, "lr"), (dict(lr=math.nan), ValueError, "lr"), (dict(betas=(0.9,)), ValueError, "betas"),
        (dict(grad_clip=0.0), ValueError, "grad_clip"), (dict(grad_clip=math.nan), ValueError, "grad_clip"),
        (dict(ema=-0.1), ValueError, "ema"), (dict(n_eval=1), ValueError, "n_eval"), (dict(seed=-1), ValueError, "seed"),
        (dict(warmup=-1), ValueError, "warmup"), (dict(time_dim=7), ValueError, "time_dim"),
        (dict(steps=True), TypeError, "steps"), (dict(low_discrepancy="yes"), TypeError, "low_discrepancy"),
        (dict(schedule="quadratic"), ValueError, "schedule")]:
    case(C, f"DDPMConfig {kw}", exc, ("DDPMConfig", name),
         lambda t, kw=kw: train_ddpm(DDPMConfig(**{**TINY_DDPM, **kw}), callback=_no_step))
case(C, "GANConfig label_flip 0.7", ValueError, ("GANConfig", "label_flip", "0.7"),
     lambda t: GANConfig(label_flip=0.7).validate())
case(C, "GANConfig latent cauchy", ValueError, ("GANConfig", "latent", "cauchy"), lambda t: GANConfig(latent="cauchy").validate())
case(C, "ImageGANConfig d_width 0", ValueError, ("ImageGANConfig", "d_width"), lambda t: ImageGANConfig(d_width=0).validate())
case(C, "ImageGANConfig d_dropout 1", ValueError, ("ImageGANConfig", "d_dropout"),
     lambda t: ImageGANConfig(d_dropout=1.0).validate())
case(C, "preset unknown", ValueError, ("preset", "name"), lambda t: DDPMConfig.preset("imagenet"))
case(C, "preset unknown field", TypeError, ("lr_typo",), lambda t: ImageGANConfig.preset("ssgan", lr_typo=1.0))


# ---------------------------------------------------------------------------
# Checkpoints: only the layout save writes; anything else names the file and the entry
# ---------------------------------------------------------------------------
K = "checkpoints"


def _index(tree, version=1):
    return np.frombuffer(json.dumps({"version": version, "tree": tree}).encode(), np.uint8)


def _crafted(t, tree, name="c.npz", **arrays):
    path = str(t / name)
    with open(path, "wb") as f:
        np.savez(f, __scratchgen__=_index(tree), **arrays)
    return path


def _load(path):
    return sg.load(path)


def _rng_entry(name, state=None):
    return {"__dict__": [["rng", {"__rng__": name, "state": state or {"bit_generator": name}}]]}


def _global_state_kept(call):
    """Run ``call``; fail if it touched NumPy's global random state (a file naming "seed" used to reseed it)."""
    def run(t):
        before = np.random.get_state()[1].copy()
        try:
            call(t)
        finally:
            assert np.array_equal(np.random.get_state()[1], before), "NumPy's global random state changed"
    return run


def _written(t):
    path = str(t / "ok.npz")
    sg.save({"G": {"w": np.arange(6, dtype=np.float32).reshape(2, 3)}, "rng": sg.rng(0), "step": 3}, path)
    return path


def _edit_index(t, edit):
    """A checkpoint written by save, its index changed by ``edit(meta)``."""
    path = _written(t)
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files if k != "__scratchgen__"}
        meta = json.loads(bytes(z["__scratchgen__"]).decode())
    edit(meta)
    out = str(t / "edited.npz")
    with open(out, "wb") as f:
        np.savez(f, __scratchgen__=np.frombuffer(json.dumps(meta).encode(), np.uint8), **arrays)
    return out


def _text_file(t):
    (t / "notes.npz").write_text("not a checkpoint")
    return str(t / "notes.npz")


def _truncated(t):
    path = _written(t)
    data = open(path, "rb").read()
    open(path, "wb").write(data[: len(data) // 2])
    return path


def _npy(t):
    np.save(str(t / "a.npy"), np.zeros(3))
    return str(t / "a.npy")


def _flip_byte(t):
    path = _written(t)
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    raw = bytearray(members["G/w.npy"])
    raw[-1] ^= 0xFF
    members["G/w.npy"] = bytes(raw)
    with zipfile.ZipFile(path, "w") as z:
        for n, b in members.items():
            z.writestr(n, b)
    return path


case(K, "missing file", FileNotFoundError, ("nope.npz",), lambda t: sg.load(str(t / "nope.npz")))
case(K, "text file", CheckpointError, ("notes.npz", "cannot be opened"), lambda t: _load(_text_file(t)))
case(K, "truncated", CheckpointError, ("ok.npz",), lambda t: _load(_truncated(t)))
case(K, "single .npy", CheckpointError, ("a.npy", "single .npy"), lambda t: _load(_npy(t)))
case(K, "npz without index", CheckpointError, ("x.npz", "__scratchgen__"),
     lambda t: (np.savez(str(t / "x.npz"), a=np.zeros(2)), _load(str(t / "x.npz"))))
case(K, "train_gan resume without G", CheckpointError, ("r.npz", "no entry 'G'"),
     lambda t: sg.gan.train.train_gan(GANConfig(**TINY_GAN), str(t / "run"), resume=(sg.save(
         {"kind": "gan", "step": 1, "config": GANConfig(**TINY_GAN).to_dict(), "history": {}}, str(t / "r.npz")),
         str(t / "r.npz"))[1]))
case(K, "train_gan resume with another G", CheckpointError, ("r.npz", "entry 'G'", "does not fit"),
     lambda t: sg.gan.train.train_gan(GANConfig(**TINY_GAN), str(t / "run"), resume=(sg.save(
         {"kind": "gan", "step": 1, "config": GANConfig(**TINY_GAN).to_dict(), "history": {},
          "G": sg.nn.Linear(3, 3).state_dict()}, str(t / "r.npz")), str(t / "r.npz"))[1]))


def _raw_index(t, raw):
    np.savez(str(t / "c.npz"), __scratchgen__=np.frombuffer(raw, np.uint8))
    return str(t / "c.npz")


case(K, "index not JSON", CheckpointError, ("c.npz", "corrupt"), lambda t: _load(_raw_index(t, b"{oops")))
case(K, "index a list", CheckpointError, ("c.npz", "'version' and 'tree'"), lambda t: _load(_raw_index(t, b"[1, 2]")))
case(K, "version 2", CheckpointError, ("edited.npz", "version 2"), lambda t: _load(_edit_index(t, lambda m: m.update(version=2))))
case(K, "unknown node keys", CheckpointError, ("c.npz", "entry 'x'", "__weird__"),
     lambda t: _load(_crafted(t, {"__dict__": [["x", {"__weird__": 1}]]})))
case(K, "bare JSON list", CheckpointError, ("c.npz", "entry 'x'", "bare JSON list"),
     lambda t: _load(_crafted(t, {"__dict__": [["x", [1, 2]]]})))
case(K, "rng named seed", CheckpointError, ("c.npz", "entry 'rng'", "'seed'"),
     _global_state_kept(lambda t: _load(_crafted(t, _rng_entry("seed")))))
case(K, "rng named test", CheckpointError, ("c.npz", "entry 'rng'", "'test'"), lambda t: _load(_crafted(t, _rng_entry("test"))))
case(K, "rng named RandomState", CheckpointError, ("entry 'rng'", "RandomState"),
     lambda t: _load(_crafted(t, _rng_entry("RandomState"))))
case(K, "rng bad state", CheckpointError, ("entry 'rng'", "PCG64", "cannot be restored"),
     lambda t: _load(_crafted(t, _rng_entry("PCG64", {"bit_generator": "PCG64", "state": "x"}))))
case(K, "rng state of MT19937 under PCG64", CheckpointError, ("entry 'rng'", "PCG64"),
     lambda t: _load(_crafted(t, _rng_entry("PCG64", np.random.MT19937(0).state | {"state": {"key": [1], "pos": 0}}))))
case(K, "array entry without crc", CheckpointError, ("edited.npz", "entry 'G/w'", "unrecognised keys"),
     lambda t: _load(_edit_index(t, lambda m: m["tree"]["__dict__"][0][1]["__dict__"][0][1].pop("crc32"))))
case(K, "array entry shape 'x'", CheckpointError, ("entry 'G/w'",),
     lambda t: _load(_edit_index(t, lambda m: m["tree"]["__dict__"][0][1]["__dict__"][0][1].update(shape="x"))))
case(K, "array listed, missing", CheckpointError, ("c.npz", "'nothere'", "missing"),
     lambda t: _load(_crafted(t, {"__array__": "nothere", "shape": [2], "dtype": "<f8", "crc32": 0})))
case(K, "array shape edited", CheckpointError, ("edited.npz", "'G/w'", "(2, 3)"),
     lambda t: _load(_edit_index(t, lambda m: m["tree"]["__dict__"][0][1]["__dict__"][0][1].update(shape=[3, 2]))))
case(K, "array bytes flipped", CheckpointError, ("ok.npz", "'G/w'", "CRC-32"), lambda t: _load(_flip_byte(t)))
case(K, "dict item not a pair", CheckpointError, ("c.npz", "entry '/'", "[key, value]"),
     lambda t: _load(_crafted(t, {"__dict__": [["a", 1, 2]]})))
case(K, "dict key repeated", CheckpointError, ("c.npz", "[key, value]"),
     lambda t: _load(_crafted(t, {"__dict__": [["a", 1], ["a", 2]]})))
case(K, "object array", CheckpointError, ("c.npz", "'o'"),
     lambda t: _load(_crafted(t, {"__array__": "o", "shape": [2], "dtype": "|O", "crc32": 0},
                              o=np.array([1, None], dtype=object))))
case(K, "template mismatch", CheckpointError, ("ok.npz", "G/w", "(2, 3)"),
     lambda t: sg.load(_written(t), like={"G": {"w": np.zeros((3, 3))}}))
case(K, "save a look-alike bit generator", TypeError, ("save", "rng", "MT19937"),
     lambda t: sg.save({"rng": _Custom()}, str(t / "x.npz")))


class _Custom:
    """An object that looks like a generator on a bit generator save does not store."""

    class MT19937:  # named like one of NumPy's, but another class
        state = {}

    bit_generator = MT19937()


# ---------------------------------------------------------------------------
# The command line: one line, the option named, exit 2, nothing under --out
# ---------------------------------------------------------------------------
GAN = ["train", "gan", "--steps", "2", "--eval-every", "2", "--batch", "8", "--hidden", "8", "--z-dim", "4",
       "--n-eval", "20", "--no-progress"]
DDPM = ["train", "ddpm", "--steps", "2", "--eval-every", "2", "--batch", "8", "--hidden", "8", "--T", "10",
        "--n-eval", "20", "--no-progress", "--no-figures"]
DCGAN = ["train", "dcgan", "--steps", "2", "--eval-every", "2", "--batch", "8", "--width", "4", "--z-dim", "4",
         "--n-eval", "20", "--kid-subsets", "2", "--no-progress"]


def out(t):
    return str(t / "run")


def _checkpoint(t, kind, config=None, name=None):
    """A file with the entries the scaffold writes, of ``kind`` (no training needed to test the checks)."""
    config = config or {"gan": GANConfig, "ddpm": DDPMConfig, "image_gan": ImageGANConfig}.get(kind, GANConfig)().to_dict()
    path = str(t / (name or f"{kind}.npz"))
    sg.save({"kind": kind, "step": 2, "rng": sg.rng(0), "config": config, "timing_seconds": {},
             "history": {"step": [1, 2], "eval_step": [2], "eval": ["{}"]}}, path)
    return path


def _run_dir(t, kind):
    d = t / f"{kind}_run"
    d.mkdir()
    _checkpoint(d, kind, name="checkpoint.npz")
    return str(d)


def _file(t, name="afile"):
    (t / name).write_text("x")
    return str(t / name)


def _nonempty(t):
    (t / "run").mkdir()
    (t / "run" / "samples.npy").write_bytes(b"")
    return str(t / "run")


def _images(t, x, name="s.npy"):
    np.save(str(t / name), x)
    return str(t / name)


def _digits(n=20):
    return np.zeros((n, 1, 8, 8), np.float32)


cli("gan --penalty-weight -10", lambda t: GAN + ["--penalty", "gp", "--penalty-weight", "-10", "--out", out(t)],
    "--penalty-weight")
cli("gan --steps 0", lambda t: GAN + ["--steps", "0", "--out", out(t)], "--steps")
cli("gan --n-eval 1", lambda t: GAN + ["--n-eval", "1", "--out", out(t)], "--n-eval")
cli("gan --lr-g nan", lambda t: GAN + ["--lr-g", "nan", "--out", out(t)], "--lr-g")
cli("gan --lr-d inf", lambda t: GAN + ["--lr-d", "inf", "--out", out(t)], "--lr-d")
cli("gan --lr-d -1e-4", lambda t: GAN + ["--lr-d", "-1e-4", "--out", out(t)], "--lr-d")
cli("gan --betas 0.5", lambda t: GAN + ["--betas", "0.5", "--out", out(t)], "--betas")
cli("gan --betas 0.5 1.0", lambda t: GAN + ["--betas", "0.5", "1.0", "--out", out(t)], "--betas")
cli("gan --seed -1", lambda t: GAN + ["--seed", "-1", "--out", out(t)], "--seed")
cli("gan --unroll-lr -1", lambda t: GAN + ["--unrolled", "2", "--unroll-lr", "-1", "--out", out(t)], "--unroll-lr")
cli("gan --clip 0", lambda t: GAN + ["--clip", "0", "--out", out(t)], "--clip")
cli("gan --ema 1", lambda t: GAN + ["--ema", "1", "--out", out(t)], "--ema")
cli("gan --top-k 0", lambda t: GAN + ["--top-k", "0", "--out", out(t)], "--top-k")
cli("gan --steps x", lambda t: GAN + ["--steps", "x", "--out", out(t)], "--steps")
cli("gan --steps 1e3", lambda t: GAN + ["--steps", "1e3", "--out", out(t)], "--steps")
cli("gan --loss wasserstein", lambda t: GAN + ["--loss", "wasserstein", "--out", out(t)], "--loss")
cli("gan --pack 3", lambda t: GAN + ["--pack", "3", "--out", out(t)], ("--pack", "--batch"))
cli("gan --label-smoothing with wgan", lambda t: GAN + ["--loss", "wgan", "--label-smoothing", "0.9", "--out", out(t)],
    ("--label-smoothing", "--loss"))
cli("gan --mmd-sigmas 0", lambda t: GAN + ["--mmd-weight", "1", "--mmd-sigmas", "0", "--out", out(t)], "--mmd-sigmas")
cli("gan no --out", lambda t: GAN, "--out")
cli("gan unknown option", lambda t: GAN + ["--lr", "0.1", "--out", out(t)], "--lr")
cli("gan --backend tpu", lambda t: GAN + ["--backend", "tpu", "--out", out(t)], "--backend")
cli("gan --out a file", lambda t: GAN + ["--out", _file(t)], ("--out", "afile", "is a file"))
cli("gan --out under a file", lambda t: GAN + ["--out", os.path.join(_file(t), "run")], ("--out", "afile", "is a file"))
cli("gan --out not empty", lambda t: GAN + ["--out", _nonempty(t)], ("--out", "not empty", "--overwrite"))
cli("gan --out not empty, a run", lambda t: GAN + ["--out", _run_dir(t, "gan")], ("--out", "not empty", "--resume"))
cli("gan --resume nope.npz", lambda t: GAN + ["--resume", str(t / "nope.npz"), "--out", out(t)], ("--resume", "nope.npz"))
cli("gan --resume a directory", lambda t: GAN + ["--resume", str(t), "--out", out(t)], ("--resume", "directory"))
cli("gan --resume a text file", lambda t: GAN + ["--resume", _file(t, "x.npz"), "--out", out(t)], ("--resume", "x.npz"))
cli("gan --resume a DDPM checkpoint", lambda t: GAN + ["--resume", _checkpoint(t, "ddpm"), "--out", out(t)],
    ("--resume", "DDPM checkpoint", "scratchgen sample"))
cli("gan --resume an image-GAN checkpoint", lambda t: GAN + ["--resume", _checkpoint(t, "image_gan"), "--out", out(t)],
    ("--resume", "image-GAN checkpoint"))
cli("gan --resume another config", lambda t: GAN + ["--loss", "hinge", "--resume",
                                                     _checkpoint(t, "gan", dict(GANConfig(**TINY_GAN).to_dict())),
                                                     "--out", out(t)], ("--resume", "loss"))
cli("gan --resume without rng", lambda t: GAN + ["--resume", (sg.save({"kind": "gan", "step": 1, "config": {},
                                                                       "history": {}}, str(t / "r.npz")),
                                                              str(t / "r.npz"))[1], "--out", out(t)],
    ("--resume", "'rng'"))
cli("gan --resume crafted rng", lambda t: GAN + ["--resume", _crafted(t, _rng_entry("seed")), "--out", out(t)],
    ("--resume", "'seed'"))
cli("dcgan --lr-g -1", lambda t: DCGAN + ["--lr-g", "-1", "--out", out(t)], "--lr-g")
cli("dcgan --n-eval 3", lambda t: DCGAN + ["--n-eval", "3", "--out", out(t)], "--n-eval")
cli("dcgan --kid-subsets 0", lambda t: DCGAN + ["--kid-subsets", "0", "--out", out(t)], "--kid-subsets")
cli("dcgan --mnist-path with digits", lambda t: DCGAN + ["--mnist-path", str(t), "--out", out(t)], ("--mnist-path", "--data"))
cli("cgan --resume a GAN checkpoint",
    lambda t: ["train", "cgan", "--resume", _checkpoint(t, "gan"), "--no-progress", "--out", out(t)],
    ("--resume", "GAN checkpoint", "scratchgen reject"))
cli("ssgan --unlabelled-fraction 2", lambda t: ["train", "ssgan", "--unlabelled-fraction", "2", "--out", out(t)],
    "--unlabelled-fraction")
cli("ssgan --hidden 0", lambda t: ["train", "ssgan", "--hidden", "64", "0", "--out", out(t)], "--hidden")
cli("ddpm --T 8800 (float32)", lambda t: DDPM + ["--T", "8800", "--out", out(t)], ("--T", "float64"))
cli("ddpm --time-dim 7", lambda t: DDPM + ["--time-dim", "7", "--out", out(t)], "--time-dim")
cli("ddpm --grad-clip 0", lambda t: DDPM + ["--grad-clip", "0", "--out", out(t)], "--grad-clip")
cli("ddpm --lr 0", lambda t: DDPM + ["--lr", "0", "--out", out(t)], "--lr")
cli("ddpm --ema 1.5", lambda t: DDPM + ["--ema", "1.5", "--out", out(t)], "--ema")
cli("ddpm --warmup -1", lambda t: DDPM + ["--warmup", "-1", "--out", out(t)], "--warmup")
cli("ddpm --resume a GAN checkpoint", lambda t: DDPM + ["--resume", _checkpoint(t, "gan"), "--out", out(t)],
    ("--resume", "GAN checkpoint"))
cli("sample --checkpoint of a GAN", lambda t: ["sample", "--checkpoint", _checkpoint(t, "gan"), "--out", out(t)],
    ("--checkpoint", "GAN checkpoint", "scratchgen reject"))
cli("sample --checkpoint missing", lambda t: ["sample", "--checkpoint", str(t / "no.npz"), "--out", out(t)],
    ("--checkpoint", "no.npz"))
cli("sample --n 1", lambda t: ["sample", "--checkpoint", _checkpoint(t, "ddpm"), "--n", "1", "--out", out(t)], "--n")
cli("sample --eta 2", lambda t: ["sample", "--checkpoint", _checkpoint(t, "ddpm"), "--sampler", "ddim", "--eta", "2",
                                 "--out", out(t)], "--eta")
cli("sample --eta with ddpm", lambda t: ["sample", "--checkpoint", _checkpoint(t, "ddpm"), "--eta", "0.5",
                                         "--out", out(t)], ("--eta", "--sampler"))
cli("sample --steps 0", lambda t: ["sample", "--checkpoint", _checkpoint(t, "ddpm"), "--steps", "0", "--out", out(t)],
    "--steps")
cli("sample --steps > T", lambda t: ["sample", "--checkpoint", _checkpoint(t, "ddpm"), "--steps", "5000",
                                     "--out", out(t)], ("--steps", "1000"))
cli("sample --seed -1", lambda t: ["sample", "--checkpoint", _checkpoint(t, "ddpm"), "--seed", "-1", "--out", out(t)],
    "--seed")
cli("sample --out a file", lambda t: ["sample", "--checkpoint", _checkpoint(t, "ddpm"), "--out", _file(t)],
    ("--out", "is a file"))
cli("sample --sampler euler", lambda t: ["sample", "--checkpoint", "x", "--sampler", "euler", "--out", out(t)], "--sampler")
cli("reject a DDPM run", lambda t: ["reject", _run_dir(t, "ddpm"), "--no-progress"],
    ("RUN_DIR", "DDPM checkpoint", "scratchgen sample"))
cli("reject an image-GAN run", lambda t: ["reject", _run_dir(t, "image_gan"), "--no-progress"],
    ("RUN_DIR", "image-GAN checkpoint", "scratchgen eval"))
cli("reject a missing dir", lambda t: ["reject", str(t / "nothing"), "--no-progress"], ("RUN_DIR", "nothing"))
cli("reject a dir without a run", lambda t: ["reject", str(t), "--no-progress"], ("RUN_DIR", "checkpoint.npz"))
cli("reject --steps 0", lambda t: ["reject", _run_dir(t, "gan"), "--steps", "0"], "--steps")
cli("reject --lr -1", lambda t: ["reject", _run_dir(t, "gan"), "--lr", "-1"], "--lr")
cli("reject --seed -1", lambda t: ["reject", _run_dir(t, "gan"), "--seed", "-1"], "--seed")
cli("reject --batch 0", lambda t: ["reject", _run_dir(t, "gan"), "--batch", "0"], "--batch")
cli("reject --hidden 0", lambda t: ["reject", _run_dir(t, "gan"), "--hidden", "0"], "--hidden")
cli("eval --samples x.npz", lambda t: ["eval", "--samples", (np.savez(str(t / "x.npz"), a=_digits()), str(t / "x.npz"))[1]],
    ("--samples", "x.npz", ".npz archive"))
cli("eval --samples missing", lambda t: ["eval", "--samples", str(t / "none.npy")], ("--samples", "none.npy"))
cli("eval --samples complex", lambda t: ["eval", "--samples", _images(t, _digits().astype(complex))], ("--samples", "complex"))
cli("eval --samples shape", lambda t: ["eval", "--samples", _images(t, np.zeros((5, 28, 28), np.float32))],
    ("--samples", "(5, 28, 28)"))
cli("eval --samples range", lambda t: ["eval", "--samples", _images(t, _digits() + 16)], ("--samples", "[-1, 1]"))
cli("eval --samples nan", lambda t: ["eval", "--samples", _images(t, _digits() * np.nan)], ("--samples", "finite"))
cli("eval --samples object", lambda t: ["eval", "--samples", (np.save(str(t / "o.npy"), np.array([None, 1]),
                                                                      allow_pickle=True), str(t / "o.npy"))[1]],
    ("--samples", "o.npy"))
cli("eval --labels 1.5", lambda t: ["eval", "--samples", _images(t, _digits()),
                                    "--labels", _images(t, np.full(20, 1.5), "l.npy")], ("--labels", "whole-number"))
cli("eval --labels 10", lambda t: ["eval", "--samples", _images(t, _digits()),
                                   "--labels", _images(t, np.arange(20) % 11, "l.npy")], ("--labels", "0..9"))
cli("eval --labels length", lambda t: ["eval", "--samples", _images(t, _digits()),
                                       "--labels", _images(t, np.zeros(19, np.int64), "l.npy")], ("--labels", "(20,)"))
cli("eval --labels complex", lambda t: ["eval", "--samples", _images(t, _digits()),
                                        "--labels", _images(t, np.zeros(20, complex), "l.npy")], ("--labels", "complex"))
cli("eval --k 0", lambda t: ["eval", "--samples", _images(t, _digits()), "--k", "0"], "--k")
cli("eval --k >= N", lambda t: ["eval", "--samples", _images(t, _digits()), "--k", "20"], ("--k", "20"))
cli("eval --seed -1", lambda t: ["eval", "--samples", _images(t, _digits()), "--seed", "-1"], "--seed")
cli("eval --reference bad", lambda t: ["eval", "--samples", _images(t, _digits()),
                                       "--reference", _images(t, np.zeros((3, 4)), "r.npy")], ("--reference", "r.npy"))
cli("eval --out a directory", lambda t: ["eval", "--samples", _images(t, _digits()), "--out", str(t)], ("--out", "directory"))
cli("eval --out under a file", lambda t: ["eval", "--samples", _images(t, _digits()), "--out",
                                          os.path.join(_file(t), "m.json")], ("--out", "is a file"))
cli("no command", lambda t: [], "command")
cli("train, no model", lambda t: ["train"], "MODEL")


def _params(cases):
    return [pytest.param(c, id=f"{c.category}: {c.id}", marks=[pytest.mark.xfail(strict=True, reason=c.gap)] if c.gap
                         else []) for c in cases]


@pytest.mark.parametrize("c", _params([c for c in CASES if c.category != "cli"]))
def test_a_bad_argument_raises_a_clear_error_naming_it(c, tmp_path):
    with pytest.raises(c.exc) as e:
        c.call(tmp_path)
    message = str(e.value)
    for name in c.names:
        assert name in message, (name, message)


@pytest.mark.parametrize("c", [c for c in CASES if c.category == "cli"], ids=lambda c: f"cli: {c.id}")
def test_a_bad_command_is_one_line_naming_the_option_and_writes_nothing(c, tmp_path, capsys):
    from scratchgen.cli import main

    argv = c.call(tmp_path)
    before = _tree(tmp_path)
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err
    assert e.value.code == c.exc, err
    assert err.startswith("scratchgen: error: ") and err.endswith("\n") and err.count("\n") == 1, err
    for name in c.names:
        assert name in err, (name, err)
    assert _tree(tmp_path) == before  # nothing under --out (or anywhere) created, changed or removed


def _tree(root):
    return sorted((os.path.relpath(os.path.join(d, f), root), os.path.getsize(os.path.join(d, f)))
                  for d, _, files in os.walk(root) for f in files) + sorted(
        os.path.relpath(d, root) for d, _, _ in os.walk(root))


def test_the_catalogue_covers_every_category_with_at_least_150_cases():
    counts = {}
    for c in CASES:
        counts[c.category] = counts.get(c.category, 0) + 1
    assert len([c for c in CASES if not c.gap]) >= 150, len(CASES)
    assert set(counts) == {"shapes", "dtypes", "optimisers", "parameters", "configs", "checkpoints", "cli"}, counts
    assert len({(c.category, c.id) for c in CASES}) == len(CASES)  # no case twice


def test_a_read_only_out_directory_is_named(tmp_path, monkeypatch, capsys):
    from scratchgen.cli import main

    (tmp_path / "ro").mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if os.path.abspath(p) == str(tmp_path / "ro") else real(p, mode))
    with pytest.raises(SystemExit) as e:
        main(GAN + ["--out", str(tmp_path / "ro" / "run")])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "--out: cannot write in" in err and "read-only" in err and err.count("\n") == 1
    assert not (tmp_path / "ro" / "run").exists()


def test_overwrite_and_resume_are_the_two_ways_into_a_used_run_directory(tmp_path, monkeypatch):
    import scratchgen.gan.train as gan_train
    from scratchgen.cli import main

    runs = []

    def train(cfg, out_dir=None, resume=None):  # stands in for the training: records what the command asked for
        runs.append((cfg.steps, resume))
        return gan_train.GANRun(cfg, None, None)

    monkeypatch.setattr(gan_train, "train_gan", train)
    run = _run_dir(tmp_path, "gan")  # holds a GAN checkpoint
    ckpt = os.path.join(run, "checkpoint.npz")
    sg.save({**sg.load(ckpt), "config": GANConfig(**{**TINY_GAN, "progress": False}).to_dict()}, ckpt)
    with pytest.raises(SystemExit):
        main(GAN + ["--out", run])  # refused: not empty
    main(GAN + ["--out", run, "--overwrite"])
    main([*GAN[:3], "4", *GAN[4:], "--out", run, "--resume", ckpt])  # more steps: a resume may change them
    assert runs == [(2, None), (4, ckpt)]


@pytest.mark.parametrize("argv, code, names", [
    (["train", "gan", "--steps", "0", "--out", "never-made"], 2, ("--steps",)),
    (["eval", "--samples", "missing.npy"], 2, ("--samples",)),
])
def test_the_installed_command_exits_with_the_code_and_one_line(argv, code, names, tmp_path):
    r = subprocess.run([sys.executable, "-m", "scratchgen.cli", *argv], capture_output=True, text=True, cwd=tmp_path,
                       env={**os.environ, "OPENBLAS_NUM_THREADS": "1"}, timeout=120)
    assert r.returncode == code, r.stderr
    assert r.stderr.startswith("scratchgen: error: ") and r.stderr.count("\n") == 1, r.stderr
    assert all(n in r.stderr for n in names) and not (tmp_path / "never-made").exists()


# ---------------------------------------------------------------------------
# Ranges, drawn: hypothesis
# ---------------------------------------------------------------------------
_outside_unit = st.one_of(st.floats(max_value=-1e-12), st.floats(min_value=1.0), st.just(math.nan))


@settings(max_examples=30, deadline=None)
@given(lr=st.one_of(st.floats(max_value=-1e-300), st.just(math.inf), st.just(-math.inf), st.just(math.nan)))
def test_adam_refuses_every_learning_rate_below_zero_or_not_finite(lr):
    with pytest.raises(ValueError, match=r"Adam: lr must be a finite number >= 0, got"):
        optim.Adam(params(), lr=lr)


@settings(max_examples=30, deadline=None)
@given(b1=_outside_unit, b2=st.floats(0, 0.999))
def test_adam_refuses_a_beta_outside_zero_one(b1, b2):
    with pytest.raises(ValueError, match=r"Adam: betas must be 2 numbers in \[0, 1\)"):
        optim.Adam(params(), betas=(b1, b2))
    with pytest.raises(ValueError, match=r"Adam: betas must be 2 numbers in \[0, 1\)"):
        optim.Adam(params(), betas=(b2, b1))


@settings(max_examples=30, deadline=None)
@given(t=st.one_of(st.floats(-1e30, -1e-6), st.floats(1 + 1e-6, 1e30), st.just(math.nan)))
def test_bce_refuses_a_target_outside_zero_one(t):
    target = np.full(4, 0.5, np.float32)
    target[2] = t
    with pytest.raises(ValueError, match=r"binary_cross_entropy_with_logits: target must hold values in \[0, 1\]"):
        NF.binary_cross_entropy_with_logits(T32(4), target)


@settings(max_examples=30, deadline=None)
@given(steps=st.integers(max_value=0), n_eval=st.integers(max_value=1))
def test_every_config_refuses_non_positive_steps_and_too_few_evaluation_samples(steps, n_eval):
    for cls, tiny in ((GANConfig, TINY_GAN), (DDPMConfig, TINY_DDPM)):
        with pytest.raises(ValueError, match=f"{cls.__name__}: steps must be a positive int, got {steps}"):
            cls(**{**tiny, "steps": steps}).validate()
        with pytest.raises(ValueError, match=f"{cls.__name__}: n_eval must be an int >= 2, got {n_eval}"):
            cls(**{**tiny, "n_eval": n_eval}).validate()


@settings(max_examples=20, deadline=None)
@given(T=st.integers(8633, 10**6))
def test_float32_ddpm_refuses_every_linear_schedule_whose_alpha_bar_underflows(T):
    with pytest.raises(ValueError, match="DDPMConfig: T must be at most 8632 for the linear schedule in float32"):
        DDPMConfig(**{**TINY_DDPM, "T": T}).validate()


# ---------------------------------------------------------------------------
# The numerics (the sigmoid's gradient is tested with the activations)
# ---------------------------------------------------------------------------
def test_bce_with_target_one_at_logit_20_is_not_zero_in_float32():
    # -log sigma(20) = log(1 + e^-20) = 2.0611536e-9; softplus(z) - t z rounds it to 0 in float32
    loss = NF.binary_cross_entropy_with_logits(sg.tensor(np.float32([20.0])), np.float32([1.0]))
    assert loss.dtype == np.float32
    assert abs(loss.item() - math.log1p(math.exp(-20.0))) < 1e-16
    g = sg.grad(lambda z: NF.binary_cross_entropy_with_logits(z, np.float32([1.0])))(sg.tensor(np.float32([20.0])))
    assert abs(g.numpy()[0] - (1 / (1 + math.exp(-20.0)) - 1)) < 1e-15  # sigma(z) - t


def test_an_int64_input_to_a_float32_linear_layer_is_cast_to_float32():
    y = nn.Linear(3, 2, generator=0)(np.ones((2, 3), np.int64))
    assert y.dtype == np.float32


def test_float32_ddpm_at_the_largest_accepted_linear_T_samples_finite_numbers():
    from scratchgen.diffusion.models import MLPDenoiser
    from scratchgen.diffusion.samplers import generate

    DDPMConfig(**{**TINY_DDPM, "T": 8632}).validate()
    schedule = sg.diffusion.make_schedule("linear", 8632)
    model = MLPDenoiser(2, 8, 1, 8, generator=0)
    for sampler in ("ddim", "ddpm"):
        x = generate(model, schedule, 16, (2,), sampler, steps=10, seed=0)
        assert x.dtype == np.float32 and np.all(np.isfinite(x)), sampler
