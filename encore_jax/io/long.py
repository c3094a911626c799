"""The long layout: one row per rating ``(id, rule, rating)``, pivoted to ``[N, K]``.

Several annotators may rate the same (response, rule); ``pool`` says how their ratings become
one: ``"mean"``, ``"median"`` or ``"majority"`` (the most frequent value; a tie goes to the
smallest). For integer ratings a mean or median between two levels is rounded to the nearest
level, a half to the even level (``numpy.rint``). Without ``pool`` a repeated rating is an
error that says so.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from encore_jax.io.layouts import batch_text, batch_values, require_columns
from encore_jax.io.sources import Source
from encore_jax.io.tables import DataError, check_unique

__all__ = ["POOLS", "pivot_long", "pool_values"]

POOLS = ("mean", "median", "majority")


def pool_values(groups: np.ndarray, values: np.ndarray, pool: str
                ) -> tuple[np.ndarray, np.ndarray]:
    """``(group keys [G], pooled values [G])``: the values of each group key pooled.

    Args:
      groups: integer group key of each value ``[M]``.
      values: float64 values ``[M]``.
      pool: one of :data:`POOLS`.
    """
    if pool not in POOLS:
        raise ValueError(f"pool must be one of {POOLS}, got {pool!r}")
    order = np.lexsort((values, groups))
    g, v = groups[order], values[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    counts = np.diff(np.r_[starts, g.size])
    keys = g[starts]
    if pool == "mean":
        return keys, np.add.reduceat(v, starts) / counts
    if pool == "median":
        return keys, (v[starts + (counts - 1) // 2] + v[starts + counts // 2]) / 2
    # majority: runs of equal (group, value); the longest run of each group, first on a tie
    run_starts = np.flatnonzero(np.r_[True, (g[1:] != g[:-1]) | (v[1:] != v[:-1])])
    run_lengths = np.diff(np.r_[run_starts, g.size])
    run_group = np.searchsorted(starts, run_starts, side="right") - 1
    best = np.full(keys.size, -1)
    best_len = np.zeros(keys.size, dtype=np.int64)
    for r in range(run_starts.size):  # runs are few next to ratings
        if run_lengths[r] > best_len[run_group[r]]:
            best_len[run_group[r]] = run_lengths[r]
            best[run_group[r]] = run_starts[r]
    return keys, v[best]


def pivot_long(
    source: Source,
    *,
    id_column: str,
    rule_column: str,
    rating_column: str,
    rule_columns: Sequence[str] | None,
    pool: str | None,
    batch_rows: int,
) -> tuple[tuple[str, ...], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(rule names, ids [N], values float64 [N, K], present [N, K], rows [N, K])`` of a long
    table; responses and rules in order of first appearance (or ``rule_columns``' order)."""
    from encore_jax.io.layouts import RuleColumn

    check_unique(source.name, source.names, "column name")
    require_columns(source, [id_column, rule_column, rating_column])
    if len({id_column, rule_column, rating_column}) != 3:
        raise ValueError("id_column, rule_column and rating_column must be three different columns")
    if pool is not None and pool not in POOLS:
        raise ValueError(f"pool must be one of {POOLS}, got {pool!r}")
    rating = RuleColumn(rating_column, "number", (rating_column,))
    ids, rules, values, present = [], [], [], []
    start = 0
    for batch in source.batches([id_column, rule_column, rating_column], numeric=[rating_column],
                                text=[id_column, rule_column], batch_rows=batch_rows,
                                whole=True):
        v, p = batch_values(source, batch, [rating], start)
        ids.append(batch_text(source, batch, id_column, start))
        rules.append(batch_text(source, batch, rule_column, start))
        values.append(v[:, 0])
        present.append(p[:, 0])
        start += batch.num_rows
    if not ids:
        raise DataError(f"{source.name}: header only, no ratings")
    id_arr, rule_arr = np.concatenate(ids), np.concatenate(rules)
    value_arr, present_arr = np.concatenate(values), np.concatenate(present)
    row_arr = np.arange(id_arr.size)
    if rule_columns is not None:
        wanted = tuple(rule_columns)
        check_unique(source.name, wanted, "rule name")
        keep = np.isin(rule_arr, np.array(wanted, dtype=str))
        found = set(rule_arr[keep].tolist())
        absent = [name for name in wanted if name not in found]
        if absent:
            raise DataError(f"{source.name}: no rating for rule {absent[0]!r} in {rule_column!r}")
        id_arr, rule_arr, value_arr = id_arr[keep], rule_arr[keep], value_arr[keep]
        present_arr, row_arr = present_arr[keep], row_arr[keep]
        names = wanted
    else:
        _, first = np.unique(rule_arr, return_index=True)
        names = tuple(str(rule_arr[i]) for i in np.sort(first))
    unique_ids, id_first, id_index = np.unique(id_arr, return_index=True, return_inverse=True)
    order = np.argsort(id_first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    row_index = rank[id_index]
    rule_unique, rule_index = np.unique(rule_arr, return_inverse=True)
    col_of = {name: k for k, name in enumerate(names)}
    col_index = np.array([col_of[str(r)] for r in rule_unique], dtype=np.int64)[rule_index]
    k = len(names)
    flat = row_index * k + col_index
    # a missing rating of one annotator does not hide the others' ratings
    flat_obs, value_obs, row_obs = flat[present_arr], value_arr[present_arr], row_arr[present_arr]
    keys, counts = np.unique(flat_obs, return_counts=True)
    if (counts > 1).any() and pool is None:
        dup = keys[np.argmax(counts > 1)]
        hits = np.flatnonzero(flat_obs == dup)
        i0, i1 = int(row_obs[hits[0]]), int(row_obs[hits[1]])
        raise DataError(
            f"{source.where(i1)}: repeats the rating of response {str(id_arr[i0])!r} by rule "
            f"{str(rule_arr[i0])!r} ({source.row_word} {i0 + source.row_base}); for several "
            "annotators add --pool mean|median|majority (pool=...)"
        )
    out = np.zeros(unique_ids.size * k)
    mask = np.zeros(unique_ids.size * k, dtype=bool)
    if pool is not None and flat_obs.size:
        keys, pooled = pool_values(flat_obs, value_obs, pool)
        out[keys], mask[keys] = pooled, True
    else:
        out[flat_obs], mask[flat_obs] = value_obs, True
    rows = np.full(unique_ids.size * k, -1, dtype=np.int64)
    rows[flat[::-1]] = row_arr[::-1]  # the first row that names each cell
    shape = (unique_ids.size, k)
    return names, unique_ids[order], out.reshape(shape), mask.reshape(shape), rows.reshape(shape)
