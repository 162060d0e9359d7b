r"""Latent diffusion: a DDPM in the latent space of the digits VAE (Rombach et al. 2022, on a small scale).

References
----------
* Rombach, Blattmann, Lorenz, Esser & Ommer (2022), *High-Resolution Image Synthesis with Latent
  Diffusion Models*: Sec. 3.1 (a pretrained autoencoder :math:`\mathcal E, \mathcal D`, a KL-regularised
  latent), Sec. 3.2 (the DDPM objective on :math:`z = \mathcal E(x)`, their Eq. 2), Appendix G (the
  latent rescaled to unit variance before diffusion, one scale factor for all dimensions).
* Ho, Jain & Abbeel (2020), DDPM, Eq. 14 and Algorithm 2, used unchanged on the latents.
* Kingma & Welling (2014): the VAE of :mod:`scratchgen.vae` (8-d latent, MLP encoder and decoder).

The model
---------
.. code-block:: text

    (once) a VAE on the digits: q(z|x) = N(mu(x), diag sigma^2(x)), decoder mean D(z)
    (once) mu, sigma of every training image;  m = mean of mu,  s^2 = mean per-dimension variance of z
    training step:  z = mu(x) + sigma(x) xi,  xi ~ N(0, I)          draws of the aggregate posterior q(z)
                    u_0 = (z - m) / s                                 unit scale, as Rombach et al. App. G
                    L_simple on u_0 with the MLP denoiser (Ho Eq. 14)
    sampling:       u_0 ~ DDPM (Algorithm 2, 8 numbers per image),  x = D(m + s u_0)

The DDPM models the aggregate posterior :math:`q(z) = \frac1N\sum_n q(z\mid x_n)`, which the VAE's prior
:math:`\mathcal N(0, I)` only approximates (the gap is the "holes" of the prior); decoding its samples
gives images as sharp as the decoder's reconstructions allow. The pixel-space DDPM works on 64
numbers through a convolutional network; the latent one on 8 numbers through an MLP, so each of its
sampling steps is far cheaper (``demos/latent_diffusion.py`` measures both).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from .. import backend as _backend
from .. import optim
from ..autodiff.tensor import no_grad, tensor
from ..checkpoint import load
from ..config import Config, option
from ..training import TrainingLoop, WeightAverage, check_descent, descend, write_outputs
from ..validate import bad, check_choice, check_int
from .ddpm import loss_simple
from .models import MLPDenoiser, check_time_dim
from .samplers import generate
from .schedules import make_schedule

__all__ = ["LDMConfig", "LDMRun", "LatentCodes", "train_ldm", "load_ldm", "load_vae", "decode_latents",
           "sample_images", "image_scores"]


@dataclass
class LDMConfig(Config):
    """Settings of one latent-diffusion run: the VAE, then the DDPM on its latents (``scratchgen train ldm``)."""

    vae: str = option("train", "the VAE: 'train' (train one with scratchgen.vae.train.VAEConfig's digits defaults, "
                               "vae_steps steps, into OUT/vae) or the path of a checkpoint.npz of `scratchgen train vae`",
                      metavar="VAE")
    vae_steps: int = option(10000, "steps of the VAE when it is trained here")
    latent: str = option("sample", "what the DDPM learns: draws z ~ q(z|x) (the aggregate posterior) or the "
                                   "posterior means mu(x)", choices=("sample", "mean"))
    steps: int = option(4000, "Adam updates of the latent DDPM (the measured run of docs/results.md)")
    batch: int = option(256, "latents per minibatch")
    lr: float = option(1e-3, "peak learning rate, cosine decay to 0")
    warmup: int = option(200, "linear warm-up steps")
    grad_clip: float | None = option(1.0, "clip the global gradient norm (none: off)")
    ema: float = option(0.999, "EMA decay of the weights, which sample and are evaluated; 0 = off")
    T: int = option(1000, "diffusion steps")
    schedule: str = option("linear", "noise schedule", choices=("linear", "cosine"))
    sigma2: str = option("beta_tilde", "reverse-process variance of the sampler", choices=("beta", "beta_tilde"))
    hidden: int = option(256, "width of the MLP denoiser")
    n_hidden: int = option(3, "hidden layers of the MLP denoiser")
    time_dim: int = option(64, "size of the sinusoidal time embedding")
    eval_every: int = option(4000, "steps between evaluations/checkpoints")
    n_eval: int = option(1000, "images sampled for the metrics")
    seed: int = option(0, "seed of the one generator behind the VAE, data, noise and weights")
    progress: bool = option(True, "show a progress bar")

    def validate(self):
        who = "LDMConfig"
        if self.vae != "train" and not (isinstance(self.vae, str) and os.path.isfile(self.vae)):
            raise bad(who, "vae", "be 'train' or the path of an existing VAE checkpoint.npz", self.vae)
        check_choice(self.latent, "latent", who, ("sample", "mean"))
        check_choice(self.schedule, "schedule", who, ("linear", "cosine"))
        check_choice(self.sigma2, "sigma2", who, ("beta", "beta_tilde"))
        for name in ("vae_steps", "steps", "batch", "T", "hidden", "n_hidden", "time_dim", "eval_every"):
            check_int(getattr(self, name), name, who, min=1)
        check_int(self.n_eval, "n_eval", who, min=10, fix="the image metrics need at least 10 samples")
        check_int(self.warmup, "warmup", who, min=0)
        check_int(self.seed, "seed", who, min=0)
        check_time_dim(self.time_dim, who)
        check_descent(self, who)


# ---------------------------------------------------------------------------
# The VAE and its codes
# ---------------------------------------------------------------------------
def load_vae(checkpoint):
    """The VAE of a ``checkpoint.npz`` written by ``scratchgen train vae`` (digits, Gaussian decoder), in eval mode."""
    from ..vae.data import VAEData
    from ..vae.train import VAEConfig, build_vae

    state = load(checkpoint)
    if "config" not in state or "model" not in state or state.get("kind", "vae") != "vae":
        raise bad("load_vae", "checkpoint", "be a checkpoint of `scratchgen train vae`", checkpoint)
    cfg = VAEConfig.from_saved(state["config"])
    if cfg.data != "digits" or cfg.decoder != "gaussian":
        raise bad("load_vae", "checkpoint", "hold a VAE of the digits with the Gaussian decoder",
                  f"data={cfg.data!r}, decoder={cfg.decoder!r}")
    model = build_vae(cfg, VAEData("digits").dim, 0)
    model.load_state_dict(state["model"])
    model.eval()
    return model


class LatentCodes:
    r"""The training images' posteriors and the latent scaling: ``mu``, ``sigma`` (N, L); ``m`` (L,), ``s``.

    :math:`m` is the mean of the codes and :math:`s^2` the mean over dimensions of their variance, for
    draws :math:`z = \mu + \sigma\xi` (``latent="sample"``: :math:`\mathrm{Var}\,z = \mathrm{Var}\,\mu +
    \mathbb E\,\sigma^2`) or for :math:`\mu` alone (``"mean"``).
    """

    def __init__(self, vae, images, latent="sample"):
        check_choice(latent, "latent", "LatentCodes", ("sample", "mean"))
        xp = _backend.get_xp(images)
        x = images.reshape(images.shape[0], -1)  # (N, 64)
        with no_grad():
            mu, log_var = vae.encoder(tensor(x))
        self.mu, self.sigma = mu.data, xp.exp(0.5 * log_var.data)  # (N, L)
        self.latent = latent
        mu64 = self.mu.astype(xp.float64)
        var = mu64.var(axis=0) + ((self.sigma.astype(xp.float64) ** 2).mean(axis=0) if latent == "sample" else 0)
        self.m = mu64.mean(axis=0).astype(self.mu.dtype)  # (L,)
        self.s = float(xp.sqrt(var.mean()))  # one scale for all dimensions

    def batch(self, n, generator):
        r"""Scaled latents :math:`u_0 = (z - m)/s` of n training images drawn with replacement: (n, L)."""
        idx = generator.integers(0, self.mu.shape[0], size=n)
        z = self.mu[idx]
        if self.latent == "sample":
            z = z + self.sigma[idx] * generator.standard_normal(z.shape).astype(z.dtype)
        return (z - self.m) / z.dtype.type(self.s)

    def unscale(self, u):
        """:math:`z = m + s\\,u`."""
        return self.m + u * u.dtype.type(self.s)


def decode_latents(vae, z):
    """Images (N, 1, 8, 8) in the data's [-1, 1] units: the decoder's mean at ``z`` (N, L)."""
    with no_grad():
        x = vae.decoder.mean(tensor(z))  # (N, 64)
    return x.reshape(x.shape[0], 1, 8, 8)


def sample_images(model, schedule, vae, codes, n, seed=None, sampler="ddpm", steps=None, sigma2="beta_tilde"):
    """n images from the latent DDPM: latents by the sampler (:func:`~scratchgen.diffusion.samplers.generate`),
    unscaled and decoded. Returns images (n, 1, 8, 8)."""
    u0 = generate(model, schedule, n, (vae.z_dim,), sampler, steps=steps, sigma2=sigma2, seed=seed)
    return decode_latents(vae, codes.unscale(u0))


def image_scores(images, reference):
    """The digits' image metrics (FID, KID, precision/recall, ... on the shipped classifier's features) of
    ``images`` against ``reference``, with the KID subsets of ``diffusion.train.evaluate_samples``."""
    from ..metrics.features import image_metrics

    k = min(500, images.shape[0], reference.shape[0])
    return image_metrics(images, reference, kid_subset=k, kid_subsets=100 if k >= 100 else 10)


# ---------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------
@dataclass
class LDMRun:
    """What a latent-diffusion run leaves behind."""

    config: LDMConfig
    vae: object
    model: object
    ema_model: object
    schedule: object
    codes: LatentCodes
    history: dict = field(default_factory=dict)
    final: dict = field(default_factory=dict)
    samples: object = None  # (n_eval, 1, 8, 8) decoded images


def _vae(cfg: LDMConfig, out_dir):
    if cfg.vae != "train":
        return load_vae(cfg.vae), {"vae": cfg.vae}
    from ..vae.train import VAEConfig, train_vae

    vcfg = VAEConfig(steps=cfg.vae_steps, eval_every=cfg.vae_steps, seed=cfg.seed, progress=cfg.progress,
                     iwae_k=100, n_eval=min(cfg.n_eval, 1000))
    path = os.path.join(out_dir, "vae") if out_dir else None
    vrun = train_vae(vcfg, out_dir=path, figures=False)
    vrun.model.eval()
    keep = ("test_elbo", "test_iwae", "active_units", "fid", "precision", "recall", "train_seconds",
            "train_cpu_seconds")
    return vrun.model, {"vae": path or "trained in memory", **{f"vae_{k}": vrun.final[k] for k in keep
                                                             if k in vrun.final}}


def train_ldm(cfg: LDMConfig, out_dir=None, resume=None, callback=None) -> LDMRun:
    """Train (or load) the VAE, then a DDPM on its scaled latents (module docstring); evaluate the decoded samples.

    ``out_dir`` gets ``vae/`` (when trained here), ``checkpoint.npz`` (the DDPM, with the VAE's weights under
    ``vae``), ``metrics.json`` and ``samples.npy`` (decoded images). ``resume``: a checkpoint of the same settings.
    """
    from ..data.digits import digits_split

    cfg.validate()
    vae, vae_info = _vae(cfg, out_dir)
    split = digits_split()
    codes = LatentCodes(vae, split.x_train, cfg.latent)
    gen = _backend.rng(cfg.seed + 1)  # the DDPM's stream (the VAE used seed)
    schedule = make_schedule(cfg.schedule, cfg.T)
    model = MLPDenoiser(vae.z_dim, cfg.hidden, cfg.n_hidden, cfg.time_dim, generator=gen)
    model_avg = WeightAverage(model, cfg.ema) if cfg.ema > 0 else None
    opt = optim.Adam(model.parameters(), lr=cfg.lr)
    lr_sched = (optim.LinearWarmup(opt, cfg.warmup, max(cfg.steps, cfg.warmup + 1)) if cfg.warmup
                else optim.CosineAnnealingLR(opt, cfg.steps))
    params = model.parameters()

    def step(t):  # Ho Algorithm 1 on u_0 = (z - m)/s, z ~ q(z|x) (Rombach et al. Eq. 2)
        loss = loss_simple(schedule, model, codes.batch(cfg.batch, gen), seed=gen, low_discrepancy=True)
        descend(loss, opt, params, cfg.grad_clip, lr_sched, model_avg, t)
        return {"loss": loss}

    def evaluate(t, gen_eval, final):
        import time

        t0 = time.perf_counter()
        x = sample_images(model_avg.module() if model_avg else model, schedule, vae, codes, cfg.n_eval,
                          seed=gen_eval, sigma2=cfg.sigma2)
        seconds = time.perf_counter() - t0
        return {**image_scores(x, split.x_test), "sample_seconds": seconds}, x

    loop = TrainingLoop("ldm", cfg, gen, step=step, evaluate=evaluate, modules={"model": model, "vae": vae},
                        optimizers={"opt": opt}, schedulers={"lr_sched": lr_sched}, averages={"ema": model_avg},
                        eval_seed=cfg.seed + 30_000, hint="Try a smaller learning rate.", desc="ldm digits",
                        postfix=("fid", "precision", "recall"))
    metrics, x = loop.run(out_dir, resume, callback)
    final = {"steps": cfg.steps, **vae_info, **metrics, "latent_scale": codes.s,
             "train_seconds": loop.seconds["train"], "train_cpu_seconds": loop.seconds["train_cpu"]}
    run = LDMRun(cfg, vae, model, model_avg.module() if model_avg else model, schedule, codes, loop.history, final,
                 _backend.to_numpy(x))
    if out_dir:
        write_outputs(out_dir, final, cfg, loop.history, {"samples": run.samples})
    return run


def load_ldm(checkpoint):
    """``(config, vae, model, schedule, codes)`` from a ``checkpoint.npz`` of :func:`train_ldm` (the EMA weights
    when the run kept them)."""
    from ..data.digits import digits_split
    from ..vae.train import VAEConfig, build_vae

    state = load(checkpoint)
    if state.get("kind") != "ldm":
        raise bad("load_ldm", "checkpoint", "be a checkpoint of `scratchgen train ldm`", checkpoint)
    cfg = LDMConfig.from_saved(state["config"])
    vae = build_vae(VAEConfig(), 64, 0)
    vae.load_state_dict(state["vae"])
    vae.eval()
    model = MLPDenoiser(vae.z_dim, cfg.hidden, cfg.n_hidden, cfg.time_dim, generator=0)
    model.load_state_dict(state["ema"] if "ema" in state else state["model"])
    model.eval()
    codes = LatentCodes(vae, digits_split().x_train, cfg.latent)
    return cfg, vae, model, make_schedule(cfg.schedule, cfg.T), codes
