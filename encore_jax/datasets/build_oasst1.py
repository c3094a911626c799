"""Rebuild the shipped OASST1 CSV files from the raw JSONL.

``python -m encore_jax.datasets.build_oasst1 oasst1_en_validation.jsonl.gz OUT_DIR`` writes
``pairs.csv``, ``pairs_levels.csv``, ``ratings.csv`` and ``ratings_levels.csv`` into
``OUT_DIR`` after checking the source's sha256
(:func:`encore_jax.datasets.oasst1_data.build_oasst1_files`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from encore_jax.datasets.oasst1_data import build_oasst1_files


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if len(argv) != 2:
        print("usage: python -m encore_jax.datasets.build_oasst1 SOURCE.jsonl.gz OUT_DIR",
              file=sys.stderr)
        return 2
    for path in build_oasst1_files(argv[0], argv[1]):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
