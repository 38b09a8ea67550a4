"""What the OneRoster tests share: a bearer token from /oauth/token, and GETs whose
every answer is validated against the repository's OneRoster OpenAPI documents
(docs/oneroster-openapi-v1p1.json, -v1p2.json)."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from django.test import Client
from openapi_schema_validator import OAS30Validator, oas30_format_checker

from tests.downstream.conftest import basic, token_post

DOCS = Path(__file__).resolve().parents[2] / "docs"
ROOTS = {"v1p2": "/ims/oneroster/rostering/v1p2", "v1p1": "/ims/oneroster/v1p1"}
SCOPE = "https://purl.imsglobal.org/spec/or/{v}/scope/{n}"


@cache
def openapi(version: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((DOCS / f"oneroster-openapi-{version}.json").read_text())
    return doc


def _template(version: str, path: str) -> str | None:
    """The document's path template a request path falls under, if any."""
    for template in openapi(version)["paths"]:
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
        if re.match(pattern, path):
            return str(template)
    return None


@cache
def _partial(version: str) -> dict[str, Any]:
    """The document with no object's fields required: what `fields=` may select."""
    doc = json.loads(json.dumps(openapi(version)))
    for name, schema in doc["components"]["schemas"].items():
        if name != "StatusInfo":
            schema.pop("required", None)
    return doc


def validate(
    version: str, path: str, status: int, headers: Any, body: Any, *, partial: bool = False
) -> None:
    """The answer is one the document allows: a declared status, its required
    headers, and a body its schema accepts (strictly: no field it does not name).
    With `partial` (a `fields` selection), the selected fields only."""
    doc = _partial(version) if partial else openapi(version)
    template = _template(version, path)
    if template is None:  # no such collection: a 404 with the error body
        assert status == 404, (path, status)
        schema = {"$ref": "#/components/schemas/StatusInfo", "components": doc["components"]}
        OAS30Validator(schema, format_checker=oas30_format_checker).validate(body)
        return
    responses = doc["paths"][template]["get"]["responses"]
    assert str(status) in responses, (path, status, body)
    declared = responses[str(status)]
    for name, header in declared.get("headers", {}).items():
        if header.get("required"):
            assert name in headers, (path, name)
    pointer = f"#/paths/{template.replace('/', '~1')}/get/responses/{status}/content/application~1json/schema"
    schema = {"$ref": pointer, "paths": doc["paths"], "components": doc["components"]}
    OAS30Validator(schema, format_checker=oas30_format_checker).validate(body)


def token_for(
    client: Any, secret: str, *names: str, versions: tuple[str, ...] = ("v1p1", "v1p2")
) -> str:
    scope = " ".join(
        SCOPE.format(v=v, n=n) for v in versions for n in names or ("roster.readonly",)
    )
    r = token_post(
        {"grant_type": "client_credentials", "scope": scope}, auth=basic(client.client_id, secret)
    )
    assert r.status_code == 200, r.content
    return str(json.loads(r.content)["access_token"])


class OneRoster:
    """GETs on the provider (Django's test client), every answer validated."""

    def __init__(self, token: str | None, version: str = "v1p2") -> None:
        self.token = token
        self.version = version
        self.client = Client()

    def get(self, resource: str, *, status: int = 200, **params: Any) -> Any:
        path = f"{ROOTS[self.version]}/{resource}"
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        url = f"{path}?{urlencode(params)}" if params else path
        r = self.client.get(url, headers=headers)
        body = json.loads(r.content)
        assert r.status_code == status, (r.status_code, body)
        assert r["Content-Type"] == "application/json"
        validate(self.version, path, r.status_code, r, body, partial="fields" in params)
        r.body = body
        return r

    def all(self, resource: str, **params: Any) -> list[dict[str, Any]]:
        r = self.get(resource, **{"limit": 10000, **params})
        key = next(iter(r.body))
        items: list[dict[str, Any]] = r.body[key]
        assert int(r["X-Total-Count"]) == len(items)
        return items
