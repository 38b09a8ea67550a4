"""Reading one CSV file: encoding, header, and rows numbered by file line.

Shared by the rollsync CSV importer and the OneRoster and SDS bundles.
Headers are matched trimmed and case-insensitively; row numbers are the line
in the file where the row starts (the header is line 1, so the first data row
is normally 2), which is what a school admin sees in a text editor or Excel.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from itertools import chain
from typing import Protocol

from rollsync.domain.records import RowError

from .errors import FileRejected
from .values import strip


def bom_but_not_utf8(what: str, data: bytes, exc: UnicodeDecodeError) -> str:
    """Why a file that says it is UTF-8 (a byte order mark) but is not cannot be read.
    (`exc` comes from decoding without the mark: its positions start after it.)"""
    at = exc.start + len(codecs.BOM_UTF8)
    line = data.count(b"\n", 0, at) + 1
    return (
        f"{what} starts with a UTF-8 byte order mark but is not UTF-8: byte "
        f"0x{data[at]:02X} on line {line} is not UTF-8 text (the file looks like "
        "Windows-1252 or Latin-1 saved with a UTF-8 mark); save it again as CSV UTF-8"
    )


def decode_text(data: bytes, *, source: str | None = None) -> str:
    """UTF-8 (with or without a byte order mark), else Windows-1252, else refuse."""
    what = source or "the file"
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if data.startswith(codecs.BOM_UTF8):
            raise FileRejected(bom_but_not_utf8(what, data, exc), source=source) from None
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            raise FileRejected(
                f"{what} is neither UTF-8 nor Windows-1252 (cp1252) text: save it as CSV UTF-8",
                source=source,
            ) from None
    _refuse_nul(text, source=source)
    return text


def _refuse_nul(text: str, *, source: str | None) -> None:
    if "\x00" in text:
        raise FileRejected(
            f"{source or 'the file'} contains NUL characters: it looks like a spreadsheet "
            "or UTF-16 file, not CSV text; save it as CSV UTF-8",
            source=source,
        )


class CsvRow:
    """One row: the line where it starts in the file (header = line 1), and its values
    (trimmed) by header key (trimmed, lower case).

    Compact: the row's cells as a tuple, and the table's one index of header key ->
    cell, shared by all its rows (a dict per row cost more than the values in it)."""

    __slots__ = ("_index", "cells", "line")

    def __init__(self, line: int, values: Mapping[str, str]) -> None:
        self.line = line
        self._index = {key: i for i, key in enumerate(values)}
        self.cells: tuple[str, ...] = tuple(values.values())

    @classmethod
    def of_cells(cls, line: int, cells: tuple[str, ...], index: dict[str, int]) -> CsvRow:
        """A row of a table: `index` gives each header key's cell (every one present)."""
        row = cls.__new__(cls)
        row.line, row.cells, row._index = line, cells, index
        return row

    def get(self, key: str) -> str:
        i = self._index.get(key)
        return "" if i is None else self.cells[i]

    def keys(self) -> tuple[str, ...]:
        """The header keys of the row's cells, in the file's order."""
        return tuple(self._index)

    def items(self) -> Iterator[tuple[str, str]]:
        """(header key, value) for every named column, in the file's order."""
        cells = self.cells
        return ((key, cells[i]) for key, i in self._index.items())

    @property
    def values(self) -> dict[str, str]:
        return dict(self.items())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CsvRow):
            return NotImplemented
        return self.line == other.line and self.values == other.values

    __hash__ = None  # type: ignore[assignment]  # mutable, as the dataclass it replaces

    def __repr__(self) -> str:
        return f"CsvRow(line={self.line}, values={self.values!r})"


class _LineReader(Protocol):
    """What the csv module's reader offers: rows, and the lines read so far."""

    line_num: int

    def __iter__(self) -> Iterator[list[str]]: ...
    def __next__(self) -> list[str]: ...


@dataclass
class CsvTable:
    """A CSV file whose header has been read; rows are read as they are iterated."""

    source: str | None
    labels: dict[str, str]  # header key -> header as written
    positions: list[tuple[int, str]]  # (cell index, header key) for each named column
    width: int  # cells in the header row, named or not
    _reader: _LineReader
    ends_with_newline: bool = True
    # The file stops inside a quoted value: a quote mark opened its last row's last
    # value and none closed it (set as the rows are read; see `__iter__`).
    open_quote_at_end: bool = False
    errors: list[RowError] = field(default_factory=list)
    rows_read: int = 0
    # Rows skipped (and reported) for holding more or fewer values than the header,
    # with what their columns hold as the row stands: an importer may still read an
    # ID there (the person is listed, so must not look like a leaver).
    misshapen: list[CsvRow] = field(default_factory=list)
    # The line of a row after which the file is no full list of anybody: a last row
    # that is short and has no line end (the file was cut off mid-row), a value whose
    # quote never closes (the rest of the file reads as that value), or a quoted value
    # running over line ends in a row of the wrong shape (the quote marks do not pair
    # up, so rows may be hidden inside it).
    cut_short_at: int | None = None
    # The file's line number of each line the reader reads (1-based: line k of the text
    # read is line `renumber[k - 1]` of the file), when only some of its lines are read
    # (`read_table(..., lines=...)`); None: the text is the whole file.
    renumber: list[int] | None = None

    # Header key -> its cell, shared by every row (`CsvRow`).
    _index: dict[str, int] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._index = {key: i for i, key in self.positions}

    def has(self, key: str) -> bool:
        return key in self.labels

    def label(self, key: str) -> str:
        """The column name as the file writes it (for messages)."""
        return self.labels.get(key, key)

    def require(self, *names: str) -> None:
        """Refuse the file if any mandatory column is missing, naming them all
        (as the format's specification spells them)."""
        missing = [name for name in names if name.casefold() not in self.labels]
        if missing:
            what = self.source or "the file"
            noun = "column" if len(missing) == 1 else "columns"
            raise FileRejected(
                f"{what} has no {', '.join(missing)} {noun}, which rollsync needs",
                field=missing[0],
                source=self.source,
            )

    @property
    def cut_short(self) -> bool:
        return self.cut_short_at is not None

    def __iter__(self) -> Iterator[CsvRow]:
        next_start = self._reader.line_num + 1
        try:
            pending: tuple[int, int, list[str]] | None = None
            for record in self._reader:
                start, next_start = next_start, self._reader.line_num + 1
                # Blank when every cell is (white space at most): then so is their
                # concatenation, and only then. (A first cell that starts with a letter
                # or digit is not blank: most rows, told at once.)
                if not (record and record[0][:1].isalnum()):
                    if record == _END_RECORD:
                        break  # the text ended outside any quoted value
                    if not strip("".join(record)):
                        continue  # a blank line is not a row
                if pending is not None:
                    row = self._row(*pending, last=False)
                    if row is not None:
                        yield row
                pending = (start, next_start - 1, record)
            if pending is not None:
                start, end, record = pending
                if record[-1].endswith(_END):
                    # The end mark was read into the last value: its quote never closed.
                    self.open_quote_at_end = True
                    record[-1] = record[-1][: -len(_END)]
                    end -= 1
                row = self._row(start, end, record, last=True)
                if row is not None:
                    yield row
        except csv.Error as exc:
            raise FileRejected(
                f"{self.source or 'the file'} is not valid CSV near line "
                f"{self._reader.line_num}: {exc}",
                source=self.source,
            ) from None

    def _row(self, start: int, end: int, record: list[str], *, last: bool) -> CsvRow | None:
        """The row read from text lines `start` to `end`, or None when its shape is
        wrong (reported, and kept in `misshapen`)."""
        self.rows_read += 1
        line = start if self.renumber is None else self.renumber[start - 1]
        if self._overflows(record):
            self.errors.append(self._overflow_error(line, len(record)))
            self.misshapen.append(self._values(line, record))
            if end > start:
                self._quotes_unpaired(line, end, record)
            return None
        if last and self.open_quote_at_end:
            self.cut_short_at = line
            if end > start or self.ends_with_newline:
                self._quote_never_closes(line, start, end, record)
            else:
                self._ends_mid_row(line)
            self.misshapen.append(self._values(line, record))
            return None
        if len(record) < self.width:
            if last and not self.ends_with_newline:
                self.cut_short_at = line
                self._ends_mid_row(line)
            else:
                self.errors.append(
                    RowError(
                        line,
                        None,
                        f"this row has {len(record)} values but the header has {self.width} "
                        "columns: it is cut short; the row was skipped",
                        self.source,
                    )
                )
                if end > start:
                    self._quotes_unpaired(line, end, record)
            self.misshapen.append(self._values(line, record))
            return None
        if end > start and self._holds_a_row(record):
            self._row_inside_a_value(line, record)
            self.misshapen.append(self._values(line, record))
            return None
        return self._values(line, record)

    def _holds_a_row(self, record: list[str]) -> bool:
        """Whether a line the row's quoted value ran over has the header's commas: a row
        of its own, read into the value. Two stray quote marks in one column of two
        rows (`1,Ann,",a@x` then `2,Bob,",b@x`) pair up and keep the shape: read as
        it stands, Ann's row took Bob's email and Bob was gone, without a word. An
        address over two lines has a comma or two on its second. (Only a row read over
        several lines is looked at.)"""
        lines = ",".join(record[_ran_on(record) :]).splitlines()[1:]
        return any(line.count(",") >= self.width - 1 for line in lines)

    def _ends_mid_row(self, line: int) -> None:
        self.errors.append(
            RowError(
                line,
                None,
                f"the file ends mid-row at line {line}: it looks cut short, so nobody "
                "is treated as having left; the row was skipped",
                self.source,
            )
        )

    def _last_line(self, end: int) -> int:
        return end if self.renumber is None else self.renumber[end - 1]

    def _column(self, at: int) -> tuple[str | None, str]:
        """Cell `at`'s header as written (None if that column has no name), and the
        column in words."""
        key = next((key for i, key in self.positions if i == at), None)
        column = None if key is None else self.labels[key]
        return column, f"the {column} column" if column else f"column {at + 1}"

    def _quote_never_closes(self, line: int, start: int, end: int, record: list[str]) -> None:
        column, named = self._column(len(record) - 1)
        lines = f"lines {line}-{self._last_line(end)}" if end > start else f"line {line}"
        self.errors.append(
            RowError(
                line,
                column,
                f"a quote mark opens the value in {named} at line {line} and never closes, "
                f"so the rest of the file ({lines}) reads as that one value: a stray quote "
                "mark or a file cut short; any rows there are hidden, so nobody is treated "
                "as having left; the row was skipped",
                self.source,
            )
        )

    def _quotes_unpaired(self, line: int, end: int, record: list[str]) -> None:
        """A misshapen row read over several lines: a quoted value ran on past its line
        (a stray quote mark)."""
        self._value_ran_on(
            line,
            record,
            f"runs on to line {self._last_line(end)}: its quote marks do not pair up (a "
            "stray quote mark?), so rows may be hidden inside it and nobody is treated as "
            "having left",
        )

    def _row_inside_a_value(self, line: int, record: list[str]) -> None:
        """A row read into a quoted value (`_holds_a_row`): skipped, since its values may
        be another person's."""
        self._value_ran_on(
            line,
            record,
            "runs on over a line that reads as a row of its own (a stray quote mark?): the "
            "row was skipped, since its values may be another row's, and nobody is "
            "treated as having left",
        )

    def _value_ran_on(self, line: int, record: list[str], why: str) -> None:
        """Report the row's quoted value that ran over line ends (`why`): the file is no
        full list of anybody (`cut_short_at`)."""
        if self.cut_short_at is None:
            self.cut_short_at = line
        column, named = self._column(_ran_on(record))
        message = f"the quoted value in {named} at line {line} {why}"
        self.errors.append(RowError(line, column, message, self.source))

    def _values(self, line: int, record: list[str]) -> CsvRow:
        size = len(record)
        if size >= self.width:
            joined = "".join(record)
            # Only the space is white space in a printable cell (see `values.strip`),
            # so a cell needs trimming only if it starts or ends with one.
            if joined.isprintable():
                if " " in joined:
                    marked = "\x00".join(record)
                    edged = " \x00" in marked or "\x00 " in marked
                    if edged or marked[:1] == " " or marked[-1:] == " ":
                        return CsvRow.of_cells(
                            line, tuple([cell.strip(" ") for cell in record]), self._index
                        )
                return CsvRow.of_cells(line, tuple(record), self._index)
        cells = tuple([strip(cell) for cell in record] + [""] * (self.width - size))
        return CsvRow.of_cells(line, cells, self._index)

    def _overflows(self, record: list[str]) -> bool:
        return len(record) > self.width and any(cell.strip() for cell in record[self.width :])

    def _overflow_error(self, line: int, cells: int) -> RowError:
        return RowError(
            line,
            None,
            f"this row has {cells} values but the header has only {self.width} columns "
            "(an unquoted comma?); the row was skipped",
            self.source,
        )


# One line as `io.StringIO(text, newline="")` reads it: up to and with its end (\n, \r
# or \r\n), or the last one without an end.
_LINE = re.compile(r"[^\r\n]*(?:\r\n?|\n)|[^\r\n]+")


def _ran_on(record: list[str]) -> int:
    """The first cell holding a line end: the quoted value that ran over lines."""
    return next((i for i, cell in enumerate(record) if "\n" in cell or "\r" in cell), 0)


# A last line after the text's own: read as a row of its own when the text ends
# outside any quoted value, and into the last value when a quote there never closed
# (the csv module reads to the end without a word, strict or not). The text holds no
# NUL (`read_table` refuses one), so nothing else reads as it.
_END = "\x00\n"
_END_RECORD = ["\x00"]


def _lines(text: str) -> Iterator[str]:
    """The text's lines, one at a time. (A StringIO would copy the text into a buffer
    of four bytes a character and keep it as long as the table lives; this holds the
    text only until the last line is read.)"""
    for found in _LINE.finditer(text):
        yield found.group()


def read_table(
    data: bytes | str, *, source: str | None = None, renumber: list[int] | None = None
) -> CsvTable:
    """Decode `data` and read its header; refuse an empty file or a repeated column.
    `renumber`: `data` holds only some of the file's lines, each a whole row, and these
    are their line numbers in the file (the header's first), for the rows' numbers."""
    if isinstance(data, str):
        _refuse_nul(data, source=source)  # `_END` must read as nothing in the text
        text = data
    else:
        text = decode_text(data, source=source)
    reader = csv.reader(chain(_lines(text), (_END,)), strict=False)
    what = source or "the file"
    try:
        header = next(reader)  # never exhausted: `_END` at least is a row
    except csv.Error as exc:
        raise FileRejected(f"{what} is not valid CSV: {exc}", source=source) from None
    if header == _END_RECORD or not any(cell.strip() for cell in header):
        raise FileRejected(f"{what} is empty: the first line must be the header row", source=source)
    if header[-1].endswith(_END):
        raise FileRejected(
            f"{what} is not valid CSV: a quote mark in its header row opens a value that "
            "never closes",
            source=source,
        )
    labels: dict[str, str] = {}
    positions: list[tuple[int, str]] = []
    for index, cell in enumerate(header):
        written = cell.replace("\ufeff", "").strip()
        key = written.casefold()
        if not key:
            continue
        if key in labels:
            raise FileRejected(
                f"{what} has the column {written} twice", field=written, source=source
            )
        labels[key] = written
        positions.append((index, key))
    return CsvTable(
        source,
        labels,
        positions,
        len(header),
        reader,
        ends_with_newline=text.endswith(("\n", "\r")),
        renumber=renumber,
    )
