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
- Frobenius on dense X: the guard.  'auto''s cd is not stopped by scikit-learn's rule
  while its loss still falls fast (:class:`fastnmf._fit.GuardedViolationRule`): from an
  nndsvda start at ranks far above the data's that rule stopped cd (and scikit-learn's)
  after 2 iterations at hundreds of times the loss within reach.  On the corpus the guard
  never acts, so there 'auto' is scikit-learn's cd exactly.
- Frobenius on sparse X: 'hals' (accelerated HALS: several exact coordinate-descent
  sweeps per pair of products, as many as Gillis and Glineur's budget allows,
  :func:`fastnmf._solvers.inner_budget`; one on very sparse X), stopped when its objective
  is flat.  On sparse text and expression data its objective flattens after 20-50
  iterations where scikit-learn's cd runs 41-200: news 3824 x 27788 7.8 times
  scikit-learn's whole call, 300 news articles 6.2 (cd 3.1), 20000 tweets 2.4 (cd 2.1),
  at the same loss (within 0.02%).  In the synthetic table hals's whole call was the
  fastest or within 25% of it on every sparse row but one (3000 x 1000, 10% dense, k=128:
  hals 3.6 s, cd 1.7 s, at the same loss).  This used to be 'cd' wherever the budget gave
  one sweep; hals then still stopped sooner (by its flat-objective rule, 2-2.5 times
  sooner at k=32-256 on 10000 x 5000 with 1% and 20000 x 10000 with 0.1% nonzeros).
  The storage stands for the kind of data, not for the cost of a product: the same
  matrices given the other way round ran the same solver fastest as before, so there the
  rule picks the slower one, still faster than scikit-learn (MNIST as CSR: cd 2.7 times
  scikit-learn, hals 1.3; the expression matrix as a dense array: hals 2.8, cd 1.5).
- Kullback-Leibler on sparse X (frozen components too): 'emu', as on dense X below, on the
  nonzeros (the W numerator kernel forms X / (W H) there and gives the divergence in the same
  pass).  On the corpus's five real count matrices its whole default call was 4.6-16 times
  scikit-learn's against 3.2-5.7 for the Newton coordinate descent ('cd', the rule before
  emu had momentum): 700 x 765 expression counts 16.1 against 3.7, 2000 news articles 6.5
  against 3.2, 250 Wikipedia articles 5.8 against 3.6, Reuters 5.9 against 5.7, 300 news
  articles 4.6 against 5.2; its final divergence 0.04-0.2% below scikit-learn's (Reuters:
  0.03% above), cd's 0.1-1.3% below.  In the synthetic table emu's whole call was the
  fastest on all six sparse KL rows (1.5-3.6 times cd's), ending 0.03-0.7% above cd.  So
  the Newton cd, which ends lowest, is the choice when the last fraction of a percent
  matters: ``solver='cd'``.
- Any beta but 2 on dense X (KL included, frozen components and ``update_H=False`` too):
  'emu', scikit-learn's multiplicative updates over-relaxed (the update ratio raised to
  1.8 times scikit-learn's exponent) with momentum in log space, under a safeguard that
  keeps the objective monotone (:func:`fastnmf._beta.fit_emu_beta`), and scikit-learn's mu
  stopping rule.  From scikit-learn's start it reached the divergence scikit-learn's mu
  ends at 2.4-11 times sooner in iterations (KL on a spectrogram, images, spectra,
  patches; beta=1.5 2.8-3.4 times; ``benchmarks/results/emu.md``), at about the same cost
  an iteration; whole default calls against scikit-learn's were 1.2-3.1 times faster at a
  divergence 2-26% lower.  It used to be 'mu' (four BLAS products an iteration in row
  blocks), which 'emu' is at ``omega = 1`` without momentum.  The
  Newton cd divides per entry and coordinate: ~0.24 s an iteration on a 3748 x 513
  spectrogram against ~15 ms for mu.
- Any other beta (not 1 or 2) on sparse X: 'mu' (there the divergence is not a by-product
  of the update's pass, and 'emu' would pay a pass for it each iteration).

dtype does not enter a rule.  In the table the fastest candidate differed between float32
and float64 in two of 21 pairs of rows, both times hals in float64 and fastnmf's Frobenius
'mu' in float32 (dense 3000 x 1000 at k=2, sparse 10000 x 5000 at k=256).  'auto' never picks 'mu' for the Frobenius
loss: its rule is scikit-learn's mu rule, relative to the initial error, which on dense
rows stopped at 1.3 to 40 times cd's loss.  Nor for sparse KL, where the table's
synthetic counts had mu's whole call faster than the Newton cd's at k >= 8; 'emu' is faster
than both there.
"""

import scipy.sparse as sp


def choose_solver(X, k, beta, *, update_H=True):
    """The solver 'auto' runs on X (no unknown entries) at rank ``k`` for ``beta``.

    ``update_H=False``: only W is fitted (H given).  Frozen components do not enter: every
    solver it picks takes them.  Returns one of 'hals', 'cd', 'als', 'emu', 'mu'.
    """
    if beta == 2:
        if not update_H:
            return "als"
        return "hals" if sp.issparse(X) else "cd"
    if not sp.issparse(X) or beta == 1:
        return "emu"
    return "mu"


def stopping(solver, beta):
    """The stopping rule 'auto' gives the solver it chose (a ``stop`` of
    :func:`fastnmf._fit.fit_cd`), or None where that solver keeps its own."""
    return "guarded" if beta == 2 and solver == "cd" else None
