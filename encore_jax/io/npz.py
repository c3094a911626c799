"""NPZ archives as Arrow tables, read with ``numpy.load`` (no hand-written ``.npy`` parsing).

Members are loaded whole, one archive at a time (an NPZ member cannot be memory-mapped).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from encore_jax.io.sources import TableSource, _pa, short
from encore_jax.io.tables import DataError

__all__ = ["NpzSource"]


class NpzSource(TableSource):
    """An NPZ archive read with ``numpy.load`` (members are loaded whole, one at a time).

    Matrix mode: ``ratings [N, K]`` (optional ``mask [N, K]``, ``rule_names [K]`` and 1-D
    ``[N]`` arrays such as ids), or pair blocks ``chosen`` / ``rejected`` ``[N, K]`` (optional
    ``chosen_mask`` / ``rejected_mask``), seen as columns ``chosen_<rule>``, ...
    Column mode (as :func:`encore_jax.write_table` writes): every 1-D array is a column,
    ``<name>_mask`` its mask.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            with path.open("rb") as handle, np.load(handle, allow_pickle=False) as archive:
                arrays = {name: archive[name] for name in archive.files}
        except Exception as err:  # noqa: BLE001 - numpy raises many types for a broken archive
            raise DataError(f"{path}: not a readable NPZ archive ({short(err)})") from None
        meta = arrays.pop("__metadata__", None)
        table = _npz_table(path, arrays)
        if meta is not None:
            table = table.replace_schema_metadata({"encore_jax": str(meta)})
        super().__init__(table, str(path))


def _matrix_columns(path: Path, arrays: dict[str, np.ndarray], key: str, prefix: str,
                    names: Sequence[str] | None) -> dict[str, Any]:
    pa = _pa()
    matrix = arrays.pop(key)
    if matrix.ndim != 2:
        raise DataError(f"{path}: {key!r} must be [N, K], got shape {matrix.shape}")
    if matrix.dtype.kind not in "biuf":
        raise DataError(f"{path}: {key!r} must be numeric, got dtype {matrix.dtype}")
    mask = arrays.pop(f"{key}_mask" if key != "ratings" else "mask", None)
    if mask is not None and (mask.shape != matrix.shape or mask.dtype != np.bool_):
        raise DataError(f"{path}: the mask of {key!r} must be boolean with shape "
                        f"{matrix.shape}, got {mask.dtype} {mask.shape}")
    k = matrix.shape[1]
    names = [f"rule_{j}" for j in range(k)] if names is None else list(names)
    if len(names) != k:
        raise DataError(f"{path}: {len(names)} rule_names for {k} columns of {key!r}")
    from encore_jax.io.tables import check_unique

    check_unique(str(path), names, "rule name")
    return {prefix + name: pa.array(np.ascontiguousarray(matrix[:, j]),
                                    mask=None if mask is None else ~mask[:, j])
            for j, name in enumerate(names)}


def _npz_table(path: Path, arrays: dict[str, np.ndarray]) -> Any:
    pa = _pa()
    for name, array in arrays.items():
        if array.dtype.hasobject:
            raise DataError(f"{path}: array {name!r} holds Python objects; use numbers")
    names = arrays.pop("rule_names", None)
    names = None if names is None else [str(n) for n in names]
    columns: dict[str, Any] = {}
    if "ratings" in arrays:
        columns.update(_matrix_columns(path, arrays, "ratings", "", names))
    for key in [k for k, a in arrays.items() if a.ndim == 2 and not k.endswith("_mask")]:
        columns.update(_matrix_columns(path, arrays, key, key + "_", names))
    for name, array in arrays.items():
        if name.endswith("_mask") and name[:-5] in arrays:
            continue
        if array.ndim != 1:
            raise DataError(f"{path}: array {name!r} must be 1-D (a column), got shape "
                            f"{array.shape}; a ratings matrix is named 'ratings'")
        mask = arrays.get(name + "_mask")
        if mask is not None and (mask.shape != array.shape or mask.dtype != np.bool_):
            raise DataError(f"{path}: {name + '_mask'!r} must be boolean like {name!r}")
        columns[name] = pa.array(array, mask=None if mask is None else ~mask)
    if not columns:
        raise DataError(f"{path}: no 'ratings' array and no columns (found {sorted(arrays)})")
    lengths = {len(c) for c in columns.values()}
    if len(lengths) != 1:
        raise DataError(f"{path}: the arrays have different lengths {sorted(lengths)}")
    return pa.table(columns)
