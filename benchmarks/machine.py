"""What the benchmark scripts say of the machine they ran on."""

import os
import platform


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
