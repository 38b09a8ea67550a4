"""The report catalogue: the kinds of export a school can accept, and their fields.

A field is mandatory (the report cannot be processed without it) or optional
(the school may opt out of it; an opted-out field is dropped at ingest and never
stored). The field names here are also the column headers of the documented
rollsync CSV format (docs/formats/rollsync-csv.md), one CSV per report.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rollsync.domain.records import ContactLink, ImportBatch, PersonRecord, Role

STUDENTS = "students"
STUDENTS_FUTURE = "students_future"
STAFF = "staff"
STAFF_FUTURE = "staff_future"
CONTACTS = "contacts"
GROUPS = "groups"
ATTENDANCE = "attendance"


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    mandatory: bool
    label: str


@dataclass(frozen=True, slots=True)
class ReportSpec:
    code: str
    label: str
    role: Role | None  # the people it lists, if any
    future: bool
    fields: tuple[FieldSpec, ...]

    @property
    def mandatory_fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.mandatory)

    @property
    def optional_fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if not f.mandatory)

    def field(self, name: str) -> FieldSpec:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)


def _m(name: str, label: str) -> FieldSpec:
    return FieldSpec(name, True, label)


def _o(name: str, label: str) -> FieldSpec:
    return FieldSpec(name, False, label)


_STUDENT_FIELDS = (
    _m("mis_id", "MIS ID"),
    _m("legal_given_name", "Legal forename"),
    _m("legal_family_name", "Legal surname"),
    _m("date_of_birth", "Date of birth"),
    _o("preferred_given_name", "Preferred forename"),
    _o("preferred_family_name", "Preferred surname"),
    _o("middle_names", "Middle names"),
    _o("gender", "Gender"),
    _o("upn", "UPN"),
    _o("start_date", "Admission date"),
    _o("leaving_date", "Leaving date"),
    _o("year_group", "Year group"),
    _o("registration_group", "Registration group"),
    _o("email", "Email"),
    _o("postcode", "Postcode"),
    _o("address", "Address"),
)

# Staff date of birth is optional: OneRoster and SDS feeds often carry no staff
# demographics, and HR systems may withhold it; matching then leans on name and email.
_STAFF_FIELDS = (
    _m("mis_id", "MIS ID"),
    _m("legal_given_name", "Legal forename"),
    _m("legal_family_name", "Legal surname"),
    _o("date_of_birth", "Date of birth"),
    _o("preferred_given_name", "Preferred forename"),
    _o("preferred_family_name", "Preferred surname"),
    _o("middle_names", "Middle names"),
    _o("gender", "Gender"),
    _o("title", "Title"),
    _o("staff_code", "Staff code"),
    _o("start_date", "Contract start date"),
    _o("leaving_date", "Contract end date"),
    _o("email", "Email"),
    _o("phone", "Phone"),
    _o("postcode", "Postcode"),
)

_CONTACT_FIELDS = (
    _m("mis_id", "Contact MIS ID"),
    _m("legal_given_name", "Forename"),
    _m("legal_family_name", "Surname"),
    _m("pupil_mis_id", "Pupil MIS ID"),
    _o("title", "Title"),
    _o("priority", "Contact priority"),
    _o("parental_responsibility", "Parental responsibility"),
    _o("relationship", "Relationship"),
    _o("email", "Email"),
    _o("phone", "Phone"),
    _o("postcode", "Postcode"),
    _o("address", "Address"),
)

_GROUP_FIELDS = (
    _m("group_mis_id", "Group ID"),
    _m("group_name", "Group name"),
    _m("group_kind", "Group type (class, registration, year, other)"),
    _m("person_role", "Member type (pupil, staff)"),
    _m("person_mis_id", "Member MIS ID"),
    _m("membership_role", "Membership (teacher, student)"),
)

_ATTENDANCE_FIELDS = (
    _m("pupil_mis_id", "Pupil MIS ID"),
    _m("date", "Date"),
    _m("session", "Session (AM, PM)"),
    _m("code", "Mark"),
)

CATALOGUE: Mapping[str, ReportSpec] = {
    r.code: r
    for r in (
        ReportSpec(STUDENTS, "Students (current)", Role.PUPIL, False, _STUDENT_FIELDS),
        ReportSpec(STUDENTS_FUTURE, "Students (future)", Role.PUPIL, True, _STUDENT_FIELDS),
        ReportSpec(STAFF, "Staff (current)", Role.STAFF, False, _STAFF_FIELDS),
        ReportSpec(STAFF_FUTURE, "Staff (future)", Role.STAFF, True, _STAFF_FIELDS),
        ReportSpec(CONTACTS, "Contacts", Role.CONTACT, False, _CONTACT_FIELDS),
        ReportSpec(GROUPS, "Groups & Classes", None, False, _GROUP_FIELDS),
        ReportSpec(ATTENDANCE, "Attendance", None, False, _ATTENDANCE_FIELDS),
    )
}

# The report that lists people of a role, current and future.
CURRENT_REPORT_FOR_ROLE: Mapping[Role, str] = {
    Role.PUPIL: STUDENTS,
    Role.STAFF: STAFF,
    Role.CONTACT: CONTACTS,
}
FUTURE_REPORT_FOR_ROLE: Mapping[Role, str] = {Role.PUPIL: STUDENTS_FUTURE, Role.STAFF: STAFF_FUTURE}

# PersonRecord attributes that map one-to-one from a report field.
_PERSON_OPTIONAL = frozenset(
    f.name for f in (*_STUDENT_FIELDS, *_STAFF_FIELDS, *_CONTACT_FIELDS) if not f.mandatory
) & frozenset(f.name for f in dataclasses.fields(PersonRecord))


class ReportNotAccepted(Exception):
    """The upload carries a report the school has not accepted."""


class UnknownField(ValueError):
    pass


def report_for_record(record: PersonRecord) -> str:
    if record.future and record.role in FUTURE_REPORT_FOR_ROLE:
        return FUTURE_REPORT_FOR_ROLE[record.role]
    return CURRENT_REPORT_FOR_ROLE[record.role]


def validate_opt_out(report: str, field_name: str) -> None:
    """Raise if `field_name` cannot be opted out of in `report`."""
    spec = CATALOGUE.get(report)
    if spec is None:
        raise UnknownField(f"unknown report {report!r}; known: {', '.join(CATALOGUE)}")
    try:
        f = spec.field(field_name)
    except KeyError:
        raise UnknownField(
            f"report {spec.label} has no field {field_name!r}; "
            f"its fields are {', '.join(x.name for x in spec.fields)}"
        ) from None
    if f.mandatory:
        raise UnknownField(
            f"{f.label} ({f.name}) is mandatory in {spec.label}: it cannot be opted out of"
        )


def drop_opted_out(batch: ImportBatch, opted_out: Mapping[str, Iterable[str]]) -> ImportBatch:
    """Blank every field the school opted out of, report by report, in place.

    Runs before anything is stored, so an opted-out value never reaches the
    directory. Only optional fields can be opted out of (see `validate_opt_out`).
    """
    person_drops: dict[str, frozenset[str]] = {
        report: frozenset(fields) & _PERSON_OPTIONAL for report, fields in opted_out.items()
    }
    if any(person_drops.values()):
        cleaned: list[PersonRecord] = []
        for record in batch.people:
            drops = person_drops.get(report_for_record(record), frozenset())
            if drops:
                blanks: dict[str, Any] = dict.fromkeys(drops)
                record = dataclasses.replace(record, **blanks)
            cleaned.append(record)
        batch.people = cleaned
    link_drops = frozenset(opted_out.get(CONTACTS, ())) & {"priority", "relationship"}
    pr_dropped = "parental_responsibility" in frozenset(opted_out.get(CONTACTS, ()))
    if link_drops or pr_dropped:
        links: list[ContactLink] = []
        for link in batch.contact_links:
            changes: dict[str, object] = {name: None for name in link_drops}
            if pr_dropped:
                changes["parental_responsibility"] = False
            links.append(dataclasses.replace(link, **changes))  # type: ignore[arg-type]
        batch.contact_links = links
    return batch
