"""Fingerprints of each trainer's default run: SHA-256 of samples.npy and of metrics.json's numbers.

A refactoring that claims to preserve behaviour runs this before and after and compares:

    OPENBLAS_NUM_THREADS=1 python benchmarks/behaviour_hashes.py --out /tmp/hashes-before [--quick]

``--quick`` runs each trainer for a few hundred steps (minutes in all) instead of its default
length (about half an hour on one core). Timings (``*_seconds``) are left out of the fingerprint.
Runs one at a time; pin BLAS to one thread (the sums of a multi-threaded BLAS depend on the
thread count).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time


def _numbers(obj):
    """metrics.json's ``final`` block without timings, as canonical JSON."""
    return json.dumps({k: v for k, v in sorted(obj.items()) if not k.endswith("_seconds")}, sort_keys=True)


def fingerprint(run_dir):
    out = {}
    for name in ("samples.npy", "sample_labels.npy", "samples_rejection.npy"):
        p = os.path.join(run_dir, name)
        if os.path.exists(p):
            with open(p, "rb") as f:
                out[name] = hashlib.sha256(f.read()).hexdigest()[:16]
    p = os.path.join(run_dir, "metrics.json")
    if os.path.exists(p):
        with open(p) as f:
            final = json.load(f)["final"]
        out["metrics.final"] = hashlib.sha256(_numbers(final).encode()).hexdigest()[:16]
    p = os.path.join(run_dir, "rejection.json")
    if os.path.exists(p):
        with open(p) as f:
            rej = json.load(f)
        out["rejection.metrics"] = hashlib.sha256(_numbers(rej["rejection"]).encode()).hexdigest()[:16]
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", nargs="*", default=None)
    args = ap.parse_args(argv)
    from scratchgen.diffusion.train import DDPMConfig, train_ddpm
    from scratchgen.gan.rejection import rejection_sample_run
    from scratchgen.gan.train import GANConfig, train_gan
    try:
        from scratchgen.gan.train_images import ImageGANConfig, train_image_gan
    except ImportError:  # the layout before the restructure (issue 19), for the 'before' fingerprints
        from scratchgen.gan.images import ImageGANConfig, train_image_gan

    q = args.quick
    jobs = {
        "gan2d": lambda d: train_gan(GANConfig(progress=False, **(dict(steps=300, eval_every=100) if q else {})), out_dir=d),
        "rejection": lambda d: rejection_sample_run(os.path.join(args.out, "gan2d"), steps=300 if q else 40000,
                                                    progress=False),
        "dcgan": lambda d: train_image_gan(ImageGANConfig(model="dcgan", progress=False,
                                                          **(dict(steps=100, eval_every=50, n_eval=200) if q else {})), out_dir=d),
        "cgan": lambda d: train_image_gan(ImageGANConfig(model="cgan", progress=False,
                                                         **(dict(steps=100, eval_every=50, n_eval=200) if q else {})), out_dir=d),
        "ssgan": lambda d: train_image_gan(ImageGANConfig(model="ssgan", progress=False,
                                                          **(dict(steps=100, eval_every=50, n_eval=200) if q else {})), out_dir=d),
        "ddpm": lambda d: train_ddpm(DDPMConfig(progress=False, **(dict(steps=300, eval_every=100, T=100, n_eval=500) if q else {})),
                                     out_dir=d, figures=False),
    }
    results = {}
    for name, job in jobs.items():
        if args.only and name not in args.only:
            continue
        d = os.path.join(args.out, "gan2d" if name == "rejection" else name)
        t = time.perf_counter()
        job(d)
        results[name] = fingerprint(d)
        print(f"{name}: {json.dumps(results[name])}  ({time.perf_counter() - t:.0f} s)", flush=True)
    with open(os.path.join(args.out, "hashes.json"), "w") as f:
        json.dump(results, f, indent=1, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
