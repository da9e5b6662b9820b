"""Backend-agnostic solver loops.

One function per solver.  Each outer iteration forms the BLAS-3 products in
NumPy (``X @ Ht``, ``X.T @ W`` and the k x k Gram matrices), then hands the
inner loop to a kernel from the registry.  H is kept transposed (``Ht``,
n x k, C-contiguous) so that the W and H updates are the same kernel.

The loss recorded per iteration is the objective being minimised,
``0.5 ||X - W H||_F^2 + l1_W sum(W) + 0.5 l2_W ||W||^2 + l1_H sum(H) + 0.5 l2_H ||H||^2``,
computed from the products the iteration already has,

    ||X - W H||^2 = ||X||^2 - 2 <X^T W, H^T> + <W^T W, H H^T>,

which costs O((m + n) k) instead of a third m x n x k product.  The identity
cancels when the fit is very close: its absolute error is about
``eps * ||X||^2`` (all reductions are done in float64), which is far below
what the stopping rules look at.  The final ``reconstruction_err_`` is instead
summed directly (kernel ``squared_residual``), so it is exact.
"""

import time
from dataclasses import dataclass, field

import numpy as np

from ._validation import squared_norm


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


def _vdot64(a, b):
    return float(np.dot(a.ravel().astype(np.float64, copy=False), b.ravel().astype(np.float64, copy=False)))


#: Below this many multiply-adds per kernel call (rows * k * k), kernels run on
#: one thread.  OpenMP workers spin-wait after a parallel region and take the
#: core from the BLAS products that follow, and BLAS workers spinning after a
#: product take it from the kernel: measured on 2 cores (4000x3000, float64),
#: threaded sweeps cost about 10 ms per call in lost BLAS time, so a cd
#: iteration took 51 ms instead of 33 ms at rank 32 and 137 ms instead of 110 ms
#: at rank 128 (rows * k * k = 6.6e7).  Threads pay off only when a sweep alone
#: takes tens of milliseconds.  Results do not depend on the thread count.
PARALLEL_MIN_WORK = 1 << 27


def kernel_threads(rows, k, n_threads):
    """Threads for a kernel call over ``rows`` rows of ``k`` components."""
    return n_threads if rows * k * k >= PARALLEL_MIN_WORK else 1


def _cross_t(X, W):
    """``X^T W`` as a C-contiguous n x k array.

    Formed as ``(W^T X)^T``: for C-ordered X, BLAS does ``W^T X`` markedly faster
    than ``X^T W`` (about 1.8x in float64 here), and the n x k transpose copy is
    small next to it.
    """
    return np.ascontiguousarray((W.T @ X).T)


def data_loss(norm_X, cross, WtW, HtH):
    """0.5 ||X - W H||^2 from ||X||^2, <X^T W, H^T> (or <X H^T, W>) and the Grams."""
    return max(0.5 * (norm_X - 2.0 * cross + _vdot64(WtW, HtH)), 0.0)


def _report(verbose, solver, it, loss, start, extra=""):
    if verbose:
        print(f"fastnmf {solver}: iteration {it:4d}  loss {loss:.6e}  "
              f"elapsed {time.perf_counter() - start:.3f}s{extra}")


def fit_cd(X, W, Ht, *, kernels, n_threads, penalty, max_iter, tol, shuffle, rng,
           update_H=True, verbose=0):
    """scikit-learn's exact coordinate descent (HALS), iteration for iteration.

    Stops when the projected-gradient violation falls to ``tol`` times that of
    the first iteration, as scikit-learn's ``solver='cd'`` does.
    """
    k = W.shape[1]
    nt_W, nt_H = kernel_threads(W.shape[0], k, n_threads), kernel_threads(Ht.shape[0], k, n_threads)
    norm_X = squared_norm(X)
    order = np.arange(k, dtype=np.intp)
    HtH = Ht.T @ Ht
    XHt = X @ Ht
    history = []
    violation_init = None
    start = time.perf_counter()
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        if update_H and n_iter > 1:
            XHt = X @ Ht
        perm = rng.permutation(k).astype(np.intp) if shuffle else order
        violation = kernels.hals_sweep(W, HtH, XHt, penalty.l1_W, penalty.l2_W, perm, nt_W)
        WtW = W.T @ W
        if update_H:
            XtW = _cross_t(X, W)
            perm = rng.permutation(k).astype(np.intp) if shuffle else order
            violation += kernels.hals_sweep(Ht, WtW, XtW, penalty.l1_H, penalty.l2_H, perm, nt_H)
            HtH = Ht.T @ Ht
            loss = data_loss(norm_X, _vdot64(XtW, Ht), WtW, HtH)
        else:
            loss = data_loss(norm_X, _vdot64(XHt, W), WtW, HtH)
        history.append(loss + penalty.value(W, Ht))
        _report(verbose, "cd", n_iter, history[-1], start, f"  violation {violation:.4e}")
        if violation_init is None:
            violation_init = violation
        if violation_init == 0 or violation / violation_init <= tol:
            break
    return FitResult(W, Ht, n_iter, history)


def fit_mu(X, W, Ht, *, kernels, n_threads, penalty, max_iter, tol, update_H=True, verbose=0):
    """Multiplicative updates for the Frobenius loss (Lee & Seung 2001).

    Every 10 iterations, stops when the Frobenius error improved by less than
    ``tol`` times the initial error, as scikit-learn's ``solver='mu'`` does.
    """
    k = W.shape[1]
    nt_W, nt_H = kernel_threads(W.shape[0], k, n_threads), kernel_threads(Ht.shape[0], k, n_threads)
    norm_X = squared_norm(X)
    HtH = Ht.T @ Ht
    XHt = X @ Ht
    error_init = np.sqrt(2 * data_loss(norm_X, _vdot64(XHt, W), W.T @ W, HtH))
    previous_error = error_init
    history = []
    start = time.perf_counter()
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        if update_H and n_iter > 1:
            XHt = X @ Ht
        kernels.mu_update(W, HtH, XHt, penalty.l1_W, penalty.l2_W, nt_W)
        WtW = W.T @ W
        if update_H:
            XtW = _cross_t(X, W)
            kernels.mu_update(Ht, WtW, XtW, penalty.l1_H, penalty.l2_H, nt_H)
            HtH = Ht.T @ Ht
            loss = data_loss(norm_X, _vdot64(XtW, Ht), WtW, HtH)
        else:
            loss = data_loss(norm_X, _vdot64(XHt, W), WtW, HtH)
        history.append(loss + penalty.value(W, Ht))
        _report(verbose, "mu", n_iter, history[-1], start)
        if tol > 0 and n_iter % 10 == 0:
            error = np.sqrt(2 * loss)
            if error_init == 0 or (previous_error - error) / error_init < tol:
                break
            previous_error = error
    return FitResult(W, Ht, n_iter, history)


def reconstruction_error(X, W, Ht, kernels, n_threads):
    """Exact ``||X - W H||_F``, summed directly without an m x n temporary."""
    if X.flags.c_contiguous:
        sq = kernels.squared_residual(X, W, np.ascontiguousarray(Ht.T), n_threads)
    else:  # F-ordered X: its transpose is C-ordered, and ||X - W H|| = ||X^T - H^T W^T||
        sq = kernels.squared_residual(X.T, Ht, np.ascontiguousarray(W.T), n_threads)
    return float(np.sqrt(sq))
