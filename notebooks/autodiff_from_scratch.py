# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Reverse-mode autodiff from scratch
#
# A gradient is a sum over paths: for $y = f(x)$ built from primitives, reverse mode visits the graph from
# $y$ back to $x$ and applies, at each primitive, its vector-Jacobian product
# $\bar x = \bar y\,\partial y/\partial x$. We write a scalar version in twenty lines, check it against
# central differences, then look at scratchgen's Tensor version: VJP rules written in Tensor operations (so
# they can be differentiated again), and the one place where broadcast gradients are summed back.
# Derivations: `docs/autodiff.md`.

# %%
# Setup: the GPU backend when one is visible (a hosted notebook service), NumPy otherwise.
# SCRATCHGEN_NOTEBOOK_SIZE=small runs everything at toy sizes (the test run does).
import math
import os

import numpy as np

import scratchgen as sg
from scratchgen import backend

SMALL = os.environ.get("SCRATCHGEN_NOTEBOOK_SIZE", "full") == "small"
try:
    backend.set_backend("cupy")
except backend.BackendError:
    backend.set_backend("numpy")
print("backend:", backend.get_backend(), "| size:", "small" if SMALL else "full")

# %% [markdown]
# ## 1. Twenty lines of scalar reverse mode
#
# Each `Value` remembers its parents and, for each parent, the local derivative $\partial y/\partial x$.
# `backward` orders the graph topologically and accumulates $\bar x \mathrel{+}= \bar y\,\partial y/\partial x$.

# %%
class Value:
    def __init__(self, data, parents=()):
        self.data, self.grad, self.parents = float(data), 0.0, parents  # parents: ((Value, d self / d parent), ...)

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        return Value(self.data + other.data, ((self, 1.0), (other, 1.0)))

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        return Value(self.data * other.data, ((self, other.data), (other, self.data)))

    def tanh(self):
        t = math.tanh(self.data)
        return Value(t, ((self, 1 - t * t),))

    def backward(self):
        order, seen = [], set()

        def visit(v):
            if id(v) not in seen:
                seen.add(id(v))
                for p, _ in v.parents:
                    visit(p)
                order.append(v)
        visit(self)
        self.grad = 1.0
        for v in reversed(order):  # y_bar flows from the output back to the inputs
            for p, local in v.parents:
                p.grad += v.grad * local


def f_scalar(a, b):
    return (a * b + a).tanh() * b


a, b = Value(0.3), Value(-1.2)
y = f_scalar(a, b)
y.backward()
h = 1e-6
fd_a = (f_scalar(Value(0.3 + h), Value(-1.2)).data - f_scalar(Value(0.3 - h), Value(-1.2)).data) / (2 * h)
print(f"dy/da: reverse mode {a.grad:.8f}, central differences {fd_a:.8f}")
assert abs(a.grad - fd_a) < 1e-6

# %% [markdown]
# ## 2. The same function with scratchgen
#
# `sg.grad` records the operations on a tape and runs the same backward pass over Tensors.

# %%
dfa = sg.grad(lambda x, y: (x * y + x).tanh() * y, argnums=(0, 1))
ga, gb = dfa(sg.tensor(0.3, dtype="float64"), sg.tensor(-1.2, dtype="float64"))
print("scratchgen:", float(ga.data), float(gb.data), "| from scratch:", a.grad, b.grad)
assert abs(float(ga.data) - a.grad) < 1e-12 and abs(float(gb.data) - b.grad) < 1e-12

# %% [markdown]
# ## 3. A VJP rule: matrix product
#
# For $Y = XW$, $\bar X = \bar Y W^\top$ and $\bar W = X^\top \bar Y$. The rule in
# `scratchgen/autodiff/primitives.py` (`_matmul_vjp_x`) is an exercise of the course kit
# (`scratchgen course new HW --exercises vjp_matmul`). Check it by the defining identity
# $\langle \bar X, V\rangle = \frac{d}{dh}\langle \bar Y, (X + hV)W\rangle$:

# %%
rng = np.random.default_rng(0)
n = 3 if SMALL else 6
X, W, Y_bar, V = (rng.standard_normal((n, n)) for _ in range(4))
X_bar = sg.vjp(lambda x: x @ sg.tensor(W), sg.tensor(X))[1](sg.tensor(Y_bar))[0]
lhs = float(np.sum(sg.to_numpy(X_bar.data) * V))
rhs = (np.sum(Y_bar * ((X + h * V) @ W)) - np.sum(Y_bar * ((X - h * V) @ W))) / (2 * h)
print(f"<X_bar, V> = {lhs:.8f}; central differences: {rhs:.8f}")
assert abs(lhs - rhs) < 1e-5

# %% [markdown]
# ## 4. Broadcasting and its adjoint
#
# Adding a bias $b$ of shape (1, 3) to a (4, 3) array copies it along the rows; the gradient sums over
# the copies. `scratchgen.autodiff.tape.unbroadcast` is the one place that does this.

# %%
bias = sg.tensor(np.zeros((1, 3)), requires_grad=True)
out = (sg.tensor(np.ones((4, 3))) + bias).sum()
out.backward()
print("gradient of the bias:", sg.to_numpy(bias.grad.data))  # 4 copies -> 4
assert np.allclose(sg.to_numpy(bias.grad.data), 4.0)

# %% [markdown]
# ## 5. Second order
#
# Rules are written in Tensor operations, so the backward pass can itself be recorded and differentiated:
# $\tanh'' = -2\tanh\,(1 - \tanh^2)$.

# %%
d2 = sg.grad(sg.grad(lambda x: x.tanh()))
x0 = 0.7
print("tanh''(0.7):", float(d2(sg.tensor(x0, dtype="float64")).data), "closed form:", -2 * math.tanh(x0) * (1 - math.tanh(x0) ** 2))
assert abs(float(d2(sg.tensor(x0, dtype="float64")).data) + 2 * math.tanh(x0) * (1 - math.tanh(x0) ** 2)) < 1e-12
sg.check_grads(lambda x: (x * x).tanh().sum(), np.linspace(-1, 1, 5), order=2)
print("check_grads to order 2: passed")
