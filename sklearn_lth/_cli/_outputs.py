"""The files the command line writes: checked first, written atomically.

:func:`check_outputs` refuses, before anything is trained, a path that
cannot be written (tried: an existing file is opened for appending, which
changes nothing, and a temporary file is created and removed in its
folder), a path that is the dataset being read or another output, an
existing ``--output`` that is neither empty nor a pickle (an earlier model
may be replaced, a CSV file given by mistake may not), and a figure format
matplotlib does not write. :func:`write_atomically` writes a
file to a temporary file in the same folder and renames it over the old
one, so that a crash or Ctrl-C never leaves half a file, or none where
there was one. :func:`save_model` writes the fitted pipeline
(:func:`saved_pipeline`, which takes raw rows) as a pickle, and
:func:`save_plot` the figure of each round's score, both that way.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pickle
import stat
import tempfile
from collections.abc import Callable
from typing import BinaryIO

import numpy as np
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from ._data import Split
from ._errors import UsageError
from ._running import Search


def _same_file(path: str, other: str) -> bool:
    """Whether two paths name one file (through links too)."""
    try:
        return os.path.samefile(path, other)
    except OSError:  # one does not exist (yet)
        return os.path.realpath(path) == os.path.realpath(other)


def plot_formats() -> dict[str, str]:
    """The file formats matplotlib writes, by extension (``{"png": ...}``)."""
    from matplotlib.backend_bases import FigureCanvasBase

    return FigureCanvasBase.get_supported_filetypes()


def plot_format(path: str) -> str:
    """The format ``--plot path`` is written in: its extension, else PNG."""
    return os.path.splitext(path)[1][1:].lower() or "png"


def _check_writable(option: str, path: str, dataset: str | None) -> str:
    """Refuse ``path`` unless a file can be written there; return its real path.

    Tried, not guessed: an existing file is opened for appending (which
    changes nothing in it), and a temporary file is created and removed in
    its folder, where the atomic save writes. An existing ``--output`` must be
    empty or a pickle (see :func:`_check_replaceable`).
    """
    real = os.path.realpath(path)
    if dataset is not None and _same_file(real, dataset):
        raise UsageError(
            f"{option} {path} is the dataset being read; choose another path"
        )
    try:
        info = os.stat(real)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise UsageError(f"{option} {path}: {exc.strerror or exc}") from exc
    if info is not None:
        if stat.S_ISDIR(info.st_mode):
            raise UsageError(f"{option} {path} is a directory")
        if not stat.S_ISREG(info.st_mode):
            raise UsageError(
                f"{option} {path} is not a regular file; give the path of a file "
                "to write"
            )
        try:
            open(real, "ab").close()
        except OSError as exc:
            raise UsageError(
                f"cannot write {option} {path}: {exc.strerror or exc}"
            ) from exc
        if option == "--output":
            _check_replaceable(path, real)
    folder = os.path.dirname(real)
    if not os.path.isdir(folder):
        raise UsageError(f"{option} {path}: there is no directory {folder}")
    try:
        handle, probe = tempfile.mkstemp(dir=folder, prefix=".sklearn-lth-")
    except OSError as exc:
        raise UsageError(
            f"cannot write {option} {path}: cannot create a file in {folder}: "
            f"{exc.strerror or exc}"
        ) from exc
    os.close(handle)
    os.unlink(probe)
    return real


#: The first byte of a pickle of protocol 2 or later (sklearn-lth writes 5).
PICKLE_START = b"\x80"


def _check_replaceable(path: str, real: str) -> None:
    """Refuse to replace a file that is not empty and not a pickle.

    ``--output`` replaces an earlier model, but never a file of another
    kind (a test set, a script) given by mistake.
    """
    try:
        with open(real, "rb") as handle:
            start = handle.read(1)
    except OSError as exc:
        raise UsageError(f"cannot read --output {path}: {exc.strerror or exc}") from exc
    if start and start != PICKLE_START:
        raise UsageError(
            f"--output {path} exists and is not a pickle (not a model saved "
            "before): choose another path, or delete the file if it may go"
        )


def check_outputs(
    output: str | None,
    plot: str | None,
    checkpoint_dir: str | None,
    dataset: str | None,
) -> None:
    """Refuse, before any training, paths that cannot or must not be written.

    ``output`` (``--output``) and ``plot`` (``--plot``) must be writable
    files, neither the ``dataset`` file (None for a bundled dataset) nor each
    other; ``plot`` must name a format matplotlib writes; ``checkpoint_dir``
    must not be an existing file or one of those paths.

    Raises
    ------
    UsageError
        Naming the option and the path.
    """
    written: dict[str, str] = {}
    for option, path in (("--output", output), ("--plot", plot)):
        if path is None:
            continue
        real = _check_writable(option, path, dataset)
        for other, other_real in written.items():
            if real == other_real:
                raise UsageError(
                    f"{other} and {option} are the same file {path}; give each "
                    "its own path"
                )
        written[option] = real
    if plot:
        if importlib.util.find_spec("matplotlib") is None:
            raise UsageError("--plot needs matplotlib: pip install matplotlib")
        formats = plot_formats()
        if plot_format(plot) not in formats:
            raise UsageError(
                f"--plot {plot}: matplotlib cannot write "
                f".{plot_format(plot)} files; use one of "
                f"{', '.join('.' + name for name in sorted(formats))}"
            )
    if checkpoint_dir is not None:
        if os.path.exists(checkpoint_dir) and not os.path.isdir(checkpoint_dir):
            raise UsageError(
                f"--checkpoint-dir {checkpoint_dir} is a file, not a directory"
            )
        for option, real in written.items():
            if real == os.path.realpath(checkpoint_dir):
                raise UsageError(
                    f"--checkpoint-dir and {option} are the same path {checkpoint_dir}"
                )


def write_atomically(path: str, write: Callable[[BinaryIO], None]) -> None:
    """Write the file ``path`` through ``write(handle)``, all or nothing.

    Written to a temporary file in the same folder, flushed to disk, then
    renamed over ``path`` (through a link, onto the file it names): a crash
    or Ctrl-C at any moment leaves the old file or the new one, never half
    of one. A file replaced keeps its permissions.
    """
    real = os.path.realpath(path)
    try:
        mode = stat.S_IMODE(os.stat(real).st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    handle, temporary = tempfile.mkstemp(
        dir=os.path.dirname(real), prefix=f".{os.path.basename(real)}.", suffix=".tmp"
    )
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, real)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


# -- saving ------------------------------------------------------------------------
def _in_target_units(estimator, target_scaler: StandardScaler):
    """``estimator`` fitted on standardised targets, predicting original ones.

    A fitted :class:`~sklearn.compose.TransformedTargetRegressor` around it,
    built without refitting (refitting would run the search again).
    """
    model = TransformedTargetRegressor(
        regressor=estimator, transformer=target_scaler, check_inverse=False
    )
    model.regressor_, model.transformer_ = estimator, target_scaler
    model._training_dim = 1
    return model


def saved_pipeline(split: Split, estimator) -> Pipeline:
    """``Pipeline(preprocessor, estimator)``, which takes the raw features.

    A regressor is wrapped in a ``TransformedTargetRegressor`` that undoes
    the target scaling, so the pipeline predicts in the target's own units.
    The first step is named ``scale`` (a StandardScaler, for a bundled
    dataset) or ``prepare`` (a CSV file's ColumnTransformer, which also
    one-hot encodes its text columns).
    """
    if split.target_scaler is not None:
        estimator = _in_target_units(estimator, split.target_scaler)
    step = "scale" if isinstance(split.preprocessor, StandardScaler) else "prepare"
    return Pipeline([(step, split.preprocessor), ("mlp", estimator)])


def _described(model: Pipeline) -> str:
    """``Pipeline(StandardScaler, LotteryTicketMLP)``: the steps by class."""
    first, last = model.steps[0][1], model.steps[-1][1]
    name = type(first).__name__
    if isinstance(first, ColumnTransformer):
        # A step that is a pipeline is named by its last step (the encoder).
        inner = ", ".join(
            type(step[-1] if isinstance(step, Pipeline) else step).__name__
            for _, step, _ in first.transformers
        )
        name = f"{name}({inner})"
    return f"Pipeline({name}, {type(last).__name__})"


def save_model(path: str, split: Split, estimator, note: str = "") -> None:
    """Pickle :func:`saved_pipeline` to ``path``, atomically."""
    model = saved_pipeline(split, estimator)
    try:
        write_atomically(path, lambda stream: pickle.dump(model, stream, protocol=5))
    except OSError as exc:
        raise UsageError(
            f"cannot save the model to {path}: {exc.strerror or exc}"
        ) from exc
    print(f"saved {_described(model)}{note} to {path}", flush=True)


def save_plot(path: str, estimator, search: Search, metric: str, title: str):
    """Each scored round's score against the weights remaining, to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .._display import LotteryTicketDisplay

    rounds = sorted(search.scores)
    position = {int(index): k for k, index in enumerate(estimator.history_["round"])}
    sparsity = np.asarray(estimator.history_["sparsity"])[
        [position[index] for index in rounds]
    ]
    display = LotteryTicketDisplay(
        remaining=100 * (1 - sparsity),
        scores=[search.scores[index] for index in rounds],
        dense_score=search.scores.get(0),
        name=f"rewind={estimator.rewind!r}",
        score_name=f"{search.scored_on} {metric}",
    ).plot()
    display.ax_.set_title(f"Lottery ticket search on {title}")
    try:
        write_atomically(
            path,
            lambda stream: display.figure_.savefig(
                stream, format=plot_format(path), dpi=100, bbox_inches="tight"
            ),
        )
    finally:
        plt.close(display.figure_)
    print(f"saved the figure to {path}", flush=True)
