"""Benchmarks of encore-jax as users call it, against NumPy / SciPy / scikit-learn; JSON out.

    python -m benchmarks.run --out benchmarks/results/cpu.json   # the issue's sizes (minutes)
    python -m benchmarks.run --quick                             # small sizes (a minute)
    python -m benchmarks.run --table benchmarks/results/cpu.json # markdown for the README

What is timed is the *public* function with its validation and default arguments, on the
input a user has: a ``jax.Array`` already on the device (``(device input)``) and, where the
host-to-device transfer matters, a NumPy array (``(NumPy input)``). The bare jitted kernel
(no validation) is timed beside it, so that the cost of validation is visible.

Stopping rules, fixed in advance: every implementation is called once (``first_call_s``:
compilation included for JAX; the first call of its shape in this process), then
``--repeats`` warm rounds (default 5) call each implementation once in turn, interleaved, so
that a change of machine load hits all alike; ``warm_median_s`` is their median. One
baseline is called once only, named in advance: the NumPy bootstrap loop (1000 resamples of
1e6 items, about 15 s a call, with nothing to compile or warm up); its one call is its time.
Ratios (``ratio_to_baseline`` = baseline warm median / this warm median, above 1 = faster)
compare numbers measured in this run only.

Cases (sizes of issue 15's targets):

* ``bt_fit``: :mod:`benchmarks.bt_fit` (``fit_bt_weights`` defaults against scikit-learn's
  ``LogisticRegression(C=inf)`` and SciPy's L-BFGS on the N rows, each with its own
  tolerance), run first so that its first call is the first JAX compilation of the fit.
* ``compose``: ``compose(scores [N, 100] float32, w)`` against NumPy's ``scores @ w``.
* ``bootstrap``: ``bootstrap_ci`` of an accuracy (pair credits in {0, 1}) over N pairs, 1000
  resamples, against a NumPy loop (``rng.integers`` + fancy indexing + mean per resample);
  the interval is compared with normal theory ``p +- z sqrt(p (1 - p) / N)``.
* ``entropy``: ``rating_entropy(ratings [N, 100] int8, 11)`` against NumPy's offset
  ``np.bincount`` + ``scipy.special.entr``; GB/s against a memory copy of the same bytes
  (``np.copyto`` into a preallocated buffer), timed in the same rounds; each histogram
  formulation of :mod:`encore_jax.entropy` too.
* ``streaming``: peak RSS of streaming 1e8 ratings from parquet (:mod:`benchmarks.streaming_rss`).

Recorded with the results: backend and devices, versions, peak RSS of this process after
each case, and the load average (``os.getloadavg``) before and after the run; the run is
marked ``loaded`` when the 1-minute load average exceeded 1.0 (other processes competed
for the cores, so times are pessimistic and ratios noisier).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import encore_jax as ej
from encore_jax import entropy as entropy_module
from encore_jax.compose import compose

RULES = 100
LEVELS = 11
CALLED_ONCE = frozenset({"numpy loop"})  # see the module docstring
FULL = {"bt_pairs": 200_000, "rows": 1_000_000, "pairs": 1_000_000, "resamples": 1000,
        "streaming_rows": 1_000_000}
QUICK = {"bt_pairs": 20_000, "rows": 100_000, "pairs": 100_000, "resamples": 1000,
         "streaming_rows": 20_000}
TARGETS = {
    "bt_fit": "reaches scikit-learn's log-loss within 1e-5 relative; warm >= 3x faster than "
              "scikit-learn and >= 1.5x faster than SciPy L-BFGS on N rows; first call <= 1.5x "
              "scikit-learn's",
    "compose": "public call <= 1.3x NumPy's matmul (and <= 1.3x the bare jitted kernel)",
    "bootstrap": ">= 100x faster than a NumPy loop, interval within a few % (5 %) of normal "
                 "theory",
    "entropy": ">= 10x NumPy's offset bincount; >= 40 % of memory-copy bandwidth",
}


# ------------------------------------------------------------------------------------------
# Timing
# ------------------------------------------------------------------------------------------


def timed(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, dict[str, Any]]:
    """First call of each, then ``repeats`` interleaved warm rounds (module docstring)."""
    out: dict[str, dict[str, Any]] = {}
    for name, fn in fns.items():
        start = time.perf_counter()
        result = jax.block_until_ready(fn())
        out[name] = {"first_call_s": time.perf_counter() - start, "warm_s": [],
                     "result": result}
    for _ in range(repeats):
        for name, fn in fns.items():
            if name in CALLED_ONCE:
                continue
            start = time.perf_counter()
            jax.block_until_ready(fn())
            out[name]["warm_s"].append(time.perf_counter() - start)
    for timing in out.values():
        timing["warm_median_s"] = (statistics.median(timing["warm_s"]) if timing["warm_s"]
                                   else timing["first_call_s"])
    return out


def rows_of(timings: dict[str, dict[str, Any]], baseline: str, size: dict,
            nbytes: int | None = None) -> list[dict[str, Any]]:
    base = timings[baseline]["warm_median_s"]
    rows = []
    for name, t in timings.items():
        row = {"implementation": name, "size": size,
               **{k: v for k, v in t.items() if k != "result"},
               "baseline": baseline, "ratio_to_baseline": base / t["warm_median_s"]}
        if nbytes is not None:
            row["gbps"] = nbytes / t["warm_median_s"] / 1e9
        rows.append(row)
    return rows


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ------------------------------------------------------------------------------------------
# Cases
# ------------------------------------------------------------------------------------------


def bench_bt(pairs: int, repeats: int) -> dict[str, Any]:
    from benchmarks import bt_fit

    return bt_fit.run(pairs, RULES, repeats)


def bench_compose(n: int, repeats: int) -> list[dict]:
    rng = np.random.default_rng(n)
    scores = rng.random((n, RULES), dtype=np.float32)
    weights = rng.dirichlet(np.ones(RULES)).astype(np.float32)
    s_dev, w_dev = jax.device_put(scores), jax.device_put(weights)
    kernel = jax.jit(lambda s, w: jnp.matmul(w, s.T, precision=jax.lax.Precision.HIGHEST))
    timings = timed({
        "numpy matmul": lambda: scores @ weights,
        "encore_jax.compose (device input)": lambda: compose(s_dev, w_dev),
        "bare jitted kernel (no validation)": lambda: kernel(s_dev, w_dev),
        "encore_jax.compose (NumPy input)": lambda: compose(scores, weights),
    }, repeats)
    reference = timings["numpy matmul"]["result"]
    size = {"rows": n, "rules": RULES, "dtype": "float32", "bytes": int(scores.nbytes)}
    out = rows_of(timings, "numpy matmul", size, scores.nbytes)
    for row, t in zip(out, timings.values(), strict=True):
        row["max_abs_error_vs_numpy"] = float(np.max(np.abs(np.asarray(t["result"]) -
                                                            reference)))
    return out


def numpy_bootstrap(values: np.ndarray, resamples: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = values.shape[0]
    return np.array([values[rng.integers(0, n, n)].mean() for _ in range(resamples)])


def bench_bootstrap(n: int, resamples: int, repeats: int) -> list[dict]:
    rng = np.random.default_rng(n)
    credit = (rng.normal(0.3, 1.0, size=n) > 0).astype(np.float32)
    key = jax.random.key(0)
    c_dev = jax.device_put(credit)
    timings = timed({
        "numpy loop": lambda: numpy_bootstrap(credit, resamples),
        "encore_jax.bootstrap_ci (device input)": lambda: ej.bootstrap_ci(
            key, c_dev, num_resamples=resamples),
        "encore_jax.bootstrap_ci (item draws, method='draws')": lambda: ej.bootstrap_ci(
            key, c_dev, num_resamples=resamples, method="draws"),
    }, max(1, repeats // 2))
    p = float(credit.astype(np.float64).mean())
    half = 1.959963984540054 * math.sqrt(p * (1 - p) / n)
    normal = [p - half, p + half]
    out = rows_of(timings, "numpy loop", {"items": n, "resamples": resamples})
    for row, t in zip(out, timings.values(), strict=True):
        result = t["result"]
        low, high = ((np.percentile(result, [2.5, 97.5])) if isinstance(result, np.ndarray)
                     else (float(result.low), float(result.high)))
        row["interval"] = [float(low), float(high)]
        row["normal_theory_interval"] = normal
        row["width_vs_normal"] = (high - low) / (2 * half)
    return out


def numpy_offset_bincount_entropy(
    ratings: np.ndarray, num_levels: int, index: np.ndarray | None = None
) -> np.ndarray:
    """One ``np.bincount`` over ``rule * L + level``, then ``scipy.special.entr``; ``index``
    an optional preallocated ``intp`` buffer (keeps page faults out of the timing)."""
    from scipy.special import entr

    k = ratings.shape[1]
    index = np.add(ratings, np.arange(k, dtype=np.intp) * num_levels, out=index, dtype=np.intp)
    counts = np.bincount(index.ravel(), minlength=k * num_levels).reshape(k, num_levels)
    return entr(counts / counts.sum(axis=1, keepdims=True)).sum(axis=1)


def bench_entropy(n: int, repeats: int) -> list[dict]:
    ratings = np.random.default_rng(n).integers(0, LEVELS, size=(n, RULES), dtype=np.int8)
    on_device = jax.device_put(ratings)
    copy = np.empty_like(ratings)
    index = np.empty(ratings.shape, np.intp)
    bare = jax.jit(lambda r: entropy_module._entropy_of_observed_counts(
        entropy_module._histogram_impl(r, None, LEVELS), r.shape[0], None, "plugin"))
    fns = {
        "numpy_offset_bincount+scipy_entr": (
            lambda: numpy_offset_bincount_entropy(ratings, LEVELS, index)),
        "memcpy (np.copyto, same bytes)": lambda: np.copyto(copy, ratings),
        "encore_jax.rating_entropy (device input)": lambda: ej.rating_entropy(on_device, LEVELS),
        "bare jitted kernel (no validation)": lambda: bare(on_device),
        "encore_jax.rating_entropy (NumPy input)": lambda: ej.rating_entropy(ratings, LEVELS),
    }
    for name in ("blocked", "scatter"):
        kernel = jax.jit(lambda r, name=name: entropy_module._HISTOGRAM_KERNELS[name](
            r, None, LEVELS))
        fns[f"histogram kernel '{name}'"] = lambda kernel=kernel: kernel(on_device)
    timings = timed(fns, repeats)
    size = {"rows": n, "rules": RULES, "levels": LEVELS, "dtype": "int8",
            "bytes": int(ratings.nbytes), "kernel": entropy_module._histogram_kernel_name(LEVELS)}
    out = rows_of(timings, "numpy_offset_bincount+scipy_entr", size, ratings.nbytes)
    copy_gbps = next(r["gbps"] for r in out if r["implementation"].startswith("memcpy"))
    reference = timings["numpy_offset_bincount+scipy_entr"]["result"]
    for row, t in zip(out, timings.values(), strict=True):
        row["fraction_of_memcpy"] = row["gbps"] / copy_gbps
        if row["implementation"].startswith(("encore", "bare")):
            row["max_abs_error_vs_numpy"] = float(np.max(np.abs(np.asarray(t["result"]) -
                                                                reference)))
    return out


# ------------------------------------------------------------------------------------------
# Targets
# ------------------------------------------------------------------------------------------


def _row(report: dict, case: str, implementation: str) -> dict:
    return next(r for r in report["cases"][case] if r["implementation"] == implementation)


def judge(report: dict) -> dict[str, Any]:
    """Each target of issue 15 with the measured numbers, met or not and by how much."""
    out: dict[str, Any] = {}
    load = "" if not report["loaded"] else (
        f"; machine loaded (1-min load average up to {report['max_load_1min']:.1f} on "
        f"{os.cpu_count()} cores): times pessimistic")
    if "bt_fit" in report["cases"]:
        bt = report["cases"]["bt_fit"]
        checks = bt["targets"]
        out["bt_fit"] = {"target": TARGETS["bt_fit"], "met": all(c["met"] for c in
                                                                  checks.values()),
                         "parts": checks, "note": "ratios from benchmarks.bt_fit" + load}
    if "compose" in report["cases"]:
        public = _row(report, "compose", "encore_jax.compose (device input)")
        kernel = _row(report, "compose", "bare jitted kernel (no validation)")
        host = _row(report, "compose", "encore_jax.compose (NumPy input)")
        vs_numpy = 1 / public["ratio_to_baseline"]
        vs_kernel = public["warm_median_s"] / kernel["warm_median_s"]
        out["compose"] = {
            "target": TARGETS["compose"], "met": vs_numpy <= 1.3 and vs_kernel <= 1.3,
            "time_vs_numpy": vs_numpy, "time_vs_bare_kernel": vs_kernel,
            "numpy_input_time_vs_numpy": 1 / host["ratio_to_baseline"],
            "note": "device input; a NumPy input adds its host-to-device copy (JAX's CPU "
                    "client copies unaligned host buffers)" + load}
    if "bootstrap" in report["cases"]:
        public = _row(report, "bootstrap", "encore_jax.bootstrap_ci (device input)")
        width = public["width_vs_normal"]
        out["bootstrap"] = {
            "target": TARGETS["bootstrap"],
            "met": public["ratio_to_baseline"] >= 100 and abs(width - 1) <= 0.05,
            "speedup_vs_numpy_loop": public["ratio_to_baseline"],
            "interval_width_vs_normal_theory": width,
            "first_call_s": public["first_call_s"],
            "note": "exact multinomial over the 2 cells (credits 0 / 1); the first call is "
                    "mostly compilation of the binomial sampler" + load}
    if "entropy" in report["cases"]:
        public = _row(report, "entropy", "encore_jax.rating_entropy (device input)")
        out["entropy"] = {
            "target": TARGETS["entropy"],
            "met": public["ratio_to_baseline"] >= 10 and public["fraction_of_memcpy"] >= 0.4,
            "speedup_vs_numpy_bincount": public["ratio_to_baseline"],
            "fraction_of_memcpy_bandwidth": public["fraction_of_memcpy"],
            "gbps": public["gbps"],
            "note": f"{jax.default_backend()} backend, blocked compare-and-sum kernel; no GPU "
                    "in this run" + load}
    return out


# ------------------------------------------------------------------------------------------
# Driver and table
# ------------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(line.split(":", 1)[1].strip() for line in handle
                       if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    versions = {}
    for module in ("jax", "jaxlib", "numpy", "scipy", "sklearn", "optax"):
        try:
            versions[module] = __import__(module).__version__
        except ImportError:
            versions[module] = None
    return {"backend": jax.default_backend(), "devices": [str(d) for d in jax.devices()],
            "cpu": cpu, "cpu_count": os.cpu_count(), "python": platform.python_version(),
            "versions": versions}


def run(sizes: dict[str, int], repeats: int, only: set[str] | None, argv: list[str]) -> dict:
    def wanted(case: str) -> bool:
        return only is None or case in only

    report: dict[str, Any] = {
        "command": "python -m benchmarks.run " + " ".join(argv), "repeats": repeats,
        "machine": machine(), "load_average_before": os.getloadavg(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "cases": {}, "peak_rss_mib": {},
    }
    cases: dict[str, Callable[[], Any]] = {
        "bt_fit": lambda: bench_bt(sizes["bt_pairs"], repeats),
        "compose": lambda: bench_compose(sizes["rows"], repeats),
        "bootstrap": lambda: bench_bootstrap(sizes["pairs"], sizes["resamples"], repeats),
        "entropy": lambda: bench_entropy(sizes["rows"], repeats),
    }
    for case, bench in cases.items():
        if wanted(case):
            report["cases"][case] = bench()
            report["peak_rss_mib"][case] = peak_rss_mib()
            print(f"done {case}", file=sys.stderr)
    if wanted("streaming"):
        from benchmarks import streaming_rss

        report["cases"]["streaming"] = streaming_rss.run(sizes["streaming_rows"], RULES)
    report["load_average_after"] = os.getloadavg()
    report["max_load_1min"] = max(report["load_average_before"][0],
                                  report["load_average_after"][0])
    report["loaded"] = report["max_load_1min"] > 1.0
    report["targets"] = judge(report)
    return report


def _fmt_s(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def table(report: dict) -> str:
    """The README's markdown: one row per timed implementation, then the targets."""
    m = report["machine"]
    lines = [
        f"Backend `{m['backend']}` ({m['cpu']}, {m['cpu_count']} cores), jax "
        f"{m['versions']['jax']}; load average before / after "
        f"{report['load_average_before'][0]:.1f} / {report['load_average_after'][0]:.1f}"
        + (" (machine loaded: times pessimistic)" if report["loaded"] else "") + ".",
        f"Command: `{report['command']}`.", "",
        "| case | implementation | size | first call | warm median | vs baseline | GB/s |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for case, rows in report["cases"].items():
        if case == "bt_fit":
            for name, r in rows["results"].items():
                ratio = rows["results"]["sklearn"]["warm_median_s"] / r["warm_median_s"]
                lines.append(f"| bt_fit | {name} | {rows['sizes']['pairs']} x "
                             f"{rows['sizes']['rules']} | {_fmt_s(r['first_call_s'])} | "
                             f"{_fmt_s(r['warm_median_s'])} | {ratio:.2f}x sklearn | |")
            continue
        if case == "streaming":
            lines.append(f"| streaming | peak RSS {rows['peak_rss_mib']:.0f} MiB | "
                         f"{rows['ratings']:.0e} ratings | | {_fmt_s(rows['stream_s'])} | | |")
            continue
        for r in rows:
            size = "x".join(str(r["size"][k]) for k in ("rows", "rules", "items", "resamples")
                            if k in r["size"])
            gbps = f"{r['gbps']:.2f}" if "gbps" in r else ""
            lines.append(f"| {case} | {r['implementation']} | {size} | "
                         f"{_fmt_s(r['first_call_s'])} | {_fmt_s(r['warm_median_s'])} | "
                         f"{r['ratio_to_baseline']:.2f}x | {gbps} |")
    lines += ["", "| target | measured | met |", "| --- | --- | --- |"]
    for case, t in report["targets"].items():
        measured = ", ".join(f"{k} {v:.3g}" for k, v in t.items()
                             if isinstance(v, float) and k != "met")
        if case == "bt_fit":
            measured = ", ".join(f"{k} {v['value']:.3g} ({'met' if v['met'] else 'not met'})"
                                 for k, v in t["parts"].items())
        lines.append(f"| {case}: {t['target']} | {measured} ({t['note']}) | "
                     f"{'met' if t['met'] else 'not met'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict | None:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run",
                                     description="encore-jax benchmarks (JSON output)")
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--repeats", type=int, default=5, help="warm rounds (default 5)")
    parser.add_argument("--only", default=None,
                        help="comma list of cases: bt_fit,compose,bootstrap,entropy,streaming")
    parser.add_argument("--out", default=None, help="write the JSON report here")
    parser.add_argument("--table", default=None, metavar="JSON",
                        help="print the markdown table of a saved report and exit")
    args = parser.parse_args(argv)
    if args.table:
        print(table(json.loads(Path(args.table).read_text())))
        return None
    only = set(args.only.split(",")) if args.only else None
    report = run(QUICK if args.quick else FULL, args.repeats, only, argv)
    text = json.dumps(report, indent=2, default=float) + "\n"
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)
    print(table(report))
    return report


if __name__ == "__main__":
    main()
