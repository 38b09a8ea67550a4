"""`POST /push/v1/{report}`, the endpoint Bromcom calls (docs/push-api.md): licence key in
`X-Licence-Key`, supplier ID and password in HTTP Basic; the body raw or a multipart
`file`; 202, 401, 403, 413, 422 (naming the field), 405; never an API token."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from rollsync.api.services import api_token_create
from rollsync.directory import models as m
from rollsync.directory.services import uploads
from rollsync.directory.tasks import run_queued
from tests.push.conftest import Pusher, stored

URL = "/push/v1/"


def _headers(pusher: Pusher, **wrong: str) -> dict[str, str]:
    key = wrong.get("licence_key", pusher.creds.licence_key)
    supplier = wrong.get("supplier_id", pusher.creds.supplier_id)
    password = wrong.get("password", pusher.creds.password)
    basic = base64.b64encode(f"{supplier}:{password}".encode()).decode()
    return {"HTTP_AUTHORIZATION": f"Basic {basic}", "HTTP_X_LICENCE_KEY": key}


def post(pusher: Pusher, report: str, body: bytes, query: str = "", **wrong: str) -> Any:
    return Client().post(
        f"{URL}{report}{query}", data=body, content_type="text/csv", **_headers(pusher, **wrong)
    )


def test_a_push_is_accepted_with_202(bromcom: Pusher) -> None:
    body = bromcom.file("students")
    response = post(bromcom, "students", body)
    assert response.status_code == 202, response.content
    answer = response.json()
    assert set(answer) == {
        "upload",
        "task",
        "replayed",
        "report",
        "format",
        "size",
        "sha256",
        "received_at",
    }
    assert answer["replayed"] is False and answer["report"] == "students"
    assert answer["size"] == len(body)
    upload = m.Upload.objects.get(pk=answer["upload"])
    assert bytes(upload.data) == body and upload.source == "Bromcom"
    assert m.QueuedTask.objects.get(pk=answer["task"]).upload_id == upload.pk
    assert response["Cache-Control"] == "no-store"
    again = post(bromcom, "students", body)
    assert again.status_code == 202
    assert again.json()["replayed"] is True
    assert (again.json()["upload"], again.json()["task"]) == (answer["upload"], answer["task"])
    assert m.Upload.objects.count() == 1
    run_queued()
    assert m.SyncRun.objects.get(upload_id=answer["upload"]).status == "applied"


def test_a_multipart_push(bromcom: Pusher) -> None:
    file = SimpleUploadedFile("staff.csv", bromcom.file("staff"), content_type="text/csv")
    response = Client().post(f"{URL}staff", data={"file": file}, **_headers(bromcom))
    assert response.status_code == 202, response.content
    assert m.Upload.objects.get(pk=response.json()["upload"]).report == "staff"


@pytest.mark.parametrize(
    "wrong",
    [
        {"password": "nope"},
        {"supplier_id": "RS1"},
        {"licence_key": "AAAAA"},
        {"password": ""},
        {"password": "pässwörd"},
        {"supplier_id": "ключ"},
        {"licence_key": "ключ"},
    ],
)
def test_wrong_credentials_answer_401_and_store_nothing(
    bromcom: Pusher, wrong: dict[str, str]
) -> None:
    before = stored()
    response = post(bromcom, "students", bromcom.file("students"), **wrong)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Basic")
    assert response.json()["errors"][0]["field"] == "credentials"
    assert stored() == before


def test_no_credentials_or_an_api_token_answer_401(bromcom: Pusher) -> None:
    _, secret = api_token_create(name="t", school=bromcom.school, actor="t")
    before = stored()
    key = bromcom.creds.licence_key
    for headers in (
        {},
        {"HTTP_AUTHORIZATION": f"Bearer {secret}"},
        {"HTTP_AUTHORIZATION": f"Bearer {secret}", "HTTP_X_LICENCE_KEY": key},
        {"HTTP_AUTHORIZATION": "Basic !!not base64!!", "HTTP_X_LICENCE_KEY": key},
        {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(b"no-colon").decode()},
    ):
        response = Client().post(
            f"{URL}students", data=bromcom.file("students"), content_type="text/csv", **headers
        )
        assert response.status_code == 401
    assert stored() == before


def test_a_report_not_accepted_answers_403_with_the_reason(bromcom: Pusher) -> None:
    before = stored()
    response = post(bromcom, "groups", b"group_mis_id\n1\n")
    assert response.status_code == 403
    assert "Groups & Classes is unavailable for Bromcom" in response.json()["detail"]
    assert stored() == before


def test_an_oversized_body_answers_413(bromcom: Pusher, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(uploads, "upload_limit", lambda: 1000)
    before = stored()
    response = post(bromcom, "students", bromcom.file("students"))
    assert response.status_code == 413
    assert "rollsync accepts files up to 1000 bytes" in response.json()["detail"]
    file = SimpleUploadedFile("students.csv", bromcom.file("students"))
    response = Client().post(f"{URL}students", data={"file": file}, **_headers(bromcom))
    assert response.status_code == 413
    assert stored() == before


@pytest.mark.parametrize(
    ("report", "body", "query", "field"),
    [
        ("students", b"", "", "file"),
        ("students", b"nothing,useful\n1,2\n", "", "file"),
        ("teachers", b"x\n", "", "report"),
        ("students", b"x\n", "?format=sds", "format"),
        ("bundle", b"PK\x03\x04", "?format=ctf", "file"),
    ],
)
def test_a_malformed_push_answers_422_naming_the_field(
    bromcom: Pusher, report: str, body: bytes, query: str, field: str
) -> None:
    before = stored()
    response = post(bromcom, report, body, query)
    assert response.status_code == 422, response.content
    answer = response.json()
    assert answer["errors"][0]["field"] == field
    assert answer["detail"].startswith(f"{field}: ")
    assert stored() == before


def test_a_checksum_that_does_not_match_answers_422(bromcom: Pusher) -> None:
    before = stored()
    response = Client().post(
        f"{URL}students",
        data=bromcom.file("students"),
        content_type="text/csv",
        HTTP_X_CONTENT_SHA256="é" * 64,
        **_headers(bromcom),
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "checksum"
    assert stored() == before


def test_a_multipart_push_without_its_file_answers_422(bromcom: Pusher) -> None:
    response = Client().post(f"{URL}students", data={"other": "x"}, **_headers(bromcom))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "file"


def test_only_post(bromcom: Pusher) -> None:
    assert Client().get(f"{URL}students", **_headers(bromcom)).status_code == 405
