"""Dense Frobenius fits on more than one thread run on fastnmf's own pool (fastnmf.parallel.pool):
the same factors as on one thread, and the pooled row kernels equal the plain ones."""

import warnings

import numpy as np
import pytest

import fastnmf._plan as est_mod  # where the fit plan decides to use the pool
from fastnmf import NMF
from fastnmf._backends import get_backend
from fastnmf._kernels import ROW_BLOCK
from fastnmf.parallel.config import CONFIG
from fastnmf.parallel.pool import PooledKernels, RowThreads, chunk_bounds

MIN_KERNEL_WORK = CONFIG.pool_min_kernel_work

from ..conftest import _use


@pytest.mark.parametrize("rows", [0, 1, 63, 64, 65, 1000, 4097])
@pytest.mark.parametrize("n_chunks", [1, 2, 3, 8])
def test_chunk_bounds_cover_rows_at_block_multiples(rows, n_chunks):
    b = chunk_bounds(rows, n_chunks)
    assert b[0] == 0 and b[-1] == rows
    assert all(lo <= hi for lo, hi in zip(b[:-1], b[1:]))
    assert all(x % ROW_BLOCK == 0 for x in b[:-1])
    assert len(b) - 1 <= max(1, n_chunks)
    if rows >= n_chunks * ROW_BLOCK:  # enough rows: every chunk gets some
        assert len(b) - 1 == n_chunks and all(lo < hi for lo, hi in zip(b[:-1], b[1:]))


def test_pool_map_order_and_errors():
    pool = RowThreads(3)
    try:
        assert pool.map(lambda lo, hi: (lo, hi), [0, 5, 9, 12]) == [(0, 5), (5, 9), (9, 12)]

        def boom(lo, hi):
            if lo == 0:
                raise ValueError("chunk 0")
            return lo

        with pytest.raises(ValueError, match="chunk 0"):
            pool.map(boom, [0, 5, 9])
    finally:
        pool.close()


@pytest.fixture(params=["cython", "numba"])
def pooled(request):
    kern = get_backend(_use(request.param))
    pool = RowThreads(2)
    yield kern, PooledKernels(kern, pool)
    pool.close()


def test_pooled_row_kernels_equal_plain_ones(pooled, dtype):
    kern, pk = pooled
    rng = np.random.default_rng(0)
    m, k = 1500, 32  # rows * k * k above MIN_KERNEL_WORK: split in two chunks
    assert m * k * k >= MIN_KERNEL_WORK
    W = rng.random((m, k)).astype(dtype)
    A = rng.random((k, k))
    G = (A @ A.T + np.eye(k)).astype(dtype)
    C = (10 * rng.random((m, k))).astype(dtype)
    perm = rng.permutation(k).astype(np.intp)

    a, b = W.copy(), W.copy()
    va = kern.hals_sweep(a, G, C, 0.1, 0.2, perm, 1)
    vb = pk.hals_sweep(b, G, C, 0.1, 0.2, perm, 1)
    np.testing.assert_array_equal(a, b)  # rows are independent: bit for bit
    assert vb == va  # sums kept per block, added in block order

    nbk = -(-m // ROW_BLOCK)
    a, b = W.copy(), W.copy()
    v1, c1, v2, c2 = (np.empty(nbk) for _ in range(4))
    kern.hals_sweep_blocks(a, G, C, 0.1, 0.2, perm, v1, c1, 1)
    pk.hals_sweep_blocks(b, G, C, 0.1, 0.2, perm, v2, c2, 1)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(v1, v2)
    np.testing.assert_array_equal(c1, c2)

    a, b, pa, pb = W.copy(), W.copy(), (W * 0.5).astype(dtype), (W * 0.5).astype(dtype)
    kern.extrapolate(a, pa, 0.7, 1)
    pk.extrapolate(b, pb, 0.7, 1)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(pa, pb)


@pytest.mark.parametrize("solver", ["cd", "hals", "ehals", "mu", "als", "pgd"])
def test_dense_fit_on_two_threads_equals_one_thread(solver, backend):
    """Big enough for the pool to split the products and the kernels; hals and ehals run
    on it with two threads, the others on BLAS's threads; the factors agree with a
    one-thread fit exactly for hals and ehals, to rounding for the others (BLAS on two
    threads may round its products differently from BLAS on one)."""
    rng = np.random.default_rng(3)
    X = rng.random((1200, 16)) @ rng.random((16, 400)) + 0.01 * rng.random((1200, 400))
    calls = []
    real = est_mod.use_row_threads

    def spy(*a):
        calls.append(real(*a))
        return calls[-1]

    fits = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est_mod.use_row_threads = spy
        try:
            for nt in (1, 2):
                m = NMF(32, init="nndsvda", solver=solver, max_iter=15, tol=0, n_threads=nt,
                        backend=backend, random_state=0)
                fits[nt] = (m.fit_transform(X), m.components_, m.n_iter_, m.loss_history_)
        finally:
            est_mod.use_row_threads = real
    pooled = solver in ("hals", "ehals")
    if backend != "numba" or calls[-1]:  # numba's workqueue layer: never pooled
        assert calls == [pooled, pooled]
    (W1, H1, n1, l1), (W2, H2, n2, l2) = fits[1], fits[2]
    assert n1 == n2
    if solver in ("hals", "ehals"):  # on the pool: fixed product chunks, rows independent
        np.testing.assert_array_equal(W1, W2)
        np.testing.assert_array_equal(H1, H2)
    else:
        # (als's exact solves amplify BLAS's rounding in a few tiny entries: 1.5e-8)
        np.testing.assert_allclose(W1, W2, rtol=1e-6, atol=1e-7 * np.abs(W1).max())
        np.testing.assert_allclose(H1, H2, rtol=1e-6, atol=1e-7 * np.abs(H1).max())
    # als's exact solves amplify BLAS's rounding (seen: 1e-9 relative in the last loss)
    rtol = {"hals": 1e-14, "ehals": 1e-14, "als": 1e-7}.get(solver, 1e-9)
    np.testing.assert_allclose(l1, l2, rtol=rtol)


@pytest.mark.parametrize("solver", ["hals", "ehals"])
def test_pooled_fit_does_not_depend_on_the_thread_count(solver):
    """hals and ehals split the products into chunks of a fixed size whatever the thread
    count: 1, 2 and 3 threads give the same factors, bit for bit (3 threads on 2 cores
    included; with chunks per thread, 3 threads rounded differently and ehals's restarts
    took another path)."""
    rng = np.random.default_rng(0)
    X = rng.random((1500, 24)) @ rng.random((24, 700))
    fits = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for nt in (1, 2, 3):
            m = NMF(32, init="nndsvda", solver=solver, max_iter=20, random_state=0, n_threads=nt,
                    backend=_use("cython"))
            fits.append((m.fit_transform(X), m.components_, m.reconstruction_err_))
    for W, H, err in fits[1:]:
        np.testing.assert_array_equal(W, fits[0][0])
        np.testing.assert_array_equal(H, fits[0][1])
        # the final error is summed after the fit with BLAS on all threads: its rounding
        assert err == pytest.approx(fits[0][2], rel=1e-13)


@pytest.mark.parametrize("shape", [(1200, 400), (6000, 64), (40000, 30), (700, 3000)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pooled_products_equal_blas_and_do_not_depend_on_threads(shape, dtype, monkeypatch):
    """The split products: X @ Ht by row chunks, X^T W by column chunks, or on a narrow X
    (fewer than NARROW_COLUMNS columns) by row chunks whose partial products are summed in
    chunk order; equal to one BLAS call to rounding, and bit for bit the same on 1, 2 and 3
    threads."""
    from fastnmf.data.dense import DenseData
    from fastnmf.parallel.pool import row_part_bounds

    NARROW_COLUMNS = 2 * CONFIG.product_chunk

    rng = np.random.default_rng(shape[0])
    X = rng.random(shape).astype(dtype)
    W = rng.random((shape[0], 16)).astype(dtype)
    Ht = rng.random((shape[1], 16)).astype(dtype)
    X0 = X.copy()
    kern = get_backend(_use("cython"))
    by_rows = []
    real = DenseData._xt_times_by_rows
    monkeypatch.setattr(DenseData, "_xt_times_by_rows",
                        lambda self, W: by_rows.append(1) or real(self, W))
    got = []
    for nt in (1, 2, 3):
        pool = RowThreads(nt)
        prod = DenseData(X, PooledKernels(kern, pool), nt)
        xt, xh = prod.xt_times(W), prod.x_times(Ht)
        assert xt.shape == (shape[1], 16) and xt.dtype == dtype and xt.flags.c_contiguous
        got.append((xt, xh))
        pool.close()
    tol = 1e-5 if dtype == np.float32 else 1e-12
    X64, W64, H64 = X.astype(np.float64), W.astype(np.float64), Ht.astype(np.float64)
    np.testing.assert_allclose(got[0][0], X64.T @ W64, rtol=tol)
    np.testing.assert_allclose(got[0][1], X64 @ H64, rtol=tol)
    for xt, xh in got[1:]:
        np.testing.assert_array_equal(xt, got[0][0])
        np.testing.assert_array_equal(xh, got[0][1])
    np.testing.assert_array_equal(X, X0)
    bounds = row_part_bounds(shape[0])
    assert bounds[0] == 0 and bounds[-1] == shape[0] and len(bounds) - 1 <= 16
    assert len(by_rows) == (3 if shape[1] < NARROW_COLUMNS else 0)
