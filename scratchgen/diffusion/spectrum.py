r"""What the noise does to an image's frequencies: the radially averaged power spectrum of :math:`x_t`.

References
----------
* Ho, Jain & Abbeel (2020), DDPM, Eq. 4: :math:`x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon`.
* Rissanen, Heinonen & Solin (2023), *Generative Modelling with Inverse Heat Dissipation*, and
  Dieleman (2022), *Diffusion is spectral autoregression* (blog): natural images have a power
  spectrum that falls with frequency, so white noise of one power drowns the high frequencies
  first; the reverse process builds an image coarse to fine.

The derivation
--------------
Take the unitary 2-D DFT :math:`\hat x(k) = \frac{1}{\sqrt{HW}}\sum_n x(n)\,e^{-2\pi i\,k\cdot n/(H,W)}`
(``norm="ortho"``). It is linear, so :math:`\hat x_t = \sqrt{\bar\alpha_t}\,\hat x_0 + \sqrt{1-\bar\alpha_t}\,\hat\varepsilon`.
Unitary maps send white noise to white noise: :math:`\mathbb E|\hat\varepsilon(k)|^2 = \sigma_\varepsilon^2 = 1`
at every k (the noise power N = 1). The cross term has mean zero (ε is independent of :math:`x_0`), so

.. math:: P_t(k) = \mathbb E|\hat x_t(k)|^2 = \bar\alpha_t\,P_0(k) + (1-\bar\alpha_t)\,N,

and the signal-to-noise ratio of frequency k at step t is

.. math:: \mathrm{SNR}_t(k) = \frac{\bar\alpha_t\,P_0(k)}{(1-\bar\alpha_t)\,N}
          = \mathrm{SNR}(t)\,\frac{P_0(k)}{N},\qquad \mathrm{SNR}(t) = \frac{\bar\alpha_t}{1-\bar\alpha_t}.

Every frequency's SNR is the schedule's SNR(t) times one constant, its power relative to the
noise. A frequency is "destroyed" once its SNR falls below 1, at the first t with
:math:`\mathrm{SNR}(t) < N / P_0(k)`; SNR(t) falls with t, so the weaker a frequency, the earlier it
goes. Image spectra fall with |k| (for the digits: from the mean at k = 0 down by about two
decades at the highest frequencies), so the high frequencies are destroyed first and the
reverse process restores them last.

Averaging radially: :math:`P(f)` is the mean of :math:`P(k)` over the frequencies k whose radius
:math:`|k| = \sqrt{k_y^2 + k_x^2}` (in cycles per image) rounds to f; since the formula is affine in
:math:`P_0(k)`, it holds for the radial averages as well.
"""
from __future__ import annotations

from ..backend import get_xp, to_numpy
from ..validate import bad, check_number

__all__ = ["power_spectrum_2d", "radial_frequencies", "radial_average", "radial_power_spectrum",
           "noised_power_spectrum", "snr_per_frequency", "destruction_step"]


def _images(x, who):
    x = x.data if hasattr(x, "data") and not hasattr(x, "ndim") else x
    if getattr(x, "ndim", 0) != 4 or getattr(x.dtype, "kind", "") != "f" or x.shape[0] == 0:
        raise bad(who, "x", "be float images of shape (N, C, H, W)", getattr(x, "shape", type(x).__name__))
    return x


def power_spectrum_2d(x):
    r""":math:`P(k) = \frac{1}{NC}\sum_{n,c} |\hat x_{n,c}(k)|^2` with the unitary DFT: (H, W), float64.

    Unitary, so :math:`\sum_k P(k)` is the mean over images and channels of :math:`\sum_{\text{pixels}} x^2`
    (Parseval), and white noise of variance :math:`\sigma^2` has :math:`\mathbb E\,P(k) = \sigma^2` at every k.
    """
    x = _images(x, "power_spectrum_2d")
    xp = get_xp(x)
    X = xp.fft.fft2(x.astype(xp.float64), norm="ortho")  # (N, C, H, W) complex
    return (X.real**2 + X.imag**2).mean(axis=(0, 1))  # (H, W)


def radial_frequencies(H, W, xp=None):
    r"""The integer radius bin of each DFT frequency: :math:`\mathrm{round}(\sqrt{k_y^2 + k_x^2})`, (H, W) ints,
    with :math:`k_y \in \{0, 1, \dots, -1\}` cycles per image (``fftfreq(H) * H``)."""
    xp = xp or get_xp()
    ky = xp.fft.fftfreq(H) * H  # (H,) cycles per image
    kx = xp.fft.fftfreq(W) * W  # (W,)
    r = xp.sqrt(ky[:, None] ** 2 + kx[None, :] ** 2)  # (H, W)
    return xp.floor(r + 0.5).astype(xp.int64)


def radial_average(P):
    r"""The mean of ``P`` (H, W) over each radius bin of :func:`radial_frequencies`: ``(f, P(f))``, both (F,)."""
    xp = get_xp(P)
    H, W = P.shape[-2:]
    r = radial_frequencies(H, W, xp).reshape(-1)  # (HW,)
    counts = xp.bincount(r)  # (F,)
    sums = xp.bincount(r, weights=P.reshape(-1))
    keep = counts > 0
    f = xp.arange(counts.shape[0])
    return f[keep], sums[keep] / counts[keep]


def radial_power_spectrum(x):
    r"""The radially averaged power spectrum of images ``x`` (N, C, H, W): ``(f, P(f))``, f in cycles per image."""
    return radial_average(power_spectrum_2d(x))


def _alpha_bar(alpha_bar, who):
    xp = get_xp(alpha_bar) if hasattr(alpha_bar, "dtype") else get_xp()
    a = xp.asarray(alpha_bar, dtype=xp.float64)
    if bool(((a < 0) | (a > 1) | ~xp.isfinite(a)).any()):
        raise bad(who, "alpha_bar", "lie in [0, 1]", to_numpy(a).tolist() if a.size < 8 else f"array of {a.size}")
    return a


def noised_power_spectrum(P0, alpha_bar, noise_power=1.0):
    r""":math:`P_t(f) = \bar\alpha_t P_0(f) + (1 - \bar\alpha_t) N`: the spectrum of :math:`x_t` (module docstring).

    ``P0`` (F,), ``alpha_bar`` a number or (S,): returns (F,) or (S, F)."""
    check_number(noise_power, "noise_power", "noised_power_spectrum", min=0, min_open=True)
    a = _alpha_bar(alpha_bar, "noised_power_spectrum")
    xp = get_xp(a)
    P0 = xp.asarray(P0, dtype=xp.float64)
    return a[..., None] * P0 + (1 - a[..., None]) * noise_power


def snr_per_frequency(P0, alpha_bar, noise_power=1.0):
    r""":math:`\mathrm{SNR}_t(f) = \bar\alpha_t P_0(f) / ((1-\bar\alpha_t) N)`: (F,) or (S, F) as above.

    Infinite at :math:`\bar\alpha_t = 1` (t = 0, no noise)."""
    check_number(noise_power, "noise_power", "snr_per_frequency", min=0, min_open=True)
    a = _alpha_bar(alpha_bar, "snr_per_frequency")
    xp = get_xp(a)
    P0 = xp.asarray(P0, dtype=xp.float64)
    with_noise = xp.where(a < 1, 1 - a, xp.nan)[..., None]  # 1 - alpha_bar; NaN marks t = 0
    snr = a[..., None] * P0 / (with_noise * noise_power)
    return xp.where(xp.isnan(snr), xp.inf, snr)


def destruction_step(P0, schedule, noise_power=1.0):
    r"""For each frequency, the first t in 1..T with :math:`\mathrm{SNR}_t(f) < 1`: ints (F,) (T + 1 if never).

    Since :math:`\mathrm{SNR}_t(f) = \mathrm{SNR}(t) P_0(f)/N` and SNR(t) falls with t, a smaller
    :math:`P_0(f)` gives an earlier (or equal) step.
    """
    xp = get_xp(schedule.alpha_bar)
    snr = snr_per_frequency(P0, schedule.alpha_bar[1:], noise_power)  # (T, F), row t-1 is step t
    below = snr < 1
    first = xp.argmax(below, axis=0) + 1  # (F,) the first step below 1
    return xp.where(below.any(axis=0), first, schedule.T + 1)
