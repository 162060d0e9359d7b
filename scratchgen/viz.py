"""Every figure of the library, with matplotlib (Agg backend: files only, no window).

* toy 2-D GANs: :func:`gan_figures` (samples over data with the critic's contours, losses, modes),
  :func:`rejection_figure`;
* images: :func:`image_grid` (the one mosaic builder), :func:`save_image_grid` (a PNG of it),
  :func:`grid_order` (a conditional generator's samples, digit k in row k);
* DDPM: :func:`samples_figure`, :func:`trajectory_gif` (the reverse process), :func:`loss_figure`.
"""
from __future__ import annotations

import operator
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy  # noqa: E402  (plotting works on NumPy copies)
from matplotlib.animation import FuncAnimation, PillowWriter  # noqa: E402

from .autodiff.tensor import no_grad, tensor  # noqa: E402
from .backend import default_dtype, to_numpy  # noqa: E402
from .checkpoint import atomic_path, atomic_write  # noqa: E402

__all__ = ["coverage_title", "critic_contours", "critic_scores", "gan_figures", "rejection_figure", "samples_over_data",
           "image_grid", "save_image_grid", "grid_order", "samples_figure", "trajectory_gif", "loss_figure"]



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


def critic_contours(ax, D, lim, n=150, pack=1):
    """Filled contours of the critic's score D(x) over the square [-lim, lim]² (see ``critic_scores``)."""
    g = numpy.linspace(-lim, lim, n)
    xx, yy = numpy.meshgrid(g, g)
    pts = numpy.stack([xx.ravel(), yy.ravel()], 1)
    s = critic_scores(D, pts, pack).reshape(n, n)
    cs = ax.contourf(xx, yy, s, levels=20, cmap="coolwarm", alpha=0.6)
    return cs


def coverage_title(title, metrics):
    """``title``, and below it "modes m/M, high-quality h%" when ``metrics`` has mode coverage."""
    if "modes_captured" in metrics:
        title += f"\nmodes {metrics['modes_captured']}/{metrics['n_modes']}, " \
                 f"high-quality {100 * metrics['high_quality_fraction']:.1f}%"
    return title


def samples_over_data(ax, data, samples, title=None, lim=None):
    """Data (grey) and generated samples (dark blue) in one scatter plot."""
    data, samples = to_numpy(data), to_numpy(samples)
    ax.scatter(data[:, 0], data[:, 1], s=2, c="0.6", label="data")
    ax.scatter(samples[:, 0], samples[:, 1], s=2, c="navy", alpha=0.5, label="G(z)")
    if lim is not None:
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    if title:
        ax.set_title(title, fontsize=9)


def _lim(data):
    return 1.25 * float(numpy.abs(to_numpy(data)).max()) + 0.1


def gan_figures(run, data_eval, out_dir):
    """samples.png (samples over data, critic contours; in 1-D histograms and the critic's curve),
    losses.png, modes.png."""
    lim = _lim(data_eval.x)
    pack = getattr(run.config, "pack", 1)
    fig, ax = plt.subplots(figsize=(5, 5) if data_eval.x.shape[1] == 2 else (6, 3.5))
    if data_eval.x.shape[1] == 1:
        data, samples = to_numpy(data_eval.x)[:, 0], to_numpy(run.samples)[:, 0]
        bins = numpy.linspace(-lim, lim, 81)
        ax.hist(data, bins=bins, density=True, color="0.6", alpha=0.7, label="data")
        ax.hist(samples, bins=bins, density=True, color="navy", alpha=0.5, label="G(z)")
        ax.set_xlabel("x")
        ax.set_ylabel("density")
        ax2 = ax.twinx()
        grid = numpy.linspace(-lim, lim, 400)
        ax2.plot(grid, critic_scores(run.D, grid[:, None], pack), c="crimson", lw=1.5, label="critic D(x)")
        ax2.set_ylabel("critic score D(x)", color="crimson")
        title = f"{run.config.loss} on {run.config.data}, step {run.config.steps}"
        if "w1" in run.final:
            title += f", W1 = {run.final['w1']:.3f}"
        ax.set_title(title, fontsize=9)
        ax.legend(loc="upper left", fontsize=8)
    if data_eval.x.shape[1] == 2:
        cs = critic_contours(ax, run.D, lim, pack=pack)
        fig.colorbar(cs, ax=ax, fraction=0.046, label="critic score D(x)")
        title = coverage_title(f"{run.config.loss} on {run.config.data}, step {run.config.steps}", run.final)
        samples_over_data(ax, data_eval.x, run.samples, title, lim)
    fig.tight_layout()
    save_figure(fig, os.path.join(out_dir, "samples.png"), dpi=110)

    h = run.history
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(h["step"], h["loss_d"], lw=0.7, label="critic / discriminator")
    ax.plot(h["step"], h["loss_g"], lw=0.7, label="generator")
    ax.set_xlabel("generator step")
    ax.set_ylabel("loss")
    ax.legend()
    fig.tight_layout()
    save_figure(fig, os.path.join(out_dir, "losses.png"), dpi=110)

    modes = [e.get("modes") for e in h["eval"]]
    if any(m is not None for m in modes):
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.plot(h["eval_step"], modes, marker="o")
        ax.set_xlabel("generator step")
        ax.set_ylabel("modes captured")
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

    samples_over_data(axes[0], data, proposals, coverage_title("generator", report["generator"]), lim)
    samples_over_data(axes[1], data, accepted,
                      coverage_title(f"rejection sampling (accepted {100 * report['acceptance_rate']:.1f}%)",
                                     report["rejection"]), lim)
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
        ax.scatter(ref[:, 0], ref[:, 1], s=2, c="0.6", label="data")
        ax.scatter(samples[:, 0], samples[:, 1], s=2, c="navy", alpha=0.5, label="DDPM")
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.legend(loc="upper right", fontsize=8, markerscale=4)
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
            ax.set_title(f"reverse process, t = {int(steps[i])}", fontsize=9)
            return (pts,)
    else:  # (k, n, 1, H, W)
        fig, ax = plt.subplots(figsize=(3.2, 3.4))
        im = ax.imshow(image_grid(traj[-1, :16], 4), cmap="gray_r", vmin=-1, vmax=1, interpolation="nearest")
        ax.axis("off")

        def draw(i):
            im.set_data(image_grid(traj[i, :16], 4))
            ax.set_title(f"reverse process, t = {int(steps[i])}", fontsize=9)
            return (im,)

    anim = FuncAnimation(fig, draw, frames=order, blit=False)
    with atomic_path(path) as tmp:  # a killed save leaves the old file (or none), never half of one
        anim.save(tmp, writer=PillowWriter(fps=fps), dpi=64)
    plt.close(fig)


def loss_figure(history, path):
    """L_simple per step and its running mean over 200 steps."""
    loss = numpy.asarray(history["loss"], dtype=numpy.float64)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    if loss.size:
        ax.plot(history["step"], loss, lw=0.4, c="0.7", label="minibatch")
        k = min(200, loss.size)
        run_mean = numpy.convolve(loss, numpy.ones(k) / k, mode="valid")
        ax.plot(history["step"][k - 1:], run_mean, lw=1.2, c="navy", label=f"mean of {k}")
        ax.set_yscale("log")
        ax.legend()
    ax.set_xlabel("step")
    ax.set_ylabel("L_simple")
    fig.tight_layout()
    save_figure(fig, path, dpi=100)
