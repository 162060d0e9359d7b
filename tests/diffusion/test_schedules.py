"""Schedules: values against the papers' formulas written out here, alpha_bar_T of the
defaults (property 3), bad input, dtype preservation of the gathered coefficients."""
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from scratchgen.diffusion import Schedule, cosine_schedule, linear_schedule, make_schedule, q_sample

LINEAR = linear_schedule()
COSINE = cosine_schedule()


def test_linear_schedule_matches_ho():
    # Ho et al. Sec. 4: beta_1 = 1e-4 ... beta_T = 0.02, linear, T = 1000.
    assert LINEAR.T == 1000
    np.testing.assert_allclose(LINEAR.beta[1], 1e-4, rtol=0, atol=1e-15)
    np.testing.assert_allclose(LINEAR.beta[1000], 0.02, rtol=0, atol=1e-15)
    t = np.arange(1, 1001)
    np.testing.assert_allclose(LINEAR.beta[1:], 1e-4 + (t - 1) / 999 * (0.02 - 1e-4), rtol=1e-12, atol=0)


def test_cosine_schedule_matches_nichol_dhariwal():
    # Eq. 17 with s = 0.008, beta clipped at 0.999; alpha_bar from the clipped betas.
    T, s = 1000, 0.008
    f = [math.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2 for t in range(T + 1)]
    betas = [min(1 - f[t] / f[t - 1], 0.999) for t in range(1, T + 1)]
    np.testing.assert_allclose(COSINE.beta[1:], betas, rtol=1e-12, atol=1e-15)
    # where the clip does not act, alpha_bar_t = f(t) / f(0) exactly
    np.testing.assert_allclose(COSINE.alpha_bar[:T], np.array(f[:T]) / f[0], rtol=1e-9, atol=0)
    assert COSINE.beta[T] == 0.999  # unclipped it would be 1 (f(T) = cos^2(pi/2) ~ 0)


def test_alpha_bar_T_is_near_zero_for_default_schedules():
    # Property 3. Values by a plain Python product over the betas (independent of cumprod):
    # linear: alpha_bar_T = 4.0358e-05, cosine: 2.4288e-09. So q(x_T | x_0) =
    # N(sqrt(alpha_bar_T) x0, (1 - alpha_bar_T) I) differs from the prior N(0, I) by a
    # mean shift of at most 0.0064 |x0| and a variance deficit of 4e-5.
    for sched, expected in ((LINEAR, 4.0358e-05), (COSINE, 2.4288e-09)):
        prod = 1.0
        for b in sched.beta[1:]:
            prod *= 1.0 - float(b)
        assert abs(sched.alpha_bar[-1] - prod) < 1e-12 * max(prod, 1e-300) + 1e-20
        assert abs(prod - expected) < 1e-3 * expected
        assert math.sqrt(prod) < 0.0064


@given(st.lists(st.floats(1e-6, 0.999), min_size=1, max_size=30))
@example(betas=[1.0000000000000002e-06, 1.0000000000000002e-06])  # found by hypothesis: a float oracle fails here
def test_derived_quantities_follow_their_definitions(betas):
    # The oracle is exact: rational arithmetic on the float betas (Fraction(x) is x exactly), rounded
    # once at the end. In floats, 1 - alpha_bar cancels at small t (beta = 1e-6: relative error
    # ~1e-10), which the library avoids with expm1 and a float oracle would not.
    s = Schedule(np.array(betas))
    T = len(betas)
    alpha_bar = Fraction(1)
    for t in range(1, T + 1):
        b = Fraction(betas[t - 1])
        alpha_bar_prev, alpha_bar = alpha_bar, alpha_bar * (1 - b)
        ab, b_f = float(alpha_bar), float(b)
        assert abs(s.alpha[t] - float(1 - b)) < 1e-15
        assert abs(s.alpha_bar[t] - ab) <= 1e-12 * ab
        assert abs(s.sqrt_alpha_bar[t] ** 2 - ab) <= 1e-12 * ab
        assert abs(s.sqrt_one_minus_alpha_bar[t] ** 2 - float(1 - alpha_bar)) <= 1e-12
        snr = float(alpha_bar / (1 - alpha_bar))
        assert abs(s.snr[t] - snr) <= 1e-9 * snr
        bt = float((1 - alpha_bar_prev) / (1 - alpha_bar) * b)
        assert abs(s.beta_tilde[t] - bt) <= 1e-12 * b_f
    assert s.beta_tilde[1] == 0.0
    assert s.alpha_bar[0] == 1.0 and s.beta[0] == 0.0
    # SNR decreases strictly with t
    assert np.all(np.diff(s.snr[1:]) < 0)
    # clipped log-variance: t = 1 gets log beta_tilde_2 (Ho's reference code)
    if T >= 2:
        assert s.log_beta_tilde_clipped[1] == s.log_beta_tilde_clipped[2]
        np.testing.assert_allclose(s.log_beta_tilde_clipped[2:], np.log(s.beta_tilde[2:]), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "betas, fragment",
    [
        (np.array([0.1, 0.0, 0.2]), "beta_2"),
        (np.array([0.1, 1.0]), "beta_2"),
        (np.array([-0.5]), "beta_1"),
        (np.array([0.1, np.nan]), "beta_2"),
        (np.ones((2, 3)) * 0.1, "1-D"),
        (np.array(0.1), "1-D"),
        (np.array([]), "at least one"),
    ],
)
def test_invalid_betas_raise_saying_which(betas, fragment):
    with pytest.raises(ValueError, match=fragment):
        Schedule(betas)


def test_make_schedule_and_bad_names():
    assert make_schedule("cosine", T=10).name == "cosine"
    assert make_schedule(np.array([0.1, 0.2])).T == 2
    with pytest.raises(ValueError, match="kind"):
        make_schedule("quadratic")
    with pytest.raises(ValueError, match="T must be"):
        linear_schedule(0)


def test_t_outside_range_and_wrong_shape_raise():
    x = np.zeros((3, 2), dtype=np.float32)
    e = np.zeros((3, 2), dtype=np.float32)
    with pytest.raises(ValueError, match=r"1\.\.T = 1\.\.1000.*\[0, 2\]"):
        q_sample(LINEAR, x, np.array([0, 1, 2]), e)
    with pytest.raises(ValueError, match="1001"):
        q_sample(LINEAR, x, 1001, e)
    with pytest.raises(ValueError, match=r"shape \(2,\).*\(3,\)"):
        q_sample(LINEAR, x, np.array([1, 2]), e)
    with pytest.raises(ValueError, match="integer"):
        q_sample(LINEAR, x, np.array([1.0, 2.0, 3.0]), e)
    with pytest.raises(ValueError, match="eps must have the shape"):
        q_sample(LINEAR, x, 5, np.zeros((3, 1), dtype=np.float32))


def test_float32_data_stays_float32():
    x = np.ones((4, 3), dtype=np.float32)
    for name in ("alpha_bar", "beta_tilde", "snr", "posterior_coef_x0"):
        c = LINEAR.gather(name, np.array([1, 2, 3, 1000]), x)
        assert c.dtype == np.float32 and c.shape == (4, 1)
    assert q_sample(LINEAR, x, 7, x).dtype == np.float32
    # the schedule itself is float64
    assert LINEAR.alpha_bar.dtype == np.float64
