"""(slow) The image-to-image trainers, FGSM/PGD and the 2-D trainer's remedies on the stand-in CuPy of
tests/fakecupy.py: the same numbers as on NumPy (train_seconds, a timing, aside)."""
import numpy as np
import pytest
from test_fake_device import on_device  # noqa: F401  (the fixture)

from scratchgen import backend


@pytest.mark.slow  # about 4 s of CPU
def test_i2i_attacks_and_remedies_on_the_stand_in(on_device):  # noqa: F811
    from scratchgen.data.digits import digits_split
    from scratchgen.gan.adversarial import fgsm, pgd
    from scratchgen.gan.train import GANConfig, train_gan
    from scratchgen.gan.train_i2i import I2IConfig, train_i2i
    from scratchgen.metrics.features import load_feature_classifier

    def final(cfg):
        out = train_i2i(cfg).final
        out.pop("train_seconds")
        return out

    for m in ("pix2pix", "cyclegan", "inpaint"):
        cfg = I2IConfig.preset(m, steps=2, batch=4, width=2, d_width=2, eval_every=2, n_eval=8, progress=False)
        assert on_device(final, cfg) == final(cfg), m

    def attack():
        s, C = digits_split(), load_feature_classifier()
        x, y = s.x_test[:5], s.y_test[:5]
        return backend.to_numpy(fgsm(C, x, y, 0.1)), backend.to_numpy(pgd(C, x, y, 0.1, steps=2))

    for u, v in zip(on_device(attack), attack()):
        assert np.array_equal(u, v)
    cfg = GANConfig(steps=3, batch=32, eval_every=3, n_eval=50, hidden=8, progress=False, d_dropout=0.2,
                    label_flip=0.1, latent="uniform")
    assert on_device(lambda: train_gan(cfg).history["s_D"]) == train_gan(cfg).history["s_D"]
