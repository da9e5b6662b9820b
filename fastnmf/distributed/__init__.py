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
