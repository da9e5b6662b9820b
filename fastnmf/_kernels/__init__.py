"""The kernel contract.

Every backend module (``reference``, ``numba``, ``cython``) exports exactly the
names in :data:`KERNELS`, with the signatures documented below.  Shared rules:

* Array arguments are C-contiguous and share one dtype, float32 or float64
  (``perm`` is an ``intp`` array).  The caller (``fastnmf._fit``) guarantees this;
  kernels never validate and never allocate anything of size m x n.
* The factor being updated is modified in place; everything else is read only.
* Loops that are parallel run over rows, with the component loop inside, so the
  result of every kernel is the same for every ``n_threads``.  Scalar reductions
  are accumulated in float64 over fixed blocks of :data:`ROW_BLOCK` rows and the
  block partials are summed in order, which keeps them independent of the thread
  count too.

Kernels
-------
hals_sweep(W, HHt, XHt, l1, l2, perm, n_threads) -> float
    One exact coordinate-descent (HALS) sweep over the columns of ``W``
    (m x k) for ``min 0.5||X - W H||^2 + l1 sum(W) + 0.5 l2 ||W||^2``, given the
    Gram matrix ``HHt = H H^T`` (k x k) and the cross product ``XHt = X H^T``
    (m x k).  Components are visited in the order ``perm`` (length k).  For each
    row ``i`` and component ``t``::

        grad = (W[i] @ HHt[t]) - XHt[i, t] + l1 + l2 * W[i, t]
        hess = HHt[t, t] + l2
        W[i, t] = max(W[i, t] - grad / hess, 0)     (skipped when hess == 0)

    The compiled backends evaluate ``grad`` in scikit-learn's order,
    ``-(XHt[i, t] - l1)`` plus ``(HHt[t, r] + l2 [r == t]) * W[i, r]`` for
    r = 0..k-1, so that with the same products they take scikit-learn's steps.

    Returns the sum over all entries of ``|projected gradient|`` measured
    before each coordinate's update (scikit-learn's cd stopping quantity).
    Used for H too, by passing ``H^T`` (n x k), ``W^T W`` and ``X^T W``.

mu_update(W, HHt, XHt, l1, l2, n_threads) -> None
    Multiplicative update for the Frobenius loss (Lee & Seung 2001, with the
    L1/L2 terms of scikit-learn)::

        denom = W @ HHt + l1 + l2 * W   (from the old W, whole row at once)
        denom[denom == 0] = EPS          (EPS = float32 machine epsilon)
        W *= XHt / denom

squared_residual(X, W, H, n_threads) -> float
    ``||X - W H||_F^2`` for dense ``X`` (m x n), ``W`` (m x k), ``H`` (k x n),
    summed directly entry by entry without an m x n temporary: blocks of rows of
    ``W H`` are formed by NumPy's BLAS into a scratch block of about 2**18
    entries (BLAS threads are limited by the caller; ``n_threads`` is what it
    was limited to), each residual ``X[i, j] - (W H)[i, j]`` is formed in the array
    dtype, and its square is summed in float64 row by row, rows added in order.
    Exact where the Gram-matrix identity ``||X||^2 - 2<X H^T, W> + <W^T W, H H^T>``
    cancels catastrophically.
"""

KERNELS = ("hals_sweep", "mu_update", "squared_residual")

#: Rows per block for scalar reductions (fixed, so results do not depend on threads).
ROW_BLOCK = 64

#: Denominator guard of the multiplicative update (scikit-learn's value).
MU_EPS = 1.1920928955078125e-07  # np.finfo(np.float32).eps
