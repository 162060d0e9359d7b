"""(slow) The --quick runs of demos/dominating_discriminator.py and demos/loss_vs_quality.py: outputs and sane numbers."""
import importlib.util
import json
import os
import sys

import pytest

DEMOS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "demos")


def _run(name, monkeypatch, *argv):
    spec = importlib.util.spec_from_file_location(f"demo_{name}", os.path.join(DEMOS, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(sys, "argv", [f"{name}.py", *argv])
    return module.main()


@pytest.mark.slow  # about 2.3 s of CPU: over the default run's budget
def test_dominating_discriminator_quick(tmp_path, monkeypatch):
    _run("dominating_discriminator", monkeypatch, "--quick", "--out", str(tmp_path))
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert [r["options"] for r in m["runs"]] == [{}, {"d_dropout": 0.5}, {"label_flip": 0.3}, {"d_hidden": 8}]
    for r in m["runs"]:
        assert 0 < r["s_G_end"] < 1 and 0 < r["s_D_end"] < 1 and 0 <= r["modes"] <= 8
    assert (tmp_path / "dominating_discriminator.png").stat().st_size > 10_000


@pytest.mark.slow  # about 2.7 s of CPU
def test_loss_vs_quality_quick(tmp_path, monkeypatch):
    _run("loss_vs_quality", monkeypatch, "--quick", "--out", str(tmp_path))
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert [r["step"] for r in m["rows"]] == [4, 8, 12]
    for r in m["rows"]:
        assert r["fid"] > 0 and 1 <= r["digits_present"] <= 10 and 0 <= r["kl_uniform"] <= 2.31  # log 10 = 2.30
    assert all(-1 <= v <= 1 for k, v in m["spearman"].items() if not k.startswith("second_half"))
    assert (tmp_path / "loss_vs_quality.png").stat().st_size > 10_000
