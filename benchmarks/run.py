"""Run the layers-issue benchmarks and print each figure with its ratio to the peers.

    python benchmarks/run.py            # all three
    python benchmarks/run.py mlp        # one
    python benchmarks/run.py dcgan --repeat 3   # the DCGAN step 3 times, and the median ratio

float32, 2 threads (OPENBLAS/OMP/MKL_NUM_THREADS=2, torch.set_num_threads(2)); the peers
take turns step by step in one process (see bench_gan_step._interleaved), so that load
from other processes falls on all of them alike. Targets (issue 3): MLP step <= PyTorch
and <= autograd / 2; DCGAN step <= 1.5 x PyTorch; DCGAN peak memory <= 2 x PyTorch.
"""
from __future__ import annotations

import os
import platform
import statistics
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
    from importlib import metadata

    import numpy

    peers = [f"numpy {numpy.__version__}"]
    for mod in ("torch", "autograd"):
        try:
            peers.append(f"{mod} {metadata.version(mod)}")
        except metadata.PackageNotFoundError:
            peers.append(f"{mod} absent")
    return f"{cpu}, {os.cpu_count()} logical CPUs, Python {platform.python_version()}, " + ", ".join(peers)


def load():
    """The 1-minute load average: other processes on the machine inflate every time here."""
    try:
        return f"load average {os.getloadavg()[0]:.2f}"
    except OSError:
        return "load average unknown"


def main(which, repeat=1):
    print("machine:", machine())
    print("before:", load())
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
        ratios = []
        for i in range(repeat):
            r, cpu = B.bench_dcgan(with_cpu=True)
            ratio = ""
            if "torch" in r:
                ratios.append(r["scratchgen"] / r["torch"])
                ratio = (f"ours/torch = {ratios[-1]:.2f} (target <= 1.5); CPU time per step "
                         f"{cpu['scratchgen']:.1f} vs {cpu['torch']:.1f} ms, ratio {cpu['scratchgen'] / cpu['torch']:.2f}")
            label = "DCGAN step (ms)" + (f", run {i + 1}" if repeat > 1 else "")
            print(f"{label:<28}{r['scratchgen']:>12.1f}{r.get('torch', float('nan')):>12.1f}{'':>12}   {ratio}")
        if len(ratios) > 1:
            print(f"DCGAN ours/torch, median of {len(ratios)} runs: {statistics.median(ratios):.2f} "
                  f"(runs: {', '.join(f'{q:.2f}' for q in ratios)})")
    if "memory" in which:
        r = B.bench_memory()
        ours = r["scratchgen"]["peak_rss_over_baseline_mib"]
        theirs = r.get("torch", {}).get("peak_rss_over_baseline_mib", float("nan"))
        ratio = f"ours/torch = {ours / theirs:.2f} (target <= 2)" if "torch" in r else ""
        print(f"{'DCGAN peak memory (MiB)':<28}{ours:>12.1f}{theirs:>12.1f}{'':>12}   {ratio}"
              f"; scratchgen tracemalloc peak {r['scratchgen']['tracemalloc_peak_mib']:.1f} MiB")
    print("after:", load())


if __name__ == "__main__":
    args = sys.argv[1:]
    repeat = 1
    if "--repeat" in args:
        i = args.index("--repeat")
        repeat = int(args[i + 1])
        del args[i:i + 2]
    main(args or ["mlp", "dcgan", "memory"], repeat)
