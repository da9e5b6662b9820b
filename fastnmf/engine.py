"""fastnmf's engine, for other front ends: its solvers on your W and H, and its kernels.

This module is the stable way in for code that is not an estimator: a consensus front end
that manages its own restarts, a library with its own initialization, a benchmark, a
wrapper in another language.  What it offers, from the highest level down:

:func:`solve`
    One call: run a named solver from the ``W`` and ``H`` given (no initialization), with
    every option of :class:`fastnmf.NMF` that a solver takes; returns a :class:`Solution`.
    It is what ``NMF(init='custom').fit_transform(X, W=W, H=H)`` runs, without the
    estimator.
:func:`as_data`, :func:`make_rule`, :func:`run`
    The three pieces of :func:`solve`, for a front end with its own loop: X held in its
    form (:mod:`fastnmf.data`), a solver's update rule from a start
    (:mod:`fastnmf.solvers`), and the driver that runs it (records, stops, calls back).
:func:`capabilities`
    Which solver runs on which loss and kind of data, and what it supports (the table
    the estimator's checks read).
:func:`kernels`
    A backend's kernel module: the compiled inner loops, under the contract documented
    in :mod:`fastnmf._kernels` (names in :data:`KERNELS`).

Stability: the names in ``__all__`` and their documented parameters keep working across
minor versions; new keyword-only parameters may be added.  Everything else in fastnmf
(modules whose names start with an underscore, and the internals of the data forms and
update rules beyond what is documented here) may change.

Example
-------
>>> import numpy as np
>>> from fastnmf import engine
>>> rng = np.random.default_rng(0)
>>> X = rng.random((30, 20))
>>> W0, H0 = rng.random((30, 4)), rng.random((4, 20))
>>> sol = engine.solve(X, W0, H0, solver='hals', max_iter=50)
>>> sol.W.shape, sol.H.shape, sol.solver
((30, 4), (4, 20), 'hals')
"""

from dataclasses import dataclass

import numpy as np

from ._backends import get_backend, resolve_backend_name
from ._kernels import KERNELS
from ._monitor import Monitor
from ._validation import beta_loss_to_float, check_option
from .data import as_data as _as_data
from .data.missing import prepare
from .parallel.threads import blas_threads, resolve_n_threads, thread_plan
from .solvers import driver as _driver
from .solvers import table as _table
from .solvers.penalty import Penalty

__all__ = ["solve", "Solution", "as_data", "make_rule", "run", "capabilities", "kernels",
           "KERNELS", "Penalty"]


@dataclass
class Solution:
    """What :func:`solve` returns.

    Attributes
    ----------
    W : ndarray of shape (n_samples, n_components)
    H : ndarray of shape (n_components, n_features)
    n_iter : int
        Iterations run.
    loss_history : ndarray
        The objective (loss plus penalty) after each iteration.
    times : ndarray
        Seconds since the solver started, at the end of each iteration.
    error : float
        ``||X - W H||_F`` at the end (``sqrt(2 D_beta)`` for the other losses; over the
        known entries when some are unknown).
    solver : str
        The solver that ran (what ``'auto'`` chose).
    backend : str
        The kernel backend that ran it.
    converged : bool
        False when the fit stopped at ``max_iter`` with ``tol > 0`` or by the callback.
    """

    W: np.ndarray
    H: np.ndarray
    n_iter: int
    loss_history: np.ndarray
    times: np.ndarray
    error: float
    solver: str
    backend: str
    converged: bool


def solve(X, W, H, *, solver="cd", beta_loss="frobenius", update_H=True, max_iter=200,
          tol=1e-4, alpha_W=0.0, alpha_H="same", l1_ratio=0.0, frozen_components=None,
          shuffle=False, random_state=None, missing="nan", mask=None, backend="auto",
          n_threads=None, callback=None, verbose=0):
    """Run a solver on X from the given ``W`` and ``H``.

    Parameters
    ----------
    X : array-like or scipy.sparse matrix of shape (n_samples, n_features), non-negative
        Dense or sparse (never densified); NaN entries (or ``mask``, or with
        ``missing='unobserved'`` the absent entries of a sparse X) are unknown.
    W : array-like of shape (n_samples, n_components)
        The starting W (copied; converted to X's dtype).  Ignored with ``update_H=False``
        for the solvers that start from their own W (as :class:`fastnmf.NMF`).
    H : array-like of shape (n_components, n_features)
        The starting H (copied), or the fixed H with ``update_H=False``.
    solver : {'cd', 'hals', 'ehals', 'pgd', 'als', 'mu', 'emu', 'auto'}, default='cd'
        As in :class:`fastnmf.NMF` (what each supports: :func:`capabilities`).
    beta_loss, update_H, max_iter, tol, alpha_W, alpha_H, l1_ratio, frozen_components, \
shuffle, random_state, missing, mask, backend, n_threads, callback, verbose
        As in :class:`fastnmf.NMF` and :func:`fastnmf.non_negative_factorization`;
        ``alpha_W`` defaults to 0 (no penalty) here.  ``random_state`` seeds the
        shuffling of components only (there is no initialization).

    Returns
    -------
    Solution
    """
    from ._estimator import NMF
    from ._plan import plan_fit

    W0 = None if W is None else np.asarray(W)
    H0 = np.asarray(H)
    if H0.ndim != 2:
        raise ValueError(f"H must be a 2-D array of shape (n_components, n_features); got "
                         f"shape {H0.shape}")
    est = NMF(n_components=H0.shape[0], init="custom", solver=solver, beta_loss=beta_loss,
              tol=tol, max_iter=max_iter, random_state=random_state, alpha_W=alpha_W,
              alpha_H=alpha_H, l1_ratio=l1_ratio, verbose=verbose, shuffle=shuffle,
              backend=backend, n_threads=n_threads, callback=callback,
              frozen_components=frozen_components, missing=missing)
    if not isinstance(update_H, (bool, np.bool_)):
        raise TypeError(f"update_H must be a bool; got {update_H!r}")
    if update_H and W0 is None:
        raise ValueError("W must be given (the starting W) when update_H=True")
    Xa, obs = prepare(X, mask, missing)
    plan = plan_fit(est, Xa, W0, H0, bool(update_H), n_components=H0.shape[0],
                    with_error=True, obs=obs)
    result = plan.run()
    converged = not result.stopped_by_callback and (result.n_iter < max_iter or tol == 0)
    return Solution(W=result.W, H=np.ascontiguousarray(result.Ht.T), n_iter=result.n_iter,
                    loss_history=np.asarray(result.loss_history, dtype=np.float64),
                    times=np.asarray(result.times, dtype=np.float64), error=result.error,
                    solver=result.solver, backend=plan.backend, converged=converged)


def as_data(X, *, backend="auto", n_threads=None, missing="nan", mask=None):
    """X, validated, in the form the solvers take (:mod:`fastnmf.data`), on ``backend``'s
    kernels.  With unknown entries (NaN, ``mask``, ``missing='unobserved'``) the form holds
    the known entries (kind 'observed'); otherwise 'dense' or 'sparse'.

    Examples
    --------
    >>> import numpy as np
    >>> from fastnmf import engine
    >>> engine.as_data(np.ones((3, 2))).kind
    'dense'
    """
    Xa, obs = prepare(X, mask, missing)
    kern = get_backend(resolve_backend_name(backend))
    nt = resolve_n_threads(n_threads)
    if obs is None:
        return _as_data(Xa, kern, nt)
    if hasattr(obs, "representation"):  # a dense X's unknown entries: their own form
        obs = obs.representation(2.0, "mu")
    return obs.bind(kern, nt)


def make_rule(solver, data, W, Ht, *, beta_loss="frobenius", penalty=None, update_H=True,
              frozen_components=None, shuffle=False, random_state=None, stop=None):
    """A solver's update rule on ``data`` (:func:`as_data`) from ``(W, Ht)``.

    ``W`` (n_samples x k) and ``Ht`` (H transposed, n_features x k) must be C-contiguous
    arrays of X's dtype: the rule updates them in place, one iteration per
    ``rule.step`` (:func:`run` drives it).  ``penalty``: a :class:`Penalty` (scikit-learn's
    scaling: :meth:`Penalty.from_alphas`), None for none; fits with unknown entries build
    their own (use :func:`solve` to set it by alpha).  ``stop``: another stopping rule's
    name (``'violation'``, ``'guarded'``, ``'flat'``, ``'error'``) for the solvers that take
    one (cd).  ``solver='auto'`` is not a rule: name the solver (:func:`capabilities`).
    """
    from sklearn.utils import check_random_state

    from .solvers.penalty import count_penalty

    beta = beta_loss_to_float(beta_loss)
    check_option(solver, "solver", tuple(s for s in _table.SOLVERS if s != "auto"))
    kinds_missing = _table.MISSING_KINDS
    if data.protocol in kinds_missing:
        solver = _table.resolve_missing(solver, beta)
    else:
        _table.check_loss(solver, beta, beta_loss)
    for name, A, rows in (("W", W, data.shape[0]), ("Ht", Ht, data.shape[1])):
        if not (isinstance(A, np.ndarray) and A.ndim == 2 and A.shape[0] == rows
                and A.dtype == data.dtype and A.flags.c_contiguous):
            raise ValueError(f"{name} must be a C-contiguous {np.dtype(data.dtype).name} array "
                             f"with {rows} rows; got {type(A).__name__} "
                             f"{getattr(A, 'shape', '')} {getattr(A, 'dtype', '')}")
    if W.shape[1] != Ht.shape[1]:
        raise ValueError(f"W and Ht must have the same number of columns (components); got "
                         f"{W.shape[1]} and {Ht.shape[1]}")
    if penalty is None:
        penalty = Penalty()
        if data.protocol in kinds_missing:
            penalty = count_penalty(data, dict(alpha_W=0.0, alpha_H=0.0, l1_ratio=0.0), solver)
    frozen = None
    if frozen_components is not None:
        from ._validation import check_frozen
        _table.check_frozen(solver, beta)
        frozen = check_frozen(frozen_components, W.shape[1])
    options = dict(penalty=penalty, update_H=update_H, frozen=frozen, shuffle=shuffle,
                   rng=check_random_state(random_state),
                   parallel_kernels=thread_plan(data.X, data.n_threads)[1])
    if stop is not None:
        options["stop"] = stop
    return _table.make_rule(solver, beta, data, W, Ht, **options)


def run(rule, W, Ht, *, max_iter=200, tol=1e-4, callback=None, verbose=0, progress=False):
    """Run an update rule (:func:`make_rule`) from ``(W, Ht)``, in place, for at most
    ``max_iter`` iterations or until its stopping rule is met for ``tol`` (or ``callback``
    returns False: it receives a :class:`fastnmf.IterationInfo` after every iteration).
    BLAS is limited to the data's thread count meanwhile.  Returns the driver's result
    (``W``, ``Ht``, ``n_iter``, ``loss_history``, ``times``, ``stopped_by_callback``)."""
    monitor = Monitor(type(rule).__name__, max_iter, callback=callback, verbose=verbose,
                      progress=progress)
    n_blas = thread_plan(rule.data.X, rule.data.n_threads)[0] if hasattr(rule, "data") else 1
    with blas_threads(n_blas):
        return _driver.run(rule, W, Ht, max_iter=max_iter, tol=tol, monitor=monitor)


def capabilities():
    """The capability table: one dict per solver and kind of data, with the losses it
    minimises ('frobenius', 'kl', 'beta') and whether it holds components fixed.

    Examples
    --------
    >>> from fastnmf import engine
    >>> [c for c in engine.capabilities() if c["solver"] == "emu"][0]["losses"]
    ('kl', 'beta')
    """
    return [dict(solver=e.solver, losses=e.losses, kinds=e.kinds, frozen=e.frozen,
                 rule=f"{e.rule.__module__}.{e.rule.__qualname__}") for e in _table.TABLE]


def kernels(backend="auto"):
    """The kernel module of ``backend`` ('auto', 'cython', 'numba' or 'numpy'): every name
    of :data:`KERNELS`, with the signatures and semantics of the contract
    (:mod:`fastnmf._kernels`, also a page of the documentation).  ValueError naming the
    reason when the backend is unavailable."""
    return get_backend(resolve_backend_name(backend))
