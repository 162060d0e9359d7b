"""GAN training steps: scratchgen against PyTorch CPU and HIPS autograd, in the same run.

Benchmarks of the layers issue (float32, 2 threads, median over >= 10 timed steps):

1. MLP GAN step: G 64-256-256-2 (ReLU), D 2-256-256-1 (LeakyReLU 0.2), batch 256,
   Adam; one D update (real and fake, BCE with logits) and one G update
   (non-saturating loss).
2. DCGAN step at 28x28, batch 64 (the issue's architecture).
3. Peak memory of the DCGAN step (peak RSS over the pre-step baseline, each
   framework in its own subprocess; plus tracemalloc's peak for scratchgen).

Every peer does the same work: G's forward for the D update runs without a
tape; both D and G parameters receive gradients in the G update (the usual
PyTorch loop), except in HIPS autograd, which differentiates with respect to
G's parameters only (less work for it, so its ratio is conservative).

Run: ``python benchmarks/bench_gan_step.py [mlp|dcgan|memory] ...`` or ``python benchmarks/run.py``.
"""
from __future__ import annotations

import os

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "2"

import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402  (benchmark harness, not library math)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

WARMUP, STEPS = 3, 15


def _median_ms(step, n=STEPS, warmup=WARMUP):
    for _ in range(warmup):
        step()
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        step()
        ts.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(ts)


def _interleaved(steps, rounds=STEPS, warmup=WARMUP, with_cpu=False):
    """Median step time (ms) of each peer, the peers taking turns step by step, so that
    load from other processes on the machine falls on all of them alike.

    With ``with_cpu``, also the median CPU time of the process per step (ms, all threads;
    it includes time threads spend spinning while they wait for each other): a second view
    that waiting for the CPU, on a busy machine, does not inflate."""
    for _ in range(warmup):
        for f in steps.values():
            f()
    ts = {k: [] for k in steps}
    cpu = {k: [] for k in steps}
    for _ in range(rounds):
        for k, f in steps.items():
            c0, t0 = time.process_time(), time.perf_counter()
            f()
            ts[k].append(time.perf_counter() - t0)
            cpu[k].append(time.process_time() - c0)
    wall = {k: 1e3 * statistics.median(v) for k, v in ts.items()}
    if with_cpu:
        return wall, {k: 1e3 * statistics.median(v) for k, v in cpu.items()}
    return wall


def _data(batch, dim, n_batches=8, seed=0):
    r = np.random.default_rng(seed)
    return [r.standard_normal((batch, dim)).astype(np.float32) for _ in range(n_batches)]


# ---------------------------------------------------------------------------
# 1. MLP GAN
# ---------------------------------------------------------------------------
def mlp_scratchgen():
    import scratchgen as sg
    from scratchgen import nn, optim
    from scratchgen.nn import functional as F

    gen = np.random.default_rng(1)
    G = nn.Sequential(nn.Linear(64, 256, generator=gen), nn.ReLU(), nn.Linear(256, 256, generator=gen), nn.ReLU(),
                      nn.Linear(256, 2, generator=gen))
    D = nn.Sequential(nn.Linear(2, 256, generator=gen), nn.LeakyReLU(0.2), nn.Linear(256, 256, generator=gen),
                      nn.LeakyReLU(0.2), nn.Linear(256, 1, generator=gen))
    opt_G = optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_D = optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    reals = _data(256, 2)
    ones, zeros = np.ones((256, 1), np.float32), np.zeros((256, 1), np.float32)  # targets of the logits' shape
    i = [0]

    def step():
        x = sg.tensor(reals[i[0] % len(reals)])
        i[0] += 1
        z = sg.tensor(gen.standard_normal((256, 64), dtype=np.float32))
        with sg.no_grad():
            fake = G(z)
        loss_D = F.binary_cross_entropy_with_logits(D(x), ones) + F.binary_cross_entropy_with_logits(D(fake), zeros)
        opt_D.zero_grad()
        loss_D.backward()
        opt_D.step()
        z = sg.tensor(gen.standard_normal((256, 64), dtype=np.float32))
        loss_G = F.binary_cross_entropy_with_logits(D(G(z)), ones)  # non-saturating
        opt_G.zero_grad()
        loss_G.backward()
        opt_G.step()

    return step


def mlp_torch():
    import torch

    torch.set_num_threads(2)
    torch.manual_seed(1)
    nn = torch.nn
    G = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 2))
    D = nn.Sequential(nn.Linear(2, 256), nn.LeakyReLU(0.2), nn.Linear(256, 256), nn.LeakyReLU(0.2), nn.Linear(256, 1))
    opt_G = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_D = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce = nn.BCEWithLogitsLoss()
    reals = [torch.from_numpy(r) for r in _data(256, 2)]
    ones, zeros = torch.ones(256, 1), torch.zeros(256, 1)
    i = [0]

    def step():
        x = reals[i[0] % len(reals)]
        i[0] += 1
        with torch.no_grad():
            fake = G(torch.randn(256, 64))
        loss_D = bce(D(x), ones) + bce(D(fake), zeros)
        opt_D.zero_grad()
        loss_D.backward()
        opt_D.step()
        loss_G = bce(D(G(torch.randn(256, 64))), ones)
        opt_G.zero_grad()
        loss_G.backward()
        opt_G.step()

    return step


def mlp_autograd():
    import autograd.numpy as anp
    from autograd import grad

    r = np.random.default_rng(1)

    def init(sizes):
        ps = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            bound = 1 / np.sqrt(a)
            ps.append(r.uniform(-bound, bound, (a, b)).astype(np.float32))
            ps.append(r.uniform(-bound, bound, (b,)).astype(np.float32))
        return ps

    def g_fwd(ps, z):
        h = anp.maximum(anp.dot(z, ps[0]) + ps[1], 0)
        h = anp.maximum(anp.dot(h, ps[2]) + ps[3], 0)
        return anp.dot(h, ps[4]) + ps[5]

    def d_fwd(ps, x):
        h = anp.dot(x, ps[0]) + ps[1]
        h = anp.maximum(h, 0.2 * h)
        h = anp.dot(h, ps[2]) + ps[3]
        h = anp.maximum(h, 0.2 * h)
        return anp.dot(h, ps[4]) + ps[5]

    def softplus(x):
        return anp.maximum(x, 0) + anp.log1p(anp.exp(-anp.abs(x)))

    def loss_d(pd, x, fake):
        return anp.mean(softplus(-d_fwd(pd, x))) + anp.mean(softplus(d_fwd(pd, fake)))

    def loss_g(pg, pd, z):
        return anp.mean(softplus(-d_fwd(pd, g_fwd(pg, z))))

    dD, dG = grad(loss_d), grad(loss_g)
    pG, pD = init([64, 256, 256, 2]), init([2, 256, 256, 1])
    state = {k: [[np.zeros_like(p) for p in ps], [np.zeros_like(p) for p in ps], 0]
             for k, ps in (("G", pG), ("D", pD))}

    def adam(ps, gs, st, lr=2e-4, b1=0.5, b2=0.999, eps=1e-8):
        st[2] += 1
        t = st[2]
        for p, g, m, v in zip(ps, gs, st[0], st[1]):
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            p -= (lr / (1 - b1**t)) * m / (np.sqrt(v) / np.sqrt(1 - b2**t) + eps)

    reals = _data(256, 2)
    i = [0]

    def step():
        x = reals[i[0] % len(reals)]
        i[0] += 1
        fake = g_fwd(pG, r.standard_normal((256, 64), dtype=np.float32))
        adam(pD, dD(pD, x, fake), state["D"])
        adam(pG, dG(pG, pD, r.standard_normal((256, 64), dtype=np.float32)), state["G"])

    return step


# ---------------------------------------------------------------------------
# 2. DCGAN at 28x28
# ---------------------------------------------------------------------------
def dcgan_scratchgen():
    import scratchgen as sg
    from scratchgen import nn, optim
    from scratchgen.gan.dcgan import dcgan_init_
    from scratchgen.nn import functional as F

    gen = np.random.default_rng(1)
    G = nn.Sequential(
        nn.Linear(100, 128 * 7 * 7, generator=gen), nn.BatchNorm1d(128 * 7 * 7), nn.ReLU(),
        nn.Unflatten(1, (128, 7, 7)),
        nn.ConvTranspose2d(128, 64, 4, 2, 1, generator=gen), nn.BatchNorm2d(64), nn.ReLU(),
        nn.ConvTranspose2d(64, 1, 4, 2, 1, generator=gen), nn.Tanh(),
    )
    D = nn.Sequential(
        nn.Conv2d(1, 64, 4, 2, 1, generator=gen), nn.LeakyReLU(0.2),
        nn.Conv2d(64, 128, 4, 2, 1, generator=gen), nn.BatchNorm2d(128), nn.LeakyReLU(0.2),
        nn.Flatten(), nn.Linear(128 * 7 * 7, 1, generator=gen),
    )
    dcgan_init_(G, gen)
    dcgan_init_(D, gen)
    opt_G = optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_D = optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    r = np.random.default_rng(0)
    reals = [np.tanh(r.standard_normal((64, 1, 28, 28))).astype(np.float32) for _ in range(4)]
    ones, zeros = np.ones((64, 1), np.float32), np.zeros((64, 1), np.float32)
    i = [0]

    def step():
        x = sg.tensor(reals[i[0] % len(reals)])
        i[0] += 1
        z = sg.tensor(gen.standard_normal((64, 100), dtype=np.float32))
        with sg.no_grad():
            fake = G(z)
        loss_D = F.binary_cross_entropy_with_logits(D(x), ones) + F.binary_cross_entropy_with_logits(D(fake), zeros)
        opt_D.zero_grad()
        loss_D.backward()
        opt_D.step()
        z = sg.tensor(gen.standard_normal((64, 100), dtype=np.float32))
        loss_G = F.binary_cross_entropy_with_logits(D(G(z)), ones)
        opt_G.zero_grad()
        loss_G.backward()
        opt_G.step()

    return step


def dcgan_torch():
    import torch

    torch.set_num_threads(2)
    torch.manual_seed(1)
    nn = torch.nn
    G = nn.Sequential(
        nn.Linear(100, 128 * 7 * 7), nn.BatchNorm1d(128 * 7 * 7), nn.ReLU(), nn.Unflatten(1, (128, 7, 7)),
        nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Tanh(),
    )
    D = nn.Sequential(
        nn.Conv2d(1, 64, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(64, 128, 4, 2, 1), nn.BatchNorm2d(128),
        nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(128 * 7 * 7, 1),
    )
    opt_G = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_D = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce = nn.BCEWithLogitsLoss()
    r = np.random.default_rng(0)
    reals = [torch.from_numpy(np.tanh(r.standard_normal((64, 1, 28, 28))).astype(np.float32)) for _ in range(4)]
    ones, zeros = torch.ones(64, 1), torch.zeros(64, 1)
    i = [0]

    def step():
        x = reals[i[0] % len(reals)]
        i[0] += 1
        with torch.no_grad():
            fake = G(torch.randn(64, 100))
        loss_D = bce(D(x), ones) + bce(D(fake), zeros)
        opt_D.zero_grad()
        loss_D.backward()
        opt_D.step()
        loss_G = bce(D(G(torch.randn(64, 100))), ones)
        opt_G.zero_grad()
        loss_G.backward()
        opt_G.step()

    return step


# ---------------------------------------------------------------------------
# 3. Peak memory (each in a fresh subprocess)
# ---------------------------------------------------------------------------
def _rss_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def memory_child(which):
    """Build the DCGAN, read the RSS, run 5 steps, report peak RSS - baseline (MiB)."""
    step = {"scratchgen": dcgan_scratchgen, "torch": dcgan_torch}[which]()
    import gc

    gc.collect()
    base = _rss_kib("VmRSS")
    extra = {}
    if which == "scratchgen":
        import tracemalloc

        tracemalloc.start()
        step()
        extra["tracemalloc_peak_mib"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    for _ in range(5):
        step()
    peak = _rss_kib("VmHWM")
    print(json.dumps({"peak_rss_over_baseline_mib": (peak - base) / 1024, **extra}))


def peak_memory(which):
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "_memory_child", which],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _have(mod):
    try:
        __import__(mod)
        return True
    except ImportError:
        return False


def bench_mlp(rounds=30):
    steps = {"scratchgen": mlp_scratchgen()}
    if _have("torch"):
        steps["torch"] = mlp_torch()
    if _have("autograd"):
        steps["autograd"] = mlp_autograd()
    return _interleaved(steps, rounds)


def bench_dcgan(rounds=15, with_cpu=False):
    steps = {"scratchgen": dcgan_scratchgen()}
    if _have("torch"):
        steps["torch"] = dcgan_torch()
    return _interleaved(steps, rounds, warmup=2, with_cpu=with_cpu)


def bench_memory():
    res = {"scratchgen": peak_memory("scratchgen")}
    if _have("torch"):
        res["torch"] = peak_memory("torch")
    return res


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "_memory_child":
        memory_child(sys.argv[2])
        sys.exit(0)
    which = sys.argv[1:] or ["mlp", "dcgan", "memory"]
    for w in which:
        print(w, json.dumps({"mlp": bench_mlp, "dcgan": bench_dcgan, "memory": bench_memory}[w]()))
