"""Multiplicative update for the Frobenius loss (Lee & Seung 2001)."""

import numba
import numpy as np

from .. import MU_EPS, ROW_BLOCK
from ._common import PARALLEL_JIT, n_row_blocks, set_threads


@numba.njit(**PARALLEL_JIT)
def _mu_update(W, HHt, XHt, l1, l2, eps, n_blocks):
    m, k = W.shape
    for b in numba.prange(n_blocks):
        denom = np.empty(k, dtype=W.dtype)
        for i in range(b * ROW_BLOCK, min(m, (b + 1) * ROW_BLOCK)):
            w = W[i]
            denom[:] = 0
            # denom = w @ HHt, as axpys over the rows of HHt (vectorizes over j)
            for r in range(k):
                wr = w[r]
                for j in range(k):
                    denom[j] += wr * HHt[r, j]
            for j in range(k):
                d = denom[j] + l1 + l2 * w[j]
                if d == 0:
                    d = eps
                w[j] = w[j] * (XHt[i, j] / d)


def mu_update(W, HHt, XHt, l1, l2, n_threads):
    dt = W.dtype.type
    previous = set_threads(n_threads)
    try:
        _mu_update(W, HHt, XHt, dt(l1), dt(l2), dt(MU_EPS), n_row_blocks(W.shape[0]))
    finally:
        numba.set_num_threads(previous)
