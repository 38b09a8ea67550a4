"""Two processes forced into the interleaving where the queue's task body (which holds
its own task row, then the service takes the LA lock) meets a run that already holds
the LA lock and then writes rows that refer to the school: `python -m
tests.concurrency.race ROLE UPLOAD_ID SIGNAL_DIR` with ROLE `task` or `run`. Prints the
run's status as JSON. (The task body once locked the school row first: that reversed
the LA-then-school order and deadlocked here.)"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main() -> None:
    role, upload_id, signals = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    from rollsync.cli_support import setup_django

    setup_django()
    from django.db import connection

    from rollsync.directory import models as m
    from rollsync.directory import tasks
    from rollsync.directory.services import locks, sync

    if role == "task":
        real_lock = locks.la_lock
        first = [True]

        def lock_after_the_run(**kwargs: object) -> None:
            if first[0]:
                first[0] = False
                (signals / "task-holds-school").touch()
                _wait_for(signals / "run-holds-la")
            real_lock(**kwargs)  # type: ignore[arg-type]

        locks.la_lock = lock_after_the_run  # type: ignore[assignment]
        task_id = tasks.enqueue_sync(upload_id, actor="worker")
        tasks.run_queued(max_tasks=1)
        status = tasks.task_status(task_id)
        print(
            json.dumps({"role": role, "status": status["run_status"], "task": status}, default=str)
        )
        return

    real_plan = sync._plan_upload
    once = [True]

    def plan_once_the_task_waits(**kwargs: object) -> object:
        if once[0]:
            once[0] = False
            (signals / "run-holds-la").touch()
            _wait_for_a_lock_wait(connection)
        return real_plan(**kwargs)  # type: ignore[arg-type]

    sync._plan_upload = plan_once_the_task_waits  # type: ignore[assignment]
    _wait_for(signals / "task-holds-school")
    upload = m.Upload.objects.select_related("school").get(pk=upload_id)
    run = sync.sync_run_execute(upload=upload, actor="cli")
    print(json.dumps({"role": role, "status": run.status, "errors": run.errors}))


def _wait_for(path: Path) -> None:
    deadline = time.monotonic() + 60
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(path)
        time.sleep(0.01)


def _wait_for_a_lock_wait(connection: object) -> None:
    """Until another backend of this database waits on a lock (the task, on the LA)."""
    import psycopg
    from django.conf import settings

    db = settings.DATABASES["default"]
    with psycopg.connect(
        host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"], autocommit=True
    ) as conn:
        deadline = time.monotonic() + 60
        while True:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock'"
            ).fetchone()
            if row and row[0]:
                return
            if time.monotonic() > deadline:
                raise TimeoutError("the task never waited")
            time.sleep(0.01)


if __name__ == "__main__":
    main()
