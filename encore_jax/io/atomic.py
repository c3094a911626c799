"""Atomic, all-or-nothing writes: an output appears whole or not at all."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["atomic_write", "atomic_write_all"]


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _check_target(target: Path, force: bool) -> None:
    if not target.parent.is_dir():
        raise FileNotFoundError(f"{target.parent}: no such directory for the output "
                                f"{target.name}")
    if target.is_dir():
        raise IsADirectoryError(f"{target}: is a directory")
    if target.exists() and not force:
        raise FileExistsError(f"{target} exists; pass --force (force=True) to overwrite it")


def atomic_write_all(
    items: Sequence[tuple[str | Path, Callable[[Path], Any]]], *, force: bool = False
) -> list[Path]:
    """Writes several files all-or-nothing (e.g. a CSV and its metadata sidecar).

    Each ``write_fn(tmp_path)`` writes to a temporary file in the destination's directory;
    only when all succeeded are they moved into place. Without ``force`` an existing
    destination is an error (checked first, and again atomically at the move, through a
    hard link that cannot replace a file). On any failure the temporary files are removed
    and no destination is created or changed.

    Raises:
      FileExistsError: a destination exists (without ``force``).
      FileNotFoundError, IsADirectoryError: its directory does not exist, or it is one.
    """
    targets = [Path(path) for path, _ in items]
    for target in targets:
        _check_target(target, force)
    staged: list[Path] = []
    created: list[Path] = []
    try:
        for target, (_, write_fn) in zip(targets, items, strict=True):
            handle, name = tempfile.mkstemp(
                dir=target.parent, prefix=f".{target.name}.", suffix=".partial" + target.suffix)
            os.close(handle)
            staged.append(Path(name))
            os.chmod(name, 0o666 & ~_umask())
            write_fn(Path(name))
        for target, tmp in zip(targets, staged, strict=True):
            if force:
                os.replace(tmp, target)
                continue
            try:
                os.link(tmp, target)
            except FileExistsError:
                raise FileExistsError(
                    f"{target} exists; pass --force (force=True) to overwrite it") from None
            except OSError:  # no hard links here: fall back to check-then-replace
                _check_target(target, force)
                os.replace(tmp, target)
            created.append(target)
    except BaseException:
        for target in created:
            target.unlink(missing_ok=True)
        raise
    finally:
        for tmp in staged:
            tmp.unlink(missing_ok=True)
    return targets


def atomic_write(path: str | Path, write_fn: Callable[[Path], Any], *,
                 force: bool = False) -> Path:
    """Calls ``write_fn(tmp_path)`` on a temporary file next to ``path``, then moves it to
    ``path``; refuses to overwrite an existing ``path`` without ``force``. Nothing is left
    behind when ``write_fn`` raises."""
    return atomic_write_all([(path, write_fn)], force=force)[0]
