"""HALS / exact coordinate descent sweep (Cichocki & Phan 2009; scikit-learn's cd)."""

import numba
import numpy as np

from .. import ROW_BLOCK
from ._common import JIT, PARALLEL_JIT, dot8, partials, set_threads, sum_in_order


@numba.njit(**JIT, inline="always")
def _cd_update(w, ht, xt, l1, l2, hess, t, k):
    """One coordinate update of w[t] in place; returns |projected gradient| before it."""
    grad = dot8(w, ht, k) - xt + l1 + l2 * w[t]
    pg = grad
    # projected gradient: at a zero coordinate only a negative gradient counts
    # (written so that NaN propagates, like the reference)
    if w[t] == 0 and grad > 0:
        pg = w.dtype.type(0)
    if hess != 0:
        w_new = w[t] - grad / hess
        if w_new < 0:
            w_new = w.dtype.type(0)
        w[t] = w_new
    return abs(np.float64(pg))


@numba.njit(**PARALLEL_JIT)
def _hals_sweep(W, HHt, XHt, l1, l2, perm, out):
    m, k = W.shape
    for b in numba.prange(out.shape[0]):
        pg = np.empty(3 * k, dtype=np.float64)
        stop = min(m, (b + 1) * ROW_BLOCK)
        acc = 0.0
        i = b * ROW_BLOCK
        # Four rows at a time: each row's updates are one long dependency chain,
        # so interleaving independent rows lets the CPU overlap them.  Every row
        # sees exactly the operations of the one-row loop below, and |pg| is
        # added in row-major order (the order of the Cython twin).
        while i + 4 <= stop:
            w0, w1, w2, w3 = W[i], W[i + 1], W[i + 2], W[i + 3]
            for s in range(k):
                t = perm[s]
                ht = HHt[t]
                hess = HHt[t, t] + l2
                acc += _cd_update(w0, ht, XHt[i, t], l1, l2, hess, t, k)
                pg[s] = _cd_update(w1, ht, XHt[i + 1, t], l1, l2, hess, t, k)
                pg[k + s] = _cd_update(w2, ht, XHt[i + 2, t], l1, l2, hess, t, k)
                pg[2 * k + s] = _cd_update(w3, ht, XHt[i + 3, t], l1, l2, hess, t, k)
            for s in range(3 * k):
                acc += pg[s]
            i += 4
        while i < stop:
            w0 = W[i]
            for s in range(k):
                t = perm[s]
                acc += _cd_update(w0, HHt[t], XHt[i, t], l1, l2, HHt[t, t] + l2, t, k)
            i += 1
        out[b] = acc
    return out


def hals_sweep(W, HHt, XHt, l1, l2, perm, n_threads):
    dt = W.dtype.type
    previous = set_threads(n_threads)
    try:
        out = _hals_sweep(W, HHt, XHt, dt(l1), dt(l2), perm, partials(W.shape[0]))
    finally:
        numba.set_num_threads(previous)
    return sum_in_order(out)
