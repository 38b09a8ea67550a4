"""Reads for the JSON API, always through the token's scope: what a token cannot see
does not exist for it (404), whether or not it exists for someone else."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet

from rollsync.api.models import ApiToken
from rollsync.directory import models as m


class NotVisible(LookupError):
    """No such object in the token's scope (it may not exist at all)."""


def schools_for_token(token: ApiToken) -> QuerySet[m.School]:
    schools = m.School.objects.select_related("la").prefetch_related("accepted_reports")
    if token.school_id is not None:
        return schools.filter(pk=token.school_id)
    return schools.filter(la_id=token.la_id)


def school_for_token(token: ApiToken, urn: str) -> m.School:
    school = schools_for_token(token).select_related("la__region").filter(urn=urn).first()
    if school is None:
        raise NotVisible(f"no school with URN {urn}")
    return school


def school_accepted_reports(school: m.School) -> list[str]:
    return sorted(r.report for r in school.accepted_reports.all())


# --- uploads and runs ------------------------------------------------------------------


_RUN_REFS = m.SyncRun.objects.only(
    "pk", "upload_id", "status", "dry_run", "created_at", "counts", "waits_for"
).order_by("pk")


def uploads_at_school(school: m.School) -> QuerySet[m.Upload]:
    """The Upload History, newest first, each upload with its runs (the bytes deferred)."""
    return (
        m.Upload.objects.filter(school=school)
        .select_related("school")
        .defer("data")
        .prefetch_related(Prefetch("runs", queryset=_RUN_REFS))
        .order_by("-received_at", "-pk")
    )


def upload_for_token(token: ApiToken, upload_id: int) -> m.Upload:
    upload = (
        m.Upload.objects.filter(pk=upload_id, school__in=schools_for_token(token))
        .select_related("school")
        .defer("data")
        .prefetch_related(Prefetch("runs", queryset=_RUN_REFS))
        .first()
    )
    if upload is None:
        raise NotVisible(f"no upload {upload_id}")
    return upload


def runs_at_school(school: m.School, *, status: str | None = None) -> QuerySet[m.SyncRun]:
    runs = (
        m.SyncRun.objects.filter(school=school)
        .select_related("school", "upload")
        .defer("actions", "upload__data", "detail")
    )
    if status:
        runs = runs.filter(status=status)
    return runs.order_by("-created_at", "-pk")


def run_for_token(token: ApiToken, run_id: int) -> m.SyncRun:
    run = (
        m.SyncRun.objects.filter(pk=run_id, school__in=schools_for_token(token))
        .select_related("school", "school__la", "upload")
        .defer("upload__data")
        .first()
    )
    if run is None:
        raise NotVisible(f"no run {run_id}")
    return run


def latest_runs_by_report(school: m.School) -> list[m.SyncRun]:
    """Whole School Bulk Results: the latest run (not a dry run) of each report the
    school has uploaded; a bundle (no single report) is keyed by its format."""
    keys = sorted(
        set(m.Upload.objects.filter(school=school).values_list("report", "fmt").distinct())
    )
    seen: set[tuple[str, str]] = set()
    out: list[m.SyncRun] = []
    for report, fmt in keys:
        key = (report, "" if report else fmt)
        if key in seen:
            continue
        seen.add(key)
        runs = runs_at_school(school).filter(dry_run=False, upload__report=report)
        if not report:
            runs = runs.filter(upload__fmt=fmt)
        run = runs.first()
        if run is not None:
            out.append(run)
    return out


# --- match cases -----------------------------------------------------------------------


def match_cases_open(school: m.School) -> QuerySet[m.MatchCase]:
    return (
        m.MatchCase.objects.filter(school=school, status=m.MatchCase.Status.OPEN)
        .select_related("school", "resolved_account")
        .order_by("pk")
    )


def match_case_for_token(token: ApiToken, case_id: int) -> m.MatchCase:
    case = (
        m.MatchCase.objects.filter(pk=case_id, school__in=schools_for_token(token))
        .select_related("school", "resolved_account")
        .first()
    )
    if case is None:
        raise NotVisible(f"no match case {case_id}")
    return case


# --- accounts --------------------------------------------------------------------------


def allocations_at_school(
    school: m.School, *, role: str | None = None, status: str | None = None
) -> QuerySet[m.Allocation]:
    allocations = m.Allocation.objects.filter(school=school).select_related("account", "school")
    if role:
        allocations = allocations.filter(role=role)
    if status:
        allocations = allocations.filter(status=status)
    return allocations.order_by(
        "account__legal_family_name", "account__legal_given_name", "account__username", "pk"
    )


def account_at_school(school: m.School, username: str) -> m.Account:
    account = (
        m.Account.objects.filter(username=username, allocations__school=school).distinct().first()
    )
    if account is None:
        raise NotVisible(f"no account {username} at {school.urn}")
    return account


def account_detail(token: ApiToken, account: m.Account, *, audit_limit: int) -> dict[str, Any]:
    """An account's places and history, as far as the token's schools go: places at
    schools it cannot see, and what happened there, are left out."""
    visible = schools_for_token(token)
    allocations = list(
        m.Allocation.objects.filter(account=account, school__in=visible)
        .select_related("school")
        .order_by("school__urn", "role")
    )
    events = list(
        m.AuditEvent.objects.filter(account=account, school__in=visible)
        .select_related("school")
        .order_by("-at", "-pk")[:audit_limit]
    )
    return {"allocations": allocations, "audit": events}


def exclusions_at_school(school: m.School) -> QuerySet[m.Exclusion]:
    return m.Exclusion.objects.filter(school=school).order_by("pk")


def exclusion_at_school(school: m.School, exclusion_id: int) -> m.Exclusion:
    exclusion = exclusions_at_school(school).filter(pk=exclusion_id).first()
    if exclusion is None:
        raise NotVisible(f"no exclusion {exclusion_id} at {school.urn}")
    return exclusion


# --- tokens ----------------------------------------------------------------------------


def api_tokens(
    *, school: m.School | None = None, la: m.LocalAuthority | None = None
) -> QuerySet[ApiToken]:
    tokens = ApiToken.objects.select_related("school", "la").order_by("pk")
    if school is not None:
        tokens = tokens.filter(school=school)
    if la is not None:
        tokens = tokens.filter(la=la)
    return tokens
