"""The lecture's s_G and s_D, the remedies for a dominating discriminator, the latent priors; in the trainers."""
import numpy as np
import pytest

from scratchgen import nn
from scratchgen.autodiff.tensor import tensor
from scratchgen.backend import rng
from scratchgen.gan.diagnostics import flipped_label_d_loss, gan_scores, scores_figure, with_dropout
from scratchgen.gan.latent import sample_latent
from scratchgen.gan.losses import d_loss
from scratchgen.gan.train import GANConfig, train_gan
from scratchgen.gan.train_images import ImageGANConfig


def _sigmoid(t):
    return 1 / (1 + np.exp(-t))


def test_scores_written_out_and_their_limits():
    g = np.random.default_rng(0)
    lr, lf = g.standard_normal((7, 1)), g.standard_normal((5, 1))
    s = gan_scores(tensor(lr), lf)
    assert abs(s["s_G"] - _sigmoid(lf).mean()) < 1e-12
    assert abs(s["s_D"] - (0.5 * _sigmoid(lr).mean() + 0.5 * (1 - _sigmoid(lf)).mean())) < 1e-12
    half = gan_scores(np.zeros(4), np.zeros(4))  # D = 1/2 everywhere: the equilibrium of the game
    assert abs(half["s_G"] - 0.5) < 1e-12 and abs(half["s_D"] - 0.5) < 1e-12
    win = gan_scores(np.full(4, 40.0), np.full(4, -40.0))  # a discriminator that is sure and right: it dominates
    assert abs(win["s_D"] - 1) < 1e-12 and abs(win["s_G"] - 0) < 1e-12


@pytest.mark.parametrize("p", [0.0, 0.1, 0.5])
def test_flipped_labels_written_out(p):
    g = np.random.default_rng(1)
    lr, lf = g.standard_normal((6, 1)), g.standard_normal((6, 1))
    got = float(flipped_label_d_loss(tensor(lr), tensor(lf), p, rng(3)).item())
    draws = np.random.default_rng(3)  # the same stream: the real targets' draws first, then the fake ones'
    t_r = 1 - (draws.random((6, 1)) < p)
    t_f = (draws.random((6, 1)) < p).astype(float)
    bce = lambda z, t: (-t * np.log(_sigmoid(z)) - (1 - t) * np.log(1 - _sigmoid(z))).mean()  # noqa: E731
    assert abs(got - (bce(lr, t_r) + bce(lf, t_f))) < 1e-12
    if p == 0:
        assert abs(got - float(d_loss(tensor(lr), tensor(lf)).item())) < 1e-12


def test_with_dropout_inserts_after_each_leaky_relu():
    seq = nn.Sequential(nn.Linear(3, 4, generator=0), nn.LeakyReLU(0.2), nn.Linear(4, 4, generator=0),
                        nn.LeakyReLU(0.2), nn.Linear(4, 1, generator=0))
    assert with_dropout(seq, 0.0, 0) is seq
    d = with_dropout(seq, 0.3, rng(0))
    assert [type(m).__name__ for m in d] == ["Linear", "LeakyReLU", "Dropout", "Linear", "LeakyReLU", "Dropout",
                                             "Linear"]
    x = tensor(np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32))
    d.eval()
    assert np.array_equal(d(x).data, seq(x).data)  # the same weights; dropout is off in eval mode


def test_latent_priors():
    z = sample_latent(rng(0), 20000, 4, "uniform")
    assert z.dtype == np.float32 and z.min() >= -1 and z.max() < 1
    assert abs(z.mean() - 0) < 0.02 and abs(z.var() - 1 / 3) < 0.01  # U(-1, 1): mean 0, variance 1/3
    zg = sample_latent(rng(5), 3, 4)
    assert np.array_equal(zg, np.random.default_rng(5).standard_normal((3, 4)).astype(np.float32))
    with pytest.raises(ValueError, match="prior must be one of"):
        sample_latent(rng(0), 2, 2, "laplace")


def test_the_2d_trainer_logs_scores_and_takes_the_remedies(tmp_path):
    run = train_gan(GANConfig(steps=3, batch=32, eval_every=3, n_eval=50, hidden=16, progress=False, d_hidden=8,
                              d_dropout=0.2, label_flip=0.1, latent="uniform"))
    scores_figure(run.history, tmp_path / "scores.png")  # what a run with out_dir writes
    assert (tmp_path / "scores.png").stat().st_size > 10_000
    for k in ("s_G", "s_D"):
        assert len(run.history[k]) == 3 and all(0 < v < 1 for v in run.history[k])
    assert [type(m).__name__ for m in run.D].count("Dropout") == 2 and run.D[0].weight.shape == (8, 2)
    with pytest.raises(ValueError, match="label_flip"):
        GANConfig(loss="wgan", label_flip=0.1).validate()
    with pytest.raises(ValueError, match="latent"):
        GANConfig(latent="normal").validate()
    with pytest.raises(ValueError, match="d_dropout"):
        ImageGANConfig(model="ssgan", d_dropout=0.1).validate()
