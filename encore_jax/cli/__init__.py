"""The ``encore-jax`` command line.

Each subcommand lives in its own module of this package and exposes
``register(commands)``, which adds its parser to the ``argparse`` sub-parsers and sets
``run=<function(args) -> exit code>``. Exit codes: 0 on success, 2 on bad usage or bad input
(a one-line reason on stderr). Heavy imports (JAX, rich, matplotlib) happen inside the
commands so that ``--help`` stays fast. ``main()`` turns on JAX's persistent compilation
cache after parsing (see :mod:`encore_jax.cli._compile_cache`; ``--no-compile-cache``).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from encore_jax.cli._common import EXIT_BAD_INPUT, UsageError
from encore_jax.cli._compile_cache import DIR_VARIABLE, SWITCH_VARIABLE, configure_compile_cache

# Subcommand modules, in the order `encore-jax --help` lists them.
COMMAND_MODULES = ("entropy", "weights", "compose", "label", "fit_bt", "compare", "diagnose",
                   "curve", "datasets", "theory", "demo")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="encore-jax",
        description="Compose multi-head safety reward models: entropy-penalised ENCORE "
        "weights, Bradley-Terry checks and data-adaptive rule selection.",
    )
    parser.add_argument(
        "--no-compile-cache", action="store_true",
        help="do not keep compiled JAX programs on disk between runs (default: keep them in "
        f"$XDG_CACHE_HOME/encore-jax/jax or ~/.cache/encore-jax/jax; ${DIR_VARIABLE} "
        f"moves it, {SWITCH_VARIABLE}=0 turns it off)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"encore_jax.cli.{name}").register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``encore-jax``; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        configure_compile_cache(disabled=args.no_compile_cache)  # before the first compile
        return args.run(args)
    except (UsageError, ValueError, TypeError, OSError) as err:
        reason = " ".join(str(err).split())  # one line, whatever the library said
        print(f"encore-jax {args.command}: error: {reason}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
