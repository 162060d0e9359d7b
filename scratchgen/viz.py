"""Every figure of the library, with matplotlib (Agg backend: files only, no window).

* toy 2-D GANs: :func:`gan_figures` (samples over data with the critic's contours, losses, modes),
  :func:`rejection_figure`; :func:`run_title` names a run's loss and tricks, :func:`critic_quantity`
  and :func:`critic_colorbar` say what a loss's critic outputs;
* images: :func:`image_grid` (the one mosaic builder), :func:`save_image_grid` (a PNG of it),
  :func:`grid_order` (a conditional generator's samples, digit k in row k);
* DDPM: :func:`samples_figure`, :func:`trajectory_gif` (the reverse process), :func:`loss_figure`.
* normalizing flows: :func:`flow_density_figure` (the density as a heat map, samples over data),
  :func:`flow_layers_figure` (the layers' transforms), :func:`nll_figure`.
"""
from __future__ import annotations

import math
import operator
import os
import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy  # noqa: E402  (plotting works on NumPy copies)
from matplotlib.animation import FuncAnimation, PillowWriter  # noqa: E402

from .autodiff.tensor import no_grad, tensor  # noqa: E402
from .backend import default_dtype, to_numpy  # noqa: E402
from .checkpoint import atomic_path, atomic_write  # noqa: E402

__all__ = ["coverage_title", "critic_colorbar", "critic_contours", "critic_quantity", "critic_scores", "gan_figures", "gan_samples_figure",
           "rejection_figure", "run_title", "samples_over_data", "image_grid", "save_image_grid", "grid_order", "samples_figure", "trajectory_gif", "loss_figure"]



def save_figure(fig, path, **savefig_kwargs):
    """``fig.savefig(path, ...)`` written atomically (:func:`~scratchgen.checkpoint.atomic_write`: a temporary
    file moved over ``path``), then the figure closed. The format comes from ``path``'s extension."""
    fmt = os.path.splitext(os.fspath(path))[1].lstrip(".") or "png"
    with atomic_write(path) as f:
        fig.savefig(f, format=fmt, **savefig_kwargs)
    plt.close(fig)

def critic_scores(D, pts, pack=1, chunk=512):
    r"""Scores D(x) at the rows of ``pts`` (n, d), NumPy out, ``chunk`` rows per call of D.

    With packing (PacGAN) the critic takes m samples at once; a single point x is scored
    as the pack of m copies, :math:`D(x \oplus \dots \oplus x)`. A critic with minibatch
    discrimination compares the rows of one call with each other (its memory grows as the
    square of the rows), so its score at x depends on the other points of x's chunk.
    """
    if isinstance(chunk, bool) or not hasattr(chunk, "__index__") or operator.index(chunk) < 1:
        raise ValueError(f"critic_scores: chunk must be a positive int, got {chunk!r}")
    chunk = operator.index(chunk)
    pts = numpy.tile(numpy.asarray(pts, dtype=default_dtype()), (1, pack))  # (n, m d)
    if pts.shape[0] == 0:
        return numpy.zeros(0, dtype=pts.dtype)
    was_training = getattr(D, "training", False)
    if hasattr(D, "eval"):
        D.eval()
    with no_grad():
        s = numpy.concatenate([to_numpy(D(tensor(pts[i:i + chunk])).data).reshape(-1)
                               for i in range(0, pts.shape[0], chunk)])
    if was_training:
        D.train()
    return s


def _sigmoid(l):
    r""":math:`\sigma(l) = 1/(1 + e^{-l}) = \tfrac12\,(1 + \tanh(l/2))`; the tanh form never overflows."""
    return 0.5 * (1.0 + numpy.tanh(0.5 * numpy.asarray(l, dtype=numpy.float64)))


def _logit(D):
    r""":math:`\sigma^{-1}(D) = \log D - \log(1 - D)`, finite for D in (0, 1) (clipped to [1e-300, 1 - 1e-16])."""
    D = numpy.clip(numpy.asarray(D, dtype=numpy.float64), 1e-300, 1 - 1e-16)
    return numpy.log(D) - numpy.log1p(-D)


#: The losses whose critic outputs a logit l, with D(x) = sigma(l) the probability that x is data
#: (scratchgen.gan.losses: d_loss, g_loss_minimax, g_loss_nonsaturating take logits)
PROBABILITY_LOSSES = ("minimax", "nonsaturating")

#: What the critic's output is, by loss (scratchgen.gan.train.LOSSES); LSGAN, WGAN and hinge use no sigmoid
CRITIC_LABELS = {
    "minimax": "critic logit l(x) = log D(x)/(1 − D(x))",
    "nonsaturating": "critic logit l(x) = log D(x)/(1 − D(x))",
    "lsgan": "LSGAN critic score D(x) (no sigmoid; target 1 on data, 0 on samples)",
    "wgan": "WGAN critic value f(x) (no sigmoid; higher on data)",
    "hinge": "hinge critic D(x) (no sigmoid; aims ≥ 1 on data, ≤ −1 on samples)",
}

#: Probabilities that may be marked on the D(x) side of a logit colour bar
_D_CANDIDATES = (1e-12, 1e-8, 1e-4, 1e-3, 0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999,
                 1 - 1e-4, 1 - 1e-8, 1 - 1e-12)


def _d_ticks(lo, hi, n=9):
    """Probabilities D of :data:`_D_CANDIDATES` whose logits lie in [lo, hi], at least (hi - lo)/n apart in
    logit, taken from D = 0.5 outwards; with their labels (10^-k and 1 - 10^-k for the extremes)."""
    chosen = []
    for d in sorted(_D_CANDIDATES, key=lambda d: abs(_logit(d))):
        l = _logit(d)
        if lo <= l <= hi and all(abs(l - _logit(c)) >= (hi - lo) / n for c in chosen):
            chosen.append(d)
    chosen.sort()

    def label(d):
        if d < 1e-3:
            return f"$10^{{{round(math.log10(d))}}}$"
        if d > 0.999:
            return f"$1-10^{{{round(math.log10(1 - d))}}}$"
        return f"{d:g}"
    return chosen, [label(d) for d in chosen]


def critic_quantity(loss):
    r"""What a critic trained with the GAN loss ``loss`` outputs: ``(label, probability)``.

    * minimax and non-saturating: a logit :math:`l(x)` (:mod:`scratchgen.gan.losses` never forms D
      itself), with :math:`D(x) = \sigma(l(x))` the probability that x is data: ``probability`` is True.
      The figures draw the logit, where the landscape the generator climbs stays visible (a trained
      critic's logits span tens of units, which :math:`\sigma` squashes to 0 or 1), and mark D(x) beside it.
    * LSGAN, WGAN, hinge: the raw score (no sigmoid), labelled with its meaning; ``probability`` False.
    * anything else (``None``): "critic output".
    """
    return CRITIC_LABELS.get(loss, "critic output"), loss in PROBABILITY_LOSSES


def critic_contours(ax, D, lim, n=150, pack=1):
    """Filled contours of the critic's raw output (``critic_scores``: the logit, or the score of the losses
    without a sigmoid) over the square [-lim, lim]². Returns the contour set (for :func:`critic_colorbar`)."""
    g = numpy.linspace(-lim, lim, n)
    xx, yy = numpy.meshgrid(g, g)
    pts = numpy.stack([xx.ravel(), yy.ravel()], 1)
    s = critic_scores(D, pts, pack).reshape(n, n)
    cs = ax.contourf(xx, yy, s, levels=20, cmap="coolwarm", alpha=0.6)
    return cs


def critic_colorbar(fig, ax, cs, loss=None, pack=1, fontsize=8):
    r"""A colour bar for :func:`critic_contours` of a critic trained with ``loss``, labelled with what the
    critic outputs (:func:`critic_quantity`), and for a PacGAN critic (``pack`` m > 1) how a point is scored
    (as the pack of m copies, :func:`critic_scores`). For a logit, the other side of the bar marks
    :math:`D(x) = \sigma(l)` at a few probabilities. Returns the colour bar."""
    label, probability = critic_quantity(loss)
    if pack > 1:
        label += f"\n(x scored as the pack of {pack} copies of x)"
    from mpl_toolkits.axes_grid1 import make_axes_locatable  # a bar as tall as the (square) axes

    cax = make_axes_locatable(ax).append_axes("right", size="5%", pad=0.75 if probability else 0.1)
    cbar = fig.colorbar(cs, cax=cax)
    cbar.set_label(label, fontsize=fontsize)
    cbar.ax.tick_params(labelsize=fontsize)
    if probability:
        lo, hi = cbar.ax.get_ylim()
        sec = cbar.ax.secondary_yaxis("left", functions=(_sigmoid, _logit))
        sec.set_yticks(*_d_ticks(lo, hi))
        sec.tick_params(labelsize=fontsize - 1)
        sec.set_ylabel("D(x) = σ(l)", fontsize=fontsize, labelpad=1)
    return cbar


_LOSS_NAMES = {"minimax": "minimax", "nonsaturating": "non-saturating", "lsgan": "LSGAN", "wgan": "WGAN",
               "hinge": "hinge"}


def run_title(cfg, width=52):
    """A 2-D GAN run's loss and every trick it used, its data and its length, wrapped to ``width`` characters:
    "non-saturating + PacGAN (m = 4) + MMD² term (λ = 50) on grid25, step 2000".

    ``cfg`` is a :class:`~scratchgen.gan.train.GANConfig` (or anything with some of its fields; a missing
    field counts as off)."""
    get = lambda name, off=None: getattr(cfg, name, off)  # noqa: E731
    loss = get("loss")
    parts = [_LOSS_NAMES.get(loss, str(loss))]
    if get("penalty") == "gp":
        parts.append(f"gradient penalty (λ = {get('penalty_weight', 10.0):g})")
    elif get("penalty") == "r1":
        parts.append(f"R1 (γ = {get('penalty_weight', 10.0):g})")
    if get("clip") is not None:
        parts.append(f"weight clipping (c = {get('clip'):g})")
    if get("spectral_norm", False):
        parts.append("spectral norm")
    if get("label_smoothing") is not None:
        parts.append(f"label smoothing (α = {get('label_smoothing'):g})")
    if get("minibatch_disc", False):
        parts.append("minibatch discrimination")
    if get("unrolled", 0):
        parts.append(f"unrolled (K = {get('unrolled')})")
    if get("pack", 1) > 1:
        parts.append(f"PacGAN (m = {get('pack')})")
    if get("instance_noise", 0):
        parts.append(f"instance noise (σ₀ = {get('instance_noise'):g})")
    if get("mmd_weight", 0):
        decay = ", cosine decay" if get("mmd_schedule") == "cosine" else ""
        parts.append(f"MMD² term (λ = {get('mmd_weight'):g}{decay})")
    if get("top_k") is not None:
        parts.append(f"top-k (ν = {get('top_k'):g})")
    if get("ema", 0):
        parts.append(f"EMA (μ = {get('ema'):g})")
    if get("d_steps", 1) > 1:
        parts.append(f"{get('d_steps')} critic steps")
    if get("lr_schedule") == "cosine":
        parts.append("cosine lr")
    title = " + ".join(parts) + f" on {get('data')}, step {get('steps')}"
    return "\n".join(textwrap.wrap(title, width, break_on_hyphens=False))


def coverage_title(title, metrics):
    """``title``, and below it "modes m/M, high-quality h%" when ``metrics`` has mode coverage."""
    if "modes_captured" in metrics:
        title += f"\nmodes {metrics['modes_captured']}/{metrics['n_modes']}, " \
                 f"high-quality {100 * metrics['high_quality_fraction']:.1f}%"
    return title


def samples_over_data(ax, data, samples, title=None, lim=None, legend=False, sample_label="samples G(z)"):
    """Data (grey, drawn over the samples so that the modes stay visible under a cloud of samples) and generated
    samples (dark blue) in one scatter plot; with ``legend``, a legend of the two below the axes (clear of
    the points)."""
    data, samples = to_numpy(data), to_numpy(samples)
    ax.scatter(data[:, 0], data[:, 1], s=2, c="0.55", label="data (held out)", zorder=3)
    ax.scatter(samples[:, 0], samples[:, 1], s=2, c="navy", alpha=0.5, label=sample_label)
    if legend:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.03), ncol=2, fontsize=8, markerscale=4,
                  frameon=False, handletextpad=0.2)
    if lim is not None:
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    if title:
        ax.set_title(title, fontsize=9)


def _lim(data):
    return 1.25 * float(numpy.abs(to_numpy(data)).max()) + 0.1


def gan_samples_figure(run, data_eval):
    """The samples figure of a toy GAN run (a ``GANRun``): 2-D, samples over the held-out data on the critic's
    contours with a colour bar that says what the critic outputs (:func:`critic_colorbar`); 1-D, histograms
    of both and the critic's curve, :math:`D(x) = \\sigma(l(x))` in [0, 1] for the minimax and non-saturating
    losses. The title is :func:`run_title` (with mode coverage, or W1 in 1-D). Returns the figure."""
    lim = _lim(data_eval.x)
    cfg = run.config
    pack, loss = getattr(cfg, "pack", 1), getattr(cfg, "loss", None)
    title = run_title(cfg)
    if data_eval.x.shape[1] == 1:
        fig, ax = plt.subplots(figsize=(6, 3.8))
        data, samples = to_numpy(data_eval.x)[:, 0], to_numpy(run.samples)[:, 0]
        bins = numpy.linspace(-lim, lim, 81)
        ax.hist(data, bins=bins, density=True, color="0.6", alpha=0.7, label="data (held out)")
        ax.hist(samples, bins=bins, density=True, color="navy", alpha=0.5, label="samples G(z)")
        ax.set_xlabel("x")
        ax.set_ylabel("density")
        ax2 = ax.twinx()
        grid = numpy.linspace(-lim, lim, 400)
        score = critic_scores(run.D, grid[:, None], pack)
        label, probability = critic_quantity(loss)
        if probability:  # the classic picture (Goodfellow et al. 2014, Fig. 1): D(x) against the densities
            score, label = _sigmoid(score), "D(x) = σ(l(x)): probability that x is data"
            ax2.set_ylim(-0.02, 1.02)
        ax2.plot(grid, score, c="crimson", lw=1.5, label="critic")
        ax2.set_ylabel(label, color="crimson", fontsize=8)
        if "w1" in run.final:
            title += f", W1 = {run.final['w1']:.3f}"
        ax.set_title(title, fontsize=9)
        handles = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
        ax.legend(handles, [h.get_label() for h in handles], loc="upper left", fontsize=8)
    else:
        fig, ax = plt.subplots(figsize=(5.8, 5.2))
        cs = critic_contours(ax, run.D, lim, pack=pack)
        critic_colorbar(fig, ax, cs, loss, pack)
        samples_over_data(ax, data_eval.x, run.samples, coverage_title(title, run.final), lim, legend=True)
    fig.tight_layout()
    return fig


def gan_figures(run, data_eval, out_dir):
    """samples.png (:func:`gan_samples_figure`), losses.png, and modes.png when the data has modes."""
    save_figure(gan_samples_figure(run, data_eval), os.path.join(out_dir, "samples.png"), dpi=110)

    h = run.history
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(h["step"], h["loss_d"], lw=0.7, label="critic / discriminator")
    mmd = getattr(run.config, "mmd_weight", 0)
    ax.plot(h["step"], h["loss_g"], lw=0.7, label="generator" + (" (with its λ MMD² term)" if mmd else ""))
    ax.set_xlabel("generator step")
    ax.set_ylabel("loss")
    ax.set_title(run_title(run.config, width=70), fontsize=9)
    ax.legend()
    fig.tight_layout()
    save_figure(fig, os.path.join(out_dir, "losses.png"), dpi=110)

    modes = [e.get("modes") for e in h["eval"]]
    if any(m is not None for m in modes):
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.plot(h["eval_step"], modes, marker="o")
        ax.set_xlabel("generator step")
        ax.set_ylabel("modes captured")
        ax.set_title(run_title(run.config, width=70), fontsize=9)
        ax.set_ylim(0, (run.final.get("n_modes") or max(m for m in modes if m is not None)) + 1)
        fig.tight_layout()
        save_figure(fig, os.path.join(out_dir, "modes.png"), dpi=110)


def rejection_figure(data, proposals, accepted, classifier, report, path):
    r"""Two panels: the generator's samples over the classifier's :math:`\ell = \log p/q`, and the
    accepted samples (``scratchgen.gan.rejection.rejection_sample_run``)."""
    lim = _lim(data)
    fig, axes = plt.subplots(1, 2, figsize=(10, 5))
    cs = critic_contours(axes[0], classifier, lim)
    fig.colorbar(cs, ax=axes[0], fraction=0.046, label="classifier logit ℓ(x) ≈ log p(x)/q(x)")

    samples_over_data(axes[0], data, proposals, coverage_title("generator", report["generator"]), lim, legend=True)
    samples_over_data(axes[1], data, accepted,
                      coverage_title(f"rejection sampling (accepted {100 * report['acceptance_rate']:.1f}%)",
                                     report["rejection"]), lim, legend=True, sample_label="accepted samples")
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


# ---------------------------------------------------------------------------
# Images: one mosaic builder, its PNG, and the order of a conditional generator's samples
# ---------------------------------------------------------------------------
def image_grid(images, nrow=10):
    """Tile images into one mosaic, ``nrow`` images per row, with a 1-pixel gap of -1 around each.

    Parameters
    ----------
    images : array (N, 1, s, s), values in [-1, 1] (NumPy or CuPy)
    nrow : int
        Images per row of the mosaic.

    Returns
    -------
    numpy.ndarray (rows·(s+1)+1, nrow·(s+1)+1), float32, rows = ⌈N / nrow⌉; the gaps are -1 (white
    under ``cmap="gray_r"``, ``vmin=-1``).
    """
    x = numpy.asarray(to_numpy(images))
    if x.ndim != 4 or x.shape[1] != 1:
        raise ValueError(f"image_grid: expected images of shape (N, 1, s, s), received {x.shape}")
    n, _, s, _ = x.shape
    rows = -(-n // nrow)
    grid = numpy.full((rows * (s + 1) + 1, nrow * (s + 1) + 1), -1.0, dtype=numpy.float32)
    for i in range(n):
        r, c = divmod(i, nrow)
        grid[1 + r * (s + 1): 1 + r * (s + 1) + s, 1 + c * (s + 1): 1 + c * (s + 1) + s] = x[i, 0]
    return grid


def save_image_grid(images, path, nrow=10, title=None):
    """Tile images (N, 1, s, s) in [-1, 1] into a grid of ``nrow`` columns (:func:`image_grid`) and
    save it as a PNG at ``path``; returns ``path``."""
    x = numpy.asarray(to_numpy(images))
    if x.ndim != 4 or x.shape[1] != 1:
        raise ValueError(f"save_image_grid: expected images of shape (N, 1, s, s), received {x.shape}")
    grid = image_grid(x, nrow)
    rows = -(-x.shape[0] // nrow)
    fig, ax = plt.subplots(figsize=(0.45 * nrow, 0.45 * rows + (0.3 if title else 0)))
    ax.imshow(grid, cmap="gray_r", vmin=-1, vmax=1, interpolation="nearest")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=8)
    save_figure(fig, path, dpi=100, bbox_inches="tight")
    return path


def grid_order(samples, labels=None, n_classes=10, per_class=10):
    """Up to ``n_classes · per_class`` samples to show: the first ones, or, given the ``labels`` a
    conditional generator was asked for, ``per_class`` samples of each class k in row k.

    ``samples`` (N, ...) and ``labels`` (N,) NumPy arrays; returns the chosen samples.
    """
    if labels is None:
        return samples[:n_classes * per_class]
    return numpy.concatenate([samples[labels == k][:per_class] for k in range(n_classes)])


# ---------------------------------------------------------------------------
# DDPM: samples, the reverse process as an animation, the loss
# ---------------------------------------------------------------------------
def samples_figure(samples, data, path, title=None):
    """2-D: samples over held-out data; images: an 8×8 mosaic of the first 64 samples (range [-1, 1]).

    ``samples`` (n, 2) or (n, 1, H, W) in data units; ``data`` anything with ``eval_x``, the held-out
    data (the DDPM trainer's data object); written to ``path`` as a PNG.
    """
    samples = numpy.asarray(samples)
    ref = to_numpy(data.eval_x)
    if samples.ndim == 2:
        fig, ax = plt.subplots(figsize=(5, 5))
        lim = _lim(ref)
        samples_over_data(ax, ref, samples, lim=lim, legend=True, sample_label="samples (DDPM)")
    else:
        fig, ax = plt.subplots(figsize=(5, 5.3))
        ax.imshow(image_grid(samples[:64], 8), cmap="gray_r", vmin=-1, vmax=1, interpolation="nearest")
        ax.axis("off")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    save_figure(fig, path, dpi=100)


def trajectory_gif(trajectory, steps, data, path, fps=8, max_points=1000):
    """The reverse process x_T -> x_0 as an animated GIF (matplotlib.animation, PillowWriter).

    At most ``max_points`` trajectories (2-D) are drawn, to keep the file small.

    ``trajectory[i]`` is the state at timestep ``steps[i]`` (increasing), as the samplers return it;
    the animation plays it backwards in t, holding the last frame.
    """
    traj, steps = numpy.asarray(trajectory)[:, :max_points], numpy.asarray(steps)
    order = list(range(traj.shape[0] - 1, -1, -1)) + [0] * 4  # t = T .. 0, then hold x_0
    ref = to_numpy(data.eval_x)[:500]
    if traj.ndim == 3:  # (k, n, 2)
        fig, ax = plt.subplots(figsize=(4, 4))
        lim = _lim(ref)
        ax.scatter(ref[:, 0], ref[:, 1], s=1, c="0.75")
        pts = ax.scatter(traj[-1, :, 0], traj[-1, :, 1], s=1, c="navy", alpha=0.5)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")

        def draw(i):
            pts.set_offsets(traj[i])
            ax.set_title(f"reverse process, t = {int(steps[i])}", fontsize=11)
            return (pts,)
    else:  # (k, n, 1, H, W)
        fig, ax = plt.subplots(figsize=(3.2, 3.4))
        im = ax.imshow(image_grid(traj[-1, :16], 4), cmap="gray_r", vmin=-1, vmax=1, interpolation="nearest")
        ax.axis("off")

        def draw(i):
            im.set_data(image_grid(traj[i, :16], 4))
            ax.set_title(f"reverse process, t = {int(steps[i])}", fontsize=11)
            return (im,)

    anim = FuncAnimation(fig, draw, frames=order, blit=False)
    with atomic_path(path) as tmp:  # a killed save leaves the old file (or none), never half of one
        anim.save(tmp, writer=PillowWriter(fps=fps), dpi=80)
    plt.close(fig)


def loss_figure(history, path):
    """L_simple per step and its running mean over 200 steps."""
    loss = numpy.asarray(history["loss"], dtype=numpy.float64)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    if loss.size:
        ax.plot(history["step"], loss, lw=0.4, c="0.7", label="minibatch")
        k = min(200, loss.size)
        run_mean = numpy.convolve(loss, numpy.ones(k) / k, mode="valid")
        ax.plot(history["step"][k - 1:], run_mean, lw=1.2, c="navy", label=f"running mean over {k} steps")
        ax.set_yscale("log")
        ax.legend()
    ax.set_xlabel("step")
    ax.set_ylabel("L_simple")
    fig.tight_layout()
    save_figure(fig, path, dpi=100)


# ---------------------------------------------------------------------------
# Normalizing flows: the density, the layers' transforms, the NLL during training
# ---------------------------------------------------------------------------
__all__ += ["flow_density_figure", "flow_layers_figure", "nll_figure"]


def _density_grid(log_density, lim, n):
    """``log_density`` on an n×n grid over [-lim, lim]²: (xx, yy, values (n, n)), NumPy."""
    g = numpy.linspace(-lim, lim, n)
    xx, yy = numpy.meshgrid(g, g)
    values = numpy.asarray(log_density(numpy.stack([xx.ravel(), yy.ravel()], 1)), dtype=numpy.float64)
    return xx, yy, values.reshape(n, n)


def flow_density_figure(log_q, data, samples, path, title=None, log_p=None, lim=None, n=200):
    r"""The flow's density :math:`q(x) = e^{\log q(x)}` as a heat map, beside samples over the data.

    Panels: the data's exact density (when ``log_p`` is given), the flow's density, and ``samples``
    (dark blue) with ``data`` (grey) drawn over them (:func:`samples_over_data`), so that the blue left
    visible is where the flow samples outside the data. Both heat maps share one colour scale.

    Parameters
    ----------
    log_q, log_p : callable (m, 2) NumPy -> (m,)
        Log-densities of the flow and (optionally) of the data.
    data, samples : arrays (k, 2)
        Held-out data and flow samples (the first 3,000 of each are drawn).
    lim : float, optional
        Half-width of the square shown (default: from the data).
    n : int
        Grid points per axis.
    """
    data, samples = to_numpy(data)[:3000], numpy.asarray(to_numpy(samples))[:3000]
    lim = _lim(data) if lim is None else lim
    maps = [("flow density q(x)", _density_grid(log_q, lim, n))]
    if log_p is not None:
        maps.insert(0, ("data density p(x)", _density_grid(log_p, lim, n)))
    vmax = max(float(numpy.exp(v).max()) for _, (_, _, v) in maps)
    fig, axes = plt.subplots(1, len(maps) + 1, figsize=(4.2 * (len(maps) + 1), 4.4), layout="constrained")
    for ax, (name, (xx, yy, v)) in zip(axes, maps):
        im = ax.pcolormesh(xx, yy, numpy.exp(v), cmap="magma", vmin=0, vmax=vmax, shading="auto")
        ax.set_title(name, fontsize=9)
    fig.colorbar(im, ax=list(axes[:len(maps)]), shrink=0.8, label="density")
    samples_over_data(axes[-1], data, samples, "flow samples (blue) under the data (grey)", lim,
                      legend=True, sample_label="flow samples")
    for ax in axes:
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
    if title:
        fig.suptitle(title, fontsize=10)
    save_figure(fig, path, dpi=100)


def _panel_indices(count, max_panels):
    """``max_panels`` indices spread evenly over 0..count-1, first and last included."""
    if count <= max_panels:
        return list(range(count))
    return sorted(set(int(round(v)) for v in numpy.linspace(0, count - 1, max_panels)))


def _state_lim(h):
    return 1.1 * float(numpy.quantile(numpy.abs(h), 0.995)) + 0.05


def flow_layers_figure(forward_states, inverse_states, path, max_panels=7):
    r"""What each layer does. Top row: held-out data :math:`h_0 = x` through the layers to
    :math:`h_K = z`; bottom row: base samples :math:`z \sim \mathcal N(0, I)` through the inverse
    layers to :math:`x`. Points keep the colour of their angle in the first panel of their row, so
    one can follow where each part of the data (or of the base) goes.

    ``forward_states``: ``[x, h_1, ..., z]`` (what :meth:`Flow.intermediates` returns);
    ``inverse_states``: ``[z, ..., x]`` (:meth:`Flow.inverse_intermediates`); arrays (m, 2).
    """
    rows = [(("x", "z", "layers"), [numpy.asarray(to_numpy(h)) for h in forward_states]),
            (("z", "x", "inverse layers"), [numpy.asarray(to_numpy(h)) for h in inverse_states])]
    cols = len(_panel_indices(len(forward_states), max_panels))
    fig, axes = plt.subplots(2, cols, figsize=(2.3 * cols, 5.0), squeeze=False)
    for r, ((start, end, what), states) in enumerate(rows):
        K = len(states) - 1
        first = states[0]
        colour = numpy.arctan2(first[:, 1] - first[:, 1].mean(), first[:, 0] - first[:, 0].mean())
        for c, k in enumerate(_panel_indices(len(states), cols)):
            ax, h = axes[r, c], states[k]
            ax.scatter(h[:, 0], h[:, 1], s=1, c=colour, cmap="hsv", vmin=-numpy.pi, vmax=numpy.pi)
            lim = _state_lim(h)
            ax.set_xlim(-lim, lim)
            ax.set_ylim(-lim, lim)
            ax.set_aspect("equal")
            ax.tick_params(labelsize=6)
            name = {0: start, K: end}.get(k, f"after {k} of {K} {what}")
            ax.set_title(name, fontsize=8)
        for c in range(len(_panel_indices(len(states), cols)), cols):
            axes[r, c].axis("off")
    fig.suptitle("the flow's layers: data to base (top), base to data (bottom)", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path, dpi=100)


def nll_figure(history, path, entropy=None):
    """The training NLL per step (its running mean over 100 steps) and the held-out NLL at each evaluation,
    with the data's entropy, the lower bound of both, when it is known."""
    nll = numpy.asarray(history.get("nll", []), dtype=numpy.float64)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    if nll.size:
        k = min(100, nll.size)
        run_mean = numpy.convolve(nll, numpy.ones(k) / k, mode="valid")
        ax.plot(history["step"][k - 1:], run_mean, lw=1.0, c="0.5", label=f"training NLL (mean of {k} steps)")
        test = [e.get("test_nll") for e in history["eval"]]
        ax.plot(history["eval_step"], test, "o-", c="navy", ms=4, label="held-out NLL")
        low = min(float(run_mean.min()), min(test), entropy if entropy is not None else numpy.inf)
        ax.set_ylim(low - 0.1, max(float(numpy.quantile(run_mean, 0.9)), low + 0.5))
    if entropy is not None:
        ax.axhline(entropy, c="crimson", lw=1, ls="--", label=f"data entropy {entropy:.3f}")
    ax.set_xlabel("step")
    ax.set_ylabel("nats per point")
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=100)
