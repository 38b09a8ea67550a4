"""Scheduled exports on the project's queue (django-q2, ORM broker, as directory/tasks.py):
every minute `exports_due` (a django-q2 schedule made by migration 0002, taken by one
worker a period) queues one task per export schedule whose time has come;
`export_scheduled` is that task's body. A failed export is recorded on its schedule, not
raised: the next period tries again."""

from __future__ import annotations

from typing import Any

TASK_FUNC = "rollsync.downstream.tasks.export_scheduled"


def enqueue_export(schedule_id: int) -> None:
    """Put the run on the queue in the caller's transaction (the ORM broker's row)."""
    from django_q.tasks import async_task

    async_task(TASK_FUNC, schedule_id, group="export")


def exports_due() -> int:
    from rollsync.downstream.services import exports_queue_due

    return len(exports_queue_due())


def export_scheduled(schedule_id: int) -> dict[str, Any]:
    from rollsync.directory.services.errors import NOT_FOUND
    from rollsync.downstream.services import ExportScheduleError, export_schedule_run

    try:
        done = export_schedule_run(schedule_pk=schedule_id, actor="schedule")
    except ExportScheduleError as exc:
        if exc.code == NOT_FOUND:  # removed since it was queued
            return {"schedule": schedule_id, "skipped": str(exc)}
        raise
    return {"schedule": schedule_id, "status": done.status, "file": done.file, "error": done.error}
