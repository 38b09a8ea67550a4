"""A Google Workspace Directory API simulator (loopback HTTP, `SimServer`): users
(insert, get, patch/update, list with paging), groups (insert, get, patch, list),
members (insert, list, delete), the OAuth token endpoint for a service account's JWT
grant (the JWT's RS256 signature checked with PyJWT against the configured key), the
API's error bodies, and its quota: past `quota` queries in `window` seconds, 403
userRateLimitExceeded. Paths and names: `provisioning.vendors.GOOGLE`.

Assumed where the reference is silent: page tokens are offsets; users are listed in
email order; insert answers 200 with the resource; no Retry-After on a quota answer.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from typing import Any
from urllib.parse import unquote

import jwt

from rollsync.missim.data import SimData
from rollsync.missim.faults import FaultPlan
from rollsync.missim.server import SimRequest, SimResponse, SimServer
from rollsync.provisioning.vendors import GOOGLE

from .common import Ids, Quota, allow_patch, as_dict, page
from .keys import SimServiceAccount

_EMAIL = re.compile(r"^[a-z0-9._'+-]+@[a-z0-9.-]+\.[a-z]{2,}$")


def google_error(status: int, reason: str, message: str) -> SimResponse:
    return SimResponse.json(
        {
            "error": {
                "code": status,
                "message": message,
                "errors": [{"message": message, "domain": "global", "reason": reason}],
            }
        },
        status,
    )


class GoogleDirectorySimulator(SimServer):
    vendor = "google"

    def __init__(
        self,
        account: SimServiceAccount,
        *,
        domain: str = "school.example",
        quota: int | None = GOOGLE.queries_per_minute,
        window: float = 60.0,
        page_size: int | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: FaultPlan | str | None = None,
    ) -> None:
        super().__init__(SimData(), host=host, port=port, faults=faults)
        allow_patch(self)
        self.account = account
        self.domain = domain
        self.quota = Quota(quota, window)
        self.page_size = page_size
        self.refuse: set[str] = set()  # emails whose insert/patch is refused (400 invalid)
        self.users: dict[str, dict[str, Any]] = {}
        self.groups: dict[str, dict[str, Any]] = {}
        self.members: dict[str, dict[str, str]] = {}  # group id -> user id -> role
        self._tokens: set[str] = set()
        self._ids = Ids()
        self._state = threading.Lock()

    @property
    def token_url(self) -> str:
        return self.url + "/token"

    # -- for tests and the command -------------------------------------------------------

    def add_user(self, email: str, given: str, family: str, **extra: Any) -> dict[str, Any]:
        """A user made by hand in the tenant (no rollsync key unless given)."""
        with self._state:
            return self._insert_user(
                {"primaryEmail": email, "name": {"givenName": given, "familyName": family}, **extra}
            )

    def user_by_key(self, key: str) -> list[dict[str, Any]]:
        return [
            u
            for u in self.users.values()
            if any(e.get("value") == key for e in u.get("externalIds", []))
        ]

    def api_requests(self) -> list[SimRequest]:
        return [r for r in self.requests if r.path != "/token"]

    def writes(self) -> list[SimRequest]:
        return [r for r in self.api_requests() if r.method != "GET"]

    # -- the API -------------------------------------------------------------------------

    def handle(self, request: SimRequest) -> SimResponse:
        if request.path == "/token" and request.method == "POST":
            return self._token(request)
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self._tokens:
            return google_error(401, "authError", "Request had invalid authentication credentials.")
        if not self.quota.allow():
            return google_error(
                403,
                "userRateLimitExceeded",
                "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute per user'",
            )
        try:
            body = json.loads(request.body) if request.body else {}
        except ValueError:
            return google_error(400, "parseError", "Parse Error")
        if not isinstance(body, dict):
            return google_error(400, "invalid", "Invalid JSON payload received.")
        with self._state:
            return self._route(request, body)

    def _token(self, request: SimRequest) -> SimResponse:
        form = request.form()
        if form.get("grant_type") != GOOGLE.jwt_grant_type:
            return SimResponse.json(
                {"error": "unsupported_grant_type", "error_description": "Invalid grant_type"}, 400
            )
        try:
            header = jwt.get_unverified_header(form.get("assertion", ""))
            claims = jwt.decode(
                form.get("assertion", ""),
                self.account.public_pem,
                algorithms=["RS256"],
                audience=self.token_url,
                issuer=self.account.client_email,
                options={"require": ["exp", "iat", "iss", "aud", "sub", "scope"]},
            )
        except jwt.PyJWTError:
            return SimResponse.json(
                {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}, 400
            )
        if header.get("kid") != self.account.private_key_id:
            return SimResponse.json(
                {"error": "invalid_grant", "error_description": "Invalid JWT: unknown key id"}, 400
            )
        if int(claims["exp"]) - int(claims["iat"]) > GOOGLE.token_seconds:
            return SimResponse.json(
                {
                    "error": "invalid_grant",
                    "error_description": "Invalid JWT: Token must be a short-lived token (60 minutes)",
                },
                400,
            )
        if not set(GOOGLE.scopes) <= set(str(claims["scope"]).split()):
            return SimResponse.json(
                {
                    "error": "unauthorized_client",
                    "error_description": "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.",
                },
                401,
            )
        token = "ya29.sim-" + secrets.token_urlsafe(24)
        self._tokens.add(token)
        return SimResponse.json(
            {"access_token": token, "expires_in": GOOGLE.token_seconds - 1, "token_type": "Bearer"}
        )

    def _route(self, request: SimRequest, body: dict[str, Any]) -> SimResponse:
        users, groups = GOOGLE.users_path, GOOGLE.groups_path
        path, method = unquote(request.path), request.method
        if path == users:
            if method == "GET":
                return self._list_users(request)
            if method == "POST":
                return self._insert(body)
        if path.startswith(users + "/"):
            key = path[len(users) + 1 :]
            user = self._find_user(key)
            if user is None:
                return google_error(404, "notFound", "Resource Not Found: userKey")
            if method == "GET":
                return SimResponse.json(user)
            if method in ("PATCH", "PUT"):
                return self._patch_user(user, body)
        if path == groups:
            if method == "GET":
                return self._list(
                    request,
                    "groups",
                    sorted(self.groups.values(), key=lambda g: g["email"]),
                    GOOGLE.groups_page_max,
                    "admin#directory#groups",
                )
            if method == "POST":
                return self._insert_group(body)
        if path.startswith(groups + "/"):
            rest = path[len(groups) + 1 :].split("/")
            group = self._find_group(rest[0])
            if group is None:
                return google_error(404, "notFound", "Resource Not Found: groupKey")
            if len(rest) == 1:
                if method == "GET":
                    return SimResponse.json(group)
                if method in ("PATCH", "PUT"):
                    if "name" in body:
                        group["name"] = str(body["name"])
                    return SimResponse.json(group)
            if len(rest) >= 2 and rest[1] == "members":
                return self._members(request, group, body, rest[2] if len(rest) > 2 else None)
        return google_error(404, "notFound", f"No such method: {method} {path}")

    def _list(
        self, request: SimRequest, name: str, items: list[dict[str, Any]], most: int, kind: str
    ) -> SimResponse:
        try:
            size = min(int(request.arg("maxResults") or most), most)
        except ValueError:
            return google_error(400, "invalid", "Invalid value for maxResults")
        size = min(size, self.page_size or size)
        try:
            chunk, token = page(items, request.arg("pageToken"), size)
        except ValueError:
            return google_error(400, "invalid", "Invalid page token")
        out: dict[str, Any] = {"kind": kind, name: chunk, "etag": '"sim"'}
        if token:
            out["nextPageToken"] = token
        return SimResponse.json(out)

    def _list_users(self, request: SimRequest) -> SimResponse:
        if not (request.arg("domain") or request.arg("customer")):
            return google_error(400, "badRequest", "Bad Request")
        domain = request.arg("domain")
        items = sorted(
            (
                u
                for u in self.users.values()
                if not domain or u["primaryEmail"].endswith("@" + domain)
            ),
            key=lambda u: u["primaryEmail"],
        )
        return self._list(request, "users", items, GOOGLE.users_page_max, "admin#directory#users")

    def _find_user(self, key: str) -> dict[str, Any] | None:
        key = key.lower()
        return self.users.get(key) or next(
            (u for u in self.users.values() if u["primaryEmail"] == key), None
        )

    def _find_group(self, key: str) -> dict[str, Any] | None:
        key = key.lower()
        return self.groups.get(key) or next(
            (g for g in self.groups.values() if g["email"] == key), None
        )

    def _check_user(self, user: dict[str, Any]) -> SimResponse | None:
        email = str(user.get("primaryEmail", "")).lower()
        if not _EMAIL.match(email) or not email.endswith("@" + self.domain):
            return google_error(400, "invalid", "Invalid Input: primary_user_email")
        if email in self.refuse:
            return google_error(400, "invalid", "Invalid Input: refused by the simulator")
        name = as_dict(user.get("name"))
        for part in ("givenName", "familyName"):
            value = name.get(part)
            if not isinstance(value, str) or not value.strip() or len(value) > 60:
                return google_error(400, "invalid", f"Invalid Given/Family Name: {part}")
        return None

    def _insert(self, body: dict[str, Any]) -> SimResponse:
        if not isinstance(body.get("password"), str) or len(body["password"]) < 8:
            return google_error(400, "invalid", "Invalid Password")
        refused = self._check_user(body)
        if refused:
            return refused
        if self._find_user(str(body["primaryEmail"])) is not None:
            return google_error(409, "duplicate", "Entity already exists.")
        return SimResponse.json(self._insert_user(body))

    def _insert_user(self, body: dict[str, Any]) -> dict[str, Any]:
        uid = self._ids.new()
        name = {**as_dict(body.get("name"))}
        name["fullName"] = f"{name.get('givenName', '')} {name.get('familyName', '')}"
        user: dict[str, Any] = {
            "kind": "admin#directory#user",
            "id": uid,
            "primaryEmail": str(body["primaryEmail"]).lower(),
            "name": name,
            "suspended": bool(body.get("suspended", False)),
            "orgUnitPath": str(body.get("orgUnitPath") or "/"),
            "externalIds": [e for e in body.get("externalIds") or [] if isinstance(e, dict)],
        }
        self.users[uid] = user
        return user

    def _patch_user(self, user: dict[str, Any], body: dict[str, Any]) -> SimResponse:
        merged = {
            **user,
            **{
                k: v
                for k, v in body.items()
                if k in ("primaryEmail", "name", "suspended", "externalIds", "orgUnitPath")
            },
        }
        if "name" in body:
            merged["name"] = {**user["name"], **as_dict(body["name"])}
        refused = self._check_user(merged)
        if refused:
            return refused
        other = self._find_user(str(merged["primaryEmail"]))
        if other is not None and other["id"] != user["id"]:
            return google_error(409, "duplicate", "Entity already exists.")
        merged["primaryEmail"] = str(merged["primaryEmail"]).lower()
        merged["suspended"] = bool(merged.get("suspended"))
        user.update(merged)
        return SimResponse.json(user)

    def _insert_group(self, body: dict[str, Any]) -> SimResponse:
        email = str(body.get("email", "")).lower()
        if not _EMAIL.match(email) or not email.endswith("@" + self.domain):
            return google_error(400, "invalid", "Invalid Input: email")
        if self._find_group(email) is not None:
            return google_error(409, "duplicate", "Entity already exists.")
        gid = self._ids.new("0")
        group = {
            "kind": "admin#directory#group",
            "id": gid,
            "email": email,
            "name": str(body.get("name") or email),
            "description": str(body.get("description") or ""),
        }
        self.groups[gid] = group
        self.members[gid] = {}
        return SimResponse.json(group)

    def _members(
        self, request: SimRequest, group: dict[str, Any], body: dict[str, Any], member: str | None
    ) -> SimResponse:
        held = self.members[group["id"]]
        if member is None and request.method == "GET":
            items = [
                {
                    "kind": "admin#directory#member",
                    "id": uid,
                    "email": self.users[uid]["primaryEmail"],
                    "role": role,
                    "type": "USER",
                    "status": "ACTIVE",
                }
                for uid, role in sorted(held.items())
            ]
            return self._list(
                request, "members", items, GOOGLE.groups_page_max, "admin#directory#members"
            )
        if member is None and request.method == "POST":
            user = self._find_user(str(body.get("email") or body.get("id") or ""))
            if user is None:
                return google_error(404, "notFound", "Resource Not Found: memberKey")
            role = str(body.get("role") or "MEMBER")
            if role not in ("OWNER", "MANAGER", "MEMBER"):
                return google_error(400, "invalid", "Invalid Input: role")
            if user["id"] in held:
                return google_error(409, "duplicate", "Member already exists.")
            held[user["id"]] = role
            return SimResponse.json(
                {
                    "kind": "admin#directory#member",
                    "id": user["id"],
                    "email": user["primaryEmail"],
                    "role": role,
                    "type": "USER",
                }
            )
        if member is not None and request.method == "DELETE":
            user = self._find_user(member)
            if user is None or user["id"] not in held:
                return google_error(404, "notFound", "Resource Not Found: memberKey")
            del held[user["id"]]
            return SimResponse(204, b"", {})
        return google_error(404, "notFound", "No such method")

    def error_response(self, request: SimRequest, status: int) -> SimResponse:
        reasons = {429: "rateLimitExceeded", 403: "userRateLimitExceeded", 401: "authError"}
        return google_error(status, reasons.get(status, "backendError"), f"simulated {status}")
