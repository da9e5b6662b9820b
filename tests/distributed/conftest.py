"""What the distributed tests share: a LocalCluster of two worker processes per module."""

import pytest


@pytest.fixture(scope="module")
def client():
    """A ``distributed.Client`` of 2 worker processes of one thread, one per test module."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=40)
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()
