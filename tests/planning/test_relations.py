"""Groups, contact links and attendance as set differences."""

from __future__ import annotations

from datetime import date

from rollsync.domain.actions import ActionKind
from rollsync.domain.records import (
    AttendanceMark,
    ContactLink,
    GroupKind,
    GroupRecord,
    MembershipRecord,
    MembershipRole,
    PersonRecord,
    Role,
)
from rollsync.domain.reports import ATTENDANCE, CONTACTS, GROUPS, STAFF, STUDENTS
from rollsync.domain.state import DirectoryState, GroupState
from rollsync.planning import plan

from .helpers import Directory, batch, by_mis_id, contact, policy, pupil, staff

ALL = frozenset({STUDENTS, STAFF, CONTACTS, GROUPS, ATTENDANCE})
DAY = date(2024, 9, 9)
STUDENT, TEACHER = MembershipRole.STUDENT, MembershipRole.TEACHER


def _school() -> tuple[Directory, DirectoryState]:
    """Pupil 1 (account 1), staff S1 (account 2), contact C1 (account 3), pupil 2 (account 4)."""
    d = Directory()
    d.add(pupil("1"))
    d.add(staff("S1"))
    d.add(contact("C1", email="pat@example.org"))
    d.add(pupil("2", "Bea"))
    state = d.state(
        groups=[
            GroupState(1, "G1", "7A", GroupKind.REGISTRATION),
            GroupState(2, "G2", "Chess", GroupKind.OTHER),
        ],
        memberships=frozenset({("G1", 1, STUDENT), ("G1", 2, TEACHER)}),
        contact_links={(3, 1): (1, True, "Mother"), (3, 4): (2, False, None)},
        attendance={(1, DAY, "AM"): "/"},
    )
    return d, state


def _people() -> list[PersonRecord]:
    return [
        pupil("1"),
        pupil("2", "Bea"),
        pupil("3", "Cy"),
        staff("S1"),
        contact("C1", email="pat@example.org"),
    ]


def test_groups_are_ignored_when_the_upload_has_no_groups_report() -> None:
    _, state = _school()
    result = plan(batch(*_people()), state, policy(accepted_reports=ALL))
    assert result.groups.upsert == () and result.groups.remove == ()
    assert result.groups.remove_members == ()


def test_groups_and_memberships_are_set_differences() -> None:
    _, state = _school()
    upload = batch(
        *_people(),
        reports=ALL,
        groups=[
            GroupRecord("G1", "7A", GroupKind.REGISTRATION),
            GroupRecord("G3", "Year 7", GroupKind.YEAR),
        ],
        memberships=[
            MembershipRecord("G1", Role.PUPIL, "1", STUDENT),  # already there
            MembershipRecord("G3", Role.PUPIL, "3", STUDENT),  # pupil 3 is new this run
            MembershipRecord("G3", Role.PUPIL, "1", STUDENT),
        ],
    )
    result = plan(upload, state, policy(accepted_reports=ALL))
    assert by_mis_id(result)["3"].kind is ActionKind.CREATE
    assert result.groups.upsert == (GroupRecord("G3", "Year 7", GroupKind.YEAR),)
    assert result.groups.remove == ("G2",)
    # By MIS ID: the apply step resolves pupil 3 through the allocation it creates.
    assert result.groups.add_members == (
        ("G3", Role.PUPIL, "1", STUDENT),
        ("G3", Role.PUPIL, "3", STUDENT),
    )
    assert result.groups.remove_members == (("G1", 2, TEACHER),)
    assert result.errors == []


def test_membership_of_an_unknown_person_is_an_error_not_a_crash() -> None:
    _, state = _school()
    upload = batch(
        *_people(),
        reports=ALL,
        groups=[GroupRecord("G1", "7A", GroupKind.REGISTRATION)],
        memberships=[
            MembershipRecord("G1", Role.PUPIL, "1", STUDENT),
            MembershipRecord("G1", Role.PUPIL, "99", STUDENT, row=7),
        ],
    )
    result = plan(upload, state, policy(accepted_reports=ALL))
    (error,) = result.errors
    assert error.row == 7
    assert "pupil MIS ID 99" in error.message and "skipped" in error.message
    assert result.groups.add_members == ()


def test_contact_links_upsert_changed_and_new_and_remove_gone() -> None:
    _, state = _school()
    upload = batch(
        *_people(),
        reports=ALL,
        contact_links=[
            ContactLink("C1", "1", 1, True, "Mother"),  # unchanged
            ContactLink("C1", "3", 1, True, "Mother"),  # pupil 3 is new this run
            ContactLink("C1", "99", 1, False, None, row=12),  # nobody
        ],
    )
    result = plan(upload, state, policy(accepted_reports=ALL))
    assert result.contact_links.upsert == (ContactLink("C1", "3", 1, True, "Mother"),)
    assert result.contact_links.remove == ((3, 4),)
    (error,) = result.errors
    assert error.row == 12 and "MIS ID 99" in error.message


def test_contact_link_changes_are_upserted() -> None:
    _, state = _school()
    link = ContactLink("C1", "1", 2, True, "Mother")
    upload = batch(*_people(), reports=ALL, contact_links=[link, ContactLink("C1", "2", 2)])
    result = plan(upload, state, policy(accepted_reports=ALL))
    assert result.contact_links.upsert == (link,)
    assert result.contact_links.remove == ()


def test_attendance_upserts_marks_for_pupils_with_accounts() -> None:
    _, state = _school()
    deferred = pupil("4", "Di", start_date=date(2025, 1, 6))
    upload = batch(
        *_people(),
        deferred,
        reports=ALL,
        attendance=[
            AttendanceMark("1", DAY, "AM", "/"),  # already recorded
            AttendanceMark("1", DAY, "PM", "\\"),
            AttendanceMark("3", DAY, "AM", "L"),  # new pupil: by MIS ID
            AttendanceMark("4", DAY, "AM", "N"),  # no account yet: skipped quietly
            AttendanceMark("77", DAY, "AM", "/", row=3),
            AttendanceMark("77", DAY, "PM", "/", row=4),
        ],
    )
    result = plan(upload, state, policy(accepted_reports=ALL))
    assert by_mis_id(result)["4"].kind is ActionKind.DEFER_START
    assert result.attendance.upsert == (
        AttendanceMark("1", DAY, "PM", "\\"),
        AttendanceMark("3", DAY, "AM", "L"),
    )
    (error,) = result.errors  # one error for pupil 77, not one per mark
    assert error.row == 3 and "2 attendance marks" in error.message


def test_relation_report_not_accepted_is_not_used_and_says_so() -> None:
    _, state = _school()
    upload = batch(*_people(), reports=ALL, attendance=[AttendanceMark("1", DAY, "PM", "\\")])
    result = plan(upload, state, policy(accepted_reports=ALL - {ATTENDANCE}))
    assert result.attendance.upsert == ()
    assert [e.message for e in result.errors] == [
        "The school has not accepted the Attendance report, so that part of the upload "
        "was not used."
    ]


def test_a_link_to_the_old_mis_id_of_a_re_keyed_pupil_does_not_stay_on_their_account() -> None:
    """Pupil account 4 (Bea, MIS ID 2) is matched by name and date of birth to the
    file's pupil 5 and re-keyed to it; the file's pupil 2 is someone else, on a row that
    is not used (a future pupil the school has not accepted). Contact C1's link to "2"
    names that someone else, so it must not stay on Bea's account: the link is removed
    in this run, and planning the same upload again changes nothing (before, this run
    kept the link and the next run removed it)."""
    from rollsync.domain.reports import STUDENTS_FUTURE
    from tests.planning.test_properties import _relations_empty, apply_to_state

    _, state = _school()
    upload = batch(
        pupil("1"),
        pupil("5", "Bea"),  # the same Bea: name and date of birth
        pupil("2", "Cy", future=True, start_date=date(2024, 9, 30)),  # not accepted
        staff("S1"),
        contact("C1", email="pat@example.org"),
        reports=ALL | {STUDENTS_FUTURE},
        contact_links=[
            ContactLink("C1", "1", 1, True, "Mother"),
            ContactLink("C1", "2", 2, False, None),
        ],
    )
    rules = policy(accepted_reports=ALL)
    result = plan(upload, state, rules)
    bea = by_mis_id(result)["5"]
    assert (bea.kind, bea.account_id) == (ActionKind.UPDATE, 4)
    assert result.contact_links.remove == ((3, 4),)
    assert result.contact_links.upsert == ()
    after = apply_to_state(state, result)
    assert _relations_empty(plan(upload, after, rules))
