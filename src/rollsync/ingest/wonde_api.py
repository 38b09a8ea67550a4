"""Reads a pull from Wonde's API (a bundle from `ingest.pulled`): one report each.

The bundle holds Wonde's answers as they came (the school's record, then every page of
the report's endpoint), or, for an incremental pull, `merged.json`: the endpoint's
records after the changes were merged into the previous pull's, which is then what is
read. Shapes: shared/reference/mis-apis.md section 6 and docs/connectors/wonde.md.

- A person's MIS ID is Wonde's `mis_id` (the school MIS's own ID), never Wonde's `id`.
- Names: `legal_forename`/`legal_surname` are the legal names (`forename`/`surname`
  when Wonde has no legal ones); `forename`/`surname` are the preferred names when
  they differ from the legal ones.
- An include the pull did not ask for (an opted-out field) leaves its fields unknown.
- One bad record is a row error naming its position in Wonde's list (1-based, across
  pages; `source` the endpoint) and the field; the other records go on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
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
from rollsync.domain.reports import CATALOGUE, ReportSpec

from . import values as v
from .collect import BatchCollector
from .errors import BadValue, DamagedValue, FileRejected
from .pulled import PulledBundle, PulledReader, read_pull

FORMAT = "wonde-api"
VENDOR = "wonde"

# Report -> the endpoints its records come from (as in connectors/wonde.py's API).
_ENDPOINTS: Mapping[str, tuple[str, ...]] = {
    r.STUDENTS: ("students",),
    r.STUDENTS_FUTURE: ("students-pre-admission",),
    r.STAFF: ("employees",),
    r.CONTACTS: ("students",),
    r.GROUPS: ("classes", "groups"),
    r.ATTENDANCE: ("attendance/session",),
}
_ROLES: Mapping[str, Role] = {
    r.STUDENTS: Role.PUPIL,
    r.STUDENTS_FUTURE: Role.PUPIL,
    r.STAFF: Role.STAFF,
    r.CONTACTS: Role.CONTACT,
}
_GROUP_TYPES = {"REGISTRATION": GroupKind.REGISTRATION, "YEAR": GroupKind.YEAR}


class _Absent:
    """A value the record does not carry at all (its include was not asked)."""


ABSENT = _Absent()


class WondeApiReader(PulledReader):
    vendor = VENDOR
    vendor_label = "Wonde"
    format = FORMAT
    label = "Wonde (pulled)"

    def read(self, bundle: PulledBundle, *, report: str | None, today: date | None) -> ImportBatch:
        return _Reader(bundle, today).read()


# -- reading values ----------------------------------------------------------------------


def _dig(record: Any, *path: str) -> Any:
    """The value at `path` in nested includes ({"data": ...} unwrapped), ABSENT when a
    key is missing, None when a level is null. A wrong shape raises BadValue."""
    value = record
    walked: list[str] = []
    for key in path:
        if value is None:
            return None
        if not isinstance(value, dict):
            raise BadValue(f"{'.'.join(walked) or 'the record'} is not an object")
        if key not in value:
            return ABSENT
        value = value[key]
        walked.append(key)
        if isinstance(value, dict) and "data" in value:
            value = value["data"]  # an include
    return value


def _text_of(value: Any, label: str) -> str | None:
    """A scalar as text; a list or object is not a value."""
    if value is None or value is ABSENT:
        return None
    if isinstance(value, bool):
        raise BadValue(f"{label} is true/false, not text")
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dict) and isinstance(value.get("date"), str):
        return str(value["date"])  # Wonde's date object
    raise BadValue(f"{label} is a {type(value).__name__}, not a value")


def _date(raw: str, label: str) -> date:
    return v.parse_date(raw, label, v.ISO_DATES)


_CONVERTERS: Mapping[str, Callable[[str, str], Any]] = {
    "date_of_birth": _date,
    "start_date": _date,
    "leaving_date": _date,
    "gender": v.parse_gender,
    "email": v.parse_email,
    "upn": v.parse_upn,
    "year_group": lambda raw, label: v.year_group(raw),
    "postcode": lambda raw, label: v.postcode(raw),
    "mis_id": lambda raw, label: v.clean(raw),
}


@dataclass(frozen=True, slots=True)
class _Raw:
    label: str  # how Wonde names it: "education_details.upn"
    value: Any  # as found (ABSENT: not carried)


def _address(home: Any) -> Any:
    if home is None or home is ABSENT:
        return home
    if not isinstance(home, dict):
        raise BadValue("contact_details.addresses.home is not an object")
    parts = [_text_of(home.get(k), f"addresses.home.{k}") for k in _ADDRESS_KEYS]
    apartment, number, name, street, district, town, county = (v.clean(p) for p in parts)
    first = " ".join(x for x in (number or name, street) if x)
    return ", ".join(x for x in (apartment, first, district, town, county) if x) or None


_ADDRESS_KEYS = ("apartment", "house_number", "house_name", "street", "district", "town", "county")


def _safely(get: Callable[[], Any]) -> Any:
    try:
        return get()
    except BadValue as bad:
        return bad


def _person_raw(record: dict[str, Any], report: str) -> dict[str, _Raw]:
    """The report's fields as the record carries them (values not yet checked)."""
    legal_given = record.get("legal_forename", ABSENT)
    legal_family = record.get("legal_surname", ABSENT)
    given, family = record.get("forename"), record.get("surname")
    has_legal = legal_given not in (None, ABSENT) or legal_family not in (None, ABSENT)
    out: dict[str, _Raw] = {
        "mis_id": _Raw("mis_id", record.get("mis_id")),
        "legal_given_name": _Raw("legal_forename", legal_given)
        if has_legal
        else _Raw("forename", given),
        "legal_family_name": _Raw("legal_surname", legal_family)
        if has_legal
        else _Raw("surname", family),
        "middle_names": _Raw("middle_names", record.get("middle_names", ABSENT)),
        "date_of_birth": _Raw("date_of_birth", record.get("date_of_birth", ABSENT)),
        "gender": _Raw("gender", record.get("gender", ABSENT)),
        "title": _Raw("title", record.get("title", ABSENT)),
    }
    if has_legal:
        out["preferred_given_name"] = _Raw(
            "forename", given if isinstance(given, str) and given != legal_given else None
        )
        out["preferred_family_name"] = _Raw(
            "surname", family if isinstance(family, str) and family != legal_family else None
        )
    details = "contact_details"
    out["email"] = _Raw(
        f"{details}.emails.primary", _safely(lambda: _dig(record, details, "emails", "primary"))
    )
    out["phone"] = _Raw(
        f"{details}.telephones.primary",
        _safely(lambda: _dig(record, details, "telephones", "primary")),
    )
    out["postcode"] = _Raw(
        f"{details}.addresses.home.postcode",
        _safely(lambda: _dig(record, details, "addresses", "home", "postcode")),
    )
    out["address"] = _Raw(
        f"{details}.addresses.home",
        _safely(lambda: _address(_dig(record, details, "addresses", "home"))),
    )
    if report in (r.STUDENTS, r.STUDENTS_FUTURE):
        edu = "education_details"
        out["upn"] = _Raw(f"{edu}.upn", _safely(lambda: _dig(record, edu, "upn")))
        out["start_date"] = _Raw(
            f"{edu}.admission_date", _safely(lambda: _dig(record, edu, "admission_date"))
        )
        out["leaving_date"] = _Raw(
            f"{edu}.leaving_date", _safely(lambda: _dig(record, edu, "leaving_date"))
        )
        out["year_group"] = _Raw("year.code", _safely(lambda: _dig(record, "year", "code")))
        out["registration_group"] = _Raw(
            "groups.name", _safely(lambda: _registration(record.get("groups", ABSENT)))
        )
    elif report == r.STAFF:
        emp = "employment_details"
        out["staff_code"] = _Raw(
            f"{emp}.staff_code", _safely(lambda: _dig(record, emp, "staff_code"))
        )
        out["start_date"] = _Raw(
            f"{emp}.employment_start_date",
            _safely(lambda: _dig(record, emp, "employment_start_date")),
        )
        out["leaving_date"] = _Raw(
            f"{emp}.employment_end_date",
            _safely(lambda: _dig(record, emp, "employment_end_date")),
        )
    return out


def _registration(groups: Any) -> Any:
    if groups is ABSENT or groups is None:
        return groups
    data = groups.get("data") if isinstance(groups, dict) else None
    if not isinstance(data, list):
        raise BadValue("groups is not a list of groups")
    for group in data:
        if isinstance(group, dict) and group.get("type") == "REGISTRATION":
            return group.get("name")
    return None


# -- the reader --------------------------------------------------------------------------


class _Reader:
    def __init__(self, bundle: PulledBundle, today: date | None) -> None:
        self.bundle = bundle
        self.report = bundle.report
        if self.report not in _ENDPOINTS:
            raise FileRejected(
                f"this Wonde pull carries '{self.report[:40]}', which is not a report rollsync reads"
            )
        self.spec: ReportSpec = CATALOGUE[self.report]
        self.out = BatchCollector(FORMAT, today=today)
        self.complete = True

    def records(self, endpoint: str) -> Iterator[tuple[int, Any]]:
        """(position in Wonde's list, record), every page in order."""
        if self.bundle.merged is not None:
            merged = self.bundle.merged
            listed = merged.get(endpoint) if isinstance(merged, dict) else None
            if not isinstance(listed, list):
                raise FileRejected(f"the pull's merged records have no {endpoint} list")
            yield from enumerate(listed, start=1)
            return
        n = 0
        found = False
        for answer in self.bundle.answers:
            if not answer.path.endswith("/" + endpoint):
                continue
            found = True
            body = answer.json()
            data = body.get("data") if isinstance(body, dict) else None
            if not isinstance(data, list):
                raise FileRejected(
                    f"the answer to {answer.url[:120]} has no data list", source=endpoint
                )
            for item in data:
                n += 1
                yield n, item
        if not found:
            raise FileRejected(f"the Wonde pull holds no answer from {endpoint}", source=endpoint)

    def declared_urn(self) -> str | None:
        for answer in self.bundle.answers:
            parts = answer.path.strip("/").split("/")
            if len(parts) == 2 and parts[0] == "schools":
                body = answer.json()
                data = body.get("data") if isinstance(body, dict) else None
                urn = data.get("urn") if isinstance(data, dict) else None
                if isinstance(urn, int | str) and not isinstance(urn, bool) and str(urn):
                    return str(urn)
        return None

    def read(self) -> ImportBatch:
        role = _ROLES.get(self.report)
        if self.report == r.CONTACTS:
            self.contacts()
        elif role is not None:
            self.people(role)
        elif self.report == r.GROUPS:
            for endpoint in _ENDPOINTS[r.GROUPS]:
                self.groups(endpoint)
        else:
            self.attendance()
        complete: frozenset[Role] = frozenset()
        if role is not None and not self.spec.future and self.complete:
            complete = frozenset({role})
        return self.out.build(
            reports={self.report},
            complete_for=complete,
            complete_when_empty=True,
            declared_urn=self.declared_urn(),
            generated_at=self.bundle.pulled_at or None,
        )

    # -- people ----------------------------------------------------------------------

    def person(
        self, record: Any, row: int, source: str, role: Role, *, prefix: str = ""
    ) -> tuple[PersonRecord, dict[str, str]] | None:
        """The record as a person of `role` with the labels of its fields, or None
        (reported; refused people noted)."""
        if not isinstance(record, dict):
            self.out.error(
                row,
                prefix.rstrip(".") or None,
                "this record is not an object; " + v.SKIPPED,
                source,
            )
            return None
        raw = _person_raw(record, self.report)
        values: dict[str, Any] = {}
        unknown: set[str] = set()
        labels: dict[str, str] = {}
        refused = False
        fields = self.spec.fields
        for spec_field in fields:
            name = spec_field.name
            if name not in raw:
                continue
            found = raw[name]
            label = prefix + found.label
            labels[name] = label
            if found.value is ABSENT:
                if spec_field.mandatory:
                    self.out.error(
                        row,
                        label,
                        f"{label} is missing, but {spec_field.label} is "
                        f"mandatory in {self.spec.label}; {v.SKIPPED}",
                        source,
                    )
                    refused = True
                else:
                    unknown.add(name)
                continue
            try:
                if isinstance(found.value, BadValue):
                    raise found.value
                text = v.clean(_text_of(found.value, label))
                if not text:
                    if spec_field.mandatory:
                        self.out.error(
                            row,
                            label,
                            f"{label} is empty, but {spec_field.label} is "
                            f"mandatory in {self.spec.label}; {v.SKIPPED}",
                            source,
                        )
                        refused = True
                    continue
                v.check_text(v.clean(text), label, MAX_LENGTHS.get(name, v.LONGEST_CELL))
                converter = _CONVERTERS.get(name)
                values[name] = converter(text, label) if converter else v.clean(text)
            except BadValue as problem:
                refuse = spec_field.mandatory or isinstance(problem, DamagedValue)
                outcome = v.SKIPPED if refuse else v.KEPT_WITHOUT
                self.out.error(row, label, f"{problem.message}; {outcome}", source)
                if refuse:
                    refused = True
                else:
                    unknown.add(name)
        mis_id = values.get("mis_id")
        if refused or not mis_id:
            text_id = record.get("mis_id")
            self.out.reject_person(
                role, text_id if isinstance(text_id, str) else None, row=row, source=source
            )
            return None
        person = PersonRecord(
            role=role,
            future=self.spec.future,
            row=row,
            source=source,
            unknown_fields=frozenset(unknown),
            **values,
        )
        checked = self.out.checked(person, id_field=labels.get("mis_id", "mis_id"), labels=labels)
        return None if checked is None else (checked, labels)

    def people(self, role: Role) -> None:
        (endpoint,) = _ENDPOINTS[self.report]
        for row, record in self.records(endpoint):
            self.out.rows_read += 1
            found = self.person(record, row, endpoint, role)
            if found is not None:
                self.out.add_person(found[0], id_field="mis_id", labels=found[1])

    def contacts(self) -> None:
        """Every pupil's contacts (students?include=contacts): each contact once,
        a link per pupil with its priority, parental responsibility and relationship."""
        endpoint = "students"
        linked: dict[tuple[str, str], int] = {}
        for row, student in self.records(endpoint):
            self.out.rows_read += 1
            if not isinstance(student, dict):
                self.out.error(row, None, f"this student is not an object; {v.SKIPPED}", endpoint)
                self.complete = False
                continue
            pupil = student.get("mis_id")
            pupil_id = (
                v.clean(str(pupil))
                if isinstance(pupil, str | int) and not isinstance(pupil, bool)
                else ""
            )
            contacts = student.get("contacts", ABSENT)
            listed = contacts.get("data") if isinstance(contacts, dict) else None
            if not isinstance(listed, list):
                self.out.error(
                    row,
                    "contacts",
                    "this student's contacts are missing: rollsync cannot tell who they are, "
                    "so no contact is taken to have left",
                    endpoint,
                )
                self.complete = False
                continue
            if not pupil_id:
                self.out.error(
                    row,
                    "mis_id",
                    f"the student's mis_id is empty, so their contacts cannot "
                    f"be linked; {v.SKIPPED}",
                    endpoint,
                )
                for item in listed:
                    cid = item.get("mis_id") if isinstance(item, dict) else None
                    self.out.reject_person(Role.CONTACT, cid if isinstance(cid, str) else None)
                continue
            for n, item in enumerate(listed, start=1):
                prefix = f"contacts[{n}]."
                found = self.person(item, row, endpoint, Role.CONTACT, prefix=prefix)
                if found is None:
                    continue
                person, labels = found
                if (person.mis_id, pupil_id) in linked:
                    self.out.error(
                        row,
                        f"{prefix}mis_id",
                        f"contact '{person.mis_id}' is linked to pupil "
                        f"'{pupil_id}' already; {v.SKIPPED}",
                        endpoint,
                    )
                    continue
                if not self.out.add_person(
                    person, id_field=f"{prefix}mis_id", labels=labels, repeats=True
                ):
                    continue
                linked[person.mis_id, pupil_id] = row
                self.out.contact_links.append(self.link(item, person.mis_id, pupil_id, row, prefix))

    def link(
        self, item: dict[str, Any], contact_id: str, pupil_id: str, row: int, prefix: str
    ) -> ContactLink:
        rel = item.get("relationship")
        rel = rel.get("data", rel) if isinstance(rel, dict) and "data" in rel else rel
        rel = rel if isinstance(rel, dict) else {}
        label = f"{prefix}relationship"
        priority: int | None = None
        raw = rel.get("priority")
        if raw is not None:
            try:
                if isinstance(raw, bool):
                    raise BadValue(f"{label}.priority is true/false, not a number")
                priority = v.parse_positive_int(str(raw), f"{label}.priority")
            except BadValue as bad:
                self.out.error(
                    row, f"{label}.priority", f"{bad.message}; {v.KEPT_WITHOUT}", "students"
                )
        responsible = False
        raw_pr = rel.get("parental_responsibility")
        if isinstance(raw_pr, bool):
            responsible = raw_pr
        elif raw_pr is not None:
            try:
                responsible = v.parse_bool(str(raw_pr), f"{label}.parental_responsibility")
            except BadValue as bad:
                self.out.error(
                    row,
                    f"{label}.parental_responsibility",
                    f"{bad.message}; {v.KEPT_WITHOUT}",
                    "students",
                )
        relationship: str | None = None
        raw_rel = rel.get("relationship")
        if raw_rel is not None:
            try:
                text = v.clean(_text_of(raw_rel, f"{label}.relationship"))
                v.check_text(text, f"{label}.relationship", MAX_LENGTHS["relationship"])
                relationship = text or None
            except BadValue as bad:
                self.out.error(
                    row, f"{label}.relationship", f"{bad.message}; {v.KEPT_WITHOUT}", "students"
                )
        return ContactLink(contact_id, pupil_id, priority, responsible, relationship, row=row)

    # -- groups ----------------------------------------------------------------------

    def groups(self, endpoint: str) -> None:
        seen = {g.mis_id: g.row for g in self.out.groups}
        for row, record in self.records(endpoint):
            self.out.rows_read += 1
            if not isinstance(record, dict):
                self.out.error(row, None, f"this group is not an object; {v.SKIPPED}", endpoint)
                continue
            label = "mis_id"
            try:
                group_id = self.text(record.get("mis_id"), label, "group_mis_id", needed=True)
                label = "name"
                name = self.text(record.get("name"), label, "group_name", needed=True)
            except BadValue as bad:
                self.out.error(row, label, bad.message, endpoint)
                continue
            assert group_id is not None and name is not None
            if group_id in seen:
                self.out.error(
                    row,
                    "mis_id",
                    f"group '{group_id}' is listed already (row {seen[group_id]}); {v.SKIPPED}",
                    endpoint,
                )
                continue
            seen[group_id] = row
            kind = GroupKind.CLASS
            if endpoint != "classes":
                kind = _GROUP_TYPES.get(str(record.get("type") or "").upper(), GroupKind.OTHER)
            self.out.groups.append(GroupRecord(group_id, name, kind, row=row))
            for include, role, membership in (
                ("students", Role.PUPIL, MembershipRole.STUDENT),
                ("employees", Role.STAFF, MembershipRole.TEACHER),
            ):
                self.members(record, include, role, membership, group_id, row, endpoint)

    def members(
        self,
        record: dict[str, Any],
        include: str,
        role: Role,
        membership: MembershipRole,
        group_id: str,
        row: int,
        endpoint: str,
    ) -> None:
        value = record.get(include, ABSENT)
        listed = value.get("data") if isinstance(value, dict) else None
        if not isinstance(listed, list):
            self.out.error(
                row,
                include,
                f"the group's {include} are missing; its memberships of {include} were not read",
                endpoint,
            )
            return
        added: set[str] = set()
        for n, member in enumerate(listed, start=1):
            label = f"{include}[{n}].mis_id"
            try:
                raw = member.get("mis_id") if isinstance(member, dict) else None
                mis_id = self.text(raw, label, "person_mis_id", needed=True)
            except BadValue as bad:
                self.out.error(row, label, bad.message, endpoint)
                continue
            assert mis_id is not None
            if mis_id in added:
                continue
            added.add(mis_id)
            self.out.memberships.append(
                MembershipRecord(group_id, role, mis_id, membership, row=row)
            )

    def text(self, raw: Any, label: str, field: str, *, needed: bool) -> str | None:
        text = v.clean(_text_of(raw, label))
        if not text:
            if needed:
                raise BadValue(f"{label} is empty, but it is mandatory; {v.SKIPPED}")
            return None
        try:
            v.check_text(text, label, MAX_LENGTHS.get(field, v.LONGEST_CELL))
        except BadValue as bad:
            raise BadValue(f"{bad.message}; {v.SKIPPED}") from None
        return text

    # -- attendance ------------------------------------------------------------------

    def attendance(self) -> None:
        endpoint = "attendance/session"
        first: dict[tuple[str, date, str], int] = {}
        for row, record in self.records(endpoint):
            self.out.rows_read += 1
            label = "student.mis_id"
            try:
                if not isinstance(record, dict):
                    raise BadValue(f"this mark is not an object; {v.SKIPPED}")
                pupil = self.text(
                    _dig(record, "student", "mis_id"), label, "pupil_mis_id", needed=True
                )
                label = "date"
                day = _date(_text_of(record.get("date"), label) or "", label)
                label = "session"
                session = v.parse_session(_text_of(record.get("session"), label) or "", label)
                label = "attendance_code.code"
                code = v.parse_attendance_code(
                    _text_of(_dig(record, "attendance_code", "code"), label) or "", label
                )
            except BadValue as bad:
                message = bad.message if v.SKIPPED in bad.message else f"{bad.message}; {v.SKIPPED}"
                self.out.error(row, label, message, endpoint)
                continue
            assert pupil is not None
            key = (pupil, day, session)
            if key in first:
                self.out.error(
                    row,
                    "session",
                    f"pupil '{pupil}' already has a mark for {day.isoformat()} "
                    f"{session} (row {first[key]}); {v.SKIPPED}",
                    endpoint,
                )
                continue
            first[key] = row
            self.out.attendance.append(AttendanceMark(pupil, day, session, code, row=row))


def read_records(payload: bytes, endpoint: str) -> list[Any]:
    """A bundle's records of one endpoint (for tests and tools)."""
    bundle = read_pull(payload, vendor=VENDOR)
    reader = _Reader(bundle, None)
    return [record for _, record in reader.records(endpoint)]
