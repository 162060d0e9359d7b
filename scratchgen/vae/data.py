r"""The data the autoencoders and the VAE train on: the 8×8 digits, probabilistic-PCA data, the toy 2-D sets.

* ``digits``: the library's split (``data.digits.digits_split``: 1,258 images to train on, 539
  held out), flattened to 64 values in [−1, 1] (pixel value v in 0..16 as v/8 − 1).
  A density on continuous values is not a probability of these 17-level images, so for a
  Gaussian decoder the images are **dequantized** (Theis, van den Oord & Bethge 2016, Sec. 3.1):
  each pixel gets uniform noise over its bin, :math:`x = (v + u)/8 - 1`, :math:`u \sim U(-\tfrac12, \tfrac12)`,
  fresh at every training step. Then for the bin width :math:`\Delta = 1/8`,

  .. math:: \log P(v) = \log \int_{\text{bins}} p(x)\,dx = \log \mathbb E_u\big[p(x)\,\Delta^D\big]
            \ge \mathbb E_u[\log p(x)] + D\log\Delta,

  so a bound on :math:`\log p(x)` plus :math:`D\log\Delta` (:attr:`VAEData.log_bin_volume`,
  :math:`64\log\frac18 = -133.08` nats) is a bound on the log-probability of the discrete image, in
  the same units for every model. For a Bernoulli decoder the images are **binarised**
  (:math:`v \ge 8 \mapsto 1`) and the bound is on the binary image.
* ``ppca``: draws of a fixed probabilistic-PCA model (:data:`PPCA_TRUTH`: d = 8, k = 2,
  :math:`\sigma^2 = 0.25`): a fixed training set of ``n_train`` points, and 10,000 fresh held-out points.
* the toy 2-D sets of ``data.toy.TOY_DATASETS``: fresh draws at every step, 10,000 held out; or the
  path of a ``.npy`` file of an (N, D) float array (``data.toy.load_toy``: a fifth of its rows held out,
  training rows drawn with replacement).
"""
from __future__ import annotations

import math

from ..backend import default_dtype, get_xp, rng
from ..data.toy import TOY_DATASETS, is_toy_file, load_toy
from .ppca import sample_ppca

__all__ = ["VAEData", "DATASETS", "PPCA_TRUTH", "ppca_truth", "DIGITS_BIN", "N_TEST_TOY"]

#: the toy 2-D sets, the 8x8 digits and probabilistic-PCA data
DATASETS = ("digits",) + tuple(name for name in TOY_DATASETS if name != "mixture1d") + ("ppca",)
#: the PPCA data: dimension d, latent dimension k, noise variance, the seed of W (entries N(0, 1),
#: columns scaled by 2 and 1, so the top two eigenvalues of C are distinct) and of the training set
PPCA_TRUTH = dict(d=8, k=2, sigma2=0.25, w_seed=7, col_scale=(2.0, 1.0), train_seed=8, test_seed=9)
#: the width of a digit pixel's bin in [-1, 1] units (17 levels, v/8 - 1)
DIGITS_BIN = 1.0 / 8.0
N_TEST_TOY = 10_000


def ppca_truth(dtype=None):
    """``(W, b, sigma2)`` of the PPCA data: W (8, 2), b = 0 (8,), sigma2 = 0.25, in ``dtype`` (default float64)."""
    import numpy

    t = PPCA_TRUTH
    W = numpy.random.default_rng(t["w_seed"]).standard_normal((t["d"], t["k"])) * numpy.asarray(t["col_scale"])
    xp = get_xp()
    dtype = dtype or numpy.float64
    return xp.asarray(W, dtype=dtype), xp.zeros(t["d"], dtype=dtype), t["sigma2"]


class VAEData:
    """Training minibatches, the held-out set and its labels, and the units of one data set.

    Attributes: ``dim`` (D), ``train_x`` (N, D) or None (fresh draws), ``test_x`` (N_test, D) (not
    dequantized: :meth:`test` does it), ``test_labels`` (digits: the digit; toy: the nearest centre;
    else None), ``centres``/``std`` (toy mixtures), ``image_side`` (8 for the digits, else None).
    """

    def __init__(self, name, decoder="gaussian", n_train=2000):
        if name not in DATASETS and not is_toy_file(name):
            raise ValueError(f"VAEData: name must be one of {DATASETS} or the path of a .npy file, got {name!r}")
        self.name, self.decoder = name, decoder
        self.binary = decoder == "bernoulli"
        self.dequantize = name == "digits" and not self.binary
        self.centres = self.std = self.image_side = self.test_labels = None
        if name == "digits":
            from ..data.digits import digits_split

            split = digits_split()  # images in [-1, 1], (N, 1, 8, 8)
            self.train_x, self.test_x = (a.reshape(a.shape[0], -1) for a in (split.x_train, split.x_test))
            self.test_labels, self.image_side = split.y_test, 8
            if self.binary:  # v >= 8, i.e. v/8 - 1 >= 0, is on
                self.train_x, self.test_x = ((a >= 0).astype(a.dtype) for a in (self.train_x, self.test_x))
        elif name == "ppca":
            W, b, s2 = ppca_truth(default_dtype())
            self.train_x = sample_ppca(n_train, W, b, s2, rng(PPCA_TRUTH["train_seed"]))
            self.test_x = sample_ppca(N_TEST_TOY, W, b, s2, rng(PPCA_TRUTH["test_seed"]))
        else:
            held = load_toy(name, N_TEST_TOY, seed=10_000, split="test")
            self.train_x, self.test_x, self.centres, self.std = None, held.x, held.centres, held.std
            if held.centres is not None:
                xp = get_xp(held.x)
                d2 = ((held.x[:, None, :] - held.centres[None]) ** 2).sum(axis=-1)
                self.test_labels = xp.argmin(d2, axis=1)
        if self.binary and name != "digits":
            raise ValueError(f"VAEData: the bernoulli decoder needs binary data (digits), got data {name!r}")
        self.dim = int(self.test_x.shape[1])

    @property
    def log_bin_volume(self):
        r""":math:`D\log\Delta` for dequantized digits (added to a continuous bound to bound the discrete
        log-probability), else 0."""
        return self.dim * math.log(DIGITS_BIN) if self.dequantize else 0.0

    @property
    def units(self):
        if self.dequantize:
            return "nats per image: a lower bound on log P of the 17-level 8x8 image (uniform dequantization)"
        if self.binary:
            return "nats per image: a lower bound on log P of the binarised 8x8 image"
        return "nats per point (continuous density)"

    def moments(self):
        r"""The per-dimension mean and variance (D,) of the training distribution, in the model's units: of the
        training set (plus :math:`\Delta^2/12`, the variance of the dequantization noise, for the digits), or of
        100,000 draws with a fixed seed for a toy set."""
        x = self.train_x if self.train_x is not None else load_toy(self.name, 100_000, seed=20_000).x
        xp = get_xp(x)
        x64 = x.astype(xp.float64)
        var = x64.var(axis=0) + (DIGITS_BIN ** 2 / 12 if self.dequantize else 0.0)
        return x64.mean(axis=0), xp.maximum(var, 1e-6)

    def _dequantize(self, x, generator):
        if not self.dequantize:
            return x
        u = generator.random(x.shape).astype(x.dtype) - x.dtype.type(0.5)  # U(-1/2, 1/2) in units of v
        return x + u * x.dtype.type(DIGITS_BIN)  # (v + u)/8 - 1

    def batch(self, n, generator):
        """A training minibatch (n, D): rows drawn with replacement (or fresh toy draws), dequantized if so."""
        if self.train_x is None:
            return load_toy(self.name, n, seed=generator).x
        idx = generator.integers(0, self.train_x.shape[0], size=n)
        return self._dequantize(self.train_x[idx], generator)

    def test(self, generator):
        """The held-out set (N_test, D), dequantized with draws from ``generator`` if so."""
        return self._dequantize(self.test_x, generator)

    def as_images(self, x):
        """Rows (N, 64) as images (N, 1, 8, 8); binary data mapped to {-1, 1} for display and metrics."""
        xp = get_xp(x)
        img = xp.asarray(x).reshape(x.shape[0], 1, self.image_side, self.image_side)
        return img * 2 - 1 if self.binary else img
