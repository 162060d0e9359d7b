"""GAN losses: optimal-discriminator identities (LSGAN chi^2, hinge TV, minimax JSD, label smoothing),
saturating vs non-saturating gradients, stability at |logit| = 1e4, values against NumPy oracles.

The identities are evaluated *exactly* with the batch losses: a batch that holds each outcome x
with multiplicity proportional to p(x) has batch mean equal to the expectation under p."""
import math

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad as ag_grad
from hypothesis import assume, given
from hypothesis import strategies as st

import scratchgen as sg
from scratchgen import divergences as dv
from scratchgen.gan import losses as L


@st.composite
def count_pair(draw, n_min=2, n_max=6, both_positive=False):
    """Integer counts of n outcomes under p (data) and q (generator); batch = repeated outcomes."""
    n = draw(st.integers(n_min, n_max))
    lo = 1 if both_positive else 0
    cp = np.array(draw(st.lists(st.integers(lo, 5), min_size=n, max_size=n)))
    cq = np.array(draw(st.lists(st.integers(lo, 5), min_size=n, max_size=n)))
    assume(cp.sum() > 0 and cq.sum() > 0)
    return cp, cq


def batches(cp, cq):
    """Outcome indices of the real and the fake batch."""
    return np.repeat(np.arange(len(cp)), cp), np.repeat(np.arange(len(cq)), cq)


def sigmoid_np(l):
    return 1.0 / (1.0 + np.exp(-l))


# ---------------------------------------------------------------------------
# Property 3: LSGAN (a, b, c) = (-1, 1, 0) at D* gives a Pearson chi^2
# ---------------------------------------------------------------------------
@given(count_pair())
def test_lsgan_generator_objective_at_optimal_d_is_pearson_chi2(cpq):
    cp, cq = cpq
    p, q = cp / cp.sum(), cq / cq.sum()
    ir, if_ = batches(cp, cq)
    a, b, c = -1.0, 1.0, 0.0
    s = p + q
    m = s > 0
    # D*(x) = (b p + a q) / (p + q)   (Mao et al. Eq. 4), on the outcomes that occur
    d_star = np.zeros_like(p)
    d_star[m] = (b * p[m] + a * q[m]) / s[m]
    lg = L.lsgan_g_loss(d_star[if_], c=c, real_scores=d_star[ir])
    half_chi = 0.5 * np.sum((p[m] - q[m]) ** 2 / s[m])
    assert abs(float(lg) - half_chi) < 1e-12
    # = chi^2(q || (p+q)/2) with q's partner in the denominator (our convention)
    assert abs(float(lg) - float(dv.pearson_chi2(q, s / 2))) < 1e-12
    # Mao et al.'s chi^2_Pearson(p+q || 2q) = int (2q - (p+q))^2 / (p+q) = 2 L_G; ours: pearson_chi2(2q, p+q)
    mao = np.sum((2 * q[m] - s[m]) ** 2 / s[m])
    assert abs(2 * float(lg) - mao) < 1e-12
    assert abs(float(dv.pearson_chi2(2 * q, s)) - mao) < 1e-12


@given(count_pair(), st.floats(-2, 2), st.floats(-2, 2))
def test_lsgan_optimal_discriminator_is_stationary_and_minimal(cpq, a, b):
    cp, cq = cpq
    p, q = cp / cp.sum(), cq / cq.sum()
    ir, if_ = batches(cp, cq)
    m = (p + q) > 0
    d_star = np.where(m, (b * p + a * q) / np.where(m, p + q, 1), 0.0)

    def loss(d):  # free values of D per outcome
        return L.lsgan_d_loss(d[ir], d[if_], a=a, b=b)

    g = sg.grad(loss)(sg.tensor(d_star)).numpy()
    assert np.max(np.abs(g)) < 1e-12
    r = np.random.default_rng(0)
    base = float(loss(sg.tensor(d_star)))
    for _ in range(5):
        assert float(loss(sg.tensor(d_star + r.normal(size=len(p)) * 0.1))) >= base - 1e-15


def test_lsgan_values_against_formula():
    r = np.random.default_rng(1)
    dr, df = r.normal(size=7), r.normal(size=5)
    a, b, c = 0.0, 1.0, 1.0
    assert abs(float(L.lsgan_d_loss(dr, df, a=a, b=b)) - (0.5 * np.mean((dr - b) ** 2) + 0.5 * np.mean((df - a) ** 2))) < 1e-14
    assert abs(float(L.lsgan_g_loss(df, c=c)) - 0.5 * np.mean((df - c) ** 2)) < 1e-14
    # the data term changes the value, not the gradient with respect to D(G(z))
    g1 = sg.grad(lambda t: L.lsgan_g_loss(t, c=0.0))(sg.tensor(df)).numpy()
    g2 = sg.grad(lambda t: L.lsgan_g_loss(t, c=0.0, real_scores=dr))(sg.tensor(df)).numpy()
    np.testing.assert_array_equal(g1, g2)


# ---------------------------------------------------------------------------
# Property 4: hinge at its optimal D equals 2 (1 - TV)
# ---------------------------------------------------------------------------
@given(count_pair())
def test_hinge_at_optimal_d_is_two_times_one_minus_tv(cpq):
    cp, cq = cpq
    p, q = cp / cp.sum(), cq / cq.sum()
    ir, if_ = batches(cp, cq)
    d_star = np.sign(p - q)  # +1 where p > q, -1 where p < q, 0 at ties (any value in [-1, 1] is optimal)
    val = float(L.hinge_d_loss(d_star[ir], d_star[if_]))
    tv = 0.5 * np.sum(np.abs(p - q))
    assert abs(val - 2 * (1 - tv)) < 1e-12
    assert abs(val - 2 * np.sum(np.minimum(p, q))) < 1e-12
    assert abs(val - 2 * (1 - float(dv.total_variation(p, q)))) < 1e-12
    # no discriminator does better
    r = np.random.default_rng(0)
    for _ in range(10):
        d = r.normal(size=len(p)) * 2
        assert float(L.hinge_d_loss(d[ir], d[if_])) >= val - 1e-12


def test_hinge_and_wgan_values():
    r = np.random.default_rng(2)
    dr, df = r.normal(size=6) * 2, r.normal(size=4) * 2
    ref = np.mean(np.maximum(0, 1 - dr)) + np.mean(np.maximum(0, 1 + df))
    assert abs(float(L.hinge_d_loss(dr, df)) - ref) < 1e-14
    assert abs(float(L.hinge_g_loss(df)) + np.mean(df)) < 1e-14
    assert abs(float(L.wgan_critic_loss(dr, df)) - (np.mean(df) - np.mean(dr))) < 1e-14
    assert abs(float(L.wgan_g_loss(df)) + np.mean(df)) < 1e-14


def test_wgan_critic_loss_with_the_optimal_1d_critic_is_minus_w1():
    # Q = P shifted right by 3: the 1-Lipschitz critic f(x) = -x is optimal (Kantorovich-Rubinstein),
    # and L = E_q f - E_p f = -(E_q x - E_p x) = -3 = -W1(P, Q)
    r = np.random.default_rng(3)
    x = r.normal(0, 1, 500)
    y = r.permutation(x + 3.0)
    assert abs(float(L.wgan_critic_loss(-x, -y)) + float(dv.w1_1d(x, y))) < 1e-9
    assert abs(float(dv.w1_1d(x, y)) - 3.0) < 1e-9
    # a critic with a smaller slope does worse (a larger loss)
    assert float(L.wgan_critic_loss(-0.5 * x, -0.5 * y)) > float(L.wgan_critic_loss(-x, -y)) + 1


# ---------------------------------------------------------------------------
# The minimax discriminator and one-sided label smoothing
# ---------------------------------------------------------------------------
@given(count_pair())
def test_d_loss_at_optimal_d_is_log4_minus_2jsd(cpq):
    cp, cq = cpq
    p, q = cp / cp.sum(), cq / cq.sum()
    ir, if_ = batches(cp, cq)
    both = (p > 0) & (q > 0)
    assume(both.any())
    # logits of D* = p/(p+q) (+-40 where only one has mass: D* rounds to 1 or 0)
    l = np.where(both, np.log(np.where(p > 0, p, 1)) - np.log(np.where(q > 0, q, 1)), np.where(p > 0, 40.0, -40.0))
    val = float(L.d_loss(l[ir], l[if_]))
    jsd = 0.0
    for pi, qi in zip(p, q):
        jsd += 0.5 * (pi * math.log(2 * pi / (pi + qi)) if pi > 0 else 0)
        jsd += 0.5 * (qi * math.log(2 * qi / (pi + qi)) if qi > 0 else 0)
    assert abs(val - (math.log(4) - 2 * jsd)) < 1e-12


@given(count_pair(both_positive=True), st.floats(0.5, 1.0))
def test_one_sided_label_smoothing_optimum_is_alpha_p_over_p_plus_q(cpq, alpha):
    cp, cq = cpq
    p, q = cp / cp.sum(), cq / cq.sum()
    ir, if_ = batches(cp, cq)
    d = alpha * p / (p + q)  # Salimans et al. Sec. 3.4 with beta = 0
    l_star = np.log(d) - np.log1p(-d) if alpha < 1 else np.log(p) - np.log(q)
    g = sg.grad(lambda t: L.d_loss_label_smoothing(t[ir], t[if_], alpha=alpha))(sg.tensor(l_star)).numpy()
    assert np.max(np.abs(g)) < 1e-12


def test_label_smoothing_with_alpha_one_is_d_loss_and_values():
    r = np.random.default_rng(4)
    lr, lf = r.normal(size=5) * 3, r.normal(size=3) * 3
    assert abs(float(L.d_loss_label_smoothing(lr, lf, alpha=1.0)) - float(L.d_loss(lr, lf))) < 1e-14
    a = 0.9
    dr, df = sigmoid_np(lr), sigmoid_np(lf)
    ref = -np.mean(a * np.log(dr) + (1 - a) * np.log(1 - dr)) - np.mean(np.log(1 - df))
    assert abs(float(L.d_loss_label_smoothing(lr, lf, alpha=a)) - ref) < 1e-12
    ref = -np.mean(np.log(dr)) - np.mean(np.log(1 - df))
    assert abs(float(L.d_loss(lr, lf)) - ref) < 1e-12
    assert abs(float(L.g_loss_minimax(lf)) - np.mean(np.log(1 - df))) < 1e-12
    assert abs(float(L.g_loss_nonsaturating(lf)) + np.mean(np.log(df))) < 1e-12
    with pytest.raises(ValueError, match="alpha"):
        L.d_loss_label_smoothing(lr, lf, alpha=0.0)


# ---------------------------------------------------------------------------
# Property 6: minimax and non-saturating generator losses: same fixed point, different gradients
# ---------------------------------------------------------------------------
@given(st.floats(-60, 5))
def test_minimax_gradient_vanishes_as_d_of_g_goes_to_zero_nonsaturating_does_not(l):
    t = np.array([l])
    g_mm = float(sg.grad(L.g_loss_minimax)(sg.tensor(t)).numpy()[0])
    g_ns = float(sg.grad(L.g_loss_nonsaturating)(sg.tensor(t)).numpy()[0])
    d = sigmoid_np(l)  # D(G(z))
    # d/dl log(1 - sigma(l)) = -sigma(l);  d/dl -log sigma(l) = -(1 - sigma(l))
    assert abs(g_mm - (-d)) < 1e-12
    assert abs(g_ns - (-(1 - d))) < 1e-12
    # both push D(G(z)) up (same sign) ...
    assert g_mm < 0 and g_ns < 0
    # ... but as D(G(z)) -> 0 only the minimax gradient vanishes
    if l < -30:
        assert abs(g_mm) < 1e-13 and abs(g_ns) > 1 - 1e-13


def _game_gradients(p, theta):
    """Gradients in the generator's logits theta (q = softmax(theta)) of E_q[loss], D held at D*(p, q)."""
    q0 = np.exp(theta - theta.max())
    q0 /= q0.sum()
    l_star = np.log(p) - np.log(q0)  # logit of D* = p/(p+q), held fixed

    def expected(loss):
        def f(th):
            q = sg.softmax(th)
            # sum_x q(x) * loss(D*(x)), each loss on a one-sample batch
            return sum(q[i] * loss(l_star[i:i + 1]) for i in range(len(p)))
        return sg.grad(f)(sg.tensor(theta)).numpy()

    return expected(L.g_loss_minimax), expected(L.g_loss_nonsaturating)


def _softmax_ag(th):
    e = anp.exp(th - anp.max(th))
    return e / anp.sum(e)


@given(st.integers(2, 5), st.integers(0, 10_000))
def test_minimax_and_nonsaturating_share_fixed_point_not_gradients(n, seed):
    r = np.random.default_rng(seed)
    p = r.random(n) + 0.1
    p /= p.sum()
    # at p_g = p_data (D* = 1/2 everywhere) both gradients are zero
    g_mm, g_ns = _game_gradients(p, np.log(p))
    assert np.max(np.abs(g_mm)) < 1e-12 and np.max(np.abs(g_ns)) < 1e-12
    # away from it, with D held at D*: minimax follows grad 2 JSD, non-saturating grad [KL(q||p) - 2 JSD]
    # (Arjovsky & Bottou 2017, Thm. 2.5); oracles by HIPS autograd
    # a point well away from q = p (near it the two gradients agree to third order in q - p)
    theta = np.log(p) + 2 * r.normal(size=n)
    assume(np.max(np.abs(_softmax_ag(theta) - p)) > 0.2)
    g_mm, g_ns = _game_gradients(p, theta)

    def jsd2(th):
        q = _softmax_ag(th)
        m = (p + q) / 2
        return anp.sum(p * anp.log(p / m)) + anp.sum(q * anp.log(q / m))

    def kl_q_p(th):
        q = _softmax_ag(th)
        return anp.sum(q * anp.log(q / p))

    np.testing.assert_allclose(g_mm, ag_grad(jsd2)(theta), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(g_ns, ag_grad(kl_q_p)(theta) - ag_grad(jsd2)(theta), rtol=1e-9, atol=1e-12)
    assert np.max(np.abs(g_mm - g_ns)) > 1e-4


# ---------------------------------------------------------------------------
# Feature matching
# ---------------------------------------------------------------------------
def test_feature_matching_value_gradient_and_shapes():
    r = np.random.default_rng(5)
    fr, ff = r.normal(size=(6, 3, 2)), r.normal(size=(4, 3, 2))
    ref = np.sum((fr.mean(0) - ff.mean(0)) ** 2)
    assert abs(float(L.feature_matching_loss(fr, ff)) - ref) < 1e-14
    # gradient wrt fake features: -2 (mean_r - mean_f) / B'
    g = sg.grad(lambda t: L.feature_matching_loss(fr, t))(sg.tensor(ff)).numpy()
    np.testing.assert_allclose(g, np.broadcast_to(-2 * (fr.mean(0) - ff.mean(0)) / 4, ff.shape), rtol=1e-12)
    assert abs(float(L.feature_matching_loss(fr, fr))) < 1e-15
    with pytest.raises(ValueError, match="feature shape"):
        L.feature_matching_loss(fr, r.normal(size=(4, 2, 3)))


# ---------------------------------------------------------------------------
# Every loss: finite value and gradients for float32 logits of magnitude 1e4; order-2 gradients
# ---------------------------------------------------------------------------
BINARY = {
    "d_loss": lambda r, f: L.d_loss(r, f),
    "d_loss_label_smoothing": lambda r, f: L.d_loss_label_smoothing(r, f, alpha=0.9),
    "g_loss_minimax": lambda r, f: L.g_loss_minimax(f),
    "g_loss_nonsaturating": lambda r, f: L.g_loss_nonsaturating(f),
    "lsgan_d_loss": lambda r, f: L.lsgan_d_loss(r, f, a=-1.0, b=1.0),
    "lsgan_g_loss": lambda r, f: L.lsgan_g_loss(f, c=0.0, real_scores=r),
    "wgan_critic_loss": lambda r, f: L.wgan_critic_loss(r, f),
    "wgan_g_loss": lambda r, f: L.wgan_g_loss(f),
    "hinge_d_loss": lambda r, f: L.hinge_d_loss(r, f),
    "hinge_g_loss": lambda r, f: L.hinge_g_loss(f),
    "feature_matching_loss": lambda r, f: L.feature_matching_loss(r.reshape(2, -1), f.reshape(2, -1)),
}


@pytest.mark.parametrize("name", sorted(BINARY))
def test_finite_at_float32_logits_of_magnitude_1e4(name):
    fn = BINARY[name]
    real = np.array([1e4, -1e4, 0.5, -1e4], dtype=np.float32)
    fake = np.array([-1e4, 1e4, 1e4, -0.5], dtype=np.float32)
    val, (gr, gf) = sg.value_and_grad(fn, argnums=(0, 1))(sg.tensor(real), sg.tensor(fake))
    assert val.dtype == np.float32 and np.isfinite(val.numpy()).all()
    assert gr.dtype == np.float32 and gf.dtype == np.float32
    assert np.isfinite(gr.numpy()).all() and np.isfinite(gf.numpy()).all()


@pytest.mark.parametrize("name", sorted(BINARY))
def test_second_order_gradients(name):
    fn = BINARY[name]
    r = np.random.default_rng(6)
    real, fake = r.normal(size=4) * 2, r.normal(size=4) * 2
    # keep away from the hinge kinks at +-1
    real = np.where(np.abs(np.abs(real) - 1) < 0.1, real + 0.3, real)
    fake = np.where(np.abs(np.abs(fake) - 1) < 0.1, fake + 0.3, fake)
    sg.check_grads(fn, real, fake, order=2)


def test_shapes_are_not_broadcast_together():
    r = np.random.default_rng(7)
    lr = r.normal(size=(5, 1))
    lf = r.normal(size=(5,))
    # (B, 1) and (B,) are averaged separately: the same as flat inputs, never a (B, B) table
    assert abs(float(L.d_loss(lr, lf)) - float(L.d_loss(lr.ravel(), lf))) < 1e-15
    assert abs(float(L.lsgan_d_loss(lr, lf)) - float(L.lsgan_d_loss(lr.ravel(), lf))) < 1e-15
    with pytest.raises(ValueError, match="empty"):
        L.d_loss(np.zeros(0), lf)
    with pytest.raises(ValueError, match="float"):
        L.wgan_g_loss(np.arange(3))


# ---------------------------------------------------------------------------
# Documented contracts, one by one
# ---------------------------------------------------------------------------
PAIRED = {  # losses of (real, fake); each input is averaged over all of its elements
    "d_loss": (L.d_loss, lambda r, f: np.mean(np.logaddexp(0, -r)) + np.mean(np.logaddexp(0, f))),
    "d_loss_label_smoothing": (lambda r, f: L.d_loss_label_smoothing(r, f, alpha=0.8),
                               lambda r, f: np.mean(0.8 * np.logaddexp(0, -r) + 0.2 * np.logaddexp(0, r))
                               + np.mean(np.logaddexp(0, f))),
    "lsgan_d_loss": (lambda r, f: L.lsgan_d_loss(r, f, a=-1.0, b=1.0),
                     lambda r, f: 0.5 * np.mean((r - 1) ** 2) + 0.5 * np.mean((f + 1) ** 2)),
    "wgan_critic_loss": (L.wgan_critic_loss, lambda r, f: np.mean(f) - np.mean(r)),
    "hinge_d_loss": (L.hinge_d_loss, lambda r, f: np.mean(np.maximum(0, 1 - r)) + np.mean(np.maximum(0, 1 + f))),
    "g_loss_minimax": (lambda r, f: L.g_loss_minimax(f), lambda r, f: -np.mean(np.logaddexp(0, f))),
    "g_loss_nonsaturating": (lambda r, f: L.g_loss_nonsaturating(f), lambda r, f: np.mean(np.logaddexp(0, -f))),
    "lsgan_g_loss": (lambda r, f: L.lsgan_g_loss(f, c=0.5, real_scores=r),
                     lambda r, f: 0.5 * np.mean((f - 0.5) ** 2) + 0.5 * np.mean((r - 0.5) ** 2)),
    "wgan_g_loss": (lambda r, f: L.wgan_g_loss(f), lambda r, f: -np.mean(f)),
    "hinge_g_loss": (lambda r, f: L.hinge_g_loss(f), lambda r, f: -np.mean(f)),
}


@pytest.mark.parametrize("name", sorted(PAIRED))
def test_patch_maps_are_averaged_over_all_elements_and_batches_may_differ(name):
    # a (B, H, W) patch-discriminator output is averaged like a flat vector; B and B' differ
    fn, oracle = PAIRED[name]
    r = np.random.default_rng(8)
    real, fake = r.normal(size=(3, 2, 4)) * 2, r.normal(size=(5, 2, 4)) * 2
    got = fn(real, fake)
    assert got.shape == ()
    assert abs(float(got) - oracle(real, fake)) < 1e-13
    assert abs(float(got) - float(fn(real.ravel(), fake.ravel()))) < 1e-14


@pytest.mark.parametrize("name", sorted(PAIRED))
def test_tensor_inputs_carry_gradients_and_arrays_are_constants(name):
    fn, _ = PAIRED[name]
    r = np.random.default_rng(9)
    real, fake = sg.tensor(r.normal(size=4), requires_grad=True), sg.tensor(r.normal(size=3), requires_grad=True)
    assert not fn(real.numpy(), fake.numpy()).requires_grad  # arrays: constants, nothing on the tape
    fn(real, fake).backward()
    assert float(np.abs(fake.grad.numpy()).sum()) > 0
    uses_real = name not in ("g_loss_minimax", "g_loss_nonsaturating", "wgan_g_loss", "hinge_g_loss")
    assert (real.grad is not None and float(np.abs(real.grad.numpy()).sum()) > 0) == uses_real


def test_losses_on_logits_of_magnitude_1e4_have_their_exact_values():
    # softplus(1e4) = 1e4 and softplus(-1e4) = 0 (to float32): log D and log(1 - D) never pass through D
    big = np.array([1e4], dtype=np.float32)
    assert float(L.d_loss(big, -big)) == 0.0  # a perfect discriminator
    assert float(L.d_loss(-big, big)) == 2e4  # the worst one: -log sigma(-1e4) - log(1 - sigma(1e4))
    assert float(L.g_loss_nonsaturating(-big)) == 1e4
    assert float(L.g_loss_minimax(big)) == -1e4


def test_lsgan_defaults_are_the_0_1_coding():
    # a = 0, b = 1, c = 1 (the paper's experiments)
    dr, df = np.array([0.2, 0.9]), np.array([0.4, -0.3, 0.1])
    assert abs(float(L.lsgan_d_loss(dr, df)) - (0.5 * np.mean((dr - 1) ** 2) + 0.5 * np.mean(df**2))) < 1e-15
    assert abs(float(L.lsgan_g_loss(df)) - 0.5 * np.mean((df - 1) ** 2)) < 1e-15


def test_label_smoothing_refuses_alpha_above_1_and_feature_matching_needs_a_feature_axis():
    with pytest.raises(ValueError, match=r"alpha must lie in \(0, 1\], got 1.1"):
        L.d_loss_label_smoothing(np.zeros(2), np.zeros(2), alpha=1.1)
    with pytest.raises(ValueError, match=r"features must be \(batch, features\.\.\.\).*real_features.shape=\(4,\)"):
        L.feature_matching_loss(np.zeros(4), np.zeros(4))
    with pytest.raises(ValueError, match="hinge_g_loss: fake_scores is empty"):
        L.hinge_g_loss(np.zeros((0, 1)))
