"""``scratchgen course``: the teaching kit's exercises, student workspaces and grading.

    scratchgen course list                                   # the exercises by topic
    scratchgen course new HW --exercises all                 # a student workspace (stubs, tests, README)
    scratchgen course new KEY --exercises all --solutions    # the instructor's key
    scratchgen course grade HW                               # a table: exercise, tests passed, points
    scratchgen course grade HW --json                        # for a course system
"""
from __future__ import annotations

import argparse
import json

from .common import UsageError

__all__ = ["add_course_command"]


def add_course_command(top):
    """Add ``scratchgen course list|new|grade``."""
    p = top.add_parser("course", help="exercises cut from the library, graded by its property tests",
                       description="The teaching kit: exercises whose reference bodies are solution regions of the "
                                   "library, graded by the library's property tests (see docs/teaching.md).")
    sub = p.add_subparsers(dest="course_command", required=True, metavar="COMMAND")
    lst = sub.add_parser("list", help="list the exercises by topic, with difficulty and dependencies")
    lst.add_argument("--json", action="store_true", help="print the list as JSON")
    lst.set_defaults(func=_run_list)
    new = sub.add_parser("new", help="write a student workspace", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                         description="Write DIR with one module per exercise (signature and docstring, the body "
                                     "replaced by `raise NotImplementedError`), its tests, a README and course.json.")
    new.add_argument("dir", metavar="DIR", help="the workspace directory (new or empty)")
    new.add_argument("--exercises", required=True, metavar="NAMES", nargs="+",
                     help="'all' or exercise names, separated by spaces or commas (scratchgen course list)")
    new.add_argument("--solutions", action="store_true", help="write the reference bodies (the instructor's key)")
    new.add_argument("--force", action="store_true", help="overwrite the workspace's files in a non-empty DIR")
    new.set_defaults(func=_run_new)
    g = sub.add_parser("grade", help="grade a workspace", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                       description="Run each exercise's property tests against the functions in DIR (the rest of the "
                                   "library is the reference) and print a table: exercise, tests passed, points; then "
                                   "each failure in your terms, with the smallest input hypothesis found.")
    g.add_argument("dir", metavar="DIR", help="a workspace made by `scratchgen course new`")
    g.add_argument("--exercises", default=None, metavar="NAMES", nargs="+",
                   help="grade only these (separated by spaces or commas)")
    g.add_argument("--json", action="store_true", help="print the grades as JSON")
    g.add_argument("--timeout", type=float, default=60.0, help="seconds per exercise (0: no limit)")
    g.add_argument("--max-examples", type=int, default=20, help="hypothesis examples per property")
    g.add_argument("--no-shrink", action="store_true", help="show the first failing input, not a minimal one (faster)")
    g.set_defaults(func=_run_grade)
    return p


def _run_list(args):
    from ..course import EXERCISES, TOPICS

    if args.json:
        print(json.dumps([{"name": e.name, "topic": e.topic, "title": e.title, "difficulty": e.difficulty,
                           "functions": list(e.functions), "depends": list(e.depends), "tests": e.test_labels,
                           "points": e.points} for e in EXERCISES.values()], indent=1))
        return
    w = max(len(n) for n in EXERCISES)
    for topic in TOPICS:
        print(f"{topic}:")
        for e in (e for e in EXERCISES.values() if e.topic == topic):
            print(f"  {e.name:<{w}}  {'*' * e.difficulty:<3}  {e.title}")
            print(f"  {'':<{w}}       implement: {', '.join(r.qualname for r in e.refs)}"
                  + (f"; builds on: {', '.join(e.depends)}" if e.depends else ""))


def _run_new(args):
    from ..course import new_workspace

    try:
        names = new_workspace(args.dir, ",".join(args.exercises), solutions=args.solutions, force=args.force)
    except (KeyError, ValueError, FileExistsError) as e:
        raise UsageError(str(e).strip("'\"")) from None
    kind = "the reference bodies" if args.solutions else "stubs to implement"
    print(f"{args.dir}: {len(names)} exercises ({kind}): {', '.join(names)}")
    print(f"grade with: scratchgen course grade {args.dir}")


def _run_grade(args):
    from ..course import grade

    if args.max_examples < 1:
        raise UsageError(f"--max-examples must be >= 1, got {args.max_examples}")
    if args.timeout < 0:
        raise UsageError(f"--timeout must be >= 0 seconds, got {args.timeout}")
    try:
        report = grade(args.dir, exercises=args.exercises and ",".join(args.exercises), timeout=args.timeout, max_examples=args.max_examples,
                       shrink=not args.no_shrink)
    except (KeyError, ValueError, FileNotFoundError) as e:
        raise UsageError(str(e).strip("'\"")) from None
    print(report.to_json() if args.json else report.table())
