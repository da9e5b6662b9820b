# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, binding=True, embedsignature=True
"""Exact non-negative least squares of every row by block principal pivoting.

One family of the Cython kernels (what every family shares: :mod:`fastnmf._kernels.cython`).
"""

include "_common.pxi"


# ------------------------------------------- NNLS by block principal pivoting
# Twin of fastnmf/_kernels/numba/nnls.py,
# operation for operation, everything in double (see the contract of nnls_bpp
# in fastnmf/_kernels/__init__.py).  Matrices are row-major with row stride k.


# Tolerances of the contract (fastnmf._kernels.NNLS_TOL / NNLS_PIVOT_TOL,
# checked in __init__.py at import time).
cdef double _NNLS_TOL = 1e-10
cdef double _NNLS_PIVOT_TOL = 1e-10

NNLS_TOL = _NNLS_TOL
NNLS_PIVOT_TOL = _NNLS_PIVOT_TOL


cdef void _nnls_factor(const double* G, Py_ssize_t k, const Py_ssize_t* idx, Py_ssize_t nf,
                       double* S, double* lj, Py_ssize_t* pin) noexcept nogil:
    """Right-looking Cholesky of G[idx[:nf], idx[:nf]] into the lower triangle of S.

    A pivot that is not > _NNLS_PIVOT_TOL * G_jj (and > 0) pins component j
    (pin[j] = 1): its column of L is zero and it takes no part in the updates,
    so the factor is that of G on the unpinned indices.
    """
    cdef Py_ssize_t a, b, j, ga, gj
    cdef double d, r, v, la
    cdef double* row
    for a in range(nf):
        ga = idx[a]
        for b in range(a + 1):
            S[a * k + b] = G[ga * k + idx[b]]
    for j in range(nf):
        d = S[j * k + j]
        gj = idx[j]
        if d > _NNLS_PIVOT_TOL * G[gj * k + gj] and d > 0.0:
            pin[j] = 0
            r = sqrt(d)
            S[j * k + j] = r
            for a in range(j + 1, nf):
                v = S[a * k + j] / r
                S[a * k + j] = v
                lj[a] = v
            # trailing update, row by row: no reduction, the inner loop vectorizes
            for a in range(j + 1, nf):
                la = lj[a]
                row = S + a * k
                for b in range(j + 1, a + 1):
                    row[b] = row[b] - la * lj[b]
        else:
            pin[j] = 1
            for a in range(j + 1, nf):
                S[a * k + j] = 0.0


cdef void _nnls_solve(const double* S, Py_ssize_t k, const Py_ssize_t* pin, Py_ssize_t nf,
                      double* z) noexcept nogil:
    """z <- L^-T L^-1 z for the factor in S, with z = 0 at pinned positions."""
    cdef Py_ssize_t a, b
    cdef double s, xa
    cdef const double* row
    for a in range(nf):
        if pin[a]:
            z[a] = 0.0
        else:
            row = S + a * k
            s = z[a]
            for b in range(a):
                s = s - row[b] * z[b]
            z[a] = s / row[a]
    a = nf - 1
    while a >= 0:
        if pin[a]:
            z[a] = 0.0
        else:
            row = S + a * k
            xa = z[a] / row[a]
            z[a] = xa
            for b in range(a):
                z[b] = z[b] - row[b] * xa
        a = a - 1


cdef double _nnls_objective(const double* G, const floating* c, const double* v,
                            Py_ssize_t k) noexcept nogil:
    """0.5 v^T G v - c @ v, in double, terms with v_t = 0 skipped."""
    cdef double f = 0.0
    cdef double a, vt
    cdef Py_ssize_t t, s
    for t in range(k):
        vt = v[t]
        if vt != 0.0:
            a = 0.0
            for s in range(k):
                a = a + G[t * k + s] * v[s]
            f = f + vt * (0.5 * a - <double> c[t])
    return f


cdef bint _nnls_row(const double* G, const floating* c, floating* x, Py_ssize_t k,
                    int max_iter, double* S, double* lj, double* z, double* v,
                    Py_ssize_t* idx, Py_ssize_t* fidx, Py_ssize_t* state,
                    Py_ssize_t* passive, Py_ssize_t* pin, Py_ssize_t* flag) noexcept nogil:
    """Solve one row in place (x: the row of X, warm start on entry); True if converged.

    ``state[0]`` is the size of the passive set whose factor S holds (-1: none),
    ``fidx[:state[0]]`` that set.
    """
    cdef Py_ssize_t t, a, nf, ninf, nv, vmax
    cdef int alpha = 3
    cdef int it = 0
    cdef bint converged = False
    cdef bint same
    cdef double s, sc, g, xa, xt
    nf = 0
    for t in range(k):
        if x[t] > 0:
            passive[t] = 1
            idx[nf] = t
            nf = nf + 1
        else:
            passive[t] = 0
    ninf = k + 1
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
                _nnls_factor(G, k, idx, nf, S, lj, pin)
                for a in range(nf):
                    fidx[a] = idx[a]
                state[0] = nf
            for a in range(nf):
                z[a] = <double> c[idx[a]]
            _nnls_solve(S, k, pin, nf, z)
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
                s = -(<double> c[t])
                sc = fabs(s)
                for a in range(nf):
                    g = G[t * k + idx[a]] * z[a]
                    s = s + g
                    sc = sc + fabs(g)
                if s < -_NNLS_TOL * sc:
                    flag[t] = 1
            if flag[t]:
                nv = nv + 1
                vmax = t
        if nv == 0:
            converged = True
            break
        if it >= max_iter:
            break
        it = it + 1
        # exchange rule with backup (Kim & Park 2011)
        if nv < ninf:
            ninf = nv
            alpha = 3
            for t in range(k):
                if flag[t]:
                    passive[t] = 1 - passive[t]
        elif alpha >= 1:
            alpha = alpha - 1
            for t in range(k):
                if flag[t]:
                    passive[t] = 1 - passive[t]
        else:
            passive[vmax] = 1 - passive[vmax]
        nf = 0
        for t in range(k):
            if passive[t]:
                idx[nf] = t
                nf = nf + 1
    # the last iterate, negatives set to 0
    for t in range(k):
        v[t] = 0.0
    for a in range(nf):
        xa = z[a]
        v[idx[a]] = xa if xa > 0.0 else 0.0
    if not converged:
        # keep the warm start unless the iterate is strictly better; z is free now
        for t in range(k):
            xt = <double> x[t]
            z[t] = xt if xt > 0.0 else 0.0
        if not _nnls_objective(G, c, v, k) < _nnls_objective(G, c, z, k):
            for t in range(k):
                v[t] = z[t]
    for t in range(k):
        x[t] = <floating> v[t]
    return converged


def nnls_bpp(const floating[:, ::1] G, const floating[:, ::1] C, floating[:, ::1] X,
             int max_iter, int n_threads):
    """Non-negative least squares for every row of C by block principal pivoting, into X.

    X is the warm start on entry.  Returns the number of rows that did not
    converge within max_iter exchanges.  Parallel over blocks of rows (the
    result does not depend on n_threads).  See :mod:`fastnmf._kernels` for the
    full contract.
    """
    cdef Py_ssize_t m = X.shape[0]
    cdef Py_ssize_t k = X.shape[1]
    cdef Py_ssize_t n_blocks = _n_blocks(m)
    cdef Py_ssize_t b, i, start, stop
    cdef double* S = NULL
    cdef double* lj = NULL
    cdef double* z = NULL
    cdef double* v = NULL
    cdef Py_ssize_t* idx = NULL
    cdef Py_ssize_t* fidx = NULL
    cdef Py_ssize_t* passive = NULL
    cdef Py_ssize_t* pin = NULL
    cdef Py_ssize_t* flag = NULL
    cdef Py_ssize_t* state = NULL
    if m == 0 or k == 0:
        return 0
    # a private float64 copy of G (k x k), shared read-only by the threads
    cdef const double[:, ::1] Gd = np.array(np.asarray(G), dtype=np.float64, order="C")
    failed_np = np.zeros(m, dtype=np.uint8)
    cdef unsigned char[::1] failed = failed_np
    # per thread: S (k x k), lj, z, v; idx, fidx, passive, pin, flag, state
    cdef double[:, ::1] dbuf = _scratch(n_threads, k * k + 3 * k, np.float64)
    cdef Py_ssize_t[:, ::1] ibuf = _scratch(n_threads, 5 * k + 1, np.intp)

    with nogil, parallel(num_threads=n_threads):
        S = &dbuf[threadid(), _PAD]
        lj = S + k * k
        z = lj + k
        v = z + k
        idx = &ibuf[threadid(), _PAD]
        fidx = idx + k
        passive = fidx + k
        pin = passive + k
        flag = pin + k
        state = flag + k
        state[0] = -1
        for b in prange(n_blocks, schedule='dynamic'):
            start = b * _ROW_BLOCK
            stop = start + _ROW_BLOCK
            if stop > m:
                stop = m
            for i in range(start, stop):
                if _nnls_row(&Gd[0, 0], &C[i, 0], &X[i, 0], k, max_iter, S, lj, z, v,
                             idx, fidx, state, passive, pin, flag):
                    failed[i] = 0
                else:
                    failed[i] = 1
    return int(np.sum(failed_np))
