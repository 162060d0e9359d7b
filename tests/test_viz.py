"""Figures are written atomically: a failed or killed save leaves the old file (or none), never half of one;
and each figure helper of scratchgen.viz does what its docstring says (critic scores of packs in chunks, the
mosaic's layout, the files each figure function writes)."""
import os
from types import SimpleNamespace

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import scratchgen as sg  # noqa: E402
from scratchgen import viz  # noqa: E402
from scratchgen.checkpoint import atomic_path, remove_partial_files  # noqa: E402
from scratchgen.viz import save_figure  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_save_figure_writes_a_png_and_leaves_no_temporary(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    save_figure(fig, tmp_path / "a.png", dpi=50)
    assert (tmp_path / "a.png").read_bytes()[:8] == PNG_MAGIC
    assert os.listdir(tmp_path) == ["a.png"]
    assert not plt.fignum_exists(fig.number)  # closed


def test_a_failing_save_keeps_the_old_file(tmp_path):
    (tmp_path / "a.png").write_bytes(b"old")
    fig, _ = plt.subplots()
    with pytest.raises(TypeError):
        save_figure(fig, tmp_path / "a.png", no_such_option=1)
    plt.close(fig)
    assert (tmp_path / "a.png").read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["a.png"]


def test_atomic_path_keeps_the_extension_and_replaces_only_on_success(tmp_path):
    target = tmp_path / "t.gif"
    with atomic_path(target) as tmp:
        assert tmp.endswith(".gif") and os.path.dirname(tmp) == str(tmp_path) and not target.exists()
        with open(tmp, "wb") as f:
            f.write(b"new")
    assert target.read_bytes() == b"new"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            with open(tmp, "wb") as f:
                f.write(b"half")
            raise RuntimeError("killed")
    assert target.read_bytes() == b"new" and os.listdir(tmp_path) == ["t.gif"]


def test_remove_partial_files_removes_only_the_temporaries_of_atomic_writes(tmp_path):
    keep = ["metrics.json", ".hidden", "notes.tmp", "x.tmp.gif"]  # not ours: no leading dot, or no .tmp
    ours = [".metrics.json.ab12cd.tmp", ".trajectory.gif.ab12cd.tmp.gif"]
    for name in keep + ours:
        (tmp_path / name).write_text("x")
    assert sorted(remove_partial_files(tmp_path)) == sorted(ours)
    assert sorted(os.listdir(tmp_path)) == sorted(keep)


# ---------------------------------------------------------------------------
# Documented contracts of every figure helper
# ---------------------------------------------------------------------------
GIF_MAGIC = b"GIF89a"


class _LinearCritic:
    """D(y) = y . w, row by row, recording its mode and the rows of each call."""

    def __init__(self, w):
        self.w, self.training, self.calls = np.asarray(w, dtype=np.float32), True, []

    def eval(self):
        self.training = False

    def train(self):
        self.training = True

    def __call__(self, t):
        self.calls.append((t.shape[0], self.training))
        return sg.tensor(t.numpy() @ self.w[:, None])


def test_critic_scores_score_a_point_as_the_pack_of_m_copies_in_chunks():
    pts = np.random.default_rng(0).normal(size=(7, 2))
    D = _LinearCritic([1.0, -2.0, 0.5, 3.0])  # a critic of packs of m = 2 samples of dimension 2
    s = viz.critic_scores(D, pts, pack=2, chunk=3)
    assert isinstance(s, np.ndarray) and s.shape == (7,)
    # D(x ⊕ x) = x . (w_1 + w_2)
    np.testing.assert_allclose(s, pts.astype(np.float32) @ np.array([1.5, 1.0], dtype=np.float32), rtol=1e-6)
    assert [c[0] for c in D.calls] == [3, 3, 1] and not any(c[1] for c in D.calls)  # chunks of 3, in eval mode
    assert D.training  # the mode it had is restored
    D.eval()
    viz.critic_scores(D, pts, pack=2)
    assert not D.training
    assert viz.critic_scores(D, np.zeros((0, 2)), pack=2).shape == (0,)
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match=f"critic_scores: chunk must be a positive int, got {bad!r}"):
            viz.critic_scores(D, pts, chunk=bad)


def test_coverage_title_adds_the_modes_line_only_with_mode_coverage():
    assert viz.coverage_title("run", {"mmd2": 0.1}) == "run"
    m = {"modes_captured": 7, "n_modes": 8, "high_quality_fraction": 0.875}
    assert viz.coverage_title("run", m) == "run\nmodes 7/8, high-quality 87.5%"


def test_image_grid_places_image_i_at_row_i_div_nrow_with_minus_1_gaps():
    x = np.arange(5 * 3 * 3, dtype=np.float32).reshape(5, 1, 3, 3) / 100
    g = viz.image_grid(x, nrow=2)
    assert g.shape == (3 * 4 + 1, 2 * 4 + 1) and g.dtype == np.float32  # rows = ceil(5 / 2) = 3
    for i in range(5):
        r, c = divmod(i, 2)
        np.testing.assert_array_equal(g[1 + 4 * r:4 + 4 * r, 1 + 4 * c:4 + 4 * c], x[i, 0])
    mask = np.ones_like(g, dtype=bool)
    for i in range(5):
        r, c = divmod(i, 2)
        mask[1 + 4 * r:4 + 4 * r, 1 + 4 * c:4 + 4 * c] = False
    assert np.all(g[mask] == -1.0)  # gaps and the empty sixth cell
    with pytest.raises(ValueError, match=r"image_grid: expected images of shape \(N, 1, s, s\), received \(5, 3, 3\)"):
        viz.image_grid(x[:, 0])


def test_save_image_grid_writes_a_png_and_returns_its_path(tmp_path):
    x = np.zeros((3, 1, 4, 4), np.float32)
    path = tmp_path / "g.png"
    assert viz.save_image_grid(x, path, nrow=2, title="t") == path
    assert path.read_bytes()[:8] == PNG_MAGIC
    with pytest.raises(ValueError, match=r"save_image_grid: expected images of shape \(N, 1, s, s\)"):
        viz.save_image_grid(np.zeros((3, 4, 4)), tmp_path / "h.png")


def test_grid_order_takes_the_first_samples_or_per_class_of_each_class_in_order():
    s = np.arange(30)
    assert viz.grid_order(s, n_classes=2, per_class=3).tolist() == [0, 1, 2, 3, 4, 5]
    labels = np.arange(30) % 3
    assert viz.grid_order(s, labels, n_classes=3, per_class=2).tolist() == [0, 3, 1, 4, 2, 5]


def test_samples_over_data_sets_the_square_limits():
    fig, ax = plt.subplots()
    viz.samples_over_data(ax, np.zeros((3, 2)), np.ones((4, 2)), title="x", lim=2.5)
    assert ax.get_xlim() == (-2.5, 2.5) and ax.get_ylim() == (-2.5, 2.5) and ax.get_title() == "x"
    assert len(ax.collections) == 2
    cs = viz.critic_contours(ax, _LinearCritic([1.0, 1.0]), 2.0, n=10)
    assert cs.levels.size > 1
    plt.close(fig)


def test_ddpm_figures_are_a_png_and_a_gif(tmp_path):
    data = SimpleNamespace(eval_x=np.random.default_rng(0).normal(size=(50, 2)))
    viz.samples_figure(np.zeros((20, 2)), data, tmp_path / "s.png", title="t")
    viz.samples_figure(np.zeros((5, 1, 4, 4)), data, tmp_path / "i.png")
    viz.loss_figure({"step": [1, 2, 3], "loss": [1.0, 0.5, 0.25]}, tmp_path / "l.png")
    viz.loss_figure({"step": [], "loss": []}, tmp_path / "e.png")  # no steps yet: an empty plot
    traj = np.random.default_rng(1).normal(size=(3, 10, 2))
    viz.trajectory_gif(traj, np.arange(3), data, tmp_path / "t.gif", max_points=5)
    for name in ("s.png", "i.png", "l.png", "e.png"):
        assert (tmp_path / name).read_bytes()[:8] == PNG_MAGIC, name
    assert (tmp_path / "t.gif").read_bytes()[:6] == GIF_MAGIC
    assert sorted(os.listdir(tmp_path)) == ["e.png", "i.png", "l.png", "s.png", "t.gif"]  # no temporaries


@pytest.mark.parametrize("dim", [1, 2])
def test_gan_figures_write_samples_losses_and_modes(tmp_path, dim):
    r = np.random.default_rng(2)
    run = SimpleNamespace(
        config=SimpleNamespace(loss="wgan", data="toy", steps=4, pack=1), D=_LinearCritic(np.ones(dim)),
        samples=r.normal(size=(30, dim)), final={"modes_captured": 3, "n_modes": 8, "high_quality_fraction": 0.5},
        history={"step": [1, 2, 3, 4], "loss_d": [1, 0.8, 0.6, 0.5], "loss_g": [0, 0.1, 0.2, 0.1],
                 "eval": [{"modes": 2}, {"modes": 3}], "eval_step": [2, 4]})
    viz.gan_figures(run, SimpleNamespace(x=r.normal(size=(40, dim))), str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == ["losses.png", "modes.png", "samples.png"]
    assert (tmp_path / "samples.png").read_bytes()[:8] == PNG_MAGIC
    run.history["eval"] = [{}, {}]  # no mode coverage: no modes figure
    (tmp_path / "b").mkdir()
    viz.gan_figures(run, SimpleNamespace(x=r.normal(size=(40, dim))), str(tmp_path / "b"))
    assert sorted(os.listdir(tmp_path / "b")) == ["losses.png", "samples.png"]


def test_rejection_figure_writes_its_two_panels(tmp_path):
    r = np.random.default_rng(3)
    report = {"generator": {}, "rejection": {}, "acceptance_rate": 0.25}
    viz.rejection_figure(r.normal(size=(20, 2)), r.normal(size=(20, 2)), r.normal(size=(5, 2)), _LinearCritic([1.0, 0.0]),
                         report, tmp_path / "r.png")
    assert (tmp_path / "r.png").read_bytes()[:8] == PNG_MAGIC


# ---------------------------------------------------------------------------
# Figures that teach: the colour bar in the quantity it names, legends, the run's tricks in the title
# ---------------------------------------------------------------------------
def _gan_run(dim, w=30.0, **cfg):
    """A run whose critic is the linear w (x_1 + ... + x_{m d}) on packs of m = cfg["pack"] points."""
    r = np.random.default_rng(4)
    config = dict(loss="nonsaturating", data="ring8", steps=4, pack=1)
    config.update(cfg)
    return SimpleNamespace(config=SimpleNamespace(**config), D=_LinearCritic(w * np.ones(dim * config["pack"])),
                           samples=r.normal(size=(30, dim)), final={}, history={}), \
        SimpleNamespace(x=r.normal(size=(40, dim)))


@pytest.mark.parametrize("loss", ["minimax", "nonsaturating"])
def test_a_probability_critic_is_drawn_as_its_logit_with_d_marked_beside_it(loss):
    run, data = _gan_run(2, w=1.0, loss=loss, pack=2)  # logits x1 + x2 per copy: 2 (x1 + x2) for a pack of 2
    fig = viz.gan_samples_figure(run, data)
    ax, cax = fig.axes
    assert cax.get_ylabel().startswith("critic logit l(x) = log D(x)/(1 − D(x))")
    assert "pack of 2 copies" in cax.get_ylabel()
    lim = 1.25 * np.abs(data.x).max() + 0.1
    lo, hi = cax.get_ylim()  # the logits' range over the square [-lim, lim]^2: ±4 lim
    assert -4.5 * lim <= lo <= -3.6 * lim and 3.6 * lim <= hi <= 4.5 * lim
    (d_axis,) = cax.child_axes  # the other side of the bar: D(x) = sigma(l) at the same heights
    assert d_axis.get_ylabel() == "D(x) = σ(l)"
    d_lo, d_hi = d_axis.get_ylim()
    assert abs(d_lo - 1 / (1 + np.exp(-lo))) < 1e-12 and abs(d_hi - 1 / (1 + np.exp(-hi))) < 1e-12
    ticks = d_axis.get_yticks()
    assert 0.5 in ticks and np.all((0 < ticks) & (ticks < 1)) and len(ticks) >= 5
    plt.close(fig)
    fig = viz.gan_samples_figure(*_gan_run(1, loss=loss))  # 1-D: D(x) itself, the classic picture
    ax2 = fig.axes[1]
    y = ax2.lines[0].get_ydata()
    assert 0 <= y.min() < 0.01 and 0.99 < y.max() <= 1 and ax2.get_ylabel().startswith("D(x) = σ(l(x))")
    assert ax2.get_ylim() == (-0.02, 1.02)
    plt.close(fig)


def test_d_ticks_are_spread_over_the_logit_range():
    ticks, labels = viz._d_ticks(-30.0, 30.0)
    logits = np.log(np.array(ticks)) - np.log1p(-np.array(ticks))
    assert np.all(np.abs(logits) <= 30) and np.all(np.diff(logits) >= 60 / 9 - 1e-9)
    assert ticks[0] == 1e-12 and labels[0] == "$10^{-12}$" and labels[-1] == "$1-10^{-12}$" and 0.5 in ticks
    assert viz._d_ticks(-0.3, 0.3)[0] == [0.45, 0.5, 0.55]  # a flat critic: the ticks near 0.5


@pytest.mark.parametrize("loss, name", [("wgan", "WGAN critic value f(x)"), ("hinge", "hinge critic D(x)"),
                                        ("lsgan", "LSGAN critic score D(x)")])
def test_a_raw_critic_is_labelled_as_its_raw_value_over_the_range_it_takes(loss, name):
    run, data = _gan_run(2, loss=loss)
    fig = viz.gan_samples_figure(run, data)
    ax, cax = fig.axes
    assert cax.get_ylabel().startswith(name) and "no sigmoid" in cax.get_ylabel()
    assert cax.child_axes == []  # no D(x) side: the score is no logit
    lim = 1.25 * np.abs(data.x).max() + 0.1  # scores 30 (x1 + x2) over [-lim, lim]^2 reach ±60 lim
    lo, hi = cax.get_ylim()
    assert -66 * lim <= lo <= -54 * lim and 54 * lim <= hi <= 66 * lim
    plt.close(fig)


def test_the_samples_figure_has_a_legend_for_data_and_samples():
    for dim in (1, 2):
        fig = viz.gan_samples_figure(*_gan_run(dim))
        texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
        assert texts[:2] == ["data (held out)", "samples G(z)"], texts
        plt.close(fig)
    fig, ax = plt.subplots()
    viz.samples_over_data(ax, np.zeros((3, 2)), np.ones((4, 2)))
    assert ax.get_legend() is None  # panels of a grid: no legend unless asked
    data, samples = ax.collections
    assert data.get_zorder() > samples.get_zorder()  # the modes stay visible under a cloud of samples
    plt.close(fig)


def test_run_title_names_every_trick_of_the_run():
    from scratchgen.gan.train import GANConfig

    title = lambda **kw: viz.run_title(GANConfig(**kw), width=1000)  # noqa: E731  (one line)
    assert title(steps=2000) == "non-saturating on ring8, step 2000"
    assert title(data="grid25", pack=4, mmd_weight=50.0) == \
        "non-saturating + PacGAN (m = 4) + MMD² term (λ = 50) on grid25, step 5000"
    t = title(loss="wgan", penalty="gp", d_steps=5, ema=0.999, top_k=0.5, instance_noise=0.1)
    for part in ("WGAN", "gradient penalty (λ = 10)", "5 critic steps", "EMA (μ = 0.999)", "top-k (ν = 0.5)",
                 "instance noise (σ₀ = 0.1)"):
        assert part in t, (part, t)
    t = title(loss="minimax", label_smoothing=0.9, minibatch_disc=True, spectral_norm=True, lr_schedule="cosine")
    for part in ("minimax", "label smoothing (α = 0.9)", "minibatch discrimination", "spectral norm", "cosine lr"):
        assert part in t, (part, t)
    assert "unrolled (K = 5)" in title(unrolled=5) and "weight clipping (c = 0.01)" in title(loss="wgan", clip=0.01)
    assert "R1 (γ = 1)" in title(penalty="r1", penalty_weight=1.0)
    wrapped = viz.run_title(GANConfig(data="grid25", pack=4, mmd_weight=50.0, ema=0.999), width=40)
    assert all(len(line) <= 40 for line in wrapped.split("\n")) and wrapped.count("\n") >= 1


def test_the_samples_figure_is_titled_with_the_run_s_tricks_and_coverage():
    run, data = _gan_run(2, pack=2, mmd_weight=5.0)
    run.final = {"modes_captured": 3, "n_modes": 8, "high_quality_fraction": 0.5}
    fig = viz.gan_samples_figure(run, data)
    t = fig.axes[0].get_title().replace("\n", " ")
    assert "PacGAN (m = 2)" in t and "MMD² term (λ = 5)" in t and "modes 3/8, high-quality 50.0%" in t
    plt.close(fig)


def test_the_ddpm_samples_figure_has_a_legend_for_data_and_samples(monkeypatch):
    saved = []
    monkeypatch.setattr(viz, "save_figure", lambda fig, path, **kw: saved.append(fig))
    data = SimpleNamespace(eval_x=np.random.default_rng(0).normal(size=(50, 2)))
    viz.samples_figure(np.zeros((20, 2)), data, "unused.png", title="t")
    (fig,) = saved
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["data (held out)", "samples (DDPM)"]
    plt.close(fig)


# ---------------------------------------------------------------------------
# Normalizing flows
# ---------------------------------------------------------------------------
def _captured(monkeypatch):
    """Replace save_figure by a recorder: the figure (left open) and the path it would be written to."""
    seen = {}
    monkeypatch.setattr(viz, "save_figure", lambda fig, path, **kw: seen.update(fig=fig, path=path))
    return seen


def test_flow_density_figure_draws_the_densities_on_one_scale_and_the_samples(monkeypatch):
    seen = _captured(monkeypatch)
    gauss = lambda pts: -0.5 * (pts**2).sum(1) - np.log(2 * np.pi)  # noqa: E731
    data = np.random.default_rng(0).standard_normal((500, 2))
    viz.flow_density_figure(lambda pts: gauss(pts / 2) - np.log(4), data, data[:100], "d.png", "title",
                            log_p=gauss, lim=3.0, n=41)  # 41 points per axis: 0 is one of them
    fig = seen["fig"]
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["data density p(x)", "flow density q(x)",
                                                 "flow samples (blue) under the data (grey)"]
    meshes = [ax.collections[0] for ax in panels[:2]]
    for m in meshes:  # one scale, from 0 to the larger peak: p(0) = 1/(2 pi)
        assert m.get_clim()[0] == 0 and abs(m.get_clim()[1] - 1 / (2 * np.pi)) < 1e-12
    assert abs(meshes[1].get_array().max() - 1 / (8 * np.pi)) < 1e-12  # q = N(0, 4 I): peak 1/(8 pi)
    assert all(ax.get_xlim() == (-3.0, 3.0) for ax in panels) and fig._suptitle.get_text() == "title"
    plt.close(fig)
    viz.flow_density_figure(gauss, data, data, "d.png", lim=3.0, n=20)  # no log_p: two panels
    assert [ax.get_title() for ax in seen["fig"].axes if ax.get_title()][0] == "flow density q(x)"
    plt.close(seen["fig"])


def test_flow_layers_figure_shows_evenly_spread_states_with_both_ends(monkeypatch):
    assert viz._panel_indices(17, 7) == [0, 3, 5, 8, 11, 13, 16] and viz._panel_indices(4, 7) == [0, 1, 2, 3]
    seen = _captured(monkeypatch)
    states = [np.random.default_rng(k).standard_normal((50, 2)) * (k + 1) for k in range(5)]
    viz.flow_layers_figure(states, states[::-1], "l.png", max_panels=3)
    titles = [ax.get_title() for ax in seen["fig"].axes]
    assert titles == ["x", "after 2 of 4 layers", "z", "z", "after 2 of 4 inverse layers", "x"]
    plt.close(seen["fig"])


def test_nll_figure_draws_the_curves_and_the_entropy(monkeypatch):
    seen = _captured(monkeypatch)
    history = {"step": list(range(1, 301)), "nll": list(np.linspace(3, 2, 300)), "eval_step": [150, 300],
               "eval": [{"test_nll": 2.5}, {"test_nll": 2.05}]}
    viz.nll_figure(history, "n.png", entropy=2.0)
    labels = [line.get_label() for line in seen["fig"].axes[0].get_lines()]
    assert labels == ["training NLL (mean of 100 steps)", "held-out NLL", "data entropy 2.000"]
    plt.close(seen["fig"])


def test_flow_figures_are_pngs(tmp_path):
    gauss = lambda pts: -0.5 * (pts**2).sum(1) - np.log(2 * np.pi)  # noqa: E731
    data = np.random.default_rng(0).standard_normal((50, 2))
    viz.flow_density_figure(gauss, data, data, tmp_path / "d.png", n=10)
    viz.flow_layers_figure([data, data], [data, data], tmp_path / "l.png")
    viz.nll_figure({"step": [1], "nll": [1.0], "eval_step": [1], "eval": [{"test_nll": 1.0}]}, tmp_path / "n.png")
    assert all((tmp_path / f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for f in ("d.png", "l.png", "n.png"))
