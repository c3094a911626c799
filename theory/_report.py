"""Writing a theory check's outputs: ``report.json`` and its figure, in one place."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def save_report(
    report: dict[str, Any],
    out_dir: str | Path,
    *,
    started: float,
    figure_path_name: str,
    write_figure: Callable[[dict[str, Any], Path], None] | None,
) -> dict[str, Any]:
    """Stamps ``report["seconds"]`` (since ``started``, a ``time.perf_counter()`` reading),
    writes ``out_dir/report.json`` and, unless ``write_figure`` is None, the figure
    ``out_dir/figure_path_name``; returns ``report``."""
    report["seconds"] = round(time.perf_counter() - started, 2)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    if write_figure is not None:
        write_figure(report, out_dir / figure_path_name)
    return report
