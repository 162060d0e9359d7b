r"""Context encoders: fill a hidden square of an image from its context, by L_rec on the hole + L_adv.

References
----------
* [CE] Pathak, Krähenbühl, Donahue, Darrell & Efros, "Context Encoders: Feature Learning by
  Inpainting", CVPR 2016. Eq. 1 the masked reconstruction loss

  .. math::  \mathcal L_{rec}(x) = \lVert \hat M \odot (x - F((1 - \hat M) \odot x)) \rVert_2^2,

  with :math:`\hat M` 1 on the dropped region and 0 elsewhere; Eq. 2 the adversarial loss
  :math:`\mathcal L_{adv} = \max_D \mathbb E_x[\log D(x) + \log(1 - D(F((1 - \hat M) \odot x)))]`;
  Eq. 3 the joint loss :math:`\mathcal L = \lambda_{rec}\mathcal L_{rec} + \lambda_{adv}\mathcal L_{adv}`,
  :math:`\lambda_{rec} = 0.999`, :math:`\lambda_{adv} = 0.001` (Sec. 3.2.3); Sec. 3.3 the "random block"
  regions, which :func:`scratchgen.data.pairs.square_mask` draws.

Here F is the U-Net of :mod:`scratchgen.gan.pix2pix` on two channels (the context with the hole at 0,
and :math:`\hat M`), where [CE] use an encoder-decoder with a channel-wise fully connected layer and no
skips; D judges the whole image with the prediction pasted into the hole,
:math:`\hat x = \hat M \odot F(\cdot) + (1 - \hat M) \odot x` (:func:`composite`). :math:`\mathcal L_{rec}`
is averaged over the hole's pixels (its squared norm divided by their number), so its scale does not
change with the hole's size.
"""
from __future__ import annotations

from ..autodiff.tensor import as_float_tensor
from ..validate import check_number
from . import losses as L

__all__ = ["composite", "reconstruction_loss", "context_encoder_g_loss"]


def composite(x, x_pred, M):
    r""":math:`\hat x = \hat M \odot x_{pred} + (1 - \hat M) \odot x`: the prediction in the hole, the image elsewhere."""
    return x_pred * M + x * (1 - M)


def reconstruction_loss(x, x_pred, M):
    r"""[CE] Eq. 1 per hole pixel: :math:`\lVert \hat M \odot (x - x_{pred}) \rVert_2^2 / \sum \hat M`, where
    :math:`x_{pred} = F((1 - \hat M) \odot x)`; x, x_pred, M of one shape (B, 1, H, W)."""
    x_pred = as_float_tensor(x_pred, "x_pred", "reconstruction_loss")
    if tuple(x.shape) != tuple(x_pred.shape) or tuple(M.shape) != tuple(x_pred.shape):
        raise ValueError(f"reconstruction_loss: x, x_pred and M must have one shape, received {tuple(x.shape)}, "
                         f"{tuple(x_pred.shape)} and {tuple(M.shape)}")
    n_hole = float(M.sum())
    if n_hole == 0:
        raise ValueError("reconstruction_loss: the mask M is empty (no hole to reconstruct)")
    return (((x_pred - x) * M) ** 2).sum() / n_hole


def context_encoder_g_loss(fake_logits, x, x_pred, M, lam_rec=0.999, lam_adv=0.001):
    r"""The encoder's side of [CE] Eq. 3: :math:`\lambda_{rec}\mathcal L_{rec} + \lambda_{adv}\,\mathbb E[-\log D(\hat x)]`
    (the non-saturating form of Eq. 2's generator term), :math:`\hat x` the composite D judged."""
    check_number(lam_rec, "lam_rec", "context_encoder_g_loss", min=0)
    check_number(lam_adv, "lam_adv", "context_encoder_g_loss", min=0)
    return lam_rec * reconstruction_loss(x, x_pred, M) + lam_adv * L.g_loss_nonsaturating(fake_logits)
