"""Every bad request gets a 4xx with a message, never a 500 (issue 7 item 13): each
operation of the OpenAPI document is walked with hostile paging values, hostile ids,
and malformed JSON and multipart bodies. Nothing is stored by a refused request."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from rollsync.api.openapi import openapi_document
from tests.access.helpers import everything
from tests.api.conftest import World

OPERATIONS = [
    (method.upper(), path, op)
    for path, item in openapi_document()["paths"].items()
    for method, op in item.items()
]

# Values no integer parameter may take; each must be refused with a 4xx and a message.
BAD_INTEGERS = [
    "99999999999999999999",
    "-99999999999999999999",
    "9223372036854775808",
    "-1",
    "abc",
    "1.5",
    "1e3",
    "0x10",
    "NaN",
    "12abc",
    "%00",
]
TOO_BIG_FOR_A_PAGE = {"limit": ["0", "1001", "99999999999999999999"], "audit_limit": ["0"]}


def _param_names(op: dict[str, Any], where: str) -> list[str]:
    return [p["name"] for p in op.get("parameters", []) if p["in"] == where]


def _int_params(op: dict[str, Any], where: str) -> list[str]:
    return [
        p["name"]
        for p in op.get("parameters", [])
        if p["in"] == where and p.get("schema", {}).get("type") == "integer"
    ]


def _fill(path: str, world: World, **override: str) -> str:
    values = {
        "urn": "100001",
        "upload_id": str(world.first.upload_id),
        "run_id": str(world.held.pk),
        "case_id": str(world.case.pk),
        "task_id": world.task_id,
        "username": world.username,
        "exclusion_id": str(world.exclusion.pk),
        **override,
    }
    for name, value in values.items():
        path = path.replace("{" + name + "}", value)
    assert "{" not in path, path
    return path


def _auth(tokens: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['school']}"}


def _assert_refused(response: Any, what: str) -> None:
    assert 400 <= response.status_code < 500, (what, response.status_code, response.content)
    body = json.loads(response.content)
    assert isinstance(body["detail"], str) and body["detail"], (what, body)


GET_LISTS = [
    (path, op) for method, path, op in OPERATIONS if method == "GET" and _int_params(op, "query")
]


def test_every_paginated_list_is_walked() -> None:
    names = {op["operationId"] for _, op in GET_LISTS}
    assert {"listRuns", "listUploads", "listAccounts"} <= names


@pytest.mark.parametrize(("path", "op"), GET_LISTS, ids=[op["operationId"] for _, op in GET_LISTS])
def test_hostile_paging_values_get_a_4xx_with_a_message(
    world: World, tokens: dict[str, str], path: str, op: dict[str, Any]
) -> None:
    client = Client()
    url = "/" + _fill(path, world).lstrip("/")
    assert client.get(url, headers=_auth(tokens)).status_code == 200
    for name in _int_params(op, "query"):
        for value in [*BAD_INTEGERS, *TOO_BIG_FOR_A_PAGE.get(name, [])]:
            response = client.get(f"{url}?{name}={value}", headers=_auth(tokens))
            _assert_refused(response, f"{op['operationId']} {name}={value}")
    # A value past the end of the list is an empty page, not an error.
    if "offset" in _param_names(op, "query"):
        last = json.loads(client.get(f"{url}?offset=1000000000", headers=_auth(tokens)).content)
        assert last["items"] == [] and last["offset"] == 1000000000


WITH_INT_PATHS = [(method, path, op) for method, path, op in OPERATIONS if _int_params(op, "path")]


@pytest.mark.parametrize(
    ("method", "path", "op"), WITH_INT_PATHS, ids=[op["operationId"] for *_, op in WITH_INT_PATHS]
)
def test_hostile_ids_in_the_path_get_a_4xx(
    world: World, tokens: dict[str, str], method: str, path: str, op: dict[str, Any]
) -> None:
    client = Client()
    before = everything()
    for name in _int_params(op, "path"):
        for value in ["99999999999999999999", "9223372036854775807", "-1", "0", "abc"]:
            url = "/" + _fill(path, world, **{name: value}).lstrip("/")
            response = client.generic(
                method, url, "{}", content_type="application/json", headers=_auth(tokens)
            )
            _assert_refused(response, f"{method} {url}")
    assert everything() == before


MALFORMED_JSON = [
    b'{"decision":',
    b"[1, 2",
    b"\xff\xfe\x00not utf-8",
    b"null",
    b"[]",
    b'"a string"',
    b"",
    b'{"report": {"nested": ' * 50 + b"1" + b"}" * 100,
]
POSTS = [(path, op) for method, path, op in OPERATIONS if method == "POST"]


@pytest.mark.parametrize(("path", "op"), POSTS, ids=[op["operationId"] for _, op in POSTS])
def test_malformed_bodies_on_every_post_get_a_4xx_or_are_ignored(
    world: World, tokens: dict[str, str], path: str, op: dict[str, Any]
) -> None:
    """An operation that reads a body refuses a broken one with a 4xx and a message and
    stores nothing; one that reads no body may ignore it, but never answers 5xx."""
    client = Client()
    url = "/" + _fill(path, world).lstrip("/")
    reads_body = "requestBody" in op
    bodies: list[tuple[str, bytes]] = [("application/json", body) for body in MALFORMED_JSON]
    bodies += [
        ("multipart/form-data", b"--x\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n"),
        ("multipart/form-data; boundary=", b"--\r\n\r\n"),
        ("multipart/form-data; boundary=zz", b"garbage with no boundary at all"),
        (
            "multipart/form-data; boundary=zz",
            b'--zz\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\nmis_id',
        ),
        ("multipart/form-data; boundary=zz", b"--zz\r\n\r\n--zz--"),
        ("application/x-www-form-urlencoded", b"%%%=%%%&&&"),
        ("text/plain", b"hello"),
    ]
    for content_type, body in bodies:
        before = everything()
        response = client.generic(
            "POST", url, body, content_type=content_type, headers=_auth(tokens)
        )
        what = f"{op['operationId']} {content_type} {body[:40]!r}"
        assert response.status_code < 500, (what, response.content)
        if reads_body:
            _assert_refused(response, what)
            assert everything() == before, what


def test_a_multipart_upload_without_a_boundary_says_so(
    world: World, tokens: dict[str, str]
) -> None:
    before = everything()
    response = Client().generic(
        "POST",
        "/api/v1/schools/100001/uploads",
        b"--x\r\n",
        content_type="multipart/form-data",
        headers=_auth(tokens),
    )
    assert response.status_code == 400
    detail = json.loads(response.content)["detail"]
    assert detail.startswith("the request body is not a readable multipart form")
    assert everything() == before
