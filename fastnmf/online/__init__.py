"""Online NMF: :class:`MiniBatchNMF`, fitted a minibatch of rows at a time.

- :mod:`~fastnmf.online.estimator`: the scikit-learn estimator, its epochs and early stopping;
- :mod:`~fastnmf.online.steps`: the update rules of one batch (scikit-learn's online
  multiplicative updates, online coordinate descent, online KL);
- :mod:`~fastnmf.online.batches`: the batches of X, in memory or read in chunks;
- :mod:`~fastnmf.online.checkpoint`: a fit's state saved at epoch ends, and resumed.
"""

from .estimator import MiniBatchNMF

__all__ = ["MiniBatchNMF"]
