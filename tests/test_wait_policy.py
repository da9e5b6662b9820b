"""fastnmf's OpenMP wait policy (fastnmf.parallel.wait_policy): ``GOMP_SPINCOUNT=1000`` set at
``import fastnmf`` only when the user set neither ``OMP_WAIT_POLICY`` nor ``GOMP_SPINCOUNT``,
before the OpenMP runtime is loaded, seen by that runtime, never changing a number (LLVM's
libomp, in a clang build, is left as it is).  No timing here (benchmarks/loaded_machine.py
measures)."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from fastnmf._backends import backend_status
from fastnmf.parallel import wait_policy

WAIT_VARS = wait_policy.USER_VARS


def _clean_env(**extra):
    """This process's environment without any wait variable (pytest's process imported
    fastnmf, which set one), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in WAIT_VARS}
    env.update(extra)
    return env


def _run(code, **extra):
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=_clean_env(**extra),
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return done


def _fresh(monkeypatch):
    monkeypatch.setattr(wait_policy, "_state", {"applied": False, "set": {}, "user": {},
                                                "loaded_before": None, "at_load": None})
    for name in WAIT_VARS:
        monkeypatch.delenv(name, raising=False)


# ------------------------------------------------------------------ apply(): only when absent
def test_apply_sets_the_spin_count_when_nothing_is_set(monkeypatch):
    _fresh(monkeypatch)
    assert wait_policy.apply() == {"GOMP_SPINCOUNT": "1000"}
    assert os.environ["GOMP_SPINCOUNT"] == "1000"
    assert "OMP_WAIT_POLICY" not in os.environ and "KMP_BLOCKTIME" not in os.environ
    assert wait_policy.status()["set"] == {"GOMP_SPINCOUNT": "1000"}
    assert wait_policy.status()["user"] == {}


@pytest.mark.parametrize("name, value", [("OMP_WAIT_POLICY", "active"),
                                         ("OMP_WAIT_POLICY", "passive"),
                                         ("GOMP_SPINCOUNT", "300000"),
                                         ("GOMP_SPINCOUNT", "1000")])
def test_apply_keeps_a_user_setting(monkeypatch, name, value):
    _fresh(monkeypatch)
    monkeypatch.setenv(name, value)
    assert wait_policy.apply() == {}
    assert os.environ[name] == value  # kept as the user wrote it
    for other in WAIT_VARS:
        if other != name:
            assert other not in os.environ  # and nothing added beside it
    assert wait_policy.status()["user"] == {name: value}


@pytest.mark.parametrize("name", ["KMP_BLOCKTIME", "KMP_LIBRARY"])
def test_libomp_variables_do_not_stop_the_libgomp_default(monkeypatch, name):
    """libgomp does not read KMP_* (an MKL user's KMP_BLOCKTIME is not about libgomp)."""
    _fresh(monkeypatch)
    monkeypatch.setenv(name, "7")
    assert wait_policy.apply() == {"GOMP_SPINCOUNT": "1000"}
    assert os.environ[name] == "7"


def test_apply_runs_once(monkeypatch):
    _fresh(monkeypatch)
    wait_policy.apply()
    monkeypatch.setenv("GOMP_SPINCOUNT", "5")  # the user changes it later: kept
    assert wait_policy.apply() == {"GOMP_SPINCOUNT": "1000"}
    assert os.environ["GOMP_SPINCOUNT"] == "5"


# ------------------------------------------------------------ in a fresh process: before load
def test_set_at_import_before_the_runtime_loads():
    """A process whose environment has no wait variable gets the spin count from
    ``import fastnmf``, while no OpenMP runtime of fastnmf's is loaded yet, and the Cython
    extensions load it later with the variable already there."""
    done = _run("""
        import json, os
        os.environ.pop('OMP_WAIT_POLICY', None)
        import fastnmf
        from fastnmf.parallel import wait_policy
        out = {'env': os.environ.get('GOMP_SPINCOUNT'),
               'runtimes_after_import': wait_policy.loaded_runtimes()}
        try:
            import fastnmf._kernels.cython
        except ImportError:
            out['cython'] = False
        else:
            out['cython'] = True
        out['runtimes_after_load'] = wait_policy.loaded_runtimes()
        out['status'] = wait_policy.status()
        print(json.dumps(out))
    """)
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["env"] == "1000"
    if out["runtimes_after_import"] is None:
        pytest.skip("/proc/self/maps unreadable: cannot tell which runtimes are loaded")
    assert out["runtimes_after_import"] == []  # import fastnmf loads no OpenMP runtime
    status = out["status"]
    assert status["set"].get("GOMP_SPINCOUNT") == "1000" and status["loaded_before"] == []
    if out["cython"]:
        assert status["env_at_extension_load"]["GOMP_SPINCOUNT"] == "1000"
        assert status["effective"] is True


_DISPLAY = """
    import ctypes, os, sys
    import fastnmf._kernels.cython as cy
    from fastnmf.parallel import wait_policy
    gomp = [p for p in wait_policy.loaded_runtimes() or [] if 'libgomp.so.1' in p]
    if not cy.OPENMP or not gomp:
        print('NO-LIBGOMP'); sys.exit(0)
    sys.stderr.flush()
    ctypes.CDLL(gomp[0]).omp_display_env(1)   # the runtime's own settings, to stderr
"""


@pytest.mark.parametrize("extra, spincount", [({}, "1000"),
                                              ({"GOMP_SPINCOUNT": "300000"}, "300000"),
                                              ({"OMP_WAIT_POLICY": "PASSIVE"}, "0"),
                                              ({"OMP_WAIT_POLICY": "ACTIVE"}, "30000000000")])
def test_libgomp_sees_it(extra, spincount):
    """What libgomp itself uses (``omp_display_env``): spin count 1000 by fastnmf's default;
    the user's choice when the user made one."""
    if backend_status()["cython"] is not None:
        pytest.skip("no cython backend")
    done = _run(_DISPLAY, **extra)
    if "NO-LIBGOMP" in done.stdout:
        pytest.skip("the cython extensions are not linked to libgomp (clang/libomp build?)")
    assert f"GOMP_SPINCOUNT = '{spincount}'" in done.stderr, done.stderr


# ------------------------------------------------------------ it changes no number
_FIT = """
    import sys
    import numpy as np, scipy.sparse as sp
    import fastnmf
    rng = np.random.default_rng(0)
    X = sp.random(300, 200, density=0.2, random_state=1, format='csr')
    X.data = rng.poisson(3.0, X.nnz).astype(float) + 1
    D = np.abs(rng.standard_normal((400, 300)))
    out = []
    for data, kw in [(X, dict(solver='cd')), (X, dict(beta_loss='kullback-leibler')),
                     (D, dict(solver='cd'))]:
        m = fastnmf.NMF(5, init='random', random_state=0, max_iter=60, n_threads=2,
                        backend=sys.argv[1], **kw)
        W = m.fit_transform(data)
        out += [W, m.components_, m.reconstruction_err_]
    np.save(sys.argv[2], np.concatenate([np.ravel(o) for o in out]))
"""


@pytest.mark.parametrize("backend", ["cython", "numba"])
def test_results_do_not_depend_on_it(tmp_path, backend):
    if backend_status()[backend] is not None:
        pytest.skip(f"no {backend} backend")
    outs = []
    for i, extra in enumerate([{}, {"GOMP_SPINCOUNT": "300000"}, {"OMP_WAIT_POLICY": "PASSIVE"},
                               {"OMP_WAIT_POLICY": "ACTIVE"}]):
        path = tmp_path / f"{i}.npy"
        done = subprocess.run([sys.executable, "-c", textwrap.dedent(_FIT), backend, str(path)],
                              env=_clean_env(**extra), capture_output=True, text=True,
                              timeout=600, check=False)
        assert done.returncode == 0, done.stderr
        outs.append(np.load(path))
    for other in outs[1:]:
        np.testing.assert_array_equal(outs[0], other)


@pytest.mark.parametrize("extra,expected", [
    ({}, "fastnmf set GOMP_SPINCOUNT=1000"),
    ({"OMP_WAIT_POLICY": "PASSIVE"}, "as set by the user: OMP_WAIT_POLICY=PASSIVE"),
])
def test_show_config_says_how_threads_wait(extra, expected):
    done = _run("""
        import fastnmf
        print(fastnmf._config.config_info()["threads"]["openmp_wait"])
        """, **extra)
    assert done.stdout.strip() == expected
