"""Dense NMF benchmarks: per-iteration time, peak memory, a loss tracker, and first-call cost.

Data: a seeded non-negative rank-16 2000x1500 matrix plus noise, with scikit-learn's nndsvda
initialization computed once in ``setup`` and passed as ``init='custom'``, so every run starts
from the same W, H.  ``setup`` also runs one short fit, so Numba's JIT compile (or loading it from
the on-disk cache) is never inside a timing; first-call cost is measured on its own by
:class:`FirstCall`.  A backend that is not available here makes its benchmarks skip.
"""

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np

import fastnmf
from fastnmf._init import initialize
from fastnmf._threads import usable_cores

BACKENDS = ["cython", "numba"]
DTYPES = ["float32", "float64"]
THREADS = [1, "all"]
SHAPE = (2000, 1500)
RANK = 16
SEED = 0


def _require(backend):
    if backend not in fastnmf.available_backends():
        raise NotImplementedError(f"fastnmf backend {backend!r} is not available here")


def _n_threads(threads):
    return usable_cores() if threads == "all" else int(threads)


def make_data(dtype, shape=SHAPE, rank=RANK, seed=SEED):
    """Seeded non-negative low-rank-plus-noise matrix and its nndsvda (W0, H0)."""
    m, n = shape
    rng = np.random.default_rng(seed)
    X = rng.random((m, rank)) @ rng.random((rank, n))
    X += 0.1 * rng.random((m, n))
    X = np.ascontiguousarray(X, dtype=dtype)
    W0, H0 = initialize(X, rank, "nndsvda", seed)
    return X, W0, H0


class DenseFit:
    """fastnmf.NMF on dense data, per backend, dtype and thread count."""

    params = (BACKENDS, DTYPES, THREADS)
    param_names = ["backend", "dtype", "threads"]
    timeout = 300

    def setup(self, backend, dtype, threads):
        _require(backend)
        self.X, self.W0, self.H0 = make_data(dtype)
        self.n_threads = _n_threads(threads)
        # one short fit per solver: JIT compile / cache load and thread pools out of the timings
        self._fit(backend, "cd", 2)
        self._fit(backend, "mu", 2)

    def _fit(self, backend, solver, max_iter):
        model = fastnmf.NMF(RANK, init="custom", solver=solver, max_iter=max_iter, tol=0.0,
                            backend=backend, n_threads=self.n_threads)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit_transform(self.X, W=self.W0, H=self.H0)  # W0, H0 are copied, never modified
        return model

    def time_cd_iteration(self, backend, dtype, threads):
        """10 iterations of solver='cd' (the time is per 10 iterations, validation and the
        final reconstruction error included)."""
        self._fit(backend, "cd", 10)

    def time_mu_iteration(self, backend, dtype, threads):
        """10 iterations of solver='mu' (per 10 iterations, as time_cd_iteration)."""
        self._fit(backend, "mu", 10)

    def peakmem_cd_fit(self, backend, dtype, threads):
        """Peak RSS of the benchmark process with a 10-iteration cd fit (asv's peakmem covers the
        whole process: imports and setup included; X itself is 11 MB in float32, 23 MB in
        float64).  For the fit's own growth, see benchmarks/compare.py."""
        self._fit(backend, "cd", 10)

    def track_cd_loss(self, backend, dtype, threads):
        """Objective 0.5 ||X - WH||_F^2 after 20 cd iterations: a numerical regression tracker
        (must not depend on backend or threads beyond rounding)."""
        model = self._fit(backend, "cd", 20)
        return 0.5 * float(model.reconstruction_err_) ** 2

    track_cd_loss.unit = "objective"


_FIRST_FIT = (
    "import warnings; warnings.simplefilter('ignore'); import numpy as np, fastnmf; "
    "X = np.random.default_rng(0).random((300, 200)); "
    "fastnmf.NMF(8, init='nndsvda', max_iter=20, backend={backend!r}).fit(X)"
)


def _run_first_fit(backend):
    env = dict(os.environ)
    root = str(Path(fastnmf.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([root] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    subprocess.run([sys.executable, "-c", _FIRST_FIT.format(backend=backend)], check=True,
                   env=env, timeout=300, stdout=subprocess.DEVNULL)


class FirstCall:
    """A fresh interpreter: ``import fastnmf`` plus a first small fit with the numba backend.

    ``setup`` runs the same command once, so Numba's on-disk cache is warm and the time is what a
    user sees in every later process (loading compiled kernels, not compiling them).
    """

    timeout = 600
    number = 1
    repeat = 3
    warmup_time = 0
    backend = "numba"

    def setup(self):
        _require(self.backend)
        _run_first_fit(self.backend)

    def time_import_and_first_fit_numba(self):
        _run_first_fit("numba")


class FirstCallCython:
    """The same with the ahead-of-time compiled cython backend, for comparison."""

    timeout = 600
    number = 1
    repeat = 3
    warmup_time = 0

    def setup(self):
        _require("cython")
        _run_first_fit("cython")

    def time_import_and_first_fit_cython(self):
        _run_first_fit("cython")
