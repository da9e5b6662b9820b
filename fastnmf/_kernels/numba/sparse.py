"""Sparse (CSR) times dense products: the hot spot of every solver on sparse X."""

import numba
import numpy as np

from .. import ROW_BLOCK, row_chunks
from ._common import PARALLEL_JIT, set_threads


@numba.njit(**PARALLEL_JIT)
def _csr_matmul(data, indices, indptr, B, out):
    m, k = out.shape
    # blocks of ROW_BLOCK rows, each row summed in a scratch row of the block's own (a
    # fresh array: no aliasing with B for LLVM to check at every nonzero) and then
    # stored; measured, 100000 x 20000 with 2e6 nonzeros, rank 32: 10.7 ms against 12.0
    for blk in numba.prange((m + ROW_BLOCK - 1) // ROW_BLOCK):
        acc = np.empty(k, dtype=out.dtype)
        for i in range(blk * ROW_BLOCK, min(m, (blk + 1) * ROW_BLOCK)):
            for j in range(k):
                acc[j] = 0
            for p in range(indptr[i], indptr[i + 1]):
                v = data[p]
                c = np.intp(indices[p])
                for j in range(k):
                    acc[j] += v * B[c, j]
            for j in range(k):
                out[i, j] = acc[j]


@numba.njit(**PARALLEL_JIT)
def _csr_t_matmul(data, indices, indptr, A, out, bounds, scratch):
    n, k = out.shape
    n_chunks = bounds.shape[0] - 1
    # chunk 0 scatters into out, chunk c > 0 into scratch[c - 1]
    for c in numba.prange(n_chunks):
        acc = out if c == 0 else scratch[c - 1]
        acc[:] = 0
        for i in range(bounds[c], bounds[c + 1]):
            a = A[i]
            for p in range(indptr[i], indptr[i + 1]):
                v = data[p]
                o = acc[indices[p]]
                for j in range(k):
                    o[j] += v * a[j]
    # add the private accumulators in chunk order, in parallel over rows of out
    for r in numba.prange(n):
        o = out[r]
        for c in range(n_chunks - 1):
            s = scratch[c, r]
            for j in range(k):
                o[j] += s[j]


def csr_matmul(data, indices, indptr, B, out, n_threads):
    previous = set_threads(n_threads)
    try:
        _csr_matmul(data, indices, indptr, B, out)
    finally:
        numba.set_num_threads(previous)


def csr_t_matmul(data, indices, indptr, A, out, n_threads):
    bounds = row_chunks(indptr, n_threads)
    scratch = np.empty((len(bounds) - 2,) + out.shape, dtype=out.dtype)
    previous = set_threads(n_threads)
    try:
        _csr_t_matmul(data, indices, indptr, A, out, bounds, scratch)
    finally:
        numba.set_num_threads(previous)
