"""Peak memory of streaming entropies over a ratings file far larger than one chunk.

Writes a wide parquet file of ``rows x rules`` int8 ratings (row groups of 65536 rows),
counting the exact level histogram while generating it, then streams the file through
:func:`encore_jax.streaming_rating_histogram` in a fresh subprocess and reads that process's
peak resident set size (``VmHWM``; ``resource.getrusage``'s ``ru_maxrss`` is reported too,
but on Linux it can carry the parent's size over a fork). The counts must equal the
generator's exactly.

    python -m benchmarks.streaming_rss --rows 1000000 --rules 100   # 1e8 ratings
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks._process import HIGH_WATER_KIB

ROW_GROUP = 65536
NUM_LEVELS = 11

CHILD = r"""
import json, resource, sys, time
import numpy as np
import encore_jax as ej
from encore_jax.workflows.streaming import streaming_rating_histogram
import jax

{high_water_kib}
path, levels, chunk_rows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
before = high_water_kib()
start = time.perf_counter()
counts = streaming_rating_histogram(path, levels, chunk_rows=chunk_rows)
entropies = ej.entropy_from_counts(counts.astype(np.float32))
seconds = time.perf_counter() - start
print(json.dumps({"counts": counts.tolist(), "seconds": seconds,
                  "hwm_after_import_kib": before, "hwm_kib": high_water_kib(),
                  "ru_maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "entropies": np.asarray(entropies).tolist()}))
""".replace("{high_water_kib}", HIGH_WATER_KIB)


def write_ratings(path: Path, rows: int, rules: int, seed: int = 0) -> np.ndarray:
    """Writes the parquet file; returns the exact counts ``[K, L]`` (int64)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    # Rule k's levels follow a Dirichlet profile, so entropies differ across rules.
    probs = rng.dirichlet(np.full(NUM_LEVELS, 0.7), size=rules)
    cdf = np.cumsum(probs, axis=1)
    cdf[:, -1] = 1.0  # u < 1 then always lands on a level 0..L-1
    counts = np.zeros((rules, NUM_LEVELS), np.int64)
    offsets = np.arange(rules) * NUM_LEVELS
    schema = pa.schema([pa.field(f"rule_{k}", pa.int8()) for k in range(rules)])
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, rows, ROW_GROUP):
            n = min(ROW_GROUP, rows - start)
            u = rng.random((n, rules, 1))
            levels = (u > cdf[None, :, :]).sum(axis=2).astype(np.int8)
            counts += np.bincount((levels + offsets).ravel(), minlength=rules * NUM_LEVELS
                                  ).reshape(rules, NUM_LEVELS)
            writer.write_table(pa.table(
                {f"rule_{k}": levels[:, k] for k in range(rules)}, schema=schema))
    return counts


def run(rows: int, rules: int, chunk_rows: int = ROW_GROUP) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ratings.parquet"
        start = time.perf_counter()
        expected = write_ratings(path, rows, rules)
        write_s = time.perf_counter() - start
        size = path.stat().st_size
        result = subprocess.run(
            [sys.executable, "-c", CHILD, str(path), str(NUM_LEVELS), str(chunk_rows)],
            capture_output=True, text=True, check=True,
        )
    child = json.loads(result.stdout.strip().splitlines()[-1])
    exact = bool(np.array_equal(np.array(child["counts"], np.int64), expected))
    ratings = rows * rules
    return {
        "ratings": ratings,
        "rows": rows,
        "rules": rules,
        "levels": NUM_LEVELS,
        "chunk_rows": chunk_rows,
        "file_bytes": size,
        "write_s": write_s,
        "stream_s": child["seconds"],
        "ratings_per_s": ratings / child["seconds"],
        "rss_after_import_mib": child["hwm_after_import_kib"] / 1024,
        "peak_rss_mib": child["hwm_kib"] / 1024,
        "peak_rss_under_1gib": child["hwm_kib"] < 1024 * 1024,
        "ru_maxrss_mib": child["ru_maxrss_kib"] / 1024,
        "peak_rss_source": "VmHWM of the streaming subprocess (/proc/self/status); "
                           "ru_maxrss is kept for reference and can include the parent's "
                           "RSS at fork",
        "counts_equal_exact": exact,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rules", type=int, default=100)
    parser.add_argument("--chunk-rows", type=int, default=ROW_GROUP)
    args = parser.parse_args()
    print(json.dumps(run(args.rows, args.rules, args.chunk_rows), indent=2))


if __name__ == "__main__":
    main()
