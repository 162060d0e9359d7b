"""Figures with matplotlib (Agg backend: files only, no window)."""
from __future__ import annotations

import operator
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy  # noqa: E402  (plotting works on NumPy copies)

from .autodiff.tensor import no_grad, tensor  # noqa: E402
from .backend import default_dtype, to_numpy  # noqa: E402

__all__ = ["coverage_title", "critic_contours", "critic_scores", "gan_figures", "rejection_figure", "samples_over_data"]


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
    fig.savefig(os.path.join(out_dir, "samples.png"), dpi=110)
    plt.close(fig)

    h = run.history
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(h["step"], h["loss_d"], lw=0.7, label="critic / discriminator")
    ax.plot(h["step"], h["loss_g"], lw=0.7, label="generator")
    ax.set_xlabel("generator step")
    ax.set_ylabel("loss")
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "losses.png"), dpi=110)
    plt.close(fig)

    if any(m is not None for m in h["modes"]):
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.plot(h["eval_step"], h["modes"], marker="o")
        ax.set_xlabel("generator step")
        ax.set_ylabel("modes captured")
        ax.set_ylim(0, (run.final.get("n_modes") or max(m for m in h["modes"] if m is not None)) + 1)
        fig.tight_layout()
        fig.savefig(os.path.join(out_dir, "modes.png"), dpi=110)
        plt.close(fig)


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
    fig.savefig(path, dpi=110)
    plt.close(fig)
