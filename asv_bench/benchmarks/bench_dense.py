"""Frobenius NMF on LARGE dense data: time, peak memory and final loss, per solver and thread count.

Data: ``benchmarks/compare.py``'s ``make_data``: a seeded (seed 0) non-negative rank-32
4000x3000 matrix plus uniform noise, converted to the benchmark's dtype (C order), rank 32.
Every fit starts from the same nndsvda start, ``fastnmf._init.initialize(X, 32, 'nndsvda', 0)``,
passed as ``init='custom'`` with ``W=``, ``H=``.  Data and start are made once per ``asv run``
in ``setup_cache`` (about 10 s) and loaded from ``.npy`` files by each benchmark.

``setup`` loads the case, then runs a 2-iteration fit with the benchmark's backend, solver and
thread count on the same X (default ``tol``), so Numba's JIT compile or cache load is never
inside a timing (and skips, with NotImplementedError, when the backend is not available here).

Three classes, because the full cross product (7 solvers x 2 backends x 2 dtypes x 2 thread
counts x 4 benchmarks, each in its own asv process) would take too long on a small machine:

- :class:`DenseSolvers`: solver x backend x dtype, all usable cores
  (``fastnmf.parallel.threads.usable_cores()``): fixed-length fits (time, loss, peak memory);
- :class:`DenseConvergence`: the same axes, a fit to convergence (without ``ehals``, which does
  not converge within 200 iterations on these data);
- :class:`DenseThreads`: backend x dtype x threads (1 and all usable cores), ``solver='auto'``
  (what users get; ``model.solver_`` says which solver that is).

Times are of a whole ``fit_transform`` call: validation, copies of W0 and H0, and the final
``reconstruction_err_`` (summed entry by entry) are included.
``benchmarks/compare.py`` and ``benchmarks/compare_solvers.py`` put the same data side by side
with scikit-learn.
"""

from ._common import (BACKENDS, CONVERGENCE_SOLVERS, DTYPES, SOLVERS, THREADS, FitCase,
                      build_cases, script_module)

SHAPE = (4000, 3000)
RANK = 32


class _DenseData(FitCase):
    timeout = 600

    def setup_cache(self):
        """X (float32 and float64) and its nndsvda start, written as .npy files."""
        C = script_module("compare")
        return build_cases(lambda: C.make_data(SHAPE, RANK), RANK, C.as_dtype)

    setup_cache.timeout = 900


class DenseSolvers(_DenseData):
    """Each Frobenius solver on dense 4000x3000, rank 32, all usable cores."""

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
        numerical regression tracker (equal across backends to rounding; how far a solver gets
        in 10 iterations)."""
        return float(self.fixed_fit().loss_history_[-1])

    track_loss.unit = "0.5 ||X - WH||^2"

    def peakmem_fixed_iterations(self, paths, solver, backend, dtype):
        """Peak RSS of the benchmark process after setup and a 10-iteration fit: the whole
        process (interpreter, imports, X: 48 MB in float32, 96 MB in float64, the warm-up fit),
        so a change in what a fit allocates shows up as a change here.  The fit's own growth is
        measured by benchmarks/compare.py."""
        self.fixed_fit()


class DenseConvergence(_DenseData):
    """Each Frobenius solver but ehals on dense 4000x3000, rank 32, all usable cores, run until
    it stops."""

    params = [CONVERGENCE_SOLVERS, BACKENDS, DTYPES]
    param_names = ["solver", "backend", "dtype"]

    def setup(self, paths, solver, backend, dtype):
        self.prepare(paths, backend, dtype, solver, "all")

    def time_to_convergence(self, paths, solver, backend, dtype):
        """One fit with the default tol=1e-4, until the solver's stopping rule ends it or
        MAX_ITER (200) iterations do."""
        self.converged_fit()


class DenseThreads(_DenseData):
    """solver='auto' on dense 4000x3000, rank 32, on 1 thread and on all usable cores."""

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
        """Peak RSS of the whole benchmark process after setup and a 10-iteration fit (see
        DenseSolvers.peakmem_fixed_iterations); per-thread buffers show up here."""
        self.fixed_fit()

