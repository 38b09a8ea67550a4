"""The OneRoster rostering REST provider: 1.2 at `/ims/oneroster/rostering/v1p2/`,
1.1 at `/ims/oneroster/v1p1/`. A door: it checks the bearer token and its scopes,
reads through `downstream.selectors` (the tenancy chokepoint, the client as the
principal) and answers in the binding's shapes; it writes nothing but a client's
last use. docs/downstream.md "OneRoster REST"."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from rollsync.downstream.oneroster.objects import COLLECTIONS, FIELDS
from rollsync.downstream.oneroster.query import (
    QueryError,
    parse_fields,
    run_query,
    select_fields,
)
from rollsync.downstream.scopes import CORE, DEMOGRAPHICS, allows, scope_uri
from rollsync.downstream.selectors import oneroster_objects
from rollsync.downstream.services import OneRosterCaller, access_token_verify

ROOTS = {"v1p2": "/ims/oneroster/rostering/v1p2", "v1p1": "/ims/oneroster/v1p1"}
# The imsx_codeMinorFieldValue for a bad parameter, per version: each binding's
# enumeration has its own (1.1 has no invalid_filter_field nor forbidden; 1.2 no
# invalid_sort_field); anything else is invaliddata.
_CODE_MINOR = {
    "v1p1": {"fields": "invalid_selection_field", "sort": "invalid_sort_field"},
    "v1p2": {"fields": "invalid_selection_field", "filter": "invalid_filter_field"},
}
_FORBIDDEN = {"v1p1": "unauthorisedrequest", "v1p2": "forbidden"}


def imsx_error(status: int, code_minor: str, description: str) -> JsonResponse:
    """The binding's error body (imsx_StatusInfo)."""
    body = {
        "imsx_codeMajor": "failure",
        "imsx_severity": "error",
        "imsx_description": description,
        "imsx_CodeMinor": {
            "imsx_codeMinorField": [
                {
                    "imsx_codeMinorFieldName": "TargetEndSystem",
                    "imsx_codeMinorFieldValue": code_minor,
                }
            ]
        },
    }
    return JsonResponse(body, status=status)


def _caller(request: HttpRequest) -> OneRosterCaller | HttpResponse:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    caller = access_token_verify(token=token.strip()) if scheme.lower() == "bearer" else None
    if caller is None:
        response = imsx_error(
            401,
            "unauthorisedrequest",
            "a bearer token from POST /oauth/token is needed (missing, expired or revoked)",
        )
        challenge = 'Bearer realm="rollsync"'
        response["WWW-Authenticate"] = challenge + (', error="invalid_token"' if token else "")
        return response
    return caller


def _objects(
    request: HttpRequest, version: str, collection: str
) -> tuple[list[dict[str, Any]], str] | HttpResponse:
    """The collection's objects the caller may see, and their kind; or the refusal."""
    caller = _caller(request)
    if isinstance(caller, HttpResponse):
        return caller
    if collection not in COLLECTIONS:
        return imsx_error(404, "unknownobject", f"no collection {collection!r} here")
    if not allows(caller.scopes, version, collection):
        needed = DEMOGRAPHICS if collection == "demographics" else CORE
        return imsx_error(
            403, _FORBIDDEN[version], f"{collection} needs the scope {scope_uri(version, needed)}"
        )
    objects = oneroster_objects(
        caller=caller,
        today=timezone.localdate(),
        collection=collection,
        version=version,
        base_url=request.build_absolute_uri(ROOTS[version]),
    )
    return objects, COLLECTIONS[collection][0]


def _link(request: HttpRequest, total: int, limit: int, offset: int) -> str:
    base = request.build_absolute_uri(request.path)
    params = {k: v for k, v in request.GET.items() if k not in ("limit", "offset")}

    def url(at: int) -> str:
        return f"<{base}?{urlencode({**params, 'limit': limit, 'offset': at})}>"

    last = max(0, (total - 1) // limit * limit)
    links = [f'{url(0)}; rel="first"']
    if offset > 0:
        links.append(f'{url(max(0, offset - limit))}; rel="prev"')
    if offset + limit < total:
        links.append(f'{url(offset + limit)}; rel="next"')
    links.append(f'{url(last)}; rel="last"')
    return ", ".join(links)


def _params(request: HttpRequest) -> dict[str, str]:
    return {k: request.GET.get(k, "") for k in request.GET}


@require_GET
def collection_view(request: HttpRequest, version: str, collection: str) -> HttpResponse:
    found = _objects(request, version, collection)
    if isinstance(found, HttpResponse):
        return found
    objects, kind = found
    known = FIELDS[version][kind]
    params = _params(request)
    try:
        fields = parse_fields(params, known)
        page = run_query(objects, params, known)
    except QueryError as e:
        return imsx_error(400, _CODE_MINOR[version].get(e.parameter, "invaliddata"), e.message)
    key = COLLECTIONS[collection][1]
    response = JsonResponse({key: [select_fields(o, fields) for o in page.objects]})
    response["X-Total-Count"] = str(page.total)
    response["Link"] = _link(request, page.total, page.limit, page.offset)
    return response


@require_GET
def object_view(
    request: HttpRequest, version: str, collection: str, sourced_id: str
) -> HttpResponse:
    found = _objects(request, version, collection)
    if isinstance(found, HttpResponse):
        return found
    objects, kind = found
    try:
        fields = parse_fields(_params(request), FIELDS[version][kind])
    except QueryError as e:
        return imsx_error(400, "invalid_selection_field", e.message)
    match = next((o for o in objects if o["sourcedId"] == sourced_id), None)
    if match is None:
        return imsx_error(404, "unknownobject", f"no {kind} {sourced_id!r} in {collection}")
    return JsonResponse({COLLECTIONS[collection][2]: select_fields(match, fields)})


def not_found(request: HttpRequest, version: str, rest: str) -> HttpResponse:
    """Any other path under a version's root: the binding's 404, not a web page."""
    return imsx_error(404, "unknownobject", "no such resource in this OneRoster service")
