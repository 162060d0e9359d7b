"""The image-to-image trainer: each model runs and writes its outputs, resume is exact, bad settings are named;
the command line `scratchgen train pix2pix|cyclegan|inpaint`."""
import json

import numpy as np
import pytest

from scratchgen.cli.main import main
from scratchgen.gan.train_i2i import I2I_MODELS, I2IConfig, train_i2i

TINY = dict(steps=1, batch=4, width=2, d_width=2, eval_every=1, n_eval=20, progress=False)


@pytest.mark.parametrize("model", I2I_MODELS)
def test_each_model_runs_and_writes(tmp_path, model):
    run = train_i2i(I2IConfig.preset(model, **TINY), out_dir=tmp_path, figures=model == "pix2pix")
    m = json.loads((tmp_path / "metrics.json").read_text())["final"]
    assert 0 <= m["class_accuracy"] <= 1 and 0 <= m["clean_accuracy"] <= 1 and np.isfinite(m["fid"])
    assert len(run.history["eval"]) == 1 and (model != "pix2pix" or (tmp_path / "outputs.png").stat().st_size > 1000)
    key = {"pix2pix": "l1", "cyclegan": "l1_G", "inpaint": "mse_hole"}[model]
    assert np.isfinite(m[key]) and m[key] >= 0


def test_resume_is_exact(tmp_path):
    cfg = I2IConfig.preset("inpaint", **dict(TINY, steps=2, eval_every=2))
    full = train_i2i(cfg, figures=False)
    train_i2i(I2IConfig.preset("inpaint", **TINY), out_dir=tmp_path / "half", figures=False)
    resumed = train_i2i(cfg, resume=tmp_path / "half" / "checkpoint.npz", figures=False)
    assert len(full.history["loss_g"]) == 2 and full.history["loss_g"] == resumed.history["loss_g"]
    for (n, a), (_, b) in zip(full.models["G"].named_parameters(), resumed.models["G"].named_parameters()):
        assert np.array_equal(a.data, b.data), n


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="task"):
        I2IConfig(model="cyclegan", task="denoise").validate()
    with pytest.raises(ValueError, match="lam_l1=1.0: not an option of model='inpaint'"):
        I2IConfig(model="inpaint", task=None, lam_l1=1.0).validate()
    with pytest.raises(ValueError, match="hole"):
        I2IConfig.preset("inpaint", hole=8).validate()


def test_command_line(tmp_path, capsys):
    main(["train", "inpaint", "--steps", "1", "--batch", "4", "--width", "2", "--d-width", "2", "--n-eval", "8",
          "--hole", "3", "--no-progress", "--out", str(tmp_path / "r")])
    assert "class_accuracy=" in capsys.readouterr().out
    saved = json.loads((tmp_path / "r" / "metrics.json").read_text())["config"]
    assert saved["model"] == "inpaint" and saved["hole"] == 3 and saved["task"] is None
    with pytest.raises(SystemExit) as e:  # an option of another model is not offered
        main(["train", "inpaint", "--lam-l1", "3", "--out", str(tmp_path / "s")])
    assert e.value.code == 2


def test_pix2pix_l1_alone_trains_no_discriminator_and_redraw_draws_new_inputs(monkeypatch):
    """--lam-gan 0 leaves D's weights as initialised; --redraw corrupts each minibatch afresh (every step's
    input is a new draw of the corruption, not one of the fixed corrupted training digits)."""
    import scratchgen.gan.train_i2i as T

    seen = []
    real = T.corrupt
    monkeypatch.setattr(T, "corrupt", lambda b, g, s, r: seen.append(real(b, g, s, r)) or seen[-1])
    cfg = I2IConfig.preset("pix2pix", **dict(TINY, steps=2), lam_gan=0.0, redraw=True, noise=0.3, salt=0.1)
    run = train_i2i(cfg, figures=False)
    init = T.build_i2i_models(cfg, 0)["D"]  # the same draws of the weights as the run's
    for (n, a), (_, b) in zip(run.models["D"].named_parameters(), init.named_parameters()):
        assert np.array_equal(a.data, b.data), n
    assert len(seen) == 2 and not np.array_equal(seen[0], seen[1]) and "loss_d" not in run.history
    seen.clear()  # --task fill: the input is a fixed function of the target, nothing to redraw
    train_i2i(I2IConfig.preset("pix2pix", **TINY, task="fill", redraw=True), figures=False)
    assert seen == []


def test_a_resume_ignores_the_fields_of_the_other_models_but_not_its_own(tmp_path):
    """A checkpoint written when a pix2pix-only default was different (noise 0.5, salt 0.2 before this
    session) resumes as an inpaint run under today's defaults; a change of the run's own field is refused."""
    from scratchgen.checkpoint import load, save

    train_i2i(I2IConfig.preset("inpaint", **TINY), out_dir=tmp_path / "run", figures=False)
    path = tmp_path / "run" / "checkpoint.npz"
    state = load(path)
    state["config"].update(noise=0.5, salt=0.2, lam_cyc=10.0)  # other models' fields, other values
    save(state, path)
    cfg = I2IConfig.preset("inpaint", **dict(TINY, steps=2, eval_every=2))
    assert len(train_i2i(cfg, resume=path, figures=False).history["loss_g"]) == 2
    state["config"].update(hole=3)  # its own field
    save(state, path)
    with pytest.raises(ValueError, match=r"hole: checkpoint 3, this run 4"):
        train_i2i(cfg, resume=path, figures=False)
