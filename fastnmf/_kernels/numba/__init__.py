"""Numba backend: ``@njit(parallel=True, cache=True)`` twins of the reference kernels.

Importing this package compiles nothing: functions are compiled lazily for the
dtype of their first call and cached on disk (``cache=True``), so later processes
load them instead of recompiling.
"""

from .. import KERNELS
from .hals import (extrapolate, gram, hals_pass_dense, hals_sweep, hals_sweep_blocks,
                   hals_sweeps)
from .kl import kl_cd_sweep, kl_cd_sweep_csr, kl_nonzero_loss, kl_nonzero_loss_csr, mu_numerator_csr
from .loss import squared_residual
from .masked import column_stats_sweep, complement_hals_sweep, masked_hals_sweep
from .mu import mu_update
from .nnls import nnls_bpp
from .sparse import csr_matmul, csr_t_matmul

__all__ = list(KERNELS)
