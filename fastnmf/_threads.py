"""Thread-count resolution: one number for our kernels and for BLAS."""

import contextlib
import numbers
import os

from threadpoolctl import ThreadpoolController


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


#: A Frobenius fit on sparse X with fewer multiply-adds per iteration than this
#: (``2 nnz k + (m + n) k^2``: the two products and the sweeps) runs its kernels on one
#: thread.  Measured on 2 cores, whole default fits right after another library's fit
#: (whose OpenBLAS workers spin for about 0.1 s afterwards and take a core): a 300 x 3382
#: TF-IDF matrix at k=10 (8e5 per iteration) 0.127 s on two threads against 0.078 s on one;
#: 1000 x 5708 (1.8e6) the same on both; 700 x 765 with 1.8e5 nonzeros (3.6e6) 0.20 s on two
#: against 0.24 s on one.  (The KL loss costs several times more per nonzero: its fits keep
#: every thread.)
SMALL_SPARSE_WORK = 1 << 21


def fit_threads(X, k, beta, n_threads):
    """The threads a fit of rank ``k`` on X uses out of ``n_threads`` (see
    :data:`SMALL_SPARSE_WORK`)."""
    if n_threads > 1 and beta == 2 and hasattr(X, "nnz"):
        m, n = X.shape
        if 2 * X.nnz * k + (m + n) * k * k < SMALL_SPARSE_WORK:
            return 1
    return n_threads


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
