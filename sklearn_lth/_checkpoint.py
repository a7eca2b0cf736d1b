"""Checkpoint files: safe reading and atomic writing, search folders, the lock.

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
:meth:`CheckpointStore.read` gives a :class:`SavedFile`, through which every
value is read with a check that names the field when it fails. What a plan
or a search saves, and what each value must be, is
:mod:`sklearn_lth._search._persistence`'s to say: this module knows files,
not searches.

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
from pathlib import Path
from typing import BinaryIO

import numpy as np
import scipy.sparse as sp

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


def read_only_error(directory: Path, what: str) -> CheckpointError:
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

    def read(self) -> SavedFile | None:
        """:meth:`load`, as a reader that checks every value it gives."""
        loaded = self.load()
        return None if loaded is None else SavedFile(self, *loaded)

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
            raise read_only_error(
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


def shown(value) -> str:
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


def same_value(a, b) -> bool:
    """Equal JSON values: NaN equal to NaN (empty cells of a round table), but
    -0.0 not to 0.0 (a resume is bit-identical)."""
    if type(a) is float and type(b) is float:
        return repr(a) == repr(b)  # the shortest repr is the float's bits
    return type(a) is type(b) and a == b


class SavedFile:
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
            found = "missing" if value is _MISSING else shown(value)
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
        """A ``RandomState`` state saved by :func:`put_random_state`.

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
def put_random_state(header: dict, arrays: dict, name: str, state: tuple) -> None:
    """Save ``RandomState.get_state()`` as ``header[name]`` and its words as
    ``arrays[name + "_keys"]`` (read back by :meth:`SavedFile.random_state`)."""
    kind, keys, pos, has_gauss, cached = state
    header[name] = [kind, int(pos), int(has_gauss), float(cached)]
    arrays[f"{name}_keys"] = np.asarray(keys, dtype=np.uint32)
