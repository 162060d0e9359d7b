"""The pieces every training loop shares: the non-finite stop and restore."""
import numpy as np
import pytest

import scratchgen as sg
from scratchgen.training import TrainingDiverged, check_finite, restore


def test_check_finite_names_the_step_the_value_and_the_checkpoint():
    p = sg.nn.Linear(2, 2)
    check_finite(3, {"loss": 1.0}, p.named_parameters(), "ck.npz", 2)  # all finite: no error
    with pytest.raises(TrainingDiverged, match=r"step 4: non-finite loss=nan; the last good checkpoint \(step 2\) is kept at ck.npz"):
        check_finite(4, {"loss": float("nan")}, p.named_parameters(), "ck.npz", 2)
    p.weight.data[0, 0] = np.inf
    with pytest.raises(TrainingDiverged, match=r"non-finite parameter weight; no checkpoint had been written yet"):
        check_finite(5, {"loss": 0.5}, p.named_parameters(), None, None)


def test_restore_puts_states_back_and_names_a_missing_entry(tmp_path):
    a, b = sg.nn.Linear(3, 2), sg.nn.Linear(3, 2)
    path = str(tmp_path / "c.npz")
    sg.save({"model": a.state_dict(), "step": 7}, path)
    state = restore(path, model=b)
    assert state["step"] == 7
    np.testing.assert_array_equal(b.weight.numpy(), a.weight.numpy())
    with pytest.raises(KeyError, match=r"has no entry 'opt'"):
        restore(path, model=b, opt=sg.optim.Adam(b.parameters()))
