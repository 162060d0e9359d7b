"""MMD² at several bandwidths (scratchgen.mmd.mmd2_per_bandwidth): one RBF kernel per bandwidth, and why
the median bandwidth is blind at the scale of narrow modes (issue 26).

Oracle, written out here: for isotropic Gaussians in d dimensions and the RBF kernel of bandwidth h,

    E k(x, y) = (h^2 / (h^2 + s1^2 + s2^2))^(d/2) exp(-|m1 - m2|^2 / (2 (h^2 + s1^2 + s2^2))),
    x ~ N(m1, s1^2 I), y ~ N(m2, s2^2 I),

so MMD^2 = E k(x, x') - 2 E k(x, y) + E k(y, y') between two mixtures is a double sum over components.
"""
import functools

import numpy as np
import pytest

from scratchgen.autodiff import tensor
from scratchgen.mmd import mmd2, mmd2_per_bandwidth, rbf_kernel

CENTRES = np.array([(i, j) for i in (-4.0, -2.0, 0.0, 2.0, 4.0) for j in (-4.0, -2.0, 0.0, 2.0, 4.0)])  # grid25


def expected_k(m1, s1, m2, s2, h, d=2):
    v = h**2 + s1**2 + s2**2
    d2 = ((m1[:, None, :] - m2[None]) ** 2).sum(-1)  # (K1, K2)
    return float(((h**2 / v) ** (d / 2) * np.exp(-d2 / (2 * v))).mean())  # equal weights


def closed_mmd2(s_p, s_q, h):
    """MMD^2 between grid25 with component std s_p and grid25 with std s_q, at bandwidth h."""
    c = CENTRES
    return expected_k(c, s_p, c, s_p, h) - 2 * expected_k(c, s_p, c, s_q, h) + expected_k(c, s_q, c, s_q, h)


def draw(n, s, seed):
    r = np.random.default_rng(seed)
    return CENTRES[r.integers(0, 25, n)] + s * r.standard_normal((n, 2))


def test_per_bandwidth_is_mmd2_with_each_kernel_alone():
    x, y = tensor(draw(60, 0.05, 0)), tensor(draw(50, 0.3, 1))
    got = mmd2_per_bandwidth(x, y, [0.05, 0.5, 3.0])
    for s, g in zip([0.05, 0.5, 3.0], got):
        one = mmd2(x, y, kernel=functools.partial(rbf_kernel, sigma=s))
        assert abs(float(g.item()) - float(one.item())) < 1e-12
    assert len(mmd2_per_bandwidth(x, y, 0.1)) == 1


def test_bad_bandwidths_are_refused():
    x = tensor(draw(5, 0.05, 0))
    with pytest.raises(ValueError, match="at least one bandwidth"):
        mmd2_per_bandwidth(x, x, [])
    with pytest.raises(ValueError, match="sigma must be a finite number > 0"):
        mmd2_per_bandwidth(x, x, [0.0])


def test_estimates_match_the_closed_form_and_only_the_narrow_kernel_sees_wide_modes():
    """Data: grid25 at sigma = 0.05; samples: the same centres at 4 sigma (between-mode mass). At h = sigma the
    population MMD^2 is large; at h = 4, about the median distance, it is below 1e-4 of it."""
    s_data, s_wide, hs = 0.05, 0.2, [0.05, 4.0]
    closed = [closed_mmd2(s_data, s_wide, h) for h in hs]
    assert closed[1] < 1e-3 * closed[0]  # the median-scale kernel hardly sees the width
    est = np.array([[float(v.item()) for v in mmd2_per_bandwidth(tensor(draw(400, s_wide, 2 * k)),
                                                                   tensor(draw(400, s_data, 2 * k + 1)), hs)]
                    for k in range(6)])  # (repeats, bandwidths)
    mean, se = est.mean(0), est.std(0, ddof=1) / np.sqrt(est.shape[0])
    for j in range(2):  # the unbiased estimate averages to the population value
        assert abs(mean[j] - closed[j]) < 4 * se[j] + 1e-6
    assert mean[0] > 10 * se[0]  # and at h = sigma it is far from 0
