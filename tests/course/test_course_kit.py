"""The teaching kit tested as a course uses it (issue 25): a stub workspace scores 0 on every exercise, the
reference bodies score full marks, and every catalogued mistake loses points on its exercise with a readable
message. Graded in this process with 3 hypothesis examples (the grader's default is 20; see the slow test)."""
import json
import pathlib
import re

import pytest

from scratchgen.cli import main
from scratchgen.course import EXERCISES, grade, grade_exercise, new_workspace, solution_region
from scratchgen.course.mutations import MUTATIONS, apply_mutation, mutations_of

FAST = dict(max_examples=3, shrink=False)


@pytest.fixture(scope="module")
def key(tmp_path_factory):
    d = tmp_path_factory.mktemp("key")
    new_workspace(d, "all", solutions=True)
    return d


def test_a_new_workspace_of_every_exercise_scores_zero_on_each(tmp_path, capsys):
    assert main(["course", "new", str(tmp_path / "hw"), "--exercises", "all"]) == 0
    hw = tmp_path / "hw"
    assert sorted(p.name for p in hw.glob("test_*.py")) == sorted(f"test_{n}.py" for n in EXERCISES)
    assert "| `q_posterior.py` |" in (hw / "README.md").read_text()
    capsys.readouterr()
    assert main(["course", "grade", str(hw), "--json", "--max-examples", "3"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert len(report["exercises"]) == len(EXERCISES) >= 15
    assert report["points"] == 0 and report["max_points"] == 10 * len(EXERCISES)
    for e in report["exercises"]:
        assert e["passed"] == 0 and e["points"] == 0, e["name"]
        assert all(t["message"].startswith("not implemented yet") for t in e["tests"]), e["name"]


def test_the_reference_bodies_score_full_marks(key):
    report = grade(key, **FAST)
    assert [(e.name, e.passed) for e in report.exercises] == [(e.name, e.total) for e in report.exercises]
    assert report.points == report.max_points == 10 * len(EXERCISES)


def test_every_exercise_has_a_solution_region_and_two_catalogued_mistakes():
    for name, ex in EXERCISES.items():
        for ref in ex.refs:
            lines, b, e = solution_region(ref)
            assert lines[0].lstrip().startswith(f"def {ref.name}(") and b < e, ref
        assert len(mutations_of(name)) >= 2, name
    assert len({(m.exercise, m.name) for m in MUTATIONS}) == len(MUTATIONS)


@pytest.mark.parametrize("name", list(EXERCISES))
def test_each_catalogued_mistake_loses_points_with_a_readable_message(name, key, tmp_path):
    new_workspace(tmp_path, [name], solutions=True, force=True)
    for m in mutations_of(name):
        apply_mutation(tmp_path, m)
        r = grade_exercise(tmp_path, name, **FAST)
        assert r.points < r.max_points, f"mutation {name}/{m.name} ({m.description}) was not caught"
        for t in r.tests:
            if not t.passed:
                assert t.message.startswith(("your ", "the gradient of your rule")), (m.name, t.message)
                assert "\n" not in t.message and len(t.message) < 400, (m.name, t.message)


def test_a_failure_names_the_minimal_counterexample_and_the_identity(key, tmp_path):
    new_workspace(tmp_path, ["optimal_discriminator"], solutions=True, force=True)
    apply_mutation(tmp_path, next(m for m in MUTATIONS if m.name == "q_over_sum"))
    r = grade_exercise(tmp_path, "optimal_discriminator", max_examples=20, shrink=True)
    first = r.tests[0]
    assert not first.passed and r.points == 0
    assert first.message.startswith("your D*(x) at p = ") and "the optimum is p/(p+q) = " in first.message
    # hypothesis's own words: "Falsifying example:" up to 6.16x, "Failing test case:" since
    assert re.search(r"(Falsifying example|Failing test case): d_star_at\(\s*pq=", first.counterexample), \
        first.counterexample
    # shrunk: two outcomes, the smallest support the strategy draws
    assert first.counterexample.count(",") <= 8, first.counterexample


def test_a_student_loop_that_never_ends_is_stopped_by_the_time_limit(tmp_path):
    new_workspace(tmp_path, ["softplus"])
    path = tmp_path / "softplus.py"
    path.write_text(path.read_text().replace('raise NotImplementedError("softplus: not implemented yet")',
                                             "while True:\n        pass"))
    r = grade_exercise(tmp_path, "softplus", timeout=0.3, **FAST)
    assert r.points == 0 and r.seconds < 5
    assert all("time limit" in t.message or "no time left" in t.message for t in r.tests), r.tests


def test_a_file_that_does_not_load_fails_every_test_with_the_reason(tmp_path):
    new_workspace(tmp_path, ["hinge"])
    (tmp_path / "hinge.py").write_text("def hinge_d_loss(:\n")
    r = grade_exercise(tmp_path, "hinge", **FAST)
    assert r.passed == 0 and "could not be loaded: SyntaxError" in r.tests[0].message


def test_the_workspace_tests_run_the_same_checks(key):
    import importlib.util

    spec = importlib.util.spec_from_file_location("course_key_test_q_sample", pathlib.Path(key) / "test_q_sample.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for label in module.EXERCISE.test_labels:
        module.test_q_sample(label)  # the reference passes; raises otherwise


def test_the_command_line_refuses_mistakes_with_one_line(tmp_path, capsys):
    (tmp_path / "x.txt").write_text("x")
    for argv, expected in [(["course", "new", str(tmp_path / "a"), "--exercises", "nope"], "unknown exercise 'nope'"),
                           (["course", "new", str(tmp_path), "--exercises", "all"], "is not empty"),
                           (["course", "grade", str(tmp_path)], "has no course.json")]:
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2
        assert expected in capsys.readouterr().err
    assert main(["course", "list"]) == 0
    out = capsys.readouterr().out
    assert "diffusion:" in out and "q_posterior" in out and "implement: kl_standard_normal, VAE.log_weights" in out


def test_exercises_are_named_with_spaces_or_commas(tmp_path, capsys):
    for i, names in enumerate([["q_sample", "hinge"], ["q_sample,hinge"], ["q_sample,", "hinge"]]):
        assert main(["course", "new", str(tmp_path / f"hw{i}"), "--exercises", *names]) == 0
        assert sorted(p.name for p in (tmp_path / f"hw{i}").glob("[!t]*.py")) == ["hinge.py", "q_sample.py"]
    capsys.readouterr()


@pytest.mark.slow
def test_with_the_graders_defaults_the_key_scores_full_and_every_mistake_is_caught(tmp_path):
    """The grader's own settings (20 examples, shrinking) on the key and on the whole catalogue."""
    new_workspace(tmp_path, "all", solutions=True)
    assert grade(tmp_path).points == 10 * len(EXERCISES)
    for m in MUTATIONS:
        apply_mutation(tmp_path, m)
        r = grade_exercise(tmp_path, m.exercise)
        assert r.points < r.max_points, m.name
        new_workspace(tmp_path, [m.exercise], solutions=True, force=True)
