"""`rollsync serve --worker` (the demo): its worker thread runs queued work."""

from __future__ import annotations

import threading
import time
from datetime import date

from django.db import OperationalError

from rollsync.directory import models as m
from rollsync.directory import tasks
from rollsync.web import serve
from tests.directory.helpers import pupil
from tests.tasks.helpers import counts, store

TWO = [pupil("1001", "Amir", "Khan", "2016-01-02"), pupil("1002", "Bea", "Lund", "2016-02-03")]


def _status(task_id: str) -> str:
    """The task's status, read while the worker thread works. On SQLite the tests' database
    is a shared-cache memory database, where a read of a table another connection is
    writing fails at once ("database table is locked") instead of waiting as a file
    database's readers do: such a read is simply made again."""
    for _ in range(200):
        try:
            return str(tasks.task_status(task_id)["status"])
        except OperationalError as exc:
            if "locked" not in str(exc):
                raise
            time.sleep(0.05)
    raise AssertionError("the task's row stayed locked for 10 s")


def test_the_serve_worker_thread_runs_a_queued_sync(school: m.School) -> None:
    task_id = tasks.enqueue_sync(store(school, TWO).pk, as_of=date(2026, 9, 7), actor="tester")
    stop = threading.Event()
    thread = threading.Thread(target=serve._worker, args=(stop,), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while _status(task_id) != "succeeded":
            assert thread.is_alive() and time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert m.SyncRun.objects.get().counts == counts(created=2)
