"""VDM's identities (Kingma et al. 2021), each against a closed form written out here or scipy.

Gaussian data x ~ N(mu, s^2 I) has the optimal denoiser in closed form: with z = alpha x + sigma eps,
x_hat = mu + alpha s^2 / (alpha^2 s^2 + sigma^2) (z - alpha mu), and E||x - x_hat||^2 = D s^2 / (1 + SNR s^2).
Then L_inf = 1/2 int_{SNR_min}^{SNR_max} D s^2 / (1 + v s^2) dv = D/2 log((1 + SNR_max s^2) / (1 + SNR_min s^2)),
whatever the schedule between its endpoints.
"""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scratchgen.autodiff as ad
from scratchgen.autodiff import Tensor
from scratchgen.diffusion import vdm

MU, S2 = 0.3, 0.5


def eps_star(z, gamma_t):
    """The optimal denoiser for x ~ N(MU, S2), written out in Tensor operations (differentiable in gamma_t and z)."""
    z = z if isinstance(z, Tensor) else Tensor(z)
    g = ad.reshape(gamma_t, (gamma_t.shape[0],) + (1,) * (z.ndim - 1))
    a2, s2 = ad.sigmoid(-g), ad.sigmoid(g)  # alpha^2, sigma^2
    a, sg = ad.sqrt(a2), ad.sqrt(s2)
    x_hat = MU + a * S2 / (a2 * S2 + s2) * (z - a * MU)
    return (z - a * x_hat) / sg


def closed_form_l_inf(g0, g1, D=1, s2=S2):
    return 0.5 * D * math.log((1 + math.exp(-g0) * s2) / (1 + math.exp(-g1) * s2))


def schedules(seed=0):
    """fixed, linear with other endpoints, and two learned shapes, in float64."""
    return [vdm.make_gamma("fixed", dtype=np.float64), vdm.make_gamma("linear", -9.0, 3.0, dtype=np.float64),
            vdm.make_gamma("learned", dtype=np.float64, generator=seed),
            vdm.make_gamma("learned", -7.0, 6.0, n_features=8, dtype=np.float64, generator=seed + 1)]


def hermite_pairs(n=3):
    """Gauss-Hermite nodes for (u, eps) ~ N(0, I_2): exact for the quadratic integrand of eps_star."""
    x, w = np.polynomial.hermite_e.hermegauss(n)
    w = w / w.sum()
    U, E = np.meshgrid(x, x, indexing="ij")
    return U.ravel(), E.ravel(), np.outer(w, w).ravel()


def legendre_times(pieces=64, n=8):
    """Composite Gauss-Legendre nodes and weights on [0, 1]."""
    x, w = np.polynomial.legendre.leggauss(n)
    edges = np.linspace(0, 1, pieces + 1)
    t = ((edges[:-1, None] + edges[1:, None]) / 2 + (edges[1:, None] - edges[:-1, None]) / 2 * x).ravel()
    return t, ((edges[1:, None] - edges[:-1, None]) / 2 * w).ravel()


def l_inf_by_quadrature(gamma, pieces=64):
    """E_{x, eps} int_0^1 of the library's continuous loss, by quadrature (a Tensor, differentiable in gamma)."""
    t, wt = legendre_times(pieces)
    u, e, wue = hermite_pairs()
    T, U = np.repeat(t, u.size), np.tile(u, t.size)
    E, W = np.tile(e, t.size), np.repeat(wt, u.size) * np.tile(wue, t.size)
    x = (MU + math.sqrt(S2) * U)[:, None]
    L = vdm.continuous_loss(eps_star, x, gamma(T), gamma.derivative(T), E[:, None])
    return ad.sum(L * Tensor(W))


# ---------------------------------------------------------------------------
# alpha, sigma, and the schedules
# ---------------------------------------------------------------------------
@given(st.floats(-30, 30))
def test_alpha_sigma_are_variance_preserving_with_snr_exp_minus_gamma(g):
    a, s = vdm.alpha_sigma(np.array([g]))
    a, s = float(a.item()), float(s.item())
    assert abs(a * a + s * s - 1) < 1e-12
    assert abs(math.log(a * a) - math.log(s * s) - (-g)) < 1e-9  # log SNR = -gamma
    assert abs(float(vdm.snr(np.array([g])).item()) - math.exp(-g)) < 1e-12 * math.exp(-g)


@settings(max_examples=15, derandomize=True)
@given(st.integers(0, 10_000), st.floats(-5, 5), st.floats(-20, 0), st.floats(0.1, 30))
def test_the_learned_gamma_is_monotone_for_any_parameters(seed, scale, g0, gap):
    gamma = vdm.make_gamma("learned", g0, g0 + gap, n_features=16, dtype=np.float64, generator=seed)
    r = np.random.default_rng(seed)
    for p in gamma.shape_parameters():  # any parameters: wide random values
        p.data[...] = scale * r.standard_normal(p.data.shape)
    t = np.linspace(0, 1, 401)
    y, dy = gamma(t).data, gamma.derivative(t).data
    assert abs(y[0] - g0) < 1e-9 and abs(y[-1] - (g0 + gap)) < 1e-9
    assert np.all(np.diff(y) > 0) and np.all(dy > 0)


def test_explicit_derivative_equals_autodiff_and_central_differences():
    gamma = vdm.make_gamma("learned", dtype=np.float64, generator=3)
    t = np.linspace(0.05, 0.95, 7)
    explicit = gamma.derivative(t)
    auto = vdm.gamma_prime_autodiff(lambda u: gamma(u), t)
    h = 1e-6
    central = (gamma(t + h).data - gamma(t - h).data) / (2 * h)
    assert np.max(np.abs(explicit.data - auto.data)) < 1e-10
    assert np.max(np.abs(explicit.data - central)) < 1e-6
    # and their gradients with respect to the parameters (the autodiff one differentiates a recorded backward pass)
    w = np.linspace(1, 2, t.size)
    params = gamma.parameters()
    g_explicit = ad.grad(lambda *ps: ad.sum(gamma.derivative(t) * Tensor(w)), argnums=tuple(range(len(params))))(*params)
    g_auto = ad.grad(lambda *ps: ad.sum(vdm.gamma_prime_autodiff(lambda u: gamma(u), t) * Tensor(w)),
                     argnums=tuple(range(len(params))))(*params)
    for a, b in zip(g_explicit, g_auto):
        assert np.max(np.abs(a.data - b.data)) < 1e-9


def test_gamma_and_its_derivative_pass_second_order_gradient_checks():
    gamma = vdm.make_gamma("learned", -10.0, 4.0, n_features=4, dtype=np.float64, generator=5)

    def f(rho_2, b_2, rho_3, t):  # the shape's parameters swapped for the checker's inputs
        gamma.rho_2, gamma.b_2, gamma.rho_3 = rho_2, b_2, rho_3
        return ad.concatenate([gamma(t), gamma.derivative(t)])

    r = np.random.default_rng(0)
    ad.check_grads(f, r.standard_normal(4), r.standard_normal(4), r.standard_normal(4), np.array([0.2, 0.7]), order=2)


# ---------------------------------------------------------------------------
# The continuous-time loss: invariance to the shape, change of variables, Monte Carlo
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("k", range(4))
def test_l_inf_of_the_optimal_denoiser_is_the_closed_form_whatever_the_shape(k):
    gamma = schedules()[k]
    g0, g1 = (float(v.item()) for v in gamma.endpoints())
    value = float(l_inf_by_quadrature(gamma).item())
    expected = closed_form_l_inf(g0, g1)
    assert abs(value - expected) < 1e-8 * expected


def test_the_change_of_variables_to_the_snr():
    from scipy.integrate import quad

    gamma = schedules()[2]
    v_max, v_min = math.exp(13.3), math.exp(-5.0)
    # 1/2 int_{SNR_min}^{SNR_max} s^2/(1 + v s^2) dv, in log v for the quadrature
    in_v, _ = quad(lambda lv: 0.5 * S2 / (1 + math.exp(lv) * S2) * math.exp(lv), math.log(v_min), math.log(v_max),
                   epsabs=1e-12, epsrel=1e-12)
    in_t = float(l_inf_by_quadrature(gamma).item())
    assert abs(in_v - in_t) < 1e-8 * in_v


def test_the_shape_gets_no_gradient_from_l_inf_but_the_endpoints_do():
    gamma = schedules()[2]
    params = gamma.parameters()
    grads = ad.grad(lambda *ps: l_inf_by_quadrature(gamma), argnums=tuple(range(len(params))))(*params)
    by_name = dict(zip([id(p) for p in params], grads))
    for p in gamma.shape_parameters():
        assert np.max(np.abs(by_name[id(p)].data)) < 1e-8
    g0, g1 = -13.3, 5.0
    d_g0 = 0.5 * -math.exp(-g0) * S2 / (1 + math.exp(-g0) * S2)  # dL/dgamma_0
    d_g1 = 0.5 * math.exp(-g1) * S2 / (1 + math.exp(-g1) * S2)  # dL/dgamma_1
    rho = float(gamma.rho.item())
    assert abs(float(by_name[id(gamma.g0)].item()) - (d_g0 + d_g1)) < 1e-8  # gamma_1 = g0 + softplus(rho)
    assert abs(float(by_name[id(gamma.rho)].item()) - d_g1 / (1 + math.exp(-rho))) < 1e-8


@pytest.mark.parametrize("kind", ["fixed", "learned"])
def test_the_monte_carlo_loss_with_low_discrepancy_times_matches_the_closed_form(kind):
    gamma = vdm.make_gamma(kind, dtype=np.float64, generator=1)
    B, D = 40_000, 2
    r = np.random.default_rng(7)
    x = MU + math.sqrt(S2) * r.standard_normal((B, D))
    t = vdm.sample_times(B, 3, low_discrepancy=True)
    L = vdm.continuous_loss(eps_star, x, gamma(t), gamma.derivative(t), r.standard_normal((B, D))).data
    se = L.std() / math.sqrt(B)
    assert abs(L.mean() - closed_form_l_inf(-13.3, 5.0, D)) < 4 * se


# ---------------------------------------------------------------------------
# The discrete-time loss and its limit
# ---------------------------------------------------------------------------
def discrete_by_enumeration(gamma, T, x, e, w):
    """sum over i of 1/T times the library's L_T at t = i/T, for the points (x, e) with weights w (B,)."""
    i = np.arange(1, T + 1)
    t, s = np.repeat(i / T, x.size), np.repeat((i - 1) / T, x.size)
    xx, ee, ww = np.tile(x, T)[:, None], np.tile(e, T)[:, None], np.tile(w, T)
    L = vdm.discrete_loss(eps_star, xx, gamma(t), gamma(s), ee, T).data
    return float((L * ww).sum() / T)


def test_the_expected_discrete_loss_is_the_closed_form_riemann_sum_and_falls_to_l_inf():
    gamma = schedules()[2]
    u, e, w = hermite_pairs()
    x = MU + math.sqrt(S2) * u
    l_inf = closed_form_l_inf(-13.3, 5.0)
    values = []
    for T in (2, 4, 8, 64):
        g = gamma(np.arange(T + 1) / T).data
        snr = np.exp(-g)
        # E L_T = T/2 * 1/T sum_i (e^{g_i - g_{i-1}} - 1) SNR_i s^2/(1 + SNR_i s^2) = 1/2 sum_i (SNR_{i-1} - SNR_i) MSE_i
        riemann = 0.5 * np.sum((snr[:-1] - snr[1:]) * S2 / (1 + snr[1:] * S2))
        value = discrete_by_enumeration(gamma, T, x, e, w)
        assert abs(value - riemann) < 1e-9 * riemann
        values.append(value)
    assert values[0] > values[1] > values[2] > values[3] > l_inf  # more steps, lower loss (Kingma Sec. 4.1)


def test_the_discrete_loss_of_one_draw_tends_to_the_continuous_one():
    gamma = schedules()[3]
    x, e = np.array([0.9]), np.array([-1.3])
    t, wt = legendre_times(pieces=256)
    l_inf = float(np.sum(vdm.continuous_loss(eps_star, np.repeat(x, t.size)[:, None], gamma(t), gamma.derivative(t),
                                             np.repeat(e, t.size)[:, None]).data * wt))
    errors = [abs(discrete_by_enumeration(gamma, T, x, e, np.ones(1)) - l_inf) for T in (10, 100, 1000)]
    assert errors[1] < errors[0] / 5 and errors[2] < errors[1] / 5 and errors[2] < 1e-2 * l_inf


# ---------------------------------------------------------------------------
# Prior and reconstruction terms, times, bits
# ---------------------------------------------------------------------------
@given(st.floats(-5, 10), st.lists(st.integers(0, 16), min_size=3, max_size=3))
def test_the_prior_loss_is_the_kl_of_two_gaussians(g1, ks):
    x = np.array([ks], dtype=np.float64) / 8 - 1
    a2, s2 = 1 / (1 + math.exp(g1)), 1 / (1 + math.exp(-g1))
    # KL(N(m, s2) || N(0, 1)) = log(1/sqrt(s2)) + (s2 + m^2)/2 - 1/2 per dimension, m = alpha_1 x
    kl = sum(-0.5 * math.log(s2) + (s2 + a2 * xi * xi) / 2 - 0.5 for xi in x[0])
    value = float(vdm.prior_loss(np.float64(g1), x).item())
    assert abs(value - kl) < 1e-10 * max(1.0, kl)


@settings(max_examples=10, derandomize=True)
@given(st.floats(-10, 1), st.integers(0, 1000))
def test_the_reconstruction_loss_against_scipy(g0, seed):
    from scipy.special import logsumexp
    from scipy.stats import norm

    r = np.random.default_rng(seed)
    k = r.integers(0, 17, size=(2, 5))
    x, e0 = k / 8 - 1, r.standard_normal((2, 5))
    a0, s0 = math.sqrt(1 / (1 + math.exp(g0))), math.sqrt(1 / (1 + math.exp(-g0)))
    z0 = a0 * x + s0 * e0
    v = np.arange(17) / 8 - 1
    log_q = norm.logpdf(z0[..., None], loc=a0 * v, scale=s0)  # q(z_0 | v_k), (2, 5, 17)
    log_p = log_q - logsumexp(log_q, axis=-1, keepdims=True)
    expected = -np.take_along_axis(log_p, k[..., None], axis=-1)[..., 0].sum(axis=1)
    value = vdm.reconstruction_loss(np.float64(g0), x, e0, 17).data
    assert np.max(np.abs(value - expected)) < 1e-8 * max(1.0, np.max(np.abs(expected)))


def test_data_off_the_grid_is_refused_by_name():
    with pytest.raises(ValueError, match="x must lie on the 17 levels"):
        vdm.reconstruction_loss(-5.0, np.array([[0.01]]), np.zeros((1, 1)), 17)


def test_times_are_in_the_unit_interval_and_spread_evenly():
    B = 64
    t = vdm.sample_times(B, 0, low_discrepancy=True)
    assert t.min() > 0 and t.max() <= 1
    gaps = np.diff(np.sort(t))
    assert np.max(np.abs(gaps - 1 / B)) < 2.0 / vdm.TIME_RESOLUTION  # one uniform draw, shifted by 1/B
    t = vdm.sample_times(B, 0, low_discrepancy=False, T=10)
    assert set(np.round(t * 10).astype(int)) <= set(range(1, 11)) and np.all(np.abs(t * 10 - np.round(t * 10)) < 1e-12)


def test_bits_per_dim():
    assert abs(vdm.bits_per_dim(64 * math.log(17), 64) - math.log2(17)) < 1e-12


# ---------------------------------------------------------------------------
# The variance gradient of the shape
# ---------------------------------------------------------------------------
def test_the_variance_gradient_is_the_gradient_of_the_mean_squared_loss():
    B = 32
    r = np.random.default_rng(0)
    x = (r.integers(0, 17, size=(B, 3)) / 8 - 1).astype(np.float64)
    t, eps, eps_0 = vdm.sample_times(B, 1, True), r.standard_normal((B, 3)), r.standard_normal((B, 3))
    grads = {}
    for cut in (True, False):
        gamma = vdm.make_gamma("learned", dtype=np.float64, generator=2)
        terms = vdm.vlb_terms(eps_star, gamma, x, 0, t=t, eps=eps, eps_0=eps_0, cut_shape=cut)
        if cut:
            ad.mean(terms.total()).backward()
            vdm.variance_gradient(terms, terms.diffusion)
            grads[cut] = [p.grad.data.copy() for p in gamma.parameters()]
        else:
            ends = gamma.endpoint_parameters()
            g_ends = ad.grad(lambda *ps: ad.mean(terms.total()), argnums=(0, 1))(*ends)
            shape = gamma.shape_parameters()
            terms = vdm.vlb_terms(eps_star, gamma, x, 0, t=t, eps=eps, eps_0=eps_0)
            g_shape = ad.grad(lambda *ps: ad.mean(terms.diffusion ** 2), argnums=tuple(range(len(shape))))(*shape)
            by_id = {id(p): g.data for p, g in zip(ends + shape, list(g_ends) + list(g_shape))}
            grads[cut] = [by_id[id(p)] for p in gamma.parameters()]
    for a, b in zip(grads[True], grads[False]):
        assert np.max(np.abs(a - b)) < 1e-9 * max(1.0, np.max(np.abs(b)))


def test_bad_schedules_are_refused_by_name():
    with pytest.raises(ValueError, match="kind must be one of"):
        vdm.make_gamma("cosine")
    with pytest.raises(ValueError, match="gamma_1 must be"):
        vdm.FixedLinearGamma(2.0, 1.0)
    with pytest.raises(ValueError, match="t must be"):
        vdm.make_gamma("fixed")(np.array([1.5]))
    with pytest.raises(ValueError, match="derivative must be"):
        vdm.vlb_terms(eps_star, vdm.make_gamma("fixed"), np.zeros((1, 2)), derivative="numeric")


def test_samples_lie_on_the_levels():
    gamma = vdm.make_gamma("fixed", dtype=np.float64)
    x = vdm.sample(eps_star, gamma, 50, (2,), T=20, seed=0)
    assert x.shape == (50, 2)
    assert np.all(np.abs(x * 8 - np.round(x * 8)) < 1e-9) and np.all(np.abs(x) <= 1)


def test_the_bound_with_the_autodiff_derivative_equals_the_explicit_one():
    r = np.random.default_rng(4)
    x = (r.integers(0, 17, size=(8, 3)) / 8 - 1).astype(np.float64)
    out = {}
    for how in ("explicit", "autodiff"):
        gamma = vdm.make_gamma("learned", dtype=np.float64, generator=6)
        terms = vdm.vlb_terms(eps_star, gamma, x, 5, derivative=how, cut_shape=True)
        ad.mean(terms.total()).backward()
        vdm.variance_gradient(terms, terms.diffusion)
        out[how] = [terms.total().data] + [p.grad.data for p in gamma.parameters()]
    for a, b in zip(out["explicit"], out["autodiff"]):
        assert np.max(np.abs(a - b)) < 1e-9 * max(1.0, np.max(np.abs(a)))
