# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, binding=True, embedsignature=True
"""Kullback-Leibler and beta-divergence kernels: losses over the nonzeros, numerators of
the multiplicative updates, and the Newton coordinate-descent sweeps (dense and CSR).

One family of the Cython kernels (what every family shares: :mod:`fastnmf._kernels.cython`).
"""

include "_common.pxi"


# ------------------------------------------------------------------ KL divergence
# Twins of fastnmf/_kernels/numba/kl.py, operation for operation (see the
# contract in fastnmf/_kernels/__init__.py).  Everything per entry is in double.

cdef enum:
    _KL_MAX_BACKTRACK = 30
cdef double _KL_INNER_TOL = 1e-6

KL_MAX_BACKTRACK = _KL_MAX_BACKTRACK
KL_INNER_TOL = _KL_INNER_TOL



cdef double _kl_terms(const floating* x, const floating* p, Py_ssize_t n) noexcept nogil:
    """sum x log(x / max(p, EPS)) - x over x > 0, in double."""
    cdef double s = 0.0
    cdef double xv, v
    cdef Py_ssize_t j
    for j in range(n):
        xv = x[j]
        if xv > 0:
            v = _max(<double> p[j], _MU_EPS)
            s += xv * log(xv / v) - xv
    return s


def kl_nonzero_loss(const floating[:, ::1] X, const floating[:, ::1] W,
                    const floating[:, ::1] H, int n_threads):
    """sum_{x > 0} x log(x / max(wh, EPS)) - x for dense X, blocks of W H from BLAS."""
    cdef Py_ssize_t m = X.shape[0]
    cdef Py_ssize_t n = X.shape[1]
    cdef Py_ssize_t start, rows, i
    cdef double total = 0.0
    if m == 0 or n == 0:
        return 0.0
    cdef Py_ssize_t block = min(_residual_block_rows(n), m)
    Wa, Ha = np.asarray(W), np.asarray(H)
    buffer = np.empty((block, n), dtype=Wa.dtype)
    cdef floating[:, ::1] P
    start = 0
    while start < m:
        rows = min(block, m - start)
        P = np.matmul(Wa[start:start + rows], Ha, out=buffer[:rows])
        with nogil:
            for i in range(rows):
                total += _kl_terms(&X[start + i, 0], &P[i, 0], n)
        start = start + rows
    return total


cdef inline double _dot64(const floating* a, const floating* b, Py_ssize_t k) noexcept nogil:
    cdef double s = 0.0
    cdef Py_ssize_t t
    for t in range(k):
        s += (<double> a[t]) * (<double> b[t])
    return s


def kl_nonzero_loss_csr(const floating[::1] data, const index_t[::1] indices,
                        const index_t[::1] indptr, const floating[:, ::1] W,
                        const floating[:, ::1] Ht, int n_threads):
    """The KL nonzero sum over the stored entries of a CSR X; parallel over rows."""
    cdef Py_ssize_t m = indptr.shape[0] - 1
    cdef Py_ssize_t k = W.shape[1]
    cdef Py_ssize_t i, p
    cdef double s, x, v
    rows_np = np.zeros(max(m, 0))
    cdef double[::1] rows = rows_np
    if m <= 0:
        return 0.0
    with nogil, parallel(num_threads=n_threads):
        for i in prange(m, schedule='static'):
            s = 0.0
            for p in range(<Py_ssize_t> indptr[i], <Py_ssize_t> indptr[i + 1]):
                x = data[p]
                if x > 0:
                    v = _max(_dot64(&W[i, 0], &Ht[indices[p], 0], k), _MU_EPS)
                    s = s + (x * log(x / v) - x)
            rows[i] = s
    return float(np.sum(rows_np))


def mu_numerator_csr(const floating[::1] data, const index_t[::1] indices,
                     const index_t[::1] indptr, const floating[:, ::1] A,
                     const floating[:, ::1] B, double beta, floating[:, ::1] out,
                     bint want_loss, int n_threads):
    """Numerator of the multiplicative beta update at the nonzeros of a CSR X (see contract)."""
    cdef Py_ssize_t m = out.shape[0]
    cdef Py_ssize_t k = out.shape[1]
    cdef Py_ssize_t i, p, t
    cdef double s, x, wh, f, v
    cdef double* acc
    cdef const floating* b
    rows_np = np.zeros(max(m, 0))
    cdef double[::1] rows = rows_np
    if m <= 0:
        return 0.0
    cdef double[:, ::1] scratch = np.zeros((max(n_threads, 1) + 1, _PAD + max(k, 1)))
    with nogil, parallel(num_threads=n_threads):
        for i in prange(m, schedule='static'):
            acc = &scratch[threadid(), _PAD]
            for t in range(k):
                acc[t] = 0.0
            s = 0.0
            for p in range(<Py_ssize_t> indptr[i], <Py_ssize_t> indptr[i + 1]):
                x = data[p]
                if x > 0:
                    b = &B[indices[p], 0]
                    wh = _dot64(&A[i, 0], b, k)
                    if beta == 1.0:
                        v = _max(wh, _MU_EPS)
                        f = x / v
                        if want_loss:
                            s = s + (x * log(f) - x)
                    elif beta < 2.0:
                        f = x * pow(_max(wh, _MU_EPS), beta - 2.0)
                    else:
                        f = x * pow(wh, beta - 2.0)
                    for t in range(k):
                        acc[t] = acc[t] + f * (<double> b[t])
            for t in range(k):
                out[i, t] = <floating> acc[t]
            rows[i] = s
    if want_loss and beta == 1.0:
        return float(np.sum(rows_np))
    return 0.0


# ---------------------------------------------------------------- KL cd sweep
cdef inline double _lanes(const double* t, Py_ssize_t q) noexcept nogil:
    """sum of t[:q] in 4 interleaved partials, (0 + 1) + (2 + 3), then the tail."""
    cdef double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0, s
    cdef Py_ssize_t p = 0
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


cdef inline bint _curvature(const double* xv, const double* g, double* wh, Py_ssize_t q,
                            const double* gu, double du, bint write, double* ts, double* tc,
                            double* s_out, double* c_out) noexcept nogil:
    """(sum g x / v, sum g^2 x / v^2) into s_out, c_out with v = wh + du gu (clamped
    to EPS where it divides), wh = v when ``write``; returns any(v <= EPS).  The
    per-entry terms go to ts, tc in a loop without reduction (it vectorizes), then
    are summed by _lanes (see numba/kl.py)."""
    cdef bint bad = False
    cdef double v, inv, gr
    cdef Py_ssize_t p
    if write:
        for p in range(q):
            v = wh[p] + du * gu[p]
            wh[p] = v
            bad = bad | (v <= _MU_EPS)
            inv = 1.0 / (_MU_EPS if _MU_EPS > v else v)
            gr = g[p] * (xv[p] * inv)
            ts[p] = gr
            tc[p] = gr * g[p] * inv
    else:
        for p in range(q):
            v = wh[p] + du * gu[p]
            bad = bad | (v <= _MU_EPS)
            inv = 1.0 / (_MU_EPS if _MU_EPS > v else v)
            gr = g[p] * (xv[p] * inv)
            ts[p] = gr
            tc[p] = gr * g[p] * inv
    s_out[0] = _lanes(ts, q)
    c_out[0] = _lanes(tc, q)
    return bad


cdef bint _exact_decrease(const double* xv, const double* g, const double* wh, Py_ssize_t q,
                          double wt, double d, double a, double l2) noexcept nogil:
    """True when the step d < 0 does not increase the coordinate's objective."""
    cdef double change = d * a + 0.5 * l2 * ((wt + d) * (wt + d) - wt * wt)
    cdef double s = 0.0
    cdef double z
    cdef Py_ssize_t p
    for p in range(q):
        if g[p] > 0:
            if wh[p] <= 0:
                return False
            z = d * g[p] / wh[p]
            if z <= -1.0:
                return False
            s += xv[p] * log1p(z)
    return change - s <= 0


cdef void _kl_row(const double* xv, const double* G, Py_ssize_t width, double* wh,
                  double* ts, double* tc, Py_ssize_t q, floating* w, Py_ssize_t k,
                  const double* bsum, double l1, double l2, int max_inner, bint want_loss,
                  double* viol_out, double* loss_out) noexcept nogil:
    """Newton coordinate descent over one row w (see numba/kl.py's _kl_row); wh holds
    sum_t w[t] G[t, p] on entry (formed by the gather)."""
    cdef Py_ssize_t t, it, bt, p
    cdef const double* g
    cdef const double* gp = G
    cdef double wt, a, s, c, s2, c2, grad, hess, new, d, rho
    cdef double pending = 0.0
    cdef double violation = 0.0
    cdef bint ok, bad, bad2
    for t in range(k):
        g = G + t * width
        a = bsum[t] + l1
        bad = _curvature(xv, g, wh, q, gp, pending, pending != 0.0, ts, tc, &s, &c)
        pending = 0.0
        for it in range(max_inner):
            wt = w[t]
            grad = a + l2 * wt - s
            hess = l2 + c
            if it == 0:
                if not (wt == 0 and grad > 0):
                    violation += fabs(grad)
            if hess > 0:
                new = wt - grad / hess
                if not new > 0:
                    new = 0.0
            elif grad > 0:
                new = 0.0
            else:
                new = wt
            w[t] = <floating> new  # rounds to the array dtype
            d = (<double> w[t]) - wt
            if d == 0:
                break
            ok = d > 0
            if not ok and not bad:
                rho = (wt + d) / wt
                if rho > 0:
                    ok = grad * d + 0.5 * (l2 + c / (rho * rho)) * d * d <= 0
            if not ok:
                bad2 = _curvature(xv, g, wh, q, g, d, False, ts, tc, &s2, &c2)
                ok = not bad2 and grad * d + 0.5 * (l2 + c2) * d * d <= 0
            if not ok:
                for bt in range(_KL_MAX_BACKTRACK + 1):
                    if _exact_decrease(xv, g, wh, q, wt, d, a, l2):
                        ok = True
                        break
                    w[t] = <floating> (wt + 0.5 * d)
                    d = (<double> w[t]) - wt
                if not ok or d == 0:
                    w[t] = <floating> wt  # exact: wt is the stored value
                    break
            if it + 1 == max_inner or fabs(d) <= _KL_INNER_TOL * (wt + d):
                pending = d
                gp = g
                break
            bad = _curvature(xv, g, wh, q, g, d, True, ts, tc, &s, &c)
    if pending != 0.0:
        for p in range(q):
            wh[p] += pending * gp[p]
    viol_out[0] = violation
    if want_loss:
        loss_out[0] = _kl_terms(xv, wh, q)
    else:
        loss_out[0] = 0.0


def kl_cd_sweep_csr(data, indices, indptr, W, B, bsum, double l1, double l2, int max_inner,
                    bint want_loss, int n_threads):
    """One KL Newton coordinate-descent sweep over W for a CSR X (see the contract);
    ``bsum`` of shape (k,) or (m, k)."""
    k = np.shape(W)[1]
    rows = np.ascontiguousarray(np.asarray(bsum, dtype=np.float64).reshape(-1, k))
    return _kl_cd_sweep_csr(data, indices, indptr, W, B, rows, l1, l2, max_inner, want_loss,
                            n_threads)


def _kl_cd_sweep_csr(const floating[::1] data, const index_t[::1] indices,
                     const index_t[::1] indptr, floating[:, ::1] W, const floating[:, ::1] B,
                     const double[:, ::1] bsum, double l1, double l2, int max_inner,
                     bint want_loss, int n_threads):
    cdef Py_ssize_t m = indptr.shape[0] - 1
    cdef bint per_row = bsum.shape[0] > 1
    cdef Py_ssize_t k = W.shape[1]
    cdef Py_ssize_t i, p, t, q, width, tid
    cdef double x
    cdef double* buf
    cdef double* G
    cdef double* xv
    cdef double* wh
    cdef double* ts
    cdef double* tc
    cdef floating* w
    cdef double acc, bt
    cdef const floating* b
    if m <= 0:
        return 0.0, 0.0
    viol_np, loss_np = np.zeros(m), np.zeros(m)
    cdef double[::1] viol = viol_np
    cdef double[::1] loss = loss_np
    width = max(int(np.max(np.diff(np.asarray(indptr)))), 1)
    cdef double[:, ::1] scratch = np.empty((max(n_threads, 1) + 1, _PAD + (k + 4) * width))
    with nogil, parallel(num_threads=n_threads):
        for i in prange(m, schedule='dynamic', chunksize=16):
            buf = &scratch[threadid(), _PAD]
            G = buf
            xv = buf + k * width
            wh = xv + width
            ts = wh + width
            tc = ts + width
            w = &W[i, 0]
            q = 0
            for p in range(<Py_ssize_t> indptr[i], <Py_ssize_t> indptr[i + 1]):
                x = data[p]
                if x > 0:
                    b = &B[indices[p], 0]
                    xv[q] = x
                    acc = 0.0
                    for t in range(k):
                        bt = b[t]
                        G[t * width + q] = bt
                        acc = acc + (<double> w[t]) * bt
                    wh[q] = acc
                    q = q + 1
            _kl_row(xv, G, width, wh, ts, tc, q, w, k, &bsum[i if per_row else 0, 0], l1, l2,
                    max_inner, want_loss, &viol[i], &loss[i])
    return float(np.sum(viol_np)), float(np.sum(loss_np))



def kl_cd_sweep(const floating[:, :] X, floating[:, ::1] W, const floating[:, ::1] B,
                const double[::1] bsum, double l1, double l2, int max_inner, bint want_loss,
                int n_threads):
    """One KL Newton coordinate-descent sweep over W for a dense X of any strides."""
    cdef Py_ssize_t m = X.shape[0]
    cdef Py_ssize_t n = X.shape[1]
    cdef Py_ssize_t k = W.shape[1]
    cdef Py_ssize_t i, j, t, q
    cdef Py_ssize_t width = max(n, 1)
    cdef double x
    cdef double* buf
    cdef double* G
    cdef double* xv
    cdef double* wh
    cdef double* ts
    cdef double* tc
    cdef floating* w
    cdef double acc, bt
    cdef const floating* b
    if m <= 0:
        return 0.0, 0.0
    viol_np, loss_np = np.zeros(m), np.zeros(m)
    cdef double[::1] viol = viol_np
    cdef double[::1] loss = loss_np
    cdef double[:, ::1] scratch = np.empty((max(n_threads, 1) + 1, _PAD + (k + 4) * width))
    with nogil, parallel(num_threads=n_threads):
        for i in prange(m, schedule='dynamic', chunksize=4):
            buf = &scratch[threadid(), _PAD]
            G = buf
            xv = buf + k * width
            wh = xv + width
            ts = wh + width
            tc = ts + width
            w = &W[i, 0]
            q = 0
            for j in range(n):
                x = X[i, j]
                if x > 0:
                    b = &B[j, 0]
                    xv[q] = x
                    acc = 0.0
                    for t in range(k):
                        bt = b[t]
                        G[t * width + q] = bt
                        acc = acc + (<double> w[t]) * bt
                    wh[q] = acc
                    q = q + 1
            _kl_row(xv, G, width, wh, ts, tc, q, w, k, &bsum[0], l1, l2, max_inner, want_loss,
                    &viol[i], &loss[i])
    return float(np.sum(viol_np)), float(np.sum(loss_np))
