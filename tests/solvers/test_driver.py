"""The one driver every solver runs in, the stopping rules, and the capability table."""

import contextlib

import numpy as np
import pytest

from fastnmf import NMF
from fastnmf._monitor import Monitor
from fastnmf.solvers import driver, stopping, table
from fastnmf.solvers.driver import Step, UpdateRule


class Countdown(UpdateRule):
    """A fake solver: its objective falls by a given list; records what it was told."""

    def __init__(self, objectives, stop="flat", violations=None):
        self.objectives = list(objectives)
        self.violations = violations
        self.stop = stop
        self.seen, self.entered, self.finished = [], 0, None

    @contextlib.contextmanager
    def context(self):
        self.entered += 1
        yield

    def start(self, W, Ht, what, monitor):
        self.what = what
        return self.objectives[0]

    def step(self, W, Ht, it):
        self.seen.append((it.n, it.last, it.checked))
        W += 1.0  # something happens to the factors
        v = None if self.violations is None else self.violations[it.n - 1]
        obj = self.objectives[it.n]
        return Step(obj, obj, v)

    def finish(self, W, Ht, monitor, last_step):
        self.finished = last_step
        return -1.0


def _run(rule, max_iter, tol=1e-4, callback=None):
    W, Ht = np.zeros((3, 2)), np.zeros((4, 2))
    return driver.run(rule, W, Ht, max_iter=max_iter, tol=tol,
                      monitor=Monitor("fake", max_iter, callback=callback)), W


def test_driver_runs_records_and_stops_at_max_iter():
    rule = Countdown([10.0 / (i + 1) for i in range(20)])
    result, W = _run(rule, 5, tol=0)
    assert result.n_iter == 5 and len(result.loss_history) == 5 and len(result.times) == 5
    assert result.loss_history == rule.objectives[1:6]
    assert rule.seen[-1] == (5, True, False) and all(not last for _, last, _ in rule.seen[:-1])
    assert rule.entered == 1 and rule.finished.objective == rule.objectives[5]
    assert result.last_data_loss == -1.0 and (W == 5).all()


def test_flat_rule_stops_when_the_error_stops_falling():
    objectives = [100.0] + [50.0] * 40  # flat after the first iteration
    rule = Countdown(objectives)
    result, _ = _run(rule, 40)
    # looked at every 10 iterations: at 10 the error had fallen since the start, at 20 not
    assert result.n_iter == 20
    assert [n for n, _, checked in rule.seen if checked] == [10, 20]


def test_error_rule_is_relative_to_the_initial_error():
    # scikit-learn's mu rule: improvement over 10 iterations below tol times the initial error
    # falls by 1 an iteration to 70 at iteration 30, then flat: looked at every 10
    # iterations, the error fell at 10, 20 and 30, not from 30 to 40
    objectives = [100.0] + [100.0 - i for i in range(1, 30)] + [70.0] * 30
    result, _ = _run(Countdown(objectives, stop="error"), 50, tol=1e-3)
    assert result.n_iter == 40
    # relative to the initial error (sqrt(200)): a fall of 1e-3 of it is not enough
    rule = stopping.make("error", 1e-3, 100.0)
    init = np.sqrt(200.0)
    almost = (init - 0.5e-3 * init) ** 2 / 2
    assert rule.met(10, Step(loss=almost))


def test_violation_rule_compares_with_the_first_iteration():
    v = [8.0, 4.0, 2.0, 1e-3, 1e-5]
    result, _ = _run(Countdown([1.0] * 6, stop="violation", violations=v), 5, tol=1e-3)
    assert result.n_iter == 4  # 1e-3 / 8 <= 1e-3
    rule = stopping.make("violation", 1e-3)
    assert not rule.met(1, Step(violation=0.0)) or rule.first == 0  # a zero first: stop
    assert stopping.make("violation", 1e-3).met(1, Step(violation=0.0))


def test_guarded_rule_waits_while_the_objective_falls_fast():
    rule = stopping.GuardedViolationRule(1e-4, initial_objective=100.0)
    # the violation is tiny, but the error fell by half: not met
    assert not rule.met(1, Step(objective=25.0, violation=1.0))
    assert not rule.met(2, Step(objective=24.0, violation=1e-9))
    assert rule.met(3, Step(objective=24.0, violation=1e-9))


def test_the_callback_stops_the_driver():
    calls = []

    def cb(info):
        calls.append(info.iteration)
        return info.iteration < 3

    result, _ = _run(Countdown([1.0 / (i + 1) for i in range(20)]), 10, tol=0, callback=cb)
    assert result.n_iter == 3 and result.stopped_by_callback and calls == [1, 2, 3]


def test_unknown_stopping_rule():
    with pytest.raises(ValueError, match="stop must be one of"):
        stopping.make("sometimes", 1e-4)


# ------------------------------------------------------------------ the table
def test_every_solver_has_a_rule_and_every_rule_a_solver():
    named = {e.solver for e in table.TABLE}
    assert named == set(table.SOLVERS) - {"auto"}
    for e in table.TABLE:
        assert callable(e.rule) and e.losses and e.kinds


@pytest.mark.parametrize("solver,beta,ok", [
    ("cd", 2.0, True), ("cd", 1.0, True), ("cd", 0.5, False), ("hals", 1.0, False),
    ("mu", 0.0, True), ("emu", 2.0, False), ("emu", 1.5, True), ("auto", 0.3, True)])
def test_loss_checks_follow_the_table(solver, beta, ok):
    if ok:
        table.check_loss(solver, beta, beta)
    else:
        with pytest.raises(ValueError, match=rf"beta_loss={beta!r} is not supported by "
                                             rf"solver='{solver}'"):
            table.check_loss(solver, beta, beta)
        with pytest.raises(ValueError, match=f"solver='{solver}'"):
            NMF(2, solver=solver, beta_loss=beta).fit(np.ones((4, 3)))


def test_missing_entries_and_frozen_components_follow_the_table():
    assert table.resolve_missing("hals", 2.0) == "cd"
    assert table.resolve_missing("auto", 1.0) == "cd"
    assert table.resolve_missing("mu", 1.0) == "mu"
    with pytest.raises(ValueError, match="solver='pgd' does not fit missing entries"):
        table.resolve_missing("pgd", 2.0)
    with pytest.raises(ValueError, match="beta_loss=0.5 is not supported with missing"):
        table.resolve_missing("cd", 0.5)
    assert not table.supports_frozen("cd", 1.0) and table.supports_frozen("cd", 2.0)
    with pytest.raises(ValueError, match="frozen_components is not supported by solver='cd'"):
        table.check_frozen("cd", 1.0)
    table.check_frozen("auto", 1.0)  # 'auto' picks a solver that can
