"""NMF on a Dask cluster: X as a row-chunked ``dask.array.Array``, W held where X's blocks are.

:class:`fastnmf.NMF` fits a Dask X on the workers of the current ``distributed`` client,
through the same plan, driver and update rules as an in-memory X:

* :class:`~fastnmf.distributed.data.DaskData` is X's data form: its blocks of rows computed
  once and kept on the workers; W's half of every iteration runs there
  (:meth:`~fastnmf.distributed.data.DaskData.block_pass`: cd's fused pass, or the
  multiplicative updates of any beta), and only the n x k and k x k terms of H's update come
  back, summed in a tree; H's half runs on the client;
* :class:`~fastnmf.distributed.blocks.BlockFactor`: W as one block of rows per block of X,
  each a ``distributed.Future`` beside X's block (never gathered during a fit); its blocks
  are copied to another worker every few passes, so that a lost worker costs a replay of
  those passes, not the fit;
* :mod:`~fastnmf.distributed.start`: the NNDSVD start with W's blocks made on the workers;
* :class:`~fastnmf.distributed.observed.DaskObserved`: with unknown entries (NaN,
  ``missing='unobserved'``), the known entries of each block on its worker, fitted by the
  in-memory rule of known entries (``MaskedMU``) with W's half per block;
* a wide X chunked by columns is held as X^T (``DaskData.transposed``): H in blocks beside
  X's column blocks, W on the client, the rules' H half per block (``pass_H``,
  ``mu_block_H``), so that m x k terms move instead of n x k.

Importing this package does not import dask; its modules do.
"""


def is_dask(X):
    """Whether X is a ``dask.array.Array`` (without importing dask)."""
    module = type(X).__module__ or ""
    return module.startswith("dask.array") and hasattr(X, "chunks") and hasattr(X, "dask")


def dask_data(X, backend, name="X", missing="nan"):
    """The :class:`~fastnmf.distributed.data.DaskData` of the Dask array X on the current
    ``distributed`` client (ValueError when there is none); with unknown entries (NaN;
    ``missing='unobserved'``) the :class:`~fastnmf.distributed.observed.DaskObserved` of its
    known ones."""
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

    # the workers' tasks run on one thread each: a worker runs as many of them at once as it
    # has threads (the client's thread count says nothing about the workers')
    return DaskData.from_dask(X, client, backend=backend, n_threads=1, name=name,
                              missing=missing)


#: What a fit on a Dask X supports (the rest raises ValueError naming it).
SOLVERS = ("auto", "cd", "mu")
