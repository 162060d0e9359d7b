"""Autoencoders, the VAE, the importance-weighted bound and posterior collapse (derivations: docs/autoencoders-vae.md).

``distributions.py`` (densities, the Gaussian KL, reparameterisation, the score-function
surrogate) <- ``collapse.py`` (KL per dimension, active units, mutual information, warm-up, free
bits) <- ``models.py`` (MLPs, the Gaussian encoder, Gaussian / Bernoulli / autoregressive decoders)
<- ``vae.py`` (the ELBO, IWAE), ``autoencoders.py`` (plain, denoising, masked; principal angles);
``ppca.py`` (probabilistic PCA in closed form) stands alone; ``train.py`` (the trainers) imports them all.
"""
from .autoencoders import (
    OBJECTIVES,
    Autoencoder,
    denoising_loss,
    gaussian_corruption,
    mask_input,
    masked_loss,
    principal_angles,
    random_mask,
    reconstruction_loss,
)
from .collapse import (
    ACTIVE_THRESHOLD,
    active_units,
    free_bits_kl,
    kl_per_dim,
    kl_weight,
    mutual_information,
    unit_activity,
)
from .distributions import (
    kl_standard_normal,
    kl_standard_normal_mc,
    log_bernoulli,
    log_normal,
    log_standard_normal,
    reparameterize,
    score_function_surrogate,
)
from .models import (
    DECODERS,
    AutoregressiveGaussianDecoder,
    BernoulliDecoder,
    GaussianDecoder,
    GaussianEncoder,
    MaskedLinear,
    made_masks,
    mlp,
)
from .ppca import (
    linear_gaussian_elbo,
    ppca_covariance,
    ppca_log_marginal,
    ppca_max_log_likelihood,
    ppca_mle,
    ppca_posterior,
    sample_ppca,
)
from .vae import VAE, ELBOTerms, elbo_estimate, iwae_bound
