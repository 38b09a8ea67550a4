"""`services.push`: the push credentials (shown once, stored only as a hash, replaceable)
and every push: refused on wrong credentials, a report not sendable or not accepted, an
oversized or malformed body (each storing nothing); stored once when replayed; stored,
queued and processed otherwise."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from rollsync.directory import models as m
from rollsync.directory import selectors
from rollsync.directory.secrets import unseal
from rollsync.directory.services import uploads
from rollsync.directory.services.errors import ServiceError
from rollsync.directory.services.push import (
    PushError,
    PushNotAccepted,
    PushUnauthorised,
    password_matches,
    push_credentials_issue,
)
from rollsync.directory.services.schools import school_report_set
from rollsync.directory.services.uploads import UploadTooLarge
from rollsync.directory.tasks import run_queued
from rollsync.domain.connection_status import PUSH_HINT
from rollsync.simulate.writers import render
from tests.push.conftest import Pusher, make_pusher, stored


def _everything_text(password: str) -> list[str]:
    """Every place the password could have been written: where it is found."""
    found = []
    for conn in m.MisConnection.objects.all():
        if password in json.dumps(conn.settings) or password in json.dumps(unseal(conn.secrets)):
            found.append(f"connection {conn.pk}")
        if password.encode() in bytes(conn.secrets):
            found.append(f"connection {conn.pk} secrets")
    for event in m.AuditEvent.objects.all():
        if password in event.reason or password in json.dumps(event.changes):
            found.append(f"audit {event.pk}")
    for school in m.School.objects.all():
        if password in json.dumps(selectors.connection_status(school=school), default=str):
            found.append(f"status of {school.urn}")
    return found


def test_credentials_issued_once_stored_as_a_hash(db: Any, caplog: Any) -> None:
    caplog.set_level(logging.DEBUG)
    pusher = make_pusher()
    creds, school = pusher.creds, pusher.school
    assert creds.licence_key and creds.supplier_id and len(creds.password) >= 32
    assert not creds.replaced
    conn = m.MisConnection.objects.get(school=school)
    assert conn.connector == "bromcom" and conn.state == "connected"
    assert conn.settings["licence_key"] == creds.licence_key
    assert conn.settings["supplier_id"] == creds.supplier_id
    assert conn.next_pull_at is None  # nothing is ever pulled from Bromcom
    sealed = unseal(conn.secrets)
    assert set(sealed) == {"password_hash"}
    assert sealed["password_hash"].startswith("scrypt$")
    assert password_matches(creds.password, sealed["password_hash"])
    assert _everything_text(creds.password) == []
    assert creds.password not in caplog.text
    event = m.AuditEvent.objects.get(action="push_credentials_issued")
    assert event.changes["supplier_id"] == creds.supplier_id
    # the school now runs Bromcom, which cannot send Groups & Classes
    school.refresh_from_db()
    assert school.mis == "Bromcom"
    assert not school.accepted_reports.filter(report="groups").exists()


def test_new_credentials_replace_the_old(bromcom: Pusher) -> None:
    old = bromcom.creds
    new = push_credentials_issue(school=bromcom.school, actor="admin")
    assert new.replaced
    assert {new.licence_key, new.supplier_id, new.password}.isdisjoint(
        {old.licence_key, old.supplier_id, old.password}
    )
    before = stored()
    with pytest.raises(PushUnauthorised):
        bromcom.push("students")  # the old ones
    assert stored() == before
    bromcom.creds = new
    assert not bromcom.push("students").replayed


@pytest.mark.parametrize(
    "wrong",
    [
        {"licence_key": "AAAAA-BBBBB-CCCCC-DDDDD-EEEEE"},
        {"licence_key": ""},
        {"supplier_id": "RS00000000"},
        {"password": "not-the-password"},
        {"password": ""},
        {"licence_key": "x" * 5000},
    ],
    ids=["key", "no key", "supplier", "password", "no password", "huge key"],
)
def test_wrong_credentials_store_nothing(
    bromcom: Pusher, wrong: dict[str, str], caplog: Any
) -> None:
    caplog.set_level(logging.INFO)
    before = stored()
    with pytest.raises(PushUnauthorised) as refused:
        bromcom.push("students", **wrong)
    # the same words whichever credential was wrong
    assert "licence key, supplier ID or supplier password is wrong" in refused.value.message
    assert stored() == before
    assert "push refused: wrong credentials" in caplog.text
    sent = {**{"password": bromcom.creds.password}, **wrong}
    assert all(v not in caplog.text for v in sent.values() if len(v) > 3)


def test_another_schools_password_is_refused(db: Any) -> None:
    one, two = make_pusher(1), make_pusher(2)
    before = stored()
    with pytest.raises(PushUnauthorised):
        one.push("students", password=two.creds.password)
    with pytest.raises(PushUnauthorised):
        one.push("students", supplier_id=two.creds.supplier_id, password=two.creds.password)
    assert stored() == before


def test_a_push_is_stored_queued_and_processed(bromcom: Pusher) -> None:
    receipt = bromcom.push("students")
    upload, task_id, replayed = receipt  # a tuple, as the doors use it
    assert not replayed
    assert (upload.source, upload.report, upload.fmt) == ("Bromcom", "students", "csv")
    assert bytes(m.Upload.objects.get(pk=upload.pk).data) == bromcom.file("students")
    task = m.QueuedTask.objects.get(pk=task_id)
    assert (task.kind, task.upload_id, task.status) == ("sync", upload.pk, "queued")
    conn = m.MisConnection.objects.get(school=bromcom.school)
    assert conn.last_pull_at is not None and conn.last_outcome == "received"
    assert m.AuditEvent.objects.filter(action="mis_pushed", school=bromcom.school).count() == 1
    run_queued()
    run = m.SyncRun.objects.get(upload=upload)
    assert run.status == "applied", run.errors
    current = sum(1 for p in bromcom.snap.pupils if not p.future)
    assert m.Allocation.objects.filter(school=bromcom.school, role="pupil").count() == current
    status = selectors.connection_status(school=bromcom.school)
    assert (status["light"], status["push"]) == ("green", True)
    assert status["last_pull"]["outcome"] == "received"


def test_every_report_bromcom_sends_is_stored_and_processed(bromcom: Pusher) -> None:
    for report in ("students", "staff", "contacts", "attendance"):
        bromcom.push(report)
    run_queued()
    runs = m.SyncRun.objects.filter(school=bromcom.school)
    assert sorted(r.upload.report for r in runs) == ["attendance", "contacts", "staff", "students"]
    assert {r.status for r in runs} == {"applied"}, [r.errors for r in runs]


def test_a_replay_is_stored_once(bromcom: Pusher) -> None:
    first = bromcom.push("students")
    again = bromcom.push("students")
    assert again.replayed and not first.replayed
    assert (again.upload.pk, again.task_id) == (first.upload.pk, first.task_id)
    assert m.Upload.objects.count() == 1 and m.QueuedTask.objects.count() == 1
    run_queued()
    third = bromcom.push("students")  # after it was processed: still the same push
    assert third.replayed and third.task_id == first.task_id
    run_queued()
    assert m.SyncRun.objects.count() == 1
    # the same bytes for another report are another push
    staff = bromcom.push("staff")
    assert not staff.replayed


def test_the_same_bytes_after_a_different_push_are_processed_again(bromcom: Pusher) -> None:
    """A, then B, then A: the school's data went back; the third push must be applied."""
    a = bromcom.file("students")
    b = a + a.splitlines(keepends=True)[1]  # one row listed twice: another file
    first = bromcom.push("students", payload=a)
    assert not bromcom.push("students", payload=b).replayed
    back = bromcom.push("students", payload=a)
    assert not back.replayed and back.upload.pk != first.upload.pk
    assert m.Upload.objects.count() == 3


def test_the_same_bytes_on_a_later_evening_are_processed_again(bromcom: Pusher) -> None:
    first = bromcom.push("students")
    m.Upload.objects.filter(pk=first.upload.pk).update(
        received_at=timezone.now() - timedelta(hours=13)
    )
    later = bromcom.push("students")
    assert not later.replayed and later.upload.pk != first.upload.pk


def test_an_oversized_body_stores_nothing(bromcom: Pusher, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(uploads, "upload_limit", lambda: 1000)
    before = stored()
    with pytest.raises(UploadTooLarge) as refused:
        bromcom.push("students", payload=bromcom.file("students"))  # 1.8 kB
    assert refused.value.code == "too_large" and refused.value.field == "file"
    assert "rollsync accepts files up to 1000 bytes" in refused.value.message

    def never_read() -> Any:
        raise AssertionError("a body declared too large is not read")
        yield b""

    with pytest.raises(UploadTooLarge):
        bromcom.push("students", payload=never_read(), declared_size=10**9)
    assert stored() == before


@pytest.mark.parametrize(
    ("report", "payload", "fmt", "field", "words"),
    [
        ("students", b"", "", "file", "the body is empty"),
        ("students", b"foo,bar\n1,2\n", "", "file", "cannot be read as csv"),
        ("students", b"\x00\xff\x00\x89PNG\r\n" * 20, "", "file", "cannot be read as csv"),
        ("bundle", b"PK\x03\x04 not really a zip", "oneroster", "file", "cannot be read"),
        ("pupils", None, "", "report", "unknown report 'pupils'"),
        ("students", None, "ctf", "format", "push it to bundle"),
        ("bundle", None, "", "format", "a bundle is ctf, oneroster, sds"),
    ],
    ids=["empty", "no mandatory columns", "binary", "damaged zip", "unknown", "fmt", "bundle"],
)
def test_a_malformed_push_names_the_field_and_stores_nothing(
    bromcom: Pusher, report: str, payload: bytes | None, fmt: str, field: str, words: str
) -> None:
    before = stored()
    body = bromcom.file("students") if payload is None else payload
    with pytest.raises(PushError) as refused:
        bromcom.push(report, payload=body, fmt=fmt)
    assert refused.value.code == "invalid" and refused.value.field == field
    assert words in refused.value.message, refused.value.message
    assert stored() == before


def test_a_report_not_accepted_is_refused_with_the_reason(bromcom: Pusher) -> None:
    school_report_set(school=bromcom.school, report="staff_future", accepted=False, actor="a")
    before = stored()
    with pytest.raises(PushNotAccepted) as refused:
        bromcom.push("staff_future")
    assert "has not accepted the Staff (future) report" in refused.value.message
    assert refused.value.field == "report"
    with pytest.raises(PushNotAccepted) as groups:
        bromcom.push("groups", payload=b"group_mis_id,group_name\n")
    assert "Groups & Classes is unavailable for Bromcom" in groups.value.message
    assert stored() == before


def test_a_bundle_is_one_push(bromcom: Pusher) -> None:
    (bundle,) = render(bromcom.snap, "oneroster").values()  # the one zip
    receipt = bromcom.push("bundle", payload=bundle, fmt="oneroster")
    assert (receipt.upload.report, receipt.upload.fmt) == ("", "oneroster")
    assert bromcom.push("bundle", payload=bundle, fmt="oneroster").replayed
    run_queued()
    run = m.SyncRun.objects.get(upload=receipt.upload)
    assert run.status == "applied", run.errors
    # Groups & Classes in the bundle is dropped: the school cannot accept it from Bromcom
    assert not m.Group.objects.filter(school=bromcom.school).exists()


def test_a_refusal_is_a_service_error_every_door_translates(bromcom: Pusher) -> None:
    with pytest.raises(ServiceError):
        bromcom.push("students", password="nope")


def test_the_light_turns_yellow_then_red_without_pushes(bromcom: Pusher) -> None:
    conn = m.MisConnection.objects.get(school=bromcom.school)
    assert selectors.connection_status(school=bromcom.school)["light"] == "green"
    week_ago = timezone.now() - timedelta(days=7)
    # credentials issued a week ago and never used
    m.MisConnection.objects.filter(pk=conn.pk).update(
        settings={**conn.settings, "credentials_issued_at": week_ago.isoformat()}
    )
    status = selectors.connection_status(school=bromcom.school)
    assert (status["light"], status["state"]) == ("red", "push overdue")
    assert "since the push credentials were issued" in status["status"]
    assert PUSH_HINT in status["status"]
    # a push a week ago, none since
    m.MisConnection.objects.filter(pk=conn.pk).update(last_pull_at=week_ago)
    status = selectors.connection_status(school=bromcom.school)
    assert status["light"] == "red"
    assert "No push from Bromcom for 5 school days" in status["status"]
    bromcom.push("students")
    assert selectors.connection_status(school=bromcom.school)["light"] == "green"


def test_a_body_cut_short_on_the_way_is_refused_by_its_checksum(bromcom: Pusher) -> None:
    import hashlib

    whole = bromcom.file("students")
    sent = hashlib.sha256(whole).hexdigest()
    before = stored()
    with pytest.raises(PushError) as refused:
        bromcom.push("students", payload=whole[: len(whole) // 2], checksum=sent)
    assert refused.value.field == "checksum" and "cut short" in refused.value.message
    assert stored() == before
    assert not bromcom.push("students", payload=whole, checksum=sent.upper()).replayed


def test_issuing_replaces_another_mis_connection(db: Any) -> None:
    from rollsync.directory.secrets import seal
    from tests.push.conftest import bromcom_school

    school = bromcom_school()
    m.MisConnection.objects.create(
        school=school,
        connector="isams",
        settings={"url": "https://mis.example", "client_id": "c"},
        secrets=seal({"client_secret": "s3cret"}),
        state="connected",
        schedule="0 2 * * *",
        next_pull_at=timezone.now(),
        cursors={"students": {"cursor": {}, "upload": 1}},
        last_pull_at=timezone.now(),
        last_outcome="applied",
    )
    issued = push_credentials_issue(school=school, actor="admin")
    assert not issued.replaced
    conn = m.MisConnection.objects.get(school=school)
    assert conn.connector == "bromcom" and "url" not in conn.settings
    assert set(unseal(conn.secrets)) == {"password_hash"}
    assert (conn.next_pull_at, conn.cursors, conn.last_pull_at) == (None, {}, None)


def test_a_school_that_changed_mis_takes_no_more_pushes(bromcom: Pusher) -> None:
    from rollsync.directory.services.schools import school_mis_set

    school_mis_set(school=bromcom.school, mis="Arbor", actor="admin")
    before = stored()
    with pytest.raises(PushNotAccepted) as refused:
        bromcom.push("students")
    assert "runs Arbor now, not Bromcom" in refused.value.message
    assert stored() == before
