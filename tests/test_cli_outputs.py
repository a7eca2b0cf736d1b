"""The command line's outputs: checked before training, never over an input,
the model saved before the figure, every file written atomically."""

import os
import pickle
import stat
import subprocess
import sys

import pytest
from _helpers import OLDER_MODEL
from _helpers import error_line as _error_line
from sklearn.datasets import load_iris

from sklearn_lth import LotteryTicketMLP
from sklearn_lth._cli import _outputs, main

TINY = ["--hidden-layer-sizes", "8", "--max-iter", "5", "--pruning-rounds", "1"]


def _iris_csv(tmp_path, name="iris.csv"):
    iris = load_iris()
    lines = ["sl,sw,pl,pw,species"] + [
        ",".join([*map(str, x), str(iris.target_names[t])])
        for x, t in zip(iris.data, iris.target)
    ]
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def _no_training(monkeypatch):
    """Make any fit fail the test: the check must come before training."""

    def fit(self, *args, **kwargs):
        raise AssertionError("trained before refusing")

    monkeypatch.setattr(LotteryTicketMLP, "_fit", fit)


def _run(*argv):
    return subprocess.run(
        [sys.executable, "-m", "sklearn_lth", *map(str, argv)],
        capture_output=True,
        text=True,
    )


# -- never over an input -----------------------------------------------------------
@pytest.mark.slow
def test_output_over_the_dataset_is_refused_and_the_file_kept(tmp_path):
    """The issue's data loss, run as the user does: exit 2, the CSV intact."""
    path = _iris_csv(tmp_path)
    before = path.read_bytes()
    result = _run(path, *TINY, "--output", path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"sklearn-lth: error: --output {path} is the dataset being read; "
        "choose another path\n"
    )
    assert path.read_bytes() == before


@pytest.mark.parametrize("how", ["relative", "link"])
def test_output_over_the_dataset_by_another_name_is_refused(
    tmp_path, monkeypatch, capsys, how
):
    path = _iris_csv(tmp_path)
    before = path.read_bytes()
    dataset, output = path, path
    if how == "relative":
        (tmp_path / "sub").mkdir()
        output = tmp_path / "sub" / ".." / "iris.csv"
    else:
        dataset = tmp_path / "link.csv"
        dataset.symlink_to(path)
    _no_training(monkeypatch)
    assert main([str(dataset), *TINY, "--output", str(output)]) == 2
    assert _error_line(capsys) == (
        f"sklearn-lth: error: --output {output} is the dataset being read; "
        "choose another path"
    )
    assert path.read_bytes() == before


def test_plot_over_the_dataset_is_refused(tmp_path, monkeypatch, capsys):
    path = _iris_csv(tmp_path, "iris.png")
    _no_training(monkeypatch)
    assert main([str(path), *TINY, "--plot", str(path)]) == 2
    assert "--plot" in _error_line(capsys) and path.read_text().startswith("sl,")


def test_output_and_plot_on_one_path_are_refused(tmp_path, monkeypatch, capsys):
    _no_training(monkeypatch)
    same = tmp_path / "out.png"
    assert main(["iris", *TINY, "--output", str(same), "--plot", str(same)]) == 2
    assert _error_line(capsys) == (
        f"sklearn-lth: error: --output and --plot are the same file {same}; give "
        "each its own path"
    )


@pytest.mark.slow
def test_output_over_a_file_that_is_not_a_pickle_is_refused(tmp_path):
    """The QA's ``--output keep_test.csv``, run as the user does: refused
    before training, one line naming it, exit 2, the file intact."""
    path = _iris_csv(tmp_path)
    keep = _iris_csv(tmp_path, "keep_test.csv")
    before = keep.read_bytes()
    result = _run(path, *TINY, "--output", keep)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"sklearn-lth: error: --output {keep} exists and is not a pickle (not a "
        "model saved before): choose another path, or delete the file if it may "
        "go\n"
    )
    assert keep.read_bytes() == before


@pytest.mark.parametrize("content", [b"", OLDER_MODEL])
def test_output_over_an_empty_file_or_an_earlier_model(tmp_path, capsys, content):
    """An earlier run's model (a pickle) is replaced, as is an empty file."""
    output = tmp_path / "model.pkl"
    output.write_bytes(content)
    assert main(["iris", *TINY, "--output", str(output)]) == 0
    with open(output, "rb") as handle:
        assert hasattr(pickle.load(handle)[-1], "ticket_")


def test_output_over_a_text_file_is_refused_before_training(
    tmp_path, monkeypatch, capsys
):
    output = tmp_path / "notes.txt"
    output.write_text("my notes\n")
    _no_training(monkeypatch)
    assert main(["iris", *TINY, "--output", str(output)]) == 2
    assert "exists and is not a pickle" in _error_line(capsys)
    assert output.read_text() == "my notes\n"


# -- checked before training -------------------------------------------------------
@pytest.mark.slow
def test_a_bad_plot_extension_is_refused_before_any_training(tmp_path):
    """The issue's ``--plot fig.pgn``, run as the user does: refused at once,
    before any table row, and nothing is written."""
    path = _iris_csv(tmp_path)
    output = tmp_path / "model.pkl"
    result = _run(path, *TINY, "--plot", tmp_path / "fig.pgn", "--output", output)
    assert result.returncode == 2
    assert result.stdout == ""  # no header, no round
    assert result.stderr.startswith(
        f"sklearn-lth: error: --plot {tmp_path / 'fig.pgn'}: matplotlib cannot "
        "write .pgn files; use one of "
    )
    assert ".png" in result.stderr and ".pdf" in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert sorted(os.listdir(tmp_path)) == ["iris.csv"]


@pytest.mark.parametrize(
    "option, make, expected",
    [
        ("--output", "directory", "is a directory"),
        ("--plot", "directory", "is a directory"),
        ("--output", "missing folder", "there is no directory"),
        ("--checkpoint-dir", "file", "is a file, not a directory"),
    ],
)
def test_unusable_paths_are_refused_before_training(
    tmp_path, monkeypatch, capsys, option, make, expected
):
    target = tmp_path / "target"
    if make == "directory":
        target.mkdir()
    elif make == "missing folder":
        target = tmp_path / "nowhere" / "model.pkl"
    else:
        target.write_text("not a folder")
    _no_training(monkeypatch)
    assert main(["iris", *TINY, option, str(target)]) == 2
    assert expected in _error_line(capsys)


@pytest.mark.skipif(not os.path.exists("/dev/null"), reason="no /dev/null")
def test_output_to_a_device_is_refused(monkeypatch, capsys):
    """An atomic save would replace the device: refused."""
    _no_training(monkeypatch)
    assert main(["iris", *TINY, "--output", "/dev/null"]) == 2
    assert "--output /dev/null is not a regular file" in _error_line(capsys)


def test_the_writability_check_is_tried_and_leaves_no_trace(
    tmp_path, monkeypatch, capsys
):
    """An existing output is opened without truncating; the probe file is
    removed; a folder where no file can be created is refused."""
    output = tmp_path / "model.pkl"
    output.write_bytes(OLDER_MODEL)
    _outputs.check_outputs(str(output), None, None, dataset=None)
    assert output.read_bytes() == OLDER_MODEL
    assert os.listdir(tmp_path) == ["model.pkl"]

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(_outputs.tempfile, "mkstemp", refuse)
    _no_training(monkeypatch)
    assert main(["iris", *TINY, "--output", str(tmp_path / "new.pkl")]) == 2
    assert _error_line(capsys).endswith(
        f"cannot write --output {tmp_path / 'new.pkl'}: cannot create a file in "
        f"{tmp_path}: Permission denied"
    )


def test_an_existing_output_kept_after_a_later_mistake(tmp_path, capsys):
    output = tmp_path / "model.pkl"
    output.write_bytes(OLDER_MODEL)
    bad = tmp_path / "bad.csv"
    bad.write_text("a,label\n1,x\n")
    assert main([str(bad), *TINY, "--output", str(output)]) == 2
    assert output.read_bytes() == OLDER_MODEL


# -- the model before the figure ---------------------------------------------------
def test_the_model_is_saved_even_if_the_figure_then_fails(
    tmp_path, monkeypatch, capsys
):
    """A figure that fails after the search (a full disk, a matplotlib
    error): one line that says the model was saved, and it was."""
    from matplotlib.figure import Figure

    def savefig(self, *args, **kwargs):
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(Figure, "savefig", savefig)
    output, figure = tmp_path / "model.pkl", tmp_path / "fig.png"
    assert main(["iris", *TINY, "--output", str(output), "--plot", str(figure)]) == 2
    captured = capsys.readouterr()
    assert "saved Pipeline(StandardScaler, LotteryTicketMLP)" in captured.out
    assert captured.err.strip().splitlines()[-1] == (
        f"sklearn-lth: error: cannot save the figure to {figure}: the disk is "
        f"full; the model was saved to {output}"
    )
    with open(output, "rb") as handle:
        assert hasattr(pickle.load(handle)[-1], "ticket_")
    assert sorted(os.listdir(tmp_path)) == ["model.pkl"]  # no half figure


@pytest.mark.parametrize(
    "name, magic",
    [
        ("fig.png", b"\x89PNG"),
        ("fig", b"\x89PNG"),
        ("fig.svg", b"<?xml"),
        ("fig.PDF", b"%PDF"),
    ],
)
def test_the_figure_format_follows_the_extension(tmp_path, capsys, name, magic):
    figure = tmp_path / name
    assert main(["iris", *TINY, "--plot", str(figure)]) == 0
    assert figure.read_bytes().startswith(magic)
    assert f"saved the figure to {figure}" in capsys.readouterr().out


# -- atomic saving -----------------------------------------------------------------
def test_a_failed_save_leaves_the_older_file_whole(tmp_path):
    output = tmp_path / "model.pkl"
    output.write_bytes(OLDER_MODEL)

    def write(stream):
        stream.write(b"half a pick")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _outputs.write_atomically(str(output), write)
    assert output.read_bytes() == OLDER_MODEL
    assert os.listdir(tmp_path) == ["model.pkl"]


def test_a_save_replaces_the_file_keeping_its_mode_and_links(tmp_path):
    target = tmp_path / "model.pkl"
    target.write_bytes(b"old")
    target.chmod(0o600)
    link = tmp_path / "latest.pkl"
    link.symlink_to(target)
    _outputs.write_atomically(str(link), lambda stream: stream.write(b"new"))
    assert link.is_symlink() and target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(os.listdir(tmp_path)) == ["latest.pkl", "model.pkl"]


def test_a_new_file_gets_the_usual_mode(tmp_path):
    umask = os.umask(0o022)
    try:
        _outputs.write_atomically(str(tmp_path / "new.pkl"), lambda s: s.write(b"x"))
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "new.pkl").stat().st_mode) == 0o644


def test_a_save_that_fails_is_one_line(tmp_path, monkeypatch, capsys):
    def replace(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_outputs.os, "replace", replace)
    output = tmp_path / "model.pkl"
    assert main(["iris", *TINY, "--output", str(output)]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line == (
        f"sklearn-lth: error: cannot save the model to {output}: No space left on "
        "device"
    )
    assert os.listdir(tmp_path) == []
