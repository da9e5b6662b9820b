"""Numba options in one place, and the helpers shared by the numba kernels."""

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from .. import n_row_blocks, sum_in_order  # noqa: F401 (re-exported to the kernels)
from ._cache import CACHE_DIR

# cache: on disk in a per-user folder, never next to the sources (see _cache.py); off
# when no folder is writable (each process then compiles again, with the same results).
# No fastmath: it assumes no NaN/inf and lets results depend on vector width.
# Kernels are written so that they vectorize without it (loops over rows held
# as vector lanes, reductions as fixed 8-way partial sums).
JIT = dict(nogil=True, cache=CACHE_DIR is not None)
PARALLEL_JIT = dict(JIT, parallel=True)


def set_threads(n_threads):
    """Set numba's thread count, return the previous one (restore in ``finally``)."""
    previous = numba.get_num_threads()
    numba.set_num_threads(max(1, min(int(n_threads), numba.config.NUMBA_NUM_THREADS)))
    return previous


def partials(m):
    return np.zeros(n_row_blocks(m), dtype=np.float64)


@intrinsic
def prefetch_row(typingctx, arr, row):
    """Prefetch (for reading, into L2: locality 2) every 64-byte line of row ``row`` of a
    C-contiguous 2-D array: LLVM's ``llvm.prefetch``.  For gathers of random rows of a
    factor too large for the caches (measured: 2x faster on 2e6 random 256-byte rows;
    into L2 rather than L1, 8% faster again: L2 keeps more misses in flight)."""
    if not (isinstance(arr, types.Array) and arr.ndim == 2 and arr.layout == "C"
            and isinstance(row, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        aryty, rowty = signature.args
        ary = context.make_array(aryty)(context, builder, args[0])
        zero = context.get_constant(types.intp, 0)
        rowv = context.cast(builder, args[1], rowty, types.intp)
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [rowv, zero])
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        base = builder.bitcast(ptr, i8p)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
            "llvm.prefetch.p0")
        itemsize = context.get_abi_sizeof(context.get_data_type(aryty.dtype))
        nbytes = builder.mul(builder.extract_value(ary.shape, 1),
                             context.get_constant(types.intp, itemsize))
        with cgutils.for_range_slice(builder, zero, nbytes,
                                     context.get_constant(types.intp, 64),
                                     intp=context.get_value_type(types.intp)) as (off, _):
            builder.call(fn, [builder.gep(base, [off]), i32(0), i32(2), i32(1)])
        return context.get_dummy_value()

    return types.void(arr, row), codegen
