r"""How much of a digit's class survives the ``denoise`` corruption? Two estimates independent of pix2pix.

The corruption of :func:`scratchgen.data.pairs.corrupt`: :math:`\tilde x = \mathrm{clip}(x + \sigma\varepsilon, -1, 1)`,
then each pixel with probability ρ replaced by ±1 (equal odds). Its likelihood per pixel, for a clean value x:

.. math::
    p(\tilde x \mid x) = \begin{cases}
      (1-\rho)\,\frac{1}{\sigma}\varphi\big(\frac{\tilde x - x}{\sigma}\big) & |\tilde x| < 1 \\
      \frac{\rho}{2} + (1-\rho)\,\Phi\big(\frac{-1 - x}{\sigma}\big) & \tilde x = -1 \\
      \frac{\rho}{2} + (1-\rho)\,\Phi\big(\frac{x - 1}{\sigma}\big) & \tilde x = +1
    \end{cases}

(a mixture of a density and two point masses; for a given :math:`\tilde x` every candidate x is measured
against the same kind, so the posterior is well defined). With the 1,258 training digits
:math:`x_1..x_M` as the prior (each 1/M), the posterior over them is
:math:`w_m \propto \prod_i p(\tilde x_i \mid x_{m,i})`, and

* **Bayes (empirical prior)**: the class :math:`\arg\max_c \sum_{m: y_m = c} w_m` -- the Bayes classifier
  under the empirical prior, an estimate of the best any denoiser + classifier can do;
* **MMSE → shipped classifier**: the posterior mean :math:`\hat x = \sum_m w_m x_m`, read by the shipped
  digits classifier (what a perfect L2 denoiser hands it);
* **CNN on corrupted digits** (``--cnn``): the shipped classifier's architecture
  (:class:`~scratchgen.metrics.features.DigitsClassifier`) trained with Adam on freshly corrupted training
  digits every epoch, tested on the corrupted held-out digits (scratchgen's own nn/optim).

All three are lower bounds of what is possible (the true prior is not the 1,258 training digits, and the CNN is one
trained model); the accuracy of the shipped classifier on the corrupted input is the baseline. The held-out
corruption is the one pix2pix seed S is scored on: ``paired_data("denoise", seed=S + 30000, ...)``.

    OPENBLAS_NUM_THREADS=1 python benchmarks/denoise_ceiling.py                       # the sweep, seconds
    OPENBLAS_NUM_THREADS=1 python benchmarks/denoise_ceiling.py --cnn --grid 0.5,0.2 0.5,0.1   # + CNN, minutes
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from scratchgen.data.pairs import corrupt, paired_data  # noqa: E402
from scratchgen.metrics.features import digit_log_probs  # noqa: E402

GRID = [(0.5, 0.2), (0.5, 0.1), (0.5, 0.05), (0.5, 0.0), (0.3, 0.2), (0.3, 0.1), (0.3, 0.05), (0.3, 0.0),
        (0.7, 0.0), (0.4, 0.1)]


def _Phi(z):
    return 0.5 * (1.0 + np.vectorize(math.erf)(z / math.sqrt(2.0)))


def log_likelihood(xt, X, sigma, rho):
    r""":math:`\log p(\tilde x_n \mid x_m)` summed over pixels: (N, M) for ``xt`` (N, D) and ``X`` (M, D)."""
    X = X.astype(np.float64)
    lo = np.log(rho / 2 + (1 - rho) * _Phi((-1 - X) / sigma))  # (M, D): log-mass at -1
    hi = np.log(rho / 2 + (1 - rho) * _Phi((X - 1) / sigma))  # (M, D): log-mass at +1
    out = np.empty((xt.shape[0], X.shape[0]))
    for s in range(0, xt.shape[0], 32):
        t = xt[s:s + 32].astype(np.float64)[:, None, :]  # (n, 1, D)
        inner = math.log(1 - rho) - math.log(sigma) - 0.5 * math.log(2 * math.pi) - 0.5 * ((t - X) / sigma) ** 2
        ll = np.where(t <= -1, lo, np.where(t >= 1, hi, inner))  # (n, M, D)
        out[s:s + 32] = ll.sum(axis=2)
    return out


def bayes(xt, X, y_train, sigma, rho):
    """(class posterior (N, 10), posterior mean (N, D)) under the empirical prior of the training digits."""
    ll = log_likelihood(xt, X, sigma, rho)
    w = np.exp(ll - ll.max(axis=1, keepdims=True))
    w /= w.sum(axis=1, keepdims=True)  # (N, M)
    post = np.stack([w[:, y_train == c].sum(axis=1) for c in range(10)], axis=1)
    return post, w @ X.astype(np.float64)


def shipped_accuracy(x, y):
    return float((np.argmax(digit_log_probs(np.clip(x, -1, 1).astype(np.float32)), axis=1) == y).mean())


def nearest_neighbour_clean(d):
    """The same estimate without corruption (sigma -> 0): each clean held-out digit read as the class of the nearest
    training digit; how much of the class the 1,258 training digits carry as a prior."""
    X, T = d.b_train.reshape(len(d.b_train), -1), d.b_test.reshape(len(d.b_test), -1)
    dist = ((T[:, None, :] - X[None, :, :]) ** 2).sum(axis=2)  # (N_test, N_train)
    return float((d.y_train[dist.argmin(axis=1)] == d.y_test).mean())


def cnn_on_corrupted(sigma, rho, a_test, y_test, x_train, y_train, epochs=40, seed=0):
    """The shipped classifier's architecture trained on training digits corrupted afresh each epoch."""
    from scratchgen import optim
    from scratchgen.autodiff import functional as AF
    from scratchgen.autodiff.tensor import no_grad, tensor
    from scratchgen.backend import rng
    from scratchgen.metrics.features import DigitsClassifier

    g = rng(seed)
    model = DigitsClassifier(generator=g)
    opt = optim.Adam(model.parameters(), lr=1e-3)
    sched = optim.CosineAnnealingLR(opt, T_max=epochs)
    n = x_train.shape[0]
    for _ in range(epochs):
        xc = corrupt(x_train, g, sigma, rho)  # a fresh corruption of every training digit
        perm = g.permutation(n)
        for i in range(0, n, 64):
            idx = perm[i:i + 64]
            loss = -AF.log_softmax(model(tensor(xc[idx])), axis=1)[np.arange(idx.shape[0]), y_train[idx]].mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
    model.eval()
    with no_grad():
        pred = np.argmax(model(tensor(a_test)).data, axis=1)
    return float((pred == y_test).mean())


def confidence(log_probs, y):
    """Accuracy, the classifier's mean top probability on the right and on the wrong outputs, and the three most
    frequent confusions (true -> read) with their counts."""
    p = np.exp(log_probs)
    pred, top = p.argmax(axis=1), p.max(axis=1)
    right = pred == y
    pairs, counts = np.unique(np.stack([y[~right], pred[~right]], axis=1), axis=0, return_counts=True)
    order = np.argsort(-counts)[:3]
    return {"accuracy": float(right.mean()), "confidence_right": float(top[right].mean()),
            "confidence_wrong": float(top[~right].mean()) if (~right).any() else None,
            "confusions": [f"{a}->{b} x{c}" for (a, b), c in zip(pairs[order].tolist(), counts[order].tolist())]}


def trained_outputs(run_dir):
    """The held-out outputs of a finished ``scratchgen train pix2pix --task denoise`` run: (outputs, labels)."""
    from scratchgen.autodiff.tensor import no_grad, tensor
    from scratchgen.checkpoint import load
    from scratchgen.gan.train_i2i import I2IConfig, build_i2i_models

    state = load(os.path.join(run_dir, "checkpoint.npz"))
    cfg = I2IConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in state["config"].items()})
    G = build_i2i_models(cfg, 0)["G"]
    G.load_state_dict(state["G"])
    G.eval()
    d = paired_data("denoise", seed=cfg.seed + 30_000, sigma=cfg.noise, rho=cfg.salt)
    with no_grad():
        return G(tensor(d.a_test)).data, d.y_test


def report_runs(run_dirs):
    """What the classifier makes of trained runs' outputs, beside the MMSE denoiser's on the same inputs."""
    for run_dir in run_dirs:
        out, y = trained_outputs(run_dir)
        print(run_dir, confidence(digit_log_probs(np.clip(out, -1, 1).astype(np.float32)), y), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--grid", nargs="*", help="sigma,rho pairs (default: a sweep of 10)")
    ap.add_argument("--seeds", type=int, nargs="*", default=[0], help="pix2pix seeds whose held-out corruption to use")
    ap.add_argument("--cnn", action="store_true", help="also train a CNN on corrupted digits (about a minute each)")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--json", help="write the rows here")
    ap.add_argument("--runs", nargs="*", help="pix2pix denoise run folders: the classifier's confidence on their "
                    "right and wrong held-out outputs (and the MMSE denoiser's on each grid row)")
    args = ap.parse_args()
    if args.runs:
        report_runs(args.runs)
    grid = [tuple(float(v) for v in s.split(",")) for s in args.grid] if args.grid else GRID
    rows = []
    print(f"nearest training digit on the clean held-out digits: {nearest_neighbour_clean(paired_data('fill')):.3f}")
    print("sigma  rho  seed | input(shipped)  MMSE->shipped  Bayes(empirical)  CNN(corrupted) | clean  sec")
    for sigma, rho in grid:
        for seed in args.seeds:
            t0 = time.process_time()
            d = paired_data("denoise", seed=seed + 30_000, sigma=sigma, rho=rho)
            X, Xt = d.b_train.reshape(len(d.b_train), -1), d.a_test.reshape(len(d.a_test), -1)
            post, mean = bayes(Xt, X, d.y_train, sigma, rho)
            if args.runs:
                mmse = mean.reshape(d.a_test.shape).astype(np.float32)
                print(f"MMSE denoiser, sigma {sigma}, rho {rho}, seed {seed}:", confidence(digit_log_probs(mmse), d.y_test))
            row = {"sigma": sigma, "rho": rho, "seed": seed, "input": shipped_accuracy(d.a_test, d.y_test),
                   "mmse_shipped": shipped_accuracy(mean.reshape(d.a_test.shape), d.y_test),
                   "bayes_empirical": float((post.argmax(axis=1) == d.y_test).mean()),
                   "mmse_l1": float(np.abs(mean.reshape(d.a_test.shape) - d.b_test).mean()),
                   "clean": shipped_accuracy(d.b_test, d.y_test)}
            if args.cnn:
                row["cnn_corrupted"] = cnn_on_corrupted(sigma, rho, d.a_test, d.y_test, d.b_train, d.y_train,
                                                        args.epochs, seed)
            row["cpu_s"] = round(time.process_time() - t0, 1)
            rows.append(row)
            cnn = f"{row['cnn_corrupted']:.3f}" if "cnn_corrupted" in row else "  -  "
            print(f"{sigma:4.2f} {rho:4.2f} {seed:4d} | {row['input']:.3f}  {row['mmse_shipped']:.3f}  "
                  f"{row['bayes_empirical']:.3f}  {cnn} | {row['clean']:.3f}  {row['cpu_s']}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
