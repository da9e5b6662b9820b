"""Choosing the rank and the regularization.

- :mod:`fastnmf.selection.rank`: :func:`select_rank` (cross-validation on held-out entries,
  consensus over restarts) and :func:`select_params` (the rank and the penalty together);
- :mod:`fastnmf.selection.holdout`: the held-out entries and their training sets;
- :mod:`fastnmf.selection.consensus`: consensus matrices, cophenetic correlation,
  dispersion.
"""

from .consensus import consensus_matrix, cophenetic_correlation, dispersion
from .rank import ParamSelection, RankSelection, select_params, select_rank

__all__ = ["select_rank", "select_params", "RankSelection", "ParamSelection",
           "consensus_matrix", "cophenetic_correlation", "dispersion"]
