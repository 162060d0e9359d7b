r"""CycleGAN: two generators G: X → Y and F: Y → X trained on unpaired images, held together by cycles.

References
----------
* [CycleGAN] Zhu, Park, Isola & Efros, "Unpaired Image-to-Image Translation using Cycle-Consistent
  Adversarial Networks", ICCV 2017. Eq. 1 the adversarial loss :math:`\mathcal L_{GAN}(G, D_Y, X, Y)`,
  trained in its least-squares form (Sec. 4, "Training details"; Mao et al. 2017); Eq. 2 the
  cycle-consistency loss

  .. math::  \mathcal L_{cyc}(G, F) = \mathbb E_x\lVert F(G(x)) - x\rVert_1 + \mathbb E_y\lVert G(F(y)) - y\rVert_1;

  Eq. 3 the full objective :math:`\mathcal L_{GAN}(G, D_Y) + \mathcal L_{GAN}(F, D_X) + \lambda\mathcal L_{cyc}`,
  λ = 10; Sec. 5.2 ("Photo generation from paintings") the identity loss

  .. math::  \mathcal L_{identity}(G, F) = \mathbb E_y\lVert G(y) - y\rVert_1 + \mathbb E_x\lVert F(x) - x\rVert_1,

  weighted :math:`0.5\lambda`; Appendix 7.2 the generator (residual blocks, instance norm) and the
  70×70 PatchGAN discriminators (:class:`~scratchgen.gan.pix2pix.PatchGANDiscriminator`).
* [ResNet]  He, Zhang, Ren & Sun, CVPR 2016: the residual block :math:`h + f(h)`.
* [DistanceGAN] Benaim & Wolf, "One-Sided Unsupervised Domain Mapping", NeurIPS 2017, Eq. 5 the distance
  loss: a map between the domains should keep how far apart two images are, each distance standardised by
  the mean and standard deviation of the distances within its own domain,

  .. math::  \mathcal L_{dist}(G, X) = \mathbb E_{x_i, x_j}\Bigl|\frac{\lVert x_i - x_j\rVert_1 - \mu_X}{\sigma_X}
             - \frac{\lVert G(x_i) - G(x_j)\rVert_1 - \mu_Y}{\sigma_Y}\Bigr|;

  their Sec. 3 adds it to the cycle loss too. A permutation of the digits' classes keeps the cycle but not
  these distances.

If F is an exact inverse of G (:math:`F \circ G = \mathrm{id}_X`, :math:`G \circ F = \mathrm{id}_Y`) the
cycle loss is exactly 0; if G and F are identities on both domains, so is the identity loss.
"""
from __future__ import annotations

from .. import backend as _backend
from .. import nn
from ..autodiff.tensor import Tensor
from ..validate import check_int, check_number
from .pix2pix import l1_loss, norm_layer

__all__ = ["ResnetGenerator", "cycle_consistency_loss", "identity_loss", "cyclegan_g_loss", "pair_distances",
           "distance_stats", "distance_loss"]


class _ResidualBlock(nn.Module):
    r""":math:`h + f(h)`, f = Conv3 → norm → ReLU → Conv3 → norm (same channels, same side)."""

    def __init__(self, channels, norm, generator):
        super().__init__()
        self.f = nn.Sequential(nn.Conv2d(channels, channels, 3, 1, 1, generator=generator), norm_layer(norm, channels),
                               nn.ReLU(), nn.Conv2d(channels, channels, 3, 1, 1, generator=generator),
                               norm_layer(norm, channels))

    def forward(self, h):
        return h + self.f(h)


class ResnetGenerator(nn.Module):
    r"""The CycleGAN generator ([CycleGAN] Appendix 7.2), shrunk for 8×8 digits: (B, c, s, s) → (B, c, s, s).

    Conv3(c → w) → norm → ReLU; ``n_down`` times Conv3(stride 2) → norm → ReLU, doubling the channels and
    halving the side; ``n_blocks`` residual blocks; ``n_down`` times ConvTranspose4(stride 2) → norm → ReLU back;
    Conv3(w → c) → tanh. With ``n_down = 0`` the network stays at full resolution and its convolutions see
    :math:`5 + 4\,n_{blocks}` pixels (3 for the first, 4 more per block, 2 for the last): a more local map,
    which the digits' transforms are. That is the receptive field only with ``norm="none"`` (or batch norm in
    eval mode): instance norm shifts and scales each channel by its mean and variance over the whole image,
    so every pixel reaches every output through those two numbers per channel
    (``test_receptive_field_at_full_resolution``).
    """

    def __init__(self, channels=1, width=32, n_blocks=2, norm="instance", n_down=1, generator=None):
        super().__init__()
        check_int(width, "width", "ResnetGenerator", min=1)
        check_int(n_blocks, "n_blocks", "ResnetGenerator", min=0)
        check_int(n_down, "n_down", "ResnetGenerator", min=0)
        g = _backend.rng(generator)
        self.channels, self.n_down = channels, n_down
        c = [width * 2 ** i for i in range(n_down + 1)]  # channels at sides s, s/2, ...
        mods = [nn.Conv2d(channels, width, 3, 1, 1, generator=g), norm_layer(norm, width), nn.ReLU()]
        for i in range(n_down):  # side s/2^i -> s/2^(i+1)
            mods += [nn.Conv2d(c[i], c[i + 1], 3, 2, 1, generator=g), norm_layer(norm, c[i + 1]), nn.ReLU()]
        mods += [_ResidualBlock(c[-1], norm, g) for _ in range(n_blocks)]
        for i in range(n_down, 0, -1):  # and back up
            mods += [nn.ConvTranspose2d(c[i], c[i - 1], 4, 2, 1, generator=g), norm_layer(norm, c[i - 1]), nn.ReLU()]
        mods += [nn.Conv2d(width, channels, 3, 1, 1, generator=g), nn.Tanh()]
        self.net = nn.Sequential(*mods)

    def forward(self, x):
        k = 2 ** self.n_down
        if x.ndim != 4 or x.shape[1] != self.channels or x.shape[2] % k or x.shape[3] % k:
            raise ValueError(f"ResnetGenerator: expected x of shape (B, {self.channels}, H, W) with H and W divisible "
                             f"by {k}, received {tuple(x.shape)}")
        return self.net(x)


def cycle_consistency_loss(G, F, x, y):
    r""":math:`\mathcal L_{cyc}(G, F) = \mathbb E_x\lVert F(G(x)) - x\rVert_1 + \mathbb E_y\lVert G(F(y)) - y\rVert_1`
    ([CycleGAN] Eq. 2; each norm the mean absolute difference per pixel). ``G``, ``F``: callables X → Y and
    Y → X (modules or plain functions); ``x``, ``y``: batches of each domain. Returns
    ``(loss, G(x), F(y))``: the translations are reused by the adversarial terms."""
    G_x, F_y = G(x), F(y)
    return l1_loss(F(G_x), x) + l1_loss(G(F_y), y), G_x, F_y


def identity_loss(G, F, x, y):
    r""":math:`\mathcal L_{identity}(G, F) = \mathbb E_y\lVert G(y) - y\rVert_1 + \mathbb E_x\lVert F(x) - x\rVert_1`
    ([CycleGAN] Sec. 5.2): a generator handed an image of its own output domain should leave it alone."""
    return l1_loss(G(y), y) + l1_loss(F(x), x)


def cyclegan_g_loss(d_y_fake, d_x_fake, cycle, identity=None, lam=10.0, lam_identity=5.0):
    r"""The generators' side of [CycleGAN] Eq. 3, least-squares form:
    :math:`\tfrac12\mathbb E[(D_Y(G(x)) - 1)^2] + \tfrac12\mathbb E[(D_X(F(y)) - 1)^2] + \lambda\mathcal L_{cyc}
    + \lambda_{id}\mathcal L_{identity}` (λ = 10, :math:`\lambda_{id} = 0.5\lambda`; the ½ of Mao et al.'s Eq. 2,
    :func:`~scratchgen.gan.losses.lsgan_g_loss`)."""
    from .losses import lsgan_g_loss

    check_number(lam, "lam", "cyclegan_g_loss", min=0)
    check_number(lam_identity, "lam_identity", "cyclegan_g_loss", min=0)
    loss = lsgan_g_loss(d_y_fake, c=1.0) + lsgan_g_loss(d_x_fake, c=1.0) + lam * cycle
    if identity is not None and lam_identity:
        loss = loss + lam_identity * identity
    return loss


def pair_distances(a):
    r""":math:`\lVert a_i - a_j\rVert_1` (mean absolute difference per pixel) of every pair i < j of a batch
    (B, ...), in the order of ``triu_indices(B, 1)``: shape (B(B - 1)/2,). Tensors or arrays."""
    xp = _backend.get_xp(a.data if isinstance(a, Tensor) else a)
    B = a.shape[0]
    i, j = xp.triu_indices(B, 1)
    flat = a.reshape(B, -1)  # (B, D)
    return abs(flat[i] - flat[j]).mean(axis=1)


def distance_stats(images, max_pairs=200_000, seed=0, chunk=8192):
    r"""(:math:`\mu`, :math:`\sigma`) of :func:`pair_distances` over the pairs of ``images`` (N, ...), an array:
    the standardisation of [DistanceGAN] Eq. 5, computed once per domain on its training images.

    Every pair i < j when there are at most ``max_pairs`` of them (the 8×8 digits' halves: about 197,000);
    otherwise ``max_pairs`` pairs i ≠ j drawn uniformly from ``seed`` (MNIST: 1.5 million pairs of 1,024
    pixels would need gigabytes at once). Computed ``chunk`` pairs at a time."""
    check_int(max_pairs, "max_pairs", "distance_stats", min=1)
    check_int(chunk, "chunk", "distance_stats", min=1)
    xp = _backend.get_xp(images)
    N = images.shape[0]
    if N < 2:
        raise ValueError(f"distance_stats: expected at least 2 images, received {N}")
    flat = images.reshape(N, -1)  # (N, D)
    if N * (N - 1) // 2 <= max_pairs:
        i, j = xp.triu_indices(N, 1)
    else:
        g = _backend.rng(seed)
        i = g.integers(0, N, max_pairs)
        j = (i + g.integers(1, N, max_pairs)) % N  # j != i, uniform over the others
    d = xp.concatenate([abs(flat[i[k:k + chunk]] - flat[j[k:k + chunk]]).mean(axis=1)
                        for k in range(0, i.shape[0], chunk)])  # (P,)
    return float(d.mean()), float(d.std())


def distance_loss(a, G_a, stats_a, stats_b):
    r""":math:`\mathcal L_{dist}` of [DistanceGAN] Eq. 5 over the pairs of one minibatch: the mean of
    :math:`|(d^a_{ij} - \mu_a)/\sigma_a - (d^{G}_{ij} - \mu_b)/\sigma_b|`, :math:`d^a_{ij}` the
    :func:`pair_distances` of the inputs ``a`` (constants), :math:`d^{G}_{ij}` those of their images
    ``G_a`` (on the tape); ``stats_a``, ``stats_b``: :func:`distance_stats` of the two domains."""
    (mu_a, sd_a), (mu_b, sd_b) = stats_a, stats_b
    check_number(sd_a, "stats_a[1]", "distance_loss", min=0, min_open=True)
    check_number(sd_b, "stats_b[1]", "distance_loss", min=0, min_open=True)
    if a.shape[0] < 2 or a.shape[0] != G_a.shape[0]:
        raise ValueError(f"distance_loss: expected a and G_a with the same batch size >= 2, received "
                         f"{tuple(a.shape)} and {tuple(G_a.shape)}")
    d_a = pair_distances(a.data if isinstance(a, Tensor) else a)  # (P,), constants
    return abs((d_a - mu_a) / sd_a - (pair_distances(G_a) - mu_b) / sd_b).mean()
