"""Evaluation metrics: mode coverage (``modes``)."""
from .modes import ModeCoverage, mode_coverage
