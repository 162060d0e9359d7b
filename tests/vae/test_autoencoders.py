"""Autoencoders: the linear one finds the principal subspace (Baldi & Hornik 1989); the denoising and masked
objectives score what they say; principal angles against scipy."""
import math

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st

import scratchgen as sg
from scratchgen import optim
from scratchgen.vae import (
    Autoencoder,
    denoising_loss,
    gaussian_corruption,
    mask_input,
    masked_loss,
    principal_angles,
    random_mask,
    reconstruction_loss,
)


@given(st.integers(3, 8), st.integers(1, 3), st.integers(1, 3), st.integers(0, 2 ** 16))
@settings(max_examples=40, deadline=None)
def test_principal_angles_equal_scipys(d, p, q, seed):
    g = np.random.default_rng(seed)
    A, B = g.standard_normal((d, p)), g.standard_normal((d, q))
    # scipy reads an angle of 0 (a shared direction, when p + q > d) as ~1.5e-8, sqrt of the float64 epsilon
    np.testing.assert_allclose(principal_angles(A, B), np.sort(scipy.linalg.subspace_angles(A, B)), atol=1e-7)
    R = np.linalg.qr(g.standard_normal((p, p)))[0] * np.arange(1, p + 1)  # another basis of it (condition p)
    assert np.abs(principal_angles(A, A @ R)).max() < 1e-12  # the same subspace: all angles 0, to rounding


def test_a_linear_autoencoder_trained_by_squared_error_spans_the_top_k_principal_subspace():
    """Baldi & Hornik (1989): at the minimum the decoder's columns span the top-k eigenvectors of the data's covariance."""
    g = np.random.default_rng(0)
    d, k, n = 6, 2, 500
    scales = np.array([3.0, 2.0, 1.0, 0.7, 0.5, 0.3])  # distinct variances: the top-2 subspace is well separated
    Q, _ = np.linalg.qr(g.standard_normal((d, d)))
    x = (g.standard_normal((n, d)) * scales) @ Q.T + np.array([1.0, -2.0, 0.5, 0.0, 3.0, -1.0])
    # the top-k principal directions by numpy's SVD of the centred data
    top = np.linalg.svd(x - x.mean(axis=0), full_matrices=False)[2][:k].T  # (d, k)
    ae = Autoencoder(d, k, hidden=(), generator=1).double()
    opt = optim.Adam(ae.parameters(), lr=0.02)
    xs = sg.tensor(x)
    for _ in range(1500):  # full-batch Adam on the squared error
        loss = reconstruction_loss(ae(xs), xs)
        opt.zero_grad()
        loss.backward()
        opt.step()
    B_dec = ae.decoder[0].weight.numpy()  # (d, k)
    A_enc = ae.encoder[0].weight.numpy()  # (k, d)
    angles_dec = scipy.linalg.subspace_angles(B_dec, top)
    angles_enc = scipy.linalg.subspace_angles(A_enc.T, top)
    assert angles_dec.max() < 1e-3 and angles_enc.max() < 1e-3, (angles_dec, angles_enc)
    # its error is PCA's: the variance left in the other d - k directions, summed
    lam = np.linalg.eigvalsh(np.cov(x.T, bias=True))
    assert abs(loss.item() - lam[: d - k].sum()) < 1e-4 * lam[: d - k].sum()


def test_random_mask_hides_the_same_number_of_entries_in_every_row_at_uniform_positions():
    m = random_mask((4000, 10), 0.3, sg.rng(0))
    assert set(np.unique(m)) == {0.0, 1.0} and np.all(m.sum(axis=1) == 3)
    freq = m.mean(axis=0)  # each position hidden with probability 3/10
    assert np.all(np.abs(freq - 0.3) < 5 * math.sqrt(0.3 * 0.7 / 4000))
    with pytest.raises(ValueError, match=r"ratio must lie in \(0, 1\), received 1.0"):
        random_mask((2, 4), 1.0, sg.rng(0))


def test_masked_loss_scores_only_the_hidden_entries():
    g = np.random.default_rng(1)
    x = g.standard_normal((5, 8))
    mask = random_mask(x.shape, 0.5, sg.rng(2))
    np.testing.assert_array_equal(mask_input(x, mask, fill=0.0), np.where(mask == 1, 0.0, x))
    x_hat = sg.tensor(x + 1.0)  # off by 1 everywhere
    assert abs(reconstruction_loss(x_hat, x, mask=mask).item() - 1.0) < 1e-14  # per hidden entry
    wrong_visible = np.where(mask == 1, x, x + 5.0)  # right where hidden, wrong where visible: no loss
    assert reconstruction_loss(sg.tensor(wrong_visible), x, mask=mask).item() == 0.0
    with pytest.raises(ValueError, match=r"the mask hides no entry"):
        reconstruction_loss(x_hat, x, mask=np.zeros_like(x))

    class Copy(sg.nn.Module):  # returns its (masked) input: the loss is the hidden entries' squared values
        def forward(self, v):
            return v

    out = masked_loss(Copy(), x, 0.5, sg.rng(2))
    assert abs(out.item() - (x ** 2 * mask).sum() / mask.sum()) < 1e-12


def test_denoising_loss_restores_the_clean_input_from_the_noisy_one():
    g = np.random.default_rng(3)
    x = g.standard_normal((6, 4))
    noisy = gaussian_corruption(x, 0.5, sg.rng(4))
    np.testing.assert_allclose(noisy - x, 0.5 * np.random.default_rng(4).standard_normal((6, 4)), rtol=1e-14)

    class Copy(sg.nn.Module):
        def forward(self, v):
            return v

    # the identity map restores nothing: its loss is the noise's squared norm per example
    assert abs(denoising_loss(Copy(), x, 0.5, sg.rng(4)).item() - ((noisy - x) ** 2).sum(axis=1).mean()) < 1e-12
    assert denoising_loss(Copy(), x, 0.0, sg.rng(4)).item() == 0.0
    with pytest.raises(ValueError, match=r"sigma must be >= 0, received -1"):
        gaussian_corruption(x, -1, sg.rng(0))


def test_reconstruction_loss_is_the_squared_error_per_example():
    g = np.random.default_rng(5)
    x, y = g.standard_normal((3, 4)), g.standard_normal((3, 4))
    assert abs(reconstruction_loss(sg.tensor(y), x).item() - ((x - y) ** 2).sum(axis=1).mean()) < 1e-13
    ae = Autoencoder(4, 2, hidden=(8,), generator=0)
    assert ae.encode(x.astype(np.float32)).shape == (3, 2) and ae.reconstruct(x.astype(np.float32)).shape == (3, 4)
