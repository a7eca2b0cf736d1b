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
checked against the bytes actually on disk.

Each distinct search writes into its own folder, :func:`search_directory`,
and processes that share a folder take turns through :class:`SearchLock`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import struct
import tempfile
import tokenize
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np
import scipy.sparse as sp

from ._network import Layer, Network
from ._rewinding import StartPoint
from ._search import CompletedRound, SearchState
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

# The temporary files of CheckpointStore.save: ".{name}.{random}.tmp".
_TEMPORARY_PREFIX = "."
_TEMPORARY_SUFFIX = ".tmp"
_TEMPORARY_NAME = re.compile(r"\..+\.[^.]+\.tmp")

_LOCK_NAME = "lock"

# A zip member's local header: 30 bytes, then its name and extra field.
_LOCAL_HEADER_SIZE = 30


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


def _remove_stale_temporary_files(directory: Path) -> list[Path]:
    """Delete the temporary files that writers killed mid-save left behind.

    Only safe while holding the directory's :class:`SearchLock`: a writer
    that is still running would lose its file.
    """
    removed = []
    for entry in os.scandir(directory):
        if _TEMPORARY_NAME.fullmatch(entry.name) and entry.is_file(
            follow_symlinks=False
        ):
            Path(entry.path).unlink(missing_ok=True)
            removed.append(Path(entry.path))
    return removed


class SearchLock:
    """An exclusive lock on a search folder, held for a ``with`` block.

    Entering creates the folder (and its parents), waits for an exclusive
    ``flock`` on its ``lock`` file, then deletes the temporary files that
    killed writers left behind: while the lock is held, no other writer that
    uses it can be active. Two processes (or threads) working on the same
    search folder thereby take turns, and the second resumes from the
    checkpoints the first wrote. The lock is released on leaving the block,
    whatever the exception, KeyboardInterrupt included.

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
    """

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)
        self.removed: list[Path] = []
        self._fd: int | None = None

    def __enter__(self) -> SearchLock:
        if self._fd is not None:
            raise RuntimeError(f"The lock on {self.directory} is already held.")
        self.directory.mkdir(parents=True, exist_ok=True)
        if fcntl is None:
            return self
        fd = os.open(self.directory / _LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self.removed = _remove_stale_temporary_files(self.directory)
        except BaseException:  # KeyboardInterrupt while waiting, too
            os.close(fd)
            raise
        self._fd = fd
        return self

    def __exit__(self, *exc_info) -> None:
        fd, self._fd = self._fd, None
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
    """

    def __init__(
        self,
        directory: str | os.PathLike,
        name: str,
        fingerprint: str,
        *,
        max_bytes: int | None = None,
        durable: bool = True,
    ):
        self.directory = Path(directory)
        self.durable = durable
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
            self.directory, name, self.fingerprint, max_bytes=self.max_bytes
        )

    def _error(self, problem: str) -> CheckpointError:
        return CheckpointError(
            f"The checkpoint {self.path} {problem}. Delete it (or choose another "
            f"checkpoint_dir) to start the search over."
        )

    def load(self) -> tuple[dict, dict[str, np.ndarray]] | None:
        """The saved header and arrays, or None when there is no checkpoint.

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
            raise self._error(str(exc)) from None
        except _PARSE_ERRORS as exc:
            raise self._error(f"is corrupted or truncated ({exc})") from exc
        header = self._decode_header(arrays.pop("header", None))
        self._check_header(header)
        return header, arrays

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
            raise self._error("has no header")
        if stored.shape != () or stored.dtype.kind != "U":
            raise self._error("has a header that is not a JSON string")
        try:
            header = json.loads(stored.item())
        except (ValueError, RecursionError) as exc:
            raise self._error(f"has a header that is not valid JSON ({exc})") from exc
        if not isinstance(header, dict):
            raise self._error("has a header that is not a JSON object")
        return header

    def _check_header(self, header: dict) -> None:
        if "format" not in header:
            raise self._error("has no format number")
        if header["format"] != FORMAT_VERSION:
            raise self._error(
                f"has format {header['format']!r}; this version of sklearn-lth "
                f"reads format {FORMAT_VERSION}"
            )
        if "fingerprint" not in header:
            raise self._error("has no fingerprint to match it to a search")
        if header["fingerprint"] != self.fingerprint:
            raise self._error(
                "was written for other parameters or other training data, and a "
                "search is only resumed with the same ones"
            )

    def save(
        self, header: dict, arrays: dict[str, np.ndarray], durable: bool | None = None
    ) -> None:
        """Write atomically: a temporary file, flushed, then renamed.

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
        """
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
        handle = tempfile.NamedTemporaryFile(
            dir=self.directory,
            prefix=f"{_TEMPORARY_PREFIX}{self.path.name}.",
            suffix=_TEMPORARY_SUFFIX,
            delete=False,
        )
        try:
            with handle:
                np.savez(handle, header=np.array(json.dumps(header)), **arrays)
                if durable:
                    handle.flush()
                    os.fsync(handle.fileno())
            os.replace(handle.name, self.path)
        except BaseException:
            Path(handle.name).unlink(missing_ok=True)
            raise
        if durable:
            _fsync_directory(self.directory)


def _fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (where directories can be opened)."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- the state of a search, as a checkpoint ------------------------------------
def save_search(store: CheckpointStore, state: SearchState, rng) -> None:
    """Save ``state`` after its last completed round, with ``rng``'s state.

    Start points are saved at the kept positions only: later rounds read
    nothing else from them.
    """
    last_round = state.last.result
    # The random state after the round: a resumed search draws exactly what
    # an uninterrupted one would (shuffles, random scores, fresh weights).
    # No optimizer state is saved: every round starts with fresh state.
    name, keys, pos, has_gauss, cached = rng.get_state()
    header = {
        "completed_round": state.completed,
        "history": state.history,
        "unconverged": state.unconverged,
        "chance": state.chance,
        "rng": [name, int(pos), int(has_gauss), float(cached)],
        "start": [state.start.step, state.start.hold_final_lr],
        "snapshot_step": (
            None if state.rewind_snapshot is None else state.rewind_snapshot.step
        ),
        "last_round": {
            "n_iter": last_round.n_iter,
            "steps": last_round.steps,
            "loss_curve": last_round.loss_curve,
            "validation_scores": last_round.validation_scores,
            "best_validation_score": last_round.best_validation_score,
            "converged": last_round.converged,
            "min_validation_loss_iteration": last_round.min_validation_loss_iteration,
            "validation_score_at_min_loss": last_round.validation_score_at_min_loss,
            "samples_seen": last_round.samples_seen,
            "stall_count": last_round.stall_count,
        },
    }
    arrays = {"rng_keys": keys}
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


def restore_search(store: CheckpointStore, state: SearchState, rng) -> bool:
    """Continue ``state`` (and ``rng``) from the store, if it holds a search.

    Returns whether it did. Anything malformed is a :class:`CheckpointError`.
    """
    saved = store.load()
    if saved is None:
        return False
    try:
        _restore(state, *saved, rng)
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise CheckpointError(
            f"The checkpoint {store.path} does not hold a valid search state "
            f"({type(exc).__name__}: {exc}). Delete it (or choose another "
            "checkpoint_dir) to start the search over."
        ) from exc
    return True


def _restore(state: SearchState, header: dict, arrays: dict, rng) -> None:
    """Fill ``state`` and ``rng`` from a checkpoint; raise on anything malformed."""
    # The data's dtype: ``state`` was opened from the same data.
    dtype = state.start.biases[0].dtype
    positions = [
        _checked_positions(arrays[f"positions_{i}"], shape, i)
        for i, shape in enumerate(state.shapes)
    ]

    # Every array is checked against the layer it belongs to before use:
    # the file is untrusted, and a wrong size would fail far from here.
    def layer_array(name: str, size: int) -> np.ndarray:
        values = np.asarray(arrays[name])
        if values.shape != (size,) or values.dtype.kind != "f":
            raise ValueError(f"{name} has shape {values.shape}")
        if not np.isfinite(values).all():
            raise ValueError(f"{name} holds non-finite values")
        return values.astype(dtype, copy=False)

    def point(prefix: str, **kwargs) -> StartPoint:
        weights = [
            layer_array(f"{prefix}_weights_{i}", pos.size)
            for i, pos in enumerate(positions)
        ]
        biases = [
            layer_array(f"{prefix}_bias_{i}", shape[1])
            for i, shape in enumerate(state.shapes)
        ]
        return StartPoint(weights, biases, positions=positions, **kwargs)

    completed = int(header["completed_round"])
    history = {key: list(header["history"][key]) for key in state.history}
    if completed < 0 or any(len(v) != completed + 1 for v in history.values()):
        raise ValueError("the history does not match the completed rounds")
    name, pos, has_gauss, cached = header["rng"]
    rng.set_state((name, arrays["rng_keys"], int(pos), int(has_gauss), cached))
    state.history = history
    state.unconverged = [int(r) for r in header["unconverged"]]
    state.chance = [int(r) for r in header.get("chance", [])]
    state.initial = point("initial") if "initial_weights_0" in arrays else None
    if header["snapshot_step"] is not None:
        state.rewind_snapshot = point("snapshot", step=int(header["snapshot_step"]))
    # Only the trained values are saved: the kernels' copies (dense weights,
    # transposed CSR) are rebuilt from them, exactly.
    layers = [
        Layer(
            pos,
            layer_array(f"values_{i}", pos.size),
            layer_array(f"bias_{i}", shape[1]),
            shape,
        )
        for i, (pos, shape) in enumerate(zip(positions, state.shapes))
    ]
    state.network = Network(layers, state.activation, state.out_activation)
    step, hold = header["start"]
    state.start = point("start", step=int(step), hold_final_lr=bool(hold))
    state.first_positions = None  # the network holds them
    result = RoundResult(**header["last_round"])
    state.last = CompletedRound(
        completed, state.network, state.start, result, rng.get_state()
    )


def _checked_positions(positions, shape, layer: int) -> np.ndarray:
    """Saved kept positions: sorted, unique, inside the layer."""
    positions = np.asarray(positions)
    if positions.ndim != 1 or positions.dtype.kind not in "iu":
        raise ValueError(f"positions_{layer} is not a 1-d integer array")
    size = shape[0] * shape[1]
    if positions.size and (
        positions[0] < 0 or positions[-1] >= size or np.any(np.diff(positions) <= 0)
    ):
        raise ValueError(f"positions_{layer} are not sorted positions of the layer")
    return positions.astype(np.intp, copy=False)
