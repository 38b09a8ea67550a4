"""Reads a pull from IRIS iSAMS / Ed:gen's REST API (a bundle from `ingest.pulled`).

A pull of Students holds every page of `/api/students`; a pull of Staff every page of
`/api/humanresources/employees` (see `rollsync.connectors.isams`, whose `API` names the
paths and keys). Each record becomes one person: a pupil's MIS ID is the `schoolId`
(the school's pupil ID, not the internal `id`), a member of staff's the employee `id`.

Only people whose `systemStatus` is current are on roll: iSAMS's list of current students
is a full list, so a pupil it lists with another status (a leaver still shown) is left out
and, like a pupil no longer listed, is taken as having left. A record that cannot be read
is a row error naming its position in the vendor's list (1-based, across pages) and the
field; the others are read. A bundle that is damaged or lacks a page is refused whole.
See docs/connectors/isams.md.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from rollsync.domain import reports as r
from rollsync.domain.records import ImportBatch, PersonRecord, Role

from . import values as v
from .collect import BatchCollector, mandatory_for
from .errors import BadValue, FileRejected
from .pulled import PulledBundle, PulledReader, json_kind

FORMAT = "isams-api"
VENDOR = "isams"

# rollsync field -> the iSAMS field it comes from, for messages (mis-apis.md 1.5, 1.7 [V])
STUDENT_LABELS = {
    "mis_id": "schoolId",
    "legal_given_name": "forename",
    "legal_family_name": "surname",
    "preferred_given_name": "preferredName",
    "middle_names": "middlenames",
    "date_of_birth": "dob",
    "gender": "gender",
    "upn": "uniquePupilNumber",
    "year_group": "yearGroup",
    "registration_group": "formGroup",
    "start_date": "enrolmentDate",
    "leaving_date": "leavingDate",
    "email": "schoolEmailAddress",
    "postcode": "homeAddresses.postcode",
    "address": "homeAddresses",
}
STAFF_LABELS = {
    "mis_id": "id",
    "title": "title",
    "legal_given_name": "forename",
    "legal_family_name": "surname",
    "preferred_given_name": "preferredName",
    "middle_names": "middleNames",
    "date_of_birth": "dateOfBirth",
    "gender": "gender",
    "staff_code": "schoolInitials",
    "email": "schoolEmailAddress",
    "phone": "schoolMobileNumber",
    "start_date": "enrolmentDate",
    "leaving_date": "leavingDate",
}
# What iSAMS never sends: unknown (the planner keeps what it holds), never "now blank".
STUDENT_NOT_SENT = frozenset({"preferred_family_name"})
STAFF_NOT_SENT = frozenset({"preferred_family_name", "postcode"})
ADDRESS_PARTS = ("address1", "address2", "address3", "town", "county")


class IsamsApiReader(PulledReader):
    vendor = VENDOR
    vendor_label = "IRIS iSAMS"
    format = FORMAT
    label = "IRIS iSAMS / Ed:gen (pulled)"

    def read(self, bundle: PulledBundle, *, report: str | None, today: date | None) -> ImportBatch:
        return _Reader(bundle, today).read()


def _api() -> Any:
    # Imported here: rollsync.connectors imports rollsync.ingest (pack_pull), so a
    # module-level import would go round in a circle.
    from rollsync.connectors.isams import API

    return API


class _Reader:
    def __init__(self, bundle: PulledBundle, today: date | None) -> None:
        self.bundle = bundle
        self.out = BatchCollector(FORMAT, row_noun="record", today=today)
        api = _api()
        self.status = api.current_status.casefold()
        if bundle.report == r.STUDENTS:
            self.role = Role.PUPIL
            self.path, self.key = f"/{api.students_path}", api.students_key
            self.labels, self.not_sent = STUDENT_LABELS, STUDENT_NOT_SENT
        elif bundle.report == r.STAFF:
            self.role = Role.STAFF
            self.path, self.key = f"/{api.employees_path}", api.employees_key
            self.labels, self.not_sent = STAFF_LABELS, STAFF_NOT_SENT
        else:
            raise FileRejected(
                f"this iSAMS pull says it carries '{bundle.report}'; iSAMS sends students "
                "and staff only"
            )

    def read(self) -> ImportBatch:
        position = 0
        for page, records in self._pages():
            source = f"{self.path} page {page}"
            for record in records:
                position += 1
                self._record(record, position, source)
        self.out.rows_read = position
        return self.out.build(
            reports={self.bundle.report},
            # The list of current students (employees) is a full list by definition:
            # even empty, so an empty answer reaches the planner's guard.
            complete_for={self.role},
            complete_when_empty=True,
            generated_at=self.bundle.pulled_at or None,
        )

    def _pages(self) -> list[tuple[int, list[Any]]]:
        """Every page, in order, or `FileRejected` when one is missing or damaged."""
        pages: dict[int, list[Any]] = {}
        last: dict[str, Any] = {}
        for answer in self.bundle.answers:
            if answer.path != self.path:
                continue
            if answer.status != 200:
                raise FileRejected(f"the pull holds a {answer.status} answer from {answer.url}")
            body = answer.json()
            records = body.get(self.key) if isinstance(body, dict) else None
            if not isinstance(body, dict) or not isinstance(records, list):
                raise FileRejected(
                    f"the answer from {answer.url} has no list '{self.key}'", field=self.key
                )
            for name in ("page", "totalPages", "totalCount"):
                value = body.get(name)
                if isinstance(value, bool) or not isinstance(value, int):
                    raise FileRejected(
                        f"the answer from {answer.url} has no whole number '{name}'", field=name
                    )
            page: int = body["page"]
            if page in pages:
                raise FileRejected(f"the pull holds page {page} of {self.path} twice")
            pages[page] = records
            last = body
        if not pages:
            raise FileRejected(f"the pull holds no answer from {self.path}")
        total_pages = max(1, last["totalPages"])
        missing = [n for n in range(1, total_pages + 1) if n not in pages]
        if missing or len(pages) != total_pages:
            raise FileRejected(
                f"the pull of {self.path} is incomplete: it should hold pages 1 to "
                f"{total_pages}, but holds {', '.join(map(str, sorted(pages)))}"
            )
        listed = sum(len(records) for records in pages.values())
        if listed != last["totalCount"]:
            raise FileRejected(
                f"the pull of {self.path} lists {listed} records where iSAMS said "
                f"{last['totalCount']}: it is not a full list",
                field="totalCount",
            )
        return sorted(pages.items())

    def _record(self, raw: Any, row: int, source: str) -> None:
        if not isinstance(raw, dict):
            self.out.error(row, None, f"record {row} is not a JSON object; {v.SKIPPED}", source)
            return
        fields = _Fields(self, raw, row, source)
        mis_id = fields.mis_id()
        if mis_id is None:
            return
        status = raw.get("systemStatus")
        if status is not None and not isinstance(status, str):
            fields.refuse("systemStatus", "systemStatus is not text")
        elif isinstance(status, str) and v.clean(status).casefold() != self.status:
            return  # not on roll (a leaver still listed): left out, so taken as gone
        record = fields.pupil(mis_id) if self.role is Role.PUPIL else fields.staff(mis_id)
        if fields.refused or record is None:
            self.out.reject_person(self.role, mis_id, row=row, source=source)
            return
        self.out.add_person(record, id_field=self.labels["mis_id"], labels=self.labels)


class _Fields:
    """One record's values, each read with its problems reported."""

    def __init__(self, reader: _Reader, raw: dict[str, Any], row: int, source: str) -> None:
        self.reader = reader
        self.out = reader.out
        self.raw = raw
        self.row = row
        self.source = source
        self.refused = False
        self.unknown: set[str] = set(reader.not_sent)

    def refuse(self, label: str, message: str) -> None:
        self.out.error(self.row, label, f"{message}; {v.SKIPPED}", self.source)
        self.refused = True

    def problem(self, field_name: str, message: str, *, label: str = "") -> None:
        """A value that cannot be read: the row goes when the field is mandatory, else
        the value is unknown."""
        label = label or self.reader.labels.get(field_name, field_name)
        if mandatory_for(self.reader.role, field_name):
            self.refuse(label, message)
        else:
            self.out.error(self.row, label, f"{message}; {v.KEPT_WITHOUT}", self.source)
            self.unknown.add(field_name)

    def mis_id(self) -> str | None:
        label = self.reader.labels["mis_id"]
        value = self.raw.get(label)
        # A pupil's schoolId is text; an employee id is a number (or its text).
        numbers = self.reader.role is Role.STAFF
        if isinstance(value, int) and not isinstance(value, bool) and numbers:
            value = str(value)
        if value is None or (isinstance(value, str) and not v.clean(value)):
            self.out.error(
                self.row,
                label,
                f"{label} is missing, but it is mandatory: rollsync cannot tell who this is; "
                f"{v.SKIPPED}",
                self.source,
            )
            return None
        if not isinstance(value, str):
            self.out.error(
                self.row,
                label,
                f"{label} is {json_kind(value)}, not text: rollsync cannot tell who this is; "
                f"{v.SKIPPED}",
                self.source,
            )
            return None
        return v.clean(value)

    def text(
        self, field_name: str, *, source: dict[str, Any] | None = None, key: str = ""
    ) -> str | None:
        label = key or self.reader.labels[field_name]
        value = (self.raw if source is None else source).get(label.split(".")[-1])
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool) and field_name == "year_group":
            value = str(value)
        if not isinstance(value, str):
            self.problem(field_name, f"{label} is {json_kind(value)}, not text", label=label)
            return None
        return v.clean(value) or None

    def needed(self, field_name: str) -> str | None:
        value = self.text(field_name)
        if value is None and field_name not in self.unknown and not self.refused:
            label = self.reader.labels[field_name]
            if mandatory_for(self.reader.role, field_name):
                self.refuse(label, f"{label} is missing, but it is mandatory")
        return value

    def date(self, field_name: str) -> date | None:
        text = self.needed(field_name)
        if text is None:
            return None
        try:
            return v.parse_date(text, self.reader.labels[field_name], v.DateForms.ISO)
        except BadValue as bad:
            self.problem(field_name, bad.message)
            return None

    def parsed(self, field_name: str, parse: Any) -> Any:
        text = self.text(field_name)
        if text is None:
            return None
        try:
            return parse(text, self.reader.labels[field_name])
        except BadValue as bad:
            self.problem(field_name, bad.message)
            return None

    def common(self) -> dict[str, Any]:
        return {
            "legal_given_name": self.needed("legal_given_name") or "",
            "legal_family_name": self.needed("legal_family_name") or "",
            "preferred_given_name": v.name(self.text("preferred_given_name")),
            "middle_names": v.name(self.text("middle_names")),
            "date_of_birth": self.date("date_of_birth"),
            "gender": self.parsed("gender", v.parse_gender),
            "start_date": self.date("start_date"),
            "leaving_date": self.date("leaving_date"),
            "email": self.parsed("email", v.parse_email),
        }

    def pupil(self, mis_id: str) -> PersonRecord | None:
        values = self.common()
        upn = self.parsed("upn", v.parse_upn)
        postcode, address = self.home_address()
        if self.refused:
            return None
        return PersonRecord(
            role=Role.PUPIL,
            mis_id=mis_id,
            **values,
            upn=upn,
            year_group=v.year_group(self.text("year_group")),
            registration_group=self.text("registration_group"),
            postcode=postcode,
            address=address,
            row=self.row,
            source=self.source,
            unknown_fields=frozenset(self.unknown),
        )

    def staff(self, mis_id: str) -> PersonRecord | None:
        values = self.common()
        title = self.text("title")
        staff_code = self.text("staff_code")
        phone = self.text("phone")
        if self.refused:
            return None
        return PersonRecord(
            role=Role.STAFF,
            mis_id=mis_id,
            **values,
            title=title,
            staff_code=staff_code,
            phone=phone,
            row=self.row,
            source=self.source,
            unknown_fields=frozenset(self.unknown),
        )

    def home_address(self) -> tuple[str | None, str | None]:
        """The first home address: its postcode, and the rest on one line."""
        if "homeAddresses" not in self.raw:
            self.unknown |= {"postcode", "address"}
            return None, None
        addresses = self.raw["homeAddresses"]
        if addresses is None:
            return None, None
        if not isinstance(addresses, list) or not all(isinstance(a, dict) for a in addresses):
            self.problem("address", "homeAddresses is not a list of addresses")
            self.unknown.add("postcode")
            return None, None
        if not addresses:
            return None, None
        first = addresses[0]
        postcode = v.postcode(self.text("postcode", source=first, key="homeAddresses.postcode"))
        parts = [
            self.text("address", source=first, key=f"homeAddresses.{p}") for p in ADDRESS_PARTS
        ]
        return postcode, ", ".join(p for p in parts if p) or None
