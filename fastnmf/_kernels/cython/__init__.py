"""Cython/OpenMP backend: compiled twins of the reference kernels.

``OPENMP`` tells whether the extension was compiled with OpenMP; without it
the kernels are correct but run single-threaded (``n_threads`` is ignored).
Importing this package raises ImportError when the extension is not built.
"""

from .. import MU_EPS as _MU_EPS
from .. import ROW_BLOCK as _ROW_BLOCK
from . import _kernels as _ext
from ._kernels import csr_matmul, csr_t_matmul, hals_sweep, mu_update, squared_residual

#: True when the extension was compiled with OpenMP (multi-threaded kernels).
OPENMP = _ext.OPENMP

if _ext.ROW_BLOCK != _ROW_BLOCK or _ext.MU_EPS != _MU_EPS:  # pragma: no cover
    raise ImportError(
        "fastnmf's cython extension is stale (ROW_BLOCK/MU_EPS differ from the "
        "kernel contract); rebuild it with `pip install -e .`"
    )

__all__ = ["hals_sweep", "mu_update", "squared_residual", "csr_matmul", "csr_t_matmul"]
