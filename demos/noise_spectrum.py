"""What the forward process does to the digits' frequencies: the radially averaged power spectrum of x_t against t.

    python demos/noise_spectrum.py               # seconds (no training)
    python demos/noise_spectrum.py --quick       # fewer noise draws: the CI version

The 1,797 digits in [−1, 1] (``load_digits(scale="unit")``), each noised ``--copies`` times by
Ho's Eq. 4 (``q_sample``) on the linear schedule (T = 1000). For each t shown, the measured spectrum
``radial_power_spectrum(x_t)`` beside the closed form :math:`\\bar\\alpha_t P_0(f) + (1-\\bar\\alpha_t)`
(``noised_power_spectrum``); the per-frequency SNR :math:`\\bar\\alpha_t P_0(f)/(1-\\bar\\alpha_t)`
(``snr_per_frequency``) against t, and the step at which each frequency's SNR falls below 1
(``destruction_step``). Writes ``OUT/noise_spectrum.png`` and ``OUT/results.json``.
"""
import argparse
import json
import os

import numpy as np

from scratchgen.data.digits import load_digits
from scratchgen.diffusion.ddpm import q_sample
from scratchgen.diffusion.schedules import make_schedule
from scratchgen.diffusion.spectrum import (
    destruction_step,
    noised_power_spectrum,
    radial_power_spectrum,
    snr_per_frequency,
)

TS = (0, 25, 50, 100, 200, 400, 700, 1000)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--copies", type=int, default=8, help="noise draws per digit")
    ap.add_argument("--seed", type=int, default=0, help="seed of the noise")
    ap.add_argument("--out", default="runs/noise_spectrum", help="output directory")
    ap.add_argument("--quick", action="store_true", help="one noise draw per digit (CI)")
    args = ap.parse_args(argv)
    copies = 1 if args.quick else args.copies
    os.makedirs(args.out, exist_ok=True)
    x, _ = load_digits(scale="unit", dtype=np.float64)  # (1797, 1, 8, 8)
    sched = make_schedule("linear", 1000)
    f, P0 = radial_power_spectrum(x)
    g = np.random.default_rng(args.seed)
    xs = np.concatenate([x] * copies)
    measured, shown = {}, {}
    for t in TS:
        xt = xs if t == 0 else q_sample(sched, xs, np.full(xs.shape[0], t), g.standard_normal(xs.shape))
        measured[t] = radial_power_spectrum(xt)[1]
        shown[t] = xt[0, 0]  # the first digit
    steps = destruction_step(P0, sched)
    worst = max(float(np.max(np.abs(measured[t] / noised_power_spectrum(P0, sched.alpha_bar[t]) - 1))) for t in TS)
    results = {"frequencies": f.tolist(), "P0": P0.tolist(), "destruction_step": steps.tolist(),
               "measured": {str(t): v.tolist() for t, v in measured.items()},
               "max_relative_error_vs_closed_form": worst, "copies": copies}
    with open(os.path.join(args.out, "results.json"), "w") as fh:
        json.dump(results, fh, indent=2)
    print("f (cycles/image): " + " ".join(f"{v:>6d}" for v in f))
    print("P_0(f):           " + " ".join(f"{v:6.3g}" for v in P0))
    print("SNR < 1 from t =  " + " ".join(f"{v:>6d}" for v in steps))
    print(f"measured P_t vs the closed form, worst relative error over t and f: {worst:.3f}")
    figure(f, P0, measured, shown, steps, sched, os.path.join(args.out, "noise_spectrum.png"))
    return results


def figure(f, P0, measured, shown, steps, sched, path):
    try:
        from scratchgen.viz import save_figure
    except ImportError:
        return
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(12, 5.6))
    top = fig.add_gridspec(2, len(TS), height_ratios=[1, 3.2], hspace=0.35)
    for i, t in enumerate(TS):
        ax = fig.add_subplot(top[0, i])
        ax.imshow(shown[t], cmap="gray_r", interpolation="nearest")
        ax.set_title(f"t = {t}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    bottom = top[1, :].subgridspec(1, 2, wspace=0.28)
    ax = fig.add_subplot(bottom[0])
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(TS)))
    for c, t in zip(colors, TS):
        ax.semilogy(f, measured[t], "o", color=c, ms=4)
        ax.semilogy(f, noised_power_spectrum(P0, sched.alpha_bar[t]), "-", color=c, lw=1, label=f"t = {t}")
    ax.set_xlabel("spatial frequency |k| (cycles per image)")
    ax.set_ylabel("radially averaged power P_t(f)")
    ax.set_title("spectrum of x_t: dots measured, lines ᾱ_t P_0(f) + (1 − ᾱ_t)", fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3, which="both")
    ax = fig.add_subplot(bottom[1])
    t_all = np.arange(1, sched.T + 1)
    snr = snr_per_frequency(P0, sched.alpha_bar[1:])  # (T, F)
    fc = plt.cm.plasma(np.linspace(0, 0.85, len(f)))
    for k in range(len(f)):
        ax.semilogy(t_all, snr[:, k], color=fc[k], lw=1.2, label=f"f = {f[k]}: SNR < 1 at t = {steps[k]}")
        ax.plot(steps[k], 1.0, "o", color=fc[k], ms=4)
    ax.axhline(1.0, color="k", ls="--", lw=0.8)
    ax.set_ylim(1e-4, 1e4)
    ax.set_xlabel("diffusion step t (linear schedule, T = 1000)")
    ax.set_ylabel("per-frequency SNR ᾱ_t P_0(f) / (1 − ᾱ_t)")
    ax.set_title("high frequencies drop below SNR 1 first", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3, which="both")
    save_figure(fig, path, dpi=150, bbox_inches="tight")


if __name__ == "__main__":
    main()
