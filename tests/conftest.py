import os

import numpy as np
import pytest

from fastnmf._backends import BACKENDS, backend_status

REQUIRED = [b.strip() for b in os.environ.get("FASTNMF_REQUIRE_BACKENDS", "").split(",") if b.strip()]
COMPILED = ["cython", "numba"]


def _use(name):
    reason = backend_status()[name]
    if reason is not None:
        if name in REQUIRED:
            pytest.fail(f"backend {name!r} is required (FASTNMF_REQUIRE_BACKENDS) but unavailable: {reason}")
        pytest.skip(f"backend {name!r} unavailable: {reason}")
    return name


@pytest.fixture(params=BACKENDS)
def backend(request):
    """Every backend, the NumPy reference included."""
    return _use(request.param)


@pytest.fixture(params=COMPILED)
def compiled_backend(request):
    """The compiled backends, checked against the reference."""
    return _use(request.param)


@pytest.fixture(params=[np.float64, np.float32], ids=["float64", "float32"])
def dtype(request):
    return request.param


def rtol_for(dtype):
    return 1e-10 if dtype == np.float64 else 1e-4


def low_rank(m, n, r, seed=0, noise=0.01, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.random((m, r)) @ rng.random((r, n)) + noise * rng.random((m, n))
    return X.astype(dtype)
