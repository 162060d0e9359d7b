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
as a matrix :math:`X_{col}` of shape ``(C k_h k_w, B H' W')`` through a strided
*view* of :math:`\tilde x` (no Python loop; one copy when it is reshaped), so
that :math:`Y = W_{mat} X_{col}` is one BLAS call with
:math:`W_{mat}` = ``w.reshape(O, C k_h k_w)``.

Three bilinear primitives, each the others' VJPs
------------------------------------------------
``conv2d(x, w)``, ``conv_transpose2d(x, w)`` and ``conv2d_weight(x, g)`` (the
weight gradient :math:`\bar w = \bar Y X_{col}^\top`) are bilinear, and their
VJPs are each other:

=====================  =============================  ================================
primitive              :math:`\bar{\text{first}}`      :math:`\bar{\text{second}}`
=====================  =============================  ================================
``conv2d(x, w)``       ``conv_transpose2d(g, w)``     ``conv2d_weight(x, g)``
``conv_transpose2d``   ``conv2d(g, w)``               ``conv2d_weight(g, x)``
``conv2d_weight(x,g)`` ``conv_transpose2d(g, W̄)``    ``conv2d(x, W̄)``
=====================  =============================  ================================

so gradients of any order (WGAN-GP on a convolutional critic) need no more
code. ``col2im`` (the adjoint of ``im2col``) adds the columns back with one
strided slice-add per kernel offset (``k_h k_w`` of them), never per pixel.
"""
from __future__ import annotations

import numbers

from .tensor import primitive

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


def im2col(xp, x, kh, kw, stride, padding, dilation, out_hw):
    r"""Patches of ``x`` ``(B, C, H, W)`` as columns: ``(C k_h k_w, B H' W')``.

    Column ``(b, i, j)`` holds the receptive field of output pixel ``(i, j)``:
    :math:`X_{col}[(c,u,v), (b,i,j)] = \tilde x_{b, c, i s + u d, j s + v d}`.
    """
    B, C, H, W = x.shape
    (sh, sw), (ph, pw), (dh, dw), (Ho, Wo) = stride, padding, dilation, out_hw
    if ph or pw:
        xpad = xp.zeros((B, C, H + 2 * ph, W + 2 * pw), dtype=x.dtype)  # \tilde x
        xpad[:, :, ph:ph + H, pw:pw + W] = x
    else:
        xpad = x
    sB, sC, sH, sW = xpad.strides
    # A view, no copy: (C, k_h, k_w, B, H', W')
    patches = _strided(xp)(
        xpad, shape=(C, kh, kw, B, Ho, Wo), strides=(sC, sH * dh, sW * dw, sB, sH * sh, sW * sw)
    )
    return patches.reshape(C * kh * kw, B * Ho * Wo)  # the one copy


def col2im(xp, cols, x_shape, kh, kw, stride, padding, dilation, in_hw):
    r"""Adjoint of :func:`im2col`: add columns ``(C k_h k_w, B H' W')`` back into ``(B, C, H, W)``.

    ``in_hw`` is ``(H', W')``, the grid the columns were taken on. One
    strided slice-add per kernel offset ``(u, v)``; overlapping patches add up.
    """
    B, C, H, W = x_shape
    (sh, sw), (ph, pw), (dh, dw), (Hi, Wi) = stride, padding, dilation, in_hw
    Hp = max(H + 2 * ph, dh * (kh - 1) + sh * (Hi - 1) + 1)
    Wp = max(W + 2 * pw, dw * (kw - 1) + sw * (Wi - 1) + 1)
    cols = cols.reshape(C, kh, kw, B, Hi, Wi)
    out = xp.zeros((C, B, Hp, Wp), dtype=cols.dtype)  # channel-first, like the columns
    for u in range(kh):
        r0 = u * dh
        for v in range(kw):
            c0 = v * dw
            out[:, :, r0:r0 + sh * (Hi - 1) + 1:sh, c0:c0 + sw * (Wi - 1) + 1:sw] += cols[:, u, v]
    out = out[:, :, ph:ph + H, pw:pw + W]
    return xp.ascontiguousarray(out.transpose(1, 0, 2, 3))  # (B, C, H, W)


# ---------------------------------------------------------------------------
# The three primitives (stride, padding, dilation as int pairs, already checked)
# ---------------------------------------------------------------------------
@primitive
def _conv2d(xp, x, w, stride, padding, dilation):
    B, C, H, W = x.shape
    O, _, kh, kw = w.shape
    Ho = conv_output_size(H, kh, stride[0], padding[0], dilation[0])
    Wo = conv_output_size(W, kw, stride[1], padding[1], dilation[1])
    cols = im2col(xp, x, kh, kw, stride, padding, dilation, (Ho, Wo))  # (C k k, B H' W')
    y = xp.matmul(w.reshape(O, C * kh * kw), cols)  # (O, B H' W'): one BLAS call
    return xp.ascontiguousarray(y.reshape(O, B, Ho, Wo).transpose(1, 0, 2, 3))  # (B, O, H', W')


@primitive
def _conv_transpose2d(xp, x, w, stride, padding, dilation, out_hw):
    B, O, Hi, Wi = x.shape
    _, C, kh, kw = w.shape
    x_mat = xp.ascontiguousarray(x.transpose(1, 0, 2, 3)).reshape(O, B * Hi * Wi)  # (O, B H W)
    cols = xp.matmul(w.reshape(O, C * kh * kw).T, x_mat)  # (C k k, B H W) = W_mat^T X
    return col2im(xp, cols, (B, C) + tuple(out_hw), kh, kw, stride, padding, dilation, (Hi, Wi))


@primitive
def _conv2d_weight(xp, x, g, stride, padding, dilation, k_hw):
    B, C, H, W = x.shape
    _, O, Ho, Wo = g.shape
    kh, kw = k_hw
    cols = im2col(xp, x, kh, kw, stride, padding, dilation, (Ho, Wo))  # (C k k, B H' W')
    g_mat = xp.ascontiguousarray(g.transpose(1, 0, 2, 3)).reshape(O, B * Ho * Wo)  # (O, B H' W')
    return xp.matmul(g_mat, cols.T).reshape(O, C, kh, kw)  # w_bar = Y_bar X_col^T


_conv2d.defvjp(
    # x_bar = conv_transpose2d(y_bar, w), cropped to x's size
    lambda g, ans, x, w, stride, padding, dilation:
        _conv_transpose2d(g, w, stride, padding, dilation, x.shape[2:]),
    # w_bar = Y_bar X_col^T
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
    :math:`\bar w = \bar Y X_{col}^\top`, shape ``(O, C, k_h, k_w)``."""
    who = "conv2d_weight"
    _check_4d(x, "input", who)
    _check_4d(g, "output gradient", who)
    k = _pair(kernel_size, "kernel_size", who, 1)
    return _conv2d_weight(x, g, _pair(stride, "stride", who, 1), _pair(padding, "padding", who, 0),
                          _pair(dilation, "dilation", who, 1), k)

