"""JAX's persistent compilation cache for the command line.

Every ``encore-jax`` run compiles the same programs again for same-shaped data; with the
cache, a second run loads them from disk instead. Where it lives, first match wins:

* off with ``--no-compile-cache`` or ``ENCORE_JAX_COMPILE_CACHE=0`` (also ``false``/``no``/
  ``off``);
* ``$ENCORE_JAX_COMPILE_CACHE_DIR``;
* ``$JAX_COMPILATION_CACHE_DIR`` (JAX's own variable, left to JAX);
* ``$XDG_CACHE_HOME/encore-jax/jax``, else ``~/.cache/encore-jax/jax``.

The cache must be configured before the first compilation: the CLI does it in ``main()``
right after parsing (never at import, so ``--help`` imports no JAX).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from encore_jax.cli._common import UsageError

SWITCH_VARIABLE = "ENCORE_JAX_COMPILE_CACHE"
DIR_VARIABLE = "ENCORE_JAX_COMPILE_CACHE_DIR"
JAX_DIR_VARIABLE = "JAX_COMPILATION_CACHE_DIR"

_OFF = frozenset({"0", "false", "no", "off"})
_ON = frozenset({"", "1", "true", "yes", "on"})


def compile_cache_dir(environ: Mapping[str, str], *, disabled: bool = False) -> Path | None:
    """The cache directory the environment asks for, or ``None`` when caching is off.

    Args:
      environ: the process environment (``os.environ``), read for the variables above.
      disabled: ``--no-compile-cache`` was given.

    Raises:
      UsageError: ``ENCORE_JAX_COMPILE_CACHE`` holds something other than on/off.
    """
    switch = environ.get(SWITCH_VARIABLE, "").strip().lower()
    if switch not in _OFF | _ON:
        raise UsageError(f"{SWITCH_VARIABLE}={environ[SWITCH_VARIABLE]!r} is not understood; "
                         "set it to 0 to turn the compilation cache off, or 1 (or unset it)")
    if disabled or switch in _OFF:
        return None
    for variable in (DIR_VARIABLE, JAX_DIR_VARIABLE):
        if environ.get(variable):
            return Path(environ[variable]).expanduser()
    xdg = environ.get("XDG_CACHE_HOME", "")
    # The XDG spec says to ignore a relative XDG_CACHE_HOME.
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "encore-jax" / "jax"


def enable_compile_cache(directory: Path) -> bool:
    """Points JAX's persistent compilation cache at ``directory`` and caches every program.

    JAX by default stores only programs that took over a second to compile; the CLI's
    programs are many and small, so both thresholds go to zero. Returns ``False`` (with one
    line on stderr, and the command still runs uncached) when ``directory`` cannot be made.
    """
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        print(f"encore-jax: note: compilation cache off, cannot create {directory} "
              f"({err.strerror or err}); set {DIR_VARIABLE} to a writable directory or "
              f"{SWITCH_VARIABLE}=0", file=sys.stderr)
        return False
    import jax

    jax.config.update("jax_compilation_cache_dir", str(directory))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    return True


def configure_compile_cache(*, disabled: bool) -> Path | None:
    """Sets up the cache for this run from ``os.environ``; returns the directory in use."""
    directory = compile_cache_dir(os.environ, disabled=disabled)
    if directory is None or not enable_compile_cache(directory):
        return None
    return directory
