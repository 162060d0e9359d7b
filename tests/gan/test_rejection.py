"""Rejection sampling with a density ratio (scratchgen.gan.rejection), checked against closed forms."""
import math

import numpy as np
import pytest
from scipy import stats

from scratchgen.autodiff.tensor import no_grad, tensor
from scratchgen.cli import main
from scratchgen.gan.losses import d_loss
from scratchgen.gan.rejection import fit_log_ratio, log_ratio_fn, rejection_sample, rejection_sample_run

# q = N(0, 1) proposes, p = N(MU, S^2) is the target; S < 1 keeps p/q bounded
MU, S = 0.5, 0.6


def log_r(x):
    """Exact log p(x)/q(x) of the two Gaussians above, on x of shape (k, 1)."""
    x = x[:, 0]
    return stats.norm.logpdf(x, MU, S) - stats.norm.logpdf(x, 0.0, 1.0)


def gaussian_proposals(seed):
    g = np.random.default_rng(seed)
    return lambda k: g.standard_normal((k, 1))


def test_accepted_samples_follow_p_and_one_in_m_is_accepted():
    res = rejection_sample(gaussian_proposals(10), log_r, 20000, rng=np.random.default_rng(100))
    x = res.samples[:, 0]
    assert res.samples.shape == (20000, 1)
    assert abs(x.mean() - MU) < 0.02  # standard error 0.6 / sqrt(20000) = 0.004
    assert abs(x.std() - S) < 0.02
    # a 1 % test: over 20 seeds its p-values spread evenly over (0.02, 0.97), as they should under p
    assert stats.kstest(x, stats.norm(MU, S).cdf).pvalue > 0.01
    # the proposals themselves are not p: the same test rejects them outright
    assert stats.kstest(gaussian_proposals(10)(20000)[:, 0], stats.norm(MU, S).cdf).pvalue < 1e-6
    # acceptance = 1/M with M = sup p/q, here found on a fine grid (the burn-in max is just below it)
    t = np.linspace(-6, 6, 200001)[:, None]
    log_m = log_r(t).max()
    assert abs(res.log_m - log_m) < 0.01
    assert abs(res.acceptance_rate - math.exp(-log_m)) < 0.01
    assert res.accepted >= 20000 and res.proposals % 5000 == 0


def step_log_ratio(x):
    """l = 3 where x > 2, 0 elsewhere: a ratio with a rare high region, to see what M does."""
    return np.where(x[:, 0] > 2.0, 3.0, 0.0)


def share_above_2(log_m):
    """Share of x > 2 among samples of q min(e^l, M), normalised, q = N(0, 1): the exact law of the sampler."""
    tail = stats.norm.sf(2.0)
    w_hi, w_lo = tail * min(math.exp(3.0), math.exp(log_m)), (1 - tail) * min(1.0, math.exp(log_m))
    return w_hi / (w_hi + w_lo)


@pytest.mark.parametrize("log_m, tol", [(3.0, 0.015), (1.0, 0.008)])
def test_with_m_fixed_the_sampler_follows_q_times_min_of_ratio_and_m(log_m, tol):
    """M >= sup r: exactly p-hat = q e^l (share 0.319 above 2). M below sup r: q min(e^l, M), and
    the proposals above log M are counted."""
    res = rejection_sample(gaussian_proposals(3), step_log_ratio, 20000, rng=np.random.default_rng(4), log_m=log_m)
    share = (res.samples[:, 0] > 2).mean()
    assert abs(share - share_above_2(log_m)) < tol  # standard errors 0.0033 and 0.0017
    expected_clipped = stats.norm.sf(2.0) * res.proposals if log_m < 3 else 0
    assert abs(res.clipped - expected_clipped) <= 5 * math.sqrt(expected_clipped) + 1e-9
    assert res.log_m == log_m


def test_a_short_burn_in_sets_m_without_biasing_the_law_it_then_samples():
    """M comes from proposals that are discarded, so whatever M a 10-proposal burn-in gives, the
    accepted samples follow q min(e^l, M) exactly (raising M on the proposals being judged would not)."""
    seen = set()
    for seed in range(12):
        res = rejection_sample(gaussian_proposals(10 + seed), step_log_ratio, 5000, rng=np.random.default_rng(seed),
                               burn_in=10, chunk=100)
        seen.add(res.log_m)
        share = (res.samples[:, 0] > 2).mean()
        assert abs(share - share_above_2(res.log_m)) < 0.03  # standard error <= 0.0066
    assert seen == {0.0, 3.0}  # both cases occurred: a burn-in with and without a proposal above 2


def test_a_flat_ratio_accepts_everything_and_changes_nothing():
    x = np.arange(12.0).reshape(6, 2)
    res = rejection_sample(lambda k: np.tile(x, (k // 6 + 1, 1))[:k], lambda z: np.zeros(len(z)), 6,
                           rng=np.random.default_rng(0), burn_in=6, chunk=6)
    assert res.acceptance_rate == 1.0 and res.log_m == 0.0
    assert np.array_equal(res.samples, x)


def test_classifier_logit_estimates_log_p_over_q():
    """p = N(1, 1), q = N(0, 1): log p/q = x - 1/2 exactly; the trained logit follows it where both have mass."""
    gp, gq = np.random.default_rng(3), np.random.default_rng(4)
    D = fit_log_ratio(lambda k: 1.0 + gp.standard_normal((k, 1)).astype("float32"),
                      lambda k: gq.standard_normal((k, 1)).astype("float32"),
                      1, hidden=16, steps=1500, batch=256, lr=1e-2, rng=np.random.default_rng(5))
    t = np.linspace(-1.0, 2.0, 31)[:, None].astype("float32")
    err = np.abs(log_ratio_fn(D)(t) - (t[:, 0] - 0.5))
    assert err.max() < 0.25, err.max()
    # the held-out logistic loss L gives (log 4 - L)/2 <= JSD(p, q) (rejection.json's jsd_lower_bound), tight here
    g = np.random.default_rng(6)
    xp_, xq_ = (1.0 + g.standard_normal((200000, 1))).astype("float32"), g.standard_normal((200000, 1)).astype("float32")
    with no_grad():
        L = float(d_loss(D(tensor(xp_)), D(tensor(xq_))).item())
    t_ = np.linspace(-12, 13, 200001)
    p_, q_ = stats.norm.pdf(t_, 1, 1), stats.norm.pdf(t_, 0, 1)
    m_ = (p_ + q_) / 2
    jsd = 0.5 * np.trapezoid(p_ * np.log(p_ / m_) + q_ * np.log(q_ / m_), t_)
    assert abs((math.log(4) - L) / 2 - jsd) < 0.01, ((math.log(4) - L) / 2, jsd)
    # and it is not just any line: the classifier's logit at 0 and 1 straddle the true zero at 1/2
    assert log_ratio_fn(D)(np.array([[0.0]], "float32"))[0] < -0.2 < 0.2 < log_ratio_fn(D)(np.array([[1.0]], "float32"))[0]


def test_bad_samplers_and_ratios_are_named():
    good = gaussian_proposals(0)
    with pytest.raises(ValueError, match=r"sample_q\(8\) must return an array of shape \(8, 1\), got shape \(8, 2\)"):
        fit_log_ratio(good, lambda k: np.zeros((k, 2)), 1, steps=1, batch=8)
    with pytest.raises(ValueError, match=r"log_ratio on 10 proposals must return shape \(10,\), got \(10, 1\)"):
        rejection_sample(good, lambda x: np.zeros((len(x), 1)), 5, rng=np.random.default_rng(0), burn_in=10)
    with pytest.raises(ValueError, match="non-finite"):
        rejection_sample(good, lambda x: np.full(len(x), np.nan), 5, rng=np.random.default_rng(0), burn_in=10)
    with pytest.raises(ValueError, match="n must be a positive int, got 0"):
        rejection_sample(good, log_r, 0, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="lr must be a finite number > 0, got -1"):
        fit_log_ratio(good, good, 1, lr=-1)
    with pytest.raises(ValueError, match=r"betas must be two numbers in \[0, 1\), got \(0.9, 1.5\)"):
        fit_log_ratio(good, good, 1, betas=(0.9, 1.5))
    with pytest.raises(ValueError, match=r"propose\(10\) must return shape \(10, d\), got \(3, 1\)"):
        rejection_sample(lambda k: np.zeros((3, 1)), log_r, 5, rng=np.random.default_rng(0), burn_in=10)
    with pytest.raises(ValueError, match="rng must be a random generator with .random\\(\\), got NoneType"):
        rejection_sample(good, log_r, 5, rng=None)


def test_a_rare_huge_ratio_stops_with_a_message():
    """One proposal region with log r = 30 makes M enormous: almost nothing is accepted."""
    spike = lambda x: np.where(x[:, 0] > 3.0, 30.0, 0.0)  # noqa: E731
    with pytest.raises(RuntimeError, match=r"only \d+ of n=100 samples accepted after 20000 proposals"):
        rejection_sample(gaussian_proposals(0), spike, 100, rng=np.random.default_rng(0),
                         burn_in=10000, max_proposals=20000)


def test_reusing_the_classifier_gives_the_same_samples_and_refuses_other_settings(tmp_path):
    out = tmp_path / "run"
    main(["train", "gan", "--data", "ring8", "--steps", "10", "--eval-every", "10", "--batch", "64",
          "--hidden", "16", "--z-dim", "8", "--n-eval", "100", "--out", str(out), "--no-progress"])
    first = rejection_sample_run(str(out), steps=30, batch=64, progress=False)
    samples = np.load(out / "samples_rejection.npy")
    again = rejection_sample_run(str(out), steps=30, batch=64, reuse_classifier=True, progress=False)
    assert again == first and np.array_equal(np.load(out / "samples_rejection.npy"), samples)
    with pytest.raises(ValueError, match="was trained with settings"):
        rejection_sample_run(str(out), steps=31, batch=64, reuse_classifier=True, progress=False)
    with pytest.raises(ValueError, match="n must be a positive int, got 0"):  # before any training
        rejection_sample_run(str(out), steps=10**9, n=0, progress=False)


# ---------------------------------------------------------------------------
# Documented contracts, one by one
# ---------------------------------------------------------------------------
def _counting_proposals():
    """propose(k): the next k integers 0, 1, 2, ... as a (k, 1) array (the order of the proposals is visible)."""
    state = {"next": 0}

    def propose(k):
        out = np.arange(state["next"], state["next"] + k, dtype=np.float64)[:, None]
        state["next"] += k
        return out

    return propose


def even_only(x):
    """log ratio 0 on even proposals (accepted whenever log u < 0), -1000 on odd ones (never accepted)."""
    return np.where(x[:, 0] % 2 == 0, 0.0, -1000.0)


def test_samples_are_the_first_n_accepted_proposals_in_order_and_counts_are_kept():
    res = rejection_sample(_counting_proposals(), even_only, 5, rng=np.random.default_rng(0), log_m=0.0, chunk=4)
    assert res.samples[:, 0].tolist() == [0, 2, 4, 6, 8]
    assert (res.proposals, res.accepted, res.clipped, res.log_m) == (12, 6, 0, 0.0)  # a batch overshoots n
    assert res.acceptance_rate == 0.5


def test_burn_in_proposals_set_log_m_and_are_discarded():
    res = rejection_sample(_counting_proposals(), even_only, 3, rng=np.random.default_rng(0), burn_in=6, chunk=2)
    assert res.log_m == 0.0  # the largest log ratio over proposals 0..5
    assert res.samples[:, 0].tolist() == [6, 8, 10] and res.proposals == 6  # judged: 6..11 only


def test_log_m_must_be_finite():
    for bad in (float("inf"), float("nan"), True, "1"):
        with pytest.raises(ValueError, match="log_m must be None or a finite number, got"):
            rejection_sample(_counting_proposals(), even_only, 1, rng=np.random.default_rng(0), log_m=bad)


def test_log_ratio_fn_returns_the_logits_as_a_flat_array_without_a_tape():
    from scratchgen.gan.rejection import log_ratio_classifier

    D = log_ratio_classifier(3, hidden=5, generator=np.random.default_rng(0))
    x = np.random.default_rng(1).normal(size=(4, 3))  # float64 in: cast to the classifier's dtype
    ell = log_ratio_fn(D)(x)
    assert isinstance(ell, np.ndarray) and ell.shape == (4,)
    with no_grad():
        np.testing.assert_array_equal(ell, D(tensor(x.astype(np.float32))).data[:, 0])
    # the classifier's shape: dim -> hidden -> hidden -> 1
    weights = [p.shape for name, p in D.named_parameters() if name.endswith("weight")]
    assert weights == [(5, 3), (5, 5), (1, 5)]


def test_fit_log_ratio_is_seeded_returns_eval_mode_and_takes_no_gradient_into_the_samplers():
    g = np.random.default_rng(0)
    leaks = []

    def sample_q(k):  # a generator's output on the tape: the fit must not backpropagate into it
        w = tensor(np.ones((1, 1), np.float32), requires_grad=True)
        leaks.append(w)
        return tensor(g.standard_normal((k, 1)).astype(np.float32)) * w

    def sample_p(k):
        return 1.0 + g.standard_normal((k, 1)).astype(np.float32)

    fits = [fit_log_ratio(sample_p, sample_q, 1, hidden=4, steps=3, batch=8, rng=np.random.default_rng(7))
            for _ in range(2)]
    assert all(not D.training for D in fits)
    assert all(w.grad is None for w in leaks) and len(leaks) == 6
    g = np.random.default_rng(0)  # the same data and the same rng: the same classifier
    again = fit_log_ratio(sample_p, sample_q, 1, hidden=4, steps=3, batch=8, rng=np.random.default_rng(7))
    for p, q in zip(fits[0].parameters(), again.parameters()):
        np.testing.assert_array_equal(p.data, q.data)
    for name, bad in (("dim", 0), ("hidden", 1.5), ("steps", -1), ("batch", True)):
        kw = dict(dim=1, hidden=4, steps=3, batch=8)
        kw[name] = bad
        with pytest.raises(ValueError, match=f"{name} must be a positive int, got {bad!r}"):
            fit_log_ratio(sample_p, sample_q, **kw)


def test_rejection_sample_run_names_a_bad_seed_and_a_missing_run(tmp_path):
    with pytest.raises(ValueError, match="seed must be an int >= 0, got -1"):
        rejection_sample_run(str(tmp_path), seed=-1, progress=False)
    with pytest.raises(ValueError, match="no checkpoint.npz in run_dir="):
        rejection_sample_run(str(tmp_path), progress=False)


def test_the_sampling_loop_shows_accepted_of_n_only_when_asked(capsys):
    quiet = rejection_sample(_counting_proposals(), even_only, 5, rng=np.random.default_rng(0), log_m=0.0, chunk=4)
    assert capsys.readouterr().err == ""
    shown = rejection_sample(_counting_proposals(), even_only, 5, rng=np.random.default_rng(0), log_m=0.0, chunk=4,
                             progress=True)
    last = [s for s in capsys.readouterr().err.replace("\r", "\n").split("\n") if s.strip()][-1]
    # accepted 2, 4, then 6 >= 5 after 12 proposals: the bar ends at 5/5, with the proposals judged
    assert last.startswith("rejection sampling: 100%") and "5/5" in last and "proposals=12" in last
    assert shown.samples[:, 0].tolist() == quiet.samples[:, 0].tolist() == [0, 2, 4, 6, 8]
