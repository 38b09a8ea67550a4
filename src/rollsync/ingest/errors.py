"""The two kinds of problem an importer meets.

`FileRejected` is a whole-file problem: the importer stops, and the batch it
returns has one error with row=None and no records at all. `BadValue` is one
bad value in one row: the caller turns it into a `RowError` and goes on.
"""

from __future__ import annotations

from rollsync.domain.records import ImportBatch, RowError
from rollsync.domain.sentences import sentence_case


class FileRejected(Exception):
    """The whole upload (or one file inside a bundle) cannot be used."""

    def __init__(self, message: str, *, field: str | None = None, source: str | None = None):
        message = sentence_case(message)  # read by a school admin as a sentence
        super().__init__(message)
        self.message = message
        self.field = field
        self.source = source


class BadValue(ValueError):
    """One value that cannot be read; `message` is written for a school admin."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class DamagedValue(BadValue):
    """A value no MIS writes (a control character, a digit from another script, a
    value far past its column's length): the sign of a damaged row, not a typo. The
    whole row is refused, since none of its values can be trusted; a typo (a date
    written the wrong way round) only makes that one value unknown."""


def rejected_batch(source_format: str, problem: FileRejected) -> ImportBatch:
    """A batch that says only why the file was refused: it carries no records."""
    return ImportBatch(
        source_format=source_format,
        reports=frozenset(),
        complete_for=frozenset(),
        errors=[RowError(None, problem.field, problem.message, problem.source)],
    )
