"""Evaluation metrics: mode coverage (``modes``) and feature-based image metrics (``images``)."""
from .images import frechet_distance, gaussian_stats, inception_score, kid, precision_recall
from .modes import ModeCoverage, mode_coverage
