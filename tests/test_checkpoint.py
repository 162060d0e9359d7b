"""Checkpoints: round trip, atomic write, corrupt / truncated / mismatched files, exact resume."""
import os

import numpy as np
import pytest

import scratchgen as sg
from scratchgen import nn, optim
from scratchgen.checkpoint import CheckpointError


def test_round_trip_of_nested_state(tmp_path):
    gen = np.random.default_rng(5)
    gen.standard_normal(3)
    state = {
        "w": np.arange(6, dtype=np.float32).reshape(2, 3),
        "t": sg.tensor(np.ones(2)),
        "opt": {"state": {0: {"step": 3, "m": np.zeros(2)}}, "param_groups": [{"lr": 0.1, "betas": (0.5, 0.9)}]},
        "rng": gen,
        "name": "run", "none": None, "flag": True, "x": 1.5,
    }
    path = tmp_path / "ck.npz"
    sg.save(state, path)
    out = sg.load(path)
    np.testing.assert_array_equal(out["w"], state["w"])
    assert out["w"].dtype == np.float32
    np.testing.assert_array_equal(out["t"], np.ones(2))
    assert out["opt"]["state"][0]["step"] == 3 and 0 in out["opt"]["state"]
    assert out["opt"]["param_groups"][0]["betas"] == (0.5, 0.9)
    assert (out["name"], out["none"], out["flag"], out["x"]) == ("run", None, True, 1.5)
    np.testing.assert_array_equal(out["rng"].standard_normal(4), gen.standard_normal(4))
    assert np.load(path)["w"].shape == (2, 3)  # a plain .npz


def test_write_is_atomic_and_leaves_no_temporary_files(tmp_path, monkeypatch):
    path = tmp_path / "ck.npz"
    sg.save({"a": np.ones(3)}, path)
    import scratchgen.checkpoint as ck

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("simulated crash while writing")

    monkeypatch.setattr(ck.numpy, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        sg.save({"a": np.zeros(3)}, path)
    monkeypatch.undo()
    np.testing.assert_array_equal(sg.load(path)["a"], np.ones(3))  # the old file is intact
    assert os.listdir(tmp_path) == ["ck.npz"]


def test_truncated_file_names_the_file(tmp_path):
    path = tmp_path / "ck.npz"
    sg.save({"a": np.random.default_rng(0).standard_normal(1000)}, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"checkpoint '.*ck.npz'"):
        sg.load(path)


def test_corrupt_array_names_file_and_key(tmp_path):
    path = tmp_path / "ck.npz"
    a = np.zeros(4000)
    sg.save({"model": {"w": a}}, path)
    data = bytearray(path.read_bytes())
    i = data.find(b"\x00" * 800)  # inside the stored zeros of model/w
    data[i + 400] = 1
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"ck.npz'.*'model/w'"):
        sg.load(path)


def test_not_a_checkpoint(tmp_path):
    path = tmp_path / "plain.npz"
    np.savez(path, a=np.ones(2))
    with pytest.raises(CheckpointError, match="not written by scratchgen.save"):
        sg.load(path)
    with pytest.raises(FileNotFoundError):
        sg.load(tmp_path / "missing.npz")


def test_mismatched_file_names_file_key_and_shapes(tmp_path):
    path = tmp_path / "ck.npz"
    small = nn.Linear(3, 4)
    sg.save({"G": small.state_dict()}, path)
    big = nn.Linear(3, 5)
    with pytest.raises(CheckpointError, match=r"ck.npz'.*key 'G/weight' has shape \(4, 3\), expected \(5, 3\)"):
        sg.load(path, like={"G": big.state_dict()})
    with pytest.raises(CheckpointError, match=r"missing \['D'\]"):
        sg.load(path, like={"G": small.state_dict(), "D": {}})
    with pytest.raises(nn.StateDictError, match=r"'weight' has the wrong shape: expected \(5, 3\), received \(4, 3\)"):
        big.load_state_dict(sg.load(path)["G"])


def test_unsupported_leaf_is_named(tmp_path):
    with pytest.raises(TypeError, match="cannot store object under key 'a/b'"):
        sg.save({"a": {"b": object()}}, tmp_path / "x.npz")


def _make(seed):
    gen = np.random.default_rng(seed)
    model = nn.Sequential(nn.Linear(3, 16, generator=gen), nn.BatchNorm1d(16), nn.LeakyReLU(0.2),
                          nn.Dropout(0.3, generator=seed + 1), nn.Linear(16, 1, generator=gen))
    opt = optim.Adam(model.parameters(), lr=1e-2, betas=(0.5, 0.999))
    return model, opt, gen


def _train(model, opt, gen, steps):
    for _ in range(steps):
        x = sg.tensor(gen.standard_normal((32, 3), dtype=np.float32))
        loss = nn.functional.binary_cross_entropy_with_logits(model(x), (x.data[:, :1] > 0).astype(np.float32))
        opt.zero_grad()
        loss.backward()
        opt.step()


def test_save_load_continue_is_bit_identical(tmp_path):
    model, opt, gen = _make(0)
    _train(model, opt, gen, 5)
    path = tmp_path / "ck.npz"
    sg.save({"model": model.state_dict(), "opt": opt.state_dict(), "rng": gen,
             "dropout_rng": model[3].generator}, path)
    _train(model, opt, gen, 5)
    reference = [p.data.copy() for p in model.parameters()]

    model2, opt2, _ = _make(123)  # different initial weights
    st = sg.load(path, like={"model": model2.state_dict(), "rng": None, "dropout_rng": None})
    model2.load_state_dict(st["model"])
    opt2.load_state_dict(st["opt"])
    model2[3].generator = st["dropout_rng"]
    _train(model2, opt2, st["rng"], 5)
    for a, b in zip(reference, model2.parameters()):
        np.testing.assert_array_equal(a, b.data)


def test_atomic_write_in_text_mode_and_its_mode_check(tmp_path):
    from scratchgen.checkpoint import atomic_write

    path = tmp_path / "m.json"
    with atomic_write(path, "w") as f:
        f.write('{"a": 1}')
        assert not path.exists()  # nothing at path until the block ends
    assert path.read_text() == '{"a": 1}'
    umask = os.umask(0o022)
    try:
        with atomic_write(path, "w") as f:
            f.write("{}")
    finally:
        os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o644  # as open() would make it, not mkstemp's 0600
    with atomic_write(path, "w") as f:
        f.write('{"a": 1}')
    with pytest.raises(RuntimeError, match="inside the block"):
        with atomic_write(path, "w") as f:
            f.write("half")
            raise RuntimeError("an error inside the block")
    assert path.read_text() == '{"a": 1}' and os.listdir(tmp_path) == ["m.json"]
    with pytest.raises(ValueError, match="atomic_write: mode must be 'wb' or 'w', got 'a'"):
        with atomic_write(path, "a"):
            pass


# ---------------------------------------------------------------------------
# Documented contracts, one by one
# ---------------------------------------------------------------------------
def test_lists_and_tuples_keep_their_type_and_a_host_generator_its_stream(tmp_path):
    gen = sg.rng(11)
    gen.standard_normal(5)
    path = tmp_path / "ck.npz"
    sg.save({"l": [1, (2.0, "x")], "t": (np.zeros(2), [None]), "g": gen}, path)
    out = sg.load(path)
    assert out["l"] == [1, (2.0, "x")] and isinstance(out["l"][1], tuple)
    assert isinstance(out["t"], tuple) and isinstance(out["t"][1], list)
    assert isinstance(out["g"], np.random.Generator)
    np.testing.assert_array_equal(out["g"].standard_normal(4), gen.standard_normal(4))


def test_every_array_is_stored_under_its_path_in_the_structure(tmp_path):
    path = tmp_path / "ck.npz"
    sg.save({"G": {"0.weight": np.ones((2, 2))}, "opt": [np.zeros(3)]}, path)
    with np.load(path) as z:
        assert sorted(z.files) == ["G/0.weight", "__scratchgen__", "opt/0"]


def test_save_refuses_colliding_keys_bad_dict_keys_and_non_numeric_arrays(tmp_path):
    with pytest.raises(ValueError, match="save: two arrays would be stored under the key 'a/b'"):
        sg.save({"a": {"b": np.ones(1)}, "a/b": np.ones(1)}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match=r"save: dict keys must be str or int, received 1.5 under 'm'"):
        sg.save({"m": {1.5: 0}}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match="save: dict keys must be str or int, received True"):
        sg.save({True: 0}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match="save: key 'names' holds an array of dtype <U1; only numeric arrays are saved"):
        sg.save({"names": np.array(["a", "b"])}, tmp_path / "x.npz")
    assert not (tmp_path / "x.npz").exists()


def test_load_names_a_single_npy_an_unknown_version_and_a_template_of_another_length(tmp_path):
    npy = tmp_path / "a.npy"
    np.save(npy, np.ones(3))
    with pytest.raises(CheckpointError, match="is a single .npy array, not a scratchgen checkpoint"):
        sg.load(npy)
    path = tmp_path / "ck.npz"
    sg.save({"opt": [np.zeros(2), np.ones(2)], "extra": 1}, path)
    # the template may describe part of the file (no "extra" here)
    assert sg.load(path, like={"opt": [np.zeros(2), np.zeros(2)]})["extra"] == 1
    with pytest.raises(CheckpointError, match=r"ck.npz'.*key 'opt' holds 2 items, expected 3"):
        sg.load(path, like={"opt": [np.zeros(2)] * 3})
    # an index from a future format version
    import json
    import zipfile

    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(bytes(arrays["__scratchgen__"]).decode())
    meta["version"] = 99
    arrays["__scratchgen__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(path, **arrays)
    assert zipfile.is_zipfile(path)
    with pytest.raises(CheckpointError, match="format version 99, expected 1"):
        sg.load(path)


def test_saving_into_a_missing_folder_names_the_folder_not_a_temporary_file(tmp_path):
    missing = tmp_path / "no" / "such"
    with pytest.raises(FileNotFoundError, match=r"its folder .*no/such' does not exist") as e:
        sg.save({"a": np.zeros(2)}, str(missing / "c.npz"))
    assert ".tmp" not in str(e.value)
    assert not (tmp_path / "no").exists()  # nothing created
