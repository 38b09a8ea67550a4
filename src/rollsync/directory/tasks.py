"""Background work: sync runs off the request path, on a durable queue that survives a crash.

Pages and the JSON API never run a sync inside a request: they store the upload and
queue it through a service (`services.uploads.upload_queue` and `services.sync.run_force`
call `enqueue_sync`; `services.sync.run_approve_queue` calls `enqueue_approve`), answer
at once with the task id, and read progress with `task_status`.

The queue is django-q2 with its ORM broker, a table in the project's own database
(docs/decisions/0043-queue-django-q2.md): it works with one worker on SQLite and with
many workers on several hosts sharing PostgreSQL. Each task is a `QueuedTask` row of
ours (what was asked, where it is) plus django-q2's queue row, which carries only our
id; both are written in the caller's transaction, so a task queued in a transaction
that rolls back never exists, and one queued in a transaction that commits is there
(no window between the commit and the enqueue).

- A cluster leases a queue row for `Q_CLUSTER["retry"]` seconds when it takes it and
  removes it when the task is done; a task whose worker died (killed, host lost) is
  delivered again when the lease ends. The workers of `rollsync worker` die with it
  (`_die_with_parent`), so a killed worker leaves no orphan still running its task.
- An attempt's work and the mark "succeeded" commit together, under the school's row
  lock, and an attempt first checks that no earlier one succeeded: a second delivery
  of a finished task changes nothing.
- A transient error (a database error, a lost race) is tried again after
  `ROLLSYNC_TASK_BACKOFF` seconds, doubled each time, up to `ROLLSYNC_TASK_MAX_ATTEMPTS`
  attempts in all (killed attempts count); then the task is failed with its error. A
  task that cannot succeed (its upload or run is gone, an approval refused, a bug) is
  failed at once. Bad data never raises: the run records it and the task succeeds.
- A school's Groups & Classes, Contacts or Attendance upload taken while an earlier
  people upload (or bundle) of the same school is still queued or running waits for it
  (`_earlier_people_upload`): its queue row is held `ROLLSYNC_TASK_ORDER_WAIT` seconds (2),
  no attempt counted, so with several workers it is never planned against a directory
  that does not hold that night's pupils yet.
- Schedules (django-q2's `Schedule`, cron or every N minutes) are taken by one worker
  per period (`select_for_update` of the due schedules; on SQLite the write lock):
  uploads left with no run are resumed every 5 minutes (migration 0003).

`rollsync worker` (`worker_main`) runs a django-q2 cluster and the scheduler;
`run_queued` runs what is due in this process and returns (tests, `--batch`, the demo).
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import multiprocessing.util
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from contextvars import ContextVar
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TypedDict

from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, transaction
from django.db.models import F, Subquery
from django.utils import timezone
from django_q.exceptions import TimeoutException

from rollsync.directory import models as m
from rollsync.directory.services.sync import SyncError, sync_run_approve, sync_run_execute
from rollsync.domain.run_status import WAITS_ON
from rollsync.ops import tasklog

TASK_FUNC = "rollsync.directory.tasks.execute"
SCHEDULE_RESUME = "resume stale uploads"
_FINAL = (m.QueuedTask.Status.SUCCEEDED, m.QueuedTask.Status.FAILED)
log = logging.getLogger("rollsync.tasks")
# Errors that another attempt may not meet: the database was busy or went away, or a
# concurrent writer won a race (a unique key taken meanwhile, a serialization failure).
TRANSIENT = (OperationalError, IntegrityError, InterfaceError)


class TaskInputError(ValueError):
    """A task cannot be queued (or run) with what it was given; the message says why."""


class TaskNotFound(LookupError):
    """No sync task has that id."""


class ApprovalRefused(Exception):
    """A queued approval found the run no longer approvable (overtaken, or not held)."""


class TaskStatus(TypedDict):
    id: str
    kind: str  # sync | approve | pull
    status: str  # queued | running | succeeded | failed
    upload: int | None
    school: str | None  # URN of the upload's school
    dry_run: bool
    enqueued_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    run: int | None  # the SyncRun: once a sync succeeded; from the start for an approval
    runs: list[int]  # every run of the task (a pull: one per report pulled)
    run_status: str | None  # applied | held | preview | failed | ...
    error: str | None  # why the task itself failed (not why a run failed: see the run)


# --- queueing ----------------------------------------------------------------------------


def _enqueue(**fields: Any) -> str:
    """Record the task and put it on django-q2's queue, both in the caller's transaction
    (the ORM broker writes its row on the same connection)."""
    from django_q.tasks import async_task

    task_id = str(uuid.uuid4())
    with transaction.atomic():
        m.QueuedTask.objects.create(id=task_id, **fields)
        async_task(TASK_FUNC, task_id, task_name=task_id, group=fields["kind"])
    return task_id


def enqueue_sync(
    upload_id: int, *, as_of: date | None = None, actor: str, dry_run: bool = False
) -> str:
    """Queue the sync of a stored upload; returns the task id for `task_status`."""
    if not m.Upload.objects.filter(pk=upload_id).exists():
        raise TaskInputError(f"upload {upload_id} does not exist")
    return _enqueue(
        kind=m.QueuedTask.Kind.SYNC, upload_id=upload_id, as_of=as_of, actor=actor, dry_run=dry_run
    )


def enqueue_pull(
    school_id: int,
    *,
    actor: str,
    trigger: str,
    reports: list[str] | None = None,
    dry_run: bool = False,
) -> str:
    """Queue a pull of the school's MIS (its schedule, or Force run from the web or API)."""
    return _enqueue(
        kind=m.QueuedTask.Kind.PULL,
        school_id=school_id,
        reports=list(reports or []),
        # a scheduled pull's actor is "schedule"; anything else was asked by a person
        actor="schedule" if trigger == "schedule" else actor,
        dry_run=dry_run,
    )


def enqueue_approve(run_id: int, *, actor: str) -> str:
    """Queue the approval of a held run; returns the task id for `task_status`."""
    run = m.SyncRun.objects.filter(pk=run_id).values("status", "upload_id").first()
    if run is None:
        raise TaskInputError(f"run {run_id} does not exist")
    if run["status"] != m.SyncRun.Status.HELD:
        raise TaskInputError(
            f"run {run_id} is {run['status']}, not held: only a held run can be approved"
        )
    return _enqueue(
        kind=m.QueuedTask.Kind.APPROVE, run_id=run_id, upload_id=run["upload_id"], actor=actor
    )


# --- where a task is ---------------------------------------------------------------------


def task_status(result_id: str) -> TaskStatus:
    """Where a queued sync or approval is: queued, running, succeeded (with its run) or
    failed (with the error). An attempt whose worker died shows `queued` again once its
    lease has ended (it is waiting to be delivered again), never `running` for good."""
    task = m.QueuedTask.objects.filter(pk=str(result_id)).first()
    if task is None:
        raise TaskNotFound(f"no task {result_id}")
    status = task.status
    if status == m.QueuedTask.Status.RUNNING and not _leased(task):
        status = m.QueuedTask.Status.QUEUED
    run_status = (
        m.SyncRun.objects.filter(pk=task.run_id).values_list("status", flat=True).first()
        if task.run_id is not None
        else None
    )
    if task.school_id is not None:  # a pull: its school is known before any upload
        school = m.School.objects.filter(pk=task.school_id).values_list("urn", flat=True).first()
    elif task.upload_id is not None:
        school = (
            m.Upload.objects.filter(pk=task.upload_id).values_list("school__urn", flat=True).first()
        )
    else:
        school = None
    return {
        "id": task.id,
        "kind": task.kind,
        "status": str(status),
        "upload": task.upload_id,
        "school": school,
        "dry_run": task.dry_run,
        "enqueued_at": task.enqueued_at,
        "started_at": task.started_at,
        "finished_at": task.finished_at,
        "run": task.run_id,
        "runs": list(task.run_ids or ([task.run_id] if task.run_id is not None else [])),
        "run_status": run_status,
        "error": task.error if status == m.QueuedTask.Status.FAILED else None,
    }


def _leased(task: m.QueuedTask) -> bool:
    """Whether the attempt under way still holds its lease on the queue row (a worker
    that died stops renewing nothing, but its lease ends `retry` seconds after it took
    the task: then the row is free for another worker)."""
    from django_q.models import OrmQ

    if task.lease is None:
        return True
    return OrmQ.objects.filter(pk=task.lease, lock__gt=timezone.now()).exists()


# --- the task body -----------------------------------------------------------------------

# The django-q2 queue row the current attempt came from (set by `run_queued`, or by the
# cluster's pre_execute signal in a worker process).
_lease: ContextVar[int | None] = ContextVar("rollsync_task_lease", default=None)


def execute(task_id: str) -> dict[str, Any] | None:
    """Run one attempt of a queued task (django-q2 calls this with our task id).

    Returns normally when the task is finished (succeeded or failed for good), so the
    queue drops it; raises only to be tried again (a transient error within the bound
    of attempts), after moving the queue row's lease to when the next attempt is due."""
    lease = _lease.get()
    earlier = _earlier_people_upload(task_id, lease)
    if earlier is not None and lease is not None:
        _wait_for_earlier(task_id, lease, earlier)
        raise WaitingForEarlierUpload(f"upload {earlier} of the same school is still queued")
    now = timezone.now()
    started = (
        m.QueuedTask.objects.filter(pk=task_id)
        .exclude(status__in=_FINAL)
        .update(
            status=m.QueuedTask.Status.RUNNING,
            started_at=now,
            finished_at=None,
            attempts=F("attempts") + 1,
            lease=lease,
        )
    )
    if not started:
        return None  # finished by an earlier delivery (or never committed): nothing to do
    task = m.QueuedTask.objects.get(pk=task_id)
    tasklog.task_started(task)  # every log line from here names the task, upload and school
    bound = int(getattr(settings, "ROLLSYNC_TASK_MAX_ATTEMPTS", 5))
    if task.attempts > bound:
        last = f": {task.error}" if task.error else " (its worker stopped each time)"
        _finish(task_id, error=f"gave up after {bound} attempts{last}")
        return None
    try:
        value = _perform(task)
    except (TaskInputError, ApprovalRefused) as exc:
        _finish(task_id, error=_describe(exc))
        return None
    except TRANSIENT as exc:
        if task.attempts >= bound:
            _finish(task_id, error=_describe(exc))
            return None
        delay = float(getattr(settings, "ROLLSYNC_TASK_BACKOFF", 30)) * 2 ** (task.attempts - 1)
        _retry_later(task_id, lease, error=_describe(exc), delay=delay)
        raise
    except Exception as exc:  # a defect: another attempt would meet it again
        _finish(task_id, error=_describe(exc))
        return None
    except TimeoutException as exc:  # past Q_CLUSTER["timeout"]: it would be again
        _finish(task_id, error=f"stopped: {exc}")
        return None
    return value


class WaitingForEarlierUpload(Exception):
    """Not an attempt: the task's upload names people an earlier upload of its school,
    still on the queue, lists (`_earlier_people_upload`)."""


def _earlier_people_upload(task_id: str, lease: int | None) -> int | None:
    """An upload of Groups & Classes, Contacts or Attendance names people that the
    school's people reports (or a bundle) list. With several workers, it could be taken
    while an earlier people upload of the same night is still queued or running, and
    every row would then name someone not yet there (a failed run). Such an upload waits:
    this returns the earlier upload it waits for, if any.

    Only for one that will still be processed: not a dry run, not one whose task failed
    or succeeded, not one that has a run by now (resumed by `uploads_resume`; a held run
    is waited for by the run itself, `sync._waits`), was abandoned or purged, and not one
    whose attempt under way lost its queue row (nothing would deliver it again). Without a
    queue row of its own to hold (`lease`), a task does not wait: it could only spin."""
    if lease is None:
        return None
    # The task's upload, in one query (every task pays it; most then wait for nothing).
    of_task = (
        m.QueuedTask.objects.filter(pk=task_id, kind=m.QueuedTask.Kind.SYNC)
        .exclude(status__in=_FINAL)
        .values("upload_id")[:1]
    )
    upload = (
        m.Upload.objects.filter(pk=Subquery(of_task)).values("pk", "school_id", "report").first()
    )
    wanted = WAITS_ON.get(upload["report"]) if upload else None
    if upload is None or not wanted:
        return None
    from django_q.models import OrmQ

    from rollsync.directory.services.uploads import ABANDONED

    people = (
        m.Upload.objects.filter(
            school_id=upload["school_id"],
            pk__lt=upload["pk"],
            report__in=[*wanted, ""],
            runs__isnull=True,
            purged_at__isnull=True,
        )
        .exclude(outcome=ABANDONED)
        .values("pk")
    )
    earlier = (
        m.QueuedTask.objects.filter(
            kind=m.QueuedTask.Kind.SYNC, dry_run=False, upload_id__in=people
        )
        .exclude(status__in=_FINAL)
        .order_by("upload_id")
        .values_list("upload_id", "lease")
    )
    leases = {lease for _, lease in earlier if lease is not None}
    alive = set(OrmQ.objects.filter(pk__in=leases).values_list("pk", flat=True)) if leases else ()
    for upload_id, held in earlier:
        if held is None or held in alive:
            return int(upload_id)
    return None


def _wait_for_earlier(task_id: str, lease: int, earlier: int) -> None:
    """Leave the task queued, its attempts untouched, and hold its queue row a few
    seconds (`ROLLSYNC_TASK_ORDER_WAIT`), after which it is delivered again: the worker
    goes on with other tasks meanwhile."""
    from django_q.models import OrmQ

    delay = float(getattr(settings, "ROLLSYNC_TASK_ORDER_WAIT", 2))
    log.info("task %s waits for upload %s of the same school", task_id, earlier)
    OrmQ.objects.filter(pk=lease).update(lock=timezone.now() + timedelta(seconds=delay))


def _perform(task: m.QueuedTask) -> dict[str, Any] | None:
    """The work itself, thin: hold the task's own row (a second delivery of it waits,
    then finds it finished), call the service, which plans and applies under the LA's
    lock (one run of a school, and of its LA, at a time), and mark the task succeeded in
    the same transaction."""
    if task.kind == m.QueuedTask.Kind.APPROVE:
        return _approve(task)
    if task.kind == m.QueuedTask.Kind.PULL:
        return _pull(task)
    # Its bytes are read when the run parses them, as binary (`sync._payload`).
    found = m.Upload.objects.select_related("school").defer("data").filter(pk=task.upload_id)
    upload = found.first()
    if upload is None:
        raise TaskInputError(f"upload {task.upload_id} does not exist")
    if upload.purged_at is not None:  # retention forgot its bytes (ops.services)
        raise TaskInputError(
            f"upload {upload.pk}'s file was purged on {upload.purged_at:%Y-%m-%d} "
            "(retention): there is nothing left to process; upload the file again"
        )
    with transaction.atomic():
        if _hold_unless_finished(task):
            return None
        run = sync_run_execute(
            upload=upload, dry_run=task.dry_run, as_of=task.as_of, actor=task.actor
        )
        _test_pause()
        _succeed(task.id, run)
    return {"run": run.pk, "status": run.status}


def _pull(task: m.QueuedTask) -> dict[str, Any] | None:
    """Pull a school's MIS. Not inside the task's transaction: a pull talks to the vendor
    for minutes, and the connection's own lease (`services.connections`) keeps a school's
    pulls from overlapping. A failed pull is recorded by the service, not retried here
    (its schedule retries it)."""
    from rollsync.directory.services.connections import MisConnectionError, connection_pull

    school = m.School.objects.filter(pk=task.school_id).first()
    if school is None:
        raise TaskInputError(f"school {task.school_id} does not exist")
    try:
        outcome = connection_pull(
            school=school,
            actor=task.actor,
            reports=list(task.reports or []) or None,
            dry_run=task.dry_run,
            trigger="force" if task.actor != "schedule" else "schedule",
            holder=task.id,
        )
    except MisConnectionError as exc:
        raise TaskInputError(str(exc)) from None
    first = outcome.runs[0].pk if outcome.runs else None
    # A pull that stored nothing failed; one whose runs were stored succeeded, and each
    # run says how it went (a run may fail on its data while the others applied).
    m.QueuedTask.objects.filter(pk=task.id).update(
        status=m.QueuedTask.Status.SUCCEEDED if outcome.runs else m.QueuedTask.Status.FAILED,
        run_id=first,
        run_ids=[r.pk for r in outcome.runs],
        upload_id=outcome.uploads[0].pk if outcome.uploads else None,
        finished_at=timezone.now(),
        error=None if outcome.runs else outcome.error or "the pull failed",
    )
    return {"run": first, "status": outcome.status, "runs": [r.pk for r in outcome.runs]}


def pull_due_connections(*, actor: str = "schedule") -> int:
    """Every minute (a django-q2 schedule): queue the pulls whose time has come."""
    from rollsync.directory.services.connections import connections_queue_due

    return len(connections_queue_due(actor=actor))


def _approve(task: m.QueuedTask) -> dict[str, Any] | None:
    """Approve a held run: its upload is planned again against the directory as it is
    now, with the guard acknowledged, and applied. A run that can no longer be approved
    fails the task with the reason (the run keeps what the refusal recorded on it)."""
    school_id = m.SyncRun.objects.filter(pk=task.run_id).values_list("school_id", flat=True).first()
    if school_id is None:
        raise TaskInputError(f"run {task.run_id} does not exist")
    refused: str | None = None
    with transaction.atomic():
        if _hold_unless_finished(task):
            return None
        run = m.SyncRun.objects.select_related("school", "school__la__region", "upload").get(
            pk=task.run_id
        )
        try:
            run = sync_run_approve(run=run, actor=task.actor)
        except SyncError as exc:  # recorded on the run (e.g. superseded): keep that, then fail
            refused = str(exc)
        else:
            _test_pause()
            _succeed(task.id, run)
    if refused is not None:
        raise ApprovalRefused(refused)
    return {"run": run.pk, "status": run.status}


def _hold_unless_finished(task: m.QueuedTask) -> bool:
    """Lock the task's own row for this attempt, and say whether an earlier delivery of
    it finished it meanwhile (the status read once the lock is held: a delivery that
    finished it committed first). Never the school's or the LA's row: the service takes
    the LA's lock itself, after parsing, and a lock taken here first would reverse that
    order (school before LA) and deadlock with another school's run."""
    status = (
        m.QueuedTask.objects.select_for_update()
        .filter(pk=task.id)
        .values_list("status", flat=True)
        .first()
    )
    return status in _FINAL


def _succeed(task_id: str, run: m.SyncRun) -> None:
    m.QueuedTask.objects.filter(pk=task_id).update(
        status=m.QueuedTask.Status.SUCCEEDED, run_id=run.pk, finished_at=timezone.now(), error=None
    )
    tasklog.task_finished(status="succeeded", run=run.pk)


def _finish(task_id: str, *, error: str) -> None:
    m.QueuedTask.objects.filter(pk=task_id).exclude(status__in=_FINAL).update(
        status=m.QueuedTask.Status.FAILED, finished_at=timezone.now(), error=error
    )
    tasklog.task_finished(status="failed", error=error)


def _retry_later(task_id: str, lease: int | None, *, error: str, delay: float) -> None:
    """Back to `queued` with the error kept, and the queue row held until the next
    attempt is due (django-q2 delivers an unacknowledged row again once its lock ends)."""
    from django_q.models import OrmQ

    m.QueuedTask.objects.filter(pk=task_id).exclude(status__in=_FINAL).update(
        status=m.QueuedTask.Status.QUEUED, error=error
    )
    tasklog.task_finished(status="to be retried", error=error)
    if lease is not None:
        OrmQ.objects.filter(pk=lease).update(lock=timezone.now() + timedelta(seconds=delay))


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _test_pause() -> None:
    """Tests only: hold the task's transaction open before it commits, so a test can kill
    or cut off the worker mid-task: `ROLLSYNC_TEST_TASK_PAUSE` seconds at most. With
    `ROLLSYNC_TEST_TASK_PAUSE_DIR` the worker leaves a `paused` file there once it holds
    the pause, and goes on as soon as the test leaves a `resume` file."""
    pause = os.environ.get("ROLLSYNC_TEST_TASK_PAUSE")
    if not pause:
        return
    folder = os.environ.get("ROLLSYNC_TEST_TASK_PAUSE_DIR")
    if not folder:
        time.sleep(float(pause))
        return
    Path(folder, "paused").touch()
    deadline = time.monotonic() + float(pause)
    while time.monotonic() < deadline and not Path(folder, "resume").exists():
        time.sleep(0.05)


def _on_pre_execute(sender: Any, func: Any, task: dict[str, Any], **kwargs: Any) -> None:
    """In a cluster's worker process: remember which queue row this attempt holds."""
    _lease.set(task.get("ack_id"))


def _connect_signals() -> None:
    from django_q.signals import pre_execute

    pre_execute.connect(_on_pre_execute, dispatch_uid="rollsync-task-lease")


_connect_signals()


# --- the worker --------------------------------------------------------------------------


def run_queued(*, max_tasks: int | None = None) -> int:
    """Run what is due on the queue in this process, oldest first, then return how many
    ran. It takes each queue row as a cluster does (a lease of `retry` seconds) and
    records the outcome as django-q2's monitor does (its `save_task`, then the row is
    removed unless the attempt is to be tried again); connections are left open, so
    tests may run it inside their transaction."""
    from django_q.brokers import get_broker
    from django_q.conf import Conf
    from django_q.models import OrmQ
    from django_q.monitor import save_task
    from django_q.signing import SignedPackage

    broker = get_broker()
    ran = 0
    while max_tasks is None or ran < max_tasks:
        row = (
            OrmQ.objects.filter(key=broker.list_key, lock__lt=timezone.now()).order_by("pk").first()
        )
        if row is None:
            break
        leased = timezone.now() + timedelta(seconds=Conf.RETRY)
        if not OrmQ.objects.filter(pk=row.pk, lock=row.lock).update(lock=leased):
            continue  # another worker took it first
        package = SignedPackage.loads(row.payload)
        package.update(ack_id=row.pk, cluster=Conf.CLUSTER_NAME, sync=True)
        token = _lease.set(row.pk)
        try:
            func = _locate(package["func"])
            package["result"], package["success"] = (
                func(*package["args"], **package["kwargs"]),
                True,
            )
        except Exception as exc:
            package["result"], package["success"] = _describe(exc), False
        finally:
            _lease.reset(token)
        package["stopped"] = timezone.now()
        save_task(package, broker)
        if package["success"]:
            broker.acknowledge(row.pk)
        ran += 1
    return ran


def _locate(name: Any) -> Any:
    if callable(name):
        return name
    import pydoc

    func = pydoc.locate(name)
    if func is None:
        raise ValueError(f"Function {name} is not defined")
    return func


def run_schedules() -> None:
    """Queue what the schedules say is due now (django-q2's scheduler: the due
    schedules are taken under `select_for_update`, so however many workers call this,
    each period's job is queued once)."""
    from django_q.scheduler import scheduler

    scheduler()


def _die_with_parent(_: object) -> None:
    """In each process a cluster starts (Linux): be killed when the process that started
    it dies, so `kill -9` of `rollsync worker` takes its workers with it (else they would
    run on, orphaned, holding tasks the queue is about to give to another worker)."""
    import ctypes

    pr_set_pdeathsig = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    parent = multiprocessing.parent_process()
    if parent is not None and parent.pid != os.getppid():
        os._exit(1)  # the parent died before we asked to die with it


class _ForkHook:
    """An object for multiprocessing's after-fork registry (it keeps a weak reference)."""


_FORK_HOOK = _ForkHook()


def worker_main(argv: Sequence[str] | None = None) -> int:
    """`rollsync worker [--batch [--max-tasks N]] [--workers N]`. Django must be set up.

    Resumes uploads whose import was cut short, then either drains what is due in this
    process and exits (`--batch`), or runs a django-q2 cluster (`--workers` worker
    processes) and the scheduler until SIGTERM or Ctrl-C."""
    parser = argparse.ArgumentParser(prog="rollsync worker")
    parser.add_argument("--batch", action="store_true", help="run what is due, then exit")
    parser.add_argument("--max-tasks", type=int, default=None, help="with --batch: at most N")
    parser.add_argument("--workers", type=int, default=None, help="worker processes")
    args = parser.parse_args(list(argv or ()))
    resume_stale_uploads()
    if args.batch:
        run_schedules()
        run_queued(max_tasks=args.max_tasks)
        return 0

    from django.db import connections
    from django_q.cluster import Cluster
    from django_q.conf import Conf

    if args.workers:
        Conf.WORKERS = args.workers
    if sys.platform.startswith("linux"):
        multiprocessing.util.register_after_fork(_FORK_HOOK, _die_with_parent)
    connections.close_all()  # the cluster forks: no connection shared with its children
    cluster = Cluster()
    cluster.start()
    # django-q2 stops the cluster inside its signal handler, which runs wherever the main
    # thread is: inside `run_schedules`' transaction it would hold SQLite's write lock
    # while waiting for the monitor, which needs that lock to store the last result. So
    # the signal only asks, and the loop stops the cluster outside any transaction.
    stopping = threading.Event()

    def ask_to_stop(signum: int, frame: Any) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, ask_to_stop)
    signal.signal(signal.SIGINT, ask_to_stop)
    period = float(getattr(settings, "ROLLSYNC_SCHEDULER_SECONDS", 10))
    next_look = time.monotonic()
    while not stopping.is_set() and cluster.sentinel is not None and cluster.sentinel.is_alive():
        if time.monotonic() >= next_look:
            run_schedules()
            next_look = time.monotonic() + period
        stopping.wait(min(0.2, period))
    cluster.stop()
    return 0


def resume_stale_uploads(*, actor: str = "worker") -> int:
    """Uploads left with no run (and no task) for longer than the stale period (an
    import killed mid-way) are processed again or marked abandoned
    (`services.uploads.uploads_resume`): when the worker starts, and every 5 minutes
    on its schedule. Returns how many it handled."""
    from rollsync.directory.services.uploads import uploads_resume

    return len(uploads_resume(actor=actor))


def purge_expired_uploads(*, actor: str = "retention") -> int:
    """Every day (a django-q2 schedule): forget the bytes of uploads older than
    ROLLSYNC_UPLOAD_RETENTION_DAYS (`ops.services.uploads_purge_expired`), and delete the
    webhook deliveries finished ROLLSYNC_WEBHOOK_RETENTION_DAYS ago
    (`ops.services.webhook_deliveries_prune`) and django-q2's records of tasks finished
    ROLLSYNC_QUEUE_RESULT_RETENTION_DAYS ago (`ops.services.queue_results_prune`).
    Returns how many uploads it purged."""
    from rollsync.ops.services import (
        queue_results_prune,
        uploads_purge_expired,
        webhook_deliveries_prune,
    )

    purged = len(uploads_purge_expired(actor=actor).purged)
    webhook_deliveries_prune(actor=actor)
    queue_results_prune()
    return purged


__all__ = [
    "ApprovalRefused",
    "TaskInputError",
    "TaskNotFound",
    "TaskStatus",
    "enqueue_approve",
    "enqueue_pull",
    "enqueue_sync",
    "execute",
    "pull_due_connections",
    "purge_expired_uploads",
    "resume_stale_uploads",
    "run_queued",
    "run_schedules",
    "task_status",
    "worker_main",
]
