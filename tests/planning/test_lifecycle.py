"""Lifecycle: future starters, exclusions, reports not accepted, leavers, errors."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from rollsync.domain.actions import ActionKind
from rollsync.domain.records import Deletion, Role, RowError
from rollsync.domain.reports import STAFF, STUDENTS, STUDENTS_FUTURE
from rollsync.domain.state import AllocationStatus, ExclusionState, OpenMatchCase
from rollsync.planning import plan

from .helpers import (
    CURRENT_REPORTS,
    DOB,
    LOCAL,
    TODAY,
    Directory,
    batch,
    by_mis_id,
    kinds,
    only,
    policy,
    pupil,
    staff,
)

NEXT_MONTH = date(2024, 10, 1)
WITH_FUTURE = CURRENT_REPORTS | {STUDENTS_FUTURE}

# -- starters ----------------------------------------------------------------------------


def test_future_starter_is_made_ahead_when_the_future_report_is_accepted() -> None:
    result = plan(
        batch(pupil("1", start_date=NEXT_MONTH)),
        Directory().state(),
        policy(accepted_reports=WITH_FUTURE),
    )
    action = only(result)
    assert action.kind is ActionKind.CREATE
    assert action.status == "future"
    assert "as a future starter (starts 1 October 2024)" in action.reason


def test_record_from_the_future_report_is_a_future_allocation() -> None:
    record = pupil("1", start_date=NEXT_MONTH, future=True)
    action = only(
        plan(
            batch(record, reports=frozenset({STUDENTS_FUTURE})),
            Directory().state(),
            policy(accepted_reports=WITH_FUTURE),
        )
    )
    assert action.kind is ActionKind.CREATE
    assert action.status == "future"


def test_future_starter_waits_when_the_future_report_is_not_accepted() -> None:
    action = only(plan(batch(pupil("1", start_date=NEXT_MONTH)), Directory().state(), policy()))
    assert action.kind is ActionKind.DEFER_START
    assert action.account_id is None
    assert action.reason.startswith(
        "Starts on 1 October 2024; the school has not accepted the Students (future) report"
    )


def test_future_allocation_becomes_active_on_its_start_date() -> None:
    record = pupil("1", start_date=TODAY)
    d = Directory()
    d.add(record, status=AllocationStatus.FUTURE)
    action = only(plan(batch(record), d.state(), policy()))
    assert action.kind is ActionKind.UPDATE
    assert action.changes == {"status": ("future", "active")}
    assert action.status == "active"


def test_an_active_person_whose_start_date_moves_later_keeps_access() -> None:
    d = Directory()
    d.add(pupil("1"))
    action = only(plan(batch(pupil("1", start_date=NEXT_MONTH)), d.state(), policy()))
    assert action.kind is ActionKind.UPDATE
    assert action.status == "active"
    assert action.changes == {"start_date": (None, NEXT_MONTH)}


# -- reports, exclusions, the matching queue ---------------------------------------------


def test_record_of_a_report_not_accepted_is_rejected_naming_the_report() -> None:
    action = only(
        plan(batch(staff("S1")), Directory().state(), policy(accepted_reports={STUDENTS}))
    )
    assert action.kind is ActionKind.REJECT
    assert action.reason == (
        "The school has not accepted the Staff (current) report, so this record was not used."
    )


def test_future_report_record_is_rejected_when_that_report_is_not_accepted() -> None:
    action = only(plan(batch(pupil("1", future=True)), Directory().state(), policy()))
    assert action.kind is ActionKind.REJECT
    assert "Students (future)" in action.reason


def _exclusion(**kw: Any) -> ExclusionState:
    values: dict[str, Any] = dict.fromkeys(
        ("role", "mis_id", "given_name", "family_name", "date_of_birth")
    )
    return ExclusionState(**{"exclusion_id": 3, **values, **kw})


def test_excluded_by_mis_id_gets_no_account() -> None:
    state = Directory().state(exclusions=[_exclusion(mis_id="1")])
    action = only(plan(batch(pupil("1")), state, policy()))
    assert action.kind is ActionKind.EXCLUDED
    assert action.account_id is None
    assert "should not have an account (exclusion 3)" in action.reason


def test_excluded_by_casefolded_name_and_birthday() -> None:
    exclusion = _exclusion(given_name="AMY", family_name="smith", date_of_birth=DOB)
    state = Directory().state(exclusions=[exclusion])
    assert only(plan(batch(pupil("1")), state, policy())).kind is ActionKind.EXCLUDED


def test_exclusion_with_another_birthday_or_role_does_not_apply() -> None:
    exclusions = [
        _exclusion(given_name="Amy", family_name="Smith", date_of_birth=date(2010, 1, 1)),
        _exclusion(exclusion_id=4, role=Role.STAFF, mis_id="1"),
    ]
    state = Directory().state(exclusions=exclusions)
    assert only(plan(batch(pupil("1")), state, policy())).kind is ActionKind.CREATE


def test_record_already_in_the_matching_queue_is_not_queued_twice() -> None:
    d = Directory()
    d.add(pupil("L-1"), urn=LOCAL)
    state = d.state(open_cases=[OpenMatchCase(12, Role.PUPIL, "1")])
    action = only(plan(batch(pupil("1")), state, policy()))
    assert action.kind is ActionKind.NEEDS_MATCHING
    assert action.candidates == ()
    assert action.account_id is None
    assert "Already waiting in the matching queue (case 12)" in action.reason


def test_second_row_with_the_same_mis_id_is_rejected_and_the_first_used() -> None:
    first, second = pupil("1", row=2), pupil("1", "Amelia", row=5)
    result = plan(batch(second, first), Directory().state(), policy())
    assert kinds(result) == [("1", ActionKind.CREATE), ("1", ActionKind.REJECT)]
    assert result.actions[0].record == first
    assert "also on row 2" in result.actions[1].reason


# -- leavers -----------------------------------------------------------------------------


def _school_with_two_pupils_staff_and_a_neighbour() -> Directory:
    d = Directory()
    d.add(pupil("1"))
    d.add(pupil("2", "Bea"))
    d.add(staff("S1"))
    d.add(pupil("L-1", "Cy"), urn=LOCAL)
    return d


def test_pupil_gone_from_a_full_list_is_unallocated_and_nobody_else_is_touched() -> None:
    d = _school_with_two_pupils_staff_and_a_neighbour()
    result = plan(batch(pupil("1"), complete_for=[Role.PUPIL]), d.state(), policy())
    assert kinds(result) == [("1", ActionKind.UNCHANGED), ("2", ActionKind.UNALLOCATE)]
    leaver = result.actions[1]
    assert leaver.account_id == 2
    assert leaver.record is None
    assert leaver.changes == {
        "status": ("active", "unallocated"),
        "unallocated_at": (None, datetime(2024, 9, 10)),
    }
    assert leaver.reason == (
        "MIS ID 2 is no longer in the Students (current) export, a complete list of the "
        "school's pupils. The account is unallocated "
        "from this school; it keeps everything and can be restored."
    )


def test_gone_within_the_grace_period_is_marked_not_removed() -> None:
    d = _school_with_two_pupils_staff_and_a_neighbour()
    result = plan(
        batch(pupil("1"), complete_for=[Role.PUPIL]), d.state(), policy(leaver_grace_days=30)
    )
    leaver = by_mis_id(result)["2"]
    assert leaver.kind is ActionKind.MARK_LEAVER
    assert leaver.changes == {"leaver_pending_since": (None, TODAY)}
    assert "Access is kept until 10 October 2024" in leaver.reason


def test_grace_period_runs_from_the_first_run_that_found_them_gone() -> None:
    d = Directory()
    d.add(pupil("1"), leaver_pending_since=TODAY - timedelta(days=29))
    d.add(pupil("2", "Bea"), leaver_pending_since=TODAY - timedelta(days=30))
    result = plan(batch(complete_for=[Role.PUPIL]), d.state(), policy(leaver_grace_days=30))
    actions = by_mis_id(result)
    assert actions["1"].kind is ActionKind.MARK_LEAVER
    assert actions["1"].changes == {}  # already pending: nothing to write
    assert actions["2"].kind is ActionKind.UNALLOCATE
    assert "The grace period ended on 10 September 2024" in actions["2"].reason


def test_pending_leaver_who_reappears_is_kept() -> None:
    since = TODAY - timedelta(days=3)
    d = Directory()
    d.add(pupil("1"), leaver_pending_since=since)
    action = only(plan(batch(pupil("1"), complete_for=[Role.PUPIL]), d.state(), policy()))
    assert action.kind is ActionKind.UPDATE
    assert action.changes == {"leaver_pending_since": (since, None)}
    assert "the pending removal is cancelled" in action.reason


def test_leaving_date_in_the_past_makes_a_leaver_even_from_a_partial_upload() -> None:
    d = Directory()
    d.add(pupil("1"))
    left = date(2024, 7, 19)
    action = only(plan(batch(pupil("1", leaving_date=left)), d.state(), policy()))
    assert action.kind is ActionKind.UNALLOCATE
    assert action.account_id == 1
    assert action.changes["leaving_date"] == (None, left)
    assert action.changes["status"] == ("active", "unallocated")
    assert action.reason.startswith(
        "The MIS gives a leaving date of 19 July 2024, which has passed."
    )


def test_leaver_with_no_account_here_gets_none() -> None:
    action = only(
        plan(batch(pupil("1", leaving_date=date(2024, 7, 19))), Directory().state(), policy())
    )
    assert action.kind is ActionKind.UNCHANGED
    assert action.account_id is None
    assert "none is made" in action.reason


def test_a_row_refused_at_import_is_still_there_not_a_leaver() -> None:
    d = _school_with_two_pupils_staff_and_a_neighbour()
    upload = batch(pupil("1"), complete_for=[Role.PUPIL], rejected_keys={(Role.PUPIL, "2")})
    assert kinds(plan(upload, d.state(), policy())) == [("1", ActionKind.UNCHANGED)]


def test_explicit_delete_makes_a_leaver_without_a_full_list() -> None:
    d = _school_with_two_pupils_staff_and_a_neighbour()
    upload = batch(deletions=[Deletion(Role.PUPIL, "2")])
    action = only(plan(upload, d.state(), policy()))
    assert action.kind is ActionKind.UNALLOCATE
    assert action.account_id == 2
    assert action.reason.startswith(
        "The MIS deleted MIS ID 2 explicitly in its change-only (delta) feed."
    )


def test_partial_upload_makes_no_leavers() -> None:
    d = _school_with_two_pupils_staff_and_a_neighbour()
    assert kinds(plan(batch(pupil("1")), d.state(), policy())) == [("1", ActionKind.UNCHANGED)]


def test_roles_the_upload_is_not_complete_for_are_never_touched() -> None:
    d = _school_with_two_pupils_staff_and_a_neighbour()
    upload = batch(pupil("1"), pupil("2", "Bea"), complete_for=[Role.PUPIL])
    result = plan(upload, d.state(), policy())
    assert all(a.kind is ActionKind.UNCHANGED for a in result.actions)
    assert {a.mis_id for a in result.actions} == {"1", "2"}


def test_report_not_accepted_means_its_role_is_never_unallocated() -> None:
    d = _school_with_two_pupils_staff_and_a_neighbour()
    upload = batch(complete_for=[Role.STAFF])
    assert plan(upload, d.state(), policy(accepted_reports={STUDENTS})).actions == []


def test_future_starter_is_not_gone_from_an_upload_without_the_future_report() -> None:
    d = Directory()
    d.add(pupil("F1", start_date=NEXT_MONTH, future=True), status=AllocationStatus.FUTURE)
    upload = batch(complete_for=[Role.PUPIL], reports=frozenset({STUDENTS}))
    assert plan(upload, d.state(), policy(accepted_reports=WITH_FUTURE)).actions == []
    with_future = batch(complete_for=[Role.PUPIL], reports=frozenset({STUDENTS, STUDENTS_FUTURE}))
    action = only(plan(with_future, d.state(), policy(accepted_reports=WITH_FUTURE)))
    assert action.kind is ActionKind.UNALLOCATE
    assert "Students (future) export" in action.reason


def test_hand_made_accounts_are_not_leavers() -> None:
    d = Directory()
    d.add(pupil(""), mis_id="", requested_single=True)
    assert plan(batch(complete_for=[Role.PUPIL]), d.state(), policy()).actions == []


def test_a_record_that_has_left_never_takes_over_a_hand_made_account() -> None:
    """An account made ahead of the MIS (User Request Single) for Sam Jones, and the MIS
    sends a Sam Jones, same date of birth, whose leaving date has passed: the record does
    not take the account over only to remove it (a person made it, a person decides).
    Before, a run linked and unallocated it whenever the match was unique, and left it
    when another candidate made the match ambiguous: the same upload gave different
    results depending on what else was at the school."""
    d = Directory()
    d.add(staff(""), mis_id="", requested_single=True, source_report=None)
    left = staff("7", leaving_date=TODAY - timedelta(days=1))
    result = plan(batch(left, complete_for=[Role.STAFF]), d.state(), policy())
    action = only(result)
    assert (action.kind, action.account_id, action.allocation_id) == (
        ActionKind.UNCHANGED,
        None,
        None,
    )
    assert "has no MIS ID here" in action.reason and "left as it is" in action.reason


def test_leavers_come_after_incoming_records_in_a_stable_order() -> None:
    d = Directory()
    for mis_id in ("10", "2", "30"):
        d.add(pupil(mis_id, f"P{mis_id}"))
    d.add(staff("S9"))
    upload = batch(pupil("40", "New"), staff("S1", "Al"), complete_for=[Role.PUPIL, Role.STAFF])
    result = plan(upload, d.state(), policy())
    assert kinds(result) == [
        ("40", ActionKind.CREATE),
        ("S1", ActionKind.CREATE),
        ("2", ActionKind.UNALLOCATE),
        ("10", ActionKind.UNALLOCATE),
        ("30", ActionKind.UNALLOCATE),
        ("S9", ActionKind.UNALLOCATE),
    ]


# -- errors ------------------------------------------------------------------------------


def test_batch_errors_are_carried_unchanged() -> None:
    error = RowError(4, "date_of_birth", "not a date")
    result = plan(batch(pupil("1"), errors=[error]), Directory().state(), policy())
    assert result.errors == [error]
    assert kinds(result) == [("1", ActionKind.CREATE)]


def test_fatal_batch_plans_nothing() -> None:
    d = _school_with_two_pupils_staff_and_a_neighbour()
    error = RowError(None, None, "not a CTF file")
    result = plan(batch(pupil("9"), complete_for=[Role.PUPIL], errors=[error]), d.state(), policy())
    assert result.actions == []
    assert result.holds == []
    assert result.errors == [error]


def test_plan_does_not_change_its_inputs() -> None:
    d = _school_with_two_pupils_staff_and_a_neighbour()
    state = d.state()
    upload = batch(pupil("3"), pupil("1", family="Jones"), complete_for=[Role.PUPIL])
    before_people, before_allocations = list(upload.people), list(state.allocations)
    plan(upload, state, policy(accepted_reports={STUDENTS, STAFF}))
    assert upload.people == before_people
    assert state.allocations == before_allocations
    assert state.accounts == d.accounts
