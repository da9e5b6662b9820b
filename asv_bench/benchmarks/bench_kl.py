"""KL-divergence benchmarks on sparse counts: cd (Newton coordinate descent) and mu.

Data: ``benchmarks/compare_kl.py``'s ``make_count_data``: seeded Poisson counts from a rank-16
Gamma model, 20000x5000 with density 0.5% (about 5e5 nonzeros), float32 or float64 CSR; rank
16; the nndsvda start ``fastnmf._init.initialize(X, 16, 'nndsvda', 0)`` passed as
``init='custom'``.  Data and start are made once per ``asv run`` in ``setup_cache``.  ``setup``
runs a 2-iteration fit with the benchmark's backend and solver first, so JIT compiling or cache
loading is never timed; a backend that is not available here makes its benchmarks skip.  All
usable cores.  ``benchmarks/compare_kl.py`` compares with scikit-learn.
"""

from ._common import BACKENDS, DTYPES, WARMUP_ITERS, build_cases, fit, load_case, require, \
    script_module

SHAPE = (20000, 5000)
DENSITY = 0.005
RANK = 16
SOLVERS = ["cd", "mu"]
#: iterations per fit; about what cd needs to reach the loss of scikit-learn's 200 mu
#: iterations on these data (compare_kl.py measures it exactly)
ITERS = 20


def _as_dtype(X64, dtype):
    X = X64.astype(dtype)  # as compare_kl.py does
    X.has_canonical_format = True  # stacked from dense blocks: sorted, no duplicates
    return X


class KLFit:
    """fastnmf.NMF(beta_loss='kullback-leibler') on sparse counts, per backend, solver, dtype."""

    params = [BACKENDS, SOLVERS, DTYPES]
    param_names = ["backend", "solver", "dtype"]
    timeout = 300
    number = 1
    repeat = (2, 5, 10.0)
    warmup_time = 0

    def setup_cache(self):
        """X (CSR, float32 and float64) and its nndsvda start, written as .npy files."""
        K = script_module("compare_kl")
        return build_cases(lambda: K.make_count_data(SHAPE, DENSITY, rank=RANK), RANK, _as_dtype)

    setup_cache.timeout = 600

    def setup(self, paths, backend, solver, dtype):
        require(backend)
        self.X, self.W0, self.H0 = load_case(paths[dtype])
        self._fit(backend, solver, WARMUP_ITERS)

    def _fit(self, backend, solver, max_iter):
        return fit(self.X, self.W0, self.H0, backend=backend, solver=solver, threads="all",
                   max_iter=max_iter, tol=0.0, beta_loss="kullback-leibler")

    def time_fit(self, paths, backend, solver, dtype):
        """One fit of exactly ITERS (20) iterations, tol=0 (validation, the CSR copy of X^T,
        the final error included)."""
        self._fit(backend, solver, ITERS)

    def peakmem_fit(self, paths, backend, solver, dtype):
        """Peak RSS of the whole benchmark process after setup and such a fit (X is ~6 MB in
        float64)."""
        self._fit(backend, solver, ITERS)

    def track_kl_after_20(self, paths, backend, solver, dtype):
        """KL divergence D(X || WH) after 20 iterations (``loss_history_[-1]``): a regression
        tracker of the solvers' progress and of their numerics."""
        return float(self._fit(backend, solver, ITERS).loss_history_[-1])

    track_kl_after_20.unit = "KL divergence"
