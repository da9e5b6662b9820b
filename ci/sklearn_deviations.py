"""Where fastnmf knowingly differs from scikit-learn: the one list.

Read by ``ci/sklearn_tests.py`` (scikit-learn's own ``test_nmf.py`` run against
fastnmf) and by ``tests/test_sklearn_checks.py`` (``check_estimator``).  Every
entry is a test or check that fails against fastnmf on purpose, with the reason.
Both runners mark these as strict expected failures: if one starts passing, the
run fails until the entry is removed, so the list cannot go stale.

Keep it short: where scikit-learn's behaviour is what a user would expect,
fix fastnmf instead of adding an entry.
"""

_PARTIAL_FIT = (
    "scikit-learn's MiniBatchNMF.fit writes its result into the caller's H (components_ is "
    "the H passed with init='custom'); the test's second model then starts from that same "
    "array and shares it as its components_, so the two models' components_ are one object "
    "and equal whatever the algorithm.  fastnmf never modifies the caller's arrays "
    "(tests/online/test_minibatch.py::test_inputs_not_modified), so the two models really "
    "differ: the test's partial_fit windows X[j:j + 10] for j = 0..9 overlap and are not the "
    "batches fit visits")

_TO_ZERO = (
    "with alpha_W = alpha_H = 1.0 on the test's 10 x 10 X the minimum is W = H = 0; the default "
    "online cd decays towards it, and after the test's 100 epochs every entry of W is about "
    "2e-14 for dense and sparse X alike (largest difference 6e-18): the test's relative "
    "tolerance (1e-7) then compares rounding noise of two different product orders (BLAS on "
    "dense, the CSR kernels on sparse).  With solver='mu' it passes (the second pass)")

#: scikit-learn's ``sklearn/decomposition/tests/test_nmf.py``: test name (with its
#: parameters, as ``ci/sklearn_tests.py`` names them) -> reason.
TEST_NMF = {
    "test_parameter_checking": (
        "solver='cd' with beta_loss='kullback-leibler' (1.0) is fastnmf's Newton coordinate "
        "descent (Hsieh & Dhillon 2011), where scikit-learn's cd raises ValueError; the test "
        "stops at that first assertion, its other assertions (negative X in fit and "
        "transform, nndsvd* with too many components) are repeated in "
        "tests/test_sklearn_checks.py"
    ),
    "test_nmf_custom_init_dtype_error[fastnmf.NMF]": (
        "a custom W or H of another dtype than X (float32 H with float64 X) is converted to "
        "X's dtype (a copy), where scikit-learn raises TypeError; fastnmf's "
        "tests/test_validation.py::test_custom_init_is_cast_to_X_dtype asserts it"
    ),
    "test_nmf_custom_init_dtype_error[fastnmf.MiniBatchNMF]": (
        "as for NMF: a custom W or H of another dtype than X is converted to X's dtype"),
    "test_nmf_minibatchnmf_equivalence[1]": (
        "MiniBatchNMF's default solver for the KL loss is online cd (Newton cd on each batch's "
        "W), not scikit-learn's multiplicative updates, whose iterates this test compares with "
        "NMF(solver='mu'); with solver='mu' it passes (ci/sklearn_tests.py "
        "--minibatch-solver=mu)"),
    "test_nmf_minibatchnmf_equivalence[2]": (
        "MiniBatchNMF's default solver for the Frobenius loss is online cd, not the "
        "multiplicative updates this test compares with NMF(solver='mu'); with solver='mu' it "
        "passes (ci/sklearn_tests.py --minibatch-solver=mu)"),
    "test_minibatch_nmf_partial_fit": _PARTIAL_FIT,
    **{f"test_nmf_sparse_input[{a}-1.0-scipy.{c}-fastnmf.MiniBatchNMF-defaults]": _TO_ZERO
       for a in ("1.0", "same") for c in ("csc_matrix", "csc_array", "csr_matrix", "csr_array")},
}

#: The second pass (``ci/sklearn_tests.py --minibatch-solver=mu``): the tests that name
#: MiniBatchNMF, with fastnmf's MiniBatchNMF defaulting to 'mu', scikit-learn's algorithm.
TEST_NMF_MINIBATCH_MU = {
    "test_parameter_checking": TEST_NMF["test_parameter_checking"],
    "test_nmf_custom_init_dtype_error[fastnmf.MiniBatchNMF]": (
        "as for NMF: a custom W or H of another dtype than X is converted to X's dtype"),
    "test_minibatch_nmf_partial_fit": _PARTIAL_FIT,
}

#: ``sklearn.utils.estimator_checks`` checks expected to fail, for the estimators
#: of ``tests/test_sklearn_checks.py``: name -> (applies(estimator), {check: reason}).
#: ``expected_failed_checks`` picks the entries that apply to one estimator.
ESTIMATOR_CHECKS = {
    # none at present: add {name: (applies(estimator), {check: reason})} here
}

#: Checks that scikit-learn's own NMF fails as well, in the same configurations:
#: fit_transform(X) and fit(X).transform(X) differ by more than the checks' atol=0.01
#: because the fit does not converge on the checks' data (30 x 3, n_components =
#: n_features = 3) within max_iter.  scikit-learn runs its own common checks with
#: ``NMF(max_iter=500)`` (solver 'cd'), which passes; so does fastnmf's.
_TRANSFORMER_CHECKS = ("check_transformer_general", "check_transformer_data_not_an_array")
SHARED_WITH_SKLEARN = {
    "cd at max_iter < 500": (
        lambda p: "batch_size" not in p and p["solver"] in ("auto", "cd") and p["max_iter"] < 500
        and p["beta_loss"] in (2, "frobenius"),
        "scikit-learn's NMF() (cd, max_iter=200) fails it too: 200 iterations do not converge "
        "on the check's data ('auto' runs cd there); with max_iter=500, what scikit-learn "
        "checks its NMF with, it passes"),
    "MiniBatchNMF mu": (
        lambda p: "batch_size" in p and p["solver"] == "mu",
        "scikit-learn's MiniBatchNMF() fails it too (the same algorithm: fastnmf's 'mu' is its "
        "iterates): fit_transform returns each row's W from its batch's last visit, transform "
        "solves W for the final H by 200 multiplicative updates; fastnmf's default online cd "
        "passes (W refreshed for the final H at the end of the fit)"),
    "mu": (
        lambda p: "batch_size" not in p and p["solver"] == "mu" and p["max_iter"] <= 500,
        "scikit-learn's NMF(solver='mu') fails it too, at max_iter=200 and 500: multiplicative "
        "updates do not converge on the check's data in that many iterations"),
}


def expected_failed_checks(estimator):
    """The entries above that apply to ``estimator`` (for ``parametrize_with_checks``)."""
    failed = {}
    for applies, checks in ESTIMATOR_CHECKS.values():
        if applies(estimator):
            failed.update(checks)
    params = estimator.get_params()
    for applies, reason in SHARED_WITH_SKLEARN.values():
        if applies(params):
            failed.update(dict.fromkeys(_TRANSFORMER_CHECKS, reason))
    return failed
