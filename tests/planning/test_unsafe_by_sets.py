"""`unsafe_unchanged` and `absent_leavers` by set arithmetic give what they gave key by
key: the rules as they were written before (one look-up and check a key left out, a
walk of every place here), kept here as the oracle."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from rollsync.domain.actions import PersonAction
from rollsync.domain.policy import SchoolPolicy
from rollsync.domain.records import ImportBatch, Role
from rollsync.domain.reports import CONTACTS
from rollsync.domain.state import AllocationState, AllocationStatus, DirectoryState
from rollsync.planning.index import StateIndex, preference
from rollsync.planning.leavers import (
    absent_leavers,
    complete_roles,
    deleted_keys,
    leaver_action,
    leaver_cause,
    listed_keys,
)
from rollsync.planning.ordering import ROLE_ORDER, mis_id_key
from rollsync.planning.partial import _excluded, _place_changes, unsafe_unchanged

from .helpers import FAR, HERE, LOCAL, TODAY, Directory, batch, policy, pupil
from .strategies import MIS_IDS, batches, directories, policies, records

Key = tuple[Role, str]


def _unsafe_key_by_key(batch: ImportBatch, state: DirectoryState, policy: SchoolPolicy) -> set[Key]:
    index = StateIndex(state)
    listed = {record.key for record in batch.people} | batch.rejected_keys
    waiting = {(case.role, case.mis_id) for case in state.open_cases}
    unsafe: set[Key] = set()
    places = {}
    for key in batch.unchanged_keys:
        allocation = index.here_by_key(*key)
        if (
            key in listed
            or key in waiting
            or allocation is None
            or _place_changes(allocation, index, policy.today)
            or (state.exclusions and _excluded(key, allocation, index, state))
        ):
            unsafe.add(key)
        else:
            places[key] = allocation
    if CONTACTS in batch.reports and policy.accepts(CONTACTS):
        unsafe |= _linked_one_round_at_a_time(places, state)
    return unsafe


def _linked_one_round_at_a_time(
    places: dict[Key, AllocationState], state: DirectoryState
) -> set[Key]:
    linked: dict[int, set[int]] = defaultdict(set)
    for contact_id, pupil_id in state.contact_links:
        linked[contact_id].add(pupil_id)
        linked[pupil_id].add(contact_id)
    keys_of: dict[int, list[Key]] = defaultdict(list)
    for key, allocation in places.items():
        keys_of[allocation.account_id].append(key)
    safe = set(keys_of)
    put_back: set[Key] = set()
    while True:
        gone = {a for a in safe if not linked.get(a, set()) <= safe}
        if not gone:
            return put_back
        safe -= gone
        for account_id in gone:
            put_back.update(keys_of[account_id])


def _leavers_walking_every_place(
    batch: ImportBatch, index: StateIndex, policy: SchoolPolicy
) -> list[PersonAction]:
    complete = complete_roles(batch, policy)
    present = listed_keys(batch)
    deleted = deleted_keys(batch, policy)
    here = [a for a in index.state.allocations if a.school_urn == index.urn and a.mis_id]
    actions = []
    for allocation in sorted(here, key=lambda a: ((a.role, a.mis_id), preference(a))):
        if (
            allocation.status is AllocationStatus.UNALLOCATED
            or (allocation.role, allocation.mis_id) in present
        ):
            continue
        cause = leaver_cause(allocation, batch, complete=complete, deleted=deleted)
        if cause is not None:
            actions.append(leaver_action(allocation, policy, cause))
    actions.sort(key=lambda a: (ROLE_ORDER[a.role], mis_id_key(a.mis_id), a.allocation_id or 0))
    return actions


@st.composite
def shared_directories(draw: st.DrawFn) -> DirectoryState:
    """A directory whose accounts may hold several places (here, at a local school,
    further off) and places of another role than theirs, with contact links between
    the accounts placed here."""
    d = Directory()
    placed: set[tuple[str, Role, str]] = set()
    for record in draw(st.lists(records(), max_size=8)):
        urn = draw(st.sampled_from([HERE, HERE, LOCAL, FAR]))
        mis_id = draw(st.sampled_from([record.mis_id, record.mis_id, ""]))
        # The directory keeps one place a school, role and MIS ID; the planner copes
        # with two (the index prefers one), and so must these.
        if (urn, record.role, mis_id) in placed and draw(st.booleans()):
            continue
        placed.add((urn, record.role, mis_id))
        status = draw(st.sampled_from(list(AllocationStatus)))
        d.add(
            dataclasses.replace(record, future=False),
            account_id=draw(st.sampled_from([None, None, 1, 2, 3])),
            urn=urn,
            status=status,
            mis_id=mis_id,
            requested_single=not mis_id,
            leaver_pending_since=draw(st.sampled_from([None, TODAY])),
        )
    # An account may hold a place of another role than its own (its only place, too).
    for account_id in draw(st.sets(st.sampled_from(sorted(d.accounts)))) if d.accounts else ():
        account = d.accounts[account_id]
        d.accounts[account_id] = dataclasses.replace(
            account, role=draw(st.sampled_from([r for r in Role if r is not account.role]))
        )
    here = sorted({a.account_id for a in d.allocations if a.school_urn == HERE})
    links = {}
    if len(here) > 1:
        pairs = st.tuples(st.sampled_from(here), st.sampled_from(here))
        links = draw(st.dictionaries(pairs, st.just((1, False, None)), max_size=4))
    return d.state(contact_links=links)


states = st.one_of(directories(), shared_directories())


def _left_out(data: st.DataObject, state: DirectoryState) -> frozenset[Key]:
    """Most of the keys placed here, as a night leaves out, and any other keys."""
    here = sorted(
        {(a.role, a.mis_id) for a in state.allocations if a.school_urn == HERE and a.mis_id}
    )
    placed = data.draw(st.sets(st.sampled_from(here)) if here else st.just(set()))
    other = data.draw(
        st.sets(st.tuples(st.sampled_from(list(Role)), st.sampled_from(MIS_IDS)), max_size=3)
    )
    return frozenset(placed | other)


@settings(max_examples=300, deadline=None)
@given(states, batches(), policies, st.data(), st.integers(0, 40))
def test_unsafe_keys_and_leavers_are_the_rules_key_by_key(
    state: DirectoryState,
    upload: ImportBatch,
    policy: SchoolPolicy,
    data: st.DataObject,
    days_later: int,
) -> None:
    # Keys left out whatever the directory holds (some with no place here, some also a
    # record's), and a day on which start and leaving dates may have come.
    policy = dataclasses.replace(policy, today=policy.today + timedelta(days=days_later))
    part = dataclasses.replace(upload, unchanged_keys=_left_out(data, state))
    unsafe = _unsafe_key_by_key(part, state, policy)
    assert unsafe_unchanged(part, state, policy) == unsafe
    index = StateIndex(state)  # the index the caller built gives the same
    assert unsafe_unchanged(part, state, policy, index=index) == unsafe
    assert absent_leavers(part, index, policy, []) == _leavers_walking_every_place(
        part, index, policy
    )


def test_an_only_place_on_an_account_of_another_role_is_unsafe() -> None:
    # Rare in a random directory: an account whose one place is of another role (an
    # account kept when its person's role changed) is not theirs by MIS ID alone.
    d = Directory()
    account = d.add(pupil("1"))
    d.add(pupil("2"))
    d.accounts[account.account_id] = dataclasses.replace(account, role=Role.STAFF)
    state = d.state()
    left_out = dataclasses.replace(
        batch(), unchanged_keys=frozenset({(Role.PUPIL, "1"), (Role.PUPIL, "2")})
    )
    assert unsafe_unchanged(left_out, state, policy()) == {(Role.PUPIL, "1")}
    assert _unsafe_key_by_key(left_out, state, policy()) == {(Role.PUPIL, "1")}


def test_an_account_placed_twice_is_unsafe_and_both_places_under_one_key_leave() -> None:
    # Also rare at random: an account with a place at a local school too, and two places
    # here under one MIS ID (the directory keeps one; the planner copes with two).
    d = Directory()
    shared = d.add(pupil("1"))
    d.add(pupil("1"), account_id=shared.account_id, urn=LOCAL)
    d.add(pupil("2"))
    d.add(pupil("3"))
    d.add(pupil("3"))
    state = d.state()
    part = dataclasses.replace(
        batch(complete_for=[Role.PUPIL]),
        unchanged_keys=frozenset({(Role.PUPIL, "1"), (Role.PUPIL, "2")}),
    )
    assert unsafe_unchanged(part, state, policy()) == {(Role.PUPIL, "1")}
    assert _unsafe_key_by_key(part, state, policy()) == {(Role.PUPIL, "1")}
    index = StateIndex(state)
    leavers = absent_leavers(part, index, policy(), [])
    assert [(a.mis_id, a.allocation_id) for a in leavers] == [
        ("3", a.allocation_id) for a in state.allocations if a.mis_id == "3"
    ]
    assert leavers == _leavers_walking_every_place(part, index, policy())
