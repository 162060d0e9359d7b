"""Conditional GAN on the 8×8 digits: ask for a digit, get it.

    OPENBLAS_NUM_THREADS=1 python demos/digits_cgan.py --out runs/digits_cgan            # train, then draw 0..9
    python demos/digits_cgan.py --checkpoint runs/digits_cgan/checkpoint.npz --draw 4 2   # draw 4s and 2s
    python demos/digits_cgan.py --quick --out /tmp/cgan                                  # CI: a few steps

Training writes the run directory of ``scratchgen train cgan`` (samples.png has digit k in
row k; metrics.json has ``class_accuracy``: the fraction of samples that the digits classifier
reads as the digit asked for). ``--draw`` then writes ``draw_<digits>.png``: for each requested
digit one row of 10 samples from fresh noise z.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from digits_dcgan import main as train_main  # noqa: E402

from scratchgen.autodiff.tensor import no_grad, tensor  # noqa: E402
from scratchgen.checkpoint import load  # noqa: E402
from scratchgen.gan.dcgan import DCGANGenerator  # noqa: E402
from scratchgen.viz import save_image_grid  # noqa: E402


def draw(G, digits, n_per_digit=10, seed=123):
    """Images (len(digits)·n, 1, 8, 8): n samples of each requested digit, G in eval mode."""
    if any(not 0 <= d <= 9 for d in digits):
        raise ValueError(f"draw: digits must be in 0..9, received {digits}")
    g = np.random.default_rng(seed)
    y = np.repeat(np.asarray(digits, dtype=np.int64), n_per_digit)
    z = tensor(g.standard_normal((len(y), G.z_dim)).astype(np.float32))
    G.eval()
    with no_grad():
        return G(z, y).data, y


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default=None, help="draw from this cgan checkpoint instead of training")
    p.add_argument("--draw", type=int, nargs="+", default=list(range(10)), help="digits to draw")
    p.add_argument("--out", default="runs/digits_cgan")
    args, rest = p.parse_known_args(argv)
    if args.checkpoint is None:
        run, _ = train_main(rest + ["--out", args.out], model="cgan")
        G = run.G
    else:
        state = load(args.checkpoint)
        c = state["config"]
        G = DCGANGenerator(c["z_dim"], 8, c["width"], n_classes=10)
        G.load_state_dict(state["G"])
    x, _ = draw(G, args.draw)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "draw_" + "".join(map(str, args.draw)) + ".png")
    save_image_grid(x, path, nrow=10, title="row k: the k-th requested digit " + str(args.draw))
    print("wrote", path)
    return x


if __name__ == "__main__":
    main()
