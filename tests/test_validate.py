"""scratchgen/validate.py: the message style, what each check accepts and refuses, rendering with option names."""
import math
import pickle

import numpy as np
import pytest

from scratchgen.validate import (
    BadArgument,
    BadType,
    BadValue,
    bad,
    check_bool,
    check_choice,
    check_int,
    check_labels,
    check_number,
    check_pair,
    check_real_array,
    check_same_shape,
)


def test_the_message_is_who_name_requirement_received_and_fix():
    e = bad("Adam", "lr", "be a finite number >= 0", math.nan, "try 1e-3")
    assert str(e) == "Adam: lr must be a finite number >= 0, got nan; try 1e-3"
    assert isinstance(e, ValueError) and isinstance(e, BadArgument) and not isinstance(e, TypeError)
    t = bad("GANConfig", "steps", "be a positive int", True, type_error=True)
    assert str(t) == "GANConfig: steps must be a positive int, got True" and isinstance(t, TypeError)


def test_render_names_settings_as_the_caller_spells_them():
    e = bad("GANConfig", "label_smoothing", "be None with {loss} 'wgan'", 0.9, "drop {label_smoothing}")
    assert str(e) == "GANConfig: label_smoothing must be None with loss 'wgan', got 0.9; drop label_smoothing"
    flags = {"label_smoothing": "--label-smoothing", "loss": "--loss"}
    assert e.render(flags.get, show=str, who=False) == ("--label-smoothing must be None with --loss 'wgan', got 0.9; "
                                                       "drop --label-smoothing")


def test_an_error_survives_pickling_with_its_pieces():  # raised in a joblib worker, read in the parent
    e = pickle.loads(pickle.dumps(bad("kid", "n_subsets", "be a positive int", 0)))
    assert type(e) is BadValue and (e.who, e.name, e.got) == ("kid", "n_subsets", 0) and str(e).startswith("kid: ")


@pytest.mark.parametrize("value", [1, np.int64(3), np.uint8(2)])
def test_check_int_takes_python_and_numpy_ints_unchanged(value):
    assert check_int(value, "n", "f", min=1) is value


@pytest.mark.parametrize("value, exc, requirement", [
    (0, BadValue, "be a positive int"), (True, BadType, "be a positive int"), (2.0, BadType, "be a positive int"),
    ("3", BadType, "be a positive int"), (None, BadType, "be a positive int"),
])
def test_check_int_refuses_what_is_not_a_positive_int(value, exc, requirement):
    with pytest.raises(exc, match=f"^f: n must {requirement}, got {value!r}$".replace("(", r"\(").replace(")", r"\)")):
        check_int(value, "n", "f", min=1)


def test_check_int_phrases_each_range():
    with pytest.raises(BadValue, match=r"must be an int >= 0, got -1"):
        check_int(-1, "seed", "f", min=0)
    with pytest.raises(BadValue, match=r"must be an int in \[1, 10\], got 11"):
        check_int(11, "steps", "f", min=1, max=10)


@pytest.mark.parametrize("value, bounds, ok", [
    (0.0, dict(min=0), True), (0.0, dict(min=0, min_open=True), False), (1.0, dict(min=0, max=1, max_open=True), False),
    (math.inf, dict(min=0), False), (math.inf, dict(min=0, finite=False), True), (math.nan, dict(finite=False), False),
    (np.float32(0.5), dict(min=0, max=1), True), (-1e-300, dict(min=0), False), (3, dict(), True),
])
def test_check_number_bounds_and_finiteness(value, bounds, ok):
    if ok:
        assert check_number(value, "x", "f", **bounds) is value
    else:
        with pytest.raises(BadValue, match=r"^f: x must "):
            check_number(value, "x", "f", **bounds)


def test_check_number_refuses_bools_and_strings_as_type_errors():
    for value in (True, "0.1", None, [0.1]):
        with pytest.raises(BadType, match="f: lr must be a finite number > 0"):
            check_number(value, "lr", "f", min=0, min_open=True)


def test_check_pair_wants_exactly_two_numbers_in_range():
    assert check_pair([0.5, 0.9], "betas", "Adam", min=0, max=1, max_open=True) == (0.5, 0.9)
    for value in ((0.5,), (0.5, 0.9, 0.99), (0.5, 1.0), (0.5, math.nan)):
        with pytest.raises(BadValue, match=r"Adam: betas must be 2 numbers in \[0, 1\), got "):
            check_pair(value, "betas", "Adam", min=0, max=1, max_open=True)
    with pytest.raises(BadType, match="betas must be 2 numbers"):
        check_pair(0.9, "betas", "Adam")


def test_check_choice_and_check_bool():
    assert check_choice(None, "penalty", "f", (None, "gp")) is None
    with pytest.raises(BadValue, match=r"^f: penalty must be None or 'gp', got 'r2'$"):
        check_choice("r2", "penalty", "f", (None, "gp"))
    with pytest.raises(BadValue, match=r"must be one of 'a', 'b', 'c', got 'd'"):
        check_choice("d", "kind", "f", ("a", "b", "c"))
    with pytest.raises(BadValue):
        check_choice(1, "flag", "f", (True, False))  # 1 == True, but 1 is not a bool
    assert check_bool(np.bool_(True), "b", "f") and check_bool(False, "b", "f") is False
    with pytest.raises(BadType, match="f: b must be True or False, got 1"):
        check_bool(1, "b", "f")


def test_check_same_shape_names_both_arguments_and_both_shapes():
    check_same_shape(np.zeros((8, 1)), "x", np.zeros((8, 1)), "target", "mse_loss")
    with pytest.raises(BadValue, match=r"^mse_loss: target must have the shape of x, \(8, 1\), got shape \(8,\); "):
        check_same_shape(np.zeros((8, 1)), "x", np.zeros(8), "target", "mse_loss")


def test_check_real_array_kinds():
    check_real_array(np.zeros(2, np.float32), "x", "f")
    check_real_array(np.zeros(2, np.int64), "x", "f", kinds="fiu")
    with pytest.raises(BadType, match=r"f: x must have a real floating dtype .*, got dtype int64"):
        check_real_array(np.zeros(2, np.int64), "x", "f")
    with pytest.raises(BadType, match=r"got dtype complex128; take .real or abs\(\) first"):
        check_real_array(np.zeros(2, complex), "x", "f", kinds="fiu")
    with pytest.raises(BadType, match="f: x must be an array or a Tensor, got list"):
        check_real_array([1.0], "x", "f")


def test_check_labels_casts_whole_floats_and_refuses_the_rest():
    y = check_labels(np.array([0.0, 9.0, 3.0]), "labels", "f", 10, n=3)
    assert y.dtype == np.int64 and y.tolist() == [0, 9, 3]
    for labels, exc, message in [(np.array([0, 10, 3]), BadValue, r"hold labels in 0..9, got values in \[0, 10\]"),
                                 (np.array([0.5, 1, 2]), BadType, "whole-number class labels"),
                                 (np.array([0, 1, np.nan]), BadType, "whole-number class labels"),
                                 (np.array([0, 1]), BadValue, r"have shape \(3,\), one label per sample, got shape \(2,\)"),
                                 (np.array(["0", "1", "2"]), BadType, "an integer dtype")]:
        with pytest.raises(exc, match=message):
            check_labels(labels, "labels", "f", 10, n=3)
