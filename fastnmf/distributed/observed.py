"""A row-chunked Dask X with unknown entries: the known entries of each block on its worker.

The form :class:`DaskObserved` is to :class:`fastnmf.data.missing.Observed` what
:class:`~fastnmf.distributed.data.DaskData` is to an in-memory X: block b of X (NaN entries
unknown; with ``missing='unobserved'`` also a dense block's zeros, and a sparse block's
absent entries) becomes, on its worker, the in-memory ``Observed`` of those rows (their known
entries as CSR, by rows and by columns), and the fit is the in-memory one's rule,
:class:`fastnmf.solvers.masked.MaskedMU`, whose W half runs per block
(:func:`fastnmf.solvers.masked.masked_mu_block`) and whose H half runs on the client from
the tree-summed n x k numerator and denominator.

What only the whole of X knows is summed once from the blocks: each column's observed
count (n numbers), the histogram of the rows' counts (at most n + 1 numbers: how many rows
have c known entries), the number and sum of the known values.  From them come the penalty
of every row (:class:`fastnmf.solvers.penalty.CountPenalty`, its weight a function of the
row's count: :func:`fastnmf.solvers.penalty.count_groups`), ``alpha='auto'``, the
initialization's stand-in and its scale.  Nothing m-long comes to the client.
"""

import numpy as np
import scipy.sparse as sp

from ..data.missing import check_empty, from_dense, from_sparse, wh_at
from ..solvers.penalty import (
    CountPenalty,
    Groups,
    auto_alpha_of,
    count_groups,
    weighted_penalty,
)
from .blocks import map_blocks, tree_sum
from .data import DaskData


# ------------------------------------------------------------ tasks (run on the workers)
def _observe(block, missing):
    """The in-memory :class:`~fastnmf.data.missing.Observed` of a canonical block."""
    return from_sparse(block) if sp.issparse(block) else from_dense(block, None, missing)


def _sums(obs):
    """What the whole X's statistics add up from a block: ``(column counts, histogram of
    the row counts, sum of the known values, known entries)``."""
    rows = np.diff(obs.X.indptr)
    n = obs.shape[1]
    return (np.diff(obs.XT.indptr).astype(np.int64),
            np.bincount(rows, minlength=n + 1).astype(np.int64),
            float(obs.X.data.sum(dtype=np.float64)), int(obs.nnz))


def _empty_rows(obs):
    """The rows (in the block) with no known entry."""
    return np.flatnonzero(np.diff(obs.X.indptr) == 0)


def _stand_in(obs, scale):
    """The block's part of the initialization's stand-in for X (the in-memory
    ``Observed.init_view``: the known values times ``m n / known``), CSR."""
    est = obs.X.copy()
    est.data *= est.dtype.type(scale)
    return est


def _stand_in_scan(block):
    return float(block.data.sum(dtype=np.float64)), float(np.dot(block.data, block.data))


def _row_weights(obs, table):
    """The penalty weight of each row of the block: ``table[its known entries]``."""
    return table[np.diff(obs.X.indptr)]


def _start_terms(obs, W, Ht, beta):
    """The block's parts of the start's scale (:func:`fastnmf.data.missing.scaled_starts`):
    ``(<x, wh>, <wh, wh>)`` (Frobenius) or ``(sum x, sum wh)``, over its known entries."""
    wh = wh_at(W, Ht, obs.rows, obs.X.indices)
    x = obs.X.data
    if beta == 2:
        return float(np.dot(x, wh)), float(np.dot(wh, wh))
    return float(x.sum(dtype=np.float64)), float(wh.sum())


def _masked_loss(obs, W, Ht, beta, a1, a2, backend, weights=None):
    """The block's loss over its known entries at ``(W, Ht)`` (the in-memory rule's, from
    the block's ``mu_terms``) and the penalty of its rows of W."""
    from .data import _kernels

    _, _, loss = obs.bind(_kernels(backend), 1).mu_terms(0, W, Ht, beta)
    return loss, (0.0 if weights is None else weighted_penalty(W, weights, a1, a2))


# ------------------------------------------------------------------- the data form
class RowWeights:
    """The penalty weights of W's rows, one future per block of rows (an m-long vector is
    never formed on the client); ``table[c]`` is the weight of a row with c known
    entries."""

    def __init__(self, futures, table):
        self.futures, self.table = list(futures), table


class DaskObserved(DaskData):
    """The known entries of a row-chunked Dask X, block by block on the workers (see the
    module docstring).  Built by :meth:`from_data` from the :class:`DaskData` of X's raw
    blocks; ``blocks`` are futures of in-memory :class:`~fastnmf.data.missing.Observed`.
    Its protocol is 'observed': the complete-X products it inherits (``x_times``,
    ``fused_pass``...) do not apply to it, and no rule of that protocol calls them."""

    kind = protocol = "observed"
    can_fuse = False

    @classmethod
    def from_data(cls, data, missing, name="X", columns=True):
        """The known entries of ``data``'s blocks (NaN unknown; ``missing='unobserved'``:
        a dense block's zeros too, a sparse block's absent entries), checked as an
        in-memory X's are (ValueError naming ``name`` for a row, or with ``columns`` a
        column, with no known entry)."""
        client = data.client
        blocks = client.map(_observe, data.blocks, missing=missing, pure=False)
        col_counts, histogram, total, nnz = tree_sum(client, map_blocks(client, _sums, blocks))
        if nnz == 0:
            raise ValueError(f"{name} has no observed entry: every entry is missing")
        if histogram[0]:
            empty = client.gather(map_blocks(client, _empty_rows, blocks))
            rows = np.concatenate([e + lo for e, lo in zip(empty, data.bounds[:-1])])
            check_empty(rows, "row", name)
        if columns and not col_counts.all():
            check_empty(np.flatnonzero(col_counts == 0), "column", name)
        form = cls(client, blocks, data.bounds, data.shape, data.dtype, data.sparse,
                   data.backend, data.n_threads, data.workers)
        form.col_counts, form.histogram = col_counts, histogram
        form.nnz, form.observed_sum = int(nnz), float(total)
        return form

    @property
    def n_missing(self):
        return self.shape[0] * self.shape[1] - self.nnz

    def bind(self, kernels, n_threads):
        return self  # the workers' tasks run the backend's kernels on one thread each

    # ----------------------------------------------------------- the start
    def init_view(self):
        """The initialization's stand-in for X (the in-memory
        :meth:`~fastnmf.data.missing.Observed.init_view`, block by block: the known values
        scaled by ``m n / known``), a sparse :class:`DaskData` on the same workers."""
        m, n = self.shape
        scale = (m * n) / max(self.nnz, 1)
        client = self.client
        blocks = client.map(_stand_in, self.blocks, scale=scale, pure=False)
        total, norm2 = tree_sum(client, map_blocks(client, _stand_in_scan, blocks))
        view = DaskData(client, blocks, self.bounds, self.shape, self.dtype, True,
                        self.backend, self.n_threads, self.workers)
        view.cache.update({"sum": total, "norm2": norm2, "nonzeros": self.nnz,
                           "has zeros": True})
        return view

    def start_scale(self, W, Ht, beta):
        """The scale ``s`` of a start's ``W H`` at the known entries, as in-memory
        (:func:`fastnmf.data.missing.scaled_starts`), from the blocks."""
        a, b = self.per_block(_start_terms, self.distribute(W), Ht, extra=(beta,))
        return a / b if b > 0 else 1.0

    # ----------------------------------------------------------- the penalty
    def count_penalty(self, p, k=None):
        """The :class:`~fastnmf.solvers.penalty.CountPenalty` of a rank-``k`` fit, as the
        in-memory :func:`~fastnmf.solvers.penalty.count_penalty` makes it for 'mu', with W's
        row weights held per block (:class:`RowWeights`)."""
        alpha_W, alpha_H, l1_ratio = p["alpha_W"], p["alpha_H"], p["l1_ratio"]
        if p.get("alpha_W_auto") or p.get("alpha_H_auto"):
            fewest = min(int(np.flatnonzero(self.histogram)[0]), int(self.col_counts.min()))
            auto = auto_alpha_of(self.observed_sum / self.nnz, fewest, k, self.n_missing)
            alpha_W = auto if p.get("alpha_W_auto") else alpha_W
            alpha_H = auto if p.get("alpha_H_auto") else alpha_H
        rows = self._row_weights() if alpha_W > 0 else None
        cols = Groups(self.col_counts, None, parts=False) if alpha_H > 0 else None
        return CountPenalty(alpha_W * l1_ratio, alpha_W * (1.0 - l1_ratio),
                            alpha_H * l1_ratio, alpha_H * (1.0 - l1_ratio), rows, cols)

    def _row_weights(self):
        values = np.flatnonzero(self.histogram)
        group, weight = count_groups(values, self.histogram[values])
        table = np.zeros(len(self.histogram))
        table[values] = weight[group]
        # a task holding the table, not a scatter: the weights of a block lost with a worker
        # are recomputed from it (scattered data lost with its worker cannot be)
        held = self.client.submit(np.array, table, pure=False)
        return RowWeights(map_blocks(self.client, _row_weights, self.blocks, held), table)

    # ---------------------------------------------------------- the passes
    def mu_pass(self, W, Ht, beta, penalty, want_loss):
        """W's multiplicative update on every block (W's blocks replaced) and the sums of
        H's numerator and denominator over the blocks; with ``want_loss``, the loss over
        the known entries at the (W, H) the pass started from, and the penalty of that W
        (:func:`fastnmf.solvers.masked.masked_mu_block`)."""
        from ..solvers.masked import masked_mu_block

        rows = penalty.rows
        num, den, loss, pen_W = self.block_pass(
            masked_mu_block, W, (Ht,), (beta, penalty.a1_W, penalty.a2_W, bool(want_loss)),
            per_block=None if rows is None else rows.futures)
        return num.astype(Ht.dtype, copy=False), den.astype(Ht.dtype, copy=False), loss, pen_W

    def loss(self, W, Ht, beta, penalty):
        """``(loss over the known entries, penalty of W)`` at ``(W, Ht)``, per block."""
        rows = penalty.rows
        extra = (beta, penalty.a1_W, penalty.a2_W, self.backend)
        if rows is not None:
            extra += (rows.futures,)
        return self.per_block(_masked_loss, W, Ht, extra=extra)
