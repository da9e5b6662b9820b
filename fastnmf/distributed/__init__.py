"""NMF on a Dask cluster: X as a row-chunked ``dask.array.Array``, W held where X's blocks are.

Work in progress (issue 18); not yet reachable from :class:`fastnmf.NMF`.  What is here:

* :class:`~fastnmf.distributed.blocks.BlockFactor`: a factor with one block of rows per
  block of X, each block a ``distributed.Future`` on a worker (W's blocks never travel to the
  client during a fit);
* :class:`~fastnmf.distributed.data.DaskData`: the data form of a row-chunked Dask X (dense
  blocks, or scipy.sparse CSR blocks): its validation pass, ``||X||^2``, the Gram of a
  factor, the starting loss's cross term, and coordinate descent's fused pass (each worker
  sweeps its blocks of W with the compiled kernels and returns only ``X_b^T W_b`` and
  ``W_b^T W_b``, n x k and k x k, summed in a tree), and the final error.

Importing this package does not import dask; its modules do.
"""


def is_dask(X):
    """Whether X is a ``dask.array.Array`` (without importing dask)."""
    module = type(X).__module__ or ""
    return module.startswith("dask.array") and hasattr(X, "chunks") and hasattr(X, "dask")


def dask_data(X, backend, n_threads, name="X"):
    """The :class:`~fastnmf.distributed.data.DaskData` of the Dask array X on the current
    ``distributed`` client (ValueError when there is none)."""
    try:
        from distributed import get_client
    except ImportError as exc:  # pragma: no cover - the extra not installed
        raise ImportError("a Dask X needs dask and distributed: pip install "
                          "'fastnmf[dask]'") from exc
    try:
        client = get_client()
    except ValueError:
        raise ValueError(f"{name} is a Dask array: start a distributed.Client first (a "
                         "LocalCluster, dask-jobqueue, Kubernetes...); fastnmf runs its kernels "
                         "on that client's workers") from None
    from .data import DaskData

    return DaskData.from_dask(X, client, backend=backend, n_threads=n_threads, name=name)


#: What a fit on a Dask X supports (the rest raises ValueError naming it).
SOLVERS = ("auto", "cd", "mu")
