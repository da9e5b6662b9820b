"""When a fit stops: the stopping rules, each a small object the driver asks after every
iteration (:func:`fastnmf.solvers.driver.run`).

Every rule sees the iteration's :class:`~fastnmf.solvers.driver.Step` (its objective, its
data loss and, for coordinate descent, its summed projected gradient) and says whether the
fit is done; :meth:`StoppingRule.looks_at` says which iterations it reads (the others' loss
need not be computed: the multiplicative updates then skip a pass).  A rule is named by a
solver's update rule (``UpdateRule.stop``) and built by :func:`make`.
"""

import numpy as np


class StoppingRule:
    """Never met (``tol <= 0`` leaves only ``max_iter`` and the callback)."""

    def looks_at(self, n_iter):
        """Whether :meth:`met` reads iteration ``n_iter``'s step."""
        return False

    def met(self, n_iter, step):
        return False


def _error(objective):
    return float(np.sqrt(2 * max(objective, 0.0)))


class ViolationRule(StoppingRule):
    """scikit-learn's cd stopping rule: stop when the summed projected gradient of an
    iteration falls to ``tol`` times the first iteration's (or the first one is 0)."""

    def __init__(self, tol):
        self.tol = tol
        self.first = None

    def looks_at(self, n_iter):
        return True

    def met(self, n_iter, step):
        violation = step.violation
        if self.first is None:
            self.first = violation
        return self.first == 0 or violation / self.first <= self.tol


class GuardedViolationRule(ViolationRule):
    """What ``solver='auto'`` stops its Frobenius cd by: scikit-learn's cd rule
    (:class:`ViolationRule`), except while the error ``sqrt(2 objective)`` still falls by
    more than ``GUARD * tol`` times itself an iteration.

    The violation rule compares with the first iteration's violation, and from an nndsvda
    start at a rank well above the data's that one is so large that the rule fires while
    the fit is still far off: on 300x200 data of rank 10 plus 5% noise, at k=128 it stopped
    after 2 iterations with the error falling by a third an iteration, at 1500 times the
    loss 200 iterations reach.  Where the violation rule stopped fits of the real-data
    corpus (benchmarks/corpus.py: 41 to 101 iterations) the error fell by at most 3.1e-4
    times itself an iteration, so there the guard changes nothing and 'auto' keeps
    scikit-learn's iterates and stopping point.
    """

    GUARD = 100.0

    def __init__(self, tol, initial_objective):
        super().__init__(tol)
        self.previous = _error(initial_objective)

    def met(self, n_iter, step):
        error = _error(step.objective)
        falling = self.previous - error > self.GUARD * self.tol * error
        self.previous = error
        return super().met(n_iter, step) and not falling


class ErrorRule(StoppingRule):
    """scikit-learn's mu stopping rule: every 10 iterations, stop when the error
    ``sqrt(2 loss)`` (the data loss, without the penalty) improved by less than ``tol``
    times the initial error."""

    def __init__(self, initial_loss, tol):
        self.tol = tol
        self.initial = self.previous = _error(initial_loss)

    def looks_at(self, n_iter):
        return self.tol > 0 and n_iter % 10 == 0

    def met(self, n_iter, step):
        if not self.looks_at(n_iter):
            return False
        error = _error(step.loss)
        if self.initial == 0 or (self.previous - error) / self.initial < self.tol:
            return True
        self.previous = error
        return False


class FlatRule(StoppingRule):
    """The rule of fastnmf's 'hals' and KL 'cd': every 10 iterations, stop when the error
    ``sqrt(2 objective)`` improved by less than ``tol`` times itself over the last ten.

    Like scikit-learn's mu rule (:class:`ErrorRule`) but relative to the current error,
    not the initial one, which after a random start is several times larger: measured on
    a 300x200 rank-6 matrix from a random start, relative to the initial error 'hals'
    stopped at iteration 60 with a loss 1.1% above scikit-learn cd's (375 iterations);
    relative to the current error at 140, 0.005% above it.
    """

    def __init__(self, initial_objective, tol):
        self.tol = tol
        self.previous = _error(initial_objective)

    def looks_at(self, n_iter):
        return self.tol > 0 and n_iter % 10 == 0

    def met(self, n_iter, step):
        if not self.looks_at(n_iter):
            return False
        error = _error(step.objective)
        if error == 0 or (self.previous - error) < self.tol * error:
            return True
        self.previous = error
        return False


#: The rules by name (``UpdateRule.stop``), and what each needs from the start: the
#: objective ('guarded', 'flat'), the data loss ('error') or nothing ('violation').
RULES = {
    "violation": (lambda tol, start: ViolationRule(tol), None),
    "guarded": (lambda tol, start: GuardedViolationRule(tol, start), "objective"),
    "flat": (lambda tol, start: FlatRule(start, tol), "objective"),
    "error": (lambda tol, start: ErrorRule(start, tol), "loss"),
}


def needs(name):
    """What the rule ``name`` needs at the start: 'objective', 'loss' or None."""
    if name not in RULES:
        raise ValueError(f"stop must be one of {sorted(RULES)}; got {name!r}")
    return RULES[name][1]


def make(name, tol, start=None):
    """The stopping rule ``name`` for ``tol`` (``start``: see :func:`needs`)."""
    needs(name)
    return RULES[name][0](tol, start)
