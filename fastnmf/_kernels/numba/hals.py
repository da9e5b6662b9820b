"""HALS / exact coordinate descent sweep (Cichocki & Phan 2009; scikit-learn's cd)."""

import numba
import numpy as np

from .. import ROW_BLOCK, check_sweeps_args, gram_chunks, pass_parts, run_hals_sweeps
from ._common import JIT, PARALLEL_JIT, n_row_blocks, partials, set_threads, sum_in_order


@numba.njit(**JIT)
def _sweep_block(W, HHt, XHt, xoff, l1, l2, perm, start, nb, wt, g, viol, dsq, dd, track):
    """The sweep of rows ``start .. start + nb`` of W (nb <= ROW_BLOCK), their cross
    product in rows ``xoff .. xoff + nb`` of XHt; |projected gradient| per row into
    ``viol`` and, when ``track``, the squared change per row into ``dsq`` (both zeroed
    here)."""
    m, k = W.shape
    zero = W.dtype.type(0)
    # The block, transposed, so that its rows are the vector lanes: every
    # loop below runs over the block's rows, contiguous, with no reduction.
    # Each row sees scikit-learn's arithmetic for coordinate t, in its order:
    #   grad = -(XHt[i, t] - l1); grad += (HHt[t, r] + l2 [r == t]) * W[i, r]
    #   W[i, t] = max(W[i, t] - grad / (HHt[t, t] + l2), 0)   (skipped if that is 0)
    for i in range(nb):
        viol[i] = 0.0
        dsq[i] = 0.0
        for r in range(k):
            wt[r, i] = W[start + i, r]
    for s in range(perm.shape[0]):
        t = perm[s]
        for i in range(nb):
            g[i] = -(XHt[xoff + i, t] - l1)
        # four components per pass over g, still added one after the other (left
        # to right: scikit-learn's order), so g is loaded and stored once per four
        r = 0
        while r + 4 <= k:
            h0 = HHt[t, r]
            h1 = HHt[t, r + 1]
            h2 = HHt[t, r + 2]
            h3 = HHt[t, r + 3]
            if t == r:
                h0 = h0 + l2
            elif t == r + 1:
                h1 = h1 + l2
            elif t == r + 2:
                h2 = h2 + l2
            elif t == r + 3:
                h3 = h3 + l2
            w0 = wt[r]
            w1 = wt[r + 1]
            w2 = wt[r + 2]
            w3 = wt[r + 3]
            for i in range(nb):
                g[i] = g[i] + h0 * w0[i] + h1 * w1[i] + h2 * w2[i] + h3 * w3[i]
            r += 4
        while r < k:
            h = HHt[t, r]
            if r == t:
                h = h + l2
            wr = wt[r]
            for i in range(nb):
                g[i] += h * wr[i]
            r += 1
        hess = HHt[t, t] + l2
        wr = wt[t]
        for i in range(nb):
            grad = g[i]
            w = wr[i]
            # projected gradient: at a zero coordinate only a negative
            # gradient counts (written so that NaN propagates)
            pg = grad
            if w == 0 and grad > 0:
                pg = zero
            viol[i] += abs(np.float64(pg))
            if hess != 0:
                w_new = w - grad / hess
                w_new = w_new if w_new > 0 else zero
                wr[i] = w_new
                dd[i] = w_new - w
            else:
                dd[i] = zero
        if track:  # a loop of its own, so that the one above still vectorizes
            for i in range(nb):
                d = np.float64(dd[i])
                dsq[i] += d * d
    for i in range(nb):
        for r in range(k):
            W[start + i, r] = wt[r, i]


@numba.njit(**PARALLEL_JIT)
def _hals_sweep(W, HHt, XHt, l1, l2, perm, out, change):
    m, k = W.shape
    track = change.shape[0] > 0  # squared change of each block (hals_sweep_blocks)
    for b in numba.prange(out.shape[0]):
        start = b * ROW_BLOCK
        nb = min(m, start + ROW_BLOCK) - start
        wt = np.empty((k, ROW_BLOCK), dtype=W.dtype)
        g = np.empty(ROW_BLOCK, dtype=W.dtype)
        viol = np.empty(ROW_BLOCK, dtype=np.float64)
        dsq = np.empty(ROW_BLOCK, dtype=np.float64)
        dd = np.empty(ROW_BLOCK, dtype=W.dtype)
        _sweep_block(W, HHt, XHt, start, l1, l2, perm, start, nb, wt, g, viol, dsq, dd, track)
        acc = 0.0
        acd = 0.0
        for i in range(nb):
            acc += viol[i]
            acd += dsq[i]
        out[b] = acc
        if track:
            change[b] = acd
    return out


@numba.njit(**PARALLEL_JIT)
def _hals_pass_dense(X, Ht, HHt, W, l1, l2, perm, XtW, parts, wparts, block_viol):
    """The cython twin's loop: parts of blocks of rows in parallel; per block X_b H^T, the
    sweep, then the part's X_b^T W_b and W_b^T W_b (np.dot: BLAS, one thread per call)."""
    m, k = W.shape
    n = X.shape[1]
    n_blocks = block_viol.shape[0]
    n_parts = wparts.shape[0]
    for p in numba.prange(n_parts):
        b0 = p * n_blocks // n_parts
        b1 = (p + 1) * n_blocks // n_parts
        wt = np.empty((k, ROW_BLOCK), dtype=W.dtype)
        g = np.empty(ROW_BLOCK, dtype=W.dtype)
        viol = np.empty(ROW_BLOCK, dtype=np.float64)
        dsq = np.empty(ROW_BLOCK, dtype=np.float64)
        dd = np.empty(ROW_BLOCK, dtype=W.dtype)
        acc = np.zeros((n, k), dtype=W.dtype)
        wacc = np.zeros((k, k), dtype=W.dtype)
        for b in range(b0, b1):
            start = b * ROW_BLOCK
            nb = min(m, start + ROW_BLOCK) - start
            Xb = X[start:start + nb]
            C = np.dot(Xb, Ht)
            _sweep_block(W, HHt, C, 0, l1, l2, perm, start, nb, wt, g, viol, dsq, dd, False)
            total = 0.0
            for i in range(nb):
                total += viol[i]
            block_viol[b] = total
            Wb = W[start:start + nb]
            acc += np.dot(Xb.T, Wb)
            wacc += np.dot(Wb.T, Wb)
        if p == 0:
            XtW[:, :] = acc
        else:
            parts[p - 1, :, :] = acc
        wparts[p, :, :] = wacc
    # the parts added in part order
    for q in range(n_parts - 1):
        for j in numba.prange(n):
            for r in range(k):
                XtW[j, r] += parts[q, j, r]


def hals_sweep(W, HHt, XHt, l1, l2, perm, n_threads):
    dt = W.dtype.type
    previous = set_threads(n_threads)
    try:
        out = _hals_sweep(W, HHt, XHt, dt(l1), dt(l2), perm, partials(W.shape[0]),
                          np.empty(0, dtype=np.float64))
    finally:
        numba.set_num_threads(previous)
    return sum_in_order(out)


def hals_sweep_blocks(W, HHt, XHt, l1, l2, perm, viol_out, change_out, n_threads):
    nbk = n_row_blocks(W.shape[0])
    if viol_out.shape[0] != nbk or change_out.shape[0] != nbk:
        raise ValueError(f"hals_sweep_blocks: viol_out and change_out need {nbk} entries")
    if nbk == 0:
        return
    dt = W.dtype.type
    previous = set_threads(n_threads)
    try:
        _hals_sweep(W, HHt, XHt, dt(l1), dt(l2), perm, viol_out, change_out)
    finally:
        numba.set_num_threads(previous)


def hals_sweeps(W, HHt, XHt, l1, l2, perm, budget, eps, viol_out, change_out, n_threads):
    check_sweeps_args(W.shape[0], budget, viol_out, change_out)
    if W.shape[0] == 0:
        return 0.0
    dt = W.dtype.type
    l1, l2 = dt(l1), dt(l2)
    previous = set_threads(n_threads)
    try:
        return run_hals_sweeps(
            lambda: _hals_sweep(W, HHt, XHt, l1, l2, perm, viol_out, change_out),
            budget, eps, viol_out, change_out)
    finally:
        numba.set_num_threads(previous)


@numba.njit(**PARALLEL_JIT)
def _extrapolate(F, F_prev, beta):
    m, k = F.shape
    zero = F.dtype.type(0)
    for i in numba.prange(m):
        for j in range(k):
            f = F[i, j]
            y = f + beta * (f - F_prev[i, j])
            F_prev[i, j] = f
            F[i, j] = zero if y < zero else y


def extrapolate(F, F_prev, beta, n_threads):
    previous = set_threads(n_threads)
    try:
        _extrapolate(F, F_prev, F.dtype.type(beta))
    finally:
        numba.set_num_threads(previous)


@numba.njit(**PARALLEL_JIT)
def _gram(F, parts):
    m, k = F.shape
    n_chunks = parts.shape[0]
    for c in numba.prange(n_chunks):
        P = parts[c]
        P[:] = 0
        lo = c * m // n_chunks
        hi = (c + 1) * m // n_chunks
        # every entry (t, r >= t) summed over the chunk's rows in order: four rows
        # per statement, still added one after the other (left to right), so a row
        # of P is loaded and stored once per four rows of F, and the loop over r
        # vectorizes (numba has no SLP vectorizer to keep P in registers)
        for b0 in range(lo, hi, ROW_BLOCK):
            b1 = min(b0 + ROW_BLOCK, hi)
            for t in range(k):
                # views from column t on, indexed from 0: with range(t, k) LLVM does not
                # vectorize (it cannot drop numba's negative-index handling)
                p = P[t, t:]
                n = k - t
                i = b0
                while i + 4 <= b1:
                    f0 = F[i, t:]
                    f1 = F[i + 1, t:]
                    f2 = F[i + 2, t:]
                    f3 = F[i + 3, t:]
                    a0 = f0[0]
                    a1 = f1[0]
                    a2 = f2[0]
                    a3 = f3[0]
                    for r in range(n):
                        p[r] = p[r] + a0 * f0[r] + a1 * f1[r] + a2 * f2[r] + a3 * f3[r]
                    i += 4
                while i < b1:
                    f0 = F[i, t:]
                    a0 = f0[0]
                    for r in range(n):
                        p[r] = p[r] + a0 * f0[r]
                    i += 1
    return parts


def gram(F, out, n_threads):
    m, k = F.shape
    if k == 0:
        return
    n_chunks = gram_chunks(m)
    previous = set_threads(n_threads)
    try:
        parts = _gram(F, np.empty((n_chunks, k, k), dtype=F.dtype))
    finally:
        numba.set_num_threads(previous)
    _add_upper(parts, out)


@numba.njit(**JIT)
def _add_upper(parts, out):
    n_chunks, k, _ = parts.shape
    for t in range(k):
        for r in range(t, k):
            v = parts[0, t, r]
            for c in range(1, n_chunks):
                v += parts[c, t, r]
            out[t, r] = v
            out[r, t] = v


def hals_pass_dense(X, Ht, HHt, W, l1, l2, perm, XtW, WtW, n_threads):
    m, n = X.shape
    k = W.shape[1]
    if W.shape[0] != m or Ht.shape[0] != n or Ht.shape[1] != k:
        raise ValueError("hals_pass_dense: X, Ht and W do not match")
    if XtW.shape != (n, k) or WtW.shape != (k, k):
        raise ValueError(f"hals_pass_dense: XtW must be {n} x {k} and WtW {k} x {k}")
    if m == 0 or k == 0 or n == 0:
        XtW[...] = 0
        WtW[...] = 0
        if m == 0 or k == 0:
            return 0.0
        return hals_sweep(W, HHt, np.zeros((m, k), dtype=W.dtype), l1, l2, perm, n_threads)
    n_parts = pass_parts(m, k)
    parts = np.empty((n_parts - 1, n, k), dtype=W.dtype)
    wparts = np.empty((n_parts, k, k), dtype=W.dtype)
    block_viol = np.empty(n_row_blocks(m), dtype=np.float64)
    dt = W.dtype.type
    previous = set_threads(n_threads)
    try:
        _hals_pass_dense(X, Ht, HHt, W, dt(l1), dt(l2), perm, XtW, parts, wparts, block_viol)
    finally:
        numba.set_num_threads(previous)
    WtW[...] = wparts[0]
    for q in range(1, n_parts):
        WtW += wparts[q]
    return sum_in_order(block_viol)
