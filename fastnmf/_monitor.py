"""Watching a fit: loss and time per iteration, the user's callback, logging, a progress bar.

Every solver loop calls :meth:`Monitor.record` once per outer iteration with
the objective it just computed; the monitor keeps the history, logs it
(``verbose``), advances the tqdm bar (``progress``) and calls the user's
``callback``, whose ``False`` stops the fit.
"""

import logging
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

logger = logging.getLogger("fastnmf")


@dataclass(frozen=True)
class IterationInfo:
    """What ``callback(info)`` receives after each iteration of a fit.

    ``W`` (n_samples x n_components) and ``H`` (n_components x n_features) are
    read-only views of the factors being fitted: valid during the call only,
    so copy them to keep them.  ``loss`` is the objective (loss plus
    regularization) after the iteration; ``elapsed`` the seconds since the
    solver started; ``solver`` the solver running ('cd', 'hals', ...).
    """

    iteration: int
    loss: float
    elapsed: float
    W: np.ndarray
    H: np.ndarray
    solver: str


def _read_only(A):
    if hasattr(A, "to_dask"):  # a factor held on a cluster: a lazy Dask array of it
        return A.to_dask()
    v = A.view()
    v.flags.writeable = False
    return v


class Monitor:
    """History, logging, progress bar and callback of one solver run."""

    def __init__(self, solver, max_iter, *, callback=None, verbose=0, progress=False):
        self.solver = solver
        self.callback = callback
        self.verbose = int(verbose)
        self.losses = []
        self.times = []
        self.stopped_by_callback = False
        self.start = time.perf_counter()
        self._bar = None
        if progress:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=max_iter, desc=f"fastnmf {solver}", unit="it", leave=False)

    @property
    def wants_each_loss(self):
        """True when something must see each iteration's loss as it happens."""
        return bool(self.callback is not None or self.verbose or self._bar is not None)

    def record(self, iteration, loss, W, Ht, extra=""):
        """Record an iteration; return False when the callback asks to stop.

        ``loss`` may be None when the solver computes it later (see
        :meth:`fill_last`); that happens only when :attr:`wants_each_loss`
        is False.
        """
        elapsed = time.perf_counter() - self.start
        self.losses.append(loss)
        self.times.append(elapsed)
        if loss is None:
            return True
        if self.verbose:
            logger.info("fastnmf %s: iteration %4d  loss %.6e  elapsed %.3fs%s",
                        self.solver, iteration, loss, elapsed, extra)
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix(loss=f"{loss:.6e}", refresh=False)
        if self.callback is not None:
            H = Ht.to_dask().T if hasattr(Ht, "to_dask") else _read_only(Ht.T)
            info = IterationInfo(iteration, float(loss), elapsed, _read_only(W), H, self.solver)
            if self.callback(info) is False:
                self.stopped_by_callback = True
                if self.verbose:
                    logger.info("fastnmf %s: stopped by the callback at iteration %d",
                                self.solver, iteration)
                return False
        return True

    def fill_last(self, loss):
        """Set the loss of the last iteration recorded with ``loss=None``."""
        if self.losses and self.losses[-1] is None:
            self.losses[-1] = loss

    def close(self):
        if self._bar is not None:
            self._bar.close()
            self._bar = None


@contextmanager
def verbose_logging(verbose):
    """With ``verbose``, make the 'fastnmf' logger's INFO records visible.

    When the application has configured logging (a handler on 'fastnmf' or
    an ancestor), its configuration is used and only the level is lowered for
    the duration; otherwise a temporary handler prints to stdout, as
    scikit-learn's verbose output does.
    """
    if not verbose:
        yield
        return
    previous = logger.level
    handler = None
    if not logger.hasHandlers():
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.setLevel(previous)
        if handler is not None:
            logger.removeHandler(handler)
