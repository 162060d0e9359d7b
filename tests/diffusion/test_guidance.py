"""Classifier-free guidance (scratchgen.diffusion.guidance): Ho & Salimans' Eq. 6 against the implicit-classifier
identity on a 1-D Gaussian mixture written out here, label dropout, the conditional network, and a conditional
run end to end (seconds)."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scratchgen.diffusion.guidance import (
    ConditionalConvDenoiser,
    Guided,
    class_accuracy,
    conditional_loss,
    cycle_labels,
    drop_labels,
    guided_eps,
)
from scratchgen.diffusion.models import ConvDenoiser
from scratchgen.diffusion.schedules import make_schedule

MU = np.array([-2.0, 0.5, 3.0])  # class means of x_0 | c ~ N(mu_c, S2)
PI = np.array([0.2, 0.5, 0.3])
S2 = 0.25


def _log_normal(x, m, v):
    return -0.5 * math.log(2 * math.pi * v) - (x - m) ** 2 / (2 * v)


class ExactMixtureEps:
    """eps*(x_t, t, c) = -sqrt(1 - ab) d/dx log p_t(x_t | c) for the 1-D mixture (c = 3: the null label, the marginal),
    with p_t(x | c) = N(sqrt(ab) mu_c, ab S2 + 1 - ab) (Ho Eq. 4 applied to a Gaussian)."""

    n_classes, null_label = 3, 3

    def __init__(self, ab):
        self.ab = ab

    def __call__(self, xt, t, y):
        ab, v = self.ab, self.ab * S2 + 1 - self.ab
        x = np.asarray(xt)[:, 0]
        m = math.sqrt(ab) * MU  # (K,)
        comp = np.stack([np.log(PI[k]) + _log_normal(x, m[k], v) for k in range(3)], axis=1)  # (B, K)
        resp = np.exp(comp - comp.max(axis=1, keepdims=True))
        resp /= resp.sum(axis=1, keepdims=True)
        score_c = -(x[:, None] - m[None, :]) / v  # (B, K): d/dx log N(x; m_c, v)
        score = np.where(np.asarray(y) == 3, (resp * score_c).sum(axis=1), score_c[np.arange(x.shape[0]), np.minimum(y, 2)])
        return (-math.sqrt(1 - ab) * score)[:, None]


@given(st.floats(0.05, 0.95), st.floats(0.0, 6.0), st.integers(0, 2), st.integers(0, 999))
@settings(max_examples=15, deadline=None, derandomize=True)
def test_guided_eps_is_the_noise_of_p_t_x_given_c_times_the_implicit_classifier_to_the_w(ab, w, c, seed):
    """Ho & Salimans Sec. 3.2: (1+w) eps(x, c) - w eps(x) = -sqrt(1-ab) [d log p_t(x|c) + w d log p_t(c|x)],
    with log p_t(c|x) = log pi_c N_c(x) - log sum_k pi_k N_k(x) differentiated by central differences here."""
    x = np.random.default_rng(seed).normal(0.0, 2.5, size=6)
    eps = Guided(ExactMixtureEps(ab), np.full(6, c), w)(x[:, None], np.full(6, 10))[:, 0]
    v = ab * S2 + 1 - ab
    m = math.sqrt(ab) * MU

    def log_post(z):  # log p_t(c | z), Bayes
        comps = [math.log(PI[k]) + _log_normal(z, m[k], v) for k in range(3)]
        top = max(comps)
        return comps[c] - (top + math.log(sum(math.exp(a - top) for a in comps)))

    h = 1e-5
    for i, xi in enumerate(x):
        d_log_cond = -(xi - m[c]) / v
        d_log_post = (log_post(xi + h) - log_post(xi - h)) / (2 * h)
        want = -math.sqrt(1 - ab) * (d_log_cond + w * d_log_post)
        assert abs(eps[i] - want) < 1e-6 * (1 + abs(want))


def test_guided_eps_formula_and_its_two_ends():
    a, b = np.array([1.0, -2.0, 0.5]), np.array([0.25, 1.0, -3.0])
    for w in (0.0, 1.0, 2.5, -1.0):
        assert np.abs(guided_eps(a, b, w) - ((1 + w) * a - w * b)).max() < 1e-15
    assert np.array_equal(guided_eps(a, b, 0.0), a) and np.array_equal(guided_eps(a, b, -1.0), b)
    with pytest.raises(ValueError, match="shape"):
        guided_eps(a, b[:2], 1.0)


def test_label_dropout_rate_and_its_ends():
    y = np.arange(20000) % 10
    g = np.random.default_rng(0)
    c = drop_labels(y, 0.1, g, null=10)
    frac = (c == 10).mean()
    assert abs(frac - 0.1) < 4 * math.sqrt(0.1 * 0.9 / 20000)  # binomial, 4 standard deviations
    assert np.array_equal(c[c != 10], y[c != 10])  # the rest untouched
    assert np.array_equal(drop_labels(y, 0.0, g), y) and np.all(drop_labels(y, 1.0, g) == 10)
    with pytest.raises(ValueError, match="p_uncond"):
        drop_labels(y, 1.5, g)


def _model(seed=0):
    return ConditionalConvDenoiser(1, 8, 8, dtype=np.float64, generator=seed)


def test_conditional_net_starts_as_the_unconditional_one_and_labels_then_matter():
    cond = _model(3)
    plain = ConvDenoiser(1, 8, 8, dtype=np.float64, generator=3)
    x = np.random.default_rng(1).standard_normal((4, 1, 8, 8))
    t = np.array([1, 10, 100, 999])
    for m in (cond, plain):  # the last convolution starts at 0 (every output 0): give it weights
        m.conv_out.weight.data[...] = np.random.default_rng(5).standard_normal(m.conv_out.weight.shape) * 0.3
    # the label table starts at 0: every label, null included, is the unconditional network (same weights drawn)
    base = plain(x, t).data
    for y in (np.array([0, 1, 2, 3]), None, np.full(4, 10)):
        assert np.abs(cond(x, t, y).data - base).max() < 1e-12
    cond.label_emb.weight.data[...] = np.random.default_rng(2).standard_normal(cond.label_emb.weight.shape)
    e0, e1 = cond(x, t, np.zeros(4, dtype=np.int64)).data, cond(x, t, np.ones(4, dtype=np.int64)).data
    assert np.abs(e0 - e1).max() > 1e-3
    assert np.array_equal(cond(x, t, None).data, cond(x, t, np.full(4, 10)).data)  # None is the null label
    # the guided wrapper: w = 0 is the conditional net; w != 0 from one doubled batch equals the formula
    y = np.array([7, 2, 2, 9])
    assert np.array_equal(Guided(cond, y, 0.0)(x, t).data, cond(x, t, y).data)
    want = 3.0 * cond(x, t, y).data - 2.0 * cond(x, t, None).data
    assert np.abs(Guided(cond, y, 2.0)(x, t) - want).max() < 1e-10
    assert np.array_equal(Guided(cond, None, 5.0)(x, t).data, cond(x, t, None).data)
    with pytest.raises(ValueError, match="y"):
        cond(x, t, np.array([0, 1, 2, 11]))
    with pytest.raises(ValueError, match="labels"):
        Guided(cond, np.array([0, 10]), 1.0)


def test_conditional_loss_trains_the_label_rows_it_used():
    model = _model(0)
    model.conv_out.weight.data[...] = 0.1  # at 0 (its start) no gradient reaches the layers below
    sched = make_schedule("linear", 100)
    x0 = np.random.default_rng(0).standard_normal((6, 1, 8, 8))
    y = np.array([1, 1, 4, 4, 4, 1])
    loss = conditional_loss(sched, model, x0, y, 0.0, np.random.default_rng(0))
    loss.backward()
    g = model.label_emb.weight.grad
    g = g.data if hasattr(g, "data") else g
    used = np.abs(g).sum(axis=1) > 0
    assert used.tolist() == [k in (1, 4) for k in range(11)]


def test_a_conditional_run_end_to_end(tmp_path):
    from scratchgen.diffusion.train import DDPMConfig, load_run, train_ddpm

    cfg = DDPMConfig.for_data("digits", conditional=True, steps=6, T=20, hidden=8, time_dim=8, n_eval=20,
                              eval_every=6, batch=8, progress=False, guidance=1.0)
    run = train_ddpm(cfg, out_dir=str(tmp_path), figures=False)
    assert 0 <= run.final["class_accuracy"] <= 1 and math.isfinite(run.final["final_loss"])
    _, model, _, _ = load_run(str(tmp_path / "checkpoint.npz"))
    assert isinstance(model, ConditionalConvDenoiser)
    assert np.array_equal(model.label_emb.weight.data, run.ema_model.label_emb.weight.data)
    with pytest.raises(ValueError, match="data"):
        DDPMConfig(data="ring8", conditional=True).validate()


def test_class_accuracy_of_real_digits_is_high_and_checks_labels():
    from scratchgen.data.digits import digits_split

    s = digits_split()
    assert class_accuracy(s.x_test, s.y_test) > 0.95
    assert class_accuracy(s.x_test[:10], (s.y_test[:10] + 1) % 10) < 0.2
    assert cycle_labels(12).tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    with pytest.raises(ValueError, match="labels"):
        class_accuracy(s.x_test[:3], np.array([0, 1]))
