r"""The lecture's GAN diagnostics and its remedies for a discriminator that wins too easily.

Scores (with :math:`D(x) = \sigma(l(x))` the discriminator's probability that x is real):

.. math::  s_G = \mathbb E_z[D(G(z))], \qquad
           s_D = \tfrac12\mathbb E_x[D(x)] + \tfrac12\mathbb E_z[1 - D(G(z))].

:math:`s_D` is D's accuracy in the soft sense (the probability it gives the right answer, averaged over a
real and a generated batch), :math:`s_G` how often G fools it. At the game's equilibrium
(:math:`p_g = p_{data}`, :math:`D^* = \tfrac12`; Goodfellow et al. 2014, Proposition 1) both are ½. A
*dominating discriminator* shows as :math:`s_D \to 1`, :math:`s_G \to 0`: D tells every sample apart, and with
the minimax loss G's gradient :math:`\nabla\log(1 - D(G(z)))` vanishes (Goodfellow et al. 2014, Sec. 3;
Arjovsky & Bottou 2017, Theorem 2.4). A dominating generator shows as :math:`s_G \to 1`.

Remedies for a dominating discriminator, each an option of the trainers (:mod:`scratchgen.gan.train`,
:mod:`scratchgen.gan.train_images`):

* dropout in D (:func:`with_dropout`): a noisier, weaker D;
* noisy labels (:func:`flipped_label_d_loss`): each target flipped with probability p, so D can never be sure;
* a narrower D (``d_hidden`` / ``d_width``): less capacity.
"""
from __future__ import annotations

from .. import nn
from ..autodiff.tensor import Tensor
from ..backend import get_xp
from ..nn.functional import binary_cross_entropy_with_logits
from ..validate import check_choice, check_int, check_number

__all__ = ["gan_scores", "flipped_label_d_loss", "with_dropout", "check_remedies", "scores_figure"]


def gan_scores(real_logits, fake_logits):
    r"""``{"s_G": E[D(G(z))], "s_D": ½E[D(x)] + ½E[1 − D(G(z))]}`` from D's logits on a real and a generated
    batch (Tensors or arrays, any shape; each averaged over all its elements), as Python floats."""
    l_real, l_fake = (t.data if isinstance(t, Tensor) else t for t in (real_logits, fake_logits))
    xp = get_xp(l_real)
    d_real = 0.5 * (1 + xp.tanh(0.5 * l_real))  # sigma(l) = (1 + tanh(l / 2)) / 2: no overflow, the logits' dtype
    d_fake = 0.5 * (1 + xp.tanh(0.5 * l_fake))
    s_G = float(d_fake.mean())
    return {"s_G": s_G, "s_D": 0.5 * float(d_real.mean()) + 0.5 * (1.0 - s_G)}


def flipped_label_d_loss(real_logits, fake_logits, p, gen):
    r"""The discriminator's cross-entropy with noisy labels: each real target 1 becomes 0, and each generated
    target 0 becomes 1, independently with probability p (drawn from ``gen``):
    :math:`\mathrm{BCE}(l(x), t_x) + \mathrm{BCE}(l(G(z)), t_z)`, :math:`t_x = 1 - b_x`, :math:`t_z = b_z`,
    :math:`b \sim \mathrm{Bernoulli}(p)`. With p = 0 this is :func:`scratchgen.gan.losses.d_loss`."""
    check_number(p, "p", "flipped_label_d_loss", min=0, max=0.5)
    xp = get_xp(real_logits.data)
    dt = real_logits.data.dtype
    t_real = 1 - (gen.random(real_logits.shape) < p).astype(dt)  # 1, flipped to 0 with probability p
    t_fake = (gen.random(fake_logits.shape) < p).astype(dt)  # 0, flipped to 1 with probability p
    return (binary_cross_entropy_with_logits(real_logits, xp.asarray(t_real))
            + binary_cross_entropy_with_logits(fake_logits, xp.asarray(t_fake)))


def check_remedies(cfg, who, width_field):
    r"""Check a config's latent prior and its remedies for a dominating discriminator, before any work:
    ``latent`` one of :data:`~scratchgen.gan.latent.PRIORS`, ``d_dropout`` in [0, 1), ``label_flip`` in
    [0, 1/2] (at 1/2 the labels carry no information), and the narrower discriminator's width
    (``width_field``: ``d_hidden`` of the 2-D GAN, ``d_width`` of the DCGAN) a positive int or None."""
    from .latent import PRIORS

    check_choice(cfg.latent, "latent", who, PRIORS)
    check_number(cfg.d_dropout, "d_dropout", who, min=0, max=1, max_open=True)
    check_number(cfg.label_flip, "label_flip", who, min=0, max=0.5)
    if getattr(cfg, width_field) is not None:
        check_int(getattr(cfg, width_field), width_field, who, min=1)


def with_dropout(seq, p, generator):
    """A new ``Sequential`` of the modules of ``seq`` with ``Dropout(p)`` after each ``LeakyReLU`` (the same
    module objects, so the weights are shared); ``seq`` itself if p = 0."""
    check_number(p, "p", "with_dropout", min=0, max=1, max_open=True)
    if not p:
        return seq
    mods = []
    for m in seq:
        mods.append(m)
        if isinstance(m, nn.LeakyReLU):
            mods.append(nn.Dropout(p, generator=generator))
    return nn.Sequential(*mods)


def scores_figure(history, path, title=""):
    r"""``path`` (a PNG): :math:`s_D` and :math:`s_G` of a run's ``history`` (one value per generator step) with
    their running means over a fiftieth of the run, and the equilibrium ½ dashed. Needs matplotlib."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy  # plotting only

    from ..viz import save_figure

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for key, colour in (("s_D", "C0"), ("s_G", "C1")):
        v = numpy.asarray(history[key], dtype=float)
        k = max(1, v.size // 50)
        ax.plot(history["step"], v, lw=0.4, c=colour, alpha=0.35)
        ax.plot(history["step"][k - 1:], numpy.convolve(v, numpy.ones(k) / k, mode="valid"), c=colour,
                label={"s_D": r"$s_D = \frac{1}{2}E[D(x)] + \frac{1}{2}E[1 - D(G(z))]$", "s_G": r"$s_G = E[D(G(z))]$"}[key])
    ax.axhline(0.5, c="k", ls=":", lw=1, label="equilibrium 1/2")
    ax.set_ylim(0, 1)
    ax.set_xlabel("generator step")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=150)
