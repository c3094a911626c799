"""``encore-jax theory``: runs the numerical checks in :mod:`encore_jax.theory`."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import inspect
import io
import json
import shlex
from pathlib import Path
from typing import Any

from encore_jax.cli._common import EXIT_OK, UsageError, add_json_option, print_json, print_table

# check name -> (module, what it checks)
CHECKS = {
    "bt-gradients": (
        "encore_jax.theory.bt_gradients",
        "ENCORE Theorem 1: max-entropy rules get O(1/sqrt(N)) Bradley-Terry gradient and weight",
    ),
    "max-discrepancy-mi": (
        "encore_jax.theory.max_discrepancy_mi",
        "RuleAdapter: the top-|d| rule subset maximises I(label; preference)",
    ),
}

EPILOG = """\
examples:
  encore-jax theory                    # every check -> ./encore-jax-theory/<check>/
  encore-jax theory bt-gradients --out-dir results/theory --force
  encore-jax theory max-discrepancy-mi --check-args="--help"
  encore-jax theory --list

Each check is also runnable as `python -m encore_jax.theory.<module>`; --check-args="..."
passes options through to it (note the "=": the value starts with "--"). Statements:
encore_jax/theory/THEORY.md (installed with the package).
"""


def _load(name: str) -> Any:
    module_name = CHECKS[name][0]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name is not None and module_name.startswith(err.name):
            raise UsageError(f"check {name!r}: module {module_name} is not available") from None
        raise
    main = getattr(module, "main", None)
    if not callable(main):
        raise UsageError(f"check {name!r}: {module_name} has no main()")
    return main


def _run_check(name: str, argv: list[str], quiet: bool) -> dict[str, Any]:
    main = _load(name)
    takes_argv = any(
        p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
        for p in inspect.signature(main).parameters.values()
    )
    if argv and not takes_argv:
        raise UsageError(f"check {name!r}: its main() takes no options; drop --check-args")
    output = io.StringIO()
    redirect = contextlib.redirect_stdout(output) if quiet else contextlib.nullcontext()
    try:
        with redirect:
            result = main(argv) if takes_argv else main()
    except SystemExit as stop:  # an argparse-based main exits on --help or bad options
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 2)
        result = code
    entry: dict[str, Any] = {"check": name, "module": CHECKS[name][0]}
    if isinstance(result, int) and not isinstance(result, bool):
        entry["exit_code"] = result
    else:
        entry["exit_code"] = 0
        if isinstance(result, dict):
            entry["report"] = result
        elif result is not None and hasattr(result, "__fspath__"):
            entry["report_path"] = str(result)
    if quiet:
        entry["output"] = output.getvalue()
    return entry


def run(args: argparse.Namespace) -> int:
    if args.list:
        rows = [{"check": name, "module": module, "statement": text}
                for name, (module, text) in CHECKS.items()]
        if args.json:
            print_json({"checks": rows})
        else:
            print_table("Theory checks", rows, ("check", "module", "statement"))
        return EXIT_OK
    names = args.checks or list(CHECKS)
    unknown = [name for name in names if name not in CHECKS]
    if unknown:
        raise UsageError(f"unknown check {unknown[0]!r} (choose from {', '.join(CHECKS)})")
    argv = shlex.split(args.check_args) if args.check_args else []
    results = []
    for name in names:
        # each check writes report.json and a figure into its own --out directory
        out_dir = Path(args.out_dir) / name
        out = ["--out", str(out_dir)] + (["--force"] if args.force else [])
        entry = _run_check(name, out + argv, quiet=args.json)
        if out_dir.is_dir():
            entry["outputs"] = sorted(str(p) for p in out_dir.iterdir())
        results.append(entry)
    failed = [r for r in results if r["exit_code"] != 0]
    if args.json:
        print(json.dumps({"checks": results}, indent=2, default=str))
    else:
        print_table("Theory checks", [
            {"check": r["check"], "module": r["module"],
             "result": "ok" if r["exit_code"] == 0 else f"exit {r['exit_code']}",
             "outputs": ", ".join(r.get("outputs", [])) or "-"}
            for r in results], ("check", "result", "outputs"))
    if failed:
        raise UsageError(f"check {failed[0]['check']!r} exited with {failed[0]['exit_code']}")
    return EXIT_OK


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "theory", help="run the numerical checks of ENCORE's and RuleAdapter's theorems",
        description="Runs the checks of encore_jax.theory (statements in its THEORY.md); each "
        "writes a JSON report and a PNG figure to DIR/<check>.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("checks", nargs="*", metavar="CHECK",
                        help=f"which checks to run: {', '.join(CHECKS)} (default: all)")
    parser.add_argument("--check-args", default=None, metavar="ARGS",
                        help="options passed to each check's main(), e.g. "
                        "--check-args=\"--quick\"")
    parser.add_argument("--out-dir", default="encore-jax-theory", metavar="DIR",
                        help="write each check's report and figure to DIR/<check> (passed to "
                        "the check as --out; default: ./encore-jax-theory)")
    parser.add_argument("--force", action="store_true",
                        help="overwrite existing reports (passed to each check as --force)")
    parser.add_argument("--list", action="store_true", help="list the checks and exit")
    add_json_option(parser)
    parser.set_defaults(run=run)
