"""Toy data sets and the mode-coverage metric."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import scratchgen.data as D
from scratchgen.metrics import mode_coverage


def test_ring_protocol_centres():
    c = D.ring_centres(8, 1.0)
    k = np.arange(8)
    np.testing.assert_allclose(c, np.stack([np.cos(2 * np.pi * k / 8), np.sin(2 * np.pi * k / 8)], 1), atol=1e-7)
    assert len({tuple(np.round(r, 6)) for r in c}) == 8  # 8 distinct centres


def test_grid_protocol_centres():
    c = D.grid_centres(5, 2.0)
    assert c.shape == (25, 2)
    assert sorted(set(np.round(c[:, 0], 6))) == [-4, -2, 0, 2, 4]
    assert len({tuple(r) for r in c}) == 25


@pytest.mark.parametrize("make", [D.ring, D.grid])
def test_mixtures_are_seeded_float32_with_the_right_spread(make):
    a, b = make(4000, seed=3), make(4000, seed=3)
    np.testing.assert_array_equal(a.x, b.x)
    assert not np.array_equal(a.x, make(4000, seed=4).x)
    assert a.x.dtype == np.float32 and a.x.shape == (4000, 2)
    # distance to the nearest centre is Rayleigh(std): mean std*sqrt(pi/2)
    d = np.sqrt(((a.x[:, None, :] - a.centres[None]) ** 2).sum(-1)).min(1)
    expected = a.std * math.sqrt(math.pi / 2)
    se = a.std * math.sqrt((4 - math.pi) / 2) / math.sqrt(4000)
    assert abs(d.mean() - expected) < 5 * se


@given(seed=st.integers(0, 2**31 - 1))
def test_true_samples_are_captured_with_the_3_sigma_fraction(seed):
    d = D.ring(2500, seed=seed)
    cov = mode_coverage(d.x, d.centres, d.std)
    assert cov.modes_captured == 8
    # in 2-D, P(|z| <= 3) = 1 - exp(-9/2); binomial standard error over 2500 samples
    p = 1 - math.exp(-4.5)
    assert abs(cov.high_quality_fraction - p) < 5 * math.sqrt(p * (1 - p) / 2500)
    assert 0 <= cov.kl_from_uniform < 0.02


def test_collapsed_samples_capture_one_mode_with_kl_log_m():
    c = D.grid_centres()
    x = np.repeat(c[7:8], 100, axis=0) + 0.01
    cov = mode_coverage(x, c, 0.05)
    assert cov.modes_captured == 1 and cov.high_quality_fraction == 1.0
    assert abs(cov.kl_from_uniform - math.log(25)) < 1e-12
    far = mode_coverage(c + 1.0, c, 0.05)  # every sample between modes: none high-quality
    assert far.modes_captured == 0 and far.high_quality_fraction == 0 and far.kl_from_uniform == math.inf


def test_mode_coverage_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"share d; got \(3, 3\) and \(8, 2\)"):
        mode_coverage(np.zeros((3, 3)), D.ring_centres(), 0.01)


def test_mixture_1d_density_integrates_to_one_and_matches_samples():
    x = np.linspace(-10, 10, 20001)
    p = D.mixture_1d_pdf(x, means=(-2, 1), stds=(0.5, 1.0), weights=(0.3, 0.7))
    assert abs(np.trapezoid(p, x) - 1) < 1e-8
    s = D.mixture_1d(20000, means=(-2, 1), stds=(0.5, 1.0), weights=(0.3, 0.7), seed=0).x[:, 0]
    mean = 0.3 * -2 + 0.7 * 1
    var = 0.3 * (0.25 + 4) + 0.7 * (1 + 1) - mean**2
    assert abs(s.mean() - mean) < 5 * math.sqrt(var / 20000)
    with pytest.raises(ValueError, match="summing to 1"):
        D.mixture_1d(10, means=(0, 1), weights=(0.5, 0.6))


def test_load_toy_names():
    # ring8, grid25, swissroll, moons are 2-D; mixture1d is 1-D (load_toy's docstring)
    dims = {"ring8": 2, "grid25": 2, "swissroll": 2, "moons": 2, "mixture1d": 1}
    assert set(D.TOY_DATASETS) == set(dims)
    for name, d in dims.items():
        assert D.load_toy(name, 50, seed=0).x.shape == (50, d), name
    with pytest.raises(ValueError, match="unknown toy data set 'rings'"):
        D.load_toy("rings", 10)


def test_swiss_roll_follows_its_formula():
    # noise 0: x = theta (cos theta, sin theta) * 2 / (4.5 pi) with theta in [1.5 pi, 4.5 pi]
    x = D.swiss_roll(2000, noise=0.0, seed=0).x.astype(np.float64)
    theta = np.linalg.norm(x, axis=1) * 4.5 * np.pi / 2
    assert theta.min() >= 1.5 * np.pi - 1e-4 and theta.max() <= 4.5 * np.pi + 1e-4
    np.testing.assert_allclose(x, np.stack([np.cos(theta), np.sin(theta)], 1) * theta[:, None] * 2 / (4.5 * np.pi),
                               atol=1e-5)


def test_two_moons_lie_on_their_half_circles():
    # noise 0: upper moon on the unit circle about (0, 0) with y >= 0, lower about (1, 0.5) with y <= 0.5
    x = D.two_moons(2000, noise=0.0, seed=0).x.astype(np.float64)
    upper = np.abs(np.linalg.norm(x, axis=1) - 1) < 1e-5
    lower = np.abs(np.linalg.norm(x - [1.0, 0.5], axis=1) - 1) < 1e-5
    assert np.all(upper | lower)
    assert np.all(x[upper & ~lower, 1] >= -1e-6) and np.all(x[lower & ~upper, 1] <= 0.5 + 1e-6)
    assert abs(upper.mean() - 0.5) < 0.05


# ---------------------------------------------------------------------------
# Documented contracts, one by one
# ---------------------------------------------------------------------------
def test_grid_centres_follow_their_formula_and_centres_are_float32():
    # (i - (k-1)/2) spacing per axis, in the order of meshgrid(axis, axis, indexing="ij")
    k, spacing = 4, 1.5
    c = D.grid_centres(k, spacing)
    axis = (np.arange(k) - (k - 1) / 2) * spacing
    expected = np.array([[axis[i], axis[j]] for i in range(k) for j in range(k)])
    np.testing.assert_array_equal(c, expected.astype(np.float32))
    assert c.dtype == np.float32 and D.ring_centres().dtype == np.float32
    r = D.ring_centres(5, 2.5)
    np.testing.assert_allclose(np.linalg.norm(r, axis=1), 2.5, rtol=1e-6)
    np.testing.assert_allclose(r[1], [2.5 * math.cos(2 * math.pi / 5), 2.5 * math.sin(2 * math.pi / 5)], rtol=1e-6)


@pytest.mark.parametrize("call, message", [
    (lambda: D.ring_centres(0), "ring needs modes >= 1 and radius > 0, got modes=0, radius=1.0"),
    (lambda: D.ring_centres(8, -1.0), "ring needs modes >= 1 and radius > 0, got modes=8, radius=-1.0"),
    (lambda: D.grid_centres(0), "grid needs k >= 1 and spacing > 0, got k=0, spacing=2.0"),
    (lambda: D.grid(10, spacing=0.0), "grid needs k >= 1 and spacing > 0, got k=5, spacing=0.0"),
    (lambda: D.ring(0), "n must be a positive int, got 0"),
    (lambda: D.two_moons(2.5), "n must be a positive int, got 2.5"),
    (lambda: D.ring(10, std=-0.1), "std must be >= 0, got -0.1"),
    (lambda: D.mixture_1d(10, stds=(0.5, 0.0)), "stds must be positive"),
])
def test_bad_toy_arguments_are_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("make, modes", [(D.ring, 8), (D.grid, 25)])
def test_each_component_is_picked_uniformly(make, modes):
    d = make(20000, seed=5)
    nearest = np.argmin(((d.x[:, None, :] - d.centres[None]) ** 2).sum(-1), axis=1)
    counts = np.bincount(nearest, minlength=modes)
    p = 1 / modes  # each count is Binomial(n, 1/M): 5 standard errors
    assert np.all(np.abs(counts - 20000 * p) < 5 * math.sqrt(20000 * p * (1 - p)))
    assert d.std == (0.01 if modes == 8 else 0.05)


def test_swiss_roll_moons_and_1d_mixture_are_seeded():
    for make in (D.swiss_roll, D.two_moons, D.mixture_1d):
        a, b = make(300, seed=2), make(300, seed=2)
        np.testing.assert_array_equal(a.x, b.x)
        assert a.x.dtype == np.float32
        assert not np.array_equal(a.x, make(300, seed=3).x)


def test_mixture_1d_returns_its_means_as_centres_and_its_pdf_is_the_weighted_sum():
    from scipy import stats

    d = D.mixture_1d(10, means=(-1.0, 0.5, 3.0), stds=(0.2, 1.0, 0.7), weights=(0.2, 0.5, 0.3), seed=0)
    assert d.x.shape == (10, 1)
    np.testing.assert_array_equal(d.centres, [[-1.0], [0.5], [3.0]])
    x = np.linspace(-4, 6, 101).reshape(1, 101)  # any shape
    p = D.mixture_1d_pdf(x, means=(-1.0, 0.5, 3.0), stds=(0.2, 1.0, 0.7), weights=(0.2, 0.5, 0.3))
    expected = (0.2 * stats.norm.pdf(x, -1, 0.2) + 0.5 * stats.norm.pdf(x, 0.5, 1.0) + 0.3 * stats.norm.pdf(x, 3, 0.7))
    assert p.shape == (1, 101)
    np.testing.assert_allclose(p, expected, rtol=1e-12, atol=1e-300)
    # one std for every component, equal weights by default
    np.testing.assert_allclose(D.mixture_1d_pdf(0.0), 0.5 * stats.norm.pdf(0, -2, 0.5) + 0.5 * stats.norm.pdf(0, 2, 0.5),
                               rtol=1e-12)
