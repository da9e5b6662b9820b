"""The kernel contract.

Every backend module (``reference``, ``numba``, ``cython``) exports exactly the
names in :data:`KERNELS`, with the signatures documented below.  Shared rules:

* Array arguments are C-contiguous and share one dtype, float32 or float64
  (``perm`` is an ``intp`` array).  The caller (the data forms of :mod:`fastnmf.data`) guarantees this;
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
    (m x k).  Components are visited in the order ``perm``: usually a
    permutation of 0..k-1; a shorter list updates only the components it names
    (the others, e.g. frozen components, are left unchanged).  For each
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

hals_sweep_blocks(W, HHt, XHt, l1, l2, perm, viol_out, change_out, n_threads) -> None
    ``hals_sweep`` (the same W), with its sums left per block of :data:`ROW_BLOCK` rows:
    ``viol_out[b]`` is block b's |projected gradient| sum (``hals_sweep`` returns the
    blocks' values added in order) and ``change_out[b]`` its ``||W_new - W_old||^2``,
    each coordinate's change ``w_new - w`` formed in the array dtype and squared and
    summed in float64, coordinates in ``perm`` order, rows in order.  Both arrays are
    float64 with one entry per block (ValueError otherwise).  This is what the HALS
    inner loop needs to decide when to stop without a copy of W, and, blocks being
    fixed, what lets a caller split W's rows into chunks (block-aligned) and still sum
    in one order.

hals_sweeps(W, HHt, XHt, l1, l2, perm, budget, eps, viol_out, change_out, n_threads) -> float
    Up to ``budget`` (>= 1) ``hals_sweep_blocks`` sweeps of W in one call: the HALS inner
    loop (Gillis & Glineur 2012).  After the first sweep, whose violation (``viol_out``
    added in block order) is returned, it stops after the first sweep whose change
    ``sqrt(sum_b change_out[b])`` (blocks added in order) is at most ``eps`` times the first
    sweep's; at once if the first sweep changed nothing.  ``viol_out`` and ``change_out``
    are scratch as in ``hals_sweep_blocks`` (they end with the last sweep's sums).  The same
    W and return value, bit for bit, as that loop written around ``hals_sweep_blocks``
    (:func:`run_hals_sweeps`); what it saves is a call per sweep.

hals_pass_dense(X, Ht, HHt, W, l1, l2, perm, XtW, WtW, n_threads) -> float
    ``hals_sweep(W, HHt, X @ Ht, l1, l2, perm, n_threads)`` on a dense C-ordered ``X``
    (m x n), fused with the two products of the new W that the H update needs: on return
    ``XtW`` (n x k) holds ``X^T W`` and ``WtW`` (k x k) ``W^T W``.  Returns the sweep's
    violation.  Per block of :data:`ROW_BLOCK` rows: ``X_b Ht`` (BLAS), the block's sweep,
    then ``X_b^T W_b`` and ``W_b^T W_b`` (BLAS) added to its part's partials while ``X_b``
    is in cache, so X is read once.  The rows are split into :func:`pass_parts` parts (m
    and k decide how many, not the thread count), each part's blocks in order, the parts
    in parallel; the parts' partials are added in part order and the blocks' violations
    in block order, so nothing depends on ``n_threads``.  Needs ``(parts - 1) n k + parts
    k^2`` scratch.  The BLAS calls run on the kernel's threads: the caller limits BLAS to
    one thread.  The products are rounded as BLAS rounds them (as ``X @ Ht`` and
    ``X.T @ W`` are, not bitwise the same).  ValueError on mismatched shapes.

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

csr_matmul(data, indices, indptr, B, out, n_threads) -> None
    ``out = X @ B`` for a CSR matrix ``X`` (m x n, given by its ``data``,
    ``indices``, ``indptr``; index arrays int32 or int64) and a dense ``B``
    (n x k); ``out`` is m x k.  Row i gathers the rows of B named by its
    nonzeros, in their stored order: ``out[i] = sum_p data[p] * B[indices[p]]``.
    Parallel over rows: the result does not depend on ``n_threads``.

csr_t_matmul(data, indices, indptr, A, out, n_threads) -> None
    ``out = X^T @ A`` for the same CSR ``X`` and a dense ``A`` (m x k); ``out``
    is n x k.  The rows of X are split into ``n_threads`` contiguous chunks; each
    chunk scatters ``data[p] * A[i]`` into ``out[indices[p]]`` in a private
    n x k accumulator (the first chunk directly into ``out``), and the
    accumulators are added to ``out`` in chunk order.  Deterministic for a given
    ``n_threads``; needs ``(n_threads - 1) * n * k`` scratch.

gram(F, out, n_threads) -> None
    ``out = F^T F`` (k x k) for ``F`` (m x k), in F's dtype; used on sparse X, where
    BLAS runs on one thread (OpenBLAS does not split a product with a k x k result
    between threads anyway).  The rows are split into ``gram_chunks(m)``
    (:func:`gram_chunks`, depends on m alone) contiguous chunks, chunk c being rows
    ``c m // n_chunks`` to ``(c + 1) m // n_chunks``; each entry ``(t, r)``, r >= t, of a
    chunk's partial is ``sum_i F[i, t] * F[i, r]`` over its rows in order, the
    partials are added in chunk order, and ``out[r, t] = out[t, r]``.  Parallel over
    chunks; the result does not depend on ``n_threads`` and is exactly symmetric.

extrapolate(F, F_prev, beta, n_threads) -> None
    One extrapolation step (Ang & Gillis 2019), both arrays m x k, in one pass
    and in place: for every entry, with ``f = F[i, j]``, ``p = F_prev[i, j]``
    and ``b = beta`` in the array dtype::

        y = f + b * (f - p)
        F[i, j] = 0 if y < 0 else y          (NaN stays NaN)
        F_prev[i, j] = f

    so ``F`` becomes the extrapolated point and ``F_prev`` the point it was
    extrapolated from.  Parallel over rows.

KL divergence and the beta-divergence (``D(X | W H)``, see :mod:`fastnmf.data.beta`).
Below, ``wh = A[i] @ B[j]`` is formed in float64 (products of the array
values, summed over r = 0..k-1 in order), ``EPS`` is :data:`MU_EPS`, and only
entries with ``x > 0`` enter a sum (``0 log 0 = 0``; explicitly stored zeros
are skipped).  The KL divergence is
``sum_ij x log(x / wh) - x + wh``; its last term over *all* entries is
``colsum(W) @ colsum(H^T)``, which the caller adds, so the kernels below only
need the nonzeros.

kl_nonzero_loss(X, W, H, n_threads) -> float
    ``sum_{x > 0} x log(x / max(wh, EPS)) - x`` for dense ``X`` (m x n),
    ``W`` (m x k), ``H`` (k x n); blocks of ``W H`` come from NumPy's BLAS as
    in ``squared_residual`` (there in the array dtype), sums in float64.

kl_nonzero_loss_csr(data, indices, indptr, W, Ht, n_threads) -> float
    The same sum over the stored entries of a CSR ``X``, ``Ht`` being n x k.
    Parallel over rows, per-row sums added in row order.

mu_numerator_csr(data, indices, indptr, A, B, beta, out, want_loss, n_threads) -> float
    Numerator of the multiplicative beta update at the nonzeros only, with
    no nnz-sized temporary: for each row i of the CSR ``X`` (m x n)::

        out[i] = sum_p f(x_p, wh_p) * B[j_p],   wh_p = A[i] @ B[j_p]
        f = x / max(wh, EPS)                 (beta == 1, KL)
        f = x * max(wh, EPS) ** (beta - 2)   (beta < 2)
        f = x * wh ** (beta - 2)             (beta > 2)

    accumulated in float64 in stored order.  ``A`` is m x k, ``B`` n x k, ``out``
    m x k.  For W: ``(X, W, H^T)``; for H: ``(X^T as CSR, H^T, W)``.  With
    ``want_loss`` and ``beta == 1`` it also returns the KL nonzero sum above
    for the current ``A, B`` (else 0.0).  Parallel over rows.

kl_cd_sweep(X, W, B, bsum, l1, l2, max_inner, want_loss, n_threads) -> (float, float)
kl_cd_sweep_csr(data, indices, indptr, W, B, bsum, l1, l2, max_inner, want_loss, n_threads) -> (float, float)
    One coordinate-descent sweep over W (m x k) for the KL divergence plus
    ``l1 sum(W) + 0.5 l2 ||W||^2`` with ``B`` (n x k) fixed: Newton steps on
    each coordinate in turn (Hsieh & Dhillon, KDD 2011).  ``X`` is dense
    (m x n, any strides, e.g. ``X.T`` for the H update) or CSR; ``bsum`` is
    ``B.sum(axis=0)`` in float64 (``kl_cd_sweep_csr`` also takes
    it of shape (m, k), row i using ``bsum[i]``: with missing entries, the sum of B
    over row i's observed columns, stored zeros included).  Rows are independent
    and run in parallel.
    For row i, its entries ``x_p > 0`` at columns ``j_p`` are gathered with
    ``g_tp = B[j_p, t]`` (float64) and ``wh_p = sum_t W[i, t] g_tp``; then for
    t = 0..k-1, up to ``max_inner`` Newton steps on ``w = W[i, t]``::

        grad = bsum[t] + l1 + l2 w - sum_p g_tp x_p / max(wh_p, EPS)
        hess = l2 + sum_p g_tp^2 x_p / max(wh_p, EPS)^2
        w_new = max(w - grad / hess, 0)        (w_new = 0 if hess == 0 < grad)

    ``w_new`` is rounded to the array dtype (by storing it) and
    ``d = w_new - w``; ``d == 0`` ends the coordinate.  Sums run over p in
    order, in 4 interleaved partials ``(p mod 4)`` combined as
    ``(s0 + s1) + (s2 + s3)``, then the remaining p.  A step ``d > 0`` always
    decreases the objective (its derivative is concave in w, so a Newton step
    from the left never overshoots); a step ``d < 0`` may overshoot and is
    checked, cheapest test first (``c`` is the hess sum without ``l2``)::

        1. every wh_p > EPS, rho = (w + d) / w > 0 and
           grad d + 0.5 (l2 + c / rho^2) d^2 <= 0     (as wh_p >= w g_tp)
        2. every wh_p + d g_tp > EPS and grad d + 0.5 (l2 + c') d^2 <= 0,
           c' = the hess sum at wh + d g (the largest curvature on the step)
        3. the exact change of the objective, d (bsum[t] + l1)
           + 0.5 l2 ((w + d)^2 - w^2) - sum_{g_tp > 0} x_p log1p(d g_tp / wh_p),
           is <= 0; if not, d is halved (w + d/2, rounded) up to
           KL_MAX_BACKTRACK times, and the coordinate is left unchanged if
           no step passes.

    An accepted step sets ``wh_p += d g_tp``; the coordinate ends after
    ``max_inner`` steps or when ``|d| <= KL_INNER_TOL * (w + d)``.  The
    objective therefore never increases.  Returns ``(violation, loss)``:
    violation is the sum of ``|projected grad|`` at each coordinate's first
    step;
    loss (when ``want_loss``, else 0.0) is ``sum_p x_p log(x_p / max(wh_p, EPS))
    - x_p`` at the end of the sweep.  Per-row values are added in row order,
    so results do not depend on ``n_threads``.  Scratch per thread:
    ``(k + 4) * max_row_entries`` doubles.

Missing entries (only the stored entries of a CSR pattern are observed).

masked_hals_sweep(data, indices, indptr, W, B, l1, l2, perm, n_threads) -> (float, float)
    One coordinate-descent sweep over W (m x k) for
    ``0.5 sum_{(i, j) observed} (X[i, j] - W[i] @ B[j])^2 + l1 sum(W) + 0.5 l2 ||W||^2``
    with ``B`` (n x k) fixed, where the observed entries are the stored entries of the
    CSR matrix ``(data, indices, indptr)`` (m x n; a stored zero is an observed zero).
    For the H sweep pass the CSR matrix of ``X^T``, ``H^T`` and ``W``.  Row i gathers
    ``g_tp = B[j_p, t]`` (float64) for its entries p (stored order) and their residuals
    ``r_p = x_p - sum_t W[i, t] g_tp`` (summed over t in order), then for t in ``perm``
    (the residual-based coordinate descent of CCD++, Yu, Hsieh, Si & Dhillon 2012, in
    HALS's order: every component of W, then of H)::

        grad = l1 + l2 w - sum_p r_p g_tp        (w = W[i, t])
        inv = 1 / (l2 + sum_p g_tp^2)
        W[i, t] = max(w - grad * inv, 0)         (skipped when inv is infinite:
                                                  the curvature is 0, or subnormal)
        d = W[i, t] - w  (after rounding to the array dtype);  r_p -= d g_tp

    ``sum_p g_tp^2`` is summed in p order; ``sum_p r_p g_tp`` in 8 interleaved
    partials ``(p mod 8``, every p) combined as
    ``((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))``.
    Returns ``(violation, sq)``: the sum of ``|projected gradient|`` before each
    update (as ``hals_sweep``) and ``sum_p r_p^2`` at the end of the sweep (the
    squared residual of the observed entries for the new W; over p in the same 8
    partials), per row and then over the rows in order, so results do not depend on
    ``n_threads``.  Rows are independent and run in parallel (the cython kernel takes
    four rows in lockstep, as the lanes of its vector steps).  Scratch per thread:
    about ``4 (k + 1) max_row_entries`` doubles.

complement_hals_sweep(W, HHt, XHt, indices, indptr, B, l1, l2, perm, n_threads) -> (float, float)
    One coordinate-descent sweep over W (m x k) for
    ``0.5 sum_{(i, j) not in T} (X[i, j] - W[i] @ B[j])^2 + l1 sum(W) + 0.5 l2 ||W||^2``
    when the unknown entries T are few: the CSR pattern ``(indices, indptr)`` (m x n).
    ``HHt = B^T B`` is over every column and ``XHt = X0 B`` with ``X0`` = X with zeros
    at T, so the products are those of an ordinary fit and only T costs extra.  Row i
    gathers its T entries p as in ``masked_hals_sweep`` with ``x_p = 0``:
    ``g_tp = B[j_p, t]``, ``r_p = -sum_t W[i, t] g_tp`` (the model there, negated), and
    for t in ``perm``::

        grad = -(XHt[i, t] - l1) + sum_r (HHt[t, r] + l2 [r == t]) W[i, r]   (r in order)
               + sum_p r_p g_tp
        hess = (HHt[t, t] - sum_p g_tp^2) + l2
        W[i, t] = max(W[i, t] - grad / hess, 0)
                  (skipped unless hess > COMPLEMENT_HESS_RTOL (HHt[t, t] + l2))
        d = W[i, t] - w (rounded to the array dtype);  r_p -= d g_tp

    (the first line of grad is ``hals_sweep``'s gradient; with no T entries this is
    ``hals_sweep``).  The sums over p are those of ``masked_hals_sweep``.  Returns
    ``(violation, sq)``: the summed ``|projected gradient|`` and ``sum_p r_p^2`` at the
    end, ``sum_T (W H)^2`` of the new W, which the caller subtracts from the Gram
    identity's ``||X0 - W H||^2`` to get the loss over the known entries.  Rows in
    parallel; results do not depend on ``n_threads``.

column_stats_sweep(data, indices, indptr, Q, D, A, B, cols, Ht, l1, l2, perm, n_threads) -> None
    Online coordinate descent on known entries (:class:`fastnmf.MiniBatchNMF`): per column
    j of H in ``cols`` (intp), its statistics take in a batch, then its row of ``Ht``
    (n x k, float32 or float64) takes one cd sweep on them.  ``(data, indices, indptr)``
    is the batch's transpose, CSR (n x b, float64 values: row j lists the batch rows i
    whose entry in column j is known); ``Q`` (b x k^2) and ``D`` (b x k) are float64 rows
    of the batch (the outer products ``w_i w_i^T`` flattened, and ``w_i``, both already
    weighted by the caller); ``A`` (n x k^2), ``B`` (n x k), ``l1``, ``l2`` (n) are float64.
    For j in ``cols``, entries p of row j in order::

        A[j] += Q[indices[p]];   B[j] += data[p] D[indices[p]]

    then for t in ``perm`` (with ``h = Ht[j]`` as stored)::

        grad = (sum_r A[j, t k + r] h[r]) - B[j, t] + l1[j] + l2[j] h[t]   (r in order)
        hess = A[j, t k + t] + l2[j]
        Ht[j, t] = max(h[t] - grad / hess, 0)     (skipped unless hess > 0)

    Columns are independent and run in parallel; results do not depend on ``n_threads``.
    Columns not in ``cols`` are not touched.

Non-negative least squares.

nnls_bpp(G, C, X, max_iter, n_threads) -> int
    Exact non-negative least squares for many right-hand sides sharing one
    Gram matrix, by block principal pivoting (Kim & Park, SIAM J. Sci. Comput.
    2011, "Fast nonnegative matrix factorization: an active-set-like method and
    comparisons").  For each row i of ``C`` (m x k) it solves
    ``min_{x >= 0} 0.5 x^T G x - C[i] @ x`` (``G``: k x k symmetric positive
    semidefinite; the caller has already added any L2 term to its diagonal and
    subtracted any L1 term from ``C``) and writes the solution into ``X[i]``.
    On entry ``X`` is the warm start: the initial passive set of row i is
    ``F = {t : X[i, t] > 0}`` (``X`` all zeros = cold start).  Rows are
    independent and run in parallel; the result does not depend on
    ``n_threads``.  All arithmetic is in float64 (``G`` and ``C[i]`` are read as
    float64), only the result is stored in ``X``'s dtype.  One iteration::

        x_F = solve(G_FF, c_F), x_t = 0 for t not in F
        y_t = sum_{j in F} G_tj x_j - c_t                 (t not in F)
        V = {t in F : x_t < 0}
          | {t not in F : y_t < -NNLS_TOL * (|c_t| + sum_{j in F} |G_tj x_j|)}

    ``V`` empty: converged.  Otherwise Kim & Park's exchange rule with backup
    (``ninf = k + 1, alpha = 3`` at the start of each row): if ``|V| < ninf``
    then ``ninf = |V|, alpha = 3`` and every t in V changes side; elif
    ``alpha >= 1`` then ``alpha -= 1`` and every t in V changes side; else only
    the largest t in V changes side.  The primal test is exact (``x_t < 0``):
    a coordinate rounded to a tiny negative value leaves F and then stays out,
    as its dual ``y_t`` is then within the tolerance; the dual test is relative
    to the sum of the magnitudes of the terms of ``y_t`` (a bound on its
    rounding error), so that rounding cannot make the method cycle, and is exact
    at a cold start (``t`` enters F iff ``c_t > 0``).

    ``solve`` is a Cholesky factorization of ``G_FF`` (F in ascending order,
    right-looking: column j is scaled by the square root of its pivot, then
    ``S[a, b] -= L[a, j] L[b, j]`` for j < b <= a) followed by forward and back
    substitution, every sum in index order.  Singular ``G_FF``: a pivot ``d``
    of column j that is not ``> NNLS_PIVOT_TOL * G_jj`` (and ``> 0``) means
    that component is, to that relative precision, a combination of the earlier
    ones in F (a zero component, a duplicated one): it is pinned, ``x_j = 0``
    and left out of the factorization, which is then that of ``G`` on the
    remaining indices.  This gives a minimizer over F as long as ``c`` lies in
    the range of ``G`` (always when ``G = A^T A, c = A^T b``); a pinned
    coordinate stays in F and is never flagged.  Consecutive rows handled by
    one thread whose F is the one last factored reuse the factorization (the
    same numbers: the results do not depend on it).

    Returns the number of rows that did not converge within ``max_iter``
    exchanges (``max_iter = 0`` only checks the warm start).  For those, ``X[i]``
    is the last iterate with its negative entries set to 0, unless the warm
    start (negatives set to 0) has a lower or equal objective
    ``0.5 x^T G x - c^T x``; then it is the warm start: a row's objective never
    increases.  Every stored entry is ``x if x > 0 else 0`` (no ``-0.0``).
    Scratch per thread: ``k^2 + 3k`` doubles and ``5k + 1`` integers.
"""

import math

KERNELS = (
    "hals_sweep", "mu_update", "squared_residual", "csr_matmul", "csr_t_matmul",
    "kl_nonzero_loss", "kl_nonzero_loss_csr", "mu_numerator_csr", "kl_cd_sweep", "kl_cd_sweep_csr",
    "nnls_bpp", "extrapolate", "gram", "hals_sweep_blocks", "masked_hals_sweep",
    "complement_hals_sweep", "hals_sweeps", "hals_pass_dense", "column_stats_sweep",
)

#: ``complement_hals_sweep`` skips a coordinate whose curvature over the known entries,
#: ``HHt[t, t] - sum_T g^2 + l2``, is not above this fraction of ``HHt[t, t] + l2`` (all
#: of its column's weight sits on unknown entries, and the difference is rounding).
COMPLEMENT_HESS_RTOL = 1e-12

#: Halvings at most of a rejected decreasing step in ``kl_cd_sweep``.
KL_MAX_BACKTRACK = 30
#: Relative step size below which the Newton steps of a coordinate stop.
KL_INNER_TOL = 1e-6

#: Relative tolerance of the dual feasibility test of ``nnls_bpp``.
NNLS_TOL = 1e-10
#: Relative pivot below which ``nnls_bpp`` pins a component of a singular G_FF to 0.
NNLS_PIVOT_TOL = 1e-10

#: Rows per block for scalar reductions (fixed, so results do not depend on threads).
ROW_BLOCK = 64

#: ``gram`` splits the rows into chunks of at least this many rows, at most
#: GRAM_MAX_CHUNKS of them (see :func:`gram_chunks`).
GRAM_MIN_ROWS = 2048
GRAM_MAX_CHUNKS = 64


def gram_chunks(m):
    """The number of row chunks of the ``gram`` kernel for m rows (m alone decides it)."""
    return max(1, min(GRAM_MAX_CHUNKS, -(-int(m) // GRAM_MIN_ROWS)))


#: Denominator guard of the multiplicative update (scikit-learn's value).
MU_EPS = 1.1920928955078125e-07  # np.finfo(np.float32).eps


#: ``hals_pass_dense`` splits X's rows into at most this many parts (see :func:`pass_parts`).
PASS_MAX_PARTS = 16


def pass_parts(m, k):
    """The number of parts of ``hals_pass_dense`` for m rows at rank k (m and k alone decide
    it, not the thread count): at most :data:`PASS_MAX_PARTS`, at most one per block of
    :data:`ROW_BLOCK` rows, and at most ``m / (2 k)``, so that the parts' partial products
    (``(parts - 1) n k`` entries) take at most half of X's size."""
    if m <= 0:
        return 1
    return int(max(1, min(PASS_MAX_PARTS, n_row_blocks(m), m // (2 * max(k, 1)))))


def n_row_blocks(m):
    """The number of blocks of :data:`ROW_BLOCK` rows in m rows (the last may be short)."""
    return (m + ROW_BLOCK - 1) // ROW_BLOCK


def sum_in_order(block_partials):
    """Sum per-block partials sequentially, in block order (thread-count independent)."""
    return float(sum(block_partials.tolist()))


def check_sweeps_args(m, budget, viol_out, change_out):
    """The argument checks of ``hals_sweeps`` (ValueError)."""
    n_blocks = n_row_blocks(m)
    if len(viol_out) != n_blocks or len(change_out) != n_blocks:
        raise ValueError(f"hals_sweeps: viol_out and change_out need {n_blocks} entries")
    if budget < 1:
        raise ValueError(f"hals_sweeps: budget must be >= 1; got {budget}")


def run_hals_sweeps(sweep, budget, eps, viol_out, change_out):
    """The loop of ``hals_sweeps`` around ``sweep()``, one ``hals_sweep_blocks`` sweep that
    fills ``viol_out`` and ``change_out``; returns the first sweep's violation."""
    sweep()
    violation = sum_in_order(viol_out)
    first = math.sqrt(sum_in_order(change_out))
    if first == 0:
        return violation
    for _ in range(budget - 1):
        sweep()
        if math.sqrt(sum_in_order(change_out)) <= eps * first:
            break
    return violation


def row_chunks(indptr, n_chunks):
    """Row boundaries (length ``n_chunks + 1``) splitting a CSR matrix into
    ``n_chunks`` contiguous row ranges of about equal numbers of nonzeros.

    Shared by every backend so that ``csr_t_matmul`` sums in the same order.
    """
    import numpy as np

    m = len(indptr) - 1
    nnz = int(indptr[-1])
    n_chunks = max(1, min(int(n_chunks), max(m, 1)))
    targets = (np.arange(1, n_chunks, dtype=np.float64) * nnz) / n_chunks
    inner = np.searchsorted(np.asarray(indptr, dtype=np.int64), targets, side="left")
    return np.concatenate(([0], np.minimum(inner, m), [m])).astype(np.intp)
