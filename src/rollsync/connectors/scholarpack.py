"""The ScholarPack connector: its REST API, reached after the school approves rollsync.

ScholarPack is an OAuth 2.0 authorisation-code API (shared/reference/mis-apis.md section
3): the school saves its reports in AutoUpdate Settings, follows the approval link
(`approval_url`), and a ScholarPack user holding both the Admin and System Admin roles
approves the scopes asked; ScholarPack sends the browser back with a one-time code,
which `complete_approval` exchanges (server to server) for an access token and a
refresh token. Every pull refreshes the access token when it has expired, or once
when a request is refused, and hands the rotated tokens back in `connection.renewed`;
a refresh refused means the school withdrew the approval (`ApprovalWithdrawn`).

Lists are paged `{"data": [...], "page", "pages", "per_page", "has_next", "next_uri"}`
and followed by `next_uri` until `has_next` is false. The access token names the school
(the one chosen at approval), so the base URL is the same for every school.

Everything assumed rather than published is in `API` below, each with the flag of
mis-apis.md ([V] verified, [C] community, [I] inferred, [?] unknown): the field names
inside `data` are not public (only `student_uuid` is), so all of them are rollsync's
assumption. The simulator (`rollsync.missim.scholarpack`) serves the same constants, so
a real deployment corrects one place. See docs/connectors/scholarpack.md.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlencode

import httpx

from rollsync.domain import reports as r
from rollsync.ingest.pulled import Answer, pack_pull

from .base import Approved, CheckResult, Connection, Connector, Pulled, PullRequest, SettingField
from .errors import (
    AccessNotGranted,
    ApprovalWithdrawn,
    BadResponse,
    ConnectorError,
    CredentialsRefused,
    SetupIncomplete,
)
from .http import Exchange, VendorHttp, check_base_url
from .registry import register

VENDOR = "scholarpack"
LABEL = "ScholarPack"
FMT = "scholarpack-api"


@dataclass(frozen=True, slots=True)
class ScholarpackApi:
    """ScholarPack's API as rollsync assumes it (flags from mis-apis.md section 3)."""

    # The region's OAuth client and ScholarPack's address come from the environment.
    url_env: str = "ROLLSYNC_SCHOLARPACK_URL"
    url_default: str = "https://services.scholarpack.co.uk"  # [V] 3 (live; sandbox differs)
    client_id_env: str = "ROLLSYNC_SCHOLARPACK_CLIENT_ID"
    client_secret_env: str = "ROLLSYNC_SCHOLARPACK_CLIENT_SECRET"
    authorize_path: str = "/oauth2/authorize/"  # [V] 3
    token_path: str = "/oauth2/token/"  # [I] 3: "under /oauth2/…/", exact path not captured
    # [?] token lifetime unpublished: used when the answer gives no expires_in
    default_expires_in: int = 3600
    token_margin_seconds: int = 60  # [I] refresh this long before the token expires
    # [I] refreshes in one pull or check at most (each answers a refusal or an expiry)
    max_refreshes: int = 3
    # Endpoints ([V] 3, under /api/v1/) and the scope each needs ([V] 3)
    school_path: str = "/api/v1/school/"
    students_path: str = "/api/v1/students/"
    staff_path: str = "/api/v1/staff/"
    contacts_path: str = "/api/v1/contacts/"
    register_path: str = "/api/v1/students/register/"
    school_scope: str = "school-info:read"
    student_scope: str = "student:read"
    staff_scope: str = "staff:read"
    contacts_scope: str = "contacts:first-party:read"
    register_scope: str = "student-register:read"
    # Paging ([V] 3): ?page= and ?per_page=; envelope has_next / next_uri
    page_param: str = "page"
    per_page_param: str = "per_page"
    per_page: int = 100  # [?] the largest page ScholarPack serves is unpublished
    max_pages: int = 10_000  # a bound, so a damaged envelope cannot loop for ever (ours)
    register_date_param: str = "date"  # [?] the day's marks: the filter's name is unknown
    # Record fields: [V] only student_uuid; every other name is [?] (rollsync's design).
    student_id: str = "student_uuid"  # [V] 3
    staff_id: str = "staff_uuid"  # [?]
    contact_id: str = "contact_uuid"  # [?]
    student_fields: Mapping[str, str] = field(
        default_factory=lambda: {
            "legal_given_name": "legal_forename",
            "legal_family_name": "legal_surname",
            "preferred_given_name": "preferred_forename",
            "preferred_family_name": "preferred_surname",
            "middle_names": "middle_names",
            "date_of_birth": "date_of_birth",
            "gender": "gender",
            "upn": "upn",
            "start_date": "admission_date",
            "leaving_date": "leaving_date",
            "year_group": "year_group",
            "email": "email",
        }
    )  # [?]
    staff_fields: Mapping[str, str] = field(
        default_factory=lambda: {
            "title": "title",
            "legal_given_name": "legal_forename",
            "legal_family_name": "legal_surname",
            "preferred_given_name": "preferred_forename",
            "preferred_family_name": "preferred_surname",
            "middle_names": "middle_names",
            "date_of_birth": "date_of_birth",
            "gender": "gender",
            "staff_code": "staff_code",
            "start_date": "start_date",
            "leaving_date": "end_date",
            "email": "email",
            "phone": "phone",
        }
    )  # [?]
    contact_fields: Mapping[str, str] = field(
        default_factory=lambda: {
            "title": "title",
            "legal_given_name": "forename",
            "legal_family_name": "surname",
            "email": "email",
            "phone": "phone",
        }
    )  # [?]
    address: str = "address"  # [?] {line_1, line_2, line_3, town, county, postcode}
    address_lines: tuple[str, ...] = ("line_1", "line_2", "line_3", "town", "county")  # [?]
    postcode: str = "postcode"  # [?] inside `address`
    # A contact's pupils: [{student_uuid, relationship, priority, parental_responsibility}]
    contact_students: str = "students"  # [?]
    relationship: str = "relationship"  # [?]
    priority: str = "priority"  # [?]
    parental_responsibility: str = "parental_responsibility"  # [?]
    # ScholarPack publishes no groups endpoint: a pupil's registration class rides on
    # the student record, {group_uuid, name, tutor_staff_uuid} ([I]; names [?]).
    registration_group: str = "registration_group"
    group_id: str = "group_uuid"
    group_name: str = "name"
    group_tutor: str = "tutor_staff_uuid"
    # A register mark: {student_uuid, date, session, mark} ([?])
    mark_date: str = "date"
    mark_session: str = "session"
    mark_code: str = "mark"
    # The school record ([V] /school/ exists; fields [?])
    school_urn: str = "urn"
    school_name: str = "name"

    def base(self) -> str:
        return os.environ.get(self.url_env, "").strip() or self.url_default

    def client(self) -> tuple[str, str]:
        return (
            os.environ.get(self.client_id_env, "").strip(),
            os.environ.get(self.client_secret_env, "").strip(),
        )


API = ScholarpackApi()

# Report -> (endpoint, the scope it needs, noun for messages, id field of its records),
# in the order a pull asks them. Groups are read from the students' records.
ENDPOINTS: Mapping[str, tuple[str, str, str, str]] = {
    r.STUDENTS: (API.students_path, API.student_scope, "students", API.student_id),
    r.STAFF: (API.staff_path, API.staff_scope, "staff", API.staff_id),
    r.CONTACTS: (API.contacts_path, API.contacts_scope, "contacts", API.contact_id),
    r.GROUPS: (API.students_path, API.student_scope, "students", API.student_id),
    r.ATTENDANCE: (API.register_path, API.register_scope, "register marks", API.student_id),
}


def approval_scopes() -> tuple[str, ...]:
    """Every scope rollsync may need: the approval link has no list of the reports the
    school accepted, so it asks for all it can read (and the school record)."""
    scopes = [API.school_scope]
    for _path, scope, _noun, _id in ENDPOINTS.values():
        if scope not in scopes:
            scopes.append(scope)
    return tuple(scopes)


WITHDRAWN = (
    "approval withdrawn: the school withdrew rollsync's access in ScholarPack; "
    "approve again from AutoUpdate Settings"
)

# The clock tokens are timed by (tests replace it rather than wait).
_clock: Callable[[], float] = time.time


def _client_credentials() -> tuple[str, str]:
    client_id, secret = API.client()
    if not client_id or not secret:
        raise SetupIncomplete(
            "rollsync's ScholarPack client is not configured for this region: the operator "
            f"must set {API.client_id_env} and {API.client_secret_env}",
            field="mis",
        )
    return client_id, secret


def _token_request(http: VendorHttp, form: Mapping[str, str]) -> dict[str, Any]:
    """One POST to the token endpoint; its answer (never kept). Refusals pass up."""
    client_id, secret = _client_credentials()
    response = http.request(
        "POST",
        API.token_path,
        data={**form, "client_id": client_id, "client_secret": secret},
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        keep=False,  # tokens are secrets: never stored
    )
    body = http.json(response, what="the token")
    if not isinstance(body, dict):
        raise BadResponse("ScholarPack's token answer is not an object", field="access_token")
    for key in ("access_token", "refresh_token"):
        value = body.get(key)
        if key in body and (not isinstance(value, str) or not value.strip()):
            raise BadResponse(f"ScholarPack's token answer has no usable {key}", field=key)
    if not isinstance(body.get("access_token"), str):
        raise BadResponse("ScholarPack's token answer has no access_token", field="access_token")
    return body


def _tokens(body: Mapping[str, Any], old_refresh: str = "") -> dict[str, str]:
    expires = body.get("expires_in", API.default_expires_in)
    if isinstance(expires, bool) or not isinstance(expires, int | float) or expires <= 0:
        expires = API.default_expires_in
    refresh = body.get("refresh_token")
    return {
        "access_token": str(body["access_token"]).strip(),
        # A refresh token rotates when ScholarPack sends a new one ([?]); else kept.
        "refresh_token": refresh.strip() if isinstance(refresh, str) else old_refresh,
        "expires_at": str(int(_clock() + expires)),
    }


def _refused(problem: ConnectorError) -> bool:
    """A token request ScholarPack refused (401, or 400 invalid_grant and the like)."""
    return isinstance(problem, CredentialsRefused) or (
        isinstance(problem, BadResponse) and "answered 400" in problem.message
    )


class _Session:
    """One pull's or check's talk with ScholarPack: the connection's tokens, refreshed
    when expired or refused, the new ones handed back in `connection.renewed`.

    A request refused (401) gets one new token and is asked once more; refused again,
    or a token refused right after it was issued, means the approval was withdrawn.
    At most `API.max_refreshes` refreshes per call, so a vendor that keeps refusing
    fresh tokens cannot make rollsync loop."""

    def __init__(self, http: VendorHttp, connection: Connection) -> None:
        self.http = http
        self.connection = connection
        self.access = connection.secret("access_token")
        self.refresh_token = connection.secret("refresh_token")
        try:
            self.expires_at = float(connection.secret("expires_at") or 0)
        except ValueError:
            self.expires_at = 0.0
        self.refreshes = 0
        if not self.access and not self.refresh_token:
            raise SetupIncomplete(
                "ScholarPack has not approved rollsync's access for this school yet: save the "
                "reports in AutoUpdate Settings and follow the approval link",
                field="refresh_token",
            )

    def _expired(self) -> bool:
        return not self.access or _clock() >= self.expires_at - API.token_margin_seconds

    def refresh(self) -> None:
        if not self.refresh_token or self.refreshes >= API.max_refreshes:
            raise ApprovalWithdrawn(WITHDRAWN)
        self.refreshes += 1
        try:
            body = _token_request(
                self.http, {"grant_type": "refresh_token", "refresh_token": self.refresh_token}
            )
        except (CredentialsRefused, AccessNotGranted, BadResponse) as problem:
            if isinstance(problem, AccessNotGranted) or _refused(problem):
                raise ApprovalWithdrawn(WITHDRAWN) from None
            raise
        tokens = _tokens(body, self.refresh_token)
        self.access, self.refresh_token = tokens["access_token"], tokens["refresh_token"]
        self.expires_at = float(tokens["expires_at"])
        self.connection.renewed.update(tokens)

    def get(
        self, path_or_url: str, params: Mapping[str, Any] | None, *, scope: str
    ) -> httpx.Response:
        fresh = self._expired()
        if fresh:
            self.refresh()
        try:
            try:
                return self.http.get(path_or_url, params=params, headers=self._auth())
            except CredentialsRefused:
                if fresh:  # a token just issued is refused: the grant is gone
                    raise ApprovalWithdrawn(WITHDRAWN) from None
                # Expired early or revoked: one new token; refused again, withdrawn.
                self.refresh()
                try:
                    return self.http.get(path_or_url, params=params, headers=self._auth())
                except CredentialsRefused:
                    raise ApprovalWithdrawn(WITHDRAWN) from None
        except AccessNotGranted:
            raise AccessNotGranted(
                f"ScholarPack did not grant rollsync the scope '{scope}' (403 to "
                f"{path_or_url.split('?')[0]}): approve rollsync again from AutoUpdate "
                "Settings and allow every scope the approval page lists"
            ) from None

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access}"}


# -- pages --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Page:
    records: list[dict[str, Any]]
    has_next: bool
    next_uri: str | None


def _envelope(body: Any, *, noun: str, id_field: str, page: int) -> _Page:
    """One page checked against the documented envelope, or `BadResponse` naming what."""
    where = f"on page {page} of {noun}"
    if not isinstance(body, dict):
        raise BadResponse(f"ScholarPack's answer {where} is not a JSON object", field=noun)
    records = body.get("data")
    if not isinstance(records, list):
        raise BadResponse(f"ScholarPack's answer {where} has no data list", field=f"data {where}")
    for name in ("page", "pages"):
        value = body.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise BadResponse(
                f"ScholarPack's answer {where} has no whole number '{name}'",
                field=f"{name} {where}",
            )
    if body["page"] != page:
        # Following next_uri must walk the pages in order; anything else could skip one.
        raise BadResponse(
            f"ScholarPack's answer {where} says it is page {body['page']}",
            field=f"page {where}",
        )
    has_next = body.get("has_next")
    if not isinstance(has_next, bool):
        raise BadResponse(
            f"ScholarPack's answer {where} has no true/false has_next", field=f"has_next {where}"
        )
    nxt = body.get("next_uri")
    if has_next and (not isinstance(nxt, str) or not nxt.strip()):
        raise BadResponse(
            f"ScholarPack's answer {where} says there is a next page but gives no next_uri",
            field=f"next_uri {where}",
        )
    for n, record in enumerate(records):
        if not isinstance(record, dict):
            raise BadResponse(
                f"ScholarPack's data[{n}] {where} is not a JSON object", field=f"data[{n}] {where}"
            )
        # A missing id is one bad record (the reader says so); an id of another type
        # is an API not as documented.
        value = record.get(id_field)
        if value is not None and not isinstance(value, str):
            raise BadResponse(
                f"ScholarPack sent data[{n}].{id_field} {where} as {type(value).__name__}, "
                "not as a uuid",
                field=f"data[{n}].{id_field} {where}",
            )
    return _Page(records, has_next, nxt if has_next and isinstance(nxt, str) else None)


def _read_all(
    session: _Session, report: str, params: Mapping[str, Any] | None = None
) -> tuple[int, int]:
    """Every page of the report's endpoint, by next_uri; returns (pages, records)."""
    path, scope, noun, id_field = ENDPOINTS[report]
    target: str = path
    query: Mapping[str, Any] | None = {API.per_page_param: API.per_page, **(params or {})}
    pages = records = 0
    seen: set[str] = set()
    while True:
        pages += 1
        response = session.get(target, query, scope=scope)
        body = session.http.json(response, what=f"page {pages} of {noun}")
        got = _envelope(body, noun=noun, id_field=id_field, page=pages)
        records += len(got.records)
        if got.next_uri is None:
            return pages, records
        if got.next_uri in seen or pages >= API.max_pages:
            raise BadResponse(
                f"ScholarPack's {noun} did not end: page {pages} points back at a page "
                "already read",
                field=f"next_uri on page {pages} of {noun}",
            )
        seen.add(got.next_uri)
        target, query = got.next_uri, None


def _school(session: _Session, connection: Connection) -> str:
    """The school's name, after checking the approval is this school's (its URN)."""
    response = session.get(API.school_path, None, scope=API.school_scope)
    body = session.http.json(response, what="the school")
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        raise BadResponse("ScholarPack's answer about the school has no data", field="data")
    urn = data.get(API.school_urn)
    name = data.get(API.school_name)
    shown = name if isinstance(name, str) and name else "another school"
    if urn not in (None, "") and str(urn).strip() != connection.school_urn:
        raise ConnectorError(
            f"the ScholarPack approval is for {shown} (URN {urn}), not this school (URN "
            f"{connection.school_urn}): approve again, signed in to this school's ScholarPack",
            field="url",
        )
    return name if isinstance(name, str) and name else connection.school_urn


def _client(connection: Connection) -> VendorHttp:
    url = connection.setting("url").strip() or API.base()
    return VendorHttp(url, vendor=LABEL)


def _answers(exchanges: list[Exchange]) -> list[Answer]:
    return [Answer(e.method, e.url, e.status, e.content_type, e.body) for e in exchanges]


def _pages(n: int) -> str:
    return f"{n} page" if n == 1 else f"{n} pages"


@register
class ScholarpackConnector(Connector):
    name = "scholarpack"
    mis = "ScholarPack"
    label = "ScholarPack"
    fmt = FMT
    fields = (
        SettingField(
            "url",
            "ScholarPack URL",
            required=False,
            help=f"Filled in by the approval (leave empty for {API.url_default})",
        ),
        SettingField(
            "refresh_token",
            "ScholarPack refresh token",
            secret=True,
            required=False,
            help="Filled in when the school approves rollsync in ScholarPack; enter one "
            "only to connect without the approval page",
        ),
    )
    needs_approval = True

    # -- connecting --------------------------------------------------------------------

    def approval_url(self, connection: Connection, *, return_url: str, state: str) -> str | None:
        base = check_base_url(API.base(), field=API.url_env)
        client_id, _secret = _client_credentials()
        wanted = connection.setting("reports").split(",")
        scopes = [API.school_scope]
        for report in wanted:
            found = ENDPOINTS.get(report.strip())
            if found is not None and found[1] not in scopes:
                scopes.append(found[1])
        if len(scopes) == 1:
            scopes = list(approval_scopes())  # no reports named: every scope rollsync reads
        query = urlencode(
            {
                "response_type": "code",
                "client_id": client_id,
                "redirect_uri": return_url,
                "scope": " ".join(scopes),
                "state": state,
            }
        )
        return f"{base}{API.authorize_path}?{query}"

    def complete_approval(self, connection: Connection, *, code: str) -> Approved:
        if not code.strip():
            raise SetupIncomplete("ScholarPack sent no approval code back: approve rollsync again")
        base = check_base_url(API.base(), field=API.url_env)
        with VendorHttp(base, vendor=LABEL) as http:
            try:
                body = _token_request(
                    http, {"grant_type": "authorization_code", "code": code.strip()}
                )
            except (CredentialsRefused, BadResponse) as problem:
                if not _refused(problem):
                    raise
                raise SetupIncomplete(
                    "ScholarPack did not accept the approval (the code was used already or has "
                    "expired): approve rollsync's access from AutoUpdate Settings again"
                ) from None
        if not isinstance(body.get("refresh_token"), str):
            raise BadResponse(
                "ScholarPack's token answer has no refresh_token", field="refresh_token"
            )
        return Approved(settings={"url": base}, secrets=_tokens(body))

    def check(self, connection: Connection) -> CheckResult:
        with _client(connection) as http:
            session = _Session(http, connection)
            name = _school(session, connection)
            response = session.get(
                API.students_path, {API.per_page_param: 1}, scope=API.student_scope
            )
            body = http.json(response, what="page 1 of students")
            got = _envelope(body, noun="students", id_field=API.student_id, page=1)
            pages = body.get("pages")
        if isinstance(pages, int) and not isinstance(pages, bool):
            seen = f"{pages:,} student{'s' if pages != 1 else ''} visible"
        else:
            seen = "students readable" if got.records else "no students listed"
        return CheckResult(f"ScholarPack approval works for {name}; {seen}")

    # -- pulling -----------------------------------------------------------------------

    def pull(self, connection: Connection, request: PullRequest) -> list[Pulled]:
        # Only what ScholarPack can send, of what was asked, in a fixed order. No field
        # list is asked for (the API offers none), so no opted-out field is asked either;
        # the reader's caller drops them before anything is stored.
        wanted = [report for report in ENDPOINTS if report in request.reports]
        if not wanted:
            return []
        now = request.now or datetime.now(UTC)
        today = request.today or now.date()
        out: list[Pulled] = []
        with _client(connection) as http:
            session = _Session(http, connection)
            _school(session, connection)
            # The school's record leads every report's bundle: its URN is what the
            # reader declares, so a pull of another school's data is refused.
            lead = http.exchanges[-1]
            # Groups are read from the students' records: when Students is pulled too,
            # its answers serve both (asked once).
            done: dict[str, tuple[list[Exchange], int, int]] = {}
            for report in wanted:
                path = ENDPOINTS[report][0]
                if path in done and report != r.ATTENDANCE:
                    answers, pages, records = done[path]
                else:
                    first = len(http.exchanges)
                    pages, records = _read_all(session, report, _params(report, today))
                    answers = http.exchanges[first:]
                    done[path] = (answers, pages, records)
                noun = ENDPOINTS[report][2]
                if report == r.GROUPS:
                    noun = "registration groups from students"
                when = f" for {today.isoformat()}" if report == r.ATTENDANCE else ""
                asked = f"{noun}{when} ({_pages(pages)}, {records})"
                payload = pack_pull(
                    vendor=VENDOR,
                    report=report,
                    asked=asked,
                    pulled_at=now.isoformat(),
                    answers=_answers([lead, *answers]),
                    extra={"today": today.isoformat(), "per_page": API.per_page},
                )
                out.append(Pulled(report, FMT, payload, asked))
        return out


def _params(report: str, today: date) -> dict[str, Any]:
    if report == r.ATTENDANCE:
        return {API.register_date_param: today.isoformat()}
    return {}
