r"""The invertible layers of a normalizing flow: affine coupling (RealNVP) and an LU-parameterised
invertible linear map (Glow's invertible 1×1 convolution), each with its log-determinant.

References
----------
* Dinh, Sohl-Dickstein & Bengio (2017), *Density estimation using Real NVP*: the change of
  variables (Eqs. 2–3), the affine coupling layer (Eqs. 4–5), its triangular Jacobian and
  determinant (Eq. 6), its inverse (Eqs. 7–8), the masked form (Eq. 9); :math:`s` bounded by a
  :math:`\tanh` with a learnt scale (their code).
* Kingma & Dhariwal (2018), *Glow*: the invertible 1×1 convolution, Table 1, in its LU form
  (Eq. 10), :math:`W = P L (U + \mathrm{diag}(s))`, :math:`\log|\det W| = \sum_i \log|s_i|`;
  zero-initialised last layer of each coupling network, so that every step starts as the
  identity (Sec. 3.3).

Conventions
-----------
A layer maps data towards the base distribution, the *normalizing* direction of Dinh et al.:
``y, log_det = layer(x)`` with ``x``, ``y`` of shape (B, D) and ``log_det`` of shape (B,), the
:math:`\log|\det \partial y/\partial x|` of each row; ``layer.inverse(y)`` maps back. Inputs are
arrays or Tensors; outputs are Tensors. For a vector (not an image) a "1×1 convolution" is a
D×D matrix applied to each row.
"""
from __future__ import annotations

import functools
import math

from .. import nn
from ..autodiff import Tensor, exp, tanh
from ..autodiff.tensor import as_float_tensor
from ..backend import default_dtype, get_xp

__all__ = ["standard_normal_log_prob", "parity_mask", "AffineCoupling", "LUMixing"]


@functools.lru_cache(maxsize=None)
def _triangles(xp, dtype, D):
    """The constants of :meth:`LUMixing.weight`: I, the strictly lower and the strictly upper ones, (D, D) each."""
    eye = xp.eye(D, dtype=dtype)
    return eye, xp.tril(xp.ones_like(eye), -1), xp.triu(xp.ones_like(eye), 1)


def standard_normal_log_prob(z):
    r""":math:`\log \mathcal N(z; 0, I) = -\tfrac12\lVert z\rVert^2 - \tfrac D2\log 2\pi`, per row.

    Parameters
    ----------
    z : Tensor or array, shape (B, D)

    Returns
    -------
    Tensor, shape (B,)
    """
    z = as_float_tensor(z, "z", "standard_normal_log_prob")
    if z.ndim != 2:
        raise ValueError(f"standard_normal_log_prob: z must have shape (B, D), got {tuple(z.shape)}")
    D = z.shape[1]
    return -0.5 * (z * z).sum(axis=1) - 0.5 * D * math.log(2 * math.pi)


def parity_mask(D, parity, like=None):
    r"""The mask :math:`b_j = 1` if :math:`j + \text{parity}` is even, else 0, for j = 0..D-1.

    RealNVP's masks alternate from layer to layer (their Sec. 3.5: "in a way that the components
    that are left unchanged in one coupling layer are updated in the next"); for a vector the
    alternating pattern is the parity of the index. ``parity_mask(2, 0)`` is (1, 0): x_0 is kept and
    conditions the update of x_1.

    Returns
    -------
    array, shape (D,), in ``like``'s dtype and backend (default: the default float dtype, the active backend)
    """
    if isinstance(D, bool) or not isinstance(D, int) or D < 2:
        raise ValueError(f"parity_mask: D must be an int >= 2 (a coupling needs a part to condition on), got {D!r}")
    xp = get_xp(like) if like is not None else get_xp()
    dtype = like.dtype if like is not None else default_dtype()
    return ((xp.arange(D) + parity) % 2 == 0).astype(dtype)



def _rows(x, name, D, who):
    """``x`` as a float Tensor of shape (B, D), or a ValueError naming ``who``, ``name`` and the shape received."""
    x = x if isinstance(x, Tensor) else as_float_tensor(x, name, who)
    if x.ndim != 2 or x.shape[1] != D:
        raise ValueError(f"{who}: expected {name} of shape (B, {D}), received {tuple(x.shape)}")
    return x

class AffineCoupling(nn.Module):
    r"""RealNVP's affine coupling layer in its masked form (Dinh et al. 2017, Eq. 9):

    .. math:: y = b \odot x + (1 - b) \odot \big(x \odot \exp(s(b \odot x)) + t(b \odot x)\big),

    with the mask :math:`b \in \{0, 1\}^D` (:func:`parity_mask`). The kept part :math:`b\odot x`
    passes unchanged and conditions a scale and a translation of the rest. The Jacobian is
    triangular in a suitable order of the coordinates, with diagonal 1 on the kept part and
    :math:`\exp(s_j)` on the rest (Eq. 6), so

    .. math:: \log\left|\det\frac{\partial y}{\partial x}\right| = \sum_j (1 - b_j)\, s_j(b \odot x).

    The inverse needs no inverse of :math:`s` or :math:`t` (Eq. 8): :math:`b\odot y = b\odot x`, so

    .. math:: x = b \odot y + (1 - b) \odot \big(y - t(b \odot y)\big) \odot \exp(-s(b \odot y)).

    :math:`s` and :math:`t` come from one MLP :math:`h(b \odot x) = (\hat s, t)` with ReLU hidden
    layers; :math:`s = \alpha \odot \tanh(\hat s)` with a learnt scale :math:`\alpha` (RealNVP's code
    bounds s this way, so that one layer cannot blow a scale up). The last linear layer starts at
    zero (Glow, Sec. 3.3): the layer starts as the identity.

    Parameters
    ----------
    D : int
        The dimension, >= 2.
    parity : int
        0 or 1: which coordinates are kept (:func:`parity_mask`).
    hidden : int
        Width of the hidden layers of the MLP.
    n_hidden : int
        Number of hidden layers (>= 1).
    generator : seed or Generator, optional
        For the hidden layers' initialisation.
    """

    def __init__(self, D, parity, hidden=64, n_hidden=2, generator=None):
        super().__init__()
        if n_hidden < 1 or hidden < 1:
            raise ValueError(f"AffineCoupling: hidden and n_hidden must be >= 1, got hidden={hidden}, n_hidden={n_hidden}")
        self.D, self.parity = D, parity
        self.register_buffer("b", parity_mask(D, parity))  # (D,), 1 = kept
        sizes = [D] + [hidden] * n_hidden
        layers = []
        for i in range(n_hidden):
            layers += [nn.Linear(sizes[i], sizes[i + 1], generator=generator), nn.ReLU()]
        out = nn.Linear(hidden, 2 * D, generator=generator)
        nn.init.zeros_(out.weight)
        nn.init.zeros_(out.bias)
        self.net = nn.Sequential(*layers, out)  # b x -> (s_hat, t), (B, 2D)
        self.alpha = nn.Parameter(get_xp().ones(D, dtype=out.weight.data.dtype))  # the scale of tanh, (D,)

    def _s_t(self, x_kept):
        """(s, t) for the kept part b ⊙ x, (B, D) each, zero on the kept coordinates."""
        h = self.net(x_kept)  # (B, 2D)
        one_minus_b = 1 - self.b
        s_hat, t = h[:, :self.D], h[:, self.D:]
        s = one_minus_b * (self.alpha * tanh(s_hat))  # s = alpha ⊙ tanh(s_hat), only where b = 0
        return s, one_minus_b * t

    def forward(self, x):
        x = self._check(x, "x")
        ### BEGIN SOLUTION
        s, t = self._s_t(self.b * x)  # zero where b = 1
        # y = b ⊙ x + (1 - b) ⊙ (x ⊙ exp(s) + t), which is x ⊙ exp(s) + t since s = t = 0 where b = 1
        y = x * exp(s) + t
        return y, s.sum(axis=1)  # log|det dy/dx| = sum_j (1 - b_j) s_j
        ### END SOLUTION

    def inverse(self, y):
        y = self._check(y, "y")
        s, t = self._s_t(self.b * y)  # b ⊙ y = b ⊙ x, so these are the s and t of the forward pass
        # x = b ⊙ y + (1 - b) ⊙ (y - t) ⊙ exp(-s), which is (y - t) ⊙ exp(-s) since s = t = 0 where b = 1
        return (y - t) * exp(-s)

    def _check(self, x, name):
        return _rows(x, name, self.D, f"AffineCoupling(D={self.D}, parity={self.parity})")

    def extra_repr(self):
        return f"D={self.D}, parity={self.parity}"


class LUMixing(nn.Module):
    r"""An invertible linear map :math:`y = W x` of each row, parameterised as in Glow (Eq. 10):

    .. math:: W = P\,L\,(U + \mathrm{diag}(\sigma \odot e^{\lambda})),\qquad
              \log\left|\det\frac{\partial y}{\partial x}\right| = \log|\det W| = \sum_i \lambda_i,

    with :math:`P` a fixed permutation, :math:`L` lower triangular with ones on the diagonal,
    :math:`U` strictly upper triangular, :math:`\sigma_i = \pm 1` fixed signs and
    :math:`\lambda = \log|s|` learnt. :math:`\det P = \pm 1`, :math:`\det L = 1` and the determinant
    of a triangular matrix is the product of its diagonal, so the log-determinant costs O(D)
    instead of the O(D³) of a general :math:`\log|\det W|`.

    Glow initialises :math:`W` as a random rotation and reads :math:`P, L, U, s` off its LU
    decomposition. Here :math:`P = I` (so it is left out of the code), :math:`L = I`, :math:`U = 0`,
    :math:`\lambda = 0` and :math:`\sigma = 1`: the map starts as the identity, like the couplings.
    What it can learn is every :math:`W` with non-zero leading principal minors (those with an LU
    decomposition without pivoting) and the determinant's sign fixed by :math:`\sigma`, as in Glow.

    Parameters
    ----------
    D : int
        The dimension.
    """

    def __init__(self, D):
        super().__init__()
        if isinstance(D, bool) or not isinstance(D, int) or D < 1:
            raise ValueError(f"LUMixing: D must be a positive int, got {D!r}")
        xp, dtype = get_xp(), default_dtype()
        self.D = D
        self.L = nn.Parameter(xp.zeros((D, D), dtype=dtype))  # only the strictly lower part is used
        self.U = nn.Parameter(xp.zeros((D, D), dtype=dtype))  # only the strictly upper part is used
        self.log_s = nn.Parameter(xp.zeros(D, dtype=dtype))  # lambda_i = log|s_i|
        self.register_buffer("sign_s", xp.ones(D, dtype=dtype))  # sigma_i, fixed

    def weight(self):
        r""":math:`W = L (U + \mathrm{diag}(\sigma \odot e^\lambda))` (P = I), a (D, D) Tensor."""
        eye, lower, upper = _triangles(get_xp(self.L.data), self.L.data.dtype, self.D)
        L = self.L * lower + eye  # ones on the diagonal, the learnt entries below it
        U = self.U * upper + eye * (self.sign_s * exp(self.log_s))  # eye * v[None, :] = diag(v)
        return L @ U

    def forward(self, x):
        x = self._check(x, "x")
        y = x @ self.weight().T  # (B, D): y_b = W x_b for each row
        return y, self.log_s.sum().broadcast_to((x.shape[0],))  # sum_i lambda_i, the same for every row

    def inverse(self, y):
        """:math:`x = W^{-1} y` per row, by a linear solve in float64 (a constant: no gradient flows back)."""
        y = self._check(y, "y")
        xp = get_xp(y.data)
        W = self.weight().data
        # x_b = W^{-1} y_b for each row: solve W X^T = Y^T (float64 for accuracy)
        x = xp.linalg.solve(W.astype(xp.float64), y.data.T.astype(xp.float64)).T
        return Tensor(x.astype(y.data.dtype))

    def _check(self, x, name):
        return _rows(x, name, self.D, f"LUMixing(D={self.D})")

    def extra_repr(self):
        return f"D={self.D}"
