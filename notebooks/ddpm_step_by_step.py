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
# # DDPM step by step
#
# Ho, Jain & Abbeel (2020): a forward process adds Gaussian noise in T steps,
# $q(x_t\mid x_0) = \mathcal N(\sqrt{\bar\alpha_t}\,x_0, (1-\bar\alpha_t)I)$ (Eq. 4); a reverse process
# removes it one step at a time with the posterior $q(x_{t-1}\mid x_t, x_0)$ (Eqs. 6-7) in which the unknown
# $x_0$ is predicted from a noise estimate $\varepsilon_\theta$ (Eq. 11, Algorithm 2). For a Gaussian mixture
# the best possible $\varepsilon$ is known in closed form, $\varepsilon^* = -\sqrt{1-\bar\alpha_t}\,\nabla\log p_t$,
# so we can run every step without training anything. Derivations: `docs/diffusion.md`.

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
# ## 1. Two schedules
#
# $\bar\alpha_t = \prod_{s\le t}(1 - \beta_s)$ for Ho's linear $\beta_t$ and Nichol & Dhariwal's cosine
# schedule ($\bar\alpha_t = f(t)/f(0)$, $f(t) = \cos^2(\frac{t/T + s}{1+s}\frac\pi2)$).

# %%
from scratchgen.diffusion.schedules import cosine_schedule, linear_schedule

T = 100 if SMALL else 1000
schedules = {"linear": linear_schedule(T, beta_T=0.02 * 1000 / T), "cosine": cosine_schedule(T)}
fig, ax = plt.subplots(figsize=(5, 3), constrained_layout=True)
for name, s in schedules.items():
    ax.plot(np.arange(T + 1), sg.to_numpy(s.alpha_bar), label=name)
ax.set_xlabel("t")
ax.set_ylabel("alpha_bar_t")
ax.legend()
plt.show()

# %% [markdown]
# ## 2. The forward process: $x_t = \sqrt{\bar\alpha_t}x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon$

# %%
from scratchgen.diffusion.ddpm import q_posterior, q_sample
from scratchgen.diffusion.mixture import exact_eps_model, mixture_sample, toy_mixture
from scratchgen.diffusion.samplers import p_sample_step

schedule = schedules["cosine"]
mix = toy_mixture("gauss8", shift=np.zeros(2), scale=2.0)  # eight Gaussians on the unit circle, std 0.1
n = 500 if SMALL else 5000
x0 = mixture_sample(mix, n, seed=0)
eps = np.random.default_rng(1).standard_normal(x0.shape)
ts = [0, T // 10, T // 3, T]
fig, axes = plt.subplots(1, len(ts), figsize=(3 * len(ts), 3), constrained_layout=True)
for ax, t in zip(axes, ts):
    xt = x0 if t == 0 else sg.to_numpy(q_sample(schedule, x0, t, eps))
    ax.scatter(xt[:, 0], xt[:, 1], s=2, alpha=0.4)
    ax.set_title(f"t = {t}")
    ax.set_xlim(-3, 3)
    ax.set_ylim(-3, 3)
    ax.set_aspect("equal")
plt.show()

# %% [markdown]
# ## 3. The posterior, from Bayes' rule
#
# $q(x_{t-1}\mid x_t, x_0) \propto q(x_t\mid x_{t-1})\,q(x_{t-1}\mid x_0)$ is a product of two Gaussians in
# $x_{t-1}$: precisions add, means are precision-weighted. The library's closed form (Eq. 7) agrees:

# %%
t = T // 2
beta, alpha, ab = (sg.to_numpy(getattr(schedule, k)) for k in ("beta", "alpha", "alpha_bar"))
xt = sg.to_numpy(q_sample(schedule, x0[:4], t, eps[:4]))
var = 1 / (alpha[t] / beta[t] + 1 / (1 - ab[t - 1]))
mean = var * (np.sqrt(alpha[t]) * xt / beta[t] + np.sqrt(ab[t - 1]) * x0[:4] / (1 - ab[t - 1]))
lib_mean, lib_var = q_posterior(schedule, x0[:4], xt, t)
print("max |mean difference|:", np.abs(sg.to_numpy(lib_mean) - mean).max(), "| variance:", float(sg.to_numpy(lib_var).ravel()[0]), var)
assert np.allclose(sg.to_numpy(lib_mean), mean) and np.allclose(sg.to_numpy(lib_var), var)

# %% [markdown]
# ## 4. Ancestral sampling with the exact noise predictor (Algorithm 2)
#
# Start from $x_T \sim \mathcal N(0, I)$ and apply $x_{t-1} = \mu_\theta(x_t, t) + \sigma_t z$ down to
# t = 1, where no noise is added. With $\varepsilon^*$ the samples land on the eight modes.

# %%
from scratchgen.metrics.modes import mode_coverage

eps_star = exact_eps_model(schedule, mix)
g = np.random.default_rng(2)
x = g.standard_normal((n, 2))
for t in range(T, 0, -1):
    x = p_sample_step(schedule, x, t, eps_star(x, t), g.standard_normal(x.shape) if t > 1 else None)
cov = mode_coverage(sg.to_numpy(x), sg.to_numpy(mix.means), float(sg.to_numpy(mix.stds)[0]))
print(f"{cov.modes_captured}/8 modes, high-quality fraction {cov.high_quality_fraction:.3f}")
assert cov.modes_captured == 8

# %%
fig, ax = plt.subplots(figsize=(3.6, 3.6), constrained_layout=True)
xs = sg.to_numpy(x)
ax.scatter(xs[:, 0], xs[:, 1], s=2, alpha=0.4, label="DDPM samples")
ax.scatter(*sg.to_numpy(mix.means).T, c="r", marker="x", label="modes")
ax.set_aspect("equal")
ax.legend(fontsize=7)
plt.show()
