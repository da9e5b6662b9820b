# cython: language_level=3
"""The kernels of _masked.pyx, compiled for avx2 (see setup.py ISA_VARIANTS)."""

include "_masked.pyx"
