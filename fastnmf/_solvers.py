"""The Frobenius solvers beyond scikit-learn's: accelerated HALS (also with
extrapolation, 'ehals'), accelerated projected gradient and alternating NNLS.

All three alternate between W and H like ``fit_cd``: each outer iteration
forms the two expensive products ``X H^T`` and ``X^T W`` once (see
:class:`fastnmf._fit.Products`) and then solves, approximately or exactly, the
non-negative least-squares problem of one factor with the other fixed,

    min_{F >= 0}  0.5 tr(F G F^T) - <C, F> + l1 sum(F) + 0.5 l2 ||F||^2,

where ``G`` is the k x k Gram matrix of the fixed factor and ``C`` the cross
product.  These subproblems only touch m x k and k x k arrays, so several
cheap passes over them per expensive product are what buys speed.

Stopping: every solver here records, for each factor, the summed absolute
projected gradient at the start of its update (the quantity scikit-learn's cd
sums over its sweep) and stops when an iteration's total falls to ``tol``
times the first iteration's.
"""

import numpy as np

from ._fit import Products, _vdot64, alternate, free_components, kernel_threads
from ._kernels import n_row_blocks
from ._validation import squared_norm

#: Gillis & Glineur (2012): at most ``1 + ALPHA * rho`` inner passes per
#: expensive product, rho being the cost of the product over the cost of one
#: pass; the inner loop stops early when a pass changes the factor by at most
#: ``EPS`` times what the first pass changed it (the paper's values).
AHALS_ALPHA = 0.5
AHALS_EPS = 0.1

#: NNLS (block principal pivoting) iterations per row before giving up.
NNLS_MAX_ITER = 200


def stored_entries(X):
    """The number of nonzero entries of X, dense or sparse (explicit zeros not counted)."""
    if hasattr(X, "nnz"):
        return int(np.count_nonzero(X.data))
    return int(np.count_nonzero(X))


def inner_budget(X, rows, k, nnz):
    """Passes over a ``rows x k`` factor worth one update's products.

    ``rho = 1 + (nnz + other * k) / (rows * (k + 1))`` with ``nnz`` = the number of
    nonzero entries of X and ``other`` = the other dimension: the flops of the
    products ``X F^T``, ``F F^T`` over those of a pass (Gillis & Glineur 2012,
    section 3.1, with the nonzeros in place of m n).  Counting nonzeros for dense X
    too keeps the schedule, and so the iterates, the same for the same data given
    dense or sparse.
    """
    m, n = X.shape
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
        return 0.5 * _vdot64(A, PA) - _vdot64(Cl, A)

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


# ---------------------------------------------------------------------- the loops
def fit_hals(X, W, Ht, *, kernels, n_threads, penalty, max_iter, tol, monitor, update_H=True,
             parallel_kernels=False, frozen=None, shuffle=False, rng=None, extrapolate=False):
    """Accelerated HALS (Gillis & Glineur 2012): per product, up to
    :func:`inner_budget` exact coordinate-descent sweeps of the factor, stopped
    early by the paper's rule.  Every sweep is one of ``fit_cd``'s, so the
    loss never increases.

    With ``extrapolate`` (``solver='ehals'``): the same updates inside Ang & Gillis'
    (2019) extrapolation with restarts (:class:`fastnmf._fit.Extrapolation`); the loss
    can then rise at an iteration, which makes the next one restart.

    Stopping: without extrapolation, when the objective is flat (every 10 iterations, the
    error ``sqrt(2 objective)`` improved by less than ``tol`` times itself over the last
    ten: :class:`fastnmf._fit.FlatRule`); with it, scikit-learn's cd rule.  Not the
    violation rule: its many sweeps per product leave a projected gradient that falls
    slowly once the loss is flat, so on the real-data corpus (benchmarks/corpus.py) it ran
    to ``max_iter`` or near it where the loss had stopped moving (news3824_tfidf: 148
    iterations, loss 1700.71; music10s_fro 127), and it stopped far too early when the
    rank exceeds the data's: the first iteration from an nndsvda start has a huge
    projected gradient (5e9 on a rank-10 gamma matrix with noise, 3000x1000 at k=32), so
    the rule was met after 6 iterations with a loss 1.57 times cd's.
    """
    m, k = W.shape
    n = Ht.shape[0]
    nnz = stored_entries(X)
    bW, bH = inner_budget(X, m, k, nnz), inner_budget(X, n, k, nnz)
    # the same plan as cd: on dense X, sweeps stay on one thread unless a single one is
    # big, even though there are many of them (measured, 4000x3000 rank 32: 7 iterations
    # in 0.49 s with one-thread sweeps against 0.87 s with two, whose spinning OpenMP
    # workers and the BLAS products' threads take the cores from each other)
    ntW = kernel_threads(m, k, n_threads, parallel_kernels)
    ntH = kernel_threads(n, k, n_threads, parallel_kernels)
    order = np.arange(k, dtype=np.intp)
    free = free_components(k, frozen)

    def perm(base):
        return rng.permutation(base).astype(np.intp) if shuffle else base

    def upd_W(W, G, C):
        return hals_update(kernels, W, G, C, penalty.l1_W, penalty.l2_W, perm(order), bW, ntW)

    def upd_H(Ht, G, C, frozen):
        return hals_update(kernels, Ht, G, C, penalty.l1_H, penalty.l2_H, perm(free), bH, ntH)

    return alternate(upd_W, upd_H, X, W, Ht, kernels=kernels, n_threads=n_threads,
                     penalty=penalty, max_iter=max_iter, tol=tol, monitor=monitor,
                     update_H=update_H, frozen=frozen, extrapolate=extrapolate,
                     stop="violation" if extrapolate else "flat")


def fit_pgd(X, W, Ht, *, kernels, n_threads, penalty, max_iter, tol, monitor, update_H=True,
            parallel_kernels=False, frozen=None):
    """Alternating accelerated projected gradient (Nesterov with restart, see
    :func:`apg_update`); the loss never increases."""
    m, k = W.shape
    n = Ht.shape[0]
    nnz = stored_entries(X)
    bW, bH = inner_budget(X, m, k, nnz), inner_budget(X, n, k, nnz)

    def upd_W(W, G, C):
        return apg_update(W, G, C, penalty.l1_W, penalty.l2_W, bW)

    def upd_H(Ht, G, C, frozen):
        F, Gf, Cf = _frame(Ht, G, C, frozen)
        v = apg_update(F, Gf, Cf, penalty.l1_H, penalty.l2_H, bH)
        _unframe(Ht, F, frozen)
        return v

    return alternate(upd_W, upd_H, X, W, Ht, kernels=kernels, n_threads=n_threads,
                     penalty=penalty, max_iter=max_iter, tol=tol, monitor=monitor,
                     update_H=update_H, frozen=frozen)


def fit_als(X, W, Ht, *, kernels, n_threads, penalty, max_iter, tol, monitor, update_H=True,
            parallel_kernels=False, frozen=None):
    """Alternating non-negative least squares, each factor solved exactly by
    block principal pivoting (Kim & Park 2011), warm-started from its previous
    value; the loss never increases (up to rounding)."""

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

    return alternate(upd_W, upd_H, X, W, Ht, kernels=kernels, n_threads=n_threads,
                     penalty=penalty, max_iter=max_iter, tol=tol, monitor=monitor,
                     update_H=update_H, frozen=frozen)


def solve_W(X, Ht, *, kernels, n_threads, penalty):
    """W minimising the objective for fixed components, exactly (one NNLS solve
    per row, from zero): what :meth:`NMF.transform` returns for the Frobenius loss."""
    prod = Products(X, kernels, n_threads)
    XHt = prod.x_times(Ht)
    W = np.zeros_like(XHt)
    nnls_update(kernels, W, prod.gram(Ht), XHt, penalty.l1_W, penalty.l2_W, n_threads)
    return W

