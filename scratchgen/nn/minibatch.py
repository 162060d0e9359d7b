r"""Layers that let a discriminator see a whole minibatch, against mode collapse.

* :class:`MinibatchDiscrimination`: Salimans et al. (2016), "Improved
  Techniques for Training GANs", section 3.2.
* :class:`MinibatchStdDev`: Karras et al. (2018), "Progressive Growing of
  GANs", section 3 (the minibatch standard deviation).
"""
from __future__ import annotations

import math

from ..autodiff.primitives import abs, broadcast_to, concatenate, exp, mean, reshape, sqrt, sum
from ..backend import default_dtype, get_xp
from ..backend import rng as _rng
from . import init
from .layers import match_input_dtype
from .module import Module, Parameter

__all__ = ["MinibatchDiscrimination", "MinibatchStdDev"]


class MinibatchDiscrimination(Module):
    r"""Append, to each sample's features, how close it is to the rest of the batch.

    With features :math:`f(x_i) \in \mathbb R^A` and a trained tensor
    :math:`T \in \mathbb R^{A\times B\times C}` (Salimans et al. 2016, sec. 3.2):

    .. math::
       M_i = f(x_i)\,T \in \mathbb R^{B\times C},\quad
       c_b(x_i, x_j) = \exp\!\big(-\|M_{i,b} - M_{j,b}\|_{L_1}\big),\quad
       o(x_i)_b = \sum_{j=1}^{n} c_b(x_i, x_j)

    and the output is :math:`[f(x_i), o(x_i)] \in \mathbb R^{A+B}`. The sum runs
    over all j including i, as in the paper (the j = i term is the constant 1).

    Shapes: input ``(N, in_features)``, output ``(N, in_features + out_features)``.
    """

    def __init__(self, in_features, out_features, kernel_dims=5, dtype=None, generator=None):
        super().__init__()
        self.in_features, self.out_features, self.kernel_dims = int(in_features), int(out_features), int(kernel_dims)
        dt = default_dtype() if dtype is None else dtype
        self.T = Parameter(get_xp().zeros((self.in_features, self.out_features * self.kernel_dims), dtype=dt))
        init.normal_(self.T, 0.0, 1.0 / math.sqrt(self.in_features), _rng(generator))

    def forward(self, f):
        if f.ndim != 2 or f.shape[1] != self.in_features:
            raise ValueError(f"{self!r}: expected input of shape (N, {self.in_features}), received {tuple(f.shape)}")
        if f.dtype is not self.T.data.dtype:
            f = match_input_dtype(self, f, self.T.data.dtype)
        N = f.shape[0]
        M = reshape(f @ self.T, (N, 1, self.out_features, self.kernel_dims))  # (N, 1, B, C)
        M_t = reshape(M, (1, N, self.out_features, self.kernel_dims))  # (1, N, B, C)
        l1 = sum(abs(M - M_t), axis=3)  # (N, N, B): ||M_i,b - M_j,b||_1
        o = sum(exp(-l1), axis=1)  # (N, B)
        return concatenate([f, o], axis=1)  # (N, A + B)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, kernel_dims={self.kernel_dims}"


class MinibatchStdDev(Module):
    r"""Append one feature map: the average standard deviation over a group of samples.

    Karras et al. (2018), sec. 3: for groups of ``group_size`` samples, compute
    the standard deviation of every feature and location over the group,
    :math:`s = \sqrt{\operatorname{Var}_g[x] + \epsilon}`, average it over features and
    locations, and append that scalar, replicated, as an extra channel.

    Shapes: ``(N, C, H, W) -> (N, C+1, H, W)`` or ``(N, F) -> (N, F+1)``; ``N``
    must be divisible by the group size (``min(group_size, N)``).
    """

    def __init__(self, group_size=4, eps=1e-8):
        super().__init__()
        self.group_size, self.eps = int(group_size), float(eps)

    def forward(self, x):
        if x.ndim not in (2, 4):
            raise ValueError(f"{self!r}: expected input of shape (N, F) or (N, C, H, W), received {tuple(x.shape)}")
        N = x.shape[0]
        G = min(self.group_size, N)
        if N % G:
            raise ValueError(f"{self!r}: batch size {N} is not divisible by the group size {G}")
        Mg = N // G
        rest = tuple(x.shape[1:])
        y = reshape(x, (G, Mg) + rest)  # sample n = g * Mg + m
        y = y - mean(y, axis=0, keepdims=True)
        s = sqrt(mean(y * y, axis=0) + self.eps)  # (Mg, *rest): std over the group
        s = mean(reshape(s, (Mg, -1)), axis=1)  # (Mg,)
        spatial = rest[1:]  # () or (H, W)
        s = reshape(s, (1, Mg, 1) + (1,) * len(spatial))
        s = reshape(broadcast_to(s, (G, Mg, 1) + spatial), (N, 1) + spatial)
        return concatenate([x, s], axis=1)

    def extra_repr(self):
        return f"group_size={self.group_size}"
