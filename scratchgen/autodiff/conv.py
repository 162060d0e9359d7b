r"""2-D convolution and transposed convolution by im2col / col2im and one matmul.

Conventions (PyTorch's, so weights and shapes transfer):

* ``x`` is ``(B, C, H, W)``; a convolution weight is ``(O, C, k_h, k_w)``;
  a transposed convolution with weight ``(C_in, C_out, k_h, k_w)`` maps
  ``C_in`` channels to ``C_out`` (it is the adjoint of a convolution whose
  weight, the same array, maps ``C_out`` to ``C_in``).
* Output size of a convolution (stride s, padding p, dilation d, kernel k):
  :math:`H' = \lfloor (H + 2p - d(k-1) - 1)/s \rfloor + 1`;
  of a transposed convolution: :math:`H' = (H-1)s - 2p + d(k-1) + p_{out} + 1`.

Convolution as a matrix product
-------------------------------
.. math::  y_{b,o,i,j} = \sum_{c,u,v} w_{o,c,u,v}\; \tilde x_{b,c,\,is + ud,\,js + vd}

with :math:`\tilde x` the zero-padded input. ``im2col`` lays the patches out
as a matrix :math:`X_{col}` of shape ``(B H' W', k_h k_w C)``, one row per
output pixel, through a strided *view* of :math:`\tilde x` (no Python loop;
one copy when it is reshaped), so that :math:`Y = X_{col} W_{mat}^\top` is one
BLAS call with :math:`W_{mat}` = ``w`` rearranged to ``(O, k_h k_w C)``.

Memory layout: channels last
----------------------------
Every matrix here is ``(pixels, channels)``: :math:`\tilde x` is stored
``(B, H, W, C)``, the rows of :math:`X_{col}` are runs of ``k_w C`` contiguous
numbers, and :math:`Y` comes out ``(B H' W', O)``, which is returned as a
``(B, O, H', W')`` transposed *view* of that memory instead of being copied
into NCHW order. Shapes and values are PyTorch's NCHW; only the strides
differ. NumPy's elementwise ops keep the layout, and the next convolution
reads a channels-last input without a copy. (The earlier layout,
``(C k_h k_w, B H' W')`` columns and NCHW copies, spent more time of the
28×28 DCGAN step in copies and ``col2im``, whose inner loops ran over rows
of only ``W'`` strided numbers, than in its matmuls.)

Three bilinear primitives, each the others' VJPs
------------------------------------------------
``conv2d(x, w)``, ``conv_transpose2d(x, w)`` and ``conv2d_weight(x, g)`` (the
weight gradient :math:`\bar W_{mat} = \bar Y^\top X_{col}`) are bilinear, and their
VJPs are each other:

=====================  =============================  ================================
primitive              :math:`\bar{\text{first}}`      :math:`\bar{\text{second}}`
=====================  =============================  ================================
``conv2d(x, w)``       ``conv_transpose2d(g, w)``     ``conv2d_weight(x, g)``
``conv_transpose2d``   ``conv2d(g, w)``               ``conv2d_weight(g, x)``
``conv2d_weight(x,g)`` ``conv_transpose2d(g, W̄)``    ``conv2d(x, W̄)``
=====================  =============================  ================================

so gradients of any order (WGAN-GP on a convolutional critic) need no more
code. ``col2im`` (the adjoint of ``im2col``) adds the rows back with one
strided slice-add per kernel offset (``k_h k_w`` of them), never per pixel.
"""
from __future__ import annotations

import numbers

from .tape import is_grad_enabled, primitive

__all__ = ["conv2d", "conv_transpose2d", "conv2d_weight", "conv_output_size", "im2col", "col2im"]


def _pair(v, name, who, minimum):
    """``v`` as a pair of Python ints >= ``minimum``; a clear error otherwise."""
    items = (v, v) if isinstance(v, numbers.Integral) and not isinstance(v, bool) else v
    try:
        items = tuple(items)
    except TypeError:
        items = ()
    ok = len(items) == 2 and all(
        isinstance(n, numbers.Integral) and not isinstance(n, bool) and n >= minimum for n in items
    )
    if not ok:
        raise TypeError(
            f"{who}: {name} must be an int >= {minimum} or a pair of them, received {v!r}"
        )
    return int(items[0]), int(items[1])


def conv_output_size(n, k, stride, padding, dilation):
    r""":math:`\lfloor (n + 2p - d(k-1) - 1)/s \rfloor + 1`, the output length of a convolution."""
    return (n + 2 * padding - dilation * (k - 1) - 1) // stride + 1


def _strided(xp):
    return xp.lib.stride_tricks.as_strided


def _nhwc(a):
    """``(B, C, H, W)`` -> ``(B, H, W, C)``: a view, no copy (free when ``a`` is channels-last in memory)."""
    return a.transpose(0, 2, 3, 1)


def _w_mat(w):
    """Weight ``(O, C, k_h, k_w)`` as the matrix :math:`W_{mat}` ``(O, k_h k_w C)``: a small copy."""
    O = w.shape[0]
    return w.transpose(0, 2, 3, 1).reshape(O, -1)


def im2col(xp, x, kh, kw, stride, padding, dilation, out_hw):
    r"""Patches of ``x`` ``(B, C, H, W)`` as rows: ``(B H' W', k_h k_w C)``.

    Row ``(b, i, j)`` holds the receptive field of output pixel ``(i, j)``,
    channels fastest:
    :math:`X_{col}[(b,i,j), (u,v,c)] = \tilde x_{b, c, i s + u d, j s + v d}`.

    The padded copy :math:`\tilde x` is stored channels-last ``(B, H, W, C)``,
    so each row of the strided view is made of runs of ``k_w C`` (dilation 1)
    contiguous numbers and the reshape below copies them fast.
    """
    B, C, H, W = x.shape
    (sh, sw), (ph, pw), (dh, dw), (Ho, Wo) = stride, padding, dilation, out_hw
    if ph or pw:
        xpad = xp.zeros((B, H + 2 * ph, W + 2 * pw, C), dtype=x.dtype)  # \tilde x, (B, H, W, C)
        xpad[:, ph:ph + H, pw:pw + W, :] = _nhwc(x)
    else:
        xpad = _nhwc(x)  # a view; its strides are whatever x's are
    sB, sH, sW, sC = xpad.strides
    # A view, no copy: (B, H', W', k_h, k_w, C)
    patches = _strided(xp)(
        xpad, shape=(B, Ho, Wo, kh, kw, C), strides=(sB, sH * sh, sW * sw, sH * dh, sW * dw, sC)
    )
    return patches.reshape(B * Ho * Wo, kh * kw * C)  # the one copy


def _span(r0, s, n_in, n_out):
    """Input indices ``i`` with ``0 <= r0 + s i < n_out``, as a slice of the input and of the output."""
    lo = max(0, -(r0 // s))  # ceil(-r0 / s)
    hi = min(n_in, (n_out - 1 - r0) // s + 1)
    if hi <= lo:
        return None, None
    start = r0 + s * lo
    return slice(lo, hi), slice(start, start + s * (hi - lo - 1) + 1, s)


def col2im(xp, cols, x_shape, kh, kw, stride, padding, dilation, in_hw):
    r"""Adjoint of :func:`im2col`: add rows ``(B H' W', k_h k_w C)`` back into ``(B, C, H, W)``.

    ``in_hw`` is ``(H', W')``, the grid the rows were taken on. The block of
    kernel offset ``(u, v)`` lands on output rows :math:`i s + u d - p`;
    one strided slice-add per offset (overlapping patches add up), clipped to
    the output, so no padded buffer is needed. The sums run channels-last
    (contiguous runs of ``C`` numbers); the result is returned as a
    ``(B, C, H, W)`` *view* of the ``(B, H, W, C)`` array.
    """
    B, C, H, W = x_shape
    (sh, sw), (ph, pw), (dh, dw), (Hi, Wi) = stride, padding, dilation, in_hw
    cols = cols.reshape(B, Hi, Wi, kh, kw, C)
    out = xp.zeros((B, H, W, C), dtype=cols.dtype)
    for u in range(kh):
        i_in, i_out = _span(u * dh - ph, sh, Hi, H)
        if i_in is None:
            continue
        for v in range(kw):
            j_in, j_out = _span(v * dw - pw, sw, Wi, W)
            if j_in is None:
                continue
            out[:, i_out, j_out, :] += cols[:, i_in, j_in, u, v, :]
    return out.transpose(0, 3, 1, 2)  # (B, C, H, W), channels-last in memory


# ---------------------------------------------------------------------------
# The three primitives (stride, padding, dilation as int pairs, already checked)
#
# Memory layout: the matrices are (pixels, channels), i.e. channels-last, so
# that each matmul reads and writes contiguous rows and a conv's output
# (B H' W', O) is returned as a (B, O, H', W') transposed *view*, without a
# copy. NumPy's elementwise ops keep that layout (order='K'), and the next
# conv reads it back without a copy either.
# ---------------------------------------------------------------------------
_COLS_BLOCK_BYTES = 1 << 20  # im2col rows of at most this many bytes at a time (see _conv2d)
_COLS_BLOCK_MIN_ROWS = 512  # ... but no blocks of fewer output pixels: short products run slowly


@primitive
def _conv2d(xp, x, w, stride, padding, dilation):
    B, C, H, W = x.shape
    O, _, kh, kw = w.shape
    Ho = conv_output_size(H, kh, stride[0], padding[0], dilation[0])
    Wo = conv_output_size(W, kw, stride[1], padding[1], dilation[1])
    w_mat_T = _w_mat(w).T  # (k k C, O)
    # X_col has k_h k_w times as many numbers as x. When nothing is recorded (inference, or a
    # backward pass) on many images, build and multiply it a block of images at a time, so that
    # each block's columns are read back from the cache (the rows of a product do not depend on
    # each other: the same numbers as in one piece). Not while recording, and not in blocks of
    # fewer than 512 output pixels: the DCGAN step ran slower with its wide layers in blocks of a
    # few images (short matrix products).
    per_image = Ho * Wo * kh * kw * C * x.dtype.itemsize
    n = max(1, _COLS_BLOCK_BYTES // per_image)  # images per block
    if n >= B or n * Ho * Wo < _COLS_BLOCK_MIN_ROWS or is_grad_enabled() or xp.__name__ != "numpy":
        cols = im2col(xp, x, kh, kw, stride, padding, dilation, (Ho, Wo))  # (B H' W', k k C)
        y = xp.matmul(cols, w_mat_T)  # (B H' W', O) = X_col W_mat^T: one BLAS call
    else:
        y = xp.empty((B * Ho * Wo, O), dtype=xp.result_type(x, w))
        for b in range(0, B, n):
            cols = im2col(xp, x[b:b + n], kh, kw, stride, padding, dilation, (Ho, Wo))
            xp.matmul(cols, w_mat_T, out=y[b * Ho * Wo:(b + n) * Ho * Wo])
    return y.reshape(B, Ho, Wo, O).transpose(0, 3, 1, 2)  # (B, O, H', W') view


@primitive
def _conv_transpose2d(xp, x, w, stride, padding, dilation, out_hw):
    B, O, Hi, Wi = x.shape
    _, C, kh, kw = w.shape
    x_mat = _nhwc(x).reshape(B * Hi * Wi, O)  # (B H W, O); a copy only if x is not channels-last
    cols = xp.matmul(x_mat, _w_mat(w))  # (B H W, k k C) = X W_mat
    return col2im(xp, cols, (B, C) + tuple(out_hw), kh, kw, stride, padding, dilation, (Hi, Wi))


@primitive
def _conv2d_weight(xp, x, g, stride, padding, dilation, k_hw):
    B, C, H, W = x.shape
    _, O, Ho, Wo = g.shape
    kh, kw = k_hw
    cols = im2col(xp, x, kh, kw, stride, padding, dilation, (Ho, Wo))  # (B H' W', k k C)
    g_mat = _nhwc(g).reshape(B * Ho * Wo, O)  # (B H' W', O)
    # W_bar = Y_bar^T X_col, a reduction over the B H' W' pixels. Either operand order gives
    # the same numbers; OpenBLAS (2 threads) ran it up to 4x faster with the longer of
    # (k k C, O) as the rows of the product, so compute W_bar^T when k k C is the longer.
    if kh * kw * C >= O:
        w_bar = xp.matmul(cols.T, g_mat).T  # (k k C, O), transposed to (O, k k C)
    else:
        w_bar = xp.matmul(g_mat.T, cols)  # (O, k k C)
    return xp.ascontiguousarray(w_bar.reshape(O, kh, kw, C).transpose(0, 3, 1, 2))  # (O, C, k_h, k_w)


_conv2d.defvjp(
    # x_bar = conv_transpose2d(y_bar, w), cropped to x's size
    lambda g, ans, x, w, stride, padding, dilation:
        _conv_transpose2d(g, w, stride, padding, dilation, x.shape[2:]),
    # W_bar = Y_bar^T X_col
    lambda g, ans, x, w, stride, padding, dilation:
        _conv2d_weight(x, g, stride, padding, dilation, w.shape[2:]),
)

_conv_transpose2d.defvjp(
    lambda g, ans, x, w, stride, padding, dilation, out_hw: _conv2d(g, w, stride, padding, dilation),
    lambda g, ans, x, w, stride, padding, dilation, out_hw:
        _conv2d_weight(g, x, stride, padding, dilation, w.shape[2:]),
)

_conv2d_weight.defvjp(
    lambda W_bar, ans, x, g, stride, padding, dilation, k_hw:
        _conv_transpose2d(g, W_bar, stride, padding, dilation, x.shape[2:]),
    lambda W_bar, ans, x, g, stride, padding, dilation, k_hw: _conv2d(x, W_bar, stride, padding, dilation),
)


# ---------------------------------------------------------------------------
# Public functions: check the input, then call a primitive
# ---------------------------------------------------------------------------
def _check_4d(a, name, who):
    shape = getattr(a, "shape", None)
    if shape is None or len(shape) != 4:
        raise ValueError(f"{who}: {name} must be 4-D, expected (B, C, H, W)-like, received shape {shape}")


def conv2d(x, w, stride=1, padding=0, dilation=1, who="conv2d"):
    r"""2-D cross-correlation (what deep learning calls convolution).

    .. math::  y_{b,o,i,j} = \sum_{c,u,v} w_{o,c,u,v}\,\tilde x_{b,c,is+ud,js+vd}

    Parameters
    ----------
    x : Tensor (B, C, H, W)
    w : Tensor (O, C, k_h, k_w)
    stride, padding, dilation : int or (int, int)

    Returns
    -------
    Tensor (B, O, H', W') with :math:`H' = \lfloor (H + 2p - d(k-1) - 1)/s\rfloor + 1`.
    """
    _check_4d(x, "input", who)
    _check_4d(w, "weight", who)
    s = _pair(stride, "stride", who, 1)
    p = _pair(padding, "padding", who, 0)
    d = _pair(dilation, "dilation", who, 1)
    if x.shape[1] != w.shape[1]:
        raise ValueError(
            f"{who}: input has {x.shape[1]} channels but the weight {tuple(w.shape)} expects {w.shape[1]}"
        )
    for n, k, ss, pp, dd, axis in ((x.shape[2], w.shape[2], s[0], p[0], d[0], "height"),
                                  (x.shape[3], w.shape[3], s[1], p[1], d[1], "width")):
        if conv_output_size(n, k, ss, pp, dd) < 1:
            raise ValueError(
                f"{who}: input {axis} {n} with padding {pp} is smaller than the dilated kernel "
                f"{dd * (k - 1) + 1}"
            )
    return _conv2d(x, w, s, p, d)


def conv_transpose2d(x, w, stride=1, padding=0, output_padding=0, dilation=1, who="conv_transpose2d"):
    r"""Transposed convolution: the adjoint (VJP in ``x``) of :func:`conv2d` with the same weight.

    Parameters
    ----------
    x : Tensor (B, C_in, H, W)
    w : Tensor (C_in, C_out, k_h, k_w)
    stride, padding, dilation : int or (int, int)
    output_padding : int or (int, int)
        Extra rows/columns at the bottom/right, ``0 <= output_padding < stride``.

    Returns
    -------
    Tensor (B, C_out, H', W') with :math:`H' = (H-1)s - 2p + d(k-1) + p_{out} + 1`.
    """
    _check_4d(x, "input", who)
    _check_4d(w, "weight", who)
    s = _pair(stride, "stride", who, 1)
    p = _pair(padding, "padding", who, 0)
    d = _pair(dilation, "dilation", who, 1)
    op = _pair(output_padding, "output_padding", who, 0)
    if op[0] >= s[0] or op[1] >= s[1]:
        raise ValueError(f"{who}: output_padding must be smaller than stride {s}, received {op}")
    if x.shape[1] != w.shape[0]:
        raise ValueError(
            f"{who}: input has {x.shape[1]} channels but the weight {tuple(w.shape)} expects {w.shape[0]}"
        )
    out_hw = tuple(
        (n - 1) * ss - 2 * pp + dd * (k - 1) + oo + 1
        for n, k, ss, pp, dd, oo in zip(x.shape[2:], w.shape[2:], s, p, d, op)
    )
    if min(out_hw) < 1:
        raise ValueError(f"{who}: the output would have size {out_hw}; reduce padding {p}")
    return _conv_transpose2d(x, w, s, p, d, out_hw)


def conv2d_weight(x, g, kernel_size, stride=1, padding=0, dilation=1):
    r"""Gradient of ``conv2d(x, w)`` with respect to ``w`` for output cotangent ``g``:
    :math:`\bar W_{mat} = \bar Y^\top X_{col}` rearranged to ``(O, C, k_h, k_w)``."""
    who = "conv2d_weight"
    _check_4d(x, "input", who)
    _check_4d(g, "output gradient", who)
    k = _pair(kernel_size, "kernel_size", who, 1)
    return _conv2d_weight(x, g, _pair(stride, "stride", who, 1), _pair(padding, "padding", who, 0),
                          _pair(dilation, "dilation", who, 1), k)

