"""How X is held: the data protocol and its forms.

The protocol (what a solver may ask of X) is written out in :mod:`fastnmf.data.base`.  The
forms:

- :class:`~fastnmf.data.dense.DenseData` ('dense') and
  :class:`~fastnmf.data.sparse.SparseData` ('sparse'): complete X held in memory;
- :mod:`fastnmf.data.missing`: X with unknown entries, as its known entries
  (:class:`~fastnmf.data.missing.Observed`) or as a complete X corrected over a few
  unknown ones (:class:`~fastnmf.data.missing.Complement`,
  :class:`~fastnmf.data.missing.SparseComplement`);
- :mod:`fastnmf.data.beta`: the beta-divergence's terms on complete X, which the forms
  give through ``beta_terms(floor)``.

:func:`as_data` wraps a validated complete X; :func:`fastnmf.data.missing.prepare`
validates X and finds its unknown entries.
"""

import scipy.sparse as sp

from .base import Data
from .dense import DenseData
from .sparse import SparseData


def as_data(X, kernels=None, n_threads=1):
    """The form of a validated complete X (a float32/float64 ndarray or canonical CSR
    matrix), or X itself when it already is a :class:`Data`."""
    if isinstance(X, Data):
        return X if kernels is None else X.bind(kernels, n_threads)
    cls = SparseData if sp.issparse(X) else DenseData
    return cls(X, kernels, n_threads)


__all__ = ["Data", "DenseData", "SparseData", "as_data"]
