"""Peak memory and wall time of ``encore-jax diagnose`` on large pairs files.

Writes parquet pairs files of ``pairs x rules`` (columns ``chosen_r<k>``, ``rejected_r<k>``,
int8 levels 0..10, plus a ``group`` column of 4 pairs per group; row groups of 65536 rows)
into a temporary directory, then runs ``encore-jax diagnose FILE --levels 11 --group-column
group --json`` on each under ``/usr/bin/time -v`` and prints JSON with the file size, wall
time, peak RSS and the machine's load average at start and end (other processes share the
CPU). Memory must stay flat as the pairs grow tenfold.

    python -m benchmarks.diagnose_rss --pairs 100000 1000000 --rules 100 --resamples 200
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmarks._process import run_timed

ROW_GROUP = 65536
NUM_LEVELS = 11


def write_pairs(path: Path, pairs: int, rules: int, seed: int = 0) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    names = [f"r{k}" for k in range(rules)]
    schema = pa.schema([("group", pa.string())]
                       + [(f"{side}_{n}", pa.int8()) for side in ("chosen", "rejected")
                          for n in names])
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, pairs, ROW_GROUP):
            n = min(ROW_GROUP, pairs - start)
            quality = rng.normal(size=(n, 1))  # informative rules: chosen a bit higher
            columns = {"group": pa.array([f"g{i // 4}" for i in range(start, start + n)])}
            for side, shift in (("chosen", 0.5), ("rejected", -0.5)):
                latent = quality + shift * np.linspace(1, 0, rules) + rng.normal(size=(n, rules))
                levels = np.clip(np.round(latent * 2 + 5), 0, NUM_LEVELS - 1).astype(np.int8)
                for k, name in enumerate(names):
                    columns[f"{side}_{name}"] = pa.array(levels[:, k])
            writer.write_table(pa.table(columns, schema=schema))


def run(path: Path, resamples: int) -> dict:
    """Runs ``encore-jax diagnose`` on ``path`` (see :func:`benchmarks._process.run_timed`)."""
    args = ["diagnose", path.name, "--levels", str(NUM_LEVELS), "--group-column", "group",
            "--json", "--resamples", str(resamples)]
    done = run_timed([sys.executable, "-m", "encore_jax.cli", args[0], str(path), *args[2:]])
    report = json.loads(done.stdout)
    return {"file": path.name, "file_mib": round(path.stat().st_size / 2**20, 1),
            "pairs": report["protocol"]["num_pairs"], "groups": report["protocol"]["num_groups"],
            "rules": len(report["rules"]), "resamples": resamples,
            "wall_s": done.wall_s, "peak_rss_mib": done.peak_rss_mib,
            "premise_holds": report["premise_holds"],
            "load_average_before": done.load_average_before,
            "load_average_after": done.load_average_after,
            "compile_cache": "off (compilation included)",
            "command": " ".join(["python", "-m", "encore_jax.cli", *args])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--rules", type=int, default=100)
    parser.add_argument("--resamples", type=int, default=200)
    args = parser.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for pairs in args.pairs:
            path = Path(tmp) / f"pairs_{pairs}x{args.rules}.parquet"
            write_pairs(path, pairs, args.rules)
            results.append(run(path, args.resamples))
            print(json.dumps(results[-1]), file=sys.stderr)
    print(json.dumps({"benchmark": "diagnose_rss", "cpu_count": os.cpu_count(),
                      "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
