"""The data protocol: what a solver may ask of X, whatever holds it.

A solver never touches X itself; it holds a :class:`Data` and calls its operations.  A form
of data implements the operations it can; :attr:`Data.kind` names the form and
:attr:`Data.protocol` the set of operations it implements, and the capability table
(:mod:`fastnmf.solvers.table`) says which solvers run on which protocol: every solver of
complete X runs on every form of the 'complete' protocol, however it holds X.  The
operations, by who needs them:

Every form
    ``shape``, ``dtype``, ``kind``, ``protocol``, ``n_missing`` (unknown entries),
    ``init_view()`` (what the initialization factorizes), ``bind(kernels, n_threads)``.

Complete X, for the Frobenius solvers (cd, hals, ehals, pgd, als, mu)
    Protocol 'complete': the forms 'dense' and 'sparse' here (a chunked on-disk array or a
    Dask array would be two more).

    - ``norm2()``: ``||X||^2`` in float64;
    - ``x_times(Ht, out)``: ``X @ Ht`` (m x k), and ``xt_times(W)``: ``X^T @ W`` (n x k),
      C-contiguous in X's dtype;
    - ``gram(F)``: ``F^T F`` (k x k) of a factor, on the threads the form's products leave
      free;
    - ``stored_entries()``: the nonzero entries (what a product costs: the HALS budgets);
    - ``fused_pass(...)``, where ``can_fuse``: a sweep of W fused with the products of the
      new W, one pass over X (dense cd);
    - ``reconstruction_error(W, Ht)``: the final ``||X - W H||_F``.

Complete X, for the beta-divergence solvers (mu, emu; the KL coordinate descent)
    - ``beta_terms(floor)``: an object with ``divergence``, ``mu_terms_W``, ``mu_terms_H``,
      ``loss_in_pass`` (numerators, denominators and losses of the multiplicative updates,
      W H formed a block of rows at a time);
    - ``kl_sweep(side, F, G, l1, l2, max_inner, want_loss)``: one Newton coordinate sweep of
      W (side 0, rows of X) or of H (side 1, rows of X^T);
    - ``x_sum()``, ``mean()``, ``has_zeros()``.

Unknown entries (:mod:`fastnmf.data.missing`)
    Protocols 'observed' (the known entries only, CSR both ways), 'complement' (X with zeros
    at a few unknown entries plus their pattern: the complete operations above on that X,
    plus corrections over the pattern) and 'sparse-complement' (a sparse X whose zeros are
    data, minus a held-out set).  Their own operations are the sweeps and
    multiplicative-update terms restricted to the known entries, ``counts()``,
    ``patterns()``, ``observed_values()``.

A new way to hold X is a new subclass here implementing the complete-X operations (the
products, the Gram terms, the loss terms); no solver changes.
"""

import numpy as np


class Data:
    """Base of the data forms: the attributes every form has (see the module docstring for
    the operations each kind implements)."""

    #: the form's name ('dense', 'sparse', 'observed', ...)
    kind = None
    #: which operations it implements, the capability table's key: 'complete' (the
    #: complete-X operations: every form of a complete X, however held), or the form of
    #: unknown entries it is ('observed', 'complement', 'sparse-complement')
    protocol = "complete"
    #: whether :meth:`fused_pass` is there
    can_fuse = False

    def __init__(self, X, kernels, n_threads):
        self.X = X
        self.kernels = kernels
        self.n_threads = n_threads
        self.shape = tuple(X.shape)
        self.dtype = X.dtype
        #: sums and copies of X computed once (shared by everything that uses this data)
        self.cache = {}

    #: how many entries are unknown (0 for complete X)
    n_missing = 0

    def init_view(self):
        """What the initialization factorizes (X itself for complete X)."""
        return self.X

    def supports(self, op):
        """Whether this form implements the operation ``op`` (a form of complete X may lack
        one: a chunked X has no ``kl_sweep``)."""
        return callable(getattr(self, op, None))

    def cached(self, key, make):
        """``make()``, computed once for this data."""
        if key not in self.cache:
            self.cache[key] = make()
        return self.cache[key]

    def beta_terms(self, floor=None):
        """The beta-divergence's terms on this data (:class:`fastnmf.data.beta.BetaTerms`),
        W H clamped at ``floor`` where it divides (scikit-learn's EPS by default)."""
        from .beta import EPS, BetaTerms

        return BetaTerms(self, EPS if floor is None else floor)

    def bind(self, kernels, n_threads):
        """The same data for a run on ``kernels`` (a backend's registry, or fastnmf's pooled
        one) and ``n_threads``: a shallow copy sharing X and what was computed from it (but
        forms built on other kernels)."""
        other = object.__new__(type(self))
        other.__dict__.update(self.__dict__)
        other.kernels, other.n_threads = kernels, n_threads
        other.cache = {key: v for key, v in self.cache.items() if not isinstance(v, Data)}
        return other

    def __repr__(self):
        m, n = self.shape
        return f"<{type(self).__name__} {m}x{n} {np.dtype(self.dtype).name}>"
