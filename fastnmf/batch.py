"""Many fits of one X in one call: every seed at every rank, the fits side by side.

Consensus front ends (cNMF, R's ``NMF(nrun=)``, Brunet-style consensus clustering) fit the
same X tens or hundreds of times per rank from different random starts and then cluster the
components.  :func:`fit_many` does that loop:

* X is validated and converted to the kernels' form once (a dense X with unknown entries:
  their representation, an X-sized copy, is built once too), not once per fit;
* the fits run side by side on a thread pool, each on one thread with BLAS limited to one
  thread (the kernels release the GIL), like the restarts of ``NMF(n_init=)`` and the inner
  fits of :func:`fastnmf.select_rank`;
* run ``(rank, seed)`` is exactly ``fastnmf.NMF(rank, random_state=seed, **params).fit(X)``
  with ``n_threads=1`` (on more threads it differs by BLAS rounding only).

:class:`FitBatch` holds what each run found (its factors as asked by ``keep``, iterations,
errors, seconds) and what consensus needs of them: the components of every run of a rank
stacked for clustering, each run's cluster labels, the best run of a rank.
"""

import numbers
import time
import warnings
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from ._backends import resolve_backend_name
from ._estimator import NMF
from ._init import default_init
from ._validation import check_option, check_params
from .data.missing import prepare
from .distributed import is_dask
from .parallel.threads import blas_threads, numba_layer_is_reentrant, resolve_n_threads
from .solvers.table import resolve_missing

#: What :func:`fit_many` keeps of each run's factors.
KEEP = ("both", "W", "H", "none")

#: NMF parameters :func:`fit_many` sets itself (the rank and seed of each run; its own bar).
_OWN = ("n_components", "random_state", "progress")

#: The largest seed numpy.random.RandomState takes.
_MAX_SEED = 2**32 - 1


@dataclass
class FitRun:
    """One fit of a :class:`FitBatch`: ``NMF(rank, random_state=seed, **params).fit(X)``.

    Attributes
    ----------
    rank, seed : int
    W : ndarray (n_samples, rank) or None
        ``fit_transform``'s result; None unless ``keep`` was 'both' or 'W'.
    H : ndarray (rank, n_features) or None
        ``components_``; None unless ``keep`` was 'both' or 'H'.
    n_iter : int
    reconstruction_err : float
        ``reconstruction_err_``: ``||X - W H||_F`` (``sqrt(2 D_beta)`` for other losses;
        over the known entries when some are unknown).
    loss : float
        The final objective, loss plus penalties (``loss_history_[-1]``); the best run of a
        rank is the one where it is lowest.
    converged : bool
        False when the fit stopped at ``max_iter`` (the one ``NMF`` warns about).
    seconds : float
        Wall time of the fit (on its thread, beside the others).
    solver : str
        The solver that ran (``solver_``: what 'auto' chose).
    """

    rank: int
    seed: int
    W: np.ndarray
    H: np.ndarray
    n_iter: int
    reconstruction_err: float
    loss: float
    converged: bool
    seconds: float
    solver: str

    def __repr__(self):
        kept = ("+".join(n for n, a in (("W", self.W), ("H", self.H)) if a is not None)
                or "no factors")
        return (f"FitRun(rank={self.rank}, seed={self.seed}, loss={self.loss:.6g}, "
                f"n_iter={self.n_iter}, {self.seconds:.3g} s, {kept})")


@dataclass
class FitBatch:
    """What :func:`fit_many` fitted: one :class:`FitRun` per (rank, seed).

    Attributes
    ----------
    runs : list of FitRun
        Rank by rank (ascending), and within a rank in the order of ``seeds``.  The batch
        is a sequence of them too: ``len(batch)``, ``batch[i]``, ``for run in batch``.
    ranks : ndarray of int
    seeds : ndarray of int64
        The seeds of the runs; every rank is fitted from each of them.
    keep : str
        Which factors the runs hold ('both', 'W', 'H', 'none').
    params : dict
        The NMF parameters every run shared (those passed to :func:`fit_many`).
    n_jobs : int
        How many fits ran side by side.
    seconds : float
        Wall time of the whole batch.
    """

    runs: list
    ranks: np.ndarray
    seeds: np.ndarray
    keep: str
    params: dict
    n_jobs: int
    seconds: float

    # ------------------------------------------------------------ a sequence of runs
    def __len__(self):
        return len(self.runs)

    def __iter__(self):
        return iter(self.runs)

    def __getitem__(self, i):
        return self.runs[i]

    @property
    def table(self):
        """One entry per run (pass it to ``pandas.DataFrame`` for a data frame): ``rank``,
        ``seed``, ``n_iter``, ``reconstruction_err``, ``loss``, ``converged``, ``seconds``."""
        cols = ("rank", "seed", "n_iter", "reconstruction_err", "loss", "converged", "seconds")
        return {c: np.array([getattr(r, c) for r in self.runs]) for c in cols}

    def runs_of(self, rank):
        """The runs of ``rank``, in the order of ``seeds``."""
        rank = self._rank(rank)
        return [r for r in self.runs if r.rank == rank]

    def best(self, rank=None):
        """The run of ``rank`` with the lowest final objective (``loss``); ``rank`` may be
        left out when the batch has one."""
        return min(self.runs_of(rank), key=lambda r: r.loss)

    # ------------------------------------------------------------ for consensus
    def stack(self, rank=None, factor="H"):
        """The factor of every run of ``rank`` as one array: H ``(n_runs, rank,
        n_features)`` or W ``(n_runs, n_samples, rank)``."""
        factor = check_option(factor, "factor", ("W", "H"))
        return np.stack([self._factor(r, factor) for r in self.runs_of(rank)])

    def components(self, rank=None, normalize=False):
        """The components of every run of ``rank`` stacked for clustering: ``(n_runs *
        rank, n_features)``, run i's at rows ``i * rank`` to ``(i + 1) * rank``.

        ``normalize=True`` scales each component to unit Euclidean norm (cNMF clusters the
        components so, with k-means), the zero ones left zero.
        """
        H = self.stack(rank, "H")
        C = H.reshape(-1, H.shape[-1])
        if normalize:
            norms = np.linalg.norm(C, axis=1, keepdims=True)
            C = C / np.where(norms > 0, norms, 1)
        return C

    def labels(self, rank=None, axis=0):
        """Each run's clustering of the rows (``axis=0``: the largest entry of each row of
        W) or the columns (``axis=1``: of each column of H), ``(n_runs, n_items)``: what
        :func:`fastnmf.consensus_matrix` takes."""
        if axis not in (0, 1):
            raise ValueError(f"axis must be 0 (rows, by W) or 1 (columns, by H); got {axis!r}")
        if axis == 0:
            return np.stack([np.argmax(self._factor(r, "W"), axis=1) for r in self.runs_of(rank)])
        return np.stack([np.argmax(self._factor(r, "H"), axis=0) for r in self.runs_of(rank)])

    # ------------------------------------------------------------ internals
    def _rank(self, rank):
        if rank is None:
            if len(self.ranks) != 1:
                raise ValueError(f"rank is needed: the batch has ranks {self.ranks.tolist()}")
            return int(self.ranks[0])
        if rank not in self.ranks:
            raise ValueError(f"rank must be one of the batch's ranks {self.ranks.tolist()}; "
                             f"got {rank!r}")
        return int(rank)

    def _factor(self, run, factor):
        F = run.W if factor == "W" else run.H
        if F is None:
            raise ValueError(f"the runs do not hold {factor}: fitted with keep={self.keep!r}; "
                             f"pass keep='both' or keep={factor!r} to fit_many")
        return F

    def __str__(self):
        lines = [(f"{'rank':>6}  {'runs':>5}  {'best loss':>12}  {'median loss':>12}  "
                  f"{'best seed':>10}  {'unconverged':>11}  {'median s':>9}")]
        for k in self.ranks:
            runs = self.runs_of(k)
            loss = np.array([r.loss for r in runs])
            best = runs[int(np.argmin(loss))]
            lines.append(f"{int(k):>6d}  {len(runs):>5d}  {best.loss:>12.6g}  "
                         f"{np.median(loss):>12.6g}  {best.seed:>10d}  "
                         f"{sum(not r.converged for r in runs):>11d}  "
                         f"{np.median([r.seconds for r in runs]):>9.3g}")
        lines.append(f"{len(self.runs)} runs, {self.n_jobs} side by side, {self.seconds:.2f} s")
        return "\n".join(lines)


def fit_many(X, n_components, n_runs=None, *, random_state=None, init="random", keep="both",
             n_jobs=None, progress=False, mask=None, **params):
    """Fit X at every rank from every seed: ``NMF(k, random_state=seed, **params).fit(X)``
    for each ``k`` of ``n_components`` and each seed, the fits side by side.

    Parameters
    ----------
    X : array-like or scipy.sparse matrix (n_samples, n_features), non-negative
        As in :meth:`fastnmf.NMF.fit` (NaN entries, ``missing``, ``mask`` and a
        ``numpy.ma.MaskedArray`` mark unknown entries); validated and converted once for
        all the runs.  A sparse X is never densified.  Not a Dask array.
    n_components : int or iterable of int >= 1
        The rank, or the ranks (distinct; fitted in ascending order).
    n_runs : int >= 1 or None
        How many seeds, drawn from ``random_state``; None when ``random_state`` is the
        sequence of seeds itself.
    random_state : int, RandomState, None or sequence of int
        With ``n_runs``: the seeds are ``check_random_state(random_state).randint(2**31 -
        1, size=n_runs)`` (as ``NMF(n_init=)`` draws its restarts': an int gives the same
        seeds every time, None new ones).  A sequence of ints in ``[0, 2**32 - 1]``: the
        seeds themselves.  Every rank is fitted from every seed.
    init : {'random', 'nndsvdar', 'nndsvd', 'nndsvda', None}, default='random'
        The start of every run.  Unlike ``NMF`` (whose default, 'nndsvda', is the same for
        every seed) 'random': the seed draws the start.  The deterministic starts give
        every run the same fit (to rounding: the seed enters only their randomized SVD)
        unless ``shuffle=True``; a warning says so.
    keep : {'both', 'W', 'H', 'none'}, default='both'
        Which factors each run holds.  W is n_samples x rank per run: 100 runs of a
        100000-row X at rank 20 hold 1.6 GB of W in float64.  Consensus of the components
        (cNMF) needs only H: ``keep='H'`` frees each W as its fit ends.  'none' keeps the
        iterations, errors and times only.
    n_jobs : int, -1 or None, default=None
        How many fits run side by side, each on one thread (kernels and BLAS).  None or
        -1: every usable core (measured faster than fits one after another on every core,
        benchmarks/results/batch.md).  1: one fit after another, each on ``n_threads``
        threads (``NMF``'s default: every core).  One at a time with numba's 'workqueue'
        threading layer (whose kernels must not run from several threads at once).
    progress : bool, default=False
        A tqdm bar over the runs.
    mask : array-like of bool (n_samples, n_features), optional
        Dense X: True marks an unknown entry (as ``NMF.fit(X, mask=)``).
    **params :
        Any other parameter of :class:`fastnmf.NMF` (``solver``, ``beta_loss``, ``tol``,
        ``max_iter``, ``alpha_W``, ``missing``, ``n_threads``, ...), the same for every run.
        ``callback`` and ``verbose`` run in the runs' threads, side by side.

    Returns
    -------
    FitBatch
        ``runs`` (a :class:`FitRun` per rank and seed: ``W``, ``H``, ``n_iter``,
        ``reconstruction_err``, ``loss``, ``converged``, ``seconds``), ``table``,
        ``best(rank)``, ``components(rank)`` (every run's components stacked, for
        clustering), ``labels(rank, axis)`` (for :func:`fastnmf.consensus_matrix`).

    Warns
    -----
    ConvergenceWarning
        Once, when some runs stopped at ``max_iter`` (their ``converged`` is False).

    Examples
    --------
    >>> import numpy as np
    >>> import fastnmf
    >>> rng = np.random.default_rng(0)
    >>> X = rng.random((60, 3)) @ rng.random((3, 40))
    >>> batch = fastnmf.fit_many(X, [2, 3], n_runs=5, random_state=0, max_iter=500)
    >>> len(batch), batch.components(3).shape
    (10, (15, 40))
    >>> run = batch.best(3)
    >>> W = fastnmf.NMF(3, init='random', random_state=run.seed, max_iter=500,
    ...                 n_threads=1).fit_transform(X)
    >>> bool(np.array_equal(W, run.W))
    True
    """
    start_time = time.perf_counter()
    ranks = _check_ranks(n_components)
    seeds = _seeds(random_state, n_runs)
    keep = check_option(keep, "keep", KEEP)
    if not isinstance(progress, (bool, np.bool_)):
        raise TypeError(f"progress must be a bool; got {progress!r}")
    allowed = set(NMF().get_params())
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise TypeError(f"fit_many() got unknown NMF parameter(s) {unknown}; NMF takes "
                        f"{sorted(allowed - set(_OWN))}")
    params = dict(params, init=init)
    if init == "custom":
        raise ValueError("init='custom' would start every run from the same given W and H; "
                         "fit_many draws each run's start from its seed: use init='random' "
                         "(or 'nndsvdar')")
    # every parameter checked here, once, rather than in each run
    p = check_params(NMF(ranks[0], random_state=0, **params))
    backend = resolve_backend_name(params.get("backend", "auto"))
    n_jobs = _check_n_jobs(n_jobs)

    # X once for every run: validated, converted (dtype, canonical CSR), its unknown entries
    # found and, for a dense X, held as the solver will hold them (an X-sized copy)
    if is_dask(X):
        raise TypeError("fit_many fits an X in memory; for a Dask X, fit NMF(...) once per "
                        "seed on the cluster")
    missing = params.get("missing", "nan")
    Xa, obs = prepare(X, mask, missing, chunk_bytes=params.get("chunk_bytes"))
    if obs is not None and hasattr(obs, "representation"):
        obs = obs.representation(p["beta_loss"], resolve_missing(p["solver"], p["beta_loss"]))
    chunked = not (isinstance(Xa, np.ndarray) or hasattr(Xa, "tocsr"))
    starts = {default_init(k, Xa.shape) if p["init"] is None else p["init"] for k in ranks}
    if (starts & {"nndsvd", "nndsvda"} and p["n_init"] == 1 and not p["shuffle"]
            and len(seeds) > 1):
        # the seed enters only NNDSVD's randomized SVD, which ends at the same start to
        # rounding: the runs would be one fit, repeated
        warnings.warn(f"init={init!r} gives every seed the same start (to rounding), and without "
                      "shuffle=True the same fit: use init='random' or 'nndsvdar' for "
                      "different runs", RuntimeWarning, stacklevel=2)

    tasks = [(k, int(s)) for k in ranks for s in seeds]
    if backend == "numba" and not numba_layer_is_reentrant():
        n_jobs = 1  # numba's 'workqueue' layer must not run kernels from several threads
    if chunked:
        n_jobs = 1  # an X read in chunks from disk: one reader at a time
    n_jobs = max(1, min(n_jobs, len(tasks)))
    side_by_side = n_jobs > 1
    fit_params = dict(params, n_threads=1) if side_by_side else params

    def fit(task):
        k, seed = task
        est = NMF(k, random_state=seed, **fit_params)
        t0 = time.perf_counter()
        if obs is None:
            result, _, _ = est._run(Xa, None, None, update_H=True, with_error=True)
        else:
            result, _, _ = est._run(obs.X, None, None, update_H=True, with_error=True, obs=obs)
        seconds = time.perf_counter() - t0
        H = np.ascontiguousarray(result.Ht.T)  # components_
        return FitRun(
            rank=H.shape[0], seed=seed,
            W=result.W if keep in ("both", "W") else None,
            H=H if keep in ("both", "H") else None,
            n_iter=int(result.n_iter), reconstruction_err=float(result.error),
            loss=float(result.loss_history[-1]),
            converged=not (result.n_iter == p["max_iter"] and p["tol"] > 0
                           and not result.stopped_by_callback),
            seconds=seconds, solver=result.solver)

    results = [None] * len(tasks)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(tasks), desc="fastnmf fit_many", unit="fit")
    try:
        with warnings.catch_warnings():
            # one warning for the batch (below), not one per run
            warnings.simplefilter("ignore", ConvergenceWarning)
            if side_by_side:
                # the largest ranks first: the long fits do not trail at the end
                order = sorted(range(len(tasks)), key=lambda i: -tasks[i][0])
                with blas_threads(1), ThreadPoolExecutor(max_workers=n_jobs) as pool:
                    futures = {pool.submit(fit, tasks[i]): i for i in order}
                    try:
                        for f in as_completed(futures):
                            results[futures[f]] = f.result()
                            if bar is not None:
                                bar.update(1)
                    except BaseException:
                        pool.shutdown(wait=True, cancel_futures=True)
                        raise
            else:
                for i, task in enumerate(tasks):
                    results[i] = fit(task)
                    if bar is not None:
                        bar.update(1)
    finally:
        if bar is not None:
            bar.close()

    stalled = sum(not r.converged for r in results)
    if stalled:
        warnings.warn(f"{stalled} of {len(results)} runs stopped at max_iter={p['max_iter']} "
                      "before converging (their converged is False); increase max_iter to "
                      "improve convergence", ConvergenceWarning, stacklevel=2)
    return FitBatch(runs=results, ranks=np.asarray(ranks), seeds=np.asarray(seeds, np.int64),
                    keep=keep, params=params, n_jobs=n_jobs,
                    seconds=time.perf_counter() - start_time)


def _check_ranks(n_components):
    """The ranks as a sorted list of distinct ints >= 1."""
    if isinstance(n_components, (numbers.Integral, np.integer)) and not isinstance(
            n_components, (bool, np.bool_)):
        values = [n_components]
    else:
        try:
            values = list(n_components)
        except TypeError:
            raise TypeError(f"n_components must be an int >= 1 or an iterable of them; got "
                            f"{n_components!r}") from None
        if not values:
            raise ValueError("n_components must name at least one rank; got an empty "
                             f"{type(n_components).__name__}")
    out = []
    for v in values:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
            raise TypeError(f"n_components must be ints >= 1; got {v!r}")
        if v < 1:
            raise ValueError(f"n_components must be ints >= 1; got {v!r}")
        out.append(int(v))
    if len(set(out)) != len(out):
        raise ValueError(f"n_components must be distinct ranks; got {values!r}")
    return sorted(out)


def _seeds(random_state, n_runs):
    """The runs' seeds: drawn from ``random_state`` (``n_runs`` of them), or
    ``random_state`` itself when it is a sequence of ints."""
    if n_runs is not None:
        if isinstance(n_runs, (bool, np.bool_)) or not isinstance(n_runs, numbers.Integral):
            raise TypeError(f"n_runs must be an int >= 1 or None; got {n_runs!r}")
        if n_runs < 1:
            raise ValueError(f"n_runs must be an int >= 1 or None; got {n_runs!r}")
    sequence = not (random_state is None or isinstance(random_state, (
        numbers.Integral, np.random.RandomState))) and np.ndim(random_state) == 1
    if not sequence:
        if n_runs is None:
            raise ValueError("n_runs is needed (how many seeds to draw from random_state), "
                             "unless random_state is the sequence of seeds; got n_runs=None "
                             f"and random_state={random_state!r}")
        try:
            rng = check_random_state(random_state)
        except ValueError:
            raise ValueError("random_state must be None, an int, a numpy.random.RandomState or "
                             f"a sequence of int seeds; got {random_state!r}") from None
        # as NMF(n_init=) draws its restarts' seeds (fastnmf._plan._starts)
        return [int(s) for s in rng.randint(np.iinfo(np.int32).max, size=int(n_runs))]
    seeds = list(random_state)
    if not seeds:
        raise ValueError("random_state must hold at least one seed; got an empty sequence")
    for s in seeds:
        if isinstance(s, (bool, np.bool_)) or not isinstance(s, numbers.Integral):
            raise TypeError(f"random_state's seeds must be ints in [0, 2**32 - 1]; got {s!r}")
        if not 0 <= s <= _MAX_SEED:
            raise ValueError(f"random_state's seeds must be ints in [0, 2**32 - 1]; got {s!r}")
    if n_runs is not None and n_runs != len(seeds):
        raise ValueError(f"n_runs={n_runs!r} does not match the {len(seeds)} seeds given in "
                         "random_state; pass n_runs=None with a sequence of seeds")
    return [int(s) for s in seeds]


def _check_n_jobs(n_jobs):
    """n_jobs as a positive int (None and -1: every usable core)."""
    try:
        return resolve_n_threads(n_jobs)
    except (TypeError, ValueError) as exc:
        raise type(exc)(str(exc).replace("n_threads", "n_jobs")) from None
