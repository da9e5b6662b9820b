"""fastnmf.MiniBatchNMF: scikit-learn's iterates with solver='mu', online cd against a NumPy
reference of its steps, X read in chunks, checkpoints, callbacks, validation."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose
from scipy.optimize import nnls
from sklearn.decomposition import MiniBatchNMF as SkMiniBatchNMF
from sklearn.decomposition import _nmf as sk_nmf

from fastnmf import NMF, MiniBatchNMF
from fastnmf.data.chunked import CSRArrays


def _low_rank(m, n, k=4, seed=0, noise=0.01):
    rng = np.random.default_rng(seed)
    X = rng.random((m, k)) @ rng.random((k, n))
    return X + noise * rng.random((m, n))


def _loss(X, W, H):
    if sp.issparse(X):
        return 0.5 * (X.multiply(X).sum() - 2 * np.sum((X @ H.T) * W)
                      + np.sum((W.T @ W) * (H @ H.T)))
    return 0.5 * np.sum((X - W @ H) ** 2)


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=Warning)
        yield


# ------------------------------------------------------------------ solver='mu'

@pytest.mark.parametrize("beta", [2, 1, 0.5, 1.5, 3])
@pytest.mark.parametrize("sparse", [False, True])
def test_mu_is_scikit_learns_iterates(beta, sparse):
    X = _low_rank(90, 30, seed=1)
    X[X < 0.6] = 0 if beta > 0 else X[X < 0.6]
    X = sp.csr_matrix(X) if sparse else X
    kw = dict(n_components=4, batch_size=16, random_state=0, max_iter=6, beta_loss=beta,
              alpha_W=0.01, l1_ratio=0.3, forget_factor=0.6)
    ours = MiniBatchNMF(solver="mu", **kw)
    ref = SkMiniBatchNMF(**kw)
    W = ours.fit_transform(X)
    W_ref = ref.fit_transform(X)
    assert (ours.n_steps_, ours.n_iter_) == (ref.n_steps_, ref.n_iter_)
    assert_allclose(ours.components_, ref.components_, rtol=1e-9, atol=1e-12)
    assert_allclose(W, W_ref, rtol=1e-9, atol=1e-12)
    assert ours.reconstruction_err_ == pytest.approx(ref.reconstruction_err_, rel=1e-9)
    assert_allclose(ours.transform(X), ref.transform(X), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mu_fresh_restarts_and_partial_fit_follow_scikit_learn(dtype):
    X = _low_rank(60, 20, seed=2).astype(dtype)
    kw = dict(n_components=3, batch_size=20, random_state=0, max_iter=4, fresh_restarts=True,
              fresh_restarts_max_iter=7)
    ours, ref = MiniBatchNMF(solver="mu", **kw), SkMiniBatchNMF(**kw)
    W = ours.fit_transform(X)
    assert W.dtype == dtype and ours.components_.dtype == dtype
    tol = 1e-4 if dtype == np.float32 else 1e-9
    assert_allclose(W, ref.fit_transform(X), rtol=tol, atol=tol)
    # partial_fit on successive batches; scikit-learn's H is passed as a copy (its fit
    # writes into the H it is given)
    W0, H0 = sk_nmf._initialize_nmf(X, 3, init="random", random_state=0)
    a = MiniBatchNMF(3, init="custom", solver="mu")
    b = SkMiniBatchNMF(3, init="custom")
    for lo in range(0, 60, 20):
        a.partial_fit(X[lo:lo + 20], W=W0[:20], H=H0.copy())
        b.partial_fit(X[lo:lo + 20], W=W0[:20], H=H0.copy())
    assert a.n_steps_ == b.n_steps_ == 3
    assert_allclose(a.components_, b.components_, rtol=tol, atol=tol)


# ------------------------------------------------------------------ online cd

def _hals_sweeps(F, G, C, sweeps):
    """NumPy cd sweeps of ``min 0.5 F G F^T - <C, F>``, F >= 0 (columns in order)."""
    for _ in range(sweeps):
        for t in range(F.shape[1]):
            if G[t, t] > 0:
                grad = F @ G[t] - C[:, t]
                F[:, t] = np.maximum(F[:, t] - grad / G[t, t], 0)
    return F


def test_online_cd_matches_a_numpy_reference_of_its_steps():
    """Per batch: 5 cd sweeps of the batch's W from its last value, then the statistics
    A += W_b^T W_b, B += X_b^T W_b, minus the same terms of the batch's W at its last visit
    (from the second epoch on), and one cd sweep of H on them."""
    from fastnmf.online.steps import REFRESH_SWEEPS, W_SWEEPS

    X = _low_rank(70, 25, seed=3)
    W0, H0 = sk_nmf._initialize_nmf(X, 4, init="nndsvda")
    bs, epochs = 16, 3
    est = MiniBatchNMF(4, init="custom", batch_size=bs, max_iter=epochs, tol=0,
                       max_no_improvement=None)
    W = est.fit_transform(X, W=W0, H=H0)
    Wr, Ht = W0.copy(), H0.T.copy()
    A, B = np.zeros((4, 4)), np.zeros((25, 4))
    for epoch in range(epochs):
        for lo in range(0, 70, bs):
            Xb = X[lo:lo + bs]
            old = Wr[lo:lo + bs].copy()
            Wr[lo:lo + bs] = _hals_sweeps(Wr[lo:lo + bs], Ht.T @ Ht, Xb @ Ht, W_SWEEPS)
            Wb = Wr[lo:lo + bs]
            A = A + Wb.T @ Wb
            B = B + Xb.T @ Wb
            if epoch:
                A -= old.T @ old
                B -= Xb.T @ old
            Ht = _hals_sweeps(Ht, A, B, 1)
    Wr = _hals_sweeps(Wr, Ht.T @ Ht, X @ Ht, REFRESH_SWEEPS)  # the final refresh of W
    assert est.n_steps_ == epochs * 5 and est.solver_ == "cd"
    assert_allclose(est.components_, Ht.T, rtol=1e-10, atol=1e-12)
    assert_allclose(W, Wr, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("sparse", [False, True])
def test_online_cd_reaches_the_batch_loss(sparse):
    X = _low_rank(600, 80, k=5, seed=4)
    X[X < 1.0] = 0
    X = sp.csr_matrix(X) if sparse else X
    est = MiniBatchNMF(5, batch_size=64, random_state=0, max_iter=30)
    W = est.fit_transform(X)
    batch = NMF(5, random_state=0, max_iter=500, tol=1e-6)
    Wb = batch.fit_transform(X)
    ours, best = _loss(X, W, est.components_), _loss(X, Wb, batch.components_)
    assert ours <= 1.02 * best
    # far better than scikit-learn's MiniBatchNMF with the same parameters
    sk = SkMiniBatchNMF(5, batch_size=64, random_state=0, max_iter=30)
    assert ours < _loss(X, sk.fit_transform(X), sk.components_)
    assert est.reconstruction_err_ == pytest.approx(np.sqrt(2 * ours), rel=1e-8)


def test_transform_is_the_exact_nnls_solution():
    X = _low_rank(50, 12, seed=5)
    est = MiniBatchNMF(3, batch_size=10, random_state=0, max_iter=5).fit(X)
    H = est.components_
    W = est.transform(X[:7])
    for i in range(7):
        assert_allclose(W[i], nnls(H.T, X[i])[0], rtol=1e-6, atol=1e-9)


def test_online_kl_lowers_the_divergence():
    X = _low_rank(300, 40, seed=6)
    X[X < 0.8] = 0
    W0, H0 = sk_nmf._initialize_nmf(X, 4, init="nndsvda")
    d0 = sk_nmf._beta_divergence(X, W0, H0, 1)
    est = MiniBatchNMF(4, beta_loss="kullback-leibler", batch_size=50, random_state=0,
                       max_iter=20)
    W = est.fit_transform(X)
    d = sk_nmf._beta_divergence(X, W, est.components_, 1)
    sk = SkMiniBatchNMF(4, beta_loss="kullback-leibler", batch_size=50, random_state=0,
                        max_iter=20)
    d_sk = sk_nmf._beta_divergence(X, sk.fit_transform(X), sk.components_, 1)
    assert est.solver_ == "cd"
    assert d < 0.5 * d0 and d < d_sk
    assert est.reconstruction_err_ == pytest.approx(np.sqrt(2 * d), rel=1e-8)


def test_auto_runs_mu_for_other_betas():
    X = _low_rank(40, 10, seed=7)
    est = MiniBatchNMF(3, beta_loss="itakura-saito", batch_size=10, max_iter=3).fit(X)
    assert est.solver_ == "mu"
    with pytest.raises(ValueError, match="not supported by solver='cd'"):
        MiniBatchNMF(3, solver="cd", beta_loss=0.5).fit(X)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_kept_and_inputs_not_modified(dtype):
    X = _low_rank(40, 12, seed=8).astype(dtype)
    W0, H0 = (a.astype(dtype) for a in sk_nmf._initialize_nmf(X, 3, init="random",
                                                                random_state=0))
    copies = [a.copy() for a in (X, W0, H0)]
    est = MiniBatchNMF(3, init="custom", batch_size=8, max_iter=3)
    W = est.fit_transform(X, W=W0, H=H0)
    for a, b in zip((X, W0, H0), copies):
        assert_allclose(a, b, rtol=0, atol=0)
    assert W.dtype == dtype and est.components_.dtype == dtype
    assert est.transform(X).dtype == dtype


# ------------------------------------------------------------------ chunked X

@pytest.mark.parametrize("solver", ["cd", "mu"])
def test_memmap_and_csr_arrays_give_the_in_memory_fit(tmp_path, solver):
    X = _low_rank(200, 30, seed=9)
    np.save(tmp_path / "X.npy", X)
    mm = np.load(tmp_path / "X.npy", mmap_mode="r")
    kw = dict(n_components=4, batch_size=32, random_state=0, max_iter=3, solver=solver,
              tol=0, max_no_improvement=None)
    ref = MiniBatchNMF(**kw)
    W_ref = ref.fit_transform(X)
    # chunks of 3 batches (rounded to whole batches): the same batches, read in 3 chunks
    est = MiniBatchNMF(chunk_bytes=100 * 30 * 8, **kw)
    W = est.fit_transform(mm)
    assert_allclose(W, W_ref, rtol=1e-12, atol=1e-14)
    assert_allclose(est.components_, ref.components_, rtol=1e-12, atol=1e-14)
    assert est.reconstruction_err_ == pytest.approx(ref.reconstruction_err_, rel=1e-12)
    assert_allclose(est.transform(mm), ref.transform(X), rtol=1e-10, atol=1e-12)
    Xs = sp.csr_matrix(np.where(X > 1.2, X, 0))
    arrays = CSRArrays(Xs.data, Xs.indices, Xs.indptr, Xs.shape)
    for beta in ("frobenius", "kullback-leibler"):
        kw["beta_loss"] = beta
        a = MiniBatchNMF(chunk_bytes=2000, **kw)
        b = MiniBatchNMF(**kw)
        assert_allclose(a.fit_transform(arrays), b.fit_transform(Xs), rtol=1e-10, atol=1e-12)
        assert a.reconstruction_err_ == pytest.approx(b.reconstruction_err_, rel=1e-10)


# ------------------------------------------------------------------ checkpoints, callback

def test_checkpoint_resumes_where_the_fit_stopped(tmp_path):
    X = _low_rank(120, 20, seed=10)
    kw = dict(n_components=3, batch_size=25, random_state=0, tol=0, max_no_improvement=None)
    straight = MiniBatchNMF(max_iter=4, **kw)
    W_straight = straight.fit_transform(X)
    path = tmp_path / "fit.npz"
    calls = []

    def stop_after_two(info):
        calls.append(info.iteration)
        return info.iteration < 2

    MiniBatchNMF(max_iter=4, checkpoint=path, callback=stop_after_two, **kw).fit(X)
    assert calls == [1, 2] and path.exists()
    assert not list(tmp_path.glob("*.tmp"))
    resumed = MiniBatchNMF(max_iter=4, checkpoint=path, **kw)
    W = resumed.fit_transform(X)
    assert resumed.n_iter_ == 4 and resumed.n_steps_ == straight.n_steps_
    assert_allclose(resumed.components_, straight.components_, rtol=1e-12, atol=1e-14)
    assert_allclose(W, W_straight, rtol=1e-12, atol=1e-14)
    assert len(resumed.loss_history_) == 4
    # a finished fit's checkpoint gives its result at once
    again = MiniBatchNMF(max_iter=4, checkpoint=path, **kw)
    assert_allclose(again.fit_transform(X), W_straight, rtol=1e-12, atol=1e-14)
    # another fit's checkpoint is refused, naming what differs
    with pytest.raises(ValueError, match=r"written by another fit: n_components=3"):
        MiniBatchNMF(4, batch_size=25, checkpoint=path).fit(X)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="is not a fastnmf checkpoint"):
        MiniBatchNMF(3, checkpoint=bad).fit(X)


def test_callback_sees_each_epoch_and_progress_bar(capsys):
    X = _low_rank(100, 15, seed=11)
    seen = []
    est = MiniBatchNMF(3, batch_size=20, max_iter=3, tol=0, max_no_improvement=None,
                       callback=lambda info: seen.append((info.iteration, info.W.shape,
                                                          info.H.shape, info.W.flags.writeable)),
                       progress=True)
    est.fit(X)
    assert seen == [(e, (100, 3), (3, 15), False) for e in (1, 2, 3)]
    assert "fastnmf minibatch cd" in capsys.readouterr().err
    assert est.loss_history_.shape == (3,) and np.all(np.diff(est.time_history_) > 0)


# ------------------------------------------------------------------ validation

@pytest.mark.parametrize("params, error, match", [
    (dict(batch_size=0), ValueError, "batch_size must be an int >= 1; got 0"),
    (dict(batch_size=2.5), TypeError, "batch_size must be an int >= 1; got 2.5"),
    (dict(solver="hals"), ValueError, r"solver must be one of \['auto', 'cd', 'mu'\]"),
    (dict(forget_factor=1.5), ValueError, r"forget_factor must be a real number in \[0.0, 1.0\]"),
    (dict(max_no_improvement=0), ValueError, "max_no_improvement must be an int >= 1 or None"),
    (dict(checkpoint=3), TypeError, "checkpoint must be None or a file path; got 3"),
    (dict(callback=5), TypeError, "callback must be None or a callable"),
    (dict(progress="yes"), TypeError, "progress must be a bool"),
])
def test_bad_parameters_are_named(params, error, match):
    with pytest.raises(error, match=match):
        MiniBatchNMF(2, **params).fit(_low_rank(20, 5))


def test_bad_data_is_refused_before_anything_is_written(tmp_path):
    X = _low_rank(20, 5)
    X[3, 2] = np.nan
    path = tmp_path / "fit.npz"
    with pytest.raises(ValueError, match="itakura-saito|-1.0 with unknown entries"):
        MiniBatchNMF(2, checkpoint=path, beta_loss=-1.0).fit(X)
    X[3, 2] = -1
    with pytest.raises(ValueError, match="non-negative"):
        MiniBatchNMF(2, checkpoint=path).fit(X)
    assert not path.exists()
    Z = _low_rank(20, 5)
    Z[0, 0] = 0
    with pytest.raises(ValueError, match="When beta_loss <= 0 and X contains zeros"):
        MiniBatchNMF(2, beta_loss="itakura-saito").fit(Z)
    est = MiniBatchNMF(2, batch_size=5, max_iter=2).fit(_low_rank(20, 5))
    with pytest.raises(ValueError, match="5 features"):
        est.transform(_low_rank(4, 6))
    with pytest.raises(ValueError, match=r"must have shape \(n_samples, 2\)"):
        est.inverse_transform(np.ones((3, 3)))


@pytest.mark.parametrize("beta", [2, 1, 0.5])
def test_fortran_ordered_x_gives_the_c_ordered_fit(beta):
    X = np.asfortranarray(_low_rank(150, 30, seed=12))
    kw = dict(n_components=4, batch_size=40, random_state=0, max_iter=4, beta_loss=beta)
    a = MiniBatchNMF(**kw).fit(X)
    b = MiniBatchNMF(**kw).fit(np.ascontiguousarray(X))
    assert_allclose(a.components_, b.components_, rtol=1e-9, atol=1e-12)
    assert_allclose(a.transform(X), b.transform(np.ascontiguousarray(X)), rtol=1e-9,
                    atol=1e-12)


# ------------------------------------------------------------------ out=

@pytest.mark.parametrize("missing", [False, True])
def test_out_path_holds_w_during_the_fit_and_equals_the_in_memory_fit(tmp_path, missing):
    X = _low_rank(90, 12, seed=4)
    if missing:
        X[3, 4] = X[50, 0] = np.nan
    kw = dict(n_components=3, batch_size=20, random_state=0, max_iter=4)
    W_mem = MiniBatchNMF(**kw).fit_transform(X)
    seen = []
    path = tmp_path / "W.npy"

    def callback(info):  # during the fit: the file is not at its path yet
        seen.append(path.exists())

    est = MiniBatchNMF(callback=callback, **kw)
    W = est.fit_transform(X, out=path)
    assert isinstance(W, np.memmap) and seen and not any(seen)
    assert_allclose(np.asarray(W), W_mem, rtol=1e-12)
    assert_allclose(np.load(path), W_mem, rtol=1e-12)
    assert not list(tmp_path.glob("*.tmp"))
    # transform into a caller's array (a memmap of X's dtype)
    dst = np.lib.format.open_memmap(tmp_path / "T.npy", mode="w+", shape=(90, 3))
    got = est.transform(X, out=dst)
    assert got is dst
    assert_allclose(np.asarray(dst), est.transform(X), rtol=1e-12)


def test_out_with_fresh_restarts_and_chunked_x(tmp_path):
    X = _low_rank(120, 10, seed=6)
    mm = np.lib.format.open_memmap(tmp_path / "X.npy", mode="w+", shape=X.shape)
    mm[...] = X
    kw = dict(n_components=3, batch_size=30, random_state=0, max_iter=3, fresh_restarts=True)
    W_mem = MiniBatchNMF(**kw).fit_transform(X)
    W = MiniBatchNMF(chunk_bytes=60 * 10 * 8, **kw).fit_transform(mm, out=tmp_path / "W.npy")
    assert_allclose(np.asarray(W), W_mem, rtol=1e-10)


def test_out_errors_leave_no_file(tmp_path):
    X = _low_rank(40, 8)
    path = tmp_path / "W.npy"
    path.write_bytes(b"keep")

    def stop(info):
        raise RuntimeError("stopped")

    with pytest.raises(RuntimeError, match="stopped"):
        MiniBatchNMF(2, batch_size=10, callback=stop).fit_transform(X, out=path)
    assert path.read_bytes() == b"keep" and not list(tmp_path.glob("*.tmp"))
    with pytest.raises(ValueError, match=r"out must have shape \(40, 2\)"):
        MiniBatchNMF(2, batch_size=10).fit_transform(X, out=np.empty((40, 3)))
    with pytest.raises(ValueError, match="out must have dtype float64"):
        MiniBatchNMF(2, batch_size=10).fit_transform(X, out=np.empty((40, 2), np.float32))
    with pytest.raises(TypeError, match="out must be None, a file path"):
        MiniBatchNMF(2, batch_size=10).fit_transform(X, out=[1, 2])
