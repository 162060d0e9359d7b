"""Hypothesis strategies and helpers for property tests (for the test suite and for courses).

Needs the ``test`` extra (hypothesis). Example::

    from hypothesis import given
    from scratchgen.testing import float_arrays
    import scratchgen as sg

    @given(float_arrays(min_value=-3, max_value=3))
    def test_tanh_gradient(x):
        sg.check_grads(sg.tanh, x, order=2)
"""
from __future__ import annotations

import numpy as np  # test helpers build NumPy inputs; they are not math code
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

__all__ = ["shapes", "float_arrays", "broadcastable_pair", "away_from"]


def shapes(min_dims=0, max_dims=3, min_side=1, max_side=4):
    """Array shapes, size-1 dimensions included."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def float_arrays(shape=None, min_value=-2.0, max_value=2.0, dtype=np.float64):
    """Float arrays (float64 by default, for gradient checks) with bounded finite values."""
    elements = st.floats(min_value, max_value, allow_nan=False, allow_infinity=False, width=64)
    return hnp.arrays(dtype, shape if shape is not None else shapes(), elements=elements)


@st.composite
def broadcastable_pair(draw, min_value=-2.0, max_value=2.0, max_dims=3):
    """Two float64 arrays whose shapes broadcast together (possibly to a larger shape)."""
    bs = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=max_dims, max_side=3))
    x = draw(float_arrays(bs.input_shapes[0], min_value, max_value))
    y = draw(float_arrays(bs.input_shapes[1], min_value, max_value))
    return x, y


def away_from(x, points=(0.0,), margin=0.05):
    """Move entries of ``x`` that are within ``margin`` of a kink to ``point + 2*margin``.

    Central differences are wrong across a kink (abs at 0, relu at 0, clip at
    its bounds), so gradient checks keep their inputs away from kinks.
    """
    x = np.array(x, dtype=np.float64, copy=True)
    for p in points:
        near = np.abs(x - p) < margin
        x[near] = p + 2 * margin
    return x
