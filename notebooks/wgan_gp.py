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
# # WGAN-GP: the gradient penalty, sample by sample
#
# The WGAN critic must be 1-Lipschitz. Gulrajani et al. (2017, Eq. 3) replace weight clipping with the
# penalty $\lambda\,\mathbb E_{\hat x}[(\|\nabla_{\hat x} D(\hat x)\|_2 - 1)^2]$ on points
# $\hat x = \epsilon x + (1 - \epsilon)\tilde x$ between data and samples, one $\epsilon$ and one norm
# **per sample**. We check the penalty on critics whose gradients we know, then train a small WGAN-GP and
# watch the critic's gradient norms settle near 1. Derivations: `docs/gan-theory.md`.

# %%
# Setup: the GPU backend when one is visible (a hosted notebook service), NumPy otherwise.
# SCRATCHGEN_NOTEBOOK_SIZE=small runs everything at toy sizes (the test run does).
import os

import matplotlib.pyplot as plt
import numpy as np

import scratchgen as sg
from scratchgen import backend

SMALL = os.environ.get("SCRATCHGEN_NOTEBOOK_SIZE", "full") == "small"
try:
    backend.set_backend("cupy")
except backend.BackendError:
    backend.set_backend("numpy")
print("backend:", backend.get_backend(), "| size:", "small" if SMALL else "full")

# %% [markdown]
# ## 1. Critics with known gradients
#
# A linear critic $D(x) = \langle w, x\rangle$ has gradient $w$ everywhere: penalty 0 when $\|w\| = 1$,
# $\lambda(\|w\| - 1)^2$ otherwise.

# %%
from scratchgen.gan.penalties import critic_grad_norms, gradient_penalty

rng = np.random.default_rng(0)
real, fake = rng.standard_normal((16, 2)), rng.standard_normal((16, 2)) + 3
for norm in (1.0, 2.0):
    w = sg.tensor(np.array([0.6, 0.8]) * norm, dtype="float64")
    critic = lambda x, w=w: (x * w).sum(axis=1)
    gp = float(gradient_penalty(critic, real, fake, lam=10.0, rng=0).data)
    print(f"||w|| = {norm}: penalty {gp:.6f}, expected {10 * (norm - 1) ** 2}")
    assert abs(gp - 10 * (norm - 1) ** 2) < 1e-9

# %% [markdown]
# ## 2. Why per sample
#
# The norm is taken over each sample's own gradient. A norm over the whole batch would be
# $\sqrt{B}$ times a typical per-sample norm, and the penalty would push each sample's gradient towards
# $1/\sqrt B$ instead of 1. For the critic $D(x) = \tfrac12\|x\|^2$ (gradient $x$):

# %%
x = rng.standard_normal((8, 2))
quad = lambda t: (t * t * 0.5).sum(axis=1)
per_sample = sg.to_numpy(critic_grad_norms(quad, x).data)
print("per-sample norms:", np.round(per_sample, 3))
print("one norm over the batch:", np.sqrt((x ** 2).sum()).round(3), "= sqrt(B) x the RMS per-sample norm:",
      (np.sqrt(8) * np.sqrt((per_sample ** 2).mean())).round(3))
assert np.allclose(per_sample, np.linalg.norm(x, axis=1))

# %% [markdown]
# ## 3. A small WGAN-GP on the ring
#
# `scratchgen train gan --loss wgan --penalty gp`: after training, the critic's gradient norms at points
# between data and samples cluster near 1.

# %%
from scratchgen.data.toy import load_toy
from scratchgen.gan.train import GANConfig, train_gan

steps = 30 if SMALL else 3000
run = train_gan(GANConfig(data="ring8", loss="wgan", penalty="gp", d_steps=5, steps=steps, batch=128,
                          eval_every=steps, n_eval=400, lr_g=1e-4, lr_d=1e-4, betas=(0.5, 0.9),
                          hidden=64 if SMALL else 128, progress=False))
samples = sg.to_numpy(run.samples)
data = sg.to_numpy(load_toy("ring8", len(samples), seed=1).x)
eps = rng.random((len(samples), 1))
between = eps * data + (1 - eps) * samples
norms = sg.to_numpy(critic_grad_norms(run.D, between.astype(np.float32)).data)
print(f"critic gradient norms between data and samples: median {np.median(norms):.3f}, "
      f"10-90%: {np.percentile(norms, 10):.3f}-{np.percentile(norms, 90):.3f}")

# %%
fig, ax = plt.subplots(1, 2, figsize=(8, 3.2), constrained_layout=True)
ax[0].hist(norms, bins=30)
ax[0].axvline(1.0, color="k", ls="--", label="norm 1")
ax[0].set_xlabel("||grad D(x_hat)||")
ax[0].legend(fontsize=7)
ax[1].scatter(samples[:, 0], samples[:, 1], s=3, alpha=0.5, label="samples")
ax[1].set_aspect("equal")
ax[1].legend(fontsize=7)
plt.show()
