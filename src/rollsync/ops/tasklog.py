"""The log lines of a background task and of a sync run: `directory.tasks` calls these
where a task starts and ends, and `run_logged` wraps the service that starts a run, so
every line in between carries the task, upload, run and school."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from rollsync.directory import models as m
from rollsync.ops import logging as ops_logging

log = logging.getLogger("rollsync.tasks")
run_log = logging.getLogger("rollsync.runs")


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


def run_logged(execute: Callable[..., m.SyncRun]) -> Callable[..., m.SyncRun]:
    """Wraps the service that starts a sync run (`services.sync.sync_run_execute`, from
    every door): its lines carry the school and upload, and it ends with one line naming
    the run, its status, duration and counts."""

    @wraps(execute)
    def wrapper(*, upload: m.Upload, **kwargs: Any) -> m.SyncRun:
        with ops_logging.bound(school=upload.school.urn, upload=upload.pk):
            run_log.info("run started", extra={"dry_run": bool(kwargs.get("dry_run"))})
            run = execute(upload=upload, **kwargs)
            ops_logging.bind(run=run.pk)
            run_log.info(
                "run %s",
                run.status,
                extra={
                    "status": run.status,
                    "seconds": round(run.seconds, 3),
                    "counts": run.counts,
                },
            )
            return run

    return wrapper
