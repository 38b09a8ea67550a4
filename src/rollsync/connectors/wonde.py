"""The Wonde connector: a school of any MIS, read through Wonde's aggregator API.

Wonde reads the school's own MIS (SIMS, Arbor, Bromcom, ...) and serves it through one
REST API (shared/reference/mis-apis.md section 6). One token (Bearer) reaches every
school that granted access to the app; the connection names the school by its Wonde
school ID. See docs/connectors/wonde.md.

Every detail assumed rather than published is in `API` below, each with the flag of
mis-apis.md ([V] verified, [C] community, [I] inferred, [?] unknown); the simulator
(`rollsync.missim.wonde`) serves the same constants, so a real deployment corrects one
place.

A person's MIS ID is Wonde's `mis_id` (the school MIS's own ID), not Wonde's `id`: a
school moving from its MIS's files to Wonde keeps its people.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar

from rollsync.domain import reports as r
from rollsync.ingest.errors import FileRejected
from rollsync.ingest.pulled import Answer, pack_pull, read_pull

from .base import CheckResult, Connection, Connector, Pulled, PullRequest, SettingField
from .errors import AccessNotGranted, BadResponse, ConnectorError
from .http import Exchange, VendorHttp
from .registry import register

VENDOR = "wonde"
LABEL = "Wonde"


@dataclass(frozen=True, slots=True)
class WondeApi:
    """Wonde's API as rollsync assumes it (flags from mis-apis.md section 6)."""

    base_url: str = "https://api.wonde.com/v1.0"  # [V] 6.1 (UK region; others by school)
    school_path: str = "schools/{school}"  # [V] 6.2; the school's record (name, urn)
    students: str = "students"  # [V] 6.2
    pre_admission: str = "students-pre-admission"  # [V] 6.2
    leavers: str = "students-leaver"  # [V] 6.2; a pupil who left moves here [I]
    employees: str = "employees"  # [V] 6.2
    contacts: str = "contacts"  # [V] 6.2 (rollsync reads contacts through students)
    classes: str = "classes"  # [V] 6.2
    groups: str = "groups"  # [V] 6.2
    attendance: str = "attendance/session"  # [V] 6.2
    deletions: str = "deletions"  # [V] 6.3
    per_page: int = 200  # [C] 6.3: one community client says 200 is the most
    include: str = "include"  # [V] 6.3: comma-separated, nested as {"data": ...}
    updated_after: str = "updated_after"  # [V] 6.3
    time_format: str = "%Y-%m-%d %H:%M:%S"  # [V] 6.3: "2025-01-01 00:00:00"
    attendance_date: str = "date"  # [?] the day's marks: the filter's name is unpublished
    # Includes and the fields they carry. [V] 6.3 lists education_details, contact_details,
    # year, employment_details, contacts and classes' students/employees; what each holds
    # beyond `upn` and the contact relationship is [I].
    education_details: str = "education_details"  # upn [C], admission/leaving date [I]
    contact_details: str = "contact_details"  # emails/telephones/addresses [I]
    year: str = "year"  # code [C]
    student_groups: str = "groups"  # a student's groups, type REGISTRATION [I]
    employment_details: str = "employment_details"  # staff_code, start/end [I]
    student_contacts: str = "contacts"  # [V] 6.3; relationship fields [C]
    nested_contact_details: str = "contacts.contact_details"  # dot-nesting [I]
    group_members: tuple[str, ...] = ("students", "employees")  # [V] classes; groups [I]
    attendance_includes: tuple[str, ...] = ("student", "attendance_code")  # [I]
    registration_type: str = "REGISTRATION"  # [I] a group's `type`
    year_type: str = "YEAR"  # [I]
    # Incremental pulls: only these people reports, and a full pull at least weekly,
    # since whether a change inside an include (a new UPN) moves a student's
    # `updated_at` is unpublished [?]. Correct over cheap: Students (future) is always
    # pulled in full (a starter leaves it by starting, which no feed is known to say).
    incremental_reports: frozenset[str] = frozenset({r.STUDENTS, r.STAFF})
    full_pull_every: timedelta = timedelta(days=7)  # [I]
    # The cursor is the pull's start less a margin, in UTC: a clock that differs from
    # Wonde's, or Wonde reading the time as UK time [?], then re-sends a few records
    # (merged again, harmless) rather than missing one.
    cursor_margin: timedelta = timedelta(minutes=10)  # [I]
    deletion_types: Mapping[str, str] = field(
        default_factory=lambda: {
            "students": "student",
            "students-pre-admission": "student",
            "employees": "employee",
        }
    )  # [C] 6.3: a deletion's `type`


API = WondeApi()

# Which include carries which optional report field: an include is asked only when the
# school takes one of its fields (an opted-out field is never asked for).
STUDENT_INCLUDES: Mapping[str, frozenset[str]] = {
    API.education_details: frozenset({"upn", "start_date", "leaving_date"}),
    API.year: frozenset({"year_group"}),
    API.student_groups: frozenset({"registration_group"}),
    API.contact_details: frozenset({"email", "postcode", "address"}),
}
STAFF_INCLUDES: Mapping[str, frozenset[str]] = {
    API.employment_details: frozenset({"staff_code", "start_date", "leaving_date"}),
    API.contact_details: frozenset({"email", "phone", "postcode"}),
}
CONTACT_DETAIL_FIELDS = frozenset({"email", "phone", "postcode", "address"})

# Report -> the endpoint its records come from.
ENDPOINTS: Mapping[str, str] = {
    r.STUDENTS: API.students,
    r.STUDENTS_FUTURE: API.pre_admission,
    r.STAFF: API.employees,
    r.CONTACTS: API.students,
    r.GROUPS: API.classes,  # and API.groups
    r.ATTENDANCE: API.attendance,
}

_SCHOOL_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def includes_for(report: str, opted_out: Iterable[str] = ()) -> tuple[str, ...]:
    """The includes a report's pull asks for, given the fields opted out of."""
    out = set(opted_out)
    if report in (r.STUDENTS, r.STUDENTS_FUTURE):
        return tuple(inc for inc, fields in STUDENT_INCLUDES.items() if fields - out)
    if report == r.STAFF:
        return tuple(inc for inc, fields in STAFF_INCLUDES.items() if fields - out)
    if report == r.CONTACTS:
        nested = (API.nested_contact_details,) if CONTACT_DETAIL_FIELDS - out else ()
        return (API.student_contacts, *nested)
    if report == r.GROUPS:
        return API.group_members
    if report == r.ATTENDANCE:
        return API.attendance_includes
    return ()


def format_cursor_time(when: datetime) -> str:
    if when.tzinfo is not None:
        when = when.astimezone(UTC).replace(tzinfo=None)
    return when.strftime(API.time_format)


@register
class WondeConnector(Connector):
    name = "wonde"
    mis = "Wonde"
    label = "Wonde"
    fmt = "wonde-api"
    fields: ClassVar[tuple[SettingField, ...]] = (
        SettingField(
            "wonde_school",
            "Wonde school ID",
            help="The school's ID in Wonde (like A1930499544): on the school's page in "
            "the Wonde dashboard once the school has granted rollsync access",
        ),
        SettingField(
            "token",
            "Wonde API token",
            secret=True,
            help="The token of rollsync's Wonde app for the school's region (Bearer)",
        ),
        SettingField(
            "url",
            "Wonde API URL",
            required=False,
            help=f"Leave empty for {API.base_url} (another region's URL otherwise)",
        ),
    )

    def check(self, connection: Connection) -> CheckResult:
        school = _school_id(connection)
        with _client(connection) as http:
            name = _school_record(http, connection, school)
            page = _page(http, _path(school, API.students), {"per_page": 1}, what="students")
            seen = len(page["data"])
        more = " and its students are readable" if seen else " (it lists no students)"
        return CheckResult(
            f"Token accepted; Wonde school {school} ({name}){more}",
            settings={"wonde_school": school},
        )

    def pull(self, connection: Connection, request: PullRequest) -> list[Pulled]:
        school = _school_id(connection)
        started = request.now or datetime.now(UTC)
        started = started.astimezone(UTC) if started.tzinfo else started.replace(tzinfo=UTC)
        pulled_at = started.isoformat()
        out: list[Pulled] = []
        with _client(connection) as http:
            _school_record(http, connection, school)
            # The school's record leads every report's bundle: its URN is what the
            # reader declares, so a pull of another school's data is refused.
            lead = http.exchanges[-1]
            for report in sorted(request.reports):
                if report not in ENDPOINTS:
                    continue  # Staff (future): Wonde has no such list
                opted = request.opted_out.get(report, frozenset())
                pull = _ReportPull(http, school, report, opted, request, started, pulled_at, lead)
                out.append(pull.run())
        return out


def _school_id(connection: Connection) -> str:
    school = connection.setting("wonde_school").strip()
    if not school:
        raise ConnectorError(
            "the Wonde school ID is missing: copy it from the Wonde dashboard "
            "(it looks like A1930499544)",
            field="wonde_school",
        )
    if not _SCHOOL_ID.match(school):
        raise ConnectorError(
            f"'{school[:70]}' is not a Wonde school ID (it looks like A1930499544)",
            field="wonde_school",
        )
    return school


def _client(connection: Connection) -> VendorHttp:
    token = connection.secret("token")
    if not token:
        raise ConnectorError("the Wonde API token is missing: enter it again", field="token")
    if not token.isascii() or not token.isprintable() or " " in token:
        # It goes in a header: a pasted line break or space is not part of any token.
        raise ConnectorError(
            "the Wonde API token holds a space, a line break or an odd character: "
            "copy it again from the Wonde dashboard",
            field="token",
        )
    url = connection.setting("url").strip() or API.base_url
    return VendorHttp(url, vendor=LABEL, headers={"Authorization": f"Bearer {token}"})


def _path(school: str, endpoint: str) -> str:
    return f"{API.school_path.format(school=school)}/{endpoint}"


def _not_granted(school: str) -> AccessNotGranted:
    return AccessNotGranted(
        f"Wonde has not been granted access to this school ({school}): the school must "
        "approve rollsync in its Wonde portal (or check the Wonde school ID)",
        field="wonde_school",
    )


def _school_record(
    http: VendorHttp, connection: Connection, school: str, *, keep: bool = True
) -> str:
    """The school's name, after checking the Wonde school is the connection's school."""
    try:
        response = http.get(API.school_path.format(school=school), keep=keep)
    except AccessNotGranted:
        raise _not_granted(school) from None
    body = http.json(response, what="the school")
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        raise BadResponse("Wonde's answer about the school has no data", field="data")
    urn = data.get("urn")
    if urn not in (None, "") and str(urn).strip() != connection.school_urn:
        raise ConnectorError(
            f"the Wonde school ID {school} is {data.get('name') or 'another school'} (URN {urn}), "
            f"not this school (URN {connection.school_urn}): check the Wonde school ID",
            field="wonde_school",
        )
    name = data.get("name")
    return name if isinstance(name, str) and name else school


def _page(
    http: VendorHttp, path_or_url: str, params: Mapping[str, Any] | None, *, what: str
) -> Any:
    """One page, checked: `data` a list of objects, `meta.pagination` present."""
    try:
        response = http.get(path_or_url, params=params)
    except AccessNotGranted as refused:
        raise AccessNotGranted(
            f"Wonde refused {what}: {refused.message} (the school may not have granted "
            "rollsync this data in its Wonde portal)"
        ) from None
    body = http.json(response, what=what)
    if not isinstance(body, dict):
        raise BadResponse(f"Wonde's answer to {what} is not an object", field=what)
    data = body.get("data")
    if not isinstance(data, list):
        raise BadResponse(f"Wonde's answer to {what} has no data list", field=f"{what}.data")
    for n, item in enumerate(data, start=1):
        if not isinstance(item, dict):
            raise BadResponse(
                f"Wonde's answer to {what}: item {n} is not an object", field=f"{what}[{n}]"
            )
    meta = body.get("meta")
    pagination = meta.get("pagination") if isinstance(meta, dict) else None
    if not isinstance(pagination, dict):
        raise BadResponse(
            f"Wonde's answer to {what} has no meta.pagination", field=f"{what}.meta.pagination"
        )
    nxt = pagination.get("next")
    if nxt is not None and not isinstance(nxt, str):
        raise BadResponse(
            f"Wonde's answer to {what}: meta.pagination.next is not a link",
            field=f"{what}.meta.pagination.next",
        )
    return body


@dataclass(slots=True)
class _Listed:
    """One endpoint's records, every page."""

    records: list[dict[str, Any]]
    pages: int


def _list_all(http: VendorHttp, school: str, endpoint: str, params: Mapping[str, Any]) -> _Listed:
    """Every page, following meta.pagination.next until null or `more` is false."""
    records: list[dict[str, Any]] = []
    url: str | None = _path(school, endpoint)
    query: Mapping[str, Any] | None = {"per_page": API.per_page, **params}
    pages = 0
    seen: set[str] = set()
    while url is not None:
        pages += 1
        what = f"{endpoint} page {pages}"
        body = _page(http, url, query, what=what)
        records.extend(body["data"])
        pagination = body["meta"]["pagination"]
        nxt = pagination.get("next")
        if not nxt or pagination.get("more") is False:
            break
        if nxt in seen:
            raise BadResponse(
                f"Wonde's {what} points back at a page already read", field=f"{what}.next"
            )
        seen.add(nxt)
        url, query = nxt, None
    return _Listed(records, pages)


class _ReportPull:
    def __init__(
        self,
        http: VendorHttp,
        school: str,
        report: str,
        opted_out: frozenset[str],
        request: PullRequest,
        started: datetime,
        pulled_at: str,
        lead: Exchange,
    ) -> None:
        self.http = http
        self.school = school
        self.report = report
        self.includes = includes_for(report, opted_out)
        self.request = request
        self.started = started
        self.pulled_at = pulled_at
        self.first_answer = len(http.exchanges)
        self.lead = lead  # the school's record, first in every bundle

    def run(self) -> Pulled:
        previous = self._previous()
        if previous is not None:
            return self._incremental(*previous)
        asked: list[str] = []
        if self.report == r.GROUPS:
            for endpoint in (API.classes, API.groups):
                listed = _list_all(self.http, self.school, endpoint, self._params())
                asked.append(_pages(endpoint, listed.pages))
        elif self.report == r.ATTENDANCE:
            day = self.request.today or date.today()
            params = {**self._params(), API.attendance_date: day.isoformat()}
            listed = _list_all(self.http, self.school, API.attendance, params)
            asked.append(_pages(f"{API.attendance} for {day.isoformat()}", listed.pages))
        else:
            endpoint = ENDPOINTS[self.report]
            listed = _list_all(self.http, self.school, endpoint, self._params())
            asked.append(_pages(endpoint, listed.pages))
        return self._pulled(" and ".join(asked), incremental=False, merged=None)

    def _params(self) -> dict[str, Any]:
        return {API.include: ",".join(self.includes)} if self.includes else {}

    def _cursor(self) -> dict[str, Any]:
        if self.report not in API.incremental_reports:
            return {}
        cursor = {
            API.updated_after: format_cursor_time(self.started - API.cursor_margin),
            "include": list(self.includes),
            "full_pull_at": self.pulled_at,
        }
        return cursor

    def _pulled(self, asked: str, *, incremental: bool, merged: Any) -> Pulled:
        answers = [
            Answer(e.method, e.url, e.status, e.content_type, e.body)
            for e in [self.lead, *self.http.exchanges[self.first_answer :]]
        ]
        payload = pack_pull(
            vendor=VENDOR,
            report=self.report,
            asked=asked,
            pulled_at=self.pulled_at,
            answers=answers,
            incremental=incremental,
            merged=merged,
            extra={"school": self.school, "include": list(self.includes)},
        )
        return Pulled(
            report=self.report,
            fmt=WondeConnector.fmt,
            payload=payload,
            asked=asked,
            cursor=self._cursor(),
            incremental=incremental,
        )

    # -- incremental -------------------------------------------------------------------

    def _previous(self) -> tuple[str, list[dict[str, Any]], str] | None:
        """(updated_after, the previous records, when the last full pull was), or None
        when this report must be pulled in full."""
        if self.report not in API.incremental_reports:
            return None
        cursor = self.request.cursors.get(self.report) or {}
        since = cursor.get(API.updated_after)
        previous = self.request.previous.get(self.report)
        if not isinstance(since, str) or previous is None:
            return None
        if list(cursor.get("include") or []) != list(self.includes):
            return None  # the fields asked changed: the previous records lack some
        full_at = _parse_iso(cursor.get("full_pull_at"))
        if full_at is None or self.started - full_at >= API.full_pull_every:
            return None
        try:
            datetime.strptime(since, API.time_format)
            records = previous_records(previous, self.report)
        except (ValueError, FileRejected):
            return None
        if records is None:
            return None
        return since, records, cursor["full_pull_at"]

    def _incremental(self, since: str, records: list[dict[str, Any]], full_at: str) -> Pulled:
        endpoint = ENDPOINTS[self.report]
        changed = _list_all(
            self.http, self.school, endpoint, {**self._params(), API.updated_after: since}
        )
        deleted = _list_all(self.http, self.school, API.deletions, {API.updated_after: since})
        kind = API.deletion_types[endpoint]
        gone = {
            str(d.get("id"))
            for d in deleted.records
            if d.get("type") == kind and isinstance(d.get("id"), str)
        }
        asked = [
            f"{_pages(endpoint, changed.pages)} changed since {since}",
            _pages(API.deletions, deleted.pages),
        ]
        if endpoint == API.students:
            # A pupil who left is no deletion: they move to the leavers' list.
            left = _list_all(self.http, self.school, API.leavers, {API.updated_after: since})
            gone |= {str(x.get("id")) for x in left.records if isinstance(x.get("id"), str)}
            asked.append(_pages(API.leavers, left.pages))
        merged = merge_records(records, changed.records, gone)
        asked_line = ", ".join(asked[:-1]) + " and " + asked[-1]
        pulled = self._pulled(asked_line, incremental=True, merged={endpoint: merged})
        # The last full pull stays the one that counts for the weekly full pull.
        cursor = {**pulled.cursor, "full_pull_at": full_at}
        return Pulled(
            report=pulled.report,
            fmt=pulled.fmt,
            payload=pulled.payload,
            asked=pulled.asked,
            cursor=cursor,
            incremental=True,
        )


def _pages(what: str, pages: int) -> str:
    return f"{what} ({pages} page{'s' if pages != 1 else ''})"


def _parse_iso(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def previous_records(payload: bytes, report: str) -> list[dict[str, Any]] | None:
    """A previous bundle's records of the report's endpoint: its merged records, or
    every page's data in order. None when the bundle cannot be used."""
    bundle = read_pull(payload, vendor=VENDOR)
    endpoint = ENDPOINTS[report]
    if bundle.report != report:
        return None
    if bundle.merged is not None:
        listed = bundle.merged.get(endpoint) if isinstance(bundle.merged, dict) else None
        if not isinstance(listed, list) or not all(isinstance(x, dict) for x in listed):
            return None
        return list(listed)
    suffix = "/" + endpoint
    out: list[dict[str, Any]] = []
    for answer in bundle.answers:
        if not answer.path.endswith(suffix):
            continue
        body = json.loads(answer.body)
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list):
            return None
        out.extend(x for x in data if isinstance(x, dict))
    return out


def merge_records(
    previous: Sequence[dict[str, Any]], changed: Sequence[dict[str, Any]], gone: set[str]
) -> list[dict[str, Any]]:
    """The previous records with changes applied by Wonde `id`: a changed record
    replaces its old self in place, a new one is added at the end, a deleted one goes."""
    by_id = {str(c.get("id")): c for c in changed if isinstance(c.get("id"), str)}
    out: list[dict[str, Any]] = []
    placed: set[str] = set()
    for record in previous:
        wid = str(record.get("id"))
        if wid in gone and wid not in by_id:
            continue
        if wid in by_id:
            out.append(by_id[wid])
            placed.add(wid)
        else:
            out.append(record)
    out.extend(c for c in changed if str(c.get("id")) not in placed)
    return out
