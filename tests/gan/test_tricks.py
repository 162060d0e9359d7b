"""scratchgen.gan.tricks, each helper against its documented formula: PacGAN packing, instance noise,
the cosine decay and the MMD weight, top-k counts and scores, parameter replacement, and the unrolled
generator loss in closed form for a linear critic and generator.

(The trainer-level behaviour of these tricks is in tests/gan/test_gan_train.py.)"""
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import scratchgen as sg
from scratchgen import nn
from scratchgen.gan.losses import wgan_critic_loss, wgan_g_loss
from scratchgen.gan.tricks import (
    cosine_decay,
    instance_noise_std,
    mmd_weight_at,
    pack,
    parameters_replaced,
    top_k_count,
    top_k_scores,
    unrolled_g_loss,
)


# ---------------------------------------------------------------------------
# pack
# ---------------------------------------------------------------------------
@given(st.integers(1, 5), st.integers(1, 4), st.integers(1, 3), st.booleans())
def test_pack_row_i_concatenates_samples_im_to_im_plus_m_minus_1(m, packs, d, as_tensor):
    x = np.random.default_rng(m * 100 + packs * 10 + d).normal(size=(m * packs, d))
    out = pack(sg.tensor(x) if as_tensor else x, m)
    out = out.numpy() if as_tensor else out
    assert out.shape == (packs, m * d)
    for i in range(packs):
        np.testing.assert_array_equal(out[i], np.concatenate([x[i * m + j] for j in range(m)]))


def test_pack_returns_x_itself_when_m_is_1_and_needs_a_multiple_of_m():
    x = np.zeros((6, 2))
    assert pack(x, 1) is x
    with pytest.raises(ValueError, match="pack: the batch 6 is not a multiple of the pack size m=4"):
        pack(x, 4)


# ---------------------------------------------------------------------------
# instance noise, cosine decay, MMD weight
# ---------------------------------------------------------------------------
@given(st.floats(0, 10), st.integers(1, 10_000), st.data())
def test_instance_noise_is_s0_max_0_1_minus_2t_over_T(s0, T, data):
    t = data.draw(st.integers(0, T))
    expected = s0 * max(0.0, 1.0 - 2.0 * t / T)
    assert abs(instance_noise_std(t, s0, T) - expected) <= 1e-15 * s0
    assert instance_noise_std(0, s0, T) == s0
    if 2 * t >= T:  # zero from half of the updates on
        assert instance_noise_std(t, s0, T) == 0.0


@given(st.floats(-5, 5, allow_subnormal=False), st.integers(1, 10_000), st.data())
def test_cosine_decay_runs_from_v_to_0(v, T, data):
    t = data.draw(st.integers(0, T))
    assert abs(cosine_decay(v, t, T) - 0.5 * v * (1 + math.cos(math.pi * t / T))) <= 1e-15 * abs(v)
    assert cosine_decay(v, 0, T) == v
    assert abs(cosine_decay(v, T, T)) <= 1e-15 * abs(v)
    if T % 2 == 0:
        assert abs(cosine_decay(v, T // 2, T) - v / 2) <= 1e-15 * abs(v)


def test_mmd_weight_is_constant_or_the_cosine_decay():
    for t in (0, 3, 50, 100):
        assert mmd_weight_at(t, 2.5, 100) == 2.5
        assert abs(mmd_weight_at(t, 2.5, 100, "cosine") - 1.25 * (1 + math.cos(math.pi * t / 100))) < 1e-15
    with pytest.raises(ValueError, match="mmd_weight_at: schedule must be None or 'cosine', got 'linear'"):
        mmd_weight_at(1, 2.5, 100, "linear")


# ---------------------------------------------------------------------------
# top-k
# ---------------------------------------------------------------------------
@given(st.integers(1, 256), st.integers(1, 100), st.integers(1, 1000), st.data())
def test_top_k_count_is_the_ceiling_of_n_max_nu_linear_decay(n, nu_pct, T, data):
    t = data.draw(st.integers(0, 2 * T))
    nu = Fraction(nu_pct, 100)
    # k_t = ceil(n max(nu, 1 - (1 - nu) t / (T/2))), in exact rational arithmetic
    frac = max(nu, 1 - (1 - nu) * Fraction(2 * t, T))
    expected = math.ceil(n * frac)
    assert top_k_count(t, n, nu_pct / 100, T) == expected
    assert top_k_count(0, n, nu_pct / 100, T) == n  # all n at the start
    assert top_k_count(T, n, nu_pct / 100, T) == math.ceil(n * nu)  # the floor nu n from half of training on
    assert top_k_count(t, n, None, T) == n


@given(st.lists(st.sampled_from([-1.0, 0.0, 0.5, 2.0, 3.0]), min_size=1, max_size=12), st.data())
def test_top_k_scores_are_the_k_largest(values, data):
    scores = sg.tensor(np.array(values)[:, None])
    k = data.draw(st.integers(1, len(values) + 2))
    out = top_k_scores(scores, k)
    if k >= len(values):
        assert out is scores
    else:
        assert out.shape == (k, 1)
        assert sorted(out.numpy()[:, 0].tolist()) == sorted(values)[-k:]  # ties included


# ---------------------------------------------------------------------------
# parameters_replaced and the unrolled generator loss
# ---------------------------------------------------------------------------
def test_parameters_replaced_swaps_in_the_values_and_always_restores_them():
    D = nn.Sequential(nn.Linear(2, 3, generator=0), nn.Linear(3, 1, generator=1))
    old = D.parameters()
    x = sg.tensor(np.ones((1, 2)))
    zeros = [sg.tensor(np.zeros(p.shape)) for p in old]
    with parameters_replaced(D, zeros) as M:
        assert M is D
        assert float(D(x).numpy()[0, 0]) == 0.0  # every weight and bias is 0 inside
    assert all(a is b for a, b in zip(D.parameters(), old))
    with pytest.raises(RuntimeError, match="inside"):
        with parameters_replaced(D, zeros):
            raise RuntimeError("an error inside")
    assert all(a is b for a, b in zip(D.parameters(), old))
    with pytest.raises(ValueError, match="parameters_replaced: expected 4 parameter values, got 3"):
        with parameters_replaced(D, zeros[:3]):
            pass


def _linear_pair(d=2, z_dim=3, m=1):
    G = nn.Linear(z_dim, d, dtype=np.float64, generator=0)
    D = nn.Linear(m * d, 1, dtype=np.float64, generator=1)
    g = np.random.default_rng(2)
    z = sg.tensor(g.standard_normal((8, z_dim)))
    x = g.standard_normal((8, d)) + 1.0
    return G, D, z, x


@pytest.mark.parametrize("K", [1, 2, 3])
def test_unrolled_loss_of_a_linear_pair_is_the_closed_form_and_g_sees_through_the_updates(K):
    # WGAN losses, D(x) = w.x + b, G(z) = A z + a. grad_w L_D = mf - mr (no dependence on w), so
    # w_K = w - K eta (mf - mr) and L_G = -(mf.w_K + b) = -mf.w + K eta (mf.mf - mf.mr) - b,
    # with mf, mr the means of G(z) and x. Through the unrolled steps dL_G/da = -w + K eta (2 mf - mr).
    eta = 0.3
    G, D, z, x = _linear_pair()
    w, b = D.weight.data[0].copy(), float(D.bias.data[0])
    mf = (z.numpy() @ G.weight.data.T + G.bias.data).mean(axis=0)
    mr = x.mean(axis=0)
    loss = unrolled_g_loss(G, D, z, sg.tensor(x), wgan_critic_loss, wgan_g_loss, K=K, eta=eta)
    expected = -mf @ w + K * eta * (mf @ mf - mf @ mr) - b
    assert abs(loss.item() - expected) < 1e-12
    loss.backward()
    np.testing.assert_allclose(G.bias.grad.numpy(), -w + K * eta * (2 * mf - mr), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(G.weight.grad.numpy(),
                               np.outer(-w + K * eta * (2 * mf - mr), z.numpy().mean(axis=0)), rtol=1e-11, atol=1e-12)
    # the critic itself is not updated: its parameters are the ones it had
    assert D.weight.data[0].tolist() == w.tolist() and float(D.bias.data[0]) == b


def test_unrolled_loss_packs_both_batches():
    # m = 2: D sees packs (x_{2i}, x_{2i+1}); the closed form above with the packed means
    eta, K = 0.2, 2
    G, D, z, x = _linear_pair(m=2)
    w, b = D.weight.data[0].copy(), float(D.bias.data[0])
    fake = z.numpy() @ G.weight.data.T + G.bias.data
    mf, mr = fake.reshape(4, 4).mean(axis=0), x.reshape(4, 4).mean(axis=0)
    loss = unrolled_g_loss(G, D, z, sg.tensor(x), wgan_critic_loss, wgan_g_loss, K=K, eta=eta, m=2)
    assert abs(loss.item() - (-mf @ w + K * eta * (mf @ mf - mf @ mr) - b)) < 1e-12
