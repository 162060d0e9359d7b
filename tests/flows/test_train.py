"""The flow trainer (scratchgen.flows.train): its held-out NLL against closed forms, its outputs, its
errors, and (slow) the targets of issue 22 with the default settings. Resume and the other guarantees
of the scaffold are checked for it in tests/test_training.py."""
import json
import math
import os

import numpy as np
import pytest

import scratchgen as sg
from scratchgen.data import load_toy
from scratchgen.flows import Flow
from scratchgen.flows.train import FlowConfig, held_out_nll, load_run, train_flow

TINY = dict(steps=30, eval_every=15, batch=64, couplings=2, hidden=8, n_eval=200, warmup=2, progress=False)


def test_held_out_nll_of_the_untrained_flow_is_the_standard_normal_nll():
    # the flow starts as the identity: -log q(x) = |x|^2/2 + log(2 pi), per point (D = 2)
    from scipy import stats

    x = np.random.default_rng(0).standard_normal((1000, 2)) * 1.5
    out = held_out_nll(Flow(2, 3, generator=0).double(), x, log_p=lambda v: stats.norm(0, 1.5).logpdf(v).sum(1))
    nll = -stats.multivariate_normal(np.zeros(2), np.eye(2)).logpdf(x)
    assert abs(out["test_nll"] - nll.mean()) < 1e-12
    assert abs(out["test_nll_se"] - nll.std(ddof=1) / math.sqrt(1000)) < 1e-12 and out["n_test"] == 1000
    # KL(N(0, 1.5^2 I) || N(0, I)) per point, paired on the same x; the data's own NLL
    log_p = stats.norm(0, 1.5).logpdf(x).sum(1)
    assert abs(out["kl"] - (log_p - (-nll)).mean()) < 1e-12 and abs(out["data_nll"] + log_p.mean()) < 1e-12
    # in expectation the KL of two centred Gaussians, 2 * (s^2/2 - 1/2 - log s) with s = 1.5
    assert abs(out["kl"] - 2 * (1.5**2 / 2 - 0.5 - math.log(1.5))) < 5 * out["kl_se"]


def test_a_run_writes_its_numbers_samples_checkpoint_and_figures(tmp_path):
    run = train_flow(FlowConfig(**TINY), out_dir=str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == ["checkpoint.npz", "density.png", "layers.png", "metrics.json",
                                            "nll.png", "samples.npy"]
    final = json.loads((tmp_path / "metrics.json").read_text())["final"]
    for key in ("test_nll", "test_nll_se", "n_test", "kl", "kl_se", "data_nll", "entropy", "entropy_se",
                "nll_minus_entropy", "modes_captured", "high_quality_fraction", "train_seconds"):
        assert key in final, key
    assert final["n_test"] == 200 and np.load(tmp_path / "samples.npy").shape == (200, 2)
    assert abs(final["nll_minus_entropy"] - (final["test_nll"] - final["entropy"])) < 1e-12
    # the reported NLL is the checkpoint's model on the held-out points, recomputed here
    cfg, model = load_run(str(tmp_path / "checkpoint.npz"))
    assert cfg == FlowConfig(**TINY)
    x = load_toy("gauss8", 200, seed=10_000, split="test").x  # seed + 10_000, as the trainer draws them
    with sg.no_grad():
        assert abs(-model.log_prob(x).numpy().astype(np.float64).mean() - final["test_nll"]) < 1e-5
    np.testing.assert_array_equal(run.samples, np.load(tmp_path / "samples.npy"))


def test_training_lowers_the_held_out_nll_below_the_untrained_flows():
    x = load_toy("gauss8", 200, seed=10_000).x
    start = held_out_nll(Flow(2, 2, generator=0), x)["test_nll"]  # identity: the standard normal's NLL
    run = train_flow(FlowConfig(**{**TINY, "steps": 200, "eval_every": 200, "lr": 0.01, "couplings": 4, "hidden": 16}))
    assert run.final["test_nll"] < start - 0.5


def test_a_file_of_three_columns_trains_without_figures(tmp_path):
    a = np.random.default_rng(0).standard_normal((500, 3)).astype(np.float32) * [1.0, 2.0, 0.5]
    path = str(tmp_path / "points.npy")
    np.save(path, a)
    run = train_flow(FlowConfig(**{**TINY, "data": path}), out_dir=str(tmp_path / "run"))
    assert run.final["n_test"] == 100  # round(500 / 5) held-out rows, fewer than n_eval = 200
    assert "kl" not in run.final and "entropy" not in run.final and run.samples.shape == (200, 3)
    assert sorted(os.listdir(tmp_path / "run")) == ["checkpoint.npz", "metrics.json", "samples.npy"]


@pytest.mark.parametrize("bad, message", [
    (dict(data="ring9"), "data must be one of .* or the path of a .npy file .*got 'ring9'"),
    (dict(data="mixture1d"), "data must have D >= 2 columns .*got 'mixture1d' with D = 1"),
    (dict(mixing="glow"), r"mixing must be one of \('lu', 'none'\), got 'glow'"),
    (dict(couplings=0), "couplings must be a positive int, got 0"),
    (dict(lr=0.0), "lr must be a finite number > 0, got 0.0"),
    (dict(warmup=-1), "warmup must be an int >= 0, got -1"),
    (dict(grad_clip=0.0), "grad_clip must be > 0 or None, got 0.0"),
])
def test_config_errors_name_the_setting(bad, message):
    with pytest.raises(ValueError, match=message):
        train_flow(FlowConfig(**{**TINY, **bad}))


def test_load_run_refuses_another_kind_of_checkpoint(tmp_path):
    sg.save({"kind": "ddpm", "config": {}}, str(tmp_path / "c.npz"))
    with pytest.raises(ValueError, match="is not a flow checkpoint \\(kind 'ddpm'"):
        load_run(str(tmp_path / "c.npz"))


# ---------------------------------------------------------------------------
# The targets of issue 22, with the default settings (minutes each; docs/results.md)
# ---------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("data, gap", [("gauss8", 0.05), ("checkerboard", 0.15)])
def test_the_default_flow_comes_within_the_target_of_the_entropy(data, gap):
    final = train_flow(FlowConfig(data=data, progress=False), figures=False).final
    # the held-out NLL on 50,000 points (se about 0.004) against the entropy (Monte Carlo on 10^6 points, se
    # 0.001; log 8 exactly for the checkerboard); their difference is the KL plus the noise of the estimates
    assert final["n_test"] == 50_000
    assert final["test_nll"] - final["entropy"] < gap
    assert final["test_nll"] - final["entropy"] > -3 * final["test_nll_se"]  # NLL >= H, up to noise
