"""Frobenius NMF on LARGE sparse data: time, peak memory and final loss, per solver and thread count.

Data: ``benchmarks/compare.py``'s ``make_sparse_data``: a seeded (seed 0) count-like CSR
matrix, 100000x20000 with 2e6 nonzeros at distinct uniformly random positions, values
``1 + Poisson(u_i . v_j)`` with rank-8 Gamma(0.5, 1) factors, int32 indices, canonical (so
fastnmf uses it without a copy), converted to the benchmark's dtype; rank 32.  Every fit starts
from the same nndsvda start, ``fastnmf._init.initialize(X, 32, 'nndsvda', 0)``, passed as
``init='custom'`` with ``W=``, ``H=``.  Data and start are made once per ``asv run`` in
``setup_cache`` and loaded from ``.npy`` files by each benchmark.

``setup`` loads the case, then runs a 2-iteration fit with the benchmark's backend, solver and
thread count on the same X (default ``tol``), so Numba's JIT compile or cache load is never
inside a timing (and skips, with NotImplementedError, when the backend is not available here).

Two classes, because the full cross product would take too long on a small machine:

- :class:`SparseSolvers`: solver x backend x dtype, all usable cores
  (``fastnmf.parallel.threads.usable_cores()``): fixed-length fits only.  Most solvers run 100 to 200
  iterations (up to 35 s per fit here) before the default ``tol`` stops them on these data,
  too long for 28 combinations;
- :class:`SparseThreads`: backend x dtype x threads (1 and all usable cores),
  ``solver='auto'`` (what users get; ``model.solver_`` says which solver that is), with the fit
  to convergence as well.

Times are of a whole ``fit_transform`` call: validation, the copies of W0 and H0 and the final
``reconstruction_err_`` are included.  ``benchmarks/compare.py --sparse`` and
``benchmarks/compare_solvers.py`` put the same data side by side with scikit-learn.
"""

from ._common import BACKENDS, DTYPES, SOLVERS, THREADS, FitCase, build_cases, script_module

SHAPE = (100_000, 20_000)
NNZ = 2_000_000
RANK = 32


class _SparseData(FitCase):
    timeout = 600

    def setup_cache(self):
        """X (CSR, float32 and float64) and its nndsvda start, written as .npy files."""
        C = script_module("compare")
        return build_cases(lambda: C.make_sparse_data(SHAPE, NNZ), RANK, C.as_dtype)

    setup_cache.timeout = 900


class SparseSolvers(_SparseData):
    """Each Frobenius solver on sparse 100000x20000 (2e6 nonzeros), rank 32, all usable cores."""

    params = [SOLVERS, BACKENDS, DTYPES]
    param_names = ["solver", "backend", "dtype"]

    def setup(self, paths, solver, backend, dtype):
        self.prepare(paths, backend, dtype, solver, "all")

    def time_fixed_iterations(self, paths, solver, backend, dtype):
        """One fit of exactly FIXED_ITERS (10) iterations (tol=0): seconds per 10 iterations,
        plus the fit's fixed cost."""
        self.fixed_fit()

    def track_loss(self, paths, solver, backend, dtype):
        """0.5 ||X - WH||_F^2 after FIXED_ITERS (10) iterations (``loss_history_[-1]``): a
        numerical regression tracker."""
        return float(self.fixed_fit().loss_history_[-1])

    track_loss.unit = "0.5 ||X - WH||^2"

    def peakmem_fixed_iterations(self, paths, solver, backend, dtype):
        """Peak RSS of the whole benchmark process after setup and a 10-iteration fit
        (interpreter, imports, X: 16 MB in float32, 24 MB in float64, data + indices + indptr,
        W0: 13 / 26 MB, the warm-up fit).  The fit's own growth is measured by
        benchmarks/compare.py --sparse."""
        self.fixed_fit()


class SparseThreads(_SparseData):
    """solver='auto' on sparse 100000x20000 (2e6 nonzeros), rank 32, 1 thread and all cores."""

    params = [BACKENDS, DTYPES, THREADS]
    param_names = ["backend", "dtype", "threads"]

    def setup(self, paths, backend, dtype, threads):
        self.prepare(paths, backend, dtype, "auto", threads)

    def time_fixed_iterations(self, paths, backend, dtype, threads):
        """One fit of exactly FIXED_ITERS (10) iterations (tol=0)."""
        self.fixed_fit()

    def time_to_convergence(self, paths, backend, dtype, threads):
        """One fit with the default tol=1e-4, at most MAX_ITER (200) iterations."""
        self.converged_fit()

    def peakmem_fixed_iterations(self, paths, backend, dtype, threads):
        """Peak RSS of the whole benchmark process after setup and a 10-iteration fit; the
        per-thread accumulator of X^T W shows up here."""
        self.fixed_fit()
