"""Groups, contact links and attendance: set differences against the directory.

The batch names people by MIS ID; the directory by account. `AccountResolver`
translates through this run's person actions and the allocations at this
school. A person this run creates has no account ID yet: they resolve to
`NEW_ACCOUNT`, and the change is listed by MIS ID (`add_members`, a
`ContactLink`, an `AttendanceMark` all carry MIS IDs), which the apply step
resolves *after* it has applied the person actions, through the allocation it
just made at this school. Nobody new can already have a membership, link or
mark, so a new person's relations are always additions.

Nothing is removed because of a person the run could not settle: an existing
membership or contact link of an account is kept when that account's person was
refused (`batch.rejected_keys`, a REJECT), is listed but has no account this run
(waiting in the matching queue, excluded, deferred), or, while a record of its role
waits in the matching queue, is an account here that no action of the run accounts
for (that record may be them: its candidates are among these, and the rule does not
depend on whether the case is new or already open, so a second run agrees).
`AccountResolver.keep` names those accounts, and the accounts of the people a partial
batch left out as unchanged (`ImportBatch.unchanged_keys`): their memberships and links
are not in the batch, so the run neither adds nor removes any of them.

A relation whose person is unknown (not in the upload, no allocation here) is
a row error. One whose person is known but has no account yet (deferred,
excluded, waiting in the matching queue) is skipped quietly: it is added by
the run after the person gets an account.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum

from rollsync.domain.actions import (
    ActionKind,
    AttendanceChanges,
    ContactLinkChanges,
    GroupChanges,
    PersonAction,
)
from rollsync.domain.policy import SchoolPolicy
from rollsync.domain.records import (
    AttendanceMark,
    ContactLink,
    GroupRecord,
    ImportBatch,
    MembershipRole,
    Role,
    RowError,
)
from rollsync.domain.reports import ATTENDANCE, CONTACTS, GROUPS
from rollsync.domain.state import AllocationState, AllocationStatus, DirectoryState
from rollsync.planning.index import StateIndex
from rollsync.planning.leavers import listed_keys
from rollsync.planning.ordering import sorted_settled
from rollsync.planning.partial import unchanged_accounts
from rollsync.planning.wording import ROLE_WORD, report_label


class Pending(Enum):
    NEW_ACCOUNT = "new account"


NEW_ACCOUNT = Pending.NEW_ACCOUNT
AccountRef = int | Pending | None

# Kinds after which the person has no account here (yet, or any more).
_NO_ACCOUNT = frozenset(
    {
        ActionKind.EXCLUDED,
        ActionKind.NEEDS_MATCHING,
        ActionKind.DEFER_START,
        ActionKind.UNALLOCATE,
    }
)


# Kinds after which the run does not know which account, if any, the person is.
_UNSETTLED = frozenset({ActionKind.EXCLUDED, ActionKind.NEEDS_MATCHING, ActionKind.DEFER_START})

_LIVE = frozenset({AllocationStatus.ACTIVE.value, AllocationStatus.FUTURE.value})


class AccountResolver:
    """(role, MIS ID) -> the account that person has after this run."""

    def __init__(self, actions: Iterable[PersonAction], index: StateIndex, batch: ImportBatch):
        actions = list(actions)
        self._index = index
        self._present = listed_keys(batch)
        self._actions: dict[tuple[Role, str], PersonAction] = {}
        # The account each used record settles on: an account another record of this run
        # takes (re-keyed to its MIS ID) is no longer the person its old MIS ID named.
        self._claimed: dict[int, tuple[Role, str]] = {}
        unsettled: set[tuple[Role, str]] = set(batch.rejected_keys)
        # Accounts whose relations this run must not remove (module docstring). Those of
        # people a partial batch left out as unchanged are out of its scope: their
        # memberships and links are not in the batch, so nothing about them is diffed.
        unchanged = unchanged_accounts(batch, index)
        self.keep: set[int] = set(unchanged)
        self._claimed.update(unchanged)
        for action in actions:
            if action.record is None:
                # A leaver the upload does not list: after this run, as the action says.
                self._actions.setdefault((action.role, action.mis_id), action)
                continue
            if action.kind is ActionKind.REJECT:
                # A rejected row (a duplicate, a report not accepted) says nothing about
                # accounts; unless another row of the person is used, they are unsettled.
                unsettled.add(action.record.key)
                continue
            self._actions[action.record.key] = action
            if action.kind in _UNSETTLED:
                unsettled.add(action.record.key)
            elif action.account_id is not None:
                self._claimed[action.account_id] = action.record.key
        # A record waiting in the matching queue may be any account of its role here that
        # no action of this run accounts for (its candidates among them).
        waiting = {a.role for a in actions if a.kind is ActionKind.NEEDS_MATCHING}
        named = {a.account_id for a in actions if a.account_id is not None}
        for allocation in index.state.allocations:
            if (
                allocation.role in waiting
                and allocation.school_urn == index.urn
                and allocation.status is not AllocationStatus.UNALLOCATED
                and allocation.account_id not in named
            ):
                self.keep.add(allocation.account_id)
        for key in unsettled:
            used = self._actions.get(key)
            if used is not None and used.kind not in _UNSETTLED:
                continue  # another row of theirs was used: settled
            theirs = self._here(*key)
            if theirs is not None:
                self.keep.add(theirs.account_id)

    def resolve(self, role: Role, mis_id: str) -> AccountRef:
        action = self._actions.get((role, mis_id))
        if action is not None:
            if action.kind is ActionKind.CREATE:
                return NEW_ACCOUNT
            if action.kind in _NO_ACCOUNT or action.status not in _LIVE:
                return None  # no account, or no access here (a leaver already removed)
            return action.account_id
        # People this upload does not list (or only on rejected rows): what is here stays.
        allocation = self._here(role, mis_id)
        if allocation is not None and allocation.status is not AllocationStatus.UNALLOCATED:
            return allocation.account_id
        return None

    def _here(self, role: Role, mis_id: str) -> AllocationState | None:
        """The allocation here under this MIS ID, unless this run gives its account to
        another record (matched and re-keyed): then the old MIS ID names nobody here, and
        a contact link or membership naming it must not stay on that account."""
        allocation = self._index.here_by_key(role, mis_id)
        if allocation is None:
            return None
        if self._claimed.get(allocation.account_id, (role, mis_id)) != (role, mis_id):
            return None
        return allocation

    def known(self, role: Role, mis_id: str) -> bool:
        return (role, mis_id) in self._present or self._index.here_by_key(role, mis_id) is not None


@dataclass(slots=True)
class _Unknowns:
    """Relations naming people nobody knows: one error per person, not per row."""

    what: str  # "group membership", "contact link", "attendance mark"
    first_row: dict[tuple[Role, str], int | None] = field(default_factory=dict)
    rows: dict[tuple[Role, str], int] = field(default_factory=dict)

    def add(self, role: Role, mis_id: str, row: int | None) -> None:
        key = (role, mis_id)
        self.first_row.setdefault(key, row)
        self.rows[key] = self.rows.get(key, 0) + 1

    def errors(self, field_name: str) -> list[RowError]:
        out = []
        for (role, mis_id), row in self.first_row.items():
            n = self.rows[(role, mis_id)]
            plural = "" if n == 1 else "s"
            out.append(
                RowError(
                    row,
                    field_name,
                    f"{n} {self.what}{plural} name {ROLE_WORD[role]} MIS ID {mis_id}, who is "
                    "not in this upload and has no account at this school; "
                    f"{'it was' if n == 1 else 'they were'} skipped.",
                    rows=n,
                )
            )
        return out


def carries(batch: ImportBatch, policy: SchoolPolicy, report: str, errors: list[RowError]) -> bool:
    """Whether to read a relation report: the batch has it and the school accepted it."""
    if report not in batch.reports:
        return False
    if policy.accepts(report):
        return True
    errors.append(
        RowError(
            None,
            None,
            f"The school has not accepted the {report_label(report)} report, "
            "so that part of the upload was not used.",
            source=report,
        )
    )
    return False


def group_changes(
    batch: ImportBatch, state: DirectoryState, resolver: AccountResolver, errors: list[RowError]
) -> GroupChanges:
    sent: dict[str, GroupRecord] = {}
    for group in sorted_settled(batch.groups, key=lambda g: (g.mis_id, g.row or 0)):
        sent.setdefault(group.mis_id, group)
    current = {g.mis_id: g for g in state.groups}
    upsert = tuple(
        g
        for mis_id, g in sorted(sent.items())
        if mis_id not in current or (current[mis_id].name, current[mis_id].kind) != (g.name, g.kind)
    )
    desired: set[tuple[str, int, MembershipRole]] = set()
    add: set[tuple[str, Role, str, MembershipRole]] = set()
    unknown = _Unknowns("group membership")
    for m in sorted_settled(
        batch.memberships, key=lambda m: (m.group_mis_id, m.person_mis_id, m.row or 0)
    ):
        if m.group_mis_id not in sent:
            errors.append(
                RowError(
                    m.row,
                    "group_mis_id",
                    f"Group {m.group_mis_id} is not in this upload; the membership was skipped.",
                )
            )
            continue
        ref = resolver.resolve(m.person_role, m.person_mis_id)
        if ref is None:
            if not resolver.known(m.person_role, m.person_mis_id):
                unknown.add(m.person_role, m.person_mis_id, m.row)
            continue
        if isinstance(ref, int):
            desired.add((m.group_mis_id, ref, m.role))
            if (m.group_mis_id, ref, m.role) in state.memberships:
                continue
        add.add((m.group_mis_id, m.person_role, m.person_mis_id, m.role))
    errors.extend(unknown.errors("person_mis_id"))
    return GroupChanges(
        upsert=upsert,
        remove=tuple(sorted(set(current) - set(sent))),
        add_members=tuple(sorted(add)),
        remove_members=tuple(
            sorted(m for m in state.memberships - desired if m[1] not in resolver.keep)
        ),
    )


def contact_link_changes(
    batch: ImportBatch, state: DirectoryState, resolver: AccountResolver, errors: list[RowError]
) -> ContactLinkChanges:
    links: dict[tuple[str, str], ContactLink] = {}
    for link in sorted_settled(
        batch.contact_links, key=lambda x: (x.contact_mis_id, x.pupil_mis_id, x.row or 0)
    ):
        links.setdefault((link.contact_mis_id, link.pupil_mis_id), link)
    upsert: list[ContactLink] = []
    desired: set[tuple[int, int]] = set()
    unknown = _Unknowns("contact link")
    for link in links.values():
        contact = resolver.resolve(Role.CONTACT, link.contact_mis_id)
        pupil = resolver.resolve(Role.PUPIL, link.pupil_mis_id)
        if contact is None or pupil is None:
            for role, mis_id, ref in (
                (Role.CONTACT, link.contact_mis_id, contact),
                (Role.PUPIL, link.pupil_mis_id, pupil),
            ):
                if ref is None and not resolver.known(role, mis_id):
                    unknown.add(role, mis_id, link.row)
            continue
        if isinstance(contact, int) and isinstance(pupil, int):
            desired.add((contact, pupil))
            wanted = (link.priority, link.parental_responsibility, link.relationship)
            if state.contact_links.get((contact, pupil)) == wanted:
                continue
        upsert.append(link)
    errors.extend(unknown.errors("pupil_mis_id"))
    gone = {
        pair
        for pair in set(state.contact_links) - desired
        if pair[0] not in resolver.keep and pair[1] not in resolver.keep
    }
    return ContactLinkChanges(upsert=tuple(upsert), remove=tuple(sorted(gone)))


def attendance_changes(
    batch: ImportBatch, state: DirectoryState, resolver: AccountResolver, errors: list[RowError]
) -> AttendanceChanges:
    marks: dict[tuple[str, object, str], AttendanceMark] = {}
    for mark in sorted_settled(
        batch.attendance, key=lambda m: (m.pupil_mis_id, m.date, m.session, m.row or 0)
    ):
        marks.setdefault((mark.pupil_mis_id, mark.date, mark.session), mark)
    upsert: list[AttendanceMark] = []
    unknown = _Unknowns("attendance mark")
    for mark in marks.values():
        ref = resolver.resolve(Role.PUPIL, mark.pupil_mis_id)
        if ref is None:
            if not resolver.known(Role.PUPIL, mark.pupil_mis_id):
                unknown.add(Role.PUPIL, mark.pupil_mis_id, mark.row)
            continue
        if (
            isinstance(ref, int)
            and state.attendance.get((ref, mark.date, mark.session)) == mark.code
        ):
            continue
        upsert.append(mark)
    errors.extend(unknown.errors("pupil_mis_id"))
    return AttendanceChanges(upsert=tuple(upsert))


@dataclass(frozen=True, slots=True)
class Relations:
    groups: GroupChanges
    contact_links: ContactLinkChanges
    attendance: AttendanceChanges
    errors: tuple[RowError, ...]


def plan_relations(
    batch: ImportBatch,
    state: DirectoryState,
    policy: SchoolPolicy,
    index: StateIndex,
    actions: Iterable[PersonAction],
) -> Relations:
    resolver = AccountResolver(actions, index, batch)
    errors: list[RowError] = []
    groups = (
        group_changes(batch, state, resolver, errors)
        if carries(batch, policy, GROUPS, errors)
        else GroupChanges()
    )
    links = (
        contact_link_changes(batch, state, resolver, errors)
        if carries(batch, policy, CONTACTS, errors)
        else ContactLinkChanges()
    )
    attendance = (
        attendance_changes(batch, state, resolver, errors)
        if carries(batch, policy, ATTENDANCE, errors)
        else AttendanceChanges()
    )
    return Relations(groups, links, attendance, tuple(errors))
