"""The command line's safety rails (issue 20): outputs never replace inputs, label's output
columns never shadow input columns, the --resamples memory check, progress bars only on a
terminal (and never with --quiet), tables printed in full on a pipe.

The refusals themselves (one line, exit 2, nothing written) are rows of the reliability
table (tests/test_reliability.py, ``CLI_SAFETY_ROWS``); here are the checks that need more
than a row: the inputs' bytes after a refused --force, arithmetic of the memory check, and
what a terminal shows.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from encore_jax import cli
from encore_jax.cli import _progress
from encore_jax.cli._common import UsageError, check_resamples, print_table

ROOT = Path(__file__).resolve().parents[1]
RATINGS = "a,b\n0,1\n1,2\n2,0\n0,0\n"
PAIRS = "chosen_a,chosen_b,rejected_a,rejected_b,margin\n" + "".join(
    f"{i % 3},{(2 * i) % 3},{(i + 1) % 3},{i % 2},x{i}\n" for i in range(8))


def digest(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.iterdir()) if p.is_file()}


def run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("link", ["same", "symlink", "hardlink"])
def test_force_never_replaces_the_input(tmp_path, capsys, link):
    """weights, fit-bt and label (the three that overwrote their input with --force) refuse
    an --out that is FILE by name, through a symbolic link or a hard link; every byte stays."""
    ratings = tmp_path / "r.csv"
    ratings.write_text(RATINGS)
    pairs = tmp_path / "p.csv"
    pairs.write_text("chosen_a,chosen_b,rejected_a,rejected_b\n0,1,1,0\n2,0,0,1\n1,1,2,0\n")
    outs = {}
    for name, source in (("r", ratings), ("p", pairs)):
        out = tmp_path / f"{name}_out.csv"
        if link == "same":
            out = source
        elif link == "symlink":
            out.symlink_to(source.name)
        else:
            os.link(source, out)
        outs[name] = out
    before = digest(tmp_path)
    commands = [
        ["weights", ratings, "--levels", "3", "--out", outs["r"], "--force"],
        ["fit-bt", pairs, "--out", outs["p"], "--force"],
        ["label", pairs, "--out", outs["p"], "--force"],
    ]
    for argv in commands:
        code, _, err = run(capsys, *argv)
        assert code == 2, err
        assert err.count("\n") == 1 and "is the input FILE" in err and "--force" in err, err
    assert digest(tmp_path) == before


def test_label_prefix_renames_outputs_beside_an_input_column_of_the_same_name(tmp_path,
                                                                               capsys):
    """An input column named like an output (margin) is refused, naming --label-prefix; with
    the prefix the input's margin column is carried unchanged beside label_margin."""
    pairs = tmp_path / "p.csv"
    pairs.write_text(PAIRS)
    code, _, err = run(capsys, "label", pairs, "--text-columns", "margin", "--out",
                       tmp_path / "o.csv")
    assert code == 2 and "already has column(s) 'margin'" in err and "--label-prefix" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.csv"]
    code, out, err = run(capsys, "label", pairs, "--text-columns", "margin", "--label-prefix",
                         "label_", "--out", tmp_path / "o.jsonl", "--json")
    assert code == 0, err
    assert json.loads(out)["metadata"]["label_columns"] == [
        "label_a_preferred", "label_margin", "label_selected_rules"]
    rows = [json.loads(line) for line in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert [r["margin"] for r in rows] == [f"x{i}" for i in range(8)]
    assert all(set(r) >= {"label_a_preferred", "label_margin", "label_selected_rules"}
               for r in rows)


def test_resample_check_is_exact_at_half_the_available_memory():
    """need = resamples x bytes_per_resample is refused exactly when it exceeds available // 2,
    and the suggested value is the largest that fits."""
    check_resamples(10, 100, available=2000)  # 1000 bytes == half: fits
    with pytest.raises(UsageError, match=r"--resamples 11 needs .* use --resamples 10 or fewer"):
        check_resamples(11, 100, available=2001)


def test_progress_shows_on_a_terminal_and_never_when_quiet(monkeypatch):
    """A bar appears after the delay on a terminal stream; --quiet (set_quiet) and a
    non-terminal stderr yield a no-op callback."""
    buffer = io.StringIO()
    with _progress.progress_callback("rows read", total=4, enabled=True, delay=0.0,
                                     file=buffer) as advance:
        deadline = time.monotonic() + 30
        while "rows read" not in buffer.getvalue():
            assert time.monotonic() < deadline, "the bar never started"
            advance(1)
            time.sleep(0.01)
    assert "rows read" in buffer.getvalue()
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    _progress.set_quiet(False)
    assert _progress.progress_enabled()
    _progress.set_quiet(True)
    try:
        assert not _progress.progress_enabled()
        assert list(_progress.progress(range(3), delay=0.0)) == [0, 1, 2]
    finally:
        _progress.set_quiet(False)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    assert not _progress.progress_enabled()


def _stderr_on_a_terminal(argv: list[str], cwd: Path) -> tuple[int, str]:
    """Runs ``encore-jax argv`` (progress delay 0) with stderr on a pseudo-terminal."""
    main, side = pty.openpty()
    code = ("import sys; from encore_jax.cli import _progress; _progress.PROGRESS_DELAY_S = 0.0; "
            "from encore_jax.cli import main; sys.exit(main(sys.argv[1:]))")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"}
    proc = subprocess.Popen([sys.executable, "-c", code, *argv], cwd=cwd, env=env,
                            stdout=subprocess.DEVNULL, stderr=side)
    os.close(side)
    chunks = []
    while True:
        ready, _, _ = select.select([main], [], [], 120)
        if not ready:
            break
        try:
            data = os.read(main, 4096)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(main)
    return proc.wait(timeout=120), b"".join(chunks).decode(errors="replace")


def test_compose_shows_progress_on_a_terminal_only_without_quiet(tmp_path, capsys,
                                                                 monkeypatch):
    """On a pseudo-terminal compose shows its "composing" bar; with --quiet, on a stderr
    that claims to be a terminal, nothing at all is written to stderr."""
    big = tmp_path / "big.csv"
    big.write_text("a,b\n" + "".join(f"{i % 5},{(3 * i) % 5}\n" for i in range(10_000)))
    (tmp_path / "w.json").write_text('{"rules": ["a", "b"], "weights": [0.5, 0.5]}')
    argv = ["compose", "big.csv", "--weights", "w.json", "--chunk-rows", "100"]
    code, shown = _stderr_on_a_terminal([*argv, "--out", "o1.csv"], tmp_path)
    assert code == 0, shown
    assert "composing" in shown, shown
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(_progress, "PROGRESS_DELAY_S", 0.0)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    code, _, err = run(capsys, *argv, "--out", "o2.csv", "--quiet")
    assert code == 0 and err == "", err


def test_tables_print_in_full_on_a_pipe(capsys):
    """Not a terminal: no header or cell is cut or folded, however wide the table."""
    names = [f"research_decisive_{word}_weight_with_a_long_name" for word in ("encore",
                                                                           "entropy")]
    rows = [{"rule": "x" * 150, names[0]: 0.25, names[1]: 0.75}]
    print_table("t", rows, ("rule", *names))
    out = capsys.readouterr().out
    assert all(name in out for name in names) and "x" * 150 in out, out
