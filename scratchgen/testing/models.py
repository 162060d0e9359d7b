r"""Reusable checks of the VAE and flow exercises: the analytic KL of the ELBO (Kingma & Welling 2014,
Appendix B), the one-sample ELBO estimate :math:`\log w = \log p(x|z) + \log p(z) - \log q(z|x)` (their Eq. 6),
and the affine coupling's log-determinant (Dinh et al. 2017, Eq. 6) by central differences of its Jacobian.
"""
from __future__ import annotations

import math
import types

import numpy as np  # test helpers build NumPy inputs; they are not math code
from hypothesis import strategies as st

from .properties import assert_close, expect, for_all, values
from .strategies import float_arrays

__all__ = ["check_kl_standard_normal", "check_kl_standard_normal_zero", "check_elbo_log_weights",
           "check_coupling_log_det", "check_coupling_invertible"]


def _kl_by_quadrature(mu, log_var, n=4001):
    r""":math:`\int q\log(q/p)\,dz` on a grid of :math:`\mu \pm 12\sigma` (trapezoid rule), for scalars."""
    sd = math.exp(0.5 * log_var)
    z = np.linspace(mu - 12 * sd, mu + 12 * sd, n)
    log_q = -0.5 * (math.log(2 * math.pi) + log_var + (z - mu) ** 2 / sd ** 2)
    log_p = -0.5 * (math.log(2 * math.pi) + z ** 2)
    return float(np.trapezoid(np.exp(log_q) * (log_q - log_p), z))


def check_kl_standard_normal(fn):
    r""":math:`\mathrm{KL}(\mathcal N(\mu, \sigma^2)\,\Vert\,\mathcal N(0, 1))` against numerical integration of
    :math:`\int q \log(q/p)`, elementwise (one value per latent dimension)."""
    from ..autodiff import Tensor

    @for_all(float_arrays((3,), -3, 3), float_arrays((3,), -4, 2))
    def kl_at(mu, log_var):
        want = [_kl_by_quadrature(m, lv) for m, lv in zip(mu, log_var)]
        assert_close(fn(Tensor(mu), Tensor(log_var)), want, what="KL(q || p)",
                     where=lambda i: f"at mu = {mu[i]:.4g}, log sigma^2 = {log_var[i]:.4g}",
                     identity="the integral of q log(q/p) (numerical quadrature)", atol=1e-7, rtol=1e-6)
    kl_at()


def check_kl_standard_normal_zero(fn):
    """KL(q || p) = 0 exactly when q = p (mu = 0, log sigma^2 = 0), and the shape is elementwise (B, L)."""
    from ..autodiff import Tensor

    assert_close(fn(Tensor(np.zeros((2, 3))), Tensor(np.zeros((2, 3)))), np.zeros((2, 3)), what="KL(N(0,1) || N(0,1))",
                 identity="0 (per latent dimension)", atol=1e-15)


def _tiny_vae(seed):
    from ..vae.models import GaussianDecoder, GaussianEncoder
    from ..vae.vae import VAE

    enc, dec = GaussianEncoder(3, 2, hidden=(4,), generator=seed), GaussianDecoder(2, 3, hidden=(4,), generator=seed + 1)
    model = VAE(enc, dec).double()
    dec.log_var.data[...] = np.random.default_rng(seed).uniform(-1, 1, 3)
    return model


def _log_normal(x, mu, log_var):
    return -0.5 * (math.log(2 * math.pi) + log_var + (x - mu) ** 2 * np.exp(-log_var))


def check_elbo_log_weights(log_weights):
    r"""``VAE.log_weights(self, x, eps)``: :math:`\log w_s = \log p_\theta(x|z_s) + \log p(z_s) - \log q_\phi(z_s|x)`
    with :math:`z_s = \mu + \sigma\varepsilon_s`, each term summed over its dimensions: shape (S, B)."""
    from ..autodiff import Tensor

    @for_all(st.integers(0, 2 ** 16), st.integers(1, 3), st.integers(1, 3))
    def log_weights_at(seed, S, B):
        model = _tiny_vae(seed % 1000)
        g = np.random.default_rng(seed)
        x, eps = g.standard_normal((B, 3)), g.standard_normal((S, B, 2))
        mu, log_var = (values(a) for a in model.encoder(Tensor(x)))
        z = mu + np.exp(0.5 * log_var) * eps  # (S, B, L)
        dec_mu = values(model.decoder.net(Tensor(z)))
        log_px = _log_normal(x, dec_mu, values(model.decoder.log_var)).sum(-1)
        want = log_px + _log_normal(z, 0.0, 0.0).sum(-1) - _log_normal(z, mu, log_var).sum(-1)
        got = types.MethodType(log_weights, model)(Tensor(x), Tensor(eps))
        assert_close(got, want, what="log w_s", where=lambda i: f"of draw s = {i // B}, example b = {i % B} (S = {S}, B = {B})",
                     identity="log p(x|z) + log p(z) - log q(z|x)", atol=1e-9)
    log_weights_at()


def _coupling(D, parity, seed):
    from ..flows.layers import AffineCoupling

    layer = AffineCoupling(D, parity, hidden=6, n_hidden=1, generator=seed).double()
    g = np.random.default_rng(seed)
    for p in layer.parameters():  # the last layer starts at zero (the identity): give it weights
        p.data[...] = 0.7 * g.standard_normal(p.data.shape)
    return layer


def _jacobian_log_det(f, x, h=1e-6):
    """log|det J| of f: R^D -> R^D at x (D,) by central differences, one column per coordinate."""
    D = x.shape[0]
    J = np.empty((D, D))
    for j in range(D):
        e = np.zeros(D)
        e[j] = h
        J[:, j] = (f(x + e) - f(x - e)) / (2 * h)
    return np.linalg.slogdet(J)[1]


def check_coupling_log_det(forward):
    r"""``AffineCoupling.forward(self, x) -> (y, log_det)``: log_det is :math:`\log|\det\partial y/\partial x|` of the
    y it returns, by central differences of the Jacobian, per row; the kept coordinates (b = 1) pass unchanged."""
    from ..autodiff import Tensor

    @for_all(st.integers(2, 4), st.integers(0, 1), st.integers(0, 2 ** 16))
    def log_det_at(D, parity, seed):
        layer = _coupling(D, parity, seed % 1000)
        f = types.MethodType(forward, layer)
        x = np.random.default_rng(seed).standard_normal((2, D))
        out = f(Tensor(x))
        expect(isinstance(out, tuple) and len(out) == 2, "your forward must return (y, log_det)")
        y, log_det = values(out[0]), values(out[1])
        b = values(layer.b).astype(bool)
        assert_close(y[:, b], x[:, b], what="y on the kept coordinates", identity="x (b = 1 passes unchanged)",
                     atol=1e-12)
        want = [_jacobian_log_det(lambda r: values(f(Tensor(r[None]))[0])[0], x[i]) for i in range(2)]
        assert_close(log_det, want, what="log|det dy/dx|", where=lambda i: f"of row {i} (D = {D}, parity = {parity})",
                     identity="log|det J| (central differences of your y)", atol=1e-6, rtol=1e-6)
    log_det_at()


def check_coupling_invertible(forward):
    r"""The library's ``inverse`` (Eq. 8) undoes the forward pass: :math:`x = (y - t)\odot e^{-s}` off the mask."""
    from ..autodiff import Tensor

    for D, parity in ((2, 0), (3, 1), (4, 0)):
        layer = _coupling(D, parity, 7)
        x = np.random.default_rng(D).standard_normal((3, D))
        y, _ = types.MethodType(forward, layer)(Tensor(x))
        assert_close(layer.inverse(y), x, what=f"inverse(forward(x)) (D = {D}, parity = {parity})",
                     identity="x: y = x exp(s) + t off the mask", atol=1e-9)
