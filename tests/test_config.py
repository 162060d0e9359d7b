"""scratchgen.config: option() fields, presets, a checkpoint's config read back; every trainer's config uses them."""
import dataclasses

import pytest

from scratchgen.config import Config, option
from scratchgen.diffusion.train import DDPMConfig
from scratchgen.flows.train import FlowConfig
from scratchgen.gan.train import GANConfig
from scratchgen.gan.train_images import ImageGANConfig
from scratchgen.vae.train import AEConfig, VAEConfig

CONFIGS = [GANConfig, ImageGANConfig, DDPMConfig, VAEConfig, AEConfig, FlowConfig]


@dataclasses.dataclass
class _Toy(Config):
    lr: float = option(1e-3, "learning rate")
    sizes: tuple[int, ...] = option((4, 2), "layer sizes")
    act: str = option("relu", "activation", choices=("relu", "tanh"))

    PRESETS = {"wide": dict(sizes=(64, 64), act="tanh")}


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
def test_every_field_is_an_option_with_help(cls):
    for f in dataclasses.fields(cls):
        assert isinstance(f.metadata.get("help"), str) and f.metadata["help"].strip(), f.name
        assert {"choices", "flag", "metavar", "cli"} <= set(f.metadata), f.name


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
def test_presets_name_only_fields_and_differ_from_the_defaults(cls):
    names = {f.name for f in dataclasses.fields(cls)}
    for name, settings in cls.PRESETS.items():
        assert set(settings) <= names, (name, set(settings) - names)
        cfg = cls.preset(name)
        assert all(getattr(cfg, k) == v for k, v in settings.items())
        assert cfg != cls(), f"preset {name!r} changes nothing"


def test_the_named_presets_hold_what_the_commands_run():
    assert ImageGANConfig.preset("ssgan") == ImageGANConfig(model="ssgan", steps=6000, lr_g=1e-3, lr_d=1e-3,
                                                            lr_schedule="cosine")
    assert ImageGANConfig() == ImageGANConfig(steps=3000, lr_g=2e-4, lr_d=2e-4, lr_schedule=None)  # the library's own
    assert DDPMConfig.preset("digits") == DDPMConfig(data="digits", steps=4000, batch=64, lr=1e-3, hidden=16,
                                                     time_dim=32, ema=0.995, eval_every=4000, n_eval=1000)
    assert DDPMConfig.for_data("digits", steps=7) == DDPMConfig.preset("digits", steps=7)
    assert DDPMConfig.for_data("grid25", steps=7) == DDPMConfig(data="grid25", steps=7)  # no preset: the defaults
    with pytest.raises(ValueError, match="data must be one of .*got 'ring9'"):
        DDPMConfig.for_data("ring9")


def test_preset_applies_overrides_last_and_names_what_is_wrong():
    assert _Toy.preset("wide") == _Toy(sizes=(64, 64), act="tanh")
    assert _Toy.preset("wide", act="relu", lr=0.5) == _Toy(lr=0.5, sizes=(64, 64), act="relu")
    with pytest.raises(ValueError, match=r"_Toy.preset: name must be one of \['wide'\], got 'narrow'"):
        _Toy.preset("narrow")
    with pytest.raises(TypeError, match=r"_Toy.preset\('wide'\): depth not among the fields of _Toy \(lr, sizes, act\)"):
        _Toy.preset("wide", depth=3)


def test_from_saved_reads_json_lists_back_as_tuples_and_drops_unknown_fields():
    saved = {"lr": 0.1, "sizes": [8, 8], "act": "tanh", "removed_option": 1}
    assert _Toy.from_saved(saved) == _Toy(lr=0.1, sizes=(8, 8), act="tanh")
    cfg = GANConfig(mmd_sigmas=(0.1, 0.2), betas=(0.9, 0.99), seed=3)
    assert GANConfig.from_saved({**{k: list(v) if isinstance(v, tuple) else v for k, v in cfg.to_dict().items()},
                                 "unknown": 0}) == cfg
    assert cfg.to_dict() == dataclasses.asdict(cfg)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(default=[1, 2], help="x"), TypeError, "the default must be immutable .*got list"),
    (dict(default=1, help=""), TypeError, "help must be a non-empty string .*got ''"),
    (dict(default="a", help="x", choices=("b", "c")), ValueError, r"default must be one of choices=\('b', 'c'\), got 'a'"),
    (dict(default=1, help="x", flag="hidden"), ValueError, "flag must be a command-line name starting with '--', got 'hidden'"),
])
def test_option_refuses_what_the_command_line_could_not_show(kwargs, error, message):
    with pytest.raises(error, match=message):
        option(**kwargs)


# ---------------------------------------------------------------------------
# Documented contracts, one by one
# ---------------------------------------------------------------------------
def test_option_keeps_its_default_and_every_piece_of_metadata():
    @dataclasses.dataclass
    class _Opts(Config):
        width: int = option(16, "layer width", flag="--hidden", metavar="N")
        betas: tuple = option((0.5, 0.9), "Adam betas", metavar=("B1", "B2"))
        mode: str | None = option(None, "a mode or none", choices=(None, "a", "b"))
        model: str = option("dcgan", "set by the subcommand, never an option", cli=False)

    fields = {f.name: f for f in dataclasses.fields(_Opts)}
    assert _Opts() == _Opts(16, (0.5, 0.9), None, "dcgan")  # the defaults are the library's defaults
    assert fields["width"].metadata == {"help": "layer width", "choices": None, "flag": "--hidden", "metavar": "N",
                                        "cli": True}
    assert fields["betas"].metadata["metavar"] == ("B1", "B2")
    assert fields["mode"].metadata["choices"] == (None, "a", "b")
    assert fields["model"].metadata["cli"] is False


def test_from_saved_fills_fields_the_checkpoint_lacks_with_their_defaults_and_to_dict_is_plain():
    assert _Toy.from_saved({"act": "tanh"}) == _Toy(act="tanh")
    d = _Toy(sizes=(1, 2)).to_dict()
    assert d == {"lr": 1e-3, "sizes": (1, 2), "act": "relu"} and type(d) is dict
    with pytest.raises(TypeError, match="the default must be immutable .*got dict"):
        option({}, "x")
