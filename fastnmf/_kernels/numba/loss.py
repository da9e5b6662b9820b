"""Frobenius loss summed directly, block by block, without an m x n temporary."""

import numba
import numpy as np

from .. import ROW_BLOCK
from ._common import PARALLEL_JIT, dot8, partials, set_threads, sum_in_order


@numba.njit(**PARALLEL_JIT)
def _squared_residual(X, W, Ht, out):
    m, n = X.shape
    k = W.shape[1]
    for b in numba.prange(out.shape[0]):
        acc = 0.0
        for i in range(b * ROW_BLOCK, min(m, (b + 1) * ROW_BLOCK)):
            w = W[i]
            for j in range(n):
                r = X[i, j] - dot8(w, Ht[j], k)
                rr = np.float64(r)
                acc += rr * rr
        out[b] = acc
    return out


def squared_residual(X, W, Ht, n_threads):
    previous = set_threads(n_threads)
    try:
        out = _squared_residual(X, W, Ht, partials(X.shape[0]))
    finally:
        numba.set_num_threads(previous)
    return sum_in_order(out)
