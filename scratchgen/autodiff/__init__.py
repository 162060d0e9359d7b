"""Reverse-mode automatic differentiation over NumPy / CuPy arrays.

``tape.py`` holds the tape and the backward pass, ``primitives.py`` the
operations and their VJP rules, ``functional.py`` composites without rules
of their own (and the activations), ``tensor.py`` the ``Tensor`` class with
its operators, each a call of a primitive, ``conv.py`` the convolutions,
``api.py`` the functional interface, ``gradcheck.py`` the checker against
central differences. Imports point one way:
``tape <- primitives <- functional <- tensor <- api, gradcheck``.
"""
from .api import grad, hvp, value_and_grad, vjp
from .conv import conv2d, conv_transpose2d
from .functional import (
    leaky_relu,
    log_sigmoid,
    log_softmax,
    logsumexp,
    relu,
    sigmoid,
    softmax,
    softplus,
)
from .gradcheck import GradientCheckError, check_grads
from .primitives import (
    abs,
    add,
    astype,
    broadcast_to,
    clip,
    concatenate,
    cos,
    divide,
    exp,
    expm1,
    getitem,
    log,
    log1p,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    multiply,
    negative,
    pad,
    permute,
    power,
    reshape,
    sign,
    sin,
    sqrt,
    stack,
    subtract,
    sum,
    swapaxes,
    tanh,
    transpose,
    where,
)
from .tensor import (
    Primitive,
    Tensor,
    backprop,
    enable_grad,
    is_grad_enabled,
    no_grad,
    primitive,
    tensor,
    unbroadcast,
)
