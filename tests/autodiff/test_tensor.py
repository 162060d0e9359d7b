"""``Tensor``'s operators live on the class (tensor.py), each a call of a primitive, and the
modules of the engine import one way: tape <- primitives <- functional <- tensor."""
import ast
import importlib.util
import inspect
import pathlib

import numpy as np
import pytest

import scratchgen as sg
from scratchgen.autodiff import tape
from scratchgen.autodiff.tensor import Tensor

OPERATORS = [
    "__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__", "__rtruediv__",
    "__pow__", "__rpow__", "__matmul__", "__rmatmul__", "__neg__", "__pos__", "__abs__", "__getitem__",
    "__lt__", "__le__", "__gt__", "__ge__", "__eq__", "__ne__",
    "sum", "mean", "max", "min", "reshape", "transpose", "permute", "swapaxes", "T", "broadcast_to",
    "flatten", "astype", "clip", "exp", "log", "sqrt", "tanh", "sin", "cos", "abs", "sigmoid", "relu", "softplus",
]


@pytest.mark.parametrize("name", OPERATORS)
def test_operators_are_written_in_the_class_statement_of_tensor_py(name):
    assert name in Tensor.__dict__
    member = Tensor.__dict__[name]
    func = member.fget if isinstance(member, property) else member
    assert func.__module__ == "scratchgen.autodiff.tensor"
    assert func.__qualname__ == f"Tensor.{name}"  # defined in the class body, not bound on afterwards


def test_no_module_patches_the_class_any_more():
    assert importlib.util.find_spec("scratchgen.autodiff.methods") is None
    assert Tensor.__hash__ is object.__hash__  # comparisons return arrays; identity hashing is kept


def test_operators_compute_their_primitive_with_either_operand_order():
    a = sg.tensor([1.0, 2.0])
    b = sg.tensor([4.0, 8.0])
    cases = {
        "a + b": (a + b, [5.0, 10.0]), "3 + a": (3 + a, [4.0, 5.0]),
        "a - b": (a - b, [-3.0, -6.0]), "10 - a": (10 - a, [9.0, 8.0]),
        "a * b": (a * b, [4.0, 16.0]), "2 * a": (2 * a, [2.0, 4.0]),
        "a / b": (a / b, [0.25, 0.25]), "1 / b": (1 / b, [0.25, 0.125]),
        "b ** 2": (b**2, [16.0, 64.0]), "2 ** a": (2**a, [2.0, 4.0]),
        "-a": (-a, [-1.0, -2.0]), "+a": (+a, [1.0, 2.0]), "abs(-b)": (abs(-b), [4.0, 8.0]),
        "a[1:]": (a[1:], [2.0]), "a[mask]": (a[sg.tensor(np.array([False, True]))], [2.0]),
        "a.reshape(2, 1).T": (a.reshape(2, 1).T, [[1.0, 2.0]]),
        "a.reshape((1, 2)).sum(axis=1)": (a.reshape((1, 2)).sum(axis=1), [3.0]),
        "b.mean()": (b.mean(), 6.0), "b.max()": (b.max(), 8.0), "b.min()": (b.min(), 4.0),
    }
    for text, (got, expected) in cases.items():
        assert isinstance(got, Tensor), text
        assert got.dtype == np.float32, text
        np.testing.assert_array_equal(got.numpy(), np.array(expected, dtype=np.float32), err_msg=text)
    m = sg.tensor(np.array([[1.0, 2.0], [3.0, 4.0]]))
    np.testing.assert_array_equal((m @ np.array([1.0, 1.0])).numpy(), [3.0, 7.0])  # __matmul__
    np.testing.assert_array_equal((np.array([1.0, 1.0]) @ m).numpy(), [4.0, 6.0])  # __rmatmul__
    np.testing.assert_array_equal(a < b, [True, True])  # comparisons are plain arrays
    assert not isinstance(a == a, Tensor)


def test_operators_record_the_tape():
    # f(x) = sum(x * x / 2) - sum(3 x): df/dx = x - 3
    x = sg.tensor([1.0, 5.0], requires_grad=True)
    f = (x * x / 2).sum() - (3 * x).sum()
    f.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [-2.0, 2.0])


def test_primitives_return_tensors_even_on_plain_arrays():
    y = sg.exp(np.zeros(2))
    assert type(y) is Tensor
    np.testing.assert_array_equal(y.numpy(), [1.0, 1.0])


def test_use_tensor_class_accepts_only_a_node_subclass():
    with pytest.raises(TypeError, match="use_tensor_class: expected a subclass of Node, received <class 'int'>"):
        tape.use_tensor_class(int)
    assert tape._Tensor is Tensor


def test_composites_take_python_lists_as_float32_constants():
    # log(e^1 + e^2) = 2 + log(1 + e^-1) = 2.3132616875182228
    y = sg.logsumexp([1.0, 2.0])
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.item(), 2.3132616875182228, rtol=3e-7)  # a few float32 roundings (2^-23 each)


def _imports_of(module_file):
    """The modules named by every import in the file, module level or inside functions."""
    names = set()
    for node in ast.walk(ast.parse(pathlib.Path(module_file).read_text())):
        if isinstance(node, ast.ImportFrom):
            names.add("." * node.level + (node.module or ""))
            if node.module is None:
                names |= {"." * node.level + a.name for a in node.names}
        elif isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
    return names


@pytest.mark.parametrize("module,forbidden", [
    ("tape", {".tensor", ".primitives", ".functional"}),
    ("primitives", {".tensor", ".functional"}),
    ("functional", {".tensor"}),
])
def test_the_engine_imports_one_way_tape_primitives_functional_tensor(module, forbidden):
    mod = importlib.import_module(f"scratchgen.autodiff.{module}")
    assert _imports_of(inspect.getfile(mod)) & forbidden == set()


def test_tensor_py_imports_the_primitives_and_composites_its_operators_call():
    from scratchgen.autodiff import tensor as tensor_module

    assert {".tape", ".primitives", ".functional"} <= _imports_of(inspect.getfile(tensor_module))
