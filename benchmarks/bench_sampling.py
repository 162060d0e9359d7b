"""DDPM ancestral sampling: scratchgen against PyTorch CPU, the same model and weights, in one process.

Two denoisers, as ``scratchgen train ddpm`` builds them (``diffusion.train.build_model``):

* ``mlp``: the 2-D MLP of the default ``DDPMConfig`` (hidden 256, 3 hidden layers, time_dim 64),
  10,000 points;
* ``conv``: the 8×8 convolutional denoiser of the digits preset (``DDPMConfig.preset("digits")``:
  16 channels, time_dim 32), 1,000 images (the preset's ``n_eval``).

Under ``no_grad`` scratchgen's ``MLPDenoiser`` computes the work that depends on t alone (the
time branch and the time columns of the first layer) once per distinct t, as a sampler's batch
shares one t (``MLPDenoiser._forward_shared_t``). The ``torch`` peer is the model as one writes it
in PyTorch (per row); for a like-for-like engine comparison the MLP case also times a
``torch_shared_t`` peer, the PyTorch model with the same rewrite, and prints both ratios.

One step of Ho et al.'s Algorithm 2 is timed: :math:`\\varepsilon_\\theta(x_t, t)`, a draw of
:math:`z \\sim \\mathcal N(0, I)`, and :math:`x_{t-1} = \\mu_\\theta + \\sigma_t z`
(scratchgen: the model under ``no_grad`` and ``diffusion.samplers.p_sample_step``, as
``ancestral_sample`` runs them; PyTorch: the same model written with ``torch.nn`` under
``torch.no_grad()``, with scratchgen's weights loaded, and the same update). The peers take
turns step by step, so that load from other processes falls on both alike; each repeat times
``--steps`` steps of each after a warm-up, and the script prints the median step of each repeat,
the medians over the repeats and the ratio ours / PyTorch (the median of the per-repeat ratios),
in wall-clock time and in the process's CPU time (``time.process_time``: on a busy machine it
leaves out the time the process waits for a core, which the wall clock counts).

Before timing, it checks that both compute the same numbers (``allclose``): the model's output at
several timesteps, and a chain of steps from the same :math:`x_T` with the same noise.

Threads: one BLAS thread for both (``threadpoolctl`` for NumPy's BLAS, ``torch.set_num_threads(1)``);
the script prints the thread settings it ended up with, the machine and ``os.getloadavg()``.

PyTorch is optional: without it the script prints scratchgen's numbers only. Install it with
exactly ``pip install torch==2.13.0`` (the CPU wheel is what was measured).

Run: ``python benchmarks/bench_sampling.py [mlp] [conv] [--repeats 5] [--steps 50]``.
"""
from __future__ import annotations

import os

# Before NumPy loads: one BLAS thread even where threadpoolctl is missing (threadpoolctl, below,
# pins it again and reports it).
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402  (benchmark harness, not library math)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import scratchgen as sg  # noqa: E402
from scratchgen.diffusion.models import ConvDenoiser, MLPDenoiser  # noqa: E402
from scratchgen.diffusion.samplers import p_sample_step  # noqa: E402
from scratchgen.diffusion.schedules import linear_schedule  # noqa: E402

TORCH_INSTALL = "pip install torch==2.13.0"
_LIMITER = None  # threadpoolctl's limit, held while the process runs

# (model, batch shape) of each case: the default DDPMConfig (2-D) and its digits preset
CASES = {
    "mlp": dict(build=lambda g: MLPDenoiser(2, hidden=256, n_hidden=3, time_dim=64, generator=g), shape=(10_000, 2)),
    "conv": dict(build=lambda g: ConvDenoiser(1, channels=16, time_dim=32, generator=g), shape=(1_000, 1, 8, 8)),
}


# ---------------------------------------------------------------------------
# Threads, machine, load
# ---------------------------------------------------------------------------
def pin_threads():
    """One BLAS thread for NumPy (threadpoolctl) and one intra-op thread for PyTorch; a description."""
    lines = []
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
    except ImportError:
        lines.append("threadpoolctl missing (pip install threadpoolctl): relying on OPENBLAS/OMP/MKL_NUM_THREADS="
                     f"{os.environ['OPENBLAS_NUM_THREADS']} set before NumPy was imported")
    else:
        global _LIMITER
        _LIMITER = threadpool_limits(limits=1)  # kept for the life of the process
        for info in threadpool_info():
            lines.append(f"{info['internal_api']} {info.get('version') or ''} ({info.get('architecture', '-')}): "
                         f"{info['num_threads']} thread(s), {os.path.basename(info['filepath'])}")
    torch = _torch()
    if torch is not None:
        torch.set_num_threads(1)
        lines.append(f"torch.get_num_threads() = {torch.get_num_threads()}")
    return lines


def machine():
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    torch = _torch()
    return (f"{cpu}, {os.cpu_count()} logical CPUs; {platform.platform()}; Python {platform.python_version()}, "
            f"NumPy {np.__version__}" + (f", torch {torch.__version__}" if torch is not None else ", no torch"))


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


# ---------------------------------------------------------------------------
# The same models in PyTorch, with scratchgen's weights
# ---------------------------------------------------------------------------
def torch_models(torch):
    nn, F = torch.nn, torch.nn.functional

    def timestep_embedding(t, dim, max_period=10000.0):
        """scratchgen's ``timestep_embedding``: float64 sin/cos of t omega, cast to float32, computed once
        per distinct t and gathered to the rows (as scratchgen computes it)."""
        t_u, row = torch.unique(t, return_inverse=True)
        half = dim // 2
        omega = torch.exp(-math.log(max_period) / (half - 1) * torch.arange(half, dtype=torch.float64))
        arg = t_u.to(torch.float64)[:, None] * omega[None, :]
        return torch.cat([torch.sin(arg), torch.cos(arg)], dim=1).to(torch.float32)[row]

    class MLP(nn.Module):
        def __init__(self, data_dim, hidden, n_hidden, time_dim):
            super().__init__()
            self.time_dim = time_dim
            self.time_proj = nn.Linear(time_dim, time_dim)
            layers = [nn.Linear(data_dim + time_dim, hidden), nn.SiLU(inplace=True)]
            for _ in range(n_hidden - 1):
                layers += [nn.Linear(hidden, hidden), nn.SiLU(inplace=True)]
            layers.append(nn.Linear(hidden, data_dim))
            self.net = nn.Sequential(*layers)

        def forward(self, xt, t):
            if self.shared_t:  # scratchgen's sampling rewrite: the t-only work once per distinct t
                t_u, row = torch.unique(t, return_inverse=True)
                first, D = self.net[0], xt.shape[1]
                h_u = F.silu(self.time_proj(timestep_embedding(t_u, self.time_dim)), inplace=True)
                c_u = F.linear(h_u, first.weight[:, D:], first.bias)  # (U, H)
                a = F.linear(xt, first.weight[:, :D])  # (B, H)
                a += c_u if c_u.shape[0] == 1 else c_u[row]
                return self.net[1:](a)
            h_t = F.silu(self.time_proj(timestep_embedding(t, self.time_dim)), inplace=True)
            return self.net(torch.cat([xt, h_t], dim=1))

    class ResBlock(nn.Module):
        def __init__(self, channels, emb_dim):
            super().__init__()
            self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
            self.emb = nn.Linear(emb_dim, channels)
            self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

        def forward(self, x, emb):
            h = self.conv1(F.silu(x)) + self.emb(emb)[:, :, None, None]
            return x + self.conv2(F.silu(h, inplace=True))

    class Conv(nn.Module):
        def __init__(self, in_channels, channels, time_dim):
            super().__init__()
            C, E = channels, 2 * time_dim
            self.time_dim = time_dim
            self.time_proj = nn.Linear(time_dim, E)
            self.conv_in = nn.Conv2d(in_channels, C, 3, padding=1)
            self.block_hi = ResBlock(C, E)
            self.down = nn.Conv2d(C, 2 * C, 3, stride=2, padding=1)
            self.block_lo1 = ResBlock(2 * C, E)
            self.block_lo2 = ResBlock(2 * C, E)
            self.up = nn.ConvTranspose2d(2 * C, C, 4, stride=2, padding=1)
            self.merge = nn.Conv2d(2 * C, C, 1)
            self.block_out = ResBlock(C, E)
            self.conv_out = nn.Conv2d(C, in_channels, 3, padding=1)

        def forward(self, xt, t):
            e = F.silu(self.time_proj(timestep_embedding(t, self.time_dim)), inplace=True)
            h1 = self.block_hi(self.conv_in(xt), e)
            d = self.block_lo2(self.block_lo1(self.down(h1), e), e)
            h = self.block_out(self.merge(torch.cat([self.up(d), h1], dim=1)), e)
            return self.conv_out(F.silu(h, inplace=True))

    def build(ours, shared_t=False):
        if isinstance(ours, MLPDenoiser):
            n_hidden = (len(ours.net) - 1) // 2
            m = MLP(ours.data_dim, ours.net[0].out_features, n_hidden, ours.time_dim)
            m.shared_t = shared_t
        else:
            m = Conv(ours.in_channels, ours.conv_in.out_channels, ours.time_dim)
        m.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in ours.state_dict().items()})
        return m.eval()

    return build


def torch_step(torch, model, coef, xt, t):
    """Algorithm 2, one step: x_{t-1} = (x_t - beta_t / sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_t) + sigma_t z."""
    inv_sqrt_alpha, eps_coef, sigma = coef[t]
    eps = model(xt, torch.full((xt.shape[0],), t, dtype=torch.int64))
    mean = inv_sqrt_alpha * (xt - eps_coef * eps)
    return mean + sigma * torch.randn_like(xt) if t > 1 else mean


def _torch_coefficients(schedule):
    """Per t: (1/sqrt(alpha_t), beta_t/sqrt(1 - alpha_bar_t), sigma_t = sqrt(beta_t)) as Python floats,
    each rounded to float32 as scratchgen's ``Schedule.gather`` rounds it for float32 data."""
    f32 = lambda v: float(np.float32(v))  # noqa: E731
    out = {}
    for t in range(1, schedule.T + 1):
        alpha, beta = f32(schedule.alpha[t]), f32(schedule.beta[t])
        s = f32(schedule.sqrt_one_minus_alpha_bar[t])
        out[t] = ((1 / alpha) ** 0.5, beta / s, math.exp(f32(schedule.log_beta[t])) ** 0.5)
    return out


# ---------------------------------------------------------------------------
# The benchmark
# ---------------------------------------------------------------------------
def our_step(model, schedule, g, xt, t):
    """What ``ancestral_sample`` does at step t (sigma_t^2 = beta_t)."""
    eps = model(xt, np.full((xt.shape[0],), t, dtype=np.int64)).data
    z = g.standard_normal(xt.shape, dtype=xt.dtype) if t > 1 else None
    return p_sample_step(schedule, xt, t, eps, z, "beta")


def check_same_numbers(torch, ours, theirs, schedule, shape, coef):
    """The two models agree at several t, and 20 steps from one x_T with the same z agree."""
    r = np.random.default_rng(1)
    x = r.standard_normal(shape, dtype=np.float32)
    worst = 0.0
    with sg.no_grad(), torch.no_grad():
        for t in (1, 10, 500, schedule.T):
            a = ours(x, np.full(shape[0], t, dtype=np.int64)).data
            b = theirs(torch.from_numpy(x), torch.full((shape[0],), t, dtype=torch.int64)).numpy()
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=f"model output at t={t}")
            worst = max(worst, float(np.max(np.abs(a - b))))
        xa, xb = x.copy(), torch.from_numpy(x.copy())
        for t in range(schedule.T, schedule.T - 20, -1):
            z = r.standard_normal(shape, dtype=np.float32)
            eps_a = ours(xa, np.full(shape[0], t, dtype=np.int64)).data
            xa = p_sample_step(schedule, xa, t, eps_a, z, "beta")
            inv_sqrt_alpha, eps_coef, sigma = coef[t]
            eps_b = theirs(xb, torch.full((shape[0],), t, dtype=torch.int64))
            xb = inv_sqrt_alpha * (xb - eps_coef * eps_b) + sigma * torch.from_numpy(z)
        np.testing.assert_allclose(xa, xb.numpy(), rtol=1e-4, atol=1e-4, err_msg="20 sampling steps")
    return worst, float(np.max(np.abs(xa - xb.numpy())))


def bench_case(name, repeats, steps, warmup):
    case = CASES[name]
    schedule = linear_schedule(1000)
    ours = case["build"](np.random.default_rng(0)).eval()
    if name == "conv":  # the last conv starts at zero (training starts from eps = 0): give it weights
        w = ours.conv_out.weight.data
        w[...] = np.random.default_rng(2).uniform(-0.1, 0.1, w.shape).astype(w.dtype)
    shape = case["shape"]
    torch = _torch()
    peers = {"scratchgen": None}
    if torch is not None:
        theirs = {"torch": torch_models(torch)(ours)}
        if name == "mlp":  # the same model written with scratchgen's sampling rewrite, for a like-for-like ratio
            theirs["torch_shared_t"] = torch_models(torch)(ours, shared_t=True)
        coef = _torch_coefficients(schedule)
        for peer, model in theirs.items():
            worst_model, worst_chain = check_same_numbers(torch, ours, model, schedule, shape, coef)
            print(f"  same numbers ({peer}): max |ours - torch| = {worst_model:.2e} (model), "
                  f"{worst_chain:.2e} (20 steps)")
            peers[peer] = None

    g = np.random.default_rng(3)
    state = {"scratchgen": g.standard_normal(shape, dtype=np.float32)}
    if torch is not None:
        torch.manual_seed(3)
        for peer in theirs:
            state[peer] = torch.from_numpy(state["scratchgen"].copy())
    T = schedule.T

    def step(peer, t):
        if peer == "scratchgen":
            state[peer] = our_step(ours, schedule, g, state[peer], t)
        else:
            state[peer] = torch_step(torch, theirs[peer], coef, state[peer], t)

    per_repeat = {p: {"wall": [], "cpu": []} for p in peers}
    t = T
    with sg.no_grad(), (torch.no_grad() if torch is not None else contextlib.nullcontext()):
        for _ in range(repeats):
            times = {p: {"wall": [], "cpu": []} for p in peers}
            for i in range(warmup + steps):
                if t < 2:  # keep to t > 1, where a step draws noise; restart the chain from x_T's level
                    t = T
                for p in peers:
                    c0, t0 = time.process_time(), time.perf_counter()
                    step(p, t)
                    if i >= warmup:
                        times[p]["wall"].append(time.perf_counter() - t0)
                        times[p]["cpu"].append(time.process_time() - c0)
                t -= 1
            for p in peers:
                for k in ("wall", "cpu"):
                    per_repeat[p][k].append(1e3 * statistics.median(times[p][k]))
    return per_repeat


def _fmt(values):
    return ", ".join(f"{v:.2f}" for v in values)


def report(name, per_repeat):
    """Print the medians; return the median ratio ours/PyTorch of wall-clock and of CPU time (or None)."""
    ours = per_repeat["scratchgen"]
    ratios = {}
    for k, what in (("wall", "wall-clock"), ("cpu", "CPU time")):
        print(f"  {what}:")
        print(f"    scratchgen: {statistics.median(ours[k]):7.2f} ms/step  (repeats: {_fmt(ours[k])})")
        if "torch" in per_repeat:
            theirs = per_repeat["torch"][k]
            r = [a / b for a, b in zip(ours[k], theirs)]
            ratios[k] = statistics.median(r)
            print(f"    PyTorch:    {statistics.median(theirs):7.2f} ms/step  (repeats: {_fmt(theirs)})")
            print(f"    ratio ours/PyTorch: {ratios[k]:.2f}  (repeats: {_fmt(r)})")
        if "torch_shared_t" in per_repeat:
            theirs = per_repeat["torch_shared_t"][k]
            r = [a / b for a, b in zip(ours[k], theirs)]
            print(f"    PyTorch with the shared-t rewrite: {statistics.median(theirs):7.2f} ms/step  "
                  f"(repeats: {_fmt(theirs)})")
            print(f"    ratio ours/PyTorch-shared-t (like for like): {statistics.median(r):.2f}  (repeats: {_fmt(r)})")
    if "torch" not in per_repeat:
        print(f"  (PyTorch not installed: no ratio; install it with `{TORCH_INSTALL}`)")
        return None
    return ratios


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cases", nargs="*", metavar="case", help=f"which denoisers: {', '.join(CASES)} (default: both)")
    ap.add_argument("--repeats", type=int, default=5, help="timed repeats (default 5)")
    ap.add_argument("--steps", type=int, default=50, help="timed sampling steps per repeat and peer (default 50)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps before each repeat (default 3)")
    args = ap.parse_args(argv)
    for opt in ("repeats", "steps"):
        if getattr(args, opt) < 1:
            ap.error(f"--{opt} must be >= 1, got {getattr(args, opt)}")
    for name in args.cases:
        if name not in CASES:
            ap.error(f"case must be one of {', '.join(CASES)}, got {name!r}")
    cases = args.cases or list(CASES)
    print("machine:", machine())
    for line in pin_threads():
        print("threads:", line)
    if _torch() is None:
        print(f"PyTorch is not installed: printing scratchgen's numbers only (install it with `{TORCH_INSTALL}`)")
    print("load average before: %.2f %.2f %.2f" % os.getloadavg())
    for name in cases:
        print(f"{name}: batch {CASES[name]['shape']}, {args.repeats} repeats x {args.steps} steps (median step of each)")
        report(name, bench_case(name, args.repeats, args.steps, args.warmup))
    print("load average after:  %.2f %.2f %.2f" % os.getloadavg())
    return 0


if __name__ == "__main__":
    sys.exit(main())
