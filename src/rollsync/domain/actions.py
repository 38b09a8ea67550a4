"""What a plan is made of: actions, each with its reason.

The planner returns a `Plan`; `rollsync.directory.services.sync_apply` carries it
out in one transaction. Every action names the count it adds to (`counts`), so
Whole School Bulk Results and `--json` read the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from rollsync.domain.quick import quick_init
from rollsync.domain.records import (
    AttendanceMark,
    ContactLink,
    GroupRecord,
    MembershipRole,
    PersonRecord,
    Role,
    RowError,
)

COUNT_KEYS = (
    "created",
    "updated",
    "unchanged",
    "moved_in",
    "unallocated",
    "restored",
    "needs_matching",
    "excluded",
    "deferred",
    "rejected",
)

# What a run changes besides people (Groups & Classes, Contacts, Attendance), in a run's
# counts only when not zero: a run of those reports would otherwise read "nothing to do".
RELATION_COUNT_KEYS = (
    "groups_added_or_changed",
    "groups_ended",
    "memberships_added",
    "memberships_ended",
    "contact_links_added_or_changed",
    "contact_links_ended",
    "attendance_marks",
)


class ActionKind(StrEnum):
    CREATE = "create"  # new account + allocation here
    UPDATE = "update"  # names/details/MIS ID of an existing allocation here changed
    UNCHANGED = "unchanged"
    MOVE_IN = "move_in"  # existing account from a local school (or request-single) allocated here
    RESTORE = "restore"  # an unallocated allocation here comes back
    NEEDS_MATCHING = "needs_matching"  # doubtful: a person decides
    EXCLUDED = "excluded"  # on the school's exclusion list: skipped
    DEFER_START = "defer_start"  # starts later and the future report is not accepted
    MARK_LEAVER = "mark_leaver"  # gone or past leaving date, within the grace period
    UNALLOCATE = "unallocate"  # gone or past leaving date, grace period over
    REJECT = "reject"  # a record that cannot be used (error, duplicate, report not accepted)


COUNT_FOR_KIND: dict[ActionKind, str] = {
    ActionKind.CREATE: "created",
    ActionKind.UPDATE: "updated",
    ActionKind.UNCHANGED: "unchanged",
    ActionKind.MOVE_IN: "moved_in",
    ActionKind.RESTORE: "restored",
    ActionKind.NEEDS_MATCHING: "needs_matching",
    ActionKind.EXCLUDED: "excluded",
    ActionKind.DEFER_START: "deferred",
    ActionKind.MARK_LEAVER: "deferred",
    ActionKind.UNALLOCATE: "unallocated",
    ActionKind.REJECT: "rejected",
}


@quick_init
@dataclass(frozen=True, slots=True)
class Candidate:
    account_id: int
    score: float
    explanation: str


@quick_init
@dataclass(frozen=True, slots=True)
class PersonAction:
    kind: ActionKind
    role: Role
    mis_id: str
    reason: str
    record: PersonRecord | None = None  # the incoming record (None for leavers)
    account_id: int | None = None
    allocation_id: int | None = None
    # field -> (old, new), for updates and re-keys
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    candidates: tuple[Candidate, ...] = ()  # for NEEDS_MATCHING
    status: str | None = None  # allocation status to set: active/future
    from_school_urn: str | None = None  # MOVE_IN: where the account was
    username_base: str | None = None  # CREATE: the local part the pattern gives
    rekey: bool = False  # the MIS ID changed (counts toward the change-of-MIS guard)
    # Identity changes (names, date of birth, gender, UPN) the record asks for but the
    # run must not make: the account is active at another school, which has to agree.
    # field -> (old, new); the directory opens a cross-school case both schools see.
    withheld: dict[str, tuple[Any, Any]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class GroupChanges:
    """Groups & Classes: set differences against the school's current groups."""

    upsert: tuple[GroupRecord, ...] = ()
    remove: tuple[str, ...] = ()  # group mis_ids no longer sent
    # (group mis_id, person role, person mis_id, membership role)
    add_members: tuple[tuple[str, Role, str, MembershipRole], ...] = ()
    remove_members: tuple[tuple[str, int, MembershipRole], ...] = ()  # (group, account_id, role)


@dataclass(frozen=True, slots=True)
class ContactLinkChanges:
    upsert: tuple[ContactLink, ...] = ()
    remove: tuple[tuple[int, int], ...] = ()  # (contact account_id, pupil account_id)


@dataclass(frozen=True, slots=True)
class AttendanceChanges:
    upsert: tuple[AttendanceMark, ...] = ()


@dataclass(frozen=True, slots=True)
class Hold:
    """Why the run must wait for a person's approval."""

    code: str  # one of planning.guard's codes, e.g. "unallocate_share", "errors_and_leavers"
    message: str


@dataclass(slots=True)
class Plan:
    actions: list[PersonAction] = field(default_factory=list)
    groups: GroupChanges = field(default_factory=GroupChanges)
    contact_links: ContactLinkChanges = field(default_factory=ContactLinkChanges)
    attendance: AttendanceChanges = field(default_factory=AttendanceChanges)
    holds: list[Hold] = field(default_factory=list)
    # Holds a person approved (policy.guard_acknowledged): shown, but they stop nothing.
    acknowledged_holds: list[Hold] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    # People a partial batch left out as unchanged (`ImportBatch.unchanged_keys`): no
    # action each, but counted as unchanged, as the plan of the whole upload counts them.
    unchanged_left_out: int = 0
    # Members a partial Groups & Classes batch left out (their memberships unchanged):
    # the whole upload lists no people, and counts none of them.
    members_left_out: int = 0

    @property
    def held(self) -> bool:
        return bool(self.holds)

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(COUNT_KEYS, 0)
        for action in self.actions:
            out[COUNT_FOR_KIND[action.kind]] += 1
        out["unchanged"] += self.unchanged_left_out
        # Rows an importer refused never became records; each still counts once as rejected
        # (a message that stands for several rows counts each of them).
        rows: dict[tuple[str | None, int], int] = {}
        for e in self.errors:
            if e.row is not None:
                rows[(e.source, e.row)] = max(rows.get((e.source, e.row), 0), e.rows)
        out["rejected"] += sum(rows.values())
        return out

    def relation_counts(self) -> dict[str, int]:
        """The groups, memberships, contact links and attendance marks the plan changes
        (each a difference from the directory), the ones that are not zero."""
        found = dict(
            zip(
                RELATION_COUNT_KEYS,
                (
                    len(self.groups.upsert),
                    len(self.groups.remove),
                    len(self.groups.add_members),
                    len(self.groups.remove_members),
                    len(self.contact_links.upsert),
                    len(self.contact_links.remove),
                    len(self.attendance.upsert),
                ),
                strict=True,
            )
        )
        return {key: n for key, n in found.items() if n}
