"""Slow, obviously correct NumPy versions of every kernel (backend ``"numpy"``).

Each function follows the contract in :mod:`fastnmf._kernels` literally: the
loop over components is explicit, and the rows (which are independent problems
given the Gram matrix and the cross product) are handled as NumPy vectors.
``n_threads`` is accepted and ignored.
"""

import numpy as np

from . import MU_EPS, ROW_BLOCK, row_chunks

__all__ = ["hals_sweep", "mu_update", "squared_residual", "csr_matmul", "csr_t_matmul"]


def hals_sweep(W, HHt, XHt, l1, l2, perm, n_threads):
    dt = W.dtype.type
    l1, l2 = dt(l1), dt(l2)
    violation = 0.0
    for t in perm:
        w = W[:, t]
        grad = W @ HHt[t] - XHt[:, t] + l1 + l2 * w
        # projected gradient: at a zero coordinate only a negative gradient counts
        pg = np.where(w == 0, np.minimum(grad, 0), grad)
        violation += float(np.abs(pg).sum(dtype=np.float64))
        hess = HHt[t, t] + l2
        if hess != 0:
            W[:, t] = np.maximum(w - grad / hess, 0)
    return violation


def mu_update(W, HHt, XHt, l1, l2, n_threads):
    dt = W.dtype.type
    denom = W @ HHt + dt(l1) + dt(l2) * W
    denom[denom == 0] = dt(MU_EPS)
    W *= XHt / denom


def squared_residual(X, W, H, n_threads):
    total = 0.0
    for start in range(0, X.shape[0], ROW_BLOCK):
        stop = start + ROW_BLOCK
        R = X[start:stop] - W[start:stop] @ H
        total += float(np.einsum("ij,ij->", R, R, dtype=np.float64))
    return total


def csr_matmul(data, indices, indptr, B, out, n_threads):
    for i in range(len(indptr) - 1):
        s, e = indptr[i], indptr[i + 1]
        out[i] = data[s:e] @ B[indices[s:e]]


def csr_t_matmul(data, indices, indptr, A, out, n_threads):
    bounds = row_chunks(indptr, n_threads)
    out[:] = 0
    for c in range(len(bounds) - 1):
        acc = np.zeros_like(out)
        for i in range(bounds[c], bounds[c + 1]):
            s, e = indptr[i], indptr[i + 1]
            np.add.at(acc, indices[s:e], data[s:e, None] * A[i])
        out += acc
