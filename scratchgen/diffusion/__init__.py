r"""Denoising diffusion (DDPM, Ho et al. 2020), written from its equations.

Modules
-------
schedules   :class:`Schedule` (every coefficient indexed by t = 0..T), ``linear_schedule``,
            ``cosine_schedule`` (Nichol & Dhariwal 2021), ``make_schedule``.
ddpm        the forward process (Eqs. 2, 4), the posterior (Eqs. 6-7), the ε-parameterisation
            (Eq. 11), ``normal_kl``, the decoders, ``loss_simple`` (Eq. 14), the bound (Eq. 5),
            timestep sampling (uniform or low-discrepancy, VDM).
samplers    ancestral sampling (Algorithm 2) and DDIM (Song et al. 2021).
models      the denoisers ε_θ(x_t, t): ``MLPDenoiser`` (2-D data), ``ConvDenoiser`` (8×8 images),
            and their sinusoidal ``timestep_embedding``.
score       score matching: the score-ε identity, denoising/explicit score matching (Vincent 2011),
            Tweedie's formula, Langevin and annealed Langevin dynamics (Song & Ermon 2019).

Convention: t runs 1..T as in Ho et al.; see docs/diffusion.md for the math and the tests
that check each equation.
"""
from .ddpm import (  # noqa: F401
    SIGMA2_CHOICES,
    approx_standard_normal_cdf,
    discretized_gaussian_log_likelihood,
    gaussian_log_likelihood,
    loss_simple,
    normal_kl,
    p_mean_from_eps,
    p_variance,
    predict_eps_from_x0,
    predict_x0_from_eps,
    prior_kl,
    q_marginal,
    q_posterior,
    q_sample,
    q_step,
    q_step_sample,
    sample_timesteps,
    vlb,
    vlb_term,
    vlb_weight,
)
from .models import ConvDenoiser, MLPDenoiser, timestep_embedding  # noqa: F401
from .samplers import (  # noqa: F401
    ancestral_sample,
    ddim_sample,
    ddim_sigma,
    ddim_step,
    ddim_timesteps,
    p_sample_step,
)
from .schedules import Schedule, cosine_schedule, linear_schedule, make_schedule  # noqa: F401
from .score import annealed_langevin, dsm_loss, esm_loss, langevin, score_from_eps, tweedie_x0  # noqa: F401
