"""A partial batch (`ImportBatch.unchanged_keys`) plans as the whole upload would.

The whole upload B was planned against S0 and applied, giving S1; the next upload B2
leaves its unchanged people out (P2). `plan(P2, S1)` must be `plan(B2, S1)` less one
UNCHANGED action per person left out (`planning.partial` says when)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import timedelta

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from rollsync.domain.actions import ActionKind, PersonAction, Plan
from rollsync.domain.policy import SchoolPolicy
from rollsync.domain.records import (
    ContactLink,
    GroupKind,
    GroupRecord,
    ImportBatch,
    MembershipRecord,
    MembershipRole,
    PersonRecord,
    Role,
    RowError,
)
from rollsync.domain.reports import CONTACTS, GROUPS, STAFF, STUDENTS
from rollsync.domain.state import (
    AllocationStatus,
    DirectoryState,
    ExclusionState,
    GroupState,
    OpenMatchCase,
)
from rollsync.planning import Link, MatchDecision, Via, apply_to_state, plan
from rollsync.planning.guard import all_rows_rejected, nobody_listed
from rollsync.planning.partial import unsafe_unchanged

from .helpers import (
    LOCAL,
    TODAY,
    Directory,
    batch,
    by_mis_id,
    changed,
    contact,
    policy,
    pupil,
)
from .strategies import EMAILS, GIVEN, LEAVES, MIS_IDS, batches, directories, policies, records

Key = tuple[Role, str]
PLACED = (
    ActionKind.CREATE,
    ActionKind.UPDATE,
    ActionKind.UNCHANGED,
    ActionKind.MOVE_IN,
    ActionKind.RESTORE,
)
RELATIONS = frozenset({STUDENTS, STAFF, CONTACTS, GROUPS})
G1 = GroupRecord("G1", "7A", GroupKind.REGISTRATION)
G2 = GroupRecord("G2", "Chess", GroupKind.OTHER)


# -- building a partial batch, as the caller does ------------------------------------


def _link_keys(link: ContactLink) -> tuple[Key, Key]:
    return (Role.CONTACT, link.contact_mis_id), (Role.PUPIL, link.pupil_mis_id)


def _member_key(membership: MembershipRecord) -> Key:
    return (membership.person_role, membership.person_mis_id)


def partial(whole: ImportBatch, left_out: Iterable[Key]) -> ImportBatch:
    """`whole` without the records, memberships and contact links of `left_out`; the
    links of the contacts left out named (`ImportBatch.unchanged_links`), as a Contacts
    file's reader names them."""
    out = frozenset(left_out)
    return dataclasses.replace(
        whole,
        people=[r for r in whole.people if r.key not in out],
        memberships=[m for m in whole.memberships if _member_key(m) not in out],
        contact_links=[x for x in whole.contact_links if not set(_link_keys(x)) & out],
        unchanged_keys=out,
        unchanged_links=frozenset(
            (x.contact_mis_id, x.pupil_mis_id)
            for x in whole.contact_links
            if (Role.CONTACT, x.contact_mis_id) in out
        ),
    )


def _rows_of(upload: ImportBatch, key: Key) -> tuple[list[PersonRecord], list[str], list[str]]:
    people = [dataclasses.replace(r, row=None) for r in upload.people if r.key == key]
    memberships = sorted(repr(m) for m in upload.memberships if _member_key(m) == key)
    links = sorted(repr(x) for x in upload.contact_links if key in _link_keys(x))
    return people, memberships, links


def same_rows(first: ImportBatch, first_plan: Plan, second: ImportBatch) -> set[Key]:
    """The people of `second` with the same record (but for its row), memberships and
    contact links as in `first`, placed here by `first_plan` (by the kind of its action:
    a caller that trusts the kind alone, as `unsafe_unchanged` must cope with)."""
    placed = {a.record.key for a in first_plan.actions if a.record is not None and a.kind in PLACED}
    out = set()
    for key in placed - second.rejected_keys:
        now = _rows_of(second, key)
        if len(now[0]) == 1 and now == _rows_of(first, key):
            out.add(key)
    return out


def by_the_rows(first: ImportBatch, second: ImportBatch, left_out: set[Key]) -> set[Key]:
    """`left_out` less the people rules 2 and 3 of `planning.partial` put back."""
    both = {g.mis_id for g in first.groups} & {g.mis_id for g in second.groups}
    out = left_out - {_member_key(m) for m in second.memberships if m.group_mis_id not in both}
    while True:  # a link naming someone left out names two people left out
        lone = {
            key
            for x in second.contact_links
            for key in _link_keys(x)
            if key in out and not set(_link_keys(x)) <= out
        }
        if not lone:
            return out
        out -= lone


@st.composite
def first_uploads(draw: st.DrawFn) -> ImportBatch:
    """An upload as `batches` draws it, with one row per person (a second row of the same
    MIS ID is refused, and such a person is never left out) and groups more often."""
    upload = draw(batches())
    people = list({r.key: r for r in upload.people}.values())
    groups = draw(st.sampled_from([upload.groups, [G1, G2], [G1, G2]]))
    return dataclasses.replace(upload, people=people, groups=groups)


@st.composite
def next_uploads(draw: st.DrawFn, first: ImportBatch) -> ImportBatch:
    """The next night's upload: most people the same, some changed, gone or new, and
    some relations, groups, marks and refused rows different."""
    people = []
    for record in first.people:
        fate = draw(st.sampled_from(["same"] * 5 + ["row", "field", "new", "gone"]))
        if fate == "gone":
            continue
        if fate == "row":
            record = changed(record, row=draw(st.integers(1, 40)))
        elif fate == "field":
            name, values = draw(
                st.sampled_from(
                    [
                        ("legal_given_name", GIVEN),
                        ("email", EMAILS),
                        ("leaving_date", LEAVES),
                        ("middle_names", [None, "Jane", "Ann"]),
                    ]
                )
            )
            record = changed(record, **{name: draw(st.sampled_from(values))})
        elif fate == "new":  # another person under the same MIS ID
            record = changed(draw(records(record.role)), mis_id=record.mis_id)
        people.append(record)
    people += draw(st.lists(records(), max_size=3))
    # Relations change on some nights only, so that most nights leave people out.
    churn = draw(st.sampled_from([0, 0, 1, 2]))
    pupils = sorted({p.mis_id for p in people if p.role is Role.PUPIL}) or ["1"]
    contacts = sorted({p.mis_id for p in people if p.role is Role.CONTACT}) or ["1"]
    memberships = [m for m in first.memberships if not churn or draw(st.integers(0, 5))]
    memberships += draw(
        st.lists(
            st.builds(
                MembershipRecord,
                st.sampled_from(["G1", "G2"]),
                st.just(Role.PUPIL),
                st.sampled_from([*pupils, "99"]),
                st.just(MembershipRole.STUDENT),
            ),
            max_size=churn,
        )
    )
    links = [x for x in first.contact_links if not churn or draw(st.integers(0, 5))]
    links += draw(
        st.lists(
            st.builds(
                ContactLink,
                st.sampled_from(contacts),
                st.sampled_from(pupils),
                st.sampled_from([None, 1, 2]),
            ),
            max_size=churn,
        )
    )
    same = st.just
    return dataclasses.replace(
        first,
        people=people,
        memberships=memberships,
        contact_links=links,
        groups=draw(st.sampled_from([first.groups, first.groups, [], [G1], [G1, G2]])),
        attendance=draw(st.one_of(same(first.attendance), same([]))),
        deletions=draw(st.one_of(same(first.deletions), same([]))),
        rejected_keys=draw(
            st.one_of(
                same(set(first.rejected_keys)),
                st.sets(
                    st.tuples(st.sampled_from(list(Role)), st.sampled_from(MIS_IDS)), max_size=2
                ),
            )
        ),
        errors=draw(st.one_of(same(first.errors), same([]))),
    )


def assert_plans_alike(part: Plan, whole: Plan, left_out: set[Key]) -> None:
    """`part` is `whole` less one UNCHANGED action (no changes) per person left out."""
    theirs = [a for a in whole.actions if a.record is not None and a.record.key in left_out]
    assert sorted(a.record.key for a in theirs if a.record is not None) == sorted(left_out)
    for action in theirs:
        assert action.kind is ActionKind.UNCHANGED, action
        assert not action.changes and not action.withheld, action
    assert part.actions == [a for a in whole.actions if a not in theirs]
    assert part.groups == whole.groups
    assert part.contact_links == whole.contact_links
    assert part.attendance == whole.attendance
    assert part.holds == whole.holds
    assert part.acknowledged_holds == whole.acknowledged_holds
    assert part.errors == whole.errors
    assert part.counts() == whole.counts()
    assert part.relation_counts() == whole.relation_counts()


# -- the property ---------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(directories(), first_uploads(), policies, st.data())
def test_a_partial_batch_plans_as_the_whole_upload(
    before: DirectoryState, first: ImportBatch, school: SchoolPolicy, data: st.DataObject
) -> None:
    first_plan = plan(first, before, school)
    state = apply_to_state(before, first_plan)
    second = data.draw(next_uploads(first))
    # The next night may be a later day: a start or leaving date, or the end of a grace
    # period, may have come (a read in part is not stopped by it, docs/decisions/0096).
    later = data.draw(st.sampled_from([0, 0, 1, 2, 5, 30]))
    school = dataclasses.replace(school, today=school.today + timedelta(days=later))
    same = same_rows(first, first_plan, second)
    unsafe = unsafe_unchanged(partial(second, same), state, school)
    left_out = by_the_rows(first, second, same - unsafe)
    event(f"same rows: {min(len(same), 4)}+, unsafe: {min(len(unsafe), 2)}+")
    event(f"left out: {min(len(left_out), 4)}+")
    part_batch = partial(second, left_out)
    assert unsafe_unchanged(part_batch, state, school) == set()  # one call is enough
    whole = plan(second, state, school)
    part = plan(part_batch, state, school)
    assert_plans_alike(part, whole, left_out)
    assert apply_to_state(state, part) == apply_to_state(state, whole)


@st.composite
def groups_files(draw: st.DrawFn, people: ImportBatch) -> ImportBatch:
    """A Groups & Classes file (a batch of groups and memberships alone) naming the
    pupils and staff of `people`, and somebody unknown."""
    members = [(r.role, r.mis_id) for r in people.people if r.role is not Role.CONTACT]
    members += [(Role.PUPIL, "99"), (Role.STAFF, "98")]
    memberships = draw(
        st.lists(
            st.builds(
                lambda group, member: MembershipRecord(
                    group,
                    member[0],
                    member[1],
                    MembershipRole.TEACHER if member[0] is Role.STAFF else MembershipRole.STUDENT,
                ),
                st.sampled_from(["G1", "G2"]),
                st.sampled_from(members),
            ),
            min_size=2,
            max_size=8,
            unique=True,
        )
    )
    return ImportBatch(
        source_format="csv",
        reports=frozenset({GROUPS}),
        complete_for=frozenset(),
        groups=draw(st.sampled_from([[G1, G2], [G1, G2], [G1], [G2]])),
        memberships=memberships,
    )


def next_groups_file(draw: st.DrawFn, first: ImportBatch, people: ImportBatch) -> ImportBatch:
    """The next night's Groups & Classes file: most memberships the same."""
    kept = [m for m in first.memberships if draw(st.integers(0, 4))]
    more = draw(groups_files(people))
    memberships = list({m: None for m in [*kept, *more.memberships[:2]]})
    groups = draw(st.sampled_from([first.groups, first.groups, more.groups]))
    return dataclasses.replace(first, groups=groups, memberships=memberships)


def same_memberships(first: ImportBatch, second: ImportBatch) -> set[Key]:
    """The members of `second` with the same memberships as in `first` (their lines the
    same, as a reader of the file compares them)."""

    def of(upload: ImportBatch, key: Key) -> list[tuple[str, str]]:
        return sorted(
            (m.group_mis_id, m.role.value) for m in upload.memberships if _member_key(m) == key
        )

    return {
        key for key in map(_member_key, second.memberships) if of(first, key) == of(second, key)
    }


@settings(max_examples=300, deadline=None)
@given(directories(), first_uploads(), policies, st.data())
def test_a_partial_groups_file_plans_as_the_whole_file(
    before: DirectoryState, people: ImportBatch, school: SchoolPolicy, data: st.DataObject
) -> None:
    # A Groups & Classes file lists no people: its members left out are counted as no
    # one (`Plan.members_left_out`), and its plan is the whole file's, action for action.
    school = dataclasses.replace(school, accepted_reports=school.accepted_reports | {GROUPS})
    # (Approved if held, so that most members have places here.)
    approved = dataclasses.replace(school, guard_acknowledged=True)
    state = apply_to_state(before, plan(people, before, approved))
    first = data.draw(groups_files(people))
    state = apply_to_state(state, plan(first, state, school))
    later = data.draw(st.sampled_from([0, 0, 1, 30]))
    school = dataclasses.replace(school, today=school.today + timedelta(days=later))
    second = next_groups_file(data.draw, first, people)
    same = same_memberships(first, second)
    unsafe = unsafe_unchanged(partial(second, same), state, school)
    left_out = by_the_rows(first, second, same - unsafe)
    event(f"left out: {min(len(left_out), 3)}+, unsafe: {min(len(unsafe), 2)}+")
    part_batch = partial(second, left_out)
    assert unsafe_unchanged(part_batch, state, school) == set()
    whole = plan(second, state, school)
    part = plan(part_batch, state, school)
    assert whole.actions == [] and whole.unchanged_left_out == whole.members_left_out == 0
    assert_plans_alike(part, whole, set())
    assert part.unchanged_left_out == 0 and part.members_left_out == len(left_out)
    assert apply_to_state(state, part) == apply_to_state(state, whole)


@st.composite
def contacts_files(draw: st.DrawFn, people: ImportBatch) -> ImportBatch:
    """A Contacts file (contacts and their links alone) naming the pupils of `people`,
    and somebody unknown."""
    contacts = {r.key: r for r in people.people if r.role is Role.CONTACT}
    for record in draw(st.lists(records(Role.CONTACT), max_size=3)):
        contacts.setdefault(record.key, record)
    return _contacts_file(draw, list(contacts.values()), people)


def _contacts_file(
    draw: st.DrawFn, contacts: list[PersonRecord], people: ImportBatch
) -> ImportBatch:
    # (Somebody unknown now and then: such a link is refused every night.)
    pupils = [r.mis_id for r in people.people if r.role is Role.PUPIL] * 4 + ["99"]
    links = [
        ContactLink(contact.mis_id, pupil, draw(st.sampled_from([None, 1, 2])))
        for contact in contacts
        for pupil in draw(st.lists(st.sampled_from(pupils), min_size=1, max_size=2, unique=True))
    ]
    return ImportBatch(
        source_format="csv",
        reports=frozenset({CONTACTS}),
        complete_for=frozenset({Role.CONTACT}),
        people=contacts,
        contact_links=links,
    )


def next_contacts_file(draw: st.DrawFn, first: ImportBatch, people: ImportBatch) -> ImportBatch:
    """The next night's Contacts file: most contacts and their links the same."""
    contacts: list[PersonRecord] = []
    links: list[ContactLink] = []
    for record in first.people:
        fate = draw(st.sampled_from(["same"] * 5 + ["field", "links", "gone"]))
        if fate == "gone":
            continue
        if fate == "field":
            record = changed(record, email=draw(st.sampled_from(EMAILS)))
        contacts.append(record)
        theirs = [x for x in first.contact_links if x.contact_mis_id == record.mis_id]
        if fate == "links":
            theirs = _contacts_file(draw, [record], people).contact_links
        links += theirs
    more = draw(contacts_files(people))
    new = [r for r in more.people if r.key not in {c.key for c in contacts}][:1]
    contacts += new
    links += [x for x in more.contact_links if x.contact_mis_id in {r.mis_id for r in new}]
    return dataclasses.replace(first, people=contacts, contact_links=links)


@settings(max_examples=300, deadline=None)
@given(directories(), first_uploads(), policies, st.data())
def test_a_partial_contacts_file_plans_as_the_whole_file(
    before: DirectoryState, people: ImportBatch, school: SchoolPolicy, data: st.DataObject
) -> None:
    # A Contacts file names pupils but lists none: a link is its contact's alone, and
    # the pupils are never left out; an unchanged contact is left out while each of
    # their links is to a pupil placed here.
    school = dataclasses.replace(school, accepted_reports=school.accepted_reports | {CONTACTS})
    approved = dataclasses.replace(school, guard_acknowledged=True)
    # (Two pupils like nobody else, so that most contacts have a child placed here.)
    twins = [pupil("P1", "Zora", "Quill"), pupil("P2", "Yves", "Quill")]
    people = dataclasses.replace(people, people=[*people.people, *twins])
    state = apply_to_state(before, plan(people, before, approved))
    first = data.draw(contacts_files(people))
    first_plan = plan(first, state, approved)
    state = apply_to_state(state, first_plan)
    if data.draw(st.booleans()):
        # The pupils' own file between the two: some leave (their places removed, no
        # grace period), the contacts' links to them still stand.
        pupils = [r for r in people.people if r.role is Role.PUPIL]
        left = ImportBatch(
            source_format="csv",
            reports=frozenset({STUDENTS}),
            complete_for=frozenset({Role.PUPIL}),
            people=[r for r in pupils if data.draw(st.booleans())],
        )
        prompt = dataclasses.replace(approved, leaver_grace_days=0)
        state = apply_to_state(state, plan(left, state, prompt))
    later = data.draw(st.sampled_from([0, 0, 1, 30]))
    school = dataclasses.replace(school, today=school.today + timedelta(days=later))
    second = next_contacts_file(data.draw, first, people)
    same = same_rows(first, first_plan, second)
    unsafe = unsafe_unchanged(partial(second, same), state, school)
    left_out = same - unsafe  # (rule 4 for such a batch is the directory's to apply)
    event(f"left out: {min(len(left_out), 3)}+, unsafe: {min(len(unsafe), 2)}+")
    part_batch = partial(second, left_out)
    assert unsafe_unchanged(part_batch, state, school) == set()
    whole = plan(second, state, school)
    part = plan(part_batch, state, school)
    assert_plans_alike(part, whole, left_out)
    assert apply_to_state(state, part) == apply_to_state(state, whole)


# -- one rule at a time ---------------------------------------------------------------


def _pupils_here(n: int) -> tuple[Directory, DirectoryState]:
    d = Directory()
    for i in range(1, n + 1):
        d.add(pupil(str(i), f"P{i}"))
    return d, d.state()


def test_a_pupil_left_out_as_unchanged_is_never_a_leaver() -> None:
    _, state = _pupils_here(3)
    whole = batch(pupil("1", "P1"), pupil("2", "P2"), pupil("3", "P3"), complete_for=[Role.PUPIL])
    part = partial(whole, {(Role.PUPIL, "3")})
    result = plan(part, state, policy())
    assert [a.mis_id for a in result.actions] == ["1", "2"]
    assert all(a.kind is ActionKind.UNCHANGED for a in result.actions)
    assert_plans_alike(result, plan(whole, state, policy()), {(Role.PUPIL, "3")})
    # Were `unchanged_keys` ignored, pupil 3 would be gone from a complete list.
    ignored = dataclasses.replace(part, unchanged_keys=frozenset())
    assert by_mis_id(plan(ignored, state, policy()))["3"].kind is ActionKind.UNALLOCATE


def test_a_new_record_with_an_unchanged_pupils_upn_name_and_birthday_never_takes_her_account() -> (
    None
):
    d = Directory()
    amy = pupil("1", upn="A202200115001")
    d.add(amy)
    state = d.state()
    twin = pupil("9", upn=amy.upn)  # same name, date of birth and UPN, another MIS ID
    whole = batch(amy, twin, complete_for=[Role.PUPIL])
    part = partial(whole, {amy.key})
    result = plan(part, state, policy())
    assert_plans_alike(result, plan(whole, state, policy()), {amy.key})
    action = by_mis_id(result)["9"]
    assert action.kind is ActionKind.NEEDS_MATCHING
    assert "already matched to MIS ID 1" in action.reason
    assert not action.rekey and action.account_id is None
    # Were `unchanged_keys` ignored, the new record would re-key Amy's account.
    ignored = dataclasses.replace(part, unchanged_keys=frozenset())
    assert by_mis_id(plan(ignored, state, policy()))["9"].rekey


class _Greedy:
    """A matcher that links every record to account 1, whatever it is."""

    def match(self, records: object, state: DirectoryState) -> list[MatchDecision]:
        assert isinstance(records, list)
        return [Link(1, None, Via.UPN, "Matched by UPN") for _ in records]


def test_whatever_the_matcher_says_an_unchanged_pupils_account_stays_hers() -> None:
    d = Directory()
    amy = pupil("1")
    d.add(amy)
    part = partial(batch(amy, pupil("9", "Bea")), {amy.key})
    action = only_action(plan(part, d.state(), policy(), matcher=_Greedy()))
    assert action.kind is ActionKind.NEEDS_MATCHING
    assert "already matched to MIS ID 1" in action.reason


def only_action(result: Plan) -> PersonAction:
    assert len(result.actions) == 1, result.actions
    return result.actions[0]


def test_the_guard_counts_unchanged_people_as_listed() -> None:
    _, state = _pupils_here(100)
    left_out = {(Role.PUPIL, str(i)) for i in range(1, 100)}
    whole = batch(*(pupil(str(i), f"P{i}") for i in range(1, 100)), complete_for=[Role.PUPIL])
    part = partial(whole, left_out)
    result = plan(part, state, policy())
    assert [(a.mis_id, a.kind) for a in result.actions] == [("100", ActionKind.UNALLOCATE)]
    assert result.holds == []  # 1 of 100 unallocated, and 99 listed: not cut short
    assert result.counts()["unchanged"] == 99
    assert_plans_alike(result, plan(whole, state, policy()), left_out)
    assert nobody_listed(part) is None
    # Were `unchanged_keys` ignored, the export would look empty and 100 would go.
    ignored = dataclasses.replace(part, unchanged_keys=frozenset())
    held = plan(ignored, state, policy())
    assert {h.code for h in held.holds} == {"unallocate_share", "empty_export"}


def test_a_partial_batch_of_unchanged_people_only_is_neither_empty_nor_all_rejected() -> None:
    _, state = _pupils_here(2)
    whole = batch(pupil("1", "P1"), pupil("2", "P2"), complete_for=[Role.PUPIL])
    part = partial(whole, {(Role.PUPIL, "1"), (Role.PUPIL, "2")})
    part.rows_read = 1  # the one row read, of a changed pupil, was refused
    part.errors = [RowError(1, "upn", "The UPN's check letter is wrong.")]
    result = plan(part, state, policy())
    assert result.actions == [] and result.counts()["unchanged"] == 2
    assert nobody_listed(part) is None
    assert all_rows_rejected(part, result) is None


def _family() -> tuple[Directory, DirectoryState]:
    """Pupils 1 (account 1) and 2 (account 2), contact 5 (account 3) linked to pupil 1;
    both pupils in G1."""
    d = Directory()
    d.add(pupil("1"))
    d.add(pupil("2", "Bea"))
    d.add(contact("5", email="pat@example.org"))
    state = d.state(
        groups=[GroupState(1, "G1", "7A", GroupKind.REGISTRATION)],
        memberships=frozenset(
            {("G1", 1, MembershipRole.STUDENT), ("G1", 2, MembershipRole.STUDENT)}
        ),
        contact_links={(3, 1): (1, True, "Mother")},
    )
    return d, state


def test_unchanged_peoples_memberships_and_links_are_kept_and_the_rest_diffed() -> None:
    _, state = _family()
    whole = batch(
        pupil("1"),
        pupil("2", "Bea"),
        contact("5", email="pat@example.org"),
        reports=RELATIONS,
        groups=[G1],
        memberships=[MembershipRecord("G1", Role.PUPIL, "1", MembershipRole.STUDENT)],
        contact_links=[ContactLink("5", "1", 1, True, "Mother")],
    )
    left_out = {(Role.PUPIL, "1"), (Role.CONTACT, "5")}
    part = partial(whole, left_out)
    assert part.memberships == [] and part.contact_links == []
    school = policy(accepted_reports=RELATIONS)
    assert unsafe_unchanged(part, state, school) == set()
    result = plan(part, state, school)
    # Pupil 2's membership is gone from the upload: removed, as the whole plan does.
    assert result.groups.remove_members == (("G1", 2, MembershipRole.STUDENT),)
    assert result.contact_links.remove == ()
    assert_plans_alike(result, plan(whole, state, school), left_out)
    # Were `unchanged_keys` ignored, pupil 1's membership and link would go too.
    ignored = plan(dataclasses.replace(part, unchanged_keys=frozenset()), state, school)
    assert ("G1", 1, MembershipRole.STUDENT) in ignored.groups.remove_members
    assert ignored.contact_links.remove == ((3, 1),)


# -- what is not safe to leave out ----------------------------------------------------


def _unsafe(state: DirectoryState, *left_out: Key, **kw: object) -> set[Key]:
    kw.setdefault("reports", RELATIONS)
    upload = batch(complete_for=[Role.PUPIL], **kw)
    upload.unchanged_keys = frozenset(left_out)
    return unsafe_unchanged(upload, state, policy(accepted_reports=RELATIONS))


def test_a_pupil_with_no_live_place_here_is_unsafe() -> None:
    d = Directory()
    d.add(pupil("1"), status=AllocationStatus.UNALLOCATED)
    d.add(pupil("2", "Bea"))
    state = d.state()
    assert _unsafe(state, (Role.PUPIL, "1"), (Role.PUPIL, "2"), (Role.PUPIL, "3")) == {
        (Role.PUPIL, "1"),
        (Role.PUPIL, "3"),
    }


def test_places_the_whole_plan_would_change_are_unsafe() -> None:
    d = Directory()
    d.add(pupil("1"), leaver_pending_since=TODAY)
    d.add(pupil("2", "Bea"), status=AllocationStatus.FUTURE, start_date=TODAY)
    d.add(pupil("3", "Cy"), status=AllocationStatus.FUTURE, start_date=TODAY.replace(year=2025))
    d.add(pupil("4", "Di"), leaving_date=TODAY.replace(year=2023))
    state = d.state()
    keys = [(Role.PUPIL, str(i)) for i in range(1, 5)]
    assert _unsafe(state, *keys) == {keys[0], keys[1], keys[3]}


def test_an_account_shared_with_another_school_or_with_two_places_here_is_unsafe() -> None:
    d = Directory()
    shared = d.add(pupil("1"))
    d.add(pupil("1"), account_id=shared.account_id, urn=LOCAL)
    twice = d.add(pupil("2", "Bea"))
    d.add(pupil("7", "Bea"), account_id=twice.account_id, status=AllocationStatus.UNALLOCATED)
    d.add(pupil("3", "Cy"))
    state = d.state()
    keys = [(Role.PUPIL, "1"), (Role.PUPIL, "2"), (Role.PUPIL, "3")]
    assert _unsafe(state, *keys) == {keys[0], keys[1]}


def test_a_key_also_in_the_batch_is_unsafe() -> None:
    _, state = _pupils_here(2)
    upload = batch(pupil("1", "P1"), complete_for=[Role.PUPIL], rejected_keys={(Role.PUPIL, "2")})
    upload.unchanged_keys = frozenset({(Role.PUPIL, "1"), (Role.PUPIL, "2")})
    assert unsafe_unchanged(upload, state, policy()) == set(upload.unchanged_keys)


def test_a_link_to_someone_planned_afresh_makes_both_ends_of_a_family_unsafe() -> None:
    d, state = _family()
    d.add(pupil("6", "Cy"))
    state = d.state(
        groups=state.groups,
        memberships=state.memberships,
        contact_links={(3, 1): (1, True, "Mother"), (3, 4): (1, True, "Mother")},
    )
    left_out = [(Role.PUPIL, "1"), (Role.CONTACT, "5"), (Role.PUPIL, "2")]
    # Pupil 6 is in the batch: contact 5 is linked to her, and so pupil 1 (linked to 5).
    assert _unsafe(state, *left_out, groups=[G1]) == {(Role.PUPIL, "1"), (Role.CONTACT, "5")}
    # Everyone linked left out: all safe.
    assert _unsafe(state, *left_out, (Role.PUPIL, "6"), groups=[G1]) == set()


def test_a_membership_of_a_group_added_or_dropped_puts_its_member_back_by_the_rows() -> None:
    first = batch(
        pupil("1"),
        pupil("2", "Bea"),
        reports=RELATIONS,
        groups=[G1, G2],
        memberships=[
            MembershipRecord("G1", Role.PUPIL, "1", MembershipRole.STUDENT),
            MembershipRecord("G2", Role.PUPIL, "2", MembershipRole.STUDENT),
        ],
    )
    both = {(Role.PUPIL, "1"), (Role.PUPIL, "2")}
    only_g1 = dataclasses.replace(first, groups=[G1])
    assert by_the_rows(first, first, both) == both
    assert by_the_rows(first, only_g1, both) == {(Role.PUPIL, "1")}  # G2 dropped
    assert by_the_rows(only_g1, first, both) == {(Role.PUPIL, "1")}  # G2 added


def test_a_leftover_link_the_whole_plan_removes_makes_its_end_unsafe() -> None:
    """A link the last plan kept (its pupil's row was refused then) and this upload does
    not list: the whole plan removes it, so its contact cannot be left out."""
    d = Directory()
    d.add(pupil("1"))
    d.add(contact("5"))
    state = d.state(contact_links={(2, 1): (1, False, None)})
    whole = batch(pupil("1"), contact("5"), reports=RELATIONS)
    school = policy(accepted_reports=RELATIONS)
    assert plan(whole, state, school).contact_links.remove == ((2, 1),)
    assert unsafe_unchanged(partial(whole, {(Role.CONTACT, "5")}), state, school) == {
        (Role.CONTACT, "5")
    }
    # Both ends left out: the directory cannot tell the link from one the upload lists,
    # and when the last plan was of the whole upload (what a partial batch needs), it is.
    both = partial(whole, {(Role.CONTACT, "5"), (Role.PUPIL, "1")})
    assert unsafe_unchanged(both, state, school) == set()


def test_an_account_left_as_it_is_is_compared_as_it_is() -> None:
    """Pupil 1's record leaves her UPN blank (never cleared): the account keeps it, and a
    new record with that UPN is compared with the account as it is, in both plans."""
    d = Directory()
    d.add(pupil("1", upn="A202200115001"))
    state = d.state()
    amy = pupil("1")  # no UPN: nothing changes
    newcomer = pupil("9", "Amie", upn="A202200115001")
    whole = batch(amy, newcomer, complete_for=[Role.PUPIL])
    part = partial(whole, {amy.key})
    result = plan(part, state, policy())
    assert_plans_alike(result, plan(whole, state, policy()), {amy.key})
    assert "UPN" in by_mis_id(result)["9"].reason


def test_an_excluded_or_queued_person_is_unsafe() -> None:
    d = Directory()
    d.add(pupil("1"))
    d.add(pupil("2", "Bea"))
    d.add(pupil("3", "Cy"))
    state = d.state(
        exclusions=[ExclusionState(1, None, None, "Bea", "Smith", None)],
        open_cases=[OpenMatchCase(1, Role.PUPIL, "3")],
    )
    keys = [(Role.PUPIL, "1"), (Role.PUPIL, "2"), (Role.PUPIL, "3")]
    assert _unsafe(state, *keys) == {keys[1], keys[2]}


def test_counts_say_the_people_left_out_as_unchanged() -> None:
    _, state = _pupils_here(3)
    whole = batch(
        pupil("1", "P1"), changed(pupil("2", "P2"), email="new@example.org"), pupil("3", "P3")
    )
    part = partial(whole, {(Role.PUPIL, "1"), (Role.PUPIL, "3")})
    result = plan(part, state, policy())
    assert result.unchanged_left_out == 2
    assert result.counts() == plan(whole, state, policy()).counts()
    assert result.counts()["unchanged"] == 2 and result.counts()["updated"] == 1


def test_a_second_place_under_an_unchanged_mis_id_is_not_where_a_new_record_belongs() -> None:
    d = Directory()
    amy = pupil("1")
    d.add(amy)
    # An old future place under the same MIS ID, on another account (data from before
    # the planner kept one place per MIS ID): in the whole plan its MIS ID is listed.
    d.add(pupil("1", "Bea"), status=AllocationStatus.FUTURE, start_date=TODAY.replace(year=2025))
    state = d.state()
    whole = batch(amy, pupil("9", "Bea"), complete_for=[Role.PUPIL])
    part = partial(whole, {amy.key})
    assert unsafe_unchanged(part, state, policy()) == set()
    assert_plans_alike(plan(part, state, policy()), plan(whole, state, policy()), {amy.key})


def test_a_contact_linked_to_a_pupil_with_no_place_here_is_put_back_by_the_rows() -> None:
    """Found by the property: pupil 1 left before the first upload (UNCHANGED, no account
    made), so her link to contact 1 was never stored. The next night pupil 2 is gone
    and pupil 1 is matched to pupil 2's account: the whole plan adds the link."""
    first = batch(
        pupil("1", leaving_date=TODAY.replace(day=9)),
        pupil("2"),
        contact("1"),
        reports=RELATIONS,
        contact_links=[ContactLink("1", "1")],
    )
    school = policy(leaver_grace_days=5)
    first_plan = plan(first, Directory().state(), school)
    state = apply_to_state(Directory().state(), first_plan)
    second = dataclasses.replace(first, people=[first.people[0], first.people[2]])
    same = same_rows(first, first_plan, second)
    assert same == {(Role.PUPIL, "1"), (Role.CONTACT, "1")}
    unsafe = unsafe_unchanged(partial(second, same), state, school)
    assert unsafe == {(Role.PUPIL, "1")}  # no place here; her link is not in the directory
    assert by_the_rows(first, second, same - unsafe) == set()  # the rows put contact 1 back
    whole = plan(second, state, school)
    assert whole.contact_links.upsert == (ContactLink("1", "1"),)


def test_a_plan_given_the_snapshots_index_is_the_plan_without_it() -> None:
    from rollsync.planning import StateIndex

    _, state = _pupils_here(3)
    upload = batch(pupil("1", "P1"), pupil("4", "P4"), complete_for=[Role.PUPIL])
    assert plan(upload, state, policy(), index=StateIndex(state)) == plan(upload, state, policy())
    _, other = _pupils_here(2)
    with pytest.raises(ValueError, match="another snapshot"):
        plan(upload, state, policy(), index=StateIndex(other))


def test_a_contacts_file_leaves_out_contacts_linked_to_pupils_placed_here_alone() -> None:
    """A Contacts file lists contacts and names pupils. Contact 5 (account 3), linked
    to pupil 1 (placed here), is left out. Put back, since the whole plan ends a link of
    theirs: contact 6 (account 4), linked to pupil 2, whose place was removed; contact 8
    (account 6), linked to contact 7's account (no pupil's place); and contact 7, whose
    account is that link's pupil end (it must not be kept as it is)."""
    d = Directory()
    d.add(pupil("1"))
    d.add(pupil("2", "Bea"), status=AllocationStatus.UNALLOCATED)
    contacts = [contact("5"), contact("6", "Lee"), contact("7", "Kim"), contact("8", "Max")]
    for record in contacts:
        d.add(record)
    state = d.state(
        contact_links={(3, 1): (1, True, None), (4, 2): (1, True, None), (6, 5): (2, False, None)}
    )
    whole = batch(
        *contacts,
        reports=frozenset({CONTACTS}),
        complete_for=[Role.CONTACT],
        contact_links=[ContactLink("5", "1", 1, True), ContactLink("6", "2", 1, True)],
    )
    school = policy(accepted_reports=frozenset({CONTACTS}))
    assert plan(whole, state, school).contact_links.remove == ((4, 2), (6, 5))
    left_out = {(Role.CONTACT, c.mis_id) for c in contacts}
    unsafe = unsafe_unchanged(partial(whole, left_out), state, school)
    assert unsafe == left_out - {(Role.CONTACT, "5")}
    part = partial(whole, left_out - unsafe)
    assert unsafe_unchanged(part, state, school) == set()
    assert_plans_alike(plan(part, state, school), plan(whole, state, school), {(Role.CONTACT, "5")})


def test_a_contact_whose_line_names_a_pupil_placed_here_without_their_link_is_put_back() -> None:
    """Contact 5's line has not changed since a night when pupil 1 had no place yet (a
    start date to come), so the link was refused; pupil 1 is placed here now, and the
    whole plan makes the link. Left out, contact 5 would never have it: put back. Contact
    6, whose link the directory holds, stays left out."""
    d = Directory()
    d.add(pupil("1"))
    d.add(pupil("2", "Bea"))
    contacts = [contact("5"), contact("6", "Lee")]
    for record in contacts:
        d.add(record)
    state = d.state(contact_links={(4, 2): (None, False, None)})
    whole = batch(
        *contacts,
        reports=frozenset({CONTACTS}),
        complete_for=[Role.CONTACT],
        contact_links=[ContactLink("5", "1"), ContactLink("6", "2")],
    )
    school = policy(accepted_reports=frozenset({CONTACTS}))
    assert [
        (x.contact_mis_id, x.pupil_mis_id) for x in plan(whole, state, school).contact_links.upsert
    ] == [("5", "1")]
    left_out = {(Role.CONTACT, "5"), (Role.CONTACT, "6")}
    assert unsafe_unchanged(partial(whole, left_out), state, school) == {(Role.CONTACT, "5")}
    part = partial(whole, {(Role.CONTACT, "6")})
    assert unsafe_unchanged(part, state, school) == set()
    assert_plans_alike(plan(part, state, school), plan(whole, state, school), {(Role.CONTACT, "6")})
