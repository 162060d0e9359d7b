r"""A normalizing flow: a stack of invertible layers on a standard normal base, with the exact
log-likelihood by the change of variables.

References
----------
* Dinh, Sohl-Dickstein & Bengio (2017), *Real NVP*, Eqs. 2–3: for a bijection :math:`f` with
  :math:`z = f(x)`,

  .. math:: p_X(x) = p_Z(f(x))\,\left|\det\frac{\partial f(x)}{\partial x^\top}\right|,

  and for a composition :math:`f = f_K \circ \dots \circ f_1` the Jacobian is the product of the
  layers' Jacobians (chain rule), so the log-determinants add:

  .. math:: \log p_X(x) = \log p_Z(z) + \sum_{k=1}^K \log\left|\det\frac{\partial h_k}{\partial h_{k-1}}\right|,
            \qquad h_0 = x,\ h_k = f_k(h_{k-1}),\ z = h_K.

  Sampling inverts the stack: :math:`z \sim p_Z`, :math:`x = f_1^{-1}(\dots f_K^{-1}(z))`.
* Kingma & Dhariwal (2018), *Glow*, Sec. 3: one *step of flow* is an invertible 1×1 mixing
  followed by an affine coupling (Glow also puts an actnorm first; not used here).

Conventions
-----------
``Flow.forward`` is the normalizing direction :math:`x \to z` (Dinh et al.'s :math:`f`);
``inverse`` the generative one. Shapes: data (B, D), log-probabilities (B,), in nats.
"""
from __future__ import annotations

from .. import nn
from ..autodiff import Tensor, no_grad
from ..autodiff.tensor import as_float_tensor
from ..backend import get_xp, rng
from .layers import AffineCoupling, LUMixing, standard_normal_log_prob

__all__ = ["Flow", "MIXINGS"]

#: the mixings a step of flow may start with: Glow's LU-parameterised linear map, or none (RealNVP's
#: alternating masks alone)
MIXINGS = ("lu", "none")


class Flow(nn.Module):
    r"""K steps of flow, each an optional :class:`LUMixing` and an :class:`AffineCoupling`; the
    couplings' masks alternate (parity k mod 2), so every coordinate is updated.

    Parameters
    ----------
    D : int
        The data dimension, >= 2.
    n_steps : int
        K, the number of couplings.
    hidden, n_hidden : int
        Width and depth of each coupling's MLP.
    mixing : str
        ``"lu"`` (a learnt invertible linear map before each coupling) or ``"none"`` (the defaults are
        those of :class:`~scratchgen.flows.train.FlowConfig`, measured in docs/results.md).
    generator : seed or Generator, optional
        For the couplings' initialisation.
    """

    def __init__(self, D, n_steps=16, hidden=64, n_hidden=2, mixing="lu", generator=None):
        super().__init__()
        if mixing not in MIXINGS:
            raise ValueError(f"Flow: mixing must be one of {MIXINGS}, got {mixing!r}")
        if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 1:
            raise ValueError(f"Flow: n_steps must be a positive int, got {n_steps!r}")
        self.D, self.mixing = D, mixing
        gen = rng(generator)
        layers = []
        for k in range(n_steps):
            if mixing == "lu":
                layers.append(LUMixing(D))
            layers.append(AffineCoupling(D, k % 2, hidden, n_hidden, generator=gen))
        self.layers = nn.ModuleList(layers)

    def forward(self, x):
        r""":math:`z = f(x)` and :math:`\log|\det \partial z/\partial x|`, the sum of the layers' terms.

        Returns
        -------
        (Tensor (B, D), Tensor (B,))
        """
        h = self._check(x, "x")
        log_det = 0.0
        for layer in self.layers:  # h_k = f_k(h_{k-1}); the log-determinants add (chain rule)
            h, ld = layer(h)
            log_det = log_det + ld
        return h, log_det

    def log_prob(self, x):
        r""":math:`\log p_X(x) = \log \mathcal N(f(x); 0, I) + \log|\det \partial f/\partial x|`, per row (B,)."""
        z, log_det = self(x)
        return standard_normal_log_prob(z) + log_det

    def inverse(self, z):
        r""":math:`x = f_1^{-1}(\dots f_K^{-1}(z))`, a Tensor (B, D)."""
        h = self._check(z, "z")
        for layer in reversed(self.layers):
            h = layer.inverse(h)
        return h

    def sample(self, n, generator=None):
        r"""n draws :math:`x = f^{-1}(z)`, :math:`z \sim \mathcal N(0, I)`: an array (n, D), no gradient."""
        g = rng(generator)
        dtype = self.layers[-1].alpha.data.dtype
        with no_grad():
            return self.inverse(g.standard_normal((n, self.D)).astype(dtype)).data

    def intermediates(self, x):
        """``[x, h_1, ..., h_K = z]``: the data after each layer (arrays, no gradient)."""
        h, out = self._check(x, "x"), []
        with no_grad():
            out.append(h.data)
            for layer in self.layers:
                h = layer(h)[0]
                out.append(h.data)
        return out

    def inverse_intermediates(self, z):
        """``[z, ..., x]``: base samples after each inverse layer, from the last layer back (arrays)."""
        h, out = self._check(z, "z"), []
        with no_grad():
            out.append(h.data)
            for layer in reversed(self.layers):
                h = layer.inverse(h)
                out.append(h.data)
        return out

    def _check(self, x, name):
        x = x if isinstance(x, Tensor) else as_float_tensor(get_xp().asarray(x) if not hasattr(x, "dtype") else x,
                                                            name, "Flow")
        if x.ndim != 2 or x.shape[1] != self.D:
            raise ValueError(f"Flow(D={self.D}): expected {name} of shape (B, {self.D}), received {tuple(x.shape)}")
        return x

    def extra_repr(self):
        return f"D={self.D}, mixing={self.mixing!r}"
