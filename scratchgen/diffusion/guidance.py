r"""Class-conditional denoising and classifier-free guidance (Ho & Salimans 2022).

References
----------
* Ho & Salimans (2022), *Classifier-Free Diffusion Guidance*: Algorithm 1 (joint training of the
  conditional and the unconditional model by dropping the label to a null token :math:`\varnothing`
  with probability :math:`p_\mathrm{uncond}`), Eq. 6 (the guided prediction)

  .. math:: \tilde\varepsilon_\theta(x_t, c) = (1 + w)\,\varepsilon_\theta(x_t, c) - w\,\varepsilon_\theta(x_t, \varnothing),

  and Sec. 3.2: since :math:`\varepsilon^*(x_t, c) = -\sqrt{1-\bar\alpha_t}\,\nabla\log p_t(x_t \mid c)`,
  the guided prediction is the noise of the sharpened density
  :math:`\tilde p_t(x_t \mid c) \propto p_t(x_t \mid c)\, p_t(c \mid x_t)^{w}`
  (Bayes: :math:`\nabla\log p_t(c\mid x_t) = \nabla\log p_t(x_t\mid c) - \nabla\log p_t(x_t)`), the
  "implicit classifier" that replaces the trained classifier of Dhariwal & Nichol (2021).
* Dhariwal & Nichol (2021), *Diffusion Models Beat GANs on Image Synthesis*, Sec. 4: classifier
  guidance, the trade of diversity for per-class fidelity that the guidance weight w controls.

Conventions
-----------
Labels are ints 0..K-1 (K = 10 digits); the null label :math:`\varnothing` is the index K, one more
row of the label table. ``model(x_t, t, y)`` with y = None means :math:`\varnothing`. A
:class:`Guided` wraps a conditional model, its labels and w into the ``eps_model(x_t, t)`` that every
sampler of :mod:`scratchgen.diffusion.samplers` takes. w = 0 is the conditional model; w = -1 is the
unconditional one (Ho & Salimans write the same family with w ≥ 0).
"""
from __future__ import annotations

from .. import autodiff as ad
from .. import nn
from ..autodiff import Tensor
from ..backend import get_xp, to_numpy
from ..validate import bad, check_int, check_labels, check_number
from .ddpm import loss_simple
from .models import ConvDenoiser

__all__ = ["N_CLASSES", "ConditionalConvDenoiser", "drop_labels", "guided_eps", "Guided", "conditional_loss",
           "labelled_batch", "cycle_labels", "class_accuracy"]

#: the digits' classes; the null label is this index
N_CLASSES = 10


class ConditionalConvDenoiser(ConvDenoiser):
    r""":math:`\varepsilon_\theta(x_t, t, c)`: the :class:`~scratchgen.diffusion.models.ConvDenoiser` with a label.

    The label enters where the time does: a learnt row :math:`E_c` of a table (K + 1, E) is added to
    the projected time embedding before its SiLU,

    .. math:: e = \mathrm{SiLU}\big(W_e\,e(t) + b_e + E_c\big),\qquad c \in \{0, \dots, K-1, \varnothing = K\},

    and every residual block receives e (as in Ho & Salimans' U-Net, and Dhariwal & Nichol's class
    embedding added to the timestep embedding). The table starts at zero, so at initialisation every
    label, :math:`\varnothing` included, gives the unconditional network.
    """

    def __init__(self, in_channels: int = 1, channels: int = 32, time_dim: int = 32, n_classes: int = N_CLASSES,
                 dtype=None, generator=None):
        from ..backend import rng

        g = rng(generator)
        super().__init__(in_channels, channels, time_dim, dtype=dtype, generator=g)
        self.n_classes = check_int(n_classes, "n_classes", "ConditionalConvDenoiser", min=1)
        self.label_emb = nn.Embedding(self.n_classes + 1, 2 * self.time_dim, dtype=dtype, generator=g)  # row K: null
        self.label_emb.weight.data[...] = 0

    @property
    def null_label(self) -> int:
        """The index of :math:`\\varnothing`, K."""
        return self.n_classes

    def labels(self, y, batch):
        """``y`` as an int array (B,) in 0..K (K = null); None gives B null labels."""
        xp = get_xp(self.label_emb.weight.data)
        if y is None:
            return xp.full((batch,), self.null_label, dtype=xp.int64)
        y = xp.asarray(to_numpy(y.data if isinstance(y, Tensor) else y))
        return xp.asarray(check_labels(y, "y", "ConditionalConvDenoiser", self.n_classes + 1, n=batch))

    def forward(self, xt, t, y=None):
        if xt.ndim != 4 or xt.shape[1] != self.in_channels or xt.shape[2] % 2 or xt.shape[3] % 2:
            raise ValueError(f"ConditionalConvDenoiser: x_t must have shape (B, {self.in_channels}, H, W) with even "
                             f"H, W, got {tuple(xt.shape)}")
        if not isinstance(xt, Tensor):
            xt = ad.tensor(xt)
        return self.unet(xt, self.embed(t, xt.shape[0], y))

    def embed(self, t, batch, y=None):
        r"""The embedding :math:`e = \mathrm{SiLU}(W_e\,e(t) + b_e + E_c)`: (B, E)."""
        from .models import timestep_embedding

        emb = timestep_embedding(t, self.time_dim, like=self.time_proj.weight.data)  # (B, time_dim)
        if emb.shape[0] != batch:
            raise ValueError(f"ConditionalConvDenoiser: t has {emb.shape[0]} rows but x_t has {batch}")
        c = self.labels(y, batch)  # (B,)
        return nn.functional.silu(self.time_proj(emb) + self.label_emb(c), inplace=True)  # (B, E)


def drop_labels(y, p_uncond, generator, null=N_CLASSES):
    r"""Ho & Salimans, Algorithm 1, line 3: :math:`c \leftarrow \varnothing` with probability :math:`p_\mathrm{uncond}`.

    Each label is replaced by ``null`` independently, by one uniform draw per label from ``generator``.
    Returns a new int array (B,).
    """
    check_number(p_uncond, "p_uncond", "drop_labels", min=0, max=1)
    xp = get_xp(y)
    u = xp.asarray(generator.random(y.shape[0]))  # (B,) one draw per label
    return xp.where(u < p_uncond, xp.asarray(null, dtype=y.dtype), y)


def guided_eps(eps_cond, eps_uncond, w):
    r"""Ho & Salimans Eq. 6: :math:`\tilde\varepsilon = (1 + w)\,\varepsilon(x_t, c) - w\,\varepsilon(x_t, \varnothing)`.

    Arrays of one shape; w a number. Equivalently :math:`\varepsilon(x_t, c) + w\,(\varepsilon(x_t, c) -
    \varepsilon(x_t, \varnothing))`: the step from the unconditional prediction towards the conditional
    one, extrapolated by w.
    """
    w = check_number(w, "w", "guided_eps")
    if tuple(eps_cond.shape) != tuple(eps_uncond.shape):
        raise ValueError(f"guided_eps: eps_cond and eps_uncond must have one shape, got {tuple(eps_cond.shape)} "
                         f"and {tuple(eps_uncond.shape)}")
    dtype = eps_cond.dtype
    return dtype.type(1 + w) * eps_cond - dtype.type(w) * eps_uncond


class Guided(nn.Module):
    r"""The guided denoiser :math:`\tilde\varepsilon_\theta(x_t, c)` as a sampler's ``eps_model(x_t, t)``.

    ``labels``: ints (B,) in 0..K-1, the classes asked for (one per sample of the batch), or None for
    the unconditional model. ``w``: the guidance weight. For w ≠ 0 the conditional and the
    unconditional predictions come from one call on the batch doubled, ``[x_t, x_t]`` with labels
    ``[c, ∅]``, then :func:`guided_eps`.
    """

    def __init__(self, model, labels=None, w=0.0):
        super().__init__()
        self.model = model
        self.w = check_number(w, "w", "Guided")
        if labels is not None:
            labels = to_numpy(labels)
            labels = check_labels(labels, "labels", "Guided", model.n_classes)
        self.y = labels  # (B,) on the host, or None

    def forward(self, xt, t):
        xp = get_xp(xt.data if isinstance(xt, Tensor) else xt)
        B = xt.shape[0]
        if self.y is None:
            return self.model(xt, t, None)  # eps(x_t, null)
        if self.y.shape[0] != B:
            raise ValueError(f"Guided: {self.y.shape[0]} labels but x_t has {B} rows")
        y = xp.asarray(self.y)
        if self.w == 0:
            return self.model(xt, t, y)  # eps(x_t, c)
        x = xt.data if isinstance(xt, Tensor) else xt
        t2 = xp.concatenate([xp.asarray(to_numpy(t))] * 2)  # (2B,)
        y2 = xp.concatenate([y, xp.full_like(y, self.model.null_label)])  # [c, null]
        both = self.model(xp.concatenate([x, x]), t2, y2)  # (2B, ...): [eps(x_t, c), eps(x_t, null)]
        eps = both.data if isinstance(both, Tensor) else both
        return guided_eps(eps[:B], eps[B:], self.w)  # (B, ...)


def cycle_labels(n, n_classes=N_CLASSES, xp=None):
    """Labels 0, 1, ..., K-1, 0, 1, ... for n samples (a balanced request): an int64 array (n,)."""
    check_int(n, "n", "cycle_labels", min=1)
    xp = xp or get_xp()
    return xp.arange(n, dtype=xp.int64) % n_classes


def labelled_batch(data, n, generator, labels):
    r"""A training minibatch with its labels: ``(z_0 (n, ...), y (n,))``, rows drawn with replacement.

    ``data`` is a DDPM run's data (``train_x`` (N, ...), ``to_model``); ``labels`` the N labels of its
    ``train_x`` rows.
    """
    if data.train_x is None or labels is None or labels.shape[0] != data.train_x.shape[0]:
        raise bad("labelled_batch", "labels", "give one label per training row (a conditional run needs labelled "
                  "data: the digits)", None if labels is None else tuple(labels.shape))
    idx = generator.integers(0, data.train_x.shape[0], size=n)
    return data.to_model(data.train_x[idx]), labels[idx]


def conditional_loss(schedule, model, z0, y, p_uncond, generator, low_discrepancy=False):
    r"""Ho & Salimans, Algorithm 1: drop labels to :math:`\varnothing` with probability
    :math:`p_\mathrm{uncond}`, then :math:`L_\mathrm{simple}` (Ho Eq. 14) of the conditional network

    .. math:: \mathbb E_{t, x_0, c, \varepsilon}\big\lVert \varepsilon -
              \varepsilon_\theta(\sqrt{\bar\alpha_t}x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon,\ t,\ c')\big\rVert^2,
              \qquad c' = \varnothing \text{ w.p. } p_\mathrm{uncond}, \text{ else } c.

    One network learns both :math:`\varepsilon(x_t, c)` and :math:`\varepsilon(x_t, \varnothing)`.
    """
    c = drop_labels(y, p_uncond, generator, model.null_label)  # (B,)

    def eps_model(xt, t):
        return model(xt, t, c)

    return loss_simple(schedule, eps_model, z0, seed=generator, low_discrepancy=low_discrepancy)


def class_accuracy(images, labels, model=None) -> float:
    """The fraction of ``images`` (N, 1, 8, 8) in [-1, 1] that the shipped digits classifier
    (:func:`scratchgen.metrics.features.digit_log_probs`) assigns to ``labels`` (N,)."""
    from ..metrics.features import digit_log_probs

    logp = digit_log_probs(images, model)  # (N, 10)
    xp = get_xp(logp)
    y = xp.asarray(check_labels(to_numpy(labels), "labels", "class_accuracy", N_CLASSES, n=int(logp.shape[0])))
    return float((xp.argmax(logp, axis=1) == y).mean())
