r"""The semi-supervised GAN: a critic with K real classes and one "fake" class.

References
----------
* [Improved] Salimans et al., "Improved Techniques for Training GANs", NeurIPS 2016,
  Section 5 (semi-supervised learning): the K+1-class critic, the losses
  :math:`L = L_{supervised} + L_{unsupervised}`, and the observation that fixing the
  (K+1)-th logit at 0 loses nothing, which makes :math:`D(x) = Z(x)/(Z(x)+1)`.
* [Odena]   Odena, "Semi-Supervised Learning with Generative Adversarial Networks", 2016.
* [Pi]     Laine & Aila, "Temporal Ensembling for Semi-Supervised Learning", ICLR 2017, Section 2.1
  and its Algorithm 1 (the Π-model: two stochastic passes over one input, the squared difference of
  their class probabilities penalised).
* [ManifoldReg] Lecouat, Foo, Zenati & Chandrasekhar, "Semi-Supervised Learning with GANs:
  Revisiting Manifold Regularization", ICLR 2018 workshop (arXiv:1805.08957): the Jacobian penalty
  along the generator's manifold, estimated by a finite difference in z.
* [VAT]    Miyato, Maeda, Koyama & Ishii, "Virtual Adversarial Training: A Regularization Method for
  Supervised and Semi-Supervised Learning", IEEE TPAMI 2019 (arXiv:1704.03976): the KL between the
  predictions at x and at x + r_adv, r_adv found by one step of the power iteration.

What is here
------------
* the losses of the K+1 critic (:func:`critic_loss`, :func:`generator_loss`) and its prediction;
* the models of the image SS-GAN ([Improved] Section 5): the critic is a K-class classifier whose
  "fake" logit is fixed at 0 (``form="K"``), trained on :math:`L_{supervised} + L_{unsupervised}`
  with a few labels per class (:func:`labelled_indices`); the generator is trained by feature
  matching on the critic's last hidden layer. Following [Improved]'s MNIST model, the critic
  (:class:`SSCritic`) is an MLP with Gaussian noise added to its input and hidden layers
  (:class:`SSConvCritic`: a convolutional alternative);
* the critic's optional regularisers: :func:`consistency_penalty` ([Pi]), :func:`manifold_penalty`
  ([ManifoldReg]) and :func:`vat_penalty` ([VAT]).

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

from .. import nn
from ..autodiff import functional as F
from ..autodiff.api import grad
from ..autodiff.tensor import Tensor, as_float_tensor, no_grad, tensor
from ..backend import get_xp, rng
from ..data.images import N_CLASSES

__all__ = [
    "class_entropy",
    "log_p_fake",
    "log_p_real",
    "log_p_class",
    "discriminator_prob",
    "critic_loss",
    "generator_loss",
    "predict",
    "GaussianNoise",
    "SSCritic",
    "SSConvCritic",
    "SSGenerator",
    "labelled_indices",
    "unlabelled_indices",
    "consistency_penalty",
    "manifold_penalty",
    "vat_penalty",
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
    ### BEGIN SOLUTION
    # -E log p(y|x) on labelled data: pick column y_b of row b
    log_pc = log_p_class(ll, form, conditional=(supervised == "conditional"))  # (B_l, K)
    rows = get_xp(y).arange(ll.shape[0])
    l_sup = -log_pc[rows, y].mean()
    # -E log(1 - p(fake|x)) on unlabelled data, -E log p(fake|G(z)) on samples
    l_unsup = -log_p_real(lu, form).mean() - log_p_fake(lf, form).mean()
    return l_sup + unsup_weight * l_unsup
    ### END SOLUTION


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


# ---------------------------------------------------------------------------
# The models of the image SS-GAN: a critic with Gaussian noise (MLP or conv), an MLP generator
# ---------------------------------------------------------------------------
class GaussianNoise(nn.Module):
    r""":math:`x + \sigma\varepsilon`, :math:`\varepsilon \sim \mathcal N(0, I)`, in training; the identity in eval."""

    def __init__(self, sigma, generator=None):
        super().__init__()
        self.sigma = float(sigma)
        self.generator = rng(generator)

    def forward(self, x):
        if not self.training or self.sigma == 0:
            return x
        eps = self.generator.standard_normal(x.shape, dtype=x.dtype)
        return x + eps * x.dtype.type(self.sigma)

    def extra_repr(self):
        return f"sigma={self.sigma}"


class SSCritic(nn.Module):
    r"""The K-logit critic of the semi-supervised GAN (fake logit fixed at 0, ``ssgan`` form "K").

    images (B, 1, s, s) → flatten (``in_dim`` = s² pixels) → noise(σ_in) → [Linear → LeakyReLU(0.2) → noise(σ_h)] × len(hidden)
    → features :math:`\mathbf f(x)` (the last hidden layer) → Linear → K logits. With
    ``weight_norm=True`` every Linear is weight-normalised (:func:`scratchgen.nn.weight_norm`).
    ``forward`` returns ``(logits, features)``.
    """

    def __init__(self, in_dim=64, hidden=(512, 256, 256, 128), n_classes=N_CLASSES, sigma_in=0.3, sigma_h=0.5,
                 weight_norm=False, generator=None):
        super().__init__()
        g = rng(generator)
        self.in_dim = in_dim
        wn = nn.weight_norm if weight_norm else (lambda m: m)  # as in [Improved]'s code: every layer
        layers = [nn.Flatten(), GaussianNoise(sigma_in, g)]
        d = in_dim
        for h in hidden:
            layers += [wn(nn.Linear(d, h, generator=g)), nn.LeakyReLU(0.2), GaussianNoise(sigma_h, g)]
            d = h
        self.body = nn.Sequential(*layers)
        self.head = wn(nn.Linear(d, n_classes, generator=g))

    def forward(self, x):
        f = self.body(x)  # (B, hidden[-1])
        return self.head(f), f  # (B, K) logits, features


class SSConvCritic(nn.Module):
    r"""A convolutional K-logit critic for the semi-supervised GAN (option ``critic="conv"``).

    noise(σ_in) → Conv(1→w, 3, 1, 1) → LReLU → Conv(w→2w, 3, 2, 1) → LReLU → noise(σ_h)
    → Conv(2w→2w, 3, 2, 1) → LReLU → flatten = features → Linear → K logits. Each stride-2 layer
    maps a side s to ⌈s/2⌉ (8 → 4 → 2, 28 → 14 → 7), so there are 2w·⌈s/4⌉² features (8w for 8×8).
    """

    def __init__(self, width=32, n_classes=N_CLASSES, sigma_in=0.3, sigma_h=0.5, size=8, generator=None):
        super().__init__()
        g = rng(generator)
        w, self.size = width, size
        self.body = nn.Sequential(
            GaussianNoise(sigma_in, g),
            nn.Conv2d(1, w, 3, 1, 1, generator=g), nn.LeakyReLU(0.2),
            nn.Conv2d(w, 2 * w, 3, 2, 1, generator=g), nn.LeakyReLU(0.2), GaussianNoise(sigma_h, g),  # s -> ⌈s/2⌉
            nn.Conv2d(2 * w, 2 * w, 3, 2, 1, generator=g), nn.LeakyReLU(0.2), nn.Flatten(),  # -> ⌈s/4⌉
        )
        side = -(-size // 4)  # (s + 2·1 − 3) // 2 + 1 = ⌈s/2⌉, twice
        self.head = nn.Linear(2 * w * side * side, n_classes, generator=g)

    def forward(self, x):
        if tuple(x.shape[1:]) != (1, self.size, self.size):
            raise ValueError(f"SSConvCritic: expected images (B, 1, {self.size}, {self.size}), received {tuple(x.shape)}")
        f = self.body(x)  # (B, 2w·⌈s/4⌉²)
        return self.head(f), f


class SSGenerator(nn.Module):
    r"""z (B, z_dim) → [Linear → BN → ReLU] × 2 → Linear → tanh → (B, 1, s, s); [Improved]'s MNIST generator, smaller."""

    def __init__(self, z_dim=64, hidden=256, size=8, generator=None):
        super().__init__()
        g = rng(generator)
        self.z_dim = z_dim
        self.net = nn.Sequential(
            nn.Linear(z_dim, hidden, generator=g), nn.BatchNorm1d(hidden), nn.ReLU(),
            nn.Linear(hidden, hidden, generator=g), nn.BatchNorm1d(hidden), nn.ReLU(),
            nn.Linear(hidden, size * size, generator=g), nn.Tanh(), nn.Unflatten(1, (1, size, size)),
        )

    def forward(self, z, y=None):
        return self.net(z)


# ---------------------------------------------------------------------------
# The labelled split: a few labelled images per class, and the unlabelled ones
# ---------------------------------------------------------------------------
def labelled_indices(y, per_class, seed):
    """``per_class`` indices of each class of ``y``, chosen with ``rng(seed)``: the labelled set of the SS-GAN."""
    xp = get_xp(y)
    g = rng(seed)
    out = []
    for k in range(N_CLASSES):
        idx = xp.nonzero(y == k)[0]
        if idx.shape[0] < per_class:
            raise ValueError(f"labelled_indices: class {k} has {idx.shape[0]} images, fewer than per_class={per_class}")
        out.append(idx[g.permutation(idx.shape[0])[:per_class]])
    return xp.sort(xp.concatenate(out))



def unlabelled_indices(n, labelled, fraction, seed):
    """The SS-GAN's unlabelled images, as sorted indices into the n training images: the ``labelled``
    ones and ``round(fraction · (n − len(labelled)))`` of the others (Python's round: halves to even),
    chosen at random with ``seed``. ``fraction=1`` gives all n, as the SS-GAN uses by default;
    ``fraction=0`` the labelled ones only."""
    xp = get_xp()
    labelled = xp.asarray(labelled)
    if not (isinstance(fraction, (int, float)) and 0 <= fraction <= 1):
        raise ValueError(f"unlabelled_indices: fraction must be a number in [0, 1], got {fraction!r}")
    is_other = xp.ones(n, dtype=bool)
    is_other[labelled] = False
    others = xp.nonzero(is_other)[0]
    k = int(round(fraction * others.shape[0]))
    chosen = others[rng(seed).permutation(others.shape[0])[:k]]
    return xp.sort(xp.concatenate([labelled, chosen]))


# ---------------------------------------------------------------------------
# Regularisers of the critic: the Π-model, the manifold term, VAT
# ---------------------------------------------------------------------------
def _unit(v):
    """v / ‖v‖ for each sample: the norm over every axis but the first (v an array)."""
    xp = get_xp(v)
    return v / (xp.sqrt((v * v).sum(axis=tuple(range(1, v.ndim)), keepdims=True)) + v.dtype.type(1e-12))


def consistency_penalty(logits_1, logits_2):
    r"""The Π-model term ([Pi] Section 2.1, Algorithm 1, without its 1/C and its ramp-up) on two
    noisy passes of the critic over the same images:

    .. math:: \Omega_c = \frac1B \sum_b \lVert \operatorname{softmax}(l^{(1)}_b) - \operatorname{softmax}(l^{(2)}_b) \rVert^2,

    l⁽¹⁾, l⁽²⁾ of shape (B, K): the K real-class logits under two independent draws of the critic's
    Gaussian noise. It is zero when the noise does not change the class probabilities.
    """
    for name, v in (("logits_1", logits_1), ("logits_2", logits_2)):
        if v.ndim != 2:
            raise ValueError(f"consistency_penalty: {name} must have shape (B, K), got {v.shape}")
    if logits_1.shape != logits_2.shape:
        raise ValueError(f"consistency_penalty: logits_1 and logits_2 must have one shape, got {logits_1.shape} "
                         f"and {logits_2.shape}")
    d = F.softmax(logits_1, axis=1) - F.softmax(logits_2, axis=1)
    return (d * d).sum(axis=1).mean()


def manifold_penalty(D, G, z, eps, gen):
    r"""The finite-difference manifold regulariser of [ManifoldReg] on the critic's logits l:

    .. math:: \Omega_m = \frac1B \sum_b \lVert l(G(z_b)) - l(G(z_b + \varepsilon \bar\delta_b)) \rVert^2,
       \qquad \bar\delta_b = \delta_b / \lVert \delta_b \rVert,\quad \delta_b \sim \mathcal N(0, I).

    For small ε this is :math:`\varepsilon^2 \lVert J_z\, l(G(z))\, \bar\delta\rVert^2`: the
    critic should change little along the image manifold that G traces. Only the critic is trained by
    it: G runs without gradients, on both batches at once (one set of batch-norm statistics), and the
    critic runs without its training noise, so that Ω_m measures the critic and not the noise.
    Like every call of G in training mode, the pass moves G's batch-norm running statistics.
    ``z`` (B, z_dim) Tensor; ``gen`` draws δ.
    """
    xp = get_xp(z.data)
    delta_bar = _unit(gen.standard_normal(z.shape).astype(z.data.dtype))
    with no_grad():
        x = G(tensor(xp.concatenate([z.data, z.data + z.data.dtype.type(eps) * delta_bar])))
    was_training = D.training
    D.eval()
    try:
        logits = D(x)[0]
    finally:
        D.train(was_training)
    B = z.shape[0]
    diff = logits[:B] - logits[B:]
    return (diff * diff).sum(axis=1).mean()


def vat_penalty(D, x, eps, gen, xi=0.1):
    r"""The virtual adversarial term of [VAT] on the critic's class probabilities
    :math:`p(y|x) = \operatorname{softmax}(l(x))` over the K real classes:

    .. math:: \Omega_{vat} = \frac1B \sum_b \mathrm{KL}\big(\hat p(\cdot|x_b)\,\big\|\,p(\cdot|x_b + r_b)\big),
       \qquad r_b = \varepsilon\, g_b / \lVert g_b\rVert,\quad
       g_b = \nabla_{r}\,\mathrm{KL}\big(\hat p(\cdot|x_b)\,\big\|\,p(\cdot|x_b + r)\big)\big|_{r = \xi d_b},

    :math:`d_b` a random unit vector, ξ a small step and :math:`\hat p` the current probabilities held
    constant. Near r = 0 the KL grows as ½ rᵀHr, so g_b ≈ ξHd_b: one step of the power iteration
    towards the direction in which the prediction changes fastest ([VAT]). ``x`` (B, 1, s, s)
    Tensor; the critic runs without its training noise in all three passes; ``gen`` draws d. Only
    the last pass carries gradients to the critic's parameters (r_b is a constant there).
    """
    xp = get_xp(x.data)
    x0 = x.data
    was_training = D.training
    D.eval()
    try:
        with no_grad():
            log_p = F.log_softmax(D(x)[0], axis=1).data  # log p-hat, a constant
        p = xp.exp(log_p)

        def kl(r):
            return (tensor(p) * (tensor(log_p) - F.log_softmax(D(tensor(x0) + r)[0], axis=1))).sum(axis=1).mean()

        d = _unit(gen.standard_normal(x0.shape).astype(x0.dtype))
        g = grad(kl)(d * x0.dtype.type(xi)).data
        r_adv = _unit(g) * x0.dtype.type(eps)
        return kl(tensor(r_adv))
    finally:
        D.train(was_training)
