r"""The densities of a VAE, the Gaussian KL in closed form and by sampling, and the two gradient estimators.

References
----------
* Kingma & Welling (2014), *Auto-Encoding Variational Bayes* (written "K&W"): the
  reparameterisation :math:`z = \mu + \sigma \odot \varepsilon` (Sec. 2.4), the closed-form
  :math:`-\mathrm{KL}` of a diagonal Gaussian from :math:`\mathcal N(0, I)` (Appendix B), the
  Gaussian and Bernoulli decoders (Appendix C).
* Williams (1992), REINFORCE: the score-function gradient
  :math:`\nabla_\phi \mathbb E_{q_\phi}[f(z)] = \mathbb E_{q_\phi}[f(z)\,\nabla_\phi \log q_\phi(z)]`.

Conventions: a diagonal Gaussian is given by its mean ``mu`` and its log-variance
``log_var`` :math:`= \log\sigma^2` (K&W's encoder outputs :math:`\log\sigma^2`, so that
:math:`\sigma^2 > 0` needs no constraint). Densities are in nats. ``log_normal`` and
``log_bernoulli`` are elementwise; sum over the last axis for a vector's density. Every function
takes and returns Tensors (arrays are constants), so that a loss built from them trains by
``loss.backward()``.
"""
from __future__ import annotations

import math

from ..autodiff.functional import softplus
from ..autodiff.primitives import exp
from ..autodiff.tensor import Tensor, as_float_tensor, tensor

__all__ = ["LOG_2PI", "log_normal", "log_standard_normal", "log_bernoulli", "kl_standard_normal",
           "kl_standard_normal_mc", "reparameterize", "score_function_surrogate"]

#: :math:`\log 2\pi`
LOG_2PI = math.log(2 * math.pi)


def log_normal(x, mu, log_var):
    r"""Elementwise :math:`\log \mathcal N(x;\ \mu, \sigma^2) = -\tfrac12\big(\log 2\pi + \log\sigma^2 + (x-\mu)^2/\sigma^2\big)`.

    ``x``, ``mu``, ``log_var`` broadcast together; the result has their common shape.
    """
    x, mu, log_var = (as_float_tensor(a, n, "log_normal") for a, n in ((x, "x"), (mu, "mu"), (log_var, "log_var")))
    d = x - mu
    # (x - mu)^2 / sigma^2 = (x - mu)^2 exp(-log sigma^2): one exp, no division
    return -0.5 * (LOG_2PI + log_var + d * d * exp(-log_var))


def log_standard_normal(z):
    r"""Elementwise :math:`\log \mathcal N(z;\ 0, 1) = -\tfrac12(\log 2\pi + z^2)`: the prior :math:`p(z)`."""
    z = as_float_tensor(z, "z", "log_standard_normal")
    return -0.5 * (LOG_2PI + z * z)


def log_bernoulli(x, logits):
    r"""Elementwise :math:`\log \mathrm{Bernoulli}(x;\ \sigma(\ell)) = x\log\sigma(\ell) + (1-x)\log(1-\sigma(\ell)) = x\ell - \operatorname{softplus}(\ell)`.

    ``x`` in {0, 1} (a value in between gives the cross-entropy, which is not a log-probability);
    ``logits`` :math:`\ell`. The right-hand form never takes the log of a rounded probability:
    it is finite for logits of magnitude 1e4, where :math:`\log\sigma(\ell)` would be ``-inf``.
    """
    x, logits = as_float_tensor(x, "x", "log_bernoulli"), as_float_tensor(logits, "logits", "log_bernoulli")
    return x * logits - softplus(logits)


def kl_standard_normal(mu, log_var):
    r"""Elementwise :math:`\mathrm{KL}\big(\mathcal N(\mu, \sigma^2)\,\Vert\,\mathcal N(0, 1)\big) = \tfrac12\big(\mu^2 + \sigma^2 - 1 - \log\sigma^2\big)`.

    K&W, Appendix B (they write its negative, summed over the latent dimensions). Derivation,
    in docs/autoencoders-vae.md: with :math:`z = \mu + \sigma\varepsilon`,
    :math:`\mathbb E_q[\log q(z)] = -\tfrac12(\log 2\pi + \log\sigma^2 + 1)` and
    :math:`\mathbb E_q[\log p(z)] = -\tfrac12(\log 2\pi + \mu^2 + \sigma^2)`; subtract.
    One value per latent dimension; sum over the last axis for the KL of a diagonal Gaussian.
    """
    mu, log_var = as_float_tensor(mu, "mu", "kl_standard_normal"), as_float_tensor(log_var, "log_var", "kl_standard_normal")
    ### BEGIN SOLUTION
    return 0.5 * (mu * mu + exp(log_var) - 1.0 - log_var)
    ### END SOLUTION


def kl_standard_normal_mc(z, mu, log_var):
    r"""The one-sample Monte Carlo estimate :math:`\log q(z) - \log p(z)`, :math:`z \sim q = \mathcal N(\mu, \sigma^2)`, elementwise.

    Its expectation over :math:`z` is :func:`kl_standard_normal`. ``z`` (S, ..., L) may hold S
    draws for the same ``mu``, ``log_var`` (..., L); the estimate is the mean over the draws.
    """
    z = as_float_tensor(z, "z", "kl_standard_normal_mc")
    return log_normal(z, mu, log_var) - log_standard_normal(z)


def _broadcast(a, b):
    """Whether shapes ``a`` and ``b`` broadcast together (each trailing pair equal, or one of them 1)."""
    return all(p == q or 1 in (p, q) for p, q in zip(a[::-1], b[::-1]))


def reparameterize(mu, log_var, eps):
    r""":math:`z = \mu + \sigma \odot \varepsilon`, :math:`\sigma = \exp(\tfrac12\log\sigma^2)`, :math:`\varepsilon \sim \mathcal N(0, I)` (K&W Sec. 2.4).

    The noise ``eps`` is drawn outside, so :math:`z` is a differentiable function of
    :math:`(\mu, \log\sigma^2)`: the gradient of :math:`\mathbb E_\varepsilon[f(z)]` is
    :math:`\mathbb E_\varepsilon[\nabla f(\mu + \sigma\varepsilon)]`, the *reparameterised* (pathwise)
    gradient. ``eps`` (S, ..., L) gives S draws for each row of ``mu`` (..., L).
    """
    mu, log_var = as_float_tensor(mu, "mu", "reparameterize"), as_float_tensor(log_var, "log_var", "reparameterize")
    if not isinstance(eps, Tensor):
        eps = tensor(eps, dtype=mu.dtype)
    if not _broadcast(tuple(eps.shape), tuple(mu.shape)):
        raise ValueError(f"reparameterize: eps must have shape (S, ...) + mu.shape = (S, ...) + {tuple(mu.shape)}, "
                         f"received {tuple(eps.shape)}")
    return mu + exp(0.5 * log_var) * eps


def score_function_surrogate(f_values, log_q):
    r"""A scalar whose gradient is the score-function (REINFORCE) estimate of :math:`\nabla_\phi \mathbb E_{q_\phi}[f(z)]`.

    .. math:: \nabla_\phi \mathbb E_{q_\phi}[f(z)] = \int f(z)\,\nabla_\phi q_\phi(z)\,dz
              = \mathbb E_{q_\phi}\big[f(z)\,\nabla_\phi \log q_\phi(z)\big],

    using :math:`\nabla q = q\,\nabla\log q`. The surrogate is the mean over draws of
    :math:`\bar f(z)\log q_\phi(z)`, with :math:`f` held constant (:math:`\bar f`, no gradient) and
    :math:`z` drawn *without* a path to :math:`\phi` (``z`` detached): the only gradient is through
    :math:`\log q_\phi`. ``f_values`` and ``log_q`` have one value per draw (S,).
    """
    f = f_values.detach() if isinstance(f_values, Tensor) else tensor(f_values)
    log_q = as_float_tensor(log_q, "log_q", "score_function_surrogate")
    if tuple(f.shape) != tuple(log_q.shape):
        raise ValueError(f"score_function_surrogate: f_values and log_q must have one value per draw, received "
                         f"shapes {tuple(f.shape)} and {tuple(log_q.shape)}")
    return (f * log_q).mean()
