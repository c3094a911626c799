"""``encore-jax datasets``: the real data sets shipped with the package, their files and
attribution."""

from __future__ import annotations

import argparse
from typing import Any

from encore_jax.cli._common import EXIT_OK, add_json_option, print_json

EPILOG = """\
examples:
  encore-jax datasets                  # the shipped files, their sizes and the attribution
  encore-jax datasets --json
  encore-jax entropy "$(encore-jax datasets --path ratings_levels)" \
      --id-column response_id --levels 38

The OASST1 files: pairs.csv (raw oriented values) and pairs_levels.csv (integer levels 0..37)
in the wide pairs layout (chosen_<label> / rejected_<label>, group column group_id);
ratings.csv / ratings_levels.csv one row per reply (id column response_id). In Python:
encore_jax.datasets.load_oasst1().
"""


def _report() -> dict[str, Any]:
    from encore_jax.datasets import OASST1_ATTRIBUTION, OASST1_FILES, OASST1_NUM_LEVELS, oasst1_path

    files = {kind: str(oasst1_path(kind)) for kind in OASST1_FILES}
    return {"datasets": [{
        "name": "oasst1",
        "description": "OASST1 English validation: 1,243 assistant replies x 13 human labels, "
                       "1,026 sibling-rank preference pairs (997 with all labels)",
        "num_levels": OASST1_NUM_LEVELS,
        "files": files,
        "sizes_bytes": {kind: oasst1_path(kind).stat().st_size for kind in OASST1_FILES},
        "attribution": OASST1_ATTRIBUTION,
    }]}


def run(args: argparse.Namespace) -> int:
    report = _report()
    if args.path is not None:
        print(report["datasets"][0]["files"][args.path])
        return EXIT_OK
    if args.json:
        print_json(report)
        return EXIT_OK
    for entry in report["datasets"]:
        print(f"{entry['name']}: {entry['description']} (levels: {entry['num_levels']})")
        for kind, path in entry["files"].items():
            print(f"  {kind:<15} {entry['sizes_bytes'][kind]:>8} B  {path}")
        print(f"  attribution: {entry['attribution']}")
    return EXIT_OK


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "datasets", help="real rated data shipped with the package (OASST1), with attribution",
        description="Lists the data sets shipped with encore-jax: the path of every file, for "
        "use as the input of the other commands, and the source and license.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--path", default=None, metavar="KIND",
                        choices=("pairs", "pairs_levels", "ratings", "ratings_levels",
                                 "readme", "license", "notice"),
                        help="print only the path of this OASST1 file (pairs, pairs_levels, "
                        "ratings, ratings_levels, readme, license, notice)")
    add_json_option(parser)
    parser.set_defaults(run=run)
