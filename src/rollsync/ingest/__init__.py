"""Importers: one uploaded file in, one `ImportBatch` of canonical records out.

Pure Python (no Django), so parsing is fast and testable alone. Each format has
a reader in a small registry (`registry.register`), reached through
`parse_upload`. Bad rows become `RowError`s and are skipped; a file that cannot
be used at all gives a batch with one whole-file error (row None) and no
records (`batch.fatal`). The formats are specified in docs/formats/.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from rollsync.domain.limits import MAX_UPLOAD_BYTES
from rollsync.domain.records import ImportBatch
from rollsync.domain.reports import CATALOGUE
from rollsync.domain.state import SchoolRef

from .arbor_api import ArborApiReader
from .bundles import MAX_UNZIPPED_BYTES, bundle_folder
from .ctf import CtfReader
from .errors import FileRejected, rejected_batch
from .isams_api import IsamsApiReader
from .oneroster import OneRosterReader
from .registry import FormatReader, format_label, reader_for, register, registered_formats
from .rollsync_csv import RollsyncCsvReader
from .scholarpack_api import ScholarpackApiReader
from .sds import SdsReader
from .superstar import SuperStarReader
from .wonde_api import WondeApiReader

__all__ = [
    "FORMATS",
    "MAX_UNZIPPED_BYTES",
    "MAX_UPLOAD_BYTES",
    "PULLED_FORMATS",
    "FormatReader",
    "bundle_folder",
    "format_label",
    "parse_changed",
    "parse_upload",
    "reader_for",
    "reads_in_part",
    "register",
    "registered_formats",
]

for _reader in (
    CtfReader(),
    OneRosterReader(),
    SdsReader(),
    RollsyncCsvReader(),
    SuperStarReader(),
):
    register(_reader)

# The standard-file formats, as registered above (the one list; see `registry`): what a
# person may upload. The pulls from MIS APIs below are stored and read the same way, but
# only a connector makes them.
FORMATS = registered_formats()

for _pulled in (IsamsApiReader(), ArborApiReader(), WondeApiReader(), ScholarpackApiReader()):
    register(_pulled)

# The pulls' formats: stored as uploads by `services.connections` alone.
PULLED_FORMATS = tuple(f for f in registered_formats() if f not in FORMATS)


def parse_upload(
    payload: bytes,
    *,
    fmt: str,
    school: SchoolRef,
    report: str | None = None,
    today: date | None = None,
) -> ImportBatch:
    """Parse one upload for one school.

    `fmt` is a registered format (see FORMATS); `report` is a report code from
    `rollsync.domain.reports`, required for the formats of one report per file ("csv",
    "sims-superstar") and optional for the others, which say themselves which reports they carry.
    A wrong `fmt` or `report` is the caller's mistake and raises ValueError;
    anything wrong with the file itself comes back as errors in the batch.
    `today` is the date a date of birth may not be after (default: the real date).
    """
    reader = reader_for(fmt)
    if report is not None and report not in CATALOGUE:
        raise ValueError(f"unknown report {report!r}; known reports: {', '.join(CATALOGUE)}")
    if reader.needs_report and report is None:
        raise ValueError(f"a {fmt} upload needs its report: one of {', '.join(CATALOGUE)}")
    if len(payload) > MAX_UPLOAD_BYTES:
        return rejected_batch(
            fmt,
            FileRejected(
                f"the file is {len(payload) / (1024 * 1024):.0f} MiB; rollsync accepts uploads "
                f"of up to {MAX_UPLOAD_BYTES // (1024 * 1024)} MiB"
            ),
        )
    batch = reader.parse(payload, school=school, report=report, today=today)
    batch.source_label = reader.label
    return batch


def reads_in_part(fmt: str, report: str | None = None) -> bool:
    """Whether uploads of `fmt` (of `report`, for a format of one report per file) can
    be read in part (`parse_changed`)."""
    if fmt not in FORMATS:
        return False
    reader = reader_for(fmt)
    if not hasattr(reader, "parse_changed"):
        return False
    reports: frozenset[str] | None = getattr(reader, "reports_read_in_part", None)
    return reports is None or report in reports


def parse_changed(
    earlier: bytes,
    payload: bytes,
    *,
    fmt: str,
    school: SchoolRef,
    refused: Iterable[tuple[str | None, int]],
    also: Iterable[str] = (),
    listing: bytes | None = None,
    today: date | None = None,
    report: str | None = None,
) -> ImportBatch | None:
    """`payload` as a partial batch against `earlier`, an upload of the same school and
    format whose plan the directory stands on: only the people whose rows changed (and
    those the earlier run refused, `refused`, its row errors' (file, line); those named
    in `also`; and whoever they join to) are built, the rest are `unchanged_keys`. None
    when the format or the two files do not allow it: parse in full. `listing`: the
    `ImportBatch.listing` of a read of `earlier`, when kept (less to read). See
    `OneRosterReader.parse_changed`."""
    if not reads_in_part(fmt, report) or len(payload) > MAX_UPLOAD_BYTES:
        return None
    reader = reader_for(fmt)
    batch: ImportBatch | None = reader.parse_changed(  # type: ignore[attr-defined]
        earlier,
        payload,
        school=school,
        refused=refused,
        also=also,
        listing=listing,
        today=today,
        report=report,
    )
    if batch is not None:
        batch.source_label = reader.label
    return batch
