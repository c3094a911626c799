"""The ``encore-jax`` command line.

Each subcommand lives in its own module of this package and exposes
``register(commands)``, which adds its parser to the ``argparse`` sub-parsers and sets
``run=<function(args) -> exit code>``. Exit codes: 0 on success, 2 on bad usage or bad input
(a one-line reason on stderr), 130 when stopped by SIGINT (Ctrl-C) and 143 by SIGTERM (one
line on stderr, no traceback; staged outputs are removed, so nothing partial is left).
Heavy imports (JAX, rich, matplotlib) happen inside the commands so that ``--help`` stays
fast.

Before a command runs, ``main()``

* refuses an output that is one of the inputs, or two outputs on one path, whatever
  ``--force`` says (:func:`encore_jax.cli._paths.check_paths`);
* refuses a ``--resamples`` whose bootstrap cannot fit in memory
  (:func:`encore_jax.cli._common.check_resample_memory`);
* applies every command's ``--quiet`` (no progress bars; see
  :mod:`encore_jax.cli._progress`);
* turns on JAX's persistent compilation cache (see :mod:`encore_jax.cli._compile_cache`;
  ``--no-compile-cache``).
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from encore_jax.cli._common import EXIT_BAD_INPUT, UsageError, check_resample_memory
from encore_jax.cli._compile_cache import DIR_VARIABLE, SWITCH_VARIABLE, configure_compile_cache
from encore_jax.cli._paths import check_paths
from encore_jax.cli._progress import set_quiet

# Subcommand modules, in the order `encore-jax --help` lists them.
COMMAND_MODULES = ("entropy", "weights", "compose", "label", "fit_bt", "compare", "diagnose",
                   "curve", "datasets", "theory", "demo")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="encore-jax",
        description="Compose multi-head safety reward models: entropy-penalised ENCORE "
        "weights, Bradley-Terry checks and data-adaptive rule selection.",
        epilog="An output is never written over an input (not even with --force). "
        "--weighting module:function imports that module and runs its code: pass only "
        "modules you trust. Exit codes: 0 ok, 2 bad usage or input, 130 SIGINT, 143 SIGTERM.",
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
    for command in commands.choices.values():
        command.add_argument("--quiet", action="store_true",
                             help="no progress bars (they show on a terminal's stderr only, "
                             "after about two seconds of work)")
    return parser


EXIT_SIGINT = 128 + signal.SIGINT  # 130
EXIT_SIGTERM = 128 + signal.SIGTERM  # 143


class Terminated(BaseException):
    """Raised in the main thread by SIGTERM (like KeyboardInterrupt for SIGINT), so that
    staged outputs are removed on the way out."""


def _stop(signum: int, frame: object) -> None:
    # The first signal stops the command; later ones must not interrupt its clean-up.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt if signum == signal.SIGINT else Terminated


@contextmanager
def _signals_stop_cleanly() -> Iterator[None]:
    """SIGINT and SIGTERM raise in the main thread while a command runs; the previous
    handlers come back afterwards (``main`` may be called in-process)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``encore-jax``; returns the exit code."""
    args = build_parser().parse_args(argv)
    set_quiet(args.quiet)
    try:
        with _signals_stop_cleanly():
            check_paths(args)
            check_resample_memory(args)
            configure_compile_cache(disabled=args.no_compile_cache)  # before the first compile
            return args.run(args)
    except (UsageError, ValueError, TypeError, OSError) as err:
        reason = " ".join(str(err).split())  # one line, whatever the library said
        print(f"encore-jax {args.command}: error: {reason}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"encore-jax {args.command}: interrupted (SIGINT); no partial output was left",
              file=sys.stderr)
        return EXIT_SIGINT
    except Terminated:
        print(f"encore-jax {args.command}: terminated (SIGTERM); no partial output was left",
              file=sys.stderr)
        return EXIT_SIGTERM


if __name__ == "__main__":
    sys.exit(main())
