"""KL-divergence benchmarks on sparse counts: cd (Newton coordinate descent) and mu.

Data: seeded Poisson counts from a rank-16 Gamma model, 20000x5000 with density 0.5% (about
5e5 nonzeros; ``make_count_data`` of ``benchmarks/compare_kl.py``, which states the issue's target
side by side with scikit-learn), float32 or float64 CSR.  Rank 16, nndsvda start computed once
in ``setup`` and passed as ``init='custom'``.  ``setup`` runs a short fit first, so JIT
compiling or cache loading is never timed.  A backend that is not available here makes its
benchmarks skip.
"""

import sys
import warnings
from pathlib import Path

import fastnmf
from fastnmf._init import initialize

from .bench_dense import BACKENDS, DTYPES, _n_threads, _require

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from compare_kl import make_count_data  # noqa: E402

SHAPE = (20000, 5000)
DENSITY = 0.005
RANK = 16
SOLVERS = ["cd", "mu"]
#: iterations per timed fit; the cd count is about what it needs to reach the loss of
#: scikit-learn's 200 mu iterations on these data (compare_kl.py measures it exactly).
ITERS = {"cd": 20, "mu": 20}

_DATA = {}


def _data(dtype):
    if dtype not in _DATA:
        X = make_count_data(SHAPE, DENSITY, rank=RANK).astype(dtype)
        W0, H0 = initialize(X, RANK, "nndsvda", 0)
        _DATA[dtype] = (X, W0, H0)
    return _DATA[dtype]


class KLFit:
    """fastnmf.NMF(beta_loss='kullback-leibler') on sparse counts, per backend, solver, dtype."""

    params = (BACKENDS, SOLVERS, DTYPES)
    param_names = ["backend", "solver", "dtype"]
    timeout = 300

    def setup(self, backend, solver, dtype):
        _require(backend)
        self.X, self.W0, self.H0 = _data(dtype)
        self.n_threads = _n_threads("all")
        self._fit(backend, solver, 2)

    def _fit(self, backend, solver, max_iter):
        model = fastnmf.NMF(RANK, init="custom", solver=solver, beta_loss="kullback-leibler",
                            max_iter=max_iter, tol=0.0, backend=backend, n_threads=self.n_threads)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit_transform(self.X, W=self.W0, H=self.H0)
        return model

    def time_fit(self, backend, solver, dtype):
        """A fit of ITERS[solver] iterations (validation, X^T copy, final error included)."""
        self._fit(backend, solver, ITERS[solver])

    def peakmem_fit(self, backend, solver, dtype):
        """Peak RSS of the process with such a fit (X is ~6 MB in float64)."""
        self._fit(backend, solver, ITERS[solver])

    def track_kl_after_20(self, backend, solver, dtype):
        """KL divergence after 20 iterations: a regression tracker of the solvers' progress."""
        return float(self._fit(backend, solver, 20).loss_history_[-1])

    track_kl_after_20.unit = "KL divergence"

