"""The Arbor simulator: REST v2 as mis-apis.md section 2 documents it, per school.

Each school's API is at `{url}/schools/{URN}` (its "Arbor URL"), with HTTP Basic
credentials `demo-app-{URN}` / `demo-pass-{URN}` (obviously fake). Lists are stubs
(`{"entityType", "href", "displayName"}`) paged by `page-number` / `page-size` (a page
larger than `API.max_page_size` is refused with 400, so a client must page); records
are served one by one under their type. Errors use Arbor's body
`{"response": {"code", "reason", "errors": [...]}}`.

Arbor's ids are derived from the snapshot's person (deterministic, and not the
snapshot's MIS ID: a school moving to Arbor is re-keyed). The approval pages are at
`{url}/approve` (GET the page, POST to approve: a redirect with a one-time code) and
`{url}/approve/token` (POST the code: the endpoint and credentials).

`bad@N` breaks request N: a list's first stub loses its href, or a record loses its
person (or its first reference). Tests may `patch` a record (a hostile value).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import socket
import threading
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

from rollsync.connectors.arbor import API
from rollsync.domain.records import Gender, GroupKind, MembershipRole, Role
from rollsync.ingest.arbor_api import LIST_KEYS, RECORD_KEYS
from rollsync.simulate.snapshot import ExportPerson, SchoolSnapshot

from .server import SimRequest, SimResponse, SimServer

REMOVE = object()  # `patch(..., key=REMOVE)` takes the key out of the record

_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
_GENDERS = {
    Gender.MALE: "MALE",
    Gender.FEMALE: "FEMALE",
    Gender.OTHER: "OTHER",
    Gender.UNKNOWN: "UNKNOWN",
}
# Each resource path the simulator serves -> its entity type
_RESOURCES = {
    API.students: "Student",
    API.staff: "Staff",
    API.people: "Person",
    API.guardians: "Guardian",
    API.relationships: "StudentGuardianRelationship",
    API.upn_assignments: "UkDfe_UpnAssignment",
    API.academic_units: "AcademicUnit",
    API.unit_enrolments: "AcademicUnitEnrolment",
    API.unit_leads: "AcademicUnitLead",
    API.registration_forms: "RegistrationForm",
    API.form_memberships: "RegistrationFormMembership",
    API.attendance_records: "AttendanceRecord",
    API.attendance_marks: "AttendanceMark",
}
# The resources with a change feed ([V] 2.3 has one per resource; these are served)
_FEEDS = frozenset({API.students, API.staff, API.people, API.upn_assignments})
_SESSION_START = {"AM": "08:50:00", "PM": "13:15:00"}
_SESSION_END = {"AM": "12:00:00", "PM": "15:20:00"}


def credentials_for(urn: str) -> tuple[str, str]:
    """The simulator's (fake) API user and password of a school."""
    return f"demo-app-{urn}", f"demo-pass-{urn}"


def _error(status: int, message: str, exception: str = "") -> SimResponse:
    reason = _REASONS.get(status, "Error")
    body = {
        "response": {
            "code": status,
            "reason": reason,
            "errors": [
                {
                    "exception": exception or reason.replace(" ", "") + "Exception",
                    "message": message,
                    "trace": "",
                }
            ],
        }
    }
    return SimResponse.json(body, status)


def _date(d: date | None) -> dict[str, str] | None:
    return {"entityType": "date", "date": f"{d.isoformat()} 00:00:00"} if d else None


@dataclass(slots=True)
class _School:
    """One school as Arbor holds it: records by href, lists in Arbor's order."""

    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    lists: dict[str, list[str]] = field(default_factory=dict)  # resource -> hrefs
    ids: dict[tuple[str, str], int] = field(default_factory=dict)  # (kind, snapshot id)
    taken: dict[str, set[int]] = field(default_factory=dict)

    def id_for(self, kind: str, key: str) -> int:
        """A stable Arbor id for `key` (a snapshot person or group): from a hash, so
        the same person has the same id every day."""
        if (kind, key) in self.ids:
            return self.ids[kind, key]
        digest = hashlib.sha256(f"arbor:{kind}:{key}".encode()).hexdigest()
        found = 1000 + int(digest[:10], 16) % 9_000_000
        taken = self.taken.setdefault(kind, set())
        while found in taken:
            found += 1
        taken.add(found)
        self.ids[kind, key] = found
        return found

    def add(
        self, resource: str, ident: int, body: dict[str, Any], *, listed: bool = True
    ) -> dict[str, Any]:
        entity = _RESOURCES[resource]
        href = f"{API.path(resource)}/{ident}"
        record = {"entityType": entity, "id": ident, "href": href, **body}
        self.records[href] = record
        if listed:
            self.lists.setdefault(resource, []).append(href)
        return record


def _stub(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "entityType": record["entityType"],
        "href": record["href"],
        "displayName": record.get("displayName", ""),
    }


def build_school(snap: SchoolSnapshot) -> _School:
    """The school's Arbor records from its snapshot (current people only: Arbor's
    reports here carry no future starters)."""
    s = _School()
    people: dict[str, dict[str, Any]] = {}

    def person(p: ExportPerson, *, dated: bool) -> dict[str, Any]:
        if p.person_id in people:
            return people[p.person_id]
        pid = s.id_for("person", p.person_id)
        shown = f"{p.preferred_given or p.legal_given} {p.preferred_family or p.legal_family}"
        people[p.person_id] = s.add(
            API.people,
            pid,
            {
                "displayName": shown,
                "title": p.title,
                "legalFirstName": p.legal_given,
                "legalMiddleNames": p.middle,
                "legalLastName": p.legal_family,
                "preferredFirstName": p.preferred_given,
                "preferredLastName": p.preferred_family,
                # both date shapes Arbor may send ([I] 2.2), by person
                "dateOfBirth": _date(p.dob) if dated else p.dob.isoformat(),
                "gender": _GENDERS[p.gender],
            },
            listed=False,
        )
        return people[p.person_id]

    students: dict[str, dict[str, Any]] = {}
    for p in snap.pupils:
        if p.future:
            continue
        who = person(p, dated=True)
        sid = s.id_for("student", p.person_id)
        students[p.mis_id] = s.add(
            API.students,
            sid,
            {
                "displayName": who["displayName"],
                "person": _stub(who),
                "studentNumber": f"S{sid}",
                "legacySystemId": None,
                "uniqueLearnerNumber": None,
                "nhsNumber": None,
            },
        )
        if p.upn:
            s.add(
                API.upn_assignments,
                s.id_for("upn", p.person_id),
                {
                    "displayName": p.upn,
                    "student": _stub(students[p.mis_id]),
                    "upn": p.upn,
                    "startDatetime": _date(p.start_date),
                    "endDatetime": None,
                    "isTemporary": False,
                },
            )
    staff: dict[str, dict[str, Any]] = {}
    for p in snap.staff:
        if p.future:
            continue
        who = person(p, dated=False)
        staff[p.mis_id] = s.add(
            API.staff,
            s.id_for("staff", p.person_id),
            {
                "displayName": who["displayName"],
                "person": _stub(who),
                "staffNumber": None,
                "legacySystemId": None,
            },
        )
    guardians: dict[str, dict[str, Any]] = {}
    for c in snap.contacts:
        who = person(c, dated=False)
        guardians[c.mis_id] = s.add(
            API.guardians,
            s.id_for("guardian", c.person_id),
            {"displayName": who["displayName"], "person": _stub(who), "legacySystemId": None},
        )
    for link in snap.links:
        pupil, guardian = students.get(link.pupil_mis_id), guardians.get(link.contact_mis_id)
        if pupil is None or guardian is None:
            continue
        s.add(
            API.relationships,
            s.id_for("relationship", f"{link.contact_mis_id}:{link.pupil_mis_id}"),
            {
                "displayName": f"{guardian['displayName']} ({link.relationship})",
                "student": _stub(pupil),
                "guardian": _stub(guardian),
                "guardianRelationshipType": {
                    "entityType": "GuardianRelationshipType",
                    "href": f"{API.rest}/guardian-relationship-types/{link.ctf_code}",
                    "displayName": link.relationship,
                },
                "isLegalGuardian": link.parental_responsibility,
                "isPrimaryGuardian": link.priority == 1,
                "emergencyContactPriority": link.priority,
            },
        )
    _groups(s, snap, students, staff)
    _attendance(s, snap, students)
    return s


def _groups(
    s: _School,
    snap: SchoolSnapshot,
    students: dict[str, dict[str, Any]],
    staff: dict[str, dict[str, Any]],
) -> None:
    """Classes as academic units (enrolments and leads), registration groups as
    registration forms (memberships; the tutor on the form, [I]). Year groups are not
    served: their Arbor shape is not published."""
    start = _date(snap.date)
    for g in snap.groups:
        if g.kind is GroupKind.CLASS:
            unit = s.add(
                API.academic_units,
                s.id_for("unit", g.mis_id),
                {"displayName": g.name, "name": g.name, "code": g.name},
            )
            for role, mis_id, as_ in g.members:
                if as_ is MembershipRole.TEACHER and role is Role.STAFF and mis_id in staff:
                    s.add(
                        API.unit_leads,
                        s.id_for("lead", f"{g.mis_id}:{mis_id}"),
                        {
                            "academicUnit": _stub(unit),
                            "staff": _stub(staff[mis_id]),
                            "startDate": start,
                            "endDate": None,
                        },
                    )
                elif role is Role.PUPIL and mis_id in students:
                    s.add(
                        API.unit_enrolments,
                        s.id_for("enrolment", f"{g.mis_id}:{mis_id}"),
                        {
                            "academicUnit": _stub(unit),
                            "student": _stub(students[mis_id]),
                            "startDate": start,
                            "endDate": None,
                            "enrolmentStatus": "ENROLLED",
                        },
                    )
        elif g.kind is GroupKind.REGISTRATION:
            tutor = next(
                (
                    staff[mis_id]
                    for role, mis_id, as_ in g.members
                    if as_ is MembershipRole.TEACHER and mis_id in staff
                ),
                None,
            )
            form = s.add(
                API.registration_forms,
                s.id_for("form", g.mis_id),
                {
                    "displayName": g.name,
                    "name": g.name,
                    "shortName": g.name,
                    "tutor": _stub(tutor) if tutor else None,
                },
            )
            for role, mis_id, _ in g.members:
                if role is Role.PUPIL and mis_id in students:
                    s.add(
                        API.form_memberships,
                        s.id_for("membership", f"{g.mis_id}:{mis_id}"),
                        {
                            "registrationForm": _stub(form),
                            "student": _stub(students[mis_id]),
                            "startDate": start,
                            "endDate": None,
                        },
                    )


def _attendance(s: _School, snap: SchoolSnapshot, students: dict[str, dict[str, Any]]) -> None:
    for mark in snap.attendance:
        pupil = students.get(mark.pupil_mis_id)
        if pupil is None:
            continue
        code_id = s.id_for("mark", mark.code)
        code_href = f"{API.path(API.attendance_marks)}/{code_id}"
        if code_href not in s.records:
            s.add(
                API.attendance_marks,
                code_id,
                {
                    "displayName": mark.code,
                    "code": mark.code,
                    "isLegalPresent": mark.code in ("/", "\\", "L"),
                    "isStatisticalPresent": mark.code in ("/", "\\", "L"),
                },
                listed=False,
            )
        day = mark.date.isoformat()
        s.add(
            API.attendance_records,
            s.id_for("attendance", f"{mark.pupil_mis_id}:{day}:{mark.session}"),
            {
                "student": _stub(pupil),
                "attendanceRegister": {
                    "entityType": "AttendanceRegister",
                    "href": f"{API.rest}/attendance-registers/{mark.session}-{day}",
                    "displayName": f"{mark.session} {day}",
                },
                "attendanceMark": _stub(s.records[code_href]),
                "startDatetime": f"{day} {_SESSION_START[mark.session]}",
                "endDatetime": f"{day} {_SESSION_END[mark.session]}",
                "minutesLate": 0,
                "source": "REGISTER",
                "isRedundant": False,
            },
        )


@dataclass(slots=True)
class _Feed:
    """A school's change feed for one resource: revisions as its records change."""

    revision: int = 0
    seen: dict[str, str] = field(default_factory=dict)  # href -> fingerprint
    changes: list[dict[str, Any]] = field(default_factory=list)


class ArborSimulator(SimServer):
    vendor = "arbor"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._schools: dict[str, tuple[int, _School]] = {}
        self._patches: dict[tuple[str, str], dict[str, Any]] = {}
        self._codes: dict[str, str] = {}  # one-time approval code -> URN
        self._feeds: dict[tuple[str, str], _Feed] = {}
        self._state = threading.Lock()
        # The base server writes an answer's headers and body apart; without NODELAY,
        # Nagle and the client's delayed ACK hold each answer ~40 ms (accepted sockets
        # inherit the option from the listening one on Linux).
        self._httpd.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    # -- for tests --------------------------------------------------------------------

    def school(self, urn: str) -> _School:
        found = self._school(urn)
        if found is None:
            raise KeyError(urn)
        return found

    def arbor_id(self, urn: str, kind: str, snapshot_person: str) -> int:
        """The Arbor id of a snapshot person at a school: kind "student", "staff",
        "guardian" or "person"."""
        return self.school(urn).ids[kind, snapshot_person]

    def patch(self, urn: str, href: str, **changes: Any) -> None:
        """Serve `href` with these values changed (REMOVE: without the key)."""
        with self._state:
            self._patches.setdefault((urn, href), {}).update(changes)

    # -- serving ----------------------------------------------------------------------

    def handle(self, request: SimRequest) -> SimResponse:
        if request.path == API.approval_page or request.path.startswith(API.approval_page + "/"):
            return self._approval(request)
        parts = request.path.strip("/").split("/")
        if len(parts) < 3 or parts[0] != "schools":
            return _error(404, f"no Arbor school at {request.path}")
        urn = parts[1]
        school = self._school(urn)
        if school is None:
            return _error(404, f"no Arbor school at /schools/{urn}")
        if not self._authorised(request, urn):
            response = _error(401, "Invalid credentials", "UnauthorizedException")
            response.headers["WWW-Authenticate"] = 'Basic realm="Arbor"'
            return response
        if request.method != "GET":
            return _error(405 if request.method != "POST" else 400, "rollsync only reads")
        path = "/" + "/".join(parts[2:])
        prefix = API.rest + "/"
        if not path.startswith(prefix):
            return _error(404, f"no resource {path}")
        rest = path[len(prefix) :].split("/")
        resource = rest[0]
        if resource not in _RESOURCES:
            return _error(404, f"no resource {path}")
        if len(rest) == 1:
            return self._list(request, urn, school, resource)
        if len(rest) == 2 and rest[1] == API.changelog and resource in _FEEDS:
            return self._changelog(request, urn, school, resource)
        if len(rest) == 2:
            record = school.records.get(path)
            if record is None:
                return _error(404, "Resource not found", "NotFoundException")
            key = RECORD_KEYS[record["entityType"]]
            return SimResponse.json({key: self._patched(urn, record)})
        return _error(404, f"no resource {path}")

    def bad_response(self, request: SimRequest, good: SimResponse) -> SimResponse:
        try:
            body = json.loads(good.body)
        except ValueError:
            return SimResponse.json({"unexpected": True})
        if isinstance(body, dict) and len(body) == 1:
            ((_key, value),) = body.items()
            if isinstance(value, list) and value and isinstance(value[0], dict):
                target = value[0].get("changedObject")
                (target if isinstance(target, dict) else value[0]).pop("href", None)
                return SimResponse.json(body)
            if isinstance(value, dict):
                for ref in ("person", "guardian", "student", "academicUnit", "registrationForm"):
                    if ref in value:
                        value.pop(ref)  # a record whose reference is missing
                        return SimResponse.json(body)
        return SimResponse.json({"unexpected": True})

    def error_response(self, request: SimRequest, status: int) -> SimResponse:
        return _error(status, f"simulated {status}")

    # -- internals --------------------------------------------------------------------

    def _school(self, urn: str) -> _School | None:
        snap = self.data.school(urn)
        if snap is None:
            return None
        with self._state:
            cached = self._schools.get(urn)
            if cached is None or cached[0] != id(snap):
                cached = (id(snap), build_school(snap))
                self._schools[urn] = cached
            return cached[1]

    def _patched(self, urn: str, record: dict[str, Any]) -> dict[str, Any]:
        changes = self._patches.get((urn, record["href"]))
        if not changes:
            return record
        out = dict(record)
        for key, value in changes.items():
            if value is REMOVE:
                out.pop(key, None)
            else:
                out[key] = value
        return out

    def _authorised(self, request: SimRequest, urn: str) -> bool:
        header = request.headers.get("authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        expected_user, expected_password = credentials_for(urn)
        return secrets.compare_digest(user, expected_user) and secrets.compare_digest(
            password, expected_password
        )

    def _paging(self, request: SimRequest) -> tuple[int, int] | SimResponse:
        raw_number = request.arg(API.page_number, "1") or "1"
        raw_size = request.arg(API.page_size_param, str(API.max_page_size)) or ""
        if not (raw_number.isdigit() and raw_size.isdigit()) or int(raw_number) < 1:
            return _error(400, f"{API.page_number} and {API.page_size_param} must be whole numbers")
        size = int(raw_size)
        if not 1 <= size <= API.max_page_size:
            return _error(400, f"{API.page_size_param} must be from 1 to {API.max_page_size}")
        return int(raw_number), size

    def _list(self, request: SimRequest, urn: str, school: _School, resource: str) -> SimResponse:
        paging = self._paging(request)
        if isinstance(paging, SimResponse):
            return paging
        number, size = paging
        hrefs = school.lists.get(resource, [])
        for name, values in request.query.items():
            if not name.startswith("filters."):
                continue
            value = values[-1]
            prop, _, op = name[len("filters.") :].rpartition(".")
            if op == "equals":
                hrefs = [h for h in hrefs if _ref_of(school.records[h], prop) == value]
            elif op in ("from", "to"):
                hrefs = [h for h in hrefs if _in_range(school.records[h].get(prop), op, value)]
            else:
                return _error(400, f"filter {name} is not supported here")
        page = hrefs[(number - 1) * size : number * size]
        key = LIST_KEYS[_RESOURCES[resource]]
        return SimResponse.json({key: [_stub(self._patched(urn, school.records[h])) for h in page]})

    def _changelog(
        self, request: SimRequest, urn: str, school: _School, resource: str
    ) -> SimResponse:
        raw = request.arg(API.from_revision) or request.arg("fromRevision")
        if raw is None or not raw.isdigit():
            return _error(400, "from-revision is required (a whole number)")
        paging = self._paging(request)
        if isinstance(paging, SimResponse):
            return paging
        number, size = paging
        feed = self._feed(urn, school, resource)
        since = int(raw)
        changes = [c for c in feed.changes if c["toRevision"] > since]
        return SimResponse.json({"changes": changes[(number - 1) * size : number * size]})

    def _feed(self, urn: str, school: _School, resource: str) -> _Feed:
        """The resource's feed brought up to date with the records served now: a
        revision for each record created, changed or gone since the feed last looked."""
        entity = _RESOURCES[resource]
        with self._state:
            feed = self._feeds.setdefault((urn, resource), _Feed())
            now = {
                href: hashlib.sha256(
                    json.dumps(self._patched(urn, record), sort_keys=True).encode()
                ).hexdigest()
                for href, record in school.records.items()
                if record["entityType"] == entity
            }
            for href in sorted(set(now) | set(feed.seen)):
                before, after = feed.seen.get(href), now.get(href)
                if before == after:
                    continue
                kind = "create" if before is None else "delete" if after is None else "update"
                feed.revision += 1
                feed.changes.append(
                    {
                        "changedObject": {"entityType": entity, "href": href},
                        "changeType": kind,
                        "fromRevision": feed.revision - 1,
                        "toRevision": feed.revision,
                    }
                )
            feed.seen = now
            return feed

    # -- approval ---------------------------------------------------------------------

    def _approval(self, request: SimRequest) -> SimResponse:
        if request.path == API.approval_token:
            if request.method != "POST":
                return _error(405, "POST the code")
            code = request.form().get("code", "")
            with self._state:
                urn = self._codes.pop(code, None)
            if urn is None:
                return _error(400, "This approval code is not valid (used already or unknown)")
            user, password = credentials_for(urn)
            return SimResponse.json(
                {"endpoint": f"{self.url}/schools/{urn}", "username": user, "password": password}
            )
        if request.path != API.approval_page:
            return _error(404, f"no page {request.path}")
        values = (
            request.form()
            if request.method == "POST"
            else {k: v[-1] for k, v in request.query.items()}
        )
        urn, back, state = (
            values.get("school", ""),
            values.get("redirect_uri", ""),
            values.get("state", ""),
        )
        snap = self.data.school(urn)
        if snap is None:
            return SimResponse.html("<h1>No such school in Arbor</h1>", 404)
        if not back:
            return SimResponse.html("<h1>The approval link has no redirect_uri</h1>", 400)
        if request.method == "POST":
            code = secrets.token_urlsafe(16)
            with self._state:
                self._codes[code] = urn
            joiner = "&" if "?" in back else "?"
            return SimResponse(
                302, b"", {"Location": back + joiner + urlencode({"code": code, "state": state})}
            )
        name = html.escape(snap.school_name)
        hidden = "".join(
            f'<input type="hidden" name="{k}" value="{html.escape(v, quote=True)}">'
            for k, v in (("school", urn), ("redirect_uri", back), ("state", state))
        )
        return SimResponse.html(
            '<!doctype html><html lang="en"><head><title>Arbor: approve rollsync</title></head>'
            f"<body><h1>Approve rollsync's access to {name}?</h1>"
            "<p>rollsync will read students, staff, contacts, groups and attendance.</p>"
            f'<form method="post" action="{API.approval_page}">{hidden}'
            '<button type="submit">Approve</button></form></body></html>'
        )


def _ref_of(record: dict[str, Any], name: str) -> str | None:
    value = record.get(name)
    return value.get("href") if isinstance(value, dict) else None


def _in_range(value: Any, op: str, bound: str) -> bool:
    """A `from` (inclusive) or `to` (exclusive, [I]) date filter on "Y-m-d H:i:s"."""
    if isinstance(value, dict):
        value = value.get("date")
    if not isinstance(value, str):
        return False
    try:
        when, limit = datetime.fromisoformat(value), datetime.fromisoformat(bound)
    except ValueError:
        return False
    return when >= limit if op == "from" else when < limit
