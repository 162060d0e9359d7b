"""Mode coverage (scratchgen.metrics.modes): the counts, the high-quality fraction and KL(h || U) written out.

(Its behaviour on the toy data sets is in tests/data/test_toy.py.)"""
import math

import numpy as np
import pytest

from scratchgen.metrics import ModeCoverage, mode_coverage


def test_counts_fraction_and_kl_from_uniform_by_hand():
    c = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
    x = np.array([[0.1, 0.0], [0.0, -0.2], [9.9, 0.0], [0.0, 10.25], [5.0, 5.0], [10.0, 10.35]])
    cov = mode_coverage(x, c, std=0.1)  # threshold 3 std = 0.3: (5, 5) and (10, 10.35) are not high-quality
    assert isinstance(cov, ModeCoverage)
    assert cov.counts == [2, 1, 1, 0] and cov.modes_captured == 3 and cov.n_modes == 4
    assert cov.high_quality_fraction == 4 / 6
    h = np.array([2, 1, 1]) / 4
    assert abs(cov.kl_from_uniform - float(np.sum(h * np.log(4 * h)))) < 1e-15  # sum_k h_k log(M h_k)
    assert cov.as_dict() == {"modes_captured": 3, "n_modes": 4, "high_quality_fraction": 4 / 6,
                             "kl_from_uniform": cov.kl_from_uniform}
    # a larger threshold admits the sample at 0.35 from its centre
    wide = mode_coverage(x, c, std=0.1, threshold=4.0)
    assert wide.counts == [2, 1, 1, 1] and wide.high_quality_fraction == 5 / 6


def test_equal_shares_give_kl_0_and_std_must_be_positive():
    c = np.array([[0.0], [1.0], [2.0]])
    assert mode_coverage(np.array([[0.0], [1.0], [2.0], [2.01], [1.01], [0.01]]), c, 0.01).kl_from_uniform == 0.0
    with pytest.raises(ValueError, match="mode_coverage: std must be a finite number > 0, got 0"):
        mode_coverage(c, c, 0)
    assert math.isinf(mode_coverage(np.array([[0.5]]), c, 0.01).kl_from_uniform)  # no high-quality sample
