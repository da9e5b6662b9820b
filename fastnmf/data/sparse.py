"""Sparse X held in memory (a canonical scipy CSR matrix): :class:`SparseData`."""

import numpy as np

from .._validation import dot64
from .base import Data


class SparseData(Data):
    """A canonical CSR X (sorted indices, no duplicates), float32 or float64, never
    densified.  The products are the backend's ``csr_matmul`` / ``csr_t_matmul`` kernels,
    which touch only the nonzeros, on every thread; the Gram matrices the ``gram`` kernel
    (BLAS runs on one thread on sparse X, and OpenBLAS does not split a product with a
    k x k result anyway: measured, 100000 x 32 float64 on 2 cores, 3.2 ms against 6.3 ms for
    ``W.T @ W``).  The KL sweeps and the H update's numerators read a CSR copy of ``X^T``,
    made once (O(nnz))."""

    kind = "sparse"

    def norm2(self):
        return self.cached("norm2", lambda: dot64(self.X.data, self.X.data))

    def stored_entries(self):
        return self.cached("nonzeros", lambda: int(np.count_nonzero(self.X.data)))

    def x_times(self, Ht, out=None):
        X = self.X
        if out is None:
            out = np.empty((X.shape[0], Ht.shape[1]), dtype=Ht.dtype)
        self.kernels.csr_matmul(X.data, X.indices, X.indptr, Ht, out, self.n_threads)
        return out

    def xt_times(self, W):
        X = self.X
        out = np.empty((X.shape[1], W.shape[1]), dtype=W.dtype)
        self.kernels.csr_t_matmul(X.data, X.indices, X.indptr, W, out, self.n_threads)
        return out

    def gram(self, F):
        out = np.empty((F.shape[1], F.shape[1]), dtype=F.dtype)
        self.kernels.gram(F, out, self.n_threads)
        return out

    def reconstruction_error(self, W, Ht):
        """``||X - W H||_F`` from the nonzeros and the Gram matrices,
        ``||X||^2 - 2<X Ht, W> + <W^T W, Ht^T Ht>`` in float64 (the entries of W H off the
        nonzeros are only reachable through the Grams), as scikit-learn does for sparse X."""
        from ..solvers.frobenius import data_loss

        cross = dot64(self.x_times(Ht), W)
        return float(np.sqrt(2 * data_loss(self.norm2(), cross, self.gram(W), self.gram(Ht))))

    @property
    def XT(self):
        """``X^T`` as a CSR copy (made once)."""
        return self.cached("XT", lambda: self.X.T.tocsr())

    def kl_sweep(self, side, F, G, l1, l2, max_inner, want_loss):
        Xs = self.X if side == 0 else self.XT
        gsum = G.sum(axis=0, dtype=np.float64)
        return self.kernels.kl_cd_sweep_csr(Xs.data, Xs.indices, Xs.indptr, F, G, gsum, l1, l2,
                                            max_inner, want_loss, self.n_threads)

    def x_sum(self):
        return self.cached("sum", lambda: float(self.X.data.sum(dtype=np.float64)))

    def mean(self):
        return self.x_sum() / max(self.X.shape[0] * self.X.shape[1], 1)

    def has_zeros(self):
        X = self.X
        return X.nnz < X.shape[0] * X.shape[1] or bool((X.data == 0).any())
