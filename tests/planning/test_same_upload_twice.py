"""The same upload planned twice: the second plan changes nothing, in the corners where
one record's decision depends on what the others of the same upload are decided to be
(found by `test_properties.test_planning_the_same_upload_again_changes_nothing`)."""

from __future__ import annotations

from datetime import date, timedelta

from rollsync.domain.actions import ActionKind, Plan
from rollsync.domain.policy import SchoolPolicy
from rollsync.domain.records import ImportBatch
from rollsync.domain.reports import CONTACTS, STUDENTS
from rollsync.domain.state import DirectoryState
from rollsync.domain.upn import make_upn
from rollsync.planning import apply_to_state, plan

from .helpers import LOCAL, TODAY, Directory, batch, by_mis_id, policy, pupil, staff

D = date(2015, 3, 4)
LEFT = TODAY - timedelta(days=1)
UPN = make_upn("202", "2001", 15, 1)


def _twice(b: ImportBatch, state: DirectoryState, pol: SchoolPolicy) -> tuple[Plan, Plan]:
    first = plan(b, state, pol)
    return first, plan(b, apply_to_state(state, first), pol)


def _kinds(p: Plan) -> dict[str, tuple[ActionKind, int | None]]:
    return {mis_id: (a.kind, a.account_id) for mis_id, a in by_mis_id(p).items()}


def test_an_account_linked_to_another_record_by_weights_leaves_the_choice_to_the_rest() -> None:
    # Staff 3 takes the requested account 2 by its evidence; staff 2 (who has left) was
    # torn between accounts 1 and 2: with 2 taken, account 1 is theirs in this plan,
    # as it would be on the next night's.
    d = Directory()
    d.add(staff("1", "Amy", "Smith", date_of_birth=date(2014, 9, 1), email="b@example.org"))
    d.add(staff("9", "Amy", "Smith", date_of_birth=D), mis_id="", requested_single=True)
    leaver = staff("2", "Amy", "Smith", date_of_birth=D, email="b@example.org", leaving_date=LEFT)
    first, second = _twice(
        batch(leaver, staff("3", "Amy", "Smith", date_of_birth=D)), d.state(), policy()
    )
    assert _kinds(first) == {"2": (ActionKind.UNALLOCATE, 1), "3": (ActionKind.MOVE_IN, 2)}
    assert by_mis_id(first)["2"].changes["mis_id"] == ("1", "2")
    assert _kinds(second) == {"2": (ActionKind.UNCHANGED, 1), "3": (ActionKind.UNCHANGED, 2)}


def test_a_taken_account_is_compared_as_the_record_that_takes_it_leaves_it() -> None:
    # Account 4 shares the leaver's email now, but staff 3 takes it and has none: the
    # leaver is compared with account 4 as staff 3 leaves it, so account 3 (same names,
    # same email) is theirs at once, not only on the next night.
    d = Directory()
    d.add(staff("1", "Amy", "Smith", date_of_birth=D), urn=LOCAL)
    d.add(pupil("1", "Amy", "Smith"))
    d.add(staff("1", "Amy", "Smith", date_of_birth=None, email="b@example.org"))
    d.add(
        staff("9", "Amy", "Smith", date_of_birth=D, email="b@example.org"),
        mis_id="",
        requested_single=True,
    )
    leaver = staff("2", "Amy", "Smith", date_of_birth=D, email="b@example.org", leaving_date=LEFT)
    first, second = _twice(
        batch(leaver, staff("3", "Amy", "Smith", date_of_birth=D)), d.state(), policy()
    )
    assert _kinds(first) == {"2": (ActionKind.UNALLOCATE, 3), "3": (ActionKind.MOVE_IN, 4)}
    assert _kinds(second) == {"2": (ActionKind.UNCHANGED, 3), "3": (ActionKind.UNCHANGED, 4)}


def test_a_record_like_no_account_does_not_share_the_returning_accounts_prior() -> None:
    # Account 2's MIS ID 3 is not in the upload: it is where an unmatched record most
    # likely belongs. Pupil 1 is like no account (a new account is made for them), so
    # the leaver, pupil 2, is the one unmatched record that could be account 2.
    d = Directory()
    d.add(pupil("1", "Amy", "Smith"), urn=LOCAL)
    d.add(pupil("3", "Amy", "Smith"))
    leaver = pupil("2", "Amie", "Smith", date_of_birth=date(2015, 4, 3), leaving_date=LEFT)
    newcomer = pupil("1", "Amy", "Smith", date_of_birth=date(2014, 9, 1))
    pol = policy(accepted_reports=frozenset({STUDENTS, CONTACTS}))
    first, second = _twice(batch(newcomer, leaver), d.state(), pol)
    assert _kinds(first) == {"1": (ActionKind.CREATE, None), "2": (ActionKind.UNALLOCATE, 2)}
    assert _kinds(second) == {"1": (ActionKind.UNCHANGED, 3), "2": (ActionKind.UNCHANGED, 2)}


def test_without_a_taken_account_a_torn_leaver_is_still_only_asked_about() -> None:
    # The negative path: two equally good accounts and nobody else in the upload to
    # take either; the leaver takes neither, on both nights.
    d = Directory()
    d.add(staff("1", "Amy", "Smith", date_of_birth=D))
    d.add(staff("4", "Amy", "Smith", date_of_birth=D))
    leaver = staff("2", "Amy", "Smith", date_of_birth=D, leaving_date=LEFT)
    first, second = _twice(batch(leaver), d.state(), policy())
    assert _kinds(first) == {"2": (ActionKind.UNCHANGED, None)}
    assert _kinds(second) == {"2": (ActionKind.UNCHANGED, None)}
    assert "no account for them" in by_mis_id(second)["2"].reason


def test_a_mover_whose_upn_only_this_school_stored_is_not_taken_for_another_child() -> None:
    # The mover keeps the local school's account, which must agree before its surname,
    # birthday and UPN change; the UPN stays on this school's allocation. Next night
    # that UPN is this school's own, not "another child's at another school".
    d = Directory()
    d.add(
        pupil("9", "Amy", "Smith", middle_names="Jane"), urn=LOCAL, mis_id="", requested_single=True
    )
    mover = pupil("2", "Amy", "Smyth", middle_names="Jane", date_of_birth=date(2015, 4, 3), upn=UPN)
    first, second = _twice(batch(mover), d.state(), policy())
    assert _kinds(first) == {"2": (ActionKind.MOVE_IN, 1)}
    assert set(by_mis_id(first)["2"].withheld) == {"legal_family_name", "date_of_birth", "upn"}
    assert _kinds(second) == {"2": (ActionKind.UNCHANGED, 1)}
