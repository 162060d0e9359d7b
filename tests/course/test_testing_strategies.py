"""scratchgen.testing's strategies draw what they promise, and its checks pass on the library's own functions
(the reference) and fail, in the student's terms, on a wrong one."""
import math

import numpy as np
import pytest
from hypothesis import given

from scratchgen import testing as T
from scratchgen.divergences import optimal_discriminator
from scratchgen.mmd import mmd2


@given(T.distribution_pairs())
def test_distribution_pairs_are_probability_vectors_on_one_support(pq):
    p, q = pq
    assert p.shape == q.shape and p.ndim == 1 and p.shape[0] >= 2
    for v in (p, q):
        assert (v >= 0).all() and abs(v.sum() - 1) < 1e-12


@given(T.gaussian_mixtures(dim=1))
def test_a_1d_mixture_density_integrates_to_one_and_matches_its_samples(mix):
    x = np.linspace(-15, 15, 6001)[:, None]
    assert abs(np.trapezoid(mix.density(x), x[:, 0]) - 1) < 1e-6
    w, mu, sd = mix.weights, mix.means[:, 0], mix.stds
    # the mixture's mean, written out: sum_k w_k mu_k
    assert abs(mix.sample(4000, seed=0).mean() - (w * mu).sum()) < 5 * math.sqrt((w * (sd**2 + mu**2)).sum() / 4000)


@given(T.gaussian_mixtures(dim=2, max_components=2))
def test_a_2d_mixture_log_density_is_the_sum_of_its_components(mix):
    x = np.array([[0.3, -0.2], [1.0, 2.0]])
    dens = sum(w * np.exp(-((x - m) ** 2).sum(1) / (2 * s**2)) / (2 * np.pi * s**2)
               for w, m, s in zip(mix.weights, mix.means, mix.stds))
    assert np.abs(mix.density(x) - dens).max() < 1e-12 * max(1.0, dens.max())


@given(T.noise_schedules())
def test_noise_schedules_are_valid(schedule):
    b = np.asarray(schedule.beta[1:])
    assert len(b) == schedule.T >= 1 and ((b > 0) & (b < 1)).all()
    assert np.all(np.diff(np.asarray(schedule.alpha_bar)) < 0)


@given(T.timesteps(7, 5), T.image_batches(), T.logits(extreme=True))
def test_timesteps_images_and_logits(t, x, l):
    assert t.shape == (5,) and t.min() >= 1 and t.max() <= 7
    assert x.ndim == 4 and x.shape[1] in (1, 3) and np.abs(x).max() <= 1
    assert np.isfinite(l).all() and np.abs(l).max() <= 1e4


def test_the_checks_pass_on_the_library_and_explain_a_wrong_function():
    T.check_optimal_discriminator(optimal_discriminator)
    T.check_unbiased_mmd(mmd2)
    with T.property_settings(max_examples=10):
        with pytest.raises(AssertionError, match=r"your D\*\(x\) at p = .*; the optimum is p/\(p\+q\) = "):
            T.check_optimal_discriminator(lambda p, q: 0.5 * np.ones_like(p))
    with pytest.raises(AssertionError, match="your function returned None"):
        T.check_optimal_discriminator_no_mass(lambda p, q: None)


def test_check_vjp_accepts_the_true_rule_and_names_a_wrong_one():
    from scratchgen.autodiff.primitives import _matmul_vjp_x, matmul

    x, y = np.arange(6.0).reshape(2, 3), np.ones((3, 2))
    T.check_vjp(matmul, _matmul_vjp_x, 0, (x, y))
    with pytest.raises(AssertionError, match="returned shape"):
        T.check_vjp(matmul, lambda g, ans, x, y: g, 0, (x, y))
