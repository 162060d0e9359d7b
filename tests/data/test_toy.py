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


@pytest.mark.parametrize("make", [D.ring, D.grid, D.gauss8])
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
    # ring8, grid25, swissroll, moons, gauss8, checkerboard are 2-D; mixture1d is 1-D (load_toy's docstring)
    dims = {"ring8": 2, "grid25": 2, "swissroll": 2, "moons": 2, "mixture1d": 1, "gauss8": 2, "checkerboard": 2}
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


# ---------------------------------------------------------------------------
# The sets for density models and their exact log-densities
# ---------------------------------------------------------------------------
def test_gauss8_is_eight_gaussians_of_std_0_2_on_the_circle_of_radius_2():
    d = D.gauss8(10, seed=0)
    k = np.arange(8)
    np.testing.assert_allclose(d.centres, 2 * np.stack([np.cos(2 * np.pi * k / 8), np.sin(2 * np.pi * k / 8)], 1),
                               atol=1e-6)
    assert d.std == 0.2 and d.x.shape == (10, 2) and d.x.dtype == np.float32


def test_gauss8_log_density_is_the_equal_weight_mixture_by_scipy():
    from scipy import special, stats

    k = np.arange(8)
    centres = 2 * np.stack([np.cos(2 * np.pi * k / 8), np.sin(2 * np.pi * k / 8)], 1)
    x = np.random.default_rng(0).uniform(-3, 3, (50, 2))
    x[0] = [100.0, 0.0]  # far out: exp underflows, log-sum-exp does not
    logs = np.stack([stats.multivariate_normal(c, 0.04 * np.eye(2)).logpdf(x) for c in centres])  # (8, 50)
    expected = special.logsumexp(logs, axis=0) - math.log(8)
    assert np.all(np.abs(D.gauss8_log_density(x) - expected) < 1e-9 * (1 + np.abs(expected)))
    assert D.gauss8_log_density(x.reshape(5, 10, 2)).shape == (5, 10)  # any leading shape


def _grid(lim, n):
    """Midpoints of an n x n grid over [-lim, lim]^2, and the area h^2 of one cell."""
    h = 2 * lim / n
    c = -lim + h * (np.arange(n) + 0.5)
    xx, yy = np.meshgrid(c, c)
    return np.stack([xx.ravel(), yy.ravel()], 1), h * h


def test_the_log_densities_integrate_to_one():
    # gauss8: centres at radius 2, so [-4, 4]^2 reaches 10 sigma beyond each: the mass outside is < e^-50;
    # the midpoint rule on a Gaussian of width sigma with spacing h errs by about exp(-2 pi^2 sigma^2 / h^2),
    # here exp(-2 pi^2 0.04 / 0.0004) = e^-1974. What is left is rounding.
    x, area = _grid(4.0, 400)
    assert abs(np.exp(D.gauss8_log_density(x)).sum() * area - 1) < 1e-10
    # checkerboard: the grid's cells tile each unit square exactly (100 x 100 of side 0.01), no midpoint on
    # an edge, so the sum is 8 * 100^2 * 0.01^2 / 8 = 1 up to rounding
    x, area = _grid(3.0, 600)
    p = np.exp(D.checkerboard_log_density(x))
    assert abs(p.sum() * area - 1) < 1e-12
    assert np.all((p == 0) | (np.abs(p - 1 / 8) < 1e-15))


def test_checkerboard_entropy_is_log_8():
    # H = -integral of p log p = -(8 unit cells) * (1/8) * log(1/8) = log 8, by the grid and by Monte Carlo
    x, area = _grid(3.0, 600)
    lp = D.checkerboard_log_density(x)
    inside = np.isfinite(lp)
    H = -(np.exp(lp[inside]) * lp[inside]).sum() * area
    assert abs(H - math.log(8)) < 1e-12
    H_mc, se = D.monte_carlo_entropy("checkerboard", 100_000, seed=1)
    assert abs(H_mc - math.log(8)) < 1e-12 and se == 0.0


def test_gauss8_entropy_by_monte_carlo_agrees_with_quadrature():
    # -integral of p log p on the grid of the integral test (exact to far below the Monte Carlo error)
    x, area = _grid(4.0, 400)
    lp = D.gauss8_log_density(x)
    H = -(np.exp(lp) * lp).sum() * area
    H_mc, se = D.monte_carlo_entropy("gauss8", 200_000, seed=0)
    assert 0.001 < se < 0.003  # sd(log p) is about 1 for a 2-D Gaussian mixture: 1/sqrt(2e5) = 0.0022
    assert abs(H_mc - H) < 5 * se
    # the modes barely overlap: H is within 0.003 of log 8 + log(2 pi e sigma^2), the entropy of 8 disjoint ones
    assert abs(H - (math.log(8) + math.log(2 * math.pi * math.e * 0.04))) < 0.003


def test_checkerboard_samples_are_uniform_on_the_eight_cells():
    d = D.checkerboard(40_000, seed=3)
    x = d.x.astype(np.float64)
    assert d.x.dtype == np.float32 and d.centres is None
    assert np.all(np.isfinite(D.checkerboard_log_density(d.x)))  # every sample on a cell with i + j even
    cell = (np.floor(x[:, 0] + 2) * 4 + np.floor(x[:, 1] + 2)).astype(int)
    counts = np.bincount(cell, minlength=16)[[i * 4 + j for i in range(4) for j in range(4) if (i + j) % 2 == 0]]
    p = 1 / 8  # Binomial(n, 1/8) each: 5 standard errors
    assert np.all(np.abs(counts - 40_000 * p) < 5 * math.sqrt(40_000 * p * (1 - p)))
    u = x - np.floor(x)  # the position inside the cell: U(0, 1)^2, mean 1/2, variance 1/12
    assert np.all(np.abs(u.mean(0) - 0.5) < 5 * math.sqrt(1 / 12 / 40_000))
    assert np.all(np.abs(u.var(0) - 1 / 12) < 5 * math.sqrt(1 / 180 / 40_000))  # Var((u - 1/2)^2) = 1/180
    np.testing.assert_array_equal(D.checkerboard(100, seed=3).x, D.checkerboard(100, seed=3).x)


def test_a_float32_checkerboard_draw_at_a_far_edge_stays_in_its_cell():
    # a draw within float32 rounding of the far edge is moved just below it, not onto the next (empty) cell
    class AtTheEdge:  # a generator whose uniform draws are the largest float64 below 1
        def integers(self, low, high, size):
            return np.full(size, 7)  # the cell [1, 2) x [1, 2)

        def random(self, shape):
            return np.full(shape, np.nextafter(1.0, 0.0))

    import scratchgen.data.toy as T

    original = T.rng
    T.rng = lambda seed: AtTheEdge()
    try:
        x = D.checkerboard(3).x
    finally:
        T.rng = original
    assert np.all(x == np.nextafter(np.float32(2), np.float32(0))) and np.all(np.isfinite(D.checkerboard_log_density(x)))


def test_monte_carlo_entropy_names_the_sets_it_knows():
    with pytest.raises(ValueError, match=r"name must be one of \['checkerboard', 'gauss8', 'grid25', 'ring8'\], got 'moons'"):
        D.monte_carlo_entropy("moons")


def test_ring_and_grid_log_densities_are_their_mixtures():
    x = np.random.default_rng(0).uniform(-1, 1, (20, 2))
    for name, make, centres in (("ring8", D.ring, D.ring_centres), ("grid25", D.grid, D.grid_centres)):
        d = make(1, seed=0)
        np.testing.assert_array_equal(D.TOY_LOG_DENSITIES[name](x),
                                      D.mixture_log_density(x, centres(dtype=np.float64), d.std))
        assert np.abs(centres(dtype=np.float64) - d.centres).max() < 1e-6  # float32 samples' centres, rounded


# ---------------------------------------------------------------------------
# Data from a .npy file (load_toy with a path)
# ---------------------------------------------------------------------------
def _save(tmp_path, a, name="data.npy"):
    path = str(tmp_path / name)
    np.save(path, a)
    return path


def test_a_file_is_split_once_into_training_and_held_out_rows(tmp_path):
    a = np.arange(150, dtype=np.float64).reshape(50, 3)  # row r is (3r, 3r + 1, 3r + 2): rows are told apart
    path = _save(tmp_path, a)
    perm = np.random.default_rng(0).permutation(50)  # SPLIT_SEED = 0; round(0.2 * 50) = 10 rows held out
    held = D.load_toy(path, 100, split="test").x
    np.testing.assert_array_equal(held, a[perm[:10]].astype(np.float32))
    assert held.dtype == np.float32
    np.testing.assert_array_equal(D.load_toy(path, 4, split="test").x, held[:4])  # the first n of them
    train = D.load_toy(path, 1000, seed=2).x  # with replacement: more draws than rows
    rows = set(map(tuple, train))
    assert rows == set(map(tuple, a[perm[10:]].astype(np.float32)))  # 1000 draws of 40 rows reach them all
    assert not rows & set(map(tuple, held))
    np.testing.assert_array_equal(D.load_toy(path, 20, seed=5).x, D.load_toy(path, 20, seed=5).x)
    assert not np.array_equal(D.load_toy(path, 20, seed=5).x, D.load_toy(path, 20, seed=6).x)
    tr, ho = D.toy_file_rows(path)
    assert tr.shape == (40, 3) and ho.shape == (10, 3) and tr.dtype == np.float64


def test_a_rewritten_file_is_read_again_and_two_rows_split_one_and_one(tmp_path):
    path = _save(tmp_path, np.zeros((5, 2), dtype=np.float32))
    assert D.load_toy(path, 10, split="test").x.shape == (1, 2)  # max(1, round(0.2 * 5)) = 1
    _save(tmp_path, np.ones((2, 4), dtype=np.float32))
    assert D.load_toy(path, 10, split="test").x.tolist() == [[1, 1, 1, 1]]
    assert D.load_toy(path, 3, seed=0).x.shape == (3, 4)


@pytest.mark.parametrize("array, message", [
    (np.zeros(5), r"must hold an \(N, D\) array, got shape \(5,\)"),
    (np.zeros((4, 2, 2)), r"must hold an \(N, D\) array, got shape \(4, 2, 2\)"),
    (np.zeros((4, 0)), r"must hold an \(N, D\) array, got shape \(4, 0\)"),
    (np.zeros((4, 2), dtype=np.int64), "must hold a float array, got dtype int64; save x.astype\\('float32'\\) instead"),
    (np.zeros((1, 2)), "must hold at least 2 rows \\(one to train on, one held out\\), got 1"),
    (np.array([[0.0, 1.0], [np.nan, 2.0], [3.0, np.inf]]),
     r"must hold finite values, got 2 rows with NaN or inf \(the first is row 1: \[nan, 2.0\]\)"),
])
def test_bad_files_are_refused_naming_the_file_and_what_it_holds(tmp_path, array, message):
    path = _save(tmp_path, array)
    with pytest.raises(ValueError, match=f"data: '{path}' {message}"):
        D.load_toy(path, 10)
    with pytest.raises(ValueError, match=message):
        D.check_toy_data(path)


def test_missing_pickled_and_unreadable_files_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"data: no such file '.*nothere.npy' \(expected a .npy file holding an \(N, D\)"):
        D.load_toy(str(tmp_path / "nothere.npy"), 10)
    path = _save(tmp_path, np.array([{"a": 1}, None], dtype=object), "objects.npy")
    with pytest.raises(ValueError, match="is not a .npy file that numpy.load reads without pickle"):
        D.load_toy(path, 10)
    (tmp_path / "text.npy").write_text("x,y\n1,2\n")
    with pytest.raises(ValueError, match="is not a .npy file that numpy.load reads without pickle"):
        D.load_toy(str(tmp_path / "text.npy"), 10)
    with pytest.raises(ValueError, match=r"unknown toy data set 'data.csv'; choose one of .* or give the path of a .npy"):
        D.load_toy("data.csv", 10)


def test_check_toy_data_and_split_name_what_they_accept(tmp_path):
    assert D.check_toy_data("gauss8") == "gauss8"
    path = _save(tmp_path, np.zeros((3, 2)))
    assert D.check_toy_data(path) == path and D.is_toy_file(path) and not D.is_toy_file("ring8")
    with pytest.raises(ValueError, match=r"data must be one of \[.*'checkerboard'.*\] or the path of a .npy file "
                                         r"holding an \(N, D\) float array, got 'ring9'"):
        D.check_toy_data("ring9")
    with pytest.raises(ValueError, match="split must be 'train' or 'test', got 'val'"):
        D.load_toy("ring8", 10, split="val")
