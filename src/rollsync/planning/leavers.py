"""Leavers: who loses access at this school, and when.

A person leaves when the MIS says so (a leaving date in the past, an explicit
delete in a delta feed) or when a *full* list of their role no longer names
them. They keep access for the school's grace period, counted from the run that
first found them gone (year 13 keep their mail mid-applications), and are then
unallocated: never deleted, always restorable.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, time, timedelta

from rollsync.domain.actions import ActionKind, PersonAction
from rollsync.domain.policy import SchoolPolicy
from rollsync.domain.records import ImportBatch, PersonRecord, Role
from rollsync.domain.reports import CURRENT_REPORT_FOR_ROLE, FUTURE_REPORT_FOR_ROLE
from rollsync.domain.state import AllocationState, AllocationStatus
from rollsync.planning.fields import Changes
from rollsync.planning.index import StateIndex
from rollsync.planning.ordering import ROLE_ORDER, mis_id_key
from rollsync.planning.wording import ROLE_PLURAL, day, report_label, sentence


def complete_roles(batch: ImportBatch, policy: SchoolPolicy) -> frozenset[Role]:
    """Roles whose absence means "gone": the batch is a full list of them, carries their
    report, and the school accepted that report (otherwise nobody of the role is read)."""
    return frozenset(
        role
        for role in batch.complete_for
        if CURRENT_REPORT_FOR_ROLE[role] in batch.reports
        and policy.accepts(CURRENT_REPORT_FOR_ROLE[role])
    )


def listed_keys(batch: ImportBatch) -> set[tuple[Role, str]]:
    """Everyone the upload lists, including rows refused at import (a refused row is
    still a person who is there, never a leaver) and the people a partial batch left out
    as unchanged (`ImportBatch.unchanged_keys`)."""
    return {record.key for record in batch.people} | batch.rejected_keys | batch.unchanged_keys


def removal_time(policy: SchoolPolicy) -> datetime:
    """When an unallocation made by this run is recorded as happening."""
    return datetime.combine(policy.today, time())


def leaver_action(
    allocation: AllocationState,
    policy: SchoolPolicy,
    cause: str,
    *,
    record: PersonRecord | None = None,
    changes: Changes | None = None,
    rekey: bool = False,
    withheld: Changes | None = None,
) -> PersonAction:
    """MARK_LEAVER while the grace period runs, UNALLOCATE once it is over."""
    changes = dict(changes or {})
    since = allocation.leaver_pending_since or policy.today
    access_ends = since + timedelta(days=policy.leaver_grace_days)
    if policy.today < access_ends:
        kind = ActionKind.MARK_LEAVER
        if allocation.leaver_pending_since is None:
            changes["leaver_pending_since"] = (None, policy.today)
        outcome = (
            f"Access is kept until {day(access_ends)} (the school's grace period of "
            f"{policy.leaver_grace_days} days), then the account is unallocated from this school"
        )
    else:
        kind = ActionKind.UNALLOCATE
        changes["status"] = (allocation.status.value, AllocationStatus.UNALLOCATED.value)
        changes["unallocated_at"] = (allocation.unallocated_at, removal_time(policy))
        outcome = (
            "The account is unallocated from this school; it keeps everything and can be restored"
        )
        if policy.leaver_grace_days:
            outcome = f"The grace period ended on {day(access_ends)}. {outcome}"
    return PersonAction(
        kind=kind,
        role=allocation.role,
        mis_id=allocation.mis_id if record is None else record.mis_id,
        reason=sentence(cause, outcome),
        record=record,
        account_id=allocation.account_id,
        allocation_id=allocation.allocation_id,
        changes=changes,
        status=(
            AllocationStatus.UNALLOCATED.value
            if kind is ActionKind.UNALLOCATE
            else allocation.status.value
        ),
        rekey=rekey,
        withheld=dict(withheld or {}),
    )


def absent_leavers(
    batch: ImportBatch,
    index: StateIndex,
    policy: SchoolPolicy,
    incoming: Iterable[PersonAction],
) -> list[PersonAction]:
    """Leaver actions for allocations here that no incoming record accounts for."""
    complete = complete_roles(batch, policy)
    present = listed_keys(batch)
    linked = {a.allocation_id for a in incoming if a.allocation_id is not None}
    deleted = deleted_keys(batch, policy)
    actions = []
    # A record in the upload wins over a delete for the same person. (A set difference:
    # a night's listed people are nearly all of the school's.)
    absent = index.preferred_here.keys() - present
    for allocation in index.mis_allocations_here_of(absent):
        if allocation.status is AllocationStatus.UNALLOCATED or allocation.allocation_id in linked:
            continue
        cause = leaver_cause(allocation, batch, complete=complete, deleted=deleted)
        if cause is not None:
            actions.append(leaver_action(allocation, policy, cause))
    actions.sort(key=lambda a: (ROLE_ORDER[a.role], mis_id_key(a.mis_id), a.allocation_id or 0))
    return actions


def leaver_cause(
    allocation: AllocationState,
    batch: ImportBatch,
    *,
    complete: frozenset[Role],
    deleted: set[tuple[Role, str]],
) -> str | None:
    """Why a place here the upload does not list is a leaver's, or None: it is not."""
    if (allocation.role, allocation.mis_id) in deleted:
        return (
            f"The MIS deleted MIS ID {allocation.mis_id} explicitly in its change-only (delta) feed"
        )
    if allocation.role in complete and _listed_by(batch, allocation):
        return (
            f"MIS ID {allocation.mis_id} is no longer in the {_export_label(allocation)}, "
            f"a complete list of the school's {ROLE_PLURAL[allocation.role]}"
        )
    return None


def deleted_keys(batch: ImportBatch, policy: SchoolPolicy) -> set[tuple[Role, str]]:
    """The people a delta feed deletes, of the roles the school takes."""
    return {(d.role, d.mis_id) for d in batch.deletions if _reads_role(d.role, policy)}


def _reads_role(role: Role, policy: SchoolPolicy) -> bool:
    reports = (CURRENT_REPORT_FOR_ROLE[role], FUTURE_REPORT_FOR_ROLE.get(role, ""))
    return any(policy.accepts(r) for r in reports if r)


def _report_of(allocation: AllocationState) -> str:
    """The report that lists this allocation's person."""
    if allocation.source_report:
        return allocation.source_report
    if allocation.status is AllocationStatus.FUTURE and allocation.role in FUTURE_REPORT_FOR_ROLE:
        return FUTURE_REPORT_FOR_ROLE[allocation.role]
    return CURRENT_REPORT_FOR_ROLE[allocation.role]


def _export_label(allocation: AllocationState) -> str:
    if allocation.status is AllocationStatus.ACTIVE:
        return f"{report_label(CURRENT_REPORT_FOR_ROLE[allocation.role])} export"
    return f"{report_label(_report_of(allocation))} export"


def _listed_by(batch: ImportBatch, allocation: AllocationState) -> bool:
    """Only a batch that carries the report listing this person can say they are gone:
    a future starter is not gone from an upload without the future report."""
    if allocation.status is AllocationStatus.ACTIVE:
        return True
    return _report_of(allocation) in batch.reports
