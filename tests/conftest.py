"""Shared test settings: hypothesis profiles sized for a 2-core machine.

Profiles: ``dev`` (default, also used by CI), ``thorough`` (many more examples).
Choose with ``HYPOTHESIS_PROFILE=thorough pytest``.
"""
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "dev", max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "thorough", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture
def rng():
    return np.random.default_rng(0)
