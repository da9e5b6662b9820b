"""The beta-divergence solvers on complete X (beta != 2) as update rules.

* :class:`MultiplicativeUpdates` (``solver='mu'``): scikit-learn's algorithm step for step
  (its maximization-minimization exponent ``gamma``, its ``EPS`` guards, its zeroing of tiny
  entries, its stopping rule), the terms formed by the data's
  :class:`~fastnmf.data.beta.BetaTerms` (on sparse X at the nonzeros only).
* :class:`OverRelaxedUpdates` (``solver='emu'``): the same steps over-relaxed, with momentum
  and a monotone safeguard.
* :class:`KLCoordinateDescent` (``solver='cd'`` with the KL loss): each coordinate minimised
  by safeguarded Newton steps (Hsieh & Dhillon, KDD 2011), the data's ``kl_sweep``.
"""

import contextlib

import numpy as np

from ..data.beta import EPS, TINY, relative_floor
from ..parallel.threads import beta_blas_threads, blas_threads
from .driver import Step, UpdateRule
from .frobenius import Keeper

#: Over-relaxation exponent of 'emu' (a multiple of scikit-learn's ``gamma``).  Measured from
#: scikit-learn's nndsvda start (benchmarks/emu_omega.py, benchmarks/results/emu.md): the KL
#: divergence scikit-learn's mu ends at was reached 1.2-2.4 times sooner in iterations at 1.8
#: than by mu on eight dense corpus matrices (spectrogram, images, spectra), the loss never
#: rising; 1.5 and 2.0 were slower on most.
#: Below 2, the range in which an over-relaxed EM step still converges locally (Salakhutdinov
#: & Roweis 2003); the safeguard keeps the objective monotone whatever happens.
EMU_OMEGA = 1.8

#: Momentum of 'emu': after each accepted iteration, each entry of W and H is multiplied by
#: its ratio over the last accepted iteration (clipped to [1/10, 10]) raised to this power,
#: a heavy-ball step in log space on top of the over-relaxed one.  Measured
#: (benchmarks/emu_omega.py, benchmarks/results/emu.md): from scikit-learn's start, 0.5
#: reached scikit-learn mu's final divergence in 1.4-2.0 times fewer iterations than no
#: momentum on eight dense KL matrices and five at beta=1.5; with the default stopping rule
#: the spectrogram KL fit stopped after 140 iterations instead of running to 200, at a lower
#: divergence (43.06 against 43.12).  In a sweep over 0.3-0.9 from nndsvda starts (KL,
#: beta=0.5 and 1.5; spectrogram, digits, faces, coffee spectra; ``--momenta``) 0.7 and 0.9
#: were faster on some but stopped by the rule above scikit-learn's final divergence on
#: digits at beta=0.5 (+1.2%, +2.0%), where 0.5 ended within 0.01% of it.
EMU_MOMENTUM = 0.5
#: its growth after an accepted iteration (up to its cap), its division after a dropped one,
#: and the value below which it is off
MOMENTUM_GROWTH, MOMENTUM_CUT, MOMENTUM_OFF = 1.05, 1.5, 0.05

#: Newton steps at most per coordinate in the KL coordinate descent.
KL_MAX_INNER = 3


def gamma_for(beta):
    """Exponent of the maximization-minimization update (Fevotte & Idier 2011)."""
    if beta < 1:
        return 1.0 / (2.0 - beta)
    if beta > 2:
        return 1.0 / (beta - 1.0)
    return 1.0


def _apply(F, num, den, l1, l2, gamma):
    """``F *= (num / (den + l1 + l2 F)) ** gamma`` with ``den == 0 -> EPS``."""
    if l1 > 0:
        den = den + F.dtype.type(l1)
    if l2 > 0:
        den = den + F.dtype.type(l2) * F
    den[den == 0] = EPS
    num /= den
    if gamma != 1:
        num **= gamma
    F *= num


def mu_W(W, Ht, beta, num, den, l1, l2, exponent, tiny=TINY):
    """The multiplicative update of W (in place) from its numerator and denominator
    (without regularization; ignored for KL, whose denominator is ``sum(H)``), the ratio
    raised to ``exponent``, with scikit-learn's zeroing of entries below ``tiny`` (a
    number, or one per column: 'emu''s thresholds follow its rescaling)."""
    if beta == 1:  # (Ht None: H held in blocks, ``den`` its row sums, summed there)
        den = (Ht.sum(axis=0) if Ht is not None else den)[np.newaxis, :]
    _apply(W, num, den, l1, l2, exponent)
    if beta < 1:
        W[W < tiny] = 0.0


def mu_H(Ht, beta, num, den, l1, l2, exponent, keep, tiny=TINY):
    """The multiplicative update of H (in place); for KL ``den`` is W's column sums."""
    if beta == 1:
        w_sum = np.array(den, copy=True)
        w_sum[w_sum == 0] = 1.0
        den = w_sum[np.newaxis, :]
    _apply(Ht, num, den, l1, l2, exponent)
    if beta <= 1:
        Ht[Ht < tiny] = 0.0
    keep.restore(Ht)


def mu_step(terms, W, Ht, beta, num, den, penalty, exponent, update_H, keep, tiny=(TINY, TINY)):
    """One multiplicative update of W (from its numerator and denominator, already formed)
    and then of H, in place, the ratio raised to ``exponent`` (scikit-learn's ``gamma``
    for mu), with scikit-learn's KL denominators and its zeroing of tiny entries (below
    ``tiny``: W's and H's thresholds)."""
    mu_W(W, Ht, beta, num, den, penalty.l1_W, penalty.l2_W, exponent, tiny[0])
    if update_H:
        num, den = terms.mu_terms_H(W, Ht, beta)
        if beta == 1:
            den = W.sum(axis=0)
        mu_H(Ht, beta, num, den, penalty.l1_H, penalty.l2_H, exponent, keep, tiny[1])


def _block_terms(X, kernels, n_threads, floor, sums):
    from ..data import as_data

    data = as_data(X, kernels, n_threads)
    if sums:
        data.cache["positive sums"] = dict(sums)
    return data.beta_terms(floor)


def mu_block(X, W, kernels, n_threads, Ht, beta, l1, l2, exponent, floor, want_loss,
             sums=None):
    """The W half of an iteration of the multiplicative updates on a block of rows of X
    and W (W held in blocks on a cluster: :meth:`fastnmf.distributed.data.DaskData.block_pass`),
    the same steps as :func:`mu_step` on the block: W's numerator and denominator (and, with
    ``want_loss``, the block's part of ``D_beta`` at the (W, H) it starts from), W's update,
    then the block's parts of H's numerator and denominator (KL: W's column sums).
    ``sums``: the block's positive sums (``sum x log x``...), computed once.  Returns
    ``(num_H, den_H, divergence, sum(W), ||W||^2)`` (the last two of the block before its
    update, for the penalty at the point the divergence is of), which add up over the
    blocks."""
    from .._validation import squared_norm

    before = (float(W.sum(dtype=np.float64)), squared_norm(W)) if want_loss else (0.0, 0.0)
    terms = _block_terms(X, kernels, n_threads, floor, sums)
    num, den, div = terms.mu_terms_W(W, Ht, beta, want_loss=want_loss)
    mu_W(W, Ht, beta, num, den, l1, l2, exponent)
    num, den = terms.mu_terms_H(W, Ht, beta)
    if beta == 1:
        den = W.sum(axis=0)
    return (num, den, 0.0 if div is None else float(div)) + before


def w_terms_block(Xt, Ht, W, beta, floor, backend):
    """A block of X's columns (the form of X^T: ``Xt`` = X_j^T, ``Ht`` = H_j^T): its parts of
    W's numerator and denominator (KL: H_j's row sums) at ``(W, H_j)``."""
    from ..distributed.data import _kernels

    num, den = _block_terms(Xt, _kernels(backend), 1, floor, None).mu_terms_H(Ht, W, beta)
    return num, (Ht.sum(axis=0) if beta == 1 else den)


def mu_block_H(Xt, Ht, kernels, n_threads, W, beta, l1, l2, exponent, floor, sums=None):
    """H's half of an iteration of the multiplicative updates on a block of X's columns, H
    held in blocks on a cluster (the form of X^T: ``Xt`` = X_j^T, ``Ht`` = H_j^T, updated in
    place), W updated by the client: H_j's numerator and denominator at ``(W, H_j)``, its
    update (:func:`mu_H`), then the block's parts of W's next numerator and denominator (KL:
    H_j's row sums) and of ``D_beta`` at the new ``(W, H_j)``, and the sums of H_j the penalty
    reads.  Returns ``(num_W, den_W, divergence, sum(H_j), ||H_j||^2)``, which add up."""
    from .._validation import squared_norm

    terms = _block_terms(Xt, kernels, n_threads, floor, sums)
    # in X^T's frame H_j^T is the row factor: its numerator is that frame's W numerator
    num, den, _ = terms.mu_terms_W(Ht, W, beta)
    mu_H(Ht, beta, num, W.sum(axis=0) if beta == 1 else den, l1, l2, exponent, Keeper(Ht, None))
    num, den = terms.mu_terms_H(Ht, W, beta)
    div = terms.divergence(Ht, W, beta)
    return (num, Ht.sum(axis=0) if beta == 1 else den, float(div),
            float(Ht.sum(dtype=np.float64)), squared_norm(Ht))


class _Multiplicative(UpdateRule):
    """What mu and emu share: the terms, the BLAS threads, the stopping rule (scikit-learn's
    mu rule: every 10 iterations, ``sqrt(2 D)`` improved by less than ``tol`` times its
    initial value)."""

    stop = "error"

    def __init__(self, data, W, Ht, *, beta, penalty, update_H=True, frozen=None,
                 floor=None):
        self.data = data
        self.terms = data.beta_terms(floor)
        self.beta = beta
        self.gamma = gamma_for(beta)
        self.penalty = penalty
        self.update_H = update_H
        self.keep = Keeper(Ht, frozen)
        self.monitor = None
        self.pending = None  # X held by columns: W's terms from the last pass

    def context(self):
        """BLAS's threads for the run (:func:`fastnmf.parallel.threads.beta_blas_threads`)."""
        n = beta_blas_threads(self.data)
        return blas_threads(n) if n is not None else contextlib.nullcontext()


class MultiplicativeUpdates(_Multiplicative):
    """Multiplicative updates for the beta-divergence (beta != 2): scikit-learn's algorithm.

    Numerators and denominators of Fevotte & Idier (2011) with exponent ``gamma``; KL uses
    ``sum(H)``/``sum(W)`` as denominators.  On KL, and on dense X for every beta, the W
    numerator pass also gives the loss of the previous iteration, so the loss of an
    iteration the stopping rule does not read is filled in by the next one (unless someone
    watches each loss as it happens).
    """

    def start(self, W, Ht, what, monitor):
        self.monitor = monitor
        if getattr(self.data, "transposed", False):  # the form of X^T: D(X^T | H^T W^T)
            return self.terms.divergence(Ht, W, self.beta)
        return self.terms.divergence(W, Ht, self.beta)

    def _step_by_columns(self, W, Ht):
        """X held by columns, H in blocks beside them: W's update here from the terms the
        last pass left (the first from a pass of their own), then H's on the workers with
        W's next terms and the loss at the new (W, H)."""
        terms, beta, penalty = self.terms, self.beta, self.penalty
        if self.pending is None:
            self.pending = terms.w_terms(W, Ht, beta)
        num, den = self.pending
        mu_W(W, None, beta, num, den, penalty.l1_W, penalty.l2_W, self.gamma)
        num, den, div, H_sums = terms.mu_pass_H(W, Ht, beta, penalty, self.gamma)
        self.pending = (num, den)
        return Step(div + penalty.value(W, H_sums), div)

    def step(self, W, Ht, it):
        terms, beta, penalty = self.terms, self.beta, self.penalty
        if getattr(self.data, "transposed", False):
            return self._step_by_columns(W, Ht)
        fused = terms.loss_in_pass(beta) and not it.watched
        want = fused and it.n > 1
        if hasattr(terms, "mu_pass"):  # W in blocks on a cluster: its half on the workers
            num, den, div, W_before = terms.mu_pass(W, Ht, beta, penalty, self.gamma, want)
            if want:
                self.monitor.fill_last(div + penalty.value(W_before, Ht))
            mu_H(Ht, beta, num, den, penalty.l1_H, penalty.l2_H, self.gamma, self.keep)
        else:
            num, den, div = terms.mu_terms_W(W, Ht, beta, want_loss=want)
            if div is not None:
                self.monitor.fill_last(div + penalty.value(W, Ht))
            mu_step(terms, W, Ht, beta, num, den, penalty, self.gamma, self.update_H,
                    self.keep)
        if it.checked or not fused or it.last:
            divergence = terms.divergence(W, Ht, beta)
            return Step(divergence + penalty.value(W, Ht), divergence)
        return Step()  # its loss comes with the next W numerator pass

    def finish(self, W, Ht, monitor, last_step):
        if monitor.losses and monitor.losses[-1] is None:
            monitor.fill_last(self.terms.divergence(W, Ht, self.beta) + self.penalty.value(W, Ht))
        return None


def balance_exponents(W, Ht, frozen=None):
    """The powers of two that balance the scales of the components: ``e`` (k ints) such
    that ``W[:, j] * 2**e[j]`` and ``H[j] * 2**-e[j]`` have 2-norms within a factor 2 of
    each other (0 for a column or row that is 0 and for the ``frozen`` components).

    Scaling by powers of two is exact in floating point (unless a value leaves the
    exponent range), so the products ``W[i, j] H[j, l]``, hence W H, every numerator and
    denominator ratio of the multiplicative updates and the loss, are unchanged to the
    bit."""
    w = np.sqrt(np.einsum("ij,ij->j", W, W, dtype=np.float64))
    h = np.sqrt(np.einsum("ij,ij->j", Ht, Ht, dtype=np.float64))
    e = np.zeros(W.shape[1], dtype=np.int64)
    ok = (w > 0) & (h > 0) & np.isfinite(w) & np.isfinite(h)
    e[ok] = np.rint(0.5 * (np.log2(h[ok]) - np.log2(w[ok])))
    if frozen is not None:
        e[frozen] = 0
    return e


def _step_ratio(out, F, F_before):
    """``out = clip(F / F_before, 1/10, 10)``, 1 where ``F_before`` is 0, in place."""
    out.fill(1.0)
    np.divide(F, F_before, out=out, where=F_before > 0)
    np.clip(out, 0.1, 10.0, out=out)


class OverRelaxedUpdates(_Multiplicative):
    """Over-relaxed multiplicative updates with momentum for the beta-divergence
    (``solver='emu'``).

    scikit-learn's mu steps (:class:`MultiplicativeUpdates`) with the update ratio raised to
    ``omega * gamma`` instead of ``gamma``: in log space, ``log W`` moves ``omega`` times as
    far along the multiplicative step (over-relaxed EM, Salakhutdinov & Roweis 2003).  Then
    momentum (a heavy-ball step in log space): every entry of W and H is multiplied by its
    ratio over the last accepted iteration (clipped to [1/10, 10]) raised to ``momentum``.

    A safeguard keeps the objective monotone: each iterate's objective is compared with the
    last accepted one's (on dense X, and for sparse KL, it comes out of the next W numerator
    pass, :meth:`~fastnmf.data.beta.BetaTerms.loss_in_pass`, so it costs no extra pass); an
    iterate that raised it is dropped, the last accepted factors are restored and the step
    is taken again as plain mu (``omega = 1``, no momentum: it never raises the objective).
    Then the momentum's cap falls to its current value and the momentum is divided by
    :data:`MOMENTUM_CUT` (below :data:`MOMENTUM_OFF` it is off); it grows by
    :data:`MOMENTUM_GROWTH` up to the cap after each accepted iteration, in the manner of
    the restarts of Ang & Gillis (2019).  Without momentum a dropped iterate halves the
    over-relaxation instead (``omega <- 1 + (omega - 1) / 2``; below 1.05 it is off).  An
    iteration (``n_iter``, ``loss_history_``) is an accepted iterate.

    On dense X, W H is clamped at EPS times the mean of X where it divides (and in the
    recorded objective), not at scikit-learn's absolute EPS (:func:`relative_floor`), so
    the fit does not depend on the scale of X.  ``omega=None`` is :data:`EMU_OMEGA`,
    ``momentum=None`` :data:`EMU_MOMENTUM`.

    The split of each component's scale between W and H is rebalanced after every accepted
    iterate (without a penalty, when H is updated): column j of W and row j of H are
    multiplied by ``2**e`` and ``2**-e`` so that their 2-norms are within a factor 2
    (:func:`balance_exponents`).  The updates are scale-equivariant (a step from
    ``(W D, D^-1 H)`` is the step from ``(W, H)`` moved by D) and the objective does not
    see the split, so nothing holds it, and the over-relaxation moves it: a step's scale
    correction taken ``omega`` times over by W, then overcorrected by H, and so on,
    splits as ``omega / (2 - omega)`` times the log of that correction (9 times at
    ``omega = 1.8``, against once for mu), the momentum adding to it.  From the nndsvda
    start of digits (its W H 18 times too large in sum) W's columns ended ~1e19 times
    smaller in norm than H's rows.  Powers of two are exact, the momentum's step ratios are
    taken before the rescaling, and the thresholds below which scikit-learn's steps zero
    entries (the absolute TINY: H's for beta <= 1, W's for beta < 1) are moved with the
    factors, so W H, the objectives, the drops and ``n_iter`` are those of the unbalanced
    updates to the bit (float32: but for its subnormals).  At ``omega = 1`` (scikit-learn's
    mu) and with a penalty (which sees the split) nothing is rescaled.
    """

    def __init__(self, data, W, Ht, *, beta, penalty, update_H=True, frozen=None, omega=None,
                 momentum=None):
        floor = EPS if data.kind == "sparse" else relative_floor(data)
        super().__init__(data, W, Ht, beta=beta, penalty=penalty, update_H=update_H,
                         frozen=frozen, floor=floor)
        momentum = EMU_MOMENTUM if momentum is None else float(momentum)
        self.relax = EMU_OMEGA if omega is None else float(omega)
        self.mom, self.mom_cap = (momentum, momentum) if momentum >= MOMENTUM_OFF else (0.0, 0.0)
        self.fused = self.terms.loss_in_pass(beta)
        # the split of the scales is rebalanced where it is free (no penalty, H updated)
        # and moves (over-relaxed; at omega = 1 this is scikit-learn's mu, split and all)
        self.balance = update_H and self.relax > 1 and not (
            penalty.l1_W or penalty.l2_W or penalty.l1_H or penalty.l2_H)
        self.shift = np.zeros(W.shape[1], dtype=np.int64)  # W's columns times 2**shift
        self.tiny = (TINY, TINY)  # the zeroing thresholds of W and H, moved with them
        self.best = None
        self.ready = None  # (num, den, step) at the last accepted point, for the next step

    def start(self, W, Ht, what, monitor):
        self.monitor = monitor
        divergence = self.terms.divergence(W, Ht, self.beta)
        self.best = divergence + self.penalty.value(W, Ht)  # the last accepted objective
        self.W_ok, self.Ht_ok = W.copy(), Ht.copy()
        # the last accepted step's ratios (W over the accepted W before it), for the momentum
        self.W_step = np.ones_like(W) if self.mom else None
        self.Ht_step = np.ones_like(Ht) if self.mom else None
        return divergence

    def _take(self, W, Ht, num, den, step):
        mu_step(self.terms, W, Ht, self.beta, num, den, self.penalty, self.gamma * step,
                self.update_H, self.keep, self.tiny)
        if self.mom and step != 1.0:  # not on a step retaken as plain mu
            W *= self.W_step ** self.mom
            if self.update_H:
                Ht *= self.Ht_step ** self.mom
                self.keep.restore(Ht)

    def step(self, W, Ht, it):
        terms, beta, penalty = self.terms, self.beta, self.penalty
        if self.ready is None:
            num, den, _ = terms.mu_terms_W(W, Ht, beta)
            self.ready = (num, den, self.relax)
        while True:
            self._take(W, Ht, *self.ready)
            # the new iterate's objective (from the next W numerator pass when it can)
            divergence = None if self.fused else terms.divergence(W, Ht, beta)
            num, den, div = terms.mu_terms_W(W, Ht, beta, want_loss=self.fused)
            if self.fused:
                divergence = div
            objective = divergence + penalty.value(W, Ht)
            if objective > self.best and (self.relax > 1 or self.mom):
                # dropped: back to the last accepted point, and a plain mu step from there
                W[...] = self.W_ok
                Ht[...] = self.Ht_ok
                num, den, _ = terms.mu_terms_W(W, Ht, beta)
                if self.mom:
                    self.mom_cap = self.mom
                    self.mom /= MOMENTUM_CUT
                    if self.mom < MOMENTUM_OFF:
                        self.mom = 0.0
                    self.W_step.fill(1.0)
                    self.Ht_step.fill(1.0)
                else:
                    self.relax = 1 + (self.relax - 1) / 2
                    if self.relax < 1.05:
                        self.relax = 1.0
                self.ready = (num, den, 1.0)
                continue
            self.best = objective
            if self.mom:
                _step_ratio(self.W_step, W, self.W_ok)
                _step_ratio(self.Ht_step, Ht, self.Ht_ok)
                self.mom = min(self.mom_cap, self.mom * MOMENTUM_GROWTH)
            if self.balance:
                self._rebalance(W, Ht, num, den)
            self.W_ok[...] = W
            self.Ht_ok[...] = Ht
            self.ready = (num, den, self.relax)
            return Step(objective, divergence)

    def _rebalance(self, W, Ht, num, den):
        """Scale the components of the accepted (W, H) by powers of two so that their norms
        match (:func:`balance_exponents`), W's numerator and denominator at that point with
        them (both scale as H, so their ratio, the next step, is unchanged), and the
        thresholds below which entries are zeroed (so that the same entries are)."""
        e = balance_exponents(W, Ht, self.keep.frozen)
        if not e.any():
            return
        up = np.ldexp(np.ones(len(e), dtype=W.dtype), e)
        down = np.ldexp(np.ones(len(e), dtype=W.dtype), -e)
        W *= up
        Ht *= down
        num *= down
        if den is not None:
            den *= down
        self.shift += e
        self.tiny = (np.ldexp(TINY, self.shift), np.ldexp(TINY, -self.shift))

    def finish(self, W, Ht, monitor, last_step):
        return None


class KLCoordinateDescent(UpdateRule):
    """Coordinate descent for the KL divergence (Hsieh & Dhillon 2011).

    Each iteration sweeps every coordinate of W, then of H, with up to ``max_inner``
    safeguarded Newton steps each; the objective never increases.  Stops when the objective
    is flat (every 10 iterations, the error ``sqrt(2 D)`` improved by less than ``tol`` times
    itself over the last ten: :class:`fastnmf.solvers.stopping.FlatRule`, as 'hals').  Not
    scikit-learn's cd rule (which has no KL cd): the summed projected gradient falls slowly
    once the divergence is flat, so on the real-data corpus (benchmarks/corpus.py) it ran
    every fit to ``max_iter`` or near it long after the divergence had stopped moving
    (news2000_counts_kl: 200 iterations, 8.1 s, where scikit-learn mu's final divergence was
    reached after 0.8 s; pbmc68k_counts_kl: 200, 1.9 s, reached after 0.24 s).
    """

    stop = "flat"

    def __init__(self, data, W, Ht, *, penalty, update_H=True, frozen=None,
                 max_inner=KL_MAX_INNER, **_):
        if frozen is not None and len(frozen):
            raise ValueError("frozen components are not supported by the KL coordinate "
                             "descent; use solver='mu'")
        self.data = data
        self.terms = data.beta_terms()
        self.penalty = penalty
        self.update_H = update_H
        self.max_inner = max_inner

    def start(self, W, Ht, what, monitor):
        return self.terms.divergence(W, Ht, 1.0) + self.penalty.value(W, Ht)

    def step(self, W, Ht, it):
        data, pen = self.data, self.penalty
        violation, nz = data.kl_sweep(0, W, Ht, pen.l1_W, pen.l2_W, self.max_inner,
                                      not self.update_H)
        if self.update_H:
            v, nz = data.kl_sweep(1, Ht, W, pen.l1_H, pen.l2_H, self.max_inner, True)
            violation += v
        loss = nz + self.terms.kl_sum_wh(W, Ht)
        return Step(loss + pen.value(W, Ht), loss, violation, f"  violation {violation:.4e}")

    def finish(self, W, Ht, monitor, last_step):
        return None
