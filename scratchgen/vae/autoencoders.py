r"""Autoencoders (lecture 14): the deterministic one, the denoising one, the masked objective, and PCA.

An autoencoder compresses x to a code :math:`h = f_\theta(x)` of k numbers and restores it as
:math:`\hat x = g_{\theta'}(h)`; it is trained to make :math:`\hat x` close to x. The three objectives:

* **plain** (nonlinear PCA): :math:`E = \frac1N\sum_n \lVert x_n - g(f(x_n))\rVert^2`
  (:func:`reconstruction_loss`);
* **denoising** (Vincent et al. 2008, Eq. 2 in the lecture's form): corrupt x to
  :math:`\tilde x \sim q(\tilde x|x)`, here :math:`\tilde x = x + \sigma\varepsilon`, and restore the *clean*
  x: :math:`\mathbb E_{q(x, \tilde x)}\lVert x - g(f(\tilde x))\rVert^2` (:func:`denoising_loss`);
* **masked** (the context encoder's reconstruction loss, Pathak et al. 2016, Eq. 1; He et al.
  2022 for images in patches): hide a random set of entries, :math:`M \in \{0, 1\}^D`, fill them with a
  constant, and score the reconstruction *only where it was hidden*:
  :math:`\lVert M \odot (x - g(f((1 - M)\odot x + M c)))\rVert^2 / \sum M` (:func:`masked_loss`).

**Linear autoencoders are PCA** (Baldi & Hornik 1989): with :math:`f(x) = Ax + a`,
:math:`g(h) = Bh + c` and squared error, every minimum has :math:`BA` the orthogonal projection onto
the span of the top-k principal directions of the data (the top-k eigenvectors of its covariance),
so the columns of :math:`B` span that subspace (though they need not be the eigenvectors).
:func:`principal_angles` measures how far a learned subspace is from it.

Shapes: ``x`` (B, D); codes (B, k). Noise and masks come from a generator passed in.
"""
from __future__ import annotations

from .. import nn
from ..autodiff.tensor import Tensor, as_float_tensor, no_grad, tensor
from ..backend import get_xp
from .models import mlp

__all__ = ["Autoencoder", "reconstruction_loss", "gaussian_corruption", "random_mask", "mask_input",
           "denoising_loss", "masked_loss", "principal_angles", "OBJECTIVES"]

#: the objectives of :func:`Autoencoder.loss`
OBJECTIVES = ("plain", "denoising", "masked")


class Autoencoder(nn.Module):
    r""":math:`\hat x = g(f(x))`: an MLP encoder :math:`f`: D -> k and an MLP decoder :math:`g`: k -> D.

    ``hidden=()`` makes both affine: the linear autoencoder of PCA.
    """

    def __init__(self, x_dim, code_dim, hidden=(256, 256), generator=None):
        super().__init__()
        self.x_dim, self.code_dim = int(x_dim), int(code_dim)
        self.encoder = mlp((self.x_dim, *hidden, self.code_dim), generator)
        self.decoder = mlp((self.code_dim, *tuple(hidden)[::-1], self.x_dim), generator)

    def forward(self, x):
        return self.decoder(self.encoder(x))

    def encode(self, x):
        """The code :math:`f(x)`, an array (B, k)."""
        with no_grad():
            return self.encoder(x if isinstance(x, Tensor) else tensor(x)).data

    def reconstruct(self, x):
        """:math:`g(f(x))`, an array (B, D)."""
        with no_grad():
            return self(x if isinstance(x, Tensor) else tensor(x)).data


def reconstruction_loss(x_hat, x, mask=None):
    r"""The squared error :math:`\frac1B\sum_b \lVert x_b - \hat x_b\rVert^2` (summed over the D entries, averaged over the batch).

    With ``mask`` (B, D) of 0/1: only the masked entries count, and the sum is divided by the number
    of masked entries, :math:`\lVert M\odot(x - \hat x)\rVert^2/\sum M` (then it is per entry, not per example).
    """
    x = as_float_tensor(x, "x", "reconstruction_loss")
    d = x_hat - x
    if mask is None:
        return (d * d).sum(axis=-1).mean()
    m = mask.data if isinstance(mask, Tensor) else mask
    n = float(m.sum())
    if n == 0:
        raise ValueError("reconstruction_loss: the mask hides no entry (every value 0)")
    return (d * d * tensor(m, dtype=d.dtype)).sum() / n


def gaussian_corruption(x, sigma, generator):
    r""":math:`\tilde x = x + \sigma\varepsilon`, :math:`\varepsilon \sim \mathcal N(0, I)`: an array of x's shape."""
    xd = x.data if isinstance(x, Tensor) else x
    if not sigma >= 0:
        raise ValueError(f"gaussian_corruption: sigma must be >= 0, received {sigma!r}")
    return xd + sigma * generator.standard_normal(xd.shape).astype(xd.dtype)


def random_mask(shape, ratio, generator):
    r"""A 0/1 array of ``shape`` (B, D) with exactly :math:`\lfloor \text{ratio}\cdot D + \tfrac12\rfloor` ones per row, at
    positions chosen uniformly (a random permutation per row): 1 = hidden."""
    if not 0 < ratio < 1:
        raise ValueError(f"random_mask: ratio must lie in (0, 1), received {ratio!r}")
    B, D = shape
    n = max(1, min(D - 1, int(ratio * D + 0.5)))
    ranks = generator.random((B, D)).argsort(axis=1).argsort(axis=1)  # a uniform permutation of 0..D-1 per row
    return (ranks < n).astype(generator.standard_normal(1).dtype)


def mask_input(x, mask, fill=0.0):
    r""":math:`(1 - M)\odot x + M c`: the hidden entries replaced by the constant ``fill`` :math:`c`; an array."""
    xd = x.data if isinstance(x, Tensor) else x
    xp = get_xp(xd)
    m = mask.astype(xd.dtype)
    return xd * (1 - m) + xp.asarray(fill, dtype=xd.dtype) * m


def denoising_loss(model, x, sigma, generator):
    r""":math:`\frac1B\sum_b\lVert x_b - g(f(x_b + \sigma\varepsilon_b))\rVert^2`: the clean x restored from a noisy copy."""
    x = as_float_tensor(x, "x", "denoising_loss")
    return reconstruction_loss(model(tensor(gaussian_corruption(x, sigma, generator))), x)


def masked_loss(model, x, ratio, generator, fill=0.0):
    r""":math:`\lVert M\odot(x - g(f((1-M)\odot x + Mc)))\rVert^2/\sum M`: the hidden entries restored from the visible ones."""
    x = as_float_tensor(x, "x", "masked_loss")
    mask = random_mask(tuple(x.shape), ratio, generator)
    return reconstruction_loss(model(tensor(mask_input(x, mask, fill))), x, mask=mask)


def principal_angles(A, B):
    r"""The principal angles (radians, increasing) between the column spaces of ``A`` (d, p) and ``B`` (d, q).

    With orthonormal bases :math:`Q_A`, :math:`Q_B` (QR), the cosines of the angles are the singular
    values of :math:`Q_A^\top Q_B` (Björck & Golub 1973). All near 0 means the same subspace. The
    arccos of a singular value near 1 loses half the digits, so the angles are read from the
    sines instead where they are small: :math:`\sin\theta_i` are the singular values of
    :math:`Q_B - Q_A Q_A^\top Q_B`. Returns min(p, q) angles.
    """
    xp = get_xp(A)
    Qa, _ = xp.linalg.qr(A)
    Qb, _ = xp.linalg.qr(B)
    if Qa.shape[1] < Qb.shape[1]:
        Qa, Qb = Qb, Qa
    cos = xp.clip(xp.linalg.svd(Qa.T @ Qb, compute_uv=False), 0.0, 1.0)  # decreasing: angles increasing
    sin = xp.clip(xp.linalg.svd(Qb - Qa @ (Qa.T @ Qb), compute_uv=False), 0.0, 1.0)[::-1]  # increasing
    return xp.where(cos * cos < 0.5, xp.arccos(cos), xp.arcsin(sin))  # each from the better-conditioned side
