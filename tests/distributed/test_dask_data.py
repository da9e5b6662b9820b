"""The data form of a row-chunked Dask X (fastnmf.distributed), on a LocalCluster of worker
processes: its passes against the in-memory kernels, validation, W kept on the workers."""

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

from fastnmf._backends import get_backend  # noqa: E402
from fastnmf.distributed.blocks import BlockFactor  # noqa: E402
from fastnmf.distributed.data import DaskData  # noqa: E402

from ._arrays import dask_pair  # noqa: E402


def _cd_in_memory(X, W, Ht, iters, kern, l1=0.0, l2=0.0):
    """cd as NMF runs it on an in-memory X: the fused pass over W, then H's sweep."""
    k = W.shape[1]
    perm = np.arange(k, dtype=np.intp)
    XtW, WtW = np.empty((X.shape[1], k)), np.empty((k, k))
    violations = []
    for _ in range(iters):
        HtH = Ht.T @ Ht
        if sp.issparse(X):
            C = X @ Ht
            v = kern.hals_sweep(W, HtH, C, l1, l2, perm, 1)
            XtW[...] = X.T @ W
            WtW[...] = W.T @ W
        else:
            v = kern.hals_pass_dense(X, Ht, HtH, W, l1, l2, perm, XtW, WtW, 1)
        v += kern.hals_sweep(Ht, WtW, XtW, l1, l2, perm, 1)
        violations.append(v)
    return violations


@pytest.mark.parametrize("sparse", [False, True])
def test_fused_passes_on_the_workers_give_the_in_memory_iterates(client, sparse):
    rng = np.random.default_rng(0)
    X = rng.random((230, 40)) @ np.diag(rng.random(40))
    if sparse:
        X[X < 0.5 * X.mean()] = 0
        Xs = sp.csr_matrix(X)
        dX = da.from_array(Xs, chunks=(60, 40), asarray=False)
    else:
        dX = da.from_array(X, chunks=(60, 40))
    kern = get_backend("cython")
    W0, Ht0 = rng.random((230, 4)), rng.random((40, 4))
    W, Ht = W0.copy(), Ht0.copy()
    ref = _cd_in_memory(Xs if sparse else X, W, Ht, 6, kern, 0.01, 0.02)

    data = DaskData.from_dask(dX, client, backend="cython")
    assert data.sparse == sparse and data.shape == X.shape
    assert_allclose(data.norm2(), np.sum(X ** 2), rtol=1e-12)
    Wd, Htd = data.distribute(W0), Ht0.copy()
    perm = np.arange(4, dtype=np.intp)
    XtW, WtW = np.empty((40, 4)), np.empty((4, 4))
    got = []
    for _ in range(6):
        v = data.fused_pass(Htd, Htd.T @ Htd, Wd, 0.01, 0.02, perm, XtW, WtW)
        v += kern.hals_sweep(Htd, WtW, XtW, 0.01, 0.02, perm, 1)
        got.append(v)
    assert isinstance(Wd, BlockFactor) and Wd.n_blocks == 4
    # each new block of W was made, and stays, on the worker of its block of X
    who_x, who_w = client.who_has(data.blocks), client.who_has(Wd.futures)
    for xb, wb in zip(data.blocks, Wd.futures):
        assert set(who_w[wb.key]) & set(who_x[xb.key])
    assert_allclose(Wd.gather(), W, rtol=1e-10, atol=1e-13)
    assert_allclose(Htd, Ht, rtol=1e-10, atol=1e-13)
    assert_allclose(got, ref, rtol=1e-9)
    # the other operations on the block factor
    assert_allclose(data.gram(Wd), W.T @ W, rtol=1e-12)
    assert_allclose(data.cross(Htd, Wd), np.sum((X @ Htd) * W), rtol=1e-12)
    assert_allclose(data.xt_times(Wd), X.T @ W, rtol=1e-12)
    assert_allclose(data.x_times(Htd), X @ Htd, rtol=1e-12)
    assert_allclose(data.reconstruction_error(Wd, Htd), np.linalg.norm(X - W @ Htd.T),
                    rtol=1e-9)
    assert_allclose(Wd.to_dask().compute(), W, rtol=1e-10, atol=1e-13)


def test_w_blocks_sit_beside_x_blocks(client):
    X = np.random.default_rng(1).random((200, 10))
    data = DaskData.from_dask(da.from_array(X, chunks=(50, 5)), client)  # rechunked by rows
    assert len(data.blocks) == 4
    W = data.distribute(np.ones((200, 3)))
    who_x, who_w = client.who_has(data.blocks), client.who_has(W.futures)
    for xb, wb in zip(data.blocks, W.futures):
        assert set(who_w[wb.key]) & set(who_x[xb.key])


def test_bad_x_is_refused_by_name(client):
    X = np.random.default_rng(2).random((40, 6))
    X[33, 2] = -1.0
    with pytest.raises(ValueError, match=r"Negative values in data passed to X: rows 30:40"):
        DaskData.from_dask(da.from_array(X, chunks=(10, 6)), client)
    X[33, 2] = np.inf
    with pytest.raises(ValueError, match="rows 30:40 have infinite entries"):
        DaskData.from_dask(da.from_array(X, chunks=(10, 6)), client)
    with pytest.raises(ValueError, match="2-D"):
        DaskData.from_dask(da.ones(5, chunks=2), client)


# ------------------------------------------------------------ fastnmf.NMF on a Dask X
from fastnmf import NMF  # noqa: E402


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("solver", ["cd", "auto"])
def test_nmf_on_a_dask_array_is_the_in_memory_fit(client, sparse, dtype, solver):
    rng = np.random.default_rng(3)
    X = (rng.random((260, 5)) @ rng.random((5, 35)) + 0.05 * rng.random((260, 35))).astype(dtype)
    Xm, dX = dask_pair(X, 70, sparse, 0.6)
    kw = dict(n_components=4, random_state=0, max_iter=40, alpha_W=0.01, l1_ratio=0.5, solver=solver)
    # the in-memory fit of what a Dask X runs: cd ('auto': with the stopping rule 'auto' gives
    # cd on dense X, which may pick another solver on a small sparse X)
    ref = NMF(**kw)
    if solver == "auto" and sparse:
        pytest.skip("'auto' on an in-memory sparse X may choose another solver than cd")
    W_ref = ref.fit_transform(Xm)
    est = NMF(**kw)
    W = est.fit_transform(dX)
    assert isinstance(W, da.Array) and W.chunks[0] == dX.chunks[0]
    # float64: rounding; float32: 40 iterations of float32 rounding, relative to the largest
    rtol, scale = (1e-9, 1e-12) if dtype == np.float64 else (1e-3, 1e-3)
    assert est.solver_ == "cd" and est.n_iter_ == ref.n_iter_
    assert W.dtype == dtype and est.components_.dtype == dtype
    assert_allclose(W.compute(), W_ref, rtol=rtol, atol=scale * W_ref.max())
    assert_allclose(est.components_, ref.components_, rtol=rtol,
                    atol=scale * ref.components_.max())
    assert_allclose(est.reconstruction_err_, ref.reconstruction_err_, rtol=rtol)
    assert_allclose(est.loss_history_, ref.loss_history_, rtol=rtol)


@pytest.mark.parametrize("beta,sparse,dtype", [
    ("frobenius", False, np.float64), ("frobenius", True, np.float32),
    ("kullback-leibler", False, np.float64), ("kullback-leibler", True, np.float64),
    ("kullback-leibler", False, np.float32), (0.5, False, np.float64), (0.5, True, np.float64),
    ("itakura-saito", False, np.float64)])
def test_multiplicative_updates_on_a_dask_array_are_the_in_memory_fit(client, beta, sparse,
                                                                      dtype):
    rng = np.random.default_rng(8)
    X = (rng.random((250, 4)) @ rng.random((4, 30)) + 0.05 * rng.random((250, 30))).astype(dtype)
    Xm, dX = dask_pair(X, 60, sparse, 0.5)
    kw = dict(n_components=3, solver="mu", beta_loss=beta, random_state=0, max_iter=40,
              alpha_W=0.01, alpha_H=0.02, l1_ratio=0.3, init="nndsvda")
    ref = NMF(**kw)
    W_ref = ref.fit_transform(Xm)
    est = NMF(**kw)
    W = est.fit_transform(dX)
    rtol, scale = (1e-8, 1e-12) if dtype == np.float64 else (2e-3, 1e-3)
    assert est.n_iter_ == ref.n_iter_ and est.solver_ == "mu"
    assert W.dtype == dtype and est.components_.dtype == dtype
    assert_allclose(W.compute(), W_ref, rtol=rtol, atol=scale * W_ref.max())
    assert_allclose(est.components_, ref.components_, rtol=rtol,
                    atol=scale * ref.components_.max())
    assert_allclose(est.reconstruction_err_, ref.reconstruction_err_, rtol=rtol)
    assert_allclose(est.loss_history_, ref.loss_history_, rtol=rtol)


def test_auto_on_a_dask_array_runs_mu_for_kl(client):
    X = np.random.default_rng(9).random((120, 14))
    est = NMF(3, beta_loss="kullback-leibler", random_state=0, max_iter=30)
    est.fit(da.from_array(X, chunks=(40, 14)))
    ref = NMF(3, beta_loss="kullback-leibler", solver="mu", random_state=0, max_iter=30).fit(X)
    assert est.solver_ == "mu"
    assert_allclose(est.components_, ref.components_, rtol=1e-8, atol=1e-12)


def test_nmf_on_a_dask_array_refuses_what_it_does_not_do(client, tmp_path):
    dX = da.from_array(np.random.default_rng(4).random((60, 8)), chunks=(20, 8))
    with pytest.raises(ValueError, match="solver='hals' is not supported for a Dask X"):
        NMF(2, solver="hals").fit(dX)
    with pytest.raises(ValueError, match="solver='cd' with beta_loss='kullback-leibler' is "
                                         "not supported .* use solver='mu'"):
        NMF(2, solver="cd", beta_loss="kullback-leibler").fit(dX)
    with pytest.raises(ValueError, match="n_init > 1"):
        NMF(2, init="random", n_init=2).fit(dX)
    with pytest.raises(ValueError, match="out is not supported for a Dask X"):
        NMF(2).fit_transform(dX, out=tmp_path / "W.npy")
    with pytest.raises(ValueError, match=r"mask is not supported for a Dask X: .*dask.array.where"):
        NMF(2).fit(dX, mask=np.zeros((60, 8), dtype=bool))
    assert not list(tmp_path.iterdir())


def test_transform_of_a_dask_array_runs_block_by_block(client):
    rng = np.random.default_rng(5)
    X = rng.random((150, 12))
    model = NMF(3, random_state=0, max_iter=50).fit(X)
    dX = da.from_array(X, chunks=(40, 6))
    W = model.transform(dX)
    assert isinstance(W, da.Array) and W.chunks == ((40, 40, 40, 30), (3,))
    assert_allclose(W.compute(), model.transform(X), rtol=1e-12)


def test_minibatch_nmf_reads_a_dask_array_chunk_by_chunk(client):
    from fastnmf import MiniBatchNMF

    X = np.random.default_rng(6).random((300, 10))
    kw = dict(n_components=3, batch_size=50, random_state=0, max_iter=3)
    W_mem = MiniBatchNMF(**kw).fit_transform(X)
    est = MiniBatchNMF(chunk_bytes=100 * 10 * 8, **kw)  # three chunks of two batches
    W = est.fit_transform(da.from_array(X, chunks=(70, 10)))
    assert_allclose(W, W_mem, rtol=1e-10, atol=1e-12)  # the start through X's products
    sparse = da.from_array(sp.csr_matrix(X), chunks=(100, 10), asarray=False)
    with pytest.raises(ValueError, match="sparse blocks is not supported"):
        MiniBatchNMF(**kw).fit(sparse)


def test_nmf_on_a_dask_array_of_pydata_sparse_blocks(client):
    sparse = pytest.importorskip("sparse")
    rng = np.random.default_rng(7)
    X = rng.random((120, 15))
    X[X < 0.5] = 0
    dX = da.from_array(sparse.COO.from_numpy(X), chunks=(40, 15), asarray=False)
    kw = dict(n_components=3, solver="cd", random_state=0, max_iter=20)
    est = NMF(**kw).fit(dX)
    ref = NMF(**kw).fit(sp.csr_matrix(X))
    assert_allclose(est.components_, ref.components_, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_nndsvd_start_is_made_on_the_workers(client, sparse, dtype):
    from fastnmf._init import initialize

    rng = np.random.default_rng(10)
    X = (rng.random((500, 7)) @ rng.random((7, 50)) + 0.1 * rng.random((500, 50))).astype(dtype)
    Xm, dX = dask_pair(X, 120, sparse, 0.6)
    data = DaskData.from_dask(dX, client)
    tol = 1e-12 if dtype == np.float64 else 2e-5
    for init in ("nndsvd", "nndsvda"):
        W0, H0 = initialize(Xm, 6, init, 0)
        Wd, Hd = initialize(data, 6, init, 0)
        assert isinstance(Wd, BlockFactor) and Wd.n_blocks == 5  # W never on the client
        assert Wd.dtype == dtype and Hd.dtype == dtype and Hd.flags.c_contiguous
        assert_allclose(Wd.gather(), W0, rtol=0, atol=tol * W0.max())
        assert_allclose(Hd, H0, rtol=0, atol=tol * H0.max())


def test_many_small_chunks_are_merged_into_a_few_blocks_per_thread(client):
    from fastnmf.distributed.data import BLOCKS_PER_THREAD, merge_chunks

    assert merge_chunks((5, 5, 5), 4) == (5, 5, 5)
    sizes = (7, 3, 9, 1, 5, 12, 2, 8, 4, 6, 10)
    merged = merge_chunks(sizes, 4)
    assert len(merged) <= 4 and sum(merged) == sum(sizes)
    # groups of whole consecutive chunks
    ends = set(np.cumsum(sizes).tolist())
    assert set(np.cumsum(merged).tolist()) <= ends
    X = np.random.default_rng(12).random((300, 9))
    dX = da.from_array(X, chunks=(10, 9))  # 30 chunks, 2 threads on the cluster
    data = DaskData.from_dask(dX, client)
    threads = sum(client.nthreads().values())
    assert len(data.blocks) == BLOCKS_PER_THREAD * threads
    assert data.bounds[-1] == 300 and set(data.bounds.tolist()) <= set(range(0, 301, 10))
    est = NMF(3, solver="cd", random_state=0, max_iter=20).fit(dX)
    ref = NMF(3, solver="cd", random_state=0, max_iter=20).fit(X)
    assert_allclose(est.components_, ref.components_, rtol=1e-9, atol=1e-12)
