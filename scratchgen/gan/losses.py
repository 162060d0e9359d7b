r"""GAN losses on discriminator logits or critic scores, each a scalar Tensor to *minimise*.

References
----------
* [GAN]    Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014: Eq. (1) the value
           V(D, G); Section 3 the non-saturating generator loss ("maximize log D(G(z))").
* [NIPS16] Goodfellow, "NIPS 2016 Tutorial: Generative Adversarial Networks", Section 3.2.3
           (minimax, non-saturating and maximum-likelihood games).
* [LSGAN]  Mao et al., "Least Squares Generative Adversarial Networks", ICCV 2017: Eq. (2) the
           losses with targets (a, b, c); Eq. (3) the generator loss with the data term;
           Section 3.2 the Pearson chi^2 result for b - c = 1, b - a = 2.
* [WGAN]   Arjovsky, Chintala, Bottou, "Wasserstein GAN", ICML 2017: Eq. (3), Algorithm 1.
* [Hinge]  Lim & Ye, "Geometric GAN", 2017 (Section 3, the SVM-margin losses); Miyato et al.,
           "Spectral Normalization for GANs", ICLR 2018 (Section 4, the hinge loss of their
           experiments). Equation numbers differ between versions; the formulas are below.
* [Improved] Salimans et al., "Improved Techniques for Training GANs", NeurIPS 2016:
           Section 3.1 feature matching, Section 3.4 one-sided label smoothing.

Conventions
-----------
* ``D(x) = sigmoid(l(x))``: the minimax, non-saturating and label-smoothing losses take the
  **logits** l (pre-sigmoid) and never form D itself, so that
  :math:`-\log D = \operatorname{softplus}(-l)` and :math:`-\log(1-D) = \operatorname{softplus}(l)`
  stay finite for float32 logits of magnitude 1e4 (``log(sigmoid(-1e4))`` is ``-inf``).
* LSGAN, WGAN and hinge losses take the raw critic **scores** (no sigmoid).
* ``real`` holds D's output on data x, ``fake`` on generated samples G(z). Each is averaged
  over *all* its elements (a (B,) or (B, 1) vector, or a (B, H, W) patch map alike); the two
  batches may differ in size and are never broadcast against each other.
* Losses are signed to be minimised: the discriminator loss of the minimax game is
  :math:`-V(D, G)`, its generator loss is :math:`+V`'s generator term.
* Inputs may be Tensors (gradients flow) or arrays (treated as constants).
"""
from __future__ import annotations

from ..autodiff import functional as F
from ..autodiff.tensor import as_float_tensor
from ..validate import check_number

__all__ = [
    "d_loss",
    "g_loss_minimax",
    "g_loss_nonsaturating",
    "d_loss_label_smoothing",
    "lsgan_d_loss",
    "lsgan_g_loss",
    "wgan_critic_loss",
    "wgan_g_loss",
    "hinge_d_loss",
    "hinge_g_loss",
    "feature_matching_loss",
]


def _as_scores(x, name, who):
    """``x`` as a float Tensor with at least one element (arrays become constants)."""
    x = as_float_tensor(x, name, who)
    if x.size == 0:
        raise ValueError(f"{who}: {name} is empty (shape {x.shape}); a loss needs at least one sample")
    return x


# ---------------------------------------------------------------------------
# The minimax game and the non-saturating generator
# ---------------------------------------------------------------------------
def d_loss(real_logits, fake_logits):
    r"""Discriminator loss of the minimax game, :math:`-V(D, G)` of [GAN] Eq. (1):

    .. math::  L_D = -\mathbb{E}_x[\log D(x)] - \mathbb{E}_z[\log(1 - D(G(z)))]
                   = \mathbb{E}_x[\operatorname{softplus}(-l(x))] + \mathbb{E}_z[\operatorname{softplus}(l(G(z)))].

    Binary cross-entropy with label 1 on data and 0 on samples. For fixed G its minimiser
    over all functions is :math:`D^* = p_{data}/(p_{data} + p_g)` and its minimum is
    :math:`\log 4 - 2\,\mathrm{JSD}(p_{data}\|p_g)` (see :func:`scratchgen.divergences.gan_value`).

    Parameters
    ----------
    real_logits : Tensor (B, ...)
        Logits l(x) on data.
    fake_logits : Tensor (B', ...)
        Logits l(G(z)) on generated samples.

    Returns
    -------
    Tensor, shape ()
    """
    lr = _as_scores(real_logits, "real_logits", "d_loss")
    lf = _as_scores(fake_logits, "fake_logits", "d_loss")
    # -log sigma(l) = softplus(-l);  -log(1 - sigma(l)) = softplus(l)
    return F.softplus(-lr).mean() + F.softplus(lf).mean()


def g_loss_minimax(fake_logits):
    r"""The generator's term of the minimax game ([GAN] Eq. 1), the **saturating** loss:

    .. math::  L_G = \mathbb{E}_z[\log(1 - D(G(z)))] = -\mathbb{E}_z[\operatorname{softplus}(l(G(z)))].

    Its derivative with respect to the logit is :math:`-\sigma(l) = -D(G(z))`, which
    vanishes as :math:`D(G(z)) \to 0`: when D confidently rejects the samples early in
    training, G receives no gradient ([GAN] Section 3; [NIPS16] Section 3.2.3).

    Parameters
    ----------
    fake_logits : Tensor (B, ...)

    Returns
    -------
    Tensor, shape ()
    """
    lf = _as_scores(fake_logits, "fake_logits", "g_loss_minimax")
    ### BEGIN SOLUTION
    # log(1 - sigma(l)) = -softplus(l)
    return -F.softplus(lf).mean()
    ### END SOLUTION


def g_loss_nonsaturating(fake_logits):
    r"""The **non-saturating** generator loss ([GAN] Section 3; [NIPS16] Section 3.2.3):

    .. math::  L_G = -\mathbb{E}_z[\log D(G(z))] = \mathbb{E}_z[\operatorname{softplus}(-l(G(z)))].

    Like :func:`g_loss_minimax` it is decreasing in D(G(z)), and the two share their fixed
    point (:math:`p_g = p_{data}`, where D = 1/2 and both gradients vanish), but its derivative
    with respect to the logit, :math:`-(1 - D(G(z)))`, tends to -1 (not 0) as
    :math:`D(G(z)) \to 0`.

    (One of the course notes swaps the names of this loss and the minimax one; this is the
    paper's naming.)

    Parameters
    ----------
    fake_logits : Tensor (B, ...)

    Returns
    -------
    Tensor, shape ()
    """
    lf = _as_scores(fake_logits, "fake_logits", "g_loss_nonsaturating")
    ### BEGIN SOLUTION
    return F.softplus(-lf).mean()
    ### END SOLUTION


def d_loss_label_smoothing(real_logits, fake_logits, alpha=0.9):
    r"""Discriminator loss with **one-sided** label smoothing ([Improved] Section 3.4):

    .. math::  L_D = -\mathbb{E}_x[\alpha\log D(x) + (1-\alpha)\log(1 - D(x))] - \mathbb{E}_z[\log(1 - D(G(z)))].

    The target of real data is :math:`\alpha` (e.g. 0.9), the target of samples stays 0
    ("one-sided": smoothing the fake targets to :math:`\beta > 0` would give
    :math:`D^* = (\alpha p_{data} + \beta p_g)/(p_{data}+p_g)`, which rewards samples where
    the data has no mass). Pointwise minimisation gives :math:`D^* = \alpha p_{data}/(p_{data}+p_g)`.

    Parameters
    ----------
    real_logits : Tensor (B, ...)
    fake_logits : Tensor (B', ...)
    alpha : float in (0, 1]
        Target for real data; ``alpha=1`` gives :func:`d_loss`.

    Returns
    -------
    Tensor, shape ()
    """
    check_number(alpha, "alpha", "d_loss_label_smoothing", min=0, max=1, min_open=True)
    lr = _as_scores(real_logits, "real_logits", "d_loss_label_smoothing")
    lf = _as_scores(fake_logits, "fake_logits", "d_loss_label_smoothing")
    # -[alpha log sigma(l) + (1 - alpha) log(1 - sigma(l))] = alpha softplus(-l) + (1 - alpha) softplus(l)
    real_term = (F.softplus(-lr) * alpha + F.softplus(lr) * (1 - alpha)).mean()
    return real_term + F.softplus(lf).mean()


# ---------------------------------------------------------------------------
# Least squares GAN
# ---------------------------------------------------------------------------
def lsgan_d_loss(real_scores, fake_scores, a=0.0, b=1.0):
    r"""LSGAN discriminator loss ([LSGAN] Eq. 2):

    .. math::  L_D = \tfrac12\mathbb{E}_x[(D(x) - b)^2] + \tfrac12\mathbb{E}_z[(D(G(z)) - a)^2].

    a is the target for samples, b for data. Pointwise minimisation gives
    :math:`D^* = (b\,p_{data} + a\,p_g)/(p_{data} + p_g)` ([LSGAN] Eq. 4).
    Defaults a = 0, b = 1 (with c = 1 in :func:`lsgan_g_loss`) are the 0-1 coding used in the
    paper's experiments; a = -1, b = 1, c = 0 satisfy b - c = 1, b - a = 2, the condition under
    which G minimises a Pearson chi^2 divergence (see :func:`lsgan_g_loss`).

    Parameters
    ----------
    real_scores : Tensor (B, ...)
        D(x), raw scores (no sigmoid).
    fake_scores : Tensor (B', ...)
    a, b : float

    Returns
    -------
    Tensor, shape ()
    """
    check_number(a, "a", "lsgan_d_loss")
    check_number(b, "b", "lsgan_d_loss")
    dr = _as_scores(real_scores, "real_scores", "lsgan_d_loss")
    df = _as_scores(fake_scores, "fake_scores", "lsgan_d_loss")
    ### BEGIN SOLUTION
    return ((dr - b) ** 2).mean() * 0.5 + ((df - a) ** 2).mean() * 0.5
    ### END SOLUTION


def lsgan_g_loss(fake_scores, c=1.0, real_scores=None):
    r"""LSGAN generator loss ([LSGAN] Eq. 2), optionally with the data term of Eq. (3):

    .. math::  L_G = \tfrac12\mathbb{E}_z[(D(G(z)) - c)^2] \;\Big[+\; \tfrac12\mathbb{E}_x[(D(x) - c)^2]\Big].

    The data term does not depend on G, so it changes the value, not G's gradient; with it,
    at the optimal :math:`D^* = (b p + a q)/(p+q)` (:math:`p = p_{data}`, :math:`q = p_g`) and
    :math:`b - c = 1,\ b - a = 2`,

    .. math::  2 L_G = \sum_x \frac{\big(2q(x) - (p(x)+q(x))\big)^2}{p(x)+q(x)},

    which [LSGAN] write :math:`\chi^2_{Pearson}(p+q\,\|\,2q)` in *their* convention
    :math:`\chi^2(P\|Q) = \int (Q-P)^2/P` (first argument in the denominator). In ours
    (:func:`scratchgen.divergences.pearson_chi2`, :math:`\chi^2(P\|Q) = \sum (P-Q)^2/Q`):
    for a = -1, b = 1, c = 0,

    .. math::  L_G = \tfrac12\sum_x \frac{(p(x)-q(x))^2}{p(x)+q(x)} = \chi^2\big(q \,\|\, \tfrac{p+q}{2}\big).

    Parameters
    ----------
    fake_scores : Tensor (B, ...)
        D(G(z)).
    c : float
        The value G wants D to output on its samples.
    real_scores : Tensor (B', ...), optional
        D(x) on data: adds the data term of [LSGAN] Eq. (3).

    Returns
    -------
    Tensor, shape ()
    """
    check_number(c, "c", "lsgan_g_loss")
    df = _as_scores(fake_scores, "fake_scores", "lsgan_g_loss")
    ### BEGIN SOLUTION
    loss = ((df - c) ** 2).mean() * 0.5
    if real_scores is not None:
        dr = _as_scores(real_scores, "real_scores", "lsgan_g_loss")
        loss = loss + ((dr - c) ** 2).mean() * 0.5
    return loss
    ### END SOLUTION


# ---------------------------------------------------------------------------
# Wasserstein GAN and hinge
# ---------------------------------------------------------------------------
def wgan_critic_loss(real_scores, fake_scores):
    r"""WGAN critic loss, the negated objective of [WGAN] Eq. (3):

    .. math::  L_f = \mathbb{E}_z[f(G(z))] - \mathbb{E}_x[f(x)].

    Over 1-Lipschitz f its minimum is :math:`-W_1(p_{data}, p_g)` (Kantorovich-Rubinstein
    duality, [WGAN] Eq. 2). The Lipschitz constraint is not in this loss: add
    :func:`scratchgen.gan.penalties.gradient_penalty`, or clip the weights
    (:func:`scratchgen.gan.penalties.clip_weights`).

    Parameters
    ----------
    real_scores, fake_scores : Tensor
        Critic scores f(x), f(G(z)) (unbounded, no sigmoid).

    Returns
    -------
    Tensor, shape ()
    """
    fr = _as_scores(real_scores, "real_scores", "wgan_critic_loss")
    ff = _as_scores(fake_scores, "fake_scores", "wgan_critic_loss")
    return ff.mean() - fr.mean()


def wgan_g_loss(fake_scores):
    r"""WGAN generator loss ([WGAN] Algorithm 1, line 10): :math:`L_G = -\mathbb{E}_z[f(G(z))]`.

    Parameters
    ----------
    fake_scores : Tensor (B, ...)

    Returns
    -------
    Tensor, shape ()
    """
    ff = _as_scores(fake_scores, "fake_scores", "wgan_g_loss")
    return -ff.mean()


def hinge_d_loss(real_scores, fake_scores):
    r"""Hinge discriminator loss ([Hinge]):

    .. math::  L_D = \mathbb{E}_x[\max(0, 1 - D(x))] + \mathbb{E}_z[\max(0, 1 + D(G(z)))].

    Pointwise, :math:`p\max(0, 1-d) + q\max(0, 1+d)` is minimised by :math:`d = \operatorname{sign}(p - q)`
    with value :math:`2\min(p, q)`, so at the optimal D

    .. math::  L_D^* = 2\sum_x \min(p(x), q(x)) = 2\,\big(1 - \mathrm{TV}(p, q)\big).

    Parameters
    ----------
    real_scores : Tensor (B, ...)
    fake_scores : Tensor (B', ...)

    Returns
    -------
    Tensor, shape ()
    """
    dr = _as_scores(real_scores, "real_scores", "hinge_d_loss")
    df = _as_scores(fake_scores, "fake_scores", "hinge_d_loss")
    ### BEGIN SOLUTION
    return F.relu(1 - dr).mean() + F.relu(1 + df).mean()
    ### END SOLUTION


def hinge_g_loss(fake_scores):
    r"""Hinge generator loss ([Hinge]): :math:`L_G = -\mathbb{E}_z[D(G(z))]`.

    Parameters
    ----------
    fake_scores : Tensor (B, ...)

    Returns
    -------
    Tensor, shape ()
    """
    df = _as_scores(fake_scores, "fake_scores", "hinge_g_loss")
    ### BEGIN SOLUTION
    return -df.mean()
    ### END SOLUTION


# ---------------------------------------------------------------------------
# Feature matching
# ---------------------------------------------------------------------------
def feature_matching_loss(real_features, fake_features):
    r"""Feature matching ([Improved] Section 3.1):

    .. math::  L_G = \big\|\mathbb{E}_x \mathbf f(x) - \mathbb{E}_z \mathbf f(G(z))\big\|_2^2,

    with :math:`\mathbf f` the activations of an intermediate layer of the discriminator. The
    batch means are taken over axis 0; the squared norm runs over all remaining axes.

    Parameters
    ----------
    real_features : Tensor (B, F...)
        f(x); usually held constant (computed from data, no gradient needed).
    fake_features : Tensor (B', F...)
        f(G(z)); the same feature shape F...

    Returns
    -------
    Tensor, shape ()
    """
    fr = _as_scores(real_features, "real_features", "feature_matching_loss")
    ff = _as_scores(fake_features, "fake_features", "feature_matching_loss")
    if fr.ndim < 2 or fr.shape[1:] != ff.shape[1:]:
        raise ValueError(
            "feature_matching_loss: features must be (batch, features...) with the same feature shape; "
            f"got real_features.shape={fr.shape}, fake_features.shape={ff.shape}"
        )
    diff = fr.mean(axis=0) - ff.mean(axis=0)
    return (diff * diff).sum()
