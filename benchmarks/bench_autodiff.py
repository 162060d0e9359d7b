"""Forward + backward of a 3-layer MLP (batch 256, width 256, float32), scratchgen vs peers.

Peers measured in the same run: HIPS autograd (NumPy, the same BLAS as scratchgen)
and PyTorch CPU if installed. Prints the median time per step and the ratio of
each peer to scratchgen (> 1: scratchgen is faster).

    python benchmarks/bench_autodiff.py [--reps 50] [--threads 2]
"""
import argparse
import os
import platform
import statistics
import time


def parse():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reps", type=int, default=50, help="timed steps per framework (median reported)")
    p.add_argument("--threads", type=int, default=2, help="BLAS / PyTorch threads")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--width", type=int, default=256)
    return p.parse_args()


ARGS = parse()
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(ARGS.threads)

import numpy as np  # noqa: E402  (after the thread settings)

import scratchgen as sg  # noqa: E402


def median_ms(step, reps, warmup=5):
    for _ in range(warmup):
        step()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def weights(rng, width):
    scale = np.float32(1 / np.sqrt(width))
    Ws = [(rng.standard_normal((width, width)).astype(np.float32) * scale) for _ in range(3)]
    bs = [np.zeros(width, dtype=np.float32) for _ in range(3)]
    return Ws, bs


def bench_scratchgen(x, Ws, bs, reps):
    params = [sg.tensor(a, requires_grad=True) for a in Ws + bs]
    xt = sg.tensor(x)

    def step():
        W1, W2, W3, b1, b2, b3 = params
        h = sg.relu(xt @ W1 + b1)
        h = sg.relu(h @ W2 + b2)
        out = h @ W3 + b3
        loss = (out * out).mean()
        for p in params:
            p.grad = None
        loss.backward()
        return loss

    assert step().dtype == np.float32
    return median_ms(step, reps), step


def bench_autograd(x, Ws, bs, reps):
    import autograd
    import autograd.numpy as anp

    def loss(params):
        W1, W2, W3, b1, b2, b3 = params
        h = anp.maximum(anp.dot(x, W1) + b1, 0.0)
        h = anp.maximum(anp.dot(h, W2) + b2, 0.0)
        out = anp.dot(h, W3) + b3
        return anp.mean(out * out)

    g = autograd.grad(loss)
    params = Ws + bs
    return median_ms(lambda: g(params), reps)


def bench_torch(x, Ws, bs, reps):
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(ARGS.threads)
    params = [torch.tensor(a, requires_grad=True) for a in Ws + bs]
    xt = torch.tensor(x)

    def step():
        W1, W2, W3, b1, b2, b3 = params
        h = torch.relu(xt @ W1 + b1)
        h = torch.relu(h @ W2 + b2)
        out = h @ W3 + b3
        loss = (out * out).mean()
        for p in params:
            p.grad = None
        loss.backward()

    return median_ms(step, reps)


def op_overhead(reps=2000):
    """Cost of one op with no gradient recorded, against the bare array call."""
    rows = []
    for n in (4, 256):
        a = np.random.default_rng(1).standard_normal((n, n)).astype(np.float32)
        ta, tb = sg.tensor(a), sg.tensor(a)

        def per_call_us(f):
            return 1e6 * statistics.median(
                [_timeit(f, reps) for _ in range(7)])

        bare = per_call_us(lambda: a + a)
        ours = per_call_us(lambda: ta + tb)
        rows.append((f"{n}x{n} add", bare, ours))
    return rows


def _timeit(f, reps):
    t0 = time.perf_counter()
    for _ in range(reps):
        f()
    return (time.perf_counter() - t0) / reps


def main():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((ARGS.batch, ARGS.width)).astype(np.float32)
    Ws, bs = weights(rng, ARGS.width)
    print(f"MLP forward+backward, batch {ARGS.batch}, width {ARGS.width}, 3 layers, float32, "
          f"{ARGS.threads} threads, median of {ARGS.reps}")
    print(f"machine: {platform.machine()} {platform.processor() or ''} {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, NumPy {np.__version__}")
    t_sg, _ = bench_scratchgen(x, Ws, bs, ARGS.reps)
    rows = [("scratchgen", t_sg), ("HIPS autograd", bench_autograd(x, Ws, bs, ARGS.reps))]
    t_torch = bench_torch(x, Ws, bs, ARGS.reps)
    rows.append(("PyTorch CPU", t_torch))
    print(f"{'framework':<16}{'median ms':>11}{'peer / scratchgen':>20}")
    for name, t in rows:
        if t is None:
            print(f"{name:<16}{'not installed':>11}")
        else:
            print(f"{name:<16}{t:>11.3f}{t / t_sg:>20.2f}")
    print()
    print("one op, nothing requires grad (median us per call)")
    print(f"{'op':<14}{'NumPy':>9}{'scratchgen':>12}{'overhead us':>13}")
    for name, bare, ours in op_overhead():
        print(f"{name:<14}{bare:>9.2f}{ours:>12.2f}{ours - bare:>13.2f}")


if __name__ == "__main__":
    main()
