"""Retention of raw uploads, and of the webhook outbox (writes, so services:
keyword-only, atomic, audited).

An upload's bytes are kept ROLLSYNC_UPLOAD_RETENTION_DAYS days; then they go and
`purged_at` says when. The upload row stays for ever with its checksum, size, source and
times, and so do its runs (counts, errors, the plan): Upload History, Whole School Bulk
Results and every command still show it, and say the file was purged.

Some bytes are never purged, however old, because something may still read them:
- each feed's latest upload (school, report, format): Force run processes it again, and a
  pull asks the MIS for what changed since it;
- an upload with no run yet (it may still be resumed), or with a held run (approving
  plans it again), or with a queued or running task.

Webhook deliveries (`webhooks.WebhookDelivery`, with their `WebhookAttempt` log) are
kept ROLLSYNC_WEBHOOK_RETENTION_DAYS days after they finished (delivered, failed for good,
or cancelled when their endpoint was removed), then deleted; a pending or retrying one is
never deleted, however old (`webhook_deliveries_prune`).

django-q2's own record of a finished task (its Task table) is kept
ROLLSYNC_QUEUE_RESULT_RETENTION_DAYS days (`queue_results_prune`); each task's outcome
stays in rollsync's QueuedTask for ever.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, Max, OuterRef, Q, QuerySet
from django.utils import timezone

from rollsync.directory import models as m
from rollsync.directory.services.audit import AuditLog

log = logging.getLogger("rollsync.retention")
BATCH = 500


@dataclass
class PurgeResult:
    cutoff: datetime
    dry_run: bool
    purged: list[int] = field(default_factory=list)  # upload ids (would be, in a dry run)
    bytes: int = 0


def retention_days() -> int:
    return int(getattr(settings, "ROLLSYNC_UPLOAD_RETENTION_DAYS", 90))


def _latest_of_each_feed(schools: list[int] | None) -> QuerySet[Any]:
    """The newest upload's id of each (school, report, format): Force run's and a pull's."""
    uploads = (
        m.Upload.objects.all()
        if schools is None
        else m.Upload.objects.filter(school_id__in=schools)
    )
    latest = uploads.values("school", "report", "fmt").annotate(latest=Max("pk"))
    return latest.values_list("latest", flat=True)


def purgeable(*, cutoff: datetime, schools: list[int] | None = None) -> QuerySet[m.Upload]:
    """Uploads whose bytes may go: older than `cutoff`, not yet purged, and none of the
    kinds the module's docstring keeps (`schools`: only theirs)."""
    live_task = m.QueuedTask.objects.filter(
        upload_id=OuterRef("pk"),
        status__in=[m.QueuedTask.Status.QUEUED, m.QueuedTask.Status.RUNNING],
    )
    uploads = (
        m.Upload.objects.all()
        if schools is None
        else m.Upload.objects.filter(school_id__in=schools)
    )
    return (
        uploads.filter(purged_at__isnull=True, received_at__lt=cutoff)
        .filter(Exists(m.SyncRun.objects.filter(upload=OuterRef("pk"))))
        .exclude(Exists(m.SyncRun.objects.filter(upload=OuterRef("pk"), status="held")))
        .exclude(Exists(live_task))
        .exclude(pk__in=_latest_of_each_feed(schools))
    )


def uploads_purge_expired(
    *,
    actor: str,
    days: int | None = None,
    dry_run: bool = False,
    now: datetime | None = None,
) -> PurgeResult:
    """Forget the bytes of every purgeable upload older than `days` (the setting when
    None); one audit event per upload, in the batch's transaction. A dry run changes
    nothing and returns what it would purge."""
    days = retention_days() if days is None else days
    if days < 1:
        raise ValueError("the retention period is at least 1 day")
    cutoff = (now or timezone.now()) - timedelta(days=days)
    result = PurgeResult(cutoff=cutoff, dry_run=dry_run)
    found = list(purgeable(cutoff=cutoff).order_by("pk").values_list("pk", "school_id"))
    for start in range(0, len(found), BATCH):
        chunk = [pk for pk, _ in found[start : start + BATCH]]
        schools = sorted({school for _, school in found[start : start + BATCH]})
        if dry_run:
            result.purged += chunk
            result.bytes += sum(
                m.Upload.objects.filter(pk__in=chunk).values_list("size", flat=True)
            )
            continue
        with transaction.atomic():
            # the same conditions again, under the rows' locks: a task queued for one of
            # them since the list was read keeps its bytes
            rows = list(
                purgeable(cutoff=cutoff, schools=schools)
                .filter(pk__in=chunk)
                .select_for_update(of=("self",))
                .order_by("pk")
                .only("pk", "school_id", "size", "sha256", "received_at")
            )
            if not rows:
                continue
            stamp = timezone.now()
            m.Upload.objects.filter(pk__in=[u.pk for u in rows]).update(data=b"", purged_at=stamp)
            # The listing names the upload's people: it goes with the bytes.
            m.UploadListing.objects.filter(upload__in=[u.pk for u in rows]).delete()
            audit = AuditLog(actor=actor)
            for u in rows:
                audit.add(
                    "upload_purged",
                    f"The file of upload {u.pk} was purged after {days} days (retention); "
                    f"its checksum {u.sha256[:12]}… and its runs are kept",
                    school=m.School(pk=u.school_id),
                    changes={"purged_at": [None, stamp], "size": u.size},
                )
            audit.flush()
            result.purged += [u.pk for u in rows]
            result.bytes += sum(u.size for u in rows)
    log.info(
        "retention %s",
        "dry run" if dry_run else "run",
        extra={"uploads": len(result.purged), "bytes": result.bytes, "days": days},
    )
    return result


# --- the webhook outbox ---------------------------------------------------------------------


@dataclass
class PruneResult:
    cutoff: datetime
    dry_run: bool
    deliveries: list[int] = field(default_factory=list)  # delivery ids (would be, dry run)
    attempts: int = 0


def webhook_retention_days() -> int:
    return int(getattr(settings, "ROLLSYNC_WEBHOOK_RETENTION_DAYS", 30))


def prunable_deliveries(*, cutoff: datetime) -> QuerySet[Any]:
    """Deliveries finished, and last touched (made, delivered, tried), before `cutoff`:
    never a pending one (due, or waiting for its next try)."""
    from rollsync.webhooks.models import WebhookAttempt, WebhookDelivery

    S = WebhookDelivery.Status
    recent_try = WebhookAttempt.objects.filter(delivery_id=OuterRef("pk"), at__gte=cutoff)
    return (
        WebhookDelivery.objects.filter(
            status__in=[S.SUCCEEDED, S.FAILED, S.CANCELLED], created_at__lt=cutoff
        )
        .filter(Q(delivered_at__isnull=True) | Q(delivered_at__lt=cutoff))
        .exclude(Exists(recent_try))
    )


def webhook_deliveries_prune(
    *,
    actor: str,
    days: int | None = None,
    dry_run: bool = False,
    now: datetime | None = None,
) -> PruneResult:
    """Delete the finished deliveries older than `days` (the setting when None) with their
    attempts, a batch a transaction, one audit event a batch. A dry run changes nothing
    and returns what it would delete."""
    from rollsync.webhooks.models import WebhookAttempt, WebhookDelivery

    days = webhook_retention_days() if days is None else days
    if days < 1:
        raise ValueError("the webhook retention period is at least 1 day")
    cutoff = (now or timezone.now()) - timedelta(days=days)
    result = PruneResult(cutoff=cutoff, dry_run=dry_run)
    found = list(prunable_deliveries(cutoff=cutoff).order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(found), BATCH):
        chunk = found[start : start + BATCH]
        if dry_run:
            result.deliveries += chunk
            result.attempts += WebhookAttempt.objects.filter(delivery_id__in=chunk).count()
            continue
        with transaction.atomic():
            # the same conditions again, under the rows' locks: one replayed since the list
            # was read is pending again, and stays
            ids = list(
                prunable_deliveries(cutoff=cutoff)
                .filter(pk__in=chunk)
                .select_for_update(of=("self",))
                .order_by("pk")
                .values_list("pk", flat=True)
            )
            if not ids:
                continue
            attempts, _ = WebhookAttempt.objects.filter(delivery_id__in=ids).delete()
            WebhookDelivery.objects.filter(pk__in=ids).delete()
            audit = AuditLog(actor=actor)
            audit.add(
                "webhook_deliveries_pruned",
                f"{len(ids)} finished webhook deliveries (and their {attempts} attempts) "
                f"older than {days} days were deleted (retention)",
                changes={
                    "deliveries": len(ids),
                    "attempts": attempts,
                    "first": ids[0],
                    "last": ids[-1],
                },
            )
            audit.flush()
            result.deliveries += ids
            result.attempts += attempts
    log.info(
        "webhook retention %s",
        "dry run" if dry_run else "run",
        extra={"deliveries": len(result.deliveries), "attempts": result.attempts, "days": days},
    )
    return result


def queue_results_prune(*, days: int | None = None, now: datetime | None = None) -> int:
    """Delete django-q2's records of tasks that finished more than `days` ago (the
    setting when None), a batch a statement; returns how many. Only that debugging
    record: no rollsync row is touched, so no audit event is written."""
    from django_q.models import Task

    days = (
        int(getattr(settings, "ROLLSYNC_QUEUE_RESULT_RETENTION_DAYS", 14)) if days is None else days
    )
    if days < 1:
        raise ValueError("the queue result retention period is at least 1 day")
    cutoff = (now or timezone.now()) - timedelta(days=days)
    found = list(Task.objects.filter(stopped__lt=cutoff).values_list("pk", flat=True))
    for start in range(0, len(found), BATCH):
        Task.objects.filter(pk__in=found[start : start + BATCH]).delete()
    log.info("queue result retention", extra={"deleted": len(found), "days": days})
    return len(found)
