"""A Dask X read from zarr on workers whose memory limits together are smaller than X: the
blocks of X spill to the workers' disks, and the fit is still the in-memory fit.

Its own LocalCluster (two worker processes, one thread each, ``memory_limit=LIMIT`` each).
A worker process with fastnmf, dask.array and zarr imported already holds ~250 MiB of
unmanaged memory and peaks near 350 MB during the fit, so LIMIT cannot be much lower than
450 MB without the worker pausing (80 % of LIMIT) for good or its nanny killing it (95 %);
X is then a little more than 2 x LIMIT.  ``distributed.worker.memory.target`` is lowered to
2 % of LIMIT (9 MB), below a block of X (16 MB): a block is written to disk when it is stored
and read from there by each task (never moved back into memory, which at dask's default 60 %
would make every pass over X write it to disk again: about twice the time).  The other
thresholds are dask's.
"""

import concurrent.futures
import sys

import pytest
from numpy.testing import assert_allclose

zarr = pytest.importorskip("zarr")
da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")

from fastnmf import NMF  # noqa: E402

from ..conftest import low_rank  # noqa: E402

LIMIT = 450_000_000  # bytes per worker
M, N, ROWS = 57_000, 2_000, 1_000  # X: 912 MB > 2 x LIMIT, in 57 chunks of 16 MB
FIT_TIMEOUT = 300  # seconds; a fit on paused workers would wait for ever

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="reads the workers' peak RSS from /proc")


def _status(field):
    """A field of /proc/self/status in bytes (VmRSS: resident set now, VmHWM: its peak)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(field + ":"))


def _spill_counts(dask_worker):
    """(bytes written to the spill directory, bytes read back, peak RSS) of a worker since
    it started."""
    metrics = dask_worker.data.cumulative_metrics
    return (metrics.get(("disk-write", "bytes"), 0), metrics.get(("disk-read", "bytes"), 0),
            _status("VmHWM"))


def test_nmf_on_zarr_x_larger_than_the_workers_memory_spills_and_is_the_in_memory_fit(
        tmp_path):
    X = low_rank(M, N, 5, seed=0, noise=0.1)
    assert X.nbytes > 2 * LIMIT
    path = str(tmp_path / "X.zarr")
    z = zarr.create_array(store=path, shape=X.shape, chunks=(ROWS, N), dtype=X.dtype,
                          compressors=None)
    z[:] = X
    kw = dict(n_components=5, init="nndsvda", max_iter=3, random_state=0)
    ref = NMF(**kw).fit(X)
    del X, z

    config = {"distributed.worker.memory.target": 0.02}
    with dask.config.set(config), \
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                     memory_limit=LIMIT, dashboard_address=None,
                                     silence_logs=50) as cluster, \
            distributed.Client(cluster) as client:
        client.wait_for_workers(2)
        workers = set(client.scheduler_info()["workers"])
        started = client.run(_status, "VmRSS")  # what a worker holds before any data
        assert set(client.run(lambda dask_worker: dask_worker.memory_manager.memory_limit)
                   .values()) == {LIMIT}
        dX = da.from_zarr(path)
        assert dX.numblocks == (M // ROWS, 1)
        est = NMF(**kw)
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            fit = pool.submit(est.fit, dX)
            try:
                fit.result(timeout=FIT_TIMEOUT)
            except concurrent.futures.TimeoutError:
                client.close()
                cluster.close()
                pytest.fail(f"the fit did not end in {FIT_TIMEOUT} s (paused workers?)")
        counts = client.run(_spill_counts)
        # no worker was killed by its nanny (a restarted worker has a new address)
        assert set(client.scheduler_info()["workers"]) == workers == set(counts)

    written = sum(c[0] for c in counts.values())
    read = sum(c[1] for c in counts.values())
    peak = sum(c[2] for c in counts.values())
    nbytes = M * N * 8
    # X did not fit: the two processes never held it, so what they could not hold (at most
    # their peak RSS less what they held at the start) went to disk, and each of the fit's
    # passes over X (the start's products, the iterations) read it back from there
    assert peak < nbytes, counts
    on_disk = nbytes - (peak - sum(started.values()))
    assert written >= on_disk, (counts, started)
    assert read >= (est.n_iter_ + 2) * on_disk, (counts, started)
    # ... and the fit is the in-memory fit, to rounding
    assert est.n_iter_ == ref.n_iter_
    assert_allclose(est.components_, ref.components_, rtol=1e-9,
                    atol=1e-12 * ref.components_.max())
    assert_allclose(est.reconstruction_err_, ref.reconstruction_err_, rtol=1e-9)
    assert_allclose(est.loss_history_, ref.loss_history_, rtol=1e-9)
