#!/usr/bin/env bash
# A plain install works: builds the wheel, installs it with no extras into a fresh virtual
# environment, and runs the command line from a directory outside the source tree (so
# nothing is imported from the checkout). Every step is run and reported; the exit status
# is the number of failed steps (0: all passed).
#
#   scripts/check_wheel_install.sh              # or: make wheel-check
#   PYTHON=python3.12 KEEP=1 scripts/check_wheel_install.sh
#
# PYTHON: the interpreter for the venv (default python3); KEEP=1 keeps the temporary
# directory; FULL=1 also runs every theory check in full (minutes).
set -uo pipefail

PYTHON=${PYTHON:-python3}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/encore-jax-wheel-check.XXXXXX")
if [[ "${KEEP:-0}" == 1 ]]; then echo "keeping $work"; else trap 'rm -rf "$work"' EXIT; fi

set -e
"$PYTHON" -m pip wheel --quiet --no-deps "$root" -w "$work/dist"
wheel=$(ls "$work"/dist/encore_jax-*.whl)
echo "built $(basename "$wheel")"
"$PYTHON" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --upgrade pip
"$work/venv/bin/python" -m pip install --quiet "$wheel"
set +e

mkdir -p "$work/run"
cd "$work/run"
unset PYTHONPATH
export PATH="$work/venv/bin:$PATH"
export ENCORE_JAX_COMPILE_CACHE_DIR="$work/cache"  # never the user's cache directory
export MPLBACKEND=Agg

failed=0
step() {  # step NAME COMMAND...: runs COMMAND, prints PASS/FAIL with the tail of its output
    local name=$1; shift
    local log="$work/step.log" start=$SECONDS
    if "$@" >"$log" 2>&1; then
        echo "PASS  $name ($((SECONDS - start)) s)"
    else
        echo "FAIL  $name (exit $?, $((SECONDS - start)) s):"
        tail -n 15 "$log" | sed 's/^/      /'
        failed=$((failed + 1))
    fi
}
figures_written() {  # the default folder, ./encore-jax-demo/ in the working directory
    encore-jax demo >/dev/null \
        && ls "$work/run/encore-jax-demo" \
        && [[ -n "$(ls "$work/run/encore-jax-demo"/*.png 2>/dev/null)" ]]
}

step "imports the installed package" python -c "
import encore_jax, sys
assert encore_jax.__file__.startswith(sys.prefix), encore_jax.__file__"
step "encore-jax --help" encore-jax --help
step "encore-jax demo (writes PNG figures to ./encore-jax-demo/)" figures_written
step "encore-jax theory --help" encore-jax theory --help
step "encore-jax theory --list" encore-jax theory --list
step "theory check modules import (--check-args=--help)" encore-jax theory --check-args=--help
if [[ "${FULL:-0}" == 1 ]]; then
    step "encore-jax theory (full)" encore-jax theory --out-dir "$work/run/theory"
fi
echo "$failed step(s) failed"
exit "$failed"
