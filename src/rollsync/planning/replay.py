"""`apply_to_state`: what the directory would hold after a plan, without a database.

This is the planner's own model of the apply step: the executable meaning of
each action kind and of `changes`. The property tests use it to check that
planning the same upload again changes nothing (idempotence); the Django
apply step must give the same result on the real tables. It ignores holds
(the caller decides whether a held plan is applied).

- CREATE: a new account (the first free username from `username_base`) and an
  allocation here with `status`;
- MOVE_IN: `changes` on the account, and a new allocation here (or, when it
  names an allocation here, a User Request Single one: `changes` on it too);
- UPDATE, RESTORE, MARK_LEAVER, UNALLOCATE: `changes` on the account (account
  fields) and on the allocation (allocation fields, "status",
  "leaver_pending_since", "unallocated_at"); "upn" on both;
- NEEDS_MATCHING: a match case, unless one is open for the person;
- UNCHANGED, EXCLUDED, DEFER_START, REJECT: nothing.
An account with no active or future allocation left is suspended.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

from rollsync.domain.actions import ActionKind, PersonAction, Plan
from rollsync.domain.records import MembershipRole, PersonRecord, Role
from rollsync.domain.reports import report_for_record
from rollsync.domain.state import (
    AccountState,
    AccountStatus,
    AllocationState,
    AllocationStatus,
    DirectoryState,
    GroupState,
    OpenMatchCase,
)
from rollsync.planning.fields import ACCOUNT_FIELDS, ALLOCATION_FIELDS, DETAIL_FIELDS
from rollsync.planning.usernames import usernames_from_base

_ALLOCATION_BOOKKEEPING = ("status", "leaver_pending_since", "unallocated_at", "requested_single")
_LIVE = (AllocationStatus.ACTIVE, AllocationStatus.FUTURE)


def apply_to_state(state: DirectoryState, plan: Plan) -> DirectoryState:
    replay = _Replay(state)
    for action in plan.actions:
        replay.person(action)
    replay.settle_account_statuses()
    return replay.finish(plan)


class _Replay:
    def __init__(self, state: DirectoryState) -> None:
        self.state = state
        self.urn = state.school.urn
        self.accounts: dict[int, AccountState] = dict(state.accounts)
        self.allocations: dict[int, AllocationState] = {
            a.allocation_id: a for a in state.allocations
        }
        self.open_cases = list(state.open_cases)
        self.usernames = {a.username for a in self.accounts.values()}
        self.touched: set[int] = set()
        self.live_here: dict[tuple[Role, str], int] = {}

    # -- people -----------------------------------------------------------------------

    def person(self, action: PersonAction) -> None:
        if action.kind is ActionKind.CREATE:
            assert action.record is not None and action.username_base is not None
            account = self._new_account(action.record, action.username_base)
            self._new_allocation(action.record, account.account_id, action.status)
        elif action.kind is ActionKind.MOVE_IN:
            assert action.record is not None and action.account_id is not None
            self._change_account(action.account_id, action.changes)
            if action.allocation_id is None:  # from a local school: a new place here
                self._new_allocation(action.record, action.account_id, action.status)
            else:  # a User Request Single account the MIS now backs
                self._change_allocation(action.allocation_id, action.changes)
        elif action.kind in (
            ActionKind.UPDATE,
            ActionKind.RESTORE,
            ActionKind.MARK_LEAVER,
            ActionKind.UNALLOCATE,
        ):
            assert action.account_id is not None and action.allocation_id is not None
            self._change_account(action.account_id, action.changes)
            self._change_allocation(action.allocation_id, action.changes)
        elif action.kind is ActionKind.NEEDS_MATCHING and not self._has_open_case(action):
            case_id = max((c.case_id for c in self.open_cases), default=0) + 1
            self.open_cases.append(OpenMatchCase(case_id, action.role, action.mis_id))

    def _has_open_case(self, action: PersonAction) -> bool:
        return any((c.role, c.mis_id) == (action.role, action.mis_id) for c in self.open_cases)

    def _new_account(self, record: PersonRecord, base: str) -> AccountState:
        username = next(
            u
            for u in usernames_from_base(base, self.state.school.la_code)
            if u not in self.usernames
        )
        self.usernames.add(username)
        account_id = max(self.accounts, default=0) + 1
        fields = {name: getattr(record, name) for name in ACCOUNT_FIELDS}
        account = AccountState(
            account_id=account_id,
            username=username,
            role=record.role,
            status=AccountStatus.ACTIVE,
            **fields,
        )
        self.accounts[account_id] = account
        return account

    def _new_allocation(self, record: PersonRecord, account_id: int, status: str | None) -> None:
        allocation_id = max(self.allocations, default=0) + 1
        self.allocations[allocation_id] = AllocationState(
            allocation_id=allocation_id,
            account_id=account_id,
            school_urn=self.urn,
            role=record.role,
            mis_id=record.mis_id,
            status=AllocationStatus(status or AllocationStatus.ACTIVE),
            upn=record.upn,
            start_date=record.start_date,
            leaving_date=record.leaving_date,
            year_group=record.year_group,
            registration_group=record.registration_group,
            source_report=report_for_record(record),
            **{name: getattr(record, name) for name in DETAIL_FIELDS},
        )
        self.touched.add(account_id)

    def _change_account(self, account_id: int, changes: dict[str, tuple[Any, Any]]) -> None:
        new = {k: v for k, (_, v) in changes.items() if k in ACCOUNT_FIELDS}
        if new:
            self.accounts[account_id] = dataclasses.replace(self.accounts[account_id], **new)
        self.touched.add(account_id)

    def _change_allocation(self, allocation_id: int, changes: dict[str, tuple[Any, Any]]) -> None:
        names = (*ALLOCATION_FIELDS, *_ALLOCATION_BOOKKEEPING)
        new = {k: v for k, (_, v) in changes.items() if k in names}
        if "status" in new:
            new["status"] = AllocationStatus(new["status"])
        if new:
            allocation = self.allocations[allocation_id]
            self.allocations[allocation_id] = dataclasses.replace(allocation, **new)

    def settle_account_statuses(self) -> None:
        live = {a.account_id for a in self.allocations.values() if a.status in _LIVE}
        for account_id in self.touched:
            status = AccountStatus.ACTIVE if account_id in live else AccountStatus.SUSPENDED
            if self.accounts[account_id].status is not status:
                self.accounts[account_id] = dataclasses.replace(
                    self.accounts[account_id], status=status
                )

    # -- relations ----------------------------------------------------------------------

    def _account_here(self, role: Role, mis_id: str) -> int | None:
        return self.live_here.get((role, mis_id))

    def finish(self, plan: Plan) -> DirectoryState:
        # Relations name people by MIS ID: resolve them after the person actions.
        self.live_here = {
            (a.role, a.mis_id): a.account_id
            for a in self.allocations.values()
            if a.school_urn == self.urn and a.status in _LIVE
        }
        return dataclasses.replace(
            self.state,
            accounts=self.accounts,
            allocations=list(self.allocations.values()),
            open_cases=self.open_cases,
            groups=self._groups(plan),
            memberships=self._memberships(plan),
            contact_links=self._contact_links(plan),
            attendance=self._attendance(plan),
        )

    def _groups(self, plan: Plan) -> list[GroupState]:
        groups = {g.mis_id: g for g in self.state.groups}
        next_id = max((g.group_id for g in self.state.groups), default=0) + 1
        for record in plan.groups.upsert:
            old = groups.get(record.mis_id)
            group_id = old.group_id if old else next_id
            next_id += old is None
            groups[record.mis_id] = GroupState(group_id, record.mis_id, record.name, record.kind)
        for mis_id in plan.groups.remove:
            groups.pop(mis_id, None)
        return list(groups.values())

    def _memberships(self, plan: Plan) -> frozenset[tuple[str, int, MembershipRole]]:
        removed_groups = set(plan.groups.remove)
        kept = {
            m
            for m in self.state.memberships - set(plan.groups.remove_members)
            if m[0] not in removed_groups
        }
        for group, person_role, mis_id, role in plan.groups.add_members:
            account_id = self._account_here(person_role, mis_id)
            if account_id is not None:
                kept.add((group, account_id, role))
        return frozenset(kept)

    def _contact_links(
        self, plan: Plan
    ) -> dict[tuple[int, int], tuple[int | None, bool, str | None]]:
        links = dict(self.state.contact_links)
        for pair in plan.contact_links.remove:
            links.pop(pair, None)
        for link in plan.contact_links.upsert:
            contact = self._account_here(Role.CONTACT, link.contact_mis_id)
            pupil = self._account_here(Role.PUPIL, link.pupil_mis_id)
            if contact is not None and pupil is not None:
                links[(contact, pupil)] = (
                    link.priority,
                    link.parental_responsibility,
                    link.relationship,
                )
        return links

    def _attendance(self, plan: Plan) -> dict[tuple[int, date, str], str]:
        marks = dict(self.state.attendance)
        for mark in plan.attendance.upsert:
            pupil = self._account_here(Role.PUPIL, mark.pupil_mis_id)
            if pupil is not None:
                marks[(pupil, mark.date, mark.session)] = mark.code
        return marks
