"""The CLI's one error type, below every other CLI module (so none of them import upward)."""

from __future__ import annotations

__all__ = ["UsageError"]


class UsageError(Exception):
    """Bad input detected by a command; reported in one line with exit code 2."""
