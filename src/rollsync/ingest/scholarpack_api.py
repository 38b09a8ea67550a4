"""Reads a pull from ScholarPack's REST API (a bundle from `ingest.pulled`): one report.

The bundle holds the school's record (`/api/v1/school/`, whose URN the batch declares)
and every page of the report's endpoint, as they came (see
`rollsync.connectors.scholarpack`, whose `API` names the paths and every field):

- Students and Groups & Classes: `/api/v1/students/`; groups are the pupils'
  registration classes (ScholarPack publishes no groups endpoint), with the class's
  tutor as teacher;
- Staff: `/api/v1/staff/`; Contacts: `/api/v1/contacts/`, each contact with its pupils
  (relationship, priority, parental responsibility); Attendance:
  `/api/v1/students/register/` for the day.

A person's MIS ID is their ScholarPack uuid (`student_uuid`, `staff_uuid`,
`contact_uuid`). One bad record is a row error naming its position in ScholarPack's
list (1-based, across pages; `source` the endpoint) and the field; the others go on.
A bundle that lacks a page or is damaged is refused whole. docs/connectors/scholarpack.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import date
from typing import Any

from rollsync.domain import reports as r
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

from . import values as v
from .collect import BatchCollector, mandatory_for
from .errors import BadValue, DamagedValue, FileRejected
from .pulled import PulledBundle, PulledReader, json_kind

FORMAT = "scholarpack-api"
VENDOR = "scholarpack"

_ROLES: Mapping[str, Role] = {r.STUDENTS: Role.PUPIL, r.STAFF: Role.STAFF, r.CONTACTS: Role.CONTACT}


class ScholarpackApiReader(PulledReader):
    vendor = VENDOR
    vendor_label = "ScholarPack"
    format = FORMAT
    label = "ScholarPack (pulled)"

    def read(self, bundle: PulledBundle, *, report: str | None, today: date | None) -> ImportBatch:
        return _Reader(bundle, today).read()


def _api() -> Any:
    # Imported here: rollsync.connectors imports rollsync.ingest (pack_pull), so a
    # module-level import would go round in a circle.
    from rollsync.connectors.scholarpack import API

    return API


def _text(value: Any, label: str) -> str | None:
    """A value as clean text (None when absent or blank); BadValue when not text."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadValue(f"{label} is {json_kind(value)}, not text")
    return v.clean(value) or None


_CONVERTERS: Mapping[str, Callable[[str, str], Any]] = {
    "date_of_birth": lambda raw, label: v.parse_date(raw, label, v.ISO_DATES),
    "start_date": lambda raw, label: v.parse_date(raw, label, v.ISO_DATES),
    "leaving_date": lambda raw, label: v.parse_date(raw, label, v.ISO_DATES),
    "gender": v.parse_gender,
    "email": v.parse_email,
    "upn": v.parse_upn,
    "year_group": lambda raw, label: v.year_group(raw),
    "preferred_given_name": lambda raw, label: v.name(raw),
    "preferred_family_name": lambda raw, label: v.name(raw),
    "middle_names": lambda raw, label: v.name(raw),
}


class _Reader:
    def __init__(self, bundle: PulledBundle, today: date | None) -> None:
        self.api = _api()
        self.bundle = bundle
        self.report = bundle.report
        api = self.api
        paths = {
            r.STUDENTS: api.students_path,
            r.GROUPS: api.students_path,
            r.STAFF: api.staff_path,
            r.CONTACTS: api.contacts_path,
            r.ATTENDANCE: api.register_path,
        }
        if self.report not in paths:
            raise FileRejected(
                f"this ScholarPack pull says it carries '{self.report[:40]}', which is not a "
                "report rollsync reads from ScholarPack"
            )
        self.path: str = paths[self.report]
        self.out = BatchCollector(FORMAT, row_noun="record", today=today)

    # -- the bundle --------------------------------------------------------------------

    def records(self) -> Iterator[tuple[int, Any]]:
        """(position in ScholarPack's list, record), every page in order; FileRejected
        when a page is missing or damaged."""
        pages: dict[int, list[Any]] = {}
        total = 0
        for answer in self.bundle.answers:
            if answer.path != self.path:
                continue
            if answer.status != 200:
                raise FileRejected(f"the pull holds a {answer.status} answer from {answer.url}")
            body = answer.json()
            data = body.get("data") if isinstance(body, dict) else None
            if not isinstance(body, dict) or not isinstance(data, list):
                raise FileRejected(f"the answer from {answer.url[:120]} has no data list")
            numbers = [body.get("page"), body.get("pages")]
            if any(isinstance(n, bool) or not isinstance(n, int) for n in numbers):
                raise FileRejected(
                    f"the answer from {answer.url[:120]} has no whole numbers page and pages"
                )
            page, total = int(body["page"]), int(body["pages"])
            if page in pages:
                raise FileRejected(f"the pull holds page {page} of {self.path} twice")
            pages[page] = data
        if not pages:
            raise FileRejected(f"the ScholarPack pull holds no answer from {self.path}")
        if sorted(pages) != list(range(1, max(1, total) + 1)):
            raise FileRejected(
                f"the pull of {self.path} is incomplete: it should hold pages 1 to "
                f"{max(1, total)}, but holds {', '.join(map(str, sorted(pages)))}"
            )
        n = 0
        for _page, data in sorted(pages.items()):
            for item in data:
                n += 1
                yield n, item

    def declared_urn(self) -> str | None:
        for answer in self.bundle.answers:
            if answer.path != self.api.school_path:
                continue
            body = answer.json()
            data = body.get("data") if isinstance(body, dict) else None
            urn = data.get(self.api.school_urn) if isinstance(data, dict) else None
            if isinstance(urn, int | str) and not isinstance(urn, bool) and str(urn).strip():
                return str(urn).strip()
        return None

    def read(self) -> ImportBatch:
        role = _ROLES.get(self.report)
        if self.report == r.CONTACTS:
            self.contacts()
        elif role is not None:
            self.people(role)
        elif self.report == r.GROUPS:
            self.groups()
        else:
            self.attendance()
        return self.out.build(
            reports={self.report},
            # ScholarPack's lists of current pupils, staff and contacts are full lists.
            complete_for={role} if role is not None else set(),
            complete_when_empty=True,
            declared_urn=self.declared_urn(),
            generated_at=self.bundle.pulled_at or None,
        )

    # -- people --------------------------------------------------------------------------

    def uuid(self, record: dict[str, Any], key: str, row: int, label: str = "") -> str | None:
        """The record's uuid, or None (reported: the row cannot be used)."""
        label = label or key
        try:
            text = _text(record.get(key), label)
            if text:
                v.check_text(text, label, MAX_LENGTHS["mis_id"])
                return text
            message = f"{label} is missing, but it is mandatory: rollsync cannot tell who this is"
        except BadValue as bad:
            message = bad.message
        self.out.error(row, label, f"{message}; {v.SKIPPED}", self.path)
        return None

    def person(
        self, record: Any, row: int, role: Role, id_key: str, names: Mapping[str, str]
    ) -> tuple[PersonRecord, dict[str, str]] | None:
        """The record as a person of `role` (and its fields' labels), or None."""
        if not isinstance(record, dict):
            self.out.error(row, None, f"record {row} is not a JSON object; {v.SKIPPED}", self.path)
            return None
        mis_id = self.uuid(record, id_key, row)
        if mis_id is None:
            return None
        labels = {"mis_id": id_key, **names}
        values: dict[str, Any] = {}
        unknown: set[str] = set()
        refused = False
        for ours, theirs in names.items():
            if theirs not in record:
                if mandatory_for(role, ours):
                    self.out.error(
                        row,
                        theirs,
                        f"{theirs} is missing, but it is mandatory; {v.SKIPPED}",
                        self.path,
                    )
                    refused = True
                else:
                    unknown.add(ours)  # not sent: unknown, never "now blank"
                continue
            try:
                raw = record[theirs]
                if ours == "year_group" and isinstance(raw, int) and not isinstance(raw, bool):
                    raw = str(raw)  # a year as a number is still the year
                text = _text(raw, theirs)
                if text is None:
                    if mandatory_for(role, ours):
                        raise BadValue(f"{theirs} is empty, but it is mandatory")
                    continue
                v.check_text(text, theirs, MAX_LENGTHS.get(ours, v.LONGEST_CELL))
                convert = _CONVERTERS.get(ours)
                values[ours] = convert(text, theirs) if convert else text
            except BadValue as problem:
                refuse = mandatory_for(role, ours) or isinstance(problem, DamagedValue)
                self.out.error(
                    row,
                    theirs,
                    f"{problem.message}; {v.SKIPPED if refuse else v.KEPT_WITHOUT}",
                    self.path,
                )
                refused = refused or refuse
                if not refuse:
                    unknown.add(ours)
        self.address(record, row, values, unknown, labels, role)
        if role is Role.PUPIL:
            self.registration(record, row, values, unknown, labels)
        if refused:
            self.out.reject_person(role, mis_id, row=row, source=self.path)
            return None
        person = PersonRecord(
            role=role,
            mis_id=mis_id,
            row=row,
            source=self.path,
            unknown_fields=frozenset(unknown),
            **values,
        )
        return person, labels

    def address(
        self,
        record: dict[str, Any],
        row: int,
        values: dict[str, Any],
        unknown: set[str],
        labels: dict[str, str],
        role: Role,
    ) -> None:
        api = self.api
        wanted = {"postcode", "address"} if role is not Role.STAFF else {"postcode"}
        labels.update(postcode=f"{api.address}.{api.postcode}", address=api.address)
        if api.address not in record:
            unknown |= wanted
            return
        home = record[api.address]
        if home is None:
            return
        try:
            if not isinstance(home, dict):
                raise BadValue(f"{api.address} is {json_kind(home)}, not an address")
            postcode = _text(home.get(api.postcode), labels["postcode"])
            values["postcode"] = v.postcode(postcode)
            if "address" in wanted:
                lines = [_text(home.get(k), f"{api.address}.{k}") for k in api.address_lines]
                values["address"] = ", ".join(x for x in lines if x) or None
        except BadValue as bad:
            self.out.error(row, api.address, f"{bad.message}; {v.KEPT_WITHOUT}", self.path)
            values.pop("postcode", None)
            values.pop("address", None)
            unknown |= wanted

    def registration(
        self,
        record: dict[str, Any],
        row: int,
        values: dict[str, Any],
        unknown: set[str],
        labels: dict[str, str],
    ) -> None:
        api = self.api
        label = f"{api.registration_group}.{api.group_name}"
        labels["registration_group"] = label
        if api.registration_group not in record:
            unknown.add("registration_group")
            return
        group = record[api.registration_group]
        try:
            if group is None:
                return
            if not isinstance(group, dict):
                raise BadValue(f"{api.registration_group} is {json_kind(group)}, not a class")
            values["registration_group"] = _text(group.get(api.group_name), label)
        except BadValue as bad:
            self.out.error(row, label, f"{bad.message}; {v.KEPT_WITHOUT}", self.path)
            unknown.add("registration_group")

    def names_for(self, role: Role) -> Mapping[str, str]:
        api = self.api
        if role is Role.PUPIL:
            return dict(api.student_fields)
        if role is Role.STAFF:
            return dict(api.staff_fields)
        return dict(api.contact_fields)

    def people(self, role: Role) -> None:
        id_key = self.api.student_id if role is Role.PUPIL else self.api.staff_id
        names = self.names_for(role)
        for row, record in self.records():
            self.out.rows_read += 1
            found = self.person(record, row, role, id_key, names)
            if found is not None:
                self.out.add_person(found[0], id_field=id_key, labels=found[1])

    def contacts(self) -> None:
        """Each contact once, with a link to each of its pupils."""
        api = self.api
        names = self.names_for(Role.CONTACT)
        linked: set[tuple[str, str]] = set()
        for row, record in self.records():
            self.out.rows_read += 1
            found = self.person(record, row, Role.CONTACT, api.contact_id, names)
            if found is None:
                continue
            person, labels = found
            pupils = record.get(api.contact_students)
            if not isinstance(pupils, list):
                self.out.error(
                    row,
                    api.contact_students,
                    f"{api.contact_students} is missing or not a list: rollsync cannot tell "
                    f"whose contact this is; {v.SKIPPED}",
                    self.path,
                )
                self.out.reject_person(Role.CONTACT, person.mis_id, row=row, source=self.path)
                continue
            if not pupils:
                continue  # a contact of no pupil on roll (a leaver's): not in this list
            links: list[ContactLink] = []
            for n, item in enumerate(pupils, start=1):
                prefix = f"{api.contact_students}[{n}]"
                if not isinstance(item, dict):
                    self.out.error(row, prefix, f"{prefix} is not an object; skipped", self.path)
                    continue
                pupil = self.uuid(item, api.student_id, row, f"{prefix}.{api.student_id}")
                if pupil is None or (person.mis_id, pupil) in linked:
                    continue
                linked.add((person.mis_id, pupil))
                links.append(self.link(item, person.mis_id, pupil, row, prefix))
            if not links:  # every link refused (reported above): the contact is listed
                self.out.reject_person(Role.CONTACT, person.mis_id, row=row, source=self.path)
                continue
            if self.out.add_person(person, id_field=api.contact_id, labels=labels):
                self.out.contact_links.extend(links)

    def link(
        self, item: dict[str, Any], contact: str, pupil: str, row: int, prefix: str
    ) -> ContactLink:
        api = self.api
        priority: int | None = None
        responsible = False
        relationship: str | None = None
        label = f"{prefix}.{api.priority}"
        try:
            raw = item.get(api.priority)
            if raw is not None:
                if isinstance(raw, bool):
                    raise BadValue(f"{label} is true/false, not a number")
                priority = v.parse_positive_int(str(raw), label)
            label = f"{prefix}.{api.parental_responsibility}"
            raw = item.get(api.parental_responsibility)
            if isinstance(raw, bool):
                responsible = raw
            elif raw is not None:
                responsible = v.parse_bool(str(raw), label)
            label = f"{prefix}.{api.relationship}"
            text = _text(item.get(api.relationship), label)
            if text:
                v.check_text(text, label, MAX_LENGTHS["relationship"])
                relationship = text
        except BadValue as bad:
            self.out.error(row, label, f"{bad.message}; {v.KEPT_WITHOUT}", self.path)
        return ContactLink(contact, pupil, priority, responsible, relationship, row=row)

    # -- groups ----------------------------------------------------------------------------

    def groups(self) -> None:
        """Registration classes, from each pupil's record: the class, the pupil as
        its member and the class's tutor as its teacher."""
        api = self.api
        by_id: dict[str, GroupRecord] = {}
        tutors: dict[str, str] = {}
        for row, record in self.records():
            self.out.rows_read += 1
            if not isinstance(record, dict):
                self.out.error(
                    row, None, f"record {row} is not a JSON object; {v.SKIPPED}", self.path
                )
                continue
            pupil = self.uuid(record, api.student_id, row)
            group = record.get(api.registration_group)
            if pupil is None or group is None:
                continue
            prefix = api.registration_group
            label = prefix
            try:
                if not isinstance(group, dict):
                    raise BadValue(f"{prefix} is {json_kind(group)}, not a class")
                label = f"{prefix}.{api.group_id}"
                group_id = _text(group.get(api.group_id), label)
                if not group_id:
                    raise BadValue(f"{label} is missing, but a class needs it")
                v.check_text(group_id, label, MAX_LENGTHS["group_mis_id"])
                label = f"{prefix}.{api.group_name}"
                name = _text(group.get(api.group_name), label)
                if not name:
                    raise BadValue(f"{label} is missing, but a class needs it")
                v.check_text(name, label, MAX_LENGTHS["group_name"])
                label = f"{prefix}.{api.group_tutor}"
                tutor = _text(group.get(api.group_tutor), label)
                if tutor:
                    v.check_text(tutor, label, MAX_LENGTHS["mis_id"])
            except BadValue as bad:
                self.out.error(row, label, f"{bad.message}; {v.SKIPPED}", self.path)
                continue
            if group_id not in by_id:
                by_id[group_id] = GroupRecord(group_id, name, GroupKind.REGISTRATION, row=row)
                self.out.groups.append(by_id[group_id])
            elif by_id[group_id].name != name:
                self.out.error(
                    row,
                    label,
                    f"class '{group_id}' is named '{name}' here but "
                    f"'{by_id[group_id].name}' earlier; this pupil's membership was skipped",
                    self.path,
                )
                continue
            if tutor and group_id not in tutors:
                tutors[group_id] = tutor
                self.out.memberships.append(
                    MembershipRecord(group_id, Role.STAFF, tutor, MembershipRole.TEACHER, row=row)
                )
            self.out.memberships.append(
                MembershipRecord(group_id, Role.PUPIL, pupil, MembershipRole.STUDENT, row=row)
            )

    # -- attendance --------------------------------------------------------------------

    def attendance(self) -> None:
        api = self.api
        first: dict[tuple[str, date, str], int] = {}
        for row, record in self.records():
            self.out.rows_read += 1
            label = api.student_id
            try:
                if not isinstance(record, dict):
                    raise BadValue(f"record {row} is not a JSON object")
                pupil = _text(record.get(api.student_id), label)
                if not pupil:
                    raise BadValue(f"{label} is missing, but it is mandatory")
                v.check_text(pupil, label, MAX_LENGTHS["mis_id"])
                label = api.mark_date
                day = v.parse_date(_text(record.get(label), label) or "", label, v.ISO_DATES)
                label = api.mark_session
                session = v.parse_session(_text(record.get(label), label) or "", label)
                label = api.mark_code
                code = v.parse_attendance_code(_text(record.get(label), label) or "", label)
            except BadValue as bad:
                self.out.error(row, label, f"{bad.message}; {v.SKIPPED}", self.path)
                continue
            key = (pupil, day, session)
            if key in first:
                self.out.error(
                    row,
                    api.mark_session,
                    f"pupil '{pupil}' already has a mark for {day.isoformat()} {session} "
                    f"(record {first[key]}); {v.SKIPPED}",
                    self.path,
                )
                continue
            first[key] = row
            self.out.attendance.append(AttendanceMark(pupil, day, session, code, row=row))
