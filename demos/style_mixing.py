"""The style-mixing grid and the truncation strip of a small StyleGAN on the 8×8 digits ([StyleGAN] Figures 3, 8).

    OPENBLAS_NUM_THREADS=1 python demos/style_mixing.py --checkpoint runs/stylegan_s0/checkpoint.npz \
        --out runs/mix                                   # draw from a trained run (docs/img/stylegan_*.png)
    OPENBLAS_NUM_THREADS=1 python demos/style_mixing.py --out runs/style_mixing   # train 3000 steps, then draw
    python demos/style_mixing.py --quick --out /tmp/mix  # CI: a few steps
    python demos/style_mixing.py --compare runs/progan_1k_s0 runs/progan_s0 runs/stylegan_s0 runs/dcgan_3k_s0 \
        --out docs/img                                   # samples.npy of finished runs side by side, titled by folder
                                                         # (docs/img/karras_samples.png: the first is a run of the
                                                         # defaults before 2026-12-06, see docs/results.md)

style_mixing.png: cell (i, j) takes the coarse styles (the 4×4 layers, w at layers < crossover) from the
latent of row i and the fine styles (the 8×8 layers) from the latent of column j; the first column and the
first row show the sources themselves. truncation.png: rows are latents, columns psi from -1 to 1.5
(psi = 0: the mean image for every row). Noise is the network's fixed ("const") noise, so that only the
styles change across a row or a column.
"""
import argparse
import os

import numpy as np

import scratchgen as sg
from scratchgen.checkpoint import load
from scratchgen.gan.train_karras import KarrasConfig, build_models, train_karras


def mixing_grid(G, z_rows, z_cols, crossover):
    """(R+1, C+1) images: [0, 0] blank, row 0 the column sources, column 0 the row sources, the rest mixed."""
    R, C = z_rows.shape[0], z_cols.shape[0]
    s = 4 * 2 ** (len(G.synthesis.channels) - 1)
    grid = np.full((R + 1, C + 1, 1, s, s), -1.0, dtype=np.float32)
    with sg.no_grad():
        grid[0, 1:] = G(sg.tensor(z_cols), noise_mode="const").data
        grid[1:, 0] = G(sg.tensor(z_rows), noise_mode="const").data
        for i in range(R):
            zi = sg.tensor(np.repeat(z_rows[i:i + 1], C, axis=0))
            grid[i + 1, 1:] = G(zi, z2=sg.tensor(z_cols), crossover=crossover, noise_mode="const").data
    return grid


def truncation_strip(G, z, psis):
    with sg.no_grad():
        return np.stack([G(sg.tensor(z), psi=p, noise_mode="const").data for p in psis], axis=1)  # (N, P, 1, s, s)


def _plot(grid, path, title, xlabels=None, ylabels=None, blank_corner=False):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    R, C = grid.shape[:2]
    fig, axes = plt.subplots(R, C, figsize=(1.0 * C + 0.6, 1.0 * R + 0.7), squeeze=False)
    for i in range(R):
        for j in range(C):
            ax = axes[i, j]
            ax.imshow(grid[i, j, 0], cmap="gray_r", vmin=-1, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if blank_corner and i == 0 and j == 0:
                ax.axis("off")
            if i == 0 and xlabels is not None:
                ax.set_title(xlabels[j], fontsize=8)
            if j == 0 and ylabels is not None:
                ax.set_ylabel(ylabels[i], fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)


def compare_samples(run_dirs, path, n=100):
    """The first ``n`` samples (samples.npy) of each run, side by side, titled by the run's folder."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from scratchgen.viz import image_grid

    fig, axes = plt.subplots(1, len(run_dirs), figsize=(3.2 * len(run_dirs), 3.5), squeeze=False)
    for ax, d in zip(axes[0], run_dirs):
        x = np.load(os.path.join(d, "samples.npy"))[:n]
        ax.imshow(image_grid(x, 10), cmap="gray_r", vmin=-1, vmax=1, interpolation="nearest")
        ax.set_title(os.path.basename(os.path.normpath(d)), fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", help="a StyleGAN run's checkpoint.npz (else a run is trained)")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rows", type=int, default=5)
    p.add_argument("--cols", type=int, default=6)
    p.add_argument("--out", default="runs/style_mixing")
    p.add_argument("--quick", action="store_true", help="3 training steps of a tiny model (a smoke test)")
    p.add_argument("--compare", nargs="+", metavar="RUN_DIR", help="only draw the samples of these runs side by side")
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    if args.compare:
        compare_samples(args.compare, os.path.join(args.out, "karras_samples.png"))
        print(f"wrote {args.out}/karras_samples.png")
        return None
    if args.checkpoint:
        state = load(args.checkpoint)
        cfg = KarrasConfig.from_saved(state["config"])
        G, _ = build_models(cfg, 0)
        G.load_state_dict(state["G_ema"] if "G_ema" in state else state["G"])
    else:
        cfg = KarrasConfig(model="stylegan", steps=3 if args.quick else args.steps, seed=args.seed, progress=False,
                           **(dict(batch=8, channels=(4, 4), n_eval=20, kid_subsets=2) if args.quick else {}))
        run = train_karras(cfg, out_dir=os.path.join(args.out, "run"))
        G = run.G_eval
    G.eval()
    r = np.random.default_rng(args.seed + 1)
    z_rows = r.standard_normal((args.rows, cfg.z_dim)).astype(np.float32)
    z_cols = r.standard_normal((args.cols, cfg.z_dim)).astype(np.float32)
    crossover = G.n_ws // 2  # coarse: the 4x4 layers; fine: the 8x8 layers
    grid = mixing_grid(G, z_rows, z_cols, crossover)
    _plot(grid, os.path.join(args.out, "style_mixing.png"),
          "style mixing: coarse (4x4 layers) from the row, fine (8x8 layers) from the column",
          xlabels=[""] + [f"fine {j + 1}" for j in range(args.cols)],
          ylabels=[""] + [f"coarse {i + 1}" for i in range(args.rows)], blank_corner=True)
    psis = (-1.0, -0.5, 0.0, 0.5, 1.0, 1.5)
    strip = truncation_strip(G, z_rows, psis)
    _plot(strip, os.path.join(args.out, "truncation.png"), "truncation w_bar + psi (w - w_bar)",
          xlabels=[f"psi={p:g}" for p in psis], ylabels=[f"z {i + 1}" for i in range(args.rows)])
    print(f"wrote {args.out}/style_mixing.png and truncation.png")
    return grid, strip


if __name__ == "__main__":
    main()
