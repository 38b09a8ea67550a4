"""Models to the plain dicts the API's response schemas validate: no logic, only shape."""

from __future__ import annotations

from typing import Any

from rollsync.directory import models as m
from rollsync.directory import selectors as directory_selectors
from rollsync.directory.selectors import audit_change_lines
from rollsync.directory.tasks import TaskStatus
from rollsync.domain.actions import COUNT_KEYS, RELATION_COUNT_KEYS
from rollsync.domain.reports import CATALOGUE
from rollsync.domain.run_status import run_view


def school(s: m.School, accepted_reports: list[str]) -> dict[str, Any]:
    return {
        "urn": s.urn,
        "name": s.name,
        "la_code": s.la.code,
        "la_name": s.la.name,
        "dfe_number": s.dfe_number,
        "phase": s.phase,
        "status": s.status,
        "mis": s.mis,
        "accepted_reports": accepted_reports,
        "guard_unallocate_pct": s.guard_unallocate_pct,
        "leaver_grace_days": s.leaver_grace_days,
    }


def counts(raw: dict[str, Any]) -> dict[str, int]:
    return {key: int(raw.get(key, 0)) for key in (*COUNT_KEYS, *RELATION_COUNT_KEYS)}


def status_fields(r: m.SyncRun) -> dict[str, Any]:
    """What the run's status means: "Applied with 3 rejected rows", "Waiting for run 12"."""
    view = run_view(status=r.status, counts=r.counts, waits_for=r.waits_for_id)
    return {
        "status_detail": view.label,
        "clean": view.clean,
        "rejected_rows": int((r.counts or {}).get("rejected", 0) or 0),
        "waits_for": r.waits_for_id,
    }


def run(r: m.SyncRun) -> dict[str, Any]:
    return {
        "id": r.pk,
        "school": r.school.urn,
        "upload": r.upload_id,
        "report": r.upload.report or None,
        "format": r.upload.fmt,
        "status": r.status,
        **status_fields(r),
        "dry_run": r.dry_run,
        "as_of": r.as_of,
        "counts": counts(r.counts),
        "errors": [
            {
                "row": e.get("row"),
                "field": e.get("field"),
                "message": e.get("message", ""),
                "source": e.get("source"),
            }
            for e in r.errors
        ],
        "holds": [
            {
                "code": h.get("code", ""),
                "message": h.get("message", ""),
                "acknowledged_by": h.get("acknowledged_by") or None,
            }
            for h in r.holds
        ],
        "seconds": round(r.seconds, 3),
        "created_at": r.created_at,
        "applied_at": r.applied_at,
        "approved_by": r.approved_by or None,
    }


def run_detail(r: m.SyncRun) -> dict[str, Any]:
    kept = [
        {"username": place.account.username, "kept_by": event.actor, "kept_at": event.at}
        for place, event in directory_selectors.kept_non_mis_for_run(run=r)
    ]
    return {**run(r), "actions": r.actions, "kept_non_mis": kept}


def result(r: m.SyncRun) -> dict[str, Any]:
    report = r.upload.report or None
    label = CATALOGUE[report].label if report in CATALOGUE else f"Bundle ({r.upload.fmt})"
    return {"report": report, "label": label, "format": r.upload.fmt, "run": run(r)}


def upload(u: m.Upload) -> dict[str, Any]:
    runs = sorted(u.runs.all(), key=lambda r: r.pk)
    latest = status_fields(runs[-1]) if runs else None
    return {
        "id": u.pk,
        "school": u.school.urn,
        "source": u.source,
        "format": u.fmt,
        "report": u.report or None,
        "filename": u.filename,
        "asked": u.asked,
        "size": u.size,
        "sha256": u.sha256,
        "received_at": u.received_at,
        "outcome": u.outcome,
        "status_detail": latest["status_detail"]
        if latest
        else str(u.outcome).replace("_", " ").capitalize(),
        "rejected_rows": latest["rejected_rows"] if latest else 0,
        "runs": [
            {
                "id": r.pk,
                "status": r.status,
                "dry_run": r.dry_run,
                "created_at": r.created_at,
                **status_fields(r),
            }
            for r in runs
        ],
    }


# Failures whose message is meant for the caller; any other failure is an internal error
# whose text (paths, SQL) stays with the service desk (the task row keeps the traceback).
_CALLER_ERRORS = ("TaskInputError: ", "ApprovalRefused: ")
INTERNAL_TASK_ERROR = (
    "the worker hit an internal error and changed nothing; the service desk has the details"
)


def task_error(error: str | None) -> str | None:
    if error is None:
        return None
    for prefix in _CALLER_ERRORS:
        if error.startswith(prefix):
            return error.removeprefix(prefix)
    return INTERNAL_TASK_ERROR


def task(status: TaskStatus, *, url: str, run_obj: m.SyncRun | None) -> dict[str, Any]:
    return {
        "id": status["id"],
        "kind": status["kind"],
        "status": status["status"],
        "url": url,
        "upload": status["upload"],
        "school": status["school"],
        "dry_run": status["dry_run"],
        "enqueued_at": status["enqueued_at"],
        "started_at": status["started_at"],
        "finished_at": status["finished_at"],
        "run": run(run_obj) if run_obj is not None else None,
        "error": task_error(status["error"]),
    }


def match_case(c: m.MatchCase) -> dict[str, Any]:
    return {
        "id": c.pk,
        "school": c.school.urn,
        "run": c.run_id,
        "role": c.role,
        "mis_id": c.mis_id,
        "record": c.record,
        "reason": c.reason,
        "candidates": [
            {
                "account_id": cand["account_id"],
                "username": cand.get("username"),
                "score": cand.get("score", 0.0),
                "explanation": cand.get("explanation", ""),
            }
            for cand in c.candidates
        ],
        "status": c.status,
        "created_at": c.created_at,
        "resolved_account": c.resolved_account.username if c.resolved_account else None,
        "resolved_at": c.resolved_at,
        "resolved_by": c.resolved_by or None,
    }


def cross_school_case(c: m.CrossSchoolCase) -> dict[str, Any]:
    return {
        "id": c.pk,
        "school": c.school.urn,
        "holding_school": c.holding_school.urn,
        "account": c.account.username,
        "role": c.role,
        "mis_id": c.mis_id,
        "changes": c.changes,
        "reason": c.reason,
        "status": c.status,
        "created_at": c.created_at,
        "decided_at": c.decided_at,
        "decided_by": c.decided_by or None,
    }


def allocation_account(al: m.Allocation) -> dict[str, Any]:
    a = al.account
    return {
        "username": a.username,
        "id": str(a.uid),
        "account_id": a.pk,
        "role": al.role,
        "status": al.status,
        "account_status": a.status,
        "legal_given_name": a.legal_given_name,
        "legal_family_name": a.legal_family_name,
        "preferred_given_name": a.preferred_given_name,
        "preferred_family_name": a.preferred_family_name,
        "date_of_birth": a.date_of_birth,
        "mis_id": al.mis_id,
        "upn": al.upn,
        "year_group": al.year_group,
        "registration_group": al.registration_group,
        "start_date": al.start_date,
        "leaving_date": al.leaving_date,
        "last_move_or_create": al.last_move_or_create_kind or None,
    }


def account_detail(
    a: m.Account, allocations: list[m.Allocation], audit: list[m.AuditEvent]
) -> dict[str, Any]:
    lines = audit_change_lines(audit)
    return {
        "username": a.username,
        "id": str(a.uid),
        "account_id": a.pk,
        "role": a.role,
        "status": a.status,
        "legal_given_name": a.legal_given_name,
        "legal_family_name": a.legal_family_name,
        "preferred_given_name": a.preferred_given_name,
        "preferred_family_name": a.preferred_family_name,
        "middle_names": a.middle_names,
        "date_of_birth": a.date_of_birth,
        "gender": a.gender,
        "upn": a.upn,
        "allocations": [
            {
                "school": al.school.urn,
                "school_name": al.school.name,
                "role": al.role,
                "status": al.status,
                "mis_id": al.mis_id,
                "upn": al.upn,
                "start_date": al.start_date,
                "leaving_date": al.leaving_date,
                "year_group": al.year_group,
                "registration_group": al.registration_group,
                "requested_single": al.requested_single,
                "leaver_pending_since": al.leaver_pending_since,
                "unallocated_at": al.unallocated_at,
                "last_move_or_create_at": al.last_move_or_create_at,
                "last_move_or_create": al.last_move_or_create_kind or None,
            }
            for al in allocations
        ],
        "audit": [
            {
                "at": e.at,
                "action": e.action,
                "reason": e.reason,
                "actor": e.actor,
                "school": e.school.urn if e.school else None,
                "run": e.run_id,
                "changes": e.changes,
                "changes_text": lines[e.pk],
            }
            for e in audit
        ],
    }


def exclusion(e: m.Exclusion) -> dict[str, Any]:
    return {
        "id": e.pk,
        "role": e.role,
        "mis_id": e.mis_id,
        "given_name": e.given_name,
        "family_name": e.family_name,
        "date_of_birth": e.date_of_birth,
        "note": e.note,
        "created_at": e.created_at,
        "created_by": e.created_by,
    }
