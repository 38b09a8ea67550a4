"""Scheduled exports: when a schedule is due and that it is queued once a period; a delta
chain with no gap and no overlap; the scheduled bulk file read back as the same directory;
a refusal recorded in words with nothing written; keep-N pruning; an LA's schedule holds
only its own LA; and the commands."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from django_q.models import OrmQ, Schedule

from rollsync.directory import models as m
from rollsync.directory.services.schools import school_add
from rollsync.directory.tasks import run_queued
from rollsync.downstream.models import ExportSchedule
from rollsync.downstream.services import (
    ExportScheduleError,
    export_schedule_create,
    export_schedule_run,
    exports_queue_due,
    schedule_files,
)
from tests.directory.helpers import Cli
from tests.export.helpers import directory_view, fresh_school, import_bundle, wipe_directory
from tests.export.test_roundtrip import ONEROSTER_FIELDS
from tests.export.test_scope_and_delta import _students_changed
from tests.safety.directory import load_baseline, run_upload
from tests.safety.exports import school_exports

pytestmark = pytest.mark.django_db

LONDON = ZoneInfo("Europe/London")


def _files(path: str | Path) -> dict[str, list[dict[str, str]]]:
    with zipfile.ZipFile(path) as bundle:
        return {
            name: list(csv.DictReader(io.StringIO(bundle.read(name).decode("utf-8"))))
            for name in bundle.namelist()
        }


def _users(path: str | Path) -> set[str]:
    return {row["sourcedId"] for row in _files(path)["users.csv"]}


def _placed_uids(school: m.School) -> set[str]:
    placed = m.Allocation.objects.filter(school=school).exclude(status="unallocated")
    return {str(u) for u in placed.values_list("account__uid", flat=True)}


def _schedule(dest: Path, **kw: Any) -> ExportSchedule:
    args: dict[str, Any] = {
        "fmt": "oneroster",
        "kind": "bulk",
        "schedule": "0 2 * * *",
        "destination": str(dest),
        "keep": 5,
        "actor": "test",
        **kw,
    }
    return export_schedule_create(**args)


def test_a_due_schedule_is_queued_once_a_period_in_the_las_time(tmp_path: Path) -> None:
    assert Schedule.objects.filter(func="rollsync.downstream.tasks.exports_due").count() == 1
    school = school_add(urn="100001", la_code="202", estab="2001", name="Hillside", la_name="N")
    made = _schedule(tmp_path, school=school, schedule="30  18 * * 1-5")
    assert made.schedule == "30 18 * * 1-5"
    first = made.next_run_at
    assert first is not None and first > timezone.now()
    local = first.astimezone(LONDON)
    assert (local.hour, local.minute, local.weekday() < 5) == (18, 30, True)

    assert exports_queue_due(now=first - timezone.timedelta(seconds=1)) == []
    assert exports_queue_due(now=first) == [made.pk]
    assert exports_queue_due(now=first) == []  # once a period
    assert OrmQ.objects.count() == 1
    made.refresh_from_db()
    assert made.next_run_at is not None and made.next_run_at > first
    assert made.next_run_at.astimezone(LONDON).time() == local.time()
    # the queued run finds an empty school: recorded, nothing written, and no error raised
    assert run_queued() == 1
    made.refresh_from_db()
    assert made.last_status == "failed" and "holds nobody" in made.last_error
    assert list(tmp_path.iterdir()) == []


def test_a_delta_chain_has_no_gap_and_no_overlap(tmp_path: Path) -> None:
    ex = school_exports("csv")
    school = load_baseline(ex)
    made = _schedule(tmp_path, school=school, kind="delta")

    first = export_schedule_run(schedule_pk=made.pk, actor="test")
    assert (first.status, first.kind, first.since) == ("succeeded", "bulk", None)
    assert "-oneroster-bulk-" in first.file and Path(first.file).parent == tmp_path
    assert _users(first.file) == _placed_uids(school)

    pupils = list(m.Allocation.objects.filter(school=school, role="pupil").order_by("mis_id"))
    renamed = pupils[1]
    students = next(u for u in ex.uploads(1) if u.report == "students")
    changed = _students_changed(students, drop="", rename=renamed.mis_id)
    run = run_upload(school, changed, ex.dates[1])
    assert run.status == m.SyncRun.Status.APPLIED, (run.status, run.errors, run.holds)

    second = export_schedule_run(schedule_pk=made.pk, actor="test")
    assert (second.status, second.kind, second.since) == ("succeeded", "delta", first.until)
    assert "-oneroster-delta-" in second.file
    users = {row["sourcedId"]: row for row in _files(second.file)["users.csv"]}
    assert set(users) == {str(renamed.account.uid)}
    assert users[str(renamed.account.uid)]["preferredGivenName"] == "Zed"

    third = export_schedule_run(schedule_pk=made.pk, actor="test")
    assert (third.status, third.kind, third.since) == ("succeeded", "delta", second.until)
    assert _users(third.file) == set() and third.counts["people"] == 0
    assert [p.name for p in schedule_files(made)] == [
        Path(f).name for f in (first.file, second.file, third.file)
    ]
    made.refresh_from_db()
    assert made.covered_until == third.until and made.last_status == "succeeded"
    assert [
        e.action for e in m.AuditEvent.objects.filter(action__startswith="export_schedule")
    ] == ["export_schedule_added"] + ["export_schedule_written"] * 3
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no partial file


def test_the_scheduled_bulk_file_reads_back_as_the_same_directory(tmp_path: Path) -> None:
    ex = school_exports("csv")
    school = load_baseline(ex)
    before = directory_view(school, person_fields=ONEROSTER_FIELDS)
    made = _schedule(tmp_path, school=school)
    done = export_schedule_run(schedule_pk=made.pk, actor="test")
    assert done.status == "succeeded", done.error
    payload = Path(done.file).read_bytes()

    wipe_directory()
    again = fresh_school(ex)
    run = import_bundle(again, payload, "oneroster", ex.dates[0])
    assert run.status == m.SyncRun.Status.APPLIED and run.errors == []
    after = directory_view(again, person_fields=ONEROSTER_FIELDS)
    assert after == before


def test_a_refusal_is_recorded_in_words_writes_nothing_and_is_tried_again(
    tmp_path: Path,
) -> None:
    ex = school_exports("csv")
    school = load_baseline(ex)
    empty = school_add(urn="100009", la_code=school.la.code, estab="2999", name="Empty")
    nobody = _schedule(tmp_path, school=empty)
    done = export_schedule_run(schedule_pk=nobody.pk, actor="test")
    assert (done.status, done.file, done.counts) == ("failed", "", {})
    assert done.error.startswith("nothing was written: the directory holds nobody at school")
    nobody.refresh_from_db()
    assert (nobody.last_status, nobody.last_error, nobody.covered_until) == (
        "failed",
        done.error,
        None,
    )
    assert list(tmp_path.iterdir()) == []
    event = m.AuditEvent.objects.get(action="export_schedule_failed")
    assert event.school == empty and done.error in event.reason

    gone = tmp_path / "gone"
    gone.mkdir()
    delta = _schedule(gone, school=school, kind="delta")
    gone.rmdir()
    failed = export_schedule_run(schedule_pk=delta.pk, actor="test")
    assert failed.status == "failed" and f"the folder {gone} is not there" in failed.error
    delta.refresh_from_db()
    assert delta.covered_until is None and not gone.exists()
    gone.mkdir()  # put back: the next period writes the bulk it owes
    again = export_schedule_run(schedule_pk=delta.pk, actor="test")
    assert (again.status, again.kind) == ("succeeded", "bulk")
    delta.refresh_from_db()
    assert (delta.last_status, delta.last_error) == ("succeeded", "")
    assert [p.name for p in gone.iterdir()] == [Path(again.file).name]


def test_files_beyond_keep_are_removed_and_no_others(tmp_path: Path) -> None:
    ex = school_exports("csv")
    school = load_baseline(ex)
    made = _schedule(tmp_path, school=school, fmt="sds", keep=2)
    others = [
        tmp_path / "notes.txt",
        tmp_path / "rollsync-school-999999-sds-bulk-20200101T000000.000000Z.zip",
        tmp_path / f"rollsync-school-{school.urn}-oneroster-bulk-20200101T000000.000000Z.zip",
    ]
    for other in others:
        other.write_bytes(b"not ours")
    runs = [export_schedule_run(schedule_pk=made.pk, actor="test") for _ in range(3)]
    assert [r.status for r in runs] == ["succeeded"] * 3
    assert runs[0].removed == runs[1].removed == ()
    assert runs[2].removed == (Path(runs[0].file).name,)
    assert sorted(tmp_path.iterdir()) == sorted([*others, Path(runs[1].file), Path(runs[2].file)])
    assert all(o.read_bytes() == b"not ours" for o in others)


def test_an_las_schedule_holds_only_that_la(tmp_path: Path) -> None:
    ours = load_baseline(school_exports("csv"))
    theirs = load_baseline(school_exports("ctf"))  # another LA
    assert ours.la_id != theirs.la_id
    made = _schedule(tmp_path, la=theirs.la)
    done = export_schedule_run(schedule_pk=made.pk, actor="test")
    assert done.status == "succeeded" and f"rollsync-la-{theirs.la.code}-" in done.file
    files = _files(done.file)
    assert {r["sourcedId"] for r in files["orgs.csv"]} == {f"LA{theirs.la.code}", theirs.urn}
    assert _users(done.file) == _placed_uids(theirs)
    assert not _users(done.file) & _placed_uids(ours)


def test_bad_schedules_are_refused_naming_the_field(tmp_path: Path) -> None:
    school = school_add(urn="100001", la_code="202", estab="2001", name="Hillside", la_name="N")
    cases = [
        ({"schedule": "every night"}, "schedule"),
        ({"destination": "exports/here"}, "destination"),
        ({"destination": str(tmp_path / "missing")}, "destination"),
        ({"keep": 0}, "keep"),
        ({"fmt": "csv"}, "format"),
        ({"fmt": "sds", "kind": "delta"}, "kind"),  # SDS would end everyone not in it
    ]
    for change, field in cases:
        with pytest.raises(ExportScheduleError) as refused:
            _schedule(tmp_path, school=school, **change)
        assert refused.value.field == field, (change, str(refused.value))
    _schedule(tmp_path, school=school)
    with pytest.raises(ExportScheduleError, match="already writes") as clash:
        _schedule(tmp_path, school=school, kind="delta")
    assert clash.value.code == "conflict"
    assert ExportSchedule.objects.count() == 1
    assert m.AuditEvent.objects.filter(action="export_schedule_added").count() == 1


def test_the_commands_add_list_run_and_remove(tmp_path: Path) -> None:
    ex = school_exports("csv")
    school = load_baseline(ex)
    cli = Cli()
    missing = cli.json(
        "export", "schedule", "add", "--school", "999999", "--format", "sds",
        "--at", "0 2 * * *", "--to", str(tmp_path), expect=1,
    )  # fmt: skip
    assert "no school with URN 999999" in missing["error"]
    bad = cli.json(
        "export", "schedule", "add", "--la", school.la.code, "--format", "sds",
        "--at", "nightly", "--to", str(tmp_path), expect=2,
    )  # fmt: skip
    assert "is not a schedule" in bad["error"] and not ExportSchedule.objects.exists()
    added = cli.json(
        "export", "schedule", "add", "--school", school.urn, "--format", "oneroster",
        "--kind", "delta", "--at", "0 2 * * *", "--to", str(tmp_path), "--keep", "3",
    )  # fmt: skip
    assert (added["school"], added["kind"], added["keep"]) == (school.urn, "delta", 3)
    [listed] = cli.json("export", "schedule", "list", "--la", school.la.code)
    assert listed["id"] == added["id"] and listed["last_status"] is None
    ran = cli.json("export", "schedule", "run", str(added["id"]))
    assert (ran["status"], ran["kind"]) == ("succeeded", "bulk")
    assert [p.name for p in tmp_path.iterdir()] == [Path(ran["file"]).name]
    assert "last succeeded" in cli("export", "schedule", "list").output
    assert cli.json("export", "schedule", "remove", str(added["id"])) == {
        "id": added["id"],
        "removed": True,
    }
    assert not ExportSchedule.objects.exists() and Path(ran["file"]).exists()
    gone = cli.json("export", "schedule", "run", str(added["id"]), expect=1)
    assert f"no export schedule {added['id']}" in gone["error"]
    # the one-off export is still `rollsync export --format … --out …`
    out = tmp_path / "once.zip"
    once = cli.json("export", "--school", school.urn, "--format", "sds", "--out", str(out))
    assert once["mode"] == "bulk" and out.exists()
    assert json.loads(cli("export", "schedule", "list", "--json").stdout) == []
