"""The kernel ``column_stats_sweep`` (online cd's per-column statistics and H sweep on known
entries): the compiled backends against the NumPy reference, threads, untouched columns."""

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal

from fastnmf._backends import get_backend
from tests.conftest import rtol_for


def _case(dtype, b=40, n=30, k=5, density=0.3, seed=0):
    rng = np.random.default_rng(seed)
    pattern = sp.random(n, b, density=density, format="csr", random_state=rng)
    pattern.data = rng.random(pattern.nnz)  # the known values (float64)
    W = rng.random((b, k))
    Q = (W[:, :, None] * W[:, None, :]).reshape(b, k * k)
    A = rng.random((n, k * k))
    A = (A.reshape(n, k, k) + A.reshape(n, k, k).transpose(0, 2, 1)).reshape(n, k * k) * 0.1
    B = rng.random((n, k))
    Ht = rng.random((n, k)).astype(dtype)
    l1, l2 = 0.01 * rng.random(n), 0.02 * rng.random(n)
    cols = np.ascontiguousarray(np.flatnonzero(np.diff(pattern.indptr))[::2], dtype=np.intp)
    return pattern, Q, W, A, B, Ht, l1, l2, cols


@pytest.mark.parametrize("perm", [None, [3, 0]])
def test_compiled_backends_match_the_reference(compiled_backend, dtype, perm):
    P, Q, D, A, B, Ht, l1, l2, cols = _case(dtype)
    perm = np.arange(Ht.shape[1], dtype=np.intp) if perm is None else np.asarray(perm, np.intp)
    ref = get_backend("numpy")
    A_r, B_r, H_r = A.copy(), B.copy(), Ht.copy()
    ref.column_stats_sweep(P.data, P.indices, P.indptr, Q, D, A_r, B_r, cols, H_r, l1, l2,
                           perm, 1)
    untouched = np.setdiff1d(np.arange(len(Ht)), cols)
    assert_array_equal(H_r[untouched], Ht[untouched])  # only the columns named move
    assert not np.allclose(H_r[cols], Ht[cols])
    kern = get_backend(compiled_backend)
    for nt in (1, 2):
        A_c, B_c, H_c = A.copy(), B.copy(), Ht.copy()
        kern.column_stats_sweep(P.data, P.indices, P.indptr, Q, D, A_c, B_c, cols, H_c, l1, l2,
                                perm, nt)
        assert_allclose(A_c, A_r, rtol=1e-12)
        assert_allclose(B_c, B_r, rtol=1e-12)
        assert_allclose(H_c, H_r, rtol=rtol_for(dtype), atol=1e-12)
        assert H_c.dtype == dtype


def test_the_sweep_minimises_each_column_coordinate_wise(compiled_backend):
    """After sweeps on fixed statistics, each column satisfies its NNLS optimality
    conditions: ``A_j h - B_j + l1 >= 0``, with equality where h > 0."""
    P, Q, D, A, B, Ht, l1, l2, cols = _case(np.float64, k=3, seed=2)
    kern = get_backend(compiled_backend)
    kern.column_stats_sweep(P.data, P.indices, P.indptr, Q, D, A, B, cols, Ht, l1, l2,
                            np.arange(3, dtype=np.intp), 1)
    empty = np.zeros_like(P.indptr)
    for _ in range(300):  # more sweeps, no more statistics
        kern.column_stats_sweep(P.data, P.indices, empty, Q, D, A, B, cols, Ht, l1, l2,
                                np.arange(3, dtype=np.intp), 1)
    for j in cols:
        Aj = A[j].reshape(3, 3)
        grad = Aj @ Ht[j] - B[j] + l1[j] + l2[j] * Ht[j]
        assert np.all(grad >= -1e-8)
        assert np.all(np.abs(grad[Ht[j] > 0]) <= 1e-8)
