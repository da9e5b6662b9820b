"""Dense X held in memory (a NumPy array): :class:`DenseData`."""

import numpy as np

from .._validation import squared_norm
from ..parallel.pool import dense_products_split, narrow, product_bounds, row_part_bounds
from .base import Data


class DenseData(Data):
    """A dense X (C- or F-ordered ndarray, float32 or float64).

    The products are NumPy's (BLAS).  ``X^T W`` is formed as ``(W^T X)^T``: for C-ordered
    X, BLAS does ``W^T X`` markedly faster than ``X^T W`` (about 1.8x in float64 here), and
    the n x k transpose copy is small next to it.  In a fit on fastnmf's pool (hals and
    ehals: the kernels are a :class:`fastnmf.parallel.pool.PooledKernels`), the products are
    split into chunks of a fixed size over the pool, one single-threaded BLAS call each.
    On C-ordered X the cd sweep of W can be fused with the products of the new W
    (:meth:`fused_pass`).
    """

    kind = "dense"

    @property
    def can_fuse(self):
        return bool(self.X.flags.c_contiguous)

    @property
    def _pool(self):
        return getattr(self.kernels, "threads", None)

    def _split(self, k):
        return self._pool is not None and dense_products_split(self.X, k)

    # ------------------------------------------------------------ the products
    def norm2(self):
        """``||X||^2`` in float64 (computed once)."""
        return self.cached("norm2", lambda: squared_norm(self.X))

    def stored_entries(self):
        """The number of nonzero entries of X (computed once)."""
        return self.cached("nonzeros", lambda: int(np.count_nonzero(self.X)))

    def x_times(self, Ht, out=None):
        """``X @ Ht`` (m x k), into ``out`` when given."""
        X = self.X
        if out is None:
            out = np.empty((X.shape[0], Ht.shape[1]), dtype=Ht.dtype)
        if self._split(Ht.shape[1]):
            self._pool.map_lanes(lambda lo, hi: np.matmul(X[lo:hi], Ht, out=out[lo:hi]),
                                 product_bounds(X.shape[0]))
            return out
        return np.matmul(X, Ht, out=out)

    def xt_times(self, W):
        """``X^T @ W`` (n x k)."""
        X = self.X
        if self._split(W.shape[1]):
            if narrow(X):
                return self._xt_times_by_rows(W)
            out = np.empty((X.shape[1], W.shape[1]), dtype=W.dtype)

            def part(lo, hi):
                out[lo:hi] = (W.T @ X[:, lo:hi]).T

            self._pool.map_lanes(part, product_bounds(X.shape[1]))
            return out
        return np.ascontiguousarray((W.T @ X).T)

    def _xt_times_by_rows(self, W):
        """``X^T W`` on a narrow X as the sum, in chunk order, of ``W[c]^T X[c]`` over the
        row chunks of :func:`~fastnmf.parallel.pool.row_part_bounds` (one BLAS thread each)."""
        X = self.X
        bounds = row_part_bounds(X.shape[0])
        parts = np.empty((len(bounds) - 1, W.shape[1], X.shape[1]), dtype=W.dtype)

        def part(lo, hi):
            c = bounds.index(lo)
            np.matmul(W[lo:hi].T, X[lo:hi], out=parts[c])

        self._pool.map_lanes(part, bounds)
        total = parts[0]
        for c in range(1, len(parts)):
            total += parts[c]
        return np.ascontiguousarray(total.T)

    def gram(self, F):
        """``F^T F`` (k x k): BLAS, which has the fit's threads on dense X."""
        return F.T @ F

    def fused_pass(self, Ht, HtH, W, l1, l2, perm, XtW, WtW, n_threads):
        """The cd sweep of W fused with ``X^T W`` and ``W^T W`` of the new W (kernel
        ``hals_pass_dense``: one pass over X); returns the sweep's violation.  BLAS must be
        limited to one thread around it (the kernel calls BLAS from each of its threads)."""
        return self.kernels.hals_pass_dense(self.X, Ht, HtH, W, l1, l2, perm, XtW, WtW,
                                            n_threads)

    def reconstruction_error(self, W, Ht):
        """``||X - W H||_F`` summed entry by entry (exact; kernel ``squared_residual``)."""
        X = self.X
        if X.flags.c_contiguous:
            sq = self.kernels.squared_residual(X, W, np.ascontiguousarray(Ht.T), self.n_threads)
        else:  # F-ordered X: its transpose is C-ordered, and ||X - W H|| = ||X^T - H^T W^T||
            sq = self.kernels.squared_residual(X.T, Ht, np.ascontiguousarray(W.T),
                                               self.n_threads)
        return float(np.sqrt(sq))

    # ------------------------------------------------------------ beta divergences
    @property
    def XT(self):
        """``X^T``: a view."""
        return self.X.T

    def kl_sweep(self, side, F, G, l1, l2, max_inner, want_loss):
        """One KL Newton coordinate sweep of W (``side`` 0: F = W, G = Ht, rows of X) or of
        H (side 1: F = Ht, G = W, rows of X^T); returns ``(violation, loss part)``."""
        Xs = self.X if side == 0 else self.XT
        gsum = G.sum(axis=0, dtype=np.float64)
        return self.kernels.kl_cd_sweep(Xs, F, G, gsum, l1, l2, max_inner, want_loss,
                                        self.n_threads)

    def x_sum(self):
        """``sum(X)`` in float64 (computed once)."""
        return self.cached("sum", lambda: float(self.X.sum(dtype=np.float64)))

    def mean(self):
        return self.x_sum() / max(self.X.shape[0] * self.X.shape[1], 1)

    def has_zeros(self):
        """True when X has a zero entry."""
        return self.cached("has zeros", lambda: bool(self.X.min() == 0))
