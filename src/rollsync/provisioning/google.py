"""Google Workspace: the Directory API client (users, groups, members) that reads a tenant
back and applies a provisioning plan. Shapes: `vendors.GOOGLE`.

Auth: the service account's key (its JSON, as Google hands it out) signs a JWT (PyJWT,
RS256) for an admin of the domain (domain-wide delegation), exchanged for an access token.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import jwt
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from rollsync.connectors.errors import UnsafeUrl
from rollsync.connectors.http import check_base_url

from .apply import done, json_object, oauth_error, ordered, tenant_ids
from .desired import GROUP_PREFIX
from .errors import BadTenantSettings, TenantBadResponse, TenantRefused, TenantUnavailable
from .http import Pace, TenantHttp
from .model import (
    Action,
    ActionKind,
    Directory,
    Outcome,
    ProvisionPlan,
    TenantGroup,
    TenantState,
    TenantUser,
)
from .vendors import GOOGLE

VENDOR = "Google Workspace"


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    client_email: str
    private_key_id: str
    private_key: str  # PEM
    token_uri: str

    @classmethod
    def parse(cls, text: str) -> ServiceAccount:
        """The key file's JSON, checked; `BadTenantSettings` says what is wrong (never
        quoting the key)."""
        try:
            data = json.loads(text)
        except (ValueError, TypeError):
            raise BadTenantSettings(
                "the service account key is not JSON (give the key file Google made)",
                field="service_account",
            ) from None
        if not isinstance(data, dict) or data.get("type") != "service_account":
            raise BadTenantSettings(
                'the service account key must be a JSON object with "type": "service_account"',
                field="service_account",
            )
        for name in ("client_email", "private_key_id", "private_key", "token_uri"):
            if not isinstance(data.get(name), str) or not data[name].strip():
                raise BadTenantSettings(
                    f"the service account key has no {name}", field="service_account"
                )
        try:
            load_pem_private_key(data["private_key"].encode("utf-8"), password=None)
        except (ValueError, TypeError):
            raise BadTenantSettings(
                "the service account key's private_key is not a readable PEM key",
                field="service_account",
            ) from None
        try:
            token_uri = check_base_url(data["token_uri"], field="service_account")
        except UnsafeUrl as exc:
            raise BadTenantSettings(
                f"the service account key's token_uri is refused: {exc}", field="service_account"
            ) from None
        return cls(data["client_email"], data["private_key_id"], data["private_key"], token_uri)


@dataclass(frozen=True, slots=True)
class GoogleSettings:
    domain: str
    admin_email: str  # the admin the service account acts for
    api_url: str = GOOGLE.api_url
    token_url: str = ""  # default: the key's token_uri
    org_unit: str = "/"
    queries_per_minute: int = GOOGLE.queries_per_minute

    def checked(self) -> GoogleSettings:
        domain = self.domain.strip().lower()
        if not domain or "." not in domain or "@" in domain or "/" in domain:
            raise BadTenantSettings(f"{self.domain!r} is not a domain", field="domain")
        admin = self.admin_email.strip().lower()
        if "@" not in admin:
            raise BadTenantSettings(
                f"{self.admin_email!r} is not an admin's email address", field="admin_email"
            )
        if not self.org_unit.startswith("/"):
            raise BadTenantSettings("an org unit path starts with /", field="org_unit")
        if self.queries_per_minute < 1:
            raise BadTenantSettings(
                "queries a minute must be 1 or more", field="queries_per_minute"
            )
        try:
            api = check_base_url(self.api_url, field="api_url")
            token = check_base_url(self.token_url, field="token_url") if self.token_url else ""
        except UnsafeUrl as exc:
            raise BadTenantSettings(str(exc), field=exc.field or "api_url") from None
        return GoogleSettings(domain, admin, api, token, self.org_unit, self.queries_per_minute)


def _reason(response: httpx.Response) -> str:
    try:
        body = response.json()
        errors = body["error"].get("errors") or [{}]
        return str(errors[0].get("reason", ""))
    except (ValueError, KeyError, AttributeError, TypeError, IndexError):
        return ""


def error_text(response: httpx.Response) -> str:
    try:
        message = response.json()["error"]["message"]
        return f"{response.status_code} {str(message)[:200]}"
    except (ValueError, KeyError, TypeError):
        return f"{response.status_code}"


def is_throttled(response: httpx.Response) -> bool:
    return response.status_code in (403, 429) and _reason(response) in GOOGLE.rate_limit_reasons


class GoogleTenant:
    """One tenant for one run. `read()` then `apply(plan, directory)`."""

    vendor = VENDOR

    def __init__(
        self, settings: GoogleSettings, account: ServiceAccount, *, http: TenantHttp | None = None
    ) -> None:
        self.settings = settings.checked()
        self.account = account
        self.http = http or TenantHttp(
            vendor=VENDOR,
            pace=Pace(self.settings.queries_per_minute, 60.0),
            throttled=is_throttled,
        )
        self._token: str | None = None
        self._base = self.settings.api_url

    def close(self) -> None:
        self.http.close()

    # -- auth --------------------------------------------------------------------------

    def token(self) -> str:
        if self._token is None:
            token_url = self.settings.token_url or self.account.token_uri
            now = int(time.time())
            assertion = jwt.encode(
                {
                    "iss": self.account.client_email,
                    "sub": self.settings.admin_email,
                    "scope": " ".join(GOOGLE.scopes),
                    "aud": token_url,
                    "iat": now,
                    "exp": now + GOOGLE.token_seconds,
                },
                self.account.private_key,
                algorithm="RS256",
                headers={"kid": self.account.private_key_id},
            )
            response = self.http.request(
                "POST",
                token_url,
                data={"grant_type": GOOGLE.jwt_grant_type, "assertion": assertion},
            )
            if response.status_code != 200:
                raise TenantRefused(
                    f"{VENDOR} refused the service account ({response.status_code}"
                    f"{': ' + oauth_error(response) if oauth_error(response) else ''}): "
                    "check the key, its domain-wide delegation and the admin's address",
                    field="service_account",
                )
            token = json_object(response, "the token").get("access_token")
            if not isinstance(token, str) or not token:
                raise TenantBadResponse(f"{VENDOR}'s token answer holds no access_token")
            self._token = token
        return self._token

    def _call(
        self, method: str, path: str, *, params: dict[str, str] | None = None, body: Any = None
    ) -> httpx.Response:
        for _ in range(2):
            response = self.http.request(
                method,
                self._base + path,
                params=params,
                json=body,
                headers={"Authorization": f"Bearer {self.token()}"},
            )
            if response.status_code != 401:
                return response
            self._token = None  # expired: one fresh token, then give up
        raise TenantRefused(f"{VENDOR} answered 401 to {method} {path} with a fresh token")

    def _pages(self, path: str, items: str, params: dict[str, str]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        token = ""
        for _ in range(100_000):
            response = self._call(
                "GET", path, params={**params, **({"pageToken": token} if token else {})}
            )
            if response.status_code != 200:
                raise TenantBadResponse(f"{VENDOR} answered {error_text(response)} to GET {path}")
            page = json_object(response, path)
            if not str(page.get("kind", "")).startswith("admin#directory#"):
                # An empty list may leave out its items, never its kind: without it,
                # this is not the Directory API answering (a tenant is never taken as empty).
                raise TenantBadResponse(
                    f"{VENDOR}'s answer to GET {path} is not a Directory API list"
                )
            found = page.get(items, [])
            if not isinstance(found, list):
                raise TenantBadResponse(f"{VENDOR}'s {items} page is not a list")
            out.extend(x for x in found if isinstance(x, dict))
            token = page.get("nextPageToken") or ""
            if not token:
                return out
        raise TenantBadResponse(f"{VENDOR} kept paging {path}")

    # -- reading the tenant back --------------------------------------------------------

    def read(self) -> TenantState:
        users = []
        for u in self._pages(
            GOOGLE.users_path,
            "users",
            {"domain": self.settings.domain, "maxResults": str(GOOGLE.users_page_max)},
        ):
            key = None
            for ext in u.get("externalIds") or []:
                if (
                    isinstance(ext, dict)
                    and ext.get("type") == GOOGLE.external_id_type
                    and ext.get("customType") == GOOGLE.external_id_custom_type
                ):
                    key = str(ext.get("value") or "") or None
            name = u.get("name") or {}
            users.append(
                TenantUser(
                    id=str(u.get("id", "")),
                    email=str(u.get("primaryEmail", "")).lower(),
                    given_name=str(name.get("givenName", "")),
                    family_name=str(name.get("familyName", "")),
                    suspended=bool(u.get("suspended", False)),
                    key=key,
                )
            )
        groups = []
        for g in self._pages(
            GOOGLE.groups_path,
            "groups",
            {"domain": self.settings.domain, "maxResults": str(GOOGLE.groups_page_max)},
        ):
            email = str(g.get("email", "")).lower()
            if not email.startswith(GROUP_PREFIX):
                continue
            gid = str(g.get("id", ""))
            members = self._pages(
                f"{GOOGLE.groups_path}/{quote(gid)}/members",
                "members",
                {"maxResults": str(GOOGLE.groups_page_max)},
            )
            groups.append(
                TenantGroup(
                    id=gid,
                    key=email.split("@")[0],
                    name=str(g.get("name", "")),
                    owners=frozenset(
                        str(m.get("id")) for m in members if m.get("role") == GOOGLE.owner_role
                    ),
                    members=frozenset(
                        str(m.get("id")) for m in members if m.get("role") == GOOGLE.member_role
                    ),
                )
            )
        return TenantState(tuple(users), tuple(groups))

    # -- applying a plan ---------------------------------------------------------------

    def apply(
        self, plan: ProvisionPlan, directory: Directory, tenant: TenantState
    ) -> tuple[list[Outcome], str]:
        """Each action in turn; a refused one is an outcome and the rest go on. Returns
        the outcomes and, when the tenant stopped answering, why the rest was left."""
        users = {u.key: u for u in directory.users}
        groups = {g.key: g for g in directory.groups}
        user_ids = tenant_ids(tenant)
        group_ids: dict[str, str] = {}
        outcomes: list[Outcome] = []
        for action in ordered(plan):
            try:
                outcomes.append(self._apply_one(action, users, groups, user_ids, group_ids))
            except (TenantUnavailable, TenantRefused) as stopped:
                return outcomes, stopped.message
        return outcomes, ""

    def _apply_one(
        self,
        action: Action,
        users: dict[str, Any],
        groups: dict[str, Any],
        user_ids: dict[str, str | None],
        group_ids: dict[str, str],
    ) -> Outcome:
        k = action.kind
        if k is ActionKind.CONFLICT:
            return Outcome(action, False, action.reason)
        if k is ActionKind.CREATE_USER:
            want = users[action.key]
            response = self._call(
                "POST",
                GOOGLE.users_path,
                body={
                    "primaryEmail": want.email,
                    "name": {"givenName": want.given_name, "familyName": want.family_name},
                    # Sign-in is through the region's directory; nobody learns this one.
                    "password": secrets.token_urlsafe(24),
                    "externalIds": [
                        {
                            "type": GOOGLE.external_id_type,
                            "customType": GOOGLE.external_id_custom_type,
                            "value": want.key,
                        }
                    ],
                    "orgUnitPath": self.settings.org_unit,
                },
            )
            if response.status_code == 409:
                # Made by an earlier try whose answer was lost: take it if it is ours.
                found = self._call("GET", f"{GOOGLE.users_path}/{quote(want.email)}")
                if found.status_code == 200 and _has_key(json_object(found, "a user"), want.key):
                    user_ids[want.key] = str(json_object(found, "a user").get("id"))
                    return Outcome(action, True)
                return Outcome(action, False, error_text(response))
            if response.status_code not in (200, 201):
                return Outcome(action, False, error_text(response))
            user_ids[want.key] = str(json_object(response, "a new user").get("id"))
            return Outcome(action, True)
        if k in (ActionKind.UPDATE_USER, ActionKind.RESTORE_USER, ActionKind.SUSPEND_USER):
            body: dict[str, Any] = {"suspended": k is ActionKind.SUSPEND_USER}
            if k is not ActionKind.SUSPEND_USER:
                want = users[action.key]
                body["primaryEmail"] = want.email
                body["name"] = {"givenName": want.given_name, "familyName": want.family_name}
            response = self._call(
                "PATCH", f"{GOOGLE.users_path}/{quote(str(action.tenant_id))}", body=body
            )
            return done(action, response, (200,), error_text)
        if k in (ActionKind.CREATE_GROUP, ActionKind.UPDATE_GROUP):
            want_group = groups[action.key]
            body = {
                "email": want_group.email,
                "name": want_group.name,
                "description": "A class from Groups & Classes, kept by rollsync",
            }
            if k is ActionKind.UPDATE_GROUP:
                response = self._call(
                    "PATCH",
                    f"{GOOGLE.groups_path}/{quote(str(action.tenant_id))}",
                    body={"name": want_group.name},
                )
                return done(action, response, (200,), error_text)
            response = self._call("POST", GOOGLE.groups_path, body=body)
            if response.status_code == 409:
                response = self._call("GET", f"{GOOGLE.groups_path}/{quote(want_group.email)}")
            if response.status_code not in (200, 201):
                return Outcome(action, False, error_text(response))
            group_ids[action.key] = str(json_object(response, "a group").get("id"))
            return Outcome(action, True)
        gid = action.tenant_id or group_ids.get(action.key)
        if gid is None:
            return Outcome(action, False, "the group is not in the tenant (its creation failed)")
        user_key = str(action.user)
        if k in (ActionKind.REMOVE_OWNER, ActionKind.REMOVE_MEMBER):
            uid = user_ids.get(user_key)
            if uid is None:
                return Outcome(action, False, "the account is not in the tenant")
            response = self._call(
                "DELETE", f"{GOOGLE.groups_path}/{quote(gid)}/members/{quote(uid)}"
            )
            return done(action, response, (200, 204, 404), error_text)
        if user_key not in users or user_ids.get(user_key) is None:
            return Outcome(action, False, "the account is not in the tenant (its creation failed)")
        role = GOOGLE.owner_role if k is ActionKind.ADD_OWNER else GOOGLE.member_role
        response = self._call(
            "POST",
            f"{GOOGLE.groups_path}/{quote(gid)}/members",
            body={"email": users[user_key].email, "role": role},
        )
        return done(action, response, (200, 201, 409), error_text)


def _has_key(user: dict[str, Any], key: str) -> bool:
    return any(
        isinstance(e, dict)
        and e.get("customType") == GOOGLE.external_id_custom_type
        and e.get("value") == key
        for e in user.get("externalIds") or []
    )
