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
# # The optimal discriminator and the Jensen-Shannon divergence
#
# Goodfellow et al. (2014) play $\min_G\max_D V(D, G)$ with
# $V = \mathbb E_{x\sim p}[\log D(x)] + \mathbb E_{x\sim q}[\log(1 - D(x))]$, $p$ the data and $q$ the model.
# For a fixed $q$, pointwise maximisation gives $D^* = p/(p+q)$ (Proposition 1), and at $D^*$
# $V(D^*, G) = 2\,\mathrm{JSD}(p\|q) - \log 4$ (Theorem 1). We check both on discrete distributions, then
# watch gradient ascent on $V$ find $D^*$. Derivations: `docs/gan-theory.md`.

# %%
# Setup: the GPU backend when one is visible (a hosted notebook service), NumPy otherwise.
# SCRATCHGEN_NOTEBOOK_SIZE=small runs everything at toy sizes (the test run does).
import math
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
# ## 1. $D^*$ and the value at the optimum

# %%
from scratchgen.divergences import gan_value, jsd, optimal_discriminator

rng = np.random.default_rng(0)
n = 6
p = rng.dirichlet(np.ones(n))
q = rng.dirichlet(np.ones(n))
d_star = optimal_discriminator(p, q)
print("D* =", np.round(d_star, 3))
v_star = float(gan_value(p, q, d=d_star))
print(f"V(D*, G) = {v_star:.6f};  2 JSD - log 4 = {2 * float(jsd(p, q)) - math.log(4):.6f}")
assert abs(v_star - (2 * float(jsd(p, q)) - math.log(4))) < 1e-12

# %% [markdown]
# At $p = q$, $D^* = 1/2$ everywhere and $V = -\log 4$: the generator's global optimum.

# %%
print("p = q:", optimal_discriminator(p, p), float(gan_value(p, p, d=optimal_discriminator(p, p))), -math.log(4))

# %% [markdown]
# ## 2. Gradient ascent on V finds D*
#
# A discriminator that is a free logit per outcome, $D = \sigma(\ell)$, trained by gradient ascent on
# $V(\sigma(\ell), G)$ (with `logits=`, the stable form $p\log\sigma(\ell) + q\log\sigma(-\ell)$).

# %%
steps = 200 if SMALL else 3000
lr = 2.0
logits = sg.tensor(np.zeros(n), dtype="float64")
dV = sg.grad(lambda l: gan_value(p, q, logits=l))
trace = []
for _ in range(steps):
    logits = logits + lr * dV(logits)
    trace.append(float(gan_value(p, q, logits=logits)))
d_learnt = 1 / (1 + np.exp(-sg.to_numpy(logits.data)))
print("max |D - D*| after", steps, "steps:", np.abs(d_learnt - d_star).max())
assert np.abs(d_learnt - d_star).max() < (0.05 if SMALL else 1e-3)

# %%
fig, ax = plt.subplots(1, 2, figsize=(9, 3.2), constrained_layout=True)
ax[0].bar(np.arange(n) - 0.2, p, 0.4, label="p (data)")
ax[0].bar(np.arange(n) + 0.2, q, 0.4, label="q (model)")
ax[0].plot(np.arange(n), d_star, "k_", ms=20, mew=2, label="D* = p/(p+q)")
ax[0].plot(np.arange(n), d_learnt, "r.", ms=10, label="learnt D")
ax[0].set_xlabel("outcome")
ax[0].legend(fontsize=7)
ax[1].plot(trace, label="V(D, G)")
ax[1].axhline(2 * float(jsd(p, q)) - math.log(4), color="k", ls="--", label="2 JSD - log 4")
ax[1].set_xlabel("ascent step")
ax[1].legend(fontsize=7)
plt.show()

# %% [markdown]
# ## 3. What the generator sees
#
# Substituting $D^*$ turns the generator's problem into minimising $\mathrm{JSD}(p\|q)$. Moving $q$
# towards $p$ along $q_\lambda = (1-\lambda) q + \lambda p$ lowers $V(D^*, G)$ monotonically to $-\log 4$:

# %%
lams = np.linspace(0, 1, 6 if SMALL else 21)
values = [float(gan_value(p, (1 - lam) * q + lam * p, d=optimal_discriminator(p, (1 - lam) * q + lam * p))) for lam in lams]
print(np.round(values, 4))
assert all(a >= b - 1e-12 for a, b in zip(values, values[1:])) and abs(values[-1] + math.log(4)) < 1e-12
