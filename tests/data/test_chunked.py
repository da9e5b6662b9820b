"""X read in chunks (fastnmf.data.chunked): the same fit as in memory, one chunk at a time."""

import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose

from fastnmf import NMF, engine, non_negative_factorization
from fastnmf.data.chunked import CSRArrays, RowBlocks, chunked


def _low_rank(m=900, n=120, r=6, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.random((m, r)) @ rng.random((r, n)) + 0.01 * rng.random((m, n))
    return X.astype(dtype)


def _sources(X, tmp_path):
    """The same X held every way it can be read in chunks."""
    path = tmp_path / "X.npy"
    np.save(path, X)
    out = {"memmap": np.load(path, mmap_mode="r"),
           "blocks": RowBlocks([X[i:i + 170] for i in range(0, X.shape[0], 170)])}
    h5py = pytest.importorskip("h5py")
    f = h5py.File(tmp_path / "X.h5", "w")
    f["X"] = X
    out["hdf5"] = f["X"]
    zarr = pytest.importorskip("zarr")
    z = zarr.create_array(store=str(tmp_path / "X.zarr"), shape=X.shape, chunks=(128, X.shape[1]),
                          dtype=X.dtype)
    z[:] = X
    out["zarr"] = z
    return out


def _fit(X, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = NMF(random_state=0, **kw)
        W = est.fit_transform(X)
    return est, W


@pytest.mark.parametrize("solver", ["auto", "cd", "hals", "mu", "als"])
def test_every_source_gives_the_in_memory_fit(solver, tmp_path):
    X = _low_rank()
    ref, W_ref = _fit(X, n_components=6, solver=solver, max_iter=40)
    # about 100 rows a chunk: nine chunks, a partial last one
    for name, src in _sources(X, tmp_path).items():
        est, W = _fit(src, n_components=6, solver=solver, max_iter=40,
                      chunk_bytes=100 * X.shape[1] * 8)
        assert est.n_iter_ == ref.n_iter_ and est.solver_ == ref.solver_, name
        np.testing.assert_allclose(W, W_ref, rtol=1e-9, atol=1e-11 * W_ref.max(), err_msg=name)
        np.testing.assert_allclose(est.components_, ref.components_, rtol=1e-9,
                                   atol=1e-11 * ref.components_.max(), err_msg=name)
        assert est.reconstruction_err_ == pytest.approx(ref.reconstruction_err_, rel=1e-10)


@pytest.mark.parametrize("beta", ["kullback-leibler", 1.5])
def test_beta_losses_read_in_chunks(beta, tmp_path):
    X = _low_rank(500, 80)
    ref, W_ref = _fit(X, n_components=5, beta_loss=beta, max_iter=30)
    mm = _sources(X, tmp_path)["memmap"]
    est, W = _fit(mm, n_components=5, beta_loss=beta, max_iter=30, chunk_bytes=64 * 80 * 8)
    assert est.solver_ == ref.solver_ and est.solver_ in ("mu", "emu")
    np.testing.assert_allclose(W, W_ref, rtol=1e-8, atol=1e-10 * W_ref.max())
    assert est.reconstruction_err_ == pytest.approx(ref.reconstruction_err_, rel=1e-9)


def test_sparse_csr_arrays_on_disk(tmp_path):
    X = sp.random(1500, 300, density=0.03, format="csr", random_state=2)
    for name in ("data", "indices", "indptr"):
        np.save(tmp_path / f"{name}.npy", getattr(X, name))
    arrays = CSRArrays(*(np.load(tmp_path / f"{n}.npy", mmap_mode="r")
                         for n in ("data", "indices", "indptr")), shape=X.shape)
    for solver in ("auto", "cd", "mu"):
        ref, W_ref = _fit(X, n_components=6, solver=solver, max_iter=30)
        est, W = _fit(arrays, n_components=6, solver=solver, max_iter=30, chunk_bytes=20000)
        np.testing.assert_allclose(W, W_ref, rtol=1e-9, atol=1e-11 * W_ref.max())
        assert est.reconstruction_err_ == pytest.approx(ref.reconstruction_err_, rel=1e-10)
    blocks = RowBlocks([X[i:i + 400] for i in range(0, 1500, 400)])
    est, W = _fit(blocks, n_components=6, solver="cd", max_iter=30)
    ref, W_ref = _fit(X, n_components=6, solver="cd", max_iter=30)
    np.testing.assert_allclose(W, W_ref, rtol=1e-9, atol=1e-11 * W_ref.max())


def test_float32_starts_transform_and_the_function(tmp_path):
    X = _low_rank(dtype=np.float32)
    mm = _sources(X, tmp_path)["memmap"]
    for init in ("nndsvda", "random", "nndsvd"):
        ref, W_ref = _fit(X, n_components=6, init=init, max_iter=20)
        est, W = _fit(mm, n_components=6, init=init, max_iter=20, chunk_bytes=1 << 16)
        assert W.dtype == np.float32
        np.testing.assert_allclose(W, W_ref, rtol=2e-4, atol=1e-5 * W_ref.max())
    np.testing.assert_allclose(est.transform(mm), est.transform(X), rtol=1e-4,
                               atol=1e-5 * W_ref.max())
    W, H, n_iter = non_negative_factorization(mm, n_components=6, random_state=0,
                                              max_iter=20, chunk_bytes=1 << 16)
    assert W.shape == (900, 6) and H.shape == (6, 120)
    sol = engine.solve(mm, W_ref, ref.components_, solver="hals", max_iter=5)
    assert np.isfinite(sol.error)


def test_chunked_x_errors(tmp_path):
    X = _low_rank(200, 30)
    bad = X.copy()
    bad[150, 3] = np.nan
    np.save(tmp_path / "bad.npy", bad)
    with pytest.raises(ValueError, match=r"finite values when it is read in chunks.*rows 128:200"):
        NMF(3, chunk_bytes=128 * 30 * 8).fit(np.load(tmp_path / "bad.npy", mmap_mode="r"))
    neg = X.copy()
    neg[10, 2] = -1.0
    with pytest.raises(ValueError, match="must be non-negative; found -1.0 in rows 0:"):
        NMF(3).fit(RowBlocks([neg]))
    mm = _sources(X, tmp_path)["memmap"]
    small = 64 * 30 * 8  # X is larger: read in chunks
    with pytest.raises(ValueError, match="not supported when X is read in chunks"):
        NMF(3, missing="unobserved", chunk_bytes=small).fit(mm)
    with pytest.raises(ValueError, match=r"needs kl_sweep, which chunked data does not have"):
        NMF(3, beta_loss="kullback-leibler", solver="cd", chunk_bytes=small).fit(mm)
    with pytest.raises(ValueError, match="chunk_bytes must be None or an int >= 1"):
        NMF(3, chunk_bytes=0).fit(mm)
    with pytest.raises(TypeError, match="RowBlocks needs a re-iterable"):
        RowBlocks(b for b in [X])
    with pytest.raises(ValueError, match="every row block must have 30 columns"):
        RowBlocks([X, X[:, :5]])
    with pytest.raises(ValueError, match="indptr must have n_samples \\+ 1"):
        CSRArrays(np.ones(3), np.zeros(3, int), np.array([0, 3]), (2, 4))
    # 'auto' with the KL loss leaves out the cd, which needs the columns
    est, _ = _fit(mm, n_components=3, beta_loss="kullback-leibler", max_iter=5)
    assert est.solver_ in ("mu", "emu")


def test_chunked_reads_never_modify_the_source(tmp_path):
    X = _low_rank(300, 40)
    srcs = _sources(X, tmp_path)
    _fit(srcs["memmap"], n_components=4, max_iter=10, chunk_bytes=4096)
    np.testing.assert_array_equal(np.load(tmp_path / "X.npy"), X)
    data = chunked(srcs["zarr"], 4096)
    assert data.norm2() == pytest.approx(float(np.sum(X ** 2)), rel=1e-12)
    assert data.stored_entries() == np.count_nonzero(X) and data.chunk_rows == 12


def test_a_memmap_fit_holds_a_chunk_not_x(tmp_path):
    """Peak memory of a fit on a 160 MB memmap read 8 MB at a time, in a fresh process: far
    below X (the pages of the memmap read are released after each piece)."""
    path = tmp_path / "big.npy"
    m, n = 20000, 1000
    X = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=(m, n))
    rng = np.random.default_rng(0)
    for lo in range(0, m, 2000):
        X[lo:lo + 2000] = rng.random((2000, 5)) @ rng.random((5, n))
    X.flush()
    del X
    code = textwrap.dedent(f"""
        import numpy as np, warnings
        warnings.simplefilter("ignore")
        from fastnmf import NMF

        def status(key):
            for line in open("/proc/self/status"):
                if line.startswith(key):
                    return int(line.split()[1]) / 1024

        X = np.load({str(path)!r}, mmap_mode="r")
        NMF(3, max_iter=2).fit(np.random.rand(60, 40))  # warm: libraries, threads
        open("/proc/self/clear_refs", "w").write("5")
        before = status("VmRSS")
        NMF(5, max_iter=5, random_state=0, chunk_bytes=8 << 20).fit(X)
        print(status("VmHWM") - before)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=600)
    if out.returncode != 0 and "clear_refs" in out.stderr:
        pytest.skip("no /proc/self/clear_refs here to measure peak memory")
    assert out.returncode == 0, out.stderr
    growth = float(out.stdout.strip().splitlines()[-1])
    assert growth < 60, f"peak RSS grew by {growth:.0f} MB for a 160 MB X read 8 MB at a time"


def test_x_that_fits_in_a_chunk_is_fitted_in_memory(tmp_path):
    """A memmap (or CSR arrays) no larger than chunk_bytes is read whole: every solver
    applies (the KL coordinate descent reads columns) and the fit is the in-memory one."""
    X = _low_rank(120, 40)
    srcs = _sources(X, tmp_path)
    kw = dict(n_components=4, beta_loss="kullback-leibler", solver="cd", max_iter=15,
              random_state=0)
    ref = NMF(**kw).fit_transform(X)
    for name in ("memmap", "h5py", "zarr"):
        if name in srcs:
            assert_allclose(NMF(**kw).fit_transform(srcs[name]), ref, rtol=1e-12, atol=0)
    Xs = sp.random(120, 40, density=0.2, format="csr", random_state=1)
    arrays = CSRArrays(Xs.data, Xs.indices, Xs.indptr, Xs.shape)
    assert_allclose(NMF(**kw).fit_transform(arrays), NMF(**kw).fit_transform(Xs),
                    rtol=1e-12, atol=0)


@pytest.mark.parametrize("compressed", [False, True])
def test_csr_from_a_save_npz_file(tmp_path, compressed):
    X = sp.random(400, 60, density=0.05, format="csr", random_state=3)
    path = tmp_path / "X.npz"
    sp.save_npz(path, X, compressed=compressed)
    arrays = CSRArrays.from_npz(path)
    # uncompressed members are mapped inside the file, not loaded
    assert isinstance(arrays.data, np.memmap) is (not compressed)
    kw = dict(n_components=4, random_state=0, max_iter=15)
    W = NMF(chunk_bytes=3000, **kw).fit_transform(arrays)
    assert_allclose(W, NMF(**kw).fit_transform(X), rtol=1e-10, atol=1e-12)
    sp.save_npz(tmp_path / "C.npz", X.tocsc())
    with pytest.raises(ValueError, match="holds a 'csc' matrix"):
        CSRArrays.from_npz(tmp_path / "C.npz")
    np.savez(tmp_path / "other.npz", a=np.ones(3))
    with pytest.raises(ValueError, match="is not a scipy.sparse.save_npz file"):
        CSRArrays.from_npz(tmp_path / "other.npz")


def test_csr_from_an_anndata_file(tmp_path):
    anndata = pytest.importorskip("anndata")
    h5py = pytest.importorskip("h5py")
    X = sp.random(300, 50, density=0.1, format="csr", random_state=4, dtype=np.float32)
    anndata.AnnData(X).write_h5ad(tmp_path / "cells.h5ad")
    kw = dict(n_components=3, random_state=0, max_iter=15)
    ref = NMF(**kw).fit_transform(X)
    with h5py.File(tmp_path / "cells.h5ad", "r") as f:
        arrays = CSRArrays.from_group(f["X"])
        assert arrays.shape == (300, 50)
        W = NMF(chunk_bytes=2000, **kw).fit_transform(arrays)
    assert W.dtype == np.float32
    assert_allclose(W, ref, rtol=1e-4, atol=1e-5)
    anndata.AnnData(X.tocsc()).write_h5ad(tmp_path / "csc.h5ad")
    with h5py.File(tmp_path / "csc.h5ad", "r") as f:
        with pytest.raises(ValueError, match="holds a 'csc_matrix'"):
            CSRArrays.from_group(f["X"])
