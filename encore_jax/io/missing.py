"""The one missing-value policy of every reader and command.

A *missing* value is an empty CSV cell, a JSON ``null`` or absent key, a parquet / Arrow null,
a ``False`` entry of an NPZ mask, or a value equal to ``mask_value``. ``NaN`` is never a
missing value: it is an error (it usually means a failed computation upstream).

``missing`` (option ``--missing``) says what happens to them:

* ``"mask"`` (the default): the cell stays in the table with ``mask = False``; entropies count
  only observed ratings, composites of such rows are null, labels of such pairs are null.
* ``"drop"``: rows (responses, or pairs) with any missing cell are removed.
* ``"error"``: the first missing cell is a :class:`DataError` naming its row and column.

Every result reports what the policy did as :class:`MissingCounts` (cells seen, rows
dropped); nothing is ever filled in or dropped silently.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from encore_jax.io.tables import DataError, MissingCounts

__all__ = ["DEFAULT_MISSING", "MISSING_POLICIES", "apply_missing", "check_missing_policy"]

MISSING_POLICIES = ("mask", "drop", "error")
DEFAULT_MISSING = "mask"


def check_missing_policy(missing: str) -> str:
    """``missing`` if it is one of :data:`MISSING_POLICIES`, else a ``ValueError``."""
    if missing not in MISSING_POLICIES:
        raise ValueError(f"missing must be one of {MISSING_POLICIES}, got {missing!r}")
    return missing


def apply_missing(
    masks: Sequence[np.ndarray],
    missing: str,
    *,
    where: Callable[[int, int, int], str],
) -> tuple[np.ndarray | None, MissingCounts]:
    """Applies the policy to the masks ``[n, K]`` of one chunk (several blocks for pairs).

    Args:
      masks: boolean ``[n, K]`` arrays, ``True`` = observed (one per block of a row).
      missing: one of :data:`MISSING_POLICIES`.
      where: ``where(block, i, k)`` -> the text naming row ``i``, column ``k`` of ``block``
        in an error message.

    Returns:
      ``(keep, counts)``: ``keep`` the boolean ``[n]`` rows to keep (``None``: keep all).

    Raises:
      DataError: ``missing="error"`` and a cell is missing.
    """
    check_missing_policy(missing)
    cells = sum(int(m.size - np.count_nonzero(m)) for m in masks)
    if cells == 0:
        return None, MissingCounts(missing, 0, 0)
    if missing == "error":
        for block, mask in enumerate(masks):
            if not mask.all():
                i, k = (int(j) for j in np.argwhere(~mask)[0])
                raise DataError(
                    f"{where(block, i, k)}: missing value ({cells} missing in this chunk); "
                    "pass --missing mask (missing='mask') to keep it masked or --missing drop "
                    "to drop its row"
                )
    if missing == "mask":
        return None, MissingCounts(missing, cells, 0)
    keep = np.logical_and.reduce([m.all(axis=1) for m in masks])
    return keep, MissingCounts(missing, cells, int(keep.size - np.count_nonzero(keep)))
