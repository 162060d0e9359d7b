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


# ---------------------------------------------------------------------------
# Documented contracts of Schedule, linear/cosine/make_schedule, check_t and gather
# ---------------------------------------------------------------------------
@given(st.lists(st.floats(1e-6, 0.999), min_size=2, max_size=30))
def test_posterior_coefficients_are_eq7(betas):
    # Ho Eq. 7: c0 = sqrt(ab_{t-1}) beta_t / (1 - ab_t), ct = sqrt(alpha_t) (1 - ab_{t-1}) / (1 - ab_t);
    # the exact rational oracle of test_derived_quantities_follow_their_definitions, square roots in float
    s = Schedule(np.array(betas))
    alpha_bar = Fraction(1)
    for t in range(1, len(betas) + 1):
        b = Fraction(betas[t - 1])
        alpha_bar_prev, alpha_bar = alpha_bar, alpha_bar * (1 - b)
        c0 = math.sqrt(float(alpha_bar_prev)) * float(b / (1 - alpha_bar))
        ct = math.sqrt(float(1 - b)) * float((1 - alpha_bar_prev) / (1 - alpha_bar))
        assert abs(s.posterior_coef_x0[t] - c0) <= 1e-12 * c0
        assert abs(s.posterior_coef_xt[t] - ct) <= 1e-12 * max(ct, 1e-300)
        assert abs(s.one_minus_alpha_bar[t] - float(1 - alpha_bar)) <= 1e-12 * float(1 - alpha_bar)
    # at t = 1, alpha_bar_0 = 1: the posterior mean is x0 itself
    assert abs(s.posterior_coef_x0[1] - 1.0) < 1e-12 and s.posterior_coef_xt[1] == 0.0


def test_entry_zero_describes_x0_and_every_array_has_T_plus_1_float64_entries():
    s = Schedule(np.array([0.1, 0.2, 0.3]))
    assert len(s) == 3 == s.T
    for name in ("beta", "alpha", "alpha_bar", "one_minus_alpha_bar", "sqrt_alpha_bar", "sqrt_one_minus_alpha_bar",
                 "beta_tilde", "log_beta_tilde_clipped", "posterior_coef_x0", "posterior_coef_xt", "snr"):
        a = getattr(s, name)
        assert a.shape == (4,) and a.dtype == np.float64, name
    assert s.beta[0] == 0.0 and s.alpha[0] == 1.0 and s.alpha_bar[0] == 1.0 and s.one_minus_alpha_bar[0] == 0.0
    assert s.snr[0] == np.inf
    for name in ("beta_tilde", "log_beta_tilde_clipped", "posterior_coef_x0", "posterior_coef_xt"):
        assert np.isnan(getattr(s, name)[0]), name


def test_one_step_schedule_uses_beta_1():
    # linear_schedule: "with T = 1 the single step uses beta_1"; there is no beta_tilde_2, so the
    # clipped log-variance at t = 1 falls back to log beta_1
    s = linear_schedule(T=1, beta_1=0.3, beta_T=0.9)
    assert s.T == 1 and s.beta[1] == 0.3
    assert abs(s.alpha_bar[1] - 0.7) < 1e-15
    assert s.beta_tilde[1] == 0.0
    assert abs(s.log_beta_tilde_clipped[1] - math.log(0.3)) < 1e-15


def test_betas_that_are_not_numbers_are_refused():
    with pytest.raises(ValueError, match="Schedule: betas must be a 1-D array of floats, got list"):
        Schedule(["a", "b"])


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(max_beta=1.0), r"max_beta must lie in \(0, 1\), got 1.0"),
    (dict(max_beta=0.0), r"max_beta must lie in \(0, 1\), got 0.0"),
    (dict(s=-0.1), "s must be >= 0, got -0.1"),
    (dict(T=2.5), "T must be a positive integer number of steps, got 2.5"),
    (dict(T=True), "T must be a positive integer number of steps, got True"),
])
def test_cosine_schedule_names_its_bad_argument(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        cosine_schedule(**kwargs)


def test_make_schedule_passes_schedules_through_and_wraps_arrays():
    assert make_schedule(LINEAR) is LINEAR
    betas = np.array([0.1, 0.25, 0.5])
    s = make_schedule(betas)
    np.testing.assert_array_equal(s.beta[1:], betas)
    np.testing.assert_array_equal(s.alpha_bar, Schedule(betas).alpha_bar)
    c = make_schedule("cosine", T=10, s=0.0)  # keyword arguments reach the named schedule
    np.testing.assert_array_equal(c.beta, cosine_schedule(T=10, s=0.0).beta)
    assert make_schedule("linear", T=7).T == 7


def test_check_t_returns_a_batch_of_int64_and_refuses_bools():
    s = Schedule(np.array([0.1, 0.2, 0.3]))
    t = s.check_t(2, batch=4)
    assert t.dtype == np.int64 and t.tolist() == [2, 2, 2, 2]
    assert s.check_t(3).tolist() == [3]
    np.testing.assert_array_equal(s.check_t(np.array([1, 3], dtype=np.int32), batch=2), [1, 3])
    assert s.check_t(np.array([1, 3], dtype=np.int32)).dtype == np.int64
    with pytest.raises(ValueError, match="got a bool"):
        s.check_t(True)
    with pytest.raises(ValueError, match=r"t must have shape \(B,\), got shape \(2, 1\)"):
        s.check_t(np.array([[1], [2]]))
    with pytest.raises(ValueError, match=r"my_t must lie in 1..T = 1..3"):
        s.check_t(4, who="my_t")


def test_gather_shapes_one_int_to_a_single_coefficient_and_arrays_per_row():
    s = Schedule(np.array([0.1, 0.2, 0.3]))
    x = np.zeros((5, 2, 3), dtype=np.float64)
    one = s.gather("alpha_bar", 2, x)
    assert one.shape == (1, 1, 1) and abs(one[0, 0, 0] - 0.9 * 0.8) < 1e-15
    rows = s.gather("beta", np.array([1, 2, 3, 3, 1]), x)
    assert rows.shape == (5, 1, 1)
    np.testing.assert_array_equal(rows[:, 0, 0], [0.1, 0.2, 0.3, 0.3, 0.1])
    # integer data: the coefficient keeps its float64 (it is never cast to an integer dtype)
    assert s.gather("beta", 1, np.zeros((2, 2), dtype=np.int64)).dtype == np.float64
    with pytest.raises(ValueError, match=r"data must have a batch axis, shape \(B, \.\.\.\), got shape \(\)"):
        s.gather("beta", 1, np.float64(0.0))
