"""The registry: selection, errors, environment, configuration report."""

import io
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fastnmf
from fastnmf._backends import BACKENDS, backend_status, get_backend, resolve_backend_name

from ..conftest import REQUIRED, _use


pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def test_required_backends_are_available():
    """CI sets FASTNMF_REQUIRE_BACKENDS=cython,numba: a backend that failed to build fails here."""
    status = backend_status()
    for name in REQUIRED:
        assert name in BACKENDS, f"FASTNMF_REQUIRE_BACKENDS names unknown backend {name!r}"
        assert status[name] is None, f"required backend {name!r} unavailable: {status[name]}"
        if name == "cython":  # every family compiled: none served by numba
            import fastnmf._kernels.cython as cy

            assert not cy.FALLBACK, f"cython families not built: {cy.FALLBACK}"


def test_numpy_backend_always_available():
    assert "numpy" in fastnmf.available_backends()
    assert fastnmf.available_backends() == [b for b in BACKENDS if backend_status()[b] is None]


def test_auto_prefers_cython_then_numba(monkeypatch):
    monkeypatch.delenv("FASTNMF_BACKEND", raising=False)
    assert resolve_backend_name("auto") == fastnmf.available_backends()[0]
    assert resolve_backend_name(None) == fastnmf.available_backends()[0]
    assert resolve_backend_name("NUMPY") == "numpy"


def test_environment_variable_sets_the_default(monkeypatch):
    monkeypatch.setenv("FASTNMF_BACKEND", "numpy")
    assert resolve_backend_name("auto") == "numpy"
    X = np.random.default_rng(0).random((10, 6))
    assert fastnmf.NMF(2, max_iter=3).fit(X).backend_ == "numpy"
    monkeypatch.setenv("FASTNMF_BACKEND", "fortran")
    with pytest.raises(ValueError, match="FASTNMF_BACKEND='fortran' is not a backend"):
        resolve_backend_name("auto")


def test_unavailable_backend_error_says_why(monkeypatch):
    import fastnmf._backends as b

    monkeypatch.setitem(b._loaded, "numba", (None, "ImportError: No module named 'numba'"))
    with pytest.raises(ValueError) as info:
        get_backend("numba")
    msg = str(info.value)
    assert "backend 'numba' is unavailable: ImportError: No module named 'numba'; available: [" in msg
    assert "'numba'" not in msg.split("; available: ")[1]


def test_show_config_reports_backends_threads_blas():
    buf = io.StringIO()
    fastnmf.show_config(file=buf)
    out = buf.getvalue()
    for word in ("numpy", "numba", "cython", "threads", "BLAS", "usable_cores"):
        assert word in out
    for name, reason in backend_status().items():
        assert (reason or "available") in out


def test_import_compiles_nothing_and_loads_no_backend():
    code = (
        "import sys, fastnmf; "
        "assert 'numba' not in sys.modules, 'numba imported at import time'; "
        "assert 'fastnmf._kernels.cython' not in sys.modules; print('ok')"
    )
    env = {k: v for k, v in os.environ.items() if k != "FASTNMF_BACKEND"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


# ------------------------------------------------ SIMD builds of the cython kernels
def test_cython_isa_choice_and_override(monkeypatch):
    _use("cython")
    from fastnmf._kernels.cython import _isa

    assert _isa.supported({}) == ["baseline"]
    assert _isa.supported({"AVX2": True}) == ["avx2", "baseline"]
    monkeypatch.setenv("FASTNMF_CYTHON_ISA", "baseline")
    for family in _isa.FAMILIES:
        module, isa = _isa.load_family(family)
        assert isa == "baseline" and module.__name__.endswith(f"._{family}")
    monkeypatch.setenv("FASTNMF_CYTHON_ISA", "sse9")
    with pytest.raises(ImportError, match=r"FASTNMF_CYTHON_ISA must be one of \['avx2', 'baseline'\]; got 'sse9'"):
        _isa.load_family("hals")


def test_cython_isa_builds_agree_bitwise():
    """The wider-SIMD builds run the same operations in the same order: equal results."""
    _use("cython")
    import scipy.sparse as sp

    from fastnmf._kernels.cython import _isa

    runnable = []
    for name in _isa.supported():
        try:
            mods = {f: _isa.load_variant(f, name) for f in ("hals", "sparse", "kl")}
        except ImportError:
            continue  # not built here (e.g. not x86-64)
        runnable.append((name, type("Variant", (), {
            "csr_matmul": staticmethod(mods["sparse"].csr_matmul),
            "hals_sweep": staticmethod(mods["hals"].hals_sweep),
            "kl_cd_sweep_csr": staticmethod(mods["kl"].kl_cd_sweep_csr)})))
    assert runnable and runnable[-1][0] == "baseline"
    rng = np.random.default_rng(0)
    X = sp.random(300, 200, density=0.05, random_state=1, format="csr") * 5
    X.data = np.ceil(X.data)
    for dtype in (np.float64, np.float32):
        Xd = X.astype(dtype)
        W = rng.random((300, 24)).astype(dtype)
        Ht = rng.random((200, 24)).astype(dtype)
        outs = []
        for _, mod in runnable:
            W1, W2 = W.copy(), W.copy()
            XHt = np.empty_like(W)
            mod.csr_matmul(Xd.data, Xd.indices, Xd.indptr, Ht, XHt, 2)
            v = mod.hals_sweep(W1, np.ascontiguousarray(Ht.T @ Ht), XHt, 0.1, 0.2,
                               np.arange(24, dtype=np.intp), 2)
            r = mod.kl_cd_sweep_csr(Xd.data, Xd.indices, Xd.indptr, W2, Ht,
                                    Ht.sum(0, dtype=np.float64), 0.0, 0.0, 3, True, 2)
            outs.append((XHt, W1, v, W2, r))
        for other in outs[:-1]:
            for a, b in zip(other, outs[-1]):
                np.testing.assert_array_equal(a, b)


def test_a_failed_cython_build_says_why(tmp_path):
    """setup.py records why an extension did not build beside where it would be; the
    cython backend's import error (what `fastnmf config` shows) carries that text."""
    import importlib.util
    from pathlib import Path

    root = Path(fastnmf.__file__).parent
    spec = importlib.util.spec_from_file_location(
        "fastnmf_isa_probe", root / "_kernels" / "cython" / "_isa.py")
    isa = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(isa)
    assert isa.build_failures(here=str(tmp_path)) == []
    why = "fastnmf._kernels.cython._kl failed to build with unix (cc): CompileError: boom"
    (tmp_path / "_kl.build-failed.txt").write_text(why + "\n")
    (tmp_path / "unrelated.txt").write_text("not a build record")
    assert isa.build_failures(here=str(tmp_path)) == [why]
    assert isa.build_failures("kl", here=str(tmp_path)) == [why]
    assert isa.build_failures("hals", here=str(tmp_path)) == []
    setup_py = root.parent / "setup.py"
    if setup_py.exists():  # a source tree: the name setup.py writes is the one read here
        assert 'BUILD_FAILED = "{name}.build-failed.txt"' in setup_py.read_text()


def test_a_missing_family_runs_on_numba_and_config_says_why(tmp_path):
    """A family whose extension does not load (it did not compile here) is served by the
    numba kernels, FALLBACK says why and `fastnmf config` shows it; the other families stay
    compiled.  Run in a fresh interpreter where the kl extensions cannot be imported."""
    _use("cython")
    _use("numba")
    code = textwrap.dedent("""
        import importlib.abc, sys

        class NoKL(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path, target=None):
                if name.startswith("fastnmf._kernels.cython._kl"):
                    raise ImportError("simulated: _kl did not build")
                return None

        sys.meta_path.insert(0, NoKL())
        import fastnmf._kernels.cython as c
        import fastnmf._kernels.numba as nb
        from fastnmf import show_config
        assert set(c.FALLBACK) == {"kl"}, c.FALLBACK
        assert "simulated" in c.FALLBACK["kl"]
        assert c.kl_cd_sweep is nb.kl_cd_sweep
        assert c.hals_sweep is c.MODULES["hals"].hals_sweep
        import io
        out = io.StringIO()
        show_config(file=out)
        assert "cython family 'kl' runs on numba" in out.getvalue(), out.getvalue()
        import numpy as np
        from fastnmf import NMF
        X = np.random.default_rng(0).random((30, 20))
        NMF(3, beta_loss="kullback-leibler", solver="cd", backend="cython", max_iter=5).fit(X)
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("ok")
