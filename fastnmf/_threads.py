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
