r"""h-space: the conv denoiser's bottleneck as a semantic latent (Kwon, Jeong & Uh 2023, "Asyrp").

References
----------
* Kwon, Jeong & Uh (2023), *Diffusion Models Already Have a Semantic Latent Space*: the deepest
  feature map of the U-Net, h (their "h-space"), shifted by :math:`\Delta h_t` during the first part
  of a deterministic DDIM run changes the attributes of the image; Sec. 3.2 (the *asymmetric*
  reverse process, their Eq. 4), Sec. 3.3 (editing only for :math:`t \ge t_\mathrm{edit}`), and their
  observation that the same :math:`\Delta h` works across samples and that h can be interpolated.
* Song, Meng & Ermon (2021), DDIM, Eq. 12 with η = 0.

The asymmetric step (Kwon et al. Eq. 4): with :math:`\tilde\varepsilon = \varepsilon_\theta(x_t \mid h + \Delta h)`
and :math:`\varepsilon = \varepsilon_\theta(x_t)`,

.. math:: x_{t'} = \sqrt{\bar\alpha_{t'}}\;\underbrace{\frac{x_t - \sqrt{1-\bar\alpha_t}\,\tilde\varepsilon}{\sqrt{\bar\alpha_t}}}_{P_t(\tilde\varepsilon):\ \hat x_0}
          + \underbrace{\sqrt{1-\bar\alpha_{t'}}\;\varepsilon}_{D_t(\varepsilon)}.

Shifting both terms ("symmetric") changes :math:`\hat x_0` and the direction back towards :math:`x_t`
together, and Kwon et al. found that the two nearly cancel; the asymmetric step moves only the
prediction of :math:`x_0`. Here the bottleneck is :math:`d` of :class:`~scratchgen.diffusion.models.ConvDenoiser`
(B, 2C, 4, 4) for 8×8 images, reached through its ``unet(x_t, e, h_edit)``. The models here are
tiny (C = 16: h has 512 numbers); ``demos/h_space.py`` measures what an edit does.
"""
from __future__ import annotations

import math

from .. import autodiff as ad
from ..autodiff import Tensor
from ..backend import get_xp
from ..backend import rng as _rng
from ..validate import check_int, check_number
from .samplers import ddim_timesteps

__all__ = ["eps_with_h", "ddim_h_space", "random_direction_like", "lerp"]


def _embed(model, t, batch):
    if hasattr(model, "label_emb"):  # a conditional denoiser: its unconditional branch (the null label)
        return model.embed(t, batch, None)
    return model.embed(t, batch)


def eps_with_h(model, xt, t, h_edit=None):
    r""":math:`\varepsilon_\theta(x_t, t)` with the bottleneck passed through ``h_edit(d) -> d'`` (or read by it):
    an array of x_t's shape. ``t`` an int; ``model`` a ``ConvDenoiser`` (a conditional one runs unconditionally)."""
    xp = get_xp(xt)
    t_arr = xp.full((xt.shape[0],), int(t), dtype=xp.int64)
    out = model.unet(ad.tensor(xt), _embed(model, t_arr, xt.shape[0]), h_edit)
    return out.data if isinstance(out, Tensor) else out


def ddim_h_space(model, schedule, x_T, steps=50, delta_h=None, t_edit=0, asymmetric=True, record=False):
    r"""Deterministic DDIM (η = 0) from ``x_T`` (B, C, H, W), optionally with the bottleneck shifted.

    Parameters
    ----------
    delta_h : callable ``(i, t) -> array`` (B or 1, 2C, H/2, W/2), or an array of that shape, or None
        The shift :math:`\Delta h_t` added to the bottleneck at the steps with :math:`t \ge t_\mathrm{edit}`.
        A callable may also return a full replacement by ignoring d (see ``replace``-style use in the demo).
    t_edit : int
        Edit only while :math:`t \ge t_\mathrm{edit}` (Kwon et al. Sec. 3.3); 0 edits every step.
    asymmetric : bool
        Kwon et al. Eq. 4 (the edit enters :math:`\hat x_0` only) if True; both terms if False.
    record : bool
        Also return the unedited bottleneck at every step: (S, B, 2C, H/2, W/2), in the order the steps run
        (from t = T down).

    Returns
    -------
    x_0 (B, C, H, W), and with ``record`` ``(x_0, hs, taus)`` where ``taus`` are the steps' t (decreasing).
    """
    check_int(steps, "steps", "ddim_h_space", min=1, max=schedule.T)
    check_int(t_edit, "t_edit", "ddim_h_space", min=0, max=schedule.T)
    xt = x_T.data if isinstance(x_T, Tensor) else x_T
    xp = get_xp(xt)
    taus = [int(v) for v in ddim_timesteps(schedule.T, steps)][::-1]  # T, ..., 1
    hs = []
    was = getattr(model, "training", False)
    model.eval()
    try:
        with ad.no_grad():
            for i, t in enumerate(taus):
                t_prev = taus[i + 1] if i + 1 < len(taus) else 0

                def keep(d):
                    hs.append(d.data.copy())
                    return d

                eps = eps_with_h(model, xt, t, keep if record else None)  # (B, ...) unedited
                eps_edit = eps
                if delta_h is not None and t >= t_edit:
                    shift = delta_h(i, t) if callable(delta_h) else delta_h
                    eps_edit = eps_with_h(model, xt, t, lambda d: d + ad.tensor(xp.asarray(shift, dtype=d.dtype)))
                ab, ab_prev = float(schedule.alpha_bar[t]), float(schedule.alpha_bar[t_prev])
                x0_hat = (xt - math.sqrt(1 - ab) * eps_edit) / math.sqrt(ab)  # P_t, Kwon Eq. 4
                direction = eps if asymmetric else eps_edit  # D_t
                xt = math.sqrt(ab_prev) * x0_hat + math.sqrt(1 - ab_prev) * direction
    finally:
        if was:
            model.train()
    if record:
        return xt, xp.stack(hs), xp.asarray(taus)
    return xt


def random_direction_like(delta, generator=None):
    """A direction of the same shape and the same norm per step as ``delta`` (S, ...), drawn at random: the
    control of an edit (does any shift of that size do the same?)."""
    g = _rng(generator)
    xp = get_xp(delta)
    r = xp.asarray(g.standard_normal(delta.shape), dtype=delta.dtype)
    axes = tuple(range(1, delta.ndim))
    norm = lambda a: xp.sqrt((a.astype(xp.float64) ** 2).sum(axis=axes, keepdims=True))  # noqa: E731
    return (r * (norm(delta) / norm(r)).astype(delta.dtype)).astype(delta.dtype)


def lerp(a, b, lam):
    """:math:`(1-\\lambda) a + \\lambda b`."""
    check_number(lam, "lam", "lerp")
    return (1 - lam) * a + lam * b
