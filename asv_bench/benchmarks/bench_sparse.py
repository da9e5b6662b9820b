"""Sparse NMF benchmarks: per-iteration time, peak memory and a loss tracker on CSR input.

Data: a seeded count-like CSR matrix, 20000x5000 with 2e5 nonzeros (density 2e-3) at distinct
uniformly random positions, values ``1 + Poisson(u_i . v_j)`` with rank-8 Gamma(0.5, 1) factors
(so there is low-rank structure to find), int32 indices, canonical CSR, so fastnmf uses it without a
copy.  Rank 16.  The nndsvda initialization is computed once per ``setup`` and passed as
``init='custom'``, so every run starts from the same W, H.  ``setup`` also runs one short fit, so
Numba's JIT compile (or loading it from the on-disk cache) is never inside a timing.  A backend
that is not available here makes its benchmarks skip.  For scikit-learn side by side, see
``benchmarks/compare.py --sparse``.
"""

import warnings

import numpy as np
import scipy.sparse as sp

import fastnmf
from fastnmf._init import initialize

from .bench_dense import BACKENDS, DTYPES, THREADS, _n_threads, _require

SHAPE = (20000, 5000)
NNZ = 200_000
RANK = 16
SEED = 0


def make_sparse_data(dtype, shape=SHAPE, nnz=NNZ, rank=RANK, seed=SEED):
    """Seeded count-like canonical CSR matrix and its nndsvda (W0, H0)."""
    m, n = shape
    rng = np.random.default_rng(seed)
    flat = np.sort(rng.choice(m * n, size=nnz, replace=False))
    rows, cols = np.divmod(flat, n)
    u = rng.gamma(0.5, 1.0, size=(m, 8))
    v = rng.gamma(0.5, 1.0, size=(n, 8))
    data = 1.0 + rng.poisson(np.einsum("ij,ij->i", u[rows], v[cols]))
    indptr = np.zeros(m + 1, dtype=np.int32)
    np.cumsum(np.bincount(rows, minlength=m), out=indptr[1:])
    X = sp.csr_matrix((data.astype(dtype), cols.astype(np.int32), indptr), shape=(m, n))
    X.has_sorted_indices = True  # sorted, distinct positions: canonical
    X.has_canonical_format = True
    W0, H0 = initialize(X, rank, "nndsvda", seed)
    return X, W0.astype(dtype, copy=False), H0.astype(dtype, copy=False)


class SparseFit:
    """fastnmf.NMF(solver='cd') on sparse CSR data, per backend, dtype and thread count."""

    params = (BACKENDS, DTYPES, THREADS)
    param_names = ["backend", "dtype", "threads"]
    timeout = 300

    def setup(self, backend, dtype, threads):
        _require(backend)
        self.X, self.W0, self.H0 = make_sparse_data(dtype)
        self.n_threads = _n_threads(threads)
        # one short fit: JIT compile / cache load of the sparse kernels and thread pools out of
        # the timings
        self._fit(backend, 2)

    def _fit(self, backend, max_iter):
        model = fastnmf.NMF(RANK, init="custom", solver="cd", max_iter=max_iter, tol=0.0,
                            backend=backend, n_threads=self.n_threads)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit_transform(self.X, W=self.W0, H=self.H0)  # W0, H0 are copied, never modified
        return model

    def time_cd_iteration(self, backend, dtype, threads):
        """10 iterations of solver='cd' (the time is per 10 iterations, validation and the
        final reconstruction error included)."""
        self._fit(backend, 10)

    def peakmem_cd_fit(self, backend, dtype, threads):
        """Peak RSS of the benchmark process with a 10-iteration cd fit (the whole process:
        imports and setup included; X itself is 1.6 MB in float32, 2.4 MB in float64, data +
        indices + indptr).  For the fit's own growth, see benchmarks/compare.py --sparse."""
        self._fit(backend, 10)

    def track_cd_loss(self, backend, dtype, threads):
        """Objective 0.5 ||X - WH||_F^2 after 20 cd iterations: a numerical regression tracker
        (must not depend on backend or threads beyond rounding)."""
        model = self._fit(backend, 20)
        return 0.5 * float(model.reconstruction_err_) ** 2

    track_cd_loss.unit = "objective"
