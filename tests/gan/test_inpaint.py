"""Context encoders: the composite, L_rec on the hole only (Pathak et al. Eq. 1), the joint loss."""
import numpy as np
import pytest

from scratchgen.autodiff.tensor import tensor
from scratchgen.data.pairs import apply_mask, square_mask
from scratchgen.gan.inpaint import composite, context_encoder_g_loss, reconstruction_loss


def _batch():
    g = np.random.default_rng(0)
    x, pred = g.uniform(-1, 1, (6, 1, 8, 8)), g.uniform(-1, 1, (6, 1, 8, 8))
    return x, pred, square_mask(6, 8, 3, 1).astype(np.float64)


def test_composite_keeps_the_context_and_fills_the_hole():
    x, pred, M = _batch()
    out = composite(x, pred, M)
    assert np.array_equal(out[M == 0], x[M == 0]) and np.array_equal(out[M == 1], pred[M == 1])


def test_reconstruction_loss_is_the_mean_square_on_the_hole_only():
    x, pred, M = _batch()
    expected = ((pred - x) ** 2)[M == 1].mean()  # ||M (x - pred)||^2 / (number of hole pixels)
    assert abs(float(reconstruction_loss(x, tensor(pred), M).item()) - expected) < 1e-12
    other = np.where(M == 1, pred, 5.0)  # anything outside the hole changes nothing
    assert abs(float(reconstruction_loss(x, tensor(other), M).item()) - expected) < 1e-12
    assert float(reconstruction_loss(x, tensor(np.where(M == 1, x, 0.0)), M).item()) == 0.0
    with pytest.raises(ValueError, match="mask M is empty"):
        reconstruction_loss(x, tensor(pred), 0 * M)


def test_joint_loss_written_out():
    x, pred, M = _batch()
    logits = np.random.default_rng(2).standard_normal((6, 1, 4, 4))
    expected = 0.999 * ((pred - x) ** 2)[M == 1].mean() + 0.001 * np.log1p(np.exp(-logits)).mean()
    assert abs(float(context_encoder_g_loss(tensor(logits), x, tensor(pred), M).item()) - expected) < 1e-12


def test_square_mask_and_context():
    M = square_mask(50, 8, 4, 0)
    assert M.shape == (50, 1, 8, 8) and set(np.unique(M)) == {0.0, 1.0}
    for m in M[:, 0]:
        r, c = np.nonzero(m)
        assert m.sum() == 16 and r.max() - r.min() == 3 and c.max() - c.min() == 3  # one 4x4 square, inside
    x = np.random.default_rng(0).uniform(-1, 1, (50, 1, 8, 8)).astype(np.float32)
    ctx = apply_mask(x, M)
    assert ctx.shape == (50, 2, 8, 8) and np.array_equal(ctx[:, 1:], M)
    assert np.all(ctx[:, :1][M == 1] == 0) and np.array_equal(ctx[:, :1][M == 0], x[M == 0])
