"""The Fourier-feature denoiser (scratchgen.diffusion.fourier) and the 2-D options of DDPMConfig that
issue 26 added (x_freqs, x_omega_max, data_std), on tiny runs.

Oracles written out here: omega_i = omega_max^(i/(n-1)); gamma(x) = [x, sin(x_d omega_i), cos(x_d omega_i)];
its gradients by central differences (check_grads, first and second order); the scaled data's per-axis
standard deviation data_std (one scale for both axes: the mean per-axis variance is data_std^2).
"""
import math

import numpy as np
import pytest

from scratchgen.autodiff import tensor
from scratchgen.autodiff.gradcheck import check_grads
from scratchgen.diffusion.fourier import FourierMLPDenoiser, fourier_features, fourier_frequencies
from scratchgen.diffusion.mixture import toy_mixture
from scratchgen.diffusion.train import DDPMConfig, build_model, load_run, train_ddpm
from scratchgen.diffusion.train import _Data as TrainerData


def test_frequencies_are_geometric_from_1_to_omega_max():
    w = fourier_frequencies(5, 81.0, np, np.float64)
    assert np.max(np.abs(w - np.array([1.0, 3.0, 9.0, 27.0, 81.0]))) < 1e-12
    assert fourier_frequencies(1, 10.0, np, np.float32).tolist() == [1.0]
    with pytest.raises(ValueError, match="omega_max"):
        fourier_frequencies(4, 0.5, np, np.float64)


def test_features_are_x_then_sines_then_cosines_and_differentiate():
    x = np.array([[0.3, -1.2], [2.0, 0.1]])
    w = np.array([1.0, 4.0, 16.0])
    g = fourier_features(tensor(x), w).data
    want = np.concatenate([x, np.sin(x[:, :, None] * w).reshape(2, 6), np.cos(x[:, :, None] * w).reshape(2, 6)], 1)
    assert g.shape == (2, 14) and np.max(np.abs(g - want)) < 1e-14
    check_grads(lambda v: fourier_features(v, w), x, order=2)


def test_fourier_denoiser_shapes_first_layer_and_t_dependence():
    m = FourierMLPDenoiser(2, hidden=16, n_hidden=2, time_dim=8, n_freqs=4, omega_max=32.0, generator=0)
    assert m.net[0].weight.shape == (16, 2 * (1 + 2 * 4) + 8)  # [gamma(x) (18), e(t) (8)]
    x = np.random.default_rng(0).normal(size=(5, 2)).astype(np.float32)
    a, b = m(x, np.full(5, 3)).data, m(x, np.full(5, 700)).data
    assert a.shape == (5, 2) and a.dtype == np.float32 and np.max(np.abs(a - b)) > 1e-4
    with pytest.raises(ValueError, match=r"x_t must have shape \(B, 2\)"):
        m(np.zeros((5, 3), np.float32), np.ones(5, int))
    with pytest.raises(ValueError, match="n_freqs"):
        FourierMLPDenoiser(2, n_freqs=0)


def test_config_builds_the_fourier_model_only_when_asked():
    plain = build_model(DDPMConfig(hidden=8, n_hidden=1, time_dim=4, x_freqs=0), (2,), 0)
    four = build_model(DDPMConfig(hidden=8, n_hidden=1, time_dim=4, x_freqs=3), (2,), 0)
    assert type(plain).__name__ == "MLPDenoiser" and isinstance(four, FourierMLPDenoiser)
    assert four.n_freqs == 3 and four.omega_max == 64.0


@pytest.mark.parametrize("bad, message", [(dict(x_freqs=-1), "x_freqs"), (dict(x_omega_max=0.5), "x_omega_max"),
                                          (dict(data_std=0.0), "data_std")])
def test_bad_new_options_are_named(bad, message):
    with pytest.raises(ValueError, match=message):
        DDPMConfig(**bad).validate()


@pytest.mark.parametrize("data_std", [1.0, 3.0])
def test_data_std_is_the_standard_deviation_of_the_scaled_data(data_std):
    d = TrainerData(DDPMConfig(data="grid25", data_std=data_std, n_eval=10))
    mix = toy_mixture("grid25", d.shift, d.scale)
    # per-axis variance of the scaled mixture: the centres' spread plus the components' variance
    var = ((mix.means - mix.means.mean(0)) ** 2).mean() + float(mix.stds[0]) ** 2
    assert abs(math.sqrt(var) - data_std) < 0.01 * data_std  # s was estimated from 100,000 draws
    z = d.to_model(d.eval_x)
    assert np.max(np.abs(d.from_model(z) - d.eval_x)) < 1e-5


def test_a_tiny_fourier_run_trains_loads_back_and_reports_hq_kl_and_every_bandwidth(tmp_path):
    tiny = dict(data="grid25", steps=6, eval_every=6, batch=32, hidden=16, n_hidden=1, time_dim=8, T=10, n_eval=50,
                warmup=1, progress=False, x_freqs=2, data_std=2.0)
    run = train_ddpm(DDPMConfig(**tiny), out_dir=str(tmp_path), figures=False)
    assert "high_quality_fraction" in run.final and "kl_from_uniform" in run.final  # KL is inf with no HQ sample
    assert all(math.isfinite(run.final[k]) for k in ("mmd2", "mmd2_sigma", "mmd2_3sigma"))
    cfg, model, _, data = load_run(str(tmp_path / "checkpoint.npz"))
    assert isinstance(model, FourierMLPDenoiser) and cfg.data_std == 2.0 and abs(data.scale * 2.0 - 2.8288) < 0.01


def test_a_checkpoint_from_before_the_fourier_default_loads_as_the_plain_mlp():
    saved = {k: v for k, v in DDPMConfig(data="grid25").to_dict().items() if k not in DDPMConfig.LEGACY}
    old = DDPMConfig.from_saved(saved)
    assert old.x_freqs == 0 and old.data_std == 1.0 and DDPMConfig().x_freqs == 16
    assert type(build_model(old, (2,), 0)).__name__ == "MLPDenoiser"
    assert DDPMConfig.from_saved(DDPMConfig(x_freqs=4).to_dict()).x_freqs == 4  # a saved value wins
