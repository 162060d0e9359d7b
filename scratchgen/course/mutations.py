"""The catalogue of plausible student mistakes: each is a small rewrite of one solution region, and the kit's
own tests check that every one of them loses points on its exercise (the mutation kill rate of
docs/teaching.md).

A mutation replaces the text ``old`` (which must occur exactly once in the region) by ``new``.
"""
from __future__ import annotations

import pathlib
from dataclasses import dataclass

from .exercises import exercise
from .workspace import exercise_module_source

__all__ = ["Mutation", "MUTATIONS", "mutations_of", "apply_mutation"]


@dataclass(frozen=True)
class Mutation:
    exercise: str
    function: str
    name: str
    description: str
    old: str
    new: str

    def rewrite(self, function, region):
        if function != self.function:
            return region
        if region.count(self.old) != 1:
            raise LookupError(f"mutation {self.exercise}/{self.name}: {self.old!r} occurs {region.count(self.old)} "
                              f"times in the region of {function}; the catalogue is out of date")
        return region.replace(self.old, self.new)


def _m(ex, fn, name, description, old, new):
    return Mutation(ex, fn, name, description, old, new)


MUTATIONS = [
    # autodiff
    _m("vjp_matmul", "_matmul_vjp_x", "no_transpose", "x_bar = y_bar @ y (the transpose forgotten)",
       "return matmul(g, _mT(y))", "return matmul(g, y)"),
    _m("vjp_matmul", "_matmul_vjp_y", "transposed_answer", "y_bar = y_bar^T @ x (the transpose of x^T y_bar)",
       "return matmul(_mT(x), g)", "return matmul(_mT(g), x)"),
    _m("vjp_matmul", "_matmul_vjp_x", "dot_swapped", "the dot product's rule returns g * x (the other input)",
       "        return g * y\n", "        return g * x\n"),
    _m("vjp_power", "_power_vjp_x", "missing_factor_y", "x_bar = g x^(y-1) (the factor y forgotten)",
       "return g * y * x ** (y - 1)", "return g * x ** (y - 1)"),
    _m("vjp_power", "_power_vjp_x", "off_by_one_exponent", "x_bar = g y x^y (the exponent not lowered)",
       "return g * y * x ** (y - 1)", "return g * y * x ** y"),
    _m("vjp_power", "_power_vjp_x", "returns_array", "computes on arrays (g.data): cannot be differentiated again",
       "return g * y * x ** (y - 1)", "return type(g)((g * y * x ** (y - 1)).data)"),
    _m("vjp_mean", "_mean_vjp", "sum_rule", "the rule of the sum: the 1/n forgotten",
       "* (1.0 / n)", "* 1.0"),
    _m("vjp_mean", "_mean_vjp", "divide_by_size", "divides by every element's count, not the reduced axes'",
       "* (1.0 / n)", "* (1.0 / x.size)"),
    _m("unbroadcast", "unbroadcast", "leading_axes_only", "sums the new leading axes but not the size-1 axes",
       "axes = tuple(range(lead)) + tuple(", "axes = tuple(range(lead)) + 0 * tuple("),
    _m("unbroadcast", "unbroadcast", "mean_not_sum", "averages over the broadcast axes instead of summing",
       "g = g.sum(axis=axes)", "g = g.mean(axis=axes)"),
    _m("unbroadcast", "unbroadcast", "on_arrays", "sums the array (g.data), off the tape",
       "g = g.sum(axis=axes)", "g = type(g)(g.data.sum(axis=axes))"),
    # stable losses
    _m("softplus", "softplus", "naive", "log(1 + e^x): overflows to inf at x = 1e4",
       "return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))", "return xp.log(1 + xp.exp(x))"),
    _m("softplus", "softplus", "missing_max", "log(1 + e^{-|x|}) without the max(x, 0) term",
       "return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))", "return xp.log1p(xp.exp(-xp.abs(x)))"),
    _m("softplus", "softplus", "log_not_log1p", "max(x, 0) + log(1 + e^{-|x|}): loses e^{-40} in the tail",
       "xp.log1p(xp.exp(-xp.abs(x)))", "xp.log(1 + xp.exp(-xp.abs(x)))"),
    _m("bce_with_logits", "binary_cross_entropy_with_logits", "unstable_log_1_minus_sigmoid",
       "-t log sigma(z) - (1 - t) log(1 - sigma(z)) with sigma computed first: log 0 at |z| = 1e4",
       "_AF.softplus(-z) * t + _AF.softplus(z) * (1 - t)",
       "-(_AF.sigmoid(z).log() * t + (1 - _AF.sigmoid(z)).log() * (1 - t))"),
    _m("bce_with_logits", "binary_cross_entropy_with_logits", "labels_swapped", "t softplus(z) + (1 - t) softplus(-z)",
       "_AF.softplus(-z) * t + _AF.softplus(z) * (1 - t)", "_AF.softplus(z) * t + _AF.softplus(-z) * (1 - t)"),
    _m("bce_with_logits", "binary_cross_entropy_with_logits", "cancelling_form",
       "softplus(z) - t z: cancels to 0 where the loss is e^-40",
       "_AF.softplus(-z) * t + _AF.softplus(z) * (1 - t)", "_AF.softplus(z) - z * t"),
    # GAN theory
    _m("optimal_discriminator", "optimal_discriminator", "q_over_sum", "D* = q/(p+q) (the roles of data and model swapped)",
       "p / xp.where(pos, s, 1)", "q / xp.where(pos, s, 1)"),
    _m("optimal_discriminator", "optimal_discriminator", "density_ratio", "D* = p/q (the density ratio, not D*)",
       "p / xp.where(pos, s, 1)", "p / xp.where(q > 0, q, 1)"),
    _m("optimal_discriminator", "optimal_discriminator", "no_guard", "p/(p+q) everywhere: 0/0 = nan where p = q = 0",
       "return xp.where(pos, p / xp.where(pos, s, 1), 0.5)", "return p / s"),
    _m("jsd", "jsd", "missing_half", "KL(p||m) + KL(q||m) (the 1/2 forgotten)",
       "atol=math.inf)) * 0.5", "atol=math.inf))"),
    _m("jsd", "jsd", "m_not_halved", "m = p + q (the mixture not halved)", "m = (p + q) * 0.5", "m = (p + q)"),
    _m("jsd", "jsd", "bits", "in bits (divided by log 2), not nats",
       "atol=math.inf)) * 0.5", "atol=math.inf)) * 0.5 / math.log(2)"),
    _m("generator_losses", "g_loss_minimax", "names_swapped", "the minimax loss computes the non-saturating one",
       "return -F.softplus(lf).mean()", "return F.softplus(-lf).mean()"),
    _m("generator_losses", "g_loss_minimax", "unstable_log_1_minus_sigmoid",
       "log(1 - sigmoid(l)): -inf once sigmoid rounds to 1", "return -F.softplus(lf).mean()",
       "return (1 - F.sigmoid(lf)).log().mean()"),
    _m("generator_losses", "g_loss_nonsaturating", "sign_flip", "E log D(G(z)) (maximised instead of minimised)",
       "return F.softplus(-lf).mean()", "return -F.softplus(-lf).mean()"),
    _m("lsgan", "lsgan_d_loss", "missing_half", "(D(x) - b)^2 + (D(G(z)) - a)^2 without the 1/2",
       "return ((dr - b) ** 2).mean() * 0.5 + ((df - a) ** 2).mean() * 0.5",
       "return ((dr - b) ** 2).mean() + ((df - a) ** 2).mean()"),
    _m("lsgan", "lsgan_d_loss", "targets_swapped", "real scores pulled to a, fake to b",
       "((dr - b) ** 2).mean() * 0.5 + ((df - a) ** 2).mean() * 0.5",
       "((dr - a) ** 2).mean() * 0.5 + ((df - b) ** 2).mean() * 0.5"),
    _m("lsgan", "lsgan_g_loss", "data_term_ignored", "the data term of Eq. 3 left out",
       "loss = loss + ((dr - c) ** 2).mean() * 0.5", "loss = loss"),
    _m("hinge", "hinge_d_loss", "sign_flip_fake", "max(0, 1 - D(G(z))) on samples (the fake margin's sign)",
       "F.relu(1 + df)", "F.relu(1 - df)"),
    _m("hinge", "hinge_d_loss", "no_hinge", "1 - D(x) + 1 + D(G(z)) without max(0, .) (a WGAN loss plus 2)",
       "return F.relu(1 - dr).mean() + F.relu(1 + df).mean()", "return (1 - dr).mean() + (1 + df).mean()"),
    _m("hinge", "hinge_g_loss", "hinge_for_g", "max(0, 1 - D(G(z))) as the generator's loss",
       "return -df.mean()", "return F.relu(1 - df).mean()"),
    _m("gradient_penalty", "critic_grad_norms", "batch_wide_norm", "one norm over the whole batch, not per sample",
       "sq = (g * g).reshape(B, -1).sum(axis=1)", "sq = (g * g).sum() * (g * g).reshape(B, -1).sum(axis=1) ** 0"),
    _m("gradient_penalty", "critic_grad_norms", "squared_norm", "the squared norm (no square root)",
       "return (sq + _TINY).sqrt()", "return sq"),
    _m("gradient_penalty", "gradient_penalty", "one_eps", "one epsilon for the whole batch (eps[0])",
       "e = eps.reshape((B,) + (1,) * (xr.ndim - 1))", "e = eps[0]"),
    _m("gradient_penalty", "gradient_penalty", "no_minus_one", "lam E||grad||^2 (the -1 forgotten: pushes to 0, not 1)",
       "return ((norms - 1) ** 2).mean() * lam", "return (norms ** 2).mean() * lam"),
    _m("ssgan_critic_loss", "critic_loss", "unstable_log_1_minus_p", "log(1 - p(fake|x)) from the probability",
       "-log_p_real(lu, form).mean()", "-(1 - log_p_fake(lu, form).exp()).log().mean()"),
    _m("ssgan_critic_loss", "critic_loss", "weight_ignored", "the unsupervised weight w left out",
       "return l_sup + unsup_weight * l_unsup", "return l_sup + l_unsup"),
    _m("ssgan_critic_loss", "critic_loss", "fake_sign", "log p(real|G(z)) on samples instead of log p(fake|G(z))",
       "- log_p_fake(lf, form).mean()", "- log_p_real(lf, form).mean()"),
    # MMD
    _m("unbiased_mmd", "mmd2", "diagonal_kept", "the U-statistic's denominators with the diagonal kept (biased)",
       "t_xx = _off_diagonal_sum(Kxx) * (1.0 / (m * (m - 1)))", "t_xx = Kxx.sum() * (1.0 / (m * (m - 1)))"),
    _m("unbiased_mmd", "mmd2", "m_squared", "off-diagonal sums divided by m^2 (a biased normalisation)",
       "t_yy = _off_diagonal_sum(Kyy) * (1.0 / (n * (n - 1)))", "t_yy = _off_diagonal_sum(Kyy) * (1.0 / (n * n))"),
    _m("unbiased_mmd", "mmd2", "cross_factor", "the cross term without its factor 2",
       "t_xy = Kxy.sum() * (2.0 / (m * n))", "t_xy = Kxy.sum() * (1.0 / (m * n))"),
    # diffusion
    _m("q_sample", "q_sample", "variance_not_std", "x_t = sqrt(abar) x0 + (1 - abar) eps (the variance as the scale)",
       "sqrt_one_minus_alpha_bar = schedule.gather(\"sqrt_one_minus_alpha_bar\", t, x0)",
       "sqrt_one_minus_alpha_bar = schedule.gather(\"one_minus_alpha_bar\", t, x0)"),
    _m("q_sample", "q_sample", "alpha_not_alpha_bar", "sqrt(alpha_t) x0 (the one-step alpha, not the product)",
       "sqrt_alpha_bar = schedule.gather(\"sqrt_alpha_bar\", t, x0)",
       "sqrt_alpha_bar = schedule.gather(\"alpha\", t, x0) ** 0.5"),
    _m("q_sample", "q_sample", "off_by_one", "alpha_bar at t - 1 (0-based t)",
       "sqrt_alpha_bar = schedule.gather(\"sqrt_alpha_bar\", t, x0)",
       "sqrt_alpha_bar = schedule.alpha_bar[t - 1].reshape(-1, 1) ** 0.5"),
    _m("q_posterior", "q_posterior", "beta_not_beta_tilde", "variance beta_t instead of beta_tilde_t",
       "beta_tilde = schedule.gather(\"beta_tilde\", t, x0)", "beta_tilde = schedule.gather(\"beta\", t, x0)"),
    _m("q_posterior", "q_posterior", "coefficients_swapped", "the x0 and x_t coefficients swapped",
       "return coef_x0 * x0 + coef_xt * xt, beta_tilde", "return coef_xt * x0 + coef_x0 * xt, beta_tilde"),
    _m("ancestral_step", "p_sample_step", "noise_at_last_step", "adds sigma_1 z at t = 1 (Algorithm 2 says z = 0)",
       "if int(t) == 1:", "if int(t) == 0:"),
    _m("ancestral_step", "p_sample_step", "variance_not_std", "x_{t-1} = mu + sigma_t^2 z (the variance as the scale)",
       "return mean + variance**0.5 * z", "return mean + variance * z"),
    _m("ancestral_step", "p_sample_step", "sigma2_ignored", "always sigma_t^2 = beta_t, whatever sigma2 says",
       "variance, _ = p_variance(schedule, t, xt, sigma2)", "variance, _ = p_variance(schedule, t, xt, \"beta\")"),
    _m("cosine_schedule", "cosine_schedule", "no_offset", "f(t) = cos^2(t/T pi/2): the offset s forgotten",
       "f = xp.cos((t / T + s) / (1 + s) * (math.pi / 2)) ** 2", "f = xp.cos(t / T * (math.pi / 2)) ** 2"),
    _m("cosine_schedule", "cosine_schedule", "cos_not_squared", "f(t) = cos(...) (not squared)",
       "f = xp.cos((t / T + s) / (1 + s) * (math.pi / 2)) ** 2", "f = xp.cos((t / T + s) / (1 + s) * (math.pi / 2))"),
    _m("cosine_schedule", "cosine_schedule", "no_clip", "beta_t not clipped (beta_T = 1)",
       "beta = xp.minimum(1.0 - alpha_bar[1:] / alpha_bar[:-1], max_beta)",
       "beta = xp.minimum(1.0 - alpha_bar[1:] / alpha_bar[:-1], 1.0 - 1e-15)"),
    _m("score_eps", "score_from_eps", "variance_not_std", "s = -eps/(1 - alpha_bar_t) (the variance, not its root)",
       "schedule.gather(\"sqrt_one_minus_alpha_bar\", t, eps)", "schedule.gather(\"one_minus_alpha_bar\", t, eps)"),
    _m("score_eps", "score_from_eps", "sign_flip", "s = +eps/sqrt(1 - alpha_bar_t) (the score points away from the data)",
       "return eps * (-1.0 / sqrt_one_minus_alpha_bar)", "return eps * (1.0 / sqrt_one_minus_alpha_bar)"),
    _m("score_eps", "score_from_eps", "times_not_divided", "s = -sqrt(1 - alpha_bar_t) eps (the eps-from-score map)",
       "return eps * (-1.0 / sqrt_one_minus_alpha_bar)", "return eps * (-sqrt_one_minus_alpha_bar)"),
    # VAE and flows
    _m("elbo", "kl_standard_normal", "missing_half", "mu^2 + sigma^2 - 1 - log sigma^2 without the 1/2",
       "return 0.5 * (mu * mu + exp(log_var) - 1.0 - log_var)", "return mu * mu + exp(log_var) - 1.0 - log_var"),
    _m("elbo", "kl_standard_normal", "log_var_as_var", "log sigma^2 used where sigma^2 belongs",
       "exp(log_var) - 1.0", "log_var - 1.0"),
    _m("elbo", "log_weights", "log_q_sign", "+ log q(z|x) (the entropy's sign)",
       "+ log_p_z - log_q", "+ log_p_z + log_q"),
    _m("elbo", "log_weights", "no_prior", "the prior log p(z) left out", "+ log_p_z - log_q", "- log_q"),
    _m("flow_log_det", "forward", "exp_s", "log-det = sum exp(s) (the Jacobian's entries, not their logs)",
       "return y, s.sum(axis=1)", "return y, exp(s).sum(axis=1)"),
    _m("flow_log_det", "forward", "sign_flip", "log-det = -sum s (the inverse's log-det)",
       "return y, s.sum(axis=1)", "return y, -s.sum(axis=1)"),
    _m("flow_log_det", "forward", "shift_then_scale", "y = (x + t) exp(s): the inverse no longer undoes it",
       "y = x * exp(s) + t", "y = (x + t) * exp(s)"),
]


def mutations_of(name):
    """The catalogued mistakes of exercise ``name``."""
    exercise(name)
    return [m for m in MUTATIONS if m.exercise == name]


def apply_mutation(directory, mutation):
    """Rewrite the student's module of the mutation's exercise in ``directory`` as the reference with this mistake."""
    text = exercise_module_source(mutation.exercise, mutate=mutation.rewrite)
    (pathlib.Path(directory) / f"{mutation.exercise}.py").write_text(text)
