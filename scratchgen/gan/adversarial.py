r"""Adversarial examples: the fast gradient sign method and projected gradient descent.

References
----------
* [FGSM] Goodfellow, Shlens & Szegedy, "Explaining and Harnessing Adversarial Examples", ICLR 2015,
  Sec. 4: the perturbation :math:`\eta = \epsilon\,\mathrm{sign}(\nabla_x J(\theta, x, y))`, the optimal
  max-norm-constrained step for the linearisation of the cost J around x (the panda that becomes a
  gibbon at ε = 0.007 of the pixel range).
* [PGD]  Madry, Makelov, Schmidt, Tsipras & Vladu, "Towards Deep Learning Models Resistant to
  Adversarial Attacks", ICLR 2018, Sec. 2.1, Eq. 2: the multi-step attack
  :math:`x^{t+1} = \Pi_{x + S}\big(x^t + \alpha\,\mathrm{sign}(\nabla_x L(\theta, x^t, y))\big)`,
  S the ℓ∞ ball of radius ε, started at a uniformly random point of the ball.

Conventions: images (N, C, H, W) with pixels in ``[lo, hi]`` (the digits: [-1, 1], so ε = 0.125 is one
of the 16 grey levels); J is the cross-entropy of the model's logits with the true label. Every
adversarial image is clipped back into ``[lo, hi]`` (a valid image), and PGD's projection is onto the
intersection of the ball and that box, which is a per-pixel clip.
"""
from __future__ import annotations

from ..autodiff import functional as AF
from ..autodiff.api import grad
from ..autodiff.tensor import no_grad, tensor
from ..backend import get_xp, rng
from ..validate import check_int, check_labels, check_number

__all__ = ["input_gradient", "fgsm", "pgd", "predict", "accuracy_under_attack"]


def _check(model, x, y, eps, who, lo, hi):
    xp = get_xp(x)
    if x.ndim != 4:
        raise ValueError(f"{who}: x must be images (N, C, H, W), got shape {tuple(x.shape)}")
    check_number(eps, "eps", who, min=0)
    check_number(lo, "lo", who)
    check_number(hi, "hi", who, min=lo, min_open=True)
    y = xp.asarray(check_labels(y, "y", who, 2**31, n=int(x.shape[0])))
    return xp, y


def input_gradient(model, x, y):
    r""":math:`\nabla_x J(\theta, x, y)` per image: the gradient of the summed cross-entropy
    :math:`\sum_b -\log\operatorname{softmax}(l(x_b))_{y_b}` (so that each image gets the gradient of its own
    loss), as an array of x's shape. The model's weights are constants."""
    xp = get_xp(x)
    idx = xp.arange(x.shape[0])

    def J(x_):
        return -AF.log_softmax(model(x_), axis=1)[idx, y].sum()

    return grad(J)(tensor(x)).data


def fgsm(model, x, y, eps, lo=-1.0, hi=1.0):
    r"""[FGSM]: :math:`\tilde x = \mathrm{clip}_{[lo, hi]}\big(x + \epsilon\,\mathrm{sign}(\nabla_x J(\theta, x, y))\big)`.

    Parameters
    ----------
    model : callable images -> logits (N, K), in eval mode (dropout off)
    x : array (N, C, H, W) in [lo, hi];  y : int labels (N,);  eps : the ℓ∞ budget, in pixel units
    """
    xp, y = _check(model, x, y, eps, "fgsm", lo, hi)
    eta = eps * xp.sign(input_gradient(model, x, y))  # the max-norm step of the linearised cost
    return xp.clip(x + eta.astype(x.dtype), lo, hi)


def pgd(model, x, y, eps, alpha=None, steps=10, lo=-1.0, hi=1.0, random_start=True, seed=0):
    r"""[PGD] Eq. 2: ``steps`` iterations of :math:`x^{t+1} = \Pi(x^t + \alpha\,\mathrm{sign}(\nabla_x J(\theta, x^t, y)))`,
    Π the projection onto :math:`\{x' : \lVert x' - x\rVert_\infty \le \epsilon\} \cap [lo, hi]^d`
    (a clip per pixel), from :math:`x^0 = \Pi(x + u)`, :math:`u \sim U[-\epsilon, \epsilon]^d` (or x itself).
    ``alpha`` defaults to :math:`2.5\epsilon/\mathrm{steps}` (Madry et al.'s ratio, so the walk can cross the ball)."""
    xp, y = _check(model, x, y, eps, "pgd", lo, hi)
    check_int(steps, "steps", "pgd", min=1)
    alpha = 2.5 * eps / steps if alpha is None else check_number(alpha, "alpha", "pgd", min=0)
    lower, upper = xp.maximum(x - eps, lo), xp.minimum(x + eps, hi)  # the ball within the box
    xt = x
    if random_start and eps > 0:
        xt = xp.clip(x + rng(seed).uniform(-eps, eps, x.shape).astype(x.dtype), lower, upper)
    for _ in range(steps):
        xt = xp.clip(xt + (alpha * xp.sign(input_gradient(model, xt, y))).astype(x.dtype), lower, upper)
    return xt


def predict(model, x, batch=512):
    """The model's class for each image, (N,) ints, without a tape."""
    xp = get_xp(x)
    with no_grad():
        return xp.concatenate([xp.argmax(model(tensor(x[i:i + batch])).data, axis=1)
                               for i in range(0, x.shape[0], batch)])


def accuracy_under_attack(model, x, y, eps_values, attack="fgsm", **kwargs):
    """Accuracy of ``model`` on ``attack(model, x, y, eps)`` for each ε of ``eps_values`` (a list of floats;
    ε = 0 is the clean accuracy). ``attack``: "fgsm" or "pgd" (``kwargs`` go to :func:`pgd`)."""
    if attack not in ("fgsm", "pgd"):
        raise ValueError(f"accuracy_under_attack: attack must be 'fgsm' or 'pgd', got {attack!r}")
    xp = get_xp(x)
    y = xp.asarray(y)
    out = []
    for eps in eps_values:
        x_adv = fgsm(model, x, y, eps) if attack == "fgsm" else pgd(model, x, y, eps, **kwargs)
        out.append(float((predict(model, x_adv) == y).mean()))
    return out
