"""The command line's run: new options, memory, values too large to scale,
warnings after the verdict, Ctrl-C at any moment."""

import importlib.metadata
import io
import os
import pickle
import re
import shlex
import signal
import subprocess
import sys
import textwrap
import threading
import warnings

import numpy as np
import pytest
from _helpers import OLDER_MODEL, fail_in_round
from _helpers import error_line as _error_line
from _helpers import table_rows as _rows

import sklearn_lth
from sklearn_lth import LotteryTicketMLP, _cli
from sklearn_lth._cli import _outputs, _running, main
from sklearn_lth._cli._errors import UsageError
from sklearn_lth._cli._estimator import available_memory, check_memory
from sklearn_lth._cli._options import build_parser
from sklearn_lth._params import PARAMS

TINY = ["--hidden-layer-sizes", "8", "--max-iter", "5", "--pruning-rounds", "2"]


def _fitted_params(monkeypatch) -> list[dict]:
    """Record the parameters of every fit, which then runs as usual."""
    real_fit = LotteryTicketMLP._fit
    params = []

    def fit(self, *args, **kwargs):
        params.append(self.get_params())
        return real_fit(self, *args, **kwargs)

    monkeypatch.setattr(LotteryTicketMLP, "_fit", fit)
    return params


# -- new options -------------------------------------------------------------------
def test_version(capsys):
    assert main(["--version"]) == 0
    expected = importlib.metadata.version("sklearn-lth")
    assert capsys.readouterr().out == f"sklearn-lth {expected}\n"
    assert expected == sklearn_lth.__version__


def test_activation_reaches_the_estimator(monkeypatch, capsys):
    params = _fitted_params(monkeypatch)
    assert main(["iris", *TINY, "--activation", "tanh"]) == 0
    assert params[0]["activation"] == "tanh"
    assert "network 4-8-3 (tanh), target sparsity" in capsys.readouterr().out


def test_activation_choices_come_from_the_parameter_table(capsys):
    assert main(["iris", "--activation", "softmax"]) == 2
    line = _error_line(capsys)
    assert "invalid choice: 'softmax'" in line
    for name in PARAMS["activation"].options:
        assert repr(name) in line


def test_n_seeds_prints_the_kept_seeds_rounds_after_the_search(monkeypatch, capsys):
    params = _fitted_params(monkeypatch)
    argv = ["iris", *TINY, "--n-seeds", "2", "--n-jobs", "1"]  # no processes
    assert main(argv) == 0
    assert params[0]["n_seeds"] == 2 and params[0]["n_jobs"] == 1
    out = capsys.readouterr().out
    assert "; 2 seeds, the one scoring best on 10% of the training part" in out
    assert "|   train | validation | seconds |" in out
    rows = _rows(out)
    assert [int(row[0]) for row in rows] == [0, 1, 2]
    kept = re.search(r"kept seed (\d) of 2 \(each seed's last round scores", out)
    assert kept
    dense = float(
        re.search(
            r"dense network \(round 0\) validation accuracy: "
            r"([\d.]+)",
            out,
        )[1]
    )
    assert dense == float(rows[0][6])
    assert re.search(r"the kept ticket's test accuracy: [\d.]+\n", out)


def test_n_seeds_verbose_prints_the_table_header_after_the_search(capsys):
    """The seeds' ``[seed k]`` lines come before the table, not inside it."""
    assert main(["iris", *TINY, "--n-seeds", "2", "--verbose"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = lines.index(
        "| round | remaining weights | sparsity | live units | epochs |   train | "
        "validation | seconds |"
    )
    last_seed_line = max(i for i, line in enumerate(lines) if line.startswith("[seed"))
    assert last_seed_line < header
    assert lines[header + 2].startswith("|     0 |")


def test_ctrl_c_with_seeds_names_every_seeds_last_round(monkeypatch, capsys):
    """Ctrl-C in round 2: one score per seed that completed a round, and the
    seeds that completed none said so (it listed one score for two seeds)."""
    fail_in_round(monkeypatch, 2, KeyboardInterrupt)
    argv = ["iris", *TINY, "--n-seeds", "2", "--n-jobs", "1"]
    assert main(argv) == 130
    out = capsys.readouterr().out
    kept = next(line for line in out.splitlines() if line.startswith("  kept"))
    each = r"(, round \d: [\d.]+|: no round completed)"
    assert re.fullmatch(
        rf"  kept seed \d of 2 \(each seed's last completed round on the held-out "
        rf"part: seed 1{each}; seed 2{each}\)",
        kept,
    ), kept


def test_one_round_is_singular(capsys):
    assert main(["iris", *TINY[:4], "--pruning-rounds", "1"]) == 0
    assert "target sparsity 80% in 1 round (80.0% of" in capsys.readouterr().out


def test_n_jobs_needs_several_seeds(capsys):
    assert main(["iris", *TINY, "--n-jobs", "2"]) == 2
    assert "--n-jobs applies with --n-seeds 2 or more" in _error_line(capsys)


@pytest.mark.parametrize("value", ["0", "-2", "two"])
def test_n_jobs_values(value, capsys):
    assert main(["iris", "--n-seeds", "2", "--n-jobs", value]) == 2
    assert "--n-jobs: " in _error_line(capsys)


def test_checkpoint_dir_resumes_after_ctrl_c(tmp_path, monkeypatch, capsys):
    """Ctrl-C in round 2, the same command again: rounds 0-1 are read back
    (said, not scored), round 2 trains; a third run reads everything."""
    argv = ["iris", *TINY, "--checkpoint-dir", str(tmp_path / "ck")]
    with monkeypatch.context() as patch:
        fail_in_round(patch, 2, KeyboardInterrupt)
        assert main(argv) == 130
    captured = capsys.readouterr()
    assert [int(row[0]) for row in _rows(captured.out)] == [0, 1]
    assert captured.err.strip().endswith(
        "kept round 1 (55.4% sparse); the same command resumes from --checkpoint-dir"
    )
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert (
        "  ... rounds 0-1 were completed by an earlier run, read from "
        "--checkpoint-dir (not scored again)\n|     2 |"
    ) in out
    assert [int(row[0]) for row in _rows(out)] == [2]
    assert "dense network (round 0): read from --checkpoint-dir, not scored" in out
    assert re.search(r"last round \(round 2, .*\) test accuracy: [\d.]+", out)
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "rounds 0-2 were completed by an earlier run" in out
    assert _rows(out) == []


# -- memory ------------------------------------------------------------------------
def test_a_network_too_large_is_refused_before_training(monkeypatch, capsys):
    def fit(self, *args, **kwargs):
        raise AssertionError("trained before refusing")

    monkeypatch.setattr(LotteryTicketMLP, "_fit", fit)
    monkeypatch.setattr(_cli, "available_memory", lambda: 10**9)
    assert main(["iris", "--hidden-layer-sizes", "100000000"]) == 2
    assert _error_line(capsys) == (
        "sklearn-lth: error: a 4-100000000-3 network has 700,000,000 weights: "
        "training it needs about 84 GB of memory, more than the 1 GB available; "
        "choose smaller --hidden-layer-sizes"
    )


def test_the_memory_estimate_counts_the_solver_and_parallel_seeds(monkeypatch, capsys):
    monkeypatch.setattr(_cli, "available_memory", lambda: 10**6)
    argv = ["iris", "--hidden-layer-sizes", "300"]  # 2,100 weights
    check_memory([4, 300, 3], build_parser().parse_args(argv), 10**6)
    lbfgs = [*argv, "--solver", "lbfgs"]
    with pytest.raises(UsageError, match="needs about 1.26 MB"):
        check_memory([4, 300, 3], build_parser().parse_args(lbfgs), 10**6)
    seeds = [*argv, "--n-seeds", "4", "--n-jobs", "4"]
    with pytest.raises(UsageError, match=r"\(4 seeds at once\) needs about 1"):
        check_memory([4, 300, 3], build_parser().parse_args(seeds), 10**6)


def test_the_real_memory_refuses_the_issues_network(capsys):
    """No mock: 700 million weights need more than any test machine has."""
    assert main(["iris", "--hidden-layer-sizes", "100000000"]) == 2
    assert "network has 700,000,000 weights" in _error_line(capsys)


def test_available_memory_is_positive_or_unknown():
    memory = available_memory()
    assert memory is None or memory > 0


def test_a_memory_error_anywhere_is_one_line(monkeypatch, capsys):
    def fit(self, *args, **kwargs):
        raise np.core._exceptions._ArrayMemoryError((4, 10**9), np.dtype(float))

    monkeypatch.setattr(LotteryTicketMLP, "_fit", fit)
    assert main(["iris", *TINY]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert re.fullmatch(
        r"sklearn-lth: error: out of memory \(Unable to allocate 29\.8 GiB .*\); "
        r"try smaller --hidden-layer-sizes or fewer rows",
        line,
    )


# -- values too large to scale -----------------------------------------------------
def test_a_column_too_large_to_standardise_is_named(tmp_path, capsys):
    """The issue's 1e308: not "contains NaN", but which column, and why."""
    rows = [f"{(-1) ** i * 1e308},{i * 0.1},{i % 2}" for i in range(40)]
    path = tmp_path / "big.csv"
    path.write_text("huge,small,label\n" + "\n".join(rows) + "\n")
    assert main([str(path), *TINY]) == 2
    assert _error_line(capsys).endswith(
        'big.csv column "huge": values as large as 1e+308 are too large to '
        "standardise (their mean or variance overflows a float); divide them by "
        "a power of 10, or leave them out with --drop huge"
    )


def test_the_suggested_drop_quotes_names_for_the_shell(tmp_path, capsys):
    """``--drop sepal length (cm)`` is three arguments and a syntax error."""
    rows = [f"{(-1) ** i * 1e308},{(-1) ** i * 1e308},{i % 2}" for i in range(40)]
    path = tmp_path / "big.csv"
    header = "sepal length (cm),it's,label\n"
    path.write_text(header + "\n".join(rows) + "\n")
    assert main([str(path), *TINY]) == 2
    line = _error_line(capsys)
    assert line.endswith("--drop 'sepal length (cm),it'\"'\"'s'")
    assert shlex.split(line.split("--drop ")[-1]) == ["sepal length (cm),it's"]


def test_squares_that_overflow_are_caught_too(tmp_path, capsys):
    """1e200 has a finite mean but an infinite variance: scaled to 0 unseen."""
    rows = [f"{(-1) ** i * 1e200},{i % 2}" for i in range(40)]
    path = tmp_path / "big.csv"
    path.write_text("huge,label\n" + "\n".join(rows) + "\n")
    assert main([str(path), *TINY]) == 2
    assert 'column "huge": values as large as 1e+200' in _error_line(capsys)


def test_a_target_too_large_to_standardise(tmp_path, capsys):
    rows = [f"{i},{(-1) ** i * 1e300 * i}" for i in range(40)]
    path = tmp_path / "big.csv"
    path.write_text("x,target\n" + "\n".join(rows) + "\n")
    assert main([str(path), *TINY]) == 2
    assert "the target's values (as large as 3.9e+301)" in _error_line(capsys)


# -- warnings after the verdict ----------------------------------------------------
def test_warnings_come_after_the_table_and_the_verdict(monkeypatch, capsys):
    """One stream for both, as on a terminal: no warning inside the table."""
    real_fit = LotteryTicketMLP._fit

    def fit(self, *args, **kwargs):
        warnings.warn("raised during the search", UserWarning, stacklevel=2)
        return real_fit(self, *args, **kwargs)

    monkeypatch.setattr(LotteryTicketMLP, "_fit", fit)
    terminal = io.StringIO()
    monkeypatch.setattr(sys, "stdout", terminal)
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["iris", *TINY]) == 0
    lines = terminal.getvalue().splitlines()
    verdict = next(i for i, line in enumerate(lines) if line.startswith("difference"))
    last_row = max(i for i, line in enumerate(lines) if line.startswith("| "))
    first_warning = next(i for i, line in enumerate(lines) if line.startswith("warn"))
    assert last_row < verdict < first_warning
    assert "warning: raised during the search" in lines[first_warning:]
    # The estimator's own: 5 epochs do not converge.
    assert any("hasn't converged" in line for line in lines[first_warning:])


def test_warnings_of_reading_come_before_the_table(monkeypatch, capsys):
    real_split = _cli.split_and_scale

    def split(*args):
        warnings.warn("raised while reading", UserWarning, stacklevel=2)
        return real_split(*args)

    monkeypatch.setattr(_cli, "split_and_scale", split)
    terminal = io.StringIO()
    monkeypatch.setattr(sys, "stdout", terminal)
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["iris", *TINY]) == 0
    assert terminal.getvalue().startswith("warning: raised while reading\n")


# -- Ctrl-C at any moment ----------------------------------------------------------
def test_ctrl_c_while_parsing(monkeypatch, capsys):
    def parser():
        raise KeyboardInterrupt

    monkeypatch.setattr(_cli, "build_parser", parser)
    assert main(["iris"]) == 130
    assert _error_line(capsys) == "sklearn-lth: interrupted"


def test_ctrl_c_while_saving_keeps_the_older_model(tmp_path, monkeypatch, capsys):
    output = tmp_path / "model.pkl"
    output.write_bytes(OLDER_MODEL)

    def dump(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(_outputs.pickle, "dump", dump)
    assert main(["iris", *TINY, "--output", str(output)]) == 130
    assert capsys.readouterr().err.strip().endswith("sklearn-lth: interrupted")
    assert output.read_bytes() == OLDER_MODEL
    assert [p.name for p in tmp_path.iterdir()] == ["model.pkl"]


def _send_sigint_before(monkeypatch, module, name):
    """A real SIGINT to this process as ``module.name`` is called."""
    real = getattr(module, name)

    def interrupted(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, interrupted)


@pytest.mark.parametrize(
    "module, name",
    [
        (_running, "_finish_table"),  # the search has ended, the table not
        (_cli, "print_verdict"),  # the QA's: as "dense network" is printed
        (_outputs.pickle, "dump"),  # while the model is being written
    ],
)
def test_ctrl_c_after_the_search_still_saves_the_model(
    tmp_path, monkeypatch, capsys, module, name
):
    """A completed search is never lost: saved before the verdict, and a
    Ctrl-C from the search's end until the save waits for it; exit 130."""
    _send_sigint_before(monkeypatch, module, name)
    output = tmp_path / "model.pkl"
    assert main(["iris", *TINY, "--output", str(output)]) == 130
    captured = capsys.readouterr()
    assert f"saved Pipeline(StandardScaler, LotteryTicketMLP) to {output}" in (
        captured.out
    )
    assert captured.err.strip().splitlines()[-1] == "sklearn-lth: interrupted"
    with open(output, "rb") as handle:
        assert list(pickle.load(handle)[-1].history_["round"]) == [0, 1, 2]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_the_model_is_saved_before_the_verdict(tmp_path, capsys):
    output = tmp_path / "model.pkl"
    assert main(["iris", *TINY, "--output", str(output)]) == 0
    out = capsys.readouterr().out
    assert out.index("saved Pipeline") < out.index("dense network (round 0)")


def test_ctrl_c_twice_still_saves_the_interrupted_search(tmp_path, monkeypatch, capsys):
    """Ctrl-C in round 2, and again while round 1 is being saved."""
    fail_in_round(monkeypatch, 2, KeyboardInterrupt)
    _send_sigint_before(monkeypatch, _outputs.pickle, "dump")
    output = tmp_path / "model.pkl"
    assert main(["iris", *TINY, "--output", str(output)]) == 130
    assert "(round 1) to" in capsys.readouterr().out
    with open(output, "rb") as handle:
        assert list(pickle.load(handle)[-1].history_["round"]) == [0, 1]


@pytest.mark.slow
def test_ctrl_c_after_the_search_in_a_real_run(tmp_path):
    """As the user runs it: SIGINT as the verdict starts, the model saved."""
    code = (
        "import os, signal, sys\n"
        "import sklearn_lth._cli as cli\n"
        "real = cli.print_verdict\n"
        "def verdict(*args):\n"
        "    os.kill(os.getpid(), signal.SIGINT)\n"
        "    return real(*args)\n"
        "cli.print_verdict = verdict\n"
        "from sklearn_lth._entry import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    output = tmp_path / "out.pkl"
    result = subprocess.run(
        [sys.executable, "-c", code, "iris", *TINY, "--output", str(output)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 130
    assert result.stderr.strip().splitlines()[-1] == "sklearn-lth: interrupted"
    assert "Traceback" not in result.stderr
    with open(output, "rb") as handle:
        assert list(pickle.load(handle)[-1].history_["round"]) == [0, 1, 2]


def test_the_command_line_in_another_thread(tmp_path, capsys):
    """Signal handlers are for the main thread: elsewhere none is set."""
    output = tmp_path / "model.pkl"
    status = []
    thread = threading.Thread(
        target=lambda: status.append(main(["iris", *TINY, "--output", str(output)]))
    )
    thread.start()
    thread.join()
    assert status == [0] and output.exists()


class _InterruptImport:
    """A meta path finder: Ctrl-C while ``name`` is being imported."""

    def __init__(self, name):
        self.name = name

    def find_spec(self, name, path=None, target=None):
        if name == self.name:
            raise KeyboardInterrupt
        return None


def test_entry_point_ctrl_c_while_importing_the_command_line(monkeypatch, capsys):
    from sklearn_lth import _entry

    monkeypatch.delitem(sys.modules, "sklearn_lth._cli")
    monkeypatch.setattr(sys, "meta_path", [_InterruptImport("sklearn_lth._cli")])
    try:
        status = _entry.main(["iris"])
    except KeyboardInterrupt:  # would stop pytest itself
        pytest.fail("Ctrl-C escaped the entry point")
    assert status == 130
    assert _error_line(capsys) == "sklearn-lth: interrupted"


def _run_entry_point(hook_body: str, *argv: str) -> subprocess.CompletedProcess:
    """Run ``_entry.main(argv)`` with an audit hook that runs ``hook_body``
    as the command line starts to be imported (numpy and scikit-learn
    follow); print whether the import completed and the SIGINT handler."""
    code = (
        "import os, signal, sys, time\n"
        "from sklearn_lth import _entry\n"
        "def hook(event, args):\n"
        "    if event == 'import' and args[0] == 'sklearn_lth._cli':\n"
        f"{textwrap.indent(hook_body, ' ' * 8)}\n"
        "sys.addaudithook(hook)\n"
        f"status = _entry.main({list(argv)!r})\n"
        "print('sklearn_lth._cli' in sys.modules)\n"
        "print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)\n"
        "sys.exit(status)\n"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)


@pytest.mark.slow
def test_entry_point_a_real_sigint_during_the_imports():
    """SIGINT sent by the process itself as the command line starts to be
    imported: recorded, not raised inside the imports (which complete), then
    one line and exit status 130; Python's handler is back afterwards."""
    result = _run_entry_point("os.kill(os.getpid(), signal.SIGINT)", "iris")
    assert result.returncode == 130
    assert result.stderr == "sklearn-lth: interrupted\n"
    assert result.stdout == "True\nTrue\n"  # no header: the command never ran


@pytest.mark.slow
def test_entry_point_ctrl_c_a_library_swallows_while_importing():
    """A KeyboardInterrupt raised inside an import can be lost (a bare
    ``except:``, a weakref callback): the command then ran to completion
    (2 of 400 SIGINTs from 0.2 to 1.1 s after start). Recorded, it is not."""
    swallowing = (
        "try:\n"
        "    os.kill(os.getpid(), signal.SIGINT)\n"
        "    time.sleep(0.05)\n"
        "except BaseException:  # a library's bare except\n"
        "    pass"
    )
    result = _run_entry_point(swallowing, "iris", *TINY)
    assert result.returncode == 130
    assert result.stderr == "sklearn-lth: interrupted\n"
    assert "sklearn-lth: iris" not in result.stdout


@pytest.mark.slow
def test_entry_point_leaves_an_ignored_sigint_alone():
    """Started with SIGINT ignored (``nohup``, a background job): no handler
    is installed over it."""
    code = (
        "import signal, sys\n"
        "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "from sklearn_lth import _entry\n"
        "status = _entry.main(['--version'])\n"
        "print(signal.getsignal(signal.SIGINT) is signal.SIG_IGN)\n"
        "sys.exit(status)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True
    )
    assert result.returncode == 0 and result.stdout.endswith("\nTrue\n")


def test_entry_point_in_another_thread(capsys):
    """Handlers are for the main thread: elsewhere the import runs as is."""
    from sklearn_lth import _entry

    status = []
    thread = threading.Thread(target=lambda: status.append(_entry.main(["--version"])))
    thread.start()
    thread.join()
    assert status == [0]
    assert capsys.readouterr().out.startswith("sklearn-lth ")


def test_entry_point_runs_the_command_line(capsys):
    from sklearn_lth import _entry

    assert _entry.main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("sklearn-lth ")
