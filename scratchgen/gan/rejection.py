r"""Rejection sampling with the density ratio: correct a trained generator after training.

A trained generator's distribution q is close to the data's p but not equal to it: on the 2-D grid
a few percent of the samples lie on thin bridges between the modes, where p is almost zero. The
density ratio :math:`r(x) = p(x)/q(x)` says how much each sample is over- or under-represented, and
rejection sampling (von Neumann 1951) turns proposals from q into samples from p:

1. draw :math:`x \sim q` (run the generator);
2. accept x with probability :math:`\dfrac{p(x)}{M\,q(x)} = \exp\big(\ell(x) - \log M\big)`, where
   :math:`\ell(x) = \log r(x)` and :math:`M \ge \sup_x r(x)`.

The accepted x are distributed as p: the density of an accepted proposal is
:math:`q(x)\cdot\frac{p(x)}{M q(x)} \big/ \int q\frac{p}{Mq} = p(x)`, and a proposal is accepted with
probability :math:`\int q(x)\frac{p(x)}{Mq(x)}\,dx = 1/M`.

**Where r comes from: the density-ratio trick.** A classifier trained with the logistic loss to tell
data (label 1) from generated samples (label 0), in equal numbers, has the optimum
:math:`D^*(x) = p/(p+q)` ([GAN] Proposition 1), so its logit is the log ratio,
:math:`\ell^* = \log\frac{D^*}{1-D^*} = \log\frac{p(x)}{q(x)}`
(:func:`scratchgen.divergences.density_ratio`). :func:`fit_log_ratio` trains such a classifier
against the *frozen* generator. Azadi et al. (2019, "Discriminator rejection sampling", DRS) keep
training the GAN's own discriminator for this; a PacGAN critic scores packs of m samples, not one
sample, so here the classifier is a fresh network of the critic's shape with m = 1.

**M in practice.** The supremum of the learnt ratio is not known. :func:`rejection_sample` takes
:math:`\log M` = the largest :math:`\ell` over a burn-in of proposals that are then discarded, and
keeps it fixed. With M fixed before the proposals it judges, each proposal is accepted with
probability :math:`\min(1, e^{\ell(x)}/M)`, so the accepted samples follow exactly

.. math:: \hat p_M(x) \propto q(x)\,\min\big(e^{\ell(x)}, M\big),

which is :math:`q e^{\ell}` normalised (the classifier's estimate of p) wherever
:math:`\ell \le \log M`. The proposals above :math:`\log M` (rarer the longer the burn-in) are
counted (``RejectionSample.clipped``). DRS instead raises M whenever a proposal exceeds it; then M
depends on the proposals it judges, and the rule is no longer exact. The classifier's errors carry
into the samples: a classifier that has not learnt that a bridge is fake keeps the bridge.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .. import backend as _backend
from .. import optim
from ..autodiff.primitives import _data as _array  # the array inside a Tensor; anything else as it is
from ..autodiff.tensor import no_grad, tensor
from ..data.toy import load_toy
from ..training import TrainingLoop, write_json, write_npy
from .losses import d_loss
from .train import GANConfig, build_models, mlp_critic, sample_distances

__all__ = ["fit_log_ratio", "log_ratio_classifier", "rejection_sample", "rejection_sample_run", "RejectionSample", "log_ratio_fn"]


def _positive_int(name, v):
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ValueError(f"{name} must be a positive int, got {v!r}")


def _batch(fn, n, dim, who, name):
    """Call a sampler ``fn(n)``, check that it returns an (n, dim) array, cast it to the default dtype."""
    x = _array(fn(n))
    if getattr(x, "shape", None) != (n, dim):
        raise ValueError(f"{who}: {name}({n}) must return an array of shape ({n}, {dim}), "
                         f"got shape {getattr(x, 'shape', type(x).__name__)}")
    return x.astype(_backend.default_dtype(), copy=False)  # the classifier's weights are in this dtype


def log_ratio_classifier(dim, hidden=128, generator=None):
    """The classifier of :func:`fit_log_ratio`, untrained: the toy critic without packing,
    dim -> hidden -> hidden -> 1, LeakyReLU(0.2) (:func:`scratchgen.gan.train.mlp_critic`)."""
    return mlp_critic(dim, hidden, generator)


@dataclass
class _RatioFit:
    """The settings of :func:`fit_log_ratio`, in the form the training scaffold reads."""

    steps: int
    batch: int
    hidden: int
    lr: float
    betas: tuple
    progress: bool
    eval_every: int = 0  # evaluate at the end only

    def __post_init__(self):
        self.eval_every = self.steps


def fit_log_ratio(sample_p, sample_q, dim, *, hidden=128, steps=40000, batch=512, lr=1e-3,
                  betas=(0.9, 0.999), rng=None, progress=False):
    r"""Train a classifier whose logit estimates :math:`\ell(x) = \log p(x)/q(x)`.

    Minimises the logistic loss :math:`-\mathbb E_p \log\sigma(\ell(x)) - \mathbb E_q\log(1-\sigma(\ell(x)))`
    (:func:`scratchgen.gan.losses.d_loss`, the GAN discriminator's loss) by Adam, on ``batch`` fresh
    samples of each distribution per step, with the learning rate decaying to 0 along a cosine over
    ``steps``. Its minimiser is :math:`\sigma(\ell^*) = p/(p+q)`, i.e. :math:`\ell^* = \log p/q`.

    Parameters
    ----------
    sample_p, sample_q : callable
        ``sample_p(n)`` returns n samples of the data, ``sample_q(n)`` n samples of the generator,
        each an array or Tensor of shape (n, dim); no gradient flows into them.
    dim : int
        Dimension of a sample.
    hidden : int
        Units in each of the classifier's two hidden LeakyReLU(0.2) layers (the toy critic's shape).
    steps, batch : int
        Adam steps, and samples of each distribution per step.
    lr, betas : float, (float, float)
        Adam's initial learning rate and moment decays. A classifier of fixed distributions is not a
        game, so the usual β1 = 0.9 (not the GANs' 0.5).
    rng : generator, optional
        Initialises the classifier's weights (``scratchgen.backend.rng(0)`` if None).
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    Module mapping (n, dim) to (n, 1) logits, in eval mode. Raises ``TrainingDiverged`` at a
    non-finite loss or weight.
    """
    who = "fit_log_ratio"
    for name, v in (("dim", dim), ("hidden", hidden), ("steps", steps), ("batch", batch)):
        _positive_int(name, v)
    if isinstance(lr, bool) or not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    if not (isinstance(betas, (tuple, list)) and len(betas) == 2
            and all(isinstance(b, (int, float)) and not isinstance(b, bool) and 0 <= b < 1 for b in betas)):
        raise ValueError(f"betas must be two numbers in [0, 1), got {betas!r}")
    gen = _backend.rng(0) if rng is None else rng
    D = log_ratio_classifier(dim, hidden, gen)
    opt = optim.Adam(D.parameters(), lr=lr, betas=betas)
    sched = optim.CosineAnnealingLR(opt, T_max=steps)

    def step(t):
        x_p = tensor(_batch(sample_p, batch, dim, who, "sample_p"))  # data, on no tape
        x_q = tensor(_batch(sample_q, batch, dim, who, "sample_q"))  # a Tensor's graph is dropped by _batch
        loss = d_loss(D(x_p), D(x_q))  # -E_p log sigma(l) - E_q log(1 - sigma(l))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        return {"loss": loss}

    settings = _RatioFit(steps=steps, batch=batch, hidden=hidden, lr=lr, betas=tuple(betas), progress=progress)
    TrainingLoop("log_ratio", settings, gen, step=step, evaluate=lambda t, gen_eval, final: ({}, None),
                 modules={"classifier": D}, optimizers={"opt": opt}, schedulers={"sched": sched}, eval_seed=0,
                 hint="Try a smaller lr for the classifier.", desc="log p/q classifier").run()
    D.eval()
    return D


def log_ratio_fn(classifier):
    r"""``x -> ℓ(x)``: the classifier's logits as a flat array (no gradient)."""
    def log_ratio(x):
        with no_grad():
            return classifier(tensor(_array(x).astype(_backend.default_dtype(), copy=False))).data[:, 0]
    return log_ratio


@dataclass
class RejectionSample:
    """Accepted samples and how they were obtained."""

    samples: object  # (n, d) array: the first n accepted proposals
    proposals: int  # proposals judged (after the burn-in)
    accepted: int  # of those, accepted (>= n: a proposal batch can overshoot)
    clipped: int  # of those, with l(x) > log M (accepted with probability 1 instead of e^l / M > 1)
    log_m: float  # log M, fixed for the whole run

    @property
    def acceptance_rate(self):
        r"""accepted / proposals, which estimates :math:`\mathbb E_q[\min(e^{\ell}, M)]/M`: 1/M when
        :math:`e^{\ell}` is the exact ratio p/q and :math:`M \ge \sup e^{\ell}`."""
        return self.accepted / self.proposals


def rejection_sample(propose, log_ratio, n, *, rng, log_m=None, burn_in=10000, chunk=5000,
                     max_proposals=10_000_000, progress=False):
    r"""Samples of p from proposals of q: accept x with probability :math:`\min(1, \exp(\ell(x) - \log M))`.

    Parameters
    ----------
    propose : callable
        ``propose(k)`` returns k proposals x ~ q, shape (k, d) (e.g. the generator on fresh noise).
    log_ratio : callable
        ``log_ratio(x)`` returns :math:`\ell(x) \approx \log p(x)/q(x)`, shape (k,) (e.g.
        :func:`log_ratio_fn` of :func:`fit_log_ratio`'s classifier, or an exact log ratio).
    n : int
        Accepted samples wanted.
    rng : generator
        Draws the uniforms of the accept step (the proposals' randomness is ``propose``'s own).
    log_m : float, optional
        :math:`\log M`. If None, the largest :math:`\ell` over ``burn_in`` proposals, which are then
        discarded (so M does not depend on the proposals it judges).
    burn_in : int
        Proposals that set ``log_m`` when it is not given.
    chunk : int
        Proposals per batch.
    max_proposals : int
        Stop with a ``RuntimeError`` after this many proposals (an acceptance rate near 0 means the
        log ratio has a few huge values: M is far above the typical ratio).
    progress : bool
        Show a tqdm bar of the accepted samples out of n, with the proposals judged and an ETA.

    Returns
    -------
    RejectionSample. The accepted samples follow :math:`q\,\min(e^{\ell}, M)`, normalised, exactly.
    """
    for name, v in (("n", n), ("burn_in", burn_in), ("chunk", chunk), ("max_proposals", max_proposals)):
        _positive_int(name, v)
    if not callable(getattr(rng, "random", None)):
        raise ValueError(f"rng must be a random generator with .random(), got {type(rng).__name__}")
    if log_m is not None and not (isinstance(log_m, (int, float)) and not isinstance(log_m, bool)
                                  and math.isfinite(log_m)):
        raise ValueError(f"log_m must be None or a finite number, got {log_m!r}")

    def scored(k):
        x = _array(propose(k))
        if getattr(x, "ndim", 0) != 2 or x.shape[0] != k:
            raise ValueError(f"rejection_sample: propose({k}) must return shape ({k}, d), got {getattr(x, 'shape', None)}")
        ell = _array(log_ratio(x))
        if getattr(ell, "shape", None) != (k,):
            raise ValueError(f"rejection_sample: log_ratio on {k} proposals must return shape ({k},), "
                             f"got {getattr(ell, 'shape', None)}")
        xp = _backend.get_xp(ell)
        if not bool(xp.all(xp.isfinite(ell))):
            raise ValueError("rejection_sample: log_ratio returned a non-finite value")
        return x, ell, xp

    if log_m is None:
        log_m = float(scored(burn_in)[1].max())
    from tqdm.auto import tqdm

    with tqdm(total=n, desc="rejection sampling", unit="sample", disable=not progress, leave=None) as bar:
        kept, accepted, clipped, proposals = [], 0, 0, 0
        while accepted < n:
            if proposals >= max_proposals:
                raise RuntimeError(f"rejection_sample: only {accepted} of n={n} samples accepted after "
                                   f"{proposals} proposals (log M = {log_m:.3g}); the log ratio has rare large values")
            x, ell, xp = scored(chunk)
            u = rng.random(chunk)
            if _backend.get_xp(u) is not xp:  # the generator lives on another backend than the ratio
                u = xp.asarray(_backend.to_numpy(u))
            keep = xp.log(u) < ell - log_m  # u < exp(l - log M), in log space; always true where l > log M
            kept.append(x[keep])
            accepted += int(keep.sum())
            clipped += int((ell > log_m).sum())
            proposals += chunk
            bar.update(min(accepted, n) - bar.n)
            bar.set_postfix(proposals=proposals, refresh=False)
    return RejectionSample(xp.concatenate(kept)[:n], proposals, accepted, clipped, log_m)


def _scores(x, data_eval):
    """Mode coverage (mixtures) and the distances of :func:`~scratchgen.gan.train.sample_distances`, as the run was scored."""
    from ..metrics import mode_coverage

    out = {}
    if data_eval.centres is not None:
        out.update(mode_coverage(x, data_eval.centres, data_eval.std).as_dict())
    out.update(sample_distances(x, data_eval.x))
    return out


def _reused_classifier(clf_path, fit, run_id, dim, hidden):
    """The classifier saved at ``clf_path``, if it was trained on this run (config and step) with the
    settings ``fit``; else ``ValueError``."""
    import json
    import os

    from ..checkpoint import load

    if not os.path.isfile(clf_path):
        raise ValueError(f"rejection_sample_run: reuse_classifier=True but there is no {clf_path}")
    old = load(clf_path)
    old_fit = {k: v for k, v in old["settings"].items() if k != "n"}
    if old_fit != fit or old.get("run_step") != run_id["run_step"] \
            or json.dumps(old.get("run_config"), sort_keys=True) != json.dumps(run_id["run_config"], sort_keys=True):
        raise ValueError(f"rejection_sample_run: {clf_path} was trained with settings {old_fit} on run step "
                         f"{old.get('run_step')}; this call asks for {fit} on step {run_id['run_step']} "
                         "(or the run's config differs): train it again without reuse_classifier")
    D = log_ratio_classifier(dim, hidden)
    D.load_state_dict(old["classifier"])
    D.eval()
    return D


def rejection_sample_run(run_dir, *, steps=40000, batch=512, hidden=None, lr=1e-3, n=None, seed=0,
                         reuse_classifier=False, progress=True):
    r"""Rejection-sample a finished ``scratchgen train gan`` run: fit :math:`\ell = \log p/q`, then accept.

    Loads ``run_dir/checkpoint.npz`` (the moving-average generator when the run kept one, since its
    samples are the run's), trains :func:`fit_log_ratio` on fresh data against the frozen generator,
    draws ``n`` accepted samples with :func:`rejection_sample`, and scores them as the run was scored
    (mode coverage and MMD² to the same held-out data). Writes into ``run_dir``:
    ``samples_rejection.npy`` (n×d), ``rejection.json`` (the metrics, the generator's own metrics on
    as many fresh proposals, the acceptance rate, log M, the proposals above it, the classifier's
    logistic loss L on 20,000 fresh samples of each and the bound :math:`(\log 4 - L)/2 \le
    \mathrm{JSD}(p, q)` it gives, the settings, the run's config and step) and
    ``rejection_classifier.npz``; with matplotlib also ``samples_rejection.png``. A bound near 0,
    and an acceptance rate near 1, mean that the classifier found no difference between p and q.

    ``hidden=None`` gives the classifier the run's critic width; ``n=None`` the run's ``n_eval``.
    ``seed`` seeds the classifier's weights, data and noise (``rng(seed)``) and, separately, the
    sampler's proposals and uniforms (``rng(seed + 100_000)``). ``reuse_classifier=True`` loads
    ``rejection_classifier.npz`` instead of training; it must have been trained on this run (same
    config and step) with the same settings, else ``ValueError``. Since the sampler has its own
    stream, reusing gives the samples a fresh fit would. Returns the dict written to ``rejection.json``.
    """
    import os

    from ..checkpoint import load, save

    for name, v in (("steps", steps), ("batch", batch), ("hidden", hidden), ("n", n)):
        if v is not None or name in ("steps", "batch"):  # hidden and n may be None (the run's values)
            _positive_int(name, v)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}")
    path = os.path.join(run_dir, "checkpoint.npz")
    if not os.path.isfile(path):
        raise ValueError(f"rejection_sample_run: no checkpoint.npz in run_dir={run_dir!r}")
    state = load(path)
    cfg = GANConfig.from_saved(state["config"])
    hidden = cfg.hidden if hidden is None else hidden
    n = cfg.n_eval if n is None else n
    settings = {"steps": steps, "batch": batch, "hidden": hidden, "lr": lr, "n": n, "seed": seed}
    fit = {k: v for k, v in settings.items() if k != "n"}  # what the classifier depends on
    run_id = {"run_config": state["config"], "run_step": int(state["step"])}
    gen = _backend.rng(seed)
    data_eval = load_toy(cfg.data, cfg.n_eval, seed=cfg.seed + 10_000, split="test")  # the run's held-out set
    dim = data_eval.x.shape[1]
    G, _ = build_models(cfg, dim, gen)
    G.load_state_dict(state["G_ema"] if "G_ema" in state else state["G"])
    G.eval()

    def generator(g):
        def sample_q(k):
            with no_grad():
                return G(tensor(g.standard_normal((k, cfg.z_dim)).astype(_backend.default_dtype()))).data
        return sample_q

    def sample_p(k):
        return load_toy(cfg.data, k, seed=gen).x

    clf_path = os.path.join(run_dir, "rejection_classifier.npz")
    if reuse_classifier:
        D = _reused_classifier(clf_path, fit, run_id, dim, hidden)
    else:
        D = fit_log_ratio(sample_p, generator(gen), dim, hidden=hidden, steps=steps, batch=batch, lr=lr, rng=gen,
                          progress=progress)
    sampler = _backend.rng(seed + 100_000)  # the sampler's own stream: the same with or without reuse
    result = rejection_sample(generator(sampler), log_ratio_fn(D), n, rng=sampler, progress=progress)
    proposals = generator(sampler)(n)  # the generator alone, on as many fresh samples
    # the classifier's logistic loss L on fresh samples. Its minimum over classifiers is log 4 - 2 JSD(p, q)
    # ([GAN] Theorem 1, with L = -V(G, D)), so L >= log 4 - 2 JSD and JSD >= (log 4 - L) / 2
    with no_grad():
        loss = float(d_loss(D(tensor(load_toy(cfg.data, 20000, seed=sampler).x)),
                            D(tensor(generator(sampler)(20000)))).item())

    report = {"rejection": _scores(result.samples, data_eval), "generator": _scores(proposals, data_eval),
              "acceptance_rate": result.acceptance_rate, "log_m": result.log_m,
              "proposals": result.proposals, "clipped": result.clipped,
              "classifier_loss": loss, "jsd_lower_bound": (math.log(4.0) - loss) / 2,
              "settings": settings, **run_id}
    write_npy(os.path.join(run_dir, "samples_rejection.npy"), result.samples)
    if not reuse_classifier:
        save({"classifier": D.state_dict(), "settings": settings, **run_id}, clf_path)
    write_json(os.path.join(run_dir, "rejection.json"), report)
    try:
        from .. import viz
    except ImportError:  # matplotlib missing: the numbers are written, the figure is not
        return report
    if dim == 2:
        viz.rejection_figure(data_eval.x, proposals, result.samples, D, report, os.path.join(run_dir, "samples_rejection.png"))
    return report
