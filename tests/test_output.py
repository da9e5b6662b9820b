"""``out``: W written to a .npy file (a memmap returned) or into a caller's array."""

import os
import pathlib

import numpy as np
import pytest

from fastnmf import NMF, non_negative_factorization
from fastnmf.data.output import WOutput, write_rows

from .conftest import low_rank

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

M, N, K = 60, 25, 4


def _X(dtype=np.float64):
    return low_rank(M, N, K, seed=1, dtype=dtype)


def _est(**kw):
    return NMF(K, random_state=0, max_iter=30, **kw)


def _leftovers(directory):
    return sorted(p.name for p in pathlib.Path(directory).iterdir() if p.name.endswith(".tmp"))


# --------------------------------------------------------------------- a path
@pytest.mark.parametrize("as_pathlike", [False, True], ids=["str", "pathlike"])
def test_path_out_is_the_in_memory_W_as_a_memmap(tmp_path, as_pathlike):
    X = _X()
    W_ref = _est().fit_transform(X)
    path = tmp_path / "W.npy"
    est = _est()
    W = est.fit_transform(X, out=path if as_pathlike else str(path))
    assert isinstance(W, np.memmap)
    assert W.shape == (M, K) and W.dtype == np.float64
    np.testing.assert_array_equal(W, W_ref)
    np.testing.assert_array_equal(np.load(path), W_ref)
    assert est.W_ is W
    assert os.path.samefile(W.filename, path)
    assert _leftovers(tmp_path) == []
    # the memmap is opened r+: it writes through to the file
    W[0, 0] = 123.0
    W.flush()
    assert np.load(path)[0, 0] == 123.0


def test_path_out_float32(tmp_path):
    X = _X(np.float32)
    W_ref = _est().fit_transform(X)
    W = _est().fit_transform(X, out=tmp_path / "W32.npy")
    assert W.dtype == np.float32 and np.load(tmp_path / "W32.npy").dtype == np.float32
    np.testing.assert_array_equal(W, W_ref)


def test_path_out_replaces_an_existing_file(tmp_path):
    path = tmp_path / "W.npy"
    np.save(path, np.arange(3.0))
    W = _est().fit_transform(_X(), out=path)
    np.testing.assert_array_equal(np.load(path), W)
    assert _leftovers(tmp_path) == []


def test_fit_with_out_sets_W_(tmp_path):
    est = _est().fit(_X(), out=tmp_path / "W.npy")
    assert isinstance(est.W_, np.memmap)
    np.testing.assert_array_equal(est.W_, _est().fit_transform(_X()))


# ------------------------------------------------------------------ an array
@pytest.mark.parametrize("kind", ["ndarray", "memmap"])
def test_array_out_is_filled_and_returned(tmp_path, kind):
    X = _X()
    W_ref = _est().fit_transform(X)
    if kind == "ndarray":
        out = np.full((M, K), -1.0)
    else:
        out = np.lib.format.open_memmap(tmp_path / "given.npy", mode="w+", dtype=np.float64,
                                        shape=(M, K))
    est = _est()
    W = est.fit_transform(X, out=out)
    assert W is out and est.W_ is out
    np.testing.assert_array_equal(out, W_ref)
    if kind == "memmap":  # flushed
        np.testing.assert_array_equal(np.load(tmp_path / "given.npy"), W_ref)


def test_transform_with_out(tmp_path):
    X = _X()
    for solver in ("auto", "cd", "mu"):  # the exact NNLS path and the iterative one
        est = _est(solver=solver).fit(X)
        W_ref = est.transform(X)
        out = np.empty((M, K))
        assert est.transform(X, out=out) is out
        np.testing.assert_array_equal(out, W_ref)
        W = est.transform(X, out=tmp_path / f"T_{solver}.npy")
        assert isinstance(W, np.memmap)
        np.testing.assert_array_equal(W, W_ref)
        np.testing.assert_array_equal(np.load(tmp_path / f"T_{solver}.npy"), W_ref)


def test_non_negative_factorization_with_out(tmp_path):
    X = _X()
    W_ref, H_ref, n_ref = non_negative_factorization(X, n_components=K, random_state=0,
                                                     max_iter=30)
    W, H, n_iter = non_negative_factorization(X, n_components=K, random_state=0, max_iter=30,
                                              out=tmp_path / "W.npy")
    assert isinstance(W, np.memmap) and n_iter == n_ref
    np.testing.assert_array_equal(W, W_ref)
    np.testing.assert_array_equal(H, H_ref)
    out = np.empty((M, K))
    W2, _, _ = non_negative_factorization(X, None, H_ref, K, update_H=False, out=out)
    assert W2 is out
    np.testing.assert_array_equal(out, non_negative_factorization(X, None, H_ref, K,
                                                                  update_H=False)[0])


def test_warm_start_keeps_working_with_out(tmp_path):
    X = _X()
    ref = _est(warm_start=True)
    ref.fit(X)
    W_ref = ref.fit_transform(X)
    est = _est(warm_start=True)
    W1 = est.fit_transform(X, out=tmp_path / "W1.npy")
    W1[:] = 0.0  # the caller's file: the next fit starts from the fit's own W, not this
    W2 = est.fit_transform(X, out=tmp_path / "W2.npy")
    np.testing.assert_array_equal(W2, W_ref)


def test_out_with_missing_entries(tmp_path):
    X = _X()
    X[3, 4] = X[10, 0] = np.nan
    W_ref = _est().fit_transform(X)
    W = _est().fit_transform(X, out=tmp_path / "W.npy")
    np.testing.assert_array_equal(W, W_ref)


def test_X_read_in_chunks_with_path_out(tmp_path):
    m, n = 300, 40
    rng = np.random.default_rng(3)
    X = rng.random((m, 5)) @ rng.random((5, n))
    mm = np.lib.format.open_memmap(tmp_path / "X.npy", mode="w+", dtype=np.float64,
                                   shape=(m, n))
    mm[:] = X
    mm.flush()
    Xm = np.load(tmp_path / "X.npy", mmap_mode="r")
    assert Xm.nbytes > 4096
    kw = {"n_components": 5, "random_state": 0, "max_iter": 20, "chunk_bytes": 4096}
    W_chunked = NMF(**kw).fit_transform(Xm)
    W = NMF(**kw).fit_transform(Xm, out=tmp_path / "W.npy")
    assert isinstance(W, np.memmap)
    np.testing.assert_array_equal(W, W_chunked)
    W_mem = NMF(**{**kw, "chunk_bytes": None}).fit_transform(X)
    np.testing.assert_allclose(W, W_mem, rtol=1e-8, atol=1e-10 * W_mem.max())
    np.testing.assert_array_equal(np.load(tmp_path / "W.npy"), W)
    assert _leftovers(tmp_path) == []


# ------------------------------------------------------------------- errors
class Boom(Exception):
    pass


def _raise_at_3(info):
    if info.iteration >= 3:
        raise Boom()


def test_an_error_in_the_fit_leaves_no_file(tmp_path):
    path = tmp_path / "W.npy"
    seen = []

    def callback(info):
        seen.append((path.exists(), _leftovers(tmp_path)))
        _raise_at_3(info)

    with pytest.raises(Boom):
        _est(callback=callback).fit_transform(_X(), out=path)
    # while the fit ran: a temporary file beside the path, nothing at the path
    assert seen and all(not exists and len(tmp) == 1 and tmp[0].startswith("W.npy.")
                        and tmp[0].endswith(".npy.tmp") for exists, tmp in seen)
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []


def test_an_error_in_the_fit_leaves_an_existing_file_as_it_was(tmp_path):
    path = tmp_path / "W.npy"
    path.write_bytes(b"previous content")
    est = _est(callback=_raise_at_3)
    with pytest.raises(Boom):
        est.fit_transform(_X(), out=path)
    assert path.read_bytes() == b"previous content"
    assert [p.name for p in tmp_path.iterdir()] == ["W.npy"]
    with pytest.raises(Boom):
        non_negative_factorization(_X(), n_components=K, callback=_raise_at_3, out=path)
    assert path.read_bytes() == b"previous content"
    assert [p.name for p in tmp_path.iterdir()] == ["W.npy"]


def test_an_error_in_the_fit_leaves_an_array_out_untouched():
    out = np.full((M, K), 7.0)
    with pytest.raises(Boom):
        _est(callback=_raise_at_3).fit_transform(_X(), out=out)
    assert (out == 7.0).all()


def test_a_missing_directory_is_a_clear_error(tmp_path):
    path = tmp_path / "no_such_dir" / "W.npy"
    with pytest.raises(FileNotFoundError, match="out="):
        _est().fit_transform(_X(), out=path)
    with pytest.raises(ValueError, match="out must be a file path.*directory"):
        _est().fit_transform(_X(), out=tmp_path)


@pytest.mark.parametrize("shape", [(M, K + 1), (M - 1, K), (M * K,)])
def test_wrong_shape_names_out(shape):
    with pytest.raises(ValueError, match=r"out must have shape \(60, 4\).*got shape"):
        _est().fit_transform(_X(), out=np.empty(shape))


def test_wrong_dtype_names_out():
    with pytest.raises(ValueError, match="out must have dtype float64.*got dtype float32"):
        _est().fit_transform(_X(), out=np.empty((M, K), dtype=np.float32))
    with pytest.raises(ValueError, match="out must have dtype float32.*got dtype float64"):
        _est().fit_transform(_X(np.float32), out=np.empty((M, K)))
    est = _est().fit(_X())
    with pytest.raises(ValueError, match="out must have dtype float64"):
        est.transform(_X(), out=np.empty((M, K), dtype=np.float32))


def test_read_only_out_is_an_error():
    out = np.empty((M, K))
    out.flags.writeable = False
    with pytest.raises(ValueError, match="out must be a writeable array"):
        _est().fit_transform(_X(), out=out)


@pytest.mark.parametrize("bad", [[[0.0] * K] * M, 3, b"W.npy"])
def test_wrong_type_names_out(bad):
    with pytest.raises(TypeError, match="out must be None, a file path"):
        _est().fit_transform(_X(), out=bad)
    with pytest.raises(TypeError, match="out must be None"):
        non_negative_factorization(_X(), n_components=K, out=bad)


def test_out_may_not_share_memory_with_X(tmp_path):
    big = low_rank(M, N + K, K, seed=1)
    X, out = big[:, :N], big[:, N:]
    with pytest.raises(ValueError, match="out must not share memory with X"):
        _est().fit_transform(X, out=out)
    Xm = np.lib.format.open_memmap(tmp_path / "X.npy", mode="w+", dtype=np.float64,
                                   shape=(M, N))
    Xm[:] = _X()
    with pytest.raises(ValueError, match="is the file X is read from"):
        _est().fit_transform(Xm, out=tmp_path / "X.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "X.npy"), _X())


# ------------------------------------------------------- the class itself
def test_woutput_batch_by_batch(tmp_path):
    path = tmp_path / "W.npy"
    W = np.arange(40.0).reshape(10, 4)
    o = WOutput.open(path, W.shape, W.dtype)
    try:
        assert not path.exists() and len(_leftovers(tmp_path)) == 1
        for lo in range(0, 10, 3):
            o.array[lo:lo + 3] = W[lo:lo + 3]
        result = o.finish()
    except BaseException:
        o.abort()
        raise
    np.testing.assert_array_equal(result, W)
    np.testing.assert_array_equal(np.load(path), W)
    assert _leftovers(tmp_path) == []


def test_woutput_context_manager_aborts(tmp_path):
    path = tmp_path / "W.npy"
    with pytest.raises(Boom), WOutput.open(path, (5, 2), np.float32) as o:
        o.array[:] = 1.0
        raise Boom()
    assert list(tmp_path.iterdir()) == []
    with WOutput.open(path, (5, 2), np.float32) as o:
        o.write(slice(None), 2.0)
    assert isinstance(o.result, np.memmap) and (np.load(path) == 2.0).all()
    assert np.load(path).dtype == np.float32


def test_woutput_none_is_a_new_array():
    with WOutput.open(None, (3, 2), np.float64) as o:
        o.array[:] = 5.0
    assert type(o.result) is np.ndarray and (o.result == 5.0).all()


def test_write_rows_in_chunks():
    src = np.arange(1000.0).reshape(100, 10)
    for step in (1, 7, 10, 95, 10 ** 6):
        dst = np.zeros_like(src)
        assert write_rows(dst, src, step) is dst
        np.testing.assert_array_equal(dst, src)
    with pytest.raises(ValueError):
        write_rows(np.zeros((3, 2)), np.zeros((2, 3)))
