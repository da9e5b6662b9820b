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

import functools
import operator
import time
import warnings
from concurrent.futures import CancelledError

import numpy as np
import scipy.sparse as sp

from .._validation import dot64, squared_norm
from ..data.base import Data
from ..solvers.frobenius import data_loss
from .blocks import BlockFactor, map_blocks, tree_sum


#: A pass is tried again at most this many times after losing workers.
MAX_RECOVERIES = 3
#: W's blocks are copied to a second worker every this many passes (and at the start); a
#: lost block is rebuilt from its copy by replaying the passes since (their Ht, HtH and
#: options are kept on the client until the next copy: this many n x k arrays).
CHECKPOINT_EVERY = 10
#: Seconds to wait for W's copies to be made before choosing their workers again.
BACKUP_TIMEOUT = 60
#: Sending Ht (n x k) to the workers is tried this many times, waiting at most this many
#: seconds each time (a dead worker the scheduler still lists makes it wait).
BROADCAST_TRIES, BROADCAST_TIMEOUT = 4, 10


#: At most this many blocks of X per worker thread: consecutive row chunks beyond that are
#: merged (an iteration runs about four small tasks per block, at about a millisecond each
#: on the scheduler: measured, 2 processes on this machine, 7 ms per block per iteration).
BLOCKS_PER_THREAD = 4
#: Row chunks are merged only into blocks of at most 1/MEMORY_PER_BLOCK of the smallest
#: worker memory limit (dense bytes).
MEMORY_PER_BLOCK = 16


def merge_chunks(chunks, most):
    """Row chunk sizes with consecutive ``chunks`` merged into at most ``most`` groups of
    about equal rows (``chunks`` itself when there are not more)."""
    chunks = tuple(int(c) for c in chunks)
    if len(chunks) <= most:
        return chunks
    ends = np.cumsum(chunks)
    total = int(ends[-1])
    merged, start = [], 0
    for g in range(1, most + 1):
        # the last chunk ending at or before g/most of the rows (at least one chunk a group)
        goal = total * g // most
        stop = max(int(np.searchsorted(ends, goal, side="right")), start + 1)
        if g == most:
            stop = len(chunks)
        if stop > start:
            merged.append(int(sum(chunks[start:stop])))
            start = stop
        if start >= len(chunks):
            break
    return tuple(merged)


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
    nonzeros, has zeros, sparse, infinite)`` (``finite``: no NaN and no infinity; the sums
    are 0 when not finite)."""
    values = block.data if sp.issparse(block) else block
    finite = bool(np.isfinite(values).all())
    infinite = not finite and bool(np.isinf(values).any())
    negatives = int(np.count_nonzero(values < 0))  # (NaN compares False)
    total = float(values.sum(dtype=np.float64)) if finite else 0.0
    norm2 = squared_norm(values) if finite else 0.0
    nonzeros = int(np.count_nonzero(values))
    size = block.shape[0] * block.shape[1]
    return (finite, negatives, total, norm2, nonzeros, nonzeros < size, sp.issparse(block),
            infinite)


def _kernels(backend):
    from .._backends import get_backend

    return get_backend(backend)


def distributed_wait(futures, timeout):
    from distributed import wait

    wait(futures, timeout=timeout)


def _run_block(fn, X, W, backend, n_threads, *args):
    """A block's W half of an iteration: ``fn(X, W, kernels, n_threads, *args)`` on a private
    copy of ``W`` (updated in place), returning ``(W_new, partials)``."""
    W = np.array(W, copy=True, order="C")
    return W, fn(X, W, _kernels(backend), n_threads, *args)


def cd_block(X, W, kernels, n_threads, Ht, HtH, l1, l2, perm):
    """cd's sweep of a block of W fused with its products: ``(X^T W, W^T W, violation)``
    of the block (the in-memory forms' ``fused_pass`` on the block)."""
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
    return XtW, WtW, float(violation)


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


def _block_divergence(X, W, Ht, beta, floor, backend):
    """The block's part of ``D_beta(X | W H)`` (the parts add up: the in-memory formula
    on the block)."""
    from ..data import as_data

    return (as_data(X, _kernels(backend), 1).beta_terms(floor).divergence(W, Ht, beta),)


def _positive_sums(X, keys):
    """The block's sums over its positive entries that the loss needs (``sum x log x``,
    ``sum log x``, ``sum x ** beta``), by key (:class:`fastnmf.data.beta.BetaTerms`)."""
    from ..data import as_data

    terms = as_data(X, None, 1).beta_terms()
    for key in keys:
        if key == "x log x":
            terms.x_log_x
        elif key == "log":
            terms.x_log_sum
        else:
            terms.x_beta_sum(key[1])
    return dict(terms.data.cache["positive sums"])


class FactorSums:
    """What the penalty reads of a factor (``sum``, ``||.||^2``), summed elsewhere."""

    def __init__(self, total, norm2):
        self.total, self.norm2 = float(total), float(norm2)

    def sum(self, dtype=None):
        return self.total

    def squared_norm(self):
        return self.norm2


class DaskBetaTerms:
    """The beta-divergence's terms of a Dask X for the multiplicative updates
    (:class:`fastnmf.solvers.beta.MultiplicativeUpdates`): W's half of an iteration runs
    on the workers (:func:`fastnmf.solvers.beta.mu_block`, fused with the block's parts of
    H's numerator and denominator and of the divergence), H's half on the client."""

    def __init__(self, data, floor):
        self.data = data
        self.floor = floor

    def loss_in_pass(self, beta):
        """As :meth:`fastnmf.data.beta.BetaTerms.loss_in_pass`."""
        if beta == 1:
            return True
        return not self.data.sparse and (beta > 0 or not self.data.has_zeros())

    def _sums(self, beta):
        """Per block, a future of the positive sums the in-pass loss needs (computed once)."""
        key = "x log x" if beta == 1 else "log" if beta == 0 else ("power", beta)
        cache = self.data.cache.setdefault("block sums", {})
        if key not in cache:
            cache[key] = map_blocks(self.data.client, _positive_sums, self.data.blocks,
                                    (key,))
        return cache[key]

    def mu_pass(self, W, Ht, beta, penalty, exponent, want_loss):
        """W's multiplicative update on every block (W's blocks replaced), and the sums of
        H's numerator and denominator (KL: W's column sums) over the blocks, with the
        divergence at the (W, H) the pass started from when ``want_loss``, and the sums of
        that W the penalty reads (:class:`FactorSums`)."""
        from ..solvers.beta import mu_block

        sums = self._sums(beta) if want_loss and not self.data.sparse else None
        num, den, div, w_sum, w_norm2 = self.data.block_pass(
            mu_block, W, (Ht,), (beta, penalty.l1_W, penalty.l2_W, exponent, self.floor,
                                 bool(want_loss)), per_block=sums)
        return (num.astype(Ht.dtype, copy=False), den.astype(Ht.dtype, copy=False), div,
                FactorSums(w_sum, w_norm2))

    def w_terms(self, W, Ht, beta):
        """The form of X^T (X by columns, ``Ht`` in blocks): W's numerator and denominator
        (KL: H's row sums) at ``(W, H)``, summed over the blocks."""
        from ..solvers.beta import w_terms_block

        num, den = self.data.per_block(w_terms_block, Ht, W,
                                       extra=(beta, self.floor, self.data.backend))
        return num.astype(W.dtype, copy=False), den.astype(W.dtype, copy=False)

    def mu_pass_H(self, W, Ht, beta, penalty, exponent):
        """The form of X^T: H's multiplicative update on every block (``Ht``'s blocks
        replaced), with the sums of W's next numerator and denominator, the divergence at
        the new (W, H) and the sums of H the penalty reads
        (:func:`fastnmf.solvers.beta.mu_block_H`)."""
        from ..solvers.beta import mu_block_H

        sums = self._sums(beta) if not self.data.sparse else None
        num, den, div, h_sum, h_norm2 = self.data.block_pass(
            mu_block_H, Ht, (W,), (beta, penalty.l1_H, penalty.l2_H, exponent, self.floor),
            per_block=sums)
        return (num.astype(W.dtype, copy=False), den.astype(W.dtype, copy=False), div,
                FactorSums(h_sum, h_norm2))

    def divergence(self, W, Ht, beta):
        """``D_beta(X | W H)`` in float64, per block on the workers, summed."""
        return self.data.per_block(_block_divergence, W, Ht,
                                   extra=(beta, self.floor, self.data.backend))[0]


# ------------------------------------------------------------------- the data form
class DaskData(Data):
    """A row-chunked Dask X on ``client``'s cluster (see the module docstring).

    Built by :meth:`from_dask`, which validates X in one pass on the workers; ``backend``
    names the kernels the workers run (each worker imports fastnmf), ``n_threads`` their
    threads per task.
    """

    kind = "dask"
    can_fuse = True
    #: whether this is the form of X^T (a wide X chunked by columns: its column blocks are
    #: the row blocks of X^T, and H is the factor held in blocks; see :meth:`from_dask`)
    transposed = False

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
    def from_dask(cls, X, client, backend="cython", n_threads=1, name="X", missing="nan",
                  axis="rows"):
        """The form of the Dask array ``X``: its row blocks computed and kept on the
        workers (columns in one chunk: rechunked if not), checked finite and
        non-negative (ValueError naming ``name``), with ``||X||^2`` and its sums.  With
        unknown entries (NaN in a dense X; ``missing='unobserved'``: see
        :func:`fastnmf.data.missing.prepare`) the form of its known entries,
        :class:`~fastnmf.distributed.observed.DaskObserved`.

        A wide X (more columns than rows) chunked by columns is held by columns: the form is
        that of X^T (``transposed``), whose row blocks are X's column blocks, so that H is
        held in blocks beside them and only m x k terms move (a row-chunked wide X would send
        n x k to every worker every iteration)."""
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
        if axis == "rows" and X.numblocks[1] > 1 and X.shape[1] > X.shape[0]:
            data = cls.from_dask(X.T, client, backend, n_threads, name, missing, axis="columns")
            data.transposed = True
            return data
        dtype = np.float32 if np.dtype(X.dtype) == np.float32 else np.float64
        if X.numblocks[1] != 1:
            X = X.rechunk({1: -1})
        threads = sum(client.nthreads().values()) or 1
        merged = merge_chunks(X.chunks[0], BLOCKS_PER_THREAD * threads)
        # every block costs tasks each iteration; but a merged block must stay small next to a
        # worker's memory limit (a task holds it, a copy read back from the spill, the rechunk's
        # pieces), or a limit smaller than X, which spills, has the nanny kill the worker
        limits = [w.get("memory_limit") or 0
                  for w in client.scheduler_info()["workers"].values()]
        largest = max(merged) * X.shape[1] * np.dtype(X.dtype).itemsize
        if merged != tuple(X.chunks[0]) and (not all(limits)
                                             or largest <= min(limits) // MEMORY_PER_BLOCK):
            X = X.rechunk({0: merged})
        bounds = np.concatenate(([0], np.cumsum(X.chunks[0])))
        # each block made canonical in the task that computes it: one key per block to keep
        # (and to spill), recomputed from X's graph if a worker is lost
        canonical = X.map_blocks(functools.partial(_canonical, dtype=dtype), dtype=dtype,
                                 meta=np.empty((0, 0), dtype=dtype))
        blocks = client.compute(list(canonical.to_delayed().ravel()))
        scans = client.gather(client.map(_scan, blocks, pure=False))
        sparse = bool(scans[0][6])
        bad = [b for b, s in enumerate(scans) if s[7] or (not s[0] and sparse
                                                          and missing != "unobserved")]
        if bad:
            lo, hi = bounds[bad[0]], bounds[bad[0] + 1]
            what = ("infinite entries" if scans[bad[0]][7] else "stored NaN (the unknown "
                    "entries of a sparse X are its absent ones, with missing='unobserved')")
            raise ValueError(f"{name} must not contain infinities or stored NaN; {axis} "
                             f"{lo}:{hi} have {what}")
        neg = [b for b, s in enumerate(scans) if s[1]]
        if neg:
            lo, hi = bounds[neg[0]], bounds[neg[0] + 1]
            raise ValueError(f"Negative values in data passed to {name}: {axis} {lo}:{hi}")
        who = client.who_has(blocks)
        workers = [sorted(who[f.key])[0] if who.get(f.key) else None for f in blocks]
        data = cls(client, blocks, bounds, X.shape, dtype, sparse, backend, n_threads, workers)
        if missing == "unobserved" or not all(s[0] for s in scans):
            if axis == "columns":
                raise ValueError(
                    f"unknown entries of a wide {name} chunked by columns are not supported "
                    f"on the cluster; chunk {name} by rows ({name}.rechunk({{0: 'auto', 1: "
                    "-1}})) to fit its known entries")
            from .observed import DaskObserved

            return DaskObserved.from_data(data, missing, name)
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
        """A local m x k W as a :class:`BlockFactor` beside X's blocks (rebuilt by
        :meth:`recover` when a worker holding some of it is lost)."""
        if isinstance(W, BlockFactor):  # made on the workers (the start)
            return W
        F = BlockFactor.scatter(self.client, np.asarray(W, dtype=self.dtype), self.bounds,
                                self.workers)
        F.recover = self.recover
        return F

    def per_block(self, fn, W, *shared, extra=()):
        """The element-wise sum of the tuples ``fn(X_b, W_b, *shared, *extra)`` over the
        blocks (``shared``: arrays sent once to every worker), on the workers, added in a
        tree; W's lost blocks are rebuilt and it runs again."""
        for attempt in range(MAX_RECOVERIES + 1):
            try:
                sent = self._broadcast(*shared)
                parts = map_blocks(self.client, fn, self.blocks, W.futures, *sent, *extra)
                return tree_sum(self.client, parts)
            except CancelledError:
                if attempt == MAX_RECOVERIES:
                    raise
                self.recover(W)

    def _broadcast(self, *arrays):
        """``arrays`` (Ht, HtH: small) sent, in one message, to one worker, from which the
        workers that need them copy them (each once).  Not distributed's
        ``broadcast=True``: its replication waits for ever on a worker that has just died.
        A scatter that meets a dead worker the scheduler still lists is tried again after a
        pause (by then the scheduler knows)."""
        arrays = [np.ascontiguousarray(a) for a in arrays]
        if not arrays:
            return []
        for attempt in range(BROADCAST_TRIES):
            try:
                return self.client.scatter(arrays, hash=False, timeout=BROADCAST_TIMEOUT)
            except (OSError, TimeoutError):  # distributed's CommClosedError, TimeoutError
                if attempt == BROADCAST_TRIES - 1:
                    raise
                time.sleep(1.0)

    def gram(self, F):
        """``F^T F``: of a local factor (Ht) on the client, of a BlockFactor on the workers
        (summed in a tree)."""
        if isinstance(F, BlockFactor):
            return F.reduce(_gram)[0]
        return F.T @ F

    def cross(self, Ht, W):
        """``<X Ht, W>`` (the Gram identity's cross term) for a BlockFactor W, float64."""
        return self.per_block(_cross, W, Ht)[0]

    def x_times(self, Ht, out=None):
        """``X @ Ht`` gathered to the client (m x k: the initialization only)."""
        Hf, = self._broadcast(Ht)
        parts = self.client.gather(map_blocks(self.client, _x_times, self.blocks, Hf))
        result = np.concatenate(parts, axis=0).astype(Ht.dtype, copy=False)
        if out is not None:
            out[...] = result
            return out
        return result

    def xt_times(self, W):
        """``X^T W`` (n x k) for a local or block W, summed in a tree."""
        if not isinstance(W, BlockFactor):
            W = self.distribute(W)
        return self.per_block(_xt_times, W)[0].astype(self.dtype, copy=False)

    def _submit(self, fn, b, *args, **kwargs):
        """A task on block b's worker when it is known (a preference: another worker takes
        it when that one is gone)."""
        w = self.workers[b] if b < len(self.workers) else None
        if w is None:
            return self.client.submit(fn, *args, pure=False, **kwargs)
        return self.client.submit(fn, *args, pure=False, workers=[w], allow_other_workers=True,
                                  **kwargs)

    def block_pass(self, fn, W, shared=(), options=(), per_block=None, n_threads=None):
        """W's half of an iteration, on the workers: for every block b,
        ``fn(X_b, W_b, kernels, n_threads, *shared, *options[, per_block[b]])`` on the worker
        of X's block b, with ``W_b`` a private copy it updates in place; W's blocks are
        replaced by the updated ones.  ``shared``: arrays sent once to every worker (Ht,
        HtH); ``options``: small values; ``per_block``: one more argument per block (a
        future).  Returns the element-wise sum of the tuples ``fn`` returns (n x k and
        k x k terms, numbers), added in a tree.

        A worker lost during the pass does not lose the fit: the blocks of W it held are
        rebuilt (:meth:`recover`) and the pass runs again, with the same result."""
        nt = self.n_threads if n_threads is None else int(n_threads)
        shared = tuple(np.array(a, copy=True, order="C") for a in shared)  # kept for replays
        if W.backup is None:
            self.checkpoint(W)
        entry = (fn, shared, tuple(options), per_block, nt)
        for attempt in range(MAX_RECOVERIES + 1):
            before = list(W.futures)
            try:
                total = self._pass(W, entry)
                break
            except CancelledError as exc:  # a worker died with data nothing can recompute
                W.futures = before
                if attempt == MAX_RECOVERIES:
                    raise RuntimeError(f"the fit lost workers {MAX_RECOVERIES + 1} times in one "
                                       "iteration; giving up") from exc
                self.recover(W)
        W.log.append(entry)
        if len(W.log) >= CHECKPOINT_EVERY:
            self.checkpoint(W)
        elif W.backup:
            self.keep_apart(W)
        return total

    def _pass(self, W, entry):
        fn, shared, options, per_block, nt = entry
        client = self.client
        sent = self._broadcast(*shared)
        extra = () if per_block is None else (list(per_block),)
        results = map_blocks(client, _run_block, fn, self.blocks, W.futures, self.backend, nt,
                             *sent, *options, *extra)
        new = map_blocks(client, operator.getitem, results, 0)
        partials = map_blocks(client, operator.getitem, results, 1)
        del results
        total = tree_sum(client, partials)
        W.futures = new
        return total

    # ---------------------------------------------------------- losing a worker
    def checkpoint(self, W):
        """Copy every block of W to a worker other than the one holding it (its backup), and
        start a new log of the passes since.  With one worker there is nowhere else: no
        backup, and a lost worker ends the fit."""
        W.log = []
        W.backup, W.backup_at = [None] * W.n_blocks, [0] * W.n_blocks
        if not self._back_up(W, range(W.n_blocks)):
            W.backup = []

    def keep_apart(self, W):
        """After a pass: a block of W the scheduler ran on the worker holding its backup
        (work stealing moves tasks), or whose backup was lost with a worker, is backed up
        again elsewhere, from this pass on."""
        distributed_wait(W.futures, BACKUP_TIMEOUT)
        lost = [b for b, c in enumerate(W.backup) if c.status != "finished"]
        kept = [b for b in range(W.n_blocks) if b not in lost]
        who = self.client.who_has([W.futures[b] for b in kept] + [W.backup[b] for b in kept])
        together = [b for b in kept if set(who.get(W.futures[b].key, ()))
                    & set(who.get(W.backup[b].key, ()))]
        if lost or together:
            self._back_up(W, sorted(lost + together))

    def _back_up(self, W, which):
        """Copy blocks ``which`` of W, each strictly to a worker that does not hold it (a
        loose restriction would let the scheduler run the copy where the block is, and one
        loss would take both); False when there is no other worker."""
        client = self.client
        for attempt in range(3):
            workers = sorted(client.scheduler_info()["workers"])
            if len(workers) < 2:
                return False
            distributed_wait(W.futures, BACKUP_TIMEOUT)  # where each block is, once it is
            holders = client.who_has([W.futures[b] for b in which])
            made = {}
            for b in which:
                here = sorted(holders.get(W.futures[b].key, ()))
                others = [w for w in workers if w not in here] or workers
                # copied where the block is first, and that copy sent: the block itself never
                # gets a replica on the other worker, where distributed's active memory
                # manager could keep it and drop the original (then one loss takes both)
                local = client.submit(np.copy, W.futures[b], workers=here or None,
                                      allow_other_workers=not here, pure=False)
                made[b] = client.submit(np.copy, local, workers=[others[b % len(others)]],
                                        allow_other_workers=False, pure=False)
                del local
            try:  # made before the passes they stand for go on
                distributed_wait(list(made.values()), BACKUP_TIMEOUT)
            except TimeoutError:  # a worker chosen has just died: choose again
                continue
            for b, f in made.items():
                W.backup[b], W.backup_at[b] = f, len(W.log)
            return True
        raise RuntimeError("could not copy W's blocks to other workers (workers lost?)")

    def recover(self, W):
        """Rebuild the blocks of W lost with a worker: each from its backup, replaying the
        passes logged since on X's block (which Dask recomputes from X's graph); the others
        are kept.  The replayed passes are the ones that ran, with the same inputs, so W is
        the one the fit had."""
        client = self.client
        lost = [b for b, f in enumerate(W.futures) if f.status != "finished"]
        if not lost:
            return
        name = "H" if self.transposed else "W"  # (the form of X^T holds H in blocks)
        if not W.backup or any(W.backup[b].status != "finished" for b in lost):
            raise RuntimeError(f"blocks {lost} of {name} were lost with a worker, and their "
                               "copies too (a fit survives the loss of one worker at a time, "
                               "with at least two workers)")
        who = client.who_has(self.blocks)
        self.workers = [sorted(who[f.key])[0] if who.get(f.key) else None
                        for f in self.blocks]
        futures = list(W.futures)
        for b in lost:
            Wb = W.backup[b]
            for fn, shared, options, per_block, nt in W.log[W.backup_at[b]:]:
                sent = [client.scatter(a, hash=False) for a in shared]
                extra = () if per_block is None else (per_block[b],)
                r = self._submit(_run_block, b, fn, self.blocks[b], Wb, self.backend, nt,
                                 *sent, *options, *extra)
                Wb = client.submit(operator.getitem, r, 0, pure=False)
            futures[b] = Wb
        W.futures = futures
        W.recoveries += len(lost)
        replayed = len(W.log) - min(W.backup_at[b] for b in lost)
        warnings.warn(f"a worker was lost during the fit: blocks {lost} of {name} rebuilt from "
                      f"their copies by replaying the {replayed} passes since", RuntimeWarning)

    def fused_pass(self, Ht, HtH, W, l1, l2, perm, XtW, WtW, n_threads=None):
        """cd's sweep of the BlockFactor ``W`` (:func:`cd_block` on every block), fused with
        ``X^T W`` and ``W^T W`` of the new W (into ``XtW``, ``WtW``); returns the violation.
        Only the n x k and k x k partials come back, summed in a tree."""
        perm = np.asarray(perm, dtype=np.intp)
        xtw, wtw, violation = self.block_pass(cd_block, W, (Ht, HtH), (l1, l2, perm),
                                              n_threads=n_threads)
        XtW[...] = xtw
        WtW[...] = wtw
        return violation

    def reconstruction_error(self, W, Ht):
        """``||X - W H||_F`` for a BlockFactor W (per block, summed)."""
        return float(np.sqrt(self.per_block(_squared_residual, W, Ht,
                                            extra=(self.backend,))[0]))

    def beta_terms(self, floor=None):
        """The beta-divergence's terms on the workers (:class:`DaskBetaTerms`), W H clamped
        at ``floor`` where it divides (scikit-learn's EPS by default)."""
        from ..data.beta import EPS

        return DaskBetaTerms(self, EPS if floor is None else floor)

    def init_view(self):
        return self
