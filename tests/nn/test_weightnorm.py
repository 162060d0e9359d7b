"""Weight normalisation (Salimans & Kingma 2016): the reparameterisation, its gradients against
HIPS autograd and the paper's Eq. 3, and the module plumbing."""
import autograd
import autograd.numpy as anp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import scratchgen as sg
from scratchgen import nn
from scratchgen.autodiff.tensor import backprop


def _linear(n_in, n_out, seed):
    return nn.Linear(n_in, n_out, dtype="float64", generator=seed)


@given(st.integers(1, 7), st.integers(1, 7), st.integers(1, 4), st.integers(0, 2**16))
def test_layer_is_unchanged_at_init_and_each_row_of_w_has_length_g(n_in, n_out, batch, seed):
    r = np.random.default_rng(seed)
    lin = _linear(n_in, n_out, seed)
    x = sg.tensor(r.standard_normal((batch, n_in)))
    before = lin(x).numpy().copy()
    nn.weight_norm(lin)
    np.testing.assert_allclose(lin(x).numpy(), before, rtol=1e-12, atol=1e-12)
    assert lin.weight_g.shape == (n_out, 1) and lin.weight_v.shape == (n_out, n_in)
    lin.weight_v.data[...] = r.standard_normal((n_out, n_in))  # any direction...
    lin.weight_g.data[...] = r.uniform(0.1, 3.0, (n_out, 1))  # ...and any length
    lin(x)
    np.testing.assert_allclose(np.linalg.norm(lin.weight.data, axis=1), lin.weight_g.data[:, 0], rtol=1e-12)


@given(st.integers(1, 6), st.integers(1, 6), st.integers(0, 2**16))
def test_gradients_match_autograd(n_in, n_out, seed):
    r = np.random.default_rng(seed)
    x, v, g, b = r.standard_normal((3, n_in)), r.standard_normal((n_out, n_in)), r.uniform(0.2, 2, (n_out, 1)), r.standard_normal(n_out)

    def oracle(g, v):  # w = g v / ||v|| per row, written independently in autograd.numpy
        w = v * (g / anp.sqrt(anp.sum(v * v, axis=1, keepdims=True)))
        return anp.sum(anp.tanh(anp.dot(x, w.T) + b) ** 2)

    lin = nn.weight_norm(_linear(n_in, n_out, 0))
    lin.weight_g.data[...], lin.weight_v.data[...], lin.bias.data[...] = g, v, b
    (sg.tanh(lin(sg.tensor(x))) ** 2).sum().backward()
    dg, dv = autograd.grad(oracle, (0, 1))(g, v)
    np.testing.assert_allclose(lin.weight_g.grad.numpy(), dg, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(lin.weight_v.grad.numpy(), dv, rtol=1e-9, atol=1e-12)
    # Salimans & Kingma Eq. 3: the gradient in v is orthogonal to v (row by row)
    row_dots = np.sum(lin.weight_v.grad.numpy() * v, axis=1)
    assert np.max(np.abs(row_dots)) < 1e-9 * (1 + np.max(np.abs(dv)) * np.max(np.abs(v)))


def test_second_order_gradients_through_the_layer_pass_check_grads():
    # the path a gradient penalty takes: d/d(g, v) of a function of d(layer output)/dx
    r = np.random.default_rng(0)
    x = r.standard_normal((2, 4))
    lin = nn.weight_norm(_linear(4, 3, 0))

    def f(g, v):
        lin.weight_g, lin.weight_v = g, v  # the hook recomputes weight = g v / ||v|| from these
        x_ = sg.tensor(x, requires_grad=True)
        y = sg.tanh(lin(x_)).sum()
        (dx,) = backprop([y], [sg.tensor(np.ones(()))], inputs=[x_], create_graph=True)  # on the tape
        return (dx * dx).sum()

    sg.check_grads(f, r.uniform(0.5, 2, (3, 1)), r.standard_normal((3, 4)), order=2)


def test_conv_layers_normalise_per_output_channel():
    conv = nn.weight_norm(nn.Conv2d(2, 5, 3, dtype="float64", generator=0))
    assert conv.weight_g.shape == (5, 1, 1, 1)
    conv.weight_g.data[...] = 2.0
    conv(sg.tensor(np.zeros((1, 2, 4, 4))))
    np.testing.assert_allclose(np.linalg.norm(conv.weight.data.reshape(5, -1), axis=1), 2.0, rtol=1e-12)
    tconv = nn.weight_norm(nn.ConvTranspose2d(2, 5, 3, dtype="float64", generator=0))  # weight (in, out, k, k)
    assert tconv.weight_g.shape == (1, 5, 1, 1)


def test_state_dict_round_trip_and_remove():
    a = nn.weight_norm(_linear(4, 3, 0))
    b = nn.weight_norm(_linear(4, 3, 1))
    a.weight_g.data[...] = 0.5
    b.load_state_dict(a.state_dict())
    x = sg.tensor(np.ones((2, 4)))
    np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())
    y = a(x).numpy().copy()
    nn.remove_weight_norm(a)
    assert sorted(n for n, _ in a.named_parameters()) == ["bias", "weight"]
    np.testing.assert_allclose(a(x).numpy(), y, rtol=1e-12)


def test_bad_input_is_a_clear_error():
    with pytest.raises(TypeError, match="weight_norm: ReLU has no parameter 'weight'"):
        nn.weight_norm(nn.ReLU())
    with pytest.raises(ValueError, match="must have >= 2 dimensions, received"):
        nn.weight_norm(_linear(2, 2, 0), name="bias")
    with pytest.raises(ValueError, match=r"dim must be in \[0, 2\), received 2"):
        nn.weight_norm(_linear(2, 2, 0), dim=2)
    with pytest.raises(ValueError, match="has no weight norm on 'weight'"):
        nn.remove_weight_norm(_linear(2, 2, 0))
    with pytest.raises(ValueError, match="Linear.weight is already weight-normalised"):
        nn.weight_norm(nn.weight_norm(_linear(2, 2, 0)))
    zero_row = _linear(3, 2, 0)
    zero_row.weight.data[1] = 0.0
    with pytest.raises(ValueError, match="1 output unit\\(s\\) with an all-zero weight vector"):
        nn.weight_norm(zero_row)
