"""A school's uploads of one report apply in the order they arrived, whatever order
their runs reach the LA's lock: with several workers, an older file parsed more slowly
than a newer one (both taken at once) would otherwise be applied last, and the
directory would go back a day."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

from rollsync.directory import models as m
from rollsync.directory.services.sync import sync_run_execute
from tests.directory.helpers import csv_bytes, pupil
from tests.tasks import processes as p
from tests.tasks.helpers import state, store

DAY1 = date(2026, 9, 7)
DAY2 = date(2026, 9, 8)
CLASS = [
    pupil(f"2{n:03d}", f"Pupil{chr(65 + n)}", "Hart", f"2016-04-{n + 1:02d}") for n in range(18)
]
BEA = pupil("1002", "Bea", "Lund", "2016-02-03")
CARA = pupil("1003", "Cara", "Moss", "2016-03-04")


def test_an_older_upload_reaching_the_lock_after_a_newer_one_is_superseded(
    school: m.School,
) -> None:
    assert sync_run_execute(upload=store(school, [*CLASS, BEA]), as_of=DAY1).status == "applied"
    monday = store(school, [*CLASS, BEA])
    tuesday = store(school, [*CLASS, CARA])  # Bea left, Cara started
    tuesday_run = sync_run_execute(upload=tuesday, as_of=DAY2)
    assert tuesday_run.status == "applied"
    before = state()

    late = sync_run_execute(upload=monday, as_of=DAY2)

    assert late.status == "superseded"
    after = state()
    assert after.pop("runs")[-1] == {"pk": late.pk, "status": "superseded", "approved_by": ""}
    assert after.pop("uploads")[1:] == [
        {"pk": monday.pk, "outcome": "superseded"},
        {"pk": tuesday.pk, "outcome": "applied"},
    ]
    before.pop("runs"), before.pop("uploads")
    del after["audit"], before["audit"]
    assert after == before  # Cara kept, Bea not brought back
    assert late.errors == [
        {
            "row": None,
            "field": None,
            "message": f"Not applied: upload {tuesday.pk} of the same report, received after"
            f" this one, was applied first (run {tuesday_run.pk}); this older file would have"
            " taken the school back to it.",
            "source": "notice",
        }
    ]
    event = m.AuditEvent.objects.get(action="run_superseded")
    assert (event.run_id, event.school_id, event.changes) == (
        late.pk,
        school.pk,
        {"status": [None, "superseded"], "overtaken_by": tuesday_run.pk},
    )


def test_a_dry_run_of_the_older_upload_still_previews_and_another_report_is_not_overtaken(
    school: m.School,
) -> None:
    assert sync_run_execute(upload=store(school, [*CLASS, BEA]), as_of=DAY1).status == "applied"
    monday = store(school, [*CLASS, BEA])
    monday_staff = store(school, [pupil("S1", "Dee", "Ash", "1980-01-01")], report="staff")
    assert sync_run_execute(upload=store(school, [*CLASS, CARA]), as_of=DAY2).status == "applied"

    preview = sync_run_execute(upload=monday, as_of=DAY2, dry_run=True)
    assert (preview.status, preview.counts["restored"], preview.counts["unallocated"]) == (
        "preview",
        1,
        1,
    )
    # Staff is another report: a newer Students file does not overtake it.
    assert sync_run_execute(upload=monday_staff, as_of=DAY2).status == "applied"
    assert not m.AuditEvent.objects.filter(action="run_superseded").exists()


STORE = """
from rollsync.directory.services.sync import upload_store
school = m.School.objects.get(urn="100001")
upload = upload_store(
    school=school, payload=open(sys.argv[1], "rb").read(), fmt="csv", report="students",
    filename="students.csv", source="web",
)
print(json.dumps(upload.pk))
"""

QUEUE = """
from rollsync.directory.services.uploads import upload_queue
print(json.dumps(upload_queue(upload=m.Upload.objects.get(pk=int(sys.argv[1])), actor="tester")))
"""

OUTCOME = """
print(json.dumps({
    "runs": list(m.SyncRun.objects.order_by("upload_id").values_list("upload_id", "status")),
    "here": sorted(m.Allocation.objects.exclude(status="unallocated").values_list("mis_id", flat=True)),
}))
"""


def test_a_real_worker_given_the_newer_upload_first_supersedes_the_older(
    scratch_database: Callable[[], str], tmp_path: Path
) -> None:
    """Through the queue and a real `rollsync worker`: Monday's file stored first but
    delivered after Tuesday's (as when two workers take both, or a held delivery comes
    back late) is superseded, its task succeeds, and the school stays on Tuesday."""
    url, home = scratch_database(), tmp_path
    p.run(url, home, "school", "add", "--urn", "100001", "--la", "202", "--estab", "2001",
          "--name", "Hillside Primary")  # fmt: skip
    files = {}
    for day, rows in (("first", [*CLASS, BEA]), ("monday", [*CLASS, BEA]),
                      ("tuesday", [*CLASS, CARA])):  # fmt: skip
        files[day] = tmp_path / f"{day}.csv"
        files[day].write_bytes(csv_bytes("students", rows))
    uploads = {day: p.python(url, home, STORE, str(path)) for day, path in files.items()}
    log = tmp_path / "worker.log"
    worker = p.worker(url, home, log, ROLLSYNC_SCHEDULER_SECONDS="3600")
    try:
        for day in ("first", "tuesday", "monday"):  # Monday's delivered last
            task_id = p.python(url, home, QUEUE, str(uploads[day]))
            p.wait_for(f"{day}'s task", lambda t=task_id: p.stored_status(url, t) == "succeeded")
            done = p.status(url, home, task_id)
            assert done["error"] is None, done
    finally:
        p.stop(worker)
    assert worker.returncode == 0
    outcome = p.python(url, home, OUTCOME)
    assert outcome["runs"] == [
        [uploads["first"], "applied"],
        [uploads["monday"], "superseded"],
        [uploads["tuesday"], "applied"],
    ]
    assert outcome["here"] == sorted([*(r["mis_id"] for r in CLASS), "1003"])  # Cara, not Bea


def test_an_older_upload_of_the_same_file_as_the_newest_runs_as_usual(school: m.School) -> None:
    """Two identical uploads at once, the newer applied first: the older cannot take the
    school back, so it runs as any repeat of the file does (here the skip of decision
    0088), and is not superseded."""
    assert sync_run_execute(upload=store(school, [*CLASS, BEA]), as_of=DAY1).status == "applied"
    older, newer = store(school, [*CLASS, CARA]), store(school, [*CLASS, CARA])
    assert sync_run_execute(upload=newer, as_of=DAY2).counts["created"] == 1
    before = state()
    late = sync_run_execute(upload=older, as_of=DAY2)
    assert (late.status, late.counts["created"], late.counts["unallocated"]) == ("applied", 0, 0)
    assert not m.AuditEvent.objects.filter(action="run_superseded").exists()
    after = state()
    assert after.pop("runs")[-1]["status"] == "applied"
    before.pop("runs"), before.pop("uploads"), after.pop("uploads")
    del after["audit"], before["audit"]
    assert after == before
