"""The format registry: which reader reads which upload format.

Every format reader turns one upload's bytes into one `ImportBatch` for one school.
The four standard-file formats register themselves in `rollsync.ingest`; a new
format adds its reader with `register` and is then reachable through `parse_upload`
like the others. The registry is the one list of formats: the command's `--format`,
the web upload form, the web pages' labels and the JSON API's `Format` are built from
`registered_formats()` and each reader's `label`.
"""

from __future__ import annotations

from datetime import date
from typing import Protocol

from rollsync.domain.records import ImportBatch
from rollsync.domain.state import SchoolRef


class FormatReader(Protocol):
    """Reads one file format. `parse` never raises for bad input: a refused file is a
    batch whose errors include one with row=None (see `ImportBatch.fatal`)."""

    @property
    def format(self) -> str:
        """The format's name: what `--format`, the upload form and the API take."""
        ...

    @property
    def label(self) -> str:
        """The format's name in a school admin's words."""
        ...

    @property
    def needs_report(self) -> bool:
        """Whether the caller must say which report the upload carries."""
        ...

    def parse(
        self, payload: bytes, *, school: SchoolRef, report: str | None, today: date | None = None
    ) -> ImportBatch:
        """`today` is the date dates of birth are checked against (None: the real date)."""
        ...


_READERS: dict[str, FormatReader] = {}


def register(reader: FormatReader) -> FormatReader:
    """Add a format reader; a format can be registered once."""
    if reader.format in _READERS:
        raise ValueError(f"format {reader.format!r} is already registered")
    _READERS[reader.format] = reader
    return reader


def reader_for(fmt: str) -> FormatReader:
    try:
        return _READERS[fmt]
    except KeyError:
        known = ", ".join(_READERS)
        raise ValueError(f"unknown upload format {fmt!r}; known formats: {known}") from None


def registered_formats() -> tuple[str, ...]:
    """The registered formats' names, in registration order."""
    return tuple(_READERS)


def format_label(fmt: str) -> str:
    """A registered format's label (the name itself for one not registered)."""
    reader = _READERS.get(fmt)
    return reader.label if reader is not None else fmt
