"""The background worker: a sync queued by id runs on the durable database queue,
once, and reports queued -> running -> succeeded/failed with its run or its error."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from django.db import transaction

from rollsync.directory import models as m
from rollsync.directory import tasks
from rollsync.directory.services.schools import school_policy_set
from rollsync.directory.services.sync import RunError, run_force, sync_run_execute, upload_store
from rollsync.directory.services.uploads import upload_latest_for_report
from tests.directory.helpers import pupil
from tests.tasks.helpers import counts, state, store

DAY1 = date(2026, 9, 7)
DAY2 = date(2026, 9, 8)
TWO = [pupil("1001", "Amir", "Khan", "2016-01-02"), pupil("1002", "Bea", "Lund", "2016-02-03")]


def test_enqueued_sync_is_applied_by_the_worker(school: m.School) -> None:
    upload = store(school, TWO)
    task_id = tasks.enqueue_sync(upload.pk, as_of=DAY1, actor="tester")
    queued = tasks.task_status(task_id)
    assert {k: queued[k] for k in ("id", "kind", "status", "upload", "school", "run", "error")} == {
        "id": task_id,
        "kind": "sync",
        "status": "queued",
        "upload": upload.pk,
        "school": school.urn,
        "run": None,
        "error": None,
    }
    assert queued["started_at"] is None and queued["enqueued_at"] is not None
    assert m.SyncRun.objects.count() == 0  # nothing ran in the caller

    assert tasks.run_queued() == 1

    done = tasks.task_status(task_id)
    run = m.SyncRun.objects.get()
    assert (done["status"], done["run"], done["run_status"], done["error"]) == (
        "succeeded",
        run.pk,
        "applied",
        None,
    )
    assert done["finished_at"] is not None
    assert (run.status, run.as_of, run.upload_id, run.dry_run) == (
        "applied",
        DAY1,
        upload.pk,
        False,
    )
    assert run.counts == counts(created=2)
    assert sorted(m.Allocation.objects.values_list("mis_id", "status")) == [
        ("1001", "active"),
        ("1002", "active"),
    ]
    assert sorted(m.Account.objects.values_list("username", flat=True)) == [
        "akhan.202",
        "blund.202",
    ]
    assert m.AuditEvent.objects.filter(action="account_created", run=run).count() == 2
    upload.refresh_from_db()
    assert upload.outcome == "applied"


def test_status_is_running_while_the_task_runs(
    school: m.School, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []

    def watched(**kwargs: Any) -> m.SyncRun:
        seen.append(tasks.task_status(task_id)["status"])
        return sync_run_execute(**kwargs)

    monkeypatch.setattr(tasks, "sync_run_execute", watched)
    task_id = tasks.enqueue_sync(store(school, TWO).pk, as_of=DAY1, actor="tester")
    tasks.run_queued()
    assert seen == ["running"]
    assert tasks.task_status(task_id)["status"] == "succeeded"


def test_bad_upload_gives_a_failed_run_from_a_task_that_succeeded(school: m.School) -> None:
    upload = upload_store(
        school=school, payload=b"name,age\nx,1\n", fmt="csv", report="students", source="test"
    )
    task_id = tasks.enqueue_sync(upload.pk, as_of=DAY1, actor="tester")
    before = state()
    tasks.run_queued()
    done = tasks.task_status(task_id)
    run = m.SyncRun.objects.get()
    assert (done["status"], done["run"], done["run_status"], done["error"]) == (
        "succeeded",
        run.pk,
        "failed",
        None,
    )
    assert run.errors[0]["row"] is None
    after = state()
    assert after["accounts"] == before["accounts"] == []
    assert after["allocations"] == before["allocations"] == []
    upload.refresh_from_db()
    assert upload.outcome == "failed"
    assert bytes(upload.data) == b"name,age\nx,1\n"


def test_an_exception_in_the_task_fails_it_with_the_error_and_changes_nothing(
    school: m.School, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(**kwargs: Any) -> m.SyncRun:
        sync_run_execute(**kwargs)  # applies, then the task blows up: all of it rolls back
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(tasks, "sync_run_execute", crash)
    task_id = tasks.enqueue_sync(store(school, TWO).pk, as_of=DAY1, actor="tester")
    before = state()
    assert tasks.run_queued() == 1
    failed = tasks.task_status(task_id)
    assert (failed["status"], failed["run"], failed["run_status"], failed["error"]) == (
        "failed",
        None,
        None,
        "RuntimeError: disk on fire",
    )
    after = state()
    assert after["accounts"] == [] and after["runs"] == [] and after["audit"] == before["audit"]
    # The task is not run again by itself; the upload can be queued again and succeeds.
    monkeypatch.undo()
    assert tasks.run_queued() == 0
    retry = tasks.enqueue_sync(m.Upload.objects.get().pk, as_of=DAY1, actor="tester")
    tasks.run_queued()
    assert tasks.task_status(retry)["run_status"] == "applied"
    assert m.SyncRun.objects.get().counts == counts(created=2)


def test_an_upload_gone_before_the_task_ran_fails_the_task(school: m.School) -> None:
    upload = store(school, TWO)
    task_id = tasks.enqueue_sync(upload.pk, as_of=DAY1, actor="tester")
    upload_id = upload.pk
    upload.delete()
    tasks.run_queued()
    failed = tasks.task_status(task_id)
    assert (failed["status"], failed["upload"], failed["school"], failed["error"]) == (
        "failed",
        upload_id,
        None,
        f"TaskInputError: upload {upload_id} does not exist",
    )
    assert m.SyncRun.objects.count() == 0


def test_nothing_is_applied_twice(school: m.School) -> None:
    upload = store(school, TWO)
    tasks.enqueue_sync(upload.pk, as_of=DAY1, actor="tester")
    assert tasks.run_queued() == 1
    after_first = state()
    assert tasks.run_queued() == 0  # a finished task is never picked up again
    assert state() == after_first
    assert m.SyncRun.objects.count() == 1
    # The same upload queued again (a Force run) is a run that changes nothing.
    again = tasks.enqueue_sync(upload.pk, as_of=DAY1, actor="tester")
    tasks.run_queued()
    second = m.SyncRun.objects.get(pk=tasks.task_status(again)["run"])
    assert (second.status, second.counts) == ("applied", counts(unchanged=2))
    after_second = state()
    for key in ("accounts", "allocations", "groups", "memberships", "links", "cases", "audit"):
        assert after_second[key] == after_first[key], key


def test_two_uploads_of_one_school_run_in_order(school: m.School) -> None:
    school_policy_set(school=school, guard_unallocate_pct=60, actor="tester")
    first = tasks.enqueue_sync(store(school, TWO).pk, as_of=DAY1, actor="tester")
    second = tasks.enqueue_sync(store(school, TWO[:1]).pk, as_of=DAY2, actor="tester")
    assert tasks.run_queued() == 2
    runs = [m.SyncRun.objects.get(pk=tasks.task_status(t)["run"]) for t in (first, second)]
    assert [(r.status, r.counts) for r in runs] == [
        ("applied", counts(created=2)),
        ("applied", counts(unchanged=1, unallocated=1)),
    ]


def test_dry_run_through_the_queue_previews_and_changes_nothing(school: m.School) -> None:
    task_id = tasks.enqueue_sync(store(school, TWO).pk, as_of=DAY1, actor="tester", dry_run=True)
    tasks.run_queued()
    status = tasks.task_status(task_id)
    assert (status["dry_run"], status["run_status"]) == (True, "preview")
    assert m.SyncRun.objects.get().counts == counts(created=2)
    assert m.Account.objects.count() == 0


def test_enqueue_refuses_an_unknown_upload(school: m.School) -> None:
    with pytest.raises(tasks.TaskInputError, match="upload 999 does not exist"):
        tasks.enqueue_sync(999, actor="tester")
    assert m.QueuedTask.objects.count() == 0


def test_a_task_queued_in_a_rolled_back_transaction_never_runs(school: m.School) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        tasks.enqueue_sync(store(school, TWO).pk, as_of=DAY1, actor="tester")
        raise RuntimeError("the request failed")
    assert m.QueuedTask.objects.count() == 0
    assert m.Upload.objects.count() == 0
    assert tasks.run_queued() == 0


def test_task_status_of_an_unknown_id(school: m.School) -> None:
    for bad in ("6f1c1a52-2b0e-4c59-8f7e-1d1f1b1d1e1f", "not-a-uuid"):
        with pytest.raises(tasks.TaskNotFound):
            tasks.task_status(bad)


def test_force_run_processes_the_latest_upload_of_the_report(school: m.School) -> None:
    store(school, TWO)
    latest = store(school, TWO[:1])
    task_id = run_force(school=school, report="students", actor="head@hillside", as_of=DAY1)
    assert tasks.task_status(task_id)["upload"] == latest.pk
    tasks.run_queued()
    run = m.SyncRun.objects.get()
    assert (run.upload_id, run.status, run.counts) == (latest.pk, "applied", counts(created=1))
    event = m.AuditEvent.objects.get(action="force_run_queued")
    assert (event.actor, event.school, event.changes) == (
        "head@hillside",
        school,
        {"upload": latest.pk, "task": task_id, "dry_run": False},
    )


def test_force_run_counts_a_bundle_for_every_report(school: m.School) -> None:
    store(school, TWO)
    bundle = upload_store(school=school, payload=b"PK", fmt="oneroster", source="test")
    assert upload_latest_for_report(school=school, report="students") == bundle
    assert upload_latest_for_report(school=school, report="staff") == bundle
    assert upload_latest_for_report(school=school, report=None) == bundle


def test_force_run_without_an_upload_or_with_an_unknown_report(school: m.School) -> None:
    store(school, TWO)
    with pytest.raises(
        RunError,
        match=r"100001 Hillside Primary has no Staff \(current\) upload to run again",
    ):
        run_force(school=school, report="staff", actor="tester")
    with pytest.raises(RunError, match="unknown report 'pupils'"):
        run_force(school=school, report="pupils", actor="tester")
    assert m.QueuedTask.objects.count() == 0


TEN = [pupil(str(1000 + i), f"Given{i}", f"Family{i}", "2016-01-02") for i in range(10)]


def _held_run(school: m.School) -> m.SyncRun:
    sync_run_execute(upload=store(school, TEN), as_of=DAY1)
    held = sync_run_execute(upload=store(school, TEN[:8]), as_of=DAY2)
    assert held.status == "held"
    return held


def test_queued_approval_applies_a_held_run(school: m.School) -> None:
    held = _held_run(school)
    task_id = tasks.enqueue_approve(held.pk, actor="head@hillside")
    queued = tasks.task_status(task_id)
    assert (queued["kind"], queued["status"], queued["run"], queued["run_status"]) == (
        "approve",
        "queued",
        held.pk,
        "held",
    )
    assert queued["upload"] == held.upload_id and queued["school"] == school.urn
    tasks.run_queued()
    done = tasks.task_status(task_id)
    assert (done["status"], done["run"], done["run_status"]) == ("succeeded", held.pk, "applied")
    held.refresh_from_db()
    assert (held.approved_by, held.counts) == ("head@hillside", counts(unchanged=8, unallocated=2))
    assert m.Allocation.objects.filter(status="unallocated").count() == 2


def test_approval_of_a_run_overtaken_meanwhile_fails_and_marks_it_superseded(
    school: m.School,
) -> None:
    held = _held_run(school)
    task_id = tasks.enqueue_approve(held.pk, actor="head@hillside")
    newer = sync_run_execute(upload=store(school, TEN), as_of=DAY2)
    assert (newer.status, newer.counts) == ("applied", counts(unchanged=10))
    before = state()
    tasks.run_queued()
    failed = tasks.task_status(task_id)
    assert failed["status"] == "failed"
    assert failed["error"] == (
        f"ApprovalRefused: run {held.pk} was overtaken by a newer applied run for this school;"
        " nothing was applied"
    )
    assert failed["run_status"] == "superseded"
    held.refresh_from_db()
    assert held.status == "superseded"
    after = state()
    assert after["allocations"] == before["allocations"]


def test_enqueue_approve_refuses_a_run_that_is_not_held(school: m.School) -> None:
    applied = sync_run_execute(upload=store(school, TWO), as_of=DAY1)
    with pytest.raises(tasks.TaskInputError, match=f"run {applied.pk} is applied, not held"):
        tasks.enqueue_approve(applied.pk, actor="tester")
    with pytest.raises(tasks.TaskInputError, match="run 999 does not exist"):
        tasks.enqueue_approve(999, actor="tester")


def test_worker_command_drains_the_queue(school: m.School) -> None:
    task_id = tasks.enqueue_sync(store(school, TWO).pk, as_of=DAY1, actor="tester")
    assert tasks.worker_main(["--batch"]) == 0
    assert tasks.task_status(task_id)["run_status"] == "applied"
    assert m.Account.objects.count() == 2
