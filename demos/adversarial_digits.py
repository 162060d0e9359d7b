r"""Adversarial examples against the shipped digits classifier: accuracy against ε, and a digit that turns.

FGSM (Goodfellow et al. 2015): one step :math:`\tilde x = \mathrm{clip}(x + \epsilon\,\mathrm{sign}\nabla_x J)`;
PGD (Madry et al. 2018): ``--pgd-steps`` such steps of size 2.5ε/steps, projected back into the ℓ∞ ball of
radius ε and the pixel range [-1, 1], from a random start. Both against
:func:`scratchgen.metrics.features.load_feature_classifier` on the 539 held-out digits it never saw. ε is in
pixel units of [-1, 1]: ε = 0.125 is one of the digits' 16 grey levels.

The figure (left) is accuracy against ε for both attacks; (right) the held-out digit that PGD turns into
another class at the smallest ε of the grid: the original, the perturbation (scaled to be seen) and the
adversarial image, each with the classifier's verdict and its probability; among the digits it reads right
with probability at least 0.9 (an unsure digit turns at a smaller ε and teaches less).

    python demos/adversarial_digits.py --out runs/adversarial            # ~1 minute
    python demos/adversarial_digits.py --out runs/adversarial --quick    # seconds (CI)
    python demos/adversarial_digits.py --out runs/adversarial --figure docs/img/adversarial_digits.png
"""
import argparse
import os
import time

import numpy as np

from scratchgen.autodiff import functional as AF
from scratchgen.autodiff.tensor import no_grad, tensor
from scratchgen.data.digits import digits_split
from scratchgen.gan.adversarial import accuracy_under_attack, pgd, predict
from scratchgen.metrics.features import load_feature_classifier

EPS = (0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5)


def smallest_flip(C, x, y, eps_grid, steps, seed=0):
    """For each image, the smallest ε of ``eps_grid`` at which PGD changes the classifier's verdict (inf: none);
    and the adversarial images at those ε."""
    first = np.full(x.shape[0], np.inf)
    adv = x.copy()
    for eps in eps_grid:
        if eps == 0:
            continue
        xa = pgd(C, x, y, eps, steps=steps, seed=seed)
        flipped = (predict(C, xa) != y) & np.isinf(first)
        first[flipped] = eps
        adv[flipped] = xa[flipped]
    return first, adv


def probs(C, x):
    with no_grad():
        return np.exp(AF.log_softmax(C(tensor(x)), axis=1).data)


def figure(path, eps, acc_fgsm, acc_pgd, x, x_adv, p_clean, p_adv, eps_flip, n_test, steps):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from scratchgen.viz import save_figure

    fig = plt.figure(figsize=(10, 3.6), constrained_layout=True)
    gs = fig.add_gridspec(1, 4, width_ratios=[2.2, 1, 1, 1])
    ax = fig.add_subplot(gs[0])
    ax.plot(eps, acc_fgsm, "o-", label="FGSM (1 step)")
    ax.plot(eps, acc_pgd, "s-", label=f"PGD ({steps} steps, random start)")
    ax.set_xlabel("ε (pixels in [-1, 1]; 0.125 = one grey level)")
    ax.set_ylabel(f"accuracy on the {n_test} held-out digits")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right")
    ax.set_title("the shipped digits classifier under attack")
    delta = x_adv - x
    scale = max(float(np.abs(delta).max()), 1e-12)
    panels = [(x, f"digit {int(p_clean.argmax())}: p = {p_clean.max():.2f}", "gray_r", (-1, 1)),
              (delta, f"perturbation ×{1 / scale:.1f}\n(ℓ∞ = {eps_flip:g})", "RdBu_r", (-scale, scale)),
              (x_adv, f"read as {int(p_adv.argmax())}: p = {p_adv.max():.2f}", "gray_r", (-1, 1))]
    for k, (img, title, cmap, (lo, hi)) in enumerate(panels):
        a = fig.add_subplot(gs[k + 1])
        a.imshow(img[0], cmap=cmap, vmin=lo, vmax=hi)
        a.set_title(title, fontsize=10)
        a.set_xticks([])
        a.set_yticks([])
    save_figure(fig, path, dpi=150)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--quick", action="store_true", help="100 digits, 3 PGD steps (CI)")
    ap.add_argument("--pgd-steps", type=int, default=10)
    ap.add_argument("--figure", default=None, help="also write the figure here (docs/img/adversarial_digits.png)")
    args = ap.parse_args()
    from scratchgen.training import write_json

    os.makedirs(args.out, exist_ok=True)
    t0 = time.perf_counter()
    s = digits_split()
    n = 100 if args.quick else s.x_test.shape[0]
    steps = 3 if args.quick else args.pgd_steps
    eps = EPS[:4] if args.quick else EPS
    x, y = s.x_test[:n], s.y_test[:n]
    C = load_feature_classifier()
    acc_fgsm = accuracy_under_attack(C, x, y, eps, "fgsm")
    acc_pgd = accuracy_under_attack(C, x, y, eps, "pgd", steps=steps)
    p_all = probs(C, x)
    right = (p_all.argmax(1) == y) & (p_all.max(1) >= 0.9)  # digits the classifier reads right and is sure of
    first, adv = smallest_flip(C, x[right], y[right], eps, steps)
    i = int(np.argmin(np.where(np.isfinite(first), first, 9.0) + 1e-3 * np.arange(first.shape[0]) / first.shape[0]))
    xi, xa = x[right][i:i + 1], adv[i:i + 1]
    p_clean, p_adv = probs(C, xi)[0], probs(C, xa)[0]
    metrics = {"n_test": int(n), "eps": list(eps), "accuracy_fgsm": acc_fgsm, "accuracy_pgd": acc_pgd,
               "pgd_steps": steps, "flip": {"eps": float(first[i]), "label": int(y[right][i]),
                                            "read_as": int(p_adv.argmax()), "p_adv": float(p_adv.max()),
                                            "p_clean": float(p_clean.max())},
               "n_sure": int(right.sum()), "share_of_sure_flipped_by_eps": {str(e): float((first <= e).mean()) for e in eps if e > 0},
               "seconds": round(time.perf_counter() - t0, 1)}
    write_json(os.path.join(args.out, "metrics.json"), metrics)
    for path in [os.path.join(args.out, "adversarial_digits.png")] + ([args.figure] if args.figure else []):
        figure(path, eps, acc_fgsm, acc_pgd, xi[0], xa[0], p_clean, p_adv, first[i], n, steps)
    print(metrics)
    return metrics


if __name__ == "__main__":
    main()
