"""Is the exact multinomial bootstrap exact at large strata? JSON out.

    python -m benchmarks.bootstrap_exactness --out benchmarks/results/bootstrap_exactness.json

``n = 5e6`` credits with a share ``p`` of ones (``p`` in 0.5, 0.3, 0.05); the replicate of
the mean is ``Y / n`` with ``Y ~ Binomial(n, p)``, so its variance is ``p (1 - p) / n``
exactly. ``B = 100,000`` replicates of ``bootstrap_ci(method="cells")`` from key 1, with
the split draw of :mod:`encore_jax.metrics._cells` (pieces of ``PIECE_UNITS`` trials) and,
for comparison, with one float32 binomial draw per link (``PIECE_UNITS`` set to ``2^24``,
the behaviour before the split). Reported per ``p``: the variance ratio to the closed form
with its standard error ``sqrt(2 / (B - 1))``, and the mean's error in standard errors.
"""

from __future__ import annotations

import argparse
import math
import time

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks._process import emit_report
from encore_jax.metrics import _cells
from encore_jax.metrics.bootstrap import bootstrap_ci

N, B = 5_000_000, 100_000


def one(p: float) -> dict[str, float]:
    values = np.zeros(N, np.float32)
    values[: int(N * p)] = 1.0
    start = time.perf_counter()
    ci = bootstrap_ci(jax.random.key(1), jnp.asarray(values), num_resamples=B, method="cells")
    r = np.asarray(ci.replicates, np.float64)
    variance = p * (1 - p) / N
    return {"p": p, "variance_ratio": float(r.var(ddof=1) / variance),
            "variance_ratio_se": math.sqrt(2 / (B - 1)),
            "mean_error_in_se": float((r.mean() - p) / math.sqrt(variance / B)),
            "seconds": time.perf_counter() - start}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    split = [one(p) for p in (0.5, 0.3, 0.05)]
    piece = _cells.PIECE_UNITS
    _cells.PIECE_UNITS = 2**24  # one draw per link, as before the split
    single = [one(p) for p in (0.5, 0.3, 0.05)]
    _cells.PIECE_UNITS = piece
    report = {"command": "python -m benchmarks.bootstrap_exactness", "units": N,
              "resamples": B, "backend": jax.default_backend(), "piece_units": piece,
              "split_draw": split, "single_float32_draw": single}
    emit_report(report, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
