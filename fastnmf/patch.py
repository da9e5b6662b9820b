"""Run scikit-learn's NMF names on fastnmf: ``patch_sklearn()``, ``unpatch_sklearn()``.

::

    import fastnmf
    fastnmf.patch_sklearn()           # sklearn.decomposition.NMF, MiniBatchNMF and
    ...                               # non_negative_factorization now run on fastnmf
    fastnmf.unpatch_sklearn()         # scikit-learn's own objects again

    with fastnmf.sklearn_patched():   # the same for one block, undone on the way out
        ...                           # (exceptions included)

    python -m fastnmf.patch script.py [args]      # a script, patched from the start
    python -m fastnmf.patch -m package.module [args]

What replaces scikit-learn's three names (the classes :class:`NMF` and :class:`MiniBatchNMF`
of this module, the function :func:`non_negative_factorization`) keeps scikit-learn's
interface: the same signatures and **scikit-learn's defaults** where fastnmf's differ
(``solver='cd'`` for NMF and the function, where fastnmf has 'auto'; ``alpha_W=0.0``, where
fastnmf has 'auto'; MiniBatchNMF runs 'mu', scikit-learn's algorithm, where fastnmf's default
is online coordinate descent), NaN in X is an error as in scikit-learn (fastnmf fits NaN as
unknown), and fastnmf's own parameters (``backend``, ``n_threads``, ``n_init``, ...) stay at
fastnmf's defaults and out of ``get_params``.  A solver the caller names runs as fastnmf's
solver of that name: 'cd' is scikit-learn's coordinate descent, 'mu' its multiplicative
updates (the same iterates, see docs/guide/dropin.md); fastnmf's other solver names are
accepted too.  The classes subclass both fastnmf's estimator and scikit-learn's original
class, so ``isinstance`` holds against either; ``clone``, ``get_params``, pickling and
pipelines work as for scikit-learn's.

Names bound before patching.  A module that ran ``from sklearn.decomposition import NMF``
before the patch holds scikit-learn's object in its own globals, and replacing the attribute of
``sklearn.decomposition`` does not reach it (cNMF does this for ``non_negative_factorization``
when it is imported).  So ``patch_sklearn()`` also rebinds, in every imported module, each
global name that *is* one of the three original objects (an identity check; the module that
defines them, ``sklearn.decomposition._nmf``, and fastnmf's own modules are left alone), and
records each rebinding.  ``unpatch_sklearn()`` undoes exactly those (a name rebound since is
left as it is) and also gives scikit-learn's objects back to the names that took the patched
ones while the patch was on (``from sklearn.decomposition import NMF`` run under the patch).
``patch_sklearn(rebind=False)`` replaces the attributes of ``sklearn.decomposition`` only.
Originals held elsewhere than in a module's globals (a class attribute, a dict, a closure)
are not found.

Patching twice is harmless (a second call also rebinds in modules imported since); unpatching
when not patched does nothing.  The state is per process: worker processes started with
``spawn`` (multiprocessing's default on macOS and Windows) import scikit-learn afresh,
unpatched.
"""

import contextlib
import logging
import math
import os
import runpy
import sys
import threading

import numpy as np
import scipy.sparse as sp
from sklearn.decomposition import _nmf as _sk

from ._estimator import NMF as _FastNMF
from ._estimator import non_negative_factorization as _fast_nnf
from .online import MiniBatchNMF as _FastMiniBatchNMF

__all__ = ["patch_sklearn", "unpatch_sklearn", "sklearn_patched", "sklearn_is_patched"]

logger = logging.getLogger("fastnmf")

#: The names replaced in ``sklearn.decomposition``.
NAMES = ("NMF", "MiniBatchNMF", "non_negative_factorization")

# scikit-learn's originals, from the module that defines them (never rebound here, so this
# holds even when this module is imported while another copy of the patch is active).
_ORIGINALS = {name: getattr(_sk, name) for name in NAMES}


def _reject_nan(X, name="X"):
    """scikit-learn refuses NaN in X; fastnmf fits NaN entries as unknown.  The patched names
    keep scikit-learn's behaviour.  Dense in-memory inputs only (a sparse X with stored NaN
    is refused by fastnmf already; other inputs go to fastnmf's validation unchanged)."""
    if sp.issparse(X) or not (isinstance(X, (np.ndarray, list, tuple)) or hasattr(X, "iloc")):
        return
    try:
        a = np.asarray(X)
    except (TypeError, ValueError):
        return  # fastnmf's validation says what is wrong
    if a.dtype.kind not in "fc":
        return
    if not math.isfinite(float(np.sum(a))) and np.isnan(a).any():  # the sum: one cheap pass
        raise ValueError(
            f"Input {name} contains NaN: scikit-learn's NMF does not accept missing values, and "
            "neither does it under fastnmf.patch_sklearn() (fastnmf.NMF itself fits NaN "
            "entries as unknown, missing='nan')")


# ---------------------------------------------------------------------------- replacements
class _RefusesNaN:
    """What both replacement classes do first: refuse NaN in X, as scikit-learn does, before
    fastnmf (which would fit NaN as unknown) sees it; scikit-learn's signatures."""

    def fit_transform(self, X, y=None, W=None, H=None):
        """Learn the factorization of X and return W (scikit-learn's signature)."""
        _reject_nan(X)
        return super().fit_transform(X, y, W=W, H=H)

    def transform(self, X):
        """W for X with the learned components fixed (scikit-learn's signature)."""
        _reject_nan(X)
        return super().transform(X)

    def _fits_missing(self):
        return False  # the allow_nan tag: NaN is refused, as by scikit-learn


class NMF(_RefusesNaN, _FastNMF, _sk.NMF):
    """scikit-learn's ``NMF`` on fastnmf: what ``sklearn.decomposition.NMF`` is while
    :func:`patch_sklearn` is in effect.

    scikit-learn's signature and defaults (``solver='cd'``, ``alpha_W=0.0``); the solver named
    runs as fastnmf's solver of that name ('cd' and 'mu' are scikit-learn's algorithms).  See
    :class:`fastnmf.NMF` for the parameters and attributes, and :mod:`fastnmf.patch`.
    fastnmf's own parameters keep fastnmf's defaults (all usable cores, the best backend).
    """

    # fastnmf's parameters that scikit-learn's NMF lacks: fixed (class attributes, so they are
    # not parameters: get_params, clone and repr show scikit-learn's parameters only)
    backend = "auto"
    n_threads = None
    n_init = 1
    callback = None
    progress = False
    warm_start = False
    frozen_components = None
    missing = "nan"  # NaN is refused before fastnmf sees X (_reject_nan)
    chunk_bytes = None

    # scikit-learn 1.9's NMF.__init__, its defaults included (tests/test_patch.py compares the
    # signature with the installed scikit-learn's)
    def __init__(
        self,
        n_components="auto",
        *,
        init=None,
        solver="cd",
        beta_loss="frobenius",
        tol=1e-4,
        max_iter=200,
        random_state=None,
        alpha_W=0.0,
        alpha_H="same",
        l1_ratio=0.0,
        verbose=0,
        shuffle=False,
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


class MiniBatchNMF(_RefusesNaN, _FastMiniBatchNMF, _sk.MiniBatchNMF):
    """scikit-learn's ``MiniBatchNMF`` on fastnmf: what ``sklearn.decomposition.MiniBatchNMF``
    is while :func:`patch_sklearn` is in effect.

    scikit-learn's signature and defaults (``alpha_W=0.0``), and its algorithm: fastnmf's
    minibatch 'mu' (scikit-learn's multiplicative updates; fastnmf's own default, online
    coordinate descent, is :class:`fastnmf.MiniBatchNMF`).  See :class:`fastnmf.MiniBatchNMF`
    and :mod:`fastnmf.patch`.
    """

    solver = "mu"  # scikit-learn's MiniBatchNMF has no solver parameter: its algorithm
    backend = "auto"
    n_threads = None
    callback = None
    progress = False
    chunk_bytes = None
    checkpoint = None
    missing = "nan"  # NaN is refused before fastnmf sees X (_reject_nan)

    # scikit-learn 1.9's MiniBatchNMF.__init__, its defaults included
    def __init__(
        self,
        n_components="auto",
        *,
        init=None,
        batch_size=1024,
        beta_loss="frobenius",
        tol=1e-4,
        max_no_improvement=10,
        max_iter=200,
        alpha_W=0.0,
        alpha_H="same",
        l1_ratio=0.0,
        forget_factor=0.7,
        fresh_restarts=False,
        fresh_restarts_max_iter=30,
        transform_max_iter=None,
        random_state=None,
        verbose=0,
    ):
        self.n_components = n_components
        self.init = init
        self.batch_size = batch_size
        self.beta_loss = beta_loss
        self.tol = tol
        self.max_no_improvement = max_no_improvement
        self.max_iter = max_iter
        self.alpha_W = alpha_W
        self.alpha_H = alpha_H
        self.l1_ratio = l1_ratio
        self.forget_factor = forget_factor
        self.fresh_restarts = fresh_restarts
        self.fresh_restarts_max_iter = fresh_restarts_max_iter
        self.transform_max_iter = transform_max_iter
        self.random_state = random_state
        self.verbose = verbose

    def partial_fit(self, X, y=None, W=None, H=None):
        """Update the model with one minibatch X (scikit-learn's signature)."""
        _reject_nan(X)
        return super().partial_fit(X, y, W=W, H=H)


def non_negative_factorization(
    X,
    W=None,
    H=None,
    n_components="auto",
    *,
    init=None,
    update_H=True,
    solver="cd",
    beta_loss="frobenius",
    tol=1e-4,
    max_iter=200,
    alpha_W=0.0,
    alpha_H="same",
    l1_ratio=0.0,
    random_state=None,
    verbose=0,
    shuffle=False,
):
    """scikit-learn's ``non_negative_factorization`` on fastnmf: what
    ``sklearn.decomposition.non_negative_factorization`` is while :func:`patch_sklearn` is in
    effect.  scikit-learn's signature and defaults (``solver='cd'``, ``alpha_W=0.0``); returns
    ``(W, H, n_iter)``.  See :func:`fastnmf.non_negative_factorization`."""
    _reject_nan(X)
    return _fast_nnf(
        X, W, H, n_components, init=init, update_H=update_H, solver=solver, beta_loss=beta_loss,
        tol=tol, max_iter=max_iter, alpha_W=alpha_W, alpha_H=alpha_H, l1_ratio=l1_ratio,
        random_state=random_state, verbose=verbose, shuffle=shuffle)


_REPLACEMENTS = {"NMF": NMF, "MiniBatchNMF": MiniBatchNMF,
                 "non_negative_factorization": non_negative_factorization}


# ---------------------------------------------------------------------------- patching
class _State:
    """What a patch did: the rebindings to undo (module globals dict, name, which object)."""

    def __init__(self):
        self.rebound = []  # (module name, its globals dict, global name, replaced NAME)


_lock = threading.RLock()
_state = None  # a _State while patched


def _skip(module_name):
    # the defining module keeps scikit-learn's objects (its own functions refer to them, and
    # the originals are read from it); fastnmf's modules hold the replacements on purpose
    return (module_name == _sk.__name__ or module_name == "fastnmf"
            or module_name.startswith("fastnmf."))


def _module_globals(module):
    """A module's globals dict, without running a lazy module's ``__getattribute__``."""
    try:
        d = object.__getattribute__(module, "__dict__")
    except Exception:  # not a module, or an object without a __dict__
        return None
    return d if isinstance(d, dict) else None


def _rebind(state, sources, targets, record):
    """In every imported module, bind to ``targets[NAME]`` each global that is
    ``sources[NAME]``; with ``record``, note each rebinding in ``state``."""
    by_id = {id(obj): name for name, obj in sources.items()}
    count = 0
    for module_name, module in list(sys.modules.items()):  # copied: imports may add modules
        if module is None or _skip(module_name):
            continue
        d = _module_globals(module)
        if d is None:
            continue
        for key, value in list(d.items()):
            name = by_id.get(id(value))
            if name is None or value is not sources[name]:
                continue
            d[key] = targets[name]
            count += 1
            if record:
                state.rebound.append((module_name, d, key, name))
    return count


def patch_sklearn(rebind=True):
    """Make ``sklearn.decomposition.NMF``, ``MiniBatchNMF`` and ``non_negative_factorization``
    run on fastnmf, with scikit-learn's signatures and defaults (see :mod:`fastnmf.patch`).

    Parameters
    ----------
    rebind : bool, default=True
        Also rebind, in every imported module, the global names that hold scikit-learn's
        original objects (``from sklearn.decomposition import NMF`` run before the patch);
        False: replace the attributes of ``sklearn.decomposition`` only.

    Calling it again is harmless (it rebinds in modules imported since, with ``rebind``).
    :func:`unpatch_sklearn` undoes it.
    """
    if not isinstance(rebind, (bool, np.bool_)):
        raise TypeError(f"rebind must be a bool (True or False); got {rebind!r}")
    global _state
    import sklearn.decomposition as decomposition

    with _lock:
        state = _state if _state is not None else _State()
        if rebind:
            n = _rebind(state, _ORIGINALS, _REPLACEMENTS, record=True)
        else:
            n = 0
            d = _module_globals(decomposition)
            for name in NAMES:
                if d.get(name) is _ORIGINALS[name]:
                    d[name] = _REPLACEMENTS[name]
                    state.rebound.append((decomposition.__name__, d, name, name))
                    n += 1
        _state = state
        logger.debug("patch_sklearn: %d names rebound to fastnmf (%d in all)", n,
                     len(state.rebound))


def unpatch_sklearn():
    """Give scikit-learn's NMF, MiniBatchNMF and non_negative_factorization back: every name
    :func:`patch_sklearn` rebound gets its original object again (unless it was rebound to
    something else since), and so does every module global that took a replacement while
    patched.  Does nothing when not patched."""
    global _state
    with _lock:
        if _state is None:
            return
        restored = 0
        for _, d, key, name in reversed(_state.rebound):
            if d.get(key) is _REPLACEMENTS[name]:  # else: rebound by someone else since
                d[key] = _ORIGINALS[name]
                restored += 1
        # names that took a replacement while patched (imports under the patch)
        restored += _rebind(_state, _REPLACEMENTS, _ORIGINALS, record=False)
        _state = None
        logger.debug("unpatch_sklearn: %d names restored to scikit-learn's", restored)


def sklearn_is_patched():
    """Whether :func:`patch_sklearn` is in effect (``sklearn.decomposition.NMF`` is fastnmf's)."""
    return _state is not None


@contextlib.contextmanager
def sklearn_patched(rebind=True):
    """``with sklearn_patched(): ...`` runs the block with scikit-learn patched (as
    :func:`patch_sklearn`), and unpatches on the way out, exception or not.  When already
    patched at entry, it stays patched at exit (nesting works)."""
    if not isinstance(rebind, (bool, np.bool_)):
        raise TypeError(f"rebind must be a bool (True or False); got {rebind!r}")
    was_patched = sklearn_is_patched()
    patch_sklearn(rebind=rebind)
    try:
        yield
    finally:
        if not was_patched:
            unpatch_sklearn()


# ---------------------------------------------------------------------------- runner
_USAGE = ("usage: python -m fastnmf.patch script.py [args ...]\n"
          "       python -m fastnmf.patch -m module [args ...]\n"
          "Runs the script or module with sklearn.decomposition's NMF, MiniBatchNMF and "
          "non_negative_factorization on fastnmf (fastnmf.patch_sklearn()).")


def _main(argv=None):
    """``python -m fastnmf.patch``: run a script (or ``-m`` a module) patched from the start."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_USAGE)
        return 0 if argv else 2
    as_module = argv[0] == "-m"
    if as_module:
        if len(argv) < 2:
            print(_USAGE, file=sys.stderr)
            return 2
        target, args = argv[1], argv[2:]
    else:
        target, args = argv[0], argv[1:]
    patch_sklearn()
    sys.argv = [target] + args
    if as_module:
        runpy.run_module(target, run_name="__main__", alter_sys=True)
    else:
        sys.path.insert(0, os.path.dirname(os.path.abspath(target)))  # as python script.py
        runpy.run_path(target, run_name="__main__")
    return 0


if __name__ == "__main__":
    # run the copy imported as fastnmf.patch, not this __main__ one: pickles of the patched
    # estimators name fastnmf.patch.NMF, and there must be one state
    from fastnmf.patch import _main as _run

    sys.exit(_run())
