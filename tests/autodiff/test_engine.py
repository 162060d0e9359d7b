"""The backward pass, the functional API, dtypes and the gradient checker itself."""
import numpy as np
import pytest
from hypothesis import given

import scratchgen as sg
from scratchgen.testing import float_arrays, shapes


# ---------------------------------------------------------------------------
# backward(): accumulation, shared nodes, deep graphs
# ---------------------------------------------------------------------------
def test_backward_accumulates_into_leaves():
    x = sg.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])
    (x * 3.0).sum().backward()  # a second backward adds, as in PyTorch
    np.testing.assert_array_equal(x.grad.numpy(), [5.0, 7.0])
    x.zero_grad()
    assert x.grad is None


def test_node_used_by_several_paths_sums_their_gradients():
    # f = a*b + a*a*b with a shared intermediate: df/da = b + 2ab
    a = sg.tensor(np.array(3.0), requires_grad=True)
    b = sg.tensor(np.array(-2.0), requires_grad=True)
    ab = a * b
    f = ab + ab * a
    f.backward()
    assert a.grad.item() == -2.0 + 2 * 3.0 * -2.0
    assert b.grad.item() == 3.0 + 9.0


def test_deep_chain_of_10000_ops_needs_no_recursion():
    # x_{k+1} = x_k * c with c = 1 + 1e-4: d x_n / d x_0 = c^n
    x0 = sg.tensor(np.array(1.0), requires_grad=True)
    x = x0
    c = 1.0 + 1e-4
    for _ in range(10_000):
        x = x * c
    x.backward()
    assert abs(x0.grad.item() - c**10_000) < 1e-9 * c**10_000
    # a 100,000-op chain also works (the sort and the pass are iterative)
    y = x0
    for _ in range(100_000):
        y = y + 1.0
    y.backward()
    assert abs(x0.grad.item() - (c**10_000 + 1.0)) < 1e-8


def test_backward_needs_a_gradient_for_non_scalar_outputs():
    x = sg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"shape \(2,\)"):
        (x * 2.0).backward()
    (x * 2.0).backward(np.array([1.0, 10.0], dtype=np.float32))
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 20.0])
    with pytest.raises(ValueError, match=r"grad has shape \(3,\)"):
        (x * 2.0).backward(np.ones(3))
    with pytest.raises(RuntimeError, match="does not require grad"):
        sg.tensor([1.0]).sum().backward()


def test_no_grad_records_nothing():
    x = sg.tensor([1.0], requires_grad=True)
    with sg.no_grad():
        y = x * 2.0
        assert not sg.is_grad_enabled()
    assert sg.is_grad_enabled()
    assert not y.requires_grad and y.is_leaf
    z = x.detach() * 2.0
    assert not z.requires_grad


# ---------------------------------------------------------------------------
# Higher order
# ---------------------------------------------------------------------------
def test_create_graph_gives_differentiable_gradients():
    x = sg.tensor(np.array([0.3, -1.1]), requires_grad=True)
    y = (sg.sin(x) * x).sum()
    y.backward(create_graph=True)
    g = x.grad  # cos(x) x + sin(x), still on the tape
    assert g.requires_grad
    x.grad = None
    g.sum().backward()  # d/dx (x cos x + sin x) = 2 cos x - x sin x
    xv = np.array([0.3, -1.1])
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.cos(xv) - xv * np.sin(xv), rtol=1e-12)


def test_nested_grad_to_third_order():
    d3 = sg.grad(lambda t: sg.grad(lambda u: sg.grad(lambda v: sg.sin(v).sum())(u).sum())(t).sum())
    x = np.linspace(-2, 2, 5)
    np.testing.assert_allclose(d3(x).numpy(), -np.cos(x), rtol=1e-12)  # sin''' = -cos


def test_grad_value_and_grad_argnums():
    f = lambda x, y: (x * x * y).sum()
    x, y = np.array([1.0, 2.0]), np.array([3.0, -1.0])
    gx = sg.grad(f)(x, y)
    np.testing.assert_array_equal(gx.numpy(), 2 * x * y)
    gx, gy = sg.grad(f, argnums=(0, 1))(x, y)
    np.testing.assert_array_equal(gy.numpy(), x * x)
    v, gy = sg.value_and_grad(f, argnums=1)(x, y)
    assert v.item() == float((x * x * y).sum())
    # a function that ignores an argument has a zero gradient with respect to it
    np.testing.assert_array_equal(sg.grad(lambda a, b: (sg.tensor(a) * 2.0).sum(), argnums=1)(x, y).numpy(), [0, 0])


def test_grad_rejects_non_scalar_and_non_tensor_outputs():
    with pytest.raises(ValueError, match=r"single value .* got shape \(2,\)"):
        sg.grad(lambda x: x * 2.0)(np.ones(2))
    with pytest.raises(TypeError, match="must return a Tensor"):
        sg.grad(lambda x: 3.0)(np.ones(2))


@given(x=float_arrays(shapes(min_dims=1, max_dims=1, max_side=5)))
def test_hvp_of_quadratic_and_quartic(x):
    rng = np.random.default_rng(0)
    n = x.shape[0]
    A = rng.standard_normal((n, n))
    v = rng.standard_normal(n)
    quad = lambda t: (t @ (sg.tensor(A) @ t))  # H = A + A^T
    np.testing.assert_allclose(sg.hvp(quad, x, v).numpy(), (A + A.T) @ v, rtol=1e-10, atol=1e-12)
    quart = lambda t: (t**4).sum()  # H = diag(12 x^2)
    np.testing.assert_allclose(sg.hvp(quart, x, v).numpy(), 12 * x**2 * v, rtol=1e-10, atol=1e-12)


def test_vjp_pullback():
    out, pullback = sg.vjp(lambda a, b: a * b, np.array([1.0, 2.0]), np.array([3.0, 4.0]))
    ga, gb = pullback(np.array([1.0, -1.0]))
    np.testing.assert_array_equal(ga.numpy(), [3.0, -4.0])
    np.testing.assert_array_equal(gb.numpy(), [1.0, -2.0])
    with pytest.raises(ValueError, match="cotangent has shape"):
        pullback(np.ones(3))


# ---------------------------------------------------------------------------
# dtypes and conversions
# ---------------------------------------------------------------------------
def test_python_scalars_never_promote_float32():
    x = sg.tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    for y in (x * 2.5, 2.5 * x, x + 1, x / 3.0, 3.0 / x, x**2.0, 2.0**x, x - 1e-30, sg.sigmoid(x),
              sg.softplus(x), sg.leaky_relu(x, 0.2), sg.logsumexp(x), sg.clip(x, 0.5, 2.0), sg.mean(x)):
        assert y.dtype == np.float32, y
    (x * 2.5 + sg.softplus(x)).sum().backward()
    assert x.grad.dtype == np.float32


def test_tensor_constructor_dtypes():
    assert sg.tensor(1.0).dtype == np.float32  # Python floats: the default float dtype
    assert sg.tensor([1.0, 2.0]).dtype == np.float32
    assert sg.tensor(np.ones(2)).dtype == np.float64  # arrays keep theirs
    assert sg.tensor([1, 2]).dtype.kind == "i"
    assert sg.tensor([1, 2], dtype="float64").dtype == np.float64
    with pytest.raises(TypeError, match="float dtype"):
        sg.tensor([1, 2], requires_grad=True)
    with pytest.raises(TypeError, match="numeric"):
        sg.tensor(["a"])


def test_tensor_attributes_and_comparisons():
    t = sg.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    assert t.shape == (2, 3) and t.ndim == 2 and t.size == 6 and len(t) == 2
    assert isinstance(t.numpy(), np.ndarray)
    assert sg.tensor(np.array(2.5)).item() == 2.5
    mask = t > 2.0
    assert isinstance(mask, np.ndarray) and mask.dtype == bool
    np.testing.assert_array_equal(mask, [[False, False, False], [True, True, True]])
    assert t.T.shape == (3, 2) and t.reshape(3, 2).shape == (3, 2) and t.reshape((6,)).shape == (6,)
    assert "requires_grad=True" in repr(t) and "float64" in repr(t)
    assert {t: 1}[t] == 1  # still hashable by identity


def test_numpy_array_on_the_left_calls_the_tensor_operator():
    x = sg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = np.array([3.0, 4.0]) * x
    assert isinstance(y, sg.Tensor)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 4.0])


def test_shape_errors_name_the_op():
    with pytest.raises(ValueError, match=r"^add: .*\(2,\), \(3,\)"):
        sg.tensor(np.ones(2)) + sg.tensor(np.ones(3))
    with pytest.raises(ValueError, match=r"^matmul: "):
        sg.tensor(np.ones((2, 3))) @ sg.tensor(np.ones((2, 3)))


def test_unbroadcast_sums_over_broadcast_axes():
    g = sg.tensor(np.ones((4, 2, 3)))
    assert sg.unbroadcast(g, (2, 1)).shape == (2, 1)
    np.testing.assert_array_equal(sg.unbroadcast(g, (2, 1)).numpy(), np.full((2, 1), 12.0))
    np.testing.assert_array_equal(sg.unbroadcast(g, (3,)).numpy(), np.full(3, 8.0))
    np.testing.assert_array_equal(sg.unbroadcast(g, ()).numpy(), 24.0)
    with pytest.raises(ValueError, match="cannot reduce"):
        sg.unbroadcast(sg.tensor(np.ones(3)), (2, 3))


# ---------------------------------------------------------------------------
# The gradient checker must catch wrong rules, first and second order
# ---------------------------------------------------------------------------
@sg.primitive
def _bad_square(xp, x):
    return x * x


_bad_square.defvjp(lambda g, ans, x: g * x * 3.0)  # wrong: should be 2x


@sg.primitive
def _flat_sin(xp, x):
    return xp.sin(x)


# right first derivative, but computed from raw arrays: invisible to a second differentiation
_flat_sin.defvjp(lambda g, ans, x: g * sg.tensor(np.cos(x.data)))


def test_check_grads_reports_a_wrong_first_order_rule():
    with pytest.raises(sg.GradientCheckError, match=r"order-1 gradient .* argument 0 .* max abs error"):
        sg.check_grads(lambda x, y: _bad_square(x) * y, np.array([0.5, 1.5]), np.array([1.0, 2.0]), order=1)
    with pytest.raises(sg.GradientCheckError, match=r"argument 1"):
        sg.check_grads(lambda x, y: x * _bad_square(y), np.array([0.5, 1.5]), np.array([1.0, 2.0]), order=1)


def test_check_grads_reports_a_rule_that_is_not_differentiable_again():
    sg.check_grads(_flat_sin, np.array([0.3, 1.2]), order=1)  # first order is right
    with pytest.raises(sg.GradientCheckError, match=r"order-2 gradient .* max rel error"):
        sg.check_grads(_flat_sin, np.array([0.3, 1.2]), order=2)


def test_check_grads_passes_order_3_on_a_composite():
    sg.check_grads(lambda a, b: sg.tanh(a @ b).sum() * sg.log_sigmoid(a).mean(),
                   np.array([[0.2, -0.4], [1.0, 0.3]]), np.array([[0.5], [-1.5]]), order=3)
