"""Reading a large integer CSV: the public readers against pyarrow's own reader.

Writes ``rows x 20`` CSVs of levels ``0..L-1`` (200,000 and 3,000,000 rows by default), then
times, each in a fresh subprocess (median of ``--repeats`` runs; peak RSS from ``VmHWM``):

* ``baseline``: ``pyarrow.csv.read_csv`` + a NumPy count of each column's levels;
* ``read_ratings``: :func:`encore_jax.read_ratings` (validated ``int32`` ratings and mask);
* ``streaming``: :func:`encore_jax.streaming_rating_histogram` on the path (chunks, counts);
  ``median_seconds`` includes compiling the histogram kernel in the fresh process,
  ``median_warm_seconds`` is a second call in the same process.

pyarrow (csv, compute) is imported before the clock starts for every method.

The level counts of every method must equal the generator's exactly. Target: each method
within 2x of the baseline.

    python -m benchmarks.io_read                      # 200k and 3M rows
    python -m benchmarks.io_read --rows 200000 --repeats 3 --out results/io_read.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmarks._process import HIGH_WATER_KIB, emit_report

RULES = 20
LEVELS = 5

CHILD = r"""
import json, sys, time
import numpy as np

{high_water_kib}
method, path, levels = sys.argv[1], sys.argv[2], int(sys.argv[3])
import pyarrow.compute, pyarrow.csv as pacsv  # imported before the clock starts, for all
warm = None
if method == "baseline":
    start = time.perf_counter()
    table = pacsv.read_csv(path)
    counts = np.stack([np.bincount(table.column(i).to_numpy(), minlength=levels)
                       for i in range(table.num_columns)])
else:
    import encore_jax as ej
    from encore_jax.workflows.streaming import streaming_rating_histogram
    start = time.perf_counter()
    if method == "read_ratings":
        t = ej.read_ratings(path, num_levels=levels)
        counts = np.stack([np.bincount(t.ratings[t.mask[:, k], k], minlength=levels)
                           for k in range(t.ratings.shape[1])])
    else:
        counts = streaming_rating_histogram(path, levels)
seconds = time.perf_counter() - start
if method == "streaming":  # again in the same process: the histogram kernel is compiled
    again = time.perf_counter()
    streaming_rating_histogram(path, levels)
    warm = time.perf_counter() - again
print(json.dumps({"seconds": seconds, "warm_seconds": warm, "hwm_kib": high_water_kib(),
                  "counts": np.asarray(counts).tolist()}))
""".replace("{high_water_kib}", HIGH_WATER_KIB)

METHODS = ("baseline", "read_ratings", "streaming")


def write_csv(path: Path, rows: int, seed: int = 0) -> np.ndarray:
    """Writes the CSV (through pyarrow, in blocks); returns the exact counts ``[K, L]``."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(seed)
    counts = np.zeros((RULES, LEVELS), dtype=np.int64)
    names = [f"rule_{k}" for k in range(RULES)]
    with pacsv.CSVWriter(path, pa.schema([(n, pa.int8()) for n in names])) as writer:
        for start in range(0, rows, 500_000):
            block = rng.integers(0, LEVELS, size=(min(500_000, rows - start), RULES), dtype=np.int8)
            counts += np.stack([np.bincount(block[:, k], minlength=LEVELS) for k in range(RULES)])
            writer.write_table(pa.table({n: block[:, k] for k, n in enumerate(names)}))
    # header names are quoted by Arrow; the readers take either
    return counts


def measure(path: Path, method: str, repeats: int, expected: np.ndarray) -> dict:
    runs = []
    for _ in range(repeats):
        done = subprocess.run([sys.executable, "-c", CHILD, method, str(path), str(LEVELS)],
                              capture_output=True, text=True, check=True)
        result = json.loads(done.stdout.strip().splitlines()[-1])
        if not np.array_equal(np.asarray(result["counts"]), expected):
            raise AssertionError(f"{method}: counts differ from the generator's")
        runs.append(result)
    seconds = sorted(r["seconds"] for r in runs)
    out = {"median_seconds": float(np.median(seconds)), "seconds": seconds,
           "peak_rss_mib": max(r["hwm_kib"] for r in runs) / 1024}
    if runs[0]["warm_seconds"] is not None:
        out["median_warm_seconds"] = float(np.median([r["warm_seconds"] for r in runs]))
    return out


def run(rows_list: list[int], repeats: int) -> dict:
    import os

    report: dict = {"rules": RULES, "levels": LEVELS, "repeats": repeats, "cases": [],
                    "cpus": os.cpu_count(), "load_average_before": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory() as folder:
        for rows in rows_list:
            path = Path(folder) / f"r{rows}.csv"
            expected = write_csv(path, rows)
            case = {"rows": rows, "file_mib": path.stat().st_size / 2**20}
            for method in METHODS:
                case[method] = measure(path, method, repeats, expected)
            base = case["baseline"]["median_seconds"]
            case["ratio_to_baseline"] = {m: case[m]["median_seconds"] / base
                                         for m in METHODS[1:]}
            case["within_2x"] = all(r <= 2.0 for r in case["ratio_to_baseline"].values())
            report["cases"].append(case)
            path.unlink()
    report["load_average_after"] = os.getloadavg()[0]  # other work on the machine skews times
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[200_000, 3_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=None, help="also write the JSON report here")
    args = parser.parse_args(argv)
    report = run(args.rows, args.repeats)
    emit_report(report, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
