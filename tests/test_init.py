"""fastnmf._init: NNDSVD starts equal to scikit-learn's (to rounding), inputs untouched."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.decomposition._nmf import _initialize_nmf
from sklearn.utils.extmath import randomized_svd as sk_randomized_svd

from fastnmf._init import initialize, randomized_svd
from fastnmf.parallel.threads import blas_threads


def _lowrank(m, n, k, dtype, sparse, seed):
    rng = np.random.default_rng(seed)
    X = rng.random((m, k)) @ rng.random((k, n)) + 0.01 * rng.random((m, n))
    if sparse:
        X[X < np.quantile(X, 0.7)] = 0
        return sp.csr_matrix(X.astype(dtype))
    return X.astype(dtype)


# (20, 10, 3) and (10, 20, 3): the k + 10 columns of the sketch outnumber the short side, so
# its LU is wide and cuts the sketch's width; (50, 50, 5): square, both sides one shape
CASES = [(300, 200, 5), (200, 300, 5), (60, 40, 20), (1200, 90, 12), (20, 10, 3), (10, 20, 3),
         (50, 50, 5)]


@pytest.mark.parametrize("shape", CASES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_randomized_svd_is_sklearns(shape, sparse, dtype):
    m, n, k = shape
    X = _lowrank(m, n, 8, dtype, sparse, 0)
    U0, s0, V0 = sk_randomized_svd(X, k, random_state=0)
    U1, s1, V1 = randomized_svd(X, k, random_state=0)
    assert U1.dtype == U0.dtype and s1.dtype == s0.dtype and V1.dtype == V0.dtype
    assert U1.shape == U0.shape and V1.shape == V0.shape
    tol = 1e-4 if dtype == np.float32 else 1e-10
    # X is rank 8 plus noise; beyond the 8th, the sketch has not resolved the noise's
    # clustered singular values (1-3% from the true ones, both libraries): there rounding,
    # amplified by the power iterations, moves them by up to ~1e-10 relative
    signal = min(k, 8)
    np.testing.assert_allclose(s1[:signal], s0[:signal], rtol=tol)
    np.testing.assert_allclose(s1[signal:], s0[signal:], rtol=max(tol, 1e-9))
    # the leading singular triplets are well separated: compare them entry by entry
    np.testing.assert_allclose(U1[:, :3], U0[:, :3], atol=tol * 10)
    np.testing.assert_allclose(V1[:3], V0[:3], atol=tol * 10)


@pytest.mark.parametrize("init", ["nndsvd", "nndsvda", "nndsvdar"])
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_nndsvd_is_sklearns(init, sparse, dtype):
    X = _lowrank(400, 150, 6, dtype, sparse, 1)
    before = X.copy()
    W0, H0 = _initialize_nmf(X, 6, init, random_state=3)
    W1, H1 = initialize(X, 6, init, 3)
    assert W1.dtype == np.dtype(dtype) and H1.dtype == np.dtype(dtype)
    assert W1.flags.c_contiguous and H1.flags.c_contiguous
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(W1, W0, rtol=tol, atol=tol * np.abs(W0).max())
    np.testing.assert_allclose(H1, H0, rtol=tol, atol=tol * np.abs(H0).max())
    if sparse:
        assert (X != before).nnz == 0
    else:
        np.testing.assert_array_equal(X, before)


def test_thread_count_does_not_change_the_start():
    # the thread policy inside randomized_svd changes where time goes, not the result
    X = _lowrank(2000, 300, 10, np.float64, False, 2)
    with blas_threads(1):
        W1, H1 = initialize(X, 10, "nndsvda", 0)
    W2, H2 = initialize(X, 10, "nndsvda", 0)
    np.testing.assert_allclose(W1, W2, rtol=1e-10, atol=1e-12 * np.abs(W1).max())
    np.testing.assert_allclose(H1, H2, rtol=1e-10, atol=1e-12 * np.abs(H1).max())


@pytest.mark.parametrize("shape", [(400, 150), (150, 400)], ids=["tall", "wide"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sparse_start_on_the_kernels_is_sklearns(backend, shape, dtype):
    """With a backend given (as NMF.fit does), the sketch's products with a CSR X run on its
    threaded csr_matmul/csr_t_matmul: still scikit-learn's start to rounding, either
    orientation (a wide X is sketched transposed), X untouched."""
    from fastnmf._backends import get_backend

    X = _lowrank(*shape, 6, dtype, True, 4)
    before = X.copy()
    W0, H0 = _initialize_nmf(X, 6, "nndsvda", random_state=5)
    W1, H1 = initialize(X, 6, "nndsvda", 5, kernels=get_backend(backend), n_threads=2)
    assert W1.dtype == np.dtype(dtype) and H1.dtype == np.dtype(dtype)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(W1, W0, rtol=tol, atol=tol * np.abs(W0).max())
    np.testing.assert_allclose(H1, H0, rtol=tol, atol=tol * np.abs(H0).max())
    assert (X != before).nnz == 0


@pytest.mark.parametrize("shape", [(500, 300), (300, 500)], ids=["tall", "wide"])
@pytest.mark.parametrize("k", [5, 20])
def test_one_normalization_per_power_iteration_keeps_sklearns_svd(shape, k):
    """In float64 the sketch is normalized once per power iteration (scikit-learn: twice).
    On a spectrum falling over 14 decades, where an unnormalized product loses the most,
    the leading triplets are still scikit-learn's and the true ones to rounding."""
    m, n = shape
    rng = np.random.default_rng(7)
    U, _ = np.linalg.qr(rng.standard_normal((m, 60)))
    V, _ = np.linalg.qr(rng.standard_normal((n, 60)))
    s = np.logspace(0, -14, 60)
    X = (U * s) @ V.T
    U0, s0, V0 = sk_randomized_svd(X, k, random_state=0)
    U1, s1, V1 = randomized_svd(X, k, random_state=0)
    np.testing.assert_allclose(s1, s0, rtol=1e-11)
    np.testing.assert_allclose(s1, s[:k], rtol=1e-11)
    np.testing.assert_allclose(U1, U0, atol=1e-10)
    np.testing.assert_allclose(V1, V0, atol=1e-10)
