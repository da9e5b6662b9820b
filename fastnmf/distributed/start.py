"""The NNDSVD start of a fit on a Dask X, with W's blocks made on the workers.

The in-memory start (:func:`fastnmf._init.initialize`) takes a randomized SVD of X and
builds W from U (m x k) and H from V.  Here X is tall and row-chunked, and nothing m x k
comes to the client:

* the sketch's power iterations multiply by ``X^T X`` (``sum_b X_b^T (X_b Q)``: n x l,
  tree-summed), normalized by an LU on the client as in-memory (on the short side only);
* ``Y = X Q`` stays in row blocks, and its QR is a TSQR: each block's QR on its worker, the
  stacked l x l R factors' QR on the client, each block's Q times its part of that;
* ``B = Q^T X`` (l x n) is tree-summed, its SVD taken on the client, ``U = Q Uhat`` formed
  per block, and the signs fixed as scikit-learn's ``svd_flip`` does (the largest entry of
  each column of U positive: each block reports its largest, the client picks);
* NNDSVD's per-column choices need only the norms of each column's positive and negative
  parts (:func:`fastnmf._init.split_norms`, summed over blocks): H and the column scales come
  from :func:`fastnmf._init.nndsvd_H`, W's blocks from :func:`fastnmf._init.nndsvd_W` on
  their workers.

The random sketch is the one the in-memory start draws from ``random_state``, so the start
is the same to rounding.  The sketch's products run in float64 whatever X's dtype (a block
of float32 X is converted a slice of rows at a time), which is what lets the power
iterations be normalized on the short side only.  What moves: n x l and l x l arrays per
block and per product; the client holds O(n l).
"""

import operator

import numpy as np
import scipy.sparse as sp
from scipy import linalg
from sklearn.utils import check_random_state

from .._init import nndsvd_H, nndsvd_W, split_norms
from .blocks import BlockFactor, map_blocks, tree_sum

#: Rows of a float32 block converted to float64 at once: about this many entries.
PIECE_ENTRIES = 1 << 22


def _times(X, Q):
    """``X @ Q`` in float64 (a float32 dense block a slice of rows at a time)."""
    if sp.issparse(X) or X.dtype == np.float64:
        return np.ascontiguousarray(X @ Q)
    out = np.empty((X.shape[0], Q.shape[1]))
    step = max(1, PIECE_ENTRIES // max(1, X.shape[1]))
    for lo in range(0, X.shape[0], step):
        out[lo:lo + step] = X[lo:lo + step].astype(np.float64) @ Q
    return out


def _t_times(X, F):
    """``X^T @ F`` in float64, F float64 with X's rows."""
    if sp.issparse(X) or X.dtype == np.float64:
        return np.ascontiguousarray(X.T @ F)
    out = np.zeros((X.shape[1], F.shape[1]))
    step = max(1, PIECE_ENTRIES // max(1, X.shape[1]))
    for lo in range(0, X.shape[0], step):
        out += X[lo:lo + step].astype(np.float64).T @ F[lo:lo + step]
    return out


def _gram_times(X, Q):
    return (_t_times(X, _times(X, Q)),)


def _block_qr(X, Q):
    """``X_b Q``'s QR: ``(Q_b, R_b)``."""
    return tuple(linalg.qr(_times(X, Q), mode="economic", check_finite=False))


def _finish_q(QR, Z):
    return QR[0] @ Z


def _t_times_task(X, F):
    return (_t_times(X, F),)


def _column_peaks(Q, Uhat):
    """Per column of ``U = Q Uhat``, the entry of largest magnitude (the first on ties)."""
    U = Q @ Uhat
    at = np.argmax(np.abs(U), axis=0)
    return U[at, np.arange(U.shape[1])]


def _norms(U, k):
    return (split_norms(U[:, :k]),)


def _signed(U, Uhat, signs):
    return (U @ Uhat) * signs


def _w_block(U, scales, eps, fill, dtype):
    return np.ascontiguousarray(nndsvd_W(U[:, :len(scales)], scales, eps, fill), dtype=dtype)


def randomized_svd(data, k, random_state, n_oversamples=10):
    """The in-memory start's randomized SVD (:func:`fastnmf._init.randomized_svd`, the
    case ``m >= n``) of the Dask X ``data``: ``(U, s, Vt)``, U a
    :class:`~fastnmf.distributed.blocks.BlockFactor` of X's blocks with l = k + 10 columns
    (the first k are the result: svd_flip decides the signs on all l), s and Vt (k x n) on
    the client, float64."""
    client = data.client
    m, n = data.shape
    rng = check_random_state(random_state)
    width = k + n_oversamples
    n_iter = 7 if k < 0.1 * min(m, n) else 4
    Q = rng.normal(size=(n, width))  # the in-memory start's sketch
    for _ in range(n_iter):
        parts = map_blocks(client, _gram_times, data.blocks, Q)
        Q = linalg.lu(np.asfortranarray(tree_sum(client, parts)[0]), permute_l=True,
                      check_finite=False)[0]
    # TSQR of Y = X Q: each block's QR, then the QR of the stacked R factors
    qrs = map_blocks(client, _block_qr, data.blocks, Q)
    Rs = client.gather(map_blocks(client, operator.getitem, qrs, 1))
    Z, _ = linalg.qr(np.concatenate(Rs, axis=0), mode="economic", check_finite=False)
    rows = np.concatenate(([0], np.cumsum([r.shape[0] for r in Rs])))
    Qb = map_blocks(client, _finish_q, qrs, [Z[rows[b]:rows[b + 1]] for b in range(len(qrs))])
    del qrs
    Bt = tree_sum(client, map_blocks(client, _t_times_task, data.blocks, Qb))[0]
    Uhat, s, Vt = linalg.svd(Bt.T, full_matrices=False, lapack_driver="gesdd")
    # svd_flip on U = Q Uhat: each column's largest entry made positive
    peaks = client.gather(map_blocks(client, _column_peaks, Qb, Uhat))
    peaks = np.stack(peaks)
    best = np.argmax(np.abs(peaks), axis=0)  # the first block on ties, as argmax over rows
    width = peaks.shape[1]  # below k + 10 when X has fewer columns (the LU cuts the sketch)
    signs = np.sign(peaks[best, np.arange(width)])
    signs[signs == 0] = 1.0
    U = map_blocks(client, _signed, Qb, Uhat, signs)
    Vt = Vt * signs[:, None]
    return (BlockFactor(client, U, data.bounds, width, np.float64), s[:k], Vt[:k])


def nndsvd(data, k, init, random_state, eps=1e-6):
    """NNDSVD (``init`` 'nndsvd' or 'nndsvda') of the tall Dask X ``data``: W as a
    :class:`~fastnmf.distributed.blocks.BlockFactor` beside X's blocks, H (k x n) on the
    client, in X's dtype; the in-memory :func:`fastnmf._init.initialize` to rounding."""
    U, s, Vt = randomized_svd(data, k, random_state)
    norms2 = tree_sum(data.client, map_blocks(data.client, _norms, U.futures, k))[0]
    scales, H = nndsvd_H(s, Vt, norms2, eps)
    fill = None
    if init == "nndsvda":
        fill = data.mean()
        H[H == 0] = fill
    W = map_blocks(data.client, _w_block, U.futures, scales, eps, fill, data.dtype)
    del U
    F = BlockFactor(data.client, W, data.bounds, k, data.dtype)
    F.recover = data.recover
    return F, np.ascontiguousarray(H, dtype=data.dtype)
