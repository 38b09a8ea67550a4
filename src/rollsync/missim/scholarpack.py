"""The ScholarPack simulator: OAuth 2.0 approval, tokens and the data API of every school
in its `SimData` (docs/connectors/scholarpack.md).

- The region's OAuth client is `demo-client` / `demo-secret` (`DEMO_CLIENT_ID`,
  `DEMO_CLIENT_SECRET`); anything else at the token endpoint is 401 invalid_client.
- `GET /oauth2/authorize/?response_type=code&client_id=&redirect_uri=&scope=&state=`
  shows an "Approve" form stating the scopes asked, with the school (any URN the data
  holds), the approving user and their roles. `POST /oauth2/authorize/` approves only
  when the user holds both the Admin and System Admin roles (otherwise a 403 page) and
  redirects (302) to `redirect_uri?code=...&state=...` (`decision=deny`:
  `?error=access_denied`). `sim.approve(urn)` does the same without a browser and
  returns the code; `approve_by_form(link, urn)` drives the form over HTTP (a
  simulator in another process) and returns the redirect (the demo and web tests).
- `POST /oauth2/token/`: `authorization_code` (a code is single-use) and
  `refresh_token` (the refresh token rotates: the one before is refused after use).
  Tokens are signed, so they survive a restart of the simulator; `demo-refresh-{URN}`
  is a pre-approved refresh token for every school, every scope, always accepted
  until revoked. `sim.revoke(urn)` (or the option `revoke=1`: every school) withdraws
  the approval: refreshes fail 400 invalid_grant and access tokens are 401.
- Data: `/api/v1/{school,students,staff,contacts,students/register}/` with
  `Authorization: Bearer`; the token names the school chosen at approval (one base
  for every school). A scope the approval did not grant is 403 insufficient_scope.
  Lists are paged `?page=&per_page=` (default 50, at most 100 or `max-per-page=N`)
  in the `{data, page, pages, per_page, has_next, has_prev, next_num, prev_num,
  next_uri, prev_uri}` envelope, `next_uri` a path.
- Every person and group has a stable uuid from the school's URN, its kind and its
  snapshot MIS ID (`sp_uuid`).
- Faults: the shared ones; `bad@N` drops `has_next` from a list (or `data` from the
  school record); options `token-expiry=SECONDS` (default 3600), `token-uses=N` (an
  access token answers N requests, then 401 as expired), `max-per-page=N`,
  `revoke=1`. `sim.tamper` changes one served record for tests:
  {(urn, path, uuid): {key: value or DROP}}.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import secrets
import threading
import time
import uuid
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from rollsync.connectors.http import is_loopback
from rollsync.connectors.scholarpack import API, approval_scopes
from rollsync.domain.records import GroupKind, MembershipRole, Role
from rollsync.simulate.snapshot import ExportPerson, SchoolSnapshot

from .data import SimData
from .faults import FaultPlan
from .server import SimRequest, SimResponse, SimServer

DEMO_CLIENT_ID = "demo-client"
DEMO_CLIENT_SECRET = "demo-secret"
DEMO_REFRESH_PREFIX = "demo-refresh-"
DEFAULT_PER_PAGE = 50  # [V] the published example's per_page
MAX_PER_PAGE = 100  # [?]
DROP = object()  # in `tamper`: remove the key
ROLES_NEEDED = ("admin", "system_admin")  # [V] both Admin and System Admin

_SIGNING_KEY = b"rollsync-scholarpack-simulator"  # fake: signs the simulator's own tokens
_NAMESPACE = uuid.UUID("6f1c1e0a-5c1b-4d59-9a59-5c0f0c3a7e11")
_PATHS = {
    API.school_path: API.school_scope,
    API.students_path: API.student_scope,
    API.staff_path: API.staff_scope,
    API.contacts_path: API.contacts_scope,
    API.register_path: API.register_scope,
}


def sp_uuid(urn: str, kind: str, mis_id: str) -> str:
    """The stable ScholarPack uuid of a record: kind is student, staff, contact or group."""
    return str(uuid.uuid5(_NAMESPACE, f"{urn}:{kind}:{mis_id}"))


def demo_refresh_token(urn: str) -> str:
    return f"{DEMO_REFRESH_PREFIX}{urn}"


def approve_by_form(approval_url: str, urn: str, *, roles: Iterable[str] = ROLES_NEEDED) -> str:
    """Approve as a school admin would in the browser, against a simulator in any
    process: GET the approval page `approval_url` (what the connector's `approval_url`
    made), POST its form for school `urn` with `roles` ticked, and return the URL
    ScholarPack sends the browser back to (`redirect_uri?code=...&state=...`). The
    demo and the web tests use it. Loopback only, as every simulator."""
    parts = urlsplit(approval_url)
    if not is_loopback(parts.hostname or ""):
        raise ValueError("approve_by_form talks to a simulator on this machine only")
    form = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    form.update({"school": urn, "decision": "approve", "username": "demo-admin"})
    form.update(dict.fromkeys(roles, "on"))
    with httpx.Client(follow_redirects=False) as browser:
        page = browser.get(approval_url)
        page.raise_for_status()
        answer = browser.post(f"{parts.scheme}://{parts.netloc}{parts.path}", data=form)
    if answer.status_code != 302:
        raise PermissionError(f"the simulator refused the approval ({answer.status_code})")
    return answer.headers["Location"]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(kind: str, claims: dict[str, Any]) -> str:
    body = _b64(json.dumps(claims, sort_keys=True).encode())
    mac = hmac.new(_SIGNING_KEY, f"{kind}.{body}".encode(), hashlib.sha256).digest()
    return f"{kind}.{body}.{_b64(mac[:18])}"


def _verify(kind: str, token: str) -> dict[str, Any] | None:
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != kind:
        return None
    mac = hmac.new(_SIGNING_KEY, f"{kind}.{parts[1]}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(_b64(mac[:18]), parts[2]):
        return None
    try:
        claims = json.loads(_unb64(parts[1]))
    except (ValueError, UnicodeDecodeError):
        return None
    return claims if isinstance(claims, dict) else None


class ScholarpackSimulator(SimServer):
    vendor = "scholarpack"

    def __init__(
        self,
        data: SimData,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: FaultPlan | str | None = None,
    ) -> None:
        super().__init__(data, host=host, port=port, faults=faults)
        self.tamper: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.revoked: set[str] = set()
        self._codes: dict[str, tuple[str, tuple[str, ...], str]] = {}  # code -> urn, scopes, uri
        self._generation: dict[str, int] = {}  # urn -> newest refresh token's number
        self._uses: dict[str, int] = {}  # access token -> requests answered
        self._serial = 0
        self._state_lock = threading.Lock()

    # -- approval (no browser) ----------------------------------------------------------

    def approve(self, urn: str, scopes: Iterable[str] | None = None, redirect_uri: str = "") -> str:
        """Approve rollsync for a school as its admin would; the one-time code."""
        if self.data.school(urn) is None:
            raise KeyError(urn)
        granted = tuple(scopes) if scopes is not None else approval_scopes()
        code = secrets.token_urlsafe(18)
        with self._state_lock:
            self._codes[code] = (urn, granted, redirect_uri)
            self.revoked.discard(urn)
        return code

    @property
    def pending_codes(self) -> int:
        """Approval codes issued and not yet exchanged (tests)."""
        with self._state_lock:
            return len(self._codes)

    def revoke(self, urn: str) -> None:
        """The school withdraws rollsync's approval."""
        with self._state_lock:
            self.revoked.add(urn)

    # -- the API -----------------------------------------------------------------------

    def handle(self, request: SimRequest) -> SimResponse:
        path = request.path
        if path == API.authorize_path:
            return self._authorize(request)
        if path == API.token_path:
            if request.method != "POST":
                return _error(405, "method_not_allowed", "Use POST.")
            return self._token(request)
        if path in _PATHS:
            return self._data(request, path)
        return _error(404, "not_found", "The requested URL was not found on the server.")

    def error_response(self, request: SimRequest, status: int) -> SimResponse:
        if status == 401:
            return _error(401, "invalid_token", "The access token is invalid or has expired.")
        if status == 403:
            return _error(403, "insufficient_scope", "The token does not grant this scope.")
        return _error(status, "server_error", f"Simulated {status}.")

    def bad_response(self, request: SimRequest, good: SimResponse) -> SimResponse:
        body = json.loads(good.body)
        if isinstance(body, dict) and "has_next" in body:
            del body["has_next"]  # a list without its paging
        elif isinstance(body, dict):
            body = {"school": body.get("data")}
        return SimResponse.json(body)

    # -- OAuth ---------------------------------------------------------------------------

    def _authorize(self, request: SimRequest) -> SimResponse:
        args = request.form() if request.method == "POST" else {}
        get = (lambda k: args.get(k)) if request.method == "POST" else request.arg
        redirect_uri = get("redirect_uri") or ""
        state = get("state") or ""
        scopes = tuple((get("scope") or "").split())
        problem = ""
        if (get("response_type") or "") != "code":
            problem = "response_type must be code"
        elif (get("client_id") or "") != DEMO_CLIENT_ID:
            problem = "unknown client_id"
        elif not redirect_uri.startswith(("http://", "https://")):
            problem = "redirect_uri is missing"
        elif not scopes or any(s not in set(approval_scopes()) for s in scopes):
            problem = "unknown or missing scope"
        if problem:
            return SimResponse.html(f"<h1>Invalid request</h1><p>{html.escape(problem)}</p>", 400)
        if request.method == "GET":
            return SimResponse.html(self._form(request, scopes))
        if args.get("decision") == "deny":
            return _redirect(redirect_uri, {"error": "access_denied", "state": state})
        roles = {k for k in ROLES_NEEDED if args.get(k) in ("on", "1", "yes", "true")}
        if roles != set(ROLES_NEEDED):
            return SimResponse.html(
                "<h1>Not allowed</h1><p>Only a user with both the Admin and System Admin "
                "roles can approve an application.</p>",
                403,
            )
        urn = args.get("school") or ""
        if self.data.school(urn) is None:
            return SimResponse.html("<h1>Unknown school</h1>", 400)
        code = self.approve(urn, scopes, redirect_uri)
        return _redirect(redirect_uri, {"code": code, "state": state})

    def _form(self, request: SimRequest, scopes: tuple[str, ...]) -> str:
        hidden = "".join(
            f'<input type="hidden" name="{k}" value="{html.escape(request.arg(k) or "")}">'
            for k in ("response_type", "client_id", "redirect_uri", "scope", "state")
        )
        schools = "".join(
            f'<option value="{html.escape(u)}">{html.escape(u)}</option>' for u in self.data.urns()
        )
        asked = "".join(f"<li>{html.escape(s)}</li>" for s in scopes)
        return (
            "<!doctype html><title>ScholarPack: approve an application</title>"
            "<h1>Approve rollsync</h1><p>rollsync asks to:</p>"
            f"<ul class='scopes'>{asked}</ul>"
            f'<form method="post" action="{API.authorize_path}">{hidden}'
            f'<label>School <select name="school">{schools}</select></label>'
            '<label>User <input name="username" value="demo-admin"></label>'
            '<label><input type="checkbox" name="admin" checked> Admin</label>'
            '<label><input type="checkbox" name="system_admin" checked> System Admin</label>'
            '<button name="decision" value="approve">Approve</button>'
            '<button name="decision" value="deny">Deny</button></form>'
        )

    def _token(self, request: SimRequest) -> SimResponse:
        form = request.form()
        if (
            form.get("client_id") != DEMO_CLIENT_ID
            or form.get("client_secret") != DEMO_CLIENT_SECRET
        ):
            return _error(401, "invalid_client", "Client authentication failed.")
        grant = form.get("grant_type")
        with self._state_lock:
            if grant == "authorization_code":
                found = self._codes.pop(form.get("code") or "", None)  # single-use
                if found is None:
                    return _error(400, "invalid_grant", "The code is invalid or was used.")
                urn, scopes, _uri = found
                return self._issue(urn, scopes)
            if grant == "refresh_token":
                token = form.get("refresh_token") or ""
                claims = self._refresh_claims(token)
                if claims is None:
                    return _error(400, "invalid_grant", "The refresh token is invalid.")
                return self._issue(claims["u"], tuple(claims["s"]))
        return _error(400, "unsupported_grant_type", "The grant type is not supported.")

    def _refresh_claims(self, token: str) -> dict[str, Any] | None:
        if token.startswith(DEMO_REFRESH_PREFIX):
            urn = token.removeprefix(DEMO_REFRESH_PREFIX)
            if self.data.school(urn) is None:
                return None
            claims: dict[str, Any] | None = {"u": urn, "s": list(approval_scopes()), "g": -1}
        else:
            claims = _verify("sprt", token)
        if claims is None or self._withdrawn(str(claims.get("u"))):
            return None
        newest = self._generation.get(str(claims["u"]))
        generation = claims.get("g")
        if generation != -1 and newest is not None and generation != newest:
            return None  # rotated away: a refresh token is used once
        return claims

    def _withdrawn(self, urn: str) -> bool:
        return urn in self.revoked or self.faults.option("revoke") in ("1", "all", urn)

    def _issue(self, urn: str, scopes: tuple[str, ...]) -> SimResponse:
        self._serial += 1
        lifetime = int(self.faults.option("token-expiry", "3600") or 3600)
        generation = self._serial
        self._generation[urn] = generation
        access = _sign(
            "spat",
            {"u": urn, "s": list(scopes), "e": int(time.time()) + lifetime, "n": self._serial},
        )
        refresh = _sign("sprt", {"u": urn, "s": list(scopes), "g": generation})
        return SimResponse.json(
            {
                "access_token": access,
                "token_type": "Bearer",
                "expires_in": lifetime,
                "refresh_token": refresh,
                "scope": " ".join(scopes),
            },
            200,
            **{"Cache-Control": "no-store"},
        )

    # -- data ----------------------------------------------------------------------------

    def _data(self, request: SimRequest, path: str) -> SimResponse:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        claims = _verify("spat", token.strip()) if scheme.lower() == "bearer" else None
        if claims is None or int(claims.get("e", 0)) <= time.time():
            return self.error_response(request, 401)
        urn = str(claims["u"])
        uses = int(self.faults.option("token-uses", "0") or 0)
        with self._state_lock:
            if self._withdrawn(urn):
                return self.error_response(request, 401)
            self._uses[token] = self._uses.get(token, 0) + 1
            if uses and self._uses[token] > uses:
                return self.error_response(request, 401)
        scope = _PATHS[path]
        if scope not in claims.get("s", []):
            return _error(
                403, "insufficient_scope", f"The access token does not grant the scope {scope}."
            )
        snap = self.data.school(urn)
        if snap is None:
            return _error(404, "not_found", "The school is no longer on ScholarPack.")
        render = _Renderer(snap)
        if path == API.school_path:
            return SimResponse.json({"data": render.school()})
        try:
            page = int(request.arg(API.page_param) or 1)
            per_page = int(request.arg(API.per_page_param) or DEFAULT_PER_PAGE)
        except ValueError:
            return _error(400, "bad_request", "page and per_page must be whole numbers.")
        if page < 1 or per_page < 1:
            return _error(400, "bad_request", "page and per_page must be at least 1.")
        cap = int(self.faults.option("max-per-page", str(MAX_PER_PAGE)) or MAX_PER_PAGE)
        per_page = min(per_page, cap)
        items = self._tampered(urn, path, render.listing(path, request))
        pages = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        has_next = page < pages
        return SimResponse.json(
            {
                "data": chunk,
                "page": page,
                "pages": pages,
                "per_page": per_page,
                "total": len(items),
                "has_next": has_next,
                "has_prev": page > 1,
                "next_num": page + 1 if has_next else None,
                "prev_num": page - 1 if page > 1 else None,
                "next_uri": _link(request, page + 1, per_page) if has_next else None,
                "prev_uri": _link(request, page - 1, per_page) if page > 1 else None,
            }
        )

    def _tampered(self, urn: str, path: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not self.tamper:
            return items
        out = []
        for item in items:
            key = next((str(v) for k, v in item.items() if k.endswith("_uuid")), "")
            changes = self.tamper.get((urn, path, key))
            if changes:
                item = dict(item)
                for name, value in changes.items():
                    if value is DROP:
                        item.pop(name, None)
                    else:
                        item[name] = value
            out.append(item)
        return out


def _error(status: int, error: str, message: str) -> SimResponse:
    return SimResponse.json({"error": error, "message": message, "status": status}, status)


def _redirect(uri: str, query: dict[str, str]) -> SimResponse:
    joiner = "&" if "?" in uri else "?"
    return SimResponse(302, b"", {"Location": f"{uri}{joiner}{urlencode(query)}"})


def _link(request: SimRequest, page: int, per_page: int) -> str:
    query = {k: v[-1] for k, v in request.query.items() if k not in (API.page_param,)}
    query[API.page_param] = str(page)
    query[API.per_page_param] = str(per_page)
    return f"{request.path}?{urlencode(query)}"


class _Renderer:
    """One school in ScholarPack's shapes (field names: `API`, all assumed but uuids)."""

    def __init__(self, snap: SchoolSnapshot) -> None:
        self.snap = snap
        self.urn = snap.urn
        self.pupils = [p for p in snap.pupils if not p.future]
        self.on_roll = {p.mis_id for p in self.pupils}
        self.reg_groups = {g.name: g for g in snap.groups if g.kind is GroupKind.REGISTRATION}

    def uid(self, kind: str, mis_id: str) -> str:
        return sp_uuid(self.urn, kind, mis_id)

    def school(self) -> dict[str, Any]:
        return {
            "school_uuid": self.uid("school", self.urn),
            API.school_name: self.snap.school_name,
            API.school_urn: self.urn,
            "la_code": self.snap.la_code,
            "establishment_number": self.snap.estab,
        }

    def listing(self, path: str, request: SimRequest) -> list[dict[str, Any]]:
        if path == API.students_path:
            return [self.student(p) for p in self.pupils]
        if path == API.staff_path:
            return [self.staff(s) for s in self.snap.staff if not s.future]
        if path == API.contacts_path:
            # The contacts of pupils on roll ([I]: a future starter's come with them later)
            linked = {x.contact_mis_id for x in self.snap.links if x.pupil_mis_id in self.on_roll}
            return [self.contact(c) for c in self.snap.contacts if c.mis_id in linked]
        day = request.arg(API.register_date_param)
        return [
            {
                API.student_id: self.uid("student", m.pupil_mis_id),
                API.mark_date: m.date.isoformat(),
                API.mark_session: m.session,
                API.mark_code: m.code,
            }
            for m in self.snap.attendance
            if m.pupil_mis_id in self.on_roll and (day is None or m.date.isoformat() == day)
        ]

    def values(self, p: ExportPerson, names: dict[str, str]) -> dict[str, Any]:
        known: dict[str, Any] = {
            "title": p.title,
            "legal_given_name": p.legal_given,
            "legal_family_name": p.legal_family,
            "preferred_given_name": p.preferred_given,
            "preferred_family_name": p.preferred_family,
            "middle_names": p.middle,
            "date_of_birth": p.dob.isoformat(),
            "gender": p.gender.value,
            "upn": p.upn,
            "start_date": p.start_date.isoformat() if p.start_date else None,
            "leaving_date": p.leaving_date.isoformat() if p.leaving_date else None,
            "year_group": p.year_group,
            "staff_code": p.staff_code,
            "email": p.email,
            "phone": p.phone,
        }
        out = {vendor: known[ours] for ours, vendor in names.items()}
        a = p.address
        out[API.address] = (
            None
            if a is None
            else dict(
                zip(
                    (*API.address_lines, API.postcode),
                    (a.saon, f"{a.paon} {a.street}", None, a.town, None, a.postcode),
                    strict=True,
                )
            )
        )
        return out

    def student(self, p: ExportPerson) -> dict[str, Any]:
        record: dict[str, Any] = {API.student_id: self.uid("student", p.mis_id)}
        record.update(self.values(p, dict(API.student_fields)))
        group = self.reg_groups.get(p.reg_group or "")
        reg: dict[str, Any] | None = None
        if p.reg_group:
            tutor = next(
                (
                    mis_id
                    for role, mis_id, membership in (group.members if group else ())
                    if role is Role.STAFF and membership is MembershipRole.TEACHER
                ),
                None,
            )
            reg = {
                API.group_id: self.uid("group", group.mis_id if group else p.reg_group),
                API.group_name: p.reg_group,
                API.group_tutor: self.uid("staff", tutor) if tutor else None,
            }
        record[API.registration_group] = reg
        return record

    def staff(self, s: ExportPerson) -> dict[str, Any]:
        record: dict[str, Any] = {API.staff_id: self.uid("staff", s.mis_id)}
        record.update(self.values(s, dict(API.staff_fields)))
        return record

    def contact(self, c: ExportPerson) -> dict[str, Any]:
        record: dict[str, Any] = {API.contact_id: self.uid("contact", c.mis_id)}
        record.update(self.values(c, dict(API.contact_fields)))
        record[API.contact_students] = [
            {
                API.student_id: self.uid("student", link.pupil_mis_id),
                API.relationship: link.relationship,
                API.priority: link.priority,
                API.parental_responsibility: link.parental_responsibility,
            }
            for link in self.snap.links
            if link.contact_mis_id == c.mis_id and link.pupil_mis_id in self.on_roll
        ]
        return record
