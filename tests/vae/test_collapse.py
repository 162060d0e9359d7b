"""Posterior-collapse diagnostics against their definitions, and the remedies' objectives."""
import math

import numpy as np
import pytest

import scratchgen as sg
from scratchgen.vae.collapse import (
    ACTIVE_THRESHOLD,
    active_units,
    free_bits_kl,
    kl_per_dim,
    kl_weight,
    mutual_information,
    unit_activity,
)


def test_kl_per_dim_is_the_data_mean_of_the_closed_form():
    g = np.random.default_rng(0)
    mu, lv = g.standard_normal((50, 4)), g.standard_normal((50, 4))
    expected = (0.5 * (mu ** 2 + np.exp(lv) - 1 - lv)).mean(axis=0)
    np.testing.assert_allclose(kl_per_dim(sg.tensor(mu), sg.tensor(lv)), expected, rtol=1e-13)


def test_active_units_count_the_dimensions_whose_posterior_mean_varies_over_x():
    g = np.random.default_rng(1)
    # dimension j has Cov_x E_q[z_j] = var_j: 1, 0.02, 0.005 and 0 (a collapsed unit: the same mean for every x)
    stds = np.array([1.0, math.sqrt(0.02), math.sqrt(0.005), 0.0])
    mu = g.standard_normal((20_000, 4)) * stds + np.array([0.3, -1.0, 2.0, 0.7])
    np.testing.assert_allclose(unit_activity(mu), mu.var(axis=0), rtol=1e-13)  # population variance
    assert active_units(mu) == 2 and ACTIVE_THRESHOLD == 0.01
    assert active_units(mu, threshold=0.001) == 3
    with pytest.raises(ValueError, match=r"mu must have shape \(N, L\), received \(5,\)"):
        unit_activity(np.zeros(5))


@pytest.mark.parametrize("a, s", [(2.0, 0.5), (1.0, 1.0), (0.3, 1.0)])
def test_mutual_information_of_a_gaussian_channel(a, s):
    """x ~ N(0, 1), q(z|x) = N(a x, s^2): then q(z) = N(0, a^2 + s^2) and I(x; z) = log(1 + a^2/s^2) / 2."""
    x = np.random.default_rng(100).standard_normal((2000, 1))  # a stream apart from the estimator's seeds 0..4
    mu, lv = a * x, np.full_like(x, 2 * math.log(s))
    exact = 0.5 * math.log(1 + a * a / (s * s))
    est = np.array([mutual_information(mu, lv, sg.rng(seed)) for seed in range(5)])
    # an estimate with the aggregate posterior of 2000 points: biased by O(1/N), well under 0.02 nats here
    assert abs(est.mean() - exact) < 0.02, (est.mean(), exact)


def test_mutual_information_is_zero_when_q_ignores_x_and_at_most_log_n():
    mu, lv = np.tile([[0.5, -0.2]], (500, 1)), np.zeros((500, 2))  # q(z|x) the same for every x
    assert abs(mutual_information(mu, lv, sg.rng(0))) < 1e-6
    far = np.arange(500)[:, None] * 100.0 * np.ones((1, 2))  # codes that identify x exactly
    assert abs(mutual_information(far, np.zeros((500, 2)), sg.rng(0)) - math.log(500)) < 1e-6


def test_kl_weight_warms_up_linearly_from_0_to_1():
    assert [kl_weight(t, 4) for t in range(6)] == [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    assert kl_weight(0, 0) == 1.0
    with pytest.raises(ValueError, match=r"warmup must be >= 0, received -1"):
        kl_weight(3, -1)


def test_free_bits_charge_lambda_below_the_threshold_and_pass_no_gradient_there():
    kl = sg.tensor(np.array([0.1, 0.5, 2.0]), requires_grad=True)
    out = free_bits_kl(kl, 0.5)  # max(0.5, 0.1) + max(0.5, 0.5) + max(0.5, 2.0)
    assert abs(out.item() - 3.0) < 1e-15
    out.backward()
    assert kl.grad.numpy()[0] == 0.0 and kl.grad.numpy()[2] == 1.0  # no push toward the prior below lambda
    kl2 = sg.tensor(np.array([0.1, 2.0]), requires_grad=True)
    free_bits_kl(kl2, 0.0).backward()  # lambda = 0: the plain sum
    np.testing.assert_array_equal(kl2.grad.numpy(), [1.0, 1.0])
    with pytest.raises(ValueError, match=r"lam must be >= 0, received -0.1"):
        free_bits_kl(kl, -0.1)
