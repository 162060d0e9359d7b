"""Run the layers-issue benchmarks and print each figure with its ratio to the peers.

    python benchmarks/run.py            # all three
    python benchmarks/run.py mlp        # one

float32, 2 threads (OPENBLAS/OMP/MKL_NUM_THREADS=2, torch.set_num_threads(2)); the peers
take turns step by step in one process (see bench_gan_step._interleaved), so that load
from other processes falls on all of them alike. Targets (issue 3): MLP step <= PyTorch
and <= autograd / 2; DCGAN step <= 1.5 x PyTorch; DCGAN peak memory <= 2 x PyTorch.
"""
from __future__ import annotations

import os
import platform
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_gan_step as B  # noqa: E402  (sets the thread variables before NumPy loads)


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import numpy

    peers = [f"numpy {numpy.__version__}"]
    for mod in ("torch", "autograd"):
        try:
            m = __import__(mod)
            peers.append(f"{mod} {getattr(m, '__version__', '?')}")
        except ImportError:
            peers.append(f"{mod} absent")
    return f"{cpu}, {os.cpu_count()} logical CPUs, Python {platform.python_version()}, " + ", ".join(peers)


def main(which):
    print("machine:", machine())
    print(f"{'benchmark':<28}{'scratchgen':>12}{'torch':>12}{'autograd':>12}   ratios")
    if "mlp" in which:
        r = B.bench_mlp()
        ratios = []
        if "torch" in r:
            ratios.append(f"ours/torch = {r['scratchgen'] / r['torch']:.2f} (target <= 1)")
        if "autograd" in r:
            ratios.append(f"autograd/ours = {r['autograd'] / r['scratchgen']:.2f} (target >= 2)")
        print(f"{'MLP GAN step (ms)':<28}{r['scratchgen']:>12.2f}{r.get('torch', float('nan')):>12.2f}"
              f"{r.get('autograd', float('nan')):>12.2f}   " + "; ".join(ratios))
    if "dcgan" in which:
        r = B.bench_dcgan()
        ratio = f"ours/torch = {r['scratchgen'] / r['torch']:.2f} (target <= 1.5)" if "torch" in r else ""
        print(f"{'DCGAN step (ms)':<28}{r['scratchgen']:>12.1f}{r.get('torch', float('nan')):>12.1f}{'':>12}   {ratio}")
    if "memory" in which:
        r = B.bench_memory()
        ours = r["scratchgen"]["peak_rss_over_baseline_mib"]
        theirs = r.get("torch", {}).get("peak_rss_over_baseline_mib", float("nan"))
        ratio = f"ours/torch = {ours / theirs:.2f} (target <= 2)" if "torch" in r else ""
        print(f"{'DCGAN peak memory (MiB)':<28}{ours:>12.1f}{theirs:>12.1f}{'':>12}   {ratio}"
              f"; scratchgen tracemalloc peak {r['scratchgen']['tracemalloc_peak_mib']:.1f} MiB")


if __name__ == "__main__":
    main(sys.argv[1:] or ["mlp", "dcgan", "memory"])
