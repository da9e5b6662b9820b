"""What the benchmark scripts say of the machine they ran on."""

import os
import platform
import subprocess
from pathlib import Path


def cpu_model():
    """The CPU's model name (from /proc/cpuinfo), else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_line(when):
    """A results-file line with the load average now."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return f"- load average {when}: unavailable"
    return f"- load average {when}: {one:.1f} / {five:.1f} / {fifteen:.1f} (1 / 5 / 15 min)"


def fastnmf_revision():
    """The commit of the fastnmf being measured, with a mark when files under fastnmf/ have
    uncommitted changes; 'unknown' without git."""
    import fastnmf

    root = Path(fastnmf.__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True).stdout.strip() or "unknown"
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "fastnmf"],
                               capture_output=True, text=True).stdout.strip()
    except OSError:
        return "unknown"
    return commit + (" (with uncommitted changes under fastnmf/)" if dirty else "")


def write_report(lines, out=None):
    """The report's lines joined, written to ``out`` when given, and printed."""
    text = "\n".join(lines) + "\n"
    if out:
        with open(out, "w") as f:
            f.write(text)
    print(text)
