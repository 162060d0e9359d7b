"""The denoisers of scratchgen.diffusion.models: the sinusoidal embedding and the MLP written out in NumPy,
the shapes and errors of both networks. (The embedding's values and the CNN's zero start and
training are also checked in test_ddpm_optimal_mse.py and test_ddpm_train.py.)"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import scratchgen as sg
from scratchgen.diffusion.models import ConvDenoiser, MLPDenoiser, timestep_embedding


@given(st.integers(2, 16), st.sampled_from([100.0, 1e4]), st.lists(st.integers(0, 5000), min_size=1, max_size=5))
def test_embedding_frequencies_run_geometrically_from_1_to_1_over_P(half, P, ts):
    t = np.array(ts)
    e = timestep_embedding(t, 2 * half, like=np.zeros(1, dtype=np.float64), max_period=P)
    omega = P ** (-np.arange(half) / (half - 1))  # omega_0 = 1, omega_{h-1} = 1/P
    assert e.shape == (len(ts), 2 * half) and e.dtype == np.float64
    assert np.all(np.abs(e[:, :half] - np.sin(t[:, None] * omega)) < 1e-9)
    assert np.all(np.abs(e[:, half:] - np.cos(t[:, None] * omega)) < 1e-9)


def test_embedding_checks_t_and_dim():
    with pytest.raises(ValueError, match=r"t must be an int array of shape \(B,\), got shape \(2, 1\), dtype int64"):
        timestep_embedding(np.array([[1], [2]]), 8)
    with pytest.raises(ValueError, match=r"t must be an int array of shape \(B,\), got shape \(2,\), dtype float64"):
        timestep_embedding(np.array([1.0, 2.0]), 8)
    with pytest.raises(ValueError, match="dim must be even and >= 4, got 2"):
        timestep_embedding(np.array([1]), 2)


def _silu(v):
    return v / (1 + np.exp(-v))


@pytest.mark.parametrize("recorded", [True, False], ids=["recorded", "no_grad-shared-t"])
def test_mlp_denoiser_computes_its_documented_equation(recorded):
    # h0 = [x_t, SiLU(W_e e(t) + b_e)], h_{k+1} = SiLU(W_k h_k + b_k), eps = W_out h_L + b_out;
    # under no_grad the same function through the shared-t path (the time branch once per distinct t)
    m = MLPDenoiser(3, hidden=8, n_hidden=2, time_dim=6, dtype=np.float64, generator=1)
    g = np.random.default_rng(0)
    x, t = g.standard_normal((4, 3)), np.array([1, 7, 7, 999])
    if recorded:
        got = m(x, t)
    else:
        with sg.no_grad():
            got = m(x, t)
    assert got.shape == (4, 3) and got.dtype == np.float64
    half = 3
    omega = 1e4 ** (-np.arange(half) / (half - 1))
    e = np.concatenate([np.sin(t[:, None] * omega), np.cos(t[:, None] * omega)], axis=1)
    lin = [mod for mod in m.net if isinstance(mod, sg.nn.Linear)]
    assert len(lin) == 3  # n_hidden = 2 hidden layers and the output layer
    h = np.concatenate([x, _silu(e @ m.time_proj.weight.data.T + m.time_proj.bias.data)], axis=1)
    for layer in lin[:-1]:
        h = _silu(h @ layer.weight.data.T + layer.bias.data)
    expected = h @ lin[-1].weight.data.T + lin[-1].bias.data
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("ts", [[640], [3, 640, 999]], ids=["one-t", "three-t"])
def test_mlp_shared_t_path_matches_the_recorded_path(ts):
    # float32, 5,000 rows: the sampler's path (blocks of rows, time branch per distinct t) against the
    # recorded one, equal up to float32 rounding of the first layer's sum; the checkpoint names stay
    m = MLPDenoiser(2, hidden=64, n_hidden=3, time_dim=16, generator=4)
    g = np.random.default_rng(1)
    x = g.standard_normal((5000, 2)).astype(np.float32)
    t = np.asarray(ts)[g.integers(0, len(ts), size=5000)]
    with sg.no_grad():
        fast = m(x, t).numpy()
    slow = m(x, t).numpy()
    assert fast.dtype == np.float32 and fast.shape == (5000, 2)
    assert np.abs(fast - slow).max() < 1e-5 * (1 + np.abs(slow).max())
    assert not any("_tail" in k for k in m.state_dict())


def test_mlp_denoiser_is_seeded_and_names_bad_inputs():
    a, b = MLPDenoiser(2, hidden=8, n_hidden=1, time_dim=4, generator=3), MLPDenoiser(2, hidden=8, n_hidden=1, time_dim=4,
                                                                                      generator=3)
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(p.data, q.data)
    with pytest.raises(ValueError, match="MLPDenoiser: n_hidden must be >= 1, got 0"):
        MLPDenoiser(2, n_hidden=0)
    with pytest.raises(ValueError, match="MLPDenoiser: t has 3 rows but x_t has 2"):
        a(np.zeros((2, 2), np.float32), np.array([1, 2, 3]))


def test_conv_denoiser_takes_any_even_sides_and_returns_x_t_shape():
    m = ConvDenoiser(in_channels=2, channels=4, time_dim=4, generator=0)
    m.conv_out.weight.data[...] = 0.1  # leave the zero start, so the output depends on the input
    x = np.random.default_rng(0).standard_normal((2, 2, 6, 10)).astype(np.float32)
    out = m(x, np.array([3, 40]))
    assert out.shape == (2, 2, 6, 10) and out.dtype == np.float32
    assert float(np.abs(out.numpy()).max()) > 0
    with pytest.raises(ValueError, match=r"x_t must have shape \(B, 2, H, W\) with even H, W, got \(2, 1, 6, 10\)"):
        m(x[:, :1], np.array([3, 40]))
