"""demos/adversarial_digits.py --quick: accuracy falls with eps, a digit turns, the figure is written."""
import importlib.util
import json
import os
import sys

DEMOS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "demos")


def test_adversarial_digits_quick(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("demo_adversarial_digits", os.path.join(DEMOS, "adversarial_digits.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(sys, "argv", ["adversarial_digits.py", "--quick", "--out", str(tmp_path)])
    module.main()
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert m["eps"][0] == 0 and m["accuracy_fgsm"][0] == m["accuracy_pgd"][0] > 0.9
    assert m["accuracy_pgd"][-1] < m["accuracy_pgd"][0] and m["accuracy_fgsm"][-1] < m["accuracy_fgsm"][0]
    assert m["flip"]["read_as"] != m["flip"]["label"] and m["flip"]["eps"] <= max(m["eps"])
    assert (tmp_path / "adversarial_digits.png").stat().st_size > 10_000
