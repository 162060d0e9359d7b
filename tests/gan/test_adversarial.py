"""FGSM and PGD: the step is eps * sign(grad) (the gradient written out for a softmax-linear model), the images stay
valid, PGD stays in the ball; against the shipped digits classifier, accuracy falls with eps."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scratchgen import nn
from scratchgen.gan.adversarial import accuracy_under_attack, fgsm, input_gradient, pgd, predict


def _linear_model(seed=0):
    m = nn.Sequential(nn.Flatten(), nn.Linear(64, 10, generator=seed)).double()
    W, b = m[1].weight.data, m[1].bias.data
    return m, W, b


def _ce_gradient(W, b, x, y):
    # J = -log softmax(W x + b)_y;  dJ/dx = W^T (softmax(l) - e_y), per image
    l = x.reshape(len(x), -1) @ W.T + b
    p = np.exp(l - l.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p[np.arange(len(x)), y] -= 1
    return (p @ W).reshape(x.shape)


@settings(max_examples=10, derandomize=True)
@given(st.integers(0, 1000), st.floats(0.01, 0.4))
def test_fgsm_step_is_eps_times_the_sign_of_the_gradient(seed, eps):
    m, W, b = _linear_model(seed)
    g = np.random.default_rng(seed)
    x, y = g.uniform(-0.5, 0.5, (5, 1, 8, 8)), g.integers(0, 10, 5)
    grad = _ce_gradient(W, b, x, y)
    assert np.max(np.abs(input_gradient(m, x, y) - grad)) < 1e-12
    step = fgsm(m, x, y, eps) - x  # no pixel reaches the box here (|x| <= 0.5, eps <= 0.4)
    assert np.max(np.abs(step - eps * np.sign(grad))) < 1e-12


def test_adversarial_images_stay_valid():
    m, _, _ = _linear_model()
    g = np.random.default_rng(1)
    x, y = g.choice([-1.0, 1.0], (8, 1, 8, 8)), g.integers(0, 10, 8)  # every pixel at the edge of [-1, 1]
    for eps in (0.1, 0.9, 5.0):
        xf = fgsm(m, x, y, eps)
        xp = pgd(m, x, y, eps, steps=5, seed=2)
        for xa in (xf, xp):
            assert xa.min() >= -1 and xa.max() <= 1 and np.max(np.abs(xa - x)) <= eps + 1e-12


def test_pgd_in_the_ball_and_one_step_is_fgsm():
    m, _, _ = _linear_model()
    g = np.random.default_rng(3)
    x, y = g.uniform(-0.5, 0.5, (6, 1, 8, 8)), g.integers(0, 10, 6)
    assert np.max(np.abs(pgd(m, x, y, 0.2, steps=7) - x)) <= 0.2 + 1e-12
    assert np.array_equal(pgd(m, x, y, 0.2, alpha=0.2, steps=1, random_start=False), fgsm(m, x, y, 0.2))
    with pytest.raises(ValueError, match="eps"):
        fgsm(m, x, y, -0.1)


def test_the_shipped_classifier_falls_with_eps():
    from scratchgen.data.digits import digits_split
    from scratchgen.metrics.features import load_feature_classifier

    s = digits_split()
    C = load_feature_classifier()
    x, y = s.x_test[:100], s.y_test[:100]
    clean = float((predict(C, x) == y).mean())
    acc = accuracy_under_attack(C, x, y, [0.0, 0.25], "fgsm")
    assert abs(acc[0] - clean) < 1e-12 and clean > 0.9
    assert acc[1] < clean - 0.3  # a quarter of the pixel range's half (2 grey levels of 16) costs > 30 points
