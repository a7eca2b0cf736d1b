"""Checkpoints: the state of a search after each completed round, on disk.

A checkpoint is one ``.npz`` file of plain arrays (no pickle) with a JSON
header. It is written atomically: to a temporary file in the same directory,
flushed to disk, then renamed over the previous one, so a crash at any moment
leaves either the previous checkpoint or the new one, never half of one.

Each file carries a fingerprint of the estimator's parameters and of the
training data. A checkpoint written for other parameters or other data is
refused, never silently mixed in.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import scipy.sparse as sp

FORMAT_VERSION = 2

# Parameters that do not change the search, so a run may resume with others.
_NEUTRAL_PARAMS = ("checkpoint_dir", "verbose", "n_jobs")


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: corrupted, or written for another run."""


def _update_with_array(digest, array) -> None:
    if sp.issparse(array):
        array = sp.csr_array(array)
        for part in (array.data, array.indices, array.indptr):
            _update_with_array(digest, part)
        digest.update(repr(array.shape).encode())
        return
    array = np.asarray(array)
    if array.dtype == object:
        digest.update(repr(array.tolist()).encode())
        return
    digest.update(f"{array.dtype.str}{array.shape}".encode())
    digest.update(np.ascontiguousarray(array).view(np.uint8).ravel())


def fingerprint(params: dict, *arrays) -> str:
    """A digest of the parameters that shape a search and of its data."""
    digest = hashlib.blake2b(digest_size=16)
    for name in sorted(params):
        if name in _NEUTRAL_PARAMS:
            continue
        value = params[name]
        if hasattr(value, "weights") and hasattr(value, "intercepts"):  # a ticket
            for part in (*value.weights, *value.intercepts):
                _update_with_array(digest, part)
        elif isinstance(value, np.random.RandomState):
            digest.update(repr(value.get_state()[1].tolist()).encode())
        else:
            digest.update(f"{name}={value!r};".encode())
    for array in arrays:
        if array is not None:
            _update_with_array(digest, array)
    return digest.hexdigest()


class CheckpointStore:
    """One checkpoint file, ``directory / name``, for one fingerprint."""

    def __init__(self, directory, name: str, fingerprint: str):
        self.directory = Path(directory)
        self.path = self.directory / name
        self.fingerprint = fingerprint

    def sibling(self, name: str) -> CheckpointStore:
        """Another file of the same directory, with the same fingerprint."""
        return CheckpointStore(self.directory, name, self.fingerprint)

    def _error(self, problem: str) -> CheckpointError:
        return CheckpointError(
            f"The checkpoint {self.path} {problem}. Delete it (or choose another "
            f"checkpoint_dir) to start the search over."
        )

    def load(self) -> tuple[dict, dict[str, np.ndarray]] | None:
        """The saved header and arrays, or None when there is no checkpoint."""
        if not self.path.exists():
            return None
        try:
            with np.load(self.path, allow_pickle=False) as stored:
                arrays = {key: stored[key] for key in stored.files}
            header = json.loads(str(arrays.pop("header")))
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise self._error(f"is corrupted or truncated ({exc})") from exc
        if header.get("format") != FORMAT_VERSION:
            raise self._error(
                f"has format {header.get('format')!r}; this version of sklearn-lth "
                f"reads format {FORMAT_VERSION}"
            )
        if header.get("fingerprint") != self.fingerprint:
            raise self._error(
                "was written for other parameters or other training data, and a "
                "search is only resumed with the same ones"
            )
        return header, arrays

    def save(self, header: dict, arrays: dict[str, np.ndarray]) -> None:
        """Write atomically: a temporary file, flushed, then renamed."""
        self.directory.mkdir(parents=True, exist_ok=True)
        header = {**header, "format": FORMAT_VERSION, "fingerprint": self.fingerprint}
        handle = tempfile.NamedTemporaryFile(
            dir=self.directory,
            prefix=f".{self.path.name}.",
            suffix=".tmp",
            delete=False,
        )
        try:
            with handle:
                np.savez(handle, header=np.array(json.dumps(header)), **arrays)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(handle.name, self.path)
        except BaseException:
            Path(handle.name).unlink(missing_ok=True)
            raise
        if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable
            fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
