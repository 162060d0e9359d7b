r"""The layers of the newer GAN architectures: per-sample normalisations, styles, equalised learning rate,
and 2x resampling.

* :class:`InstanceNorm2d` (Ulyanov et al. 2016, eq. 2): statistics of each sample and channel over H, W.
* :class:`GroupNorm` (Wu & He 2018, eqs. 1-3): statistics of each sample over groups of C/G channels.
* :func:`adain` / :class:`AdaIN` (Huang & Belongie 2017, eq. 8; Karras et al. 2019, eq. 1): instance
  norm whose scale and shift are a style.
* :class:`PixelNorm` (Karras et al. 2018, sec. 4.2): each pixel's feature vector to unit RMS.
* :class:`EqualizedLinear` / :class:`EqualizedConv2d` (Karras et al. 2018, sec. 4.1): weights
  :math:`\hat w_i = c\,w_i` with :math:`w_i \sim \mathcal N(0, 1)` and He's constant
  :math:`c = \sqrt{2/\text{fan}_{in}}` applied at run time.
* :class:`Upsample2x` (nearest neighbour) and :class:`Downsample2x` (2x2 average pooling).

Every layer is a composite of autodiff primitives (the normalisations share the
``normalize`` primitive of :mod:`scratchgen.nn.functional`, whose backward is itself
differentiable), so second derivatives are exact: they sit inside WGAN-GP critics.
See ``docs/gan-architectures.md``.
"""
from __future__ import annotations

import math

from ..autodiff.primitives import broadcast_to, mean, reshape, sqrt
from ..backend import default_dtype, get_xp
from ..backend import rng as _rng
from ..validate import bad, check_int, check_number
from . import functional as F
from . import init
from .layers import match_input_dtype
from .module import Module, Parameter

__all__ = [
    "instance_norm", "group_norm", "adain", "pixel_norm", "upsample2x", "downsample2x",
    "InstanceNorm2d", "GroupNorm", "AdaIN", "PixelNorm", "EqualizedLinear", "EqualizedConv2d",
    "Upsample2x", "Downsample2x",
]


SQRT2 = math.sqrt(2.0)  # He's gain for ReLU / leaky ReLU layers


def _empty(shape, dtype):
    return get_xp().zeros(shape, dtype=default_dtype() if dtype is None else dtype)


def _check_nchw(who, x, C=None):
    if x.ndim != 4 or (C is not None and x.shape[1] != C):
        like = f"(N, {C}, H, W)" if C is not None else "(N, C, H, W)"
        raise bad(who, "input", f"have shape {like}", tuple(x.shape))


# ---------------------------------------------------------------------------
# Functions
# ---------------------------------------------------------------------------
def instance_norm(x, gamma=None, beta=None, eps=1e-5):
    r"""Instance normalisation (Ulyanov et al. 2016, eq. 2), per sample n and channel c:

    .. math:: \mu_{nc} = \tfrac{1}{HW}\textstyle\sum_{h,w} x_{nchw},\quad
              \sigma^2_{nc} = \tfrac{1}{HW}\textstyle\sum_{h,w} (x_{nchw} - \mu_{nc})^2,\quad
              y_{nchw} = \gamma_c\,\frac{x_{nchw} - \mu_{nc}}{\sqrt{\sigma^2_{nc} + \epsilon}} + \beta_c

    ``x`` (N, C, H, W); ``gamma``, ``beta`` (C,) or broadcastable to (N, C, 1, 1), or None.
    """
    _check_nchw("instance_norm", x)
    N, C = x.shape[:2]
    g = None if gamma is None else (reshape(gamma, (1, C, 1, 1)) if gamma.ndim == 1 else gamma)
    b = None if beta is None else (reshape(beta, (1, C, 1, 1)) if beta.ndim == 1 else beta)
    return F.normalize(x, g, b, (2, 3), eps)


def group_norm(x, num_groups, gamma=None, beta=None, eps=1e-5):
    r"""Group normalisation (Wu & He 2018, eqs. 1-3): channels split into G groups of C/G, statistics of
    each sample and group over its channels and every spatial position,

    .. math:: S_{ng} = \{(c, h, w) : \lfloor c\,G/C \rfloor = g\},\quad
              y_{nchw} = \gamma_c\,\frac{x_{nchw} - \mu_{ng}}{\sqrt{\sigma^2_{ng} + \epsilon}} + \beta_c .

    G = 1 is layer norm over (C, H, W); G = C is instance norm. ``x`` (N, C, *spatial).
    """
    if x.ndim < 2 or x.shape[1] % num_groups:
        raise bad("group_norm", "input", f"have shape (N, C, ...) with C divisible by num_groups={num_groups}",
                  tuple(x.shape))
    N, C = x.shape[:2]
    spatial = tuple(x.shape[2:])
    xg = reshape(x, (N, num_groups, C // num_groups) + spatial)  # (N, G, C/G, *spatial)
    y = reshape(F.normalize(xg, None, None, tuple(range(2, xg.ndim)), eps), tuple(x.shape))
    bshape = (1, C) + (1,) * len(spatial)
    if gamma is not None:
        y = y * reshape(gamma, bshape)
    if beta is not None:
        y = y + reshape(beta, bshape)
    return y


def adain(x, y_s, y_b, eps=1e-5):
    r"""Adaptive instance normalisation (Huang & Belongie 2017, eq. 8; Karras et al. 2019, eq. 1):

    .. math:: \operatorname{AdaIN}(x_i, y) = y_{s,i}\,\frac{x_i - \mu(x_i)}{\sigma(x_i)} + y_{b,i}

    for each feature map :math:`x_i`: after it, channel i of sample n has mean :math:`y_{b,ni}` and
    standard deviation :math:`|y_{s,ni}|\sqrt{\sigma^2/(\sigma^2+\epsilon)}`.

    ``x`` (N, C, H, W); ``y_s``, ``y_b`` (N, C): the style of each sample.
    """
    _check_nchw("adain", x)
    N, C = x.shape[:2]
    for name, v in (("y_s", y_s), ("y_b", y_b)):
        if tuple(v.shape) != (N, C):
            raise bad("adain", name, f"have shape (N, C) = ({N}, {C}) like the input's first two axes",
                      tuple(v.shape))
    return F.normalize(x, reshape(y_s, (N, C, 1, 1)), reshape(y_b, (N, C, 1, 1)), (2, 3), eps)


def pixel_norm(x, eps=1e-8):
    r"""Pixelwise feature vector normalisation (Karras et al. 2018, sec. 4.2), over the channel axis 1:

    .. math:: b_{x,y} = a_{x,y} \Big/ \sqrt{\tfrac1C \textstyle\sum_{j=0}^{C-1} (a^j_{x,y})^2 + \epsilon}
    """
    if x.ndim < 2:
        raise bad("pixel_norm", "input", "have shape (N, C, ...)", tuple(x.shape))
    return x / sqrt(mean(x * x, axis=1, keepdims=True) + eps)


def upsample2x(x):
    r"""Nearest-neighbour 2x upsampling: :math:`y_{n,c,2h+i,2w+j} = x_{nchw}` for :math:`i, j \in \{0, 1\}`.

    ``(N, C, H, W) -> (N, C, 2H, 2W)``; its adjoint sums each 2x2 block of the gradient.
    """
    _check_nchw("upsample2x", x)
    N, C, H, W = x.shape
    y = broadcast_to(reshape(x, (N, C, H, 1, W, 1)), (N, C, H, 2, W, 2))
    return reshape(y, (N, C, 2 * H, 2 * W))


def downsample2x(x):
    r"""2x2 average pooling: :math:`y_{nchw} = \tfrac14 \sum_{i,j\in\{0,1\}} x_{n,c,2h+i,2w+j}`.

    ``(N, C, H, W) -> (N, C, H/2, W/2)``; H and W must be even.
    """
    _check_nchw("downsample2x", x)
    N, C, H, W = x.shape
    if H % 2 or W % 2:
        raise bad("downsample2x", "input", "have even height and width", tuple(x.shape))
    return mean(reshape(x, (N, C, H // 2, 2, W // 2, 2)), axis=(3, 5))


# ---------------------------------------------------------------------------
# Modules
# ---------------------------------------------------------------------------
class InstanceNorm2d(Module):
    r"""Instance norm over ``(N, C, H, W)`` (see :func:`instance_norm`); ``affine=False`` by default
    as in PyTorch, no running statistics (the same computation in training and evaluation)."""

    _per_sample = True  # a Sequential may run it in blocks of rows (Module._per_sample)

    def __init__(self, num_features, eps=1e-5, affine=False, dtype=None):
        super().__init__()
        self.num_features = check_int(num_features, "num_features", "InstanceNorm2d", min=1)
        self.eps = check_number(eps, "eps", "InstanceNorm2d", min=0)
        self.weight = self.bias = None
        if affine:
            self.weight = Parameter(_empty((self.num_features,), dtype) + 1)  # gamma
            self.bias = Parameter(_empty((self.num_features,), dtype))  # beta

    def forward(self, x):
        _check_nchw(repr(self), x, self.num_features)
        if self.weight is not None and x.dtype is not self.weight.data.dtype:
            x = match_input_dtype(self, x, self.weight.data.dtype)
        return instance_norm(x, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, affine={self.weight is not None}"


class GroupNorm(Module):
    r"""Group norm (see :func:`group_norm`) with per-channel :math:`\gamma, \beta` (``affine=True``),
    as ``torch.nn.GroupNorm(num_groups, num_channels)``."""

    _per_sample = True  # a Sequential may run it in blocks of rows (Module._per_sample)

    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, dtype=None):
        super().__init__()
        self.num_groups = check_int(num_groups, "num_groups", "GroupNorm", min=1)
        self.num_channels = check_int(num_channels, "num_channels", "GroupNorm", min=1)
        if num_channels % num_groups:
            raise bad("GroupNorm", "num_channels", f"be divisible by num_groups={num_groups}", num_channels)
        self.eps = check_number(eps, "eps", "GroupNorm", min=0)
        self.weight = self.bias = None
        if affine:
            self.weight = Parameter(_empty((self.num_channels,), dtype) + 1)
            self.bias = Parameter(_empty((self.num_channels,), dtype))

    def forward(self, x):
        if x.ndim < 2 or x.shape[1] != self.num_channels:
            raise bad(repr(self), "input", f"have shape (N, {self.num_channels}, ...)", tuple(x.shape))
        if self.weight is not None and x.dtype is not self.weight.data.dtype:
            x = match_input_dtype(self, x, self.weight.data.dtype)
        return group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.weight is not None}"


class PixelNorm(Module):
    r"""Pixel norm (see :func:`pixel_norm`): no parameters."""

    _per_sample = True  # a Sequential may run it in blocks of rows (Module._per_sample)

    def __init__(self, eps=1e-8):
        super().__init__()
        self.eps = check_number(eps, "eps", "PixelNorm", min=0)

    def forward(self, x):
        return pixel_norm(x, self.eps)


class Upsample2x(Module):
    """Nearest-neighbour 2x upsampling (see :func:`upsample2x`)."""

    _per_sample = True  # a Sequential may run it in blocks of rows (Module._per_sample)

    def forward(self, x):
        return upsample2x(x)


class Downsample2x(Module):
    """2x2 average pooling (see :func:`downsample2x`)."""

    _per_sample = True  # a Sequential may run it in blocks of rows (Module._per_sample)

    def forward(self, x):
        return downsample2x(x)


class EqualizedLinear(Module):
    r"""Linear layer with the equalised learning rate (Karras et al. 2018, sec. 4.1):

    .. math:: y = x\,(c\,W)^\top + \eta\,b,\qquad W_{ij} \sim \mathcal N(0, 1/\eta^2),\qquad
              c = \eta\,\frac{\text{gain}}{\sqrt{\text{fan}_{in}}}

    with He's constant :math:`\text{gain}/\sqrt{\text{fan}_{in}} = \sqrt{2/\text{fan}_{in}}`
    (gain :math:`\sqrt2`) applied at every call, so that Adam's scale-free steps move every
    layer's effective weights :math:`c\,W` at the same relative speed. ``lr_mul`` :math:`\eta`
    (StyleGAN's 0.01 for the mapping network, Karras et al. 2019, app. C) slows a layer down.
    ``bias_init`` is the effective bias at the start (StyleGAN's style scales start at 1).
    """

    _per_sample = True  # a Sequential may run it in blocks of rows (Module._per_sample)

    def __init__(self, in_features, out_features, bias=True, gain=SQRT2, lr_mul=1.0, bias_init=0.0,
                 dtype=None, generator=None):
        super().__init__()
        self.in_features = check_int(in_features, "in_features", "EqualizedLinear", min=1)
        self.out_features = check_int(out_features, "out_features", "EqualizedLinear", min=1)
        self.lr_mul = check_number(lr_mul, "lr_mul", "EqualizedLinear", min=0, min_open=True)
        self.gain = check_number(gain, "gain", "EqualizedLinear", min=0, min_open=True)
        self.scale = self.lr_mul * self.gain / math.sqrt(self.in_features)  # c, He's constant times eta
        self.weight = Parameter(_empty((self.out_features, self.in_features), dtype))
        init.normal_(self.weight, 0.0, 1.0 / self.lr_mul, _rng(generator))
        self.bias = None
        if bias:
            self.bias = Parameter(_empty((self.out_features,), dtype) + float(bias_init) / self.lr_mul)

    def forward(self, x):
        if x.ndim < 1 or x.shape[-1] != self.in_features:
            raise bad(repr(self), "input", f"have shape (..., {self.in_features})", tuple(x.shape))
        if x.dtype is not self.weight.data.dtype:
            x = match_input_dtype(self, x, self.weight.data.dtype)
        b = None if self.bias is None else self.bias * self.lr_mul
        return F.linear(x, self.weight * self.scale, b)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"scale={self.scale:.4g}, lr_mul={self.lr_mul}")


class EqualizedConv2d(Module):
    r"""2-D convolution with the equalised learning rate (Karras et al. 2018, sec. 4.1):
    :math:`y = (c\,W) \star x + b`, :math:`W \sim \mathcal N(0, 1)`, :math:`c = \text{gain}/\sqrt{C_{in} k^2}`
    (He's constant :math:`\sqrt{2/\text{fan}_{in}}` for gain :math:`\sqrt2`), bias initialised to 0.

    Input ``(N, in, H, W)``, output ``(N, out, H', W')``.
    """

    _per_sample = True  # a Sequential may run it in blocks of rows (Module._per_sample)

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True,
                 gain=SQRT2, dtype=None, generator=None):
        super().__init__()
        who = "EqualizedConv2d"
        self.in_channels = check_int(in_channels, "in_channels", who, min=1)
        self.out_channels = check_int(out_channels, "out_channels", who, min=1)
        self.kernel_size = check_int(kernel_size, "kernel_size", who, min=1)
        self.stride = check_int(stride, "stride", who, min=1)
        self.padding = check_int(padding, "padding", who, min=0)
        self.gain = check_number(gain, "gain", who, min=0, min_open=True)
        k = self.kernel_size
        self.scale = self.gain / math.sqrt(self.in_channels * k * k)  # c = sqrt(2 / fan_in)
        self.weight = Parameter(_empty((self.out_channels, self.in_channels, k, k), dtype))
        init.normal_(self.weight, 0.0, 1.0, _rng(generator))
        self.bias = Parameter(_empty((self.out_channels,), dtype)) if bias else None

    def forward(self, x):
        _check_nchw(repr(self), x, self.in_channels)
        if x.dtype is not self.weight.data.dtype:
            x = match_input_dtype(self, x, self.weight.data.dtype)
        y = F.conv2d(x, self.weight * self.scale, self.stride, self.padding, 1, who=repr(self))
        if self.bias is not None:
            y = y + reshape(self.bias, (1, self.out_channels, 1, 1))
        return y

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, scale={self.scale:.4g}")


class AdaIN(Module):
    r"""AdaIN with its learned affine map A (Karras et al. 2019, sec. 2): the style
    :math:`y = (y_s, y_b) = A(w)`, an :class:`EqualizedLinear` from ``w_dim`` to 2C with the
    scales' bias starting at 1, then :func:`adain`. Forward ``(x (N, C, H, W), w (N, w_dim))``."""

    def __init__(self, num_features, w_dim, eps=1e-5, dtype=None, generator=None):
        super().__init__()
        self.num_features = check_int(num_features, "num_features", "AdaIN", min=1)
        self.eps = float(eps)
        gen = _rng(generator)
        self.A = EqualizedLinear(w_dim, 2 * self.num_features, gain=1.0, dtype=dtype, generator=gen)
        self.A.bias.data[: self.num_features] = 1.0  # y_s starts at 1, y_b at 0

    def style(self, w):
        """``(y_s, y_b)``, each (N, C)."""
        y = self.A(w)  # (N, 2C)
        C = self.num_features
        return y[:, :C], y[:, C:]

    def forward(self, x, w):
        _check_nchw(repr(self), x, self.num_features)
        y_s, y_b = self.style(w)
        return adain(x, y_s, y_b, self.eps)

    def extra_repr(self):
        return f"{self.num_features}, w_dim={self.A.in_features}"
