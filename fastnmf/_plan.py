"""A fit, planned: every parameter validated once into a frozen :class:`FitPlan`, then run.

The estimator (:class:`fastnmf.NMF`, :func:`fastnmf.non_negative_factorization`) builds a
plan with :func:`plan_fit` and runs it with :meth:`FitPlan.run`; nothing is decided while
the fit runs.  :func:`plan_fit` validates the parameters (``fastnmf._validation``), picks
the backend, holds X in its form (:mod:`fastnmf.data`: complete, or with unknown entries
as their own form), makes the starts (``fastnmf._init``), settles the solver ('auto':
:mod:`fastnmf.solvers.auto`; what each solver supports: :mod:`fastnmf.solvers.table`),
the penalty and the thread plan (:mod:`fastnmf.parallel.threads`).  :meth:`FitPlan.run`
runs the update rule of each start through the one driver (:func:`fastnmf.solvers.run`),
keeps the best and computes the final error.
"""

import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from ._backends import get_backend, resolve_backend_name
from ._init import default_init, initialize
from ._monitor import Monitor, verbose_logging
from ._validation import check_factor, check_frozen, check_params
from .data import as_data
from .data.base import Data
from .data.missing import scaled_starts
from .distributed import SOLVERS as DASK_SOLVERS
from .distributed import dask_data, is_dask
from .parallel.pool import PooledKernels, row_threads
from .parallel.threads import (
    blas_threads,
    fit_threads,
    parallel_runs,
    resolve_n_threads,
    thread_plan,
    use_row_threads,
)
from .solvers import run
from .solvers.auto import choose_solver, stopping
from .solvers.frobenius import solve_W
from .solvers.penalty import Penalty, count_penalty
from .solvers.table import check_frozen as check_frozen_support
from .solvers.table import make_rule, resolve_missing


@dataclass(frozen=True)
class FitPlan:
    """What a fit runs, decided once by :func:`plan_fit`.

    ``data``: X in its form (:mod:`fastnmf.data`), on ``kernels`` (the ``backend``'s) and
    ``n_threads``; ``solver``: the solver that runs ('auto' settled) for ``beta``, with
    ``stop`` in place of its own stopping rule (what 'auto' gives cd on dense X) or None;
    ``starts``: ``(seed, W0, Ht0)`` of each run (``n_init``); ``workers``: runs side by side
    (each on ``n_threads // workers`` threads); ``pooled``: the runs on fastnmf's pool (one
    BLAS thread per worker); ``n_blas``: BLAS's threads; ``parallel_kernels``: the row
    kernels on every thread.
    """

    data: object
    beta: float
    solver: str
    stop: object
    penalty: object
    starts: tuple
    backend: str
    kernels: object
    n_threads: int
    workers: int
    pooled: bool
    n_blas: int
    parallel_kernels: bool
    update_H: bool
    frozen: object
    shuffle: bool
    max_iter: int
    tol: float
    callback: object
    verbose: int
    progress: bool
    with_error: bool

    def _run_one(self, run_index, seed, W0, Ht0, threads):
        label = (self.solver if len(self.starts) == 1
                 else f"{self.solver} run {run_index + 1}/{len(self.starts)}")
        monitor = Monitor(label, self.max_iter, callback=self.callback, verbose=self.verbose,
                          progress=self.progress)
        kernels = (PooledKernels(self.kernels, row_threads(threads)) if self.pooled
                   else self.kernels)
        data = self.data.bind(kernels, threads)
        options = dict(penalty=self.penalty, update_H=self.update_H, frozen=self.frozen,
                       shuffle=self.shuffle, rng=check_random_state(seed),
                       parallel_kernels=self.parallel_kernels)
        if self.stop is not None:
            options["stop"] = self.stop
        try:
            rule = make_rule(self.solver, self.beta, data, W0, Ht0, **options)
            if self.pooled:  # one pool of our threads, one BLAS thread each
                with blas_threads(1):
                    result = run(rule, W0, Ht0, max_iter=self.max_iter, tol=self.tol,
                                 monitor=monitor)
            else:
                result = run(rule, W0, Ht0, max_iter=self.max_iter, tol=self.tol,
                             monitor=monitor)
        finally:
            monitor.close()
        result.solver = self.solver
        return result

    def run(self):
        """Run every start, keep the one with the lowest final objective; its ``error`` is
        the final ``||X - W H||_F`` (``sqrt(2 D)`` for the other losses; over the known
        entries with unknown ones) when the plan was made ``with_error``."""
        best, run_losses = None, []
        with blas_threads(self.n_blas if self.workers == 1 else 1), \
                verbose_logging(self.verbose):
            if self.workers > 1:
                # independent fits: one per thread beats every thread on one fit
                threads = max(1, self.n_threads // self.workers)
                with ThreadPoolExecutor(max_workers=self.workers) as pool:
                    results = list(pool.map(lambda a: self._run_one(*a, threads),
                                            [(i, *s) for i, s in enumerate(self.starts)]))
            else:
                results = []
                for i, (seed, W0, Ht0) in enumerate(self.starts):
                    results.append(self._run_one(i, seed, W0, Ht0, self.n_threads))
                    if results[-1].stopped_by_callback:
                        break
            for result in results:
                run_losses.append(result.loss_history[-1])
                if best is None or run_losses[-1] < best.loss_history[-1]:
                    best = result
            result = best
            if self.with_error:
                result.error = self._final_error(result)
        result.run_losses = run_losses
        if result.n_iter == self.max_iter and self.tol > 0 and not result.stopped_by_callback:
            warnings.warn(
                f"Maximum number of iterations {self.max_iter} reached. Increase it to "
                "improve convergence.",
                ConvergenceWarning,
            )
        return result

    def _final_error(self, result):
        data, beta = self.data, self.beta
        if data.protocol != "complete":
            # sqrt(2 loss) over the known entries
            return float(np.sqrt(2 * max(result.last_data_loss, 0.0)))
        if beta == 2 and data.kind == "sparse" and result.last_data_loss is not None:
            # sparse X: the error comes from the Gram identity, which the last iteration
            # already evaluated for these W, H
            return float(np.sqrt(2 * result.last_data_loss))
        W, Ht = result.W, result.Ht
        if getattr(data, "transposed", False):  # the form of X^T: ||X^T - H^T W^T||
            W, Ht = Ht, W
        if beta == 2:
            return data.reconstruction_error(W, Ht)
        div = data.beta_terms().divergence(W, Ht, beta)
        return float(np.sqrt(2 * max(div, 0.0)))


def plan_fit(est, X, W, H, update_H, n_components=None, with_error=False, obs=None):
    """The :class:`FitPlan` of a fit of the estimator ``est`` (its parameters) on X.

    ``X``: validated (``fastnmf.data.missing.prepare``); ``obs``: its unknown entries' form
    (``Observed``, ``Complement``, ``SparseComplement``, or a ``DenseMissing`` that picks
    one of them here), None when every entry is known.  ``W``, ``H``: the user's
    (``init='custom'``; with ``update_H=False`` the fixed H).  ``n_components``: the rank
    when the estimator's is not the one (transform).
    """
    p = check_params(est)
    backend = resolve_backend_name(est.backend)
    kernels = get_backend(backend)
    n_threads = resolve_n_threads(est.n_threads)
    m, n = X.shape
    k = n_components if n_components is not None else p["n_components"]
    beta = p["beta_loss"]
    on_cluster = is_dask(X)
    if on_cluster:  # X's blocks on the workers of the current Dask client
        _check_dask_options(est, p, beta, update_H)
        data = dask_data(X, backend, missing=getattr(est, "missing", "nan"))
        if data.protocol == "observed":  # unknown entries: the known ones, per block
            obs = data
            solver = _dask_missing_solver(est, p, beta)
            X_init = obs.init_view()
    elif obs is not None:
        solver = resolve_missing(p["solver"], beta)
        if hasattr(obs, "representation"):  # dense X: how to hold its unknown entries
            obs = obs.representation(beta, solver)
        X_init = obs.init_view()  # for the initialization and the flat starts
        data = obs.bind(kernels, n_threads)
    else:
        data = as_data(X, kernels, n_threads)
    if obs is None and beta <= 0 and data.has_zeros():
        raise ValueError(
            "When beta_loss <= 0 and X contains zeros, the solver may diverge: "
            f"X contains zeros and beta_loss={est.beta_loss!r} <= 0, and the divergence "
            "is undefined at zero entries. Add small values to X, or use a positive "
            "beta_loss (e.g. 'kullback-leibler')."
        )
    warm = (update_H and p["warm_start"] and hasattr(est, "components_")
            and est.components_.shape[1] == n)
    if warm:
        k = est.components_.shape[0]
    frozen_param = getattr(est, "frozen_components", None) if update_H else None
    if obs is None:  # 'auto' is settled once the rank is known, after the starts
        solver = p["solver"]
    if frozen_param is not None:
        check_frozen_support(solver, beta)

    # the starts read X as the fit does (a form of X read in chunks: through its products)
    X_start = X_init if obs is not None else data if isinstance(X, Data) or on_cluster else X
    if on_cluster and data.transposed:  # X^T's row blocks: H in blocks, W on the client
        starts = _transposed_starts(est, data, W, H, k, p, warm, frozen_param)
    else:
        starts = _starts(est, X_start, W, H, k, p, update_H, warm, beta, kernels, n_threads)
    if obs is not None and update_H and not warm and p["init"] != "custom":
        # initialized from a stand-in for X: magnitudes matched to the observed entries
        starts = scaled_starts(obs, starts, beta)
    k = starts[0][1].shape[1]
    frozen = check_frozen(frozen_param, k)
    if on_cluster:  # W's blocks to the workers of X's blocks; 'auto': cd, or mu for beta != 2
        if not data.transposed:
            starts = [(seed, data.distribute(W0), Ht0) for seed, W0, Ht0 in starts]
        if solver == "auto":
            solver = "cd" if beta == 2 else "mu"
    if obs is None and solver == "auto":  # every rule of 'auto': fastnmf.solvers.auto
        solver = choose_solver(X, k, beta, update_H=update_H,
                               frozen=frozen is not None and len(frozen) > 0)
    # the stopping rule 'auto' gives its choice, if not the solver's own
    auto_stop = stopping(solver, beta) if obs is None and p["solver"] == "auto" else None
    if solver in ("mu", "emu") and p["init"] == "nndsvd" and update_H and not warm:
        warnings.warn(
            "The multiplicative update ('mu') solver cannot update zeros present in the "
            "initialization, and so leads to poorer results when used jointly with "
            "init='nndsvd'. You may try init='nndsvda' or init='nndsvdar' instead.",
            UserWarning,
        )
    if obs is not None:  # per row and column, by observed entries
        penalty = count_penalty(obs, p, solver, k)
    else:
        penalty = Penalty.from_alphas(X.shape, p["alpha_W"], p["alpha_H"], p["l1_ratio"])
        if not on_cluster:  # a small sparse fit gains nothing from threads
            n_threads = fit_threads(X, k, beta, n_threads)
            data = data.bind(kernels, n_threads)
    if on_cluster:  # the client's threads: H's sweeps; the workers': their blocks
        n_blas, parallel_kernels, workers, pooled = n_threads, False, 1, False
    else:
        n_blas, parallel_kernels = thread_plan(X if obs is None else obs.X, n_threads)
        workers = parallel_runs(len(starts), n_threads, backend, ordered_output=bool(
            p["callback"] is not None or p["progress"] or p["verbose"]))
        pooled = (obs is None and workers == 1
                  and use_row_threads(X, n_threads, beta, backend, solver))
    return FitPlan(
        data=data, beta=beta, solver=solver, stop=auto_stop, penalty=penalty,
        starts=tuple(starts), backend=backend, kernels=kernels, n_threads=n_threads,
        workers=workers, pooled=pooled, n_blas=n_blas, parallel_kernels=parallel_kernels,
        update_H=update_H, frozen=frozen, shuffle=p["shuffle"], max_iter=p["max_iter"],
        tol=p["tol"], callback=p["callback"], verbose=p["verbose"], progress=p["progress"],
        with_error=with_error)


def _check_dask_options(est, p, beta, update_H):
    """ValueError for what a fit on a Dask X does not do: solvers other than cd and mu (for
    beta != 2, mu only), ``update_H=False`` (``transform``), ``n_init > 1``."""
    if p["solver"] not in DASK_SOLVERS:
        raise ValueError(f"solver={est.solver!r} is not supported for a Dask X; use "
                         f"{' or '.join(map(repr, DASK_SOLVERS))} (run on the workers)")
    if beta != 2 and p["solver"] == "cd":
        raise ValueError(f"solver='cd' with beta_loss={est.beta_loss!r} is not supported for a "
                         "Dask X (its coordinate descent of H reads X's columns whole); use "
                         "solver='mu' or 'auto'")
    if not update_H:
        raise ValueError("a Dask X is fitted with update_H=True only (fit, fit_transform); "
                         "transform it block by block with X.map_blocks(model.transform, ...)")
    if getattr(est, "n_init", 1) not in (1, None):
        raise ValueError("n_init > 1 is not supported for a Dask X")


class _Shape:
    """What the random start reads of X (shape, dtype, mean), for X held by columns."""

    def __init__(self, shape, dtype, mean):
        self.shape, self.dtype, self._mean = shape, dtype, mean

    def mean(self):
        return self._mean


def _transposed_starts(est, data, W, H, k, p, warm, frozen):
    """The start ``(seed, W0, Ht0)`` of a fit of a wide X held by columns (``data``: the form
    of X^T): W0 (m x k) on the client, Ht0 in blocks beside X's column blocks; the start of
    the same X in memory (NNDSVD, which is the same for X^T; 'random' drawn as in memory), but
    'nndsvdar''s random fill (drawn for X^T)."""
    n, m = data.shape
    if warm or frozen is not None:
        raise ValueError("warm_start and frozen_components are not supported for a wide Dask X "
                         "chunked by columns; chunk it by rows")
    init = p["init"]
    if init == "custom":
        if H is None or W is None:
            raise ValueError("init='custom' needs both W and H passed to fit_transform")
        H = _given_H(H, k, n, data.dtype)
        W = check_factor(W, "W", (m, H.shape[0]), data.dtype)
        return [(est.random_state, np.array(W, order="C"), data.distribute(H.T))]
    if W is not None or H is not None:
        warnings.warn("When init!='custom', provided W or H are ignored. Set init='custom' to "
                      "use them as initialization.", RuntimeWarning)
    k = n if k in (None, "auto") else k
    init = init if init is not None else default_init(k, (m, n))
    if init == "random":
        W0, H0 = initialize(_Shape((m, n), data.dtype, data.mean()), k, "random",
                            est.random_state)
        return [(est.random_state, W0, data.distribute(H0.T))]
    F, G = initialize(data, k, init, est.random_state)  # X^T ~ F G: F = H^T, G = W^T
    return [(est.random_state, np.ascontiguousarray(G.T), data.distribute(F))]


def _dask_missing_solver(est, p, beta):
    """The solver of a fit of a Dask X's known entries: the multiplicative updates on the
    observed entries (:class:`fastnmf.solvers.masked.MaskedMU`), for 'auto' and 'mu'."""
    if resolve_missing("mu", beta) and p["solver"] not in ("auto", "mu"):
        raise ValueError(f"solver={est.solver!r} does not fit the unknown entries of a Dask X "
                         "(the coordinate descent of H reads X's columns whole); use "
                         "solver='mu' or 'auto'")
    return "mu"


def _starts(est, X, W, H, k, p, update_H, warm, beta, kernels, n_threads):
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
        Ht = np.array(est.components_.T, dtype=X.dtype, order="C")
        W0 = getattr(est, "_warm_W", None)
        if W0 is not None and W0.shape == (m, Ht.shape[1]):
            W0 = np.array(W0, dtype=X.dtype, order="C")
        else:  # new rows: start from the W that fits the components
            W0 = exact_W(X, Ht, beta, p, kernels, n_threads)
        return [(est.random_state, W0, Ht)]
    if update_H and init == "custom":
        if H is None or W is None:
            raise ValueError("init='custom' needs both W and H passed to fit_transform")
        H = _given_H(H, k, n, X.dtype)
        W = check_factor(W, "W", (m, H.shape[0]), X.dtype)
        return [(est.random_state, W, np.ascontiguousarray(H.T))]
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
        return [(est.random_state, W, np.ascontiguousarray(H.T))]
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
        W0, H0 = initialize(X, k, init, est.random_state, kernels=kernels,
                            n_threads=n_threads)
        return [(est.random_state, W0, np.ascontiguousarray(H0.T))]
    init = "random" if init is None else init
    seeds = check_random_state(est.random_state).randint(np.iinfo(np.int32).max, size=n_init)
    starts = []
    for seed in seeds:
        W0, H0 = initialize(X, k, init, int(seed), kernels=kernels, n_threads=n_threads)
        starts.append((int(seed), W0, np.ascontiguousarray(H0.T)))
    return starts

def exact_W(X, Ht, beta, p, kernels, n_threads):
    """A W for fixed components ``Ht``: the exact NNLS solution for the
    Frobenius loss (with ``alpha_W``), else the flat start of ``transform``."""
    if beta != 2:
        k = Ht.shape[1]
        return np.full((X.shape[0], k), np.sqrt(X.mean() / k), dtype=X.dtype)
    penalty = Penalty.from_alphas(X.shape, p["alpha_W"], p["alpha_H"], p["l1_ratio"])
    with blas_threads(thread_plan(X, n_threads)[0]):
        return solve_W(as_data(X, kernels, n_threads), Ht, penalty=penalty)



def _given_H(H, k, n, dtype):
    """A user's H checked against (k, n), k taken from H when 'auto'/None."""
    if k in (None, "auto"):
        k = np.shape(H)[0] if np.ndim(H) == 2 else n
    return check_factor(H, "H", (k, n), dtype)


