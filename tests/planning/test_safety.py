"""Issue 7, planner side: no record that lacks or garbles a field, no refused row, no
account shared with another school and no cut-short export changes identity or
removes access quietly. Each test failed on the planner before issue 7."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from rollsync.domain.actions import ActionKind
from rollsync.domain.records import (
    ContactLink,
    Gender,
    GroupKind,
    GroupRecord,
    MembershipRecord,
    MembershipRole,
    PersonRecord,
    Role,
    RowError,
)
from rollsync.domain.reports import (
    CONTACTS,
    GROUPS,
    STAFF,
    STUDENTS,
    STUDENTS_FUTURE,
)
from rollsync.domain.state import (
    AllocationStatus,
    DirectoryState,
    GroupState,
    ResolvedCase,
)
from rollsync.domain.upn import make_upn
from rollsync.planning import Link, MatchDecision, Via, apply_to_state, find_holds, plan

from .helpers import (
    FAR,
    HERE,
    LOCAL,
    TODAY,
    Directory,
    batch,
    by_mis_id,
    changed,
    contact,
    only,
    policy,
    pupil,
    staff,
)

UPN = make_upn("202", "2001", 15, 1)
OTHER_UPN = make_upn("202", "2001", 15, 2)
STUDENT = MembershipRole.STUDENT
ALL = frozenset({STUDENTS, STAFF, CONTACTS, GROUPS})


# -- 1. a field the record does not clearly carry keeps its stored value ------------------


def _stored_pupil() -> PersonRecord:
    return pupil(
        "1",
        middle_names="Jane",
        upn=UPN,
        start_date=date(2020, 9, 1),
        year_group="5",
        postcode="AB1 2CD",
        address="1 High Street",
    )


def test_unknown_fields_are_never_changed_on_update() -> None:
    d = Directory()
    d.add(_stored_pupil())
    # A row cut short: the UPN, year group, address and start date are not known.
    cut = pupil(
        "1",
        middle_names="Jane",
        unknown_fields=frozenset({"upn", "start_date", "year_group", "postcode", "address"}),
    )
    action = only(plan(batch(cut), d.state(), policy()))
    assert action.kind is ActionKind.UNCHANGED
    assert action.changes == {}
    # The same row read as blanks (the old reading) would clear all of them.
    blank = only(plan(batch(changed(cut, unknown_fields=frozenset())), d.state(), policy()))
    # (the UPN, a permanent fact, is never cleared by a blank either: fields.NEVER_CLEARED)
    assert set(blank.changes) == {"start_date", "year_group", "postcode", "address"}


def test_an_unreadable_value_keeps_the_stored_one_but_a_readable_change_is_made() -> None:
    d = Directory()
    d.add(_stored_pupil())
    record = changed(
        _stored_pupil(),
        start_date=None,
        year_group="6",
        unknown_fields=frozenset({"start_date"}),
    )
    action = only(plan(batch(record), d.state(), policy()))
    assert action.kind is ActionKind.UPDATE
    assert action.changes == {"year_group": ("5", "6")}


def test_an_unknown_start_date_keeps_a_future_starter_future() -> None:
    d = Directory()
    starts = TODAY + timedelta(days=20)
    d.add(pupil("1", start_date=starts), status=AllocationStatus.FUTURE)
    record = pupil("1", future=True, unknown_fields=frozenset({"start_date"}))
    accepted = frozenset({STUDENTS, STUDENTS_FUTURE})
    action = only(plan(batch(record), d.state(), policy(accepted_reports=accepted)))
    assert action.kind is ActionKind.UNCHANGED
    assert action.changes == {}
    assert action.status == "future"


def test_an_unknown_leaving_date_never_makes_a_leaver() -> None:
    d = Directory()
    d.add(pupil("1"))
    record = pupil("1", leaving_date=None, unknown_fields=frozenset({"leaving_date"}))
    # Even a value an importer left in place is not read when it is named unknown.
    garbled = changed(record, leaving_date=date(2024, 1, 1))
    for r in (record, garbled):
        action = only(plan(batch(r), d.state(), policy()))
        assert action.kind is ActionKind.UNCHANGED
        assert action.changes == {}


def test_unknown_identity_fields_are_kept_when_a_pupil_moves_in() -> None:
    d = Directory()
    d.add(
        pupil("L-1", middle_names="Jane", upn=UPN), urn=LOCAL, status=AllocationStatus.UNALLOCATED
    )
    record = pupil("1", upn=UPN, unknown_fields=frozenset({"middle_names", "gender"}))
    record = changed(record, gender=None)
    action = only(plan(batch(record), d.state(), policy()))
    assert action.kind is ActionKind.MOVE_IN
    assert action.changes == {}


def test_a_create_makes_the_account_with_none_for_unknown_fields() -> None:
    record = pupil("1", gender=None, unknown_fields=frozenset({"gender", "year_group"}))
    result = plan(batch(record), Directory().state(), policy())
    assert only(result).kind is ActionKind.CREATE
    after = apply_to_state(Directory().state(), result)
    (account,) = after.accounts.values()
    assert account.gender is None
    assert after.allocations[0].year_group is None


# -- 2. a refused person keeps everything; so does one the run could not match -----------


def _family_school() -> tuple[Directory, DirectoryState]:
    """Pupils 1 (account 1) and 2 (account 2), contact C1 (account 3) linked to both;
    both pupils in group G1."""
    d = Directory()
    d.add(pupil("1"))
    d.add(pupil("2", "Bea"))
    d.add(contact("C1", email="pat@example.org"))
    state = d.state(
        groups=[GroupState(1, "G1", "5A", GroupKind.REGISTRATION)],
        memberships=frozenset({("G1", 1, STUDENT), ("G1", 2, STUDENT)}),
        contact_links={(3, 1): (1, True, "Mother"), (3, 2): (1, True, "Mother")},
    )
    return d, state


def test_a_pupil_rejected_for_a_bad_field_keeps_contact_links_and_groups() -> None:
    _, state = _family_school()
    # Pupil 2's row was refused: the importer dropped their links and memberships too.
    upload = batch(
        pupil("1"),
        contact("C1", email="pat@example.org"),
        complete_for=[Role.PUPIL, Role.CONTACT],
        reports=ALL,
        rejected_keys={(Role.PUPIL, "2")},
        errors=[RowError(3, "date_of_birth", "The date of birth 9999-12-31 is not a real date.")],
        groups=[GroupRecord("G1", "5A", GroupKind.REGISTRATION)],
        memberships=[MembershipRecord("G1", Role.PUPIL, "1", STUDENT)],
        contact_links=[ContactLink("C1", "1", 1, True, "Mother")],
    )
    result = plan(upload, state, policy(accepted_reports=ALL))
    assert [(a.mis_id, a.kind) for a in result.actions] == [
        ("1", ActionKind.UNCHANGED),
        ("C1", ActionKind.UNCHANGED),
    ]
    assert result.contact_links.remove == ()
    assert result.groups.remove_members == ()
    assert result.groups.remove == ()


def test_a_refused_pupils_account_is_never_handed_to_another_record() -> None:
    _, state = _family_school()
    # Pupil 2's row was refused; another row with pupil 2's name and birthday and a new
    # MIS ID must not re-key their account.
    upload = batch(
        pupil("1"),
        pupil("2-NEW", "Bea"),
        complete_for=[Role.PUPIL],
        rejected_keys={(Role.PUPIL, "2")},
    )
    for matcher in (None, _Links(Link(2, None, Via.NAME_DOB, "Matched by a test"))):
        result = plan(upload, state, policy(), matcher=matcher)
        other = by_mis_id(result)["2-NEW"]
        assert other.kind is ActionKind.NEEDS_MATCHING
        assert other.account_id is None and other.changes == {}
        assert all(a.account_id != 2 or a.kind is ActionKind.NEEDS_MATCHING for a in result.actions)


def test_relations_of_a_person_waiting_in_the_matching_queue_are_kept() -> None:
    d, _ = _family_school()
    # Pupil 2 comes back under a new MIS ID and a new surname, and this MIS sends no
    # gender: not a sure match (with the gender, the same contacts would link her).
    state = d.state(
        groups=[GroupState(1, "G1", "5A", GroupKind.REGISTRATION)],
        memberships=frozenset({("G1", 1, STUDENT), ("G1", 2, STUDENT)}),
        contact_links={(3, 1): (1, True, "Mother"), (3, 2): (1, True, "Mother")},
    )
    upload = batch(
        pupil("1"),
        pupil("2-NEW", "Bea", "Smyth-Jones", gender=None),
        contact("C1", email="pat@example.org"),
        reports=ALL,
        groups=[GroupRecord("G1", "5A", GroupKind.REGISTRATION)],
        memberships=[
            MembershipRecord("G1", Role.PUPIL, "1", STUDENT),
            MembershipRecord("G1", Role.PUPIL, "2-NEW", STUDENT),
        ],
        contact_links=[
            ContactLink("C1", "1", 1, True, "Mother"),
            ContactLink("C1", "2-NEW", 1, True, "Mother"),
        ],
    )
    result = plan(upload, state, policy(accepted_reports=ALL))
    waiting = by_mis_id(result)["2-NEW"]
    assert waiting.kind is ActionKind.NEEDS_MATCHING
    assert [c.account_id for c in waiting.candidates] == [2]
    assert result.contact_links.remove == ()
    assert result.groups.remove_members == ()


# -- 3. an account still active at another school keeps its identity ----------------------


def _shared_pupil(status: AllocationStatus = AllocationStatus.ACTIVE) -> Directory:
    """Account 1: Amy Jane Smith, UPN, still at local school LOCAL with `status`."""
    d = Directory()
    d.add(pupil("L-1", middle_names="Jane", upn=UPN, year_group="4"), urn=LOCAL, status=status)
    return d


def test_moving_in_never_clears_or_renames_an_account_still_active_elsewhere() -> None:
    d = _shared_pupil()
    # The new school's record lacks the UPN and middle names and spells her surname
    # another way.
    record = pupil("1", family="Smyth", year_group="5", email="amy@example.org", upn=None)
    action = only(
        plan(
            batch(record),
            d.state(),
            policy(),
            matcher=_Links(Link(1, None, Via.NAME_DOB, "Matched by a test")),
        )
    )
    assert action.kind is ActionKind.MOVE_IN
    assert action.account_id == 1
    assert action.changes == {}
    assert action.withheld == {"legal_family_name": ("Smith", "Smyth")}
    assert (
        "Legal surname (Smith to Smyth) not changed: the account is still active at "
        f"{LOCAL}, which must agree." in action.reason
    )
    after = apply_to_state(
        d.state(),
        plan(
            batch(record),
            d.state(),
            policy(),
            matcher=_Links(Link(1, None, Via.NAME_DOB, "Matched by a test")),
        ),
    )
    account = after.accounts[1]
    assert (account.legal_family_name, account.middle_names, account.upn) == ("Smith", "Jane", UPN)
    # This school's place gets this school's details.
    here = next(a for a in after.allocations if a.school_urn == HERE)
    assert (here.year_group, here.email, here.upn) == ("5", "amy@example.org", None)


def test_moving_in_after_leaving_the_other_school_takes_the_new_identity() -> None:
    d = _shared_pupil(AllocationStatus.UNALLOCATED)
    record = pupil("1", family="Smyth", middle_names="Jane", upn=UPN)
    action = only(
        plan(
            batch(record),
            d.state(),
            policy(),
            matcher=_Links(Link(1, None, Via.NAME_DOB, "Matched by a test")),
        )
    )
    assert action.kind is ActionKind.MOVE_IN
    assert action.changes == {"legal_family_name": ("Smith", "Smyth")}
    assert action.withheld == {}


def test_a_dual_registered_pupil_keeps_identity_but_gets_this_schools_details() -> None:
    d = _shared_pupil()
    d.add(pupil("1", middle_names="Jane", upn=UPN, year_group="4"), account_id=1)
    record = pupil(
        "1", "Amelia", middle_names=None, upn=OTHER_UPN, year_group="5", gender=Gender.FEMALE
    )
    action = only(plan(batch(record), d.state(), policy()))
    assert action.kind is ActionKind.UPDATE
    assert action.changes == {"year_group": ("4", "5")}
    assert action.withheld == {
        "legal_given_name": ("Amy", "Amelia"),
        "upn": (UPN, OTHER_UPN),
    }
    assert f"still active at {LOCAL}, which must agree" in action.reason


def test_only_withheld_changes_leave_the_account_unchanged_and_say_so() -> None:
    d = _shared_pupil()
    d.add(pupil("1", middle_names="Jane", upn=UPN, year_group="4"), account_id=1)
    record = pupil("1", "Amelia", middle_names="Jane", upn=UPN, year_group="4")
    action = only(plan(batch(record), d.state(), policy()))
    assert action.kind is ActionKind.UNCHANGED
    assert action.changes == {}
    assert action.withheld == {"legal_given_name": ("Amy", "Amelia")}
    assert "not changed: the account is still active at" in action.reason
    assert "Nothing has changed" not in action.reason


def test_a_value_the_shared_account_lacks_is_withheld_too() -> None:
    """Filling in a blank is a change of identity too: a filled-in UPN becomes evidence
    every later match trusts, so one school may not supply it for a child another
    school holds. The other school agrees (a cross-school case) or it stays blank."""
    d = Directory()
    d.add(pupil("L-1", upn=None), urn=LOCAL)
    d.add(pupil("1", upn=None), account_id=1)
    record = pupil("1", middle_names="Jane", upn=UPN)
    action = only(plan(batch(record), d.state(), policy()))
    assert action.kind is ActionKind.UNCHANGED
    assert action.changes == {}
    assert action.withheld == {"middle_names": (None, "Jane"), "upn": (None, UPN)}
    # With no other live school, the only school's MIS fills them in.
    d = Directory()
    d.add(pupil("1", upn=None), account_id=1)
    action = only(plan(batch(record), d.state(), policy()))
    assert action.changes == {"middle_names": (None, "Jane"), "upn": (None, UPN)}
    assert action.withheld == {}


def test_a_parent_with_children_at_two_schools_is_not_renamed_by_one() -> None:
    d = Directory()
    d.add(contact("L-C1", "Patricia", email="pat@example.org"), urn=LOCAL)
    d.add(contact("C1", "Patricia", email="pat@example.org"), account_id=1)
    action = only(plan(batch(contact("C1", "Pat", email="pat@example.org")), d.state(), policy()))
    assert action.kind is ActionKind.UNCHANGED
    assert action.withheld == {"legal_given_name": ("Patricia", "Pat")}


# -- 4. link to and offer only accounts the school may link to ----------------------------


class _Links:
    """A matcher that links every record to one account (a matcher gone wrong)."""

    def __init__(self, link: Link) -> None:
        self.link = link

    def match(self, records: Sequence[PersonRecord], state: DirectoryState) -> list[MatchDecision]:
        return [self.link for _ in records]


def test_no_matcher_can_link_to_an_account_outside_the_la() -> None:
    d = Directory()
    d.add(pupil("F-1", "Agnieszka", "Mazur", upn=UPN), urn=FAR)
    record = pupil("1", "Mohammex", "Patel", upn=UPN)
    matcher = _Links(Link(1, None, Via.UPN, "Matched by UPN"))
    action = only(plan(batch(record), d.state(), policy(), matcher=matcher))
    assert action.kind is ActionKind.CREATE
    assert action.account_id is None and action.changes == {}
    assert "held by an account elsewhere in the region, outside this local authority" in (
        action.reason
    )


def test_a_upn_held_by_an_active_pupil_at_a_local_school_never_links_another_child() -> None:
    d = Directory()
    d.add(pupil("L-1", "Agnieszka", "Mazur", date_of_birth=date(2014, 5, 6), upn=UPN), urn=LOCAL)
    record = pupil("1", "Mohammed", "Patel", upn=UPN)
    matcher = _Links(Link(1, None, Via.UPN, "Matched by UPN"))
    for m in (None, matcher):
        action = only(plan(batch(record), d.state(), policy(), matcher=m))
        assert action.kind is ActionKind.NEEDS_MATCHING
        assert action.changes == {} and action.withheld == {}


def test_a_decided_case_whose_account_left_the_la_is_not_linked_there() -> None:
    d = Directory()
    d.add(pupil("F-1"), urn=FAR)
    case = ResolvedCase(1, Role.PUPIL, "1", "linked", 1)
    action = only(plan(batch(pupil("1")), d.state(resolved_cases=[case]), policy()))
    assert action.kind is ActionKind.CREATE
    assert action.account_id is None


# -- 5. the guard, per role and per report -------------------------------------------------


def _school(pupils: int, contacts: int = 0, staff_count: int = 0) -> Directory:
    d = Directory()
    for n in range(pupils):
        d.add(pupil(f"P{n}", f"Given{n}"))
    for n in range(contacts):
        d.add(contact(f"C{n}", f"Parent{n}"))
    for n in range(staff_count):
        d.add(staff(f"S{n}", f"Teacher{n}"))
    return d


def test_a_students_export_cut_short_is_held_even_in_a_school_with_many_contacts() -> None:
    d = _school(pupils=40, contacts=60)
    kept = [pupil(f"P{n}", f"Given{n}") for n in range(30)]  # 10 of 40 pupils (25%) gone
    result = plan(batch(*kept, complete_for=[Role.PUPIL]), d.state(), policy())
    assert sum(a.kind is ActionKind.UNALLOCATE for a in result.actions) == 10
    assert [(h.code, h.message) for h in result.holds] == [
        (
            "unallocate_share",
            "This run would unallocate 10 of the 40 active pupil accounts of the Students "
            "(current) report (25.0%), above the school's 10% limit.",
        )
    ]


def test_a_staff_export_cut_short_is_held_and_names_staff() -> None:
    d = _school(pupils=200, staff_count=38)
    kept = [staff(f"S{n}", f"Teacher{n}") for n in range(22)]  # 16 of 38 staff gone
    result = plan(batch(*kept, complete_for=[Role.STAFF]), d.state(), policy())
    assert [h.code for h in result.holds] == ["unallocate_share"]
    assert "16 of the 38 active staff accounts of the Staff (current) report (42.1%)" in (
        result.holds[0].message
    )


def test_small_schools_the_share_is_the_share() -> None:
    d = _school(pupils=100, staff_count=3)
    kept = [staff(f"S{n}", f"Teacher{n}") for n in range(2)]
    result = plan(batch(*kept, complete_for=[Role.STAFF]), d.state(), policy())
    assert [h.code for h in result.holds] == ["unallocate_share"]
    assert "1 of the 3 active staff accounts" in result.holds[0].message
    loose = plan(
        batch(*kept, complete_for=[Role.STAFF]), d.state(), policy(guard_unallocate_pct=40)
    )
    assert loose.holds == []


# -- 6. the same guard for groups, memberships and contact links ---------------------------


def test_groups_and_classes_cut_short_is_held() -> None:
    d = _school(pupils=10)
    groups = [GroupState(n, f"G{n}", f"Class {n}", GroupKind.CLASS) for n in range(1, 11)]
    members = frozenset((f"G{g}", p, STUDENT) for g in range(1, 11) for p in range(1, 11))
    state = d.state(groups=groups, memberships=members)
    people = [pupil(f"P{n}", f"Given{n}") for n in range(10)]
    sent = [GroupRecord(f"G{n}", f"Class {n}", GroupKind.CLASS) for n in range(1, 7)]
    upload = batch(
        *people,
        reports=ALL,
        groups=sent,
        memberships=[
            MembershipRecord(f"G{g}", Role.PUPIL, f"P{p}", STUDENT)
            for g in range(1, 7)
            for p in range(10)
        ],
    )
    result = plan(upload, state, policy(accepted_reports=ALL))
    assert len(result.groups.remove) == 4 and len(result.groups.remove_members) == 40
    assert [(h.code, h.message) for h in result.holds] == [
        (
            "group_removal_share",
            "This run would remove 4 of the school's 10 groups (40.0%), above the school's "
            "10% limit: the Groups & Classes export may have been cut short, so a person "
            "checks it first.",
        ),
        (
            "membership_removal_share",
            "This run would remove 40 of the school's 100 group memberships (40.0%), above "
            "the school's 10% limit: the Groups & Classes export may have been cut short, so "
            "a person checks it first.",
        ),
    ]


def test_contact_links_cut_short_are_held() -> None:
    d = _school(pupils=4, contacts=1)  # contact C0 is account 5
    links = {(5, p): (1, True, None) for p in range(1, 5)}
    state = d.state(contact_links=links)
    people = [*(pupil(f"P{n}", f"Given{n}") for n in range(4)), contact("C0", "Parent0")]
    upload = batch(*people, reports=ALL, contact_links=[ContactLink("C0", "P0", 1, True)])
    result = plan(upload, state, policy(accepted_reports=ALL))
    assert result.contact_links.remove == ((5, 2), (5, 3), (5, 4))
    assert [h.code for h in result.holds] == ["contact_link_removal_share"]
    assert "remove 3 of the school's 4 contact links (75.0%)" in result.holds[0].message


# -- 7. a run that errs and removes people is held ------------------------------------------


def test_a_run_with_rejected_rows_that_would_unallocate_is_held() -> None:
    d = _school(pupils=20)
    kept = [pupil(f"P{n}", f"Given{n}") for n in range(19)]  # 1 of 20: within the limit
    errors = [
        RowError(21, "date_of_birth", "The date of birth is not a date."),
        RowError(21, "upn", "The UPN's check letter is wrong."),
        RowError(22, "mis_id", "The MIS ID is missing."),
    ]
    upload = batch(*kept, complete_for=[Role.PUPIL], errors=errors)
    result = plan(upload, d.state(), policy())
    assert [(h.code, h.message) for h in result.holds] == [
        (
            "errors_and_leavers",
            "This run has 2 rejected rows and would unallocate 1 person: a person checks it first.",
        )
    ]
    # Notices are not faults in the file; a clean file removing one pupil is not held.
    notice = [RowError(3, None, "A column was ignored.", source="notice")]
    assert (
        plan(batch(*kept, complete_for=[Role.PUPIL], errors=notice), d.state(), policy()).holds
        == []
    )
    assert plan(batch(*kept, complete_for=[Role.PUPIL]), d.state(), policy()).holds == []


def test_starting_a_grace_period_from_a_file_with_errors_is_held_too() -> None:
    d = _school(pupils=20)
    kept = [pupil(f"P{n}", f"Given{n}") for n in range(19)]
    upload = batch(*kept, complete_for=[Role.PUPIL], errors=[RowError(5, "upn", "Bad UPN.")])
    result = plan(upload, d.state(), policy(leaver_grace_days=10))
    assert [(h.code, h.message) for h in result.holds] == [
        (
            "errors_and_leavers",
            "This run has 1 rejected row and would unallocate 1 person (now or when their "
            "grace period ends): a person checks it first.",
        )
    ]


def test_every_removal_says_why() -> None:
    d = _school(pupils=3)
    upload = batch(
        pupil("P0", "Given0", leaving_date=TODAY - timedelta(days=1)),
        complete_for=[Role.PUPIL],
    )
    result = plan(upload, d.state(), policy(guard_acknowledged=True))
    reasons = {a.mis_id: a.reason for a in result.actions}
    assert reasons["P0"].startswith(
        "The MIS gives a leaving date of 9 September 2024, which has passed."
    )
    assert reasons["P1"].startswith(
        "MIS ID P1 is no longer in the Students (current) export, a complete list of the "
        "school's pupils."
    )


def test_relation_holds_are_acknowledged_like_the_others_and_shown_again() -> None:
    d = _school(pupils=4, contacts=1)
    state = d.state(contact_links={(5, p): (1, True, None) for p in range(1, 5)})
    people = [*(pupil(f"P{n}", f"Given{n}") for n in range(4)), contact("C0", "Parent0")]
    upload = batch(*people, reports=ALL, contact_links=[ContactLink("C0", "P0", 1, True)])
    held = plan(upload, state, policy(accepted_reports=ALL))
    approved = plan(upload, state, policy(accepted_reports=ALL, guard_acknowledged=True))
    assert approved.holds == [] and approved.acknowledged_holds == held.holds
    assert approved.contact_links == held.contact_links
    assert find_holds(approved, upload, state, policy(accepted_reports=ALL)) == held.holds


# -- a blank never clears a permanent fact; relation errors count as errors --------------


def test_a_blank_never_clears_a_permanent_fact_of_identity() -> None:
    """A blank UPN, gender or date of birth is a gap in the export, not news: the stored
    value stays. A blank preferred or middle name is a removal in the MIS and clears."""
    d = Directory()
    stored = pupil("1", upn=UPN, gender=Gender.FEMALE, middle_names="Jane")
    d.add(stored, account_id=1)
    blank = changed(stored, upn=None, gender=None, date_of_birth=None, middle_names=None)
    action = only(plan(batch(blank), d.state(), policy()))
    assert action.changes == {"middle_names": ("Jane", None)}
    assert action.kind is ActionKind.UPDATE
    # A different value is still a plain change.
    other = changed(stored, gender=Gender.MALE)
    assert only(plan(batch(other), d.state(), policy())).changes == {
        "gender": (Gender.FEMALE, Gender.MALE)
    }


def test_a_run_whose_relations_name_someone_unknown_and_that_unallocates_is_held() -> None:
    """The planner's own row errors (a membership naming an MIS ID nobody has) count like
    the importer's: with a leaver in the same run, a person checks it first."""
    d = _school(pupils=20)
    kept = [pupil(f"P{n}", f"Given{n}") for n in range(19)]  # 1 of 20 leaves: in the limit
    upload = batch(
        *kept,
        complete_for=[Role.PUPIL],
        reports=ALL,
        groups=[GroupRecord("G1", "5A", GroupKind.REGISTRATION)],
        memberships=[
            MembershipRecord("G1", Role.PUPIL, "P1", STUDENT, row=2),
            MembershipRecord("G1", Role.STAFF, "2015-02-03T25:99", MembershipRole.TEACHER, row=3),
        ],
    )
    result = plan(upload, d.state(), policy(accepted_reports=ALL))
    assert any(e.row == 3 for e in result.errors)
    assert [h.code for h in result.holds] == ["errors_and_leavers"]
    clean = batch(*kept, complete_for=[Role.PUPIL])
    assert plan(clean, d.state(), policy()).holds == []
