r"""Weight initialisers, each seeded (a seed or a generator), each writing in place.

Fan-in and fan-out of a weight of shape ``(out, in, *kernel)`` are
:math:`\text{fan}_{in} = \text{in}\cdot\prod\text{kernel}` and
:math:`\text{fan}_{out} = \text{out}\cdot\prod\text{kernel}` (PyTorch's convention; for a
transposed convolution's ``(C_in, C_out, k, k)`` weight the names swap, as in PyTorch).

References: Glorot & Bengio (2010); He et al. (2015); Saxe et al. (2014)
(orthogonal); Radford et al. (2016), DCGAN, section 4: "all weights were
initialized from a zero-centered Normal distribution with standard deviation 0.02".
"""
from __future__ import annotations

import math

from ..backend import asarray, get_xp, unwrap
from ..backend import rng as _rng

__all__ = [
    "calculate_fan", "calculate_gain", "normal_", "uniform_", "zeros_", "ones_", "constant_",
    "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_",
]


def calculate_fan(shape):
    """``(fan_in, fan_out)`` of a weight shape ``(out, in, *kernel)``."""
    if len(shape) < 2:
        raise ValueError(f"init: fan-in and fan-out need a weight of at least 2 dimensions, received shape {shape}")
    receptive = 1
    for n in shape[2:]:
        receptive *= n
    return shape[1] * receptive, shape[0] * receptive


def calculate_gain(nonlinearity: str, param=None) -> float:
    r"""Gain :math:`g` that keeps the activations' variance: 1 (linear, sigmoid), 5/3 (tanh),
    :math:`\sqrt2` (relu), :math:`\sqrt{2/(1+a^2)}` (leaky_relu with slope a)."""
    if nonlinearity in ("linear", "sigmoid", "conv2d", "conv_transpose2d"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        a = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + a * a))
    raise ValueError(f"calculate_gain: unknown nonlinearity {nonlinearity!r}")


def normal_(t, mean=0.0, std=1.0, generator=None):
    r""":math:`w \sim \mathcal N(\text{mean}, \text{std}^2)`."""
    a = unwrap(t)
    a[...] = asarray(_rng(generator).standard_normal(a.shape, dtype=a.dtype) * std + mean, xp=get_xp(a))
    return t


def uniform_(t, low=0.0, high=1.0, generator=None):
    r""":math:`w \sim \mathcal U(\text{low}, \text{high})`."""
    a = unwrap(t)
    a[...] = asarray(_rng(generator).random(a.shape, dtype=a.dtype) * (high - low) + low, xp=get_xp(a))
    return t


def constant_(t, value):
    unwrap(t)[...] = value
    return t


def zeros_(t):
    return constant_(t, 0)


def ones_(t):
    return constant_(t, 1)


def xavier_uniform_(t, gain=1.0, generator=None):
    r"""Glorot & Bengio (2010), eq. (16): :math:`\mathcal U(-b, b)`, :math:`b = g\sqrt{6/(\text{fan}_{in}+\text{fan}_{out})}`."""
    fan_in, fan_out = calculate_fan(unwrap(t).shape)
    b = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(t, -b, b, generator)


def xavier_normal_(t, gain=1.0, generator=None):
    r""":math:`\mathcal N(0, \sigma^2)`, :math:`\sigma = g\sqrt{2/(\text{fan}_{in}+\text{fan}_{out})}`."""
    fan_in, fan_out = calculate_fan(unwrap(t).shape)
    return normal_(t, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator)


def _kaiming_std(shape, a, mode, nonlinearity):
    fan_in, fan_out = calculate_fan(shape)
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"kaiming init: mode must be 'fan_in' or 'fan_out', received {mode!r}")
    fan = fan_in if mode == "fan_in" else fan_out
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(t, a=0.0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    r"""He et al. (2015): :math:`\mathcal U(-b, b)`, :math:`b = g\sqrt{3/\text{fan}}`, :math:`g = \sqrt{2/(1+a^2)}`."""
    b = math.sqrt(3.0) * _kaiming_std(unwrap(t).shape, a, mode, nonlinearity)
    return uniform_(t, -b, b, generator)


def kaiming_normal_(t, a=0.0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    r"""He et al. (2015), eq. (10): :math:`\mathcal N(0, g^2/\text{fan})`."""
    return normal_(t, 0.0, _kaiming_std(unwrap(t).shape, a, mode, nonlinearity), generator)


def orthogonal_(t, gain=1.0, generator=None):
    r"""Saxe et al. (2014): the weight, flattened to ``(rows, cols)``, has orthonormal rows or columns
    (:math:`W W^\top = g^2 I` when rows <= cols), from the QR decomposition of a Gaussian matrix with
    the signs of :math:`\operatorname{diag}(R)` fixed so the result is Haar-distributed."""
    a = unwrap(t)
    if a.ndim < 2:
        raise ValueError(f"orthogonal_: needs at least 2 dimensions, received shape {a.shape}")
    xp = get_xp(a)
    rows = a.shape[0]
    cols = a.size // rows
    A = asarray(_rng(generator).standard_normal((max(rows, cols), min(rows, cols))), xp=xp)  # float64 for the QR
    Q, R = xp.linalg.qr(A)
    Q = Q * xp.sign(xp.diagonal(R))  # column signs
    if rows < cols:
        Q = Q.T
    a[...] = (gain * Q).reshape(a.shape).astype(a.dtype)
    return t


