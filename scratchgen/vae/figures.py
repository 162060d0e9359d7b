"""The figures of a VAE or autoencoder run: reconstructions, samples, latent traversals, the latent space, collapse.

Every figure is written through ``viz.save_figure`` (atomic) and the images are tiled by
``viz.image_grid``. Imported by the trainers inside a function, so that a run without matplotlib
still writes its numbers.
"""
from __future__ import annotations

import os

import numpy  # plotting works on NumPy copies

from ..autodiff.tensor import no_grad, tensor
from ..backend import to_numpy
from ..viz import image_grid, save_figure  # sets matplotlib's Agg backend first

import matplotlib.pyplot as plt  # noqa: E402  isort: skip

__all__ = ["vae_figures", "autoencoder_figures", "image_rows_figure", "latent_figure", "traversal_images",
           "collapse_figure"]


def image_rows_figure(rows, labels, path, title=None, ncol=10):
    """Image rows (each (n, 1, s, s) in [-1, 1]) stacked, one label per row on the left; a PNG at ``path``."""
    fig, axes = plt.subplots(len(rows), 1, figsize=(0.5 * ncol + 1.2, 0.55 * len(rows) + (0.4 if title else 0.1)))
    axes = numpy.atleast_1d(axes)
    for ax, imgs, label in zip(axes, rows, labels):
        ax.imshow(image_grid(imgs[:ncol], ncol), cmap="gray_r", vmin=-1, vmax=1, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        for s in ax.spines.values():
            s.set_visible(False)
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    save_figure(fig, path, dpi=110, bbox_inches="tight")


def latent_figure(codes, labels, path, title, axis_names=("z_1", "z_2")):
    """A scatter of 2-D codes (N, 2), coloured by ``labels`` (N,) ints (the digit) when given; a PNG."""
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    if labels is None:
        ax.scatter(codes[:, 0], codes[:, 1], s=4, c="navy", alpha=0.5)
    else:
        sc = ax.scatter(codes[:, 0], codes[:, 1], s=6, c=labels, cmap="tab10", vmin=-0.5, vmax=9.5, alpha=0.8)
        cb = fig.colorbar(sc, ax=ax, ticks=range(10))
        cb.set_label("digit" if labels.max() <= 9 else "label")
    ax.set_xlabel(axis_names[0])
    ax.set_ylabel(axis_names[1])
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def traversal_images(model, dims, values):
    """Decoder means along each latent axis: for each j in ``dims``, z = v e_j for every v in ``values``
    (the other coordinates 0, the prior's mean). An array (len(dims), len(values), D)."""
    L = model.z_dim
    z = numpy.zeros((len(dims), len(values), L))
    for r, j in enumerate(dims):
        z[r, :, j] = values
    with no_grad():
        dtype = model.encoder.net[0].weight.dtype
        return to_numpy(model.decoder.mean(tensor(z.reshape(-1, L), dtype=dtype))).reshape(len(dims), len(values), -1)


def collapse_figure(history, path, title):
    """Per-dimension KL and active units against training steps, from a run's evaluation history."""
    steps = history["eval_step"]
    kl = numpy.array([e["kl_per_dim"] for e in history["eval"]])  # (evaluations, L)
    au = [e["active_units"] for e in history["eval"]]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.4))
    for j in range(kl.shape[1]):
        a1.plot(steps, kl[:, j], marker="o", ms=3, lw=1, label=f"z_{j + 1}")
    a1.set_xlabel("training step")
    a1.set_ylabel("KL(q(z_j|x) || p(z_j)), nats")
    a1.set_title("KL per latent dimension (held out)", fontsize=9)
    if kl.shape[1] <= 10:
        a1.legend(fontsize=7, ncol=2)
    a2.plot(steps, au, marker="o", color="k")
    a2.set_ylim(-0.3, kl.shape[1] + 0.3)
    a2.set_xlabel("training step")
    a2.set_ylabel("active units (Cov_x E_q[z_j] > 0.01)")
    a2.set_title("active units", fontsize=9)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def _two_axes(activity):
    """The two latent dimensions with the largest activity (or the only ones), most active first."""
    order = numpy.argsort(-numpy.asarray(activity))
    return [int(j) for j in order[:2]]


def _scatter_2d(data, samples, path, title):
    ref = to_numpy(data.test_x)[:2000]
    fig, ax = plt.subplots(figsize=(4.8, 4.8))
    ax.scatter(ref[:, 0], ref[:, 1], s=2, c="0.6", label="held-out data")
    ax.scatter(samples[:, 0], samples[:, 1], s=2, c="navy", alpha=0.5, label="VAE samples x ~ p(x|z)")
    ax.set_aspect("equal")
    ax.legend(fontsize=8, markerscale=4, loc="upper right")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def vae_figures(run, out_dir):
    """``reconstructions.png``, ``samples.png``, ``traversals.png`` (images), ``latent.png`` and ``collapse.png``."""
    data, model, f = run.data, run.model, run.final
    name = f"VAE ({run.config.decoder} decoder, beta {run.config.beta:g}) on {run.config.data}"
    head = f"{name}: ELBO {f['test_elbo']:.1f}, IWAE-{f['iwae_k']} {f['test_iwae']:.1f}, {f['active_units']} active units"
    labels = None if data.test_labels is None else to_numpy(data.test_labels)
    axes = _two_axes(f["unit_activity"]) if run.config.z_dim > 1 else [0, 0]
    mu = run.test_mu
    if mu.shape[1] > 1:
        latent_figure(mu[:, axes], labels, os.path.join(out_dir, "latent.png"),
                      f"{name}\nposterior means of the held-out data, the two most active dimensions",
                      axis_names=tuple(f"E_q[z_{j + 1}] (KL {f['kl_per_dim'][j]:.2f})" for j in axes))
    collapse_figure(run.history, os.path.join(out_dir, "collapse.png"), name)
    if data.image_side is None:
        if data.dim == 2:
            _scatter_2d(data, run.samples, os.path.join(out_dir, "samples.png"), head)
        return
    x = to_numpy(data.test_x[:20])
    recon = to_numpy(model.reconstruct(tensor(data.test_x[:20])))
    im = lambda a: to_numpy(data.as_images(numpy.asarray(a)))  # noqa: E731
    image_rows_figure([im(x[:10]), im(recon[:10]), im(x[10:]), im(recon[10:])],
                      ["held out", "reconstructed", "held out", "reconstructed"],
                      os.path.join(out_dir, "reconstructions.png"), head + "\n(decoder mean at z = E_q[z])")
    fig, ax = plt.subplots(figsize=(4.6, 4.9))
    ax.imshow(image_grid(im(run.samples[:64]), 8), cmap="gray_r", vmin=-1, vmax=1, interpolation="nearest")
    ax.axis("off")
    ax.set_title(f"{name}\n64 samples: decoder mean at z ~ N(0, I)", fontsize=8)
    fig.tight_layout()
    save_figure(fig, os.path.join(out_dir, "samples.png"), dpi=110)
    order = [int(j) for j in numpy.argsort(-numpy.asarray(f["kl_per_dim"]))[:8]]
    values = numpy.linspace(-3, 3, 9)
    trav = traversal_images(model, order, values)
    image_rows_figure([im(r) for r in trav], [f"z_{j + 1}\nKL {f['kl_per_dim'][j]:.2f}" for j in order],
                      os.path.join(out_dir, "traversals.png"),
                      f"{name}\nz_j from -3 to 3, the other coordinates 0 (dimensions by KL)", ncol=len(values))


def autoencoder_figures(run, out_dir):
    """``reconstructions.png`` (images; with the corrupted input for the denoising and masked objectives) and
    ``latent.png`` (the codes of the held-out data on their two principal axes, coloured by label)."""
    from ..backend import rng
    from .autoencoders import gaussian_corruption, mask_input, random_mask

    data, model, cfg = run.data, run.model, run.config
    name = f"{cfg.objective} autoencoder, k = {cfg.code_dim}, on {cfg.data}: test MSE {run.final['test_mse']:.3g}"
    codes = numpy.asarray(run.test_codes)
    labels = None if data.test_labels is None else to_numpy(data.test_labels)
    if codes.shape[1] >= 2:
        c = codes - codes.mean(axis=0)
        pcs = numpy.linalg.svd(c, full_matrices=False)[2][:2].T
        latent_figure(c @ pcs, labels, os.path.join(out_dir, "latent.png"),
                      name + "\ncodes of the held-out data on their two principal axes", ("code PC 1", "code PC 2"))
    if data.image_side is None:
        return
    x = to_numpy(data.test_x[:10])
    g = rng(0)
    if cfg.objective == "denoising":
        x_in = gaussian_corruption(x, cfg.noise_std, g)
    elif cfg.objective == "masked":
        x_in = mask_input(x, to_numpy(random_mask(x.shape, cfg.mask_ratio, g)))
    else:
        x_in = x
    rows, names = [x, model.reconstruct(x_in)], ["original", "reconstructed"]
    if cfg.objective != "plain":  # what the encoder saw: the corrupted copy (clipped to [-1, 1] for display)
        rows, names = [x, numpy.clip(x_in, -1, 1), rows[1]], ["original", f"{cfg.objective} input", "reconstructed"]
    image_rows_figure([to_numpy(r).reshape(-1, 1, 8, 8) for r in rows], names,
                      os.path.join(out_dir, "reconstructions.png"), name)
