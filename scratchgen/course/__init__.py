"""The teaching kit: exercises cut from the library's own solution regions, graded by its property tests.

``exercises`` (the registry), ``regions`` (reading ``### BEGIN/END SOLUTION`` in the library's source),
``workspace`` (``new_workspace``, ``load_student``), ``grading`` (``grade``), ``mutations`` (the catalogue of
plausible mistakes that the tests must catch). The command line is ``scratchgen course list|new|grade``.
"""
from .exercises import EXERCISES, TOPICS, Exercise, exercise, resolve
from .grading import ExerciseResult, GradeReport, TestResult, grade, grade_exercise
from .regions import FunctionRef, free_imports, function_source, solution_region
from .workspace import exercise_module_source, load_student, new_workspace, read_manifest
