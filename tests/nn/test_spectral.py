"""Spectral normalisation (power iteration vs SVD, Lipschitz bound, eval mode) and the
minibatch layers against loop definitions written here."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import scratchgen as sg
from scratchgen import nn


@given(st.integers(2, 12), st.integers(2, 12), st.integers(0, 2**16))
def test_power_iteration_converges_to_the_largest_singular_value(m, n, seed):
    r = np.random.default_rng(seed)
    W = r.standard_normal((m, n))
    s = np.linalg.svd(W, compute_uv=False)
    u0 = r.standard_normal(m)
    u0 /= np.linalg.norm(u0)
    _, _, sigma = nn.power_iteration(W, u0, n_iterations=2000)
    # convergence rate (s2/s1)^(2k); the gap of a random Gaussian matrix is rarely this small
    if s[1] / s[0] < 0.99:
        np.testing.assert_allclose(sigma, s[0], rtol=1e-6)
    assert sigma <= s[0] * (1 + 1e-12)  # u^T W v never exceeds sigma_max


def test_spectral_norm_layer_has_unit_spectral_norm_after_training_steps():
    lin = nn.spectral_norm(nn.Linear(20, 30, dtype="float64", generator=0), n_power_iterations=1, generator=1)
    x = sg.tensor(np.zeros((1, 20)))
    for _ in range(50):  # one power-iteration step per forward call, as in training
        lin(x)
    s = np.linalg.svd(lin.weight.data, compute_uv=False)
    np.testing.assert_allclose(s[0], 1.0, rtol=1e-4)
    assert sorted(n for n, _ in lin.named_parameters()) == ["bias", "weight_orig"]
    assert {"weight_u", "weight_v"} <= set(lin.state_dict())


def test_spectral_norm_eval_does_not_update_u():
    lin = nn.spectral_norm(nn.Linear(4, 5, generator=0), generator=1)
    x = sg.tensor(np.ones((2, 4), dtype=np.float32))
    lin(x)
    lin.eval()
    u = lin.weight_u.copy()
    y1 = lin(x).data
    y2 = lin(x).data
    np.testing.assert_array_equal(lin.weight_u, u)
    np.testing.assert_array_equal(y1, y2)
    lin.train()
    lin(x)
    # gradient flows to weight_orig through W / sigma
    lin.zero_grad()
    lin(x).sum().backward()
    assert lin.weight_orig.grad is not None and lin.weight_orig.grad.shape == (5, 4)


def test_spectral_norm_gradient_matches_central_differences():
    # d/dW of f(W / (u^T W v)) with u, v held fixed (as in the paper)
    r = np.random.default_rng(0)
    u, v = r.standard_normal(3), r.standard_normal(4)
    x = r.standard_normal((2, 4))
    f = lambda W: sg.tanh(sg.matmul(sg.tensor(x), (W / sg.matmul(sg.matmul(sg.tensor(u), W), sg.tensor(v))).T))  # noqa: E731
    sg.check_grads(f, r.standard_normal((3, 4)), order=2)


def test_spectrally_normalised_mlp_is_1_lipschitz():
    gen = np.random.default_rng(0)
    mlp = nn.Sequential(
        nn.spectral_norm(nn.Linear(8, 64, dtype="float64", generator=gen), generator=gen), nn.LeakyReLU(0.2),
        nn.spectral_norm(nn.Linear(64, 64, dtype="float64", generator=gen), generator=gen), nn.LeakyReLU(0.2),
        nn.spectral_norm(nn.Linear(64, 1, dtype="float64", generator=gen), generator=gen),
    )
    x0 = sg.tensor(np.zeros((1, 8)))
    for _ in range(100):  # let the power iterations converge
        mlp(x0)
    mlp.eval()
    r = np.random.default_rng(1)
    a, b = r.standard_normal((2000, 8)), r.standard_normal((2000, 8)) * 0.1
    b = a + b
    fa, fb = mlp(sg.tensor(a)).data[:, 0], mlp(sg.tensor(b)).data[:, 0]
    ratio = np.abs(fa - fb) / np.linalg.norm(a - b, axis=1)
    # stated tolerance: the power-iteration estimate of sigma is within 1e-3 of the SVD's
    assert ratio.max() <= 1 + 1e-3
    assert ratio.max() > 0.05  # not trivially flat


def test_spectral_norm_on_conv_transpose_uses_dim_1():
    ct = nn.spectral_norm(nn.ConvTranspose2d(3, 5, 3, dtype="float64", generator=0), n_power_iterations=30, generator=0)
    ct(sg.tensor(np.zeros((1, 3, 4, 4))))
    W = ct.weight.data.transpose(1, 0, 2, 3).reshape(5, -1)
    np.testing.assert_allclose(np.linalg.svd(W, compute_uv=False)[0], 1.0, rtol=1e-3)


def test_spectral_norm_errors():
    with pytest.raises(TypeError, match="spectral_norm: ReLU has no parameter 'weight'"):
        nn.spectral_norm(nn.ReLU())
    with pytest.raises(ValueError, match="n_power_iterations must be >= 1, received 0"):
        nn.spectral_norm(nn.Linear(2, 2), n_power_iterations=0)


def test_remove_spectral_norm_restores_a_plain_parameter():
    lin = nn.spectral_norm(nn.Linear(4, 5, dtype="float64", generator=0), n_power_iterations=50, generator=0)
    lin(sg.tensor(np.zeros((1, 4))))
    W = lin.weight.data.copy()
    nn.remove_spectral_norm(lin)
    np.testing.assert_allclose(lin.weight.data, W, rtol=1e-3)
    assert [n for n, _ in lin.named_parameters()] == ["bias", "weight"]


# ---------------------------------------------------------------------------
# Minibatch layers
# ---------------------------------------------------------------------------
def test_minibatch_discrimination_equals_its_definition():
    r = np.random.default_rng(0)
    layer = nn.MinibatchDiscrimination(4, 3, kernel_dims=2, dtype="float64", generator=0)
    f = r.standard_normal((5, 4))
    out = layer(sg.tensor(f)).data
    T = layer.T.data.reshape(4, 3, 2)
    M = np.einsum("na,abc->nbc", f, T)
    o = np.zeros((5, 3))
    for i in range(5):
        for j in range(5):
            for b in range(3):
                o[i, b] += math.exp(-np.abs(M[i, b] - M[j, b]).sum())
    np.testing.assert_allclose(out, np.concatenate([f, o], axis=1), rtol=1e-12)
    assert out.shape == (5, 7)
    g = lambda f, T: sg.tanh(_mbd(f, T))  # noqa: E731
    sg.check_grads(g, f, layer.T.data, order=1)


def _mbd(f, T):
    layer = nn.MinibatchDiscrimination(4, 3, kernel_dims=2, dtype="float64", generator=0)
    layer.T = T
    return layer(f)


def test_minibatch_stddev_equals_its_definition():
    r = np.random.default_rng(1)
    x = r.standard_normal((6, 2, 3, 3))
    out = nn.MinibatchStdDev(group_size=3)(sg.tensor(x)).data
    assert out.shape == (6, 3, 3, 3)
    np.testing.assert_array_equal(out[:, :2], x)
    for m in range(2):  # groups {m, m + 2, m + 4}
        grp = x[[m, m + 2, m + 4]]
        s = np.sqrt(grp.var(axis=0) + 1e-8).mean()
        for n in (m, m + 2, m + 4):
            np.testing.assert_allclose(out[n, 2], s, rtol=1e-12)
    sg.check_grads(lambda x: sg.tanh(nn.MinibatchStdDev(3)(x)), x, order=2)
    with pytest.raises(ValueError, match="batch size 5 is not divisible by the group size 4"):
        nn.MinibatchStdDev(4)(sg.tensor(np.zeros((5, 3))))
