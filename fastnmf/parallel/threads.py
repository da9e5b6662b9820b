"""How many threads each piece of a fit gets: one module decides it all.

``n_threads`` is resolved once (:func:`resolve_n_threads`) and the same number goes to our
kernels and, through threadpoolctl (:func:`blas_threads`), to BLAS, so the two never
oversubscribe.  Where the work goes (the thresholds are in :mod:`fastnmf.parallel.config`):

- dense X, cd: fused passes over X on OpenMP threads, one-thread BLAS calls inside them
  (:func:`fused_pass_threads`);
- dense X, hals/ehals: fastnmf's pool (:mod:`fastnmf.parallel.pool`), one BLAS thread per
  worker (:func:`use_row_threads`);
- dense X, other solvers: BLAS gets the threads, row kernels one unless a call is large
  (:func:`thread_plan`, :func:`kernel_threads`);
- sparse X: our OpenMP kernels get every thread, BLAS one (:func:`thread_plan`), except
  small Frobenius fits, which run on one (:func:`fit_threads`);
- several ``n_init`` runs: side by side, one per thread (:func:`parallel_runs`).
"""

import contextlib
import numbers
import os

import numpy as np
import scipy.sparse as sp
from threadpoolctl import ThreadpoolController

from .config import CONFIG


def usable_cores():
    """Cores this process may run on (CPU affinity aware)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def resolve_n_threads(n_threads):
    """``None`` or ``-1`` -> all usable cores; a positive int -> itself."""
    if n_threads is None:
        return usable_cores()
    if isinstance(n_threads, bool) or not isinstance(n_threads, numbers.Integral):
        raise TypeError(
            f"n_threads must be None, -1 or a positive int; got {n_threads!r}"
        )
    n_threads = int(n_threads)
    if n_threads == -1:
        return usable_cores()
    if n_threads < 1:
        raise ValueError(f"n_threads must be None, -1 or a positive int; got {n_threads!r}")
    return n_threads


def fit_threads(X, k, beta, n_threads):
    """The threads a fit of rank ``k`` on X uses out of ``n_threads``: one for a small
    Frobenius fit on sparse X (:attr:`~fastnmf.parallel.config.ParallelConfig.small_sparse_work`;
    the KL loss costs several times more per nonzero, and keeps every thread)."""
    if n_threads > 1 and beta == 2 and sp.issparse(X):
        m, n = X.shape
        if 2 * X.nnz * k + (m + n) * k * k < CONFIG.small_sparse_work:
            return 1
    return n_threads


def thread_plan(X, n_threads):
    """``(blas_threads, parallel_kernels)`` for a fit on X with ``n_threads``.

    Dense X: the BLAS products dominate and get every thread; our kernels go parallel only
    for large calls (:func:`kernel_threads`).  (hals and ehals run on fastnmf's pool instead,
    :func:`use_row_threads`, and cd's fused passes on OpenMP threads with one-thread BLAS
    calls, :func:`fused_pass_threads`.)  Sparse X: the products are our own OpenMP kernels,
    so every kernel gets every thread and BLAS (only the k x k Gram matrices) runs on one,
    which keeps the two thread pools from spinning against each other (measured on 2 cores,
    100000x20000 with 2e6 nonzeros, rank 32: 79 ms per cd iteration against 153 ms with two
    BLAS threads and single-threaded sweeps).
    """
    if sp.issparse(X):
        return 1, True
    return n_threads, False


def kernel_threads(rows, k, n_threads, parallel=False):
    """Threads for a row kernel call over ``rows`` rows of ``k`` components."""
    return n_threads if parallel or rows * k * k >= CONFIG.kernel_parallel_min_work else 1


def online_threads(X, batch_size, k, n_threads):
    """Threads of an online fit (:class:`fastnmf.MiniBatchNMF`): ``(batch, factor)``.

    ``batch``: for the products and the W solve of one batch: all from
    :attr:`~fastnmf.parallel.config.ParallelConfig.fused_parallel_min_work` multiply-adds
    (dense: batch x n_features x k; sparse: the batch's share of the nonzeros times k),
    else one.  A 1024-row sparse batch is well under: two threads there made every kernel
    call wait for a descheduled peer on a busy machine (``X^T W`` of a 1024 x 20000 batch,
    k=20: 0.1 ms on one thread, 1.1 ms on two; a whole epoch of 100000 x 20000 three times
    slower).  ``factor``: for the sweeps and Gram of H (n_features x k), by
    :func:`kernel_threads`."""
    m, n = X.shape
    b = min(batch_size, m)
    if sp.issparse(X) or getattr(X, "sparse", False):
        nnz = X.nnz if sp.issparse(X) else X.stored_entries()
        work = nnz * b // max(m, 1) * k
    else:
        work = b * n * k
    batch = n_threads if work >= CONFIG.fused_parallel_min_work else 1
    return batch, kernel_threads(n, k, n_threads)


def fused_pass_threads(m, n, k, n_threads):
    """Threads of dense cd's fused pass (kernel ``hals_pass_dense``) over an m x n X at
    rank k (:attr:`~fastnmf.parallel.config.ParallelConfig.fused_parallel_min_work`)."""
    return n_threads if m * n * k >= CONFIG.fused_parallel_min_work else 1


def sweep_threads_with_blas(data):
    """Threads of the sweeps and extrapolations that run between BLAS products (ehals's
    extrapolation, the corrections of a fit with a few unknown entries): dense X, one (the
    products have BLAS's threads, and OpenMP workers spinning against them cost more than a
    second thread saves: 4000x3000, rank 32, 10% unknown, 77 ms an iteration against 96 ms);
    other forms, all (their products are our own kernels, BLAS runs on one)."""
    return 1 if data.kind == "dense" else data.n_threads


def beta_blas_threads(data):
    """BLAS threads of a multiplicative-update fit (mu, emu): on dense X with threads, one
    (its row groups run on fastnmf's pool, one BLAS thread each: threaded OpenBLAS on these
    thin products, between single-threaded NumPy steps, measured 1.7x slower on 2 cores than
    one thread, 3791 x 513 at k=12); otherwise None (as they are)."""
    return 1 if data.kind == "dense" and data.n_threads > 1 else None


def masked_threads(entries, n_threads):
    """Threads of a sweep over ``entries`` observed entries (fits with unknown entries)."""
    return n_threads if entries >= CONFIG.masked_parallel_min_entries else 1


def numba_layer_is_reentrant():
    """True when numba's threading layer accepts parallel kernels launched from several
    threads at once (omp, tbb); its 'workqueue' layer does not, and before the first
    parallel kernel has run the layer is not known yet."""
    import numba

    try:
        return numba.threading_layer() in ("omp", "tbb")
    except ValueError:
        return False


def use_row_threads(X, n_threads, beta, backend, solver):
    """Whether a fit runs on fastnmf's pool (:class:`fastnmf.parallel.pool.RowThreads`: our
    threads, one BLAS thread each) instead of BLAS's threads plus the kernels' own: the
    solvers with many sweeps per product ('hals', 'ehals') on dense X (on one thread too,
    where it runs inline, so that the factors do not depend on the thread count) (measured
    at 4000x3000, rank 32: hals's iteration 61 -> 50 ms; cd runs fused passes over X on
    OpenMP threads instead).  Not with numba's 'workqueue' threading layer, whose kernels
    must not be launched from several threads at once (nor before the first parallel kernel
    has told which layer numba uses)."""
    if beta != 2 or not isinstance(X, np.ndarray) or solver not in ("hals", "ehals"):
        return False  # (sparse X, or X read in chunks: its products are not split)
    if n_threads == 1:  # the same plan inline: the same products, so the same factors
        return True
    return backend != "numba" or numba_layer_is_reentrant()


def parallel_runs(n_runs, n_threads, backend, ordered_output):
    """How many of ``n_runs`` independent fits (``n_init``) to run at once (1: one after the
    other, each on every thread).

    One run per thread was faster than the runs in sequence on all threads for every
    solver and size measured (1.1x to 1.5x, digits up to dense 4000x3000 and sparse
    100000x20000; benchmarks/ninit.py): the solvers' sweeps scale sub-linearly with
    threads and their per-iteration Python and BLAS overheads overlap.  The extra memory
    is one set of factor-sized buffers per concurrent run, never X-sized.  Not with a
    callback, progress bar or log (``ordered_output``: their output would interleave), nor
    with numba's 'workqueue' layer.
    """
    if n_runs < 2 or n_threads < 2 or ordered_output:
        return 1
    if backend == "numba" and not numba_layer_is_reentrant():
        return 1
    return min(n_threads, n_runs)


_controller = None


def _blas_controller():
    # Scanning the loaded libraries costs milliseconds: do it once per process
    # (BLAS libraries are loaded with NumPy/SciPy, before any fit runs).
    global _controller
    if _controller is None:
        _controller = ThreadpoolController()
    return _controller


@contextlib.contextmanager
def blas_threads(n_threads):
    """Limit BLAS to ``n_threads`` while our kernels use the same number."""
    with _blas_controller().limit(limits=n_threads, user_api="blas"):
        yield
