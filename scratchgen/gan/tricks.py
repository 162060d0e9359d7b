r"""Tricks against mode collapse and for sample precision, each a function of plain numbers.

The 2-D GAN trainer (:mod:`scratchgen.gan.train`) switches them on with its config; each helper
here takes the numbers it needs (a step, a total, a weight), never a config, so it can be read,
tested and reused on its own.

References
----------
* [PacGAN]  Lin, Khetan, Fanti & Oh, "PacGAN: The power of two samples in generative adversarial
  networks", NeurIPS 2018, Section 3.
* [Unrolled] Metz, Poole, Pfau & Sohl-Dickstein, "Unrolled Generative Adversarial Networks",
  ICLR 2017, Eq. 8-10.
* [InstNoise] Sønderby, Caballero, Theis, Shi & Huszár, "Amortised MAP Inference for Image
  Super-resolution", ICLR 2017, Section 4; Arjovsky & Bottou, "Towards Principled Methods for
  Training GANs", ICLR 2017, Section 3.
* [TopK]    Sinha, Zhao, Goyal, Raffel & Odena, "Top-k Training of GANs", NeurIPS 2020.
* [GMMN]    Li, Swersky & Zemel 2015; Dziugaite, Roy & Ghahramani 2015 (MMD as a generator loss);
  Gretton et al. 2012, Eq. 3 (the unbiased estimate).
* [Cosine]  Loshchilov & Hutter, "SGDR", ICLR 2017, Eq. 5 (no restarts).

Conventions: ``t`` is the generator update, 0-based; ``T`` the number of generator updates.
"""
from __future__ import annotations

import contextlib
import math

from .. import backend as _backend
from .. import nn
from ..autodiff.tensor import Tensor, backprop

__all__ = ["pack", "instance_noise_std", "cosine_decay", "mmd_weight_at", "top_k_count", "top_k_scores",
           "unrolled_g_loss", "parameters_replaced"]


def pack(x, m):
    r"""PacGAN packing ([PacGAN] Section 3): rows (B, d) -> (B/m, m·d), row i =
    :math:`x_{im} \oplus \dots \oplus x_{im+m-1}`.

    The critic sees packs of m samples, all real or all generated: :math:`D(x_1 \oplus \dots \oplus x_m)`.
    A pack drawn from a collapsed generator is m near-copies, which the critic tells from m
    independent data points easily: packing turns the total-variation distance between P and Q
    into that between :math:`P^m` and :math:`Q^m`, which grows with m for a mode-dropping Q.
    Consecutive rows are independent draws, so each pack is m independent samples. ``m = 1``
    returns ``x`` itself.
    """
    if m == 1:
        return x
    B, d = x.shape
    if B % m:
        raise ValueError(f"pack: the batch {B} is not a multiple of the pack size m={m}")
    return x.reshape(B // m, m * d)  # (B/m, m d)


def instance_noise_std(t, s0, T):
    r"""Instance noise ([InstNoise]): :math:`\sigma_t = s_0\max(0, 1 - 2t/T)`.

    The critic sees real and generated samples alike with Gaussian noise added,
    :math:`\tilde x = x + \sigma_t\epsilon`, in its own updates and in the generator's. The noise
    convolves both distributions with :math:`\mathcal N(0, \sigma_t^2 I)`, so their supports
    overlap and the critic cannot be sharp: its gradient reaches generated mass that lies far
    from any data mode, which a sharp critic leaves with a flat (zero) gradient. The noise decays
    linearly to 0 at half of the T updates, so the second half trains on the data itself.
    """
    return s0 * max(0.0, 1.0 - 2.0 * t / T)


def cosine_decay(value, t, T):
    r""":math:`\tfrac12 v\,(1 + \cos(\pi t/T))`: from v at t = 0 to 0 at t = T ([Cosine], Eq. 5, no restarts)."""
    return 0.5 * value * (1.0 + math.cos(math.pi * t / T))


def mmd_weight_at(t, lam, T, schedule=None):
    r"""The weight :math:`\lambda_t` of the MMD term in the generator's loss ([GMMN]):
    :math:`L_G + \lambda_t\,\widehat{\mathrm{MMD}}^2_u(G(z), x)`.

    ``schedule=None``: :math:`\lambda_t = \lambda`; ``"cosine"``: :math:`\tfrac12\lambda(1 + \cos(\pi t/T))`,
    so that the last updates are the adversarial term's alone.

    Why it helps: the adversarial term is mode-seeking (a precise critic is flat far from the
    data, so generated mass that has left a mode feels no pull back to it). A gradient step on
    the MMD term moves each sample y up the *witness function*
    :math:`f(y) = \mathbb E_x k(y,x) - \mathbb E_z k(y, G(z))` (the gradient of the estimate with
    respect to one of m samples is :math:`-\tfrac2m\nabla f(y)`). At a broad bandwidth f is
    positive wherever the data has more mass than the samples, and its slope is felt far away:
    the term moves mass toward modes the generator has dropped.
    """
    if schedule == "cosine":
        return cosine_decay(lam, t, T)
    if schedule is not None:
        raise ValueError(f"mmd_weight_at: schedule must be None or 'cosine', got {schedule!r}")
    return lam


def top_k_count(t, n, nu, T):
    r"""How many of the batch's n critic scores the generator update ``t`` keeps ([TopK]).

    :math:`k_t = \lceil n\,\max(\nu,\; 1 - (1-\nu)\,t/(T/2)) \rceil`: all n at the start, decaying
    linearly to the floor :math:`\nu n` at half of the T updates (``nu=None``: always n). The
    worst samples are those the critic has already placed off the data; their gradient pulls G's
    whole map around, while the best ones only need small corrections. (Sinha et al. decay k
    geometrically, by γ = 0.99 per epoch, down to the same floor ν.)
    """
    if nu is None:
        return n
    frac = max(nu, 1.0 - (1.0 - nu) * t / (T / 2))
    return max(1, min(n, math.ceil(n * frac - 1e-9)))


def top_k_scores(scores, k):
    """The k largest critic scores (the samples D finds most realistic), on the tape; ``scores`` is (n, 1).

    The generator's loss averaged over them gives the other samples no gradient ([TopK]).
    """
    n = scores.shape[0]
    if k >= n:
        return scores
    xp = _backend.get_xp(scores.data)
    idx = xp.argpartition(-scores.data[:, 0], k - 1)[:k]  # indices of the k best, in any order
    return scores[idx]


@contextlib.contextmanager
def parameters_replaced(module, values):
    """Evaluate ``module`` with its parameters replaced by the Tensors ``values`` (same order)."""
    slots = []
    for mod in module.modules():
        for name, v in list(mod.__dict__.items()):
            if isinstance(v, nn.Parameter):
                slots.append((mod, name, v))
    if len(slots) != len(values):
        raise ValueError(f"parameters_replaced: expected {len(slots)} parameter values, got {len(values)}")
    try:
        for (mod, name, _), v in zip(slots, values):
            mod.__dict__[name] = v
        yield module
    finally:
        for mod, name, v in slots:
            mod.__dict__[name] = v


def unrolled_g_loss(G, D, z, x_real, d_loss_fn, g_loss_fn, K, eta, m=1):
    r"""The generator's loss against the critic after K more *differentiable* critic updates ([Unrolled]):

    .. math:: \theta_D^{k+1} = \theta_D^k - \eta\,\nabla_{\theta_D} L_D(\theta_D^k, G),\qquad
              L_G^{\mathrm{unrolled}} = L_G(\theta_D^K),

    with G's gradient flowing through the K updates (``create_graph=True``). We unroll with plain
    gradient steps of size η; Metz et al. unroll the optimiser they train with (Adam), which needs
    Adam's state on the tape too. ``m`` is the PacGAN pack size (:func:`pack`).
    """
    theta = D.parameters()
    x_real = pack(x_real, m)
    x_fake = pack(G(z), m)  # on the tape: G's gradient flows through the unrolled critic updates too
    for _ in range(K):
        with parameters_replaced(D, theta):
            loss_d = d_loss_fn(D(x_real), D(x_fake))
        seed = Tensor(_backend.get_xp(loss_d.data).ones_like(loss_d.data))
        grads = backprop([loss_d], [seed], inputs=theta, create_graph=True)
        theta = [th - eta * g if g is not None else th for th, g in zip(theta, grads)]
    with parameters_replaced(D, theta):
        return g_loss_fn(D(x_fake))
