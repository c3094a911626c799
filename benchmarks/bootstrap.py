"""The bootstrap of an accuracy against honest baselines; JSON out.

    python -m benchmarks.bootstrap --out benchmarks/results/bootstrap_cpu.json
    python -m benchmarks.bootstrap --items 100000 --repeats 3        # quick

The task: a percentile interval of the mean of ``N`` pair credits in {0, 1} (share about
0.62), ``B`` resamples. Implementations, each in its own child process (so that its peak
resident memory, ``VmHWM``, is its own and its first call includes its own compilation):

* ``encore_jax.bootstrap_ci``: the library's default (``method="auto"``: the exact
  multinomial over the cells of equal credits, :mod:`encore_jax.metrics._cells`);
* ``encore_jax.bootstrap_ci (method='draws')``: the library's item draws;
* ``numpy multinomial over cells``: the same algorithm as the library's default in NumPy
  (``np.unique`` for the cells, ``Generator.multinomial(n, m_c / n, size=B)`` for the
  counts, float64, exact), the fair baseline for the library's speed;
* ``numpy item-draw loop``: ``rng.integers`` + fancy indexing + mean per resample (called
  once: about 5 s at 1e6 x 1000).

Stopping rule, fixed in advance: each implementation is called once (``first_call_s``),
then ``--repeats`` more times (``warm_median_s`` their median; the item-draw loop only
once). Ratios (``ratio_to`` = that baseline's warm median / this one's, above 1 = faster)
use numbers measured in this run only. The intervals are recorded beside normal theory
``p +- z sqrt(p (1 - p) / N)``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from typing import Any

from benchmarks._process import HIGH_WATER_KIB, emit_report

IMPLEMENTATIONS = ("encore_jax.bootstrap_ci", "encore_jax.bootstrap_ci (method='draws')",
                   "numpy multinomial over cells", "numpy item-draw loop")
CALLED_ONCE = ("numpy item-draw loop",)
BASELINES = ("numpy multinomial over cells", "numpy item-draw loop")

CHILD = HIGH_WATER_KIB + '''
import json, statistics, sys, time
import numpy as np

name, n, resamples, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
credit = (np.random.default_rng(n).normal(0.3, 1.0, size=n) > 0).astype(np.float32)

if name.startswith("encore_jax"):
    import jax
    from encore_jax.metrics.bootstrap import bootstrap_ci

    values, key = jax.device_put(credit), jax.random.key(0)
    method = "draws" if "draws" in name else "auto"

    def run():
        ci = jax.block_until_ready(bootstrap_ci(key, values, num_resamples=resamples,
                                                method=method))
        return float(ci.low), float(ci.high)
elif name == "numpy multinomial over cells":
    def run():
        rng = np.random.default_rng(0)
        cells, counts = np.unique(credit, return_counts=True)
        y = rng.multinomial(n, counts / n, size=resamples)  # [B, C], exact
        replicates = y @ cells.astype(np.float64) / n
        low, high = np.percentile(replicates, [2.5, 97.5])
        return float(low), float(high)
else:
    def run():
        rng = np.random.default_rng(0)
        replicates = np.array([credit[rng.integers(0, n, n)].mean() for _ in range(resamples)])
        low, high = np.percentile(replicates, [2.5, 97.5])
        return float(low), float(high)

start = time.perf_counter()
interval = run()
first = time.perf_counter() - start
warm = []
for _ in range(repeats):
    start = time.perf_counter()
    run()
    warm.append(time.perf_counter() - start)
print(json.dumps({"first_call_s": first, "warm_s": warm,
                  "warm_median_s": statistics.median(warm) if warm else first,
                  "interval": interval, "peak_rss_mib": high_water_kib() / 1024,
                  "mean": float(credit.astype(np.float64).mean())}))
'''


def measure(name: str, n: int, resamples: int, repeats: int) -> dict[str, Any]:
    """One implementation in a child process (compile cache off)."""
    env = {**os.environ, "ENCORE_JAX_COMPILE_CACHE": "0"}
    done = subprocess.run([sys.executable, "-c", CHILD, name, str(n), str(resamples),
                           str(0 if name in CALLED_ONCE else repeats)],
                          capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    import jax

    load_before = os.getloadavg()
    rows = {name: measure(name, args.items, args.resamples, args.repeats)
            for name in IMPLEMENTATIONS}
    p = rows["encore_jax.bootstrap_ci"]["mean"]
    half = 1.959963984540054 * (p * (1 - p) / args.items) ** 0.5
    for row in rows.values():
        row["ratio_to"] = {b: rows[b]["warm_median_s"] / row["warm_median_s"]
                           for b in BASELINES}
        low, high = row["interval"]
        row["width_vs_normal_theory"] = (high - low) / (2 * half)
    load_after = os.getloadavg()
    report = {
        "command": "python -m benchmarks.bootstrap " + " ".join(argv or sys.argv[1:]),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "size": {"items": args.items, "resamples": args.resamples, "repeats": args.repeats},
        "backend": jax.default_backend(),
        "machine": {"cpu": platform.processor() or platform.machine(),
                    "cpu_count": os.cpu_count(), "jax": jax.__version__},
        "load_average_before": load_before, "load_average_after": load_after,
        "loaded": max(load_before[0], load_after[0]) > 1.0,
        "normal_theory_interval": [p - half, p + half],
        "implementations": rows,
    }
    emit_report(report, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
