"""Start-up of the command line: help imports no heavy module, and the persistent
compilation cache is configured from the environment and reused by a second run.

Module loading is checked in fresh subprocesses (``sys.modules`` after the fact), never by
timing; the cache by its entries on disk (every program is stored on a miss, so a second
run that adds no entry compiled nothing).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from encore_jax.cli import COMMAND_MODULES
from encore_jax.cli._common import UsageError
from encore_jax.cli._compile_cache import compile_cache_dir

HEAVY = ("jax", "jaxlib", "numpy", "scipy", "matplotlib", "pyarrow", "rich", "optax", "chex",
         "jaxtyping")
ROOT = Path(__file__).resolve().parents[1]

# Prints the heavy modules loaded by `import encore_jax`, by building the CLI parser, and by
# `encore-jax --help` / `encore-jax COMMAND --help` for every command, all in one process.
PROBE = r"""
import contextlib, io, json, sys
heavy, commands = json.loads(sys.argv[1]), json.loads(sys.argv[2])
loaded = lambda: sorted(m for m in heavy if m in sys.modules)
import encore_jax
seen = {"import encore_jax": loaded()}
import encore_jax.cli
encore_jax.cli.build_parser()
seen["build_parser()"] = loaded()
for argv in [[], *([c] for c in commands)]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        encore_jax.cli.main([*argv, "--help"])
    assert out.getvalue().startswith("usage: encore-jax"), argv
    seen[" ".join(["encore-jax", *argv, "--help"])] = loaded()
print(json.dumps(seen))
"""


def run_python(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env,
                          timeout=300, check=False, cwd=ROOT)


def test_help_imports_no_heavy_module():
    commands = [name.replace("_", "-") for name in COMMAND_MODULES]
    done = run_python(["-c", PROBE, json.dumps(HEAVY), json.dumps(commands)], dict(os.environ))
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert len(seen) == 2 + 1 + len(commands)
    assert seen == {step: [] for step in seen}


def test_lazy_exports_resolve_to_their_definitions():
    import importlib
    import types

    import encore_jax

    for name in encore_jax.__all__:
        module = importlib.import_module(f"encore_jax.{encore_jax._MODULE_OF[name]}")
        assert getattr(encore_jax, name) is getattr(module, name), name
    assert set(encore_jax.__all__) <= set(dir(encore_jax))
    assert isinstance(encore_jax.compose, types.ModuleType)  # submodules are modules
    with pytest.raises(AttributeError, match="no_such_name"):
        encore_jax.no_such_name  # noqa: B018


def test_export_lists_agree():
    """``_EXPORTS``, ``__all__`` and the ``TYPE_CHECKING`` imports name the same exports."""
    import ast

    import encore_jax

    tree = ast.parse(Path(encore_jax.__file__).read_text())
    (block,) = [node for node in tree.body
                if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"]
    typed = {alias.name: node.module.removeprefix("encore_jax.")
             for node in block.body for alias in node.names}
    assert typed == encore_jax._MODULE_OF
    assert sorted(encore_jax.__all__) == sorted(encore_jax._MODULE_OF)
    assert len(encore_jax.__all__) == len(set(encore_jax.__all__))


@pytest.mark.parametrize(("environ", "disabled", "expected"), [
    ({"XDG_CACHE_HOME": "/xdg"}, False, Path("/xdg/encore-jax/jax")),
    ({"XDG_CACHE_HOME": "relative"}, False, Path.home() / ".cache/encore-jax/jax"),
    ({}, False, Path.home() / ".cache/encore-jax/jax"),
    ({"XDG_CACHE_HOME": "/xdg", "JAX_COMPILATION_CACHE_DIR": "/j"}, False, Path("/j")),
    ({"ENCORE_JAX_COMPILE_CACHE_DIR": "/e", "JAX_COMPILATION_CACHE_DIR": "/j"}, False,
     Path("/e")),
    ({"ENCORE_JAX_COMPILE_CACHE": "1", "XDG_CACHE_HOME": "/xdg"}, False,
     Path("/xdg/encore-jax/jax")),
    ({"ENCORE_JAX_COMPILE_CACHE": "0", "ENCORE_JAX_COMPILE_CACHE_DIR": "/e"}, False, None),
    ({"ENCORE_JAX_COMPILE_CACHE": "Off"}, False, None),
    ({"ENCORE_JAX_COMPILE_CACHE_DIR": "/e"}, True, None),
])
def test_compile_cache_dir_precedence(environ, disabled, expected):
    assert compile_cache_dir(environ, disabled=disabled) == expected


def test_compile_cache_switch_rejects_unknown_values():
    with pytest.raises(UsageError, match="ENCORE_JAX_COMPILE_CACHE='maybe'.*set it to 0"):
        compile_cache_dir({"ENCORE_JAX_COMPILE_CACHE": "maybe"})


def test_second_run_loads_every_program_from_the_cache(tmp_path):
    ratings = tmp_path / "r.csv"
    ratings.write_text("a,b,c\n0,1,2\n1,1,2\n2,1,0\n2,0,1\n")
    cache = tmp_path / "cache"
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "ENCORE_JAX_COMPILE_CACHE": "1",
           "ENCORE_JAX_COMPILE_CACHE_DIR": str(cache)}
    command = ["-m", "encore_jax.cli", "weights", str(ratings), "--levels", "3", "--json"]
    reports, entries = [], []
    for _ in range(2):
        done = run_python(command, env)
        assert done.returncode == 0, done.stderr
        reports.append(json.loads(done.stdout))
        entries.append({path.name: path.stat().st_mtime_ns for path in cache.iterdir()})
    assert len(entries[0]) > 0  # the first run compiled and stored its programs
    assert entries[1] == entries[0]  # the second stored nothing new: every program was a hit
    assert reports[1] == reports[0]

    elsewhere = tmp_path / "unused"
    done = run_python(["-m", "encore_jax.cli", "--no-compile-cache", *command[2:]],
                      {**env, "ENCORE_JAX_COMPILE_CACHE_DIR": str(elsewhere)})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == reports[0]
    assert not elsewhere.exists()
