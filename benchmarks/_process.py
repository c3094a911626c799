"""Whole-process measurements shared by the benchmark scripts.

* :func:`run_timed`: a command under ``/usr/bin/time -v``: its stdout, wall time, peak
  resident memory and the load average before and after; JAX's persistent compilation cache
  off, so every run pays its compilation, as a user's first run does.
* :func:`emit_report`: print a JSON report and optionally write it to a file.
* :data:`HIGH_WATER_KIB`: source of a ``high_water_kib()`` for child scripts: the peak
  resident memory of the child's own address space (``VmHWM``); ``ru_maxrss`` would not do,
  as Linux carries it over from the parent at fork and keeps it across exec.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path
from typing import NamedTuple

HIGH_WATER_KIB = '''
def high_water_kib():
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return None
'''


class TimedRun(NamedTuple):
    stdout: str
    wall_s: float
    peak_rss_mib: float
    load_average_before: tuple[float, float, float]
    load_average_after: tuple[float, float, float]


def run_timed(command: list[str]) -> TimedRun:
    """Runs ``command`` under ``/usr/bin/time -v`` (compile cache off); raises on failure."""
    timed = ["/usr/bin/time", "-v", *command]
    load_before = os.getloadavg()
    start = time.perf_counter()
    env = {**os.environ, "ENCORE_JAX_COMPILE_CACHE": "0"}
    done = subprocess.run(timed, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-4000:]}")
    peak = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)[1])
    return TimedRun(done.stdout, round(wall, 1), round(peak / 1024, 1), load_before,
                    os.getloadavg())


def emit_report(report: dict, out: str | None) -> None:
    """Prints ``report`` as indented JSON and, when ``out`` is given, writes it there too."""
    text = json.dumps(report, indent=2)
    print(text)
    if out:
        Path(out).write_text(text + "\n")
