"""Figures are written atomically: a failed or killed save leaves the old file (or none), never half of one."""
import os

import matplotlib
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from scratchgen.checkpoint import atomic_path, remove_partial_files  # noqa: E402
from scratchgen.viz import save_figure  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_save_figure_writes_a_png_and_leaves_no_temporary(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    save_figure(fig, tmp_path / "a.png", dpi=50)
    assert (tmp_path / "a.png").read_bytes()[:8] == PNG_MAGIC
    assert os.listdir(tmp_path) == ["a.png"]
    assert not plt.fignum_exists(fig.number)  # closed


def test_a_failing_save_keeps_the_old_file(tmp_path):
    (tmp_path / "a.png").write_bytes(b"old")
    fig, _ = plt.subplots()
    with pytest.raises(TypeError):
        save_figure(fig, tmp_path / "a.png", no_such_option=1)
    plt.close(fig)
    assert (tmp_path / "a.png").read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["a.png"]


def test_atomic_path_keeps_the_extension_and_replaces_only_on_success(tmp_path):
    target = tmp_path / "t.gif"
    with atomic_path(target) as tmp:
        assert tmp.endswith(".gif") and os.path.dirname(tmp) == str(tmp_path) and not target.exists()
        with open(tmp, "wb") as f:
            f.write(b"new")
    assert target.read_bytes() == b"new"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            with open(tmp, "wb") as f:
                f.write(b"half")
            raise RuntimeError("killed")
    assert target.read_bytes() == b"new" and os.listdir(tmp_path) == ["t.gif"]


def test_remove_partial_files_removes_only_the_temporaries_of_atomic_writes(tmp_path):
    keep = ["metrics.json", ".hidden", "notes.tmp", "x.tmp.gif"]  # not ours: no leading dot, or no .tmp
    ours = [".metrics.json.ab12cd.tmp", ".trajectory.gif.ab12cd.tmp.gif"]
    for name in keep + ours:
        (tmp_path / name).write_text("x")
    assert sorted(remove_partial_files(tmp_path)) == sorted(ours)
    assert sorted(os.listdir(tmp_path)) == sorted(keep)
