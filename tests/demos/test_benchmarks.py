"""The backend benchmark runs (a few updates; NumPy only where CuPy is missing) and leaves out the
updates that an evaluation follows."""
import os
import runpy
import time

import pytest

import scratchgen as sg

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def _bench(name):
    return runpy.run_path(os.path.join(ROOT, "benchmarks", "bench_backends.py"))[name]


def test_bench_backends_times_each_trainer_on_numpy(capsys):
    rows = _bench("main")(["--steps", "3", "--warmup", "1", "draw", "gan2d", "ssgan"])
    assert set(rows) == {"draw", "gan2d", "ssgan"}
    for t_numpy, t_cupy in rows.values():
        assert 0 < t_numpy < 10_000
        try:
            sg.backend._load_cupy()
        except sg.BackendError:
            assert t_cupy is None
    assert "cupy / numpy" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        _bench("main")(["nosuch"])


def test_median_update_leaves_out_warmup_and_evaluated_updates():
    # updates 1..6; warm-up 3, an evaluation after every 2nd update: of the gaps after updates 1..5
    # only the one after update 5 counts. It is short; the four others are long.
    def train(callback):
        for step in range(1, 7):
            time.sleep(0.001 if step == 6 else 0.03)  # the gap (step - 1) -> step
            callback(step)

    ms = _bench("_median_update_ms")(train, steps=6, warmup=3, eval_every=2)
    assert 0.5 < ms < 10, ms  # with the warm-up gaps kept it would be 30 ms, with the evaluated ones 15 ms
