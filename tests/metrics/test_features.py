"""The shipped digits classifier and the image metrics wired to it (formulas: tests/metrics/test_image_formulas.py)."""
import numpy as np
import pytest

from scratchgen.metrics.features import (
    FEATURE_DIM,
    accuracy,
    check_images,
    digit_features,
    digit_log_probs,
    digits_split,
    image_metrics,
    load_feature_classifier,
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
