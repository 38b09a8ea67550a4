"""The push endpoint Bromcom calls every evening: `POST /push/v1/{report}` (docs/push-api.md).

Not a page and not the JSON API: no session, no CSRF token, no API token. The sender
authenticates with the school's licence key (`X-Licence-Key`) and its supplier ID and
supplier password (HTTP Basic). The body is the report's file as it is (any content
type but a multipart form), or a multipart form with the file in `file`. Everything is
decided by `services.push.push_receive`; this view only reads the request and answers:

| answer | when |
|---|---|
| 202 `{"upload", "task", "replayed", ...}` | stored and queued, or a replay of a push already stored |
| 401 | a credential missing or wrong (`WWW-Authenticate: Basic`) |
| 403 | a report Bromcom cannot send, or the school has not accepted |
| 413 | the body is over the upload limit |
| 422 | malformed: unknown report or format, empty or unreadable body, a body whose SHA-256 is not the `X-Content-SHA256` sent (`field` names it) |
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from rollsync.directory.services import push as push_services
from rollsync.directory.services.errors import ServiceError
from rollsync.directory.services.uploads import UploadSource, UploadTooLarge
from rollsync.web.upload_limit import refused_upload

REALM = 'Basic realm="rollsync push", charset="UTF-8"'
_STATUS = {
    "unauthorised": 401,
    "not_accepted": 403,
    "too_large": 413,
    "invalid": 422,
    "refused": 403,
    "not_found": 404,
    "conflict": 409,
}


def _error(status: int, message: str, field: str | None) -> JsonResponse:
    body: dict[str, Any] = {"detail": f"{field}: {message}" if field else message, "errors": []}
    body["errors"].append({"field": field, "message": message})
    response = JsonResponse(body, status=status)
    if status == 401:
        response["WWW-Authenticate"] = REALM
    response["Cache-Control"] = "no-store"
    return response


def _basic(request: HttpRequest) -> tuple[str, str]:
    """(supplier ID, supplier password) from HTTP Basic, or ("", "")."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return "", ""
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    supplier_id, sep, password = decoded.partition(":")
    return (supplier_id, password) if sep else ("", "")


def _declared(request: HttpRequest) -> int | None:
    try:
        size = int(request.META.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None
    return size if size >= 0 else None


class _Body:
    """The request body, read as the service asks (after the credentials are checked):
    the raw body streamed in chunks, or the multipart form's `file`."""

    def __init__(self, request: HttpRequest) -> None:
        self.request = request
        self.multipart = request.content_type == "multipart/form-data"
        self.filename = ""

    def __call__(self) -> UploadSource:
        if not self.multipart:
            return self.request  # an HttpRequest reads like a file, in chunks
        refused = refused_upload(self.request)
        if refused is not None:
            raise UploadTooLarge(size=_declared(self.request))
        upload = self.request.FILES.get("file")
        if upload is None:
            raise push_services.PushError(
                "a multipart push carries its file in the field 'file'", field="file"
            )
        self.filename = upload.name or ""
        return upload.chunks()


@csrf_exempt
@require_POST
def push_receive(request: HttpRequest, report: str) -> HttpResponse:
    supplier_id, password = _basic(request)
    licence_key = request.META.get("HTTP_X_LICENCE_KEY", "").strip()
    if not (licence_key and supplier_id and password):
        return _error(
            401,
            "a push carries the licence key (X-Licence-Key) and the supplier ID and supplier "
            "password (HTTP Basic)",
            "credentials",
        )
    body = _Body(request)
    try:
        receipt = push_services.push_receive(
            licence_key=licence_key,
            supplier_id=supplier_id,
            password=password,
            report=report[:40],
            fmt=request.GET.get("format", "").strip().lower()[:20],
            payload=body,
            declared_size=None if body.multipart else _declared(request),
            filename=request.GET.get("filename", "")[:255],
            checksum=request.META.get("HTTP_X_CONTENT_SHA256", "")[:200],
        )
    except ServiceError as exc:
        kind = push_services.push_refusal_kind(exc)
        return _error(_STATUS.get(kind, 422), exc.message, exc.field)
    upload = receipt.upload
    answer = {
        "upload": upload.pk,
        "task": receipt.task_id,
        "replayed": receipt.replayed,
        "report": upload.report or push_services.BUNDLE,
        "format": upload.fmt,
        "size": upload.size,
        "sha256": upload.sha256,
        "received_at": upload.received_at.isoformat(),
    }
    response = HttpResponse(
        json.dumps(answer), status=202, content_type="application/json; charset=utf-8"
    )
    response["Cache-Control"] = "no-store"
    return response
