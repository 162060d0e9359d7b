r"""pix2pix: a U-Net generator, a PatchGAN discriminator, and the L1 + adversarial objective.

References
----------
* [pix2pix] Isola, Zhu, Zhou & Efros, "Image-to-Image Translation with Conditional Adversarial
  Networks", CVPR 2017. Eq. 1 the conditional GAN loss
  :math:`\mathcal L_{cGAN}(G, D) = \mathbb E_{x,y}[\log D(x, y)] + \mathbb E_{x,z}[\log(1 - D(x, G(x, z)))]`;
  Eq. 3 :math:`\mathcal L_{L1}(G) = \mathbb E_{x,y,z}\lVert y - G(x, z)\rVert_1`; Eq. 4 the objective
  :math:`G^* = \arg\min_G\max_D \mathcal L_{cGAN}(G, D) + \lambda\mathcal L_{L1}(G)`, λ = 100;
  Sec. 2.1 the U-Net's skip connections, Sec. 2.2 the PatchGAN ("penalizes structure at the scale of
  patches"), Sec. 3.1 the noise z as dropout, D's objective divided by 2.
* [U-Net]  Ronneberger, Fischer & Brox, MICCAI 2015: an encoder-decoder whose layer i is concatenated
  to layer n − i.

Conventions: x is the input image, y the target, both (B, C, H, W) in [-1, 1]; D reads the pair
``concatenate([x, y], axis=1)`` and returns a map of patch logits (B, 1, H', W'), each the verdict
on one patch of the pair of size :func:`receptive_field`.

The receptive field (how many input pixels along a side one output sees) of a stack of
convolutions with kernels :math:`k_l` and strides :math:`s_l`, from the input up:

.. math::  r = 1 + \sum_{l=1}^{L} (k_l - 1)\prod_{i<l} s_i,

since layer l adds :math:`k_l - 1` of its input positions, each :math:`\prod_{i<l} s_i` pixels apart.
pix2pix's default discriminator, ``n_layers = 3`` with 4×4 kernels, has the strides 2, 2, 2, 1, 1:
:math:`r = 1 + 3(1 + 2 + 4 + 8 + 8) = 70`, the paper's 70×70 PatchGAN.
"""
from __future__ import annotations

from .. import backend as _backend
from .. import nn
from ..autodiff.primitives import concatenate
from ..autodiff.tensor import as_float_tensor
from ..validate import check_choice, check_int, check_number
from . import losses as L

__all__ = ["NORMS", "norm_layer", "receptive_field", "UNetGenerator", "PatchGANDiscriminator", "l1_loss",
           "pix2pix_d_loss", "pix2pix_g_loss"]

NORMS = ("batch", "instance", "none")


def norm_layer(kind, channels):
    """``BatchNorm2d`` (pix2pix with batches), ``InstanceNorm2d`` (pix2pix at batch size 1, CycleGAN) or none."""
    check_choice(kind, "norm", "norm_layer", NORMS)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    return nn.Identity()


def receptive_field(layers):
    r"""The receptive field :math:`r = 1 + \sum_l (k_l - 1)\prod_{i<l} s_i` of convolutions ``layers``,
    a sequence of ``(kernel, stride)`` from the input up (see the module docstring)."""
    r, jump = 1, 1
    for k, s in layers:
        check_int(k, "kernel", "receptive_field", min=1)
        check_int(s, "stride", "receptive_field", min=1)
        r += (k - 1) * jump  # layer l adds k - 1 of its input positions ...
        jump *= s  # ... which lie prod_{i<=l} s_i input pixels apart for the next layer
    return r


class UNetGenerator(nn.Module):
    r"""The U-Net of [pix2pix] Sec. 2.1 / Appendix 6.1.1: (B, c_in, s, s) → (B, c_out, s, s) in [-1, 1].

    Encoder, ``depth`` levels, each halving the side: level i is Conv(4, stride 2) → norm → LeakyReLU(0.2)
    with :math:`c_i = \min(2^{i-1} w, 8w)` channels (no norm at the first and the innermost level).
    Decoder: ConvTranspose(4, stride 2) → norm → ReLU (→ dropout p in the ``min(3, depth - 1)`` innermost
    levels, the paper's noise z), each reading the previous level concatenated with the encoder's
    output of the same side (the skip connections); the last one → tanh. 8×8 digits with depth 3:
    8 → 4 → 2 → 1 → 2 → 4 → 8.
    """

    def __init__(self, in_channels=1, out_channels=1, width=32, depth=3, norm="batch", dropout=0.0, size=8,
                 generator=None):
        super().__init__()
        who = "UNetGenerator"
        check_int(depth, "depth", who, min=1)
        check_int(width, "width", who, min=1)
        check_number(dropout, "dropout", who, min=0, max=1, max_open=True)
        if size % 2 ** depth:
            raise ValueError(f"{who}: size must be divisible by 2**depth = {2 ** depth} (each level halves it), "
                             f"got size {size} with depth {depth}")
        g = _backend.rng(generator)
        self.in_channels, self.out_channels, self.size = in_channels, out_channels, size
        c = [in_channels] + [min(2 ** i, 8) * width for i in range(depth)]  # c_0 = input, c_1..c_depth
        self.down = nn.ModuleList()
        for i in range(1, depth + 1):
            norm_i = "none" if i in (1, depth) else norm
            self.down.append(nn.Sequential(nn.Conv2d(c[i - 1], c[i], 4, 2, 1, generator=g), norm_layer(norm_i, c[i]),
                                           nn.LeakyReLU(0.2)))
        self.up = nn.ModuleList()
        for i in range(depth, 0, -1):  # decoder level i maps side s/2^i to s/2^(i-1)
            c_in = c[i] if i == depth else 2 * c[i]  # the innermost reads the bottleneck alone, the others + a skip
            if i == 1:
                self.up.append(nn.Sequential(nn.ConvTranspose2d(c_in, out_channels, 4, 2, 1, generator=g), nn.Tanh()))
                continue
            layers = [nn.ConvTranspose2d(c_in, c[i - 1], 4, 2, 1, generator=g), norm_layer(norm, c[i - 1]), nn.ReLU()]
            if dropout and i > depth - 3:
                layers.append(nn.Dropout(dropout, generator=g))
            self.up.append(nn.Sequential(*layers))

    def forward(self, x):
        if x.ndim != 4 or tuple(x.shape[1:]) != (self.in_channels, self.size, self.size):
            raise ValueError(f"UNetGenerator: expected x of shape (B, {self.in_channels}, {self.size}, {self.size}), "
                             f"received {tuple(x.shape)}")
        skips = []
        h = x
        for enc in self.down:  # (B, c_i, s/2^i, s/2^i)
            h = enc(h)
            skips.append(h)
        skips.pop()  # the bottleneck is h itself
        for j, dec in enumerate(self.up):
            if j > 0:
                h = concatenate([h, skips.pop()], axis=1)  # the skip connection: layer i with layer n - i
            h = dec(h)
        return h  # (B, c_out, s, s)


class PatchGANDiscriminator(nn.Module):
    r"""The PatchGAN of [pix2pix] Sec. 2.2 / Appendix 6.1.2: (B, c, H, W) → patch logits (B, 1, H', W').

    ``n_layers`` convolutions of stride 2, then one of stride 1, then a stride-1 convolution to one
    channel; kernels ``kernel``, padding ``(kernel - 1) // 2``; channels :math:`w, 2w, 4w, 8w, 8w, \dots`;
    LeakyReLU(0.2) after each but the last, norm after each but the first and the last. The geometry of
    the convolutions is :meth:`layers`, the side of the patch each logit judges :meth:`receptive_field`
    (70 for pix2pix's ``n_layers=3, kernel=4``). With ``condition``, the input is the pair (x, y).
    """

    def __init__(self, in_channels=2, width=32, n_layers=1, kernel=3, norm="batch", dropout=0.0, generator=None):
        super().__init__()
        who = "PatchGANDiscriminator"
        check_int(n_layers, "n_layers", who, min=0)
        check_int(kernel, "kernel", who, min=1)
        check_number(dropout, "dropout", who, min=0, max=1, max_open=True)
        g = _backend.rng(generator)
        self.in_channels, self.kernel, self.n_layers = in_channels, kernel, n_layers
        pad = (kernel - 1) // 2
        c = [in_channels] + [min(2 ** i, 8) * width for i in range(n_layers + 1)]
        mods = []
        for i, (k, s) in enumerate(self.layers()[:-1]):
            mods += [nn.Conv2d(c[i], c[i + 1], k, s, pad, generator=g)]
            mods += [norm_layer("none" if i == 0 else norm, c[i + 1]), nn.LeakyReLU(0.2)]
            if dropout:  # a remedy for a dominating discriminator (the lecture's)
                mods.append(nn.Dropout(dropout, generator=g))
        mods.append(nn.Conv2d(c[-1], 1, kernel, 1, pad, generator=g))  # one logit per patch
        self.net = nn.Sequential(*mods)

    def layers(self):
        """The ``(kernel, stride)`` of each convolution, from the input up."""
        return [(self.kernel, 2)] * self.n_layers + [(self.kernel, 1), (self.kernel, 1)]

    def receptive_field(self):
        """The side of the input patch each output logit sees (:func:`receptive_field` of :meth:`layers`)."""
        return receptive_field(self.layers())

    def forward(self, y, condition=None):
        x = y if condition is None else concatenate([condition, y], axis=1)  # the pair (x, y) of Eq. 1
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"PatchGANDiscriminator: expected {self.in_channels} input channels (image "
                             f"{'and condition ' if condition is not None else ''}together), received shape "
                             f"{tuple(x.shape)}")
        return self.net(x)  # (B, 1, H', W')


def l1_loss(fake, target):
    r""":math:`\mathcal L_{L1} = \mathbb E\lVert y - G(x)\rVert_1`, the mean absolute difference over every
    element ([pix2pix] Eq. 3, per pixel)."""
    fake = as_float_tensor(fake, "fake", "l1_loss")
    target = as_float_tensor(target, "target", "l1_loss")
    if tuple(fake.shape) != tuple(target.shape):
        raise ValueError(f"l1_loss: fake and target must have one shape, received {tuple(fake.shape)} and "
                         f"{tuple(target.shape)}")
    return abs(fake - target).mean()


def pix2pix_d_loss(real_logits, fake_logits):
    r"""D's loss, :math:`-\tfrac12\mathcal L_{cGAN}` ([pix2pix] Eq. 1, halved as in Sec. 3.1), averaged over
    every patch: :math:`\tfrac12(\mathbb E[\operatorname{softplus}(-l(x, y))] + \mathbb E[\operatorname{softplus}(l(x, G(x)))])`."""
    return 0.5 * L.d_loss(real_logits, fake_logits)


def pix2pix_g_loss(fake_logits, fake, target, lam=100.0, lam_gan=1.0):
    r"""G's loss ([pix2pix] Eq. 4 with the non-saturating form of Eq. 1):
    :math:`\lambda_{GAN}\,\mathbb E[-\log D(x, G(x))] + \lambda\,\mathbb E\lVert y - G(x)\rVert_1`, λ = 100
    and :math:`\lambda_{GAN}` = 1 in the paper; :math:`\lambda_{GAN}` = 0 is its "L1 alone" ablation (Table 1),
    where ``fake_logits`` may be None (no discriminator)."""
    check_number(lam, "lam", "pix2pix_g_loss", min=0)
    check_number(lam_gan, "lam_gan", "pix2pix_g_loss", min=0)
    l1 = lam * l1_loss(fake, target)
    if lam_gan == 0:
        return l1
    if fake_logits is None:
        raise ValueError(f"pix2pix_g_loss: fake_logits is needed when lam_gan > 0, received None (lam_gan={lam_gan})")
    return lam_gan * L.g_loss_nonsaturating(fake_logits) + l1
