r"""The networks of the autoencoders and the VAE: MLPs, a Gaussian encoder, and three decoders.

References
----------
* Kingma & Welling (2014), *Auto-Encoding Variational Bayes*, Appendix C: the Gaussian MLP
  encoder :math:`q_\phi(z|x) = \mathcal N(z; \mu(x), \operatorname{diag}\sigma^2(x))` with
  outputs :math:`(\mu, \log\sigma^2)`, and the Bernoulli and Gaussian MLP decoders.
* Germain, Gregor, Murray & Larochelle (2015), *MADE*: masks that make an MLP autoregressive,
  Eq. 12 (hidden masks :math:`M_{k,d} = 1[m(k) \ge d]`) and Eq. 13 (output masks
  :math:`M_{d,k} = 1[d > m(k)]`). Used here for a decoder :math:`p(x|z) = \prod_d p(x_d | x_{<d}, z)`
  strong enough to model the data without :math:`z` (the setting of posterior collapse:
  Bowman et al. 2016; Chen et al. 2017).

Shapes: data ``x`` (..., D), codes ``z`` (..., L); any leading axes (a batch, or samples × batch)
pass through. Every decoder has ``log_prob(x, z)`` (a Tensor, summed over the D data dimensions,
shape (...)), and ``mean(z)`` and ``sample(z, generator)`` (arrays (..., D), no gradient).
"""
from __future__ import annotations

from .. import nn
from ..autodiff.functional import sigmoid
from ..autodiff.tensor import Tensor, tensor
from ..backend import get_xp
from ..nn import functional as F
from .distributions import log_bernoulli, log_normal

__all__ = ["mlp", "GaussianEncoder", "GaussianDecoder", "BernoulliDecoder", "MaskedLinear", "made_masks",
           "AutoregressiveGaussianDecoder", "DECODERS"]


def mlp(sizes, generator=None):
    """``sizes[0] -> sizes[1] -> ... -> sizes[-1]``: Linear layers with ReLU between them (none after
    the last). ``sizes`` of length 2 is one affine map: the *linear* models of the PCA and PPCA tests."""
    sizes = tuple(int(s) for s in sizes)
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"mlp: sizes must be at least (in, out), all >= 1, received {sizes}")
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b, generator=generator))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class GaussianEncoder(nn.Module):
    r""":math:`q_\phi(z|x) = \mathcal N\big(z;\ \mu_\phi(x), \operatorname{diag}\sigma^2_\phi(x)\big)`: one MLP
    :math:`x \mapsto (\mu, \log\sigma^2)` (K&W Appendix C.2). ``hidden=()`` is affine in x."""

    def __init__(self, x_dim, z_dim, hidden=(256, 256), generator=None):
        super().__init__()
        self.x_dim, self.z_dim = int(x_dim), int(z_dim)
        self.net = mlp((self.x_dim, *hidden, 2 * self.z_dim), generator)

    def forward(self, x):
        """``(mu, log_var)``, each (..., L)."""
        h = self.net(x)  # (..., 2L)
        return h[..., : self.z_dim], h[..., self.z_dim:]


class GaussianDecoder(nn.Module):
    r""":math:`p_\theta(x|z) = \mathcal N\big(x;\ \mu_\theta(z), \operatorname{diag}\sigma^2\big)`: an MLP for the
    mean; :math:`\log\sigma^2` a learned parameter, one per data dimension (``var="pixel"``) or one
    for all (``var="shared"``, the isotropic noise of probabilistic PCA). Independent of z, so the
    decoder's noise cannot be switched off by the code.
    """

    def __init__(self, z_dim, x_dim, hidden=(256, 256), var="pixel", generator=None, init_log_var=0.0):
        super().__init__()
        if var not in ("pixel", "shared"):
            raise ValueError(f"GaussianDecoder: var must be 'pixel' or 'shared', received {var!r}")
        self.z_dim, self.x_dim, self.var = int(z_dim), int(x_dim), var
        self.net = mlp((self.z_dim, *hidden, self.x_dim), generator)
        self.log_var = nn.Parameter(tensor([float(init_log_var)] * (self.x_dim if var == "pixel" else 1)))

    def forward(self, z):
        return self.net(z)

    def match_marginal(self, mean, var):
        """Start the output at per-dimension moments: the output bias at ``mean`` (D,), log sigma^2 at log ``var``
        (D,) (or the log of its mean, shared), so that before training p(x|z) is about the independent Gaussian
        with these moments."""
        xp = get_xp(self.log_var.data)
        self.net[-1].bias.data[...] = xp.asarray(mean, dtype=self.log_var.dtype)
        log_var = xp.log(xp.asarray(var, dtype=self.log_var.dtype))
        self.log_var.data[...] = log_var if self.var == "pixel" else xp.log(xp.exp(log_var).mean())

    def log_prob(self, x, z):
        r""":math:`\log p_\theta(x|z) = \sum_d \log \mathcal N(x_d;\ \mu_d(z), \sigma_d^2)`, shape (...)."""
        return log_normal(x, self.net(z), self.log_var).sum(axis=-1)

    def mean(self, z):
        r""":math:`\mu_\theta(z)`, an array (..., D)."""
        return self.net(z).data

    def sample(self, z, generator):
        mu = self.net(z).data
        xp = get_xp(mu)
        sigma = xp.exp(0.5 * self.log_var.data)
        return mu + sigma * generator.standard_normal(mu.shape).astype(mu.dtype)


class BernoulliDecoder(nn.Module):
    r""":math:`p_\theta(x|z) = \prod_d \mathrm{Bernoulli}(x_d;\ \sigma(\ell_d(z)))` for binary data: an MLP for
    the logits :math:`\ell` (K&W Appendix C.1)."""

    def __init__(self, z_dim, x_dim, hidden=(256, 256), generator=None):
        super().__init__()
        self.z_dim, self.x_dim = int(z_dim), int(x_dim)
        self.net = mlp((self.z_dim, *hidden, self.x_dim), generator)

    def forward(self, z):
        return self.net(z)

    def match_marginal(self, mean, var=None):
        """Start at the data's per-dimension frequencies ``mean`` (D,): the output bias at their logits."""
        xp = get_xp(self.net[-1].bias.data)
        p = xp.clip(xp.asarray(mean, dtype=self.net[-1].bias.dtype), 1e-3, 1 - 1e-3)
        self.net[-1].bias.data[...] = xp.log(p) - xp.log1p(-p)

    def log_prob(self, x, z):
        r""":math:`\log p_\theta(x|z) = \sum_d \big(x_d\ell_d - \operatorname{softplus}(\ell_d)\big)`, shape (...)."""
        return log_bernoulli(x, self.net(z)).sum(axis=-1)

    def mean(self, z):
        r""":math:`\sigma(\ell(z))`, the probabilities, an array (..., D)."""
        return sigmoid(self.net(z)).data

    def sample(self, z, generator):
        p = self.mean(z)
        return (generator.random(p.shape) < p).astype(p.dtype)


# ---------------------------------------------------------------------------
# An autoregressive decoder (MADE): strong enough to ignore z
# ---------------------------------------------------------------------------
class MaskedLinear(nn.Module):
    r""":math:`y = x (W \odot M)^\top + b`: a Linear layer whose connections are cut where the fixed mask
    :math:`M` (out, in) is 0 (Germain et al. 2015, Eq. 10)."""

    def __init__(self, mask, generator=None):
        super().__init__()
        mask = tensor(mask).data
        self.lin = nn.Linear(mask.shape[1], mask.shape[0], generator=generator)
        self.register_buffer("mask", mask.astype(self.lin.weight.data.dtype))

    def forward(self, x):
        return F.linear(x, self.lin.weight * Tensor(self.mask), self.lin.bias)


def made_masks(D, hidden):
    r"""The masks of a MADE on D inputs with hidden layers of sizes ``hidden``.

    Degrees: input d has :math:`m(d) = d` (1..D); hidden unit k of every layer has
    :math:`m(k) = 1 + (k \bmod (D-1))`, in 1..D−1, every degree used. A hidden unit sees the inputs
    :math:`d \le m(k)` (Eq. 12: :math:`M_{k,d} = 1[m(k) \ge d]`, and between hidden layers
    :math:`1[m(k') \ge m(k)]`); output d sees the hidden units with :math:`m(k) < d` (Eq. 13). So
    output d depends on :math:`x_{<d}` only. Returns the list of masks, (out, in) each, as NumPy
    arrays; D >= 2.
    """
    import numpy  # the masks are fixed integers, built once on the host

    if D < 2 or not hidden:
        raise ValueError(f"made_masks: need D >= 2 and at least one hidden layer, received D={D}, hidden={hidden}")
    degrees = [numpy.arange(1, D + 1)] + [1 + numpy.arange(h) % (D - 1) for h in hidden]
    masks = [(d_out[:, None] >= d_in[None, :]).astype(numpy.float64) for d_in, d_out in zip(degrees[:-1], degrees[1:])]
    masks.append((numpy.arange(1, D + 1)[:, None] > degrees[-1][None, :]).astype(numpy.float64))
    return masks


class AutoregressiveGaussianDecoder(nn.Module):
    r""":math:`p_\theta(x|z) = \prod_{d=1}^D \mathcal N\big(x_d;\ \mu_d(x_{<d}, z), \sigma_d^2(x_{<d}, z)\big)`.

    A MADE over x (:func:`made_masks`) whose first hidden layer also receives :math:`z` through an
    unmasked Linear layer; two masked output heads give :math:`\mu_d` and :math:`\log\sigma_d^2`.
    Pixel d is predicted from the pixels before it, so the decoder can model the data on its own,
    with :math:`z` ignored: the "decoder strong enough to ignore z" of posterior collapse. Evaluating
    :math:`\log p(x|z)` takes one pass; sampling takes D passes.
    """

    def __init__(self, z_dim, x_dim, hidden=(256, 256), generator=None):
        super().__init__()
        self.z_dim, self.x_dim = int(z_dim), int(x_dim)
        masks = made_masks(self.x_dim, hidden)
        self.layers = nn.ModuleList([MaskedLinear(m, generator) for m in masks[:-1]])
        self.from_z = nn.Linear(self.z_dim, hidden[0], generator=generator)
        self.mu_head, self.log_var_head = MaskedLinear(masks[-1], generator), MaskedLinear(masks[-1], generator)

    def match_marginal(self, mean, var):
        """Start at the data's per-dimension moments: the heads' biases at ``mean`` and log ``var`` (D,)."""
        xp = get_xp(self.mu_head.lin.bias.data)
        dtype = self.mu_head.lin.bias.dtype
        self.mu_head.lin.bias.data[...] = xp.asarray(mean, dtype=dtype)
        self.log_var_head.lin.bias.data[...] = xp.log(xp.asarray(var, dtype=dtype))

    def forward(self, x, z):
        """``(mu, log_var)`` (..., D) of :math:`p(x_d | x_{<d}, z)` for every d at once."""
        h = (self.layers[0](x) + self.from_z(z)).relu()
        for layer in list(self.layers)[1:]:
            h = layer(h).relu()
        return self.mu_head(h), self.log_var_head(h)

    def log_prob(self, x, z):
        mu, log_var = self.forward(x, z)
        return log_normal(x, mu, log_var).sum(axis=-1)

    def mean(self, z):
        """Pixel by pixel, each set to its conditional mean given the ones before (a greedy decode)."""
        return self._decode(z, None)

    def sample(self, z, generator):
        return self._decode(z, generator)

    def _decode(self, z, generator):
        zd = z.data if isinstance(z, Tensor) else z
        xp = get_xp(zd)
        x = xp.zeros(zd.shape[:-1] + (self.x_dim,), dtype=zd.dtype)
        for d in range(self.x_dim):  # x_d depends on x_{<d} only, so D passes fill x in order
            mu, log_var = self.forward(tensor(x), tensor(zd))
            x[..., d] = mu.data[..., d]
            if generator is not None:
                x[..., d] += xp.exp(0.5 * log_var.data[..., d]) * generator.standard_normal(x.shape[:-1]).astype(x.dtype)
        return x


#: decoder name -> class (the ``decoder`` option of the VAE trainer)
DECODERS = {"gaussian": GaussianDecoder, "bernoulli": BernoulliDecoder, "autoregressive": AutoregressiveGaussianDecoder}
