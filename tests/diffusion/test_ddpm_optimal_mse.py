"""Property 5 of the DDPM issue: for data N(mu, s^2), a trained denoiser's noise-prediction
MSE at each t approaches the analytic minimum

    MSE*(t) = ab s^2 / (ab s^2 + 1 - ab),     ab = alpha_bar_t,

the residual variance of regressing eps on x_t = sqrt(ab) x0 + sqrt(1-ab) eps (written out
in tests/diffusion/test_samplers.py). Any predictor's MSE is at least this, so the test checks both
sides: the measured MSE is not below the minimum (beyond Monte-Carlo noise), and after
training it is close to it.

Monte-Carlo tolerance: the per-example error, averaged over D = 2 independent dimensions of
Gaussian residuals with variance m (= the model's MSE), is m chi^2_2 / 2, with standard
deviation m; so SE = m / sqrt(n) and 5 SE is used.

The fast test trains a per-timestep affine denoiser eps_hat = a[t] x_t + b[t] (the optimal
predictor is affine in x_t for Gaussian data, so the family contains it) with plain SGD
through scratchgen's autodiff and ``loss_simple``. The slow test trains the MLP denoiser of
``scratchgen.diffusion.models`` with Adam.
"""
import math

import numpy as np
import pytest

import scratchgen as sg
import scratchgen.optim as optim
from scratchgen.diffusion import linear_schedule, loss_simple
from scratchgen.diffusion.models import MLPDenoiser, timestep_embedding

MU = np.array([1.0, -1.0])
SD = 0.5
T = 100
SCHED = linear_schedule(T=T, beta_1=1e-3, beta_T=0.2)  # Ho's schedule scaled to 100 steps
T_EVAL = [1, 5, 10, 25, 50, 75, 100]


def minimum_mse(t):
    ab = float(np.prod(1 - SCHED.beta[1 : t + 1]))
    return ab * SD**2 / (ab * SD**2 + 1 - ab)


def measured_mse(model, t, n, g, dtype):
    x0 = (MU + SD * g.standard_normal((n, 2))).astype(dtype)
    with sg.no_grad():
        per_example = loss_simple(SCHED, model, x0, seed=g, t=t, reduction="none").numpy()
    return per_example.mean(), per_example


class PerTimestepAffine:
    """eps_hat = a[t] * x_t + b[t], one (a, b) per timestep and dimension."""

    def __init__(self, dtype):
        self.a = sg.tensor(np.zeros((T + 1, 2), dtype=dtype), requires_grad=True)
        self.b = sg.tensor(np.zeros((T + 1, 2), dtype=dtype), requires_grad=True)

    def __call__(self, xt, t):
        return self.a[t] * xt + self.b[t]  # (B, 2)


def test_trained_affine_denoiser_reaches_the_minimum_mse():
    g = sg.rng(0)
    model = PerTimestepAffine(np.float64)
    t_grid = np.repeat(np.array(T_EVAL), 256)  # every evaluated t, 256 examples each
    lr = 0.5 * len(T_EVAL)  # the loss averages over the 7 timesteps: undo that per t
    for _ in range(300):
        x0 = MU + SD * g.standard_normal((t_grid.size, 2))
        loss = loss_simple(SCHED, model, x0, seed=g, t=t_grid)
        model.a.grad = model.b.grad = None
        loss.backward()
        with sg.no_grad():
            model.a.data -= lr * model.a.grad.data
            model.b.data -= lr * model.b.grad.data
    n = 20000
    for t in T_EVAL:
        m_star = minimum_mse(t)
        mse, per_example = measured_mse(model, t, n, g, np.float64)
        se = per_example.std() / math.sqrt(n)
        assert mse > m_star - 5 * se  # nothing beats the Bayes predictor
        # trained: within 5 SE plus 1% (the SGD iterate's remaining distance to the optimum)
        assert mse < m_star + 5 * se + 0.01 * m_star, (t, mse, m_star)


def test_timestep_embedding():
    e = timestep_embedding(np.array([1, 2, 1000]), 8, like=np.zeros(1, dtype=np.float64))
    assert e.shape == (3, 8)
    omega = 10000.0 ** (-np.arange(4) / 3)
    np.testing.assert_allclose(e[:, :4], np.sin(np.array([1, 2, 1000])[:, None] * omega), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(e[:, 4:], np.cos(np.array([1, 2, 1000])[:, None] * omega), rtol=1e-12, atol=1e-12)
    assert timestep_embedding(np.array([3]), 8).dtype == np.float32
    with pytest.raises(ValueError, match="even"):
        timestep_embedding(np.array([1]), 7)


def test_mlp_denoiser_shapes_and_gradients():
    m = MLPDenoiser(2, hidden=16, n_hidden=2, time_dim=8, generator=0)
    x = np.random.default_rng(0).standard_normal((5, 2)).astype(np.float32)
    loss = loss_simple(SCHED, m, x, seed=1)
    loss.backward()
    assert loss.dtype == np.float32
    assert all(p.grad is not None and np.all(np.isfinite(p.grad.numpy())) for p in m.parameters())
    assert any(np.abs(p.grad.numpy()).max() > 0 for p in m.parameters())
    with pytest.raises(ValueError, match=r"\(B, 2\)"):
        m(np.zeros((5, 3), dtype=np.float32), np.ones(5, dtype=np.int64))


@pytest.mark.slow
def test_trained_mlp_denoiser_approaches_the_minimum_mse():
    # ~1-2 minutes on the 2-core machine. Tolerance above the minimum: 5 SE + 3% of the minimum +
    # 2e-3 absolute (the finite training budget: at large t the minimum is ~1e-5 and the
    # network's absolute error floor, ~1e-3 after 3000 Adam steps, dominates).
    g = sg.rng(1)
    model = MLPDenoiser(2, hidden=64, n_hidden=2, time_dim=16, generator=0)
    opt = optim.Adam(model.parameters(), lr=3e-3)
    for step in range(3000):
        if step == 2000:
            for group in opt.param_groups:
                group["lr"] = 1e-3
        x0 = (MU + SD * g.standard_normal((256, 2))).astype(np.float32)
        loss = loss_simple(SCHED, model, x0, seed=g, low_discrepancy=True)
        opt.zero_grad()
        loss.backward()
        opt.step()
    n = 20000
    for t in T_EVAL:
        m_star = minimum_mse(t)
        mse, per_example = measured_mse(model, t, n, g, np.float32)
        se = per_example.std() / math.sqrt(n)
        assert mse > m_star - 5 * se
        assert mse < m_star + 5 * se + 0.03 * m_star + 2e-3, (t, mse, m_star)
