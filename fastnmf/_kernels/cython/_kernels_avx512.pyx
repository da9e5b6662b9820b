# cython: language_level=3
"""The kernels of _kernels.pyx, compiled for avx512 (see setup.py ISA_VARIANTS)."""

include "_kernels.pyx"
