"""What every command shares: options generated from a config dataclass, the run options, the summary line.

A ``scratchgen train MODEL`` parser is generated from the fields of the model's config
(:mod:`scratchgen.config`): one option per field declared with ``option(..., cli=True)``, named
``--field-name`` (or the field's ``flag``), its type read from the annotation, its help text and
choices from the field, and its default shown as the value that will run. Parsing gives back the
config itself (:func:`config_from_args`), so no option is written twice.

How a field's annotation becomes an option:

=====================  ==================================================================
``int``/``float``/``str``  one value of that type
``bool``               ``--flag`` / ``--no-flag``
``X | None``           a value of type X, or ``none``
``tuple[X, X]``        exactly that many values of type X (``--betas 0.5 0.999``)
``tuple[X, ...]``      one or more values of type X (``--hidden 512 256``)
=====================  ==================================================================

Defaults: an option left out takes the config's default, or the preset's where the command
applies one (``scratchgen train ssgan`` runs ``ImageGANConfig.preset("ssgan")``; ``scratchgen train
ddpm --data digits`` runs ``DDPMConfig.preset("digits")``); ``--help`` shows those values.

Errors (docs/reliability.md): every error is one line, ``scratchgen: error: ...``, naming the option.
A mistake in the command (a bad value, a missing or wrong file, an ``--out`` that cannot be used) is a
:class:`UsageError`, exit code 2, found by the checks here *before* anything is created under
``--out``: the config's ``validate()`` (its field names rendered as options), ``--resume`` (a file,
a checkpoint, of this model's kind, with these settings) and ``--out`` (:func:`check_out_dir`). A
failure of the run itself (a non-finite loss, a full disk) exits with code 1.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import types
import typing

from ..validate import BadArgument

__all__ = ["add_config_arguments", "add_train_command", "config_from_args", "config_kwargs", "add_backend_argument",
           "add_run_arguments", "metrics_line", "flag_of", "cli_fields", "UsageError", "OneLineParser", "check_out_dir",
           "check_out_file", "read_checkpoint", "check_option", "prepare_run", "KIND_HINTS"]


class UsageError(Exception):
    """A mistake in the command (an option's value, a file it names): ``scratchgen: error: ...``, exit code 2."""


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line, ``scratchgen: error: ...`` (no usage block), exit code 2."""

    def error(self, message):
        self.exit(2, f"scratchgen: error: {message} (see: {self.prog} --help)\n")


def check_option(check, value, flag, *args, **kwargs):
    """``check(value, flag, "", ...)`` of :mod:`scratchgen.validate`, its error as a :class:`UsageError`
    naming the option (``--steps must be a positive int, got 0``)."""
    try:
        return check(value, flag, "", *args, **kwargs)
    except BadArgument as e:
        raise UsageError(e.render(show=_show, who=False)) from None


# ---------------------------------------------------------------------------
# Files the command line writes and reads: --out, --resume, --checkpoint
# ---------------------------------------------------------------------------
def _nearest_existing(path):
    """The deepest existing folder on the way to ``path``, or the first file met on it (and whether it is one)."""
    parent = os.path.abspath(path)
    while not os.path.exists(parent):
        up = os.path.dirname(parent)
        if up == parent:
            break
        parent = up
    return parent, os.path.exists(parent) and not os.path.isdir(parent)


def _check_writable_folder(path, option):
    """Raise a :class:`UsageError` unless the folder ``path`` (or, where it is missing, its nearest existing
    ancestor, in which it would be made) can be written."""
    where, is_file = _nearest_existing(path)
    if is_file:
        raise UsageError(f"{option}: {where!r} is a file, so {path!r} cannot be made under it; choose another {option}")
    if not os.access(where, os.W_OK | os.X_OK):
        raise UsageError(f"{option}: cannot write in {where!r} (read-only or no permission); choose another {option}")


def check_out_dir(path, option="--out", *, must_be_empty=False, fix=None):
    """Check the run directory ``path`` before anything is written: not a file, not under a file, in a
    folder that can be written (missing folders are made later, by the run); with ``must_be_empty``, an
    existing directory must hold nothing (``fix`` says what to do instead). Creates nothing."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise UsageError(f"{option}: {path!r} is a file, not a directory; choose another {option}")
    _check_writable_folder(path, option)
    if must_be_empty and os.path.isdir(path):
        names = sorted(os.listdir(path))
        if names:
            shown = ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")
            raise UsageError(f"{option}: the run directory {path!r} is not empty ({shown}); {fix or 'choose another ' + option}")


def check_out_file(path, option="--out"):
    """Check a file to be written: not a directory, its folder not a file and writable. Creates nothing."""
    if os.path.isdir(path):
        raise UsageError(f"{option}: {path!r} is a directory; give the name of a file to write")
    _check_writable_folder(os.path.dirname(os.path.abspath(path)), option)


#: what made each kind of checkpoint, and what to do with one (the scaffold writes ``kind`` into each)
KIND_HINTS = {
    "gan": ("a GAN checkpoint (scratchgen train gan)", "use scratchgen reject {run_dir} to rejection-sample its run, "
                                                      "or resume it with scratchgen train gan"),
    "image_gan": ("an image-GAN checkpoint (scratchgen train dcgan|cgan|ssgan)",
                  "use scratchgen eval --samples {run_dir}/samples.npy to score its samples, or resume it with the "
                  "same scratchgen train command"),
    "ddpm": ("a DDPM checkpoint (scratchgen train ddpm)",
             "use scratchgen sample --checkpoint {path} to draw samples from it, or resume it with scratchgen train ddpm"),
    "log_ratio": ("a rejection sampler's classifier (scratchgen reject)",
                  "it is read by scratchgen reject --reuse-classifier {run_dir}, not trained further"),
    "vdm": ("a VDM checkpoint (scratchgen train vdm)", "resume it with scratchgen train vdm"),
    "ldm": ("a latent-diffusion checkpoint (scratchgen train ldm)", "resume it with scratchgen train ldm"),
    "vae": ("a VAE checkpoint (scratchgen train vae)", "resume it with scratchgen train vae, or give it to "
                                                        "scratchgen train ldm --vae PATH"),
    "autoencoder": ("an autoencoder checkpoint (scratchgen train ae)", "resume it with scratchgen train ae"),
    "flow": ("a flow checkpoint (scratchgen train flow)", "resume it with scratchgen train flow"),
    "progan": ("a Progressive-GAN checkpoint (scratchgen train progan)", "resume it with scratchgen train progan"),
    "stylegan": ("a StyleGAN checkpoint (scratchgen train stylegan)", "resume it with scratchgen train stylegan"),
    "i2i": ("an image-to-image checkpoint (scratchgen train pix2pix|cyclegan|inpaint)",
            "resume it with the same scratchgen train command"),
    "score": ("a score-network checkpoint (demos/score_langevin.py)", "it is read by demos/score_langevin.py"),
}


def read_checkpoint(path, option, kind=None, use=None):
    """Load the checkpoint ``path`` that ``option`` names and check that it is one of ``kind`` (when given)
    and holds what the scaffold writes (``kind``, ``step``, ``rng``, ``config``, ``history``); return its
    state. Any problem is a :class:`UsageError` naming the option, the file and what to do."""
    from ..checkpoint import CheckpointError, load

    if not os.path.exists(path):
        raise UsageError(f"{option}: no such file {path!r}")
    if os.path.isdir(path):
        raise UsageError(f"{option}: {path!r} is a directory; give its checkpoint.npz")
    try:
        state = load(path)
    except CheckpointError as e:
        raise UsageError(f"{option}: {e}") from None
    if not isinstance(state, dict):
        raise UsageError(f"{option}: {path!r} holds a {type(state).__name__}, not a training checkpoint")
    saved = state.get("kind", kind)  # checkpoints written before the scaffold carry no kind
    if kind is not None and saved != kind:
        what, todo = KIND_HINTS.get(saved, (f"a {saved!r} checkpoint", "use the command that wrote it"))
        todo = todo.format(path=path, run_dir=os.path.dirname(path) or ".")
        raise UsageError(f"{option}: {path!r} is {what}, not {KIND_HINTS.get(kind, (kind,))[0]}; {use or todo}")
    import numpy

    layout = {"step": int, "rng": numpy.random.Generator, "config": dict, "history": dict}
    for name, tp in layout.items():
        if not isinstance(state.get(name), tp) or isinstance(state.get(name), bool):
            raise UsageError(f"{option}: {path!r} has no valid entry {name!r} ({tp.__name__}) of a training "
                             f"checkpoint; it was not written by scratchgen train, or was edited")
    return state


def metrics_line(metrics, keys=None, skip=()):
    """``k=v, ...`` with floats to 4 significant digits: the one-line summary a command prints.

    ``keys``: only these (in the order of ``metrics``); ``skip``: all but these.
    """
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items()
                     if (keys is None or k in keys) and k not in skip)


def add_backend_argument(p):
    """``--backend numpy|cupy``; without it a command runs on the active backend (``SCRATCHGEN_BACKEND``, else NumPy)."""
    p.add_argument("--backend", default=argparse.SUPPRESS, choices=["numpy", "cupy"],
                   help="array backend (default: the active one: $SCRATCHGEN_BACKEND if set, else numpy)")


def add_run_arguments(p):
    """The options of a training run that are not settings of the model: ``--out``, ``--resume``,
    ``--overwrite``, ``--backend``."""
    p.add_argument("--out", required=True, help="run directory (must be empty or new, unless --resume or --overwrite)")
    p.add_argument("--resume", default=None, metavar="CHECKPOINT",
                   help="checkpoint.npz to continue from; give the options it was trained with (only --steps, how the "
                        "run reports and where its data files are may change; an error names any other difference)")
    p.add_argument("--overwrite", action="store_true",
                   help="train into a run directory that holds files, replacing those the run writes")
    add_backend_argument(p)


# ---------------------------------------------------------------------------
# Options from a config's fields
# ---------------------------------------------------------------------------
def flag_of(f: dataclasses.Field) -> str:
    """The command-line name of a config field: its ``flag``, else ``--field-name``."""
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


def cli_fields(cls, names=None, exclude=()):
    """The fields of ``cls`` the command line offers (``cli=True``), in the class's order; ``names``:
    only these; ``exclude``: not these."""
    out = [f for f in dataclasses.fields(cls) if f.metadata.get("cli", False) and f.name not in exclude
           and (names is None or f.name in names)]
    if names is not None:
        unknown = sorted(set(names) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"cli_fields: {', '.join(unknown)} not among the fields of {cls.__name__}")
    return out


def _show(v):
    """A value as the command line writes it: ``none``, ``on``/``off``, tuples space-separated."""
    if v is None:
        return "none"
    if isinstance(v, bool):
        return "on" if v else "off"
    if isinstance(v, (tuple, list)):
        return " ".join(_show(x) for x in v)
    return str(v)


def _scalar(tp, name, choices):
    """The ``type=`` function of one value: ``tp`` (int, float or str), ``none`` for None where
    ``None`` is allowed, checked against ``choices``."""
    optional = typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in typing.get_args(tp)
    base = next(a for a in typing.get_args(tp) if a is not type(None)) if optional else tp
    if base not in (int, float, str):
        raise TypeError(f"cli: field {name} has type {tp}; the command line reads int, float, str, bool, "
                        "X | None and tuples of int/float/str")

    def convert(text):
        if optional and text.lower() == "none":
            value = None
        else:
            try:
                value = base(text)
            except ValueError:
                raise argparse.ArgumentTypeError(
                    f"expected {base.__name__}{' or none' if optional else ''}, got {text!r}") from None
        if choices is not None and value not in choices:
            raise argparse.ArgumentTypeError(f"expected one of {', '.join(_show(c) for c in choices)}, got {text!r}")
        return value

    convert.__name__ = base.__name__
    return convert


def add_config_arguments(parser, cls, fields=None, defaults=None, notes=None, title=None):
    """Add one option per field of ``fields`` (default: every command-line field of ``cls``).

    Parameters
    ----------
    parser : argparse.ArgumentParser
    cls : a :class:`~scratchgen.config.Config` dataclass
    fields : list of dataclasses.Field, optional
    defaults : instance of ``cls``, optional
        The config that runs when no option is given (default: ``cls()``); ``--help`` shows its values.
    notes : dict, optional
        Field name -> text appended to the default in ``--help`` (``"; --data digits: 4000"``).
    title : str, optional
        The heading of these options in ``--help``.

    Every option's default is ``argparse.SUPPRESS``: the parsed namespace holds the options given,
    and :func:`config_kwargs` reads them back.
    """
    fields = cli_fields(cls) if fields is None else fields
    defaults = cls() if defaults is None else defaults
    notes = notes or {}
    hints = typing.get_type_hints(cls)
    group = parser.add_argument_group(title or f"settings ({cls.__name__})")
    for f in fields:
        tp, meta = hints[f.name], f.metadata
        choices, metavar = meta.get("choices"), meta.get("metavar")
        shown = f" (default: {_show(getattr(defaults, f.name))}{notes.get(f.name, '')})"
        kw = dict(dest=f.name, default=argparse.SUPPRESS, help=(meta["help"] + shown).replace("%", "%%"))
        if tp is bool:
            group.add_argument(flag_of(f), action=argparse.BooleanOptionalAction, **kw)
            continue
        if typing.get_origin(tp) is tuple:
            args = typing.get_args(tp)
            kw["nargs"] = "+" if len(args) == 2 and args[1] is Ellipsis else len(args)
            tp = args[0]
        if metavar is None:
            metavar = ("{" + ",".join(_show(c) for c in choices) + "}" if choices is not None
                       else flag_of(f).lstrip("-").replace("-", "_").upper())
        group.add_argument(flag_of(f), type=_scalar(tp, f.name, choices), metavar=metavar, **kw)
    return group


def config_kwargs(args, fields):
    """The settings that parsed ``args`` give for ``fields`` (the options given; tuples as tuples)."""
    return {f.name: tuple(v) if isinstance(v, list) else v
            for f in fields if (v := getattr(args, f.name, _MISSING)) is not _MISSING}


_MISSING = object()


# ---------------------------------------------------------------------------
# A `scratchgen train MODEL` command
# ---------------------------------------------------------------------------
def add_train_command(models, name, cls, *, help, description, run, fixed=None, preset=None, preset_by=None,
                      exclude=(), kind=None, may_differ=None):
    """Add ``scratchgen train NAME``: its options generated from ``cls``, then the run options.

    Parameters
    ----------
    models : the ``add_subparsers()`` object of ``scratchgen train``
    name, help, description : the command's name, its line in ``scratchgen train --help``, its description
    cls : the config dataclass the options come from
    run : callable(args, cfg) that trains and prints; returns the run
    fixed : dict, optional
        Settings the command fixes (``{"model": "cgan"}``): not offered as options.
    preset : str, optional
        The preset of ``cls.PRESETS`` the command always applies (its values are the defaults shown).
    preset_by : str, optional
        A field whose value names a preset to apply when ``cls.PRESETS`` has one (``"data"``: the DDPM
        applies ``PRESETS["digits"]`` for ``--data digits``).
    exclude : field names the command does not offer (another command's options)
    kind : str, optional
        The ``kind`` its trainer writes into checkpoints (``"gan"``): ``--resume`` of another kind is refused
        by name before anything is written.
    may_differ : tuple of str, or a function of the config giving one, optional
        The fields a resumed run may change (default: :data:`scratchgen.training.RESUMABLE_CHANGES`).

    Returns
    -------
    argparse.ArgumentParser
        The command's parser, for the options that are not settings (``--baseline``).
    """
    fixed = dict(fixed or {})
    fields = cli_fields(cls, exclude=tuple(exclude) + tuple(fixed))
    defaults = cls.preset(preset, **fixed) if preset else cls(**fixed)
    notes, extra = {}, ""
    if preset:
        values = ", ".join(f"{k}={_show(v)}" for k, v in cls.PRESETS[preset].items() if k not in fixed)
        extra = (f" Defaults are those of the preset {preset!r} ({cls.__name__}.preset({preset!r}) in Python: "
                 f"{values}); the options below show them.")
    if preset_by:
        for key, settings in cls.PRESETS.items():
            for k, v in settings.items():
                if k != preset_by:
                    notes[k] = notes.get(k, "") + f"; {flag_of(cls.__dataclass_fields__[preset_by])} {key}: {_show(v)}"
            values = ", ".join(f"{k}={_show(v)}" for k, v in settings.items() if k != preset_by)
            extra += (f" With {flag_of(cls.__dataclass_fields__[preset_by])} {key}, options left out take the preset "
                      f"{key!r} ({cls.__name__}.preset({key!r}) in Python: {values}).")
    p = models.add_parser(name, help=help, description=description + extra)
    add_config_arguments(p, cls, fields, defaults, notes)
    add_run_arguments(p)

    def make_config(args):
        given = {**config_kwargs(args, fields), **fixed}
        key = given.get(preset_by, getattr(cls(), preset_by)) if preset_by else preset
        return cls.preset(key, **given) if key in cls.PRESETS else cls(**given)

    def func(args):
        cfg = make_config(args)
        prepare_run(args, cfg, kind=kind, may_differ=may_differ)  # every check, before anything is written
        return run(args, cfg)

    p.set_defaults(func=func, make_config=make_config)
    return p


def prepare_run(args, cfg, kind=None, may_differ=None):
    """The checks of ``scratchgen train MODEL`` before any work, each a :class:`UsageError` naming the option:
    the config's ``validate()`` (field names rendered as options), ``--resume`` (:func:`read_checkpoint`, then
    the settings it was trained with, of which only ``may_differ`` may change), and ``--out``
    (:func:`check_out_dir`: a non-empty directory only with ``--resume`` or ``--overwrite``)."""
    from ..training import RESUMABLE_CHANGES, check_resume_config

    fields = {f.name: f for f in dataclasses.fields(cfg)}
    name_of = lambda field: flag_of(fields[field]) if field in fields and fields[field].metadata.get("cli") else field  # noqa: E731
    validate = getattr(cfg, "validate", None)
    if validate is not None:
        try:
            validate()
        except BadArgument as e:
            raise UsageError(e.render(name_of, show=_show, who=False)) from None
        except ValueError as e:
            raise UsageError(str(e)) from None
    resume = getattr(args, "resume", None)
    if resume is not None:
        state = read_checkpoint(resume, "--resume", kind)
        try:
            md = may_differ(cfg) if callable(may_differ) else may_differ
            check_resume_config(state["config"], cfg, may_differ=md or RESUMABLE_CHANGES, path=resume)
        except ValueError as e:
            raise UsageError(f"--resume: {str(e).removeprefix('resume: ')}") from None
    fix = (f"continue it with --resume {os.path.join(args.out, 'checkpoint.npz')}, " if os.path.exists(
        os.path.join(args.out, "checkpoint.npz")) else "") + "choose another --out, or pass --overwrite to replace its files"
    check_out_dir(args.out, "--out", must_be_empty=resume is None and not getattr(args, "overwrite", False), fix=fix)


def config_from_args(args):
    """The config that parsed ``scratchgen train MODEL ...`` arguments ask for."""
    return args.make_config(args)
