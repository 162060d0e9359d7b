"""The image-to-image tasks of scratchgen.data.pairs: the transforms on hand-made images, the splits."""
import numpy as np

from scratchgen.data.pairs import (
    corrupt,
    dilate,
    erode,
    invert,
    outline,
    paired_data,
    unpaired_data,
)


def _dot():
    x = -np.ones((1, 1, 5, 5))
    x[0, 0, 2, 2] = 1.0  # one ink pixel in the middle
    return x


def test_outline_of_one_pixel_is_its_four_neighbours():
    o = outline(_dot())[0, 0]
    expected = -np.ones((5, 5))
    for i, j in [(1, 2), (3, 2), (2, 1), (2, 3)]:  # the plus-shaped halo; the ink pixel itself is not outline
        expected[i, j] = 1.0
    assert np.array_equal(o, expected)


def test_dilation_and_erosion_order_and_inverse():
    x = np.random.default_rng(0).uniform(-1, 1, (4, 1, 8, 8))
    assert np.all(erode(x) <= x) and np.all(x <= dilate(x))
    assert np.array_equal(dilate(_dot())[0, 0] > 0, (outline(_dot())[0, 0] > 0) | (_dot()[0, 0] > 0))
    assert np.array_equal(invert(invert(x)), x)
    assert np.all(np.abs(outline(x)) <= 1)


def test_corrupt_limits():
    x = np.random.default_rng(0).uniform(-1, 1, (4, 1, 8, 8))
    assert np.array_equal(corrupt(x, 0, sigma=0.0, rho=0.0), x)
    assert set(np.unique(corrupt(x, 0, sigma=0.3, rho=1.0))) == {-1.0, 1.0}
    c = corrupt(x, 0)
    assert c.min() >= -1 and c.max() <= 1 and np.array_equal(c, corrupt(x, 0))


def test_the_splits():
    p = paired_data("fill")
    assert p.a_train.shape == (1258, 1, 8, 8) and p.b_test.shape == (539, 1, 8, 8)
    assert np.array_equal(p.a_test, outline(p.b_test))
    u = unpaired_data("invert", seed=3)
    assert u.x_train.shape[0] + u.y_train.shape[0] == 1258
    rows = {r.tobytes() for r in u.x_train}
    assert not any((-r).tobytes() in rows for r in u.y_train)  # no image of Y is the transform of one of X
    assert np.array_equal(u.y_test, -u.x_test)
