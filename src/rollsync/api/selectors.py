"""Reads for the JSON API, always through the tenancy chokepoint
(`access.selectors.restrict`, with the token as the principal: the same rule as for a
person with the same scope). What a token cannot see does not exist for it (404),
whether or not it exists for someone else; what it sees but may not do is refused
(403, `NotAllowed`)."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet

from rollsync.access.roles import Action
from rollsync.access.selectors import restrict, schools_for
from rollsync.api.models import ApiToken
from rollsync.directory import models as m
from rollsync.directory.tasks import TaskNotFound, TaskStatus, task_status


class NotVisible(LookupError):
    """No such object in the token's scope (it may not exist at all)."""


class NotAllowed(PermissionError):
    """The token sees the object but may not do this to it (e.g. Force run where the
    school's MIS does not allow it)."""


_DOING = {
    Action.OPERATE: "change anything",
    Action.CONFIGURE: "change the settings",
    Action.REPORTS: "accept or remove reports",
    Action.FORCE_RUN: "Force run",
    Action.DASHBOARD: "see the dashboard",
}


def schools_for_token(token: ApiToken, action: Action = Action.VIEW) -> QuerySet[m.School]:
    return schools_for(token, action).select_related("la").prefetch_related("accepted_reports")


def _visible(
    token: ApiToken, queryset: QuerySet[Any], action: Action, missing: str, what: str
) -> Any:
    """The one object of `queryset` the token may do `action` to: 404 when it does not
    see it at all, 403 when it sees it but the action is not its to do."""
    found = restrict(queryset, token, action).first()
    if found is not None:
        return found
    if action is not Action.VIEW and restrict(queryset, token, Action.VIEW).exists():
        why = ": the school's MIS does not allow it" if action is Action.FORCE_RUN else ""
        raise NotAllowed(f"this API token may not {_DOING[action]} at {what}{why}")
    raise NotVisible(missing)


def school_for_token(token: ApiToken, urn: str, action: Action = Action.VIEW) -> m.School:
    schools = (
        m.School.objects.select_related("la", "la__region")
        .prefetch_related("accepted_reports")
        .filter(urn=urn)
    )
    school: m.School = _visible(token, schools, action, f"no school with URN {urn}", urn)
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
    uploads = (
        m.Upload.objects.filter(pk=upload_id)
        .select_related("school")
        .defer("data")
        .prefetch_related(Prefetch("runs", queryset=_RUN_REFS))
    )
    upload: m.Upload = _visible(
        token, uploads, Action.VIEW, f"no upload {upload_id}", f"upload {upload_id}"
    )
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


def run_for_token(token: ApiToken, run_id: int, action: Action = Action.VIEW) -> m.SyncRun:
    runs = (
        m.SyncRun.objects.filter(pk=run_id)
        .select_related("school", "school__la", "upload")
        .defer("upload__data")
    )
    run: m.SyncRun = _visible(token, runs, action, f"no run {run_id}", f"run {run_id}")
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


def task_for_token(token: ApiToken, task_id: str) -> tuple[TaskStatus, m.SyncRun | None]:
    """A queued sync or approval of a school the token sees, with its run once there
    is one (`tasks.task_status`); any other task does not exist for the token."""
    try:
        status = task_status(task_id)
    except TaskNotFound:
        raise NotVisible(f"no task {task_id}") from None
    if status["school"] is None or not schools_for(token).filter(urn=status["school"]).exists():
        raise NotVisible(f"no task {task_id}")
    run = run_for_token(token, status["run"]) if status["run"] is not None else None
    return status, run


# --- match cases -----------------------------------------------------------------------


def match_cases_open(school: m.School) -> QuerySet[m.MatchCase]:
    return (
        m.MatchCase.objects.filter(school=school, status=m.MatchCase.Status.OPEN)
        .select_related("school", "resolved_account")
        .order_by("pk")
    )


def match_case_for_token(
    token: ApiToken, case_id: int, action: Action = Action.VIEW
) -> m.MatchCase:
    cases = m.MatchCase.objects.filter(pk=case_id).select_related("school", "resolved_account")
    case: m.MatchCase = _visible(
        token, cases, action, f"no match case {case_id}", f"match case {case_id}"
    )
    return case


def cross_school_case_for_token(
    token: ApiToken, case_id: int, action: Action = Action.VIEW
) -> m.CrossSchoolCase:
    """Both schools see a cross-school case: the one that asks and the one that holds."""
    cases = m.CrossSchoolCase.objects.filter(pk=case_id).select_related(
        "school", "holding_school", "account"
    )
    case: m.CrossSchoolCase = _visible(
        token, cases, action, f"no cross-school case {case_id}", f"cross-school case {case_id}"
    )
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
    allocations = list(
        restrict(m.Allocation.objects.filter(account=account), token)
        .select_related("school")
        .order_by("school__urn", "role")
    )
    events = list(
        restrict(m.AuditEvent.objects.filter(account=account), token)
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
