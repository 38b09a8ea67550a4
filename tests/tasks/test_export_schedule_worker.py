"""A scheduled export under two real `rollsync worker` processes: the every-minute job
that queues due export schedules runs on the workers' scheduler (here every 2 seconds,
test-only, as in test_schedule_workers.py), each due schedule is exported exactly once,
the file is whole (no `.partial` left) and holds the school's people, and the schedule
records it. Until the schedule is due again, further passes write nothing."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable
from pathlib import Path

from tests.tasks import processes as p

SET_UP = """
from datetime import date
from django.utils import timezone
from django_q.models import Schedule
from rollsync.directory.services.schools import school_add
from rollsync.directory.services.sync import sync_run_execute
from rollsync.downstream.models import ExportSchedule
from rollsync.downstream.services import export_schedule_create
from tests.directory.helpers import pupil
from tests.tasks.helpers import store

school = school_add(urn="100001", la_code="202", estab="2001", name="Hillside", la_name="N")
upload = store(school, [pupil("1001", "Amir", "Khan", "2016-01-02"),
                        pupil("1002", "Bea", "Lund", "2016-02-03")])
run = sync_run_execute(upload=upload, dry_run=False, as_of=date(2026, 9, 7), actor="test")
made = export_schedule_create(school=school, fmt="oneroster", kind="bulk",
                              schedule="0 2 * * *", destination=sys.argv[1], keep=5,
                              actor="test")
# Due now, once: the next time its cron gives is tomorrow at 02:00.
ExportSchedule.objects.filter(pk=made.pk).update(next_run_at=timezone.now())
# Only the exports job, and every 2 seconds instead of every minute.
Schedule.objects.exclude(func="rollsync.downstream.tasks.exports_due").delete()
Schedule.objects.filter(func="rollsync.downstream.tasks.exports_due").update(
    schedule_type=Schedule.CRON, cron="* * * * * */2", next_run=timezone.now()
)
print(json.dumps([run.status, made.pk]))
"""

STATE = """
from django_q.models import Task
from rollsync.downstream.models import ExportSchedule
s = ExportSchedule.objects.get(pk=int(sys.argv[1]))
print(json.dumps({
    "status": s.last_status, "error": s.last_error, "file": s.last_file,
    "next_after_run": bool(s.last_run_at and s.next_run_at and s.next_run_at > s.last_run_at),
    "exports": [[t.success, t.attempt_count] for t in
                Task.objects.filter(func="rollsync.downstream.tasks.export_scheduled")],
    "due_passes": Task.objects.filter(func="rollsync.downstream.tasks.exports_due").count(),
}))
"""


def test_a_due_export_is_written_once_by_two_workers(
    scratch_database: Callable[[], str], tmp_path: Path
) -> None:
    url, home = scratch_database(), tmp_path / "home"
    home.mkdir()
    dest = tmp_path / "exports"
    dest.mkdir()
    p.run(url, home, "migrate")
    status, schedule_id = p.python(url, home, SET_UP, str(dest))
    assert status == "applied"
    logs = [tmp_path / "worker-1.log", tmp_path / "worker-2.log"]
    workers = [p.worker(url, home, log, ROLLSYNC_SCHEDULER_SECONDS="0.2") for log in logs]
    try:
        p.wait_for("the export", lambda: p.python(url, home, STATE, str(schedule_id))["status"])
        # Several more passes of the due job: the schedule is not due again until 02:00.
        p.wait_for(
            "four more passes",
            lambda: p.python(url, home, STATE, str(schedule_id))["due_passes"] >= 5,
        )
        assert all(w.poll() is None for w in workers)
    finally:
        for w in workers:
            p.stop(w)
    assert [w.returncode for w in workers] == [0, 0]
    done = p.python(url, home, STATE, str(schedule_id))
    assert (done["status"], done["error"], done["exports"]) == ("succeeded", "", [[True, 1]])
    assert done["next_after_run"] is True
    written = sorted(dest.iterdir())
    assert [f.name for f in written] == [Path(done["file"]).name]
    assert written[0].suffix == ".zip"
    with zipfile.ZipFile(written[0]) as bundle:
        users = list(csv.DictReader(io.StringIO(bundle.read("users.csv").decode("utf-8"))))
    assert sorted((u["givenName"], u["familyName"]) for u in users) == [
        ("Amir", "Khan"),
        ("Bea", "Lund"),
    ]
