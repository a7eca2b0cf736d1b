"""Reading a CSV file for the command line: features, a target and notes.

The rules (``sklearn-lth --help`` and the docstring of :mod:`sklearn_lth._cli`
summarise them):

- The path must name a regular file: a directory, a device such as
  ``/dev/zero`` or a named pipe is refused before anything is read. A file
  whose parsed cells would not fit in the memory available is refused too,
  from its size alone.
- The file is decoded with ``encoding`` (UTF-8 by default, where a leading
  byte-order mark is ignored). Its first non-blank row names the columns;
  the separator is guessed from the file's start (among ``, ; tab |``) unless
  given, and cells are stripped of surrounding spaces.
- The ``drop`` columns are left out before any of their cells is read.
- A feature column is *numeric* when at least half of its non-empty cells
  are numbers (written with ``decimal`` as the decimal mark). Every cell of a
  numeric column must then be a finite number: an empty or other cell is an
  error naming its line and column (nothing is imputed).
- Any other feature column is *text*: its distinct values are categories,
  which the command line one-hot encodes. An empty cell is an error there
  too; a text column with more than ``max(50, half the rows)`` distinct
  values (free text, or an identifier) is refused, as is one whose cells are
  numbers with a decimal comma (``--decimal ,`` reads them).
- An *index column* is left out, with a note saying so:

  * an unnamed column before any named one (its header empty, or
    ``Unnamed: 0``, as pandas names an unnamed index it reads back), when
    its values are distinct whole numbers that are 0 to n-1 or 1 to n in any
    order (a shuffled frame's index) or increasing (a filtered frame's), or
    distinct texts (row names, as R's ``write.csv`` writes them);
  * any column named as a row identifier (``index``, ``id``, ``row_id``,
    ``PassengerId``, ``user_ID``...; see :func:`looks_like_identifier`)
    whose values are n consecutive whole numbers, in any order.

  A column named as an identifier whose values are not n consecutive whole
  numbers (gaps, repeats) may be a feature the user means: it is kept, with
  a note. ``keep_index`` keeps every index column as a feature.
- The label column (the last unless named) is read as text; the command line
  decides whether it holds class labels or a numeric target. With a decimal
  mark other than ``.``, its numbers are rewritten with ``.``.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import os
import re
import stat
from dataclasses import dataclass, field

import numpy as np

from ._errors import UsageError

#: Characters of a CSV file that the separator is guessed from.
SNIFF_CHARS = 4096
SEPARATORS = ",;\t|"
#: Bytes of memory that reading one byte of a CSV file takes at its peak: the
#: text (up to 4 bytes a character), then a Python string and a list slot for
#: each cell, then the arrays. Measured: 16 for cells of 5 to 8 characters, 34
#: for two-digit ones (a Python string of 51 bytes each).
READ_BYTES_PER_FILE_BYTE = 32
#: A text column with more distinct values than ``max(this, half the rows)``
#: is refused: one-hot encoding free text or an identifier learns nothing.
MIN_CATEGORIES_LIMIT = 50
#: An empty header, or the one pandas gives an unnamed column (``Unnamed: 0``;
#: a frame read with its index and written again has two of them).
_UNNAMED = re.compile(r"(?:Unnamed: \d+)?")
#: Whole names of a row identifier (compared lower-cased, without spaces,
#: underscores, dashes or dots).
IDENTIFIER_NAMES = {"id", "index", "idx", "rowid", "rownumber", "rowindex", "rowno"}
#: ``user_id``, ``user id``, ``user-ID``; ``PassengerId``, ``userID``.
_IDENTIFIER_SUFFIX = re.compile(r"(?:[_ .-](?:id|ID|Id)|[a-z0-9](?:Id|ID))$")
#: A number written with a decimal comma: ``1,5``, ``-0,25``.
_DECIMAL_COMMA = re.compile(r"^[+-]?\d*,\d+$")


@dataclass
class CsvOptions:
    """How to read a CSV file (the command line's data options)."""

    label_column: str | None = None
    sep: str | None = None
    decimal: str = "."
    encoding: str = "utf-8"
    drop: tuple[str, ...] = ()
    keep_index: bool = False


@dataclass
class Dataset:
    """Features, targets and, for a CSV file, where each row came from.

    ``X`` holds floats, or objects (floats and strings) when some feature
    columns are text; ``text_columns`` maps each text column's name to its
    number of categories, in the order of the features. ``notes`` are what
    the command line tells the user about how it read the file.
    """

    name: str
    X: np.ndarray
    y: np.ndarray
    feature_names: list[str] | None = None
    label: str | None = None
    lines: list[int] | None = None
    text_columns: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def where(self, row: int) -> str:
        """``data.csv line 7, column "age"`` for the label cell of ``row``."""
        if self.lines is None:
            return f"{self.name} sample {row}"
        return f'{self.name} line {self.lines[row]}, column "{self.label}"'

    @property
    def numeric_columns(self) -> list[int]:
        """Positions of the numeric features in ``X``."""
        names = self.feature_names or [None] * self.X.shape[1]
        return [j for j, name in enumerate(names) if name not in self.text_columns]


def format_size(n_bytes: float) -> str:
    """``1.5 GB``, ``12 MB``: a size in bytes for a message."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.3g} {unit}"
    return f"{n_bytes:.0f} bytes"


def check_encoding(name: str) -> str:
    """The codec to decode a file named ``name`` with; UTF-8 skips a BOM.

    Raises
    ------
    LookupError
        When Python knows no such encoding.
    """
    codec = codecs.lookup(name).name
    return "utf-8-sig" if codec == "utf-8" else codec


def _file_kind(mode: int) -> str:
    for test, kind in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a named pipe"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return kind
    return "not a regular file"


def read_bytes(path: str, bundled: tuple[str, ...], memory: int | None) -> bytes:
    """The bytes of the regular file ``path``, refused if too large to parse.

    Parameters
    ----------
    path : str
        The file.
    bundled : tuple of str
        The bundled datasets' names, for the message when ``path`` is neither.
    memory : int or None
        Bytes of memory available, or None when unknown (no size check).
    """
    try:
        info = os.stat(path)
    except OSError as exc:
        raise UsageError(
            f"{path!r} is neither a bundled dataset ({', '.join(bundled)}) nor a "
            f"readable CSV file: {exc.strerror or exc}"
        ) from exc
    if not stat.S_ISREG(info.st_mode):
        raise UsageError(
            f"{path} is {_file_kind(info.st_mode)}, not a CSV file; give the path "
            "of a regular file"
        )
    needed = info.st_size * READ_BYTES_PER_FILE_BYTE
    if memory is not None and needed > memory:
        raise UsageError(
            f"{path} is {format_size(info.st_size)}: reading it needs about "
            f"{format_size(needed)} of memory, more than the "
            f"{format_size(memory)} available; use a sample of its rows"
        )
    try:
        with open(path, "rb") as handle:
            # Never more than the size checked: the file may grow meanwhile.
            return handle.read(info.st_size)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from exc


def decode(path: str, raw: bytes, encoding: str) -> str:
    """``raw`` decoded; an undecodable byte is reported with its line."""
    try:
        return raw.decode(check_encoding(encoding))
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        byte = raw[exc.start]
        hint = (
            "give its encoding, e.g. --encoding latin-1"
            if encoding.lower().replace("_", "-") in ("utf-8", "utf8")
            else "give its encoding with --encoding"
        )
        raise UsageError(
            f"{path} line {line} is not {encoding} text (byte 0x{byte:02x}): if "
            f"it is a CSV file, {hint}"
        ) from exc


def sniff_separator(text: str, exclude: str = "") -> str:
    """The separator of a CSV text, guessed from its first lines; else a comma.

    ``exclude``: characters that cannot be the separator (the decimal mark).
    """
    sample = text[:SNIFF_CHARS]
    if len(text) > SNIFF_CHARS and "\n" in sample:
        sample = sample[: sample.rindex("\n")]
    candidates = "".join(c for c in SEPARATORS if c not in exclude)
    try:
        return csv.Sniffer().sniff(sample, delimiters=candidates).delimiter
    except csv.Error:
        return next(c for c in ",;" if c not in exclude)


def _records(path: str, text: str, sep: str) -> list[tuple[int, list[str]]]:
    """``(line number, cells)`` of each non-blank row, cells stripped."""
    reader = csv.reader(io.StringIO(text), delimiter=sep)
    records = []
    try:
        for row in reader:
            if len(row) > 1 or (row and row[0].strip()):
                records.append((reader.line_num, [cell.strip() for cell in row]))
    except csv.Error as exc:
        raise UsageError(f"{path} line {reader.line_num}: {exc}") from exc
    return records


def is_number(text: str, decimal: str = ".") -> bool:
    """Whether ``text`` is a finite number written with ``decimal``."""
    value = to_float(text, decimal)
    return value is not None and math.isfinite(value)


def to_float(text: str, decimal: str = ".") -> float | None:
    """``text`` as a float (maybe inf or nan), or None if it is no number.

    With a decimal mark other than ``.``, a ``.`` in ``text`` makes it no
    number: ``1.234,5`` has thousands separators, which are not read.
    """
    if decimal != ".":
        if "." in text:
            return None
        text = text.replace(decimal, ".", 1)
    try:
        return float(text)
    except ValueError:
        return None


def not_a_number(cell: str, decimal: str = ".") -> str:
    """Why ``cell`` is not a finite number, e.g. ``"abc" is not a number``."""
    if not cell:
        return "empty cell"
    if to_float(cell, decimal) is None:
        mark = "" if decimal == "." else f' with --decimal "{decimal}"'
        return f'"{cell}" is not a number{mark}'
    return f'"{cell}" is not a finite number'


def _check_header(path: str, line: int, header: list[str], decimal: str) -> None:
    if len(header) < 2:
        raise UsageError(
            f"{path} line {line}: found one column; a CSV file needs feature "
            "columns and a label column (use --sep if the separator is not "
            "guessed right)"
        )
    if all(is_number(cell, decimal) for cell in header):
        raise UsageError(
            f"{path} line {line} holds numbers; the first row must name the columns"
        )
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise UsageError(f'{path} line {line}: column "{duplicates[0]}" appears twice')


def _listed(header: list[str]) -> str:
    return ", ".join(f'"{name}"' for name in header)


def _column_index(path: str, header: list[str], name: str, option: str) -> int:
    if name not in header:
        raise UsageError(
            f'{option}: no column "{name}" in {path}; its columns are: '
            f"{_listed(header)}"
        )
    return header.index(name)


@dataclass
class _Column:
    """One feature column as read: its values and how it was read."""

    name: str
    position: int
    values: np.ndarray
    text: bool


def looks_like_identifier(name: str) -> bool:
    """Whether a column's header names a row identifier or an index.

    ``index``, ``id``, ``ID``, ``Id``, ``row_id``, ``row number`` (any case,
    spaces, underscores, dashes and dots ignored), and names ending in ``_id``,
    `` id``, ``-ID`` or a camel-case ``Id``/``ID`` (``PassengerId``,
    ``userID``). ``Paid``, ``mid`` or ``PAID`` are not.

    Examples
    --------
    >>> [looks_like_identifier(n) for n in ("Id", "row_id", "PassengerId", "paid")]
    [True, True, True, False]
    """
    folded = re.sub(r"[\s_.-]", "", name).lower()
    return folded in IDENTIFIER_NAMES or bool(_IDENTIFIER_SUFFIX.search(name))


def _whole_distinct(values: np.ndarray) -> bool:
    return bool(
        np.all(values == np.round(values)) and len(np.unique(values)) == len(values)
    )


def is_unnamed(name: str) -> bool:
    """Whether a header cell is empty or pandas' ``Unnamed: N``."""
    return bool(_UNNAMED.fullmatch(name))


def _index_note(column: _Column, n_rows: int, leading: bool) -> tuple[bool, str | None]:
    """Whether ``column`` is an index column to leave out, and a note or None.

    ``leading``: whether only unnamed columns come before it. See the module
    docstring for the rule.
    """
    values = column.values
    shown = f'column {column.position + 1} ("{column.name}")'
    keep_it = "keep it as a feature with --keep-index"
    if leading and is_unnamed(column.name):
        if column.text:
            if len(set(values)) == n_rows > 1:
                return True, (
                    f"{shown} is unnamed and holds a distinct text in every row: "
                    f"row names (as R writes them), left out ({keep_it})"
                )
            return False, None
        if not _whole_distinct(values) or values.min() < 0:
            return False, None
        low, high = int(values.min()), int(values.max())
        if low in (0, 1) and high - low == n_rows - 1:
            order = "in order" if np.all(np.diff(values) > 0) else "shuffled"
        elif np.all(np.diff(values) > 0):
            order = "increasing, with gaps"
        else:
            return False, None
        return True, (
            f"{shown} is unnamed and holds the distinct whole numbers "
            f"{low}..{high}, {order}: a row index (as pandas writes one), left "
            f"out ({keep_it})"
        )
    if column.text or not looks_like_identifier(column.name):
        return False, None
    if not np.all(values == np.round(values)):
        return False, None
    low, high = int(values.min()), int(values.max())
    if _whole_distinct(values) and high - low == n_rows - 1:
        return True, (
            f"{shown} holds the consecutive whole numbers {low}..{high}: a row "
            f"identifier, left out ({keep_it})"
        )
    return False, (
        f"{shown} is named like an identifier, but its whole numbers "
        f"{low}..{high} are not {n_rows} consecutive ones: used as a feature "
        f"(leave it out with --drop {_quoted(column.name)})"
    )


def _read_column(
    path: str,
    header: list[str],
    body: list[tuple[int, list[str]]],
    position: int,
    decimal: str,
) -> _Column:
    """The feature column at ``position``, numeric or text (see module doc)."""
    name = header[position]
    cells = [row[position] for _, row in body]
    numbers = [to_float(cell, decimal) for cell in cells]
    n_numbers = sum(value is not None for value in numbers)
    n_filled = sum(bool(cell) for cell in cells)
    if n_filled and 2 * n_numbers >= n_filled:
        values = np.array([np.nan if v is None else v for v in numbers])
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad):
            i = int(bad[0])
            raise UsageError(
                f'{path} line {body[i][0]}, column "{name}": '
                f"{not_a_number(cells[i], decimal)} (nothing is imputed: fix the "
                f"cell, or leave the column out with --drop {_quoted(name)})"
            )
        return _Column(name, position, values, text=False)
    for i, cell in enumerate(cells):
        if not cell:
            raise UsageError(
                f'{path} line {body[i][0]}, column "{name}": empty cell in a text '
                f"column (nothing is imputed: fill it in, or leave the column out "
                f"with --drop {_quoted(name)})"
            )
    if decimal != ",":
        commas = sum(bool(_DECIMAL_COMMA.match(cell)) for cell in cells)
        if 2 * commas >= len(cells):
            example = next(cell for cell in cells if _DECIMAL_COMMA.match(cell))
            raise UsageError(
                f'{path} column "{name}": "{example}" looks like a number with a '
                "decimal comma; give --decimal , to read it as one"
            )
    return _Column(name, position, np.array(cells, dtype=object), text=True)


def _quoted(name: str) -> str:
    """``name`` as typed on a shell command line."""
    if re.fullmatch(r"[\w.,:+-]+", name):
        return name
    return "'" + name.replace("'", "'\\''") + "'"


def _check_categories(path: str, column: _Column, n_rows: int) -> int:
    n_categories = len(set(column.values))
    limit = max(MIN_CATEGORIES_LIMIT, n_rows // 2)
    if n_categories > limit:
        raise UsageError(
            f'{path} column "{column.name}" is text with {n_categories} distinct '
            f"values in {n_rows} rows (free text or an identifier?): too many to "
            f"one-hot encode (at most max({MIN_CATEGORIES_LIMIT}, half the rows) "
            f"= {limit}); leave it out with --drop {_quoted(column.name)}"
        )
    return n_categories


def _label_values(cells: list[str], decimal: str) -> np.ndarray:
    """The label cells; with another decimal mark, numbers get a ``.``."""
    if decimal != ".":
        cells = [
            cell.replace(decimal, ".", 1)
            if to_float(cell, decimal) is not None
            else cell
            for cell in cells
        ]
    return np.array(cells)


def read_csv(
    path: str,
    options: CsvOptions,
    *,
    bundled: tuple[str, ...] = (),
    memory: int | None = None,
) -> Dataset:
    """A CSV file whose first row names the columns; errors name line and column.

    Parameters
    ----------
    path : str
        The file.
    options : CsvOptions
        Label column, separator, decimal mark, encoding, columns to drop.
    bundled : tuple of str, default=()
        The bundled datasets' names, for the message when ``path`` is neither.
    memory : int, default=None
        Bytes of memory available; a file too large to parse in it is refused.

    Returns
    -------
    Dataset
    """
    text = decode(path, read_bytes(path, bundled, memory), options.encoding)
    sep = options.sep or sniff_separator(text, exclude=options.decimal)
    records = _records(path, text, sep)
    if not records:
        raise UsageError(f"{path} is empty; it needs a header row and data rows")
    (header_line, header), body = records[0], records[1:]
    _check_header(path, header_line, header, options.decimal)
    if not body:
        raise UsageError(f"{path} has a header row but no data rows")
    for line, row in body:
        if len(row) != len(header):
            raise UsageError(
                f"{path} line {line}: {len(row)} cells, but the header names "
                f"{len(header)} columns"
            )
    label = header[-1] if options.label_column is None else options.label_column
    label_index = _column_index(path, header, label, "--label-column")
    dropped = set()
    for given in options.drop:
        # A comma-separated list, unless the whole text names a column.
        names = [given] if given in header else [n.strip() for n in given.split(",")]
        for name in names:
            j = _column_index(path, header, name, "--drop")
            if j == label_index:
                raise UsageError(
                    f'--drop {name}: "{name}" is the label column; choose another '
                    "with --label-column"
                )
            dropped.add(j)
    kept = [j for j in range(len(header)) if j != label_index and j not in dropped]
    if not kept:
        raise UsageError(f"{path}: no feature column is left after --drop")
    columns = [_read_column(path, header, body, j, options.decimal) for j in kept]
    notes = []
    features = []
    leading = True  # no named column yet: an unnamed one may be an index
    for column in columns:
        leading = leading and is_unnamed(column.name)
        is_index, note = _index_note(column, len(body), leading)
        if is_index and options.keep_index:
            note = None
            is_index = False
        if note is not None:
            notes.append(note)
        if not is_index:
            features.append(column)
    if not features:
        raise UsageError(
            f"{path}: the only feature column is an index column; keep it with "
            "--keep-index if it is meant"
        )
    label_cells = [row[label_index] for _, row in body]
    for (line, _), cell in zip(body, label_cells):
        if not cell:
            raise UsageError(f'{path} line {line}, column "{label}": empty cell')
    text_columns = {
        column.name: _check_categories(path, column, len(body))
        for column in features
        if column.text
    }
    if text_columns:
        X = np.empty((len(body), len(features)), dtype=object)
        for k, column in enumerate(features):
            X[:, k] = column.values
    else:
        X = np.column_stack([column.values for column in features])
    return Dataset(
        path,
        X,
        _label_values(label_cells, options.decimal),
        [column.name for column in features],
        label,
        [line for line, _ in body],
        text_columns,
        notes,
    )
