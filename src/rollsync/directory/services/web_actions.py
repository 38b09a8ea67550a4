"""Writes the web app needs that no other service offered yet: queue an upload, a
Force run or an approval for the background worker, keep or unallocate a non-MIS account, decide a
needs-matching case within its candidates, and Change MIS. Each is keyword-only,
atomic, and audited like the rest of `services`."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from rollsync.directory import models as m
from rollsync.directory.services.accounts import AccountError, match_case_resolve
from rollsync.directory.services.audit import AuditLog
from rollsync.directory.services.schools import (
    MisChange,
    school_reports_withdraw_not_sendable,
)
from rollsync.directory.services.sync import allocation_unallocate
from rollsync.directory.services.uploads import SyncError, UploadSource, upload_store
from rollsync.domain.state import AllocationStatus

QUEUED = "queued"  # Upload.outcome while the worker has it; the run sets the final outcome


class WebActionError(ValueError):
    """A refused action; the message says why, in a school admin's words."""


def upload_queue(*, upload: m.Upload, actor: str) -> str:
    """Hand an upload to the background worker; returns the task id (`tasks.task_status`)."""
    from rollsync.directory import tasks

    with transaction.atomic():
        m.Upload.objects.filter(pk=upload.pk).update(outcome=QUEUED)
        upload.outcome = QUEUED
        result_id = tasks.enqueue_sync(upload.pk, as_of=None, actor=actor)
    return str(result_id)


def upload_receive(
    *,
    school: m.School,
    payload: UploadSource,
    fmt: str,
    report: str,
    filename: str,
    actor: str,
    declared_size: int | None = None,
) -> tuple[m.Upload, str]:
    """A file uploaded by hand: stored as it came (Upload History), then queued. The
    file is read within the upload limit (`upload_store`); a refusal stores nothing."""
    if declared_size == 0 or (isinstance(payload, (bytes, bytearray)) and not payload):
        raise WebActionError("the file is empty")
    if fmt == "csv" and not report:
        raise WebActionError("a rollsync CSV holds one report: choose which")
    with transaction.atomic():
        try:
            upload = upload_store(
                school=school,
                payload=payload,
                fmt=fmt,
                report=report if fmt == "csv" else "",
                filename=filename,
                source="web",
                declared_size=declared_size,
            )
        except SyncError as exc:
            raise WebActionError(str(exc)) from None
        audit = AuditLog(actor=actor, school=school)
        audit.add(
            "upload_received",
            f"{filename or 'A file'} uploaded by {actor}",
            changes={"upload": upload.pk, "sha256": upload.sha256, "size": upload.size},
        )
        audit.flush()
    return upload, upload_queue(upload=upload, actor=actor)


def force_run(*, school: m.School, upload: m.Upload, actor: str) -> str:
    """Re-process an upload (the latest of its report: the caller picks it). The run
    plans it against the directory as it is now, as if it had just arrived."""
    if upload.school_id != school.pk:
        raise WebActionError(f"upload {upload.pk} is not {school.urn}'s")
    with transaction.atomic():
        audit = AuditLog(actor=actor, school=school)
        audit.add(
            "force_run",
            f"Force run of upload {upload.pk} by {actor}",
            changes={"upload": upload.pk},
        )
        audit.flush()
        return upload_queue(upload=upload, actor=actor)


def run_approve_queue(*, run: m.SyncRun, actor: str) -> str:
    """Queue the approval of a held run (planning it again and applying it is long work);
    returns the task id."""
    from rollsync.directory import tasks

    try:
        return tasks.enqueue_approve(run.pk, actor=actor)
    except tasks.TaskInputError as exc:
        raise WebActionError(str(exc)) from None


@transaction.atomic
def non_mis_keep(*, allocation: m.Allocation, actor: str) -> None:
    """A person looked at an account no MIS record backs and kept it (recorded, so the
    review list shows when and by whom)."""
    audit = AuditLog(actor=actor, school=allocation.school)
    audit.add(
        "non_mis_kept",
        f"Kept by {actor} after review: not in the MIS, still needed",
        account_id=allocation.account_id,
    )
    audit.flush()


@transaction.atomic
def non_mis_unallocate(*, allocation: m.Allocation, actor: str) -> None:
    """Unallocate an account no MIS record backs (restorable, never deleted)."""
    locked = m.Allocation.objects.select_for_update().select_related("school").get(pk=allocation.pk)
    if locked.status == AllocationStatus.UNALLOCATED.value:
        raise WebActionError(f"{allocation.account.username} is already unallocated here")
    if locked.mis_id and not locked.requested_single:
        raise WebActionError(
            f"{allocation.account.username} is backed by MIS ID {locked.mis_id}: the MIS decides"
        )
    audit = AuditLog(actor=actor, school=locked.school)
    allocation_unallocate(
        allocation=locked,
        audit=audit,
        reason=f"Unallocated by {actor} after review: not in the MIS",
        now=timezone.now(),
    )
    audit.flush()


def match_case_decide(
    *,
    case: m.MatchCase,
    actor: str,
    link_account_id: int | None = None,
    create: bool = False,
    exclude: bool = False,
) -> m.MatchCase:
    """A person's decision on a needs-matching case (the link rule is the service's:
    `accounts.match_link_target`)."""
    try:
        return match_case_resolve(
            case_id=case.pk,
            actor=actor,
            link_account_id=link_account_id,
            create=create,
            exclude=exclude,
        )
    except AccountError as exc:
        raise WebActionError(str(exc)) from None


@transaction.atomic
def school_mis_set(*, school: m.School, mis: str, actor: str) -> MisChange:
    """Change MIS: record which MIS the school now runs. The accepted reports the new MIS
    cannot send are withdrawn (`schools.school_reports_withdraw_not_sendable`); the result
    says whether anything changed and which reports were withdrawn."""
    mis = mis.strip()
    if school.mis == mis:
        return MisChange(changed=False, withdrawn=())
    audit = AuditLog(actor=actor, school=school)
    audit.add(
        "school_mis_changed",
        f"MIS changed from {school.mis or 'none'} to {mis or 'none'} by {actor}",
        changes={"mis": [school.mis, mis]},
    )
    withdrawn = school_reports_withdraw_not_sendable(school=school, mis=mis, audit=audit)
    school.mis = mis
    school.save(update_fields=["mis"])
    audit.flush()
    return MisChange(changed=True, withdrawn=withdrawn)
