"""solver='auto': the cost model it chooses by (fastnmf.solvers.auto, fastnmf.solvers.auto_costs)."""

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from fastnmf import NMF
from fastnmf.solvers.auto import (CANDIDATES, choose_solver, cost_features, loss_class,
                           model_seconds, predicted_seconds)
from fastnmf.solvers.auto_costs import COSTS

ROOT = Path(__file__).resolve().parents[2]
SHAPES = [(80, 60, 4), (300, 3000, 10), (3000, 1000, 32), (20000, 500, 128), (500, 20000, 256)]


def _X(m, n, sparse, dtype, density=0.01):
    if sparse:
        return sp.random(m, n, density=density, format="csr", dtype=dtype, random_state=0)
    return np.empty((m, n), dtype=dtype)  # only the shape and dtype are read


@pytest.mark.parametrize("beta", [2.0, 1.0, 1.5, 0.5, 0.0])
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_auto_picks_the_cheapest_candidate_of_the_cost_model(beta, sparse, dtype):
    for m, n, k in SHAPES:
        X = _X(m, n, sparse, dtype)
        predicted = {s: predicted_seconds(s, X, k, beta) for s in CANDIDATES[loss_class(beta)]}
        assert all(t is not None and t > 0 for t in predicted.values()), predicted
        choice = choose_solver(X, k, beta)
        assert choice == min(predicted, key=predicted.get)
        if beta == 2:  # scikit-learn's mu stopping rule is not among 'auto''s choices
            assert choice != "mu"
            assert choose_solver(X, k, beta, update_H=False) == "als"


def test_model_seconds_is_setup_plus_iterations_times_an_iteration():
    """The formula, on a hand-made table: iterations exp(u) k^v within [1, max_iter], a
    dtype without its own entry falls back to float64's, a missing solver gives None."""
    costs = {"cd/frobenius/dense/float64": dict(per_iter=[1e-9, 1e-8, 2e-9, 3e-8, 1e-4],
                                               setup=[0.0, 0.0, 1e-9, 0.0, 0.01],
                                               iterations=[math.log(50), -0.5])}
    m, n, k = 400, 300, 16
    f = np.array(cost_features(m, n, m * n, k), dtype=float)
    assert f.tolist() == [k * m * n, m * n, k * k * (m + n), k * (m + n), 1.0]
    c = costs["cd/frobenius/dense/float64"]
    per_iter = float(np.dot(c["per_iter"], f))
    setup = float(np.dot(c["setup"], f))
    kw = dict(sparse=False, m=m, n=n, stored=m * n, k=k)
    got = model_seconds(costs, "cd", 2.0, dtype="float32", **kw)
    assert got == pytest.approx(setup + 50 / 4 * per_iter, rel=1e-12)
    assert model_seconds(costs, "cd", 2.0, dtype="float64", max_iter=5, **kw) == pytest.approx(
        setup + 5 * per_iter, rel=1e-12)
    costs["cd/frobenius/dense/float64"]["iterations"] = [-3.0, 0.0]  # under one: one
    assert model_seconds(costs, "cd", 2.0, dtype="float64", **kw) == pytest.approx(
        setup + per_iter, rel=1e-12)
    assert model_seconds(costs, "hals", 2.0, dtype="float64", **kw) is None
    assert model_seconds(costs, "cd", 1.0, dtype="float64", **kw) is None


def test_the_cost_model_is_the_fit_of_the_measured_table():
    """fastnmf/solvers/auto_costs.py is what benchmarks/fit_cost_model.py writes from
    benchmarks/results/auto.json: no constant edited by hand, none stale."""
    spec = importlib.util.spec_from_file_location(
        "fit_cost_model", ROOT / "benchmarks" / "fit_cost_model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    records = json.loads((ROOT / "benchmarks" / "results" / "auto.json").read_text())
    assert module.fit(records) == COSTS
    groups = {f"{s}/{c}/{form}" for c, ss in CANDIDATES.items() for s in ss
              for form in ("dense", "sparse")}
    assert groups <= {key.rsplit("/", 1)[0] for key in COSTS}  # every candidate measured


@pytest.mark.parametrize("beta", ["frobenius", "kullback-leibler", 1.5])
def test_the_estimator_runs_the_models_choice_in_float32(beta):
    rng = np.random.default_rng(0)
    X = rng.random((60, 40)).astype(np.float32) + 0.1
    for data in (X, sp.csr_matrix(np.where(X > 0.7, X, 0))):
        est = NMF(5, beta_loss=beta, max_iter=3, random_state=0).fit(data)
        b = {"frobenius": 2.0, "kullback-leibler": 1.0}.get(beta, beta)
        assert est.solver_ == choose_solver(data, 5, b)
        assert est.components_.dtype == np.float32
