# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Mode collapse on the ring of eight Gaussians
#
# A GAN's generator is rewarded for samples the discriminator currently believes real, not for covering
# the data: with the non-saturating loss it often lands on a few modes and hops between them. We train
# the 2-D GAN of `scratchgen train gan` on `ring8` (eight Gaussians of std 0.01 on the unit circle),
# count the modes it captures with `mode_coverage` (VEEGAN's protocol: a sample within 3 std of a centre
# is high quality), and compare with PacGAN's packing (the critic sees two samples at once).
# The measured sweep over losses and seeds is in `docs/mode-collapse.md`.

# %%
# Setup: the GPU backend when one is visible (a hosted notebook service), NumPy otherwise.
# SCRATCHGEN_NOTEBOOK_SIZE=small runs everything at toy sizes (the test run does).
import os

import matplotlib.pyplot as plt

import scratchgen as sg
from scratchgen import backend

SMALL = os.environ.get("SCRATCHGEN_NOTEBOOK_SIZE", "full") == "small"
try:
    backend.set_backend("cupy")
except backend.BackendError:
    backend.set_backend("numpy")
print("backend:", backend.get_backend(), "| size:", "small" if SMALL else "full")

# %%
from scratchgen.data.toy import ring_centres
from scratchgen.gan.train import GANConfig, train_gan
from scratchgen.metrics.modes import mode_coverage

steps = 40 if SMALL else 4000
common = dict(data="ring8", steps=steps, batch=128 if SMALL else 512, eval_every=steps, n_eval=400 if SMALL else 2500,
              progress=False, hidden=64 if SMALL else 128, seed=0)
runs = {"non-saturating": train_gan(GANConfig(loss="nonsaturating", **common)),
        "PacGAN (pack 2)": train_gan(GANConfig(loss="nonsaturating", pack=2, **common))}
for name, run in runs.items():
    print(f"{name:>16}: {run.final['modes_captured']}/8 modes, high-quality fraction {run.final['high_quality_fraction']:.2f}")

# %% [markdown]
# ## Where the samples went
#
# Each panel shows the generated points over the eight centres; the histogram of high-quality samples per
# mode is what `mode_coverage` counts (its KL from the uniform histogram measures the imbalance).

# %%
centres = sg.to_numpy(ring_centres(dtype="float64"))
fig, axes = plt.subplots(1, len(runs), figsize=(4 * len(runs), 3.6), constrained_layout=True)
for ax, (name, run) in zip(axes, runs.items()):
    s = sg.to_numpy(run.samples)
    cov = mode_coverage(s, centres, 0.01)
    ax.scatter(s[:, 0], s[:, 1], s=3, alpha=0.4, label="samples")
    ax.scatter(centres[:, 0], centres[:, 1], c="r", marker="x", label="modes")
    ax.set_title(f"{name}: {cov.modes_captured}/8 modes")
    ax.set_aspect("equal")
    ax.legend(fontsize=7, loc="lower right")
plt.show()

# %% [markdown]
# ## What is measured
#
# `mode_coverage` returns the number of modes with at least one high-quality sample, the high-quality
# fraction, and the per-mode counts:

# %%
cov = mode_coverage(sg.to_numpy(runs["non-saturating"].samples), centres, 0.01)
print(cov.as_dict(), cov.counts)
assert 0 <= cov.modes_captured <= 8 and sum(cov.counts) <= len(runs["non-saturating"].samples)
