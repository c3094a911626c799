"""What the command line shows while it works, and how it prints tables.

* Progress: :func:`progress` (wrap an iterable) and :func:`progress_callback` (a context that
  yields ``advance(amount)``, for loops that live in a workflow: pass the callback down).
  A bar appears on stderr only when stderr is a terminal, ``--quiet`` is off, and the work
  has run for :data:`PROGRESS_DELAY_S` seconds; it is transient (erased when done), so
  pipes, files and short runs see nothing extra.
* :func:`console`: the shared rich console of stdout. On a terminal it wraps to the
  terminal; otherwise (a pipe, a file) it is :data:`PIPE_WIDTH` columns wide and never
  folds, so tables print in full (no cut headers or cells).

rich is imported only when something is shown or printed (``--help`` stays light).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["PIPE_WIDTH", "PROGRESS_DELAY_S", "console", "progress", "progress_callback",
           "progress_enabled", "set_quiet"]

PROGRESS_DELAY_S = 2.0
"""Seconds of work before a progress bar appears (shorter runs never show one)."""

PIPE_WIDTH = 1000
"""Console width when stdout is not a terminal: wide enough that no table is cut."""

_settings = {"quiet": False}


def set_quiet(quiet: bool) -> None:
    """``--quiet``: no progress bars for the rest of the process."""
    _settings["quiet"] = bool(quiet)


def progress_enabled() -> bool:
    """True when a bar may show: stderr is a terminal and ``--quiet`` is off."""
    return not _settings["quiet"] and sys.stderr.isatty()


class _DelayedBar:
    """A rich progress bar on stderr that starts ``delay`` seconds after creation (from a
    timer thread, so a first step longer than the delay still shows it)."""

    def __init__(self, description: str, total: float | None, delay: float,
                 file: Any = None) -> None:
        self.description, self.total, self.file = description, total, file
        self.done = 0.0
        self._lock = threading.Lock()
        self._bar: Any = None
        self._task: Any = None
        self._closed = False
        self._timer = threading.Timer(delay, self._start)
        self._timer.daemon = True
        self._timer.start()

    def _start(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        with self._lock:
            if self._closed:
                return
            target = (Console(stderr=True) if self.file is None
                      else Console(file=self.file, force_terminal=True))
            bar = Progress(TextColumn("{task.description}"), BarColumn(),
                           MofNCompleteColumn(), TimeElapsedColumn(), console=target,
                           transient=True)
            self._task = bar.add_task(self.description, total=self.total,
                                      completed=self.done)
            bar.start()
            self._bar = bar

    def advance(self, amount: float = 1) -> None:
        with self._lock:
            self.done += amount
            if self._bar is not None:
                self._bar.update(self._task, completed=self.done)

    def close(self) -> None:
        self._timer.cancel()
        # A signal raised in the main thread while it held the lock must not hang the exit.
        locked = self._lock.acquire(timeout=2.0)
        try:
            self._closed = True
            if self._bar is not None:
                self._bar.stop()
        finally:
            if locked:
                self._lock.release()


@contextmanager
def progress_callback(description: str = "working", *, total: float | None = None,
                      enabled: bool | None = None, delay: float | None = None,
                      file: Any = None) -> Iterator[Callable[[float], None]]:
    """Yields ``advance(amount=1)``; a bar tracks the sum of the amounts.

    Args:
      description: the bar's label (say what is counted: "rows read", "resamples").
      total: the expected sum (``None``: an open-ended count).
      enabled: ``None`` = :func:`progress_enabled`; ``False`` = never; ``True`` = always.
      delay: seconds before the bar shows (default :data:`PROGRESS_DELAY_S`).
      file: where the bar goes (default stderr).
    """
    if not (progress_enabled() if enabled is None else enabled):
        yield lambda amount=1: None
        return
    bar = _DelayedBar(description, total, PROGRESS_DELAY_S if delay is None else delay, file)
    try:
        yield bar.advance
    finally:
        bar.close()


def progress(iterable: Iterable[T], *, total: float | None = None,
             description: str = "working", advance: Callable[[T], float] | None = None,
             enabled: bool | None = None, delay: float | None = None) -> Iterator[T]:
    """Yields the items of ``iterable`` under :func:`progress_callback`; ``advance(item)``
    says how far each item moves the bar (default 1, e.g. rows per chunk)."""
    with progress_callback(description, total=total, enabled=enabled, delay=delay) as step:
        for item in iterable:
            yield item
            step(1 if advance is None else advance(item))


def console() -> Any:
    """The rich console of stdout: the terminal's width on a terminal, else
    :data:`PIPE_WIDTH` columns with no folding (so nothing printed is cut)."""
    from rich.console import Console

    shown = Console()
    if shown.is_terminal:
        return shown
    return Console(width=PIPE_WIDTH, soft_wrap=True)
