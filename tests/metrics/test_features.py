"""The shipped digits classifier and the image metrics wired to it (formulas: tests/metrics/test_image_formulas.py)."""
import numpy as np
import pytest

from scratchgen.autodiff.tensor import tensor
from scratchgen.data.digits import DigitsSplit, digits_split
from scratchgen.metrics.features import (
    FEATURE_DIM,
    DigitsClassifier,
    accuracy,
    check_images,
    digit_features,
    digit_log_probs,
    image_metrics,
    load_feature_classifier,
    train_feature_classifier,
)


@pytest.fixture(scope="module")
def split():
    return digits_split()


def test_shipped_classifier_accuracy_matches_its_record(split):
    model = load_feature_classifier()
    acc = accuracy(model, split)
    assert 0.97 <= acc <= 1.0  # docs/images.md states 97.8 % on the 539 held-out digits
    assert acc == pytest.approx(model.meta["test_accuracy"], abs=2 / 539)


def test_features_and_probs_shapes(split):
    f = digit_features(split.x_test[:10])
    lp = digit_log_probs(split.x_test[:10])
    assert f.shape == (10, FEATURE_DIM) and lp.shape == (10, 10)
    np.testing.assert_allclose(np.exp(lp).sum(1), 1, rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match=r"expected images of shape \(N, 1, 8, 8\).*received shape \(10, 64\)"):
        check_images(np.zeros((10, 64), np.float32), "digit_features")


def test_metrics_of_a_set_against_itself_and_real_vs_noise(split):
    same = image_metrics(split.x_test, split.x_test, labels=split.y_test, kid_subsets=10)
    assert abs(same["fid"]) < 1e-6
    assert same["precision"] == 1.0 and same["recall"] == 1.0
    assert same["class_accuracy"] == pytest.approx(accuracy(load_feature_classifier(), split), abs=1e-12)
    # held-out real digits: confident and nearly class-balanced, so the score is close to 10
    assert 8.5 < same["is"] <= 10.0
    # train vs test (both real) is far closer than uniform noise vs test
    real = image_metrics(split.x_train, split.x_test, kid_subsets=10)
    noise = np.random.default_rng(0).uniform(-1, 1, (500, 1, 8, 8)).astype(np.float32)
    bad = image_metrics(noise, split.x_test, kid_subsets=10)
    assert real["fid"] < 0.05 * bad["fid"]
    # unbiased KID of two real sets is near 0 (either sign); noise is far away
    assert abs(real["kid"]) < 0.03 * bad["kid"]
    assert real["precision"] > 0.8 and real["recall"] > 0.8
    assert bad["precision"] < 0.4 and bad["recall"] < 0.2
    assert bad["is"] < real["is"]
    # FID is symmetric (up to the round-off of the two eigendecompositions, ~1e-9 relative here)
    assert image_metrics(split.x_test, noise, kid_subsets=2)["fid"] == pytest.approx(bad["fid"], rel=1e-8)


# ---------------------------------------------------------------------------
# Documented contracts, one by one
# ---------------------------------------------------------------------------
def test_check_images_and_image_metrics_name_bad_inputs(split):
    with pytest.raises(ValueError, match="digit_log_probs: expected float images in \\[-1, 1\\], received dtype int64"):
        check_images(np.zeros((2, 1, 8, 8), np.int64), "digit_log_probs")
    with pytest.raises(ValueError, match=r"received shape \(0, 1, 8, 8\)"):
        check_images(np.zeros((0, 1, 8, 8), np.float32), "digit_features")
    with pytest.raises(ValueError, match=r"image_metrics: labels must have shape \(20,\), one label per sample, got shape \(19,\)"):
        image_metrics(split.x_test[:20], split.x_test[20:60], labels=split.y_test[:19], kid_subsets=1)


def test_image_metrics_reports_every_documented_key(split):
    m = image_metrics(split.x_test[:40], split.x_test[40:100], labels=split.y_test[:40], kid_subset=20, kid_subsets=3)
    assert set(m) == {"fid", "kid", "kid_std", "is", "precision", "recall", "n_samples", "n_reference", "class_accuracy"}
    assert (m["n_samples"], m["n_reference"]) == (40, 60)
    assert 1.0 <= m["is"] <= 10.0 and 0 <= m["precision"] <= 1 and 0 <= m["recall"] <= 1
    pred = np.argmax(digit_log_probs(split.x_test[:40]), axis=1)
    assert m["class_accuracy"] == float((pred == split.y_test[:40]).mean())


def test_the_shipped_classifier_is_cached_and_a_missing_file_is_named(tmp_path):
    assert load_feature_classifier() is load_feature_classifier()
    assert not load_feature_classifier().training
    with pytest.raises(FileNotFoundError, match="missing; rebuild it with `python demos/train_feature_classifier.py`"):
        load_feature_classifier(str(tmp_path / "none.npz"))


def test_digits_classifier_logits_are_the_head_of_its_64_features():
    m = DigitsClassifier(generator=0)
    m.eval()  # dropout off
    x = tensor(np.random.default_rng(0).uniform(-1, 1, (3, 1, 8, 8)).astype(np.float32))
    f = m.features(x).numpy()
    assert f.shape == (3, FEATURE_DIM) and np.all(f >= 0)  # after a ReLU
    np.testing.assert_allclose(m(x).numpy(), f @ m.head.weight.data.T + m.head.bias.data, rtol=1e-5, atol=1e-6)


def test_train_feature_classifier_returns_the_model_and_its_test_accuracy_and_is_seeded(split):
    small = DigitsSplit(split.x_train[:64], split.y_train[:64], split.x_test[:50], split.y_test[:50])
    model, acc = train_feature_classifier(epochs=1, batch=32, seed=3, split=small)
    assert acc == accuracy(model, small) and abs(acc * 50 - round(acc * 50)) < 1e-9
    again, acc2 = train_feature_classifier(epochs=1, batch=32, seed=3, split=small)
    assert acc2 == acc
    for p, q in zip(model.parameters(), again.parameters()):
        np.testing.assert_array_equal(p.data, q.data)
