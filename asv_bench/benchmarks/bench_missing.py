"""Missing values and rank selection.

* ``MaskedSparse``: ``missing='unobserved'`` on ``benchmarks/compare.py``'s sparse
  100000x20000 data with 2e6 stored entries (rows and columns without one dropped: they
  cannot be fitted when absent means unknown), rank 32, nndsvda start; ``solver='cd'``.
* ``DenseNaN``: ``compare.py``'s dense 4000x3000 data with 10% of the entries set to NaN
  (seeded), rank 32, nndsvda start of the complete data; ``solver='cd'``.
* ``SelectRank``: ``fastnmf.select_rank`` (cv) on a dense 400x300 matrix of rank 6 plus
  Gaussian noise, ranks 2..10, two hold-outs.

Data and starts are made once per ``asv run`` (``setup_cache``); ``setup`` warms the backend
up (JIT compiling or cache loading is never timed); all usable cores.
``benchmarks/missing.py`` compares with the ordinary fits and with scikit-learn.
"""

import numpy as np

from ._common import BACKENDS, DTYPES, WARMUP_ITERS, build_cases, fit, load_case, require, \
    script_module

RANK = 32
ITERS = 10


def _sparse_x64():
    C = script_module("compare")
    X = C.make_sparse_data((100000, 20000), 2_000_000)
    X = X[np.diff(X.indptr) > 0][:, np.bincount(X.indices, minlength=X.shape[1]) > 0].tocsr()
    X.sort_indices()
    return X


def _as_dtype(X64, dtype):
    if hasattr(X64, "tocsr"):
        X = X64.astype(dtype)
        X.has_canonical_format = True
        return X
    return np.ascontiguousarray(X64, dtype=dtype)


class MaskedSparse:
    """Masked coordinate descent over the stored entries of a sparse X."""

    params = [BACKENDS, DTYPES]
    param_names = ["backend", "dtype"]
    timeout = 300
    number = 1
    repeat = (2, 5, 10.0)
    warmup_time = 0

    def setup_cache(self):
        return build_cases(_sparse_x64, RANK, _as_dtype)

    setup_cache.timeout = 600

    def setup(self, paths, backend, dtype):
        require(backend)
        self.X, self.W0, self.H0 = load_case(paths[dtype])
        self._fit(backend, WARMUP_ITERS)

    def _fit(self, backend, max_iter):
        return fit(self.X, self.W0, self.H0, backend=backend, solver="cd", threads="all",
                   max_iter=max_iter, tol=0.0, missing="unobserved")

    def time_fit(self, paths, backend, dtype):
        """A 10-iteration masked fit (the transposed copy of the pattern included)."""
        self._fit(backend, ITERS)

    def peakmem_fit(self, paths, backend, dtype):
        """Peak RSS of the process after setup and such a fit (X is ~23 MB in float64)."""
        self._fit(backend, ITERS)

    def track_loss_after_10(self, paths, backend, dtype):
        """The objective over the stored entries after 10 iterations."""
        return float(self._fit(backend, ITERS).loss_history_[-1])

    track_loss_after_10.unit = "objective"


class DenseNaN:
    """Coordinate descent on a dense X with 10% of its entries NaN (X with zeros there,
    corrected over them)."""

    params = [BACKENDS, DTYPES]
    param_names = ["backend", "dtype"]
    timeout = 300
    number = 1
    repeat = (2, 5, 10.0)
    warmup_time = 0

    def setup_cache(self):
        C = script_module("compare")

        def make():
            X = C.make_data((4000, 3000), RANK)
            X[np.random.default_rng(1).random(X.shape) < 0.1] = np.nan
            return X

        def start_of(X64, dtype):  # the start is made from the complete entries' stand-in
            return _as_dtype(X64, dtype)

        paths = build_cases(lambda: np.nan_to_num(make()), RANK, start_of)
        X = make()
        for dtype in DTYPES:
            np.save(paths[dtype] + "_Xnan.npy", _as_dtype(X, dtype))
        return paths

    setup_cache.timeout = 600

    def setup(self, paths, backend, dtype):
        require(backend)
        _, self.W0, self.H0 = load_case(paths[dtype])
        self.X = np.load(paths[dtype] + "_Xnan.npy")
        self._fit(backend, WARMUP_ITERS)

    def _fit(self, backend, max_iter):
        return fit(self.X, self.W0, self.H0, backend=backend, solver="cd", threads="all",
                   max_iter=max_iter, tol=0.0)

    def time_fit(self, paths, backend, dtype):
        """A 10-iteration fit of the entries that are not NaN."""
        self._fit(backend, ITERS)

    def track_loss_after_10(self, paths, backend, dtype):
        """The objective over the known entries after 10 iterations."""
        return float(self._fit(backend, ITERS).loss_history_[-1])

    track_loss_after_10.unit = "objective"


class SelectRank:
    """``select_rank`` by cross-validation, ranks 2..10."""

    params = [BACKENDS]
    param_names = ["backend"]
    timeout = 300
    number = 1
    repeat = (2, 3, 10.0)
    warmup_time = 0

    def setup(self, backend):
        require(backend)
        import fastnmf

        rng = np.random.default_rng(0)
        L = rng.random((400, 6)) @ rng.random((6, 300))
        self.X = np.abs(L + 0.1 * L.mean() * rng.standard_normal(L.shape))
        fastnmf.select_rank(self.X[:60, :40], [2, 3], n_repeats=1, random_state=0,
                            backend=backend, max_iter=WARMUP_ITERS)

    def _run(self, backend):
        import fastnmf

        return fastnmf.select_rank(self.X, range(2, 11), n_repeats=2, random_state=0,
                                   backend=backend)

    def time_select_rank(self, backend):
        """Nine ranks x two hold-outs, fits side by side on all cores."""
        self._run(backend)

    def track_best_rank(self, backend):
        """The rank chosen (the data have rank 6)."""
        return self._run(backend).best_rank

    track_best_rank.unit = "rank"
