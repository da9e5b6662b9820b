"""Build the Cython/OpenMP kernels; package metadata lives in pyproject.toml.

OpenMP is detected at build time by compiling and linking a tiny test program.
When the compiler cannot do it (or ``FASTNMF_NO_OPENMP=1``), the extension is
built without OpenMP and the cython backend runs single-threaded
(``fastnmf._kernels.cython.OPENMP`` is then False).
"""

import os
import shutil
import sys
import tempfile
import textwrap
import time

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

COMPILER_DIRECTIVES = {
    "language_level": 3,
    "boundscheck": False,
    "wraparound": False,
    "cdivision": True,
    "initializedcheck": False,
    "binding": True,
    "embedsignature": True,
}

OPENMP_TEST = textwrap.dedent(
    """\
    #include <omp.h>
    int main(void) {
        int n = 0;
        #pragma omp parallel reduction(+:n)
        n += 1;
        return (n > 0 && omp_get_max_threads() > 0) ? 0 : 1;
    }
    """
)

NO_OPENMP_WARNING = """
################################################################################
# WARNING: building fastnmf WITHOUT OpenMP ({reason}).
#
# fastnmf's cython backend will run SINGLE-THREADED: n_threads is ignored.
# Results are identical, only slower on multi-core machines.
# To get threads, use a compiler with OpenMP support (e.g. gcc, or clang with
# libomp installed) and rebuild; unset FASTNMF_NO_OPENMP if it is set.
################################################################################
"""


def _flags(compiler):
    """(optimisation flags, OpenMP flag) for this compiler family."""
    if compiler.compiler_type == "msvc":
        return ["/O2"], "/openmp"
    # No -ffast-math (NaN must survive) and no -march by default (portable
    # builds); FASTNMF_NATIVE=1 opts in to -march=native for a build that only
    # runs on this machine's CPU (wider SIMD: the float64 HALS sweep runs ~1.8x
    # faster with AVX2 than with baseline SSE2 here).
    # -ffp-contract=off: never fuse a*b+c into an FMA, so the summation order of
    # the kernels is exactly the written one, as in the Numba backend.
    native = ["-march=native"] if os.environ.get("FASTNMF_NATIVE", "0") not in ("", "0") else []
    # -Wno-psabi: GCC and clang note that the static inline helpers passing 256-bit vectors
    # have another ABI without AVX; they are never called across objects, so it is moot.
    return ["-O3", "-ffp-contract=off", "-Wno-psabi"] + native, "-fopenmp"


def _compiles(compiler, flags, source, link):
    """True when ``source`` compiles (and links, if ``link``) with ``flags``."""
    tmp = tempfile.mkdtemp(prefix="fastnmf_build_")
    try:
        src = os.path.join(tmp, "test.c")
        with open(src, "w") as f:
            f.write(source)
        objects = compiler.compile([src], output_dir=tmp, extra_postargs=flags)
        if link:
            compiler.link_executable(
                objects, "test", output_dir=tmp, extra_postargs=flags
            )
        return True
    except Exception:  # CompileError, LinkError, missing headers, ...
        return False
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


#: The families of Cython kernels, one extension each (``fastnmf/_kernels/cython/_<family>.pyx``,
#: sharing ``_common.pxi`` and ``fastnmf_vector.h``): a family that fails to build leaves the
#: others, and fastnmf runs that family's kernels on Numba (``fastnmf config`` says why).
FAMILIES = ("hals", "sparse", "kl", "masked", "nnls")

#: Extra builds of the same kernels for wider SIMD on x86-64, chosen at import time by
#: fastnmf._kernels.cython from the CPU's features (the baseline build runs anywhere): the
#: suffix of the variant's module and its flags.  The results are bitwise those of the
#: baseline build: no -ffast-math, no FMA contraction, so only the vector width changes,
#: never the order of operations.
ISA_SUFFIXES = {"_avx2": ["-mavx2"]}
ISA_VARIANTS = {f"_{family}{suffix}": flags for family in FAMILIES
                for suffix, flags in ISA_SUFFIXES.items()}


def _is_x86_64():
    import platform

    return platform.machine().lower() in ("x86_64", "amd64")


#: Written next to an extension that failed to build, with the reason (see
#: ``BuildExt.build_extension``); fastnmf._kernels.cython._isa reports it.
BUILD_FAILED = "{name}.build-failed.txt"


#: What the first build takes: Cython to C (one process per core), then the C compiler on
#: each family's baseline and ISA variant, one per core: measured on the project's 2-core
#: machine, 60 s for the ten extensions (91 s with Cython's translation in one process), the
#: machine being shared: more when another process takes a core.
COMPILE_SECONDS = 60


def _usable_cpus():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class BuildExt(build_ext):
    """build_ext that adds optimisation flags and OpenMP when the compiler has it.

    It says what it is doing (the compile takes a while, and pip shows it with ``-v``), and
    unless ``-j``/``--parallel`` is given it compiles the extensions (the baseline and its ISA
    variants: the same C, one per vector width) in parallel, one per usable core: setuptools'
    own parallel build (a thread per extension running the compiler, each compiler its own
    process; about 360 MB each).  Measured here: 66 s -> 50 s with both cores free enough,
    no change (60 s against 59 s, interleaved) when another process takes one of the two.
    """

    def finalize_options(self):
        super().finalize_options()
        if self.parallel is None:
            self.parallel = max(1, min(_usable_cpus(), len(self.extensions or ())))
            if self.parallel == 1:
                self.parallel = False

    def run(self):
        self._started = time.perf_counter()
        print(f"fastnmf: compiling the Cython kernels (about {COMPILE_SECONDS} s on 2 cores)...",
              flush=True)
        self._failed = []
        super().run()
        took = time.perf_counter() - self._started
        if self._failed:
            print(f"fastnmf: {len(self._failed)} Cython extension(s) did not compile ({took:.0f} s);"
                  " fastnmf will run on its numba kernels", flush=True)
        else:
            print(f"fastnmf: compiled the Cython kernels in {took:.0f} s", flush=True)

    def build_extension(self, ext):
        """One extension; a failure is recorded, not fatal.  ``pip install`` then still
        succeeds and fastnmf runs on its Numba kernels, ``fastnmf config`` showing why the
        cython backend is missing (the text of :data:`BUILD_FAILED`, written beside where
        the module would be and beside its source).  ``FASTNMF_REQUIRE_BACKENDS=cython``
        (CI) still fails on it."""
        name = BUILD_FAILED.format(name=ext.name.rsplit(".", 1)[-1])
        markers = [os.path.join(os.path.dirname(self.get_ext_fullpath(ext.name)), name),
                   os.path.join(os.path.dirname(os.path.abspath(ext.sources[0])), name)]
        try:
            super().build_extension(ext)
        except Exception as exc:  # CompileError, LinkError, a missing header, ...
            reason = f"{type(exc).__name__}: {exc}"
            for marker in markers:
                os.makedirs(os.path.dirname(marker), exist_ok=True)
                with open(marker, "w") as f:
                    f.write(f"{ext.name} failed to build with the "
                            f"{self.compiler.compiler_type} compiler "
                            f"{(getattr(self.compiler, 'compiler_so', None) or ['?'])[0]}: "
                            f"{reason}\n")
            self._failed.append(ext)
            sys.stderr.write(f"\nfastnmf: WARNING: {ext.name} did not build ({reason}); "
                             "fastnmf will use its numba kernels instead (`fastnmf config` "
                             "says why)\n")
            sys.stderr.flush()
            return
        for marker in markers:
            if os.path.exists(marker):
                os.remove(marker)

    def build_extensions(self):
        # Cython -> C here rather than at setup.py's import (which pip runs for the metadata
        # too), so the messages around the build cover it; cythonize skips a .pyx whose .c is
        # newer.  Only the sources are taken from its new Extension objects: setuptools has
        # already set up the ones in self.extensions.
        c_sources = {e.name: e.sources
                     for e in cythonize(self.extensions, compiler_directives=COMPILER_DIRECTIVES,
                                        nthreads=_usable_cpus())}
        for ext in self.extensions:
            ext.sources = c_sources[ext.name]
        opt, omp = _flags(self.compiler)
        opt = [f for f in opt if _compiles(self.compiler, [f], "int main(void){return 0;}\n", False)]
        native = any(f.startswith("-march") for f in opt)
        variants = {}
        for ext in list(self.extensions):
            name = ext.name.rsplit(".", 1)[-1]
            if name in ISA_VARIANTS:
                flags = ISA_VARIANTS[name]
                if (native or not _is_x86_64() or self.compiler.compiler_type == "msvc"
                        or not _compiles(self.compiler, flags, "int main(void){return 0;}\n", False)):
                    print(f"fastnmf: not building {ext.name} (no {flags[0]} here or a native build)")
                    self.extensions.remove(ext)
                else:
                    variants[ext.name] = flags

        if os.environ.get("FASTNMF_NO_OPENMP", "0") not in ("", "0"):
            use_omp, reason = False, "FASTNMF_NO_OPENMP is set"
        elif _compiles(self.compiler, [omp], OPENMP_TEST, True):
            use_omp, reason = True, ""
        else:
            use_omp, reason = False, f"the compiler does not support {omp}"

        if use_omp:
            print(f"fastnmf: building the cython kernels with OpenMP ({omp})")
        else:
            sys.stderr.write(NO_OPENMP_WARNING.format(reason=reason))
            sys.stderr.flush()

        for ext in self.extensions:
            ext.extra_compile_args = opt + variants.get(ext.name, []) + ([omp] if use_omp else [])
            ext.extra_link_args = [omp] if use_omp else []
        jobs = self.parallel if self.parallel is not True else _usable_cpus()
        print(f"fastnmf: C compiler on {len(self.extensions)} extension(s), "
              f"{jobs or 1} at a time", flush=True)
        self._failed = []
        super().build_extensions()
        # what did not build is not an output: nothing copies or installs it
        for ext in self._failed:
            self.extensions.remove(ext)


extensions = [
    Extension(
        f"fastnmf._kernels.cython.{name}",
        [f"fastnmf/_kernels/cython/{name}.pyx"],
        include_dirs=[np.get_include(), "fastnmf/_kernels/cython"],  # fastnmf_vector.h
        depends=["fastnmf/_kernels/cython/fastnmf_vector.h",
                 "fastnmf/_kernels/cython/_common.pxi",
                 f"fastnmf/_kernels/cython/_{name.split('_')[1]}.pyx"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_9_API_VERSION")],
    )
    for name in [*(f"_{family}" for family in FAMILIES), *ISA_VARIANTS]
]

setup(
    ext_modules=extensions,
    cmdclass={"build_ext": BuildExt},
)
