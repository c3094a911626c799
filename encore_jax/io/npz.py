"""NPZ archives as Arrow tables, read with ``numpy.load`` (no hand-written ``.npy`` parsing).

Members are loaded whole, one archive at a time (an NPZ member cannot be memory-mapped).
Before anything is loaded the archive's directory is checked: every member must be a ``.npy``
array, their declared uncompressed sizes must sum to at most :data:`MAX_NPZ_BYTES` (2 GiB:
a larger data set belongs in parquet, which is streamed), and each ``.npy`` header's shape
must fit in its member's declared size (so a small archive cannot inflate past the limit).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from encore_jax.io.sources import TableSource, _pa, short
from encore_jax.io.tables import DataError

__all__ = ["MAX_NPZ_BYTES", "NpzSource", "check_npz_archive"]

#: The most bytes the members of an NPZ archive may declare, uncompressed, summed (2 GiB).
MAX_NPZ_BYTES = 1 << 31


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
        check_npz_archive(path)
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


def check_npz_archive(path: Path, limit: int | None = None) -> None:
    """Checks an NPZ archive's directory and ``.npy`` headers without loading any array.

    Raises:
      DataError: not a zip archive, a member that is not ``.npy``, declared sizes summing
        past ``limit`` bytes, or a header whose shape needs more bytes than its member holds.
    """
    import zipfile

    from numpy.lib import format as npy

    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        raise DataError(f"{path}: not a readable NPZ archive ({short(err)})") from None
    limit = MAX_NPZ_BYTES if limit is None else limit
    with archive:
        infos = archive.infolist()
        for info in infos:
            if not info.filename.endswith(".npy"):
                raise DataError(f"{path}: member {info.filename!r} is not a .npy array (an NPZ "
                                "archive holds only .npy members, as numpy.savez writes)")
        total = sum(info.file_size for info in infos)
        if total > limit:
            raise DataError(f"{path}: its members declare {total} bytes uncompressed, over the "
                            f"NPZ limit of {limit} bytes (encore_jax.io.npz.MAX_NPZ_BYTES); "
                            "write data this large as parquet, which is streamed")
        for info in infos:
            try:
                with archive.open(info) as member:
                    version = npy.read_magic(member)
                    read = {(1, 0): npy.read_array_header_1_0,
                            (2, 0): npy.read_array_header_2_0}.get(version)
                    if read is None:  # version 3.0 (utf-8 field names): the same layout
                        shape, _, dtype = npy._read_array_header(member, version)
                    else:
                        shape, _, dtype = read(member)
            except (ValueError, OSError, zipfile.BadZipFile, EOFError) as err:
                raise DataError(f"{path}: member {info.filename!r} is not a readable .npy "
                                f"array ({short(err)})") from None
            need = int(np.prod(shape, dtype=object)) * dtype.itemsize
            if need > info.file_size:
                raise DataError(f"{path}: member {info.filename!r} declares shape {shape} "
                                f"({need} bytes) in {info.file_size} bytes: a broken archive")


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
