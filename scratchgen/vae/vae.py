r"""The variational autoencoder: the ELBO (closed-form KL or Monte Carlo), its β / free-bits training loss,
and the importance-weighted bound.

References
----------
* Kingma & Welling (2014), *Auto-Encoding Variational Bayes* ("K&W"): Eq. 2,
  :math:`\log p_\theta(x) = \mathrm{KL}(q_\phi(z|x)\Vert p_\theta(z|x)) + \mathcal L(\theta, \phi; x)`;
  Eq. 3, :math:`\mathcal L = \mathbb E_q[\log p_\theta(x, z) - \log q_\phi(z|x)]`; Eq. 6, its Monte
  Carlo estimate :math:`\tilde{\mathcal L}^A` (every term sampled); Eq. 7,
  :math:`\tilde{\mathcal L}^B = -\mathrm{KL}(q_\phi(z|x)\Vert p(z)) + \frac1S\sum_s \log p_\theta(x|z_s)`,
  the KL in closed form (Eq. 10 for a Gaussian encoder); Sec. 2.4, the reparameterisation.
* Burda, Grosse & Salakhutdinov (2016), *Importance Weighted Autoencoders*, Sec. 3:
  :math:`\mathcal L_k = \mathbb E_{z_1..z_k \sim q}\big[\log \frac1k \sum_i w_i\big]`,
  :math:`w_i = p(x, z_i)/q(z_i|x)`; Theorem 1: :math:`\log p(x) \ge \mathcal L_{k+1} \ge \mathcal L_k`, and
  :math:`\mathcal L_k \to \log p(x)` when the :math:`w_i` are bounded.

Shapes: ``x`` (B, D); noise ``eps`` (S, B, L): S draws of :math:`\varepsilon \sim \mathcal N(0, I)` for each
of the B examples; per-example results (B,). The prior is :math:`p(z) = \mathcal N(0, I)`.
"""
from __future__ import annotations

import math
from typing import NamedTuple

from .. import nn
from ..autodiff.functional import logsumexp
from ..autodiff.tensor import Tensor, no_grad, tensor
from ..backend import get_xp
from .collapse import free_bits_kl
from .distributions import kl_standard_normal, log_normal, log_standard_normal, reparameterize

__all__ = ["VAE", "ELBOTerms", "iwae_bound", "elbo_estimate"]


class ELBOTerms(NamedTuple):
    """The two terms of K&W's Eq. 7, per example."""

    recon: Tensor  # (B,): (1/S) sum_s log p(x | z_s), the reconstruction term
    kl: Tensor  # (B, L): KL(q(z_j | x) || N(0, 1)) per latent dimension, in closed form


class VAE(nn.Module):
    r"""An encoder :math:`q_\phi(z|x)` (:class:`~scratchgen.vae.models.GaussianEncoder`), a decoder
    :math:`p_\theta(x|z)` (any of :data:`~scratchgen.vae.models.DECODERS`) and the prior :math:`\mathcal N(0, I)`."""

    def __init__(self, encoder, decoder):
        super().__init__()
        if encoder.z_dim != decoder.z_dim:
            raise ValueError(f"VAE: the encoder's z_dim ({encoder.z_dim}) and the decoder's ({decoder.z_dim}) differ")
        self.encoder, self.decoder = encoder, decoder
        self.z_dim = encoder.z_dim

    def noise(self, n_samples, batch, generator, dtype=None):
        r""":math:`\varepsilon \sim \mathcal N(0, I)` of shape (S, B, L), drawn from ``generator``."""
        eps = generator.standard_normal((n_samples, batch, self.z_dim))
        return tensor(eps, dtype=dtype or self.encoder.net[0].weight.dtype)  # the model's dtype unless told

    # -- the bound -------------------------------------------------------------------------------
    def log_weights(self, x, eps):
        r""":math:`\log w_s = \log p_\theta(x|z_s) + \log p(z_s) - \log q_\phi(z_s|x)`, :math:`z_s = \mu_\phi(x) + \sigma_\phi(x)\varepsilon_s`: (S, B).

        Each is a one-sample estimate of the ELBO (K&W Eq. 6, every term sampled); their mean is
        :math:`\tilde{\mathcal L}^A`, their log-mean-exp is the IWAE bound. When :math:`q` is the exact
        posterior, :math:`w_s = p(x)` for every :math:`z_s`: the estimate has no variance.
        """
        ### BEGIN SOLUTION
        mu, log_var = self.encoder(x)  # (B, L) each
        z = reparameterize(mu, log_var, eps)  # (S, B, L)
        log_q = log_normal(z, mu, log_var).sum(axis=-1)  # (S, B)
        log_p_z = log_standard_normal(z).sum(axis=-1)  # (S, B)
        return self.decoder.log_prob(x, z) + log_p_z - log_q
        ### END SOLUTION

    def terms(self, x, eps):
        r"""The reconstruction term :math:`\frac1S\sum_s \log p_\theta(x|z_s)` (B,) and the closed-form KL per
        latent dimension (B, L) (K&W Eq. 7 and Appendix B)."""
        mu, log_var = self.encoder(x)
        z = reparameterize(mu, log_var, eps)  # (S, B, L)
        return ELBOTerms(self.decoder.log_prob(x, z).mean(axis=0), kl_standard_normal(mu, log_var))

    def elbo(self, x, eps, kl="analytic"):
        r"""The ELBO :math:`\mathcal L(x)` of each example, estimated with the S draws of ``eps``: (B,).

        ``kl="analytic"``: K&W's :math:`\tilde{\mathcal L}^B` (Eq. 7),
        :math:`\frac1S\sum_s \log p(x|z_s) - \mathrm{KL}(q(z|x)\Vert p(z))` with the KL of
        :func:`~scratchgen.vae.distributions.kl_standard_normal`.
        ``kl="mc"``: :math:`\tilde{\mathcal L}^A` (Eq. 6), :math:`\frac1S\sum_s \log w_s`.
        Both are unbiased; the first usually has the lower variance, the second has none when q is
        the exact posterior.
        """
        if kl == "analytic":
            t = self.terms(x, eps)
            return t.recon - t.kl.sum(axis=-1)
        if kl == "mc":
            return self.log_weights(x, eps).mean(axis=0)
        raise ValueError(f"VAE.elbo: kl must be 'analytic' or 'mc', received {kl!r}")

    def iwae(self, x, eps):
        r"""The importance-weighted bound :math:`\log \frac1k \sum_{i=1}^k w_i` with k = S draws (Burda et al. 2016): (B,).

        By Jensen's inequality it is at least the mean of the :math:`\log w_i`, the ELBO estimate
        from the same draws; k = 1 is the ELBO itself.
        """
        lw = self.log_weights(x, eps)  # (k, B)
        return logsumexp(lw, axis=0) - math.log(lw.shape[0])

    def loss(self, x, eps, beta=1.0, free_bits=0.0):
        r"""The training loss :math:`-\frac1B\sum_b \frac1S\sum_s \log p(x_b|z_{bs}) + \beta\,\sum_j \max(\lambda, \overline{\mathrm{KL}}_j)`.

        :math:`\overline{\mathrm{KL}}_j` is the closed-form KL of latent dimension j averaged over
        the minibatch. :math:`\beta = 1`, :math:`\lambda = 0` is the negative ELBO (K&W); other
        :math:`\beta` is the :math:`\beta`-VAE (and the KL warm-up, with :math:`\beta` rising from 0);
        :math:`\lambda > 0` is free bits (:func:`~scratchgen.vae.collapse.free_bits_kl`). Returns a
        dict: ``loss`` (the scalar to descend), ``recon`` and ``kl`` (the batch means of the two
        ELBO terms, so ``recon - kl`` is the minibatch ELBO whatever β and λ are).
        """
        t = self.terms(x, eps)
        kl_dims = t.kl.mean(axis=0)  # (L,)
        recon = t.recon.mean()
        return {"loss": -recon + beta * free_bits_kl(kl_dims, free_bits), "recon": recon, "kl": kl_dims.sum()}

    # -- using the model -------------------------------------------------------------------------
    def sample(self, n, generator, mean=True):
        r"""n draws :math:`z \sim \mathcal N(0, I)` decoded: the decoder's mean (``mean=True``, what VAE figures
        usually show) or a draw of :math:`x \sim p(x|z)`. An array (n, D)."""
        with no_grad():
            z = self.noise(1, n, generator)[0]
            return self.decoder.mean(z) if mean else self.decoder.sample(z, generator)

    def reconstruct(self, x):
        r"""The decoder's mean at the posterior mean, :math:`\mathbb E[x \mid z = \mu_\phi(x)]`: an array (B, D)."""
        with no_grad():
            mu, _ = self.encoder(x)
            return self.decoder.mean(mu)


def _chunks(total, size):
    for a in range(0, total, size):
        yield min(size, total - a)


def iwae_bound(model, x, k, generator, max_rows=65536):
    r"""The IWAE bound :math:`\mathcal L_k` of each example with k importance samples: an array (B,), no gradient.

    For large k the k·B decoder evaluations are split into chunks of at most ``max_rows`` rows,
    and the chunks' :math:`\log\sum_i w_i` are combined by one more logsumexp, so that
    :math:`\log\frac1k\sum_{i=1}^k w_i = \operatorname{logsumexp}_c\big(\operatorname{logsumexp}_{i \in c}\log w_i\big) - \log k`
    exactly as in one pass.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"iwae_bound: k must be a positive int, received {k!r}")
    with no_grad():
        xt = x if isinstance(x, Tensor) else tensor(x)
        B = xt.shape[0]
        per_chunk = max(1, max_rows // max(1, B))
        parts = []
        for s in _chunks(k, per_chunk):
            lw = model.log_weights(xt, model.noise(s, B, generator, xt.dtype))  # (s, B)
            parts.append(logsumexp(lw, axis=0).data)
        xp = get_xp(parts[0])
        return logsumexp(tensor(xp.stack(parts)), axis=0).data - math.log(k)


def elbo_estimate(model, x, n_samples, generator, kl="analytic"):
    r"""The ELBO of each example averaged over ``n_samples`` draws (:meth:`VAE.elbo`): an array (B,), no gradient."""
    with no_grad():
        xt = x if isinstance(x, Tensor) else tensor(x)
        return model.elbo(xt, model.noise(n_samples, xt.shape[0], generator, xt.dtype), kl=kl).data
