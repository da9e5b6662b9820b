"""Choosing the number of components: cross-validation on held-out entries and
consensus clustering over restarts.

* cv ("speckled" hold-out, as in RcppML and the bi-cross-validation literature of
  Owen & Perry 2009): a random set of entries is held out, the rest is fitted with
  the solvers for missing entries (:mod:`fastnmf.solvers.masked`), and the error on the
  held-out entries is scored; repeated with other hold-outs.  A rank that is too high
  fits noise and predicts held-out entries worse, so the test error has a minimum.
* consensus (Brunet, Tamayo, Golub & Mesirov, PNAS 2004): each restart assigns every
  row (or column) to the component with its largest coefficient; the consensus matrix
  is the fraction of restarts in which two items share a component.  Its cophenetic
  correlation (how well average-linkage clustering of ``1 - consensus`` reproduces it)
  and its dispersion (Kim & Park 2007, ``mean 4 (C - 1/2)^2``) are 1 for a perfectly
  stable clustering.
"""

import numbers
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from .._backends import resolve_backend_name
from .._validation import beta_loss_to_float, check_int, check_option, check_real
from ..data import missing as _missing
from ..data.missing import Observed, _pattern, from_dense, prepare
from ..parallel.threads import blas_threads, numba_layer_is_reentrant, resolve_n_threads
from ..solvers.table import SOLVERS, resolve_missing
from .consensus import consensus_matrix, cophenetic_correlation, dispersion
from .holdout import hold_out_complement, hold_out_dense, hold_out_observed, test_error

METHODS = ("cv", "consensus", "both")

#: The largest number of items (rows or columns) a consensus matrix is formed for.
MAX_CONSENSUS_ITEMS = 10000


# ------------------------------------------------------------------ result
@dataclass
class RankSelection:
    """What :func:`select_rank` measured.

    Attributes
    ----------
    ranks : ndarray of int
    method : str
    table : dict of str -> ndarray
        One entry per rank (pass it to ``pandas.DataFrame`` for a data frame):
        ``rank``; with cv ``test_error`` (mean over hold-outs of the mean loss per
        held-out entry: squared error, or KL divergence), ``test_error_std``,
        ``train_error`` (the same on the fitted entries); with consensus
        ``cophenetic``, ``dispersion`` and ``reconstruction_error`` (the best
        restart's ``reconstruction_err_``).
    test_errors : ndarray (n_ranks, n_repeats) or None
        Every hold-out's test error (cv).
    consensus : dict of int -> ndarray, or None
        The consensus matrix (float32) of each rank (consensus).
    best_rank : int
        cv (and 'both'): the smallest rank whose mean test error is within one
        standard error (over the hold-outs) of the lowest one; consensus: the
        rank after which the cophenetic correlation falls most (Brunet et al.), the
        largest rank of the highest cophenetic when it never falls.
    elbow_rank : int
        The elbow of the training (cv) or reconstruction (consensus) error curve:
        the rank farthest below the chord from the first to the last rank, the
        errors scaled to [0, 1].
    seconds : float
        Wall time of the whole selection.
    """

    ranks: np.ndarray
    method: str
    table: dict
    best_rank: int
    elbow_rank: int
    test_errors: np.ndarray = None
    consensus: dict = None
    seconds: float = 0.0

    def __str__(self):
        cols = list(self.table)
        lines = ["  ".join(f"{c:>14}" for c in cols)]
        for i in range(len(self.ranks)):
            cells = []
            for c in cols:
                v = self.table[c][i]
                cells.append(f"{int(v):>14d}" if c == "rank" else f"{v:>14.6g}")
            lines.append("  ".join(cells))
        lines.append(f"best_rank={self.best_rank} ({self.method}), elbow_rank={self.elbow_rank}, "
                     f"{self.seconds:.2f} s")
        return "\n".join(lines)

    def plot(self, ax=None):
        """Plot error and stability against rank (needs matplotlib: ``pip install
        fastnmf[plot]``).  Returns the matplotlib Axes (one or two of them)."""
        try:
            import matplotlib.pyplot as plt
        except ImportError:  # pragma: no cover - depends on the environment
            raise ImportError("RankSelection.plot needs matplotlib: pip install matplotlib "
                              "(or fastnmf[plot])") from None
        t = self.table
        has_cv, has_cons = "test_error" in t, "cophenetic" in t
        if ax is None:
            n_ax = int(has_cv) + int(has_cons)
            _, axes = plt.subplots(1, n_ax, figsize=(5 * n_ax, 3.6), squeeze=False)
            axes = list(axes[0])
        else:
            axes = list(np.atleast_1d(ax))
        i = 0
        if has_cv:
            a = axes[i]
            test, std, train = t["test_error"], t["test_error_std"], t["train_error"]
            top = _sane_top(test, train)
            shown = np.minimum(test, top)
            a.errorbar(self.ranks, shown, yerr=np.where(test > top, 0.0, std), marker="o",
                       label="held-out error")
            a.plot(self.ranks, np.minimum(train, top), marker=".", ls="--",
                   label="training error")
            over = test > top
            # the off-scale points leave the error-bar line: drawn above it, in red
            if over.any():  # blown-up fits: marked at the top edge, their values written
                a.plot(self.ranks[over], np.full(over.sum(), top), ls="none", marker="^",
                       ms=9, color="red", label="off scale", zorder=5)
                for r_, v in zip(self.ranks[over], test[over]):
                    a.annotate(f"{v:.2g}", (r_, top), textcoords="offset points",
                               xytext=(0, -12), ha="center", fontsize=7, color="red")
            finite = np.concatenate([train[np.isfinite(train)], shown[np.isfinite(shown)]])
            low = float(finite.min()) if finite.size else 0.0
            a.set_ylim(max(0.0, low - 0.05 * (top - low)), top + 0.05 * (top - low))
            a.axvline(self.best_rank, color="k", lw=0.8, ls=":")
            a.set_xlabel("rank")
            a.set_ylabel("mean loss per entry")
            a.legend()
            i += 1
        if has_cons:
            a = axes[min(i, len(axes) - 1)]
            a.plot(self.ranks, t["cophenetic"], marker="o", label="cophenetic")
            a.plot(self.ranks, t["dispersion"], marker="s", label="dispersion")
            a.set_xlabel("rank")
            a.set_ylabel("stability")
            a.legend()
        return axes if len(axes) > 1 else axes[0]


@dataclass
class ParamSelection:
    """What :func:`select_params` measured.

    Attributes
    ----------
    ranks, alphas : ndarray
    table : dict of str -> ndarray
        One entry per (rank, alpha) pair, rank-major: ``rank``, ``alpha``,
        ``test_error`` (mean over hold-outs of the mean loss per held-out entry),
        ``test_error_std``, ``train_error``.
    test_errors : ndarray (n_ranks, n_alphas, n_repeats)
    best_rank, best_alpha : the pair with the lowest mean held-out error
    best_params : dict, ``NMF(**best_params)``
    seconds : float
    """

    ranks: np.ndarray
    alphas: np.ndarray
    table: dict
    best_rank: int
    best_alpha: float
    test_errors: np.ndarray = None
    seconds: float = 0.0

    @property
    def best_params(self):
        return {"n_components": self.best_rank, "alpha_W": self.best_alpha}

    def __str__(self):
        cols = list(self.table)
        lines = ["  ".join(f"{c:>14}" for c in cols)]
        for i in range(len(self.table["rank"])):
            lines.append("  ".join(f"{int(self.table[c][i]):>14d}" if c == "rank"
                                   else f"{self.table[c][i]:>14.6g}" for c in cols))
        lines.append(f"best_rank={self.best_rank}, best_alpha={self.best_alpha:.6g}, "
                     f"{self.seconds:.2f} s")
        return "\n".join(lines)


#: The plot's axis ends at this times the largest "sane" held-out error (see _sane_top).
PLOT_HEADROOM = 1.5


def _sane_top(test, train):
    """The top of the plot's error axis: a fit whose held-out error is more than 10 times
    the median held-out error has blown up (a row or column fitted to too few entries);
    the axis ends at :data:`PLOT_HEADROOM` times the largest other held-out (or
    training) error, so one blown-up rank does not flatten every other point."""
    test = np.asarray(test, dtype=np.float64)
    ok = np.isfinite(test)
    if not ok.any():
        return 1.0
    med = float(np.median(test[ok]))
    sane = ok & (test <= 10 * med)
    vals = np.concatenate([test[sane], np.asarray(train, dtype=np.float64)[
        np.isfinite(train) & (np.asarray(train) <= 10 * med)]])
    top = float(vals.max()) if vals.size else med
    return PLOT_HEADROOM * top if top > 0 else 1.0


def _elbow(ranks, errors):
    r = np.asarray(ranks, dtype=np.float64)
    e = np.asarray(errors, dtype=np.float64)
    if len(r) < 3 or not np.all(np.isfinite(e)) or np.ptp(e) == 0:
        return int(ranks[0])
    x = (r - r[0]) / (r[-1] - r[0])
    y = (e - e.min()) / np.ptp(e)
    chord = y[0] + (y[-1] - y[0]) * x
    return int(ranks[int(np.argmax(chord - y))])


def _one_se_best(ranks, errors):
    """The smallest rank whose mean test error is within one standard error (over the
    hold-outs) of the lowest mean: the "one-standard-error rule" of cross-validation
    (Hastie, Tibshirani & Friedman), which does not pick a larger rank for a
    difference the hold-outs cannot tell from noise."""
    mean = errors.mean(axis=1)
    i = int(np.nanargmin(mean))
    se = errors[i].std(ddof=1) / np.sqrt(errors.shape[1]) if errors.shape[1] > 1 else 0.0
    return int(ranks[int(np.flatnonzero(mean <= mean[i] + se)[0])])


def _brunet_best(ranks, coph):
    c = np.asarray(coph, dtype=np.float64)
    if len(c) == 1 or not np.all(np.isfinite(c)):
        return int(ranks[int(np.nanargmax(c))]) if np.any(np.isfinite(c)) else int(ranks[0])
    drops = c[:-1] - c[1:]
    if np.max(drops) <= 0:
        best = np.flatnonzero(c == c.max())[-1]
        return int(ranks[best])
    return int(ranks[int(np.argmax(drops))])


# ------------------------------------------------------------------ driver
#: select_rank's inner fits: ``tol`` and ``max_iter`` (tighter than NMF's 1e-4 and 200).
#: With NMF's, the fits near the true rank stop before they converge and the held-out
#: error is decided by how far each got: rank 8 of uniform random factors (300 x 200,
#: 5% noise) came out 9, found with these (benchmarks/results/rank_grid.md).
CV_TOL = 1e-6
CV_MAX_ITER = 1000


def select_rank(X, ranks, method="cv", *, n_repeats=3, n_init=1, test_fraction=0.1,
                max_test_entries=10**6, beta_loss="frobenius", solver="auto",
                max_iter=CV_MAX_ITER, tol=CV_TOL, alpha_W="auto", alpha_H="same", l1_ratio=0.0,
                missing="nan", mask=None, axis=0, random_state=None, n_jobs=None,
                backend="auto"):
    """Choose the number of components of X by cross-validation and/or consensus.

    Parameters
    ----------
    X : array-like or scipy.sparse matrix (n_samples, n_features), non-negative
        NaN entries (``missing``) and ``mask`` mark unknown entries, as in
        :class:`fastnmf.NMF`.
    ranks : iterable of int >= 1
    method : {'cv', 'consensus', 'both'}
        'cv': for each of ``n_repeats`` hold-outs, ``test_fraction`` of the observed
        entries are held out at random ("speckled"), the rest is fitted with the
        solvers for missing entries and the held-out entries are scored; the same
        hold-outs serve every rank.  With the Frobenius cd the rest is X with the
        held-out entries unknown and corrected for (``fastnmf.data.missing.Complement``;
        dense X: one copy of X per hold-out).  For a sparse X whose absent entries are
        zeros, the held-out set is ``test_fraction`` of all entries, at most
        ``max_test_entries`` (KL: multiplicative updates on the whole X minus the
        held-out entries); nothing m x n is formed.
        'consensus': ``n_repeats`` fits of the whole X per rank from random starts;
        each assigns every row (``axis=0``; columns with ``axis=1``) to its largest
        component, and the consensus matrix, its cophenetic correlation and its
        dispersion measure how stable that clustering is (Brunet et al. 2004).
        'both': both tables; ``best_rank`` from cv.
    n_repeats : int, default=3
        Hold-outs (cv) and restarts (consensus; Brunet et al. used 50).
    n_init : int, default=1
        Random restarts per fit, the best kept (``NMF(n_init=...)``).
    test_fraction : float in (0, 1), default=0.1
    max_test_entries : int, default=10**6
        Cap on the held-out entries of a sparse X whose absent entries are zeros.
    beta_loss : {'frobenius', 'kullback-leibler'}
    solver, alpha_W, alpha_H, l1_ratio, missing, mask, backend :
        as in :class:`fastnmf.NMF` (``alpha_W='auto'``: what NMF does by default,
        no penalty unless a row or column of a training set has fewer than twice
        ``rank`` observed entries).
    max_iter : int, default=1000
    tol : float, default=1e-6
        The inner fits' stopping rule, tighter than NMF's defaults (200, 1e-4):
        fits stopped before they converge score the ranks by how far each got,
        and chose rank 9 for 8 on uniform random factors (see :data:`CV_TOL`).
    axis : {0, 1}
        Consensus over rows (0, by W) or columns (1, by H); at most
        ``MAX_CONSENSUS_ITEMS`` of them (the matrix is items x items).
    random_state : int, RandomState or None
        Seeds every hold-out and start: the result does not depend on ``n_jobs``.
    n_jobs : int or None
        Fits run side by side on this many threads (each fit on one); None: every
        usable core.

    Returns
    -------
    RankSelection

    Examples
    --------
    >>> import numpy as np
    >>> import fastnmf
    >>> rng = np.random.default_rng(0)
    >>> X = rng.random((60, 3)) @ rng.random((3, 40))
    >>> X = np.abs(X + 0.05 * X.mean() * rng.standard_normal(X.shape))  # rank 3, noise
    >>> fastnmf.select_rank(X, range(1, 6), random_state=0).best_rank
    3
    """
    res = _select(X, ranks, None, method, n_repeats=n_repeats, n_init=n_init,
                  test_fraction=test_fraction, max_test_entries=max_test_entries,
                  beta_loss=beta_loss, solver=solver, max_iter=max_iter, tol=tol,
                  alpha_W=alpha_W, alpha_H=alpha_H, l1_ratio=l1_ratio, missing=missing,
                  mask=mask, axis=axis, random_state=random_state, n_jobs=n_jobs,
                  backend=backend)
    return res


def select_params(X, ranks, alphas=None, *, n_repeats=3, n_init=1, test_fraction=0.1,
                  max_test_entries=10**6, beta_loss="frobenius", solver="auto",
                  max_iter=CV_MAX_ITER, tol=CV_TOL, l1_ratio=0.0, missing="nan", mask=None,
                  random_state=None, n_jobs=None, backend="auto"):
    """Choose the number of components and the regularization together, by
    cross-validation on held-out entries (the hold-outs of :func:`select_rank`).

    Every (rank, alpha) pair is fitted on the same ``n_repeats`` hold-outs with
    ``NMF(rank, alpha_W=alpha)`` (``alpha_H='same'``; with unknown entries the penalty
    of each row and column counts its observed entries, see :class:`fastnmf.NMF`), and
    scored by the mean loss per held-out entry.

    Parameters
    ----------
    X : array-like or scipy.sparse matrix (n_samples, n_features), non-negative
    ranks : iterable of int >= 1
    alphas : iterable of float >= 0, or None
        None: ``mean * (0, 0.005, 0.01, 0.02, 0.05, 0.1)``, ``mean`` the mean observed
        value (``alpha_W='auto'`` is 0.02 times it; the penalty grows with the scale of
        X, see :func:`fastnmf.solvers.penalty.auto_alpha`).
    n_repeats, n_init, test_fraction, max_test_entries, beta_loss, solver, max_iter,
    tol, l1_ratio, missing, mask, random_state, n_jobs, backend :
        as in :func:`select_rank`.

    Returns
    -------
    ParamSelection
        ``best_rank``, ``best_alpha`` (the lowest mean held-out error), ``best_params``
        (``dict(n_components=..., alpha_W=...)`` for ``NMF(**best_params)``), the table
        of every pair.

    Examples
    --------
    >>> import numpy as np
    >>> import fastnmf
    >>> rng = np.random.default_rng(0)
    >>> X = rng.random((60, 3)) @ rng.random((3, 40))
    >>> X = np.abs(X + 0.05 * X.mean() * rng.standard_normal(X.shape))  # rank 3, noise
    >>> res = fastnmf.select_params(X, [2, 3, 4], alphas=[0.0, 0.01], random_state=0)
    >>> res.best_rank, res.best_alpha
    (3, 0.0)
    """
    return _select(X, ranks, alphas, "cv", n_repeats=n_repeats, n_init=n_init,
                   test_fraction=test_fraction, max_test_entries=max_test_entries,
                   beta_loss=beta_loss, solver=solver, max_iter=max_iter, tol=tol,
                   alpha_W=None, alpha_H="same", l1_ratio=l1_ratio, missing=missing,
                   mask=mask, axis=0, random_state=random_state, n_jobs=n_jobs,
                   backend=backend)


def _select(X, ranks, alphas, method, *, n_repeats, n_init, test_fraction, max_test_entries,
            beta_loss, solver, max_iter, tol, alpha_W, alpha_H, l1_ratio, missing, mask, axis,
            random_state, n_jobs, backend):
    """select_rank (``alphas`` None: one alpha, ``alpha_W``) and select_params (a grid of
    ``alphas``, 'cv' only)."""
    from .._estimator import NMF

    start_time = time.perf_counter()
    method = check_option(method, "method", METHODS)
    ranks = _check_ranks(ranks)
    n_repeats = check_int(n_repeats, "n_repeats", 1)
    n_init = check_int(n_init, "n_init", 1)
    test_fraction = check_real(test_fraction, "test_fraction", low=0.0, high=1.0)
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1); got {test_fraction!r}")
    max_test_entries = check_int(max_test_entries, "max_test_entries", 1)
    beta = beta_loss_to_float(beta_loss)
    if beta not in (1.0, 2.0):
        raise ValueError(f"beta_loss must be 'frobenius' or 'kullback-leibler'; got {beta_loss!r}")
    if axis not in (0, 1):
        raise ValueError(f"axis must be 0 (rows) or 1 (columns); got {axis!r}")
    rng = check_random_state(random_state)
    Xa, obs = prepare(X, mask, missing)
    m, n = Xa.shape
    if ranks[-1] > min(m, n):
        raise ValueError(f"ranks must be at most min(n_samples, n_features) = {min(m, n)}; "
                         f"got {ranks[-1]}")
    backend = resolve_backend_name(backend)
    try:
        n_threads = resolve_n_threads(n_jobs)
    except (TypeError, ValueError) as exc:
        raise type(exc)(str(exc).replace("n_threads", "n_jobs")) from None
    if backend == "numba" and not numba_layer_is_reentrant():
        # numba's 'workqueue' layer must not run kernels from several threads at once
        n_jobs_eff = 1
    else:
        n_jobs_eff = n_threads
    grid = alphas is not None or alpha_W is None
    if grid:
        alpha_list = _check_alphas(alphas, Xa, obs)
    else:
        alpha_list = [alpha_W]
    common = dict(beta_loss=beta_loss, max_iter=max_iter, tol=tol, alpha_H=alpha_H,
                  l1_ratio=l1_ratio, backend=backend)
    try:
        resolved = resolve_missing(check_option(solver, "solver", SOLVERS), beta)
    except ValueError as exc:  # say why a fit without NaN meets the missing-entries rules
        raise ValueError(f"select_rank fits with its held-out entries treated as missing: "
                         f"{exc}") from None
    complement = beta == 2 and resolved == "cd"  # the Frobenius cd: X minus a sparse set

    if method in ("consensus", "both"):
        items = m if axis == 0 else n
        if items > MAX_CONSENSUS_ITEMS:
            raise ValueError(
                f"consensus needs an items x items matrix: {items} {'rows' if axis == 0 else 'columns'} "
                f"is more than {MAX_CONSENSUS_ITEMS}; subsample them, or use method='cv'")

    tasks = []
    holds = []
    if method in ("cv", "both"):
        if sp.issparse(Xa) and obs is None:  # absent entries are zeros (data)
            make = (lambda r: hold_out_complement(Xa, test_fraction, max_test_entries, r,
                                                   complement))
        elif sp.issparse(Xa):  # missing='unobserved': the stored entries
            make = (lambda r: hold_out_observed(obs, test_fraction, r))
        else:
            T = obs.T if obs is not None else _pattern([], np.zeros(m + 1, int), (m, n))
            if complement and T.nnz <= _missing.COMPLEMENT_MAX_FRACTION * m * n:
                make = (lambda r: hold_out_dense(Xa, T, test_fraction, r))
            else:
                known = (from_dense(Xa, obs.mask, obs.missing) if obs is not None
                         else from_dense(Xa, None, "nan"))
                make = (lambda r: hold_out_observed(known, test_fraction, r))
        for _ in range(n_repeats):
            holds.append(make(np.random.default_rng(rng.randint(np.iinfo(np.int32).max))))
        for i, k in enumerate(ranks):
            for a in range(len(alpha_list)):
                for j in range(n_repeats):
                    tasks.append(("cv", (i, a), j, k, int(rng.randint(np.iinfo(np.int32).max))))
    if method in ("consensus", "both"):
        for i, k in enumerate(ranks):
            for j in range(n_repeats):
                tasks.append(("consensus", i, j, k, int(rng.randint(np.iinfo(np.int32).max))))

    def run(task):
        kind, i, j, k, seed = task
        threads = 1 if n_jobs_eff > 1 else n_threads
        if kind == "cv":
            hold = holds[j]
            est = NMF(k, solver=solver, n_threads=threads, random_state=seed,
                      n_init=n_init, init="random" if n_init > 1 else None,
                      alpha_W=alpha_list[i[1]], **common)
            W, Ht, train, _ = est._fit_observed(hold.train)
            return kind, i, j, (test_error(W, Ht, hold, beta), train)
        est = NMF(k, solver=solver, n_threads=threads, random_state=seed, n_init=n_init,
                  init="random", alpha_W=alpha_list[0], **common)
        if obs is None:
            W = est.fit_transform(Xa)
            Ht, error = est.components_.T, est.reconstruction_err_
        else:
            W, Ht, _, error = est._fit_observed(obs)
        F = W if axis == 0 else Ht
        return kind, i, j, (np.argmax(F, axis=1), error)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with blas_threads(1 if n_jobs_eff > 1 else n_threads):
            if n_jobs_eff > 1 and len(tasks) > 1:
                with ThreadPoolExecutor(max_workers=min(n_jobs_eff, len(tasks))) as pool:
                    results = list(pool.map(run, tasks))
            else:
                results = [run(t) for t in tasks]

    nr = len(ranks)
    table = {"rank": np.asarray(ranks)}
    test_errors = consensus = None
    best = elbow = None
    if grid:
        na = len(alpha_list)
        errs = np.full((nr, na, n_repeats), np.nan)
        train = np.full((nr, na, n_repeats), np.nan)
        for kind, (i, a), j, (te, tr) in results:
            errs[i, a, j], train[i, a, j] = te, tr
        mean = errs.mean(axis=2)
        flat = int(np.nanargmin(np.where(np.isfinite(mean), mean, np.inf)))
        bi, ba = np.unravel_index(flat, mean.shape)
        table = {"rank": np.repeat(np.asarray(ranks), na),
                 "alpha": np.tile(np.asarray(alpha_list, dtype=np.float64), nr),
                 "test_error": mean.ravel(), "test_error_std": errs.std(axis=2).ravel(),
                 "train_error": train.mean(axis=2).ravel()}
        return ParamSelection(ranks=np.asarray(ranks), alphas=np.asarray(alpha_list, float),
                              table=table, best_rank=int(ranks[bi]),
                              best_alpha=float(alpha_list[ba]), test_errors=errs,
                              seconds=time.perf_counter() - start_time)
    if method in ("cv", "both"):
        test_errors = np.full((nr, n_repeats), np.nan)
        train = np.full((nr, n_repeats), np.nan)
        for kind, i, j, (te, tr) in results:
            if kind == "cv":
                test_errors[i[0], j], train[i[0], j] = te, tr
        table["test_error"] = test_errors.mean(axis=1)
        table["test_error_std"] = test_errors.std(axis=1)
        table["train_error"] = train.mean(axis=1)
        best = _one_se_best(ranks, test_errors)
        elbow = _elbow(ranks, table["train_error"])
    if method in ("consensus", "both"):
        labels = [[None] * n_repeats for _ in ranks]
        recon = np.full((nr, n_repeats), np.nan)
        for kind, i, j, val in results:
            if kind == "consensus":
                labels[i][j], recon[i, j] = val
        consensus = {}
        coph, disp = np.empty(nr), np.empty(nr)
        for i, k in enumerate(ranks):
            C = consensus_matrix(np.vstack(labels[i]))
            coph[i], disp[i] = cophenetic_correlation(C), dispersion(C)
            consensus[int(k)] = C.astype(np.float32)
        table["cophenetic"] = coph
        table["dispersion"] = disp
        table["reconstruction_error"] = np.nanmin(recon, axis=1)
        if best is None:
            best = _brunet_best(ranks, coph)
            elbow = _elbow(ranks, table["reconstruction_error"])
    return RankSelection(ranks=np.asarray(ranks), method=method, table=table, best_rank=best,
                         elbow_rank=elbow, test_errors=test_errors, consensus=consensus,
                         seconds=time.perf_counter() - start_time)


def _check_alphas(alphas, Xa, obs):
    """The alphas of select_params: the given ones (floats >= 0, distinct, sorted), or
    the default grid relative to the mean observed value."""
    if alphas is None:
        if obs is None:  # every entry known (a sparse X's absent ones are zeros)
            total = float(Xa.data.sum()) if sp.issparse(Xa) else float(Xa.sum(dtype=np.float64))
            mean = total / (Xa.shape[0] * Xa.shape[1])
        elif isinstance(obs, Observed):
            mean = float(obs.X.data.mean())
        else:  # DenseMissing
            known = ~np.isnan(obs.X) if obs.mask is None else ~(np.isnan(obs.X) | obs.mask)
            if obs.missing == "unobserved":
                known &= obs.X != 0
            mean = float(obs.X[known].mean())
        return [mean * f for f in DEFAULT_ALPHA_FACTORS]
    try:
        values = list(alphas)
    except TypeError:
        raise TypeError(f"alphas must be an iterable of real numbers >= 0; got {alphas!r}") from None
    if not values:
        raise ValueError("alphas must not be empty")
    out = [check_real(v, "alphas", low=0.0) for v in values]
    if len(set(out)) != len(out):
        raise ValueError(f"alphas must be distinct; got {values!r}")
    return sorted(out)


#: select_params' default alphas, times the mean observed value.
DEFAULT_ALPHA_FACTORS = (0.0, 0.005, 0.01, 0.02, 0.05, 0.1)


def _check_ranks(ranks):
    try:
        values = list(ranks)
    except TypeError:
        raise TypeError(f"ranks must be an iterable of ints >= 1; got {ranks!r}") from None
    if not values:
        raise ValueError("ranks must not be empty")
    out = []
    for v in values:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral) or v < 1:
            raise ValueError(f"ranks must be ints >= 1; got {v!r}")
        out.append(int(v))
    if len(set(out)) != len(out):
        raise ValueError(f"ranks must be distinct; got {values!r}")
    return sorted(out)
