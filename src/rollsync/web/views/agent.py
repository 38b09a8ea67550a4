"""The endpoints the rollsync agent calls from a SIMS school's server: `/agent/v1/...`
(docs/agent.md, "The agent protocol").

Not pages and not the JSON API: no session, no CSRF token, no API token. The agent sends
the school's licence key as a Bearer token. Everything is decided by
`services.agent` and `selectors`; these views only read the request and answer JSON:
a refusal is `{"error", "message", "field"}` with the status of its kind.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from rollsync.directory import selectors
from rollsync.directory.services import agent as agent_services
from rollsync.directory.services.errors import ServiceError

_STATUS = {
    "unauthorised": 401,
    "not_accepted": 403,
    "not_found": 404,
    "offset_mismatch": 409,
    "too_large": 413,
    "invalid": 422,
}
_MAX_JSON = 64 * 1024  # a begin or a status report is far smaller


def _json(body: dict[str, Any], status: int = 200) -> JsonResponse:
    response = JsonResponse(body, status=status)
    response["Cache-Control"] = "no-store"
    return response


def _refusal(exc: ServiceError) -> JsonResponse:
    kind = agent_services.agent_refusal_kind(exc)
    body: dict[str, Any] = {"error": kind, "message": exc.message, "field": exc.field}
    if isinstance(exc, agent_services.AgentOffsetMismatch):
        body["offset"] = exc.offset
    response = _json(body, _STATUS.get(kind, 422))
    if kind == "unauthorised":
        response["WWW-Authenticate"] = 'Bearer realm="rollsync agent"'
    return response


def _licence_key(request: HttpRequest) -> str:
    scheme, _, token = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _length(request: HttpRequest) -> int | None:
    try:
        size = int(request.META.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None
    return size if size >= 0 else None


def _body_json(request: HttpRequest) -> Any:
    length = _length(request)
    if length is not None and length > _MAX_JSON:
        raise agent_services.AgentError(f"the request body is over {_MAX_JSON} bytes", field="body")
    try:
        return json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        raise agent_services.AgentError("the body is not JSON", field="body") from None


def _answering(call: Callable[[], HttpResponse]) -> HttpResponse:
    try:
        return call()
    except ServiceError as exc:
        return _refusal(exc)


@csrf_exempt
@require_GET
def hello(request: HttpRequest) -> HttpResponse:
    def answer() -> HttpResponse:
        conn = agent_services.agent_contact(licence_key=_licence_key(request))
        return _json(selectors.agent_hello(conn=conn))

    return _answering(answer)


@csrf_exempt
@require_GET
def reports(request: HttpRequest) -> HttpResponse:
    def answer() -> HttpResponse:
        conn = agent_services.agent_contact(licence_key=_licence_key(request))
        return _json({"reports": selectors.agent_report_tree(school=conn.school)})

    return _answering(answer)


@csrf_exempt
@require_POST
def upload_begin(request: HttpRequest) -> HttpResponse:
    def answer() -> HttpResponse:
        key = _licence_key(request)
        agent_services.agent_contact(licence_key=key)  # a wrong key is told so first
        body = _body_json(request)
        if not isinstance(body, dict):
            raise agent_services.AgentError("the body is a JSON object", field="body")
        state = agent_services.agent_upload_begin(
            licence_key=key,
            report=body.get("report"),
            sha256=body.get("sha256"),
            size=body.get("size"),
            filename=body.get("filename", ""),
            extracted_at=body.get("extracted_at"),
        )
        return _json(state.as_json(), 201 if state.created else 200)

    return _answering(answer)


@csrf_exempt
@require_http_methods(["GET", "PATCH"])
def upload(request: HttpRequest, upload_id: str) -> HttpResponse:
    def answer() -> HttpResponse:
        key = _licence_key(request)
        if request.method == "GET":
            state = agent_services.agent_upload_state(licence_key=key, upload_id=upload_id)
            return _json({k: v for k, v in state.as_json().items() if k != "chunk_size"})
        agent_services.agent_contact(licence_key=key)
        length = _length(request)
        if length is not None and length > agent_services.CHUNK_SIZE:
            raise agent_services.AgentError(
                f"a chunk is at most {agent_services.CHUNK_SIZE} bytes", field="body"
            )
        try:
            offset: int | None = int(request.META.get("HTTP_UPLOAD_OFFSET", ""))
        except ValueError:
            offset = None
        state = agent_services.agent_upload_chunk(
            licence_key=key,
            upload_id=upload_id,
            offset=offset,
            data=request.body,
            declared_length=length,
        )
        return _json(state.as_json())

    return _answering(answer)


@csrf_exempt
@require_POST
def status(request: HttpRequest) -> HttpResponse:
    def answer() -> HttpResponse:
        key = _licence_key(request)
        agent_services.agent_contact(licence_key=key)
        agent_services.agent_status_record(licence_key=key, report=_body_json(request))
        return HttpResponse(status=204)

    return _answering(answer)
