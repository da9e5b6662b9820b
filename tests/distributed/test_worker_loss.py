"""Losing a worker process in the middle of a fit on a Dask X: the fit goes on and ends where
the uninterrupted fit ends (W's lost blocks rebuilt from their copies on another worker by
replaying the passes since; X's lost blocks recomputed by Dask from X's graph)."""

import os
import signal

import numpy as np
import pytest
from numpy.testing import assert_allclose

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

from fastnmf import NMF  # noqa: E402

from ._arrays import dask_pair  # noqa: E402


@pytest.fixture
def cluster():
    # its own cluster: a worker is killed (the nanny starts a new one)
    with distributed.LocalCluster(n_workers=3, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=50) as cl, \
            distributed.Client(cl) as c:
        yield c


class KillAt:
    """A callback that kills (SIGKILL), at iteration ``at``, the worker holding the most
    pieces of data (blocks of X and W)."""

    def __init__(self, client, at):
        self.client, self.at, self.killed = client, at, None

    def __call__(self, info):
        if info.iteration == self.at:
            who = self.client.who_has()  # every piece of data on the cluster
            counts = {}
            for holders in who.values():
                for w in holders:
                    counts[w] = counts.get(w, 0) + 1
            victim = max(sorted(counts), key=counts.get)
            pid = self.client.run(os.getpid, workers=[victim])[victim]
            os.kill(pid, signal.SIGKILL)
            self.killed = victim
        return True


@pytest.mark.parametrize("solver,beta,form", [("cd", "frobenius", "dense"),
                                              ("cd", "frobenius", "sparse"),
                                              ("mu", "kullback-leibler", "dense"),
                                              ("mu", "frobenius", "unknown entries"),
                                              ("cd", "frobenius", "by columns")])
def test_a_worker_killed_mid_fit_does_not_change_the_fit(cluster, solver, beta, form):
    rng = np.random.default_rng(11)
    X = rng.random((600, 6)) @ rng.random((6, 40)) + 0.01 * rng.random((600, 40))
    if form == "unknown entries":  # the fit of the known entries (rows' penalties per block)
        X[rng.random(X.shape) < 0.3] = np.nan
    Xm, dX = dask_pair(X, 50, form == "sparse", 0.5)
    if form == "by columns":  # a wide X held by columns: H's blocks are rebuilt
        Xm = np.ascontiguousarray(X.T)
        dX = da.from_array(Xm, chunks=(40, 50))
    kw = dict(n_components=5, solver=solver, beta_loss=beta, random_state=0, max_iter=30,
              tol=0, alpha_W=0.01 if form == "unknown entries" else 0.0)
    ref = NMF(**kw)
    W_ref = ref.fit_transform(Xm)
    kill = KillAt(cluster, at=14)  # between two copies of W (every 10 passes)
    est = NMF(callback=kill, **kw)
    with pytest.warns(RuntimeWarning,
                      match=r"blocks \[.*\] of [WH] rebuilt .* replaying the [1-4] passes"):
        W = est.fit_transform(dX)
    assert kill.killed is not None
    assert kill.killed not in cluster.scheduler_info()["workers"]  # it is really gone
    assert est.n_iter_ == ref.n_iter_ == 30
    assert_allclose(est.components_, ref.components_, rtol=1e-9, atol=1e-12)
    assert_allclose(W.compute(), W_ref, rtol=1e-9, atol=1e-12)
    assert_allclose(est.loss_history_, ref.loss_history_, rtol=1e-9)
