"""The solvers: update rules run by one driver, chosen by one table.

- :mod:`fastnmf.solvers.driver`: the loop every solver runs in (records, monitors, stops,
  calls back) and :class:`~fastnmf.solvers.driver.UpdateRule`, what a solver is;
- :mod:`fastnmf.solvers.stopping`: the stopping rules;
- :mod:`fastnmf.solvers.frobenius`: cd, hals, ehals, pgd, als, mu for the Frobenius loss;
- :mod:`fastnmf.solvers.beta`: mu, emu and the KL coordinate descent (beta != 2);
- :mod:`fastnmf.solvers.masked`: the solvers of fits with unknown entries;
- :mod:`fastnmf.solvers.penalty`: the regularization terms;
- :mod:`fastnmf.solvers.table`: which rule runs which solver, loss and kind of data, and
  what each supports (the error messages come from it);
- :mod:`fastnmf.solvers.auto`: what ``solver='auto'`` runs (a measured cost model).
"""

from .driver import FitResult, Step, UpdateRule, run
from .table import SOLVERS, make_rule

__all__ = ["FitResult", "Step", "UpdateRule", "run", "SOLVERS", "make_rule"]
