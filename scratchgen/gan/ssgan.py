r"""The semi-supervised GAN: a critic with K real classes and one "fake" class.

References
----------
* [Improved] Salimans et al., "Improved Techniques for Training GANs", NeurIPS 2016,
  Section 5 (semi-supervised learning): the K+1-class critic, the losses
  :math:`L = L_{supervised} + L_{unsupervised}`, and the observation that fixing the
  (K+1)-th logit at 0 loses nothing, which makes :math:`D(x) = Z(x)/(Z(x)+1)`.
* [Odena]   Odena, "Semi-Supervised Learning with Generative Adversarial Networks", 2016.

Conventions
-----------
* Classes are 0-indexed: labels :math:`y \in \{0, \dots, K-1\}` are the real classes, and
  index K is the "fake" class (the paper's class K+1).
* Two parameterisations of the critic's output, selected with ``form``:

  - ``form="K+1"``: logits of shape (B, K+1), :math:`p(y=k|x) = \operatorname{softmax}(l)_k`;
    the last column is the fake logit.
  - ``form="K"``: logits of shape (B, K) for the real classes, the fake logit fixed at 0.
    With :math:`Z(x) = \sum_{k<K} e^{l_k(x)}`:
    :math:`p(y=\text{fake}|x) = 1/(Z+1)` and :math:`D(x) = 1 - p(\text{fake}|x) = Z/(Z+1) = \sigma(\log Z)`.

  Softmax is invariant to adding a constant to all logits, so K+1 logits ``l`` and the K
  logits ``l[:, :K] - l[:, K:]`` give the same probabilities, losses and predictions.
* Every log-probability is computed with ``logsumexp``, so logits of magnitude 1e4 give
  finite losses and gradients.
"""
from __future__ import annotations

from ..autodiff import functional as F
from ..autodiff.tensor import Tensor, as_float_tensor
from ..backend import get_xp

__all__ = [
    "class_entropy",
    "log_p_fake",
    "log_p_real",
    "log_p_class",
    "discriminator_prob",
    "critic_loss",
    "generator_loss",
    "predict",
]

_FORMS = ("K+1", "K")


def _logits(x, name, form, who):
    """``x`` as a float Tensor of shape (B, C); C >= 2 for "K+1", C >= 1 for "K"."""
    if form not in _FORMS:
        raise ValueError(f"{who}: form must be one of {_FORMS}, got {form!r}")
    x = as_float_tensor(x, name, who)
    min_c = 2 if form == "K+1" else 1
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] < min_c:
        want = "(B, K+1) with K >= 1" if form == "K+1" else "(B, K) with K >= 1"
        raise ValueError(f"{who}: {name} must have shape {want} for form={form!r}, got {x.shape}")
    return x


def _num_classes(logits, form):
    return logits.shape[1] - 1 if form == "K+1" else logits.shape[1]


def _log_z(logits, form):
    r""":math:`\log Z - l_{fake}` with :math:`Z = \sum_{k<K} e^{l_k}`: the logit of D(x). Shape (B,)."""
    if form == "K+1":
        K = logits.shape[1] - 1
        return F.logsumexp(logits[:, :K], axis=1) - logits[:, K]
    return F.logsumexp(logits, axis=1)


def log_p_fake(logits, form="K+1"):
    r""":math:`\log p(y = \text{fake} \mid x)`, shape (B,).

    ``"K+1"``: :math:`l_K - \log\sum_{j\le K} e^{l_j}`. ``"K"``: :math:`-\log(Z + 1) = -\operatorname{softplus}(\log Z)`.
    """
    lg = _logits(logits, "logits", form, "log_p_fake")
    # log(1/(Z+1)) = log sigma(-log Z)
    return F.log_sigmoid(-_log_z(lg, form))


def log_p_real(logits, form="K+1"):
    r""":math:`\log\big(1 - p(y = \text{fake}\mid x)\big) = \log D(x)`, shape (B,).

    With :math:`D(x) = Z/(Z+1) = \sigma(\log Z - l_{fake})` this is :math:`\log\sigma(\log Z - l_{fake})`,
    never :math:`\log(1 - p)` (which is -inf once p rounds to 1).
    """
    lg = _logits(logits, "logits", form, "log_p_real")
    return F.log_sigmoid(_log_z(lg, form))


def discriminator_prob(logits, form="K+1"):
    r"""The real-vs-fake discriminator inside the critic: :math:`D(x) = 1 - p(\text{fake}|x) = \frac{Z(x)}{Z(x)+1}`
    (in the "K" form; in the "K+1" form Z is measured relative to :math:`e^{l_{fake}}`). Shape (B,)."""
    lg = _logits(logits, "logits", form, "discriminator_prob")
    return F.sigmoid(_log_z(lg, form))


def log_p_class(logits, form="K+1", conditional=False):
    r"""Log class probabilities of the real classes, shape (B, K).

    ``conditional=False``: :math:`\log p(y=k|x)` in the K+1-way softmax (mass on "fake" included).
    ``conditional=True``: :math:`\log p(y=k \mid x, y \ne \text{fake}) = l_k - \log\sum_{j<K} e^{l_j}`,
    the ordinary K-class log-softmax ([Improved] Section 5 uses this one in :math:`L_{supervised}`).
    The two differ by :math:`\log D(x)`: :math:`\log p(k|x) = \log p(k|x, \text{real}) + \log D(x)`.
    """
    lg = _logits(logits, "logits", form, "log_p_class")
    K = _num_classes(lg, form)
    real = lg[:, :K]
    if conditional:
        return F.log_softmax(real, axis=1)
    if form == "K+1":
        return F.log_softmax(lg, axis=1)[:, :K]
    # l_k - log(Z + 1) = l_k - softplus(log Z)
    return real - F.softplus(F.logsumexp(real, axis=1, keepdims=True))


def class_entropy(logits, form="K+1"):
    r"""Entropy of the class posterior given "real", :math:`H(x) = -\sum_{k\le K} p(k|x,\text{real})\log p(k|x,\text{real})`, shape (B,).

    Adding :math:`\lambda\,\mathbb E_{x\in\text{unlabelled}} H(x)` to the critic's loss asks it to be
    confident on unlabelled data, which pushes its class boundaries into low-density regions
    (entropy minimisation, Grandvalet & Bengio 2005; used with the K+1 critic by Dai et al. 2017).
    """
    log_p = log_p_class(logits, form, conditional=True)  # (B, K)
    return -(log_p.exp() * log_p).sum(axis=1)


def _labels(y, B, K, who):
    xp = get_xp(y.data if isinstance(y, Tensor) else y)
    y = y.data if isinstance(y, Tensor) else xp.asarray(y)
    if y.dtype.kind not in "iu":
        raise ValueError(f"{who}: labels must be integers in [0, {K}), got dtype {y.dtype}")
    if y.shape != (B,):
        raise ValueError(
            f"{who}: labels must have shape ({B},) to match logits_labelled of shape ({B}, ...), got {y.shape} "
            "(a (B, 1) label column would broadcast into a (B, B) loss)"
        )
    if B and (int(xp.min(y)) < 0 or int(xp.max(y)) >= K):
        raise ValueError(f"{who}: labels must be in [0, {K}) (the fake class {K} is not a label), "
                         f"got range [{int(xp.min(y))}, {int(xp.max(y))}]")
    return y


def critic_loss(logits_labelled, labels, logits_unlabelled, logits_fake, form="K+1", supervised="joint",
                unsup_weight=1.0):
    r"""Loss of the K+1-class critic ([Improved] Section 5):

    .. math::  L_{critic} = -\mathbb{E}_{(x,y)\sim p_{data}}[\log p(y\mid x)]
                            - \mathbb{E}_{x\sim p_{data}}[\log(1 - p(y=K+1\mid x))]
                            - \mathbb{E}_{z}[\log p(y=K+1\mid G(z))].

    The first term is supervised cross-entropy on labelled data; the last two are the
    minimax discriminator loss with :math:`D(x) = 1 - p(K+1|x)` on unlabelled data and on
    samples ([Improved] :math:`L_{unsupervised}`).

    ``supervised="joint"`` uses :math:`\log p(y|x)` in the K+1-way softmax, as written above.
    ``supervised="conditional"`` uses :math:`\log p(y|x, y<K+1)`, as [Improved] does; the two
    differ by :math:`-\mathbb{E}_{labelled}[\log D(x)]`, an extra "this is real" term on the
    labelled examples.

    ``unsup_weight`` w multiplies the last two terms, :math:`L = L_{supervised} + w\,L_{unsupervised}`:
    the paper's text has w = 1; the authors' code (``train_mnist_feature_matching.py``) writes
    each unsupervised term with a factor 0.5, which is w = 1/2.

    Parameters
    ----------
    logits_labelled : Tensor (B_l, K+1) or (B_l, K)
    labels : int array (B_l,)
        In [0, K).
    logits_unlabelled : Tensor (B_u, C)
    logits_fake : Tensor (B_g, C)
        Critic logits on G(z).
    form : "K+1" or "K"
        See the module notes; all three logit arrays must have the same number of columns.
    supervised : "joint" or "conditional"
    unsup_weight : float > 0

    Returns
    -------
    Tensor, shape ()
    """
    who = "critic_loss"
    ll = _logits(logits_labelled, "logits_labelled", form, who)
    lu = _logits(logits_unlabelled, "logits_unlabelled", form, who)
    lf = _logits(logits_fake, "logits_fake", form, who)
    if not ll.shape[1] == lu.shape[1] == lf.shape[1]:
        raise ValueError(f"{who}: the logits disagree on the number of columns: {ll.shape}, {lu.shape}, {lf.shape}")
    if supervised not in ("joint", "conditional"):
        raise ValueError(f"{who}: supervised must be 'joint' or 'conditional', got {supervised!r}")
    if isinstance(unsup_weight, bool) or not isinstance(unsup_weight, (int, float)) or not 0 < unsup_weight < float("inf"):
        raise ValueError(f"{who}: unsup_weight must be a finite number > 0, got {unsup_weight!r}")
    K = _num_classes(ll, form)
    y = _labels(labels, ll.shape[0], K, who)
    # -E log p(y|x) on labelled data: pick column y_b of row b
    log_pc = log_p_class(ll, form, conditional=(supervised == "conditional"))  # (B_l, K)
    rows = get_xp(y).arange(ll.shape[0])
    l_sup = -log_pc[rows, y].mean()
    # -E log(1 - p(fake|x)) on unlabelled data, -E log p(fake|G(z)) on samples
    l_unsup = -log_p_real(lu, form).mean() - log_p_fake(lf, form).mean()
    return l_sup + unsup_weight * l_unsup


def generator_loss(logits_fake, form="K+1", kind="nonsaturating"):
    r"""Generator loss against the K+1-class critic.

    ``kind="minimax"``: :math:`L_G = \mathbb{E}_z[\log p(y=K+1 \mid G(z))]`, the negative of the
    critic's last term (the saturating loss of the course notes).
    ``kind="nonsaturating"`` (default): :math:`L_G = -\mathbb{E}_z[\log(1 - p(y=K+1\mid G(z)))] = -\mathbb{E}_z[\log D(G(z))]`,
    the non-saturating form of [GAN] Section 3, whose gradient does not vanish when the
    critic rejects the samples. ([Improved] train G by feature matching in this setting:
    :func:`scratchgen.gan.losses.feature_matching_loss`.)

    Parameters
    ----------
    logits_fake : Tensor (B, K+1) or (B, K)
    form : "K+1" or "K"
    kind : "nonsaturating" or "minimax"

    Returns
    -------
    Tensor, shape ()
    """
    lf = _logits(logits_fake, "logits_fake", form, "generator_loss")
    if kind == "minimax":
        return log_p_fake(lf, form).mean()
    if kind == "nonsaturating":
        return -log_p_real(lf, form).mean()
    raise ValueError(f"generator_loss: kind must be 'nonsaturating' or 'minimax', got {kind!r}")


def predict(logits, form="K+1"):
    r"""Class prediction :math:`\hat y = \arg\max_{k<K} p(y=k\mid x)`, shape (B,), ints in [0, K).

    The fake class is excluded ([Improved] Section 5 classify with :math:`p(y|x, y<K+1)`); its
    argmax equals that of the real-class logits in both forms. Ties go to the lowest index.
    """
    lg = _logits(logits, "logits", form, "predict")
    K = _num_classes(lg, form)
    xp = get_xp(lg.data)
    return xp.argmax(lg.data[:, :K], axis=1)
