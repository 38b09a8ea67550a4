"""The Wonde simulator: every school in its `SimData`, as Wonde's API serves it.

- One base, `{sim.url}/v1.0` (`API.base_url`'s path), and one token for every school:
  `demo-wonde-token` (`DEMO_TOKEN`), as `Authorization: Bearer ...` or HTTP Basic with
  the token as user name; anything else is 401.
- A school's Wonde ID is derived from its URN: "A" and the URN's digits padded to 10
  (`wonde_school_id("120798")` is "A0000120798"). A school ID the data does not hold is
  403 (Wonde has not been granted access to it).
- Every person, group and mark has a stable Wonde `id` ("A" and 10 digits from a hash of
  the school, the kind and the MIS ID); `mis_id` is the snapshot's MIS ID.
- Paging as Wonde does: `per_page` (at most 200, or the `max-per-page=N` fault option),
  `page`, and `meta.pagination` with an absolute `next` link, `more` and `current_page`.
- `include=` nests each relation as {"data": ...}; an include it does not know is 422
  with a validation body, as a wrong `updated_after` is.
- `updated_after` and `/deletions`: the snapshot has no times, so each record's
  `updated_at` is a stable time in June 2025 until the record changes. The simulator
  keeps what it last served of every record: when a test swaps a school with
  `SimData.replace` and the next request shows a record different (or new), that
  record's `updated_at` becomes `sim.clock` (set it first; None: the real time); a
  student no longer there is listed by `/students-leaver` as of `sim.clock`, any other
  record by `/deletions` with `deleted_at` = `sim.clock` (a pre-admission pupil who
  started is moved, not deleted).
  `sim.mark_changed(urn, kind, mis_id, at)` stamps one record by hand.
- Faults (`--faults`): the shared ones, plus `bad@N` (a list without `meta`, or a
  school record without `data`) and the option `max-per-page=N`. `sim.tamper` changes
  one served record for tests: {(urn, endpoint, mis_id): {key: value or DROP}}.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from rollsync.connectors.wonde import API
from rollsync.domain.records import Gender, GroupKind, MembershipRole, Role
from rollsync.simulate.snapshot import ExportGroup, ExportPerson, SchoolSnapshot

from .data import SimData
from .faults import FaultPlan
from .server import SimRequest, SimResponse, SimServer

DEMO_TOKEN = "demo-wonde-token"
PREFIX = "/v1.0"  # the path of API.base_url
MAX_PER_PAGE = 200  # [C] mis-apis.md 6.3
DEFAULT_PER_PAGE = 50  # [C] the php client's example
DROP = object()  # in `tamper`: remove the key

_GENDERS = {
    Gender.MALE: "MALE",
    Gender.FEMALE: "FEMALE",
    Gender.OTHER: "OTHER",
    Gender.UNKNOWN: "UNKNOWN",
}
_BASE_TIME = datetime(2025, 6, 1, 6, 0, 0)

# Every include the simulator knows, per endpoint.
_INCLUDES: dict[str, frozenset[str]] = {
    API.students: frozenset(
        {
            API.education_details,
            API.year,
            API.student_groups,
            API.contact_details,
            API.student_contacts,
            API.nested_contact_details,
        }
    ),
    API.pre_admission: frozenset(
        {API.education_details, API.year, API.student_groups, API.contact_details}
    ),
    API.employees: frozenset({API.employment_details, API.contact_details}),
    API.contacts: frozenset({API.contact_details}),
    API.classes: frozenset(API.group_members),
    API.groups: frozenset(API.group_members),
    API.attendance: frozenset(API.attendance_includes),
    API.deletions: frozenset(),
    API.leavers: frozenset({API.education_details, API.year, API.contact_details}),
}
_DELETION_TYPES = {
    API.students: "student",
    API.pre_admission: "student",
    API.employees: "employee",
    API.contacts: "contact",
    API.classes: "class",
    API.groups: "group",
}


def wonde_school_id(urn: str) -> str:
    """The Wonde school ID the simulator gives a school: "A" + the URN's digits padded
    to 10 ("A0000120798"); a URN with other characters, "A" + 10 digits of a hash."""
    if urn.isdigit() and len(urn) <= 10:
        return f"A{int(urn):010d}"
    return "A" + _digits(f"school:{urn}")


def _digits(text: str, n: int = 10) -> str:
    return str(int(hashlib.sha256(text.encode()).hexdigest(), 16))[-n:].zfill(n)


def wonde_id(urn: str, kind: str, key: str) -> str:
    """A record's stable Wonde `id`."""
    return "A" + _digits(f"{urn}:{kind}:{key}")


def wonde_time(when: date | datetime | None) -> dict[str, Any] | None:
    """Wonde's date object."""
    if when is None:
        return None
    if not isinstance(when, datetime):
        when = datetime(when.year, when.month, when.day)
    return {
        "date": when.strftime("%Y-%m-%d %H:%M:%S.000000"),
        "timezone_type": 3,
        "timezone": "UTC",
    }


def _fingerprint(record: Any) -> str:
    plain = {k: v for k, v in record.items() if k != "updated_at"}
    return hashlib.sha256(json.dumps(plain, sort_keys=True).encode()).hexdigest()


class _School:
    """What the simulator last served of one school: each record with its times."""

    def __init__(self) -> None:
        self.snapshot: SchoolSnapshot | None = None
        self.records: dict[str, dict[str, dict[str, Any]]] = {}  # endpoint -> id -> record
        self.seen: dict[tuple[str, str], tuple[str, datetime]] = {}  # (ep, id) -> fp, time
        self.mis_ids: dict[tuple[str, str], str] = {}  # (ep, id) -> mis_id
        self.deleted: dict[tuple[str, str], datetime] = {}
        self.leavers: dict[str, tuple[dict[str, Any], datetime]] = {}  # id -> record, when


class WondeSimulator(SimServer):
    vendor = "wonde"

    def __init__(
        self,
        data: SimData,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: FaultPlan | str | None = None,
    ) -> None:
        super().__init__(data, host=host, port=port, faults=faults)
        self.clock: datetime | None = None
        self.tamper: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._schools: dict[str, _School] = {}
        self._state_lock = threading.Lock()

    # -- the API -----------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self.url + PREFIX

    def handle(self, request: SimRequest) -> SimResponse:
        if not self._authorised(request):
            return SimResponse.json(
                {"error": "invalid_token", "error_description": "Unauthenticated."}, 401
            )
        parts = request.path.removeprefix(PREFIX + "/").strip("/").split("/")
        if not request.path.startswith(PREFIX + "/") or parts[0] != "schools" or len(parts) < 2:
            return SimResponse.json({"error": "not_found", "message": "Not found."}, 404)
        urn = self._urn_for(parts[1])
        snap = self.data.school(urn) if urn is not None else None
        if snap is None:
            return self.error_response(request, 403)
        endpoint = "/".join(parts[2:])
        if not endpoint:
            return SimResponse.json({"data": self._school_record(snap)})
        if endpoint not in _INCLUDES:
            return SimResponse.json({"error": "not_found", "message": "Not found."}, 404)
        includes = _split(request.arg(API.include) or "")
        unknown = includes - _INCLUDES[endpoint]
        if unknown:
            return _invalid(API.include, f"The include {sorted(unknown)[0]} is not available.")
        since: datetime | None = None
        raw_since = request.arg(API.updated_after)
        if raw_since is not None:
            try:
                since = datetime.strptime(raw_since, API.time_format)
            except ValueError:
                return _invalid(API.updated_after, "The updated after does not match Y-m-d H:i:s.")
        try:
            page = int(request.arg("page") or 1)
            per_page = int(request.arg("per_page") or DEFAULT_PER_PAGE)
        except ValueError:
            return _invalid("page", "The page and per page must be integers.")
        if page < 1 or per_page < 1:
            return _invalid("page", "The page and per page must be at least 1.")
        cap = int(self.faults.option("max-per-page", str(MAX_PER_PAGE)) or MAX_PER_PAGE)
        per_page = min(per_page, cap)
        with self._state_lock:
            state = self._refresh(snap)
            items = self._listing(snap, state, endpoint, includes, since, request)
        chunk = items[(page - 1) * per_page : page * per_page]
        more = page * per_page < len(items)
        return SimResponse.json(
            {
                "data": chunk,
                "meta": {
                    "pagination": {
                        "next": self._link(request, page + 1) if more else None,
                        "previous": self._link(request, page - 1) if page > 1 else None,
                        "more": more,
                        "per_page": per_page,
                        "current_page": page,
                    }
                },
            }
        )

    def error_response(self, request: SimRequest, status: int) -> SimResponse:
        if status == 401:
            return SimResponse.json(
                {"error": "invalid_token", "error_description": "Unauthenticated."}, 401
            )
        if status == 403:
            return SimResponse.json(
                {
                    "error": "access_denied",
                    "message": "Wonde has not been granted access to this school.",
                },
                403,
            )
        return SimResponse.json(
            {"error": "server_error", "message": f"Simulated {status}."}, status
        )

    def bad_response(self, request: SimRequest, good: SimResponse) -> SimResponse:
        body = json.loads(good.body)
        if isinstance(body, dict) and "meta" in body:
            del body["meta"]  # a list without its paging
        else:
            body = {"school": body.get("data") if isinstance(body, dict) else None}
        return SimResponse.json(body)

    def mark_changed(self, urn: str, endpoint: str, mis_id: str, at: datetime) -> None:
        """Stamp one record's `updated_at` (the snapshot itself unchanged)."""
        with self._state_lock:
            state = self._schools.get(urn)
            if state is None:
                snap = self.data.school(urn)
                if snap is None:
                    raise KeyError(urn)
                state = self._refresh(snap)
            for (ep, wid), (fp, _) in list(state.seen.items()):
                if ep == endpoint and state.mis_ids.get((ep, wid)) == mis_id:
                    state.seen[ep, wid] = (fp, at)
                    state.records[ep][wid]["updated_at"] = wonde_time(at)

    # -- internals ---------------------------------------------------------------------

    def _authorised(self, request: SimRequest) -> bool:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            return value.strip() == DEMO_TOKEN
        if scheme.lower() == "basic":
            try:
                user = base64.b64decode(value.strip()).decode().partition(":")[0]
            except (ValueError, UnicodeDecodeError):
                return False
            return user == DEMO_TOKEN
        return False

    def _urn_for(self, school_id: str) -> str | None:
        for urn in self.data.urns():
            if wonde_school_id(urn) == school_id:
                return urn
        return None

    def _link(self, request: SimRequest, page: int) -> str:
        query = {k: v[-1] for k, v in request.query.items() if k != "page"}
        query["page"] = str(page)
        return f"{self.url}{request.path}?{urlencode(query)}"

    def _now(self) -> datetime:
        if self.clock is not None:
            return (
                self.clock.astimezone(UTC).replace(tzinfo=None) if self.clock.tzinfo else self.clock
            )
        return datetime.now(UTC).replace(tzinfo=None)

    def _school_record(self, snap: SchoolSnapshot) -> dict[str, Any]:
        return {
            "id": wonde_school_id(snap.urn),
            "name": snap.school_name,
            "urn": int(snap.urn) if snap.urn.isdigit() else snap.urn,
            "la_code": snap.la_code,
            "establishment_number": snap.estab,
            "phase_of_education": snap.phase.upper(),
            "region": {"code": "GB", "domain": "api.wonde.com"},
        }

    def _refresh(self, snap: SchoolSnapshot) -> _School:
        """Render the school in full when its snapshot changed; stamp what differs."""
        state = self._schools.get(snap.urn)
        first = state is None
        if state is None:
            state = self._schools[snap.urn] = _School()
        if state.snapshot is snap:
            return state
        state.snapshot = snap
        now = self._now()
        rendered = _Renderer(snap).all()
        before = {ep: dict(records) for ep, records in state.records.items()}
        current: set[tuple[str, str]] = set()
        for endpoint, records in rendered.items():
            by_id: dict[str, dict[str, Any]] = {}
            for mis_id, record in records:
                key = (endpoint, record["id"])
                current.add(key)
                fp = _fingerprint(record)
                old = state.seen.get(key)
                # unchanged keeps its time; one back after it was deleted is changed now
                if old is not None and old[0] == fp and key not in state.deleted:
                    when = old[1]
                elif old is None and first:
                    when = _BASE_TIME + timedelta(seconds=int(_digits(record["id"], 6)))
                else:
                    when = now
                state.seen[key] = (fp, when)
                state.mis_ids[key] = mis_id
                state.deleted.pop(key, None)
                if endpoint == API.students:
                    state.leavers.pop(record["id"], None)
                by_id[record["id"]] = {**record, "updated_at": wonde_time(when)}
            state.records[endpoint] = by_id
        for key in list(state.seen):
            if key in current or key in state.deleted:
                continue
            endpoint, wid = key
            if endpoint == API.students:
                # A pupil gone from the roll is a leaver, not a deletion: listed by
                # students-leaver from now on (the simulator makes every one a leaver).
                left = {**before[endpoint][wid], "updated_at": wonde_time(now)}
                state.leavers[wid] = (left, now)
                state.mis_ids[API.leavers, wid] = state.mis_ids[key]
                del state.seen[key]
                continue
            state.deleted[key] = now
        return state

    def _listing(
        self,
        snap: SchoolSnapshot,
        state: _School,
        endpoint: str,
        includes: set[str],
        since: datetime | None,
        request: SimRequest,
    ) -> list[dict[str, Any]]:
        if endpoint == API.deletions:
            rows = []
            for (ep, wid), when in sorted(state.deleted.items(), key=lambda x: (x[1], x[0])):
                if (since is not None and when <= since) or ep not in _DELETION_TYPES:
                    continue
                if any(  # moved, not gone: a pre-admission pupil who started
                    wid in records
                    for other, records in state.records.items()
                    if _DELETION_TYPES.get(other) == _DELETION_TYPES[ep]
                ):
                    continue
                rows.append(
                    {
                        "id": wid,
                        "mis_id": state.mis_ids.get((ep, wid)),
                        "type": _DELETION_TYPES[ep],
                        "deleted_at": wonde_time(when),
                        "restored_at": None,
                    }
                )
            return rows
        if endpoint == API.leavers:
            return [
                _only(record, includes)
                for record, when in state.leavers.values()
                if since is None or when > since
            ]
        day = request.arg(API.attendance_date) if endpoint == API.attendance else None
        out: list[dict[str, Any]] = []
        for wid, record in state.records.get(endpoint, {}).items():
            if since is not None and state.seen[endpoint, wid][1] <= since:
                continue
            if day is not None and record["date"]["date"][:10] != day:
                continue
            shown = _only(record, includes)
            tampered = self.tamper.get((snap.urn, endpoint, state.mis_ids[endpoint, wid]))
            if tampered:
                for key, value in tampered.items():
                    if value is DROP:
                        shown.pop(key, None)
                    else:
                        shown[key] = value
            out.append(shown)
        return out


def _split(text: str) -> set[str]:
    return {part.strip() for part in text.split(",") if part.strip()}


def _invalid(field: str, message: str) -> SimResponse:
    return SimResponse.json(
        {"error": "validation_error", "message": message, "errors": {field: [message]}}, 422
    )


def _only(record: dict[str, Any], includes: set[str]) -> dict[str, Any]:
    """The record with only the includes asked (nested ones by dot)."""
    includable = record.get("__includes__", {})
    out = {k: v for k, v in record.items() if k != "__includes__"}
    for name, value in includable.items():
        if name not in includes:
            if "__id__" in value:  # a relation shown by its id when not included
                out[name] = value["__id__"]
            continue
        nested = {i.split(".", 1)[1] for i in includes if i.startswith(name + ".")}
        data = value["data"]
        if isinstance(data, list):
            out[name] = {"data": [_only(item, nested) for item in data]}
        elif isinstance(data, dict):
            out[name] = {"data": _only(data, nested)}
        else:
            out[name] = {"data": data}
    return out


class _Renderer:
    """The school in Wonde's shapes, every include present under "__includes__"."""

    def __init__(self, snap: SchoolSnapshot) -> None:
        self.snap = snap
        self.urn = snap.urn
        self.contacts = {c.mis_id: c for c in snap.contacts}
        self.pupils = {p.mis_id: p for p in snap.pupils if not p.future}
        self.staff = {s.mis_id: s for s in snap.staff if not s.future}
        self.reg_groups = {g.name: g for g in snap.groups if g.kind is GroupKind.REGISTRATION}

    def all(self) -> dict[str, list[tuple[str, dict[str, Any]]]]:
        snap = self.snap
        return {
            API.students: [(p.mis_id, self.student(p)) for p in snap.pupils if not p.future],
            API.pre_admission: [(p.mis_id, self.student(p)) for p in snap.pupils if p.future],
            API.employees: [(s.mis_id, self.employee(s)) for s in snap.staff if not s.future],
            API.contacts: [(c.mis_id, self.contact(c)) for c in snap.contacts],
            API.classes: [
                (g.mis_id, self.group(g, "class")) for g in snap.groups if g.kind is GroupKind.CLASS
            ],
            API.groups: [
                (g.mis_id, self.group(g, "group"))
                for g in snap.groups
                if g.kind is not GroupKind.CLASS
            ],
            API.attendance: [
                (f"{m.pupil_mis_id}:{m.date.isoformat()}:{m.session}", self.mark(m))
                for m in snap.attendance
                if m.pupil_mis_id in self.pupils
            ],
        }

    def person(self, kind: str, p: ExportPerson) -> dict[str, Any]:
        given = p.preferred_given or p.legal_given
        family = p.preferred_family or p.legal_family
        return {
            "id": wonde_id(self.urn, kind, p.mis_id),
            "mis_id": p.mis_id,
            "upi": _digits(f"upi:{p.person_id}", 12),
            "initials": "".join(x[:1] for x in (given, *(p.middle or "").split(), family)),
            "title": p.title,
            "surname": family,
            "forename": given,
            "middle_names": p.middle,
            "legal_surname": p.legal_family,
            "legal_forename": p.legal_given,
            "gender": _GENDERS[p.gender],
            "date_of_birth": wonde_time(p.dob),
            "restored_at": None,
            "created_at": wonde_time(_BASE_TIME),
        }

    def details(self, p: ExportPerson) -> dict[str, Any]:
        a = p.address
        return {
            "data": {
                "id": wonde_id(self.urn, "details", p.person_id),
                "emails": {"primary": p.email, "home": None, "work": None},
                "telephones": {"primary": p.phone, "home": None, "mobile": None},
                "addresses": {
                    "home": None
                    if a is None
                    else {
                        "apartment": a.saon,
                        "house_number": a.paon if a.paon[:1].isdigit() else None,
                        "house_name": None if a.paon[:1].isdigit() else a.paon,
                        "street": a.street,
                        "district": None,
                        "town": a.town,
                        "county": None,
                        "country": "United Kingdom",
                        "postcode": a.postcode,
                    }
                },
            }
        }

    def student(self, p: ExportPerson) -> dict[str, Any]:
        record = self.person("student", p)
        reg = self.reg_groups.get(p.reg_group or "")
        groups = []
        if p.reg_group:
            groups.append(
                {
                    "id": wonde_id(self.urn, "group", reg.mis_id if reg else p.reg_group),
                    "mis_id": reg.mis_id if reg else None,
                    "name": p.reg_group,
                    "code": p.reg_group,
                    "type": API.registration_type,
                    "description": f"Registration group {p.reg_group}",
                }
            )
        includes: dict[str, Any] = {
            API.education_details: {
                "data": {
                    "id": wonde_id(self.urn, "education", p.mis_id),
                    "upn": p.upn,
                    "former_upn": None,
                    "admission_date": wonde_time(p.start_date),
                    "leaving_date": wonde_time(p.leaving_date),
                }
            },
            API.year: {
                "data": None
                if not p.year_group
                else {
                    "id": wonde_id(self.urn, "year", p.year_group),
                    "code": p.year_group,
                    "name": f"Year {p.year_group}" if p.year_group.isdigit() else p.year_group,
                    "description": None,
                }
            },
            API.student_groups: {"data": groups},
            API.contact_details: self.details(p),
        }
        if not p.future:
            includes[API.student_contacts] = {"data": self.student_contacts(p.mis_id)}
        record["__includes__"] = includes
        return record

    def student_contacts(self, pupil_mis_id: str) -> list[dict[str, Any]]:
        out = []
        for link in self.snap.links:
            if link.pupil_mis_id != pupil_mis_id or link.contact_mis_id not in self.contacts:
                continue
            contact = self.contact(self.contacts[link.contact_mis_id])
            contact["relationship"] = {
                "relationship": link.relationship,
                "parental_responsibility": link.parental_responsibility,
                "priority": link.priority,
                "bill_payer": link.priority == 1,
                "lives_with_pupil": True,
                "email_bills": False,
            }
            out.append(contact)
        return out

    def contact(self, c: ExportPerson) -> dict[str, Any]:
        record = self.person("contact", c)
        for key in ("legal_surname", "legal_forename", "date_of_birth", "upi"):
            record.pop(key, None)  # Wonde's contacts carry no legal names nor birth date [I]
        record["__includes__"] = {API.contact_details: self.details(c)}
        return record

    def employee(self, s: ExportPerson) -> dict[str, Any]:
        record = self.person("employee", s)
        record["__includes__"] = {
            API.employment_details: {
                "data": {
                    "id": wonde_id(self.urn, "employment", s.mis_id),
                    "staff_code": s.staff_code,
                    "teaching_staff": s.staff_role in ("head", "teacher"),
                    "employment_start_date": wonde_time(s.start_date),
                    "employment_end_date": wonde_time(s.leaving_date),
                }
            },
            API.contact_details: self.details(s),
        }
        return record

    def group(self, g: ExportGroup, kind: str) -> dict[str, Any]:
        students = [
            self.person("student", self.pupils[mis_id])
            for role, mis_id, _ in g.members
            if role is Role.PUPIL and mis_id in self.pupils
        ]
        teachers = [
            self.person("employee", self.staff[mis_id])
            for role, mis_id, membership in g.members
            if role is Role.STAFF and membership is MembershipRole.TEACHER and mis_id in self.staff
        ]
        record: dict[str, Any] = {
            "id": wonde_id(self.urn, "group", g.mis_id),
            "mis_id": g.mis_id,
            "name": g.name,
            "code": g.name,
            "description": g.subject,
            "year_group": g.year,
            "academic_year": str(self.snap.academic_year),
            "restored_at": None,
            "created_at": wonde_time(_BASE_TIME),
        }
        if kind == "group":
            record["type"] = {
                GroupKind.REGISTRATION: API.registration_type,
                GroupKind.YEAR: API.year_type,
            }.get(g.kind, "OTHER")
        record["__includes__"] = {"students": {"data": students}, "employees": {"data": teachers}}
        return record

    def mark(self, m: Any) -> dict[str, Any]:
        pupil = self.pupils[m.pupil_mis_id]
        key = f"{m.pupil_mis_id}:{m.date.isoformat()}:{m.session}"
        return {
            "id": wonde_id(self.urn, "mark", key),
            "date": wonde_time(m.date),
            "session": m.session,
            "comment": None,
            "__includes__": {
                "student": {
                    "data": self.person("student", pupil),
                    "__id__": wonde_id(self.urn, "student", pupil.mis_id),
                },
                "attendance_code": {
                    "__id__": wonde_id(self.urn, "code", m.code),
                    "data": {
                        "id": wonde_id(self.urn, "code", m.code),
                        "code": m.code,
                        "description": None,
                    },
                },
            },
        }
