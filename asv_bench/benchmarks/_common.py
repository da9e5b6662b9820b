"""Helpers shared by the asv suites (no benchmarks here).

The data come from the generators of the side-by-side scripts in ``benchmarks/`` at the
repository root (``compare.py``'s ``make_data`` and ``make_sparse_data``, ``compare_kl.py``'s
``make_count_data``), so asv and those scripts measure the same matrices.  A suite generates its
data and the nndsvda start once, in asv's ``setup_cache`` (a separate process, run once per
``asv run`` for all parameter combinations of the classes that share it), and writes them as
``.npy`` files in asv's cache directory; each benchmark process then loads only the dtype it
needs (a fraction of a second), so no benchmark pays for generating data or for the SVD.
"""

import importlib
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp

import fastnmf
from fastnmf._init import initialize
from fastnmf.parallel.threads import usable_cores

BACKENDS = ["cython", "numba"]
DTYPES = ["float32", "float64"]
#: 1 thread, and every core this process may run on (``fastnmf.parallel.threads.usable_cores()``)
THREADS = [1, "all"]
#: the Frobenius solvers, and ``'auto'`` (what ``solver='auto'`` picks among them)
SOLVERS = ["cd", "hals", "ehals", "als", "pgd", "mu", "auto"]
#: the solvers timed to convergence: ehals is left out, it does not meet the default tol within
#: 200 iterations on the benchmark data (a 200-iteration fit, about 30 s per case here)
CONVERGENCE_SOLVERS = [s for s in SOLVERS if s != "ehals"]
#: iterations of the fixed-length fits (``tol=0``; the benchmarks' docstrings quote the value)
FIXED_ITERS = 10
#: ``max_iter`` of the fits to convergence (default ``tol=1e-4``; quoted in docstrings too)
MAX_ITER = 200
#: iterations of the warm-up fit every ``setup`` runs (JIT compile or cache load, thread pools)
WARMUP_ITERS = 2

_SCRIPTS = Path(__file__).resolve().parents[2] / "benchmarks"


def script_module(name):
    """Import ``benchmarks/<name>.py`` from the repository root without leaving that directory
    (or the repository root, which ``compare.py`` adds) on ``sys.path``."""
    saved = list(sys.path)
    sys.path.insert(0, str(_SCRIPTS))
    try:
        return importlib.import_module(name)
    finally:
        sys.path[:] = saved


def require(backend):
    """Skip (asv treats NotImplementedError in setup as a skip) if ``backend`` is missing."""
    if backend not in fastnmf.available_backends():
        raise NotImplementedError(f"fastnmf backend {backend!r} is not available here")


def n_threads(threads):
    return usable_cores() if threads == "all" else int(threads)


def fit(X, W0, H0, *, backend, solver, threads, max_iter, tol, **kw):
    """``fastnmf.NMF(...).fit_transform(X, W=W0, H=H0)`` from the given start; returns the model.

    W0 and H0 are copied by fastnmf, never modified, so every call starts from the same point.
    The ConvergenceWarning of a fit stopped by ``max_iter`` is silenced."""
    model = fastnmf.NMF(W0.shape[1], init="custom", solver=solver, max_iter=max_iter, tol=tol,
                        backend=backend, n_threads=n_threads(threads), **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit_transform(X, W=W0, H=H0)
    return model


# ------------------------------------------------------------------ data files in asv's cache
def save_case(directory, tag, X, W0, H0):
    """Write X (dense or CSR) and W0, H0 as .npy files; returns the absolute path prefix."""
    prefix = os.path.join(os.path.abspath(directory), tag)
    if sp.issparse(X):
        X = X.tocsr()
        np.save(prefix + "_data.npy", X.data)
        np.save(prefix + "_indices.npy", X.indices)
        np.save(prefix + "_indptr.npy", X.indptr)
        np.save(prefix + "_shape.npy", np.array(X.shape, dtype=np.int64))
    else:
        np.save(prefix + "_X.npy", X)
    np.save(prefix + "_W0.npy", W0)
    np.save(prefix + "_H0.npy", H0)
    return prefix


def load_case(prefix):
    """Read back what :func:`save_case` wrote: ``(X, W0, H0)``, sparse X as canonical CSR."""
    if os.path.exists(prefix + "_X.npy"):
        X = np.load(prefix + "_X.npy")
    else:
        shape = tuple(int(v) for v in np.load(prefix + "_shape.npy"))
        X = sp.csr_matrix((np.load(prefix + "_data.npy"), np.load(prefix + "_indices.npy"),
                           np.load(prefix + "_indptr.npy")), shape=shape)
        X.has_sorted_indices = True  # written from a canonical CSR matrix
        X.has_canonical_format = True
    return X, np.load(prefix + "_W0.npy"), np.load(prefix + "_H0.npy")


def build_cases(make_x64, rank, to_dtype):
    """For each dtype: X = ``to_dtype(make_x64(), dtype)`` and its nndsvda start
    ``initialize(X, rank, 'nndsvda', 0)``, written to the current directory (asv runs
    ``setup_cache`` in its cache directory).  Returns ``{dtype: path prefix}``."""
    X64 = make_x64()
    paths = {}
    for dtype in DTYPES:
        X = to_dtype(X64, dtype)
        W0, H0 = initialize(X, rank, "nndsvda", 0)
        paths[dtype] = save_case(".", f"{dtype}", X, W0, H0)
        del X, W0, H0
    return paths


class FitCase:
    """Mixin of the Frobenius suites: load one case and warm up; the fits the benchmarks run.

    ``prepare`` (called by each suite's ``setup``) skips a missing backend, loads X, W0, H0 of
    the dtype from asv's cache directory and runs a ``WARMUP_ITERS``-iteration fit with the
    benchmark's backend, solver and threads on the same X (with the default ``tol``, so the
    stopping test runs too), so Numba's JIT compile (or its on-disk cache load), the first touch
    of the Cython module and the start of the thread pools are never inside a timing.
    """

    number = 1  # one fit per sample: the fits are long enough to time one at a time
    repeat = (2, 5, 10.0)  # full runs: 2 to 5 samples, more only while under 10 s
    warmup_time = 0  # setup's warm-up fit is the warm-up

    def prepare(self, paths, backend, dtype, solver, threads):
        require(backend)
        self.X, self.W0, self.H0 = load_case(paths[dtype])
        self.backend, self.solver, self.threads = backend, solver, threads
        # with the default tol, so the stopping test's code is warm too
        fit(self.X, self.W0, self.H0, backend=backend, solver=solver, threads=threads,
            max_iter=WARMUP_ITERS, tol=1e-4)

    def fixed_fit(self, iters=FIXED_ITERS):
        """``iters`` iterations, ``tol=0`` (never stops early)."""
        return fit(self.X, self.W0, self.H0, backend=self.backend, solver=self.solver,
                   threads=self.threads, max_iter=iters, tol=0.0)

    def converged_fit(self):
        """The default ``tol=1e-4``, at most ``MAX_ITER`` iterations."""
        return fit(self.X, self.W0, self.H0, backend=self.backend, solver=self.solver,
                   threads=self.threads, max_iter=MAX_ITER, tol=1e-4)
