"""The VAE demos in their CI versions (--quick: seconds): they run and write their outputs."""
import json
import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _demo(name):
    return runpy.run_path(str(ROOT / "demos" / name))["main"]


def test_vae_collapse_quick_writes_its_table_figures_and_runs(tmp_path, capsys):
    results = _demo("vae_collapse.py")(["--quick", "--out", str(tmp_path)])
    assert "| autoregressive | 16 | free-bits |" in capsys.readouterr().out
    for name in ("gaussian beta=16", "gaussian beta=16 free-bits", "autoregressive steps warm-up"):
        r = results[name]
        assert 0 <= r["active_units"] <= 8 and len(r["kl_per_dim"]) == 8
    saved = json.loads((tmp_path / "results.json").read_text())
    assert set(saved["histories"]) == set(results) and saved["runs"]["gaussian steps free-bits"]["free_bits"] == 0.5
    assert saved["runs"]["gaussian steps warm-up"]["warmup"] == 10
    for name in ("table.md", "collapse_beta.png", "collapse_steps.png", "gaussian_beta16/metrics.json"):
        assert (tmp_path / name).stat().st_size > 0, name
    # a second call reads the finished runs back instead of training them again
    again = _demo("vae_collapse.py")(["--quick", "--out", str(tmp_path)])
    assert again["gaussian beta=16"] == results["gaussian beta=16"]


def test_likelihood_models_quick_fills_both_tables(tmp_path, capsys):
    results = _demo("likelihood_models.py")(["--quick", "--out", str(tmp_path)])
    text = capsys.readouterr().out
    assert "| GAN (DCGAN) |" in text and "| VAE (decoder means) |" in text and "| DDPM |" in text
    toy = next(k for k in results if k != "digits")
    rows = results[toy]
    # the data's own entropy is the floor of every model's NLL, up to the sampling noise of 1,000 points
    for model in ("VAE", "DDPM") + (("flow",) if rows["flow"] is not None else ()):
        assert rows[model]["nll"] > rows["data"]["nll"] - 0.2, (model, rows[model]["nll"], rows["data"]["nll"])
    assert "nll" not in rows["GAN"] and rows["GAN"]["n_modes"] == rows["data"]["n_modes"]
    digits = results["digits"]
    assert digits["flow"] is None and digits["real training digits"]["fid"] < digits["DDPM"]["fid"]
    assert digits["VAE (decoder means)"]["nll"] > 0 and digits["DDPM"]["nll"] > 0  # -log P of a discrete image
    assert (tmp_path / "table.md").stat().st_size > 0 and json.loads((tmp_path / "results.json").read_text())
