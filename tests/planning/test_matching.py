"""Matching rules, strongest first, and the guards that keep people apart."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from rollsync.domain.actions import ActionKind
from rollsync.domain.records import PersonRecord, Role
from rollsync.domain.state import AllocationStatus, DirectoryState
from rollsync.domain.upn import make_upn
from rollsync.planning import Link, MatchDecision, Via, plan

from .helpers import (
    DOB,
    FAR,
    HERE,
    LOCAL,
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


# -- a. MIS ID at this school ------------------------------------------------------------


def test_same_mis_id_and_same_details_is_unchanged() -> None:
    d = Directory()
    d.add(pupil("1234"))
    action = only(plan(batch(pupil("1234")), d.state(), policy()))
    assert action.kind is ActionKind.UNCHANGED
    assert action.account_id == 1
    assert action.changes == {}
    assert action.reason == "Matched by MIS ID 1234 at this school. Nothing has changed."


def test_same_mis_id_with_new_surname_is_an_update_saying_what_changed() -> None:
    d = Directory()
    d.add(pupil("1234"))
    action = only(plan(batch(pupil("1234", family="Jones")), d.state(), policy()))
    assert action.kind is ActionKind.UPDATE
    assert action.account_id == 1
    assert action.changes == {"legal_family_name": ("Smith", "Jones")}
    assert action.reason == (
        "Matched by MIS ID 1234 at this school; legal surname changed from Smith to Jones."
    )
    assert not action.rekey


def test_unallocated_allocation_with_same_mis_id_is_a_returner_restored() -> None:
    d = Directory()
    d.add(pupil("1234"), status=AllocationStatus.UNALLOCATED)
    action = only(plan(batch(pupil("1234")), d.state(), policy()))
    assert action.kind is ActionKind.RESTORE
    assert action.account_id == 1
    assert action.allocation_id == d.allocation_of(1).allocation_id
    assert action.changes == {"status": ("unallocated", "active")}
    assert action.status == "active"
    assert "restored" in action.reason


# -- b. verified UPN ---------------------------------------------------------------------


def test_upn_here_with_another_mis_id_is_a_rekey() -> None:
    d = Directory()
    d.add(pupil("OLD-1", upn=UPN))
    action = only(plan(batch(pupil("NEW-1", upn=UPN)), d.state(), policy()))
    assert action.kind is ActionKind.UPDATE
    assert action.account_id == 1
    assert action.changes == {"mis_id": ("OLD-1", "NEW-1")}
    assert action.rekey
    assert f"Matched by UPN {UPN} to the account at this school" in action.reason


def test_upn_at_a_local_school_is_a_mover_keeping_one_account() -> None:
    d = Directory()
    d.add(pupil("L-9", upn=UPN), urn=LOCAL)
    action = only(plan(batch(pupil("1", upn=UPN)), d.state(), policy()))
    assert action.kind is ActionKind.MOVE_IN
    assert action.account_id == 1
    assert action.allocation_id is None  # a new allocation here
    assert action.from_school_urn == LOCAL
    assert f"at local school {LOCAL}" in action.reason


def test_upn_held_only_outside_the_la_is_never_linked_and_the_new_account_says_so() -> None:
    # Issue 7.2: a school may link only to its own and its local schools' accounts.
    d = Directory()
    d.add(pupil("F-9", upn=UPN), urn=FAR)
    action = only(plan(batch(pupil("1", upn=UPN)), d.state(), policy()))
    assert action.kind is ActionKind.CREATE
    assert action.account_id is None and action.candidates == () and action.changes == {}
    assert (
        f"Its UPN {UPN} is held by an account elsewhere in the region, outside this local "
        "authority, which this school may not link to or change." in action.reason
    )


def test_upn_whose_name_and_birthday_both_differ_is_asked_about() -> None:
    d = Directory()
    d.add(pupil("9", "Zed", "Young", date_of_birth=date(2014, 1, 1), upn=UPN))
    action = only(plan(batch(pupil("1", upn=UPN)), d.state(), policy()))
    assert action.kind is ActionKind.NEEDS_MATCHING
    assert [c.account_id for c in action.candidates] == [1]


def test_upn_on_two_accounts_never_picks_one() -> None:
    d = Directory()
    d.add(pupil("9", upn=UPN), urn=LOCAL)
    d.add(pupil("8", upn=UPN), urn=LOCAL)
    d.add(pupil("7", upn=UPN), urn=FAR)  # never offered: outside the LA
    action = only(plan(batch(pupil("1", upn=UPN)), d.state(), policy()))
    assert action.kind is ActionKind.NEEDS_MATCHING
    assert [c.account_id for c in action.candidates] == [1, 2]


def test_mis_id_beats_upn() -> None:
    d = Directory()
    d.add(pupil("1", upn=UPN))
    d.add(pupil("2", "Bea", upn=OTHER_UPN))
    # The MIS now gives record 1 the UPN of account 2: the MIS ID still decides.
    action = only(plan(batch(pupil("1", upn=OTHER_UPN)), d.state(), policy()))
    assert action.kind is ActionKind.UPDATE
    assert action.account_id == 1
    assert action.changes == {"upn": (UPN, OTHER_UPN)}


# -- c. exact legal name and date of birth -----------------------------------------------


def test_exact_name_and_birthday_here_rekeys_despite_accents_case_and_apostrophes() -> None:
    d = Directory()
    d.add(pupil("OLD-1", "Zoë", "O’Brien-Smith"))  # noqa: RUF001
    record = pupil("NEW-1", "ZOE", "O'Brien Smith")
    action = only(plan(batch(record), d.state(), policy()))
    assert action.kind is ActionKind.UPDATE
    assert action.account_id == 1
    assert action.rekey
    assert action.changes["mis_id"] == ("OLD-1", "NEW-1")
    assert "that had MIS ID OLD-1" in action.reason


def test_exact_name_and_birthday_at_a_local_school_is_a_mover() -> None:
    d = Directory()
    d.add(pupil("L-1"), urn=LOCAL)
    action = only(plan(batch(pupil("1")), d.state(), policy()))
    assert action.kind is ActionKind.MOVE_IN
    assert action.account_id == 1
    assert action.from_school_urn == LOCAL
    assert action.reason.startswith(
        "Matched by forename, surname, date of birth and gender (99.99% likely) "
        f"to the account at local school {LOCAL}"
    )


def test_staff_at_two_schools_keeps_one_account_and_the_other_allocation() -> None:
    d = Directory()
    d.add(staff("L-1"), urn=LOCAL)
    state = d.state()
    action = only(plan(batch(staff("S1"), complete_for=[Role.STAFF]), state, policy()))
    assert action.kind is ActionKind.MOVE_IN
    assert action.account_id == 1
    assert action.allocation_id is None  # the local school's allocation is not touched


def test_two_accounts_with_the_same_name_and_birthday_are_never_picked_between() -> None:
    d = Directory()
    d.add(pupil("L-1"), urn=LOCAL)
    d.add(pupil("L-2"), urn=LOCAL)
    action = only(plan(batch(pupil("1")), d.state(), policy()))
    assert action.kind is ActionKind.NEEDS_MATCHING
    assert [c.account_id for c in action.candidates] == [1, 2]


def test_exact_name_and_birthday_in_another_la_is_neither_linked_nor_offered() -> None:
    # Issue 7.2: the queue offered "at school ... in another local authority", and one
    # click rewrote that account. An account seen only outside the LA is never offered.
    d = Directory()
    d.add(pupil("F-1"), urn=FAR)
    action = only(plan(batch(pupil("1")), d.state(), policy()))
    assert action.kind is ActionKind.CREATE
    assert action.account_id is None and action.candidates == ()


def test_roles_must_agree() -> None:
    d = Directory()
    d.add(staff("S1", "Amy", "Smith", date_of_birth=DOB), urn=LOCAL)
    action = only(plan(batch(pupil("1")), d.state(), policy()))
    assert action.kind is ActionKind.CREATE
    assert action.account_id is None


# -- d. near misses ----------------------------------------------------------------------


def test_changed_surname_with_a_new_mis_id_is_asked_about_not_split() -> None:
    d = Directory()
    d.add(pupil("OLD-1", "Amy", "Smith"))
    action = only(plan(batch(pupil("NEW-1", "Amy", "Jones")), d.state(), policy()))
    assert action.kind is ActionKind.NEEDS_MATCHING
    (candidate,) = action.candidates
    assert candidate.account_id == 1
    assert "forename same (Amy), surname different (Jones / Smith)" in candidate.explanation
    assert action.reason.startswith("Not a sure match: similar to 1 existing account (")


def test_similar_full_name_and_same_birthday_is_a_candidate() -> None:
    d = Directory()
    d.add(pupil("L-1", "Katharine", "Browne"), urn=LOCAL)
    action = only(plan(batch(pupil("1", "Katherine", "Brown")), d.state(), policy()))
    assert action.kind is ActionKind.NEEDS_MATCHING
    assert action.candidates[0].account_id == 1
    assert 0.85 <= action.candidates[0].score < 1.0


def test_day_and_month_swapped_is_a_candidate() -> None:
    d = Directory()
    d.add(pupil("L-1", date_of_birth=date(2015, 4, 3)), urn=LOCAL)
    action = only(plan(batch(pupil("1", date_of_birth=date(2015, 3, 4))), d.state(), policy()))
    assert action.kind is ActionKind.NEEDS_MATCHING
    assert "day and month swapped" in action.candidates[0].explanation


def test_same_name_but_another_birthday_is_a_new_person() -> None:
    d = Directory()
    d.add(pupil("L-1", date_of_birth=date(2015, 3, 25)), urn=LOCAL)
    action = only(plan(batch(pupil("1")), d.state(), policy()))
    assert action.kind is ActionKind.CREATE
    assert action.candidates == ()


def test_same_name_and_a_birthday_one_slip_away_is_asked_about() -> None:
    d = Directory()
    d.add(pupil("L-1", date_of_birth=date(2015, 3, 5)), urn=LOCAL)
    action = only(plan(batch(pupil("1")), d.state(), policy()))
    assert action.kind is ActionKind.NEEDS_MATCHING
    (candidate,) = action.candidates
    assert candidate.account_id == 1
    assert "date of birth one slip apart (2015-03-04 / 2015-03-05)" in candidate.explanation


# -- e. new ------------------------------------------------------------------------------


def test_nobody_like_them_is_created_with_a_username_base() -> None:
    action = only(plan(batch(pupil("1", "Amy", "Smith")), Directory().state(), policy()))
    assert action.kind is ActionKind.CREATE
    assert action.username_base == "asmith"
    assert action.status == "active"
    assert action.account_id is None
    assert "username asmith.202 or the next free one" in action.reason


# -- guards ------------------------------------------------------------------------------


def test_twins_are_never_linked_to_each_other() -> None:
    d = Directory()
    d.add(pupil("1", "Amy", "Smith"))
    result = plan(
        batch(pupil("1", "Amy", "Smith"), pupil("2", "Beth", "Smith")), d.state(), policy()
    )
    actions = by_mis_id(result)
    assert actions["1"].kind is ActionKind.UNCHANGED
    assert actions["1"].account_id == 1
    assert actions["2"].kind is ActionKind.CREATE
    assert actions["2"].account_id is None
    assert actions["2"].candidates == ()


def test_second_twin_alone_in_a_partial_upload_is_still_a_new_account() -> None:
    d = Directory()
    d.add(pupil("1", "Jack", "Smith"), urn=LOCAL)
    action = only(plan(batch(pupil("2", "Jake", "Smith")), d.state(), policy()))
    assert action.kind is ActionKind.CREATE
    assert action.candidates == ()


def test_a_forename_one_slip_from_a_twin_pattern_is_asked_about_not_created() -> None:
    d = Directory()
    d.add(pupil("L-1", "Jonathan", "Khan"), urn=LOCAL)
    action = only(plan(batch(pupil("1", "Jonathon", "Khan")), d.state(), policy()))
    assert action.kind is ActionKind.NEEDS_MATCHING
    (candidate,) = action.candidates
    assert candidate.account_id == 1
    assert "forename one slip apart (Jonathon / Jonathan)" in candidate.explanation
    assert "twins are never linked automatically" in candidate.explanation


def test_two_records_never_take_one_account() -> None:
    d = Directory()
    d.add(pupil("L-1"), urn=LOCAL)
    result = plan(batch(pupil("2"), pupil("1")), d.state(), policy())
    actions = by_mis_id(result)
    assert actions["1"].kind is ActionKind.MOVE_IN
    assert actions["1"].account_id == 1
    assert actions["2"].kind is ActionKind.NEEDS_MATCHING
    assert actions["2"].account_id is None
    assert "already matched to MIS ID 1" in actions["2"].reason


def test_account_holding_another_mis_id_in_the_upload_is_not_rekeyed_by_name() -> None:
    d = Directory()
    d.add(pupil("1"))
    result = plan(batch(pupil("1"), pupil("2")), d.state(), policy())
    actions = by_mis_id(result)
    assert actions["1"].kind is ActionKind.UNCHANGED
    assert actions["2"].kind is ActionKind.NEEDS_MATCHING
    assert "also in this upload" in actions["2"].reason
    assert not any(a.rekey for a in result.actions)


class _LinkEveryoneTo:
    """A broken matcher, to show the planner's own guard."""

    def __init__(self, account_id: int) -> None:
        self.account_id = account_id

    def match(self, records: Sequence[PersonRecord], state: DirectoryState) -> list[MatchDecision]:
        return [Link(self.account_id, None, Via.NAME_DOB, "Linked") for _ in records]


def test_any_matcher_is_kept_from_giving_one_account_to_two_records() -> None:
    d = Directory()
    d.add(pupil("L-1"), urn=LOCAL)
    result = plan(batch(pupil("1"), pupil("2")), d.state(), policy(), matcher=_LinkEveryoneTo(1))
    actions = by_mis_id(result)
    assert actions["1"].kind is ActionKind.MOVE_IN
    assert actions["2"].kind is ActionKind.NEEDS_MATCHING


def test_a_link_to_an_unknown_account_is_asked_about_not_created() -> None:
    action = only(
        plan(batch(pupil("1")), Directory().state(), policy(), matcher=_LinkEveryoneTo(99))
    )
    assert action.kind is ActionKind.NEEDS_MATCHING
    assert "account 99" in action.reason


# -- user request single -----------------------------------------------------------------


def test_request_single_account_is_taken_over_by_the_mis_record() -> None:
    d = Directory()
    d.add(pupil(""), mis_id="", requested_single=True, source_report=None)
    action = only(plan(batch(pupil("77", year_group="3")), d.state(), policy()))
    assert action.kind is ActionKind.MOVE_IN
    assert action.account_id == 1
    assert action.allocation_id == d.allocation_of(1).allocation_id  # no second allocation
    assert action.from_school_urn is None
    assert action.changes == {
        "mis_id": ("", "77"),
        "year_group": (None, "3"),
        "requested_single": (True, False),
    }
    assert not action.rekey  # filling in a hand-made account is not a change of MIS
    assert "User Request Single" in action.reason
    assert "MIS ID 77 now backs that account; year group set to 3" in action.reason


def test_non_mis_account_not_requested_is_only_a_candidate() -> None:
    d = Directory()
    d.add(pupil(""), mis_id="")
    action = only(plan(batch(pupil("77")), d.state(), policy()))
    assert action.kind is ActionKind.NEEDS_MATCHING
    assert action.candidates[0].account_id == 1


# -- contacts ----------------------------------------------------------------------------


def test_contact_by_mis_id_here() -> None:
    d = Directory()
    d.add(contact("C1", email="pat@example.org"))
    action = only(plan(batch(contact("C1", email="pat@example.org")), d.state(), policy()))
    assert action.kind is ActionKind.UNCHANGED
    assert action.account_id == 1


def test_parent_with_children_at_two_schools_keeps_one_account() -> None:
    d = Directory()
    d.add(contact("L-C1", email="Pat@Example.org"), urn=LOCAL)
    record = contact("C1", email="pat@example.org ")
    action = only(plan(batch(record), d.state(), policy()))
    assert action.kind is ActionKind.MOVE_IN
    assert action.account_id == 1
    assert action.from_school_urn == LOCAL
    assert action.reason.startswith(
        f"Matched by forename, surname and email (100.00% likely) to the account at local "
        f"school {LOCAL}"
    )


def test_contact_by_name_and_phone_here_with_a_new_mis_id() -> None:
    d = Directory()
    d.add(contact("C-OLD", phone="07700 900123"))
    action = only(plan(batch(contact("C-NEW", phone="+44 7700 900123")), d.state(), policy()))
    assert action.kind is ActionKind.UPDATE
    assert action.changes["mis_id"] == ("C-OLD", "C-NEW")
    assert action.changes["phone"] == ("07700 900123", "+44 7700 900123")


def test_contact_with_the_same_name_only_is_a_new_account_not_a_question() -> None:
    d = Directory()
    d.add(contact("L-C1", email="pat@example.org"), urn=LOCAL)
    action = only(plan(batch(contact("C1", email="other@example.org")), d.state(), policy()))
    assert action.kind is ActionKind.CREATE
    assert action.candidates == ()


def test_staff_without_a_birthday_match_by_name_and_email() -> None:
    d = Directory()
    d.add(staff("L-S1", email="sam.jones@example.org", date_of_birth=None), urn=LOCAL)
    record = staff("S1", email="Sam.Jones@example.org", date_of_birth=None)
    action = only(plan(batch(record), d.state(), policy()))
    assert action.kind is ActionKind.MOVE_IN
    assert action.account_id == 1
    assert action.reason.startswith("Matched by forename, surname, gender and email")


def test_staff_without_a_birthday_and_only_a_name_in_common_are_new() -> None:
    d = Directory()
    d.add(staff("L-S1", email="sam.jones@example.org", date_of_birth=None), urn=LOCAL)
    action = only(plan(batch(staff("S1", date_of_birth=None)), d.state(), policy()))
    assert action.kind is ActionKind.CREATE
    assert action.candidates == ()


def test_name_and_email_never_link_across_different_birthdays() -> None:
    # Changed: the first matcher made a second account; the same name and email with
    # another birthday is more likely a mistyped date than two people, so a person decides.
    d = Directory()
    d.add(staff("L-S1", email="sam@example.org", date_of_birth=date(1970, 1, 1)), urn=LOCAL)
    action = only(plan(batch(staff("S1", email="sam@example.org")), d.state(), policy()))
    assert action.kind is ActionKind.NEEDS_MATCHING
    assert action.account_id is None
    assert [c.account_id for c in action.candidates] == [1]
    assert "date of birth different (1980-06-01 / 1970-01-01)" in action.candidates[0].explanation


def test_updates_compare_every_stored_field() -> None:
    old = pupil(
        "1",
        preferred_given_name="Ames",
        middle_names="Jo",
        upn=UPN,
        year_group="5",
        registration_group="5B",
        start_date=date(2020, 9, 1),
        email="a@school.example",
        postcode="AB1 2CD",
        address="1 High St",
    )
    d = Directory()
    d.add(old)
    new = changed(
        old,
        preferred_given_name=None,
        middle_names="Joanne",
        year_group="6",
        registration_group="6A",
        postcode="AB1 2CE",
    )
    action = only(plan(batch(new), d.state(), policy()))
    assert action.kind is ActionKind.UPDATE
    assert action.changes == {
        "preferred_given_name": ("Ames", None),
        "middle_names": ("Jo", "Joanne"),
        "postcode": ("AB1 2CD", "AB1 2CE"),
        "year_group": ("5", "6"),
        "registration_group": ("5B", "6A"),
    }
    assert "preferred forename cleared (was Ames)" in action.reason


def test_here_is_preferred_over_a_local_school() -> None:
    # Two accounts with the same evidence: the one at this school wins (SPEC: a sure match
    # here, then at local schools). Both must be sure: an address as well as the name.
    home = {"postcode": "AB1 2CD", "address": "1 High Street"}
    d = Directory()
    d.add(pupil("L-1", **home), urn=LOCAL)
    d.add(pupil("OLD", **home), urn=HERE)
    action = only(plan(batch(pupil("NEW", **home)), d.state(), policy()))
    assert action.kind is ActionKind.UPDATE
    assert action.account_id == 2
    assert action.changes == {"mis_id": ("OLD", "NEW")}


def test_two_equally_good_accounts_at_this_school_are_never_picked_between() -> None:
    d = Directory()
    d.add(pupil("OLD-1"))
    d.add(pupil("OLD-2"))
    action = only(plan(batch(pupil("NEW")), d.state(), policy()))
    assert action.kind is ActionKind.NEEDS_MATCHING
    assert [c.account_id for c in action.candidates] == [1, 2]
