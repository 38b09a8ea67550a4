"""A read-only snapshot of the directory, as the planner sees it.

The Django layer (`rollsync.directory.selectors.directory_state_for_run`) builds
one of these for a school before a run: every allocation at the school (any
status), and the accounts at local schools or anywhere in the region that could
be the same person as an incoming record (same UPN, same date of birth, same
name). The planner never queries anything else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from rollsync.domain.quick import quick_init
from rollsync.domain.records import Gender, GroupKind, MembershipRole, Role


class AllocationStatus(StrEnum):
    ACTIVE = "active"
    FUTURE = "future"
    UNALLOCATED = "unallocated"


class AccountStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"  # no allocation left; restorable, never deleted


@quick_init
@dataclass(frozen=True, slots=True)
class AllocationState:
    allocation_id: int
    account_id: int
    school_urn: str
    role: Role
    mis_id: str  # "" for an allocation no MIS record backs (user request single)
    status: AllocationStatus
    upn: str | None = None
    start_date: date | None = None
    leaving_date: date | None = None
    year_group: str | None = None
    registration_group: str | None = None
    source_report: str | None = None
    leaver_pending_since: date | None = None  # first seen gone; grace period runs from here
    unallocated_at: datetime | None = None
    requested_single: bool = False  # made by hand ahead of the MIS
    # Contact details as this school's MIS holds them. They live on the allocation, not
    # the account: two schools' MISs word a shared parent's phone or a peripatetic
    # teacher's email differently, and the account must not flip between them nightly.
    title: str | None = None
    staff_code: str | None = None
    email: str | None = None
    phone: str | None = None
    postcode: str | None = None
    address: str | None = None


@quick_init
@dataclass(frozen=True, slots=True)
class AccountState:
    account_id: int
    username: str
    role: Role
    status: AccountStatus
    legal_given_name: str
    legal_family_name: str
    preferred_given_name: str | None = None
    preferred_family_name: str | None = None
    middle_names: str | None = None
    date_of_birth: date | None = None
    gender: Gender | None = None
    upn: str | None = None


@dataclass(frozen=True, slots=True)
class ExclusionState:
    """An MIS person who must never get an account: by MIS ID, or by name
    (and date of birth when given)."""

    exclusion_id: int
    role: Role | None
    mis_id: str | None
    given_name: str | None
    family_name: str | None
    date_of_birth: date | None


@dataclass(frozen=True, slots=True)
class OpenMatchCase:
    case_id: int
    role: Role
    mis_id: str


@dataclass(frozen=True, slots=True)
class ResolvedCase:
    """A needs-matching case a person decided (MatchCase, status linked or created).

    `account_id` is the account the record is: the one they linked it to, or the one
    made for it. `rejected_account_ids` are the candidates they were shown and said it
    is not (for "created", all of them). The matcher never asks about the record
    again, never links it elsewhere, and never links it to a rejected account.
    """

    case_id: int
    role: Role
    mis_id: str
    decision: str  # "linked" | "created"
    account_id: int | None
    rejected_account_ids: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class GroupState:
    group_id: int
    mis_id: str
    name: str
    kind: GroupKind


@dataclass(frozen=True, slots=True)
class SchoolRef:
    urn: str
    la_code: str
    estab: str
    name: str = ""


@dataclass(slots=True)
class DirectoryState:
    """What the directory holds that a run for `school` may need.

    `allocations`: every allocation at this school, plus the candidates'
    allocations elsewhere (their `school_urn` tells which).
    `accounts`: every account any of those allocations belongs to.
    `local_school_urns`: the schools of the same LA (movers keep one account).
    """

    school: SchoolRef
    local_school_urns: frozenset[str]
    accounts: Mapping[int, AccountState] = field(default_factory=dict)
    allocations: list[AllocationState] = field(default_factory=list)
    exclusions: list[ExclusionState] = field(default_factory=list)
    open_cases: list[OpenMatchCase] = field(default_factory=list)
    groups: list[GroupState] = field(default_factory=list)
    # (group mis_id, account_id, membership role) at this school
    memberships: frozenset[tuple[str, int, MembershipRole]] = frozenset()
    # How many memberships the school has, when `memberships` leaves out those of the
    # people a batch read in part left unchanged (no plan of it reads them); None:
    # `memberships` is every one.
    membership_count: int | None = None
    # (contact account_id, pupil account_id) -> (priority, parental responsibility, relationship)
    contact_links: Mapping[tuple[int, int], tuple[int | None, bool, str | None]] = field(
        default_factory=dict
    )
    # (pupil account_id, date, session) -> code, for the dates the batch covers
    attendance: Mapping[tuple[int, date, str], str] = field(default_factory=dict)
    # Needs-matching cases a person decided at this school (filled from MatchCase).
    resolved_cases: list[ResolvedCase] = field(default_factory=list)

    def allocations_here(self) -> list[AllocationState]:
        return [a for a in self.allocations if a.school_urn == self.school.urn]

    @property
    def memberships_in_all(self) -> int:
        """The school's live memberships, read or not (a share removed is of these)."""
        return len(self.memberships) if self.membership_count is None else self.membership_count
