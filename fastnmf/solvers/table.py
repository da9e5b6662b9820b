"""What runs on what: one capability table for every solver, loss and form of data.

Each :class:`Entry` says which solver, for which losses, on which data (the protocol a form
implements, :attr:`fastnmf.data.base.Data.protocol`: every form of complete X, dense, sparse
or held another way, is 'complete'), with which options, is which update rule.  The
estimator's checks (:func:`check_loss`, :func:`resolve_missing`, :func:`check_frozen`) and
its choice of the rule to run (:func:`make_rule`) read this table, so what a solver supports
and what the error messages say are written once.

Losses are named by class: 'frobenius' (beta = 2), 'kl' (beta = 1), 'beta' (any other).
"""

from dataclasses import dataclass

from . import beta as _beta
from . import frobenius as _frob
from . import masked as _masked

#: Every solver a user may name.
SOLVERS = ("auto", "cd", "mu", "emu", "hals", "ehals", "pgd", "als")

#: The protocols of the forms of data with unknown entries (:mod:`fastnmf.data.missing`).
MISSING_KINDS = ("observed", "complement", "sparse-complement")
#: The protocol of every form of complete X.
COMPLETE_KINDS = ("complete",)


@dataclass(frozen=True)
class Entry:
    """One line of the table: ``solver`` on data of the protocols ``kinds`` for ``losses`` is
    the update rule ``rule`` (``rule(data, W, Ht, **options)``); ``frozen``: whether it can
    hold components fixed (``frozen_components``)."""

    solver: str
    losses: tuple
    kinds: tuple
    rule: object
    frozen: bool = True
    #: operations of the data form it needs beyond its protocol's (``Data.supports``)
    needs: tuple = ()


TABLE = (
    Entry("cd", ("frobenius",), COMPLETE_KINDS, _frob.cd),
    Entry("cd", ("kl",), COMPLETE_KINDS, _beta.KLCoordinateDescent, frozen=False,
          needs=("kl_sweep",)),
    Entry("hals", ("frobenius",), COMPLETE_KINDS, _frob.hals),
    Entry("ehals", ("frobenius",), COMPLETE_KINDS, _frob.ehals),
    Entry("pgd", ("frobenius",), COMPLETE_KINDS, _frob.pgd),
    Entry("als", ("frobenius",), COMPLETE_KINDS, _frob.als),
    Entry("mu", ("frobenius",), COMPLETE_KINDS, _frob.mu),
    Entry("mu", ("kl", "beta"), COMPLETE_KINDS, _beta.MultiplicativeUpdates),
    Entry("emu", ("kl", "beta"), COMPLETE_KINDS, _beta.OverRelaxedUpdates),
    Entry("cd", ("frobenius",), ("observed",), _masked.MaskedCD),
    Entry("cd", ("kl",), ("observed",), _masked.MaskedKLCD, frozen=False),
    Entry("cd", ("frobenius",), ("complement",), _masked.ComplementCD),
    Entry("mu", ("frobenius", "kl"), ("observed", "sparse-complement"), _masked.MaskedMU),
    # select_rank's hold-outs of a sparse X whose zeros are data, under the KL cd: there is
    # no coordinate-descent kernel over "every entry but a set", so they run the
    # multiplicative updates (the Frobenius cd has ComplementCD there)
    Entry("cd", ("kl",), ("sparse-complement",), _masked.MaskedMU),
)

#: With unknown entries, these solvers run another one's rule ('auto' and 'hals': cd).
MISSING_ALIASES = {"auto": "cd", "hals": "cd"}

#: How each solver's losses are described in an error message, and what to use instead.
_LOSS_TEXT = {
    "cd": ("which handles 'frobenius' (2) and 'kullback-leibler' (1)",
           "use solver='mu' for other beta values"),
    "emu": ("the over-relaxed multiplicative updates of the other beta-divergences",
            "use solver='cd', 'hals' or 'mu' (or 'auto') for the Frobenius loss"),
}
_FROBENIUS_ONLY_TEXT = ("which minimises the Frobenius loss only",
                        "use solver='cd' (KL) or 'mu' (any beta), or 'auto'")


def loss_class(beta):
    """'frobenius', 'kl' or 'beta'."""
    return "frobenius" if beta == 2 else "kl" if beta == 1 else "beta"


def _entries(solver=None, loss=None, kind=None):
    return [e for e in TABLE if (solver is None or e.solver == solver)
            and (loss is None or loss in e.losses) and (kind is None or kind in e.kinds)]


def losses_of(solver, kinds=COMPLETE_KINDS):
    """The loss classes ``solver`` handles on any of ``kinds``."""
    return sorted({loss for e in TABLE if e.solver == solver and set(kinds) & set(e.kinds)
                   for loss in e.losses})


def check_loss(solver, beta, given):
    """ValueError when ``solver`` (named by the user; 'auto' takes every loss) does not
    minimise the loss ``beta`` (``given``: what the user wrote) on complete X."""
    if solver == "auto" or loss_class(beta) in losses_of(solver):
        return
    what, advice = _LOSS_TEXT.get(solver, _FROBENIUS_ONLY_TEXT)
    raise ValueError(f"beta_loss={given!r} is not supported by solver={solver!r}, {what}; "
                     f"{advice}")


def resolve_missing(solver, beta):
    """The solver that fits a loss ``beta`` with unknown entries for the one named
    (``MISSING_ALIASES``), or a ValueError saying what can."""
    losses = sorted({loss for e in TABLE if set(e.kinds) & set(MISSING_KINDS)
                     for loss in e.losses})
    if loss_class(beta) not in losses:
        raise ValueError(
            f"beta_loss={beta!r} is not supported with missing entries: fits on observed "
            "entries minimise the Frobenius (2) or Kullback-Leibler (1) loss")
    resolved = MISSING_ALIASES.get(solver, solver)
    if not _entries(resolved, loss_class(beta), "observed"):
        raise ValueError(
            f"solver={solver!r} does not fit missing entries (NaN in X, or "
            "missing='unobserved'); use solver='auto' or 'cd' (coordinate descent on the "
            "observed entries; 'hals' runs it too) or 'mu', or remove the NaN from X")
    return resolved


def supports_frozen(solver, beta, kinds=COMPLETE_KINDS):
    """Whether ``solver`` holds components fixed for the loss ``beta`` on ``kinds``."""
    found = [e for e in _entries(solver, loss_class(beta)) if set(kinds) & set(e.kinds)]
    return all(e.frozen for e in found)


def check_frozen(solver, beta):
    """ValueError when ``solver`` (named by the user) cannot hold components fixed for the
    loss ``beta``."""
    if solver != "auto" and not supports_frozen(solver, beta):
        raise ValueError(
            f"frozen_components is not supported by solver={solver!r} with the "
            f"{'Kullback-Leibler' if beta == 1 else 'beta=' + repr(beta)} loss; use "
            "solver='mu' (or 'auto', which picks it)")


def runs_on(solver, beta, X):
    """Whether ``solver`` has a rule for the loss ``beta`` on X (a data form, or an array,
    taken as complete X) whose operations the form supports."""
    protocol = getattr(X, "protocol", "complete")
    supports = getattr(X, "supports", lambda op: True)
    return any(all(supports(op) for op in e.needs)
               for e in _entries(solver, loss_class(beta), protocol))


def make_rule(solver, beta, data, W, Ht, **options):
    """The update rule of ``solver`` for the loss ``beta`` on ``data`` (a form of
    :mod:`fastnmf.data`), from ``(W, Ht)``.  ``options``: what the rule takes (``penalty``,
    ``update_H``, ``frozen``, ``shuffle``, ``rng``, ``parallel_kernels``, ``stop``...);
    those a rule does not take are dropped."""
    found = _entries(solver, loss_class(beta), data.protocol)
    if not found:
        raise ValueError(f"solver={solver!r} has no update rule for the "
                         f"{loss_class(beta)} loss on {data.kind} data ({data.protocol})")
    lacking = [op for op in found[0].needs if not data.supports(op)]
    if lacking:
        raise ValueError(f"solver={solver!r} with the {loss_class(beta)} loss needs "
                         f"{', '.join(lacking)}, which {data.kind} data does not have; use "
                         f"another solver ('mu' runs on every kind of data)")
    rule = found[0].rule
    import inspect

    params = inspect.signature(rule).parameters
    if "beta" in params:
        options["beta"] = beta
    if not any(p.kind == p.VAR_KEYWORD for p in params.values()):
        options = {k: v for k, v in options.items() if k in params}
    return rule(data, W, Ht, **options)
