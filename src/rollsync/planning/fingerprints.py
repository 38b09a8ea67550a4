"""What did not change since the last applied run, known without planning it again.

A fingerprint is a digest of one incoming record (every field but its row number)
together with the stored account and allocation it was last found equal to. The
directory keeps it on the allocation (`Allocation.fingerprint`) when a run found the
record UNCHANGED, with no change and nothing withheld, at an active allocation here.

Next time, a record whose MIS ID links it to that allocation and whose fingerprint,
over the record and the account and allocation as they are now, is the stored one
is UNCHANGED without being compared field by field: the planner is a pure function
of (record, snapshot, policy), and every input its answer for that record rests on is
either in the digest (the record, the account, the allocation, its status) or checked
again on every run before the fingerprint is consulted (the exclusion list, the open
matching cases, a leaving date that has passed, the matcher's decision, which every
record still goes through so that no other record's evidence changes). Any other
writer (a person, another school's run, a restore) changes a stored value, so the
digest no longer agrees and the record is planned in full: a miss costs the old price,
never a wrong answer.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rollsync.domain.actions import ActionKind, Plan
from rollsync.domain.records import PersonRecord
from rollsync.domain.state import AccountState, AllocationState, AllocationStatus, DirectoryState

_RECORD_FIELDS = tuple(f.name for f in dataclasses.fields(PersonRecord) if f.name != "row")
_ACCOUNT_FIELDS = tuple(f.name for f in dataclasses.fields(AccountState))
_ALLOCATION_FIELDS = tuple(f.name for f in dataclasses.fields(AllocationState))

DIGEST_SIZE = 16  # bytes; stored as 32 hex characters


def _value(value: Any) -> Any:
    # a frozenset's order follows string hashing, which differs between processes
    return tuple(sorted(value)) if isinstance(value, frozenset) else value


def fingerprint(record: PersonRecord, account: AccountState, allocation: AllocationState) -> str:
    """The digest of a record with the account and allocation it is linked to."""
    parts = (
        tuple(_value(getattr(record, name)) for name in _RECORD_FIELDS),
        tuple(getattr(account, name) for name in _ACCOUNT_FIELDS),
        tuple(getattr(allocation, name) for name in _ALLOCATION_FIELDS),
    )
    return hashlib.blake2b(repr(parts).encode(), digest_size=DIGEST_SIZE).hexdigest()


@dataclass(slots=True)
class KnownRecords:
    """The stored fingerprints of a school's allocations (allocation id -> digest), and
    what a plan made of them: `matched`, the allocations whose record was found
    unchanged by its fingerprint (not planned again)."""

    stored: Mapping[int, str] = field(default_factory=dict)
    matched: set[int] = field(default_factory=set)

    def unchanged(
        self, record: PersonRecord, account: AccountState, allocation: AllocationState
    ) -> bool:
        """Whether the record is known unchanged at this allocation (see module)."""
        stored = self.stored.get(allocation.allocation_id)
        if (
            not stored
            or allocation.status is not AllocationStatus.ACTIVE
            or allocation.leaver_pending_since is not None
            or allocation.account_id != account.account_id
        ):
            return False
        if fingerprint(record, account, allocation) != stored:
            return False
        self.matched.add(allocation.allocation_id)
        return True

    def to_store(self, plan: Plan, state: DirectoryState) -> dict[int, str]:
        """Fingerprints to keep after `plan` is applied: for every record it found
        unchanged (no change, nothing withheld) at an active allocation here that was
        not already known by its fingerprint."""
        here = {a.allocation_id: a for a in state.allocations_here()}
        out: dict[int, str] = {}
        for action in plan.actions:
            if (
                action.kind is not ActionKind.UNCHANGED
                or action.changes
                or action.withheld
                or action.record is None
                or action.allocation_id is None
                or action.allocation_id in self.matched
            ):
                continue
            allocation = here.get(action.allocation_id)
            if allocation is None or allocation.status is not AllocationStatus.ACTIVE:
                continue
            if allocation.leaver_pending_since is not None:
                continue
            account = state.accounts.get(allocation.account_id)
            if account is None or action.account_id != account.account_id:
                continue
            digest = fingerprint(action.record, account, allocation)
            if self.stored.get(allocation.allocation_id) != digest:
                out[allocation.allocation_id] = digest
        return out
