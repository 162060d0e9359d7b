r"""A small style-based generator (Karras, Laine & Aila, CVPR 2019) for the digits.

References
----------
* [StyleGAN] Karras et al., "A Style-Based Generator Architecture for Generative Adversarial
  Networks", CVPR 2019: Section 2 and Figure 1 (b) (the mapping network f: z → w, a learned
  constant input, AdaIN after each convolution, Eq. 1; per-pixel noise B scaled per channel),
  Section 3.1 (style mixing: w_1 before a crossover layer, w_2 after), Section 3.2 / Appendix B
  (the truncation trick :math:`w' = \bar w + \psi\,(w - \bar w)`, :math:`\bar w` the running mean of w),
  Appendix C (the mapping network's learning rate is 0.01 of the others').
* [AdaIN] Huang & Belongie, ICCV 2017, Eq. 8 (:func:`scratchgen.nn.norms.adain`).

Synthesis at stage k (resolution :math:`4\cdot 2^k`) has 2(k+1) style layers: layer 0 is the
constant (C_0, 4, 4), layer 2j (j ≥ 1) upsamples 2× and convolves, every other layer convolves;
each then adds :math:`B_i\,\xi`, :math:`\xi \sim \mathcal N(0, 1)` one value per pixel shared by the
channels, applies leaky ReLU and :math:`\operatorname{AdaIN}(\cdot, A_i(w_i))`. Small: no
progressive growing here (the synthesis trains at the data's resolution), the critic is
:class:`~scratchgen.gan.progan.ProDiscriminator` at its last stage.
"""
from __future__ import annotations

from .. import backend as _backend
from .. import nn
from ..autodiff.functional import leaky_relu
from ..autodiff.primitives import broadcast_to, reshape, stack, tanh
from ..autodiff.tensor import Tensor, tensor
from ..backend import get_xp
from ..nn.norms import pixel_norm, upsample2x
from ..validate import bad, check_choice, check_int, check_number

__all__ = ["MappingNetwork", "SynthesisNetwork", "StyleGenerator", "truncate", "NOISE_MODES"]

SLOPE = 0.2
NOISE_MODES = ("random", "const", "none")


def truncate(w, w_bar, psi):
    r"""The truncation trick ([StyleGAN] Eq. 2 / App. B): :math:`w' = \bar w + \psi\,(w - \bar w)`.

    ``w`` (B, ..., w_dim), ``w_bar`` (w_dim,). :math:`\psi = 1` returns ``w`` itself (no arithmetic),
    :math:`\psi = 0` gives :math:`\bar w` for every row.
    """
    check_number(psi, "psi", "truncate")
    if psi == 1.0:
        return w
    return w_bar + (w - w_bar) * psi


class MappingNetwork(nn.Module):
    r"""f: z → w, pixel norm of z then ``n_layers`` equalised dense layers with leaky ReLU, each at
    learning-rate multiplier ``lr_mul`` ([StyleGAN] Fig. 1 (b): 8 layers of 512; here fewer, narrower)."""

    def __init__(self, z_dim=32, w_dim=32, n_layers=4, lr_mul=0.01, generator=None):
        super().__init__()
        self.z_dim = check_int(z_dim, "z_dim", "MappingNetwork", min=1)
        self.w_dim = check_int(w_dim, "w_dim", "MappingNetwork", min=1)
        check_int(n_layers, "n_layers", "MappingNetwork", min=1)
        g = _backend.rng(generator)
        dims = [self.z_dim] + [self.w_dim] * n_layers
        self.layers = nn.ModuleList([nn.EqualizedLinear(a, b, lr_mul=lr_mul, generator=g)
                                     for a, b in zip(dims[:-1], dims[1:])])

    def forward(self, z):
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise bad("MappingNetwork", "z", f"have shape (B, {self.z_dim})", tuple(z.shape))
        h = pixel_norm(z)
        for layer in self.layers:
            h = leaky_relu(layer(h), SLOPE)
        return h  # (B, w_dim)


class _StyleLayer(nn.Module):
    """[upsample] → [conv3×3] → + B·noise → bias → leaky ReLU → AdaIN(·, A(w))."""

    def __init__(self, c_in, c_out, w_dim, conv, up, gen):
        super().__init__()
        self.up, self.c_out = up, c_out
        self.conv = nn.EqualizedConv2d(c_in, c_out, 3, padding=1, bias=False, generator=gen) if conv else None
        self.noise_strength = nn.Parameter(get_xp().zeros((c_out,), dtype=_backend.default_dtype()))  # B, 0 at start
        self.bias = nn.Parameter(get_xp().zeros((c_out,), dtype=_backend.default_dtype()))
        self.adain = nn.AdaIN(c_out, w_dim, generator=gen)

    def forward(self, h, w, noise):
        if self.up:
            h = upsample2x(h)
        if self.conv is not None:
            h = self.conv(h)
        if noise is not None:  # (B, 1, H, W): one value per pixel, scaled per channel
            h = h + noise * reshape(self.noise_strength, (1, self.c_out, 1, 1))
        h = leaky_relu(h + reshape(self.bias, (1, self.c_out, 1, 1)), SLOPE)
        return self.adain(h, w)


class SynthesisNetwork(nn.Module):
    r"""g: (w_0, ..., w_{L-1}) → image, from a learned constant; ``channels[k]`` at resolution 4·2^k,
    L = 2·len(channels) style layers. ``noise_mode``: "random" draws :math:`\xi` from ``generator`` at
    each call, "const" uses noise drawn once at construction, "none" adds none."""

    def __init__(self, w_dim=32, channels=(32, 32), generator=None):
        super().__init__()
        if not (isinstance(channels, (tuple, list)) and channels and all(isinstance(c, int) and c >= 1
                                                                         for c in channels)):
            raise bad("SynthesisNetwork", "channels", "be a non-empty tuple of positive ints", channels)
        self.channels, self.w_dim = tuple(channels), w_dim
        self.gen = _backend.rng(generator)
        dt = _backend.default_dtype()
        self.const = nn.Parameter(get_xp().ones((1, channels[0], 4, 4), dtype=dt))
        layers = [_StyleLayer(channels[0], channels[0], w_dim, False, False, self.gen),
                  _StyleLayer(channels[0], channels[0], w_dim, True, False, self.gen)]
        for k in range(1, len(channels)):
            layers += [_StyleLayer(channels[k - 1], channels[k], w_dim, True, True, self.gen),
                       _StyleLayer(channels[k], channels[k], w_dim, True, False, self.gen)]
        self.layers = nn.ModuleList(layers)
        self.to_rgb = nn.EqualizedConv2d(channels[-1], 1, 1, gain=1.0, generator=self.gen)
        for i in range(len(layers)):  # the "const" noise: one fixed draw per layer
            s = 4 * 2 ** (i // 2)
            self.register_buffer(f"noise_{i}", self.gen.standard_normal((1, 1, s, s)).astype(dt))

    @property
    def n_ws(self):
        return len(self.layers)

    def _noise(self, i, B, shape, mode, gen):
        if mode == "none":
            return None
        if mode == "const":
            return tensor(getattr(self, f"noise_{i}"))
        return tensor(gen.standard_normal((B, 1) + shape).astype(_backend.default_dtype()))

    def forward(self, ws, noise_mode="random", noise_gen=None):
        """``ws`` (B, L, w_dim) → images (B, 1, s, s), s = 4·2^(len(channels)-1). With ``noise_mode``
        "random" the noise comes from ``noise_gen`` if given, else from the generator of the construction."""
        check_choice(noise_mode, "noise_mode", "SynthesisNetwork", NOISE_MODES)
        if ws.ndim != 3 or tuple(ws.shape[1:]) != (self.n_ws, self.w_dim):
            raise bad("SynthesisNetwork", "ws", f"have shape (B, {self.n_ws}, {self.w_dim})", tuple(ws.shape))
        B, gen = ws.shape[0], self.gen if noise_gen is None else noise_gen
        h = broadcast_to(self.const, (B,) + tuple(self.const.shape[1:]))
        for i, layer in enumerate(self.layers):
            s = 4 * 2 ** (i // 2)
            h = layer(h, ws[:, i], self._noise(i, B, (s, s), noise_mode, gen))
        return self.to_rgb(h)


class StyleGenerator(nn.Module):
    r""":math:`G(z) = g(f(z))` with style mixing and truncation.

    ``w_avg`` (a buffer) is :math:`\bar w`, the running mean of w over training
    (:meth:`track_w_avg`, decay ``w_avg_beta`` = 0.995 as in [StyleGAN]'s code).
    """

    def __init__(self, z_dim=32, w_dim=32, channels=(32, 32), mapping_layers=4, mapping_lr_mul=0.01,
                 w_avg_beta=0.995, tanh=False, generator=None):
        super().__init__()
        self.tanh = bool(tanh)  # squash the image with tanh (see ProGenerator); linear in [StyleGAN]
        g = _backend.rng(generator)
        self.z_dim, self.w_dim = z_dim, w_dim
        self.mapping = MappingNetwork(z_dim, w_dim, mapping_layers, mapping_lr_mul, generator=g)
        self.synthesis = SynthesisNetwork(w_dim, channels, generator=g)
        self.w_avg_beta = check_number(w_avg_beta, "w_avg_beta", "StyleGenerator", min=0, max=1)
        self.register_buffer("w_avg", get_xp().zeros((w_dim,), dtype=_backend.default_dtype()))

    @property
    def n_ws(self):
        return self.synthesis.n_ws

    def track_w_avg(self, w):
        r""":math:`\bar w \leftarrow \beta\,\bar w + (1-\beta)\,\operatorname{mean}_b w_b`, in place."""
        wd = w.data if isinstance(w, Tensor) else w
        self.w_avg *= self.w_avg_beta
        self.w_avg += (1.0 - self.w_avg_beta) * wd.mean(axis=0).astype(self.w_avg.dtype)

    def styles(self, z, z2=None, crossover=None, psi=1.0):
        r"""``ws`` (B, L, w_dim): w = f(z) at every layer, or with ``z2`` w_1 = f(z) at the layers
        ``< crossover`` (coarse) and w_2 = f(z2) from ``crossover`` on (fine) ([StyleGAN] sec. 3.1);
        then truncated towards :math:`\bar w` by ``psi``."""
        L = self.n_ws
        w = self.mapping(z)
        if self.training:
            self.track_w_avg(w)
        B = w.shape[0]
        ws = broadcast_to(reshape(w, (B, 1, self.w_dim)), (B, L, self.w_dim))
        if z2 is not None:
            check_int(crossover, "crossover", "StyleGenerator.styles", min=0, max=L)
            w2 = self.mapping(z2)
            ws = stack([w if i < crossover else w2 for i in range(L)], axis=1)
        return truncate(ws, tensor(self.w_avg), psi)

    def forward(self, z, psi=1.0, z2=None, crossover=None, noise_mode="random", noise_gen=None):
        x = self.synthesis(self.styles(z, z2, crossover, psi), noise_mode, noise_gen)
        return tanh(x) if self.tanh else x
