"""What one minibatch does to the factors: the online update rules of :class:`MiniBatchNMF`.

Each rule keeps H (as ``Ht``, n_features x k, C-contiguous) and the statistics it accumulates
over the batches, and for a batch ``X_b`` with its rows ``W_b`` of W:

1. updates ``W_b`` for the current H;
2. returns the batch's cost (its objective over its rows, per row: what scikit-learn's
   early stopping smooths);
3. updates H from the accumulated statistics, the old ones weighted by ``rho`` (the
   ``forget_factor`` to the power batch / n_samples).

:class:`OnlineMU` (``solver='mu'``) is scikit-learn's algorithm (Lefevre, Bach & Fevotte 2011)
step for step: one multiplicative update of ``W_b``, then H = A / B with A and B the
forgotten sums of the numerators (times H) and denominators.

:class:`OnlineCD` (``solver='cd'``, Frobenius loss) is online coordinate descent in the
manner of Mairal, Bach, Ponce & Sapiro (2010): ``W_b`` is solved for H, nearly exactly (cd
sweeps from the batch's last W until they stall; the first time, an exact NNLS solve by
block principal pivoting), then H minimises the forgotten sum of the batches' losses,
``sum_s rho^(t-s) 0.5 ||X_s - W_s H||^2``, whose only statistics are ``A = sum rho W_s^T W_s``
(k x k) and ``B = sum rho X_s^T W_s`` (n x k): cd sweeps on H with A in the place of ``W^T W``
and B of ``X^T W``, the same kernels as the batch solvers.

:class:`OnlineKL` (``solver='cd'``, Kullback-Leibler loss): ``W_b`` by Newton coordinate
descent (the batch KL solver's sweeps), H by the accumulated multiplicative update of
:class:`OnlineMU`, whose statistics are the KL ones.

The regularization of a batch is scikit-learn's for its size: ``alpha_W`` times
``n_features`` for W, ``alpha_H`` times the batch's rows for H.
"""

import numpy as np
import scipy.sparse as sp

from .._kernels import n_row_blocks
from .._validation import dot64, squared_norm
from ..data.beta import EPS, TINY
from ..data.dense import DenseData
from ..data.sparse import SparseData
from ..solvers.beta import KL_MAX_INNER, _apply, gamma_for
from ..solvers.frobenius import data_loss, hals_update, nnls_update

#: cd sweeps of a batch's W per step, from the batch's last W (a fixed count: see
#: :func:`fixed_sweeps`).
W_SWEEPS = 5
#: cd sweeps of every row's W at the end of a fit, for the final H.  Measured (sparse
#: 100000 x 20000, nnz 1e6, k=20, one epoch): 0, 1, 2 and 5 sweeps left the objective at
#: 166327.7, 166290.8, 166290.3 and 166290.3; the five took 0.4 s more than none.
REFRESH_SWEEPS = 2
#: cd sweeps of H per step.
H_SWEEPS = 1
#: Newton cd sweeps of a batch's W at most per step (KL); they stop when the projected
#: gradient fell below KL_W_RTOL times the first sweep's.  Measured on camera patches
#: (10000 x 256, k=20, three epochs): 1, 2 and 10 sweeps took 1.4, 2.1 and 8.0 s to a KL
#: divergence of 26900, 23400 and 18700 (scikit-learn's MiniBatchNMF: 4.2 s, 32000); in the
#: 8 s of ten sweeps' three epochs, two sweeps ran 16 epochs, to about 16400 (from its
#: smoothed batch cost).
KL_W_SWEEPS = 2
KL_W_RTOL = 0.1


def fixed_sweeps(kernels, F, G, C, l1, l2, perm, sweeps, n_threads):
    """``sweeps`` cd sweeps of F (in place), however little the last ones change it: a
    count fixed in advance, so that float32 and float64 fits, or two runs on different
    machines, do the same work (a stop on F's change would fall on another sweep)."""
    n_blocks = n_row_blocks(F.shape[0])
    kernels.hals_sweeps(F, G, C, l1, l2, perm, sweeps, 0.0, np.empty(n_blocks),
                        np.empty(n_blocks), n_threads)


def batch_form(Xb, kernels, n_threads):
    """The data form of a batch (dense or CSR, in memory)."""
    return (SparseData if sp.issparse(Xb) else DenseData)(Xb, kernels, n_threads)


class Regularization:
    """scikit-learn's penalties for a batch of ``rows`` rows: ``(l1_W, l1_H, l2_W, l2_H)``."""

    def __init__(self, alpha_W, alpha_H, l1_ratio, n_features):
        self.alpha_W, self.alpha_H, self.l1_ratio = alpha_W, alpha_H, l1_ratio
        self.n_features = n_features

    def for_rows(self, rows):
        r = self.l1_ratio
        n = self.n_features
        return (n * self.alpha_W * r, rows * self.alpha_H * r,
                n * self.alpha_W * (1.0 - r), rows * self.alpha_H * (1.0 - r))


def accumulate(rule, num, den, Ht):
    """scikit-learn's accumulated update of H (in place) from a batch's numerator ``num`` and
    denominator ``den`` (penalties included; both modified): ``rule``'s statistics ``A``, ``B``
    forgotten by its ``rho`` take in ``num * H`` and ``den``, and H is their ratio (its
    ``gamma`` applied; entries below TINY zeroed for beta <= 1)."""
    den[den == 0] = EPS
    gamma = rule.gamma
    if gamma != 1:
        Ht **= 1.0 / gamma
    num *= Ht
    rule.A *= rule.rho
    rule.B *= rule.rho
    rule.A += num
    rule.B += den
    np.divide(rule.A, rule.B, out=Ht)
    if gamma != 1:
        Ht **= gamma
    if rule.beta <= 1:
        Ht[Ht < TINY] = 0.0


class OnlineRule:
    """What the online rules share: the loss, the penalties, the forgetting, the kernels."""

    #: the name in ``solver_``
    name = None
    #: whether a fit's batches replace their last visit's statistics (else: forgetting)
    replaces = False
    #: scikit-learn's convention for the cost's L2 terms: ``l2 * ||F||^2`` (its MiniBatchNMF),
    #: or fastnmf's ``0.5 * l2 * ||F||^2`` (the objective the cd sweeps minimise)
    l2_factor = 0.5

    def __init__(self, *, beta, reg, rho, kernels, n_threads, dtype, factor_threads=None):
        self.beta = float(beta)
        self.gamma = gamma_for(self.beta)
        self.reg = reg
        self.rho = float(rho)
        self.kernels = kernels
        #: threads for a batch's products and its W; for H's sweeps and Gram
        #: (fastnmf.parallel.threads.online_threads)
        self.n_threads = n_threads
        self.factor_threads = n_threads if factor_threads is None else factor_threads
        self.dtype = np.dtype(dtype)

    def gram_H(self, Ht):
        """``Ht^T Ht`` (k x k), on the factor's threads."""
        out = np.empty((Ht.shape[1], Ht.shape[1]), dtype=Ht.dtype)
        self.kernels.gram(Ht, out, self.factor_threads)
        return out

    def cost(self, data, Wb, Ht, div, regs):
        """The batch's objective per row (its divergence ``div`` plus the penalties)."""
        l1W, l1H, l2W, l2H = regs
        c = self.l2_factor
        total = div
        if l1W:
            total += l1W * float(Wb.sum(dtype=np.float64))
        if l1H:
            total += l1H * float(Ht.sum(dtype=np.float64))
        if l2W:
            total += c * l2W * squared_norm(Wb)
        if l2H:
            total += c * l2H * squared_norm(Ht)
        return total / Wb.shape[0]

    def flat_W(self, Xb, k):
        """scikit-learn's start of a W solved from nothing: ``sqrt(mean(X_b) / k)`` everywhere."""
        mean = (float(Xb.data.sum(dtype=np.float64)) / (Xb.shape[0] * Xb.shape[1])
                if sp.issparse(Xb) else float(Xb.mean(dtype=np.float64)))
        return np.full((Xb.shape[0], k), np.sqrt(mean / k), dtype=self.dtype)

    # the statistics, for checkpoints
    def state(self):
        return {}

    def load_state(self, state):
        for key, value in state.items():
            setattr(self, key, value)


class OnlineMU(OnlineRule):
    """scikit-learn's online multiplicative updates (its ``MiniBatchNMF``), any beta."""

    name = "mu"
    l2_factor = 1.0  # scikit-learn's batch cost

    def start(self, Ht):
        """Statistics before the first batch: scikit-learn's A = H, B = 1."""
        self.A = Ht.copy()
        self.B = np.ones_like(Ht)

    def _update_W(self, data, Wb, Ht, regs, HtH=None, C=None):
        """One multiplicative update of W (in place); ``HtH``, ``C`` cached for beta = 2."""
        l1W, _, l2W, _ = regs
        beta = self.beta
        if beta == 2:
            num = (data.x_times(Ht) if C is None else C.copy())
            den = Wb @ (Ht.T @ Ht if HtH is None else HtH)
        else:
            num, den, _ = data.beta_terms(EPS).mu_terms_W(Wb, Ht, beta)
            if beta == 1:
                den = Ht.sum(axis=0)[np.newaxis, :]
        _apply(Wb, num, den, l1W, l2W, self.gamma)

    def solve_W(self, Xb, Ht, max_iter, tol):
        """scikit-learn's ``_solve_W``: multiplicative updates of W from the flat start until
        ``||W - W_prev|| <= tol ||W||`` or ``max_iter`` updates."""
        data = batch_form(Xb, self.kernels, self.n_threads)
        regs = self.reg.for_rows(Xb.shape[0])
        W = self.flat_W(Xb, Ht.shape[1])
        prev = W.copy()
        HtH = C = None
        if self.beta == 2:  # the same in every update: formed once
            HtH, C = self.gram_H(Ht), data.x_times(Ht)
        for _ in range(max_iter):
            self._update_W(data, W, Ht, regs, HtH, C)
            diff = np.sqrt(squared_norm(W - prev)) / np.sqrt(squared_norm(W))
            if tol > 0 and diff <= tol:
                break
            prev[...] = W
        return W

    def step(self, Xb, Wb, Ht, update_H, fresh_max_iter, tol, stream=True, W_old=None):
        data = batch_form(Xb, self.kernels, self.n_threads)
        bs = Xb.shape[0]
        regs = self.reg.for_rows(bs)
        beta = self.beta
        C = None
        if Wb is None:
            Wb = self.solve_W(Xb, Ht, fresh_max_iter, tol)
        else:
            if beta == 2:
                C = data.x_times(Ht)
            self._update_W(data, Wb, Ht, regs, C=C)
        if beta < 1:
            Wb[Wb < TINY] = 0.0
        # the batch's divergence at the new W and the current H
        if beta == 2:
            if sp.issparse(Xb):
                C = data.x_times(Ht) if C is None else C
                div = data_loss(data.norm2(), dot64(C, Wb), Wb.T @ Wb, Ht.T @ Ht)
            else:
                H = np.ascontiguousarray(Ht.T)
                div = 0.5 * self.kernels.squared_residual(Xb, Wb, H, self.n_threads)
        else:
            div = data.beta_terms(EPS).divergence(Wb, Ht, beta)
        cost = self.cost(data, Wb, Ht, div, regs)
        if update_H:
            self._update_H(data, Wb, Ht, regs)
        return Wb, cost

    def _update_H(self, data, Wb, Ht, regs):
        _, l1H, _, l2H = regs
        beta = self.beta
        if beta == 2:
            num = data.xt_times(Wb)
            den = Ht @ (Wb.T @ Wb)
        else:
            num, den = data.beta_terms(EPS).mu_terms_H(Wb, Ht, beta)
            if beta == 1:
                w_sum = Wb.sum(axis=0)
                w_sum[w_sum == 0] = 1.0
                den = w_sum[np.newaxis, :]
        if l1H > 0:
            den = den + Ht.dtype.type(l1H)
        if l2H > 0:
            den = den + Ht.dtype.type(l2H) * Ht
        if den.ndim == 2 and den.shape[0] == 1:
            den = den.copy()
        accumulate(self, num, den, Ht)

    def state(self):
        return {"A": self.A, "B": self.B}


class OnlineCD(OnlineRule):
    """Online coordinate descent for the Frobenius loss (see the module docstring)."""

    name = "cd"
    #: in a fit, a batch's statistics replace its last visit's (see :meth:`step`)
    replaces = True

    def start(self, Ht):
        n, k = Ht.shape
        self.A = np.zeros((k, k), dtype=Ht.dtype)
        self.B = np.zeros((n, k), dtype=Ht.dtype)
        self.l1_acc = 0.0
        self.l2_acc = 0.0
        #: the rows behind the statistics (forgotten as they are)
        self.rows_acc = 0.0
        self.perm = np.arange(k, dtype=np.intp)

    def _solve(self, data, Wb, Ht, regs, HtH, C, exact):
        l1W, _, l2W, _ = regs
        if exact:
            nnls_update(self.kernels, Wb, HtH, C, l1W, l2W, self.n_threads)
        else:
            fixed_sweeps(self.kernels, Wb, HtH, C, l1W, l2W, self.perm, W_SWEEPS,
                         self.n_threads)

    def solve_W(self, Xb, Ht, max_iter=None, tol=None):
        """The exact W for H (one NNLS problem per row, block principal pivoting)."""
        data = batch_form(Xb, self.kernels, self.n_threads)
        W = np.zeros((Xb.shape[0], Ht.shape[1]), dtype=self.dtype)
        HtH = self.gram_H(Ht)
        self._solve(data, W, Ht, self.reg.for_rows(Xb.shape[0]), HtH, data.x_times(Ht), True)
        return W

    def refresh_W(self, Xc, Wc, Ht, n_threads):
        """W of rows ``Xc`` for the final H, in place: cd sweeps from their last W."""
        data = batch_form(Xc, self.kernels, n_threads)
        HtH = self.gram_H(Ht)
        l1W, _, l2W, _ = self.reg.for_rows(Xc.shape[0])
        fixed_sweeps(self.kernels, Wc, HtH, data.x_times(Ht), l1W, l2W, self.perm,
                     REFRESH_SWEEPS, n_threads)

    def step(self, Xb, Wb, Ht, update_H, fresh_max_iter, tol, stream=True, W_old=None):
        """One batch.  ``stream``: the batch is new data (``partial_fit``), and the
        statistics of the past are forgotten by ``rho``.  Otherwise (``fit``, whose rows come
        back every epoch) the batch's statistics replace those of its last visit (its rows'
        old W, ``W_old``; None on the first visit): after one epoch A and B are exactly
        ``W^T W`` and ``X^T W`` of the current W, so the fit settles where the batch
        objective is stationary (Mairal et al. 2010, section 3.4, without forgetting)."""
        data = batch_form(Xb, self.kernels, self.n_threads)
        bs = Xb.shape[0]
        regs = self.reg.for_rows(bs)
        HtH = self.gram_H(Ht)
        C = data.x_times(Ht)
        if Wb is None:
            Wb = np.zeros((bs, Ht.shape[1]), dtype=self.dtype)
            self._solve(data, Wb, Ht, regs, HtH, C, True)
        else:
            self._solve(data, Wb, Ht, regs, HtH, C, False)
        WtW = Wb.T @ Wb
        div = data_loss(data.norm2(), dot64(C, Wb), WtW, HtH)
        cost = self.cost(data, Wb, Ht, div, regs)
        if update_H:
            _, l1H, _, l2H = regs
            if stream:
                rho = self.rho
                self.A *= rho
                self.A += WtW
                self.B *= rho
                self.B += data.xt_times(Wb)
                self.l1_acc = rho * self.l1_acc + l1H
                self.l2_acc = rho * self.l2_acc + l2H
                self.rows_acc = rho * self.rows_acc + bs
            elif W_old is None:  # the rows' first visit
                self.A += WtW
                self.B += data.xt_times(Wb)
                self.l1_acc += l1H
                self.l2_acc += l2H
                self.rows_acc += bs
            else:  # their last visit's part out, this one's in
                self.A += WtW - W_old.T @ W_old
                W_old -= Wb
                self.B -= data.xt_times(W_old)
            hals_update(self.kernels, Ht, self.A, self.B, self.l1_acc, self.l2_acc, self.perm,
                        H_SWEEPS, self.factor_threads)
        return Wb, cost

    def state(self):
        return {"A": self.A, "B": self.B, "l1_acc": np.float64(self.l1_acc),
                "l2_acc": np.float64(self.l2_acc), "rows_acc": np.float64(self.rows_acc)}

    def load_state(self, state):
        super().load_state(state)
        self.l1_acc, self.l2_acc = float(self.l1_acc), float(self.l2_acc)
        self.rows_acc = float(self.rows_acc)


class OnlineKL(OnlineMU):
    """Online KL: W of a batch by Newton coordinate descent, H by the accumulated
    multiplicative update (see the module docstring)."""

    name = "cd"
    l2_factor = 0.5

    def _newton_W(self, data, Wb, Ht, regs, sweeps, rtol):
        l1W, _, l2W, _ = regs
        first = None
        for _ in range(sweeps):
            viol, _ = data.kl_sweep(0, Wb, Ht, l1W, l2W, KL_MAX_INNER, False)
            if first is None:
                first = viol
            if viol <= rtol * first:
                break

    def solve_W(self, Xb, Ht, max_iter, tol):
        """W for H: Newton cd sweeps from the flat start until the projected gradient fell
        below ``tol`` times the first sweep's (at most ``max_iter`` sweeps)."""
        data = batch_form(Xb, self.kernels, self.n_threads)
        W = self.flat_W(Xb, Ht.shape[1])
        self._newton_W(data, W, Ht, self.reg.for_rows(Xb.shape[0]), max_iter, tol)
        return W

    def refresh_W(self, Xc, Wc, Ht, n_threads):
        """W of rows ``Xc`` for the final H, in place: Newton sweeps from their last W."""
        data = batch_form(Xc, self.kernels, n_threads)
        self._newton_W(data, Wc, Ht, self.reg.for_rows(Xc.shape[0]), KL_W_SWEEPS, KL_W_RTOL)

    def step(self, Xb, Wb, Ht, update_H, fresh_max_iter, tol, stream=True, W_old=None):
        data = batch_form(Xb, self.kernels, self.n_threads)
        regs = self.reg.for_rows(Xb.shape[0])
        if Wb is None:
            Wb = self.flat_W(Xb, Ht.shape[1])
            self._newton_W(data, Wb, Ht, regs, fresh_max_iter, KL_W_RTOL)
        else:
            self._newton_W(data, Wb, Ht, regs, KL_W_SWEEPS, KL_W_RTOL)
        div = data.beta_terms(EPS).divergence(Wb, Ht, 1.0)
        cost = self.cost(data, Wb, Ht, div, regs)
        if update_H:
            self._update_H(data, Wb, Ht, regs)
        return Wb, cost


def make_rule(solver, beta, **kw):
    """The online rule for ``solver`` ('cd' or 'mu') and the loss ``beta``."""
    if solver == "mu":
        return OnlineMU(beta=beta, **kw)
    if beta == 2:
        return OnlineCD(beta=beta, **kw)
    if beta == 1:
        return OnlineKL(beta=beta, **kw)
    raise ValueError(f"beta_loss={beta!r} is not supported by solver='cd' in MiniBatchNMF, "
                     "which handles 'frobenius' (2) and 'kullback-leibler' (1); use "
                     "solver='mu' for other beta values")
