"""The one loop every solver runs in.

A solver is an update rule (:class:`UpdateRule`): it knows how to take one iteration from
``(W, Ht)`` (in place) and what that iteration's objective is; the driver (:func:`run`)
does everything around it, the same way for every solver: it asks the rule for what its
stopping rule needs at the start, runs the iterations, records each objective and time
(:class:`fastnmf._monitor.Monitor`: history, log, progress bar, the user's callback, which
may stop the fit), asks the stopping rule (:mod:`fastnmf.solvers.stopping`) and returns a
:class:`FitResult`.  ``H`` is kept transposed (``Ht``, n x k, C-contiguous) so that the W
and H updates are the same kernels.
"""

import contextlib
from dataclasses import dataclass, field

from . import stopping


@dataclass
class FitResult:
    """What a run returns: the factors, the iterations and their history."""

    W: object
    Ht: object
    n_iter: int
    loss_history: list = field(default_factory=list)
    error: float = None  # exact ||X - W H||_F (or sqrt(2 D)), when asked for
    times: list = field(default_factory=list)  # seconds since the solver started
    stopped_by_callback: bool = False
    solver: str = None
    #: the data loss of the final W, H where the rule knows it without another pass
    #: (0.5 ||X - W H||^2 by the Gram identity for the Frobenius solvers; over the observed
    #: entries with unknown ones), else None
    last_data_loss: float = None
    run_losses: list = None

    @classmethod
    def from_monitor(cls, W, Ht, n_iter, monitor, last_data_loss=None):
        monitor.close()
        return cls(W, Ht, n_iter, monitor.losses, times=monitor.times,
                   stopped_by_callback=monitor.stopped_by_callback, solver=monitor.solver,
                   last_data_loss=last_data_loss)


@dataclass
class Iteration:
    """What a rule's :meth:`UpdateRule.step` is told about the iteration it takes."""

    n: int  # 1-based
    last: bool  # max_iter: the run ends after this one whatever happens
    checked: bool  # the stopping rule reads this iteration's step
    #: someone (callback, log, progress bar) reads each iteration's objective as it happens
    watched: bool


@dataclass
class Step:
    """What an iteration produced: the objective (loss + penalty, None when the rule fills
    it in later with ``monitor.fill_last``), the data loss, the violation (coordinate
    descent's summed projected gradient) and a note for the log."""

    objective: float = None
    loss: float = None
    violation: float = None
    note: str = ""


class UpdateRule:
    """An iteration of a solver.  Subclasses set :attr:`stop` (a name of
    :data:`fastnmf.solvers.stopping.RULES`) and implement :meth:`step`; :meth:`start`
    gives the objective or loss at the initial point when the stopping rule needs it, and
    :meth:`finish` whatever must happen once the loop is over (returning the final data
    loss, if known)."""

    #: the stopping rule's name
    stop = "violation"

    def context(self):
        """A context manager the whole run happens in (say, a BLAS thread limit)."""
        return contextlib.nullcontext()

    def start(self, W, Ht, what, monitor):
        """The initial point's ``what`` ('objective' or 'loss'), for the stopping rule."""
        raise NotImplementedError

    def step(self, W, Ht, it):
        """Update ``W`` and ``Ht`` in place; return a :class:`Step`."""
        raise NotImplementedError

    def finish(self, W, Ht, monitor, last_step):
        """After the last iteration; returns the final data loss (or None)."""
        return None if last_step is None else last_step.loss


def run(rule, W, Ht, *, max_iter, tol, monitor):
    """Run ``rule`` from ``(W, Ht)`` (updated in place) for at most ``max_iter`` iterations,
    until its stopping rule (for ``tol``) is met or the callback returns False."""
    needed = stopping.needs(rule.stop)
    with rule.context():
        start = rule.start(W, Ht, needed, monitor) if needed is not None else None
        stop = stopping.make(rule.stop, tol, start)
        n_iter, step = 0, None
        for n_iter in range(1, max_iter + 1):
            it = Iteration(n_iter, n_iter == max_iter, stop.looks_at(n_iter),
                           monitor.wants_each_loss)
            step = rule.step(W, Ht, it)
            go_on = monitor.record(n_iter, step.objective, W, Ht, step.note)
            if not go_on or stop.met(n_iter, step):
                break
        last = rule.finish(W, Ht, monitor, step)
    return FitResult.from_monitor(W, Ht, n_iter, monitor, last)
