"""Look-up tables over a `DirectoryState`, built once per run.

Matching and planning ask "who has this MIS ID here / this UPN / this name and
date of birth" once per record; each answer is a dict look-up, never a scan of
the region's accounts.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from operator import attrgetter

from rollsync.domain.quick import quick_init
from rollsync.domain.records import Role
from rollsync.domain.state import AccountState, AllocationState, AllocationStatus, DirectoryState
from rollsync.matching.normalise import NameKey, email_key, full_name_key, phone_key

Key = tuple[Role, str]  # (role, MIS ID)

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


@quick_init
@dataclass(frozen=True, slots=True)
class Location:
    where: Where
    school_urn: str | None = None


class StateIndex:
    """Dicts over one snapshot. Read-only: nothing here changes the state, and the state
    must not change while the index is in use.

    The look-ups over the accounts (names, dates of birth, UPNs, contact details) are
    built on first use, each in one pass over the accounts in account_id order: the same
    lists, in the same order, as when they were built up front. A run that matches no
    record never asks for them; the engine matching a night's new records asks for the
    names and dates of birth, never for names with a date of birth or a detail."""

    def __init__(self, state: DirectoryState) -> None:
        self.state = state
        self.urn = state.school.urn
        self.accounts = state.accounts
        self.allocation_by_id: dict[int, AllocationState] = {}
        self._here_by_key: dict[Key, list[AllocationState]] = defaultdict(list)
        self._by_account: dict[int, list[AllocationState]] = defaultdict(list)
        self._by_upn: dict[str, set[int]] = defaultdict(set)
        self._accounts_upns_added = False
        self._ordered_accounts: list[AccountState] | None = None
        self._name_keys: dict[int, NameKey] | None = None
        self._by_name_dob: dict[tuple[Role, NameKey, date], list[int]] | None = None
        self._by_dob: dict[tuple[Role, date], list[int]] | None = None
        self._by_name_detail: dict[tuple[Role, NameKey, str], list[int]] | None = None
        self._held_by_keys: tuple[frozenset[Key], dict[int, Key]] | None = None
        self._placed_twice: frozenset[int] | None = None
        self.active_here: Counter[Role] = Counter()
        self._index_allocations(state.allocations)
        # The preferred allocation of each MIS ID here: `here_by_key` is asked once per
        # record and once per person a partial batch left out.
        self._here_preferred = {key: group[0] for key, group in self._here_by_key.items()}

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
            if len(group) > 1:
                group.sort(key=preference)

    def _accounts_in_order(self) -> list[AccountState]:
        if self._ordered_accounts is None:
            self._ordered_accounts = sorted(self.accounts.values(), key=attrgetter("account_id"))
        return self._ordered_accounts

    @property
    def name_keys(self) -> dict[int, NameKey]:
        """account_id -> the folded key of its legal names."""
        if self._name_keys is None:
            self._name_keys = {
                account.account_id: full_name_key(
                    account.legal_given_name, account.legal_family_name
                )
                for account in self._accounts_in_order()
            }
        return self._name_keys

    def _upns(self) -> dict[str, set[int]]:
        """UPN -> the accounts that hold it, on an allocation or on the account."""
        if not self._accounts_upns_added:
            for account in self.accounts.values():
                if account.upn:
                    self._by_upn[account.upn].add(account.account_id)
            self._accounts_upns_added = True
        return self._by_upn

    def _born(self) -> dict[tuple[Role, date], list[int]]:
        if self._by_dob is None:
            by_dob: dict[tuple[Role, date], list[int]] = defaultdict(list)
            for account in self._accounts_in_order():
                if account.date_of_birth is not None:
                    by_dob[(account.role, account.date_of_birth)].append(account.account_id)
            self._by_dob = by_dob
        return self._by_dob

    def _named_born(self) -> dict[tuple[Role, NameKey, date], list[int]]:
        if self._by_name_dob is None:
            keys = self.name_keys
            by_name_dob: dict[tuple[Role, NameKey, date], list[int]] = defaultdict(list)
            for account in self._accounts_in_order():
                if account.date_of_birth is not None:
                    by_name_dob[
                        (account.role, keys[account.account_id], account.date_of_birth)
                    ].append(account.account_id)
            self._by_name_dob = by_name_dob
        return self._by_name_dob

    def _named_details(self) -> dict[tuple[Role, NameKey, str], list[int]]:
        if self._by_name_detail is None:
            keys = self.name_keys
            by_name_detail: dict[tuple[Role, NameKey, str], list[int]] = defaultdict(list)
            for account in self._accounts_in_order():
                if account.role is Role.PUPIL:  # contacts, and staff without a birthday
                    continue
                key = keys[account.account_id]
                details = {
                    detail
                    for allocation in self._by_account.get(account.account_id, [])
                    for detail in (email_key(allocation.email), phone_key(allocation.phone))
                    if detail
                }
                for detail in sorted(details):
                    by_name_detail[(account.role, key, detail)].append(account.account_id)
            self._by_name_detail = by_name_detail
        return self._by_name_detail

    # -- look-ups ---------------------------------------------------------------

    def here_by_key(self, role: Role, mis_id: str) -> AllocationState | None:
        """The allocation at this school for an MIS ID (the preferred one if several)."""
        return self._here_preferred.get((role, mis_id))

    @property
    def preferred_here(self) -> Mapping[Key, AllocationState]:
        """(role, MIS ID) -> `here_by_key` of it, for every MIS ID here: for set
        arithmetic over a school's keys without a look-up each."""
        return self._here_preferred

    def mis_allocations_here_of(self, keys: Iterable[Key]) -> list[AllocationState]:
        """The MIS-backed allocations here of `keys`, each key's in preference order."""
        by_key = self._here_by_key
        return [a for key in keys if key in by_key for a in by_key[key]]

    def accounts_held_by(self, keys: frozenset[Key]) -> dict[int, Key]:
        """account_id -> the first of `keys` (in sorted order) whose allocation here
        (`here_by_key`) is on that account, in that order. Remembered for the last `keys`
        asked: a plan asks twice for the people its batch left out (a tenth of the
        index's work for a churn night read in part)."""
        if self._held_by_keys is None or self._held_by_keys[0] is not keys:
            held: dict[int, Key] = {}
            here = self._here_preferred
            for key in sorted(keys):
                allocation = here.get(key)
                if allocation is not None:
                    held.setdefault(allocation.account_id, key)
            self._held_by_keys = (keys, held)
        return dict(self._held_by_keys[1])

    @property
    def accounts_placed_twice(self) -> frozenset[int]:
        """The accounts with more than one allocation in the snapshot (few)."""
        if self._placed_twice is None:
            self._placed_twice = frozenset(
                account_id for account_id, places in self._by_account.items() if len(places) > 1
            )
        return self._placed_twice

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
        ids = self._upns().get(upn, set())
        return sorted(i for i in ids if i in self.accounts and self.accounts[i].role == role)

    def accounts_with_name_dob(self, role: Role, key: NameKey, dob: date) -> list[int]:
        return self._named_born().get((role, key, dob), [])

    def accounts_born_on(self, role: Role, dob: date) -> list[int]:
        return self._born().get((role, dob), [])

    def accounts_with_name_and_detail(self, role: Role, key: NameKey, detail: str) -> list[int]:
        """Accounts with this name and this email or phone."""
        return self._named_details().get((role, key, detail), [])

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
