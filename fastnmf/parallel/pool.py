"""One thread pool for a Frobenius fit on dense X: our threads, one BLAS thread each.

With two thread pools in one fit, BLAS's for the products and OpenMP's for the sweeps, the
workers of each spin-wait after their work and take the cores from the other (measured on
2 cores, 4000x3000 rank 32: the products alone 26 ms; the products and 50 HALS sweeps 52
ms with one-thread sweeps, 58 ms with two-thread OpenMP sweeps).  So on dense X with more
than one thread, a hals or ehals fit (many sweeps per product) runs everything on one pool
of Python threads, whose idle workers block instead of spinning: the two products split into
contiguous chunks of rows of X (``X @ Ht``) and of columns of X (``W^T X``), each chunk one
single-threaded BLAS call; the sweeps and the extrapolation split into chunks of rows, each
a one-thread kernel call (all kernels release the GIL).  Same case: 42 ms, the products 25
ms.  (cd on dense X runs fused passes instead: :func:`fastnmf.solvers.frobenius.cd`.)

Caveat, measured: OpenBLAS's workers busy-wait for about a tenth of a second after a
multi-threaded call, and meanwhile halve the speed of the pool's single-threaded ones; so the
first iterations after BLAS work on all threads (the initialization, a previous fit's final
error) run slower, which costs about 20 ms per fit at 4000x3000.

Rows are independent problems in every row kernel, so the factors do not depend on the
chunking; chunks start at multiples of ``ROW_BLOCK`` and the sweeps' sums are kept per
block (kernel ``hals_sweep_blocks``) and added in block order, so they do not either.  The
products are split into chunks of a fixed size (``product_chunk`` rows or columns of X, :mod:`fastnmf.parallel.config`),
whatever the thread count, and hals/ehals use this plan on one thread too: BLAS rounds a
chunk of another size differently (its small-matrix paths; 1e-12 seen with chunks per
thread), so fixed chunks are what keeps the factors independent of the thread count.
"""

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .._kernels import ROW_BLOCK, n_row_blocks, run_hals_sweeps, sum_in_order
from .config import CONFIG

# The thresholds (a row kernel split from ``pool_min_kernel_work`` multiply-adds, the
# products from ``pool_min_product_work``, ``product_chunk`` rows or columns of X per chunk of
# a product, at most ``max_row_parts`` partial products) are in fastnmf.parallel.config.


def chunk_bounds(rows, n_chunks, align=ROW_BLOCK):
    """``n_chunks + 1`` boundaries splitting ``rows`` rows into contiguous chunks of about
    equal size, at multiples of ``align`` (fewer chunks when there are not enough rows)."""
    blocks = -(-rows // align)
    n_chunks = max(1, min(n_chunks, blocks))
    bounds = [min(rows, (c * blocks // n_chunks) * align) for c in range(n_chunks)]
    return bounds + [rows]


class RowThreads:
    """The pool (``n_threads`` workers) and how it splits work.  Get one with
    :func:`row_threads`: the pools are kept for the life of the process."""

    def __init__(self, n_threads):
        self.n_threads = n_threads
        self._pool = ThreadPoolExecutor(max_workers=n_threads, thread_name_prefix="fastnmf")

    def map_lanes(self, fn, bounds):
        """``fn(lo, hi)`` for every chunk, the chunks dealt in contiguous runs to
        ``n_threads`` lanes that run at once (the last lane on the calling thread)."""
        spans = list(zip(bounds[:-1], bounds[1:]))
        if not spans:
            return
        lanes = min(self.n_threads, len(spans))
        runs = [spans[j * len(spans) // lanes:(j + 1) * len(spans) // lanes] for j in range(lanes)]

        def run(j, _):
            for lo, hi in runs[j]:
                fn(lo, hi)

        self.map(run, list(range(lanes + 1)))

    def map(self, fn, bounds):
        """``[fn(lo, hi) for each chunk]``, the chunks run on the pool (the last one on
        the calling thread, which would otherwise wait)."""
        spans = list(zip(bounds[:-1], bounds[1:]))
        if len(spans) == 1:
            return [fn(*spans[0])]
        futures = [self._pool.submit(fn, lo, hi) for lo, hi in spans[:-1]]
        last = fn(*spans[-1])
        return [f.result() for f in futures] + [last]

    def close(self):
        self._pool.shutdown(wait=True)


_shared = {}
_shared_lock = threading.Lock()


def row_threads(n_threads):
    """The process's pool of ``n_threads`` workers, made on first use and then kept: a new
    thread's first BLAS call sets up OpenBLAS's buffers for it, which cost about 20 ms per
    fit at 4000x3000 when every fit made its own threads.  Fits running at the same time
    share it (each waits only for its own chunks).  A forked child makes its own (the
    parent's workers do not exist there)."""
    key = (os.getpid(), n_threads)
    with _shared_lock:
        pool = _shared.get(key)
        if pool is None:
            for old in [k for k in _shared if k[0] != key[0]]:
                del _shared[old]  # inherited through fork: unusable here
            pool = _shared[key] = RowThreads(n_threads)
        return pool


class PooledKernels:
    """A kernel registry whose row kernels run split over :class:`RowThreads`.

    The thread count passed to a row kernel is ignored: each chunk is a one-thread call.
    Every other kernel is the wrapped registry's.
    """

    def __init__(self, kernels, threads):
        self._kernels = kernels
        self.threads = threads

    def __getattr__(self, name):
        return getattr(self._kernels, name)

    def _bounds(self, F):
        rows, k = F.shape
        if rows * k * k < CONFIG.pool_min_kernel_work:
            return [0, rows]
        return chunk_bounds(rows, self.threads.n_threads)

    def hals_sweep_blocks(self, W, HHt, XHt, l1, l2, perm, viol_out, change_out, n_threads):
        kern = self._kernels

        def part(lo, hi):  # lo is a multiple of ROW_BLOCK: its blocks are W's blocks
            b0, b1 = lo // ROW_BLOCK, n_row_blocks(hi)
            kern.hals_sweep_blocks(W[lo:hi], HHt, XHt[lo:hi], l1, l2, perm,
                                   viol_out[b0:b1], change_out[b0:b1], 1)

        self.threads.map(part, self._bounds(W))

    def hals_sweeps(self, W, HHt, XHt, l1, l2, perm, budget, eps, viol_out, change_out,
                    n_threads):
        """One kernel call when W is not split; else the loop around the split sweeps (the
        same W and violation either way)."""
        if len(self._bounds(W)) == 2:
            return self._kernels.hals_sweeps(W, HHt, XHt, l1, l2, perm, budget, eps,
                                             viol_out, change_out, 1)
        return run_hals_sweeps(
            lambda: self.hals_sweep_blocks(W, HHt, XHt, l1, l2, perm, viol_out, change_out,
                                           n_threads),
            budget, eps, viol_out, change_out)

    def hals_sweep(self, W, HHt, XHt, l1, l2, perm, n_threads):
        """The per-block violations added in block order: the same number as one call."""
        n_blocks = n_row_blocks(W.shape[0])
        viol, change = np.empty(n_blocks), np.empty(n_blocks)
        self.hals_sweep_blocks(W, HHt, XHt, l1, l2, perm, viol, change, n_threads)
        return sum_in_order(viol)

    def extrapolate(self, F, F_prev, beta, n_threads):
        kern = self._kernels
        self.threads.map(lambda lo, hi: kern.extrapolate(F[lo:hi], F_prev[lo:hi], beta, 1),
                         self._bounds(F))


def product_bounds(size):
    """Chunk boundaries of a split product over ``size`` rows or columns of X: every
    ``product_chunk``, the same for every thread count."""
    return list(range(0, size, CONFIG.product_chunk)) + [size]


def narrow(X):
    """Whether ``W^T X`` is split by rows of X (partial k x n products summed in chunk order)
    instead of by columns: X with fewer than ``2 product_chunk`` columns (one chunk of
    columns would leave every thread but the caller idle) and at least as many rows."""
    limit = 2 * CONFIG.product_chunk
    return X.shape[1] < limit and X.shape[0] >= limit


def row_part_bounds(rows):
    """Chunk boundaries of a row-split ``W^T X``: multiples of ``product_chunk`` rows, at
    most ``max_row_parts`` chunks; they depend on ``rows`` only, not on the thread count, so
    neither does the sum of the partial products."""
    chunk = CONFIG.product_chunk
    step = chunk * max(1, -(-rows // (chunk * CONFIG.max_row_parts)))
    return list(range(0, rows, step)) + [rows]


def dense_products_split(X, k):
    """True when the products on dense X are big enough to split (``pool_min_product_work``)."""
    m, n = X.shape
    return m * n * k >= CONFIG.pool_min_product_work
