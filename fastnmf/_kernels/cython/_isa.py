"""Which build of each family of Cython kernels to load: runtime dispatch on the CPU's SIMD.

``setup.py`` compiles each family (``_<family>.pyx``: hals, sparse, kl, masked, nnls) for
baseline x86-64 (runs anywhere) and, on x86-64, once more for AVX2 (``_<family>_avx2``).
Both do the same operations in the same order (no -ffast-math, no FMA contraction), so their
results are bitwise equal; only the speed differs.  The widest build this CPU supports is
loaded, as NumPy's own CPU dispatch reports the features.  ``FASTNMF_CYTHON_ISA``
(``baseline`` or ``avx2``) forces a choice, for testing or when the detection is wrong.

An AVX-512 build was measured and dropped: on the AMD EPYC (Zen 4) development machine it
was 5-15% slower than the AVX2 build on the HALS and KL sweeps (with 512- or 256-bit
preferred vectors), which work on 64-row blocks.
"""

import importlib
import os

#: The families, one extension (and its ISA variants) each.
FAMILIES = ("hals", "sparse", "kl", "masked", "nnls")

#: Builds from the widest to the baseline: name, module suffix, the CPU features it needs.
VARIANTS = (
    ("avx2", "_avx2", ("AVX2",)),
    ("baseline", "", ()),
)


def cpu_features():
    """``{feature: bool}`` from NumPy's CPU dispatch ({} when unavailable)."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__
    except ImportError:  # pragma: no cover - older NumPy layout
        try:
            from numpy.core._multiarray_umath import __cpu_features__
        except ImportError:
            return {}
    return dict(__cpu_features__)


def supported(features=None):
    """Names of the variants this CPU can run, widest first (baseline always)."""
    features = cpu_features() if features is None else features
    return [name for name, _, needs in VARIANTS if all(features.get(f, False) for f in needs)]


def module_name(family, isa):
    """The module of ``family`` built for ``isa`` ('_hals_avx2', '_kl', ...)."""
    return f"_{family}" + dict((name, suffix) for name, suffix, _ in VARIANTS)[isa]


def _candidates():
    forced = os.environ.get("FASTNMF_CYTHON_ISA", "").strip().lower()
    names = [name for name, _, _ in VARIANTS]
    if forced:
        if forced not in names:
            raise ImportError(f"FASTNMF_CYTHON_ISA must be one of {names}; got {forced!r}")
        return [forced]
    return supported()


def load_family(family):
    """``(module, isa)``: the widest built variant of ``family`` this CPU supports, or the
    forced one; ImportError saying why (with what setup.py recorded) when none loads."""
    last_error = None
    for name in _candidates():
        try:
            return importlib.import_module(f"{__package__}.{module_name(family, name)}"), name
        except ImportError as exc:  # that variant was not built here
            last_error = exc
    raise ImportError(f"the cython kernels of family {family!r} could not be loaded: "
                      f"{last_error}" + "".join(f"; {why}" for why in build_failures(family)))


def build_failures(family=None, here=None):
    """What setup.py recorded for each module of ``family`` (every family by default) that
    failed to build (``<module>.build-failed.txt`` beside where the module would be, in
    ``here``: this package's folder by default), as lines of text."""
    here = os.path.dirname(os.path.abspath(__file__)) if here is None else here
    out = []
    for fam in FAMILIES if family is None else (family,):
        for name, _, _ in VARIANTS:
            path = os.path.join(here, f"{module_name(fam, name)}.build-failed.txt")
            if os.path.exists(path):
                with open(path) as f:
                    out.append(f.read().strip())
    return out


def load_variant(family, name):
    """The module of one variant of ``family`` (ImportError when it was not built)."""
    return importlib.import_module(f"{__package__}.{module_name(family, name)}")
