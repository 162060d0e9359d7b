"""Module dtypes: to/double/float, load_state_dict's dtype rule, and the layers' refusal of mixed
float dtypes (every layer with parameters), with references computed by hand in NumPy."""
import copy

import numpy as np
import pytest

import scratchgen as sg
from scratchgen import nn, optim

# Numbers that float32 cannot hold: 1 + 2^-30 rounds to 1 (float32 spacing at 1 is 2^-23), 1/3 and 0.1 round too.
FINE = 1.0 + 2.0**-30


def _linear_reference(x, W, b):
    """y_{nj} = sum_i x_{ni} W_{ji} + b_j, summed in float64 by hand."""
    y = np.zeros((x.shape[0], W.shape[0]))
    for n in range(x.shape[0]):
        for j in range(W.shape[0]):
            y[n, j] = sum(x[n, i] * W[j, i] for i in range(W.shape[1])) + b[j]
    return y


def _conv_reference(x, w, b):
    """y[o, r, c] = sum_{k, p, q} x[k, r + p, c + q] w[o, k, p, q] + b[o]: one image, stride 1, no padding."""
    O, K, kh, kw = w.shape
    H, W = x.shape[1] - kh + 1, x.shape[2] - kw + 1
    y = np.zeros((O, H, W))
    for o in range(O):
        for r in range(H):
            for c in range(W):
                y[o, r, c] = sum(x[k, r + p, c + q] * w[o, k, p, q]
                                 for k in range(K) for p in range(kh) for q in range(kw)) + b[o]
    return y


# ---------------------------------------------------------------------------
# to(dtype), double(), float()
# ---------------------------------------------------------------------------
def test_double_and_float_cast_parameters_and_float_buffers_in_place_and_return_self():
    net = nn.Sequential(nn.Linear(3, 2, generator=0), nn.BatchNorm1d(2))
    params = net.parameters()
    assert net.double() is net
    assert [p.dtype for p in net.parameters()] == [np.float64] * 4
    assert all(a is b for a, b in zip(params, net.parameters()))  # the same Parameter objects
    assert net[1].running_mean.dtype == np.float64 and net[1].running_var.dtype == np.float64
    assert net[1].num_batches_tracked.dtype == np.int64  # integer buffers are kept
    assert net.float() is net
    assert [p.dtype for p in net.parameters()] == [np.float32] * 4
    assert net[1].running_var.dtype == np.float32
    assert net.to("float64") is net and net[0].weight.dtype == np.float64
    assert net.to(np.float32) is net and net[0].weight.dtype == np.float32


def test_to_casts_existing_gradients():
    lin = nn.Linear(2, 1, generator=0)
    lin(sg.tensor(np.ones((1, 2), dtype=np.float32))).sum().backward()
    lin.double()
    assert lin.weight.grad.dtype == np.float64
    np.testing.assert_array_equal(lin.weight.grad.numpy(), [[1.0, 1.0]])  # dy/dW = x


def test_to_rejects_a_dtype_that_is_not_float():
    lin = nn.Linear(2, 1, generator=0)
    with pytest.raises(TypeError, match=r"Linear.to: dtype must be a float dtype \(float32, float64\), received int64"):
        lin.to("int64")
    with pytest.raises(TypeError, match=r"Linear.to: dtype must be a float dtype, received 'not a dtype'"):
        lin.to("not a dtype")
    assert lin.weight.dtype == np.float32


def test_double_linear_equals_a_float64_reference_by_hand():
    lin = nn.Linear(3, 2, generator=0).double()
    W = np.array([[0.1, 0.2, 0.3], [1 / 3, -1 / 7, FINE]])
    b = np.array([0.7, -1 / 9])
    lin.load_state_dict({"weight": W, "bias": b})
    x = np.array([[1.0, 2.0, 3.0], [1 / 11, -0.3, 2.5]])
    y = lin(sg.tensor(x))
    assert y.dtype == np.float64
    expected = _linear_reference(x, W, b)
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-15, atol=0)
    # the same layer in float32 misses the reference by float32 rounding: the test can tell the two apart
    lin32 = nn.Linear(3, 2, generator=0)
    lin32.load_state_dict({"weight": W, "bias": b})
    assert np.abs(lin32(sg.tensor(x.astype(np.float32))).numpy() - expected).max() > 1e-9


def test_double_conv2d_equals_a_float64_reference_by_hand():
    conv = nn.Conv2d(2, 1, 2, generator=0).double()
    w = np.array([[[[0.1, 0.2], [0.3, 1 / 3]], [[-1 / 7, FINE], [0.0, 2 / 3]]]])  # (1, 2, 2, 2)
    b = np.array([0.7])
    conv.load_state_dict({"weight": w, "bias": b})
    x = (np.arange(18, dtype=np.float64) / 7).reshape(1, 2, 3, 3)
    y = conv(sg.tensor(x))
    assert y.dtype == np.float64 and y.shape == (1, 1, 2, 2)
    expected = _conv_reference(x[0], w, b)
    np.testing.assert_allclose(y.numpy()[0], expected, rtol=1e-15, atol=0)
    conv32 = nn.Conv2d(2, 1, 2, generator=0)
    conv32.load_state_dict({"weight": w, "bias": b})
    assert np.abs(conv32(sg.tensor(x.astype(np.float32))).numpy()[0] - expected).max() > 1e-9


def test_double_gives_float64_gradients_and_a_second_order_check():
    lin = nn.Linear(3, 2, generator=0).double()
    x = sg.tensor(np.array([[0.5, -1.0, 2.0]]), requires_grad=True)
    (lin(x) ** 2).sum().backward()
    assert lin.weight.grad.dtype == np.float64 and x.grad.dtype == np.float64
    sg.check_grads(lambda a: sg.tanh(lin(a)).sum(), x.detach(), order=2)


def test_an_optimiser_created_after_double_keeps_float64_state_and_steps():
    lin = nn.Linear(2, 1, generator=0).double()
    lin.load_state_dict({"weight": np.array([[FINE, -0.1]]), "bias": np.array([1 / 3])})
    opt = optim.Adam(lin.parameters(), lr=0.1)
    x = np.array([[2.0, 0.5]])
    lin(sg.tensor(x)).sum().backward()  # g_W = x, g_b = 1
    opt.step()
    state = opt.state[id(lin.weight)]
    assert state["exp_avg"].dtype == np.float64 and state["exp_avg_sq"].dtype == np.float64
    # Adam's first step: m_hat = g and v_hat = g^2, so theta_1 = theta_0 - lr g / (|g| + eps)
    eps = 1e-8
    np.testing.assert_allclose(lin.weight.numpy(), [[FINE - 0.1 * 2.0 / (2.0 + eps), -0.1 - 0.1 * 0.5 / (0.5 + eps)]],
                               rtol=1e-13)
    np.testing.assert_allclose(lin.bias.numpy(), [1 / 3 - 0.1 * 1.0 / (1.0 + eps)], rtol=1e-13)
    assert lin.weight.dtype == np.float64


# ---------------------------------------------------------------------------
# load_state_dict and dtypes
# ---------------------------------------------------------------------------
def test_load_state_dict_after_double_keeps_float64_weights_bit_exact():
    lin = nn.Linear(2, 1, generator=0).double()
    lin.load_state_dict({"weight": np.array([[FINE, 0.1]]), "bias": np.array([1 / 3])})
    assert lin.weight.dtype == np.float64
    assert lin.weight.data[0, 0] == 1.0 + 2.0**-30 and lin.weight.data[0, 1] == 0.1
    assert lin.bias.data[0] == 1 / 3


def test_load_state_dict_rounds_float64_into_float32_by_default():
    lin = nn.Linear(2, 1, generator=0)
    weight = lin.weight
    lin.load_state_dict({"weight": np.array([[FINE, 0.1]]), "bias": np.array([1 / 3])})
    assert lin.weight is weight and lin.weight.dtype == np.float32
    # round to nearest float32: 1 + 2^-30 -> 1; 0.1 -> 13421773 * 2^-27; 1/3 -> 11184811 * 2^-25
    assert lin.weight.data[0, 0] == 1.0
    assert lin.weight.data[0, 1] == 13421773 * 2.0**-27
    assert lin.bias.data[0] == 11184811 * 2.0**-25


def test_load_state_dict_keep_dtype_takes_the_saved_dtype():
    bn = nn.BatchNorm1d(2)
    weight = bn.weight
    sd = {"weight": np.array([FINE, 2.0]), "bias": np.array([0.0, 0.1]),
          "running_mean": np.array([1 / 3, 0.0]), "running_var": np.array([1.0, 1.0]),
          "num_batches_tracked": np.array(5, dtype=np.int64)}
    bn.load_state_dict(sd, keep_dtype=True)
    assert bn.weight is weight and bn.weight.dtype == np.float64
    assert bn.weight.data[0] == 1.0 + 2.0**-30
    assert bn.running_mean.dtype == np.float64 and bn.running_mean[0] == 1 / 3
    assert bn.num_batches_tracked.dtype == np.int64 and int(bn.num_batches_tracked) == 5
    sd["weight"][0] = 7.0
    assert bn.weight.data[0] == 1.0 + 2.0**-30  # a copy, not the caller's array


def test_load_state_dict_keep_dtype_refuses_an_integer_parameter_and_writes_nothing():
    lin = nn.Linear(2, 1, generator=0)
    before = lin.weight.data.copy()
    sd = {"weight": np.array([[1, 2]], dtype=np.int64), "bias": np.array([0.5])}
    with pytest.raises(nn.StateDictError, match=r"Linear.load_state_dict: key 'weight' is a parameter and needs a "
                                                r"float array with keep_dtype=True, received dtype int64"):
        lin.load_state_dict(sd, keep_dtype=True)
    np.testing.assert_array_equal(lin.weight.data, before)
    assert lin.weight.dtype == np.float32


# ---------------------------------------------------------------------------
# Layers refuse a float input of another dtype than their parameters
# ---------------------------------------------------------------------------
LAYERS = {
    "Linear": (lambda: nn.Linear(2, 4, generator=0), (3, 2)),
    "Conv2d": (lambda: nn.Conv2d(2, 3, 3, generator=0), (1, 2, 4, 4)),
    "ConvTranspose2d": (lambda: nn.ConvTranspose2d(2, 3, 3, generator=0), (1, 2, 4, 4)),
    "BatchNorm1d": (lambda: nn.BatchNorm1d(2), (3, 2)),
    "BatchNorm2d": (lambda: nn.BatchNorm2d(2), (3, 2, 2, 2)),
    "BatchNorm1d running statistics only": (lambda: nn.BatchNorm1d(2, affine=False), (3, 2)),
    "LayerNorm": (lambda: nn.LayerNorm(2), (3, 2)),
    "MinibatchDiscrimination": (lambda: nn.MinibatchDiscrimination(2, 3, generator=0), (3, 2)),
    "spectral_norm(Linear)": (lambda: nn.spectral_norm(nn.Linear(2, 4, generator=0), generator=0), (3, 2)),
    "spectral_norm(Conv2d)": (lambda: nn.spectral_norm(nn.Conv2d(2, 3, 3, generator=0), generator=0), (1, 2, 4, 4)),
    "weight_norm(Linear)": (lambda: nn.weight_norm(nn.Linear(2, 4, generator=0)), (3, 2)),
    "weight_norm(ConvTranspose2d)": (lambda: nn.weight_norm(nn.ConvTranspose2d(2, 3, 3, generator=0)), (1, 2, 4, 4)),
}


@pytest.mark.parametrize("name", list(LAYERS))
def test_float64_input_to_a_float32_layer_is_a_type_error_naming_layer_dtypes_and_fix(name):
    make, shape = LAYERS[name]
    layer = make()
    x = np.random.default_rng(0).standard_normal(shape)  # float64
    with pytest.raises(TypeError) as info:
        layer(sg.tensor(x))
    assert str(info.value) == (f"{layer!r}: input is float64 but the weights are float32; cast the input with "
                               "x.astype('float32') or the module with .double()")
    with pytest.raises(TypeError, match=r": input is float64 but the weights are float32"):
        layer(x)  # a plain array too


@pytest.mark.parametrize("name", list(LAYERS))
def test_float32_input_to_a_double_layer_is_a_type_error_naming_the_float_fix(name):
    make, shape = LAYERS[name]
    layer = make().double()
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    with pytest.raises(TypeError) as info:
        layer(sg.tensor(x))
    assert str(info.value) == (f"{layer!r}: input is float32 but the weights are float64; cast the input with "
                               "x.astype('float64') or the module with .float()")
    y = layer(sg.tensor(x.astype(np.float64)))  # the fix works
    assert y.dtype == np.float64


@pytest.mark.parametrize("name", list(LAYERS))
def test_integer_input_is_cast_to_the_layers_dtype(name):
    make, shape = LAYERS[name]
    layer = make()
    twin = copy.deepcopy(layer)  # a call may change state (spectral norm's u, running statistics)
    x = np.random.default_rng(0).integers(-3, 4, size=shape)  # int64
    y_int = layer(sg.tensor(x))
    y_float = twin(sg.tensor(x.astype(np.float32)))
    assert y_int.dtype == np.float32
    np.testing.assert_array_equal(y_int.numpy(), y_float.numpy())


def test_a_layer_without_parameters_or_statistics_takes_any_float_dtype():
    bn = nn.BatchNorm1d(2, affine=False, track_running_stats=False)
    x = np.array([[0.0, 1.0], [2.0, 5.0]])  # float64: mean (1, 3), biased variance (1, 4)
    y = bn(sg.tensor(x))
    assert y.dtype == np.float64
    np.testing.assert_allclose(y.numpy(), [[-1 / np.sqrt(1 + 1e-5), -2 / np.sqrt(4 + 1e-5)],
                                           [1 / np.sqrt(1 + 1e-5), 2 / np.sqrt(4 + 1e-5)]], rtol=1e-15)


def test_embedding_refuses_float_indices_and_double_gives_float64_rows():
    emb = nn.Embedding(4, 2, generator=0)
    with pytest.raises(TypeError, match=r"Embedding\(4, 2\): expected integer indices, received dtype float64"):
        emb(np.array([0.0, 1.0]))
    emb.double()
    emb.load_state_dict({"weight": np.array([[0.0, 0.1], [1 / 3, FINE], [2.0, 3.0], [4.0, 5.0]])})
    rows = emb(np.array([1, 0]))
    assert rows.dtype == np.float64
    np.testing.assert_array_equal(rows.numpy(), [[1 / 3, 1.0 + 2.0**-30], [0.0, 0.1]])


def test_an_equal_dtype_that_is_another_object_passes_unchanged():
    # the layers test identity first; an equal dtype object (here one carrying metadata) must still pass
    lin = nn.Linear(2, 1, generator=0)
    lin.load_state_dict({"weight": np.array([[2.0, 3.0]]), "bias": np.array([0.5])})
    x = np.ones((1, 2), dtype=np.dtype(np.float32, metadata={"note": 1}))
    assert x.dtype is not lin.weight.dtype and x.dtype == lin.weight.dtype
    assert nn.layers.match_input_dtype(lin, x, lin.weight.dtype) is x
    np.testing.assert_array_equal(lin(x).numpy(), [[5.5]])  # 2 + 3 + 0.5


# ---------------------------------------------------------------------------
# Sequential under no_grad: a large batch of per-sample layers runs in blocks of rows
# ---------------------------------------------------------------------------
def _mlp(gen):
    return nn.Sequential(nn.Linear(3, 40, generator=gen), nn.SiLU(inplace=True), nn.Linear(40, 300, generator=gen),
                         nn.LeakyReLU(0.2, inplace=True), nn.Linear(300, 5, generator=gen), nn.Tanh())


def test_sequential_in_blocks_gives_the_numbers_of_one_piece_bit_for_bit():
    net = _mlp(np.random.default_rng(0))
    x = np.random.default_rng(1).standard_normal((3001, 3)).astype(np.float32)
    with sg.no_grad():
        rows = net._block_rows(sg.tensor(x))
    assert rows == (1 << 20) // (300 * 4)  # 1 MiB of the widest activation (300 float32 numbers a row)
    assert 3001 // rows >= 2 and 3001 % rows  # several blocks, the last one short
    whole = net(sg.tensor(x, requires_grad=True))  # recording: the batch runs whole
    with sg.no_grad():
        blocked = net(x)
    assert blocked.shape == (3001, 5) and blocked.dtype == np.float32
    np.testing.assert_array_equal(blocked.numpy(), whole.numpy())
    # y = tanh(W3 lrelu(W2 silu(W1 x + b1) + b2) + b3), written out in float64
    p = [q.data.astype(np.float64) for q in net.parameters()]
    h = x @ p[0].T + p[1]
    h = h / (1 + np.exp(-h)) @ p[2].T + p[3]
    ref = np.tanh(np.where(h > 0, h, 0.2 * h) @ p[4].T + p[5])
    assert np.max(np.abs(blocked.numpy() - ref)) < 1e-5


def test_sequential_runs_whole_batches_when_a_layer_needs_the_batch_or_has_hooks():
    gen = np.random.default_rng(0)
    x = sg.tensor(np.random.default_rng(1).standard_normal((5000, 3)).astype(np.float32))
    with sg.no_grad():
        assert _mlp(gen)._block_rows(x) > 0
        assert _mlp(gen)._block_rows(x[:100]) == 0  # fewer than two blocks
        # batch norm (training) normalises with the whole batch's statistics
        bn = nn.Sequential(nn.Linear(3, 8, generator=gen), nn.BatchNorm1d(8))
        assert bn._block_rows(x) == 0
        np.testing.assert_allclose(bn(x).numpy().mean(axis=0), 0, atol=1e-5)
        # spectral norm's pre-hook runs a power iteration at every call
        sn = nn.Sequential(nn.spectral_norm(nn.Linear(3, 8, generator=gen), generator=gen), nn.ReLU())
        assert sn._block_rows(x) == 0

        class Doubled(nn.Linear):  # a subclass that changes forward does not inherit _per_sample
            def forward(self, x):
                return 2 * super().forward(x)

        assert nn.Sequential(Doubled(3, 8, generator=gen))._block_rows(x) == 0
    assert _mlp(gen)._block_rows(x) == 0  # recording
