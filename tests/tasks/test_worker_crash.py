"""A worker killed mid-sync (issue 8, "a queue that survives a crash"): a real
`rollsync worker`, SIGKILLed while its sync holds the run's transaction open, takes its
worker processes with it and leaves nothing applied; once the queue row's lease ends the
task shows `queued` again (not `running` for good), another worker completes it, and the
directory equals a clean import of the same file in a second database, field by field.

Short leases are set through the environment (`ROLLSYNC_TASK_LEASE`), and the first
worker's task pauses inside its transaction (`ROLLSYNC_TEST_TASK_PAUSE`) so the kill
lands mid-task."""

from __future__ import annotations

import signal
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tests.directory.helpers import csv_bytes, pupil
from tests.tasks import processes as p

PUPILS = 40

QUEUE_UPLOAD = """
from rollsync.directory.services.sync import upload_store
from rollsync.directory.services.uploads import upload_queue
school = m.School.objects.get(urn="100001")
upload = upload_store(
    school=school, payload=open(sys.argv[1], "rb").read(), fmt="csv", report="students",
    filename="students.csv", source="web",
)
print(json.dumps(upload_queue(upload=upload, actor="tester")))
"""

COUNTS = """
print(json.dumps({
    "accounts": m.Account.objects.count(),
    "runs": m.SyncRun.objects.count(),
    "outcomes": list(m.Upload.objects.values_list("outcome", flat=True)),
}))
"""


def _setup(url: str, home: Path) -> None:
    p.run(url, home, "migrate")
    p.run(url, home, "school", "add", "--urn", "100001", "--la", "202", "--estab", "2001",
          "--name", "Hillside Primary")  # fmt: skip


def test_a_killed_worker_s_task_completes_on_another_worker(
    scratch_database: Callable[[], str], tmp_path: Path
) -> None:
    url, clean, home = scratch_database(), scratch_database(), tmp_path
    students = tmp_path / "students.csv"
    students.write_bytes(
        csv_bytes(
            "students",
            [
                pupil(f"K{i:04d}", f"Given{i}", f"Family{i % 7}", "2016-01-02")
                for i in range(PUPILS)
            ],
        )
    )
    # The reference: the same file imported cleanly into a second database (meanwhile).
    reference = ThreadPoolExecutor(max_workers=1).submit(_clean_import, clean, home, students)
    _setup(url, home)
    task_id = p.python(url, home, QUEUE_UPLOAD, str(students))
    assert p.status(url, home, task_id)["status"] == "queued"
    log = tmp_path / "workers.log"

    first = p.worker(url, home, log, ROLLSYNC_TEST_TASK_PAUSE="300", ROLLSYNC_TASK_LEASE="4",
                     ROLLSYNC_TASK_TIMEOUT="600", ROLLSYNC_SCHEDULER_SECONDS="3600")  # fmt: skip
    try:
        p.wait_for("the sync to start", lambda: p.stored_status(url, task_id) == "running")
        running = p.status(url, home, task_id)
        assert (running["attempts"], running["finished_at"], running["error"]) == (1, None, None)
        cluster = p.family(first.pid)
        assert len(cluster) >= 4, cluster  # sentinel, pusher, monitor, one worker
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(timeout=30)
    assert first.returncode == -signal.SIGKILL
    # Its processes died with it: none runs on, orphaned, with the task.
    p.wait_for("the killed worker's processes to end", lambda: not any(map(p.alive, cluster)))
    # Nothing of the run was committed.
    assert p.python(url, home, COUNTS) == {"accounts": 0, "runs": 0, "outcomes": ["queued"]}
    # Once the lease has ended the task is waiting to be delivered again.
    p.wait_for("the lease to end", lambda: p.lease_ended(url, task_id))
    waiting = p.status(url, home, task_id)
    assert (waiting["status"], waiting["run"], waiting["finished_at"], waiting["error"]) == (
        "queued",
        None,
        None,
        None,
    )

    second = p.worker(url, home, log, ROLLSYNC_SCHEDULER_SECONDS="3600")
    try:
        p.wait_for(
            "the second worker to finish the task",
            lambda: p.stored_status(url, task_id) == "succeeded",
        )
    finally:
        p.stop(second)
    assert second.returncode == 0
    done = p.status(url, home, task_id)
    assert (done["status"], done["run_status"], done["error"], done["attempts"]) == (
        "succeeded",
        "applied",
        None,
        2,
    )
    # One run, applied; the LA dashboard's "Running" (an upload still queued) is gone.
    assert p.python(url, home, COUNTS) == {"accounts": PUPILS, "runs": 1, "outcomes": ["applied"]}

    # The directory equals the clean import's, field by field.
    killed = p.directory(url, home)
    assert len(killed["accounts"]) == len(killed["allocations"]) == PUPILS
    assert killed == reference.result(timeout=600)


def _clean_import(url: str, home: Path, students: Path) -> Any:
    _setup(url, home)
    imported = p.run(url, home, "import", str(students), "--school", "100001", "--format",
                     "csv", "--report", "students", "--json")  # fmt: skip
    assert (imported["status"], imported["counts"]["created"]) == ("applied", PUPILS)
    return p.directory(url, home)
