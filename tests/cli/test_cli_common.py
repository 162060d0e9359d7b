"""Every `scratchgen train MODEL` parser is generated from its config: each option shows the default
that runs, parsing nothing gives the library's config (or the command's named preset), and every
option reaches its field."""
import dataclasses
import re
import typing

import pytest

from scratchgen.cli import build_parser, config_from_args, main
from scratchgen.cli.common import _show, cli_fields, flag_of, metrics_line
from scratchgen.diffusion.latent import LDMConfig
from scratchgen.diffusion.train import DDPMConfig
from scratchgen.diffusion.train_vdm import VDMConfig
from scratchgen.flows.train import FlowConfig
from scratchgen.gan.train import GANConfig
from scratchgen.gan.train_i2i import ONLY as I2I_ONLY
from scratchgen.gan.train_i2i import I2IConfig
from scratchgen.gan.train_images import SSGAN_ONLY, ImageGANConfig
from scratchgen.gan.train_karras import KarrasConfig
from scratchgen.vae.train import AEConfig, VAEConfig

# command -> (config class, the config that runs when no option is given, fields it does not offer)
COMMANDS = {
    "gan": (GANConfig, GANConfig(), ()),
    "ddpm": (DDPMConfig, DDPMConfig(), ()),
    "dcgan": (ImageGANConfig, ImageGANConfig(model="dcgan"), ("model",) + SSGAN_ONLY),
    "cgan": (ImageGANConfig, ImageGANConfig(model="cgan"), ("model",) + SSGAN_ONLY),
    "ssgan": (ImageGANConfig, ImageGANConfig.preset("ssgan"), ("model",)),
    "vae": (VAEConfig, VAEConfig(), ()),
    "ae": (AEConfig, AEConfig(), ()),
    "flow": (FlowConfig, FlowConfig(), ()),
    "ldm": (LDMConfig, LDMConfig(), ()),
    "vdm": (VDMConfig, VDMConfig(), ()),
    "progan": (KarrasConfig, KarrasConfig(model="progan"), ("model", "w_dim", "mapping_layers", "mixing")),
    "stylegan": (KarrasConfig, KarrasConfig(model="stylegan"), ("model", "fade", "first_stage")),
    **{m: (I2IConfig, I2IConfig.preset(m), ("model",) + (("task",) if m == "inpaint" else ())
           + tuple(n for other, names in I2I_ONLY.items() if other != m for n in names)) for m in I2I_ONLY},
}
CASES = [(cmd, f.name) for cmd, (cls, _, skip) in COMMANDS.items() for f in cli_fields(cls, exclude=skip)
         if len(f.metadata.get("choices") or "xx") > 1]  # an option of one choice (vdm's --data) has no other value


@pytest.fixture(scope="module")
def parser():
    return build_parser()


def _command(parser, name):
    train = parser._subparsers._group_actions[0].choices["train"]
    return train._subparsers._group_actions[0].choices[name]


def _parse(parser, cmd, *options):
    return config_from_args(parser.parse_args(["train", cmd, "--out", "x", *options]))


def _help(cmd, capsys):
    with pytest.raises(SystemExit):
        main(["train", cmd, "--help"])
    return " ".join(capsys.readouterr().out.split())  # line breaks of the formatter undone


@pytest.mark.parametrize("cmd", COMMANDS)
def test_no_options_give_the_library_default_or_the_named_preset(parser, cmd):
    assert _parse(parser, cmd) == COMMANDS[cmd][1]


@pytest.mark.parametrize("cmd", COMMANDS)
def test_help_shows_every_option_with_the_default_that_runs(parser, cmd, capsys):
    cls, runs, skip = COMMANDS[cmd]
    text = _help(cmd, capsys)
    offered = {a.dest: a for a in _command(parser, cmd)._actions}
    for f in cli_fields(cls, exclude=skip):
        action = offered[f.name]
        assert flag_of(f) in action.option_strings and flag_of(f) in text, f.name
        shown = re.search(r"\(default: ([^;)]*)", action.help).group(1)
        assert shown == _show(getattr(runs, f.name)), (f.name, shown)
        assert f"{action.help.split(' (default:')[0]} (default: {shown}" in " ".join(action.help.split()), f.name
    for name in skip:  # another command's options (and the model, which the command fixes) are not offered
        assert name not in offered, name
    for action in _command(parser, cmd)._actions:  # hand-written options (--out, --backend, ...) have help too
        assert action.help, action.option_strings


@pytest.mark.parametrize("cmd", COMMANDS)
def test_the_default_shown_parses_back_to_the_value_that_runs(parser, cmd):
    cls, runs, skip = COMMANDS[cmd]
    hints = typing.get_type_hints(cls)
    for f in cli_fields(cls, exclude=skip):
        v = getattr(runs, f.name)
        tokens = [(flag_of(f) if v else "--no-" + flag_of(f)[2:])] if hints[f.name] is bool else \
            [flag_of(f), *_show(v).split()]
        assert getattr(_parse(parser, cmd, *tokens), f.name) == v, f.name


def _other_value(cls, name, current):
    """A valid value of field ``name`` other than ``current``."""
    f = cls.__dataclass_fields__[name]
    tp, choices = typing.get_type_hints(cls)[name], f.metadata["choices"]
    if choices is not None:
        return next(c for c in choices if c != current)
    if tp is bool:
        return not current
    if typing.get_origin(tp) is tuple:
        return tuple(x * 2 + 1 for x in current) if len(current) else (3,)
    base = [a for a in typing.get_args(tp) if a is not type(None)][0] if typing.get_args(tp) else tp
    if current is None:
        return {int: 3, float: 0.25, str: "some/path"}[base]
    if base is str:
        return "none" if current != "none" else "standard"
    return current + 1 if base is int else current * 0.5 + 0.125


@pytest.mark.parametrize("cmd, name", CASES)
def test_every_option_reaches_its_field(parser, cmd, name):
    cls, runs, _ = COMMANDS[cmd]
    value = _other_value(cls, name, getattr(runs, name))
    f = cls.__dataclass_fields__[name]
    if isinstance(value, bool):
        tokens = [flag_of(f) if value else "--no-" + flag_of(f)[2:]]
    else:
        tokens = [flag_of(f), *_show(value).split()]
    assert _parse(parser, cmd, *tokens) == dataclasses.replace(runs, **{name: value})


def test_optional_fields_take_none_and_choices_are_checked(parser, capsys):
    cfg = _parse(parser, "gan", "--penalty", "gp", "--clip", "0.01", "--lr-schedule", "cosine")
    assert (cfg.penalty, cfg.clip, cfg.lr_schedule) == ("gp", 0.01, "cosine")
    cfg = _parse(parser, "ssgan", "--lr-schedule", "none", "--mnist-path", "none")
    assert cfg.lr_schedule is None and cfg.mnist_path is None  # the ssgan preset's cosine switched off
    assert _parse(parser, "ddpm", "--grad-clip", "none").grad_clip is None
    for options, message in [(["--loss", "wasserstein"], "argument --loss: expected one of hinge, lsgan, minimax, "
                                                           "nonsaturating, wgan, got 'wasserstein'"),
                             (["--steps", "1e3"], "argument --steps: expected int, got '1e3'"),
                             (["--clip", "off"], "argument --clip: expected float or none, got 'off'"),
                             (["--betas", "0.5"], "argument --betas: expected 2 arguments")]:
        with pytest.raises(SystemExit) as e:
            main(["train", "gan", "--out", "x", *options])
        assert e.value.code == 2 and message in capsys.readouterr().err


def test_ssgan_help_shows_and_names_its_preset(capsys):
    text = _help("ssgan", capsys)
    assert "preset 'ssgan' (ImageGANConfig.preset('ssgan') in Python: steps=6000, lr_g=0.001, lr_d=0.001, " \
           "lr_schedule=cosine)" in text
    for option, value in [("--steps STEPS", "6000"), ("--lr-g LR_G", "0.001"), ("--lr-d LR_D", "0.001"),
                          ("--lr-schedule {none,cosine}", "cosine")]:
        assert _default_after(text, option) == value, option
    dcgan = _help("dcgan", capsys)  # the library's defaults, no preset
    assert _default_after(dcgan, "--steps STEPS") == "3000" and "preset" not in dcgan


def _default_after(text, option):
    """The default that ``--help`` shows for ``option`` (the first one after its entry)."""
    i = text.index(option + " ", text.index("settings ("))  # past the usage line
    j = text.index("(default: ", i) + len("(default: ")
    return text[j:text.index(")", j)]


def test_ddpm_help_shows_the_digits_preset_and_data_digits_applies_it(parser, capsys):
    text = _help("ddpm", capsys)
    assert "With --data digits, options left out take the preset 'digits' (DDPMConfig.preset('digits')" in text
    assert re.search(r"--steps STEPS Adam updates \(default: 10000; --data digits: 4000\)", text)
    assert _parse(parser, "ddpm", "--data", "digits") == DDPMConfig.preset("digits")
    assert _parse(parser, "ddpm", "--data", "digits", "--steps", "7", "--T", "50") == \
        DDPMConfig.preset("digits", steps=7, T=50)
    assert _parse(parser, "ddpm", "--data", "grid25", "--steps", "7") == DDPMConfig(data="grid25", steps=7)


def test_train_help_lists_every_model_and_how_to_see_its_options(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    models = build_parser()._subparsers._group_actions[0].choices["train"]._subparsers._group_actions[0]
    for action in models._choices_actions:
        assert re.search(rf"^\s+{action.dest}\s+{re.escape(action.help[:30])}", text, re.M), action.dest
    assert set(models.choices) == set(COMMANDS)
    assert "scratchgen train MODEL --help" in text
    for python in ("GANConfig()", 'DDPMConfig.preset("digits")', 'ImageGANConfig.preset("ssgan")'):
        assert python in text


def test_metrics_line_is_one_line_with_four_significant_digits():
    m = {"fid": 12.34567, "modes": 8, "step": 5, "note": "ok"}
    assert metrics_line(m) == "fid=12.35, modes=8, step=5, note=ok"
    assert metrics_line(m, keys=("modes", "fid")) == "fid=12.35, modes=8"  # in the order of the metrics
    assert metrics_line(m, skip=("step", "note")) == "fid=12.35, modes=8"


def test_a_usage_error_is_one_line_naming_the_options_and_exit_code_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "gan", "--loss", "wgan", "--label-smoothing", "0.9", "--out", str(tmp_path / "x"),
              "--no-progress"])
    assert e.value.code == 2
    assert capsys.readouterr().err == ("scratchgen: error: --label-smoothing must be None with --loss 'wgan' "
                                       "(--label-smoothing applies to the minimax / nonsaturating losses only), "
                                       "got 0.9\n")
    assert not (tmp_path / "x").exists()  # checked before anything is written


def test_a_failed_run_is_one_line_and_exit_code_1(tmp_path, capsys, monkeypatch):
    import scratchgen.gan.train as gan_train
    from scratchgen.training import TrainingDiverged

    def diverge(cfg, out_dir=None, resume=None):
        raise TrainingDiverged("training stopped at step 3: non-finite loss_d=nan;\nno checkpoint had been written yet")

    monkeypatch.setattr(gan_train, "train_gan", diverge)
    with pytest.raises(SystemExit) as e:
        main(["train", "gan", "--out", str(tmp_path / "x"), "--no-progress"])
    assert e.value.code == 1
    assert capsys.readouterr().err == ("scratchgen: error: training stopped at step 3: non-finite loss_d=nan; no "
                                       "checkpoint had been written yet\n")


def test_a_percent_sign_in_a_field_help_is_shown_not_parsed_by_argparse(capsys):
    # argparse formats help with %-interpolation: a bare "%" in a field's help text (as in "5 %
    # held out") would crash `--help`; add_config_arguments escapes it
    import argparse

    from scratchgen.cli.common import add_config_arguments
    from scratchgen.config import Config, option

    @dataclasses.dataclass
    class PercentConfig(Config):
        frac: float = option(0.2, "the held-out share, 20 % of the rows")

    p = argparse.ArgumentParser(prog="x")
    add_config_arguments(p, PercentConfig)
    with pytest.raises(SystemExit):
        p.parse_args(["--help"])
    assert "the held-out share, 20 % of the rows (default: 0.2)" in " ".join(capsys.readouterr().out.split())


def test_every_checkpoint_kind_the_trainers_write_has_a_hint_that_names_it():
    # a checkpoint resumed with the wrong command is named ("is a flow checkpoint (scratchgen train flow)"):
    # every kind a TrainingLoop is given in the library needs its line in KIND_HINTS
    import pathlib

    from scratchgen.cli.common import KIND_HINTS

    root = pathlib.Path(__file__).resolve().parents[2] / "scratchgen"
    kinds = set()
    for path in root.rglob("*.py"):
        kinds |= set(re.findall(r'TrainingLoop\(\s*"(\w+)"', path.read_text()))
    kinds |= {"progan", "stylegan"}  # train_karras passes cfg.model
    assert {"gan", "ddpm", "vdm", "flow", "vae"} <= kinds  # the scan found the trainers
    missing = kinds - set(KIND_HINTS) - {"labelled_only"}  # the SSGAN baseline's inner loop writes no checkpoint
    assert not missing, f"no KIND_HINTS entry for {sorted(missing)}"
