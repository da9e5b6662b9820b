"""The solver suite (hals, pgd, als next to cd and mu) and the controls of a fit:
solver='auto', regularization, n_init, callback, logging, progress, frozen
components, exact transform, warm_start."""

import logging
import warnings

import numpy as np
import pytest
import scipy.optimize
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from fastnmf import NMF, IterationInfo, non_negative_factorization
from fastnmf._init import initialize

from ..conftest import low_rank

FRO_SOLVERS = ["cd", "hals", "ehals", "pgd", "als", "mu"]
MONOTONE = ["cd", "hals", "pgd", "als", "mu"]  # ehals: extrapolation can raise the loss once


def noisy(m=60, n=45, r=4, seed=0, dtype=np.float64):
    return low_rank(m, n, r, seed=seed, noise=0.01, dtype=dtype)


def custom(X, k, seed=0):
    """A random start, passed to ``fit`` as ``start`` (``init='custom'``)."""
    W, H = initialize(X, k, "random", seed)
    return dict(W=W, H=H)


def rel_error(X, W, H):
    X = X.toarray() if sp.issparse(X) else X
    return np.linalg.norm(X - W @ H) / np.linalg.norm(X)


def fit(X, k=4, start=None, **params):
    if start is not None:
        params["init"] = "custom"
    est = NMF(n_components=k, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if start is None:
            W = est.fit_transform(X)
        else:
            W = est.fit_transform(X, **start)
    return est, W


# ------------------------------------------------------------------ solvers
@pytest.mark.parametrize("solver", FRO_SOLVERS)
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
def test_each_solver_decreases_the_loss_and_fits_low_rank_data(backend, dtype, solver, sparse):
    X = noisy(dtype=dtype)
    Xin = sp.csr_matrix(X) if sparse else X
    est, W = fit(Xin, start=custom(X, 4), solver=solver, tol=0, max_iter=300, backend=backend)
    h = est.loss_history_
    assert est.solver_ == solver
    assert W.dtype == dtype and est.components_.dtype == dtype
    # monotone, up to the rounding of the loss itself: the Gram identity it comes from
    # carries an absolute error of a few eps * ||X||^2 (float32: the products are float32)
    slack = 4 * np.finfo(dtype).eps * float(np.linalg.norm(X.astype(np.float64)) ** 2)
    if solver in MONOTONE:
        assert np.all(np.diff(h) <= slack), np.diff(h).max()
    else:  # ehals: a rise makes the next iteration restart, which cannot rise
        rises = np.flatnonzero(np.diff(h) > slack)
        assert not np.any(np.diff(rises) == 1)
        assert h[-1] <= h[0]
    assert rel_error(X, W, est.components_) < 0.01


@pytest.mark.parametrize("solver", ["hals", "ehals", "pgd", "als"])
def test_dense_and_sparse_give_the_same_fit(solver):
    X = noisy()
    start = custom(X, 4)
    a, Wa = fit(X, start=start, solver=solver, tol=0, max_iter=20)
    b, Wb = fit(sp.csr_matrix(X), start=start, solver=solver, tol=0, max_iter=20)
    np.testing.assert_allclose(Wb, Wa, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(b.components_, a.components_, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("solver", ["hals", "ehals", "pgd", "als"])
def test_compiled_backends_agree_with_the_reference(compiled_backend, solver):
    X = noisy()
    start = custom(X, 4)
    ref, Wr = fit(X, start=start, solver=solver, tol=0, max_iter=15, backend="numpy")
    got, Wg = fit(X, start=start, solver=solver, tol=0, max_iter=15, backend=compiled_backend)
    np.testing.assert_allclose(got.loss_history_, ref.loss_history_, rtol=1e-9)
    np.testing.assert_allclose(Wg, Wr, rtol=1e-7, atol=1e-9)


def test_als_and_hals_reach_the_same_stationary_loss():
    X = noisy(80, 50, 3, seed=3)
    start = custom(X, 3, seed=1)
    als, _ = fit(X, k=3, start=start, solver="als", tol=1e-10, max_iter=2000)
    hals, _ = fit(X, k=3, start=start, solver="hals", tol=1e-10, max_iter=2000)
    assert als.loss_history_[-1] == pytest.approx(hals.loss_history_[-1], rel=1e-6)


def test_hals_needs_fewer_products_than_cd_to_a_target():
    X = noisy(300, 200, 8, seed=5)
    start = custom(X, 8, seed=2)
    cd, _ = fit(X, k=8, start=start, solver="cd", tol=0, max_iter=100)
    hals, _ = fit(X, k=8, start=start, solver="hals", tol=0, max_iter=100)
    target = cd.loss_history_[-1]
    reached = np.flatnonzero(hals.loss_history_ <= target)
    assert reached.size and reached[0] + 1 < 100 // 2


def test_auto_on_dense_frobenius_is_scikit_learns_cd():
    """With every parameter at its default, dense Frobenius fits give scikit-learn's
    factors (the same iterates and stopping rule)."""
    from sklearn.decomposition import NMF as SklearnNMF

    X = noisy(80, 60, 5, seed=4) + 0.05
    ours = NMF(6, random_state=0).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs = SklearnNMF(6, random_state=0).fit(X)
    assert ours.solver_ == "cd"
    assert ours.n_iter_ == theirs.n_iter_
    np.testing.assert_allclose(ours.components_, theirs.components_, rtol=1e-6, atol=1e-9)


def test_auto_on_very_sparse_data_runs_hals_to_scikit_learns_loss():
    """Sparse X: 'auto' runs hals even where its budget is one sweep per product (it stops
    once the objective is flat, long before cd's violation rule), and ends no worse than
    scikit-learn's cd with the same defaults."""
    from sklearn.decomposition import NMF as SklearnNMF
    from fastnmf.solvers.auto import choose_solver

    X = sp.random(3000, 400, density=0.005, random_state=0, format="csr")
    X.data = 1 + np.floor(5 * X.data)
    assert choose_solver(X, 16, 2.0) == "hals"
    assert choose_solver(X.toarray(), 16, 2.0) == "cd"
    est = NMF(8, random_state=0).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = SklearnNMF(8, random_state=0).fit(X)
    assert est.solver_ == "hals"
    assert est.reconstruction_err_ <= ref.reconstruction_err_ * (1 + 1e-3)


def test_auto_cd_is_not_stopped_while_the_loss_falls_fast():
    """At a rank far above the data's (k=128 on 300x200 data of rank 10 plus noise, nndsvda
    start) scikit-learn's violation rule stops cd after a few iterations while the loss
    still falls by a third an iteration; 'auto' (cd on dense X) goes on, and stops where
    scikit-learn's rule and a slow loss agree."""
    from sklearn.decomposition import NMF as SklearnNMF

    rng = np.random.default_rng(0)
    X = rng.gamma(1.0, 1.0, (300, 10)) @ rng.gamma(1.0, 1.0, (10, 200))
    X += 0.05 * X.mean() * rng.random(X.shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = SklearnNMF(128, random_state=0).fit(X)
    named = NMF(128, solver="cd", random_state=0).fit(X)
    auto = NMF(128, random_state=0).fit(X)
    assert auto.solver_ == "cd"
    assert named.n_iter_ == ref.n_iter_ <= 5  # the named solver is scikit-learn's
    assert auto.n_iter_ > named.n_iter_
    assert auto.reconstruction_err_ ** 2 <= 0.05 * ref.reconstruction_err_ ** 2
    # where the guard stops: the error fell by at most 100 tol times itself that iteration
    err = np.sqrt(2 * np.asarray(auto.loss_history_))
    assert auto.n_iter_ == auto.max_iter or err[-2] - err[-1] <= 100 * auto.tol * err[-1]


def test_ehals_needs_fewer_iterations_than_cd_on_sparse_data():
    """Where hals gets one sweep per product, extrapolation is what buys iterations."""
    X = sp.random(3000, 800, density=0.01, random_state=1, format="csr")
    X.data = 1 + np.floor(5 * X.data)
    start = custom(X.toarray(), 8, seed=0)
    cd, _ = fit(X, k=8, start=start, solver="cd", tol=0, max_iter=60)
    eh, _ = fit(X, k=8, start=start, solver="ehals", tol=0, max_iter=60)
    target = cd.loss_history_[-1]
    reached = np.flatnonzero(eh.loss_history_ <= target)
    assert reached.size and reached[0] + 1 <= 60 // 2


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
def test_ehals_ends_on_the_pair_whose_loss_it_recorded(sparse):
    """H is extrapolated lazily, so the returned (W, H) is the pair of loss_history_[-1]
    (and reconstruction_err_ matches it), whichever iteration the fit stops at."""
    X = noisy(70, 50, 5, seed=9)
    Xin = sp.csr_matrix(X) if sparse else X
    for max_iter in (1, 2, 7, 30):
        est, W = fit(Xin, k=5, start=custom(X, 5, seed=3), solver="ehals", tol=0,
                     max_iter=max_iter)
        loss = 0.5 * np.linalg.norm(X - W @ est.components_) ** 2
        assert est.loss_history_[-1] == pytest.approx(loss, rel=1e-9, abs=1e-12)
        assert 0.5 * est.reconstruction_err_ ** 2 == pytest.approx(loss, rel=1e-9, abs=1e-12)


def test_extrapolation_restarts_after_a_rise():
    from fastnmf.solvers.frobenius import Extrapolation

    W, Ht = np.ones((4, 2)), np.ones((3, 2))
    ex = Extrapolation(__import__("fastnmf._kernels.reference", fromlist=["x"]), W, Ht, 1)
    ex.after_H(W, Ht, 10.0)
    assert ex.pending_H and ex.beta == pytest.approx(0.5 * 1.01)
    beta = ex.beta
    W += 1.0
    ex.after_H(W, Ht, 11.0)  # the loss rose: restart from the pair reached
    assert not ex.pending_H and ex.restarts == 1
    assert ex.beta == pytest.approx(beta / 1.5) and ex.beta_max == pytest.approx(beta)
    np.testing.assert_array_equal(ex.W_prev, W)  # no step from before the restart
    assert not ex.before_W(Ht)


@pytest.mark.parametrize("solver", ["cd", "mu"])
def test_scikit_learn_solver_names_give_exactly_that_solver(solver):
    from sklearn.decomposition import NMF as SkNMF

    X = noisy()
    start = custom(X, 4)
    ours, W = fit(X, start=start, solver=solver, max_iter=50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk = SkNMF(n_components=4, init="custom", solver=solver, max_iter=50)
        Wsk = sk.fit_transform(X, **start)
    assert ours.solver_ == solver and ours.n_iter_ == sk.n_iter_
    np.testing.assert_allclose(W, Wsk, rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("solver", ["hals", "ehals", "pgd", "als"])
def test_frobenius_only_solvers_reject_other_losses(solver):
    with pytest.raises(ValueError, match=f"solver='{solver}'.*Frobenius"):
        NMF(2, solver=solver, beta_loss="kullback-leibler").fit(noisy())


# ------------------------------------------------------------ regularization
@pytest.mark.parametrize("solver", FRO_SOLVERS)
def test_l1_regularization_makes_factors_sparser(solver):
    X = noisy(80, 60, 6, seed=4)
    start = custom(X, 6, seed=0)
    zeros, l1 = [], []
    for alpha in (0.0, 0.002, 0.02):
        est, W = fit(X, k=6, start=start, solver=solver, alpha_W=alpha, l1_ratio=1.0, tol=1e-6,
                     max_iter=400)
        zeros.append(np.mean(W == 0) + np.mean(est.components_ == 0))
        l1.append(W.sum() + est.components_.sum())
    if solver == "mu":  # multiplicative updates shrink entries but never reach zero
        assert l1[0] > l1[1] > l1[2], l1
    else:
        assert zeros[0] < zeros[1] < zeros[2], zeros


@pytest.mark.parametrize("solver", ["cd", "hals", "pgd", "als"])
@pytest.mark.parametrize("reg", [dict(alpha_W=0.01, l1_ratio=0.3),
                                 dict(alpha_W=0.005, alpha_H=0.02, l1_ratio=0.7)])
def test_regularized_fit_is_a_stationary_point_of_the_scaled_objective(solver, reg):
    """Every solver minimises scikit-learn's objective, with its scaling
    (alpha_W * n_features, alpha_H * n_samples): at convergence both factors satisfy
    its KKT conditions."""
    X = noisy(50, 40, 3, seed=6)
    m, n = X.shape
    est, W = fit(X, k=3, start=custom(X, 3, seed=3), solver=solver, tol=1e-9, max_iter=20000,
                 **reg)
    H = est.components_
    a_W = reg["alpha_W"]
    a_H = reg.get("alpha_H", a_W)
    r = reg["l1_ratio"]
    R = W @ H - X
    for F, grad in ((W, R @ H.T + n * a_W * (r + (1 - r) * W)),
                    (H, W.T @ R + m * a_H * (r + (1 - r) * H))):
        scale = np.abs(grad).max() + np.abs(X @ H.T).max()
        assert np.all(grad >= -2e-3 * scale)              # no descent direction into F >= 0
        assert np.abs(F * grad).max() <= 2e-3 * scale * F.max()  # complementary slackness
    direct = (0.5 * np.linalg.norm(R) ** 2 + n * a_W * (r * W.sum() + 0.5 * (1 - r) * (W ** 2).sum())
              + m * a_H * (r * H.sum() + 0.5 * (1 - r) * (H ** 2).sum()))
    assert est.loss_history_[-1] == pytest.approx(direct, rel=1e-9)


# ------------------------------------------------------------------- n_init
def test_n_init_keeps_the_best_run_and_is_reproducible():
    X = noisy(40, 30, 5, seed=7)
    est, W = fit(X, k=5, n_init=4, random_state=0, max_iter=30, solver="hals", init="random")
    assert est.run_losses_.shape == (4,)
    assert est.loss_history_[-1] == est.run_losses_.min()
    # each run is the single fit from the seed drawn from random_state
    seeds = check_random_state(0).randint(np.iinfo(np.int32).max, size=4)
    singles = [fit(X, k=5, random_state=int(s), max_iter=30, solver="hals", init="random")[0]
               for s in seeds]
    np.testing.assert_allclose(est.run_losses_, [s.loss_history_[-1] for s in singles], rtol=1e-9)
    again, W2 = fit(X, k=5, n_init=4, random_state=0, max_iter=30, solver="hals", init="random")
    np.testing.assert_array_equal(W, W2)
    assert len(set(est.run_losses_)) > 1  # the runs did differ


@pytest.mark.parametrize("sparse", [False, True])
def test_n_init_runs_side_by_side_give_the_runs_one_after_the_other(compiled_backend, sparse):
    """Fits with n_init > 1 and several threads run one per thread (see
    fastnmf.parallel.threads.parallel_runs); the answer is that of the runs in sequence
    (one thread)."""
    from fastnmf.parallel.threads import parallel_runs

    X = noisy(40, 30, 5, seed=8)
    X = sp.csr_matrix(X) if sparse else X
    kw = dict(k=5, n_init=3, random_state=1, max_iter=25, init="random", backend=compiled_backend)
    fit(X, n_threads=2, **kw)  # the numba threading layer is known after a first fit
    assert parallel_runs(3, 2, compiled_backend, ordered_output=False) == 2
    assert parallel_runs(3, 1, compiled_backend, ordered_output=False) == 1
    assert parallel_runs(3, 2, compiled_backend, ordered_output=True) == 1  # a callback
    side, Ws = fit(X, n_threads=2, **kw)
    seq, Wq = fit(X, n_threads=1, **kw)
    np.testing.assert_allclose(side.run_losses_, seq.run_losses_, rtol=1e-9)
    np.testing.assert_allclose(Ws, Wq, rtol=1e-7, atol=1e-10)


def test_n_init_with_a_deterministic_init_runs_once_with_a_warning():
    with pytest.warns(RuntimeWarning, match="n_init=3"):
        est = NMF(3, n_init=3, init="nndsvda", max_iter=5).fit(noisy())
    assert est.run_losses_.shape == (1,)


def test_same_seed_same_result_for_every_solver():
    X = noisy()
    for solver in FRO_SOLVERS:
        a, Wa = fit(X, random_state=3, init="random", solver=solver, shuffle=True, max_iter=20)
        b, Wb = fit(X, random_state=3, init="random", solver=solver, shuffle=True, max_iter=20)
        np.testing.assert_array_equal(Wa, Wb)
        np.testing.assert_array_equal(a.components_, b.components_)


# --------------------------------------------------------------- monitoring
def test_callback_sees_every_iteration_and_can_stop():
    X = noisy()
    seen = []

    def cb(info):
        assert isinstance(info, IterationInfo)
        assert info.W.shape == (60, 4) and info.H.shape == (4, 45)
        assert not info.W.flags.writeable and not info.H.flags.writeable
        seen.append((info.iteration, info.loss, info.elapsed, info.H.copy()))
        return info.iteration < 5

    est, _ = fit(X, start=custom(X, 4), callback=cb, tol=0, max_iter=100)
    assert est.n_iter_ == 5 and len(est.loss_history_) == 5
    assert [s[0] for s in seen] == [1, 2, 3, 4, 5]
    np.testing.assert_array_equal([s[1] for s in seen], est.loss_history_)
    np.testing.assert_array_equal(seen[-1][3], est.components_)
    assert np.all(np.diff([s[2] for s in seen]) >= 0)


def test_callback_returning_none_does_not_stop():
    est, _ = fit(noisy(), callback=lambda info: None, tol=0, max_iter=7)
    assert est.n_iter_ == 7


def test_time_history_matches_loss_history():
    est, _ = fit(noisy(), tol=0, max_iter=9)
    assert est.time_history_.shape == est.loss_history_.shape == (9,)
    assert np.all(np.diff(est.time_history_) >= 0) and est.time_history_[0] >= 0


def test_verbose_logs_through_logging(caplog):
    with caplog.at_level(logging.INFO, logger="fastnmf"):
        fit(noisy(), verbose=1, tol=0, max_iter=3)
    lines = [r.getMessage() for r in caplog.records if r.name == "fastnmf"]
    assert len(lines) == 3 and "iteration    3" in lines[-1] and "loss" in lines[-1]


def test_auto_with_fixed_H_is_an_exact_solve():
    X = noisy()
    H = NMF(4, max_iter=30, random_state=0).fit(X).components_
    W, _, n_iter = non_negative_factorization(X, H=H, n_components=4, update_H=False)
    assert n_iter <= 2  # one exact NNLS solve; the second iteration sees no violation


def test_verbose_prints_when_logging_is_not_configured(capsys, monkeypatch):
    # pytest's own log capture puts a handler on the root logger: take it away here
    monkeypatch.setattr(logging.getLogger(), "handlers", [])
    fit(noisy(), verbose=1, tol=0, max_iter=2, solver="hals")
    out = capsys.readouterr().out
    assert out.count("fastnmf hals: iteration") == 2
    assert not logging.getLogger("fastnmf").handlers  # the temporary handler is gone


def test_progress_bar(capsys):
    est, _ = fit(noisy(), progress=True, tol=0, max_iter=4, solver="hals")
    assert "fastnmf hals" in capsys.readouterr().err
    assert est.n_iter_ == 4


@pytest.mark.parametrize("solver", FRO_SOLVERS)
def test_convergence_warning_when_max_iter_is_hit(solver):
    with pytest.warns(ConvergenceWarning, match="Maximum number of iterations 3"):
        NMF(4, solver=solver, max_iter=3).fit(noisy())


# ------------------------------------------------------------ fixed factors
@pytest.mark.parametrize("solver,beta", [(s, 2) for s in FRO_SOLVERS] + [("mu", 1), ("emu", 1),
                                                                   ("emu", 1.5), ("auto", 1)])
def test_frozen_components_stay_unchanged(solver, beta):
    X = noisy() + 0.05
    start = custom(X, 4, seed=2)
    est, W = fit(X, start=start, solver=solver, beta_loss=beta, frozen_components=[0, 2],
                 tol=0, max_iter=20)
    np.testing.assert_array_equal(est.components_[[0, 2]], start["H"][[0, 2]])
    assert not np.array_equal(est.components_[[1, 3]], start["H"][[1, 3]])
    h = est.loss_history_
    if solver != "ehals":  # (ehals may rise once before a restart)
        assert np.all(np.diff(h) <= 1e-10 * h[0])
    assert h[-1] < h[0]
    # a boolean mask means the same
    est2, _ = fit(X, start=start, solver=solver, beta_loss=beta,
                  frozen_components=np.array([True, False, True, False]), tol=0, max_iter=20)
    np.testing.assert_array_equal(est2.components_, est.components_)


def test_frozen_components_bad_values():
    X = noisy()
    for bad, err in (([4], ValueError), ([0, 0], ValueError), ([True, False], ValueError),
                     ([0.5], TypeError), ([0, 1, 2, 3], ValueError)):
        with pytest.raises(err, match="frozen_components"):
            NMF(4, frozen_components=bad, max_iter=2).fit(X)
    with pytest.raises(ValueError, match="frozen_components is not supported by solver='cd'"):
        NMF(4, solver="cd", beta_loss=1, frozen_components=[0], max_iter=2).fit(X)


def test_update_H_false_solves_exactly():
    X = noisy()
    H = NMF(4, max_iter=50, random_state=0).fit(X).components_
    W, H2, n_iter = non_negative_factorization(X, H=H, n_components=4, update_H=False)
    np.testing.assert_array_equal(H2, H)
    expected = np.array([scipy.optimize.nnls(H.T, x)[0] for x in X])
    np.testing.assert_allclose(W, expected, rtol=1e-8, atol=1e-10)


# ---------------------------------------------------------------- transform
@pytest.mark.parametrize("sparse", [False, True])
def test_transform_is_the_exact_nnls_solution(backend, sparse):
    X = noisy()
    est = NMF(4, max_iter=40, random_state=0, backend=backend).fit(X)
    Xt = noisy(25, 45, 4, seed=9)
    W = est.transform(sp.csr_matrix(Xt) if sparse else Xt)
    H = est.components_
    expected = np.array([scipy.optimize.nnls(H.T, x)[0] for x in Xt])
    np.testing.assert_allclose(W, expected, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("solver", ["cd", "hals", "pgd", "als"])  # mu converges too slowly
def test_fit_then_transform_matches_fit_transform(solver):
    X = noisy()
    est = NMF(4, solver=solver, tol=1e-8, max_iter=3000, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        W = est.fit_transform(X)
    np.testing.assert_allclose(est.transform(X), W, rtol=1e-3, atol=1e-3 * W.max())


def test_transform_with_alpha_W_minimises_the_regularized_objective():
    X = noisy()
    est = NMF(4, alpha_W=0.01, l1_ratio=0.5, max_iter=60, random_state=0).fit(X)
    W = est.transform(X)
    H = est.components_
    n = X.shape[1]
    l1, l2 = n * 0.01 * 0.5, n * 0.01 * 0.5
    grad = W @ (H @ H.T) - X @ H.T + l1 + l2 * W  # KKT of the regularized NNLS
    assert np.all(W >= 0)
    assert np.all(grad >= -1e-8 * np.abs(X @ H.T).max())
    np.testing.assert_allclose(W * grad, 0, atol=1e-8 * np.abs(X @ H.T).max() * W.max())


# --------------------------------------------------------------- warm start
def test_warm_start_continues_the_last_fit():
    X = noisy()
    start = custom(X, 4)
    whole, Wwhole = fit(X, start=start, solver="cd", tol=0, max_iter=20)
    est = NMF(4, init="custom", solver="cd", tol=0, max_iter=10, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit_transform(X, **start)
        W = est.fit_transform(X)
    np.testing.assert_allclose(W, Wwhole, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(est.components_, whole.components_, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(est.loss_history_, whole.loss_history_[10:], rtol=1e-12)


def test_warm_start_on_new_rows_starts_from_the_transform():
    X = noisy()
    est = NMF(4, tol=0, max_iter=30, warm_start=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X)
        H = est.components_.copy()
        Wt = est.transform(X[:30])
        start_loss = 0.5 * np.linalg.norm(X[:30] - Wt @ H) ** 2
        est.set_params(max_iter=1)
        est.fit(X[:30])
        cold = NMF(4, tol=0, max_iter=1, random_state=0).fit(X[:30])
    assert est.loss_history_[0] <= start_loss * (1 + 1e-10)
    assert cold.loss_history_[0] > 2 * est.loss_history_[0]


def test_without_warm_start_a_refit_starts_over():
    X = noisy()
    est = NMF(4, tol=0, max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        first = est.fit(X).loss_history_.copy()
        second = est.fit(X).loss_history_
    np.testing.assert_array_equal(first, second)


# --------------------------------------------------------------- validation
@pytest.mark.parametrize("params,err,msg", [
    (dict(n_init=0), ValueError, "n_init must be an int >= 1"),
    (dict(n_init=1.5), TypeError, "n_init must be an int >= 1"),
    (dict(callback=3), TypeError, "callback must be None or a callable"),
    (dict(progress="yes"), TypeError, "progress must be a bool"),
    (dict(warm_start=1), TypeError, "warm_start must be a bool"),
    (dict(solver="lbfgs"), ValueError, r"solver must be one of \['auto', 'cd', 'mu', 'emu', 'hals', 'ehals', 'pgd', 'als'\]"),
])
def test_bad_parameters(params, err, msg):
    with pytest.raises(err, match=msg):
        NMF(2, **params).fit(noisy())


# ------------------------------------------------------------------ kernels
def test_hals_sweep_over_a_subset_of_components_leaves_the_others(backend, dtype):
    from fastnmf._backends import get_backend

    rng = np.random.default_rng(0)
    m, k = 150, 6
    W = rng.random((m, k)).astype(dtype)
    H = rng.random((k, 40)).astype(dtype)
    HHt = (H @ H.T).astype(dtype)
    XHt = (rng.random((m, 40)).astype(dtype) @ H.T).astype(dtype)
    perm = np.array([4, 1, 3], dtype=np.intp)
    got = W.copy()
    get_backend(backend).hals_sweep(got, HHt, XHt, 0.0, 0.0, perm, 2)
    np.testing.assert_array_equal(got[:, [0, 2, 5]], W[:, [0, 2, 5]])
    assert not np.array_equal(got[:, perm], W[:, perm])
    ref = W.copy()
    get_backend("numpy").hals_sweep(ref, HHt, XHt, 0.0, 0.0, perm, 1)
    np.testing.assert_allclose(got, ref, rtol=1e-12 if dtype == np.float64 else 1e-5)


def test_kl_mu_history_is_the_same_with_a_callback():
    """Sparse KL mu fuses the loss into the next iteration's pass; with a callback it
    computes each loss at once instead: the same numbers."""
    X = sp.csr_matrix(np.round(noisy() * 3))
    start = custom(X.toarray(), 4)
    a, _ = fit(X, start=start, solver="mu", beta_loss=1, tol=0, max_iter=12)
    losses = []
    b, _ = fit(X, start=start, solver="mu", beta_loss=1, tol=0, max_iter=12,
               callback=lambda info: losses.append(info.loss))
    np.testing.assert_allclose(b.loss_history_, a.loss_history_, rtol=1e-12)
    np.testing.assert_allclose(losses, a.loss_history_, rtol=1e-12)


def test_sparse_reconstruction_error_is_that_of_the_final_factors():
    X = sp.csr_matrix(noisy())
    for solver in FRO_SOLVERS:
        est, W = fit(X, solver=solver, tol=0, max_iter=7, random_state=0)
        direct = np.linalg.norm(X.toarray() - W @ est.components_)
        assert est.reconstruction_err_ == pytest.approx(direct, rel=1e-9)


@pytest.mark.parametrize("init", ["random", "nndsvda"])
@pytest.mark.parametrize("sparse", [False, True])
def test_hals_stops_once_the_loss_is_flat(sparse, init):
    """'hals' ('auto' on most Frobenius fits) stops when its loss is flat: at the first
    tenth iteration whose error sqrt(2 loss) improved by less than tol times itself over
    the last ten; not before, and within 0.1% of the loss of a fit 4 times as long."""
    X = noisy(300, 200, 6, seed=4)
    X[X < np.quantile(X, 0.3)] = 0
    X = sp.csr_matrix(X) if sparse else X
    if init == "random":
        start = custom(X, 6, seed=2)
    else:
        W0, H0 = initialize(X, 6, "nndsvda", 0)
        start = dict(W=W0, H=H0)
    tol = 1e-4
    est, W = fit(X, k=6, start={k: v.copy() for k, v in start.items()}, solver="hals", tol=tol,
                 max_iter=1000)
    e0 = np.linalg.norm((X.toarray() if sparse else X) - start["W"] @ start["H"])
    e = np.sqrt(2 * np.asarray(est.loss_history_))
    assert est.n_iter_ < 1000
    previous = e0
    for t in range(10, est.n_iter_, 10):  # the rule was not met at an earlier tenth
        assert previous - e[t - 1] >= tol * e[t - 1]
        previous = e[t - 1]
    assert est.n_iter_ % 10 == 0  # stopped by this rule, at a tenth iteration
    assert previous - e[est.n_iter_ - 1] < tol * e[est.n_iter_ - 1]
    longer, _ = fit(X, k=6, start={k: v.copy() for k, v in start.items()}, solver="hals", tol=0,
                    max_iter=4 * est.n_iter_)
    assert longer.n_iter_ == 4 * est.n_iter_
    assert longer.loss_history_[-1] <= est.loss_history_[-1]
    assert est.loss_history_[-1] <= longer.loss_history_[-1] * (1 + 1e-3)


@pytest.mark.parametrize("beta", ["frobenius", "kullback-leibler", 0.5])
def test_auto_runs_what_choose_solver_says(beta):
    """Every rule of solver='auto' lives in fastnmf.solvers.auto.choose_solver: the estimator's
    solver_ is its answer on dense, sparse and very sparse X at small and large rank."""
    from fastnmf.solvers.auto import CANDIDATES, choose_solver, loss_class

    rng = np.random.default_rng(0)
    cases = [noisy(80, 60, 4, seed=1) + 0.01,
             sp.random(400, 300, density=0.05, random_state=1, format="csr"),
             sp.random(3000, 300, density=0.001, random_state=2, format="csr")]
    seen = set()
    for X in cases:
        X = X.copy()
        if sp.issparse(X):
            X.data = rng.integers(1, 5, X.nnz).astype(float)
        for k in (2, 16):
            est, _ = fit(X, k=k, beta_loss=beta, max_iter=2, init="nndsvda")
            b = {"frobenius": 2.0, "kullback-leibler": 1.0}.get(beta, beta)
            assert est.solver_ == choose_solver(X, k, b)
            seen.add(est.solver_)
    b = {"frobenius": 2.0, "kullback-leibler": 1.0}.get(beta, beta)
    assert seen <= set(CANDIDATES[loss_class(b)])


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
def test_hals_above_the_data_rank_does_not_stop_early(sparse):
    """At a rank well above the data's (k=32 on rank-10 data with noise, nndsvda start)
    'hals' with default parameters does not stop early: its loss is no worse than
    scikit-learn cd's with the same defaults and within 10% of cd run to convergence (the
    violation rule, which hals used to apply, stopped it after 6-9 iterations at 1.3-1.6
    times that loss: the first iteration's projected gradient from nndsvda is huge). The
    bound is not tighter because at this rank the factorization is far from unique and 200
    iterations do not converge: the dense fit ends 2-3% above the converged loss, and where
    in that band depends on the thread count (the order of the sums)."""
    from sklearn.decomposition import NMF as SklearnNMF

    rng = np.random.default_rng(3)
    X = rng.gamma(1.0, 1.0, (300, 10)) @ rng.gamma(1.0, 1.0, (10, 200))
    X += 0.1 * rng.random(X.shape)
    if sparse:
        X[X < np.quantile(X, 0.3)] = 0
        X = sp.csr_matrix(X)
    # one seeded start for all three (unseeded, the randomized SVD of nndsvda draws a new
    # sketch each run, and the 200-iteration losses moved by 0.3% between runs)
    hals, _ = fit(X, k=32, solver="hals", random_state=0)
    converged, _ = fit(X, k=32, solver="cd", tol=1e-8, max_iter=3000, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reference = SklearnNMF(32, random_state=0).fit(X)
    assert hals.reconstruction_err_ <= reference.reconstruction_err_ * (1 + 1e-3)
    assert hals.reconstruction_err_ <= converged.reconstruction_err_ * 1.1
