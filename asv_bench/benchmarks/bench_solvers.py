"""The Frobenius solvers side by side: hals (the default), cd, als, pgd, mu.

Dense data of ``bench_dense`` (seeded low rank plus noise, 2000x1500, rank 16), the same
nndsvda start for every solver (``init='custom'``).  ``time_fit_20``: a fit of 20 iterations;
``track_loss_after_20``: the objective it reaches, which tracks both how much a solver does per
iteration and numerical regressions.  Time to a common loss, next to scikit-learn, is
``benchmarks/compare_solvers.py``'s job.  ``setup`` runs a short fit first, so JIT compiling
or cache loading is never timed.
"""

import warnings

import fastnmf

from .bench_dense import BACKENDS, DTYPES, RANK, _n_threads, _require, make_data

SOLVERS = ["hals", "cd", "als", "pgd", "mu"]
ITERS = 20


class SolverFit:
    params = (BACKENDS, SOLVERS, DTYPES)
    param_names = ["backend", "solver", "dtype"]
    timeout = 300

    def setup(self, backend, solver, dtype):
        _require(backend)
        self.X, self.W0, self.H0 = make_data(dtype)
        self.n_threads = _n_threads("all")
        self._fit(backend, solver, 2)

    def _fit(self, backend, solver, max_iter):
        model = fastnmf.NMF(RANK, init="custom", solver=solver, max_iter=max_iter, tol=0.0,
                            backend=backend, n_threads=self.n_threads)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit_transform(self.X, W=self.W0, H=self.H0)
        return model

    def time_fit_20(self, backend, solver, dtype):
        self._fit(backend, solver, ITERS)

    def track_loss_after_20(self, backend, solver, dtype):
        return float(self._fit(backend, solver, ITERS).loss_history_[-1])

    track_loss_after_20.unit = "0.5 ||X - WH||^2"
