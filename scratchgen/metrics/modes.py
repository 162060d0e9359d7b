r"""Mode coverage of samples from a known mixture (VEEGAN, Srivastava et al. 2017; PacGAN, Lin et al. 2018).

Each generated sample is assigned to its nearest centre. It is *high-quality*
if it lies within ``threshold`` standard deviations (3σ by default) of that
centre. A mode is *captured* if at least one high-quality sample is assigned
to it. The mode histogram :math:`h_k` (high-quality samples per mode,
normalised) is compared with the uniform distribution over the :math:`M` modes
by :math:`\mathrm{KL}(h \,\|\, U) = \sum_k h_k \log(M h_k)`, 0 when every mode
gets the same share, :math:`\log M` when one mode gets everything.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..backend import get_xp, to_numpy, unwrap
from ..validate import check_number, check_real_array

__all__ = ["ModeCoverage", "mode_coverage"]


@dataclass
class ModeCoverage:
    modes_captured: int
    n_modes: int
    high_quality_fraction: float
    kl_from_uniform: float
    counts: list  # high-quality samples per mode

    def as_dict(self):
        return {
            "modes_captured": self.modes_captured,
            "n_modes": self.n_modes,
            "high_quality_fraction": self.high_quality_fraction,
            "kl_from_uniform": self.kl_from_uniform,
        }


def mode_coverage(samples, centres, std, threshold=3.0) -> ModeCoverage:
    r"""Modes captured, fraction of high-quality samples and KL of the mode histogram from uniform.

    Parameters
    ----------
    samples : array (N, d)
    centres : array (M, d)
    std : float
        Standard deviation of each mixture component.
    threshold : float
        A sample is high-quality if :math:`\|x - c_{k(x)}\| \le \text{threshold}\cdot\sigma`.
    """
    xs, cs = unwrap(samples), unwrap(centres)
    check_real_array(xs, "samples", "mode_coverage", kinds="fiu")
    check_real_array(cs, "centres", "mode_coverage", kinds="fiu")
    check_number(std, "std", "mode_coverage", min=0, min_open=True)
    check_number(threshold, "threshold", "mode_coverage", min=0, min_open=True)
    xp = get_xp(xs, cs)
    xs, cs = xp.asarray(xs, dtype="float64"), xp.asarray(cs, dtype="float64")
    if xs.ndim != 2 or cs.ndim != 2 or xs.shape[1] != cs.shape[1]:
        raise ValueError(f"samples (N, d) and centres (M, d) must share d; got {xs.shape} and {cs.shape}")
    # squared distances (N, M)
    d2 = (xs * xs).sum(1)[:, None] - 2 * xs @ cs.T + (cs * cs).sum(1)[None, :]
    nearest = d2.argmin(axis=1)
    dist = xp.sqrt(xp.maximum(d2[xp.arange(xs.shape[0]), nearest], 0))
    hq = dist <= threshold * std
    counts = to_numpy(xp.bincount(nearest[hq], minlength=cs.shape[0]))
    n_hq = int(counts.sum())
    m = cs.shape[0]
    if n_hq == 0:
        kl = math.inf
    else:
        h = counts / n_hq
        kl = float(sum(p * math.log(m * p) for p in h if p > 0))
    return ModeCoverage(
        modes_captured=int((counts > 0).sum()),
        n_modes=m,
        high_quality_fraction=n_hq / xs.shape[0],
        kl_from_uniform=kl,
        counts=[int(c) for c in counts],
    )
