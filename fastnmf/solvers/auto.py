"""What ``solver='auto'`` runs: a measured cost model, in one place.

The estimator and :func:`fastnmf.non_negative_factorization` call :func:`choose_solver`
once the rank is known (after the initialization, which may fix it); nothing else decides
for 'auto'.  It picks, among the candidates for the loss (:data:`CANDIDATES`), the one whose
whole call the cost model predicts to be the shortest (:func:`predicted_seconds`):

    seconds = setup . f + iterations(k) * (per_iter . f),
    f = (k * stored, stored, k^2 (m + n), k (m + n), 1)         (:func:`cost_features`)

with ``per_iter``, ``setup`` and ``iterations(k) = exp(u) k^v`` fitted per solver, loss
(Frobenius, KL, other beta), kind of X (dense, sparse) and dtype to measured whole calls:
``benchmarks/auto_table.py`` times every candidate's whole default call, as 'auto' would
run it, on 74 synthetic points (shape, density, rank 2 to 256, dtype, Frobenius, KL and
beta=1.5) and on the 19 matrices of the real-data corpus, and
``benchmarks/fit_cost_model.py`` fits the constants (non-negative least squares in relative
error; log-linear least squares for the iterations) and writes them to
:mod:`fastnmf.solvers.auto_costs`; a test checks they are that fit of
``benchmarks/results/auto.json``.  In ``benchmarks/results/auto.md`` the model's choice was
right (final loss at most 1% above that of scikit-learn's iterates, whole call within 10%
of the fastest such candidate) at 87 of 93 points and at 85 with each point left out of the
fit; on the real matrices at 17 of 19 (17 left out).  The whole-call prediction is off by
24% at the median: iterations depend on the data more than on anything 'auto' can see.
(Measured 2026-12-06, with dense cd's fused passes.)

What the model cannot see, rules say:

- Frobenius, ``update_H=False`` (``transform``, ``non_negative_factorization(update_H=False)``):
  'als', one exact NNLS solve per row (block principal pivoting) instead of iterations.
- The Frobenius loss leaves out 'mu': its stopping rule, scikit-learn's, is relative to
  the initial error, and on dense rows it stopped at 1.3 to 40 times cd's loss.
- Dense Frobenius cd runs with a guard (:func:`stopping`,
  :class:`fastnmf.solvers.stopping.GuardedViolationRule`): it is not stopped by scikit-learn's rule while its loss still falls fast.  From an
  nndsvda start at ranks far above the data's, that rule stopped cd (and scikit-learn's)
  after 2 iterations at hundreds of times the loss within reach.  On the corpus the guard
  never acts, so there 'auto' is scikit-learn's cd exactly.  The table measures cd with it.

What the measurements say about the candidates (``benchmarks/results/auto.md``, the corpus):

- Dense Frobenius: 'hals' reaches scikit-learn's final loss 2-6 times sooner but then keeps
  lowering it, to 200 iterations where cd stops after 30-160; ``solver='hals'`` is the
  choice when the lower loss is worth the time.
- Sparse Frobenius: 'hals' (accelerated HALS, several exact sweeps per pair of products as
  Gillis and Glineur's budget allows, :func:`fastnmf.solvers.frobenius.inner_budget`) stops when its
  objective is flat, after 20-90 iterations where cd runs 40-200 (news 3824 x 27788 7.8
  times scikit-learn's whole call, 300 news articles 6.2).
- KL: 'emu' (scikit-learn's multiplicative updates over-relaxed, with momentum in log
  space, under a monotone safeguard: :class:`fastnmf.solvers.beta.OverRelaxedUpdates`) reaches the
  divergence of scikit-learn's mu 2.4-11 times sooner in iterations at about mu's cost an
  iteration; on the corpus's sparse counts 4.6-16 times scikit-learn's whole call.  The
  Newton cd ('cd') ends lowest (0.1-1.3% below scikit-learn's) and was the fastest on two
  sparse points of the table (300 news articles, 50000 x 2000 at k=32), which the model
  does not see; on dense X it divides per entry and coordinate (~0.24 s an iteration on a
  3748 x 513 spectrogram against ~15 ms for mu).
- Other beta: 'emu' (on the table's sparse beta=1.5 counts its whole call was 1.2-1.5 times
  faster than mu's; the rule before the model ran mu on sparse X).
- What the model picks, as it stands: dense Frobenius cd (one pass over X an iteration),
  except hals at k = 1 (in float32 on large X also at k = 2); sparse Frobenius hals (cd at
  k >= 128 on the denser sparse X); KL emu, except mu at larger k on wide or very sparse X
  (emu's extra work per factor entry, its over-relaxation and momentum, outweighs its
  fewer iterations there); other beta emu.

dtype enters through the per-iteration and setup constants, where the table measured both
(a group with fewer than three float32 points uses float64's).
"""

import math

import scipy.sparse as sp

from .auto_costs import COSTS

#: What 'auto' chooses among, by loss: ('mu' for the Frobenius loss is left out, its
#: stopping rule, relative to the initial error, ended dense fits at 1.3-40 times cd's loss)
CANDIDATES = {"frobenius": ("cd", "hals"), "kl": ("emu", "mu", "cd"), "beta": ("emu", "mu")}


def loss_class(beta):
    return "frobenius" if beta == 2 else "kl" if beta == 1 else "beta"


def cost_features(m, n, stored, k):
    """What an iteration's work grows with, on an m x n matrix with ``stored`` entries (m n
    if dense) at rank k: the two products' arithmetic (k times the stored entries) and their
    passes over X (the stored entries: at small k the products are bound by reading X), the
    Gram matrices and coordinate sweeps (k^2 (m + n)), the factors' entries (k (m + n)) and
    a fixed cost."""
    return (k * stored, stored, k * k * (m + n), k * (m + n), 1.0)


def cost_group(solver, beta, sparse):
    """The key of a solver's constants for a loss and kind of X, without the dtype (the
    table's keys are ``cost_group(...) + "/" + dtype``)."""
    return f"{solver}/{loss_class(beta)}/{'sparse' if sparse else 'dense'}"


def model_seconds(costs, solver, beta, *, sparse, dtype, m, n, stored, k, max_iter=200):
    """A whole call of ``solver`` by the cost model ``costs`` (a table like
    :data:`fastnmf.solvers.auto_costs.COSTS`): setup plus iterations times seconds an iteration,
    the iterations ``exp(u) k^v`` within [1, max_iter].  None where the table has no
    measurement for this solver, loss and kind of X."""
    group = cost_group(solver, beta, sparse)
    c = costs.get(f"{group}/{dtype}", costs.get(f"{group}/float64"))
    if c is None:
        return None
    f = cost_features(m, n, stored, k)
    per_iter = sum(a * b for a, b in zip(c["per_iter"], f))
    setup = sum(a * b for a, b in zip(c["setup"], f))
    u, v = c["iterations"]
    iterations = min(max_iter, max(1.0, math.exp(u) * k ** v))
    return setup + iterations * per_iter


def predicted_seconds(solver, X, k, beta, max_iter=200):
    """What the cost model (:data:`fastnmf.solvers.auto_costs.COSTS`, fitted to the table of
    ``benchmarks/auto_table.py`` by ``benchmarks/fit_cost_model.py``) predicts for the whole
    default call of ``solver`` on X at rank k; None where it has no measurement."""
    sparse = sp.issparse(X) or getattr(X, "sparse", False) is True  # (or read in chunks)
    m, n = X.shape
    return model_seconds(COSTS, solver, beta, sparse=sparse, dtype=str(X.dtype), m=m, n=n,
                         stored=X.nnz if sparse else m * n, k=k, max_iter=max_iter)


def choose_solver(X, k, beta, *, update_H=True, frozen=False):
    """The solver 'auto' runs on X (no unknown entries) at rank ``k`` for ``beta``: the
    candidate for the loss (:data:`CANDIDATES`) with the cheapest whole call by the cost
    model (:func:`predicted_seconds`).

    ``update_H=False``: only W is fitted (H given); for the Frobenius loss that is 'als',
    an exact solve.  ``frozen``: some components are held fixed, which the KL Newton cd does
    not support, so it is left out.  Returns one of 'hals', 'cd', 'als', 'emu', 'mu'.
    """
    if beta == 2 and not update_H:
        return "als"
    candidates = CANDIDATES[loss_class(beta)]
    from .table import runs_on, supports_frozen

    if frozen:  # the capability table says which can hold components fixed
        candidates = tuple(s for s in candidates if supports_frozen(s, beta))
    # and which run on this data (a form of X may lack an operation a solver needs)
    candidates = tuple(s for s in candidates if runs_on(s, beta, X))
    predicted = {s: predicted_seconds(s, X, k, beta) for s in candidates}
    predicted = {s: t for s, t in predicted.items() if t is not None}
    if not predicted:  # a table without this loss and kind of X (tests/solvers/test_auto.py)
        return candidates[0]
    return min(predicted, key=predicted.get)


def stopping(solver, beta):
    """The stopping rule 'auto' gives the solver it chose (a ``stop`` of
    :func:`fastnmf.solvers.frobenius.cd`), or None where that solver keeps its own."""
    return "guarded" if beta == 2 and solver == "cd" else None
