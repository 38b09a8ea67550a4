"""SIMS CommandReporter output ("SuperStarReport" XML), one report per document.

CommandReporter runs a report definition and writes

    <SuperStarReport><Record><ID>1234</ID><Legal_x0020_Surname>Smith</...></Record>...

with each field's caption as the element name, XmlConvert-escaped (`_x0020_` for a
space). rollsync ships the report definitions, so the captions are ours: `CAPTIONS`
is the one table per report of what each definition names its fields (matched
case-insensitively after decoding; a caption not in the table is ignored). A field
empty in a record is usually left out of it altogether (.NET writes no element for
a null), so a missing element reads as an empty value; an optional field no record
carries is unknown (the planner keeps what it holds), as a missing CSV column is.

The rows are then read by the rollsync CSV reader's rules (`rollsync_csv`): the same
value checks, messages, mandatory fields and completeness. Row numbers are record
numbers (the first <Record> is row 1). Differences:

- several record sets in one definition give a cross-product of rows: the same
  person repeated once per value of the multi-valued set. Rows of one ID that
  agree on identity are one person (the first row's other values are kept); rows
  that disagree are all refused, by the collector's rule (`collect.py`). Repeats
  of a whole group membership or attendance mark are dropped silently;
- `<CommandReporterError>` (SIMS's own error, written on stdout) refuses the
  document, quoting SIMS's words, even when it is not well-formed XML;
- dates are read as `2012-04-03T00:00:00` (xs:dateTime, any offset ignored) or
  UK style `03/04/2012`, with or without a time after it;
- UTF-16 with a byte order mark is read as well as UTF-8 (and undeclared
  Windows-1252, as for CTF);
- ID fields empty on every record refuse the document: SIMS leaves them empty when
  the SIMS user lacks the "Third Party Reporter" permission group.

Safety, as for CTF: a DOCTYPE or ENTITY declaration is refused before parsing
(XML bombs, external entities), and lxml never resolves entities, loads DTDs,
touches the network or accepts huge nodes.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Mapping
from datetime import date
from typing import Any

from lxml import etree

from rollsync.domain.records import ContactLink, ImportBatch, PersonRecord, Role
from rollsync.domain.reports import (
    ATTENDANCE,
    CATALOGUE,
    CONTACTS,
    GROUPS,
    STAFF,
    STAFF_FUTURE,
    STUDENTS,
    STUDENTS_FUTURE,
    ReportSpec,
)
from rollsync.domain.state import SchoolRef

from . import values as v
from .collect import BatchCollector
from .csvtable import CsvRow, CsvTable
from .ctf import SAFE_XML_OPTIONS, as_parseable
from .errors import FileRejected, rejected_batch
from .rollsync_csv import (
    CONTACT_PERSON_FIELDS,
    RowReader,
    complete_for,
    read_attendance,
    read_groups,
    read_people,
)

FORMAT = "sims-superstar"
ROOT = "SuperStarReport"
ERROR_ROOT = "CommandReporterError"
NO_PERMISSION = (
    "the SIMS user lacks the Third Party Reporter permission group, so SIMS leaves ID fields empty"
)

_STUDENT_CAPTIONS = {
    "ID": "mis_id",
    "UPN": "upn",
    "Legal Surname": "legal_family_name",
    "Legal Forename": "legal_given_name",
    "Preferred Forename": "preferred_given_name",
    "Preferred Surname": "preferred_family_name",
    "Middle Name(s)": "middle_names",
    "Date of Birth": "date_of_birth",
    "DOB": "date_of_birth",
    "Gender": "gender",
    "Admission Date": "start_date",
    "Leaving Date": "leaving_date",
    "Year": "year_group",
    "Reg Group": "registration_group",
    "Primary Email": "email",
    "Postcode": "postcode",
    "Address": "address",
}
_STAFF_CAPTIONS = {
    "ID": "mis_id",
    "Legal Surname": "legal_family_name",
    "Legal Forename": "legal_given_name",
    "Preferred Forename": "preferred_given_name",
    "Preferred Surname": "preferred_family_name",
    "Middle Name(s)": "middle_names",
    "Date of Birth": "date_of_birth",
    "DOB": "date_of_birth",
    "Gender": "gender",
    "Title": "title",
    "Staff Code": "staff_code",
    "Contract Start Date": "start_date",
    "Contract End Date": "leaving_date",
    "Primary Email": "email",
    "Phone": "phone",
    "Postcode": "postcode",
}
_CONTACT_CAPTIONS = {
    "ID": "mis_id",
    "Surname": "legal_family_name",
    "Forename": "legal_given_name",
    "Pupil ID": "pupil_mis_id",
    "Title": "title",
    "Priority": "priority",
    "Parental Responsibility": "parental_responsibility",
    "Relationship": "relationship",
    "Primary Email": "email",
    "Phone": "phone",
    "Postcode": "postcode",
    "Address": "address",
}
_GROUP_CAPTIONS = {
    "Group ID": "group_mis_id",
    "Group Name": "group_name",
    "Group Type": "group_kind",
    "Member Type": "person_role",
    "Member ID": "person_mis_id",
    "Membership": "membership_role",
}
_ATTENDANCE_CAPTIONS = {
    "Pupil ID": "pupil_mis_id",
    "Date": "date",
    "Session": "session",
    "Mark": "code",
}

# What rollsync's report definitions name each field (caption -> catalogue field).
CAPTIONS: Mapping[str, Mapping[str, str]] = {
    STUDENTS: _STUDENT_CAPTIONS,
    STUDENTS_FUTURE: _STUDENT_CAPTIONS,
    STAFF: _STAFF_CAPTIONS,
    STAFF_FUTURE: _STAFF_CAPTIONS,
    CONTACTS: _CONTACT_CAPTIONS,
    GROUPS: _GROUP_CAPTIONS,
    ATTENDANCE: _ATTENDANCE_CAPTIONS,
}

# The ID fields SIMS leaves empty without the Third Party Reporter permission.
_ID_FIELDS = frozenset(("mis_id", "pupil_mis_id", "person_mis_id"))

_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{8}|[0-9A-Fa-f]{4})_")
_UNSAFE = (b"<!DOCTYPE", b"<!ENTITY")
_ERROR_TAG = b"<CommandReporterError"
_DECLARATION = re.compile(r"^\ufeff?\s*<\?xml[^>]*\?>")
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
# A UK date with the time SIMS writes after it ("03/04/2012 00:00:00"): the date is kept.
_UK_WITH_TIME = re.compile(r"^([0-9]{1,2}/[0-9]{1,2}/[0-9]{4})[ T][0-9]{2}:[0-9]{2}(?::[0-9]{2})?$")
_DATE_FIELDS = frozenset(("date_of_birth", "start_date", "leaving_date", "date"))
_TAGS = re.compile(r"<[^>]*>")
_LONGEST_SIMS_MESSAGE = 500


def decode_caption(name: str) -> str:
    """An element name as the caption it stands for (XmlConvert.DecodeName):
    `Legal_x0020_Surname` -> "Legal Surname"."""

    def char(match: re.Match[str]) -> str:
        code = int(match[1], 16)
        return chr(code) if code <= 0x10FFFF else match[0]

    return _ESCAPE.sub(char, name)


class _RecordTable(CsvTable):
    """The document's records as the CSV reader's table: keys are catalogue fields."""

    def __init__(self, labels: dict[str, str], rows: list[CsvRow]) -> None:
        super().__init__(None, labels, [], len(labels), iter(()))  # type: ignore[arg-type]
        self._rows = rows
        self.rows_read = len(rows)

    def __iter__(self) -> Iterator[CsvRow]:
        return iter(self._rows)


class SuperStarReader:
    format = FORMAT
    label = "SIMS CommandReporter report"
    needs_report = True

    def parse(
        self,
        payload: bytes,
        *,
        school: SchoolRef,
        report: str | None,
        today: date | None = None,
    ) -> ImportBatch:
        out = BatchCollector(FORMAT, today=today)
        try:
            spec = _spec(report)
            table = _table(spec, _parseable(payload))
            _read_rows(spec, table, out)
        except FileRejected as problem:
            return rejected_batch(FORMAT, problem)
        out.rows_read = table.rows_read
        # One report is one full list of its role, even with no records (the
        # planner's guard then holds the run), as for a rollsync CSV.
        return out.build(
            reports={spec.code}, complete_for=complete_for(spec), complete_when_empty=True
        )


def _spec(report: str | None) -> ReportSpec:
    if report is None or report not in CAPTIONS:
        known = ", ".join(CAPTIONS)
        raise FileRejected(
            f"a SIMS CommandReporter report needs its report named: one of {known} (got {report!r})"
        )
    return CATALOGUE[report]


def _as_utf8(payload: bytes) -> bytes:
    """UTF-16 (with its byte order mark, as .NET may write it) as UTF-8, its XML
    declaration dropped, so that every check below reads the same bytes lxml does."""
    if not payload.startswith(_UTF16_BOMS):
        return payload
    try:
        text = payload.decode("utf-16")
    except UnicodeDecodeError:
        raise FileRejected("the file starts as UTF-16 text but is not UTF-16") from None
    return _DECLARATION.sub("", text, count=1).encode("utf-8")


def _parseable(payload: bytes) -> bytes:
    """The document as lxml is to read it, once the checks on its bytes pass."""
    payload = _as_utf8(payload)
    error_at = payload.find(_ERROR_TAG)
    report_at = payload.find(b"<" + ROOT.encode())
    if error_at >= 0 and (report_at < 0 or error_at < report_at):
        raise FileRejected(
            "SIMS CommandReporter reported an error instead of the report: "
            f"'{_sims_words(payload[error_at:])}'; nothing was imported"
        )
    if any(marker in payload.upper() for marker in _UNSAFE):
        raise FileRejected(
            "the file declares a DOCTYPE or ENTITY: a SIMS report never does, and rollsync "
            "refuses them because they can hide an XML bomb or read other files"
        )
    return as_parseable(payload)


def _records(data: bytes) -> Iterator[Any]:
    """Each Record element under the document's root, in order, while the document is
    read: a record is cleared once the caller has it, so the document never stands
    whole in memory (a 5,000-pupil school's Groups report, 12 MB, took 71 MB as a
    tree, and the first import's peak was 317 MB against goal 1's 200). The document is
    checked when it ends: a file that is not well-formed, or not a SIMS report, raises
    FileRejected then, whatever the records read before it held."""
    events = etree.iterparse(io.BytesIO(data), events=("end",), tag="{*}Record", **SAFE_XML_OPTIONS)
    try:
        for _, record in events:
            parent = record.getparent()
            if parent is None or parent.getparent() is not None:
                continue  # the root itself, or a Record inside a record's field
            yield record
            record.clear(keep_tail=False)
            while record.getprevious() is not None:
                del parent[0]
    except etree.XMLSyntaxError as exc:
        raise FileRejected(
            "the file is cut short or damaged: it is not complete, well-formed XML "
            f"({exc}); nothing in it was used"
        ) from None
    root = events.root
    if root is None:
        raise FileRejected("the file holds no XML elements")
    if root.getroottree().docinfo.doctype:
        raise FileRejected("the file declares a DOCTYPE: a SIMS report never does")
    name = etree.QName(root).localname
    if name != ROOT:
        raise FileRejected(
            f"the file is XML but not a SIMS CommandReporter report: its root element is "
            f"<{v.clean(name)[:40]}>, not <{ROOT}>; nothing in it was used"
        )


def _sims_words(payload: bytes) -> str:
    text = payload.decode("utf-8", errors="replace")
    words = v.clean(re.sub(r"\s+", " ", _TAGS.sub(" ", text)))
    words = re.sub(r"[\x00-\x1f\x7f-\x9f]", "?", words)
    if len(words) > _LONGEST_SIMS_MESSAGE:
        words = words[:_LONGEST_SIMS_MESSAGE] + "..."
    return words or "(no message)"


def _table(spec: ReportSpec, data: bytes) -> _RecordTable:
    """The document's records as a table. A record that names a field twice refuses
    the document, once the whole document has been found well-formed (`_records`)."""
    by_caption = {c.casefold(): f for c, f in CAPTIONS[spec.code].items()}
    labels: dict[str, str] = {}
    rows: list[CsvRow] = []
    # What an element's tag stands for, worked out once per tag (a report repeats a
    # dozen tags over every record): the field and its caption, or None for a field
    # rollsync's definition does not have. Decoded per element, a 5,000-pupil Students
    # report spent a third of its read on 80,000 names (docs/performance.md).
    fields_of: dict[str, tuple[str, str] | None] = {}
    indexes: dict[tuple[str, ...], dict[str, int]] = {}  # one per set of fields read
    refused: FileRejected | None = None
    # One string for each value, however many records repeat it: a Groups report gives
    # a group's ID, name and type, and a pupil's ID, on each of 47,000 memberships.
    texts: dict[str, str] = {}
    for number, record in enumerate(_records(data), start=1):
        if refused is not None:
            continue
        values: dict[str, str] = {}
        written: dict[str, str] = {}  # field -> caption, in this record
        for element in record:
            tag = element.tag
            if not isinstance(tag, str):
                continue
            if tag in fields_of:
                found = fields_of[tag]
            else:
                # The local name, from the tag as text: a tag whose prefix no namespace
                # declares ("a:b") is no QName, and the document is refused at its end.
                caption = v.clean(decode_caption(tag.rpartition("}")[2]))
                field = by_caption.get(caption.casefold())
                found = fields_of[tag] = None if field is None else (field, caption)
            if found is None:
                continue
            field, caption = found
            if field in written:
                refused = FileRejected(
                    f"record {number} gives one field twice, as {written[field]} and as "
                    f"{caption}: each field must be in the report definition once",
                    field=caption,
                )
                break
            written[field] = caption
            if field not in labels:
                labels[field] = caption
            # An element holding only text (every one SIMS writes) is its text; one with
            # children (comments, markup) reads as all the text inside it.
            text = element.text if len(element) == 0 else "".join(element.itertext())
            value = v.strip(text) if text else ""
            if field in _DATE_FIELDS and (uk := _UK_WITH_TIME.match(value)):
                value = uk[1]
            values[field] = texts.setdefault(value, value)
        keys = tuple(values)
        index = indexes.get(keys)
        if index is None:
            index = indexes[keys] = {key: i for i, key in enumerate(keys)}
        rows.append(CsvRow.of_cells(number, tuple(values.values()), index))
    if refused is not None:
        raise refused
    # A mandatory field is always read (empty where a record leaves it out); an
    # optional one no record carries is unknown.
    caption_of = {f: c for c, f in reversed(list(CAPTIONS[spec.code].items()))}
    for name in spec.mandatory_fields:
        labels.setdefault(name, caption_of[name])
    _check_ids(spec, rows, labels)
    return _RecordTable(labels, rows)


def _check_ids(spec: ReportSpec, rows: list[CsvRow], labels: Mapping[str, str]) -> None:
    if not rows:
        return
    for name in spec.mandatory_fields:
        if name in _ID_FIELDS and not any(row.get(name) for row in rows):
            raise FileRejected(
                f"{labels[name]} is empty in every record: {NO_PERMISSION}; add the user to "
                "that group in SIMS and run the report again. Nothing was imported",
                field=labels[name],
            )


def _read_rows(spec: ReportSpec, table: _RecordTable, out: BatchCollector) -> None:
    reader = RowReader(spec, table, out)
    if spec.code == CONTACTS:
        _read_contacts(table, reader, out)
    elif spec.code == GROUPS:
        read_groups(_distinct(table), reader, out)
    elif spec.code == ATTENDANCE:
        read_attendance(_distinct(table), reader, out)
    else:
        read_people(spec, table, reader, out, repeats=True)


def _distinct(table: _RecordTable) -> _RecordTable:
    """The table without rows that repeat an earlier one exactly (a cross-product):
    the same fields, in any order, with the same values."""
    seen: set[tuple[tuple[str, ...], tuple[str, ...]]] = set()
    kept: list[CsvRow] = []
    # Per order of fields a record gives: the fields sorted, and where each one's cell is.
    sorted_by: dict[tuple[str, ...], tuple[tuple[str, ...], tuple[int, ...]]] = {}
    for row in table:
        keys = row.keys()
        if keys not in sorted_by:
            names = tuple(sorted(keys))
            sorted_by[keys] = (names, tuple(keys.index(name) for name in names))
        names, at = sorted_by[keys]
        cells = row.cells
        key = (names, tuple(cells[i] for i in at) if names != keys else cells)
        if key not in seen:
            seen.add(key)
            kept.append(row)
    distinct = _RecordTable(table.labels, kept)
    distinct.rows_read = table.rows_read
    return distinct


def _read_contacts(table: _RecordTable, reader: RowReader, out: BatchCollector) -> None:
    """One record per contact-pupil link (more in a cross-product); the first row of a
    contact gives its details, the first of a link gives the link."""
    linked: set[tuple[str, str]] = set()
    id_label = table.label("mis_id")
    for row in table:
        fields = reader.read(row)
        if fields is None:
            out.reject_person(Role.CONTACT, row.get("mis_id"), row=row.line)
            continue
        person = {k: fields[k] for k in CONTACT_PERSON_FIELDS if k in fields}
        # Identity is checked on every row, repeats included: rows of one ID that
        # disagree on who the contact is refuse them all when the batch is built.
        if not out.add_person(
            PersonRecord(role=Role.CONTACT, row=row.line, **person),
            id_field=id_label,
            labels=reader.labels,
            repeats=True,
        ):
            continue
        link = (fields["mis_id"], fields["pupil_mis_id"])
        if link in linked:
            continue  # the same link again: a cross-product row
        linked.add(link)
        out.contact_links.append(
            ContactLink(
                contact_mis_id=link[0],
                pupil_mis_id=link[1],
                priority=fields.get("priority"),
                parental_responsibility=fields.get("parental_responsibility", False),
                relationship=fields.get("relationship"),
                row=row.line,
            )
        )
