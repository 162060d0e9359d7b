"""Shared test settings: hypothesis profiles sized for a 2-core machine, one BLAS thread per worker.

Profiles: ``dev`` (default, also used by CI), ``thorough`` (many more examples).
Choose with ``HYPOTHESIS_PROFILE=thorough pytest``.

The default run spreads the tests over every core (pytest-xdist); each worker process pins its BLAS
to one thread (threadpoolctl), so that n workers run n threads, not n times OpenBLAS's default. Unpinned,
the fresh-clone run on 2 cores took 139 s instead of 93 s. Subprocesses that tests start are not
affected (the thread-count tests set their own environment).
"""
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from threadpoolctl import threadpool_limits

_BLAS_LIMIT = threadpool_limits(limits=1, user_api="blas")  # held for the life of the worker

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
