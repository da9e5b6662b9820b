"""A wide Dask X chunked by columns, held by columns (the form of X^T: H in blocks beside X's
column blocks, W on the client): the fit is the in-memory fit, for cd and the
multiplicative updates of every beta, dense and sparse."""

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

from fastnmf import NMF  # noqa: E402
from fastnmf.distributed.blocks import BlockFactor  # noqa: E402
from fastnmf.distributed.data import DaskData  # noqa: E402


def wide(seed, m=50, n=420, k=4, dtype=np.float64, sparse=False):
    """``(X in memory, X as Dask chunked by columns)``."""
    rng = np.random.default_rng(seed)
    X = (rng.random((m, k)) @ rng.random((k, n)) + 0.05 * rng.random((m, n))).astype(dtype)
    if sparse:
        X[X < np.quantile(X, 0.5)] = 0
        Xm = sp.csr_matrix(X)
        return Xm, da.from_array(Xm, chunks=(m, 100), asarray=False)
    return X, da.from_array(X, chunks=(m, 100))


@pytest.mark.parametrize("solver,beta,sparse,dtype", [
    ("cd", "frobenius", False, np.float64), ("cd", "frobenius", True, np.float32),
    ("mu", "frobenius", False, np.float64), ("mu", "kullback-leibler", False, np.float64),
    ("mu", "kullback-leibler", True, np.float64), ("mu", "kullback-leibler", False, np.float32),
    ("mu", 0.5, True, np.float64), ("mu", "itakura-saito", False, np.float64)])
def test_a_wide_x_held_by_columns_is_fitted_as_in_memory(client, solver, beta, sparse, dtype):
    Xm, dX = wide(0, dtype=dtype, sparse=sparse)
    if beta == "itakura-saito":  # no zeros
        Xm, dX = Xm + 0.1, dX + 0.1
    kw = dict(n_components=4, solver=solver, beta_loss=beta, random_state=0, max_iter=30,
              alpha_W=0.01, alpha_H=0.02, l1_ratio=0.3)
    ref = NMF(**kw)
    W_ref = ref.fit_transform(Xm)
    est = NMF(**kw)
    W = est.fit_transform(dX)
    rtol, scale = (1e-8, 1e-12) if dtype == np.float64 else (2e-3, 1e-3)
    assert est.n_iter_ == ref.n_iter_ and est.solver_ == ref.solver_
    assert isinstance(W, da.Array) and W.chunks[0] == dX.chunks[0]
    assert W.dtype == dtype and isinstance(est.components_, np.ndarray)
    assert est.components_.dtype == dtype
    assert_allclose(W.compute(), W_ref, rtol=rtol, atol=scale * W_ref.max())
    assert_allclose(est.components_, ref.components_, rtol=rtol,
                    atol=scale * ref.components_.max())
    assert_allclose(est.loss_history_, ref.loss_history_, rtol=rtol)
    assert_allclose(est.reconstruction_err_, ref.reconstruction_err_, rtol=rtol)


@pytest.mark.parametrize("init", ["random", "nndsvd", "custom"])
def test_every_start_of_a_wide_x_held_by_columns_is_the_in_memory_one(client, init):
    Xm, dX = wide(1)
    rng = np.random.default_rng(2)
    W0, H0 = rng.random((50, 3)), rng.random((3, 420))
    W0_copy, H0_copy = W0.copy(), H0.copy()
    given = dict(W=W0, H=H0) if init == "custom" else {}
    kw = dict(n_components=3, init=init, random_state=0, max_iter=20)
    ref = NMF(**kw).fit(Xm, **given)
    est = NMF(**kw).fit(dX, **given)
    assert_allclose(est.components_, ref.components_, rtol=1e-8, atol=1e-12)
    assert_allclose(est.loss_history_, ref.loss_history_, rtol=1e-8)
    assert np.array_equal(W0, W0_copy) and np.array_equal(H0, H0_copy)  # not changed


def test_which_chunks_are_held_by_columns(client):
    rng = np.random.default_rng(3)
    X = rng.random((40, 300))
    by_columns = DaskData.from_dask(da.from_array(X, chunks=(40, 60)), client)
    assert by_columns.transposed and by_columns.shape == (300, 40)
    assert len(by_columns.blocks) == 5
    # a wide X chunked by rows stays by rows (the user's chunks); a tall X chunked by columns
    # is held by rows (rechunked): only m x k or n x k moves, whichever is smaller
    assert not DaskData.from_dask(da.from_array(X, chunks=(10, 300)), client).transposed
    tall = DaskData.from_dask(da.from_array(X.T, chunks=(300, 10)), client)
    assert not tall.transposed and tall.shape == (300, 40)


def test_h_blocks_are_made_beside_x_column_blocks(client):
    Xm, dX = wide(4)
    est = NMF(3, max_iter=5, random_state=0)
    data = DaskData.from_dask(dX, client)
    Ht = data.distribute(np.random.default_rng(5).random((420, 3)))
    assert isinstance(Ht, BlockFactor) and Ht.n_blocks == len(data.blocks)
    who_x, who_h = client.who_has(data.blocks), client.who_has(Ht.futures)
    for xb, hb in zip(data.blocks, Ht.futures):
        assert set(who_h[hb.key]) & set(who_x[xb.key])
    est.fit(dX)
    assert est.components_.shape == (3, 420)


def test_what_a_wide_x_held_by_columns_does_not_do_is_refused(client):
    Xm, dX = wide(6)
    Y = np.array(Xm)
    Y[3, 7] = np.nan
    with pytest.raises(ValueError, match=r"unknown entries of a wide X chunked by columns .* "
                                         r"chunk X by rows"):
        NMF(2).fit(da.from_array(Y, chunks=(50, 100)))
    Y[3, 7] = -1.0
    with pytest.raises(ValueError, match=r"Negative values in data passed to X: columns 0:100"):
        NMF(2).fit(da.from_array(Y, chunks=(50, 100)))
    with pytest.raises(ValueError, match=r"warm_start .* not supported for a wide Dask X"):
        est = NMF(2, warm_start=True, max_iter=5).fit(dX)
        est.fit(dX)
