"""With several workers, a school's Groups & Classes (Contacts, Attendance) upload may be
taken while its earlier people upload is still queued or running: it waits for it, not
counting an attempt, instead of failing with every row naming someone not yet there."""

from __future__ import annotations

from datetime import date, timedelta

from django.conf import settings
from django.utils import timezone
from django_q.models import OrmQ

from rollsync.directory import models as m
from rollsync.directory import tasks
from tests.directory.helpers import pupil
from tests.tasks.helpers import state, store

DAY1 = date(2026, 9, 7)
TWO = [pupil("1001", "Amir", "Khan", "2016-01-02"), pupil("1002", "Bea", "Lund", "2016-02-03")]
CLASS = [
    {
        "group_mis_id": "G3",
        "group_name": "Class 3",
        "group_kind": "class",
        "person_role": "pupil",
        "person_mis_id": mis_id,
        "membership_role": "student",
    }
    for mis_id in ("1001", "1002")
]


def _ack(task_id: str) -> int:
    """The queue row of a task not yet taken: django-q2 names it after the task id."""
    return next(row.pk for row in OrmQ.objects.all() if row.task["name"] == task_id)


def _taken_elsewhere(task_id: str) -> None:
    """Another worker holds this task's queue row (its lease runs for an hour)."""
    OrmQ.objects.filter(pk=_ack(task_id)).update(lock=timezone.now() + timedelta(hours=1))


def _due(task_id: str) -> None:
    OrmQ.objects.filter(pk=_ack(task_id)).update(lock=timezone.now() - timedelta(seconds=1))


def test_a_groups_upload_taken_first_waits_for_its_schools_people_upload(
    school: m.School,
) -> None:
    people = tasks.enqueue_sync(store(school, TWO).pk, as_of=DAY1, actor="t")
    groups = tasks.enqueue_sync(store(school, CLASS, report="groups").pk, as_of=DAY1, actor="t")
    _taken_elsewhere(people)
    before = state()

    start = timezone.now()
    assert tasks.run_queued() == 1  # the groups task, taken first
    held_until = OrmQ.objects.get(pk=_ack(groups)).lock
    wait = timedelta(seconds=settings.ROLLSYNC_TASK_ORDER_WAIT)
    assert start + wait <= held_until <= timezone.now() + wait
    task = m.QueuedTask.objects.get(pk=groups)
    assert (task.status, task.attempts, task.run_id, task.error) == ("queued", 0, None, None)
    assert state() == before  # nothing ran, nothing changed
    assert tasks.run_queued() == 0  # held until the wait is over

    _due(people)
    assert tasks.run_queued() == 1
    assert tasks.task_status(people)["status"] == "succeeded"
    _due(groups)
    assert tasks.run_queued() == 1
    done = tasks.task_status(groups)
    assert (done["status"], m.QueuedTask.objects.get(pk=groups).attempts) == ("succeeded", 1)
    run = m.SyncRun.objects.get(pk=done["run"])
    assert (run.status, run.counts.get("memberships_added")) == ("applied", 2)


def test_only_an_earlier_live_people_upload_of_the_same_school_is_waited_for(
    school: m.School, other_school: m.School
) -> None:
    # Another school's people upload, a dry run of this school's, and a people upload
    # stored after the groups upload are not waited for.
    elsewhere = tasks.enqueue_sync(store(other_school, TWO).pk, as_of=DAY1, actor="t")
    preview = tasks.enqueue_sync(store(school, TWO).pk, as_of=DAY1, actor="t", dry_run=True)
    groups = tasks.enqueue_sync(store(school, CLASS, report="groups").pk, as_of=DAY1, actor="t")
    later = tasks.enqueue_sync(store(school, TWO).pk, as_of=DAY1, actor="t")
    for task_id in (elsewhere, preview, later):
        _taken_elsewhere(task_id)

    assert tasks.run_queued() == 1
    task = m.QueuedTask.objects.get(pk=groups)
    assert (task.status, task.attempts) == ("succeeded", 1)


def _groups_ran_at_once(groups: str) -> None:
    """The groups task was not held: it ran, as its one attempt."""
    task = m.QueuedTask.objects.get(pk=groups)
    assert (task.status, task.attempts) == ("succeeded", 1)
    assert not any(row.task["name"] == groups for row in OrmQ.objects.all())


def test_a_people_upload_whose_task_failed_is_not_waited_for(school: m.School) -> None:
    people = tasks.enqueue_sync(store(school, TWO).pk, as_of=DAY1, actor="t")
    groups = tasks.enqueue_sync(store(school, CLASS, report="groups").pk, as_of=DAY1, actor="t")
    _taken_elsewhere(people)
    m.QueuedTask.objects.filter(pk=people).update(status="failed", error="gave up")

    assert tasks.run_queued() == 1
    _groups_ran_at_once(groups)


def test_a_people_upload_abandoned_purged_or_already_run_is_not_waited_for(
    school: m.School,
) -> None:
    from rollsync.directory.services.sync import sync_run_execute

    abandoned = store(school, TWO)
    purged = store(school, TWO)
    resumed = store(school, TWO)
    waiting = [
        tasks.enqueue_sync(upload.pk, as_of=DAY1, actor="t")
        for upload in (abandoned, purged, resumed)
    ]
    groups = tasks.enqueue_sync(store(school, CLASS, report="groups").pk, as_of=DAY1, actor="t")
    for task_id in waiting:
        _taken_elsewhere(task_id)
    m.Upload.objects.filter(pk=abandoned.pk).update(outcome="abandoned")
    m.Upload.objects.filter(pk=purged.pk).update(purged_at=timezone.now())
    sync_run_execute(upload=resumed, as_of=DAY1, actor="resumer")  # it has a run now

    assert tasks.run_queued() == 1
    _groups_ran_at_once(groups)
    run = m.SyncRun.objects.get(pk=m.QueuedTask.objects.get(pk=groups).run_id)
    assert (run.status, run.counts.get("memberships_added")) == ("applied", 2)


def test_a_running_people_upload_is_waited_for_until_its_queue_row_is_lost(
    school: m.School,
) -> None:
    people = tasks.enqueue_sync(store(school, TWO).pk, as_of=DAY1, actor="t")
    groups = tasks.enqueue_sync(store(school, CLASS, report="groups").pk, as_of=DAY1, actor="t")
    # A worker took the people task and is running it (its lease is live).
    lease = _ack(people)
    _taken_elsewhere(people)
    m.QueuedTask.objects.filter(pk=people).update(status="running", attempts=1, lease=lease)

    assert tasks.run_queued() == 1
    task = m.QueuedTask.objects.get(pk=groups)
    assert (task.status, task.attempts, task.run_id) == ("queued", 0, None)

    # Its queue row is gone (removed by hand): nothing will deliver it again.
    OrmQ.objects.filter(pk=lease).delete()
    _due(groups)
    assert tasks.run_queued() == 1
    _groups_ran_at_once(groups)
    assert m.QueuedTask.objects.get(pk=people).status == "running"  # untouched
