"""The small style-based generator (scratchgen/gan/stylegan.py): truncation at psi = 0 and 1, AdaIN's per-channel
statistics inside the network, style mixing picks each layer's w, the running mean of w, noise modes,
gradients to second order, a short StyleGAN run, bad input."""
import numpy as np
import pytest

import scratchgen as sg
from scratchgen.gan.stylegan import MappingNetwork, StyleGenerator, truncate
from scratchgen.gan.train_karras import KarrasConfig, train_karras
from scratchgen.validate import BadArgument


def _z(n=5, d=6, seed=0):
    return sg.tensor(np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32))


@pytest.fixture(scope="module")
def G():
    g = StyleGenerator(6, 5, (6, 4), mapping_layers=2, generator=0)
    g.eval()
    g.w_avg[...] = np.random.default_rng(9).standard_normal(5)  # a mean style that is not 0
    for p in g.parameters():  # noise on: B != 0, so "const" noise matters
        if p.shape == (6,) or p.shape == (4,):
            p.data[...] += 0.1
    return g


def test_psi_0_gives_the_mean_image_for_every_z(G):
    x = G(_z(), psi=0.0, noise_mode="const").data
    mean_image = G.synthesis(sg.tensor(np.broadcast_to(G.w_avg, (1, G.n_ws, 5)).copy()), "const").data
    assert np.abs(x - mean_image).max() < 1e-5  # every row is g(w_bar)
    y = G(_z(seed=1), psi=0.0, noise_mode="const").data
    assert np.abs(x - y).max() < 1e-5


def test_psi_1_changes_nothing(G):
    z = _z(seed=2)
    assert np.array_equal(G(z, psi=1.0, noise_mode="const").data, G(z, noise_mode="const").data)
    w = sg.tensor(np.random.default_rng(3).standard_normal((4, 5)))
    assert truncate(w, sg.tensor(np.ones(5)), 1.0) is w  # psi = 1: the very same styles


def test_truncation_is_the_line_between_w_bar_and_w():
    r = np.random.default_rng(4)
    w, w_bar = r.standard_normal((3, 2, 5)), r.standard_normal(5)
    for psi in (0.0, 0.5, 0.7, 1.5):
        want = w_bar + psi * (w - w_bar)
        assert np.abs(truncate(sg.tensor(w), sg.tensor(w_bar), psi).data - want).max() < 1e-14


def test_after_each_adain_each_channel_has_the_styles_mean_and_std(G):
    ws = G.styles(_z(seed=5))  # (B, L, w_dim)
    syn = G.synthesis
    h = sg.tensor(np.broadcast_to(syn.const.data, (5,) + syn.const.shape[1:]).copy())
    for i, layer in enumerate(syn.layers):  # the synthesis loop, layer by layer
        s = 4 * 2 ** (i // 2)
        h = layer(h, ws[:, i], sg.tensor(getattr(syn, f"noise_{i}")))
        y_s, y_b = layer.adain.style(ws[:, i])  # the style A_i(w_i), each (B, C)
        o = h.data.astype(np.float64)
        assert o.shape[-1] == s
        assert np.abs(o.mean(axis=(2, 3)) - y_b.data).max() < 1e-4
        assert np.abs(o.std(axis=(2, 3)) - np.abs(y_s.data)).max() < 2e-3 * np.abs(y_s.data).max()
    assert np.abs(syn.to_rgb(h).data - syn(ws, "const").data).max() < 1e-6  # the same loop as forward


def test_style_mixing_uses_w1_before_the_crossover_and_w2_after(G):
    z1, z2 = _z(seed=6), _z(seed=7)
    w1, w2 = G.mapping(z1).data, G.mapping(z2).data
    for c in (0, 1, 3, G.n_ws):
        ws = G.styles(z1, z2, crossover=c).data
        for i in range(G.n_ws):
            assert np.array_equal(ws[:, i], w1 if i < c else w2)


def test_mixing_at_crossover_L_is_no_mixing(G):
    z1, z2 = _z(seed=6), _z(seed=7)
    a = G(z1, z2=z2, crossover=G.n_ws, noise_mode="const").data
    assert np.abs(a - G(z1, noise_mode="const").data).max() < 1e-6


def test_w_avg_tracks_the_running_mean_in_training_mode():
    g = StyleGenerator(4, 3, (4,), mapping_layers=1, w_avg_beta=0.5, generator=0)
    z = _z(8, 4)
    w = g.mapping(z).data.mean(axis=0)
    g.train()
    g.styles(z)
    assert np.abs(g.w_avg - 0.5 * w).max() < 1e-6  # 0.5 * 0 + 0.5 * mean w
    g.eval()
    before = g.w_avg.copy()
    g.styles(z)
    assert np.array_equal(g.w_avg, before)  # not in evaluation


def test_noise_modes():
    g = StyleGenerator(4, 3, (4, 4), mapping_layers=1, generator=0)
    for layer in g.synthesis.layers:
        layer.noise_strength.data[...] = 1.0
    z = _z(2, 4)
    assert np.array_equal(g(z, noise_mode="const").data, g(z, noise_mode="const").data)
    assert not np.array_equal(g(z, noise_mode="random").data, g(z, noise_mode="random").data)
    r1, r2 = sg.rng(5), sg.rng(5)
    assert np.array_equal(g(z, noise_gen=r1).data, g(z, noise_gen=r2).data)


def test_second_order_gradients_through_the_mapping_and_synthesis():
    g = StyleGenerator(3, 2, (2,), mapping_layers=1, generator=0).double()
    sg.check_grads(lambda z: g(z, noise_mode="none").sum(), np.random.default_rng(0).standard_normal((2, 3)), order=2)


def test_mapping_network_lr_mul_scales_the_weights():
    f = MappingNetwork(4, 4, 2, lr_mul=0.01, generator=0)
    assert abs(f.layers[0].weight.data.std() - 100) < 30  # stored N(0, 1/eta^2) with eta = 0.01
    assert abs(f.layers[0].scale - 0.01 * np.sqrt(2 / 4)) < 1e-15


def test_a_short_stylegan_run(tmp_path):
    cfg = KarrasConfig(model="stylegan", steps=3, batch=8, channels=(4, 4), w_dim=4, z_dim=4, eval_every=3,
                       n_eval=20, kid_subsets=2, progress=False)
    run = train_karras(cfg, out_dir=str(tmp_path))
    assert run.samples.shape == (20, 1, 8, 8)
    assert np.abs(run.G.w_avg).max() > 0  # the mean style moved from 0
    assert (tmp_path / "metrics.json").exists()


def test_bad_input():
    g = StyleGenerator(4, 3, (4,), mapping_layers=1, generator=0)
    with pytest.raises(BadArgument, match=r"crossover.*\[0, 2\].*5"):
        g.styles(_z(2, 4), _z(2, 4), crossover=5)
    with pytest.raises(BadArgument, match=r"noise_mode"):
        g(_z(2, 4), noise_mode="fixed")
    with pytest.raises(BadArgument, match=r"z.*\(B, 4\).*\(2, 6\)"):
        g(_z(2, 6))


@pytest.mark.slow  # ~2 min of CPU each on one core: the measured seed-0 rows of docs/results.md 'ProGAN and StyleGAN'
@pytest.mark.parametrize("model, fid, recognisable", [("stylegan", 12.41, 0.769), ("progan", 10.73, 0.736)])
def test_the_measured_digits_runs(model, fid, recognisable):
    # the defaults (tanh output, ns-r1 with lazy R1, channels (32, 16), lr 3e-3, 3000 steps), seed 0; evaluation draws
    # from its own stream, so evaluating once instead of every 500 steps changes no training draw
    cfg = KarrasConfig(model=model, eval_every=3000, seed=0, progress=False)
    final = train_karras(cfg).final
    assert abs(final["fid"] - fid) < 5.0  # a BLAS or platform change may move it a little
    assert abs(final["recognisable"] - recognisable) < 0.05
    assert final["classes_covered"] == 10
