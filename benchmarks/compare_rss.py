"""Peak memory and wall time of ``encore-jax compare`` on large pairs files.

Writes parquet pairs files of ``pairs x rules`` shaped like real research data (fixed seed):
text columns ``prompt``, ``chosen`` and ``rejected`` (a few hundred characters each) beside
the rating columns ``chosen_r<k>`` and ``rejected_r<k>`` (int8 levels 0..4; row groups of
65536 rows). Then runs the command's default protocol, ``encore-jax compare FILE --levels 5
--json`` (a random half held out, 1000 resamples), on each file under ``/usr/bin/time -v``
and prints JSON with the file size, wall time, peak RSS and the machine's load average at
start and end (other processes share the CPU). The persistent compilation cache is off, so
every run pays its compilation, as a user's first run does.

    python -m benchmarks.compare_rss --pairs 50000 1000000 --rules 100

Targets (issue 14): 50,000 x 100 under 1.5 GB and 60 s on two cores; 1e6 x 100 under 4 GB.
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
NUM_LEVELS = 5
_WORDS = np.array("the a response assistant user safe unsafe harmful helpful refuse answer "
                  "question explain because however policy request model data please sorry "
                  "cannot provide information detailed step example code".split())


def _texts(rng: np.random.Generator, n: int, words: int) -> list[str]:
    drawn = _WORDS[rng.integers(0, _WORDS.size, size=(n, words))]
    return [" ".join(row) for row in drawn.tolist()]


def write_pairs(path: Path, pairs: int, rules: int, seed: int = 0) -> None:
    """A parquet file of ``pairs`` rated pairs over ``rules`` rules with text columns."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    names = [f"r{k}" for k in range(rules)]
    schema = pa.schema([("prompt", pa.string()), ("chosen", pa.string()),
                        ("rejected", pa.string())]
                       + [(f"{side}_{n}", pa.int8()) for side in ("chosen", "rejected")
                          for n in names])
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, pairs, ROW_GROUP):
            n = min(ROW_GROUP, pairs - start)
            quality = rng.normal(size=(n, 1))  # informative rules: chosen a bit higher
            columns = {"prompt": pa.array(_texts(rng, n, 16)),
                       "chosen": pa.array(_texts(rng, n, 48)),
                       "rejected": pa.array(_texts(rng, n, 48))}
            for side, shift in (("chosen", 0.1), ("rejected", -0.1)):
                latent = quality + shift * np.linspace(1, 0, rules) + rng.normal(size=(n, rules))
                levels = np.clip(np.round(latent + 2), 0, NUM_LEVELS - 1).astype(np.int8)
                for k, name in enumerate(names):
                    columns[f"{side}_{name}"] = pa.array(levels[:, k])
            writer.write_table(pa.table(columns, schema=schema))


def run(path: Path, extra: list[str]) -> dict:
    """Runs ``encore-jax compare`` on ``path`` (see :func:`benchmarks._process.run_timed`)."""
    args = ["compare", path.name, "--levels", str(NUM_LEVELS), "--json", *extra]
    done = run_timed([sys.executable, "-m", "encore_jax.cli", args[0], str(path), *args[2:]])
    report = json.loads(done.stdout)
    return {"file": path.name, "file_mib": round(path.stat().st_size / 2**20, 1),
            "pairs": report["num_pairs"], "eval_pairs": report["num_eval_pairs"],
            "rules": report["num_rules"], "resamples": report["protocol"]["num_resamples"],
            "wall_s": done.wall_s, "peak_rss_mib": done.peak_rss_mib,
            "encore_accuracy": report["methods"][0]["accuracy"]["estimate"],
            "load_average_before": done.load_average_before,
            "load_average_after": done.load_average_after,
            "compile_cache": "off (compilation included)",
            "command": " ".join(["python", "-m", "encore_jax.cli", *args])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, nargs="+", default=[50_000, 1_000_000])
    parser.add_argument("--rules", type=int, default=100)
    parser.add_argument("--dir", default=None,
                        help="keep the generated files here (default: a temporary directory)")
    parser.add_argument("extra", nargs="*", help="more options for compare (after --)")
    args = parser.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.dir or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for pairs in args.pairs:
            path = folder / f"pairs_{pairs}x{args.rules}.parquet"
            if not path.exists():
                write_pairs(path, pairs, args.rules)
            results.append(run(path, args.extra))
            print(json.dumps(results[-1]), file=sys.stderr)
    print(json.dumps({"benchmark": "compare_rss", "cpu_count": os.cpu_count(),
                      "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
