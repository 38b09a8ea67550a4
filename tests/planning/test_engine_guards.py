"""The matching engine inside the planner: movers, a change of MIS, siblings, and the
needs-matching queue remembering what a person decided."""

from __future__ import annotations

from datetime import date

from rollsync.domain.actions import ActionKind
from rollsync.domain.records import ContactLink, Role
from rollsync.domain.state import AllocationStatus, OpenMatchCase, ResolvedCase
from rollsync.planning import EngineMatcher, Link, Via, plan

from .helpers import LOCAL, Directory, batch, by_mis_id, contact, only, policy, pupil, staff


def test_a_mover_from_a_local_school_without_a_upn_is_linked_not_created() -> None:
    d = Directory()
    d.add(pupil("L-7", "Amara", "Okafor", postcode="AB1 2CD"), urn=LOCAL)
    record = pupil("77", "Amara", "Okafor", postcode="AB1 2CD")
    action = only(plan(batch(record), d.state(), policy()))
    assert action.kind is ActionKind.MOVE_IN
    assert action.account_id == 1
    assert action.from_school_urn == LOCAL
    assert action.allocation_id is None
    assert action.changes == {}


def test_a_change_of_mis_rekeys_the_school_and_is_held_for_approval() -> None:
    d = Directory()
    d.add(pupil("OLD-1", "Jack", "Khan", phone="07700 900001"))
    d.add(pupil("OLD-2", "Jake", "Khan", phone="07700 900001"))  # Jack's twin
    d.add(pupil("OLD-3", "Nia", "Evans", date_of_birth=date(2014, 9, 1)))
    d.add(staff("OLD-S", email="sam.jones@school.example"))
    d.add(contact("OLD-C", phone="07700 900001"))
    upload = batch(
        pupil("N1", "Jack", "Khan", phone="07700 900001"),
        pupil("N2", "Jake", "Khan", phone="07700 900001"),
        pupil("N3", "Nia", "Evans", date_of_birth=date(2014, 9, 1)),
        staff("NS", email="sam.jones@school.example"),
        contact("NC", phone="+44 7700 900001"),
        complete_for=[Role.PUPIL, Role.STAFF, Role.CONTACT],
    )
    result = plan(upload, d.state(), policy())
    actions = by_mis_id(result)
    assert {k: (a.kind, a.account_id, a.rekey) for k, a in actions.items()} == {
        "N1": (ActionKind.UPDATE, 1, True),
        "N2": (ActionKind.UPDATE, 2, True),
        "N3": (ActionKind.UPDATE, 3, True),
        "NS": (ActionKind.UPDATE, 4, True),
        "NC": (ActionKind.UPDATE, 5, True),
    }
    assert actions["N2"].changes["mis_id"] == ("OLD-2", "N2")
    assert [h.code for h in result.holds] == ["rekey_share", "rekey_share", "rekey_share"]
    assert not any(a.kind in (ActionKind.CREATE, ActionKind.UNALLOCATE) for a in result.actions)


def test_siblings_sharing_a_contact_are_never_linked() -> None:
    d = Directory()
    amy = d.add(pupil("L-1", "Amy", "Smith"), urn=LOCAL)
    parent = d.add(contact("L-C", phone="07700 900123"), urn=LOCAL)
    state = d.state(contact_links={(parent.account_id, amy.account_id): (1, True, "Mother")})
    # Ben, born 3 April (Amy's birthday with day and month swapped), with the same mother.
    upload = batch(
        pupil("2", "Ben", "Smith", date_of_birth=date(2015, 4, 3)),
        contact("C", phone="07700 900123"),
        contact_links=[ContactLink("C", "2", 1, True, "Mother")],
    )
    actions = by_mis_id(plan(upload, state, policy()))
    assert actions["2"].kind is ActionKind.CREATE
    assert actions["2"].candidates == ()
    assert actions["C"].kind is ActionKind.MOVE_IN  # the mother keeps one account
    assert actions["C"].account_id == parent.account_id


def test_an_open_case_is_not_asked_about_twice() -> None:
    d = Directory()
    d.add(pupil("L-1", "Katharine", "Browne"), urn=LOCAL)
    state = d.state(open_cases=[OpenMatchCase(9, Role.PUPIL, "1")])
    action = only(plan(batch(pupil("1", "Katherine", "Brown")), state, policy()))
    assert action.kind is ActionKind.NEEDS_MATCHING
    assert action.candidates == ()
    assert action.reason.startswith("Already waiting in the matching queue (case 9)")


def test_a_create_new_decision_is_never_overturned() -> None:
    d = Directory()
    d.add(pupil("L-1"), urn=LOCAL)  # the account the person said it is not
    d.add(pupil("7"))  # the account made for the record
    state = d.state(resolved_cases=[ResolvedCase(3, Role.PUPIL, "7", "created", 2, frozenset({1}))])
    action = only(plan(batch(pupil("7")), state, policy()))
    assert action.kind is ActionKind.UNCHANGED
    assert action.account_id == 2


def test_a_rejected_account_is_never_linked_or_offered_again() -> None:
    d = Directory()
    d.add(pupil("L-1", postcode="AB1 2CD"), urn=LOCAL)
    # The account made for the record is not in this snapshot: the engine decides again,
    # but never with the account the person rejected.
    state = d.state(
        resolved_cases=[ResolvedCase(3, Role.PUPIL, "7", "created", 99, frozenset({1}))]
    )
    action = only(plan(batch(pupil("7", postcode="AB1 2CD")), state, policy()))
    assert action.kind is ActionKind.CREATE
    assert action.account_id is None
    assert action.candidates == ()


def test_a_linked_decision_holds_even_when_the_evidence_disagrees() -> None:
    d = Directory()
    d.add(pupil("L-1", "Amy", "Smith"), urn=LOCAL)  # a person said record 7 is this account
    d.add(pupil("L-2", "Amie", "Smyth"), urn=LOCAL)
    state = d.state(resolved_cases=[ResolvedCase(4, Role.PUPIL, "7", "linked", 1, frozenset({2}))])
    decisions = EngineMatcher().match([pupil("7", "Amie", "Smyth")], state)
    assert decisions == [
        Link(
            1,
            None,
            Via.RESOLVED,
            "A person at the school matched this record to this account in needs-matching case 4",
        )
    ]
    action = only(plan(batch(pupil("7", "Amie", "Smyth")), state, policy()))
    assert action.kind is ActionKind.MOVE_IN
    assert action.account_id == 1


def test_an_unallocated_account_here_comes_back_by_evidence() -> None:
    d = Directory()
    d.add(pupil("OLD", postcode="AB1 2CD"), status=AllocationStatus.UNALLOCATED)
    action = only(plan(batch(pupil("NEW", postcode="AB1 2CD")), d.state(), policy()))
    assert action.kind is ActionKind.RESTORE
    assert action.account_id == 1
    assert action.changes["mis_id"] == ("OLD", "NEW")


def test_contacts_sent_apart_from_their_pupils_follow_them_through_a_change_of_mis() -> None:
    # The Students file of the new MIS came first and re-keyed the pupil; the Contacts
    # file names the parent only by name and by the pupil's new MIS ID.
    d = Directory()
    child = d.add(pupil("N1"))
    parent = d.add(contact("OLD-C"))
    state = d.state(contact_links={(parent.account_id, child.account_id): (1, True, "Mother")})
    upload = batch(
        contact("NC"),
        contact_links=[ContactLink("NC", "N1", 1, True, "Mother")],
        complete_for=[Role.CONTACT],
    )
    action = only(plan(upload, state, policy()))
    assert action.kind is ActionKind.UPDATE
    assert action.account_id == parent.account_id
    assert action.changes == {"mis_id": ("OLD-C", "NC")}
    assert action.rekey


def test_a_requested_account_with_only_a_name_and_birthday_is_taken_over() -> None:
    d = Directory()
    d.add(pupil("", gender=None), mis_id="", requested_single=True, source_report=None)
    action = only(plan(batch(pupil("77")), d.state(), policy()))
    assert action.kind is ActionKind.MOVE_IN
    assert action.account_id == 1
    assert action.changes == {
        "gender": (None, "F"),
        "mis_id": ("", "77"),
        "requested_single": (True, False),
    }
