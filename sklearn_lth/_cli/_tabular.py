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
  given, and cells are stripped of surrounding spaces. A row whose cells are
  all empty (``,,,,``, as spreadsheets write one) is blank, skipped like an
  empty line. A last column whose header and every cell are empty (every
  line ending in the separator, as Excel writes ``;``) is ignored, with a
  note.
- A column is named by its header cell; an empty one is named as pandas
  names it, ``Unnamed: N`` for the N-th column counted from 0, the name that
  ``drop`` and ``label_column`` accept for it.
- The ``drop`` columns are left out before any of their cells is read.
- A feature column is *numeric* when at least half of its non-empty cells
  are numbers (written with ``decimal`` as the decimal mark, and
  ``thousands``, if given, between the digits, as pandas' ``thousands=``
  removes it). Every cell of a numeric column must then be a finite number:
  an empty or other cell is an error naming its line and column (nothing is
  imputed). One error names every such cell of the file, label included, by
  line (the first ``BAD_CELLS_LISTED``, the others counted), so that one
  run tells all there is to fix.
- Any other feature column is *text*: its distinct values are categories,
  which the command line one-hot encodes. An empty cell is an error there
  too; a text column with more than ``max(50, half the rows)`` distinct
  values (free text, or an identifier) is refused, as is one whose cells are
  numbers written with a comma or with ``.`` between thousands (the message
  names the options that read them: ``--decimal ,`` or ``--thousands ,``).
- An *index column* is left out, with a note saying so:

  * an unnamed column before any named one (its header empty, or
    ``Unnamed: N``, as pandas names an unnamed index it reads back) whose
    values are all distinct: what pandas' ``to_csv`` writes, whether the
    index is 0 to n-1, shuffled, or has gaps (the rows left by
    ``train_test_split``), and what R's ``write.csv`` writes (row names);
  * any column named as a row identifier (``index``, ``id``, ``row_id``,
    ``PassengerId``, ``user_ID``...; see :func:`looks_like_identifier`)
    whose values are n consecutive whole numbers, in any order.

  A column named as an identifier whose values are not n consecutive whole
  numbers (gaps, repeats) may be a feature the user means: it is kept, with
  a note. ``keep_index`` keeps every index column as a feature.
- The label column (the last unless named) is read as text; the command line
  decides whether it holds class labels or a numeric target. Its numbers are
  rewritten with ``.`` as the decimal mark and without thousands separators.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import os
import re
import shlex
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
#: An empty header, or the name pandas gives an unnamed column (``Unnamed: 0``;
#: a frame read with its index and written again has two of them, and pandas
#: tells apart two columns of one name as ``Unnamed: 0`` and ``Unnamed: 0.1``).
_UNNAMED = re.compile(r"(?:Unnamed: \d+(?:\.\d+)?)?")
#: Whole names of a row identifier (compared lower-cased, without spaces,
#: underscores, dashes or dots).
IDENTIFIER_NAMES = {"id", "index", "idx", "rowid", "rownumber", "rowindex", "rowno"}
#: ``user_id``, ``user id``, ``user-ID``; ``PassengerId``, ``userID``.
_IDENTIFIER_SUFFIX = re.compile(r"(?:[_ .-](?:id|ID|Id)|[a-z0-9](?:Id|ID))$")
#: A number written with a decimal comma: ``1,5``, ``-0,25``.
_DECIMAL_COMMA = re.compile(r"^[+-]?\d*,\d+$")


def _grouped(thousands: str, decimal: str) -> re.Pattern:
    """Numbers with ``thousands`` between groups of 3 digits: ``79,543.5``."""
    t, d = re.escape(thousands), re.escape(decimal)
    return re.compile(rf"^[+-]?\d{{1,3}}(?:{t}\d{{3}})+(?:{d}\d*)?$")


@dataclass
class CsvOptions:
    """How to read a CSV file (the command line's data options)."""

    label_column: str | None = None
    sep: str | None = None
    decimal: str = "."
    thousands: str | None = None
    encoding: str = "utf-8"
    drop: tuple[str, ...] = ()
    keep_index: bool = False


@dataclass
class Dataset:
    """Features, targets and, for a CSV file, where each row came from.

    ``X`` holds floats, or objects (floats and strings) when some feature
    columns are text; ``text_columns`` maps each text column's name to its
    number of categories, in the order of the features. ``frame_names`` are
    the features' names as ``pandas.read_csv`` reads the header (spaces kept,
    ``Unnamed: N`` for an empty cell): the saved model's, so that it takes
    the frame pandas reads. ``notes`` are what the command line tells the
    user about how it read the file.
    """

    name: str
    X: np.ndarray
    y: np.ndarray
    feature_names: list[str] | None = None
    label: str | None = None
    lines: list[int] | None = None
    text_columns: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    frame_names: list[str] | None = None

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


def _records(
    path: str, text: str, sep: str
) -> tuple[list[tuple[int, list[str]]], list[str]]:
    """``(line number, cells)`` of each non-blank row, cells stripped; and the
    first row's cells as they are (pandas keeps their spaces in its names).

    A row is blank when every cell of it is empty: an empty line, or a line
    of separators only (``,,,,``), as spreadsheets write for an empty row.
    """
    reader = csv.reader(io.StringIO(text), delimiter=sep)
    records, first = [], []
    try:
        for row in reader:
            cells = [cell.strip() for cell in row]
            if any(cells):
                if not records:
                    first = list(row)
                records.append((reader.line_num, cells))
    except csv.Error as exc:
        raise UsageError(f"{path} line {reader.line_num}: {exc}") from exc
    return records, first


def is_number(text: str, decimal: str = ".", thousands: str | None = None) -> bool:
    """Whether ``text`` is a finite number written with ``decimal``."""
    value = to_float(text, decimal, thousands)
    return value is not None and math.isfinite(value)


def to_float(
    text: str, decimal: str = ".", thousands: str | None = None
) -> float | None:
    """``text`` as a float (maybe inf or nan), or None if it is no number.

    ``thousands``, if given, is removed first (``79,543`` is 79543, as
    pandas' ``thousands=`` reads it). With a decimal mark other than ``.``,
    a ``.`` left in ``text`` makes it no number: ``1.234,5`` has thousands
    separators, read only with ``thousands="."``.
    """
    if thousands is not None and thousands in text:
        text = text.replace(thousands, "")
    if decimal != ".":
        if "." in text:
            return None
        text = text.replace(decimal, ".", 1)
    try:
        return float(text)
    except ValueError:
        return None


def _number_options(cells: list[str], decimal: str, thousands: str | None) -> list[str]:
    """The options that would read most of ``cells`` as numbers.

    ``--decimal ,`` for ``5,1``; ``--thousands ,`` for ``79,543`` or
    ``1,234,567.5``; both for ``79,543``, which may be either; and
    ``--thousands .`` for ``1.234,5`` with ``--decimal ,``. An option is
    named when at least half of the cells have its shape.
    """
    shapes = {}
    if "," not in (decimal, thousands):
        shapes["--decimal ,"] = _DECIMAL_COMMA
        shapes["--thousands ,"] = _grouped(",", decimal)
    if decimal == "," and thousands != ".":
        shapes["--thousands ."] = _grouped(".", decimal)
    return [
        option
        for option, shape in shapes.items()
        if cells and 2 * sum(bool(shape.match(cell)) for cell in cells) >= len(cells)
    ]


def _number_hint(cell: str, options: list[str], sep: str | None) -> str:
    """Why ``cell`` looks like a number, and the options that would read it."""
    if options == ["--decimal ,"]:
        hint = (
            f'"{cell}" looks like a number with a decimal comma; give --decimal , '
            "to read it as one"
        )
    elif options == ["--decimal ,", "--thousands ,"]:
        hint = (
            f'"{cell}" looks like a number with a comma: give --thousands , if it '
            "separates thousands, or --decimal , if it is a decimal comma"
        )
    else:
        mark = options[0][-1]
        hint = (
            f'"{cell}" looks like a number with "{mark}" between thousands; give '
            f"--thousands {mark} to read it as one"
        )
    if "--decimal ," in options and sep == ",":
        hint += (
            " (a decimal comma needs another separator than the comma: save the "
            "file separated by ';')"
        )
    return hint


def not_a_number(cell: str, decimal: str = ".", thousands: str | None = None) -> str:
    """Why ``cell`` is not a finite number, e.g. ``"abc" is not a number``."""
    problem, hint = _not_a_number(cell, decimal, thousands)
    return f"{problem}; {hint}" if hint else problem


def _not_a_number(cell: str, decimal: str, thousands: str | None) -> tuple[str, str]:
    """:func:`not_a_number`'s reason, and the option that would read the
    cell as a number, if one would ("" otherwise)."""
    if not cell:
        return "empty cell", ""
    shown = cell.replace("\r", "\\r").replace("\n", "\\n")  # one line
    if to_float(cell, decimal, thousands) is None:
        mark = "" if decimal == "." else f' with --decimal "{decimal}"'
        hint = ""
        for option in _number_options([cell], decimal, thousands):
            if option.startswith("--thousands"):
                hint = f'give {option} if "{option[-1]}" separates thousands'
        return f'"{shown}" is not a number{mark}', hint
    return f'"{shown}" is not a finite number', ""


def column_names(header: list[str]) -> list[str]:
    """The columns' names: the header's cells, ``Unnamed: N`` for an empty one.

    pandas' names: an empty header cell in column ``N`` (counted from 0) is
    ``Unnamed: N``, or ``Unnamed: N.1`` when another column already has that
    name (a frame read back with its index and written again).

    Examples
    --------
    >>> column_names(["", "Unnamed: 0", "age"])
    ['Unnamed: 0.1', 'Unnamed: 0', 'age']
    """
    names = list(header)
    for j, cell in enumerate(header):
        if not cell:
            name, k = f"Unnamed: {j}", 0
            while name in names:
                k += 1
                name = f"Unnamed: {j}.{k}"
            names[j] = name
    return names


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
    # Empty cells are told apart by their position (Unnamed: N).
    duplicates = sorted({name for name in header if name and header.count(name) > 1})
    if duplicates:
        raise UsageError(f'{path} line {line}: column "{duplicates[0]}" appears twice')


def _listed(header: list[str]) -> str:
    return ", ".join(f'"{name}"' for name in header)


#: How to name a column whose header is empty, for the messages about names.
UNNAMED_HINT = (
    'a column with an empty header is named as pandas names it, "Unnamed: N" '
    "for the N-th column counted from 0, e.g. --drop 'Unnamed: 0'"
)


def _column_index(path: str, names: list[str], name: str, option: str) -> int:
    if not name:
        raise UsageError(f"{option}: an empty column name; {UNNAMED_HINT}")
    if name not in names:
        raise UsageError(
            f'{option}: no column "{name}" in {path}; its columns are: {_listed(names)}'
        )
    return names.index(name)


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


def _whole(values: np.ndarray) -> bool:
    return bool(np.all(values == np.round(values)))


def _distinct(column: _Column) -> bool:
    values = column.values
    n_distinct = len(set(values)) if column.text else len(np.unique(values))
    return n_distinct == len(values)


def is_unnamed(name: str) -> bool:
    """Whether a header cell is empty or pandas' ``Unnamed: N``."""
    return bool(_UNNAMED.fullmatch(name))


def _index_order(values: np.ndarray) -> str:
    """How distinct whole numbers run: ``0..149, shuffled``."""
    low, high = int(values.min()), int(values.max())
    increasing = bool(np.all(np.diff(values) > 0))
    if high - low == len(values) - 1:
        order = "in order" if increasing else "shuffled"
    else:
        order = "increasing, with gaps" if increasing else "with gaps, in no order"
    return f"{low}..{high}, {order}"


def _index_note(column: _Column, n_rows: int, leading: bool) -> tuple[bool, str | None]:
    """Whether ``column`` is an index column to leave out, and a note or None.

    ``leading``: whether only unnamed columns come before it in the file.
    See the module docstring for the rule.
    """
    values = column.values
    shown = f'column {column.position + 1} ("{column.name}")'
    keep_it = "keep it as a feature with --keep-index"
    if leading and is_unnamed(column.name):
        # What pandas' to_csv writes in front: an index, its values distinct
        # (0..n-1, shuffled, or with the gaps train_test_split leaves).
        if n_rows < 2 or not _distinct(column):
            return False, None
        if column.text:
            what = "a distinct text in every row: row names (as R writes them)"
        elif _whole(values):
            what = (
                f"the distinct whole numbers {_index_order(values)}: a row index "
                "(as pandas writes one)"
            )
        else:
            what = "a distinct number in every row: a row index (as pandas writes one)"
        return True, f"{shown} is unnamed and holds {what}, left out ({keep_it})"
    if column.text or not looks_like_identifier(column.name):
        return False, None
    if not _whole(values):
        return False, None
    low, high = int(values.min()), int(values.max())
    if _distinct(column) and high - low == n_rows - 1:
        return True, (
            f"{shown} holds the consecutive whole numbers {low}..{high}: a row "
            f"identifier, left out ({keep_it})"
        )
    return False, (
        f"{shown} is named like an identifier, but its whole numbers "
        f"{low}..{high} are not {n_rows} consecutive ones: used as a feature "
        f"(leave it out with --drop {shlex.quote(column.name)})"
    )


@dataclass
class _BadCell:
    """A cell the file must fix: its line, its column and what is wrong."""

    line: int
    position: int
    column: str
    problem: str
    hint: str = ""  # an option that would read it
    droppable: bool = True  # (a feature: --drop leaves it out)


#: Bad cells one error message lists; it counts the others.
BAD_CELLS_LISTED = 5
#: Columns whose --drop the message suggests, at most (more would rather
#: say that the file needs fixing).
DROPS_SUGGESTED = 3


def _bad_cells_message(path: str, cells: list[_BadCell], n_features: int) -> str:
    """One line for every bad cell of the file, by line: the first
    ``BAD_CELLS_LISTED`` named, the rest counted, the options that would
    read them, and the columns a ``--drop`` would leave out (when that
    leaves features and every bad cell is a feature's)."""
    cells = sorted(cells, key=lambda cell: (cell.line, cell.position))
    drops = list(dict.fromkeys(shlex.quote(cell.column) for cell in cells))
    if (
        not all(cell.droppable for cell in cells)
        or len(drops) > DROPS_SUGGESTED
        or len(drops) >= n_features
    ):
        drops = []
    hints = list(dict.fromkeys(cell.hint for cell in cells if cell.hint))
    if len(cells) == 1:
        cell = cells[0]
        where = f'{path} line {cell.line}, column "{cell.column}": {cell.problem}'
        where += "".join(f"; {hint}" for hint in hints)
        fix = "fill it in" if "text column" in cell.problem else "fix the cell"
        if drops:
            fix += f", or leave the column out with --drop {drops[0]}"
        return f"{where} (nothing is imputed: {fix})" if cell.droppable else where
    listed = "; ".join(
        f'line {cell.line}, column "{cell.column}": {cell.problem}'
        for cell in cells[:BAD_CELLS_LISTED]
    )
    more = len(cells) - BAD_CELLS_LISTED
    if more > 0:
        listed += f"; and {more} more"
    advice = [hint[0].upper() + hint[1:] for hint in hints]
    fix = "Fix them"
    if drops:
        which = "its column" if len(drops) == 1 else "their columns"
        fix += f", or leave {which} out with " + " ".join(
            f"--drop {name}" for name in drops
        )
    advice.append(fix)
    return (
        f"{path}: {len(cells)} cells to fix (nothing is imputed): {listed}. "
        + ". ".join(advice)
        + "."
    )


def _read_column(
    path: str,
    names: list[str],
    body: list[tuple[int, list[str]]],
    position: int,
    options: CsvOptions,
    sep: str,
) -> tuple[_Column, list[_BadCell]]:
    """The feature column at ``position``, numeric or text (see module doc),
    and its bad cells (reported with every other column's)."""
    name = names[position]
    decimal, thousands = options.decimal, options.thousands
    cells = [row[position] for _, row in body]
    numbers = [to_float(cell, decimal, thousands) for cell in cells]
    n_numbers = sum(value is not None for value in numbers)
    n_filled = sum(bool(cell) for cell in cells)
    if n_filled and 2 * n_numbers >= n_filled:
        values = np.array([np.nan if v is None else v for v in numbers])
        bad = [
            _BadCell(
                body[i][0], position, name, *_not_a_number(cells[i], decimal, thousands)
            )
            for i in np.flatnonzero(~np.isfinite(values))
        ]
        return _Column(name, position, values, text=False), bad
    if not n_filled:
        raise UsageError(
            f'{path} column "{name}" is empty in every row; leave it out with '
            f"--drop {shlex.quote(name)}"
        )
    bad = [
        _BadCell(body[i][0], position, name, "empty cell in a text column")
        for i, cell in enumerate(cells)
        if not cell
    ]
    number_options = _number_options(cells, decimal, thousands)
    if number_options:
        shapes = [_DECIMAL_COMMA, _grouped(",", decimal), _grouped(".", decimal)]
        example = next(
            cell for cell in cells if any(shape.match(cell) for shape in shapes)
        )
        raise UsageError(
            f'{path} column "{name}": {_number_hint(example, number_options, sep)}'
        )
    return _Column(name, position, np.array(cells, dtype=object), text=True), bad


def _check_categories(path: str, column: _Column, n_rows: int) -> int:
    n_categories = len(set(column.values))
    limit = max(MIN_CATEGORIES_LIMIT, n_rows // 2)
    if n_categories > limit:
        raise UsageError(
            f'{path} column "{column.name}" is text with {n_categories} distinct '
            f"values in {n_rows} rows (free text or an identifier?): too many to "
            f"one-hot encode (at most max({MIN_CATEGORIES_LIMIT}, half the rows) "
            f"= {limit}); leave it out with --drop {shlex.quote(column.name)}"
        )
    return n_categories


def _label_values(cells: list[str], decimal: str, thousands: str | None) -> np.ndarray:
    """The label cells; their numbers written with ``.``, without thousands."""
    if decimal != "." or thousands is not None:
        rewritten = []
        for cell in cells:
            if to_float(cell, decimal, thousands) is not None:
                if thousands is not None:
                    cell = cell.replace(thousands, "")
                cell = cell.replace(decimal, ".", 1)
            rewritten.append(cell)
        cells = rewritten
    return np.array(cells)


def _drop_empty_last_columns(
    header: list[str], raw_header: list[str], body: list[tuple[int, list[str]]]
) -> int:
    """Remove, in place, last columns whose header and every cell are empty.

    What a spreadsheet writes when every line ends in the separator (Excel's
    ``a;b;c;``). Returns how many were removed.
    """
    removed = 0
    while (
        len(header) > 1
        and not header[-1]
        and all(len(row) == len(header) and not row[-1] for _, row in body)
    ):
        header.pop()
        del raw_header[len(header) :]
        for _, row in body:
            row.pop()
        removed += 1
    return removed


def _dropped_columns(
    path: str, names: list[str], drop: tuple[str, ...], label_index: int
) -> set[int]:
    """The positions of the ``drop`` columns (comma-separated names)."""
    dropped = set()
    for given in drop:
        # A comma-separated list, unless the whole text names a column.
        parts = [given] if given in names else [n.strip() for n in given.split(",")]
        for name in parts:
            j = _column_index(path, names, name, "--drop")
            if j == label_index:
                raise UsageError(
                    f'--drop {shlex.quote(name)}: "{name}" is the label column; '
                    "choose another with --label-column"
                )
            dropped.add(j)
    return dropped


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
        Label column, separator, decimal mark, thousands separator, encoding,
        columns to drop, whether to keep index columns.
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
    header, raw_header, body, notes = _table(path, text, sep, options.decimal)
    names = column_names(header)
    # As pandas.read_csv names them: a header cell as it is, spaces kept;
    # only an empty one is "Unnamed: N".
    frame_names = [raw or name for raw, name in zip(raw_header, names)]
    label = names[-1] if options.label_column is None else options.label_column
    label_index = _column_index(path, names, label, "--label-column")
    dropped = _dropped_columns(path, names, options.drop, label_index)
    kept = [j for j in range(len(names)) if j != label_index and j not in dropped]
    if not kept:
        raise UsageError(f"{path}: no feature column is left after --drop")
    features, bad = _feature_columns(
        path, header, names, body, kept, options, sep, notes
    )
    label_cells = [row[label_index] for _, row in body]
    bad += [
        _BadCell(line, label_index, label, "empty cell", droppable=False)
        for (line, _), cell in zip(body, label_cells)
        if not cell
    ]
    if bad:
        raise UsageError(_bad_cells_message(path, bad, len(features)))
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
        _label_values(label_cells, options.decimal, options.thousands),
        [column.name for column in features],
        label,
        [line for line, _ in body],
        text_columns,
        notes,
        [frame_names[column.position] for column in features],
    )


def _table(path: str, text: str, sep: str, decimal: str):
    """The header (stripped and as written), the data rows with their line
    numbers, and the notes on what was ignored; rows of another length are
    refused."""
    records, raw_header = _records(path, text, sep)
    if not records:
        raise UsageError(f"{path} is empty; it needs a header row and data rows")
    (header_line, header), body = records[0], records[1:]
    notes = []
    ignored = _drop_empty_last_columns(header, raw_header, body)
    if ignored:
        which = "column has" if ignored == 1 else f"{ignored} columns have"
        notes.append(
            f"the last {which} no header and no value (every line ends in "
            f'"{sep}"): ignored'
        )
    _check_header(path, header_line, header, decimal)
    if not body:
        raise UsageError(f"{path} has a header row but no data rows")
    for line, row in body:
        if len(row) != len(header):
            raise UsageError(
                f"{path} line {line}: {len(row)} cells, but the header names "
                f"{len(header)} columns"
            )
    return header, raw_header, body, notes


def _feature_columns(
    path, header, names, body, kept, options, sep, notes
) -> tuple[list, list[_BadCell]]:
    """The columns ``kept`` read, less index columns (each noted in
    ``notes``), and their bad cells."""
    features, bad = [], []
    for j in kept:
        column, column_bad = _read_column(path, names, body, j, options, sep)
        bad += column_bad
        # Only unnamed columns before it in the file: it may be an index.
        leading = all(not cell or is_unnamed(cell) for cell in header[: j + 1])
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
    return features, bad
