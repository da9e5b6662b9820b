"""``fastnmf.NMF``: scikit-learn's NMF estimator, with compiled kernels underneath."""

import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _beta, _fit, _masked, _solvers
from ._auto import choose_solver, stopping
from ._backends import get_backend, resolve_backend_name
from ._init import initialize
from ._monitor import Monitor, verbose_logging
from ._pool import PooledKernels, row_threads
from ._threads import blas_threads, fit_threads, resolve_n_threads
from ._validation import beta_loss_to_float, check_factor, check_frozen, check_params


class NMF(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Non-negative matrix factorization, ``X ~= W @ H`` with ``W, H >= 0``.

    A drop-in replacement for :class:`sklearn.decomposition.NMF`: the same
    parameters with the same meanings and defaults, the same attributes, the
    same results for the same initialization, computed by compiled (Cython or
    Numba) kernels.  It minimises

    ``0.5 ||X - W H||_F^2 + alpha_W * l1_ratio * n_features * ||W||_1
    + 0.5 * alpha_W * (1 - l1_ratio) * n_features * ||W||_F^2
    + alpha_H * l1_ratio * n_samples * ||H||_1
    + 0.5 * alpha_H * (1 - l1_ratio) * n_samples * ||H||_F^2``

    with the Frobenius loss; with another ``beta_loss`` its divergence
    ``D_beta(X | W H)`` takes the place of the first term.

    Parameters
    ----------
    n_components : int, 'auto' or None, default='auto'
        Number of components. ``None`` means ``n_features``; ``'auto'`` takes
        it from a custom ``H``/``W`` and is ``n_features`` otherwise.
    init : {'random', 'nndsvd', 'nndsvda', 'nndsvdar', 'custom'} or None
        Initialization. ``None`` is 'nndsvda' when
        ``n_components <= min(n_samples, n_features)``, else 'random'.
        'custom' uses the ``W`` and ``H`` passed to :meth:`fit_transform`.
    solver : {'auto', 'cd', 'mu', 'emu', 'hals', 'ehals', 'pgd', 'als'}, default='auto'
        'auto' picks, for the loss and input, the candidate whose whole call
        a measured cost model (over shape, stored entries, rank and dtype,
        ``fastnmf._auto``) predicts to be the shortest: for the Frobenius
        loss 'cd' or 'hals' (dense cd is not stopped by scikit-learn's rule
        while the loss still falls by more than 100 ``tol`` an iteration),
        'als' with ``update_H=False``; for KL 'emu', 'mu' or 'cd'; for other
        beta 'emu' or 'mu'.  On the real-data corpus that is 'cd' on dense
        and 'hals' on sparse X for the Frobenius loss and 'emu' for KL;
        ``solver_`` tells which ran.  'cd' is coordinate
        descent: for the Frobenius loss exact HALS, iteration for iteration
        the algorithm of scikit-learn's 'cd'; for the Kullback-Leibler loss
        safeguarded Newton steps per coordinate (Hsieh & Dhillon 2011),
        whose loss never increases.  'mu' is scikit-learn's multiplicative
        updates, for any ``beta_loss``.  'emu' (any beta but 2) is 'mu'
        over-relaxed (the update ratio raised to 1.8 times scikit-learn's
        exponent) with momentum (each entry then multiplied by its last
        accepted step's ratio to the power 0.5); an iteration whose objective
        rose is taken again as a plain mu step (with less momentum from then
        on), so its loss never increases; it stops by scikit-learn's mu rule
        and reached mu's loss 2.4-11 times sooner in iterations on real dense
        data.
        Frobenius only: 'hals' is
        accelerated HALS (Gillis & Glineur 2012: several cheap sweeps per
        expensive product), 'ehals' the same with extrapolation and restarts
        (Ang & Gillis 2019: each factor is pushed further along its last
        step; an iteration whose loss rises makes the next one restart with
        a shorter push, so ``loss_history_`` is not always monotone),
        'pgd' accelerated projected gradient (Nesterov, step 1/L, restarted
        rather than let the loss increase), 'als' alternating NNLS solved
        exactly by block principal pivoting (Kim & Park 2011).

        What 'auto' changes compared with 'cd' (Frobenius loss): the fit may
        run another algorithm of the same objective ('hals' on sparse data), so
        its factors are not scikit-learn's iterates, and ``transform`` (like
        ``non_negative_factorization(update_H=False)``) solves for W exactly,
        one NNLS problem per row, instead of cd iterations from ``W = 0``
        stopped by ``tol``.  For the other beta-divergences on dense X it runs
        'emu' instead of scikit-learn's 'mu' (another path to the same
        objective, so other factors; lower loss for the same iterations).
        With 'cd' or 'mu' every method, ``transform`` included, does what
        scikit-learn's does, iteration for iteration.
    beta_loss : float or {'frobenius', 'kullback-leibler', 'itakura-saito'}, default='frobenius'
        The beta-divergence minimised: 2 ('frobenius') is half the squared
        Frobenius norm above, 1 ('kullback-leibler') the generalized KL
        divergence ``sum x log(x / wh) - x + wh``, 0 ('itakura-saito') the
        Itakura-Saito divergence.  'cd' takes 2 and 1, 'mu' any real value,
        'emu' any but 2.
        Values <= 0 need X without zeros (else ValueError).
    tol : float >= 0, default=1e-4
        Stopping tolerance, with scikit-learn's rule for scikit-learn's solvers (Frobenius
        'cd', 'mu'; also 'emu', 'ehals', 'pgd', 'als'); 'hals' and the KL 'cd' stop when, every 10
        iterations, the error ``sqrt(2 objective)`` fell by less than ``tol`` times itself.
    max_iter : int >= 1, default=200
    random_state : int, RandomState instance or None
        Seeds the initialization and the shuffling of components.
    alpha_W : float >= 0 or 'auto', default='auto'
        Regularization of W, as in scikit-learn.  'auto' is 0 (scikit-learn's
        default, exactly) for a fit without unknown entries; with unknown entries
        (``missing``) it is ``0.02`` times the mean observed value (see below).
        With unknown entries the penalty of each row of W is scaled by that
        row's number of observed entries, and of each column of H by that
        column's, in place of ``n_features`` and ``n_samples`` (the same when
        nothing is missing): the weighted-lambda regularization of ALS for
        ratings (Zhou et al. 2008).  Without a penalty, a row or column with
        fewer observed entries than components is fitted exactly and its
        predictions are unbounded (MovieLens 100k at rank 32: held-out
        predictions up to 6e7 for ratings 1-5; with 'auto' a held-out RMSE of
        0.917, below the user/item-bias baseline's 0.937); so 'auto' is that
        penalty when a row or column has fewer than ``2 n_components`` observed
        entries, and none otherwise.  ``alpha_W=0`` is exactly no penalty.
        :func:`fastnmf.select_params` chooses it by cross-validation.
    alpha_H, l1_ratio : regularization, as in scikit-learn
        ``alpha_H='same'`` (default) uses ``alpha_W`` ('auto' included).
    verbose : int, default=0
        Log the loss at each iteration (logger 'fastnmf', level INFO; printed
        to stdout when logging is not configured).
    shuffle : bool, default=False
        Visit the components in a random order in 'cd' and 'hals'.
    backend : {'auto', 'cython', 'numba', 'numpy'}, default='auto'
        Kernel implementation; 'auto' takes the first available of cython,
        numba, numpy (or the ``FASTNMF_BACKEND`` environment variable).
    n_threads : int or None, default=None
        Threads for the kernels and for BLAS, at most; ``None`` or -1 uses every
        usable core.  A Frobenius fit on a small sparse X (under about 2e6
        multiply-adds an iteration) runs on one thread, which is faster there.
        Results do not depend on it beyond BLAS rounding.
    n_init : int >= 1, default=1
        Number of fits from different random initializations; the one with
        the lowest final objective is kept.  Run i starts from seed i of
        ``n_init`` seeds drawn from ``random_state`` (reproducible).  With
        ``init=None`` the runs use 'random'; the deterministic 'nndsvd',
        'nndsvda' and 'custom' warn and run once.  With several threads the
        runs go side by side, one per thread (measured faster than one run
        after another on all threads at every size tried; see
        benchmarks/results/ninit.md).
    callback : callable or None, default=None
        ``callback(info)`` after every iteration, ``info`` an
        :class:`fastnmf.IterationInfo` (iteration, loss, elapsed, W, H,
        solver); returning ``False`` stops the fit.
    progress : bool, default=False
        Show a tqdm progress bar with the current loss.
    warm_start : bool, default=False
        Start the next fit from this fit's W and H (from H and the exact
        ``transform`` W when the number of rows changed).
    frozen_components : array-like of int or bool, default=None
        Rows of H (indices, or a mask of length ``n_components``) kept at their
        initial value; W and the other rows are fitted.  Not with the KL
        coordinate descent.
    missing : {'nan', 'unobserved'}, default='nan'
        Which entries of X are unknown; the fit then uses only the observed
        entries (the loss, ``reconstruction_err_`` and ``loss_history_`` are sums
        over them).  'nan': the NaN entries of a dense X (so a dense X with NaN
        is fitted on its other entries; sparse X keeps scikit-learn's meaning,
        absent entries are zeros).  'unobserved': only the stored entries of a
        sparse X are observed, absent ones are unknown (ratings, recommender
        data: kernels run over the stored entries only, nothing m x n is formed);
        for a dense X, its zeros and NaN are unknown.  ``fit(X, mask=M)`` marks
        more entries of a dense X as unknown (boolean, True = missing), and a
        ``numpy.ma.MaskedArray`` brings its own mask.  With missing entries the
        solvers are 'cd' ('auto' and 'hals' run it: exact coordinate descent on the
        known entries, as an ordinary iteration corrected over a few unknown ones,
        or over the observed ones, CCD++) and 'mu', for the Frobenius and
        Kullback-Leibler losses; every row and column needs an observed entry
        (else ValueError).  :meth:`predict_entries` gives ``W H`` at chosen entries.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The factor H, in the dtype of X (float32 or float64).
    n_components_ : int
    reconstruction_err_ : float
        ``||X - W H||_F`` at the end of the fit: summed entry by entry for
        dense X (exact), from the nonzeros and the Gram matrices for sparse X.
        For other losses ``sqrt(2 D_beta(X | W H))``, as in scikit-learn.
    n_iter_ : int
    n_features_in_ : int
    feature_names_in_ : ndarray of str, when X has string column names
    loss_history_ : ndarray of shape (n_iter,)
        The objective (the loss for ``beta_loss`` plus the regularization
        terms above) after each iteration.
    time_history_ : ndarray of shape (n_iter,)
        Seconds since the solver started, at the end of each iteration.
    run_losses_ : ndarray of shape (runs,)
        The final objective of each ``n_init`` run.
    solver_ : str
        The solver that ran (what 'auto' chose).
    backend_ : str
        The kernel backend that ran the fit.
    W_ : ndarray of shape (n_samples, n_components)
        The W of the last fit (the array ``fit_transform`` returned, not a copy),
        used by :meth:`predict_entries`.
    n_missing_ : int
        How many entries of X were missing (0 for a complete fit).

    Examples
    --------
    >>> import numpy as np
    >>> from fastnmf import NMF
    >>> X = np.array([[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]])
    >>> model = NMF(n_components=2, init='random', random_state=0)
    >>> W = model.fit_transform(X)
    >>> H = model.components_
    >>> bool(np.abs(W @ H - X).max() < 0.05)
    True
    """

    def __init__(
        self,
        n_components="auto",
        *,
        init=None,
        solver="auto",
        beta_loss="frobenius",
        tol=1e-4,
        max_iter=200,
        random_state=None,
        alpha_W="auto",
        alpha_H="same",
        l1_ratio=0.0,
        verbose=0,
        shuffle=False,
        backend="auto",
        n_threads=None,
        n_init=1,
        callback=None,
        progress=False,
        warm_start=False,
        frozen_components=None,
        missing="nan",
    ):
        self.n_components = n_components
        self.init = init
        self.solver = solver
        self.beta_loss = beta_loss
        self.tol = tol
        self.max_iter = max_iter
        self.random_state = random_state
        self.alpha_W = alpha_W
        self.alpha_H = alpha_H
        self.l1_ratio = l1_ratio
        self.verbose = verbose
        self.shuffle = shuffle
        self.backend = backend
        self.n_threads = n_threads
        self.n_init = n_init
        self.callback = callback
        self.progress = progress
        self.warm_start = warm_start
        self.frozen_components = frozen_components
        self.missing = missing

    # ------------------------------------------------------------------ API
    def fit(self, X, y=None, **params):
        """Learn the factorization of X; returns ``self``."""
        self.fit_transform(X, **params)
        return self

    def fit_transform(self, X, y=None, W=None, H=None, mask=None):
        """Learn the factorization of X and return W.

        Parameters
        ----------
        X : array-like or scipy.sparse matrix of shape (n_samples, n_features), non-negative
            Sparse X (any format) is never densified.
        y : ignored
        W : array-like of shape (n_samples, n_components), optional
            Initial W when ``init='custom'`` (copied, never modified).
        H : array-like of shape (n_components, n_features), optional
            Initial H when ``init='custom'`` (copied, never modified).
        mask : array-like of bool, shape (n_samples, n_features), optional
            Dense X only: True marks an entry as missing (see ``missing``).

        Returns
        -------
        W : ndarray of shape (n_samples, n_components)
        """
        validate_data(self, X, skip_check_array=True, reset=True)
        Xa, obs = _masked.prepare(X, mask, self.missing)
        result, backend = self._run(Xa, W, H, update_H=True, with_error=True, obs=obs)
        self.components_ = np.ascontiguousarray(result.Ht.T)
        self.n_components_ = self.components_.shape[0]
        self._n_components = self.n_components_  # scikit-learn's private name for it
        self.n_iter_ = result.n_iter
        self.loss_history_ = np.asarray(result.loss_history, dtype=np.float64)
        self.time_history_ = np.asarray(result.times, dtype=np.float64)
        self.run_losses_ = np.asarray(result.run_losses, dtype=np.float64)
        self.solver_ = result.solver
        self.backend_ = backend
        self.reconstruction_err_ = result.error
        self.W_ = result.W
        self.n_missing_ = 0 if obs is None else obs.n_missing
        # warm_start continues from this W; a private copy (the caller owns the result)
        self._warm_W = result.W.copy() if self.warm_start else None
        return result.W

    def transform(self, X, mask=None):
        """Return W for X with the learned components held fixed.

        With ``solver='auto'`` and the Frobenius loss W is exact (one NNLS problem
        per row); with a named solver it is that solver's iterations from its
        start, as in scikit-learn (see ``solver``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Missing entries as in ``fit`` (``missing``): W is then fitted to
            the observed entries only.
        mask : array-like of bool, optional
            Dense X only: True marks an entry as missing.

        Returns
        -------
        W : ndarray of shape (n_samples, n_components)
        """
        check_is_fitted(self)
        # X first: a malformed X (1-D, say) gets its own message, not a feature count's
        Xa, obs = _masked.prepare(X, mask, self.missing, columns=False)  # H is fixed
        validate_data(self, X, skip_check_array=True, reset=False)
        H = self.components_.astype(Xa.dtype, copy=False)
        p = check_params(self)
        if obs is None and p["solver"] == "auto" and p["beta_loss"] == 2:
            # 'auto': exact, one NNLS solve per row (block principal pivoting)
            kernels = get_backend(resolve_backend_name(self.backend))
            return self._W_for(Xa, np.ascontiguousarray(H.T), 2.0, p, kernels,
                               resolve_n_threads(self.n_threads))
        # a named solver does what scikit-learn's transform does (its _fit_transform with
        # update_H=False): that solver's iterations on W from its start (zeros for 'cd',
        # sqrt(mean(X) / k) for 'mu'), stopped by tol and max_iter; so transform(X) is
        # non_negative_factorization(X, H=components_, update_H=False, solver=solver)
        result, _ = self._run(Xa, None, H, update_H=False, n_components=self.n_components_,
                              obs=obs)
        return result.W

    def inverse_transform(self, X):
        """Map W back to the data space: ``X @ components_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components)

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        Wa = np.asarray(X)
        if Wa.ndim != 2 or Wa.shape[1] != self.n_components_:
            raise ValueError(
                f"X must have shape (n_samples, {self.n_components_}) (n_components_ "
                f"columns); got shape {Wa.shape}"
            )
        return Wa @ self.components_

    def predict_entries(self, rows, cols, W=None):
        """``(W H)[rows[i], cols[i]]`` for each i: the fitted value of chosen entries
        (e.g. the missing ones, for recommendation), without forming ``W H``.

        Parameters
        ----------
        rows, cols : array-like of int, same shape
            Row (sample) and column (feature) indices; negative ones count from the end.
        W : array-like of shape (n_rows, n_components), optional
            The rows' W; default the W of the last fit (``W_``).  Pass
            ``transform(X_new)`` to predict for new rows.

        Returns
        -------
        values : ndarray of float64, the shape of ``rows``
        """
        check_is_fitted(self)
        W = self.W_ if W is None else np.asarray(W)
        k, n = self.components_.shape
        if W.ndim != 2 or W.shape[1] != k:
            raise ValueError(f"W must have shape (n_rows, {k}); got shape {W.shape}")
        r, c = np.asarray(rows), np.asarray(cols)
        for name, idx, size in (("rows", r, W.shape[0]), ("cols", c, n)):
            if idx.dtype.kind not in "iu":
                raise TypeError(f"{name} must be integer indices; got dtype {idx.dtype}")
            if idx.size and (idx.min() < -size or idx.max() >= size):
                raise ValueError(f"{name} must be indices in [-{size}, {size}); got values from "
                                 f"{int(idx.min())} to {int(idx.max())}")
        if r.shape != c.shape:
            raise ValueError(f"rows and cols must have the same shape; got {r.shape} and {c.shape}")
        r = np.where(r < 0, r + W.shape[0], r).ravel()
        c = np.where(c < 0, c + n, c).ravel()
        Ht = self.components_.T
        return _masked.wh_at(W, Ht, r, c).reshape(np.shape(rows))

    def _fit_observed(self, obs):
        """Fit the observed entries ``obs`` (a :class:`fastnmf._masked.Observed`, or a
        hold-out's training set) without touching the fitted attributes (select_rank).
        Returns ``(W, Ht, mean loss per observed entry, reconstruction error)``; the
        mean loss is the squared error (Frobenius) or the KL divergence per entry."""
        result, _ = self._run(obs.X, None, None, update_H=True, with_error=True, obs=obs)
        loss = max(result.last_data_loss, 0.0)
        n_known = obs.shape[0] * obs.shape[1] - obs.n_missing
        per_entry = (2.0 * loss if check_params(self)["beta_loss"] == 2 else loss) / n_known
        return result.W, result.Ht, per_entry, result.error

    @property
    def _n_features_out(self):
        return self.components_.shape[0]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        tags.input_tags.sparse = True  # any scipy.sparse format, never densified
        # NaN entries are missing values (``missing``), for the solvers that fit them
        tags.input_tags.allow_nan = self._fits_missing()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    def _fits_missing(self):
        """Whether this solver and loss fit an X with unknown (NaN) entries."""
        try:
            _masked.resolve_solver(self.solver, beta_loss_to_float(self.beta_loss))
        except (TypeError, ValueError):
            return False
        return True

    # ------------------------------------------------------------ internals
    def _run(self, X, W, H, update_H, n_components=None, with_error=False, obs=None):
        """Validate everything, initialise, then run the solver (``n_init`` times).

        Returns ``(result, backend)``; with ``with_error``, ``result.error`` is
        ``||X - W H||_F`` at the end (see :func:`_fit.reconstruction_error`).
        ``result.run_losses`` holds every run's final objective.  ``obs``: for a fit
        with unknown entries, how they are held (:mod:`fastnmf._masked`: ``Observed``,
        ``Complement``, or a ``DenseMissing`` that picks one of them here).
        """
        p = check_params(self)
        backend = resolve_backend_name(self.backend)
        kernels = get_backend(backend)
        n_threads = resolve_n_threads(self.n_threads)
        m, n = X.shape
        k = n_components if n_components is not None else p["n_components"]
        beta = p["beta_loss"]
        if obs is not None:
            solver = _masked.resolve_solver(p["solver"], beta)
            if hasattr(obs, "representation"):  # dense X: how to hold its unknown entries
                obs = obs.representation(beta, solver)
            X_init = obs.fill_estimate()  # for the initialization and the flat starts
        if obs is None and beta <= 0 and _beta.zeros_in(X):
            raise ValueError(
                "When beta_loss <= 0 and X contains zeros, the solver may diverge: "
                f"X contains zeros and beta_loss={self.beta_loss!r} <= 0, and the divergence "
                "is undefined at zero entries. Add small values to X, or use a positive "
                "beta_loss (e.g. 'kullback-leibler')."
            )
        warm = (update_H and p["warm_start"] and hasattr(self, "components_")
                and self.components_.shape[1] == n)
        if warm:
            k = self.components_.shape[0]
        frozen_param = getattr(self, "frozen_components", None) if update_H else None
        if obs is None:  # 'auto' is settled once the rank is known, after the starts
            solver = p["solver"]
        if frozen_param is not None and solver == "cd" and beta != 2:
            raise ValueError(
                "frozen_components is not supported by solver='cd' with the Kullback-Leibler "
                "loss; use solver='mu' (or 'auto', which picks it)"
            )

        starts = self._starts(X if obs is None else X_init, W, H, k, p, update_H, warm, beta,
                              kernels, n_threads)
        if obs is not None and update_H and not warm and p["init"] != "custom":
            # initialized from a stand-in for X: magnitudes matched to the observed entries
            starts = _masked.scaled_starts(obs, starts, beta)
        k = starts[0][1].shape[1]
        frozen = check_frozen(frozen_param, k)
        if obs is None and solver == "auto":  # every rule of 'auto': fastnmf._auto
            solver = choose_solver(X, k, beta, update_H=update_H,
                                   frozen=frozen is not None and len(frozen) > 0)
        # the stopping rule 'auto' gives its choice, if not the solver's own (fastnmf._auto)
        auto_stop = stopping(solver, beta) if obs is None and p["solver"] == "auto" else None
        if solver in ("mu", "emu") and p["init"] == "nndsvd" and update_H and not warm:
            warnings.warn(
                "The multiplicative update ('mu') solver cannot update zeros present in the "
                "initialization, and so leads to poorer results when used jointly with "
                "init='nndsvd'. You may try init='nndsvda' or init='nndsvdar' instead.",
                UserWarning,
            )
        if obs is not None:  # per row and column, by observed entries (fastnmf._masked)
            penalty = _masked.count_penalty(obs, p, solver, k)
        else:
            penalty = _fit.Penalty.from_alphas(X.shape, p["alpha_W"], p["alpha_H"], p["l1_ratio"])
        if obs is None:  # a small sparse fit gains nothing from threads (fastnmf._threads)
            n_threads = fit_threads(X, k, beta, n_threads)
        n_blas, parallel_kernels = _fit.thread_plan(X if obs is None else obs.X, n_threads)
        workers = _parallel_runs(X, starts, n_threads, p, backend)
        run_threads = max(1, n_threads // workers)
        pooled = (obs is None and workers == 1
                  and _use_row_threads(X, n_threads, beta, backend, solver))

        def run_one(run, seed, W0, Ht0, threads):
            label = solver if len(starts) == 1 else f"{solver} run {run + 1}/{len(starts)}"
            monitor = Monitor(label, p["max_iter"], callback=p["callback"],
                              verbose=p["verbose"], progress=p["progress"])
            common = dict(kernels=kernels, n_threads=threads, penalty=penalty,
                          max_iter=p["max_iter"], tol=p["tol"], update_H=update_H,
                          monitor=monitor, parallel_kernels=parallel_kernels, frozen=frozen)
            if auto_stop is not None:
                common["stop"] = auto_stop
            try:
                if obs is not None:
                    result = _masked.solve(solver, beta, obs, W0, Ht0, common, p["shuffle"],
                                           check_random_state(seed))
                elif not pooled:
                    result = _solve(solver, beta, X, W0, Ht0, common, p["shuffle"], seed)
                else:  # one pool of our threads, one BLAS thread each (fastnmf._pool)
                    common["kernels"] = PooledKernels(kernels, row_threads(threads))
                    with blas_threads(1):
                        result = _solve(solver, beta, X, W0, Ht0, common, p["shuffle"], seed)
            finally:
                monitor.close()
            result.solver = solver
            return result

        best, run_losses = None, []
        with blas_threads(n_blas if workers == 1 else 1), verbose_logging(p["verbose"]):
            if workers > 1:
                # independent fits: one per thread beats every thread on one fit
                with ThreadPoolExecutor(max_workers=workers) as pool:
                    results = list(pool.map(lambda a: run_one(*a, run_threads),
                                            [(i, *s) for i, s in enumerate(starts)]))
            else:
                results = []
                for run, (seed, W0, Ht0) in enumerate(starts):
                    results.append(run_one(run, seed, W0, Ht0, n_threads))
                    if results[-1].stopped_by_callback:
                        break
            for result in results:
                run_losses.append(result.loss_history[-1])
                if best is None or run_losses[-1] < best.loss_history[-1]:
                    best = result
            result = best
            if with_error:
                if obs is not None:  # over the observed entries
                    result.error = _masked.objective_error(result)
                elif beta == 2 and sp.issparse(X) and result.last_data_loss is not None:
                    # sparse X: the error comes from the Gram identity, which the last
                    # iteration already evaluated for these W, H
                    result.error = float(np.sqrt(2 * result.last_data_loss))
                elif beta == 2:
                    result.error = _fit.reconstruction_error(X, result.W, result.Ht, kernels, n_threads)
                else:
                    div = _beta.BetaProblem(X, kernels, n_threads).divergence(result.W, result.Ht, beta)
                    result.error = float(np.sqrt(2 * max(div, 0.0)))
        result.run_losses = run_losses
        if result.n_iter == p["max_iter"] and p["tol"] > 0 and not result.stopped_by_callback:
            warnings.warn(
                f"Maximum number of iterations {p['max_iter']} reached. Increase it to "
                "improve convergence.",
                ConvergenceWarning,
            )
        return result, backend

    def _starts(self, X, W, H, k, p, update_H, warm, beta, kernels, n_threads):
        """The initial ``(seed, W, Ht)`` of every run: private C-contiguous copies.

        ``seed`` seeds the run's component shuffling.  One run, except with
        ``n_init > 1`` and a random initialization: then run i is initialised
        from seed i of a sequence drawn from ``random_state`` (reproducible).
        """
        m, n = X.shape
        init = p["init"]
        if warm:
            if W is not None or H is not None:
                warnings.warn("warm_start=True continues from the previous fit: the W and H "
                              "passed are ignored.", RuntimeWarning)
            Ht = np.array(self.components_.T, dtype=X.dtype, order="C")
            W0 = getattr(self, "_warm_W", None)
            if W0 is not None and W0.shape == (m, Ht.shape[1]):
                W0 = np.array(W0, dtype=X.dtype, order="C")
            else:  # new rows: start from the W that fits the components
                W0 = self._W_for(X, Ht, beta, p, kernels, n_threads)
            return [(self.random_state, W0, Ht)]
        if update_H and init == "custom":
            if H is None or W is None:
                raise ValueError("init='custom' needs both W and H passed to fit_transform")
            H = _given_H(H, k, n, X.dtype)
            W = check_factor(W, "W", (m, H.shape[0]), X.dtype)
            return [(self.random_state, W, np.ascontiguousarray(H.T))]
        if not update_H:
            if H is None:
                raise ValueError("update_H=False needs H (the fixed components)")
            if W is not None:
                warnings.warn("When update_H=False, the provided initial W is not used.", RuntimeWarning)
            H = _given_H(H, k, n, X.dtype)
            kk = H.shape[0]
            if p["solver"] == "mu" or beta != 2:
                # a multiplicative update cannot leave zero, and the KL Newton
                # steps start badly from W H = 0
                W = np.full((m, kk), np.sqrt(X.mean() / kk), dtype=X.dtype)
            else:
                W = np.zeros((m, kk), dtype=X.dtype)
            return [(self.random_state, W, np.ascontiguousarray(H.T))]
        if W is not None or H is not None:
            warnings.warn(
                "When init!='custom', provided W or H are ignored. Set "
                "init='custom' to use them as initialization.",
                RuntimeWarning,
            )
        if k in (None, "auto"):
            k = n
        n_init = p["n_init"]
        if n_init > 1 and init in ("nndsvd", "nndsvda"):
            warnings.warn(f"n_init={n_init} with the deterministic init={init!r} would repeat one "
                          "fit: running it once. Use init='random' or 'nndsvdar' (or None) for "
                          "restarts.", RuntimeWarning)
            n_init = 1
        if n_init == 1:
            W0, H0 = initialize(X, k, init, self.random_state, kernels=kernels,
                                n_threads=n_threads)
            return [(self.random_state, W0, np.ascontiguousarray(H0.T))]
        init = "random" if init is None else init
        seeds = check_random_state(self.random_state).randint(np.iinfo(np.int32).max, size=n_init)
        starts = []
        for seed in seeds:
            W0, H0 = initialize(X, k, init, int(seed), kernels=kernels, n_threads=n_threads)
            starts.append((int(seed), W0, np.ascontiguousarray(H0.T)))
        return starts

    def _W_for(self, X, Ht, beta, p, kernels, n_threads):
        """A W for fixed components ``Ht``: the exact NNLS solution for the
        Frobenius loss (with ``alpha_W``), else the flat start of ``transform``."""
        if beta != 2:
            k = Ht.shape[1]
            return np.full((X.shape[0], k), np.sqrt(X.mean() / k), dtype=X.dtype)
        penalty = _fit.Penalty.from_alphas(X.shape, p["alpha_W"], p["alpha_H"], p["l1_ratio"])
        with blas_threads(_fit.thread_plan(X, n_threads)[0]):
            return _solvers.solve_W(X, Ht, kernels=kernels, n_threads=n_threads, penalty=penalty)


def _parallel_runs(X, starts, n_threads, p, backend):
    """How many n_init runs to run at once (1: one after the other, each on every thread).

    One run per thread was faster than the runs in sequence on all threads for every
    solver and size measured (1.1x to 1.5x, digits up to dense 4000x3000 and sparse
    100000x20000; benchmarks/ninit.py): the solvers' sweeps scale sub-linearly with
    threads and their per-iteration Python and BLAS overheads overlap.  The extra
    memory is one set of factor-sized buffers per concurrent run, never X-sized.
    """
    if len(starts) < 2 or n_threads < 2:
        return 1
    if backend == "numba" and not _numba_layer_is_reentrant():
        return 1
    if p["callback"] is not None or p["progress"] or p["verbose"]:
        return 1  # keep their output in order
    return min(n_threads, len(starts))


def _use_row_threads(X, n_threads, beta, backend, solver):
    """Whether a fit runs on :class:`fastnmf._pool.RowThreads` (one pool of our threads,
    one BLAS thread each) instead of BLAS's threads plus the kernels' own: the solvers
    with many sweeps per product ('hals', 'ehals') on dense X (on one thread too, where
    it runs inline, so that the factors do not depend on the thread count)
    (measured at 4000x3000, rank 32: hals's iteration 61 -> 50 ms; cd runs fused passes over
    X on OpenMP threads instead, :func:`fastnmf._fit.fit_cd`).  Not with numba's 'workqueue' threading layer, whose kernels must not be
    launched from several threads at once (nor before the first parallel kernel has told
    which layer numba uses)."""
    if beta != 2 or sp.issparse(X) or solver not in ("hals", "ehals"):
        return False
    if n_threads == 1:  # the same plan inline: the same products, so the same factors
        return True
    return backend != "numba" or _numba_layer_is_reentrant()


def _numba_layer_is_reentrant():
    """True when numba's threading layer accepts parallel kernels launched from several
    threads at once (omp, tbb); its 'workqueue' layer does not, and before the first
    parallel kernel has run the layer is not known yet."""
    import numba

    try:
        return numba.threading_layer() in ("omp", "tbb")
    except ValueError:
        return False


def _solve(solver, beta, X, W, Ht, common, shuffle, seed):
    """Run one solver from ``(W, Ht)`` (modified in place)."""
    if beta != 2:
        if solver == "cd":
            return _beta.fit_cd_kl(X, W, Ht, **common)
        if solver == "emu":
            return _beta.fit_emu_beta(X, W, Ht, beta=beta, **common)
        return _beta.fit_mu_beta(X, W, Ht, beta=beta, **common)
    if solver == "cd":
        return _fit.fit_cd(X, W, Ht, shuffle=shuffle, rng=check_random_state(seed), **common)
    if solver in ("hals", "ehals"):
        return _solvers.fit_hals(X, W, Ht, shuffle=shuffle, rng=check_random_state(seed),
                                 extrapolate=solver == "ehals", **common)
    if solver == "mu":
        return _fit.fit_mu(X, W, Ht, **common)
    if solver == "pgd":
        return _solvers.fit_pgd(X, W, Ht, **common)
    return _solvers.fit_als(X, W, Ht, **common)


def _given_H(H, k, n, dtype):
    """A user's H checked against (k, n), k taken from H when 'auto'/None."""
    if k in (None, "auto"):
        k = np.shape(H)[0] if np.ndim(H) == 2 else n
    return check_factor(H, "H", (k, n), dtype)


def non_negative_factorization(
    X,
    W=None,
    H=None,
    n_components="auto",
    *,
    init=None,
    update_H=True,
    solver="auto",
    beta_loss="frobenius",
    tol=1e-4,
    max_iter=200,
    alpha_W="auto",
    alpha_H="same",
    l1_ratio=0.0,
    random_state=None,
    verbose=0,
    shuffle=False,
    backend="auto",
    n_threads=None,
    n_init=1,
    callback=None,
    progress=False,
    frozen_components=None,
    missing="nan",
    mask=None,
):
    """Compute W and H with ``X ~= W @ H``; mirrors scikit-learn's function.

    Parameters are those of :class:`NMF` (but ``warm_start``), plus ``W``/``H``
    (custom initialization, or with ``update_H=False`` the fixed ``H``),
    ``update_H`` (False: solve for W only; ``solver='auto'`` then solves
    exactly, by NNLS, for the Frobenius loss) and ``mask`` (dense X: True marks
    a missing entry; see ``missing`` in :class:`NMF`).

    Returns
    -------
    W : ndarray of shape (n_samples, n_components)
    H : ndarray of shape (n_components, n_features)
    n_iter : int

    Examples
    --------
    >>> import numpy as np
    >>> from fastnmf import non_negative_factorization
    >>> X = np.array([[1, 1], [2, 1], [3, 1.2], [4, 1], [5, 0.8], [6, 1]])
    >>> W, H, n_iter = non_negative_factorization(X, n_components=2, init='random', random_state=0)
    >>> W.shape, H.shape
    ((6, 2), (2, 2))
    """
    est = NMF(
        n_components=n_components, init=init, solver=solver, beta_loss=beta_loss, tol=tol,
        max_iter=max_iter, random_state=random_state, alpha_W=alpha_W, alpha_H=alpha_H,
        l1_ratio=l1_ratio, verbose=verbose, shuffle=shuffle, backend=backend, n_threads=n_threads,
        n_init=n_init, callback=callback, progress=progress, frozen_components=frozen_components,
        missing=missing,
    )
    if not isinstance(update_H, (bool, np.bool_)):
        raise TypeError(f"update_H must be a bool; got {update_H!r}")
    Xa, obs = _masked.prepare(X, mask, missing)
    result, _ = est._run(Xa, W, H, update_H=bool(update_H), obs=obs)
    return result.W, np.ascontiguousarray(result.Ht.T), result.n_iter
