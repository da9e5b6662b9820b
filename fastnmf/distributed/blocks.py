"""A factor held as row blocks on a Dask cluster (:class:`BlockFactor`) and the tree sum of
per-block partial results (:func:`tree_sum`).

A :class:`BlockFactor` is W of a fit on a row-chunked Dask X: block b (rows
``bounds[b]:bounds[b + 1]``) is a ``distributed.Future`` of a C-contiguous ndarray on the
worker that holds block b of X.  Updating it makes new futures (a future's value never
changes); the old ones are released when nothing refers to them.
"""

import numpy as np


def _add(a, b):
    """``a + b`` of two tuples of arrays and numbers, element by element."""
    return tuple(x + y for x, y in zip(a, b))


def tree_sum(client, futures):
    """The element-wise sum of the tuples that ``futures`` hold, added pairwise in a tree on
    the workers (log2 of the count levels; each level's additions in block order, so the
    result does not depend on scheduling), gathered to the client."""
    level = list(futures)
    if not level:
        raise ValueError("tree_sum of no futures")
    while len(level) > 1:
        nxt = [client.submit(_add, level[i], level[i + 1], pure=False)
               for i in range(0, len(level) - 1, 2)]
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

    def sum(self, dtype=None):
        """The sum of the entries (float64), computed on the workers."""
        parts = self.client.map(lambda b: (float(b.sum(dtype=np.float64)),), self.futures,
                                pure=False)
        return tree_sum(self.client, parts)[0]

    def squared_norm(self):
        """``||W||_F^2`` (float64), computed on the workers."""
        from .._validation import squared_norm

        parts = self.client.map(lambda b: (squared_norm(b),), self.futures, pure=False)
        return tree_sum(self.client, parts)[0]

    def copy(self):
        """The same blocks (futures are immutable: a copy shares them)."""
        return BlockFactor(self.client, self.futures, self.bounds, self.shape[1], self.dtype)

    def __repr__(self):
        return (f"<BlockFactor {self.shape[0]}x{self.shape[1]} {self.dtype.name} in "
                f"{self.n_blocks} blocks>")
