"""A factor held as row blocks on a Dask cluster (:class:`BlockFactor`) and the tree sum of
per-block partial results (:func:`tree_sum`).

A :class:`BlockFactor` is W of a fit on a row-chunked Dask X: block b (rows
``bounds[b]:bounds[b + 1]``) is a ``distributed.Future`` of a C-contiguous ndarray on the
worker that holds block b of X.  Updating it makes new futures (a future's value never
changes); the old ones are released when nothing refers to them.
"""

from concurrent.futures import CancelledError

import numpy as np

from .._validation import squared_norm


def _add(a, b):
    """``a + b`` of two tuples of arrays and numbers, element by element."""
    return tuple(x + y for x, y in zip(a, b))


def _block_sum(block):
    return (float(block.sum(dtype=np.float64)),)


def _block_squared_norm(block):
    return (squared_norm(block),)


def map_blocks(client, fn, *args):
    """``[fn(*args_b) for every block b]`` as tasks, submitted in one message (each task's
    worker chosen by the scheduler: where its largest input, X's block, is).  Each of
    ``args`` is a list (one value per block) or one value for all blocks."""
    count = max((len(a) for a in args if isinstance(a, list)), default=0)
    columns = [a if isinstance(a, list) else [a] * count for a in args]
    return client.map(fn, *columns, pure=False) if count else []


def tree_sum(client, futures):
    """The element-wise sum of the tuples that ``futures`` hold, added pairwise in a tree on
    the workers (log2 of the count levels; each level's additions in block order, so the
    result does not depend on scheduling), gathered to the client."""
    level = list(futures)
    if not level:
        raise ValueError("tree_sum of no futures")
    while len(level) > 1:
        nxt = client.map(_add, level[0:len(level) - 1:2], level[1::2], pure=False)
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return client.gather(level[0])


class BlockFactor:
    """A factor of ``shape`` (m x k) and ``dtype`` as row blocks: ``futures[b]`` holds rows
    ``bounds[b]:bounds[b + 1]``."""

    def __init__(self, client, futures, bounds, k, dtype):
        self.client = client
        self.futures = list(futures)
        self.bounds = np.asarray(bounds, dtype=np.int64)
        self.shape = (int(self.bounds[-1]), int(k))
        self.dtype = np.dtype(dtype)
        #: for losing a worker (``fastnmf.distributed.data.DaskData``): copies of the blocks
        #: on other workers (None: not made yet), the passes since, how many blocks were
        #: rebuilt, and what rebuilds lost blocks (``recover(self)``)
        self.backup, self.log, self.recoveries, self.recover = None, [], 0, None
        self.backup_at = []  # the log's length when each block's copy was made

    @classmethod
    def scatter(cls, client, W, bounds, workers=None):
        """A local m x k array ``W`` cut at ``bounds`` and sent to the workers (block b to
        ``workers[b]``, the worker of X's block b, when given)."""
        W = np.asarray(W)
        futures = []
        for b in range(len(bounds) - 1):
            block = np.ascontiguousarray(W[bounds[b]:bounds[b + 1]])
            where = None if workers is None else [workers[b]]
            futures.append(client.scatter(block, workers=where, hash=False))
        return cls(client, futures, bounds, W.shape[1], W.dtype)

    @property
    def n_blocks(self):
        return len(self.futures)

    def gather(self):
        """The whole factor on the client (m x k: for tests and small fits)."""
        blocks = self.client.gather(self.futures)
        return np.concatenate(blocks, axis=0) if blocks else np.empty(self.shape, self.dtype)

    def to_dask(self):
        """A ``dask.array.Array`` of the blocks, chunked by rows like X."""
        import dask
        import dask.array as da

        parts = [da.from_delayed(dask.delayed(f), shape=(int(hi - lo), self.shape[1]),
                                 dtype=self.dtype)
                 for f, lo, hi in zip(self.futures, self.bounds[:-1], self.bounds[1:])]
        return da.concatenate(parts, axis=0)

    def reduce(self, fn, *args):
        """The element-wise sum of the tuples ``fn(block, *args)`` over the blocks, on the
        workers; blocks lost with a worker are rebuilt (``recover``) and it runs again."""
        for attempt in range(4):
            try:
                parts = map_blocks(self.client, fn, self.futures, *args)
                return tree_sum(self.client, parts)
            except CancelledError:
                if self.recover is None or attempt == 3:
                    raise
                self.recover(self)

    def sum(self, dtype=None):
        """The sum of the entries (float64), computed on the workers."""
        return self.reduce(_block_sum)[0]

    def squared_norm(self):
        """``||W||_F^2`` (float64), computed on the workers."""
        return self.reduce(_block_squared_norm)[0]

    def __mul__(self, factor):
        """The factor times the scalar ``factor`` (new blocks, on the same workers)."""
        other = BlockFactor(self.client, map_blocks(self.client, np.multiply, self.futures,
                                                    factor), self.bounds, self.shape[1],
                            self.dtype)
        other.recover = self.recover
        return other

    def copy(self):
        """The same blocks (futures are immutable: a copy shares them)."""
        other = BlockFactor(self.client, self.futures, self.bounds, self.shape[1], self.dtype)
        other.backup, other.log, other.recover = self.backup, list(self.log), self.recover
        other.backup_at = list(self.backup_at)
        return other

    def __repr__(self):
        return (f"<BlockFactor {self.shape[0]}x{self.shape[1]} {self.dtype.name} in "
                f"{self.n_blocks} blocks>")
