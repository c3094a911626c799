"""Outputs never destroy inputs: the path checks every command gets before it runs.

:func:`check_paths` is called by :func:`encore_jax.cli.main` after parsing, before a command
reads or writes anything. It refuses, whatever ``--force`` says,

* an output path that is one of the command's inputs: the same file by name, through a
  symbolic link or through a hard link (compared by ``(st_dev, st_ino)``, what
  :func:`os.path.samefile` compares), or a path inside an input directory (a parquet
  dataset);
* two outputs on one path (e.g. ``label --out X --export-preference X``), including a CSV /
  JSONL table output's ``<file>.meta.json`` metadata sidecar.

Which arguments are paths is a convention shared by all commands: :data:`INPUT_ARGS` are
read, :data:`OUTPUT_ARGS` are written. A command with other path arguments declares them
with :func:`declare_paths` (one line in its ``register``); a table output whose metadata
goes to a sidecar is declared with ``tables=``. Only :mod:`os` is imported here, so the
check costs nothing at start-up.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator, Sequence
from typing import Any

from encore_jax.cli._errors import UsageError

__all__ = ["INPUT_ARGS", "OUTPUT_ARGS", "SIDECAR_SUFFIX", "check_paths", "declare_paths"]

INPUT_ARGS = ("file", "weights", "pair_index", "train", "calibration")
"""argparse ``dest`` names of the files a command reads (when the command has them)."""

OUTPUT_ARGS = ("out", "trl", "export_preference", "figure")
"""argparse ``dest`` names of the files a command writes (when the command has them)."""

SIDECAR_SUFFIX = ".meta.json"  # encore_jax.io.writers.sidecar_path
_SIDECAR_FORMATS = ("csv", "jsonl")  # formats whose metadata goes to a sidecar
_SUFFIX_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


class PathRoles(argparse.Namespace):
    """A command's extra path arguments (see :func:`declare_paths`)."""


def declare_paths(parser: argparse.ArgumentParser, *, inputs: Sequence[str] = (),
                  outputs: Sequence[str] = (), tables: Sequence[str] = ()) -> None:
    """Declares a command's path arguments beyond :data:`INPUT_ARGS` / :data:`OUTPUT_ARGS`.

    Args:
      parser: the command's parser.
      inputs, outputs: more argparse ``dest`` names read / written.
      tables: outputs that are tables (their CSV / JSONL metadata sidecar
        ``<file>.meta.json`` is written too); the format comes from ``args.out_format`` for
        ``out``, else from the suffix.
    """
    parser.set_defaults(path_roles=PathRoles(inputs=tuple(inputs), outputs=tuple(outputs),
                                             tables=tuple(tables)))


def _flag(dest: str) -> str:
    return "FILE" if dest == "file" else "--" + dest.replace("_", "-")


def _sidecar(args: argparse.Namespace, dest: str, path: str) -> str | None:
    fmt = getattr(args, "out_format", None) if dest == "out" else None
    fmt = fmt or _SUFFIX_FORMATS.get(os.path.splitext(path)[1].lower())
    return path + SIDECAR_SUFFIX if fmt in _SIDECAR_FORMATS else None


def _paths(args: argparse.Namespace, dests: Sequence[str]) -> Iterator[tuple[str, str]]:
    for dest in dict.fromkeys(dests):
        value = getattr(args, dest, None)
        if isinstance(value, str | os.PathLike) and str(value):
            yield dest, os.fspath(value)


def _identity(path: str) -> tuple[Any, ...]:
    """``(st_dev, st_ino)`` of an existing file (links followed), else its resolved path."""
    try:
        stat = os.stat(path)
    except OSError:
        return ("path", os.path.realpath(path))
    return ("inode", stat.st_dev, stat.st_ino)


def _inside(path: str, directory: str) -> bool:
    real, root = os.path.realpath(path), os.path.realpath(directory)
    return os.path.isdir(root) and os.path.commonpath([real, root]) == root


def check_paths(args: argparse.Namespace) -> None:
    """Refuses (``UsageError``) an output that is an input, or two outputs on one path.

    Raises:
      encore_jax.cli._errors.UsageError: naming both options and the way out.
    """

    roles = getattr(args, "path_roles", None) or PathRoles(inputs=(), outputs=(), tables=())
    inputs = list(_paths(args, (*INPUT_ARGS, *roles.inputs)))
    outputs: list[tuple[str, str]] = []
    for dest, path in _paths(args, (*OUTPUT_ARGS, *roles.outputs)):
        outputs.append((_flag(dest), path))
        sidecar = _sidecar(args, dest, path) if dest in roles.tables else None
        if sidecar is not None:
            outputs.append((f"{_flag(dest)}'s metadata sidecar", sidecar))
    seen: dict[tuple[Any, ...], tuple[str, str]] = {}
    for label, path in outputs:
        for dest, source in inputs:
            same = _identity(path) == _identity(source)
            if same or _inside(path, source):
                where = "is" if same else "is inside"
                raise UsageError(
                    f"{label} {path} {where} the input {_flag(dest)} {source}; an output "
                    "never replaces an input (not even with --force): write it elsewhere")
        key = _identity(path)
        if key in seen:
            first, first_path = seen[key]
            raise UsageError(f"{label} {path} and {first} {first_path} name the same file; "
                             "give each output its own path")
        seen[key] = (label, path)
