"""Frobenius loss summed directly, block by block, without an m x n temporary."""

import numba
import numpy as np

from ._common import JIT


def residual_block_rows(n):
    """Rows of W H formed per BLAS call: about 2**18 entries, a multiple of 64.

    Only the size of the scratch block: the result does not depend on it.
    """
    return max(64, ((1 << 18) // max(n, 1)) // 64 * 64)


@numba.njit(**JIT, inline="always")
def _row_sq_diff(x, p, n):
    """sum_j (x[j] - p[j])^2: differences in the array dtype, squares summed in
    float64 with 8 strided partial sums combined pairwise, then the tail (the
    order of the Cython twin)."""
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = 0.0
    j = 0
    while j + 8 <= n:
        d0 = np.float64(x[j] - p[j])
        d1 = np.float64(x[j + 1] - p[j + 1])
        d2 = np.float64(x[j + 2] - p[j + 2])
        d3 = np.float64(x[j + 3] - p[j + 3])
        d4 = np.float64(x[j + 4] - p[j + 4])
        d5 = np.float64(x[j + 5] - p[j + 5])
        d6 = np.float64(x[j + 6] - p[j + 6])
        d7 = np.float64(x[j + 7] - p[j + 7])
        a0 += d0 * d0
        a1 += d1 * d1
        a2 += d2 * d2
        a3 += d3 * d3
        a4 += d4 * d4
        a5 += d5 * d5
        a6 += d6 * d6
        a7 += d7 * d7
        j += 8
    s = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))
    while j < n:
        d0 = np.float64(x[j] - p[j])
        s += d0 * d0
        j += 1
    return s


@numba.njit(**JIT)
def _sum_sq_diff(X, P):
    total = 0.0
    for i in range(X.shape[0]):
        total += _row_sq_diff(X[i], P[i], X.shape[1])
    return total


def squared_residual(X, W, H, n_threads):
    # Blocks of W H come from NumPy's BLAS, the library of the solver's own
    # products (its threads are limited to n_threads by the caller); a second
    # BLAS would compete with the first one's spinning workers.
    m, n = X.shape
    block = min(residual_block_rows(n), m)
    buffer = np.empty((block, n), dtype=W.dtype)
    total = 0.0
    for start in range(0, m, block):
        rows = min(block, m - start)
        P = np.matmul(W[start:start + rows], H, out=buffer[:rows])
        total += _sum_sq_diff(X[start:start + rows], P)
    return float(total)
