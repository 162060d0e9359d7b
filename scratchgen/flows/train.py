r"""Train a normalizing flow on a toy set by maximum likelihood, and measure its held-out NLL.

References
----------
* Dinh, Sohl-Dickstein & Bengio (2017), *Real NVP*: training maximises the exact log-likelihood
  of the change of variables (Eq. 3) by stochastic gradient; the NLL is reported in nats here
  (bits per dimension for their images).
* Kingma & Dhariwal (2018), *Glow*: steps of flow with an invertible mixing (see ``flow.py``).

One training step:

.. code-block:: text

    x ~ p_data  (a minibatch of B fresh points, or B rows of the file's training part)
    take an Adam step on  -(1/B) sum_b [ log N(f(x_b); 0, I) + log|det df/dx (x_b)| ]

The learning rate warms up linearly, then decays by a cosine to 0. **Evaluation** (every
``eval_every`` steps and at the end) computes the held-out negative log-likelihood
:math:`\mathrm{NLL} = -\frac1n\sum_i \log q(x_i)` on ``n_eval`` points that no step trained on
(fresh draws with their own seed, or the file's held-out rows), with its standard error. Since
:math:`\mathbb E_p[-\log q] = H(p) + \mathrm{KL}(p\,\Vert\,q) \ge H(p)`, the NLL is bounded below by
the data's entropy; for the sets with an exact log-density (``TOY_LOG_DENSITIES``) the evaluation
also reports the entropy and the paired estimate :math:`\widehat{\mathrm{KL}} = \frac1n\sum_i
(\log p(x_i) - \log q(x_i))` on the same points (much less noisy than the difference of two
separate averages), and mode coverage of samples for the mixtures.
"""
from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass, field

from .. import backend as _backend
from .. import optim
from ..autodiff.tensor import no_grad
from ..checkpoint import load
from ..config import Config, option
from ..data.toy import TOY_LOG_DENSITIES, check_toy_data, load_toy, monte_carlo_entropy
from ..training import TrainingDiverged, TrainingLoop, descend, write_outputs
from .flow import MIXINGS, Flow

__all__ = ["FlowConfig", "FlowRun", "TrainingDiverged", "train_flow", "load_run", "data_entropy", "held_out_nll"]


@dataclass
class FlowConfig(Config):
    """Settings of one run; the defaults are those measured in docs/results.md ("Normalizing flows").

    Each field is an :func:`~scratchgen.config.option`: its default, and the help text that
    ``scratchgen train flow --help`` shows.
    """

    data: str = option("gauss8", "training data: gauss8, checkerboard, ring8, grid25, swissroll, moons, or PATH.npy "
                                 "(an (N, D) float array with D >= 2; a fifth of its rows held out)", metavar="DATA")
    couplings: int = option(16, "affine coupling layers K (their masks alternate)")
    hidden: int = option(64, "width of each coupling's MLP")
    n_hidden: int = option(2, "hidden layers of each coupling's MLP")
    mixing: str = option("lu", "before each coupling: lu (Glow's LU-parameterised invertible linear map) or none "
                               "(RealNVP's alternating masks alone)", choices=MIXINGS)
    steps: int = option(10000, "Adam updates")
    batch: int = option(512, "data points per update")
    lr: float = option(2e-3, "peak learning rate: linear warm-up, then cosine decay to 0")
    warmup: int = option(200, "linear warm-up steps")
    grad_clip: float | None = option(None, "clip the global gradient norm (none: off)")
    eval_every: int = option(2500, "steps between evaluations/checkpoints")
    n_eval: int = option(50000, "held-out points of the test NLL (the flow samples as many for the figures)")
    seed: int = option(0, "seed of the one generator behind the weights and the data draws")
    progress: bool = option(True, "show a progress bar")

    def validate(self):
        check_toy_data(self.data)
        if self.mixing not in MIXINGS:
            raise ValueError(f"FlowConfig: mixing must be one of {MIXINGS}, got {self.mixing!r}")
        for name in ("couplings", "hidden", "n_hidden", "steps", "batch", "eval_every", "n_eval"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"FlowConfig: {name} must be a positive int, got {v!r}")
        if isinstance(self.warmup, bool) or not isinstance(self.warmup, int) or self.warmup < 0:
            raise ValueError(f"FlowConfig: warmup must be an int >= 0, got {self.warmup!r}")
        if not (isinstance(self.lr, (int, float)) and self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"FlowConfig: lr must be a finite number > 0, got {self.lr!r}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"FlowConfig: grad_clip must be > 0 or None, got {self.grad_clip!r}")


@dataclass
class FlowRun:
    """What a run leaves behind (also written to its directory)."""

    config: FlowConfig
    model: Flow
    data_eval: object  # ToyData: the held-out points
    history: dict = field(default_factory=dict)
    final: dict = field(default_factory=dict)
    samples: object = None  # (n_eval, D) flow samples, NumPy


@functools.lru_cache(maxsize=None)
def data_entropy(name, n=1_000_000, seed=0):
    r"""(H, se): the entropy of a toy set with an exact log-density, by :func:`monte_carlo_entropy` on
    ``n`` draws (computed once per process)."""
    return monte_carlo_entropy(name, n, seed)


def held_out_nll(model, x, log_p=None, chunk=20_000):
    r"""The held-out NLL of ``model`` on ``x`` (n, D), with its standard error; with the data's exact
    log-density ``log_p``, also the paired :math:`\widehat{\mathrm{KL}}(p\,\Vert\,q)` and the sample's
    :math:`-\frac1n\sum_i\log p(x_i)`.

    Returns
    -------
    dict with ``test_nll``, ``test_nll_se`` (:math:`\mathrm{sd}(\log q(x_i))/\sqrt n`), ``n_test``, and
    ``kl``, ``kl_se``, ``data_nll`` with ``log_p``; floats in nats per point.
    """
    xp = _backend.get_xp(x)
    with no_grad():
        log_q = xp.concatenate([model.log_prob(x[i:i + chunk]).data for i in range(0, x.shape[0], chunk)])
    log_q = log_q.astype(xp.float64)
    n = log_q.shape[0]
    se = lambda v: float(v.std(ddof=1)) / math.sqrt(n) if n > 1 else math.nan  # noqa: E731
    out = {"test_nll": float(-log_q.mean()), "test_nll_se": se(log_q), "n_test": n}
    if log_p is not None:
        lp = log_p(x)
        out.update(kl=float((lp - log_q).mean()), kl_se=se(lp - log_q), data_nll=float(-lp.mean()))
    return out


def train_flow(cfg: FlowConfig, out_dir=None, resume=None, callback=None, figures=True) -> FlowRun:
    """Fit a flow by maximum likelihood as ``cfg`` says; evaluate, checkpoint, write outputs.

    Parameters
    ----------
    cfg : FlowConfig
    out_dir : path, optional
        Run directory: ``samples.npy`` (n_eval × D flow samples), ``metrics.json`` (``final`` holds
        ``test_nll`` in nats per point, its standard error, and the entropy and paired KL where the
        data's density is known), ``checkpoint.npz`` and, for 2-D data, the figures
        ``density.png``, ``layers.png`` and ``nll.png``.
    resume : path, optional
        A ``checkpoint.npz`` of a run with the same config to continue from (``steps`` may be larger).
    callback : callable, optional
        ``callback(step, model)`` after every update (tests use it to inject faults).
    figures : bool
        Also draw the figures (the numbers and the checkpoint are always written).
    """
    cfg.validate()
    gen = _backend.rng(cfg.seed)  # the training stream: weights and data
    data_eval = load_toy(cfg.data, cfg.n_eval, seed=cfg.seed + 10_000, split="test")  # held out
    D = data_eval.x.shape[1]
    if D < 2:
        raise ValueError(f"FlowConfig: data must have D >= 2 columns (a coupling keeps part of x to condition the "
                         f"rest on), got {cfg.data!r} with D = {D}")
    model = Flow(D, cfg.couplings, cfg.hidden, cfg.n_hidden, cfg.mixing, generator=gen)
    opt = optim.Adam(model.parameters(), lr=cfg.lr)
    if cfg.warmup:
        sched = optim.LinearWarmup(opt, cfg.warmup, max(cfg.steps, cfg.warmup + 1))
    else:
        sched = optim.CosineAnnealingLR(opt, cfg.steps)
    params = model.parameters()
    log_p = TOY_LOG_DENSITIES.get(cfg.data)

    def step(t):
        x = load_toy(cfg.data, cfg.batch, seed=gen).x  # x ~ p_data, (B, D)
        # -(1/B) sum_b log q(x_b), log q(x) = log N(f(x); 0, I) + log|det df/dx|
        loss = -model.log_prob(x).mean()
        descend(loss, opt, params, cfg.grad_clip, sched)
        return {"nll": loss}

    def evaluate(t, gen_eval, final):  # the held-out NLL; samples from the flow on their own stream
        metrics = held_out_nll(model, data_eval.x, log_p)
        x = model.sample(cfg.n_eval, gen_eval)
        if data_eval.centres is not None:
            from ..metrics import mode_coverage

            metrics.update(mode_coverage(x, data_eval.centres, data_eval.std).as_dict())
        return metrics, x

    loop = TrainingLoop("flow", cfg, gen, step=step, evaluate=evaluate, modules={"model": model},
                        optimizers={"opt": opt}, schedulers={"sched": sched}, eval_seed=cfg.seed + 40_000,
                        hint="Try a smaller learning rate or gradient clipping (--grad-clip 10).",
                        desc=f"flow {os.path.basename(cfg.data)}", postfix=("test_nll",))
    metrics, x = loop.run(out_dir, resume, callback)
    final = {"steps": cfg.steps, "data": cfg.data, **metrics}
    if log_p is not None:
        H, H_se = data_entropy(cfg.data)
        final.update(entropy=H, entropy_se=H_se, nll_minus_entropy=metrics["test_nll"] - H)
    final.update(train_seconds=loop.seconds["train"], train_cpu_seconds=loop.seconds["train_cpu"])
    run = FlowRun(cfg, model, data_eval, loop.history, final, _backend.to_numpy(x))
    if out_dir:
        write_outputs(out_dir, final, cfg, loop.history, {"samples": run.samples})
        if figures and D == 2:
            _figures(run, out_dir)
    return run


def load_run(checkpoint):
    """(config, model) from a ``checkpoint.npz`` written by :func:`train_flow`."""
    state = load(checkpoint)
    if state.get("kind") != "flow" or "config" not in state:
        raise ValueError(f"{checkpoint} is not a flow checkpoint (kind {state.get('kind')!r}, keys {sorted(state)})")
    cfg = FlowConfig.from_saved(state["config"])
    D = load_toy(cfg.data, 1, seed=0).x.shape[1]
    model = Flow(D, cfg.couplings, cfg.hidden, cfg.n_hidden, cfg.mixing, generator=0)
    model.load_state_dict(state["model"])
    return cfg, model


def _figures(run: FlowRun, out_dir):
    """density.png, layers.png and nll.png (none without matplotlib)."""
    try:
        from ..viz import flow_density_figure, flow_layers_figure, nll_figure
    except ImportError:  # matplotlib missing: the numbers are written, the figures are not
        return
    cfg, f = run.config, run.final
    model = run.model

    def log_q(pts):  # (n, 2) NumPy -> (n,) NumPy
        with no_grad():
            return _backend.to_numpy(model.log_prob(_backend.get_xp().asarray(pts, dtype=model.layers[-1].alpha.dtype)).data)

    title = f"flow on {os.path.basename(cfg.data)}: held-out NLL {f['test_nll']:.3f} nats"
    if "entropy" in f:
        title += f" (entropy {f['entropy']:.3f})"
    log_p = TOY_LOG_DENSITIES.get(cfg.data)
    flow_density_figure(log_q, run.data_eval.x, run.samples, os.path.join(out_dir, "density.png"), title,
                        log_p=(lambda pts: _backend.to_numpy(log_p(pts))) if log_p else None)
    flow_layers_figure(model.intermediates(run.data_eval.x[:2000]),
                       model.inverse_intermediates(_backend.rng(cfg.seed + 50_000).standard_normal(
                           (2000, 2)).astype(model.layers[-1].alpha.dtype)),
                       os.path.join(out_dir, "layers.png"))
    nll_figure(run.history, os.path.join(out_dir, "nll.png"), entropy=f.get("entropy"))
