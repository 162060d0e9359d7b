"""Modules and layers: discovery, state dicts, Linear, batch norm, layer norm, activations,
dropout, embedding, initialisers; naive definitions written here; bad input."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import scratchgen as sg
from scratchgen import nn
from scratchgen.autodiff.tensor import backprop
from scratchgen.nn import functional as F


# ---------------------------------------------------------------------------
# Module machinery
# ---------------------------------------------------------------------------
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(3, 4, generator=0), nn.ReLU(), nn.Linear(4, 2, generator=1))
        self.bn = nn.BatchNorm1d(2)
        self.scale = nn.Parameter(np.ones(1, dtype=np.float32))

    def forward(self, x):
        return self.bn(self.body(x)) * self.scale


def test_nested_parameters_are_found_in_order_with_dotted_names():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    # a module's own parameters first, then its children's, as in PyTorch
    assert names == ["scale", "body.0.weight", "body.0.bias", "body.2.weight", "body.2.bias",
                     "bn.weight", "bn.bias"]
    assert len(net.parameters()) == 7
    sd = net.state_dict()
    assert {"bn.running_mean", "bn.running_var", "bn.num_batches_tracked"} <= set(sd)
    assert sd["body.0.weight"].shape == (4, 3)


def test_zero_grad_train_eval():
    net = Net()
    x = sg.tensor(np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32))
    net(x).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net.eval()
    assert not net.training and not net.bn.training and not net.body[0].training
    net.train()
    assert net.bn.training


def test_state_dict_roundtrip_gives_the_same_outputs():
    a, b = Net(), Net()
    for p in b.parameters():
        p.data[...] = 0.5
    x = sg.tensor(np.random.default_rng(1).standard_normal((6, 3)).astype(np.float32))
    a(x)  # update running statistics
    b.load_state_dict(a.state_dict())
    a.eval(), b.eval()
    np.testing.assert_array_equal(a(x).data, b(x).data)
    # state_dict returns copies
    sd = a.state_dict()
    sd["scale"][...] = 7
    assert a.scale.data[0] == 1


def test_load_state_dict_errors_name_layer_key_expected_and_received():
    net = Net()
    sd = net.state_dict()
    del sd["body.0.bias"]
    with pytest.raises(nn.StateDictError, match=r"Net.load_state_dict: keys do not match; missing \['body.0.bias'\]"):
        net.load_state_dict(sd)
    sd = net.state_dict()
    sd["body.2.weight"] = np.zeros((3, 4), dtype=np.float32)
    before = net.body[0].weight.data.copy()
    sd["body.0.weight"] = np.zeros((4, 3), dtype=np.float32)
    with pytest.raises(nn.StateDictError, match=r"key 'body.2.weight' has the wrong shape: expected \(2, 4\), received \(3, 4\)"):
        net.load_state_dict(sd)
    np.testing.assert_array_equal(net.body[0].weight.data, before)  # nothing written
    sd = net.state_dict()
    sd["extra"] = np.zeros(1)
    with pytest.raises(nn.StateDictError, match=r"unexpected \['extra'\]"):
        net.load_state_dict(sd)
    net.load_state_dict(sd, strict=False)  # allowed when not strict


def test_module_without_super_init_is_reported():
    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(np.zeros(2, dtype=np.float32))

    with pytest.raises(RuntimeError, match="call super"):
        Bad().register_buffer("b", np.zeros(1))


# ---------------------------------------------------------------------------
# Linear and activations
# ---------------------------------------------------------------------------
@given(st.integers(1, 5), st.integers(1, 6), st.integers(1, 6), st.integers(0, 2**16))
def test_linear_equals_xWt_plus_b_and_its_gradients(n, i, o, seed):
    r = np.random.default_rng(seed)
    x, W, b = r.standard_normal((n, i)), r.standard_normal((o, i)), r.standard_normal(o)
    y = F.linear(sg.tensor(x), sg.tensor(W), sg.tensor(b)).data
    expected = np.array([[sum(x[k, j] * W[m, j] for j in range(i)) + b[m] for m in range(o)] for k in range(n)])
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)
    sg.check_grads(lambda x, W, b: sg.tanh(F.linear(x, W, b)), x, W, b, order=2)


def test_linear_on_3d_input_gradients():
    r = np.random.default_rng(0)
    sg.check_grads(lambda x, W, b: sg.tanh(F.linear(x, W, b)), r.standard_normal((2, 3, 4)),
                   r.standard_normal((5, 4)), r.standard_normal(5), order=2)


def test_linear_bad_input():
    lin = nn.Linear(2, 256)
    with pytest.raises(ValueError, match=r"Linear\(in_features=2, out_features=256.*expected input of shape \(\.\.\., 2\), received \(256, 3\)"):
        lin(sg.tensor(np.zeros((256, 3), dtype=np.float32)))


@pytest.mark.parametrize("a", [0.0, 0.2, 1.0])
def test_leaky_relu_primitive_matches_definition_and_tie_rule(a):
    x = np.array([-2.0, -0.5, 0.0, 0.0, 0.3, 4.0])
    t = sg.tensor(x, requires_grad=True)
    y = F.leaky_relu(t, a)
    np.testing.assert_array_equal(y.data, np.where(x > 0, x, a * x))
    y.sum().backward()
    np.testing.assert_array_equal(t.grad.data[[0, 1, 4, 5]], [a, a, 1, 1])  # exact off the kink
    np.testing.assert_allclose(t.grad.data[[2, 3]], (1 + a) / 2, rtol=1e-15, atol=0)  # tie rule
    # the same gradients as the core composite max(x, a x)
    t2 = sg.tensor(x, requires_grad=True)
    sg.leaky_relu(t2, a).sum().backward() if a > 0 else sg.relu(t2).sum().backward()
    np.testing.assert_allclose(t.grad.data, t2.grad.data, rtol=1e-15, atol=0)


def test_activation_gradients_second_order():
    x = np.random.default_rng(0).standard_normal((3, 4)) + 0.1  # away from the kink
    for f in (lambda x: F.leaky_relu(x, 0.2) ** 2, lambda x: F.relu(x) ** 3, F.gelu, F.silu, F.sigmoid):
        sg.check_grads(f, x, order=2)


def test_activation_modules_values():
    x = np.linspace(-3, 3, 13)
    t = sg.tensor(x)
    np.testing.assert_allclose(nn.ReLU()(t).data, np.maximum(x, 0))
    np.testing.assert_allclose(nn.LeakyReLU(0.2)(t).data, np.where(x > 0, x, 0.2 * x))
    np.testing.assert_allclose(nn.Tanh()(t).data, np.tanh(x), rtol=1e-12)
    np.testing.assert_allclose(nn.Sigmoid()(t).data, 1 / (1 + np.exp(-x)), rtol=1e-12)
    np.testing.assert_allclose(nn.SiLU()(t).data, x / (1 + np.exp(-x)), rtol=1e-12)
    gelu_tanh = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    np.testing.assert_allclose(nn.GELU()(t).data, gelu_tanh, rtol=1e-12)
    # the tanh form stays within 1e-3 of x * Phi(x)
    phi = np.array([0.5 * (1 + math.erf(v / math.sqrt(2))) for v in x])
    np.testing.assert_allclose(nn.GELU()(t).data, x * phi, atol=1e-3)
    with pytest.raises(ValueError, match="LeakyReLU: negative_slope must be in \\[0, 1\\], received 2"):
        nn.LeakyReLU(2)


def test_gelu_silu_match_torch():
    torch = pytest.importorskip("torch")
    x = np.linspace(-5, 5, 41)
    np.testing.assert_allclose(F.gelu(sg.tensor(x)).data,
                               torch.nn.functional.gelu(torch.tensor(x), approximate="tanh").numpy(), rtol=1e-12,
                               atol=1e-15)
    np.testing.assert_allclose(F.silu(sg.tensor(x)).data, torch.nn.functional.silu(torch.tensor(x)).numpy(),
                               rtol=1e-12, atol=1e-15)


# ---------------------------------------------------------------------------
# Batch norm and layer norm against loops over channels / rows
# ---------------------------------------------------------------------------
def naive_batch_norm(x, gamma, beta, eps):
    """Per channel c: (x - mean) / sqrt(var + eps) * gamma_c + beta_c over all other axes."""
    y = np.empty_like(x)
    for c in range(x.shape[1]):
        v = x[:, c]
        mu = v.sum() / v.size
        var = ((v - mu) ** 2).sum() / v.size
        y[:, c] = (v - mu) / math.sqrt(var + eps) * gamma[c] + beta[c]
    return y


@given(st.sampled_from([(4, 3), (3, 2, 5), (2, 3, 4, 3)]), st.integers(0, 2**16))
def test_batch_norm_training_equals_naive_and_updates_running_stats(shape, seed):
    r = np.random.default_rng(seed)
    x = r.standard_normal(shape) * 3 + 1
    C = shape[1]
    bn = (nn.BatchNorm2d if len(shape) == 4 else nn.BatchNorm1d)(C, momentum=0.3, dtype="float64")
    bn.weight.data[...] = r.standard_normal(C)
    bn.bias.data[...] = r.standard_normal(C)
    y = bn(sg.tensor(x)).data
    np.testing.assert_allclose(y, naive_batch_norm(x, bn.weight.data, bn.bias.data, 1e-5), rtol=1e-10, atol=1e-10)
    axes = (0,) + tuple(range(2, len(shape)))
    n = x.size // C
    np.testing.assert_allclose(bn.running_mean, 0.3 * x.mean(axis=axes), rtol=1e-10)
    np.testing.assert_allclose(bn.running_var, 0.7 + 0.3 * x.var(axis=axes) * n / (n - 1), rtol=1e-10)
    assert int(bn.num_batches_tracked) == 1
    # eval: running statistics, no update
    bn.eval()
    rm = bn.running_mean.copy()
    ye = bn(sg.tensor(x)).data
    bshape = (1, C) + (1,) * (len(shape) - 2)
    expected = ((x - rm.reshape(bshape)) / np.sqrt(bn.running_var.reshape(bshape) + 1e-5)
                * bn.weight.data.reshape(bshape) + bn.bias.data.reshape(bshape))
    np.testing.assert_allclose(ye, expected, rtol=1e-10, atol=1e-10)
    np.testing.assert_array_equal(bn.running_mean, rm)


@pytest.mark.parametrize("shape,axes,pshape", [
    ((5, 3), (0,), (1, 3)), ((3, 2, 3, 2), (0, 2, 3), (1, 2, 1, 1)), ((2, 3, 4), (2,), (4,)), ((2, 3, 4), (1, 2), (3, 4)),
])
def test_normalize_gradients_first_and_second_order(shape, axes, pshape):
    r = np.random.default_rng(0)
    x, g, b = r.standard_normal(shape), r.standard_normal(pshape) + 1, r.standard_normal(pshape)
    f = lambda x, g, b: sg.tanh(F.normalize(x, g, b, axes, 1e-3))  # noqa: E731
    sg.check_grads(f, x, g, b, order=2)


def test_batch_norm_double_backward_gradient_penalty():
    # WGAN-GP style: d/dtheta || d D(x) / dx ||^2 through BatchNorm2d matches central differences
    r = np.random.default_rng(1)
    x = r.standard_normal((4, 2, 3, 3))

    def penalty(gamma, x):
        xs = sg.tensor(getattr(x, "data", x), requires_grad=True)
        out = sg.tanh(F.normalize(xs, sg.reshape(gamma, (1, 2, 1, 1)), None, (0, 2, 3), 1e-3)).sum()
        (gx,) = backprop([out], [sg.Tensor(np.ones(()))], inputs=[xs], create_graph=True)
        return (gx * gx).sum()

    sg.check_grads(penalty, r.standard_normal(2) + 1, x, order=1, argnums=(0,))


def test_batch_norm_matches_torch_including_backward():
    torch = pytest.importorskip("torch")
    r = np.random.default_rng(2)
    x = r.standard_normal((4, 3, 5, 5))
    bn = nn.BatchNorm2d(3, dtype="float64")
    tb = torch.nn.BatchNorm2d(3).double()
    xs, xt = sg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    u = r.standard_normal(x.shape)
    y, yt = bn(xs), tb(xt)
    (y * sg.tensor(u)).sum().backward()
    yt.backward(torch.from_numpy(u))
    np.testing.assert_allclose(y.data, yt.detach().numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(xs.grad.data, xt.grad.numpy(), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(bn.weight.grad.data, tb.weight.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(bn.running_var, tb.running_var.numpy(), rtol=1e-10)


@given(st.sampled_from([((4, 6), (6,)), ((2, 3, 4), (4,)), ((2, 3, 4), (3, 4))]), st.integers(0, 2**16))
def test_layer_norm_equals_naive(shapes, seed):
    shape, norm_shape = shapes
    r = np.random.default_rng(seed)
    x = r.standard_normal(shape) * 2 - 1
    ln = nn.LayerNorm(norm_shape, dtype="float64")
    ln.weight.data[...] = r.standard_normal(norm_shape)
    ln.bias.data[...] = r.standard_normal(norm_shape)
    y = ln(sg.tensor(x)).data
    k = len(norm_shape)
    rows = x.reshape((-1,) + norm_shape)
    expected = np.empty_like(rows)
    for i in range(rows.shape[0]):
        v = rows[i]
        mu = v.sum() / v.size
        var = ((v - mu) ** 2).sum() / v.size
        expected[i] = (v - mu) / math.sqrt(var + 1e-5) * ln.weight.data + ln.bias.data
    np.testing.assert_allclose(y, expected.reshape(shape), rtol=1e-10, atol=1e-10)
    assert k in (1, 2)


def test_norm_bad_input():
    with pytest.raises(ValueError, match=r"BatchNorm2d\(3.*expected input of shape \(B, 3, H, W\), received shape \(2, 3\)"):
        nn.BatchNorm2d(3)(sg.tensor(np.zeros((2, 3), dtype=np.float32)))
    with pytest.raises(ValueError, match=r"BatchNorm1d\(3.*expected 3 channels on axis 1, received 4"):
        nn.BatchNorm1d(3)(sg.tensor(np.zeros((2, 4), dtype=np.float32)))
    with pytest.raises(ValueError, match=r"LayerNorm\(\(5,\).*expected input of shape \(\.\.\., 5\), received \(2, 4\)"):
        nn.LayerNorm(5)(sg.tensor(np.zeros((2, 4), dtype=np.float32)))
    with pytest.raises(ValueError, match=r"batch_norm: training needs more than one value per channel"):
        nn.BatchNorm1d(3)(sg.tensor(np.zeros((1, 3), dtype=np.float32)))


def test_batch_norm_keeps_float32():
    bn = nn.BatchNorm2d(4)
    x = sg.tensor(np.random.default_rng(0).standard_normal((3, 4, 2, 2)).astype(np.float32), requires_grad=True)
    y = bn(x)
    y.sum().backward()
    assert y.dtype == np.float32 and x.grad.dtype == np.float32 and bn.running_var.dtype == np.float32
    bn.eval()
    assert bn(x).dtype == np.float32


# ---------------------------------------------------------------------------
# Dropout, Embedding, Flatten, initialisers
# ---------------------------------------------------------------------------
def test_dropout_inverted_scaling_and_eval_identity():
    x = np.ones((200, 50), dtype=np.float32)
    d = nn.Dropout(0.25, generator=0)
    y = d(sg.tensor(x)).data
    kept = y != 0
    np.testing.assert_allclose(y[kept], 1 / 0.75, rtol=1e-6)
    assert abs(kept.mean() - 0.75) < 0.02  # 10,000 Bernoulli(0.75): sd 0.0043
    assert y.dtype == np.float32
    d.eval()
    np.testing.assert_array_equal(d(sg.tensor(x)).data, x)
    with pytest.raises(ValueError, match=r"Dropout: p must be in \[0, 1\), received 1"):
        nn.Dropout(1)


def test_embedding_lookup_and_gradient():
    emb = nn.Embedding(5, 3, dtype="float64", generator=0)
    idx = np.array([[0, 2], [2, 4]])
    y = emb(idx)
    np.testing.assert_array_equal(y.data, emb.weight.data[idx])
    y.sum().backward()
    np.testing.assert_array_equal(emb.weight.grad.data[:, 0], [1, 0, 2, 0, 1])
    with pytest.raises(IndexError, match=r"Embedding\(5, 3\): indices must be in \[0, 5\), received range \[0, 5\]"):
        emb(np.array([0, 5]))


def test_flatten_unflatten():
    x = sg.tensor(np.arange(24.0).reshape(2, 3, 4))
    assert nn.Flatten()(x).shape == (2, 12)
    assert nn.Unflatten(1, (3, 4))(nn.Flatten()(x)).shape == (2, 3, 4)
    with pytest.raises(ValueError, match=r"Unflatten\(dim=1, sizes=\(5, 4\)\): expected axis 1 of size 20, received shape \(2, 12\)"):
        nn.Unflatten(1, (5, 4))(nn.Flatten()(x))


def test_initialisers_statistics_and_seeds():
    w = nn.Parameter(np.zeros((400, 300), dtype=np.float32))
    nn.init.normal_(w, 0.0, 0.02, generator=0)
    assert abs(float(w.data.std()) - 0.02) < 0.0005 and abs(float(w.data.mean())) < 0.0005
    a = w.data.copy()
    nn.init.normal_(w, 0.0, 0.02, generator=0)
    np.testing.assert_array_equal(w.data, a)  # same seed, same weights
    nn.init.xavier_uniform_(w, generator=1)
    b = math.sqrt(6 / 700)
    assert float(np.abs(w.data).max()) <= b and float(np.abs(w.data).max()) > 0.99 * b
    nn.init.kaiming_normal_(w, nonlinearity="relu", generator=2)
    assert abs(float(w.data.std()) - math.sqrt(2 / 300)) < 0.02 * math.sqrt(2 / 300)
    q = nn.Parameter(np.zeros((30, 50), dtype=np.float64))
    nn.init.orthogonal_(q, generator=3)
    np.testing.assert_allclose(q.data @ q.data.T, np.eye(30), atol=1e-12)
    q = nn.Parameter(np.zeros((50, 2, 3, 3), dtype=np.float64))
    nn.init.orthogonal_(q, gain=2.0, generator=3)
    m = q.data.reshape(50, -1)
    np.testing.assert_allclose(m.T @ m, 4 * np.eye(18), atol=1e-12)


def test_sequential_rejects_non_modules():
    with pytest.raises(TypeError, match="Sequential: argument 1 must be a Module, received function"):
        nn.Sequential(nn.ReLU(), lambda x: x)
