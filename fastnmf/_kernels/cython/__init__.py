"""Cython/OpenMP backend: compiled twins of the reference kernels.

``OPENMP`` tells whether the extension was compiled with OpenMP; without it
the kernels are correct but run single-threaded (``n_threads`` is ignored).
Importing this package raises ImportError when the extension is not built.
"""

from .. import COMPLEMENT_HESS_RTOL as _COMPLEMENT_HESS_RTOL
from .. import KERNELS
from .. import GRAM_MAX_CHUNKS as _GRAM_MAX_CHUNKS
from .. import GRAM_MIN_ROWS as _GRAM_MIN_ROWS
from .. import KL_INNER_TOL as _KL_INNER_TOL
from .. import KL_MAX_BACKTRACK as _KL_MAX_BACKTRACK
from .. import MU_EPS as _MU_EPS
from .. import NNLS_PIVOT_TOL as _NNLS_PIVOT_TOL
from .. import NNLS_TOL as _NNLS_TOL
from .. import ROW_BLOCK as _ROW_BLOCK
from ._isa import load_extension

#: The compiled module in use and the instruction set it was built for
#: ("avx2" or "baseline"); see :mod:`fastnmf._kernels.cython._isa`.
_ext, ISA = load_extension()

complement_hals_sweep = _ext.complement_hals_sweep
csr_matmul = _ext.csr_matmul
csr_t_matmul = _ext.csr_t_matmul
extrapolate = _ext.extrapolate
gram = _ext.gram
hals_sweep = _ext.hals_sweep
hals_sweep_blocks = _ext.hals_sweep_blocks
hals_sweeps = _ext.hals_sweeps
hals_pass_dense = _ext.hals_pass_dense
kl_cd_sweep = _ext.kl_cd_sweep
kl_cd_sweep_csr = _ext.kl_cd_sweep_csr
kl_nonzero_loss = _ext.kl_nonzero_loss
kl_nonzero_loss_csr = _ext.kl_nonzero_loss_csr
masked_hals_sweep = _ext.masked_hals_sweep
mu_numerator_csr = _ext.mu_numerator_csr
mu_update = _ext.mu_update
nnls_bpp = _ext.nnls_bpp
squared_residual = _ext.squared_residual

#: True when the extension was compiled with OpenMP (multi-threaded kernels).
OPENMP = _ext.OPENMP

if (_ext.ROW_BLOCK != _ROW_BLOCK or _ext.MU_EPS != _MU_EPS
        or _ext.KL_MAX_BACKTRACK != _KL_MAX_BACKTRACK
        or _ext.KL_INNER_TOL != _KL_INNER_TOL
        or getattr(_ext, "NNLS_TOL", None) != _NNLS_TOL
        or getattr(_ext, "NNLS_PIVOT_TOL", None) != _NNLS_PIVOT_TOL
        or getattr(_ext, "GRAM_MIN_ROWS", None) != _GRAM_MIN_ROWS
        or getattr(_ext, "GRAM_MAX_CHUNKS", None) != _GRAM_MAX_CHUNKS
        or getattr(_ext, "COMPLEMENT_HESS_RTOL", None) != _COMPLEMENT_HESS_RTOL):  # pragma: no cover
    raise ImportError(
        "fastnmf's cython extension is stale (its constants differ from the "
        "kernel contract); rebuild it with `pip install -e .`"
    )

__all__ = list(KERNELS)
