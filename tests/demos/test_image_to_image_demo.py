"""(slow) demos/image_to_image.py --quick: trains the four tiny runs, then reads them back instead of retraining."""
import importlib.util
import os
import sys

import pytest

DEMOS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "demos")


@pytest.mark.slow  # about 1.6 s of CPU
def test_image_to_image_quick(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("demo_image_to_image", os.path.join(DEMOS, "image_to_image.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(sys, "argv", ["image_to_image.py", "--quick", "--out", str(tmp_path)])
    first = module.main()
    assert set(first) == {"pix2pix_fill", "pix2pix_denoise", "cyclegan_outline", "inpaint"}
    assert all(0 <= r["class_accuracy"] <= 1 for r in first.values())
    assert (tmp_path / "image_to_image.png").stat().st_size > 10_000
    stamp = os.path.getmtime(tmp_path / "inpaint_s0" / "checkpoint.npz")
    assert module.main() == first and os.path.getmtime(tmp_path / "inpaint_s0" / "checkpoint.npz") == stamp
