"""Checkpoints: the state of a search after each completed round, on disk.

A checkpoint is one ``.npz`` file of plain arrays (no pickle) with a JSON
header. It is written atomically: to a temporary file in the same directory,
flushed to disk, then renamed over the previous one, so a crash at any moment
leaves either the previous checkpoint or the new one, never half of one.

Each file carries a fingerprint of the estimator's parameters and of the
training data. A checkpoint written for other parameters or other data is
refused, never silently mixed in.

A checkpoint is read as untrusted bytes: whatever is found under its name (a
damaged or crafted file, a FIFO, a directory, a file too large) gives a
:class:`CheckpointError`, and nothing is allocated before its size has been
checked against the bytes actually on disk. Its content is untrusted too:
:func:`load_plan` and :func:`restore_search` check every value against the
estimator's parameters, the data and the file's other values before any of
it is used (:class:`SearchSpec` says what the parameters imply), and this
module is the only one that knows the saved form of a search.

Each distinct search writes into its own folder, :func:`search_directory`,
and processes that share a folder take turns through :class:`SearchLock`.
Links inside ``checkpoint_dir`` are never followed to write or delete: a
search folder that is a link is refused, the lock and temporary files are
opened without following links, and only our own temporary files are
removed. A finished search is read from a read-only folder.
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import re
import secrets
import stat
import struct
import tokenize
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import scipy.sparse as sp

from ._network import Layer, Network
from ._rewinding import RewindPolicy, StartPoint
from ._search import HISTORY_KEYS, VALIDATION_KEYS, CompletedRound, SearchState
from ._training import RoundResult
from .exceptions import CheckpointError

try:
    import fcntl
except ImportError:  # Windows: SearchLock does not lock there
    fcntl = None

FORMAT_VERSION = 2

# Parameters that do not change the search, so a run may resume with others.
_NEUTRAL_PARAMS = ("checkpoint_dir", "verbose", "n_jobs")

# Far above any checkpoint of a network this package trains, yet a bound: a
# file claiming more is refused before anything is read from it.
_DEFAULT_MAX_BYTES = 4 * 2**30

# O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
# O_BINARY: Windows would translate line endings without it.
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
# O_NOFOLLOW: a link planted under one of our names is never written through.
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)

# What the parsers of zip, .npy headers (``ast.literal_eval`` and, for old
# headers, ``tokenize``) and dtype descriptions raise on bytes they cannot make
# sense of. MemoryError is deliberately absent: sizes are checked before any
# allocation, so it would mean a real shortage, not a damaged file.
_PARSE_ERRORS = (
    OSError,
    EOFError,
    ValueError,
    TypeError,
    LookupError,
    ArithmeticError,
    SyntaxError,
    RuntimeError,
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    struct.error,
    tokenize.TokenError,
)

_NPY_HEADER_READERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}

# The temporary files of CheckpointStore.save, ".{name}.{8 random}.tmp" for a
# checkpoint ``name`` ending in ".npz": only files named so are ever removed.
_TEMPORARY_NAME = re.compile(r"\.[A-Za-z0-9_]+\.npz\.[a-z0-9_]{8}\.tmp")

_LOCK_NAME = "lock"

# What opening a file for writing raises in a read-only folder: a read-only
# file system, or permissions (as another user, or a read-only mount).
_READ_ONLY_ERRORS = (errno.EROFS, errno.EACCES, errno.EPERM)

# A zip member's local header: 30 bytes, then its name and extra field.
_LOCAL_HEADER_SIZE = 30

_START_OVER = "Delete the folder {} (or choose another checkpoint_dir) to start over."


# -- fingerprints -------------------------------------------------------------
def _update_with_array(digest, array) -> None:
    """Feed ``array`` to ``digest``: its bytes, with its dtype and shape."""
    if sp.issparse(array):
        array = sp.csr_array(array)
        for part in (array.data, array.indices, array.indptr):
            _update_with_array(digest, part)
        digest.update(repr(array.shape).encode())
        return
    array = np.asarray(array)
    if array.dtype == object:
        # The bytes of an object array are pointers: digest the values.
        digest.update(repr(array.tolist()).encode())
        return
    # The same bytes in another dtype or shape are other data.
    digest.update(f"{array.dtype.str}{array.shape}".encode())
    digest.update(np.ascontiguousarray(array).view(np.uint8).ravel())


def _update_with_random_state(digest, name: str, state: np.random.RandomState):
    # The whole state: two generators of one seed at different positions (or
    # one holding a cached Gaussian) draw different numbers from here on.
    kind, keys, pos, has_gauss, cached_gaussian = state.get_state()
    digest.update(f"{name}=RandomState({kind},{pos},{has_gauss},".encode())
    digest.update(f"{float(cached_gaussian).hex()});".encode())
    _update_with_array(digest, keys)


def fingerprint(params: dict, *arrays) -> str:
    """A digest of the parameters that shape a search and of its data.

    Parameters
    ----------
    params : dict
        The estimator's parameters, as from ``get_params()``. Those that do not
        change the search (``checkpoint_dir``, ``verbose``, ``n_jobs``) are
        left out. A ``numpy.random.RandomState`` counts with its whole state
        (keys, position, cached Gaussian), a ticket with its arrays.
    *arrays : array-like, sparse matrix or None
        The training data; None entries are skipped.

    Returns
    -------
    str
        32 hexadecimal digits.
    """
    digest = hashlib.blake2b(digest_size=16)
    for name in sorted(params):
        if name in _NEUTRAL_PARAMS:
            continue
        value = params[name]
        if hasattr(value, "weights") and hasattr(value, "intercepts"):
            # A ticket: its repr shows only counts, so digest its arrays.
            for part in (*value.weights, *value.intercepts):
                _update_with_array(digest, part)
        elif isinstance(value, np.random.RandomState):
            _update_with_random_state(digest, name, value)
        else:
            digest.update(f"{name}={value!r};".encode())
    for array in arrays:
        if array is not None:
            _update_with_array(digest, array)
    return digest.hexdigest()


# -- where a search writes, and taking turns ------------------------------------
def search_directory(checkpoint_dir: str | os.PathLike, fingerprint: str) -> Path:
    """The folder of one distinct search inside ``checkpoint_dir``.

    Each search (a fold of a cross-validation, a point of a grid) gets a
    folder named after its fingerprint, so distinct searches never share, and
    never overwrite, each other's files.

    Parameters
    ----------
    checkpoint_dir : str or path-like
        The directory the user chose. An empty string is refused: it would
        silently mean the working directory.
    fingerprint : str
        The search's fingerprint, as returned by :func:`fingerprint`.

    Returns
    -------
    pathlib.Path
        ``Path(checkpoint_dir) / f"search-{fingerprint}"``; not created here.

    Raises
    ------
    ValueError
        If ``checkpoint_dir`` is empty or ``fingerprint`` is not hexadecimal.
    """
    if not os.fspath(checkpoint_dir):
        raise ValueError(
            "checkpoint_dir is an empty path, which would write checkpoints into "
            "the working directory. Pass a directory name, or None for no "
            "checkpoints."
        )
    if not re.fullmatch(r"[0-9a-f]+", fingerprint):
        raise ValueError(
            f"A search fingerprint is made of hexadecimal digits, got {fingerprint!r}."
        )
    return Path(checkpoint_dir) / f"search-{fingerprint}"


def _folder_error(directory: Path, problem: str) -> CheckpointError:
    return CheckpointError(
        f"The search folder {directory} {problem}. {_START_OVER.format(directory)}"
    )


def _read_only_error(directory: Path, what: str) -> CheckpointError:
    return CheckpointError(
        f"The search folder {directory} is read-only (or not writable by this "
        f"user), but {what}. Only a finished search can be read from a "
        "read-only folder: make it writable, or choose another checkpoint_dir."
    )


def _make_search_folder(directory: Path) -> None:
    """Create ``directory`` (and ``checkpoint_dir`` above it) if missing.

    ``checkpoint_dir`` is the user's: it may be a link. The search folder is
    ours: whatever exists under its name is checked by :func:`_open_folder`.
    """
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        os.mkdir(directory)
    except FileExistsError:
        pass
    except OSError as exc:
        if os.path.lexists(directory):
            return  # a read-only folder may say so rather than that it exists
        if exc.errno in _READ_ONLY_ERRORS:
            raise CheckpointError(
                f"The search folder {directory} cannot be created "
                f"({exc.strerror}): checkpoint_dir is read-only or not writable "
                "by this user. Choose a writable checkpoint_dir."
            ) from exc
        raise


def _open_folder(directory: Path) -> int:
    """A descriptor of the search folder, opened without following a link."""
    try:
        return os.open(directory, os.O_RDONLY | os.O_DIRECTORY | _NOFOLLOW)
    except OSError as exc:
        if os.path.islink(directory):
            raise _folder_error(
                directory,
                "is a symbolic link; checkpoints are never written through a "
                "link inside checkpoint_dir",
            ) from exc
        if os.path.lexists(directory) and not os.path.isdir(directory):
            raise _folder_error(directory, "is not a directory") from exc
        raise


def _open_lock(folder: int, directory: Path) -> tuple[int | None, bool]:
    """The folder's lock file, and whether the folder can be written.

    A folder where the lock cannot be opened for writing (a read-only file
    system, or permissions) is read-only: the lock is opened for reading, for
    a shared lock, or, if there is none, not at all: no writer can be at work
    where none could create it.
    """
    try:
        flags = os.O_RDWR | os.O_CREAT | _NOFOLLOW | os.O_NONBLOCK
        fd, writable = os.open(_LOCK_NAME, flags, 0o666, dir_fd=folder), True
    except OSError as exc:
        _refuse_odd_lock(folder, directory, exc)
        if exc.errno not in _READ_ONLY_ERRORS:
            raise
        try:
            fd = os.open(_LOCK_NAME, _READ_FLAGS | _NOFOLLOW, dir_fd=folder)
        except FileNotFoundError:
            return None, False
        except OSError as again:
            _refuse_odd_lock(folder, directory, again)
            raise
        writable = False
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # a FIFO, a device
        os.close(fd)
        raise _folder_error(directory, f"has a {_LOCK_NAME!r} that is not a file")
    return fd, writable


def _refuse_odd_lock(folder: int, directory: Path, exc: OSError) -> None:
    """Say so when the lock could not be opened for being a link or no file."""
    try:
        mode = os.stat(_LOCK_NAME, dir_fd=folder, follow_symlinks=False).st_mode
    except OSError:
        return
    if stat.S_ISLNK(mode):
        raise _folder_error(
            directory,
            f"has a {_LOCK_NAME!r} that is a symbolic link, which is never followed",
        ) from exc
    if not stat.S_ISREG(mode):
        raise _folder_error(
            directory, f"has a {_LOCK_NAME!r} that is not a file"
        ) from exc


def _remove_stale_temporary_files(folder: int, directory: Path) -> list[Path]:
    """Delete the temporary files that writers killed mid-save left behind.

    Only files that are provably ours go: named as :meth:`CheckpointStore.save`
    names them, regular files (checked without following links) and, where
    files have owners, owned by this user. Only safe while holding the
    folder's :class:`SearchLock`: a writer that is still running would lose
    its file.
    """
    owner = os.geteuid() if hasattr(os, "geteuid") else None
    with os.scandir(folder) as entries:
        names = [entry.name for entry in entries]
    removed = []
    for name in names:
        if not _TEMPORARY_NAME.fullmatch(name):
            continue
        try:
            info = os.stat(name, dir_fd=folder, follow_symlinks=False)
            if not stat.S_ISREG(info.st_mode) or owner not in (None, info.st_uid):
                continue
            # Removes the name only: a link put there since is not followed.
            os.unlink(name, dir_fd=folder)
        except FileNotFoundError:
            continue
        removed.append(directory / name)
    return removed


class SearchLock:
    """A lock on a search folder, held for a ``with`` block.

    Entering creates the folder (and its parents), waits for an exclusive
    ``flock`` on its ``lock`` file, then deletes the temporary files that
    killed writers left behind: while the lock is held, no other writer that
    uses it can be active. Two processes (or threads) working on the same
    search folder thereby take turns, and the second resumes from the
    checkpoints the first wrote. The lock is released on leaving the block,
    whatever the exception, KeyboardInterrupt included.

    Links inside ``checkpoint_dir`` are not followed: a search folder or a
    ``lock`` that is a symbolic link is a :class:`CheckpointError`. A folder
    that cannot be written (a read-only file system, or permissions) is
    entered with a shared lock (or none, if it has no lock file) and
    :attr:`read_only` set: its finished searches can be read, nothing can be
    saved.

    The lock is not re-entrant: a second ``SearchLock`` on the same folder
    inside the first one's block waits forever. Where ``fcntl`` does not exist
    (Windows) it does not lock, and leaves temporary files alone.

    Parameters
    ----------
    directory : str or path-like
        The search folder, usually from :func:`search_directory`. Every
        writer of checkpoints in it must hold the lock.

    Attributes
    ----------
    removed : list of pathlib.Path
        The stale temporary files deleted on entering.
    read_only : bool
        Whether the folder cannot be written.
    """

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)
        self.removed: list[Path] = []
        self.read_only = False
        self._held = False
        self._fd: int | None = None

    def __enter__(self) -> SearchLock:
        if self._held:
            raise RuntimeError(f"The lock on {self.directory} is already held.")
        _make_search_folder(self.directory)
        if fcntl is None:
            if os.path.islink(self.directory):
                raise _folder_error(self.directory, "is a symbolic link")
            self._held = True
            return self
        folder = _open_folder(self.directory)
        try:
            fd, writable = _open_lock(folder, self.directory)
            try:
                if fd is not None:
                    fcntl.flock(fd, fcntl.LOCK_EX if writable else fcntl.LOCK_SH)
                if writable:
                    self.removed = _remove_stale_temporary_files(folder, self.directory)
            except BaseException:  # KeyboardInterrupt while waiting, too
                if fd is not None:
                    os.close(fd)
                raise
        finally:
            os.close(folder)
        self._fd, self.read_only, self._held = fd, not writable, True
        return self

    def __exit__(self, *exc_info) -> None:
        fd, self._fd, self._held = self._fd, None, False
        if fd is None:
            return
        try:
            # Unlock explicitly: a child forked meanwhile shares the open file,
            # and closing our descriptor alone would leave the lock held.
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


# -- BLAS ---------------------------------------------------------------------
def blas_info() -> list[dict]:
    """The BLAS libraries loaded in this process, as JSON-serialisable dicts.

    Recorded in a checkpoint's header, it lets a resumed search tell whether
    it runs under another BLAS kernel or thread count, under which results
    may differ from an uninterrupted run in the last bits.

    Returns
    -------
    list of dict
        One dict per library, with keys ``internal_api`` (e.g. ``"openblas"``),
        ``architecture`` (the kernel, None when unknown), ``num_threads`` and
        ``version`` (None when unknown), sorted so that the list does not
        depend on the order in which the libraries were loaded.
    """
    from threadpoolctl import threadpool_info

    libraries = [
        {
            "internal_api": _optional_str(library.get("internal_api")),
            "architecture": _optional_str(library.get("architecture")),
            "num_threads": _optional_int(library.get("num_threads")),
            "version": _optional_str(library.get("version")),
        }
        for library in threadpool_info()
        if library.get("user_api") == "blas"
    ]
    return sorted(libraries, key=_sort_key)


def _optional_str(value) -> str | None:
    return None if value is None else str(value)


def _optional_int(value) -> int | None:
    return None if value is None else int(value)


def _sort_key(library) -> str:
    """A total order on :func:`blas_info` entries, whatever their values."""
    return json.dumps(library, sort_keys=True, default=str)


def _describe_blas(libraries) -> str:
    """:func:`blas_info` (saved or current) in words, for a warning."""
    # ``libraries`` may come from a checkpoint's JSON: any shape is accepted.
    if not isinstance(libraries, list) or not libraries:
        return "no BLAS detected"
    parts = []
    for library in libraries:
        if not isinstance(library, dict):
            parts.append("an unknown BLAS")
            continue
        name = library.get("internal_api") or "an unknown BLAS"
        version = library.get("version") or "of unknown version"
        architecture = library.get("architecture") or "unknown kernel"
        threads = library.get("num_threads")
        parts.append(f"{name} {version} ({architecture}, {threads} threads)")
    return " and ".join(parts)


def blas_differences(saved: list[dict], now: list[dict]) -> str | None:
    """How the BLAS of a checkpoint differs from the current one, if it does.

    Parameters
    ----------
    saved : list of dict
        :func:`blas_info` as recorded when the checkpoint was written (read
        back from JSON).
    now : list of dict
        :func:`blas_info` of the current process.

    Returns
    -------
    str or None
        None when both describe the same libraries, kernels, versions and
        thread counts (in any order); otherwise one sentence naming both.
    """
    if _comparable(saved) == _comparable(now):
        return None
    return (
        f"The checkpoint was written under {_describe_blas(saved)}; this process "
        f"runs {_describe_blas(now)}."
    )


def _comparable(libraries) -> list[str] | str:
    """:func:`blas_info` in a form that compares equal whatever the order."""
    if not isinstance(libraries, list):
        return repr(libraries)
    return sorted(_sort_key(library) for library in libraries)


# -- reading untrusted files ----------------------------------------------------
class _Refused(ValueError):
    """A file that is readable but is not, or cannot be, one of our checkpoints.

    Its message is the whole problem, unlike the errors of the parsers, which
    are reported as a damaged file.
    """


def _open_regular_file(path: Path) -> BinaryIO | None:
    """``path`` opened for reading, or None when nothing is there.

    The descriptor is checked before any byte is read, so a FIFO, a device
    or a directory under the checkpoint's name is refused without blocking.
    """
    try:
        fd = os.open(path, _READ_FLAGS)
    except FileNotFoundError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise _Refused("is not a regular file")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _check_members(archive: zipfile.ZipFile, size: int, max_bytes: int) -> None:
    """Refuse members that could not have been written by ``save``.

    ``save`` stores every array uncompressed, so a member's bytes are part of
    the file's own ``size``: checking declared sizes against it bounds every
    later allocation by the bytes actually on disk.
    """
    total = 0
    for info in archive.infolist():
        if not info.filename.endswith(".npy"):
            raise ValueError(f"member {info.filename!r} is not an .npy array")
        # Flag bit 0: encrypted; bit 3: sizes in a trailing data descriptor,
        # which zipfile only writes to unseekable files.
        if info.flag_bits & 0x9 or info.comment:
            raise ValueError(f"member {info.filename!r} has flags or a comment")
        if info.compress_type != zipfile.ZIP_STORED:
            raise ValueError(f"member {info.filename!r} is compressed")
        if info.file_size != info.compress_size or info.file_size > max_bytes:
            raise ValueError(
                f"member {info.filename!r} declares {info.file_size} bytes"
            )
        total += info.file_size
    if total > min(size, max_bytes):
        raise ValueError(f"its members declare {total} bytes in a file of {size} bytes")


def _check_layout(archive: zipfile.ZipFile, handle: BinaryIO) -> None:
    """Check that the members tile the file up to the central directory.

    zipfile reads the central directory without counting its entries: a
    damaged length in one entry can hide the entries after it, which would
    load as a checkpoint with arrays missing. Every byte before the central
    directory must belong to a listed member.
    """
    offset = 0
    for info in sorted(archive.infolist(), key=lambda info: info.header_offset):
        if info.header_offset != offset:
            raise ValueError(f"bytes {offset}-{info.header_offset} are unaccounted")
        handle.seek(offset)
        local = handle.read(_LOCAL_HEADER_SIZE)
        if len(local) != _LOCAL_HEADER_SIZE or local[:4] != b"PK\x03\x04":
            raise ValueError(f"member {info.filename!r} has no local header")
        name_length, extra_length = struct.unpack("<HH", local[26:30])
        offset += _LOCAL_HEADER_SIZE + name_length + extra_length
        offset += info.compress_size
    if offset != archive.start_dir:
        raise ValueError(f"bytes {offset}-{archive.start_dir} are unaccounted")


def _read_npy_header(member, name: str, size: int) -> None:
    """Read and check the header of an .npy member, before its data.

    The declared shape must describe exactly the bytes that follow it, so a
    small file cannot make ``read_array`` allocate a large array.
    """
    version = np.lib.format.read_magic(member)
    reader = _NPY_HEADER_READERS.get(version)
    if reader is None:
        raise ValueError(f"member {name!r} has .npy format version {version}")
    shape, _, dtype = reader(member)
    if dtype.hasobject:
        raise ValueError(f"member {name!r} holds Python objects")
    if any(n < 0 or n > np.iinfo(np.intp).max for n in shape):
        raise ValueError(f"member {name!r} has shape {shape}")
    # Python integers: no overflow, whatever the claimed shape.
    nbytes = dtype.itemsize
    for n in shape:
        nbytes *= n
    if nbytes != size - member.tell():
        raise ValueError(
            f"member {name!r} declares {nbytes} bytes of data but holds "
            f"{size - member.tell()}"
        )


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    """One checked .npy member as an array (never through pickle)."""
    with archive.open(info) as member:
        _read_npy_header(member, info.filename, info.file_size)
        member.seek(0)
        array = np.lib.format.read_array(member, allow_pickle=False)
        # Reading to the end also makes zipfile compare the CRC.
        if member.read(1):
            raise ValueError(f"member {info.filename!r} has trailing bytes")
    return array


def _read_arrays(handle: BinaryIO, size: int, max_bytes: int) -> dict:
    """All arrays of the .npz in ``handle``, by name (without ``.npy``)."""
    arrays = {}
    with zipfile.ZipFile(handle) as archive:
        _check_members(archive, size, max_bytes)
        _check_layout(archive, handle)
        for info in archive.infolist():
            key = info.filename[: -len(".npy")]
            if key in arrays:
                raise ValueError(f"member {info.filename!r} appears twice")
            arrays[key] = _read_member(archive, info)
    return arrays


# -- one checkpoint file --------------------------------------------------------
class CheckpointStore:
    """One checkpoint file, ``directory / name``, for one fingerprint.

    Parameters
    ----------
    directory : str or path-like
        Where the file lives; created on the first save.
    name : str
        The file's name, e.g. ``"imp_state.npz"``.
    fingerprint : str
        From :func:`fingerprint`; a file with another one is refused.
    max_bytes : int, default=None
        The largest file :meth:`load` reads, and the largest total of array
        bytes it declares; None means 4 GiB.
    durable : bool, default=True
        Whether :meth:`save` fsyncs by default (see there).
    read_only : bool, default=False
        The folder cannot be written (see :class:`SearchLock`): :meth:`save`
        raises :class:`CheckpointError`.
    """

    def __init__(
        self,
        directory: str | os.PathLike,
        name: str,
        fingerprint: str,
        *,
        max_bytes: int | None = None,
        durable: bool = True,
        read_only: bool = False,
    ):
        self.directory = Path(directory)
        self.durable = durable
        self.read_only = read_only
        self.path = self.directory / name
        self.fingerprint = fingerprint
        if max_bytes is None:
            max_bytes = _DEFAULT_MAX_BYTES
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}.")
        self.max_bytes = int(max_bytes)

    def sibling(self, name: str) -> CheckpointStore:
        """Another file of the same directory, with the same fingerprint."""
        return CheckpointStore(
            self.directory,
            name,
            self.fingerprint,
            max_bytes=self.max_bytes,
            read_only=self.read_only,
        )

    def error(self, problem: str) -> CheckpointError:
        """The error for this file: ``problem`` and how to start over."""
        return CheckpointError(
            f"The checkpoint {self.path} {problem}. "
            f"{_START_OVER.format(self.directory)}"
        )

    def load(self) -> tuple[dict, dict[str, np.ndarray]] | None:
        """The saved header and arrays, or None when there is no checkpoint.

        Only the file's form is checked here: what its values mean is checked
        by the readers of a plan or a search (see :meth:`read`).

        Returns
        -------
        (header, arrays) or None
            The JSON header (with ``format`` and ``fingerprint``) and the
            arrays by name.

        Raises
        ------
        CheckpointError
            If anything else than a checkpoint of this search is found under
            the name: not a regular file, larger than ``max_bytes``, damaged,
            truncated or crafted, of another format, or of another search.
        """
        try:
            handle = _open_regular_file(self.path)
            if handle is None:
                return None
            with handle:
                arrays = self._read(handle)
        except _Refused as exc:
            raise self.error(str(exc)) from None
        except _PARSE_ERRORS as exc:
            raise self.error(f"is corrupted or truncated ({exc})") from exc
        header = self._decode_header(arrays.pop("header", None))
        self._check_header(header)
        return header, arrays

    def read(self) -> _Saved | None:
        """:meth:`load`, as a reader that checks every value it gives."""
        loaded = self.load()
        return None if loaded is None else _Saved(self, *loaded)

    def _read(self, handle: BinaryIO) -> dict[str, np.ndarray]:
        size = os.fstat(handle.fileno()).st_size
        if size > self.max_bytes:
            raise _Refused(
                f"is {size} bytes, larger than the {self.max_bytes} bytes a "
                f"checkpoint may be"
            )
        return _read_arrays(handle, size, self.max_bytes)

    def _decode_header(self, stored: np.ndarray | None) -> dict:
        if stored is None:
            raise self.error("has no header")
        if stored.shape != () or stored.dtype.kind != "U":
            raise self.error("has a header that is not a JSON string")
        try:
            header = json.loads(stored.item())
        except (ValueError, RecursionError) as exc:
            raise self.error(f"has a header that is not valid JSON ({exc})") from exc
        if not isinstance(header, dict):
            raise self.error("has a header that is not a JSON object")
        return header

    def _check_header(self, header: dict) -> None:
        if "format" not in header:
            raise self.error("has no format number")
        if header["format"] != FORMAT_VERSION:
            raise self.error(
                f"has format {header['format']!r}; this version of sklearn-lth "
                f"reads format {FORMAT_VERSION}"
            )
        if "fingerprint" not in header:
            raise self.error("has no fingerprint to match it to a search")
        if header["fingerprint"] != self.fingerprint:
            raise self.error(
                "was written for other parameters or other training data, and a "
                "search is only resumed with the same ones"
            )

    def save(
        self, header: dict, arrays: dict[str, np.ndarray], durable: bool | None = None
    ) -> None:
        """Write atomically: a temporary file, flushed, then renamed.

        The temporary file is created anew (``O_EXCL``, never through a link)
        and renamed over the checkpoint's name, which replaces whatever is
        there (a link included) rather than writing through it.

        Parameters
        ----------
        header : dict
            JSON-serialisable; ``format`` and ``fingerprint`` are added.
        arrays : dict of str to ndarray
            Arrays of plain dtypes (no Python objects: they would need pickle).
        durable : bool, default=None
            Whether to fsync the file and the directory, so that the
            checkpoint survives a power loss. Without, the rename is still
            atomic: readers see the old file or the new one, never a mix.
            None: the store's ``durable``.

        Raises
        ------
        CheckpointError
            If the store is ``read_only``.
        """
        if self.read_only:
            raise _read_only_error(
                self.directory, f"{self.path.name} would be saved there"
            )
        if durable is None:
            durable = self.durable
        for key, array in arrays.items():
            if np.asarray(array).dtype.hasobject:
                raise TypeError(
                    f"The array {key!r} holds Python objects, which a checkpoint "
                    f"cannot store without pickle."
                )
        self.directory.mkdir(parents=True, exist_ok=True)
        header = {**header, "format": FORMAT_VERSION, "fingerprint": self.fingerprint}
        fd, temporary = _create_temporary_file(self.directory, self.path.name)
        try:
            with os.fdopen(fd, "wb") as handle:
                np.savez(handle, header=np.array(json.dumps(header)), **arrays)
                if durable:
                    handle.flush()
                    os.fsync(handle.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            # Ours (created with O_EXCL): removing the name follows no link.
            temporary.unlink(missing_ok=True)
            raise
        if durable:
            _fsync_directory(self.directory)


def _create_temporary_file(directory: Path, name: str) -> tuple[int, Path]:
    """A new file ``.{name}.{8 random}.tmp`` in ``directory``, open for writing.

    ``O_EXCL`` creates it or fails, so nothing that was there (a file, a link
    planted under the name) is ever written to. Only the owner may read it.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW
    flags |= getattr(os, "O_BINARY", 0)
    for _ in range(100):
        path = directory / f".{name}.{secrets.token_hex(4)}.tmp"
        try:
            return os.open(path, flags, 0o600), path
        except FileExistsError:
            continue
    raise FileExistsError(f"No free temporary file name for {name} in {directory}.")


def _fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (where directories can be opened)."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- the values of a checkpoint, read through checks -----------------------------
_MISSING = object()

# The largest integer a checkpoint's value may be: what numpy arrays hold.
_INT64_MAX = int(np.iinfo(np.int64).max)

# A RandomState's state: the generator's name, and its words.
_MT19937 = "MT19937"
_MT_WORDS = 624


def _shown(value) -> str:
    """A value for a message, cut short."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _is_int(value) -> bool:
    # JSON gives Python ints; True and False are ints to Python, not to us.
    return type(value) is int


def _is_number(value) -> bool:
    return type(value) in (int, float)


def _as_float(value) -> float | None:
    """A JSON number as a float; None for anything else, or an int too large."""
    if not _is_number(value):
        return None
    try:
        return float(value)
    except OverflowError:
        return None


def _same(a, b) -> bool:
    """Equal JSON values: NaN equal to NaN (empty cells of a round table), but
    -0.0 not to 0.0 (a resume is bit-identical)."""
    if type(a) is float and type(b) is float:
        return repr(a) == repr(b)  # the shortest repr is the float's bits
    return type(a) is type(b) and a == b


class _Saved:
    """A checkpoint file as read, whose every value is taken through a check.

    Each accessor names the field it reads (``completed_round``,
    ``last_round.n_iter``, ``history.round[2]``, ``positions_1``): a value
    that is missing, of another type, out of range or at odds with the
    estimator or with the file's other values is a :class:`CheckpointError`
    naming the file, the field, what was found and what was expected.
    """

    def __init__(self, store: CheckpointStore, header: dict, arrays: dict):
        self.store, self.header, self.arrays = store, header, arrays

    def check(self, ok: bool, name: str, expected: str, value=_MISSING, found=None):
        """Raise unless ``ok``: ``name`` holds ``value`` (or ``found``, in words)."""
        if ok:
            return
        if found is None:
            found = "missing" if value is _MISSING else _shown(value)
        raise self.store.error(
            f"does not hold a state of this search: {name} is {found}, expected "
            f"{expected}"
        )

    # -- the header ---------------------------------------------------------------
    def expect_header(self, required: set[str], optional: set[str] = frozenset()):
        """The header has the fields ``required`` (and may have ``optional``)."""
        present = set(self.header) - {"format", "fingerprint"}
        for key in sorted(required - present):
            self.check(False, key, "a value: this search saves it")
        for key in sorted(present - required - optional):
            self.check(
                False,
                key,
                "no such field: a search with these parameters does not save it",
                found="present",
            )

    def get(self, name: str, expected: str, default=_MISSING):
        """The header's value at the dotted ``name`` (``"last_round.n_iter"``)."""
        node = self.header
        for part in name.split("."):
            if not isinstance(node, dict) or part not in node:
                if default is not _MISSING:
                    return default
                self.check(False, name, expected)
            node = node[part]
        return node

    def integer(self, name: str, low: int = 0, high=None, *, value=_MISSING) -> int:
        """An integer in ``[low, high]`` (``high`` None: any that numpy holds)."""
        expected = (
            f"an integer >= {low}" if high is None else f"an integer in [{low}, {high}]"
        )
        if value is _MISSING:
            value = self.get(name, expected)
        high = _INT64_MAX if high is None else high
        ok = _is_int(value) and low <= value <= high
        self.check(ok, name, expected, value)
        return value

    def number(self, name: str, *, finite: bool = True, value=_MISSING):
        """A number (an int or a float), finite unless told otherwise."""
        expected = "a finite number" if finite else "a number"
        if value is _MISSING:
            value = self.get(name, expected)
        as_float = _as_float(value)
        ok = as_float is not None and (not finite or math.isfinite(as_float))
        self.check(ok, name, expected, value)
        return value

    def boolean(self, name: str, *, value=_MISSING) -> bool:
        if value is _MISSING:
            value = self.get(name, "true or false")
        self.check(type(value) is bool, name, "true or false", value)
        return value

    def sequence(self, name: str, length: int | None = None, *, value=_MISSING):
        """A list (of ``length`` items)."""
        expected = "a list" if length is None else f"a list of {length} items"
        if value is _MISSING:
            value = self.get(name, expected)
        ok = isinstance(value, list) and (length is None or len(value) == length)
        self.check(ok, name, expected, value)
        return value

    def numbers(self, name: str, *, finite: bool = True, value=_MISSING) -> list:
        """A list of numbers."""
        items = self.sequence(name, value=value)
        for i, item in enumerate(items):
            self.number(f"{name}[{i}]", finite=finite, value=item)
        return items

    def mapping(self, name: str, keys: set[str]) -> dict:
        """A JSON object with exactly the fields ``keys``."""
        expected = f"an object with the fields {sorted(keys)}"
        value = self.get(name, expected)
        ok = isinstance(value, dict) and set(value) == keys
        self.check(ok, name, expected, value)
        return value

    def random_state(self, name: str) -> tuple:
        """A ``RandomState`` state saved by :func:`_put_random_state`.

        The one decoder of the one encoding: ``header[name]`` holds
        ``["MT19937", pos, has_gauss, cached]``, ``arrays[name + "_keys"]``
        the 624 words of the generator.
        """
        expected = f"[{_MT19937!r}, position, has_gauss, cached Gaussian]"
        value = self.sequence(name, 4, value=self.get(name, expected))
        self.check(value[0] == _MT19937, f"{name}[0]", repr(_MT19937), value[0])
        pos = self.integer(f"{name}[1]", 0, _MT_WORDS, value=value[1])
        has_gauss = self.integer(f"{name}[2]", 0, 1, value=value[2])
        cached = self.number(f"{name}[3]", value=value[3])
        keys = self.array(f"{name}_keys", np.dtype(np.uint32), (_MT_WORDS,))
        # All zero is the one state the generator never leaves nor reaches.
        self.check(keys.any(), f"{name}_keys", "a generator's state", found="all zero")
        return (_MT19937, keys, pos, has_gauss, float(cached))

    # -- the arrays ----------------------------------------------------------------
    def expect_arrays(self, names: set[str], kind: str) -> None:
        """The file holds exactly the arrays ``names`` (``kind`` says why)."""
        for name in sorted(names - set(self.arrays)):
            self.check(False, f"the array {name}", f"an array in {kind}")
        for name in sorted(set(self.arrays) - names):
            self.check(
                False, f"the array {name}", f"no such array in {kind}", found="present"
            )

    def array(self, name: str, dtype, shape: tuple, *, finite: bool = False):
        """The array ``name`` of ``dtype`` (or any ``"integer"`` type) and
        ``shape`` (None entries: any length)."""
        array = self.arrays.get(name)
        expected = f"an array of {dtype} and shape {shape}"
        if array is None:
            self.check(False, name, expected)
        if isinstance(dtype, str):  # "integer"
            dtype_ok = array.dtype.kind in "iu"
        else:
            dtype_ok = array.dtype == dtype
        shape_ok = len(array.shape) == len(shape) and all(
            n is None or n == m for n, m in zip(shape, array.shape)
        )
        found = f"an array of {array.dtype} and shape {array.shape}"
        self.check(dtype_ok and shape_ok, name, expected, found=found)
        if finite:
            self.check(
                bool(np.isfinite(array).all()),
                name,
                "finite values",
                found="an array with NaN or infinite values",
            )
        return array


# -- random states ------------------------------------------------------------------
def _put_random_state(header: dict, arrays: dict, name: str, state: tuple) -> None:
    """Save ``RandomState.get_state()`` as ``header[name]`` and its words as
    ``arrays[name + "_keys"]`` (read back by :meth:`_Saved.random_state`)."""
    kind, keys, pos, has_gauss, cached = state
    header[name] = [kind, int(pos), int(has_gauss), float(cached)]
    arrays[f"{name}_keys"] = np.asarray(keys, dtype=np.uint32)


# -- the plan of a search -----------------------------------------------------------
@dataclass(frozen=True)
class SearchPlan:
    """What is drawn once, before any training.

    Attributes
    ----------
    rows, validation_rows : ndarray or None
        The training and the held-out validation rows (None: all rows, no
        validation).
    seeds : ndarray or None
        One integer seed per search (None: one search, from the estimator's
        random state).
    """

    rows: np.ndarray | None = None
    validation_rows: np.ndarray | None = None
    seeds: np.ndarray | None = None


@dataclass(frozen=True)
class SavedPlan:
    """A plan read back, with what was recorded beside it.

    Attributes
    ----------
    plan : SearchPlan
    random_state : tuple
        The estimator's random state after planning.
    initial_state : tuple or None
        The state the initial weights are drawn from, when the validation split
        follows them in the random state (see
        :class:`~._imp.WeightsFirstRandomState`).
    blas : list
        :func:`blas_info` where the plan was written.
    kernels : str
        The training step's path where the plan was written.
    """

    plan: SearchPlan
    random_state: tuple
    initial_state: tuple | None
    blas: list
    kernels: str


def save_plan(
    store: CheckpointStore,
    plan: SearchPlan,
    random_state: tuple,
    *,
    initial_state: tuple | None = None,
    kernels: str = "numpy",
) -> None:
    """Save ``plan``, the random state after it, and where it was drawn."""
    header = {"blas": blas_info(), "kernels": kernels}
    arrays = {}
    _put_random_state(header, arrays, "rng", random_state)
    if initial_state is not None:
        _put_random_state(header, arrays, "rng_initial_weights", initial_state)
    for name in ("rows", "validation_rows", "seeds"):
        if getattr(plan, name) is not None:
            arrays[name] = getattr(plan, name)
    store.save(header, arrays)


def load_plan(
    store: CheckpointStore,
    *,
    n_samples: int,
    validation_fraction: float | None,
    n_seeds: int,
    weights_first: bool,
) -> SavedPlan | None:
    """The plan saved in ``store``, checked against the estimator and data.

    Parameters
    ----------
    store : CheckpointStore
        The search's ``plan.npz``.
    n_samples : int
        Rows of the training data.
    validation_fraction : float or None
        The share held out for validation, None when all rows train.
    n_seeds : int
        Searches from drawn seeds (1: one search, no seeds saved).
    weights_first : bool
        Whether the validation split follows the initial weights in the
        random state, which then saves their state too.

    Returns
    -------
    SavedPlan or None
        None when there is no plan yet.

    Raises
    ------
    CheckpointError
        If the file is not a plan these arguments would have saved.
    """
    saved = store.read()
    if saved is None:
        return None
    splits = validation_fraction is not None
    states = {"rng"} | ({"rng_initial_weights"} if splits and weights_first else set())
    saved.expect_header(states, optional={"blas", "kernels"})
    arrays = {f"{name}_keys" for name in states}
    arrays |= {"rows", "validation_rows"} if splits else set()
    arrays |= {"seeds"} if n_seeds > 1 else set()
    saved.expect_arrays(
        arrays,
        f"a plan with {'a' if splits else 'no'} validation split and "
        f"{n_seeds} search{'es' if n_seeds > 1 else ''}",
    )
    random_state = saved.random_state("rng")
    initial_state = (
        saved.random_state("rng_initial_weights")
        if "rng_initial_weights" in states
        else None
    )
    rows = validation_rows = seeds = None
    if splits:
        rows, validation_rows = _read_split(saved, n_samples, validation_fraction)
    if n_seeds > 1:
        seeds = saved.array("seeds", "integer", (n_seeds,))
        # draw_seeds' range: what RandomState(seed) takes, whatever the dtype.
        high = np.iinfo(np.int32).max
        inside = bool((seeds >= 0).all() and (seeds < high).all())
        saved.check(
            inside,
            "seeds",
            f"integers in [0, {high})",
            found=None if inside else f"seeds from {seeds.min()} to {seeds.max()}",
        )
    blas = saved.get("blas", "a list", default=[])
    saved.check(isinstance(blas, list), "blas", "a list", blas)
    kernels = saved.get("kernels", "'numpy' or 'numba'", default="numpy")
    saved.check(kernels in ("numpy", "numba"), "kernels", "'numpy' or 'numba'", kernels)
    return SavedPlan(
        SearchPlan(rows, validation_rows, seeds),
        random_state,
        initial_state,
        blas,
        kernels,
    )


def _read_split(saved: _Saved, n_samples: int, validation_fraction: float):
    """Training and validation rows that split all ``n_samples`` rows as
    ``train_test_split(test_size=validation_fraction)`` does."""
    # train_test_split's sizes, and the estimator's own bounds on them.
    n_validation = math.ceil(validation_fraction * n_samples)
    n_train = n_samples - n_validation
    saved.check(
        n_validation >= 2 and n_train >= 1,
        "validation_rows",
        f"no split: validation_fraction={validation_fraction} of {n_samples} rows "
        "cannot be held out",
        found="present",
    )
    parts = {
        "rows": saved.array("rows", "integer", (n_train,)),
        "validation_rows": saved.array("validation_rows", "integer", (n_validation,)),
    }
    for name, part in parts.items():
        inside = bool((part >= 0).all() and (part < n_samples).all())
        saved.check(
            inside,
            name,
            f"row indices in [0, {n_samples})",
            found=None if inside else f"indices from {part.min()} to {part.max()}",
        )
    parts = {name: part.astype(np.intp, copy=False) for name, part in parts.items()}
    counts = np.bincount(np.concatenate(list(parts.values())), minlength=n_samples)
    twice = np.flatnonzero(counts != 1)
    saved.check(
        twice.size == 0,
        "rows and validation_rows",
        f"every one of the {n_samples} rows exactly once",
        found=f"row {twice[0] if twice.size else 0} {counts[twice[:1]].sum()} times",
    )
    return parts["rows"], parts["validation_rows"]


# -- the state of a search, as a checkpoint ------------------------------------
@dataclass(frozen=True)
class SearchSpec:
    """What the estimator's parameters and data say a saved search holds.

    Built by :func:`~._imp.search_spec`; :func:`restore_search` refuses a
    checkpoint that contradicts it.

    Attributes
    ----------
    first_round : int
        The first round this fit completes: 0, or the one after the fitted
        search that a warm-started fit goes on with.
    pools : list of list of int
        The layers ranked together when pruning.
    kept : list of list of int
        For each round from ``first_round`` to the last, the weights each pool
        keeps: the pruning schedule's counts, which depend on the layer sizes
        and the parameters only.
    restarts_from : int or None
        The first round that prunes and restarts from a rewind point; None
        when none does (a ticket, or a fitted network trained on).
    rewind : RewindPolicy
        Where the rounds that prune restart.
    snapshot_at : int or None
        The step at which round 0 of this fit snapshots its weights (None:
        this fit takes no snapshot).
    validation : bool
        Whether the rounds are scored on validation rows.
    max_iter : int
        The most epochs (L-BFGS iterations) a round trains.
    epoch : tuple of int or None
        The optimizer steps and training rows of one epoch (L-BFGS: one step,
        no rows), which a round's counts are multiples of; None when the
        round goes on with a fitted network's counts.
    """

    first_round: int
    pools: list[list[int]]
    kept: list[list[int]]
    restarts_from: int | None
    rewind: RewindPolicy
    snapshot_at: int | None
    validation: bool
    max_iter: int
    epoch: tuple[int, int] | None

    @property
    def last_round(self) -> int:
        return self.first_round + len(self.kept) - 1

    def restarted(self, round_index: int) -> bool:
        """Whether round ``round_index`` pruned and restarted from a rewind point."""
        return self.restarts_from is not None and round_index >= self.restarts_from


_SEARCH_HEADER = {
    "completed_round",
    "history",
    "unconverged",
    "chance",
    "rng",
    "start",
    "snapshot_step",
    "last_round",
}

# RoundResult's fields that a checkpoint saves (all but the snapshot, which
# the search keeps as its own start point).
_RESULT_FIELDS = (
    "n_iter",
    "steps",
    "loss_curve",
    "validation_scores",
    "best_validation_score",
    "converged",
    "min_validation_loss_iteration",
    "validation_score_at_min_loss",
    "samples_seen",
    "stall_count",
)


def save_search(store: CheckpointStore, state: SearchState, rng) -> None:
    """Save ``state`` after its last completed round, with ``rng``'s state.

    Start points are saved at the kept positions only: later rounds read
    nothing else from them.
    """
    last_round = state.last.result
    header = {
        "completed_round": state.completed,
        "history": state.history,
        "unconverged": state.unconverged,
        "chance": state.chance,
        "start": [state.start.step, state.start.hold_final_lr],
        "snapshot_step": (
            None if state.rewind_snapshot is None else state.rewind_snapshot.step
        ),
        "last_round": {name: getattr(last_round, name) for name in _RESULT_FIELDS},
    }
    arrays = {}
    # The random state after the round: a resumed search draws exactly what
    # an uninterrupted one would (shuffles, random scores, fresh weights).
    # No optimizer state is saved: every round starts with fresh state.
    _put_random_state(header, arrays, "rng", rng.get_state())
    points = {
        "start": state.start,
        "initial": state.initial,
        "snapshot": state.rewind_snapshot,
    }
    for i, layer in enumerate(state.network.layers):
        positions = layer.positions
        arrays[f"positions_{i}"] = positions
        arrays[f"values_{i}"] = layer.values
        arrays[f"bias_{i}"] = layer.bias
        for prefix, point in points.items():
            if point is not None:
                arrays[f"{prefix}_weights_{i}"] = point.values(i, positions)
                arrays[f"{prefix}_bias_{i}"] = point.biases[i]
    store.save(header, arrays)


def restore_search(
    store: CheckpointStore, state: SearchState, rng, spec: SearchSpec
) -> bool:
    """Continue ``state`` (and ``rng``) from the store, if it holds a search.

    Every value is checked against ``spec``, against ``state`` as it was
    opened (its initial weights, or the fitted search a warm-started fit goes
    on with) and against the file's other values before any is used: a
    refused file leaves ``state`` and ``rng`` as they were.

    Returns
    -------
    bool
        Whether the store held a search.

    Raises
    ------
    CheckpointError
        If the file does not hold a state of this search, or if the store is
        read-only and the search is not finished (its next round could not be
        saved): raised before any training.
    """
    saved = store.read()
    restored = None if saved is None else _read_search(saved, state, spec)
    completed = -1 if restored is None else restored.completed
    if store.read_only and completed < spec.last_round:
        held = "no round" if restored is None else f"round {completed}"
        raise _read_only_error(
            store.directory,
            f"its search is not finished: {store.path.name} holds {held} of "
            f"rounds 0-{spec.last_round}",
        )
    if restored is None:
        return False
    restored.apply(state, rng)
    return True


@dataclass
class _RestoredSearch:
    """Every value of a saved search, checked; :meth:`apply` cannot fail."""

    completed: int
    positions: list[np.ndarray]
    values: list[np.ndarray]
    biases: list[np.ndarray]
    history: dict[str, list]
    unconverged: list[int]
    chance: list[int]
    points: dict[str, StartPoint | None]
    result: RoundResult
    rng_state: tuple

    def apply(self, state: SearchState, rng) -> None:
        """Continue ``state`` and ``rng`` from the saved round."""
        rng.set_state(self.rng_state)
        state.history = self.history
        state.unconverged, state.chance = self.unconverged, self.chance
        state.initial = self.points["initial"]
        state.rewind_snapshot = self.points["snapshot"]
        state.start = self.points["start"]
        # Only the trained values are saved: the kernels' copies (dense
        # weights, transposed CSR) are rebuilt from them, exactly.
        layers = [
            Layer(positions, values, bias, shape)
            for positions, values, bias, shape in zip(
                self.positions, self.values, self.biases, state.shapes
            )
        ]
        state.network = Network(layers, state.activation, state.out_activation)
        state.first_positions = None  # the network holds them
        state.last = CompletedRound(
            self.completed, state.network, state.start, self.result, rng.get_state()
        )


def _read_search(saved: _Saved, state: SearchState, spec: SearchSpec):
    """Read and check a saved search (see :func:`restore_search`)."""
    saved.expect_header(_SEARCH_HEADER - {"chance"}, optional={"chance"})
    completed = saved.integer("completed_round", spec.first_round, spec.last_round)
    restarted = spec.restarted(completed)
    points = _saved_points(state, spec, restarted)
    names = {"rng_keys"}
    for i in range(len(state.shapes)):
        names |= {f"positions_{i}", f"values_{i}", f"bias_{i}"}
        names |= {
            f"{prefix}_{part}_{i}" for prefix in points for part in ("weights", "bias")
        }
    saved.expect_arrays(names, f"a search after round {completed}")
    positions = _read_positions(saved, state, spec, completed, restarted)
    history = _read_history(saved, state, spec, completed)
    result = _read_last_round(saved, spec, history, completed)
    rounds = {}
    for name in ("unconverged", "chance"):
        listed = saved.get(name, "a list", default=[])
        rounds[name] = _read_round_list(saved, name, listed, spec, completed)
    saved.check(
        (completed in rounds["unconverged"]) != result.converged,
        "last_round.converged",
        f"{completed not in rounds['unconverged']}, as the unconverged rounds say",
        result.converged,
    )
    dtype = state.start.biases[0].dtype
    return _RestoredSearch(
        completed=completed,
        positions=positions,
        values=[
            saved.array(f"values_{i}", dtype, (pos.size,), finite=True)
            for i, pos in enumerate(positions)
        ],
        biases=[
            saved.array(f"bias_{i}", dtype, (shape[1],), finite=True)
            for i, shape in enumerate(state.shapes)
        ],
        history=history,
        unconverged=rounds["unconverged"],
        chance=rounds["chance"],
        points=_read_points(saved, state, spec, positions, restarted, points),
        result=result,
        rng_state=saved.random_state("rng"),
    )


def _saved_points(state: SearchState, spec: SearchSpec, restarted: bool) -> set:
    """The start points a search saves after a round (see :func:`save_search`).

    W0 (or a ticket's weights) while no round has restarted, and then only if
    the rounds rewind to it; round 0's snapshot once taken, in this fit or the
    fitted search; the start of the last round always.
    """
    points = {"start"}
    if state.initial is not None and (not restarted or spec.rewind.strategy == "init"):
        points.add("initial")
    if state.rewind_snapshot is not None or (
        spec.first_round == 0 and spec.snapshot_at is not None
    ):
        points.add("snapshot")
    return points


def _read_positions(saved, state, spec, completed, restarted) -> list[np.ndarray]:
    """Each layer's kept positions: sorted, unique, inside the layer, within
    the positions the search started from, as many as the schedule keeps."""
    if state.network is None:  # W0 or a ticket, before round 0
        known = state.first_positions
    else:  # the fitted network a warm-started fit goes on with
        known = [layer.positions for layer in state.network.layers]
    positions = []
    for i, (shape, before) in enumerate(zip(state.shapes, known)):
        name, size = f"positions_{i}", shape[0] * shape[1]
        kept = saved.array(name, "integer", (None,))
        inside = bool((kept >= 0).all() and (kept < size).all())
        saved.check(
            inside,
            name,
            f"positions in [0, {size}) of a layer of shape {shape}",
            found=None if inside else f"positions from {kept.min()} to {kept.max()}",
        )
        kept = kept.astype(np.intp, copy=False)
        saved.check(
            bool((np.diff(kept) > 0).all()),
            name,
            "sorted, unique positions",
            found="positions out of order or repeated",
        )
        if not restarted:
            saved.check(
                np.array_equal(kept, before),
                name,
                f"the {before.size} positions the search started from (no round "
                "has pruned yet)",
                found=f"{kept.size} other positions",
            )
        elif before.size < size:
            saved.check(
                bool(np.isin(kept, before, assume_unique=True).all()),
                name,
                "positions of the fitted network (pruning only removes weights)",
                found="positions outside them",
            )
        positions.append(kept)
    for layers, n_kept in zip(spec.pools, spec.kept[completed - spec.first_round]):
        found = sum(positions[i].size for i in layers)
        saved.check(
            found == n_kept,
            f"the kept positions of layers {layers}",
            f"{n_kept} weights, the pruning schedule's count after round {completed}",
            found=f"{found} weights",
        )
        if restarted:
            # Pruning never empties a layer: the strongest path keeps one.
            for i in layers:
                saved.check(
                    positions[i].size > 0,
                    f"positions_{i}",
                    "at least one kept weight",
                    found="empty",
                )
    return positions


def _read_history(saved, state, spec, completed) -> dict[str, list]:
    """The round table: the fitted search's rows as fitted, then one row per
    completed round, whose counts are the schedule's."""
    known = state.history  # the fitted search's rows (none without warm_start)
    saved.mapping("history", set(known))
    history = {key: saved.sequence(f"history.{key}", completed + 1) for key in known}
    for key, column in history.items():
        for r in range(spec.first_round):
            saved.check(
                _same(column[r], known[key][r]),
                f"history.{key}[{r}]",
                f"{_shown(known[key][r])}, as in the fitted search",
                column[r],
            )
    typed = HISTORY_KEYS + (VALIDATION_KEYS if spec.validation else ())
    for r in range(spec.first_round, completed + 1):
        remaining = sum(spec.kept[r - spec.first_round])
        expected = {
            "round": r,
            "remaining_parameters": remaining,
            "sparsity": 1.0 - remaining / state.n_dense_weights,
        }
        for key in known:
            name, found = f"history.{key}[{r}]", history[key][r]
            if key in expected:
                saved.check(
                    _same(found, expected[key]), name, repr(expected[key]), found
                )
            elif key == "n_iter":
                saved.integer(name, 0, spec.max_iter, value=found)
            elif key not in typed:
                # A column of the fitted search that this fit does not fill.
                saved.check(_same(found, math.nan), name, "NaN", found)
            elif key == "min_validation_loss_iteration":
                if found is not None:
                    saved.integer(name, value=found)
            elif found is not None or key != "validation_score_at_min_loss":
                value = saved.number(name, finite=False, value=found)
                low, high, meaning = _HISTORY_RANGES[key]
                # (NaN is left to the checks that know when it may appear.)
                saved.check(not value < low and not value > high, name, meaning, found)
    return history


# What a round's measured values can be: a duration, a loss (half a squared
# error, a cross-entropy or a deviance: never negative) and scores (accuracy
# in [0, 1], R2 at most 1). A value outside cannot have been measured.
_HISTORY_RANGES = {
    "seconds": (0.0, math.inf, "a duration of 0 seconds or more"),
    "train_loss": (0.0, math.inf, "a loss of 0 or more"),
    "train_score": (-math.inf, 1.0, "a score of at most 1"),
    "validation_score": (-math.inf, 1.0, "a score of at most 1"),
    "validation_score_at_min_loss": (-math.inf, 1.0, "a score of at most 1"),
}


def _read_last_round(saved, spec, history, completed) -> RoundResult:
    """What the last completed round did, as its row of the table says too."""
    saved.mapping("last_round", set(_RESULT_FIELDS))

    def name(field: str) -> str:
        return f"last_round.{field}"

    def optional(field: str, read):
        value = saved.get(name(field), "a value")
        return None if value is None else read(name(field), value=value)

    result = RoundResult(
        n_iter=saved.integer(name("n_iter"), 0, spec.max_iter),
        steps=saved.integer(name("steps")),
        loss_curve=saved.numbers(name("loss_curve")),
        validation_scores=optional("validation_scores", saved.numbers),
        best_validation_score=optional("best_validation_score", saved.number),
        converged=saved.boolean(name("converged")),
        min_validation_loss_iteration=optional(
            "min_validation_loss_iteration", saved.integer
        ),
        validation_score_at_min_loss=optional(
            "validation_score_at_min_loss", saved.number
        ),
        samples_seen=saved.integer(name("samples_seen")),
        stall_count=saved.integer(name("stall_count")),
    )
    if spec.epoch is not None:
        steps, rows = spec.epoch
        epochs = f"{result.n_iter} epochs of {steps} steps and {rows} rows"
        for field, per_epoch in (("steps", steps), ("samples_seen", rows)):
            found = getattr(result, field)
            expected = result.n_iter * per_epoch
            saved.check(found == expected, name(field), f"{expected} ({epochs})", found)
        saved.check(
            result.stall_count <= result.n_iter,
            name("stall_count"),
            f"at most the round's {result.n_iter} epochs",
            result.stall_count,
        )
    at_min = result.min_validation_loss_iteration
    saved.check(
        at_min is None or at_min <= result.steps,
        name("min_validation_loss_iteration"),
        f"a step of the round (at most {result.steps})",
        at_min,
    )
    row = {
        "n_iter": result.n_iter,
        "train_loss": result.loss_curve[-1] if result.loss_curve else math.nan,
    }
    scores = ("validation_scores", "best_validation_score")
    scores += ("min_validation_loss_iteration", "validation_score_at_min_loss")
    if spec.validation:
        best = result.best_validation_score
        if best is None and result.validation_scores:
            best = result.validation_scores[-1]
        saved.check(
            best is not None,
            name("validation_scores"),
            "a score (the round is scored on validation rows)",
            result.validation_scores,
        )
        row["validation_score"] = best
        row["min_validation_loss_iteration"] = result.min_validation_loss_iteration
        row["validation_score_at_min_loss"] = result.validation_score_at_min_loss
    else:
        for field in scores:
            value = getattr(result, field)
            saved.check(value is None, name(field), "null (no validation rows)", value)
    for key, value in row.items():
        found = history[key][completed]
        saved.check(
            _same(found, value),
            f"history.{key}[{completed}]",
            f"{_shown(value)}, as last_round says",
            found,
        )
    return result


def _read_round_list(saved, name, listed, spec, completed) -> list[int]:
    """Rounds of this fit (unconverged, at chance): increasing, completed."""
    rounds = saved.sequence(name, value=listed)
    for i, r in enumerate(rounds):
        saved.integer(f"{name}[{i}]", spec.first_round, completed, value=r)
    saved.check(rounds == sorted(set(rounds)), name, "increasing rounds", rounds)
    return rounds


def _read_points(saved, state, spec, positions, restarted, points) -> dict:
    """The saved start points, checked against the known ones and the rule
    by which the last round restarted; one object where the search had one."""
    dtype = state.start.biases[0].dtype
    start_step, hold = saved.sequence("start", 2)
    saved.integer("start[0]", value=start_step)
    saved.boolean("start[1]", value=hold)
    snapshot_step = saved.get("snapshot_step", "a step or null")
    if "snapshot" in points:
        saved.integer("snapshot_step", 0, spec.snapshot_at, value=snapshot_step)
    else:
        saved.check(snapshot_step is None, "snapshot_step", "null", snapshot_step)

    def read(prefix: str, step: int, hold: bool) -> StartPoint | None:
        if prefix not in points:
            return None
        weights = [
            saved.array(f"{prefix}_weights_{i}", dtype, (pos.size,), finite=True)
            for i, pos in enumerate(positions)
        ]
        biases = [
            saved.array(f"{prefix}_bias_{i}", dtype, (shape[1],), finite=True)
            for i, shape in enumerate(state.shapes)
        ]
        return StartPoint(weights, biases, step, hold, positions=positions)

    initial = read("initial", *_step_of(state.initial))
    snapshot = read("snapshot", snapshot_step, False)
    start = read("start", start_step, hold)
    if initial is not None:
        _check_same(saved, "initial", initial, state.initial, "the initial weights")
    if snapshot is not None and state.rewind_snapshot is not None:
        _check_same(
            saved, "snapshot", snapshot, state.rewind_snapshot, "the fitted snapshot"
        )
    strategy = spec.rewind.strategy
    if not restarted:
        # Round 0 (or a ticket, or a fitted network trained on) starts from
        # the point the search was opened with, which may be W0 or the
        # snapshot itself.
        _check_same(saved, "start", start, state.start, "the search's first start")
        if state.start is state.initial:
            start = initial
        elif state.start is state.rewind_snapshot:
            start = snapshot
    elif strategy in ("init", "early", "late"):
        # The rounds restart from W0 or round 0's snapshot itself.
        rewound = initial if strategy == "init" else snapshot
        _check_same(saved, "start", start, rewound, f"the rewind point of {strategy!r}")
        start = rewound
    else:
        # From the trained or fresh weights, at the schedule's start, or at
        # its final rate for "none".
        expected = [0, strategy == "none"]
        saved.check(
            [start_step, hold] == expected,
            "start",
            f"{expected} (rewind={strategy!r})",
            [start_step, hold],
        )
    return {"initial": initial, "snapshot": snapshot, "start": start}


def _step_of(point: StartPoint | None) -> tuple[int, bool]:
    """A known start point's position on the schedule (None: none)."""
    return (0, False) if point is None else (point.step, point.hold_final_lr)


def _check_same(saved, prefix, point, known, what) -> None:
    """``point`` (saved) holds ``known``'s weights at its positions, and step."""
    for i, positions in enumerate(point.positions):
        saved.check(
            np.array_equal(point.weights[i], known.values(i, positions)),
            f"{prefix}_weights_{i}",
            f"{what} at the kept positions",
            found="other weights",
        )
        saved.check(
            np.array_equal(point.biases[i], known.biases[i]),
            f"{prefix}_bias_{i}",
            f"{what}' biases",
            found="other biases",
        )
    step = "snapshot_step" if prefix == "snapshot" else prefix
    saved.check(
        (point.step, point.hold_final_lr) == (known.step, known.hold_final_lr),
        step,
        f"the step of {what}: {[known.step, known.hold_final_lr]}",
        [point.step, point.hold_final_lr],
    )
