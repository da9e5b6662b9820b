"""``fastnmf.NMF``: scikit-learn's NMF estimator, with compiled kernels underneath."""

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
)
from sklearn.utils.validation import check_is_fitted, validate_data

from ._backends import get_backend, resolve_backend_name
from ._plan import exact_W, plan_fit
from ._validation import beta_loss_to_float, check_params
from .data.missing import prepare, wh_at
from .data.output import WOutput, check_out
from .distributed import is_dask
from .parallel.threads import resolve_n_threads
from .solvers.table import resolve_missing


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
        ``fastnmf.solvers.auto``) predicts to be the shortest: for the Frobenius
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
    chunk_bytes : int or None, default=None
        For an X read in chunks, the most of it held in memory at once (bytes; None: 256
        MB).  X is read in chunks, never whole, when it is a ``numpy.memmap``, an
        ``h5py.Dataset``, a ``zarr.Array``, a :class:`fastnmf.data.chunked.CSRArrays` (a
        sparse X as three arrays on disk) or a :class:`fastnmf.data.chunked.RowBlocks`
        (re-iterable row blocks) larger than ``chunk_bytes`` (a smaller one is read whole,
        once, and fitted in memory): every pass over X reads it a chunk of rows at a time, the
        solvers run the iterates of the in-memory fit (to rounding), and the memory a fit
        needs is one chunk plus O((n_samples + n_features) n_components).  Not with unknown
        entries, nor with the KL coordinate descent ('auto' picks 'mu' or 'emu' there).

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
        The W of the last fit (the array ``fit_transform`` returned, not a copy: the
        ``numpy.memmap`` or the array given when it was called with ``out``; for a Dask
        X a Dask array chunked like X, held on the cluster), used by
        :meth:`predict_entries`.
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
        chunk_bytes=None,
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
        self.chunk_bytes = chunk_bytes

    # ------------------------------------------------------------------ API
    def fit(self, X, y=None, **params):
        """Learn the factorization of X; returns ``self``."""
        self.fit_transform(X, **params)
        return self

    def fit_transform(self, X, y=None, W=None, H=None, mask=None, out=None):
        """Learn the factorization of X and return W.

        Parameters
        ----------
        X : array-like or scipy.sparse matrix of shape (n_samples, n_features), non-negative
            Sparse X (any format) is never densified.  A memmap, HDF5 or zarr array, CSR
            arrays on disk or row blocks are read in chunks, never whole (``chunk_bytes``).
            A ``dask.array.Array`` is fitted on the workers of the current ``distributed``
            client (cd, or mu for any beta; NaN entries unknown, fitted by mu; a wide X
            chunked by columns is held by columns; see the guide "On a Dask cluster"), and
            W returned as a Dask array chunked like X's rows.
        y : ignored
        W : array-like of shape (n_samples, n_components), optional
            Initial W when ``init='custom'`` (copied, never modified).
        H : array-like of shape (n_components, n_features), optional
            Initial H when ``init='custom'`` (copied, never modified).
        mask : array-like of bool, shape (n_samples, n_features), optional
            Dense X only: True marks an entry as missing (see ``missing``).
        out : None, str, os.PathLike or ndarray, default=None
            Where W goes.  None: a new ndarray.  A path: W is written to a ``.npy`` file
            there (that exact path) and returned as ``np.load(out, mmap_mode='r+')``, a
            ``numpy.memmap``; the file is written beside it under a temporary name and
            renamed onto ``out`` only when complete, so ``out`` never holds a partial W
            (on an error the temporary file is removed and a file already at ``out`` is
            left as it was).  An ndarray (a ``numpy.memmap`` too) of shape (n_samples,
            n_components), exactly the result's dtype (float32 for float32 X, else
            float64), writeable and not sharing memory with X: W is written into it and
            it is returned.  The fit still computes W in memory (n_samples x
            n_components, which its solver needs); ``out`` then copies it a block of rows
            at a time, with no second array of that size.  See
            :mod:`fastnmf.data.output`.

        Returns
        -------
        W : ndarray of shape (n_samples, n_components)
            ``out`` itself when an array was given, a ``numpy.memmap`` of the file when a
            path was.
        """
        validate_data(self, X, skip_check_array=True, reset=True)
        check_out(out)
        Xa, obs = prepare(X, mask, self.missing, chunk_bytes=self.chunk_bytes)
        result, backend, W_out = self._run(Xa, W, H, update_H=True, with_error=True, obs=obs,
                                           out=out, X_given=X)
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
        self.W_ = W_out
        self.n_missing_ = getattr(result, "n_missing", 0) if obs is None else obs.n_missing
        # warm_start continues from this W; a private copy (the caller owns the result),
        # or the fit's own W when the caller got it in ``out``
        if not self.warm_start:
            self._warm_W = None
        else:
            self._warm_W = result.W if out is not None else result.W.copy()
        return W_out

    def transform(self, X, mask=None, out=None):
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
        out : None, str, os.PathLike or ndarray, default=None
            Where W goes, as in :meth:`fit_transform`.  A Dask X: not supported (W is
            returned as a Dask array chunked like X).

        Returns
        -------
        W : ndarray of shape (n_samples, n_components)
            ``out`` itself when an array was given, a ``numpy.memmap`` of the file when a
            path was.
        """
        check_is_fitted(self)
        check_out(out)
        # X first: a malformed X (1-D, say) gets its own message, not a feature count's
        Xa, obs = prepare(X, mask, self.missing, columns=False,  # H is fixed
                          chunk_bytes=self.chunk_bytes)
        validate_data(self, X, skip_check_array=True, reset=False)
        if is_dask(Xa):  # each block of rows on its worker: W as a Dask array chunked like X
            if out is not None:
                raise ValueError("out is not supported for a Dask X: W comes back as a Dask "
                                 "array chunked like X")
            if Xa.numblocks[1] != 1:
                Xa = Xa.rechunk({1: -1})
            k = self.components_.shape[0]
            dtype = np.float32 if Xa.dtype == np.float32 else np.float64
            return Xa.map_blocks(_transform_block, self, dtype=dtype,
                                 chunks=(Xa.chunks[0], (k,)), meta=np.empty((0, 0), dtype))
        H = self.components_.astype(Xa.dtype, copy=False)
        p = check_params(self)
        if obs is None and p["solver"] == "auto" and p["beta_loss"] == 2:
            # 'auto': exact, one NNLS solve per row (block principal pivoting)
            kernels = get_backend(resolve_backend_name(self.backend))

            def solve():
                return exact_W(Xa, np.ascontiguousarray(H.T), 2.0, p, kernels,
                               resolve_n_threads(self.n_threads))

            if out is None:
                return solve()
            with WOutput.open(out, (Xa.shape[0], H.shape[0]), Xa.dtype,
                              disjoint_from=X) as o:
                o.fill(solve())
            return o.result
        # a named solver does what scikit-learn's transform does (its _fit_transform with
        # update_H=False): that solver's iterations on W from its start (zeros for 'cd',
        # sqrt(mean(X) / k) for 'mu'), stopped by tol and max_iter; so transform(X) is
        # non_negative_factorization(X, H=components_, update_H=False, solver=solver)
        _, _, W = self._run(Xa, None, H, update_H=False, n_components=self.n_components_,
                            obs=obs, out=out, X_given=X)
        return W

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

    def save(self, path, *, include_W=True):
        """Save the fitted model to ``path``, without pickle; :func:`fastnmf.load` reads it.

        The file is a zip of ``.npy`` arrays and a JSON description (format version, class,
        parameters, fitted attributes): see :mod:`fastnmf.persist` and the guide's page on
        saving models.  Loading it never runs code from the file.

        Parameters
        ----------
        path : str, os.PathLike or binary file object
            Written exactly (no extension added; ``.npz`` suits it), replacing a file there
            as ``np.save`` does, atomically: the file is written beside it under a temporary
            name and renamed onto ``path`` when complete, so ``path`` never holds half a
            model.
        include_W : bool, default=True
            Also save ``W_`` (n_samples x n_components, the W of the last fit, which
            :meth:`predict_entries` uses by default); False when only ``transform`` matters.

        A callable ``callback`` is not saved (a warning says so; the loaded model has
        ``callback=None``); a ``numpy.random.RandomState`` is saved with its state.
        Raises ``NotFittedError`` for a model not fitted.
        """
        from .persist import save

        save(self, path, include_W=include_W)

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
        return wh_at(W, Ht, r, c).reshape(np.shape(rows))

    def _fit_observed(self, obs):
        """Fit the observed entries ``obs`` (a :class:`fastnmf.data.missing.Observed`, or a
        hold-out's training set) without touching the fitted attributes (select_rank).
        Returns ``(W, Ht, mean loss per observed entry, reconstruction error)``; the
        mean loss is the squared error (Frobenius) or the KL divergence per entry."""
        result, _, _ = self._run(obs.X, None, None, update_H=True, with_error=True, obs=obs)
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
            resolve_missing(self.solver, beta_loss_to_float(self.beta_loss))
        except (TypeError, ValueError):
            return False
        return True

    # ------------------------------------------------------------ internals
    def _run(self, X, W, H, update_H, n_components=None, with_error=False, obs=None,
             out=None, X_given=None):
        """Plan the fit (every parameter validated once, :func:`fastnmf._plan.plan_fit`) and
        run it; returns ``(result, backend, W)``, W ``result.W`` or, with ``out``, the
        array it was written to (:class:`fastnmf.data.output.WOutput`: opened once the plan
        knows W's shape and dtype, before the fit runs; ``X_given``, the caller's X, is
        what ``out`` may not overlap)."""
        if out is not None and is_dask(X):
            raise ValueError("out is not supported for a Dask X: W comes back as a Dask array "
                             "chunked like X (write it with its own to_zarr or to_npy_stack)")
        plan = plan_fit(self, X, W, H, update_H, n_components=n_components,
                        with_error=with_error, obs=obs)
        if out is None:
            result = plan.run()
            if hasattr(result.W, "to_dask"):  # W held on the cluster: a Dask array of it
                result.n_missing = plan.data.n_missing  # (found on the workers)
                return result, plan.backend, result.W.to_dask()
            if hasattr(result.Ht, "gather"):  # X by columns: H was held on the cluster
                import dask.array as da

                result.Ht = result.Ht.gather()
                return result, plan.backend, da.from_array(result.W, chunks=(X.chunks[0], -1))
            return result, plan.backend, result.W
        W0 = plan.starts[0][1]  # every run's start has the shape and dtype of its result
        with WOutput.open(out, W0.shape, W0.dtype, disjoint_from=X_given) as o:
            result = plan.run()
            o.fill(result.W)
        return result, plan.backend, o.result


def _transform_block(block, model):
    """``model.transform`` of one block of a Dask X (on a worker)."""
    return model.transform(block)


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
    chunk_bytes=None,
    out=None,
):
    """Compute W and H with ``X ~= W @ H``; mirrors scikit-learn's function.

    Parameters are those of :class:`NMF` (but ``warm_start``), plus ``W``/``H``
    (custom initialization, or with ``update_H=False`` the fixed ``H``),
    ``update_H`` (False: solve for W only; ``solver='auto'`` then solves
    exactly, by NNLS, for the Frobenius loss) and ``mask`` (dense X: True marks
    a missing entry; see ``missing`` in :class:`NMF`); ``chunk_bytes`` as in
    :class:`NMF` (X read in chunks); ``out`` as in :meth:`NMF.fit_transform`: where W
    goes (None: a new ndarray; a path: a ``.npy`` file written whole or not at all,
    returned as a ``numpy.memmap``; an ndarray of the result's shape and dtype, filled
    and returned).

    Returns
    -------
    W : ndarray of shape (n_samples, n_components)
        ``out`` itself when an array was given, a ``numpy.memmap`` of the file when a
        path was.
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
        missing=missing, chunk_bytes=chunk_bytes,
    )
    if not isinstance(update_H, (bool, np.bool_)):
        raise TypeError(f"update_H must be a bool; got {update_H!r}")
    check_out(out)
    Xa, obs = prepare(X, mask, missing, chunk_bytes=chunk_bytes)
    result, _, W_out = est._run(Xa, W, H, update_H=bool(update_H), obs=obs, out=out,
                                X_given=X)
    return W_out, np.ascontiguousarray(result.Ht.T), result.n_iter
