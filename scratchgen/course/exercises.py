"""The exercises: each names the library functions whose solution regions the student writes, and the property
checks (:mod:`scratchgen.testing`) that grade them. The rest of the library is the reference: a student's
``gradient_penalty`` runs against the library's autodiff, a student's ``jsd`` is compared with the library's
``gan_value`` at the library's ``optimal_discriminator``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .. import testing as T
from .regions import FunctionRef

__all__ = ["Exercise", "EXERCISES", "TOPICS", "exercise", "resolve"]


@dataclass(frozen=True)
class Exercise:
    """One exercise.

    ``functions``: what the student implements (``"module:qualname"``); ``tests``: ``(label, check)`` pairs where
    ``check(f)`` takes a dict of the student's functions by name and raises ``AssertionError`` (or anything) on
    failure; ``depends``: the library functions the exercise builds on; ``points`` are shared equally by the tests.
    """

    name: str
    topic: str
    title: str
    difficulty: int
    functions: tuple
    tests: tuple
    depends: tuple = ()
    points: int = 10
    refs: tuple = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "refs", tuple(FunctionRef.parse(f) for f in self.functions))

    @property
    def test_labels(self):
        return [label for label, _ in self.tests]


def _ex(name, topic, title, difficulty, functions, tests, depends=()):
    return Exercise(name, topic, title, difficulty, tuple(functions), tuple(tests), tuple(depends))


_P = "scratchgen.autodiff.primitives:"
_L = "scratchgen.gan.losses:"
_EXERCISES = [
    # -- autodiff ---------------------------------------------------------------------------------------
    _ex("vjp_matmul", "autodiff", "VJP rules of x @ y: x_bar = y_bar y^T, y_bar = x^T y_bar", 2,
        [_P + "_matmul_vjp_x", _P + "_matmul_vjp_y"],
        [("matrices and batches against central differences", lambda f: T.check_matmul_vjp(f["_matmul_vjp_x"], f["_matmul_vjp_y"])),
         ("1-D operands, and second order", lambda f: T.check_matmul_vjp_vectors(f["_matmul_vjp_x"], f["_matmul_vjp_y"]))],
        ["autodiff.primitives.matmul", "autodiff.primitives.swapaxes", "autodiff.tape.unbroadcast"]),
    _ex("vjp_power", "autodiff", "VJP rule of x ** y with respect to x: y x^(y-1)", 1, [_P + "_power_vjp_x"],
        [("exponents 0, 1, 2, integers, fractions, Tensors; second order", lambda f: T.check_power_vjp(f["_power_vjp_x"]))],
        ["autodiff.primitives.power"]),
    _ex("vjp_mean", "autodiff", "VJP rule of the mean over axes: g / n spread back", 1, [_P + "_mean_vjp"],
        [("axes, tuples of axes, keepdims; second order", lambda f: T.check_mean_vjp(f["_mean_vjp"]))],
        ["autodiff.primitives._expand", "autodiff.primitives._axes"]),
    _ex("unbroadcast", "autodiff", "The adjoint of broadcasting: sum a gradient back to an input's shape", 2,
        ["scratchgen.autodiff.tape:unbroadcast"],
        [("<unbroadcast(g), v> = <g, broadcast(v)>", lambda f: T.check_unbroadcast(f["unbroadcast"])),
         ("recorded on the tape (differentiable again)", lambda f: T.check_unbroadcast_records(f["unbroadcast"]))]),
    _ex("softplus", "stable losses", "softplus(x) = log(1 + e^x), finite at x = +-1e4", 1,
        ["scratchgen.autodiff.functional:softplus"],
        [("values in float64, float32 kept", lambda f: T.check_softplus(f["softplus"])),
         ("exact in the tails (x = +-1e4, +-40)", lambda f: T.check_softplus_extremes(f["softplus"]))]),
    _ex("bce_with_logits", "stable losses", "Binary cross-entropy on logits, t softplus(-z) + (1-t) softplus(z)", 1,
        ["scratchgen.nn.functional:binary_cross_entropy_with_logits"],
        [("values and gradient (sigma(z) - t)/n", lambda f: T.check_bce_with_logits(f["binary_cross_entropy_with_logits"])),
         ("finite and accurate at z = +-1e4 and 40", lambda f: T.check_bce_extremes(f["binary_cross_entropy_with_logits"]))],
        ["autodiff.functional.softplus"]),
    # -- GAN theory -------------------------------------------------------------------------------------
    _ex("optimal_discriminator", "GAN theory", "D*(x) = p(x)/(p(x) + q(x)) (Goodfellow et al. 2014, Prop. 1)", 1,
        ["scratchgen.divergences:optimal_discriminator"],
        [("D* = p/(p+q)", lambda f: T.check_optimal_discriminator(f["optimal_discriminator"])),
         ("D* maximises p log D + q log(1 - D)", lambda f: T.check_optimal_discriminator_maximises(f["optimal_discriminator"])),
         ("1/2 where p = q = 0, shape kept", lambda f: T.check_optimal_discriminator_no_mass(f["optimal_discriminator"]))]),
    _ex("jsd", "GAN theory", "JSD, and V(G, D*) = 2 JSD(p||q) - log 4 (Goodfellow et al. 2014, Thm. 1)", 2,
        ["scratchgen.divergences:jsd"],
        [("JSD = 1/2 KL(p||m) + 1/2 KL(q||m)", lambda f: T.check_jsd(f["jsd"])),
         ("V(D*, G) = 2 JSD - log 4", lambda f: T.check_gan_value_at_optimum(f["jsd"])),
         ("0 for p = q, log 2 for disjoint supports, symmetric", lambda f: T.check_jsd_bounds(f["jsd"]))],
        ["divergences.kl", "divergences.gan_value", "divergences.optimal_discriminator"]),
    _ex("generator_losses", "GAN theory", "The minimax and the non-saturating generator losses on logits", 1,
        [_L + "g_loss_minimax", _L + "g_loss_nonsaturating"],
        [("values, finite at logits +-1e4", lambda f: T.check_generator_losses(f["g_loss_minimax"], f["g_loss_nonsaturating"])),
         ("gradients -sigma(l)/n and -(1 - sigma(l))/n", lambda f: T.check_generator_gradients(f["g_loss_minimax"], f["g_loss_nonsaturating"]))],
        ["autodiff.functional.softplus"]),
    _ex("lsgan", "GAN theory", "The LSGAN objectives (Mao et al. 2017, Eqs. 2-3)", 1,
        [_L + "lsgan_d_loss", _L + "lsgan_g_loss"],
        [("D and G losses, targets a, b, c, the data term", lambda f: T.check_lsgan_losses(f["lsgan_d_loss"], f["lsgan_g_loss"]))]),
    _ex("hinge", "GAN theory", "The hinge objectives (Lim & Ye 2017; Miyato et al. 2018)", 1,
        [_L + "hinge_d_loss", _L + "hinge_g_loss"],
        [("D and G losses", lambda f: T.check_hinge_losses(f["hinge_d_loss"], f["hinge_g_loss"]))],
        ["autodiff.functional.relu"]),
    _ex("gradient_penalty", "GAN theory", "The WGAN-GP penalty with per-sample norms (Gulrajani et al. 2017, Eq. 3)", 2,
        ["scratchgen.gan.penalties:critic_grad_norms", "scratchgen.gan.penalties:gradient_penalty"],
        [("per-sample gradient norms", lambda f: T.check_grad_norms_per_sample(f["critic_grad_norms"])),
         ("lam E(||grad D(x_hat)|| - 1)^2, one eps per sample", lambda f: T.check_gradient_penalty(f["gradient_penalty"]))],
        ["gan.penalties._input_gradient", "autodiff.api.vjp"]),
    _ex("ssgan_critic_loss", "GAN theory", "The K+1-class critic's loss (Salimans et al. 2016, Sec. 5)", 3,
        ["scratchgen.gan.ssgan:critic_loss"],
        [("joint and conditional, K+1 and K forms", lambda f: T.check_critic_loss(f["critic_loss"])),
         ("finite at a fake logit of 1e4", lambda f: T.check_critic_loss_stable(f["critic_loss"]))],
        ["gan.ssgan.log_p_class", "gan.ssgan.log_p_real", "gan.ssgan.log_p_fake"]),
    # -- MMD --------------------------------------------------------------------------------------------
    _ex("unbiased_mmd", "MMD", "The unbiased MMD^2 (Gretton et al. 2012, Lemma 6, Eq. 3) and the biased one", 2,
        ["scratchgen.mmd:mmd2"],
        [("the U-statistic", lambda f: T.check_unbiased_mmd(f["mmd2"])),
         ("the biased V-statistic", lambda f: T.check_biased_mmd(f["mmd2"])),
         ("averages 0 when P = Q", lambda f: T.check_mmd_unbiasedness(f["mmd2"]))],
        ["mmd.rbf_kernel", "mmd._off_diagonal_sum"]),
    # -- diffusion --------------------------------------------------------------------------------------
    _ex("q_sample", "diffusion", "x_t ~ q(x_t | x_0) by reparameterisation (Ho et al. 2020, Eq. 4)", 1,
        ["scratchgen.diffusion.ddpm:q_sample"],
        [("x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps", lambda f: T.check_q_sample(f["q_sample"])),
         ("int t, float32 kept", lambda f: T.check_q_sample_types(f["q_sample"]))],
        ["diffusion.schedules.Schedule.gather"]),
    _ex("q_posterior", "diffusion", "The posterior q(x_{t-1} | x_t, x_0) (Ho et al. 2020, Eqs. 6-7)", 2,
        ["scratchgen.diffusion.ddpm:q_posterior"],
        [("mean and variance from Bayes' rule", lambda f: T.check_q_posterior(f["q_posterior"])),
         ("t = 1: the point x0", lambda f: T.check_q_posterior_at_t1(f["q_posterior"]))],
        ["diffusion.schedules.Schedule.gather"]),
    _ex("ancestral_step", "diffusion", "One step of ancestral sampling (Ho et al. 2020, Algorithm 2)", 2,
        ["scratchgen.diffusion.samplers:p_sample_step"],
        [("x_{t-1} = mu_theta + sigma_t z for t >= 2", lambda f: T.check_ancestral_step(f["p_sample_step"])),
         ("no noise at t = 1", lambda f: T.check_ancestral_step_last(f["p_sample_step"])),
         ("the mean is the posterior mean at the true x0", lambda f: T.check_ancestral_mean_is_posterior_mean(f["p_sample_step"]))],
        ["diffusion.ddpm.p_mean_from_eps", "diffusion.ddpm.p_variance", "diffusion.ddpm.q_posterior"]),
    _ex("cosine_schedule", "diffusion", "The cosine schedule (Nichol & Dhariwal 2021, Eq. 17)", 2,
        ["scratchgen.diffusion.schedules:cosine_schedule"],
        [("alpha_bar_t = f(t)/f(0)", lambda f: T.check_cosine_schedule(f["cosine_schedule"])),
         ("beta_t clipped at max_beta", lambda f: T.check_cosine_schedule_clip(f["cosine_schedule"]))],
        ["diffusion.schedules.Schedule"]),
    _ex("score_eps", "diffusion", "The score-eps identity: s = -eps / sqrt(1 - alpha_bar_t)", 1,
        ["scratchgen.diffusion.score:score_from_eps"],
        [("s = -eps / sqrt(1 - alpha_bar_t)", lambda f: T.check_score_from_eps(f["score_from_eps"])),
         ("the exact denoiser gives grad log p_t", lambda f: T.check_score_eps_identity(f["score_from_eps"]))],
        ["diffusion.schedules.Schedule.gather", "diffusion.mixture.exact_eps_model"]),
    # -- VAE and flows ----------------------------------------------------------------------------------
    _ex("elbo", "VAE and flows", "The ELBO: the analytic KL term and the one-sample log-weights (Kingma & Welling 2014)", 2,
        ["scratchgen.vae.distributions:kl_standard_normal", "scratchgen.vae.vae:VAE.log_weights"],
        [("KL(N(mu, sigma^2) || N(0, 1)) against quadrature", lambda f: T.check_kl_standard_normal(f["kl_standard_normal"])),
         ("KL = 0 at q = p, elementwise", lambda f: T.check_kl_standard_normal_zero(f["kl_standard_normal"])),
         ("log w = log p(x|z) + log p(z) - log q(z|x)", lambda f: T.check_elbo_log_weights(f["log_weights"]))],
        ["vae.distributions.reparameterize", "vae.distributions.log_normal"]),
    _ex("flow_log_det", "VAE and flows", "The affine coupling and its log-determinant (Dinh et al. 2017, Eqs. 6-9)", 2,
        ["scratchgen.flows.layers:AffineCoupling.forward"],
        [("log|det J| by central differences; kept part unchanged", lambda f: T.check_coupling_log_det(f["forward"])),
         ("the library's inverse undoes it", lambda f: T.check_coupling_invertible(f["forward"]))],
        ["flows.layers.AffineCoupling._s_t", "flows.layers.AffineCoupling.inverse"]),
]

#: The exercises by name, in teaching order
EXERCISES = {e.name: e for e in _EXERCISES}
#: The topics, in teaching order
TOPICS = tuple(dict.fromkeys(e.topic for e in _EXERCISES))


def exercise(name):
    """The exercise called ``name`` (a ``KeyError`` naming the known ones otherwise)."""
    if name not in EXERCISES:
        raise KeyError(f"unknown exercise {name!r}; known: {', '.join(EXERCISES)}")
    return EXERCISES[name]


def resolve(names):
    """``"all"``, a comma-separated string or a list of names -> a list of exercise names, in teaching order."""
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    names = list(names)
    if names == ["all"]:
        return list(EXERCISES)
    for n in names:
        exercise(n)
    return [n for n in EXERCISES if n in names]
