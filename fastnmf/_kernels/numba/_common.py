"""Numba options in one place, and the helpers shared by the numba kernels."""

import numba
import numpy as np

from .. import ROW_BLOCK

# No fastmath: it assumes no NaN/inf and lets results depend on vector width.
# Reductions use fixed 8-way partial sums instead, which vectorize without it.
JIT = dict(nogil=True, cache=True)
PARALLEL_JIT = dict(JIT, parallel=True)


@numba.njit(**JIT, inline="always")
def dot8(a, b, k):
    """Dot product of two length-k vectors with 8 fixed partial sums.

    The summation order (8 strided partials combined pairwise, then the tail)
    is the same in the Cython backend, and compilers may vectorize it without
    reassociating anything.
    """
    z = a.dtype.type(0)
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = z
    r = 0
    while r + 8 <= k:
        s0 += a[r] * b[r]
        s1 += a[r + 1] * b[r + 1]
        s2 += a[r + 2] * b[r + 2]
        s3 += a[r + 3] * b[r + 3]
        s4 += a[r + 4] * b[r + 4]
        s5 += a[r + 5] * b[r + 5]
        s6 += a[r + 6] * b[r + 6]
        s7 += a[r + 7] * b[r + 7]
        r += 8
    s = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
    while r < k:
        s += a[r] * b[r]
        r += 1
    return s


def n_row_blocks(m):
    return (m + ROW_BLOCK - 1) // ROW_BLOCK


def set_threads(n_threads):
    """Set numba's thread count, return the previous one (restore in ``finally``)."""
    previous = numba.get_num_threads()
    numba.set_num_threads(max(1, min(int(n_threads), numba.config.NUMBA_NUM_THREADS)))
    return previous


def partials(m):
    return np.zeros(n_row_blocks(m), dtype=np.float64)


def sum_in_order(block_partials):
    """Sum per-block partials sequentially, in block order (thread-count independent)."""
    return float(sum(block_partials.tolist()))
