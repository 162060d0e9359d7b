"""WGAN-GP, R1 and weight clipping: per-sample norms over all non-batch axes, values against hand
derivations, gradients (of gradients) against central differences and HIPS autograd."""
import autograd.numpy as anp
import numpy as np
import pytest
from autograd import elementwise_grad as ag_egrad
from autograd import grad as ag_grad
from hypothesis import given
from hypothesis import strategies as st

import scratchgen as sg
from scratchgen.gan import penalties as P


def linear_critic(w):
    """D(x) = <w, x> over all non-batch axes: gradient w for every sample."""
    def D(x):
        return (x * w).reshape(x.shape[0], -1).sum(axis=1)
    return D


def square_critic(x):
    """D(x) = 1/2 ||x||^2 per sample: gradient x."""
    return (x * x).reshape(x.shape[0], -1).sum(axis=1) * 0.5


@given(st.integers(2, 5), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(0, 10_000))
def test_penalty_is_zero_for_unit_norm_linear_critic_and_uses_per_sample_norm(B, C, H, W, seed):
    r = np.random.default_rng(seed)
    w = r.normal(size=(C, H, W))
    w /= np.linalg.norm(w)  # Frobenius norm over C, H, W is 1
    real, fake = r.normal(size=(B, C, H, W)), r.normal(size=(B, C, H, W))
    gp = float(P.gradient_penalty(linear_critic(w), real, fake, rng=seed))
    assert abs(gp) < 1e-12
    # the shipped bugs would not give 0 here:
    #   norm over the whole batch: ||(w, ..., w)|| = sqrt(B)  ->  lam (sqrt(B) - 1)^2
    assert 10 * (np.sqrt(B) - 1) ** 2 > 1
    #   norm over channels only, one per pixel: mean over pixels of (||w[:, h, w]|| - 1)^2
    per_pixel = np.sqrt((w**2).sum(axis=0))
    if H * W > 1:
        assert 10 * np.mean((per_pixel - 1) ** 2) > 1e-3
    # a scaled weight s w gives lam (s - 1)^2
    for s in (0.5, 2.0, 3.0):
        gp_s = float(P.gradient_penalty(linear_critic(s * w), real, fake, lam=10.0, rng=seed))
        assert abs(gp_s - 10 * (s - 1) ** 2) < 1e-9
        assert gp_s > 0


@given(st.integers(1, 5), st.integers(1, 4), st.integers(0, 10_000))
def test_penalty_value_for_a_nonlinear_critic_matches_hand_derivation(B, d, seed):
    r = np.random.default_rng(seed)
    real, fake = r.normal(size=(B, d, 2)), r.normal(size=(B, d, 2))
    eps = r.random(B)
    gp = float(P.gradient_penalty(square_critic, real, fake, lam=3.0, eps=eps))
    # grad of 1/2||x||^2 is x; x_hat = eps x + (1 - eps) x_tilde per sample
    x_hat = eps[:, None, None] * real + (1 - eps[:, None, None]) * fake
    norms = np.sqrt((x_hat**2).sum(axis=(1, 2)))
    assert abs(gp - 3.0 * np.mean((norms - 1) ** 2)) < 1e-10
    np.testing.assert_allclose(P.critic_grad_norms(square_critic, x_hat).numpy(), norms, rtol=1e-10)


def test_interpolation_endpoints():
    r = np.random.default_rng(0)
    real, fake = r.normal(size=(3, 4)), r.normal(size=(3, 4))
    n_real = np.sqrt((real**2).sum(1))
    n_fake = np.sqrt((fake**2).sum(1))
    gp1 = float(P.gradient_penalty(square_critic, real, fake, lam=1.0, eps=np.ones(3)))
    gp0 = float(P.gradient_penalty(square_critic, real, fake, lam=1.0, eps=np.zeros(3)))
    assert abs(gp1 - np.mean((n_real - 1) ** 2)) < 1e-12
    assert abs(gp0 - np.mean((n_fake - 1) ** 2)) < 1e-12
    # eps differs per sample: (1, 0, 1) mixes the two
    gpm = float(P.gradient_penalty(square_critic, real, fake, lam=1.0, eps=np.array([1.0, 0.0, 1.0])))
    ref = np.mean([(n_real[0] - 1) ** 2, (n_fake[1] - 1) ** 2, (n_real[2] - 1) ** 2])
    assert abs(gpm - ref) < 1e-12
    # seeded: the same seed, the same penalty
    a = float(P.gradient_penalty(square_critic, real, fake, rng=5))
    b = float(P.gradient_penalty(square_critic, real, fake, rng=5))
    assert a == b


def _mlp_critic(W1, w2):
    def D(x):
        return sg.tanh(x @ W1) @ w2  # (B,)
    return D


@given(st.integers(0, 10_000))
def test_penalty_gradient_wrt_critic_parameters_passes_order2_check(seed):
    r = np.random.default_rng(seed)
    B, d, h = 3, 2, 3
    real, fake = r.normal(size=(B, d)), r.normal(size=(B, d))
    eps = r.random(B)
    W1, w2 = r.normal(size=(d, h)), r.normal(size=h)

    def f(W1_, w2_):
        return P.gradient_penalty(_mlp_critic(W1_, w2_), real, fake, lam=10.0, eps=eps)

    sg.check_grads(f, W1, w2, order=2)


def test_penalty_and_its_parameter_gradient_match_autograd():
    r = np.random.default_rng(1)
    B, d, h = 4, 3, 5
    real, fake = r.normal(size=(B, d)), r.normal(size=(B, d))
    eps = r.random(B)
    W1, w2 = r.normal(size=(d, h)), r.normal(size=h)
    x_hat = eps[:, None] * real + (1 - eps[:, None]) * fake

    def gp_ag(W1_):
        D = lambda x: anp.dot(anp.tanh(anp.dot(x, W1_)), w2)
        g = ag_egrad(D)(x_hat)  # (B, d): row b is grad D(x_hat_b)
        return 10.0 * anp.mean((anp.sqrt(anp.sum(g**2, axis=1)) - 1) ** 2)

    f = lambda W1_: P.gradient_penalty(_mlp_critic(W1_, w2), real, fake, lam=10.0, eps=eps)
    val, g = sg.value_and_grad(f)(sg.tensor(W1))
    assert abs(float(val) - gp_ag(W1)) < 1e-12
    np.testing.assert_allclose(g.numpy(), ag_grad(gp_ag)(W1), rtol=1e-9, atol=1e-12)


def test_r1_penalty_values_and_order2_gradient():
    r = np.random.default_rng(2)
    real = r.normal(size=(5, 2, 3))
    w = r.normal(size=(2, 3))
    # R1 = gamma/2 E ||grad D||^2: ||w||^2 for the linear critic, ||x||^2 for 1/2||x||^2
    assert abs(float(P.r1_penalty(linear_critic(w), real, gamma=4.0)) - 2.0 * np.sum(w**2)) < 1e-12
    ref = 2.0 * np.mean((real**2).sum(axis=(1, 2)))
    assert abs(float(P.r1_penalty(square_critic, real, gamma=4.0)) - ref) < 1e-12
    x2 = r.normal(size=(3, 2))
    sg.check_grads(lambda W1_, w2_: P.r1_penalty(_mlp_critic(W1_, w2_), x2), r.normal(size=(2, 3)),
                   r.normal(size=3), order=2)


def test_clip_weights_in_place():
    a = sg.tensor(np.array([-0.5, 0.005, 0.02, -0.01]), requires_grad=True)
    b = sg.tensor(np.array([[3.0, -3.0]]))
    data_a = a.data
    out = P.clip_weights([a, b], c=0.01)
    assert out[0] is a and a.data is data_a
    np.testing.assert_array_equal(a.numpy(), [-0.01, 0.005, 0.01, -0.01])
    np.testing.assert_array_equal(b.numpy(), [[0.01, -0.01]])
    with pytest.raises(ValueError, match="clip_weights: c must be a finite number > 0, got 0"):
        P.clip_weights([a], c=0.0)


def test_bad_inputs():
    r = np.random.default_rng(3)
    x = r.normal(size=(4, 3))
    with pytest.raises(ValueError, match="same shape"):
        P.gradient_penalty(square_critic, x, x[:3])
    with pytest.raises(ValueError, match="one score per sample"):
        P.gradient_penalty(lambda t: t @ np.ones((3, 4)), x, x)  # (B, 4) scores
    with pytest.raises(ValueError, match="one score per sample"):
        P.gradient_penalty(lambda t: t.sum(), x, x)  # one score for the whole batch
    with pytest.raises(ValueError, match="eps"):
        P.gradient_penalty(square_critic, x, x, eps=np.ones((4, 1)))
    # (B, 1) scores are accepted and equal (B,)
    w = r.normal(size=3)
    a = float(P.gradient_penalty(lambda t: t @ w, x, x, eps=np.full(4, 0.5)))
    b = float(P.gradient_penalty(lambda t: t @ w.reshape(3, 1), x, x, eps=np.full(4, 0.5)))
    assert abs(a - b) < 1e-14 and abs(a - 10 * (np.linalg.norm(w) - 1) ** 2) < 1e-12


# ---------------------------------------------------------------------------
# Documented contracts, one by one
# ---------------------------------------------------------------------------
def test_no_gradient_flows_into_real_or_fake():
    # the interpolates are built from the values of real and fake: the penalty constrains the critic only
    r = np.random.default_rng(4)
    real = sg.tensor(r.normal(size=(3, 2)), requires_grad=True)
    fake = sg.tensor(r.normal(size=(3, 2)), requires_grad=True)
    W1 = sg.tensor(r.normal(size=(2, 3)), requires_grad=True)
    w2 = r.normal(size=3)
    P.gradient_penalty(_mlp_critic(W1, w2), real, fake, eps=np.full(3, 0.4)).backward()
    assert real.grad is None and fake.grad is None
    assert W1.grad is not None and float(np.abs(W1.grad.numpy()).max()) > 0
    P.r1_penalty(_mlp_critic(W1, w2), real).backward()
    assert real.grad is None


def test_penalty_of_a_critic_with_zero_gradient_is_lambda_with_a_finite_parameter_gradient():
    # ||grad|| = 0: the penalty is lam (0 - 1)^2 = lam, and d||g||/dg stays finite there
    x = np.random.default_rng(5).normal(size=(4, 3))
    w = sg.tensor(np.zeros(3), requires_grad=True)
    gp = P.gradient_penalty(lambda t: t @ w, x, x[::-1].copy(), lam=7.0, eps=np.full(4, 0.5))
    assert abs(float(gp) - 7.0) < 1e-12
    gp.backward()
    assert np.all(np.isfinite(w.grad.numpy()))
    norms = P.critic_grad_norms(lambda t: t @ w, x)
    assert norms.shape == (4,) and np.all(np.abs(norms.numpy()) < 1e-14)


def test_r1_accepts_b_by_1_scores_and_uses_the_per_sample_squared_norm():
    r = np.random.default_rng(6)
    real = r.normal(size=(5, 2, 2))
    # D(x) = sum over non-batch axes of x^3 / 3: gradient x^2, squared norm sum x^4
    critic = lambda t: (t * t * t).reshape(t.shape[0], -1).sum(axis=1, keepdims=True) * (1 / 3)  # noqa: E731
    expected = 0.5 * 3.0 * np.mean((real**4).sum(axis=(1, 2)))
    assert abs(float(P.r1_penalty(critic, real, gamma=3.0)) - expected) < 1e-12


def test_bad_arguments_are_named():
    x = np.zeros((3, 2))
    with pytest.raises(ValueError, match=r"gradient_penalty: eps must lie in \[0, 1\]"):
        P.gradient_penalty(square_critic, x, x, eps=np.array([0.5, 1.5, 0.0]))
    with pytest.raises(ValueError, match="critic_grad_norms: critic must return a Tensor, got ndarray"):
        P.critic_grad_norms(lambda t: np.zeros(3), x)
    with pytest.raises(ValueError, match="r1_penalty: real must be a float array or Tensor, got int64"):
        P.r1_penalty(square_critic, np.zeros((3, 2), dtype=np.int64))
    with pytest.raises(ValueError, match=r"gradient_penalty: fake must have a non-empty batch axis first, got shape \(0, 2\)"):
        P.gradient_penalty(square_critic, x, np.zeros((0, 2)))
    with pytest.raises(ValueError, match=r"clip_weights: params\[1\] must be a Tensor, got ndarray"):
        P.clip_weights([sg.tensor(np.ones(2)), np.ones(2)])


def test_clip_weights_records_no_tape():
    w = sg.tensor(np.array([0.5, -0.5]), requires_grad=True)
    P.clip_weights([w], c=0.1)
    assert w.requires_grad and w.grad is None and w.is_leaf
    np.testing.assert_array_equal(w.numpy(), [0.1, -0.1])
