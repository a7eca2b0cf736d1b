import pickle
import re
import subprocess
import sys

import numpy as np
import pytest
from sklearn.datasets import load_wine

from sklearn_lth._cli import main


def _rows(output: str) -> list[list[str]]:
    return [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in output.splitlines()
        if re.match(r"\|\s+\d+ \|", line)
    ]


def test_default_run_finds_a_ticket_within_one_point_of_dense(capsys):
    """The README's first command: digits, (100,), 80% sparsity in 5 rounds."""
    assert main([]) == 0
    out = capsys.readouterr().out
    rows = _rows(out)
    assert [int(r[0]) for r in rows] == [0, 1, 2, 3, 4, 5]
    assert [int(r[1]) for r in rows] == [7400, 5363, 3887, 2817, 2042, 1480]
    dense = float(
        re.search(r"dense network \(round 0\) test accuracy: ([\d.]+)", out)[1]
    )
    ticket = float(re.search(r"winning ticket .* test accuracy: ([\d.]+)", out)[1])
    assert ticket >= dense - 0.01
    assert float(rows[0][5]) == dense and float(rows[-1][5]) == ticket


def test_output_saves_a_pipeline_on_raw_features(tmp_path, capsys):
    path = tmp_path / "model.pkl"
    args = [
        "wine",
        "--hidden-layer-sizes",
        "16",
        "--pruning-rounds",
        "2",
        "--max-iter",
        "50",
        "--learning-rate-init",
        "0.01",
        "--output",
        str(path),
    ]
    assert main(args) == 0
    assert "saved Pipeline" in capsys.readouterr().out
    with open(path, "rb") as handle:
        model = pickle.load(handle)
    X, y = load_wine(return_X_y=True)
    assert model.score(X, y) > 0.8
    assert model[-1].ticket_.sparsity == pytest.approx(0.8, abs=0.01)


def test_csv_with_a_label_column_and_regression(tmp_path, capsys):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(80, 3))
    path = tmp_path / "data.csv"
    lines = ["a,target,b,c"] + [f"{x[0]},{2 * x[0] - x[1]},{x[1]},{x[2]}" for x in X]
    path.write_text("\n".join(lines))
    args = [
        str(path),
        "--label-column",
        "target",
        "--pruning-rounds",
        "1",
        "--max-iter",
        "30",
        "--hidden-layer-sizes",
        "8",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "scores are R2" in out and len(_rows(out)) == 2


def test_unknown_dataset_is_a_clear_error():
    with pytest.raises(SystemExit, match="neither a bundled dataset"):
        main(["no_such_dataset"])


def test_python_dash_m_entry_point():
    result = subprocess.run(
        [sys.executable, "-m", "sklearn_lth", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0 and "lottery ticket" in result.stdout
