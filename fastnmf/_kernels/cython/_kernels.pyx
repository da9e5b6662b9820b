# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, binding=True, embedsignature=True
"""Cython/OpenMP twins of the reference kernels (see :mod:`fastnmf._kernels`).

The update kernels loop over blocks of ``ROW_BLOCK`` rows in parallel
(``prange``) with the components inside.  Rows are independent problems given
the Gram matrix and the cross product, so the updated factor does not depend
on ``n_threads``; scalar reductions are accumulated in double per block and the
block partials are summed in block order afterwards, so the returned scalars do
not depend on it either.  Every operation is written in the same order as in
the Numba twins, and the loops vectorize without ``-ffast-math`` (rows held as
vector lanes, reductions as fixed 8-way partial sums).
"""

import numpy as np

from cython cimport floating
from cython.parallel cimport parallel, prange, threadid
from libc.math cimport INFINITY, fabs, log, log1p, pow, sqrt

from fastnmf._kernels import gram_chunks, pass_parts, row_chunks
from scipy.linalg.cython_blas cimport dgemm, sgemm

# Index arrays of a CSR matrix: int32 or int64 (indices and indptr share one).
ctypedef fused index_t:
    int
    long long

# Rows per reduction block: must equal fastnmf._kernels.ROW_BLOCK (checked in
# __init__.py at import time); a compile-time constant keeps the loops simple.
cdef enum:
    _ROW_BLOCK = 64

# Denominator guard of the multiplicative update: float32 machine epsilon
# (fastnmf._kernels.MU_EPS, also checked in __init__.py).
cdef double _MU_EPS = 1.1920928955078125e-07
# fastnmf._kernels.COMPLEMENT_HESS_RTOL (checked in __init__.py)
cdef double _COMPLEMENT_HESS_RTOL = 1e-12
COMPLEMENT_HESS_RTOL = _COMPLEMENT_HESS_RTOL

# Per-thread scratch rows are separated by _PAD elements (>= 128 bytes) so that
# two threads never write to the same or adjacent cache lines (false sharing
# made mu_update slower with 2 threads than with 1 without it).
cdef enum:
    _PAD = 32


cdef object _scratch(int n_threads, Py_ssize_t width, dtype):
    """Zeroed (n_threads + 1, _PAD + width) buffer; thread t uses row t from column _PAD."""
    return np.zeros((max(n_threads, 1) + 1, _PAD + width), dtype=dtype)

cdef extern from *:
    """
    #ifdef _OPENMP
    #define FASTNMF_COMPILED_WITH_OPENMP 1
    #else
    #define FASTNMF_COMPILED_WITH_OPENMP 0
    #endif
    """
    int FASTNMF_COMPILED_WITH_OPENMP

#: True when this extension was compiled with OpenMP (otherwise prange is serial).
OPENMP = bool(FASTNMF_COMPILED_WITH_OPENMP)

ROW_BLOCK = _ROW_BLOCK
MU_EPS = _MU_EPS


cdef inline Py_ssize_t _n_blocks(Py_ssize_t m) noexcept nogil:
    return (m + _ROW_BLOCK - 1) // _ROW_BLOCK


# HALS sweep: a block's rows are the vector lanes, the block held transposed with
# leading dimension _LD (not 64: a power-of-two stride puts every element of a column
# in the same few cache sets), and the gradients of _LANES rows at a time are kept in
# registers over the components r (measured, 100000 x 32: 8.4 against 11.7 ms per
# float64 sweep on 2 threads, 5.1 against 7.9 ms in float32).  The order of operations
# per row is unchanged, so the results are too.
cdef enum:
    _LANES = 16
    _LD = 72


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


def _residual_block_rows(Py_ssize_t n):
    """Rows of W H formed per BLAS call: about 2**18 entries, a multiple of 64.
    (Only the size of the scratch block; the result does not depend on it.)"""
    return max(64, ((1 << 18) // max(n, 1)) // 64 * 64)


cdef extern from "fastnmf_vector.h":
    void fastnmf_csr_di_gather(const double* data, const int* idx, Py_ssize_t p0,
                               Py_ssize_t p1, const double* B, Py_ssize_t k,
                               double* out) noexcept nogil
    void fastnmf_csr_dl_gather(const double* data, const long long* idx, Py_ssize_t p0,
                               Py_ssize_t p1, const double* B, Py_ssize_t k,
                               double* out) noexcept nogil
    void fastnmf_csr_fi_gather(const float* data, const int* idx, Py_ssize_t p0,
                               Py_ssize_t p1, const float* B, Py_ssize_t k,
                               float* out) noexcept nogil
    void fastnmf_csr_fl_gather(const float* data, const long long* idx, Py_ssize_t p0,
                               Py_ssize_t p1, const float* B, Py_ssize_t k,
                               float* out) noexcept nogil
    void fastnmf_csr_di_scatter(const double* data, const int* idx, Py_ssize_t p0,
                                Py_ssize_t p1, const double* a, Py_ssize_t k,
                                double* acc) noexcept nogil
    void fastnmf_csr_dl_scatter(const double* data, const long long* idx, Py_ssize_t p0,
                                Py_ssize_t p1, const double* a, Py_ssize_t k,
                                double* acc) noexcept nogil
    void fastnmf_csr_fi_scatter(const float* data, const int* idx, Py_ssize_t p0,
                                Py_ssize_t p1, const float* a, Py_ssize_t k,
                                float* acc) noexcept nogil
    void fastnmf_csr_fl_scatter(const float* data, const long long* idx, Py_ssize_t p0,
                                Py_ssize_t p1, const float* a, Py_ssize_t k,
                                float* acc) noexcept nogil


cdef inline void _csr_gather(const floating* data, const index_t* idx, Py_ssize_t p0,
                             Py_ssize_t p1, const floating* B, Py_ssize_t k,
                             floating* out) noexcept nogil:
    """out[:k] = sum_p data[p] * B[idx[p]], p = p0 .. p1 - 1 in order (fastnmf_vector.h)."""
    if floating is double:
        if index_t is int:
            fastnmf_csr_di_gather(data, idx, p0, p1, B, k, out)
        else:
            fastnmf_csr_dl_gather(data, idx, p0, p1, B, k, out)
    else:
        if index_t is int:
            fastnmf_csr_fi_gather(data, idx, p0, p1, B, k, out)
        else:
            fastnmf_csr_fl_gather(data, idx, p0, p1, B, k, out)


cdef inline void _csr_scatter(const floating* data, const index_t* idx, Py_ssize_t p0,
                              Py_ssize_t p1, const floating* a, Py_ssize_t k,
                              floating* acc) noexcept nogil:
    """acc[idx[p]] += data[p] * a[:k], p = p0 .. p1 - 1 in order (fastnmf_vector.h)."""
    if floating is double:
        if index_t is int:
            fastnmf_csr_di_scatter(data, idx, p0, p1, a, k, acc)
        else:
            fastnmf_csr_dl_scatter(data, idx, p0, p1, a, k, acc)
    else:
        if index_t is int:
            fastnmf_csr_fi_scatter(data, idx, p0, p1, a, k, acc)
        else:
            fastnmf_csr_fl_scatter(data, idx, p0, p1, a, k, acc)


def csr_matmul(const floating[::1] data, const index_t[::1] indices,
               const index_t[::1] indptr, const floating[:, ::1] B,
               floating[:, ::1] out, int n_threads):
    """out = X @ B for a CSR matrix X (data, indices, indptr) and dense B (n x k).

    Parallel over rows of X; row i's nonzeros are gathered in stored order,
    ``out[i] = sum_p data[p] * B[indices[p]]``, the row's sums held in vector registers
    (``fastnmf_vector.h``).  The result does not depend on ``n_threads``.  See
    :mod:`fastnmf._kernels` for the full contract.
    """
    cdef Py_ssize_t m = out.shape[0]
    cdef Py_ssize_t k = out.shape[1]
    cdef Py_ssize_t i
    if m == 0 or k == 0:
        return
    if data.shape[0] == 0:  # no nonzeros (and maybe nothing to point at)
        out[:, :] = 0
        return

    with nogil, parallel(num_threads=n_threads):
        for i in prange(m, schedule='static'):
            _csr_gather(&data[0], &indices[0], <Py_ssize_t> indptr[i],
                        <Py_ssize_t> indptr[i + 1], &B[0, 0], k, &out[i, 0])


def csr_t_matmul(const floating[::1] data, const index_t[::1] indices,
                 const index_t[::1] indptr, const floating[:, ::1] A,
                 floating[:, ::1] out, int n_threads):
    """out = X^T @ A for a CSR matrix X (data, indices, indptr) and dense A (m x k).

    The rows of X are split by ``row_chunks(indptr, n_threads)``; each chunk
    scatters ``data[p] * A[i]`` into ``out[indices[p]]`` in a private n x k
    accumulator (chunk 0 directly into ``out``), rows and nonzeros in order (A's row
    held in vector registers: ``fastnmf_vector.h``), and
    the accumulators are then added to ``out`` in chunk order.  Deterministic for
    a given ``n_threads``.  See :mod:`fastnmf._kernels` for the full contract.
    """
    cdef Py_ssize_t n = out.shape[0]
    cdef Py_ssize_t k = out.shape[1]
    cdef Py_ssize_t nk = n * k
    cdef Py_ssize_t c, i, j, q, r
    cdef floating* acc
    cdef floating* o
    cdef const floating* s
    if n == 0 or k == 0:
        return
    if data.shape[0] == 0:
        out[:, :] = 0
        return
    cdef Py_ssize_t[::1] bounds = row_chunks(np.asarray(indptr), n_threads)
    cdef Py_ssize_t n_chunks = bounds.shape[0] - 1
    dtype = np.float32 if floating is float else np.float64
    # chunk c > 0 scatters into scratch[c - 1]
    cdef floating[:, :, ::1] scratch = np.empty((n_chunks - 1, n, k), dtype=dtype)

    with nogil, parallel(num_threads=n_threads):
        for c in prange(n_chunks, schedule='static', chunksize=1):
            if c == 0:
                acc = &out[0, 0]
            else:
                acc = &scratch[c - 1, 0, 0]
            for q in range(nk):
                acc[q] = 0
            for i in range(bounds[c], bounds[c + 1]):
                _csr_scatter(&data[0], &indices[0], <Py_ssize_t> indptr[i],
                             <Py_ssize_t> indptr[i + 1], &A[i, 0], k, acc)

    if n_chunks < 2:
        return
    # add the private accumulators in chunk order, in parallel over rows of out
    with nogil, parallel(num_threads=n_threads):
        for r in prange(n, schedule='static'):
            o = &out[r, 0]
            for c in range(n_chunks - 1):
                s = &scratch[c, r, 0]
                for j in range(k):
                    o[j] = o[j] + s[j]


# ------------------------------------------------------------------ KL divergence
# Twins of fastnmf/_kernels/numba/kl.py, operation for operation (see the
# contract in fastnmf/_kernels/__init__.py).  Everything per entry is in double.

cdef enum:
    _KL_MAX_BACKTRACK = 30
cdef double _KL_INNER_TOL = 1e-6

KL_MAX_BACKTRACK = _KL_MAX_BACKTRACK
KL_INNER_TOL = _KL_INNER_TOL


cdef inline double _max(double a, double b) noexcept nogil:
    # Python's max(a, b): a unless b > a
    return b if b > a else a


cdef inline double _min(double a, double b) noexcept nogil:
    # Python's min(a, b): a unless b < a
    return b if b < a else a


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


include "_nnls.pxi"
