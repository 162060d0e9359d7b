"""The library's own training steps on NumPy and on CuPy, in the same run, and the price of drawing
random numbers on the host.

    python benchmarks/bench_backends.py                 # every benchmark, NumPy and (if usable) CuPy
    python benchmarks/bench_backends.py --steps 60 ssgan ddpm

Each trainer (``train_gan``, ``train_image_gan``, ``train_ddpm``) runs ``--steps`` updates on each
backend, and its ``callback`` stamps the time after every update. The figure is the median time
between two stamps, the first ``--warmup`` updates and every update followed by an evaluation left
out. Every update ends with ``loss.item()`` (the divergence check), which waits for the GPU, so the
stamps time finished work.

``draw`` times ``rng(0).standard_normal((64, 512), dtype=float32)``: the generator the library uses
(:class:`scratchgen.backend.HostGenerator`, NumPy's generator on the host, the result copied to the
backend) against, on CuPy, ``cupy.random.default_rng(0)`` drawing on the GPU: what the host
generator costs per draw (the SS-GAN critic draws about 15 such arrays per update).

Where CuPy or a GPU is missing, the CuPy column says why and only NumPy is timed. Ratios are
CuPy / NumPy, measured in the same process one after the other (the trainers cannot interleave).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import scratchgen as sg  # noqa: E402
from scratchgen import backend  # noqa: E402


def _median_update_ms(train, steps, warmup, eval_every):
    stamps = []
    train(lambda step, *models: stamps.append((step, time.perf_counter())))
    gaps = [1e3 * (t1 - t0) for (s0, t0), (s1, t1) in zip(stamps, stamps[1:])
            if s0 > warmup and s0 % eval_every != 0]  # an evaluation and a checkpoint follow update s0
    return statistics.median(gaps)


def gan_2d(steps, warmup):
    from scratchgen.gan.train import GANConfig, train_gan

    cfg = GANConfig(data="ring8", steps=steps, eval_every=steps, n_eval=256, progress=False)  # batch 512, MLP 128
    return _median_update_ms(lambda cb: train_gan(cfg, callback=cb), steps, warmup, cfg.eval_every)


def ssgan(steps, warmup):
    from scratchgen.gan.train_images import ImageGANConfig, train_image_gan

    cfg = ImageGANConfig(model="ssgan", steps=steps, eval_every=steps, n_eval=100, kid_subsets=5, progress=False)
    return _median_update_ms(lambda cb: train_image_gan(cfg, callback=cb), steps, warmup, cfg.eval_every)


def dcgan(steps, warmup):
    from scratchgen.gan.train_images import ImageGANConfig, train_image_gan

    cfg = ImageGANConfig(model="dcgan", steps=steps, eval_every=steps, n_eval=100, kid_subsets=5, progress=False)
    return _median_update_ms(lambda cb: train_image_gan(cfg, callback=cb), steps, warmup, cfg.eval_every)


def ddpm(steps, warmup):
    from scratchgen.diffusion.train import DDPMConfig, train_ddpm

    cfg = DDPMConfig(data="ring8", steps=steps, warmup=1, eval_every=steps, n_eval=16, progress=False)
    return _median_update_ms(lambda cb: train_ddpm(cfg, callback=cb, figures=False), steps, warmup, cfg.eval_every)


def draw(steps, warmup, device=False):
    import numpy

    xp = sg.get_xp()
    g = xp.random.default_rng(0) if device else sg.rng(0)
    ts = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        float(g.standard_normal((64, 512), dtype=numpy.float32)[0, 0])  # waits for the copy / the kernel
        if i >= warmup:
            ts.append(1e3 * (time.perf_counter() - t0))
    return statistics.median(ts)


BENCHMARKS = {"draw": draw, "gan2d": gan_2d, "dcgan": dcgan, "ssgan": ssgan, "ddpm": ddpm}
LABELS = {"draw": "draw 64x512 normals, host generator (ms)", "gan2d": "2-D GAN update, ring8 (ms)",
          "dcgan": "DCGAN update, 8x8 digits (ms)", "ssgan": "SS-GAN update, 8x8 digits (ms)",
          "ddpm": "DDPM update, ring8 (ms)"}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("which", nargs="*", metavar="BENCHMARK", help=f"some of {', '.join(BENCHMARKS)} (default: all)")
    p.add_argument("--steps", type=int, default=40, help="timed updates (draws) per benchmark and backend")
    p.add_argument("--warmup", type=int, default=5, help="updates left out at the start")
    args = p.parse_args(argv)
    which = args.which or list(BENCHMARKS)
    unknown = [w for w in which if w not in BENCHMARKS]
    if unknown:
        p.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    try:
        backend._load_cupy()
        cupy_note = None
    except sg.BackendError as e:
        cupy_note = str(e).split(". ")[0]
    print(f"numpy {sg.get_xp().__version__}; cupy: {'usable' if cupy_note is None else cupy_note}")
    print(f"{'benchmark':<44}{'numpy':>10}{'cupy':>10}   cupy / numpy")
    rows = {}
    for name in which:
        steps = args.steps if name == "draw" else args.steps + args.warmup + 1  # trainers: + the evaluated update
        t_np = BENCHMARKS[name](steps, args.warmup)
        t_cp = None
        if cupy_note is None:
            with sg.use_backend("cupy"):
                t_cp = BENCHMARKS[name](steps, args.warmup)
        rows[name] = (t_np, t_cp)
        ratio = f"{t_cp / t_np:.2f}" if t_cp is not None else "-"
        print(f"{LABELS[name]:<44}{t_np:>10.3f}{'-' if t_cp is None else f'{t_cp:.3f}':>10}   {ratio}", flush=True)
        if name == "draw" and cupy_note is None:
            with sg.use_backend("cupy"):
                t_dev = draw(args.steps, args.warmup, device=True)
            print(f"{'  the same draw, cupy.random on the GPU (ms)':<44}{'':>10}{t_dev:>10.3f}   "
                  f"host / device {rows['draw'][1] / t_dev:.2f}", flush=True)
    return rows


if __name__ == "__main__":
    main()
