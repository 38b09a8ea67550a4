"""The IRIS iSAMS / Ed:gen connector: the REST API (not the legacy Batch API).

OAuth2 client credentials give a bearer token; current students and current staff are
read page by page (`page`/`pageSize`, stopping at the envelope's `totalPages`). One
`Pulled` per report, holding every page as it came; token answers are never kept.
Everything assumed rather than published is in `API` below (flags from
shared/reference/mis-apis.md section 1); the simulator (`rollsync.missim.isams`) serves
the same constants, so a real deployment corrects one place. See docs/connectors/isams.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rollsync.domain import reports as r
from rollsync.ingest.pulled import Answer, pack_pull

from .base import CheckResult, Connection, Connector, Pulled, PullRequest, SettingField
from .errors import AccessNotGranted, BadResponse, ConnectorError, CredentialsRefused
from .http import Exchange, VendorHttp
from .registry import register


@dataclass(frozen=True, slots=True)
class IsamsApi:
    """iSAMS REST API details (mis-apis.md section 1)."""

    # [V] cranleigh isams-php: the token path moved twice; the current one first. The
    # simulator accepts all three.
    token_path: str = "auth/connect/token"
    older_token_paths: tuple[str, ...] = ("main/auth/connect/token", "main/sso/idp/connect/token")
    # [V] client code (spkm/isams-api sends restapi); the server's scope check is [?]
    scope: str = "restapi"
    # [V] clients cache until expiry less a minute (spkm); expires_in itself is [?]
    token_margin_seconds: int = 60
    default_expires_in: int = 3600  # [C] seen on iSAMS tokens; used when none is given
    # [V] endpoints and top-level keys (cranleigh and spkm client code)
    students_path: str = "api/students"
    students_key: str = "students"
    employees_path: str = "api/humanresources/employees"
    employees_key: str = "employees"
    # [V] paging: 1-based `page`, `pageSize`; envelope page/pageSize/totalCount/totalPages
    page_param: str = "page"
    page_size_param: str = "pageSize"
    page_size: int = 100  # [V] spkm's paginator; the server's largest page is [?]
    most_pages: int = 10_000  # [I] a bound, so a damaged envelope cannot loop for ever
    # [V] spkm's systemStatus enum; the exact spelling of the on-roll value is [C]
    current_status: str = "Current"
    # [V] student and employee ids: schoolId is the pupil's MIS ID (not `id`)
    student_id_field: str = "schoolId"
    employee_id_field: str = "id"


API = IsamsApi()
VENDOR = "IRIS iSAMS"
FMT = "isams-api"

# report -> (path, key, noun for messages, id field)
ENDPOINTS: Mapping[str, tuple[str, str, str, str]] = {
    r.STUDENTS: (API.students_path, API.students_key, "students", API.student_id_field),
    r.STAFF: (API.employees_path, API.employees_key, "employees", API.employee_id_field),
}

REFUSED = (
    "IRIS iSAMS refused the client ID and secret: check them in iSAMS under Control Panel, "
    "API Services Manager, REST API Clients (the client must be enabled), and enter them again"
)

# The clock tokens are timed by (tests replace it rather than sleep).
_clock: Callable[[], float] = time.monotonic


class _Session:
    """One pull's or check's talk with iSAMS: a token, fetched when needed, and requests
    that carry it."""

    def __init__(self, http: VendorHttp, client_id: str, client_secret: str) -> None:
        self.http = http
        self._client_id = client_id
        self._client_secret = client_secret
        self._token: str | None = None
        self._good_until = 0.0
        self.tokens_issued = 0

    def token(self) -> str:
        if self._token is None or _clock() >= self._good_until:
            self._token = self._new_token()
        return self._token

    def _new_token(self) -> str:
        form = {
            "grant_type": "client_credentials",
            "client_id": self._client_id,
            "client_secret": self._client_secret,
            "scope": API.scope,
        }
        try:
            response = self.http.request(
                "POST",
                API.token_path,
                data=form,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
                keep=False,  # a token is a secret: never stored
            )
        except (CredentialsRefused, AccessNotGranted):
            # 401 or 403 from the token endpoint: the client itself is refused
            raise CredentialsRefused(REFUSED, field="client_secret") from None
        except BadResponse as problem:
            text = problem.message.casefold()
            if "invalid_client" in text or "unauthorized_client" in text:
                raise CredentialsRefused(REFUSED, field="client_secret") from None
            if "answered 404" in text:
                raise ConnectorError(
                    f"there is no iSAMS sign-in at {self.http.base_url}: check the MIS URL "
                    "(the address staff sign in at, e.g. https://yourschool.isams.cloud)",
                    field="url",
                ) from None
            if "invalid_scope" in text:
                raise AccessNotGranted(
                    f"IRIS iSAMS will not give this REST API client the scope '{API.scope}': "
                    "allow it the REST API in Control Panel, API Services Manager"
                ) from None
            raise
        body = self.http.json(response, what="the token")
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise BadResponse("IRIS iSAMS's token answer has no access_token", field="access_token")
        expires = body.get("expires_in", API.default_expires_in)
        if isinstance(expires, bool) or not isinstance(expires, int | float) or expires <= 0:
            expires = API.default_expires_in
        margin = min(API.token_margin_seconds, expires / 2)
        self._good_until = _clock() + expires - margin
        self.tokens_issued += 1
        return token

    def get(self, path: str, params: Mapping[str, Any]) -> Any:
        """The JSON of one GET, with one new token if the cached one is refused."""
        cached = self._token is not None and _clock() < self._good_until
        try:
            response = self.http.get(path, params=params, headers=self._auth())
        except CredentialsRefused:
            if not cached:
                raise CredentialsRefused(REFUSED, field="client_secret") from None
            # The token was revoked or expired early: a new one, once.
            self._token = None
            try:
                response = self.http.get(path, params=params, headers=self._auth())
            except CredentialsRefused:
                raise CredentialsRefused(
                    REFUSED + " (a new token was refused too)", field="client_secret"
                ) from None
        except AccessNotGranted:
            raise AccessNotGranted(
                f"IRIS iSAMS did not let rollsync read /{path}: give the REST API client "
                "permission for it in Control Panel, API Services Manager, REST API Clients"
            ) from None
        return self.http.json(response, what=f"/{path}")

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token()}"}


@dataclass(frozen=True, slots=True)
class _Page:
    records: list[Any]
    total_pages: int
    total_count: int


def _envelope(body: Any, *, key: str, id_field: str, page: int) -> _Page:
    """One page checked against the documented envelope, or `BadResponse` naming what."""
    where = f"on page {page}"
    if not isinstance(body, dict):
        raise BadResponse(f"IRIS iSAMS's page {page} of {key} is not a JSON object", field=key)
    records = body.get(key)
    if not isinstance(records, list):
        raise BadResponse(f"IRIS iSAMS's answer has no list '{key}' {where}", field=key)
    numbers: dict[str, int] = {}
    for name in ("totalPages", "totalCount"):
        value = body.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise BadResponse(
                f"IRIS iSAMS's answer {where} of {key} has no whole number '{name}'",
                field=name,
            )
        numbers[name] = value
    if numbers["totalPages"] > API.most_pages:
        raise BadResponse(
            f"IRIS iSAMS says {key} run to {numbers['totalPages']:,} pages, more than "
            f"rollsync reads ({API.most_pages:,})",
            field="totalPages",
        )
    for n, record in enumerate(records):
        if not isinstance(record, dict):
            raise BadResponse(f"{key}[{n}] {where} is not a JSON object", field=f"{key}[{n}]")
        # A missing id is one bad record (the reader says so); an id of another type is
        # an API not as documented.
        value = record.get(id_field)
        if value is not None and not _id_of_type(value, id_field):
            raise BadResponse(
                f"IRIS iSAMS sent {key}[{n}].{id_field} {where} as "
                f"{type(value).__name__}, not as documented",
                field=f"{key}[{n}].{id_field}",
            )
    return _Page(records, numbers["totalPages"], numbers["totalCount"])


def _id_of_type(value: Any, id_field: str) -> bool:
    if id_field == API.student_id_field:
        return isinstance(value, str)
    return isinstance(value, int | str) and not isinstance(value, bool)


def _read_all(session: _Session, report: str) -> tuple[int, int]:
    """Every page of the report's list; returns (pages read, records)."""
    path, key, _noun, id_field = ENDPOINTS[report]
    page, records = 1, 0
    seen: dict[Any, int] = {}
    while True:
        body = session.get(path, {API.page_param: page, API.page_size_param: API.page_size})
        got = _envelope(body, key=key, id_field=id_field, page=page)
        for n, record in enumerate(got.records):
            _once_only(seen, record.get(id_field), key=key, id_field=id_field, n=n, page=page)
        records += len(got.records)
        if page >= got.total_pages:
            break
        if not got.records:
            raise BadResponse(
                f"IRIS iSAMS's page {page} of {key} is empty, yet it says there are "
                f"{got.total_pages} pages",
                field="totalPages",
            )
        page += 1
        if page > API.most_pages:  # pragma: no cover - bounded by _envelope already
            raise BadResponse(f"IRIS iSAMS's {key} did not end", field="totalPages")
    if records != got.total_count:
        # A short list would read as leavers: refuse it rather than guess.
        raise BadResponse(
            f"IRIS iSAMS said there are {got.total_count} {key} but listed {records}; "
            "the list may have changed during the pull. rollsync will try again at the next pull",
            field="totalCount",
        )
    return page, records


def _once_only(
    seen: dict[Any, int], value: Any, *, key: str, id_field: str, n: int, page: int
) -> None:
    """A record listed twice means the list moved between pages (offset paging): then
    another record may have been skipped, and would read as a leaver. Refused."""
    if value is None:
        return
    ident = str(value)
    if ident in seen:
        raise BadResponse(
            f"IRIS iSAMS listed {key}[{n}].{id_field} '{ident}' on page {page} again (first on "
            f"page {seen[ident]}): the list changed during the pull. rollsync will try again "
            "at the next pull",
            field=f"{key}[{n}].{id_field}",
        )
    seen[ident] = page


def _answers(exchanges: list[Exchange]) -> list[Answer]:
    return [Answer(e.method, e.url, e.status, e.content_type, e.body) for e in exchanges]


def _pages(n: int) -> str:
    return f"{n} page" if n == 1 else f"{n} pages"


def _credentials(connection: Connection) -> tuple[str, str, str]:
    url = connection.setting("url").strip()
    client_id = connection.setting("client_id").strip()
    secret = connection.secret("client_secret")
    for value, name, label in (
        (url, "url", "MIS URL"),
        (client_id, "client_id", "client ID"),
        (secret, "client_secret", "client secret"),
    ):
        if not value:
            raise ConnectorError(
                f"the IRIS iSAMS connection has no {label}: enter it (the school finds it "
                "in iSAMS under Control Panel, API Services Manager, REST API Clients)",
                field=name,
            )
    return url.rstrip("/"), client_id, secret


@register
class IsamsConnector(Connector):
    name = "isams"
    mis = "IRIS iSAMS"
    label = "IRIS iSAMS / Ed:gen"
    fmt = FMT
    fields = (
        SettingField(
            "url",
            "MIS URL",
            help="The school's iSAMS address, e.g. https://yourschool.isams.cloud "
            "(or https://yourschool.edgen.cloud)",
        ),
        SettingField("client_id", "Client ID", help="Of the REST API client made for rollsync"),
        SettingField("client_secret", "Client secret", secret=True),
    )

    def check(self, connection: Connection) -> CheckResult:
        url, client_id, secret = _credentials(connection)
        with VendorHttp(url, vendor=VENDOR) as http:
            session = _Session(http, client_id, secret)
            body = session.get(API.students_path, {API.page_param: 1, API.page_size_param: 1})
            got = _envelope(body, key=API.students_key, id_field=API.student_id_field, page=1)
        noun = "student" if got.total_count == 1 else "students"
        return CheckResult(f"Token issued; {got.total_count:,} {noun} visible")

    def pull(self, connection: Connection, request: PullRequest) -> list[Pulled]:
        url, client_id, secret = _credentials(connection)
        # Only what iSAMS can send, of what was asked, in a fixed order. No field list
        # or expand is asked for, so an opted-out field is never asked either (the
        # reader's caller drops it before anything is stored).
        wanted = [report for report in ENDPOINTS if report in request.reports]
        pulled_at = (request.now or datetime.now(UTC)).isoformat()
        out: list[Pulled] = []
        with VendorHttp(url, vendor=VENDOR) as http:
            session = _Session(http, client_id, secret)
            for report in wanted:
                first = len(http.exchanges)
                pages, records = _read_all(session, report)
                noun = ENDPOINTS[report][2]
                asked = f"{noun} ({_pages(pages)}, {records})"
                payload = pack_pull(
                    vendor=self.name,
                    report=report,
                    asked=asked,
                    pulled_at=pulled_at,
                    answers=_answers(http.exchanges[first:]),
                    extra={"page_size": API.page_size},
                )
                out.append(Pulled(report, FMT, payload, asked))
        return out
