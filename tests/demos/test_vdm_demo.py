"""demos/vdm_schedule.py in its CI version (--quick: tiny runs, one seed)."""
import json
import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_vdm_schedule_demo_quick_writes_its_outputs_and_reads_finished_runs_back(tmp_path, capsys):
    main = runpy.run_path(str(ROOT / "demos" / "vdm_schedule.py"))["main"]
    results = main(["--quick", "--out", str(tmp_path), "--discrete", "4"])
    discrete = json.loads((tmp_path / "discrete.json").read_text())
    assert set(discrete["learned-s0"]) == {"T=4", "T=inf"} and discrete["fixed-s0"]["T=4"]["bpd"] > 0
    assert set(results) == {"fixed-s0", "learned-s0"}
    assert results["fixed-s0"]["gamma_0"] == -13.300000190734863 != results["learned-s0"]["gamma_0"]
    assert "| learned | 1 |" in capsys.readouterr().out
    assert json.loads((tmp_path / "results.json").read_text())["learned-s0"]["bpd"] == results["learned-s0"]["bpd"]
    assert (tmp_path / "vdm_schedule.png").stat().st_size > 0
    again = main(["--quick", "--out", str(tmp_path)])  # finished runs are read back, not retrained
    assert again == results
