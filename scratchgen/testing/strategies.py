"""Hypothesis strategies for property tests of generative-model math (for the test suite and for courses).

Every strategy draws NumPy arrays in float64 (gradient checks and identities are checked in float64); the
values are bounded and finite unless a strategy says otherwise (``logits(extreme=True)``).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np  # test helpers build NumPy inputs; they are not math code
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

__all__ = ["shapes", "float_arrays", "broadcastable_pair", "away_from", "probability_vectors",
           "distribution_pairs", "GaussianMixture", "gaussian_mixtures", "noise_schedules", "timesteps",
           "image_batches", "logits"]


def shapes(min_dims=0, max_dims=3, min_side=1, max_side=4):
    """Array shapes, size-1 dimensions included."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def float_arrays(shape=None, min_value=-2.0, max_value=2.0, dtype=np.float64):
    """Float arrays (float64 by default, for gradient checks) with bounded finite values."""
    elements = st.floats(min_value, max_value, allow_nan=False, allow_infinity=False, width=64)
    return hnp.arrays(dtype, shape if shape is not None else shapes(), elements=elements)


@st.composite
def broadcastable_pair(draw, min_value=-2.0, max_value=2.0, max_dims=3):
    """Two float64 arrays whose shapes broadcast together (possibly to a larger shape)."""
    bs = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=max_dims, max_side=3))
    x = draw(float_arrays(bs.input_shapes[0], min_value, max_value))
    y = draw(float_arrays(bs.input_shapes[1], min_value, max_value))
    return x, y


def away_from(x, points=(0.0,), margin=0.05):
    """Move entries of ``x`` that are within ``margin`` of a kink to ``point + 2*margin``.

    Central differences are wrong across a kink (abs at 0, relu at 0, clip at
    its bounds), so gradient checks keep their inputs away from kinks.
    """
    x = np.array(x, dtype=np.float64, copy=True)
    for p in points:
        near = np.abs(x - p) < margin
        x[near] = p + 2 * margin
    return x


@st.composite
def probability_vectors(draw, size=None, min_size=2, max_size=8, allow_zero=True):
    r"""A probability vector :math:`p \in \Delta^{n-1}` (non-negative, sums to 1), shape (n,).

    With ``allow_zero`` some entries may be exactly 0 (outcomes without mass); at least one is positive.
    No subnormal weights are drawn: halving the smallest subnormal (5e-324) flushes it to 0, so the textbook
    :math:`M = (P + Q)/2` of a JSD would lose an outcome's support, an artefact of floating point that a
    property about the math should not grade.
    """
    n = size if size is not None else draw(st.integers(min_size, max_size))
    low = 0.0 if allow_zero else 0.01
    w = np.array(draw(st.lists(st.floats(low, 1.0, allow_subnormal=False), min_size=n, max_size=n)),
                 dtype=np.float64)
    if w.sum() <= 0:
        w[draw(st.integers(0, n - 1))] = 1.0
    return w / w.sum()


@st.composite
def distribution_pairs(draw, min_size=2, max_size=8, allow_zero=True):
    r"""Two probability vectors (p, q) on a common support of n outcomes, each of shape (n,)."""
    n = draw(st.integers(min_size, max_size))
    return (draw(probability_vectors(n, allow_zero=allow_zero)), draw(probability_vectors(n, allow_zero=allow_zero)))


class GaussianMixture(NamedTuple):
    r"""A mixture :math:`\sum_k w_k\,\mathcal N(\mu_k, \sigma_k^2 I)` in d dimensions: weights (K,), means (K, d),
    stds (K,)."""

    weights: np.ndarray
    means: np.ndarray
    stds: np.ndarray

    def log_density(self, x):
        r""":math:`\log p(x)` at points x of shape (N, d): a log-sum-exp over the components, shape (N,)."""
        x = np.asarray(x, dtype=np.float64)
        d = self.means.shape[1]
        sq = ((x[:, None, :] - self.means[None]) ** 2).sum(axis=2)  # (N, K)
        log_k = (np.log(self.weights) - d * np.log(self.stds) - 0.5 * d * np.log(2 * np.pi)
                 - 0.5 * sq / self.stds ** 2)
        top = log_k.max(axis=1, keepdims=True)
        return (top + np.log(np.exp(log_k - top).sum(axis=1, keepdims=True)))[:, 0]

    def density(self, x):
        """:math:`p(x)` at points x of shape (N, d), shape (N,)."""
        return np.exp(self.log_density(x))

    def sample(self, n, seed=0):
        """n draws, shape (n, d)."""
        g = np.random.default_rng(seed)
        k = g.choice(len(self.weights), size=n, p=self.weights)
        return self.means[k] + self.stds[k, None] * g.standard_normal((n, self.means.shape[1]))


@st.composite
def gaussian_mixtures(draw, dim=1, max_components=4, spread=3.0, min_std=0.2, max_std=1.5):
    """A :class:`GaussianMixture` of 1 to ``max_components`` components in ``dim`` (1 or 2, or more) dimensions."""
    K = draw(st.integers(1, max_components))
    w = draw(probability_vectors(K, allow_zero=False))
    means = draw(float_arrays((K, dim), -spread, spread))
    stds = draw(float_arrays((K,), min_std, max_std))
    return GaussianMixture(w, means, stds)


@st.composite
def noise_schedules(draw, min_T=1, max_T=40):
    r"""A valid DDPM noise schedule (:class:`scratchgen.diffusion.schedules.Schedule`): linear, cosine or betas
    drawn in (1e-4, 0.5), with T in ``[min_T, max_T]``."""
    from ..diffusion.schedules import Schedule, cosine_schedule, linear_schedule

    T = draw(st.integers(min_T, max_T))
    kind = draw(st.sampled_from(["linear", "cosine", "random"]))
    if kind == "linear":
        return linear_schedule(T, beta_1=1e-4, beta_T=0.2) if T > 1 else linear_schedule(1)
    if kind == "cosine":
        return cosine_schedule(T)
    return Schedule(draw(float_arrays((T,), 1e-4, 0.5)), name="drawn")


def timesteps(T, batch):
    """An integer array of shape (batch,) with values in 1..T (t runs 1..T as in Ho et al.)."""
    return hnp.arrays(np.int64, (batch,), elements=st.integers(1, T))


def image_batches(min_batch=1, max_batch=4, channels=(1, 3), min_side=2, max_side=6, min_value=-1.0, max_value=1.0):
    """Batches of images, shape (B, C, H, W) (channels first, as the image models take them)."""
    shape = st.tuples(st.integers(min_batch, max_batch), st.sampled_from(channels),
                      st.integers(min_side, max_side), st.integers(min_side, max_side))
    return shape.flatmap(lambda s: float_arrays(s, min_value, max_value))


def logits(shape=None, extreme=False, bound=8.0):
    """Logits in [-bound, bound]; with ``extreme`` also values of magnitude up to 1e4 (where naive
    ``log(sigmoid(l))`` or ``log(1 - sigmoid(l))`` round to -inf)."""
    moderate = st.floats(-bound, bound, allow_nan=False, width=64)
    elements = st.one_of(moderate, st.sampled_from([-1e4, -800.0, -40.0, 40.0, 800.0, 1e4])) if extreme else moderate
    return hnp.arrays(np.float64, shape if shape is not None else shapes(1, 2), elements=elements)
