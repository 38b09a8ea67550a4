"""Retention: an old upload's file goes; its row, checksum, size and runs stay, and every
page and command that shows it still works and says the file was purged."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_q.models import Schedule

from rollsync.directory import models as m
from rollsync.directory import tasks
from rollsync.directory.services.uploads import upload_store
from rollsync.ops.services import uploads_purge_expired
from tests.access.helpers import DAY3, World, csv_bytes, everything, make_user
from tests.directory.helpers import Cli
from tests.web.conftest import run_worker


def age_all(days: int) -> None:
    m.Upload.objects.update(received_at=timezone.now() - timedelta(days=days))


def files() -> dict[int, bytes]:
    return {pk: bytes(d) for pk, d in m.Upload.objects.values_list("pk", "data")}


def kept_forever() -> list[dict[str, Any]]:
    """What retention must never change: each upload's row but its bytes, and each run."""
    return [
        list(
            m.Upload.objects.order_by("pk").values(
                "pk",
                "school",
                "source",
                "fmt",
                "report",
                "filename",
                "size",
                "sha256",
                "received_at",
                "outcome",
            )
        ),
        list(m.SyncRun.objects.order_by("pk").values()),
    ]


def expected_purge(world: World) -> set[int]:
    """Of the world's uploads: all but each feed's latest, and the held run's."""
    latest = {m.Upload.objects.filter(school=s).latest("pk").pk for s in m.School.objects.all()}
    held = set(m.SyncRun.objects.filter(status="held").values_list("upload", flat=True))
    return set(m.Upload.objects.values_list("pk", flat=True)) - latest - held


def test_old_files_purged_their_rows_checksums_and_runs_kept(world: World) -> None:
    age_all(100)
    before, before_files = kept_forever(), files()
    purge = expected_purge(world)
    assert len(purge) == 4  # day 1 and day 2 of the home and the foreign school
    result = uploads_purge_expired(actor="test", days=90)
    assert set(result.purged) == purge
    assert result.bytes == sum(len(before_files[pk]) for pk in purge) > 0
    assert kept_forever() == before
    after = files()
    for pk, data in before_files.items():
        assert after[pk] == (b"" if pk in purge else data), pk
    stamped = dict(m.Upload.objects.values_list("pk", "purged_at"))
    assert {pk for pk, at in stamped.items() if at is not None} == purge
    events = m.AuditEvent.objects.filter(action="upload_purged").order_by("pk")
    assert [(e.school_id, e.actor) for e in events] == [
        (m.Upload.objects.get(pk=pk).school_id, "test") for pk in sorted(purge)
    ]
    assert "purged after 90 days" in events[0].reason


def test_a_purged_files_listing_goes_with_it(world: World) -> None:
    # A OneRoster upload's listing (who it lists, for the next read in part) names its
    # people: purged with the bytes, kept for the uploads kept.
    m.UploadListing.objects.bulk_create(
        [
            m.UploadListing(upload_id=pk, data=b"listing")
            for pk in m.Upload.objects.values_list("pk", flat=True)
        ]
    )
    age_all(100)
    purge = expected_purge(world)
    assert purge
    uploads_purge_expired(actor="test", days=90)
    kept = set(m.UploadListing.objects.values_list("upload_id", flat=True))
    assert kept == set(m.Upload.objects.values_list("pk", flat=True)) - purge


def test_recent_files_kept(world: World) -> None:
    age_all(89)
    before = files()
    assert uploads_purge_expired(actor="test", days=90).purged == []
    assert files() == before
    assert not m.AuditEvent.objects.filter(action="upload_purged").exists()


def test_the_setting_is_the_default_period(world: World, settings: Any) -> None:
    age_all(40)
    settings.ROLLSYNC_UPLOAD_RETENTION_DAYS = 45
    assert uploads_purge_expired(actor="test").purged == []
    settings.ROLLSYNC_UPLOAD_RETENTION_DAYS = 30
    assert set(uploads_purge_expired(actor="test").purged) == expected_purge(world)


def test_dry_run_changes_nothing(world: World) -> None:
    age_all(100)
    before, before_files = everything(), files()
    result = uploads_purge_expired(actor="test", days=90, dry_run=True)
    assert set(result.purged) == expected_purge(world)
    assert everything() == before
    assert files() == before_files
    assert not m.Upload.objects.filter(purged_at__isnull=False).exists()


def test_purging_twice_purges_once(world: World) -> None:
    age_all(100)
    first = uploads_purge_expired(actor="test", days=90)
    audit = m.AuditEvent.objects.count()
    second = uploads_purge_expired(actor="test", days=90)
    assert first.purged and second.purged == []
    assert m.AuditEvent.objects.count() == audit


def test_uploads_something_still_needs_are_kept(world: World) -> None:
    school = world.home.school
    unprocessed = upload_store(  # no run yet: it may still be resumed
        school=school,
        payload=csv_bytes("staff", []),
        fmt="csv",
        report="staff",
        filename="staff.csv",
        source="web",
    )
    newer = upload_store(  # makes the unprocessed staff upload not the latest of its feed
        school=school,
        payload=csv_bytes("staff", []) + b"\n",
        fmt="csv",
        report="staff",
        filename="staff2.csv",
        source="web",
    )
    day1 = m.Upload.objects.filter(school=school).order_by("pk").first()
    assert day1 is not None
    task_id = tasks.enqueue_sync(day1.pk, as_of=DAY3, actor="test")  # queued again
    age_all(100)
    purged = set(uploads_purge_expired(actor="test", days=90).purged)
    assert not purged & {unprocessed.pk, newer.pk, day1.pk, world.home.held.upload_id}
    assert bytes(m.Upload.objects.get(pk=day1.pk).data)
    assert m.QueuedTask.objects.get(pk=task_id).status == "queued"


def test_a_purged_upload_queued_again_fails_clearly_and_changes_nothing(world: World) -> None:
    age_all(100)
    uploads_purge_expired(actor="test", days=90)
    old = m.Upload.objects.filter(school=world.home.school, purged_at__isnull=False).first()
    assert old is not None
    task_id = tasks.enqueue_sync(old.pk, as_of=DAY3, actor="test")
    before = everything()
    run_worker()
    task = m.QueuedTask.objects.get(pk=task_id)
    assert task.status == "failed"
    assert f"upload {old.pk}'s file was purged on" in (task.error or "")
    after = everything()
    assert after.pop("tasks") == before.pop("tasks")
    assert after == before


def test_pages_show_a_purged_upload_and_say_so(world: World, client: Client) -> None:
    age_all(100)
    uploads_purge_expired(actor="test", days=90)
    old = m.Upload.objects.filter(school=world.home.school, purged_at__isnull=False).first()
    assert old is not None
    run = old.runs.get()
    client.force_login(make_user("school_admin", world))
    urn = world.home.school.urn
    history = client.get(reverse("web:upload_history", kwargs={"urn": urn}))
    assert history.status_code == 200
    body = history.content.decode()
    assert body.count("file purged") == 2
    assert old.sha256[:12] in body
    detail = client.get(reverse("web:run_detail", kwargs={"urn": urn, "run_id": run.pk}))
    assert detail.status_code == 200
    text = detail.content.decode()
    assert "the file itself was purged" in text and old.sha256 in text
    for name in ("bulk_results", "runs"):
        assert client.get(reverse(f"web:{name}", kwargs={"urn": urn})).status_code == 200
    # a kept upload's run says nothing of the kind
    kept = client.get(reverse("web:run_detail", kwargs={"urn": urn, "run_id": world.home.held.pk}))
    assert "purged" not in kept.content.decode()


def test_commands_show_a_purged_upload_and_say_so(world: World) -> None:
    age_all(100)
    cli = Cli()
    dry = cli.json("retention", "run", "--dry-run", "--days", "90")
    assert set(dry["uploads"]) == expected_purge(world) and dry["dry_run"] is True
    assert not m.Upload.objects.filter(purged_at__isnull=False).exists()
    out = cli("retention", "run", "--days", "90").output
    assert "purged the files of 4 upload(s)" in out
    urn = world.home.school.urn
    rows = cli.json("runs", "list", "--school", urn)
    purged = {r["upload"] for r in rows if r["file_purged_at"]}
    assert purged == set(
        m.Upload.objects.filter(school__urn=urn, purged_at__isnull=False).values_list(
            "pk", flat=True
        )
    )
    assert "(file purged " in cli("runs", "list", "--school", urn).output
    run = m.SyncRun.objects.filter(upload_id__in=purged).first()
    assert run is not None
    assert cli.json("runs", "show", str(run.pk))["file_purged_at"]
    assert "file purged" in cli("runs", "show", str(run.pk)).output
    refused = cli("retention", "run", "--days", "0", expect=2)
    assert "0 is not in the range" in refused.output


@pytest.mark.django_db
def test_the_daily_job_is_scheduled_once_and_purges() -> None:
    [job] = Schedule.objects.filter(func="rollsync.directory.tasks.purge_expired_uploads")
    assert (job.schedule_type, job.repeats) == ("D", -1)
    assert tasks.purge_expired_uploads() == 0


def test_the_daily_job_purges(world: World) -> None:
    age_all(400)
    assert tasks.purge_expired_uploads() == len(expected_purge(world)) == 4


def test_purged_in_batches_as_in_one(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from rollsync.ops import services

    monkeypatch.setattr(services, "BATCH", 1)
    age_all(100)
    result = uploads_purge_expired(actor="test", days=90)
    assert sorted(result.purged) == sorted(expected_purge(world))
    assert m.AuditEvent.objects.filter(action="upload_purged").count() == 4
