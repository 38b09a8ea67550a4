"""The JSON API (django-ninja, OpenAPI 3.1): `/api/v1/`, documented at
`/api/v1/openapi.json` and in docs/api.md."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.db import DataError
from django.http import HttpRequest, HttpResponse, UnreadablePostError
from django.http.multipartparser import MultiPartParserError
from django.views.decorators.csrf import csrf_exempt
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser

from rollsync.api.auth import ApiTokenAuth
from rollsync.api.endpoints import (
    accounts,
    connections,
    exclusions,
    matches,
    runs,
    schools,
    uploads,
)
from rollsync.api.selectors import NotAllowed, NotVisible
from rollsync.directory.services.errors import (
    CONFLICT,
    INVALID,
    NOT_FOUND,
    REFUSED,
    TOO_LARGE,
    ServiceError,
)
from rollsync.directory.services.uploads import too_large_message

logger = logging.getLogger(__name__)


class _JsonObjects(Parser):
    """JSON bodies must be objects: `null`, a list or a string is refused (400)."""

    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        try:
            data = json.loads(request.body)
        except (ValueError, RecursionError):
            raise _BadBody("the request body is not valid JSON: send a JSON object") from None
        if not isinstance(data, dict):
            raise _BadBody(f"the request body must be a JSON object, not {_json_kind(data)}")
        return data


class _BadBody(ValueError):
    pass


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    return {list: "a list", str: "a string", bool: "true or false"}.get(type(value), "a number")


api = NinjaAPI(
    parser=_JsonObjects(),
    title="rollsync API",
    version="1.0.0",
    description=(
        "The operations of the `rollsync` command and the web app, as JSON. Every request"
        " carries `Authorization: Bearer <token>`; a token is scoped to one school or to"
        " the schools of one LA, and may be read-only. Objects outside the token's scope"
        " answer 404. Uploads and approvals are queued for the worker: the answer is 202"
        ' with a task to follow. Errors are `{"detail": ..., "errors": [{"field",'
        ' "message"}]}`.'
    ),
    urls_namespace="api-v1",
    auth=ApiTokenAuth(),
    docs_url=None,
)

for module in (schools, uploads, runs, matches, accounts, exclusions, connections):
    api.add_router("", module.router)


def _error(
    request: HttpRequest, status: int, detail: str, fields: list[dict[str, Any]] | None = None
) -> HttpResponse:
    return api.create_response(request, {"detail": detail, "errors": fields or []}, status=status)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    response = _error(
        request,
        401,
        "a valid API token is required: send 'Authorization: Bearer <token>'"
        " (the token may be unknown or revoked)",
    )
    response["WWW-Authenticate"] = "Bearer"
    return response


# The one translation of a refused write (every service raises a `ServiceError`).
_SERVICE_STATUS = {INVALID: 422, REFUSED: 422, NOT_FOUND: 404, CONFLICT: 409, TOO_LARGE: 413}


@api.exception_handler(ServiceError)
def _service_error(request: HttpRequest, exc: ServiceError) -> HttpResponse:
    status = _SERVICE_STATUS.get(exc.code, 400)
    if exc.field:
        detail = f"{exc.field}: {exc.message}"
        return _error(request, status, detail, [{"field": exc.field, "message": exc.message}])
    return _error(request, status, exc.message)


@api.exception_handler(NotAllowed)
def _not_allowed(request: HttpRequest, exc: NotAllowed) -> HttpResponse:
    return _error(request, 403, str(exc))


@api.exception_handler(NotVisible)
def _not_found(request: HttpRequest, exc: NotVisible) -> HttpResponse:
    return _error(request, 404, str(exc))


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if isinstance(exc.__cause__, _BadBody):  # ninja's "Cannot parse request body"
        return _error(request, 400, str(exc.__cause__))
    field = getattr(exc, "field", None)
    message = str(exc).removeprefix(f"{field}: ") if field else str(exc)
    fields = [{"field": field, "message": message}] if field else []
    return _error(request, exc.status_code, str(exc), fields)


_SOURCES = {"body", "query", "path", "form", "file", "header", "cookie"}


def _field_name(loc: tuple[Any, ...] | list[Any]) -> str | None:
    """('body', 'payload', 'decision') -> 'decision'; ('query', 'role') -> 'role'."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in _SOURCES:
        parts = parts[1:]
    if len(parts) > 1 and parts[0] == "payload":
        parts = parts[1:]
    return ".".join(parts) or None


@api.exception_handler(ValidationError)
def _invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    refused = getattr(request, "rollsync_upload_refused", None)
    if refused is not None:  # the upload handler stopped a file over the limit
        return _error(request, 413, f"file: {refused}", [{"field": "file", "message": refused}])
    fields = [{"field": _field_name(e.get("loc", ())), "message": _message(e)} for e in exc.errors]
    detail = "; ".join(
        f"{f['field']}: {f['message']}" if f["field"] else f["message"] for f in fields
    )
    return _error(request, 422, detail or "the request is not valid", fields)


def _message(error: dict[str, Any]) -> str:
    message = str(error.get("msg", "not valid"))
    kind = str(error.get("type", ""))
    if kind == "missing":
        return "required"
    if kind.startswith("date"):
        return "must be a date as YYYY-MM-DD"
    return re.sub(r"^Value error, ", "", message)


@api.exception_handler(MultiPartParserError)
def _bad_multipart(request: HttpRequest, exc: MultiPartParserError) -> HttpResponse:
    return _error(
        request,
        400,
        "the request body is not a readable multipart form (it needs a boundary in its"
        f" Content-Type and a body that follows it): {_plain(exc)}",
    )


@api.exception_handler(RequestDataTooBig)
def _body_too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return _error(request, 413, f"the request body is too large: {too_large_message(None)}")


@api.exception_handler(TooManyFieldsSent)
def _too_many_fields(request: HttpRequest, exc: TooManyFieldsSent) -> HttpResponse:
    return _error(request, 400, "the request has too many form fields")


@api.exception_handler(TooManyFilesSent)
def _too_many_files(request: HttpRequest, exc: TooManyFilesSent) -> HttpResponse:
    return _error(request, 400, "the request has too many files: send one file per upload")


@api.exception_handler(UnreadablePostError)
def _unreadable(request: HttpRequest, exc: UnreadablePostError) -> HttpResponse:
    return _error(request, 400, "the request body could not be read to its end")


@api.exception_handler(OverflowError)
def _overflow(request: HttpRequest, exc: OverflowError) -> HttpResponse:
    return _error(request, 400, "a number in the request is too large")


@api.exception_handler(DataError)
def _out_of_range(request: HttpRequest, exc: DataError) -> HttpResponse:
    return _error(request, 400, "a value in the request is out of range for the directory")


def _plain(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text[:1].lower() + text[1:]


@csrf_exempt
def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """Any other path under /api/: a JSON 404, like every other API answer."""
    return _error(request, 404, f"no API operation at {request.path}; see /api/v1/openapi.json")


@api.exception_handler(Exception)
def _internal(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.exception("API error on %s %s", request.method, request.path, exc_info=exc)
    return _error(
        request,
        500,
        "internal error: nothing was changed by this request's failure; the service desk has the details",
    )
