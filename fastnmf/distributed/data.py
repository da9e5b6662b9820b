"""The data form of a row-chunked ``dask.array.Array`` X on a ``distributed`` cluster.

X's blocks of rows live on the workers (computed once, kept as futures); every operation
is a task per block that runs the compiled kernels on the worker holding that block, and
what comes back to the client is only what the update of H needs (n x k, k x k, numbers),
summed pairwise in a tree (:func:`fastnmf.distributed.blocks.tree_sum`).  W is a
:class:`~fastnmf.distributed.blocks.BlockFactor` whose block b sits beside X's block b.

Bytes moved per coordinate-descent iteration, with B blocks: Ht and ``Ht^T Ht`` to each
worker (n k + k^2 numbers per worker), and ``X_b^T W_b``, ``W_b^T W_b`` back (n k + k^2
per block, added in a tree); nothing m x k or m x n.
"""

import operator

import numpy as np
import scipy.sparse as sp

from .._validation import dot64, squared_norm
from ..data.base import Data
from ..solvers.frobenius import data_loss
from .blocks import BlockFactor, tree_sum


# ------------------------------------------------------------ tasks (run on the workers)
def _canonical(block, dtype):
    """A block as the kernels take it: C-ordered ndarray or canonical CSR, of ``dtype``."""
    if sp.issparse(block):
        block = sp.csr_matrix(block, dtype=dtype)
        block.sum_duplicates()
        block.sort_indices()
        return block
    if hasattr(block, "tocsr") and not isinstance(block, np.ndarray):  # pydata sparse.COO
        return _canonical(block.tocsr(), dtype)
    if hasattr(block, "todense") and not isinstance(block, np.ndarray):
        raise TypeError(f"a block of the Dask X is a sparse {type(block).__name__} without "
                        "tocsr(); use scipy.sparse or pydata sparse blocks (never densified)")
    return np.ascontiguousarray(block, dtype=dtype)


def _scan(block):
    """What the validation pass needs of a block: ``(finite, negatives, sum, ||X_b||^2,
    nonzeros, has zeros, sparse)``."""
    values = block.data if sp.issparse(block) else block
    finite = bool(np.isfinite(values).all())
    negatives = int(np.count_nonzero(values < 0)) if finite else 0
    total = float(values.sum(dtype=np.float64)) if finite else 0.0
    norm2 = squared_norm(values) if finite else 0.0
    nonzeros = int(np.count_nonzero(values))
    size = block.shape[0] * block.shape[1]
    return finite, negatives, total, norm2, nonzeros, nonzeros < size, sp.issparse(block)


def _kernels(backend):
    from .._backends import get_backend

    return get_backend(backend)


def _fused_pass(X, W, Ht, HtH, l1, l2, perm, backend, n_threads):
    """cd's sweep of a block of W fused with its products: ``(W_new, (X^T W, W^T W,
    violation))`` (the block's part)."""
    kernels = _kernels(backend)
    W = np.array(W, copy=True, order="C")
    n, k = Ht.shape
    XtW = np.empty((n, k), dtype=W.dtype)
    if sp.issparse(X):
        C = np.empty((W.shape[0], k), dtype=W.dtype)
        kernels.csr_matmul(X.data, X.indices, X.indptr, Ht, C, n_threads)
        violation = kernels.hals_sweep(W, HtH, C, l1, l2, perm, n_threads)
        kernels.csr_t_matmul(X.data, X.indices, X.indptr, W, XtW, n_threads)
        WtW = W.T @ W
    else:
        WtW = np.empty((k, k), dtype=W.dtype)
        violation = kernels.hals_pass_dense(X, Ht, HtH, W, l1, l2, perm, XtW, WtW, n_threads)
    return W, (XtW, WtW, float(violation))


def _gram(W):
    return (W.T @ W,)


def _cross(X, W, Ht):
    """``<X_b Ht, W_b>`` in float64."""
    return (dot64(np.asarray(X @ Ht), W),)


def _x_times(X, Ht):
    return np.ascontiguousarray(X @ Ht)


def _xt_times(X, W):
    return (np.ascontiguousarray((X.T @ W)),)


def _squared_residual(X, W, Ht, backend):
    if sp.issparse(X):  # the Gram identity (nothing m x n)
        return (2.0 * data_loss(squared_norm(X.data), _cross(X, W, Ht)[0], W.T @ W,
                                Ht.T @ Ht),)
    return (float(_kernels(backend).squared_residual(X, np.ascontiguousarray(W),
                                                      np.ascontiguousarray(Ht.T), 1)),)


# ------------------------------------------------------------------- the data form
class DaskData(Data):
    """A row-chunked Dask X on ``client``'s cluster (see the module docstring).

    Built by :meth:`from_dask`, which validates X in one pass on the workers; ``backend``
    names the kernels the workers run (each worker imports fastnmf), ``n_threads`` their
    threads per task.
    """

    kind = "dask"
    can_fuse = True

    def __init__(self, client, blocks, bounds, shape, dtype, sparse, backend, n_threads,
                 workers):
        self.client = client
        self.blocks = list(blocks)
        self.bounds = np.asarray(bounds, dtype=np.int64)
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.sparse = bool(sparse)
        self.backend = backend
        self.kernels = _kernels(backend)
        self.n_threads = int(n_threads)
        self.workers = list(workers)
        self.X = self
        self.cache = {}

    @classmethod
    def from_dask(cls, X, client, backend="cython", n_threads=1, name="X"):
        """The form of the Dask array ``X``: its row blocks computed and kept on the
        workers (columns in one chunk: rechunked if not), checked finite and
        non-negative (ValueError naming ``name``), with ``||X||^2`` and its sums."""
        if X.ndim != 2:
            raise ValueError(f"{name} must be 2-D; got a Dask array of shape {X.shape}")
        if any(np.isnan(c) for c in X.shape):
            raise ValueError(f"{name} must have known chunk sizes (call X.compute_chunk_sizes())")
        if X.shape[0] == 0 or X.shape[1] == 0:
            raise ValueError(f"{name} must have at least one row and one column; got shape "
                             f"{X.shape}")
        kind = np.dtype(X.dtype).kind
        if kind not in "biuf":
            raise TypeError(f"{name} must hold numbers; got dtype {X.dtype}")
        dtype = np.float32 if np.dtype(X.dtype) == np.float32 else np.float64
        if X.numblocks[1] != 1:
            X = X.rechunk({1: -1})
        bounds = np.concatenate(([0], np.cumsum(X.chunks[0])))
        raw = client.compute(list(X.to_delayed().ravel()))
        blocks = client.map(_canonical, raw, dtype=dtype, pure=False)
        del raw
        scans = client.gather(client.map(_scan, blocks, pure=False))
        bad = [b for b, s in enumerate(scans) if not s[0]]
        if bad:
            lo, hi = bounds[bad[0]], bounds[bad[0] + 1]
            raise ValueError(f"{name} must contain only finite values (a Dask X may not have "
                             f"unknown entries); rows {lo}:{hi} have NaN or infinite entries")
        neg = [b for b, s in enumerate(scans) if s[1]]
        if neg:
            lo, hi = bounds[neg[0]], bounds[neg[0] + 1]
            raise ValueError(f"Negative values in data passed to {name}: rows {lo}:{hi}")
        who = client.who_has(blocks)
        workers = [sorted(who[f.key])[0] if who.get(f.key) else None for f in blocks]
        sparse = bool(scans[0][6])
        data = cls(client, blocks, bounds, X.shape, dtype, sparse, backend, n_threads, workers)
        data.cache.update({"sum": sum(s[2] for s in scans), "norm2": sum(s[3] for s in scans),
                           "nonzeros": sum(s[4] for s in scans),
                           "has zeros": any(s[5] for s in scans)})
        return data

    # --------------------------------------------------------------- the sums
    def norm2(self):
        return self.cache["norm2"]

    def stored_entries(self):
        return self.cache["nonzeros"]

    def x_sum(self):
        return self.cache["sum"]

    def mean(self):
        return self.x_sum() / (self.shape[0] * self.shape[1])

    def has_zeros(self):
        return self.cache["has zeros"]

    # ----------------------------------------------------------------- factors
    def distribute(self, W):
        """A local m x k W as a :class:`BlockFactor` beside X's blocks."""
        return BlockFactor.scatter(self.client, np.asarray(W, dtype=self.dtype), self.bounds,
                                   self.workers)

    def _broadcast(self, a):
        return self.client.scatter(np.ascontiguousarray(a), broadcast=True, hash=False)

    def gram(self, F):
        """``F^T F``: of a local factor (Ht) on the client, of a BlockFactor on the workers
        (summed in a tree)."""
        if isinstance(F, BlockFactor):
            return tree_sum(self.client, self.client.map(_gram, F.futures, pure=False))[0]
        return F.T @ F

    def cross(self, Ht, W):
        """``<X Ht, W>`` (the Gram identity's cross term) for a BlockFactor W, float64."""
        Hf = self._broadcast(Ht)
        parts = [self.client.submit(_cross, Xb, Wb, Hf, pure=False)
                 for Xb, Wb in zip(self.blocks, W.futures)]
        return tree_sum(self.client, parts)[0]

    def x_times(self, Ht, out=None):
        """``X @ Ht`` gathered to the client (m x k: the initialization only)."""
        Hf = self._broadcast(Ht)
        parts = self.client.gather([self.client.submit(_x_times, Xb, Hf, pure=False)
                                    for Xb in self.blocks])
        result = np.concatenate(parts, axis=0).astype(Ht.dtype, copy=False)
        if out is not None:
            out[...] = result
            return out
        return result

    def xt_times(self, W):
        """``X^T W`` (n x k) for a local or block W, summed in a tree."""
        if not isinstance(W, BlockFactor):
            W = self.distribute(W)
        parts = [self.client.submit(_xt_times, Xb, Wb, pure=False)
                 for Xb, Wb in zip(self.blocks, W.futures)]
        return tree_sum(self.client, parts)[0].astype(self.dtype, copy=False)

    def fused_pass(self, Ht, HtH, W, l1, l2, perm, XtW, WtW, n_threads=None):
        """cd's sweep of the BlockFactor ``W`` (its blocks replaced by the new ones, on their
        workers), fused with ``X^T W`` and ``W^T W`` of the new W (into ``XtW``, ``WtW``);
        returns the violation.  Each worker runs the kernels on its blocks; only the n x k
        and k x k partials come back, summed in a tree."""
        client = self.client
        Hf, Gf = self._broadcast(Ht), self._broadcast(HtH)
        perm = np.asarray(perm, dtype=np.intp)
        nt = self.n_threads if n_threads is None else n_threads
        results = [client.submit(_fused_pass, Xb, Wb, Hf, Gf, l1, l2, perm, self.backend, nt,
                                 pure=False, workers=None if w is None else [w])
                   for Xb, Wb, w in zip(self.blocks, W.futures, self.workers)]
        W.futures = [client.submit(operator.getitem, r, 0, pure=False) for r in results]
        partials = [client.submit(operator.getitem, r, 1, pure=False) for r in results]
        del results
        xtw, wtw, violation = tree_sum(client, partials)
        XtW[...] = xtw
        WtW[...] = wtw
        return violation

    def reconstruction_error(self, W, Ht):
        """``||X - W H||_F`` for a BlockFactor W (per block, summed)."""
        Hf = self._broadcast(Ht)
        parts = [self.client.submit(_squared_residual, Xb, Wb, Hf, self.backend, pure=False)
                 for Xb, Wb in zip(self.blocks, W.futures)]
        return float(np.sqrt(tree_sum(self.client, parts)[0]))

    def init_view(self):
        return self
