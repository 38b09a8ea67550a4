"""The Arbor connector: REST v2 over HTTP Basic (docs/connectors/arbor.md).

Arbor lists are reference stubs (`{"entityType", "href", "displayName"}`); every value
is in the single record, so a pull lists, then asks each record it needs once (a
student, its person, its UPN assignment). Every answer used is kept in the bundle, and
the format reader (`rollsync.ingest.arbor_api`) reads the records back from it.

A school connects either by entering the Arbor URL, user name and password, or by
approving rollsync in Arbor (`approval_url`, then `complete_approval` exchanges the
one-time code for them). What Arbor does not publish is assumed once, in `API` below;
the simulator (`rollsync.missim.arbor`) serves the same assumptions.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from rollsync.domain import reports as r
from rollsync.ingest.arbor_api import (
    CHANGELOG_KEY,
    LIST_KEYS,
    RECORD_KEYS,
    index_from_bundle,
)
from rollsync.ingest.pulled import Answer, pack_pull, read_pull

from .base import Approved, CheckResult, Connection, Connector, Pulled, PullRequest, SettingField
from .errors import BadResponse, SetupIncomplete
from .http import VendorHttp, check_base_url
from .registry import register

VENDOR = "Arbor"


@dataclass(frozen=True, slots=True)
class ArborApi:
    """Every Arbor detail rollsync assumes rather than reads in Arbor's published SDKs
    (flags from shared/reference/mis-apis.md section 2: [V] verified, [C] community,
    [I] inferred, [?] unknown). A real deployment corrects them here, once."""

    rest: str = "/rest-v2"  # [V] 2.2: every resource under /rest-v2
    page_number: str = "page-number"  # [V] 2.2 query parameter
    page_size_param: str = "page-size"  # [V] 2.2 query parameter
    # [?] no published default or maximum; rollsync asks this many and stops at the
    # first page shorter than it ([I] 2.2: no paging metadata is read by the SDK)
    page_size: int = 100
    max_page_size: int = 100  # [?] the most a page may hold (the simulator refuses more)
    max_pages: int = 10_000  # a guard against a list that never ends (ours)
    # resource paths ([V] 2.2: /rest-v2/{resource-plural-dashed})
    students: str = "students"
    staff: str = "staff"  # [I] the plural of Staff as Arbor dashes it
    people: str = "people"
    guardians: str = "guardians"
    relationships: str = "student-guardian-relationships"  # [V] 2.2
    upn_assignments: str = "uk-dfe-upn-assignments"  # [I] from UkDfe_UpnAssignment (2.4)
    academic_units: str = "academic-units"
    unit_enrolments: str = "academic-unit-enrolments"  # [V] 2.2
    unit_leads: str = "academic-unit-leads"  # [I] from AcademicUnitLead (2.4)
    registration_forms: str = "registration-forms"  # [I] from RegistrationForm (2.4)
    form_memberships: str = "registration-form-memberships"  # [I]
    attendance_records: str = "attendance-records"  # [V] 2.2
    attendance_marks: str = "attendance-marks"  # [I] from AttendanceMark (2.4)
    # Each student's UPN: its assignments, filtered by the student's href ([V] 2.2 filter
    # syntax; [I] that the UPN assignments can be filtered on `student`). One small
    # list per student rather than every assignment the school ever made.
    upn_filter: str = "filters.student.equals"
    # The day's attendance records: [V] 2.2 filter syntax, values `Y-m-d H:i:s`;
    # [I] that records filter on startDatetime. A record before noon is the AM session.
    attendance_from: str = "filters.startDatetime.from"
    attendance_to: str = "filters.startDatetime.to"
    pm_from_hour: int = 12  # [I]
    # [V] 2.3 change feed (the PHP SDK's spelling; the .NET SDK's is fromRevision)
    changelog: str = "changelog"
    from_revision: str = "from-revision"
    # [?] how a school approves rollsync in Arbor is not published: the approval page,
    # its token exchange and their host are assumed (ROLLSYNC_ARBOR_APPROVAL_URL).
    approval_env: str = "ROLLSYNC_ARBOR_APPROVAL_URL"
    approval_default: str = "https://login.arbor.sc/rollsync"  # [?] assumed
    approval_page: str = "/approve"  # [?] ?school=URN&redirect_uri=...&state=...
    approval_token: str = "/approve/token"  # [?] POST code=...

    def path(self, resource: str) -> str:
        return f"{self.rest}/{resource}"

    def approval_base(self) -> str:
        return os.environ.get(self.approval_env, "").strip() or self.approval_default


API = ArborApi()

# What each report needs, in the order it is pulled.
_REPORTS = (r.STUDENTS, r.STAFF, r.CONTACTS, r.GROUPS, r.ATTENDANCE)
# The reports pulled daily from the change feeds ([V] 2.3: one feed per resource).
_CHANGELOG_REPORTS = frozenset({r.STUDENTS, r.STAFF})


@register
class ArborConnector(Connector):
    name = "arbor"
    mis = "Arbor"
    label = "Arbor"
    fmt = "arbor-api"
    fields = (
        SettingField(
            "url",
            "Arbor URL",
            required=False,
            help="The school's Arbor address, https://<school>.uk.arbor.sc (filled in "
            "when the school approves rollsync in Arbor)",
        ),
        SettingField(
            "username",
            "Arbor API user name",
            required=False,
            help="The API user Arbor issued for rollsync",
        ),
        SettingField("password", "Arbor API password", secret=True, required=False),
    )
    needs_approval = True

    # -- connecting ------------------------------------------------------------------

    def check(self, connection: Connection) -> CheckResult:
        with _client(connection) as http:
            stubs = _Lister(http, API).page(
                API.path(API.students), LIST_KEYS["Student"], page=1, size=1
            )
        seen = "at least one student" if stubs else "no students yet"
        return CheckResult(
            f"Arbor accepted rollsync's credentials; the student list can be read ({seen})"
        )

    def approval_url(self, connection: Connection, *, return_url: str, state: str) -> str | None:
        base = check_base_url(API.approval_base(), field=API.approval_env)
        query = urlencode(
            {"school": connection.school_urn, "redirect_uri": return_url, "state": state}
        )
        return f"{base}{API.approval_page}?{query}"

    def complete_approval(self, connection: Connection, *, code: str) -> Approved:
        if not code.strip():
            raise SetupIncomplete("Arbor sent no approval code back: approve rollsync again")
        with VendorHttp(API.approval_base(), vendor=VENDOR) as http:
            try:
                response = http.request(
                    "POST", API.approval_token, data={"code": code.strip()}, keep=False
                )
            except BadResponse:
                raise SetupIncomplete(
                    "Arbor did not accept the approval (the code was used already or has "
                    "expired): approve rollsync's access in Arbor again"
                ) from None
            body = http.json(response, what="the approval")
        if not isinstance(body, dict):
            raise BadResponse("Arbor's answer to the approval is not an object", field="approval")
        values: dict[str, str] = {}
        for key in ("endpoint", "username", "password"):
            value = body.get(key)
            if not isinstance(value, str) or not value.strip():
                raise BadResponse(f"Arbor's answer to the approval has no {key}", field=key)
            values[key] = value.strip()
        endpoint = check_base_url(values["endpoint"], field="endpoint")
        return Approved(
            settings={"url": endpoint, "username": values["username"]},
            secrets={"password": values["password"]},
        )

    # -- pulling ---------------------------------------------------------------------

    def pull(self, connection: Connection, request: PullRequest) -> list[Pulled]:
        wanted = [report for report in _REPORTS if report in request.reports]
        if not wanted:
            return []
        now = request.now or datetime.now(UTC)
        today = request.today or now.date()
        out: list[Pulled] = []
        with _client(connection) as http:
            for report in wanted:
                out.append(_pull_report(http, report, request, today=today, now=now))
                http.exchanges.clear()
        return out


def _client(connection: Connection) -> VendorHttp:
    url = connection.setting("url")
    if not url:
        raise SetupIncomplete(
            "MISSING ENDPOINT URL: this Arbor connection has no Arbor address yet; "
            "re-authorise rollsync in Arbor (or enter the school's Arbor URL)",
            field="url",
        )
    username, password = connection.setting("username"), connection.secret("password")
    if not username or not password:
        raise SetupIncomplete(
            "the Arbor API user name or password is missing: re-authorise rollsync in "
            "Arbor, or enter them again",
            field="username" if not username else "password",
        )
    return VendorHttp(url, vendor=VENDOR, auth=(username, password))


# -- listing and reading records ------------------------------------------------------


class _Lister:
    """Lists and records as Arbor serves them, each asked once per pull."""

    def __init__(self, http: VendorHttp, api: ArborApi) -> None:
        self.http = http
        self.api = api
        self.records: dict[str, dict[str, Any]] = {}
        self.pages: dict[str, int] = {}  # list path -> pages asked

    def page(
        self,
        path: str,
        key: str,
        *,
        page: int,
        size: int,
        params: Mapping[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        query = {
            **(params or {}),
            self.api.page_number: str(page),
            self.api.page_size_param: str(size),
        }
        where = f"{path} page {page}"
        body = self.http.json(self.http.get(path, params=query), what=where)
        stubs = body.get(key) if isinstance(body, dict) else None
        if not isinstance(stubs, list):
            raise BadResponse(
                f"Arbor's answer to {where} has no '{key}' list", field=f"{key} on page {page}"
            )
        for n, stub in enumerate(stubs):
            href = stub.get("href") if isinstance(stub, dict) else None
            if not _is_href(href):
                raise BadResponse(
                    f"Arbor's answer to {where}: {key}[{n}] has no usable href, so rollsync "
                    "cannot read that record",
                    field=f"{key}[{n}].href on page {page}",
                )
        self.pages[path] = self.pages.get(path, 0) + 1
        return stubs

    def all(
        self, path: str, key: str, *, params: Mapping[str, str] | None = None
    ) -> list[dict[str, Any]]:
        """Every page of a list: pages of `page_size` until one comes back shorter."""
        size = min(self.api.page_size, self.api.max_page_size)
        found: list[dict[str, Any]] = []
        for number in range(1, self.api.max_pages + 1):
            stubs = self.page(path, key, page=number, size=size, params=params)
            found.extend(stubs)
            if len(stubs) < size:
                return found
        raise BadResponse(
            f"Arbor's list {path} did not end after {self.api.max_pages} pages", field=key
        )

    def record(self, href: str, entity: str) -> dict[str, Any]:
        """One record by its href (asked once per pull); `BadResponse` if it is not one."""
        if href in self.records:
            return self.records[href]
        key = RECORD_KEYS[entity]
        body = self.http.json(self.http.get(href), what=href)
        found = body.get(key) if isinstance(body, dict) else None
        if not isinstance(found, dict):
            raise BadResponse(f"Arbor's answer to {href} has no '{key}' record", field=key)
        self.records[href] = found
        return found

    def ref(
        self, record: Mapping[str, Any], name: str, *, where: str, optional: bool = False
    ) -> str:
        """The href a record's reference `name` points at; `BadResponse` when missing."""
        value = record.get(name)
        href = value.get("href") if isinstance(value, dict) else None
        if _is_href(href):
            assert isinstance(href, str)
            return href
        if optional and value is None:
            return ""
        raise BadResponse(
            f"Arbor's record {where} has no usable '{name}' reference, so rollsync cannot "
            f"follow it",
            field=f"{where}.{name}",
        )


def _is_href(value: object) -> bool:
    return isinstance(value, str) and value.startswith(API.rest + "/") and "://" not in value


# -- the reports ----------------------------------------------------------------------


@dataclass(slots=True)
class _Asked:
    """What a pull asked for, in a line for the run page."""

    parts: list[str] = field(default_factory=list)

    def add(self, count: int, noun: str, plural: str = "") -> None:
        self.parts.append(f"{count} {noun if count == 1 else plural or noun + 's'}")

    def line(self, report: str) -> str:
        return f"{report}: " + ", ".join(self.parts)


def _pull_report(
    http: VendorHttp, report: str, request: PullRequest, *, today: date, now: datetime
) -> Pulled:
    lister = _Lister(http, API)
    asked = _Asked()
    cursor: dict[str, Any] = {}
    incremental = False
    merged: dict[str, Any] | None = None
    opted_out = request.opted_out.get(report, frozenset())
    if report in _CHANGELOG_REPORTS:
        feeds = _feeds(report, opted_out)
        delta = _try_incremental(lister, report, request, opted_out, feeds, asked)
        if delta is not None:
            merged, revisions = delta
            incremental = True
        else:
            # the feeds' heads first: a change made during the pull is asked again
            revisions = {feed: _head(_changes(lister, feed, 0), 0) for feed in feeds}
            asked.parts.append(f"{len(feeds)} change feeds' heads")
            _pull_people(lister, report, opted_out, asked)
        cursor = {"revisions": revisions}
    elif report == r.CONTACTS:
        _pull_contacts(lister, asked)
    elif report == r.GROUPS:
        _pull_groups(lister, asked)
    else:
        _pull_attendance(lister, today, asked)
    answers = [Answer(e.method, e.url, e.status, e.content_type, e.body) for e in http.exchanges]
    payload = pack_pull(
        vendor="arbor",
        report=report,
        asked=asked.line(report),
        pulled_at=now.isoformat(),
        answers=answers,
        incremental=incremental,
        merged=merged,
        extra={"today": today.isoformat(), "upn": "upn" not in opted_out},
    )
    return Pulled(
        report=report,
        fmt=ArborConnector.fmt,
        payload=payload,
        asked=asked.line(report),
        cursor=cursor,
        incremental=incremental,
    )


def _pull_people(
    lister: _Lister,
    report: str,
    opted_out: frozenset[str],
    asked: _Asked,
    *,
    only: list[str] | None = None,
) -> None:
    """Students or staff: the list (or `only` these hrefs), each record and its person;
    for students, each one's UPN assignments unless the school opted out of the UPN."""
    resource = API.students if report == r.STUDENTS else API.staff
    entity = "Student" if report == r.STUDENTS else "Staff"
    if only is None:
        path = API.path(resource)
        hrefs = [stub["href"] for stub in lister.all(path, LIST_KEYS[entity])]
        asked.add(lister.pages.get(path, 0), "page")
    else:
        hrefs = only
    with_upn = report == r.STUDENTS and "upn" not in opted_out
    for href in hrefs:
        record = lister.record(href, entity)
        lister.record(lister.ref(record, "person", where=href), "Person")
        if with_upn:
            upn_path = API.path(API.upn_assignments)
            for stub in lister.all(
                upn_path, LIST_KEYS["UkDfe_UpnAssignment"], params={API.upn_filter: href}
            ):
                lister.record(stub["href"], "UkDfe_UpnAssignment")
    if report == r.STUDENTS:
        asked.add(len(hrefs), "student")
    else:
        asked.add(len(hrefs), "member of staff", "members of staff")
    if with_upn:
        asked.add(len(hrefs), "UPN look-up")


def _pull_contacts(lister: _Lister, asked: _Asked) -> None:
    path = API.path(API.relationships)
    stubs = lister.all(path, LIST_KEYS["StudentGuardianRelationship"])
    guardians: set[str] = set()
    for stub in stubs:
        link = lister.record(stub["href"], "StudentGuardianRelationship")
        lister.ref(link, "student", where=stub["href"])
        guardian_href = lister.ref(link, "guardian", where=stub["href"])
        guardian = lister.record(guardian_href, "Guardian")
        lister.record(lister.ref(guardian, "person", where=guardian_href), "Person")
        guardians.add(guardian_href)
    asked.add(lister.pages.get(path, 0), "page")
    asked.add(len(stubs), "relationship")
    asked.add(len(guardians), "guardian")


def _pull_groups(lister: _Lister, asked: _Asked) -> None:
    units = API.path(API.academic_units)
    for stub in lister.all(units, LIST_KEYS["AcademicUnit"]):
        lister.record(stub["href"], "AcademicUnit")
    forms = API.path(API.registration_forms)
    for stub in lister.all(forms, LIST_KEYS["RegistrationForm"]):
        form = lister.record(stub["href"], "RegistrationForm")
        lister.ref(form, "tutor", where=stub["href"], optional=True)
    members = 0
    for resource, entity, group_ref, person_ref in (
        (API.unit_enrolments, "AcademicUnitEnrolment", "academicUnit", "student"),
        (API.unit_leads, "AcademicUnitLead", "academicUnit", "staff"),
        (API.form_memberships, "RegistrationFormMembership", "registrationForm", "student"),
    ):
        for stub in lister.all(API.path(resource), LIST_KEYS[entity]):
            found = lister.record(stub["href"], entity)
            lister.ref(found, group_ref, where=stub["href"])
            lister.ref(found, person_ref, where=stub["href"])
            members += 1
    asked.add(len([h for h in lister.records if h.startswith(units + "/")]), "class", "classes")
    asked.add(len([h for h in lister.records if h.startswith(forms + "/")]), "registration form")
    asked.add(members, "membership")


def _pull_attendance(lister: _Lister, today: date, asked: _Asked) -> None:
    path = API.path(API.attendance_records)
    day_after = today + timedelta(days=1)
    params = {
        API.attendance_from: f"{today.isoformat()} 00:00:00",
        API.attendance_to: f"{day_after.isoformat()} 00:00:00",
    }
    stubs = lister.all(path, LIST_KEYS["AttendanceRecord"], params=params)
    for stub in stubs:
        record = lister.record(stub["href"], "AttendanceRecord")
        lister.ref(record, "student", where=stub["href"])
        mark = lister.ref(record, "attendanceMark", where=stub["href"], optional=True)
        if mark:
            lister.record(mark, "AttendanceMark")
    asked.add(len(stubs), "attendance record")


# -- the change feeds -----------------------------------------------------------------
#
# A daily pull reads the change feeds of the report's records ([V] 2.3: one per
# resource): the students (or staff) themselves, their people (a name, a date of birth)
# and, for students, their UPN assignments; then asks again only the students whose
# record, person or UPN changed, and merges them into the previous pull's records.
# Anything doubtful (no cursor, a previous pull it cannot read, a new or deleted
# student, a change kind it does not know, an opt-out changed) is a full pull.


def _feeds(report: str, opted_out: frozenset[str]) -> tuple[str, ...]:
    if report == r.STAFF:
        return (API.staff, API.people)
    if "upn" in opted_out:
        return (API.students, API.people)
    return (API.students, API.people, API.upn_assignments)


def _changes(lister: _Lister, resource: str, since: int) -> list[dict[str, Any]]:
    """A resource's change feed from revision `since`, every page."""
    path = f"{API.path(resource)}/{API.changelog}"
    size = min(API.page_size, API.max_page_size)
    found: list[dict[str, Any]] = []
    for number in range(1, API.max_pages + 1):
        where = f"{path} page {number}"
        body = lister.http.json(
            lister.http.get(
                path,
                params={
                    API.from_revision: str(since),
                    API.page_number: str(number),
                    API.page_size_param: str(size),
                },
            ),
            what=where,
        )
        changes = body.get(CHANGELOG_KEY) if isinstance(body, dict) else None
        if not isinstance(changes, list):
            raise BadResponse(
                f"Arbor's answer to {where} has no '{CHANGELOG_KEY}' list", field=CHANGELOG_KEY
            )
        for n, change in enumerate(changes):
            ok = isinstance(change, dict)
            target = change.get("changedObject") if ok else None
            revision = change.get("toRevision") if ok else None
            if not (
                isinstance(target, dict)
                and _is_href(target.get("href"))
                and isinstance(revision, int)
                and not isinstance(revision, bool)
                and isinstance(change.get("changeType"), str)
            ):
                raise BadResponse(
                    f"Arbor's answer to {where}: change {n} is not as documented",
                    field=f"{CHANGELOG_KEY}[{n}] on page {number}",
                )
        found.extend(changes)
        if len(changes) < size:
            return found
    raise BadResponse(f"Arbor's change feed {path} did not end", field=CHANGELOG_KEY)


def _head(changes: list[dict[str, Any]], since: int) -> int:
    return max([since, *(int(c["toRevision"]) for c in changes)])


def _try_incremental(
    lister: _Lister,
    report: str,
    request: PullRequest,
    opted_out: frozenset[str],
    feeds: tuple[str, ...],
    asked: _Asked,
) -> tuple[dict[str, Any], dict[str, int]] | None:
    """Only what changed since the cursor, merged into the previous pull's records, and
    the feeds' new revisions; None when the pull must be in full."""
    saved = (request.cursors.get(report) or {}).get("revisions")
    previous = request.previous.get(report)
    if previous is None or not isinstance(saved, dict):
        return None
    since: dict[str, int] = {}
    for feed in feeds:
        value = saved.get(feed)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            return None
        since[feed] = value
    try:
        bundle = read_pull(previous, vendor="arbor")
        before = index_from_bundle(bundle)
    except Exception:
        return None
    if bundle.report != report or bool(bundle.extra.get("upn")) != ("upn" not in opted_out):
        return None
    entity = "Student" if report == r.STUDENTS else "Staff"
    listed = {s["href"] for s in before.lists.get(LIST_KEYS[entity], []) if isinstance(s, dict)}
    if not all(isinstance(h, str) for h in listed):
        return None
    by_person: dict[str, set[str]] = {}  # a person's href -> the listed records of them
    for href in listed:
        record = before.records.get(href)
        person = record.get("person") if isinstance(record, dict) else None
        if isinstance(person, dict) and isinstance(person.get("href"), str):
            by_person.setdefault(person["href"], set()).add(href)
    refresh: set[str] = set()
    revisions: dict[str, int] = {}
    total = 0
    for feed in feeds:
        changes = _changes(lister, feed, since[feed])
        revisions[feed] = _head(changes, since[feed])
        total += len(changes)
        for change in changes:
            kind, href = change["changeType"], change["changedObject"]["href"]
            if kind not in ("create", "update", "delete"):
                return None  # a kind rollsync does not know
            if feed == API.upn_assignments:
                owners = _upn_owners(lister, before.records.get(href), href, kind)
                if owners is None:
                    return None
                refresh |= owners & listed
            elif feed == API.people:
                if kind == "delete" and href in by_person:
                    return None
                refresh |= by_person.get(href, set())  # others are not in this report
            elif kind != "update" or href not in listed:
                return None  # a new student or a leaver: the full list decides
            else:
                refresh.add(href)
    changed = sorted(refresh)
    asked.parts.append(f"{total} changes since revisions {', '.join(map(str, since.values()))}")
    _pull_people(lister, report, opted_out, asked, only=changed)
    return before.merged_with(lister.records, refreshed=changed), revisions


def _upn_owners(lister: _Lister, known: Any, href: str, kind: str) -> set[str] | None:
    """The students a changed UPN assignment belonged to (as the previous pull had it)
    and belongs to (as Arbor has it now); None when that cannot be told."""
    owners: set[str] = set()
    if isinstance(known, dict):
        owner = known.get("student")
        if isinstance(owner, dict) and isinstance(owner.get("href"), str):
            owners.add(owner["href"])
    if kind != "delete":
        owners.add(lister.ref(lister.record(href, "UkDfe_UpnAssignment"), "student", where=href))
    return owners or None
