"""The guard holds risky runs for approval; it never drops an action."""

from __future__ import annotations

from datetime import date

from rollsync.domain.actions import ActionKind
from rollsync.domain.records import PersonRecord, Role
from rollsync.planning import find_holds, plan

from .helpers import Directory, batch, policy, pupil


def _school(pupils: int) -> Directory:
    d = Directory()
    for n in range(1, pupils + 1):
        d.add(pupil(str(n), f"Given{n}"))
    return d


def _listing(*mis_ids: int) -> list[PersonRecord]:
    return [pupil(str(n), f"Given{n}") for n in mis_ids]


def test_unallocating_more_than_the_limit_is_held_with_the_numbers() -> None:
    d = _school(20)
    upload = batch(*_listing(*range(1, 18)), complete_for=[Role.PUPIL])
    result = plan(upload, d.state(), policy())
    assert [h.code for h in result.holds] == ["unallocate_share"]
    assert result.holds[0].message == (
        "This run would unallocate 3 of the 20 active pupil accounts of the Students (current) "
        "report (15.0%), above the school's 10% limit."
    )
    assert result.held
    assert sum(a.kind is ActionKind.UNALLOCATE for a in result.actions) == 3  # still all shown


def test_unallocating_within_the_limit_is_not_held() -> None:
    d = _school(20)
    result = plan(batch(*_listing(*range(1, 20)), complete_for=[Role.PUPIL]), d.state(), policy())
    assert result.holds == []
    assert sum(a.kind is ActionKind.UNALLOCATE for a in result.actions) == 1


def test_most_of_a_role_changing_mis_id_is_held_as_a_change_of_mis() -> None:
    people = [("Amy", "Smith"), ("Beth", "Okafor"), ("Cara", "Nowak"), ("Dana", "Reyes")]
    d = Directory()
    for n, (given, family) in enumerate(people, start=1):
        d.add(pupil(f"OLD{n}", given, family, date_of_birth=date(2015, 3, n)))
    upload = batch(
        *[
            pupil(f"NEW{n}", given, family, date_of_birth=date(2015, 3, n))
            for n, (given, family) in enumerate(people, start=1)
        ],
        complete_for=[Role.PUPIL],
    )
    result = plan(upload, d.state(), policy())
    assert [h.code for h in result.holds] == ["rekey_share"]
    assert "change the MIS ID of 4 of 4 active pupil accounts (100.0%)" in result.holds[0].message
    assert "above the school's 50% limit" in result.holds[0].message
    assert all(a.kind is ActionKind.UPDATE and a.rekey for a in result.actions)


def test_empty_export_never_empties_a_school() -> None:
    d = _school(3)
    result = plan(batch(complete_for=[Role.PUPIL]), d.state(), policy())
    codes = [h.code for h in result.holds]
    assert codes == ["unallocate_share", "empty_export"]
    assert "lists no pupils, but the school has 3 active pupil accounts" in result.holds[1].message


def test_truncated_export_is_held() -> None:
    d = _school(10)
    result = plan(batch(*_listing(1, 2, 3, 4), complete_for=[Role.PUPIL]), d.state(), policy())
    empty = [h for h in result.holds if h.code == "empty_export"]
    assert len(empty) == 1
    assert "lists only 4 pupils, fewer than half of the school's 10 active pupil accounts" in (
        empty[0].message
    )


def test_one_listed_person_is_said_in_the_singular() -> None:
    d = _school(10)
    result = plan(batch(*_listing(1), complete_for=[Role.PUPIL]), d.state(), policy())
    (empty,) = [h for h in result.holds if h.code == "empty_export"]
    assert "lists only 1 pupil, fewer than half" in empty.message


def test_acknowledged_run_has_no_holds_but_they_can_still_be_shown() -> None:
    d = _school(3)
    upload = batch(complete_for=[Role.PUPIL])
    held = plan(upload, d.state(), policy())
    approved = plan(upload, d.state(), policy(guard_acknowledged=True))
    assert approved.holds == [] and not approved.held
    assert approved.actions == held.actions
    assert find_holds(approved, upload, d.state(), policy()) == held.holds
