"""The minibatches of an online fit: rows of X, in order, one epoch after another.

X is what :func:`fastnmf.data.missing.prepare` made of the user's input: a NumPy array or a
canonical CSR matrix in memory, or a :class:`~fastnmf.data.chunked.ChunkedData` (a memmap, an
HDF5 or zarr array, CSR arrays on disk, row blocks) read a chunk at a time.  Either way an
epoch is the same sequence of batches, rows ``0:b``, ``b:2b``, ... (scikit-learn's
``gen_batches``): a chunked X is read in chunks of a whole number of batches, each chunk cut
into its batches, so one chunk is in memory at a time.  Row blocks
(:class:`~fastnmf.data.chunked.RowBlocks`) are cut block by block (a block's last batch may
be short).
"""

import numpy as np
import scipy.sparse as sp

from ..data.chunked import ChunkedData, RowBlocks


#: Entries of an F-ordered X copied to C order at once (32 MB in float64).
PIECE_ENTRIES = 1 << 22


def _gen_batches(n, size):
    """``slice(0, size), slice(size, 2 size), ...`` covering ``range(n)`` (the last one may
    be short)."""
    for lo in range(0, n, size):
        yield lo, min(n, lo + size)


def _contiguous(block):
    """A batch as the kernels take it: C-contiguous rows, or a CSR matrix as it is."""
    if sp.issparse(block) or block.flags.c_contiguous:
        return block
    return np.ascontiguousarray(block)


class Batches:
    """The batches of X for a batch size (at most the number of rows)."""

    def __init__(self, X, batch_size):
        self.X = X
        self.shape = tuple(X.shape)
        self.batch_size = min(int(batch_size), self.shape[0])
        self.chunked = isinstance(X, ChunkedData)
        if self.chunked and not isinstance(X.source, RowBlocks):
            # chunks of a whole number of batches: the batches of the in-memory X
            b = self.batch_size
            X.chunk_rows = max(b, X.chunk_rows // b * b)

    @property
    def steps_per_epoch(self):
        """Batches in one pass over X."""
        if self.chunked and isinstance(self.X.source, RowBlocks):
            b = self.batch_size
            bounds = self.X.source._bounds
            return sum(-(-(hi - lo) // b) for lo, hi in zip(bounds[:-1], bounds[1:]))
        return -(-self.shape[0] // self.batch_size)

    def epoch(self):
        """``(rows, X_b)`` of every batch of one pass over X, in order: ``rows`` a slice of
        the rows of X, ``X_b`` the batch (C-contiguous ndarray or canonical CSR, X's dtype)."""
        b = self.batch_size
        if not self.chunked:
            for lo, hi in _gen_batches(self.shape[0], b):
                yield slice(lo, hi), _contiguous(self.X[lo:hi])
            return
        for lo, hi, block in self.X.chunks():
            for a, z in _gen_batches(hi - lo, b):
                yield slice(lo + a, lo + z), _contiguous(block[a:z])

    def all_rows(self):
        """``(rows, X_c)`` of X in pieces of at most a chunk (all of X at once in memory)."""
        if not self.chunked:
            X = self.X
            if sp.issparse(X) or X.flags.c_contiguous:
                yield slice(0, self.shape[0]), X
                return
            # an F-ordered X in C-ordered pieces of at most PIECE_ENTRIES (no copy of X)
            step = max(1, PIECE_ENTRIES // max(1, self.shape[1]))
            for lo, hi in _gen_batches(self.shape[0], step):
                yield slice(lo, hi), np.ascontiguousarray(X[lo:hi])
            return
        for lo, hi, block in self.X.chunks():
            yield slice(lo, hi), block
