"""solver='emu' (the default for KL and the other beta losses) returns W and H of balanced
scale, with the fit (W H, the loss history, n_iter) of the unbalanced updates.

The updates are scale-equivariant and the objective does not see how a component's scale is
split between W's column and H's row, so nothing held the split, and the over-relaxation
moved it: from digits' nndsvda start the KL fit ended with max W 3e-9 and max H 2e10 (a norm
ratio of ~1e-19).  emu now rescales each component by a power of two after every accepted
iterate (exact in floating point); the reference here is the same run with that rescaling
switched off (``balance_exponents`` returning 0), which is the solver before the fix.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_digits

import fastnmf.solvers.beta as B
from fastnmf import NMF

from .solvers.test_kl import counts

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

#: after the rescaling W[:, j] and H[j] have 2-norms within a factor 2 of each other
BOUND = np.log(2.0) + 1e-9


@pytest.fixture(scope="module")
def digits():
    return load_digits().data


@pytest.fixture(scope="module")
def sparse_counts():
    return sp.csr_matrix(counts(300, 200, r=6, density=0.3, seed=0))


@pytest.fixture
def unbalanced(monkeypatch):
    """Switches emu's rescaling off for one test: the solver as it was before the fix."""
    def switch_off():
        monkeypatch.setattr(B, "balance_exponents",
                            lambda W, Ht, frozen=None: np.zeros(W.shape[1], dtype=np.int64))
    return switch_off


def imbalance(W, H):
    """max over the components of |log(||W[:, j]|| / ||H[j]||)| (nonzero components)."""
    w, h = np.linalg.norm(W, axis=0), np.linalg.norm(H, axis=1)
    ok = (w > 0) & (h > 0)
    return float(np.max(np.abs(np.log(w[ok] / h[ok]))))


def fit(X, beta, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kw.setdefault("n_threads", 1)  # the defaults otherwise (a shared, busy test host)
        model = NMF(kw.pop("k", 8), beta_loss=beta, random_state=0, **kw)
        W = model.fit_transform(X)
    return model, W


def _x(X, beta):
    if beta == 0:  # Itakura-Saito: X without zeros
        return (X.toarray() if sp.issparse(X) else X) + 0.25
    return X


def _check_same_fit_rebalanced(model, W, ref, W_ref, exact=True):
    """The balanced fit is the reference's fit: the same iterations and loss history, the
    same W H, each component of W and H the reference's times 2**e and 2**-e."""
    H, H_ref = model.components_, ref.components_
    assert model.solver_ == ref.solver_ == "emu"
    assert model.n_iter_ == ref.n_iter_
    if exact:
        np.testing.assert_array_equal(model.loss_history_, ref.loss_history_)
    else:
        np.testing.assert_allclose(model.loss_history_, ref.loss_history_, rtol=1e-6)
    P, P_ref = W.astype(np.float64) @ H.astype(np.float64), W_ref.astype(np.float64) @ H_ref
    np.testing.assert_allclose(P, P_ref, rtol=1e-12 if exact else 1e-3,
                               atol=(1e-12 if exact else 1e-4) * P_ref.max())
    if exact:  # the reference rebalanced by powers of two, column by column
        for j in range(W.shape[1]):
            nz = W_ref[:, j] > 0
            if not nz.any():
                continue
            scale = W[nz, j] / W_ref[nz, j]
            assert np.all(scale == scale[0]) and np.log2(scale[0]) == np.rint(np.log2(scale[0]))
            np.testing.assert_array_equal(H[j], H_ref[j] / scale[0])


@pytest.mark.parametrize("beta", ["kullback-leibler", 0.5, 1.5, 0])
def test_default_fit_on_digits_is_balanced_and_the_same_fit(digits, unbalanced, beta):
    X = _x(digits, beta)
    model, W = fit(X, beta, k=10)
    assert model.solver_ == "emu"
    assert imbalance(W, model.components_) <= BOUND
    # factors of the order of X's entries (0-16), not 1e-9 and 1e10
    assert 0.1 < W.max() < 100 and 0.1 < model.components_.max() < 100
    unbalanced()
    ref, W_ref = fit(X, beta, k=10)
    if beta in ("kullback-leibler", 1.5):  # the drift the fix removes
        assert imbalance(W_ref, ref.components_) > 20
    _check_same_fit_rebalanced(model, W, ref, W_ref)


@pytest.mark.parametrize("beta", ["kullback-leibler", 0.5, 1.5, 0])
def test_default_fit_on_sparse_counts_is_balanced_and_the_same_fit(sparse_counts, unbalanced,
                                                                   beta):
    X = _x(sparse_counts, beta)
    model, W = fit(X, beta)
    assert imbalance(W, model.components_) <= BOUND
    unbalanced()
    ref, W_ref = fit(X, beta)
    assert imbalance(W_ref, ref.components_) > 1.0  # the drift the fix removes
    _check_same_fit_rebalanced(model, W, ref, W_ref)


def test_float32_keeps_its_dtype_and_is_finite_and_balanced(digits, unbalanced):
    X = digits.astype(np.float32)
    model, W = fit(X, "kullback-leibler", k=10)
    H = model.components_
    assert W.dtype == H.dtype == np.float32
    assert np.isfinite(W).all() and np.isfinite(H).all() and np.isfinite(model.loss_history_).all()
    assert imbalance(W, H) <= BOUND
    unbalanced()
    ref, W_ref = fit(X, "kullback-leibler", k=10)
    # the unbalanced float32 run pushes more of its tiny entries into subnormals: equal to
    # float32 rounding, not to the bit
    _check_same_fit_rebalanced(model, W, ref, W_ref, exact=False)


def test_sparse_float32(sparse_counts):
    model, W = fit(sparse_counts.astype(np.float32), 1.5)
    assert W.dtype == model.components_.dtype == np.float32
    assert np.isfinite(W).all() and np.isfinite(model.components_).all()
    assert imbalance(W, model.components_) <= BOUND


def test_more_iterations_stay_balanced(digits):
    """The split no longer drifts as the iterations go on (tol=0: max_iter iterations)."""
    for max_iter in (50, 400):
        model, W = fit(digits, "kullback-leibler", k=10, tol=0, max_iter=max_iter)
        assert model.n_iter_ == max_iter and imbalance(W, model.components_) <= BOUND


def test_x_read_in_chunks_is_balanced_as_in_memory(digits, tmp_path):
    """The out-of-core path runs the same rule on a chunked form of X."""
    np.save(tmp_path / "X.npy", digits)
    mm = np.load(tmp_path / "X.npy", mmap_mode="r")
    ref, W_ref = fit(digits, "kullback-leibler", k=10)
    model, W = fit(mm, "kullback-leibler", k=10, chunk_bytes=200 * 64 * 8)
    assert model.solver_ == "emu" and model.n_iter_ == ref.n_iter_
    assert imbalance(W, model.components_) <= BOUND
    np.testing.assert_allclose(W, W_ref, rtol=1e-8, atol=1e-10 * W_ref.max())
    np.testing.assert_allclose(model.components_, ref.components_, rtol=1e-8,
                               atol=1e-10 * ref.components_.max())


def test_penalty_leaves_the_split_to_the_objective(digits, unbalanced):
    """With alpha_W or alpha_H the split changes the objective: no rescaling (a penalty on
    both factors holds the scales by itself)."""
    kw = {"k": 10, "alpha_W": 0.01, "alpha_H": "same", "l1_ratio": 0.5}
    model, W = fit(digits, "kullback-leibler", **kw)
    assert imbalance(W, model.components_) < 3
    unbalanced()
    ref, W_ref = fit(digits, "kullback-leibler", **kw)
    np.testing.assert_array_equal(W, W_ref)
    np.testing.assert_array_equal(model.components_, ref.components_)


def test_frozen_components_are_not_rescaled(digits):
    model, _ = fit(digits, "kullback-leibler", k=6, max_iter=20)
    H0 = model.components_.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = NMF(6, beta_loss="kullback-leibler", solver="emu", init="custom",
                  frozen_components=[0, 2], max_iter=30)
        W = est.fit_transform(digits, W=np.full((digits.shape[0], 6), 0.5), H=H0.copy())
    np.testing.assert_array_equal(est.components_[[0, 2]], H0[[0, 2]])
    free = [1, 3, 4, 5]
    assert imbalance(W[:, free], est.components_[free]) <= BOUND


def test_transform_keeps_h(digits):
    """transform (H fixed) has no split to choose: W is the one that fits the given H."""
    model, W = fit(digits, "kullback-leibler", k=10)
    W2 = model.transform(digits)
    assert W2.dtype == W.dtype and np.isfinite(W2).all()
    P, P2 = W @ model.components_, W2 @ model.components_
    assert abs(P2.sum() / P.sum() - 1) < 0.05  # the same scale as the fit's W


def test_missing_values_do_not_run_emu(digits):
    """emu does not fit unknown entries (the default runs a masked solver there)."""
    X = digits.copy()
    X[::7, 3] = np.nan
    model, W = fit(X, "kullback-leibler", k=5, max_iter=30)
    assert model.solver_ != "emu" and np.isfinite(W).all()
    with pytest.raises(ValueError, match="does not fit missing entries"):
        fit(X, "kullback-leibler", k=5, solver="emu")
