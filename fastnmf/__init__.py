"""fastnmf: fast non-negative matrix factorization with compiled kernels.

A drop-in replacement for :class:`sklearn.decomposition.NMF`::

    from fastnmf import NMF

The public names are these; :mod:`fastnmf.engine` runs the solvers for other front ends,
:mod:`fastnmf.parallel.config` holds the thread plan's thresholds.
"""

from . import engine
from ._backends import available_backends
from ._config import show_config
from ._estimator import NMF, non_negative_factorization
from ._monitor import IterationInfo
from .batch import FitBatch, FitRun, fit_many
from .online import MiniBatchNMF
from .patch import patch_sklearn, sklearn_is_patched, sklearn_patched, unpatch_sklearn
from .persist import load
from .selection import (ParamSelection, RankSelection, consensus_matrix, cophenetic_correlation,
                        dispersion, select_params, select_rank)

__version__ = "0.1.0.dev0"

__all__ = ["NMF", "MiniBatchNMF", "non_negative_factorization", "engine", "IterationInfo", "available_backends",
           "show_config", "select_rank", "RankSelection", "select_params", "ParamSelection",
           "consensus_matrix", "cophenetic_correlation", "dispersion", "load", "fit_many", "FitBatch",
           "FitRun", "patch_sklearn", "unpatch_sklearn", "sklearn_patched",
           "sklearn_is_patched", "__version__"]
