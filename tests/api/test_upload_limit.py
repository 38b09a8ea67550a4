"""The JSON API door applies the one upload limit while the file arrives (issue 7
item 11): a 101 MiB file, made as it is read, is refused with a message after about
100 MiB is read; nothing is stored."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from rollsync.directory import models as m
from rollsync.directory.services import uploads
from rollsync.domain.limits import MAX_UPLOAD_BYTES
from tests.api.conftest import Api
from tests.api.lazy_wsgi import multipart_body, post_lazy
from tests.directory.helpers import csv_bytes, pupil

MIB = 1024 * 1024


def stored() -> dict[str, int]:
    return {
        "uploads": m.Upload.objects.count(),
        "runs": m.SyncRun.objects.count(),
        "tasks": m.QueuedTask.objects.count(),
        "audit": m.AuditEvent.objects.count(),
    }


def test_a_101_mib_upload_is_refused_while_it_arrives(
    api: Api, school: m.School, tokens: dict[str, str]
) -> None:
    before = stored()
    body = multipart_body(
        {"format": "csv", "report": "students"}, filename="huge.csv", size=101 * MIB
    )
    response = post_lazy(
        "/api/v1/schools/100001/uploads",
        body,
        headers={"Authorization": f"Bearer {tokens['school']}"},
    )
    assert response.status_code == 413
    assert json.loads(response.content) == {
        "detail": "file: the file is 101 MiB; rollsync accepts files up to 100 MiB",
        "errors": [
            {
                "field": "file",
                "message": "the file is 101 MiB; rollsync accepts files up to 100 MiB",
            }
        ],
    }
    # It stopped reading just past the limit: the rest of the body was never read.
    assert MAX_UPLOAD_BYTES < body.position < MAX_UPLOAD_BYTES + 2 * MIB
    assert stored() == before


def test_upload_too_big_is_refused(
    api: Api, school: m.School, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(uploads, "MAX_UPLOAD_BYTES", 1024 * 1024)
    before = stored()
    big = SimpleUploadedFile("big.csv", b"x" * (1024 * 1024 + 1))
    response = api.post(
        "/schools/100001/uploads", {"file": big, "format": "csv", "report": "students"}, form=True
    )
    assert response.status_code == 413
    message = "the file is more than 1 MiB; rollsync accepts files up to 1 MiB"
    assert response.json() == {
        "detail": f"file: {message}",
        "errors": [{"field": "file", "message": message}],
    }
    assert stored() == before


def test_a_file_just_within_the_limit_is_accepted(
    api: Api, school: m.School, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = csv_bytes("students", [pupil("1", "Ann", "Able", "2016-01-02")])
    monkeypatch.setattr(uploads, "MAX_UPLOAD_BYTES", len(payload))
    response = api.post(
        "/schools/100001/uploads",
        {"file": SimpleUploadedFile("s.csv", payload), "format": "csv", "report": "students"},
        form=True,
    )
    assert response.status_code == 202, response.json()
    upload = m.Upload.objects.get()
    assert (bytes(upload.data), upload.size, upload.source) == (payload, len(payload), "api")


def test_a_json_body_over_the_limit_is_413_not_500(
    api: Api, school: m.School, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    before = stored()
    response = api.post("/schools/100001/exclusions", {"mis_id": "X" * 5000, "note": ""})
    assert response.status_code == 413
    assert response.json()["detail"].startswith("the request body is too large")
    assert stored() == before
