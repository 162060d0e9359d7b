r"""Progressive growing of GANs (Karras, Aila, Laine & Lehtinen, ICLR 2018), small enough for the digits.

References
----------
* [ProGAN] Karras et al., "Progressive Growing of GANs for Improved Quality, Stability, and Variation",
  ICLR 2018: Section 2 and Figure 2 (growing 4×4 → 8×8 → ... with a fade-in), Section 3 (the minibatch
  standard deviation, :class:`~scratchgen.nn.MinibatchStdDev`), Section 4.1 (equalised learning rate,
  :class:`~scratchgen.nn.EqualizedConv2d`), Section 4.2 (pixel norm, :class:`~scratchgen.nn.PixelNorm`),
  Appendix A (the layers of each block; the WGAN-GP loss with the drift term
  :math:`\epsilon_{drift}\,\mathbb E[D(x)^2]`, :math:`\epsilon_{drift} = 0.001`).

The networks
------------
Stage k works at resolution :math:`4\cdot 2^k`. The generator's block 0 maps z (pixel-normed) to a
(C_0, 4, 4) map by an equalised linear layer and a 3×3 convolution; block k ≥ 1 upsamples 2× (nearest)
and applies two 3×3 convolutions; every convolution is followed by leaky ReLU (0.2) and pixel norm.
``to_rgb[k]`` is a 1×1 convolution to one channel (linear output, gain 1). The critic mirrors it:
``from_rgb[k]`` (1×1 conv + leaky ReLU), block k ≥ 1 = two 3×3 convolutions and 2× average pooling,
block 0 = minibatch std, a 3×3 conv, a 4×4 → 1 dense layer and the score (no normalisation in the
critic: the gradient penalty wants per-sample scores; the minibatch std is the one exception, as
in [ProGAN]).

The fade-in ([ProGAN] Figure 2 (b)): while stage k grows in, with :math:`\alpha` going 0 → 1,

.. math::
   G_k(z) = (1-\alpha)\,\operatorname{up}\!\big(\mathrm{rgb}_{k-1}(h_{k-1})\big) + \alpha\,\mathrm{rgb}_k(h_k),
   \qquad h_k = \mathrm{block}_k(h_{k-1}),

   D_k(x) = D_{\le k-1}\Big((1-\alpha)\,\mathrm{from}_{k-1}(\operatorname{down}(x))
            + \alpha\,\mathrm{block}^D_k(\mathrm{from}_k(x))\Big),

so at :math:`\alpha = 0` the grown generator is the smaller one upsampled and the grown critic the
smaller one on the downsampled image; at :math:`\alpha = 1` the new block alone.
"""
from __future__ import annotations

import math

from .. import backend as _backend
from .. import nn
from ..autodiff.functional import leaky_relu
from ..autodiff.primitives import reshape, tanh
from ..nn.norms import downsample2x, pixel_norm, upsample2x
from ..validate import bad, check_int, check_number

__all__ = ["ProGenerator", "ProDiscriminator", "fade", "check_stage", "resolution"]

SLOPE = 0.2  # leaky ReLU slope throughout ([ProGAN] Appendix A)


def resolution(stage):
    """The side of stage k's images: :math:`4 \\cdot 2^k`."""
    return 4 * 2 ** stage


def check_stage(stage, alpha, n_stages, who):
    """``(stage, alpha)`` checked: stage an int in [0, n_stages - 1], alpha in [0, 1] (1 at stage 0)."""
    check_int(stage, "stage", who, min=0, max=n_stages - 1)
    check_number(alpha, "alpha", who, min=0, max=1)
    return int(stage), float(alpha)


def fade(old, new, alpha):
    r"""The fade-in blend :math:`(1-\alpha)\,\text{old} + \alpha\,\text{new}` ([ProGAN] Figure 2 (b));
    ``old`` itself at :math:`\alpha = 0`, ``new`` itself at :math:`\alpha = 1` (no arithmetic)."""
    if alpha <= 0.0:
        return old
    if alpha >= 1.0:
        return new
    return old * (1.0 - alpha) + new * alpha


def _act(x):
    return leaky_relu(x, SLOPE)


class _GBlock(nn.Module):
    """Upsample 2× (k ≥ 1), then conv3×3 → leaky ReLU → pixel norm, twice."""

    def __init__(self, c_in, c_out, first, gen):
        super().__init__()
        self.first = first
        self.conv1 = nn.EqualizedConv2d(c_in, c_out, 3, padding=1, generator=gen)
        self.conv2 = nn.EqualizedConv2d(c_out, c_out, 3, padding=1, generator=gen)

    def forward(self, h):
        if not self.first:
            h = upsample2x(h)
        h = pixel_norm(_act(self.conv1(h)))
        return pixel_norm(_act(self.conv2(h)))


class ProGenerator(nn.Module):
    r""":math:`G_k(z;\alpha)`: (B, z_dim) → images (B, 1, 4·2^k, 4·2^k), grown stage by stage.

    Parameters
    ----------
    z_dim : int
    channels : tuple of int
        Channels of each stage's block, ``channels[k]`` at resolution 4·2^k (its length is the number of stages).
    tanh : bool
        Squash the (blended) output with tanh, as the DCGAN does, for data in [-1, 1] whose background sits
        exactly at -1; [ProGAN] has a linear output. tanh acts pixel by pixel, so it commutes with the
        nearest upsampling and the fade-in identities hold as they are.
    """

    def __init__(self, z_dim=64, channels=(64, 32), tanh=False, generator=None):
        super().__init__()
        who = "ProGenerator"
        self.z_dim = check_int(z_dim, "z_dim", who, min=1)
        self.channels = _check_channels(channels, who)
        self.tanh = bool(tanh)
        g = _backend.rng(generator)
        C0 = self.channels[0]
        self.dense = nn.EqualizedLinear(self.z_dim, C0 * 16, gain=math.sqrt(2) / 4, generator=g)  # [ProGAN] code
        self.blocks = nn.ModuleList([_GBlock(C0, C0, True, g)] + [
            _GBlock(self.channels[k - 1], self.channels[k], False, g) for k in range(1, len(self.channels))])
        self.to_rgb = nn.ModuleList([nn.EqualizedConv2d(c, 1, 1, gain=1.0, generator=g) for c in self.channels])

    @property
    def n_stages(self):
        return len(self.channels)

    def features(self, z, stage):
        """``[h_0, ..., h_stage]``: each block's output feature map."""
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise bad("ProGenerator", "z", f"have shape (B, {self.z_dim})", tuple(z.shape))
        z = pixel_norm(z)  # [ProGAN] sec. 4.2: the latent vector too
        h = reshape(_act(self.dense(z)), (z.shape[0], self.channels[0], 4, 4))
        hs = [self.blocks[0](pixel_norm(h))]
        for k in range(1, stage + 1):
            hs.append(self.blocks[k](hs[-1]))
        return hs

    def forward(self, z, stage=None, alpha=1.0):
        """Images at stage ``stage`` (default: the last) with the fade-in weight ``alpha``."""
        stage = self.n_stages - 1 if stage is None else stage
        stage, alpha = check_stage(stage, alpha, self.n_stages, "ProGenerator")
        hs = self.features(z, stage)
        new = self.to_rgb[stage](hs[-1]) if alpha > 0 or stage == 0 else None
        if stage == 0 or alpha >= 1.0:
            return self._out(new)
        old = upsample2x(self.to_rgb[stage - 1](hs[-2]))  # the smaller network's output, upsampled
        return self._out(fade(old, new, alpha))

    def _out(self, x):
        return tanh(x) if self.tanh else x


class _DBlock(nn.Module):
    """conv3×3 → leaky ReLU, twice, then 2× average pooling."""

    def __init__(self, c_in, c_out, gen):
        super().__init__()
        self.conv1 = nn.EqualizedConv2d(c_in, c_in, 3, padding=1, generator=gen)
        self.conv2 = nn.EqualizedConv2d(c_in, c_out, 3, padding=1, generator=gen)

    def forward(self, h):
        return downsample2x(_act(self.conv2(_act(self.conv1(h)))))


class ProDiscriminator(nn.Module):
    r""":math:`D_k(x;\alpha)`: images (B, 1, 4·2^k, 4·2^k) → critic scores (B, 1).

    ``channels[k]``: the channels of the critic at resolution 4·2^k (mirroring the generator's).
    ``group_size``: the minibatch-std group ([ProGAN] sec. 3; 4 there).
    """

    def __init__(self, channels=(64, 32), group_size=4, generator=None):
        super().__init__()
        self.channels = _check_channels(channels, "ProDiscriminator")
        g = _backend.rng(generator)
        C0 = self.channels[0]
        self.from_rgb = nn.ModuleList([nn.EqualizedConv2d(1, c, 1, generator=g) for c in self.channels])
        self.blocks = nn.ModuleList([nn.Identity()] + [_DBlock(self.channels[k], self.channels[k - 1], g)
                                                       for k in range(1, len(self.channels))])
        self.mbstd = nn.MinibatchStdDev(group_size)
        self.conv = nn.EqualizedConv2d(C0 + 1, C0, 3, padding=1, generator=g)
        self.dense = nn.EqualizedLinear(C0 * 16, C0, generator=g)
        self.out = nn.EqualizedLinear(C0, 1, gain=1.0, generator=g)

    @property
    def n_stages(self):
        return len(self.channels)

    def head(self, h):
        """Block 0: minibatch std, conv3×3, dense, score. (B, C_0, 4, 4) → (B, 1)."""
        h = _act(self.conv(self.mbstd(h)))
        return self.out(_act(self.dense(reshape(h, (h.shape[0], -1)))))

    def forward(self, x, stage=None, alpha=1.0):
        stage = self.n_stages - 1 if stage is None else stage
        stage, alpha = check_stage(stage, alpha, self.n_stages, "ProDiscriminator")
        s = resolution(stage)
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, s, s):
            raise bad("ProDiscriminator", "x", f"have shape (B, 1, {s}, {s}) at stage {stage}", tuple(x.shape))
        if stage == 0:
            return self.head(_act(self.from_rgb[0](x)))
        new = self.blocks[stage](_act(self.from_rgb[stage](x))) if alpha > 0 else None
        old = _act(self.from_rgb[stage - 1](downsample2x(x))) if alpha < 1 else None
        h = fade(old, new, alpha)
        for k in range(stage - 1, 0, -1):
            h = self.blocks[k](h)
        return self.head(h)


def _check_channels(channels, who):
    if not (isinstance(channels, (tuple, list)) and len(channels) >= 1
            and all(isinstance(c, int) and not isinstance(c, bool) and c >= 1 for c in channels)):
        raise bad(who, "channels", "be a non-empty tuple of positive ints (one per stage: 4x4, 8x8, ...)", channels)
    return tuple(int(c) for c in channels)
