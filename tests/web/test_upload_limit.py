"""The web form applies the one upload limit while the file arrives (issue 7 item 11):
the form's limit is the same 100 MiB, a 101 MiB file (made as it is read) is refused
with a message after about 100 MiB is read, and nothing is stored."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from rollsync.directory import models as m
from rollsync.directory.services import uploads
from rollsync.domain.limits import MAX_UPLOAD_BYTES
from rollsync.web.forms import UploadForm
from tests.access.helpers import World, csv_bytes, everything, make_user, pupil
from tests.api.lazy_wsgi import multipart_body, post_lazy

MIB = 1024 * 1024


@pytest.fixture
def admin(world: World, client: Client) -> Client:
    client.force_login(make_user("school_admin", world))
    return client


def _upload_url(world: World) -> str:
    return reverse("web:upload_file", kwargs={"urn": world.home.school.urn})


def test_django_request_limits_derive_from_the_one_constant() -> None:
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == MAX_UPLOAD_BYTES
    assert settings.FILE_UPLOAD_MAX_MEMORY_SIZE == MAX_UPLOAD_BYTES // 40
    assert settings.FILE_UPLOAD_HANDLERS[0] == "rollsync.web.upload_limit.UploadLimitHandler"


def test_a_101_mib_file_is_refused_while_it_arrives(world: World, admin: Client) -> None:
    before = everything()
    body = multipart_body({"fmt": "csv", "report": "students"}, filename="huge.csv", size=101 * MIB)
    cookie = f"{settings.SESSION_COOKIE_NAME}={admin.cookies[settings.SESSION_COOKIE_NAME].value}"
    response = post_lazy(_upload_url(world), body, headers={"Cookie": cookie})
    assert response.status_code == 413
    page = response.content.decode()
    assert "The file is 101 MiB; rollsync accepts files up to 100 MiB." in page
    assert "This field is required" not in page
    assert MAX_UPLOAD_BYTES < body.position < MAX_UPLOAD_BYTES + 2 * MIB
    assert everything() == before


def test_the_form_backstop_uses_the_same_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(uploads, "MAX_UPLOAD_BYTES", 10)
    form = UploadForm(
        {"fmt": "csv", "report": "students"},
        {"file": SimpleUploadedFile("s.csv", b"x" * 11)},
    )
    assert not form.is_valid()
    assert form.errors["file"] == [
        "The file is more than 10 bytes; rollsync accepts files up to 10 bytes."
    ]


def test_a_file_within_the_limit_is_stored_once_as_it_came(
    world: World, admin: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = csv_bytes("students", [pupil("N1", "Nadia", "Newcomer", "2016-03-03")])
    monkeypatch.setattr(uploads, "MAX_UPLOAD_BYTES", len(payload))
    response = admin.post(
        _upload_url(world),
        {"file": SimpleUploadedFile("s.csv", payload), "fmt": "csv", "report": "students"},
    )
    assert response.status_code == 302
    upload = m.Upload.objects.latest("pk")
    assert (bytes(upload.data), upload.size, upload.source) == (payload, len(payload), "web")


def test_one_byte_over_is_refused_with_the_message(
    world: World, admin: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = csv_bytes("students", [pupil("N1", "Nadia", "Newcomer", "2016-03-03")])
    monkeypatch.setattr(uploads, "MAX_UPLOAD_BYTES", len(payload) - 1)
    before = everything()
    response: Any = admin.post(
        _upload_url(world),
        {"file": SimpleUploadedFile("s.csv", payload), "fmt": "csv", "report": "students"},
    )
    assert response.status_code == 413
    assert f"accepts files up to {len(payload) - 1} bytes." in response.content.decode()
    assert everything() == before


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/form-data", b"--x\r\n"),
        ("multipart/form-data; boundary=zz", b"garbage with no boundary at all"),
    ],
)
def test_a_broken_multipart_upload_is_a_400_not_a_500(
    world: World, admin: Client, content_type: str, body: bytes
) -> None:
    before = everything()
    response = admin.generic("POST", _upload_url(world), body, content_type=content_type)
    assert 400 <= response.status_code < 500
    assert everything() == before
