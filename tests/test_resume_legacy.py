"""A checkpoint written before a field existed resumes only with the behaviour it had (``Config.LEGACY``),
not silently with a default that has changed since (found in review: an old ProGAN checkpoint resumed
with the new ns-r1 loss; an old pix2pix one with a fresh corruption per step)."""
import pytest

from scratchgen.diffusion.train import DDPMConfig
from scratchgen.gan.train_i2i import I2IConfig
from scratchgen.gan.train_karras import KarrasConfig
from scratchgen.training import check_resume_config


def _old(cfg, *missing):
    saved = cfg.to_dict()
    for name in missing:
        del saved[name]
    return saved


def test_an_old_progan_checkpoint_does_not_resume_with_the_new_loss():
    old = KarrasConfig(loss="wgan-gp", first_stage=None, reg_every=1)
    saved = _old(old, "loss", "first_stage", "reg_every", "gamma")
    with pytest.raises(ValueError) as e:
        check_resume_config(saved, KarrasConfig())
    for diff in ("loss: checkpoint 'wgan-gp', this run 'ns-r1'", "first_stage: checkpoint None, this run 0.2",
                 "reg_every: checkpoint 1, this run 8"):
        assert diff in str(e.value)
    check_resume_config(saved, old)  # the old behaviour, asked for: accepted
    assert KarrasConfig.from_saved(saved) == old


def test_an_old_pix2pix_checkpoint_does_not_resume_with_redraw():
    old = I2IConfig(redraw=False)
    saved = _old(old, "redraw")
    with pytest.raises(ValueError, match=r"redraw: checkpoint False, this run True"):
        check_resume_config(saved, I2IConfig())
    check_resume_config(saved, old)
    assert I2IConfig.from_saved(saved).redraw is False


def test_an_old_2d_ddpm_checkpoint_names_the_fourier_features():
    old = DDPMConfig(x_freqs=0, x_omega_max=64.0, data_std=1.0)
    saved = _old(old, "x_freqs", "x_omega_max", "data_std")
    with pytest.raises(ValueError, match=r"x_freqs: checkpoint 0, this run 16"):
        check_resume_config(saved, DDPMConfig())
    check_resume_config(saved, old)


def test_a_field_without_a_legacy_value_is_compared_with_its_default():
    saved = _old(I2IConfig(), "lam_gan")  # lam_gan's default has not changed: 1.0 then and now
    check_resume_config(saved, I2IConfig())
    with pytest.raises(ValueError, match=r"lam_gan: checkpoint 1\.0, this run 0\.5"):
        check_resume_config(saved, I2IConfig(lam_gan=0.5))


def test_an_old_stylegan_checkpoint_resumes_from_the_command_line(tmp_path):
    """StyleGAN does not grow, so the missing first_stage (legacy None) is no difference; the command line's
    check before training agrees with the trainer's."""
    from scratchgen.checkpoint import load, save
    from scratchgen.cli.main import main
    from scratchgen.gan.train_karras import train_karras

    old = KarrasConfig(model="stylegan", loss="wgan-gp", reg_every=1, steps=1, batch=4, channels=(4, 2),
                       eval_every=1, n_eval=4, progress=False)
    train_karras(old, out_dir=str(tmp_path / "run"))
    path = tmp_path / "run" / "checkpoint.npz"
    state = load(path)
    for name in ("first_stage", "loss", "reg_every", "gamma"):  # written before these fields existed
        del state["config"][name]
    save(state, path)
    main(["train", "stylegan", "--loss", "wgan-gp", "--reg-every", "1", "--steps", "2", "--batch", "4",
          "--channels", "4", "2", "--eval-every", "1", "--n-eval", "4", "--no-progress", "--resume", str(path),
          "--out", str(tmp_path / "run"), "--overwrite"])
    assert (tmp_path / "run" / "metrics.json").exists()
