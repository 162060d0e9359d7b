r"""Divergences between distributions, and the optimal discriminator that measures them.

References
----------
* [GAN]    Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014:
           Eq. (1) the value V(D, G); Proposition 1 the optimal discriminator;
           Theorem 1 (its proof) C(G) = -log 4 + 2 JSD(p_data || p_g).
* [fGAN]   Nowozin, Cseke, Tomioka, "f-GAN", NeurIPS 2016: Eq. (1) the f-divergence
           D_f(P||Q) = int q f(p/q); Table 1 the generators f.
* [LSGAN]  Mao et al., "Least Squares GANs", ICCV 2017, Section 3.2 (Pearson chi^2).
* [WGAN]   Arjovsky, Chintala, Bottou, "Wasserstein GAN", ICML 2017: Eq. (1) W1.
* [OT]     Peyre & Cuturi, "Computational Optimal Transport", 2019: Remark 2.30 (W_p on
           the line via quantile functions) and Remark 2.31 (W2 between Gaussians).
* [Sugiyama] Sugiyama, Suzuki, Kanamori, "Density Ratio Estimation in Machine Learning",
           2012: a probabilistic classifier gives the density ratio, r = D / (1 - D).

Conventions
-----------
* Discrete distributions are arrays of probabilities along ``axis`` (default -1);
  leading axes are a batch, so ``kl(p, q)`` of two (B, n) arrays has shape (B,).
* **Argument order.** Every divergence is written ``D(P || Q)`` and computed as the
  f-divergence :math:`D_f(P\|Q) = \sum_x Q(x)\, f\!\big(P(x)/Q(x)\big)` ([fGAN] Eq. 1):
  the *second* argument is the reference measure. In particular Pearson's
  :math:`\chi^2(P\|Q) = \sum_x (P(x) - Q(x))^2 / Q(x)` has **Q, the second argument, in the
  denominator**. Papers differ: [LSGAN] writes :math:`\chi^2_{Pearson}(P\|Q) = \int (Q-P)^2/P`,
  the first argument in the denominator (see :func:`pearson_chi2`).
* Zeros follow the limits: :math:`0 \log 0 = 0`; a term with :math:`Q(x) = 0 < P(x)`
  contributes :math:`P(x)\, f'(\infty)` with :math:`f'(\infty) = \lim_{t\to\infty} f(t)/t`,
  which is :math:`+\infty` for KL and chi^2, 1/2 for TV and (log 2)/2 for JSD.
* Natural logarithms (nats). Results keep the input's float dtype (float32 stays float32).
* These functions work on arrays (NumPy or CuPy, or Tensors, whose values are used): they
  are the exact quantities that the losses in :mod:`scratchgen.gan.losses` estimate.
  :func:`gan_value` also accepts Tensors for ``d`` or ``logits`` and is then differentiable,
  so that the optimal discriminator can be found by gradient ascent.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from .autodiff import functional as F
from .autodiff.tensor import Tensor
from .backend import get_xp

__all__ = [
    "FGenerator",
    "GENERATORS",
    "f_divergence",
    "kl",
    "jsd",
    "pearson_chi2",
    "total_variation",
    "optimal_discriminator",
    "density_ratio",
    "gan_value",
    "w1_1d",
    "w2_gaussian",
]

_LOG2 = math.log(2.0)


# ---------------------------------------------------------------------------
# Input checks
# ---------------------------------------------------------------------------
def _values(x, name):
    """The array behind ``x`` (a Tensor's data; Python data becomes a float array)."""
    if isinstance(x, Tensor):
        x = x.data
    if not hasattr(x, "dtype"):
        xp = get_xp()
        x = xp.asarray(x)
        if x.dtype.kind in "iub":
            x = x.astype(float)
    if x.dtype.kind in "iub":
        x = x.astype(get_xp(x).float64)
    if x.dtype.kind != "f":
        raise ValueError(f"{name} must be a real float array, got dtype {x.dtype}")
    return x


def _tol(dtype, atol):
    """Tolerance on sum(p) = 1 unless given: sqrt(machine epsilon) of the dtype, at least 1e-6
    (float32-normalised data cast to float64 is off by ~1e-7)."""
    if atol is not None:
        return atol
    return max(math.sqrt(float(get_xp().finfo(dtype).eps)), 1e-6)


def _check_pair(p, q, axis, atol, names=("p", "q"), normalised=True):
    """Validate two distributions: same shape, finite, non-negative, summing to 1 along ``axis``
    (the sums are not checked when ``normalised`` is False)."""
    p, q = _values(p, names[0]), _values(q, names[1])
    if p.shape != q.shape:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same shape, got {names[0]}.shape={p.shape} "
            f"and {names[1]}.shape={q.shape} (nothing is broadcast here)"
        )
    if p.ndim == 0 and not normalised:
        axis = 0
        p, q = p.reshape((1,)), q.reshape((1,))
        out = _check_pair(p, q, axis, atol, names, normalised)
        return out[0].reshape(()), out[1].reshape(())
    if p.ndim == 0:
        raise ValueError(f"{names[0]} and {names[1]} must have at least one axis, got scalars")
    if not -p.ndim <= axis < p.ndim:
        raise ValueError(f"axis={axis} is out of range for arrays of shape {p.shape}")
    for a, name in ((p, names[0]), (q, names[1])):
        xp = get_xp(a)
        if not bool(xp.all(xp.isfinite(a))):
            raise ValueError(f"{name} has non-finite entries (nan or inf)")
        if bool(xp.any(a < 0)):
            raise ValueError(f"{name} has negative entries (min {float(xp.min(a)):.6g}); probabilities must be >= 0")
        if normalised:
            s = xp.sum(a, axis=axis)
            tol = _tol(a.dtype, atol)
            worst = float(xp.max(xp.abs(s - 1)))
            if worst > tol:
                raise ValueError(
                    f"{name} must sum to 1 along axis {axis} within {tol:.3g}; a sum is off by {worst:.3g} "
                    f"(sums range over [{float(xp.min(s)):.6g}, {float(xp.max(s)):.6g}])"
                )
    return p, q


# ---------------------------------------------------------------------------
# f-divergences
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class FGenerator:
    r"""A convex generator :math:`f` with :math:`f'(\infty) = \lim_{t\to\infty} f(t)/t`.

    ``f(t)`` is evaluated on an array of ratios :math:`t = P/Q \ge 0` (t = 0 included);
    ``f_inf`` is used where :math:`Q = 0 < P`.
    """

    name: str
    f: Callable
    f_inf: float
    latex: str


def _xlogx(t):
    """t log t with 0 log 0 = 0 (no warning at t = 0)."""
    xp = get_xp(t)
    pos = t > 0
    return xp.where(pos, t * xp.log(xp.where(pos, t, 1)), 0)


def _kl_f(t):
    return _xlogx(t)


def _reverse_kl_f(t):
    xp = get_xp(t)
    with _ignore_divide(xp):
        return -xp.log(t)  # +inf at t = 0: mass of Q where P has none


def _pearson_f(t):
    return (t - 1) ** 2


def _neyman_f(t):
    xp = get_xp(t)
    with _ignore_divide(xp):
        return (1 - t) ** 2 / t


def _tv_f(t):
    return get_xp(t).abs(t - 1) * 0.5


def _js_f(t):
    # f(t) = 1/2 [ t log t - (1 + t) log((1 + t)/2) ]
    xp = get_xp(t)
    return 0.5 * (_xlogx(t) - (1 + t) * xp.log((1 + t) * 0.5))


def _gan_f(t):
    # f(t) = t log t - (1 + t) log(1 + t)       ([fGAN] Table 1, row "GAN")
    xp = get_xp(t)
    return _xlogx(t) - (1 + t) * xp.log1p(t)


def _hellinger_f(t):
    xp = get_xp(t)
    return (xp.sqrt(t) - 1) ** 2


class _ignore_divide:
    """``errstate(divide='ignore')`` where the backend has it (NumPy, CuPy)."""

    def __init__(self, xp):
        self.ctx = xp.errstate(divide="ignore") if hasattr(xp, "errstate") else None

    def __enter__(self):
        if self.ctx is not None:
            self.ctx.__enter__()

    def __exit__(self, *exc):
        if self.ctx is not None:
            return self.ctx.__exit__(*exc)
        return False


GENERATORS = {
    g.name: g
    for g in (
        FGenerator("kl", _kl_f, math.inf, r"t\log t"),
        FGenerator("reverse_kl", _reverse_kl_f, 0.0, r"-\log t"),
        FGenerator("pearson_chi2", _pearson_f, math.inf, r"(t-1)^2"),
        FGenerator("neyman_chi2", _neyman_f, 1.0, r"(1-t)^2/t"),
        FGenerator("total_variation", _tv_f, 0.5, r"\tfrac12|t-1|"),
        FGenerator("jensen_shannon", _js_f, 0.5 * _LOG2, r"\tfrac12[t\log t-(1+t)\log\tfrac{1+t}{2}]"),
        FGenerator("gan", _gan_f, 0.0, r"t\log t-(1+t)\log(1+t)"),
        FGenerator("squared_hellinger", _hellinger_f, 1.0, r"(\sqrt t-1)^2"),
    )
}
"""Named generators ([fGAN] Table 1), each with :math:`D_f(P\\|Q) = \\sum Q f(P/Q)`:

=====================  =======================================  ==============================
name                   f(t)                                     D_f(P||Q)
=====================  =======================================  ==============================
``kl``                 t log t                                  KL(P||Q)
``reverse_kl``         -log t                                   KL(Q||P)
``pearson_chi2``       (t-1)^2                                  sum (P-Q)^2/Q
``neyman_chi2``        (1-t)^2/t                                sum (P-Q)^2/P
``total_variation``    |t-1|/2                                  TV(P, Q)
``jensen_shannon``     [t log t - (1+t) log((1+t)/2)]/2         JSD(P||Q)
``gan``                t log t - (1+t) log(1+t)                 2 JSD(P||Q) - log 4
``squared_hellinger``  (sqrt(t)-1)^2                            sum (sqrt P - sqrt Q)^2
=====================  =======================================  ==============================
"""


def f_divergence(p, q, f, axis=-1, f_inf=None, atol=None):
    r"""The f-divergence :math:`D_f(P\|Q) = \sum_x Q(x)\, f\!\big(P(x)/Q(x)\big)` ([fGAN] Eq. 1).

    Terms with :math:`Q(x) = 0` follow the limit: :math:`P(x) f'(\infty)` with
    :math:`f'(\infty) = \lim_{t\to\infty} f(t)/t` (0 where also :math:`P(x) = 0`).

    Parameters
    ----------
    p, q : array (..., n, ...)
        Probabilities along ``axis``; same shape.
    f : str, FGenerator or callable
        A name in :data:`GENERATORS` (``"kl"``, ``"pearson_chi2"``, ...), a generator, or a
        function ``f(t)`` of an array of ratios :math:`t \ge 0` (use ``get_xp(t)`` inside).
    axis : int
        The axis that indexes the outcomes.
    f_inf : float, optional
        :math:`\lim_{t\to\infty} f(t)/t`; needed for a plain callable only if some
        :math:`Q(x) = 0 < P(x)`.
    atol : float, optional
        Tolerance on the sums being 1 (default: sqrt of the dtype's epsilon, at least 1e-6).

    Returns
    -------
    array (the shape of ``p`` without ``axis``)

    Raises
    ------
    ValueError
        Shapes differ, an entry is negative or not finite, a sum is not 1, ``f`` is an
        unknown name, or Q has zeros where P has mass and ``f_inf`` is unknown.
    """
    p, q = _check_pair(p, q, axis, atol)
    if isinstance(f, str):
        if f not in GENERATORS:
            raise ValueError(f"unknown f-divergence generator {f!r}; known: {sorted(GENERATORS)}")
        f = GENERATORS[f]
    if isinstance(f, FGenerator):
        f_fn, f_inf = f.f, (f.f_inf if f_inf is None else f_inf)
    elif callable(f):
        f_fn = f
    else:
        raise ValueError(f"f must be a generator name, an FGenerator or a callable, got {type(f).__name__}")
    xp = get_xp(p, q)
    q_pos = q > 0
    q_safe = xp.where(q_pos, q, 1)
    # t = P/Q where Q > 0 (a dummy 1 elsewhere, discarded below)
    t = xp.where(q_pos, p / q_safe, 1)
    # Q f(P/Q) where Q > 0
    inner = xp.where(q_pos, q * f_fn(t), 0)
    only_p = (~q_pos) & (p > 0)
    if bool(xp.any(only_p)):
        if f_inf is None:
            raise ValueError(
                "q has zeros where p has mass: pass f_inf = lim_{t->inf} f(t)/t for this generator"
            )
        # P f'(inf) where Q = 0 < P (p * inf = inf there)
        at_inf = p * f_inf if math.isfinite(f_inf) else xp.full_like(p, xp.inf)
        inner = inner + xp.where(only_p, at_inf, 0)
    return xp.sum(inner, axis=axis)


def kl(p, q, axis=-1, atol=None):
    r"""Kullback-Leibler divergence :math:`\mathrm{KL}(P\|Q) = \sum_x P(x)\log\frac{P(x)}{Q(x)}`.

    :math:`0\log(0/q) = 0`; :math:`+\infty` where :math:`Q(x) = 0 < P(x)`. Equals
    :func:`f_divergence` with :math:`f(t) = t\log t`.

    Parameters
    ----------
    p, q : array (..., n)
        Probabilities along ``axis``.

    Returns
    -------
    array (batch shape), in nats.
    """
    p, q = _check_pair(p, q, axis, atol)
    xp = get_xp(p, q)
    p_pos = p > 0
    q_safe = xp.where(q > 0, q, 1)
    p_safe = xp.where(p_pos, p, 1)
    # sum P log(P/Q) over the support of P
    terms = xp.where(p_pos, p * (xp.log(p_safe) - xp.log(q_safe)), 0)
    terms = xp.where(p_pos & (q <= 0), xp.inf, terms)
    return xp.sum(terms, axis=axis)


def jsd(p, q, axis=-1, atol=None):
    r"""Jensen-Shannon divergence :math:`\mathrm{JSD}(P\|Q) = \tfrac12\mathrm{KL}(P\|M) + \tfrac12\mathrm{KL}(Q\|M)`,
    :math:`M = \tfrac12(P+Q)`.

    Symmetric and bounded: :math:`0 \le \mathrm{JSD} \le \log 2`, with :math:`\log 2` exactly when the
    supports are disjoint. [GAN] Theorem 1: :math:`\max_D V(D,G) = 2\,\mathrm{JSD}(p_{data}\|p_g) - \log 4`.

    Parameters
    ----------
    p, q : array (..., n)

    Returns
    -------
    array (batch shape), in nats.
    """
    p, q = _check_pair(p, q, axis, atol)
    ### BEGIN SOLUTION
    m = (p + q) * 0.5
    return (kl(p, m, axis=axis, atol=math.inf) + kl(q, m, axis=axis, atol=math.inf)) * 0.5
    ### END SOLUTION


def pearson_chi2(p, q, axis=-1, atol=None):
    r"""Pearson's chi-squared divergence :math:`\chi^2(P\|Q) = \sum_x \frac{(P(x)-Q(x))^2}{Q(x)}`.

    **Convention: the second argument, Q, is in the denominator** (the f-divergence with
    :math:`f(t) = (t-1)^2`). [LSGAN] (Section 3.2) writes
    :math:`\chi^2_{Pearson}(P\|Q) = \int \frac{(Q-P)^2}{P}`, with the *first* argument in the
    denominator, so their :math:`\chi^2_{Pearson}(p_d + p_g \| 2p_g)` is our
    ``pearson_chi2(2 q, p + q)`` (unnormalised arguments), which equals
    ``2 * pearson_chi2(q, (p + q) / 2)``.

    :math:`+\infty` where :math:`Q(x) = 0 < P(x)`.

    Parameters
    ----------
    p, q : array (..., n)
        Non-negative. They need not sum to 1 (LSGAN's arguments sum to 2): only shapes,
        signs and finiteness are checked.

    Returns
    -------
    array (batch shape)
    """
    p, q = _check_pair(p, q, axis, atol, normalised=False)
    xp = get_xp(p, q)
    q_pos = q > 0
    d2 = (p - q) ** 2
    # (P - Q)^2 / Q where Q > 0; +inf where Q = 0 < P; 0 where both are 0
    terms = xp.where(q_pos, d2 / xp.where(q_pos, q, 1), xp.where(p > 0, xp.full_like(p, xp.inf), 0))
    return xp.sum(terms, axis=axis)


def total_variation(p, q, axis=-1, atol=None):
    r"""Total variation distance :math:`\mathrm{TV}(P,Q) = \tfrac12\sum_x |P(x) - Q(x)| = \sup_A |P(A)-Q(A)|`.

    The f-divergence with :math:`f(t) = \tfrac12|t-1|`; in [0, 1]. At its optimum the hinge
    discriminator loss equals :math:`2(1 - \mathrm{TV})` (see :func:`scratchgen.gan.losses.hinge_d_loss`).

    Parameters
    ----------
    p, q : array (..., n)

    Returns
    -------
    array (batch shape)
    """
    p, q = _check_pair(p, q, axis, atol)
    xp = get_xp(p, q)
    return xp.sum(xp.abs(p - q), axis=axis) * 0.5


# ---------------------------------------------------------------------------
# The optimal discriminator, the density ratio, the GAN value
# ---------------------------------------------------------------------------
def optimal_discriminator(p, q):
    r"""The discriminator that maximises V(D, G) for fixed G: :math:`D^*(x) = \frac{p(x)}{p(x) + q(x)}`
    ([GAN] Proposition 1, with :math:`p = p_{data}`, :math:`q = p_g`).

    Pointwise, :math:`p\log D + q\log(1-D)` has derivative :math:`p/D - q/(1-D)`, zero at
    :math:`D = p/(p+q)`. Where :math:`p = q = 0` the point carries no mass and any D is optimal;
    we return 1/2 there (the equilibrium value).

    Parameters
    ----------
    p, q : array (...)
        Probabilities or density values at the same points (non-negative, same shape;
        they need not sum to 1).

    Returns
    -------
    array (...), values in [0, 1].
    """
    p, q = _check_pair(p, q, -1, None, normalised=False)
    ### BEGIN SOLUTION
    xp = get_xp(p, q)
    s = p + q
    pos = s > 0
    return xp.where(pos, p / xp.where(pos, s, 1), 0.5)
    ### END SOLUTION


def density_ratio(d=None, *, logits=None):
    r"""The density ratio from a discriminator: :math:`r(x) = \frac{p(x)}{q(x)} = \frac{D(x)}{1 - D(x)}`.

    At :math:`D = D^* = p/(p+q)`, :math:`D/(1-D) = \frac{p/(p+q)}{q/(p+q)} = p/q`
    ([Sugiyama] Ch. 4; the "density ratio trick"). From a logit
    :math:`\ell` with :math:`D = \sigma(\ell)`: :math:`\sigma(\ell)/(1-\sigma(\ell)) = e^{\ell}`,
    the stable form (no division by :math:`1 - D` when D rounds to 1).

    Parameters
    ----------
    d : array or Tensor (...), optional
        Discriminator probabilities in [0, 1] (``inf`` where d = 1).
    logits : array or Tensor (...), optional
        Discriminator logits; exactly one of ``d`` and ``logits``.

    Returns
    -------
    array, or Tensor if the input is a Tensor (differentiable).
    """
    if (d is None) == (logits is None):
        raise ValueError("density_ratio: pass exactly one of d= (probabilities) and logits=")
    if logits is not None:
        if isinstance(logits, Tensor):
            return logits.exp()
        lg = _values(logits, "logits")
        return get_xp(lg).exp(lg)
    if isinstance(d, Tensor):
        dv = d.data
        xp = get_xp(dv)
        if bool(xp.any((dv < 0) | (dv > 1))):
            raise ValueError(f"d must lie in [0, 1], got values in [{float(xp.min(dv))}, {float(xp.max(dv))}]")
        return d / (1 - d)
    dv = _values(d, "d")
    xp = get_xp(dv)
    if bool(xp.any((dv < 0) | (dv > 1))) or not bool(xp.all(xp.isfinite(dv))):
        raise ValueError(f"d must lie in [0, 1], got values in [{float(xp.min(dv))}, {float(xp.max(dv))}]")
    with _ignore_divide(xp):
        return dv / (1 - dv)


_GAN_WEIGHTS = {"goodfellow": (1.0, 1.0), "half": (0.5, 0.5)}


def gan_value(p, q, d=None, *, logits=None, weights="goodfellow", axis=-1, atol=None):
    r"""The minimax value of [GAN] Eq. (1), evaluated exactly for discrete :math:`p = p_{data}`, :math:`q = p_g`:

    .. math::  V(D, G) = \mathbb{E}_{x\sim p}[\log D(x)] + \mathbb{E}_{x\sim q}[\log(1 - D(x))]
               = \sum_x p(x)\log D(x) + q(x)\log(1 - D(x)).

    ``weights="goodfellow"`` is Eq. (1) as printed, without 1/2 factors. Its maximum over D is
    attained at :func:`optimal_discriminator` and equals

    .. math::  V(D^*, G) = 2\,\mathrm{JSD}(p\|q) - \log 4 \qquad\text{([GAN] Theorem 1).}

    ``weights="half"`` is the form of some course notes,
    :math:`\tfrac12\mathbb{E}_p[\log D] + \tfrac12\mathbb{E}_q[\log(1-D)]`: the same maximiser,
    and the maximum :math:`\mathrm{JSD}(p\|q) - \log 2`. A pair ``(w_data, w_g)`` weights the
    two terms as given.

    Parameters
    ----------
    p, q : array (..., n)
        Probabilities along ``axis`` (constants).
    d : array or Tensor (..., n), optional
        D(x) at each outcome, in [0, 1]. A term whose weight p (or q) is 0 counts 0 even
        where log D = -inf (array input). Where D has rounded to exactly 1 but q > 0 the
        value is -inf: pass ``logits`` for such cases.
    logits : array or Tensor (..., n), optional
        Logits of D, :math:`D = \sigma(\ell)`; evaluated as
        :math:`p\log\sigma(\ell) + q\log\sigma(-\ell)`, finite for any logit. Exactly one
        of ``d`` and ``logits``.
    weights : "goodfellow", "half" or (float, float)

    Returns
    -------
    array (batch shape), or a Tensor (differentiable) if ``d`` or ``logits`` is a Tensor.
    """
    p, q = _check_pair(p, q, axis, atol)
    if isinstance(weights, str):
        if weights not in _GAN_WEIGHTS:
            raise ValueError(f"weights must be one of {sorted(_GAN_WEIGHTS)} or a pair of floats, got {weights!r}")
        w_p, w_q = _GAN_WEIGHTS[weights]
    else:
        w_p, w_q = (float(w) for w in weights)
    if (d is None) == (logits is None):
        raise ValueError("gan_value: pass exactly one of d= (probabilities) and logits=")
    x = d if d is not None else logits
    name = "d" if d is not None else "logits"
    if not isinstance(x, Tensor):
        x = _values(x, name)
    if tuple(x.shape) != tuple(p.shape):
        raise ValueError(f"{name} must have the shape of p and q, {p.shape}; got {name}.shape={tuple(x.shape)}")
    p, q = p.astype(x.dtype, copy=False), q.astype(x.dtype, copy=False)
    if isinstance(x, Tensor):
        if logits is not None:
            # log D = log sigma(l), log(1 - D) = log sigma(-l)
            log_d, log_1md = F.log_sigmoid(x), F.log_sigmoid(-x)
        else:
            log_d, log_1md = x.log(), (1 - x).log()
        return (log_d * p * w_p + log_1md * q * w_q).sum(axis=axis)
    xv = x
    xp = get_xp(xv)
    if logits is not None:
        # log sigma(l) = -softplus(-l), written stably
        log_d = -(xp.maximum(-xv, 0) + xp.log1p(xp.exp(-xp.abs(xv))))
        log_1md = -(xp.maximum(xv, 0) + xp.log1p(xp.exp(-xp.abs(xv))))
    else:
        if bool(xp.any((xv < 0) | (xv > 1))):
            raise ValueError(f"d must lie in [0, 1], got values in [{float(xp.min(xv))}, {float(xp.max(xv))}]")
        # log D where p > 0 and log(1 - D) where q > 0 (a dummy log 1 = 0 elsewhere)
        with _ignore_divide(xp):
            log_d = xp.log(xp.where(p > 0, xv, 1))
            log_1md = xp.log1p(-xp.where(q > 0, xv, 0))
    # 0 * log 0 = 0: a term with no mass contributes nothing
    t_p = xp.where(p > 0, p * log_d, 0)
    t_q = xp.where(q > 0, q * log_1md, 0)
    return xp.sum(t_p * w_p + t_q * w_q, axis=axis)


# ---------------------------------------------------------------------------
# Wasserstein distances
# ---------------------------------------------------------------------------
def w1_1d(x, y, x_weights=None, y_weights=None):
    r"""Wasserstein-1 distance between two distributions on the real line ([WGAN] Eq. 1; [OT] Rem. 2.30).

    On the line the optimal coupling is monotone, and

    .. math::  W_1(P, Q) = \int_0^1 |F^{-1}(u) - G^{-1}(u)|\,du = \int_{-\infty}^{\infty} |F(t) - G(t)|\,dt,

    with F, G the CDFs. We use the right-hand form: on the sorted pooled points
    :math:`z_{(1)} \le \dots \le z_{(N)}` both CDFs are constant between neighbours, so
    :math:`W_1 = \sum_i |F(z_{(i)}) - G(z_{(i)})|\,(z_{(i+1)} - z_{(i)})`, exact.

    With no weights, ``x`` and ``y`` are samples (each point weight 1/n, 1/m; the sizes may
    differ). With weights, they are the atoms of two discrete distributions and the result is
    their exact W1.

    Parameters
    ----------
    x : array (n,)
    y : array (m,)
    x_weights : array (n,), optional
        Non-negative, summing to 1.
    y_weights : array (m,), optional

    Returns
    -------
    0-d array
    """
    xv, yv = _values(x, "x"), _values(y, "y")
    for a, name in ((xv, "x"), (yv, "y")):
        if a.ndim != 1 or a.shape[0] == 0:
            raise ValueError(f"{name} must be a non-empty 1-D array of points on the line, got shape {a.shape}")
    xp = get_xp(xv, yv)
    n, m = xv.shape[0], yv.shape[0]
    dtype = xp.result_type(xv.dtype, yv.dtype)
    if x_weights is None:
        wx = xp.full((n,), 1.0 / n, dtype=dtype)
    else:
        wx = _values(x_weights, "x_weights")
    if y_weights is None:
        wy = xp.full((m,), 1.0 / m, dtype=dtype)
    else:
        wy = _values(y_weights, "y_weights")
    if wx.shape != (n,):
        raise ValueError(f"x_weights must have shape ({n},) like x, got {wx.shape}")
    if wy.shape != (m,):
        raise ValueError(f"y_weights must have shape ({m},) like y, got {wy.shape}")
    _check_pair(wx, wx, -1, None, names=("x_weights", "x_weights"))
    _check_pair(wy, wy, -1, None, names=("y_weights", "y_weights"))
    z = xp.concatenate([xv, yv]).astype(dtype)
    # signed mass: +w for atoms of P, -w for atoms of Q
    w = xp.concatenate([wx, -wy]).astype(dtype)
    order = xp.argsort(z, kind="stable")
    z, w = z[order], w[order]
    # F(t) - G(t) on [z_(i), z_(i+1))
    cdf_diff = xp.cumsum(w)[:-1]
    dz = z[1:] - z[:-1]
    return xp.sum(xp.abs(cdf_diff) * dz)


def _sqrtm_psd(a):
    """Square root of a symmetric positive semi-definite matrix by its eigendecomposition."""
    xp = get_xp(a)
    lam, v = xp.linalg.eigh((a + a.T) * 0.5)
    lam = xp.maximum(lam, 0)  # round-off can make tiny eigenvalues negative
    return (v * xp.sqrt(lam)) @ v.T


def w2_gaussian(mu1, sigma1, mu2, sigma2, squared=False):
    r"""Wasserstein-2 distance between Gaussians, in closed form ([OT] Remark 2.31):

    .. math::  W_2^2\big(\mathcal N(\mu_1,\Sigma_1), \mathcal N(\mu_2,\Sigma_2)\big)
               = \|\mu_1-\mu_2\|^2 + \operatorname{tr}\!\Big(\Sigma_1 + \Sigma_2
                 - 2\big(\Sigma_2^{1/2}\Sigma_1\Sigma_2^{1/2}\big)^{1/2}\Big).

    In 1-D this is :math:`(\mu_1-\mu_2)^2 + (s_1 - s_2)^2` with standard deviations s. The
    squared form is the Frechet distance that FID computes on Inception features.

    Parameters
    ----------
    mu1, mu2 : array (d,) or scalar
        Means.
    sigma1, sigma2 : array (d, d) or scalar
        **Covariances** (variances in 1-D), not standard deviations; symmetric PSD.
    squared : bool
        Return :math:`W_2^2` instead of :math:`W_2`.

    Returns
    -------
    0-d array
    """
    m1, m2 = _values(mu1, "mu1"), _values(mu2, "mu2")
    s1, s2 = _values(sigma1, "sigma1"), _values(sigma2, "sigma2")
    xp = get_xp(m1, m2, s1, s2)
    m1, m2 = xp.atleast_1d(m1), xp.atleast_1d(m2)
    d = m1.shape[0]
    if m1.ndim != 1 or m2.shape != m1.shape:
        raise ValueError(f"mu1 and mu2 must be vectors of the same length, got shapes {m1.shape} and {m2.shape}")
    s1, s2 = s1.reshape((1, 1)) if s1.ndim == 0 else s1, s2.reshape((1, 1)) if s2.ndim == 0 else s2
    for s, name in ((s1, "sigma1"), (s2, "sigma2")):
        if s.shape != (d, d):
            raise ValueError(f"{name} must be a ({d}, {d}) covariance matching the means, got shape {s.shape}")
        if float(xp.max(xp.abs(s - s.T))) > 1e-6 * max(1.0, float(xp.max(xp.abs(s)))):
            raise ValueError(f"{name} must be symmetric")
        if float(xp.min(xp.linalg.eigvalsh(s))) < -1e-6 * max(1.0, float(xp.max(xp.abs(s)))):
            raise ValueError(f"{name} must be positive semi-definite (it has a negative eigenvalue)")
    r2 = _sqrtm_psd(s2)
    # (Sigma2^{1/2} Sigma1 Sigma2^{1/2})^{1/2}, symmetric PSD, so eigh applies
    cross = _sqrtm_psd(r2 @ s1 @ r2)
    w2sq = xp.sum((m1 - m2) ** 2) + xp.trace(s1) + xp.trace(s2) - 2 * xp.trace(cross)
    w2sq = xp.maximum(w2sq, 0)  # round-off near 0
    return w2sq if squared else xp.sqrt(w2sq)
