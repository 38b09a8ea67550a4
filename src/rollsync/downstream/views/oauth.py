"""`POST /oauth/token`: OAuth 2.0 client credentials for OneRoster clients. A door:
it hands the request to `downstream.oauth` and returns its answer."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from rollsync.downstream.oauth import token_response

_MAX_BODY = 8192  # a token request is a few form fields


@csrf_exempt
@require_POST
def token(request: HttpRequest) -> HttpResponse:
    if len(request.body) > _MAX_BODY:
        body = '{"error": "invalid_request", "error_description": "the request is too large"}'
        response = HttpResponse(body, status=400, content_type="application/json")
        response["Cache-Control"] = "no-store"
        return response
    headers = {"Content-Type": request.content_type or ""}
    if "HTTP_AUTHORIZATION" in request.META:
        headers["Authorization"] = request.META["HTTP_AUTHORIZATION"]
    out_headers, out_body, status = token_response(
        uri=request.build_absolute_uri(),
        method=request.method or "POST",
        body=request.body.decode("utf-8", errors="replace"),
        headers=headers,
    )
    response = HttpResponse(out_body, status=status)
    for name, value in out_headers.items():
        response[name] = value
    return response
