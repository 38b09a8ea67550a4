"""A task that meets a transient error (the database busy or gone, a lost race) is tried
again after a backoff that doubles, up to a bound, then failed with its error; one
that cannot succeed (a defect, its upload gone) and bad data (a failed run) are not
tried again. A second delivery of a finished task changes nothing. In process:
`run_queued` takes and records queue rows as the cluster does."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from django.db import IntegrityError, OperationalError
from django.test import override_settings
from django.utils import timezone
from django_q.models import OrmQ, Task

from rollsync.directory import models as m
from rollsync.directory import tasks
from rollsync.directory.services.sync import sync_run_execute
from tests.directory.helpers import pupil
from tests.tasks.helpers import counts, state, store

DAY1 = date(2026, 9, 7)
TWO = [pupil("1001", "Amir", "Khan", "2016-01-02"), pupil("1002", "Bea", "Lund", "2016-02-03")]
BACKOFF = 10.0


def _failing(errors: list[Exception]) -> Any:
    """sync_run_execute that applies, then raises the next of `errors` (so the attempt's
    work is rolled back); once they are used up it applies for good."""

    def execute(**kwargs: Any) -> m.SyncRun:
        run = sync_run_execute(**kwargs)
        if errors:
            raise errors.pop(0)
        return run

    return execute


def _lock() -> Any:
    return OrmQ.objects.get().lock


def _due_now() -> None:
    """Skip the wait: make the held queue row due (the delay itself is asserted)."""
    OrmQ.objects.update(lock=timezone.now() - timedelta(seconds=1))


@override_settings(ROLLSYNC_TASK_BACKOFF=BACKOFF, ROLLSYNC_TASK_MAX_ATTEMPTS=3)
def test_a_transient_error_is_retried_with_backoff_then_succeeds(
    school: m.School, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        tasks,
        "sync_run_execute",
        _failing([OperationalError("database is locked"), IntegrityError("username taken")]),
    )
    task_id = tasks.enqueue_sync(store(school, TWO).pk, as_of=DAY1, actor="tester")
    before = state()

    for attempt, delay in ((1, BACKOFF), (2, 2 * BACKOFF)):
        start = timezone.now()
        assert tasks.run_queued() == 1
        end = timezone.now()
        status = tasks.task_status(task_id)
        assert (status["status"], status["run"], status["error"]) == ("queued", None, None)
        assert m.QueuedTask.objects.get(pk=task_id).attempts == attempt
        # Held on the queue until the backoff has passed; nothing of the attempt stayed.
        assert start + timedelta(seconds=delay) <= _lock() <= end + timedelta(seconds=delay)
        assert tasks.run_queued() == 0
        after = state()
        assert (after["accounts"], after["runs"], after["audit"]) == (
            before["accounts"],
            [],
            before["audit"],
        )
        _due_now()

    assert tasks.run_queued() == 1
    done = tasks.task_status(task_id)
    run = m.SyncRun.objects.get()
    assert (done["status"], done["run"], done["run_status"], done["error"]) == (
        "succeeded",
        run.pk,
        "applied",
        None,
    )
    assert run.counts == counts(created=2)
    assert m.QueuedTask.objects.get(pk=task_id).attempts == 3
    assert OrmQ.objects.count() == 0  # acknowledged: never delivered again
    # django-q2's own record of the attempts: two failures, then the success.
    assert Task.objects.get(name=task_id).attempt_count == 3


@override_settings(ROLLSYNC_TASK_BACKOFF=BACKOFF, ROLLSYNC_TASK_MAX_ATTEMPTS=3)
def test_a_transient_error_that_persists_fails_the_task_after_the_bound(
    school: m.School, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        tasks, "sync_run_execute", _failing([OperationalError("database is locked")] * 5)
    )
    task_id = tasks.enqueue_sync(store(school, TWO).pk, as_of=DAY1, actor="tester")
    for _ in range(3):
        _due_now()
        assert tasks.run_queued() == 1
    failed = tasks.task_status(task_id)
    assert (failed["status"], failed["run"], failed["error"]) == (
        "failed",
        None,
        "OperationalError: database is locked",
    )
    assert failed["finished_at"] is not None
    assert m.QueuedTask.objects.get(pk=task_id).attempts == 3
    assert OrmQ.objects.count() == 0
    assert m.SyncRun.objects.count() == 0 and m.Account.objects.count() == 0


@override_settings(ROLLSYNC_TASK_MAX_ATTEMPTS=3)
def test_a_task_whose_worker_died_at_every_attempt_is_given_up(school: m.School) -> None:
    """Killed attempts count: the fourth delivery of a task that killed its worker three
    times (say, out of memory) fails it rather than killing a fourth worker."""
    task_id = tasks.enqueue_sync(store(school, TWO).pk, as_of=DAY1, actor="tester")
    m.QueuedTask.objects.filter(pk=task_id).update(status="running", attempts=3)
    assert tasks.run_queued() == 1
    failed = tasks.task_status(task_id)
    assert (failed["status"], failed["error"]) == (
        "failed",
        "gave up after 3 attempts (its worker stopped each time)",
    )
    assert m.SyncRun.objects.count() == 0 and OrmQ.objects.count() == 0


def test_a_defect_is_not_retried(school: m.School, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tasks, "sync_run_execute", _failing([RuntimeError("disk on fire")]))
    task_id = tasks.enqueue_sync(store(school, TWO).pk, as_of=DAY1, actor="tester")
    assert tasks.run_queued() == 1
    assert tasks.task_status(task_id)["error"] == "RuntimeError: disk on fire"
    assert m.QueuedTask.objects.get(pk=task_id).attempts == 1
    assert OrmQ.objects.count() == 0
    _due_now()
    assert tasks.run_queued() == 0


def test_bad_data_is_a_failed_run_and_is_not_retried(school: m.School) -> None:
    from rollsync.directory.services.sync import upload_store

    upload = upload_store(
        school=school, payload=b"name,age\nx,1\n", fmt="csv", report="students", source="test"
    )
    task_id = tasks.enqueue_sync(upload.pk, as_of=DAY1, actor="tester")
    assert tasks.run_queued() == 1
    done = tasks.task_status(task_id)
    assert (done["status"], done["run_status"]) == ("succeeded", "failed")
    assert m.QueuedTask.objects.get(pk=task_id).attempts == 1
    assert OrmQ.objects.count() == 0


def test_a_second_delivery_of_a_finished_task_changes_nothing(school: m.School) -> None:
    """A lease that ended while its worker was still alive (a task longer than the lease)
    delivers the task twice: the second delivery finds it finished and does nothing."""
    from django_q.brokers import get_broker
    from django_q.signing import SignedPackage

    task_id = tasks.enqueue_sync(store(school, TWO).pk, as_of=DAY1, actor="tester")
    payload = OrmQ.objects.get().payload
    assert tasks.run_queued() == 1
    after_first = state()
    OrmQ.objects.create(key=get_broker().list_key, payload=payload, lock=timezone.now())
    assert SignedPackage.loads(payload)["args"] == (task_id,)
    assert tasks.run_queued() == 1
    assert state() == after_first
    assert m.SyncRun.objects.count() == 1
    assert m.QueuedTask.objects.get(pk=task_id).attempts == 1


def test_a_task_past_its_timeout_is_failed_and_not_retried(
    school: m.School, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django_q.exceptions import TimeoutException

    timeout = TimeoutException("Task exceeded maximum timeout value (3600 seconds)")
    monkeypatch.setattr(tasks, "sync_run_execute", _failing([timeout]))
    task_id = tasks.enqueue_sync(store(school, TWO).pk, as_of=DAY1, actor="tester")
    assert tasks.run_queued() == 1
    failed = tasks.task_status(task_id)
    assert (failed["status"], failed["error"]) == (
        "failed",
        "stopped: Task exceeded maximum timeout value (3600 seconds)",
    )
    assert m.SyncRun.objects.count() == 0 and OrmQ.objects.count() == 0
