r"""A small digits classifier as the feature extractor of the image metrics (FID, KID, IS, P/R on digits).

FID, KID and the Inception Score are defined on the pool features and the class posterior of
Inception-v3 trained on ImageNet (Heusel et al. 2017; Bińkowski et al. 2018; Salimans et al. 2016).
No such weights can be downloaded here, and ImageNet features would say little about 8×8 digits,
so scratchgen ships a small convolutional classifier of the 8×8 digits, trained with scratchgen
itself (``demos/train_feature_classifier.py`` reproduces ``digits_classifier.npz`` bit for bit on
the same backend), and uses

* its penultimate activations :math:`\mathbf f(x) \in \mathbb R^{64}` as the features of the
  Fréchet distance, KID and precision/recall, and
* its softmax :math:`p(y \mid x)` over the 10 digits as the classifier of the Inception-style score.

**These numbers are not comparable to published Inception-based FID / KID / IS values**, only to
each other (same classifier, same reference set, same number of samples: FID is biased upwards at
small N).

Conventions
-----------
* Images are (N, 1, 8, 8) in :math:`[-1, 1]` (``load_digits(scale="unit")``).
* The held-out split: :func:`digits_split` puts a stratified 30 % of each class (seed 0) in the
  test set. The classifier never saw it; the image GANs of :mod:`scratchgen.gan.train_images` train
  on the other 70 % and are scored against it.
"""
from __future__ import annotations

import os

from .. import nn, optim
from ..autodiff import functional as AF
from ..autodiff.tensor import no_grad, tensor
from ..backend import default_dtype, get_xp, to_numpy, unwrap
from ..backend import rng as _rng
from ..data.digits import digits_split, random_shift
from ..validate import check_int, check_labels
from .images import frechet_distance, inception_score, kid, precision_recall

__all__ = [
    "CLASSIFIER_PATH", "DigitsClassifier", "train_feature_classifier",
    "load_feature_classifier", "digit_features", "digit_log_probs", "image_metrics", "check_images",
]

CLASSIFIER_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "digits_classifier.npz")
FEATURE_DIM = 64


def check_images(x, who, size=8):
    """``x`` as a float array (N, 1, size, size); a clear error otherwise."""
    x = unwrap(x)
    xp = get_xp(x)
    x = xp.asarray(x)
    if x.ndim != 4 or x.shape[1:] != (1, size, size) or x.shape[0] == 0:
        raise ValueError(f"{who}: expected images of shape (N, 1, {size}, {size}) with values in [-1, 1], "
                         f"received shape {tuple(x.shape)}")
    if x.dtype.kind != "f":
        raise ValueError(f"{who}: expected float images in [-1, 1], received dtype {x.dtype}")
    return x


class DigitsClassifier(nn.Module):
    r"""Conv net for 8×8 digits; ``features`` is the 64-d penultimate layer :math:`\mathbf f(x)`.

    ::

        (B,1,8,8) -conv3 s1-> (B,32,8,8) -ReLU-conv3 s2-> (B,64,4,4) -ReLU-conv3 s2-> (B,64,2,2)
                  -ReLU-flatten-> 256 -linear-> 64 -ReLU = f(x) -dropout-linear-> 10 logits
    """

    def __init__(self, generator=None, dropout=0.3):
        super().__init__()
        g = _rng(generator)
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 3, 1, 1, generator=g), nn.ReLU(),
            nn.Conv2d(32, 64, 3, 2, 1, generator=g), nn.ReLU(),  # 8 -> 4
            nn.Conv2d(64, 64, 3, 2, 1, generator=g), nn.ReLU(),  # 4 -> 2
            nn.Flatten(), nn.Linear(256, FEATURE_DIM, generator=g), nn.ReLU(),
        )
        self.drop = nn.Dropout(dropout, generator=g)
        self.head = nn.Linear(FEATURE_DIM, 10, generator=g)

    def features(self, x):
        return self.body(x)  # (B, 64)

    def forward(self, x):
        return self.head(self.drop(self.features(x)))  # (B, 10) logits


def train_feature_classifier(epochs=80, batch=64, lr=1e-3, seed=0, split=None, progress=False):
    r"""Train :class:`DigitsClassifier` on the train split by Adam on the cross-entropy
    :math:`-\frac1B\sum_b \log\operatorname{softmax}(l(x_b))_{y_b}`, with a one-pixel random shift
    of each training image (augmentation). Returns ``(model, test_accuracy)``."""
    split = split or digits_split()
    g = _rng(seed)
    model = DigitsClassifier(generator=g)
    opt = optim.Adam(model.parameters(), lr=lr)
    sched = optim.CosineAnnealingLR(opt, T_max=epochs)
    x, y = split.x_train, split.y_train
    xp = get_xp(x)
    n = x.shape[0]
    for epoch in range(epochs):
        model.train()
        perm = g.permutation(n)
        for i in range(0, n, batch):
            idx = perm[i:i + batch]
            xb = random_shift(x[idx], g)
            logits = model(tensor(xb))
            loss = -AF.log_softmax(logits, axis=1)[xp.arange(idx.shape[0]), y[idx]].mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
        if progress:
            print(f"epoch {epoch + 1}: loss {float(loss.item()):.4f}, test accuracy {accuracy(model, split):.4f}")
    return model, accuracy(model, split)


def accuracy(model, split) -> float:
    """Fraction of the test split classified correctly."""
    xp = get_xp(split.y_test)
    pred = xp.argmax(_batched(model, split.x_test, lambda m, t: m(t)), axis=1)
    return float((pred == split.y_test).mean())


def _batched(model, x, fn, batch=512):
    was = model.training
    model.eval()
    xp = get_xp(x)
    outs = []
    with no_grad():
        for i in range(0, x.shape[0], batch):
            outs.append(fn(model, tensor(xp.asarray(x[i:i + batch], dtype=default_dtype()))).data)
    model.train(was)
    return xp.concatenate(outs)


_CACHE = {}


def load_feature_classifier(path=CLASSIFIER_PATH) -> DigitsClassifier:
    """The shipped classifier (cached per backend), in eval mode. ``path`` to load another one."""
    from ..checkpoint import load

    key = (path, get_xp())  # its weights live on one array module: a switch of backend loads them again
    if key not in _CACHE:
        if not os.path.exists(path):
            raise FileNotFoundError(f"load_feature_classifier: {path} is missing; rebuild it with "
                                    "`python demos/train_feature_classifier.py`")
        state = load(path)
        model = DigitsClassifier(generator=0)
        model.load_state_dict(state["model"])
        model.eval()
        model.meta = state.get("meta", {})
        _CACHE[key] = model
    return _CACHE[key]


def digit_features(images, model=None):
    r"""Features :math:`\mathbf f(x)`, (N, 64), of images (N, 1, 8, 8) in [-1, 1]."""
    x = check_images(images, "digit_features")
    model = model or load_feature_classifier()
    return _batched(model, x, lambda m, t: m.features(t))


def digit_log_probs(images, model=None):
    r"""Log class posteriors :math:`\log p(y\mid x)`, (N, 10), by ``log_softmax`` of the logits."""
    x = check_images(images, "digit_log_probs")
    model = model or load_feature_classifier()
    return _batched(model, x, lambda m, t: AF.log_softmax(m(t), axis=1))


def image_metrics(samples, reference, labels=None, model=None, k=3, kid_subset=500, kid_subsets=100,
                  seed=0) -> dict:
    r"""Every image metric of generated ``samples`` against ``reference`` images (both (N, 1, 8, 8)).

    Returns a dict with ``fid`` (Fréchet distance of the classifier features), ``kid`` and
    ``kid_std`` (unbiased, cubic polynomial kernel, over ``kid_subsets`` random subsets of ``kid_subset``),
    ``is`` (Inception-style score of the classifier posterior, 1..10), ``precision`` and
    ``recall`` (k-NN manifolds, Kynkäänniemi et al. 2019) and ``n_samples``, ``n_reference``.
    With ``labels`` (the classes a conditional generator was asked for), also
    ``class_accuracy``: the fraction of samples the classifier assigns to the requested class.
    """
    check_int(k, "k", "image_metrics", min=1)
    check_int(kid_subset, "kid_subset", "image_metrics", min=2)
    check_int(kid_subsets, "kid_subsets", "image_metrics", min=1)
    check_int(seed, "seed", "image_metrics", min=0)
    if labels is not None:  # before any work: labels of the samples, classes 0..9
        labels = check_labels(to_numpy(unwrap(labels)), "labels", "image_metrics", 10, n=int(samples.shape[0]))
    model = model or load_feature_classifier()
    fs = digit_features(samples, model)
    fr = digit_features(reference, model)
    logp = digit_log_probs(samples, model)
    kid_mean, kid_std = kid(fr, fs, subset_size=kid_subset, n_subsets=kid_subsets, seed=seed)
    prec, rec = precision_recall(fr, fs, k=k)
    out = {
        "fid": frechet_distance(fs, fr),
        "kid": kid_mean,
        "kid_std": kid_std,
        "is": inception_score(log_probs=logp),
        "precision": prec,
        "recall": rec,
        "n_samples": int(fs.shape[0]),
        "n_reference": int(fr.shape[0]),
    }
    if labels is not None:
        xp = get_xp(logp)
        y = xp.asarray(labels)
        out["class_accuracy"] = float((xp.argmax(logp, axis=1) == y).mean())
    return {k_: (float(to_numpy(v)) if not isinstance(v, int) else v) for k_, v in out.items()}
