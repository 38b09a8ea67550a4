"""The sync planner: records + directory snapshot + policy -> a Plan.

A pure function: no database, no clock (the policy says what day it is), no
mutation of its inputs; equal inputs give an equal plan, whatever order the
records arrived in. Per incoming record, in this order:

1. a second row with the same MIS ID, or a report the school has not
   accepted -> REJECT;
2. on the school's exclusion list -> EXCLUDED; already waiting in the matching
   queue -> NEEDS_MATCHING (no second case);
3. match (see `matching`);
4. a leaving date in the past -> MARK_LEAVER / UNALLOCATE (grace period);
5. already allocated here -> UPDATE / UNCHANGED (a future allocation whose
   start date came becomes active; a pending leaver who is back is kept);
6. starts after today and the future report is not accepted -> DEFER_START;
7. otherwise NEEDS_MATCHING, CREATE, RESTORE or MOVE_IN from the decision.

Then allocations here that no record accounts for are leavers (`leavers`),
relations are diffed (`relations`) and the guard looks at the whole
(`guard`).

A partial batch (`ImportBatch.unchanged_keys`, see `partial`) leaves out the people
whose rows did not change: they count as listed, their accounts here are theirs by MIS
ID before any record is matched, their relations are left alone, and
`Plan.unchanged_left_out` counts them as unchanged.

Fields a record does not clearly carry (`PersonRecord.unknown_fields`): never
changed (`fields`); an unknown start date is the one stored here, and an unknown
leaving date never makes a leaver.

Accounts the school may link to: its own (any status) and its local schools'.
Whatever the matcher says, a link to an account seen only outside the LA (or at
no school) becomes a new account (its reason says when its UPN is held there), and
such accounts are never offered; a link by a UPN that belongs to another child
still at another school (name and date of birth both differ) becomes a question;
an account whose MIS ID is on a refused row of this upload is never linked to
another record.

Accounts shared with another school: when the linked account is still active
(or future) at another school (a pupil moving in before the first school lets her
go, a dual-registered pupil, a peripatetic teacher, a parent with children at two
schools), this school's record may not change who the account is:

- a change of identity (names, middle names, date of birth, gender, UPN) is not
  made; it goes into `PersonAction.withheld` (field -> (old, new)) and the reason
  says "... not changed: the account is still active at <URN>, which must agree";
  the directory opens a cross-school case both schools see;
- a value is never cleared because this school's record lacks it (nor withheld:
  a missing value is no disagreement);
- a value the account lacks (None -> value) is withheld too: a filled-in UPN or
  date of birth becomes evidence every later match trusts, so one school's record
  (perhaps an imposter row) must not supply it to a child another school holds;
- per-school fields (allocation fields: MIS ID, contact details, year and
  registration group, dates) are this school's own and are set as usual.

With no other live allocation, the MIS of the only school is authoritative and
changes are made as they come. An action whose only differences are withheld is
UNCHANGED (with `withheld` set), so planning the same upload again is still a
no-op.

User Request Single: an account made by hand for this school (an allocation
here with `requested_single` and no MIS ID) that the MIS now sends, matched by
exact legal name and date of birth, is a MOVE_IN that names that allocation
(`allocation_id` set, `from_school_urn` None), as `ActionKind.MOVE_IN` says:
the account is taken over by the MIS. Its `changes` include
"mis_id": ("", <MIS ID>) and "requested_single": (True, False). Filling in an
empty MIS ID is not a re-key: it does not count toward the change-of-MIS guard.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from rollsync.domain.actions import ActionKind, Candidate, PersonAction, Plan
from rollsync.domain.policy import SchoolPolicy
from rollsync.domain.records import ContactLink, ImportBatch, PersonRecord, Role
from rollsync.domain.reports import FUTURE_REPORT_FOR_ROLE, report_for_record
from rollsync.domain.state import (
    AccountState,
    AllocationState,
    AllocationStatus,
    DirectoryState,
    ExclusionState,
    OpenMatchCase,
)
from rollsync.matching.normalise import NameKey, full_name_key
from rollsync.planning.engine_matcher import EngineMatcher
from rollsync.planning.fields import ACCOUNT_FIELDS, Changes, account_changes, record_changes
from rollsync.planning.guard import holds_for
from rollsync.planning.index import StateIndex, Where
from rollsync.planning.leavers import absent_leavers, leaver_action
from rollsync.planning.matching import (
    VIA_STRENGTH,
    WEAKEST,
    Candidates,
    Link,
    MatchDecision,
    Matcher,
    New,
    already_taken,
)
from rollsync.planning.ordering import sort_records
from rollsync.planning.partial import roles_listed, unchanged_accounts
from rollsync.planning.relations import plan_relations
from rollsync.planning.usernames import DEFAULT_PATTERN, username_base, validate_pattern
from rollsync.planning.wording import (
    ROLE_WORD,
    day,
    describe_changes,
    describe_withheld,
    report_label,
    sentence,
)

# Bookkeeping fields a RESTORE changes that its reason already says in words.
_RESTORE_BOOKKEEPING = ("status", "unallocated_at", "leaver_pending_since")


def plan(
    batch: ImportBatch,
    state: DirectoryState,
    policy: SchoolPolicy,
    *,
    matcher: Matcher | None = None,
    username_pattern: str = DEFAULT_PATTERN,
    index: StateIndex | None = None,
) -> Plan:
    """What this upload would do to the directory, with a reason for every action.

    Holds: when `policy.guard_acknowledged` is set, a person approved the run, so
    `plan.holds` is empty and `plan.acknowledged_holds` lists what they approved.
    `index`: `StateIndex(state)` when the caller has built it already (read-only).
    """
    if batch.fatal:
        return Plan(errors=list(batch.errors))
    validate_pattern(username_pattern)
    if index is None:
        index = StateIndex(state)
    elif index.state is not state:
        raise ValueError("the index given is of another snapshot")
    people = sort_records(batch.people)
    records, rejected = _screen(people, policy)
    refused = _refused_here(batch, records, index)
    unchanged = {account_id: key[1] for account_id, key in unchanged_accounts(batch, index).items()}
    decisions = _decide(
        records,
        state,
        index,
        matcher,
        batch.contact_links,
        refused,
        unchanged=unchanged,
        unchanged_keys=batch.unchanged_keys,
    )
    person_planner = _PersonPlanner(state, policy, index, username_pattern)
    incoming = rejected + [
        person_planner.action_for(record, decision)
        for record, decision in zip(records, decisions, strict=True)
    ]
    rank = {id(record): n for n, record in enumerate(people)}
    # Record order; of two identical rows, the one used before the one skipped.
    incoming.sort(key=lambda a: (rank[id(a.record)], a.kind is ActionKind.REJECT))
    actions = incoming + absent_leavers(batch, index, policy, incoming)
    relations = plan_relations(batch, state, policy, index, actions)
    holds = holds_for(
        actions,
        batch,
        index,
        policy,
        groups=relations.groups,
        contact_links=relations.contact_links,
        errors=relations.errors,
    )
    # (A batch listing no people, a Groups & Classes file, counts its members left out
    # apart: the whole file's plan counts no person.)
    lists_people = bool(roles_listed(batch))
    return Plan(
        actions=actions,
        groups=relations.groups,
        contact_links=relations.contact_links,
        attendance=relations.attendance,
        holds=[] if policy.guard_acknowledged else holds,
        acknowledged_holds=holds if policy.guard_acknowledged else [],
        errors=[*batch.errors, *relations.errors],
        unchanged_left_out=len(batch.unchanged_keys) if lists_people else 0,
        members_left_out=0 if lists_people else len(batch.unchanged_keys),
    )


def _screen(
    records: list[PersonRecord], policy: SchoolPolicy
) -> tuple[list[PersonRecord], list[PersonAction]]:
    """Records the planner can use, and REJECT actions for the rest."""
    usable: list[PersonRecord] = []
    rejected: list[PersonAction] = []
    first_row: dict[tuple[Role, str], int | None] = {}
    for record in records:
        report = report_for_record(record)
        if record.key in first_row:
            where = f"row {first_row[record.key]}" if first_row[record.key] else "another row"
            why = f"MIS ID {record.mis_id} is also on {where}, which was used; this row was skipped"
        elif not policy.accepts(report):
            why = (
                f"The school has not accepted the {report_label(report)} report, "
                "so this record was not used"
            )
        else:
            first_row[record.key] = record.row
            usable.append(record)
            continue
        rejected.append(
            PersonAction(
                ActionKind.REJECT, record.role, record.mis_id, sentence(why), record=record
            )
        )
    return usable, rejected


def _decide(
    records: list[PersonRecord],
    state: DirectoryState,
    index: StateIndex,
    matcher: Matcher | None,
    contact_links: list[ContactLink],
    refused: dict[int, str],
    *,
    unchanged: dict[int, str],
    unchanged_keys: frozenset[tuple[Role, str]],
) -> list[MatchDecision]:
    if matcher is None:
        matcher = EngineMatcher()
    if isinstance(matcher, EngineMatcher):
        decisions = matcher.match_indexed(
            records,
            index,
            contact_links=contact_links,
            # An unchanged person holds their account by MIS ID, as their record would.
            held={**refused, **unchanged},
            also_listed=unchanged_keys,
        )
    else:
        decisions = matcher.match(records, state)
    if len(decisions) != len(records):
        raise ValueError(f"the matcher gave {len(decisions)} decisions for {len(records)} records")
    return _checked(records, decisions, index, refused, unchanged)


def _refused_here(
    batch: ImportBatch, records: list[PersonRecord], index: StateIndex
) -> dict[int, str]:
    """Accounts here whose person's row was refused (and no other row of theirs is
    used): account_id -> their MIS ID. They keep everything: no other record takes them."""
    used = {r.key for r in records}
    out: dict[int, str] = {}
    for key in sorted(batch.rejected_keys - used):
        allocation = index.here_by_key(*key)
        if allocation is not None:
            out.setdefault(allocation.account_id, key[1])
    return out


def _checked(
    records: Sequence[PersonRecord],
    decisions: list[MatchDecision],
    index: StateIndex,
    refused: dict[int, str],
    unchanged: dict[int, str],
) -> list[MatchDecision]:
    """Whatever the matcher, a link must name an account of the record's role, and no
    account goes to two records: the stronger evidence keeps it, then the record first
    in record order (`records` come sorted); the other is asked about. An account of a
    person left out as unchanged (`unchanged`: account_id -> MIS ID) is theirs by MIS ID
    before any record is looked at: no record takes it."""
    out = list(decisions)
    order = sorted(
        range(len(records)),
        key=lambda i: (
            VIA_STRENGTH.get(d.via, WEAKEST) if isinstance(d := out[i], Link) else WEAKEST,
            i,
        ),
    )
    taken: dict[int, str] = dict(unchanged)  # account_id -> the MIS ID that holds it
    for i in order:
        decision = out[i]
        if isinstance(decision, Link) and decision.account_id in refused:
            holder = refused[decision.account_id]
            out[i] = Candidates(
                (Candidate(decision.account_id, 1.0, f"Belongs to MIS ID {holder}"),),
                f"{decision.explanation}, but that account belongs to MIS ID {holder}, whose "
                "row in this upload was refused",
            )
        decision = out[i] = _linkable_only(records[i], out[i], index)
        if not isinstance(decision, Link):
            continue
        account = index.account(decision.account_id)
        if account is None or account.role != records[i].role:
            out[i] = Candidates(
                (),
                f"The matcher named account {decision.account_id}, which "
                f"is not a {ROLE_WORD[records[i].role]} account in the directory",
            )
        elif _upn_of_someone_else(records[i], account, index):
            out[i] = Candidates(
                (Candidate(account.account_id, 0.5, f"{_who(account)} has UPN {records[i].upn}"),),
                f"UPN {records[i].upn} belongs to {_who(account)}, who is still at another "
                "school and whose name and date of birth differ: it is never linked by the UPN",
            )
        elif decision.account_id in taken:
            out[i] = already_taken(decision, taken[decision.account_id])
        else:
            taken[decision.account_id] = records[i].mis_id
    return out


def _may_link(account_id: int, role: Role, index: StateIndex) -> bool:
    """A school links to, or is offered, only its own accounts (any status) and its
    local schools' (same LA): never one seen only outside the LA, nor one at no school."""
    return index.location(account_id, role).where in (Where.HERE, Where.LOCAL)


def _linkable_only(
    record: PersonRecord, decision: MatchDecision, index: StateIndex
) -> MatchDecision:
    """Whatever the matcher said, accounts the school may not link to are dropped: a link
    to one becomes a new account, and they are never offered. A new account whose UPN
    such an account holds says so."""
    if (
        isinstance(decision, Link)
        and index.account(decision.account_id) is not None
        and not _may_link(decision.account_id, record.role, index)
    ):
        decision = New("No account this school may link to matches")
    elif isinstance(decision, Candidates):
        offered = tuple(
            c for c in decision.candidates if _may_link(c.account_id, record.role, index)
        )
        if offered == decision.candidates:
            return decision
        if offered:
            return Candidates(offered, decision.explanation)
        decision = New("No account this school may link to matches")
    if isinstance(decision, New) and record.upn:
        elsewhere = [
            a
            for a in index.accounts_with_upn(record.upn, record.role)
            if not _may_link(a, record.role, index)
        ]
        if elsewhere:
            return New(
                f"{decision.explanation}. Its UPN {record.upn} is held by an account "
                "elsewhere in the region, outside this local authority, which this school "
                "may not link to or change"
            )
    return decision


def _upn_of_someone_else(record: PersonRecord, account: AccountState, index: StateIndex) -> bool:
    """The record's UPN is this account's, the account is still active (or future) at
    another school, and both its name and its date of birth differ: another child, whose
    UPN this school mistyped, never linked by it."""
    if record.role is not Role.PUPIL or not record.upn:
        return False
    allocations = index.allocations_of(account.account_id)
    # The UPN this school itself stored (on its own allocation) is not another child's.
    holds = account.upn == record.upn or any(
        a.upn == record.upn and a.school_urn != index.urn for a in allocations
    )
    elsewhere = any(a.school_urn != index.urn and a.status in _LIVE for a in allocations)
    if not (holds and elsewhere):
        return False
    same_name = full_name_key(record.legal_given_name, record.legal_family_name) == full_name_key(
        account.legal_given_name, account.legal_family_name
    )
    same_dob = record.date_of_birth is not None and record.date_of_birth == account.date_of_birth
    return not same_name and not same_dob


def _who(account: AccountState) -> str:
    born = f", born {day(account.date_of_birth)}" if account.date_of_birth else ""
    return f"{account.legal_given_name} {account.legal_family_name} ({account.username}{born})"


class _PersonPlanner:
    """Turns one record and its match decision into one action."""

    def __init__(
        self, state: DirectoryState, policy: SchoolPolicy, index: StateIndex, username_pattern: str
    ) -> None:
        self.state = state
        self.policy = policy
        self.index = index
        self.username_pattern = username_pattern
        self.exclusions = _Exclusions(state.exclusions)
        self.open_cases = {(c.role, c.mis_id): c for c in state.open_cases}

    def action_for(self, record: PersonRecord, decision: MatchDecision) -> PersonAction:
        exclusion = self.exclusions.find(record)
        if exclusion is not None:
            return self._excluded(record, exclusion)
        case = self.open_cases.get(record.key)
        if case is not None:
            return self._queued(record, case)
        account = self.index.account(decision.account_id) if isinstance(decision, Link) else None
        allocation = self._allocation_here(record, decision)
        left = record.leaving_date if _known(record, "leaving_date") else None
        if left is not None and left < self.policy.today:
            return self._left(record, account, allocation)
        if (
            account is not None
            and allocation is not None
            and allocation.status is not AllocationStatus.UNALLOCATED
        ):
            assert isinstance(decision, Link)
            if allocation.requested_single and not allocation.mis_id:
                return self._take_over_requested(record, account, allocation, decision)
            return self._update(record, account, allocation, decision)
        if self._starts_later(record) and not self._future_accepted(record):
            return self._deferred(record, decision)
        if isinstance(decision, Candidates):
            return self._needs_matching(record, decision.explanation, decision.candidates)
        if isinstance(decision, New):
            return self._create(record, decision.explanation)
        assert account is not None  # a checked link names a known account
        if allocation is not None:
            return self._restore(record, account, allocation, decision)
        return self._move_in(record, account, decision)

    # -- facts ------------------------------------------------------------------------

    def _allocation_here(
        self, record: PersonRecord, decision: MatchDecision
    ) -> AllocationState | None:
        """The linked account's allocation at this school: the one the matcher named if it
        is here, else any it has here (never a second allocation for one school)."""
        if not isinstance(decision, Link):
            return None
        named = self.index.allocation_by_id.get(decision.allocation_id or -1)
        if (
            named is not None
            and named.school_urn == self.index.urn
            and named.account_id == decision.account_id
            and named.role == record.role
        ):
            return named
        return self.index.allocation_here(decision.account_id, record.role)

    def _starts_later(
        self, record: PersonRecord, allocation: AllocationState | None = None
    ) -> bool:
        """A start date the record does not clearly carry is the one stored here."""
        start = record.start_date
        if not _known(record, "start_date"):
            start = allocation.start_date if allocation is not None else None
        return start is not None and start > self.policy.today

    def _future_accepted(self, record: PersonRecord) -> bool:
        future_report = FUTURE_REPORT_FOR_ROLE.get(record.role)
        return record.future or (future_report is not None and self.policy.accepts(future_report))

    def _status(
        self, record: PersonRecord, allocation: AllocationState | None = None
    ) -> AllocationStatus:
        later = self._starts_later(record, allocation)
        return AllocationStatus.FUTURE if later else AllocationStatus.ACTIVE

    def _keep_place(
        self, record: PersonRecord, allocation: AllocationState, changes: Changes
    ) -> AllocationStatus:
        """A person the MIS still lists keeps their place here: a future allocation whose
        start date came becomes active, and a pending removal is cancelled."""
        status = allocation.status
        if status is AllocationStatus.FUTURE and not self._starts_later(record, allocation):
            status = AllocationStatus.ACTIVE
            changes["status"] = (AllocationStatus.FUTURE.value, status.value)
        if allocation.leaver_pending_since is not None:
            changes["leaver_pending_since"] = (allocation.leaver_pending_since, None)
        return status

    def _action(
        self, kind: ActionKind, record: PersonRecord, reason: str, **fields: Any
    ) -> PersonAction:
        return PersonAction(kind, record.role, record.mis_id, reason, record=record, **fields)

    # -- one method per outcome -------------------------------------------------------

    def _excluded(self, record: PersonRecord, exclusion: ExclusionState) -> PersonAction:
        existing = self.index.here_by_key(record.role, record.mis_id)
        kept = " Their existing account at this school is left as it is." if existing else ""
        reason = (
            "On the school's list of MIS names that should not have an account "
            f"(exclusion {exclusion.exclusion_id}), so no account is made.{kept}"
        )
        return self._action(ActionKind.EXCLUDED, record, reason)

    def _queued(self, record: PersonRecord, case: OpenMatchCase) -> PersonAction:
        reason = (
            f"Already waiting in the matching queue (case {case.case_id}): a person at the "
            "school decides whether this is an existing account or a new one."
        )
        return self._action(ActionKind.NEEDS_MATCHING, record, reason)

    def _left(
        self,
        record: PersonRecord,
        account: AccountState | None,
        allocation: AllocationState | None,
    ) -> PersonAction:
        assert record.leaving_date is not None
        cause = f"The MIS gives a leaving date of {day(record.leaving_date)}"
        if account is None or allocation is None:
            outcome = "There is no account for them at this school, so none is made"
            return self._action(ActionKind.UNCHANGED, record, sentence(cause, outcome))
        if not allocation.mis_id and allocation.status is not AllocationStatus.UNALLOCATED:
            # An account no MIS record backs (made ahead of the MIS, or kept as non-MIS)
            # is never taken over by a record that has already left, only to be removed:
            # a person made it, and a person decides about it.
            outcome = (
                f"{_who(account)} has no MIS ID here (it was made or kept by hand), so this "
                "record does not take it over; it is left as it is"
            )
            return self._action(ActionKind.UNCHANGED, record, sentence(cause, outcome))
        if allocation.status is AllocationStatus.UNALLOCATED:
            outcome = "Their access to this school was already removed"
            return self._action(
                ActionKind.UNCHANGED,
                record,
                sentence(cause, outcome),
                account_id=account.account_id,
                allocation_id=allocation.allocation_id,
            )
        changes, withheld, note = self._shared(account, record_changes(record, account, allocation))
        return leaver_action(
            allocation,
            self.policy,
            sentence(f"{cause}, which has passed", note),
            record=record,
            changes=changes,
            rekey=_is_rekey(allocation, changes),
            withheld=withheld,
        )

    def _update(
        self, record: PersonRecord, account: AccountState, allocation: AllocationState, link: Link
    ) -> PersonAction:
        changes, withheld, note = self._shared(account, record_changes(record, account, allocation))
        status = self._keep_place(record, allocation, changes)
        said = describe_changes(changes)
        reason = sentence(
            f"{link.explanation}; {said}" if said else link.explanation,
            note if note or said else "Nothing has changed",
        )
        return self._action(
            ActionKind.UPDATE if changes else ActionKind.UNCHANGED,
            record,
            reason,
            account_id=account.account_id,
            allocation_id=allocation.allocation_id,
            changes=changes,
            status=status.value,
            rekey=_is_rekey(allocation, changes),
            withheld=withheld,
        )

    def _deferred(self, record: PersonRecord, decision: MatchDecision) -> PersonAction:
        assert record.start_date is not None
        future_report = FUTURE_REPORT_FOR_ROLE.get(record.role)
        why = (
            f"the school has not accepted the {report_label(future_report)} report, so "
            if future_report
            else ""
        )
        reason = sentence(
            f"Starts on {day(record.start_date)}; {why}their account is made or restored "
            "on or after that date"
        )
        account_id = decision.account_id if isinstance(decision, Link) else None
        return self._action(ActionKind.DEFER_START, record, reason, account_id=account_id)

    def _needs_matching(
        self, record: PersonRecord, explanation: str, candidates: tuple[Candidate, ...]
    ) -> PersonAction:
        reason = sentence(
            f"Not a sure match: {_lower_first(explanation)}",
            "A person at the school decides: match it to an existing account, or create a new one",
        )
        return self._action(ActionKind.NEEDS_MATCHING, record, reason, candidates=candidates)

    def _create(self, record: PersonRecord, explanation: str) -> PersonAction:
        status = self._status(record)
        base = username_base(self.username_pattern, record)
        when = (
            f" as a future starter (starts {day(record.start_date)})"
            if status is AllocationStatus.FUTURE and record.start_date
            else ""
        )
        reason = sentence(
            explanation,
            f"A new account is made{when}, username {base}.{self.state.school.la_code} "
            "or the next free one",
        )
        return self._action(
            ActionKind.CREATE, record, reason, status=status.value, username_base=base
        )

    def _restore(
        self, record: PersonRecord, account: AccountState, allocation: AllocationState, link: Link
    ) -> PersonAction:
        status = self._status(record, allocation)
        changes, withheld, note = self._shared(account, record_changes(record, account, allocation))
        changes["status"] = (allocation.status.value, status.value)
        if allocation.unallocated_at is not None:
            changes["unallocated_at"] = (allocation.unallocated_at, None)
        if allocation.leaver_pending_since is not None:
            changes["leaver_pending_since"] = (allocation.leaver_pending_since, None)
        when = (
            f" from {day(record.start_date)}"
            if status is AllocationStatus.FUTURE and record.start_date
            else ""
        )
        said = describe_changes(changes, skip=_RESTORE_BOOKKEEPING)
        reason = sentence(
            f"{link.explanation}; their access to this school had been removed "
            f"and is restored{when}" + (f"; {said}" if said else ""),
            note,
        )
        return self._action(
            ActionKind.RESTORE,
            record,
            reason,
            account_id=account.account_id,
            allocation_id=allocation.allocation_id,
            changes=changes,
            status=status.value,
            rekey=_is_rekey(allocation, changes),
            withheld=withheld,
        )

    def _take_over_requested(
        self, record: PersonRecord, account: AccountState, allocation: AllocationState, link: Link
    ) -> PersonAction:
        """The MIS now backs an account made by hand ahead of it (User Request Single)."""
        changes, withheld, note = self._shared(account, record_changes(record, account, allocation))
        changes["requested_single"] = (True, False)
        status = self._keep_place(record, allocation, changes)
        said = describe_changes(changes, skip=("mis_id", "requested_single"))
        reason = sentence(
            f"{link.explanation}; the MIS record with MIS ID {record.mis_id} now backs that "
            "account" + (f"; {said}" if said else ""),
            note,
        )
        return self._action(
            ActionKind.MOVE_IN,
            record,
            reason,
            account_id=account.account_id,
            allocation_id=allocation.allocation_id,
            changes=changes,
            status=status.value,
            withheld=withheld,
        )

    def _move_in(self, record: PersonRecord, account: AccountState, link: Link) -> PersonAction:
        status = self._status(record)
        location = self.index.location(account.account_id, record.role)
        changes, withheld, note = self._shared(account, account_changes(record, account))
        said = describe_changes(changes)
        reason = sentence(
            f"{link.explanation}; the {ROLE_WORD[record.role]} keeps that account and is "
            "allocated to this school too" + (f"; {said}" if said else ""),
            note,
        )
        return self._action(
            ActionKind.MOVE_IN,
            record,
            reason,
            account_id=account.account_id,
            changes=changes,
            status=status.value,
            from_school_urn=location.school_urn if location.where is not Where.NOWHERE else None,
            withheld=withheld,
        )

    # -- accounts shared with another school -------------------------------------------

    def _shared(self, account: AccountState, changes: Changes) -> tuple[Changes, Changes, str]:
        """Split `changes` for an account that is still active (or future) at another
        school: (changes to make, identity changes withheld, what the reason says).
        See the module docstring, "Accounts shared with another school"."""
        elsewhere = [
            a
            for a in self.index.allocations_of(account.account_id)
            if a.school_urn != self.index.urn and a.status in _LIVE
        ]
        if not elsewhere:
            return changes, {}, ""
        kept: Changes = {}
        withheld: Changes = {}
        for name, (old, new) in changes.items():
            if name not in ACCOUNT_FIELDS:
                kept[name] = (old, new)  # this school's own place: its MIS decides
            elif new is None:
                continue  # never cleared because this school's record lacks it
            else:
                withheld[name] = (old, new)
        if not withheld:
            return kept, {}, ""
        urns = sorted({a.school_urn for a in elsewhere})
        at = urns[0] if len(urns) == 1 else ", ".join(urns[:-1]) + " and " + urns[-1]
        note = (
            f"{describe_withheld(withheld)} not changed: the account is still active at {at}, "
            "which must agree"
        )
        return kept, withheld, note


def _lower_first(text: str) -> str:
    """ "Similar to..." reads on after a colon; "UPN ..." keeps its capitals."""
    if len(text) > 1 and text[0].isupper() and text[1].islower():
        return text[0].lower() + text[1:]
    return text


_LIVE = (AllocationStatus.ACTIVE, AllocationStatus.FUTURE)


def _known(record: PersonRecord, name: str) -> bool:
    """The record clearly carries this field (see `PersonRecord.unknown_fields`)."""
    return name not in record.unknown_fields


def _is_rekey(allocation: AllocationState, changes: Changes) -> bool:
    """A changed MIS ID; filling the empty MIS ID of a hand-made account is not one."""
    return "mis_id" in changes and bool(allocation.mis_id)


class _Exclusions:
    """The school's exclusion list, looked up by MIS ID or by name."""

    def __init__(self, exclusions: list[ExclusionState]) -> None:
        self.by_mis_id: dict[str, list[ExclusionState]] = defaultdict(list)
        self.by_name: dict[NameKey, list[ExclusionState]] = defaultdict(list)
        for exclusion in sorted(exclusions, key=lambda e: e.exclusion_id):
            if exclusion.mis_id:
                self.by_mis_id[exclusion.mis_id].append(exclusion)
            if exclusion.given_name and exclusion.family_name:
                self.by_name[full_name_key(exclusion.given_name, exclusion.family_name)].append(
                    exclusion
                )

    def find(self, record: PersonRecord) -> ExclusionState | None:
        for exclusion in self.by_mis_id.get(record.mis_id, []):
            if exclusion.role in (None, record.role):
                return exclusion
        key = full_name_key(record.legal_given_name, record.legal_family_name)
        for exclusion in self.by_name.get(key, []):
            if exclusion.role in (None, record.role) and exclusion.date_of_birth in (
                None,
                record.date_of_birth,
            ):
                return exclusion
        return None
