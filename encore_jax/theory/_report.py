"""Writing a theory check's outputs: ``report.json`` and its figure, in one place."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def default_out_dir(check: str) -> Path:
    """``./encore-jax-theory/<check>/`` in the working directory: reports never go into the
    installed package or the source tree."""
    return Path("encore-jax-theory") / check


def check_out_dir(out_dir: str | Path, *, force: bool) -> Path:
    """Refuses, before any work, to overwrite an existing ``out_dir/report.json`` unless
    ``force``; returns ``out_dir`` as a Path.

    Raises:
      FileExistsError: the report exists and ``force`` is False.
    """
    out_dir = Path(out_dir)
    if (out_dir / "report.json").exists() and not force:
        raise FileExistsError(
            f"{out_dir / 'report.json'} exists; pass --force (force=True) to overwrite it, "
            "or choose another output directory"
        )
    return out_dir


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
