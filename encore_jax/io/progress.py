"""A progress bar on stderr for long reads and writes (only on a terminal)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

__all__ = ["progress"]


def progress(
    iterable: Iterable[T],
    *,
    total: float | None = None,
    description: str = "working",
    advance: Callable[[T], float] | None = None,
    enabled: bool | None = None,
) -> Iterator[T]:
    """Yields the items of ``iterable`` while a rich progress bar (on stderr) advances.

    The bar shows only when stderr is a terminal (``enabled=None``), so pipes, files and
    tests get clean output. ``advance(item)`` says how far each item moves the bar (default
    1, e.g. rows per chunk with ``total`` in rows); ``total=None`` shows an open-ended bar.
    """
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        yield from iterable
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn()]
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total)
        for item in iterable:
            yield item
            bar.advance(task, 1 if advance is None else advance(item))
