"""The encoder, the three decoders (their densities against scipy; the MADE's autoregressive masks by its
Jacobian) and the VAE's estimators and training loss."""
import math

import numpy as np
import pytest
import scipy.stats

import scratchgen as sg
from scratchgen.autodiff import check_grads
from scratchgen.vae import (
    VAE,
    AutoregressiveGaussianDecoder,
    BernoulliDecoder,
    GaussianDecoder,
    GaussianEncoder,
    kl_standard_normal,
    log_normal,
    made_masks,
)


def _vae(decoder="gaussian", D=6, L=3, hidden=(16,), seed=0):
    enc = GaussianEncoder(D, L, hidden, generator=seed).double()
    dec = {"gaussian": lambda: GaussianDecoder(L, D, hidden, generator=seed + 1),
           "bernoulli": lambda: BernoulliDecoder(L, D, hidden, generator=seed + 1),
           "autoregressive": lambda: AutoregressiveGaussianDecoder(L, D, hidden, generator=seed + 1)}[decoder]()
    return VAE(enc, dec.double())


def test_decoder_log_probs_are_the_sum_of_scipy_densities():
    g = np.random.default_rng(0)
    z = sg.tensor(g.standard_normal((4, 3)))
    x = g.standard_normal((4, 6))
    gauss = GaussianDecoder(3, 6, (8,), generator=1).double()
    gauss.log_var.data[...] = g.standard_normal(6)
    mean, sd = gauss.mean(z), np.exp(0.5 * gauss.log_var.numpy())
    np.testing.assert_allclose(gauss.log_prob(sg.tensor(x), z).numpy(),
                               scipy.stats.norm.logpdf(x, mean, sd).sum(axis=1), rtol=1e-12)
    shared = GaussianDecoder(3, 6, (8,), var="shared", generator=1)
    assert shared.log_var.shape == (1,)
    bern = BernoulliDecoder(3, 6, (8,), generator=2).double()
    b = (g.random((4, 6)) < 0.5).astype(np.float64)
    np.testing.assert_allclose(bern.log_prob(sg.tensor(b), z).numpy(),
                               scipy.stats.bernoulli.logpmf(b, bern.mean(z)).sum(axis=1), rtol=1e-10)
    with pytest.raises(ValueError, match=r"var must be 'pixel' or 'shared', received 'full'"):
        GaussianDecoder(3, 6, var="full")


def test_made_masks_let_output_d_see_only_earlier_inputs():
    masks = made_masks(5, (7, 9))
    assert [m.shape for m in masks] == [(7, 5), (9, 7), (5, 9)]
    path = masks[2] @ masks[1] @ masks[0]  # (5, 5): how many paths from input j to output d
    assert np.all(path[np.triu_indices(5)] == 0)  # none from x_j to output d for j >= d
    assert np.all(path[np.tril_indices(5, -1)] > 0)  # some from every earlier input
    with pytest.raises(ValueError, match=r"need D >= 2 and at least one hidden layer"):
        made_masks(1, (4,))


def test_the_autoregressive_decoder_is_autoregressive_by_its_jacobian():
    D = 5
    dec = AutoregressiveGaussianDecoder(2, D, (12, 12), generator=3).double()
    g = np.random.default_rng(4)
    x0, z = g.standard_normal(D), sg.tensor(g.standard_normal(2))
    for d in range(D):  # d mu_d / d x_j and d log_var_d / d x_j vanish for j >= d, not for every j < d
        for head in (0, 1):
            grad = sg.grad(lambda x: dec(x, z)[head][d])(sg.tensor(x0)).numpy()
            assert np.all(grad[d:] == 0), (d, head, grad)
            if d > 0:
                assert np.any(grad[:d] != 0), (d, head)
    # sampling fills x in order: a greedy decode is a fixed point of the one-pass conditional means
    x = dec.mean(z.data[None])
    mu, _ = dec(sg.tensor(x), sg.tensor(z.data[None]))
    np.testing.assert_allclose(mu.numpy(), x, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("decoder", ["gaussian", "bernoulli", "autoregressive"])
def test_log_weights_elbo_and_iwae_are_their_definitions(decoder):
    vae = _vae(decoder)
    g = np.random.default_rng(5)
    x = g.standard_normal((4, 6)) if decoder != "bernoulli" else (g.random((4, 6)) < 0.5) * 1.0
    xs, eps = sg.tensor(x), sg.tensor(g.standard_normal((7, 4, 3)))
    mu, lv = (t.numpy() for t in vae.encoder(xs))
    z = mu + np.exp(0.5 * lv) * eps.numpy()  # (7, 4, 3)
    log_px_z = vae.decoder.log_prob(xs, sg.tensor(z)).numpy()
    lw = log_px_z + scipy.stats.norm.logpdf(z).sum(-1) - scipy.stats.norm.logpdf(z, mu, np.exp(0.5 * lv)).sum(-1)
    np.testing.assert_allclose(vae.log_weights(xs, eps).numpy(), lw, rtol=1e-11)
    np.testing.assert_allclose(vae.elbo(xs, eps, kl="mc").numpy(), lw.mean(axis=0), rtol=1e-11)
    kl = (0.5 * (mu ** 2 + np.exp(lv) - 1 - lv)).sum(-1)
    np.testing.assert_allclose(vae.elbo(xs, eps).numpy(), log_px_z.mean(axis=0) - kl, rtol=1e-11)
    np.testing.assert_allclose(vae.iwae(xs, eps).numpy(), scipy.special.logsumexp(lw, axis=0) - math.log(7), rtol=1e-11)
    assert np.all(vae.iwae(xs, eps).numpy() >= lw.mean(axis=0))  # Jensen, draw by draw
    np.testing.assert_allclose(vae.iwae(xs, eps[:1]).numpy(), lw[0], rtol=1e-12)  # k = 1: the ELBO estimate
    with pytest.raises(ValueError, match=r"kl must be 'analytic' or 'mc', received 'exact'"):
        vae.elbo(xs, eps, kl="exact")


def test_the_training_loss_is_minus_recon_plus_beta_times_the_free_bits_kl():
    vae = _vae()
    g = np.random.default_rng(6)
    xs, eps = sg.tensor(g.standard_normal((8, 6))), sg.tensor(g.standard_normal((2, 8, 3)))
    t = vae.terms(xs, eps)
    recon, kl_dims = t.recon.numpy().mean(), t.kl.numpy().mean(axis=0)
    for beta, lam in [(1.0, 0.0), (4.0, 0.0), (2.0, 0.3), (0.0, 0.0)]:
        out = vae.loss(xs, eps, beta=beta, free_bits=lam)
        assert abs(out["loss"].item() - (-recon + beta * np.maximum(kl_dims, lam).sum())) < 1e-10
        assert abs(out["recon"].item() - out["kl"].item() - vae.elbo(xs, eps).numpy().mean()) < 1e-10


def test_the_bound_is_differentiable_to_second_order_in_float64():
    vae = _vae(hidden=(5,))
    g = np.random.default_rng(7)
    x, eps = g.standard_normal((3, 6)), sg.tensor(g.standard_normal((2, 3, 3)))
    check_grads(lambda xx: vae.elbo(xx, eps).sum(), x, order=2)
    check_grads(lambda xx: vae.iwae(xx, eps).sum(), x, order=1)
    check_grads(lambda m, v: kl_standard_normal(m, v).sum() + log_normal(m, v, m * v).sum(),
                g.standard_normal(4), g.standard_normal(4), order=2)


def test_vae_refuses_mismatched_latent_sizes_and_samples_in_the_models_dtype():
    with pytest.raises(ValueError, match=r"the encoder's z_dim \(3\) and the decoder's \(2\) differ"):
        VAE(GaussianEncoder(6, 3), GaussianDecoder(2, 6))
    vae = VAE(GaussianEncoder(6, 3, (8,)), BernoulliDecoder(3, 6, (8,)))
    s = vae.sample(5, sg.rng(0))
    assert s.shape == (5, 6) and s.dtype == np.float32 and np.all((s > 0) & (s < 1))
    b = vae.sample(5, sg.rng(0), mean=False)
    assert set(np.unique(b)) <= {0.0, 1.0}
    assert vae.reconstruct(sg.tensor(np.zeros((2, 6), np.float32))).shape == (2, 6)
