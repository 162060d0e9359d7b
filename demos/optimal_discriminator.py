r"""The optimal discriminator, visible: a trained D(x) against the analytic p/(p+q) in 1-D.

For a fixed generator distribution q and data p, the discriminator that minimises the
binary cross-entropy  -E_p[log D] - E_q[log(1 - D)]  is  D*(x) = p(x) / (p(x) + q(x))
(Goodfellow et al. 2014, Proposition 1). Here p is a two-component Gaussian mixture,
q a wide Gaussian; an MLP discriminator is trained on samples only and compared with D*.

    python demos/optimal_discriminator.py --out runs/optimal_d          # ~1 minute
    python demos/optimal_discriminator.py --out runs/optimal_d --quick  # seconds (CI)
"""
import argparse
import math
import os

import numpy as np

import scratchgen as sg
from scratchgen import nn, optim
from scratchgen.data import mixture_1d, mixture_1d_pdf
from scratchgen.gan import losses as L

P = dict(means=(-2.0, 2.0), stds=(0.5, 0.5), weights=(0.5, 0.5))  # data p
Q = dict(means=(0.0,), stds=(1.5,), weights=(1.0,))  # generator q (fixed)


def train_discriminator(steps, batch=512, seed=0):
    gen = sg.rng(seed)
    D = nn.Sequential(nn.Linear(1, 64, generator=gen), nn.LeakyReLU(0.2),
                      nn.Linear(64, 64, generator=gen), nn.LeakyReLU(0.2), nn.Linear(64, 1, generator=gen))
    opt = optim.Adam(D.parameters(), lr=2e-3, betas=(0.9, 0.999))
    sched = optim.CosineAnnealingLR(opt, T_max=steps)
    for _ in range(steps):
        x_p = sg.tensor(mixture_1d(batch, **P, seed=gen).x)
        x_q = sg.tensor(mixture_1d(batch, **Q, seed=gen).x)
        loss = L.d_loss(D(x_p), D(x_q))  # BCE: label 1 on p, 0 on q
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return D


def run(out, steps, seed=0):
    """Train D for ``steps`` updates, compare it with D* = p/(p+q); write ``metrics.json`` and
    ``optimal_discriminator.png`` into ``out`` (each atomically); return the metrics."""
    from scratchgen import viz
    from scratchgen.training import write_json

    os.makedirs(out, exist_ok=True)
    D = train_discriminator(steps, seed=seed)
    x = np.linspace(-4, 4, 801)
    p, q = mixture_1d_pdf(x, **P), mixture_1d_pdf(x, **Q)
    d_star = sg.divergences.optimal_discriminator(p, q)
    D.eval()
    with sg.no_grad():
        d_hat = sg.sigmoid(D(sg.tensor(x[:, None].astype(np.float32)))).numpy()[:, 0]
    bulk = (p + q) > 0.05  # where samples actually land
    err = float(np.abs(d_hat - d_star)[bulk].max())
    mean_err = float(np.abs(d_hat - d_star)[bulk].mean())
    metrics = {"steps": steps, "seed": seed, "max_abs_error": err, "mean_abs_error": mean_err}
    write_json(os.path.join(out, "metrics.json"), metrics)

    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(x, p, c="0.5", lw=1, label="data p(x)")
    ax.plot(x, q, c="0.5", lw=1, ls="--", label="generator q(x)")
    ax.plot(x, d_star, c="k", lw=2, label="D*(x) = p/(p+q)")
    ax.plot(x, d_hat, c="crimson", lw=1.5, label=f"trained D(x), {steps} steps")
    ax.set_xlabel("x")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"max |D - D*| = {err:.3f} where p+q > 0.05", fontsize=10)
    ax.legend(fontsize=8, loc="upper center", ncol=2)
    fig.tight_layout()
    viz.save_figure(fig, os.path.join(out, "optimal_discriminator.png"), dpi=110)
    return metrics


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="runs/optimal_discriminator", help="output directory")
    ap.add_argument("--steps", type=int, default=3000, help="discriminator updates")
    ap.add_argument("--quick", action="store_true", help="a short run (CI)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    metrics = run(args.out, 200 if args.quick else args.steps, seed=args.seed)
    print(f"max |D(x) - p/(p+q)| where p+q > 0.05: {metrics['max_abs_error']:.3f} "
          f"(mean {metrics['mean_abs_error']:.3f}) after {metrics['steps']} steps")
    print(f"wrote {args.out}/optimal_discriminator.png")
    if not math.isfinite(metrics["max_abs_error"]):
        raise SystemExit("non-finite discriminator output")


if __name__ == "__main__":
    main()
