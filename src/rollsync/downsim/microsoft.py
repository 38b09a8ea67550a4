"""A Microsoft 365 simulator (loopback HTTP, `SimServer`): the identity platform's token
endpoint (client credentials), Entra API-driven inbound provisioning (`bulkUpload` of a
SCIM BulkRequest of at most 50 records, 202, each record applied and written to the
provisioning logs), Graph users (read), groups with owners and members, Graph's error
body, and throttling: past `quota` requests in `window` seconds, 429 with Retry-After.
Paths and names: `provisioning.vendors.MICROSOFT`.

Assumed where the documentation is silent or asynchronous: an upload is applied at once
(the real service takes minutes), so its logs are there when the 202 is; externalId is
kept as employeeId (the default mapping); a record for an existing user changes only the
attributes it carries; paging uses `$skiptoken` offsets in `@odata.nextLink`.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from rollsync.missim.data import SimData
from rollsync.missim.faults import FaultPlan
from rollsync.missim.server import SimRequest, SimResponse, SimServer
from rollsync.provisioning.vendors import MICROSOFT

from .common import Ids, Quota, allow_patch, as_dict, page

_EMAIL = re.compile(r"^[a-z0-9._'+-]+@[a-z0-9.-]+\.[a-z]{2,}$")
_TENANT = "00000000-0000-0000-0000-00000000000a"


def graph_error(status: int, code: str, message: str, **headers: str) -> SimResponse:
    return SimResponse.json(
        {
            "error": {
                "code": code,
                "message": message,
                "innerError": {
                    "date": datetime.now(UTC).isoformat(),
                    "request-id": secrets.token_hex(8),
                },
            }
        },
        status,
        **headers,
    )


class MicrosoftSimulator(SimServer):
    vendor = "microsoft"

    def __init__(
        self,
        *,
        client_id: str = "11111111-2222-3333-4444-555555555555",
        client_secret: str = "",
        tenant_id: str = _TENANT,
        domain: str = "school.example",
        service_principal_id: str = "sp-inbound",
        job_id: str = "API2AAD.sim",
        quota: int | None = None,
        window: float = 1.0,
        retry_after: int = 1,
        page_size: int = 100,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: FaultPlan | str | None = None,
    ) -> None:
        super().__init__(SimData(), host=host, port=port, faults=faults)
        allow_patch(self)
        self.client_id = client_id
        self.client_secret = client_secret or secrets.token_urlsafe(30)
        self.tenant_id = tenant_id
        self.domain = domain
        self.service_principal_id = service_principal_id
        self.job_id = job_id
        self.quota = Quota(quota, window)
        self.retry_after = retry_after
        self.page_size = page_size
        self.refuse: set[str] = set()  # externalIds whose record fails in the logs
        self.users: dict[str, dict[str, Any]] = {}
        self.groups: dict[str, dict[str, Any]] = {}
        self.owners: dict[str, set[str]] = {}
        self.members: dict[str, set[str]] = {}
        self.logs: list[dict[str, Any]] = []
        self.uploads: list[int] = []  # records in each accepted bulkUpload
        self._tokens: set[str] = set()
        self._ids = Ids()
        self._state = threading.Lock()

    @property
    def bulk_path(self) -> str:
        return MICROSOFT.bulk_path.format(sp=self.service_principal_id, job=self.job_id)

    def add_user(
        self, upn: str, given: str, family: str, employee_id: str | None = None
    ) -> dict[str, Any]:
        with self._state:
            return self._new_user(upn, given, family, employee_id, True)

    def user_by_key(self, key: str) -> list[dict[str, Any]]:
        return [u for u in self.users.values() if u.get("employeeId") == key]

    def writes(self) -> list[SimRequest]:
        return [r for r in self.requests if r.method != "GET" and not r.path.endswith("/token")]

    # -- the API -------------------------------------------------------------------------

    def handle(self, request: SimRequest) -> SimResponse:
        if request.method == "POST" and request.path == MICROSOFT.token_path.format(
            tenant=self.tenant_id
        ):
            return self._token(request)
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self._tokens:
            return graph_error(
                401, "InvalidAuthenticationToken", "Access token validation failure."
            )
        if not self.quota.allow():
            return graph_error(
                429,
                "TooManyRequests",
                "Too many requests. Please wait and retry.",
                **{"Retry-After": str(self.retry_after)},
            )
        try:
            body = json.loads(request.body) if request.body else {}
        except ValueError:
            return graph_error(400, "BadRequest", "Unable to read JSON request payload.")
        if not isinstance(body, dict):
            return graph_error(400, "BadRequest", "The request payload is not an object.")
        with self._state:
            return self._route(request, body)

    def _token(self, request: SimRequest) -> SimResponse:
        form = request.form()
        if form.get("grant_type") != "client_credentials":
            return SimResponse.json(
                {
                    "error": "unsupported_grant_type",
                    "error_description": "AADSTS70003: The app requested an unsupported grant type.",
                },
                400,
            )
        if form.get("client_id") != self.client_id or not secrets.compare_digest(
            form.get("client_secret", "").encode(), self.client_secret.encode()
        ):
            return SimResponse.json(
                {
                    "error": "invalid_client",
                    "error_description": "AADSTS7000215: Invalid client secret provided.",
                },
                401,
            )
        if form.get("scope") != MICROSOFT.scope:
            return SimResponse.json(
                {
                    "error": "invalid_scope",
                    "error_description": "AADSTS1002012: The provided value for scope is not valid.",
                },
                400,
            )
        token = "eyJ0eXAi.sim." + secrets.token_urlsafe(24)
        self._tokens.add(token)
        return SimResponse.json(
            {
                "token_type": "Bearer",
                "expires_in": 3599,
                "ext_expires_in": 3599,
                "access_token": token,
            }
        )

    def _route(self, request: SimRequest, body: dict[str, Any]) -> SimResponse:
        path, method = request.path, request.method
        if path == self.bulk_path and method == "POST":
            return self._bulk(request, body)
        if path == MICROSOFT.logs_path and method == "GET":
            return self._list_logs(request)
        if path == MICROSOFT.users_path and method == "GET":
            return self._page(request, sorted(self.users.values(), key=lambda u: u["id"]))
        if path == MICROSOFT.groups_path:
            if method == "GET":
                return self._list_groups(request)
            if method == "POST":
                return self._new_group(body)
        if path.startswith(MICROSOFT.groups_path + "/"):
            rest = path[len(MICROSOFT.groups_path) + 1 :].split("/")
            group = self.groups.get(rest[0])
            if group is None:
                return graph_error(
                    404,
                    "Request_ResourceNotFound",
                    f"Resource '{rest[0]}' does not exist or one of its queried reference-property objects are not present.",
                )
            if len(rest) == 1 and method == "PATCH":
                if "displayName" in body:
                    group["displayName"] = str(body["displayName"])
                return SimResponse(204, b"", {})
            if len(rest) >= 2 and rest[1] in ("owners", "members"):
                return self._relation(request, group, rest[1], rest[2:], body)
        return graph_error(400, "BadRequest", f"Resource not found for the segment '{path}'.")

    def _page(self, request: SimRequest, items: list[dict[str, Any]]) -> SimResponse:
        try:
            size = min(int(request.arg("$top") or self.page_size), self.page_size)
            chunk, token = page(items, request.arg("$skiptoken"), size)
        except ValueError:
            return graph_error(400, "BadRequest", "Invalid $top or $skiptoken")
        out: dict[str, Any] = {"value": chunk}
        if token:
            query = {k: v[-1] for k, v in request.query.items() if k != "$skiptoken"}
            query["$skiptoken"] = token
            out["@odata.nextLink"] = f"{self.url}{request.path}?{urlencode(query, quote_via=quote)}"
        return SimResponse.json(out)

    # -- inbound provisioning --------------------------------------------------------------

    def _bulk(self, request: SimRequest, body: dict[str, Any]) -> SimResponse:
        if not request.headers.get("content-type", "").startswith(MICROSOFT.bulk_content_type):
            return graph_error(
                415, "UnsupportedMediaType", f"Content-Type must be {MICROSOFT.bulk_content_type}"
            )
        if body.get("schemas") != [MICROSOFT.bulk_schema]:
            return graph_error(400, "BadRequest", "The request is not a SCIM BulkRequest")
        operations = body.get("Operations")
        if not isinstance(operations, list) or not operations:
            return graph_error(400, "BadRequest", "The BulkRequest holds no Operations")
        if len(operations) > MICROSOFT.bulk_max:
            return graph_error(
                400, "BadRequest", f"A BulkRequest holds at most {MICROSOFT.bulk_max} operations"
            )
        for op in operations:
            self._provision(as_dict(op))
        self.uploads.append(len(operations))
        return SimResponse(202, b"", {})

    def _log(
        self, key: str, target: str, action: str, status: str, code: str = "", reason: str = ""
    ) -> None:
        info: dict[str, Any] = {"status": status}
        if code:
            info["errorInformation"] = {"errorCode": code, "reason": reason}
        self.logs.append(
            {
                "id": self._ids.new("log-"),
                "activityDateTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "jobId": self.job_id,
                "cycleId": "sim",
                "changeId": secrets.token_hex(8),
                "provisioningAction": action,
                "provisioningStatusInfo": info,
                "sourceIdentity": {"id": key, "identityType": "User"},
                "targetIdentity": {"id": target, "identityType": "User"},
            }
        )

    def _provision(self, op: dict[str, Any]) -> None:
        data = as_dict(op.get("data"))
        key = str(data.get("externalId") or "")
        if op.get("method") != "POST" or op.get("path") != "/Users" or not key:
            self._log(
                key,
                "",
                "other",
                "failure",
                "InvalidRecord",
                "a record is a POST to /Users with an externalId",
            )
            return
        if key in self.refuse:
            self._log(
                key,
                "",
                "other",
                "failure",
                "AzureActiveDirectoryInvalidAttribute",
                "refused by the simulator",
            )
            return
        name = as_dict(data.get("name"))
        upn = str(data.get("userName") or "").lower()
        found = self.user_by_key(key)
        if upn and (not _EMAIL.match(upn) or not upn.endswith("@" + self.domain)):
            self._log(
                key,
                "",
                "other",
                "failure",
                "AzureActiveDirectoryInvalidUserPrincipalName",
                f"{upn} is not in the tenant's domain",
            )
            return
        clash = [
            u
            for u in self.users.values()
            if upn and u["userPrincipalName"] == upn and u.get("employeeId") != key
        ]
        if clash:
            self._log(
                key,
                "",
                "other",
                "failure",
                "AzureActiveDirectoryConflictEncountered",
                f"another user already has userPrincipalName {upn}",
            )
            return
        if not found:
            if not upn or not name.get("givenName") or not name.get("familyName"):
                self._log(
                    key,
                    "",
                    "create",
                    "failure",
                    "AzureActiveDirectoryRequiredAttributeMissing",
                    "userName and name are required to create a user",
                )
                return
            user = self._new_user(
                upn,
                str(name["givenName"]),
                str(name["familyName"]),
                key,
                bool(data.get("active", True)),
            )
            self._log(key, user["id"], "create", "success")
            return
        user = found[0]
        before = dict(user)
        if upn:
            user["userPrincipalName"] = upn
        if name.get("givenName"):
            user["givenName"] = str(name["givenName"])
        if name.get("familyName"):
            user["surname"] = str(name["familyName"])
        if data.get("displayName"):
            user["displayName"] = str(data["displayName"])
        if "active" in data:
            user["accountEnabled"] = bool(data["active"])
        action = "disable" if before["accountEnabled"] and not user["accountEnabled"] else "update"
        self._log(key, user["id"], action, "success" if user != before else "skipped")

    def _new_user(
        self, upn: str, given: str, family: str, key: str | None, enabled: bool
    ) -> dict[str, Any]:
        uid = self._ids.new("u-")
        user = {
            "id": uid,
            "userPrincipalName": upn.lower(),
            "givenName": given,
            "surname": family,
            "displayName": f"{given} {family}",
            "accountEnabled": enabled,
            "employeeId": key,
        }
        self.users[uid] = user
        return user

    def _list_logs(self, request: SimRequest) -> SimResponse:
        logs = self.logs
        for clause in (request.arg("$filter") or "").split(" and "):
            clause = clause.strip()
            if not clause:
                continue
            if m := re.fullmatch(r"jobId eq '([^']*)'", clause):
                logs = [x for x in logs if x["jobId"] == m.group(1)]
            elif m := re.fullmatch(r"activityDateTime ge (\S+)", clause):
                since = m.group(1).replace("Z", "")
                logs = [x for x in logs if x["activityDateTime"].replace("Z", "") >= since]
            else:
                return graph_error(400, "BadRequest", f"Invalid filter clause: {clause}")
        return self._page(request, logs)

    # -- groups ----------------------------------------------------------------------------

    def _list_groups(self, request: SimRequest) -> SimResponse:
        groups = sorted(self.groups.values(), key=lambda g: g["id"])
        wanted = request.arg("$filter") or ""
        if m := re.fullmatch(r"startswith\(mailNickname,'([^']*)'\)", wanted):
            groups = [g for g in groups if g["mailNickname"].startswith(m.group(1))]
        elif m := re.fullmatch(r"mailNickname eq '([^']*)'", wanted):
            groups = [g for g in groups if g["mailNickname"] == m.group(1)]
        elif wanted:
            return graph_error(400, "BadRequest", f"Invalid filter clause: {wanted}")
        return self._page(request, groups)

    def _new_group(self, body: dict[str, Any]) -> SimResponse:
        nickname = str(body.get("mailNickname") or "").lower()
        if (
            not nickname
            or not body.get("displayName")
            or "mailEnabled" not in body
            or "securityEnabled" not in body
        ):
            return graph_error(
                400,
                "Request_BadRequest",
                "A value is required for property 'displayName', 'mailNickname', 'mailEnabled' and 'securityEnabled' of resource 'Group'.",
            )
        if any(g["mailNickname"] == nickname for g in self.groups.values()):
            return graph_error(
                400,
                "Request_BadRequest",
                "Another object with the same value for property mailNickname already exists.",
            )
        gid = self._ids.new("g-")
        group = {
            "id": gid,
            "displayName": str(body["displayName"]),
            "mailNickname": nickname,
            "description": str(body.get("description") or ""),
            "groupTypes": list(body.get("groupTypes") or []),
            "mailEnabled": bool(body["mailEnabled"]),
            "securityEnabled": bool(body["securityEnabled"]),
        }
        self.groups[gid] = group
        self.owners[gid] = set()
        self.members[gid] = set()
        return SimResponse.json(group, 201)

    def _relation(
        self,
        request: SimRequest,
        group: dict[str, Any],
        rel: str,
        rest: list[str],
        body: dict[str, Any],
    ) -> SimResponse:
        held = (self.owners if rel == "owners" else self.members)[group["id"]]
        if not rest and request.method == "GET":
            return self._page(
                request,
                [{"@odata.type": "#microsoft.graph.user", "id": uid} for uid in sorted(held)],
            )
        if rest == ["$ref"] and request.method == "POST":
            ref = str(body.get("@odata.id") or "")
            uid = ref.rstrip("/").rsplit("/", 1)[-1]
            if uid not in self.users:
                return graph_error(
                    404,
                    "Request_ResourceNotFound",
                    f"Resource '{uid}' does not exist or one of its queried reference-property objects are not present.",
                )
            if uid in held:
                return graph_error(
                    400,
                    "Request_BadRequest",
                    f"One or more added object references already exist for the following modified properties: '{rel}'.",
                )
            held.add(uid)
            return SimResponse(204, b"", {})
        if len(rest) == 2 and rest[1] == "$ref" and request.method == "DELETE":
            if rest[0] not in held:
                return graph_error(
                    404,
                    "Request_ResourceNotFound",
                    f"Resource '{rest[0]}' does not exist or one of its queried reference-property objects are not present.",
                )
            held.discard(rest[0])
            return SimResponse(204, b"", {})
        return graph_error(400, "BadRequest", "Unsupported request")

    def error_response(self, request: SimRequest, status: int) -> SimResponse:
        codes = {
            429: "TooManyRequests",
            503: "ServiceUnavailable",
            401: "InvalidAuthenticationToken",
        }
        return graph_error(status, codes.get(status, "UnknownError"), f"simulated {status}")
