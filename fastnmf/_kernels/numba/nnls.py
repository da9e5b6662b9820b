"""Non-negative least squares by block principal pivoting (Kim & Park 2011).

Each row of ``C`` is an independent problem ``min_{x >= 0} 0.5 x^T G x - c @ x``
sharing the Gram matrix ``G``; rows are handled in parallel, in blocks of
``ROW_BLOCK`` rows with their scratch allocated once per block.  Everything is
in float64; see :mod:`fastnmf._kernels` for the contract.  The Cython twin in
``cython/_nnls.pyx`` does the same operations in the same order.
"""

import math

import numba
import numpy as np

from .. import NNLS_PIVOT_TOL, NNLS_TOL, ROW_BLOCK
from ._common import JIT, PARALLEL_JIT, set_threads


@numba.njit(**JIT)
def _factor(Gd, idx, nf, S, lj, pin):
    """Right-looking Cholesky of Gd[idx[:nf], idx[:nf]] into the lower triangle of S.

    A pivot that is not > NNLS_PIVOT_TOL * G_jj (and > 0) pins component j
    (pin[j] = 1): its column of L is zero and it takes no part in the updates,
    so the factor is that of G on the unpinned indices.
    """
    for a in range(nf):
        ga = idx[a]
        for b in range(a + 1):
            S[a, b] = Gd[ga, idx[b]]
    for j in range(nf):
        d = S[j, j]
        gj = idx[j]
        if d > NNLS_PIVOT_TOL * Gd[gj, gj] and d > 0.0:
            pin[j] = 0
            r = math.sqrt(d)
            S[j, j] = r
            for a in range(j + 1, nf):
                v = S[a, j] / r
                S[a, j] = v
                lj[a] = v
            # trailing update, row by row: no reduction, the inner loop vectorizes
            for a in range(j + 1, nf):
                la = lj[a]
                row = S[a, j + 1:a + 1]  # 0-based views: no index wraparound
                col = lj[j + 1:a + 1]    # checks, the loop vectorizes
                for b in range(row.shape[0]):
                    row[b] = row[b] - la * col[b]
        else:
            pin[j] = 1
            for a in range(j + 1, nf):
                S[a, j] = 0.0


@numba.njit(**JIT)
def _solve(S, pin, nf, z):
    """z <- L^-T L^-1 z for the factor in S, with z = 0 at pinned positions."""
    for a in range(nf):
        if pin[a]:
            z[a] = 0.0
        else:
            row = S[a]
            s = z[a]
            for b in range(a):
                s = s - row[b] * z[b]
            z[a] = s / row[a]
    for a in range(nf - 1, -1, -1):
        if pin[a]:
            z[a] = 0.0
        else:
            row = S[a]
            xa = z[a] / row[a]
            z[a] = xa
            for b in range(a):
                z[b] = z[b] - row[b] * xa


@numba.njit(**JIT)
def _objective(Gd, c, v):
    """0.5 v^T G v - c @ v, in float64, terms with v_t = 0 skipped."""
    k = v.shape[0]
    f = 0.0
    for t in range(k):
        vt = v[t]
        if vt != 0.0:
            a = 0.0
            for s in range(k):
                a += Gd[t, s] * v[s]
            f += vt * (0.5 * a - np.float64(c[t]))
    return f


@numba.njit(**JIT)
def _bpp_row(Gd, c, x, max_iter, S, lj, z, v, idx, fidx, state, passive, pin, flag):
    """Solve one row in place (x: the row of X, warm start on entry); True if converged.

    ``state[0]`` is the size of the passive set whose factor S holds (-1: none),
    ``fidx[:state[0]]`` that set.
    """
    k = x.shape[0]
    nf = 0
    for t in range(k):
        if x[t] > 0:
            passive[t] = 1
            idx[nf] = t
            nf += 1
        else:
            passive[t] = 0
    ninf = k + 1
    alpha = 3
    it = 0
    converged = False
    while True:
        # x_F = solve(G_FF, c_F), in F order in z[:nf]
        if nf > 0:
            same = state[0] == nf
            if same:
                for a in range(nf):
                    if fidx[a] != idx[a]:
                        same = False
                        break
            if not same:
                _factor(Gd, idx, nf, S, lj, pin)
                for a in range(nf):
                    fidx[a] = idx[a]
                state[0] = nf
            for a in range(nf):
                z[a] = np.float64(c[idx[a]])
            _solve(S, pin, nf, z)
        # the infeasible set V
        for t in range(k):
            flag[t] = 0
        for a in range(nf):
            if z[a] < 0.0:
                flag[idx[a]] = 1
        nv = 0
        vmax = -1
        for t in range(k):
            if passive[t] == 0:
                s = -np.float64(c[t])
                sc = abs(s)
                for a in range(nf):
                    g = Gd[t, idx[a]] * z[a]
                    s += g
                    sc += abs(g)
                if s < -NNLS_TOL * sc:
                    flag[t] = 1
            if flag[t]:
                nv += 1
                vmax = t
        if nv == 0:
            converged = True
            break
        if it >= max_iter:
            break
        it += 1
        # exchange rule with backup (Kim & Park 2011)
        if nv < ninf:
            ninf = nv
            alpha = 3
            for t in range(k):
                if flag[t]:
                    passive[t] = 1 - passive[t]
        elif alpha >= 1:
            alpha -= 1
            for t in range(k):
                if flag[t]:
                    passive[t] = 1 - passive[t]
        else:
            passive[vmax] = 1 - passive[vmax]
        nf = 0
        for t in range(k):
            if passive[t]:
                idx[nf] = t
                nf += 1
    # the last iterate, negatives set to 0
    for t in range(k):
        v[t] = 0.0
    for a in range(nf):
        xa = z[a]
        v[idx[a]] = xa if xa > 0.0 else 0.0
    if not converged:
        # keep the warm start unless the iterate is strictly better; z is free now
        for t in range(k):
            xt = np.float64(x[t])
            z[t] = xt if xt > 0.0 else 0.0
        if not _objective(Gd, c, v) < _objective(Gd, c, z):
            for t in range(k):
                v[t] = z[t]
    for t in range(k):
        x[t] = v[t]
    return converged


@numba.njit(**PARALLEL_JIT)
def _nnls_bpp(Gd, C, X, max_iter, failed):
    m, k = X.shape
    for b in numba.prange((m + ROW_BLOCK - 1) // ROW_BLOCK):
        start = b * ROW_BLOCK
        stop = min(m, start + ROW_BLOCK)
        S = np.empty((k, k))
        lj = np.empty(k)
        z = np.empty(k)
        v = np.empty(k)
        idx = np.empty(k, dtype=np.intp)
        fidx = np.empty(k, dtype=np.intp)
        state = np.full(1, -1, dtype=np.intp)
        passive = np.empty(k, dtype=np.intp)
        pin = np.empty(k, dtype=np.intp)
        flag = np.empty(k, dtype=np.intp)
        for i in range(start, stop):
            ok = _bpp_row(Gd, C[i], X[i], max_iter, S, lj, z, v, idx, fidx, state,
                          passive, pin, flag)
            failed[i] = 0 if ok else 1
    return failed


def nnls_bpp(G, C, X, max_iter, n_threads):
    m, k = X.shape
    if m == 0 or k == 0:
        return 0
    Gd = np.array(G, dtype=np.float64, order="C")  # a private float64 copy (k x k)
    previous = set_threads(n_threads)
    try:
        failed = _nnls_bpp(Gd, C, X, int(max_iter), np.zeros(m, dtype=np.uint8))
    finally:
        numba.set_num_threads(previous)
    return int(failed.sum())
