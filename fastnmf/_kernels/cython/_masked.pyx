# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, binding=True, embedsignature=True
"""Kernels of fits with unknown entries: the coordinate-descent sweep over the observed
entries (CCD++) and the sweep corrected over a few unknown entries.

One family of the Cython kernels (what every family shares: :mod:`fastnmf._kernels.cython`).
"""

include "_common.pxi"


# ------------------------------------------------------------ missing entries
# The C vector helpers: fastnmf_vector.h, next to this file.
cdef extern from "fastnmf_vector.h":
    double fastnmf_update_dot(double* r, const double* gp, const double* g, Py_ssize_t q,
                              double d) noexcept nogil
    void fastnmf_masked_rows4_d(const double* G, Py_ssize_t cs, Py_ssize_t rs, double* R,
                                double* A, Py_ssize_t k, const Py_ssize_t* nb, double* const* w,
                                Py_ssize_t nr, double l1, double l2, const Py_ssize_t* perm,
                                Py_ssize_t n_perm, double* viol, double* sq) noexcept nogil
    void fastnmf_masked_rows4_f(const double* G, Py_ssize_t cs, Py_ssize_t rs, double* R,
                                double* A, Py_ssize_t k, const Py_ssize_t* nb, float* const* w,
                                Py_ssize_t nr, double l1, double l2, const Py_ssize_t* perm,
                                Py_ssize_t n_perm, double* viol, double* sq) noexcept nogil
    void fastnmf_prefetch(const void* ptr) noexcept nogil
    void fastnmf_gather4_d(const double* b0, const double* b1, const double* b2,
                           const double* b3, const double* w, Py_ssize_t k, double* G,
                           Py_ssize_t width, double* a, const double* x, Py_ssize_t nx,
                           double* r) noexcept nogil
    void fastnmf_gather4_f(const float* b0, const float* b1, const float* b2,
                           const float* b3, const float* w, Py_ssize_t k, double* G,
                           Py_ssize_t width, double* a, const float* x, Py_ssize_t nx,
                           double* r) noexcept nogil


cdef enum:
    # rows of masked_hals_sweep handled in lockstep: each component's step of a row waits
    # for the previous one (the residuals carry it), so one row alone is latency-bound
    _MROWS = 4


cdef void _masked_rows(double* G, Py_ssize_t cs, Py_ssize_t rs, double* A, double* R,
                       const Py_ssize_t* qs, floating* w0, Py_ssize_t k, Py_ssize_t nr,
                       double l1, double l2, const Py_ssize_t* perm, Py_ssize_t n_perm,
                       double* viol_out, double* sq_out) noexcept nogil:
    """``nr`` (<= _MROWS) consecutive rows of masked_hals_sweep, component by component
    in lockstep (``fastnmf_masked_rows4_*``: each row's arithmetic is that of the row
    alone), on its scratch: row rr's gathered B value of entry p, component t, at
    ``G[t * cs + rr * rs + p]`` (``cs = 4 rs``) and its residual at ``R[rr * rs + p]``,
    zero-padded to a multiple of 4 entries; ``A[rr * k + t]`` the squared sums (zeros
    for rows >= nr); ``qs[rr]`` entries; factor row ``w0 + rr * k``."""
    cdef double viol[_MROWS]
    cdef double sq[_MROWS]
    cdef Py_ssize_t nb[_MROWS]
    cdef floating* w[_MROWS]
    cdef Py_ssize_t rr
    for rr in range(_MROWS):
        nb[rr] = (qs[rr] + 3) // 4 if rr < nr else 0
        w[rr] = w0 + (rr if rr < nr else 0) * k
    if floating is double:
        fastnmf_masked_rows4_d(G, cs, rs, R, A, k, nb, w, nr, l1, l2, perm, n_perm, viol, sq)
    else:
        fastnmf_masked_rows4_f(G, cs, rs, R, A, k, nb, w, nr, l1, l2, perm, n_perm, viol, sq)
    for rr in range(nr):
        viol_out[rr] = viol[rr]
        sq_out[rr] = sq[rr]


cdef enum:
    # entries ahead whose rows of B are prefetched, into L2 (prefetcht1: L2 keeps more
    # misses in flight than L1; on the 100000 x 20000 benchmark's H sweep, whose 25.6 MB
    # factor W comes from memory, 8% faster than into L1, at 16 or 32 entries ahead)
    _AHEAD = 16


cdef inline bint _prefetch_rows(size_t nbytes) noexcept nogil:
    """Whether the gathers prefetch the rows of a B of ``nbytes``: when it is larger than
    a typical L2 (1 MB).  The W sweep of the 100000 x 20000 benchmark (B = H^T, 5 MB,
    from L3) is 14% faster with it, the H sweep 8%."""
    return nbytes > 1024 * 1024


cdef Py_ssize_t _row_blocks(indptr):
    """Blocks of 4 entries the longest row takes (at least 1): the gather zero-pads each
    row's entries to a multiple of 4."""
    return max((int(np.max(np.diff(np.asarray(indptr)))) + 3) // 4, 1)


cdef inline void _masked_gather(const floating* x, const index_t* cols, Py_ssize_t q,
                                const floating[:, ::1] B, const floating* zrow,
                                const floating* w, Py_ssize_t k, Py_ssize_t cs,
                                double* G, double* a, double* r, Py_ssize_t limit,
                                bint prefetch) noexcept nogil:
    """Entry p's value of component t, ``B[cols[p], t]``, to ``G[t * cs + p]`` and
    ``r[p] = x[p] - sum_t w[t] B[cols[p], t]`` (t in order); a[t] += the squares (p in
    order).  Four entries at a time (four components at a time, transposed in vector
    registers: ``fastnmf_gather4_*``); the last group's missing entries read ``zrow`` (k
    zeros), which pads G and r with zeros to a multiple of 4 and adds exact zeros to a.
    When ``prefetch``, the rows of B of the entries _AHEAD (16) ahead (into the next rows:
    ``cols[p]`` is valid for p < ``limit``) are prefetched: a large B's rows read in
    random order come from memory."""
    cdef Py_ssize_t p = 0, e
    cdef const floating* b[4]
    cdef Py_ssize_t ahead, line, row_bytes = k * sizeof(floating)
    while p < q:
        # the rows of B _AHEAD entries ahead
        for ahead in range(p + _AHEAD, min(p + _AHEAD + 4, limit if prefetch else 0)):
            for line in range(0, row_bytes, 64):
                fastnmf_prefetch(<const char*> &B[cols[ahead], 0] + line)
        for e in range(4):
            b[e] = &B[cols[p + e], 0] if p + e < q else zrow
        if floating is double:
            fastnmf_gather4_d(b[0], b[1], b[2], b[3], w, k, G + p, cs, a, x + p, q - p, r + p)
        else:
            fastnmf_gather4_f(b[0], b[1], b[2], b[3], w, k, G + p, cs, a, x + p, q - p, r + p)
        p = p + 4


def masked_hals_sweep(const floating[::1] data, const index_t[::1] indices,
                      const index_t[::1] indptr, floating[:, ::1] W, const floating[:, ::1] B,
                      double l1, double l2, perm, int n_threads):
    """Coordinate-descent sweep over W on the observed entries only (see the contract)."""
    cdef Py_ssize_t m = indptr.shape[0] - 1
    cdef Py_ssize_t k = W.shape[1]
    cdef Py_ssize_t i, ib, i0, nr, rr, t, q, p0, cs, gcs, head, n_groups, nnz
    cdef const Py_ssize_t[::1] order = np.ascontiguousarray(perm, dtype=np.intp)
    cdef Py_ssize_t n_perm = order.shape[0]
    cdef double* G
    cdef double* A
    cdef double* R
    cdef Py_ssize_t* qs
    cdef const floating* zrow
    if m <= 0:
        return 0.0, 0.0
    viol_np, sq_np = np.zeros(m), np.zeros(m)
    cdef double[::1] viol = viol_np
    cdef double[::1] sq = sq_np
    # one component's values of four rows, each as long as the group's longest row
    # (rounded up to a multiple of 4: G stays small, it is read once per component)
    cs = 16 * _row_blocks(indptr)
    # R, A, qs and k zeros (the padding entries' row of B, in each thread's own
    # scratch); G 64-byte aligned
    head = cs + 8 * ((_MROWS * k + _MROWS + k + 7) // 8)
    cdef double[:, ::1] scratch = np.zeros((max(n_threads, 1) + 1, _PAD + head + k * cs))
    n_groups = (m + _MROWS - 1) // _MROWS
    nnz = indptr[m]
    cdef bint pf = _prefetch_rows(B.shape[0] * k * sizeof(floating))
    with nogil, parallel(num_threads=n_threads):
        for ib in prange(n_groups, schedule='dynamic', chunksize=4):
            R = &scratch[threadid(), _PAD]
            A = R + cs
            qs = <Py_ssize_t*> (A + _MROWS * k)  # _MROWS integers in _MROWS doubles' room
            zrow = <const floating*> (A + _MROWS * (k + 1))  # never written: zeros
            G = R + head
            i0 = ib * _MROWS
            nr = min(_MROWS, m - i0)
            gcs = 0
            for rr in range(nr):
                q = indptr[i0 + rr + 1] - indptr[i0 + rr]
                qs[rr] = q
                gcs = max(gcs, 16 * ((q + 3) // 4))
            for t in range(_MROWS * k):
                A[t] = 0.0
            for rr in range(nr):
                i = i0 + rr
                p0 = indptr[i]
                _masked_gather(&data[p0], &indices[p0], qs[rr], B, zrow, &W[i, 0], k,
                               gcs, G + rr * (gcs // 4), A + rr * k, R + rr * (gcs // 4), nnz - p0,
                               pf)
            _masked_rows(G, gcs, gcs // 4, A, R, qs, &W[i0, 0], k, nr, l1, l2,
                         &order[0] if n_perm else NULL, n_perm, &viol[i0], &sq[i0])
    return float(np.sum(viol_np)), float(np.sum(sq_np))


cdef void _complement_row(const double* G, Py_ssize_t width, const double* a, Py_ssize_t q,
                          double* r, floating* w, const floating[:, ::1] HHt,
                          const floating* xht, Py_ssize_t k, double l1, double l2,
                          const Py_ssize_t* perm, Py_ssize_t n_perm, double* viol_out,
                          double* sq_out) noexcept nogil:
    """One row of complement_hals_sweep (see the contract)."""
    cdef double violation = 0.0, pending = 0.0, s, wt, grad, hess, new, hc, htt
    cdef Py_ssize_t u, t, c, tp = 0
    for u in range(n_perm):
        t = perm[u]
        s = fastnmf_update_dot(r, G + tp * width, G + t * width, q, pending)
        wt = w[t]
        grad = -((<double> xht[t]) - l1)
        for c in range(k):
            hc = HHt[t, c]
            if c == t:
                hc = hc + l2
            grad = grad + hc * (<double> w[c])
        grad = grad + s
        violation = violation + fabs(_min(grad, 0.0) if wt == 0 else grad)
        htt = HHt[t, t]
        hess = (htt - a[t]) + l2
        pending = 0.0
        if hess > _COMPLEMENT_HESS_RTOL * (htt + l2):
            new = wt - grad / hess
            new = new if new > 0 else 0.0
            w[t] = <floating> new
            pending = (<double> w[t]) - wt
            tp = t
    viol_out[0] = violation
    sq_out[0] = fastnmf_update_dot(r, G + tp * width, r, q, pending)  # sum r^2


def complement_hals_sweep(floating[:, ::1] W, const floating[:, ::1] HHt,
                          const floating[:, ::1] XHt, const index_t[::1] indices,
                          const index_t[::1] indptr, const floating[:, ::1] B, double l1,
                          double l2, perm, int n_threads):
    """Coordinate-descent sweep over W with a few unknown entries (see the contract)."""
    cdef Py_ssize_t m = W.shape[0]
    cdef Py_ssize_t k = W.shape[1]
    cdef Py_ssize_t i, t, q, p0, width, nnz
    cdef const Py_ssize_t[::1] order = np.ascontiguousarray(perm, dtype=np.intp)
    cdef Py_ssize_t n_perm = order.shape[0]
    cdef double* G
    cdef double* a
    cdef double* r
    if m <= 0:
        return 0.0, 0.0
    viol_np, sq_np = np.zeros(m), np.zeros(m)
    cdef double[::1] viol = viol_np
    cdef double[::1] sq = sq_np
    width = 4 * _row_blocks(indptr)
    zeros_np = np.zeros(max(width, k), dtype=np.asarray(W).dtype)  # x and a zero row of B
    cdef const floating[::1] zx = zeros_np
    cdef double[:, ::1] scratch = np.empty((max(n_threads, 1) + 1, _PAD + (k + 1) * width + k))
    nnz = indptr[m]
    cdef bint pf = _prefetch_rows(B.shape[0] * k * sizeof(floating))
    with nogil, parallel(num_threads=n_threads):
        for i in prange(m, schedule='dynamic', chunksize=16):
            G = &scratch[threadid(), _PAD]
            r = G + k * width
            a = r + width
            p0 = indptr[i]
            q = indptr[i + 1] - p0
            for t in range(k):
                a[t] = 0.0
            _masked_gather(&zx[0], &indices[p0] if q else &indices[0] if nnz else NULL, q, B,
                           &zx[0], &W[i, 0], k, width, G, a, r, nnz - p0, pf)
            _complement_row(G, width, a, q, r, &W[i, 0], HHt, &XHt[i, 0], k, l1, l2,
                            &order[0] if n_perm else NULL, n_perm, &viol[i], &sq[i])
    return float(np.sum(viol_np)), float(np.sum(sq_np))


# ------------------------------------------------------ online statistics per column
def column_stats_sweep(const double[::1] data, const index_t[::1] indices,
                       const index_t[::1] indptr, const double[:, ::1] Q,
                       const double[:, ::1] D, double[:, ::1] A, double[:, ::1] B,
                       const Py_ssize_t[::1] cols, floating[:, ::1] Ht, const double[::1] l1,
                       const double[::1] l2, perm, int n_threads):
    """Per column of ``cols``: its statistics take in its entries, then one cd sweep of its
    row of Ht on them (see the contract)."""
    cdef Py_ssize_t n_cols = cols.shape[0]
    cdef Py_ssize_t k = Ht.shape[1]
    cdef Py_ssize_t kk = k * k
    cdef const Py_ssize_t[::1] order = np.ascontiguousarray(perm, dtype=np.intp)
    cdef Py_ssize_t n_perm = order.shape[0]
    cdef Py_ssize_t c, j, p, i, u, t, r, q
    cdef double x, g, hess, v
    if n_cols == 0:
        return
    with nogil, parallel(num_threads=n_threads):
        for c in prange(n_cols, schedule='dynamic', chunksize=16):
            j = cols[c]
            for p in range(indptr[j], indptr[j + 1]):
                i = indices[p]
                x = data[p]
                for u in range(kk):
                    A[j, u] = A[j, u] + Q[i, u]
                for t in range(k):
                    B[j, t] = B[j, t] + x * D[i, t]
            for q in range(n_perm):
                t = order[q]
                g = 0.0
                for r in range(k):
                    g = g + A[j, t * k + r] * (<double> Ht[j, r])
                g = g - B[j, t] + l1[j] + l2[j] * (<double> Ht[j, t])
                hess = A[j, t * k + t] + l2[j]
                if hess > 0:
                    v = (<double> Ht[j, t]) - g / hess
                    Ht[j, t] = <floating> (v if v > 0 else 0.0)
