r"""The training scaffold: everything a trainer does besides its own step.

A trainer is a config dataclass (:mod:`scratchgen.config`), its models, and a ``step`` function
that reads like the paper's algorithm (Goodfellow et al. 2014, Algorithm 1; Ho et al. 2020,
Algorithm 1). It hands them to a :class:`TrainingLoop`, which does the rest, once for every
model family:

* a progress bar (tqdm) with the latest metrics;
* evaluation every ``cfg.eval_every`` steps and at the last step, drawing from its *own* random
  stream (``rng(eval_seed)``, fresh at each evaluation), never from the training one, so that
  evaluating more or less often, or on more samples, changes no training draw;
* a stop with a message at the first non-finite loss or parameter (:func:`check_finite`),
  leaving the last good checkpoint on disk;
* an atomic checkpoint after each evaluation: modules, optimisers, schedulers and weight
  averages through their ``state_dict``, the training generator's state, the step, the
  history and the config;
* exact resume: :meth:`TrainingLoop.run` with ``resume=`` puts every state back (the generator
  in place, so layers that hold it keep drawing from it) and continues as the uninterrupted run
  would, bit for bit; resuming a finished run re-evaluates (the same numbers, since evaluation
  has its own stream) and adds no history entry;
* the history (per-step losses, per-evaluation metrics) and the atomic output files
  (:func:`write_outputs`: ``metrics.json`` and ``.npy`` arrays).

Weight averages are :class:`WeightAverage` (one implementation for every trainer).
See docs/architecture.md for a worked example (the 2-D GAN).
"""
from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import time

from .backend import get_xp, rng
from .checkpoint import CheckpointError, atomic_write, load, remove_partial_files, save

__all__ = ["TrainingLoop", "TrainingDiverged", "check_finite", "restore", "check_resume_config",
           "RESUMABLE_CHANGES", "ema_update", "ema_decay", "WeightAverage", "same_setting", "write_outputs",
           "write_json", "write_npy", "descend"]


class TrainingDiverged(RuntimeError):
    """A loss or a parameter became NaN or infinite."""


def check_finite(step, values, params, ckpt_path, last_good, hint="Try a smaller learning rate."):
    """Raise :class:`TrainingDiverged` if a loss in ``values`` or a parameter is not finite.

    Parameters
    ----------
    step : int
        The step just taken (named in the message).
    values : dict
        Losses by name, as Python floats.
    params : list of (name, Tensor)
        Parameters to check (the first non-finite one is named).
    ckpt_path, last_good : str or None, int or None
        Where the last good checkpoint is, and its step (named in the message).
    hint : str
        What to try next, appended to the message.
    """
    bad = [f"{k}={v}" for k, v in values.items() if not math.isfinite(v)]
    if not bad:
        for name, p in params:
            xp = get_xp(p.data)
            if not bool(xp.all(xp.isfinite(p.data))):
                bad.append(f"parameter {name}")
                break
    if bad:
        where = (f"the last good checkpoint (step {last_good}) is kept at {ckpt_path}"
                 if last_good is not None else "no checkpoint had been written yet")
        raise TrainingDiverged(f"training stopped at step {step}: non-finite {', '.join(bad)}; {where}. {hint}")


#: config fields a resumed run may change: how long it runs and how it reports, not what it trains
RESUMABLE_CHANGES = ("steps", "eval_every", "n_eval", "progress")


def _frozen(v):
    """Lists, tuples and arrays compare alike (a config may hold any of them)."""
    v = v.tolist() if hasattr(v, "tolist") else v
    return tuple(_frozen(x) for x in v) if isinstance(v, (list, tuple)) else v


def same_setting(a, b):
    """Whether two config values are one setting: ``[1, 2]``, ``(1, 2)`` and ``array([1, 2])`` are."""
    return _frozen(a) == _frozen(b)


def check_resume_config(saved, cfg, may_differ=RESUMABLE_CHANGES, path="the checkpoint"):
    """Raise ``ValueError`` if the dataclass ``cfg`` differs from ``saved``, the config dict a
    checkpoint was trained with, in a field other than ``may_differ``.

    Resuming with another loss, learning rate or averaging would silently train a different
    model from the saved states. A field that ``saved`` lacks (a checkpoint written before the
    field existed) is compared with the behaviour the run had: the config class's ``LEGACY`` value where
    the default has changed since, else the field's default.
    """
    diffs = []
    legacy = getattr(type(cfg), "LEGACY", {})
    for f in dataclasses.fields(cfg):
        if f.name in may_differ:
            continue
        if f.name in saved:
            old = saved[f.name]
        elif f.name in legacy:
            old = legacy[f.name]
        elif f.default is not dataclasses.MISSING:
            old = f.default
        elif f.default_factory is not dataclasses.MISSING:
            old = f.default_factory()
        else:
            continue
        new = getattr(cfg, f.name)
        if not same_setting(old, new):
            diffs.append(f"{f.name}: checkpoint {old!r}, this run {new!r}")
    if diffs:
        raise ValueError(f"resume: {path} was trained with another config ({'; '.join(diffs)}). "
                         f"Only {', '.join(may_differ)} may change on resume; start a new run instead.")


def restore(path, config=None, may_differ=RESUMABLE_CHANGES, **objects):
    """Load the checkpoint at ``path`` and call ``obj.load_state_dict(state[name])`` for each
    ``name=obj`` given (modules, optimisers, schedulers); return the whole state.

    With ``config`` (the resumed run's config dataclass), first check it against the
    checkpoint's ``"config"`` entry with :func:`check_resume_config`.

    Raises :class:`~scratchgen.checkpoint.CheckpointError` naming the file and the entry when an entry
    is missing or does not fit its object (a crafted or damaged file, or one of another model).
    """
    state = load(path)
    if not isinstance(state, dict):
        raise CheckpointError(f"restore: checkpoint {path} holds a {type(state).__name__}, not the dict that "
                              "a trainer saves")
    if config is not None:
        if not isinstance(state.get("config"), dict):
            raise CheckpointError(f"restore: checkpoint {path} has no entry 'config' (a dict) to check the run's "
                                  f"config against; it has {sorted(state)}")
        check_resume_config(state["config"], config, may_differ=may_differ, path=str(path))
    for name, obj in objects.items():
        if name not in state:
            raise CheckpointError(f"restore: checkpoint {path} has no entry {name!r}; it has {sorted(state)}")
        try:
            obj.load_state_dict(state[name])
        except (KeyError, ValueError, TypeError, AttributeError, IndexError) as e:
            raise CheckpointError(f"restore: checkpoint {path}: entry {name!r} does not fit this run's "
                                  f"{type(obj).__name__}: {e}") from e
    return state


def check_descent(cfg, who):
    """Check the settings :func:`descend` reads from a config: ``lr`` > 0, ``ema`` in [0, 1) (0 = no
    average), ``grad_clip`` None or > 0. Raises :class:`~scratchgen.validate.BadValue` naming the field."""
    from .validate import check_number

    check_number(cfg.lr, "lr", who, min=0, min_open=True)
    check_number(cfg.ema, "ema", who, min=0, max=1, max_open=True)
    if cfg.grad_clip is not None:
        check_number(cfg.grad_clip, "grad_clip", who, min=0, min_open=True, fix="none switches clipping off")


def descend(loss, opt, params, grad_clip=None, scheduler=None, average=None, t=None):
    r"""One update of gradient descent on ``loss``, in the order every trainer's step does it:
    zero the gradients, backpropagate, clip the global norm :math:`\lVert g\rVert_2` of ``params``'
    gradients to ``grad_clip`` (None: no clipping), ``opt.step()``, ``scheduler.step()``, and fold the new
    weights into ``average`` (a :class:`WeightAverage`) as update ``t``."""
    from .optim import clip_grad_norm_

    opt.zero_grad()
    loss.backward()
    if grad_clip is not None:
        clip_grad_norm_(params, grad_clip)
    opt.step()
    if scheduler is not None:
        scheduler.step()
    if average is not None:  # theta_ema <- mu_t theta_ema + (1 - mu_t) theta
        average.update(t)


def ema_update(ema_params, params, mu):
    r""":math:`\theta_\mathrm{ema} \leftarrow \mu\,\theta_\mathrm{ema} + (1-\mu)\,\theta`, in place.

    The exponential moving average of the weights (Polyak averaging with an exponential
    window): DDPM samples from it (Ho et al. 2020, Appendix B), and GAN generators
    averaged this way give better samples than the last iterate (Yazıcı et al. 2019).
    """
    if len(ema_params) != len(params):
        raise ValueError(f"ema_update: {len(ema_params)} averaged parameters for {len(params)} parameters")
    for pe, p in zip(ema_params, params):
        pe.data *= mu
        pe.data += (1 - mu) * p.data


def ema_decay(mu, step):
    r"""The decay used after update ``step`` (0-based): :math:`\min(\mu, (1+t)/(10+t))`.

    The warm-up makes the average forget the random initialisation quickly: early on the
    average follows the weights closely, and the decay reaches :math:`\mu` after about
    :math:`(10\mu - 1)/(1-\mu)` updates.
    """
    return min(mu, (1 + step) / (10 + step))


class WeightAverage:
    r"""An exponential moving average of a module's weights, kept in a copy of the module.

    ``update(step)`` after each optimiser step applies :func:`ema_update` with
    :func:`ema_decay`; ``module()`` returns the averaged copy, ready for evaluation. Buffers
    (batch-norm running statistics) are not averaged: ``module()`` copies the live module's
    buffers in. Those statistics were collected with the live weights, so for a network with
    batch norm the averaged copy is evaluated with slightly mismatched statistics (an
    approximation; recomputing them would take a pass over data).
    """

    def __init__(self, live, mu):
        if not 0 < mu < 1:
            raise ValueError(f"WeightAverage: mu must lie in (0, 1), got {mu!r}")
        self.live, self.mu = live, mu
        self.avg = copy.deepcopy(live)  # starts at the live weights; shares no array with them
        self._live_params, self._avg_params = live.parameters(), self.avg.parameters()
        self._live_buffers = [(mod, name) for mod in live.modules() for name in mod._buffers]
        self._avg_buffers = [(mod, name) for mod in self.avg.modules() for name in mod._buffers]

    def update(self, step):
        ema_update(self._avg_params, self._live_params, ema_decay(self.mu, step))

    def module(self):
        for (mod, name), (amod, _) in zip(self._live_buffers, self._avg_buffers):
            getattr(amod, name)[...] = getattr(mod, name)
        return self.avg


# ---------------------------------------------------------------------------
# The loop
# ---------------------------------------------------------------------------
class TrainingLoop:
    r"""Run a trainer's ``step`` for ``cfg.steps`` steps, with evaluation, checkpoints and resume.

    Parameters
    ----------
    kind : str
        What trains (``"gan"``, ``"image_gan"``, ``"ddpm"``): written into each checkpoint, so that
        resuming a checkpoint of another kind is refused with its name.
    cfg : config dataclass
        Must have ``steps``, ``eval_every`` and ``progress``; it is saved in each
        checkpoint and checked on resume (:func:`check_resume_config`).
    gen : HostGenerator
        The training stream: every random draw of ``step`` comes from it. Saved with each
        checkpoint and restored in place on resume.
    step : callable
        ``step(t) -> dict``: one training step at ``t = 0, 1, ...``; returns the numbers to log
        (Python floats or 0-d Tensors), e.g. ``{"loss_d": ..., "loss_g": ...}``.
    evaluate : callable
        ``evaluate(t, gen_eval, final) -> (metrics, outputs)`` after step ``t`` (1-based count
        of steps done). ``gen_eval`` is a fresh ``rng(eval_seed)``; ``final`` is True at the last
        step. ``metrics`` (a JSON-able dict) goes into the history; ``outputs`` (anything, e.g.
        the samples) is returned by :meth:`run` from the last evaluation.
    modules, optimizers, schedulers, averages : dict of name -> object
        What a checkpoint holds, through ``state_dict`` / ``load_state_dict``; an average is a
        :class:`WeightAverage` (its averaged copy is saved). ``callback`` sees the modules.
    eval_seed : int
        Seed of the evaluation stream.
    may_differ : tuple of str
        Config fields a resumed run may change (:data:`RESUMABLE_CHANGES` and any the trainer adds).
    hint : str
        Advice appended to the message of a non-finite stop.
    desc : str
        The progress bar's label.
    postfix : tuple of str
        Metric names shown on the progress bar after each evaluation.
    """

    def __init__(self, kind, cfg, gen, *, step, evaluate, modules, optimizers=None, schedulers=None,
                 averages=None, eval_seed, may_differ=RESUMABLE_CHANGES, hint="Try a smaller learning rate.",
                 desc=None, postfix=()):
        self.kind, self.cfg, self.gen = kind, cfg, gen
        self.step, self.evaluate = step, evaluate
        self.modules = dict(modules)
        self.optimizers, self.schedulers = dict(optimizers or {}), dict(schedulers or {})
        self.averages = {k: v for k, v in (averages or {}).items() if v is not None}
        names = [*self.modules, *self.optimizers, *self.schedulers, *self.averages]
        reserved = {"kind", "step", "rng", "history", "config", "timing_seconds"} & set(names)
        if len(set(names)) != len(names) or reserved:
            raise ValueError(f"TrainingLoop: the state names must be distinct and not {sorted(reserved)}, got {names}")
        self.eval_seed, self.may_differ, self.hint = eval_seed, tuple(may_differ), hint
        self.desc, self.postfix = desc or kind, tuple(postfix)
        self.history = {"step": [], "eval_step": [], "eval": []}
        self.seconds = {"train": 0.0, "train_cpu": 0.0, "eval": 0.0, "last_eval": 0.0}

    # -- checkpoints ---------------------------------------------------------------------------
    def state(self, step):
        """Everything a checkpoint holds after ``step`` steps."""
        state = {"kind": self.kind, "step": step, "rng": self.gen, "config": dataclasses.asdict(self.cfg),
                 "timing_seconds": dict(self.seconds),  # so that a resumed run reports the time of the whole run
                 "history": dict(self.history, eval=[json.dumps(e) for e in self.history["eval"]])}
        for group in (self.modules, self.optimizers, self.schedulers):
            state.update({name: obj.state_dict() for name, obj in group.items()})
        state.update({name: avg.avg.state_dict() for name, avg in self.averages.items()})
        return state

    def restore(self, path):
        """Load the checkpoint at ``path`` into the loop's objects; return the step it was written at."""
        saved_kind = load(path).get("kind", self.kind)  # checkpoints of older versions carry no kind
        if saved_kind != self.kind:
            raise ValueError(f"resume: {path} is a {saved_kind} checkpoint, not a {self.kind} one")
        objects = {**self.modules, **self.optimizers, **self.schedulers,
                   **{name: avg.avg for name, avg in self.averages.items()}}
        state = restore(path, config=self.cfg, may_differ=self.may_differ, **objects)
        self.gen.bit_generator.state = state["rng"].bit_generator.state  # in place: layers holding gen see it
        self.history = {k: list(v) for k, v in state["history"].items()}
        self.history["eval"] = [json.loads(e) if isinstance(e, str) else e for e in self.history.get("eval", [])]
        self.seconds.update(state.get("timing_seconds", {}))
        return int(state["step"])

    # -- evaluation ------------------------------------------------------------------------------
    def _evaluate(self, step, record=True):
        t0 = time.perf_counter()
        metrics, outputs = self.evaluate(step, rng(self.eval_seed), step == self.cfg.steps)
        self.seconds["last_eval"] = time.perf_counter() - t0
        self.seconds["eval"] += self.seconds["last_eval"]
        if record:
            self.history["eval_step"].append(step)
            self.history["eval"].append(metrics)
        return metrics, outputs

    # -- the loop --------------------------------------------------------------------------------
    def run(self, out_dir=None, resume=None, callback=None):
        """Train from step 0 (or from the checkpoint ``resume``) to ``cfg.steps``.

        Writes ``out_dir/checkpoint.npz`` after each evaluation. ``callback(step, *modules)`` runs
        after every step (tests use it to inject faults). Returns ``(metrics, outputs)`` of the
        last evaluation.
        """
        cfg = self.cfg
        ckpt_path = os.path.join(out_dir, "checkpoint.npz") if out_dir else None
        if out_dir:
            os.makedirs(out_dir, exist_ok=True)
            remove_partial_files(out_dir)  # temporaries of a save that was killed
        start = last_good = None
        if resume is not None:
            start = last_good = self.restore(resume)
        start = start or 0
        params = [np for name, m in self.modules.items() for np in m.named_parameters(name)]
        from tqdm.auto import tqdm

        bar = tqdm(range(start, cfg.steps), disable=not cfg.progress, desc=self.desc)
        last, shown, every = None, {}, max(1, cfg.steps // 100)
        for t in bar:
            t0, c0 = time.perf_counter(), time.process_time()
            logged = {k: float(v.item()) if hasattr(v, "item") else float(v) for k, v in self.step(t).items()}
            self.seconds["train"] += time.perf_counter() - t0
            self.seconds["train_cpu"] += time.process_time() - c0
            check_finite(t + 1, logged, params, ckpt_path, last_good, hint=self.hint)
            self.history["step"].append(t + 1)
            for k, v in logged.items():
                self.history.setdefault(k, []).append(v)
            if callback is not None:
                callback(t + 1, *self.modules.values())
            if (t + 1) % cfg.eval_every == 0 or t + 1 == cfg.steps:
                last = self._evaluate(t + 1)
                if ckpt_path:
                    save(self.state(t + 1), ckpt_path)
                    last_good = t + 1
                shown.update({k: v for k, v in last[0].items() if k in self.postfix})
            if (t + 1) % every == 0 or t + 1 == cfg.steps:  # the latest numbers, about a hundred times a run
                bar.set_postfix({k: (f"{v:.3g}" if isinstance(v, float) else v) for k, v in {**logged, **shown}.items()
                                 if v is not None})
        if last is None:  # resumed from a finished run: the same outputs again, no new history entry
            last = self._evaluate(cfg.steps, record=False)
        return last


def write_npy(path, array):
    """``numpy.save`` of ``array`` (either backend) to ``path``, atomically."""
    import numpy  # file output only: .npy is NumPy's format

    from .backend import to_numpy

    with atomic_write(path) as f:
        numpy.save(f, to_numpy(array))


def write_json(path, obj):
    """``obj`` as indented JSON at ``path``, atomically."""
    with atomic_write(path, "w") as f:
        json.dump(obj, f, indent=2)


def write_outputs(out_dir, final, cfg, history, arrays=None):
    """Write ``metrics.json`` (``final``, the config and the evaluation history) and each array of
    ``arrays`` (name -> array, saved as ``name.npy``) into ``out_dir``, each file atomically."""
    for name, a in (arrays or {}).items():
        if a is not None:
            write_npy(os.path.join(out_dir, f"{name}.npy"), a)
    write_json(os.path.join(out_dir, "metrics.json"),
               {"final": final, "config": dataclasses.asdict(cfg),
                "history": {"eval_step": history["eval_step"], "eval": history["eval"]}})
