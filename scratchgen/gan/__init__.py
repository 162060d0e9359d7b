"""The GAN family: losses on logits or critic scores, critic penalties, the semi-supervised critic.

``losses``    minimax, non-saturating, LSGAN, WGAN, hinge, label smoothing, feature matching
``penalties`` WGAN-GP gradient penalty, R1, weight clipping
``ssgan``     the K+1-class critic of semi-supervised GANs: its losses, models, label split, regularisers
``dcgan``     the DCGAN generator and discriminator, and their conditional versions (imported on demand)
``train_images`` the image GANs' settings and trainer (DCGAN, cGAN, SS-GAN; imported on demand)
``rejection`` rejection sampling of a trained generator with a learnt density ratio log p/q

The exact divergences these losses estimate live in :mod:`scratchgen.divergences`.
"""
from . import losses, penalties, rejection, ssgan  # noqa: F401
from .losses import (  # noqa: F401
    d_loss,
    d_loss_label_smoothing,
    feature_matching_loss,
    g_loss_minimax,
    g_loss_nonsaturating,
    hinge_d_loss,
    hinge_g_loss,
    lsgan_d_loss,
    lsgan_g_loss,
    wgan_critic_loss,
    wgan_g_loss,
)
from .penalties import clip_weights, critic_grad_norms, gradient_penalty, r1_penalty  # noqa: F401
