"""Slow, obviously correct NumPy versions of every kernel (backend ``"numpy"``).

Each function follows the contract in :mod:`fastnmf._kernels` literally: the
loop over components is explicit, and the rows (which are independent problems
given the Gram matrix and the cross product) are handled as NumPy vectors.
``n_threads`` is accepted and ignored.
"""

import numpy as np

from . import (COMPLEMENT_HESS_RTOL, KERNELS, MU_EPS, NNLS_PIVOT_TOL, NNLS_TOL, ROW_BLOCK,
               check_sweeps_args, gram_chunks, n_row_blocks, row_chunks, run_hals_sweeps)

__all__ = list(KERNELS)


def hals_sweep(W, HHt, XHt, l1, l2, perm, n_threads):
    dt = W.dtype.type
    l1, l2 = dt(l1), dt(l2)
    violation = 0.0
    for t in perm:
        w = W[:, t]
        grad = W @ HHt[t] - XHt[:, t] + l1 + l2 * w
        # projected gradient: at a zero coordinate only a negative gradient counts
        pg = np.where(w == 0, np.minimum(grad, 0), grad)
        violation += float(np.abs(pg).sum(dtype=np.float64))
        hess = HHt[t, t] + l2
        if hess != 0:
            W[:, t] = np.maximum(w - grad / hess, 0)
    return violation


def hals_sweep_blocks(W, HHt, XHt, l1, l2, perm, viol_out, change_out, n_threads):
    m = W.shape[0]
    n_blocks = n_row_blocks(m)
    if len(viol_out) != n_blocks or len(change_out) != n_blocks:
        raise ValueError(f"hals_sweep_blocks: viol_out and change_out need {n_blocks} entries")
    for b in range(n_blocks):
        rows = slice(b * ROW_BLOCK, min(m, (b + 1) * ROW_BLOCK))
        old = W[rows].copy()
        viol_out[b] = hals_sweep(W[rows], HHt, XHt[rows], l1, l2, perm, n_threads)
        d = (W[rows] - old).astype(np.float64)
        change_out[b] = float(np.sum(d * d))


def hals_sweeps(W, HHt, XHt, l1, l2, perm, budget, eps, viol_out, change_out, n_threads):
    check_sweeps_args(W.shape[0], budget, viol_out, change_out)
    return run_hals_sweeps(
        lambda: hals_sweep_blocks(W, HHt, XHt, l1, l2, perm, viol_out, change_out, n_threads),
        budget, eps, viol_out, change_out)


def hals_pass_dense(X, Ht, HHt, W, l1, l2, perm, XtW, WtW, n_threads):
    """The sweep on the whole ``X @ Ht``, then the two products of the new W."""
    if X.shape[0] != W.shape[0] or Ht.shape != (X.shape[1], W.shape[1]):
        raise ValueError("hals_pass_dense: X, Ht and W do not match")
    if XtW.shape != (X.shape[1], W.shape[1]) or WtW.shape != (W.shape[1], W.shape[1]):
        raise ValueError(f"hals_pass_dense: XtW must be {X.shape[1]} x {W.shape[1]} and "
                         f"WtW {W.shape[1]} x {W.shape[1]}")
    violation = hals_sweep(W, HHt, X @ Ht, l1, l2, perm, n_threads)
    XtW[...] = X.T @ W
    WtW[...] = W.T @ W
    return violation


def gram(F, out, n_threads):
    """``out = F^T F``: the chunks' partials (each by NumPy's BLAS) added in chunk order."""
    m = F.shape[0]
    n_chunks = gram_chunks(m)
    out[...] = 0
    for c in range(n_chunks):
        part = F[c * m // n_chunks:(c + 1) * m // n_chunks]
        out += part.T @ part
    # symmetric exactly, from the upper triangle, as the compiled kernels
    iu = np.triu_indices(F.shape[1], 1)
    out.T[iu] = out[iu]


def extrapolate(F, F_prev, beta, n_threads):
    b = F.dtype.type(beta)
    y = F + b * (F - F_prev)
    F_prev[...] = F
    F[...] = np.where(y < 0, F.dtype.type(0), y)


def mu_update(W, HHt, XHt, l1, l2, n_threads):
    dt = W.dtype.type
    denom = W @ HHt + dt(l1) + dt(l2) * W
    denom[denom == 0] = dt(MU_EPS)
    W *= XHt / denom


def squared_residual(X, W, H, n_threads):
    total = 0.0
    for start in range(0, X.shape[0], ROW_BLOCK):
        stop = start + ROW_BLOCK
        R = X[start:stop] - W[start:stop] @ H
        total += float(np.einsum("ij,ij->", R, R, dtype=np.float64))
    return total


def csr_matmul(data, indices, indptr, B, out, n_threads):
    for i in range(len(indptr) - 1):
        s, e = indptr[i], indptr[i + 1]
        out[i] = data[s:e] @ B[indices[s:e]]


def csr_t_matmul(data, indices, indptr, A, out, n_threads):
    bounds = row_chunks(indptr, n_threads)
    out[:] = 0
    for c in range(len(bounds) - 1):
        acc = np.zeros_like(out)
        for i in range(bounds[c], bounds[c + 1]):
            s, e = indptr[i], indptr[i + 1]
            np.add.at(acc, indices[s:e], data[s:e, None] * A[i])
        out += acc


# ------------------------------------------------------------ KL / beta-divergence
def _kl_terms(x, wh):
    """sum x log(x / max(wh, EPS)) - x over x > 0, in float64."""
    keep = x > 0
    x = x[keep].astype(np.float64)
    v = np.maximum(wh[keep].astype(np.float64), MU_EPS)
    return float(np.sum(x * np.log(x / v) - x))


def kl_nonzero_loss(X, W, H, n_threads):
    total = 0.0
    for start in range(0, X.shape[0], ROW_BLOCK):
        stop = start + ROW_BLOCK
        total += _kl_terms(X[start:stop], W[start:stop] @ H)
    return total


def _row_entries(data, indices, indptr, i):
    s, e = indptr[i], indptr[i + 1]
    x, j = data[s:e], indices[s:e]
    keep = x > 0
    return x[keep].astype(np.float64), j[keep]


def _wh(a, B, j):
    return B[j].astype(np.float64) @ a.astype(np.float64)


def kl_nonzero_loss_csr(data, indices, indptr, W, Ht, n_threads):
    total = 0.0
    for i in range(len(indptr) - 1):
        x, j = _row_entries(data, indices, indptr, i)
        total += _kl_terms(x, _wh(W[i], Ht, j))
    return total


def mu_numerator_csr(data, indices, indptr, A, B, beta, out, want_loss, n_threads):
    loss = 0.0
    for i in range(len(indptr) - 1):
        x, j = _row_entries(data, indices, indptr, i)
        wh = _wh(A[i], B, j)
        if beta == 1:
            f = x / np.maximum(wh, MU_EPS)
            if want_loss:
                loss += _kl_terms(x, wh)
        elif beta < 2:
            f = x * np.maximum(wh, MU_EPS) ** (beta - 2)
        else:
            f = x * wh ** (beta - 2)
        out[i] = f @ B[j].astype(np.float64)
    return loss


def _curvature(x, g, wh, d):
    v = wh + d * g
    inv = 1.0 / np.maximum(v, MU_EPS)
    gr = g * (x * inv)
    low = float(v.min()) if v.size else np.inf
    return float(gr.sum()), float((gr * g * inv).sum()), low


def _exact_decrease(x, g, wh, wt, d, a, l2):
    pos = g > 0
    if np.any(wh[pos] <= 0):
        return False
    z = d * g[pos] / wh[pos]
    if np.any(z <= -1):
        return False
    change = d * a + 0.5 * l2 * ((wt + d) * (wt + d) - wt * wt)
    return change - float(np.dot(x[pos], np.log1p(z))) <= 0


def _kl_row(x, G, w, bsum, l1, l2, max_inner, want_loss):
    """Coordinate-descent sweep over one row ``w`` (modified in place); see the contract."""
    from . import KL_INNER_TOL, KL_MAX_BACKTRACK

    wh = G.T @ w.astype(np.float64) if G.shape[1] else np.zeros(0)
    violation = 0.0
    for t in range(w.shape[0]):
        g = G[t]
        a = bsum[t] + l1
        s, c, low = _curvature(x, g, wh, 0.0)
        for it in range(max_inner):
            wt = float(w[t])
            grad = a + l2 * wt - s
            hess = l2 + c
            if it == 0:
                violation += abs(min(grad, 0.0) if wt == 0 else grad)
            if hess > 0:
                new = max(wt - grad / hess, 0.0)
            elif grad > 0:
                new = 0.0
            else:
                new = wt
            w[t] = new  # rounds to the array dtype
            d = float(w[t]) - wt
            if d == 0:
                break
            ok = d > 0
            if not ok and low > MU_EPS:  # wh >= wt g: f'' <= l2 + c / rho^2 on the step
                rho = (wt + d) / wt
                if rho > 0:
                    ok = grad * d + 0.5 * (l2 + c / (rho * rho)) * d * d <= 0
            if not ok:  # f'' at the left end of the step is its largest value
                _, c2, low2 = _curvature(x, g, wh, d)
                ok = low2 > MU_EPS and grad * d + 0.5 * (l2 + c2) * d * d <= 0
            if not ok:
                for _ in range(KL_MAX_BACKTRACK + 1):
                    if _exact_decrease(x, g, wh, wt, d, a, l2):
                        ok = True
                        break
                    w[t] = wt + 0.5 * d
                    d = float(w[t]) - wt
                if not ok or d == 0:
                    w[t] = wt
                    break
            wh = wh + d * g
            if it + 1 == max_inner or abs(d) <= KL_INNER_TOL * (wt + d):
                break
            s, c, low = _curvature(x, g, wh, 0.0)
    loss = _kl_terms(x, wh) if want_loss else 0.0
    return violation, loss


def kl_cd_sweep(X, W, B, bsum, l1, l2, max_inner, want_loss, n_threads):
    violation = loss = 0.0
    for i in range(X.shape[0]):
        row = X[i]
        j = np.flatnonzero(row > 0)
        G = B[j].astype(np.float64).T
        v, l = _kl_row(row[j].astype(np.float64), G, W[i], bsum, l1, l2, max_inner, want_loss)
        violation += v
        loss += l
    return violation, loss


def kl_cd_sweep_csr(data, indices, indptr, W, B, bsum, l1, l2, max_inner, want_loss, n_threads):
    violation = loss = 0.0
    bsum = np.asarray(bsum, dtype=np.float64)
    for i in range(len(indptr) - 1):
        x, j = _row_entries(data, indices, indptr, i)
        G = B[j].astype(np.float64).T
        v, l = _kl_row(x, G, W[i], bsum if bsum.ndim == 1 else bsum[i], l1, l2, max_inner,
                       want_loss)
        violation += v
        loss += l
    return violation, loss


# ------------------------------------------------------------ missing entries
def masked_hals_sweep(data, indices, indptr, W, B, l1, l2, perm, n_threads):
    violation = sq = 0.0
    for i in range(len(indptr) - 1):
        span = slice(int(indptr[i]), int(indptr[i + 1]))
        G = B[indices[span]].astype(np.float64).T  # k x q
        r = data[span].astype(np.float64) - W[i].astype(np.float64) @ G
        w = W[i]
        for t in perm:
            wt = float(w[t])
            grad = l1 + l2 * wt - float(np.dot(r, G[t]))
            violation += abs(min(grad, 0.0) if wt == 0 else grad)
            hess = l2 + float(np.dot(G[t], G[t]))
            inv = 1.0 / hess if hess != 0 else np.inf
            if inv != np.inf:
                w[t] = max(wt - grad * inv, 0.0)  # rounds to the array dtype
                r -= (float(w[t]) - wt) * G[t]
        sq += float(np.dot(r, r))
    return violation, sq


def complement_hals_sweep(W, HHt, XHt, indices, indptr, B, l1, l2, perm, n_threads):
    violation = sq = 0.0
    k = W.shape[1]
    for i in range(len(indptr) - 1):
        span = slice(int(indptr[i]), int(indptr[i + 1]))
        G = B[indices[span]].astype(np.float64).T  # k x q
        r = -(W[i].astype(np.float64) @ G)
        w = W[i]
        for t in perm:
            wt = float(w[t])
            grad = -(float(XHt[i, t]) - l1)
            for c in range(k):
                grad += (float(HHt[t, c]) + (l2 if c == t else 0.0)) * float(w[c])
            grad += float(np.dot(r, G[t]))
            violation += abs(min(grad, 0.0) if wt == 0 else grad)
            hess = (float(HHt[t, t]) - float(np.dot(G[t], G[t]))) + l2
            if hess > COMPLEMENT_HESS_RTOL * (float(HHt[t, t]) + l2):
                w[t] = max(wt - grad / hess, 0.0)  # rounds to the array dtype
                r -= (float(w[t]) - wt) * G[t]
        sq += float(np.dot(r, r))
    return violation, sq


# ------------------------------------------------------------ NNLS (block principal pivoting)
def _pinned(G, F):
    """Which indices of the passive set ``F`` (ascending) are pinned to 0: the pivots
    of the right-looking Cholesky of ``G[F, F]`` that are not > NNLS_PIVOT_TOL G_jj."""
    S = G[np.ix_(F, F)].copy()
    pinned = np.zeros(len(F), dtype=bool)
    for j in range(len(F)):
        d = S[j, j]
        if d > NNLS_PIVOT_TOL * G[F[j], F[j]] and d > 0:
            col = S[j + 1:, j] / np.sqrt(d)
            S[j + 1:, j + 1:] -= np.outer(col, col)
        else:
            pinned[j] = True  # dependent on the earlier unpinned ones: left out
    return pinned


def _passive_solution(G, c, passive):
    """x with x_F = solve(G_FF, c_F) over the unpinned part of F, 0 elsewhere."""
    x = np.zeros(len(c))
    F = np.flatnonzero(passive)
    if len(F):
        keep = F[~_pinned(G, F)]
        if len(keep):
            x[keep] = np.linalg.solve(G[np.ix_(keep, keep)], c[keep])
    return x


def _objective(G, c, x):
    return float(0.5 * (x @ (G @ x)) - c @ x)


def _bpp_row(G, c, x0, max_iter):
    """Block principal pivoting for one row; returns (x, converged)."""
    k = len(c)
    passive = x0 > 0
    ninf, alpha, it = k + 1, 3, 0
    while True:
        x = _passive_solution(G, c, passive)
        y = G @ x - c
        scale = np.abs(c) + np.abs(G) @ np.abs(x)
        V = np.where(passive, x < 0, y < -NNLS_TOL * scale)
        nv = int(V.sum())
        if nv == 0:
            return x, True
        if it >= max_iter:
            return x, False
        it += 1
        if nv < ninf:
            ninf, alpha = nv, 3
            passive ^= V
        elif alpha >= 1:
            alpha -= 1
            passive ^= V
        else:
            t = np.flatnonzero(V)[-1]
            passive[t] = not passive[t]


def nnls_bpp(G, C, X, max_iter, n_threads):
    G = np.asarray(G, dtype=np.float64)
    failed = 0
    for i in range(X.shape[0]):
        c = C[i].astype(np.float64)
        x0 = X[i].astype(np.float64)
        x, converged = _bpp_row(G, c, x0, max_iter)
        x = np.where(x > 0, x, 0.0)
        if not converged:
            failed += 1
            warm = np.where(x0 > 0, x0, 0.0)
            if not _objective(G, c, x) < _objective(G, c, warm):
                x = warm
        X[i] = x
    return failed


def column_stats_sweep(data, indices, indptr, Q, D, A, B, cols, Ht, l1, l2, perm, n_threads):
    k = Ht.shape[1]
    for j in cols:
        span = slice(int(indptr[j]), int(indptr[j + 1]))
        idx = indices[span]
        for p, i in zip(range(span.start, span.stop), idx):
            A[j] += Q[i]
            B[j] += data[p] * D[i]
        Aj = A[j].reshape(k, k)
        for t in perm:
            h = Ht[j].astype(np.float64)
            grad = float(Aj[t] @ h) - B[j, t] + l1[j] + l2[j] * h[t]
            hess = Aj[t, t] + l2[j]
            if hess > 0:
                Ht[j, t] = max(h[t] - grad / hess, 0.0)  # rounds to Ht's dtype
