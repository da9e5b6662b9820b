# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, binding=True, embedsignature=True
"""Dense-factor kernels: HALS sweeps (also fused with the products of dense X), the Gram
matrix, extrapolation, the multiplicative update and the exact squared residual.

One family of the Cython kernels (what every family shares: :mod:`fastnmf._kernels.cython`).
"""

include "_common.pxi"


from scipy.linalg.cython_blas cimport dgemm, sgemm


cdef void _sweep_block(floating[:, ::1] W, const floating[:, ::1] HHt,
                       const floating* xh, floating l1, floating l2,
                       const Py_ssize_t[::1] perm, Py_ssize_t start, Py_ssize_t nb,
                       floating* wt, floating* xt, floating* g, floating* dd,
                       double* viol, double* dsq) noexcept nogil:
    """HALS sweep over rows start..start+nb of W (nb <= _ROW_BLOCK); ``xh`` points at the
    block's first row of the cross product ``X H^T`` (rows of k, contiguous).

    The block is copied transposed into ``wt`` (k x _LD), and ``-(XHt - l1)`` into
    ``xt``, so that the rows are the vector lanes: every loop below runs over the
    block's rows, contiguous, with no reduction, and vectorizes.  Lanes from ``nb`` up
    to a multiple of _LANES are zeros (their results are never stored).  Each row sees
    scikit-learn's arithmetic for its coordinate ``t``, in its order::

        grad = -(XHt[i, t] - l1);  grad += (HHt[t, r] + l2 [r == t]) * W[i, r], r = 0..k-1
        W[i, t] = max(W[i, t] - grad / (HHt[t, t] + l2), 0)       (skipped if that is 0)

    ``viol[i]`` collects |projected gradient| of row i over the sweep, and ``dsq[i]``
    (unless NULL) the squares, in double, of its coordinates' changes (each coordinate
    named once in ``perm`` changes once: ``dsq`` is ||new row - old row||^2).
    """
    cdef Py_ssize_t k = W.shape[1]
    cdef Py_ssize_t i, r, s, t, i0, ib, j
    cdef Py_ssize_t nbp = (nb + _LANES - 1) // _LANES * _LANES
    cdef floating h, hess, grad, pg, w, w_new
    cdef floating zero = 0
    cdef floating* wr
    cdef floating* xr
    cdef floating acc[_LANES]
    for r in range(k):
        wr = wt + r * _LD
        xr = xt + r * _LD
        for i in range(nb):
            wr[i] = W[start + i, r]
            xr[i] = -(xh[i * k + r] - l1)
        for i in range(nb, nbp):
            wr[i] = zero
            xr[i] = zero
    for i in range(nb):
        viol[i] = 0
        if dsq != NULL:
            dsq[i] = 0
    for s in range(perm.shape[0]):
        t = perm[s]
        for ib in range(nbp // _LANES):
            i0 = ib * _LANES
            for j in range(_LANES):
                acc[j] = xt[t * _LD + i0 + j]
            for r in range(k):
                h = HHt[t, r]
                if r == t:
                    h = h + l2
                wr = wt + r * _LD + i0
                for j in range(_LANES):
                    acc[j] = acc[j] + h * wr[j]
            for j in range(_LANES):
                g[i0 + j] = acc[j]
        hess = HHt[t, t] + l2
        wr = wt + t * _LD
        # Written for gcc's vectorizer, which in float32 gave up on the plain loop
        # ("control flow"): one loop per case of hess, no short-circuit `and`, a zero
        # of the array type (a literal 0 is a double), and |pg| parked in g (no longer
        # needed) so that its widening to double is a loop of its own.
        if hess != zero:
            for i in range(nb):
                grad = g[i]
                w = wr[i]
                # projected gradient: at a zero coordinate only a negative gradient
                # counts (written so that NaN propagates, like the reference)
                pg = zero if (w == zero) & (grad > zero) else grad
                g[i] = pg if pg >= zero else -pg
                w_new = w - grad / hess
                w_new = w_new if w_new > zero else zero
                wr[i] = w_new
                dd[i] = w_new - w
            if dsq != NULL:
                for i in range(nb):
                    dsq[i] = dsq[i] + <double> dd[i] * <double> dd[i]
        else:
            for i in range(nb):
                grad = g[i]
                pg = zero if (wr[i] == zero) & (grad > zero) else grad
                g[i] = pg if pg >= zero else -pg
        for i in range(nb):
            viol[i] = viol[i] + <double> g[i]
    for r in range(k):
        wr = wt + r * _LD
        for i in range(nb):
            W[start + i, r] = wr[i]


cdef void _sweep_blocks(floating[:, ::1] W, const floating[:, ::1] HHt,
                        const floating[:, ::1] XHt, double l1, double l2,
                        const Py_ssize_t[::1] perm, double[::1] viol_out,
                        double* change_out, int n_threads):
    """The sweep over every block of rows, in parallel; block b's violation into
    ``viol_out[b]`` and, unless ``change_out`` is NULL, its squared change into
    ``change_out[b]`` (each the block's rows added in order)."""
    cdef Py_ssize_t m = W.shape[0]
    cdef Py_ssize_t k = W.shape[1]
    cdef Py_ssize_t n_blocks = _n_blocks(m)
    cdef floating l1f = <floating> l1
    cdef floating l2f = <floating> l2
    cdef Py_ssize_t b, i, start, nb
    cdef floating* wt = NULL
    cdef floating* xt = NULL
    cdef floating* g = NULL
    cdef floating* dd = NULL
    cdef double* viol = NULL
    cdef double* dsq = NULL
    cdef double acc, acd
    dtype = np.float32 if floating is float else np.float64
    # per thread: the block transposed (k x _LD), the cross product likewise, the
    # gradients, the changes
    cdef floating[:, ::1] buffers = _scratch(n_threads, (2 * k + 2) * _LD, dtype)
    cdef double[:, ::1] viol_buffers = _scratch(n_threads, 2 * _ROW_BLOCK, np.float64)

    with nogil, parallel(num_threads=n_threads):
        wt = &buffers[threadid(), _PAD]
        xt = wt + k * _LD
        g = xt + k * _LD
        dd = g + _LD
        viol = &viol_buffers[threadid(), _PAD]
        dsq = NULL
        if change_out != NULL:
            dsq = viol + _ROW_BLOCK
        for b in prange(n_blocks, schedule='static'):
            start = b * _ROW_BLOCK
            nb = m - start
            if nb > _ROW_BLOCK:
                nb = _ROW_BLOCK
            _sweep_block(W, HHt, &XHt[start, 0], l1f, l2f, perm, start, nb, wt, xt, g, dd,
                         viol, dsq)
            acc = 0.0
            for i in range(nb):
                acc = acc + viol[i]
            viol_out[b] = acc
            if change_out != NULL:
                acd = 0.0
                for i in range(nb):
                    acd = acd + dsq[i]
                change_out[b] = acd


def hals_sweep(floating[:, ::1] W, const floating[:, ::1] HHt,
               const floating[:, ::1] XHt, double l1, double l2,
               const Py_ssize_t[::1] perm, int n_threads):
    """One HALS (exact coordinate descent) sweep over the columns of W, in place.

    Returns the sum of |projected gradient| measured before each update.
    See :mod:`fastnmf._kernels` for the full contract.
    """
    cdef Py_ssize_t m = W.shape[0]
    cdef Py_ssize_t b
    cdef double violation = 0.0
    if m == 0 or W.shape[1] == 0:
        return 0.0
    cdef double[::1] partials = np.zeros(_n_blocks(m), dtype=np.float64)
    _sweep_blocks(W, HHt, XHt, l1, l2, perm, partials, NULL, n_threads)
    for b in range(partials.shape[0]):
        violation += partials[b]
    return violation


def hals_sweep_blocks(floating[:, ::1] W, const floating[:, ::1] HHt,
                      const floating[:, ::1] XHt, double l1, double l2,
                      const Py_ssize_t[::1] perm, double[::1] viol_out,
                      double[::1] change_out, int n_threads):
    """``hals_sweep`` with the violation and the squared change of W per block of rows.

    See :mod:`fastnmf._kernels` for the full contract.
    """
    cdef Py_ssize_t m = W.shape[0]
    cdef Py_ssize_t nbk = _n_blocks(m)
    if viol_out.shape[0] != nbk or change_out.shape[0] != nbk:
        raise ValueError(f"hals_sweep_blocks: viol_out and change_out need {nbk} entries")
    if m == 0:
        return
    if W.shape[1] == 0:
        viol_out[:] = 0.0
        change_out[:] = 0.0
        return
    _sweep_blocks(W, HHt, XHt, l1, l2, perm, viol_out, &change_out[0], n_threads)


def hals_sweeps(floating[:, ::1] W, const floating[:, ::1] HHt,
                const floating[:, ::1] XHt, double l1, double l2,
                const Py_ssize_t[::1] perm, int budget, double eps, double[::1] viol_out,
                double[::1] change_out, int n_threads):
    """Up to ``budget`` sweeps of ``hals_sweep_blocks`` in one call (the HALS inner loop);
    returns the first sweep's violation.

    See :mod:`fastnmf._kernels` for the full contract.
    """
    cdef Py_ssize_t m = W.shape[0]
    cdef Py_ssize_t nbk = _n_blocks(m)
    cdef Py_ssize_t b
    cdef int s
    cdef double violation = 0.0
    cdef double first = 0.0
    cdef double total
    if viol_out.shape[0] != nbk or change_out.shape[0] != nbk:
        raise ValueError(f"hals_sweeps: viol_out and change_out need {nbk} entries")
    if budget < 1:
        raise ValueError(f"hals_sweeps: budget must be >= 1; got {budget}")
    if m == 0:
        return 0.0
    if W.shape[1] == 0:
        viol_out[:] = 0.0
        change_out[:] = 0.0
        return 0.0
    _sweep_blocks(W, HHt, XHt, l1, l2, perm, viol_out, &change_out[0], n_threads)
    for b in range(nbk):  # the blocks in order, from 0: sum_in_order's additions
        violation = violation + viol_out[b]
        first = first + change_out[b]
    first = sqrt(first)
    if first == 0:
        return violation
    for s in range(budget - 1):
        _sweep_blocks(W, HHt, XHt, l1, l2, perm, viol_out, &change_out[0], n_threads)
        total = 0.0
        for b in range(nbk):
            total = total + change_out[b]
        if sqrt(total) <= eps * first:
            break
    return violation


# ------------------------------------------------------------------ fused dense pass
# One HALS sweep of W on dense X fused with the products around it: per block of
# _ROW_BLOCK rows, X_b H^T (BLAS), the sweep, then X_b^T W_b and W_b^T W_b (BLAS) while
# X_b is still in cache, so that X is read from memory once per pass instead of twice.
# The BLAS calls are single-threaded ones from our OpenMP threads (the caller limits
# BLAS's threads); they are scipy's (scipy.linalg.cython_blas), in Fortran order: a
# C-ordered rows x cols array is the Fortran cols x rows array of the same memory.

cdef inline void _gemm(char* ta, char* tb, int M, int N, int K, const floating* A, int lda,
                       const floating* B, int ldb, floating beta, floating* C,
                       int ldc) noexcept nogil:
    """C = op(A) op(B) + beta C (Fortran order), alpha = 1."""
    cdef floating one = 1
    if floating is double:
        dgemm(ta, tb, &M, &N, &K, &one, <double*> A, &lda, <double*> B, &ldb, &beta, C, &ldc)
    else:
        sgemm(ta, tb, &M, &N, &K, &one, <float*> A, &lda, <float*> B, &ldb, &beta, C, &ldc)


def hals_pass_dense(const floating[:, ::1] X, const floating[:, ::1] Ht,
                    const floating[:, ::1] HHt, floating[:, ::1] W, double l1, double l2,
                    const Py_ssize_t[::1] perm, floating[:, ::1] XtW, floating[:, ::1] WtW,
                    int n_threads):
    """``hals_sweep(W, HHt, X @ Ht, ...)`` with ``XtW = X^T W`` and ``WtW = W^T W`` of the
    new W, in one pass over X; returns the sweep's violation.

    See :mod:`fastnmf._kernels` for the full contract.
    """
    cdef Py_ssize_t m = X.shape[0]
    cdef Py_ssize_t n = X.shape[1]
    cdef Py_ssize_t k = W.shape[1]
    cdef Py_ssize_t n_blocks = _n_blocks(m)
    cdef Py_ssize_t n_parts = pass_parts(m, k)
    cdef Py_ssize_t p, b, b0, b1, start, nb, i, j, q, r
    cdef floating l1f = <floating> l1
    cdef floating l2f = <floating> l2
    cdef floating zero = 0
    cdef floating one = 1
    cdef floating beta
    cdef floating* wt = NULL
    cdef floating* xt = NULL
    cdef floating* g = NULL
    cdef floating* dd = NULL
    cdef floating* cb = NULL
    cdef floating* acc = NULL
    cdef floating* wacc = NULL
    cdef floating* o = NULL
    cdef const floating* src = NULL
    cdef double* viol = NULL
    cdef double total
    cdef double violation = 0.0
    if X.shape[0] != W.shape[0] or Ht.shape[0] != n or Ht.shape[1] != k:
        raise ValueError("hals_pass_dense: X, Ht and W do not match")
    if XtW.shape[0] != n or XtW.shape[1] != k or WtW.shape[0] != k or WtW.shape[1] != k:
        raise ValueError(f"hals_pass_dense: XtW must be {n} x {k} and WtW {k} x {k}")
    if m == 0 or k == 0 or n == 0:
        XtW[:, :] = 0
        WtW[:, :] = 0
        if m == 0 or k == 0:
            return 0.0
        # n == 0: X H^T is 0, so each coordinate's gradient is W's alone
        return hals_sweep(W, HHt, np.zeros((m, k), dtype=np.asarray(W).dtype), l1, l2,
                          perm, n_threads)
    dtype = np.float32 if floating is float else np.float64
    # parts after the first: their X_p^T W_p; every part: its W_p^T W_p
    cdef floating[:, :, ::1] parts = np.empty((n_parts - 1, n, k), dtype=dtype)
    cdef floating[:, :, ::1] wparts = np.empty((n_parts, k, k), dtype=dtype)
    cdef double[::1] block_viol = np.empty(n_blocks, dtype=np.float64)
    # per thread: the sweep's buffers (as _sweep_blocks), then X_b H^T
    cdef floating[:, ::1] buffers = _scratch(n_threads, (2 * k + 2) * _LD + _ROW_BLOCK * k,
                                             dtype)
    cdef double[:, ::1] viol_buffers = _scratch(n_threads, _ROW_BLOCK, np.float64)

    with nogil, parallel(num_threads=n_threads):
        wt = &buffers[threadid(), _PAD]
        xt = wt + k * _LD
        g = xt + k * _LD
        dd = g + _LD
        cb = dd + _LD
        viol = &viol_buffers[threadid(), _PAD]
        for p in prange(n_parts, schedule='static'):
            b0 = p * n_blocks // n_parts
            b1 = (p + 1) * n_blocks // n_parts
            if p == 0:
                acc = &XtW[0, 0]
            else:
                acc = &parts[p - 1, 0, 0]
            wacc = &wparts[p, 0, 0]
            for b in range(b0, b1):
                start = b * _ROW_BLOCK
                nb = m - start
                if nb > _ROW_BLOCK:
                    nb = _ROW_BLOCK
                beta = zero if b == b0 else one
                # the block's X H^T (nb x k)
                _gemm("N", "N", <int> k, <int> nb, <int> n, &Ht[0, 0], <int> k,
                      &X[start, 0], <int> n, zero, cb, <int> k)
                _sweep_block(W, HHt, cb, l1f, l2f, perm, start, nb, wt, xt, g, dd, viol,
                             NULL)
                total = 0.0
                for i in range(nb):
                    total = total + viol[i]
                block_viol[b] = total
                # the part's X^T W (n x k) and W^T W (k x k), with the block's new rows
                _gemm("N", "T", <int> k, <int> n, <int> nb, &W[start, 0], <int> k,
                      &X[start, 0], <int> n, beta, acc, <int> k)
                _gemm("N", "T", <int> k, <int> k, <int> nb, &W[start, 0], <int> k,
                      &W[start, 0], <int> k, beta, wacc, <int> k)

    # the parts added in part order (parallel over the rows of X^T W)
    if n_parts > 1:
        with nogil, parallel(num_threads=n_threads):
            for j in prange(n, schedule='static'):
                o = &XtW[j, 0]
                for q in range(n_parts - 1):
                    src = &parts[q, j, 0]
                    for r in range(k):
                        o[r] = o[r] + src[r]
    for j in range(k):
        for r in range(k):
            WtW[j, r] = wparts[0, j, r]
    for q in range(1, n_parts):
        for j in range(k):
            for r in range(k):
                WtW[j, r] = WtW[j, r] + wparts[q, j, r]
    for b in range(n_blocks):
        violation = violation + block_viol[b]
    return violation


# ------------------------------------------------------------------ Gram matrix
cdef enum:
    _GRAM_MIN_ROWS = 2048
    _GRAM_MAX_CHUNKS = 64

GRAM_MIN_ROWS = _GRAM_MIN_ROWS
GRAM_MAX_CHUNKS = _GRAM_MAX_CHUNKS


cdef inline void _gram_pair(const floating* F, Py_ssize_t k, Py_ssize_t b0, Py_ssize_t b1,
                            Py_ssize_t t, Py_ssize_t r0, Py_ssize_t w,
                            floating* p, floating* q) noexcept nogil:
    """``p[r] += sum_i F[i, t] F[i, r]`` and ``q[r] += sum_i F[i, t+1] F[i, r]`` for the w
    columns r = r0..r0+w-1 and the rows i = b0..b1-1, the sums held in registers (w is a
    constant at every call, so the compiler unrolls and vectorizes the loops over j)."""
    cdef floating acc[_LANES]
    cdef floating acd[_LANES]
    cdef floating a, c
    cdef const floating* f
    cdef Py_ssize_t i, j
    for j in range(w):
        acc[j] = p[r0 + j]
        acd[j] = q[r0 + j]
    for i in range(b0, b1):
        f = F + i * k
        a = f[t]
        c = f[t + 1]
        for j in range(w):
            acc[j] = acc[j] + a * f[r0 + j]
            acd[j] = acd[j] + c * f[r0 + j]
    for j in range(w):
        p[r0 + j] = acc[j]
        q[r0 + j] = acd[j]


cdef void _gram_rows(const floating[:, ::1] F, Py_ssize_t lo, Py_ssize_t hi,
                     floating* P) noexcept nogil:
    """Upper triangle (r >= t) of ``P = sum_{i = lo..hi-1} F[i]^T F[i]`` (k x k,
    row-major), every entry summed over the rows in order.  The entries are kept
    in registers for groups of _LANES (then 8, then 4) columns r and two rows t at a
    time over blocks of _ROW_BLOCK rows of F (which stay in L1), so the loop over the
    rows is not bound by stores; entries below the diagonal of a group of columns are
    computed too and ignored.  (Columns past the last group of 4, and the last row t
    when k is odd, are summed one entry at a time, in local scalars.)"""
    cdef Py_ssize_t k = F.shape[1]
    cdef Py_ssize_t i, t, r, r0, b0, b1
    cdef floating a, c
    cdef floating* p
    cdef floating* q
    cdef const floating* Fp
    for t in range(k * k):
        P[t] = 0
    if hi <= lo or k == 0:
        return
    Fp = &F[0, 0]
    b0 = lo
    while b0 < hi:
        b1 = b0 + _ROW_BLOCK
        if b1 > hi:
            b1 = hi
        t = 0
        while t + 2 <= k:
            p = P + t * k
            q = p + k
            # groups start at multiples of 4 at or below t, as the 16-lane ones did
            r0 = t // 4 * 4
            while r0 + _LANES <= k:
                _gram_pair(Fp, k, b0, b1, t, r0, _LANES, p, q)
                r0 = r0 + _LANES
            if r0 + 8 <= k:
                _gram_pair(Fp, k, b0, b1, t, r0, 8, p, q)
                r0 = r0 + 8
            if r0 + 4 <= k:
                _gram_pair(Fp, k, b0, b1, t, r0, 4, p, q)
                r0 = r0 + 4
            r = r0 if r0 > t else t
            while r < k:
                a = p[r]
                c = q[r]
                for i in range(b0, b1):
                    a = a + Fp[i * k + t] * Fp[i * k + r]
                    c = c + Fp[i * k + t + 1] * Fp[i * k + r]
                p[r] = a
                q[r] = c
                r = r + 1
            t = t + 2
        if t < k:
            p = P + t * k
            for r in range(t, k):
                a = p[r]
                for i in range(b0, b1):
                    a = a + Fp[i * k + t] * Fp[i * k + r]
                p[r] = a
        b0 = b1


def gram(const floating[:, ::1] F, floating[:, ::1] out, int n_threads):
    """out = F^T F (k x k) for F (m x k), in chunks of rows fixed by m alone.

    See :mod:`fastnmf._kernels` for the full contract.
    """
    cdef Py_ssize_t m = F.shape[0]
    cdef Py_ssize_t k = F.shape[1]
    cdef Py_ssize_t c, t, r
    cdef Py_ssize_t n_chunks = gram_chunks(m)
    if k == 0:
        return
    dtype = np.float32 if floating is float else np.float64
    # chunk partials, _PAD apart so that two threads never share a cache line
    cdef floating[:, ::1] parts = np.empty((n_chunks, k * k + _PAD), dtype=dtype)
    with nogil, parallel(num_threads=n_threads):
        for c in prange(n_chunks, schedule='static'):
            _gram_rows(F, c * m // n_chunks, (c + 1) * m // n_chunks, &parts[c, 0])
    for t in range(k):
        for r in range(t, k):
            out[t, r] = parts[0, t * k + r]
        for c in range(1, n_chunks):
            for r in range(t, k):
                out[t, r] = out[t, r] + parts[c, t * k + r]
        for r in range(t + 1, k):
            out[r, t] = out[t, r]


def extrapolate(floating[:, ::1] F, floating[:, ::1] F_prev, double beta, int n_threads):
    """One extrapolation step in place: F <- max(F + beta (F - F_prev), 0), F_prev <- F.

    See :mod:`fastnmf._kernels` for the full contract.
    """
    cdef Py_ssize_t m = F.shape[0]
    cdef Py_ssize_t k = F.shape[1]
    cdef floating b = <floating> beta
    cdef floating f, y
    cdef Py_ssize_t i, j
    with nogil:
        for i in prange(m, schedule='static', num_threads=n_threads):
            for j in range(k):
                f = F[i, j]
                y = f + b * (f - F_prev[i, j])
                F_prev[i, j] = f
                F[i, j] = 0 if y < 0 else y


cdef inline void _mu_denominators(const floating* w, const floating* hh,
                                  Py_ssize_t k, floating* out) noexcept nogil:
    """out[j] = sum_r w[r] * hh[r, j], summed over r = 0..k-1 in ascending order.

    The same rounding as the axpy ``out += w[r] * hh[r, :]`` from out = 0, but
    columns are taken 8 at a time with the partial sums held in registers, so
    the k x k inner loop does not load and store ``out``.
    """
    cdef Py_ssize_t j0 = 0, j, r
    cdef floating d0, d1, d2, d3, d4, d5, d6, d7, wr
    cdef const floating* h
    while j0 + 8 <= k:
        d0 = 0; d1 = 0; d2 = 0; d3 = 0; d4 = 0; d5 = 0; d6 = 0; d7 = 0
        for r in range(k):
            wr = w[r]
            h = hh + r * k + j0
            d0 = d0 + wr * h[0]
            d1 = d1 + wr * h[1]
            d2 = d2 + wr * h[2]
            d3 = d3 + wr * h[3]
            d4 = d4 + wr * h[4]
            d5 = d5 + wr * h[5]
            d6 = d6 + wr * h[6]
            d7 = d7 + wr * h[7]
        out[j0] = d0
        out[j0 + 1] = d1
        out[j0 + 2] = d2
        out[j0 + 3] = d3
        out[j0 + 4] = d4
        out[j0 + 5] = d5
        out[j0 + 6] = d6
        out[j0 + 7] = d7
        j0 = j0 + 8
    for j in range(j0, k):
        d0 = 0
        for r in range(k):
            d0 = d0 + w[r] * hh[r * k + j]
        out[j] = d0


def mu_update(floating[:, ::1] W, const floating[:, ::1] HHt,
              const floating[:, ::1] XHt, double l1, double l2, int n_threads):
    """Multiplicative update of W in place (Lee & Seung 2001, with L1/L2 terms).

    See :mod:`fastnmf._kernels` for the full contract.
    """
    cdef Py_ssize_t m = W.shape[0]
    cdef Py_ssize_t k = W.shape[1]
    cdef Py_ssize_t n_blocks = _n_blocks(m)
    cdef floating l1f = <floating> l1
    cdef floating l2f = <floating> l2
    cdef floating eps = <floating> _MU_EPS
    cdef Py_ssize_t b, i, j, start, stop
    cdef floating d
    cdef floating* wi
    cdef floating* denom = NULL
    if m == 0 or k == 0:
        return
    # The denominators of a whole row are computed from the old row before any
    # entry changes, into one scratch row per thread indexed by threadid() (0
    # without OpenMP; OpenMP never starts more than num_threads threads).
    dtype = np.float32 if floating is float else np.float64
    cdef floating[:, ::1] buffers = _scratch(n_threads, k, dtype)

    with nogil, parallel(num_threads=n_threads):
        denom = &buffers[threadid(), _PAD]
        for b in prange(n_blocks, schedule='static'):
            start = b * _ROW_BLOCK
            stop = start + _ROW_BLOCK
            if stop > m:
                stop = m
            for i in range(start, stop):
                wi = &W[i, 0]
                _mu_denominators(wi, &HHt[0, 0], k, denom)
                for j in range(k):
                    d = denom[j] + l1f + l2f * wi[j]
                    if d == 0:
                        d = eps
                    wi[j] = wi[j] * (XHt[i, j] / d)


cdef inline double _row_sq_diff(const floating* x, const floating* p,
                                Py_ssize_t n) noexcept nogil:
    """sum_j (x[j] - p[j])^2, the difference in floating, squares summed in double
    with 8 strided partial sums combined pairwise, then the tail."""
    cdef double a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0
    cdef double d0, d1, d2, d3, d4, d5, d6, d7, s
    cdef Py_ssize_t j = 0
    while j + 8 <= n:
        d0 = <double> (x[j] - p[j])
        d1 = <double> (x[j + 1] - p[j + 1])
        d2 = <double> (x[j + 2] - p[j + 2])
        d3 = <double> (x[j + 3] - p[j + 3])
        d4 = <double> (x[j + 4] - p[j + 4])
        d5 = <double> (x[j + 5] - p[j + 5])
        d6 = <double> (x[j + 6] - p[j + 6])
        d7 = <double> (x[j + 7] - p[j + 7])
        a0 = a0 + d0 * d0
        a1 = a1 + d1 * d1
        a2 = a2 + d2 * d2
        a3 = a3 + d3 * d3
        a4 = a4 + d4 * d4
        a5 = a5 + d5 * d5
        a6 = a6 + d6 * d6
        a7 = a7 + d7 * d7
        j = j + 8
    s = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))
    while j < n:
        d0 = <double> (x[j] - p[j])
        s = s + d0 * d0
        j = j + 1
    return s


def squared_residual(const floating[:, ::1] X, const floating[:, ::1] W,
                     const floating[:, ::1] H, int n_threads):
    """||X - W H||_F^2 summed entry by entry, no m x n temporary.

    See :mod:`fastnmf._kernels` for the full contract.  Blocks of rows of
    ``W H`` are formed by NumPy's BLAS (the library of the solver's own
    products, whose threads the caller limits to ``n_threads``: a second BLAS
    would compete with the first one's spinning workers); the residual is
    summed here row by row, rows added in order.
    """
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
                total += _row_sq_diff(&X[start + i, 0], &P[i, 0], n)
        start = start + rows
    return total
