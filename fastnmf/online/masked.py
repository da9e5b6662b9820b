"""Online fits of an X with unknown entries: :class:`MiniBatchNMF` on the observed entries.

X's known entries are held as one CSR matrix (:class:`fastnmf.data.missing.Observed`:
stored zeros are known zeros), and each minibatch is its rows: a batch's
:class:`~fastnmf.data.missing.Observed` form, by rows for W and by columns for H.  The
objective is that of :class:`fastnmf.NMF` with unknown entries: the loss over the known
entries, with each row of W and each column of H penalised in proportion to its number of
known entries (:class:`fastnmf.solvers.penalty.CountPenalty`; with nothing unknown, the
penalties of the complete online fits).

:class:`MaskedOnlineCD` (Frobenius, ``solver='cd'``): ``W_b`` by coordinate-descent sweeps on
the batch's residuals (kernel ``masked_hals_sweep``, as in :class:`fastnmf.NMF`'s masked cd).
H then minimises the batches' losses over their known entries, whose statistics are per
column: ``A_j = sum w_i w_i^T`` over the rows i where x_ij is known (n x k x k) and
``B_j = sum x_ij w_i`` (n x k), by one cd sweep of each column on its own ``A_j``: the
kernel ``column_stats_sweep`` adds the batch's terms to a column's statistics and sweeps
it while they are in cache, O(known k^2) per batch.  As in the complete fit, a
batch's statistics replace those of its last visit in ``fit`` and are forgotten in
``partial_fit``.  Memory: the ``A_j``, n k^2 floats (float64), beside the n x k of the
complete fit.

:class:`MaskedOnlineMU` (``solver='mu'``, Frobenius or KL) and :class:`MaskedOnlineKL`
(``solver='cd'``, KL): H by the accumulated multiplicative update of scikit-learn's
MiniBatchNMF with the numerator and denominator summed over the known entries
(``Observed.mu_terms``); W by one multiplicative update, or by Newton cd sweeps
(``kl_cd_sweep_csr`` with each row's sums of H over its known columns).
"""

import numpy as np

from .._validation import dot64, squared_norm
from ..data.beta import TINY
from ..data.missing import Observed
from ..parallel.threads import masked_threads
from ..solvers.beta import KL_MAX_INNER
from ..solvers.masked import apply_rows
from ..solvers.penalty import Groups, sweep_rows
from .steps import (
    KL_W_RTOL,
    KL_W_SWEEPS,
    REFRESH_SWEEPS,
    W_SWEEPS,
    OnlineRule,
    accumulate,
)

#: cd sweeps at most of a batch's W solved from zero (``partial_fit``, ``fresh_restarts``),
#: until the projected gradient fell below FIRST_W_RTOL times the first sweep's: the complete
#: fit solves these exactly (NNLS), which the sweeps approach.
FIRST_W_SWEEPS = 100
FIRST_W_RTOL = 1e-6


def observed(Xb, kernels, n_threads):
    """The :class:`Observed` form of a batch: rows of the CSR of X's known entries."""
    return Observed(Xb.data, Xb.indices, Xb.indptr, Xb.shape, kernels, n_threads)


def _groups(counts, pattern, a1, a2):
    """Rows grouped by their known entries for their penalties (None: no penalty)."""
    return Groups(counts, pattern) if (a1 or a2) else None


def _count_penalty(counts, F, a1, a2, l2_factor):
    """``sum_i c_i (a1 sum(F_i) + l2_factor a2 ||F_i||^2)``."""
    v = 0.0
    if a1:
        v += a1 * float(np.dot(counts, F.sum(axis=1, dtype=np.float64)))
    if a2:
        v += l2_factor * a2 * float(np.dot(counts, np.einsum("ik,ik->i", F, F,
                                                             dtype=np.float64)))
    return v


def outer_rows(W):
    """The rows' outer products ``w_i w_i^T``, flattened: (rows, k * k) float64."""
    W64 = W.astype(np.float64, copy=False)
    k = W.shape[1]
    return (W64[:, :, None] * W64[:, None, :]).reshape(len(W), k * k)


class _MaskedRule(OnlineRule):
    """What the rules on known entries share: their penalties per known entry."""

    #: batches are the CSR of the known entries (:func:`observed`)
    masked = True

    def __init__(self, **kw):
        super().__init__(**kw)
        reg = self.reg
        r = reg.l1_ratio
        self.a1_W, self.a2_W = reg.alpha_W * r, reg.alpha_W * (1.0 - r)
        self.a1_H, self.a2_H = reg.alpha_H * r, reg.alpha_H * (1.0 - r)

    def _form(self, Xb, n_threads=None):
        return observed(Xb, self.kernels, self.n_threads if n_threads is None else n_threads)

    def masked_cost(self, obs, Wb, Ht, div):
        """The batch's objective per row: ``div`` plus each row's and column's penalty by
        its known entries in the batch."""
        rows, cols = obs.counts()
        c = self.l2_factor
        total = div + _count_penalty(rows, Wb, self.a1_W, self.a2_W, c)
        total += _count_penalty(cols, Ht, self.a1_H, self.a2_H, c)
        return total / Wb.shape[0]

    def loss_at(self, obs, W, Ht):
        """The divergence over the known entries of ``obs`` at ``(W, Ht)``."""
        return obs.mu_terms(0, W, Ht, self.beta)[2]


class MaskedOnlineCD(_MaskedRule):
    """Online coordinate descent on the known entries, Frobenius loss (module docstring)."""

    name = "cd"
    replaces = True

    def start(self, Ht):
        n, k = Ht.shape
        self.A = np.zeros((n, k * k), dtype=np.float64)
        self.B = np.zeros((n, k), dtype=np.float64)
        self.count = np.zeros(n, dtype=np.float64)
        #: the forgetting of ``partial_fit`` so far (see :meth:`_update_H`)
        self.scale = 1.0

    def _perm(self, k):
        return np.arange(k, dtype=np.intp)

    def _sweeps(self, obs, Wb, Ht, sweeps, tol=0.0):
        """cd sweeps of ``Wb`` (in place) on the batch's known entries; ``tol`` > 0 stops
        when the projected gradient fell below ``tol`` times the first sweep's.  Returns
        the last sweep's squared residuals (at the new W)."""
        rows, _ = obs.counts()
        groups = _groups(rows, obs.X, self.a1_W, self.a2_W)
        X, kernels, perm = obs.X, self.kernels, self._perm(Ht.shape[1])
        nt = masked_threads(X.nnz, obs.n_threads)

        def call(data, indices, indptr, F, _rows, l1, l2):
            if data is None:
                data, indices, indptr = X.data, X.indices, X.indptr
            return kernels.masked_hals_sweep(data, indices, indptr, F, Ht, l1, l2, perm, nt)

        first = sq = None
        for _ in range(sweeps):
            violation, sq = sweep_rows(groups, self.a1_W, self.a2_W, Wb, call)
            if first is None:
                first = violation
            if tol > 0 and violation <= tol * first:
                break
        return sq

    def solve_W(self, Xb, Ht, max_iter, tol):
        """W for H from zero: cd sweeps until the projected gradient fell below ``tol``
        times the first sweep's, at most ``max_iter``."""
        obs = self._form(Xb)
        W = np.zeros((Xb.shape[0], Ht.shape[1]), dtype=self.dtype)
        self._sweeps(obs, W, Ht, max(int(max_iter), 1), tol if tol > 0 else 1e-12)
        return W

    def refresh_W(self, Xc, Wc, Ht, n_threads):
        self._sweeps(self._form(Xc, n_threads), Wc, Ht, REFRESH_SWEEPS)

    def step(self, Xb, Wb, Ht, update_H, fresh_max_iter, tol, stream=True, W_old=None):
        obs = self._form(Xb)
        if Wb is None:
            Wb = np.zeros((Xb.shape[0], Ht.shape[1]), dtype=self.dtype)
            sq = self._sweeps(obs, Wb, Ht, FIRST_W_SWEEPS, FIRST_W_RTOL)
        else:
            sq = self._sweeps(obs, Wb, Ht, W_SWEEPS)
        cost = self.masked_cost(obs, Wb, Ht, 0.5 * sq)
        if update_H:
            self._update_H(obs, Wb, Ht, stream, W_old)
        return Wb, cost

    def _update_H(self, obs, Wb, Ht, stream, W_old):
        """The batch's ``A_j``, ``B_j`` (and known-entry counts) into the statistics of the
        columns it has known entries in, forgetting the past (``stream``) or replacing the
        rows' last visit (``W_old``), then one cd sweep of each of those columns of H
        (kernel ``column_stats_sweep``; the others keep their statistics and their H).
        Forgetting multiplies every column's statistics and counts by the same ``rho``,
        which leaves each column's minimiser where it is: the stored ones are those divided
        by ``scale`` (the product of the ``rho``), and only the batch's columns are touched."""
        XT = obs.XT
        counts = np.diff(XT.indptr)
        cols = np.flatnonzero(counts).astype(np.intp)
        Q = outer_rows(Wb)
        D = Wb.astype(np.float64)
        weight = 1.0
        if stream:
            self.scale *= self.rho
            if self.scale < 1e-150:  # fold the scale in before it underflows
                self.A *= self.scale
                self.B *= self.scale
                self.count *= self.scale
                self.scale = 1.0
            weight = 1.0 / self.scale
        if W_old is not None and not stream:
            Q -= outer_rows(W_old)
            D -= W_old
        else:
            self.count[cols] += weight * counts[cols]
        if weight != 1.0:
            Q *= weight
            D *= weight
        nt = masked_threads(XT.nnz * Ht.shape[1], obs.n_threads)
        self.kernels.column_stats_sweep(
            XT.data.astype(np.float64, copy=False), XT.indices, XT.indptr, Q, D, self.A, self.B,
            cols, Ht, self.a1_H * self.count, self.a2_H * self.count,
            np.arange(Ht.shape[1], dtype=np.intp), nt)

    def state(self):
        return {"A": self.A, "B": self.B, "count": self.count, "scale": np.float64(self.scale)}

    def load_state(self, state):
        super().load_state(state)
        self.scale = float(self.scale)


class MaskedOnlineMU(_MaskedRule):
    """scikit-learn's online multiplicative updates on the known entries (Frobenius, KL)."""

    name = "mu"
    l2_factor = 1.0

    def start(self, Ht):
        self.A = Ht.copy()
        self.B = np.ones_like(Ht)

    def _update_W(self, obs, Wb, Ht):
        rows, _ = obs.counts()
        num, den, _ = obs.mu_terms(0, Wb, Ht, self.beta)
        w = rows.astype(Wb.dtype)[:, None]
        apply_rows(Wb, num, den, self.a1_W * w, self.a2_W * w)

    def _flat_W(self, obs, k):
        """scikit-learn's flat start, from the mean of the known entries."""
        mean = float(obs.X.data.mean(dtype=np.float64)) if obs.nnz else 0.0
        return np.full((obs.shape[0], k), np.sqrt(mean / k), dtype=self.dtype)

    def solve_W(self, Xb, Ht, max_iter, tol):
        obs = self._form(Xb)
        W = self._flat_W(obs, Ht.shape[1])
        prev = W.copy()
        for _ in range(max_iter):
            self._update_W(obs, W, Ht)
            diff = np.sqrt(squared_norm(W - prev)) / max(np.sqrt(squared_norm(W)), TINY)
            if tol > 0 and diff <= tol:
                break
            prev[...] = W
        return W

    def step(self, Xb, Wb, Ht, update_H, fresh_max_iter, tol, stream=True, W_old=None):
        obs = self._form(Xb)
        if Wb is None:
            Wb = self.solve_W(Xb, Ht, fresh_max_iter, tol)
        else:
            self._update_W(obs, Wb, Ht)
        if self.beta < 1:
            Wb[Wb < TINY] = 0.0
        cost = self.masked_cost(obs, Wb, Ht, self.loss_at(obs, Wb, Ht))
        if update_H:
            self._update_H(obs, Wb, Ht)
        return Wb, cost

    def _update_H(self, obs, Wb, Ht):
        """The accumulated multiplicative update of H over the batch's known entries."""
        _, cols = obs.counts()
        num, den, _ = obs.mu_terms(1, Ht, Wb, self.beta)
        c = cols.astype(Ht.dtype)[:, None]
        if self.a1_H:
            den += self.a1_H * c
        if self.a2_H:
            den += self.a2_H * c * Ht
        accumulate(self, num, den, Ht)

    def state(self):
        return {"A": self.A, "B": self.B}


class MaskedOnlineKL(MaskedOnlineMU):
    """Online KL on the known entries: W by Newton cd, H by the accumulated multiplicative
    update."""

    name = "cd"
    l2_factor = 0.5

    def _newton(self, obs, Wb, Ht, sweeps, rtol):
        """Newton cd sweeps of ``Wb``; the KL divergence over the known entries at the new
        W (from the last sweep)."""
        rows, _ = obs.counts()
        groups = _groups(rows, obs.X, self.a1_W, self.a2_W)
        X, kernels = obs.X, self.kernels
        bsum = obs.row_sums(0, Ht)
        nt = masked_threads(X.nnz, obs.n_threads)

        def call(data, indices, indptr, F, sel, l1, l2):
            if data is None:
                data, indices, indptr, bs = X.data, X.indices, X.indptr, bsum
            else:
                bs = np.ascontiguousarray(bsum[sel])
            return kernels.kl_cd_sweep_csr(data, indices, indptr, F, Ht, bs, l1, l2,
                                           KL_MAX_INNER, True, nt)

        first = nz = None
        for _ in range(sweeps):
            violation, nz = sweep_rows(groups, self.a1_W, self.a2_W, Wb, call)
            if first is None:
                first = violation
            if violation <= rtol * first:
                break
        return nz + dot64(Wb.astype(np.float64, copy=False), bsum)

    def solve_W(self, Xb, Ht, max_iter, tol):
        obs = self._form(Xb)
        W = self._flat_W(obs, Ht.shape[1])
        self._newton(obs, W, Ht, max(int(max_iter), 1), tol)
        return W

    def refresh_W(self, Xc, Wc, Ht, n_threads):
        self._newton(self._form(Xc, n_threads), Wc, Ht, KL_W_SWEEPS, KL_W_RTOL)

    def step(self, Xb, Wb, Ht, update_H, fresh_max_iter, tol, stream=True, W_old=None):
        obs = self._form(Xb)
        if Wb is None:
            Wb = self._flat_W(obs, Ht.shape[1])
            div = self._newton(obs, Wb, Ht, fresh_max_iter, KL_W_RTOL)
        else:
            div = self._newton(obs, Wb, Ht, KL_W_SWEEPS, KL_W_RTOL)
        cost = self.masked_cost(obs, Wb, Ht, div)
        if update_H:
            self._update_H(obs, Wb, Ht)
        return Wb, cost


def check_masked(solver, beta):
    """ValueError unless ``solver`` ('auto', 'cd' or 'mu') fits unknown entries for the loss
    ``beta`` (Frobenius and KL only)."""
    if beta not in (1.0, 2.0):
        raise ValueError(
            f"beta_loss={beta!r} with unknown entries (NaN, mask or missing='unobserved') is "
            "not supported by MiniBatchNMF, which fits the known entries for 'frobenius' (2) "
            "and 'kullback-leibler' (1)")


def adopt(masked, rule, Ht):
    """The rule on known entries ``masked`` continuing the complete rule ``rule`` (a
    ``partial_fit`` stream whose first batch with unknown entries came now): its statistics
    are ``rule``'s, online cd's ``W^T W`` for every column and as many known entries per
    column as rows seen (forgotten alike)."""
    masked.start(Ht)
    if isinstance(masked, MaskedOnlineCD):
        k = Ht.shape[1]
        masked.A[:] = rule.A.astype(np.float64).reshape(1, k * k)
        masked.B[:] = rule.B
        masked.count[:] = rule.rows_acc
    else:  # the accumulated multiplicative update: per column already
        masked.A, masked.B = rule.A.copy(), rule.B.copy()
    return masked


def make_masked_rule(solver, beta, **kw):
    """The online rule on known entries for ``solver`` ('cd' or 'mu') and ``beta``."""
    check_masked(solver, beta)
    if solver == "mu":
        return MaskedOnlineMU(beta=beta, **kw)
    return (MaskedOnlineCD if beta == 2 else MaskedOnlineKL)(beta=beta, **kw)
