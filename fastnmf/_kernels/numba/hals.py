"""HALS / exact coordinate descent sweep (Cichocki & Phan 2009; scikit-learn's cd)."""

import numba

from .. import ROW_BLOCK
from ._common import PARALLEL_JIT, dot8, partials, set_threads, sum_in_order


@numba.njit(**PARALLEL_JIT)
def _hals_sweep(W, HHt, XHt, l1, l2, perm, out):
    m, k = W.shape
    for b in numba.prange(out.shape[0]):
        acc = 0.0
        for i in range(b * ROW_BLOCK, min(m, (b + 1) * ROW_BLOCK)):
            w = W[i]
            for s in range(k):
                t = perm[s]
                grad = dot8(w, HHt[t], k) - XHt[i, t] + l1 + l2 * w[t]
                # projected gradient: at a zero coordinate only a descent direction counts
                if w[t] == 0:
                    acc += abs(min(grad, 0))
                else:
                    acc += abs(grad)
                hess = HHt[t, t] + l2
                if hess != 0:
                    w[t] = max(w[t] - grad / hess, 0)
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
