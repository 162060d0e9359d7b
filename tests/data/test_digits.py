"""The shipped 8×8 digits: the held-out split of the library's metrics, and the one-pixel shifts."""
import numpy as np
import pytest

import scratchgen as sg
from scratchgen.data.digits import DIGITS_PATH, build_digits_file, digits_split, load_digits, random_shift


def test_digits_split_is_stratified_by_round_of_the_fraction_and_seeded():
    y_all = load_digits().labels
    n_k = np.bincount(y_all, minlength=10)
    s = digits_split(test_fraction=0.5, seed=1)
    assert np.bincount(s.y_test, minlength=10).tolist() == [int(round(0.5 * n)) for n in n_k]
    assert (np.bincount(s.y_train, minlength=10) + np.bincount(s.y_test, minlength=10)).tolist() == n_k.tolist()
    assert s.x_train.shape == (len(s.y_train), 1, 8, 8) and s.x_test.shape == (len(s.y_test), 1, 8, 8)
    again, other = digits_split(test_fraction=0.5, seed=1), digits_split(test_fraction=0.5, seed=2)
    assert np.array_equal(s.y_test, again.y_test) and np.array_equal(s.x_test, again.x_test)
    assert not np.array_equal(s.x_test, other.x_test)


def test_random_shift_moves_each_image_by_its_own_offset():
    x = np.random.default_rng(0).uniform(-1, 1, (6, 2, 5, 4)).astype(np.float32)
    offsets = [np.array([0, 1, 2, 2, 0, 1]), np.array([2, 0, 1, 2, 1, 0])]  # dy, then dx: what g draws

    class Offsets:
        def integers(self, low, high, n):
            assert (low, high, n) == (0, 3, 6)
            return sg.backend.asarray(offsets.pop(0))

    dy, dx = offsets[0].copy(), offsets[1].copy()
    out = sg.to_numpy(random_shift(sg.backend.asarray(x), Offsets()))
    pad = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=-1)
    for b in range(6):  # image b seen through the window at (dy_b, dx_b) of its padded copy
        np.testing.assert_array_equal(out[b], pad[b, :, dy[b]:dy[b] + 5, dx[b]:dx[b] + 4])
    assert out.flags["C_CONTIGUOUS"] and out.dtype == np.float32


def test_load_digits_takes_a_dtype_and_scales_to_x_over_8_minus_1():
    raw = load_digits(dtype=np.float64)
    assert raw.images.dtype == np.float64 and raw.images.shape == (1797, 1, 8, 8)
    assert raw.labels.dtype == np.int64 and raw.labels.shape == (1797,)
    unit = load_digits("unit", dtype=np.float64).images
    assert unit.dtype == np.float64
    np.testing.assert_array_equal(unit, raw.images / 8 - 1)  # exact in float64: k / 8 is a binary fraction
    assert load_digits().images.dtype == np.float32  # the library default


def test_the_shipped_file_is_what_build_digits_file_writes_from_scikit_learns_copy(tmp_path):
    pytest.importorskip("sklearn")
    path = build_digits_file(str(tmp_path / "digits.npz"))
    with np.load(path) as built, np.load(DIGITS_PATH) as shipped:
        assert built["images"].dtype == np.uint8 and built["images"].shape == (1797, 8, 8)
        np.testing.assert_array_equal(built["images"], shipped["images"])
        np.testing.assert_array_equal(built["labels"], shipped["labels"])
