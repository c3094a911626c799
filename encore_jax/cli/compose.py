"""``encore-jax compose``: composite rewards ``phi = sum_k w_k psi_k`` for every row of a
file, streamed chunk by chunk into a parquet / CSV / JSONL / NPZ column."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from encore_jax.cli._common import (
    EXIT_OK,
    UsageError,
    add_binning_options,
    add_chunk_option,
    add_estimator_options,
    add_input_options,
    add_json_option,
    add_output_options,
    atomic_write_all,
    declare_paths,
    input_settings,
    missing_note,
    pair_prefix_options,
    positive_float,
    print_json,
    print_table,
    progress,
    progress_enabled,
    reader_options,
)

EPILOG = """\
examples:
  encore-jax weights calib.csv --levels 5 --out weights.json
  encore-jax compose heads.parquet --weights weights.json --out rewards.parquet
  encore-jax compose ratings.csv --levels 5 --temperature 2 --out rewards.csv --id-column id
  encore-jax compose pairs.parquet --layout pairs --weights weights.json --out margins.parquet

The composite is sum_k w_k psi_k over the values in FILE (raw scores; --bin-range only
bins them for the entropies when the weights come from FILE itself). A row with a missing
rating gets a missing composite (null / empty cell), never a filled-in value. Metadata
(weights, rules, settings) goes into the parquet schema, or a .meta.json sidecar for CSV and
JSONL. Large files are read and written in chunks; nothing is written unless every row
succeeds.

--layout pairs (chosen_<x> / rejected_<x> columns, or --chosen-prefix / --rejected-prefix)
writes per pair chosen_composite, rejected_composite, margin = sum_k w_k (chosen_k -
rejected_k) (exactly 0 on ties) and missing_rules, beside the id and text columns. There,
--missing mask lets a missing score contribute nothing: to its side's composite, and (a rule
missing on either side) to the margin; drop leaves such pairs out; error stops.
"""


def _weights_for(args: argparse.Namespace) -> dict[str, Any]:
    """Rule names, weights ``[K]`` and provenance: from --weights, or ENCORE over FILE."""
    import numpy as np

    from encore_jax.io import read_weights_json

    if args.weights is not None:
        if args.levels is not None or args.bin_range is not None:
            raise UsageError("--weights gives the weights; drop --levels / --bin-range")
        if args.rule_columns is not None:
            raise UsageError("--weights names the rules; drop --rule-columns")
        loaded = read_weights_json(args.weights)
        return {"rules": loaded.rule_names, "weights": loaded.weights,
                "weights_file": str(args.weights), "method": loaded.method,
                "weights_metadata": loaded.metadata, "list_names": loaded.list_names}
    if args.levels is None:
        raise UsageError("compose needs --weights FILE, or --levels L to compute ENCORE "
                         "weights from FILE itself")
    from encore_jax.io import output_metadata
    from encore_jax.workflows.file_weights import file_weights

    options = reader_options(args)
    layout = options.pop("layout", "wide")
    if layout == "pairs":  # ENCORE weights of the chosen and rejected ratings pooled
        options.update(pair_prefix_options(args))
    result = file_weights(args.file, args.levels, temperature=args.temperature, base=args.base,
                          estimator=args.estimator, layout=layout, chunk_rows=args.chunk_rows,
                          progress=progress_enabled(), **options)
    metadata = output_metadata(
        command="weights", method="encore", file=str(args.file), num_levels=args.levels,
        temperature=args.temperature, estimator=args.estimator,
        log_base="e" if args.base is None else args.base, **input_settings(args),
        missing_counts=result.counts.missing.to_dict())
    return {"rules": result.counts.rule_names, "weights": np.asarray(result.weights),
            "weights_file": None, "method": "encore", "weights_metadata": metadata}


def _score_chunks(args: argparse.Namespace, rules: tuple[str, ...]) -> tuple[Any, int | None]:
    from encore_jax.io import DEFAULT_CHUNK_ROWS, count_rows, iter_score_chunks, read_scores

    options = reader_options(args)
    options.pop("bin_range", None)
    options.pop("level_offset", None)
    options["rule_columns"] = list(rules)
    layout = options.pop("layout", "wide")
    long_options = {name: options.pop(name) for name in ("rule_column", "rating_column", "pool")
                    if name in options}
    if layout == "long":
        table = read_scores(args.file, layout="long", **long_options, **options)
        return [table], table.scores.shape[0]
    chunks = iter_score_chunks(args.file, chunk_rows=args.chunk_rows or DEFAULT_CHUNK_ROWS,
                               **options)
    return chunks, count_rows(args.file, file_format=options.get("file_format"))


def compose_file(args: argparse.Namespace, tmp: Path, spec: dict[str, Any],
                 metadata: dict[str, Any] | None, stats: dict[str, Any]) -> None:
    """Streams FILE into the table at ``tmp``: (id column,) composite column, computed by
    :func:`encore_jax.workflows.streaming.iter_composite_scores` (a missing rating -> null)."""
    from collections import deque

    import numpy as np

    from encore_jax.io import TableWriter
    from encore_jax.workflows.streaming import iter_composite_scores

    chunks, total = _score_chunks(args, spec["rules"])
    pending_ids: deque[Any] = deque()

    def tracked(tables: Any) -> Any:
        for table in progress(tables, total=total, description="composing",
                              advance=lambda t: t.scores.shape[0]):
            pending_ids.append(table.ids)
            stats["missing_cells"] += table.missing.cells
            stats["rows_dropped"] += table.missing.rows_dropped
            yield table

    weights = np.asarray(spec["weights"], dtype=np.float32)
    composites = iter_composite_scores(tracked(chunks), weights, missing="null")
    with TableWriter(tmp, metadata=metadata, file_format=args.out_format) as writer:
        for composite in composites:
            ids = pending_ids.popleft()
            columns: dict[str, Any] = {}
            if ids is not None:
                columns[args.id_column or "response_id"] = ids
            columns[args.column] = composite.astype(np.float64)
            writer.write(columns)
            complete = ~np.ma.getmaskarray(composite)
            stats["rows"] += composite.shape[0]
            stats["missing"] += int((~complete).sum())
            if complete.any():
                values = np.ma.getdata(composite)[complete].astype(np.float64)
                stats["sum"] += float(values.sum())
                stats["min"] = min(stats["min"], float(values.min()))
                stats["max"] = max(stats["max"], float(values.max()))


def run_pairs(args: argparse.Namespace, spec: dict[str, Any]) -> int:
    """``compose --layout pairs``: chosen / rejected composites and margins per pair."""
    from encore_jax.io import output_metadata
    from encore_jax.workflows.pair_compose import MISSING_NOTES, compose_pairs_to_file

    options = reader_options(args)
    for name in ("layout", "bin_range", "level_offset", "rule_columns", "missing", "pool",
                 "rule_column", "rating_column"):
        options.pop(name, None)
    if spec.get("list_names") and not options.get("list_names"):  # named as the weights were
        options["list_names"] = dict(spec["list_names"])
    prefixes = pair_prefix_options(args)
    rules = list(spec["rules"])
    metadata = output_metadata(
        command="compose", layout="pairs", file=str(args.file), column=args.column,
        chosen_column=prefixes["chosen_prefix"] + args.column,
        rejected_column=prefixes["rejected_prefix"] + args.column,
        margin="margin = sum_k w_k (chosen_k - rejected_k), exactly 0 on ties",
        rules=rules, weights=[float(w) for w in spec["weights"]], method=spec["method"],
        weights_file=spec["weights_file"], mask_value=args.mask_value, missing=args.missing,
        missing_note=MISSING_NOTES[args.missing], weights_metadata=spec["weights_metadata"])
    summary = compose_pairs_to_file(
        args.file, spec["weights"], rules, args.out, chunk_rows=args.chunk_rows,
        missing=args.missing, column=args.column, out_format=args.out_format,
        metadata=metadata, force=args.force, progress=progress_enabled(), **prefixes,
        **options)
    report = {"file": str(args.file), "out": str(args.out), "layout": "pairs",
              **summary.to_dict(), "missing_counts": summary.missing.to_dict(),
              "method": spec["method"], "weights_file": spec["weights_file"],
              "rules": [{"rule": r, "weight": float(w)}
                        for r, w in zip(rules, spec["weights"], strict=True)],
              "metadata": metadata}
    del report["missing"], report["rule_names"], report["path"]
    if args.json:
        print_json(report)
        return EXIT_OK
    print_table(f"Composite weights ({spec['method']})", report["rules"], ("rule", "weight"))
    print(f"wrote {args.out}: {metadata['chosen_column']}, {metadata['rejected_column']}, "
          f"margin for {summary.pairs} pairs; chosen preferred in {summary.chosen_preferred}, "
          f"exact ties {summary.ties}"
          + ("" if summary.mean_margin is None else f", mean margin {summary.mean_margin:.4f}"))
    print(missing_note(report["missing_counts"]) + f" ({MISSING_NOTES[args.missing]})")
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    from encore_jax.io import detect_format, embeds_metadata, output_metadata, sidecar_path

    if args.column == (args.id_column or "response_id"):
        raise UsageError(f"--column {args.column!r} clashes with the id column")
    args.out_format = detect_format(args.out, args.out_format)
    spec = _weights_for(args)
    if args.layout == "pairs":
        return run_pairs(args, spec)
    rules = list(spec["rules"])
    metadata = output_metadata(
        command="compose", file=str(args.file), column=args.column, rules=rules,
        weights=[float(w) for w in spec["weights"]], method=spec["method"],
        weights_file=spec["weights_file"], mask_value=args.mask_value, missing=args.missing,
        missing_note={"mask": "a row with any missing rating has a missing composite",
                      "drop": "rows with a missing rating were dropped",
                      "error": "a missing rating is an error"}[args.missing],
        weights_metadata=spec["weights_metadata"],
    )
    stats = {"rows": 0, "missing": 0, "sum": 0.0, "min": float("inf"), "max": float("-inf"),
             "missing_cells": 0, "rows_dropped": 0}
    if embeds_metadata(args.out_format):
        items = [(args.out, lambda tmp: compose_file(args, tmp, spec, metadata, stats))]
    else:
        from encore_jax.io import write_json

        # The table is written without a sidecar; the sidecar is staged next to it.
        items = [(args.out, lambda tmp: compose_file(args, tmp, spec, None, stats)),
                 (sidecar_path(args.out), lambda tmp: write_json(tmp, metadata))]
    atomic_write_all(items, force=args.force)
    observed = stats["rows"] - stats["missing"]
    report = {
        "file": str(args.file),
        "out": str(args.out),
        "column": args.column,
        "rows": stats["rows"],
        "missing": stats["missing"],
        "missing_counts": {"policy": args.missing, "cells": stats["missing_cells"],
                           "rows_dropped": stats["rows_dropped"]},
        "mean": stats["sum"] / observed if observed else None,
        "min": stats["min"] if observed else None,
        "max": stats["max"] if observed else None,
        "method": spec["method"],
        "weights_file": spec["weights_file"],
        "rules": [{"rule": r, "weight": float(w)} for r, w in zip(rules, spec["weights"],
                                                                   strict=True)],
        "metadata": metadata,
    }
    if args.json:
        print_json(report)
        return EXIT_OK
    print_table(f"Composite weights ({spec['method']})", report["rules"], ("rule", "weight"))
    print(f"wrote {args.out}: column {args.column!r} for {report['rows']} rows "
          f"({report['missing']} with a missing rating left missing, "
          f"{stats['rows_dropped']} dropped by --missing drop)")
    if observed:
        print(f"composite: mean {report['mean']:.4f}, min {report['min']:.4f}, "
              f"max {report['max']:.4f}")
    return EXIT_OK


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "compose", help="composite rewards sum_k w_k psi_k for every row of a file",
        description="Composite reward phi = sum_k w_k psi_k of each row (response), written "
        "as a column of a parquet / CSV / JSONL / NPZ file, chunk by chunk and atomically.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("file", help="per-rule scores or ratings: .csv, .jsonl, .parquet, .npz")
    parser.add_argument("--weights", default=None, metavar="JSON",
                        help="weights JSON (from `weights --out` or `fit-bt --out`); its "
                        "rules select the columns")
    add_binning_options(parser, levels_required=False)
    parser.add_argument("--temperature", type=positive_float, default=2.0,
                        help="ENCORE temperature when the weights come from FILE (default 2)")
    add_estimator_options(parser)
    add_input_options(parser, pair_prefixes=True)
    add_chunk_option(parser)
    add_output_options(parser, required=True,
                       help="the output table (.parquet, .csv, .jsonl or .npz)")
    parser.add_argument("--out-format", choices=("csv", "jsonl", "parquet", "npz"),
                        default=None, help="output format (default: from the --out suffix)")
    parser.add_argument("--column", default="composite",
                        help="name of the composite column (default: composite)")
    add_json_option(parser)
    declare_paths(parser, tables=("out",))  # --out may be a CSV / JSONL with a sidecar
    parser.set_defaults(run=run)
