"""The Frobenius solvers on complete X: cd, hals, ehals, pgd, als and mu as update rules.

They all alternate between W and H (:class:`Alternating`): each iteration forms the two
expensive products ``X H^T`` and ``X^T W`` once (the data's ``x_times``, ``xt_times``) and
the k x k Gram matrices, then solves, approximately or exactly, the non-negative
least-squares problem of one factor with the other fixed,

    min_{F >= 0}  0.5 tr(F G F^T) - <C, F> + l1 sum(F) + 0.5 l2 ||F||^2,

where ``G`` is the Gram matrix of the fixed factor and ``C`` the cross product.  These
subproblems only touch m x k and k x k arrays, so several cheap passes over them per
expensive product are what buys speed (hals).  What differs between the solvers is the
subproblem's update (:func:`hals_update`, :func:`apg_update`, :func:`nnls_update`, the
kernels' ``hals_sweep`` and ``mu_update``) and the stopping rule.

The loss recorded per iteration is the objective,
``0.5 ||X - W H||_F^2 + l1_W sum(W) + 0.5 l2_W ||W||^2 + l1_H sum(H) + 0.5 l2_H ||H||^2``,
computed from the products the iteration already has,

    ||X - W H||^2 = ||X||^2 - 2 <X^T W, H^T> + <W^T W, H H^T>,

which costs O((m + n) k) instead of a third m x n x k product.  The identity cancels when
the fit is very close: its absolute error is about ``eps * ||X||^2`` (all reductions are done
in float64), far below what the stopping rules look at.  The final ``reconstruction_err_`` of
dense X is summed directly instead (the data's ``reconstruction_error``).
"""

import contextlib

import numpy as np

from .._validation import dot64, squared_norm
from .._kernels import n_row_blocks
from ..parallel.threads import (blas_threads, fused_pass_threads, kernel_threads,
                                sweep_threads_with_blas)
from .driver import Step, UpdateRule


def data_loss(norm_X, cross, WtW, HtH):
    """0.5 ||X - W H||^2 from ||X||^2, <X^T W, H^T> (or <X H^T, W>) and the Grams."""
    return max(0.5 * (norm_X - 2.0 * cross + dot64(WtW, HtH)), 0.0)


def free_components(k, frozen):
    """The components a solver updates in H (an intp array): all but ``frozen``."""
    if frozen is None or len(frozen) == 0:
        return np.arange(k, dtype=np.intp)
    return np.setdiff1d(np.arange(k, dtype=np.intp), frozen).astype(np.intp)


class Keeper:
    """Puts frozen components (columns of ``Ht``) back after an update that
    changed every column (the multiplicative updates)."""

    def __init__(self, Ht, frozen):
        self.frozen = None if frozen is None or len(frozen) == 0 else np.asarray(frozen)
        self.saved = None if self.frozen is None else Ht[:, self.frozen].copy()

    def restore(self, Ht):
        if self.frozen is not None:
            Ht[:, self.frozen] = self.saved



class Extrapolation:
    """Extrapolation with restarts (Ang & Gillis 2019, "HER") around the alternating updates.

    After W's update, ``W <- max(W + beta (W - W_prev), 0)``; before the next W update,
    the same for H (deferred, so the pair a fit stops at, ``(W_hat, H)``, is always the
    pair whose loss was recorded).  When the loss of an iteration exceeds the previous
    one (by more than rounding), the step is dropped: the next iteration starts plainly
    from the pair reached,
    ``beta_max`` falls to the current ``beta`` and ``beta`` is divided by ``ETA``;
    otherwise ``beta`` grows by ``GAMMA`` up to ``beta_max``, which grows by
    ``GAMMA_MAX`` up to 1 (the paper's values).  Costs one pass over W and one over H
    per iteration (kernel ``extrapolate``) and a copy of each.
    """

    BETA0 = 0.5
    ETA = 1.5
    GAMMA = 1.01
    GAMMA_MAX = 1.005

    def __init__(self, kernels, W, Ht, n_threads, noise=0.0):
        self.kernels = kernels
        #: rises up to this size are rounding (the loss comes from the Gram identity,
        #: good to a few eps ||X||^2): not a reason to restart, which would make the
        #: path depend on how the products were rounded (dense against sparse X)
        self.noise = noise
        self.n_threads = n_threads
        self.W_prev = W.copy()
        self.H_prev = Ht.copy()
        self.beta = self.BETA0
        self.beta_max = 1.0
        self.last_loss = np.inf
        self.pending_H = False  # extrapolate H before the next W update
        self.restarts = 0

    def before_W(self, Ht):
        """Extrapolate H if the last iteration was kept; True when H changed."""
        if not self.pending_H:
            return False
        self.kernels.extrapolate(Ht, self.H_prev, self.beta, self.n_threads)
        self.pending_H = False
        return True

    def after_W(self, W):
        self.kernels.extrapolate(W, self.W_prev, self.beta, self.n_threads)

    def after_H(self, W, Ht, loss):
        if loss > self.last_loss + self.noise:  # restart from the pair reached, shorter step
            self.beta_max = self.beta
            self.beta /= self.ETA
            np.copyto(self.W_prev, W)
            np.copyto(self.H_prev, Ht)
            self.pending_H = False
            self.restarts += 1
        else:
            self.beta = min(self.beta_max, self.GAMMA * self.beta)
            self.beta_max = min(1.0, self.GAMMA_MAX * self.beta_max)
            self.pending_H = True
        self.last_loss = loss



#: Gillis & Glineur (2012): at most ``1 + ALPHA * rho`` inner passes per
#: expensive product, rho being the cost of the product over the cost of one
#: pass; the inner loop stops early when a pass changes the factor by at most
#: ``EPS`` times what the first pass changed it (the paper's values).
AHALS_ALPHA = 0.5
AHALS_EPS = 0.1

#: NNLS (block principal pivoting) iterations per row before giving up.
NNLS_MAX_ITER = 200


def inner_budget(shape, rows, k, nnz):
    """Passes over a ``rows x k`` factor worth one update's products.

    ``rho = 1 + (nnz + other * k) / (rows * (k + 1))`` with ``nnz`` = the number of
    nonzero entries of X and ``other`` = the other dimension: the flops of the
    products ``X F^T``, ``F F^T`` over those of a pass (Gillis & Glineur 2012,
    section 3.1, with the nonzeros in place of m n).  Counting nonzeros for dense X
    too keeps the schedule, and so the iterates, the same for the same data given
    dense or sparse.
    """
    m, n = shape
    other = n if rows == m else m
    rho = 1.0 + (nnz + other * k) / (rows * (k + 1.0))
    return max(1, int(1.0 + AHALS_ALPHA * rho))


def projected_violation(F, grad):
    """``sum |projected gradient|``: at a zero entry only a negative gradient counts."""
    pg = np.where(F > 0, grad, np.minimum(grad, 0))
    return float(np.abs(pg).sum(dtype=np.float64))


def _frame(F, G, C, frozen_cols):
    """The subproblem on the free columns of F: ``(Ff, Gf, Cf)``, C-contiguous, with the
    frozen columns' contribution moved into the linear term (``Cf = C_free - F_frozen
    G[frozen, free]``).  Without frozen columns, ``(F, G, C)`` themselves."""
    if frozen_cols is None:
        return F, G, C
    free = free_components(F.shape[1], frozen_cols)
    Gf = G[np.ix_(free, free)]
    Cf = C[:, free] - F[:, frozen_cols] @ G[np.ix_(frozen_cols, free)]
    return (np.ascontiguousarray(F[:, free]), np.ascontiguousarray(Gf, dtype=F.dtype),
            np.ascontiguousarray(Cf, dtype=F.dtype))


def _unframe(F, Ff, frozen_cols):
    if frozen_cols is not None and Ff is not F:
        F[:, free_components(F.shape[1], frozen_cols)] = Ff


# ---------------------------------------------------------------- subproblem solvers
def hals_update(kernels, F, G, C, l1, l2, perm, budget, n_threads):
    """Up to ``budget`` HALS sweeps over F (in place); returns the first sweep's violation.

    After the first sweep, the sweeps stop once one changes F by at most
    ``AHALS_EPS`` times what the first one did (Frobenius norm of the change, which the
    kernel ``hals_sweep_blocks`` sums per block of rows as it sweeps: no copy of F, and
    the same sums however the rows are split between threads).
    """
    if budget <= 1:
        return kernels.hals_sweep(F, G, C, l1, l2, perm, n_threads)
    n_blocks = n_row_blocks(F.shape[0])
    # the whole inner loop in one kernel call (kernel hals_sweeps)
    return kernels.hals_sweeps(F, G, C, l1, l2, perm, budget, AHALS_EPS, np.empty(n_blocks),
                               np.empty(n_blocks), n_threads)


def apg_update(F, G, C, l1, l2, budget):
    """Accelerated projected gradient on the subproblem (in place on F).

    Nesterov's method with step ``1/L`` (``L`` = the largest eigenvalue of
    ``G + l2 I``) and restart: when a momentum step would increase the
    objective, the momentum is dropped and a plain projected-gradient step is
    taken from the current point instead, which with step ``1/L`` never
    increases it (O'Donoghue & Candes 2015).  So the objective decreases
    monotonically.  Stops after ``budget`` steps, or when a step moves F by at
    most ``AHALS_EPS`` times the first step.  Returns the violation at the start.
    """
    dt = F.dtype.type
    L = float(np.linalg.eigvalsh(G.astype(np.float64))[-1]) + l2
    Gl = G + dt(l2) * np.eye(G.shape[0], dtype=G.dtype) if l2 else G
    Cl = C - dt(l1) if l1 else C
    P = F @ Gl
    violation = projected_violation(F, P - Cl)
    if not L > 0:
        return violation
    step = dt(1.0 / L)

    def objective(A, PA):
        return 0.5 * dot64(A, PA) - dot64(Cl, A)

    X0 = F.copy()  # current iterate (F is written at the end)
    f0 = objective(X0, P)
    Y, PY, t = X0, P, 1.0
    first = None
    for _ in range(budget):
        Xn = Y - step * (PY - Cl)
        np.maximum(Xn, 0, out=Xn)
        Pn = Xn @ Gl
        fn = objective(Xn, Pn)
        if fn > f0:
            if Y is X0:  # a plain step did not decrease: rounding level, done
                break
            Y, PY, t = X0, P, 1.0  # restart
            continue
        move = np.sqrt(squared_norm(Xn - X0))
        t_next = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t * t))
        beta = dt((t - 1.0) / t_next)
        Y = Xn + beta * (Xn - X0) if beta else Xn
        PY = Pn + beta * (Pn - P) if beta else Pn
        X0, P, f0, t = Xn, Pn, fn, t_next
        if first is None:
            first = move
        if move == 0 or move <= AHALS_EPS * first:
            break
    F[...] = X0
    return violation


def nnls_update(kernels, F, G, C, l1, l2, n_threads):
    """Exact NNLS of every row of F (in place), warm-started from F; returns the
    violation at the start."""
    dt = F.dtype.type
    Gl = np.ascontiguousarray(G + dt(l2) * np.eye(G.shape[0], dtype=G.dtype) if l2 else G)
    Cl = np.ascontiguousarray(C - dt(l1) if l1 else C)
    violation = projected_violation(F, F @ Gl - Cl)
    kernels.nnls_bpp(Gl, Cl, F, NNLS_MAX_ITER, n_threads)
    return violation




class Alternating(UpdateRule):
    """One iteration of an alternating Frobenius solver: ``X @ Ht`` and the W update, then
    ``X^T @ W`` and the H update, the loss from the Gram identity.

    ``update_W(W, HtH, XHt)`` and ``update_Ht(Ht, WtW, XtW, frozen)`` update their factor in
    place and return the violation they measured (or None: mu).  ``stop``: the stopping
    rule's name (:mod:`fastnmf.solvers.stopping`).  ``extrapolate``: wrap the updates in
    :class:`Extrapolation` (only with ``update_H``).  ``pass_W(W, HtH, Ht)`` (with
    ``update_H``, without ``extrapolate``): W's update fused with the products that follow
    it, returning ``(violation, X^T W, W^T W)`` of the new W; it replaces ``update_W`` and
    the products around it (cd on dense X), and runs with BLAS on one thread.
    ``pass_H(W, WtW, Ht)`` (H held in blocks on a cluster, X by columns: the data form is
    X^T's): H's update where its blocks are, fused with the products that follow it,
    returning ``(violation, X H^T, H H^T)`` of the new H; W's update runs here.
    """

    def __init__(self, data, update_W, update_Ht, *, penalty, update_H, frozen,
                 stop="violation", extrapolate=False, pass_W=None, pass_H=None):
        self.data = data
        self.update_W, self.update_Ht = update_W, update_Ht
        self.penalty = penalty
        self.update_H = update_H
        self.frozen = (None if frozen is None or len(frozen) == 0
                       else np.asarray(frozen, dtype=np.intp))
        self.stop = stop
        self.extrapolate = extrapolate and update_H
        self.pass_W = pass_W if update_H and not self.extrapolate else None
        self.pass_H = pass_H
        self.extra = None
        self.HtH = self.XHt = None

    def context(self):
        # the fused pass calls BLAS from each of its threads: one BLAS thread each
        return blas_threads(1) if self.pass_W is not None else contextlib.nullcontext()

    def _setup(self, W, Ht):
        data = self.data
        if self.HtH is not None:
            return
        if self.extrapolate:
            self.extra = Extrapolation(data.kernels, W, Ht, sweep_threads_with_blas(data),
                                       noise=4 * np.finfo(W.dtype).eps * data.norm2())
        self.HtH = data.gram(Ht)
        if self.pass_H is not None:  # the form of X^T: X H^T = (X^T)^T H^T, from H's blocks
            self.XHt = data.xt_times(Ht)
        # X H^T: for the W updates, unless they are fused passes (then computed only for a
        # rule that needs the starting objective, in start())
        elif self.pass_W is None:
            self.XHt = data.x_times(Ht)

    def start(self, W, Ht, what, monitor):
        self._setup(W, Ht)
        if self.pass_H is not None:
            cross = dot64(self.XHt, W)
        elif hasattr(self.data, "cross"):  # W held on a cluster: <X Ht, W> computed there
            cross = self.data.cross(Ht, W)
        else:
            XHt = self.XHt if self.XHt is not None else self.data.x_times(Ht)
            cross = dot64(XHt, W)
        loss = data_loss(self.data.norm2(), cross, self.data.gram(W), self.HtH)
        return loss if what == "loss" else loss + self.penalty.value(W, Ht)

    def step(self, W, Ht, it):
        self._setup(W, Ht)
        data, extra = self.data, self.extra
        if self.pass_H is not None:  # W here, then H on the workers, with X H^T and H H^T
            violation = self.update_W(W, self.HtH, self.XHt)
            WtW = W.T @ W
            v, self.XHt, self.HtH = self.pass_H(W, WtW, Ht)
            violation = None if violation is None else violation + v
            loss = data_loss(data.norm2(), dot64(self.XHt, W), WtW, self.HtH)
            objective = loss + self.penalty.value(W, Ht)
            note = "" if violation is None else f"  violation {violation:.4e}"
            return Step(objective, loss, violation, note)
        if self.pass_W is not None:
            violation, XtW, WtW = self.pass_W(W, self.HtH, Ht)
        else:
            if self.update_H and it.n > 1:
                if extra is not None and extra.before_W(Ht):
                    self.HtH = data.gram(Ht)
                self.XHt = data.x_times(Ht, out=self.XHt)
            violation = self.update_W(W, self.HtH, self.XHt)
            if extra is not None:
                extra.after_W(W)
            WtW = data.gram(W)
            if self.update_H:
                XtW = data.xt_times(W)
        if self.update_H:
            v = self.update_Ht(Ht, WtW, XtW, self.frozen)
            violation = None if violation is None else violation + v
            self.HtH = data.gram(Ht)
            loss = data_loss(data.norm2(), dot64(XtW, Ht), WtW, self.HtH)
        else:
            loss = data_loss(data.norm2(), dot64(self.XHt, W), WtW, self.HtH)
        objective = loss + self.penalty.value(W, Ht)
        if extra is not None:
            extra.after_H(W, Ht, objective)
        note = "" if violation is None else f"  violation {violation:.4e}"
        return Step(objective, loss, violation, note)


# ------------------------------------------------------------------------ the solvers
def _perm(rng, shuffle, base):
    return rng.permutation(base).astype(np.intp) if shuffle else base


def cd(data, W, Ht, *, penalty, update_H=True, frozen=None, shuffle=False, rng=None,
       parallel_kernels=False, stop="violation"):
    """scikit-learn's exact coordinate descent (HALS), iteration for iteration.

    Stops when the projected-gradient violation falls to ``tol`` times that of the first
    iteration, as scikit-learn's ``solver='cd'`` does (``stop='violation'``); ``'guarded'``
    (what 'auto' runs): not while the objective still falls fast.  On dense C-ordered X the
    W updates are fused passes (kernel ``hals_pass_dense``): one pass over X an iteration
    instead of two, the same iterates to rounding.
    """
    kernels, n_threads = data.kernels, data.n_threads
    k = W.shape[1]
    nt_W = kernel_threads(W.shape[0], k, n_threads, parallel_kernels)
    nt_H = kernel_threads(Ht.shape[0], k, n_threads, parallel_kernels)
    order = np.arange(k, dtype=np.intp)
    free = free_components(k, frozen)

    def upd_W(W, HtH, XHt):
        return kernels.hals_sweep(W, HtH, XHt, penalty.l1_W, penalty.l2_W,
                                  _perm(rng, shuffle, order), nt_W)

    def upd_H(Ht, WtW, XtW, frozen):
        return kernels.hals_sweep(Ht, WtW, XtW, penalty.l1_H, penalty.l2_H,
                                  _perm(rng, shuffle, free), nt_H)

    by_columns = getattr(data, "transposed", False)  # X by columns: H in blocks on a cluster
    pass_W = pass_H = None
    if update_H and data.can_fuse and not by_columns:
        XtW = np.empty((Ht.shape[0], k), dtype=W.dtype)
        WtW = np.empty((k, k), dtype=W.dtype)
        m, n = data.shape
        nt_pass = fused_pass_threads(m, n, k, n_threads)

        def fused_W(W, HtH, Ht):  # the sweep and the products of the new W, one pass over X
            violation = data.fused_pass(Ht, HtH, W, penalty.l1_W, penalty.l2_W,
                                        _perm(rng, shuffle, order), XtW, WtW, nt_pass)
            return violation, XtW, WtW

        pass_W = fused_W

    if by_columns:  # H's sweep where its blocks are
        from ..distributed.data import cd_block

        def blocks_H(W, WtW, Ht):  # cd_block on X^T's blocks: H's sweep, then X H^T, H H^T
            XHt, HtH, violation = data.block_pass(
                cd_block, Ht, (W, WtW), (penalty.l1_H, penalty.l2_H, _perm(rng, shuffle, free)))
            return violation, XHt.astype(W.dtype, copy=False), HtH
        pass_H = blocks_H

    return Alternating(data, upd_W, upd_H, penalty=penalty, update_H=update_H, frozen=frozen,
                       stop=stop, pass_W=pass_W, pass_H=pass_H)


def hals(data, W, Ht, *, penalty, update_H=True, frozen=None, shuffle=False, rng=None,
         parallel_kernels=False, extrapolate=False):
    """Accelerated HALS (Gillis & Glineur 2012): per product, up to :func:`inner_budget`
    exact coordinate-descent sweeps of the factor, stopped early by the paper's rule.  Every
    sweep is one of cd's, so the loss never increases.

    With ``extrapolate`` (``solver='ehals'``): the same updates inside Ang & Gillis'
    (2019) extrapolation with restarts (:class:`Extrapolation`); the loss can then rise at
    an iteration, which makes the next one restart.

    Stopping: without extrapolation, when the objective is flat (every 10 iterations, the
    error ``sqrt(2 objective)`` improved by less than ``tol`` times itself over the last
    ten: :class:`fastnmf.solvers.stopping.FlatRule`); with it, scikit-learn's cd rule.  Not
    the violation rule: its many sweeps per product leave a projected gradient that falls
    slowly once the loss is flat, so on the real-data corpus (benchmarks/corpus.py) it ran
    to ``max_iter`` or near it where the loss had stopped moving (news3824_tfidf: 148
    iterations, loss 1700.71; music10s_fro 127), and it stopped far too early when the
    rank exceeds the data's: the first iteration from an nndsvda start has a huge
    projected gradient (5e9 on a rank-10 gamma matrix with noise, 3000x1000 at k=32), so
    the rule was met after 6 iterations with a loss 1.57 times cd's.
    """
    kernels, n_threads = data.kernels, data.n_threads
    m, k = W.shape
    n = Ht.shape[0]
    nnz = data.stored_entries()
    bW, bH = inner_budget(data.shape, m, k, nnz), inner_budget(data.shape, n, k, nnz)
    # the same plan as cd: on dense X, sweeps stay on one thread unless a single one is
    # big, even though there are many of them (measured, 4000x3000 rank 32: 7 iterations
    # in 0.49 s with one-thread sweeps against 0.87 s with two, whose spinning OpenMP
    # workers and the BLAS products' threads take the cores from each other)
    ntW = kernel_threads(m, k, n_threads, parallel_kernels)
    ntH = kernel_threads(n, k, n_threads, parallel_kernels)
    order = np.arange(k, dtype=np.intp)
    free = free_components(k, frozen)

    def upd_W(W, G, C):
        return hals_update(kernels, W, G, C, penalty.l1_W, penalty.l2_W,
                           _perm(rng, shuffle, order), bW, ntW)

    def upd_H(Ht, G, C, frozen):
        return hals_update(kernels, Ht, G, C, penalty.l1_H, penalty.l2_H,
                           _perm(rng, shuffle, free), bH, ntH)

    return Alternating(data, upd_W, upd_H, penalty=penalty, update_H=update_H, frozen=frozen,
                       extrapolate=extrapolate, stop="violation" if extrapolate else "flat")


def ehals(data, W, Ht, *, penalty, update_H=True, frozen=None, shuffle=False, rng=None,
          parallel_kernels=False):
    """Accelerated HALS with extrapolation and restarts (:func:`hals`)."""
    return hals(data, W, Ht, penalty=penalty, update_H=update_H, frozen=frozen,
                shuffle=shuffle, rng=rng, parallel_kernels=parallel_kernels, extrapolate=True)


def pgd(data, W, Ht, *, penalty, update_H=True, frozen=None, **_):
    """Alternating accelerated projected gradient (Nesterov with restart, see
    :func:`apg_update`); the loss never increases."""
    m, k = W.shape
    n = Ht.shape[0]
    nnz = data.stored_entries()
    bW, bH = inner_budget(data.shape, m, k, nnz), inner_budget(data.shape, n, k, nnz)

    def upd_W(W, G, C):
        return apg_update(W, G, C, penalty.l1_W, penalty.l2_W, bW)

    def upd_H(Ht, G, C, frozen):
        F, Gf, Cf = _frame(Ht, G, C, frozen)
        v = apg_update(F, Gf, Cf, penalty.l1_H, penalty.l2_H, bH)
        _unframe(Ht, F, frozen)
        return v

    return Alternating(data, upd_W, upd_H, penalty=penalty, update_H=update_H, frozen=frozen)


def als(data, W, Ht, *, penalty, update_H=True, frozen=None, parallel_kernels=False, **_):
    """Alternating non-negative least squares, each factor solved exactly by block
    principal pivoting (Kim & Park 2011), warm-started from its previous value; the loss
    never increases (up to rounding)."""
    kernels, n_threads = data.kernels, data.n_threads
    # threads: cd's plan (dense X: one thread unless a call is big; measured, 4000x3000
    # rank 32: 6 iterations in 0.36 s against 0.44 s with two-thread solves)
    m, k = W.shape
    ntW = kernel_threads(m, k, n_threads, parallel_kernels)
    ntH = kernel_threads(Ht.shape[0], k, n_threads, parallel_kernels)

    def upd_W(W, G, C):
        return nnls_update(kernels, W, G, C, penalty.l1_W, penalty.l2_W, ntW)

    def upd_H(Ht, G, C, frozen):
        F, Gf, Cf = _frame(Ht, G, C, frozen)
        v = nnls_update(kernels, F, Gf, Cf, penalty.l1_H, penalty.l2_H, ntH)
        _unframe(Ht, F, frozen)
        return v

    return Alternating(data, upd_W, upd_H, penalty=penalty, update_H=update_H, frozen=frozen)


def mu(data, W, Ht, *, penalty, update_H=True, frozen=None, parallel_kernels=False, **_):
    """Multiplicative updates for the Frobenius loss (Lee & Seung 2001).

    Every 10 iterations, stops when the Frobenius error improved by less than ``tol`` times
    the initial error, as scikit-learn's ``solver='mu'`` does.
    """
    kernels, n_threads = data.kernels, data.n_threads
    k = W.shape[1]
    nt_W = kernel_threads(W.shape[0], k, n_threads, parallel_kernels)
    nt_H = kernel_threads(Ht.shape[0], k, n_threads, parallel_kernels)
    keep = Keeper(Ht, frozen)

    def upd_W(W, HtH, XHt):
        kernels.mu_update(W, HtH, XHt, penalty.l1_W, penalty.l2_W, nt_W)

    def upd_H(Ht, WtW, XtW, frozen):
        kernels.mu_update(Ht, WtW, XtW, penalty.l1_H, penalty.l2_H, nt_H)
        keep.restore(Ht)

    by_columns = getattr(data, "transposed", False)  # X by columns: H in blocks on a cluster
    pass_W = pass_H = None
    if update_H and hasattr(data, "block_pass") and not by_columns:  # W in blocks (Dask X)
        def blocks_W(W, HtH, Ht):  # mu_block on every block of rows, on its worker
            XtW, WtW = data.block_pass(mu_block, W, (Ht, HtH), (penalty.l1_W, penalty.l2_W))
            return None, XtW, WtW

        pass_W = blocks_W

    if by_columns:  # H's update where its blocks are
        def blocks_H(W, WtW, Ht):  # mu_block on X^T's blocks: H's update, then X H^T, H H^T
            XHt, HtH = data.block_pass(mu_block, Ht, (W, WtW), (penalty.l1_H, penalty.l2_H))
            return None, XHt, HtH
        pass_H = blocks_H

    return Alternating(data, upd_W, upd_H, penalty=penalty, update_H=update_H, frozen=frozen,
                       stop="error", pass_W=pass_W, pass_H=pass_H)


def mu_block(X, W, kernels, n_threads, Ht, HtH, l1, l2):
    """The W half of an iteration of :func:`mu` on a block of rows of X and W (W held in
    blocks on a cluster: :meth:`fastnmf.distributed.data.DaskData.block_pass`): W's
    multiplicative update from ``X Ht``, then ``(X^T W, W^T W)`` of the new W, the block's
    parts of what H's update needs."""
    XHt = np.ascontiguousarray(X @ Ht, dtype=W.dtype)
    kernels.mu_update(W, HtH, XHt, l1, l2, n_threads)
    return np.ascontiguousarray(X.T @ W, dtype=W.dtype), W.T @ W


def solve_W(data, Ht, *, penalty):
    """W minimising the objective for fixed components, exactly (one NNLS solve per row,
    from zero): what :meth:`NMF.transform` returns for the Frobenius loss."""
    XHt = data.x_times(Ht)
    W = np.zeros_like(XHt)
    nnls_update(data.kernels, W, data.gram(Ht), XHt, penalty.l1_W, penalty.l2_W,
                data.n_threads)
    return W
