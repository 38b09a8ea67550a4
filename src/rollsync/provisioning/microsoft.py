"""Microsoft 365: accounts through Entra API-driven inbound provisioning (a SCIM
BulkRequest of at most 50 records to the provisioning job's `bulkUpload`, answered 202;
each record's result read from the provisioning logs) and class groups through Graph
(teachers as owners and members, pupils as members). Shapes: `vendors.MICROSOFT`.

Auth: the app's client credentials (client ID and secret) for a Graph token.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from rollsync.connectors.errors import UnsafeUrl
from rollsync.connectors.http import check_base_url

from .apply import done, json_object, oauth_error, ordered, tenant_ids
from .desired import GROUP_PREFIX
from .errors import BadTenantSettings, TenantBadResponse, TenantRefused, TenantUnavailable
from .http import TenantHttp
from .model import (
    USER_KINDS,
    Action,
    ActionKind,
    Directory,
    Outcome,
    ProvisionPlan,
    TenantGroup,
    TenantState,
    TenantUser,
)
from .vendors import MICROSOFT

VENDOR = "Microsoft 365"


@dataclass(frozen=True, slots=True)
class MicrosoftSettings:
    tenant_id: str  # the Entra directory (tenant) id
    client_id: str  # the app registration's client id
    domain: str
    service_principal_id: str  # the inbound provisioning app
    job_id: str  # its provisioning job
    graph_url: str = MICROSOFT.graph_url
    login_url: str = MICROSOFT.login_url

    def checked(self) -> MicrosoftSettings:
        domain = self.domain.strip().lower()
        if not domain or "." not in domain or "@" in domain or "/" in domain:
            raise BadTenantSettings(f"{self.domain!r} is not a domain", field="domain")
        for name in ("tenant_id", "client_id", "service_principal_id", "job_id"):
            value = getattr(self, name).strip()
            if not value or any(c in value for c in "/?#%' \"\\") or len(value) > 200:
                raise BadTenantSettings(f"{name} {value!r} is not an id", field=name)
        try:
            graph = check_base_url(self.graph_url, field="graph_url")
            login = check_base_url(self.login_url, field="login_url")
        except UnsafeUrl as exc:
            raise BadTenantSettings(str(exc), field=exc.field or "graph_url") from None
        return MicrosoftSettings(
            self.tenant_id.strip(),
            self.client_id.strip(),
            domain,
            self.service_principal_id.strip(),
            self.job_id.strip(),
            graph,
            login,
        )


def error_text(response: httpx.Response) -> str:
    try:
        error = response.json()["error"]
        return (
            f"{response.status_code} {error.get('code', '')}: {str(error.get('message', ''))[:200]}"
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return f"{response.status_code}"


class MicrosoftTenant:
    vendor = VENDOR

    def __init__(
        self,
        settings: MicrosoftSettings,
        client_secret: str,
        *,
        http: TenantHttp | None = None,
        poll_wait: float = 2.0,
    ) -> None:
        self.settings = settings.checked()
        if not client_secret.strip():
            raise BadTenantSettings("the client secret is empty", field="client_secret")
        self._secret = client_secret
        self.http = http or TenantHttp(vendor=VENDOR)
        self.poll_wait = poll_wait
        self._token: str | None = None

    def close(self) -> None:
        self.http.close()

    def token(self) -> str:
        if self._token is None:
            url = self.settings.login_url + MICROSOFT.token_path.format(
                tenant=quote(self.settings.tenant_id)
            )
            response = self.http.request(
                "POST",
                url,
                data={
                    "grant_type": "client_credentials",
                    "client_id": self.settings.client_id,
                    "client_secret": self._secret,
                    "scope": MICROSOFT.scope,
                },
            )
            if response.status_code != 200:
                why = oauth_error(response)
                raise TenantRefused(
                    f"{VENDOR} refused the app's credentials ({response.status_code}"
                    f"{': ' + why if why else ''}): check the client ID and secret",
                    field="client_secret",
                )
            token = json_object(response, "the token").get("access_token")
            if not isinstance(token, str) or not token:
                raise TenantBadResponse(f"{VENDOR}'s token answer holds no access_token")
            self._token = token
        return self._token

    def _call(
        self,
        method: str,
        path_or_url: str,
        *,
        params: dict[str, str] | None = None,
        body: Any = None,
        content: bytes | None = None,
        content_type: str | None = None,
    ) -> httpx.Response:
        url = path_or_url if "://" in path_or_url else self.settings.graph_url + path_or_url
        if not url.startswith(self.settings.graph_url + "/"):
            raise TenantBadResponse(f"{VENDOR} pointed rollsync at {url}, not followed")
        for _ in range(2):
            headers = {"Authorization": f"Bearer {self.token()}"}
            if content_type:
                headers["Content-Type"] = content_type
            response = self.http.request(
                method, url, params=params, json=body, content=content, headers=headers
            )
            if response.status_code != 401:
                return response
            self._token = None
        raise TenantRefused(f"{VENDOR} answered 401 to {method} with a fresh token")

    def _pages(self, path: str, params: dict[str, str]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        url: str | None = path
        first = True
        for _ in range(100_000):
            if url is None:
                return out
            response = self._call("GET", url, params=params if first else None)
            first = False
            if response.status_code != 200:
                raise TenantBadResponse(f"{VENDOR} answered {error_text(response)} to GET {path}")
            page = json_object(response, path)
            values = page.get("value")
            if not isinstance(values, list):
                raise TenantBadResponse(f"{VENDOR}'s page of {path} holds no value list")
            out.extend(v for v in values if isinstance(v, dict))
            link = page.get("@odata.nextLink")
            url = str(link) if link else None
        raise TenantBadResponse(f"{VENDOR} kept paging {path}")

    # -- reading the tenant back --------------------------------------------------------

    def read_users(self) -> tuple[TenantUser, ...]:
        found = self._pages(
            MICROSOFT.users_path,
            {
                "$select": f"id,userPrincipalName,givenName,surname,accountEnabled,{MICROSOFT.key_attribute}",
                "$top": str(MICROSOFT.page_size),
            },
        )
        return tuple(
            TenantUser(
                id=str(u.get("id", "")),
                email=str(u.get("userPrincipalName") or "").lower(),
                given_name=str(u.get("givenName") or ""),
                family_name=str(u.get("surname") or ""),
                suspended=u.get("accountEnabled") is False,
                key=str(u.get(MICROSOFT.key_attribute) or "") or None,
            )
            for u in found
        )

    def read(self) -> TenantState:
        groups = []
        for g in self._pages(
            MICROSOFT.groups_path,
            {
                "$filter": f"startswith(mailNickname,'{GROUP_PREFIX}')",
                "$select": "id,displayName,mailNickname",
                "$top": str(MICROSOFT.page_size),
            },
        ):
            gid = str(g.get("id", ""))
            ids = {}
            for rel in ("owners", "members"):
                ids[rel] = frozenset(
                    str(x.get("id"))
                    for x in self._pages(
                        f"{MICROSOFT.groups_path}/{quote(gid)}/{rel}", {"$select": "id"}
                    )
                )
            groups.append(
                TenantGroup(
                    id=gid,
                    key=str(g.get("mailNickname", "")).lower(),
                    name=str(g.get("displayName", "")),
                    owners=ids["owners"],
                    members=ids["members"],
                )
            )
        return TenantState(self.read_users(), tuple(groups))

    # -- applying a plan ---------------------------------------------------------------

    def apply(
        self, plan: ProvisionPlan, directory: Directory, tenant: TenantState
    ) -> tuple[list[Outcome], str]:
        outcomes: list[Outcome] = []
        try:
            user_actions = [a for a in plan.actions if a.kind in USER_KINDS]
            outcomes += self._upload_users(user_actions, directory, tenant)
            user_ids = tenant_ids(TenantState(self.read_users()) if user_actions else tenant)
            group_ids: dict[str, str] = {}
            users = {u.key: u for u in directory.users}
            groups = {g.key: g for g in directory.groups}
            for action in ordered(plan):
                if action.kind in USER_KINDS:
                    continue
                outcomes.append(self._apply_group(action, users, groups, user_ids, group_ids))
        except (TenantUnavailable, TenantRefused) as stopped:
            return outcomes, stopped.message
        return outcomes, ""

    def _record(self, action: Action, directory: Directory, tenant: TenantState) -> dict[str, Any]:
        data: dict[str, Any] = {
            "schemas": [MICROSOFT.user_schema, MICROSOFT.enterprise_schema],
            "externalId": action.key,
            "active": action.kind is not ActionKind.SUSPEND_USER,
        }
        want = next((u for u in directory.users if u.key == action.key), None)
        if want is not None:
            data["userName"] = want.email
            data["displayName"] = f"{want.given_name} {want.family_name}"
            data["name"] = {"givenName": want.given_name, "familyName": want.family_name}
        return {"method": "POST", "bulkId": action.key, "path": "/Users", "data": data}

    def _upload_users(
        self, actions: list[Action], directory: Directory, tenant: TenantState
    ) -> list[Outcome]:
        if not actions:
            return []
        started = datetime.now(UTC).replace(microsecond=0)
        path = MICROSOFT.bulk_path.format(
            sp=quote(self.settings.service_principal_id), job=quote(self.settings.job_id)
        )
        refused: dict[str, str] = {}
        sent: list[Action] = []
        for at in range(0, len(actions), MICROSOFT.bulk_max):
            batch = actions[at : at + MICROSOFT.bulk_max]
            body = {
                "schemas": [MICROSOFT.bulk_schema],
                "Operations": [self._record(a, directory, tenant) for a in batch],
                "failOnErrors": None,
            }
            response = self._call(
                "POST",
                path,
                content=json.dumps(body).encode("utf-8"),
                content_type=MICROSOFT.bulk_content_type,
            )
            if response.status_code != 202:
                for a in batch:
                    refused[a.key] = error_text(response)
            else:
                sent.extend(batch)
        results = self._logs(started, {a.key for a in sent})
        out = []
        for a in actions:
            if a.key in refused:
                out.append(Outcome(a, False, refused[a.key]))
            elif a.key not in results:
                out.append(
                    Outcome(
                        a,
                        False,
                        "uploaded, but Entra has not yet logged the result (it applies "
                        "uploads in its own time): the next run reads the tenant back",
                    )
                )
            else:
                out.append(Outcome(a, results[a.key] == "", results[a.key]))
        return out

    def _logs(self, since: datetime, keys: set[str]) -> dict[str, str]:
        """Each uploaded record's latest result: "" for success (or skipped: nothing to
        change), else Entra's error."""
        results: dict[str, tuple[str, str]] = {}
        for poll in range(MICROSOFT.log_polls):
            if poll:
                time.sleep(self.poll_wait * 2 ** (poll - 1))
            stamp = since.strftime("%Y-%m-%dT%H:%M:%SZ")
            for log in self._pages(
                MICROSOFT.logs_path,
                {"$filter": f"jobId eq '{self.settings.job_id}' and activityDateTime ge {stamp}"},
            ):
                key = str((log.get("sourceIdentity") or {}).get("id") or "")
                when = str(log.get("activityDateTime") or "")
                if key not in keys or (key in results and results[key][0] > when):
                    continue
                info = log.get("provisioningStatusInfo") or {}
                status = str(info.get("status") or "")
                error = ""
                if status not in ("success", "skipped"):
                    detail = info.get("errorInformation") or {}
                    error = (
                        f"{detail.get('errorCode') or status}: {detail.get('reason') or ''}"
                    ).strip(": ")
                results[key] = (when, error)
            if keys <= results.keys():
                break
        return {k: v[1] for k, v in results.items()}

    def _apply_group(
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
        if k is ActionKind.CREATE_GROUP:
            want = groups[action.key]
            response = self._call(
                "POST",
                MICROSOFT.groups_path,
                body={
                    "displayName": want.name,
                    "mailNickname": want.key,
                    "description": "A class from Groups & Classes, kept by rollsync",
                    "groupTypes": ["Unified"],
                    "mailEnabled": True,
                    "securityEnabled": False,
                },
            )
            if response.status_code == 400 and "mailNickname" in error_text(response):
                # Made by an earlier try whose answer was lost: take that one.
                found = self._pages(
                    MICROSOFT.groups_path,
                    {"$filter": f"mailNickname eq '{want.key}'", "$select": "id"},
                )
                if found:
                    group_ids[action.key] = str(found[0].get("id"))
                    return Outcome(action, True)
            if response.status_code != 201:
                return Outcome(action, False, error_text(response))
            group_ids[action.key] = str(json_object(response, "a new group").get("id"))
            return Outcome(action, True)
        if k is ActionKind.UPDATE_GROUP:
            response = self._call(
                "PATCH",
                f"{MICROSOFT.groups_path}/{quote(str(action.tenant_id))}",
                body={"displayName": groups[action.key].name},
            )
            return done(action, response, (204,), error_text)
        gid = action.tenant_id or group_ids.get(action.key)
        if gid is None:
            return Outcome(action, False, "the group is not in the tenant (its creation failed)")
        uid = user_ids.get(str(action.user))
        if uid is None:
            return Outcome(action, False, "the account is not in the tenant (its upload failed)")
        rel = "owners" if k in (ActionKind.ADD_OWNER, ActionKind.REMOVE_OWNER) else "members"
        base = f"{MICROSOFT.groups_path}/{quote(gid)}/{rel}"
        if k in (ActionKind.REMOVE_OWNER, ActionKind.REMOVE_MEMBER):
            response = self._call("DELETE", f"{base}/{quote(uid)}/$ref")
            return done(action, response, (204, 404), error_text)
        response = self._call(
            "POST", f"{base}/$ref", body={"@odata.id": MICROSOFT.directory_object.format(id=uid)}
        )
        if response.status_code == 400 and "already exist" in error_text(response):
            return Outcome(action, True)
        return done(action, response, (204,), error_text)
