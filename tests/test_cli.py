"""The encore-jax command line, run in-process through its entry point."""

import json

import numpy as np
import pytest

import encore_jax as ej
from encore_jax import cli
from encore_jax.io import example_ratings_path


def run_json(capsys, *argv):
    assert cli.main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_weights_on_csv_and_npz_agree(tmp_path, capsys, rng):
    ratings = rng.integers(0, 4, size=(50, 3))
    ratings[3, 1] = -1
    csv_path = tmp_path / "r.csv"
    csv_path.write_text("a,b,c\n" + "\n".join(",".join(map(str, row)) for row in ratings) + "\n")
    npz_path = tmp_path / "r.npz"
    np.savez(npz_path, ratings=ratings, rule_names=np.array(["a", "b", "c"]))
    from_csv = run_json(capsys, "weights", str(csv_path), "--levels", "4", "--mask-value", "-1")
    from_npz = run_json(capsys, "weights", str(npz_path), "--levels", "4", "--mask-value", "-1")
    assert from_csv["rules"] == from_npz["rules"]
    assert from_csv["rules"][1]["observed"] == 49
    mask = ratings != -1
    _, weights = ej.encore_weights(np.where(mask, ratings, 0), 4, mask=mask)
    np.testing.assert_allclose([r["weight"] for r in from_csv["rules"]], weights, rtol=1e-6)


def test_weights_prints_a_table(capsys):
    assert cli.main(["weights", str(example_ratings_path()), "--levels", "5"]) == 0
    out = capsys.readouterr().out
    assert "respectful_tone" in out and "weight" in out


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("a,b\n0,1\n1,x\n", "row 3, column 'b'"),
        ("a,b\n0,1\n1\n", "row 3 has 1 cells"),
        ("a,a\n0,1\n", "duplicate column name 'a' (columns 1 and 2)"),
        ("", "empty file"),
        ("a,b\n0,7\n", "outside 0..3"),
        ("a,b\n0,1.5\n", "not an integer"),
    ],
)
def test_malformed_files_exit_2_with_a_reason(tmp_path, capsys, content, match):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    assert cli.main(["weights", str(path), "--levels", "4"]) == 2
    assert match in capsys.readouterr().err


def test_missing_file_and_bad_temperature(tmp_path, capsys):
    assert cli.main(["weights", str(tmp_path / "none.csv"), "--levels", "4"]) == 2
    assert "no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["weights", str(example_ratings_path()), "--levels", "5", "--temperature", "0"])
    assert exit_info.value.code == 2
