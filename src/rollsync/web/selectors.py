"""Reads for the web pages. Every query starts from `rollsync.access.selectors.restrict`
(the tenancy chokepoint) or from a school that came through it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import Count, Exists, F, IntegerField, Max, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from rollsync.access.roles import Action, MisInfo, mis_info
from rollsync.access.selectors import restrict
from rollsync.directory import models as m
from rollsync.directory import selectors as directory_selectors
from rollsync.directory.services.uploads import PULL_FAILED, QUEUED
from rollsync.domain.mis import can_send
from rollsync.domain.reports import CATALOGUE, ReportSpec
from rollsync.domain.run_status import MessageGroup, group_messages, rows_word
from rollsync.ingest import format_label, registered_formats

FORMAT_LABEL = {fmt: format_label(fmt) for fmt in registered_formats()}
ROLE_PLURAL = {"pupil": "pupils", "staff": "staff", "contact": "contacts"}
STALE_AFTER = timedelta(days=3)  # a weekend without runs is normal; three days is not
RECENT_UNALLOCATED = timedelta(days=30)

# --- schools and access ----------------------------------------------------------------


def schools_visible(*, user: Any, query: str = "") -> QuerySet[m.School]:
    qs = restrict(m.School.objects.select_related("la"), user, Action.VIEW)
    if query:
        qs = qs.filter(Q(name__icontains=query) | Q(urn__startswith=query))
    return qs.order_by("la__code", "name")


def school_visible(*, user: Any, urn: str) -> m.School | None:
    return (
        restrict(m.School.objects.select_related("la"), user, Action.VIEW).filter(urn=urn).first()
    )


# --- AutoUpdate Settings -----------------------------------------------------------------


@dataclass(frozen=True)
class FieldRow:
    name: str
    label: str
    state: str  # "Mandatory" | "Uploaded" | "Not uploaded"


@dataclass(frozen=True)
class ReportRow:
    spec: ReportSpec
    accepted: bool
    offered: bool  # the school's MIS can send it
    fields: list[FieldRow]
    greyed: bool = False  # the MIS could, but only for a school with the attendance service


def school_reports(*, school: m.School) -> list[ReportRow]:
    accepted = set(school.accepted_reports.values_list("report", flat=True))
    opted: dict[str, set[str]] = {}
    for report, name in school.opt_outs.values_list("report", "field"):
        opted.setdefault(report, set()).add(name)
    rows = []
    for spec in CATALOGUE.values():
        fields = [
            FieldRow(
                f.name,
                f.label,
                "Mandatory"
                if f.mandatory
                else "Not uploaded"
                if f.name in opted.get(spec.code, set())
                else "Uploaded",
            )
            for f in spec.fields
        ]
        rows.append(
            ReportRow(
                spec=spec,
                accepted=spec.code in accepted,
                offered=can_send(
                    school.mis, spec.code, attendance_service=school.attendance_service
                ),
                fields=fields,
                greyed=can_send(school.mis, spec.code)
                and not can_send(
                    school.mis, spec.code, attendance_service=school.attendance_service
                ),
            )
        )
    return rows


def school_mis(*, school: m.School) -> MisInfo | None:
    return mis_info(school.mis)


@dataclass(frozen=True)
class Feed:
    """One stream of uploads: a report sent as its own CSV, or a bundle format."""

    key: str  # "<report>:<fmt>", e.g. "students:csv" or ":oneroster"
    label: str
    upload: m.Upload  # the latest
    run: m.SyncRun | None  # the latest run of that upload


def feed_label(report: str, fmt: str) -> str:
    if report:
        return CATALOGUE[report].label if report in CATALOGUE else report
    return f"{FORMAT_LABEL.get(fmt, fmt)}: whole file"


def upload_feeds(*, school: m.School) -> list[Feed]:
    """The latest upload of each report (Whole School Bulk Results' 'last processed
    file'), with its latest run."""
    latest = (
        m.Upload.objects.filter(school=school)
        .exclude(outcome=PULL_FAILED)  # nothing was received: Upload History says why
        .values("report", "fmt")
        .annotate(latest=Max("pk"))
        .values_list("latest", flat=True)
    )
    uploads = (
        m.Upload.objects.filter(pk__in=list(latest)).exclude(outcome=PULL_FAILED).defer("data")
    )
    runs: dict[int, m.SyncRun] = {}
    for run in m.SyncRun.objects.filter(upload__in=uploads).order_by("pk"):
        runs[run.upload_id] = run
    feeds = [
        Feed(f"{u.report}:{u.fmt}", feed_label(u.report, u.fmt), u, runs.get(u.pk)) for u in uploads
    ]
    order = {code: i for i, code in enumerate(CATALOGUE)}
    return sorted(feeds, key=lambda f: (order.get(f.upload.report, 99), f.key))


def upload_history(*, school: m.School) -> QuerySet[m.Upload]:
    """Uploads, newest first, each with its latest run's id, status, counts and the run it
    waits for (the status shown is the run's: `web_extras.upload_badge`)."""
    latest = m.SyncRun.objects.filter(upload=OuterRef("pk")).order_by("-pk")
    return (
        m.Upload.objects.filter(school=school)
        .defer("data")
        .annotate(
            run_id=Subquery(latest.values("pk")[:1]),
            run_status=Subquery(latest.values("status")[:1]),
            run_counts=Subquery(latest.values("counts")[:1]),
            run_waits_for=Subquery(latest.values("waits_for_id")[:1]),
        )
        .order_by("-received_at", "-pk")
    )


# --- progress of queued work -----------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    task_id: str
    kind: str  # "sync" (an upload or a Force run) | "approve" (a held run)
    state: str  # "queued" | "running" | "done" | "failed"
    upload: m.Upload | None = None
    run: m.SyncRun | None = None
    message: str = ""
    runs: tuple[m.SyncRun, ...] = ()  # a pull: one run per report

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed")


_TASK_STATE = {"queued": "queued", "running": "running", "succeeded": "done", "failed": "failed"}


def task_progress(*, school: m.School, task_id: str) -> Progress | None:
    """Where a queued upload, Force run or approval of `school` is (None when there is
    no such task, or it is another school's: the caller answers 404)."""
    from rollsync.directory import tasks

    try:
        status = tasks.task_status(task_id)
    except (LookupError, ValueError):
        return None
    if status["school"] != school.urn and not _pull_of(school, status):
        return None
    upload = (
        m.Upload.objects.filter(school=school, pk=status["upload"]).defer("data").first()
        if status["upload"]
        else None
    )
    run = (
        m.SyncRun.objects.filter(school=school, pk=status["run"]).first() if status["run"] else None
    )
    runs = tuple(m.SyncRun.objects.filter(school=school, pk__in=status["runs"]).order_by("pk"))
    state = _TASK_STATE.get(status["status"], "queued")
    message = ""
    if state == "failed":
        message = _task_error(status["error"] or "the task failed")
    elif state == "done" and run is None:
        state, message = "failed", "the worker finished without recording a run"
    return Progress(task_id, status["kind"], state, upload, run, message, runs)


def _pull_of(school: m.School, status: Any) -> bool:
    """A pull of `school` that has stored no upload yet (its task names the school, not
    an upload: `tasks.task_status` says no school for it then)."""
    return (
        status["kind"] == m.QueuedTask.Kind.PULL
        and status["school"] is None
        and m.QueuedTask.objects.filter(pk=status["id"], school_id=school.pk).exists()
    )


_TASK_ERROR_PREFIX = re.compile(r"^(TaskInputError|ApprovalRefused): ")


def _task_error(error: str) -> str:
    """A task's error in a school admin's words: without the name of the exception class
    the worker recorded for the service desk ("TaskInputError: ...")."""
    text = _TASK_ERROR_PREFIX.sub("", error)
    return text[:1].upper() + text[1:]


# --- Whole School Bulk Results --------------------------------------------------------------


def open_cases(*, school: m.School, role: str | None = None) -> QuerySet[m.MatchCase]:
    qs = m.MatchCase.objects.filter(school=school, status=m.MatchCase.Status.OPEN)
    if role:
        qs = qs.filter(role=role)
    return qs.order_by("pk")


@dataclass
class CaseView:
    case: m.MatchCase
    name: str
    candidates: list[dict[str, Any]] = field(default_factory=list)

    @property
    def has_default(self) -> bool:
        """A free candidate is the default choice; with none, creating a new account is."""
        return any(c.get("default") for c in self.candidates)


_TAKEN = re.compile(r"[Aa]lready matched to MIS ID (\S+?)[,.)]?(?:\s|$)")


def _taken(
    candidate: dict[str, Any],
    account: m.Account | None,
    holder: str | None,
    case: m.MatchCase,
    upload_keys: set[tuple[str, str]],
) -> str:
    """Why a candidate account is taken ("" when it is free): another record of the same
    upload holds it (the matcher said so, or a person matched that record to it since),
    or another MIS ID at this school does."""
    said = _TAKEN.search(str(candidate.get("explanation") or ""))
    other = said.group(1) if said else holder
    if not other or other == case.mis_id:
        return ""
    who = f" ({account.legal_given_name} {account.legal_family_name})" if account else ""
    where = "in this upload" if said or (case.role, other) in upload_keys else "at this school"
    return f"already matched to MIS ID {other}{who} {where}"


def case_views(*, cases: QuerySet[m.MatchCase]) -> list[CaseView]:
    """Cases with their candidates' current names and schools (for the person deciding)."""
    cases_list = list(cases)
    ids = {c["account_id"] for case in cases_list for c in case.candidates}
    accounts = {a.pk: a for a in m.Account.objects.filter(pk__in=ids)}
    where: dict[int, list[str]] = {}
    for account_id, school_name in (
        m.Allocation.objects.filter(account_id__in=ids)
        .exclude(status="unallocated")
        .values_list("account_id", "school__name")
    ):
        where.setdefault(account_id, []).append(school_name)
    # An account another record holds at the school (matched to it in the same upload,
    # or since) is taken: said on the page, and never the default choice.
    held_here: dict[tuple[int, int, str], str] = {}
    for account_id, school_id, role, mis_id in (
        m.Allocation.objects.filter(account_id__in=ids)
        .exclude(status="unallocated")
        .exclude(mis_id="")
        .values_list("account_id", "school_id", "role", "mis_id")
    ):
        held_here[(account_id, school_id, role)] = mis_id
    in_upload: dict[int, set[tuple[str, str]]] = {
        run_id: {(str(a.get("role")), str(a.get("mis_id"))) for a in actions}
        for run_id, actions in m.SyncRun.objects.filter(
            pk__in={c.run_id for c in cases_list}
        ).values_list("pk", "actions")
    }
    out = []
    for case in cases_list:
        record = case.record
        name = " ".join(
            x for x in (record.get("legal_given_name"), record.get("legal_family_name")) if x
        )
        candidates = []
        for c in sorted(case.candidates, key=lambda c: -float(c.get("score") or 0)):
            account = accounts.get(c["account_id"])
            candidates.append(
                {
                    **c,
                    "name": f"{account.legal_given_name} {account.legal_family_name}"
                    if account
                    else "",
                    "date_of_birth": account.date_of_birth if account else None,
                    "status": account.status if account else "",
                    "schools": ", ".join(sorted(where.get(c["account_id"], []))) or "none",
                    "taken": _taken(
                        c,
                        account,
                        held_here.get((c["account_id"], case.school_id, case.role)),
                        case,
                        in_upload.get(case.run_id, set()),
                    ),
                }
            )
        default = next((c for c in candidates if not c["taken"]), None)
        for c in candidates:
            c["default"] = c is default
        out.append(CaseView(case, name, candidates))
    return out


def unallocated_at_school(*, school: m.School, role: str | None = None) -> QuerySet[m.Allocation]:
    qs = m.Allocation.objects.filter(school=school, status="unallocated").select_related("account")
    if role:
        qs = qs.filter(role=role)
    return qs.order_by("-unallocated_at", "account__username")


def exclusions_at_school(*, school: m.School) -> QuerySet[m.Exclusion]:
    return m.Exclusion.objects.filter(school=school).order_by("family_name", "given_name", "pk")


def held_runs(*, school: m.School) -> QuerySet[m.SyncRun]:
    """Runs held by the guard, waiting for a person's approval (not those that wait for
    another held run: `waiting_runs`)."""
    return runs_at_school(school=school, status="held").filter(waits_for__isnull=True)


def waiting_runs(*, school: m.School) -> QuerySet[m.SyncRun]:
    """Runs that wait for the school's held people run; planned again by themselves."""
    return runs_at_school(school=school, status="held").filter(waits_for__isnull=False)


def runs_at_school(*, school: m.School, status: str | None = None) -> QuerySet[m.SyncRun]:
    qs = m.SyncRun.objects.filter(school=school).select_related("upload").defer("upload__data")
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-created_at", "-pk")


def bulk_counts(*, school: m.School) -> dict[str, Any]:
    cases = dict(
        m.MatchCase.objects.filter(school=school, status="open")
        .values_list("role")
        .annotate(n=Count("pk"))
        .values_list("role", "n")
    )
    unallocated = dict(
        m.Allocation.objects.filter(school=school, status="unallocated")
        .values_list("role")
        .annotate(n=Count("pk"))
        .values_list("role", "n")
    )
    return {
        "unmatched": {role: cases.get(role, 0) for role in ROLE_PLURAL},
        "unallocated": {role: unallocated.get(role, 0) for role in ROLE_PLURAL},
        "exclusions": m.Exclusion.objects.filter(school=school).count(),
        "held": m.SyncRun.objects.filter(
            school=school, status="held", waits_for__isnull=True
        ).count(),
    }


@dataclass(frozen=True)
class PlanGroup:
    kind: str
    label: str
    actions: list[dict[str, Any]]
    total: int

    @property
    def more(self) -> int:
        return self.total - len(self.actions)


_PLAN_LABEL = {
    "create": "Would be created",
    "move_in": "Would move in from a local school",
    "unallocate": "Would be unallocated",
    "restore": "Would be restored",
    "update": "Would be updated",
    "needs_matching": "Would need matching",
    "mark_leaver": "Leaving (grace period)",
    "defer_start": "Starting later",
    "excluded": "Excluded",
    "reject": "Rejected rows",
}
PLAN_SHOWN = 200  # per group: the rest is counted, not listed


def run_plan(*, run: m.SyncRun) -> list[PlanGroup]:
    """The run's actions by kind (what would be created, moved, unallocated...), without
    the unchanged; a leaver's action names no person, so their account's name is added."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for action in run.actions:
        if action.get("kind") != "unchanged":
            grouped.setdefault(action["kind"], []).append(action)
    groups = [
        PlanGroup(kind, label, grouped[kind][:PLAN_SHOWN], len(grouped[kind]))
        for kind, label in _PLAN_LABEL.items()
        if kind in grouped
    ]
    nameless = {
        a["allocation_id"]
        for g in groups
        for a in g.actions
        if not a.get("name") and a.get("allocation_id")
    }
    if nameless:
        names = {
            pk: f"{given} {family}"
            for pk, given, family in m.Allocation.objects.filter(
                school=run.school, pk__in=nameless
            ).values_list("pk", "account__legal_given_name", "account__legal_family_name")
        }
        for g in groups:
            for i, a in enumerate(g.actions):
                if not a.get("name") and a.get("allocation_id") in names:
                    g.actions[i] = {**a, "name": names[a["allocation_id"]]}
    return groups


MESSAGE_EXAMPLES = 3  # per kind of message on a run page
MESSAGES_PER_PAGE = 100  # the full list of a run's messages, paged


@dataclass(frozen=True)
class RunMessages:
    total: int
    groups: list[MessageGroup]  # by kind, commonest first, each with a few examples
    page: Page  # of the full list (`MESSAGES_PER_PAGE` a page)


def run_messages(*, run: m.SyncRun, page: Any = None) -> RunMessages:
    """A run's messages grouped by kind (the same message apart from row and IDs) with
    counts and a few examples, and one page of the full list: a run with 10,000
    identical messages still renders a few dozen rows."""
    errors = list(run.errors or [])
    return RunMessages(
        total=len(errors),
        groups=group_messages(errors, examples=MESSAGE_EXAMPLES),
        page=Paginator(errors, MESSAGES_PER_PAGE).get_page(page),
    )


# --- users -------------------------------------------------------------------------------------


LATEST_CHOICES = {"7": timedelta(days=7), "30": timedelta(days=30)}


def users_at_school(
    *,
    school: m.School,
    query: str = "",
    role: str = "",
    status: str = "",
    year_group: str = "",
    registration_group: str = "",
    latest: str = "",
) -> QuerySet[m.Allocation]:
    qs = m.Allocation.objects.filter(school=school).select_related("account")
    if query:
        qs = qs.filter(
            Q(account__username__icontains=query)
            | Q(account__legal_given_name__icontains=query)
            | Q(account__legal_family_name__icontains=query)
            | Q(account__preferred_given_name__icontains=query)
            | Q(mis_id=query)
        )
    if role:
        qs = qs.filter(role=role)
    if status:
        qs = qs.filter(status=status)
    if year_group:
        qs = qs.filter(year_group=year_group)
    if registration_group:
        qs = qs.filter(registration_group=registration_group)
    if latest in LATEST_CHOICES:
        since = timezone.now() - LATEST_CHOICES[latest]
        return qs.filter(last_move_or_create_at__gte=since).order_by(
            "-last_move_or_create_at", "account__username"
        )
    return qs.order_by("account__legal_family_name", "account__legal_given_name", "pk")


def group_choices(*, school: m.School) -> tuple[list[str], list[str]]:
    base = m.Allocation.objects.filter(school=school)
    years = sorted(
        {y for y in base.values_list("year_group", flat=True).distinct() if y},
        key=lambda y: (len(y), y),
    )
    regs = sorted({r for r in base.values_list("registration_group", flat=True).distinct() if r})
    return years, regs


@dataclass
class AccountPage:
    account: m.Account
    allocations: list[m.Allocation]
    hidden_places: int
    memberships: list[m.GroupMembership]
    contacts: list[m.ContactLink]  # this account is the pupil
    pupils: list[m.ContactLink]  # this account is the contact
    audit: list[m.AuditEvent]


def account_page(*, user: Any, school: m.School, uid: Any) -> AccountPage | None:
    """An account that has (or had) a place at `school`, with what `user` may see of it:
    places, groups, contacts and history at the schools `user` can see."""
    account = (
        restrict(m.Account.objects.all(), user, Action.VIEW)
        .filter(uid=uid, allocations__school=school)
        .distinct()
        .first()
    )
    if account is None:
        return None
    all_places = m.Allocation.objects.filter(account=account).select_related("school")
    visible = list(restrict(all_places, user, Action.VIEW).order_by("school__name", "role"))
    audit = list(
        restrict(
            m.AuditEvent.objects.filter(account=account).select_related("school", "run"),
            user,
        ).order_by("-at", "-pk")[:500]
    )
    lines = directory_selectors.audit_change_lines(audit)
    for event in audit:
        event.lines = lines[event.pk]  # type: ignore[attr-defined]
    for place in visible:
        kept = None
        if not place.mis_id and place.status != "unallocated":
            kept = directory_selectors.non_mis_kept_events(
                school=place.school, account_ids=[account.pk]
            ).get(account.pk)
        place.kept = kept  # type: ignore[attr-defined]
    return AccountPage(
        account=account,
        allocations=visible,
        hidden_places=all_places.count() - len(visible),
        memberships=list(
            restrict(
                m.GroupMembership.objects.filter(
                    account=account, ended_at__isnull=True, group__ended_at__isnull=True
                ).select_related("group__school"),
                user,
            ).order_by("group__school__name", "group__name")
        ),
        contacts=list(
            restrict(
                m.ContactLink.objects.filter(pupil=account, ended_at__isnull=True).select_related(
                    "contact", "school"
                ),
                user,
            ).order_by("priority", "pk")
        ),
        pupils=list(
            restrict(
                m.ContactLink.objects.filter(contact=account, ended_at__isnull=True).select_related(
                    "pupil", "school"
                ),
                user,
            ).order_by("pk")
        ),
        audit=audit,
    )


def non_mis_at_school(*, school: m.School) -> list[tuple[m.Allocation, m.AuditEvent | None]]:
    """Accounts at the school no MIS record backs (no MIS ID, or made by hand ahead of the
    MIS), each with the last time a person reviewed and kept it."""
    allocations = list(
        m.Allocation.objects.filter(school=school)
        .filter(Q(mis_id="") | Q(requested_single=True))
        .exclude(status="unallocated")
        .select_related("account")
        .order_by("account__legal_family_name", "account__legal_given_name", "pk")
    )
    kept: dict[int, m.AuditEvent] = {}
    for event in m.AuditEvent.objects.filter(
        school=school,
        action="non_mis_kept",
        account_id__in=[a.account_id for a in allocations],
    ).order_by("at", "pk"):
        assert event.account_id is not None
        kept[event.account_id] = event
    return [(a, kept.get(a.account_id)) for a in allocations]


def non_mis_allocation(*, school: m.School, allocation_id: int) -> m.Allocation | None:
    return (
        m.Allocation.objects.filter(school=school, pk=allocation_id)
        .filter(Q(mis_id="") | Q(requested_single=True))
        .select_related("account", "school")
        .first()
    )


# --- LA dashboard ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SchoolHealth:
    school: m.School
    light: str  # "red" | "yellow" | "green"
    label: str  # in words: Failing, Held, Rejected, Waiting, Running, Stale, No runs yet,
    # Rejected rows, OK
    why: str
    last_run_at: datetime | None
    unmatched: int
    unallocated: int

    @property
    def needs_attention(self) -> bool:
        return self.light != "green" or self.unmatched > 0


def _count(model: type[Any], **filters: Any) -> Subquery:
    return Coalesce(
        Subquery(
            model.objects.filter(school=OuterRef("pk"), **filters)
            .values("school")
            .annotate(n=Count("pk"))
            .values("n")[:1],
            output_field=IntegerField(),
        ),
        0,
    )


def la_health(
    *, user: Any, la: m.LocalAuthority, now: datetime | None = None
) -> list[SchoolHealth]:
    """Every school of the LA that `user` may see, with its status light."""
    now = now or timezone.now()
    real_runs = m.SyncRun.objects.filter(school=OuterRef("pk"), dry_run=False)
    # A report is failing when its latest run failed (a later run of it would have fixed it).
    later_of_same_report = m.SyncRun.objects.filter(
        school=OuterRef("school"),
        upload__report=OuterRef("upload__report"),
        upload__fmt=OuterRef("upload__fmt"),
        dry_run=False,
        created_at__gt=OuterRef("created_at"),
    )
    failing = (
        m.SyncRun.objects.filter(school=OuterRef("pk"), status="failed", dry_run=False)
        .exclude(Exists(later_of_same_report))
        .order_by("-created_at", "-pk")
    )
    # A report whose latest run was rejected (a person turned the held run down: the
    # directory lacks that export, someone must look), or applied with rejected rows.
    rejected = (
        m.SyncRun.objects.filter(school=OuterRef("pk"), status="rejected", dry_run=False)
        .exclude(Exists(later_of_same_report))
        .order_by("-created_at", "-pk")
    )
    partial = (
        m.SyncRun.objects.filter(
            school=OuterRef("pk"), status="applied", dry_run=False, counts__rejected__gt=0
        )
        .exclude(Exists(later_of_same_report))
        .order_by("-created_at", "-pk")
    )
    schools = (
        restrict(m.School.objects.filter(la=la), user, Action.VIEW)
        .annotate(
            last_run_at=Subquery(real_runs.order_by("-created_at", "-pk").values("created_at")[:1]),
            failing=Coalesce(
                Subquery(
                    failing.values("school").annotate(n=Count("pk")).values("n")[:1],
                    output_field=IntegerField(),
                ),
                0,
            ),
            failing_errors=Subquery(failing.values("errors")[:1]),
            held=_count(m.SyncRun, status="held", waits_for__isnull=True),
            waiting=_count(m.SyncRun, status="held", waits_for__isnull=False),
            rejected=Coalesce(
                Subquery(
                    rejected.values("school").annotate(n=Count("pk")).values("n")[:1],
                    output_field=IntegerField(),
                ),
                0,
            ),
            rejected_run=Subquery(rejected.values("pk")[:1]),
            partial=Coalesce(
                Subquery(
                    partial.values("school").annotate(n=Count("pk")).values("n")[:1],
                    output_field=IntegerField(),
                ),
                0,
            ),
            partial_run=Subquery(partial.values("pk")[:1]),
            partial_counts=Subquery(partial.values("counts")[:1]),
            queued=_count(m.Upload, outcome=QUEUED),
            unmatched=_count(m.MatchCase, status="open"),
            unallocated_recent=_count(
                m.Allocation, status="unallocated", unallocated_at__gte=now - RECENT_UNALLOCATED
            ),
            # the MIS connection, where the school has one (a left join: None without)
            conn_state=F("connection__state"),
            conn_failures=F("connection__failures"),
            conn_refused=F("connection__credentials_refused"),
            conn_outcome=F("connection__last_outcome"),
            conn_error=F("connection__last_error"),
            conn_connector=F("connection__connector"),
            conn_last_pull_at=F("connection__last_pull_at"),
            conn_settings=F("connection__settings"),
            conn_last_contact_at=F("connection__last_contact_at"),
            conn_agent_status=F("connection__agent_status"),
        )
        .order_by("name")
    )
    out = []
    for s in schools:
        light, label, why = _with_connection(_light(s, now), s)
        out.append(
            SchoolHealth(s, light, label, why, s.last_run_at, s.unmatched, s.unallocated_recent)
        )
    rank = {"red": 0, "yellow": 1, "green": 2}
    return sorted(out, key=lambda h: (rank[h.light], h.school.name))


_CONNECTION_LABEL = {
    ("failing", "red"): "Connection failing",
    ("failing", "yellow"): "Pull failed",
    ("awaiting approval", "yellow"): "Awaiting approval",
    ("connected", "yellow"): "Pull held",
}
_AGENT_LABEL = {
    ("failing", "red"): "Agent reports a problem",
    ("connected", "yellow"): "Agent reports a warning",
    ("awaiting agent", "yellow"): "Waiting for the agent",
    ("agent silent", "red"): "Agent silent",
}


def _with_connection(runs: tuple[str, str, str], s: Any) -> tuple[str, str, str]:
    """The light follows the MIS connection where the school has one: a failing
    connection is red whatever the runs say (nothing is arriving); awaiting approval or
    one failed pull is yellow unless the runs are red. A school without a connection
    (files uploaded by hand, or an agent) keeps the runs' light."""
    from rollsync.domain.connection_status import connection_view

    if not s.conn_state:
        return runs
    inputs = directory_selectors.push_light_inputs(
        connector=s.conn_connector,
        last_pull_at=s.conn_last_pull_at,
        settings=s.conn_settings,
        last_contact_at=s.conn_last_contact_at,
        agent_status=s.conn_agent_status,
    )
    view = connection_view(
        state=s.conn_state,
        failures=s.conn_failures or 0,
        credentials_refused=bool(s.conn_refused),
        last_outcome=s.conn_outcome or "",
        last_error=s.conn_error or "",
        **inputs,
    )
    light, label, why = runs
    labels = _AGENT_LABEL if inputs.get("agent") else _CONNECTION_LABEL
    conn_label = labels.get((view.state, view.light), view.state.capitalize())
    if view.light == "red":
        words = view.words if view.words.endswith(".") else f"{view.words}."
        also = f" Also {label}: {why}" if light == "red" else ""
        return "red", conn_label, f"MIS connection: {words}{also}"
    if view.light == "yellow" and light != "red":
        return "yellow", conn_label, f"MIS connection: {view.words}"
    return runs


def _light(s: Any, now: datetime) -> tuple[str, str, str]:
    if s.failing:
        errors = s.failing_errors or []
        last = errors[-1]["message"] if errors and isinstance(errors[-1], dict) else ""
        what = "The last run failed." if s.failing == 1 else f"{s.failing} reports failing."
        return "red", "Failing", f"{what} {last}".strip()
    waiting = (
        f" ({s.waiting} more {'waits' if s.waiting == 1 else 'wait'} for it)"
        if s.held == 1 and s.waiting
        else f" ({s.waiting} more wait for them)"
        if s.waiting
        else ""
    )
    if s.held:
        runs = "1 run" if s.held == 1 else f"{s.held} runs"
        return "red", "Held", f"{runs} held for approval{waiting}"
    if s.rejected:
        what = (
            f"Run {s.rejected_run} was rejected"
            if s.rejected == 1
            else f"{s.rejected} reports' last runs were rejected"
        )
        return "red", "Rejected", f"{what}: nothing of it was applied; a person must look at it"
    if s.waiting:
        return "yellow", "Waiting", f"{s.waiting} run(s) wait for a held run"
    if s.queued:
        return "yellow", "Running", f"{s.queued} upload(s) waiting or processing"
    if s.last_run_at is None:
        return "yellow", "No runs yet", "Nothing has been received from the MIS"
    if now - s.last_run_at > STALE_AFTER:
        return "yellow", "Stale", f"No run for {(now - s.last_run_at).days} days"
    if s.partial:
        rows = int((s.partial_counts or {}).get("rejected", 0) or 0)
        what = (
            f"Run {s.partial_run} was applied with {rows_word(rows)}"
            if s.partial == 1
            else f"{s.partial} reports' last runs were applied with rejected rows"
        )
        return "yellow", "Rejected rows", what
    return "green", "OK", "The last run was applied"


# --- MIS connection (AutoUpdate Settings) -------------------------------------------------

_STATE_LABEL = {
    "not set up": "Not set up",
    "awaiting approval": "Awaiting approval",
    "connected": "Connected",
    "failing": "Failing",
    "awaiting agent": "Waiting for the agent",
    "agent silent": "Agent silent",
}
_DAYS = {"*": "every day", "1-5": "weekdays (Monday to Friday)", "0,6": "weekends"}


def schedule_words(cron: str | None) -> str:
    """A pull schedule as people read it: "every day at 02:00" for "0 2 * * *"; a
    schedule of another shape is shown as it is written."""
    if not cron:
        return ""
    parts = cron.split()
    if (
        len(parts) == 5
        and parts[0].isdigit()
        and parts[1].isdigit()
        and parts[2] == parts[3] == "*"
        and parts[4] in _DAYS
    ):
        return f"{_DAYS[parts[4]]} at {int(parts[1]):02d}:{int(parts[0]):02d}"
    return f"cron {cron}"


@dataclass(frozen=True)
class ConnectorChoice:
    """A connector a school can choose on AutoUpdate Settings."""

    name: str
    label: str
    mis: str
    needs_approval: bool
    fields: tuple[Any, ...]  # connectors.SettingField


def connector_choices() -> list[ConnectorChoice]:
    from rollsync.connectors import connector_class, registered_connectors

    out = []
    for name in registered_connectors():
        cls = connector_class(name)
        # an MIS that pushes (Bromcom) is not connected here: its push credentials are
        # issued on the panel of a school that runs it ("Run from the MIS")
        if cls is not None and not cls.push:
            out.append(
                ConnectorChoice(name, cls.label, cls.mis, bool(cls.needs_approval), cls.fields)
            )
    return out


def connector_choice(name: str | None) -> ConnectorChoice | None:
    return next((c for c in connector_choices() if c.name == name), None)


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True)
class ConnectionPanel:
    """A school's MIS connection as AutoUpdate Settings shows it (never a secret: only the
    names of the secrets that are stored)."""

    exists: bool  # a connection is stored (connected, failing or awaiting approval)
    state: str  # "not set up" | "awaiting approval" | "connected" | "failing"
    state_label: str  # "Connected"
    light: str  # "green" | "yellow" | "red"
    words: str  # the status sentence
    connector: str | None
    label: str  # "Arbor", "IRIS iSAMS / Ed:gen"
    last_pull_at: datetime | None
    last_outcome: str
    next_pull_at: datetime | None
    schedule: str
    schedule_words: str
    last_error: str
    settings: dict[str, str]
    secrets_set: list[str]
    connected_by: str

    pulled_mis: bool = False  # the school's MIS is one rollsync pulls from (a connector's)
    push: bool = False  # the MIS pushes to rollsync (Bromcom): "last pull" is the last push
    agent: AgentPanel | None = None  # the rollsync agent uploads (SIMS)

    @property
    def awaiting_approval(self) -> bool:
        return self.state == "awaiting approval"

    @property
    def shows_light(self) -> bool:
        """A light where a connection is stored or expected: a school whose MIS sends its
        data another way (the SIMS agent, Bromcom's push, files by hand) has no
        connection to be red about."""
        return self.exists or self.pulled_mis or self.push


@dataclass(frozen=True)
class AgentLight:
    name: str  # "configuration", "extract", "filter", "upload"
    light: str  # "green", "yellow", "red", "grey"
    message: str


@dataclass(frozen=True)
class AgentPanel:
    """The rollsync agent of a SIMS school on AutoUpdate Settings: its licence key's last
    characters (the key is shown once, when issued), last contact and report."""

    licence_hint: str
    licence_issued_at: datetime | None
    last_contact_at: datetime | None
    version: str
    hostname: str
    platform: str
    lights: tuple[AgentLight, ...]
    last_run: dict[str, Any] | None
    last_upload: dict[str, Any] | None  # upload, report, received_at (a datetime), outcome
    package_version: str | None  # the agent package offered for download, if any


def agent_package_version() -> str | None:
    """The version of the agent package this server offers, or None when it has none."""
    from django.conf import settings

    from rollsync.directory.agent_package import package_version

    return package_version(Path(settings.ROLLSYNC_AGENT_SOURCE))


def _agent_panel(summary: dict[str, Any] | None) -> AgentPanel | None:
    from rollsync.domain.connection_status import AGENT_LIGHTS

    if summary is None:
        return None
    reported = summary.get("lights") or {}
    lights = tuple(
        AgentLight(
            name, str(reported[name].get("light", "")), str(reported[name].get("message", ""))
        )
        for name in AGENT_LIGHTS
        if isinstance(reported.get(name), dict)
    )
    last = summary.get("last_upload")
    return AgentPanel(
        licence_hint=str(summary.get("licence_hint") or ""),
        licence_issued_at=_when(summary.get("licence_issued_at")),
        last_contact_at=_when(summary.get("last_contact")),
        version=str(summary.get("version") or ""),
        hostname=str(summary.get("hostname") or ""),
        platform=str(summary.get("platform") or ""),
        lights=lights,
        last_run=summary.get("last_run"),
        last_upload={**last, "received_at": _when(last["received_at"])} if last else None,
        package_version=agent_package_version(),
    )


def connection_panel(*, school: m.School) -> ConnectionPanel:
    status = directory_selectors.connection_status(school=school)
    exists = status["connector"] is not None
    last_pull = status.get("last_pull") or {}
    return ConnectionPanel(
        exists=exists,
        state=status["state"],
        state_label=_STATE_LABEL.get(status["state"], str(status["state"]).capitalize()),
        light=status["light"],
        words=status["status"],
        connector=status["connector"],
        label=status.get("label") or "",
        last_pull_at=_when(last_pull.get("at")),
        last_outcome=str(last_pull.get("outcome") or ""),
        next_pull_at=_when(status.get("next_pull")),
        schedule=status.get("schedule") or "",
        schedule_words=schedule_words(status.get("schedule")),
        last_error=status.get("last_error") or "",
        settings=dict(status.get("settings") or {}),
        secrets_set=list(status.get("secrets_set") or []),
        connected_by=str(status.get("connected_by") or ""),
        pulled_mis=bool(school.mis) and any(c.mis == school.mis for c in connector_choices()),
        push=bool(status.get("push")),
        agent=_agent_panel(status.get("agent")),
    )


def connector_for_school(*, school: m.School, panel: ConnectionPanel) -> ConnectorChoice | None:
    """The connector the Connect form offers first: the stored connection's, else the one
    of the school's MIS, else none (the school chooses)."""
    choices = connector_choices()
    if panel.connector:
        found = next((c for c in choices if c.name == panel.connector), None)
        if found:
            return found
    return next((c for c in choices if c.mis == school.mis), None)


def connection_awaiting_approval(*, user: Any, state: str) -> m.MisConnection | None:
    """The connection an approval came back for (its one-time `state`), at a school the
    user may configure; None otherwise (the caller does not say which)."""
    if not state:
        return None
    schools = restrict(m.School.objects.all(), user, Action.CONFIGURE)
    return (
        m.MisConnection.objects.select_related("school")
        .filter(approval_state=state, school__in=schools)
        .first()
    )


def pull_report_choices(*, school: m.School) -> list[tuple[str, str]]:
    """The reports a Force run through the connection may ask for: those the school
    accepted that its MIS can send."""
    accepted = set(school.accepted_reports.values_list("report", flat=True))
    info = mis_info(school.mis)
    return [
        (code, spec.label)
        for code, spec in CATALOGUE.items()
        if code in accepted and (info is None or code in info.reports)
    ]


def pull_under_way(*, school: m.School) -> str | None:
    """The id of the school's pull that is queued or running, if any (a second Force run
    then follows it rather than queueing another that would wait for its lease)."""
    return (
        m.QueuedTask.objects.filter(
            kind=m.QueuedTask.Kind.PULL,
            school_id=school.pk,
            status__in=[m.QueuedTask.Status.QUEUED, m.QueuedTask.Status.RUNNING],
        )
        .order_by("-enqueued_at")
        .values_list("pk", flat=True)
        .first()
    )
