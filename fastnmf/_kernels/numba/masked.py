"""Coordinate descent with unknown entries: ``masked_hals_sweep`` (only the observed
entries; each row forms their residuals and updates them as each coordinate moves) and
``complement_hals_sweep`` (every entry but a few: the Gram-based step of ``hals_sweep``
corrected over the unknown ones).  See :mod:`fastnmf._kernels` for the contracts."""

import numba
import numpy as np

from .. import COMPLEMENT_HESS_RTOL, row_chunks
from ._common import JIT, PARALLEL_JIT, prefetch_row, set_threads

#: entries ahead whose rows of B are prefetched (the cython kernels' distance)
_AHEAD = 16


@numba.njit(**JIT, inline="always")
def _update_dot(r, gp, g, q, d):
    """``r -= d gp`` over the q entries, returning ``sum r g`` of the new r in 8 interleaved
    partials (p mod 8, every p) combined as ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
    (the cython kernels' ``fastnmf_update_dot`` and ``fastnmf_update_dot_rows4``: the same
    numbers).  Each ``g[p]`` is read after ``r[p]`` is written (``_finish`` passes r as g)."""
    q8 = q - q % 8
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
    for p in range(0, q8, 8):
        r0 = r[p] - d * gp[p]
        r1 = r[p + 1] - d * gp[p + 1]
        r2 = r[p + 2] - d * gp[p + 2]
        r3 = r[p + 3] - d * gp[p + 3]
        r4 = r[p + 4] - d * gp[p + 4]
        r5 = r[p + 5] - d * gp[p + 5]
        r6 = r[p + 6] - d * gp[p + 6]
        r7 = r[p + 7] - d * gp[p + 7]
        r[p] = r0
        r[p + 1] = r1
        r[p + 2] = r2
        r[p + 3] = r3
        r[p + 4] = r4
        r[p + 5] = r5
        r[p + 6] = r6
        r[p + 7] = r7
        s0 += r0 * g[p]
        s1 += r1 * g[p + 1]
        s2 += r2 * g[p + 2]
        s3 += r3 * g[p + 3]
        s4 += r4 * g[p + 4]
        s5 += r5 * g[p + 5]
        s6 += r6 * g[p + 6]
        s7 += r7 * g[p + 7]
    for p in range(q8, q):  # the last entries, into their partials too
        rp = r[p] - d * gp[p]
        r[p] = rp
        e = p - q8
        if e == 0:
            s0 += rp * g[p]
        elif e == 1:
            s1 += rp * g[p]
        elif e == 2:
            s2 += rp * g[p]
        elif e == 3:
            s3 += rp * g[p]
        elif e == 4:
            s4 += rp * g[p]
        elif e == 5:
            s5 += rp * g[p]
        else:
            s6 += rp * g[p]
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))


@numba.njit(**JIT, inline="always")
def _finish(r, gp, q, d):
    """The last step applied to r; returns ``sum r^2`` in ``_update_dot``'s partials and
    order (the cython kernels' ``fastnmf_square_rows4``: the same numbers):
    ``_update_dot`` with r as its own g, which reads each ``g[p]`` after writing ``r[p]``."""
    return _update_dot(r, gp, r, q, d)


@numba.njit(**JIT)
def _masked_row(G, a, q, r, w, l1, l2, perm):
    """One row: ``G[t, :q]`` the gathered B values, ``a[t]`` their squared sums, ``r``
    the row's residuals (updated).  Returns (violation, sum of r^2)."""
    violation = 0.0
    pending = 0.0  # the last step, applied to r in the pass that forms the next sum
    tp = 0
    for u in range(perm.shape[0]):
        t = perm[u]
        s = _update_dot(r, G[tp], G[t], q, pending)
        wt = np.float64(w[t])
        grad = l1 + l2 * wt - s
        if wt == 0:
            violation += abs(min(grad, 0.0))
        else:
            violation += abs(grad)
        hess = l2 + a[t]
        pending = 0.0
        inv = 1.0 / hess if hess != 0 else np.inf
        if inv != np.inf:  # hess == 0, or so small that its reciprocal overflows: skipped
            new = wt - grad * inv
            if not new > 0:
                new = 0.0
            w[t] = new  # rounds to the array dtype
            pending = np.float64(w[t]) - wt
            tp = t
    return violation, _finish(r, G[tp], q, pending)


@numba.njit(**JIT)
def _gather(data, indices, p0, q, B, w, G, a, r):
    """G[t, p] = B[j_p, t], a[t] += their squares (p in order), r[p] = x_p - sum_t w[t] G[t, p]
    (t in order), four entries at a time so that their four sums run side by side; the
    rows of B _AHEAD entries ahead are prefetched (B is large and read in random order)."""
    k = w.shape[0]
    limit = indices.shape[0] - p0  # entries of the next rows may be prefetched too
    p = 0
    while p + 4 <= q:
        # the rows of B four groups ahead: random rows of a large factor come from memory
        for ahead in range(p + _AHEAD, min(p + _AHEAD + 4, limit)):
            prefetch_row(B, indices[p0 + ahead])
        b0 = B[indices[p0 + p]]
        b1 = B[indices[p0 + p + 1]]
        b2 = B[indices[p0 + p + 2]]
        b3 = B[indices[p0 + p + 3]]
        c0 = c1 = c2 = c3 = 0.0
        for t in range(k):
            wt = np.float64(w[t])
            g0 = np.float64(b0[t])
            g1 = np.float64(b1[t])
            g2 = np.float64(b2[t])
            g3 = np.float64(b3[t])
            G[t, p] = g0
            G[t, p + 1] = g1
            G[t, p + 2] = g2
            G[t, p + 3] = g3
            at = a[t] + g0 * g0
            at = at + g1 * g1
            at = at + g2 * g2
            a[t] = at + g3 * g3
            c0 += wt * g0
            c1 += wt * g1
            c2 += wt * g2
            c3 += wt * g3
        r[p] = np.float64(data[p0 + p]) - c0
        r[p + 1] = np.float64(data[p0 + p + 1]) - c1
        r[p + 2] = np.float64(data[p0 + p + 2]) - c2
        r[p + 3] = np.float64(data[p0 + p + 3]) - c3
        p += 4
    while p < q:
        if p + _AHEAD < limit:
            prefetch_row(B, indices[p0 + p + _AHEAD])
        b0 = B[indices[p0 + p]]
        c0 = 0.0
        for t in range(k):
            g0 = np.float64(b0[t])
            G[t, p] = g0
            a[t] += g0 * g0
            c0 += np.float64(w[t]) * g0
        r[p] = np.float64(data[p0 + p]) - c0
        p += 1


@numba.njit(**PARALLEL_JIT)
def _masked_sweep(data, indices, indptr, W, B, l1, l2, perm, bounds, viol, sq):
    k = W.shape[1]
    for c in numba.prange(bounds.shape[0] - 1):
        width = 1
        for i in range(bounds[c], bounds[c + 1]):
            width = max(width, indptr[i + 1] - indptr[i])
        G = np.empty((k, width))
        a = np.empty(k)
        r = np.empty(width)
        for i in range(bounds[c], bounds[c + 1]):
            p0 = indptr[i]
            q = indptr[i + 1] - p0
            w = W[i]
            for t in range(k):
                a[t] = 0.0
            _gather(data, indices, p0, q, B, w, G, a, r)
            viol[i], sq[i] = _masked_row(G, a, q, r, w, l1, l2, perm)


def masked_hals_sweep(data, indices, indptr, W, B, l1, l2, perm, n_threads):
    m = len(indptr) - 1
    viol, sq = np.zeros(m), np.zeros(m)
    # a few chunks per thread, of about equal numbers of entries
    bounds = row_chunks(indptr, 8 * max(1, int(n_threads)))
    previous = set_threads(n_threads)
    try:
        _masked_sweep(data, indices, indptr, W, B, float(l1), float(l2),
                      np.asarray(perm, dtype=np.intp), bounds, viol, sq)
    finally:
        numba.set_num_threads(previous)
    return float(np.sum(viol)), float(np.sum(sq))


@numba.njit(**JIT)
def _complement_row(G, a, q, r, w, hht, xht, l1, l2, perm):
    """One row of complement_hals_sweep (``hht`` = HHt, ``xht`` = the row of XHt)."""
    k = w.shape[0]
    violation = 0.0
    pending = 0.0
    tp = 0
    for u in range(perm.shape[0]):
        t = perm[u]
        s = _update_dot(r, G[tp], G[t], q, pending)
        wt = np.float64(w[t])
        grad = -(np.float64(xht[t]) - l1)
        for c in range(k):
            hc = np.float64(hht[t, c])
            if c == t:
                hc += l2
            grad += hc * np.float64(w[c])
        grad += s
        if wt == 0:
            violation += abs(min(grad, 0.0))
        else:
            violation += abs(grad)
        htt = np.float64(hht[t, t])
        hess = (htt - a[t]) + l2
        pending = 0.0
        if hess > COMPLEMENT_HESS_RTOL * (htt + l2):
            new = wt - grad / hess
            if not new > 0:
                new = 0.0
            w[t] = new
            pending = np.float64(w[t]) - wt
            tp = t
    return violation, _finish(r, G[tp], q, pending)


@numba.njit(**PARALLEL_JIT)
def _complement_sweep(W, HHt, XHt, zeros, indices, indptr, B, l1, l2, perm, bounds, viol, sq):
    k = W.shape[1]
    for c in numba.prange(bounds.shape[0] - 1):
        width = 1
        for i in range(bounds[c], bounds[c + 1]):
            width = max(width, indptr[i + 1] - indptr[i])
        G = np.empty((k, width))
        a = np.empty(k)
        r = np.empty(width)
        for i in range(bounds[c], bounds[c + 1]):
            p0 = indptr[i]
            q = indptr[i + 1] - p0
            w = W[i]
            for t in range(k):
                a[t] = 0.0
            _gather(zeros, indices, p0, q, B, w, G, a, r)
            viol[i], sq[i] = _complement_row(G, a, q, r, w, HHt, XHt[i], l1, l2, perm)


def complement_hals_sweep(W, HHt, XHt, indices, indptr, B, l1, l2, perm, n_threads):
    m = W.shape[0]
    viol, sq = np.zeros(m), np.zeros(m)
    bounds = row_chunks(np.asarray(indptr) + np.arange(m + 1), 8 * max(1, int(n_threads)))
    zeros = np.zeros(len(indices), dtype=W.dtype)
    previous = set_threads(n_threads)
    try:
        _complement_sweep(W, HHt, XHt, zeros, indices, indptr, B, float(l1), float(l2),
                          np.asarray(perm, dtype=np.intp), bounds, viol, sq)
    finally:
        numba.set_num_threads(previous)
    return float(np.sum(viol)), float(np.sum(sq))


@numba.njit(**PARALLEL_JIT)
def _column_stats_sweep(data, indices, indptr, Q, D, A, B, cols, Ht, l1, l2, perm):
    k = Ht.shape[1]
    kk = k * k
    for c in numba.prange(cols.shape[0]):
        j = cols[c]
        for p in range(indptr[j], indptr[j + 1]):
            i = indices[p]
            x = data[p]
            for u in range(kk):
                A[j, u] += Q[i, u]
            for t in range(k):
                B[j, t] += x * D[i, t]
        for q in range(perm.shape[0]):
            t = perm[q]
            g = 0.0
            for r in range(k):
                g += A[j, t * k + r] * Ht[j, r]
            g = g - B[j, t] + l1[j] + l2[j] * Ht[j, t]
            hess = A[j, t * k + t] + l2[j]
            if hess > 0:
                v = Ht[j, t] - g / hess
                Ht[j, t] = v if v > 0 else 0.0


def column_stats_sweep(data, indices, indptr, Q, D, A, B, cols, Ht, l1, l2, perm, n_threads):
    previous = set_threads(n_threads)
    try:
        _column_stats_sweep(data, indices, indptr, Q, D, A, B, cols, Ht, l1, l2,
                            np.asarray(perm, dtype=np.intp))
    finally:
        numba.set_num_threads(previous)
