r"""The latent prior p(z) the generator reads: the standard Gaussian, or the uniform cube of the notes.

* ``"gaussian"``: :math:`z \sim \mathcal N(0, I_d)` (DCGAN's and most later GANs' choice);
* ``"uniform"``: :math:`z \sim U(-1, 1)^d`, as in Goodfellow et al. 2014's experiments and the notes'
  description of a GAN's noise: mean 0, variance 1/3 per coordinate, bounded support.

Both are drawn from the run's host generator (:func:`scratchgen.backend.rng`), so a seed gives the same z on
NumPy and CuPy; the Gaussian draw is the one the trainers always made (``standard_normal``), bit for bit.
"""
from __future__ import annotations

from .. import backend as _backend

__all__ = ["PRIORS", "sample_latent"]

PRIORS = ("gaussian", "uniform")


def sample_latent(g, n, z_dim, prior="gaussian"):
    """(n, z_dim) draws of the prior ``prior`` from the generator ``g``, in the default float dtype."""
    if prior == "gaussian":
        z = g.standard_normal((n, z_dim))
    elif prior == "uniform":
        z = g.uniform(-1.0, 1.0, (n, z_dim))
    else:
        raise ValueError(f"sample_latent: prior must be one of {PRIORS}, got {prior!r}")
    return z.astype(_backend.default_dtype())
