"""Cython/OpenMP backend: compiled twins of the reference kernels, in families.

Every kernel is a compiled twin of the reference kernel of the same name (see
:mod:`fastnmf._kernels` for the contract).  The update kernels loop over blocks of
``ROW_BLOCK`` rows in parallel (``prange``) with the components inside; scalar reductions are
accumulated in double per block and the block partials summed in block order, so no result
depends on ``n_threads``.  Every operation is written in the same order as in the Numba
twins, and the loops vectorize without ``-ffast-math``.

Each family of kernels is an extension of its own (:data:`FAMILIES`, see
:mod:`fastnmf._kernels.cython._isa` for the builds per CPU).  A family whose extension is
missing (it did not compile here) is served by the Numba backend instead, and
:data:`FALLBACK` says which and why (``fastnmf config`` shows it); the backend is
unavailable (ImportError) only when no family loads.  ``OPENMP`` tells whether the
extensions were compiled with OpenMP; without it the kernels are correct but run
single-threaded (``n_threads`` is ignored).
"""

from ...parallel import wait_policy as _wait_policy
from .. import COMPLEMENT_HESS_RTOL as _COMPLEMENT_HESS_RTOL
from .. import GRAM_MAX_CHUNKS as _GRAM_MAX_CHUNKS
from .. import GRAM_MIN_ROWS as _GRAM_MIN_ROWS
from .. import KERNELS
from .. import KL_INNER_TOL as _KL_INNER_TOL
from .. import KL_MAX_BACKTRACK as _KL_MAX_BACKTRACK
from .. import MU_EPS as _MU_EPS
from .. import NNLS_PIVOT_TOL as _NNLS_PIVOT_TOL
from .. import NNLS_TOL as _NNLS_TOL
from .. import ROW_BLOCK as _ROW_BLOCK
from ._isa import load_family

#: The kernels of each family (every name of the contract is in exactly one).
FAMILIES = {
    "hals": ("hals_sweep", "hals_sweep_blocks", "hals_sweeps", "hals_pass_dense", "gram",
             "extrapolate", "mu_update", "squared_residual"),
    "sparse": ("csr_matmul", "csr_t_matmul"),
    "kl": ("kl_nonzero_loss", "kl_nonzero_loss_csr", "mu_numerator_csr", "kl_cd_sweep",
           "kl_cd_sweep_csr"),
    "masked": ("masked_hals_sweep", "complement_hals_sweep", "column_stats_sweep"),
    "nnls": ("nnls_bpp",),
}

#: The contract's constants, which every family that defines one must agree with.
_CONSTANTS = {"ROW_BLOCK": _ROW_BLOCK, "MU_EPS": _MU_EPS, "KL_MAX_BACKTRACK": _KL_MAX_BACKTRACK,
              "KL_INNER_TOL": _KL_INNER_TOL, "NNLS_TOL": _NNLS_TOL,
              "NNLS_PIVOT_TOL": _NNLS_PIVOT_TOL, "GRAM_MIN_ROWS": _GRAM_MIN_ROWS,
              "GRAM_MAX_CHUNKS": _GRAM_MAX_CHUNKS,
              "COMPLEMENT_HESS_RTOL": _COMPLEMENT_HESS_RTOL}

#: family -> the loaded module; family -> the instruction set it was built for
MODULES, ISAS = {}, {}
#: family -> why it runs on Numba (its extension did not load)
FALLBACK = {}

# libgomp reads how long its idle threads spin once, when the first extension loads it:
# fastnmf's default (GOMP_SPINCOUNT=1000 unless the user set how OpenMP threads wait, see
# fastnmf.parallel.wait_policy) must be in the environment before: set at ``import fastnmf``,
# again here in case, and recorded.
_wait_policy.before_extension_load()

for _family in FAMILIES:
    try:
        MODULES[_family], ISAS[_family] = load_family(_family)
    except ImportError as _exc:
        FALLBACK[_family] = str(_exc)

if not MODULES:
    raise ImportError("no family of fastnmf's cython kernels could be loaded: "
                      + "; ".join(f"{f}: {why}" for f, why in FALLBACK.items()))

for _family, _module in MODULES.items():
    for _name, _value in _CONSTANTS.items():
        if hasattr(_module, _name) and getattr(_module, _name) != _value:  # pragma: no cover
            raise ImportError(
                f"fastnmf's cython extension {_module.__name__} is stale (its {_name} differs "
                "from the kernel contract); rebuild it with `pip install -e .`")

if FALLBACK:  # the missing families' kernels from the numba backend
    from .. import numba as _numba

for _family, _names in FAMILIES.items():
    _source = MODULES[_family] if _family in MODULES else _numba
    for _name in _names:
        globals()[_name] = getattr(_source, _name)

#: The instruction set the families were built for ("avx2" or "baseline"; several joined by
#: "+" if they differ).
ISA = "+".join(sorted(set(ISAS.values())))

#: True when the extensions were compiled with OpenMP (multi-threaded kernels).
OPENMP = all(bool(getattr(m, "OPENMP", False)) for m in MODULES.values())

assert sorted(n for names in FAMILIES.values() for n in names) == sorted(KERNELS)

__all__ = list(KERNELS)
