"""Semi-supervised K+1 critic: the K+1 softmax form and the K-logit form agree (property 10); values
against a naive float64 softmax oracle; D(x) = Z/(Z+1); stability at |logit| = 1e4; label checks."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import scratchgen as sg
from scratchgen.gan import ssgan as S


@st.composite
def critic_batch(draw):
    K = draw(st.integers(1, 5))
    seed = draw(st.integers(0, 10_000))
    scale = draw(st.sampled_from([0.5, 2.0, 8.0]))
    r = np.random.default_rng(seed)
    Bl, Bu, Bg = (draw(st.integers(1, 5)) for _ in range(3))
    ll, lu, lf = (r.normal(size=(B, K + 1)) * scale for B in (Bl, Bu, Bg))
    y = r.integers(0, K, size=Bl)
    return K, ll, y, lu, lf


def to_k_form(l):
    """Shift all K+1 logits so that the fake logit is 0, and drop it."""
    return l[:, :-1] - l[:, -1:]


def softmax_np(l):
    e = np.exp(l - l.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@given(critic_batch(), st.sampled_from(["joint", "conditional"]))
def test_k_plus_1_and_k_logit_forms_give_identical_losses_and_predictions(batch, supervised):
    K, ll, y, lu, lf = batch
    a = float(S.critic_loss(ll, y, lu, lf, form="K+1", supervised=supervised))
    b = float(S.critic_loss(to_k_form(ll), y, to_k_form(lu), to_k_form(lf), form="K", supervised=supervised))
    assert abs(a - b) < 1e-12 * max(1.0, abs(a))
    for kind in ("nonsaturating", "minimax"):
        ga = float(S.generator_loss(lf, form="K+1", kind=kind))
        gb = float(S.generator_loss(to_k_form(lf), form="K", kind=kind))
        assert abs(ga - gb) < 1e-12 * max(1.0, abs(ga))
    np.testing.assert_array_equal(S.predict(ll, form="K+1"), S.predict(to_k_form(ll), form="K"))
    for fn in (S.log_p_fake, S.log_p_real, S.discriminator_prob):
        np.testing.assert_allclose(fn(lu, form="K+1").numpy(), fn(to_k_form(lu), form="K").numpy(),
                                   rtol=1e-12, atol=1e-14)


@given(critic_batch())
def test_critic_loss_matches_naive_softmax_oracle(batch):
    K, ll, y, lu, lf = batch
    pl, pu, pf = softmax_np(ll), softmax_np(lu), softmax_np(lf)
    # -E log p(y|x) - E log(1 - p(K+1|x)) - E log p(K+1|G(z)); class K (0-indexed) is "fake"
    sup_joint = -np.mean(np.log(pl[np.arange(len(y)), y]))
    sup_cond = -np.mean(np.log(pl[np.arange(len(y)), y] / pl[:, :K].sum(axis=1)))
    # 1 - p(K+1|x) as the sum of the real-class probabilities (1 - p loses all digits when p ~ 1)
    unsup = -np.mean(np.log(pu[:, :K].sum(axis=1))) - np.mean(np.log(pf[:, K]))
    got_j = float(S.critic_loss(ll, y, lu, lf, form="K+1", supervised="joint"))
    got_c = float(S.critic_loss(ll, y, lu, lf, form="K+1", supervised="conditional"))
    assert abs(got_j - (sup_joint + unsup)) < 1e-9 * max(1, abs(got_j))
    assert abs(got_c - (sup_cond + unsup)) < 1e-9 * max(1, abs(got_c))
    got_w = float(S.critic_loss(ll, y, lu, lf, form="K+1", supervised="conditional", unsup_weight=0.5))
    assert abs(got_w - (sup_cond + 0.5 * unsup)) < 1e-9 * max(1, abs(got_w))
    assert abs(float(S.generator_loss(lf, kind="minimax")) - np.mean(np.log(pf[:, K]))) < 1e-9
    assert abs(float(S.generator_loss(lf, kind="nonsaturating")) + np.mean(np.log(pf[:, :K].sum(axis=1)))) < 1e-9
    # predictions: the argmax over the real classes
    np.testing.assert_array_equal(S.predict(ll), np.argmax(pl[:, :K], axis=1))


@given(st.integers(1, 5), st.integers(0, 10_000))
def test_k_logit_discriminator_is_z_over_z_plus_1(K, seed):
    r = np.random.default_rng(seed)
    l = r.normal(size=(4, K)) * 2
    Z = np.exp(l).sum(axis=1)
    np.testing.assert_allclose(S.discriminator_prob(l, form="K").numpy(), Z / (Z + 1), rtol=1e-12)
    np.testing.assert_allclose(S.log_p_fake(l, form="K").numpy(), -np.log(Z + 1), rtol=1e-12)
    # joint class log-probs = conditional ones + log D(x)
    joint = S.log_p_class(l, form="K").numpy()
    cond = S.log_p_class(l, form="K", conditional=True).numpy()
    np.testing.assert_allclose(joint, cond + np.log(Z / (Z + 1))[:, None], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(joint, l - np.log(Z + 1)[:, None], rtol=1e-12, atol=1e-14)


def test_second_order_gradients_of_the_losses():
    r = np.random.default_rng(0)
    K = 3
    ll, lu, lf = r.normal(size=(3, K + 1)), r.normal(size=(2, K + 1)), r.normal(size=(2, K + 1))
    y = np.array([0, 2, 1])
    sg.check_grads(lambda a, b, c: S.critic_loss(a, y, b, c), ll, lu, lf, order=2)
    sg.check_grads(lambda a, b, c: S.critic_loss(a, y, b, c, form="K", supervised="conditional"),
                   ll[:, :K], lu[:, :K], lf[:, :K], order=2)
    sg.check_grads(lambda c: S.generator_loss(c, form="K"), lf[:, :K], order=2)


@pytest.mark.parametrize("form", ["K+1", "K"])
def test_finite_at_float32_logits_of_magnitude_1e4(form):
    C = 4 if form == "K+1" else 3
    big = np.array([[1e4, -1e4, 0.0, 1e4], [-1e4, -1e4, -1e4, 1e4], [1e4, 1e4, 1e4, -1e4]],
                   dtype=np.float32)[:, :C]
    y = np.array([1, 0, 2])

    def losses(a, b, c):
        return (S.critic_loss(a, y, b, c, form=form) + S.generator_loss(c, form=form)
                + S.generator_loss(c, form=form, kind="minimax")
                + S.critic_loss(a, y, b, c, form=form, supervised="conditional"))

    val, gs = sg.value_and_grad(losses, argnums=(0, 1, 2))(sg.tensor(big), sg.tensor(-big), sg.tensor(big))
    assert val.dtype == np.float32 and np.isfinite(val.numpy())
    for g in gs:
        assert g.dtype == np.float32 and np.isfinite(g.numpy()).all()


def test_label_and_shape_errors():
    r = np.random.default_rng(1)
    l = r.normal(size=(3, 4))
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        S.critic_loss(l, np.array([[0], [1], [2]]), l, l)  # (B, 1) labels would broadcast to (B, B)
    with pytest.raises(ValueError, match="fake class"):
        S.critic_loss(l, np.array([0, 1, 3]), l, l)  # 3 is the fake class when K = 3
    with pytest.raises(ValueError, match="integers"):
        S.critic_loss(l, np.array([0.0, 1.0, 2.0]), l, l)
    with pytest.raises(ValueError, match="columns"):
        S.critic_loss(l, np.array([0, 1, 2]), l[:, :3], l)
    with pytest.raises(ValueError, match="form"):
        S.predict(l, form="K+2")
    with pytest.raises(ValueError, match=r"\(B, K\+1\)"):
        S.predict(l[:, :1], form="K+1")
    with pytest.raises(ValueError, match="kind"):
        S.generator_loss(l, kind="hinge")
    for w in (0, -1.0, float("nan"), float("inf"), True):
        with pytest.raises(ValueError, match=f"unsup_weight must be a finite number > 0, got {w!r}"):
            S.critic_loss(l, np.array([0, 1, 2]), l, l, unsup_weight=w)


@given(critic_batch())
def test_class_entropy_matches_a_float64_oracle_in_both_forms(batch):
    K, ll, _, _, _ = batch
    real = ll[:, :K]
    p = np.exp(real - real.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    expected = -(p * np.log(np.maximum(p, 1e-300))).sum(axis=1)
    for form, logits in (("K+1", ll), ("K", to_k_form(ll))):
        got = S.class_entropy(sg.tensor(logits), form=form).numpy()
        assert got.shape == (ll.shape[0],)
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)


def test_class_entropy_is_log_k_when_undecided_and_zero_when_certain():
    undecided = S.class_entropy(sg.tensor(np.zeros((2, 10))), form="K").numpy()
    np.testing.assert_allclose(undecided, np.log(10), rtol=1e-12)
    certain = np.full((1, 10), -60.0)
    certain[0, 3] = 60.0
    assert abs(float(S.class_entropy(sg.tensor(certain), form="K").numpy()[0])) < 1e-40


# ---------------------------------------------------------------------------
# Documented contracts, one by one
# ---------------------------------------------------------------------------
def test_predict_excludes_fake_and_breaks_ties_toward_the_lowest_index():
    l = np.array([[1.0, 3.0, 3.0, 9.0],  # the fake logit is the largest: still a real class
                  [2.0, 2.0, 2.0, 0.0],  # a three-way tie
                  [-5.0, -1.0, -3.0, -2.0]])
    pred = S.predict(l, form="K+1")
    assert pred.tolist() == [1, 0, 1]
    assert S.predict(l[:, :3], form="K").tolist() == [1, 0, 1]


@given(critic_batch())
def test_log_p_class_in_the_k_plus_1_form_against_a_softmax_oracle(batch):
    K, ll, _, _, _ = batch
    p = softmax_np(ll)  # (B, K+1), column K is "fake"
    joint = S.log_p_class(ll, form="K+1").numpy()
    cond = S.log_p_class(ll, form="K+1", conditional=True).numpy()
    assert joint.shape == cond.shape == (ll.shape[0], K)
    np.testing.assert_allclose(joint, np.log(p[:, :K]), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(cond, np.log(p[:, :K] / p[:, :K].sum(axis=1, keepdims=True)), rtol=1e-9, atol=1e-9)
    # log p(k|x) = log p(k|x, real) + log D(x)
    np.testing.assert_allclose(joint, cond + S.log_p_real(ll, form="K+1").numpy()[:, None], rtol=1e-12, atol=1e-12)


def test_log_p_real_stays_finite_where_p_fake_rounds_to_1():
    # K+1 logits (0, 0, 50): p(fake) = 1 - 2e-22 rounds to 1, so log(1 - p) = -inf; log D = -log(1 + e^(50 - log 2))
    l = np.array([[0.0, 0.0, 50.0]])
    expected = -np.logaddexp(0.0, 50.0 - np.log(2.0))
    got = float(S.log_p_real(l).numpy()[0])
    assert np.isfinite(got) and abs(got - expected) < 1e-12
    assert abs(float(S.log_p_fake(l).numpy()[0]) + np.logaddexp(0.0, np.log(2.0) - 50.0)) < 1e-30


@pytest.mark.parametrize("logit", [-40.0, -10.0, 0.0, 3.0])
def test_only_the_nonsaturating_generator_gradient_survives_a_rejecting_critic(logit):
    # K = 1, form "K": log Z = l. Minimax L = log sigma(-l), dL/dl = -sigma(l) -> 0 as l -> -inf;
    # non-saturating L = -log sigma(l), dL/dl = -(1 - sigma(l)) -> -1
    l = np.array([[logit]])
    d = 1 / (1 + np.exp(-logit))
    g_mm = float(sg.grad(lambda t: S.generator_loss(t, form="K", kind="minimax"))(sg.tensor(l)).numpy()[0, 0])
    g_ns = float(sg.grad(lambda t: S.generator_loss(t, form="K"))(sg.tensor(l)).numpy()[0, 0])
    assert abs(g_mm + d) < 1e-14 and abs(g_ns + (1 - d)) < 1e-14


def test_critic_loss_names_a_bad_supervised_option():
    l = np.zeros((2, 3))
    with pytest.raises(ValueError, match="supervised must be 'joint' or 'conditional', got 'both'"):
        S.critic_loss(l, np.array([0, 1]), l, l, supervised="both")


def test_gaussian_noise_with_sigma_0_is_the_identity_in_training():
    n = S.GaussianNoise(0.0, generator=0)
    x = sg.tensor(np.ones((3, 2), np.float32))
    assert n.training and n(x) is x
    assert "sigma=0.5" in repr(S.GaussianNoise(0.5))


def test_ss_critic_returns_logits_and_its_last_hidden_features_with_noise_only_in_training():
    C = S.SSCritic(16, hidden=(8, 5), n_classes=4, generator=0)
    x = sg.tensor(np.random.default_rng(0).uniform(-1, 1, (3, 1, 4, 4)).astype(np.float32))
    (l1, f1), (l2, _) = C(x), C(x)
    assert l1.shape == (3, 4) and f1.shape == (3, 5)
    assert float(np.abs(l1.numpy() - l2.numpy()).max()) > 1e-4  # noise differs between passes
    C.eval()
    (l3, f3), (l4, _) = C(x), C(x)
    np.testing.assert_array_equal(l3.numpy(), l4.numpy())
    # the logits are the head (a Linear) applied to the features
    np.testing.assert_allclose(l3.numpy(), f3.numpy() @ C.head.weight.data.T + C.head.bias.data, rtol=1e-5, atol=1e-6)
    # no hidden layer: the features are the flattened input itself (noise off in eval)
    C0 = S.SSCritic(16, hidden=(), n_classes=4, generator=0)
    C0.eval()
    np.testing.assert_array_equal(C0(x)[1].numpy(), x.numpy().reshape(3, 16))


def test_ss_generator_makes_images_in_minus_1_1():
    G = S.SSGenerator(z_dim=6, hidden=12, size=4, generator=0)
    z = sg.tensor(np.random.default_rng(1).standard_normal((5, 6)).astype(np.float32) * 10)
    x = G(z).numpy()
    assert x.shape == (5, 1, 4, 4) and x.dtype == np.float32
    assert np.all(np.abs(x) <= 1.0)


def test_unlabelled_share_rounds_halves_to_even():
    # n = 10, two labelled: 8 others; fraction 0.3125 -> 2.5 others -> 2; 0.4375 -> 3.5 -> 4 (Python's round)
    lab = np.array([3, 7])
    for fraction, others in ((0.3125, 2), (0.4375, 4), (0.0, 0), (1.0, 8)):
        u = S.unlabelled_indices(10, lab, fraction, seed=0)
        assert u.shape == (2 + others,) and np.isin(lab, u).all() and np.array_equal(u, np.sort(u))
