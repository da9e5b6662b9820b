"""A small test matrix as NumPy/scipy and as a row-chunked Dask array (tests/distributed)."""

import numpy as np
import scipy.sparse as sp


def dask_pair(X, rows, sparse, quantile):
    """``(Xm, dX)``: X itself (dense) or, with ``sparse``, X with its entries below the
    ``quantile`` zeroed as CSR; and the same as a Dask array in chunks of ``rows`` rows."""
    import dask.array as da

    if sparse:
        X = X.copy()
        X[X < np.quantile(X, quantile)] = 0
        Xm = sp.csr_matrix(X)
        return Xm, da.from_array(Xm, chunks=(rows, X.shape[1]), asarray=False)
    return X, da.from_array(X, chunks=(rows, X.shape[1]))
