"""The solvers of fits with unknown entries, as update rules on the forms of
:mod:`fastnmf.data.missing` (their loops touch the known entries only).

On :class:`~fastnmf.data.missing.Observed` (the known entries, CSR both ways):

* :class:`MaskedCD`: coordinate descent on the residuals of the observed entries, each row
  forming its residuals and updating them as each coordinate moves (kernel
  ``masked_hals_sweep``; the residual-based CCD++ of Yu, Hsieh, Si & Dhillon 2012, in
  HALS's order: all of W, then all of H), O(nnz k) per sweep.
* :class:`MaskedKLCD`: the KL Newton coordinate descent (kernel ``kl_cd_sweep_csr``) with
  per-row sums of the other factor over each row's observed columns.
* :class:`MaskedMU`: multiplicative updates, Frobenius and KL, numerators and denominators
  over the observed entries (kernels ``mu_numerator_csr``, ``csr_matmul``).

On :class:`~fastnmf.data.missing.Complement` (X with zeros at a few unknown entries):
:class:`ComplementCD`, an ordinary cd iteration's products plus corrections over the
unknown entries (kernel ``complement_hals_sweep``).  On
:class:`~fastnmf.data.missing.SparseComplement` (select_rank's hold-outs of a sparse X
whose zeros are data): :class:`MaskedMU` too.

The loss is over the observed entries: ``0.5 sum_obs (x - wh)^2`` or
``sum_obs x log(x / wh) - x + wh``, plus the regularization terms, which count each row's
and column's observed entries (:class:`fastnmf.solvers.penalty.CountPenalty`).  The cd
solvers stop by scikit-learn's cd rule, the multiplicative updates by its mu rule.
"""

import numpy as np

from .._validation import dot64
from ..data.beta import EPS, TINY
from ..parallel.threads import masked_threads, sweep_threads_with_blas
from .driver import Step, UpdateRule
from .frobenius import Keeper, data_loss, free_components
from .penalty import sweep_rows, weighted_penalty


def _perm(rng, shuffle, base):
    return rng.permutation(base).astype(np.intp) if shuffle else base


class MaskedCD(UpdateRule):
    """Coordinate descent on the observed entries (Frobenius), scikit-learn's cd order and
    stopping rule (summed projected gradient <= ``tol`` times the first one's).
    ``penalty``: a :class:`~fastnmf.solvers.penalty.CountPenalty` (each group of rows its
    own l1, l2)."""

    stop = "violation"

    def __init__(self, data, W, Ht, *, penalty, update_H=True, shuffle=False, rng=None,
                 frozen=None, **_):
        self.data, self.penalty, self.update_H = data, penalty, update_H
        self.shuffle, self.rng = shuffle, rng
        k = W.shape[1]
        self.order = np.arange(k, dtype=np.intp)
        self.free = free_components(k, frozen)

    def _sweeper(self, B, pattern, perm):
        kernels, n_threads = self.data.kernels, self.data.n_threads

        def call(data, indices, indptr, F, rows, l1, l2):
            if data is None:
                data, indices, indptr = pattern.data, pattern.indices, pattern.indptr
            nt = masked_threads(len(data), n_threads)
            return kernels.masked_hals_sweep(data, indices, indptr, F, B, l1, l2, perm, nt)
        return call

    def step(self, W, Ht, it):
        pen, data = self.penalty, self.data
        perm = _perm(self.rng, self.shuffle, self.order)
        violation, sq = sweep_rows(pen.rows, pen.a1_W, pen.a2_W, W,
                                   self._sweeper(Ht, data.X, perm))
        if self.update_H:
            perm = _perm(self.rng, self.shuffle, self.free)
            v, sq = sweep_rows(pen.cols, pen.a1_H, pen.a2_H, Ht,
                               self._sweeper(W, data.XT, perm))
            violation += v
        loss = 0.5 * sq
        return Step(loss + pen.value(W, Ht), loss, violation, f"  violation {violation:.4e}")


class ComplementCD(UpdateRule):
    """Coordinate descent (Frobenius) on every entry but the few in ``T``: an ordinary
    iteration's products and Gram matrices (of X with zeros at T) and the
    ``complement_hals_sweep`` kernel, which corrects each coordinate's gradient and
    curvature over T.  The loss is the Gram identity's minus ``0.5 sum_T (W H)^2``.
    scikit-learn's cd order and stopping rule; ``penalty`` a
    :class:`~fastnmf.solvers.penalty.CountPenalty`."""

    stop = "violation"

    def __init__(self, comp, W, Ht, *, penalty, update_H=True, shuffle=False, rng=None,
                 frozen=None, **_):
        self.comp, self.whole = comp, comp.whole
        self.penalty, self.update_H = penalty, update_H
        self.shuffle, self.rng = shuffle, rng
        k = W.shape[1]
        self.order = np.arange(k, dtype=np.intp)
        self.free = free_components(k, frozen)
        self.nt = sweep_threads_with_blas(self.whole)
        self.HtH = self.XHt = None

    def _sweeper(self, G, C, pattern, B, perm, nt):
        kernels = self.comp.kernels

        def call(data, indices, indptr, F, rows, l1, l2):
            if data is None:
                indices, indptr, Cg, t = pattern.indices, pattern.indptr, C, nt
            else:  # a group of rows: their products' rows
                Cg = np.ascontiguousarray(C[rows])
                t = masked_threads(len(F) * len(B), nt)
            return kernels.complement_hals_sweep(F, G, Cg, indices, indptr, B, l1, l2, perm, t)
        return call

    def step(self, W, Ht, it):
        whole, comp, pen = self.whole, self.comp, self.penalty
        if self.HtH is None:
            self.HtH = whole.gram(Ht)
            self.XHt = whole.x_times(Ht)
        elif self.update_H:
            self.XHt = whole.x_times(Ht, out=self.XHt)
        perm = _perm(self.rng, self.shuffle, self.order)
        violation, sq = sweep_rows(pen.rows, pen.a1_W, pen.a2_W, W,
                                   self._sweeper(self.HtH, self.XHt, comp.T, Ht, perm, self.nt))
        WtW = whole.gram(W)
        if self.update_H:
            XtW = whole.xt_times(W)
            perm = _perm(self.rng, self.shuffle, self.free)
            v, sq = sweep_rows(pen.cols, pen.a1_H, pen.a2_H, Ht,
                               self._sweeper(WtW, XtW, comp.TT, W, perm, self.nt))
            violation += v
            self.HtH = whole.gram(Ht)
            full = data_loss(whole.norm2(), dot64(XtW, Ht), WtW, self.HtH)
        else:
            full = data_loss(whole.norm2(), dot64(self.XHt, W), WtW, self.HtH)
        loss = max(full - 0.5 * sq, 0.0)
        return Step(loss + pen.value(W, Ht), loss, violation, f"  violation {violation:.4e}")


class MaskedKLCD(UpdateRule):
    """KL Newton coordinate descent on the observed entries: ``kl_cd_sweep_csr`` with each
    row's sum of the other factor over its observed columns; scikit-learn's cd stopping
    rule."""

    stop = "violation"

    def __init__(self, obs, W, Ht, *, penalty, update_H=True, max_inner=3, frozen=None, **_):
        if frozen is not None and len(frozen):
            raise ValueError("frozen components are not supported by the KL coordinate "
                             "descent; use solver='mu'")
        self.obs, self.penalty, self.update_H, self.max_inner = obs, penalty, update_H, max_inner

    def _sweeper(self, pattern, B, bsum, want_loss):
        kernels, n_threads, max_inner = self.obs.kernels, self.obs.n_threads, self.max_inner

        def call(data, indices, indptr, F, rows, l1, l2):
            if data is None:
                data, indices, indptr, bs = pattern.data, pattern.indices, pattern.indptr, bsum
            else:
                bs = np.ascontiguousarray(bsum[rows])
            nt = masked_threads(len(data), n_threads)
            return kernels.kl_cd_sweep_csr(data, indices, indptr, F, B, bs, l1, l2, max_inner,
                                           want_loss, nt)
        return call

    def step(self, W, Ht, it):
        obs, pen = self.obs, self.penalty
        bsum = obs.row_sums(0, Ht)
        violation, nz = sweep_rows(pen.rows, pen.a1_W, pen.a2_W, W,
                                   self._sweeper(obs.X, Ht, bsum, not self.update_H))
        if self.update_H:
            bsum = obs.row_sums(1, W)
            v, nz = sweep_rows(pen.cols, pen.a1_H, pen.a2_H, Ht,
                               self._sweeper(obs.XT, W, bsum, True))
            violation += v
            loss = nz + dot64(Ht.astype(np.float64, copy=False), bsum)
        else:
            loss = nz + dot64(W.astype(np.float64, copy=False), bsum)
        return Step(loss + pen.value(W, Ht), loss, violation, f"  violation {violation:.4e}")


def apply_rows(F, num, den, l1, l2):
    """The multiplicative update ``F *= num / (den + l1 + l2 F)`` with per-row ``l1``,
    ``l2`` (column vectors or 0.0; ``den == 0 -> EPS``)."""
    if np.any(l1):
        den = den + l1
    if np.any(l2):
        den = den + l2 * F
    den[den == 0] = EPS
    num /= den
    F *= num


def masked_mu_block(obs, W, kernels, n_threads, Ht, beta, a1_W, a2_W, want_loss,
                    weights=None):
    """The W half of :class:`MaskedMU`'s iteration on a block of rows (W held in blocks on a
    cluster: :meth:`fastnmf.distributed.observed.DaskObserved.mu_pass`): the block's W
    numerator and denominator over its known entries (``obs``, an in-memory
    :class:`~fastnmf.data.missing.Observed`), W's update (row penalties ``a1_W``, ``a2_W``
    times the rows' ``weights``), then the block's parts of H's numerator and denominator.
    Returns ``(num_H, den_H, loss, penalty)``: with ``want_loss``, the block's loss at the
    (W, H) it started from and the penalty of its rows of that W (else 0); they add up over
    the blocks."""
    obs = obs.bind(kernels, n_threads)
    if weights is None:
        l1 = l2 = 0.0
        pen = 0.0
    else:
        w = weights.astype(W.dtype)[:, None]
        l1, l2 = a1_W * w, a2_W * w
        pen = weighted_penalty(W, weights, a1_W, a2_W) if want_loss else 0.0
    num, den, loss = obs.mu_terms(0, W, Ht, beta)
    apply_rows(W, num, den, l1, l2)
    num, den, _ = obs.mu_terms(1, Ht, W, beta)
    return num, den, float(loss) if want_loss else 0.0, pen


class MaskedMU(UpdateRule):
    """Multiplicative updates over the known entries of an
    :class:`~fastnmf.data.missing.Observed` or a
    :class:`~fastnmf.data.missing.SparseComplement` (Frobenius or KL, their ``mu_terms``),
    scikit-learn's update and stopping rule (every 10 iterations, the error's improvement
    relative to the initial error below ``tol``).

    On a Dask X (:class:`~fastnmf.distributed.observed.DaskObserved`, W in blocks) W's half
    runs on the workers (:func:`masked_mu_block`), H's here; the pass that starts iteration
    i gives the loss of iteration i - 1, filled in then unless someone watches each loss or
    the stopping rule reads it (then one more pass computes it)."""

    stop = "error"

    def __init__(self, form, W, Ht, *, beta, penalty, update_H=True, frozen=None, **_):
        self.form, self.beta, self.penalty, self.update_H = form, beta, penalty, update_H
        self.keep = Keeper(Ht, frozen)
        self.on_cluster = hasattr(form, "mu_pass")
        if not self.on_cluster:  # (on a cluster each block weighs its own rows)
            self.l1_W, self.l2_W = penalty.per_row(0, W.dtype)
        self.l1_H, self.l2_H = penalty.per_row(1, Ht.dtype)
        self.terms = self.monitor = None

    def start(self, W, Ht, what, monitor):
        self.monitor = monitor
        if self.on_cluster:
            return self.form.loss(W, Ht, self.beta, self.penalty)[0]
        self.terms = self.form.mu_terms(0, W, Ht, self.beta)
        return self.terms[2]

    def _update_H(self, Ht, num, den):
        apply_rows(Ht, num, den, self.l1_H, self.l2_H)
        if self.beta == 1:
            Ht[Ht < TINY] = 0.0
        self.keep.restore(Ht)

    def step(self, W, Ht, it):
        if self.on_cluster:
            return self._cluster_step(W, Ht, it)
        form, beta = self.form, self.beta
        num, den, _ = self.terms
        apply_rows(W, num, den, self.l1_W, self.l2_W)
        if self.update_H:
            num, den, _ = form.mu_terms(1, Ht, W, beta)
            self._update_H(Ht, num, den)
        # the next W update's terms, which give this iteration's loss
        self.terms = form.mu_terms(0, W, Ht, beta)
        loss = self.terms[2]
        return Step(loss + self.penalty.value(W, Ht), loss)

    def _cluster_step(self, W, Ht, it):
        form, beta, pen, monitor = self.form, self.beta, self.penalty, self.monitor
        pending = bool(monitor.losses) and monitor.losses[-1] is None
        num, den, loss, pen_W = form.mu_pass(W, Ht, beta, pen, pending)
        if pending:  # the previous iteration's loss, at the (W, H) this pass started from
            monitor.fill_last(loss + pen_W + pen.part(1, Ht))
        self._update_H(Ht, num, den)
        if it.checked or it.watched or it.last:
            loss, pen_W = form.loss(W, Ht, beta, pen)
            return Step(loss + pen_W + pen.part(1, Ht), loss)
        return Step()  # its loss comes with the next pass

    def finish(self, W, Ht, monitor, last_step):
        if last_step is not None and last_step.loss is not None:
            return last_step.loss
        if not self.on_cluster:
            return None
        loss, pen_W = self.form.loss(W, Ht, self.beta, self.penalty)
        monitor.fill_last(loss + pen_W + self.penalty.part(1, Ht))
        return loss
