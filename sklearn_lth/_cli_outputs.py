"""The files the command line writes: checked first, written atomically.

:func:`check_outputs` refuses, before anything is trained, a path that
cannot be written (tried: an existing file is opened for appending, which
changes nothing, and a temporary file is created and removed in its
folder), a path that is the dataset being read or another output, and a
figure format matplotlib does not write. :func:`write_atomically` writes a
file to a temporary file in the same folder and renames it over the old
one, so that a crash or Ctrl-C never leaves half a file, or none where
there was one.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import stat
import tempfile
from collections.abc import Callable
from typing import BinaryIO

from ._tabular import UsageError


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
    its folder, where the atomic save writes.
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
