"""Properties over many small schools: the plan is deterministic, and idempotent."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from rollsync.domain.actions import ActionKind, PersonAction, Plan
from rollsync.domain.policy import SchoolPolicy
from rollsync.domain.records import ImportBatch
from rollsync.domain.state import AllocationStatus, DirectoryState
from rollsync.planning import apply_to_state, plan
from rollsync.planning.fields import ACCOUNT_FIELDS

from .helpers import HERE
from .strategies import batches, directories, policies


def _shuffled(batch: ImportBatch, data: st.DataObject) -> ImportBatch:
    return dataclasses.replace(
        batch,
        people=data.draw(st.permutations(batch.people)),
        contact_links=data.draw(st.permutations(batch.contact_links)),
        groups=data.draw(st.permutations(batch.groups)),
        memberships=data.draw(st.permutations(batch.memberships)),
        attendance=data.draw(st.permutations(batch.attendance)),
        deletions=data.draw(st.permutations(batch.deletions)),
    )


@settings(max_examples=200, deadline=None)
@given(directories(), batches(), policies, st.data())
def test_plan_is_deterministic_whatever_the_order_of_the_upload(
    state: DirectoryState, batch: ImportBatch, policy: SchoolPolicy, data: st.DataObject
) -> None:
    first = plan(batch, state, policy)
    assert plan(batch, state, policy) == first
    assert plan(_shuffled(batch, data), state, policy) == first


_NO_OPS = {ActionKind.UNCHANGED, ActionKind.EXCLUDED, ActionKind.DEFER_START, ActionKind.REJECT}


def _is_no_op(action: PersonAction) -> bool:
    if action.kind in _NO_OPS:
        return True
    if action.kind is ActionKind.MARK_LEAVER:
        return not action.changes  # still in the grace period, already marked
    return action.kind is ActionKind.NEEDS_MATCHING and "Already waiting" in action.reason


def _relations_empty(result: Plan) -> bool:
    g = result.groups
    return not (
        g.upsert
        or g.remove
        or g.add_members
        or g.remove_members
        or result.contact_links.upsert
        or result.contact_links.remove
        or result.attendance.upsert
    )


@settings(max_examples=200, deadline=None)
@given(directories(), batches(), policies)
def test_planning_the_same_upload_again_changes_nothing(
    state: DirectoryState, batch: ImportBatch, policy: SchoolPolicy
) -> None:
    after = apply_to_state(state, plan(batch, state, policy))
    again = plan(batch, after, policy)
    busy = [a for a in again.actions if not _is_no_op(a)]
    assert busy == []
    assert _relations_empty(again)
    assert apply_to_state(after, again) == after


@settings(max_examples=100, deadline=None)
@given(directories(), batches(), policies)
def test_one_action_per_record_and_no_account_linked_twice(
    state: DirectoryState, batch: ImportBatch, policy: SchoolPolicy
) -> None:
    result = plan(batch, state, policy)
    incoming = [a for a in result.actions if a.record is not None]
    assert len(incoming) == len(batch.people)
    linking = (ActionKind.UPDATE, ActionKind.UNCHANGED, ActionKind.MOVE_IN, ActionKind.RESTORE)
    linked = [a.account_id for a in incoming if a.kind in linking and a.account_id is not None]
    assert len(linked) == len(set(linked))
    here = {a.allocation_id for a in state.allocations if a.school_urn == HERE}
    assert all(a.allocation_id in here for a in result.actions if a.allocation_id is not None)


_REMOVALS = (ActionKind.UNALLOCATE, ActionKind.MARK_LEAVER)
_LINKED = (ActionKind.UPDATE, ActionKind.UNCHANGED, ActionKind.MOVE_IN, ActionKind.RESTORE)


@settings(max_examples=300, deadline=None)
@given(directories(), batches(), policies)
def test_unknown_fields_never_change_and_refused_people_keep_everything(
    state: DirectoryState, batch: ImportBatch, policy: SchoolPolicy
) -> None:
    result = plan(batch, state, policy)
    for action in result.actions:
        if action.record is not None:
            unknown = action.record.unknown_fields
            assert not set(action.changes) & unknown, (action.changes, unknown)
            assert not set(action.withheld) & unknown
    # People whose row was refused (and who have no other row used) keep everything.
    refused = batch.rejected_keys - {r.key for r in batch.people}
    theirs = [
        a
        for a in state.allocations
        if a.school_urn == HERE and (a.role, a.mis_id) in refused and a.mis_id
    ]
    allocation_ids = {a.allocation_id for a in theirs}
    account_ids = {a.account_id for a in theirs}
    for action in result.actions:
        assert not (action.kind in _REMOVALS and action.allocation_id in allocation_ids)
        assert not (action.kind in _LINKED and action.account_id in account_ids), action
    assert not any(m[1] in account_ids for m in result.groups.remove_members)
    assert not any(set(pair) & account_ids for pair in result.contact_links.remove)


_WHY = (
    "The MIS gives a leaving date of ",  # and it has passed
    "The MIS deleted MIS ID ",  # explicitly, in a delta feed
    "MIS ID ",  # no longer in a complete export of a report
)


@settings(max_examples=300, deadline=None)
@given(directories(), batches(), policies)
def test_every_removal_says_why_and_a_run_that_errs_and_removes_is_held(
    state: DirectoryState, batch: ImportBatch, policy: SchoolPolicy
) -> None:
    result = plan(batch, state, policy)
    removals = [a for a in result.actions if a.kind in _REMOVALS]
    for action in removals:
        assert action.reason.startswith(_WHY), action.reason
        if action.reason.startswith("MIS ID "):
            assert "a complete list of the school's" in action.reason
        if action.reason.startswith("The MIS gives a leaving date of "):
            assert ", which has passed." in action.reason
    faults = [e for e in batch.errors if e.source != "notice"]
    starts = [
        a
        for a in removals
        if a.kind is ActionKind.UNALLOCATE or "leaver_pending_since" in a.changes
    ]
    codes = {h.code for h in result.holds}
    assert ("errors_and_leavers" in codes) == bool(faults and starts)


@settings(max_examples=300, deadline=None)
@given(directories(), batches(), policies)
def test_only_own_and_local_accounts_and_never_another_schools_identity(
    state: DirectoryState, batch: ImportBatch, policy: SchoolPolicy
) -> None:
    result = plan(batch, state, policy)
    local = state.local_school_urns
    schools_of: dict[int, set[str]] = {}
    live_elsewhere: set[int] = set()
    for a in state.allocations:
        schools_of.setdefault(a.account_id, set()).add(a.school_urn)
        if a.school_urn != HERE and a.status is not AllocationStatus.UNALLOCATED:
            live_elsewhere.add(a.account_id)
    for action in result.actions:
        named = [c.account_id for c in action.candidates]
        if action.account_id is not None:
            named.append(action.account_id)
        for account_id in named:  # linked or offered: the school's own or a local one
            assert schools_of.get(account_id, set()) & local, (account_id, action)
        if action.account_id in live_elsewhere:
            for name, (old, new) in action.changes.items():
                if name in ACCOUNT_FIELDS:
                    assert old is None and new is not None, (name, old, new, action)
