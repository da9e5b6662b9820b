"""The console script: `fastnmf demo` and `fastnmf config`."""

import subprocess
import sys

from fastnmf._cli import main


def test_demo_runs_and_compares_with_sklearn(capsys, tmp_path):
    out_png = tmp_path / "components.png"
    assert main(["demo", "--max-iter", "20", "--repeats", "1", "--output", str(out_png)]) == 0
    out = capsys.readouterr().out
    assert "scikit-learn" in out and "cython" in out and "numba" in out
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert not out_png.exists()
    else:
        assert out_png.exists() and out_png.stat().st_size > 0


def test_demo_bad_values_exit_2(capsys):
    assert main(["demo", "--n-components", "0", "--no-plot"]) == 2
    assert "n-components" in capsys.readouterr().err


def test_config_and_module_entry_point():
    assert main(["config"]) == 0
    done = subprocess.run([sys.executable, "-m", "fastnmf", "config"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "backends" in done.stdout
