"""Look-up tables over a `DirectoryState`, built once per run.

Matching and planning ask "who has this MIS ID here / this UPN / this name and
date of birth" once per record; each answer is a dict look-up, never a scan of
the region's accounts.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from rollsync.domain.records import Role
from rollsync.domain.state import AccountState, AllocationState, AllocationStatus, DirectoryState
from rollsync.matching.normalise import NameKey, email_key, full_name_key, phone_key

_STATUS_RANK = {
    AllocationStatus.ACTIVE: 0,
    AllocationStatus.FUTURE: 1,
    AllocationStatus.UNALLOCATED: 2,
}


def preference(allocation: AllocationState) -> tuple[int, int]:
    """Active before future before unallocated; then the oldest."""
    return (_STATUS_RANK[allocation.status], allocation.allocation_id)


class Where(StrEnum):
    HERE = "here"
    LOCAL = "local"  # a school of the same LA
    REGION = "region"  # a school of another LA
    NOWHERE = "nowhere"  # an account with no allocation in the snapshot


@dataclass(frozen=True, slots=True)
class Location:
    where: Where
    school_urn: str | None = None


class StateIndex:
    """Dicts over one snapshot. Read-only: nothing here changes the state."""

    def __init__(self, state: DirectoryState) -> None:
        self.state = state
        self.urn = state.school.urn
        self.accounts = state.accounts
        self.allocation_by_id: dict[int, AllocationState] = {}
        self._here_by_key: dict[tuple[Role, str], list[AllocationState]] = defaultdict(list)
        self._by_account: dict[int, list[AllocationState]] = defaultdict(list)
        self._by_upn: dict[str, set[int]] = defaultdict(set)
        self._by_name_dob: dict[tuple[Role, NameKey, date], list[int]] = defaultdict(list)
        self._by_dob: dict[tuple[Role, date], list[int]] = defaultdict(list)
        self._by_name_detail: dict[tuple[Role, NameKey, str], list[int]] = defaultdict(list)
        self.name_keys: dict[int, NameKey] = {}
        self.active_here: Counter[Role] = Counter()
        self._index_allocations(state.allocations)
        self._index_accounts()

    def _index_allocations(self, allocations: list[AllocationState]) -> None:
        for allocation in allocations:
            self.allocation_by_id[allocation.allocation_id] = allocation
            self._by_account[allocation.account_id].append(allocation)
            if allocation.upn:
                self._by_upn[allocation.upn].add(allocation.account_id)
            if allocation.school_urn == self.urn:
                if allocation.mis_id:
                    self._here_by_key[(allocation.role, allocation.mis_id)].append(allocation)
                if allocation.status is AllocationStatus.ACTIVE:
                    self.active_here[allocation.role] += 1
        for group in (*self._here_by_key.values(), *self._by_account.values()):
            group.sort(key=preference)

    def _index_accounts(self) -> None:
        for account in sorted(self.accounts.values(), key=lambda a: a.account_id):
            key = full_name_key(account.legal_given_name, account.legal_family_name)
            self.name_keys[account.account_id] = key
            if account.upn:
                self._by_upn[account.upn].add(account.account_id)
            if account.date_of_birth is not None:
                self._by_name_dob[(account.role, key, account.date_of_birth)].append(
                    account.account_id
                )
                self._by_dob[(account.role, account.date_of_birth)].append(account.account_id)
            if account.role is not Role.PUPIL:  # contacts, and staff without a birthday
                details = {
                    detail
                    for allocation in self._by_account.get(account.account_id, [])
                    for detail in (email_key(allocation.email), phone_key(allocation.phone))
                    if detail
                }
                for detail in sorted(details):
                    self._by_name_detail[(account.role, key, detail)].append(account.account_id)

    # -- look-ups ---------------------------------------------------------------

    def here_by_key(self, role: Role, mis_id: str) -> AllocationState | None:
        """The allocation at this school for an MIS ID (the preferred one if several)."""
        found = self._here_by_key.get((role, mis_id))
        return found[0] if found else None

    def allocations_of(self, account_id: int) -> list[AllocationState]:
        return self._by_account.get(account_id, [])

    def allocation_here(self, account_id: int, role: Role) -> AllocationState | None:
        for allocation in self.allocations_of(account_id):
            if allocation.school_urn == self.urn and allocation.role == role:
                return allocation
        return None

    def account(self, account_id: int) -> AccountState | None:
        return self.accounts.get(account_id)

    def accounts_with_upn(self, upn: str, role: Role) -> list[int]:
        ids = self._by_upn.get(upn, set())
        return sorted(i for i in ids if i in self.accounts and self.accounts[i].role == role)

    def accounts_with_name_dob(self, role: Role, key: NameKey, dob: date) -> list[int]:
        return self._by_name_dob.get((role, key, dob), [])

    def accounts_born_on(self, role: Role, dob: date) -> list[int]:
        return self._by_dob.get((role, dob), [])

    def accounts_with_name_and_detail(self, role: Role, key: NameKey, detail: str) -> list[int]:
        """Accounts with this name and this email or phone."""
        return self._by_name_detail.get((role, key, detail), [])

    def location(self, account_id: int, role: Role) -> Location:
        """Where an account is allocated, nearest first: here, a local school, elsewhere."""
        allocations = self.allocations_of(account_id)
        if any(a.school_urn == self.urn and a.role == role for a in allocations):
            return Location(Where.HERE, self.urn)
        local = self.state.local_school_urns
        for allocation in allocations:  # already in preference order
            if allocation.school_urn in local:
                return Location(Where.LOCAL, allocation.school_urn)
        if allocations:
            return Location(Where.REGION, allocations[0].school_urn)
        return Location(Where.NOWHERE)

    def mis_allocations_here(self) -> list[AllocationState]:
        """Every MIS-backed allocation at this school, in (role, MIS ID) order."""
        return [a for key in sorted(self._here_by_key) for a in self._here_by_key[key]]
