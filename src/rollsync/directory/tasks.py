"""Background work: sync runs off the request path, on a durable queue.

Pages and the JSON API never run a sync inside a request: they store the upload and
call `enqueue_sync` (or `enqueue_force_run`; `enqueue_approve` for a held run),
answer at once with the task id, and read progress with `task_status`. The queue is
Django's task API (the django-tasks backport) with the django-tasks-db backend: a
table in the project's own database, so it is durable and works the same on SQLite
and PostgreSQL, and enqueueing inside a transaction only becomes visible when that
transaction commits.

Run the worker with `rollsync worker` (`worker_main`), i.e. django-tasks-db's
`db_worker` management command; `run_queued` processes what is waiting in-process
and returns (tests, cron-style `--batch` use). When the worker starts it first picks up
uploads whose import was killed before their run was stored (`resume_stale_uploads`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, TypedDict

from django.db import transaction
from django_tasks import TaskResultStatus, default_task_backend, task
from django_tasks.exceptions import TaskResultDoesNotExist
from django_tasks_db.management.commands.db_worker import Worker

from rollsync.directory import models as m
from rollsync.directory.services.sync import SyncError, sync_run_approve, sync_run_execute

QUEUE = "default"

# What callers see, whatever the backend calls its states.
_STATUS = {
    TaskResultStatus.READY: "queued",
    TaskResultStatus.RUNNING: "running",
    TaskResultStatus.SUCCESSFUL: "succeeded",
    TaskResultStatus.FAILED: "failed",
}


class TaskInputError(ValueError):
    """A task cannot be queued (or run) with what it was given; the message says why."""


class TaskNotFound(LookupError):
    """No sync task has that id."""


class ApprovalRefused(Exception):
    """A queued approval found the run no longer approvable (overtaken, or not held)."""


class TaskStatus(TypedDict):
    id: str
    kind: str  # sync | approve
    status: str  # queued | running | succeeded | failed
    upload: int | None
    school: str | None  # URN of the upload's school
    dry_run: bool
    enqueued_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    run: int | None  # the SyncRun: once a sync succeeded; from the start for an approval
    run_status: str | None  # applied | held | preview | failed | ...
    error: str | None  # why the task itself failed (not why a run failed: see the run)


@task(queue_name=QUEUE)
def sync_upload(
    upload_id: int, as_of: str | None = None, actor: str = "worker", dry_run: bool = False
) -> dict[str, Any]:
    """Process one stored upload for its school (the task body; see `enqueue_sync`).

    Bad data never raises: the run records it and the task succeeds with a failed run.
    Runs of one school are serialised across workers (the school row is locked for the
    run), so two queued uploads of a school never plan against the same stale state."""
    upload = m.Upload.objects.select_related("school").filter(pk=upload_id).first()
    if upload is None:
        raise TaskInputError(f"upload {upload_id} does not exist")
    with transaction.atomic():
        m.School.objects.select_for_update().filter(pk=upload.school_id).values_list("pk").first()
        run = sync_run_execute(
            upload=upload,
            dry_run=dry_run,
            as_of=date.fromisoformat(as_of) if as_of else None,
            actor=actor,
        )
    return {"run": run.pk, "status": run.status}


@task(queue_name=QUEUE)
def sync_approve(run_id: int, actor: str) -> dict[str, Any]:
    """Approve a held run (the task body; see `enqueue_approve`): its upload is planned
    again against the directory as it is now, with the guard acknowledged, and applied.
    A run that can no longer be approved fails the task with the reason."""
    school_id = m.SyncRun.objects.filter(pk=run_id).values_list("school_id", flat=True).first()
    if school_id is None:
        raise TaskInputError(f"run {run_id} does not exist")
    refused: str | None = None
    with transaction.atomic():
        m.School.objects.select_for_update().filter(pk=school_id).values_list("pk").first()
        run = m.SyncRun.objects.select_related("school", "school__la__region", "upload").get(
            pk=run_id
        )
        try:
            run = sync_run_approve(run=run, actor=actor)
        except SyncError as exc:  # recorded on the run (e.g. superseded): keep that, then fail
            refused = str(exc)
    if refused is not None:
        raise ApprovalRefused(refused)
    return {"run": run.pk, "status": run.status}


def enqueue_sync(
    upload_id: int, *, as_of: date | None = None, actor: str, dry_run: bool = False
) -> str:
    """Queue the sync of a stored upload; returns the task id for `task_status`."""
    if not m.Upload.objects.filter(pk=upload_id).exists():
        raise TaskInputError(f"upload {upload_id} does not exist")
    result = sync_upload.enqueue(
        upload_id=upload_id,
        as_of=as_of.isoformat() if as_of else None,
        actor=actor,
        dry_run=dry_run,
    )
    return str(result.id)


def enqueue_approve(run_id: int, *, actor: str) -> str:
    """Queue the approval of a held run; returns the task id for `task_status`."""
    status = m.SyncRun.objects.filter(pk=run_id).values_list("status", flat=True).first()
    if status is None:
        raise TaskInputError(f"run {run_id} does not exist")
    if status != m.SyncRun.Status.HELD:
        raise TaskInputError(f"run {run_id} is {status}, not held: only a held run can be approved")
    return str(sync_approve.enqueue(run_id=run_id, actor=actor).id)


def latest_upload_for(*, school: m.School, report: str | None) -> m.Upload | None:
    """The upload a Force run of `report` processes (the rule is the service's:
    `services.uploads.upload_latest_for_report`)."""
    from rollsync.directory.services.uploads import upload_latest_for_report

    return upload_latest_for_report(school=school, report=report)


def enqueue_force_run(
    school: m.School,
    report: str | None,
    actor: str,
    *,
    as_of: date | None = None,
    dry_run: bool = False,
) -> str:
    """Force run: the service every door calls (`services.sync.run_force`, which picks
    the upload and audits who asked); its refusal is a `TaskInputError` here."""
    from rollsync.directory.services.errors import ServiceError
    from rollsync.directory.services.sync import run_force

    try:
        return run_force(school=school, report=report, actor=actor, as_of=as_of, dry_run=dry_run)
    except ServiceError as exc:
        raise TaskInputError(str(exc)) from None


def task_status(result_id: str) -> TaskStatus:
    """Where a queued sync or approval is: queued, running, succeeded (with its run) or
    failed (with the error)."""
    try:
        result = default_task_backend.get_result(str(result_id))
    except TaskResultDoesNotExist:
        raise TaskNotFound(f"no task {result_id}") from None
    func = result.task.func
    if func is not sync_upload.func and func is not sync_approve.func:
        raise TaskNotFound(f"no task {result_id}")
    run_id: int | None = result.kwargs.get("run_id")
    upload_id: int | None = result.kwargs.get("upload_id")
    if upload_id is None and run_id is not None:
        upload_id = m.SyncRun.objects.filter(pk=run_id).values_list("upload_id", flat=True).first()
    run_status: str | None = None
    error: str | None = None
    if result.status == TaskResultStatus.SUCCESSFUL:
        value = result.return_value or {}
        run_id, run_status = value.get("run"), value.get("status")
    elif result.status == TaskResultStatus.FAILED:
        error = _error_line(result.errors[-1].traceback) if result.errors else "the task failed"
    if run_id is not None and run_status is None:
        run_status = m.SyncRun.objects.filter(pk=run_id).values_list("status", flat=True).first()
    school = (
        m.Upload.objects.filter(pk=upload_id).values_list("school__urn", flat=True).first()
        if upload_id is not None
        else None
    )
    return {
        "id": str(result.id),
        "kind": "approve" if func is sync_approve.func else "sync",
        "status": _STATUS.get(result.status, "queued"),
        "upload": upload_id,
        "school": school,
        "dry_run": bool(result.kwargs.get("dry_run", False)),
        "enqueued_at": result.enqueued_at,
        "started_at": result.started_at,
        "finished_at": result.finished_at,
        "run": run_id,
        "run_status": run_status,
        "error": error,
    }


def _error_line(traceback_text: str) -> str:
    """The exception line of a traceback, without the module path of its class."""
    lines = [line for line in traceback_text.strip().splitlines() if line.strip()]
    if not lines:
        return "the task failed"
    last = lines[-1]
    head, sep, message = last.partition(": ")
    return f"{head.rsplit('.', 1)[-1]}{sep}{message}"


# --- the worker ------------------------------------------------------------------------


def run_queued(*, max_tasks: int | None = None, worker_id: str = "in-process") -> int:
    """Run what is waiting on the queue in this process, then return how many ran.

    The same worker loop `db_worker --batch` runs (claiming each task in its own
    transaction), without installing signal handlers."""
    worker = Worker(
        queue_names=[QUEUE],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=max_tasks,
        worker_id=worker_id,
        excluded_queue_names=[],
    )
    worker.run()
    return worker._run_tasks


def worker_main(argv: Sequence[str] | None = None) -> int:
    """`rollsync worker [ARGS]`: django-tasks-db's `db_worker` with the same arguments
    (`--batch` to drain the queue and exit, `--max-tasks N`, `--interval SECONDS`,
    `--worker-id ID`; see `db_worker --help`). Django must be set up first."""
    from django.core.management import call_command

    resume_stale_uploads()
    call_command("db_worker", *(argv or ()))
    return 0


def resume_stale_uploads(*, actor: str = "worker") -> int:
    """The worker's pick-up, when it starts: uploads left with no run (and no task) for
    longer than the stale period (an import killed mid-way) are processed again or
    marked abandoned (`services.uploads.uploads_resume`). Returns how many it handled."""
    from rollsync.directory.services.uploads import uploads_resume

    return len(uploads_resume(actor=actor))


__all__ = [
    "ApprovalRefused",
    "TaskInputError",
    "TaskNotFound",
    "TaskStatus",
    "enqueue_approve",
    "enqueue_force_run",
    "enqueue_sync",
    "latest_upload_for",
    "resume_stale_uploads",
    "run_queued",
    "sync_approve",
    "sync_upload",
    "task_status",
    "worker_main",
]
