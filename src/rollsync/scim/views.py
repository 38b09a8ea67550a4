"""`/scim/v2/...`: the SCIM door. It reads the Django request into scim2-server's
`ScimRequest`, authenticates the bearer token of a SCIM downstream client, and lets
scim2-server's handler answer over `DirectoryStorage` with that client as principal.
No session, no CSRF token (a bearer token is not ambient authority)."""

from __future__ import annotations

import json
import logging
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from scim2_models import PayloadTooLargeException, UnauthorizedException
from scim2_server.handler import ScimHandler
from scim2_server.requests import ScimRequest
from scim2_server.responses import ScimResponse
from scim2_server.routing import Operation

from rollsync.downstream.services import scim_client_verify
from rollsync.scim.provider import SERVICE
from rollsync.scim.storage import DirectoryStorage

_MAX_BODY = 64 * 1024  # a read-only door: the largest body it reads is a `.search`
_log = logging.getLogger("rollsync.scim")


def _client(request: ScimRequest) -> Any:
    header = request.header("Authorization") or ""
    scheme, _, token = header.strip().partition(" ")
    client = scim_client_verify(token=token.strip()) if scheme.lower() == "bearer" else None
    if client is None:
        raise UnauthorizedException(detail="a SCIM client's bearer token is needed")
    return client


def _serve(request: ScimRequest, declared: int) -> ScimResponse:
    if declared > _MAX_BODY:
        raise PayloadTooLargeException(detail=f"the body is over {_MAX_BODY} bytes")
    target = SERVICE.match(request)
    principal = None
    if target.operation is not Operation.service_provider_config:  # RFC 7643 section 5
        principal = _client(request)
    request.subject = principal
    return ScimHandler(SERVICE, DirectoryStorage(principal)).handle(request)


@csrf_exempt
def scim(request: HttpRequest, path: str = "") -> HttpResponse:
    base = request.build_absolute_uri("/scim/v2")
    try:
        declared = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        declared = 0
    scim_request = ScimRequest(
        method=request.method or "GET",
        base_url=base,
        path="/" + path.removesuffix(".scim"),
        query={key: request.GET[key] for key in request.GET},
        headers=dict(request.headers),
        body=request.body if 0 < declared <= _MAX_BODY else b"",
    )
    try:
        answer = _serve(scim_request, declared)
    except Exception as exception:  # scim2-server's own rule: every failure is a SCIM error
        if not hasattr(exception, "to_error"):
            _log.exception("SCIM request %s %s failed", request.method, request.path)
        answer = SERVICE.error_response(exception)
    answer.headers.setdefault("Cache-Control", "no-cache")
    body = b"" if answer.body is None else json.dumps(answer.body).encode()
    response = HttpResponse(body, status=answer.status.value)
    for name, value in answer.headers.items():
        response[name] = value
    return response
