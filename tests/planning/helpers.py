"""Small builders for planner tests: the fewest fields that show a rule."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import date
from typing import Any

from rollsync.domain.actions import ActionKind, PersonAction, Plan
from rollsync.domain.policy import SchoolPolicy
from rollsync.domain.records import Gender, ImportBatch, PersonRecord, Role
from rollsync.domain.reports import CONTACTS, STAFF, STUDENTS, report_for_record
from rollsync.domain.state import (
    AccountState,
    AccountStatus,
    AllocationState,
    AllocationStatus,
    DirectoryState,
    SchoolRef,
)
from rollsync.planning.fields import ACCOUNT_FIELDS, DETAIL_FIELDS

TODAY = date(2024, 9, 10)
HERE = "100001"
LOCAL = "100002"
FAR = "900001"  # a school of another local authority
LA = "202"
DOB = date(2015, 3, 4)
CURRENT_REPORTS = frozenset({STUDENTS, STAFF, CONTACTS})


def pupil(mis_id: str, given: str = "Amy", family: str = "Smith", **kw: Any) -> PersonRecord:
    kw.setdefault("date_of_birth", DOB)
    kw.setdefault("gender", Gender.FEMALE)  # every MIS sends it
    return PersonRecord(Role.PUPIL, mis_id, given, family, **kw)


def staff(mis_id: str, given: str = "Sam", family: str = "Jones", **kw: Any) -> PersonRecord:
    kw.setdefault("date_of_birth", date(1980, 6, 1))
    kw.setdefault("gender", Gender.MALE)
    return PersonRecord(Role.STAFF, mis_id, given, family, **kw)


def contact(mis_id: str, given: str = "Pat", family: str = "Smith", **kw: Any) -> PersonRecord:
    return PersonRecord(Role.CONTACT, mis_id, given, family, **kw)


def policy(**kw: Any) -> SchoolPolicy:
    kw.setdefault("accepted_reports", CURRENT_REPORTS)
    kw.setdefault("today", TODAY)
    return SchoolPolicy(**kw)


def batch(*people: PersonRecord, complete_for: Iterable[Role] = (), **kw: Any) -> ImportBatch:
    kw.setdefault("reports", CURRENT_REPORTS)
    return ImportBatch(
        source_format="test", complete_for=frozenset(complete_for), people=list(people), **kw
    )


class Directory:
    """Builds a DirectoryState for school HERE (LA 202, local school LOCAL)."""

    def __init__(self) -> None:
        self.accounts: dict[int, AccountState] = {}
        self.allocations: list[AllocationState] = []

    def add(
        self,
        record: PersonRecord,
        *,
        account_id: int | None = None,
        urn: str = HERE,
        status: AllocationStatus = AllocationStatus.ACTIVE,
        **allocation: Any,
    ) -> AccountState:
        """An account holding exactly what `record` says, allocated at `urn`.
        Pass `account_id` of an existing account to add a second allocation."""
        if account_id is None or account_id not in self.accounts:
            account_id = account_id or len(self.accounts) + 1
            fields = {name: getattr(record, name) for name in ACCOUNT_FIELDS}
            self.accounts[account_id] = AccountState(
                account_id,
                f"{record.legal_given_name[0].lower()}{record.legal_family_name.lower()}"
                f"{account_id}.{LA}",
                record.role,
                AccountStatus.ACTIVE,
                **fields,
            )
        values: dict[str, Any] = {
            "upn": record.upn,
            "start_date": record.start_date,
            "leaving_date": record.leaving_date,
            "year_group": record.year_group,
            "registration_group": record.registration_group,
            "source_report": report_for_record(record),
            "mis_id": record.mis_id,
            **{name: getattr(record, name) for name in DETAIL_FIELDS},
        }
        values.update(allocation)
        self.allocations.append(
            AllocationState(
                allocation_id=account_id * 100 + len(self.allocations),
                account_id=account_id,
                school_urn=urn,
                role=record.role,
                status=status,
                **values,
            )
        )
        return self.accounts[account_id]

    def state(self, **kw: Any) -> DirectoryState:
        return DirectoryState(
            school=SchoolRef(HERE, LA, "2001"),
            local_school_urns=frozenset({HERE, LOCAL}),
            accounts=dict(self.accounts),
            allocations=list(self.allocations),
            **kw,
        )

    def allocation_of(self, account_id: int, urn: str = HERE) -> AllocationState:
        return next(
            a for a in self.allocations if a.account_id == account_id and a.school_urn == urn
        )


def only(plan: Plan) -> PersonAction:
    assert len(plan.actions) == 1, plan.actions
    return plan.actions[0]


def by_mis_id(plan: Plan) -> dict[str, PersonAction]:
    out = {a.mis_id: a for a in plan.actions}
    assert len(out) == len(plan.actions), "one action per MIS ID expected"
    return out


def kinds(plan: Plan) -> list[tuple[str, ActionKind]]:
    return [(a.mis_id, a.kind) for a in plan.actions]


def changed(record: PersonRecord, **kw: Any) -> PersonRecord:
    return dataclasses.replace(record, **kw)
