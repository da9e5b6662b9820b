"""What ``solver='auto'`` runs: every rule in one place, with the measurements behind it.

The estimator and :func:`fastnmf.non_negative_factorization` call :func:`choose_solver`
once the rank is known (after the initialization, which may fix it); nothing else decides
for 'auto'.  The table in ``benchmarks/results/auto.md`` (``python benchmarks/auto_table.py``)
is the measurement these rules are checked against: for a grid over shape, density, rank
(2 to 256), dtype and loss, every candidate's whole default call, its time to the loss of
scikit-learn's solver (fastnmf's 'cd' for the Frobenius loss, 'mu' for KL, which follow
scikit-learn's iterates), and which candidate 'auto' picked.

The rules (fits without unknown entries; with them see :func:`fastnmf._masked.resolve_solver`):

- Frobenius, ``update_H=False`` (``transform``, ``non_negative_factorization(update_H=False)``):
  'als', one exact NNLS solve per row (block principal pivoting) instead of iterations.
- Frobenius on dense X: 'cd', scikit-learn's iterates and stopping rule.  On the dense
  cases of the real-data corpus (images, spectra, a spectrogram) 'hals' reaches
  scikit-learn's final loss 2-6 times sooner but then keeps lowering it, 1-28% below, and
  runs to 170-200 iterations where scikit-learn's cd stops after 63-101: its whole call
  was 0.5-1.1 times scikit-learn's against cd's 1.5-3.7 times (fermentation spectra 0.53
  against 2.00, camera patches 0.99 against 1.49).  ``solver='hals'`` is the choice when
  the lower loss is worth the time.
- Frobenius on sparse X: 'hals' (accelerated HALS: several exact coordinate-descent
  sweeps per pair of products) when both factors get more than one sweep per product by
  Gillis and Glineur's budget (:func:`fastnmf._solvers.inner_budget`), else 'cd' (one
  sweep: the products are so cheap, on very sparse X, that extra sweeps cost as much as
  another iteration).  On sparse text and expression data hals's objective flattens
  early (news 3824 x 27788: 30 iterations against cd's 172, 7.6 times scikit-learn's
  whole call).  The storage stands for the kind of data, not for the cost of a product:
  the same matrices given the other way round ran the same solver fastest as before, so
  there the rule picks the slower one, still faster than scikit-learn (MNIST as CSR:
  cd 2.7 times scikit-learn, hals 1.3; the expression matrix as a dense array: hals 2.8,
  cd 1.5).
- Kullback-Leibler on sparse X: 'cd' (Newton coordinate descent on the nonzeros: its cost
  per iteration grows with nnz, mu's with m n k through the products it cannot avoid).
- Kullback-Leibler on dense X, or with frozen components: 'mu' (four BLAS products an
  iteration, in row blocks; the Newton cd divides per entry and coordinate, ~0.24 s an
  iteration on a 3748 x 513 spectrogram against ~15 ms for mu).
- Any other beta: 'mu', the only solver for it.

dtype does not enter a rule: float32 and float64 ran the same solver fastest in every
row of the table.
"""

import scipy.sparse as sp

from ._solvers import inner_budget, stored_entries


def choose_solver(X, k, beta, *, update_H=True, frozen=False):
    """The solver 'auto' runs on X (no unknown entries) at rank ``k`` for ``beta``.

    ``update_H=False``: only W is fitted (H given); ``frozen``: some components are held
    fixed.  Returns one of 'hals', 'cd', 'als', 'mu'.
    """
    if beta == 2:
        if not update_H:
            return "als"
        return "hals" if sp.issparse(X) and hals_pays(X, k) else "cd"
    if beta == 1 and not frozen and sp.issparse(X):
        return "cd"
    return "mu"


def hals_pays(X, k):
    """Whether both factors of a rank-``k`` Frobenius fit get more than one sweep per
    product (:func:`fastnmf._solvers.inner_budget`)."""
    m, n = X.shape
    nnz = stored_entries(X)
    return min(inner_budget(X, m, k, nnz), inner_budget(X, n, k, nnz)) > 1
