"""One source for every option: a config dataclass field, written once with its help text.

A trainer's settings are a dataclass whose fields are declared with :func:`option`::

    @dataclass
    class GANConfig(Config):
        loss: str = option("nonsaturating", "GAN loss", choices=("minimax", "nonsaturating", ...))
        steps: int = option(5000, "generator updates")

The field's default is the library's default; its help text, choices and flag name are what
``scratchgen train ... --help`` shows (the command line is generated from the fields by
:mod:`scratchgen.cli.common`, never written by hand). Where a command wants other defaults
than the library, they are a named *preset* in the class's ``PRESETS``: both
``GANConfig.preset(name)`` in Python and the command line use the same dict, so the library
and the command never train different things under one name.
"""
from __future__ import annotations

import dataclasses
from typing import ClassVar

__all__ = ["option", "Config"]


def option(default, help, *, choices=None, flag=None, metavar=None, cli=True):
    """A dataclass field with the metadata the command line is generated from.

    Parameters
    ----------
    default : the library's default (immutable: a number, a string, None or a tuple)
    help : str
        One line for ``--help``.
    choices : tuple, optional
        The allowed values (``None`` among them if the option may be off).
    flag : str, optional
        The command-line name (``"--hidden"``), when it differs from ``--field-name`` (kept for
        names users know).
    metavar : str or tuple of str, optional
        The placeholder ``--help`` shows for the value (a tuple: one per value of a fixed-length tuple).
    cli : bool
        ``False`` for fields a command sets itself, never as an option (``ImageGANConfig.model``: the
        subcommand ``dcgan``/``cgan``/``ssgan`` chooses it).
    """
    if isinstance(default, (list, dict, set)):
        raise TypeError(f"option: the default must be immutable (use a tuple), got {type(default).__name__}")
    if not isinstance(help, str) or not help.strip():
        raise TypeError(f"option: help must be a non-empty string (one line for --help), got {help!r}")
    if choices is not None and default not in choices:
        raise ValueError(f"option: the default must be one of choices={tuple(choices)!r}, got {default!r}")
    if flag is not None and not (isinstance(flag, str) and flag.startswith("--")):
        raise ValueError(f"option: flag must be a command-line name starting with '--', got {flag!r}")
    return dataclasses.field(default=default, metadata={"help": help, "choices": choices, "flag": flag,
                                                        "metavar": metavar, "cli": cli})


class Config:
    """Base of the trainers' config dataclasses: presets, and reading a checkpoint's config back."""

    #: named sets of overrides of the defaults, shared by the Python API and the command line
    PRESETS: ClassVar[dict] = {}
    #: what a checkpoint written before a field existed trained with, where that differs from today's
    #: default (read by :meth:`from_saved` and by the resume check, ``training.check_resume_config``)
    LEGACY: ClassVar[dict] = {}

    @classmethod
    def preset(cls, name, **overrides):
        """The config with the preset ``name`` applied, then ``overrides``.

        ``ImageGANConfig.preset("ssgan", seed=3)`` is what ``scratchgen train ssgan --seed 3`` runs.
        """
        if name not in cls.PRESETS:
            raise ValueError(f"{cls.__name__}.preset: name must be one of {sorted(cls.PRESETS)}, got {name!r}")
        settings = {**cls.PRESETS[name], **overrides}
        unknown = sorted(set(settings) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise TypeError(f"{cls.__name__}.preset({name!r}): {', '.join(unknown)} not among the fields of "
                            f"{cls.__name__} ({', '.join(f.name for f in dataclasses.fields(cls))})")
        return cls(**settings)

    @classmethod
    def from_saved(cls, saved):
        """The config a checkpoint's ``"config"`` entry describes (JSON lists back to tuples; fields this
        version no longer has are dropped; fields it lacks take their ``LEGACY`` value, the old behaviour,
        else today's default)."""
        names = {f.name for f in dataclasses.fields(cls)}
        saved = {**{k: v for k, v in cls.LEGACY.items() if k not in saved}, **saved}
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in saved.items() if k in names})

    def to_dict(self):
        """The fields as a plain dict (what a checkpoint and ``metrics.json`` store)."""
        return dataclasses.asdict(self)
