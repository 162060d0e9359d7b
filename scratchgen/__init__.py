"""scratchgen: generative models from scratch in NumPy (CuPy on a GPU), verified by their math.

Layers, bottom up: ``backend`` (which array module), ``autodiff`` (Tensor,
primitives and their VJP rules, backward, grad), then the models.
"""
from . import backend
from .autodiff import (  # noqa: F401
    GradientCheckError, Primitive, Tensor, abs, add, astype, backprop, broadcast_to, check_grads,
    clip, concatenate, cos, divide, enable_grad, exp, getitem, grad, hvp, is_grad_enabled,
    leaky_relu, log, log1p, log_sigmoid, log_softmax, logsumexp, matmul, max, maximum, mean, min,
    minimum, multiply, negative, no_grad, pad, permute, power, primitive, relu, reshape, sigmoid,
    sign, sin, softmax, softplus, sqrt, stack, subtract, sum, swapaxes, tanh, tensor, transpose,
    unbroadcast, value_and_grad, vjp, where,
)
from .backend import (  # noqa: F401
    BackendError, default_dtype, get_backend, get_xp, rng, set_backend, set_default_dtype,
    to_numpy, use_backend,
)

__version__ = "0.1.0"
