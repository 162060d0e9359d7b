"""CI runs (``--quick``) of the image demos: each writes its outputs, and the numbers are in range."""
import json
import runpy
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def _demo(name, function="main"):
    return runpy.run_path(str(ROOT / "demos" / name))[function]


def test_dcgan_and_cgan_demos_quick(tmp_path, capsys):
    run, ref = _demo("digits_dcgan.py")(["--quick", "--out", str(tmp_path / "d")])
    for f in ("samples.png", "metrics.json", "checkpoint.npz", "reference_metrics.json"):
        assert (tmp_path / "d" / f).stat().st_size > 0
    assert 8.5 < ref["is"] <= 10 and ref["fid"] < run.final["fid"]
    x = _demo("digits_cgan.py")(["--quick", "--out", str(tmp_path / "c"), "--draw", "4", "2"])
    assert x.shape == (20, 1, 8, 8) and (tmp_path / "c" / "draw_42.png").exists()
    assert "class_accuracy" in json.load(open(tmp_path / "c" / "metrics.json"))["final"]
    # drawing from the saved checkpoint gives the same images as the trained generator
    y = _demo("digits_cgan.py")(["--checkpoint", str(tmp_path / "c" / "checkpoint.npz"), "--draw", "4", "2",
                                 "--out", str(tmp_path / "c2")])
    assert np.array_equal(x, y)


def test_ssgan_demo_quick(tmp_path):
    summary = _demo("digits_ssgan.py")(["--quick", "--out", str(tmp_path)])
    r = json.load(open(tmp_path / "results.json"))
    assert (tmp_path / "samples_seed0.png").exists() and r["per_seed"][0]["seed"] == 0
    for key in ("ssgan", "labelled_only"):
        assert 0.0 <= summary[key]["mean"] <= 1.0



def test_ssgan_demo_with_no_unlabelled_images_fits_label_spreading_on_the_labelled_ones(tmp_path):
    from scratchgen.data.images import load_image_data
    from scratchgen.gan.ssgan import labelled_indices
    from scratchgen.gan.train_images import ImageGANConfig, _labelled_seed

    _demo("digits_ssgan.py")(["--quick", "--unlabelled-fraction", "0", "--out", str(tmp_path)])
    r = json.load(open(tmp_path / "results.json"))
    assert r["unlabelled_fraction"] == 0.0
    acc_b = r["per_seed"][0]["label_spreading"]
    if acc_b is not None:  # scikit-learn installed
        data = load_image_data(ImageGANConfig(model="ssgan"))
        lab = labelled_indices(data.y_train, 10, _labelled_seed(0))  # seed 0's labelled images
        assert acc_b == _demo("digits_ssgan.py", "label_spreading_accuracy")(data, lab, lab)[0]
        assert acc_b != _demo("digits_ssgan.py", "label_spreading_accuracy")(data, lab)[0]


def test_feature_classifier_script_quick(tmp_path):
    from scratchgen.checkpoint import load

    acc = _demo("train_feature_classifier.py")(["--quick", "--out", str(tmp_path / "c.npz")])
    state = load(tmp_path / "c.npz")
    assert state["meta"]["test_accuracy"] == acc and 0.1 < acc <= 1.0


def test_label_spreading_counts_images_its_graph_does_not_reach_as_errors():
    """Three tight clusters of 8×8 images, labels in two: the third cluster's held-out images get no
    label mass (scikit-learn divides 0 by 0 there); they are counted, and scored as errors."""
    import pytest

    pytest.importorskip("sklearn")
    from scratchgen.data.images import ImageData

    g = np.random.default_rng(0)
    centres = g.uniform(-1, 1, (3, 1, 8, 8)).astype(np.float32)
    c_train, c_test = np.repeat(np.arange(3), 12), np.repeat(np.arange(3), 4)
    # clusters 0 and 2 hold zeros, cluster 1 ones. Where no label reaches, scikit-learn's predict answers the
    # first labelled class, 0, which would score cluster 2 right: the demo must count those images as errors
    y_train, y_test = np.where(c_train == 2, 0, c_train), np.where(c_test == 2, 0, c_test)
    x_train = centres[c_train] + 0.01 * g.standard_normal((36, 1, 8, 8)).astype(np.float32)
    x_test = centres[c_test] + 0.01 * g.standard_normal((12, 1, 8, 8)).astype(np.float32)
    data = ImageData(x_train, y_train, x_test, y_test, 8)
    labelled = np.array([0, 1, 12, 13])  # two images of cluster 0 and two of cluster 1, none of cluster 2
    acc, unreached = _demo("digits_ssgan.py", "label_spreading_accuracy")(data, labelled)
    assert unreached == 4
    assert abs(acc - 8 / 12) < 1e-12  # clusters 0 and 1 right, cluster 2 wrong
    # fitted on clusters 0 and 1 only: the held-out images of cluster 2 now have their 7 nearest neighbours in
    # the nearer of the two clusters (12 images each), so none is unreached and they get that cluster's class
    acc_sub, unreached_sub = _demo("digits_ssgan.py", "label_spreading_accuracy")(data, labelled, np.arange(24))
    nearer = int(np.linalg.norm(centres[1] - centres[2]) < np.linalg.norm(centres[0] - centres[2]))
    assert unreached_sub == 0
    assert abs(acc_sub - (8 + 4 * (nearer == 0)) / 12) < 1e-12


def test_ssgan_demo_says_when_label_spreading_is_skipped(tmp_path, monkeypatch, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "sklearn.semi_supervised", None)  # as if scikit-learn were absent
    summary = _demo("digits_ssgan.py")(["--quick", "--out", str(tmp_path)])
    assert "label_spreading" not in summary
    assert "LabelSpreading skipped (scikit-learn is not installed: pip install -e '.[compare]')" in capsys.readouterr().out
