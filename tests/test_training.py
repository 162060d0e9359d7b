"""The pieces every training loop shares: the non-finite stop, restore and the resume-config check."""
from dataclasses import dataclass

import numpy as np
import pytest

import scratchgen as sg
from scratchgen.training import TrainingDiverged, check_finite, check_resume_config, restore, same_setting


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


@dataclass
class _Cfg:
    loss: str = "nonsaturating"
    lr: float = 1e-3
    sigmas: tuple = (0.5, 1.0)
    steps: int = 100
    progress: bool = True


def test_same_setting_treats_lists_tuples_and_arrays_alike():
    assert same_setting([1, 2], (1, 2)) and same_setting(np.array([1, 2]), (1, 2)) and same_setting([[1], (2,)], ((1,), [2]))
    assert not same_setting([1, 2], (1, 3)) and not same_setting((1, 2), (1, 2, 3)) and same_setting("a", "a")


def test_check_resume_config_names_each_changed_field_and_both_values():
    saved = {"loss": "nonsaturating", "lr": 1e-3, "sigmas": [0.5, 1.0], "steps": 100, "progress": True}
    check_resume_config(saved, _Cfg())  # the same run (a list saved for a tuple compares equal): no error
    check_resume_config(saved, _Cfg(steps=500, progress=False))  # a longer run, reported differently: allowed
    with pytest.raises(ValueError, match=r"c\.npz was trained with another config \(loss: checkpoint "
                                         r"'nonsaturating', this run 'hinge'; lr: checkpoint 0\.001, this run 0\.01\)"):
        check_resume_config(saved, _Cfg(loss="hinge", lr=1e-2), path="c.npz")
    with pytest.raises(ValueError, match=r"sigmas: checkpoint \[0\.5, 1\.0\], this run \(0\.5, 2\.0\)"):
        check_resume_config(saved, _Cfg(sigmas=(0.5, 2.0)))
    with pytest.raises(ValueError, match=r"steps: checkpoint 100, this run 7"):
        check_resume_config(saved, _Cfg(steps=7), may_differ=("progress",))


def test_check_resume_config_compares_a_field_the_checkpoint_predates_with_its_default():
    old = {"loss": "nonsaturating", "lr": 1e-3, "steps": 100, "progress": True}  # written before `sigmas` existed
    check_resume_config(old, _Cfg())
    with pytest.raises(ValueError, match=r"sigmas: checkpoint \(0\.5, 1\.0\), this run \(2\.0,\)"):
        check_resume_config(old, _Cfg(sigmas=(2.0,)))


def test_restore_with_a_config_checks_it_before_loading(tmp_path):
    a, b = sg.nn.Linear(3, 2), sg.nn.Linear(3, 2)
    path = str(tmp_path / "c.npz")
    sg.save({"model": a.state_dict(), "config": {"loss": "hinge", "lr": 1e-3, "sigmas": (0.5, 1.0),
                                                  "steps": 100, "progress": True}}, path)
    before = b.weight.numpy().copy()
    with pytest.raises(ValueError, match=r"loss: checkpoint 'hinge', this run 'nonsaturating'"):
        restore(path, config=_Cfg(), model=b)
    np.testing.assert_array_equal(b.weight.numpy(), before)  # nothing was loaded
    restore(path, config=_Cfg(loss="hinge"), model=b)
    np.testing.assert_array_equal(b.weight.numpy(), a.weight.numpy())
    sg.save({"model": a.state_dict()}, path)
    with pytest.raises(KeyError, match=r"has no entry 'config'"):
        restore(path, config=_Cfg(), model=b)
