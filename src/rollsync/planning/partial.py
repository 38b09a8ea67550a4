"""Partial batches: an upload planned by the rows that changed.

A nightly upload in which few people changed need not be parsed and planned whole.
The people whose rows, and every row their record, memberships and contact links are
read from, are the same bytes as in the school's last applied upload of the report
are left out of the batch and named in `ImportBatch.unchanged_keys`; their records,
memberships and contact links are not in it. The planner treats them as listed (never
leavers, counted in the guard's shares), holding their accounts here by MIS ID (no
record of the batch links to, moves into or re-keys one), with their memberships and
contact links out of its scope (never added, changed or removed), and counts them as
unchanged (`Plan.unchanged_left_out`).

What holds: with B the whole upload and P the partial batch made from it,
`plan(P, state, policy)` is `plan(B, state, policy)` less the one action per person
left out (UNCHANGED, with no changes and nothing withheld), when the people left out
were chosen in this order:

1. the same bytes: their rows are as in the last upload of the report, whose plan
   (of the whole upload) placed them here (created, updated, unchanged, moved in or
   restored) and left `state` once applied, with nothing written since, the same
   policy and the same day (or no date that matters);
2. less the keys `unsafe_unchanged(P, state, policy)` returns (read from the
   directory);
3. less, read from the rows, anyone with a membership naming a group that this upload
   and the last one do not both list (such a membership is a row error every run, or
   is added only now: the plan of the whole upload says so, a partial one cannot);
4. less, read from the rows and until it puts no one else back, anyone with a contact
   link naming someone not left out (a link to someone whose record is in the batch,
   who is not listed, or who was put back: it is diffed for that person's sake, and
   weighed as evidence when matching them, so both ends are needed). A batch that
   names pupils but lists none (a Contacts file, whose links are its contacts'
   alone): anyone with a link naming a pupil not placed here under that MIS ID
   (`ImportBatch.unchanged_links`: the reader cannot tell, the directory can, and
   `unsafe_unchanged` does).

3 and 4 come after 2: a person put back for having no place here may have links the
directory does not show, and only the rows name them. After 4, `unsafe_unchanged`
returns nothing more (the links it follows between people left out are in the rows
too).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from datetime import date

from rollsync.domain.policy import SchoolPolicy
from rollsync.domain.records import ImportBatch, Role
from rollsync.domain.reports import CATALOGUE, CONTACTS
from rollsync.domain.state import AllocationState, AllocationStatus, DirectoryState
from rollsync.matching.normalise import full_name_key
from rollsync.planning.index import StateIndex

Key = tuple[Role, str]

_LIVE = (AllocationStatus.ACTIVE, AllocationStatus.FUTURE)


def roles_listed(batch: ImportBatch) -> frozenset[Role]:
    """The roles of the people the batch's reports list. A batch listing none (a Groups
    & Classes file) leaves out as unchanged the members none of whose lines changed: the
    same rules keep them, but its plan, like the whole upload's, counts no person. One
    listing no pupils but naming them (a Contacts file) has a rule of its own for links
    (`unsafe_unchanged`)."""
    return frozenset(
        spec.role for r in batch.reports if (spec := CATALOGUE.get(r)) and spec.role is not None
    )


def unchanged_accounts(batch: ImportBatch, index: StateIndex) -> dict[int, Key]:
    """The accounts here of the people the batch left out as unchanged: account_id ->
    (role, MIS ID). Each is theirs by MIS ID, the strongest evidence, as it would be were
    their record in the batch."""
    return index.accounts_held_by(batch.unchanged_keys)


def unsafe_unchanged(
    batch: ImportBatch,
    state: DirectoryState,
    policy: SchoolPolicy,
    *,
    index: StateIndex | None = None,
) -> set[Key]:
    """The keys of `batch.unchanged_keys` that must not be left out, because the plan of
    the whole upload would do something for them, or the directory cannot show that it
    would not: the caller puts their records, memberships and links back in the batch.

    A key is unsafe when:

    - it is also a record's key or a refused row's (`people`, `rejected_keys`);
    - there is no place here under its MIS ID, or the place was removed (the whole plan
      would make or restore one, or ask);
    - its account is not of its role, or has another place at this school (two MIS IDs
      on one account: which record keeps it depends on both records);
    - the place is a future one whose start date has come, is marked as leaving, or has
      a leaving date before today (the whole plan would change it);
    - the school's exclusion list names it (by MIS ID, or by name and date of birth), or
      it waits in the matching queue;
    - its account is still active (or future) at another school: an UNCHANGED action
      may carry identity changes withheld for that school (`PersonAction.withheld`),
      which the apply step asks that school about again;
    - contact links are read, and the account has a contact link with an account that
      is not one of the people safely left out (a link the whole plan would remove, or
      one whose other end the batch plans afresh); for a batch that names pupils but
      lists none (a Contacts file), with an account that is not a pupil placed here
      (`_linked_to_no_pupil_here`), or its lines name a pupil not placed here under
      that MIS ID, or placed with no link to it (`_naming_no_pupil_here`).

    Memberships need no rule here: the directory holds a left-out person's memberships
    of the groups the last upload listed, and rule 3 of the module docstring (read from
    the rows) puts back anyone whose membership names any other group.

    The last rule is applied until it adds no key, so the keys it leaves are safe
    together as far as the directory shows; the rows then say the rest (rules 3 and 4
    of the module docstring).
    """
    if index is None or index.state is not state:
        index = StateIndex(state)
    today = policy.today
    keys = batch.unchanged_keys
    here = index.preferred_here
    listed = {record.key for record in batch.people} | batch.rejected_keys
    waiting = {(case.role, case.mis_id) for case in state.open_cases}
    # By set arithmetic over the keys, then a look at the few places that may change: a
    # night leaves out nearly all of a school's people, and nearly every place is an
    # active one with nothing pending, its account's only one.
    unsafe = set(keys & listed) | (keys & waiting) | (keys - here.keys())
    for key, allocation in _may_change(index):
        if key in keys and _place_changes(allocation, index, today):
            unsafe.add(key)
    if state.exclusions:  # (no list, no name keys to make: most schools exclude no one)
        unsafe.update(key for key in keys - unsafe if _excluded(key, here[key], index, state))
    if _reads(batch, policy, CONTACTS):
        if Role.PUPIL in roles_listed(batch):
            unsafe |= _linked_beyond(keys - unsafe, here, state)
        else:
            unsafe |= _linked_to_no_pupil_here(keys - unsafe, index)
            unsafe |= _naming_no_pupil_here(batch, keys - unsafe, index)
    return unsafe


def _may_change(index: StateIndex) -> list[tuple[Key, AllocationState]]:
    """The preferred places here `_place_changes` may be true of: every other is active,
    with no leaver mark or leaving date, the only place of an account of its role."""
    accounts = index.accounts
    shared = index.accounts_placed_twice
    active = AllocationStatus.ACTIVE
    return [
        (key, a)
        for key, a in index.preferred_here.items()
        if a.status is not active
        or a.leaver_pending_since is not None
        or a.leaving_date is not None
        or a.account_id in shared
        or (account := accounts.get(a.account_id)) is None
        or account.role is not a.role
    ]


def _linked_beyond(
    keys: AbstractSet[Key], here: Mapping[Key, AllocationState], state: DirectoryState
) -> set[Key]:
    """The keys of `keys` (each placed here, `here`) put back for their contact links: a
    key whose account is linked to one that no key still left out holds, until that
    puts back no more. The first round is one pass over the links (a night's usually
    puts back no one: then no link is indexed); a later round looks only at the other
    ends of the links of the accounts the round before put back."""
    links = state.contact_links
    if not links:
        return set()
    safe = {here[key].account_id for key in keys}
    gone = {contact for contact, pupil in links if contact in safe and pupil not in safe}
    gone.update(pupil for contact, pupil in links if pupil in safe and contact not in safe)
    if not gone:
        return set()
    linked: dict[int, set[int]] = defaultdict(set)
    for contact, pupil in links:
        linked[contact].add(pupil)
        linked[pupil].add(contact)
    put_back: set[int] = set()
    while gone:
        safe -= gone
        put_back |= gone
        gone = {other for account_id in gone for other in linked[account_id] if other in safe}
    return {key for key in keys if here[key].account_id in put_back}


def _linked_to_no_pupil_here(keys: AbstractSet[Key], index: StateIndex) -> set[Key]:
    """For a batch that names pupils but lists none (a Contacts file): the keys of `keys`
    whose account has a contact link whose other end is not a pupil placed here (not
    removed) under some MIS ID. A link is its contact's alone there: the pupil is no
    record, never matched and never left out, so a link to a pupil placed here is the
    plan's to keep as the directory holds it, and one to anyone else (a pupil gone, an
    account placed here in no pupil's place) is one the whole plan may end."""
    links = index.state.contact_links
    if not keys or not links:
        return set()
    here = index.preferred_here
    of_key = {here[key].account_id: key for key in keys}
    removed = AllocationStatus.UNALLOCATED
    pupils = {
        a.account_id
        for (role, _), a in here.items()
        if role is Role.PUPIL and a.status is not removed
    }
    out: set[Key] = set()
    for contact, pupil in links:
        if contact in of_key and pupil not in pupils:
            out.add(of_key[contact])
        if pupil in of_key:  # an account left out as a contact, linked as a pupil
            out.add(of_key[pupil])
    return out


def _naming_no_pupil_here(
    batch: ImportBatch, keys: AbstractSet[Key], index: StateIndex
) -> set[Key]:
    """For a batch that names pupils but lists none: the keys of `keys` whose lines
    name a pupil (`ImportBatch.unchanged_links`) not placed here under that MIS ID, or
    whose place was removed (the whole plan resolves such a link to nobody: a row error,
    or a link ended). A pupil re-keyed since is such a one: the account is placed here,
    but under another MIS ID. So is a pupil placed here with no link in the directory to
    the contact's account: the whole plan makes it. The same line the night before named
    a pupil not yet placed (a start date to come), and its link was refused; the
    Students file since placed them (found by the property test, 4 December 2026)."""
    removed = AllocationStatus.UNALLOCATED
    links = index.state.contact_links
    here = index.preferred_here
    out: set[Key] = set()
    for contact, pupil in batch.unchanged_links:
        key = (Role.CONTACT, contact)
        if key in keys and key not in out:
            place = index.here_by_key(Role.PUPIL, pupil)
            if (
                place is None
                or place.status is removed
                or (here[key].account_id, place.account_id) not in links
            ):
                out.add(key)
    return out


def _reads(batch: ImportBatch, policy: SchoolPolicy, report: str) -> bool:
    return report in batch.reports and policy.accepts(report)


def _place_changes(allocation: AllocationState, index: StateIndex, today: date) -> bool:
    """Whether the whole plan would change this place, or could not keep it with the
    record's MIS ID alone."""
    if allocation.status is AllocationStatus.UNALLOCATED:
        return True
    account = index.accounts.get(allocation.account_id)
    if account is None or account.role is not allocation.role:
        return True
    places = index.allocations_of(allocation.account_id)
    if len(places) > 1:  # this place is one of them: most accounts have no other
        for other in places:
            if other.allocation_id == allocation.allocation_id:
                continue
            if other.school_urn == index.urn or other.status in _LIVE:
                return True  # a second place here, or a place at another school
    if allocation.leaver_pending_since is not None:
        return True
    if allocation.leaving_date is not None and allocation.leaving_date < today:
        return True  # left
    starts_later = allocation.start_date is not None and allocation.start_date > today
    return allocation.status is AllocationStatus.FUTURE and not starts_later


def _excluded(
    key: Key, allocation: AllocationState, index: StateIndex, state: DirectoryState
) -> bool:
    role, mis_id = key
    account = index.account(allocation.account_id)
    name = (
        full_name_key(account.legal_given_name, account.legal_family_name)
        if account is not None
        else None
    )
    for exclusion in state.exclusions:
        if exclusion.role not in (None, role):
            continue
        if exclusion.mis_id == mis_id:
            return True
        if (
            name is not None
            and account is not None
            and exclusion.given_name
            and exclusion.family_name
            and full_name_key(exclusion.given_name, exclusion.family_name) == name
            and exclusion.date_of_birth in (None, account.date_of_birth)
        ):
            return True
    return False
