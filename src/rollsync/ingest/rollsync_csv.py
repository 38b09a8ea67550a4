"""The rollsync CSV format: one CSV per report, headers = the catalogue's field names.

Specified for schools in docs/formats/rollsync-csv.md. Each report's mandatory
fields must be columns; optional ones may be left out (the record then names
them in `unknown_fields`: the file says nothing about them). A row with a
missing or unreadable mandatory value is skipped; an unreadable optional value
is dropped, named in `unknown_fields` (the stored value is kept), and the rest
of the row kept (so one mistyped gender cannot make a pupil look like a leaver
in a full list). A skipped person's MIS ID, when it can be read, is noted in
`rejected_keys`, for the same reason. A file that ends mid-row is cut short and
claims nobody left.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

from rollsync.domain.limits import MAX_LENGTHS
from rollsync.domain.records import (
    AttendanceMark,
    ContactLink,
    GroupKind,
    GroupRecord,
    ImportBatch,
    MembershipRecord,
    MembershipRole,
    PersonRecord,
    Role,
)
from rollsync.domain.reports import (
    ATTENDANCE,
    CATALOGUE,
    CONTACTS,
    GROUPS,
    STAFF,
    STUDENTS,
    FieldSpec,
    ReportSpec,
)
from rollsync.domain.state import SchoolRef

from . import row_changes
from . import values as v
from .collect import BatchCollector
from .csvtable import CsvRow, CsvTable, read_table
from .errors import BadValue, DamagedValue, FileRejected, rejected_batch

FORMAT = "csv"
_PERSON_FIELDS = frozenset(f.name for f in dataclasses.fields(PersonRecord))

Converter = Callable[[str, str], Any]


def _text(raw: str, field: str) -> str | None:
    return v.optional_text(raw)


def _name(raw: str, field: str) -> str | None:
    return v.name(raw)


def _postcode(raw: str, field: str) -> str | None:
    return v.postcode(raw)


def _year(raw: str, field: str) -> str | None:
    return v.year_group(raw)


def _id(raw: str, field: str) -> str:
    return v.clean(raw)


_CONVERTERS: dict[str, Converter] = {
    "mis_id": _id,
    "pupil_mis_id": _id,
    "group_mis_id": _id,
    "person_mis_id": _id,
    "legal_given_name": _name,
    "legal_family_name": _name,
    "preferred_given_name": _name,
    "preferred_family_name": _name,
    "middle_names": _name,
    "date_of_birth": v.parse_date,
    "start_date": v.parse_date,
    "leaving_date": v.parse_date,
    "date": v.parse_date,
    "gender": v.parse_gender,
    "email": v.parse_email,
    "upn": v.parse_upn,
    "year_group": _year,
    "postcode": _postcode,
    "priority": v.parse_positive_int,
    "parental_responsibility": v.parse_bool,
    "group_kind": v.parse_group_kind,
    "person_role": v.parse_member_role,
    "membership_role": v.parse_membership_role,
    "session": v.parse_session,
    "code": v.parse_attendance_code,
}


# A value a converter has read once is read the same again (each is a function of the
# value, and gives immutable values): a Groups & Classes file repeats its group IDs,
# names, kinds and roles on every membership, a people file its dates, year groups and
# forenames. Not kept for the fields each person's row holds its own of.
_ONE_A_ROW = frozenset(("mis_id", "email", "upn"))
_NOT_SEEN = object()


class RowReader:
    """Reads one row's catalogue fields into canonical values, reporting problems."""

    def __init__(self, spec: ReportSpec, table: CsvTable, out: BatchCollector) -> None:
        self.spec = spec
        self.table = table
        self.out = out
        self.fields = [f for f in spec.fields if table.has(f.name)]
        # Optional person fields the file has no column for: it says nothing about
        # them, so they are unknown (the planner keeps what it holds).
        self.absent = frozenset(
            f.name for f in spec.fields if not table.has(f.name) and f.name in _PERSON_FIELDS
        )
        # Per field, once for the file: its column as written, its longest value, its
        # reader, and the values it has read (None: a field no two rows share).
        self._plan: list[tuple[FieldSpec, str, int, Converter, dict[str, Any] | None]] = [
            (
                f,
                table.label(f.name),
                MAX_LENGTHS.get(f.name, v.LONGEST_CELL),
                _CONVERTERS.get(f.name, _text),
                None if f.name in _ONE_A_ROW else {},
            )
            for f in self.fields
        ]

    def read(self, row: CsvRow) -> dict[str, Any] | None:
        """The row's values by field name, or None if a mandatory one is bad. An
        optional value that cannot be read is named in "unknown_fields"."""
        result: dict[str, Any] = {}
        unknown: set[str] = set()
        row_ok = True
        # A row all printable ASCII holds no control character and no other script's
        # digit: each of its values then needs only its length checked here.
        joined = "".join(row.cells)
        plain = joined.isascii() and joined.isprintable()
        for spec_field, label, limit, convert, seen in self._plan:
            raw = row.get(spec_field.name)
            if not raw:
                if spec_field.mandatory:
                    self.out.error(
                        row.line,
                        label,
                        f"{label} is empty, but {spec_field.label} is mandatory in "
                        f"{self.spec.label}; {v.SKIPPED}",
                    )
                    row_ok = False
                continue
            try:
                # Damage first, on the value as written: a 10,000-character gender is a
                # damaged row, not merely an unknown gender. (No converter lengthens a
                # value, so the written one is the one to measure.)
                if not (plain and len(raw) <= limit):
                    v.check_cell(raw, label, limit)
                if seen is None:
                    result[spec_field.name] = convert(raw, label)
                elif (value := seen.get(raw, _NOT_SEEN)) is not _NOT_SEEN:
                    result[spec_field.name] = value
                else:
                    result[spec_field.name] = seen[raw] = convert(raw, label)
            except BadValue as problem:
                refuse = spec_field.mandatory or isinstance(problem, DamagedValue)
                outcome = v.SKIPPED if refuse else v.KEPT_WITHOUT
                self.out.error(row.line, label, f"{problem.message}; {outcome}")
                row_ok = row_ok and not refuse
                if not refuse:
                    unknown.add(spec_field.name)
        if unknown or self.absent:
            result["unknown_fields"] = frozenset(unknown) | self.absent
        return result if row_ok else None

    @functools.cached_property
    def labels(self) -> dict[str, str]:
        """Each field's column as written (asked for every person read: made once)."""
        return {f.name: self.table.label(f.name) for f in self.fields}


class RollsyncCsvReader:
    format = FORMAT
    label = "rollsync CSV (one report per file)"
    needs_report = True
    # One line per person, or per membership (Groups & Classes), or per contact and
    # pupil linked (Contacts).
    reports_read_in_part = frozenset((STUDENTS, STAFF, GROUPS, CONTACTS))

    def parse(
        self,
        payload: bytes,
        *,
        school: SchoolRef,
        report: str | None,
        today: date | None = None,
    ) -> ImportBatch:
        if report is None or report not in CATALOGUE:
            known = ", ".join(CATALOGUE)
            raise ValueError(f"a rollsync CSV needs its report: one of {known} (got {report!r})")
        spec = CATALOGUE[report]
        out = BatchCollector(FORMAT, today=today)
        try:
            return _read(spec, read_table(payload), out)
        except FileRejected as problem:
            return rejected_batch(FORMAT, problem)

    def parse_changed(
        self,
        earlier: bytes,
        payload: bytes,
        *,
        school: SchoolRef,
        refused: Iterable[tuple[str | None, int]],
        also: Iterable[str] = (),
        listing: bytes | None = None,
        today: date | None = None,
        report: str | None = None,
    ) -> ImportBatch | None:
        """A current Students or Staff file (`reports_read_in_part`, one line per
        person) as a partial batch against `earlier`, the same report's file whose plan
        the directory stands on: the people whose lines were added, removed or changed,
        those on a row the earlier run refused (`refused`: its row errors' (file, line);
        this format's have no file), and those named in `also` are built; everyone else
        it lists is in `unchanged_keys`. A Groups & Classes file likewise, by member
        (`_groups_in_part`), and a Contacts file by contact (`_contacts_in_part`).
        None: parse in full (another report, or lines that cannot be compared one for
        one, `row_changes.line_changes`). `listing` is not used.
        (tests/ingest/test_partial_rollsync_csv.py)"""
        if report not in self.reports_read_in_part:
            return None
        rows: list[int] = []
        for source, row in refused:
            if source is not None:
                return None  # not this format's error
            rows.append(row)
        if report == GROUPS:
            return _groups_in_part(earlier, payload, rows=rows, also=frozenset(also), today=today)
        if report == CONTACTS:
            return _contacts_in_part(earlier, payload, rows=rows, also=frozenset(also), today=today)
        found = row_changes.line_changes(earlier, payload, "mis_id", refused_rows=rows)
        if found is None:
            return None
        lines, changed = found
        changed |= frozenset(also)
        values = row_changes.cell_values(lines.lines, "mis_id")
        # The lines of the people built, and those naming nobody (the reader reports them).
        keep = [not value or value in changed for value in values]
        role = CATALOGUE[report].role
        assert role is not None
        left_out = {(role, value) for value, kept in zip(values, keep, strict=True) if not kept}
        return _read_kept(payload, keep, left_out, report=report, today=today)


def _groups_in_part(
    earlier: bytes, payload: bytes, *, rows: list[int], also: frozenset[str], today: date | None
) -> ImportBatch | None:
    """A Groups & Classes file read in part: the memberships of the members whose lines
    were added, removed or changed (or refused before, or named in `also`) are read;
    every other member is in `unchanged_keys`, their memberships out of the batch (the
    planner leaves theirs in the directory alone), as a Students file's unchanged
    pupils are. Every group is still listed, from its first line, and every line the
    reader may report is read (`row_changes.group_lines`). None: parse in full, also
    when a group's first line is refused (its name would come from a later line)."""
    found = row_changes.line_changes(earlier, payload, "person_mis_id", refused_rows=rows)
    if found is None:
        return None
    lines, changed = found
    chosen = row_changes.group_lines(lines.lines, changed | also)
    if chosen is None:
        return None
    batch = _read_kept(payload, chosen.keep, chosen.left_out, report=GROUPS, today=today)
    if batch is None or any(e.row in chosen.firsts for e in batch.errors):
        return None
    left_out = batch.unchanged_keys
    batch.memberships = [
        m for m in batch.memberships if (m.person_role, m.person_mis_id) not in left_out
    ]
    return batch


def _contacts_in_part(
    earlier: bytes, payload: bytes, *, rows: list[int], also: frozenset[str], today: date | None
) -> ImportBatch | None:
    """A Contacts file read in part: every line of the contacts with a line added,
    removed or changed (or refused before, or naming someone in `also`) is read; every
    other contact is in `unchanged_keys`, their records and links out of the batch. A
    contact's record is built from all their lines, so all are read or none. The
    pupils are only named: the planner keeps an unchanged contact only while each of
    their links, in the directory and in their lines (`ImportBatch.unchanged_links`),
    is to a pupil placed here (`planning.unsafe_unchanged`). None: parse in full."""
    found = row_changes.line_changes(earlier, payload, "mis_id", refused_rows=rows)
    if found is None:
        return None
    lines, changed = found
    chosen = row_changes.contact_lines(
        lines.lines, earlier.splitlines(keepends=True), changed, also
    )
    if chosen is None:
        return None
    batch = _read_kept(payload, chosen.keep, chosen.left_out, report=CONTACTS, today=today)
    if batch is None or ({p.key for p in batch.people} | batch.rejected_keys) & chosen.left_out:
        return None  # (an ID the reader read otherwise than the lines were compared)
    batch.unchanged_links = chosen.links
    return batch


def _read_kept(
    payload: bytes,
    keep: list[bool],
    left_out: set[tuple[Role, str]],
    *,
    report: str,
    today: date | None,
) -> ImportBatch | None:
    """The data lines of `payload` that `keep` says, read as the report's file, with
    `left_out` the people unchanged; None when the reader rejects them (the full parse
    says why) or finds them fatal."""
    data, renumber, skipped = row_changes.kept_lines(payload, lambda _: keep)
    out = BatchCollector(FORMAT, today=today)
    out.unchanged_all(left_out)
    try:
        table = read_table(data, renumber=renumber)
        table.rows_read += skipped
        batch = _read(CATALOGUE[report], table, out)
    except FileRejected:
        return None
    return None if batch.fatal else batch


def _read(spec: ReportSpec, table: CsvTable, out: BatchCollector) -> ImportBatch:
    table.require(*spec.mandatory_fields)
    _read_rows(spec, table, out)
    out.errors = table.errors + out.errors
    out.rows_read = table.rows_read
    # One file is one full list of one role, even with no rows: an empty
    # export then reaches the planner, whose guard holds the run. A file that
    # ends mid-row is cut short: it is no full list, and claims no leavers.
    return out.build(
        reports={spec.code},
        complete_for=frozenset() if table.cut_short else complete_for(spec),
        complete_when_empty=True,
    )


def complete_for(spec: ReportSpec) -> frozenset[Role]:
    # A current people report lists everybody of its role at the school, so
    # someone missing from it has left. A future report lists only those not
    # yet started: people leave it by starting (they move to the current
    # report) as well as by withdrawing, so absence from it proves nothing.
    if spec.role is None or spec.future:
        return frozenset()
    return frozenset({spec.role})


def _read_rows(spec: ReportSpec, table: CsvTable, out: BatchCollector) -> None:
    reader = RowReader(spec, table, out)
    if spec.code == CONTACTS:
        _read_contacts(table, reader, out)
    elif spec.code == GROUPS:
        read_groups(table, reader, out)
    elif spec.code == ATTENDANCE:
        read_attendance(table, reader, out)
    else:
        read_people(spec, table, reader, out)
    if spec.role is not None:
        # A row skipped for holding more values than the header (reported by the
        # table) still lists its person: the ID is what its mis_id column holds.
        for row in table.misshapen:
            out.reject_person(spec.role, row.get("mis_id"), row=row.line)


def read_people(
    spec: ReportSpec,
    table: CsvTable,
    reader: RowReader,
    out: BatchCollector,
    *,
    repeats: bool = False,
) -> None:
    """`repeats`: the same identity on several rows is one person (a SIMS report's
    cross-product rows), not a clash."""
    assert spec.role is not None
    id_label = table.label("mis_id")
    for row in table:
        fields = reader.read(row)
        if fields is None:  # reported; still listed, if the ID can be read
            out.reject_person(spec.role, row.get("mis_id"), row=row.line)
            continue
        record = PersonRecord(role=spec.role, future=spec.future, row=row.line, **fields)
        out.add_person(record, id_field=id_label, labels=reader.labels, repeats=repeats)


CONTACT_PERSON_FIELDS = (
    "mis_id",
    "legal_given_name",
    "legal_family_name",
    "title",
    "email",
    "phone",
    "postcode",
    "address",
    "unknown_fields",
)


def _read_contacts(table: CsvTable, reader: RowReader, out: BatchCollector) -> None:
    """One row per contact-pupil link; a contact's details come from its first row."""
    first_link: dict[tuple[str, str], int] = {}
    id_label = table.label("mis_id")
    for row in table:
        fields = reader.read(row)
        if fields is None:  # reported; still listed, if the ID can be read
            out.reject_person(Role.CONTACT, row.get("mis_id"), row=row.line)
            continue
        contact_id, pupil_id = fields["mis_id"], fields["pupil_mis_id"]
        if (contact_id, pupil_id) in first_link:
            out.error(
                row.line,
                id_label,
                f"contact '{contact_id}' is linked to pupil '{pupil_id}' already in row "
                f"{first_link[contact_id, pupil_id]}; {v.SKIPPED}",
            )
            continue
        first_link[contact_id, pupil_id] = row.line
        person = {k: fields[k] for k in CONTACT_PERSON_FIELDS if k in fields}
        # A contact is listed once per pupil: the same person again is one contact
        # with another link; another person under the same ID refuses them all.
        if not out.add_person(
            PersonRecord(role=Role.CONTACT, row=row.line, **person),
            id_field=id_label,
            labels=reader.labels,
            repeats=True,
        ):
            continue
        out.contact_links.append(
            ContactLink(
                contact_mis_id=contact_id,
                pupil_mis_id=pupil_id,
                priority=fields.get("priority"),
                parental_responsibility=fields.get("parental_responsibility", False),
                relationship=fields.get("relationship"),
                row=row.line,
            )
        )


def read_groups(table: CsvTable, reader: RowReader, out: BatchCollector) -> None:
    """One row per membership; a group's name and kind come from its first row."""
    groups: dict[str, tuple[int, str, GroupKind]] = {}
    first_member: dict[tuple[str, Role, str, MembershipRole], int] = {}
    for row in table:
        fields = reader.read(row)
        if fields is None:
            continue
        group_id: str = fields["group_mis_id"]
        _note_group(groups, group_id, fields, row.line, table, out)
        key = (group_id, fields["person_role"], fields["person_mis_id"], fields["membership_role"])
        if key in first_member:
            out.error(
                row.line,
                table.label("person_mis_id"),
                f"this membership of group '{group_id}' is already in row {first_member[key]}; "
                f"{v.SKIPPED}",
            )
            continue
        first_member[key] = row.line
        out.memberships.append(MembershipRecord(*key, row=row.line))
    out.groups.extend(
        GroupRecord(gid, name, kind, row=line) for gid, (line, name, kind) in groups.items()
    )


def _note_group(
    groups: dict[str, tuple[int, str, GroupKind]],
    group_id: str,
    fields: dict[str, Any],
    line: int,
    table: CsvTable,
    out: BatchCollector,
) -> None:
    name, kind = fields["group_name"], fields["group_kind"]
    first = groups.setdefault(group_id, (line, name, kind))
    if first[1:] != (name, kind):
        out.error(
            line,
            table.label("group_name"),
            f"group '{group_id}' is '{name}' ({kind}) here but '{first[1]}' ({first[2]}) in "
            f"row {first[0]}: rollsync keeps the first; the membership in this row was imported",
        )


def read_attendance(table: CsvTable, reader: RowReader, out: BatchCollector) -> None:
    first_mark: dict[tuple[str, date, str], int] = {}
    for row in table:
        fields = reader.read(row)
        if fields is None:
            continue
        key = (fields["pupil_mis_id"], fields["date"], fields["session"])
        if key in first_mark:
            out.error(
                row.line,
                table.label("session"),
                f"pupil '{key[0]}' already has a mark for {key[1].isoformat()} {key[2]} in row "
                f"{first_mark[key]}; {v.SKIPPED}",
            )
            continue
        first_mark[key] = row.line
        out.attendance.append(AttendanceMark(*key, code=fields["code"], row=row.line))
