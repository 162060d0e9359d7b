r"""Reusable checks of the GAN and MMD exercises: D*, V(G, D*) = 2 JSD - log 4, the generator losses, LSGAN,
hinge, the WGAN-GP per-sample penalty, the K+1 critic, the unbiased MMD^2. Each closed form is written out
here in NumPy, independently of the code under test.
"""
from __future__ import annotations

import math

import numpy as np  # test helpers build NumPy inputs; they are not math code
from hypothesis import strategies as st

from .properties import assert_close, expect, for_all, values
from .strategies import distribution_pairs, float_arrays, logits

__all__ = ["check_optimal_discriminator", "check_optimal_discriminator_maximises",
           "check_optimal_discriminator_no_mass", "check_jsd", "check_gan_value_at_optimum", "check_jsd_bounds",
           "check_generator_losses", "check_generator_gradients", "check_lsgan_losses", "check_hinge_losses",
           "check_grad_norms_per_sample", "check_gradient_penalty", "check_critic_loss",
           "check_critic_loss_stable", "check_unbiased_mmd", "check_biased_mmd", "check_mmd_unbiasedness"]

_LOG4 = math.log(4.0)


def _at_pq(p, q):
    return lambda i: f"at p = {p.ravel()[i]:.4g}, q = {q.ravel()[i]:.4g}"


def check_optimal_discriminator(fn):
    r"""D*(x) = p(x)/(p(x) + q(x)) ([GAN] Proposition 1) on pairs of distributions with full support."""
    @for_all(distribution_pairs(allow_zero=False))
    def d_star_at(pq):
        p, q = pq
        assert_close(fn(p, q), p / (p + q), what="D*(x)", where=_at_pq(p, q), identity="the optimum is p/(p+q)")
    d_star_at()


def check_optimal_discriminator_maximises(fn):
    r"""D* maximises :math:`p\log D + q\log(1 - D)` pointwise: no nudge of D by +-0.01 does better."""
    @for_all(distribution_pairs(allow_zero=False), st.sampled_from([-0.01, 0.01]))
    def d_star_is_a_maximum(pq, delta):
        p, q = pq
        d = values(fn(p, q))
        expect(d.shape == p.shape, f"your D* has shape {d.shape}; p has shape {p.shape}")
        v = lambda D: p * np.log(D) + q * np.log1p(-D)
        with np.errstate(all="ignore"):
            nudged = np.clip(d + delta, 1e-12, 1 - 1e-12)
            better = v(nudged) > v(d) + 1e-12
            better |= ~np.isfinite(v(d))
        if better.any():
            i = int(np.flatnonzero(better)[0])
            raise AssertionError(f"your D*(x) at p = {p[i]:.4g}, q = {q[i]:.4g} is {d[i]:.6g}, but D = {nudged[i]:.6g} "
                                 f"gives a larger p log D + q log(1 - D); the optimum is p/(p+q) = {p[i] / (p[i] + q[i]):.6g}")
    d_star_is_a_maximum()


def check_optimal_discriminator_no_mass(fn):
    """Where p = q = 0 any D is optimal and D* is 1/2 (finite, no 0/0); p = 0 < q gives 0; the shape is kept."""
    p = np.array([[0.0, 0.0, 0.5], [1.0, 0.0, 0.25]])
    q = np.array([[0.0, 1.0, 0.5], [0.0, 0.0, 0.75]])
    with np.errstate(all="ignore"):
        got = fn(p, q)
    assert_close(got, [[0.5, 0.0, 0.5], [1.0, 0.5, 0.25]], what="D*(x)", where=_at_pq(p, q),
                 identity="the optimum p/(p+q) (1/2 where p = q = 0)")


def _jsd(p, q):
    with np.errstate(all="ignore"):
        m = (p + q) / 2
        a = np.where(p > 0, p * np.log(p / m), 0.0).sum(axis=-1)
        b = np.where(q > 0, q * np.log(q / m), 0.0).sum(axis=-1)
    return 0.5 * a + 0.5 * b


def check_jsd(fn):
    r"""JSD(p||q) = 1/2 KL(p||m) + 1/2 KL(q||m), m = (p + q)/2, in nats, zeros in the support included."""
    @for_all(distribution_pairs())
    def jsd_at(pq):
        p, q = pq
        assert_close(fn(p, q), _jsd(p, q), what="JSD(p||q)", where=lambda i: f"at p = {np.round(p, 4)}, q = {np.round(q, 4)}",
                     identity="1/2 KL(p||m) + 1/2 KL(q||m) with m = (p+q)/2", atol=1e-10)
    jsd_at()


def check_gan_value_at_optimum(fn):
    r"""[GAN] Theorem 1: :math:`V(D^*, G) = 2\,\mathrm{JSD}(p\|q) - \log 4`, with V and D* from the library."""
    from ..divergences import gan_value, optimal_discriminator

    @for_all(distribution_pairs())
    def value_at_optimum(pq):
        p, q = pq
        v = float(gan_value(p, q, d=optimal_discriminator(p, q)))
        j = float(values(fn(p, q)))
        assert_close(2 * j - _LOG4, v, what="2 JSD(p||q) - log 4",
                     where=lambda i: f"at p = {np.round(p, 4)}, q = {np.round(q, 4)}",
                     identity="V(D*, G) (Theorem 1)", atol=1e-10)
    value_at_optimum()


def check_jsd_bounds(fn):
    """JSD(p||p) = 0; JSD = log 2 for disjoint supports; symmetric."""
    p, q = np.array([0.5, 0.5, 0.0, 0.0]), np.array([0.0, 0.0, 0.3, 0.7])
    with np.errstate(all="ignore"):
        assert_close(fn(p, p), 0.0, what="JSD(p||p)", identity="JSD(p||p)", atol=1e-12)
        assert_close(fn(p, q), math.log(2), what="JSD of disjoint supports", identity="log 2", atol=1e-12)
        assert_close(fn(q, p), values(fn(p, q)), what="JSD(q||p)", identity="JSD(p||q) (symmetry)", atol=1e-12)


def _softplus(x):
    return np.logaddexp(0.0, x)


def check_generator_losses(g_loss_minimax, g_loss_nonsaturating):
    r"""Minimax :math:`\mathbb E\log(1 - D) = -\mathbb E\,\mathrm{softplus}(l)`; non-saturating
    :math:`-\mathbb E\log D = \mathbb E\,\mathrm{softplus}(-l)`; finite for logits of magnitude 1e4."""
    from ..autodiff import Tensor

    @for_all(logits(extreme=True))
    def losses_at(l):
        with np.errstate(all="ignore"):
            mm, ns = g_loss_minimax(Tensor(l)), g_loss_nonsaturating(Tensor(l))
        where = lambda i: f"at logits {np.round(l, 4).tolist()}"
        assert_close(mm, -_softplus(l).mean(), what="minimax loss E log(1 - D(G(z)))", where=where,
                     identity="-mean softplus(l)", rtol=1e-9)
        assert_close(ns, _softplus(-l).mean(), what="non-saturating loss -E log D(G(z))", where=where,
                     identity="mean softplus(-l)", rtol=1e-9)
    losses_at()


def check_generator_gradients(g_loss_minimax, g_loss_nonsaturating):
    r"""Gradients with respect to the logits: minimax :math:`-\sigma(l)/n` (saturates as D -> 0),
    non-saturating :math:`-(1-\sigma(l))/n` (tends to -1/n)."""
    from ..autodiff import Tensor, grad

    @for_all(logits(bound=25.0))
    def gradients_at(l):
        n, s = l.size, 1 / (1 + np.exp(-l))
        where = lambda i: f"at logit l = {l.ravel()[i]:.4g} (D = {s.ravel()[i]:.3g})"
        assert_close(grad(lambda t: g_loss_minimax(t))(Tensor(l)), -s / n, what="d(minimax loss)/dl", where=where,
                     identity="-sigma(l)/n", atol=1e-12)
        assert_close(grad(lambda t: g_loss_nonsaturating(t))(Tensor(l)), -(1 - s) / n,
                     what="d(non-saturating loss)/dl", where=where, identity="-(1 - sigma(l))/n", atol=1e-12)
    gradients_at()


def check_lsgan_losses(lsgan_d_loss, lsgan_g_loss):
    r"""[LSGAN] Eq. 2: :math:`\tfrac12\mathbb E(D(x) - b)^2 + \tfrac12\mathbb E(D(G(z)) - a)^2` and
    :math:`\tfrac12\mathbb E(D(G(z)) - c)^2`, with Eq. 3's data term when ``real_scores`` is given."""
    from ..autodiff import Tensor

    @for_all(float_arrays(st.integers(1, 5), -3, 3), float_arrays(st.integers(1, 5), -3, 3),
             st.sampled_from([(0.0, 1.0, 1.0), (-1.0, 1.0, 0.0), (0.5, 2.0, -1.0)]))
    def lsgan_at(r, f, abc):
        a, b, c = abc
        at = lambda i: f"at a, b, c = {a, b, c}, real scores {np.round(r, 3).tolist()}, fake {np.round(f, 3).tolist()}"
        assert_close(lsgan_d_loss(Tensor(r), Tensor(f), a=a, b=b),
                     0.5 * ((r - b) ** 2).mean() + 0.5 * ((f - a) ** 2).mean(), what="LSGAN D loss", where=at,
                     identity="1/2 E(D(x) - b)^2 + 1/2 E(D(G(z)) - a)^2")
        assert_close(lsgan_g_loss(Tensor(f), c=c), 0.5 * ((f - c) ** 2).mean(), what="LSGAN G loss", where=at,
                     identity="1/2 E(D(G(z)) - c)^2")
        assert_close(lsgan_g_loss(Tensor(f), c=c, real_scores=Tensor(r)),
                     0.5 * ((f - c) ** 2).mean() + 0.5 * ((r - c) ** 2).mean(), what="LSGAN G loss with the data term",
                     where=at, identity="1/2 E(D(G(z)) - c)^2 + 1/2 E(D(x) - c)^2")
    lsgan_at()


def check_hinge_losses(hinge_d_loss, hinge_g_loss):
    r"""Hinge: :math:`\mathbb E\max(0, 1 - D(x)) + \mathbb E\max(0, 1 + D(G(z)))` and :math:`-\mathbb E D(G(z))`."""
    from ..autodiff import Tensor

    @for_all(float_arrays(st.integers(1, 5), -3, 3), float_arrays(st.integers(1, 5), -3, 3))
    def hinge_at(r, f):
        at = lambda i: f"at real scores {np.round(r, 3).tolist()}, fake scores {np.round(f, 3).tolist()}"
        assert_close(hinge_d_loss(Tensor(r), Tensor(f)), np.maximum(0, 1 - r).mean() + np.maximum(0, 1 + f).mean(),
                     what="hinge D loss", where=at, identity="E max(0, 1 - D(x)) + E max(0, 1 + D(G(z)))")
        assert_close(hinge_g_loss(Tensor(f)), -f.mean(), what="hinge G loss", where=at, identity="-E D(G(z))")
    hinge_at()


def _quadratic_critic(a):
    r"""D(x) = 1/2 sum a x^2 per sample: its input gradient is a x (written out by the checks)."""
    from ..autodiff import Tensor

    A = Tensor(a)
    return lambda x: (A * x * x * 0.5).reshape(x.shape[0], -1).sum(axis=1)


@st.composite
def _image_batch(draw):
    B, C, S = draw(st.integers(2, 4)), draw(st.integers(1, 2)), draw(st.integers(1, 3))
    return draw(float_arrays((B, C, S, S), -2, 2)), draw(float_arrays((C, S, S), 0.2, 2))


def check_grad_norms_per_sample(critic_grad_norms):
    r"""The norm is per sample, over every non-batch axis: :math:`\|\nabla_x D(x_b)\|_2 = \|a \odot x_b\|_2` for
    the critic :math:`D(x) = \tfrac12\sum a x^2` on image batches (B, C, H, W)."""
    @for_all(_image_batch())
    def norms_at(xa):
        x, a = xa
        want = np.sqrt(((a * x) ** 2).reshape(x.shape[0], -1).sum(axis=1))
        assert_close(critic_grad_norms(_quadratic_critic(a), x), want, what="gradient norm",
                     where=lambda i: f"of sample b = {i} (batch of shape {x.shape})",
                     identity="the per-sample norm ||grad D(x_b)||_2 over all non-batch axes", atol=1e-9)
    norms_at()


def check_gradient_penalty(gradient_penalty):
    r"""[WGAN-GP] Eq. 3: :math:`\lambda\,\mathbb E_b(\|\nabla D(\hat x_b)\|_2 - 1)^2`, :math:`\hat x_b =
    \epsilon_b x_b + (1 - \epsilon_b)\tilde x_b`, one :math:`\epsilon` per sample."""
    @for_all(_image_batch(), st.integers(0, 2 ** 16), st.sampled_from([1.0, 10.0]))
    def penalty_at(xa, seed, lam):
        x, a = xa
        g = np.random.default_rng(seed)
        fake, eps = g.standard_normal(x.shape), g.random(x.shape[0])
        e = eps.reshape(-1, 1, 1, 1)
        x_hat = e * x + (1 - e) * fake
        norms = np.sqrt(((a * x_hat) ** 2).reshape(x.shape[0], -1).sum(axis=1))
        assert_close(gradient_penalty(_quadratic_critic(a), x, fake, lam=lam, eps=eps), lam * ((norms - 1) ** 2).mean(),
                     what="gradient penalty", where=lambda i: f"at lam = {lam}, eps = {np.round(eps, 3).tolist()}",
                     identity="lam mean_b (||grad D(x_hat_b)|| - 1)^2", atol=1e-9)
    penalty_at()


def _lse(a, axis=-1):
    m = a.max(axis=axis, keepdims=True)
    return (m + np.log(np.exp(a - m).sum(axis=axis, keepdims=True))).squeeze(axis)


def _critic_loss_reference(ll, y, lu, lf, conditional, w):
    K = ll.shape[1] - 1
    rows = np.arange(len(y))
    if conditional:  # log p(y | x, y < K+1)
        sup = ll[rows, y] - _lse(ll[:, :K])
    else:
        sup = ll[rows, y] - _lse(ll)
    log_real_u = _lse(lu[:, :K]) - _lse(lu)  # log(1 - p(fake|x)) = log sum_{k<K} e^l_k - log sum_all
    log_fake_g = lf[:, K] - _lse(lf)
    return -sup.mean() + w * (-log_real_u.mean() - log_fake_g.mean())


def check_critic_loss(critic_loss):
    r"""The K+1 critic ([Improved] Sec. 5): :math:`-\mathbb E\log p(y|x) - w\,\mathbb E_{data}\log(1 - p(K{+}1|x))
    - w\,\mathbb E_z\log p(K{+}1|G(z))`, joint or conditional, in the "K+1" and the "K" (fake logit 0) forms."""
    from ..autodiff import Tensor

    @for_all(st.integers(2, 4), st.integers(0, 2 ** 16), st.sampled_from(["joint", "conditional"]),
             st.sampled_from(["K+1", "K"]), st.sampled_from([1.0, 0.5]))
    def critic_loss_at(K, seed, supervised, form, w):
        g = np.random.default_rng(seed)
        cols = K + 1 if form == "K+1" else K
        ll, lu, lf = (3 * g.standard_normal((n, cols)) for n in (3, 4, 2))
        y = g.integers(0, K, 3)
        pad = (lambda a: a) if form == "K+1" else (lambda a: np.concatenate([a, np.zeros((len(a), 1))], axis=1))
        want = _critic_loss_reference(pad(ll), y, pad(lu), pad(lf), supervised == "conditional", w)
        got = critic_loss(Tensor(ll), y, Tensor(lu), Tensor(lf), form=form, supervised=supervised, unsup_weight=w)
        assert_close(got, want, what="critic loss", where=lambda i: f"(K = {K}, form {form!r}, {supervised}, w = {w})",
                     identity="-E log p(y|x) - w E log(1 - p(fake|x)) - w E log p(fake|G(z))", atol=1e-9)
    critic_loss_at()


def check_critic_loss_stable(critic_loss):
    """Finite where p(fake|x) rounds to 1 on data (fake logit 1e4): log(1 - p) is written as log D = log sigma(...)."""
    from ..autodiff import Tensor

    ll = np.array([[2.0, 0.0, -1.0]])
    lu = np.array([[0.0, 1.0, 1e4], [0.5, 0.0, -1e4]])
    lf = np.array([[0.0, 0.0, -1e4]])
    want = _critic_loss_reference(ll, np.array([0]), lu, lf, False, 1.0)
    with np.errstate(all="ignore"):
        got = critic_loss(Tensor(ll), np.array([0]), Tensor(lu), Tensor(lf))
    assert_close(got, want, what="critic loss at a fake logit of 1e4 on data", identity="the closed form", rtol=1e-9)


def _rbf(x, y, sigma):
    sq = ((x[:, None, :] - y[None, :, :]) ** 2).sum(axis=2)
    return np.exp(-sq / (2 * sigma ** 2))


def _mmd_pair():
    return st.tuples(st.integers(2, 6), st.integers(2, 6), st.integers(1, 3), st.integers(0, 2 ** 16),
                     st.sampled_from([0.5, 1.0, 2.0]))


def check_unbiased_mmd(mmd2):
    r"""[Gretton] Eq. 3: :math:`\frac{1}{m(m-1)}\sum_{i\ne j}k(x_i,x_j) + \frac{1}{n(n-1)}\sum_{i\ne j}k(y_i,y_j)
    - \frac{2}{mn}\sum_{ij}k(x_i,y_j)` with the RBF kernel :math:`k = \exp(-\|x-y\|^2/2\sigma^2)`."""
    from ..autodiff import Tensor

    @for_all(_mmd_pair())
    def unbiased_mmd_at(case):
        m, n, d, seed, sigma = case
        g = np.random.default_rng(seed)
        x, y = g.standard_normal((m, d)), g.standard_normal((n, d)) + 0.5
        Kxx, Kyy, Kxy = _rbf(x, x, sigma), _rbf(y, y, sigma), _rbf(x, y, sigma)
        want = ((Kxx.sum() - np.trace(Kxx)) / (m * (m - 1)) + (Kyy.sum() - np.trace(Kyy)) / (n * (n - 1))
                - 2 * Kxy.mean())
        assert_close(mmd2(Tensor(x), Tensor(y), sigma=sigma), want, what="unbiased MMD^2",
                     where=lambda i: f"at m = {m}, n = {n}, d = {d}, sigma = {sigma}",
                     identity="the U-statistic (sums over i != j, divided by m(m-1) and n(n-1))", atol=1e-10)
    unbiased_mmd_at()


def check_biased_mmd(mmd2):
    r"""[Gretton] Eq. 5 (``unbiased=False``): every pair kept, divided by :math:`m^2` and :math:`n^2`."""
    from ..autodiff import Tensor

    @for_all(_mmd_pair())
    def biased_mmd_at(case):
        m, n, d, seed, sigma = case
        g = np.random.default_rng(seed)
        x, y = g.standard_normal((m, d)), g.standard_normal((n, d))
        want = _rbf(x, x, sigma).mean() + _rbf(y, y, sigma).mean() - 2 * _rbf(x, y, sigma).mean()
        assert_close(mmd2(Tensor(x), Tensor(y), unbiased=False, sigma=sigma), want, what="biased MMD^2",
                     where=lambda i: f"at m = {m}, n = {n}, d = {d}, sigma = {sigma}",
                     identity="the V-statistic (all pairs, divided by m^2 and n^2)", atol=1e-10)
    biased_mmd_at()


def check_mmd_unbiasedness(mmd2):
    r"""Unbiased under permutations: over every split of a pooled sample of 5 points into m = 2 and n = 3, the
    U-statistic averages exactly 0 (each term averages k over distinct pairs of the pool), where an estimate that
    keeps the diagonal :math:`k(x_i, x_i)` or divides by :math:`m^2` does not."""
    from ..autodiff import Tensor

    z = np.array([[-1.3], [-0.2], [0.4], [1.1], [2.5]])
    est = []
    for i in range(5):
        for j in range(i + 1, 5):
            rest = [k for k in range(5) if k not in (i, j)]
            est.append(float(values(mmd2(Tensor(z[[i, j]]), Tensor(z[rest]), sigma=1.0))))
    assert_close(np.mean(est), 0.0, what="MMD^2 averaged over the 10 splits of a pooled sample (m = 2, n = 3)",
                 identity="an unbiased estimate averages", atol=1e-12)
