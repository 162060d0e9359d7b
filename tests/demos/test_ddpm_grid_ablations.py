"""demos/ddpm_grid_ablations.py in its CI version (--quick: tiny runs of every job), slow-marked: about 3 s of
CPU, more than the default run's budget for one file. The measured runs are in docs/results.md."""
import json
import runpy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_quick_runs_every_job_and_writes_its_outputs(tmp_path, capsys):
    main = runpy.run_path(str(ROOT / "demos" / "ddpm_grid_ablations.py"))["main"]
    out = main(["--quick", "--out", str(tmp_path)])
    assert set(out) == {"exact", "train", "resample", "eps-error", "samples", "table"}
    exact = json.loads((tmp_path / "exact.json").read_text())
    assert [r["data"] for r in exact].count("grid25") == 6  # the data itself and five samplers
    data_row = exact[0]
    assert data_row["sampler"].startswith("the data itself") and data_row["high_quality_fraction"] > 0.9
    assert all(0 <= r["high_quality_fraction"] <= 1 and "mmd2_sigma" in r for r in exact)
    curves = json.loads((tmp_path / "eps_error.json").read_text())
    for c in curves.values():  # MSE = floor + excess up to Monte Carlo noise, excess >= 0
        assert all(e >= 0 for e in c["excess"]) and len(c["t"]) == len(c["mse"])
    for name in ("eps_error.png", "samples.png", "table.md", "resample.json"):
        assert (tmp_path / name).stat().st_size > 0
    assert "| base_s3 | grid25 |" in (tmp_path / "table.md").read_text()
