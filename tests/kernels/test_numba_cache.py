"""Numba's on-disk cache of fastnmf's kernels: a per-user folder, never the package folder.

Each test runs a fresh interpreter (the folder is chosen once per process, at import) with
an environment made here: no inherited FASTNMF_CACHE_DIR / NUMBA_CACHE_DIR / XDG_CACHE_HOME,
and HOME pointing into tmp_path, so nothing is written to the real user's cache.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("numba")

import fastnmf  # noqa: E402

PACKAGE_DIR = Path(fastnmf.__file__).resolve().parent
ENV_KEYS = ("FASTNMF_CACHE_DIR", "NUMBA_CACHE_DIR", "XDG_CACHE_HOME", "NUMBA_CACHE_LOCATOR_CLASSES",
            "NUMBA_DISABLE_JIT")

# Prints where the cache went, after one short fit on the numba backend (compiles the HALS
# sweep and the loss, then numba saves them), with the loss and the numpy reference's loss.
FIT = textwrap.dedent("""\
    import json, sys, warnings
    import numpy as np
    import fastnmf
    from fastnmf._kernels.numba import _cache, _common
    rng = np.random.default_rng(0)
    X = rng.random((40, 7)) @ rng.random((7, 30))
    losses = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for backend in ("numba", "numpy"):
            m = fastnmf.NMF(4, solver="cd", max_iter=15, random_state=0, backend=backend).fit(X)
            losses[backend] = float(m.reconstruction_err_)
    print(json.dumps({"dir": _cache.CACHE_DIR, "source": _cache.CACHE_SOURCE,
                      "jit_cache": _common.JIT["cache"], "losses": losses}))
""")

CHOICE = textwrap.dedent("""\
    import json
    from fastnmf._kernels.numba import _cache, _common
    print(json.dumps({"dir": _cache.CACHE_DIR, "source": _cache.CACHE_SOURCE,
                      "jit_cache": _common.JIT["cache"], "key": _cache.version_key()}))
""")


def _env(tmp_path, **extra):
    env = {k: v for k, v in os.environ.items() if k not in ENV_KEYS}
    env["HOME"] = str(tmp_path / "home")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update({k: str(v) for k, v in extra.items()})
    return env


def _run(code, tmp_path, **extra):
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path, env=_env(tmp_path, **extra), timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _numba_files(root):
    return {(str(p), p.stat().st_mtime_ns) for p in Path(root).rglob("*")
            if p.suffix in (".nbi", ".nbc")}


def test_kernels_cache_in_the_chosen_folder_not_in_the_package(tmp_path):
    before = _numba_files(PACKAGE_DIR)
    chosen = tmp_path / "fastnmf-cache"
    out = _run(FIT, tmp_path, FASTNMF_CACHE_DIR=chosen)
    assert out["source"] == "FASTNMF_CACHE_DIR" and out["jit_cache"] is True
    folder = Path(out["dir"])
    assert folder.parent == chosen
    written = {Path(p).name for p, _ in _numba_files(folder)}
    # The sweep and the loss the fit ran, each an index file and at least one data file.
    assert any(n.startswith("hals._hals_sweep-") and n.endswith(".nbi") for n in written), written
    assert any(n.startswith("hals._hals_sweep-") and n.endswith(".nbc") for n in written), written
    assert any(n.startswith("loss.") for n in written), written
    assert _numba_files(PACKAGE_DIR) == before  # nothing new or rewritten under fastnmf/
    assert _numba_files(tmp_path / "home") == set()

    # A second process loads them: the same files, none added (the same signatures).
    again = _run(FIT, tmp_path, FASTNMF_CACHE_DIR=chosen)
    assert again["losses"] == out["losses"]
    assert {Path(p).name for p, _ in _numba_files(folder)} == written


def test_default_folder_is_the_user_cache(tmp_path):
    out = _run(CHOICE, tmp_path)
    assert out["source"] == "user cache folder"
    if sys.platform.startswith("linux"):
        assert Path(out["dir"]) == tmp_path / "home" / ".cache" / "fastnmf" / out["key"]
        xdg = _run(CHOICE, tmp_path, XDG_CACHE_HOME=tmp_path / "xdg")
        assert Path(xdg["dir"]) == tmp_path / "xdg" / "fastnmf" / out["key"]
    assert Path(out["dir"]).is_dir()
    key = out["key"]
    assert fastnmf.__version__ in key and f"py{sys.version_info[0]}{sys.version_info[1]}" in key
    import numba
    assert f"numba{numba.__version__}" in key


def test_env_overrides_in_order(tmp_path):
    numba_dir = tmp_path / "numba-cache"
    own = tmp_path / "own"
    out = _run(CHOICE, tmp_path, NUMBA_CACHE_DIR=numba_dir)
    assert out["source"] == "NUMBA_CACHE_DIR"
    assert Path(out["dir"]) == numba_dir / "fastnmf" / out["key"]
    out = _run(CHOICE, tmp_path, NUMBA_CACHE_DIR=numba_dir, FASTNMF_CACHE_DIR=own)
    assert out["source"] == "FASTNMF_CACHE_DIR"
    assert Path(out["dir"]) == own / out["key"]
    # An unusable FASTNMF_CACHE_DIR (below a regular file) falls through to the next one.
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    out = _run(CHOICE, tmp_path, NUMBA_CACHE_DIR=numba_dir, FASTNMF_CACHE_DIR=blocker / "sub")
    assert out["source"] == "NUMBA_CACHE_DIR"


def test_nothing_writable_still_fits(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    before = _numba_files(PACKAGE_DIR)
    out = _run(FIT, tmp_path, FASTNMF_CACHE_DIR=blocker / "a", NUMBA_CACHE_DIR=blocker / "b",
               XDG_CACHE_HOME=blocker / "c", HOME=blocker / "home")
    assert out["dir"] is None and out["jit_cache"] is False
    numba_loss, ref_loss = out["losses"]["numba"], out["losses"]["numpy"]
    assert abs(numba_loss - ref_loss) <= 1e-8 * ref_loss
    assert _numba_files(PACKAGE_DIR) == before


def test_other_packages_functions_keep_numbas_own_locator(tmp_path):
    """Our locator answers only for fastnmf's kernel files: a user's cached function still
    goes to its own __pycache__ (numba's default), next to its source."""
    mod = tmp_path / "userpkg"
    mod.mkdir()
    (mod / "userfunc.py").write_text(textwrap.dedent("""\
        import numba

        @numba.njit(cache=True)
        def twice(x):
            return 2 * x
    """))
    code = textwrap.dedent("""\
        import json, sys
        sys.path.insert(0, %r)
        import fastnmf._kernels.numba  # registers fastnmf's locator
        from fastnmf._kernels.numba import _cache
        from numba.core import caching
        import userfunc
        assert userfunc.twice(21) == 42
        impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl
        print(json.dumps({"user": userfunc.twice._cache.cache_path, "dir": _cache.CACHE_DIR,
                          "first": impl._locator_classes[0].__name__}))
    """) % str(mod)
    out = _run(code, tmp_path, FASTNMF_CACHE_DIR=tmp_path / "own")
    assert out["first"] == "FastnmfCacheLocator"
    assert Path(out["user"]) == mod / "__pycache__"
    assert any(p.suffix == ".nbi" for p in (mod / "__pycache__").iterdir())
    assert _numba_files(out["dir"]) == set()  # the user's function is not in fastnmf's folder
