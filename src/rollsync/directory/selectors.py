"""Reads: the directory snapshot a run plans against, and the lists commands show."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from django.db.models import Q, QuerySet

from rollsync.directory import models as m
from rollsync.domain.policy import SchoolPolicy
from rollsync.domain.records import Gender, GroupKind, ImportBatch, MembershipRole, Role
from rollsync.domain.state import (
    AccountState,
    AccountStatus,
    AllocationState,
    AllocationStatus,
    DirectoryState,
    ExclusionState,
    GroupState,
    OpenMatchCase,
    SchoolRef,
)


def school_ref(school: m.School) -> SchoolRef:
    return SchoolRef(urn=school.urn, la_code=school.la.code, estab=school.estab, name=school.name)


def school_get(*, urn: str) -> m.School:
    return m.School.objects.select_related("la", "la__region").get(urn=urn)


def school_accepted_reports(*, school: m.School) -> frozenset[str]:
    return frozenset(school.accepted_reports.values_list("report", flat=True))


def school_opt_outs(*, school: m.School) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for report, field in school.opt_outs.values_list("report", "field"):
        out.setdefault(report, set()).add(field)
    return out


def school_policy(*, school: m.School, today: date, acknowledged: bool = False) -> SchoolPolicy:
    return SchoolPolicy(
        accepted_reports=school_accepted_reports(school=school),
        guard_unallocate_pct=school.guard_unallocate_pct,
        guard_rekey_pct=school.guard_rekey_pct,
        leaver_grace_days=school.leaver_grace_days,
        today=today,
        guard_acknowledged=acknowledged,
    )


def _account_state(a: m.Account) -> AccountState:
    return AccountState(
        account_id=a.pk,
        username=a.username,
        role=Role(a.role),
        status=AccountStatus(a.status),
        legal_given_name=a.legal_given_name,
        legal_family_name=a.legal_family_name,
        preferred_given_name=a.preferred_given_name,
        preferred_family_name=a.preferred_family_name,
        middle_names=a.middle_names,
        date_of_birth=a.date_of_birth,
        gender=Gender(a.gender) if a.gender else None,
        upn=a.upn,
        title=a.title,
        staff_code=a.staff_code,
        email=a.email,
        phone=a.phone,
        postcode=a.postcode,
        address=a.address,
    )


def _allocation_state(al: m.Allocation, urn: str) -> AllocationState:
    return AllocationState(
        allocation_id=al.pk,
        account_id=al.account_id,
        school_urn=urn,
        role=Role(al.role),
        mis_id=al.mis_id,
        status=AllocationStatus(al.status),
        upn=al.upn,
        start_date=al.start_date,
        leaving_date=al.leaving_date,
        year_group=al.year_group,
        registration_group=al.registration_group,
        source_report=al.source_report or None,
        leaver_pending_since=al.leaver_pending_since,
        unallocated_at=al.unallocated_at,
        requested_single=al.requested_single,
    )


def _candidate_filter(batch: ImportBatch, la_id: int) -> Q | None:
    """Accounts elsewhere that could be an incoming person: same UPN anywhere in
    the region, or same date of birth / contact name at a local school."""
    upns = {p.upn for p in batch.people if p.upn}
    dobs = {p.date_of_birth for p in batch.people if p.date_of_birth}
    contact_names = {p.legal_family_name for p in batch.people if p.role is Role.CONTACT}
    clauses: list[Q] = []
    if upns:
        clauses.append(Q(upn__in=upns) | Q(allocations__upn__in=upns))
    if dobs:
        clauses.append(Q(date_of_birth__in=dobs, allocations__school__la_id=la_id))
    if contact_names:
        clauses.append(
            Q(
                role=Role.CONTACT.value,
                legal_family_name__in=contact_names,
                allocations__school__la_id=la_id,
            )
        )
    if not clauses:
        return None
    combined = clauses[0]
    for clause in clauses[1:]:
        combined |= clause
    return combined


def directory_state_for(*, school: m.School, batch: ImportBatch) -> DirectoryState:
    ref = school_ref(school)
    local_urns = frozenset(
        m.School.objects.filter(la_id=school.la_id).values_list("urn", flat=True)
    )
    here_account_ids = set(
        m.Allocation.objects.filter(school=school).values_list("account_id", flat=True)
    )
    account_ids = set(here_account_ids)
    candidate_q = _candidate_filter(batch, school.la_id)
    if candidate_q is not None:
        account_ids |= set(
            m.Account.objects.filter(candidate_q).values_list("id", flat=True).distinct()
        )
    accounts = {a.pk: _account_state(a) for a in _in_chunks(m.Account.objects.all(), account_ids)}
    allocations = [
        _allocation_state(al, urn)
        for al, urn in (
            (al, al.school.urn)
            for al in _in_chunks(
                m.Allocation.objects.select_related("school"), account_ids, field="account_id"
            )
        )
    ]
    allocations.sort(key=lambda a: a.allocation_id)
    touched_dates = {mark.date for mark in batch.attendance}
    return DirectoryState(
        school=ref,
        local_school_urns=local_urns,
        accounts=accounts,
        allocations=allocations,
        exclusions=[
            ExclusionState(
                exclusion_id=e.pk,
                role=Role(e.role) if e.role else None,
                mis_id=e.mis_id,
                given_name=e.given_name,
                family_name=e.family_name,
                date_of_birth=e.date_of_birth,
            )
            for e in school.exclusions.order_by("pk")
        ],
        open_cases=[
            OpenMatchCase(case_id=c.pk, role=Role(c.role), mis_id=c.mis_id)
            for c in school.match_cases.filter(status=m.MatchCase.Status.OPEN).order_by("pk")
        ],
        groups=[
            GroupState(group_id=g.pk, mis_id=g.mis_id, name=g.name, kind=GroupKind(g.kind))
            for g in school.groups.order_by("mis_id")
        ],
        memberships=frozenset(
            (gm_group, gm_account, MembershipRole(gm_role))
            for gm_group, gm_account, gm_role in m.GroupMembership.objects.filter(
                group__school=school
            ).values_list("group__mis_id", "account_id", "role")
        ),
        contact_links={
            (c, p): (prio, pr, rel)
            for c, p, prio, pr, rel in school.contact_links.values_list(
                "contact_id", "pupil_id", "priority", "parental_responsibility", "relationship"
            )
        },
        attendance={
            (acc, d, s): code
            for acc, d, s, code in school.attendance.filter(date__in=touched_dates).values_list(
                "account_id", "date", "session", "code"
            )
        }
        if touched_dates
        else {},
    )


def _in_chunks(
    qs: QuerySet[Any], ids: Iterable[int], *, field: str = "pk", size: int = 900
) -> list[Any]:
    """`field__in` in slices: SQLite caps the number of bound parameters."""
    ordered = sorted(ids)
    out: list[Any] = []
    for start in range(0, len(ordered), size):
        out.extend(qs.filter(**{f"{field}__in": ordered[start : start + size]}))
    return out


# --- lists for commands and pages -------------------------------------------------


def allocations_at_school(*, school: m.School, status: str | None = None) -> QuerySet[m.Allocation]:
    qs = m.Allocation.objects.filter(school=school).select_related("account")
    if status:
        qs = qs.filter(status=status)
    return qs.order_by(
        "account__legal_family_name", "account__legal_given_name", "account__username"
    )


def run_get(*, run_id: int) -> m.SyncRun:
    return m.SyncRun.objects.select_related("school", "upload").get(pk=run_id)


def match_cases_open(*, school: m.School) -> QuerySet[m.MatchCase]:
    return m.MatchCase.objects.filter(school=school, status=m.MatchCase.Status.OPEN).order_by("pk")


def accounts_by_ids(ids: Iterable[int]) -> dict[int, m.Account]:
    return {a.pk: a for a in _in_chunks(m.Account.objects.all(), ids)}
