r"""Train a VAE (``train_vae``) or an autoencoder (``train_autoencoder``) on the digits, PPCA data or a toy set.

References
----------
* Kingma & Welling (2014), Algorithm 1 (minibatch AEVB): draw a minibatch and noise
  :math:`\varepsilon`, step on the gradient of the estimator :math:`\tilde{\mathcal L}^B` (Eq. 7).
* Burda et al. (2016): the IWAE bound :math:`\mathcal L_{5000}` as the held-out log-likelihood
  estimate, and active units.
* Bowman et al. (2016), Kingma et al. (2016), Higgins et al. (2017): KL warm-up, free bits and
  :math:`\beta`, the options ``warmup``, ``free_bits``, ``beta``.

One VAE step:

.. code-block:: text

    (once) the decoder's output starts at the data's per-dimension mean and a quarter of its variance
    x ~ data (B, D);  eps ~ N(0, I) (S, B, L)
    z = mu(x) + sigma(x) eps
    loss = -(1/B) sum_b (1/S) sum_s log p(x_b | z_bs) + beta_t sum_j max(lambda, KL_j)
    Adam step; the learning rate decays by a cosine to 0; beta_t = beta min(1, t / warmup)

Around it, the scaffold (``training.TrainingLoop``): progress, evaluation on held-out data from
its own random stream (the ELBO with the closed-form KL, KL per dimension, active units, the
mutual information; at the end the IWAE bound with ``iwae_k`` samples and sample metrics),
checkpoints, exact resume, ``metrics.json``. Units: see :mod:`scratchgen.vae.data`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .. import optim
from ..autodiff.tensor import no_grad, tensor
from ..backend import get_xp, rng, to_numpy
from ..config import Config, option
from ..data.toy import check_toy_data, is_toy_file
from ..training import TrainingLoop, write_outputs
from ..validate import check_choice, check_int, check_number
from .autoencoders import (
    OBJECTIVES,
    Autoencoder,
    denoising_loss,
    masked_loss,
    principal_angles,
    reconstruction_loss,
)
from .collapse import active_units, kl_per_dim, kl_weight, mutual_information, unit_activity
from .data import DATASETS, VAEData
from .models import DECODERS, GaussianEncoder
from .vae import VAE, elbo_estimate, iwae_bound

__all__ = ["VAEConfig", "AEConfig", "VAERun", "AERun", "build_vae", "train_vae", "train_autoencoder",
           "evaluate_vae", "evaluate_autoencoder", "sample_metrics", "hidden_layers", "DATASETS"]

_DATA_HELP = ("training data: digits (the 1,258/539 split of the 8x8 digits), ppca (a fixed linear-Gaussian "
              f"model, d=8, k=2), a toy 2-D set ({', '.join(DATASETS[1:-1])}), or PATH.npy: an (N, D) float "
              "array, a fifth of its rows held out")


@dataclass
class VAEConfig(Config):
    """Settings of one VAE run. The defaults are the digits run of docs/results.md;
    ``VAEConfig.preset("ppca")`` is the linear VAE on PPCA data (``--data ppca`` applies it)."""

    data: str = option("digits", _DATA_HELP, metavar="DATA")
    decoder: str = option("gaussian", "p(x|z): gaussian (digits dequantized), bernoulli (digits binarised) or "
                                      "autoregressive (a MADE over the pixels: strong enough to ignore z)",
                          choices=tuple(DECODERS))
    z_dim: int = option(8, "latent dimensions L")
    hidden: tuple[int, ...] = option((128, 128), "hidden widths of the encoder and decoder MLPs (0: none, the "
                                                 "linear model)")
    decoder_var: str = option("pixel", "the Gaussian decoder's variance: one per data dimension, or one shared",
                              choices=("pixel", "shared"))
    beta: float = option(1.0, "weight of the KL term (beta-VAE; 1 = the ELBO)")
    warmup: int = option(0, "KL warm-up: the KL weight rises linearly from 0 over this many steps")
    free_bits: float = option(0.0, "free bits lambda: nats per latent dimension that cost nothing (0 = off)")
    samples: int = option(1, "draws of z per example in each training step")
    steps: int = option(10000, "Adam updates")
    batch: int = option(128, "examples per minibatch")
    lr: float = option(1e-3, "Adam learning rate, decayed by a cosine to 0")
    n_train: int = option(2000, "ppca: size of the fixed training set")
    eval_every: int = option(2000, "steps between evaluations/checkpoints")
    elbo_samples: int = option(10, "draws of z per held-out example for the ELBO estimate")
    iwae_k: int = option(5000, "importance samples of the final IWAE bound")
    n_iwae: int = option(1000, "held-out examples of the final IWAE bound (digits: all 539)")
    n_eval: int = option(1000, "samples drawn for the sample metrics")
    seed: int = option(0, "seed of the one generator behind data, noise and weights")
    progress: bool = option(True, "show a progress bar")

    #: the linear VAE on probabilistic-PCA data (the maximum-likelihood target of docs/results.md)
    PRESETS = {"ppca": dict(data="ppca", hidden=(0,), z_dim=2, decoder_var="shared", steps=5000, batch=200,
                            lr=1e-2, eval_every=5000)}

    def validate(self):
        who = "VAEConfig"
        _check_data(self.data, who)
        check_choice(self.decoder, "decoder", who, tuple(DECODERS))
        check_choice(self.decoder_var, "decoder_var", who, ("pixel", "shared"))
        for name in ("z_dim", "samples", "steps", "batch", "n_train", "eval_every", "elbo_samples", "iwae_k",
                     "n_iwae", "n_eval"):
            check_int(getattr(self, name), name, who, min=1)
        _check_hidden(self.hidden, who)
        check_int(self.warmup, "warmup", who, min=0)
        check_number(self.beta, "beta", who, min=0)
        check_number(self.free_bits, "free_bits", who, min=0)
        check_number(self.lr, "lr", who, min=0, min_open=True)
        if self.decoder == "autoregressive" and not hidden_layers(self.hidden):
            raise ValueError(f"{who}: hidden must name at least one layer for the autoregressive decoder, "
                             f"got {self.hidden!r}")


def hidden_layers(hidden):
    """The hidden widths of a config's ``hidden``: ``()`` for ``(0,)`` or ``()`` (the linear model)."""
    return () if tuple(hidden) in ((), (0,)) else tuple(hidden)


def _check_data(data, who):
    if is_toy_file(data):
        check_toy_data(data)  # names what is wrong with the file
    else:
        check_choice(data, "data", who, DATASETS, fix="or give the path of a .npy file of an (N, D) float array")


def _check_hidden(hidden, who):
    if tuple(hidden) not in ((), (0,)):
        for h in hidden:
            check_int(h, "hidden", who, min=1, fix="give positive widths, or 0 alone for no hidden layer")


def build_vae(cfg: VAEConfig, x_dim, generator):
    """The encoder and the decoder ``cfg`` names, as a :class:`~scratchgen.vae.vae.VAE`."""
    hidden = hidden_layers(cfg.hidden)
    enc = GaussianEncoder(x_dim, cfg.z_dim, hidden, generator=generator)
    kw = dict(var=cfg.decoder_var) if cfg.decoder == "gaussian" else {}
    dec = DECODERS[cfg.decoder](cfg.z_dim, x_dim, hidden, generator=generator, **kw)
    return VAE(enc, dec)


def _schedule(opt, steps):
    return optim.CosineAnnealingLR(opt, steps)


# ---------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------
def sample_metrics(x, data: VAEData):
    """Sample quality: the digits' image metrics (FID, KID, precision/recall on the shipped classifier's
    features) against the held-out images, or mode coverage for a toy mixture; else {}."""
    if data.image_side is not None:
        from ..metrics.features import image_metrics

        k = min(500, x.shape[0], data.test_x.shape[0])
        return image_metrics(data.as_images(x), data.as_images(data.test_x), kid_subset=k,
                             kid_subsets=100 if k >= 100 else 10)
    if data.centres is not None:
        from ..metrics import mode_coverage

        return mode_coverage(x, data.centres, data.std).as_dict()
    return {}


def evaluate_vae(model, data: VAEData, cfg: VAEConfig, generator, final=True):
    r"""The held-out numbers of a VAE: ``test_elbo`` (K&W Eq. 7, ``elbo_samples`` draws per example), ``kl``,
    ``kl_per_dim``, ``active_units``, ``unit_activity``, ``mutual_info``; with ``final`` also ``test_iwae``
    (:math:`\mathcal L_k`, k = ``iwae_k``, on the first ``n_iwae`` examples; when that is not all of them,
    ``test_elbo_iwae_examples`` is the ELBO on the same ones) and the sample metrics.
    Returns ``(metrics, outputs)``; the bounds are in ``metrics["units"]``."""
    x = tensor(data.test(generator))  # (N, D), dequantized for the Gaussian decoder on digits
    with no_grad():
        mu, log_var = model.encoder(x)
    elbo = elbo_estimate(model, x, cfg.elbo_samples, generator)
    kld = kl_per_dim(mu, log_var)
    m = min(2000, x.shape[0])
    out = {"test_elbo": float(elbo.mean()) + data.log_bin_volume, "kl": float(kld.sum()),
           "kl_per_dim": [float(v) for v in kld], "active_units": active_units(mu),
           "unit_activity": [float(v) for v in unit_activity(mu)],
           "mutual_info": mutual_information(mu[:m], log_var[:m], generator)}
    samples = None
    if final:  # images: the decoder's means (what VAE figures show); other data: draws x ~ p(x|z)
        n = min(cfg.n_iwae, x.shape[0])
        out["test_iwae"] = float(iwae_bound(model, x[:n], cfg.iwae_k, generator).mean()) + data.log_bin_volume
        out["iwae_k"], out["iwae_n"] = cfg.iwae_k, n
        if n < x.shape[0]:  # the ELBO on the same examples, for the gap IWAE - ELBO
            out["test_elbo_iwae_examples"] = float(elbo[:n].mean()) + data.log_bin_volume
        samples = model.sample(cfg.n_eval, generator, mean=data.image_side is not None)
        out.update(sample_metrics(samples, data))
    out["units"] = data.units
    return out, {"mu": to_numpy(mu.data), "samples": None if samples is None else to_numpy(samples)}


# ---------------------------------------------------------------------------
# The VAE run
# ---------------------------------------------------------------------------
@dataclass
class VAERun:
    """What a VAE run leaves behind (also written to its directory)."""

    config: VAEConfig
    model: object
    data: object
    history: dict = field(default_factory=dict)
    final: dict = field(default_factory=dict)
    samples: object = None  # (n_eval, D): decoder means at z ~ N(0, I) (images), or draws x ~ p(x|z)
    test_mu: object = None  # (N_test, L): posterior means of the held-out data


def train_vae(cfg: VAEConfig, out_dir=None, resume=None, callback=None, figures=True) -> VAERun:
    """Train a VAE by the (β-, warm-up, free-bits) ELBO; evaluate, checkpoint and write the outputs.

    ``out_dir`` gets ``metrics.json`` (``final`` holds ``test_elbo``, ``test_iwae``, ``iwae_k``,
    ``active_units``, ``kl_per_dim``, ...), ``samples.npy``, ``checkpoint.npz`` and the figures
    (``reconstructions.png``, ``samples.png``, ``traversals.png``, ``latent.png``, ``collapse.png``).
    ``resume``: a checkpoint of a run with the same settings (only ``steps`` and how it reports may change).
    ``callback(step, model)`` runs after every step.
    """
    cfg.validate()
    gen = rng(cfg.seed)  # the training stream: weights, minibatches, dequantization, eps
    data = VAEData(cfg.data, cfg.decoder, cfg.n_train)
    model = build_vae(cfg, data.dim, gen)
    # before training: p(x|z) centred on each dimension's mean, with a quarter of its variance (the whole
    # variance is the collapsed solution, which explains the data as noise and needs no z)
    mean, var = data.moments()
    model.decoder.match_marginal(mean, var / 4)
    opt = optim.Adam(model.parameters(), lr=cfg.lr)
    sched = _schedule(opt, cfg.steps)

    def step(t):  # K&W Algorithm 1, with beta, KL warm-up and free bits
        x = tensor(data.batch(cfg.batch, gen))  # (B, D)
        eps = model.noise(cfg.samples, cfg.batch, gen)  # (S, B, L)
        beta_t = cfg.beta * kl_weight(t, cfg.warmup)
        out = model.loss(x, eps, beta=beta_t, free_bits=cfg.free_bits)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        sched.step()
        return {"loss": out["loss"], "elbo": out["recon"] - out["kl"] + data.log_bin_volume, "kl": out["kl"]}

    def evaluate(t, gen_eval, final):
        return evaluate_vae(model, data, cfg, gen_eval, final)

    loop = TrainingLoop("vae", cfg, gen, step=step, evaluate=evaluate, modules={"model": model},
                        optimizers={"opt": opt}, schedulers={"lr_sched": sched}, eval_seed=cfg.seed + 40_000,
                        may_differ=("steps", "eval_every", "n_eval", "progress", "elbo_samples", "iwae_k", "n_iwae"),
                        hint="Try a smaller learning rate.", desc=f"vae {cfg.data}",
                        postfix=("test_elbo", "active_units"))
    metrics, outputs = loop.run(out_dir, resume, callback)
    final = {"steps": cfg.steps, "data": cfg.data, "decoder": cfg.decoder, **metrics,
             "train_seconds": loop.seconds["train"], "train_cpu_seconds": loop.seconds["train_cpu"],
             "eval_seconds": loop.seconds["last_eval"]}
    run = VAERun(cfg, model, data, loop.history, final, outputs["samples"], outputs["mu"])
    if out_dir:
        write_outputs(out_dir, final, cfg, loop.history, {"samples": run.samples})
        if figures:
            from .figures import vae_figures

            vae_figures(run, out_dir)
    return run


# ---------------------------------------------------------------------------
# Autoencoders
# ---------------------------------------------------------------------------
@dataclass
class AEConfig(Config):
    """Settings of one autoencoder run (plain, denoising or masked; ``hidden=()`` is the linear autoencoder)."""

    data: str = option("digits", _DATA_HELP, metavar="DATA")
    objective: str = option("plain", "plain: reconstruct x; denoising: reconstruct x from x + noise_std eps; "
                                     "masked: reconstruct the hidden entries from the others", choices=OBJECTIVES)
    code_dim: int = option(8, "size k of the code")
    hidden: tuple[int, ...] = option((128, 128), "hidden widths of the encoder, mirrored by the decoder (0: none, "
                                                 "the linear autoencoder of PCA)")
    noise_std: float = option(0.5, "denoising: standard deviation of the Gaussian corruption")
    mask_ratio: float = option(0.5, "masked: fraction of the entries hidden (set to 0) in each example")
    steps: int = option(10000, "Adam updates")
    batch: int = option(128, "examples per minibatch")
    lr: float = option(1e-3, "Adam learning rate, decayed by a cosine to 0")
    n_train: int = option(2000, "ppca: size of the fixed training set")
    eval_every: int = option(5000, "steps between evaluations/checkpoints")
    seed: int = option(0, "seed of the one generator behind data, corruption and weights")
    progress: bool = option(True, "show a progress bar")

    def validate(self):
        who = "AEConfig"
        _check_data(self.data, who)
        check_choice(self.objective, "objective", who, OBJECTIVES)
        for name in ("code_dim", "steps", "batch", "n_train", "eval_every"):
            check_int(getattr(self, name), name, who, min=1)
        _check_hidden(self.hidden, who)
        check_number(self.noise_std, "noise_std", who, min=0)
        check_number(self.mask_ratio, "mask_ratio", who, min=0, max=1, min_open=True, max_open=True)
        check_number(self.lr, "lr", who, min=0, min_open=True)


@dataclass
class AERun:
    config: AEConfig
    model: object
    data: object
    history: dict = field(default_factory=dict)
    final: dict = field(default_factory=dict)
    test_codes: object = None  # (N_test, k)


def _ae_loss(model, cfg, x, generator):
    if cfg.objective == "denoising":
        return denoising_loss(model, x, cfg.noise_std, generator)
    if cfg.objective == "masked":
        return masked_loss(model, x, cfg.mask_ratio, generator)
    return reconstruction_loss(model(x), x)


def evaluate_autoencoder(model, data: VAEData, cfg: AEConfig, generator):
    """Held-out squared errors (per example, summed over the D entries): ``test_mse`` of the clean input, and
    the objective's own ``test_loss`` (denoising: from a corrupted copy; masked: per hidden entry). For a
    linear autoencoder trained on a fixed set, ``principal_angles_deg``: the angles between its decoder's
    column space and the top-k principal subspace of the training data (Baldi & Hornik 1989: all 0)."""
    x = tensor(data.test(generator))
    with no_grad():
        out = {"test_mse": float(reconstruction_loss(model(x), x).item()),
               "test_loss": float(_ae_loss(model, cfg, x, generator).item())}
    if not hidden_layers(cfg.hidden) and data.train_x is not None:
        xp = get_xp(data.train_x)
        c = data.train_x.astype(xp.float64) - data.train_x.astype(xp.float64).mean(axis=0)
        top_k = xp.linalg.svd(c, full_matrices=False)[2][: cfg.code_dim].T  # (D, k): top-k right singular vectors
        B = model.decoder[0].weight.data.astype(xp.float64)  # (D, k)
        out["principal_angles_deg"] = [float(a) for a in xp.degrees(principal_angles(B, top_k))]
    return out, model.encode(x)


def train_autoencoder(cfg: AEConfig, out_dir=None, resume=None, callback=None, figures=True) -> AERun:
    """Train an autoencoder by its objective (:mod:`scratchgen.vae.autoencoders`); evaluate, checkpoint, write
    ``metrics.json``, ``checkpoint.npz`` and the figures (``reconstructions.png``, ``latent.png``)."""
    cfg.validate()
    gen = rng(cfg.seed)
    data = VAEData(cfg.data, "gaussian", cfg.n_train)
    model = Autoencoder(data.dim, cfg.code_dim, hidden_layers(cfg.hidden), generator=gen)
    opt = optim.Adam(model.parameters(), lr=cfg.lr)
    sched = _schedule(opt, cfg.steps)

    def step(t):
        x = tensor(data.batch(cfg.batch, gen))  # (B, D)
        loss = _ae_loss(model, cfg, x, gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        return {"loss": loss}

    def evaluate(t, gen_eval, final):
        return evaluate_autoencoder(model, data, cfg, gen_eval)

    loop = TrainingLoop("autoencoder", cfg, gen, step=step, evaluate=evaluate, modules={"model": model},
                        optimizers={"opt": opt}, schedulers={"lr_sched": sched}, eval_seed=cfg.seed + 50_000,
                        desc=f"{cfg.objective} autoencoder {cfg.data}", postfix=("test_mse",))
    metrics, codes = loop.run(out_dir, resume, callback)
    final = {"steps": cfg.steps, "data": cfg.data, "objective": cfg.objective, **metrics,
             "train_seconds": loop.seconds["train"], "train_cpu_seconds": loop.seconds["train_cpu"]}
    run = AERun(cfg, model, data, loop.history, final, to_numpy(codes))
    if out_dir:
        write_outputs(out_dir, final, cfg, loop.history)
        if figures:
            from .figures import autoencoder_figures

            autoencoder_figures(run, out_dir)
    return run
