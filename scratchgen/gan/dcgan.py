r"""DCGAN and the conditional DCGAN on 8×8 digits and 28×28 MNIST.

References
----------
* [DCGAN]  Radford, Metz & Chintala, "Unsupervised Representation Learning with Deep
  Convolutional Generative Adversarial Networks", ICLR 2016, Section 3 (the architecture
  guidelines) and Section 4 (N(0, 0.02²) initialisation, :func:`dcgan_init_`;
  Adam with lr 2e-4 and β₁ = 0.5).
* [cGAN]   Mirza & Osindero, "Conditional Generative Adversarial Nets", 2014, Eq. 2:
  :math:`\min_G\max_D \mathbb E_{x,y}[\log D(x|y)] + \mathbb E_{z,y}[\log(1 - D(G(z|y)|y))]`.

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
"""
from __future__ import annotations

from .. import backend as _backend
from .. import nn
from ..autodiff.primitives import concatenate, reshape
from ..data.images import N_CLASSES

__all__ = ["DCGANGenerator", "DCGANDiscriminator", "dcgan_init_"]


def _check_labels(y, B, who, K=N_CLASSES):
    """Labels y as ints of shape (B,) in [0, K) on the active backend; ``who`` names the caller in errors."""
    y = _backend.asarray(_backend.unwrap(y))  # on the active backend, with the weights they index
    if y.dtype.kind not in "iu" or y.shape != (B,):
        raise ValueError(f"{who}: labels must be ints of shape ({B},), received dtype {y.dtype}, shape {tuple(y.shape)}")
    if B and (int(y.min()) < 0 or int(y.max()) >= K):
        raise ValueError(f"{who}: labels must be in [0, {K}), received range [{int(y.min())}, {int(y.max())}]")
    return y


def dcgan_init_(module, generator=None):
    r"""DCGAN initialisation ([DCGAN] Section 4) of every sub-module, in place: the weights of linear,
    convolution and transposed-convolution layers :math:`\sim\mathcal N(0, 0.02^2)`, their biases 0;
    batch norm's :math:`\gamma \sim \mathcal N(1, 0.02^2)`, :math:`\beta = 0`. Other modules are left
    as they are. Returns ``module``."""
    gen = _backend.rng(generator)
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02, gen)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, 0.02, gen)
            nn.init.zeros_(m.bias)
    return module


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
