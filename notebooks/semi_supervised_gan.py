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
# # The semi-supervised GAN's K+1 critic
#
# Salimans et al. (2016, Sec. 5) give the discriminator K+1 outputs: the K classes of the data and one
# class "generated". Its loss has a supervised term on the few labelled points and the usual GAN terms on
# unlabelled data and on samples,
#
# $$L = -\mathbb E_{(x,y)}\log p(y\mid x) - \mathbb E_{x}\log\big(1 - p(K{+}1\mid x)\big) - \mathbb E_{z}\log p(K{+}1\mid G(z)).$$
#
# Fixing the fake logit at 0 loses nothing (softmax is shift invariant), and then
# $D(x) = 1 - p(K{+}1\mid x) = Z(x)/(Z(x)+1)$ with $Z = \sum_k e^{l_k}$. We check these identities, then
# train a small critic on two moons with 4 labels per class, with and without the unsupervised terms
# (the samples of a "bad" generator that fills the space around the data, as Dai et al. 2017 analyse).

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
# ## 1. The identities of the critic

# %%
from scratchgen.gan.ssgan import SSCritic, critic_loss, discriminator_prob, log_p_class, log_p_fake, predict

rng = np.random.default_rng(0)
logits_K = rng.standard_normal((5, 3))  # the "K" form: K = 3 real-class logits, the fake logit is 0
logits_K1 = np.concatenate([logits_K, np.zeros((5, 1))], axis=1)  # the same critic in the "K+1" form
Z = np.exp(logits_K).sum(axis=1)
D = sg.to_numpy(discriminator_prob(sg.tensor(logits_K, dtype="float64"), form="K").data)
print("D = Z/(Z+1):", np.allclose(D, Z / (Z + 1)))
same = np.allclose(sg.to_numpy(log_p_fake(sg.tensor(logits_K, dtype="float64"), form="K").data),
                   sg.to_numpy(log_p_fake(sg.tensor(logits_K1, dtype="float64"), form="K+1").data))
print("log p(fake|x) is the same in both forms:", same)
assert np.allclose(D, Z / (Z + 1)) and same

# %% [markdown]
# ## 2. Two moons, 4 labels per class

# %%
def moons(n, seed):
    g = np.random.default_rng(seed)
    y = g.integers(0, 2, n)
    a = g.uniform(0, np.pi, n)
    x = np.where(y[:, None] == 0, np.c_[np.cos(a), np.sin(a)], np.c_[1 - np.cos(a), 0.5 - np.sin(a)])
    return (x + 0.08 * g.standard_normal((n, 2))).astype(np.float32), y


x_unl, y_unl = moons(2000, 1)
x_test, y_test = moons(1000, 2)
lab = np.r_[np.flatnonzero(y_unl == 0)[:4], np.flatnonzero(y_unl == 1)[:4]]
x_lab, y_lab = x_unl[lab], y_unl[lab]
steps = 30 if SMALL else 1500


def train(unsupervised, seed=0):
    critic = SSCritic(in_dim=2, hidden=(64, 64), n_classes=2, sigma_in=0.05, sigma_h=0.1, generator=seed)
    opt = sg.optim.Adam(critic.parameters(), lr=3e-3)
    g = np.random.default_rng(seed)
    for _ in range(steps):
        ll, _ = critic(sg.tensor(x_lab))
        if unsupervised:
            lu, _ = critic(sg.tensor(x_unl[g.integers(0, len(x_unl), 128)]))
            fake = g.uniform([-1.6, -1.2], [2.6, 1.7], (128, 2)).astype(np.float32)  # a generator that fills space
            lf, _ = critic(sg.tensor(fake))
            loss = critic_loss(ll, y_lab, lu, lf, form="K")
        else:
            loss = -log_p_class(ll, form="K", conditional=True)[np.arange(len(y_lab)), y_lab].mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    critic.eval()
    with sg.no_grad():
        acc = float((sg.to_numpy(predict(critic(sg.tensor(x_test))[0], form="K")) == y_test).mean())
    return critic, acc


for unsupervised in (False, True):
    _, acc = train(unsupervised)
    print(f"{'labelled + unlabelled + fake' if unsupervised else 'labelled only (8 points)':>30}: test accuracy {acc:.3f}")

# %%
critic, _ = train(True)
xx, yy = np.meshgrid(np.linspace(-1.6, 2.6, 60), np.linspace(-1.2, 1.7, 50))
with sg.no_grad():
    grid_logits = critic(sg.tensor(np.c_[xx.ravel(), yy.ravel()].astype(np.float32)))[0]
    d_grid = sg.to_numpy(discriminator_prob(grid_logits, form="K").data).reshape(xx.shape)
fig, ax = plt.subplots(figsize=(5, 3.4), constrained_layout=True)
cs = ax.contourf(xx, yy, d_grid, levels=10, cmap="Greys")
fig.colorbar(cs, ax=ax, label="D(x) = Z/(Z+1)")
ax.scatter(x_unl[:300, 0], x_unl[:300, 1], c=y_unl[:300], s=4, cmap="coolwarm", label="unlabelled")
ax.scatter(x_lab[:, 0], x_lab[:, 1], c="k", marker="*", s=80, label="labelled")
ax.legend(fontsize=7, loc="lower left")
plt.show()
