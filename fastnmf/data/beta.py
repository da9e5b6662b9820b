"""The beta-divergence's terms on complete X, for the multiplicative updates and the loss.

``D_beta(X | W H)`` summed over all entries; beta = 1 is the generalized Kullback-Leibler
divergence ``sum x log(x / wh) - x + wh``, beta = 0 the Itakura-Saito divergence.
:class:`BetaTerms` forms the numerators and denominators of the multiplicative updates of
scikit-learn's algorithm (Fevotte & Idier 2011) and the divergence without an m x n
temporary: where every entry of ``W H`` is needed (the ``sum wh^beta`` terms of beta != 1,
and everything on dense X) it is formed a block of rows at a time; on sparse X the KL
numerators are formed at the nonzeros only by the ``mu_numerator_csr`` kernel, and X is
transposed once (a CSR copy of ``X^T``: O(nnz)) so that the H update reads rows too.

Entries with ``x == 0`` contribute only through ``wh`` (``0 log 0 = 0``); wherever ``wh``
divides or is raised to a negative power it is clamped to ``floor`` (scikit-learn's EPS,
float32 machine epsilon, or for 'emu' on dense X EPS times the mean of X,
:func:`relative_floor`).
"""

import numpy as np
import scipy.sparse as sp

from .._kernels import MU_EPS as EPS
from ..parallel.pool import row_threads

#: scikit-learn sets entries of W (beta < 1) and H (beta <= 1) below this to 0.
TINY = np.finfo(np.float64).eps
#: Rows of W H formed at once where all of it is needed (~2**18 entries).
BLOCK_ENTRIES = 1 << 18
#: At most this many groups of row blocks (so k x n partial sums) in a dense mu pass.
MAX_GROUPS = 16


class BetaTerms:
    """X with what the beta solvers need: its CSR transpose, the kernels, threads (made by
    the data forms' ``beta_terms(floor)``)."""

    def __init__(self, data, floor=EPS):
        self.data = data
        self.X = data.X
        self.sparse = sp.issparse(data.X)
        self.kernels = data.kernels
        self.n_threads = data.n_threads
        #: where W H divides or is raised to a negative power it is clamped to this:
        #: scikit-learn's EPS, or for 'emu' on dense X EPS times the mean of X
        #: (:func:`relative_floor`); the sparse kernels always use EPS
        self.floor = floor

    @property
    def XT(self):
        """``X^T``: the data's (a CSR copy for sparse X, made once; a view for dense X)."""
        return self.data.XT

    @property
    def block_rows(self):
        """Rows per block: about :data:`BLOCK_ENTRIES` entries."""
        return max(1, BLOCK_ENTRIES // max(self.X.shape[1], 1))

    def row_blocks(self, lo=0, hi=None):
        """Blocks of :attr:`block_rows` rows of rows ``lo:hi`` (all rows by default), as
        slices."""
        hi = self.X.shape[0] if hi is None else hi
        step = self.block_rows
        for start in range(lo, hi, step):
            yield slice(start, min(hi, start + step))

    def row_groups(self):
        """Boundaries of at most :data:`MAX_GROUPS` groups of rows of about equal size (as
        many as there are row blocks), fixed by X's shape alone: the multiplicative updates
        on dense X run one group per task on fastnmf's pool, each task's partial sums added
        in group order, so that the factors do not depend on the thread count.  Equal
        groups, not whole blocks: on the 863-row spectrogram the two groups of whole blocks
        were 511 and 352 rows, and the thread with the short one waited for the other
        (emu 2.4 against 2.15 ms an iteration)."""
        m = self.X.shape[0]
        groups = min(MAX_GROUPS, -(-m // self.block_rows))
        return [g * m // groups for g in range(groups)] + [m]

    def map_groups(self, fn):
        """``[fn(lo, hi) for every row group]``, on the pool when there are threads."""
        bounds = self.row_groups()
        if self.n_threads > 1 and len(bounds) > 2:
            return row_threads(self.n_threads).map(fn, bounds)
        return [fn(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:])]

    def dense_rows(self, rows):
        """A block of rows of X as a dense array (sparse X: only that block)."""
        return self.X[rows].toarray() if self.sparse else self.X[rows]

    # ------------------------------------------------------------- the loss
    def kl_sum_wh(self, W, Ht):
        """``sum(W H)`` over every entry, from the column sums."""
        return float(np.dot(W.sum(axis=0, dtype=np.float64), Ht.sum(axis=0, dtype=np.float64)))

    def divergence(self, W, Ht, beta):
        """``D_beta(X | W H)`` in float64, without an m x n temporary."""
        X, kern, nt = self.X, self.kernels, self.n_threads
        if beta == 1:
            if self.sparse:
                nz = kern.kl_nonzero_loss_csr(X.data, X.indices, X.indptr, W, Ht, nt)
            else:
                nz = self._dense_kl(W, Ht)
            return nz + self.kl_sum_wh(W, Ht)
        total = 0.0
        m, n = X.shape
        for rows in self.row_blocks():
            P = (W[rows] @ Ht.T).astype(np.float64)
            x = self.dense_rows(rows).astype(np.float64)
            pos = x > 0
            xp, v = x[pos], np.maximum(P[pos], self.floor)
            if beta == 0:
                div = xp / v
                total += float(np.sum(div) - np.sum(np.log(div)))
            else:
                total += float(np.sum(xp ** beta) - beta * np.dot(xp, v ** (beta - 1))
                               + (beta - 1) * np.sum(P ** beta))
        if beta == 0:
            return total - float(m) * float(n)
        return total / (beta * (beta - 1))

    def _dense_kl(self, W, Ht):
        X = self.X
        # the kernel clamps at EPS and reads X whole: otherwise (another floor, or X read in
        # chunks) by blocks of rows
        if self.floor != EPS or not isinstance(X, np.ndarray):
            part = 0.0
            for rows in self.row_blocks():
                P = W[rows] @ Ht.T
                np.maximum(P, self.floor, out=P)
                part -= _x_dot_log(X[rows], P)
            return self.x_log_x - self.x_sum + part
        if X.flags.c_contiguous:
            return self.kernels.kl_nonzero_loss(X, W, np.ascontiguousarray(Ht.T), self.n_threads)
        return self.kernels.kl_nonzero_loss(X.T, Ht, np.ascontiguousarray(W.T), self.n_threads)

    # ---------------------------------------------------- MU numerators etc.
    def loss_in_pass(self, beta):
        """True when :meth:`mu_terms_W` can give the divergence at the (W, H) it starts from
        (``want_loss``) from the blocks it forms anyway: KL (dense or sparse) and, on dense X,
        every other beta (for beta <= 0 only without zeros in X, which the estimator
        refuses anyway)."""
        if beta == 1:
            return True
        if self.sparse:
            return False
        return beta > 0 or not self.data.has_zeros()

    def mu_terms_W(self, W, Ht, beta, want_loss=False):
        """Numerator and denominator of the W update (without regularization), and, when
        asked (``want_loss``, where :meth:`loss_in_pass`), ``D_beta(X | W H)`` at the (W, H)
        it starts from, else None."""
        X, m, k = self.X, W.shape[0], W.shape[1]
        loss = None
        if self.sparse:
            num = np.empty((m, k), dtype=W.dtype)
            loss = self.kernels.mu_numerator_csr(X.data, X.indices, X.indptr, W, Ht, beta, num,
                                                 want_loss, self.n_threads)
            loss = loss + self.kl_sum_wh(W, Ht) if want_loss and beta == 1 else None
        else:
            num = np.empty((m, k), dtype=W.dtype)
        den = None if beta == 1 else np.empty((m, k), dtype=W.dtype)
        if self.sparse and beta == 1:
            return num, den, loss
        H = Ht.T
        kl_loss = want_loss and not self.sparse and beta == 1
        beta_loss = want_loss and not self.sparse and beta != 1
        floor = self.floor

        def group(lo, hi):  # rows lo:hi of num and den; their part of the loss
            part = 0.0
            for rows in self.row_blocks(lo, hi):
                P = W[rows] @ H
                Xb = None if self.sparse else self.X[rows]  # the block of X, read once
                if beta != 1:
                    Q = _power(P.copy() if not self.sparse else P, beta, floor)
                    if beta_loss:  # from P and Q = P ** (beta - 1) (clamped if beta < 1)
                        part += _beta_block_loss(Xb, P, Q, beta, floor)
                    den[rows] = Q @ Ht
                if not self.sparse:
                    if kl_loss:  # sum x log max(wh, floor), from the block at hand
                        np.maximum(P, floor, out=P)
                        part -= _x_dot_log(Xb, P)
                    R = _ratio(Xb, P, beta, floor)
                    num[rows] = R @ Ht
            return part

        parts = self.map_groups(group) if not self.sparse else [group(0, m)]
        if kl_loss:  # sum x log(x / max(wh, EPS)) - sum x, over x > 0; + sum(W H)
            loss = self.x_log_x - self.x_sum + self.kl_sum_wh(W, Ht)
            for part in parts:
                loss += part
        elif beta_loss:
            loss = float(sum(parts))
            if beta == 0:  # sum x / wh - sum log(x / wh) - m n, X > 0 everywhere
                loss -= self.x_log_sum + float(m) * float(X.shape[1])
            else:
                loss = (loss + self.x_beta_sum(beta)) / (beta * (beta - 1))
        return num, den, loss

    def _positive_sum(self, key, fn):
        """``sum fn(x)`` over the blocks of rows of X, ``x`` a block's entries with ``x > 0``
        in float64; computed once per ``key``."""
        cache = self.data.cache.setdefault("positive sums", {})  # shared by the data's terms
        if key not in cache:
            total = 0.0
            for rows in self.row_blocks():
                xb = self.dense_rows(rows).astype(np.float64, copy=False)
                total += float(fn(xb[xb > 0]))
            cache[key] = total
        return cache[key]

    @property
    def x_log_sum(self):
        """``sum log x`` over the entries with ``x > 0``, float64 (computed once)."""
        return self._positive_sum("log", lambda x: np.sum(np.log(x)))

    def x_beta_sum(self, beta):
        """``sum x ** beta`` over the entries with ``x > 0``, float64 (computed once per
        beta)."""
        return self._positive_sum(("power", beta), lambda x: np.sum(x ** beta))

    @property
    def x_log_x(self):
        """``sum x log x`` over the entries with ``x > 0``, float64 (computed once, by blocks
        of rows)."""
        return self._positive_sum("x log x", lambda x: np.dot(x, np.log(x)))

    @property
    def x_sum(self):
        """``sum(X)`` in float64 (computed once)."""
        return self.data.x_sum()

    def mu_terms_H(self, W, Ht, beta):
        """Numerator and denominator (n x k) of the H update, W already updated."""
        n, k = Ht.shape
        den = None if beta == 1 else np.zeros((k, n), dtype=Ht.dtype)
        if self.sparse:
            XT = self.XT
            num = np.empty((n, k), dtype=Ht.dtype)
            self.kernels.mu_numerator_csr(XT.data, XT.indices, XT.indptr, Ht, W, beta, num,
                                          False, self.n_threads)
        else:
            numT = np.zeros((k, n), dtype=Ht.dtype)
        if self.sparse and beta == 1:
            return num, den
        H = Ht.T

        def group(lo, hi):  # this group's parts of numT and den (k x n each)
            g_num = None if self.sparse else np.zeros((k, n), dtype=Ht.dtype)
            g_den = None if beta == 1 else np.zeros((k, n), dtype=Ht.dtype)
            for rows in self.row_blocks(lo, hi):
                P = W[rows] @ H
                Wb = W[rows].T
                if beta != 1:
                    g_den += Wb @ _power(P.copy() if not self.sparse else P, beta, self.floor)
                if not self.sparse:
                    g_num += Wb @ _ratio(self.X[rows], P, beta, self.floor)
            return g_num, g_den

        m = W.shape[0]
        for g_num, g_den in (self.map_groups(group) if not self.sparse else [group(0, m)]):
            if g_num is not None:
                numT += g_num
            if g_den is not None:
                den += g_den
        if not self.sparse:
            num = np.ascontiguousarray(numT.T)
        return num, (None if den is None else np.ascontiguousarray(den.T))


def _ratio(X, P, beta, floor=EPS):
    """``X * P ** (beta - 2)`` for a dense block (``X / P`` for KL), in place in P,
    with scikit-learn's guards (P clamped to ``floor``, EPS for scikit-learn's)."""
    if beta < 2:
        np.maximum(P, floor, out=P)
    if beta == 1:
        np.divide(X, P, out=P)
    elif beta == 0:
        np.reciprocal(P, out=P)
        P *= P
        P *= X
    else:
        P **= beta - 2
        P *= X
    return P


def _x_dot_log(X, P):
    """``sum x log p`` for a dense block, P > 0 everywhere (clamped to EPS), float64.  (The
    KL loss as ``sum x log x - sum x log p`` needs no mask over the zeros of X, which
    keeps NumPy's vectorized log: ``np.log(R, where=X > 0)`` took 3x as long.)"""
    return float(np.vdot(X.astype(np.float64, copy=False), np.log(P)))


def _beta_block_loss(X, P, Q, beta, floor=EPS):
    """A dense block's part of ``D_beta`` (beta != 1), float64, from ``P = W H`` and
    ``Q = P ** (beta - 1)`` as the W denominator pass forms them (clamped to ``floor``
    first when beta < 1): ``-beta sum x v**(beta-1) + (beta-1) sum P**beta`` with
    ``v = max(P, floor)`` (scikit-learn's guard with floor = EPS, where x > 0), or for
    beta = 0 ``sum x / v + sum log v``.  Zeros of X drop out of ``x . Q`` by themselves;
    the entries of P below the floor, where Q is not what the formula needs, are corrected
    one by one (usually there are none)."""
    X64 = X.astype(np.float64, copy=False)
    sx = float(np.vdot(X64, Q))  # sum x v**(beta - 1) (exact where P >= floor or beta < 1)
    if beta == 0:
        return sx - float(np.sum(np.log(Q), dtype=np.float64))
    sp_ = float(np.vdot(P.astype(np.float64, copy=False), Q))  # sum P**beta, P >= floor
    small = P < floor
    if small.any():
        Ps = P[small].astype(np.float64)
        if beta > 1:  # Q there is P**(beta-1); the formula has floor**(beta-1) where x > 0
            sx += float(np.dot(X64[small], floor ** (beta - 1) - Ps ** (beta - 1)))
        else:  # Q there is floor**(beta-1); the formula has P**beta
            sp_ += float(np.sum(Ps ** beta - Ps * floor ** (beta - 1)))
    return -beta * sx + (beta - 1) * sp_


def _power(P, beta, floor=EPS):
    """``P ** (beta - 1)``, in place, clamped to ``floor`` first when the power is
    negative."""
    if beta < 1:
        np.maximum(P, floor, out=P)
    P **= beta - 1
    return P


def relative_floor(data):
    """'emu''s clamp for W H on dense X (a data form): EPS times the mean of X (EPS where X is
    all 0).

    scikit-learn's clamp, EPS itself, is absolute, so its updates depend on the scale of X:
    on a magnitude spectrogram (mean 1.1e-3; 21% of the entries with ``x > 0`` had
    ``wh < EPS`` after the fit) scikit-learn's mu ended at a true KL divergence of 45.73 on X
    and of 45.31 (in X's units) on X / mean(X).  A floor proportional to X's scale makes the
    updates invariant to it: there 'emu' ended at a true divergence of 43.12; with the
    absolute EPS at 46.11 (43.11 by scikit-learn's EPS-clamped measure: the clamp hid its
    misfit of the tiny entries)."""
    scale = float(data.mean())
    return EPS * scale if scale > 0 and np.isfinite(scale) else EPS
