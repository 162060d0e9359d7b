"""demos/mnist_i2i.py --quick on tiny MNIST-format files: the four runs train, are read back, and are judged."""
import importlib.util
import json
import os
import sys

import numpy as np

DEMOS = os.path.join(os.path.dirname(__file__), "..", "..", "demos")


def test_mnist_i2i_quick_trains_then_reads_back(tmp_path, monkeypatch):
    from scratchgen.data.mnist import MNIST_FILES, write_idx

    for part, n in (("train", 2), ("test", 1)):
        labels = np.repeat(np.arange(10, dtype=np.uint8), n)
        images = np.zeros((labels.size, 28, 28), dtype=np.uint8)
        for k, d in enumerate(labels):  # digit d: a bar at column 2 + 2 d, so that the judge can learn it
            images[k, 6:22, 2 + 2 * d:4 + 2 * d] = 255
        for name, a in zip(MNIST_FILES[part], (images, labels)):
            write_idx(tmp_path / name, a)
    spec = importlib.util.spec_from_file_location("demo_mnist_i2i", os.path.join(DEMOS, "mnist_i2i.py"))
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    fakes = np.full((5, 1, 32, 32), -1.0, dtype=np.float32)  # five blank "samples" to judge
    np.save(tmp_path / "fakes.npy", fakes)
    argv = ["mnist_i2i.py", "--quick", "--steps", "2", "--mnist-path", str(tmp_path), "--mnist-checksums", "none",
            "--out", str(tmp_path / "out"), "--samples", str(tmp_path / "fakes.npy")]
    monkeypatch.setattr(sys, "argv", argv)
    first = demo.main()
    assert (tmp_path / "out" / "mnist_i2i.png").stat().st_size > 10_000
    fake_key = str(tmp_path / "fakes.npy")
    assert set(first) == {"judge_clean_accuracy", "judge_clean_recognisable", fake_key, "pix2pix fill",
                          "pix2pix denoise", "cyclegan outline", "inpaint"}
    assert first[fake_key]["classes_covered"] == 1  # five identical images: one digit, whichever it is
    assert first[fake_key]["recognisable"] in (0.0, 1.0)  # identical images: all or none
    for name, r in first.items():
        if name not in ("judge_clean_accuracy", "judge_clean_recognisable", fake_key):
            assert 0 <= r["class_accuracy"] <= 1 and 0 <= r["input_accuracy"] <= 1 and r["l1"] >= 0
    second = demo.main()  # the checkpoints are read back: the same networks, the same verdicts
    assert json.dumps(second, sort_keys=True) == json.dumps(first, sort_keys=True)
