r"""GANs on images (8×8 digits, 28×28 MNIST): DCGAN, the conditional GAN, the semi-supervised GAN.

References
----------
* [DCGAN]  Radford, Metz & Chintala, "Unsupervised Representation Learning with Deep
  Convolutional Generative Adversarial Networks", ICLR 2016, Section 3 (the architecture
  guidelines) and Section 4 (N(0, 0.02²) initialisation, Adam with lr 2e-4 and β₁ = 0.5).
* [cGAN]   Mirza & Osindero, "Conditional Generative Adversarial Nets", 2014, Eq. 2:
  :math:`\min_G\max_D \mathbb E_{x,y}[\log D(x|y)] + \mathbb E_{z,y}[\log(1 - D(G(z|y)|y))]`.
* [Improved] Salimans et al., "Improved Techniques for Training GANs", NeurIPS 2016:
  Section 3.1 (feature matching), Section 5 (semi-supervised learning with a K+1 critic).
* [Pi]     Laine & Aila, "Temporal Ensembling for Semi-Supervised Learning", ICLR 2017, Section 2.1
  and its Algorithm 1 (the Π-model: two stochastic passes over one input, the squared difference of
  their class probabilities penalised).
* [ManifoldReg] Lecouat, Foo, Zenati & Chandrasekhar, "Semi-Supervised Learning with GANs:
  Revisiting Manifold Regularization", ICLR 2018 workshop (arXiv:1805.08957): the Jacobian penalty
  along the generator's manifold, estimated by a finite difference in z.
* [VAT]    Miyato, Maeda, Koyama & Ishii, "Virtual Adversarial Training: A Regularization Method for
  Supervised and Semi-Supervised Learning", IEEE TPAMI 2019 (arXiv:1704.03976): the KL between the
  predictions at x and at x + r_adv, r_adv found by one step of the power iteration.

The DCGAN rules, and how the models below follow them
-----------------------------------------------------
1. No pooling: the discriminator downsamples with stride-2 convolutions, the generator
   upsamples with stride-2 transposed convolutions (each layer learns its own resampling).
2. Batch norm in both networks, except the generator's output layer and the discriminator's
   input layer (normalising those layers made training oscillate in [DCGAN]).
3. No fully connected hidden layers: the generator's first layer is the "project and
   reshape" of z to a small (2w, s/4, s/4) feature map, the discriminator's last layer reads
   its flattened feature map into one logit.
4. ReLU in the generator, tanh at its output (data scaled to [-1, 1]); LeakyReLU (slope 0.2)
   in the discriminator.

Sizes: 8×8 digits: 2×2 → 4×4 → 8×8; 28×28 MNIST: 7×7 → 14×14 → 28×28 (kernel 4, stride 2,
padding 1 doubles or halves the side).

Conditioning ([cGAN]): the label y enters both players. G gets :math:`z \oplus e_G(y)`, a learnt
embedding of y (a one-hot vector times a matrix) concatenated to the noise; D gets the image
with one extra channel, a learnt embedding :math:`e_D(y)` reshaped to an H×W map.

Semi-supervised GAN ([Improved] Section 5): the critic is a K-class classifier whose
"fake" logit is fixed at 0 (:mod:`scratchgen.gan.ssgan`, ``form="K"``), trained on
:math:`L_{supervised} + L_{unsupervised}` with ``labels_per_class`` labels per class; the generator
is trained by feature matching on the critic's last hidden layer. Following [Improved]'s MNIST
model, the critic is an MLP with Gaussian noise added to its input and hidden layers.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from typing import NamedTuple

from .. import backend as _backend
from .. import nn, optim
from ..autodiff import functional as AF
from ..autodiff.primitives import concatenate, reshape
from ..autodiff.tensor import no_grad, tensor
from ..checkpoint import save
from ..training import RESUMABLE_CHANGES, TrainingDiverged, WeightAverage, check_finite, restore, same_setting
from . import losses as L
from . import ssgan

__all__ = [
    "ImageGANConfig", "ImageRun", "ImageData", "MODELS", "DATASETS", "load_image_data",
    "DCGANGenerator", "DCGANDiscriminator", "GaussianNoise", "SSCritic", "SSGenerator",
    "build_image_models", "labelled_indices", "unlabelled_indices", "train_image_gan", "train_labelled_only",
    "consistency_penalty", "manifold_penalty", "vat_penalty",
    "save_image_grid", "TrainingDiverged",
]

MODELS = ("dcgan", "cgan", "ssgan")
DATASETS = ("digits", "mnist")
N_CLASSES = 10


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


class ImageData(NamedTuple):
    x_train: object  # (N, 1, s, s) in [-1, 1]
    y_train: object  # (N,) int
    x_test: object  # held out: the reference set of the metrics, the test set of the SS-GAN
    y_test: object
    size: int  # s


def load_image_data(cfg: ImageGANConfig) -> ImageData:
    """Digits: the 70/30 split of :func:`scratchgen.metrics.features.digits_split` (the metrics
    classifier never saw the 30 %). MNIST: the train and test files at ``cfg.mnist_path``, checked
    as ``cfg.mnist_checksums`` says."""
    if cfg.data == "digits":
        from ..metrics.features import digits_split

        s = digits_split()
        return ImageData(s.x_train, s.y_train, s.x_test, s.y_test, 8)
    from ..data.mnist import MNIST_FILES, ChecksumError, load_mnist

    sums = _mnist_checksums(cfg.mnist_checksums)
    if isinstance(sums, dict):
        missing = [n for part in ("train", "test") for n in MNIST_FILES[part] if n not in sums]
        if missing:
            raise ValueError(f"mnist_checksums: {cfg.mnist_checksums!r} lists no digest for {', '.join(missing)}; "
                             "add them, or skip the check with mnist_checksums='none' (--mnist-checksums none)")
    try:
        tr, te = load_mnist(cfg.mnist_path, "train", checksums=sums), load_mnist(cfg.mnist_path, "test", checksums=sums)
    except ChecksumError as e:
        if sums == "standard":
            why = ("not the original MNIST files, or damaged ones. For another copy, give its digests in a JSON file "
                   "{filename: hexdigest} with mnist_checksums=FILE (--mnist-checksums FILE; demos/mnist_subset.py "
                   "writes checksums.json)")
        else:
            why = f"a damaged file, or not the one whose digest {cfg.mnist_checksums!r} lists"
        raise ChecksumError(e.path, e.algorithm, e.expected, e.got,
                            f"{why}; mnist_checksums='none' (--mnist-checksums none) skips the check") from e
    if tr.images.shape[2:] != (28, 28) or te.images.shape[2:] != (28, 28):
        raise ValueError(f"data='mnist' needs 28×28 images, received {tuple(tr.images.shape[2:])} (train) and "
                         f"{tuple(te.images.shape[2:])} (test) from {cfg.mnist_path}")
    return ImageData(tr.images, tr.labels, te.images, te.labels, 28)


def _mnist_checksums(spec):
    """``ImageGANConfig.mnist_checksums`` as :func:`~scratchgen.data.mnist.load_mnist` takes it."""
    if spec in ("standard", "none"):
        return None if spec == "none" else "standard"
    try:
        with open(spec) as f:
            sums = json.load(f)
    except (OSError, ValueError) as e:
        raise ValueError(f"mnist_checksums: expected 'standard', 'none' or a JSON file {{filename: hexdigest}}; "
                         f"cannot read {spec!r} as such a file: {e}") from e
    if not (isinstance(sums, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in sums.items())):
        raise ValueError(f"mnist_checksums: {spec!r} must hold a JSON object {{filename: hexdigest}}, received "
                         f"{type(sums).__name__}")
    from ..data.mnist import _digest_kind

    bad = {k: v for k, v in sums.items() if _digest_kind(v) is None}
    if bad:
        raise ValueError(f"mnist_checksums: {spec!r}: each digest must be 32 (MD5) or 64 (SHA-256) hex digits, "
                         f"received {bad}")
    return sums


# ---------------------------------------------------------------------------
# DCGAN and conditional DCGAN
# ---------------------------------------------------------------------------
def _check_labels(y, B, who, K=N_CLASSES):
    y = _backend.asarray(_backend.unwrap(y))  # on the active backend, with the weights they index
    if y.dtype.kind not in "iu" or y.shape != (B,):
        raise ValueError(f"{who}: labels must be ints of shape ({B},), received dtype {y.dtype}, shape {tuple(y.shape)}")
    if B and (int(y.min()) < 0 or int(y.max()) >= K):
        raise ValueError(f"{who}: labels must be in [0, {K}), received range [{int(y.min())}, {int(y.max())}]")
    return y


class DCGANGenerator(nn.Module):
    r""":math:`G(z)` or :math:`G(z \mid y)`: (B, z_dim) [and labels (B,)] → images (B, 1, s, s) in [-1, 1].

    ``Linear`` projects :math:`z \oplus e(y)` to (2w, s/4, s/4); BN-ReLU; ConvT(2w→w, 4, 2, 1); BN-ReLU;
    ConvT(w→1, 4, 2, 1); tanh. ``n_classes=0``: unconditional.
    """

    def __init__(self, z_dim=64, size=8, width=64, n_classes=0, embed_dim=16, generator=None):
        super().__init__()
        if size not in (8, 28):
            raise ValueError(f"DCGANGenerator: size must be 8 or 28, received {size}")
        g = _backend.rng(generator)
        self.z_dim, self.size, self.n_classes = z_dim, size, n_classes
        s0 = size // 4
        self.embed = nn.Embedding(n_classes, embed_dim, generator=g) if n_classes else None
        in_dim = z_dim + (embed_dim if n_classes else 0)
        self.net = nn.Sequential(
            nn.Linear(in_dim, 2 * width * s0 * s0, generator=g), nn.Unflatten(1, (2 * width, s0, s0)),  # project, reshape
            nn.BatchNorm2d(2 * width), nn.ReLU(),
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1, generator=g), nn.BatchNorm2d(width), nn.ReLU(),  # s/2
            nn.ConvTranspose2d(width, 1, 4, 2, 1, generator=g), nn.Tanh(),  # s, no BN at the output
        )

    def forward(self, z, y=None):
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"DCGANGenerator: expected z of shape (B, {self.z_dim}), received {tuple(z.shape)}")
        if self.n_classes:
            if y is None:
                raise ValueError("DCGANGenerator: a conditional generator needs labels y")
            y = _check_labels(y, z.shape[0], "DCGANGenerator", self.n_classes)
            z = concatenate([z, self.embed(y)], axis=1)  # z ⊕ e(y)
        return self.net(z)


class DCGANDiscriminator(nn.Module):
    r""":math:`D(x)` or :math:`D(x \mid y)`: images (B, 1, s, s) [and labels] → logits (B, 1).

    Conv(c→w, 4, 2, 1); LeakyReLU(0.2); Conv(w→2w, 4, 2, 1); BN; LeakyReLU(0.2); flatten; Linear → 1.
    Conditional: c = 2, the second channel an embedding of y reshaped to s×s.
    """

    def __init__(self, size=8, width=64, n_classes=0, generator=None):
        super().__init__()
        if size not in (8, 28):
            raise ValueError(f"DCGANDiscriminator: size must be 8 or 28, received {size}")
        g = _backend.rng(generator)
        self.size, self.n_classes = size, n_classes
        self.embed = nn.Embedding(n_classes, size * size, generator=g) if n_classes else None
        s2 = size // 4
        self.features = nn.Sequential(
            nn.Conv2d(2 if n_classes else 1, width, 4, 2, 1, generator=g), nn.LeakyReLU(0.2),  # no BN at the input
            nn.Conv2d(width, 2 * width, 4, 2, 1, generator=g), nn.BatchNorm2d(2 * width), nn.LeakyReLU(0.2),
            nn.Flatten(),
        )
        self.out = nn.Linear(2 * width * s2 * s2, 1, generator=g)

    def forward(self, x, y=None):
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, self.size, self.size):
            raise ValueError(f"DCGANDiscriminator: expected images of shape (B, 1, {self.size}, {self.size}), "
                             f"received {tuple(x.shape)}")
        if self.n_classes:
            if y is None:
                raise ValueError("DCGANDiscriminator: a conditional discriminator needs labels y")
            y = _check_labels(y, x.shape[0], "DCGANDiscriminator", self.n_classes)
            ymap = reshape(self.embed(y), (x.shape[0], 1, self.size, self.size))  # e(y) as a channel
            x = concatenate([x, ymap], axis=1)
        return self.out(self.features(x))  # (B, 1)


# ---------------------------------------------------------------------------
# Semi-supervised GAN: MLP critic with Gaussian noise, MLP generator
# ---------------------------------------------------------------------------
class GaussianNoise(nn.Module):
    r""":math:`x + \sigma\varepsilon`, :math:`\varepsilon \sim \mathcal N(0, I)`, in training; the identity in eval."""

    def __init__(self, sigma, generator=None):
        super().__init__()
        self.sigma = float(sigma)
        self.generator = _backend.rng(generator)

    def forward(self, x):
        if not self.training or self.sigma == 0:
            return x
        eps = self.generator.standard_normal(x.shape, dtype=x.dtype)
        return x + eps * x.dtype.type(self.sigma)

    def extra_repr(self):
        return f"sigma={self.sigma}"


class SSCritic(nn.Module):
    r"""The K-logit critic of the semi-supervised GAN (fake logit fixed at 0, ``ssgan`` form "K").

    images (B, 1, s, s) → flatten (``in_dim`` = s² pixels) → noise(σ_in) → [Linear → LeakyReLU(0.2) → noise(σ_h)] × len(hidden)
    → features :math:`\mathbf f(x)` (the last hidden layer) → Linear → K logits. With
    ``weight_norm=True`` every Linear is weight-normalised (:func:`scratchgen.nn.weight_norm`).
    ``forward`` returns ``(logits, features)``.
    """

    def __init__(self, in_dim=64, hidden=(512, 256, 256, 128), n_classes=N_CLASSES, sigma_in=0.3, sigma_h=0.5,
                 weight_norm=False, generator=None):
        super().__init__()
        g = _backend.rng(generator)
        self.in_dim = in_dim
        wn = nn.weight_norm if weight_norm else (lambda m: m)  # as in [Improved]'s code: every layer
        layers = [nn.Flatten(), GaussianNoise(sigma_in, g)]
        d = in_dim
        for h in hidden:
            layers += [wn(nn.Linear(d, h, generator=g)), nn.LeakyReLU(0.2), GaussianNoise(sigma_h, g)]
            d = h
        self.body = nn.Sequential(*layers)
        self.head = wn(nn.Linear(d, n_classes, generator=g))

    def forward(self, x):
        f = self.body(x)  # (B, hidden[-1])
        return self.head(f), f  # (B, K) logits, features


class SSConvCritic(nn.Module):
    r"""A convolutional K-logit critic for the semi-supervised GAN (option ``critic="conv"``).

    noise(σ_in) → Conv(1→w, 3, 1, 1) → LReLU → Conv(w→2w, 3, 2, 1) → LReLU → noise(σ_h)
    → Conv(2w→2w, 3, 2, 1) → LReLU → flatten = features → Linear → K logits. Each stride-2 layer
    maps a side s to ⌈s/2⌉ (8 → 4 → 2, 28 → 14 → 7), so there are 2w·⌈s/4⌉² features (8w for 8×8).
    """

    def __init__(self, width=32, n_classes=N_CLASSES, sigma_in=0.3, sigma_h=0.5, size=8, generator=None):
        super().__init__()
        g = _backend.rng(generator)
        w, self.size = width, size
        self.body = nn.Sequential(
            GaussianNoise(sigma_in, g),
            nn.Conv2d(1, w, 3, 1, 1, generator=g), nn.LeakyReLU(0.2),
            nn.Conv2d(w, 2 * w, 3, 2, 1, generator=g), nn.LeakyReLU(0.2), GaussianNoise(sigma_h, g),  # s -> ⌈s/2⌉
            nn.Conv2d(2 * w, 2 * w, 3, 2, 1, generator=g), nn.LeakyReLU(0.2), nn.Flatten(),  # -> ⌈s/4⌉
        )
        side = -(-size // 4)  # (s + 2·1 − 3) // 2 + 1 = ⌈s/2⌉, twice
        self.head = nn.Linear(2 * w * side * side, n_classes, generator=g)

    def forward(self, x):
        if tuple(x.shape[1:]) != (1, self.size, self.size):
            raise ValueError(f"SSConvCritic: expected images (B, 1, {self.size}, {self.size}), received {tuple(x.shape)}")
        f = self.body(x)  # (B, 2w·⌈s/4⌉²)
        return self.head(f), f


class SSGenerator(nn.Module):
    r"""z (B, z_dim) → [Linear → BN → ReLU] × 2 → Linear → tanh → (B, 1, s, s); [Improved]'s MNIST generator, smaller."""

    def __init__(self, z_dim=64, hidden=256, size=8, generator=None):
        super().__init__()
        g = _backend.rng(generator)
        self.z_dim = z_dim
        self.net = nn.Sequential(
            nn.Linear(z_dim, hidden, generator=g), nn.BatchNorm1d(hidden), nn.ReLU(),
            nn.Linear(hidden, hidden, generator=g), nn.BatchNorm1d(hidden), nn.ReLU(),
            nn.Linear(hidden, size * size, generator=g), nn.Tanh(), nn.Unflatten(1, (1, size, size)),
        )

    def forward(self, z, y=None):
        return self.net(z)


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


def labelled_indices(y, per_class, seed):
    """``per_class`` indices of each class of ``y``, chosen with ``rng(seed)``: the labelled set of the SS-GAN."""
    xp = _backend.get_xp(y)
    g = _backend.rng(seed)
    out = []
    for k in range(N_CLASSES):
        idx = xp.nonzero(y == k)[0]
        if idx.shape[0] < per_class:
            raise ValueError(f"labelled_indices: class {k} has {idx.shape[0]} images, fewer than per_class={per_class}")
        out.append(idx[g.permutation(idx.shape[0])[:per_class]])
    return xp.sort(xp.concatenate(out))


def _labelled_seed(seed):
    return 1_000_003 + seed  # its own stream: the SS-GAN and the labelled-only baseline share the labels


def unlabelled_indices(n, labelled, fraction, seed):
    """The SS-GAN's unlabelled images, as sorted indices into the n training images: the ``labelled``
    ones and ``round(fraction · (n − len(labelled)))`` of the others (Python's round: halves to even),
    chosen at random with ``seed``. ``fraction=1`` gives all n, as the SS-GAN uses by default;
    ``fraction=0`` the labelled ones only."""
    xp = _backend.get_xp()
    labelled = xp.asarray(labelled)
    if not (isinstance(fraction, (int, float)) and 0 <= fraction <= 1):
        raise ValueError(f"unlabelled_indices: fraction must be a number in [0, 1], got {fraction!r}")
    is_other = xp.ones(n, dtype=bool)
    is_other[labelled] = False
    others = xp.nonzero(is_other)[0]
    k = int(round(fraction * others.shape[0]))
    chosen = others[_backend.rng(seed).permutation(others.shape[0])[:k]]
    return xp.sort(xp.concatenate([labelled, chosen]))


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


def _unit(v):
    """v / ‖v‖ for each sample: the norm over every axis but the first (v an array)."""
    xp = _backend.get_xp(v)
    return v / (xp.sqrt((v * v).sum(axis=tuple(range(1, v.ndim)), keepdims=True)) + v.dtype.type(1e-12))


def consistency_penalty(logits_1, logits_2):
    r"""The Π-model term ([Pi] Section 2.1, Algorithm 1, without its 1/C and its ramp-up) on two
    noisy passes of the critic over the same images:

    .. math:: \Omega_c = \frac1B \sum_b \lVert \operatorname{softmax}(l^{(1)}_b) - \operatorname{softmax}(l^{(2)}_b) \rVert^2,

    l⁽¹⁾, l⁽²⁾ of shape (B, K): the K real-class logits under two independent draws of the critic's
    Gaussian noise. It is zero when the noise does not change the class probabilities.
    """
    for name, v in (("logits_1", logits_1), ("logits_2", logits_2)):
        if v.ndim != 2:
            raise ValueError(f"consistency_penalty: {name} must have shape (B, K), got {v.shape}")
    if logits_1.shape != logits_2.shape:
        raise ValueError(f"consistency_penalty: logits_1 and logits_2 must have one shape, got {logits_1.shape} "
                         f"and {logits_2.shape}")
    d = AF.softmax(logits_1, axis=1) - AF.softmax(logits_2, axis=1)
    return (d * d).sum(axis=1).mean()


def manifold_penalty(D, G, z, eps, gen):
    r"""The finite-difference manifold regulariser of [ManifoldReg] on the critic's logits l:

    .. math:: \Omega_m = \frac1B \sum_b \lVert l(G(z_b)) - l(G(z_b + \varepsilon \bar\delta_b)) \rVert^2,
       \qquad \bar\delta_b = \delta_b / \lVert \delta_b \rVert,\quad \delta_b \sim \mathcal N(0, I).

    For small ε this is :math:`\varepsilon^2 \lVert J_z\, l(G(z))\, \bar\delta\rVert^2`: the
    critic should change little along the image manifold that G traces. Only the critic is trained by
    it: G runs without gradients, on both batches at once (one set of batch-norm statistics), and the
    critic runs without its training noise, so that Ω_m measures the critic and not the noise.
    Like every call of G in training mode, the pass moves G's batch-norm running statistics.
    ``z`` (B, z_dim) Tensor; ``gen`` draws δ.
    """
    xp = _backend.get_xp(z.data)
    delta_bar = _unit(gen.standard_normal(z.shape).astype(z.data.dtype))
    with no_grad():
        x = G(tensor(xp.concatenate([z.data, z.data + z.data.dtype.type(eps) * delta_bar])))
    was_training = D.training
    D.eval()
    try:
        logits = D(x)[0]
    finally:
        D.train(was_training)
    B = z.shape[0]
    diff = logits[:B] - logits[B:]
    return (diff * diff).sum(axis=1).mean()


def vat_penalty(D, x, eps, gen, xi=0.1):
    r"""The virtual adversarial term of [VAT] on the critic's class probabilities
    :math:`p(y|x) = \operatorname{softmax}(l(x))` over the K real classes:

    .. math:: \Omega_{vat} = \frac1B \sum_b \mathrm{KL}\big(\hat p(\cdot|x_b)\,\big\|\,p(\cdot|x_b + r_b)\big),
       \qquad r_b = \varepsilon\, g_b / \lVert g_b\rVert,\quad
       g_b = \nabla_{r}\,\mathrm{KL}\big(\hat p(\cdot|x_b)\,\big\|\,p(\cdot|x_b + r)\big)\big|_{r = \xi d_b},

    :math:`d_b` a random unit vector, ξ a small step and :math:`\hat p` the current probabilities held
    constant. Near r = 0 the KL grows as ½ rᵀHr, so g_b ≈ ξHd_b: one step of the power iteration
    towards the direction in which the prediction changes fastest ([VAT]). ``x`` (B, 1, s, s)
    Tensor; the critic runs without its training noise in all three passes; ``gen`` draws d. Only
    the last pass carries gradients to the critic's parameters (r_b is a constant there).
    """
    from ..autodiff.api import grad

    xp = _backend.get_xp(x.data)
    x0 = x.data
    was_training = D.training
    D.eval()
    try:
        with no_grad():
            log_p = AF.log_softmax(D(x)[0], axis=1).data  # log p-hat, a constant
        p = xp.exp(log_p)

        def kl(r):
            return (tensor(p) * (tensor(log_p) - AF.log_softmax(D(tensor(x0) + r)[0], axis=1))).sum(axis=1).mean()

        d = _unit(gen.standard_normal(x0.shape).astype(x0.dtype))
        g = grad(kl)(d * x0.dtype.type(xi)).data
        r_adv = _unit(g) * x0.dtype.type(eps)
        return kl(tensor(r_adv))
    finally:
        D.train(was_training)


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
def save_image_grid(images, path, nrow=10, title=None):
    """Tile images (N, 1, s, s) in [-1, 1] into a grid of ``nrow`` columns and save it as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy  # file output only

    x = numpy.asarray(_backend.to_numpy(images))
    if x.ndim != 4 or x.shape[1] != 1:
        raise ValueError(f"save_image_grid: expected images of shape (N, 1, s, s), received {x.shape}")
    n, _, s, _ = x.shape
    rows = -(-n // nrow)
    grid = numpy.full((rows * (s + 1) + 1, nrow * (s + 1) + 1), -1.0, dtype=numpy.float32)
    for i in range(n):
        r, c = divmod(i, nrow)
        grid[1 + r * (s + 1): 1 + r * (s + 1) + s, 1 + c * (s + 1): 1 + c * (s + 1) + s] = x[i, 0]
    fig, ax = plt.subplots(figsize=(0.45 * nrow, 0.45 * rows + (0.3 if title else 0)))
    ax.imshow(grid, cmap="gray_r", vmin=-1, vmax=1, interpolation="nearest")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=8)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def _grid_order(run):
    """100 samples to show: for cgan, row k holds 10 samples asked to be digit k."""
    import numpy

    x = run.samples
    if run.sample_labels is None:
        return x[:100]
    return numpy.concatenate([x[run.sample_labels == k][:10] for k in range(N_CLASSES)])


def _write_outputs(run: ImageRun, out_dir):
    import numpy  # file output only

    numpy.save(os.path.join(out_dir, "samples.npy"), run.samples)
    if run.sample_labels is not None:
        numpy.save(os.path.join(out_dir, "sample_labels.npy"), run.sample_labels)
    with open(os.path.join(out_dir, "metrics.json"), "w") as f:
        json.dump({"final": run.final, "config": dataclasses.asdict(run.config),
                   "history": {"eval": run.history["eval"]}}, f, indent=2)
    title = f"{run.config.model}, step {run.config.steps}" + (", row k: digit k" if run.sample_labels is not None else "")
    save_image_grid(_grid_order(run), os.path.join(out_dir, "samples.png"), title=title)
