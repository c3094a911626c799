"""Start-up time of the ``encore-jax`` command line, and what the compilation cache saves.

Two measurements, each of fresh subprocesses (so every run pays the interpreter start):

* ``help``: ``encore-jax --help`` and ``encore-jax COMMAND --help`` for every command,
  ``--repeats`` times each; the median wall time, and which heavy modules a help run loads
  (none should: help must not import JAX).
* ``compile_cache`` (``--cache-runs``): ``encore-jax weights`` on the bundled demo ratings
  and ``encore-jax demo --no-figures``, each run twice against a fresh, empty cache
  directory (``ENCORE_JAX_COMPILE_CACHE_DIR``): ``first_s`` compiles and fills the cache,
  ``second_s`` loads from it; ``no_cache_s`` is a run with ``--no-compile-cache``. Also
  the number of cache entries after each run (the second run adds none when every program
  was a hit). Medians over ``--repeats`` fresh cache directories.

    python -m benchmarks.cli_startup                     # help only (seconds)
    python -m benchmarks.cli_startup --cache-runs --out benchmarks/results/cli_startup.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from encore_jax.cli import COMMAND_MODULES

HEAVY_MODULES = ("jax", "jaxlib", "numpy", "scipy", "matplotlib", "pyarrow", "rich", "optax")
EXAMPLE = Path(__file__).resolve().parents[1] / "encore_jax" / "examples" / "demo_ratings.csv"
CLI = [sys.executable, "-m", "encore_jax.cli"]

# Runs `encore-jax <argv> --help` in-process and prints which heavy modules it loaded.
HELP_PROBE = r"""
import contextlib, io, json, sys
from encore_jax.cli import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
    main(sys.argv[2:] + ["--help"])
print(json.dumps(sorted(m for m in json.loads(sys.argv[1]) if m in sys.modules)))
"""


def command_names() -> list[str]:
    return [name.replace("_", "-") for name in COMMAND_MODULES]


def timed(argv: list[str], env: dict[str, str]) -> float:
    """Wall seconds of one subprocess run; fails loudly if the command fails."""
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}: {done.stderr[-2000:]}")
    return elapsed


def help_times(repeats: int, env: dict[str, str]) -> dict[str, Any]:
    rows = {}
    for command in [None, *command_names()]:
        argv = [] if command is None else [command]
        label = "encore-jax --help" if command is None else f"encore-jax {command} --help"
        seconds = [timed([*CLI, *argv, "--help"], env) for _ in range(repeats)]
        probe = subprocess.run(
            [sys.executable, "-c", HELP_PROBE, json.dumps(HEAVY_MODULES), *argv],
            env=env, capture_output=True, text=True, check=True)
        rows[label] = {"median_s": statistics.median(seconds), "max_s": max(seconds),
                       "heavy_modules_loaded": json.loads(probe.stdout)}
    return rows


def cache_entries(directory: Path) -> int:
    return sum(1 for _ in directory.iterdir()) if directory.is_dir() else 0


def cache_times(repeats: int, env: dict[str, str]) -> dict[str, Any]:
    cases = {
        "weights": ["weights", str(EXAMPLE), "--levels", "5", "--json"],
        "demo": ["demo", "--no-figures", "--json"],
    }
    results = {}
    for name, argv in cases.items():
        runs: dict[str, list[float]] = {"first_s": [], "second_s": [], "no_cache_s": []}
        entries: dict[str, list[int]] = {"after_first": [], "after_second": []}
        for _ in range(repeats):
            with tempfile.TemporaryDirectory() as tmp:
                cache = Path(tmp) / "cache"
                run_env = {**env, "ENCORE_JAX_COMPILE_CACHE": "1",
                           "ENCORE_JAX_COMPILE_CACHE_DIR": str(cache)}
                runs["first_s"].append(timed([*CLI, *argv], run_env))
                entries["after_first"].append(cache_entries(cache))
                runs["second_s"].append(timed([*CLI, *argv], run_env))
                entries["after_second"].append(cache_entries(cache))
                runs["no_cache_s"].append(timed([*CLI, "--no-compile-cache", *argv], run_env))
        medians = {key: statistics.median(values) for key, values in runs.items()}
        shown = [a if a != str(EXAMPLE) else "encore_jax/examples/demo_ratings.csv" for a in argv]
        results[name] = {"command": "encore-jax " + " ".join(shown), **medians,
                         "runs": runs, "cache_entries": entries}
    return results


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs per case (default: 5)")
    parser.add_argument("--cache-runs", action="store_true",
                        help="also time first vs second runs with the compilation cache")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args(argv)
    env = {**os.environ, "JAX_PLATFORMS": os.environ.get("JAX_PLATFORMS", "cpu")}
    report: dict[str, Any] = {
        "python": platform.python_version(), "machine": platform.machine(),
        "cpus": os.cpu_count(), "load_average": os.getloadavg(), "repeats": args.repeats,
        "help": help_times(args.repeats, env),
    }
    if args.cache_runs:
        report["compile_cache"] = cache_times(args.repeats, env)
    text = json.dumps(report, indent=2)
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return report


if __name__ == "__main__":
    main()
