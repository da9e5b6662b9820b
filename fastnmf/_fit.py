"""Backend-agnostic solver loops.

One function per solver.  Each outer iteration forms the two big products
``X @ Ht`` and ``X^T @ W`` (:class:`Products`: BLAS for dense X, the sparse
kernels for CSR X) and the k x k Gram matrices, then hands the inner loop to
a kernel from the registry.  H is kept transposed (``Ht``,
n x k, C-contiguous) so that the W and H updates are the same kernel.

The loss recorded per iteration is the objective being minimised,
``0.5 ||X - W H||_F^2 + l1_W sum(W) + 0.5 l2_W ||W||^2 + l1_H sum(H) + 0.5 l2_H ||H||^2``,
computed from the products the iteration already has,

    ||X - W H||^2 = ||X||^2 - 2 <X^T W, H^T> + <W^T W, H H^T>,

which costs O((m + n) k) instead of a third m x n x k product.  The identity
cancels when the fit is very close: its absolute error is about
``eps * ||X||^2`` (all reductions are done in float64), which is far below
what the stopping rules look at.  For dense X the final ``reconstruction_err_``
is instead summed directly (kernel ``squared_residual``), so it is exact.
"""

import contextlib
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from ._threads import blas_threads
from ._pool import NARROW_COLUMNS, dense_products_split, product_bounds, row_part_bounds
from ._validation import dot64, squared_norm


@dataclass
class Penalty:
    """Scaled regularization (scikit-learn's convention)."""

    l1_W: float = 0.0
    l2_W: float = 0.0
    l1_H: float = 0.0
    l2_H: float = 0.0

    @classmethod
    def from_alphas(cls, shape, alpha_W, alpha_H, l1_ratio):
        m, n = shape
        return cls(
            l1_W=n * alpha_W * l1_ratio,
            l2_W=n * alpha_W * (1.0 - l1_ratio),
            l1_H=m * alpha_H * l1_ratio,
            l2_H=m * alpha_H * (1.0 - l1_ratio),
        )

    def value(self, W, Ht):
        v = 0.0
        for l1, l2, A in ((self.l1_W, self.l2_W, W), (self.l1_H, self.l2_H, Ht)):
            if l1:
                v += l1 * float(A.sum(dtype=np.float64))
            if l2:
                v += 0.5 * l2 * squared_norm(A)
        return v


@dataclass
class FitResult:
    W: np.ndarray
    Ht: np.ndarray
    n_iter: int
    loss_history: list = field(default_factory=list)
    error: float = None  # exact ||X - W H||_F, when asked for
    times: list = field(default_factory=list)  # seconds since the solver started, per iteration
    stopped_by_callback: bool = False
    solver: str = None
    # 0.5 ||X - W H||^2 of the final W, H by the Gram identity (Frobenius solvers), which is
    # how reconstruction_err_ is computed for sparse X anyway
    last_data_loss: float = None

    @classmethod
    def from_monitor(cls, W, Ht, n_iter, monitor, last_data_loss=None):
        monitor.close()
        return cls(W, Ht, n_iter, monitor.losses, times=monitor.times,
                   stopped_by_callback=monitor.stopped_by_callback, solver=monitor.solver,
                   last_data_loss=last_data_loss)


def _vdot64(a, b):
    """``<a, b>`` in float64 for two arrays of one shape and layout (C-ordered here)."""
    return dot64(a, b)


#: Dense X: below this many multiply-adds per kernel call (rows * k * k),
#: kernels run on one thread.  OpenMP workers spin-wait after a parallel region
#: and take the core from the BLAS products that follow, and BLAS workers
#: spinning after a product take it from the kernel: measured on 2 cores
#: (4000x3000, float64), threaded sweeps cost about 10 ms per call in lost BLAS
#: time, so a cd iteration took 51 ms instead of 33 ms at rank 32 and 137 ms
#: instead of 110 ms at rank 128 (rows * k * k = 6.6e7).  Threads pay off only
#: when a sweep alone takes tens of milliseconds.
PARALLEL_MIN_WORK = 1 << 27


def thread_plan(X, n_threads):
    """``(blas_threads, parallel_kernels)`` for a fit on X with ``n_threads``.

    Dense X: the BLAS products dominate and get every thread; our kernels go
    parallel only for large calls (see :data:`PARALLEL_MIN_WORK`).  (The estimator runs
    hals and ehals on dense X on its own pool instead, one BLAS thread per worker:
    :mod:`fastnmf._pool`; this plan is for the other solvers and losses, and for numba's
    'workqueue' layer.)  Sparse X:
    the products are our own OpenMP kernels, so every kernel gets every thread
    and BLAS (only the k x k Gram matrices) runs on one, which keeps the two
    thread pools from spinning against each other (measured on 2 cores,
    100000x20000 with 2e6 nonzeros, rank 32: 79 ms per cd iteration against
    153 ms with two BLAS threads and single-threaded sweeps).  Results never depend on the thread count,
    except ``X^T W`` on sparse X, which is fixed for a given count.
    """
    if sp.issparse(X):
        return 1, True
    return n_threads, False


def kernel_threads(rows, k, n_threads, parallel=False):
    """Threads for a kernel call over ``rows`` rows of ``k`` components."""
    return n_threads if parallel or rows * k * k >= PARALLEL_MIN_WORK else 1


class Products:
    """The two m x n x k products of an iteration, ``X @ Ht`` and ``X^T @ W``.

    Dense X: NumPy/BLAS.  ``X^T W`` is formed as ``(W^T X)^T``: for C-ordered X,
    BLAS does ``W^T X`` markedly faster than ``X^T W`` (about 1.8x in float64
    here), and the n x k transpose copy is small next to it.
    Sparse X (canonical CSR): the ``csr_matmul`` / ``csr_t_matmul`` kernels,
    which touch only the nonzeros, on ``n_threads`` threads.
    Both return C-contiguous arrays in X's dtype.
    """

    def __init__(self, X, kernels, n_threads):
        self.X = X
        self.sparse = sp.issparse(X)
        self.kernels = kernels
        self.n_threads = n_threads
        # dense X in a pooled fit (fastnmf._pool): the products split over our threads
        self.threads = None if self.sparse else getattr(kernels, "threads", None)

    def _split(self, k):
        return self.threads is not None and dense_products_split(self.X, k)

    def x_times(self, Ht, out=None):
        """``X @ Ht`` (m x k), into ``out`` when given (the previous iteration's)."""
        if out is None:
            out = np.empty((self.X.shape[0], Ht.shape[1]), dtype=Ht.dtype)
        if not self.sparse:
            if self._split(Ht.shape[1]):
                X = self.X
                self.threads.map_lanes(lambda lo, hi: np.matmul(X[lo:hi], Ht, out=out[lo:hi]),
                                       product_bounds(X.shape[0]))
                return out
            return np.matmul(self.X, Ht, out=out)
        X = self.X
        self.kernels.csr_matmul(X.data, X.indices, X.indptr, Ht, out, self.n_threads)
        return out

    def gram(self, F):
        """``F^T F`` (k x k) of a factor (C-contiguous, m x k or n x k).

        Dense X: BLAS, which has every thread there.  Sparse X: the ``gram`` kernel on
        ``n_threads``, since BLAS runs on one thread there (and OpenBLAS does not split a
        product with a k x k result anyway); measured, 100000 x 32 float64 on 2 cores:
        3.2 ms against 6.3 ms for ``W.T @ W``.
        """
        if not self.sparse:
            return F.T @ F
        out = np.empty((F.shape[1], F.shape[1]), dtype=F.dtype)
        self.kernels.gram(F, out, self.n_threads)
        return out

    def _xt_times_by_rows(self, W):
        """``X^T W`` on a narrow X as the sum, in chunk order, of ``W[c]^T X[c]`` over the
        row chunks of :func:`~fastnmf._pool.row_part_bounds` (one BLAS thread each)."""
        X = self.X
        bounds = row_part_bounds(X.shape[0])
        parts = np.empty((len(bounds) - 1, W.shape[1], X.shape[1]), dtype=W.dtype)

        def part(lo, hi):
            c = bounds.index(lo)
            np.matmul(W[lo:hi].T, X[lo:hi], out=parts[c])

        self.threads.map_lanes(part, bounds)
        total = parts[0]
        for c in range(1, len(parts)):
            total += parts[c]
        return np.ascontiguousarray(total.T)

    def xt_times(self, W):
        """``X^T @ W`` (n x k)."""
        if not self.sparse:
            if self._split(W.shape[1]):
                X = self.X
                if X.shape[1] < NARROW_COLUMNS and X.shape[0] >= NARROW_COLUMNS:
                    return self._xt_times_by_rows(W)
                out = np.empty((X.shape[1], W.shape[1]), dtype=W.dtype)

                def part(lo, hi):
                    out[lo:hi] = (W.T @ X[:, lo:hi]).T

                self.threads.map_lanes(part, product_bounds(X.shape[1]))
                return out
            return np.ascontiguousarray((W.T @ self.X).T)
        out = np.empty((self.X.shape[1], W.shape[1]), dtype=W.dtype)
        X = self.X
        self.kernels.csr_t_matmul(X.data, X.indices, X.indptr, W, out, self.n_threads)
        return out


class ViolationRule:
    """scikit-learn's cd stopping rule: stop when the summed projected gradient of an
    iteration falls to ``tol`` times the first iteration's (or the first one is 0)."""

    def __init__(self, tol):
        self.tol = tol
        self.first = None

    def met(self, violation):
        if self.first is None:
            self.first = violation
        return self.first == 0 or violation / self.first <= self.tol


class GuardedViolationRule(ViolationRule):
    """What ``solver='auto'`` stops its Frobenius cd by: scikit-learn's cd rule
    (:class:`ViolationRule`), except while the error ``sqrt(2 objective)`` still falls by
    more than ``GUARD * tol`` times itself an iteration.

    The violation rule compares with the first iteration's violation, and from an nndsvda
    start at a rank well above the data's that one is so large that the rule fires while
    the fit is still far off: on 300x200 data of rank 10 plus 5% noise, at k=128 it stopped
    after 2 iterations with the error falling by a third an iteration, at 1500 times the
    loss 200 iterations reach.  Where the violation rule stopped fits of the real-data
    corpus (benchmarks/corpus.py: 41 to 101 iterations) the error fell by at most 3.1e-4
    times itself an iteration, so there the guard changes nothing and 'auto' keeps
    scikit-learn's iterates and stopping point.
    """

    GUARD = 100.0

    def __init__(self, tol, initial_objective):
        super().__init__(tol)
        self.previous = float(np.sqrt(2 * max(initial_objective, 0.0)))

    def met(self, violation, objective):
        error = float(np.sqrt(2 * max(objective, 0.0)))
        falling = self.previous - error > self.GUARD * self.tol * error
        self.previous = error
        return super().met(violation) and not falling


class ErrorRule:
    """scikit-learn's mu stopping rule: every 10 iterations, stop when the error
    ``sqrt(2 loss)`` improved by less than ``tol`` times the initial error."""

    def __init__(self, initial_loss, tol):
        self.tol = tol
        self.initial = self.previous = float(np.sqrt(2 * max(initial_loss, 0.0)))

    def met(self, n_iter, loss):
        if self.tol <= 0 or n_iter % 10:
            return False
        error = float(np.sqrt(2 * max(loss, 0.0)))
        if self.initial == 0 or (self.previous - error) / self.initial < self.tol:
            return True
        self.previous = error
        return False


class FlatRule:
    """The loss rule of fastnmf's 'hals': every 10 iterations, stop when the error
    ``sqrt(2 objective)`` improved by less than ``tol`` times itself over the last ten.

    Like scikit-learn's mu rule (:class:`ErrorRule`) but relative to the current error,
    not the initial one, which after a random start is several times larger: measured on
    a 300x200 rank-6 matrix from a random start, relative to the initial error 'hals'
    stopped at iteration 60 with a loss 1.1% above scikit-learn cd's (375 iterations);
    relative to the current error at 140, 0.005% above it.
    """

    def __init__(self, initial_objective, tol):
        self.tol = tol
        self.previous = float(np.sqrt(2 * max(initial_objective, 0.0)))

    def met(self, n_iter, objective):
        if self.tol <= 0 or n_iter % 10:
            return False
        error = float(np.sqrt(2 * max(objective, 0.0)))
        if error == 0 or (self.previous - error) < self.tol * error:
            return True
        self.previous = error
        return False


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


def data_loss(norm_X, cross, WtW, HtH):
    """0.5 ||X - W H||^2 from ||X||^2, <X^T W, H^T> (or <X H^T, W>) and the Grams."""
    return max(0.5 * (norm_X - 2.0 * cross + _vdot64(WtW, HtH)), 0.0)


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


def alternate(update_W, update_Ht, X, W, Ht, *, kernels, n_threads, penalty, max_iter, tol,
              monitor, update_H, frozen, extrapolate=False, stop="violation", pass_W=None):
    """The outer loop shared by cd, hals, ehals, pgd and als: per iteration ``X @ Ht`` and
    the W update, then ``X^T @ W`` and the H update, the loss from the Gram identity, and
    a stopping rule: ``stop='violation'``, scikit-learn's cd rule (summed projected
    gradient <= ``tol`` times the first iteration's, :class:`ViolationRule`),
    ``stop='guarded'``, the same unless the objective still falls fast
    (:class:`GuardedViolationRule`, 'auto''s cd), or ``stop='flat'``, when the objective
    is flat (:class:`FlatRule`).

    ``update_W(W, HtH, XHt)`` and ``update_Ht(Ht, WtW, XtW, frozen)`` update their
    factor in place and return the violation they measured.  ``extrapolate``: wrap the
    updates in :class:`Extrapolation` (only with ``update_H``).  ``pass_W(W, HtH, Ht)``
    (with ``update_H``, without ``extrapolate``): W's update fused with the products that
    follow it, returning ``(violation, X^T W, W^T W)`` of the new W; it replaces
    ``update_W`` and the products around it (:func:`fit_cd` on dense X).
    """
    prod = Products(X, kernels, n_threads)
    norm_X = squared_norm(X)
    frozen = None if frozen is None or len(frozen) == 0 else np.asarray(frozen, dtype=np.intp)
    # dense X: one thread, as the sweeps (OpenMP workers would spin against BLAS's)
    extra = (Extrapolation(kernels, W, Ht, n_threads if prod.sparse else 1,
                           noise=4 * np.finfo(W.dtype).eps * norm_X)
             if extrapolate and update_H else None)
    if stop not in ("violation", "guarded", "flat"):
        raise ValueError(f"stop must be 'violation', 'guarded' or 'flat', got {stop!r}")
    if not update_H or extra is not None:
        pass_W = None
    HtH = prod.gram(Ht)
    # X H^T: for the W updates, unless they are fused passes; then only for a rule that
    # needs the starting objective
    XHt = prod.x_times(Ht) if pass_W is None or stop != "violation" else None
    start = (data_loss(norm_X, _vdot64(XHt, W), prod.gram(W), HtH) + penalty.value(W, Ht)
             if stop != "violation" else None)
    rule = {"violation": lambda: ViolationRule(tol),
            "guarded": lambda: GuardedViolationRule(tol, start),
            "flat": lambda: FlatRule(start, tol)}[stop]()

    def stopped(n_iter, violation, objective):  # each rule looks at what it needs
        if stop == "violation":
            return rule.met(violation)
        if stop == "guarded":
            return rule.met(violation, objective)
        return rule.met(n_iter, objective)

    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        if pass_W is not None:
            violation, XtW, WtW = pass_W(W, HtH, Ht)
        else:
            if update_H and n_iter > 1:
                if extra is not None and extra.before_W(Ht):
                    HtH = prod.gram(Ht)
                XHt = prod.x_times(Ht, out=XHt)
            violation = update_W(W, HtH, XHt)
            if extra is not None:
                extra.after_W(W)
            WtW = prod.gram(W)
            if update_H:
                XtW = prod.xt_times(W)
        if update_H:
            violation += update_Ht(Ht, WtW, XtW, frozen)
            HtH = prod.gram(Ht)
            loss = data_loss(norm_X, _vdot64(XtW, Ht), WtW, HtH)
        else:
            loss = data_loss(norm_X, _vdot64(XHt, W), WtW, HtH)
        objective = loss + penalty.value(W, Ht)
        if extra is not None:
            extra.after_H(W, Ht, objective)
        go_on = monitor.record(n_iter, objective, W, Ht, f"  violation {violation:.4e}")
        if not go_on or stopped(n_iter, violation, objective):
            break
    return FitResult.from_monitor(W, Ht, n_iter, monitor, loss)


def fit_cd(X, W, Ht, *, kernels, n_threads, penalty, max_iter, tol, shuffle, rng, monitor,
           update_H=True, parallel_kernels=False, frozen=None, stop="violation"):
    """scikit-learn's exact coordinate descent (HALS), iteration for iteration.

    Stops when the projected-gradient violation falls to ``tol`` times that of
    the first iteration, as scikit-learn's ``solver='cd'`` does (``stop='violation'``);
    ``stop='guarded'`` (what 'auto' runs): not while the objective still falls fast
    (:class:`GuardedViolationRule`).
    """
    k = W.shape[1]
    nt_W = kernel_threads(W.shape[0], k, n_threads, parallel_kernels)
    nt_H = kernel_threads(Ht.shape[0], k, n_threads, parallel_kernels)
    order = np.arange(k, dtype=np.intp)
    free = free_components(k, frozen)

    def upd_W(W, HtH, XHt):
        perm = rng.permutation(k).astype(np.intp) if shuffle else order
        return kernels.hals_sweep(W, HtH, XHt, penalty.l1_W, penalty.l2_W, perm, nt_W)

    def upd_H(Ht, WtW, XtW, frozen):
        perm = rng.permutation(free).astype(np.intp) if shuffle else free
        return kernels.hals_sweep(Ht, WtW, XtW, penalty.l1_H, penalty.l2_H, perm, nt_H)

    pass_W = None
    nt_pass = n_threads if X.shape[0] * X.shape[1] * k >= FUSED_PARALLEL_MIN_WORK else 1
    if fused_pass(X, update_H):
        XtW = np.empty((X.shape[1], k), dtype=W.dtype)
        WtW = np.empty((k, k), dtype=W.dtype)

        def pass_W(W, HtH, Ht):  # the sweep and the products of the new W, one pass over X
            perm = rng.permutation(k).astype(np.intp) if shuffle else order
            violation = kernels.hals_pass_dense(X, Ht, HtH, W, penalty.l1_W, penalty.l2_W, perm,
                                                XtW, WtW, nt_pass)
            return violation, XtW, WtW

    # the fused pass calls BLAS from each of its threads: one BLAS thread each
    with blas_threads(1) if pass_W is not None else contextlib.nullcontext():
        return alternate(upd_W, upd_H, X, W, Ht, kernels=kernels, n_threads=n_threads,
                         penalty=penalty, max_iter=max_iter, tol=tol, monitor=monitor,
                         update_H=update_H, frozen=frozen, stop=stop, pass_W=pass_W)


#: The fused pass runs on the fit's threads only from this many multiply-adds (``m n k``) on;
#: below, on one.  Its parallel region per iteration waits for its slowest thread, and a
#: thread that shares its core (with OpenBLAS's workers, which spin for about a tenth of a
#: second after a threaded call) makes every iteration wait: whole default fits on 2 cores,
#: interleaved, threads always against from 2^23: 60 x 1841 spectra at k=3 83 against 32 ms,
#: 200 x 625 faces 97 against 54, digits 89 against 74, 863 x 513 spectrogram 194 against 156
#: (each alone, 2 threads were faster: digits 0.14 against 0.24 ms an iteration).
FUSED_PARALLEL_MIN_WORK = 1 << 23


def fused_pass(X, update_H):
    """Whether cd's W updates on X run as fused passes (kernel ``hals_pass_dense``): X dense
    and C-ordered, H updated too.  One pass over X per iteration instead of two: per block
    of rows, ``X_b H^T``, the sweep, ``X_b^T W_b`` and ``W_b^T W_b`` while ``X_b`` is in
    cache.  Measured on 2 cores (AMD EPYC, float64, one iteration): 10000 x 256 image
    patches at k=16 5.25 -> 1.99 ms, 10000 x 144 3.36 -> 1.26, digits 0.27 -> 0.14, 1629 x
    1015 spectra at k=6 1.27 -> 0.60, 5000 x 784 at k=30 10.9 -> 9.3, 4000 x 3000 at k=32
    25.9 -> 25.5: where X's rows are short the products are bound by reading X, which the
    fused pass does once."""
    return update_H and not sp.issparse(X) and X.flags.c_contiguous


def fit_mu(X, W, Ht, *, kernels, n_threads, penalty, max_iter, tol, monitor, update_H=True,
           parallel_kernels=False, frozen=None):
    """Multiplicative updates for the Frobenius loss (Lee & Seung 2001).

    Every 10 iterations, stops when the Frobenius error improved by less than
    ``tol`` times the initial error, as scikit-learn's ``solver='mu'`` does.
    """
    k = W.shape[1]
    nt_W = kernel_threads(W.shape[0], k, n_threads, parallel_kernels)
    nt_H = kernel_threads(Ht.shape[0], k, n_threads, parallel_kernels)
    prod = Products(X, kernels, n_threads)
    norm_X = squared_norm(X)
    HtH = prod.gram(Ht)
    XHt = prod.x_times(Ht)
    rule = ErrorRule(data_loss(norm_X, _vdot64(XHt, W), prod.gram(W), HtH), tol)
    keep = Keeper(Ht, frozen)
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        if update_H and n_iter > 1:
            XHt = prod.x_times(Ht, out=XHt)
        kernels.mu_update(W, HtH, XHt, penalty.l1_W, penalty.l2_W, nt_W)
        WtW = prod.gram(W)
        if update_H:
            XtW = prod.xt_times(W)
            kernels.mu_update(Ht, WtW, XtW, penalty.l1_H, penalty.l2_H, nt_H)
            keep.restore(Ht)
            HtH = prod.gram(Ht)
            loss = data_loss(norm_X, _vdot64(XtW, Ht), WtW, HtH)
        else:
            loss = data_loss(norm_X, _vdot64(XHt, W), WtW, HtH)
        if not monitor.record(n_iter, loss + penalty.value(W, Ht), W, Ht) or rule.met(n_iter, loss):
            break
    return FitResult.from_monitor(W, Ht, n_iter, monitor, loss)


def reconstruction_error(X, W, Ht, kernels, n_threads):
    """``||X - W H||_F`` without an m x n temporary.

    Dense X: summed directly, entry by entry (exact).  Sparse X: from the
    nonzeros and the Gram matrices, ``||X||^2 - 2<X Ht, W> + <W^T W, Ht^T Ht>``
    in float64 (the entries of W H off the nonzeros are only reachable through
    the Grams), as scikit-learn does for sparse X.
    """
    if sp.issparse(X):
        prod = Products(X, kernels, n_threads)
        cross = _vdot64(prod.x_times(Ht), W)
        return float(np.sqrt(2 * data_loss(squared_norm(X), cross, prod.gram(W), prod.gram(Ht))))
    if X.flags.c_contiguous:
        sq = kernels.squared_residual(X, W, np.ascontiguousarray(Ht.T), n_threads)
    else:  # F-ordered X: its transpose is C-ordered, and ||X - W H|| = ||X^T - H^T W^T||
        sq = kernels.squared_residual(X.T, Ht, np.ascontiguousarray(W.T), n_threads)
    return float(np.sqrt(sq))
