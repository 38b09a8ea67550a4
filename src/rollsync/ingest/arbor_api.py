"""Reads a pull from Arbor's REST v2 API (a bundle from `ingest.pulled`).

The bundle holds Arbor's answers as they came: lists of reference stubs
(`{"students": [{"entityType": "Student", "href": ...}]}`) and single records
(`{"student": {"entityType": "Student", "id": 1234, "person": {...}}}`). The reader
indexes every record by the href it was asked by, then walks the report's list in
Arbor's order: row N is the Nth entry of that list (its `source` the list's path), so
one bad record is one row error and the others go on. An incremental pull carries
`merged.json`, the same index with the changes merged in, which is read instead.

MIS IDs are Arbor's numeric ids: of the Student (pupils), the Staff record (staff)
and the Guardian (contacts); groups are "class-{AcademicUnit id}" and
"form-{RegistrationForm id}". See docs/connectors/arbor.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from rollsync.domain import reports as r
from rollsync.domain.limits import MAX_LENGTHS
from rollsync.domain.records import (
    AttendanceMark,
    ContactLink,
    Gender,
    GroupKind,
    GroupRecord,
    ImportBatch,
    MembershipRecord,
    MembershipRole,
    PersonRecord,
    Role,
)

from . import values as v
from .collect import BatchCollector
from .errors import BadValue, FileRejected
from .pulled import PulledBundle, PulledReader, json_kind

FORMAT = "arbor-api"

# Arbor's entity types ([V] mis-apis.md 2.4) and the keys their lists and records come
# under: a record under its type with the first letter lowered, a list under the plural
# ([V] 2.2 convention; the plurals of the UPN assignment and the staff are [I]).
LIST_KEYS: Mapping[str, str] = {
    "Student": "students",
    "Staff": "staff",
    "Person": "people",
    "Guardian": "guardians",
    "StudentGuardianRelationship": "studentGuardianRelationships",
    "UkDfe_UpnAssignment": "ukDfe_UpnAssignments",
    "AcademicUnit": "academicUnits",
    "AcademicUnitEnrolment": "academicUnitEnrolments",
    "AcademicUnitLead": "academicUnitLeads",
    "RegistrationForm": "registrationForms",
    "RegistrationFormMembership": "registrationFormMemberships",
    "AttendanceRecord": "attendanceRecords",
    "AttendanceMark": "attendanceMarks",
}
RECORD_KEYS: Mapping[str, str] = {entity: entity[0].lower() + entity[1:] for entity in LIST_KEYS}
CHANGELOG_KEY = "changes"  # [V] 2.3
_LIST_KEY_SET = frozenset(LIST_KEYS.values())
_RECORD_KEY_SET = frozenset(RECORD_KEYS.values())
PM_FROM_HOUR = 12  # [I] a register starting at noon or later is the PM session

# What an Arbor pull does not carry (rollsync reads no e-mail, telephone or address
# records, enrolment dates, year groups or staff codes): unknown, so the planner keeps
# what it holds for them rather than blanking them.
NOT_CARRIED = frozenset(
    (
        "email",
        "phone",
        "postcode",
        "address",
        "start_date",
        "leaving_date",
        "year_group",
        "registration_group",
        "staff_code",
    )
)

_PERSON_TEXT = (
    ("legal_given_name", "legalFirstName"),
    ("legal_family_name", "legalLastName"),
    ("middle_names", "legalMiddleNames"),
    ("preferred_given_name", "preferredFirstName"),
    ("preferred_family_name", "preferredLastName"),
)
_LABELS = {
    "legal_given_name": "Person.legalFirstName",
    "legal_family_name": "Person.legalLastName",
    "middle_names": "Person.legalMiddleNames",
    "preferred_given_name": "Person.preferredFirstName",
    "preferred_family_name": "Person.preferredLastName",
    "date_of_birth": "Person.dateOfBirth",
    "gender": "Person.gender",
    "title": "Person.title",
    "upn": "UkDfe_UpnAssignment.upn",
}


# -- the index of a pull --------------------------------------------------------------


@dataclass(slots=True)
class ArborIndex:
    """A pull's lists (key -> stubs in Arbor's order) and records (href -> record)."""

    lists: dict[str, list[Any]] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)  # list key -> its path
    records: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"lists": self.lists, "sources": self.sources, "records": self.records}

    @classmethod
    def from_json(cls, value: Any) -> ArborIndex:
        if not isinstance(value, dict):
            raise FileRejected("the pull's merged.json is not an Arbor index")
        lists, sources, records = (value.get(k) for k in ("lists", "sources", "records"))
        if not (
            isinstance(lists, dict)
            and isinstance(sources, dict)
            and isinstance(records, dict)
            and all(isinstance(items, list) for items in lists.values())
        ):
            raise FileRejected("the pull's merged.json is damaged", field="merged.json")
        return cls(
            {str(k): list(items) for k, items in lists.items()},
            {str(k): str(s) for k, s in sources.items()},
            {str(k): rec for k, rec in records.items()},
        )

    def merged_with(
        self, records: Mapping[str, Any], *, refreshed: Iterable[str] = ()
    ) -> dict[str, Any]:
        """This index with `records` replacing or joining its own, as merged.json. The
        UPN assignments of each `refreshed` student are replaced by those in `records`."""
        gone = set(refreshed)
        kept = {
            href: rec
            for href, rec in self.records.items()
            if not (
                isinstance(rec, dict)
                and rec.get("entityType") == "UkDfe_UpnAssignment"
                and _ref(rec, "student") in gone
            )
        }
        kept.update(records)
        return ArborIndex(self.lists, self.sources, kept).as_json()


def index_answers(bundle: PulledBundle) -> ArborIndex:
    """The index of a pull's answers; `FileRejected` when one is not an Arbor answer."""
    index = ArborIndex()
    for n, answer in enumerate(bundle.answers, start=1):
        if answer.status != 200:
            raise FileRejected(f"the pull's answer {n} ({answer.url}) is not a 200 answer")
        body = answer.json()
        if not isinstance(body, dict):
            raise FileRejected(f"the pull's answer {n} ({answer.url}) is not an Arbor answer")
        list_key = next((k for k in body if k in _LIST_KEY_SET and isinstance(body[k], list)), None)
        record_key = next(
            (k for k in body if k in _RECORD_KEY_SET and isinstance(body[k], dict)), None
        )
        if list_key is not None:
            index.lists.setdefault(list_key, []).extend(body[list_key])
            index.sources.setdefault(list_key, answer.path)
        elif record_key is not None:
            index.records[answer.path] = body[record_key]
        elif not isinstance(body.get(CHANGELOG_KEY), list):
            raise FileRejected(
                f"the pull's answer {n} ({answer.url}) is neither an Arbor list nor a record"
            )
    return index


def index_from_bundle(bundle: PulledBundle) -> ArborIndex:
    """The records a bundle stands for: its merged.json when it has one, else its answers."""
    if bundle.merged is not None:
        return ArborIndex.from_json(bundle.merged)
    return index_answers(bundle)


def _ref(record: Mapping[str, Any], name: str) -> str | None:
    """The href a record's reference `name` points at, or None."""
    value = record.get(name)
    href = value.get("href") if isinstance(value, dict) else None
    return href if isinstance(href, str) else None


def id_of_href(href: str | None) -> str | None:
    """Arbor's numeric id at the end of an href ("/rest-v2/students/1234" -> "1234")."""
    if not href:
        return None
    last = href.rstrip("/").rsplit("/", 1)[-1]
    return last if last.isascii() and last.isdigit() else None


# -- the reader -----------------------------------------------------------------------


class ArborApiReader(PulledReader):
    vendor = "arbor"
    vendor_label = "Arbor"
    format = FORMAT
    label = "Arbor (pulled)"

    def read(self, bundle: PulledBundle, *, report: str | None, today: date | None) -> ImportBatch:
        return _Reader(bundle, index_from_bundle(bundle), today).read(report)


class _Skip(Exception):
    """The row cannot be used (already reported)."""


class _Reader:
    def __init__(self, bundle: PulledBundle, index: ArborIndex, today: date | None) -> None:
        self.bundle = bundle
        self.index = index
        pulled_on = bundle.extra.get("today")
        self.day = _iso_day(pulled_on) or today or date.today()
        self.out = BatchCollector(FORMAT, row_noun="record", today=today)

    def read(self, report: str | None) -> ImportBatch:
        pulled = self.bundle.report
        if pulled not in (r.STUDENTS, r.STAFF, r.CONTACTS, r.GROUPS, r.ATTENDANCE):
            raise FileRejected(f"this Arbor pull names a report rollsync does not know: {pulled!r}")
        if report is not None and report != pulled:
            raise FileRejected(f"this Arbor pull carries {pulled}, not {report}")
        complete: frozenset[Role] = frozenset()
        if pulled == r.STUDENTS:
            self._people("Student", Role.PUPIL)
            complete = frozenset({Role.PUPIL})
        elif pulled == r.STAFF:
            self._people("Staff", Role.STAFF)
            complete = frozenset({Role.STAFF})
        elif pulled == r.CONTACTS:
            self._contacts()
            complete = frozenset({Role.CONTACT})
        elif pulled == r.GROUPS:
            self._groups()
        else:
            self._attendance()
        # A current list of one role is a full list even when empty: the planner's guard
        # then holds an empty pull for a person to look at.
        return self.out.build(
            reports={pulled},
            complete_for=complete,
            complete_when_empty=True,
            generated_at=self.bundle.pulled_at or None,
        )

    # -- helpers ----------------------------------------------------------------------

    def _rows(self, entity: str) -> Iterable[tuple[int, str, Any]]:
        """(row, source, stub) for each entry of the entity's list, in Arbor's order."""
        key = LIST_KEYS[entity]
        source = self.index.sources.get(key, key)
        for n, stub in enumerate(self.index.lists.get(key, []), start=1):
            self.out.rows_read += 1
            yield n, source, stub

    def _record(self, row: int, source: str, href: Any, entity: str, what: str) -> dict[str, Any]:
        """The record `href` points at, of type `entity`; reported and `_Skip` if not."""
        if not isinstance(href, str) or not href:
            self.out.error(row, what, f"{what} has no href; {v.SKIPPED}", source)
            raise _Skip
        found = self.index.records.get(href)
        if not isinstance(found, dict) or found.get("entityType", entity) != entity:
            self.out.error(
                row, what, f"the pull holds no {entity} record for {href}; {v.SKIPPED}", source
            )
            raise _Skip
        return found

    def _id(self, row: int, source: str, record: Mapping[str, Any], entity: str) -> str:
        value = record.get("id")
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return str(value)
        if isinstance(value, str) and value.isascii() and value.isdigit():
            return value
        shown = "missing" if value is None else f"'{str(value)[:40]}', not a number"
        self.out.error(row, f"{entity}.id", f"{entity}.id is {shown}; {v.SKIPPED}", source)
        raise _Skip

    def _ref_id(
        self, row: int, source: str, record: Mapping[str, Any], name: str, what: str
    ) -> str:
        found = id_of_href(_ref(record, name))
        if found is None:
            self.out.error(
                row, f"{what}.{name}", f"{what}.{name} names no Arbor record; {v.SKIPPED}", source
            )
            raise _Skip
        return found

    # -- people -----------------------------------------------------------------------

    def _person_values(
        self, row: int, source: str, person: Mapping[str, Any], role: Role
    ) -> tuple[dict[str, Any], set[str]] | None:
        """A person record's values, or None when a mandatory one cannot be read."""
        values: dict[str, Any] = {}
        unknown: set[str] = set()
        reported: set[str] = set()
        ok = True

        def problem(name: str, message: str, *, needed: bool) -> None:
            nonlocal ok
            reported.add(name)
            self.out.error(
                row, _LABELS[name], f"{message}; {v.SKIPPED if needed else v.KEPT_WITHOUT}", source
            )
            if needed:
                ok = False
            else:
                unknown.add(name)

        for name, key in _PERSON_TEXT:
            raw = person.get(key)
            if raw is None:
                continue
            if not isinstance(raw, str):
                problem(
                    name,
                    f"{_LABELS[name]} is {json_kind(raw)}, not text",
                    needed=_needed(role, name),
                )
                continue
            values[name] = v.name(raw)
        for name in ("legal_given_name", "legal_family_name"):
            if not values.get(name) and name not in reported:
                problem(name, f"{_LABELS[name]} is empty", needed=True)
        title = _text_or_display(person.get("title"))
        if role is not Role.PUPIL and title is not None:
            if isinstance(title, str):
                values["title"] = v.optional_text(title)
            else:
                problem(
                    "title", f"{_LABELS['title']} is {json_kind(title)}, not text", needed=False
                )
        born = _date_text(person.get("dateOfBirth"))
        if born is not None:
            try:
                values["date_of_birth"] = v.parse_date(born, _LABELS["date_of_birth"], v.ISO_DATES)
            except BadValue as bad:
                problem("date_of_birth", bad.message, needed=_needed(role, "date_of_birth"))
        elif _needed(role, "date_of_birth"):
            problem("date_of_birth", f"{_LABELS['date_of_birth']} is missing", needed=True)
        gender = _text_or_display(person.get("gender"))
        if gender is not None:
            try:
                if not isinstance(gender, str):
                    raise BadValue(f"{_LABELS['gender']} is {json_kind(gender)}, not text")
                values["gender"] = _gender(gender)
            except BadValue as bad:
                problem("gender", bad.message, needed=False)
        return (values, unknown) if ok else None

    def _people(self, entity: str, role: Role) -> None:
        upns = self._upns() if role is Role.PUPIL else {}
        upn_pulled = role is Role.PUPIL and self.bundle.extra.get("upn", True) is not False
        not_carried = NOT_CARRIED | (frozenset() if upn_pulled else {"upn"})
        for row, source, stub in self._rows(entity):
            href = stub.get("href") if isinstance(stub, dict) else None
            try:
                record = self._record(row, source, href, entity, f"{entity} href")
                mis_id = self._id(row, source, record, entity)
            except _Skip:
                self.out.reject_person(role, id_of_href(href if isinstance(href, str) else None))
                continue
            person = self.index.records.get(_ref(record, "person") or "")
            if not isinstance(person, dict):
                self.out.error(
                    row,
                    f"{entity}.person",
                    f"the {entity}'s person is not in the pull; {v.SKIPPED}",
                    source,
                )
                self.out.reject_person(role, mis_id, row=row, source=source)
                continue
            read = self._person_values(row, source, person, role)
            if read is None:
                self.out.reject_person(role, mis_id, row=row, source=source)
                continue
            values, unknown = read
            if role is Role.PUPIL and upn_pulled:
                raw_upn = upns.get(str(href))
                if raw_upn is not None:
                    try:
                        values["upn"] = v.parse_upn(raw_upn, _LABELS["upn"])
                    except BadValue as bad:
                        self.out.error(
                            row, _LABELS["upn"], f"{bad.message}; {v.KEPT_WITHOUT}", source
                        )
                        unknown.add("upn")
            record_out = PersonRecord(
                role=role,
                mis_id=mis_id,
                row=row,
                source=source,
                unknown_fields=frozenset(unknown) | not_carried,
                **values,
            )
            self.out.add_person(record_out, id_field=f"{entity}.id", labels=_LABELS)

    def _upns(self) -> dict[str, str]:
        """Each student's current UPN (href -> UPN as written): the assignment that has
        not ended by the pull's day, the latest started if more than one."""
        best: dict[str, tuple[str, str]] = {}
        for rec in self.index.records.values():
            if not isinstance(rec, dict) or rec.get("entityType") != "UkDfe_UpnAssignment":
                continue
            student, upn = _ref(rec, "student"), rec.get("upn")
            if student is None or not isinstance(upn, str):
                continue
            ended = _iso_day(_date_text(rec.get("endDatetime")))
            if ended is not None and ended < self.day:
                continue
            started = _date_text(rec.get("startDatetime")) or ""
            if student not in best or started > best[student][0]:
                best[student] = (started, upn)
        return {student: upn for student, (_, upn) in best.items()}

    # -- contacts ---------------------------------------------------------------------

    def _contacts(self) -> None:
        seen_links: dict[tuple[str, str], int] = {}
        entity = "StudentGuardianRelationship"
        for row, source, stub in self._rows(entity):
            href = stub.get("href") if isinstance(stub, dict) else None
            try:
                link = self._record(row, source, href, entity, f"{entity} href")
                pupil_id = self._ref_id(row, source, link, "student", entity)
                guardian = self._record(
                    row, source, _ref(link, "guardian"), "Guardian", f"{entity}.guardian"
                )
                contact_id = self._id(row, source, guardian, "Guardian")
            except _Skip:
                continue
            if (contact_id, pupil_id) in seen_links:
                self.out.error(
                    row,
                    f"{entity}.guardian",
                    f"guardian '{contact_id}' is linked to student '{pupil_id}' already in "
                    f"record {seen_links[contact_id, pupil_id]}; {v.SKIPPED}",
                    source,
                )
                continue
            person = self.index.records.get(_ref(guardian, "person") or "")
            if not isinstance(person, dict):
                self.out.error(
                    row,
                    "Guardian.person",
                    f"the guardian's person is not in the pull; {v.SKIPPED}",
                    source,
                )
                self.out.reject_person(Role.CONTACT, contact_id, row=row, source=source)
                continue
            read = self._person_values(row, source, person, Role.CONTACT)
            if read is None:
                self.out.reject_person(Role.CONTACT, contact_id, row=row, source=source)
                continue
            values, unknown = read
            record = PersonRecord(
                role=Role.CONTACT,
                mis_id=contact_id,
                row=row,
                source=source,
                unknown_fields=frozenset(unknown) | NOT_CARRIED,
                **values,
            )
            if not self.out.add_person(
                record, id_field="Guardian.id", labels=_LABELS, repeats=True
            ):
                continue
            seen_links[contact_id, pupil_id] = row
            self.out.contact_links.append(
                ContactLink(
                    contact_mis_id=contact_id,
                    pupil_mis_id=pupil_id,
                    priority=self._priority(row, source, link),
                    parental_responsibility=self._flag(row, source, link, "isLegalGuardian"),
                    relationship=self._relationship(row, source, link),
                    row=row,
                )
            )

    def _priority(self, row: int, source: str, link: Mapping[str, Any]) -> int | None:
        raw = link.get("emergencyContactPriority")
        if raw is None:
            return None
        if isinstance(raw, str) and v.ascii_digits(raw.strip()):
            raw = int(raw.strip())
        if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 1:
            return raw
        label = "StudentGuardianRelationship.emergencyContactPriority"
        self.out.error(
            row,
            label,
            f"{label} '{str(raw)[:40]}' is not a whole number of 1 or more; {v.KEPT_WITHOUT}",
            source,
        )
        return None

    def _flag(self, row: int, source: str, link: Mapping[str, Any], key: str) -> bool:
        raw = link.get(key)
        if isinstance(raw, bool):
            return raw
        if raw is not None:
            label = f"StudentGuardianRelationship.{key}"
            self.out.error(
                row,
                label,
                f"{label} '{str(raw)[:40]}' is not true or false; taken as false",
                source,
            )
        return False

    def _relationship(self, row: int, source: str, link: Mapping[str, Any]) -> str | None:
        raw = _text_or_display(link.get("guardianRelationshipType"))
        label = "StudentGuardianRelationship.guardianRelationshipType"
        if raw is None:
            return None
        try:
            if not isinstance(raw, str):
                raise BadValue(f"{label} is {json_kind(raw)}, not text")
            return v.optional_text(v.check_text(v.clean(raw), label, MAX_LENGTHS["relationship"]))
        except BadValue as bad:
            self.out.error(row, label, f"{bad.message}; {v.KEPT_WITHOUT}", source)
            return None

    # -- groups -----------------------------------------------------------------------

    def _groups(self) -> None:
        units = self._group_list("AcademicUnit", "class", GroupKind.CLASS)
        forms = self._group_list("RegistrationForm", "form", GroupKind.REGISTRATION)
        members: set[tuple[str, Role, str, MembershipRole]] = set()

        def add(row: int, group: str, role: Role, person: str, as_: MembershipRole) -> None:
            key = (group, role, person, as_)
            if key not in members:
                members.add(key)
                self.out.memberships.append(MembershipRecord(*key, row=row))

        for form_href, (row, group_id) in forms.items():
            tutor = id_of_href(_ref(self.index.records.get(form_href) or {}, "tutor"))
            if tutor is not None:
                add(row, group_id, Role.STAFF, tutor, MembershipRole.TEACHER)
        for entity, group_ref, groups, person_ref, role, as_ in (
            (
                "AcademicUnitLead",
                "academicUnit",
                units,
                "staff",
                Role.STAFF,
                MembershipRole.TEACHER,
            ),
            (
                "AcademicUnitEnrolment",
                "academicUnit",
                units,
                "student",
                Role.PUPIL,
                MembershipRole.STUDENT,
            ),
            (
                "RegistrationFormMembership",
                "registrationForm",
                forms,
                "student",
                Role.PUPIL,
                MembershipRole.STUDENT,
            ),
        ):
            for row, source, stub in self._rows(entity):
                href = stub.get("href") if isinstance(stub, dict) else None
                try:
                    found = self._record(row, source, href, entity, f"{entity} href")
                    person = self._ref_id(row, source, found, person_ref, entity)
                except _Skip:
                    continue
                group = groups.get(_ref(found, group_ref) or "")
                if group is None:
                    self.out.error(
                        row,
                        f"{entity}.{group_ref}",
                        f"{entity}.{group_ref} names a group the pull does not list; {v.SKIPPED}",
                        source,
                    )
                    continue
                if not self._current(found):
                    continue
                add(row, group[1], role, person, as_)

    def _group_list(self, entity: str, prefix: str, kind: GroupKind) -> dict[str, tuple[int, str]]:
        """The groups of a list (href -> (row, group MIS ID)), each added once."""
        found: dict[str, tuple[int, str]] = {}
        for row, source, stub in self._rows(entity):
            href = stub.get("href") if isinstance(stub, dict) else None
            try:
                record = self._record(row, source, href, entity, f"{entity} href")
                group_id = f"{prefix}-{self._id(row, source, record, entity)}"
            except _Skip:
                continue
            raw = record.get("name")
            label = f"{entity}.name"
            try:
                if not isinstance(raw, str) or not v.clean(raw):
                    raise BadValue(f"{label} is {'empty' if raw in (None, '') else json_kind(raw)}")
                name = v.check_text(v.clean(raw), label, MAX_LENGTHS["group_name"])
            except BadValue as bad:
                self.out.error(row, label, f"{bad.message}; {v.SKIPPED}", source)
                continue
            if str(href) in found:
                continue
            found[str(href)] = (row, group_id)
            self.out.groups.append(GroupRecord(group_id, name, kind, row=row))
        return found

    def _current(self, record: Mapping[str, Any]) -> bool:
        """Whether a membership holds on the pull's day (no dates: it does)."""
        started = _iso_day(_date_text(record.get("startDate")))
        ended = _iso_day(_date_text(record.get("endDate")))
        return not (started is not None and started > self.day) and not (
            ended is not None and ended < self.day
        )

    # -- attendance -------------------------------------------------------------------

    def _attendance(self) -> None:
        entity = "AttendanceRecord"
        first: dict[tuple[str, date, str], int] = {}
        for row, source, stub in self._rows(entity):
            href = stub.get("href") if isinstance(stub, dict) else None
            try:
                record = self._record(row, source, href, entity, f"{entity} href")
                pupil = self._ref_id(row, source, record, "student", entity)
            except _Skip:
                continue
            if record.get("isRedundant") is True:
                continue
            mark_href = _ref(record, "attendanceMark")
            if mark_href is None:
                continue  # no mark taken yet
            label = f"{entity}.startDatetime"
            try:
                when = _date_text(record.get("startDatetime"))
                if when is None:
                    raise BadValue(f"{label} is missing")
                day = v.parse_date(when, label, v.DateForms.ISO)
                hour = int(when[11:13]) if v.ascii_digits(when[11:13]) else 0
                mark = self.index.records.get(mark_href)
                code_raw = mark.get("code") if isinstance(mark, dict) else None
                if not isinstance(code_raw, str):
                    label = "AttendanceMark.code"
                    raise BadValue(f"{label} for {mark_href} is not in the pull")
                label = "AttendanceMark.code"
                code = v.parse_attendance_code(code_raw, label)
            except BadValue as bad:
                self.out.error(row, label, f"{bad.message}; {v.SKIPPED}", source)
                continue
            session = "PM" if hour >= PM_FROM_HOUR else "AM"
            key = (pupil, day, session)
            if key in first:
                self.out.error(
                    row,
                    label,
                    f"student '{pupil}' already has a mark for {day.isoformat()} "
                    f"{session} in record {first[key]}; {v.SKIPPED}",
                    source,
                )
                continue
            first[key] = row
            self.out.attendance.append(AttendanceMark(pupil, day, session, code, row=row))


# -- values ---------------------------------------------------------------------------


def _needed(role: Role, name: str) -> bool:
    if name in ("legal_given_name", "legal_family_name"):
        return True
    return role is Role.PUPIL and name == "date_of_birth"


def _text_or_display(value: Any) -> Any:
    """A value Arbor may send as text or as a reference stub (its displayName)."""
    if isinstance(value, dict) and isinstance(value.get("displayName"), str):
        return value["displayName"]
    return value


def _date_text(value: Any) -> str | None:
    """A date as Arbor sends it: "2012-04-03" or {"entityType": "date", "date":
    "2012-04-03 00:00:00"} ([I] mis-apis.md 2.2: accept both)."""
    if isinstance(value, dict):
        value = value.get("date")
    return value if isinstance(value, str) and value.strip() else None


def _iso_day(value: Any) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        return v.parse_date(value, "date", v.DateForms.ISO)
    except BadValue:
        return None


def _gender(raw: str) -> Gender:
    return v.parse_gender(raw, _LABELS["gender"])


__all__ = [
    "CHANGELOG_KEY",
    "FORMAT",
    "LIST_KEYS",
    "NOT_CARRIED",
    "RECORD_KEYS",
    "ArborApiReader",
    "ArborIndex",
    "index_answers",
    "index_from_bundle",
]
