"""Uploads whose import was cut short (issue 7 item 14), in process: the worker picks
them up when it starts, a dry run stays a dry run, an upload overtaken by a later one
or with no record of what was asked is marked abandoned with why, and the Upload
History (command, API) shows it. None stays "received"."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from django.utils import timezone

from rollsync.api.services import api_token_create
from rollsync.directory import models as m
from rollsync.directory import tasks
from rollsync.directory.services.uploads import (
    ABANDONED,
    upload_receive_for_import,
    uploads_resume,
    uploads_stale,
)
from tests.directory.helpers import Cli, csv_bytes, pupil
from tests.tasks.helpers import counts, state, store

DAY1 = date(2026, 9, 7)
TWO = [pupil("1001", "Amir", "Khan", "2016-01-02"), pupil("1002", "Bea", "Lund", "2016-02-03")]


def cut_short(school: m.School, *, minutes_ago: float = 20, **intent: Any) -> m.Upload:
    """An upload as `rollsync import` stores it, whose process then died."""
    upload = upload_receive_for_import(
        school=school,
        payload=csv_bytes("students", TWO),
        fmt="csv",
        report="students",
        filename="students.csv",
        **intent,
    )
    m.Upload.objects.filter(pk=upload.pk).update(
        received_at=timezone.now() - timedelta(minutes=minutes_ago)
    )
    return upload


def test_the_worker_picks_up_a_cut_short_import_when_it_starts(
    school: m.School, other_school: m.School
) -> None:
    upload = cut_short(school, as_of=DAY1)
    fresh = cut_short(other_school, minutes_ago=1)  # its import may still be running
    assert [u.pk for u in uploads_stale()] == [upload.pk]
    assert tasks.resume_stale_uploads(actor="worker") == 1
    run = m.SyncRun.objects.get(upload=upload)
    assert (run.status, run.as_of, run.dry_run, run.counts) == (
        "applied",
        DAY1,
        False,
        counts(created=2),
    )
    assert m.Upload.objects.get(pk=upload.pk).outcome == "applied"
    assert m.Upload.objects.get(pk=fresh.pk).outcome == "import"
    assert not m.SyncRun.objects.filter(upload=fresh).exists()
    # A second pick-up finds nothing to do.
    before = state()
    assert tasks.resume_stale_uploads(actor="worker") == 0
    assert state() == before


def test_worker_main_resumes_before_it_runs_the_queue(
    school: m.School, monkeypatch: pytest.MonkeyPatch
) -> None:
    upload = cut_short(school)
    seen: list[int] = []
    monkeypatch.setattr(
        tasks,
        "run_queued",
        lambda **kw: seen.append(m.SyncRun.objects.filter(upload=upload).count()),
    )
    assert tasks.worker_main(["--batch"]) == 0
    assert seen == [1]


@pytest.mark.django_db
def test_the_resume_schedule_is_installed_by_the_migrations() -> None:
    from django_q.models import Schedule

    [schedule] = Schedule.objects.filter(func__endswith="resume_stale_uploads")
    assert (
        schedule.name,
        schedule.func,
        schedule.schedule_type,
        schedule.minutes,
        schedule.repeats,
    ) == (tasks.SCHEDULE_RESUME, "rollsync.directory.tasks.resume_stale_uploads", "I", 5, -1)


def test_a_running_worker_resumes_cut_short_uploads_on_its_schedule(school: m.School) -> None:
    """Not only when the worker starts: the schedule queues the pick-up every 5 minutes."""
    import importlib

    from django.apps import apps
    from django_q.models import Schedule

    migration = importlib.import_module(
        "rollsync.directory.migrations.0004_schedule_resume_stale_uploads"
    )
    migration.add(apps, None)  # this test's database was emptied: install it again
    upload = cut_short(school, as_of=DAY1)
    schedule = Schedule.objects.get(name=tasks.SCHEDULE_RESUME)
    Schedule.objects.filter(pk=schedule.pk).update(next_run=timezone.now() + timedelta(minutes=1))
    tasks.run_schedules()  # not due yet: nothing queued
    assert tasks.run_queued() == 0
    assert m.Upload.objects.get(pk=upload.pk).outcome == "import 2026-09-07"
    Schedule.objects.filter(pk=schedule.pk).update(next_run=timezone.now() - timedelta(seconds=1))
    tasks.run_schedules()
    assert tasks.run_queued() == 1
    assert m.SyncRun.objects.get(upload=upload).counts == counts(created=2)
    assert m.Upload.objects.get(pk=upload.pk).outcome == "applied"
    schedule.refresh_from_db()
    # The next pick-up is 5 minutes on, and nothing else is due now.
    assert timedelta(minutes=4) < schedule.next_run - timezone.now() <= timedelta(minutes=5)
    tasks.run_schedules()
    assert tasks.run_queued() == 0


def test_a_dry_run_stays_a_dry_run(school: m.School) -> None:
    upload = cut_short(school, dry_run=True)
    before = state()
    [done] = uploads_resume(actor="tester")
    assert done.run is not None and (done.run.status, done.run.dry_run) == ("preview", True)
    assert m.Account.objects.count() == 0
    assert state()["accounts"] == before["accounts"]
    assert m.Upload.objects.get(pk=upload.pk).outcome == "preview"


def test_an_upload_overtaken_by_a_later_one_is_abandoned_with_why(school: m.School) -> None:
    upload = cut_short(school)
    later = store(school, TWO[:1])
    before_accounts = m.Account.objects.count()
    [done] = uploads_resume(actor="tester")
    assert done.run is None
    assert done.abandoned == (
        f"Abandoned: upload {upload.pk} (students.csv) was received but its processing was"
        f" cut short, and it was not processed again because a later upload ({later.pk}) of"
        " the same report arrived first. Nothing was changed by it; upload the file again if"
        " it is still wanted."
    )
    assert m.Upload.objects.get(pk=upload.pk).outcome == ABANDONED
    assert not m.SyncRun.objects.filter(upload=upload).exists()
    assert m.Account.objects.count() == before_accounts
    event = m.AuditEvent.objects.get(action="upload_abandoned")
    assert (event.actor, event.reason, event.changes) == (
        "tester",
        done.abandoned,
        {"upload": upload.pk},
    )


def test_an_upload_with_no_record_of_what_was_asked_is_abandoned(school: m.School) -> None:
    upload = store(school, TWO)  # stored by a door that records no intent
    m.Upload.objects.filter(pk=upload.pk).update(received_at=timezone.now() - timedelta(minutes=30))
    [done] = uploads_resume(actor="tester")
    assert done.run is None
    assert "there is no record of whether it was to be a dry run" in (done.abandoned or "")
    assert m.Upload.objects.get(pk=upload.pk).outcome == ABANDONED
    assert m.Account.objects.count() == 0


def test_the_stale_period_is_a_setting(school: m.School, settings: Any) -> None:
    upload = cut_short(school, minutes_ago=5)
    assert uploads_stale() == []
    settings.ROLLSYNC_UPLOAD_STALE_MINUTES = 4
    assert [u.pk for u in uploads_stale()] == [upload.pk]


def test_upload_history_shows_an_abandoned_upload(school: m.School) -> None:
    upload = cut_short(school)
    store(school, TWO)
    [done] = uploads_resume(actor="tester")
    rows = Cli().json("runs", "list", "--school", school.urn)
    [row] = [r for r in rows if r["upload"] == upload.pk]
    assert (row["run"], row["status"], row["message"]) == (None, "abandoned", done.abandoned)
    _, secret = api_token_create(name="t", school=school)
    from django.test import Client

    listed = Client().get(
        f"/api/v1/schools/{school.urn}/uploads", headers={"Authorization": f"Bearer {secret}"}
    )
    [shown] = [u for u in listed.json()["items"] if u["id"] == upload.pk]
    assert shown["outcome"] == "abandoned"
    assert shown["runs"] == []


def test_resume_command_says_what_it_did(school: m.School) -> None:
    upload = cut_short(school)
    out = Cli()("uploads", "resume").output
    run = m.SyncRun.objects.get(upload=upload)
    assert out.splitlines()[0] == f"upload {upload.pk} ({school.urn}): resumed as run {run.pk}"
    assert Cli()("uploads", "resume").output == "no upload is waiting with no run\n"


def test_an_upload_waiting_on_the_queue_is_the_queues(school: m.School) -> None:
    """An API upload is "queued" with its task (maybe as a dry run): resuming it would
    run it twice, or for real."""
    from rollsync.directory.services.uploads import upload_receive

    upload, _task = upload_receive(
        school=school,
        payload=csv_bytes("students", TWO),
        fmt="csv",
        report="students",
        filename="s.csv",
        actor="api",
        source="api",
        dry_run=True,
    )
    m.Upload.objects.filter(pk=upload.pk).update(received_at=timezone.now() - timedelta(hours=2))
    assert m.Upload.objects.get(pk=upload.pk).outcome == "queued"
    before = state()
    assert uploads_resume(actor="tester") == []
    assert state() == before


def test_a_web_upload_stored_but_never_queued_is_synced(school: m.School) -> None:
    from rollsync.directory.services.uploads import upload_store

    upload = upload_store(
        school=school, payload=csv_bytes("students", TWO), fmt="csv", report="students",
        source="web",
    )  # fmt: skip
    m.Upload.objects.filter(pk=upload.pk).update(received_at=timezone.now() - timedelta(hours=2))
    [done] = uploads_resume(actor="tester")
    assert done.run is not None and (done.run.status, done.run.dry_run) == ("applied", False)
    assert done.run.counts == counts(created=2)


def test_the_outcome_while_an_import_runs_says_what_was_asked(school: m.School) -> None:
    assert cut_short(school).outcome == "import"
    assert cut_short(school, dry_run=True, as_of=DAY1).outcome == "preview 2026-09-07"
