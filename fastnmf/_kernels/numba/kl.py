"""KL divergence: loss at the nonzeros, the MU numerator on sparse X, and the
Newton coordinate-descent sweep of Hsieh & Dhillon (KDD 2011).

Everything per entry is done in float64 (the gathered ``x``, ``B`` values and
``wh``), whatever the array dtype: only the factor being updated is stored
in it.  See :mod:`fastnmf._kernels` for the contract.
"""

import math

import numba
import numpy as np

from .. import KL_INNER_TOL, KL_MAX_BACKTRACK, MU_EPS, row_chunks
from ._common import JIT, PARALLEL_JIT, set_threads
from .loss import residual_block_rows


@numba.njit(**JIT)
def _kl_terms(x, p, n):
    """sum x log(x / max(p, EPS)) - x over x > 0, in float64."""
    s = 0.0
    for j in range(n):
        xv = np.float64(x[j])
        if xv > 0:
            v = max(np.float64(p[j]), MU_EPS)
            s += xv * math.log(xv / v) - xv
    return s


@numba.njit(**JIT)
def _kl_block(X, P):
    total = 0.0
    for i in range(X.shape[0]):
        total += _kl_terms(X[i], P[i], X.shape[1])
    return total


def kl_nonzero_loss(X, W, H, n_threads):
    m, n = X.shape
    block = min(residual_block_rows(n), m)
    buffer = np.empty((block, n), dtype=W.dtype)
    total = 0.0
    for start in range(0, m, block):
        rows = min(block, m - start)
        P = np.matmul(W[start:start + rows], H, out=buffer[:rows])
        total += _kl_block(X[start:start + rows], P)
    return float(total)


@numba.njit(**JIT, inline="always")
def _dot64(a, b):
    s = 0.0
    for t in range(a.shape[0]):
        s += np.float64(a[t]) * np.float64(b[t])
    return s


@numba.njit(**PARALLEL_JIT)
def _kl_nonzero_loss_csr(data, indices, indptr, W, Ht, rows):
    m = indptr.shape[0] - 1
    for i in numba.prange(m):
        s = 0.0
        a = W[i]
        for p in range(indptr[i], indptr[i + 1]):
            x = np.float64(data[p])
            if x > 0:
                v = max(_dot64(a, Ht[indices[p]]), MU_EPS)
                s += x * math.log(x / v) - x
        rows[i] = s
    return rows


def kl_nonzero_loss_csr(data, indices, indptr, W, Ht, n_threads):
    previous = set_threads(n_threads)
    try:
        rows = _kl_nonzero_loss_csr(data, indices, indptr, W, Ht, np.empty(len(indptr) - 1))
    finally:
        numba.set_num_threads(previous)
    return float(np.sum(rows))


@numba.njit(**PARALLEL_JIT)
def _mu_numerator_csr(data, indices, indptr, A, B, beta, out, want_loss, rows):
    m, k = out.shape
    for i in numba.prange(m):
        acc = np.zeros(k)
        a = A[i]
        s = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            x = np.float64(data[p])
            if x > 0:
                b = B[indices[p]]
                wh = _dot64(a, b)
                if beta == 1.0:
                    v = max(wh, MU_EPS)
                    f = x / v
                    if want_loss:
                        s += x * math.log(f) - x
                elif beta < 2.0:
                    f = x * max(wh, MU_EPS) ** (beta - 2.0)
                else:
                    f = x * wh ** (beta - 2.0)
                for t in range(k):
                    acc[t] += f * np.float64(b[t])
        for t in range(k):
            out[i, t] = acc[t]
        rows[i] = s
    return rows


def mu_numerator_csr(data, indices, indptr, A, B, beta, out, want_loss, n_threads):
    previous = set_threads(n_threads)
    try:
        rows = _mu_numerator_csr(data, indices, indptr, A, B, float(beta), out, bool(want_loss),
                                 np.empty(len(indptr) - 1))
    finally:
        numba.set_num_threads(previous)
    return float(np.sum(rows)) if want_loss and beta == 1 else 0.0


# ------------------------------------------------------------------ cd sweep
@numba.njit(**JIT, inline="always")
def _curvature(xv, g, wh, q, gu, du, write, ts, tc):
    """``(sum g x / v, sum g^2 x / v^2, any(v <= EPS))`` with ``v = wh + du gu``
    (clamped to EPS where it divides); with ``write``, also ``wh = v``.  ``gu``
    is ``g`` to evaluate a step of the same coordinate, or the previous
    coordinate's column to apply its last step in the same pass.

    The per-entry terms go to the scratch ``ts``, ``tc`` in a loop with no
    reduction (it vectorizes: the divisions dominate); they are then summed
    in 4 interleaved partials (p mod 4), combined as (0 + 1) + (2 + 3), then
    the tail."""
    bad = False
    if write:
        for p in range(q):
            v = wh[p] + du * gu[p]
            wh[p] = v
            bad |= v <= MU_EPS
            inv = 1.0 / (MU_EPS if MU_EPS > v else v)
            gr = g[p] * (xv[p] * inv)
            ts[p] = gr
            tc[p] = gr * g[p] * inv
    else:
        for p in range(q):
            v = wh[p] + du * gu[p]
            bad |= v <= MU_EPS
            inv = 1.0 / (MU_EPS if MU_EPS > v else v)
            gr = g[p] * (xv[p] * inv)
            ts[p] = gr
            tc[p] = gr * g[p] * inv
    return _lanes(ts, q), _lanes(tc, q), bad


@numba.njit(**JIT, inline="always")
def _lanes(t, q):
    """sum of t[:q] in 4 interleaved partials, (0 + 1) + (2 + 3), then the tail."""
    s0 = s1 = s2 = s3 = 0.0
    p = 0
    while p + 4 <= q:
        s0 += t[p]
        s1 += t[p + 1]
        s2 += t[p + 2]
        s3 += t[p + 3]
        p += 4
    s = (s0 + s1) + (s2 + s3)
    while p < q:
        s += t[p]
        p += 1
    return s


@numba.njit(**JIT)
def _exact_decrease(xv, g, wh, q, wt, d, a, l2):
    """True when the step d < 0 does not increase the coordinate's objective."""
    change = d * a + 0.5 * l2 * ((wt + d) * (wt + d) - wt * wt)
    s = 0.0
    for p in range(q):
        if g[p] > 0:
            if wh[p] <= 0:
                return False
            z = d * g[p] / wh[p]
            if z <= -1.0:
                return False
            s += xv[p] * math.log1p(z)
    return change - s <= 0


@numba.njit(**JIT)
def _kl_row(xv, G, wh, ts, tc, q, w, bsum, l1, l2, max_inner, want_loss):
    """Newton coordinate descent over one row ``w`` given its q entries
    ``xv``, gathered ``G[t, p] = B[j_p, t]`` and ``wh[p] = sum_t w[t] G[t, p]``
    (summed over t in order, by the gather); ``ts``, ``tc`` are scratch.
    Returns (violation, loss) of the row."""
    k = w.shape[0]
    violation = 0.0
    # the last step of a coordinate is applied to wh in the pass that starts
    # the next one (same arithmetic as a separate pass, one pass fewer)
    pending = 0.0
    gp = G[0]
    for t in range(k):
        g = G[t]
        a = bsum[t] + l1
        s, c, bad = _curvature(xv, g, wh, q, gp, pending, pending != 0.0, ts, tc)
        pending = 0.0
        for it in range(max_inner):
            wt = np.float64(w[t])
            grad = a + l2 * wt - s
            hess = l2 + c
            if it == 0:
                if not (wt == 0 and grad > 0):
                    violation += abs(grad)
            if hess > 0:
                new = wt - grad / hess
                if not new > 0:
                    new = 0.0
            elif grad > 0:
                new = 0.0
            else:
                new = wt
            w[t] = new  # rounds to the array dtype
            d = np.float64(w[t]) - wt
            if d == 0:
                break
            ok = d > 0
            if not ok and not bad:
                # wh_p >= wt g_p, so on [wt + d, wt] every wh_p is at least
                # rho wh_p and f'' <= l2 + c / rho^2
                rho = (wt + d) / wt
                if rho > 0:
                    ok = grad * d + 0.5 * (l2 + c / (rho * rho)) * d * d <= 0
            if not ok:
                # f'' is largest at the left end of [wt + d, wt]
                s2, c2, bad2 = _curvature(xv, g, wh, q, g, d, False, ts, tc)
                ok = not bad2 and grad * d + 0.5 * (l2 + c2) * d * d <= 0
            if not ok:
                for _ in range(KL_MAX_BACKTRACK + 1):
                    if _exact_decrease(xv, g, wh, q, wt, d, a, l2):
                        ok = True
                        break
                    w[t] = wt + 0.5 * d
                    d = np.float64(w[t]) - wt
                if not ok or d == 0:
                    w[t] = wt  # exact: wt is the stored value
                    break
            if it + 1 == max_inner or abs(d) <= KL_INNER_TOL * (wt + d):
                pending = d
                gp = g
                break
            s, c, bad = _curvature(xv, g, wh, q, g, d, True, ts, tc)
    if pending != 0.0:
        for p in range(q):
            wh[p] += pending * gp[p]
    loss = 0.0
    if want_loss:
        loss = _kl_terms(xv, wh, q)
    return violation, loss


@numba.njit(**PARALLEL_JIT)
def _kl_cd_sweep_csr(data, indices, indptr, W, B, bsum, l1, l2, max_inner, want_loss, bounds,
                     viol, loss):
    k = W.shape[1]
    per_row = bsum.shape[0] > 1
    for c in numba.prange(bounds.shape[0] - 1):
        width = 0
        for i in range(bounds[c], bounds[c + 1]):
            width = max(width, indptr[i + 1] - indptr[i])
        G = np.empty((k, width))
        xv = np.empty(width)
        wh = np.empty(width)
        ts = np.empty(width)
        tc = np.empty(width)
        for i in range(bounds[c], bounds[c + 1]):
            w = W[i]
            q = 0
            for p in range(indptr[i], indptr[i + 1]):
                x = data[p]
                if x > 0:
                    b = B[indices[p]]
                    xv[q] = x
                    acc = 0.0
                    for t in range(k):
                        bt = np.float64(b[t])
                        G[t, q] = bt
                        acc += np.float64(w[t]) * bt
                    wh[q] = acc
                    q += 1
            viol[i], loss[i] = _kl_row(xv, G, wh, ts, tc, q, w, bsum[i if per_row else 0], l1, l2,
                                       max_inner, want_loss)


@numba.njit(**PARALLEL_JIT)
def _kl_cd_sweep_dense(X, W, B, bsum, l1, l2, max_inner, want_loss, n_chunks, viol, loss):
    m, n = X.shape
    k = W.shape[1]
    step = (m + n_chunks - 1) // n_chunks
    for c in numba.prange(n_chunks):
        G = np.empty((k, n))
        xv = np.empty(n)
        wh = np.empty(n)
        ts = np.empty(n)
        tc = np.empty(n)
        for i in range(c * step, min(m, (c + 1) * step)):
            w = W[i]
            q = 0
            for j in range(n):
                x = X[i, j]
                if x > 0:
                    b = B[j]
                    xv[q] = x
                    acc = 0.0
                    for t in range(k):
                        bt = np.float64(b[t])
                        G[t, q] = bt
                        acc += np.float64(w[t]) * bt
                    wh[q] = acc
                    q += 1
            viol[i], loss[i] = _kl_row(xv, G, wh, ts, tc, q, w, bsum, l1, l2, max_inner, want_loss)


def _chunks_for(n_threads):
    return 4 * max(1, int(n_threads))


def kl_cd_sweep(X, W, B, bsum, l1, l2, max_inner, want_loss, n_threads):
    m = X.shape[0]
    viol, loss = np.zeros(m), np.zeros(m)
    previous = set_threads(n_threads)
    try:
        _kl_cd_sweep_dense(X, W, B, np.asarray(bsum, dtype=np.float64), float(l1), float(l2),
                           int(max_inner), bool(want_loss), min(_chunks_for(n_threads), max(m, 1)),
                           viol, loss)
    finally:
        numba.set_num_threads(previous)
    return float(np.sum(viol)), float(np.sum(loss))


def _rows_of(bsum, k):
    """``bsum`` as a C-contiguous float64 (1, k) or (m, k) array."""
    return np.ascontiguousarray(np.asarray(bsum, dtype=np.float64).reshape(-1, k))


def kl_cd_sweep_csr(data, indices, indptr, W, B, bsum, l1, l2, max_inner, want_loss, n_threads):
    m = len(indptr) - 1
    viol, loss = np.zeros(m), np.zeros(m)
    bounds = row_chunks(indptr, _chunks_for(n_threads))
    previous = set_threads(n_threads)
    try:
        _kl_cd_sweep_csr(data, indices, indptr, W, B, _rows_of(bsum, W.shape[1]),
                         float(l1), float(l2), int(max_inner), bool(want_loss), bounds, viol, loss)
    finally:
        numba.set_num_threads(previous)
    return float(np.sum(viol)), float(np.sum(loss))
