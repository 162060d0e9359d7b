"""What every training loop shares: stopping at the first non-finite number, resuming, and
keeping a moving average of the weights.

The GAN loop (``gan/train.py``), the image GANs (``gan/images.py``) and DDPM
(``diffusion/train.py``) all write an atomic checkpoint at each evaluation and
call :func:`check_finite` after each step, so a NaN or inf stops the run with a
message while the last good checkpoint stays on disk; :func:`restore` puts a
checkpoint's states back into the modules and optimisers of a resumed run.
"""
from __future__ import annotations

import copy
import dataclasses
import math

from .backend import get_xp
from .checkpoint import load

__all__ = ["TrainingDiverged", "check_finite", "restore", "check_resume_config", "RESUMABLE_CHANGES", "ema_update", "ema_decay", "WeightAverage", "same_setting"]


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
    field existed) is compared with the field's default, the behaviour the run had.
    """
    diffs = []
    for f in dataclasses.fields(cfg):
        if f.name in may_differ:
            continue
        if f.name in saved:
            old = saved[f.name]
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
    """
    state = load(path)
    if config is not None:
        if "config" not in state:
            raise KeyError(f"restore: checkpoint {path} has no entry 'config' to check the run's config against")
        check_resume_config(state["config"], config, may_differ=may_differ, path=str(path))
    for name, obj in objects.items():
        if name not in state:
            raise KeyError(f"restore: checkpoint {path} has no entry {name!r}; it has {sorted(state)}")
        obj.load_state_dict(state[name])
    return state


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
