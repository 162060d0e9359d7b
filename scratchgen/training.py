"""What every training loop shares: stopping at the first non-finite number, and resuming.

The GAN loop (``gan/train.py``), the image GANs (``gan/images.py``) and DDPM
(``diffusion/train.py``) all write an atomic checkpoint at each evaluation and
call :func:`check_finite` after each step, so a NaN or inf stops the run with a
message while the last good checkpoint stays on disk; :func:`restore` puts a
checkpoint's states back into the modules and optimisers of a resumed run.
"""
from __future__ import annotations

import math

from .backend import get_xp
from .checkpoint import load

__all__ = ["TrainingDiverged", "check_finite", "restore"]


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


def restore(path, **objects):
    """Load the checkpoint at ``path`` and call ``obj.load_state_dict(state[name])`` for each
    ``name=obj`` given (modules, optimisers, schedulers); return the whole state."""
    state = load(path)
    for name, obj in objects.items():
        if name not in state:
            raise KeyError(f"restore: checkpoint {path} has no entry {name!r}; it has {sorted(state)}")
        obj.load_state_dict(state[name])
    return state
