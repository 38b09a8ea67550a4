"""Properties over many small schools: the plan is deterministic, and idempotent."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from rollsync.domain.actions import ActionKind, PersonAction, Plan
from rollsync.domain.policy import SchoolPolicy
from rollsync.domain.records import (
    AttendanceMark,
    ContactLink,
    Deletion,
    GroupKind,
    GroupRecord,
    ImportBatch,
    MembershipRecord,
    MembershipRole,
    PersonRecord,
    Role,
    RowError,
)
from rollsync.domain.reports import (
    ATTENDANCE,
    CONTACTS,
    GROUPS,
    STAFF,
    STAFF_FUTURE,
    STUDENTS,
    STUDENTS_FUTURE,
)
from rollsync.domain.state import (
    AllocationStatus,
    DirectoryState,
    ExclusionState,
    GroupState,
    OpenMatchCase,
)
from rollsync.domain.upn import make_upn
from rollsync.planning import apply_to_state, plan
from rollsync.planning.fields import ACCOUNT_FIELDS

from .helpers import FAR, HERE, LOCAL, TODAY, Directory

# Small pools, so that same names, twins, shared UPNs and swapped birthdays come up often.
GIVEN = ["Amy", "Amie", "Beth", "Zoë", "Sam"]
FAMILY = ["Smith", "Smyth", "Jones"]
DOBS = [date(2015, 3, 4), date(2015, 4, 3), date(2014, 9, 1)]
UPNS = [None, make_upn("202", "2001", 15, 1), make_upn("202", "2001", 15, 2)]
EMAILS = [None, "a@example.org", "b@example.org"]
STARTS = [None, TODAY - timedelta(days=400), TODAY, TODAY + timedelta(days=20)]
LEAVES = [None, None, None, TODAY - timedelta(days=1), TODAY + timedelta(days=30)]
MIS_IDS = [str(n) for n in range(1, 9)]
# Fields an importer may mark as not clearly carried (an unreadable value, a short row).
UNKNOWABLE = [
    "middle_names",
    "date_of_birth",
    "gender",
    "upn",
    "start_date",
    "leaving_date",
    "year_group",
    "email",
]
ROLES = [Role.PUPIL, Role.STAFF, Role.CONTACT]


@st.composite
def records(draw: st.DrawFn, role: Role | None = None) -> PersonRecord:
    role = role or draw(st.sampled_from(ROLES))
    is_contact = role is Role.CONTACT
    return PersonRecord(
        role=role,
        mis_id=draw(st.sampled_from(MIS_IDS)),
        legal_given_name=draw(st.sampled_from(GIVEN)),
        legal_family_name=draw(st.sampled_from(FAMILY)),
        date_of_birth=(
            None
            if is_contact
            else draw(st.sampled_from([*DOBS, None] if role is Role.STAFF else DOBS))
        ),
        upn=draw(st.sampled_from(UPNS)) if role is Role.PUPIL else None,
        email=draw(st.sampled_from(EMAILS)),
        start_date=None if is_contact else draw(st.sampled_from(STARTS)),
        leaving_date=None if is_contact else draw(st.sampled_from(LEAVES)),
        year_group=draw(st.sampled_from([None, "7", "8"])) if role is Role.PUPIL else None,
        future=draw(st.booleans()) if not is_contact else False,
        row=draw(st.integers(1, 40)),
        middle_names=draw(st.sampled_from([None, "Jane"])),
        unknown_fields=frozenset(draw(st.sets(st.sampled_from(UNKNOWABLE), max_size=3))),
    )


@st.composite
def directories(draw: st.DrawFn) -> DirectoryState:
    d = Directory()
    keys_per_school: set[tuple[str, Role, str]] = set()
    for record in draw(st.lists(records(), max_size=8)):
        urn = draw(st.sampled_from([HERE, HERE, LOCAL, FAR]))
        mis_id = draw(st.sampled_from([record.mis_id, record.mis_id, ""]))
        if (urn, record.role, mis_id) in keys_per_school:
            continue  # one allocation per MIS ID per school
        keys_per_school.add((urn, record.role, mis_id))
        status = draw(st.sampled_from(list(AllocationStatus)))
        pending = draw(st.sampled_from([None, TODAY - timedelta(days=3)]))
        d.add(
            dataclasses.replace(record, future=False),
            urn=urn,
            status=status,
            mis_id=mis_id,
            requested_single=not mis_id,
            leaver_pending_since=pending if status is not AllocationStatus.UNALLOCATED else None,
        )
    exclusions = draw(
        st.lists(
            st.builds(
                ExclusionState,
                exclusion_id=st.integers(1, 5),
                role=st.sampled_from([None, Role.PUPIL]),
                mis_id=st.sampled_from([None, "7"]),
                given_name=st.sampled_from([None, "Sam"]),
                family_name=st.sampled_from([None, "Jones"]),
                date_of_birth=st.sampled_from([None, DOBS[2]]),
            ),
            max_size=1,
        )
    )
    cases = draw(
        st.lists(
            st.builds(OpenMatchCase, st.just(1), st.just(Role.PUPIL), st.just("6")), max_size=1
        )
    )
    # Relations the school holds: memberships and contact links of its accounts.
    here = sorted({a.account_id for a in d.allocations if a.school_urn == HERE})
    of_role = {
        role: [i for i in here if d.accounts[i].role is role] for role in (Role.PUPIL, Role.CONTACT)
    }
    memberships: frozenset[tuple[str, int, MembershipRole]] = frozenset()
    if here:
        memberships = frozenset(
            draw(
                st.sets(
                    st.tuples(
                        st.sampled_from(["G1", "G2"]),
                        st.sampled_from(here),
                        st.just(MembershipRole.STUDENT),
                    ),
                    max_size=4,
                )
            )
        )
    links: dict[tuple[int, int], tuple[int | None, bool, str | None]] = {}
    if of_role[Role.PUPIL] and of_role[Role.CONTACT]:
        pairs = st.tuples(
            st.sampled_from(of_role[Role.CONTACT]), st.sampled_from(of_role[Role.PUPIL])
        )
        links = draw(st.dictionaries(pairs, st.just((1, False, None)), max_size=3))
    groups = [
        GroupState(1, "G1", "7A", GroupKind.REGISTRATION),
        GroupState(2, "G2", "Chess", GroupKind.OTHER),
    ]
    return d.state(
        exclusions=exclusions,
        open_cases=cases,
        groups=groups if memberships else [],
        memberships=memberships,
        contact_links=links,
    )


@st.composite
def batches(draw: st.DrawFn) -> ImportBatch:
    people = draw(st.lists(records(), max_size=10))
    pupils = [p.mis_id for p in people if p.role is Role.PUPIL] or ["1"]
    contacts = [p.mis_id for p in people if p.role is Role.CONTACT] or ["1"]
    groups = [
        GroupRecord("G1", "7A", GroupKind.REGISTRATION),
        GroupRecord("G2", "Chess", GroupKind.OTHER),
    ]
    memberships = draw(
        st.lists(
            st.builds(
                MembershipRecord,
                st.sampled_from(["G1", "G2"]),
                st.just(Role.PUPIL),
                st.sampled_from([*pupils, "99"]),
                st.just(MembershipRole.STUDENT),
            ),
            max_size=4,
        )
    )
    links = draw(
        st.lists(
            st.builds(
                ContactLink,
                st.sampled_from(contacts),
                st.sampled_from(pupils),
                st.sampled_from([None, 1, 2]),
            ),
            max_size=3,
        )
    )
    marks = draw(
        st.lists(
            st.builds(
                AttendanceMark,
                st.sampled_from(pupils),
                st.just(TODAY),
                st.sampled_from(["AM", "PM"]),
                st.sampled_from(["/", "L"]),
            ),
            max_size=3,
        )
    )
    deletions = draw(
        st.lists(st.builds(Deletion, st.sampled_from(ROLES), st.sampled_from(MIS_IDS)), max_size=2)
    )
    return ImportBatch(
        source_format="test",
        reports=frozenset({STUDENTS, STUDENTS_FUTURE, STAFF, CONTACTS, GROUPS, ATTENDANCE}),
        complete_for=frozenset(draw(st.sets(st.sampled_from(ROLES)))),
        people=people,
        contact_links=links,
        groups=draw(st.sampled_from([[], groups])),
        memberships=memberships,
        attendance=marks,
        deletions=deletions,
        rejected_keys=draw(
            st.sets(st.tuples(st.sampled_from(ROLES), st.sampled_from(MIS_IDS)), max_size=2)
        ),
        errors=draw(
            st.lists(
                st.builds(
                    RowError,
                    st.integers(1, 40),
                    st.just("upn"),
                    st.just("The UPN's check letter is wrong."),
                    st.sampled_from([None, "notice"]),
                ),
                max_size=2,
            )
        ),
    )


policies = st.builds(
    SchoolPolicy,
    accepted_reports=st.sets(
        st.sampled_from([STUDENTS_FUTURE, STAFF_FUTURE, GROUPS, ATTENDANCE, STAFF])
    ).map(lambda extra: frozenset({STUDENTS, CONTACTS} | extra)),
    leaver_grace_days=st.sampled_from([0, 5]),
    today=st.just(TODAY),
)


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
