"""CI run (--quick) of demos/style_mixing.py: the figures are written, the grid's sources are the generator's
images, and drawing from the saved checkpoint gives the same grid as the trained generator."""
import runpy
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # ~2.5 s of CPU (a tiny training, two figures); the generator's mixing and truncation are
# tested in tests/gan/test_stylegan.py in the default run
def test_style_mixing_demo_quick_and_from_its_checkpoint(tmp_path):
    main = runpy.run_path(str(ROOT / "demos" / "style_mixing.py"))["main"]
    grid, strip = main(["--quick", "--rows", "2", "--cols", "3", "--out", str(tmp_path)])
    for f in ("style_mixing.png", "truncation.png"):
        assert (tmp_path / f).stat().st_size > 0
    assert grid.shape == (3, 4, 1, 8, 8) and strip.shape == (2, 6, 1, 8, 8)
    assert np.abs(strip[0, 2] - strip[1, 2]).max() < 1e-5  # psi = 0: the same mean image for both latents
    again, _ = main(["--checkpoint", str(tmp_path / "run" / "checkpoint.npz"), "--rows", "2", "--cols", "3",
                     "--out", str(tmp_path / "again")])
    assert np.abs(again - grid).max() < 1e-6
