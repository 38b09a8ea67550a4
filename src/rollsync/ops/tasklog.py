"""The log lines of a background task: `directory.tasks` calls these where a task starts
and ends, so every line in between carries the task, upload, run and school."""

from __future__ import annotations

import logging

from rollsync.directory import models as m
from rollsync.ops import logging as ops_logging

log = logging.getLogger("rollsync.tasks")


def _school_urn(task: m.QueuedTask) -> str | None:
    if task.school_id:
        return m.School.objects.filter(pk=task.school_id).values_list("urn", flat=True).first()
    if task.upload_id:
        found = m.Upload.objects.filter(pk=task.upload_id).values_list("school__urn", flat=True)
        return found.first()
    if task.run_id:
        return (
            m.SyncRun.objects.filter(pk=task.run_id).values_list("school__urn", flat=True).first()
        )
    return None


def task_started(task: m.QueuedTask) -> None:
    """A worker took a task: from here its lines name the task, its upload, run, school."""
    ops_logging.clear()
    ops_logging.bind(task=task.pk, upload=task.upload_id, run=task.run_id, school=_school_urn(task))
    log.info("task started", extra={"kind": task.kind, "attempt": task.attempts})


def task_finished(*, status: str, run: int | None = None, error: str | None = None) -> None:
    """The task's last line; then its ids are forgotten (the process's next work, a task
    or a request, binds its own)."""
    if run is not None:
        ops_logging.bind(run=run)
    if error:
        log.warning("task %s: %s", status, error, extra={"status": status})
    else:
        log.info("task %s", status, extra={"status": status})
    ops_logging.clear()
