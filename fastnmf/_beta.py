"""Fits for the beta-divergence losses (beta != 2).

``D_beta(X | W H)`` summed over all entries; beta = 1 is the generalized
Kullback-Leibler divergence ``sum x log(x / wh) - x + wh``, beta = 0 the
Itakura-Saito divergence.  Two solvers:

* :func:`fit_mu_beta`: multiplicative updates for any beta, scikit-learn's
  algorithm step for step (its maximization-minimization exponent ``gamma``,
  its ``EPS`` guards, its zeroing of tiny entries, its stopping rule).  On
  sparse X the numerators are formed at the nonzeros only by the
  ``mu_numerator_csr`` kernel, with no nnz-sized or nnz x k temporary.
* :func:`fit_cd_kl`: coordinate descent for KL, each coordinate minimised by
  safeguarded Newton steps (Hsieh & Dhillon, KDD 2011): the
  ``kl_cd_sweep``/``kl_cd_sweep_csr`` kernels, parallel over rows.

Nothing of size m x n is ever allocated: where every entry of ``W H`` is
needed (the ``sum wh^beta`` terms of beta != 1, dense X), it is formed in
blocks of rows.  Sparse X is transposed once (a CSR copy of ``X^T``: O(nnz))
so that the H update reads rows too.

Entries with ``x == 0`` contribute only through ``wh`` (``0 log 0 = 0``);
wherever ``wh`` divides or is raised to a negative power it is clamped to
``EPS`` (float32 machine epsilon), as scikit-learn does.
"""


import contextlib

import numpy as np
import scipy.sparse as sp

from ._fit import ErrorRule, FitResult, FlatRule, Keeper
from ._pool import row_threads
from ._threads import blas_threads
from ._kernels import MU_EPS as EPS

#: scikit-learn sets entries of W (beta < 1) and H (beta <= 1) below this to 0.
TINY = np.finfo(np.float64).eps
#: Rows of W H formed at once where all of it is needed (~2**18 entries).
BLOCK_ENTRIES = 1 << 18
#: At most this many groups of row blocks (so k x n partial sums) in a dense mu pass.
MAX_GROUPS = 16
#: Newton steps at most per coordinate in the KL coordinate descent.
KL_MAX_INNER = 3


class BetaProblem:
    """X with what the beta solvers need: its CSR transpose, the kernels, threads."""

    def __init__(self, X, kernels, n_threads, floor=EPS):
        self.X = X
        self.sparse = sp.issparse(X)
        self.kernels = kernels
        self.n_threads = n_threads
        #: where W H divides or is raised to a negative power it is clamped to this:
        #: scikit-learn's EPS, or for 'emu' on dense X EPS times the mean of X
        #: (:func:`relative_floor`); the sparse kernels always use EPS
        self.floor = floor
        self._XT = None

    @property
    def XT(self):
        """``X^T``: a CSR copy for sparse X (made once), a view for dense X."""
        if self._XT is None:
            self._XT = self.X.T.tocsr() if self.sparse else self.X.T
        return self._XT

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
        if self.floor != EPS:  # the kernel clamps at EPS: here by blocks of rows
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
        return beta > 0 or not zeros_in(self.X)

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
                if beta != 1:
                    Q = _power(P.copy() if not self.sparse else P, beta, floor)
                    if beta_loss:  # from P and Q = P ** (beta - 1) (clamped if beta < 1)
                        part += _beta_block_loss(self.X[rows], P, Q, beta, floor)
                    den[rows] = Q @ Ht
                if not self.sparse:
                    if kl_loss:  # sum x log max(wh, floor), from the block at hand
                        np.maximum(P, floor, out=P)
                        part -= _x_dot_log(self.X[rows], P)
                    R = _ratio(self.X[rows], P, beta, floor)
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
        cache = self.__dict__.setdefault("_positive_sums", {})
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
        if getattr(self, "_x_sum", None) is None:
            data = self.X.data if self.sparse else self.X
            self._x_sum = float(data.sum(dtype=np.float64))
        return self._x_sum

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


def gamma_for(beta):
    """Exponent of the maximization-minimization update (Fevotte & Idier 2011)."""
    if beta < 1:
        return 1.0 / (2.0 - beta)
    if beta > 2:
        return 1.0 / (beta - 1.0)
    return 1.0


def _apply(F, num, den, l1, l2, gamma):
    """``F *= (num / (den + l1 + l2 F)) ** gamma`` with ``den == 0 -> EPS``."""
    if l1 > 0:
        den = den + F.dtype.type(l1)
    if l2 > 0:
        den = den + F.dtype.type(l2) * F
    den[den == 0] = EPS
    num /= den
    if gamma != 1:
        num **= gamma
    F *= num


def _mu_step(prob, W, Ht, beta, num, den, penalty, exponent, update_H, keep):
    """One multiplicative update of W (from its numerator and denominator, already formed)
    and then of H, in place, the ratio raised to ``exponent`` (scikit-learn's ``gamma``
    for mu), with scikit-learn's KL denominators and its zeroing of tiny entries."""
    if beta == 1:
        den = Ht.sum(axis=0)[np.newaxis, :]
    _apply(W, num, den, penalty.l1_W, penalty.l2_W, exponent)
    if beta < 1:
        W[W < TINY] = 0.0
    if update_H:
        num, den = prob.mu_terms_H(W, Ht, beta)
        if beta == 1:
            w_sum = W.sum(axis=0)
            w_sum[w_sum == 0] = 1.0
            den = w_sum[np.newaxis, :]
        _apply(Ht, num, den, penalty.l1_H, penalty.l2_H, exponent)
        if beta <= 1:
            Ht[Ht < TINY] = 0.0
        keep.restore(Ht)


def _pooled_blas(X, n_threads):
    """The BLAS threads of a mu/emu fit: on dense X with threads, one (the row groups run on
    fastnmf's pool, one BLAS thread each: threaded OpenBLAS on these thin products, between
    single-threaded NumPy steps, measured 1.7x slower on 2 cores than one thread: 3791 x
    513, k=12); otherwise as they are."""
    pooled = not sp.issparse(X) and n_threads > 1
    return blas_threads(1) if pooled else contextlib.nullcontext()


def fit_mu_beta(X, W, Ht, *, beta, kernels, n_threads, penalty, max_iter, tol, monitor,
                update_H=True, parallel_kernels=False, frozen=None):
    """Multiplicative updates for the beta-divergence (beta != 2).

    scikit-learn's algorithm: numerators and denominators of Fevotte & Idier
    (2011) with exponent ``gamma``; KL uses ``sum(H)``/``sum(W)`` as
    denominators; every 10 iterations it stops when
    ``sqrt(2 D)`` improved by less than ``tol`` times its initial value.
    """
    with _pooled_blas(X, n_threads):
        return _fit_mu_beta(X, W, Ht, beta=beta, kernels=kernels, n_threads=n_threads,
                            penalty=penalty, max_iter=max_iter, tol=tol, monitor=monitor,
                            update_H=update_H, frozen=frozen)


def _fit_mu_beta(X, W, Ht, *, beta, kernels, n_threads, penalty, max_iter, tol, monitor,
                 update_H, frozen):
    prob = BetaProblem(X, kernels, n_threads)
    gamma = gamma_for(beta)
    rule = ErrorRule(prob.divergence(W, Ht, beta), tol)
    # KL, and dense X for any beta: the W numerator pass also gives the loss of the previous
    # iteration, unless someone must see each loss as it happens
    fused = prob.loss_in_pass(beta) and not monitor.wants_each_loss
    keep = Keeper(Ht, frozen)
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        num, den, div = prob.mu_terms_W(W, Ht, beta, want_loss=fused and n_iter > 1)
        if div is not None:
            monitor.fill_last(div + penalty.value(W, Ht))
        _mu_step(prob, W, Ht, beta, num, den, penalty, gamma, update_H, keep)
        check = tol > 0 and n_iter % 10 == 0
        if check or not fused or n_iter == max_iter:
            divergence = prob.divergence(W, Ht, beta)
            go_on = monitor.record(n_iter, divergence + penalty.value(W, Ht), W, Ht)
        else:
            go_on = monitor.record(n_iter, None, W, Ht)  # filled by the next W numerator pass
        if not go_on or (check and rule.met(n_iter, divergence)):
            break
    if monitor.losses and monitor.losses[-1] is None:
        monitor.fill_last(prob.divergence(W, Ht, beta) + penalty.value(W, Ht))
    return FitResult.from_monitor(W, Ht, n_iter, monitor)


#: Over-relaxation exponent of 'emu' (a multiple of scikit-learn's ``gamma``).  Measured from
#: scikit-learn's nndsvda start (benchmarks/emu_omega.py, benchmarks/results/emu.md): the KL
#: divergence scikit-learn's mu ends at was reached 1.2-2.4 times sooner in iterations at 1.8
#: than by mu on eight dense corpus matrices (spectrogram, images, spectra), the loss never
#: rising; 1.5 and 2.0 were slower on most.
#: Below 2, the range in which an over-relaxed EM step still converges locally (Salakhutdinov
#: & Roweis 2003); the safeguard keeps the objective monotone whatever happens.
EMU_OMEGA = 1.8

#: Momentum of 'emu': after each accepted iteration, each entry of W and H is multiplied by
#: its ratio over the last accepted iteration (clipped to [1/10, 10]) raised to this power,
#: a heavy-ball step in log space on top of the over-relaxed one.  Measured
#: (benchmarks/emu_omega.py, benchmarks/results/emu.md): from scikit-learn's start, 0.5
#: reached scikit-learn mu's final divergence in 1.4-2.0 times fewer iterations than no
#: momentum on eight dense KL matrices and five at beta=1.5; with the default stopping rule
#: the spectrogram KL fit stopped after 140 iterations instead of running to 200, at a lower
#: divergence (43.06 against 43.12).  In a sweep over 0.3-0.9 from nndsvda starts (KL,
#: beta=0.5 and 1.5; spectrogram, digits, faces, coffee spectra; ``--momenta``) 0.7 and 0.9
#: were faster on some but stopped by the rule above scikit-learn's final divergence on
#: digits at beta=0.5 (+1.2%, +2.0%), where 0.5 ended within 0.01% of it.
EMU_MOMENTUM = 0.5
#: its growth after an accepted iteration (up to its cap), its division after a dropped one,
#: and the value below which it is off
MOMENTUM_GROWTH, MOMENTUM_CUT, MOMENTUM_OFF = 1.05, 1.5, 0.05


def fit_emu_beta(X, W, Ht, *, beta, kernels, n_threads, penalty, max_iter, tol, monitor,
                 update_H=True, parallel_kernels=False, frozen=None, omega=None, momentum=None):
    """Over-relaxed multiplicative updates with momentum for the beta-divergence
    (``solver='emu'``).

    scikit-learn's mu steps (:func:`fit_mu_beta`) with the update ratio raised to
    ``omega * gamma`` instead of ``gamma``: in log space, ``log W`` moves ``omega`` times as
    far along the multiplicative step (over-relaxed EM, Salakhutdinov & Roweis 2003).  Then
    momentum (a heavy-ball step in log space): every entry of W and H is multiplied by its
    ratio over the last accepted iteration (clipped to [1/10, 10]) raised to ``momentum``.

    A safeguard keeps the objective monotone: each iterate's objective is compared with the
    last accepted one's (on dense X, and for sparse KL, it comes out of the next W numerator
    pass, :meth:`BetaProblem.loss_in_pass`, so it costs no extra pass); an iterate that
    raised it is dropped, the last accepted factors are restored and the step is taken again
    as plain mu (``omega = 1``, no momentum: it never raises the objective).  Then the
    momentum's cap falls to its current value and the momentum is divided by
    :data:`MOMENTUM_CUT` (below :data:`MOMENTUM_OFF` it is off); it grows by
    :data:`MOMENTUM_GROWTH` up to the cap after each accepted iteration, in the manner of
    the restarts of Ang & Gillis (2019).  Without momentum a dropped iterate halves the
    over-relaxation instead (``omega <- 1 + (omega - 1) / 2``; below 1.05 it is off).
    ``n_iter`` counts accepted iterations; ``loss_history_`` has their objectives.  Stops by
    scikit-learn's mu rule (:class:`fastnmf._fit.ErrorRule`).

    On dense X, W H is clamped at EPS times the mean of X where it divides (and in the
    recorded objective), not at scikit-learn's absolute EPS (:func:`relative_floor`), so
    the fit does not depend on the scale of X.  ``omega=None`` is :data:`EMU_OMEGA`,
    ``momentum=None`` :data:`EMU_MOMENTUM`.
    """
    omega = EMU_OMEGA if omega is None else omega
    momentum = EMU_MOMENTUM if momentum is None else momentum
    with _pooled_blas(X, n_threads):
        return _fit_emu_beta(X, W, Ht, beta=beta, kernels=kernels, n_threads=n_threads,
                             penalty=penalty, max_iter=max_iter, tol=tol, monitor=monitor,
                             update_H=update_H, frozen=frozen, omega=float(omega),
                             momentum=float(momentum))


def _step_ratio(out, F, F_before):
    """``out = clip(F / F_before, 1/10, 10)``, 1 where ``F_before`` is 0, in place."""
    out.fill(1.0)
    np.divide(F, F_before, out=out, where=F_before > 0)
    np.clip(out, 0.1, 10.0, out=out)


def _fit_emu_beta(X, W, Ht, *, beta, kernels, n_threads, penalty, max_iter, tol, monitor,
                  update_H, frozen, omega, momentum):
    prob = BetaProblem(X, kernels, n_threads,
                       floor=EPS if sp.issparse(X) else relative_floor(X))
    gamma = gamma_for(beta)
    divergence = prob.divergence(W, Ht, beta)
    rule = ErrorRule(divergence, tol)
    best = divergence + penalty.value(W, Ht)  # objective of the last accepted iterate
    W_ok, Ht_ok = W.copy(), Ht.copy()
    fused = prob.loss_in_pass(beta)  # the W pass gives the divergence of (W, H) it starts from
    keep = Keeper(Ht, frozen)
    relax = omega
    mom, mom_cap = (momentum, momentum) if momentum >= MOMENTUM_OFF else (0.0, 0.0)
    # the last accepted step's ratios (W over the accepted W before it), for the momentum
    W_step = np.ones_like(W) if mom else None
    Ht_step = np.ones_like(Ht) if mom else None
    n_iter = 0
    pending = False  # (W, Ht) is an iterate whose objective has not been checked yet
    while True:
        if pending and not fused:
            divergence = prob.divergence(W, Ht, beta)
        num, den, div = prob.mu_terms_W(W, Ht, beta, want_loss=pending and fused)
        step = relax
        if pending:
            if fused:
                divergence = div
            objective = divergence + penalty.value(W, Ht)
            if objective > best and (relax > 1 or mom):  # dropped: back to the last accepted
                W[...] = W_ok
                Ht[...] = Ht_ok
                num, den, _ = prob.mu_terms_W(W, Ht, beta)
                step = 1.0
                if mom:
                    mom_cap = mom
                    mom /= MOMENTUM_CUT
                    if mom < MOMENTUM_OFF:
                        mom = 0.0
                    W_step.fill(1.0)
                    Ht_step.fill(1.0)
                else:
                    relax = 1 + (relax - 1) / 2
                    if relax < 1.05:
                        relax = 1.0
            else:
                n_iter += 1
                best = objective
                if mom:
                    _step_ratio(W_step, W, W_ok)
                    _step_ratio(Ht_step, Ht, Ht_ok)
                    mom = min(mom_cap, mom * MOMENTUM_GROWTH)
                W_ok[...] = W
                Ht_ok[...] = Ht
                go_on = monitor.record(n_iter, objective, W, Ht)
                if not go_on or rule.met(n_iter, divergence) or n_iter >= max_iter:
                    break
        _mu_step(prob, W, Ht, beta, num, den, penalty, gamma * step, update_H, keep)
        if mom and step != 1.0:  # not on a step retaken as plain mu
            W *= W_step ** mom
            if update_H:
                Ht *= Ht_step ** mom
                keep.restore(Ht)
        pending = True
    return FitResult.from_monitor(W, Ht, n_iter, monitor)


def relative_floor(X):
    """'emu''s clamp for W H on dense X: EPS times the mean of X (EPS where X is all 0).

    scikit-learn's clamp, EPS itself, is absolute, so its updates depend on the scale of X:
    on a magnitude spectrogram (mean 1.1e-3; 21% of the entries with ``x > 0`` had
    ``wh < EPS`` after the fit) scikit-learn's mu ended at a true KL divergence of 45.73 on X
    and of 45.31 (in X's units) on X / mean(X).  A floor proportional to X's scale makes the
    updates invariant to it: there 'emu' ended at a true divergence of 43.12; with the
    absolute EPS at 46.11 (43.11 by scikit-learn's EPS-clamped measure: the clamp hid its
    misfit of the tiny entries)."""
    scale = float(X.mean(dtype=np.float64))
    return EPS * scale if scale > 0 and np.isfinite(scale) else EPS


def fit_cd_kl(X, W, Ht, *, kernels, n_threads, penalty, max_iter, tol, monitor, update_H=True,
              parallel_kernels=False, max_inner=KL_MAX_INNER, frozen=None):
    """Coordinate descent for the KL divergence (Hsieh & Dhillon 2011).

    Each outer iteration sweeps every coordinate of W, then of H, with up to
    ``max_inner`` safeguarded Newton steps each; the objective never
    increases.  Stops when the objective is flat (every 10 iterations, the error
    ``sqrt(2 D)`` improved by less than ``tol`` times itself over the last ten:
    :class:`fastnmf._fit.FlatRule`, as 'hals').  Not scikit-learn's cd rule (which has no
    KL cd): the summed projected gradient falls slowly once the divergence is flat, so on
    the real-data corpus (benchmarks/corpus.py) it ran every fit to ``max_iter`` or near
    it long after the divergence had stopped moving (news2000_counts_kl: 200 iterations,
    8.1 s, where scikit-learn mu's final divergence was reached after 0.8 s;
    pbmc68k_counts_kl: 200, 1.9 s, reached after 0.24 s).
    """
    prob = BetaProblem(X, kernels, n_threads)
    Xr = prob.X
    if frozen is not None and len(frozen):
        raise ValueError("frozen components are not supported by the KL coordinate descent; "
                         "use solver='mu'")
    rule = FlatRule(prob.divergence(W, Ht, 1.0) + penalty.value(W, Ht), tol)
    n_iter = 0

    def sweep(Xs, F, G, l1, l2, want_loss):
        gsum = G.sum(axis=0, dtype=np.float64)
        if sp.issparse(Xs):
            return kernels.kl_cd_sweep_csr(Xs.data, Xs.indices, Xs.indptr, F, G, gsum, l1, l2,
                                           max_inner, want_loss, n_threads)
        return kernels.kl_cd_sweep(Xs, F, G, gsum, l1, l2, max_inner, want_loss, n_threads)

    for n_iter in range(1, max_iter + 1):
        violation, nz = sweep(Xr, W, Ht, penalty.l1_W, penalty.l2_W, not update_H)
        if update_H:
            v, nz = sweep(prob.XT, Ht, W, penalty.l1_H, penalty.l2_H, True)
            violation += v
        objective = nz + prob.kl_sum_wh(W, Ht) + penalty.value(W, Ht)
        go_on = monitor.record(n_iter, objective, W, Ht, f"  violation {violation:.4e}")
        if not go_on or rule.met(n_iter, objective):
            break
    return FitResult.from_monitor(W, Ht, n_iter, monitor)


def zeros_in(X):
    """True when X has a zero entry (stored or not)."""
    if sp.issparse(X):
        return X.nnz < X.shape[0] * X.shape[1] or bool((X.data == 0).any())
    return bool(X.min() == 0)
