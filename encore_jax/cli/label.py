"""``encore-jax label``: rule-based preference labels for response pairs (RuleAdapter's
per-pair maximum-discrepancy rule selection)."""

from __future__ import annotations

import argparse
from typing import Any

from encore_jax.cli._common import (
    EXIT_OK,
    UsageError,
    add_input_options,
    add_json_option,
    add_output_options,
    atomic_write_all,
    declare_paths,
    finite_float,
    input_settings,
    missing_note,
    pair_prefix_options,
    positive_int,
    print_json,
    print_table,
    reader_options,
    seed_int,
    table_items,
    write_table_output,
)

SELECTIONS = ("max-discrepancy", "random", "all")
EPILOG = """\
examples:
  encore-jax label pairs.csv --k 5 --out labels.parquet   # chosen_<rule>, rejected_<rule>
  encore-jax label pairs.parquet --chosen-prefix a_ --rejected-prefix b_ --k 3 --json \\
      --out labels.csv     # unlabelled pairs: the first response is "A"
  encore-jax label hf_pairs.parquet --text-columns prompt --out labels.parquet  # list columns
  encore-jax label ratings.csv --pair-index pairs.csv --id-column response_id --out l.jsonl
  encore-jax label pairs.csv --weights weights.json --tie random --seed 0 --out l.parquet
  encore-jax label hf.parquet --weights w.json --out labels.parquet \
      --export-preference train.jsonl --ties drop   # prompt / chosen / rejected for TRL

Per pair i the selection keeps the k rules with the largest rho_ik + alpha |a_ik - b_ik|
(rho from --relevance-prefix columns, else 0), and labels A preferred when
sum over selected rules of w_k (a_ik - b_ik) > 0 (w = 1 unless --weights); a tie goes to
--tie (default b, as the RuleAdapter reference code). A = the chosen-prefix block; with known
preferences a_preferred_fraction is the accuracy. A pair with a missing rating (or
relevance) gets a missing label (--missing mask), is dropped (--missing drop) or stops the
run (--missing error); never a guessed label. Id and text columns are copied to the output;
selected_rules is a list column (parquet, JSONL) or a ';'-joined string (CSV, NPZ);
margin is the label's sum over selected rules of w_k (a_ik - b_ik), exactly 0 on a tie.
--export-preference writes prompt / chosen / rejected (TRL's preference format) with the
rule-preferred response as chosen (texts swapped where the label prefers B); unlabelled pairs
are left out, tied pairs follow --ties (an error without it), all counted in the report.
"""


LABEL_COLUMNS = ("a_preferred", "margin", "selected_rules")  # written as --label-prefix + name


def label_columns(args: argparse.Namespace) -> dict[str, str]:
    """The names of the label, margin and selected-rules output columns."""
    return {name: args.label_prefix + name for name in LABEL_COLUMNS}


def refuse_existing_columns(args: argparse.Namespace) -> None:
    """An output column named like a column of the input would silently shadow it: refuse,
    naming --label-prefix (which renames the outputs)."""
    from encore_jax.io import open_source

    names = set(label_columns(args).values())
    sources = [(args.file, args.file_format)]
    if args.pair_index is not None:
        sources.append((args.pair_index, None))
    for path, fmt in sources:
        clash = [name for name in open_source(path, fmt).names if name in names]
        if clash:
            raise UsageError(
                f"{path} already has column(s) {', '.join(map(repr, clash))}, which label "
                f"writes; pass --label-prefix (e.g. --label-prefix label_) to name the outputs "
                f"{', '.join('label_' + n for n in LABEL_COLUMNS)}")


def _selected_column(names: Any, selected: Any, complete: Any, out_format: str) -> Any:
    """The selected rules of each pair: a list column where the format holds lists (parquet,
    JSONL), else ``;``-joined names; null for an unlabelled pair."""
    import numpy as np
    import pyarrow as pa

    lists: list[Any] = [None] * int(complete.size)
    for i, row in zip(np.flatnonzero(complete), selected, strict=True):
        lists[int(i)] = names[np.asarray(row)].tolist()
    if out_format in ("parquet", "jsonl"):
        return pa.array(lists, type=pa.list_(pa.string()))
    joined = np.array(["" if r is None else ";".join(r) for r in lists], dtype=str)
    return np.ma.masked_array(joined, mask=~complete)


def _relevance(args: argparse.Namespace, rules: tuple[str, ...], num_pairs: int) -> Any:
    """``[N, K]`` relevance from ``<prefix><rule>`` columns of the pair rows, with a mask."""
    from encore_jax.io import read_scores

    source = args.pair_index if args.pair_index is not None else args.file
    fmt = None if args.pair_index is not None else args.file_format
    table = read_scores(source, rule_columns=[args.relevance_prefix + r for r in rules],
                        file_format=fmt)
    if table.scores.shape[0] != num_pairs:
        raise UsageError(f"{source}: {table.scores.shape[0]} relevance rows for "
                         f"{num_pairs} pairs")
    return table.scores, table.mask.all(axis=1)


def label_report(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """(report, output columns) of the labelling run."""
    import dataclasses

    import jax
    import numpy as np

    from encore_jax.compose import margins_from_differences
    from encore_jax.io import detect_format, open_source, read_score_pairs, read_weights_json
    from encore_jax.io.pair_stream import rule_bases
    from encore_jax.selection import all_rules, label_pairs, random_rule_selection, select_rules

    options = reader_options(args)
    weights = None
    if args.weights is not None:
        if args.rule_columns is not None:
            raise UsageError("--weights names the rules; drop --rule-columns")
        loaded = read_weights_json(args.weights)
        weights = loaded.weights.astype(np.float32)
        options["rule_columns"] = list(loaded.rule_names)
        if loaded.list_names and not options.get("list_names"):  # named as the weights were
            options["list_names"] = dict(loaded.list_names)
        if args.pair_index is None:  # names may be list elements or struct fields
            options["rule_columns"] = rule_bases(
                open_source(args.file, args.file_format), loaded.rule_names, args.chosen_prefix,
                args.rejected_prefix, list_names=options.get("list_names"),
                exclude=options.get("exclude"))
    options.pop("level_offset", None)
    pairs = read_score_pairs(args.file, **pair_prefix_options(args), **options)
    if weights is not None and pairs.rule_names != loaded.rule_names:
        pick = [pairs.rule_names.index(name) for name in loaded.rule_names]
        pairs = dataclasses.replace(
            pairs, rule_names=loaded.rule_names, chosen=pairs.chosen[:, pick],
            rejected=pairs.rejected[:, pick], chosen_mask=pairs.chosen_mask[:, pick],
            rejected_mask=pairs.rejected_mask[:, pick])
    n, num_rules = pairs.chosen.shape
    complete = pairs.observed.all(axis=1)
    relevance = None
    if args.relevance_prefix is not None:
        relevance, rel_ok = _relevance(args, pairs.rule_names, n)
        complete &= rel_ok
    if not complete.any():
        raise UsageError(f"{args.file}: no pair has every rating observed; nothing to label")
    k = min(5, num_rules) if args.k is None else args.k
    if k > num_rules:
        raise UsageError(f"--k {k} exceeds the number of rules K = {num_rules}")
    a = pairs.chosen[complete].astype(np.float32)
    b = pairs.rejected[complete].astype(np.float32)
    key_select, key_tie = jax.random.split(jax.random.key(args.seed))
    if args.selection == "max-discrepancy":
        rel = None if relevance is None else relevance[complete].astype(np.float32)
        selected = select_rules(a, b, k, relevance=rel, alpha=args.alpha)
    elif args.selection == "random":
        selected = random_rule_selection(key_select, a.shape[0], num_rules, k)
    else:
        selected = all_rules(a.shape[0], num_rules)
    labels = np.asarray(label_pairs(a, b, selected, weights=weights, tie_winner=args.tie,
                                    key=key_tie if args.tie == "random" else None))
    selected = np.asarray(selected)
    # The label's own margin: the same certified kernel, so a tie is exactly 0.
    margin = np.asarray(margins_from_differences(
        np.where(selected, a - b, np.float32(0)),
        np.ones(num_rules, np.float32) if weights is None else weights), dtype=np.float64)
    full_labels = np.zeros(n, dtype=bool)
    full_labels[complete] = labels
    full_margin = np.zeros(n)
    full_margin[complete] = margin
    names = np.array(pairs.rule_names, dtype=str)
    columns: dict[str, Any] = {}
    if pairs.ids is not None:
        columns[args.id_column] = pairs.ids
    if pairs.subset is not None:
        columns[args.subset_column] = pairs.subset
    columns.update(pairs.text)
    out_names = label_columns(args)
    columns[out_names["a_preferred"]] = np.ma.masked_array(full_labels, mask=~complete)
    columns[out_names["margin"]] = np.ma.masked_array(full_margin, mask=~complete)
    columns[out_names["selected_rules"]] = _selected_column(
        names, selected, complete, detect_format(args.out, args.out_format))
    counts = selected.sum(axis=0)
    report = {
        "file": str(args.file),
        "pairs": n,
        "labelled": int(complete.sum()),
        "unlabelled": int(n - complete.sum()),
        "ties": int((margin == 0).sum()),
        "missing_counts": pairs.missing.to_dict(),
        "a_preferred_fraction": float(labels.mean()),
        "selection": args.selection,
        "k": k if args.selection != "all" else num_rules,
        "alpha": args.alpha if args.selection == "max-discrepancy" else None,
        "relevance_prefix": args.relevance_prefix,
        "weights_file": args.weights,
        "tie": args.tie,
        "seed": args.seed,
        "chosen_prefix": args.chosen_prefix,
        "rejected_prefix": args.rejected_prefix,
        **input_settings(args),
        "rules": [
            {"rule": str(name), "selected": int(c), "selected_fraction": float(c) / len(a)}
            for name, c in zip(names, counts, strict=True)
        ],
    }
    if args.export_preference is not None:
        report["preference_export"] = _preference(args, pairs, full_margin, complete)
    return report, columns


def _preference(args: argparse.Namespace, pairs: Any, margin: Any, labelled: Any) -> Any:
    """The prompt / chosen / rejected export (see workflows/preference_export.py)."""
    from encore_jax.workflows.preference_export import preference_columns

    needed = (args.prompt_column, args.chosen_text_column, args.rejected_text_column)
    absent = [name for name in needed if name not in pairs.text]
    if absent:
        raise UsageError(f"--export-preference needs the text column {absent[0]!r}, which "
                         f"{args.file} does not keep (text columns: {sorted(pairs.text)}); "
                         "name it with --prompt-column / --chosen-text-column / "
                         "--rejected-text-column, or add it to --text-columns")
    try:
        return preference_columns(*(pairs.text[name] for name in needed), margin, labelled,
                                  ties=args.ties)
    except ValueError as err:
        raise UsageError(str(err)) from None


def run(args: argparse.Namespace) -> int:
    from encore_jax.io import output_metadata

    if args.k is not None and args.selection == "all":
        raise UsageError("--k has no effect with --selection all; drop it")
    refuse_existing_columns(args)
    report, columns = label_report(args)
    settings = {key: report[key] for key in ("file", "selection", "k", "alpha",
                                             "relevance_prefix", "weights_file", "tie", "seed",
                                             "chosen_prefix", "rejected_prefix", "missing",
                                             "missing_counts")}
    metadata = output_metadata(
        command="label", rules=[r["rule"] for r in report["rules"]], **settings,
        label="a_preferred: True = response A preferred; missing = a rating was missing",
        margin="sum over selected rules of w_k (a_k - b_k); exactly 0 on a tie",
        label_prefix=args.label_prefix, label_columns=list(label_columns(args).values()),
    )
    report["metadata"] = metadata
    export = report.pop("preference_export", None)
    if export is None:
        write_table_output(args.out, columns, metadata, force=args.force,
                           file_format=args.out_format)
    else:
        export_meta = {**metadata, "export": "prompt/chosen/rejected preference dataset "
                       "(TRL RewardTrainer / DPOTrainer); chosen = the response the rule "
                       "label prefers", **export.summary()}
        atomic_write_all(table_items(args.out, columns, metadata, args.out_format)
                         + table_items(args.export_preference, export.columns, export_meta,
                                       None), force=args.force)
        report["preference_export"] = {"out": str(args.export_preference), **export.summary()}
    report["out"] = str(args.out)
    if args.json:
        print_json(report)
        return EXIT_OK
    print_table(f"Rules selected ({args.selection}, k={report['k']})", report["rules"],
                ("rule", "selected", "selected_fraction"))
    print(f"wrote {args.out}: {report['labelled']} of {report['pairs']} pairs labelled "
          f"({report['unlabelled']} with a missing rating left unlabelled); A preferred in "
          f"{report['a_preferred_fraction']:.4f} of them; {report['ties']} exact ties "
          f"(margin 0, labelled by --tie {args.tie})")
    if export is not None:
        print(f"wrote {args.export_preference}: {export.rows} prompt/chosen/rejected rows "
              f"({export.swapped} swapped to put the rule-preferred response first, "
              f"{export.ties} ties {'dropped' if export.ties_policy == 'drop' else 'kept in order'}"
              f", {export.unlabelled} unlabelled pairs left out)")
    print(missing_note(report["missing_counts"]))
    return EXIT_OK


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "label", help="rule-based preference labels for response pairs",
        description="Label each pair (A, B) with the rules whose ratings differ most "
        "between the two responses (RuleAdapter), and write the labels as a column.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("file", help="pairs: .csv, .jsonl, .parquet or .npz (or, with "
                        "--pair-index, per-response ratings)")
    parser.add_argument("--a-prefix", dest="chosen_prefix", default=argparse.SUPPRESS,
                        help="deprecated: --chosen-prefix")
    parser.add_argument("--b-prefix", dest="rejected_prefix", default=argparse.SUPPRESS,
                        help="deprecated: --rejected-prefix")
    parser.add_argument("--selection", choices=SELECTIONS, default="max-discrepancy",
                        help="which rules label a pair (default: max-discrepancy)")
    parser.add_argument("--k", type=positive_int, default=None,
                        help="rules selected per pair (default: min(5, K), the reference's 5)")
    parser.add_argument("--alpha", type=finite_float, default=0.5,
                        help="discrepancy coefficient alpha >= 0 (default: 0.5)")
    parser.add_argument("--relevance-prefix", default=None, metavar="PREFIX",
                        help="columns PREFIX<rule> hold each pair's rule relevance rho")
    parser.add_argument("--weights", default=None, metavar="JSON",
                        help="weight the selected rules (weights JSON); default: plain sum")
    parser.add_argument("--tie", choices=("b", "a", "random"), default="b",
                        help="label of a tied pair (default: b, as the reference code)")
    parser.add_argument("--seed", type=seed_int, default=0,
                        help="seed for --selection random and --tie random, 0..2**63-1 "
                        "(default: 0)")
    add_input_options(parser, pairs=True, pair_prefixes=True)
    add_output_options(parser, required=True,
                       help="the labels table (.parquet, .csv, .jsonl or .npz)")
    parser.add_argument("--out-format", choices=("csv", "jsonl", "parquet", "npz"),
                        default=None, help="output format (default: from the --out suffix)")
    parser.add_argument("--label-prefix", default="", metavar="PREFIX",
                        help="prefix of the output columns a_preferred, margin and "
                        "selected_rules (default: none); an input column of the same name is "
                        "an error, never overwritten")
    export = parser.add_argument_group("preference export (TRL RewardTrainer / DPOTrainer)")
    export.add_argument("--export-preference", default=None, metavar="PATH",
                        help="also write prompt, chosen, rejected text columns (.jsonl, "
                        ".parquet, .csv): chosen = the response the rule label prefers")
    export.add_argument("--prompt-column", default="prompt",
                        help="the prompt text column (default: prompt)")
    export.add_argument("--chosen-text-column", default="chosen",
                        help="text of response A, the chosen-prefix block (default: chosen)")
    export.add_argument("--rejected-text-column", default="rejected",
                        help="text of response B (default: rejected)")
    export.add_argument("--ties", choices=("drop", "keep-order"), default=None,
                        help="tied pairs (margin exactly 0) in the export: drop them, or keep "
                        "the input's order; required when there are ties")
    add_json_option(parser)
    declare_paths(parser, tables=("out", "export_preference"))  # CSV / JSONL sidecars
    parser.set_defaults(run=run)
