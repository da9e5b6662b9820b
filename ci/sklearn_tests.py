"""Run scikit-learn's own NMF tests against fastnmf.

    python ci/sklearn_tests.py            # the whole file, a summary line at the end
    python ci/sklearn_tests.py -k sparse  # extra arguments go to pytest
    python ci/sklearn_tests.py --minibatch-solver=mu   # the MiniBatchNMF tests, solver='mu'

The test file is the one installed with scikit-learn
(``sklearn/decomposition/tests/test_nmf.py`` in site-packages), read at run time,
never copied here.  Before pytest collects it, ``sklearn.decomposition.NMF``, ``MiniBatchNMF`` and
``non_negative_factorization`` are replaced by fastnmf's (the way scikit-learn-intelex
runs scikit-learn's suite against its patches), so every ``NMF``, ``MiniBatchNMF`` and
``non_negative_factorization`` the tests name, parametrizations included, is fastnmf's
(``MiniBatchNMF`` with its defaults: online cd for the Frobenius and KL losses).  The
rest stays scikit-learn's:

- ``sklearn.decomposition._nmf`` (imported by the tests as ``nmf``): the private
  helpers (``_initialize_nmf``, ``_beta_divergence``, ``_special_sparse_dot``) that
  some tests call directly, and that other tests use as a reference for fastnmf;
- ``MiniBatchNMF``: fastnmf has none, so the tests of MiniBatchNMF alone (or one
  parametrization with it) are skipped as not applicable; tests that compare
  NMF with MiniBatchNMF run, with scikit-learn's MiniBatchNMF.

The second form runs the tests that name ``MiniBatchNMF`` again with fastnmf's
``solver='mu'`` (scikit-learn's algorithm) as its default: there fastnmf's MiniBatchNMF
must reproduce scikit-learn's iterates.

The known deviations are listed in ``ci/sklearn_deviations.py`` (``TEST_NMF``) and
run as strict expected failures: one that starts to pass fails the run, and so
does an entry that names no collected test.  Exit status: pytest's (0 when every
test passed or failed as listed).
"""

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import sklearn_deviations  # noqa: E402

FASTNMF_NAMES = ("NMF", "MiniBatchNMF", "non_negative_factorization")


def installed_test_file():
    """``test_nmf.py`` of the installed scikit-learn."""
    import sklearn.decomposition.tests as tests_pkg

    path = Path(tests_pkg.__file__).resolve().parent / "test_nmf.py"
    if not path.is_file():
        sys.exit(f"scikit-learn's test_nmf.py not found at {path} (installed without its tests?)")
    return path


def patch_sklearn():
    """Point the names the test file imports from ``sklearn.decomposition`` at fastnmf."""
    import sklearn.decomposition as decomposition

    import fastnmf

    if "sklearn.decomposition.tests.test_nmf" in sys.modules:
        sys.exit("test_nmf was imported before sklearn.decomposition was patched")
    originals = {name: getattr(decomposition, name) for name in FASTNMF_NAMES}
    for name in FASTNMF_NAMES:
        setattr(decomposition, name, getattr(fastnmf, name))
    return originals


def _sklearn_version():
    import sklearn

    return sklearn.__version__


def _global_names(code):
    """The global names a test's code refers to, its nested functions' included."""
    names = set(code.co_names)
    for const in code.co_consts:
        if hasattr(const, "co_names"):
            names |= _global_names(const)
    return names


class FastnmfSuite:
    """pytest plugin: readable test ids, deviation marks, the tally."""

    label = ""

    def __init__(self, deviations):
        self.deviations = dict(deviations)
        self.category = {}  # nodeid -> 'fastnmf', 'helpers', 'deviation'
        self.outcomes = {}  # nodeid -> 'passed', 'failed', 'skipped', 'xfailed', ...
        self.stale = []
        self.summary = []

    # ids such as test_nmf_fit_nn_output[same-0.0-None-fastnmf.NMF-solver=cd]
    def pytest_make_parametrize_id(self, config, val, argname):
        if isinstance(val, type):
            return f"{val.__module__.split('.')[0]}.{val.__name__}"
        if isinstance(val, dict):
            return "-".join(f"{k}={v}" for k, v in val.items()) or "defaults"
        return None

    def _classify(self, item):
        params = getattr(getattr(item, "callspec", None), "params", {})
        estimators = [v for v in params.values() if isinstance(v, type)
                      and v.__name__ in ("NMF", "MiniBatchNMF")]
        names = _global_names(item.function.__code__) if hasattr(item, "function") else set()
        if estimators or names & set(FASTNMF_NAMES):
            return "fastnmf"
        return "helpers"  # scikit-learn's private helpers only

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, session, config, items):
        seen = set()
        for item in items:
            category = self._classify(item)
            if item.name in self.deviations:
                seen.add(item.name)
                category = "deviation"
                item.add_marker(pytest.mark.xfail(
                    strict=True, reason="deviation: " + self.deviations[item.name]))
            self.category[item.nodeid] = category
        self.stale = sorted(set(self.deviations) - seen)

    def pytest_collection_finish(self, session):
        kept = {item.nodeid for item in session.items}  # after -k / --deselect
        self.category = {k: v for k, v in self.category.items() if k in kept}

    def pytest_runtest_logreport(self, report):
        if report.when == "call" or report.outcome != "passed":
            if hasattr(report, "wasxfail"):
                outcome = "xfailed" if report.outcome == "skipped" else "xpassed"
            else:
                outcome = report.outcome
            # the first non-pass of setup/call/teardown decides
            if self.outcomes.get(report.nodeid, "passed") == "passed":
                self.outcomes[report.nodeid] = outcome

    def pytest_terminal_summary(self, terminalreporter):
        tally = {}
        for nodeid, category in self.category.items():
            outcome = self.outcomes.get(nodeid, "not run")
            tally[category, outcome] = tally.get((category, outcome), 0) + 1

        def count(category, outcome=None):
            return sum(v for (c, o), v in tally.items()
                       if c == category and (outcome is None or o == outcome))

        failed = sum(v for (c, o), v in tally.items() if o in ("failed", "xpassed", "error"))
        lines = [
            f"scikit-learn {_sklearn_version()} test_nmf.py against fastnmf{self.label} "
            f"({len(self.category)} tests): {count('fastnmf', 'passed')} passed on fastnmf, "
            f"{count('helpers', 'passed')} passed on scikit-learn's helpers only, "
            f"{count('deviation', 'xfailed')} listed deviations, "
            f"{failed} failed unexpectedly"
        ]
        for (category, outcome), v in sorted(tally.items()):
            if outcome not in ("passed", "xfailed", "skipped"):
                lines.append(f"  {v} {category} test(s) {outcome}")
        if self.stale:
            lines.append("deviations in ci/sklearn_deviations.py that name no collected test: "
                         + ", ".join(self.stale))
        self.summary = lines


def use_mu_by_default():
    """Make 'mu' (scikit-learn's algorithm) the default solver of fastnmf.MiniBatchNMF, in
    this process only: the second pass runs scikit-learn's MiniBatchNMF tests against it."""
    import fastnmf

    fastnmf.MiniBatchNMF.__init__.__kwdefaults__["solver"] = "mu"


class MiniBatchOnly(FastnmfSuite):
    """The tests that name MiniBatchNMF (directly, or as a parametrization), only."""

    label = " (MiniBatchNMF tests, solver='mu')"

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, session, config, items):
        keep = []
        for item in items:
            params = getattr(getattr(item, "callspec", None), "params", {})
            named = any(isinstance(v, type) and v.__name__ == "MiniBatchNMF"
                        for v in params.values())
            if not params or not any(isinstance(v, type) for v in params.values()):
                names = (_global_names(item.function.__code__)
                         if hasattr(item, "function") else set())
                named = named or "MiniBatchNMF" in names
            if named:
                keep.append(item)
        items[:] = keep
        super().pytest_collection_modifyitems(session, config, items)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    path = installed_test_file()
    patch_sklearn()
    if "--minibatch-solver=mu" in argv:
        argv.remove("--minibatch-solver=mu")
        use_mu_by_default()
        plugin = MiniBatchOnly(sklearn_deviations.TEST_NMF_MINIBATCH_MU)
    else:
        plugin = FastnmfSuite(sklearn_deviations.TEST_NMF)
    args = [
        str(path),
        "-q",
        "-p", "no:cacheprovider",      # never write into site-packages
        "--rootdir", str(path.parents[3]),   # .../site-packages: scikit-learn's conftest applies
        "-o", "addopts=",               # not this repository's pytest options
        "-o", "testpaths=",
        "-rfE",
        *argv,
    ]
    code = pytest.main(args, plugins=[plugin])
    print("\n".join(plugin.summary), flush=True)  # last, after pytest's own summary
    if plugin.stale and not any(a.startswith(("-k", "--deselect")) or "::" in a for a in argv):
        code = code or 1
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
