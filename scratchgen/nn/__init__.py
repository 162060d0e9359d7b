r"""Neural-network modules, mirroring ``torch.nn``: ``Module``, ``Parameter``, layers, initialisers.

Everything is built on :mod:`scratchgen.autodiff`; convolutions are im2col +
one matmul (:mod:`scratchgen.autodiff.conv`). See ``docs/layers.md``.
"""
from . import functional, init
from .layers import (
    GELU,
    BatchNorm1d,
    BatchNorm2d,
    Conv2d,
    ConvTranspose2d,
    Dropout,
    Embedding,
    Flatten,
    Identity,
    LayerNorm,
    LeakyReLU,
    Linear,
    ReLU,
    Sigmoid,
    SiLU,
    Tanh,
    Unflatten,
)
from .minibatch import MinibatchDiscrimination, MinibatchStdDev
from .module import Module, ModuleList, Parameter, Sequential, StateDictError
from .norms import (
    AdaIN,
    Downsample2x,
    EqualizedConv2d,
    EqualizedLinear,
    GroupNorm,
    InstanceNorm2d,
    PixelNorm,
    Upsample2x,
)
from .spectral import power_iteration, remove_spectral_norm, spectral_norm
from .weightnorm import remove_weight_norm, weight_norm

__all__ = [
    "functional", "init", "Module", "ModuleList", "Parameter", "Sequential", "StateDictError",
    "Identity", "Linear", "Conv2d", "ConvTranspose2d", "BatchNorm1d", "BatchNorm2d", "LayerNorm",
    "Embedding", "Dropout", "Flatten", "Unflatten", "ReLU", "LeakyReLU", "Tanh", "Sigmoid", "GELU", "SiLU",
    "spectral_norm", "remove_spectral_norm", "power_iteration", "weight_norm", "remove_weight_norm",
    "MinibatchDiscrimination", "MinibatchStdDev",
    "InstanceNorm2d", "GroupNorm", "AdaIN", "PixelNorm", "EqualizedLinear", "EqualizedConv2d",
    "Upsample2x", "Downsample2x",
]
