"""Which columns hold the ratings, and how a record batch becomes a ``[n, K]`` matrix.

Layouts of a table (one row per response unless said otherwise):

* plain number columns, one per rule (the *wide* layout);
* a list-valued column holding the ``K`` rule scores of the row: rules named ``<column>[i]``,
  or from ``list_names`` / the file's ``encore_jax`` metadata ``{"rule_names": {column:
  [...]}}``;
* a struct column (e.g. a dict of category booleans): one rule per field, named by the field;
* id, subset and text columns are kept beside the ratings and never taken for rules; with no
  column options every number, list or struct column is a rule and every text column is text;
* ``exclude``: columns to leave out.

Pairs have two blocks per row, ``<chosen_prefix><x>`` and ``<rejected_prefix><x>`` (each ``x``
a number, list or struct column as above). The long layout (one row per rating) and its
pooling of several annotators live in :mod:`encore_jax.io.long`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from encore_jax.io.sources import Source
from encore_jax.io.tables import DataError, check_unique

__all__ = ["RuleColumn", "pair_columns", "pair_excludes", "to_levels", "to_scores", "wide_columns"]

_INT32 = np.iinfo(np.int32)


class RuleColumn(NamedTuple):
    """One input column holding rules: ``kind`` ``"number"``, ``"list"`` or ``"struct"``;
    ``names`` the rule names it gives (one for a number column)."""

    column: str
    kind: str
    names: tuple[str, ...]


def _pa() -> Any:
    import pyarrow as pa

    return pa


def _kind(arrow_type: Any) -> str:
    """``number``, ``list``, ``struct``, ``text`` or ``other``."""
    t = _pa().types
    if (t.is_integer(arrow_type) or t.is_floating(arrow_type) or t.is_boolean(arrow_type)
            or t.is_decimal(arrow_type) or t.is_null(arrow_type)):
        return "number"
    if t.is_list(arrow_type) or t.is_large_list(arrow_type) or t.is_fixed_size_list(arrow_type):
        return "list"
    if t.is_struct(arrow_type):
        return "struct"
    if t.is_string(arrow_type) or t.is_large_string(arrow_type) or t.is_dictionary(arrow_type):
        return "text"
    return "other"


def require_columns(source: Source, names: Sequence[str | None]) -> None:
    for name in names:
        if name is not None and name not in source.names:
            shown = ", ".join(repr(c) for c in source.names[:12])
            more = ", ..." if len(source.names) > 12 else ""
            raise DataError(f"{source.name}: no column {name!r} (columns: {shown}{more})")


def _list_length(source: Source, column: str) -> int:
    pa = _pa()
    arrow_type = source.schema.field(column).type
    if pa.types.is_fixed_size_list(arrow_type):
        return int(arrow_type.list_size)
    head = source.head().column(column)
    import pyarrow.compute as pc

    lengths = pc.list_value_length(head).drop_null().to_numpy(zero_copy_only=False)
    if lengths.size == 0:
        raise DataError(f"{source.name}: column {column!r} holds no list in its first rows; "
                        "name its rules with list_names (--list-names)")
    return int(lengths[0])


def _rule_column(source: Source, column: str, display: str,
                 list_names: Mapping[str, Sequence[str]] | None) -> RuleColumn:
    """The rules that ``column`` holds (``display`` is its name without a pair prefix)."""
    arrow_type = source.schema.field(column).type
    kind = _kind(arrow_type)
    if kind == "list":
        names = (list_names or {}).get(display)
        if names is None:
            names = ((source.metadata.get("rule_names") or {}).get(display)
                     if isinstance(source.metadata.get("rule_names"), dict) else None)
        if names is None:
            names = [f"{display}[{i}]" for i in range(_list_length(source, column))]
        return RuleColumn(column, "list", tuple(str(n) for n in names))
    if kind == "struct":
        return RuleColumn(column, "struct", tuple(field.name for field in arrow_type))
    if kind in ("number", "text"):  # a text column named as a rule must hold numbers
        return RuleColumn(column, "number", (display,))
    raise DataError(f"{source.name}: column {column!r} has type {arrow_type}, expected numbers "
                    f"(or a list / struct of numbers); leave it out with --exclude {column}")


#: Cells that stand for "no value" in some exports (compared after trimming spaces, case
#: ignored). They are never read as missing (only an empty cell is): a rule column holding
#: one is an error naming the column and the marker, never a column silently taken as text.
NULL_MARKERS = frozenset({"-", "--", "?", ".", "na", "n/a", "#n/a", "nan", "null", "none",
                          "missing"})
_NUMBER = r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^$|^(?i:true|false)$"


def _text_holds_numbers(source: Source, column: str) -> bool:
    """Whether an inferred text column holds numbers (with blank cells: a rule column),
    judged on its first rows. One that holds only numbers and :data:`NULL_MARKERS` (``-``,
    ``n/a``, ...), or mostly numbers, is a rule column with a stray marker: an error with the
    fix, never a silently skipped rule."""
    import pyarrow.compute as pc

    values = source.head().column(column).drop_null()
    if len(values) == 0:
        return False
    trimmed = pc.utf8_trim_whitespace(values.cast(_pa().string()))
    numeric = pc.match_substring_regex(trimmed, _NUMBER).to_numpy(zero_copy_only=False)
    if numeric.all():
        return True
    lowered = pc.utf8_lower(trimmed).to_pylist()
    marker = np.array([v in NULL_MARKERS for v in lowered], dtype=bool)
    if (numeric | marker).all():
        i = int(np.argmax(marker))
        cell = values[i].as_py()
        count = int(marker.sum())
        raise DataError(
            f"{source.where(i, column)}: {cell!r} in a column of numbers ({count} of its "
            f"first {len(values)} cells are markers such as {cell!r}, the others numbers); "
            f"only an empty cell is a missing value: replace {cell.strip()!r} with an empty "
            f"cell, or, if {column!r} is text, add --text-columns {column} (or --exclude "
            f"{column})")
    if numeric.mean() < 0.5:
        return False
    i = int(np.argmin(numeric))
    raise DataError(
        f"{source.where(i, column)}: {values[i].as_py()!r} is not a number in a column of "
        f"numbers; leave missing cells empty (or use --mask-value), or, if {column!r} is text, "
        f"add --text-columns {column} (or --exclude {column})"
    )


class Columns(NamedTuple):
    """The roles of a table's columns: rule columns, and the columns kept beside them."""

    rules: tuple[RuleColumn, ...]
    id_column: str | None
    subset_column: str | None
    text_columns: tuple[str, ...]

    @property
    def rule_names(self) -> tuple[str, ...]:
        return tuple(n for rc in self.rules for n in rc.names)

    @property
    def kept(self) -> tuple[str, ...]:
        return tuple(c for c in (self.id_column, self.subset_column, *self.text_columns)
                     if c is not None)


def _kept_columns(source: Source, id_column, subset_column, text_columns, exclude):
    named = [c for c in (id_column, subset_column, *(text_columns or ()), *(exclude or ()))
             if c is not None]
    require_columns(source, named)
    return set(named)


def wide_columns(
    source: Source,
    *,
    rule_columns: Sequence[str] | None = None,
    id_column: str | None = None,
    subset_column: str | None = None,
    text_columns: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    list_names: Mapping[str, Sequence[str]] | None = None,
) -> Columns:
    """The rule columns of a one-row-per-response table (see the module docstring)."""
    if isinstance(rule_columns, str):
        raise TypeError(f"rule_columns must be a sequence of names, got {rule_columns!r}")
    check_unique(source.name, source.names, "column name")
    taken = _kept_columns(source, id_column, subset_column, text_columns, exclude)
    text = list(text_columns or ())
    if rule_columns is not None:
        names = tuple(rule_columns)
        if not names:
            raise ValueError("rule_columns is empty; name at least one rule column")
        check_unique(source.name, names, "rule name")
        require_columns(source, names)
        rules = tuple(_rule_column(source, c, c, list_names) for c in names)
    else:
        rules_list = []
        for column in source.names:
            if column in taken:
                continue
            kind = _kind(source.schema.field(column).type)
            if kind == "text" and not _text_holds_numbers(source, column):
                text.append(column)
            else:
                rules_list.append(_rule_column(source, column, column, list_names))
        rules = tuple(rules_list)
        if not rules:
            raise DataError(f"{source.name}: no rule columns (columns: "
                            f"{', '.join(map(repr, source.names[:12]))}); name them with "
                            "--rule-columns")
    result = Columns(rules, id_column, subset_column, tuple(dict.fromkeys(text)))
    check_unique(source.name, result.rule_names, "rule name")
    return result


def pair_excludes(source: Source, exclude: Sequence[str] | None, chosen_prefix: str,
                  rejected_prefix: str) -> list[str]:
    """The columns ``exclude`` leaves out of a pairs table: an entry is a column name or a
    base ``x`` of ``<chosen_prefix>x`` / ``<rejected_prefix>x``; either side of a pair of
    rating columns leaves out both (a rule is read from both responses or from neither)."""
    if isinstance(exclude, str):
        raise TypeError(f"exclude must be a sequence of names, got {exclude!r}")
    names = set(source.names)
    out: list[str] = []
    for entry in exclude or ():
        base = None
        for prefix in (chosen_prefix, rejected_prefix):
            if entry.startswith(prefix) and entry[len(prefix):]:
                base = entry[len(prefix):] if entry in names else base
        if entry in names and base is None:
            out.append(entry)
            continue
        base = entry if base is None else base
        found = [p + base for p in (chosen_prefix, rejected_prefix) if p + base in names]
        if not found:
            require_columns(source, [entry])
        out.extend(found)
    return list(dict.fromkeys(out))


def pair_columns(
    source: Source,
    *,
    chosen_prefix: str = "chosen_",
    rejected_prefix: str = "rejected_",
    rule_columns: Sequence[str] | None = None,
    id_column: str | None = None,
    subset_column: str | None = None,
    text_columns: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    list_names: Mapping[str, Sequence[str]] | None = None,
    keep_text: bool = True,
) -> tuple[Columns, Columns]:
    """The chosen and rejected rule columns of a one-row-per-pair table: every
    ``<chosen_prefix><x>`` needs its ``<rejected_prefix><x>``; other columns are kept (text,
    unless ``keep_text=False``: then only the named ``text_columns``) or ignored (numbers)."""
    if not chosen_prefix or not rejected_prefix or chosen_prefix == rejected_prefix:
        raise ValueError(f"chosen_prefix and rejected_prefix must be two different non-empty "
                         f"strings, got {chosen_prefix!r} and {rejected_prefix!r}")
    check_unique(source.name, source.names, "column name")
    exclude = pair_excludes(source, exclude, chosen_prefix, rejected_prefix)
    taken = _kept_columns(source, id_column, subset_column, text_columns, exclude)
    text = list(text_columns or ())

    def block(prefix: str) -> list[str]:
        return [c[len(prefix):] for c in source.names
                if c.startswith(prefix) and c not in taken]

    chosen, rejected = block(chosen_prefix), block(rejected_prefix)
    for mine, theirs, (p, q) in ((chosen, rejected, (chosen_prefix, rejected_prefix)),
                                 (rejected, chosen, (rejected_prefix, chosen_prefix))):
        for x in mine:
            if x not in theirs:
                raise DataError(f"{source.name}: column {p + x!r} has no partner column "
                                f"{q + x!r}; add it, or leave it out with --exclude {p + x}")
    if rule_columns is not None:
        bases = tuple(rule_columns)
        check_unique(source.name, bases, "rule name")
        require_columns(source, [chosen_prefix + b for b in bases])
    else:
        bases = tuple(chosen)
    if not bases:
        raise DataError(f"{source.name}: no rating columns with prefixes {chosen_prefix!r} / "
                        f"{rejected_prefix!r} (columns: {', '.join(map(repr, source.names[:12]))}"
                        "); set the prefixes with --chosen-prefix / --rejected-prefix")
    kept = set(chosen_prefix + b for b in bases) | set(rejected_prefix + b for b in bases)
    for column in source.names:
        if keep_text and column not in kept and column not in taken and column not in text \
                and _kind(source.schema.field(column).type) == "text":
            text.append(column)
    blocks = []
    for prefix in (chosen_prefix, rejected_prefix):
        rules = tuple(_rule_column(source, prefix + b, b, list_names) for b in bases)
        blocks.append(Columns(rules, id_column, subset_column, tuple(dict.fromkeys(text))))
    if blocks[0].rule_names != blocks[1].rule_names:
        raise DataError(f"{source.name}: the {chosen_prefix!r} and {rejected_prefix!r} columns "
                        f"give different rules: {blocks[0].rule_names} and "
                        f"{blocks[1].rule_names}")
    check_unique(source.name, blocks[0].rule_names, "rule name")
    return blocks[0], blocks[1]


# ------------------------------------------------------------------------------------------
# A record batch -> values [n, K] float64 and present [n, K] bool
# ------------------------------------------------------------------------------------------


def _number_array(source: Source, column: Any, name: str, start: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """float64 values and presence of one Arrow column (text holding numbers is parsed)."""
    import pyarrow.compute as pc

    pa = _pa()
    if isinstance(column, pa.ChunkedArray) and column.num_chunks == 1:
        column = column.chunk(0)
    kind = _kind(column.type)
    if kind == "text":
        column = pc.utf8_trim_whitespace(column.cast(pa.string()))
        column = pc.if_else(pc.equal(column, ""), pa.scalar(None, pa.string()), column)
        lowered = pc.utf8_lower(column)  # true / false are 1 / 0, as booleans elsewhere
        column = pc.if_else(pc.equal(lowered, "true"), "1",
                            pc.if_else(pc.equal(lowered, "false"), "0", column))
        try:
            column = pc.cast(column, pa.float64())
        except pa.ArrowInvalid:
            cells = column.to_pylist()
            for i, cell in enumerate(cells):
                try:
                    if cell is not None:
                        float(cell)
                except ValueError:
                    raise DataError(
                        f"{source.where(start + i, name)}: {cell!r} is not a number; leave "
                        f"missing cells empty (or use --mask-value), or, if {name!r} is text, "
                        f"add --text-columns {name} (or --exclude {name})") from None
            raise
    elif kind != "number":
        raise DataError(f"{source.name}: column {name!r} has type {column.type}, expected "
                        f"numbers; if it is text, add --id-column/--text-columns {name} or "
                        f"--exclude {name}")
    present = ~column.is_null().to_numpy(zero_copy_only=False)
    if pa.types.is_integer(column.type):  # kept as integers: no float round trip
        if column.null_count:
            column = column.fill_null(0)
        return column.to_numpy(zero_copy_only=False), present
    if column.type != pa.float64():
        column = pc.cast(column, pa.float64(), safe=False)
    values = column.to_numpy(zero_copy_only=False)
    if not present.all():
        values = np.where(present, values, 0.0)
    return values, present


def _list_block(source: Source, column: Any, rule: RuleColumn, start: int
                ) -> tuple[np.ndarray, np.ndarray]:
    import pyarrow.compute as pc

    pa = _pa()
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    k = len(rule.names)
    n = len(column)
    lengths = pc.list_value_length(column).to_numpy(zero_copy_only=False)
    valid = ~column.is_null().to_numpy(zero_copy_only=False)
    wrong = valid & (np.nan_to_num(lengths, nan=k) != k)
    if wrong.any():
        i = int(np.argmax(wrong))
        raise DataError(f"{source.where(start + i, rule.column)}: a list of "
                        f"{int(lengths[i])} values; every row needs {k} (one per rule)")
    flat, present_flat = _number_array(source, column.flatten(), rule.column, start)
    values = np.zeros((n, k))
    present = np.zeros((n, k), dtype=bool)
    values[valid] = flat.reshape(-1, k)
    present[valid] = present_flat.reshape(-1, k)
    return values, present


def _struct_block(source: Source, column: Any, rule: RuleColumn, start: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    import pyarrow.compute as pc

    pa = _pa()
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    outer = ~column.is_null().to_numpy(zero_copy_only=False)
    pairs = [_number_array(source, pc.struct_field(column, [j]), f"{rule.column}.{name}", start)
             for j, name in enumerate(rule.names)]
    values = np.stack([v for v, _ in pairs], axis=1)
    present = np.stack([p for _, p in pairs], axis=1) & outer[:, None]
    return values, present


def _fits_int32(column: Any) -> bool:
    import pyarrow.compute as pc

    if not _pa().types.is_integer(column.type):
        return False
    low_high = pc.min_max(column)
    low, high = low_high["min"].as_py(), low_high["max"].as_py()
    return low is None or (low >= _INT32.min and high <= _INT32.max)


def _number_block(source: Source, batch: Any, rules: Sequence[RuleColumn], start: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Plain number columns, copied chunk by chunk into ``[K, n]`` rows (one pass per cell,
    contiguous) and returned transposed: an F-ordered ``[n, K]`` view. Integer columns that
    fit stay ``int32``; others become ``float64``."""
    pa = _pa()
    columns = [batch.column(rule.column) for rule in rules]
    whole_ints = all(_fits_int32(c) for c in columns)
    n = batch.num_rows
    values = np.empty((len(rules), n), dtype=np.int32 if whole_ints else np.float64)
    present = np.ones((len(rules), n), dtype=bool)
    for k, (rule, column) in enumerate(zip(rules, columns, strict=True)):
        kind = column.type
        if not (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
            values[k], present[k] = _number_array(source, column, rule.column, start)
            continue
        chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
        offset = 0
        for chunk in chunks:
            m = len(chunk)
            if chunk.null_count:
                present[k, offset:offset + m] = ~chunk.is_null().to_numpy(zero_copy_only=False)
                chunk = chunk.fill_null(0)
            values[k, offset:offset + m] = chunk.to_numpy(zero_copy_only=False)
            offset += m
    return values.T, present.T


def batch_values(source: Source, batch: Any, rules: Sequence[RuleColumn], start: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """``(values float64 [n, K], present bool [n, K])`` of the rule columns of ``batch``
    (rows ``start, start + 1, ...`` of the source)."""
    parts = []
    if all(rule.kind == "number" for rule in rules):
        return _number_block(source, batch, rules, start)
    for rule in rules:
        column = batch.column(rule.column)
        if rule.kind == "list":
            parts.append(_list_block(source, column, rule, start))
        elif rule.kind == "struct":
            parts.append(_struct_block(source, column, rule, start))
        else:
            v, p = _number_array(source, column, rule.column, start)
            parts.append((v[:, None], p[:, None]))
    return (np.concatenate([v for v, _ in parts], axis=1),
            np.concatenate([p for _, p in parts], axis=1))


def batch_text(source: Source, batch: Any, name: str, start: int,
               allow_null: bool = False) -> np.ndarray:
    """A text column as a NumPy string array; a missing id is an error."""
    pa = _pa()
    column = batch.column(name)
    if not allow_null and column.null_count:
        i = int(np.argmax(column.is_null().to_numpy(zero_copy_only=False)))
        raise DataError(f"{source.where(start + i, name)}: missing value")
    if _kind(column.type) not in ("text", "number"):
        raise DataError(f"{source.name}: column {name!r} has type {column.type}, expected text")
    strings = column.cast(pa.string()).to_pylist()
    # object, not fixed-width unicode: 4 bytes a character of the longest string, per row
    return np.array(["" if s is None else s for s in strings], dtype=object)


# ------------------------------------------------------------------------------------------
# Values -> validated levels or scores
# ------------------------------------------------------------------------------------------


def _fmt(value: float) -> str:
    return str(int(value)) if math.isfinite(value) and value == int(value) else repr(value)


def _first(bad: np.ndarray, values: np.ndarray, where: Any, names: Sequence[str]):
    i, k = (int(j) for j in np.argwhere(bad)[0])
    return where(i, names[k]), float(values[i, k])


def observed(values: np.ndarray, present: np.ndarray, mask_value: float | None) -> np.ndarray:
    mask = present
    if mask_value is not None:
        mask = mask & ~(np.isnan(values) if math.isnan(mask_value) else values == mask_value)
    return mask


def to_levels(values: np.ndarray, mask: np.ndarray, names: Sequence[str], where: Any, *,
              num_levels: int | None, bin_range: tuple[float, float] | None,
              level_offset: int = 0) -> np.ndarray:
    """Validated ``int32`` levels (masked entries 0); errors name the row and column and
    say which option fixes them."""
    if bin_range is not None:
        from encore_jax.entropy import discretize

        low, high = bin_range
        bad = mask & ~((values >= low) & (values <= high))
        if bad.any():
            at, value = _first(bad, values, where, names)
            raise DataError(f"{at}: {_fmt(value)} is outside the binning range [{low}, {high}]"
                            "; scores are never clipped: widen --bin-range LOW HIGH")
        try:
            levels = np.asarray(discretize(np.where(mask, values, low), num_levels,
                                           low=low, high=high))
        except ValueError as err:
            raise DataError(f"{where(0, names[0]).split(':')[0]}: {err}") from None
        return np.where(mask, levels, 0).astype(np.int32)
    bad = (mask & ~(np.isfinite(values) & (values == np.round(values)))
           if values.dtype.kind == "f" else np.zeros((0, 0), bool))
    if bad.any():
        at, value = _first(bad, values, where, names)
        hint = ("NaN is not a missing value: leave the cell empty" if math.isnan(value) else
                "for continuous scores add --bin-range LOW HIGH (bin_range=(low, high)) to "
                "bin them into --levels L levels")
        raise DataError(f"{at}: {_fmt(value)} is not an integer level; {hint}")
    if values.size and (values.min() < _INT32.min or values.max() > _INT32.max):
        bad = mask & ((values < _INT32.min) | (values > _INT32.max))
    else:
        bad = np.zeros((0, 0), bool)
    if bad.any():
        at, value = _first(bad, values, where, names)
        raise DataError(f"{at}: {_fmt(value)} is outside the int32 range")
    levels = (values if mask.all() else np.where(mask, values, 0)).astype(np.int32, copy=False)
    if level_offset:
        levels = np.where(mask, levels - np.int32(level_offset), 0).astype(np.int32)
    if num_levels is not None and levels.size and (levels.min() < 0
                                                    or levels.max() >= num_levels):
        bad = mask & ((levels < 0) | (levels >= num_levels))
        if bad.any():
            at, _ = _first(bad, values, where, names)
            i, k = (int(j) for j in np.argwhere(bad)[0])
            level = int(levels[i, k])
            seen = levels[mask] if mask.any() else levels
            if level == num_levels and seen.min() >= 1 and not level_offset:
                hint = (f"the ratings look 1-based (1..{num_levels}): subtract 1 with "
                        f"--level-offset 1 (level_offset=1), or use --levels {num_levels + 1}")
            elif level >= num_levels:
                hint = f"use --levels {int(seen.max()) + 1} if the scale has more levels"
            else:
                hint = "levels count from 0; use --level-offset to shift them"
            raise DataError(f"{at}: level {_fmt(values[i, k])}"
                            f"{f' - {level_offset}' if level_offset else ''} is outside "
                            f"0..{num_levels - 1} (num_levels={num_levels}); levels are never "
                            f"clipped: {hint}")
    return levels


def to_scores(values: np.ndarray, mask: np.ndarray, names: Sequence[str], where: Any
              ) -> np.ndarray:
    bad = mask & ~np.isfinite(values)
    if bad.any():
        at, value = _first(bad, values, where, names)
        raise DataError(f"{at}: {value} is not a finite number (NaN is not a missing value: "
                        "leave the cell empty)")
    return np.where(mask, values, 0.0)
