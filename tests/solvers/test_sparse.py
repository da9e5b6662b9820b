"""Sparse X: the product kernels, and whole fits that never densify."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.decomposition import NMF as SkNMF

from fastnmf import NMF, non_negative_factorization
from fastnmf._backends import get_backend
from fastnmf._kernels import reference as ref

from ..conftest import _use, rtol_for

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def random_csr(m, n, density, dtype=np.float64, index=np.int32, seed=0, empty=True):
    X = sp.random(m, n, density=density, format="csr", random_state=seed, dtype=dtype)
    if empty and m > 4 and n > 4:
        X = X.tolil()
        X[3, :] = 0      # an empty row
        X[:, 2] = 0      # an empty column
        X = X.tocsr()
        X.eliminate_zeros()
    if X.nnz:
        X.data[0] = 0.0  # an explicitly stored zero
    X.indices = X.indices.astype(index)
    X.indptr = X.indptr.astype(index)
    return X


@pytest.mark.parametrize("index", [np.int32, np.int64])
@pytest.mark.parametrize("m,n,k,density", [(1, 1, 1, 1.0), (40, 30, 1, 0.2), (200, 150, 7, 0.05), (130, 70, 33, 0.3), (50, 60, 5, 0.0)])
def test_csr_products_match_scipy_and_reference(compiled_backend, dtype, index, m, n, k, density):
    kern = get_backend(compiled_backend)
    X = random_csr(m, n, density, dtype, index, empty=density > 0)
    rng = np.random.default_rng(1)
    B = rng.random((n, k)).astype(dtype)
    A = rng.random((m, k)).astype(dtype)
    tol = rtol_for(dtype)
    for nt in (1, 2, 3):
        out = np.full((m, k), np.nan, dtype=dtype)
        kern.csr_matmul(X.data, X.indices, X.indptr, B, out, nt)
        np.testing.assert_allclose(out, X @ B, rtol=tol, atol=tol)
        outt = np.full((n, k), np.nan, dtype=dtype)
        kern.csr_t_matmul(X.data, X.indices, X.indptr, A, outt, nt)
        expected = np.zeros((n, k), dtype=dtype)
        ref.csr_t_matmul(X.data, X.indices, X.indptr, A, expected, nt)
        np.testing.assert_allclose(outt, expected, rtol=tol, atol=tol)
        np.testing.assert_allclose(outt, X.T @ A, rtol=tol, atol=tol)
        assert out.dtype == dtype and outt.dtype == dtype


def test_csr_products_deterministic_and_equal_across_backends(dtype):
    X = random_csr(500, 300, 0.05, dtype)
    rng = np.random.default_rng(2)
    A = rng.random((500, 9)).astype(dtype)
    B = rng.random((300, 9)).astype(dtype)
    results = {}
    for name in (_use("cython"), _use("numba")):
        kern = get_backend(name)
        for nt in (1, 2):
            o1 = np.empty((500, 9), dtype); o2 = np.empty((300, 9), dtype)
            kern.csr_matmul(X.data, X.indices, X.indptr, B, o1, nt)
            kern.csr_t_matmul(X.data, X.indices, X.indptr, A, o2, nt)
            results[name, nt] = (o1, o2)
    # X @ B gathers row by row: the same for every thread count and backend
    for key, (o1, _) in results.items():
        np.testing.assert_array_equal(o1, results["numba", 1][0])
    # X^T @ A: fixed chunking per thread count, the same in both backends
    for nt in (1, 2):
        np.testing.assert_array_equal(results["cython", nt][1], results["numba", nt][1])


FORMATS = [
    lambda X: sp.csr_matrix(X), lambda X: sp.csc_matrix(X), lambda X: sp.coo_matrix(X),
    lambda X: sp.csr_array(X), lambda X: sp.csc_array(X), lambda X: sp.coo_array(X),
    lambda X: sp.lil_matrix(X),
]


@pytest.mark.parametrize("fmt", range(len(FORMATS)), ids=["csr", "csc", "coo", "csr_array", "csc_array", "coo_array", "lil"])
@pytest.mark.parametrize("solver", ["cd", "mu"])
def test_sparse_and_dense_give_the_same_factorization(backend, fmt, solver):
    Xs = random_csr(120, 90, 0.1, seed=3)
    Xd = Xs.toarray()
    kw = dict(n_components=6, init="nndsvda", solver=solver, max_iter=40, tol=0, random_state=0, backend=backend)
    dense = NMF(**kw)
    Wd = dense.fit_transform(Xd)
    sparse = NMF(**kw)
    Ws = sparse.fit_transform(FORMATS[fmt](Xs))
    assert abs(sparse.reconstruction_err_ - dense.reconstruction_err_) / dense.reconstruction_err_ < 1e-10
    np.testing.assert_allclose(Ws, Wd, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(sparse.components_, dense.components_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(sparse.loss_history_, dense.loss_history_, rtol=1e-10)


@pytest.mark.parametrize("solver", ["cd", "mu"])
def test_sparse_matches_sklearn(solver):
    X = random_csr(150, 100, 0.08, seed=4)
    kw = dict(n_components=5, init="nndsvdar", solver=solver, max_iter=50, tol=0, random_state=1)
    sk = SkNMF(**kw).fit(X)
    ours = NMF(**kw).fit(X)
    assert abs(ours.reconstruction_err_ - sk.reconstruction_err_) / sk.reconstruction_err_ < 1e-6


def test_sparse_input_is_not_modified_and_duplicates_are_summed():
    rows = np.array([0, 0, 1, 2, 2, 2])
    cols = np.array([1, 1, 0, 2, 2, 3])
    vals = np.array([1.0, 2.0, 3.0, 0.5, 0.25, 4.0])
    coo = sp.coo_matrix((vals, (rows, cols)), shape=(4, 5))
    dense = coo.toarray()  # duplicates summed
    csr_dup = sp.csr_matrix((vals, cols, np.array([0, 2, 3, 6, 6])), shape=(4, 5))
    assert not csr_dup.has_canonical_format
    snapshot = (csr_dup.data.copy(), csr_dup.indices.copy(), csr_dup.indptr.copy())
    # one solver for all three ('auto' runs hals on sparse X, cd on dense X)
    a = NMF(2, init="random", random_state=0, max_iter=30, solver="cd").fit(csr_dup)
    b = NMF(2, init="random", random_state=0, max_iter=30, solver="cd").fit(dense)
    c = NMF(2, init="random", random_state=0, max_iter=30, solver="cd").fit(coo)
    for A, B in zip(snapshot, (csr_dup.data, csr_dup.indices, csr_dup.indptr)):
        np.testing.assert_array_equal(A, B)
    assert not csr_dup.has_canonical_format
    np.testing.assert_allclose(a.components_, b.components_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(c.components_, b.components_, rtol=1e-10, atol=1e-12)


def test_sparse_float32_stays_float32_and_transform(backend):
    X = random_csr(80, 60, 0.1, np.float32, seed=5)
    m = NMF(4, max_iter=30, random_state=0, backend=backend)
    W = m.fit_transform(X)
    assert W.dtype == np.float32 and m.components_.dtype == np.float32
    Wt = m.transform(X)
    assert Wt.dtype == np.float32 and Wt.shape == W.shape
    # 'auto' runs hals on sparse X and cd on dense X: compare the same solver
    dense = NMF(4, max_iter=30, random_state=0, backend=backend,
                solver=m.solver_).fit(X.toarray())
    assert abs(dense.reconstruction_err_ - m.reconstruction_err_) / dense.reconstruction_err_ < 1e-4


def test_sparse_nnf_update_H_false_and_int64_indices():
    X = random_csr(60, 40, 0.2, index=np.int64, seed=6)
    W, H, _ = non_negative_factorization(X, n_components=3, random_state=0, max_iter=40)
    W2, H2, _ = non_negative_factorization(X, H=H, n_components=3, update_H=False, max_iter=40)
    np.testing.assert_array_equal(H2, H)
    Wd, _, _ = non_negative_factorization(X.toarray(), H=H, n_components=3, update_H=False, max_iter=40)
    np.testing.assert_allclose(W2, Wd, rtol=1e-10, atol=1e-12)


def test_sparse_all_zero():
    X = sp.csr_matrix((5, 4))
    m = NMF(2, init="random", random_state=0)
    W = m.fit_transform(X)
    assert np.isfinite(W).all() and (W @ m.components_ == 0).all()
    assert m.reconstruction_err_ == 0.0


def test_small_sparse_frobenius_fit_runs_on_one_thread():
    """fastnmf.parallel.threads.fit_threads: a Frobenius fit on a sparse X under SMALL_SPARSE_WORK
    multiply-adds an iteration runs on one thread (the same factors as n_threads=1, bit for
    bit); a bigger one, a KL fit and dense X keep every thread."""
    from fastnmf.parallel.config import CONFIG
    from fastnmf.parallel.threads import fit_threads

    SMALL_SPARSE_WORK = CONFIG.small_sparse_work

    rng = np.random.default_rng(0)
    small = sp.random(300, 400, density=0.02, random_state=0, format="csr")
    big = sp.random(3000, 4000, density=0.02, random_state=0, format="csr")
    assert 2 * small.nnz * 10 + 700 * 100 < SMALL_SPARSE_WORK <= 2 * big.nnz * 10
    assert fit_threads(small, 10, 2.0, 2) == 1
    assert fit_threads(big, 10, 2.0, 2) == 2
    assert fit_threads(small, 10, 1.0, 2) == 2  # KL
    assert fit_threads(small.toarray(), 10, 2.0, 2) == 2  # dense
    assert fit_threads(small, 10, 2.0, 1) == 1
    X = small + sp.csr_matrix(rng.random((300, 400)) * (rng.random((300, 400)) < 0.01))
    fits = []
    for nt in (1, 2):
        m = NMF(10, solver="cd", max_iter=30, tol=0, n_threads=nt, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fits.append((m.fit_transform(X), m.components_))
    np.testing.assert_array_equal(fits[0][0], fits[1][0])
    np.testing.assert_array_equal(fits[0][1], fits[1][1])
