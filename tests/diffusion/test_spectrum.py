"""The spectrum of x_t (scratchgen.diffusion.spectrum): every formula against a closed form written here or
against numpy's own FFT/sums, and the measured spectrum of noised digits against P_t = abar P_0 + (1 - abar) N."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scratchgen.data.digits import load_digits
from scratchgen.diffusion.ddpm import q_sample
from scratchgen.diffusion.schedules import make_schedule
from scratchgen.diffusion.spectrum import (
    destruction_step,
    noised_power_spectrum,
    power_spectrum_2d,
    radial_average,
    radial_frequencies,
    radial_power_spectrum,
    snr_per_frequency,
)


@given(st.integers(1, 4), st.integers(1, 3), st.sampled_from([4, 6, 8]), st.sampled_from([4, 8]), st.integers(0, 99))
@settings(max_examples=10, deadline=None, derandomize=True)
def test_parseval_total_power_is_the_mean_sum_of_squares(n, c, H, W, seed):
    x = np.random.default_rng(seed).standard_normal((n, c, H, W))
    P = power_spectrum_2d(x)
    assert P.shape == (H, W)
    sum_sq = (x**2).sum(axis=(2, 3)).mean()  # mean over images and channels of sum_pixels x^2
    assert abs(P.sum() - sum_sq) < 1e-10 * max(1.0, sum_sq)


def test_a_single_cosine_puts_its_power_at_its_radius():
    # x(n) = A cos(2 pi (ky n_y / H + kx n_x / W)), ky = 1, kx = 2 on 8x8: |x^(+-k)|^2 = A^2 H W / 4 each,
    # every other frequency 0; radius sqrt(1 + 4) = 2.24 rounds to 2
    H = W = 8
    A = 1.5
    ny, nx = np.meshgrid(np.arange(H), np.arange(W), indexing="ij")
    x = A * np.cos(2 * math.pi * (1 * ny / H + 2 * nx / W))[None, None]
    P = power_spectrum_2d(x)
    assert abs(P[1, 2] - A**2 * H * W / 4) < 1e-9 and abs(P[-1, -2] - A**2 * H * W / 4) < 1e-9
    P_rest = P.copy()
    P_rest[1, 2] = P_rest[-1, -2] = 0
    assert np.abs(P_rest).max() < 1e-9
    f, Pf = radial_average(P)
    r = np.floor(np.sqrt(np.fft.fftfreq(H)[:, None] ** 2 * H**2 + np.fft.fftfreq(W)[None, :] ** 2 * W**2) + 0.5)
    n_at_2 = int((r == 2).sum())  # frequencies in the radius-2 bin, counted here
    assert abs(Pf[list(f).index(2)] - 2 * A**2 * H * W / 4 / n_at_2) < 1e-9
    assert all(abs(v) < 1e-9 for fi, v in zip(f, Pf) if fi != 2)


def test_radius_bins_of_an_8x8_image():
    r = radial_frequencies(8, 8, np)
    assert r[0, 0] == 0 and r[0, 1] == 1 and r[1, 1] == 1 and r[4, 4] == 6 and r[0, 4] == 4 and r[3, 3] == 4
    assert sorted(set(r.ravel().tolist())) == [0, 1, 2, 3, 4, 5, 6]


def test_white_noise_has_a_flat_spectrum_at_its_variance():
    sigma2 = 0.7
    x = np.sqrt(sigma2) * np.random.default_rng(0).standard_normal((20000, 1, 8, 8))
    f, P = radial_power_spectrum(x)
    # each bin averages >= 20000 |.|^2 of unit-variance complex/real Gaussians: relative sd <= 1/sqrt(10000)
    assert np.abs(P / sigma2 - 1).max() < 0.03


def test_closed_forms_of_the_noised_spectrum_and_the_snr():
    P0 = np.array([10.0, 2.5, 0.3, 0.02])
    ab = np.array([1.0, 0.9, 0.5, 0.01])
    Pt = noised_power_spectrum(P0, ab, noise_power=2.0)
    snr = snr_per_frequency(P0, ab, noise_power=2.0)
    for i, a in enumerate(ab):
        for j, p in enumerate(P0):
            assert abs(Pt[i, j] - (a * p + (1 - a) * 2.0)) < 1e-12
            want = math.inf if a == 1 else a * p / ((1 - a) * 2.0)
            assert snr[i, j] == want or abs(snr[i, j] - want) < 1e-12 * want


def test_the_measured_spectrum_of_noised_digits_is_the_closed_form():
    """q_sample(x_0, t) on the 1,797 digits, 8 noise draws each: P_t(f) within 4 standard errors of
    abar P_0(f) + (1 - abar); the cross term abar(1-abar) Re(x0^ conj eps^) averages to 0."""
    x0, _ = load_digits(scale="unit", dtype=np.float64)
    x0 = np.concatenate([x0] * 8)  # (14376, 1, 8, 8)
    sched = make_schedule("linear", 1000)
    f, P0 = radial_power_spectrum(x0)
    counts = np.bincount(radial_frequencies(8, 8, np).ravel())
    g = np.random.default_rng(0)
    for t in (50, 200, 400, 700):
        ab = float(sched.alpha_bar[t])
        xt = q_sample(sched, x0, np.full(x0.shape[0], t), g.standard_normal(x0.shape))
        _, Pt = radial_power_spectrum(xt)
        want = ab * P0 + (1 - ab) * 1.0
        # standard error of a bin's mean over n images and m frequencies: per frequency |eps^|^2 has variance 1
        # (exponential) and the cross term 2 sqrt(ab (1-ab)) Re(x0^ conj eps^) variance 2 ab (1-ab) |x0^|^2;
        # k and -k carry the same value, so a bin holds m/2 independent ones: twice each variance
        n_m = x0.shape[0] * counts
        se = np.sqrt(((1 - ab) ** 2 * 2 + 4 * ab * (1 - ab) * P0) / n_m)
        assert np.all(np.abs(Pt - want) < 4 * se + 1e-12), (t, Pt, want, se)


def test_high_frequencies_of_the_digits_are_destroyed_first():
    x0, _ = load_digits(scale="unit", dtype=np.float64)
    f, P0 = radial_power_spectrum(x0)
    assert np.all(np.diff(P0) < 0)  # the digits' spectrum falls with frequency
    sched = make_schedule("linear", 1000)
    steps = destruction_step(P0, sched)
    assert np.all(np.diff(steps) <= 0) and steps[-1] < steps[1] / 5  # highest frequency gone 5x earlier
    # the step is where abar_t P0 / (1 - abar_t) crosses 1, i.e. abar_t < 1 / (1 + P0), written out
    ab = sched.alpha_bar[1:]
    for k, p in enumerate(P0):
        first = 1 + int(np.argmax(ab < 1 / (1 + p)))
        assert steps[k] == first


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="x"):
        power_spectrum_2d(np.zeros((3, 8, 8)))
    with pytest.raises(ValueError, match="alpha_bar"):
        noised_power_spectrum(np.ones(3), 1.5)
    with pytest.raises(ValueError, match="noise_power"):
        snr_per_frequency(np.ones(3), 0.5, noise_power=0)
