r"""Layers as modules, named and parameterised as in ``torch.nn``.

Each layer checks its input and names itself, the expected and the received
shape in the error: ``Linear(in_features=2, out_features=256): expected input
of shape (..., 2), received (256, 3)``.

Dtypes are not mixed silently (as in PyTorch): a float input whose dtype differs
from the layer's parameters raises ``TypeError`` naming the layer, both dtypes and
the fix (:func:`match_input_dtype`); an integer input is cast to the parameters'
dtype. Cast a whole model with ``Module.to(dtype)``, ``.double()`` or ``.float()``.

Default initialisation is PyTorch's: weights and biases of ``Linear`` and the
convolutions :math:`\sim\mathcal U(-1/\sqrt{\text{fan}_{in}}, 1/\sqrt{\text{fan}_{in}})`
(``kaiming_uniform_`` with :math:`a=\sqrt5`); use :func:`~scratchgen.gan.dcgan.dcgan_init_`
for DCGAN's :math:`\mathcal N(0, 0.02^2)`.
"""
from __future__ import annotations

import math
import numbers

from ..autodiff.conv import _pair
from ..autodiff.primitives import reshape, tanh
from ..autodiff.tape import is_grad_enabled
from ..backend import default_dtype, get_xp, unwrap
from ..backend import rng as _rng
from ..validate import check_int, check_number
from . import functional as F
from . import init
from .module import Module, Parameter

__all__ = [
    "match_input_dtype",
    "Identity", "Linear", "Conv2d", "ConvTranspose2d", "BatchNorm1d", "BatchNorm2d", "LayerNorm",
    "Embedding", "Dropout", "Flatten", "Unflatten",
    "ReLU", "LeakyReLU", "Tanh", "Sigmoid", "GELU", "SiLU",
]


def _empty(shape, dtype):
    dt = default_dtype() if dtype is None else dtype
    return get_xp().zeros(shape, dtype=dt)


def _module_cast(dtype) -> str:
    """The Module method that casts parameters to ``dtype``: ``.double()``, ``.float()``, ``.to(...)``."""
    return {"float64": ".double()", "float32": ".float()"}.get(str(dtype), f".to('{dtype}')")


def match_input_dtype(layer, x, dtype):
    """``x`` in the parameters' float ``dtype``: an integer input is cast, another float dtype is an error.

    Parameters
    ----------
    layer : Module
        Named in the error (its ``repr``).
    x : Tensor or array
        The input.
    dtype : dtype
        The dtype of the layer's parameters.

    Raises
    ------
    TypeError
        ``x`` has a float (or any non-integer) dtype other than ``dtype``. NumPy would promote
        float32 weights to a float64 input's precision; the layer refuses instead, as PyTorch does.
    """
    if x.dtype == dtype:  # equal but not the same object (callers test identity first)
        return x
    if x.dtype.kind in "iu":
        return x.astype(dtype)
    raise TypeError(
        f"{layer!r}: input is {x.dtype} but the weights are {dtype}; cast the input with "
        f"x.astype('{dtype}') or the module with {_module_cast(x.dtype)}"
    )


def _check_ndim(layer, x, allowed, like):
    if x.ndim not in allowed:
        raise ValueError(f"{layer!r}: expected input of shape {like}, received shape {tuple(x.shape)}")


class Identity(Module):
    """Returns its input."""

    _per_sample = True  # a Sequential may run it in blocks of rows (Module._per_sample)

    def forward(self, x):
        return x


class Linear(Module):
    r"""Affine layer :math:`y = x W^\top + b`.

    Parameters
    ----------
    in_features, out_features : int
    bias : bool
    generator : seed or Generator, optional
        For the default initialisation :math:`\mathcal U(\pm 1/\sqrt{\text{in}})`.

    Shapes: input ``(..., in_features)``, output ``(..., out_features)``;
    ``weight`` ``(out_features, in_features)``, ``bias`` ``(out_features,)``.
    """

    _per_sample = True  # a Sequential may run it in blocks of rows (Module._per_sample)

    def __init__(self, in_features, out_features, bias=True, dtype=None, generator=None):
        super().__init__()
        self.in_features = check_int(in_features, "in_features", "Linear", min=1)
        self.out_features = check_int(out_features, "out_features", "Linear", min=1)
        self.in_features, self.out_features = int(self.in_features), int(self.out_features)
        gen = _rng(generator)
        self.weight = Parameter(_empty((self.out_features, self.in_features), dtype))
        bound = 1.0 / math.sqrt(self.in_features)
        init.uniform_(self.weight, -bound, bound, gen)
        self.bias = None
        if bias:
            self.bias = Parameter(_empty((self.out_features,), dtype))
            init.uniform_(self.bias, -bound, bound, gen)

    def forward(self, x):
        if x.ndim < 1 or x.shape[-1] != self.in_features:
            raise ValueError(
                f"{self!r}: expected input of shape (..., {self.in_features}), received {tuple(x.shape)}"
            )
        W = self.weight
        if x.dtype is not W.data.dtype:  # equal dtypes are one object: an identity test in the hot path
            x = match_input_dtype(self, x, W.data.dtype)
        return F.linear(x, W, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class _ConvNd(Module):
    def _setup(self, in_channels, out_channels, kernel_size, stride, padding, dilation, bias, dtype,
               generator, transposed):
        who = type(self).__name__
        if not (isinstance(in_channels, numbers.Integral) and in_channels > 0):
            raise TypeError(f"{who}: in_channels must be a positive int, received {in_channels!r}")
        if not (isinstance(out_channels, numbers.Integral) and out_channels > 0):
            raise TypeError(f"{who}: out_channels must be a positive int, received {out_channels!r}")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = _pair(kernel_size, "kernel_size", who, 1)
        self.stride = _pair(stride, "stride", who, 1)
        self.padding = _pair(padding, "padding", who, 0)
        self.dilation = _pair(dilation, "dilation", who, 1)
        kh, kw = self.kernel_size
        shape = (in_channels, out_channels, kh, kw) if transposed else (out_channels, in_channels, kh, kw)
        self.weight = Parameter(_empty(shape, dtype))
        # PyTorch's default: kaiming_uniform_(a=sqrt(5)) = U(+-1/sqrt(fan_in)), fan_in = shape[1] k_h k_w
        bound = 1.0 / math.sqrt(shape[1] * kh * kw)
        gen = _rng(generator)
        init.uniform_(self.weight, -bound, bound, gen)
        self.bias = None
        if bias:
            self.bias = Parameter(_empty((out_channels,), dtype))
            init.uniform_(self.bias, -bound, bound, gen)

    def _check_input(self, x):
        """``x`` checked for shape and channels, and in the weights' dtype (see :func:`match_input_dtype`)."""
        if x.ndim != 4:
            raise ValueError(
                f"{self!r}: expected input of shape (B, {self.in_channels}, H, W), received {tuple(x.shape)}"
            )
        if x.shape[1] != self.in_channels:
            raise ValueError(
                f"{self!r}: expected {self.in_channels} input channels, received {x.shape[1]} "
                f"(input shape {tuple(x.shape)})"
            )
        if x.dtype is not self.weight.data.dtype:
            x = match_input_dtype(self, x, self.weight.data.dtype)
        return x

    def _add_bias(self, y):
        if self.bias is None:
            return y
        b = reshape(self.bias, (1, self.out_channels, 1, 1))
        if not is_grad_enabled():  # nothing recorded: the convolution's fresh output takes the bias in place
            y.data += b.data
            return y
        return y + b


class Conv2d(_ConvNd):
    r"""2-D convolution (cross-correlation), ``weight`` ``(out, in, k_h, k_w)``; see
    :func:`scratchgen.autodiff.conv.conv2d` for the im2col + matmul form.

    Input ``(B, in, H, W)``, output ``(B, out, H', W')`` with
    :math:`H' = \lfloor (H + 2p - d(k-1) - 1)/s\rfloor + 1`.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 bias=True, dtype=None, generator=None):
        super().__init__()
        self._setup(in_channels, out_channels, kernel_size, stride, padding, dilation, bias, dtype,
                    generator, transposed=False)

    def forward(self, x):
        x = self._check_input(x)
        y = F.conv2d(x, self.weight, self.stride, self.padding, self.dilation, who=repr(self))
        return self._add_bias(y)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, dilation={self.dilation}")


class ConvTranspose2d(_ConvNd):
    r"""Transposed 2-D convolution, ``weight`` ``(in, out, k_h, k_w)``: the adjoint of a
    ``Conv2d(out, in)`` with the same weight.

    Output size :math:`H' = (H-1)s - 2p + d(k-1) + p_{out} + 1`.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0,
                 bias=True, dilation=1, dtype=None, generator=None):
        super().__init__()
        self._setup(in_channels, out_channels, kernel_size, stride, padding, dilation, bias, dtype,
                    generator, transposed=True)
        self.output_padding = _pair(output_padding, "output_padding", type(self).__name__, 0)
        if self.output_padding[0] >= self.stride[0] or self.output_padding[1] >= self.stride[1]:
            raise ValueError(
                f"ConvTranspose2d: output_padding must be smaller than stride {self.stride}, "
                f"received {self.output_padding}"
            )

    def forward(self, x):
        x = self._check_input(x)
        y = F.conv_transpose2d(x, self.weight, self.stride, self.padding, self.output_padding, self.dilation,
                               who=repr(self))
        return self._add_bias(y)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, output_padding={self.output_padding}")


class _BatchNorm(Module):
    _ndims = ()
    _like = ""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 dtype=None):
        super().__init__()
        who = type(self).__name__
        self.num_features = int(check_int(num_features, "num_features", who, min=1))
        self.eps = float(check_number(eps, "eps", who, min=0, min_open=True))
        self.momentum = float(check_number(momentum, "momentum", who, min=0, max=1))
        self.weight = self.bias = None
        if affine:
            self.weight = Parameter(_empty((self.num_features,), dtype) + 1)  # gamma
            self.bias = Parameter(_empty((self.num_features,), dtype))  # beta
        if track_running_stats:
            self.register_buffer("running_mean", _empty((self.num_features,), dtype))
            self.register_buffer("running_var", _empty((self.num_features,), dtype) + 1)
            self.register_buffer("num_batches_tracked", get_xp().zeros((), dtype="int64"))
        else:
            self.running_mean = self.running_var = None

    def forward(self, x):
        _check_ndim(self, x, self._ndims, self._like.format(C=self.num_features))
        if x.shape[1] != self.num_features:
            raise ValueError(
                f"{self!r}: expected {self.num_features} channels on axis 1, received {x.shape[1]} "
                f"(input shape {tuple(x.shape)})"
            )
        ref = self.weight if self.weight is not None else self.running_mean  # None: nothing to match
        if ref is not None and x.dtype is not ref.dtype:
            x = match_input_dtype(self, x, ref.dtype)
        use_batch = self.training or self.running_mean is None
        if self.training and self.running_mean is not None:
            self.num_batches_tracked += 1
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            training=use_batch, momentum=self.momentum if self.training else 0.0, eps=self.eps)

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


class BatchNorm1d(_BatchNorm):
    r"""Batch norm over ``(B, C)`` or ``(B, C, L)`` inputs (statistics per channel C).

    .. math:: y = \gamma\,\frac{x - \mu_B}{\sqrt{\sigma_B^2 + \epsilon}} + \beta

    Training: batch statistics, running ones updated with ``momentum``; eval: running statistics.
    """

    _ndims = (2, 3)
    _like = "(B, {C}) or (B, {C}, L)"


class BatchNorm2d(_BatchNorm):
    r"""Batch norm over ``(B, C, H, W)`` inputs, statistics per channel over B, H, W."""

    _ndims = (4,)
    _like = "(B, {C}, H, W)"


class LayerNorm(Module):
    r"""Layer norm (Ba et al. 2016) over the trailing ``normalized_shape`` axes, with
    elementwise :math:`\gamma, \beta` of that shape."""

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, dtype=None):
        super().__init__()
        if isinstance(normalized_shape, numbers.Integral):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(int(check_int(n, "normalized_shape", "LayerNorm", min=1))
                                      for n in normalized_shape)
        self.eps = float(eps)
        self.weight = self.bias = None
        if elementwise_affine:
            self.weight = Parameter(_empty(self.normalized_shape, dtype) + 1)
            self.bias = Parameter(_empty(self.normalized_shape, dtype))

    def forward(self, x):
        k = len(self.normalized_shape)
        if x.ndim < k or tuple(x.shape[x.ndim - k:]) != self.normalized_shape:
            raise ValueError(
                f"{self!r}: expected input of shape (..., {', '.join(map(str, self.normalized_shape))}), "
                f"received {tuple(x.shape)}"
            )
        if self.weight is not None and x.dtype is not self.weight.data.dtype:
            x = match_input_dtype(self, x, self.weight.data.dtype)
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}"


class Embedding(Module):
    r"""Lookup table: row :math:`i` of ``weight`` ``(num_embeddings, embedding_dim)`` for index
    :math:`i`; initialised :math:`\mathcal N(0, 1)` as in PyTorch."""

    def __init__(self, num_embeddings, embedding_dim, dtype=None, generator=None):
        super().__init__()
        self.num_embeddings = int(check_int(num_embeddings, "num_embeddings", "Embedding", min=1))
        self.embedding_dim = int(check_int(embedding_dim, "embedding_dim", "Embedding", min=1))
        self.weight = Parameter(_empty((self.num_embeddings, self.embedding_dim), dtype))
        init.normal_(self.weight, 0.0, 1.0, generator)

    def forward(self, idx):
        xp = get_xp(idx)
        idx = unwrap(idx)
        idx = xp.asarray(idx)
        if idx.dtype.kind not in "iu":
            raise TypeError(f"{self!r}: expected integer indices, received dtype {idx.dtype}")
        if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= self.num_embeddings):
            raise IndexError(
                f"{self!r}: indices must be in [0, {self.num_embeddings}), received range "
                f"[{int(idx.min())}, {int(idx.max())}]"
            )
        return self.weight[idx]

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.embedding_dim}"


class Dropout(Module):
    r"""Inverted dropout with probability ``p``; identity in eval mode."""

    def __init__(self, p=0.5, generator=None):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"Dropout: p must be in [0, 1), received {p}")
        self.p = float(p)
        self.generator = _rng(generator)

    def forward(self, x):
        return F.dropout(x, self.p, self.training, self.generator)

    def extra_repr(self):
        return f"p={self.p}"


class Flatten(Module):
    """Merge axes ``start_dim..end_dim`` into one (default: everything but the batch axis)."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        s, e = self.start_dim % x.ndim, self.end_dim % x.ndim
        n = 1
        for d in x.shape[s:e + 1]:
            n *= d
        return reshape(x, tuple(x.shape[:s]) + (n,) + tuple(x.shape[e + 1:]))


class Unflatten(Module):
    """Split axis ``dim`` into ``sizes`` (e.g. ``(B, 6272) -> (B, 128, 7, 7)``)."""

    def __init__(self, dim, sizes):
        super().__init__()
        self.dim, self.sizes = dim, tuple(int(s) for s in sizes)

    def forward(self, x):
        d = self.dim % x.ndim
        n = 1
        for s in self.sizes:
            n *= s
        if x.shape[d] != n:
            raise ValueError(
                f"Unflatten(dim={self.dim}, sizes={self.sizes}): expected axis {d} of size {n}, "
                f"received shape {tuple(x.shape)}"
            )
        return reshape(x, tuple(x.shape[:d]) + self.sizes + tuple(x.shape[d + 1:]))


class ReLU(Module):
    r""":math:`\max(x, 0)`; ``inplace=True`` overwrites the input under ``no_grad`` (as PyTorch's)."""

    _per_sample = True  # a Sequential may run it in blocks of rows (Module._per_sample)

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = bool(inplace)

    def forward(self, x):
        return F.relu(x, self.inplace)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class LeakyReLU(Module):
    r""":math:`\max(x, a x)`, slope ``negative_slope`` (a = 0.2 in DCGAN's discriminator)."""

    _per_sample = True  # a Sequential may run it in blocks of rows (Module._per_sample)

    def __init__(self, negative_slope=0.01, inplace=False):
        super().__init__()
        if not 0 <= negative_slope <= 1:
            raise ValueError(f"LeakyReLU: negative_slope must be in [0, 1], received {negative_slope}")
        self.negative_slope = float(negative_slope)
        self.inplace = bool(inplace)

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope, self.inplace)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class Tanh(Module):
    r""":math:`\tanh(x)`."""

    _per_sample = True  # a Sequential may run it in blocks of rows (Module._per_sample)

    def forward(self, x):
        return tanh(x)


class Sigmoid(Module):
    r""":math:`\sigma(x) = 1/(1+e^{-x})` (see :func:`scratchgen.autodiff.functional.sigmoid` for its range)."""

    _per_sample = True  # a Sequential may run it in blocks of rows (Module._per_sample)

    def forward(self, x):
        return F.sigmoid(x)


class GELU(Module):
    r"""GELU, tanh approximation (see :func:`scratchgen.nn.functional.gelu`)."""

    _per_sample = True  # a Sequential may run it in blocks of rows (Module._per_sample)

    def __init__(self, approximate="tanh"):
        super().__init__()
        if approximate != "tanh":
            raise ValueError(f"GELU: only approximate='tanh' is implemented, received {approximate!r}")
        self.approximate = approximate

    def forward(self, x):
        return F.gelu(x, self.approximate)


class SiLU(Module):
    r""":math:`x\,\sigma(x)`; ``inplace=True`` overwrites the input under ``no_grad`` (as PyTorch's):
    for an input nothing else needs, such as the output of the layer before it."""

    _per_sample = True  # a Sequential may run it in blocks of rows (Module._per_sample)

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = bool(inplace)

    def forward(self, x):
        return F.silu(x, self.inplace)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""
